/*
 * ngx_microshop: the events of orders and stock (docs/events.md "Event
 * types").  No token, key or secret is ever put in an event: an order is
 * named by its reservation id, and a checkout by its lines and its
 * Idempotency-Key.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_microshop_order_events.h"
#include "ngx_microshop_feed.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_body.h"
#include "ngx_microshop_reserve_offline.h"


static json_t *ngx_microshop_event_data(
    ngx_http_microshop_main_conf_t *mmcf);
static void ngx_microshop_event_str(json_t *o, const char *name,
    u_char *data, size_t len);
static json_t *ngx_microshop_event_lines(ngx_microshop_reserve_ctx_t *rs);
static void ngx_microshop_event_idem(ngx_http_microshop_ctx_t *ctx,
    json_t *o);
static ngx_table_elt_t *ngx_microshop_event_location(
    ngx_http_request_t *r);


/* the data of a new event; NULL: no feeds (or no memory) */

static json_t *
ngx_microshop_event_data(ngx_http_microshop_main_conf_t *mmcf)
{
    return ngx_microshop_feed_on(mmcf) ? json_object() : NULL;
}


/* a member whose text is not UTF-8 (a header) is left out */

static void
ngx_microshop_event_str(json_t *o, const char *name, u_char *data, size_t len)
{
    json_t  *v;

    v = json_stringn((char *) data, len);

    if (v) {
        (void) json_object_set_new(o, name, v);
    }
}


static json_t *
ngx_microshop_event_lines(ngx_microshop_reserve_ctx_t *rs)
{
    json_t      *lines, *line;
    ngx_uint_t   i;

    lines = json_array();
    if (lines == NULL) {
        return NULL;
    }

    for (i = 0; i < rs->nlines; i++) {
        line = json_object();
        if (line == NULL) {
            continue;
        }

        ngx_microshop_event_str(line, "sku", rs->lines[i].sku.data,
                                rs->lines[i].sku.len);
        (void) json_object_set_new(line, "quantity",
                                   json_integer(rs->lines[i].quantity));
        (void) json_array_append_new(lines, line);
    }

    return lines;
}


/* the checkout's Idempotency-Key (the store's key is seller "\n" key) */

static void
ngx_microshop_event_idem(ngx_http_microshop_ctx_t *ctx, json_t *o)
{
    u_char     *nl;
    ngx_str_t  *key;

    key = &ctx->idem.key;

    if (key->len == 0) {
        return;
    }

    nl = ngx_strlchr(key->data, key->data + key->len, '\n');
    if (nl == NULL) {
        return;
    }

    ngx_microshop_event_str(o, "idempotency_key", nl + 1,
                            key->data + key->len - nl - 1);
}


/*
 * The Location the client is sent.  The upstream module sets
 * r->headers_out.location only when a proxy_redirect rewrote it: a
 * backend's Location that no rule matched (the usual case) is only in
 * the headers list.
 */

static ngx_table_elt_t *
ngx_microshop_event_location(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    h = r->headers_out.location;

    if (h) {
        return h->hash ? h : NULL;
    }

    part = &r->headers_out.headers.part;
    i = 0;

    while ((h = ngx_microshop_header_next(&part, &i)) != NULL) {

        if (h->hash != 0 && h->key.len == sizeof("Location") - 1
            && ngx_strncasecmp(h->key.data, (u_char *) "Location",
                               sizeof("Location") - 1)
               == 0)
        {
            return h;
        }
    }

    return NULL;
}


void
ngx_microshop_order_event_reserved(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *seller)
{
    json_t                          *data;
    ngx_uint_t                       i;
    ngx_microshop_line_t            *line;
    ngx_microshop_reserve_ctx_t     *rs;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    rs = &ctx->reserve;

    data = ngx_microshop_event_data(mmcf);
    if (data == NULL) {
        return;
    }

    ngx_microshop_event_str(data, "order", rs->op.u.reserve.id.data,
                            rs->op.u.reserve.id.len);
    (void) json_object_set_new(data, "lines", ngx_microshop_event_lines(rs));
    ngx_microshop_event_idem(ctx, data);

    ngx_microshop_feed_emit(mmcf, seller, MICROSHOP_EVENT_ORDER_RESERVED,
                            data);

    for (i = 0; i < rs->nlines; i++) {
        line = &rs->lines[i];

        if (line->available < 0) {
            /* a line the edge does not manage: the backend's business */
            continue;
        }

        ngx_microshop_stock_event(mmcf, seller, &line->sku, line->available,
                                  line->held, NGX_MICROSHOP_BY_RESERVE,
                                  &rs->op.u.reserve.id);
    }
}


void
ngx_microshop_order_event_settled(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_uint_t commit, const char *why)
{
    json_t                          *data;
    ngx_table_elt_t                 *loc;
    ngx_microshop_reserve_ctx_t     *rs;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    rs = &ctx->reserve;

    data = ngx_microshop_event_data(mmcf);
    if (data == NULL) {
        return;
    }

    ngx_microshop_event_str(data, "order", rs->op.u.reserve.id.data,
                            rs->op.u.reserve.id.len);

    if (rs->header_seen) {
        (void) json_object_set_new(data, "status",
                                   json_integer(rs->status));
    }

    if (commit) {
        loc = ngx_microshop_event_location(r);

        if (loc) {
            ngx_microshop_event_str(data, "location", loc->value.data,
                                    loc->value.len);
        }

    } else {
        (void) json_object_set_new(data, "reason", json_string(why));
    }

    (void) json_object_set_new(data, "lines", ngx_microshop_event_lines(rs));
    ngx_microshop_event_idem(ctx, data);

    ngx_microshop_feed_emit(mmcf, &rs->op.u.reserve.seller,
                            commit ? MICROSHOP_EVENT_ORDER_COMMITTED
                                   : MICROSHOP_EVENT_ORDER_RELEASED,
                            data);
}


