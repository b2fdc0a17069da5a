/*
 * ngx_microshop: offline orders (ngx_microshop_reserve_offline.h,
 * docs/events.md "Offline orders").
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_reserve_offline.h"
#include "ngx_microshop_order_events.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_upstream_error.h"
#include "ngx_microshop_store.h"


static ngx_str_t  ngx_microshop_offline_type = ngx_string("application/json");


char *
ngx_microshop_reserve_offline_main_done(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf)
{
    if (mmcf->offline_file && !mmcf->feed.on) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"microshop_reserve\" offline=accept needs "
                      "\"microshop_events_out\": the backend learns the "
                      "orders accepted offline from the feed, in %s:%ui",
                      mmcf->offline_file, mmcf->offline_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_microshop_reserve_offline_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    u_char                       *p;
    ngx_str_t                     cc, *body;
    ngx_microshop_reserve_ctx_t  *rs;

    rs = &ctx->reserve;

    if (!rs->held || !rs->offline_slot || rs->offline
        || !ngx_microshop_upstream_failed(r)
        || r->upstream == ctx->upstream.prior)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "microshop: upstream failed with %ui, checkout \"%V\" "
                  "accepted offline", r->err_status, &rs->op.u.reserve.id);

    body = &ctx->upstream.body;

    body->data = ngx_pnalloc(r->pool, sizeof("{\"status\":\"pending\","
                                             "\"order\":\"\"}\n") - 1
                                      + rs->op.u.reserve.id.len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    /* a reservation id is hex digits, '-' and digits: nothing to escape */
    p = ngx_sprintf(body->data, "{\"status\":\"pending\",\"order\":\"%V\"}\n",
                    &rs->op.u.reserve.id);
    body->len = p - body->data;

    ngx_str_set(&cc, "no-store");

    if (ngx_microshop_header_add(r, "Cache-Control", &cc) != NGX_OK) {
        return NGX_ERROR;
    }

    r->headers_out.status = NGX_HTTP_ACCEPTED;
    r->headers_out.content_type = ngx_microshop_offline_type;
    r->headers_out.content_type_len = ngx_microshop_offline_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = body->len;

    rs->offline = 1;

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_RESERVE_OFFLINE);

    return NGX_OK;
}


void
ngx_microshop_reserve_offline_keep(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_microshop_op_t              *op;
    ngx_microshop_reserve_ctx_t     *rs;
    ngx_http_microshop_main_conf_t  *mmcf;

    rs = &ctx->reserve;

    if (!rs->held) {
        return;
    }

    rs->held = 0;

    mmcf = ngx_microshop_main_conf(r);

    op = &rs->op;
    op->type = NGX_MICROSHOP_OP_HOLD_UNKNOWN;
    op->u.reserve.why = NGX_MICROSHOP_WHY_OFFLINE;

    ngx_microshop_store_post(&mmcf->store, op);

    ngx_microshop_order_event_pending(r, ctx);
}
