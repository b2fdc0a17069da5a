/*
 * ngx_microshop: the "redis" back end, the store shared by every node on
 * one Redis (docs/redis.md), chosen with microshop_redis.
 *
 * Every state change is one Lua script (ngx_microshop_store_redis_lua.c)
 * sent through this worker's client (ngx_microshop_redis.h): exec() sends
 * it and answers later (NGX_AGAIN, the handler runs once from the event
 * loop); post() sends it and forgets it, the reply only accounted.  The
 * client pipelines every command of a worker on one connection, so a post
 * followed by an exec of the same worker runs in that order, as on the
 * other back ends.
 *
 * An inner shm store on the node-local zone (store->local), as the
 * deferred back end keeps one, holds what stays on the node: the copy of
 * the revocations and watermarks (IS_REVOKED and REVOKED_LIST never ask
 * Redis: REVOKE and REVOKE_BEFORE write both, the ms:revoke and
 * ms:watermark channels and the whole sets loaded on every connect keep
 * the copy), short local copies of inventory entries (a cached read stays a
 * zone lookup, ngx_microshop_store_redis_sync.c), and the records of ops
 * that fell back to the node when Redis could not answer (the outage
 * policy, ngx_microshop_store_redis_outage.c, docs/redis.md "When Redis
 * is down"; op->local).
 *
 * This file is the top of the back end's files (ngx_microshop_rstore.h):
 * the table, what exec() and post() do before Redis is asked, and the
 * step of an op of one command, which sits above all it sets off: the
 * op's answer (_reply.c), a held RESERVE's seller added to the walk
 * (_sellers.c), the local inventory copy (_sync.c), the outage policy
 * and the release that follows a lost answer (_outage.c).  A call lives
 * in a pool of its own until its last reply (_call.c): cancel() only
 * forgets the caller's op, and the reply that still comes is counted as
 * late and dropped (what it changed in this node's zone counters is
 * counted all the same).
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_rstore.h"


static ngx_int_t ngx_microshop_store_redis_init_conf(ngx_conf_t *cf,
    ngx_microshop_store_t *store);
static ngx_int_t ngx_microshop_store_redis_init_process(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store);
static void ngx_microshop_store_redis_exit_process(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store);
static ngx_int_t ngx_microshop_store_redis_exec(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op);
static void ngx_microshop_store_redis_post(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op);
static void ngx_microshop_store_redis_cancel(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op);
static void ngx_microshop_rstore_post_op(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op, ngx_uint_t retry);
static void ngx_microshop_rstore_single(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply);
static void ngx_microshop_rstore_before(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op);
static ngx_uint_t ngx_microshop_rstore_needs_copy(ngx_microshop_op_t *op);


const ngx_microshop_store_backend_t  ngx_microshop_store_redis = {
    ngx_string("redis"),
    ngx_microshop_store_redis_init_conf,
    ngx_microshop_store_redis_init_process,
    ngx_microshop_store_redis_exit_process,
    ngx_microshop_store_redis_exec,
    ngx_microshop_store_redis_post,
    ngx_microshop_store_redis_cancel
};


static ngx_int_t
ngx_microshop_store_redis_init_conf(ngx_conf_t *cf,
    ngx_microshop_store_t *store)
{
    ngx_uint_t                     i;
    ngx_microshop_rstore_store_t  *rs;

    if (store->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "microshop: the \"redis\" store needs "
                           "\"microshop_redis\"");
        return NGX_ERROR;
    }

    rs = ngx_pcalloc(cf->pool, sizeof(ngx_microshop_rstore_store_t));
    if (rs == NULL) {
        return NGX_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rs->rd = NULL;          the client is a worker's, init_process
     *     rs->nretry = 0;
     *     rs->ready_at = 0;
     *     rs->epoch = 0;
     *     rs->cursor_len = 0;     the sweep's SSCAN starts at "0"
     *     rs->exiting = 0;
     */

    rs->store = store;
    rs->conf = store->redis;
    rs->inner.backend = &ngx_microshop_store_shm;
    rs->inner.local = store->local;

    if (ngx_microshop_store_shm.init_conf(cf, &rs->inner) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_MICROSHOP_REDIS_LUA_N; i++) {
        rs->scripts[i].source = *ngx_microshop_store_redis_lua_source(i);
    }

    ngx_str_set(&rs->channels[0], "ms:revoke");
    ngx_str_set(&rs->channels[1], "ms:inv");
    ngx_str_set(&rs->channels[2], "ms:watermark");
    ngx_str_set(&rs->channels[3], "ms:events");

    rs->hooks.scripts = rs->scripts;
    rs->hooks.nscripts = NGX_MICROSHOP_REDIS_LUA_N;
    rs->hooks.channels = rs->channels;
    rs->hooks.nchannels = 4;
    rs->hooks.message = ngx_microshop_rstore_message;
    rs->hooks.ready = ngx_microshop_rstore_ready;
    rs->hooks.data = rs;

    rs->resume = ngx_microshop_rstore_resume;

    ngx_queue_init(&rs->retry);
    ngx_queue_init(&rs->order);
    ngx_queue_init(&rs->held);

    store->data = rs;

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_store_redis_init_process(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store)
{
    ngx_microshop_rstore_store_t  *rs;

    rs = store->data;

    rs->rd = ngx_microshop_redis_create(cycle, rs->conf, &rs->hooks,
                                        store->local);

    return rs->rd ? NGX_OK : NGX_ERROR;
}


