/*
 * ngx_microshop: the node-local shared memory zone.
 *
 * One slab zone holds every kind of record (verified tokens, rate-limit
 * state, revocations and watermarks, idempotency records, inventory,
 * stock, holds) in one
 * hash index keyed by (kind, key).  The index is a fixed array of buckets,
 * one per 128 bytes of zone, with short chains: a lookup costs two or
 * three memory reads however many records the zone holds (an rbtree of
 * 500 000 records costs about twenty cache misses per lookup, which showed
 * in the idempotent POST benchmark).  Links are 32-bit references (the
 * offset in the zone / 8), so a record's bookkeeping is 32 bytes and a
 * rate-limit record fits a 64-byte slot (docs/operations.md "Sizing").
 *
 * Records expire at a wall-clock time.  The caches are kept on LRU queues,
 * as nginx's limit_req keeps its LRU: verified tokens on one of their own,
 * the inventory cache and webhook event ids on another.  When a record
 * does not fit, expired records go first; then a token evicts tokens
 * only, another cache evicts other caches only, and any other record
 * evicts tokens, then other caches, least recently used first.  Every
 * other kind is never evicted: rate-limit state only expires when its
 * bucket is full again, and revocations, idempotency records, stock and
 * holds live until they expire or are deleted.
 *
 * The room is shared out (docs/operations.md "The zone"):
 *
 *   reserve=       room that only records flagged NGX_MICROSHOP_REC_RESERVE
 *                  (revocations, stock, holds, in-flight idempotency locks)
 *                  may take: no tenant's traffic can displace them;
 *   seller_quota=  what the records a tenant's traffic creates may take,
 *                  per tenant and per class (idempotency records; events:
 *                  webhook event ids and the versions of stock records
 *                  that only events made).  The tenant of a charged record
 *                  is its key up to the first '\n' (ngx_microshop_store_key);
 *   token_cache=   what verified tokens may take of the room that is not
 *                  the reserve: a new token evicts least recently used
 *                  tokens, never another kind, to stay within it, and the
 *                  other caches never take it; rate-limit state and
 *                  stored answers may, evicting tokens
 *                  (docs/operations.md "The token cache's share").
 *
 * The zone also holds the metrics counters, so they are summed over all
 * workers and survive `nginx -s reload`.
 */

#ifndef _NGX_MICROSHOP_ZONE_H_INCLUDED_
#define _NGX_MICROSHOP_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_metrics.h"


typedef enum {
    NGX_MICROSHOP_KIND_TOKEN = 0,     /* verified-token cache     evictable */
    NGX_MICROSHOP_KIND_RATE,          /* GCRA state: the record's expiry is
                                         its TAT, gone once the bucket is
                                         full again, never evicted */
    NGX_MICROSHOP_KIND_INVENTORY,     /* inventory cache          evictable */
    NGX_MICROSHOP_KIND_EVENT,         /* webhook event ids seen   evictable */
    NGX_MICROSHOP_KIND_REVOKED,       /* revoked jti until exp */
    NGX_MICROSHOP_KIND_IDEMPOTENCY,   /* idempotency record */
    NGX_MICROSHOP_KIND_STOCK,         /* stock of a (seller, sku) */
    NGX_MICROSHOP_KIND_HOLD,          /* a reservation's hold; released by
                                         the store's sweep, never by the
                                         zone's expiry */
    NGX_MICROSHOP_KIND_TENANT,        /* what a tenant's charged records
                                         take: the zone's own */
    NGX_MICROSHOP_KIND_WATERMARK,     /* a revocation of a seller's tokens
                                         issued before a time, until no
                                         token it covers is valid */
    NGX_MICROSHOP_KIND_OFFLINE,       /* how many holds of a seller hold
                                         an offline slot (offline_max=) */
    NGX_MICROSHOP_KIND_FEED,          /* a seller's feed: its ring's ends
                                         and last id (docs/events.md);
                                         only in the feed's own zone */
    NGX_MICROSHOP_KIND_FEED_EVENT,    /* an event of a feed, keyed seller
                                         "\n" its place in the ring */
    NGX_MICROSHOP_KIND_MAX
} ngx_microshop_kind_e;

#define NGX_MICROSHOP_KIND_EVICTABLE(k)                                       \
    ((k) == NGX_MICROSHOP_KIND_TOKEN || (k) == NGX_MICROSHOP_KIND_INVENTORY   \
     || (k) == NGX_MICROSHOP_KIND_EVENT)


