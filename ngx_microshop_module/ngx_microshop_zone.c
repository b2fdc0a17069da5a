/*
 * ngx_microshop: the node-local shared memory zone (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_zone.h"


/* bump when ngx_microshop_sh_t or a record layout changes */
#define NGX_MICROSHOP_ZONE_MAGIC  0x6d73686f70000010ULL

/* one bucket of the index (a 4-byte reference) per this many bytes */
#define NGX_MICROSHOP_ZONE_BUCKET_BYTES  128

#define NGX_MICROSHOP_ZONE_MIN    (8 * ngx_pagesize)

/* a reference is 32 bits of 8-byte units: zones up to 32g */
#if (NGX_PTR_SIZE == 8)
#define NGX_MICROSHOP_ZONE_MAX    ((size_t) 0xffffffff << 3)
#endif

#define NGX_MICROSHOP_ZONE_QUOTA_PERCENT    25    /* of the room */
#define NGX_MICROSHOP_ZONE_RESERVE_PERCENT  10
#define NGX_MICROSHOP_ZONE_RESERVE_MAX  90
#define NGX_MICROSHOP_ZONE_TOKENS_PERCENT   25
#define NGX_MICROSHOP_ZONE_TOKENS_MAX   90

/* expired records dropped per queue when the zone is full */
#define NGX_MICROSHOP_ZONE_EXPIRE_BATCH  64


/* the value of a TENANT record: 8-byte units taken, by class */
typedef struct {
    uint32_t                  taken[2];   /* idempotency, events */
} ngx_microshop_tenant_t;

#define ngx_microshop_zone_class(flags)                                       \
    (((flags) & NGX_MICROSHOP_REC_IDEM) ? 0 : 1)


#define ngx_microshop_ref(zone, p)                                            \
    ((uint32_t) (((u_char *) (p) - (u_char *) (zone)->shpool) >> 3))
#define ngx_microshop_ptr(zone, ref)                                          \
    ((void *) ((u_char *) (zone)->shpool + ((size_t) (ref) << 3)))
#define ngx_microshop_link(zone, ref)                                         \
    ((ngx_microshop_link_t *) ngx_microshop_ptr(zone, ref))


/* a record's link is its first member, the queue heads are 8-aligned */
typedef char  ngx_microshop_rec_layout[
    (offsetof(ngx_microshop_rec_t, queue) == 0
     && NGX_MICROSHOP_REC_HEADER == 32
     && offsetof(ngx_microshop_sh_t, lru) % 8 == 0
     && offsetof(ngx_microshop_sh_t, tokens) % 8 == 0
     && offsetof(ngx_microshop_sh_t, queue) % 8 == 0) ? 1 : -1];


/* how a record of each kind counts unless its caller says otherwise */
static ngx_uint_t  ngx_microshop_kind_flags[] = {
    0,                                  /* token */
    0,                                  /* rate */
    0,                                  /* inventory */
    NGX_MICROSHOP_REC_EVENTS,           /* event */
    NGX_MICROSHOP_REC_RESERVE,          /* revoked */
    NGX_MICROSHOP_REC_IDEM,             /* idempotency */
    NGX_MICROSHOP_REC_RESERVE,          /* stock */
    NGX_MICROSHOP_REC_RESERVE,          /* hold */
    NGX_MICROSHOP_REC_RESERVE,          /* tenant */
    NGX_MICROSHOP_REC_RESERVE,          /* watermark */
    NGX_MICROSHOP_REC_RESERVE,          /* offline slots */
    0,                                  /* feed: in a zone of its own */
    0                                   /* feed event */
};

typedef char  ngx_microshop_kind_flags_complete[
    (sizeof(ngx_microshop_kind_flags) / sizeof(ngx_uint_t)
     == NGX_MICROSHOP_KIND_MAX) ? 1 : -1];


static char *ngx_microshop_zone_share(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, ngx_uint_t min_percent, ngx_uint_t max_percent,
    ngx_microshop_share_t *share);
static ngx_int_t ngx_microshop_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_microshop_zone_shares(ngx_microshop_zone_t *zone);
static uint32_t ngx_microshop_zone_hash(ngx_uint_t kind, u_char *key,
    size_t len);
static ngx_microshop_link_t *ngx_microshop_zone_queue(
    ngx_microshop_zone_t *zone, ngx_uint_t kind);
static void ngx_microshop_link_init(ngx_microshop_zone_t *zone,
    ngx_microshop_link_t *head);
static void ngx_microshop_link_insert_head(ngx_microshop_zone_t *zone,
    ngx_microshop_link_t *head, ngx_microshop_link_t *x);
static void ngx_microshop_link_remove(ngx_microshop_zone_t *zone,
    ngx_microshop_link_t *x);
static size_t ngx_microshop_zone_slot(ngx_microshop_zone_t *zone,
    size_t size);
static size_t ngx_microshop_zone_rec_slot(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec);
static ngx_microshop_rec_t *ngx_microshop_zone_find(
    ngx_microshop_zone_t *zone, ngx_uint_t kind, u_char *key, size_t len,
    uint32_t hash);