static void
ngx_microshop_store_redis_exit_process(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store)
{
    ngx_microshop_rstore_store_t  *rs;

    rs = store->data;

    if (rs == NULL) {
        return;
    }

    /* the handlers destroy() runs free their calls, answering nobody: a
     * request is not resumed in a process that tears its cycle down */
    rs->exiting = 1;

    if (rs->rd) {
        ngx_microshop_redis_destroy(rs->rd);
        rs->rd = NULL;
    }

    ngx_microshop_rstore_drop(rs);
}


static ngx_int_t
ngx_microshop_store_redis_exec(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op)
{
    ngx_int_t                      rc;
    ngx_microshop_rstore_call_t   *call;
    ngx_microshop_rstore_store_t  *rs;

    rs = store->data;

    if (op->type > NGX_MICROSHOP_OP_LAST) {
        op->rc = NGX_ERROR;
        return ngx_microshop_rstore_answered(rs, op);
    }

    if (op->handler == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "microshop redis: exec() of op %ui without a "
                      "handler; work nobody waits for goes through post()",
                      (ngx_uint_t) op->type);

        ngx_microshop_store_redis_post(store, op);

        return NGX_AGAIN;
    }

    switch (op->type) {

    case NGX_MICROSHOP_OP_IS_REVOKED:
    case NGX_MICROSHOP_OP_REVOKED_LIST:
        /*
         * The node's copy: no round trip per authenticated request, and
         * answered at once, not behind other requests' commands in
         * flight (the contract promises no order between answers).  Until
         * the zone has held the revocations and watermarks loaded from
         * Redis once (a node just started, Redis down since), it cannot
         * tell: the store cannot answer, and the request gets 503 rather
         * than a revoked token passing (docs/redis.md).
         */
        if (rs->store->local->sh->counters[NGX_MICROSHOP_COUNTER_REDIS_SYNCED]
            == 0)
        {
            op->rc = NGX_ERROR;
            return NGX_OK;
        }

        (void) ngx_microshop_store_exec(&rs->inner, op);
        return NGX_OK;

    case NGX_MICROSHOP_OP_INV_GET:
        if (!op->local && ngx_microshop_rstore_copy_get(rs, op) == NGX_OK) {
            /* a hit from the node's copy, at once as above */
            return NGX_OK;
        }

        break;

    case NGX_MICROSHOP_OP_SETTLE:
        if (op->u.reserve.seller.len == 0 && !op->local) {
            /* by id alone (the admin API): a hold that fell back to this
             * node is settled here, any other one in Redis */
            (void) ngx_microshop_store_exec(&rs->inner, op);

            if (op->rc == NGX_OK) {
                return ngx_microshop_rstore_answered(rs, op);
            }
        }

        break;

    default:
        ngx_microshop_rstore_before(rs, op);
        break;
    }

    if (op->local) {
        /* it fell back to this node: its lock or hold is here */
        (void) ngx_microshop_store_exec(&rs->inner, op);
        return ngx_microshop_rstore_answered(rs, op);
    }

    call = ngx_microshop_rstore_call(rs, op,
                                     ngx_microshop_rstore_needs_copy(op),
                                     ngx_microshop_rstore_single);
    if (call == NULL) {
        op->rc = NGX_ERROR;
        return ngx_microshop_rstore_answered(rs, op);
    }

    call->op = op;
    op->pending = call;

    call->ordered = 1;
    ngx_queue_insert_tail(&rs->order, &call->order);

    if (ngx_microshop_rstore_hold(rs, call)) {
        return NGX_AGAIN;
    }

    rc = ngx_microshop_rstore_start(call, op);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    /* answered now: an error, or the outage policy */

    if (ngx_queue_head(&rs->order) == &call->order) {
        ngx_queue_remove(&call->order);
        op->pending = NULL;
        ngx_destroy_pool(call->pool);
        return NGX_OK;
    }

    /* ... after the answers of what was submitted before it */
    call->done = 1;

    return NGX_AGAIN;
}


