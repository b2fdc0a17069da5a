/*
 * ngx_microshop: live-drop reservations and the sweep of their holds (see
 * the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_reserve.h"
#include "ngx_microshop_order_events.h"
#include "ngx_microshop_reserve_offline.h"
#include "ngx_microshop_body.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_upstream_error.h"
#include "ngx_microshop_lint.h"
#include "microshop_reserve_checkout.h"


#define NGX_MICROSHOP_CHECKOUT_MAX     (1024 * 1024)
#define NGX_MICROSHOP_SWEEP_INTERVAL   1000


static char *ngx_microshop_reserve_headers(ngx_http_request_t *r);
static ngx_int_t ngx_microshop_reserve_invalid(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, const char *err);
static ngx_int_t ngx_microshop_reserve_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
static ngx_int_t ngx_microshop_reserve_forward(ngx_http_request_t *r,
    ngx_microshop_reserve_ctx_t *rs);
static void ngx_microshop_reserve_end(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
static void ngx_microshop_reserve_settle(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_uint_t unknown);
static void ngx_microshop_sweep_handler(ngx_event_t *ev);


/* configuration */

void
ngx_microshop_reserve_loc_create(ngx_microshop_reserve_loc_t *c)
{
    c->on = NGX_CONF_UNSET;
    c->hold = NGX_CONF_UNSET_MSEC;
    c->store_local = NGX_CONF_UNSET;
    c->offline = NGX_CONF_UNSET;
    c->offline_max = NGX_CONF_UNSET_UINT;
}


/* microshop_reserve on|off [hold=T] [on_store_error=closed|local] */

char *
ngx_microshop_reserve_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    ngx_int_t                        t;
    ngx_str_t                       *value;
    ngx_uint_t                       i;
    ngx_http_microshop_main_conf_t  *mmcf;

    if (mlcf->reserve.on != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mlcf->reserve.file = cf->conf_file->file.name.data;
    mlcf->reserve.line = cf->conf_file->line;

    if (ngx_microshop_conf_flag(cf, &value[1], &mlcf->reserve.on) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (mlcf->reserve.on) {
        mmcf = ngx_microshop_conf_main_conf(cf);
        mmcf->reserve_used = 1;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "hold=", 5) == 0) {
            t = ngx_microshop_conf_time(cf, &value[i], 0, 1,
                                        NGX_MAX_INT_T_VALUE,
                                        "invalid time \"%V\"", &value[i]);
            if (t == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            mlcf->reserve.hold = t;
            continue;
        }

        if (ngx_strcmp(value[i].data, "offline=off") == 0) {
            mlcf->reserve.offline = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "offline=accept") == 0) {
            mlcf->reserve.offline = 1;

            mmcf = ngx_microshop_conf_main_conf(cf);

            if (mmcf->offline_file == NULL) {
                mmcf->offline_file = cf->conf_file->file.name.data;
                mmcf->offline_line = cf->conf_file->line;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "offline_max=", 12) == 0) {
            t = ngx_atoi(value[i].data + 12, value[i].len - 12);

            if (t == NGX_ERROR || t < 1 || t > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": a number of orders "
                                   "from 1 to 1000000", &value[i]);
                return NGX_CONF_ERROR;
            }

            mlcf->reserve.offline_max = t;
            continue;
        }

        t = ngx_microshop_conf_store_error(cf, &value[i],
                                           &mlcf->reserve.store_local);

        if (t == NGX_OK) {
            continue;
        }

        if (t == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        return ngx_microshop_conf_invalid(cf, &value[i]);
    }

    if (mlcf->reserve.offline_max != NGX_CONF_UNSET_UINT
        && mlcf->reserve.offline != 1)
    {
        return "offline_max= needs offline=accept";
    }

    return NGX_CONF_OK;
}


char *
ngx_microshop_reserve_loc_merge(ngx_conf_t *cf,
    ngx_microshop_reserve_loc_t *prev, ngx_microshop_reserve_loc_t *conf)
{
    if (conf->on == NGX_CONF_UNSET) {
        *conf = *prev;
    }

    ngx_conf_merge_value(conf->on, NGX_CONF_UNSET, 0);
    ngx_conf_merge_msec_value(conf->hold, NGX_CONF_UNSET_MSEC, 30000);
    ngx_conf_merge_value(conf->store_local, NGX_CONF_UNSET, 0);
    ngx_conf_merge_value(conf->offline, NGX_CONF_UNSET, 0);
    ngx_conf_merge_uint_value(conf->offline_max, NGX_CONF_UNSET_UINT,
                              NGX_MICROSHOP_OFFLINE_MAX);

    if (conf->on) {
        ngx_microshop_lint_upstream_time(cf, "microshop_reserve", "hold",
                                         conf->hold, conf->file, conf->line);
    }

    return NGX_CONF_OK;
}


