/*
 * ngx_microshop: what the Redis back end keeps on the node, in sync with
 * Redis (docs/redis.md "What is exact, what is eventually consistent"):
 *
 * Revocations: every REVOKE is written to Redis and to the zone, and
 * published on ms:revoke ("<exp> <jti>"); every node copies what it
 * hears into its zone, and after every connect loads the whole set
 * (whatever was published while it was away).  IS_REVOKED reads the zone.
 *
 * Inventory: a node keeps a local copy of an entry it read from Redis in
 * the zone (key NGX_MICROSHOP_REDIS_COPY + the store key, the entry's own
 * stored_at and version ahead of its body) and answers an INV_GET from it
 * while the copy is younger than NGX_MICROSHOP_REDIS_INV_COPY and the
 * op's fresh=, and the entry is fresh: a cached read costs no round trip.
 * A put, a drop or an event of any node publishes "<seller>\n<sku>" on
 * ms:inv: every node drops its copy.  A reply that was asked for before
 * an invalidation arrived is not copied (rs->epoch), and copies made
 * before a connect are not used (rs->ready_at): a message missed while
 * the node was away never leaves a stale copy in use.
 *
 * Under ngx_microshop_store_redis.c (which sets the client's ready and
 * message hooks to this file's); above _outage.c, _reply.c and _call.c
 * (ngx_microshop_rstore.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_rstore.h"
#include "microshop_redis_key.h"


/* the local copy's value: the entry's stored_at and version, its body */
#define NGX_MICROSHOP_REDIS_COPY_HEAD  (2 * sizeof(int64_t))

/* a store key longer than this has no local copy */
#define NGX_MICROSHOP_REDIS_COPY_KEY   1024


static ngx_int_t ngx_microshop_rstore_copy_key(ngx_str_t *key, u_char *buf,
    ngx_str_t *copy);
static void ngx_microshop_rstore_revoke_message(
    ngx_microshop_rstore_store_t *rs, ngx_str_t *message);
static void ngx_microshop_rstore_revoke_copy(ngx_microshop_rstore_store_t *rs,
    u_char *jti, size_t len, int64_t exp);
static void ngx_microshop_rstore_revoked_load(ngx_microshop_rstore_store_t *rs);
static void ngx_microshop_rstore_revoked_loaded(
    ngx_microshop_rstore_call_t *call, ngx_uint_t status, redisReply *reply);


void
ngx_microshop_rstore_message(void *data, ngx_str_t *channel,
    ngx_str_t *message)
{
    u_char                         buf[NGX_MICROSHOP_REDIS_COPY_KEY];
    size_t                         n;
    ngx_str_t                      key;
    ngx_microshop_rstore_store_t  *rs = data;

    if (channel->len == sizeof("ms:revoke") - 1
        && ngx_strncmp(channel->data, "ms:revoke", channel->len) == 0)
    {
        ngx_microshop_rstore_revoke_message(rs, message);
        return;
    }

    if (channel->len != sizeof("ms:inv") - 1
        || ngx_strncmp(channel->data, "ms:inv", channel->len) != 0)
    {
        return;
    }

    /* whatever is asked for now was asked for before this change */
    rs->epoch++;

    if (message->len > sizeof(buf)) {
        return;
    }

    n = microshop_redis_key_inv_parse(buf, message->data, message->len);

    if (n == (size_t) -1) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "microshop redis: a message on ms:inv that is not "
                      "\"<seller>\\n<sku>\" ignored");
        return;
    }

    key.data = buf;
    key.len = n;

    ngx_microshop_rstore_copy_drop(rs, &key);
}


static void
ngx_microshop_rstore_revoke_message(ngx_microshop_rstore_store_t *rs,
    ngx_str_t *message)
{
    u_char  *sp, *end;
    int64_t  exp;

    end = message->data + message->len;
    sp = ngx_strlchr(message->data, end, ' ');

    if (sp == NULL || sp + 1 == end
        || ngx_microshop_rstore_atoi(message->data, sp - message->data, &exp)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "microshop redis: a message on ms:revoke that is not "
                      "\"<exp> <jti>\" ignored");
        return;
    }

    ngx_microshop_rstore_revoke_copy(rs, sp + 1, end - sp - 1, exp);
}


