/*
 * ngx_microshop: Redis Cluster for the Redis client (docs/redis.md
 * "Redis Cluster"), under ngx_microshop_redis.c, over
 * ngx_microshop_redis_conn.c.
 *
 * The slot map.  CLUSTER SLOTS, asked of any node whose command
 * connection is ready (the seeds of the URL first), fills a table of
 * 16384 entries, each the node (a primary) that owns the slot.  A command
 * goes to the owner of its keys' slot (microshop_redis_slot.h: the hash
 * tag, so one seller's keys are one slot); the owner's command connection
 * is opened on the first command that needs it (the command waits for it,
 * within its timeout=), and scripts are loaded on every node as it
 * connects (ngx_microshop_redis_conn.c).  The map is loaded again:
 *
 * - after a MOVED (the slot is patched at once, the command resent to the
 *   node it names);
 * - after a connection error to any node: a dead primary never answers
 *   MOVED, the map of the survivors names its replica once promoted;
 * - every POLL_GAP ms while a primary of the map is unreachable (a
 *   failover under way), every second while slots have no owner, and
 *   after a CLUSTERDOWN;
 *
 * otherwise never more than once a second, and at most one CLUSTER SLOTS
 * at a time (bounded by connect_timeout=).  A refresh that moves slots
 * away from a primary that was unreachable is a failover
 * (microshop_redis_failovers_total).  Nodes that are no longer primaries
 * are not reconnected; one a later map makes a primary again is, at once.
 *
 * Redirects, from a command's error reply, at most REDIRECTS per command:
 * MOVED patches the slot and resends; ASK resends once to the node named,
 * after ASKING, the map untouched; TRYAGAIN (a multi-key command during a
 * slot's migration) and CLUSTERDOWN resend after a short delay while the
 * command's deadline allows, else the error reaches the caller.  A
 * redirect means the command did not run: nothing runs twice.
 *
 * Pub/sub.  Redis Cluster delivers PUBLISH to every node's subscribers, so
 * the client listens on one node only (its pub/sub connection, the
 * heartbeat through the same node): a primary of the map, moved to another
 * one when a refresh finds it gone.  The back end's ready hook runs once
 * the map is loaded and the listening connection ready, after every
 * reconnect of a primary, and after a refresh that changed owners (what
 * was kept for a node that was away is sent again).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_microshop_redis_int.h"
#include "microshop_redis_slot.h"


#define NGX_MICROSHOP_REDIS_REDIRECTS    5
#define NGX_MICROSHOP_REDIS_REFRESH_GAP  1000    /* ms, between refreshes */
#define NGX_MICROSHOP_REDIS_POLL_GAP     250     /* ms, while a primary of
                                                    the map is unreachable */
#define NGX_MICROSHOP_REDIS_TRYAGAIN     25      /* ms, before a resend */
#define NGX_MICROSHOP_REDIS_CLUSTERDOWN  100


struct ngx_microshop_redis_cluster_s {
    /* node index + 1; 0: nobody (not loaded, not covered) */
    uint8_t                        slots[MICROSHOP_REDIS_SLOTS];
    uint8_t                        next[MICROSHOP_REDIS_SLOTS];
    ngx_event_t                    timer;      /* the next refresh, or the
                                                  deadline of one asked */
    ngx_event_t                    resend;     /* the commands of later */
    ngx_queue_t                    later;      /* TRYAGAIN, CLUSTERDOWN */
    ngx_uint_t                     gen;        /* of the refresh asked */
    ngx_uint_t                     ask;        /* round robin of nodes */
    ngx_msec_t                     last;       /* the last refresh asked */
    ngx_microshop_redis_node_t    *listen;     /* its pub/sub is ours */
    unsigned                       loaded:1;
    unsigned                       asked:1;    /* a CLUSTER SLOTS is out */
    unsigned                       wanted:1;   /* one more is due */
    unsigned                       logged:1;   /* a bad endpoint, once */
    unsigned                       polling:1;  /* a failover may be under
                                                  way: POLL_GAP */
};