void
ngx_microshop_order_event_pending(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    json_t                          *data, *doc;
    ngx_str_t                        body;
    json_error_t                     err;
    ngx_microshop_reserve_ctx_t     *rs;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);
    rs = &ctx->reserve;

    data = ngx_microshop_event_data(mmcf);
    if (data == NULL) {
        return;
    }

    ngx_microshop_event_str(data, "order", rs->op.u.reserve.id.data,
                            rs->op.u.reserve.id.len);
    (void) json_object_set_new(data, "reason",
                               json_string("upstream-unavailable"));
    (void) json_object_set_new(data, "status", json_integer(r->err_status));
    (void) json_object_set_new(data, "lines", ngx_microshop_event_lines(rs));
    ngx_microshop_event_idem(ctx, data);

    /* the checkout was read and parsed as JSON by the reserve stage */

    doc = NULL;

    if (ngx_microshop_body_get(r, NGX_MICROSHOP_OFFLINE_BODY_MAX, &body)
        == NGX_OK)
    {
        doc = json_loadb((char *) body.data, body.len, 0, &err);
    }

    if (doc) {
        (void) json_object_set_new(data, "body", doc);

    } else {
        (void) json_object_set_new(data, "body_truncated", json_true());
    }

    ngx_microshop_feed_emit(mmcf, &rs->op.u.reserve.seller,
                            MICROSHOP_EVENT_ORDER_PENDING, data);
}


void
ngx_microshop_order_event_admin(ngx_http_request_t *r, ngx_str_t *seller,
    ngx_str_t *order, ngx_uint_t commit)
{
    json_t                          *data;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    data = ngx_microshop_event_data(mmcf);
    if (data == NULL) {
        return;
    }

    ngx_microshop_event_str(data, "order", order->data, order->len);
    (void) json_object_set_new(data, "by", json_string(NGX_MICROSHOP_BY_ADMIN));

    if (!commit) {
        (void) json_object_set_new(data, "reason", json_string("admin"));
    }

    ngx_microshop_feed_emit(mmcf, seller,
                            commit ? MICROSHOP_EVENT_ORDER_COMMITTED
                                   : MICROSHOP_EVENT_ORDER_RELEASED,
                            data);
}


void
ngx_microshop_stock_event(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, ngx_str_t *sku, int64_t available, int64_t held,
    const char *by, ngx_str_t *order)
{
    json_t  *data;

    data = ngx_microshop_event_data(mmcf);
    if (data == NULL) {
        return;
    }

    ngx_microshop_event_str(data, "sku", sku->data, sku->len);
    (void) json_object_set_new(data, "available", json_integer(available));

    if (held >= 0) {
        (void) json_object_set_new(data, "held", json_integer(held));
    }

    (void) json_object_set_new(data, "by", json_string(by));

    if (order) {
        ngx_microshop_event_str(data, "order", order->data, order->len);
    }

    ngx_microshop_feed_emit(mmcf, seller, MICROSHOP_EVENT_STOCK_CHANGED,
                            data);

    if (available - (held > 0 ? held : 0) > 0) {
        return;
    }

    data = json_object();
    if (data == NULL) {
        return;
    }

    ngx_microshop_event_str(data, "sku", sku->data, sku->len);
    (void) json_object_set_new(data, "by", json_string(by));

    ngx_microshop_feed_emit(mmcf, seller, MICROSHOP_EVENT_STOCK_SOLD_OUT,
                            data);
}


void
ngx_microshop_inventory_event(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, ngx_str_t *sku, ngx_str_t *event_id, int64_t version,
    ngx_uint_t has_item)
{
    json_t  *data;

    data = ngx_microshop_event_data(mmcf);
    if (data == NULL) {
        return;
    }

    ngx_microshop_event_str(data, "sku", sku->data, sku->len);
    ngx_microshop_event_str(data, "event", event_id->data, event_id->len);
    (void) json_object_set_new(data, "version", json_integer(version));
    (void) json_object_set_new(data, "cached", json_boolean(has_item));

    ngx_microshop_feed_emit(mmcf, seller, MICROSHOP_EVENT_INVENTORY_UPDATED,
                            data);
}


void
ngx_microshop_revoked_event(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, ngx_str_t *class, int64_t before)
{
    json_t  *data;

    data = ngx_microshop_event_data(mmcf);
    if (data == NULL) {
        return;
    }

    if (class->len) {
        ngx_microshop_event_str(data, "class", class->data, class->len);
    }

    (void) json_object_set_new(data, "issued_before", json_integer(before));

    ngx_microshop_feed_emit(mmcf, seller, MICROSHOP_EVENT_TOKEN_REVOKED,
                            data);
}
