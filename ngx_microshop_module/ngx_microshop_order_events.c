/*
 * ngx_microshop: the events of orders and stock (docs/events.md "Event
 * types").  No token, key or secret is ever put in an event: an order is
 * named by its reservation id, and a checkout by its lines and its
 * Idempotency-Key.
 *
 * An event's data is written straight into a buffer of its own with
 * microshop_json_out (the checkout path writes three or more events per
 * request: no tree is built), sized for the worst case of what goes in:
 * every string escaped at 6 bytes a byte.
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
#include "microshop_json_out.h"


/* an event's data being written; a member name and an integer, at most */
#define NGX_MICROSHOP_EVENT_MEMBER   (32 + MICROSHOP_JSON_OUT_INT_MAX)

typedef struct {
    microshop_json_out_t   o;
    u_char                *buf;
    u_char                 stack[1024];  /* what most events fit in */
} ngx_microshop_event_out_t;


static ngx_int_t ngx_microshop_event_begin(
    ngx_http_microshop_main_conf_t *mmcf, ngx_microshop_event_out_t *e,
    size_t max);
static void ngx_microshop_event_end(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, microshop_event_type_e type,
    ngx_microshop_event_out_t *e);
static size_t ngx_microshop_event_lines_max(ngx_microshop_reserve_ctx_t *rs);
static void ngx_microshop_event_lines(ngx_microshop_event_out_t *e,
    ngx_microshop_reserve_ctx_t *rs);
static ngx_str_t *ngx_microshop_event_idem_key(ngx_http_microshop_ctx_t *ctx,
    ngx_str_t *key);
static ngx_table_elt_t *ngx_microshop_event_location(
    ngx_http_request_t *r);


#define ngx_microshop_event_str_max(len)                                      \
    (NGX_MICROSHOP_EVENT_MEMBER + MICROSHOP_JSON_OUT_STRING_MAX(len))

/* a member whose text is not UTF-8 (a header) is left out */
#define ngx_microshop_event_str(e, name, s)                                   \
    (void) microshop_json_out_string(&(e)->o, name, (s)->data, (s)->len)


/* NGX_DECLINED: no feeds; NGX_ERROR: no memory */

static ngx_int_t
ngx_microshop_event_begin(ngx_http_microshop_main_conf_t *mmcf,
    ngx_microshop_event_out_t *e, size_t max)
{
    if (!ngx_microshop_feed_on(mmcf)) {
        return NGX_DECLINED;
    }

    if (max <= sizeof(e->stack)) {
        e->buf = e->stack;

    } else {
        e->buf = ngx_alloc(max, ngx_cycle->log);
        if (e->buf == NULL) {
            return NGX_ERROR;
        }
    }

    microshop_json_out_init(&e->o, e->buf, max);
    microshop_json_out_open(&e->o, NULL, '{');

    return NGX_OK;
}


static void
ngx_microshop_event_end(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, microshop_event_type_e type,
    ngx_microshop_event_out_t *e)
{
    size_t  len;

    microshop_json_out_close(&e->o, '}');

    len = microshop_json_out_end(&e->o);

    if (len) {
        ngx_microshop_feed_emit(mmcf, seller, type, e->buf, len);

    } else {
        /* the size was counted wrong: a bug, not a client's doing */
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "microshop: event %s for \"%V\" did not fit",
                      microshop_event_type_name(type), seller);
    }

    if (e->buf != e->stack) {
        ngx_free(e->buf);
    }
}


static size_t
ngx_microshop_event_lines_max(ngx_microshop_reserve_ctx_t *rs)
{
    size_t      max;
    ngx_uint_t  i;

    max = NGX_MICROSHOP_EVENT_MEMBER;

    for (i = 0; i < rs->nlines; i++) {
        max += 3 + ngx_microshop_event_str_max(rs->lines[i].sku.len)
               + NGX_MICROSHOP_EVENT_MEMBER;
    }

    return max;
}


static void
ngx_microshop_event_lines(ngx_microshop_event_out_t *e,
    ngx_microshop_reserve_ctx_t *rs)
{
    ngx_uint_t  i;

    microshop_json_out_open(&e->o, "lines", '[');

    for (i = 0; i < rs->nlines; i++) {
        microshop_json_out_open(&e->o, NULL, '{');
        ngx_microshop_event_str(e, "sku", &rs->lines[i].sku);
        microshop_json_out_int(&e->o, "quantity", rs->lines[i].quantity);
        microshop_json_out_close(&e->o, '}');
    }

    microshop_json_out_close(&e->o, ']');
}


/* the checkout's Idempotency-Key (the store's key is seller "\n" key),
 * or NULL */

