/*
 * ngx_microshop: Redis Sentinel for the Redis client (docs/redis.md
 * "Sentinel"), under ngx_microshop_redis.c, over
 * ngx_microshop_redis_conn.c.
 *
 * Every sentinel of the URL gets a command connection (PING, then
 * SENTINEL get-master-addr-by-name <master>) and a pub/sub connection
 * (SUBSCRIBE to +failover-state-send-slaveof-noone, +promoted-slave,
 * +switch-master and -failover-abort-slave-timeout), each with its own
 * backoff.  The primary is one data node whose address comes from the
 * sentinels: its command connection checks ROLE (a server the sentinels
 * named may have been demoted since) and its pub/sub connection is the
 * client's.
 *
 * A failover.  When the sentinels start making a replica of our master
 * the primary (+failover-state-send-slaveof-noone), no command goes to
 * the old primary any more: what it acknowledged from then on would be
 * lost when the sentinels demote it.  Requests get the outage answer for
 * the half second or so until the new primary is named; the pause ends
 * with the move, with -failover-abort-slave-timeout, or after FENCE_MAX
 * ms if the sentinels still name the old primary.  The client moves to
 * the new primary on +promoted-slave (the chosen replica answers as the
 * primary) or +switch-master (the end of the failover), whichever comes
 * first: the address is in the message.
 *
 * The primary is asked for again when its connection fails or ROLE says
 * it is not a primary, after a READONLY error (a demoted primary still
 * answering), and every ASK_EVERY ms anyway (a switch published while no
 * sentinel connection was up is not missed for long); at most once every
 * ASK_GAP ms, each ask bounded by connect_timeout=.  Moving to a new
 * address drops the old primary's connections (their commands end
 * CLOSED: they may have run) and is counted in microshop_redis_failovers_
 * total; nothing is reloaded.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_microshop_redis_int.h"
#include "microshop_redis_slot.h"


#define NGX_MICROSHOP_REDIS_ASK_GAP    500     /* ms, between asks */
#define NGX_MICROSHOP_REDIS_ASK_EVERY  5000    /* ms */
#define NGX_MICROSHOP_REDIS_FENCE_MAX  10000   /* ms, the longest pause */


struct ngx_microshop_redis_sentinel_s {
    ngx_microshop_redis_node_t    *primary;    /* NULL until named */
    ngx_event_t                    timer;      /* the next ask, or the
                                                  deadline of one out */
    ngx_uint_t                     gen;        /* of the ask out */
    ngx_uint_t                     next;       /* round robin */
    ngx_msec_t                     last;       /* the last ask sent */
    unsigned                       asked:1;
    unsigned                       moving:1;
    unsigned                       unknown:1;  /* "no such master" logged */
    unsigned                       fenced:1;   /* a failover under way: no
                                                  command to the primary */
    ngx_msec_t                     fenced_at;
};


static void ngx_microshop_redis_sentinel_ready_conn(
    ngx_microshop_redis_conn_t *rc);
