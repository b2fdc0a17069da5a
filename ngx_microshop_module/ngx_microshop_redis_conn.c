/*
 * ngx_microshop: one Redis connection on the nginx event loop
 * (docs/redis.md "The client"), the lowest layer of the client
 * (ngx_microshop_redis_int.h).
 *
 * A client is a set of nodes (one for redis:// and unix:, the primaries and
 * seeds of a Cluster, the primary and the sentinels of a Sentinel set); a
 * node has two connections, each an ngx_microshop_redis_conn_t: the command
 * connection (EVALSHA, pipelined) and the pub/sub connection (SUBSCRIBE, on
 * the one node the client listens to, and on a sentinel).  Each connection
 * has its own state, backoff and FIFO of commands waiting for their
 * replies.  What a connection's ready, its loss and a command's error
 * reply mean is the topology's (rd->topo): this file calls up only
 * through it.
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
 * - No connection is made again from inside a hiredis callback: contexts
 *   are freed from timers or a posted event, reconnects run from the
 *   backoff timer (100 ms doubling to 5 s, +-20% jitter, reset once
 *   ready).  The topology may open another node's connection from a
 *   callback (conn_open: a Cluster primary a redirect or a map names, the
 *   primary the sentinels name), never the one being called back, and
 *   only one that is down with no context (CLOSING is not DOWN).  While a
 *   command connection is not ready every command for it is refused at
 *   once, but for a connect the topology asked for: commands wait for it,
 *   within their deadline.
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

#include "ngx_microshop_redis_int.h"


#define NGX_MICROSHOP_REDIS_READ_ROUNDS  64

/* the pub/sub heartbeat (the top comment); PINGS > DEAD / HEARTBEAT + 1 */
#define NGX_MICROSHOP_REDIS_HEARTBEAT    1000    /* ms, between pings */
#define NGX_MICROSHOP_REDIS_PUBSUB_DEAD  3000    /* ms, oldest unanswered */

/* what a sentinel's pub/sub connection listens to
 * (ngx_microshop_redis_sentinel.c) */
static const char  *ngx_microshop_redis_sentinel_channels[] = {
    "+switch-master", "+promoted-slave", "+failover-state-send-slaveof-noone",
    "-failover-abort-slave-timeout"
};

#define NGX_MICROSHOP_REDIS_SENTINEL_CHANNELS                                 \
    (sizeof(ngx_microshop_redis_sentinel_channels) / sizeof(char *))


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
static ngx_int_t ngx_microshop_redis_write(ngx_microshop_redis_conn_t *rc,
    ngx_microshop_redis_cmd_t *cmd, ngx_uint_t eval);
static void ngx_microshop_redis_node_set(ngx_microshop_redis_node_t *node,
    ngx_str_t *host, ngx_uint_t port);
static void ngx_microshop_redis_conn_init(ngx_microshop_redis_conn_t *rc,
    ngx_microshop_redis_node_t *node, ngx_uint_t sub);