/* how a record counts (ngx_microshop_rec_t.flags) */
#define NGX_MICROSHOP_REC_RESERVE   0x01  /* may take the reserved room */
#define NGX_MICROSHOP_REC_IDEM      0x02  /* charged to its tenant's
                                             idempotency quota */
#define NGX_MICROSHOP_REC_EVENTS    0x04  /* charged to its tenant's events
                                             quota */
#define NGX_MICROSHOP_REC_CHARGED   (NGX_MICROSHOP_REC_IDEM                   \
                                     |NGX_MICROSHOP_REC_EVENTS)


/* a link of a queue: the references of the previous and next links */
typedef struct {
    uint32_t                  prev;
    uint32_t                  next;
} ngx_microshop_link_t;


/* 32 bytes of bookkeeping, then the key, padded to 8, then the value */
typedef struct {
    ngx_microshop_link_t      queue;      /* LRU or expiry queue; first, so
                                             a record and its link share a
                                             reference */
    uint32_t                  chain;      /* next record of its bucket */
    uint32_t                  hash;
    int64_t                   expire;     /* unix microseconds, 0: never */
    uint32_t                  value_len;
    uint16_t                  key_len;
    uint8_t                   kind;
    uint8_t                   flags;      /* NGX_MICROSHOP_REC_* */
    u_char                    data[1];
} ngx_microshop_rec_t;

#define NGX_MICROSHOP_REC_HEADER  offsetof(ngx_microshop_rec_t, data)

/*
 * ngx_cpymem() of an ngx_str_t that may be empty with a NULL data:
 * memcpy(dst, NULL, 0) is undefined behaviour (and lets the compiler drop
 * a later NULL check), so nothing is copied when len is 0.
 */
#define ngx_microshop_cpymem(dst, src, len)                                   \
    (((len) == 0) ? (u_char *) (dst) : ngx_cpymem(dst, src, len))


#define ngx_microshop_rec_key(rec)    ((rec)->data)
#define ngx_microshop_rec_value(rec)                                          \
    ((rec)->data + ngx_align((rec)->key_len, 8))

/* the zone API counts in milliseconds, a record's expiry in microseconds */
#define ngx_microshop_ms_us(ms)                                               \
    (((ms) > INT64_MAX / 1000) ? INT64_MAX : (ms) * 1000)


typedef struct {
    ngx_uint_t                magic;      /* layout version */

    ngx_microshop_link_t      lru;        /* inventory and event ids */
    ngx_microshop_link_t      tokens;     /* verified tokens, their LRU */
    ngx_microshop_link_t      queue[NGX_MICROSHOP_KIND_MAX];  /* the other
                                             kinds, for expiry */
    uint32_t                 *buckets;
    ngx_uint_t                nbuckets;

    size_t                    room;       /* bytes of pages for records */
    size_t                    reserve;    /* of room, for RESERVE records */
    size_t                    quota;      /* per tenant and class */
    size_t                    shared;     /* taken by records that are not
                                             RESERVE, at most room - reserve */
    size_t                    token_bound;  /* of room - reserve, for
                                             tokens (bytes[KIND_TOKEN]) */

    ngx_atomic_t              records[NGX_MICROSHOP_KIND_MAX];
    ngx_atomic_t              bytes[NGX_MICROSHOP_KIND_MAX];  /* slots */
    ngx_atomic_t              counters[NGX_MICROSHOP_COUNTER_MAX];
    ngx_microshop_node_stat_t redis_nodes[NGX_MICROSHOP_REDIS_NODES_MAX];
} ngx_microshop_sh_t;


/* a share of the zone as configured: a size, or a percent of its room */
typedef struct {
    size_t                    size;
    ngx_uint_t                percent;
} ngx_microshop_share_t;


/* zone->refused: why the last insert found no room */
#define NGX_MICROSHOP_ZONE_FULL   1
#define NGX_MICROSHOP_ZONE_QUOTA  2

/* the rc of a store op whose record the zone refused (ngx_microshop_store.h):
 * NGX_BUSY over its seller's quota, NGX_ERROR when the zone is full */
#define ngx_microshop_zone_refused_rc(zone)                                   \
    (((zone)->refused == NGX_MICROSHOP_ZONE_QUOTA) ? NGX_BUSY : NGX_ERROR)