static void
ngx_microshop_store_redis_post(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op)
{
    ngx_uint_t  retry;

    /*
     * What settles a request's lock or hold is kept while Redis is down
     * and sent again when its answer is lost: each is done once whatever
     * the tries (by its owner, by its id), and a lost one would leave a
     * key unavailable or units held until an admin or an event settles
     * them.
     */
    switch (op->type) {

    case NGX_MICROSHOP_OP_IDEM_COMPLETE:
    case NGX_MICROSHOP_OP_IDEM_RELEASE:
    case NGX_MICROSHOP_OP_SETTLE:
    case NGX_MICROSHOP_OP_HOLD_UNKNOWN:
        retry = 1;
        break;

    default:
        retry = 0;
    }

    ngx_microshop_rstore_post_op(store->data, op, retry);
}


/*
 * A post; retry: a release after an answer that was lost, kept while
 * Redis is down and sent once it is back (best effort, bounded)
 */

static void
ngx_microshop_rstore_post_op(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op, ngx_uint_t retry)
{
    ngx_microshop_rstore_call_t  *call;

    if (op->type > NGX_MICROSHOP_OP_LAST) {
        op->rc = NGX_ERROR;
        ngx_microshop_store_posted(rs->store, op);
        return;
    }

    if (op->type == NGX_MICROSHOP_OP_IS_REVOKED
        || op->type == NGX_MICROSHOP_OP_REVOKED_LIST)
    {
        (void) ngx_microshop_store_exec(&rs->inner, op);
        ngx_microshop_store_posted(rs->store, op);
        return;
    }

    ngx_microshop_rstore_before(rs, op);

    if (op->local) {
        (void) ngx_microshop_store_exec(&rs->inner, op);
        ngx_microshop_store_posted(rs->store, op);
        return;
    }

    call = ngx_microshop_rstore_call(rs, op, 1, ngx_microshop_rstore_single);
    if (call == NULL) {
        op->rc = NGX_ERROR;
        ngx_microshop_store_posted(rs->store, op);
        return;
    }

    call->post = 1;
    call->retry = retry;

    if (ngx_microshop_rstore_hold(rs, call)) {
        return;
    }

    ngx_microshop_rstore_post_start(call);
}


/* what this node does at once, before Redis is asked */