static void ngx_microshop_redis_sentinel_down(ngx_microshop_redis_conn_t *rc);
static ngx_int_t ngx_microshop_redis_sentinel_error(
    ngx_microshop_redis_conn_t *rc, ngx_microshop_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_microshop_redis_sentinel_message(
    ngx_microshop_redis_node_t *node, ngx_str_t *channel,
    ngx_str_t *message);
static void ngx_microshop_redis_sentinel_want(ngx_microshop_redis_t *rd,
    ngx_msec_t delay);
static void ngx_microshop_redis_sentinel_timer(ngx_event_t *ev);
static void ngx_microshop_redis_sentinel_ask(ngx_microshop_redis_t *rd);
static void ngx_microshop_redis_sentinel_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_microshop_redis_sentinel_use(ngx_microshop_redis_t *rd,
    ngx_str_t *host, ngx_uint_t port, const char *why);


ngx_int_t
ngx_microshop_redis_sentinel_init(ngx_microshop_redis_t *rd)
{
    ngx_uint_t                       i;
    ngx_microshop_redis_addr_t      *addr;
    ngx_microshop_redis_node_t      *node;
    ngx_microshop_redis_sentinel_t  *st;

    st = ngx_calloc(sizeof(ngx_microshop_redis_sentinel_t), rd->log);
    if (st == NULL) {
        return NGX_ERROR;
    }

    rd->sentinel = st;

    rd->topo.ready = ngx_microshop_redis_sentinel_ready_conn;
    rd->topo.down = ngx_microshop_redis_sentinel_down;
    rd->topo.error = ngx_microshop_redis_sentinel_error;
    rd->topo.message = ngx_microshop_redis_sentinel_message;

    st->timer.handler = ngx_microshop_redis_sentinel_timer;
    st->timer.data = rd;
    st->timer.log = rd->log;
    st->timer.cancelable = 1;

    addr = rd->conf->addrs.elts;

    for (i = 0; i < rd->conf->addrs.nelts; i++) {
        node = ngx_microshop_redis_node_add(rd,
                                            NGX_MICROSHOP_REDIS_NODE_SENTINEL,
                                            &addr[i].host, addr[i].port);
        if (node == NULL) {
            return NGX_ERROR;
        }

        ngx_microshop_redis_conn_open(&node->cmd);
        ngx_microshop_redis_conn_open(&node->pubsub);
    }

    return NGX_OK;
}


void
ngx_microshop_redis_sentinel_close(ngx_microshop_redis_t *rd)
{
    if (rd->sentinel->timer.timer_set) {
        ngx_del_timer(&rd->sentinel->timer);
    }
}


ngx_microshop_redis_conn_t *
ngx_microshop_redis_sentinel_route(ngx_microshop_redis_t *rd)
{
    ngx_microshop_redis_node_t  *node;

    node = rd->sentinel->primary;

    if (node == NULL || node->cmd.state != NGX_MICROSHOP_REDIS_READY
        || rd->sentinel->fenced)
    {
        return NULL;
    }

    return &node->cmd;
}


/* ------------------------------------------- a connection's life */


static void
ngx_microshop_redis_sentinel_ready_conn(ngx_microshop_redis_conn_t *rc)
{
    ngx_microshop_redis_t       *rd;
    ngx_microshop_redis_node_t  *node;

    node = rc->node;
    rd = node->rd;

    if (node->kind == NGX_MICROSHOP_REDIS_NODE_SENTINEL) {
        /* a sentinel back: a switch may have been missed meanwhile */
        if (!rd->sentinel->asked) {
            ngx_microshop_redis_sentinel_want(rd, 0);
        }

        return;
    }

    /* the primary: the hook once both connections are ready */
    if (ngx_microshop_redis_node_synced(node) && rd->hooks->ready != NULL) {
        rd->hooks->ready(rd->hooks->data);
    }
}


static void
ngx_microshop_redis_sentinel_down(ngx_microshop_redis_conn_t *rc)
{
    ngx_microshop_redis_t  *rd;

    rd = rc->node->rd;

    if (rc->node == rd->sentinel->primary && !rd->sentinel->moving) {
        /* a failover, or just an outage: the sentinels know which */
        ngx_microshop_redis_sentinel_want(rd, 0);
    }
}


/* a demoted primary still answering: ask where the primary is now */
static ngx_int_t
ngx_microshop_redis_sentinel_error(ngx_microshop_redis_conn_t *rc,
    ngx_microshop_redis_cmd_t *cmd, redisReply *reply)
{
    if (reply->len >= 8 && ngx_strncmp(reply->str, "READONLY", 8) == 0) {
        ngx_microshop_redis_sentinel_want(rc->node->rd, 0);
    }

    return NGX_DECLINED;
}


static void
ngx_microshop_redis_sentinel_message(ngx_microshop_redis_node_t *node,
    ngx_str_t *channel, ngx_str_t *message)
{
    size_t                           len;
    ngx_int_t                        rc;
    ngx_str_t                        host;
    const u_char                    *name;
    ngx_microshop_redis_t           *rd;
    microshop_redis_switch_t         sw;
    ngx_microshop_redis_sentinel_t  *st;

    rd = node->rd;
    st = rd->sentinel;

    if (channel->len && channel->data[0] == '-') {
        /* -failover-abort-slave-timeout: the old primary stays */
        if (microshop_redis_event_master(message->data, message->len, &name,
                                         &len)
            == 0
            && len == rd->conf->master.len
            && ngx_strncmp(name, rd->conf->master.data, len) == 0
            && st->fenced)
        {
            st->fenced = 0;
            ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                          "microshop redis: %V: the failover was given up, "
                          "the primary is used again", &rd->conf->url);
        }

        return;
    }

    if (channel->len == sizeof("+switch-master") - 1
        && ngx_strncmp(channel->data, "+switch-master", channel->len) == 0)
    {
        rc = microshop_redis_switch_parse(message->data, message->len, &sw);

    } else {
        /* +promoted-slave, +failover-state-send-slaveof-noone: the
         * replica's "%@" */
        rc = microshop_redis_promoted_parse(message->data, message->len, &sw);
    }

    if (rc != 0) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "microshop redis: %V: a %V not understood",
                      &node->label, channel);
        return;
    }

    if (sw.name_len != rd->conf->master.len
        || ngx_strncmp(sw.name, rd->conf->master.data, sw.name_len) != 0)
    {
        /* another master of the same sentinels */
        return;
    }

    if (channel->data[1] == 'f') {
        /*
         * +failover-state-send-slaveof-noone: the replica is being made
         * the primary.  What the old primary acknowledges from now on
         * would be lost when the sentinels demote it, so nothing goes to
         * it (the outage answer meanwhile, a clear error a client may
         * retry) until the new primary is named.
         */
        if (!st->fenced && st->primary != NULL) {
            st->fenced = 1;
            st->fenced_at = ngx_current_msec;

            ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                          "microshop redis: %V: failover of \"%V\" under "
                          "way, commands paused until the new primary is "
                          "named", &rd->conf->url, &rd->conf->master);
        }

        return;
    }

    host.data = (u_char *) sw.host;
    host.len = sw.host_len;

    ngx_microshop_redis_sentinel_use(rd, &host, sw.port,
                                     (channel->data[1] == 's')
                                     ? "+switch-master" : "+promoted-slave");
}


