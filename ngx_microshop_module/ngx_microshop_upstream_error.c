/*
 * ngx_microshop: nginx's own upstream failures as problems (see the
 * header).
 *
 * ngx_http_upstream_finalize_request() drops the upstream's cleanup
 * handler and then finalizes the request with 502/503/504, which
 * ngx_http_special_response_handler() sets as r->err_status and, without a
 * matching error_page, answers with nginx's HTML page (Content-Length set,
 * the body in one chain ending in last_buf).  A backend's own 502 goes out
 * while the upstream is still at work and with r->err_status 0; an
 * error_page redirects internally instead, and the location it lands in
 * sends its own content, with r->upstream still pointing at the failed
 * upstream of the location before (ctx->upstream.prior).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_upstream_error.h"


ngx_uint_t
ngx_microshop_upstream_failed(ngx_http_request_t *r)
{
    ngx_http_upstream_t  *u;

    u = r->upstream;

    /* with its cleanup handler still set, the upstream is answering */
    if (u == NULL || u->cleanup != NULL) {
        return 0;
    }

    switch (r->err_status) {

    case NGX_HTTP_BAD_GATEWAY:
    case NGX_HTTP_SERVICE_UNAVAILABLE:
    case NGX_HTTP_GATEWAY_TIME_OUT:
        return 1;

    default:
        return 0;
    }
}


ngx_uint_t
ngx_microshop_upstream_unknown(ngx_http_request_t *r)
{
    return ngx_microshop_upstream_failed(r)
           && ngx_microshop_upstream_reached(r);
}


/*
 * Whether any try (proxy_next_upstream) sent bytes to its upstream: nginx
 * retries PUT and DELETE on the next server even after one was sent.  A
 * refused or timed out connect sends none; the last try counts only once
 * it started to send the request, so that a TLS handshake alone does not.
 * A try's bytes are counted when it ends (ngx_http_upstream_next() and
 * _finalize_request()); a try still connected counts what its connection
 * sent.  On a kept-alive upstream connection (keepalive) that count holds
 * earlier requests too: such a try counts as sent (docs/http.md).
 */

ngx_uint_t
ngx_microshop_upstream_reached(ngx_http_request_t *r)
{
    ngx_uint_t                  i;
    ngx_http_upstream_t        *u;
    ngx_http_upstream_state_t  *state;

    u = r->upstream;

    if (u == NULL || r->upstream_states == NULL) {
        return 0;
    }

    state = r->upstream_states->elts;

    for (i = 0; i < r->upstream_states->nelts; i++) {

        if (&state[i] == u->state) {
            if (!u->request_sent) {
                continue;
            }

            if (u->peer.connection && u->peer.connection->sent > 0) {
                return 1;
            }
        }

        if (state[i].bytes_sent > 0) {
            return 1;
        }
    }

    return 0;
}


ngx_uint_t
ngx_microshop_upstream_why(ngx_http_request_t *r)
{
    switch (r->err_status) {

    case NGX_HTTP_GATEWAY_TIME_OUT:
        return NGX_MICROSHOP_WHY_TIMEOUT;

    case NGX_HTTP_BAD_GATEWAY:
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return NGX_MICROSHOP_WHY_UPSTREAM_ERROR;

    default:
        /* nginx ended it without an answer: 499, the client went away */
        return NGX_MICROSHOP_WHY_CLIENT_ABORT;
    }
}


void
ngx_microshop_upstream_access(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ctx->upstream.prior = r->upstream;
}


ngx_int_t
ngx_microshop_upstream_header_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_uint_t                      reached;
    ngx_microshop_problem_t         problem;
    ngx_http_microshop_loc_conf_t  *mlcf;

    if (!ngx_microshop_upstream_failed(r)
        || r->upstream == ctx->upstream.prior
        || ctx->reserve.offline)
    {
        /* an order accepted offline has its own answer, 202 */
        return NGX_OK;
    }

    mlcf = ngx_microshop_loc_conf(r);

    if (!mlcf->enabled) {
        return NGX_OK;
    }

    reached = ngx_microshop_upstream_reached(r);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop: upstream failed with %ui, request %s",
                   r->err_status, reached ? "sent" : "not sent");

    ngx_memzero(&problem, sizeof(ngx_microshop_problem_t));
    problem.status = r->err_status;
    ngx_str_set(&problem.name, "upstream-unavailable");
    ngx_str_set(&problem.title, "Upstream unavailable");

    if (reached) {
        /* a retry may execute it twice: no invitation to retry */
        ngx_str_set(&problem.detail,
                    "The backend did not answer: it timed out or closed the "
                    "connection after the request was sent, so it may have "
                    "been executed.");

    } else {
        ngx_str_set(&problem.detail,
                    "The backend could not be reached; the request was not "
                    "sent to it. Retry after the time in Retry-After.");

        if (ngx_microshop_header_retry_after(r, NGX_MICROSHOP_RETRY_UPSTREAM)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_UPSTREAM_UNAVAILABLE);

    return ngx_microshop_page_problem(r, ctx, &problem);
}


ngx_int_t
ngx_microshop_page_problem(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_problem_t *problem)
{
    if (ngx_microshop_problem_header(r, problem, &ctx->upstream.body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->upstream.active = 1;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_upstream_body_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_chain_t **in)
{
    ngx_buf_t    *b;
    ngx_uint_t    last;
    ngx_chain_t  *cl;

    /* nginx's page is consumed, whatever chains it comes in */

    last = 0;

    for (cl = *in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            last = 1;
        }

        if (ngx_buf_in_memory(b)) {
            b->pos = b->last;
        }

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    if (!last || ctx->upstream.sent) {
        *in = NULL;
        return NGX_OK;
    }

    /* with its end, the problem goes out: as long as Content-Length says */

    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);
    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->upstream.body.data;
    b->last = ctx->upstream.body.data + ctx->upstream.body.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl->buf = b;
    cl->next = NULL;
    *in = cl;
    ctx->upstream.sent = 1;

    return NGX_OK;
}
