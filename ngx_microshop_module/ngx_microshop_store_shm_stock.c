/*
 * ngx_microshop: inventory cache, events, stock and reservations on the
 * shared memory zone.  Every function runs under the zone lock.
 *
 * A STOCK record per (seller, sku) holds what is available, what is held
 * by reservations, the part of it whose outcome is unknown, and the
 * version of the last event.  A HOLD record per reservation (keyed by its
 * id) lists its lines, when it was made, its deadline (hold=) and its
 * state (docs/inventory.md "Pending reconciliation"): live while its
 * request is in flight, unknown once its request ended after it was sent
 * without an answer, pending once the deadline passed unsettled.  A hold
 * is settled by its request's answer or the admin API (SETTLE by id:
 * commit or release, whatever its state), or, once its outcome is
 * unknown, line by line by an inventory event with a newer version: the
 * backend's count replaces the edge's.  Time alone never gives units
 * back: the sweep (a periodic timer) only moves holds past their deadline
 * to pending.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_store_shm.h"
#include "microshop_time.h"


#define NGX_MICROSHOP_KEY_MAX       1024
#define NGX_MICROSHOP_SWEEP_BATCH   64
#define NGX_MICROSHOP_EVENT_KEEP    (24 * 60 * 60 * 1000)
#define NGX_MICROSHOP_EVENT_CACHE   (24 * 60 * 60 * 1000)


/* versions of events are >= 0: the first event applies, whatever it is */
#define NGX_MICROSHOP_VERSION_NONE  -1


typedef struct {
    int64_t     available;       /* -1: not known at the edge */
    int64_t     held;            /* in holds, whatever their state */
    int64_t     version;         /* of the last event applied, or NONE */
    int64_t     unknown;         /* of held: in holds not live any more */
} ngx_microshop_stock_t;


typedef struct {
    int64_t     stored_at;
    int64_t     version;
    int64_t     refresh_until;   /* a refresh holds the lock until then */
    int64_t     retry_at;        /* the last refresh failed: none before */
    uint32_t    etag_len;
    uint32_t    body_len;
} ngx_microshop_inv_rec_t;


/* a hold: this header, the seller, then its lines, each with its sku */
typedef struct {
    int64_t     created;         /* unix ms */
    int64_t     deadline;        /* unix ms: hold= runs out */
    uint32_t    nlines;
    uint32_t    open;            /* lines no event settled yet */
    uint32_t    seller_len;
    uint16_t    state;           /* ngx_microshop_hold_state_e */
    uint16_t    why;             /* ngx_microshop_hold_why_e */
    uint32_t    slot;            /* it holds an offline slot */
    uint32_t    reserved;
} ngx_microshop_hold_rec_t;


typedef struct {
    int64_t     quantity;
    uint32_t    sku_len;
    uint32_t    settled;         /* by an inventory event */
} ngx_microshop_hold_line_t;


/* a hold of HOLD_LIST, before the oldest are copied out */
typedef struct {
    int64_t                created;
    ngx_microshop_rec_t   *rec;
} ngx_microshop_hold_found_t;


static void ngx_microshop_hold_event(ngx_microshop_zone_t *zone,
    ngx_str_t *key, ngx_microshop_stock_t *st, int64_t now);
static ngx_uint_t ngx_microshop_offline_take(ngx_microshop_zone_t *zone,
    ngx_str_t *seller, ngx_uint_t max, int64_t now);
static void ngx_microshop_offline_give(ngx_microshop_zone_t *zone,
    ngx_str_t *seller, int64_t now);


static ngx_microshop_stock_t *
ngx_microshop_stock_find(ngx_microshop_zone_t *zone, ngx_str_t *seller,
    ngx_str_t *sku, int64_t now)
{
    u_char                key[NGX_MICROSHOP_KEY_MAX], *p;
    ngx_microshop_rec_t  *rec;

    if (seller->len + 1 + sku->len > NGX_MICROSHOP_KEY_MAX) {
        return NULL;
    }

    p = ngx_microshop_store_key_write(key, seller, sku->data, sku->len);

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_STOCK, key,
                                    p - key, now);

    return rec ? (ngx_microshop_stock_t *) ngx_microshop_rec_value(rec)
               : NULL;
}


/*
 * flags and expire (ms) count a new record: stock that only an event's
 * version made (NGX_MICROSHOP_REC_EVENTS, for a day) is its seller's, as
 * the event ids are; stock with a number is protected (RESERVE, for ever).
 * *recp: the record.
 */

static ngx_microshop_stock_t *
ngx_microshop_stock_get_or_add(ngx_microshop_zone_t *zone, ngx_str_t *key,
    ngx_uint_t flags, int64_t expire, int64_t now, ngx_microshop_rec_t **recp)
{
    ngx_microshop_rec_t    *rec;
    ngx_microshop_stock_t  *st;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_STOCK,
                                    key->data, key->len, now);
    if (rec) {
        *recp = rec;
        return (ngx_microshop_stock_t *) ngx_microshop_rec_value(rec);
    }

    rec = ngx_microshop_zone_insert_as(zone, NGX_MICROSHOP_KIND_STOCK, flags,
                                       key->data, key->len,
                                       sizeof(ngx_microshop_stock_t), expire,
                                       now);
    if (rec == NULL) {
        return NULL;
    }

    *recp = rec;

    st = (ngx_microshop_stock_t *) ngx_microshop_rec_value(rec);
    st->available = -1;
    st->held = 0;
    st->version = NGX_MICROSHOP_VERSION_NONE;
    st->unknown = 0;

    return st;
}