static void ngx_microshop_redis_cluster_ready_conn(
    ngx_microshop_redis_conn_t *rc);
static void ngx_microshop_redis_cluster_down(ngx_microshop_redis_conn_t *rc);
static ngx_int_t ngx_microshop_redis_cluster_error(
    ngx_microshop_redis_conn_t *rc, ngx_microshop_redis_cmd_t *cmd,
    redisReply *reply);
static ngx_int_t ngx_microshop_redis_cluster_redirect(
    ngx_microshop_redis_conn_t *rc, ngx_microshop_redis_cmd_t *cmd,
    microshop_redis_redirect_t *r);
static void ngx_microshop_redis_cluster_want(ngx_microshop_redis_t *rd);
static void ngx_microshop_redis_cluster_refresh(ngx_microshop_redis_t *rd);
static void ngx_microshop_redis_cluster_timer(ngx_event_t *ev);
static void ngx_microshop_redis_cluster_slots(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_microshop_redis_cluster_apply(ngx_microshop_redis_t *rd,
    ngx_microshop_redis_node_t *asked, redisReply *reply);
static ngx_microshop_redis_node_t *ngx_microshop_redis_cluster_node(
    ngx_microshop_redis_t *rd, ngx_microshop_redis_node_t *asked,
    const u_char *host, size_t len, ngx_uint_t port);
static void ngx_microshop_redis_cluster_listen(ngx_microshop_redis_t *rd,
    ngx_microshop_redis_node_t *asked);
static void ngx_microshop_redis_cluster_synced(ngx_microshop_redis_t *rd);
static void ngx_microshop_redis_cluster_need(ngx_microshop_redis_conn_t *rc);
static void ngx_microshop_redis_cluster_resend(ngx_event_t *ev);


ngx_int_t
ngx_microshop_redis_cluster_init(ngx_microshop_redis_t *rd)
{
    ngx_uint_t                     i;
    ngx_microshop_redis_addr_t    *addr;
    ngx_microshop_redis_node_t    *node;
    ngx_microshop_redis_cluster_t *cl;

    cl = ngx_calloc(sizeof(ngx_microshop_redis_cluster_t), rd->log);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    rd->cluster = cl;

    rd->topo.ready = ngx_microshop_redis_cluster_ready_conn;
    rd->topo.down = ngx_microshop_redis_cluster_down;
    rd->topo.error = ngx_microshop_redis_cluster_error;

    ngx_queue_init(&cl->later);

    cl->timer.handler = ngx_microshop_redis_cluster_timer;
    cl->timer.data = rd;
    cl->timer.log = rd->log;
    cl->timer.cancelable = 1;

    cl->resend.handler = ngx_microshop_redis_cluster_resend;
    cl->resend.data = rd;
    cl->resend.log = rd->log;
    cl->resend.cancelable = 1;

    addr = rd->conf->addrs.elts;

    for (i = 0; i < rd->conf->addrs.nelts; i++) {
        if (ngx_microshop_redis_node_find(rd, &addr[i].host, addr[i].port)
            != NULL)
        {
            continue;
        }

        node = ngx_microshop_redis_node_add(rd, NGX_MICROSHOP_REDIS_NODE_DATA,
                                            &addr[i].host, addr[i].port);
        if (node == NULL) {
            return NGX_ERROR;
        }
    }

    /* every seed at once: the first one ready is asked for the map */
    for (i = 0; i < rd->nnodes; i++) {
        ngx_microshop_redis_conn_open(&rd->nodes[i]->cmd);
    }

    return NGX_OK;
}


void
ngx_microshop_redis_cluster_close(ngx_microshop_redis_t *rd)
{
    ngx_queue_t                    *q;
    ngx_microshop_redis_cmd_t      *cmd;
    ngx_microshop_redis_cluster_t  *cl;

    cl = rd->cluster;

    if (cl->timer.timer_set) {
        ngx_del_timer(&cl->timer);
    }

    if (cl->resend.timer_set) {
        ngx_del_timer(&cl->resend);
    }

    while (!ngx_queue_empty(&cl->later)) {
        q = ngx_queue_head(&cl->later);
        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_microshop_redis_cmd_t, later);

        ngx_microshop_redis_cmd_done(cmd, NGX_MICROSHOP_REDIS_CLOSED, NULL);
    }
}