static void ngx_microshop_zone_link_rec(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec);
static void ngx_microshop_zone_account(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec, ngx_uint_t add);
static ngx_microshop_rec_t *ngx_microshop_zone_alloc(
    ngx_microshop_zone_t *zone, ngx_uint_t kind, size_t size,
    ngx_uint_t flags, int64_t now);
static ngx_microshop_rec_t *ngx_microshop_zone_alloc_token(
    ngx_microshop_zone_t *zone, size_t size, int64_t now);
static void ngx_microshop_zone_full(ngx_microshop_zone_t *zone, size_t size,
    ngx_uint_t flags);
static ngx_uint_t ngx_microshop_zone_evict(ngx_microshop_zone_t *zone,
    ngx_uint_t cache);
static ngx_uint_t ngx_microshop_zone_evict_last(ngx_microshop_zone_t *zone,
    ngx_microshop_link_t *head);
static ngx_microshop_rec_t *ngx_microshop_zone_tenant(
    ngx_microshop_zone_t *zone, u_char *key, size_t len, ngx_uint_t create,
    int64_t now);
static ngx_uint_t ngx_microshop_zone_over_quota(ngx_microshop_zone_t *zone,
    u_char *key, size_t len, ngx_uint_t flags, size_t slot, size_t freed);
static ngx_int_t ngx_microshop_zone_charge(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec, int64_t now);
static void ngx_microshop_zone_uncharge(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec);
static void ngx_microshop_zone_unlink(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec);


int64_t
ngx_microshop_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


ngx_microshop_node_stat_t *
ngx_microshop_zone_node(ngx_microshop_zone_t *zone, ngx_str_t *name)
{
    ngx_uint_t                  i;
    ngx_microshop_node_stat_t  *st, *free;

    if (name->len > NGX_MICROSHOP_REDIS_NODE_NAME) {
        return NULL;
    }

    free = NULL;

    ngx_microshop_zone_lock(zone);

    for (i = 0; i < NGX_MICROSHOP_REDIS_NODES_MAX; i++) {
        st = &zone->sh->redis_nodes[i];

        if (!st->used) {
            if (free == NULL) {
                free = st;
            }

            continue;
        }

        if (st->len == name->len
            && ngx_memcmp(st->name, name->data, name->len) == 0)
        {
            ngx_microshop_zone_unlock(zone);
            return st;
        }
    }

    if (free != NULL) {
        ngx_memcpy(free->name, name->data, name->len);
        free->len = name->len;
        ngx_memory_barrier();
        free->used = 1;
    }

    ngx_microshop_zone_unlock(zone);

    return free;
}


/*
 * microshop_zone name=NAME size=SIZE [seller_quota=N%|SIZE]
 *                [reserve=N%|SIZE] [token_cache=N%|SIZE]
 *
 * As nginx's ngx_conf_set_* handlers do, the zone is stored at cmd->offset
 * of conf; cmd->post is the module that owns the shared memory (its tag).
 */

char *
ngx_microshop_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                   *larger;
    ssize_t                 size;
    ngx_str_t              *value, name, s;
    ngx_uint_t              i;
    ngx_microshop_share_t   quota, reserve, tokens;
    ngx_microshop_zone_t  **zp;

    zp = (ngx_microshop_zone_t **) ((u_char *) conf + cmd->offset);

    if (*zp) {
        return "is duplicate: one zone holds all microshop state";
    }

    value = cf->args->elts;
    size = 0;
    ngx_str_null(&name);

    quota.size = 0;
    quota.percent = NGX_MICROSHOP_ZONE_QUOTA_PERCENT;
    reserve.size = 0;
    reserve.percent = NGX_MICROSHOP_ZONE_RESERVE_PERCENT;
    tokens.size = 0;
    tokens.percent = NGX_MICROSHOP_ZONE_TOKENS_PERCENT;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "name=", 5) == 0) {
            name.data = value[i].data + 5;
            name.len = value[i].len - 5;

            if (name.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty zone name in \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) NGX_MICROSHOP_ZONE_MIN) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small: %z bytes, "
                                   "at least %uz are needed",
                                   &name, size,
                                   (size_t) NGX_MICROSHOP_ZONE_MIN);
                return NGX_CONF_ERROR;
            }

#ifdef NGX_MICROSHOP_ZONE_MAX
            if ((size_t) size > NGX_MICROSHOP_ZONE_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too large: %z bytes, "
                                   "at most %uz (32g)",
                                   &name, size, NGX_MICROSHOP_ZONE_MAX);
                return NGX_CONF_ERROR;
            }
