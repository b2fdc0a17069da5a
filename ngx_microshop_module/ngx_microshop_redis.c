/*
 * ngx_microshop: the Redis client on the nginx event loop (docs/redis.md),
 * the implementation of ngx_microshop_redis.h.
 *
 * A client is a set of nodes (one for redis:// and unix:); a node has two
 * connections, each an ngx_microshop_redis_conn_t: the command connection
 * (EVALSHA, pipelined) and the pub/sub connection (SUBSCRIBE, only when the
 * hooks name channels).  Each connection has its own state, backoff and
 * FIFO of commands waiting for their replies.
 *
 * hiredis 0.14 on nginx events, and its traps:
 *
 * - The adapter maps hiredis' addRead/addWrite/delWrite/cleanup onto an
 *   ngx_connection_t from ngx_get_connection() on the hiredis fd.  With
 *   edge-triggered epoll both events stay registered; a write hiredis asks
 *   for while the socket is known writable is a posted write event, so the
 *   commands of one loop iteration go out in one write().
 * - hiredis reads at most 16 KB per redisAsyncHandleRead(): the read handler
 *   calls it again while FIONREAD says bytes wait (64 rounds, then the event
 *   is posted to the next loop iteration, so other events get their turn).
 * - Any hiredis call may free the context (and call every callback with a
 *   NULL reply): after one, only the connection's gen (bumped by cleanup)
 *   is looked at; the fd number was read before.
 * - When hiredis frees a context it closes the fd itself: cleanup removes
 *   the events and frees the ngx_connection_t without closing anything,
 *   and sets its fd to -1 (the number may belong to a reconnect next).
 * - hiredis cannot forget a callback: its privdata is a token from
 *   ngx_alloc() (ngx_microshop_redis_cmd_t) that lives until hiredis calls
 *   back; abandoning or timing out a command only clears its handler.
 * - hiredis 0.14 has no timeouts: connect_timeout= is an nginx timer, and
 *   so are command deadlines (one timer per connection, on the earliest
 *   deadline of the FIFO).  A connection whose oldest command stays
 *   unanswered for another timeout= after its deadline is dropped.
 * - Nothing reconnects from inside a hiredis callback: contexts are freed
 *   from timers or a posted event, reconnects run from the backoff timer
 *   (100 ms doubling to 5 s, +-20% jitter, reset once ready).  While the
 *   command connection is not ready every command is refused at once.
 * - Handlers run from the event loop, never inside eval().
 *
 * The pub/sub heartbeat.  Nothing else is ever sent on the pub/sub
 * connection, so a flow a NAT or a firewall dropped without a word would
 * only be seen by TCP keepalive (~30 s) and the revocations published
 * meanwhile would be lost.  PING on the subscribed context cannot be used
 * with hiredis 0.14.1 (async.c): on a REDIS_SUBSCRIBED context
 * __redisAsyncCommand() puts the callback of any command other than
 * (P)SUBSCRIBE/(P)UNSUBSCRIBE/MONITOR on the list sub.invalid, but
 * redisProcessCallbacks() hands an array reply (PING's ["pong", ""]) to
 * __redisGetSubscribeCallback(), which reads element[0] "pong" as a
 * p-variant ('p') and looks "" up in the pattern dict: nothing is found,
 * the reply is freed unseen and the callback stays on sub.invalid until
 * the next non-array reply (an error) is matched to it, or the context is
 * freed.  So each worker subscribes its pub/sub connection also to its own
 * channel ms:hb:<16 hex digits, random per worker> (the last SUBSCRIBE of
 * the connect; ready once all are confirmed), and every HEARTBEAT ms, while
 * the pub/sub connection is ready and the command connection too, PUBLISHes
 * the ping's number there from the COMMAND connection (an ordinary reply on
 * the list replies).  The arrival of that message on the pub/sub connection
 * is the pong: it answers every ping up to its number; it is neither a
 * message of the hooks nor counted in REDIS_MESSAGES, and a ping is not in
 * REDIS_COMMANDS.  When the oldest unanswered ping is PUBSUB_DEAD ms old,
 * or a PUBLISH says 0 receivers (Redis holds no subscription of ours), the
 * pub/sub connection is dropped as a stalled command connection is (from
 * the heartbeat timer, or a posted event), counted in REDIS_ERR_TIMEOUT and
 * logged once per outage; it reconnects with the backoff, and the ready
 * hook (which loads the whole revocation set again) runs once both
 * connections are ready.  The command connection is not touched.  A ping
 * whose PUBLISH fails (the command connection closed) counts as answered;
 * one whose PUBLISH stays unanswered (the command connection stalls)
 * does not: the pub/sub connection is then made again as well (one more
 * reconnect and load of the set, nothing lost).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <sys/ioctl.h>
#include <time.h>

#include <hiredis/async.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_microshop_metrics.h"
#include "ngx_microshop_redis.h"


#define NGX_MICROSHOP_REDIS_READ_ROUNDS  64
#define NGX_MICROSHOP_REDIS_ARGS_MAX     1024
/* "*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha1>\r\n": what precedes the tail */
#define NGX_MICROSHOP_REDIS_HEAD_MAX     96

/* the pub/sub heartbeat (the top comment) */
#define NGX_MICROSHOP_REDIS_HEARTBEAT    1000    /* ms, between pings */
#define NGX_MICROSHOP_REDIS_PUBSUB_DEAD  3000    /* ms, oldest unanswered */
#define NGX_MICROSHOP_REDIS_PINGS        8       /* > DEAD / HEARTBEAT + 1 */
#define NGX_MICROSHOP_REDIS_HB_PREFIX    "ms:hb:"


typedef struct ngx_microshop_redis_node_s  ngx_microshop_redis_node_t;


typedef enum {
    NGX_MICROSHOP_REDIS_DOWN = 0,     /* no context (a reconnect may be
                                         due) */
    NGX_MICROSHOP_REDIS_CONNECTING,   /* connect, AUTH, SELECT, SCRIPT LOAD,
                                         SUBSCRIBE under way */
    NGX_MICROSHOP_REDIS_READY,
    NGX_MICROSHOP_REDIS_CLOSING       /* hiredis is freeing the context */
} ngx_microshop_redis_state_e;


typedef struct {
    ngx_microshop_redis_node_t    *node;
    redisAsyncContext             *ac;
    ngx_connection_t              *c;
    ngx_uint_t                     state;
    ngx_uint_t                     gen;        /* +1 when a context is gone */
    ngx_uint_t                     handshake;  /* replies still to come */
    ngx_uint_t                     subscribed; /* channels confirmed */
    ngx_uint_t                     waiting;    /* FIFO commands with a
                                                  handler */
    ngx_uint_t                     connects;   /* attempts so far */
    ngx_msec_t                     backoff;    /* the last delay */
    ngx_queue_t                    fifo;       /* commands, by deadline */
    ngx_event_t                    timer;      /* connect, then deadlines */
    ngx_event_t                    retry;      /* the next connect */
    ngx_event_t                    drop;       /* posted: free the context */
    unsigned                       sub:1;      /* the pub/sub connection */
    unsigned                       was_ready:1;
    unsigned                       in_write:1;
    u_char                         reason[128];
} ngx_microshop_redis_conn_t;


