/*
 * ngx_microshop: the admin API's orders (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_orders.h"
#include "ngx_microshop_order_events.h"
#include "ngx_microshop_events.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_json.h"


#define NGX_MICROSHOP_ORDERS_LIMIT      100
#define NGX_MICROSHOP_ORDERS_LIMIT_MAX  1000


static ngx_int_t ngx_microshop_orders_list(ngx_http_request_t *r);
static char *ngx_microshop_orders_args(ngx_http_request_t *r,
    ngx_microshop_op_t *op, char **title);
static void ngx_microshop_orders_listed(ngx_http_request_t *r,
    ngx_microshop_op_t *op);
static json_t *ngx_microshop_orders_json(ngx_microshop_op_t *op);
static json_t *ngx_microshop_orders_hold(ngx_microshop_hold_t *h);
static ngx_int_t ngx_microshop_orders_time(json_t *o, const char *name,
    int64_t ms);
static void ngx_microshop_orders_settled(ngx_http_request_t *r,
    ngx_microshop_op_t *op);


/* in the order of ngx_microshop_hold_state_e and ngx_microshop_hold_why_e */
static const char  *ngx_microshop_orders_states[] = {
    "live", "unknown", "pending"
};

static const char  *ngx_microshop_orders_whys[] = {
    NULL, "timeout", "upstream_error", "client_abort", "no_answer", "offline"
};


ngx_int_t
ngx_microshop_orders_handler(ngx_http_request_t *r, ngx_str_t *route)
{
    ngx_int_t            rc;
    ngx_str_t            id, action;
    ngx_microshop_op_t  *op;

    if (route->len == sizeof("orders") - 1) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_microshop_not_allowed(r, "GET, HEAD",
                                             "Orders are listed with GET.");
        }

        return ngx_microshop_orders_list(r);
    }

    /* orders/<id>/commit, orders/<id>/release */

    if (ngx_microshop_route_pair(route, sizeof("orders/") - 1, &id, &action)
            != NGX_OK
        || !((action.len == 6
              && ngx_strncmp(action.data, "commit", 6) == 0)
             || (action.len == 7
                 && ngx_strncmp(action.data, "release", 7) == 0)))
    {
        goto not_found;
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_microshop_not_allowed(r, "POST",
                                         "Orders are settled with POST.");
    }

    if (!ngx_microshop_events_name_valid(id.data, id.len)) {
        return ngx_microshop_problem_text(r, NGX_HTTP_BAD_REQUEST,
                                  "invalid-request", "Invalid reservation id",
                                  "A reservation id has 1 to 256 bytes and "
                                  "no control characters.");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    op = ngx_pcalloc(r->pool, sizeof(ngx_microshop_op_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->type = NGX_MICROSHOP_OP_SETTLE;
    op->pool = r->pool;
    op->u.reserve.id = id;
    op->u.reserve.commit = (action.len == 6);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "microshop: order \"%V\" %V by the admin API", &id,
                  &action);

    /* the request lives on until the completion finalizes it */
    r->main->count++;

    ngx_microshop_request_run(r, op, ngx_microshop_orders_settled);

    return NGX_DONE;

not_found:

    return ngx_microshop_problem_text(r, NGX_HTTP_NOT_FOUND, "not-found",
                              "Not found",
                              "Orders are settled with POST to "
                              "orders/<reservation id>/commit or "
                              "/release.");
}


static void
ngx_microshop_orders_settled(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    ngx_http_microshop_ctx_t  *ctx;

    if (op->rc == NGX_DECLINED) {
        ngx_http_finalize_request(r,
            ngx_microshop_problem_text(r, NGX_HTTP_NOT_FOUND, "not-found",
                              "No such reservation",
                              "No hold has this reservation id: it was "
                              "settled already, or not made here."));
        return;
    }

    if (op->rc != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_microshop_store_unavailable(r,
                              "The reservation could not be settled."));
        return;
    }

    ctx = ngx_microshop_ctx(r);

    if (op->u.reserve.seller.len) {
        ngx_microshop_order_event_admin(r, &op->u.reserve.seller,
                                        &op->u.reserve.id,
                                        op->u.reserve.commit);
    }

    if (ctx) {
        ngx_microshop_outcome(r, ctx, op->u.reserve.commit
                                      ? NGX_MICROSHOP_OUT_ORDER_COMMIT
                                      : NGX_MICROSHOP_OUT_ORDER_RELEASE);
    }

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    ngx_http_finalize_request(r, ngx_http_send_header(r));
}