static void
ngx_microshop_rstore_revoke_copy(ngx_microshop_rstore_store_t *rs, u_char *jti,
    size_t len, int64_t exp)
{
    ngx_microshop_op_t  op;

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));

    op.type = NGX_MICROSHOP_OP_REVOKE;
    op.key.data = jti;
    op.key.len = len;
    op.u.revoke.exp = exp;

    (void) ngx_microshop_store_exec(&rs->inner, &op);

    if (op.rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "microshop redis: no room in the zone for the "
                      "revocation of \"%*s\"", ngx_min(len, 64), jti);
    }
}


/*
 * After every connect: what was published while this worker was away is
 * loaded or forgotten, and the releases kept meanwhile are sent.
 */

void
ngx_microshop_rstore_ready(void *data)
{
    ngx_microshop_rstore_store_t  *rs = data;

    rs->ready_at = ngx_microshop_now_ms();
    rs->epoch++;

    ngx_microshop_rstore_revoked_load(rs);
    ngx_microshop_rstore_flush_retry(rs);
}


static void
ngx_microshop_rstore_revoked_load(ngx_microshop_rstore_store_t *rs)
{
    ngx_microshop_rstore_args_t   a;
    ngx_microshop_rstore_call_t  *call;

    call = ngx_microshop_rstore_call_bare(rs,
                                         ngx_microshop_rstore_revoked_loaded);
    if (call == NULL) {
        return;
    }

    if (ngx_microshop_rstore_args_init(&a, call->pool,
                                      NGX_MICROSHOP_REDIS_LUA_REVOKED_LOAD, 2)
        != NGX_OK
        || ngx_microshop_rstore_arg(&a, (u_char *) "ms:revoked",
                                   sizeof("ms:revoked") - 1)
           != NGX_OK
        || ngx_microshop_rstore_arg_int(&a, NGX_MICROSHOP_REDIS_REVOKE_MARGIN)
           != NGX_OK)
    {
        ngx_destroy_pool(call->pool);
        return;
    }

    a.nkeys = 1;

    if (ngx_microshop_rstore_send(call, &a) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "microshop redis: the revocations could not be "
                      "loaded");
        ngx_destroy_pool(call->pool);
    }
}


static void
ngx_microshop_rstore_revoked_loaded(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply)
{
    int64_t     exp;
    ngx_uint_t  i;

    if (status != NGX_MICROSHOP_REDIS_REPLY
        || reply->type != REDIS_REPLY_ARRAY || reply->elements % 2)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "microshop redis: the revocations could not be "
                      "loaded, the node keeps its copy");
        ngx_microshop_rstore_finish(call, status);
        return;
    }

    for (i = 0; i < reply->elements; i += 2) {
        if (reply->element[i]->type != REDIS_REPLY_STRING
            || ngx_microshop_rstore_int(reply->element[i + 1], &exp) != NGX_OK)
        {
            continue;
        }

        ngx_microshop_rstore_revoke_copy(call->rs,
                                        (u_char *) reply->element[i]->str,
                                        reply->element[i]->len, exp);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "microshop redis: %ui revocations loaded",
                   reply->elements / 2);

    /* from now on the zone's copy answers IS_REVOKED (it survives reloads
     * with the zone) */
    (void) ngx_atomic_cmp_set(
               &call->rs->store->local->sh->counters[
                   NGX_MICROSHOP_COUNTER_REDIS_SYNCED], 0, 1);

    ngx_microshop_rstore_finish(call, status);
}


/* inventory: the local copies */

static ngx_int_t
ngx_microshop_rstore_copy_key(ngx_str_t *key, u_char *buf, ngx_str_t *copy)
{
    if (key->len + 1 > NGX_MICROSHOP_REDIS_COPY_KEY) {
        return NGX_DECLINED;
    }

    buf[0] = NGX_MICROSHOP_REDIS_COPY;
    ngx_memcpy(buf + 1, key->data, key->len);

    copy->data = buf;
    copy->len = key->len + 1;

    return NGX_OK;
}


/* NGX_OK: op answered from the local copy */

