/*
 * ngx_microshop: the inventory cache (docs/inventory.md, "Cached reads";
 * docs/http.md, "Inventory cache").
 *
 * microshop_inventory_cache sku=VALUE [ttl=T] [stale_while_revalidate=T]
 *                           [stale_if_error=T] [refresh_retry=T]   (loc)
 *     GET/HEAD answered from the zone, keyed by (seller, sku); misses are
 *     proxied and 200 JSON answers stored; successful writes refresh or
 *     drop the entry; a stale entry is answered at once while one request
 *     per key refreshes it in the background; a failing backend is
 *     covered by a stale entry.
 */

#ifndef _NGX_MICROSHOP_CACHE_H_INCLUDED_
#define _NGX_MICROSHOP_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


char *ngx_microshop_inventory_cache_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

void ngx_microshop_cache_loc_create(ngx_microshop_cache_loc_t *c);
char *ngx_microshop_cache_loc_merge(ngx_conf_t *cf,
    ngx_microshop_cache_loc_t *prev, ngx_microshop_cache_loc_t *conf);

ngx_int_t ngx_microshop_cache_stage(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

ngx_int_t ngx_microshop_cache_header_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
ngx_int_t ngx_microshop_cache_body_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_chain_t **in);

/*
 * A request's background refresh (stale_while_revalidate): its context
 * when r is one, else NULL; its answer goes through these filters only,
 * to the cache, never to the client.
 */
ngx_http_microshop_ctx_t *ngx_microshop_cache_refresh_ctx(
    ngx_http_request_t *r);
ngx_int_t ngx_microshop_cache_refresh_header_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
ngx_int_t ngx_microshop_cache_refresh_body_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_chain_t *in);

/*
 * The strong ETag of an entry the gateway made itself, from a backend
 * answer without one or from a webhook event's item: "ms-<hex>".
 */
ngx_int_t ngx_microshop_cache_etag(ngx_pool_t *pool, ngx_str_t *body,
    ngx_str_t *etag);


#endif /* _NGX_MICROSHOP_CACHE_H_INCLUDED_ */