struct ngx_microshop_redis_node_s {
    ngx_microshop_redis_t         *rd;
    ngx_microshop_redis_addr_t    *addr;
    ngx_microshop_redis_conn_t     cmd;
    ngx_microshop_redis_conn_t     pubsub;
    unsigned                       up:1;       /* counted in REDIS_UP */
    unsigned                       outage:1;   /* logged, not back yet */

    /* the pub/sub heartbeat: pings are numbered; hb_acked is the last
     * one that came back (or the last sent before this connection) */
    ngx_event_t                    hb;         /* every HEARTBEAT ms */
    ngx_uint_t                     hb_seq;     /* the last ping sent */
    ngx_uint_t                     hb_acked;
    ngx_msec_t                     hb_sent[NGX_MICROSHOP_REDIS_PINGS];
    ngx_str_t                      hb_channel; /* ms:hb:<16 hex> */
    u_char                         hb_name[sizeof(
                                       NGX_MICROSHOP_REDIS_HB_PREFIX)
                                       + 16];
};


struct ngx_microshop_redis_s {
    ngx_microshop_redis_conf_t    *conf;
    ngx_microshop_redis_hooks_t   *hooks;
    ngx_microshop_zone_t          *zone;
    ngx_log_t                     *log;
    ngx_microshop_redis_node_t    *nodes;
    ngx_uint_t                     nnodes;
    ngx_uint_t                     destroying;
};


struct ngx_microshop_redis_cmd_s {
    ngx_queue_t                    queue;      /* in conn->fifo */
    ngx_microshop_redis_conn_t    *conn;
    ngx_microshop_redis_reply_pt   handler;    /* NULL: nobody waits */
    void                          *data;
    ngx_msec_t                     deadline;
    uint64_t                       start;      /* us, monotonic */
    ngx_uint_t                     script;
    ngx_uint_t                     argc;       /* nkeys and the args */
    size_t                         len;        /* of tail */
    u_char                        *tail;       /* the RESP of nkeys and
                                                  the args */
    unsigned                       timed_out:1;
    unsigned                       retried:1;
};


static ngx_int_t ngx_microshop_redis_connect(ngx_microshop_redis_conn_t *rc);
static void ngx_microshop_redis_retry_handler(ngx_event_t *ev);
static void ngx_microshop_redis_timer_handler(ngx_event_t *ev);
static void ngx_microshop_redis_drop_handler(ngx_event_t *ev);
static void ngx_microshop_redis_drop(ngx_microshop_redis_conn_t *rc,
    const char *reason);
static void ngx_microshop_redis_post_drop(ngx_microshop_redis_conn_t *rc,
    const char *reason);
static void ngx_microshop_redis_reason(ngx_microshop_redis_conn_t *rc,
    const char *reason);
static void ngx_microshop_redis_down(ngx_microshop_redis_conn_t *rc);
static void ngx_microshop_redis_lost(ngx_microshop_redis_conn_t *rc);
static void ngx_microshop_redis_ready_conn(ngx_microshop_redis_conn_t *rc);
static void ngx_microshop_redis_expire(ngx_microshop_redis_conn_t *rc);
static void ngx_microshop_redis_arm(ngx_microshop_redis_conn_t *rc);
static ngx_int_t ngx_microshop_redis_send(ngx_microshop_redis_conn_t *rc,
    ngx_microshop_redis_cmd_t *cmd, ngx_uint_t eval);
static void ngx_microshop_redis_done(ngx_microshop_redis_cmd_t *cmd,
    ngx_uint_t status, redisReply *reply);
static void ngx_microshop_redis_latency(ngx_microshop_redis_t *rd,
    uint64_t start);
static uint64_t ngx_microshop_redis_now_us(void);
static void ngx_microshop_redis_hb_handler(ngx_event_t *ev);
static void ngx_microshop_redis_pong(ngx_microshop_redis_node_t *node,
    ngx_str_t *message);

static void ngx_microshop_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_microshop_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_microshop_redis_handshake_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_microshop_redis_sub_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_microshop_redis_cmd_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_microshop_redis_ping_reply(redisAsyncContext *ac, void *r,
    void *privdata);

static void ngx_microshop_redis_add_read(void *privdata);
static void ngx_microshop_redis_del_read(void *privdata);
static void ngx_microshop_redis_add_write(void *privdata);
static void ngx_microshop_redis_del_write(void *privdata);
static void ngx_microshop_redis_cleanup(void *privdata);
static ngx_int_t ngx_microshop_redis_add(ngx_microshop_redis_conn_t *rc,
    ngx_event_t *ev, ngx_int_t event);
static void ngx_microshop_redis_del(ngx_event_t *ev, ngx_int_t event);
static void ngx_microshop_redis_read_handler(ngx_event_t *rev);
static void ngx_microshop_redis_write_handler(ngx_event_t *wev);


static const int64_t  ngx_microshop_redis_bounds[NGX_MICROSHOP_REDIS_BUCKETS]
    = NGX_MICROSHOP_REDIS_BUCKET_BOUNDS;


#define ngx_microshop_redis_count(rd, c, n)                                   \
    do {                                                                      \
        if ((rd)->zone != NULL) {                                             \
            ngx_microshop_zone_count((rd)->zone, c, n);                       \
        }                                                                     \
    } while (0)

#define ngx_microshop_redis_name(rc)  ((rc)->sub ? "pub/sub" : "command")

/* the hooks' channels and the heartbeat's */
#define ngx_microshop_redis_nsubs(rd)  ((rd)->hooks->nchannels + 1)


/* ------------------------------------------------------------ the API */