ngx_microshop_redis_conn_t *
ngx_microshop_redis_cluster_route(ngx_microshop_redis_t *rd, ngx_uint_t slot)
{
    ngx_uint_t                   i;
    ngx_microshop_redis_conn_t  *rc;

    i = rd->cluster->slots[slot];

    if (i == 0) {
        /* no map yet, or a slot nobody serves: the circuit is open */
        return NULL;
    }

    rc = &rd->nodes[i - 1]->cmd;

    ngx_microshop_redis_cluster_need(rc);

    return ngx_microshop_redis_conn_usable(rc) ? rc : NULL;
}


/*
 * A node's command connection is needed: opened on the first command
 * that needs it (which waits for it), or again if it was left idle (no
 * longer a primary then, one now); one that is down with its backoff
 * running keeps it
 */
static void
ngx_microshop_redis_cluster_need(ngx_microshop_redis_conn_t *rc)
{
    if (rc->state == NGX_MICROSHOP_REDIS_DOWN
        && (rc->connects == 0 || rc->idle))
    {
        ngx_microshop_redis_conn_open(rc);
    }
}


ngx_uint_t
ngx_microshop_redis_cluster_ready(ngx_microshop_redis_t *rd)
{
    ngx_uint_t  i;

    if (!rd->cluster->loaded) {
        return 0;
    }

    for (i = 0; i < rd->nnodes; i++) {
        if (rd->nodes[i]->primary
            && rd->nodes[i]->cmd.state == NGX_MICROSHOP_REDIS_READY)
        {
            return 1;
        }
    }

    return 0;
}


/* ------------------------------------------- a connection's life */


static void
ngx_microshop_redis_cluster_ready_conn(ngx_microshop_redis_conn_t *rc)
{
    ngx_microshop_redis_t          *rd;
    ngx_microshop_redis_node_t     *node;
    ngx_microshop_redis_cluster_t  *cl;

    node = rc->node;
    rd = node->rd;
    cl = rd->cluster;

    if (!rc->sub) {
        if ((!cl->loaded || cl->wanted) && !cl->asked) {
            /* the first node ready tells the map */
            ngx_microshop_redis_cluster_want(rd);
        }

        if (node->listen) {
            ngx_microshop_redis_conn_open(&node->pubsub);
        }
    }

    if (rc->sub || node->listen || rc->connects > 1) {
        ngx_microshop_redis_cluster_synced(rd);
    }
}


/* a node unreachable: its replica may be taking over */
static void
ngx_microshop_redis_cluster_down(ngx_microshop_redis_conn_t *rc)
{
    if (!rc->idle) {
        if (rc->node->primary) {
            rc->node->rd->cluster->polling = 1;
        }

        ngx_microshop_redis_cluster_want(rc->node->rd);
    }
}


/* the back end's ready hook: the map is known and the client listens */
static void
ngx_microshop_redis_cluster_synced(ngx_microshop_redis_t *rd)
{
    ngx_microshop_redis_node_t     *node;
    ngx_microshop_redis_cluster_t  *cl;

    cl = rd->cluster;
    node = cl->listen;

    if (!cl->loaded || node == NULL || !ngx_microshop_redis_node_synced(node))
    {
        return;
    }

    if (rd->hooks->ready != NULL) {
        rd->hooks->ready(rd->hooks->data);
    }
}


/* ---------------------------------------------------------- redirects */