/*
 * Once it has a number or holds, stock made by events is protected; until
 * then it is kept a day after its last event, as event ids are.
 */

static void
ngx_microshop_stock_count(ngx_microshop_zone_t *zone, ngx_microshop_rec_t *rec,
    ngx_microshop_stock_t *st, int64_t now)
{
    if (!(rec->flags & NGX_MICROSHOP_REC_EVENTS)) {
        return;
    }

    if (st->available >= 0 || st->held > 0) {
        ngx_microshop_zone_protect(zone, rec);
        rec->expire = 0;
        return;
    }

    rec->expire = ngx_microshop_ms_us(now + NGX_MICROSHOP_EVENT_KEEP);
}


/* inventory cache */

static ngx_int_t
ngx_microshop_inv_store(ngx_microshop_zone_t *zone, ngx_str_t *key,
    ngx_str_t *body, ngx_str_t *etag, int64_t version, int64_t expire,
    int64_t now)
{
    u_char                   *p;
    ngx_microshop_rec_t      *rec;
    ngx_microshop_inv_rec_t   ir;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_INVENTORY,
                                    key->data, key->len, now);
    if (rec) {
        ngx_memcpy(&ir, ngx_microshop_rec_value(rec), sizeof(ir));

        if (ir.version > version) {
            /* an event brought a newer representation meanwhile */
            return NGX_DECLINED;
        }

        ngx_microshop_zone_delete(zone, rec);
    }

    rec = ngx_microshop_zone_insert(zone, NGX_MICROSHOP_KIND_INVENTORY,
                                    key->data, key->len,
                                    sizeof(ir) + etag->len + body->len,
                                    expire, now);
    if (rec == NULL) {
        return NGX_ERROR;
    }

    ir.stored_at = now;
    ir.version = version;
    ir.refresh_until = 0;
    ir.retry_at = 0;
    ir.etag_len = (uint32_t) etag->len;
    ir.body_len = (uint32_t) body->len;

    p = ngx_cpymem(ngx_microshop_rec_value(rec), &ir, sizeof(ir));
    p = ngx_microshop_cpymem(p, etag->data, etag->len);
    (void) ngx_microshop_cpymem(p, body->data, body->len);

    return NGX_OK;
}


/* a time of an op, bounded: junk never overflows a sum */

static int64_t
ngx_microshop_inv_span(int64_t ms)
{
    if (ms < 0) {
        return 0;
    }

    return ngx_min(ms, MICROSHOP_TIME_SPAN_MAX * 1000);
}


/*
 * The refresh of the entry stored at stored_at (-1: whichever) is over:
 * the lock is free, and no refresh starts before now + retry.
 */

static ngx_int_t
ngx_microshop_inv_unlock(ngx_microshop_zone_t *zone, ngx_str_t *key,
    int64_t stored_at, int64_t retry, int64_t now)
{
    ngx_microshop_rec_t      *rec;
    ngx_microshop_inv_rec_t   ir;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_INVENTORY,
                                    key->data, key->len, now);
    if (rec == NULL) {
        return NGX_DECLINED;
    }

    ngx_memcpy(&ir, ngx_microshop_rec_value(rec), sizeof(ir));

    if (stored_at != -1 && ir.stored_at != stored_at) {
        /* a newer entry came meanwhile: its own refreshes are its own */
        return NGX_DECLINED;
    }

    ir.refresh_until = 0;
    ir.retry_at = (retry > 0) ? now + retry : 0;

    ngx_memcpy(ngx_microshop_rec_value(rec), &ir, sizeof(ir));

    return NGX_OK;
}


ngx_int_t
ngx_microshop_shm_inv_get(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    int64_t                   age, fresh, revalidate, lock;
    u_char                   *p, *copy;
    ngx_microshop_rec_t      *rec;
    ngx_microshop_inv_rec_t   ir;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_INVENTORY,
                                    op->key.data, op->key.len, now);
    if (rec == NULL) {
        return NGX_DECLINED;
    }

    p = ngx_microshop_rec_value(rec);
    ngx_memcpy(&ir, p, sizeof(ir));
    p += sizeof(ir);

    copy = ngx_pnalloc(op->pool, ir.etag_len + ir.body_len);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(copy, p, ir.etag_len + ir.body_len);

    op->u.inv.etag.data = copy;
    op->u.inv.etag.len = ir.etag_len;
    op->u.inv.body.data = copy + ir.etag_len;
    op->u.inv.body.len = ir.body_len;
    op->u.inv.stored_at = ir.stored_at;
    op->u.inv.version = ir.version;
    op->u.inv.failed = (now < ir.retry_at);
    op->u.inv.refresh = 0;

    /* the refresh lock of a stale entry: one refresh at a time */

    fresh = ngx_microshop_inv_span(op->u.inv.fresh);
    revalidate = ngx_microshop_inv_span(op->u.inv.revalidate);
    lock = ngx_microshop_inv_span(op->u.inv.lock);
    age = now - ir.stored_at;

    if (revalidate > 0 && lock > 0 && age >= fresh
        && age - fresh < revalidate
        && now >= ir.refresh_until && now >= ir.retry_at)
    {
        ir.refresh_until = now + lock;
        ngx_memcpy(ngx_microshop_rec_value(rec), &ir, sizeof(ir));
        op->u.inv.refresh = 1;
    }

    return NGX_OK;
}