ngx_microshop_redis_t *
ngx_microshop_redis_create(ngx_cycle_t *cycle,
    ngx_microshop_redis_conf_t *conf, ngx_microshop_redis_hooks_t *hooks,
    ngx_microshop_zone_t *zone)
{
    u_char                       md[EVP_MAX_MD_SIZE];
    uint64_t                     id;
    ngx_uint_t                   i, k;
    unsigned int                 mdlen;
    ngx_microshop_redis_t       *rd;
    ngx_microshop_redis_conn_t  *rc;
    ngx_microshop_redis_node_t  *node;

    for (i = 0; i < hooks->nscripts; i++) {
        if (EVP_Digest(hooks->scripts[i].source.data,
                       hooks->scripts[i].source.len, md, &mdlen, EVP_sha1(),
                       NULL)
            != 1)
        {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "microshop redis: SHA-1 of a script failed");
            return NULL;
        }

        *ngx_hex_dump(hooks->scripts[i].sha1, md, mdlen) = '\0';
    }

    rd = ngx_pcalloc(cycle->pool, sizeof(ngx_microshop_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->conf = conf;
    rd->hooks = hooks;
    rd->zone = zone;
    rd->log = cycle->log;

    /* a single node now; Cluster would make one per primary it finds */
    rd->nnodes = 1;
    rd->nodes = ngx_pcalloc(cycle->pool,
                            rd->nnodes * sizeof(ngx_microshop_redis_node_t));
    if (rd->nodes == NULL) {
        return NULL;
    }

    for (i = 0; i < rd->nnodes; i++) {
        node = &rd->nodes[i];
        node->rd = rd;
        node->addr = conf->addrs.elts;

        /* the worker's own heartbeat channel: pids repeat across nodes */
        if (RAND_bytes((u_char *) &id, sizeof(id)) != 1) {
            id = ((uint64_t) ngx_random() << 32) ^ (uint64_t) ngx_random()
                 ^ ((uint64_t) ngx_pid << 16) ^ (uint64_t) ngx_time();
        }

        node->hb_channel.data = node->hb_name;
        node->hb_channel.len = ngx_sprintf(node->hb_name,
                                           NGX_MICROSHOP_REDIS_HB_PREFIX
                                           "%016uxL", id)
                               - node->hb_name;

        node->hb.handler = ngx_microshop_redis_hb_handler;
        node->hb.data = node;
        node->hb.log = rd->log;
        node->hb.cancelable = 1;

        for (k = 0; k < 2; k++) {
            rc = k ? &node->pubsub : &node->cmd;

            rc->node = node;
            rc->sub = k;
            ngx_queue_init(&rc->fifo);

            rc->timer.handler = ngx_microshop_redis_timer_handler;
            rc->timer.data = rc;
            rc->timer.log = rd->log;
            rc->timer.cancelable = 1;

            rc->retry.handler = ngx_microshop_redis_retry_handler;
            rc->retry.data = rc;
            rc->retry.log = rd->log;
            rc->retry.cancelable = 1;

            rc->drop.handler = ngx_microshop_redis_drop_handler;
            rc->drop.data = rc;
            rc->drop.log = rd->log;

            if (k == 0 || hooks->nchannels) {
                (void) ngx_microshop_redis_connect(rc);
            }
        }
    }

    return rd;
}


void
ngx_microshop_redis_destroy(ngx_microshop_redis_t *rd)
{
    ngx_uint_t                   i, k;
    ngx_microshop_redis_conn_t  *rc;

    if (rd == NULL) {
        return;
    }

    rd->destroying = 1;

    for (i = 0; i < rd->nnodes; i++) {
        if (rd->nodes[i].hb.timer_set) {
            ngx_del_timer(&rd->nodes[i].hb);
        }

        for (k = 0; k < 2; k++) {
            rc = k ? &rd->nodes[i].pubsub : &rd->nodes[i].cmd;

            if (rc->retry.timer_set) {
                ngx_del_timer(&rc->retry);
            }

            if (rc->ac != NULL) {
                /* every waiting handler runs with CLOSED, then cleanup */
                redisAsyncFree(rc->ac);
            }

            if (rc->timer.timer_set) {
                ngx_del_timer(&rc->timer);
            }

            if (rc->drop.posted) {
                ngx_delete_posted_event(&rc->drop);
            }
        }
    }
}


ngx_uint_t
ngx_microshop_redis_ready(ngx_microshop_redis_t *rd)
{
    return rd->nodes[0].cmd.state == NGX_MICROSHOP_REDIS_READY;
}


ngx_int_t
ngx_microshop_redis_eval(ngx_microshop_redis_t *rd, ngx_uint_t script,
    ngx_uint_t nkeys, ngx_uint_t argc, ngx_str_t *argv,
    ngx_microshop_redis_reply_pt handler, void *data,
    ngx_microshop_redis_cmd_t **cmdp)
{
    u_char                      *p, num[NGX_INT_T_LEN];
    size_t                       len, n;
    ngx_uint_t                   i;
    ngx_microshop_redis_cmd_t   *cmd;
    ngx_microshop_redis_conn_t  *rc;

    if (script >= rd->hooks->nscripts || nkeys > argc
        || argc > NGX_MICROSHOP_REDIS_ARGS_MAX)
    {
        ngx_log_error(NGX_LOG_ALERT, rd->log, 0,
                      "microshop redis: script %ui with %ui keys of %ui "
                      "arguments refused", script, nkeys, argc);
        return NGX_ERROR;
    }

    /* a Cluster routes the slot of argv[0] here; one node now */
    rc = &rd->nodes[0].cmd;

    if (rc->state != NGX_MICROSHOP_REDIS_READY) {
        return NGX_DECLINED;
    }

    len = sizeof("$20\r\n\r\n") - 1 + NGX_INT_T_LEN;

    for (i = 0; i < argc; i++) {
        len += sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + argv[i].len;
    }

    cmd = ngx_alloc(sizeof(ngx_microshop_redis_cmd_t)
                    + NGX_MICROSHOP_REDIS_HEAD_MAX + len, rd->log);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(cmd, sizeof(ngx_microshop_redis_cmd_t));

    cmd->conn = rc;
    cmd->handler = handler;
    cmd->data = data;
    cmd->script = script;
    cmd->argc = argc + 1;
    cmd->tail = (u_char *) (cmd + 1) + NGX_MICROSHOP_REDIS_HEAD_MAX;

    n = ngx_sprintf(num, "%ui", nkeys) - num;
    p = ngx_sprintf(cmd->tail, "$%uz\r\n", n);
    p = ngx_cpymem(p, num, n);
    *p++ = CR; *p++ = LF;

    for (i = 0; i < argc; i++) {
        p = ngx_sprintf(p, "$%uz\r\n", argv[i].len);
        p = ngx_microshop_cpymem(p, argv[i].data, argv[i].len);
        *p++ = CR; *p++ = LF;
    }

    cmd->len = p - cmd->tail;
    cmd->start = ngx_microshop_redis_now_us();
    cmd->deadline = ngx_current_msec + rd->conf->timeout;

    if (ngx_microshop_redis_send(rc, cmd, 0) != NGX_OK) {
        /* hiredis is closing the context: nothing was sent */
        ngx_free(cmd);
        return NGX_DECLINED;
    }

    ngx_queue_insert_tail(&rc->fifo, &cmd->queue);

    if (handler != NULL) {
        rc->waiting++;
    }

    if (!rc->timer.timer_set) {
        ngx_microshop_redis_arm(rc);

    } else if (handler != NULL) {
        /* a request waits now: a graceful shutdown waits for its answer */
        rc->timer.cancelable = 0;
    }

    if (cmdp != NULL) {
        *cmdp = cmd;
    }

    return NGX_OK;
}


void
ngx_microshop_redis_abandon(ngx_microshop_redis_cmd_t *cmd)
{
    ngx_microshop_redis_conn_t  *rc;

    if (cmd == NULL || cmd->handler == NULL) {
        return;
    }

    rc = cmd->conn;

    cmd->handler = NULL;
    cmd->data = NULL;

    if (--rc->waiting == 0) {
        rc->timer.cancelable = 1;
    }
}


/* ------------------------------------------------- connection states */


static ngx_int_t
ngx_microshop_redis_connect(ngx_microshop_redis_conn_t *rc)
{
    ngx_uint_t                    i;
    ngx_str_t                    *pw, *ch;
    ngx_connection_t             *c;
    redisAsyncContext            *ac;
    ngx_microshop_redis_t        *rd;
    ngx_microshop_redis_addr_t   *addr;
    ngx_microshop_redis_script_t *s;
    u_char                        db[NGX_INT_T_LEN];
    const char                   *argv[3];
    size_t                        lens[3];

    rd = rc->node->rd;
    addr = rc->node->addr;

    rc->reason[0] = '\0';

    if (rc->connects++ > 0) {
        ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_RECONNECTS,
                                  1);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "microshop redis: %s connection: connecting to %V (%V)",
                   ngx_microshop_redis_name(rc), &addr->host, &rd->conf->url);

    /* host is a number (or a path): no name lookup in the worker */
    ac = addr->port ? redisAsyncConnect((char *) addr->host.data,
                                        (int) addr->port)
                    : redisAsyncConnectUnix((char *) addr->host.data);

    if (ac == NULL) {
        ngx_cpystrn(rc->reason, (u_char *) "out of memory",
                    sizeof(rc->reason));
        ngx_microshop_redis_down(rc);
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_cpystrn(rc->reason, (u_char *) ac->errstr, sizeof(rc->reason));
        redisAsyncFree(ac);
        ngx_microshop_redis_down(rc);
        return NGX_ERROR;
    }

    /*
     * TCP keepalive (idle 15 s, then 3 probes 5 s apart): a connection
     * that a NAT or a firewall dropped without a word is seen as lost in
     * about 30 s.  It matters most for the pub/sub connection, on which
     * nothing is ever sent: revocations come through it (docs/redis.md).
     */
    if (addr->port && redisEnableKeepAlive(&ac->c) != REDIS_OK) {
        ngx_log_error(NGX_LOG_WARN, rd->log, ngx_socket_errno,
                      "microshop redis: %V: TCP keepalive not enabled",
                      &rd->conf->url);
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        ngx_cpystrn(rc->reason, (u_char *) "no free nginx connection",
                    sizeof(rc->reason));
        redisAsyncFree(ac);
        ngx_microshop_redis_down(rc);
        return NGX_ERROR;
    }

    c->data = rc;
    c->read->handler = ngx_microshop_redis_read_handler;
    c->write->handler = ngx_microshop_redis_write_handler;
    c->read->log = rd->log;
    c->write->log = rd->log;

    rc->ac = ac;
    rc->c = c;
    rc->state = NGX_MICROSHOP_REDIS_CONNECTING;
    rc->handshake = 0;
    rc->subscribed = 0;
    rc->in_write = 0;

    ac->data = rc;
    ac->ev.data = rc;
    ac->ev.addRead = ngx_microshop_redis_add_read;
    ac->ev.delRead = ngx_microshop_redis_del_read;
    ac->ev.addWrite = ngx_microshop_redis_add_write;
    ac->ev.delWrite = ngx_microshop_redis_del_write;
    ac->ev.cleanup = ngx_microshop_redis_cleanup;

    /* the first write event says the connect is done */
    (void) redisAsyncSetConnectCallback(ac, ngx_microshop_redis_on_connect);
    (void) redisAsyncSetDisconnectCallback(ac,
                                           ngx_microshop_redis_on_disconnect);

    /* the handshake, pipelined; the connect timer bounds it all */
    pw = &rd->conf->password;

    if (pw->len) {
        argv[0] = "AUTH";
        lens[0] = 4;
        argv[1] = (char *) pw->data;
        lens[1] = pw->len;

        if (redisAsyncCommandArgv(ac, ngx_microshop_redis_handshake_reply, rc,
                                  2, argv, lens)
            == REDIS_OK)
        {
            rc->handshake++;
        }
    }

    if (rc->sub) {
        /* channels are not per database: no SELECT; the last one is the
         * heartbeat's */
        for (i = 0; i < ngx_microshop_redis_nsubs(rd); i++) {
            ch = (i < rd->hooks->nchannels) ? &rd->hooks->channels[i]
                                            : &rc->node->hb_channel;
            argv[0] = "SUBSCRIBE";
            lens[0] = 9;
            argv[1] = (char *) ch->data;
            lens[1] = ch->len;

            (void) redisAsyncCommandArgv(ac, ngx_microshop_redis_sub_reply, rc,
                                         2, argv, lens);
        }

    } else {
        if (rd->conf->db) {
            argv[0] = "SELECT";
            lens[0] = 6;
            argv[1] = (char *) db;
            lens[1] = ngx_sprintf(db, "%ui", rd->conf->db) - db;

            if (redisAsyncCommandArgv(ac, ngx_microshop_redis_handshake_reply,
                                      rc, 2, argv, lens)
                == REDIS_OK)
            {
                rc->handshake++;
            }
        }

        for (i = 0; i < rd->hooks->nscripts; i++) {
            s = &rd->hooks->scripts[i];

            argv[0] = "SCRIPT";
            lens[0] = 6;
            argv[1] = "LOAD";
            lens[1] = 4;
            argv[2] = (char *) s->source.data;
            lens[2] = s->source.len;

            if (redisAsyncCommandArgv(ac, ngx_microshop_redis_handshake_reply,
                                      rc, 3, argv, lens)
                == REDIS_OK)
            {
                rc->handshake++;
            }
        }

        if (rc->handshake == 0) {
            /* ready after one round trip, as with a handshake */
            argv[0] = "PING";
            lens[0] = 4;

            if (redisAsyncCommandArgv(ac, ngx_microshop_redis_handshake_reply,
                                      rc, 1, argv, lens)
                == REDIS_OK)
            {
                rc->handshake++;
            }
        }
    }

    rc->timer.cancelable = 1;
    ngx_add_timer(&rc->timer, rd->conf->connect_timeout);

    return NGX_OK;
}


