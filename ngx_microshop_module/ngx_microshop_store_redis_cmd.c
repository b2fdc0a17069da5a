/*
 * ngx_microshop: the script of an op and its KEYS and ARGV, for the Redis
 * back end (the layout each script reads is in
 * ngx_microshop_store_redis_lua.c, the key names in microshop_redis_key.h).
 * Everything is allocated from the call's pool; the client copies argv
 * before eval() returns.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_rstore.h"
#include "microshop_redis_key.h"
#include "microshop_time.h"
#include "microshop_event.h"


static ngx_int_t ngx_microshop_rstore_arg_store(ngx_microshop_rstore_args_t *a,
    char *kind, ngx_str_t *key);
static ngx_int_t ngx_microshop_rstore_arg_msg(ngx_microshop_rstore_args_t *a,
    ngx_str_t *key);
static ngx_int_t ngx_microshop_rstore_arg_enc(ngx_microshop_rstore_args_t *a,
    ngx_str_t *s);
static ngx_int_t ngx_microshop_rstore_cmd_event(ngx_microshop_op_t *op,
    ngx_microshop_rstore_args_t *a);
static ngx_int_t ngx_microshop_rstore_cmd_reserve(ngx_microshop_op_t *op,
    ngx_microshop_rstore_args_t *a);
static ngx_int_t ngx_microshop_rstore_cmd_feed(ngx_microshop_op_t *op,
    ngx_microshop_rstore_args_t *a, ngx_uint_t keep);


ngx_int_t
ngx_microshop_rstore_args_init(ngx_microshop_rstore_args_t *a,
    ngx_pool_t *pool, ngx_uint_t script, ngx_uint_t max)
{
    a->script = script;
    a->nkeys = 0;
    a->argc = 0;
    a->max = max;
    a->pool = pool;
    a->argv = ngx_palloc(pool, max * sizeof(ngx_str_t));

    return a->argv ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_microshop_rstore_arg(ngx_microshop_rstore_args_t *a, u_char *data,
    size_t len)
{
    if (a->argc == a->max) {
        return NGX_ERROR;
    }

    a->argv[a->argc].data = data;
    a->argv[a->argc].len = len;
    a->argc++;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_rstore_arg_int(ngx_microshop_rstore_args_t *a, int64_t n)
{
    u_char  *p;

    p = ngx_pnalloc(a->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_rstore_arg(a, p, ngx_sprintf(p, "%L", n) - p);
}


/* ms:{<seller>}:<kind>[:<name>] */

ngx_int_t
ngx_microshop_rstore_arg_key(ngx_microshop_rstore_args_t *a, ngx_str_t *seller,
    char *kind, ngx_str_t *name)
{
    u_char  *p;
    size_t   nlen;

    nlen = name ? name->len : 0;

    p = ngx_pnalloc(a->pool, MICROSHOP_REDIS_KEY_LEN(seller->len,
                                                     ngx_strlen(kind), nlen));
    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_rstore_arg(a, p,
               microshop_redis_key_make(p, seller->data, seller->len, kind,
                                        name ? name->data : NULL, nlen));
}


/* ms:{<seller>}: what the scripts build the hold and stock keys on */

ngx_int_t
ngx_microshop_rstore_arg_prefix(ngx_microshop_rstore_args_t *a,
    ngx_str_t *seller)
{
    return ngx_microshop_rstore_arg_key(a, seller, "", NULL);
}


/* the Redis key of a store key "seller\nname" */