/* ------------------------------------------------ asking the sentinels */


static void
ngx_microshop_redis_sentinel_want(ngx_microshop_redis_t *rd,
    ngx_msec_t delay)
{
    ngx_msec_int_t                   wait;
    ngx_microshop_redis_sentinel_t  *st;

    st = rd->sentinel;

    if (st->asked || rd->destroying) {
        return;
    }

    wait = st->last ? (ngx_msec_int_t) (st->last + NGX_MICROSHOP_REDIS_ASK_GAP
                                        - ngx_current_msec)
                    : 0;

    if (wait < (ngx_msec_int_t) delay) {
        wait = (ngx_msec_int_t) delay;
    }

    if (wait < 1) {
        wait = 1;
    }

    if (st->timer.timer_set) {
        if ((ngx_msec_int_t) (st->timer.timer.key - ngx_current_msec)
            <= wait)
        {
            return;
        }

        ngx_del_timer(&st->timer);
    }

    ngx_add_timer(&st->timer, (ngx_msec_t) wait);
}


static void
ngx_microshop_redis_sentinel_timer(ngx_event_t *ev)
{
    ngx_microshop_redis_t  *rd = ev->data;

    if (rd->sentinel->asked) {
        /* no answer within connect_timeout=: another sentinel */
        rd->sentinel->asked = 0;
        rd->sentinel->gen++;
    }

    if (!rd->destroying) {
        ngx_microshop_redis_sentinel_ask(rd);
    }
}


static void
ngx_microshop_redis_sentinel_ask(ngx_microshop_redis_t *rd)
{
    ngx_uint_t                       i, k;
    const char                      *argv[3];
    size_t                           lens[3];
    ngx_microshop_redis_node_t      *node;
    ngx_microshop_redis_sentinel_t  *st;

    st = rd->sentinel;

    argv[0] = "SENTINEL";
    lens[0] = 8;
    argv[1] = "get-master-addr-by-name";
    lens[1] = 23;
    argv[2] = (char *) rd->conf->master.data;
    lens[2] = rd->conf->master.len;

    for (i = 0; i < rd->nnodes; i++) {
        k = (st->next + i) % rd->nnodes;
        node = rd->nodes[k];

        if (node->kind != NGX_MICROSHOP_REDIS_NODE_SENTINEL
            || ngx_microshop_redis_conn_command(
                   &node->cmd, ngx_microshop_redis_sentinel_reply,
                   (void *) (uintptr_t) ++st->gen, 3, argv, lens)
               != NGX_OK)
        {
            continue;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "microshop redis: %V: where is \"%V\"?",
                       &node->label, &rd->conf->master);

        st->next = k + 1;
        st->asked = 1;
        st->last = ngx_current_msec;
        ngx_add_timer(&st->timer, rd->conf->connect_timeout);
        return;
    }

    /* no sentinel reachable now: their backoff brings them back, and
     * the first one ready asks */
    st->last = ngx_current_msec;
    ngx_add_timer(&st->timer, NGX_MICROSHOP_REDIS_ASK_EVERY);
}


