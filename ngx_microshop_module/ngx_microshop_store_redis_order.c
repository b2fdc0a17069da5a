/*
 * ngx_microshop: when the Redis back end's calls are sent, and the order
 * of their answers (see ngx_microshop_rstore.h, rs->order and rs->held):
 * under ngx_microshop_store_redis.c, above what it starts (the sellers'
 * walk, one command through _call.c, the outage policy).  A call's end
 * comes back here through rs->resume (ngx_microshop_rstore_resume()).
 *
 * Redis answers the commands of one connection in order, so the answers
 * of one worker's execs come in submission order by themselves; two kinds
 * of answers would not:
 *
 *   an answer from the zone (an op of a lock or hold that fell back, the
 *   outage policy) is ready at once: while an earlier exec waits for
 *   Redis it waits behind it, in rs->order (a call without a command, done
 *   already); with nothing before it, it is answered at once (exec()
 *   returns NGX_OK).  The two answers of the hot path, IS_REVOKED and a
 *   hit of the node's inventory copy, never wait: exec() answers them at
 *   once (ngx_microshop_store_redis.c), so an authenticated request does
 *   not wait for other requests' round trips;
 *
 *   an exec that walks the sellers (SETTLE by id alone, HOLD_LIST of every
 *   seller, SWEEP) needs two round trips: what is submitted after it, exec
 *   or post, waits in rs->held until its walk is done, then is sent, in
 *   order.  Those are admin and background ops: the wait is rare.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_rstore.h"


static ngx_uint_t ngx_microshop_rstore_walks(ngx_microshop_op_t *op);


/* op has its answer now: NGX_OK, or NGX_AGAIN behind earlier answers */

ngx_int_t
ngx_microshop_rstore_answered(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op)
{
    ngx_pool_t                   *pool;
    ngx_microshop_rstore_call_t  *call;

    if (ngx_queue_empty(&rs->order)) {
        return NGX_OK;
    }

    pool = ngx_create_pool(NGX_MICROSHOP_REDIS_READY_POOL, ngx_cycle->log);
    if (pool == NULL) {
        /* answered now, out of order: better than not at all */
        return NGX_OK;
    }

    call = ngx_pcalloc(pool, sizeof(ngx_microshop_rstore_call_t));
    if (call == NULL) {
        ngx_destroy_pool(pool);
        return NGX_OK;
    }

    call->rs = rs;
    call->pool = pool;
    call->op = op;
    call->type = op->type;
    call->ordered = 1;
    call->done = 1;

    ngx_queue_insert_tail(&rs->order, &call->order);
    op->pending = call;

    return NGX_AGAIN;
}


/* the ops that walk the sellers */

static ngx_uint_t
ngx_microshop_rstore_walks(ngx_microshop_op_t *op)
{
    switch (op->type) {

    case NGX_MICROSHOP_OP_SETTLE:
    case NGX_MICROSHOP_OP_HOLD_LIST:
        return op->u.reserve.seller.len == 0;

    case NGX_MICROSHOP_OP_SWEEP:
        return 1;

    default:
        return 0;
    }
}


/* 1: the call waits for a walk (its op's buffers stay valid, or a post's
 * copy is its own); ngx_microshop_rstore_drain() sends it */

ngx_uint_t
ngx_microshop_rstore_hold(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_rstore_call_t *call)
{
    if (rs->barrier == 0 && ngx_queue_empty(&rs->held)) {
        return 0;
    }

    ngx_queue_insert_tail(&rs->held, &call->queue);

    return 1;
}


/*
 * Sends the call's first command(s).  NGX_AGAIN: a reply will come;
 * NGX_OK: op was answered now (op->rc), the outage policy applied when
 * Redis is down; NGX_DECLINED: the same, and Redis is down (nothing sent).
 */

ngx_int_t
ngx_microshop_rstore_start(ngx_microshop_rstore_call_t *call,
    ngx_microshop_op_t *op)
{
    ngx_int_t                    rc;
    ngx_microshop_rstore_args_t  a;

    switch (op->type) {

    case NGX_MICROSHOP_OP_HOLD_LIST:
    case NGX_MICROSHOP_OP_SWEEP:
        rc = ngx_microshop_rstore_sellers_start(call);
        break;

    case NGX_MICROSHOP_OP_SETTLE:
        if (op->u.reserve.seller.len == 0) {
            rc = ngx_microshop_rstore_sellers_start(call);
            break;
        }

        /* fall through */

    default:
        rc = ngx_microshop_rstore_cmd(call->pool, op,
                                      call->rs->store->feed_keep, &a);

        if (rc == NGX_OK) {
            rc = ngx_microshop_rstore_send(call, &a);

        } else if (rc == NGX_DECLINED) {
            /* nothing to ask Redis */
            op->rc = NGX_ERROR;
            return NGX_OK;
        }
    }

    if (rc == NGX_OK) {
        if (!call->post && ngx_microshop_rstore_walks(op)) {
            /* what is submitted after it runs after it */
            call->barrier = 1;
            call->rs->barrier++;
        }

        return NGX_AGAIN;
    }

    if (rc == NGX_DECLINED) {
        ngx_microshop_rstore_outage(call->rs, op);
        return NGX_DECLINED;
    }

    if (rc == NGX_DONE) {
        /* the sellers' walk answered op already */
        return NGX_OK;
    }

    op->rc = NGX_ERROR;

    return NGX_OK;
}