static ngx_str_t *
ngx_microshop_event_idem_key(ngx_http_microshop_ctx_t *ctx, ngx_str_t *key)
{
    u_char  *nl;

    if (ctx->idem.key.len == 0) {
        return NULL;
    }

    nl = ngx_strlchr(ctx->idem.key.data,
                     ctx->idem.key.data + ctx->idem.key.len, '\n');
    if (nl == NULL) {
        return NULL;
    }

    key->data = nl + 1;
    key->len = ctx->idem.key.data + ctx->idem.key.len - nl - 1;

    return key;
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
    ngx_str_t                       *id, *idem, key;
    ngx_uint_t                       i;
    ngx_microshop_line_t            *line;
    ngx_microshop_reserve_ctx_t     *rs;
    ngx_microshop_event_out_t        e;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    rs = &ctx->reserve;
    id = &rs->op.u.reserve.id;
    idem = ngx_microshop_event_idem_key(ctx, &key);

    if (ngx_microshop_event_begin(mmcf, &e,
            ngx_microshop_event_str_max(id->len)
            + ngx_microshop_event_lines_max(rs)
            + (idem ? ngx_microshop_event_str_max(idem->len) : 0))
        != NGX_OK)
    {
        return;
    }

    ngx_microshop_event_str(&e, "order", id);
    ngx_microshop_event_lines(&e, rs);

    if (idem) {
        ngx_microshop_event_str(&e, "idempotency_key", idem);
    }

    ngx_microshop_event_end(mmcf, seller, MICROSHOP_EVENT_ORDER_RESERVED, &e);

    for (i = 0; i < rs->nlines; i++) {
        line = &rs->lines[i];

        if (line->available < 0) {
            /* a line the edge does not manage: the backend's business */
            continue;
        }

        ngx_microshop_stock_event(mmcf, seller, &line->sku, line->available,
                                  line->held, NGX_MICROSHOP_BY_RESERVE, id);
    }
}


void
ngx_microshop_order_event_settled(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_uint_t commit, const char *why)
{
    ngx_str_t                       *id, *idem, key, reason, *where;
    ngx_table_elt_t                 *loc;
    ngx_microshop_reserve_ctx_t     *rs;
    ngx_microshop_event_out_t        e;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    rs = &ctx->reserve;
    id = &rs->op.u.reserve.id;
    idem = ngx_microshop_event_idem_key(ctx, &key);
    loc = commit ? ngx_microshop_event_location(r) : NULL;
    where = loc ? &loc->value : NULL;

    reason.data = (u_char *) why;
    reason.len = (!commit && why) ? ngx_strlen(why) : 0;

    if (ngx_microshop_event_begin(mmcf, &e,
            ngx_microshop_event_str_max(id->len)
            + NGX_MICROSHOP_EVENT_MEMBER
            + (where ? ngx_microshop_event_str_max(where->len) : 0)
            + ngx_microshop_event_str_max(reason.len)
            + ngx_microshop_event_lines_max(rs)
            + (idem ? ngx_microshop_event_str_max(idem->len) : 0))
        != NGX_OK)
    {
        return;
    }

    ngx_microshop_event_str(&e, "order", id);

    if (rs->header_seen) {
        microshop_json_out_int(&e.o, "status", rs->status);
    }

    if (where) {
        ngx_microshop_event_str(&e, "location", where);

    } else if (!commit && why) {
        ngx_microshop_event_str(&e, "reason", &reason);
    }

    ngx_microshop_event_lines(&e, rs);

    if (idem) {
        ngx_microshop_event_str(&e, "idempotency_key", idem);
    }

    ngx_microshop_event_end(mmcf, &rs->op.u.reserve.seller,
                            commit ? MICROSHOP_EVENT_ORDER_COMMITTED
                                   : MICROSHOP_EVENT_ORDER_RELEASED,
                            &e);
}


/*
 * The checkout's body goes in as it was sent: the reserve stage read it
 * and parsed it as a JSON document, json_loadb() here only says that it
 * still is one (and that it was read whole)
 */

void
ngx_microshop_order_event_pending(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    json_t                          *doc;
    ngx_str_t                       *id, *idem, key, body, reason;
    json_error_t                     err;
    ngx_microshop_reserve_ctx_t     *rs;
    ngx_microshop_event_out_t        e;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    if (!ngx_microshop_feed_on(mmcf)) {
        return;
    }

    rs = &ctx->reserve;
    id = &rs->op.u.reserve.id;
    idem = ngx_microshop_event_idem_key(ctx, &key);
    ngx_str_set(&reason, "upstream-unavailable");

    doc = NULL;

    if (ngx_microshop_body_get(r, NGX_MICROSHOP_OFFLINE_BODY_MAX, &body)
        == NGX_OK)
    {
        doc = json_loadb((char *) body.data, body.len, 0, &err);
    }

    if (doc == NULL) {
        ngx_str_null(&body);
    }

    json_decref(doc);

    if (ngx_microshop_event_begin(mmcf, &e,
            ngx_microshop_event_str_max(id->len)
            + ngx_microshop_event_str_max(reason.len)
            + NGX_MICROSHOP_EVENT_MEMBER
            + ngx_microshop_event_lines_max(rs)
            + (idem ? ngx_microshop_event_str_max(idem->len) : 0)
            + NGX_MICROSHOP_EVENT_MEMBER + body.len)
        != NGX_OK)
    {
        return;
    }

    ngx_microshop_event_str(&e, "order", id);
    ngx_microshop_event_str(&e, "reason", &reason);
    microshop_json_out_int(&e.o, "status", r->err_status);
    ngx_microshop_event_lines(&e, rs);

    if (idem) {
        ngx_microshop_event_str(&e, "idempotency_key", idem);
    }

    if (body.len) {
        microshop_json_out_raw(&e.o, "body", body.data, body.len);

    } else {
        microshop_json_out_bool(&e.o, "body_truncated", 1);
    }

    ngx_microshop_event_end(mmcf, &rs->op.u.reserve.seller,
                            MICROSHOP_EVENT_ORDER_PENDING, &e);
}