#endif

            continue;
        }

        if (ngx_strncmp(value[i].data, "seller_quota=", 13) == 0) {
            if (ngx_microshop_zone_share(cf, &value[i], 13, 0, 100, &quota)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            if (quota.size == 0 && quota.percent == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": a seller needs room "
                                   "for at least one record", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "reserve=", 8) == 0) {
            if (ngx_microshop_zone_share(cf, &value[i], 8, 0,
                                         NGX_MICROSHOP_ZONE_RESERVE_MAX,
                                         &reserve)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "token_cache=", 12) == 0) {
            if (ngx_microshop_zone_share(cf, &value[i], 12, 1,
                                         NGX_MICROSHOP_ZONE_TOKENS_MAX,
                                         &tokens)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"name=\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"size=\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    larger = (quota.size > (size_t) size) ? "seller_quota="
             : (reserve.size >= (size_t) size) ? "reserve="
             : (tokens.size > (size_t) size) ? "token_cache=" : NULL;

    if (larger) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" of zone \"%V\" is larger than its "
                           "size", larger, &name);
        return NGX_CONF_ERROR;
    }

    *zp = ngx_microshop_zone_add(cf, &name, size, cmd->post);
    if (*zp == NULL) {
        return NGX_CONF_ERROR;
    }

    (*zp)->quota = quota;
    (*zp)->reserve = reserve;
    (*zp)->tokens = tokens;

    return NGX_CONF_OK;
}


/*
 * N% (min_percent .. max_percent) or a SIZE, after skip bytes of "KEY=";
 * with a min_percent, a SIZE of 0 is refused too
 */

static char *
ngx_microshop_zone_share(ngx_conf_t *cf, ngx_str_t *value, size_t skip,
    ngx_uint_t min_percent, ngx_uint_t max_percent,
    ngx_microshop_share_t *share)
{
    ssize_t    size;
    ngx_int_t  n;
    ngx_str_t  s;

    s.data = value->data + skip;
    s.len = value->len - skip;

    if (s.len > 1 && s.data[s.len - 1] == '%') {
        n = ngx_atoi(s.data, s.len - 1);

        if (n == NGX_ERROR || (ngx_uint_t) n < min_percent
            || (ngx_uint_t) n > max_percent)
        {
            goto invalid;
        }

        share->size = 0;
        share->percent = n;
        return NGX_CONF_OK;
    }

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR || (size == 0 && min_percent)) {
        goto invalid;
    }

    share->size = size;
    share->percent = 0;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"%V\": a percent from %ui%% to %ui%% of "
                       "the zone, or a size", value, min_percent,
                       max_percent);
    return NGX_CONF_ERROR;
}


ngx_microshop_zone_t *
ngx_microshop_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    void *tag)
{
    ngx_microshop_zone_t  *zone;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_microshop_zone_t));
    if (zone == NULL) {
        return NULL;
    }

    zone->name = *name;
    zone->size = size;
    zone->quota.percent = NGX_MICROSHOP_ZONE_QUOTA_PERCENT;
    zone->reserve.percent = NGX_MICROSHOP_ZONE_RESERVE_PERCENT;
    zone->tokens.percent = NGX_MICROSHOP_ZONE_TOKENS_PERCENT;

    zone->shm_zone = ngx_shared_memory_add(cf, name, size, tag);
    if (zone->shm_zone == NULL) {
        return NULL;
    }

    if (zone->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", name);
        return NULL;
    }

    zone->shm_zone->init = ngx_microshop_zone_init;
    zone->shm_zone->data = zone;

    return zone;
}