ngx_int_t
ngx_microshop_shm_inv_put(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    ngx_int_t  rc;

    rc = ngx_microshop_inv_store(zone, &op->key, &op->u.inv.body,
                                 &op->u.inv.etag, op->u.inv.version,
                                 now + op->u.inv.keep, now);

    if (rc == NGX_DECLINED) {
        /* an older answer than the entry: its refresh is over all the same */
        ngx_microshop_inv_unlock(zone, &op->key, -1, 0, now);
    }

    return rc;
}


ngx_int_t
ngx_microshop_shm_inv_failed(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now)
{
    return ngx_microshop_inv_unlock(zone, &op->key, op->u.inv.stored_at,
                                    ngx_microshop_inv_span(op->u.inv.keep),
                                    now);
}


ngx_int_t
ngx_microshop_shm_inv_drop(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    ngx_microshop_rec_t  *rec;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_INVENTORY,
                                    op->key.data, op->key.len, now);
    if (rec == NULL) {
        return NGX_DECLINED;
    }

    ngx_microshop_zone_delete(zone, rec);

    return NGX_OK;
}


/* a signed inventory event: dedupe by id, order by version, apply */

ngx_int_t
ngx_microshop_shm_event(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    u_char                  id[NGX_MICROSHOP_KEY_MAX], *p;
    size_t                  id_len;
    ngx_str_t               seller;
    ngx_int_t               rc;
    ngx_microshop_rec_t    *rec, *srec;
    ngx_microshop_stock_t  *st;

    /* event ids are the seller's: "seller\nid" */

    if (ngx_microshop_store_key_seller(&op->key, &seller) != NGX_OK
        || seller.len + 1 + op->u.event.id.len > NGX_MICROSHOP_KEY_MAX)
    {
        return NGX_ERROR;
    }

    p = ngx_microshop_store_key_write(id, &seller, op->u.event.id.data,
                                      op->u.event.id.len);
    id_len = p - id;

    if (ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_EVENT, id, id_len,
                                  now))
    {
        op->u.event.result = NGX_MICROSHOP_EVENT_DUPLICATE;
        return NGX_OK;
    }

    st = ngx_microshop_stock_get_or_add(zone, &op->key,
                                        op->u.event.has_available
                                        ? NGX_MICROSHOP_REC_RESERVE
                                        : NGX_MICROSHOP_REC_EVENTS,
                                        op->u.event.has_available
                                        ? 0 : now + NGX_MICROSHOP_EVENT_KEEP,
                                        now, &srec);
    if (st == NULL) {
        return ngx_microshop_zone_refused_rc(zone);
    }

    if (op->u.event.version <= st->version) {
        /* not newer than the last one applied: a second version 0 too */
        op->u.event.result = NGX_MICROSHOP_EVENT_STALE;

    } else {
        op->u.event.result = NGX_MICROSHOP_EVENT_ACCEPTED;

        st->version = op->u.event.version;

        if (op->u.event.has_available) {
            st->available = op->u.event.available;

            /* the backend's count: what it sold of unknown holds is in */
            ngx_microshop_hold_event(zone, &op->key, st, now);
        }

        if (op->u.event.has_item) {
            rc = ngx_microshop_inv_store(zone, &op->key, &op->u.event.item,
                                         &op->u.event.etag,
                                         op->u.event.version,
                                         now + NGX_MICROSHOP_EVENT_CACHE,
                                         now);
            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

        } else {
            rec = ngx_microshop_zone_lookup(zone,
                                            NGX_MICROSHOP_KIND_INVENTORY,
                                            op->key.data, op->key.len, now);
            if (rec) {
                ngx_microshop_zone_delete(zone, rec);
            }
        }
    }

    ngx_microshop_stock_count(zone, srec, st, now);

    /* remembered for a day; forgetting one early is harmless (versions),
     * and so is one the seller's quota has no room for */
    (void) ngx_microshop_zone_insert(zone, NGX_MICROSHOP_KIND_EVENT, id,
                                     id_len, 0,
                                     now + NGX_MICROSHOP_EVENT_KEEP, now);

    return NGX_OK;
}


/* stock */