/* the backoff timer: the one place a connection is made again */
static void
ngx_microshop_redis_retry_handler(ngx_event_t *ev)
{
    ngx_microshop_redis_conn_t  *rc = ev->data;

    if (rc->state == NGX_MICROSHOP_REDIS_DOWN && !rc->node->rd->destroying) {
        (void) ngx_microshop_redis_connect(rc);
    }
}


/* connect_timeout= while connecting, the FIFO's deadlines once ready */
static void
ngx_microshop_redis_timer_handler(ngx_event_t *ev)
{
    ngx_microshop_redis_conn_t  *rc = ev->data;

    switch (rc->state) {

    case NGX_MICROSHOP_REDIS_CONNECTING:
        ngx_microshop_redis_drop(rc, (rc->ac->c.flags & REDIS_CONNECTED)
                                     ? "no answer within connect_timeout"
                                     : "connect timed out");
        return;

    case NGX_MICROSHOP_REDIS_READY:
        ngx_microshop_redis_expire(rc);
        return;

    default:
        return;
    }
}


/*
 * Frees the context now (from a timer or a posted event, never from a
 * hiredis callback): the waiting handlers run with CLOSED, cleanup
 * schedules the reconnect.
 */
static void
ngx_microshop_redis_drop(ngx_microshop_redis_conn_t *rc, const char *reason)
{
    ngx_microshop_redis_reason(rc, reason);

    if (rc->ac != NULL && rc->state != NGX_MICROSHOP_REDIS_CLOSING) {
        ngx_microshop_redis_lost(rc);
        redisAsyncFree(rc->ac);
    }
}


