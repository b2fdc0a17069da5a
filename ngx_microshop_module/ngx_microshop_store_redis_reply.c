/*
 * ngx_microshop: a script's reply into the op, for the Redis back end:
 * every out field the shm back end sets, strings copied into op->pool
 * (the reply is freed once the handler returns).  A reply of another
 * shape than its script returns (an error reply, a protocol surprise) is
 * NGX_ERROR: the caller applies the outage policy.  It only reads
 * replies (and counts in the zone what a reply changed): what a reply
 * sets off is for the files above it (ngx_microshop_rstore.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_rstore.h"


static ngx_int_t ngx_microshop_rstore_ints(redisReply *reply, ngx_uint_t n,
    int64_t *v);
static ngx_int_t ngx_microshop_rstore_reply_reserve(ngx_microshop_op_t *op,
    redisReply *reply);
static ngx_int_t ngx_microshop_rstore_reply_feed(ngx_microshop_op_t *op,
    redisReply *reply);
static ngx_int_t ngx_microshop_rstore_reply_usage(ngx_microshop_op_t *op,
    redisReply *reply);
static ngx_int_t ngx_microshop_rstore_event_id(redisReply *reply,
    microshop_event_id_t *id);
static int ngx_libc_cdecl ngx_microshop_rstore_older(const void *one,
    const void *two);


ngx_int_t
ngx_microshop_rstore_int(redisReply *reply, int64_t *n)
{
    if (reply->type == REDIS_REPLY_INTEGER) {
        *n = reply->integer;
        return NGX_OK;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return NGX_ERROR;
    }

    /* a zset score: an integer as a string */
    return ngx_microshop_rstore_atoi((u_char *) reply->str, reply->len, n);
}


/* a decimal integer, maybe negative, of at most 18 digits */

ngx_int_t
ngx_microshop_rstore_atoi(u_char *p, size_t len, int64_t *n)
{
    u_char  *end;
    int64_t  v, sign;

    end = p + len;
    sign = 1;

    if (p < end && *p == '-') {
        sign = -1;
        p++;
    }

    if (p == end || end - p > 18) {
        return NGX_ERROR;
    }

    for (v = 0; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        v = v * 10 + (*p - '0');
    }

    *n = sign * v;

    return NGX_OK;
}


/* the first n elements of an array reply, integers */