ngx_int_t
ngx_microshop_shm_stock_set(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    ngx_microshop_rec_t    *rec;
    ngx_microshop_stock_t  *st;

    st = ngx_microshop_stock_get_or_add(zone, &op->key,
                                        NGX_MICROSHOP_REC_RESERVE, 0, now,
                                        &rec);
    if (st == NULL) {
        return NGX_ERROR;
    }

    /* what the admin API sets is protected, whatever made the record */
    ngx_microshop_zone_protect(zone, rec);
    rec->expire = 0;

    st->available = op->u.stock.available;
    op->u.stock.held = st->held;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_shm_stock_get(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    ngx_microshop_rec_t    *rec;
    ngx_microshop_stock_t  *st;

    (void) ngx_microshop_shm_sweep(zone, op, now);

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_STOCK,
                                    op->key.data, op->key.len, now);
    if (rec == NULL) {
        return NGX_DECLINED;
    }

    st = (ngx_microshop_stock_t *) ngx_microshop_rec_value(rec);

    if (st->available < 0) {
        return NGX_DECLINED;
    }

    op->u.stock.available = st->available;
    op->u.stock.held = st->held;

    return NGX_OK;
}


/* reservations */

/* the header and the seller of a hold; returns its first line */

static u_char *
ngx_microshop_hold_read(ngx_microshop_rec_t *rec,
    ngx_microshop_hold_rec_t *hr, ngx_str_t *seller)
{
    u_char  *p;

    p = ngx_microshop_rec_value(rec);
    ngx_memcpy(hr, p, sizeof(ngx_microshop_hold_rec_t));
    p += sizeof(ngx_microshop_hold_rec_t);

    seller->data = p;
    seller->len = hr->seller_len;

    return p + hr->seller_len;
}


/* a line of a hold at p and its sku; returns the next line */

static u_char *
ngx_microshop_hold_line(u_char *p, ngx_microshop_hold_line_t *hl,
    ngx_str_t *sku)
{
    ngx_memcpy(hl, p, sizeof(ngx_microshop_hold_line_t));

    sku->data = p + sizeof(ngx_microshop_hold_line_t);
    sku->len = hl->sku_len;

    return sku->data + sku->len;
}


static void
ngx_microshop_hold_write(ngx_microshop_rec_t *rec,
    ngx_microshop_hold_rec_t *hr)
{
    ngx_memcpy(ngx_microshop_rec_value(rec), hr,
               sizeof(ngx_microshop_hold_rec_t));
}


static void
ngx_microshop_stock_less(int64_t *n, int64_t quantity)
{
    *n -= quantity;

    if (*n < 0) {
        *n = 0;
    }
}


/* what happens to the units of a hold's open lines */
#define NGX_MICROSHOP_UNITS_RELEASE  0     /* given back */
#define NGX_MICROSHOP_UNITS_COMMIT   1     /* sold: the stock shrinks */
#define NGX_MICROSHOP_UNITS_UNKNOWN  2     /* the hold is not live now */


static void
ngx_microshop_hold_units(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec, ngx_uint_t how, int64_t now)
{
    u_char                     *p;
    uint32_t                    i;
    ngx_str_t                   seller, sku;
    ngx_microshop_stock_t      *st;
    ngx_microshop_hold_rec_t    hr;
    ngx_microshop_hold_line_t   hl;

    p = ngx_microshop_hold_read(rec, &hr, &seller);

    for (i = 0; i < hr.nlines; i++) {
        p = ngx_microshop_hold_line(p, &hl, &sku);

        if (hl.settled) {
            continue;
        }

        st = ngx_microshop_stock_find(zone, &seller, &sku, now);
        if (st == NULL) {
            continue;
        }

        if (how == NGX_MICROSHOP_UNITS_UNKNOWN) {
            st->unknown += hl.quantity;
            continue;
        }

        ngx_microshop_stock_less(&st->held, hl.quantity);

        if (hr.state != NGX_MICROSHOP_HOLD_LIVE) {
            ngx_microshop_stock_less(&st->unknown, hl.quantity);
        }

        if (how == NGX_MICROSHOP_UNITS_COMMIT && st->available >= 0) {
            ngx_microshop_stock_less(&st->available, hl.quantity);
        }
    }
}


/* a hold leaves, its units sold (commit) or given back */

static void
ngx_microshop_hold_settle(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec, ngx_uint_t commit, int64_t now)
{
    ngx_str_t                  seller;
    ngx_microshop_hold_rec_t   hr;

    (void) ngx_microshop_hold_read(rec, &hr, &seller);

    ngx_microshop_hold_units(zone, rec, commit ? NGX_MICROSHOP_UNITS_COMMIT
                                               : NGX_MICROSHOP_UNITS_RELEASE,
                             now);

    if (hr.slot) {
        ngx_microshop_offline_give(zone, &seller, now);
    }

    if (hr.state == NGX_MICROSHOP_HOLD_PENDING) {
        ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_HOLDS_PENDING,
                                 (ngx_atomic_int_t) -1);
    }

    ngx_microshop_zone_delete(zone, rec);
}


/* a live hold's outcome is not known any more: hr is its new header */

static void
ngx_microshop_hold_not_live(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec, ngx_microshop_hold_rec_t *hr, int64_t now)
{
    ngx_microshop_hold_units(zone, rec, NGX_MICROSHOP_UNITS_UNKNOWN, now);
    ngx_microshop_hold_write(rec, hr);
}