static ngx_int_t
ngx_microshop_redis_cluster_error(ngx_microshop_redis_conn_t *rc,
    ngx_microshop_redis_cmd_t *cmd, redisReply *reply)
{
    ngx_msec_t                      delay;
    microshop_redis_redirect_t      r;
    ngx_microshop_redis_t          *rd;
    ngx_microshop_redis_cluster_t  *cl;

    rd = rc->node->rd;
    cl = rd->cluster;

    switch (microshop_redis_redirect_parse((u_char *) reply->str, reply->len,
                                           &r))
    {
    case MICROSHOP_REDIS_REDIRECT_MOVED:
    case MICROSHOP_REDIS_REDIRECT_ASK:
        return ngx_microshop_redis_cluster_redirect(rc, cmd, &r);

    case MICROSHOP_REDIS_REDIRECT_TRYAGAIN:
        ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_TRYAGAIN, 1);
        delay = NGX_MICROSHOP_REDIS_TRYAGAIN;
        break;

    case MICROSHOP_REDIS_REDIRECT_CLUSTERDOWN:
        ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_CLUSTERDOWN,
                                  1);
        ngx_microshop_redis_cluster_want(rd);
        delay = NGX_MICROSHOP_REDIS_CLUSTERDOWN;
        break;

    default:
        return NGX_DECLINED;
    }

    /* TRYAGAIN, CLUSTERDOWN: the command did not run; again, soon */
    if (cmd->handler == NULL
        || ++cmd->redirects > NGX_MICROSHOP_REDIS_REDIRECTS
        || (ngx_msec_int_t) (cmd->deadline - ngx_current_msec)
           <= (ngx_msec_int_t) delay)
    {
        return NGX_DECLINED;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "microshop redis: %s, script %ui resent later",
                   reply->str, cmd->script);

    ngx_microshop_redis_conn_unlink(cmd);
    ngx_queue_insert_tail(&cl->later, &cmd->later);

    if (!cl->resend.timer_set) {
        ngx_add_timer(&cl->resend, delay);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_redis_cluster_redirect(ngx_microshop_redis_conn_t *rc,
    ngx_microshop_redis_cmd_t *cmd, microshop_redis_redirect_t *r)
{
    ngx_uint_t                      moved;
    ngx_microshop_redis_t          *rd;
    ngx_microshop_redis_node_t     *node;
    ngx_microshop_redis_conn_t     *to;

    rd = rc->node->rd;
    moved = (r->kind == MICROSHOP_REDIS_REDIRECT_MOVED);

    ngx_microshop_redis_count(rd, moved ? NGX_MICROSHOP_COUNTER_REDIS_MOVED
                                        : NGX_MICROSHOP_COUNTER_REDIS_ASK, 1);
    ngx_microshop_redis_node_count(rc->node, moved ? NGX_MICROSHOP_NODE_MOVED
                                                   : NGX_MICROSHOP_NODE_ASK,
                                   1);

    node = ngx_microshop_redis_cluster_node(rd, rc->node, r->host,
                                            r->host_len, r->port);
    if (node == NULL) {
        return NGX_DECLINED;
    }

    if (moved) {
        /* the slot lives there now; the rest of the map may have moved
         * too (a resharding, a failover) */
        node->primary = 1;
        rd->cluster->slots[r->slot] = (uint8_t) (node->index + 1);
        ngx_microshop_redis_cluster_want(rd);
    }

    if (cmd->handler == NULL
        || ++cmd->redirects > NGX_MICROSHOP_REDIS_REDIRECTS)
    {
        if (cmd->handler != NULL) {
            ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                          "microshop redis: script %ui: more than %d "
                          "redirects, given up", cmd->script,
                          NGX_MICROSHOP_REDIS_REDIRECTS);
        }

        return NGX_DECLINED;
    }

    to = &node->cmd;

    ngx_microshop_redis_cluster_need(to);

    if (!ngx_microshop_redis_conn_usable(to)) {
        /* not reachable now: the error answers, the command did not run */
        return NGX_DECLINED;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "microshop redis: %s of slot %ui: script %ui to %V",
                   moved ? "MOVED" : "ASK", r->slot, cmd->script,
                   &node->label);

    ngx_microshop_redis_conn_unlink(cmd);
    cmd->asking = !moved;

    if (ngx_microshop_redis_conn_send(to, cmd) != NGX_OK) {
        ngx_microshop_redis_cmd_done(cmd, NGX_MICROSHOP_REDIS_CLOSED, NULL);
    }

    return NGX_OK;
}