static void ngx_microshop_redis_handshake(ngx_microshop_redis_conn_t *rc);
static void ngx_microshop_redis_latency(ngx_microshop_redis_t *rd,
    uint64_t start);
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
static void ngx_microshop_redis_role_reply(redisAsyncContext *ac, void *r,
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


#define ngx_microshop_redis_name(rc)  ((rc)->sub ? "pub/sub" : "command")

/* where, in a message: the URL of a single Redis, else the node */
#define ngx_microshop_redis_where(node)                                       \
    (((node)->rd->conf->kind == NGX_MICROSHOP_REDIS_SINGLE)                   \
     ? &(node)->rd->conf->url : &(node)->label)


/* ---------------------------------------------------- nodes, counters */


ngx_microshop_redis_node_t *
ngx_microshop_redis_node_add(ngx_microshop_redis_t *rd, ngx_uint_t kind,
    ngx_str_t *host, ngx_uint_t port)
{
    ngx_str_t                    name;
    ngx_microshop_redis_node_t  *node;

    if (rd->nnodes == NGX_MICROSHOP_REDIS_NODES
        || host->len >= NGX_MICROSHOP_REDIS_ADDR_LEN)
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "microshop redis: %V: no room for node \"%V:%ui\" "
                      "(%d nodes at most)", &rd->conf->url, host, port,
                      NGX_MICROSHOP_REDIS_NODES);
        return NULL;
    }

    /* a worker's lifetime: nodes are never freed before exit */
    node = ngx_calloc(sizeof(ngx_microshop_redis_node_t), rd->log);
    if (node == NULL) {
        return NULL;
    }

    node->rd = rd;
    node->kind = kind;
    node->index = rd->nnodes;

    ngx_microshop_redis_node_set(node, host, port);

    node->hb.handler = ngx_microshop_redis_hb_handler;
    node->hb.data = node;
    node->hb.log = rd->log;
    node->hb.cancelable = 1;

    ngx_microshop_redis_conn_init(&node->cmd, node, 0);
    ngx_microshop_redis_conn_init(&node->pubsub, node, 1);

    if (kind == NGX_MICROSHOP_REDIS_NODE_DATA && rd->zone != NULL) {
        name = node->label;
        node->stat = ngx_microshop_zone_node(rd->zone, &name);
    }

    rd->nodes[rd->nnodes++] = node;

    return node;
}


ngx_microshop_redis_node_t *
ngx_microshop_redis_node_find(ngx_microshop_redis_t *rd, ngx_str_t *host,
    ngx_uint_t port)
{
    ngx_uint_t                   i;
    ngx_microshop_redis_node_t  *node;

    for (i = 0; i < rd->nnodes; i++) {
        node = rd->nodes[i];

        if (node->kind == NGX_MICROSHOP_REDIS_NODE_DATA
            && node->addr.port == port && node->addr.host.len == host->len
            && ngx_strncmp(node->addr.host.data, host->data, host->len) == 0)
        {
            return node;
        }
    }

    return NULL;
}


void
ngx_microshop_redis_node_move(ngx_microshop_redis_node_t *node,
    ngx_str_t *host, ngx_uint_t port)
{
    ngx_uint_t                   k;
    ngx_microshop_redis_conn_t  *rc;

    for (k = 0; k < 2; k++) {
        rc = k ? &node->pubsub : &node->cmd;

        /* the commands still waiting end CLOSED: they may have run; a
         * move is no outage (idle: not logged, not counted, no retry) */
        rc->idle = 1;
        ngx_microshop_redis_drop(rc, "the primary moved");
        rc->idle = 0;

        if (rc->retry.timer_set) {
            ngx_del_timer(&rc->retry);
        }

        rc->backoff = 0;
        rc->connects = 0;
        rc->reason[0] = '\0';
    }

    node->outage = 0;

    ngx_microshop_redis_node_set(node, host, port);

    if (node->rd->zone != NULL) {
        node->stat = ngx_microshop_zone_node(node->rd->zone, &node->label);
    }
}


static void
ngx_microshop_redis_node_set(ngx_microshop_redis_node_t *node,
    ngx_str_t *host, ngx_uint_t port)
{
    u_char  *p;

    p = ngx_cpymem(node->host, host->data, host->len);
    *p = '\0';

    node->addr.host.data = node->host;
    node->addr.host.len = host->len;
    node->addr.port = port;

    /* host:port, [v6]:port, or the socket's path */
    if (port == 0) {
        p = ngx_cpymem(node->name, host->data, host->len);

    } else if (ngx_strlchr(host->data, host->data + host->len, ':')) {
        p = ngx_sprintf(node->name, "[%V]:%ui", host, port);

    } else {
        p = ngx_sprintf(node->name, "%V:%ui", host, port);
    }

    node->addr.name.data = node->name;
    node->addr.name.len = p - node->name;

    if (node->kind == NGX_MICROSHOP_REDIS_NODE_SENTINEL) {
        p = ngx_sprintf(node->label_buf, "sentinel %V", &node->addr.name);
        node->label.data = node->label_buf;
        node->label.len = p - node->label_buf;

    } else {
        node->label = node->addr.name;
    }
}