static ngx_int_t
ngx_microshop_rstore_arg_store(ngx_microshop_rstore_args_t *a, char *kind,
    ngx_str_t *key)
{
    u_char  *p;

    p = ngx_pnalloc(a->pool, MICROSHOP_REDIS_KEY_LEN(key->len,
                                                     ngx_strlen(kind),
                                                     key->len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_rstore_arg(a, p,
               microshop_redis_key_store(p, kind, key->data, key->len));
}


/* the ms:inv message of a store key "seller\nsku" */

static ngx_int_t
ngx_microshop_rstore_arg_msg(ngx_microshop_rstore_args_t *a, ngx_str_t *key)
{
    u_char  *p;
    size_t   n;

    p = ngx_pnalloc(a->pool, MICROSHOP_REDIS_INV_MSG_LEN(key->len, key->len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    n = microshop_redis_key_inv_message(p, key->data, key->len);
    if (n == (size_t) -1) {
        /* not a seller's sku: no such inventory key */
        return NGX_ERROR;
    }

    return ngx_microshop_rstore_arg(a, p, n);
}


static ngx_int_t
ngx_microshop_rstore_arg_enc(ngx_microshop_rstore_args_t *a, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(a->pool, 3 * s->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_rstore_arg(a, p,
                                   microshop_redis_key_encode(p, s->data,
                                                              s->len));
}


/* a time of an op, bounded as the shm back end bounds it */

int64_t
ngx_microshop_rstore_span(int64_t ms)
{
    if (ms < 0) {
        return 0;
    }

    return ngx_min(ms, MICROSHOP_TIME_SPAN_MAX * 1000);
}


#define ngx_microshop_rstore_ok(rc)  if ((rc) != NGX_OK) return NGX_ERROR


/*
 * The script and arguments of op, whose seller (reservations) is known;
 * keep: how many events of a seller's feed are kept (store->feed_keep).
 * NGX_DECLINED: the op has no Redis script (IS_REVOKED and REVOKED_LIST
 * read the zone's copy, an unknown type; HOLD_LIST, SWEEP and SETTLE
 * without a seller go through ngx_microshop_store_redis_sellers.c).
 */

ngx_int_t
ngx_microshop_rstore_cmd(ngx_pool_t *pool, ngx_microshop_op_t *op,
    ngx_uint_t keep, ngx_microshop_rstore_args_t *a)
{
    u_char  *p;

    switch (op->type) {

    case NGX_MICROSHOP_OP_GCRA:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   NGX_MICROSHOP_REDIS_LUA_GCRA, 4));

        p = ngx_pnalloc(pool, MICROSHOP_REDIS_KEY_LEN(op->key.len, 4, 6));
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a, p,
                     microshop_redis_key_rate(p, op->key.data, op->key.len)));
        a->nkeys = 1;

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                                    op->u.gcra.interval));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                                    op->u.gcra.burst));
        return ngx_microshop_rstore_arg_int(a, op->u.gcra.cost);

    case NGX_MICROSHOP_OP_REVOKE:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   NGX_MICROSHOP_REDIS_LUA_REVOKE, 4));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a,
                                   (u_char *) "ms:revoked",
                                   sizeof("ms:revoked") - 1));
        a->nkeys = 1;

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a, op->key.data,
                                                       op->key.len));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                                       op->u.revoke.exp));
        return ngx_microshop_rstore_arg_int(a,
                                           NGX_MICROSHOP_REDIS_REVOKE_MARGIN);

    case NGX_MICROSHOP_OP_REVOKE_BEFORE:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   NGX_MICROSHOP_REDIS_LUA_REVOKE_BEFORE, 4));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a,
                                   (u_char *) "ms:watermarks",
                                   sizeof("ms:watermarks") - 1));
        a->nkeys = 1;

        /* the field: the store key, seller "\n" class */
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a, op->key.data,
                                                       op->key.len));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                                   op->u.watermark.before));
        return ngx_microshop_rstore_arg_int(a, op->u.watermark.until);

    case NGX_MICROSHOP_OP_IDEM_BEGIN:
    case NGX_MICROSHOP_OP_IDEM_COMPLETE:
    case NGX_MICROSHOP_OP_IDEM_RELEASE:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                op->type == NGX_MICROSHOP_OP_IDEM_BEGIN
                ? NGX_MICROSHOP_REDIS_LUA_IDEM_BEGIN
                : op->type == NGX_MICROSHOP_OP_IDEM_COMPLETE
                  ? NGX_MICROSHOP_REDIS_LUA_IDEM_COMPLETE
                  : NGX_MICROSHOP_REDIS_LUA_IDEM_RELEASE, 6));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_store(a, "idem",
                                                             &op->key));
        a->nkeys = 1;

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a,
                                   op->u.idem.fingerprint,
                                   NGX_MICROSHOP_FINGERPRINT_LEN));

        p = ngx_pnalloc(pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a, p,
                                   ngx_sprintf(p, "%uL", op->u.idem.owner)
                                   - p));

        if (op->type == NGX_MICROSHOP_OP_IDEM_RELEASE) {
            return NGX_OK;
        }

        if (op->type == NGX_MICROSHOP_OP_IDEM_BEGIN) {
            ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                ngx_microshop_rstore_span(op->u.idem.lock)));
            return ngx_microshop_rstore_arg_int(a,
                                ngx_microshop_rstore_span(op->u.idem.ttl));
        }

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                   op->u.idem.unavailable
                                   ? NGX_MICROSHOP_IDEM_UNAVAILABLE
                                   : NGX_MICROSHOP_IDEM_DONE));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                ngx_microshop_rstore_span(op->u.idem.ttl)));

        if (op->u.idem.unavailable) {
            return ngx_microshop_rstore_arg(a, (u_char *) "", 0);
        }

        return ngx_microshop_rstore_arg(a, op->u.idem.response.data,
                                       op->u.idem.response.len);

    case NGX_MICROSHOP_OP_INV_GET:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   NGX_MICROSHOP_REDIS_LUA_INV_GET, 4));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_store(a, "inv",
                                                             &op->key));
        a->nkeys = 1;

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                ngx_microshop_rstore_span(op->u.inv.fresh)));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                           ngx_microshop_rstore_span(op->u.inv.revalidate)));
        return ngx_microshop_rstore_arg_int(a,
                                ngx_microshop_rstore_span(op->u.inv.lock));

    case NGX_MICROSHOP_OP_INV_PUT:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   NGX_MICROSHOP_REDIS_LUA_INV_PUT, 6));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_store(a, "inv",
                                                             &op->key));
        a->nkeys = 1;

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a,
                                   op->u.inv.body.data, op->u.inv.body.len));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a,
                                   op->u.inv.etag.data, op->u.inv.etag.len));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                                   op->u.inv.version));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                ngx_microshop_rstore_span(op->u.inv.keep)));
        return ngx_microshop_rstore_arg_msg(a, &op->key);

    case NGX_MICROSHOP_OP_INV_DROP:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   NGX_MICROSHOP_REDIS_LUA_INV_DROP, 2));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_store(a, "inv",
                                                             &op->key));
        a->nkeys = 1;

        return ngx_microshop_rstore_arg_msg(a, &op->key);

    case NGX_MICROSHOP_OP_INV_FAILED:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   NGX_MICROSHOP_REDIS_LUA_INV_FAILED, 3));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_store(a, "inv",
                                                             &op->key));
        a->nkeys = 1;

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                                   op->u.inv.stored_at));
        return ngx_microshop_rstore_arg_int(a,
                                ngx_microshop_rstore_span(op->u.inv.keep));

    case NGX_MICROSHOP_OP_EVENT:
        a->pool = pool;
        return ngx_microshop_rstore_cmd_event(op, a);

    case NGX_MICROSHOP_OP_STOCK_SET:
    case NGX_MICROSHOP_OP_STOCK_GET:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   op->type == NGX_MICROSHOP_OP_STOCK_SET
                                   ? NGX_MICROSHOP_REDIS_LUA_STOCK_SET
                                   : NGX_MICROSHOP_REDIS_LUA_STOCK_GET, 2));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_store(a, "stock",
                                                             &op->key));
        a->nkeys = 1;

        if (op->type == NGX_MICROSHOP_OP_STOCK_GET) {
            return NGX_OK;
        }

        return ngx_microshop_rstore_arg_int(a, op->u.stock.available);

    case NGX_MICROSHOP_OP_RESERVE:
        a->pool = pool;
        return ngx_microshop_rstore_cmd_reserve(op, a);

    case NGX_MICROSHOP_OP_SETTLE:
    case NGX_MICROSHOP_OP_HOLD_UNKNOWN:
        if (op->u.reserve.seller.len == 0) {
            return NGX_DECLINED;
        }

        return ngx_microshop_rstore_cmd_seller(pool, op, &op->u.reserve.seller,
                                              a);

    case NGX_MICROSHOP_OP_FEED_APPEND:
    case NGX_MICROSHOP_OP_FEED_READ:
        a->pool = pool;
        return ngx_microshop_rstore_cmd_feed(op, a, keep);

    case NGX_MICROSHOP_OP_USAGE_PUT:
    case NGX_MICROSHOP_OP_USAGE_GET:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   op->type == NGX_MICROSHOP_OP_USAGE_PUT
                                   ? NGX_MICROSHOP_REDIS_LUA_USAGE_PUT
                                   : NGX_MICROSHOP_REDIS_LUA_USAGE_GET, 4));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a,
                                   (u_char *) "ms:usage",
                                   sizeof("ms:usage") - 1));
        a->nkeys = 1;

        if (op->type == NGX_MICROSHOP_OP_USAGE_PUT) {
            if (op->key.len == 0) {
                return NGX_ERROR;
            }

            ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a, op->key.data,
                                                           op->key.len));
            ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a,
                                       op->u.usage.blob.data,
                                       op->u.usage.blob.len));
        }

        return ngx_microshop_rstore_arg_int(a,
                               ngx_max(1, ngx_microshop_rstore_span(
                                              op->u.usage.keep)));

    default:
        return NGX_DECLINED;
    }
}


