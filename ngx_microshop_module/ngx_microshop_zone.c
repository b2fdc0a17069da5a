/*
 * ngx_microshop: the node-local shared memory zone (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_zone.h"


/* bump when ngx_microshop_sh_t or a record layout changes */
#define NGX_MICROSHOP_ZONE_MAGIC  0x6d73686f70000007ULL

/* one bucket of the index per this many bytes of zone */
#define NGX_MICROSHOP_ZONE_BUCKET_BYTES  512

#define NGX_MICROSHOP_ZONE_MIN    (8 * ngx_pagesize)


static ngx_int_t ngx_microshop_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static uint32_t ngx_microshop_zone_hash(ngx_uint_t kind, u_char *key,
    size_t len);


int64_t
ngx_microshop_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


/*
 * microshop_zone name=NAME size=SIZE
 *
 * As nginx's ngx_conf_set_* handlers do, the zone is stored at cmd->offset
 * of conf; cmd->post is the module that owns the shared memory (its tag).
 */

char *
ngx_microshop_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ssize_t                 size;
    ngx_str_t              *value, name, s;
    ngx_uint_t              i;
    ngx_microshop_zone_t  **zp;

    zp = (ngx_microshop_zone_t **) ((u_char *) conf + cmd->offset);

    if (*zp) {
        return "is duplicate: one zone holds all microshop state";
    }

    value = cf->args->elts;
    size = 0;
    ngx_str_null(&name);

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

    *zp = ngx_microshop_zone_add(cf, &name, size, cmd->post);
    if (*zp == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
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
    ngx_uint_t             i, k;
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

    zone->shpool->data = zone->sh;
    zone->sh->magic = NGX_MICROSHOP_ZONE_MAGIC;

    zone->sh->nbuckets = shm_zone->shm.size / NGX_MICROSHOP_ZONE_BUCKET_BYTES;

    zone->sh->buckets = ngx_slab_alloc(zone->shpool,
                                       zone->sh->nbuckets
                                       * sizeof(ngx_queue_t));
    if (zone->sh->buckets == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < zone->sh->nbuckets; i++) {
        ngx_queue_init(&zone->sh->buckets[i]);
    }

    for (k = 0; k < NGX_MICROSHOP_KIND_MAX; k++) {
        ngx_queue_init(&zone->sh->lru[k]);
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

    return NGX_OK;
}


static uint32_t
ngx_microshop_zone_hash(ngx_uint_t kind, u_char *key, size_t len)
{
    /* murmur2 reads four bytes a step; the kind moves the whole result */
    return ngx_murmur_hash2(key, len) ^ (uint32_t) (kind * 0x9e3779b1);
}


ngx_microshop_rec_t *
ngx_microshop_zone_lookup(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    u_char *key, size_t len, int64_t now)
{
    uint32_t              hash;
    ngx_queue_t          *bucket, *q;
    ngx_microshop_rec_t  *rec;

    hash = ngx_microshop_zone_hash(kind, key, len);
    bucket = &zone->sh->buckets[hash % zone->sh->nbuckets];

    for (q = ngx_queue_head(bucket);
         q != ngx_queue_sentinel(bucket);
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_microshop_rec_t, chain);

        if (rec->hash != hash || rec->kind != kind || rec->key_len != len
            || ngx_memcmp(rec->data, key, len) != 0)
        {
            continue;
        }

        if (rec->expire && rec->expire <= now) {
            ngx_microshop_zone_delete(zone, rec);
            return NULL;
        }

        ngx_queue_remove(&rec->queue);
        ngx_queue_insert_head(&zone->sh->lru[kind], &rec->queue);

        return rec;
    }

    return NULL;
}