void
ngx_microshop_redis_node_close(ngx_microshop_redis_node_t *node)
{
    ngx_uint_t                   k;
    ngx_microshop_redis_conn_t  *rc;

    if (node->hb.timer_set) {
        ngx_del_timer(&node->hb);
    }

    for (k = 0; k < 2; k++) {
        rc = k ? &node->pubsub : &node->cmd;

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


ngx_uint_t
ngx_microshop_redis_node_synced(ngx_microshop_redis_node_t *node)
{
    return node->cmd.state == NGX_MICROSHOP_REDIS_READY
           && (!node->listen
               || node->pubsub.state == NGX_MICROSHOP_REDIS_READY);
}


ngx_uint_t
ngx_microshop_redis_numeric(ngx_str_t *host)
{
#if (NGX_HAVE_INET6)
    u_char  a6[16];

    if (ngx_inet6_addr(host->data, host->len, a6) == NGX_OK) {
        return 1;
    }
#endif

    return host->len && ngx_inet_addr(host->data, host->len) != INADDR_NONE;
}


void
ngx_microshop_redis_failover(ngx_microshop_redis_node_t *node)
{
    if (node->stat == NULL
        || ngx_atomic_cmp_set(&node->stat->counters[NGX_MICROSHOP_NODE_FAILED],
                              0, 1))
    {
        ngx_microshop_redis_count(node->rd,
                                  NGX_MICROSHOP_COUNTER_REDIS_FAILOVERS, 1);
        ngx_microshop_redis_node_count(node, NGX_MICROSHOP_NODE_FAILOVERS, 1);
    }
}


void
ngx_microshop_redis_count(ngx_microshop_redis_t *rd, ngx_uint_t counter,
    ngx_atomic_int_t n)
{
    if (rd->zone != NULL) {
        ngx_microshop_zone_count(rd->zone, counter, n);
    }
}


void
ngx_microshop_redis_node_count(ngx_microshop_redis_node_t *node,
    ngx_uint_t counter, ngx_atomic_int_t n)
{
    if (node->stat != NULL) {
        (void) ngx_atomic_fetch_add(&node->stat->counters[counter], n);
    }
}


static void
ngx_microshop_redis_conn_init(ngx_microshop_redis_conn_t *rc,
    ngx_microshop_redis_node_t *node, ngx_uint_t sub)
{
    rc->node = node;
    rc->sub = sub;
    ngx_queue_init(&rc->fifo);

    rc->timer.handler = ngx_microshop_redis_timer_handler;
    rc->timer.data = rc;
    rc->timer.log = node->rd->log;
    rc->timer.cancelable = 1;

    rc->retry.handler = ngx_microshop_redis_retry_handler;
    rc->retry.data = rc;
    rc->retry.log = node->rd->log;
    rc->retry.cancelable = 1;

    rc->drop.handler = ngx_microshop_redis_drop_handler;
    rc->drop.data = rc;
    rc->drop.log = node->rd->log;
}


/* ------------------------------------------------- connection states */


void
ngx_microshop_redis_conn_open(ngx_microshop_redis_conn_t *rc)
{
    rc->idle = 0;

    if (rc->state == NGX_MICROSHOP_REDIS_DOWN && !rc->retry.timer_set
        && !rc->node->rd->destroying)
    {
        /* asked for: commands may wait for this connect (not for one
         * after a failure, from the backoff timer) */
        (void) ngx_microshop_redis_connect(rc);
        rc->asked = 1;
    }
}


void
ngx_microshop_redis_conn_idle(ngx_microshop_redis_conn_t *rc)
{
    rc->idle = 1;

    if (rc->retry.timer_set) {
        ngx_del_timer(&rc->retry);
    }
}


void
ngx_microshop_redis_conn_post_drop(ngx_microshop_redis_conn_t *rc,
    const char *reason)
{
    ngx_microshop_redis_post_drop(rc, reason);
}


ngx_uint_t
ngx_microshop_redis_conn_usable(ngx_microshop_redis_conn_t *rc)
{
    return rc->state == NGX_MICROSHOP_REDIS_READY
           || (rc->state == NGX_MICROSHOP_REDIS_CONNECTING && rc->asked
               && !rc->drop.posted);
}


static ngx_int_t
ngx_microshop_redis_connect(ngx_microshop_redis_conn_t *rc)
{
    ngx_connection_t             *c;
    redisAsyncContext            *ac;
    ngx_microshop_redis_t        *rd;
    ngx_microshop_redis_addr_t   *addr;

    rd = rc->node->rd;
    addr = &rc->node->addr;

    rc->reason[0] = '\0';

    if (rc->connects++ > 0) {
        ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_RECONNECTS,
                                  1);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "microshop redis: %s connection: connecting to %V (%V)",
                   ngx_microshop_redis_name(rc), &rc->node->label,
                   &rd->conf->url);

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
                      ngx_microshop_redis_where(rc->node));
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

    ngx_microshop_redis_handshake(rc);

    rc->connect_at = ngx_current_msec + rd->conf->connect_timeout;
    rc->timer.cancelable = 1;
    ngx_add_timer(&rc->timer, rd->conf->connect_timeout);

    return NGX_OK;
}