/* TRYAGAIN, CLUSTERDOWN: the delay is over */
static void
ngx_microshop_redis_cluster_resend(ngx_event_t *ev)
{
    ngx_microshop_redis_t  *rd = ev->data;

    ngx_queue_t                    *q, list;
    ngx_microshop_redis_cmd_t      *cmd;
    ngx_microshop_redis_conn_t     *rc;

    /* the handlers may add to cl->later: take the list as it is now */
    ngx_queue_init(&list);

    if (!ngx_queue_empty(&rd->cluster->later)) {
        list = rd->cluster->later;
        list.next->prev = &list;
        list.prev->next = &list;
        ngx_queue_init(&rd->cluster->later);
    }

    while (!ngx_queue_empty(&list)) {
        q = ngx_queue_head(&list);
        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_microshop_redis_cmd_t, later);

        if (cmd->handler == NULL) {
            /* abandoned meanwhile */
            ngx_free(cmd);
            continue;
        }

        if ((ngx_msec_int_t) (cmd->deadline - ngx_current_msec) <= 0) {
            ngx_microshop_redis_count(rd,
                                      NGX_MICROSHOP_COUNTER_REDIS_ERR_TIMEOUT,
                                      1);
            ngx_microshop_redis_cmd_done(cmd, NGX_MICROSHOP_REDIS_TIMEOUT,
                                         NULL);
            continue;
        }

        rc = ngx_microshop_redis_cluster_route(rd, cmd->slot);

        if (rc == NULL || ngx_microshop_redis_conn_send(rc, cmd) != NGX_OK) {
            ngx_microshop_redis_cmd_done(cmd, NGX_MICROSHOP_REDIS_CLOSED,
                                         NULL);
        }
    }
}


/* ------------------------------------------------------- the slot map */


/* a refresh is due: from the event loop, at most one a second */
static void
ngx_microshop_redis_cluster_want(ngx_microshop_redis_t *rd)
{
    ngx_msec_int_t                  wait;
    ngx_microshop_redis_cluster_t  *cl;

    cl = rd->cluster;
    cl->wanted = 1;

    if (cl->asked || rd->destroying) {
        /* the answer under way is looked at first */
        return;
    }

    wait = cl->last ? (ngx_msec_int_t) (cl->last
                                        + (cl->polling
                                           ? NGX_MICROSHOP_REDIS_POLL_GAP
                                           : NGX_MICROSHOP_REDIS_REFRESH_GAP)
                                        - ngx_current_msec)
                    : 0;

    if (wait < 1) {
        wait = 1;
    }

    if (cl->timer.timer_set
        && (ngx_msec_int_t) (cl->timer.timer.key - ngx_current_msec) <= wait)
    {
        return;
    }

    if (cl->timer.timer_set) {
        ngx_del_timer(&cl->timer);
    }

    ngx_add_timer(&cl->timer, (ngx_msec_t) wait);
}


static void
ngx_microshop_redis_cluster_timer(ngx_event_t *ev)
{
    ngx_microshop_redis_t  *rd = ev->data;

    ngx_microshop_redis_cluster_t  *cl;

    cl = rd->cluster;

    if (cl->asked) {
        /* no answer within connect_timeout=: ask another node */
        cl->asked = 0;
        cl->gen++;
        cl->wanted = 1;
    }

    if (cl->wanted && !rd->destroying) {
        ngx_microshop_redis_cluster_refresh(rd);
    }
}