/*
 * The ops of one seller's holds: SETTLE, HOLD_UNKNOWN, HOLD_LIST, SWEEP;
 * seller is op's, or one of ms:sellers:holds
 */

ngx_int_t
ngx_microshop_rstore_cmd_seller(ngx_pool_t *pool, ngx_microshop_op_t *op,
    ngx_str_t *seller, ngx_microshop_rstore_args_t *a)
{
    switch (op->type) {

    case NGX_MICROSHOP_OP_SETTLE:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   NGX_MICROSHOP_REDIS_LUA_SETTLE, 6));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, seller, "hold",
                                                       &op->u.reserve.id));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, seller,
                                                           "holds", NULL));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, seller,
                                                           "offline", NULL));
        a->nkeys = 3;

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                              op->u.reserve.commit ? 1 : 0));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_prefix(a, seller));
        return ngx_microshop_rstore_arg_enc(a, &op->u.reserve.id);

    case NGX_MICROSHOP_OP_HOLD_UNKNOWN:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   NGX_MICROSHOP_REDIS_LUA_HOLD_UNKNOWN, 5));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, seller, "hold",
                                                       &op->u.reserve.id));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, seller,
                                                           "offline", NULL));
        a->nkeys = 2;

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                                   op->u.reserve.why));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_prefix(a, seller));
        return ngx_microshop_rstore_arg_enc(a, &op->u.reserve.id);

    case NGX_MICROSHOP_OP_HOLD_LIST:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   NGX_MICROSHOP_REDIS_LUA_HOLD_LIST, 4));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, seller,
                                                           "holds", NULL));
        a->nkeys = 1;

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_prefix(a, seller));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                              op->u.reserve.all ? 1 : 0));
        return ngx_microshop_rstore_arg_int(a, op->u.reserve.limit);

    case NGX_MICROSHOP_OP_SWEEP:
        ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, pool,
                                   NGX_MICROSHOP_REDIS_LUA_SWEEP, 3));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, seller,
                                                           "holds", NULL));
        a->nkeys = 1;

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_prefix(a, seller));
        return ngx_microshop_rstore_arg_int(a,
                                           NGX_MICROSHOP_REDIS_SWEEP_BATCH);

    default:
        return NGX_ERROR;
    }
}


