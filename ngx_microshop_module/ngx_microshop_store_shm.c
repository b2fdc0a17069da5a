/*
 * ngx_microshop: the "shm" back end, the store on the node-local shared
 * memory zone.  Every operation completes at once, under the zone lock:
 * exec() always returns NGX_OK, post() finishes before it returns, and
 * there is never anything to cancel.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_store.h"
#include "ngx_microshop_store_shm.h"
#include "ngx_microshop_digest.h"
#include "microshop_time.h"


static ngx_int_t ngx_microshop_store_shm_init_conf(ngx_conf_t *cf,
    ngx_microshop_store_t *store);
static ngx_int_t ngx_microshop_store_shm_exec(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op);
static void ngx_microshop_store_shm_post(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op);
static void ngx_microshop_store_shm_cancel(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op);
static ngx_int_t ngx_microshop_shm_rate_key(ngx_microshop_op_t *op,
    u_char *digest, ngx_str_t *key);
static ngx_int_t ngx_microshop_shm_gcra(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, ngx_str_t *key, int64_t now);
static ngx_int_t ngx_microshop_shm_revoke(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
static ngx_int_t ngx_microshop_shm_is_revoked(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
static ngx_uint_t ngx_microshop_shm_watermarked(ngx_microshop_zone_t *zone,
    u_char *key, size_t len, int64_t iat, int64_t now);
static ngx_int_t ngx_microshop_shm_revoke_before(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
static ngx_int_t ngx_microshop_shm_revoked_list(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
static ngx_uint_t ngx_microshop_shm_in_force(ngx_microshop_zone_t *zone,
    ngx_uint_t kind, ngx_microshop_op_t *op, int64_t now,
    ngx_microshop_rec_t ***recs, ngx_uint_t *more);
static ngx_int_t ngx_microshop_shm_idem_begin(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
static ngx_int_t ngx_microshop_shm_idem_complete(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);
static ngx_int_t ngx_microshop_shm_idem_release(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now);


/*
 * A watermark record (NGX_MICROSHOP_KIND_WATERMARK): keyed seller "\n"
 * class ("" for every class), expiring at until (none when 0).  The key
 * of a token's watermarks is built on the stack: a seller and a class a
 * token carries are at most MICROSHOP_JWT_CLAIM_MAX (1024) bytes each.
 */
typedef struct {
    int64_t    before;                 /* unix s */
    int64_t    until;                  /* unix s, 0: for ever */
} ngx_microshop_watermark_rec_t;

#define NGX_MICROSHOP_SHM_WATERMARK_KEY  (2 * 1024 + 1)

/* revocations dropped in passing when they ran out (they are not evicted) */
#define NGX_MICROSHOP_SHM_REVOKED_EXPIRE  8


/*
 * A rate-limit record is one 64-byte slot (docs/operations.md "Sizing"):
 * 32 bytes of bookkeeping, whose expiry is the bucket's TAT (the record is
 * gone once the bucket is full again), and no value.  Its key is the rate
 * key itself up to 31 bytes, else the key's SHA-256: two keys never share
 * a record, as a key and a digest differ in length.
 */
#define NGX_MICROSHOP_SHM_RATE_KEY  32

typedef char  ngx_microshop_shm_rate_rec_fits[
    (NGX_MICROSHOP_REC_HEADER + NGX_MICROSHOP_SHM_RATE_KEY <= 64) ? 1 : -1];


/*
 * An idempotency record: this header, then the stored answer.  A record
 * in progress lives for lock= and then ttl=: once its lock ran out, the
 * key answers "unavailable" (docs/directives.md, microshop_idempotency),
 * never "new" again, until its owner completes it or ttl= runs out.
 */
typedef struct {
    u_char     fingerprint[NGX_MICROSHOP_FINGERPRINT_LEN];
    uint32_t   state;                  /* ngx_microshop_idem_result_e */
    uint32_t   response_len;
    int64_t    lock_until;             /* in progress: unix ms */
    uint64_t   owner;                  /* in progress: whose lock */
} ngx_microshop_idem_rec_t;