static ngx_int_t
ngx_microshop_rstore_ints(redisReply *reply, ngx_uint_t n, int64_t *v)
{
    ngx_uint_t  i;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < n) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (ngx_microshop_rstore_int(reply->element[i], &v[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_microshop_rstore_dup(ngx_pool_t *pool, ngx_str_t *dst, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_STRING || pool == NULL) {
        return NGX_ERROR;
    }

    dst->len = reply->len;
    dst->data = ngx_pnalloc(pool, reply->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, reply->str, reply->len);

    return NGX_OK;
}


ngx_int_t
ngx_microshop_rstore_reply(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op, redisReply *reply)
{
    int64_t  v[6];

    switch (op->type) {

    case NGX_MICROSHOP_OP_GCRA:
        if (ngx_microshop_rstore_ints(reply, 4, v) != NGX_OK) {
            return NGX_ERROR;
        }

        op->u.gcra.result.allowed = (v[0] == 1);
        op->u.gcra.result.remaining = v[1];
        op->u.gcra.result.retry_after = v[2];
        op->u.gcra.result.reset_after = v[3];
        op->rc = op->u.gcra.result.allowed ? NGX_OK : NGX_DECLINED;
        return NGX_OK;

    case NGX_MICROSHOP_OP_IDEM_BEGIN:
        if (ngx_microshop_rstore_ints(reply, 1, v) != NGX_OK
            || v[0] < NGX_MICROSHOP_IDEM_NEW
            || v[0] > NGX_MICROSHOP_IDEM_UNAVAILABLE)
        {
            return NGX_ERROR;
        }

        op->u.idem.result = (ngx_uint_t) v[0];
        op->rc = NGX_OK;

        if (v[0] != NGX_MICROSHOP_IDEM_DONE) {
            return NGX_OK;
        }

        if (reply->elements < 2
            || ngx_microshop_rstore_dup(op->pool, &op->u.idem.response,
                                       reply->element[1])
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;

    case NGX_MICROSHOP_OP_INV_GET:
        if (reply->type == REDIS_REPLY_NIL) {
            op->rc = NGX_DECLINED;
            return NGX_OK;
        }

        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6
            || ngx_microshop_rstore_int(reply->element[2], &v[2]) != NGX_OK
            || ngx_microshop_rstore_int(reply->element[3], &v[3]) != NGX_OK
            || ngx_microshop_rstore_int(reply->element[4], &v[4]) != NGX_OK
            || ngx_microshop_rstore_int(reply->element[5], &v[5]) != NGX_OK
            || ngx_microshop_rstore_dup(op->pool, &op->u.inv.body,
                                       reply->element[0])
               != NGX_OK
            || ngx_microshop_rstore_dup(op->pool, &op->u.inv.etag,
                                       reply->element[1])
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        op->u.inv.stored_at = v[2];
        op->u.inv.version = v[3];
        op->u.inv.failed = (v[4] == 1);
        op->u.inv.refresh = (v[5] == 1);
        op->rc = NGX_OK;
        return NGX_OK;

    case NGX_MICROSHOP_OP_EVENT:
        if (ngx_microshop_rstore_ints(reply, 3, v) != NGX_OK
            || v[0] < NGX_MICROSHOP_EVENT_ACCEPTED
            || v[0] > NGX_MICROSHOP_EVENT_STALE)
        {
            return NGX_ERROR;
        }

        op->u.event.result = (ngx_uint_t) v[0];
        op->rc = NGX_OK;
        return NGX_OK;

    case NGX_MICROSHOP_OP_STOCK_SET:
        if (ngx_microshop_rstore_int(reply, &v[0]) != NGX_OK) {
            return NGX_ERROR;
        }

        op->u.stock.held = v[0];
        op->rc = NGX_OK;
        return NGX_OK;

    case NGX_MICROSHOP_OP_STOCK_GET:
        if (reply->type == REDIS_REPLY_NIL) {
            op->rc = NGX_DECLINED;
            return NGX_OK;
        }

        if (ngx_microshop_rstore_ints(reply, 2, v) != NGX_OK) {
            return NGX_ERROR;
        }

        op->u.stock.available = v[0];
        op->u.stock.held = v[1];
        op->rc = NGX_OK;
        return NGX_OK;

    case NGX_MICROSHOP_OP_RESERVE:
        return ngx_microshop_rstore_reply_reserve(op, reply);

    case NGX_MICROSHOP_OP_FEED_READ:
        return ngx_microshop_rstore_reply_feed(op, reply);

    case NGX_MICROSHOP_OP_USAGE_GET:
        return ngx_microshop_rstore_reply_usage(op, reply);

    case NGX_MICROSHOP_OP_SETTLE:
        if (ngx_microshop_rstore_ints(reply, 1, v) != NGX_OK) {
            return NGX_ERROR;
        }

        op->rc = (v[0] == 1) ? NGX_OK : NGX_DECLINED;
        return NGX_OK;

    case NGX_MICROSHOP_OP_REVOKE:
    case NGX_MICROSHOP_OP_REVOKE_BEFORE:
    case NGX_MICROSHOP_OP_IDEM_COMPLETE:
    case NGX_MICROSHOP_OP_IDEM_RELEASE:
    case NGX_MICROSHOP_OP_INV_PUT:
    case NGX_MICROSHOP_OP_INV_DROP:
    case NGX_MICROSHOP_OP_INV_FAILED:
    case NGX_MICROSHOP_OP_HOLD_UNKNOWN:
    case NGX_MICROSHOP_OP_FEED_APPEND:
    case NGX_MICROSHOP_OP_USAGE_PUT:
        if (ngx_microshop_rstore_int(reply, &v[0]) != NGX_OK) {
            return NGX_ERROR;
        }

        op->rc = (v[0] == 1) ? NGX_OK : NGX_DECLINED;
        return NGX_OK;

    default:
        return NGX_ERROR;
    }
}


/*
 * {ok, held, an offline slot taken, short_of_stock of each line}, then
 * once held the available and held units of each line (-1: not managed)
 */

#define NGX_MICROSHOP_RESERVE_HEAD  3

static ngx_int_t
ngx_microshop_rstore_reply_reserve(ngx_microshop_op_t *op, redisReply *reply)
{
    int64_t                v[NGX_MICROSHOP_RESERVE_HEAD], flag, a, h;
    ngx_uint_t             i, n, k, stock;
    ngx_microshop_line_t  *line;

    n = op->u.reserve.nlines;
    k = NGX_MICROSHOP_RESERVE_HEAD;

    if (ngx_microshop_rstore_ints(reply, k, v) != NGX_OK
        || (reply->elements != k + n && reply->elements != k + 3 * n))
    {
        return NGX_ERROR;
    }

    stock = (reply->elements == k + 3 * n && n > 0);

    for (i = 0; i < n; i++) {
        line = &op->u.reserve.lines[i];

        if (ngx_microshop_rstore_int(reply->element[k + i], &flag) != NGX_OK) {
            return NGX_ERROR;
        }

        line->short_of_stock = (flag == 1);
        line->available = -1;
        line->held = -1;

        if (!stock) {
            continue;
        }

        if (ngx_microshop_rstore_int(reply->element[k + n + 2 * i], &a)
            != NGX_OK
            || ngx_microshop_rstore_int(reply->element[k + 1 + n + 2 * i], &h)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        line->available = a;
        line->held = h;
    }

    op->u.reserve.held = (v[1] == 1);
    op->u.reserve.offline = (v[1] == 1 && v[2] == 1);
    op->rc = (v[0] == 1) ? NGX_OK : NGX_DECLINED;

    return NGX_OK;
}


/*
 * A FEED_READ's reply: {last id, missed, then id, type, data of each
 * event}; every event's data NUL-terminated, as the shm store leaves it
 */

static ngx_int_t
ngx_microshop_rstore_reply_feed(ngx_microshop_op_t *op, redisReply *reply)
{
    int                          type;
    int64_t                      missed;
    redisReply                 **e;
    ngx_uint_t                   i, n;
    ngx_microshop_feed_event_t  *ev;

    op->u.feed.events = NULL;
    op->u.feed.nevents = 0;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || (reply->elements - 2) % 3 != 0
        || ngx_microshop_rstore_event_id(reply->element[0], &op->u.feed.last)
           != NGX_OK
        || ngx_microshop_rstore_int(reply->element[1], &missed) != NGX_OK
        || op->pool == NULL)
    {
        return NGX_ERROR;
    }

    n = (reply->elements - 2) / 3;

    if (n > op->u.feed.limit) {
        return NGX_ERROR;
    }

    op->u.feed.missed = (missed == 1);

    if (n == 0) {
        op->rc = NGX_OK;
        return NGX_OK;
    }

    ev = ngx_pcalloc(op->pool, n * sizeof(ngx_microshop_feed_event_t));
    if (ev == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        e = &reply->element[2 + 3 * i];

        if (ngx_microshop_rstore_event_id(e[0], &ev[i].id) != NGX_OK
            || e[1]->type != REDIS_REPLY_STRING
            || ngx_microshop_rstore_dup(op->pool, &ev[i].data, e[2])
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        type = microshop_event_type_find(e[1]->str, e[1]->len);
        if (type < 0) {
            /* only the gateway writes the stream */
            return NGX_ERROR;
        }

        ev[i].type = (ngx_uint_t) type;
        ev[i].data.data[ev[i].data.len] = '\0';
    }

    op->u.feed.events = ev;
    op->u.feed.nevents = n;
    op->rc = NGX_OK;

    return NGX_OK;
}


/* a USAGE_GET's reply: {node, export, ...}, copied into op->pool */

static ngx_int_t
ngx_microshop_rstore_reply_usage(ngx_microshop_op_t *op, redisReply *reply)
{
    ngx_uint_t                   i, n;
    ngx_microshop_usage_blob_t  *nodes;

    op->u.usage.nodes = NULL;
    op->u.usage.nnodes = 0;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0
        || op->pool == NULL)
    {
        return NGX_ERROR;
    }

    n = reply->elements / 2;

    if (n == 0) {
        op->rc = NGX_OK;
        return NGX_OK;
    }

    nodes = ngx_pcalloc(op->pool, n * sizeof(ngx_microshop_usage_blob_t));
    if (nodes == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (ngx_microshop_rstore_dup(op->pool, &nodes[i].node,
                                     reply->element[2 * i])
            != NGX_OK
            || ngx_microshop_rstore_dup(op->pool, &nodes[i].blob,
                                        reply->element[2 * i + 1])
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    op->u.usage.nodes = nodes;
    op->u.usage.nnodes = n;
    op->rc = NGX_OK;

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_rstore_event_id(redisReply *reply, microshop_event_id_t *id)
{
    if (reply->type != REDIS_REPLY_STRING
        || microshop_event_id_parse(reply->str, reply->len, id) != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * What a reply changed that is counted in this node's zone: done for
 * every reply, whether its op is still awaited or not.
 */

void
ngx_microshop_rstore_effects(ngx_microshop_rstore_call_t *call,
    redisReply *reply)
{
    int64_t                v[3];
    ngx_microshop_zone_t  *zone;

    zone = call->rs->store->local;

    switch (call->type) {

    case NGX_MICROSHOP_OP_EVENT:
        if (ngx_microshop_rstore_ints(reply, 3, v) != NGX_OK) {
            return;
        }

        if (v[1] > 0) {
            ngx_microshop_zone_count(zone,
                                     NGX_MICROSHOP_COUNTER_SETTLED_EVENT,
                                     (ngx_atomic_int_t) v[1]);
        }

        if (v[2] > 0) {
            ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_HOLDS_PENDING,
                                     (ngx_atomic_int_t) -v[2]);
        }

        return;

    case NGX_MICROSHOP_OP_SETTLE:
        if (ngx_microshop_rstore_ints(reply, 2, v) == NGX_OK && v[1] == 1) {
            ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_HOLDS_PENDING,
                                     (ngx_atomic_int_t) -1);
        }

        return;

    default:
        return;
    }
}


/* 1: a RESERVE's reply says it made a hold */

ngx_uint_t
ngx_microshop_rstore_reply_held(redisReply *reply)
{
    int64_t  v[2];

    return ngx_microshop_rstore_ints(reply, 2, v) == NGX_OK && v[1] == 1;
}


/*
 * A seller's HOLD_LIST reply: {total, then id, created, deadline, state,
 * why, nlines, sku, quantity, ... of each hold}, added to the call's
 */

ngx_int_t
ngx_microshop_rstore_reply_holds(ngx_microshop_rstore_call_t *call,
    ngx_str_t *seller, redisReply *reply)
{
    int64_t                v[5], total, n, q;
    ngx_uint_t             i, k;
    ngx_microshop_hold_t  *h;
    ngx_microshop_line_t  *line;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || ngx_microshop_rstore_int(reply->element[0], &total) != NGX_OK)
    {
        return NGX_ERROR;
    }

    call->total += (ngx_uint_t) total;

    for (i = 1; i < reply->elements; /* void */) {

        if (reply->elements - i < 6) {
            return NGX_ERROR;
        }

        for (k = 0; k < 5; k++) {
            if (ngx_microshop_rstore_int(reply->element[i + 1 + k], &v[k])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        n = v[4];

        if (n < 0 || (int64_t) (reply->elements - i - 6) < 2 * n) {
            return NGX_ERROR;
        }

        h = ngx_array_push(&call->holds);
        if (h == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(h, sizeof(ngx_microshop_hold_t));

        if (ngx_microshop_rstore_dup(call->pool, &h->id, reply->element[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        h->seller = *seller;
        h->created = v[0];
        h->deadline = v[1];
        h->state = (ngx_uint_t) v[2];
        h->why = (ngx_uint_t) v[3];
        h->lines = ngx_pcalloc(call->pool,
                               (n + 1) * sizeof(ngx_microshop_line_t));
        if (h->lines == NULL) {
            return NGX_ERROR;
        }

        i += 6;

        for (k = 0; k < (ngx_uint_t) n; k++, i += 2) {
            line = &h->lines[h->nlines++];

            if (ngx_microshop_rstore_dup(call->pool, &line->sku,
                                        reply->element[i])
                != NGX_OK
                || ngx_microshop_rstore_int(reply->element[i + 1], &q)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            line->quantity = q;
        }
    }

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_microshop_rstore_older(const void *one, const void *two)
{
    const ngx_microshop_hold_t  *a = one, *b = two;

    return (a->created > b->created) - (a->created < b->created);
}


/* the oldest holds of every seller's, at most limit, into op->pool */

ngx_int_t
ngx_microshop_rstore_deliver_holds(ngx_microshop_rstore_call_t *call,
    ngx_microshop_op_t *op)
{
    ngx_uint_t             i, k, n;
    ngx_microshop_hold_t  *h, *from;

    op->u.reserve.holds = NULL;
    op->u.reserve.nholds = 0;
    op->u.reserve.total = call->total;

    from = call->holds.elts;
    n = ngx_min(call->holds.nelts, op->u.reserve.limit);

    if (n == 0) {
        return NGX_OK;
    }

    ngx_qsort(from, call->holds.nelts, sizeof(ngx_microshop_hold_t),
              ngx_microshop_rstore_older);

    h = ngx_pcalloc(op->pool, n * sizeof(ngx_microshop_hold_t));
    if (h == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        h[i] = from[i];
        h[i].lines = ngx_pcalloc(op->pool, (from[i].nlines + 1)
                                           * sizeof(ngx_microshop_line_t));
        h[i].id.data = ngx_pnalloc(op->pool, from[i].id.len
                                             + from[i].seller.len + 1);

        if (h[i].lines == NULL || h[i].id.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(h[i].id.data, from[i].id.data, from[i].id.len);
        h[i].seller.data = h[i].id.data + from[i].id.len;
        ngx_memcpy(h[i].seller.data, from[i].seller.data, from[i].seller.len);

        for (k = 0; k < from[i].nlines; k++) {
            h[i].lines[k] = from[i].lines[k];
            h[i].lines[k].sku.data = ngx_pnalloc(op->pool,
                                                 from[i].lines[k].sku.len + 1);
            if (h[i].lines[k].sku.data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(h[i].lines[k].sku.data, from[i].lines[k].sku.data,
                       from[i].lines[k].sku.len);
        }
    }

    op->u.reserve.holds = h;
    op->u.reserve.nholds = n;

    return NGX_OK;
}