ngx_int_t
ngx_microshop_shm_sweep(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    ngx_str_t                  seller;
    ngx_uint_t                 seen, done;
    ngx_microshop_rec_t       *rec, *prev, *first;
    ngx_microshop_hold_rec_t   hr;

    first = NULL;
    done = 0;
    seen = 0;

    /*
     * The queue is not in deadline order (hold= differs per location, a
     * lookup moves a hold to the head): a sweep looks at up to a batch of
     * holds from the tail and moves each one it saw to the head, so every
     * hold is looked at within a few sweeps and a hold whose hold= ran out
     * goes pending however many holds are not due yet.
     */

    for (rec = ngx_microshop_zone_last(zone, NGX_MICROSHOP_KIND_HOLD);
         rec && rec != first && seen < NGX_MICROSHOP_SWEEP_BATCH;
         rec = prev)
    {
        prev = ngx_microshop_zone_prev(zone, NGX_MICROSHOP_KIND_HOLD, rec);
        seen++;

        (void) ngx_microshop_hold_read(rec, &hr, &seller);

        if (hr.state != NGX_MICROSHOP_HOLD_PENDING && hr.deadline <= now) {

            /* hold= ran out and nothing settled it: it may have sold */

            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                           "microshop: hold \"%*s\" pending reconciliation",
                           (size_t) rec->key_len, ngx_microshop_rec_key(rec));

            if (hr.state == NGX_MICROSHOP_HOLD_LIVE) {
                hr.state = NGX_MICROSHOP_HOLD_PENDING;
                hr.why = NGX_MICROSHOP_WHY_NO_ANSWER;
                ngx_microshop_hold_not_live(zone, rec, &hr, now);

            } else {
                hr.state = NGX_MICROSHOP_HOLD_PENDING;
                ngx_microshop_hold_write(rec, &hr);
            }

            done++;
        }

        /* every hold seen, due or not, goes to the head: a round robin */
        ngx_microshop_zone_to_head(zone, rec);

        if (first == NULL) {
            first = rec;
        }
    }

    if (done) {
        ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_RESERVE_PENDING,
                                 done);
        ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_HOLDS_PENDING,
                                 done);
    }

    return NGX_OK;
}


ngx_int_t
ngx_microshop_shm_reserve(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    u_char                     *p;
    size_t                      size;
    ngx_uint_t                  i, managed, shortage;
    ngx_microshop_rec_t        *rec;
    ngx_microshop_line_t       *line;
    ngx_microshop_stock_t     **st;
    ngx_microshop_hold_rec_t    hr;
    ngx_microshop_hold_line_t   hl;

    line = op->u.reserve.lines;

    st = ngx_palloc(op->pool, op->u.reserve.nlines * sizeof(void *));
    if (st == NULL) {
        return NGX_ERROR;
    }

    managed = 0;
    shortage = 0;
    size = sizeof(hr) + op->u.reserve.seller.len;

    for (i = 0; i < op->u.reserve.nlines; i++) {
        st[i] = ngx_microshop_stock_find(zone, &op->u.reserve.seller,
                                         &line[i].sku, now);

        line[i].short_of_stock = 0;
        line[i].available = -1;
        line[i].held = -1;

        if (st[i] == NULL || st[i]->available < 0) {
            /* no stock known at the edge: the backend decides */
            st[i] = NULL;
            continue;
        }

        if (st[i]->available - st[i]->held < line[i].quantity) {
            line[i].short_of_stock = 1;
            shortage = 1;
        }

        managed++;
        size += sizeof(hl) + line[i].sku.len;
    }

    op->u.reserve.held = 0;
    op->u.reserve.offline = 0;

    if (shortage) {
        return NGX_DECLINED;
    }

    if (managed == 0) {
        return NGX_OK;
    }

    rec = ngx_microshop_zone_insert(zone, NGX_MICROSHOP_KIND_HOLD,
                                    op->u.reserve.id.data,
                                    op->u.reserve.id.len, size, 0, now);
    if (rec == NULL) {
        return NGX_ERROR;
    }

    hr.created = now;
    hr.deadline = now + op->u.reserve.hold;
    hr.nlines = (uint32_t) managed;
    hr.open = (uint32_t) managed;
    hr.seller_len = (uint32_t) op->u.reserve.seller.len;
    hr.state = NGX_MICROSHOP_HOLD_LIVE;
    hr.why = NGX_MICROSHOP_WHY_NONE;
    hr.reserved = 0;
    hr.slot = op->u.reserve.offline_max
              ? (uint32_t) ngx_microshop_offline_take(zone,
                                                     &op->u.reserve.seller,
                                                     op->u.reserve.offline_max,
                                                     now)
              : 0;

    op->u.reserve.offline = hr.slot;

    p = ngx_cpymem(ngx_microshop_rec_value(rec), &hr, sizeof(hr));
    p = ngx_cpymem(p, op->u.reserve.seller.data, op->u.reserve.seller.len);

    for (i = 0; i < op->u.reserve.nlines; i++) {
        if (st[i] == NULL) {
            continue;
        }

        st[i]->held += line[i].quantity;

        line[i].available = st[i]->available;
        line[i].held = st[i]->held;

        hl.quantity = line[i].quantity;
        hl.sku_len = (uint32_t) line[i].sku.len;
        hl.settled = 0;

        p = ngx_cpymem(p, &hl, sizeof(hl));
        p = ngx_cpymem(p, line[i].sku.data, line[i].sku.len);
    }

    op->u.reserve.held = 1;

    return NGX_OK;
}


