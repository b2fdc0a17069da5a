/*
 * ngx_microshop: inventory at the edge.
 *
 * microshop_inventory_cache sku=VALUE [ttl=T] [stale_if_error=T]   (loc)
 *     GET/HEAD answered from the zone, keyed by (seller, sku); misses are
 *     proxied and 200 JSON answers stored; successful writes refresh or
 *     drop the entry; a failing backend is covered by a stale entry.
 * microshop_reserve on|off [hold=T]                               (loc)
 *     checkout bodies reserve stock all-or-nothing at the edge; a 2xx
 *     from the backend commits, anything else releases.
 * microshop_events secret=FILE [tolerance=T]        (loc, content handler)
 *     the signed inventory webhook receiver (ngx_microshop_events.c).
 */

#ifndef _NGX_MICROSHOP_INVENTORY_H_INCLUDED_
#define _NGX_MICROSHOP_INVENTORY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


char *ngx_microshop_inventory_cache_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_microshop_reserve_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

void ngx_microshop_cache_loc_create(ngx_microshop_cache_loc_t *c);
char *ngx_microshop_cache_loc_merge(ngx_conf_t *cf,
    ngx_microshop_cache_loc_t *prev, ngx_microshop_cache_loc_t *conf);
void ngx_microshop_reserve_loc_create(ngx_microshop_reserve_loc_t *c);
char *ngx_microshop_reserve_loc_merge(ngx_conf_t *cf,
    ngx_microshop_reserve_loc_t *prev, ngx_microshop_reserve_loc_t *conf);

ngx_int_t ngx_microshop_reserve_stage(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
ngx_int_t ngx_microshop_cache_stage(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

ngx_int_t ngx_microshop_cache_header_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
ngx_int_t ngx_microshop_cache_body_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_chain_t **in);
void ngx_microshop_reserve_header_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
void ngx_microshop_reserve_settle(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/* the periodic sweep of expired holds, one timer per worker */
ngx_int_t ngx_microshop_reserve_init_process(ngx_cycle_t *cycle);

/* the strong ETag of a representation the gateway keeps: "ms-<hex>" */
ngx_int_t ngx_microshop_inventory_etag(ngx_pool_t *pool, ngx_str_t *body,
    ngx_str_t *etag);


#endif /* _NGX_MICROSHOP_INVENTORY_H_INCLUDED_ */