static ngx_int_t
ngx_microshop_rstore_cmd_event(ngx_microshop_op_t *op,
    ngx_microshop_rstore_args_t *a)
{
    ngx_str_t  seller, sku;

    if (ngx_microshop_store_key_seller(&op->key, &seller) != NGX_OK) {
        return NGX_ERROR;
    }

    sku.data = op->key.data + seller.len + 1;
    sku.len = op->key.len - seller.len - 1;

    ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, a->pool,
                               NGX_MICROSHOP_REDIS_LUA_EVENT, 14));

    /* KEYS: the event id, the stock, the entry, the seller's holds and
     * offline slots */
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, &seller, "event",
                                                       &op->u.event.id));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, &seller, "stock",
                                                       &sku));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, &seller, "inv",
                                                       &sku));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, &seller, "holds",
                                                       NULL));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, &seller,
                                                       "offline", NULL));
    a->nkeys = 5;

    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                                   op->u.event.version));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                         op->u.event.has_available ? 1 : 0));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                                   op->u.event.available));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                              op->u.event.has_item ? 1 : 0));

    if (op->u.event.has_item) {
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a,
                                   op->u.event.item.data,
                                   op->u.event.item.len));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a,
                                   op->u.event.etag.data,
                                   op->u.event.etag.len));

    } else {
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a, (u_char *) "", 0));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a, (u_char *) "", 0));
    }

    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_msg(a, &op->key));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a, sku.data, sku.len));

    return ngx_microshop_rstore_arg_prefix(a, &seller);
}


