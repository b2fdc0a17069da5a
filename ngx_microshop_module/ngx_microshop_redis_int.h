/*
 * ngx_microshop: the inside of the Redis client (docs/redis.md "The
 * client"), shared by its files and by nothing else:
 *
 *   ngx_microshop_redis.c           the API of ngx_microshop_redis.h: a
 *                                   client, its commands, the single
 *                                   node's topology
 *   ngx_microshop_redis_cluster.c   Redis Cluster: slot map, routing,
 *                                   MOVED/ASK/TRYAGAIN/CLUSTERDOWN
 *   ngx_microshop_redis_sentinel.c  Sentinel: the primary's address, its
 *                                   +switch-master
 *   ngx_microshop_redis_conn.c      one connection on nginx events: the
 *                                   hiredis adapter, handshake, FIFO and
 *                                   deadlines, backoff, the heartbeat
 *
 * The files above the connection call it; the connection calls back up
 * only through the topology's functions (ngx_microshop_redis_topo_t), so
 * no two files call each other.
 */

#ifndef _NGX_MICROSHOP_REDIS_INT_H_INCLUDED_
#define _NGX_MICROSHOP_REDIS_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <hiredis/async.h>

#include "ngx_microshop_metrics.h"
#include "ngx_microshop_redis.h"


/* the pub/sub heartbeat (ngx_microshop_redis_conn.c) */
#define NGX_MICROSHOP_REDIS_PINGS        8
#define NGX_MICROSHOP_REDIS_HB_PREFIX    "ms:hb:"

/* at most so many Redis servers per client (primaries, replicas met as
 * seeds, sentinels) */
#define NGX_MICROSHOP_REDIS_NODES        64

/* "*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha1>\r\n": room before a command's tail */
#define NGX_MICROSHOP_REDIS_HEAD_MAX     96

/* "[ffff:...:255.255.255.255]:65535" */
#define NGX_MICROSHOP_REDIS_ADDR_LEN     (NGX_SOCKADDR_STRLEN + 1)


typedef struct ngx_microshop_redis_node_s  ngx_microshop_redis_node_t;


typedef enum {
    NGX_MICROSHOP_REDIS_DOWN = 0,     /* no context (a reconnect may be
                                         due) */
    NGX_MICROSHOP_REDIS_CONNECTING,   /* connect, AUTH, SELECT, SCRIPT LOAD,
                                         SUBSCRIBE under way */
    NGX_MICROSHOP_REDIS_READY,
    NGX_MICROSHOP_REDIS_CLOSING       /* hiredis is freeing the context */
} ngx_microshop_redis_state_e;


/* what a node is */
typedef enum {
    NGX_MICROSHOP_REDIS_NODE_DATA = 0,   /* keys and scripts */
    NGX_MICROSHOP_REDIS_NODE_SENTINEL    /* asked where the primary is */
} ngx_microshop_redis_node_kind_e;


typedef struct {
    ngx_microshop_redis_node_t    *node;
    redisAsyncContext             *ac;
    ngx_connection_t              *c;
    ngx_uint_t                     state;
    ngx_uint_t                     gen;        /* +1 when a context is gone */
    ngx_uint_t                     handshake;  /* replies still to come */
    ngx_uint_t                     subscribed; /* channels confirmed */
    ngx_uint_t                     nsubs;      /* channels to confirm */
    ngx_uint_t                     waiting;    /* FIFO commands with a
                                                  handler */
    ngx_uint_t                     connects;   /* attempts so far */
    ngx_msec_t                     backoff;    /* the last delay */
    ngx_msec_t                     connect_at; /* connect_timeout's end */
    ngx_queue_t                    fifo;       /* commands, by deadline */
    ngx_event_t                    timer;      /* connect, deadlines */
    ngx_event_t                    retry;      /* the next connect */
    ngx_event_t                    drop;       /* posted: free the context */
    unsigned                       sub:1;      /* the pub/sub connection */
    unsigned                       was_ready:1;
    unsigned                       asked:1;    /* the connect under way was
                                                  asked for (conn_open):
                                                  commands may wait for it */
    unsigned                       in_write:1;
    unsigned                       idle:1;     /* no reconnect: the node is
                                                  not needed any more */
    u_char                         reason[128];
} ngx_microshop_redis_conn_t;


