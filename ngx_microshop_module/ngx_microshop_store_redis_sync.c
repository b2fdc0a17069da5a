/*
 * ngx_microshop: what the Redis back end keeps on the node, in sync with
 * Redis (docs/redis.md "What is kept where"):
 *
 * Revocations: every REVOKE is written to Redis and to the zone, and
 * published on ms:revoke ("<exp> <jti>"); every REVOKE_BEFORE (a
 * watermark) likewise, on ms:watermark ("<before> <until> <seller>\n
 * <class>"); every node copies what it hears into its zone, and after
 * every connect loads both whole sets (whatever was published while it
 * was away), the jtis then the watermarks.  IS_REVOKED and REVOKED_LIST
 * read the zone.
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
 * Feeds: every FEED_APPEND publishes its seller on ms:events; each node
 * that hears it counts it (ngx_microshop_store_feed_heard), which wakes
 * its waiting readers (ngx_microshop_feed_wait.h).
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
static void ngx_microshop_rstore_watermark_message(
    ngx_microshop_rstore_store_t *rs, ngx_str_t *message);
static ngx_int_t ngx_microshop_rstore_watermark_copy(
    ngx_microshop_rstore_store_t *rs, u_char *value, size_t vlen,
    u_char *field, size_t flen);
static void ngx_microshop_rstore_load(ngx_microshop_rstore_store_t *rs,
    ngx_uint_t n);
static void ngx_microshop_rstore_revoked_loaded(
    ngx_microshop_rstore_call_t *call, ngx_uint_t status, redisReply *reply);
static void ngx_microshop_rstore_watermarks_loaded(
    ngx_microshop_rstore_call_t *call, ngx_uint_t status, redisReply *reply);
static void ngx_microshop_rstore_loaded(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply, ngx_uint_t n);
static ngx_int_t ngx_microshop_rstore_revoked_pair(
    ngx_microshop_rstore_store_t *rs, redisReply *member, redisReply *value);
static ngx_int_t ngx_microshop_rstore_watermark_pair(
    ngx_microshop_rstore_store_t *rs, redisReply *member, redisReply *value);


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

    if (channel->len == sizeof("ms:watermark") - 1
        && ngx_strncmp(channel->data, "ms:watermark", channel->len) == 0)
    {
        ngx_microshop_rstore_watermark_message(rs, message);
        return;
    }

    if (channel->len == sizeof("ms:events") - 1
        && ngx_strncmp(channel->data, "ms:events", channel->len) == 0)
    {
        /* an event was written to a seller's feed, by any node: this
         * worker's waiting readers read again at its next tick */
        ngx_microshop_store_feed_heard++;
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

    ngx_microshop_rstore_load(rs, 0);
    ngx_microshop_rstore_flush_retry(rs);
}


/* "<before> <until> <seller>\n<class>" */

static void
ngx_microshop_rstore_watermark_message(ngx_microshop_rstore_store_t *rs,
    ngx_str_t *message)
{
    u_char  *sp, *end;

    end = message->data + message->len;
    sp = ngx_strlchr(message->data, end, ' ');

    if (sp) {
        sp = ngx_strlchr(sp + 1, end, ' ');
    }

    if (sp == NULL
        || ngx_microshop_rstore_watermark_copy(rs, message->data,
                                               sp - message->data, sp + 1,
                                               end - sp - 1)
           == NGX_DECLINED)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "microshop redis: a message on ms:watermark that is "
                      "not \"<before> <until> <seller>\\n<class>\" "
                      "ignored");
    }
}


/*
 * The watermark of field (seller "\n" class) whose value is "<before>
 * <until>" into the zone.  NGX_DECLINED: not such a pair.
 */

static ngx_int_t
ngx_microshop_rstore_watermark_copy(ngx_microshop_rstore_store_t *rs,
    u_char *value, size_t vlen, u_char *field, size_t flen)
{
    u_char              *sp;
    ngx_microshop_op_t   op;

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));

    sp = ngx_strlchr(value, value + vlen, ' ');

    if (sp == NULL
        || ngx_microshop_rstore_atoi(value, sp - value,
                                     &op.u.watermark.before)
           != NGX_OK
        || ngx_microshop_rstore_atoi(sp + 1, value + vlen - sp - 1,
                                     &op.u.watermark.until)
           != NGX_OK
        || ngx_strlchr(field, field + flen, '\n') == NULL
        || field[0] == '\n')
    {
        return NGX_DECLINED;
    }

    op.type = NGX_MICROSHOP_OP_REVOKE_BEFORE;
    op.key.data = field;
    op.key.len = flen;

    (void) ngx_microshop_store_exec(&rs->inner, &op);

    if (op.rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "microshop redis: no room in the zone for a "
                      "watermark of \"%*s\"",
                      ngx_min((size_t) (ngx_strlchr(field, field + flen,
                                                    '\n') - field), 64),
                      field);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The sets loaded after every connect, one after the other: each a global
 * key of its own (its own slot on a Cluster), read by a script that
 * returns [member, value, ...] of what still matters (ARGV[1]: the
 * margin past their time); once the last one is loaded, the zone's copy
 * answers for the node.
 */

