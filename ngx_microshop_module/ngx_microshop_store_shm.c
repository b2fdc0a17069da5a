/*
 * ngx_microshop: the store on the node-local shared memory zone.  Every
 * operation completes at once, under the zone lock.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_store.h"


static ngx_int_t ngx_microshop_store_shm_exec(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op);
static ngx_int_t ngx_microshop_shm_gcra(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
static ngx_int_t ngx_microshop_shm_revoke(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);


void
ngx_microshop_store_shm_init(ngx_microshop_store_t *store,
    ngx_microshop_zone_t *zone)
{
    store->exec = ngx_microshop_store_shm_exec;
    store->zone = zone;
}


static ngx_int_t
ngx_microshop_store_shm_exec(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op)
{
    int64_t                now;
    ngx_microshop_zone_t  *zone;

    zone = store->zone;
    now = ngx_microshop_now_ms();

    ngx_microshop_zone_lock(zone);

    switch (op->type) {

    case NGX_MICROSHOP_OP_GCRA:
        op->rc = ngx_microshop_shm_gcra(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_REVOKE:
        op->rc = ngx_microshop_shm_revoke(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_IS_REVOKED:
        op->rc = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_REVOKED,
                                           op->key.data, op->key.len, now)
                 ? NGX_OK : NGX_DECLINED;
        break;

    default:
        op->rc = NGX_ERROR;
    }

    ngx_microshop_zone_unlock(zone);

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_shm_gcra(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    int64_t               tat, now_us, expire;
    ngx_microshop_rec_t  *rec;

    now_us = now * 1000;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_RATE,
                                    op->key.data, op->key.len, now);
    if (rec) {
        ngx_memcpy(&tat, ngx_microshop_rec_value(rec), sizeof(int64_t));

    } else {
        tat = 0;
    }

    microshop_gcra_apply(&tat, now_us, op->u.gcra.interval,
                         op->u.gcra.burst, op->u.gcra.cost, &op->u.gcra.result);

    /* the state is useless once the bucket is full again */
    expire = tat / 1000 + 1;

    if (rec) {
        /* a refusal changes the state only when a clock went back */
        ngx_memcpy(ngx_microshop_rec_value(rec), &tat, sizeof(int64_t));
        rec->expire = expire;

    } else if (op->u.gcra.result.allowed) {
        rec = ngx_microshop_zone_insert(zone, NGX_MICROSHOP_KIND_RATE,
                                        op->key.data, op->key.len,
                                        sizeof(int64_t), expire, now);

        /* when even eviction found no room, the request passes */
        if (rec) {
            ngx_memcpy(ngx_microshop_rec_value(rec), &tat, sizeof(int64_t));
        }
    }

    return op->u.gcra.result.allowed ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_microshop_shm_revoke(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    int64_t               expire;
    ngx_microshop_rec_t  *rec;

    /* kept until the token would have expired anyway (plus a margin for
      * the largest leeway, 1h) */
    expire = (op->u.revoke.exp + 3600) * 1000;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_REVOKED,
                                    op->key.data, op->key.len, now);
    if (rec) {
        if (rec->expire < expire) {
            rec->expire = expire;
        }

        return NGX_OK;
    }

    rec = ngx_microshop_zone_insert(zone, NGX_MICROSHOP_KIND_REVOKED,
                                    op->key.data, op->key.len, 0, expire, now);

    return rec ? NGX_OK : NGX_ERROR;
}
