/*
 * ngx_microshop: per-seller rate limits (GCRA) with tiers and costs.
 *
 * microshop_rate_tier NAME rate=Nr/s|Nr/m burst=N       (http)
 * microshop_rate_limit on|off [cost=N] [key=VALUE] [dry_run]   (loc)
 *
 * The key defaults to the verified token's seller; the tier comes from the
 * token's tier claim, "default" when it names no declared tier.  Every
 * limited response carries the RateLimit-Policy and RateLimit fields of
 * draft-ietf-httpapi-ratelimit-headers; a refusal is 429 rate-limited
 * with Retry-After.
 */

#ifndef _NGX_MICROSHOP_RATELIMIT_H_INCLUDED_
#define _NGX_MICROSHOP_RATELIMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


ngx_int_t ngx_microshop_rate_main_init(ngx_conf_t *cf,
    ngx_microshop_rate_main_t *rmcf);
void ngx_microshop_rate_loc_create(ngx_microshop_rate_loc_t *rlcf);
char *ngx_microshop_rate_loc_merge(ngx_conf_t *cf,
    ngx_microshop_rate_loc_t *prev, ngx_microshop_rate_loc_t *conf);

/* the declared rate tier of that name, or NULL */
ngx_microshop_rate_tier_t *ngx_microshop_rate_tier_find(
    ngx_microshop_rate_main_t *rmcf, ngx_str_t *name);

char *ngx_microshop_rate_tier_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_microshop_rate_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

ngx_int_t ngx_microshop_ratelimit_stage(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/*
 * The parts of the stage, for a content handler that limits a request
 * once it knows who sends it (the token exchange: its subject token):
 * ngx_microshop_ratelimit_op() fills op with the GCRA check of the
 * request (bucket, tier, cost of the location; the identity in ctx, when
 * ctx->has_token) and sets ctx->rate.tier, so that the answer carries the
 * RateLimit headers.  Once the op ran, ngx_microshop_ratelimit_verdict()
 * records it: NGX_OK allowed (a dry run logged and counted), NGX_BUSY
 * refused, recorded as rate-limited, with *retry_after (us; whole seconds
 * with ngx_microshop_ratelimit_seconds()), NGX_ERROR the store could not
 * tell.
 */
ngx_int_t ngx_microshop_ratelimit_op(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_op_t *op);
ngx_int_t ngx_microshop_ratelimit_verdict(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_op_t *op,
    int64_t *retry_after);
ngx_uint_t ngx_microshop_ratelimit_seconds(int64_t retry_after);

/* adds RateLimit-Policy and RateLimit to r->headers_out */
ngx_int_t ngx_microshop_ratelimit_headers(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);


#endif /* _NGX_MICROSHOP_RATELIMIT_H_INCLUDED_ */
