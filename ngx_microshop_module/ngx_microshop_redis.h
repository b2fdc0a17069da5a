/*
 * ngx_microshop: the Redis client on the nginx event loop (docs/redis.md).
 *
 * hiredis 0.14's async API driven by nginx events: one command connection
 * and one pub/sub connection per worker and per Redis node, created in
 * init_process, commands pipelined, every reply matched to its command in
 * order.  The client is a set of nodes from the start (a Cluster routes a
 * key's slot to its node); microshop_redis with one address is a set of
 * one.
 *
 * Nothing here blocks a worker: names are resolved at configuration time
 * (ngx_microshop_redis_conf.c), connects are non-blocking and bounded by
 * connect_timeout=, every command by timeout= (nginx timers: hiredis 0.14
 * has none), reconnects run from a timer with backoff (100 ms doubling to
 * 5 s, with jitter), and while a node is down every command is refused at
 * once (the circuit is open) instead of waiting.
 *
 * The one caller is the Redis back end of the store
 * (ngx_microshop_store_redis.c); feature code never includes this header.
 */

#ifndef _NGX_MICROSHOP_REDIS_H_INCLUDED_
#define _NGX_MICROSHOP_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <hiredis/hiredis.h>

#include "ngx_microshop_zone.h"


/* microshop_redis URL forms (microshop_redis_url.h parses them) */
typedef enum {
    NGX_MICROSHOP_REDIS_SINGLE = 0,   /* redis://, unix: */
    NGX_MICROSHOP_REDIS_CLUSTER,      /* redis+cluster:// */
    NGX_MICROSHOP_REDIS_SENTINEL      /* redis+sentinel:// */
} ngx_microshop_redis_kind_e;


/* on_error= of microshop_redis: rate limits and the inventory cache */
typedef enum {
    NGX_MICROSHOP_REDIS_ON_ERROR_LOCAL = 0,   /* this node's zone */
    NGX_MICROSHOP_REDIS_ON_ERROR_OPEN,        /* allow, not checked */
    NGX_MICROSHOP_REDIS_ON_ERROR_CLOSED       /* 503 store-unavailable */
} ngx_microshop_redis_on_error_e;


/*
 * An address resolved at configuration time.  host is a numeric address
 * (NUL-terminated: hiredis connects to it without a name lookup) or, with
 * port 0, the path of a unix socket.
 */
typedef struct {
    ngx_str_t                      name;     /* as written, for messages */
    ngx_str_t                      host;     /* "127.0.0.1", or the path */
    ngx_uint_t                     port;     /* 0: unix socket */
} ngx_microshop_redis_addr_t;


/* microshop_redis, as configured */
typedef struct ngx_microshop_redis_conf_s {
    ngx_str_t                      url;      /* the password masked */
    ngx_uint_t                     kind;     /* ngx_microshop_redis_kind_e */
    ngx_array_t                    addrs;    /* ngx_microshop_redis_addr_t:
                                                the node, or the seeds */
    ngx_str_t                      password; /* empty: no AUTH */
    ngx_str_t                      master;   /* sentinel: the master name */
    ngx_uint_t                     db;       /* SELECT, 0: none */
    ngx_msec_t                     timeout;          /* per command */
    ngx_msec_t                     connect_timeout;
    ngx_uint_t                     on_error; /* ..._redis_on_error_e */
    u_char                        *file;     /* where it was configured */
    ngx_uint_t                     line;
} ngx_microshop_redis_conf_t;

#define NGX_MICROSHOP_REDIS_DEFAULT_TIMEOUT  200     /* ms, timeout= */
#define NGX_MICROSHOP_REDIS_CONNECT_TIMEOUT  1000    /* ms */
#define NGX_MICROSHOP_REDIS_BACKOFF_MIN      100     /* ms */
#define NGX_MICROSHOP_REDIS_BACKOFF_MAX      5000    /* ms */


/*
 * The directive (context http).  It writes the parsed configuration, an
 * ngx_microshop_redis_conf_t *, at cmd->offset of the main configuration,
 * so this file needs no feature type.  Every error names the directive,
 * the file and the line; a password never appears in a message.
 */
char *ngx_microshop_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


typedef struct ngx_microshop_redis_s      ngx_microshop_redis_t;
typedef struct ngx_microshop_redis_cmd_s  ngx_microshop_redis_cmd_t;


/* how a command ended, for its handler */
typedef enum {
    NGX_MICROSHOP_REDIS_REPLY = 0,    /* reply is the server's answer; it
                                         may be a REDIS_REPLY_ERROR */
    NGX_MICROSHOP_REDIS_TIMEOUT,      /* no answer within timeout=: the
                                         command may still have run */
    NGX_MICROSHOP_REDIS_CLOSED        /* the connection was lost before an
                                         answer: it may still have run */
} ngx_microshop_redis_status_e;