struct ngx_microshop_redis_node_s {
    ngx_microshop_redis_t         *rd;
    ngx_uint_t                     index;      /* in rd->nodes */
    ngx_uint_t                     kind;       /* ..._redis_node_kind_e */
    ngx_microshop_redis_addr_t     addr;       /* host NUL-terminated */
    u_char                         host[NGX_MICROSHOP_REDIS_ADDR_LEN];
    u_char                         name[NGX_MICROSHOP_REDIS_ADDR_LEN + 8];
    ngx_str_t                      label;      /* in messages, metrics */
    u_char                         label_buf[NGX_MICROSHOP_REDIS_ADDR_LEN
                                             + 16];
    ngx_microshop_node_stat_t     *stat;       /* in the zone, or NULL */
    ngx_microshop_redis_conn_t     cmd;
    ngx_microshop_redis_conn_t     pubsub;
    unsigned                       up:1;       /* counted in REDIS_UP */
    unsigned                       outage:1;   /* logged, not back yet */
    unsigned                       listen:1;   /* its pub/sub connection is
                                                  the client's */
    unsigned                       primary:1;  /* Cluster: owns slots */

    /* the pub/sub heartbeat: pings are numbered; hb_acked is the last
     * one that came back (or the last sent before this connection) */
    ngx_event_t                    hb;         /* every HEARTBEAT ms */
    ngx_uint_t                     hb_seq;     /* the last ping sent */
    ngx_uint_t                     hb_acked;
    ngx_msec_t                     hb_sent[NGX_MICROSHOP_REDIS_PINGS];
};


/*
 * The topology's side of a connection's life, called by the connection
 * layer (never from inside a hiredis call that may free the context but
 * the error hook, which runs inside a reply callback and must not free
 * anything):
 *
 * ready  a connection of node is ready (handshake done);
 * down   a connection of node is gone (after cleanup; a reconnect is
 *        scheduled unless the connection is idle);
 * error  a command's error reply: NGX_OK when the topology took the
 *        command (it resends it: MOVED, ASK, TRYAGAIN...), NGX_DECLINED
 *        when the reply goes to the command's handler;
 * message a pub/sub message on a sentinel's connection.
 */
typedef struct {
    void       (*ready)(ngx_microshop_redis_conn_t *rc);
    void       (*down)(ngx_microshop_redis_conn_t *rc);
    ngx_int_t  (*error)(ngx_microshop_redis_conn_t *rc,
                        ngx_microshop_redis_cmd_t *cmd, redisReply *reply);
    void       (*message)(ngx_microshop_redis_node_t *node,
                          ngx_str_t *channel, ngx_str_t *message);
} ngx_microshop_redis_topo_t;


typedef struct ngx_microshop_redis_cluster_s   ngx_microshop_redis_cluster_t;
typedef struct ngx_microshop_redis_sentinel_s  ngx_microshop_redis_sentinel_t;


struct ngx_microshop_redis_s {
    ngx_microshop_redis_conf_t    *conf;
    ngx_microshop_redis_hooks_t   *hooks;
    ngx_microshop_zone_t          *zone;
    ngx_log_t                     *log;
    ngx_microshop_redis_topo_t     topo;
    ngx_microshop_redis_node_t    *nodes[NGX_MICROSHOP_REDIS_NODES];
    ngx_uint_t                     nnodes;
    ngx_microshop_redis_cluster_t *cluster;    /* redis+cluster:// */
    ngx_microshop_redis_sentinel_t *sentinel;  /* redis+sentinel:// */
    ngx_str_t                      hb_channel; /* ms:hb:<16 hex> */
    u_char                         hb_name[sizeof(
                                       NGX_MICROSHOP_REDIS_HB_PREFIX)
                                       + 16];
    unsigned                       destroying:1;
};


struct ngx_microshop_redis_cmd_s {
    ngx_queue_t                    queue;      /* in conn->fifo */
    ngx_microshop_redis_conn_t    *conn;
    ngx_microshop_redis_t         *rd;
    ngx_microshop_redis_reply_pt   handler;    /* NULL: nobody waits */
    void                          *data;
    ngx_msec_t                     deadline;
    uint64_t                       start;      /* us, monotonic */
    ngx_uint_t                     script;
    ngx_uint_t                     argc;       /* nkeys and the args */
    ngx_uint_t                     slot;       /* Cluster: of its keys */
    ngx_uint_t                     redirects;  /* MOVED, ASK, TRYAGAIN */
    size_t                         len;        /* of tail */
    u_char                        *tail;       /* the RESP of nkeys and
                                                  the args */
    ngx_queue_t                    later;      /* in the cluster's list of
                                                  commands to resend */
    unsigned                       timed_out:1;
    unsigned                       retried:1;  /* EVAL after NOSCRIPT */
    unsigned                       asking:1;   /* ASKING goes first */
};


/* ------------------------------------------------ ngx_microshop_redis_conn.c */

/* a node of the client (rd->nodes[rd->nnodes++]); connects nothing yet */
ngx_microshop_redis_node_t *ngx_microshop_redis_node_add(
    ngx_microshop_redis_t *rd, ngx_uint_t kind, ngx_str_t *host,
    ngx_uint_t port);
