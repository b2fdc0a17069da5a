/*
 * ngx_microshop: the embedded feeds (docs/events.md "Embedded"), the shm
 * store's FEED_APPEND and FEED_READ, in the zone of microshop_events_out
 * (store->feed), under that zone's own lock: a burst of events never
 * waits on the records of the main zone, and the feeds never take room
 * from holds or idempotency locks.
 *
 * A seller's feed is a ring of numbered records.  A FEED record keyed by
 * the seller holds the numbers of its oldest event and of the next one,
 * its newest id and the newest id it dropped; a FEED_EVENT record keyed
 * by seller "\n" and its number (8 bytes, big-endian) holds one event.
 * Ids increase with the numbers, so a read finds the first event after
 * an id by bisection over the numbers, a hash lookup a step.
 *
 * Records are found with ngx_microshop_zone_peek(), which leaves them in
 * their queue: the FEED_EVENT queue stays in the order events were
 * written, so its tail is the oldest event of the whole zone.  A seller
 * past keep= drops its own oldest; a full zone drops the zone's oldest,
 * whoever's it is.  Either is counted (microshop_feed_dropped_total).
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_store.h"
#include "ngx_microshop_store_shm.h"


/* the longest seller a feed takes: a token's claim is at most 1024 */
#define NGX_MICROSHOP_FEED_SELLER_MAX  1024
#define NGX_MICROSHOP_FEED_KEY_MAX     (NGX_MICROSHOP_FEED_SELLER_MAX + 1 + 8)

/* how many of the zone's oldest events a full zone drops for one */
#define NGX_MICROSHOP_FEED_DROP_MAX    256


typedef struct {
    uint64_t                first;     /* number of the oldest kept */
    uint64_t                next;      /* number the next event takes */
    microshop_event_id_t    last;      /* newest id, 0-0: none yet */
    microshop_event_id_t    dropped;   /* newest id dropped, 0-0: none */
} ngx_microshop_feed_head_t;


typedef struct {
    microshop_event_id_t    id;
    uint32_t                type;
    uint32_t                data_len;
} ngx_microshop_feed_rec_t;


static size_t ngx_microshop_feed_key(u_char *buf, ngx_str_t *seller,
    uint64_t n);
static ngx_int_t ngx_microshop_feed_append(ngx_microshop_store_t *store,
    ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    microshop_event_id_t *given, int64_t now, ngx_uint_t *dropped);
static ngx_int_t ngx_microshop_feed_read(ngx_microshop_zone_t *zone,
    ngx_microshop_op_t *op);
static ngx_microshop_rec_t *ngx_microshop_feed_insert(
    ngx_microshop_zone_t *zone, ngx_uint_t kind, u_char *key, size_t len,
    size_t value_len, int64_t now, ngx_uint_t *dropped);
static ngx_int_t ngx_microshop_feed_drop_oldest(ngx_microshop_zone_t *zone);
static ngx_microshop_rec_t *ngx_microshop_feed_event(
    ngx_microshop_zone_t *zone, ngx_str_t *seller, uint64_t n,
    ngx_microshop_feed_rec_t *fr);


ngx_int_t
ngx_microshop_shm_feed(ngx_microshop_store_t *store, ngx_microshop_op_t *op,
    int64_t now)
{
    ngx_int_t              rc;
    ngx_uint_t             dropped;
    ngx_microshop_zone_t  *zone;

    zone = store->feed;

    if (zone == NULL || op->key.len == 0
        || op->key.len > NGX_MICROSHOP_FEED_SELLER_MAX)
    {
        /* no microshop_events_out, or no seller a token can name */
        return NGX_ERROR;
    }

    dropped = 0;

    ngx_microshop_zone_lock(zone);

    if (op->type == NGX_MICROSHOP_OP_FEED_APPEND) {
        rc = ngx_microshop_feed_append(store, zone, op, NULL, now, &dropped);

    } else {
        rc = ngx_microshop_feed_read(zone, op);
    }

    ngx_microshop_zone_unlock(zone);

    if (dropped) {
        ngx_microshop_zone_count(store->local,
                                 NGX_MICROSHOP_COUNTER_FEED_DROPPED, dropped);
    }

    return rc;
}