/* the RESERVE stage: checkout bodies hold stock at the edge */

ngx_int_t
ngx_microshop_reserve_stage(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    int                              n, i;
    u_char                          *p;
    ngx_int_t                        rc;
    ngx_str_t                        body, seller;
    const char                      *err;
    ngx_microshop_op_t              *op;
    ngx_microshop_reserve_ctx_t     *rc_ctx;
    ngx_http_microshop_loc_conf_t   *mlcf;
    microshop_checkout_line_t       *parsed;

    mlcf = ngx_microshop_loc_conf(r);

    if (!mlcf->reserve.on || r->method != NGX_HTTP_POST) {
        return NGX_DECLINED;
    }

    rc_ctx = &ctx->reserve;
    op = &rc_ctx->op;

    if (!rc_ctx->parsed) {
        err = ngx_microshop_reserve_headers(r);
        if (err != NULL) {
            return ngx_microshop_reserve_invalid(r, ctx, err);
        }

        rc = ngx_microshop_request_read_body(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        rc_ctx->parsed = 1;

        rc = ngx_microshop_body_get(r, NGX_MICROSHOP_CHECKOUT_MAX, &body);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        parsed = ngx_palloc(r->pool, MICROSHOP_CHECKOUT_MAX_LINES
                                     * sizeof(microshop_checkout_line_t));
        if (parsed == NULL) {
            return NGX_ERROR;
        }

        n = (rc == NGX_OK)
            ? microshop_checkout_parse((char *) body.data, body.len, parsed,
                                       MICROSHOP_CHECKOUT_MAX_LINES, &err)
            : -1;

        if (rc == NGX_DECLINED) {
            err = "the checkout body is too large";
        }

        if (n < 0) {
            return ngx_microshop_reserve_invalid(r, ctx, err);
        }

        if (ngx_microshop_route_seller(r, ctx, &seller) != NGX_OK) {
            return NGX_ERROR;
        }

        if (seller.len == 0 || seller.len > NGX_MICROSHOP_SKU_MAX) {
            /* no seller: nothing at the edge to reserve from */
            return NGX_DECLINED;
        }

        rc_ctx->lines = ngx_palloc(r->pool, n * sizeof(ngx_microshop_line_t));
        if (rc_ctx->lines == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < n; i++) {
            rc_ctx->lines[i].sku.len = parsed[i].sku_len;
            rc_ctx->lines[i].sku.data = ngx_pnalloc(r->pool,
                                                    parsed[i].sku_len);
            if (rc_ctx->lines[i].sku.data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(rc_ctx->lines[i].sku.data, parsed[i].sku,
                       parsed[i].sku_len);
            rc_ctx->lines[i].quantity = parsed[i].quantity;
            rc_ctx->lines[i].short_of_stock = 0;
            rc_ctx->lines[i].available = -1;
            rc_ctx->lines[i].held = -1;
        }

        rc_ctx->nlines = n;

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN * 3 + 3);
        if (p == NULL) {
            return NGX_ERROR;
        }

        /* whatever the hold's fate, it is settled when the request ends */
        if (!rc_ctx->at_end) {
            if (ngx_microshop_request_at_end(r, ctx,
                                             ngx_microshop_reserve_end)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            rc_ctx->at_end = 1;
        }

        op->type = NGX_MICROSHOP_OP_RESERVE;
        op->pool = r->pool;
        op->u.reserve.seller = seller;
        op->u.reserve.lines = rc_ctx->lines;
        op->u.reserve.nlines = n;
        op->u.reserve.hold = mlcf->reserve.hold;
        op->u.reserve.offline_max = mlcf->reserve.offline
                                    ? mlcf->reserve.offline_max : 0;
        op->fallback = mlcf->reserve.store_local;
        op->local = 0;
        op->u.reserve.id.data = p;
        /* unique across nodes sharing the store, not only on this one */
        op->u.reserve.id.len = ngx_sprintf(p, "%016xL-%T",
                                           ngx_microshop_request_unique(),
                                           ngx_time())
                               - p;

        ctx->op = *op;
    }

    if (ngx_microshop_request_store(r, ctx) == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (ctx->op.rc == NGX_ERROR) {
        return ngx_microshop_store_failed(r, ctx);
    }

    if (ctx->op.rc == NGX_DECLINED) {
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_RESERVE_OUT_OF_STOCK);
        return ngx_microshop_reserve_reject(r, ctx);
    }

    rc_ctx->held = ctx->op.u.reserve.held;
    rc_ctx->offline_slot = ctx->op.u.reserve.held
                           && ctx->op.u.reserve.offline;

    /* settled where the hold is: in this node's zone after a fallback */
    rc_ctx->op.local = ctx->op.local;

    if (rc_ctx->held) {
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_RESERVE_HELD);

        ngx_microshop_order_event_reserved(r, ctx,
                                           &rc_ctx->op.u.reserve.seller);

        if (ngx_microshop_reserve_forward(r, rc_ctx) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_DECLINED;
}


/*
 * The backend learns the reservation's id, X-Microshop-Reservation, to
 * settle it through the admin API when the edge cannot tell its outcome
 * (docs/inventory.md).  A client's X-Microshop-* headers were removed.
 */

static ngx_int_t
ngx_microshop_reserve_forward(ngx_http_request_t *r,
    ngx_microshop_reserve_ctx_t *rs)
{
    ngx_int_t  rc;

    static ngx_str_t  name = ngx_string("X-Microshop-Reservation");

    rc = ngx_microshop_header_push(r, &r->headers_in.headers, &name,
                                   (u_char *) "x-microshop-reservation",
                                   &rs->op.u.reserve.id);

    return (rc == NGX_OK) ? NGX_OK : NGX_ERROR;
}


/*
 * A checkout is read as JSON by the edge: the backend must read it as JSON
 * too, as it came (docs/inventory.md "Checkout bodies").  The reason it is
 * not, or NULL.
 */

static char *
ngx_microshop_reserve_headers(ngx_http_request_t *r)
{
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    static ngx_str_t  type = ngx_string("Content-Type");
    static ngx_str_t  encoding = ngx_string("Content-Encoding");

    h = ngx_microshop_header_in(r, &type, &n);

    if (h == NULL || n != 1
        || !microshop_checkout_media_type((char *) h->value.data,
                                          h->value.len))
    {
        return "a checkout needs one Content-Type header, application/json";
    }

    if (ngx_microshop_header_in(r, &encoding, NULL) != NULL) {
        return "a checkout body must not have a Content-Encoding";
    }

    return NULL;
}


/* 400 invalid-checkout: nothing held, nothing sent upstream */

static ngx_int_t
ngx_microshop_reserve_invalid(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, const char *err)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop reserve: invalid checkout: %s", err);

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_RESERVE_INVALID);

    return ngx_microshop_problem_send_text(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid-checkout",
                                           "Invalid checkout", (char *) err);
}


static ngx_int_t
ngx_microshop_reserve_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    u_char                   *p;
    size_t                    len;
    ngx_uint_t                i, first;
    ngx_microshop_line_t     *line;
    ngx_microshop_problem_t   problem;

    line = ctx->reserve.lines;

    len = sizeof(",\"skus\":[]") - 1;

    for (i = 0; i < ctx->reserve.nlines; i++) {
        if (line[i].short_of_stock) {
            len += 3 + line[i].sku.len
                   + ngx_escape_json(NULL, line[i].sku.data, line[i].sku.len);
        }
    }

    ngx_memzero(&problem, sizeof(ngx_microshop_problem_t));

    problem.extra.data = ngx_pnalloc(r->pool, len);
    if (problem.extra.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(problem.extra.data, ",\"skus\":[", 9);
    first = 1;

    for (i = 0; i < ctx->reserve.nlines; i++) {
        if (!line[i].short_of_stock) {
            continue;
        }

        if (!first) {
            *p++ = ',';
        }

        first = 0;
        *p++ = '"';
        p = (u_char *) ngx_escape_json(p, line[i].sku.data, line[i].sku.len);
        *p++ = '"';
    }

    *p++ = ']';
    problem.extra.len = p - problem.extra.data;

    problem.status = NGX_HTTP_CONFLICT;
    ngx_str_set(&problem.name, "out-of-stock");
    ngx_str_set(&problem.title, "Out of stock");
    ngx_str_set(&problem.detail,
                "Not enough stock is left for the SKUs listed in \"skus\"; "
                "nothing was reserved.");

    return ngx_microshop_problem_send(r, &problem);
}


/*
 * The backend answered: commit on 2xx, release on anything else.  nginx's
 * own 502/504 after the request reached the upstream (timeout, reset)
 * leaves the outcome unknown: the backend may have sold the units, so the
 * hold stays until an answer of the backend (the admin API, an inventory
 * event) settles it (docs/http.md "Outcomes").
 */

void
ngx_microshop_reserve_header_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    if (ctx->reserve.offline) {
        /* accepted offline: the hold stays, an order pending */
        ngx_microshop_reserve_offline_keep(r, ctx);
        return;
    }

    if (ngx_microshop_upstream_unknown(r)) {
        ngx_microshop_reserve_settle(r, ctx, 1);
        return;
    }

    ctx->reserve.header_seen = 1;
    ctx->reserve.status = r->headers_out.status;

    ngx_microshop_reserve_settle(r, ctx, 0);
}