/* a node with this address, or NULL */
ngx_microshop_redis_node_t *ngx_microshop_redis_node_find(
    ngx_microshop_redis_t *rd, ngx_str_t *host, ngx_uint_t port);
/* the node's address changes (Sentinel): its connections are dropped */
void ngx_microshop_redis_node_move(ngx_microshop_redis_node_t *node,
    ngx_str_t *host, ngx_uint_t port);
/* every connection closed, every timer removed (destroy) */
void ngx_microshop_redis_node_close(ngx_microshop_redis_node_t *node);

/* connect now if the connection is down and not waiting for its backoff
 * (a first connect, a node needed again) */
void ngx_microshop_redis_conn_open(ngx_microshop_redis_conn_t *rc);
/* no reconnects any more (the node is not needed); the connection stays
 * while it is up */
void ngx_microshop_redis_conn_idle(ngx_microshop_redis_conn_t *rc);
/* free the context from the event loop (a posted event) */
void ngx_microshop_redis_conn_post_drop(ngx_microshop_redis_conn_t *rc,
    const char *reason);
/*
 * 1 when a command given now would be written: ready, or a connect asked
 * for by conn_open() under way (it goes out after the handshake); not
 * during a reconnect from the backoff timer (the circuit is open)
 */
ngx_uint_t ngx_microshop_redis_conn_usable(ngx_microshop_redis_conn_t *rc);

/*
 * Sends cmd on rc (EVALSHA, ASKING first when cmd->asking) and puts it in
 * rc's FIFO at its deadline's place.  NGX_ERROR: nothing sent (the
 * context is closing, no memory).
 */
ngx_int_t ngx_microshop_redis_conn_send(ngx_microshop_redis_conn_t *rc,
    ngx_microshop_redis_cmd_t *cmd);
/*
 * cmd leaves its connection's FIFO without its handler running (the
 * topology resends it): hiredis has called back, nothing waits there.
 */
void ngx_microshop_redis_conn_unlink(ngx_microshop_redis_cmd_t *cmd);
/* a command's end, its handler runs (if any) and it is freed; for a
 * command in no FIFO (cmd->conn NULL) too */
void ngx_microshop_redis_cmd_done(ngx_microshop_redis_cmd_t *cmd,
    ngx_uint_t status, redisReply *reply);

/* a command of the client's own (CLUSTER SLOTS, ROLE, SENTINEL ...) on a
 * ready connection, or one whose asked-for connect is under way; fn gets
 * privdata */
ngx_int_t ngx_microshop_redis_conn_command(ngx_microshop_redis_conn_t *rc,
    redisCallbackFn *fn, void *privdata, int argc, const char **argv,
    const size_t *lens);

/* the node's command connection is ready, and its pub/sub connection
 * too when the client listens on it */
ngx_uint_t ngx_microshop_redis_node_synced(ngx_microshop_redis_node_t *node);
/* 1: host is an IPv4 or IPv6 address (a worker resolves no name) */
ngx_uint_t ngx_microshop_redis_numeric(ngx_str_t *host);

/*
 * A failover seen by this worker: counted in microshop_redis_failovers_
 * total by the first worker that sees it (node: the primary that lost
 * its role, or the one a Sentinel moved to); every worker logs it.
 */
void ngx_microshop_redis_failover(ngx_microshop_redis_node_t *node);

/* us, monotonic: latencies */
uint64_t ngx_microshop_redis_now_us(void);

/* counters: the zone's and the node's */
void ngx_microshop_redis_count(ngx_microshop_redis_t *rd, ngx_uint_t counter,
    ngx_atomic_int_t n);
void ngx_microshop_redis_node_count(ngx_microshop_redis_node_t *node,
    ngx_uint_t counter, ngx_atomic_int_t n);


/* ------------------------------------------- ngx_microshop_redis_cluster.c */

ngx_int_t ngx_microshop_redis_cluster_init(ngx_microshop_redis_t *rd);
void ngx_microshop_redis_cluster_close(ngx_microshop_redis_t *rd);
/* the connection for a command whose keys hash to slot; NULL: none now */
ngx_microshop_redis_conn_t *ngx_microshop_redis_cluster_route(
    ngx_microshop_redis_t *rd, ngx_uint_t slot);
ngx_uint_t ngx_microshop_redis_cluster_ready(ngx_microshop_redis_t *rd);


/* ------------------------------------------ ngx_microshop_redis_sentinel.c */

ngx_int_t ngx_microshop_redis_sentinel_init(ngx_microshop_redis_t *rd);
void ngx_microshop_redis_sentinel_close(ngx_microshop_redis_t *rd);
/* the primary's command connection; NULL: not known yet */
ngx_microshop_redis_conn_t *ngx_microshop_redis_sentinel_route(
    ngx_microshop_redis_t *rd);


#endif /* _NGX_MICROSHOP_REDIS_INT_H_INCLUDED_ */