static void
ngx_microshop_rstore_before(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op)
{
    switch (op->type) {

    case NGX_MICROSHOP_OP_REVOKE:
    case NGX_MICROSHOP_OP_REVOKE_BEFORE:
    case NGX_MICROSHOP_OP_SWEEP:
        /* this node refuses the token at once, Redis tells the others;
         * this node's own holds (those that fell back) are swept here */
        if (!op->local) {
            (void) ngx_microshop_store_exec(&rs->inner, op);
        }

        return;

    case NGX_MICROSHOP_OP_INV_PUT:
    case NGX_MICROSHOP_OP_INV_DROP:
    case NGX_MICROSHOP_OP_EVENT:
        /* this node's copy is not read again */
        ngx_microshop_rstore_copy_drop(rs, &op->key);
        return;

    default:
        return;
    }
}


static void
ngx_microshop_store_redis_cancel(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op)
{
    ngx_microshop_rstore_call_t  *call;

    call = op->pending;

    if (call == NULL) {
        return;
    }

    /* its answer still comes (or came): counted as late, dropped */
    call->op = NULL;
    call->cancelled = 1;
    op->pending = NULL;
}


/* the ops whose replies read their inputs again: a copy of their own */

static ngx_uint_t
ngx_microshop_rstore_needs_copy(ngx_microshop_op_t *op)
{
    switch (op->type) {

    case NGX_MICROSHOP_OP_SETTLE:
        return op->u.reserve.seller.len == 0;

    case NGX_MICROSHOP_OP_HOLD_LIST:
    case NGX_MICROSHOP_OP_SWEEP:
        return 1;

    default:
        return 0;
    }
}


/* the reply of an op of one command */

static void
ngx_microshop_rstore_single(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply)
{
    ngx_uint_t           lost;
    ngx_microshop_op_t  *op, release;

    lost = (status != NGX_MICROSHOP_REDIS_REPLY);

    if (status == NGX_MICROSHOP_REDIS_REPLY
        && reply->type == REDIS_REPLY_ERROR)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "microshop redis: script of op %ui failed: %*s",
                      call->type, (size_t) ngx_min(reply->len, 256),
                      reply->str);

        /*
         * A known answer, only not a useful one; Redis does not undo what
         * a script wrote before it failed, so a lock or hold it may have
         * taken is released as after a lost answer
         */
        lost = 1;
        reply = NULL;

    } else if (status == NGX_MICROSHOP_REDIS_REPLY) {
        ngx_microshop_rstore_effects(call, reply);

        if ((call->type == NGX_MICROSHOP_OP_RESERVE
             && ngx_microshop_rstore_reply_held(reply))
            || call->type == NGX_MICROSHOP_OP_HOLD_UNKNOWN)
        {
            /*
             * its seller is one the sweep and the admin list walk; once
             * more for a hold whose outcome is unknown (the sweep must
             * find it), in case the add after its RESERVE was lost
             */
            ngx_microshop_rstore_sellers_add(call->rs, &call->seller);
        }

    } else if (ngx_microshop_rstore_retry_again(call)) {
        /* a release whose own answer was lost: sent again (it frees only
         * its request's lock or hold, a second time nothing) */
        return;
    }

    op = ngx_microshop_rstore_call_op(call);

    if (op) {
        if (reply && ngx_microshop_rstore_reply(call->rs, op, reply) == NGX_OK)
        {
            if (op->type == NGX_MICROSHOP_OP_INV_GET && op->rc == NGX_OK
                && !call->post && call->epoch == call->rs->epoch)
            {
                /* no invalidation came while it was asked for */
                ngx_microshop_rstore_copy_put(call->rs, op);
            }

        } else {
            ngx_microshop_rstore_outage(call->rs, op);
        }
    }

    if (lost && ngx_microshop_rstore_release(call, &release) == NGX_OK) {
        /* the answer was lost: the release of what it may have taken */
        ngx_microshop_rstore_post_op(call->rs, &release, 1);
    }

    ngx_microshop_rstore_finish(call, status);
}