static ngx_int_t
ngx_microshop_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_microshop_zone_t  *ozone = data;

    size_t                 len;
    ngx_uint_t             k;
    ngx_microshop_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* nginx -s reload: keep the records and counters */

        if (ozone->sh->magic != NGX_MICROSHOP_ZONE_MAGIC) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "microshop_zone \"%V\" was made by another "
                          "version of the module; restart nginx to "
                          "change it", &shm_zone->shm.name);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        /* seller_quota=, reserve= and token_cache= may change with a
         * reload */
        ngx_microshop_zone_shares(zone);
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(zone->shpool, sizeof(ngx_microshop_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->fresh = 1;

    zone->shpool->data = zone->sh;
    zone->sh->magic = NGX_MICROSHOP_ZONE_MAGIC;

    zone->sh->nbuckets = shm_zone->shm.size / NGX_MICROSHOP_ZONE_BUCKET_BYTES;

    /* zeroed: every bucket empty */
    zone->sh->buckets = ngx_slab_calloc(zone->shpool,
                                        zone->sh->nbuckets * sizeof(uint32_t));
    if (zone->sh->buckets == NULL) {
        return NGX_ERROR;
    }

    ngx_microshop_link_init(zone, &zone->sh->lru);
    ngx_microshop_link_init(zone, &zone->sh->tokens);

    for (k = 0; k < NGX_MICROSHOP_KIND_MAX; k++) {
        ngx_microshop_link_init(zone, &zone->sh->queue[k]);
    }

    len = sizeof(" in microshop_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in microshop_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is handled (eviction), not logged as a crit per request */
    zone->shpool->log_nomem = 0;

    /* what is left is the room for records */
    zone->sh->room = zone->shpool->pfree * ngx_pagesize;

    ngx_microshop_zone_shares(zone);

    return NGX_OK;
}


static void
ngx_microshop_zone_shares(ngx_microshop_zone_t *zone)
{
    size_t               quota, reserve, tokens;
    ngx_microshop_sh_t  *sh;

    sh = zone->sh;

    reserve = zone->reserve.percent ? sh->room / 100 * zone->reserve.percent
                                    : zone->reserve.size;
    quota = zone->quota.percent ? sh->room / 100 * zone->quota.percent
                                : zone->quota.size;
    tokens = zone->tokens.percent ? sh->room / 100 * zone->tokens.percent
                                  : zone->tokens.size;

    sh->reserve = ngx_min(reserve, sh->room);
    sh->quota = ngx_min(quota, sh->room);

    /* tokens are never RESERVE: what the reserve leaves is their most */
    sh->token_bound = ngx_min(tokens, sh->room - sh->reserve);
}


static uint32_t
ngx_microshop_zone_hash(ngx_uint_t kind, u_char *key, size_t len)
{
    /* murmur2 reads four bytes a step; the kind moves the whole result */
    return ngx_murmur_hash2(key, len) ^ (uint32_t) (kind * 0x9e3779b1);
}


/* queues of references, as ngx_queue_t is of pointers */

static ngx_microshop_link_t *
ngx_microshop_zone_queue(ngx_microshop_zone_t *zone, ngx_uint_t kind)
{
    if (kind == NGX_MICROSHOP_KIND_TOKEN) {
        return &zone->sh->tokens;
    }

    return NGX_MICROSHOP_KIND_EVICTABLE(kind) ? &zone->sh->lru
                                              : &zone->sh->queue[kind];
}


static void
ngx_microshop_link_init(ngx_microshop_zone_t *zone,
    ngx_microshop_link_t *head)
{
    head->prev = ngx_microshop_ref(zone, head);
    head->next = head->prev;
}


static void
ngx_microshop_link_insert_head(ngx_microshop_zone_t *zone,
    ngx_microshop_link_t *head, ngx_microshop_link_t *x)
{
    uint32_t  ref;

    ref = ngx_microshop_ref(zone, x);

    x->next = head->next;
    ngx_microshop_link(zone, head->next)->prev = ref;
    x->prev = ngx_microshop_ref(zone, head);
    head->next = ref;
}


static void
ngx_microshop_link_remove(ngx_microshop_zone_t *zone, ngx_microshop_link_t *x)
{
    ngx_microshop_link(zone, x->next)->prev = x->prev;
    ngx_microshop_link(zone, x->prev)->next = x->next;
}


/* what the slab allocator takes for size bytes */

static size_t
ngx_microshop_zone_slot(ngx_microshop_zone_t *zone, size_t size)
{
    size_t  slot;

    if (size > ngx_pagesize / 2) {
        return ngx_align(size, ngx_pagesize);
    }

    for (slot = zone->shpool->min_size; slot < size; slot <<= 1) {
        /* void */
    }

    return slot;
}


static size_t
ngx_microshop_zone_rec_slot(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec)
{
    return ngx_microshop_zone_slot(zone, NGX_MICROSHOP_REC_HEADER
                                         + ngx_align(rec->key_len, 8)
                                         + rec->value_len);
}


static ngx_microshop_rec_t *
ngx_microshop_zone_find(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    u_char *key, size_t len, uint32_t hash)
{
    uint32_t              ref;
    ngx_microshop_rec_t  *rec;

    for (ref = zone->sh->buckets[hash % zone->sh->nbuckets];
         ref;
         ref = rec->chain)
    {
        rec = ngx_microshop_ptr(zone, ref);

        if (rec->hash == hash && rec->kind == kind && rec->key_len == len
            && ngx_memcmp(rec->data, key, len) == 0)
        {
            return rec;
        }
    }

    return NULL;
}


ngx_microshop_rec_t *
ngx_microshop_zone_lookup(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    u_char *key, size_t len, int64_t now)
{
    ngx_microshop_rec_t  *rec;

    rec = ngx_microshop_zone_find(zone, kind, key, len,
                                  ngx_microshop_zone_hash(kind, key, len));
    if (rec == NULL) {
        return NULL;
    }

    if (rec->expire && rec->expire <= ngx_microshop_ms_us(now)) {
        ngx_microshop_zone_delete(zone, rec);
        return NULL;
    }

    ngx_microshop_link_remove(zone, &rec->queue);
    ngx_microshop_link_insert_head(zone, ngx_microshop_zone_queue(zone, kind),
                                   &rec->queue);

    return rec;
}


ngx_microshop_rec_t *
ngx_microshop_zone_peek(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    u_char *key, size_t len)
{
    return ngx_microshop_zone_find(zone, kind, key, len,
                                   ngx_microshop_zone_hash(kind, key, len));
}


ngx_microshop_rec_t *
ngx_microshop_zone_insert(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    u_char *key, size_t len, size_t value_len, int64_t expire, int64_t now)
{
    return ngx_microshop_zone_insert_as(zone, kind,
                                        ngx_microshop_kind_flags[kind],
                                        key, len, value_len, expire, now);
}


ngx_microshop_rec_t *
ngx_microshop_zone_insert_as(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    ngx_uint_t flags, u_char *key, size_t len, size_t value_len,
    int64_t expire, int64_t now)
{
    size_t                size;
    ngx_microshop_rec_t  *rec;

    zone->refused = NGX_MICROSHOP_ZONE_FULL;

    if (len > 0xffff || value_len > 0xffffffff) {
        return NULL;
    }

    size = NGX_MICROSHOP_REC_HEADER + ngx_align(len, 8) + value_len;

    /* as limit_req: every insert retires a couple of expired records */
    (void) ngx_microshop_zone_expire(zone, kind, now, 2);

    if ((flags & NGX_MICROSHOP_REC_CHARGED)
        && ngx_microshop_zone_over_quota(zone, key, len, flags,
                                         ngx_microshop_zone_slot(zone, size),
                                         0))
    {
        return NULL;
    }

    rec = ngx_microshop_zone_alloc(zone, kind, size, flags, now);
    if (rec == NULL) {
        return NULL;
    }

    rec->hash = ngx_microshop_zone_hash(kind, key, len);
    rec->kind = (uint8_t) kind;
    rec->flags = (uint8_t) flags;
    rec->key_len = (uint16_t) len;
    rec->value_len = (uint32_t) value_len;
    rec->expire = ngx_microshop_ms_us(expire);
    ngx_memcpy(rec->data, key, len);

    /* not linked yet: nothing the charge evicts can be this record */
    if ((flags & NGX_MICROSHOP_REC_CHARGED)
        && ngx_microshop_zone_charge(zone, rec, now) != NGX_OK)
    {
        ngx_slab_free_locked(zone->shpool, rec);
        return NULL;
    }

    ngx_microshop_zone_link_rec(zone, rec);

    zone->refused = 0;

    return rec;
}


ngx_microshop_rec_t *
ngx_microshop_zone_replace(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec, ngx_uint_t flags, size_t value_len,
    int64_t expire, int64_t now)
{
    size_t                size, freed;
    ngx_microshop_rec_t  *nrec;

    zone->refused = NGX_MICROSHOP_ZONE_FULL;

    if (value_len > 0xffffffff) {
        return NULL;
    }

    size = NGX_MICROSHOP_REC_HEADER + ngx_align(rec->key_len, 8) + value_len;

    if (flags & NGX_MICROSHOP_REC_CHARGED) {
        /* what rec takes of the same quota is given back with it */
        freed = (ngx_microshop_zone_class(rec->flags)
                 == ngx_microshop_zone_class(flags)
                 && (rec->flags & NGX_MICROSHOP_REC_CHARGED))
                ? ngx_microshop_zone_rec_slot(zone, rec) : 0;

        if (ngx_microshop_zone_over_quota(zone, rec->data, rec->key_len,
                                          flags,
                                          ngx_microshop_zone_slot(zone, size),
                                          freed))
        {
            return NULL;
        }
    }

    /* out of its queue meanwhile, so that no eviction takes it */
    ngx_microshop_link_remove(zone, &rec->queue);

    nrec = ngx_microshop_zone_alloc(zone, rec->kind, size, flags, now);

    if (nrec) {
        ngx_memcpy(nrec, rec, NGX_MICROSHOP_REC_HEADER + rec->key_len);
        nrec->flags = (uint8_t) flags;
        nrec->value_len = (uint32_t) value_len;
        nrec->expire = ngx_microshop_ms_us(expire);

        if ((flags & NGX_MICROSHOP_REC_CHARGED)
            && ngx_microshop_zone_charge(zone, nrec, now) != NGX_OK)
        {
            ngx_slab_free_locked(zone->shpool, nrec);
            nrec = NULL;
        }
    }

    ngx_microshop_link_insert_head(zone,
                                   ngx_microshop_zone_queue(zone, rec->kind),
                                   &rec->queue);

    if (nrec == NULL) {
        return NULL;
    }

    /* first in its bucket, so found before rec until rec is gone */
    ngx_microshop_zone_link_rec(zone, nrec);
    ngx_microshop_zone_delete(zone, rec);

    zone->refused = 0;

    return nrec;
}


void
ngx_microshop_zone_protect(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec)
{
    if (rec->flags == NGX_MICROSHOP_REC_RESERVE) {
        return;
    }

    if (rec->flags & NGX_MICROSHOP_REC_CHARGED) {
        ngx_microshop_zone_uncharge(zone, rec);
    }

    ngx_microshop_zone_account(zone, rec, 0);
    rec->flags = NGX_MICROSHOP_REC_RESERVE;
    ngx_microshop_zone_account(zone, rec, 1);
}


void
ngx_microshop_zone_delete(ngx_microshop_zone_t *zone, ngx_microshop_rec_t *rec)
{
    ngx_microshop_zone_unlink(zone, rec);

    if (rec->flags & NGX_MICROSHOP_REC_CHARGED) {
        ngx_microshop_zone_uncharge(zone, rec);
    }

    ngx_slab_free_locked(zone->shpool, rec);
}


ngx_uint_t
ngx_microshop_zone_expire(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    int64_t now, ngx_uint_t n)
{
    int64_t                now_us;
    uint32_t               ref, prev;
    ngx_uint_t             done, seen;
    ngx_microshop_link_t  *head;
    ngx_microshop_rec_t   *rec;

    /*
     * Records of one queue mostly share a lifetime, so the least recently
     * used end of the queue is where expired ones are; look at a few more
     * than asked for, not at the whole queue.
     */

    head = ngx_microshop_zone_queue(zone, kind);
    now_us = ngx_microshop_ms_us(now);

    done = 0;
    seen = 0;

    for (ref = head->prev;
         ref != ngx_microshop_ref(zone, head) && done < n && seen++ < 4 * n;
         ref = prev)
    {
        rec = ngx_microshop_ptr(zone, ref);
        prev = rec->queue.prev;

        if (rec->expire && rec->expire <= now_us) {
            ngx_microshop_zone_delete(zone, rec);
            done++;

        } else if (n <= 2) {
            break;
        }
    }

    return done;
}


ngx_microshop_rec_t *
ngx_microshop_zone_last(ngx_microshop_zone_t *zone, ngx_uint_t kind)
{
    ngx_microshop_link_t  *head;

    head = ngx_microshop_zone_queue(zone, kind);

    return (head->prev == ngx_microshop_ref(zone, head))
           ? NULL : ngx_microshop_ptr(zone, head->prev);
}


ngx_microshop_rec_t *
ngx_microshop_zone_prev(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    ngx_microshop_rec_t *rec)
{
    ngx_microshop_link_t  *head;

    head = ngx_microshop_zone_queue(zone, kind);

    return (rec->queue.prev == ngx_microshop_ref(zone, head))
           ? NULL : ngx_microshop_ptr(zone, rec->queue.prev);
}


/* to the head of its queue, as if just made (a sweep's "seen") */

void
ngx_microshop_zone_to_head(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec)
{
    ngx_microshop_link_remove(zone, &rec->queue);
    ngx_microshop_link_insert_head(zone,
                                   ngx_microshop_zone_queue(zone, rec->kind),
                                   &rec->queue);
}


/* into its bucket and at the head of its queue, and counted */

static void
ngx_microshop_zone_link_rec(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec)
{
    uint32_t  *bucket;

    bucket = &zone->sh->buckets[rec->hash % zone->sh->nbuckets];

    rec->chain = *bucket;
    *bucket = ngx_microshop_ref(zone, rec);

    ngx_microshop_link_insert_head(zone,
                                   ngx_microshop_zone_queue(zone, rec->kind),
                                   &rec->queue);

    ngx_microshop_zone_account(zone, rec, 1);
}


/* out of its bucket and queue, no longer counted; the slot stays */

static void
ngx_microshop_zone_unlink(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec)
{
    uint32_t   ref, *p;

    ref = ngx_microshop_ref(zone, rec);

    for (p = &zone->sh->buckets[rec->hash % zone->sh->nbuckets];
         *p != ref;
         p = &((ngx_microshop_rec_t *) ngx_microshop_ptr(zone, *p))->chain)
    {
        /* void */
    }

    *p = rec->chain;

    ngx_microshop_link_remove(zone, &rec->queue);

    ngx_microshop_zone_account(zone, rec, 0);
}


static void
ngx_microshop_zone_account(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec, ngx_uint_t add)
{
    size_t               slot;
    ngx_microshop_sh_t  *sh;

    sh = zone->sh;
    slot = ngx_microshop_zone_rec_slot(zone, rec);

    if (add) {
        sh->records[rec->kind]++;
        sh->bytes[rec->kind] += slot;

        if (!(rec->flags & NGX_MICROSHOP_REC_RESERVE)) {
            sh->shared += slot;
        }

        return;
    }

    sh->records[rec->kind]--;
    sh->bytes[rec->kind] -= slot;

    if (!(rec->flags & NGX_MICROSHOP_REC_RESERVE)) {
        sh->shared -= slot;
    }
}


/*
 * Room for size bytes (docs/operations.md "The token cache's share"): a
 * record that is not RESERVE fits only while the records that are not
 * take at most room - reserve; the other caches (inventory, event ids)
 * only while they and the rest but tokens take at most room - reserve -
 * token_bound, so that they never hold the tokens' share.  When there is
 * no room, the expired records of every queue go first, then, for a
 * record that is no cache, the least recently used tokens (the cheapest
 * to rebuild: one signature check), then the least recently used other
 * caches, one by one.  A token only ever makes room from tokens
 * (ngx_microshop_zone_alloc_token()).
 */

static ngx_microshop_rec_t *
ngx_microshop_zone_alloc(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    size_t size, ngx_uint_t flags, int64_t now)
{
    size_t               slot, max, others;
    ngx_uint_t           k, cache, expired;
    ngx_microshop_sh_t  *sh;
    ngx_microshop_rec_t *rec;

    if (kind == NGX_MICROSHOP_KIND_TOKEN) {
        return ngx_microshop_zone_alloc_token(zone, size, now);
    }

    sh = zone->sh;
    slot = ngx_microshop_zone_slot(zone, size);
    max = sh->room - sh->reserve;
    cache = NGX_MICROSHOP_KIND_EVICTABLE(kind);
    expired = 0;

    for ( ;; ) {

        /* what the records that are neither RESERVE nor tokens take */
        others = sh->shared - sh->bytes[NGX_MICROSHOP_KIND_TOKEN];

        if ((flags & NGX_MICROSHOP_REC_RESERVE)
            || (sh->shared + slot <= max
                && (!cache || others + slot <= max - sh->token_bound)))
        {
            rec = ngx_slab_alloc_locked(zone->shpool, size);
            if (rec) {
                return rec;
            }
        }

        if (!expired) {
            expired = 1;

            for (k = 0; k < NGX_MICROSHOP_KIND_MAX; k++) {
                /* event ids are on the inventory's queue, expired there */
                if (k != NGX_MICROSHOP_KIND_EVENT) {
                    (void) ngx_microshop_zone_expire(zone, k, now,
                                               NGX_MICROSHOP_ZONE_EXPIRE_BATCH);
                }
            }

            continue;
        }

        if (!ngx_microshop_zone_evict(zone, cache)) {
            break;
        }
    }

    ngx_microshop_zone_full(zone, size, flags);

    return NULL;
}


/*
 * Room for a token within token_cache= (sh->token_bound) and within what
 * the reserve leaves: expired tokens go first, then the least recently
 * used ones; never a record of another kind.  NULL when even without
 * tokens there is no room: the token is not cached.
 */

static ngx_microshop_rec_t *
ngx_microshop_zone_alloc_token(ngx_microshop_zone_t *zone, size_t size,
    int64_t now)
{
    size_t               slot, max;
    ngx_uint_t           expired;
    ngx_microshop_sh_t  *sh;
    ngx_microshop_rec_t *rec;

    sh = zone->sh;
    slot = ngx_microshop_zone_slot(zone, size);
    max = sh->room - sh->reserve;

    if (slot > sh->token_bound) {
        /* larger than the whole share: never cached, nothing evicted */
        zone->refused = NGX_MICROSHOP_ZONE_FULL;
        return NULL;
    }

    expired = 0;

    for ( ;; ) {

        if (sh->bytes[NGX_MICROSHOP_KIND_TOKEN] + slot <= sh->token_bound
            && sh->shared + slot <= max)
        {
            rec = ngx_slab_alloc_locked(zone->shpool, size);
            if (rec) {
                return rec;
            }
        }

        if (!expired) {
            expired = 1;

            (void) ngx_microshop_zone_expire(zone, NGX_MICROSHOP_KIND_TOKEN,
                                             now,
                                             NGX_MICROSHOP_ZONE_EXPIRE_BATCH);
            continue;
        }

        if (!ngx_microshop_zone_evict_last(zone, &sh->tokens)) {
            break;
        }

        ngx_microshop_zone_count(zone,
                                 NGX_MICROSHOP_COUNTER_TOKEN_CACHE_EVICTIONS,
                                 1);
    }

    /* no token left, and the others hold the room */
    ngx_microshop_zone_full(zone, size, 0);

    return NULL;
}


static void
ngx_microshop_zone_full(ngx_microshop_zone_t *zone, size_t size,
    ngx_uint_t flags)
{
    zone->refused = NGX_MICROSHOP_ZONE_FULL;
    ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_ZONE_FULL, 1);

    /* said once a second per worker, not per request */
    if (ngx_time() != zone->full_logged) {
        zone->full_logged = ngx_time();
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "microshop_zone \"%V\" is full: no room for %uz "
                      "bytes%s even after evicting caches; raise its size",
                      &zone->name, size,
                      (flags & NGX_MICROSHOP_REC_RESERVE)
                      ? "" : " outside its reserve=");
    }
}