static void
ngx_microshop_redis_drop_handler(ngx_event_t *ev)
{
    ngx_microshop_redis_drop(ev->data, "dropped");
}


/* the same from inside hiredis: the drop runs from the event loop */
static void
ngx_microshop_redis_post_drop(ngx_microshop_redis_conn_t *rc,
    const char *reason)
{
    ngx_microshop_redis_reason(rc, reason);

    if (!rc->drop.posted) {
        ngx_post_event(&rc->drop, &ngx_posted_events);
    }
}


/* the first reason of an outage is the one logged */
static void
ngx_microshop_redis_reason(ngx_microshop_redis_conn_t *rc,
    const char *reason)
{
    if (rc->reason[0] == '\0') {
        ngx_cpystrn(rc->reason, (u_char *) reason, sizeof(rc->reason));
    }
}


/* no context any more: logged once per outage, reconnect after a backoff */
static void
ngx_microshop_redis_down(ngx_microshop_redis_conn_t *rc)
{
    ngx_msec_t              delay;
    ngx_microshop_redis_t  *rd;

    rd = rc->node->rd;

    rc->state = NGX_MICROSHOP_REDIS_DOWN;

    if (rd->destroying) {
        return;
    }

    ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_ERR_CONNECT, 1);

    if (!rc->node->outage) {
        rc->node->outage = 1;

        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "microshop redis: %V: %s%s: %s (retrying in the "
                      "background)", &rd->conf->url,
                      rc->sub ? "pub/sub " : "",
                      rc->was_ready ? "connection lost" : "connect failed",
                      rc->reason);
    }

    rc->backoff = rc->backoff ? ngx_min(rc->backoff * 2,
                                        NGX_MICROSHOP_REDIS_BACKOFF_MAX)
                              : NGX_MICROSHOP_REDIS_BACKOFF_MIN;

    /* +-20%: the workers of many nodes do not come back in step */
    delay = rc->backoff * (80 + (ngx_random() % 41)) / 100;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "microshop redis: %s connection down (%s), "
                   "next connect in %Mms", ngx_microshop_redis_name(rc),
                   rc->reason, delay);

    rc->was_ready = 0;
    rc->retry.cancelable = 1;
    ngx_add_timer(&rc->retry, delay);
}


/*
 * The context is going away (a NULL reply, a drop, cleanup): refuse new
 * commands from now on, stop the timer, and the node is no longer up.
 * Called any number of times per context.
 */
static void
ngx_microshop_redis_lost(ngx_microshop_redis_conn_t *rc)
{
    ngx_microshop_redis_node_t  *node;

    if (rc->state == NGX_MICROSHOP_REDIS_CLOSING
        || rc->state == NGX_MICROSHOP_REDIS_DOWN)
    {
        return;
    }

    node = rc->node;

    rc->was_ready = (rc->state == NGX_MICROSHOP_REDIS_READY);
    rc->state = NGX_MICROSHOP_REDIS_CLOSING;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    if (!rc->sub && node->up) {
        node->up = 0;
        ngx_microshop_redis_count(node->rd, NGX_MICROSHOP_COUNTER_REDIS_UP,
                                  -1);
    }
}


static void
ngx_microshop_redis_ready_conn(ngx_microshop_redis_conn_t *rc)
{
    ngx_microshop_redis_t       *rd;
    ngx_microshop_redis_node_t  *node;

    node = rc->node;
    rd = node->rd;

    rc->state = NGX_MICROSHOP_REDIS_READY;
    rc->backoff = 0;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "microshop redis: %s connection ready",
                   ngx_microshop_redis_name(rc));

    if (!rc->sub) {
        node->up = 1;
        ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_UP, 1);

    } else {
        /* the pings of an earlier connection do not count on this one */
        node->hb_acked = node->hb_seq;

        if (!node->hb.timer_set) {
            ngx_add_timer(&node->hb, NGX_MICROSHOP_REDIS_HEARTBEAT);
        }
    }

    /* the hook once both connections are ready, after every (re)connect */
    if (node->cmd.state != NGX_MICROSHOP_REDIS_READY
        || (rd->hooks->nchannels
            && node->pubsub.state != NGX_MICROSHOP_REDIS_READY))
    {
        return;
    }

    if (node->outage) {
        node->outage = 0;
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "microshop redis: %V: connected again", &rd->conf->url);
    }

    if (rd->hooks->ready != NULL) {
        rd->hooks->ready(rd->hooks->data);
    }
}


/* ------------------------------------------------------- the deadlines */


static void
ngx_microshop_redis_expire(ngx_microshop_redis_conn_t *rc)
{
    ngx_uint_t                    gen;
    ngx_queue_t                  *q;
    ngx_microshop_redis_t        *rd;
    ngx_microshop_redis_cmd_t    *cmd;
    ngx_microshop_redis_reply_pt  handler;

    rd = rc->node->rd;
    gen = rc->gen;

    for (q = ngx_queue_head(&rc->fifo);
         q != ngx_queue_sentinel(&rc->fifo);
         q = ngx_queue_next(q))
    {
        cmd = ngx_queue_data(q, ngx_microshop_redis_cmd_t, queue);

        if ((ngx_msec_int_t) (cmd->deadline - ngx_current_msec) > 0) {
            break;
        }

        if (cmd->timed_out) {
            continue;
        }

        cmd->timed_out = 1;
        ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_ERR_TIMEOUT,
                                  1);

        handler = cmd->handler;

        if (handler == NULL) {
            continue;
        }

        /* the command stays in the FIFO until hiredis calls back */
        cmd->handler = NULL;
        rc->waiting--;

        handler(cmd->data, NGX_MICROSHOP_REDIS_TIMEOUT, NULL);

        if (rc->gen != gen || rc->state != NGX_MICROSHOP_REDIS_READY) {
            return;
        }
    }

    q = ngx_queue_head(&rc->fifo);

    if (q != ngx_queue_sentinel(&rc->fifo)) {
        cmd = ngx_queue_data(q, ngx_microshop_redis_cmd_t, queue);

        if ((ngx_msec_int_t) (cmd->deadline + rd->conf->timeout
                              - ngx_current_msec)
            <= 0)
        {
            ngx_microshop_redis_drop(rc, "no answer for twice timeout=");
            return;
        }
    }

    ngx_microshop_redis_arm(rc);
}