ngx_microshop_rec_t *
ngx_microshop_zone_insert(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    u_char *key, size_t len, size_t value_len, int64_t expire, int64_t now)
{
    size_t                size;
    ngx_uint_t            k;
    ngx_queue_t          *q;
    ngx_microshop_rec_t  *rec;

    if (len > 0xffff || value_len > 0xffffffff) {
        return NULL;
    }

    size = offsetof(ngx_microshop_rec_t, data) + ngx_align(len, 8)
           + value_len;

    /* as limit_req: every insert retires a couple of expired records */
    (void) ngx_microshop_zone_expire(zone, kind, now, 2);

    rec = ngx_slab_alloc_locked(zone->shpool, size);

    if (rec == NULL) {
        /* expired records of every kind first */
        for (k = 0; k < NGX_MICROSHOP_KIND_MAX; k++) {
            (void) ngx_microshop_zone_expire(zone, k, now, 64);
        }

        rec = ngx_slab_alloc_locked(zone->shpool, size);
    }

    /* then the least recently used records of the evictable kinds */

    for (k = 0; rec == NULL && k < NGX_MICROSHOP_KIND_MAX; k++) {

        if (!NGX_MICROSHOP_KIND_EVICTABLE(k)) {
            continue;
        }

        while (rec == NULL && !ngx_queue_empty(&zone->sh->lru[k])) {
            q = ngx_queue_last(&zone->sh->lru[k]);
            ngx_microshop_zone_delete(zone,
                            ngx_queue_data(q, ngx_microshop_rec_t, queue));
            ngx_microshop_zone_count(zone,
                                     NGX_MICROSHOP_COUNTER_ZONE_EVICTIONS, 1);

            rec = ngx_slab_alloc_locked(zone->shpool, size);
        }
    }

    if (rec == NULL) {
        ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_ZONE_FULL, 1);

        /* said once a second per worker, not per request */
        if (ngx_time() != zone->full_logged) {
            zone->full_logged = ngx_time();
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "microshop_zone \"%V\" is full: no room for "
                          "%uz bytes even after evicting caches; raise "
                          "its size", &zone->name, size);
        }

        return NULL;
    }

    rec->hash = ngx_microshop_zone_hash(kind, key, len);
    rec->kind = (uint8_t) kind;
    rec->key_len = (uint16_t) len;
    rec->value_len = (uint32_t) value_len;
    rec->expire = expire;
    ngx_memcpy(rec->data, key, len);

    ngx_queue_insert_head(&zone->sh->buckets[rec->hash % zone->sh->nbuckets],
                          &rec->chain);
    ngx_queue_insert_head(&zone->sh->lru[kind], &rec->queue);
    zone->sh->records[kind]++;

    return rec;
}


void
ngx_microshop_zone_delete(ngx_microshop_zone_t *zone, ngx_microshop_rec_t *rec)
{
    zone->sh->records[rec->kind]--;
    ngx_queue_remove(&rec->queue);
    ngx_queue_remove(&rec->chain);
    ngx_slab_free_locked(zone->shpool, rec);
}


ngx_uint_t
ngx_microshop_zone_expire(ngx_microshop_zone_t *zone, ngx_uint_t kind,
    int64_t now, ngx_uint_t n)
{
    ngx_uint_t            done, seen;
    ngx_queue_t          *q, *prev;
    ngx_microshop_rec_t  *rec;

    /*
     * Records of one kind mostly share a lifetime, so the least recently
     * used end of the queue is where expired ones are; look at a few more
     * than asked for, not at the whole queue.
     */

    done = 0;
    seen = 0;
    q = ngx_queue_last(&zone->sh->lru[kind]);

    while (q != ngx_queue_sentinel(&zone->sh->lru[kind])
           && done < n && seen++ < 4 * n)
    {
        prev = ngx_queue_prev(q);
        rec = ngx_queue_data(q, ngx_microshop_rec_t, queue);

        if (rec->expire && rec->expire <= now) {
            ngx_microshop_zone_delete(zone, rec);
            done++;

        } else if (n <= 2) {
            break;
        }

        q = prev;
    }

    return done;
}