/* CLUSTER SLOTS to the next node whose command connection is ready */
static void
ngx_microshop_redis_cluster_refresh(ngx_microshop_redis_t *rd)
{
    ngx_uint_t                      i, k;
    const char                     *argv[2];
    size_t                          lens[2];
    ngx_microshop_redis_node_t     *node;
    ngx_microshop_redis_cluster_t  *cl;

    cl = rd->cluster;

    for (i = 0; i < rd->nnodes; i++) {
        k = (cl->ask + i) % rd->nnodes;
        node = rd->nodes[k];

        if (node->kind != NGX_MICROSHOP_REDIS_NODE_DATA
            || node->cmd.state != NGX_MICROSHOP_REDIS_READY)
        {
            continue;
        }

        argv[0] = "CLUSTER";
        lens[0] = 7;
        argv[1] = "SLOTS";
        lens[1] = 5;

        if (ngx_microshop_redis_conn_command(&node->cmd,
                                             ngx_microshop_redis_cluster_slots,
                                             (void *) (uintptr_t) ++cl->gen,
                                             2, argv, lens)
            != NGX_OK)
        {
            continue;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "microshop redis: CLUSTER SLOTS to %V", &node->label);

        cl->ask = k + 1;
        cl->asked = 1;
        cl->wanted = 0;
        cl->last = ngx_current_msec;

        if (cl->timer.timer_set) {
            ngx_del_timer(&cl->timer);
        }

        ngx_add_timer(&cl->timer, rd->conf->connect_timeout);
        return;
    }

    /*
     * Nobody to ask: every node known is opened again (those waiting for
     * their backoff keep it), the first one ready asks; and once a second
     * in case none comes.
     */
    for (i = 0; i < rd->nnodes; i++) {
        if (rd->nodes[i]->kind == NGX_MICROSHOP_REDIS_NODE_DATA) {
            ngx_microshop_redis_conn_open(&rd->nodes[i]->cmd);
        }
    }

    cl->wanted = 1;
    cl->last = ngx_current_msec;

    if (!cl->timer.timer_set) {
        ngx_add_timer(&cl->timer, NGX_MICROSHOP_REDIS_REFRESH_GAP);
    }
}


static void
ngx_microshop_redis_cluster_slots(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                     *reply = r;
    ngx_microshop_redis_t          *rd;
    ngx_microshop_redis_conn_t     *rc = ac->data;
    ngx_microshop_redis_cluster_t  *cl;

    rd = rc->node->rd;
    cl = rd->cluster;

    if ((uintptr_t) privdata != cl->gen || !cl->asked || rd->destroying) {
        /* after its deadline: another node was asked */
        return;
    }

    cl->asked = 0;

    if (cl->timer.timer_set) {
        ngx_del_timer(&cl->timer);
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "microshop redis: %V: CLUSTER SLOTS failed: %s",
                      &rc->node->label,
                      (reply == NULL) ? "connection lost"
                      : (reply->type == REDIS_REPLY_ERROR) ? reply->str
                      : "not an array");
        ngx_microshop_redis_cluster_want(rd);
        return;
    }

    ngx_microshop_redis_node_count(rc->node, NGX_MICROSHOP_NODE_REFRESHES, 1);
    ngx_microshop_redis_cluster_apply(rd, rc->node, reply);

    if (cl->wanted) {
        ngx_microshop_redis_cluster_want(rd);
    }
}


/*
 * The reply of CLUSTER SLOTS: [[start, end, [host, port, id, ...],
 * replicas...], ...].  host "" is the node asked; a host that is not a
 * number (cluster-preferred-endpoint-type hostname) is not looked up in a
 * worker: its slots stay without an owner, logged once.
 */
