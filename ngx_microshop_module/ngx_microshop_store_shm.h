/*
 * ngx_microshop: the shm store's operations on inventory, stock and
 * reservations (ngx_microshop_store_shm_stock.c), called under the zone
 * lock by the dispatcher in ngx_microshop_store_shm.c, and on the feeds
 * (ngx_microshop_store_shm_feed.c), under the feed zone's lock.
 */

#ifndef _NGX_MICROSHOP_STORE_SHM_H_INCLUDED_
#define _NGX_MICROSHOP_STORE_SHM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_store.h"


ngx_int_t ngx_microshop_shm_inv_get(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
ngx_int_t ngx_microshop_shm_inv_put(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
ngx_int_t ngx_microshop_shm_inv_drop(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
ngx_int_t ngx_microshop_shm_inv_failed(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
ngx_int_t ngx_microshop_shm_event(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
ngx_int_t ngx_microshop_shm_stock_set(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
ngx_int_t ngx_microshop_shm_stock_get(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
ngx_int_t ngx_microshop_shm_reserve(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
ngx_int_t ngx_microshop_shm_settle(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
ngx_int_t ngx_microshop_shm_sweep(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
ngx_int_t ngx_microshop_shm_hold_unknown(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
ngx_int_t ngx_microshop_shm_hold_list(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);

/* an offline order of the state file, after a restart */
ngx_int_t ngx_microshop_shm_hold_restore(ngx_microshop_zone_t *zone,
    ngx_microshop_hold_t *h, int64_t now);

/* an event of the state file, with its id, after a restart */
ngx_int_t ngx_microshop_shm_feed_restore(ngx_microshop_store_t *store,
    ngx_str_t *seller, ngx_microshop_feed_event_t *ev, int64_t now);

/* every event of every feed, the zone's oldest first, to handler (under
 * the feed zone's lock); stops at the first that is not NGX_OK */
typedef ngx_int_t (*ngx_microshop_feed_each_pt)(void *data,
    ngx_str_t *seller, ngx_microshop_feed_event_t *ev);

ngx_int_t ngx_microshop_shm_feed_each(ngx_microshop_store_t *store,
    ngx_microshop_feed_each_pt handler, void *data);

/* FEED_APPEND and FEED_READ (ngx_microshop_store_shm_feed.c), on
 * store->feed under its own lock, not the main zone's */
ngx_int_t ngx_microshop_shm_feed(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op, int64_t now);


#endif /* _NGX_MICROSHOP_STORE_SHM_H_INCLUDED_ */