static void
ngx_microshop_redis_sentinel_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                      *reply = r;
    ngx_int_t                        port;
    ngx_str_t                        host;
    ngx_microshop_redis_t           *rd;
    ngx_microshop_redis_conn_t      *rc = ac->data;
    ngx_microshop_redis_sentinel_t  *st;

    rd = rc->node->rd;
    st = rd->sentinel;

    if ((uintptr_t) privdata != st->gen || !st->asked || rd->destroying) {
        return;
    }

    st->asked = 0;

    if (st->timer.timer_set) {
        ngx_del_timer(&st->timer);
    }

    if (reply == NULL) {
        /* that sentinel is gone: the next one, soon */
        ngx_microshop_redis_sentinel_want(rd, 0);
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[1]->type == REDIS_REPLY_STRING)
    {
        port = ngx_atoi((u_char *) reply->element[1]->str,
                        reply->element[1]->len);

        if (port > 0 && port <= 65535) {
            host.data = (u_char *) reply->element[0]->str;
            host.len = reply->element[0]->len;

            st->unknown = 0;
            ngx_microshop_redis_sentinel_use(rd, &host, (ngx_uint_t) port,
                                             "SENTINEL get-master-addr-by-name");
            ngx_microshop_redis_sentinel_want(rd,
                                              NGX_MICROSHOP_REDIS_ASK_EVERY);
            return;
        }
    }

    if (!st->unknown) {
        st->unknown = 1;
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "microshop redis: %V: %V does not know master \"%V\"%s%s"
                      " (asking again every %d s)", &rd->conf->url,
                      &rc->node->label, &rd->conf->master,
                      (reply->type == REDIS_REPLY_ERROR) ? ": " : "",
                      (reply->type == REDIS_REPLY_ERROR) ? reply->str : "",
                      NGX_MICROSHOP_REDIS_ASK_EVERY / 1000);
    }

    ngx_microshop_redis_sentinel_want(rd, NGX_MICROSHOP_REDIS_ASK_EVERY);
}


/* the primary is at host:port: connect there, or move there */
static void
ngx_microshop_redis_sentinel_use(ngx_microshop_redis_t *rd, ngx_str_t *host,
    ngx_uint_t port, const char *why)
{
    ngx_microshop_redis_node_t      *node;
    ngx_microshop_redis_sentinel_t  *st;

    st = rd->sentinel;

    if (host->len >= NGX_MICROSHOP_REDIS_ADDR_LEN
        || !ngx_microshop_redis_numeric(host))
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "microshop redis: %V: the sentinels name \"%V\", not "
                      "an IP address; names are not resolved by workers "
                      "(sentinel announce-hostnames no)", &rd->conf->url,
                      host);
        return;
    }

    node = st->primary;

    if (node == NULL) {
        node = ngx_microshop_redis_node_add(rd, NGX_MICROSHOP_REDIS_NODE_DATA,
                                            host, port);
        if (node == NULL) {
            return;
        }

        node->listen = (rd->hooks->nchannels != 0);
        st->primary = node;

        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "microshop redis: %V: the primary is %V",
                      &rd->conf->url, &node->label);

    } else if (node->addr.port == port && node->addr.host.len == host->len
               && ngx_strncmp(node->addr.host.data, host->data, host->len)
                  == 0)
    {
        /* the same: connected, or reconnecting with its backoff; a pause
         * for a failover that never came to an end ends */
        if (st->fenced
            && ngx_current_msec - st->fenced_at
               >= NGX_MICROSHOP_REDIS_FENCE_MAX)
        {
            st->fenced = 0;
            ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                          "microshop redis: %V: no new primary named within "
                          "%d s, %V is used again", &rd->conf->url,
                          NGX_MICROSHOP_REDIS_FENCE_MAX / 1000, &node->label);
        }

        return;

    } else {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "microshop redis: %V: the primary moved from %V to "
                      "%V:%ui (%s)", &rd->conf->url, &node->label, host,
                      port, why);

        /* the old primary's flag down, the new one's up: each move is
         * counted once over the workers */
        if (node->stat != NULL) {
            node->stat->counters[NGX_MICROSHOP_NODE_FAILED] = 0;
        }

        st->moving = 1;
        ngx_microshop_redis_node_move(node, host, port);
        st->moving = 0;
        st->fenced = 0;

        ngx_microshop_redis_failover(node);
    }

    ngx_microshop_redis_conn_open(&node->cmd);

    if (node->listen) {
        ngx_microshop_redis_conn_open(&node->pubsub);
    }
}