const ngx_microshop_store_backend_t  ngx_microshop_store_shm = {
    ngx_string("shm"),
    ngx_microshop_store_shm_init_conf,
    NULL,                                  /* init_process */
    NULL,                                  /* exit_process */
    ngx_microshop_store_shm_exec,
    ngx_microshop_store_shm_post,
    ngx_microshop_store_shm_cancel
};


static ngx_int_t
ngx_microshop_store_shm_init_conf(ngx_conf_t *cf,
    ngx_microshop_store_t *store)
{
    /* the records live in the node-local zone itself */
    store->data = store->local;

    return NGX_OK;
}


static void
ngx_microshop_store_shm_post(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op)
{
    (void) ngx_microshop_store_shm_exec(store, op);

    ngx_microshop_store_posted(store, op);
}


static void
ngx_microshop_store_shm_cancel(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op)
{
    /* an shm op never waits */
}


static ngx_int_t
ngx_microshop_store_shm_exec(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op)
{
    u_char                 digest[NGX_MICROSHOP_SHM_RATE_KEY];
    int64_t                now;
    ngx_str_t              key;
    ngx_microshop_zone_t  *zone;

    zone = store->data;
    now = ngx_microshop_now_ms();

    /* hashed before the lock is taken */
    if (op->type == NGX_MICROSHOP_OP_GCRA
        && ngx_microshop_shm_rate_key(op, digest, &key) != NGX_OK)
    {
        op->rc = NGX_ERROR;
        return NGX_OK;
    }

    if (op->type == NGX_MICROSHOP_OP_FEED_APPEND
        || op->type == NGX_MICROSHOP_OP_FEED_READ)
    {
        /* the feeds have a zone of their own, and its lock */
        op->rc = ngx_microshop_shm_feed(store, op, now);
        return NGX_OK;
    }

    if (op->type == NGX_MICROSHOP_OP_USAGE_PUT
        || op->type == NGX_MICROSHOP_OP_USAGE_GET)
    {
        /* one node: its usage block is all there is (ngx_microshop_store.h) */
        op->u.usage.nodes = NULL;
        op->u.usage.nnodes = 0;
        op->rc = (op->type == NGX_MICROSHOP_OP_USAGE_PUT) ? NGX_OK
                                                          : NGX_DECLINED;
        return NGX_OK;
    }

    if (op->type == NGX_MICROSHOP_OP_IS_REVOKED
        && zone->sh->records[NGX_MICROSHOP_KIND_REVOKED] == 0
        && (zone->sh->records[NGX_MICROSHOP_KIND_WATERMARK] == 0
            || op->u.revoked.seller.len == 0))
    {
        /*
         * the common case on every request: nothing was ever revoked, or
         * only watermarks and the token has no seller
         */
        op->rc = NGX_DECLINED;
        return NGX_OK;
    }

    ngx_microshop_zone_lock(zone);

    switch (op->type) {

    case NGX_MICROSHOP_OP_GCRA:
        op->rc = ngx_microshop_shm_gcra(zone, op, &key, now);
        break;

    case NGX_MICROSHOP_OP_REVOKE:
        op->rc = ngx_microshop_shm_revoke(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_IS_REVOKED:
        op->rc = ngx_microshop_shm_is_revoked(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_REVOKE_BEFORE:
        op->rc = ngx_microshop_shm_revoke_before(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_REVOKED_LIST:
        op->rc = ngx_microshop_shm_revoked_list(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_IDEM_BEGIN:
        op->rc = ngx_microshop_shm_idem_begin(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_IDEM_COMPLETE:
        op->rc = ngx_microshop_shm_idem_complete(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_IDEM_RELEASE:
        op->rc = ngx_microshop_shm_idem_release(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_INV_GET:
        op->rc = ngx_microshop_shm_inv_get(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_INV_PUT:
        op->rc = ngx_microshop_shm_inv_put(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_INV_DROP:
        op->rc = ngx_microshop_shm_inv_drop(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_INV_FAILED:
        op->rc = ngx_microshop_shm_inv_failed(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_EVENT:
        op->rc = ngx_microshop_shm_event(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_STOCK_SET:
        op->rc = ngx_microshop_shm_stock_set(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_STOCK_GET:
        op->rc = ngx_microshop_shm_stock_get(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_RESERVE:
        op->rc = ngx_microshop_shm_reserve(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_SETTLE:
        op->rc = ngx_microshop_shm_settle(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_SWEEP:
        op->rc = ngx_microshop_shm_sweep(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_HOLD_UNKNOWN:
        op->rc = ngx_microshop_shm_hold_unknown(zone, op, now);
        break;

    case NGX_MICROSHOP_OP_HOLD_LIST:
        op->rc = ngx_microshop_shm_hold_list(zone, op, now);
        break;

    default:
        op->rc = NGX_ERROR;
    }

    ngx_microshop_zone_unlock(zone);

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_shm_rate_key(ngx_microshop_op_t *op, u_char *digest,
    ngx_str_t *key)
{
    EVP_MD_CTX  *md;

    *key = op->key;

    if (key->len < NGX_MICROSHOP_SHM_RATE_KEY) {
        return NGX_OK;
    }

    md = ngx_microshop_sha256_begin();

    if (md == NULL
        || EVP_DigestUpdate(md, op->key.data, op->key.len) != 1
        || EVP_DigestFinal_ex(md, digest, NULL) != 1)
    {
        return NGX_ERROR;
    }

    key->data = digest;
    key->len = NGX_MICROSHOP_SHM_RATE_KEY;

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_shm_gcra(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    ngx_str_t *key, int64_t now)
{
    int64_t               tat;
    ngx_microshop_rec_t  *rec;

    /* an expired record is a full bucket: tat 0 */
    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_RATE,
                                    key->data, key->len, now);

    tat = rec ? rec->expire : 0;

    microshop_gcra_apply(&tat, now * 1000, op->u.gcra.interval,
                         op->u.gcra.burst, op->u.gcra.cost, &op->u.gcra.result);

    if (rec) {
        /* a refusal changes the state only when a clock went back */
        rec->expire = tat;

    } else if (op->u.gcra.result.allowed) {
        rec = ngx_microshop_zone_insert(zone, NGX_MICROSHOP_KIND_RATE,
                                        key->data, key->len, 0, 0, now);
        if (rec == NULL) {
            /*
             * No room for the state even after evicting caches: the
             * request is refused (503), as a limit that is not kept
             * would let it pass without one (docs/operations.md).
             */
            return NGX_ERROR;
        }

        /* later than now: an allowed request spends at least one unit */
        rec->expire = tat;
    }

    return op->u.gcra.result.allowed ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_microshop_shm_revoke(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    int64_t               expire;
    ngx_microshop_rec_t  *rec;

    (void) ngx_microshop_zone_expire(zone, NGX_MICROSHOP_KIND_REVOKED, now,
                                     NGX_MICROSHOP_SHM_REVOKED_EXPIRE);

    /*
     * kept until the token would have expired anyway, and the leeway: the
     * token passes as long as the second now <= exp + leeway, that is up
     * to the millisecond (exp + leeway + 1) * 1000; the listing reads the
     * exp back from it (exact: exp is at most MICROSHOP_TIME_MAX)
     */
    expire = microshop_time_ms(microshop_time_add(op->u.revoke.exp,
                                              NGX_MICROSHOP_REVOKE_MARGIN + 1));

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_REVOKED,
                                    op->key.data, op->key.len, now);
    if (rec) {
        if (rec->expire < ngx_microshop_ms_us(expire)) {
            rec->expire = ngx_microshop_ms_us(expire);
        }

        return NGX_OK;
    }

    rec = ngx_microshop_zone_insert(zone, NGX_MICROSHOP_KIND_REVOKED,
                                    op->key.data, op->key.len, 0, expire, now);

    return rec ? NGX_OK : NGX_ERROR;
}


/*
 * A token is revoked when its jti or its parent_jti is, or a watermark of
 * its seller (of its class, or of every class) is later than its iat
 */

static ngx_int_t
ngx_microshop_shm_is_revoked(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now)
{
    u_char      key[NGX_MICROSHOP_SHM_WATERMARK_KEY], *p;
    ngx_str_t  *seller, *class;

    if (zone->sh->records[NGX_MICROSHOP_KIND_REVOKED]) {

        if (op->key.len
            && ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_REVOKED,
                                         op->key.data, op->key.len, now))
        {
            return NGX_OK;
        }

        if (op->u.revoked.parent.len
            && ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_REVOKED,
                                         op->u.revoked.parent.data,
                                         op->u.revoked.parent.len, now))
        {
            return NGX_OK;
        }
    }

    seller = &op->u.revoked.seller;
    class = &op->u.revoked.class;

    if (seller->len == 0
        || zone->sh->records[NGX_MICROSHOP_KIND_WATERMARK] == 0)
    {
        return NGX_DECLINED;
    }

    if (seller->len + 1 + class->len > sizeof(key)) {
        /* no token carries such claims: the store cannot tell */
        return NGX_ERROR;
    }

    p = ngx_cpymem(key, seller->data, seller->len);
    *p++ = '\n';
    p = ngx_microshop_cpymem(p, class->data, class->len);

    /* the watermark of its class, then the one of every class */

    if ((class->len
         && ngx_microshop_shm_watermarked(zone, key, p - key,
                                          op->u.revoked.iat, now))
        || ngx_microshop_shm_watermarked(zone, key, seller->len + 1,
                                         op->u.revoked.iat, now))
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* a token without an iat cannot show it is newer than a watermark */

static ngx_uint_t
ngx_microshop_shm_watermarked(ngx_microshop_zone_t *zone, u_char *key,
    size_t len, int64_t iat, int64_t now)
{
    ngx_microshop_rec_t            *rec;
    ngx_microshop_watermark_rec_t   wr;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_WATERMARK, key,
                                    len, now);
    if (rec == NULL) {
        return 0;
    }

    ngx_memcpy(&wr, ngx_microshop_rec_value(rec), sizeof(wr));

    return iat == NGX_MICROSHOP_STORE_NO_IAT || iat < wr.before;
}


/* a watermark only moves forward: the later before, the later until */

static ngx_int_t
ngx_microshop_shm_revoke_before(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now)
{
    int64_t                         expire;
    ngx_microshop_rec_t            *rec;
    ngx_microshop_watermark_rec_t   wr;

    (void) ngx_microshop_zone_expire(zone, NGX_MICROSHOP_KIND_WATERMARK, now,
                                     NGX_MICROSHOP_SHM_REVOKED_EXPIRE);

    wr.before = op->u.watermark.before;
    wr.until = op->u.watermark.until;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_WATERMARK,
                                    op->key.data, op->key.len, now);
    if (rec) {
        ngx_microshop_watermark_rec_t  old;

        ngx_memcpy(&old, ngx_microshop_rec_value(rec), sizeof(old));

        wr.before = ngx_max(wr.before, old.before);
        wr.until = (wr.until == 0 || old.until == 0)
                   ? 0 : ngx_max(wr.until, old.until);

    } else if (wr.until && microshop_time_ms(wr.until) <= now) {
        /* no token it covers can still be valid: nothing to keep */
        return NGX_OK;
    }

    expire = wr.until ? microshop_time_ms(wr.until) : 0;

    if (rec == NULL) {
        rec = ngx_microshop_zone_insert(zone, NGX_MICROSHOP_KIND_WATERMARK,
                                        op->key.data, op->key.len,
                                        sizeof(wr), expire, now);
        if (rec == NULL) {
            return NGX_ERROR;
        }
    }

    rec->expire = ngx_microshop_ms_us(expire);
    ngx_memcpy(ngx_microshop_rec_value(rec), &wr, sizeof(wr));

    return NGX_OK;
}


/*
 * What is in force, up to limit of each kind, copied into op->pool (some
 * of those past their time dropped first)
 */

static ngx_int_t
ngx_microshop_shm_revoked_list(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now)
{
    u_char                          *k;
    ngx_uint_t                       i, n, more;
    ngx_microshop_rec_t            **recs;
    ngx_microshop_watermark_t       *w;
    ngx_microshop_revoked_jti_t     *j;
    ngx_microshop_watermark_rec_t    wr;

    op->u.revoked_list.njtis = 0;
    op->u.revoked_list.nwatermarks = 0;
    op->u.revoked_list.truncated = 0;
    op->u.revoked_list.jtis = NULL;
    op->u.revoked_list.watermarks = NULL;

    if (op->pool == NULL || op->u.revoked_list.limit == 0) {
        return NGX_ERROR;
    }

    (void) ngx_microshop_zone_expire(zone, NGX_MICROSHOP_KIND_REVOKED, now,
                                     NGX_MICROSHOP_SHM_REVOKED_EXPIRE);
    (void) ngx_microshop_zone_expire(zone, NGX_MICROSHOP_KIND_WATERMARK, now,
                                     NGX_MICROSHOP_SHM_REVOKED_EXPIRE);

    /* jtis: the key, the exp as ngx_microshop_shm_revoke() keeps it */

    n = ngx_microshop_shm_in_force(zone, NGX_MICROSHOP_KIND_REVOKED, op, now,
                                   &recs, &more);
    if (n == (ngx_uint_t) NGX_ERROR) {
        return NGX_ERROR;
    }

    j = ngx_palloc(op->pool, (n + 1) * sizeof(ngx_microshop_revoked_jti_t));
    if (j == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        j[i].jti.len = recs[i]->key_len;
        j[i].jti.data = ngx_pnalloc(op->pool, recs[i]->key_len);
        if (j[i].jti.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(j[i].jti.data, ngx_microshop_rec_key(recs[i]),
                   recs[i]->key_len);
        j[i].exp = recs[i]->expire / 1000000
                   - (NGX_MICROSHOP_REVOKE_MARGIN + 1);
    }

    op->u.revoked_list.jtis = j;
    op->u.revoked_list.njtis = n;
    op->u.revoked_list.truncated = more;

    /* watermarks: seller "\n" class, before and until */

    n = ngx_microshop_shm_in_force(zone, NGX_MICROSHOP_KIND_WATERMARK, op,
                                   now, &recs, &more);
    if (n == (ngx_uint_t) NGX_ERROR) {
        return NGX_ERROR;
    }

    w = ngx_palloc(op->pool, (n + 1) * sizeof(ngx_microshop_watermark_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        k = ngx_pnalloc(op->pool, recs[i]->key_len);
        if (k == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(k, ngx_microshop_rec_key(recs[i]), recs[i]->key_len);

        w[i].seller.data = k;
        w[i].seller.len = ngx_strlchr(k, k + recs[i]->key_len, '\n') - k;
        w[i].class.data = k + w[i].seller.len + 1;
        w[i].class.len = recs[i]->key_len - w[i].seller.len - 1;

        ngx_memcpy(&wr, ngx_microshop_rec_value(recs[i]), sizeof(wr));
        w[i].before = wr.before;
        w[i].until = wr.until;
    }

    op->u.revoked_list.watermarks = w;
    op->u.revoked_list.nwatermarks = n;
    op->u.revoked_list.truncated |= more;

    return NGX_OK;
}


/*
 * Up to the op's limit of the records of kind in force, from the tail of
 * its queue, into *recs (in op->pool); *more: there are others.  The
 * count, or NGX_ERROR.
 */

static ngx_uint_t
ngx_microshop_shm_in_force(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    ngx_microshop_op_t *op, int64_t now, ngx_microshop_rec_t ***recs,
    ngx_uint_t *more)
{
    int64_t               now_us;
    ngx_uint_t            n, max;
    ngx_microshop_rec_t  *rec;

    now_us = ngx_microshop_ms_us(now);
    max = ngx_min(op->u.revoked_list.limit, zone->sh->records[kind]);

    *more = 0;
    *recs = ngx_palloc(op->pool, (max + 1) * sizeof(ngx_microshop_rec_t *));
    if (*recs == NULL) {
        return (ngx_uint_t) NGX_ERROR;
    }

    n = 0;

    for (rec = ngx_microshop_zone_last(zone, kind);
         rec;
         rec = ngx_microshop_zone_prev(zone, kind, rec))
    {
        if (rec->expire && rec->expire <= now_us) {
            continue;
        }

        if (n == max) {
            *more = 1;
            break;
        }

        (*recs)[n++] = rec;
    }

    return n;
}


static ngx_int_t
ngx_microshop_shm_idem_begin(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now)
{
    ngx_microshop_rec_t       *rec;
    ngx_microshop_idem_rec_t   ir;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_IDEMPOTENCY,
                                    op->key.data, op->key.len, now);

    if (rec == NULL) {
        /* a lock in flight may take the zone's reserve= */
        rec = ngx_microshop_zone_insert_as(zone,
                                           NGX_MICROSHOP_KIND_IDEMPOTENCY,
                                           NGX_MICROSHOP_REC_RESERVE
                                           |NGX_MICROSHOP_REC_IDEM,
                                           op->key.data, op->key.len,
                                           sizeof(ngx_microshop_idem_rec_t),
                                           now + op->u.idem.lock
                                           + op->u.idem.ttl, now);
        if (rec == NULL) {
            /* no room for the lock: never risk a second execution */
            return ngx_microshop_zone_refused_rc(zone);
        }

        ngx_memcpy(ir.fingerprint, op->u.idem.fingerprint,
                   NGX_MICROSHOP_FINGERPRINT_LEN);
        ir.state = NGX_MICROSHOP_IDEM_IN_PROGRESS;
        ir.response_len = 0;
        ir.lock_until = now + op->u.idem.lock;
        ir.owner = op->u.idem.owner;
        ngx_memcpy(ngx_microshop_rec_value(rec), &ir, sizeof(ir));

        op->u.idem.result = NGX_MICROSHOP_IDEM_NEW;
        return NGX_OK;
    }

    ngx_memcpy(&ir, ngx_microshop_rec_value(rec), sizeof(ir));

    if (ngx_memcmp(ir.fingerprint, op->u.idem.fingerprint,
                   NGX_MICROSHOP_FINGERPRINT_LEN) != 0)
    {
        op->u.idem.result = NGX_MICROSHOP_IDEM_MISMATCH;
        return NGX_OK;
    }

    op->u.idem.result = ir.state;

    if (ir.state == NGX_MICROSHOP_IDEM_IN_PROGRESS && ir.lock_until <= now) {
        /* the lock ran out without an answer: it may have executed */
        op->u.idem.result = NGX_MICROSHOP_IDEM_UNAVAILABLE;
    }

    if (ir.state == NGX_MICROSHOP_IDEM_DONE) {
        op->u.idem.response.len = ir.response_len;
        op->u.idem.response.data = ngx_pnalloc(op->pool, ir.response_len);
        if (op->u.idem.response.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(op->u.idem.response.data,
                   ngx_microshop_rec_value(rec) + sizeof(ir),
                   ir.response_len);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_shm_idem_complete(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now)
{
    size_t                     len;
    ngx_microshop_rec_t       *rec, *lock;
    ngx_microshop_idem_rec_t   ir;

    len = op->u.idem.unavailable ? 0 : op->u.idem.response.len;

    ngx_memcpy(ir.fingerprint, op->u.idem.fingerprint,
               NGX_MICROSHOP_FINGERPRINT_LEN);
    ir.state = op->u.idem.unavailable ? NGX_MICROSHOP_IDEM_UNAVAILABLE
                                      : NGX_MICROSHOP_IDEM_DONE;
    ir.response_len = (uint32_t) len;
    ir.lock_until = 0;
    ir.owner = 0;

    lock = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_IDEMPOTENCY,
                                     op->key.data, op->key.len, now);
    if (lock) {
        if (ngx_memcmp(ngx_microshop_rec_value(lock),
                       op->u.idem.fingerprint, NGX_MICROSHOP_FINGERPRINT_LEN)
            != 0)
        {
            /* the lock expired and another request took the key */
            return NGX_DECLINED;
        }

        /* the answer leaves the reserve: it counts as the seller's */
        rec = ngx_microshop_zone_replace(zone, lock, NGX_MICROSHOP_REC_IDEM,
                                         sizeof(ir) + len,
                                         now + op->u.idem.ttl, now);
        if (rec == NULL) {
            /*
             * No room for the answer, in the zone or in the seller's
             * quota: the lock's own slot keeps "executed", so the key
             * never runs twice.
             */
            rec = lock;
            rec->expire = ngx_microshop_ms_us(now + op->u.idem.ttl);
            ir.state = NGX_MICROSHOP_IDEM_UNAVAILABLE;
            ir.response_len = 0;
            len = 0;
        }

    } else {
        /* the lock ran out before the answer came */

        rec = ngx_microshop_zone_insert(zone, NGX_MICROSHOP_KIND_IDEMPOTENCY,
                                        op->key.data, op->key.len,
                                        sizeof(ir) + len,
                                        now + op->u.idem.ttl, now);

        if (rec == NULL && len) {
            /* no room for the answer: keep at least "executed" */
            ir.state = NGX_MICROSHOP_IDEM_UNAVAILABLE;
            ir.response_len = 0;
            len = 0;

            rec = ngx_microshop_zone_insert(zone,
                                            NGX_MICROSHOP_KIND_IDEMPOTENCY,
                                            op->key.data, op->key.len,
                                            sizeof(ir), now + op->u.idem.ttl,
                                            now);
        }

        if (rec == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_memcpy(ngx_microshop_rec_value(rec), &ir, sizeof(ir));
    (void) ngx_microshop_cpymem(ngx_microshop_rec_value(rec) + sizeof(ir),
                                op->u.idem.response.data, len);

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_shm_idem_release(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now)
{
    ngx_microshop_rec_t       *rec;
    ngx_microshop_idem_rec_t   ir;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_IDEMPOTENCY,
                                    op->key.data, op->key.len, now);
    if (rec == NULL) {
        return NGX_DECLINED;
    }

    ngx_memcpy(&ir, ngx_microshop_rec_value(rec), sizeof(ir));

    /* only the owner of a lock releases it: not a retry's cancelled
     * IDEM_BEGIN (docs/http.md "Outcomes") */

    if (ir.state != NGX_MICROSHOP_IDEM_IN_PROGRESS
        || ir.owner != op->u.idem.owner
        || ngx_memcmp(ir.fingerprint, op->u.idem.fingerprint,
                      NGX_MICROSHOP_FINGERPRINT_LEN) != 0)
    {
        return NGX_DECLINED;
    }

    ngx_microshop_zone_delete(zone, rec);

    return NGX_OK;
}