typedef ngx_int_t (*ngx_microshop_rstore_pair_pt)(
    ngx_microshop_rstore_store_t *rs, redisReply *member, redisReply *value);

typedef struct {
    ngx_uint_t                     script;
    ngx_str_t                      key;
    char                          *what;
    int64_t                        margin;
    ngx_microshop_rstore_step_pt    step;
    ngx_microshop_rstore_pair_pt    pair;
} ngx_microshop_rstore_set_t;


static ngx_microshop_rstore_set_t  ngx_microshop_rstore_sets[] = {
    { NGX_MICROSHOP_REDIS_LUA_REVOKED_LOAD, ngx_string("ms:revoked"),
      "revocations", NGX_MICROSHOP_REDIS_REVOKE_MARGIN,
      ngx_microshop_rstore_revoked_loaded, ngx_microshop_rstore_revoked_pair },
    { NGX_MICROSHOP_REDIS_LUA_WATERMARKS_LOAD, ngx_string("ms:watermarks"),
      "watermarks", 0,
      ngx_microshop_rstore_watermarks_loaded,
      ngx_microshop_rstore_watermark_pair },
};

#define NGX_MICROSHOP_RSTORE_SETS                                            \
    (sizeof(ngx_microshop_rstore_sets) / sizeof(ngx_microshop_rstore_set_t))


static void
ngx_microshop_rstore_load(ngx_microshop_rstore_store_t *rs, ngx_uint_t n)
{
    ngx_microshop_rstore_set_t    *set;
    ngx_microshop_rstore_args_t    a;
    ngx_microshop_rstore_call_t   *call;

    set = &ngx_microshop_rstore_sets[n];

    call = ngx_microshop_rstore_call_bare(rs, set->step);
    if (call == NULL) {
        return;
    }

    if (ngx_microshop_rstore_args_init(&a, call->pool, set->script, 2)
        != NGX_OK
        || ngx_microshop_rstore_arg(&a, set->key.data, set->key.len) != NGX_OK
        || ngx_microshop_rstore_arg_int(&a, set->margin) != NGX_OK)
    {
        ngx_destroy_pool(call->pool);
        return;
    }

    a.nkeys = 1;

    if (ngx_microshop_rstore_send(call, &a) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "microshop redis: the %s could not be loaded",
                      set->what);
        ngx_destroy_pool(call->pool);
    }
}


static void
ngx_microshop_rstore_revoked_loaded(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply)
{
    ngx_microshop_rstore_loaded(call, status, reply, 0);
}


static void
ngx_microshop_rstore_watermarks_loaded(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply)
{
    ngx_microshop_rstore_loaded(call, status, reply, 1);
}


static void
ngx_microshop_rstore_loaded(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply, ngx_uint_t n)
{
    ngx_uint_t                   i;
    ngx_microshop_rstore_set_t  *set;

    set = &ngx_microshop_rstore_sets[n];

    if (status != NGX_MICROSHOP_REDIS_REPLY
        || reply->type != REDIS_REPLY_ARRAY || reply->elements % 2)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "microshop redis: the %s could not be loaded, the "
                      "node keeps its copy", set->what);
        ngx_microshop_rstore_finish(call, status);
        return;
    }

    for (i = 0; i < reply->elements; i += 2) {
        if (set->pair(call->rs, reply->element[i], reply->element[i + 1])
            == NGX_DECLINED)
        {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "microshop redis: a member of %V that is not "
                          "one of the %s ignored", &set->key, set->what);
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "microshop redis: %ui %s loaded", reply->elements / 2,
                   set->what);

    if (n + 1 < NGX_MICROSHOP_RSTORE_SETS) {
        ngx_microshop_rstore_load(call->rs, n + 1);

    } else {
        /*
         * from now on the zone's copy answers IS_REVOKED (it survives
         * reloads with the zone): every set was loaded once
         */
        (void) ngx_atomic_cmp_set(
                   &call->rs->store->local->sh->counters[
                       NGX_MICROSHOP_COUNTER_REDIS_SYNCED], 0, 1);
    }

    ngx_microshop_rstore_finish(call, status);
}


/* a member of ms:revoked: a jti, its exp as the score */

static ngx_int_t
ngx_microshop_rstore_revoked_pair(ngx_microshop_rstore_store_t *rs,
    redisReply *member, redisReply *value)
{
    int64_t  exp;

    if (member->type != REDIS_REPLY_STRING
        || ngx_microshop_rstore_int(value, &exp) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    ngx_microshop_rstore_revoke_copy(rs, (u_char *) member->str, member->len,
                                    exp);
    return NGX_OK;
}


/* a field of ms:watermarks: seller "\n" class, "<before> <until>" */

static ngx_int_t
ngx_microshop_rstore_watermark_pair(ngx_microshop_rstore_store_t *rs,
    redisReply *member, redisReply *value)
{
    if (member->type != REDIS_REPLY_STRING
        || value->type != REDIS_REPLY_STRING)
    {
        return NGX_DECLINED;
    }

    return ngx_microshop_rstore_watermark_copy(rs, (u_char *) value->str,
                                               value->len,
                                               (u_char *) member->str,
                                               member->len);
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