/*
 * The timer on what comes first: the deadline of the oldest command still
 * answered nobody, or the oldest timed-out one's deadline + timeout= (the
 * connection stays behind: dropped).  Cancelable unless a handler waits.
 */
static void
ngx_microshop_redis_arm(ngx_microshop_redis_conn_t *rc)
{
    ngx_msec_t                  at;
    ngx_msec_int_t              delta;
    ngx_queue_t                *q;
    ngx_microshop_redis_cmd_t  *cmd;

    q = ngx_queue_head(&rc->fifo);

    if (q == ngx_queue_sentinel(&rc->fifo)) {
        if (rc->timer.timer_set) {
            ngx_del_timer(&rc->timer);
        }

        return;
    }

    cmd = ngx_queue_data(q, ngx_microshop_redis_cmd_t, queue);
    at = cmd->deadline;

    if (cmd->timed_out) {
        at += rc->node->rd->conf->timeout;

        for ( /* void */ ; q != ngx_queue_sentinel(&rc->fifo);
             q = ngx_queue_next(q))
        {
            cmd = ngx_queue_data(q, ngx_microshop_redis_cmd_t, queue);

            if (!cmd->timed_out) {
                if ((ngx_msec_int_t) (cmd->deadline - at) < 0) {
                    at = cmd->deadline;
                }

                break;
            }
        }
    }

    delta = (ngx_msec_int_t) (at - ngx_current_msec);
    if (delta < 1) {
        delta = 1;
    }

    rc->timer.cancelable = (rc->waiting == 0);

    if (rc->timer.timer_set
        && (ngx_msec_int_t) (rc->timer.timer.key - at) > 0)
    {
        /* ngx_add_timer() would keep a later timer within 300 ms */
        ngx_del_timer(&rc->timer);
    }

    ngx_add_timer(&rc->timer, (ngx_msec_t) delta);
}


/* ------------------------------------------------ the pub/sub heartbeat */


/*
 * Every HEARTBEAT ms while the pub/sub connection is ready: the pub/sub
 * connection is dropped when its oldest unanswered ping is PUBSUB_DEAD ms
 * old (from this timer, not inside hiredis), else a ping is published on
 * the command connection (when it is ready).  Stops while the pub/sub
 * connection is not ready; its ready starts it again.
 */
static void
ngx_microshop_redis_hb_handler(ngx_event_t *ev)
{
    ngx_microshop_redis_node_t  *node = ev->data;

    u_char                       num[NGX_INT_T_LEN];
    ngx_msec_t                   sent;
    const char                  *argv[3];
    size_t                       lens[3];
    ngx_microshop_redis_t       *rd;

    rd = node->rd;

    if (node->pubsub.state != NGX_MICROSHOP_REDIS_READY || rd->destroying) {
        return;
    }

    if (node->hb_seq != node->hb_acked) {
        sent = node->hb_sent[(node->hb_acked + 1) % NGX_MICROSHOP_REDIS_PINGS];

        if ((ngx_msec_int_t) (ngx_current_msec - sent)
            >= NGX_MICROSHOP_REDIS_PUBSUB_DEAD)
        {
            ngx_microshop_redis_count(rd,
                                      NGX_MICROSHOP_COUNTER_REDIS_ERR_TIMEOUT,
                                      1);
            ngx_microshop_redis_drop(&node->pubsub,
                                     "no heartbeat came back within 3 s");
            return;
        }
    }

    if (node->cmd.state == NGX_MICROSHOP_REDIS_READY
        && node->hb_seq - node->hb_acked < NGX_MICROSHOP_REDIS_PINGS - 1)
    {
        argv[0] = "PUBLISH";
        lens[0] = 7;
        argv[1] = (char *) node->hb_channel.data;
        lens[1] = node->hb_channel.len;
        argv[2] = (char *) num;
        lens[2] = ngx_sprintf(num, "%ui", node->hb_seq + 1) - num;

        /* not a command of the API: neither in the FIFO nor counted */
        if (redisAsyncCommandArgv(node->cmd.ac,
                                  ngx_microshop_redis_ping_reply,
                                  (void *) (uintptr_t) (node->hb_seq + 1),
                                  3, argv, lens)
            == REDIS_OK)
        {
            node->hb_seq++;
            node->hb_sent[node->hb_seq % NGX_MICROSHOP_REDIS_PINGS] =
                                                            ngx_current_msec;
        }
    }

    ngx_add_timer(&node->hb, NGX_MICROSHOP_REDIS_HEARTBEAT);
}


/* a ping's message came back on the pub/sub connection */
static void
ngx_microshop_redis_pong(ngx_microshop_redis_node_t *node,
    ngx_str_t *message)
{
    ngx_int_t  seq;

    seq = ngx_atoi(message->data, message->len);

    /* a ping of an earlier connection is at most hb_acked */
    if (seq != NGX_ERROR && (ngx_uint_t) seq > node->hb_acked
        && (ngx_uint_t) seq <= node->hb_seq)
    {
        node->hb_acked = (ngx_uint_t) seq;
    }
}


/* ---------------------------------------------------------- commands */


/* EVALSHA (eval 0) or EVAL with the source (eval 1) of cmd */
static ngx_int_t
ngx_microshop_redis_send(ngx_microshop_redis_conn_t *rc,
    ngx_microshop_redis_cmd_t *cmd, ngx_uint_t eval)
{
    int                            ok;
    u_char                         head[NGX_MICROSHOP_REDIS_HEAD_MAX];
    u_char                        *p, *buf;
    size_t                         n;
    ngx_microshop_redis_script_t  *s;

    s = &rc->node->rd->hooks->scripts[cmd->script];

    if (!eval) {
        n = ngx_sprintf(head, "*%ui\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n",
                        cmd->argc + 2, s->sha1)
            - head;

        /* the room before the tail takes the head: one buffer */
        p = cmd->tail - n;
        ngx_memcpy(p, head, n);

        ok = redisAsyncFormattedCommand(rc->ac,
                                        ngx_microshop_redis_cmd_reply, cmd,
                                        (char *) p, n + cmd->len);

    } else {
        buf = ngx_alloc(sizeof("*\r\n$4\r\nEVAL\r\n$\r\n\r\n") - 1
                        + 2 * NGX_SIZE_T_LEN + s->source.len + cmd->len,
                        rc->node->rd->log);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(buf, "*%ui\r\n$4\r\nEVAL\r\n$%uz\r\n",
                        cmd->argc + 2, s->source.len);
        p = ngx_cpymem(p, s->source.data, s->source.len);
        *p++ = CR; *p++ = LF;
        p = ngx_cpymem(p, cmd->tail, cmd->len);

        ok = redisAsyncFormattedCommand(rc->ac,
                                        ngx_microshop_redis_cmd_reply, cmd,
                                        (char *) buf, p - buf);
        ngx_free(buf);
    }

    if (ok != REDIS_OK) {
        return NGX_ERROR;
    }

    ngx_microshop_redis_count(rc->node->rd,
                              NGX_MICROSHOP_COUNTER_REDIS_COMMANDS, 1);

    return NGX_OK;
}


