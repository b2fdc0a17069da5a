/*
 * ngx_microshop: the events of orders and stock a checkout, the admin API
 * and the webhook write to the seller's feed (docs/events.md "Event
 * types").  Each builds the event's data and hands it to
 * ngx_microshop_feed_emit(); none waits, and none does anything without
 * microshop_events_out.
 */

#ifndef _NGX_MICROSHOP_ORDER_EVENTS_H_INCLUDED_
#define _NGX_MICROSHOP_ORDER_EVENTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


/* what changed the stock of an SKU (the data's "by") */
#define NGX_MICROSHOP_BY_RESERVE    "reserve"
#define NGX_MICROSHOP_BY_ADMIN      "admin"
#define NGX_MICROSHOP_BY_INVENTORY  "inventory"

/* order.reserved, and stock.changed (and stock.sold_out) of its lines */
void ngx_microshop_order_event_reserved(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *seller);

/*
 * order.committed (the backend's 2xx: its status and Location) or
 * order.released (why: "backend-status", "not-sent", "client-gone")
 */
void ngx_microshop_order_event_settled(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_uint_t commit, const char *why);

/*
 * order.pending: a checkout accepted offline, with its body (as JSON, up
 * to NGX_MICROSHOP_OFFLINE_BODY_MAX bytes) for the backend to settle
 */
void ngx_microshop_order_event_pending(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/* order.committed or order.released by the admin API */
void ngx_microshop_order_event_admin(ngx_http_request_t *r,
    ngx_str_t *seller, ngx_str_t *order, ngx_uint_t commit);

/* stock.changed of an SKU (held < 0: not known), and stock.sold_out when
 * nothing is left to reserve */
void ngx_microshop_stock_event(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, ngx_str_t *sku, int64_t available, int64_t held,
    const char *by, ngx_str_t *order);

/* inventory.updated: an accepted webhook event of an SKU */
void ngx_microshop_inventory_event(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, ngx_str_t *sku, ngx_str_t *event_id, int64_t version,
    ngx_uint_t has_item);

/* token.revoked: a watermark of the seller's tokens (class "": all) */
void ngx_microshop_revoked_event(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, ngx_str_t *class, int64_t before);


#endif /* _NGX_MICROSHOP_ORDER_EVENTS_H_INCLUDED_ */