/*
 * The request ends with its hold not settled: the outcome is unknown
 * once bytes of the request reached the backend, else it provably never
 * left and the hold is released.  A RESERVE still in flight (the request
 * went away first) may have taken a hold: a release by its id follows
 * it.
 */

static void
ngx_microshop_reserve_end(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_microshop_reserve_ctx_t  *rs;

    rs = &ctx->reserve;

    if (ctx->op_state == NGX_MICROSHOP_OP_PENDING
        && ctx->op.type == NGX_MICROSHOP_OP_RESERVE)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop: request gone during RESERVE, "
                       "releasing its hold");
        rs->held = 1;
    }

    ngx_microshop_reserve_settle(r, ctx,
                                 !rs->header_seen
                                 && ngx_microshop_upstream_reached(r));
}


/*
 * A hold with an answer: committed on the backend's 2xx, released
 * otherwise.  Unknown: kept, the store lists it once hold= runs out.
 */

static void
ngx_microshop_reserve_settle(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_uint_t unknown)
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

    if (unknown) {
        op->type = NGX_MICROSHOP_OP_HOLD_UNKNOWN;
        op->u.reserve.why = ngx_microshop_upstream_why(r);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop: hold \"%V\" kept, outcome unknown (%ui)",
                       &op->u.reserve.id, op->u.reserve.why);

        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_RESERVE_UNKNOWN);

        ngx_microshop_store_post(&mmcf->store, op);
        return;
    }

    op->type = NGX_MICROSHOP_OP_SETTLE;
    op->u.reserve.commit = (rs->header_seen && r->upstream
                            && rs->status >= 200 && rs->status < 300);

    ngx_microshop_outcome(r, ctx, op->u.reserve.commit
                                  ? NGX_MICROSHOP_OUT_RESERVE_COMMIT
                                  : NGX_MICROSHOP_OUT_RESERVE_RELEASE);

    ngx_microshop_store_post(&mmcf->store, op);

    ngx_microshop_order_event_settled(r, ctx, op->u.reserve.commit,
                                      ngx_microshop_upstream_failed(r)
                                      ? "upstream-unavailable"
                                      : rs->header_seen ? "backend-status"
                                                        : "not-sent");
}


/* the periodic sweep: holds past hold= go pending */

ngx_int_t
ngx_microshop_reserve_init_process(ngx_cycle_t *cycle)
{
    ngx_event_t                     *ev;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_cycle_main_conf(cycle);

    if (mmcf == NULL || !mmcf->reserve_used) {
        return NGX_OK;
    }

    ev = ngx_pcalloc(cycle->pool, sizeof(ngx_event_t));
    if (ev == NULL) {
        return NGX_ERROR;
    }

    ev->handler = ngx_microshop_sweep_handler;
    ev->data = mmcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_MICROSHOP_SWEEP_INTERVAL);

    return NGX_OK;
}


static void
ngx_microshop_sweep_handler(ngx_event_t *ev)
{
    ngx_microshop_op_t               op;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ev->data;

    if (ngx_exiting) {
        return;
    }

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));
    op.type = NGX_MICROSHOP_OP_SWEEP;
    op.pool = ngx_cycle->pool;

    ngx_microshop_store_post(&mmcf->store, &op);

    ngx_add_timer(ev, NGX_MICROSHOP_SWEEP_INTERVAL);
}
