/*
 * ngx_microshop: the order of the Redis back end's answers (see
 * ngx_microshop_rstore.h, rs->order and rs->held).
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

ngx_uint_t
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


/* the answers that are done, from the oldest on, until one is not */

void
ngx_microshop_rstore_deliver(ngx_microshop_rstore_store_t *rs)
{
    ngx_uint_t                    cancelled;
    ngx_queue_t                  *q;
    ngx_microshop_op_t           *op;
    ngx_microshop_rstore_call_t  *call;

    if (rs->delivering) {
        /* a handler's exec: the loop below delivers it */
        return;
    }

    rs->delivering = 1;

    while (!ngx_queue_empty(&rs->order)) {
        q = ngx_queue_head(&rs->order);
        call = ngx_queue_data(q, ngx_microshop_rstore_call_t, order);

        if (!call->done) {
            break;
        }

        ngx_queue_remove(q);

        op = call->op;
        cancelled = call->cancelled;

        ngx_destroy_pool(call->pool);

        if (op == NULL) {
            if (cancelled) {
                ngx_microshop_store_late(rs->store);
            }

            continue;
        }

        if (rs->exiting) {
            continue;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "microshop redis: op %ui answered rc:%i",
                       (ngx_uint_t) op->type, op->rc);

        op->pending = NULL;
        op->handler(op);
    }

    rs->delivering = 0;
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