static size_t
ngx_microshop_feed_key(u_char *buf, ngx_str_t *seller, uint64_t n)
{
    u_char      *p;
    ngx_uint_t   i;

    p = ngx_cpymem(buf, seller->data, seller->len);
    *p++ = '\n';

    for (i = 0; i < 8; i++) {
        *p++ = (u_char) (n >> (56 - 8 * i));
    }

    return p - buf;
}


static ngx_int_t
ngx_microshop_feed_append(ngx_microshop_store_t *store,
    ngx_microshop_zone_t *zone, ngx_microshop_op_t *op,
    microshop_event_id_t *given, int64_t now, ngx_uint_t *dropped)
{
    u_char                     key[NGX_MICROSHOP_FEED_KEY_MAX];
    size_t                     len;
    ngx_uint_t                 keep;
    ngx_microshop_rec_t       *head, *rec;
    microshop_event_id_t       id;
    ngx_microshop_feed_rec_t   fr;
    ngx_microshop_feed_head_t  h;

    keep = store->feed_keep ? store->feed_keep : 1;

    head = ngx_microshop_zone_peek(zone, NGX_MICROSHOP_KIND_FEED,
                                   op->key.data, op->key.len);
    if (head == NULL) {
        head = ngx_microshop_feed_insert(zone, NGX_MICROSHOP_KIND_FEED,
                                         op->key.data, op->key.len,
                                         sizeof(h), now, dropped);
        if (head == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(&h, sizeof(h));
        ngx_memcpy(ngx_microshop_rec_value(head), &h, sizeof(h));
    }

    ngx_memcpy(&h, ngx_microshop_rec_value(head), sizeof(h));

    if (given) {
        /* read back after a restart: its own id, if it is newer */
        if (microshop_event_id_cmp(given, &h.last) <= 0) {
            return NGX_DECLINED;
        }

        id = *given;

    } else if (microshop_event_id_next((h.last.ms || h.last.seq) ? &h.last
                                                                 : NULL,
                                       (uint64_t) (now > 0 ? now : 0), &id)
               != 0)
    {
        /* both parts of the last id at their largest: no id is left */
        return NGX_ERROR;
    }

    /* the seller's own oldest go first beyond keep= */

    while (h.next - h.first >= keep) {
        rec = ngx_microshop_feed_event(zone, &op->key, h.first, &fr);
        if (rec) {
            h.dropped = fr.id;
            ngx_microshop_zone_delete(zone, rec);
            (*dropped)++;
        }

        h.first++;
    }

    ngx_memcpy(ngx_microshop_rec_value(head), &h, sizeof(h));

    len = ngx_microshop_feed_key(key, &op->key, h.next);

    rec = ngx_microshop_feed_insert(zone, NGX_MICROSHOP_KIND_FEED_EVENT,
                                    key, len, sizeof(fr) + op->u.feed.data.len,
                                    now, dropped);
    if (rec == NULL) {
        return NGX_ERROR;
    }

    fr.id = id;
    fr.type = (uint32_t) op->u.feed.type;
    fr.data_len = (uint32_t) op->u.feed.data.len;

    (void) ngx_microshop_cpymem(ngx_cpymem(ngx_microshop_rec_value(rec), &fr,
                                           sizeof(fr)),
                                op->u.feed.data.data, op->u.feed.data.len);

    /* the drops of a full zone may have moved this seller's oldest */
    ngx_memcpy(&h, ngx_microshop_rec_value(head), sizeof(h));

    h.next++;
    h.last = id;

    ngx_memcpy(ngx_microshop_rec_value(head), &h, sizeof(h));

    return NGX_OK;
}


/*
 * A record, dropping the zone's oldest events while there is no room for
 * it; NULL when there still is none (a head or an event larger than the
 * zone's room, or a zone of heads only).
 */

static ngx_microshop_rec_t *
ngx_microshop_feed_insert(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    u_char *key, size_t len, size_t value_len, int64_t now,
    ngx_uint_t *dropped)
{
    ngx_uint_t            i;
    ngx_microshop_rec_t  *rec;

    for (i = 0; i < NGX_MICROSHOP_FEED_DROP_MAX; i++) {

        rec = ngx_microshop_zone_insert(zone, kind, key, len, value_len, 0,
                                        now);
        if (rec) {
            return rec;
        }

        if (ngx_microshop_feed_drop_oldest(zone) != NGX_OK) {
            return NULL;
        }

        (*dropped)++;
    }

    return NULL;
}


/* the oldest event of the zone goes; its seller's ring starts after it */

static ngx_int_t
ngx_microshop_feed_drop_oldest(ngx_microshop_zone_t *zone)
{
    u_char                     *k;
    uint64_t                    n;
    ngx_str_t                   seller;
    ngx_uint_t                  i;
    ngx_microshop_rec_t        *rec, *head;
    ngx_microshop_feed_rec_t    fr;
    ngx_microshop_feed_head_t   h;

    rec = ngx_microshop_zone_last(zone, NGX_MICROSHOP_KIND_FEED_EVENT);
    if (rec == NULL || rec->key_len < 1 + 8) {
        return NGX_ERROR;
    }

    k = ngx_microshop_rec_key(rec);

    seller.data = k;
    seller.len = rec->key_len - 1 - 8;

    n = 0;
    for (i = 0; i < 8; i++) {
        n = (n << 8) | k[seller.len + 1 + i];
    }

    ngx_memcpy(&fr, ngx_microshop_rec_value(rec), sizeof(fr));

    head = ngx_microshop_zone_peek(zone, NGX_MICROSHOP_KIND_FEED,
                                   seller.data, seller.len);
    if (head) {
        ngx_memcpy(&h, ngx_microshop_rec_value(head), sizeof(h));

        if (h.first <= n) {
            h.first = n + 1;
        }

        if (microshop_event_id_cmp(&h.dropped, &fr.id) < 0) {
            h.dropped = fr.id;
        }

        ngx_memcpy(ngx_microshop_rec_value(head), &h, sizeof(h));
    }

    ngx_microshop_zone_delete(zone, rec);

    return NGX_OK;
}


static ngx_microshop_rec_t *
ngx_microshop_feed_event(ngx_microshop_zone_t *zone, ngx_str_t *seller,
    uint64_t n, ngx_microshop_feed_rec_t *fr)
{
    u_char                key[NGX_MICROSHOP_FEED_KEY_MAX];
    size_t                len;
    ngx_microshop_rec_t  *rec;

    len = ngx_microshop_feed_key(key, seller, n);

    rec = ngx_microshop_zone_peek(zone, NGX_MICROSHOP_KIND_FEED_EVENT, key,
                                  len);
    if (rec) {
        ngx_memcpy(fr, ngx_microshop_rec_value(rec), sizeof(*fr));
    }

    return rec;
}


static ngx_int_t
ngx_microshop_feed_read(ngx_microshop_zone_t *zone, ngx_microshop_op_t *op)
{
    u_char                      *p;
    uint64_t                     lo, hi, mid, n;
    ngx_uint_t                   count;
    ngx_microshop_rec_t         *head, *rec;
    ngx_microshop_feed_rec_t     fr;
    ngx_microshop_feed_head_t    h;
    ngx_microshop_feed_event_t  *ev;

    op->u.feed.events = NULL;
    op->u.feed.nevents = 0;
    op->u.feed.missed = 0;
    op->u.feed.last.ms = 0;
    op->u.feed.last.seq = 0;

    head = ngx_microshop_zone_peek(zone, NGX_MICROSHOP_KIND_FEED,
                                   op->key.data, op->key.len);
    if (head == NULL) {
        /* nothing was ever written to this seller's feed */
        return NGX_OK;
    }

    ngx_memcpy(&h, ngx_microshop_rec_value(head), sizeof(h));

    op->u.feed.last = h.last;
    op->u.feed.missed = (microshop_event_id_cmp(&op->u.feed.after,
                                                &h.dropped) < 0);

    /* the first kept event after the id */

    lo = h.first;
    hi = h.next;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (ngx_microshop_feed_event(zone, &op->key, mid, &fr) == NULL) {
            /* a hole in a ring cannot be: the zone is not what it was */
            return NGX_ERROR;
        }

        if (microshop_event_id_cmp(&fr.id, &op->u.feed.after) <= 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    count = (ngx_uint_t) ngx_min((uint64_t) op->u.feed.limit, h.next - lo);

    if (count == 0) {
        return NGX_OK;
    }

    ev = ngx_palloc(op->pool, count * sizeof(ngx_microshop_feed_event_t));
    if (ev == NULL) {
        return NGX_ERROR;
    }

    for (n = 0; n < count; n++) {
        rec = ngx_microshop_feed_event(zone, &op->key, lo + n, &fr);
        if (rec == NULL) {
            return NGX_ERROR;
        }

        ev[n].id = fr.id;
        ev[n].type = fr.type;
        ev[n].data.len = fr.data_len;
        ev[n].data.data = ngx_pnalloc(op->pool, fr.data_len + 1);
        if (ev[n].data.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_microshop_cpymem(ev[n].data.data,
                                 ngx_microshop_rec_value(rec) + sizeof(fr),
                                 fr.data_len);
        *p = '\0';
    }

    op->u.feed.events = ev;
    op->u.feed.nevents = count;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_shm_feed_restore(ngx_microshop_store_t *store,
    ngx_str_t *seller, ngx_microshop_feed_event_t *ev, int64_t now)
{
    ngx_int_t            rc;
    ngx_uint_t           dropped;
    ngx_microshop_op_t   op;

    if (store->feed == NULL || seller->len == 0
        || seller->len > NGX_MICROSHOP_FEED_SELLER_MAX)
    {
        return NGX_DECLINED;
    }

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));
    op.type = NGX_MICROSHOP_OP_FEED_APPEND;
    op.key = *seller;
    op.u.feed.type = ev->type;
    op.u.feed.data = ev->data;

    dropped = 0;

    ngx_microshop_zone_lock(store->feed);
    rc = ngx_microshop_feed_append(store, store->feed, &op, &ev->id, now,
                                   &dropped);
    ngx_microshop_zone_unlock(store->feed);

    return rc;
}


ngx_int_t
ngx_microshop_shm_feed_each(ngx_microshop_store_t *store,
    ngx_microshop_feed_each_pt handler, void *data)
{
    ngx_int_t                    rc;
    ngx_str_t                    seller;
    ngx_microshop_rec_t         *rec;
    ngx_microshop_zone_t        *zone;
    ngx_microshop_feed_rec_t     fr;
    ngx_microshop_feed_event_t   ev;

    zone = store->feed;
    rc = NGX_OK;

    ngx_microshop_zone_lock(zone);

    for (rec = ngx_microshop_zone_last(zone, NGX_MICROSHOP_KIND_FEED_EVENT);
         rec && rc == NGX_OK;
         rec = ngx_microshop_zone_prev(zone, NGX_MICROSHOP_KIND_FEED_EVENT,
                                       rec))
    {
        if (rec->key_len < 1 + 8 || rec->value_len < sizeof(fr)) {
            continue;
        }

        ngx_memcpy(&fr, ngx_microshop_rec_value(rec), sizeof(fr));

        if (fr.data_len > rec->value_len - sizeof(fr)) {
            continue;
        }

        seller.data = ngx_microshop_rec_key(rec);
        seller.len = rec->key_len - 1 - 8;

        ev.id = fr.id;
        ev.type = fr.type;
        ev.data.data = ngx_microshop_rec_value(rec) + sizeof(fr);
        ev.data.len = fr.data_len;

        rc = handler(data, &seller, &ev);
    }

    ngx_microshop_zone_unlock(zone);

    return rc;
}