/*
 * By its request's answer or the admin API, whatever the hold's state.
 * No hold: settled already (by the admin API, an event), nothing to do.
 */

ngx_int_t
ngx_microshop_shm_settle(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    u_char                    *p;
    ngx_str_t                  seller;
    ngx_microshop_rec_t       *rec;
    ngx_microshop_hold_rec_t   hr;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_HOLD,
                                    op->u.reserve.id.data,
                                    op->u.reserve.id.len, now);
    if (rec == NULL) {
        return NGX_DECLINED;
    }

    if (op->u.reserve.seller.len == 0 && op->pool) {
        /* out: whose hold it was, for the admin API's event */
        (void) ngx_microshop_hold_read(rec, &hr, &seller);

        p = ngx_pnalloc(op->pool, seller.len);
        if (p) {
            op->u.reserve.seller.data = p;
            op->u.reserve.seller.len = seller.len;
            ngx_memcpy(p, seller.data, seller.len);
        }
    }

    ngx_microshop_hold_settle(zone, rec, op->u.reserve.commit, now);

    return NGX_OK;
}


/* the request of a live hold ended after it was sent, without an answer */

ngx_int_t
ngx_microshop_shm_hold_unknown(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now)
{
    ngx_str_t                  seller;
    ngx_microshop_rec_t       *rec;
    ngx_microshop_hold_rec_t   hr;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_HOLD,
                                    op->u.reserve.id.data,
                                    op->u.reserve.id.len, now);
    if (rec == NULL) {
        return NGX_DECLINED;
    }

    (void) ngx_microshop_hold_read(rec, &hr, &seller);

    if (op->u.reserve.why == NGX_MICROSHOP_WHY_OFFLINE && !hr.slot) {
        /* only a hold with an offline slot becomes an offline order */
        return NGX_DECLINED;
    }

    if (op->u.reserve.why != NGX_MICROSHOP_WHY_OFFLINE && hr.slot) {
        ngx_microshop_offline_give(zone, &seller, now);
        hr.slot = 0;
    }

    if (hr.state != NGX_MICROSHOP_HOLD_LIVE) {
        /*
         * hold= ran out before the request ended: pending already, its
         * units unknown; accepted offline it is an offline order all the
         * same (only the admin API settles it, it outlives a restart)
         */
        if (op->u.reserve.why == NGX_MICROSHOP_WHY_OFFLINE) {
            hr.why = NGX_MICROSHOP_WHY_OFFLINE;
        }

        ngx_microshop_hold_write(rec, &hr);

        return NGX_OK;
    }

    hr.state = NGX_MICROSHOP_HOLD_UNKNOWN;
    hr.why = (uint16_t) op->u.reserve.why;

    ngx_microshop_hold_not_live(zone, rec, &hr, now);

    return NGX_OK;
}


/*
 * An accepted event with the backend's count of (seller, sku): the lines
 * of that sku in holds whose outcome is unknown are settled by it (what
 * the backend sold of them is in its count); a hold whose every line is
 * settled is gone.
 */

static void
ngx_microshop_hold_event(ngx_microshop_zone_t *zone, ngx_str_t *key,
    ngx_microshop_stock_t *st, int64_t now)
{
    u_char                     *p, *line;
    uint32_t                    i;
    ngx_str_t                   seller, hseller, sku, hsku;
    ngx_uint_t                  done;
    ngx_microshop_rec_t        *rec, *prev;
    ngx_microshop_hold_rec_t    hr;
    ngx_microshop_hold_line_t   hl;

    if (st->unknown <= 0
        || ngx_microshop_store_key_seller(key, &seller) != NGX_OK)
    {
        return;
    }

    sku.data = key->data + seller.len + 1;
    sku.len = key->len - seller.len - 1;

    done = 0;

    for (rec = ngx_microshop_zone_last(zone, NGX_MICROSHOP_KIND_HOLD);
         rec && st->unknown > 0;
         rec = prev)
    {
        prev = ngx_microshop_zone_prev(zone, NGX_MICROSHOP_KIND_HOLD, rec);

        p = ngx_microshop_hold_read(rec, &hr, &hseller);

        if (hr.state == NGX_MICROSHOP_HOLD_LIVE
            || hr.why == NGX_MICROSHOP_WHY_OFFLINE
            || hr.slot
            || hseller.len != seller.len
            || ngx_memcmp(hseller.data, seller.data, seller.len) != 0)
        {
            continue;
        }

        for (i = 0; i < hr.nlines; i++) {
            line = p;
            p = ngx_microshop_hold_line(p, &hl, &hsku);

            if (hl.settled || hsku.len != sku.len
                || ngx_memcmp(hsku.data, sku.data, sku.len) != 0)
            {
                continue;
            }

            hl.settled = 1;
            ngx_memcpy(line, &hl, sizeof(ngx_microshop_hold_line_t));

            ngx_microshop_stock_less(&st->held, hl.quantity);
            ngx_microshop_stock_less(&st->unknown, hl.quantity);
            hr.open--;
        }

        if (hr.open) {
            ngx_microshop_hold_write(rec, &hr);
            continue;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "microshop: hold \"%*s\" settled by an event",
                       (size_t) rec->key_len, ngx_microshop_rec_key(rec));

        if (hr.state == NGX_MICROSHOP_HOLD_PENDING) {
            ngx_microshop_zone_count(zone,
                                     NGX_MICROSHOP_COUNTER_HOLDS_PENDING,
                                     (ngx_atomic_int_t) -1);
        }

        ngx_microshop_zone_delete(zone, rec);
        done++;
    }

    if (done) {
        ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_SETTLED_EVENT,
                                 done);
    }
}


