/*
 * ngx_microshop: offline orders (docs/events.md "Offline orders").
 *
 * microshop_reserve on offline=accept [offline_max=N]
 *     when the upstream cannot be reached (nginx's own 502, 503 or 504: a
 *     refused connect, a timeout, a connection closed without an answer)
 *     a checkout whose stock was reserved at the edge, and whose hold got
 *     one of its seller's offline slots, is answered 202
 *     {"status":"pending","order":"<reservation id>"} in place of the
 *     failure.  Its hold is kept as an offline order until the admin API
 *     settles it, and an order.pending event carries its body and its
 *     Idempotency-Key to the backend, which reads the feed once it is
 *     back.  A checkout without a slot (offline_max= reached) fails as
 *     without offline=.
 */

#ifndef _NGX_MICROSHOP_RESERVE_OFFLINE_H_INCLUDED_
#define _NGX_MICROSHOP_RESERVE_OFFLINE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


/* the offline orders a seller may have at once, by default */
#define NGX_MICROSHOP_OFFLINE_MAX       100

/* the most of a checkout's body an order.pending event carries */
#define NGX_MICROSHOP_OFFLINE_BODY_MAX  (16 * 1024)

/* offline=accept is refused where it cannot work yet (microshop_redis) */
char *ngx_microshop_reserve_offline_main_done(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf);

/*
 * The header filter's first look: nginx's own failure of a checkout that
 * may go offline becomes its 202.  Sets ctx->reserve.offline, the body
 * (ctx->upstream.body, which the upstream body filter sends in place of
 * nginx's page) and its headers.  NGX_OK, or NGX_ERROR.
 */
ngx_int_t ngx_microshop_reserve_offline_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/* the reserve header filter of an order accepted offline: its hold kept
 * as an offline order, and its order.pending event */
void ngx_microshop_reserve_offline_keep(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);


#endif /* _NGX_MICROSHOP_RESERVE_OFFLINE_H_INCLUDED_ */