typedef struct {
    ngx_str_t                 name;
    size_t                    size;
    ngx_microshop_share_t     quota;      /* seller_quota= */
    ngx_microshop_share_t     reserve;    /* reserve= */
    ngx_microshop_share_t     tokens;     /* token_cache= */
    ngx_shm_zone_t           *shm_zone;
    ngx_microshop_sh_t       *sh;
    ngx_slab_pool_t          *shpool;
    ngx_uint_t                refused;    /* per worker, under the lock */
    ngx_uint_t                fresh;      /* made by this cycle, not kept
                                             from the one before */
    time_t                    full_logged;  /* per worker */
    time_t                    quota_logged; /* per worker */
} ngx_microshop_zone_t;


char *ngx_microshop_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* tag: the module that owns the shared memory */
ngx_microshop_zone_t *ngx_microshop_zone_add(ngx_conf_t *cf, ngx_str_t *name,
    size_t size, void *tag);

int64_t ngx_microshop_now_ms(void);

/* all calls below but the counters need the zone lock; times are unix ms */
#define ngx_microshop_zone_lock(z)    ngx_shmtx_lock(&(z)->shpool->mutex)
#define ngx_microshop_zone_unlock(z)  ngx_shmtx_unlock(&(z)->shpool->mutex)

/* the record of (kind, key), left where it is in its queue; NULL: none */
ngx_microshop_rec_t *ngx_microshop_zone_peek(ngx_microshop_zone_t *zone,
    ngx_uint_t kind, u_char *key, size_t len);

/* an unexpired record, moved to the head of its queue; NULL when none */
ngx_microshop_rec_t *ngx_microshop_zone_lookup(ngx_microshop_zone_t *zone,
    ngx_uint_t kind, u_char *key, size_t len, int64_t now);

/*
 * A new record with room for value_len bytes (not initialised); a record
 * with the same key must not exist.  NULL when there is no room, and
 * zone->refused says why: NGX_MICROSHOP_ZONE_QUOTA (its tenant is over
 * seller_quota=) or NGX_MICROSHOP_ZONE_FULL.  ngx_microshop_zone_insert()
 * counts the record as its kind does (revocations, stock, holds: RESERVE;
 * idempotency records: IDEM; event ids: EVENTS); _insert_as() with flags.
 */
ngx_microshop_rec_t *ngx_microshop_zone_insert(ngx_microshop_zone_t *zone,
    ngx_uint_t kind, u_char *key, size_t len, size_t value_len,
    int64_t expire, int64_t now);
ngx_microshop_rec_t *ngx_microshop_zone_insert_as(ngx_microshop_zone_t *zone,
    ngx_uint_t kind, ngx_uint_t flags, u_char *key, size_t len,
    size_t value_len, int64_t expire, int64_t now);

/*
 * The record again, with flags and room for value_len bytes (not
 * initialised), in place of rec, which is deleted; NULL when there is no
 * room (zone->refused), and rec is kept as it was.
 */
ngx_microshop_rec_t *ngx_microshop_zone_replace(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec, ngx_uint_t flags, size_t value_len,
    int64_t expire, int64_t now);

/* the record becomes one no tenant displaces: RESERVE, not charged */
void ngx_microshop_zone_protect(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec);

void ngx_microshop_zone_delete(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec);

/* drop up to n expired records of a kind's queue, oldest first */
ngx_uint_t ngx_microshop_zone_expire(ngx_microshop_zone_t *zone,
    ngx_uint_t kind, int64_t now, ngx_uint_t n);

/*
 * The records of a kind's queue from its tail (the least recently used)
 * on: the last one, then the one before each; NULL at the end.  The
 * record returned by _prev() may be deleted in between.
 */
ngx_microshop_rec_t *ngx_microshop_zone_last(ngx_microshop_zone_t *zone,
    ngx_uint_t kind);
ngx_microshop_rec_t *ngx_microshop_zone_prev(ngx_microshop_zone_t *zone,
    ngx_uint_t kind, ngx_microshop_rec_t *rec);
/* moves a record to the head of its queue: the walk above meets it last */
void ngx_microshop_zone_to_head(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec);

#define ngx_microshop_zone_count(z, c, n)                                     \
    (void) ngx_atomic_fetch_add(&(z)->sh->counters[c], n)

/*
 * The entry of a Redis node in the zone's table (ngx_microshop_metrics.h),
 * found by name or taken (under the zone lock); NULL when the table is
 * full or the name too long: the node's lines are then not shown.
 */
ngx_microshop_node_stat_t *ngx_microshop_zone_node(ngx_microshop_zone_t *zone,
    ngx_str_t *name);


#endif /* _NGX_MICROSHOP_ZONE_H_INCLUDED_ */