/* a post's command is sent, or kept, or the post is over */

void
ngx_microshop_rstore_post_start(ngx_microshop_rstore_call_t *call)
{
    ngx_int_t                      rc;
    ngx_microshop_rstore_store_t  *rs;

    rs = call->rs;

    rc = ngx_microshop_rstore_start(call, call->copy);

    if (rc == NGX_AGAIN) {
        return;
    }

    if (rc == NGX_DECLINED && call->retry
        && rs->nretry < NGX_MICROSHOP_REDIS_RETRY_MAX && !rs->exiting)
    {
        /* Redis is down: sent by ngx_microshop_rstore_flush_retry() */
        ngx_queue_insert_tail(&rs->retry, &call->queue);
        rs->nretry++;
        return;
    }

    ngx_microshop_store_posted(rs->store, call->copy);
    ngx_destroy_pool(call->pool);
}


/* the walk is over: what waited for it is sent, until the next walk */

void
ngx_microshop_rstore_drain(ngx_microshop_rstore_store_t *rs)
{
    ngx_int_t                     rc;
    ngx_queue_t                  *q;
    ngx_microshop_rstore_call_t  *call;

    while (rs->barrier == 0 && !ngx_queue_empty(&rs->held)) {
        q = ngx_queue_head(&rs->held);
        ngx_queue_remove(q);

        call = ngx_queue_data(q, ngx_microshop_rstore_call_t, queue);

        if (call->post) {
            ngx_microshop_rstore_post_start(call);
            continue;
        }

        if (call->op == NULL) {
            /* cancelled before it was sent: nothing to answer, no answer
             * comes late */
            call->cancelled = 0;
            call->done = 1;
            ngx_microshop_rstore_deliver(rs);
            continue;
        }

        rc = ngx_microshop_rstore_start(call, call->op);

        if (rc != NGX_AGAIN) {
            call->done = 1;
            ngx_microshop_rstore_deliver(rs);
        }
    }
}


/*
 * A call is over (not at exit, ngx_microshop_rstore_finish() calls it
 * through rs->resume): what waited for a walk is sent once no walk is
 * left, and the releases kept once Redis answers again without a
 * reconnect (after one, the ready hook sends them).
 */

void
ngx_microshop_rstore_resume(ngx_microshop_rstore_store_t *rs)
{
    if (rs->barrier == 0) {
        ngx_microshop_rstore_drain(rs);
    }

    if (!ngx_queue_empty(&rs->retry) && rs->rd
        && ngx_microshop_redis_ready(rs->rd))
    {
        ngx_microshop_rstore_flush_retry(rs);
    }
}


/*
 * Exit: what was never sent or never answered is freed, nobody answered
 * (the requests are not resumed in a process that tears its cycle down).
 */

void
ngx_microshop_rstore_drop(ngx_microshop_rstore_store_t *rs)
{
    ngx_queue_t                  *q;
    ngx_microshop_rstore_call_t  *call;

    while (!ngx_queue_empty(&rs->held)) {
        q = ngx_queue_head(&rs->held);
        ngx_queue_remove(q);

        call = ngx_queue_data(q, ngx_microshop_rstore_call_t, queue);

        if (call->ordered) {
            ngx_queue_remove(&call->order);
        }

        ngx_destroy_pool(call->pool);
    }

    while (!ngx_queue_empty(&rs->order)) {
        q = ngx_queue_head(&rs->order);
        ngx_queue_remove(q);

        call = ngx_queue_data(q, ngx_microshop_rstore_call_t, order);
        ngx_destroy_pool(call->pool);
    }

    while (!ngx_queue_empty(&rs->retry)) {
        q = ngx_queue_head(&rs->retry);
        ngx_queue_remove(q);

        call = ngx_queue_data(q, ngx_microshop_rstore_call_t, queue);
        ngx_destroy_pool(call->pool);
    }

    rs->nretry = 0;
}
