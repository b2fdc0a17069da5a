/*
 * ngx_microshop: the Redis back end when Redis cannot answer (docs/redis.md
 * "When Redis is down"): the outage policy, the release that follows a
 * BEGIN or RESERVE whose answer was lost, and those releases sent once
 * Redis is back; under the files that send ops (ngx_microshop_rstore.h),
 * above _call.c, which sends the releases.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_rstore.h"


/*
 * A BEGIN or RESERVE whose answer is lost (a timeout, a closed
 * connection) may have taken a lock or made a hold that its request,
 * answered by the outage policy, never uses: its release follows it,
 * posted by the caller and sent when Redis is back (it frees only that
 * request's own).  NGX_OK: op is that release (its strings the call's);
 * NGX_DECLINED: nothing to release.
 */

ngx_int_t
ngx_microshop_rstore_release(ngx_microshop_rstore_call_t *call,
    ngx_microshop_op_t *op)
{
    ngx_memzero(op, sizeof(ngx_microshop_op_t));

    switch (call->type) {

    case NGX_MICROSHOP_OP_IDEM_BEGIN:
        op->type = NGX_MICROSHOP_OP_IDEM_RELEASE;
        op->key = call->key;
        ngx_memcpy(op->u.idem.fingerprint, call->fingerprint,
                   NGX_MICROSHOP_FINGERPRINT_LEN);
        op->u.idem.owner = call->owner;
        break;

    case NGX_MICROSHOP_OP_RESERVE:
        op->type = NGX_MICROSHOP_OP_SETTLE;
        op->u.reserve.seller = call->seller;
        op->u.reserve.id = call->id;
        op->u.reserve.commit = 0;
        break;

    default:
        return NGX_DECLINED;
    }

    op->pool = call->pool;

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "microshop redis: the answer of op %ui was lost, "
                  "its release follows", call->type);

    return NGX_OK;
}


/*
 * Redis could not answer op (down, a timeout, an error reply): the
 * outage policy of docs/redis.md "When Redis is down".
 */

void
ngx_microshop_rstore_outage(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op)
{
    ngx_microshop_zone_t  *zone;

    zone = rs->store->local;

    switch (op->type) {

    case NGX_MICROSHOP_OP_GCRA:
    case NGX_MICROSHOP_OP_INV_GET:
    case NGX_MICROSHOP_OP_INV_PUT:
    case NGX_MICROSHOP_OP_INV_DROP:
    case NGX_MICROSHOP_OP_INV_FAILED:

        /* rate limits and the cache: on_error= */

        switch (rs->conf->on_error) {

        case NGX_MICROSHOP_REDIS_ON_ERROR_LOCAL:
            (void) ngx_microshop_store_exec(&rs->inner, op);
            ngx_microshop_zone_count(zone,
                                     NGX_MICROSHOP_COUNTER_REDIS_FALLBACK_LOCAL,
                                     1);
            return;

        case NGX_MICROSHOP_REDIS_ON_ERROR_OPEN:
            ngx_microshop_zone_count(zone,
                                     NGX_MICROSHOP_COUNTER_REDIS_FALLBACK_OPEN,
                                     1);

            if (op->type == NGX_MICROSHOP_OP_GCRA) {
                /* allowed, as a full bucket would allow it */
                op->u.gcra.result.allowed = 1;
                op->u.gcra.result.remaining =
                    ngx_max(op->u.gcra.burst - op->u.gcra.cost, 0);
                op->u.gcra.result.retry_after = 0;
                op->u.gcra.result.reset_after = 0;
                op->rc = NGX_OK;
                return;
            }

            /* a miss; a fill or a drop is not done */
            op->rc = NGX_DECLINED;
            return;

        default:
            break;
        }

        break;

    case NGX_MICROSHOP_OP_IDEM_BEGIN:
    case NGX_MICROSHOP_OP_IDEM_COMPLETE:
    case NGX_MICROSHOP_OP_IDEM_RELEASE:
    case NGX_MICROSHOP_OP_RESERVE:
    case NGX_MICROSHOP_OP_SETTLE:
    case NGX_MICROSHOP_OP_HOLD_UNKNOWN:

        /* never one node's state silently: only on_store_error=local */

        if (op->fallback) {
            (void) ngx_microshop_store_exec(&rs->inner, op);
            op->local = 1;
            ngx_microshop_zone_count(zone,
                                     NGX_MICROSHOP_COUNTER_REDIS_FALLBACK_LOCAL,
                                     1);
            return;
        }

        break;

    case NGX_MICROSHOP_OP_SWEEP:
        /* this node's holds were swept; Redis' wait for the next one */
        op->rc = NGX_OK;
        return;

    default:
        /* stock, holds lists, events, revocations: the writer retries */
        break;
    }

    op->rc = NGX_ERROR;
    ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_REDIS_FALLBACK_CLOSED,
                             1);
}


/*
 * A release (a retry post) whose own answer was lost is kept to be sent
 * again, a few times at most; 0: it is not
 */

ngx_uint_t
ngx_microshop_rstore_retry_again(ngx_microshop_rstore_call_t *call)
{
    ngx_microshop_rstore_store_t  *rs;

    rs = call->rs;

    if (!call->post || !call->retry || rs->exiting
        || call->attempts >= NGX_MICROSHOP_REDIS_RETRY_ATTEMPTS
        || rs->nretry >= NGX_MICROSHOP_REDIS_RETRY_MAX)
    {
        return 0;
    }

    call->attempts++;

    ngx_queue_insert_tail(&rs->retry, &call->queue);
    rs->nretry++;

    return 1;
}


/* Redis is back: the releases kept while it was down are sent, in order */

void
ngx_microshop_rstore_flush_retry(ngx_microshop_rstore_store_t *rs)
{
    ngx_int_t                     rc;
    ngx_queue_t                  *q;
    ngx_microshop_rstore_args_t   a;
    ngx_microshop_rstore_call_t  *call;

    while (!ngx_queue_empty(&rs->retry)) {
        q = ngx_queue_head(&rs->retry);
        call = ngx_queue_data(q, ngx_microshop_rstore_call_t, queue);

        rc = ngx_microshop_rstore_cmd(call->pool, call->copy,
                                      rs->store->feed_keep, &a);

        if (rc == NGX_OK) {
            rc = ngx_microshop_rstore_send(call, &a);
        }

        if (rc == NGX_DECLINED) {
            /* down again: the next ready sends them */
            return;
        }

        ngx_queue_remove(q);
        rs->nretry--;

        if (rc != NGX_OK) {
            call->copy->rc = NGX_ERROR;
            ngx_microshop_store_posted(rs->store, call->copy);
            ngx_destroy_pool(call->pool);
        }
    }
}