/*
 * The least recently used token, else other cache record, goes; for a
 * cache, only one of the other caches: tokens are not in its room.
 * 0 when there is none.
 */

static ngx_uint_t
ngx_microshop_zone_evict(ngx_microshop_zone_t *zone, ngx_uint_t cache)
{
    if ((cache || !ngx_microshop_zone_evict_last(zone, &zone->sh->tokens))
        && !ngx_microshop_zone_evict_last(zone, &zone->sh->lru))
    {
        return 0;
    }

    ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_ZONE_EVICTIONS, 1);

    return 1;
}


static ngx_uint_t
ngx_microshop_zone_evict_last(ngx_microshop_zone_t *zone,
    ngx_microshop_link_t *head)
{
    if (head->prev == ngx_microshop_ref(zone, head)) {
        return 0;
    }

    ngx_microshop_zone_delete(zone, ngx_microshop_ptr(zone, head->prev));

    return 1;
}


/*
 * The TENANT record of a charged key: the key up to its first '\n' (the
 * seller of ngx_microshop_store_key(), or a client's "\x01" address).  It
 * exists while the tenant has charged records.
 */

static ngx_microshop_rec_t *
ngx_microshop_zone_tenant(ngx_microshop_zone_t *zone, u_char *key, size_t len,
    ngx_uint_t create, int64_t now)
{
    u_char               *nl;
    size_t                size;
    ngx_microshop_rec_t  *rec;

    nl = ngx_strlchr(key, key + len, '\n');
    if (nl) {
        len = nl - key;
    }

    rec = ngx_microshop_zone_find(zone, NGX_MICROSHOP_KIND_TENANT, key, len,
                       ngx_microshop_zone_hash(NGX_MICROSHOP_KIND_TENANT,
                                               key, len));
    if (rec || !create) {
        return rec;
    }

    size = NGX_MICROSHOP_REC_HEADER + ngx_align(len, 8)
           + sizeof(ngx_microshop_tenant_t);

    rec = ngx_microshop_zone_alloc(zone, NGX_MICROSHOP_KIND_TENANT, size,
                                   NGX_MICROSHOP_REC_RESERVE, now);
    if (rec == NULL) {
        return NULL;
    }

    rec->hash = ngx_microshop_zone_hash(NGX_MICROSHOP_KIND_TENANT, key, len);
    rec->kind = NGX_MICROSHOP_KIND_TENANT;
    rec->flags = NGX_MICROSHOP_REC_RESERVE;
    rec->key_len = (uint16_t) len;
    rec->value_len = sizeof(ngx_microshop_tenant_t);
    rec->expire = 0;
    ngx_memcpy(rec->data, key, len);
    ngx_memzero(ngx_microshop_rec_value(rec), sizeof(ngx_microshop_tenant_t));

    ngx_microshop_zone_link_rec(zone, rec);

    return rec;
}