static ngx_int_t
ngx_microshop_orders_list(ngx_http_request_t *r)
{
    char                *detail, *title;
    ngx_int_t            rc;
    ngx_microshop_op_t  *op;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    op = ngx_pcalloc(r->pool, sizeof(ngx_microshop_op_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->type = NGX_MICROSHOP_OP_HOLD_LIST;
    op->pool = r->pool;

    detail = ngx_microshop_orders_args(r, op, &title);

    if (detail) {
        if (title == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_microshop_problem_text(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid-request", title, detail);
    }

    r->main->count++;

    ngx_microshop_request_run(r, op, ngx_microshop_orders_listed);

    return NGX_DONE;
}


/*
 * ?state=pending|all&seller=S&limit=N into the op: NULL, or the detail of
 * the 400 invalid-request to answer with (title: what is invalid)
 */

static char *
ngx_microshop_orders_args(ngx_http_request_t *r, ngx_microshop_op_t *op,
    char **title)
{
    u_char     *dst, *src;
    ngx_int_t   n;
    ngx_str_t   value;

    op->u.reserve.limit = NGX_MICROSHOP_ORDERS_LIMIT;

    if (ngx_http_arg(r, (u_char *) "state", 5, &value) == NGX_OK) {

        if (value.len == 3 && ngx_strncmp(value.data, "all", 3) == 0) {
            op->u.reserve.all = 1;

        } else if (value.len != 7
                   || ngx_strncmp(value.data, "pending", 7) != 0)
        {
            *title = "Invalid state";
            return "state is \"pending\" (the default) or \"all\".";
        }
    }

    if (ngx_http_arg(r, (u_char *) "limit", 5, &value) == NGX_OK) {
        n = ngx_atoi(value.data, value.len);

        if (n < 1 || n > NGX_MICROSHOP_ORDERS_LIMIT_MAX) {
            *title = "Invalid limit";
            return "limit is a number from 1 to 1000.";
        }

        op->u.reserve.limit = n;
    }

    if (ngx_http_arg(r, (u_char *) "seller", 6, &value) == NGX_OK) {
        dst = ngx_pnalloc(r->pool, value.len);
        if (dst == NULL) {
            *title = NULL;
            return "";
        }

        op->u.reserve.seller.data = dst;
        src = value.data;
        ngx_unescape_uri(&dst, &src, value.len, 0);
        op->u.reserve.seller.len = dst - op->u.reserve.seller.data;

        if (!ngx_microshop_events_name_valid(op->u.reserve.seller.data,
                                             op->u.reserve.seller.len))
        {
            *title = "Invalid seller";
            return "A seller has 1 to 256 bytes and no control characters.";
        }
    }

    return NULL;
}


static void
ngx_microshop_orders_listed(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    json_t  *doc;

    if (op->rc != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_microshop_store_unavailable(r,
                              "The orders could not be read."));
        return;
    }

    doc = ngx_microshop_orders_json(op);
    ngx_http_finalize_request(r, ngx_microshop_json_send(r, doc));
}


static json_t *
ngx_microshop_orders_json(ngx_microshop_op_t *op)
{
    json_t      *doc, *list, *o;
    ngx_uint_t   i;

    doc = json_object();
    list = json_array();

    if (doc == NULL || list == NULL
        || json_object_set_new(doc, "orders", list) != 0)
    {
        json_decref(doc);
        json_decref(list);
        return NULL;
    }

    for (i = 0; i < op->u.reserve.nholds; i++) {
        o = ngx_microshop_orders_hold(&op->u.reserve.holds[i]);

        if (o == NULL || json_array_append_new(list, o) != 0) {
            json_decref(doc);
            return NULL;
        }
    }

    if (json_object_set_new(doc, "total",
                            json_integer((json_int_t) op->u.reserve.total))
        != 0)
    {
        json_decref(doc);
        return NULL;
    }

    return doc;
}


static json_t *
ngx_microshop_orders_hold(ngx_microshop_hold_t *h)
{
    json_t      *o, *lines, *line;
    ngx_uint_t   i;
    const char  *why;

    why = (h->why < NGX_MICROSHOP_WHY_MAX) ? ngx_microshop_orders_whys[h->why]
                                           : NULL;

    o = json_pack("{s:s%,s:s%,s:s,s:s?}",
                  "id", (char *) h->id.data, h->id.len,
                  "seller", (char *) h->seller.data, h->seller.len,
                  "state", ngx_microshop_orders_states[h->state],
                  "why", why);
    if (o == NULL) {
        return NULL;
    }

    lines = json_array();

    if (lines == NULL || json_object_set_new(o, "lines", lines) != 0
        || ngx_microshop_orders_time(o, "created", h->created) != NGX_OK
        || ngx_microshop_orders_time(o, "deadline", h->deadline) != NGX_OK)
    {
        json_decref(o);
        return NULL;
    }

    for (i = 0; i < h->nlines; i++) {
        line = json_pack("{s:s%,s:I}",
                         "sku", (char *) h->lines[i].sku.data,
                         h->lines[i].sku.len,
                         "quantity", (json_int_t) h->lines[i].quantity);

        if (line == NULL || json_array_append_new(lines, line) != 0) {
            json_decref(o);
            return NULL;
        }
    }

    return o;
}


/* unix ms as RFC 3339, UTC, with milliseconds */

static ngx_int_t
ngx_microshop_orders_time(json_t *o, const char *name, int64_t ms)
{
    u_char     buf[sizeof("2024-01-01T00:00:00.000Z")], *p;
    ngx_tm_t   tm;

    ngx_gmtime((time_t) (ms / 1000), &tm);

    p = ngx_snprintf(buf, sizeof(buf), "%4d-%02d-%02dT%02d:%02d:%02d.%03LZ",
                     tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                     tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                     (int64_t) (ms % 1000));

    return json_object_set_new(o, name,
                               json_stringn((char *) buf, p - buf)) == 0
           ? NGX_OK : NGX_ERROR;
}