static int ngx_libc_cdecl
ngx_microshop_hold_older(const void *one, const void *two)
{
    const ngx_microshop_hold_found_t  *a = one, *b = two;

    return (a->created > b->created) - (a->created < b->created);
}


/*
 * The holds of a seller ("": of every seller) that are pending (with all:
 * every hold), the oldest first, at most limit of them, in op->pool; the
 * total counts those beyond the limit too.  A hold past its deadline is
 * pending even before the sweep said so.
 */

ngx_int_t
ngx_microshop_shm_hold_list(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op, int64_t now)
{
    u_char                      *p;
    uint32_t                     k;
    ngx_str_t                    seller, sku;
    ngx_uint_t                   i, n, pending;
    ngx_microshop_rec_t         *rec;
    ngx_microshop_hold_t        *h;
    ngx_microshop_line_t        *line;
    ngx_microshop_hold_rec_t     hr;
    ngx_microshop_hold_line_t    hl;
    ngx_microshop_hold_found_t  *found;

    op->u.reserve.holds = NULL;
    op->u.reserve.nholds = 0;
    op->u.reserve.total = 0;

    n = zone->sh->records[NGX_MICROSHOP_KIND_HOLD];

    if (n == 0) {
        return NGX_OK;
    }

    found = ngx_palloc(op->pool, n * sizeof(ngx_microshop_hold_found_t));
    if (found == NULL) {
        return NGX_ERROR;
    }

    i = 0;

    /* every hold, whatever its place in the queue: sorted below */

    for (rec = ngx_microshop_zone_last(zone, NGX_MICROSHOP_KIND_HOLD);
         rec && i < n;
         rec = ngx_microshop_zone_prev(zone, NGX_MICROSHOP_KIND_HOLD, rec))
    {
        (void) ngx_microshop_hold_read(rec, &hr, &seller);

        if (op->u.reserve.seller.len
            && (seller.len != op->u.reserve.seller.len
                || ngx_memcmp(seller.data, op->u.reserve.seller.data,
                              seller.len) != 0))
        {
            continue;
        }

        if (!op->u.reserve.all
            && hr.state != NGX_MICROSHOP_HOLD_PENDING && hr.deadline > now)
        {
            continue;
        }

        found[i].created = hr.created;
        found[i].rec = rec;
        i++;
    }

    op->u.reserve.total = i;

    n = ngx_min(i, op->u.reserve.limit);

    if (n == 0) {
        return NGX_OK;
    }

    ngx_qsort(found, i, sizeof(ngx_microshop_hold_found_t),
              ngx_microshop_hold_older);

    h = ngx_pcalloc(op->pool, n * sizeof(ngx_microshop_hold_t));
    if (h == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        rec = found[i].rec;
        p = ngx_microshop_hold_read(rec, &hr, &seller);

        pending = (hr.state == NGX_MICROSHOP_HOLD_PENDING
                   || hr.deadline <= now);

        h[i].created = hr.created;
        h[i].deadline = hr.deadline;
        h[i].state = pending ? NGX_MICROSHOP_HOLD_PENDING : hr.state;
        h[i].why = (pending && hr.state == NGX_MICROSHOP_HOLD_LIVE)
                   ? NGX_MICROSHOP_WHY_NO_ANSWER : hr.why;

        h[i].id.len = rec->key_len;
        h[i].id.data = ngx_pnalloc(op->pool, rec->key_len + seller.len);
        h[i].lines = ngx_palloc(op->pool,
                                hr.nlines * sizeof(ngx_microshop_line_t));

        if (h[i].id.data == NULL || h[i].lines == NULL) {
            return NGX_ERROR;
        }

        h[i].seller.data = ngx_cpymem(h[i].id.data,
                                      ngx_microshop_rec_key(rec),
                                      rec->key_len);
        h[i].seller.len = seller.len;
        ngx_memcpy(h[i].seller.data, seller.data, seller.len);

        for (k = 0; k < hr.nlines; k++) {
            p = ngx_microshop_hold_line(p, &hl, &sku);

            if (hl.settled) {
                continue;
            }

            line = &h[i].lines[h[i].nlines++];
            line->quantity = hl.quantity;
            line->short_of_stock = 0;
            line->sku.len = sku.len;
            line->sku.data = ngx_pnalloc(op->pool, sku.len);
            if (line->sku.data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(line->sku.data, sku.data, sku.len);
        }
    }

    op->u.reserve.holds = h;
    op->u.reserve.nholds = n;

    return NGX_OK;
}


/*
 * A seller's offline slots: a record of their count, gone at 0
 * (ngx_microshop_store.h "Offline slots")
 */

static ngx_uint_t
ngx_microshop_offline_take(ngx_microshop_zone_t *zone, ngx_str_t *seller,
    ngx_uint_t max, int64_t now)
{
    int64_t               n;
    ngx_microshop_rec_t  *rec;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_OFFLINE,
                                    seller->data, seller->len, now);
    if (rec == NULL) {
        rec = ngx_microshop_zone_insert(zone, NGX_MICROSHOP_KIND_OFFLINE,
                                        seller->data, seller->len,
                                        sizeof(int64_t), 0, now);
        if (rec == NULL) {
            /* no room: no slot, the checkout fails as without offline= */
            return 0;
        }

        n = 0;

    } else {
        ngx_memcpy(&n, ngx_microshop_rec_value(rec), sizeof(n));
    }

    /* unsigned: the restore's max, (ngx_uint_t) -1, is no limit */
    if ((ngx_uint_t) n >= max) {
        return 0;
    }

    n++;
    ngx_memcpy(ngx_microshop_rec_value(rec), &n, sizeof(n));

    return 1;
}