static void
ngx_microshop_redis_cluster_apply(ngx_microshop_redis_t *rd,
    ngx_microshop_redis_node_t *asked, redisReply *reply)
{
    uint64_t                        primaries, failed;
    ngx_uint_t                      i, s, start, end, owner, changed;
    ngx_uint_t                      uncovered, retry, first, was;
    redisReply                     *e, *n;
    ngx_microshop_redis_node_t     *node;
    ngx_microshop_redis_cluster_t  *cl;

    cl = rd->cluster;

    ngx_memzero(cl->next, sizeof(cl->next));
    primaries = 0;

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3
            || e->element[0]->type != REDIS_REPLY_INTEGER
            || e->element[1]->type != REDIS_REPLY_INTEGER
            || e->element[2]->type != REDIS_REPLY_ARRAY
            || e->element[2]->elements < 2)
        {
            continue;
        }

        n = e->element[2];

        if (e->element[0]->integer < 0
            || e->element[1]->integer >= MICROSHOP_REDIS_SLOTS
            || e->element[0]->integer > e->element[1]->integer
            || n->element[0]->type != REDIS_REPLY_STRING
            || n->element[1]->type != REDIS_REPLY_INTEGER
            || n->element[1]->integer < 1 || n->element[1]->integer > 65535)
        {
            continue;
        }

        node = ngx_microshop_redis_cluster_node(rd, asked,
                                                (u_char *) n->element[0]->str,
                                                n->element[0]->len,
                                                (ngx_uint_t)
                                                    n->element[1]->integer);
        if (node == NULL) {
            continue;
        }

        primaries |= (uint64_t) 1 << node->index;

        start = (ngx_uint_t) e->element[0]->integer;
        end = (ngx_uint_t) e->element[1]->integer;

        for (s = start; s <= end; s++) {
            cl->next[s] = (uint8_t) (node->index + 1);
        }
    }

    changed = 0;
    uncovered = 0;
    failed = 0;

    for (s = 0; s < MICROSHOP_REDIS_SLOTS; s++) {
        if (cl->next[s] == 0) {
            uncovered++;
        }

        if (cl->slots[s] == cl->next[s]) {
            continue;
        }

        changed++;
        owner = cl->slots[s];

        if (owner && cl->loaded) {
            node = rd->nodes[owner - 1];

            if (node->cmd.state != NGX_MICROSHOP_REDIS_READY
                && node->cmd.connects > 0)
            {
                failed |= (uint64_t) 1 << node->index;
            }
        }
    }

    ngx_memcpy(cl->slots, cl->next, sizeof(cl->slots));

    ngx_microshop_redis_count(rd, NGX_MICROSHOP_COUNTER_REDIS_REFRESHES, 1);

    retry = 0;

    for (i = 0; i < rd->nnodes; i++) {
        node = rd->nodes[i];

        if (node->kind != NGX_MICROSHOP_REDIS_NODE_DATA) {
            continue;
        }

        if (failed & ((uint64_t) 1 << i)) {
            ngx_microshop_redis_failover(node);
            ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                          "microshop redis: %V: the slots of %V have a new "
                          "primary", &rd->conf->url, &node->label);
        }

        was = node->primary;
        node->primary = (primaries & ((uint64_t) 1 << i)) ? 1 : 0;

        if (node->primary) {
            if (!was && node->cmd.connects > 0
                && node->cmd.state == NGX_MICROSHOP_REDIS_DOWN)
            {
                /* a primary again (a replica promoted, a node back): the
                 * cluster sees it up, so it is connected now, not after
                 * its backoff or never (idle); a node never opened waits
                 * for its first command */
                if (node->cmd.retry.timer_set) {
                    ngx_del_timer(&node->cmd.retry);
                }

                node->cmd.idle = 1;
                ngx_microshop_redis_cluster_need(&node->cmd);
            }

            node->cmd.idle = 0;

            if (node->cmd.state == NGX_MICROSHOP_REDIS_DOWN
                && node->cmd.connects > 0)
            {
                /* a primary unreachable: its replica takes over soon */
                retry = 1;
            }
        }
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "microshop redis: slot map from %V: %ui slots changed, "
                   "%ui uncovered, %ui nodes", &asked->label, changed,
                   uncovered, rd->nnodes);

    /* a failover under way: the survivors' map names the heir soon; slots
     * without an owner are looked for again too, once a second */
    cl->polling = retry;

    if (retry || uncovered) {
        cl->wanted = 1;
    }

    first = !cl->loaded;
    cl->loaded = 1;

    ngx_microshop_redis_cluster_listen(rd, asked);

    for (i = 0; i < rd->nnodes; i++) {
        node = rd->nodes[i];

        if (node->kind == NGX_MICROSHOP_REDIS_NODE_DATA && !node->primary
            && !node->listen)
        {
            /* not needed any more (the listening node moved off it too):
             * no reconnects; the refresh with no node to ask opens it
             * again */
            ngx_microshop_redis_conn_idle(&node->cmd);
        }
    }

    if (changed && !first) {
        /* what was kept for a node that was away can go to its heir */
        ngx_microshop_redis_cluster_synced(rd);
    }
}