/*
 * The handler of a command: runs exactly once per command that
 * ngx_microshop_redis_eval() accepted (NGX_OK) and that was not
 * abandoned, always from the event loop, never inside eval().  reply is
 * NULL unless status is NGX_MICROSHOP_REDIS_REPLY and is valid only during
 * the call (hiredis frees it afterwards).
 */
typedef void (*ngx_microshop_redis_reply_pt)(void *data, ngx_uint_t status,
    redisReply *reply);

/* a pub/sub message on one of the hooks' channels; valid during the call */
typedef void (*ngx_microshop_redis_message_pt)(void *data,
    ngx_str_t *channel, ngx_str_t *message);

/*
 * After every connect of a node (the first one too), once its scripts are
 * loaded and its subscriptions confirmed: whatever was published while the
 * node was unreachable was missed, so the back end loads what it copies
 * (revocations) and drops what it caches (local inventory copies) here.
 * Commands may be sent from it.
 */
typedef void (*ngx_microshop_redis_ready_pt)(void *data);


/* a Lua script; the client fills sha1 and loads it on every connect */
typedef struct {
    ngx_str_t                      source;
    u_char                         sha1[41];  /* hex, NUL-terminated */
} ngx_microshop_redis_script_t;


/* what the back end gives the client */
typedef struct {
    ngx_microshop_redis_script_t  *scripts;
    ngx_uint_t                     nscripts;
    ngx_str_t                     *channels;  /* SUBSCRIBE on connect */
    ngx_uint_t                     nchannels;
    ngx_microshop_redis_message_pt message;
    ngx_microshop_redis_ready_pt   ready;
    void                          *data;
} ngx_microshop_redis_hooks_t;


/*
 * init_process: a client for this worker; connecting starts at once (the
 * answer comes later: until then every command is refused).  Counters go
 * to zone (microshop_redis_* in docs/redis.md "Metrics").  NULL: out of
 * memory.  The hooks and conf must live as long as the client.
 */
ngx_microshop_redis_t *ngx_microshop_redis_create(ngx_cycle_t *cycle,
    ngx_microshop_redis_conf_t *conf, ngx_microshop_redis_hooks_t *hooks,
    ngx_microshop_zone_t *zone);

/*
 * exit_process: every connection closed (hiredis closes the fds itself),
 * every timer removed; the handlers of commands still waiting run with
 * NGX_MICROSHOP_REDIS_CLOSED before it returns.  Never from inside a
 * handler or a hook.
 */
void ngx_microshop_redis_destroy(ngx_microshop_redis_t *rd);

/* 1 when a command sent now would be sent (the node is up, scripts
 * loaded), 0 while the circuit is open */
ngx_uint_t ngx_microshop_redis_ready(ngx_microshop_redis_t *rd);

/*
 * EVALSHA of scripts[script] with argv[0 .. nkeys-1] as KEYS and the rest
 * as ARGV; on NOSCRIPT (a SCRIPT FLUSH, a restarted Redis) the client
 * sends EVAL with the source once and loads the script again, unseen by
 * the handler.  The keys choose the node (every key of one call must hash
 * to one Cluster slot: docs/redis.md "Keys").
 *
 * NGX_OK       sent (or queued to be written): handler(data, ...) runs
 *              exactly once, later; *cmd (when cmd is not NULL) identifies
 *              the command for ngx_microshop_redis_abandon();
 * NGX_DECLINED the node is down (the circuit is open): nothing was sent,
 *              the handler never runs;
 * NGX_ERROR    out of memory, or argc out of range (nkeys > argc, argc
 *              over 1024, no such script): nothing sent.
 *
 * argv is copied before the call returns.
 */
ngx_int_t ngx_microshop_redis_eval(ngx_microshop_redis_t *rd,
    ngx_uint_t script, ngx_uint_t nkeys, ngx_uint_t argc, ngx_str_t *argv,
    ngx_microshop_redis_reply_pt handler, void *data,
    ngx_microshop_redis_cmd_t **cmd);

/*
 * The waiting side is gone: the handler never runs; the reply, when it
 * arrives, is dropped and counted in microshop_store_late_answers_total
 * (as is a reply that arrives after its command's timeout).  Safe from
 * inside any handler.
 */
void ngx_microshop_redis_abandon(ngx_microshop_redis_cmd_t *cmd);


#endif /* _NGX_MICROSHOP_REDIS_H_INCLUDED_ */
