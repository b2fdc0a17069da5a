/*
 * ngx_microshop: the Redis client on the nginx event loop (docs/redis.md
 * "The client"), the API of ngx_microshop_redis.h.
 *
 * A client is a set of nodes over one of three topologies, chosen by the
 * URL of microshop_redis:
 *
 *   redis://, unix:     one node; its pub/sub connection is the client's
 *                       (this file)
 *   redis+cluster://    the primaries of a slot map, routed by key
 *                       (ngx_microshop_redis_cluster.c)
 *   redis+sentinel://   the primary the sentinels name, and the sentinels
 *                       (ngx_microshop_redis_sentinel.c)
 *
 * A command is built here once (EVALSHA's tail: the key count and the
 * arguments, in RESP) and given to the connection of the node its keys
 * live on (ngx_microshop_redis_conn.c); a redirect may move it to another
 * one later, unseen by the caller.  Handlers run from the event loop,
 * never inside eval().
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_microshop_redis_int.h"
#include "microshop_redis_slot.h"


#define NGX_MICROSHOP_REDIS_ARGS_MAX     1024


static ngx_int_t ngx_microshop_redis_single_init(ngx_microshop_redis_t *rd);
static void ngx_microshop_redis_single_ready(ngx_microshop_redis_conn_t *rc);
static ngx_microshop_redis_conn_t *ngx_microshop_redis_route(
    ngx_microshop_redis_t *rd, ngx_uint_t slot);


ngx_microshop_redis_t *
ngx_microshop_redis_create(ngx_cycle_t *cycle,
    ngx_microshop_redis_conf_t *conf, ngx_microshop_redis_hooks_t *hooks,
    ngx_microshop_zone_t *zone)
{
    u_char                  md[EVP_MAX_MD_SIZE];
    uint64_t                id;
    ngx_int_t               rc;
    ngx_uint_t              i;
    unsigned int            mdlen;
    ngx_microshop_redis_t  *rd;

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

    /* the worker's own heartbeat channel: pids repeat across nodes */
    if (RAND_bytes((u_char *) &id, sizeof(id)) != 1) {
        id = ((uint64_t) ngx_random() << 32) ^ (uint64_t) ngx_random()
             ^ ((uint64_t) ngx_pid << 16) ^ (uint64_t) ngx_time();
    }

    rd->hb_channel.data = rd->hb_name;
    rd->hb_channel.len = ngx_sprintf(rd->hb_name,
                                     NGX_MICROSHOP_REDIS_HB_PREFIX "%016uxL",
                                     id)
                         - rd->hb_name;

    switch (conf->kind) {

    case NGX_MICROSHOP_REDIS_CLUSTER:
        rc = ngx_microshop_redis_cluster_init(rd);
        break;

    case NGX_MICROSHOP_REDIS_SENTINEL:
        rc = ngx_microshop_redis_sentinel_init(rd);
        break;

    default:
        rc = ngx_microshop_redis_single_init(rd);
    }

    return (rc == NGX_OK) ? rd : NULL;
}


void
ngx_microshop_redis_destroy(ngx_microshop_redis_t *rd)
{
    ngx_uint_t  i;

    if (rd == NULL) {
        return;
    }

    rd->destroying = 1;

    if (rd->cluster != NULL) {
        ngx_microshop_redis_cluster_close(rd);
    }

    if (rd->sentinel != NULL) {
        ngx_microshop_redis_sentinel_close(rd);
    }

    for (i = 0; i < rd->nnodes; i++) {
        ngx_microshop_redis_node_close(rd->nodes[i]);
    }

    /* every callback ran: nothing points at them any more */
    for (i = 0; i < rd->nnodes; i++) {
        ngx_free(rd->nodes[i]);
        rd->nodes[i] = NULL;
    }

    rd->nnodes = 0;

    if (rd->cluster != NULL) {
        ngx_free(rd->cluster);
        rd->cluster = NULL;
    }

    if (rd->sentinel != NULL) {
        ngx_free(rd->sentinel);
        rd->sentinel = NULL;
    }
}