/* a node of the map by address: known, or new */
static ngx_microshop_redis_node_t *
ngx_microshop_redis_cluster_node(ngx_microshop_redis_t *rd,
    ngx_microshop_redis_node_t *asked, const u_char *host, size_t len,
    ngx_uint_t port)
{
    ngx_str_t                    h;
    ngx_microshop_redis_node_t  *node;

    if (len == 0) {
        /* the endpoint of the node asked */
        h = asked->addr.host;

    } else {
        h.data = (u_char *) host;
        h.len = len;

        if (!ngx_microshop_redis_numeric(&h)) {
            if (!rd->cluster->logged) {
                rd->cluster->logged = 1;
                ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                              "microshop redis: %V: the cluster names a node "
                              "\"%V\" that is not an IP address; names are "
                              "not resolved by workers (set "
                              "cluster-preferred-endpoint-type ip)",
                              &rd->conf->url, &h);
            }

            return NULL;
        }
    }

    node = ngx_microshop_redis_node_find(rd, &h, port);

    if (node == NULL) {
        node = ngx_microshop_redis_node_add(rd, NGX_MICROSHOP_REDIS_NODE_DATA,
                                            &h, port);
    }

    return node;
}


/*
 * The node the client listens on: kept while it is a primary whose
 * command connection is up, else the node asked (a primary) or the first
 * primary ready.
 */
static void
ngx_microshop_redis_cluster_listen(ngx_microshop_redis_t *rd,
    ngx_microshop_redis_node_t *asked)
{
    ngx_uint_t                      i;
    ngx_microshop_redis_node_t     *old, *node;
    ngx_microshop_redis_cluster_t  *cl;

    cl = rd->cluster;
    old = cl->listen;

    if (old != NULL && old->primary
        && old->cmd.state == NGX_MICROSHOP_REDIS_READY)
    {
        return;
    }

    node = NULL;

    if (asked->primary && asked->cmd.state == NGX_MICROSHOP_REDIS_READY) {
        node = asked;

    } else {
        for (i = 0; i < rd->nnodes; i++) {
            if (rd->nodes[i]->primary
                && rd->nodes[i]->cmd.state == NGX_MICROSHOP_REDIS_READY)
            {
                node = rd->nodes[i];
                break;
            }
        }
    }

    if (node == NULL || node == old) {
        return;
    }

    if (old != NULL) {
        old->listen = 0;
        ngx_microshop_redis_conn_idle(&old->pubsub);

        if (old->pubsub.state != NGX_MICROSHOP_REDIS_DOWN) {
            ngx_microshop_redis_conn_post_drop(&old->pubsub,
                                               "listening elsewhere");
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "microshop redis: listening on %V", &node->label);

    cl->listen = node;
    node->listen = (rd->hooks->nchannels != 0);

    if (rd->hooks->nchannels) {
        ngx_microshop_redis_conn_open(&node->pubsub);

    } else {
        ngx_microshop_redis_cluster_synced(rd);
    }
}