void
ngx_microshop_order_event_admin(ngx_http_request_t *r, ngx_str_t *seller,
    ngx_str_t *order, ngx_uint_t commit)
{
    ngx_microshop_event_out_t        e;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    if (ngx_microshop_event_begin(mmcf, &e,
                                  ngx_microshop_event_str_max(order->len)
                                  + 2 * NGX_MICROSHOP_EVENT_MEMBER)
        != NGX_OK)
    {
        return;
    }

    ngx_microshop_event_str(&e, "order", order);
    microshop_json_out_string(&e.o, "by", (u_char *) NGX_MICROSHOP_BY_ADMIN,
                              sizeof(NGX_MICROSHOP_BY_ADMIN) - 1);

    if (!commit) {
        microshop_json_out_string(&e.o, "reason", (u_char *) "admin", 5);
    }

    ngx_microshop_event_end(mmcf, seller,
                            commit ? MICROSHOP_EVENT_ORDER_COMMITTED
                                   : MICROSHOP_EVENT_ORDER_RELEASED,
                            &e);
}


void
ngx_microshop_stock_event(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, ngx_str_t *sku, int64_t available, int64_t held,
    const char *by, ngx_str_t *order)
{
    size_t                      blen;
    ngx_microshop_event_out_t   e;

    blen = ngx_strlen(by);

    if (ngx_microshop_event_begin(mmcf, &e,
            ngx_microshop_event_str_max(sku->len)
            + 2 * NGX_MICROSHOP_EVENT_MEMBER
            + ngx_microshop_event_str_max(blen)
            + (order ? ngx_microshop_event_str_max(order->len) : 0))
        != NGX_OK)
    {
        return;
    }

    ngx_microshop_event_str(&e, "sku", sku);
    microshop_json_out_int(&e.o, "available", available);

    if (held >= 0) {
        microshop_json_out_int(&e.o, "held", held);
    }

    microshop_json_out_string(&e.o, "by", (u_char *) by, blen);

    if (order) {
        ngx_microshop_event_str(&e, "order", order);
    }

    ngx_microshop_event_end(mmcf, seller, MICROSHOP_EVENT_STOCK_CHANGED, &e);

    if (available - (held > 0 ? held : 0) > 0) {
        return;
    }

    if (ngx_microshop_event_begin(mmcf, &e,
                                  ngx_microshop_event_str_max(sku->len)
                                  + ngx_microshop_event_str_max(blen))
        != NGX_OK)
    {
        return;
    }

    ngx_microshop_event_str(&e, "sku", sku);
    microshop_json_out_string(&e.o, "by", (u_char *) by, blen);

    ngx_microshop_event_end(mmcf, seller, MICROSHOP_EVENT_STOCK_SOLD_OUT, &e);
}


void
ngx_microshop_inventory_event(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, ngx_str_t *sku, ngx_str_t *event_id, int64_t version,
    ngx_uint_t has_item)
{
    ngx_microshop_event_out_t  e;

    if (ngx_microshop_event_begin(mmcf, &e,
                                  ngx_microshop_event_str_max(sku->len)
                                  + ngx_microshop_event_str_max(event_id->len)
                                  + 2 * NGX_MICROSHOP_EVENT_MEMBER)
        != NGX_OK)
    {
        return;
    }

    ngx_microshop_event_str(&e, "sku", sku);
    ngx_microshop_event_str(&e, "event", event_id);
    microshop_json_out_int(&e.o, "version", version);
    microshop_json_out_bool(&e.o, "cached", has_item != 0);

    ngx_microshop_event_end(mmcf, seller, MICROSHOP_EVENT_INVENTORY_UPDATED,
                            &e);
}


void
ngx_microshop_revoked_event(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, ngx_str_t *class, int64_t before)
{
    ngx_microshop_event_out_t  e;

    if (ngx_microshop_event_begin(mmcf, &e,
                                  ngx_microshop_event_str_max(class->len)
                                  + NGX_MICROSHOP_EVENT_MEMBER)
        != NGX_OK)
    {
        return;
    }

    if (class->len) {
        ngx_microshop_event_str(&e, "class", class);
    }

    microshop_json_out_int(&e.o, "issued_before", before);

    ngx_microshop_event_end(mmcf, seller, MICROSHOP_EVENT_TOKEN_REVOKED, &e);
}
