/*
 * ngx_microshop: nginx's own upstream failures as problems (docs/http.md,
 * "Upstream failures").
 *
 * When the upstream of a microshop location cannot be reached, times out
 * or closes the connection without an answer, nginx answers 502/503/504
 * with its HTML page.  In a location where the module's access checks run
 * (microshop_auth, microshop_rate_limit, microshop_idempotency,
 * microshop_inventory_cache or microshop_reserve), the header and body
 * filters here turn that page into the problem `upstream-unavailable`,
 * with the same status.  The backend's own 5xx answers, nginx's other
 * errors (413, 500, ...) and an operator's error_page are left alone.
 */

#ifndef _NGX_MICROSHOP_UPSTREAM_ERROR_H_INCLUDED_
#define _NGX_MICROSHOP_UPSTREAM_ERROR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_answer.h"


/* seconds a client waits before it retries a request that never left */
#define NGX_MICROSHOP_RETRY_UPSTREAM  1


/*
 * nginx itself ended the request's upstream with 502, 503 or 504: no
 * answer of the backend is going out
 */
ngx_uint_t ngx_microshop_upstream_failed(ngx_http_request_t *r);

/*
 * Such a failure after bytes of the request reached an upstream (a
 * timeout, a reset, a connection closed without an answer): whether the
 * backend executed it is unknown
 */
ngx_uint_t ngx_microshop_upstream_unknown(ngx_http_request_t *r);

/*
 * Whether bytes of the request reached an upstream, on any try: once they
 * did, a request that ends without the backend's answer has an unknown
 * outcome (docs/http.md "Outcomes")
 */
ngx_uint_t ngx_microshop_upstream_reached(ngx_http_request_t *r);

/* why such an outcome is unknown: NGX_MICROSHOP_WHY_* */
ngx_uint_t ngx_microshop_upstream_why(ngx_http_request_t *r);

/* the access phase of a microshop location ran: what came before it */
void ngx_microshop_upstream_access(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/* nginx's own 502/503/504 of this location: the problem's headers */
ngx_int_t ngx_microshop_upstream_header_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/*
 * Any page nginx makes itself (an upstream failure, the 400 of a duplicate
 * Authorization header) answered as this problem instead: sets its headers
 * now, the body filter below sends its body in place of nginx's page
 */
ngx_int_t ngx_microshop_page_problem(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_problem_t *problem);

/* ... and its body instead of nginx's page (ctx->upstream.active) */
ngx_int_t ngx_microshop_upstream_body_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_chain_t **in);


#endif /* _NGX_MICROSHOP_UPSTREAM_ERROR_H_INCLUDED_ */