ngx_uint_t
ngx_microshop_redis_ready(ngx_microshop_redis_t *rd)
{
    ngx_uint_t  i;

    if (rd->cluster != NULL) {
        return ngx_microshop_redis_cluster_ready(rd);
    }

    for (i = 0; i < rd->nnodes; i++) {
        if (rd->nodes[i]->kind == NGX_MICROSHOP_REDIS_NODE_DATA
            && rd->nodes[i]->cmd.state == NGX_MICROSHOP_REDIS_READY)
        {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_microshop_redis_eval(ngx_microshop_redis_t *rd, ngx_uint_t script,
    ngx_uint_t nkeys, ngx_uint_t argc, ngx_str_t *argv,
    ngx_microshop_redis_reply_pt handler, void *data,
    ngx_microshop_redis_cmd_t **cmdp)
{
    u_char                      *p, num[NGX_INT_T_LEN];
    size_t                       len, n;
    ngx_uint_t                   i, slot;
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

    /* every key of one call is in one slot (docs/redis.md "Keys") */
    slot = (nkeys && rd->cluster != NULL)
           ? microshop_redis_slot(argv[0].data, argv[0].len) : 0;

    rc = ngx_microshop_redis_route(rd, slot);

    if (rc == NULL) {
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

    cmd->rd = rd;
    cmd->handler = handler;
    cmd->data = data;
    cmd->script = script;
    cmd->slot = slot;
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

    if (ngx_microshop_redis_conn_send(rc, cmd) != NGX_OK) {
        /* hiredis is closing the context: nothing was sent */
        ngx_free(cmd);
        return NGX_DECLINED;
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

    /* a command waiting to be resent (TRYAGAIN) is in no FIFO */
    if (rc != NULL && --rc->waiting == 0) {
        rc->timer.cancelable = 1;
    }
}


/* the connection a command for slot goes to now; NULL: the circuit is open */
static ngx_microshop_redis_conn_t *
ngx_microshop_redis_route(ngx_microshop_redis_t *rd, ngx_uint_t slot)
{
    ngx_microshop_redis_conn_t  *rc;

    if (rd->cluster != NULL) {
        return ngx_microshop_redis_cluster_route(rd, slot);
    }

    if (rd->sentinel != NULL) {
        return ngx_microshop_redis_sentinel_route(rd);
    }

    rc = &rd->nodes[0]->cmd;

    return (rc->state == NGX_MICROSHOP_REDIS_READY) ? rc : NULL;
}


/* ------------------------------------------------- a single Redis */


static ngx_int_t
ngx_microshop_redis_single_init(ngx_microshop_redis_t *rd)
{
    ngx_microshop_redis_addr_t  *addr;
    ngx_microshop_redis_node_t  *node;

    rd->topo.ready = ngx_microshop_redis_single_ready;

    addr = rd->conf->addrs.elts;

    node = ngx_microshop_redis_node_add(rd, NGX_MICROSHOP_REDIS_NODE_DATA,
                                        &addr->host, addr->port);
    if (node == NULL) {
        return NGX_ERROR;
    }

    node->listen = (rd->hooks->nchannels != 0);

    ngx_microshop_redis_conn_open(&node->cmd);

    if (node->listen) {
        ngx_microshop_redis_conn_open(&node->pubsub);
    }

    return NGX_OK;
}


/* the hook once both connections are ready, after every (re)connect */
static void
ngx_microshop_redis_single_ready(ngx_microshop_redis_conn_t *rc)
{
    ngx_microshop_redis_t       *rd;
    ngx_microshop_redis_node_t  *node;

    node = rc->node;
    rd = node->rd;

    if (ngx_microshop_redis_node_synced(node) && rd->hooks->ready != NULL) {
        rd->hooks->ready(rd->hooks->data);
    }
}

