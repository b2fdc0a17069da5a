/*
 * ngx_microshop: inventory cache, events, stock and reservations on the
 * shared memory zone.  Every function runs under the zone lock.
 *
 * A STOCK record per (seller, sku) holds what is available, what is held
 * by reservations in flight, and the version of the last event.  A HOLD
 * record per reservation lists its lines and its deadline; a hold is
 * released by settling it, or by the sweep once its deadline passed (the
 * sweep runs before every reservation and from a periodic timer), so that
 * stock never leaks.
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
    int64_t     held;
    int64_t     version;         /* of the last event applied, or NONE */
} ngx_microshop_stock_t;


typedef struct {
    int64_t     stored_at;
    int64_t     version;
    int64_t     refresh_until;   /* a refresh holds the lock until then */
    int64_t     retry_at;        /* the last refresh failed: none before */
    uint32_t    etag_len;
    uint32_t    body_len;
} ngx_microshop_inv_rec_t;


typedef struct {
    int64_t     deadline;
    uint32_t    nlines;
    uint32_t    seller_len;
} ngx_microshop_hold_rec_t;


typedef struct {
    int64_t     quantity;
    uint32_t    sku_len;
    uint32_t    reserved;
} ngx_microshop_hold_line_t;


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

/*
 * Gives a hold's units back; with commit, they were sold: the stock
 * shrinks by them too.
 */
static void
ngx_microshop_hold_release(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec, ngx_uint_t commit, int64_t now)
{
    u_char                     *p;
    uint32_t                    i;
    ngx_str_t                   seller, sku;
    ngx_microshop_stock_t      *st;
    ngx_microshop_hold_rec_t    hr;
    ngx_microshop_hold_line_t   hl;

    p = ngx_microshop_rec_value(rec);
    ngx_memcpy(&hr, p, sizeof(hr));
    p += sizeof(hr);

    seller.data = p;
    seller.len = hr.seller_len;
    p += hr.seller_len;

    for (i = 0; i < hr.nlines; i++) {
        ngx_memcpy(&hl, p, sizeof(hl));
        p += sizeof(hl);

        sku.data = p;
        sku.len = hl.sku_len;
        p += hl.sku_len;

        st = ngx_microshop_stock_find(zone, &seller, &sku, now);
        if (st == NULL) {
            continue;
        }

        st->held -= hl.quantity;
        if (st->held < 0) {
            st->held = 0;
        }

        if (commit && st->available >= 0) {
            st->available -= hl.quantity;
            if (st->available < 0) {
                st->available = 0;
            }
        }
    }

    ngx_microshop_zone_delete(zone, rec);
}


ngx_int_t
ngx_microshop_shm_sweep(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    ngx_uint_t                 seen, done;
    ngx_microshop_rec_t       *rec, *prev;
    ngx_microshop_hold_rec_t   hr;

    done = 0;
    seen = 0;

    /* holds are looked up only to settle them: the queue is in order of
     * creation, so expired holds gather at its tail */

    for (rec = ngx_microshop_zone_last(zone, NGX_MICROSHOP_KIND_HOLD);
         rec && seen < NGX_MICROSHOP_SWEEP_BATCH;
         rec = prev)
    {
        prev = ngx_microshop_zone_prev(zone, NGX_MICROSHOP_KIND_HOLD, rec);
        seen++;

        ngx_memcpy(&hr, ngx_microshop_rec_value(rec), sizeof(hr));

        if (hr.deadline <= now) {
            ngx_microshop_hold_release(zone, rec, 0, now);
            done++;
        }
    }

    if (done) {
        ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_RESERVE_EXPIRED,
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

    (void) ngx_microshop_shm_sweep(zone, op, now);

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

    hr.deadline = now + op->u.reserve.hold;
    hr.nlines = (uint32_t) managed;
    hr.seller_len = (uint32_t) op->u.reserve.seller.len;

    p = ngx_cpymem(ngx_microshop_rec_value(rec), &hr, sizeof(hr));
    p = ngx_cpymem(p, op->u.reserve.seller.data, op->u.reserve.seller.len);

    for (i = 0; i < op->u.reserve.nlines; i++) {
        if (st[i] == NULL) {
            continue;
        }

        st[i]->held += line[i].quantity;

        hl.quantity = line[i].quantity;
        hl.sku_len = (uint32_t) line[i].sku.len;
        hl.reserved = 0;

        p = ngx_cpymem(p, &hl, sizeof(hl));
        p = ngx_cpymem(p, line[i].sku.data, line[i].sku.len);
    }

    op->u.reserve.held = 1;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_shm_settle(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    int64_t now)
{
    ngx_uint_t              i;
    ngx_microshop_rec_t    *rec;
    ngx_microshop_stock_t  *st;

    rec = ngx_microshop_zone_lookup(zone, NGX_MICROSHOP_KIND_HOLD,
                                    op->u.reserve.id.data,
                                    op->u.reserve.id.len, now);
    if (rec) {
        ngx_microshop_hold_release(zone, rec, op->u.reserve.commit, now);
        return NGX_OK;
    }

    if (!op->u.reserve.commit) {
        return NGX_DECLINED;
    }

    /*
     * The hold ran out before the backend answered, yet the backend sold:
     * the units are gone all the same.
     */

    for (i = 0; i < op->u.reserve.nlines; i++) {
        st = ngx_microshop_stock_find(zone, &op->u.reserve.seller,
                                      &op->u.reserve.lines[i].sku, now);

        if (st && st->available >= 0) {
            st->available -= op->u.reserve.lines[i].quantity;
            if (st->available < 0) {
                st->available = 0;
            }
        }
    }

    return NGX_DECLINED;
}
