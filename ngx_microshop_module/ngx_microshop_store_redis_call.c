/*
 * ngx_microshop: the life of a call of the Redis back end, at the bottom
 * of its files (ngx_microshop_rstore.h): a call is made in a pool of its
 * own, its commands are sent through this worker's client
 * (ngx_microshop_redis.h), each reply goes to the call's step, and once
 * its last reply came it is finished: a post is accounted, an exec's
 * answer delivered in submission order (ngx_microshop_store_redis_order.c
 * keeps rs->order), the call freed.  What a call's end lets go on (what
 * waited behind a walk, the releases kept while Redis was down) is the
 * files' above: rs->resume.
 *
 * A call lives until its last reply, whatever happens to its request:
 * cancel() only forgets the caller's op, and the reply that still comes
 * is counted as late and dropped.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_rstore.h"


static ngx_int_t ngx_microshop_rstore_keep(ngx_microshop_rstore_call_t *call,
    ngx_microshop_op_t *op);
static void ngx_microshop_rstore_handler(void *data, ngx_uint_t status,
    redisReply *reply);


/* a call that answers op; copy: it works on a copy of op of its own */

ngx_microshop_rstore_call_t *
ngx_microshop_rstore_call(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op, ngx_uint_t copy, ngx_microshop_rstore_step_pt step)
{
    ngx_pool_t                   *pool;
    ngx_microshop_op_t           *c;
    ngx_microshop_rstore_call_t  *call;

    c = NULL;

    if (copy) {
        c = ngx_microshop_store_op_copy(op, ngx_cycle->log);
        if (c == NULL) {
            return NULL;
        }

        pool = c->pool;

    } else {
        pool = ngx_create_pool(NGX_MICROSHOP_REDIS_CALL_POOL, ngx_cycle->log);
        if (pool == NULL) {
            return NULL;
        }
    }

    call = ngx_pcalloc(pool, sizeof(ngx_microshop_rstore_call_t));
    if (call == NULL
        || ngx_array_init(&call->holds, pool, 4,
                          sizeof(ngx_microshop_hold_t))
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NULL;
    }

    call->rs = rs;
    call->pool = pool;
    call->copy = c;
    call->type = op->type;
    call->step = step;
    call->epoch = rs->epoch;
    call->rc = NGX_DECLINED;

    if (ngx_microshop_rstore_keep(call, op) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    return call;
}


/* a call of the back end's own, answering no op */

ngx_microshop_rstore_call_t *
ngx_microshop_rstore_call_bare(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_rstore_step_pt step)
{
    ngx_pool_t                   *pool;
    ngx_microshop_rstore_call_t  *call;

    pool = ngx_create_pool(NGX_MICROSHOP_REDIS_CALL_POOL, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    call = ngx_pcalloc(pool, sizeof(ngx_microshop_rstore_call_t));
    if (call == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    call->rs = rs;
    call->pool = pool;
    call->type = NGX_MICROSHOP_OP_SWEEP;
    call->step = step;

    return call;
}


/* what the call needs of op after op may be gone */

static ngx_int_t
ngx_microshop_rstore_keep(ngx_microshop_rstore_call_t *call,
    ngx_microshop_op_t *op)
{
    ngx_str_t  *s[3], *d[3];
    ngx_uint_t  i, n;

    n = 0;

    switch (op->type) {

    case NGX_MICROSHOP_OP_IDEM_BEGIN:
        ngx_memcpy(call->fingerprint, op->u.idem.fingerprint,
                   NGX_MICROSHOP_FINGERPRINT_LEN);
        call->owner = op->u.idem.owner;
        s[n] = &op->key;
        d[n++] = &call->key;
        break;

    case NGX_MICROSHOP_OP_RESERVE:
        s[n] = &op->u.reserve.seller;
        d[n++] = &call->seller;
        s[n] = &op->u.reserve.id;
        d[n++] = &call->id;
        break;

    case NGX_MICROSHOP_OP_HOLD_UNKNOWN:
        s[n] = &op->u.reserve.seller;
        d[n++] = &call->seller;
        break;

    default:
        return NGX_OK;
    }

    for (i = 0; i < n; i++) {
        d[i]->len = s[i]->len;
        d[i]->data = ngx_pnalloc(call->pool, s[i]->len + 1);
        if (d[i]->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(d[i]->data, s[i]->data, s[i]->len);
    }

    return NGX_OK;
}


/* NGX_OK: sent, the call waits for one more reply; NGX_DECLINED: Redis is
 * down; NGX_ERROR */

ngx_int_t
ngx_microshop_rstore_send(ngx_microshop_rstore_call_t *call,
    ngx_microshop_rstore_args_t *a)
{
    ngx_int_t                      rc;
    ngx_microshop_rstore_store_t  *rs;

    rs = call->rs;

    if (rs->rd == NULL) {
        return NGX_DECLINED;
    }

    rc = ngx_microshop_redis_eval(rs->rd, a->script, a->nkeys, a->argc,
                                  a->argv, ngx_microshop_rstore_handler, call,
                                  NULL);
    if (rc == NGX_OK) {
        call->waiting++;
    }

    return rc;
}


static void
ngx_microshop_rstore_handler(void *data, ngx_uint_t status, redisReply *reply)
{
    ngx_microshop_rstore_call_t  *call = data;

    call->waiting--;

    if (call->rs->exiting) {
        ngx_microshop_rstore_finish(call, status);
        return;
    }

    call->step(call, status, reply);
}


/* the op whose answer a reply fills: the caller's, a post's copy, or none */

ngx_microshop_op_t *
ngx_microshop_rstore_call_op(ngx_microshop_rstore_call_t *call)
{
    return call->post ? call->copy : call->op;
}


/* the call's last reply came: its op is answered, the call freed */

void
ngx_microshop_rstore_finish(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status)
{
    ngx_microshop_rstore_store_t  *rs;

    if (call->waiting) {
        return;
    }

    rs = call->rs;

    if (call->barrier) {
        call->barrier = 0;
        rs->barrier--;
    }

    if (call->post) {
        if (!rs->exiting) {
            ngx_microshop_store_posted(rs->store, call->copy);
        }

        ngx_destroy_pool(call->pool);

    } else if (call->ordered) {
        call->done = 1;
        ngx_microshop_rstore_deliver(rs);

    } else {
        /* one of the back end's own */
        ngx_destroy_pool(call->pool);
    }

    if (rs->exiting) {
        return;
    }

    /* what waited for this call, or for Redis (the files above) */
    rs->resume(rs);
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