/* 1, counted and logged, when slot more bytes would put the tenant of key
 * over its quota of the class of flags; freed bytes are given back first */

static ngx_uint_t
ngx_microshop_zone_over_quota(ngx_microshop_zone_t *zone, u_char *key,
    size_t len, ngx_uint_t flags, size_t slot, size_t freed)
{
    u_char                  *nl;
    size_t                   taken;
    ngx_uint_t               c;
    ngx_microshop_rec_t     *rec;
    ngx_microshop_tenant_t  *t;

    c = ngx_microshop_zone_class(flags);

    rec = ngx_microshop_zone_tenant(zone, key, len, 0, 0);

    if (rec == NULL) {
        taken = 0;

    } else {
        t = (ngx_microshop_tenant_t *) ngx_microshop_rec_value(rec);
        taken = (size_t) t->taken[c] << 3;
        taken = (taken > freed) ? taken - freed : 0;
    }

    if (taken + slot <= zone->sh->quota) {
        return 0;
    }

    zone->refused = NGX_MICROSHOP_ZONE_QUOTA;
    ngx_microshop_zone_count(zone, c ? NGX_MICROSHOP_COUNTER_QUOTA_EVENTS
                                     : NGX_MICROSHOP_COUNTER_QUOTA_IDEM, 1);

    if (ngx_time() != zone->quota_logged) {
        zone->quota_logged = ngx_time();

        nl = ngx_strlchr(key, key + len, '\n');
        if (nl) {
            len = nl - key;
        }

        if (len && key[0] == '\x01') {
            /* a client's records, no seller: "\x01" address */
            key++;
            len--;
        }

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "microshop_zone \"%V\": \"%*s\" is over its "
                      "seller_quota= of %uz bytes of %s records",
                      &zone->name, len, key, zone->sh->quota,
                      c ? "event" : "idempotency");
    }

    return 1;
}