static void
ngx_microshop_offline_give(ngx_microshop_zone_t *zone, ngx_str_t *seller,
    int64_t now)
{
    int64_t               n;
    ngx_microshop_rec_t  *rec;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_OFFLINE,
                                    seller->data, seller->len, now);
    if (rec == NULL) {
        return;
    }

    ngx_memcpy(&n, ngx_microshop_rec_value(rec), sizeof(n));

    if (--n <= 0) {
        ngx_microshop_zone_delete(zone, rec);
        return;
    }

    ngx_memcpy(ngx_microshop_rec_value(rec), &n, sizeof(n));
}


/*
 * An offline order read back from the state file after a restart
 * (ngx_microshop_store_shm_state.c): its hold, pending, with its slot,
 * and its units held in the stock of its SKUs, whose number the edge
 * learns again from the admin API or the next webhook.
 */

ngx_int_t
ngx_microshop_shm_hold_restore(ngx_microshop_zone_t *zone,
    ngx_microshop_hold_t *h, int64_t now)
{
    u_char                     *p;
    size_t                      size;
    ngx_str_t                   key;
    ngx_uint_t                  i;
    ngx_microshop_rec_t        *rec, *srec;
    ngx_microshop_stock_t      *st;
    ngx_microshop_hold_rec_t    hr;
    ngx_microshop_hold_line_t   hl;
    u_char                      buf[NGX_MICROSHOP_KEY_MAX];

    if (h->nlines == 0 || h->seller.len == 0
        || ngx_microshop_zone_peek(zone, NGX_MICROSHOP_KIND_HOLD, h->id.data,
                                   h->id.len))
    {
        return NGX_DECLINED;
    }

    size = sizeof(hr) + h->seller.len;

    for (i = 0; i < h->nlines; i++) {
        if (h->seller.len + 1 + h->lines[i].sku.len > NGX_MICROSHOP_KEY_MAX) {
            return NGX_DECLINED;
        }

        size += sizeof(hl) + h->lines[i].sku.len;
    }

    rec = ngx_microshop_zone_insert(zone, NGX_MICROSHOP_KIND_HOLD,
                                    h->id.data, h->id.len, size, 0, now);
    if (rec == NULL) {
        return NGX_ERROR;
    }

    hr.created = h->created;
    hr.deadline = h->deadline;
    hr.nlines = (uint32_t) h->nlines;
    hr.open = (uint32_t) h->nlines;
    hr.seller_len = (uint32_t) h->seller.len;
    hr.state = NGX_MICROSHOP_HOLD_PENDING;
    hr.why = NGX_MICROSHOP_WHY_OFFLINE;
    hr.slot = (uint32_t) ngx_microshop_offline_take(zone, &h->seller,
                                                    (ngx_uint_t) -1, now);
    hr.reserved = 0;

    p = ngx_cpymem(ngx_microshop_rec_value(rec), &hr, sizeof(hr));
    p = ngx_cpymem(p, h->seller.data, h->seller.len);

    for (i = 0; i < h->nlines; i++) {
        hl.quantity = h->lines[i].quantity;
        hl.sku_len = (uint32_t) h->lines[i].sku.len;
        hl.settled = 0;

        p = ngx_cpymem(p, &hl, sizeof(hl));
        p = ngx_cpymem(p, h->lines[i].sku.data, h->lines[i].sku.len);

        key.data = buf;
        key.len = ngx_microshop_store_key_write(buf, &h->seller,
                                                h->lines[i].sku.data,
                                                h->lines[i].sku.len)
                  - buf;

        st = ngx_microshop_stock_get_or_add(zone, &key,
                                            NGX_MICROSHOP_REC_RESERVE, 0, now,
                                            &srec);
        if (st) {
            st->held += hl.quantity;
            st->unknown += hl.quantity;
        }
    }

    ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_HOLDS_PENDING, 1);

    return NGX_OK;
}
