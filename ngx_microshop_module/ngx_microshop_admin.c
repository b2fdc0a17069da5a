/*
 * ngx_microshop: the admin API (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_admin.h"
#include "ngx_microshop_order_events.h"
#include "ngx_microshop_orders.h"
#include "ngx_microshop_onboard.h"
#include "ngx_microshop_revocations.h"
#include "ngx_microshop_json.h"
#include "ngx_microshop_events.h"
#include "ngx_microshop_answer.h"
#include "microshop_scope.h"


/* a stock body, {"available":N}, and room to spare */
#define NGX_MICROSHOP_ADMIN_BODY_MAX  4096


static ngx_int_t ngx_microshop_admin_stock(ngx_http_request_t *r,
    ngx_str_t *route);
static ngx_int_t ngx_microshop_admin_stock_op(ngx_http_request_t *r,
    ngx_str_t *route, ngx_microshop_op_t **opp);
static ngx_int_t ngx_microshop_admin_stock_refuse(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_microshop_admin_stock_exec(ngx_http_request_t *r,
    ngx_microshop_op_t *op);
static void ngx_microshop_admin_stock_put(ngx_http_request_t *r);
static void ngx_microshop_admin_stock_feed(ngx_http_request_t *r,
    ngx_microshop_op_t *op);
static void ngx_microshop_admin_stock_done(ngx_http_request_t *r,
    ngx_microshop_op_t *op);


char *
ngx_microshop_admin_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (mlcf->auth == 0) {
        return "cannot be used with \"microshop_auth off\"";
    }

    if (mlcf->scope.rules != NGX_CONF_UNSET_PTR) {
        return "must come before \"microshop_require_scope\": it requires "
               "the scope " NGX_MICROSHOP_ADMIN_SCOPE " itself";
    }

    if (ngx_microshop_scope_require_any(cf, mlcf, NGX_MICROSHOP_ADMIN_SCOPE)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_microshop_admin_handler;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_microshop_admin_handler(ngx_http_request_t *r)
{
    ngx_str_t  *route;

    /* the access phase checked it; a second look costs nothing */
    if (!ngx_microshop_scope_token_has(r, NGX_MICROSHOP_ADMIN_SCOPE,
                                       sizeof(NGX_MICROSHOP_ADMIN_SCOPE) - 1))
    {
        return NGX_HTTP_FORBIDDEN;
    }

    route = ngx_microshop_request_route(r);
    if (route == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (route->len > sizeof("stock/") - 1
        && ngx_strncmp(route->data, "stock/", sizeof("stock/") - 1) == 0)
    {
        return ngx_microshop_admin_stock(r, route);
    }

    if (route->len > sizeof("sellers/") - 1
        && ngx_strncmp(route->data, "sellers/", sizeof("sellers/") - 1) == 0)
    {
        return ngx_microshop_onboard_handler(r, route);
    }

    if ((route->len == sizeof("orders") - 1
         || (route->len > sizeof("orders/") - 1
             && route->data[sizeof("orders") - 1] == '/'))
        && ngx_strncmp(route->data, "orders", sizeof("orders") - 1) == 0)
    {
        return ngx_microshop_orders_handler(r, route);
    }

    if (route->len == sizeof("revocations") - 1
        && ngx_strncmp(route->data, "revocations", route->len) == 0)
    {
        return ngx_microshop_revocations_handler(r);
    }

    return ngx_microshop_problem_text(r, NGX_HTTP_NOT_FOUND, "not-found",
                                       "Not found",
                                       "No admin route has this path.");
}


/*
 * PUT <loc>/stock/<seller>/<sku>  {"available":N}  -> 204
 * GET <loc>/stock/<seller>/<sku>  -> 200 {"available":N,"held":M}, 404
 */

static ngx_int_t
ngx_microshop_admin_stock(ngx_http_request_t *r, ngx_str_t *route)
{
    ngx_int_t            rc;
    ngx_microshop_op_t  *op;

    rc = ngx_microshop_admin_stock_op(r, route, &op);

    if (rc != NGX_OK) {
        return ngx_microshop_admin_stock_refuse(r, rc);
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        op->type = NGX_MICROSHOP_OP_STOCK_GET;
        op->u.stock.available = -1;

        /* the request lives on until the completion finalizes it */
        r->main->count++;

        ngx_microshop_admin_stock_exec(r, op);

        return NGX_DONE;
    }

    if (r->method == NGX_HTTP_PUT) {
        rc = ngx_http_read_client_request_body(r,
                                               ngx_microshop_admin_stock_put);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    return ngx_microshop_not_allowed(r, "GET, HEAD, PUT",
                                     "Stock is read with GET and set with "
                                     "PUT.");
}


/*
 * A new op keyed "seller\nsku" from "stock/<seller>/<sku>".  NGX_OK, or
 * the problem to answer with: NGX_HTTP_NOT_FOUND (not a stock route),
 * NGX_HTTP_BAD_REQUEST (a bad name); NGX_ERROR on a memory shortage.
 */

static ngx_int_t
ngx_microshop_admin_stock_op(ngx_http_request_t *r, ngx_str_t *route,
    ngx_microshop_op_t **opp)
{
    ngx_str_t            seller, sku;
    ngx_microshop_op_t  *op;

    if (ngx_microshop_route_pair(route, sizeof("stock/") - 1, &seller, &sku)
        != NGX_OK)
    {
        return NGX_HTTP_NOT_FOUND;
    }

    if (!ngx_microshop_events_name_valid(seller.data, seller.len)
        || !ngx_microshop_events_name_valid(sku.data, sku.len))
    {
        return NGX_HTTP_BAD_REQUEST;
    }

    op = ngx_pcalloc(r->pool, sizeof(ngx_microshop_op_t));
    if (op == NULL) {
        return NGX_ERROR;
    }

    if (ngx_microshop_store_key(r->pool, &seller, sku.data, sku.len,
                                &op->key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    op->pool = r->pool;

    *opp = op;

    return NGX_OK;
}


/* the answer to what ngx_microshop_admin_stock_op() refused */

static ngx_int_t
ngx_microshop_admin_stock_refuse(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc == NGX_HTTP_NOT_FOUND) {
        return ngx_microshop_problem_text(r, NGX_HTTP_NOT_FOUND,
                                  "not-found", "Not found",
                                  "Stock routes are stock/<seller>/<sku>.");
    }

    if (rc == NGX_HTTP_BAD_REQUEST) {
        return ngx_microshop_problem_text(r, NGX_HTTP_BAD_REQUEST,
                                  "invalid-request", "Invalid stock route",
                                  "A seller or SKU has 1 to 256 bytes and "
                                  "no control characters.");
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static void
ngx_microshop_admin_stock_exec(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    ngx_microshop_request_run(r, op, ngx_microshop_admin_stock_done);
}


static void
ngx_microshop_admin_stock_put(ngx_http_request_t *r)
{
    json_t              *doc, *available;
    ngx_int_t            rc;
    ngx_str_t           *route;
    ngx_microshop_op_t  *op;

    route = ngx_microshop_request_route(r);
    if (route == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_microshop_admin_stock_op(r, route, &op);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, ngx_microshop_admin_stock_refuse(r, rc));
        return;
    }

    if (ngx_microshop_json_body(r, NGX_MICROSHOP_ADMIN_BODY_MAX, &doc)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    available = json_object_get(doc, "available");

    if (!json_is_object(doc)
        || json_object_size(doc) != 1
        || !json_is_integer(available)
        || json_integer_value(available) < 0)
    {
        json_decref(doc);
        ngx_http_finalize_request(r,
            ngx_microshop_problem_text(r, NGX_HTTP_BAD_REQUEST,
                              "invalid-request", "Invalid stock",
                              "The body must be {\"available\":<integer "
                              ">= 0>} and nothing else."));
        return;
    }

    op->type = NGX_MICROSHOP_OP_STOCK_SET;
    op->u.stock.available = json_integer_value(available);

    json_decref(doc);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "microshop: stock of \"%V\" set to %L by the admin API",
                  route, op->u.stock.available);

    /* reading the body took the reference that the completion releases */
    ngx_microshop_admin_stock_exec(r, op);
}


/* a stock the admin API set, in the seller's feed (docs/events.md) */

static void
ngx_microshop_admin_stock_feed(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    ngx_str_t  seller, sku;

    if (ngx_microshop_store_key_seller(&op->key, &seller) != NGX_OK) {
        return;
    }

    sku.data = op->key.data + seller.len + 1;
    sku.len = op->key.len - seller.len - 1;

    ngx_microshop_stock_event(ngx_microshop_main_conf(r), &seller, &sku,
                              op->u.stock.available, op->u.stock.held,
                              NGX_MICROSHOP_BY_ADMIN, NULL);
}


static void
ngx_microshop_admin_stock_done(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    u_char              *p;
    ngx_str_t            body;

    if (op->rc == NGX_DECLINED && op->type == NGX_MICROSHOP_OP_STOCK_GET) {
        ngx_http_finalize_request(r,
            ngx_microshop_problem_text(r, NGX_HTTP_NOT_FOUND,
                              "not-found", "No stock",
                              "No stock is set for this seller and SKU."));
        return;
    }

    if (op->rc != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_microshop_store_unavailable(r,
                              "The stock could not be read or stored."));
        return;
    }

    if (op->type == NGX_MICROSHOP_OP_STOCK_SET) {
        ngx_microshop_admin_stock_feed(r, op);

        r->headers_out.status = NGX_HTTP_NO_CONTENT;
        r->headers_out.content_length_n = 0;
        r->header_only = 1;

        ngx_http_finalize_request(r, ngx_http_send_header(r));
        return;
    }

    body.data = ngx_pnalloc(r->pool, sizeof("{\"available\":,\"held\":}\n")
                                     - 1 + 2 * NGX_INT64_LEN);
    if (body.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_sprintf(body.data, "{\"available\":%L,\"held\":%L}\n",
                    op->u.stock.available, op->u.stock.held);
    body.len = p - body.data;

    ngx_http_finalize_request(r, ngx_microshop_send_private_json(r, &body));
}