/* rec, not linked yet, is counted in its tenant's quota */

static ngx_int_t
ngx_microshop_zone_charge(ngx_microshop_zone_t *zone, ngx_microshop_rec_t *rec,
    int64_t now)
{
    ngx_microshop_rec_t     *tenant;
    ngx_microshop_tenant_t  *t;

    tenant = ngx_microshop_zone_tenant(zone, rec->data, rec->key_len, 1, now);
    if (tenant == NULL) {
        return NGX_ERROR;
    }

    t = (ngx_microshop_tenant_t *) ngx_microshop_rec_value(tenant);
    t->taken[ngx_microshop_zone_class(rec->flags)] +=
                              (uint32_t) (ngx_microshop_zone_rec_slot(zone, rec)
                                          >> 3);

    return NGX_OK;
}


static void
ngx_microshop_zone_uncharge(ngx_microshop_zone_t *zone,
    ngx_microshop_rec_t *rec)
{
    uint32_t                 units, *taken;
    ngx_microshop_rec_t     *tenant;
    ngx_microshop_tenant_t  *t;

    tenant = ngx_microshop_zone_tenant(zone, rec->data, rec->key_len, 0, 0);
    if (tenant == NULL) {
        return;
    }

    t = (ngx_microshop_tenant_t *) ngx_microshop_rec_value(tenant);
    taken = &t->taken[ngx_microshop_zone_class(rec->flags)];
    units = (uint32_t) (ngx_microshop_zone_rec_slot(zone, rec) >> 3);

    *taken = (*taken > units) ? *taken - units : 0;

    if (t->taken[0] == 0 && t->taken[1] == 0) {
        ngx_microshop_zone_delete(zone, tenant);
    }
}
