/*
 * ngx_microshop: the node-local shared memory zone.
 *
 * One slab zone holds every kind of record (verified tokens, rate-limit
 * state, revocations, idempotency records, inventory, stock) in one hash
 * index keyed by (kind, key), with one LRU queue per kind, as nginx's
 * limit_req keeps its LRU.  The index is a fixed array of buckets, one per
 * 512 bytes of zone, with short chains: a lookup costs two or three memory
 * reads however many records the zone holds (an rbtree of 500 000 records
 * costs about twenty cache misses per lookup, which showed in the
 * idempotent POST benchmark).  Records expire at a wall-clock time; when
 * the slab is full, expired records go first, then the least recently used
 * record of a kind that may be evicted (caches, rate-limit state and event
 * ids, never revocations, idempotency records, stock or holds).  The zone
 * also holds the metrics counters, so they are summed over all workers and
 * survive `nginx -s reload`.
 */

#ifndef _NGX_MICROSHOP_ZONE_H_INCLUDED_
#define _NGX_MICROSHOP_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_metrics.h"


typedef enum {
    NGX_MICROSHOP_KIND_TOKEN = 0,     /* verified-token cache     evictable */
    NGX_MICROSHOP_KIND_RATE,          /* GCRA state               evictable */
    NGX_MICROSHOP_KIND_INVENTORY,     /* inventory cache          evictable */
    NGX_MICROSHOP_KIND_EVENT,         /* webhook event ids seen   evictable */
    NGX_MICROSHOP_KIND_REVOKED,       /* revoked jti until exp */
    NGX_MICROSHOP_KIND_IDEMPOTENCY,   /* idempotency record */
    NGX_MICROSHOP_KIND_STOCK,         /* stock of a (seller, sku) */
    NGX_MICROSHOP_KIND_HOLD,          /* a reservation's hold; released by
                                         the store's sweep, never by the
                                         zone's expiry */
    NGX_MICROSHOP_KIND_MAX
} ngx_microshop_kind_e;

#define NGX_MICROSHOP_KIND_EVICTABLE(k)  ((k) <= NGX_MICROSHOP_KIND_EVENT)


typedef struct {
    ngx_queue_t               chain;      /* records of its bucket */
    ngx_queue_t               queue;      /* LRU of its kind */
    int64_t                   expire;     /* unix ms, 0: never */
    uint32_t                  hash;
    uint32_t                  value_len;
    uint16_t                  key_len;
    uint8_t                   kind;
    uint8_t                   reserved[5];
    u_char                    data[1];    /* key, padded to 8, then value */
} ngx_microshop_rec_t;

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


typedef struct {
    ngx_uint_t                magic;      /* layout version */
    ngx_queue_t              *buckets;
    ngx_uint_t                nbuckets;
    ngx_queue_t               lru[NGX_MICROSHOP_KIND_MAX];
    ngx_atomic_t              records[NGX_MICROSHOP_KIND_MAX];
    ngx_atomic_t              counters[NGX_MICROSHOP_COUNTER_MAX];
} ngx_microshop_sh_t;


typedef struct {
    ngx_str_t                 name;
    size_t                    size;
    ngx_shm_zone_t           *shm_zone;
    ngx_microshop_sh_t       *sh;
    ngx_slab_pool_t          *shpool;
    time_t                    full_logged;  /* per worker */
} ngx_microshop_zone_t;


char *ngx_microshop_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* tag: the module that owns the shared memory */
ngx_microshop_zone_t *ngx_microshop_zone_add(ngx_conf_t *cf, ngx_str_t *name,
    size_t size, void *tag);

int64_t ngx_microshop_now_ms(void);

/* all calls below but the counters need the zone lock */
#define ngx_microshop_zone_lock(z)    ngx_shmtx_lock(&(z)->shpool->mutex)
#define ngx_microshop_zone_unlock(z)  ngx_shmtx_unlock(&(z)->shpool->mutex)

/* an unexpired record, moved to the head of its LRU; NULL when none */
ngx_microshop_rec_t *ngx_microshop_zone_lookup(ngx_microshop_zone_t *zone,
    ngx_uint_t kind, u_char *key, size_t len, int64_t now);

/* a new record with room for value_len bytes (not initialised); a record
 * with the same key must not exist; NULL when the zone is full */
ngx_microshop_rec_t *ngx_microshop_zone_insert(ngx_microshop_zone_t *zone,
    ngx_uint_t kind, u_char *key, size_t len, size_t value_len,
    int64_t expire, int64_t now);

void ngx_microshop_zone_delete(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec);

/* drop up to n expired records of a kind, oldest first */
ngx_uint_t ngx_microshop_zone_expire(ngx_microshop_zone_t *zone,
    ngx_uint_t kind, int64_t now, ngx_uint_t n);

#define ngx_microshop_zone_count(z, c, n)                                     \
    (void) ngx_atomic_fetch_add(&(z)->sh->counters[c], n)


#endif /* _NGX_MICROSHOP_ZONE_H_INCLUDED_ */