static void
ngx_microshop_redis_cmd_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                  *reply = r;
    ngx_microshop_redis_cmd_t   *cmd = privdata;
    ngx_microshop_redis_conn_t  *rc;

    rc = cmd->conn;

    if (reply == NULL) {
        /* the context is being freed: nothing more goes out on it */
        ngx_microshop_redis_lost(rc);
        ngx_microshop_redis_done(cmd, NGX_MICROSHOP_REDIS_CLOSED, NULL);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
        && cmd->handler != NULL && !cmd->retried
        && rc->state == NGX_MICROSHOP_REDIS_READY)
    {
        /*
         * A SCRIPT FLUSH or a restarted Redis: EVAL with the source (which
         * caches the script again), its reply goes to the handler.  It
         * keeps its deadline, so its place in the FIFO (by deadline).
         */
        if (ngx_microshop_redis_send(rc, cmd, 1) == NGX_OK) {
            cmd->retried = 1;

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rc->node->rd->log, 0,
                           "microshop redis: NOSCRIPT, EVAL of script %ui",
                           cmd->script);
            return;
        }
    }

    ngx_microshop_redis_latency(rc->node->rd, cmd->start);

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_microshop_redis_count(rc->node->rd,
                                  NGX_MICROSHOP_COUNTER_REDIS_ERR_SCRIPT, 1);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rc->node->rd->log, 0,
                       "microshop redis: script %ui: %s", cmd->script,
                       reply->str);
    }

    ngx_microshop_redis_done(cmd, NGX_MICROSHOP_REDIS_REPLY, reply);
}


/* a command's end: out of the FIFO, its handler (if any), freed */
static void
ngx_microshop_redis_done(ngx_microshop_redis_cmd_t *cmd, ngx_uint_t status,
    redisReply *reply)
{
    ngx_uint_t                    head;
    ngx_microshop_redis_conn_t   *rc;
    ngx_microshop_redis_reply_pt  handler;

    rc = cmd->conn;

    head = (ngx_queue_head(&rc->fifo) == &cmd->queue);
    ngx_queue_remove(&cmd->queue);

    handler = cmd->handler;

    if (handler != NULL) {
        cmd->handler = NULL;
        rc->waiting--;

    } else if (status == NGX_MICROSHOP_REDIS_REPLY) {
        /* after its timeout, or abandoned */
        ngx_microshop_redis_count(rc->node->rd,
                                  NGX_MICROSHOP_COUNTER_STORE_LATE, 1);
    }

    if (rc->state == NGX_MICROSHOP_REDIS_READY) {
        if (head) {
            ngx_microshop_redis_arm(rc);

        } else {
            rc->timer.cancelable = (rc->waiting == 0);
        }
    }

    if (handler != NULL) {
        handler(cmd->data, status, reply);
    }

    ngx_free(cmd);
}


static void
ngx_microshop_redis_latency(ngx_microshop_redis_t *rd, uint64_t start)
{
    uint64_t    us;
    ngx_uint_t  i;

    us = ngx_microshop_redis_now_us() - start;

    for (i = 0; i < NGX_MICROSHOP_REDIS_BUCKETS - 1; i++) {
        if (us <= (uint64_t) ngx_microshop_redis_bounds[i]) {
            break;
        }
    }

    ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_LATENCY + i, 1);
    ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_LATENCY_SUM_US,
                              (ngx_atomic_int_t) us);
}


static uint64_t
ngx_microshop_redis_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* -------------------------------------------------- hiredis callbacks */


static void
ngx_microshop_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_microshop_redis_conn_t  *rc = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context on return: cleanup follows */
        if (rc->reason[0] == '\0') {
            ngx_cpystrn(rc->reason, (u_char *) ac->errstr,
                        sizeof(rc->reason));
        }

        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rc->node->rd->log, 0,
                   "microshop redis: %s connection: connected",
                   ngx_microshop_redis_name(rc));
}


static void
ngx_microshop_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    /* after cleanup, which did the work */
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "microshop redis: disconnected (%d)", status);
}


/*
 * The PUBLISH of a ping, on the command connection: its reply is how many
 * connections Redis delivered it to.  0 for a ping of this pub/sub
 * connection (so sent while it was ready): Redis holds no subscription of
 * ours any more, the pub/sub connection is as good as gone.  A ping whose
 * PUBLISH failed (the command connection closed, an error reply) may never
 * have reached Redis: it counts as answered, the pub/sub connection is not
 * to blame (the pings go on once the command connection is back).
 */
static void
ngx_microshop_redis_ping_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                  *reply = r;
    ngx_uint_t                   seq = (uintptr_t) privdata;
    ngx_microshop_redis_conn_t  *rc = ac->data;
    ngx_microshop_redis_node_t  *node;

    node = rc->node;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (reply == NULL) {
            ngx_microshop_redis_lost(rc);
        }

        if (seq > node->hb_acked && seq <= node->hb_seq) {
            node->hb_acked = seq;
        }

        return;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0
        && seq > node->hb_acked
        && node->pubsub.state == NGX_MICROSHOP_REDIS_READY)
    {
        ngx_microshop_redis_count(node->rd,
                                  NGX_MICROSHOP_COUNTER_REDIS_ERR_TIMEOUT, 1);
        ngx_microshop_redis_post_drop(&node->pubsub,
                                      "Redis holds no subscription of it");
    }
}


/* AUTH, SELECT, SCRIPT LOAD, PING of a connect */
static void
ngx_microshop_redis_handshake_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                  *reply = r;
    ngx_microshop_redis_conn_t  *rc = privdata;

    if (reply == NULL) {
        ngx_microshop_redis_lost(rc);
        return;
    }

    if (rc->state != NGX_MICROSHOP_REDIS_CONNECTING) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        /* a wrong password, a bad database, a script that does not load */
        ngx_microshop_redis_post_drop(rc, reply->str);
        return;
    }

    if (--rc->handshake == 0 && !rc->drop.posted
        && (!rc->sub
            || rc->subscribed == ngx_microshop_redis_nsubs(rc->node->rd)))
    {
        ngx_microshop_redis_ready_conn(rc);
    }
}