ngx_int_t
ngx_microshop_rstore_copy_get(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op)
{
    u_char              buf[NGX_MICROSHOP_REDIS_COPY_KEY];
    int64_t             fresh, now, head[2];
    ngx_microshop_op_t  get;

    fresh = ngx_microshop_rstore_span(op->u.inv.fresh);

    if (fresh == 0 || op->pool == NULL) {
        /* stale at once: every read asks Redis (the refresh lock) */
        return NGX_DECLINED;
    }

    ngx_memzero(&get, sizeof(ngx_microshop_op_t));

    if (ngx_microshop_rstore_copy_key(&op->key, buf, &get.key) != NGX_OK) {
        return NGX_DECLINED;
    }

    get.type = NGX_MICROSHOP_OP_INV_GET;
    get.pool = op->pool;

    (void) ngx_microshop_store_exec(&rs->inner, &get);

    if (get.rc != NGX_OK
        || get.u.inv.body.len < NGX_MICROSHOP_REDIS_COPY_HEAD)
    {
        return NGX_DECLINED;
    }

    ngx_memcpy(head, get.u.inv.body.data, NGX_MICROSHOP_REDIS_COPY_HEAD);

    now = ngx_microshop_now_ms();

    if (get.u.inv.stored_at <= rs->ready_at
        || now - get.u.inv.stored_at >= ngx_min(fresh,
                                                NGX_MICROSHOP_REDIS_INV_COPY)
        || now - head[0] >= fresh)
    {
        return NGX_DECLINED;
    }

    op->u.inv.body.data = get.u.inv.body.data + NGX_MICROSHOP_REDIS_COPY_HEAD;
    op->u.inv.body.len = get.u.inv.body.len - NGX_MICROSHOP_REDIS_COPY_HEAD;
    op->u.inv.etag = get.u.inv.etag;
    op->u.inv.stored_at = head[0];
    op->u.inv.version = head[1];
    op->u.inv.refresh = 0;
    op->u.inv.failed = 0;
    op->rc = NGX_OK;

    return NGX_OK;
}


/* op: an INV_GET Redis answered with a fresh entry */

void
ngx_microshop_rstore_copy_put(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op)
{
    u_char              buf[NGX_MICROSHOP_REDIS_COPY_KEY], *p;
    int64_t             fresh, head[2];
    ngx_microshop_op_t  put;

    fresh = ngx_microshop_rstore_span(op->u.inv.fresh);

    if (fresh == 0 || op->u.inv.refresh
        || ngx_microshop_now_ms() - op->u.inv.stored_at >= fresh)
    {
        /* a copy of a stale entry would never answer */
        return;
    }

    ngx_memzero(&put, sizeof(ngx_microshop_op_t));

    if (ngx_microshop_rstore_copy_key(&op->key, buf, &put.key) != NGX_OK) {
        return;
    }

    p = ngx_pnalloc(op->pool,
                    NGX_MICROSHOP_REDIS_COPY_HEAD + op->u.inv.body.len);
    if (p == NULL) {
        return;
    }

    head[0] = op->u.inv.stored_at;
    head[1] = op->u.inv.version;

    ngx_memcpy(p, head, NGX_MICROSHOP_REDIS_COPY_HEAD);
    (void) ngx_microshop_cpymem(p + NGX_MICROSHOP_REDIS_COPY_HEAD,
                                op->u.inv.body.data, op->u.inv.body.len);

    put.type = NGX_MICROSHOP_OP_INV_PUT;
    put.pool = op->pool;
    put.u.inv.body.data = p;
    put.u.inv.body.len = NGX_MICROSHOP_REDIS_COPY_HEAD + op->u.inv.body.len;
    put.u.inv.etag = op->u.inv.etag;
    put.u.inv.keep = NGX_MICROSHOP_REDIS_INV_COPY;

    /* no room in the zone: no copy, the next read asks Redis */
    (void) ngx_microshop_store_exec(&rs->inner, &put);
}


void
ngx_microshop_rstore_copy_drop(ngx_microshop_rstore_store_t *rs, ngx_str_t *key)
{
    u_char              buf[NGX_MICROSHOP_REDIS_COPY_KEY];
    ngx_microshop_op_t  drop;

    ngx_memzero(&drop, sizeof(ngx_microshop_op_t));

    if (ngx_microshop_rstore_copy_key(key, buf, &drop.key) != NGX_OK) {
        return;
    }

    drop.type = NGX_MICROSHOP_OP_INV_DROP;

    (void) ngx_microshop_store_exec(&rs->inner, &drop);
}