/*
 * What a new connection sends first, pipelined (the connect timer bounds
 * it all); it is ready once every reply came:
 *
 *   data, command    AUTH, SELECT, SCRIPT LOAD of every script, ROLE
 *                    (Sentinel: it must be the primary), or PING
 *   data, pub/sub    AUTH, SUBSCRIBE to the hooks' channels and the
 *                    heartbeat's (the last one)
 *   sentinel         PING; pub/sub: SUBSCRIBE to the failover's events
 *                    (ngx_microshop_redis_sentinel.c)
 */
static void
ngx_microshop_redis_handshake(ngx_microshop_redis_conn_t *rc)
{
    ngx_uint_t                    i, sentinel;
    ngx_str_t                    *pw, *ch;
    redisAsyncContext            *ac;
    ngx_microshop_redis_t        *rd;
    ngx_microshop_redis_script_t *s;
    u_char                        db[NGX_INT_T_LEN];
    const char                   *argv[3];
    size_t                        lens[3];

    rd = rc->node->rd;
    ac = rc->ac;
    sentinel = (rc->node->kind == NGX_MICROSHOP_REDIS_NODE_SENTINEL);

    pw = &rd->conf->password;

    if (pw->len && !sentinel) {
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
        rc->nsubs = sentinel ? NGX_MICROSHOP_REDIS_SENTINEL_CHANNELS
                             : rd->hooks->nchannels + 1;

        for (i = 0; i < rc->nsubs; i++) {
            if (sentinel) {
                argv[1] = ngx_microshop_redis_sentinel_channels[i];
                lens[1] = ngx_strlen(argv[1]);

            } else {
                ch = (i < rd->hooks->nchannels) ? &rd->hooks->channels[i]
                                                : &rd->hb_channel;
                argv[1] = (char *) ch->data;
                lens[1] = ch->len;
            }

            argv[0] = "SUBSCRIBE";
            lens[0] = 9;

            (void) redisAsyncCommandArgv(ac, ngx_microshop_redis_sub_reply, rc,
                                         2, argv, lens);
        }

        return;
    }

    if (!sentinel) {
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

        /* on every node, after every connect (a promoted replica, a
         * restarted server may not have them) */
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

        if (rd->conf->kind == NGX_MICROSHOP_REDIS_SENTINEL) {
            argv[0] = "ROLE";
            lens[0] = 4;

            if (redisAsyncCommandArgv(ac, ngx_microshop_redis_role_reply, rc,
                                      1, argv, lens)
                == REDIS_OK)
            {
                rc->handshake++;
            }
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


/* the backoff timer: the one place a connection is made again */
static void
ngx_microshop_redis_retry_handler(ngx_event_t *ev)
{
    ngx_microshop_redis_conn_t  *rc = ev->data;

    if (rc->state == NGX_MICROSHOP_REDIS_DOWN && !rc->idle
        && !rc->node->rd->destroying)
    {
        rc->asked = 0;
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
        if ((ngx_msec_int_t) (rc->connect_at - ngx_current_msec) <= 0) {
            ngx_microshop_redis_drop(rc, (rc->ac->c.flags & REDIS_CONNECTED)
                                         ? "no answer within connect_timeout"
                                         : "connect timed out");
            return;
        }

        /* commands given during an asked-for connect (a Cluster node opened
         * on demand) keep their deadlines */
        ngx_microshop_redis_expire(rc);
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

    if (!rc->idle) {
        ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_ERR_CONNECT,
                                  1);
        ngx_microshop_redis_node_count(rc->node, NGX_MICROSHOP_NODE_ERRORS, 1);
    }

    if (!rc->node->outage && !rc->idle) {
        rc->node->outage = 1;

        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "microshop redis: %V: %s%s: %s (retrying in the "
                      "background)", ngx_microshop_redis_where(rc->node),
                      rc->sub ? "pub/sub " : "",
                      rc->was_ready ? "connection lost" : "connect failed",
                      rc->reason);
    }

    rc->backoff = rc->backoff ? ngx_min(rc->backoff * 2,
                                        NGX_MICROSHOP_REDIS_BACKOFF_MAX)
                              : NGX_MICROSHOP_REDIS_BACKOFF_MIN;

    /* +-20%: the workers of many nodes do not come back in step */
    delay = rc->backoff * (80 + (ngx_random() % 41)) / 100;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "microshop redis: %V: %s connection down (%s), "
                   "next connect in %Mms", &rc->node->label,
                   ngx_microshop_redis_name(rc), rc->reason,
                   rc->idle ? 0 : delay);

    rc->was_ready = 0;

    if (!rc->idle) {
        rc->retry.cancelable = 1;
        ngx_add_timer(&rc->retry, delay);
    }

    if (rd->topo.down != NULL) {
        rd->topo.down(rc);
    }
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
        ngx_microshop_redis_node_count(node, NGX_MICROSHOP_NODE_CONNECTIONS,
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "microshop redis: %V: %s connection ready",
                   &node->label, ngx_microshop_redis_name(rc));

    if (!rc->sub) {
        if (node->kind == NGX_MICROSHOP_REDIS_NODE_DATA) {
            node->up = 1;
            ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_UP, 1);
            ngx_microshop_redis_node_count(node,
                                           NGX_MICROSHOP_NODE_CONNECTIONS, 1);

            if (node->stat != NULL && rd->sentinel == NULL) {
                /* a Cluster node back: its next failover counts again */
                node->stat->counters[NGX_MICROSHOP_NODE_FAILED] = 0;
            }
        }

    } else if (node->kind == NGX_MICROSHOP_REDIS_NODE_DATA) {
        /* the pings of an earlier connection do not count on this one */
        node->hb_acked = node->hb_seq;

        if (!node->hb.timer_set) {
            ngx_add_timer(&node->hb, NGX_MICROSHOP_REDIS_HEARTBEAT);
        }
    }

    /* back once every connection the node keeps is ready */
    if (node->outage && ngx_microshop_redis_node_synced(node)) {
        node->outage = 0;
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "microshop redis: %V: connected again",
                      ngx_microshop_redis_where(node));
    }

    rd->topo.ready(rc);
}