/* the pub/sub connection: "subscribe" confirmations, then "message"s */
static void
ngx_microshop_redis_sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                   *reply = r;
    ngx_str_t                     channel, message;
    ngx_microshop_redis_t        *rd;
    ngx_microshop_redis_conn_t   *rc = privdata;

    if (reply == NULL) {
        ngx_microshop_redis_lost(rc);
        return;
    }

    rd = rc->node->rd;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    if (ngx_strcmp(reply->element[0]->str, "message") == 0
        && reply->element[2]->type == REDIS_REPLY_STRING)
    {
        channel.data = (u_char *) reply->element[1]->str;
        channel.len = reply->element[1]->len;
        message.data = (u_char *) reply->element[2]->str;
        message.len = reply->element[2]->len;

        if (channel.len == rc->node->hb_channel.len
            && ngx_memcmp(channel.data, rc->node->hb_channel.data,
                          channel.len)
               == 0)
        {
            /* a pong: not a message of the hooks, not counted */
            ngx_microshop_redis_pong(rc->node, &message);
            return;
        }

        ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_MESSAGES, 1);

        if (rd->hooks->message == NULL) {
            return;
        }

        rd->hooks->message(rd->hooks->data, &channel, &message);
        return;
    }

    if (ngx_strcmp(reply->element[0]->str, "subscribe") == 0
        && rc->state == NGX_MICROSHOP_REDIS_CONNECTING
        && ++rc->subscribed == ngx_microshop_redis_nsubs(rd)
        && rc->handshake == 0 && !rc->drop.posted)
    {
        ngx_microshop_redis_ready_conn(rc);
    }
}


/* ------------------------------------------- the adapter: nginx events */


static void
ngx_microshop_redis_add_read(void *privdata)
{
    ngx_microshop_redis_conn_t  *rc = privdata;

    (void) ngx_microshop_redis_add(rc, rc->c->read, NGX_READ_EVENT);
}


static void
ngx_microshop_redis_del_read(void *privdata)
{
    ngx_microshop_redis_conn_t  *rc = privdata;

    ngx_microshop_redis_del(rc->c->read, NGX_READ_EVENT);
}


static void
ngx_microshop_redis_add_write(void *privdata)
{
    ngx_microshop_redis_conn_t  *rc = privdata;

    ngx_event_t  *wev;

    wev = rc->c->write;

    if (ngx_microshop_redis_add(rc, wev, NGX_WRITE_EVENT) != NGX_OK
        || !(ngx_event_flags & NGX_USE_CLEAR_EVENT))
    {
        return;
    }

    if (rc->in_write) {
        /* a short write: the socket is full, epoll says when it is not */
        wev->ready = 0;
        return;
    }

    if (wev->ready && !wev->posted) {
        /* writable, no edge will come: write later in this iteration */
        ngx_post_event(wev, &ngx_posted_events);
    }
}


static void
ngx_microshop_redis_del_write(void *privdata)
{
    ngx_microshop_redis_conn_t  *rc = privdata;

    ngx_microshop_redis_del(rc->c->write, NGX_WRITE_EVENT);
}


/*
 * The first add registers the event, edge-triggered where nginx can (it
 * then stays until cleanup); NGX_AGAIN: just registered, epoll reports the
 * socket's state by itself.
 */
static ngx_int_t
ngx_microshop_redis_add(ngx_microshop_redis_conn_t *rc, ngx_event_t *ev,
    ngx_int_t event)
{
    if (ev->active) {
        return NGX_OK;
    }

    if (ngx_add_event(ev, event, (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                                 ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
        != NGX_OK)
    {
        ngx_microshop_redis_post_drop(rc, "adding an event failed");
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/* level-triggered only: an edge-triggered event stays until cleanup */
static void
ngx_microshop_redis_del(ngx_event_t *ev, ngx_int_t event)
{
    if (!(ngx_event_flags & NGX_USE_CLEAR_EVENT) && ev->active) {
        (void) ngx_del_event(ev, event, 0);
    }
}


/*
 * hiredis is freeing the context (every callback ran) and closes the fd
 * right after: the events go, the ngx_connection_t is freed without
 * closing anything, and the next connect comes from the backoff timer.
 */
static void
ngx_microshop_redis_cleanup(void *privdata)
{
    ngx_microshop_redis_conn_t  *rc = privdata;

    ngx_connection_t       *c;
    redisAsyncContext      *ac;
    ngx_microshop_redis_t  *rd;

    rd = rc->node->rd;
    ac = rc->ac;
    c = rc->c;

    if (ac->err == REDIS_ERR_PROTOCOL) {
        ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_ERR_PROTOCOL,
                                  1);
    }

    if (rc->reason[0] == '\0') {
        ngx_cpystrn(rc->reason, (u_char *) (ac->err ? ac->errstr
                                                    : "connection closed"),
                    sizeof(rc->reason));
    }

    ngx_microshop_redis_lost(rc);

    if (c != NULL) {
        if (ngx_del_conn != NULL) {
            if (c->read->active || c->write->active) {
                (void) ngx_del_conn(c, 0);
            }

        } else {
            if (c->read->active) {
                (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
            }

            if (c->write->active) {
                (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
            }
        }

        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        c->read->closed = 1;
        c->write->closed = 1;

        /* hiredis closes the fd: only the slot is given back */
        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
    }

    if (rc->drop.posted) {
        ngx_delete_posted_event(&rc->drop);
    }

    ac->ev.data = NULL;

    rc->ac = NULL;
    rc->c = NULL;
    rc->gen++;

    if (!ngx_queue_empty(&rc->fifo)) {
        /* every command's callback ran before cleanup: never here */
        ngx_log_error(NGX_LOG_ALERT, rd->log, 0,
                      "microshop redis: commands left after a close");
    }

    ngx_microshop_redis_down(rc);
}


static void
ngx_microshop_redis_read_handler(ngx_event_t *rev)
{
    ngx_connection_t            *c = rev->data;

    int                          n;
    ngx_uint_t                   i, gen;
    ngx_socket_t                 fd;
    ngx_microshop_redis_conn_t  *rc;

    rc = c->data;

    for (i = 0; i < NGX_MICROSHOP_REDIS_READ_ROUNDS; i++) {
        /* the call may free the context, its fd and c: read them first */
        fd = c->fd;
        gen = rc->gen;

        redisAsyncHandleRead(rc->ac);

        if (rc->gen != gen) {
            return;
        }

        /* hiredis reads 16 KB at a time: with epoll's edges, the rest of a
         * large reply would never wake this handler again */
        if (ioctl(fd, FIONREAD, &n) == -1 || n <= 0) {
            return;
        }
    }

    if (!rev->posted) {
        /* the next iteration: the other events get their turn first */
        ngx_post_event(rev, &ngx_posted_next_events);
    }
}


static void
ngx_microshop_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t            *c = wev->data;

    ngx_microshop_redis_conn_t  *rc;

    rc = c->data;

    rc->in_write = 1;
    redisAsyncHandleWrite(rc->ac);
    rc->in_write = 0;
}