static ngx_int_t
ngx_microshop_rstore_cmd_reserve(ngx_microshop_op_t *op,
    ngx_microshop_rstore_args_t *a)
{
    ngx_uint_t             i, n;
    ngx_str_t             *seller;
    ngx_microshop_line_t  *line;

    seller = &op->u.reserve.seller;
    line = op->u.reserve.lines;
    n = op->u.reserve.nlines;

    ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, a->pool,
                               NGX_MICROSHOP_REDIS_LUA_RESERVE,
                               3 + n + 4 + 3 * n));

    /* KEYS: the hold, the seller's holds and offline slots, the stock of
     * every line */
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, seller, "hold",
                                                       &op->u.reserve.id));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, seller, "holds",
                                                       NULL));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, seller, "offline",
                                                       NULL));

    for (i = 0; i < n; i++) {
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, seller, "stock",
                                                           &line[i].sku));
    }

    a->nkeys = 3 + n;

    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a, op->u.reserve.id.data,
                                                   op->u.reserve.id.len));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_enc(a,
                                                       &op->u.reserve.id));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                              ngx_microshop_rstore_span(op->u.reserve.hold)));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                              op->u.reserve.offline_max));

    for (i = 0; i < n; i++) {
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a, line[i].sku.data,
                                                       line[i].sku.len));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_enc(a, &line[i].sku));
        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a,
                                                         line[i].quantity));
    }

    return NGX_OK;
}


/* a seller's feed, its stream ms:{<seller>}:events (docs/redis.md) */

static ngx_int_t
ngx_microshop_rstore_cmd_feed(ngx_microshop_op_t *op,
    ngx_microshop_rstore_args_t *a, ngx_uint_t keep)
{
    u_char      *p;
    const char  *name;

    if (op->key.len == 0) {
        return NGX_ERROR;
    }

    ngx_microshop_rstore_ok(ngx_microshop_rstore_args_init(a, a->pool,
                               op->type == NGX_MICROSHOP_OP_FEED_APPEND
                               ? NGX_MICROSHOP_REDIS_LUA_FEED_APPEND
                               : NGX_MICROSHOP_REDIS_LUA_FEED_READ, 5));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_key(a, &op->key,
                                                       "events", NULL));
    a->nkeys = 1;

    if (op->type == NGX_MICROSHOP_OP_FEED_READ) {
        p = ngx_pnalloc(a->pool, MICROSHOP_EVENT_ID_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a, p,
                         microshop_event_id_format(&op->u.feed.after,
                                                   (char *) p)));

        return ngx_microshop_rstore_arg_int(a, op->u.feed.limit);
    }

    name = microshop_event_type_name(op->u.feed.type);
    if (name == NULL) {
        return NGX_ERROR;
    }

    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg_int(a, keep ? keep : 1));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a, (u_char *) name,
                                                   ngx_strlen(name)));
    ngx_microshop_rstore_ok(ngx_microshop_rstore_arg(a,
                               op->u.feed.data.data, op->u.feed.data.len));

    return ngx_microshop_rstore_arg(a, op->key.data, op->key.len);
}