/* ------------------------------------------------------- the deadlines */


static void
ngx_microshop_redis_expire(ngx_microshop_redis_conn_t *rc)
{
    ngx_uint_t                    gen, state;
    ngx_queue_t                  *q;
    ngx_microshop_redis_t        *rd;
    ngx_microshop_redis_cmd_t    *cmd;
    ngx_microshop_redis_reply_pt  handler;

    rd = rc->node->rd;
    gen = rc->gen;
    state = rc->state;

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
        ngx_microshop_redis_node_count(rc->node, NGX_MICROSHOP_NODE_ERRORS,
                                       1);

        handler = cmd->handler;

        if (handler == NULL) {
            continue;
        }

        /* the command stays in the FIFO until hiredis calls back */
        cmd->handler = NULL;
        rc->waiting--;

        handler(cmd->data, NGX_MICROSHOP_REDIS_TIMEOUT, NULL);

        if (rc->gen != gen || rc->state != state) {
            return;
        }
    }

    q = ngx_queue_head(&rc->fifo);

    if (state == NGX_MICROSHOP_REDIS_READY
        && q != ngx_queue_sentinel(&rc->fifo))
    {
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
        if (rc->state == NGX_MICROSHOP_REDIS_CONNECTING) {
            at = rc->connect_at;
            goto set;
        }

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

    if (rc->state == NGX_MICROSHOP_REDIS_CONNECTING
        && (ngx_msec_int_t) (rc->connect_at - at) < 0)
    {
        at = rc->connect_at;
    }

set:

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
        argv[1] = (char *) rd->hb_channel.data;
        lens[1] = rd->hb_channel.len;
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


/*
 * EVALSHA (eval 0) or EVAL with the source (eval 1) of cmd, written (or
 * buffered by hiredis, during an asked-for connect: after the handshake)
 */
static ngx_int_t
ngx_microshop_redis_write(ngx_microshop_redis_conn_t *rc,
    ngx_microshop_redis_cmd_t *cmd, ngx_uint_t eval)
{
    int                            ok;
    u_char                         head[NGX_MICROSHOP_REDIS_HEAD_MAX];
    u_char                        *p, *buf;
    size_t                         n;
    ngx_microshop_redis_script_t  *s;

    s = &rc->node->rd->hooks->scripts[cmd->script];

    if (cmd->asking) {
        /* ASK: this command only, on this connection, right before it */
        if (redisAsyncCommand(rc->ac, NULL, NULL, "ASKING") != REDIS_OK) {
            return NGX_ERROR;
        }

        cmd->asking = 0;
    }

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


ngx_int_t
ngx_microshop_redis_conn_send(ngx_microshop_redis_conn_t *rc,
    ngx_microshop_redis_cmd_t *cmd)
{
    ngx_queue_t                *q;
    ngx_microshop_redis_cmd_t  *c;

    if (ngx_microshop_redis_write(rc, cmd, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    cmd->conn = rc;

    /* by deadline: a resent command is older than those sent since */
    for (q = ngx_queue_last(&rc->fifo);
         q != ngx_queue_sentinel(&rc->fifo);
         q = ngx_queue_prev(q))
    {
        c = ngx_queue_data(q, ngx_microshop_redis_cmd_t, queue);

        if ((ngx_msec_int_t) (c->deadline - cmd->deadline) <= 0) {
            break;
        }
    }

    ngx_queue_insert_after(q, &cmd->queue);

    if (cmd->handler != NULL) {
        rc->waiting++;
    }

    if (!rc->timer.timer_set || ngx_queue_head(&rc->fifo) == &cmd->queue) {
        ngx_microshop_redis_arm(rc);

    } else if (cmd->handler != NULL) {
        /* a request waits now: a graceful shutdown waits for its answer */
        rc->timer.cancelable = 0;
    }

    return NGX_OK;
}


void
ngx_microshop_redis_conn_unlink(ngx_microshop_redis_cmd_t *cmd)
{
    ngx_uint_t                   head;
    ngx_microshop_redis_conn_t  *rc;

    rc = cmd->conn;

    if (rc == NULL) {
        return;
    }

    head = (ngx_queue_head(&rc->fifo) == &cmd->queue);
    ngx_queue_remove(&cmd->queue);
    cmd->conn = NULL;

    if (cmd->handler != NULL) {
        rc->waiting--;
    }

    if (rc->state == NGX_MICROSHOP_REDIS_READY
        || rc->state == NGX_MICROSHOP_REDIS_CONNECTING)
    {
        if (head) {
            ngx_microshop_redis_arm(rc);

        } else {
            rc->timer.cancelable = (rc->waiting == 0);
        }
    }
}


ngx_int_t
ngx_microshop_redis_conn_command(ngx_microshop_redis_conn_t *rc,
    redisCallbackFn *fn, void *privdata, int argc, const char **argv,
    const size_t *lens)
{
    if (rc->ac == NULL || !ngx_microshop_redis_conn_usable(rc)) {
        return NGX_DECLINED;
    }

    if (redisAsyncCommandArgv(rc->ac, fn, privdata, argc, argv, lens)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_microshop_redis_cmd_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                  *reply = r;
    ngx_microshop_redis_t       *rd;
    ngx_microshop_redis_cmd_t   *cmd = privdata;
    ngx_microshop_redis_conn_t  *rc;

    rc = cmd->conn;
    rd = cmd->rd;

    if (reply == NULL) {
        /* the context is being freed: nothing more goes out on it */
        ngx_microshop_redis_lost(rc);
        ngx_microshop_redis_cmd_done(cmd, NGX_MICROSHOP_REDIS_CLOSED, NULL);
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
        if (ngx_microshop_redis_write(rc, cmd, 1) == NGX_OK) {
            cmd->retried = 1;

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                           "microshop redis: NOSCRIPT, EVAL of script %ui",
                           cmd->script);
            return;
        }
    }

    if (reply->type == REDIS_REPLY_ERROR && rd->topo.error != NULL
        && rd->topo.error(rc, cmd, reply) == NGX_OK)
    {
        /* MOVED, ASK, TRYAGAIN...: the topology sends it again */
        return;
    }

    ngx_microshop_redis_latency(rd, cmd->start);

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_ERR_SCRIPT,
                                  1);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "microshop redis: script %ui: %s", cmd->script,
                       reply->str);
    }

    ngx_microshop_redis_cmd_done(cmd, NGX_MICROSHOP_REDIS_REPLY, reply);
}


/* a command's end: out of the FIFO, its handler (if any), freed */
void
ngx_microshop_redis_cmd_done(ngx_microshop_redis_cmd_t *cmd,
    ngx_uint_t status, redisReply *reply)
{
    ngx_microshop_redis_reply_pt  handler;

    if (cmd->handler == NULL && status == NGX_MICROSHOP_REDIS_REPLY) {
        /* after its timeout, or abandoned */
        ngx_microshop_redis_count(cmd->rd, NGX_MICROSHOP_COUNTER_STORE_LATE,
                                  1);
    }

    ngx_microshop_redis_conn_unlink(cmd);

    handler = cmd->handler;
    cmd->handler = NULL;

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


uint64_t
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
        && (!rc->sub || rc->subscribed == rc->nsubs))
    {
        ngx_microshop_redis_ready_conn(rc);
    }
}


/*
 * ROLE, the last of a Sentinel primary's handshake: a server the
 * sentinels named may have been demoted since (a failover under way).
 */
static void
ngx_microshop_redis_role_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                  *reply = r;
    ngx_microshop_redis_conn_t  *rc = privdata;

    if (reply == NULL || rc->state != NGX_MICROSHOP_REDIS_CONNECTING
        || reply->type == REDIS_REPLY_ERROR)
    {
        ngx_microshop_redis_handshake_reply(ac, r, privdata);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING
        || ngx_strcmp(reply->element[0]->str, "master") != 0)
    {
        ngx_microshop_redis_post_drop(rc, "not a primary (ROLE)");
        return;
    }

    ngx_microshop_redis_handshake_reply(ac, r, privdata);
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

        if (rc->node->kind == NGX_MICROSHOP_REDIS_NODE_SENTINEL) {
            if (rd->topo.message != NULL) {
                rd->topo.message(rc->node, &channel, &message);
            }

            return;
        }

        if (channel.len == rd->hb_channel.len
            && ngx_memcmp(channel.data, rd->hb_channel.data, channel.len)
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
        && ++rc->subscribed == rc->nsubs
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
