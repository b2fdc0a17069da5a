/*
 * ngx_microshop: the store's back-end table and what every back end
 * shares (docs/architecture.md): choosing one at configuration time, the
 * per-worker hooks, the accounting of posted ops and late answers, and
 * the deep copy of an op that a back end finishes later.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_store.h"


static const ngx_microshop_store_backend_t  *ngx_microshop_store_backends[] = {
    &ngx_microshop_store_shm,
    &ngx_microshop_store_deferred,
    NULL
};


/* per worker */
ngx_uint_t  ngx_microshop_store_feed_heard;

ngx_int_t
ngx_microshop_store_init_conf(ngx_conf_t *cf, ngx_microshop_store_t *store,
    ngx_microshop_zone_t *local)
{
    char                                 *env;
    size_t                                len;
    const ngx_microshop_store_backend_t **b;

    store->local = local;

    if (store->redis) {
        /*
         * microshop_redis: the redis back end, whatever the test switch
         * (docs/redis.md); it is not in the table, which the switch reads:
         * it needs the directive's configuration
         */
        store->backend = &ngx_microshop_store_redis;
        return store->backend->init_conf(cf, store);
    }

    env = getenv(NGX_MICROSHOP_STORE_ENV);

    if (env == NULL || *env == '\0') {
        env = "shm";
    }

    len = ngx_strlen(env);

    for (b = ngx_microshop_store_backends; *b; b++) {
        if ((*b)->name.len == len
            && ngx_strncmp((*b)->name.data, env, len) == 0)
        {
            store->backend = *b;

            if (*b != &ngx_microshop_store_shm) {
                /*
                 * a notice, not tied to a line of the configuration: the
                 * whole suite runs with the switch and reads what nginx -t
                 * says about its own configurations
                 */
                ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                              "microshop: the test store \"%s\" is in use "
                              "(" NGX_MICROSHOP_STORE_ENV ")", env);
            }

            return store->backend->init_conf(cf, store);
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "microshop: unknown store \"%s\" in "
                       NGX_MICROSHOP_STORE_ENV, env);

    return NGX_ERROR;
}


ngx_int_t
ngx_microshop_store_init_process(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store)
{
    if (store->backend == NULL || store->backend->init_process == NULL) {
        return NGX_OK;
    }

    return store->backend->init_process(cycle, store);
}


void
ngx_microshop_store_exit_process(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store)
{
    if (store->backend && store->backend->exit_process) {
        store->backend->exit_process(cycle, store);
    }
}


ngx_int_t
ngx_microshop_store_key(ngx_pool_t *pool, ngx_str_t *seller, u_char *name,
    size_t len, ngx_str_t *key)
{
    key->len = seller->len + 1 + len;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_microshop_store_key_write(key->data, seller, name, len);

    return NGX_OK;
}


ngx_int_t
ngx_microshop_store_key_client(ngx_pool_t *pool, ngx_str_t *addr,
    u_char *name, size_t len, ngx_str_t *key)
{
    u_char  *p;

    key->len = 1 + addr->len + 1 + len;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = key->data;
    *p++ = NGX_MICROSHOP_STORE_CLIENT;
    p = ngx_cpymem(p, addr->data, addr->len);
    *p++ = '\n';
    ngx_memcpy(p, name, len);

    return NGX_OK;
}


u_char *
ngx_microshop_store_key_write(u_char *p, ngx_str_t *seller, u_char *name,
    size_t len)
{
    p = ngx_cpymem(p, seller->data, seller->len);
    *p++ = '\n';

    return ngx_cpymem(p, name, len);
}


ngx_int_t
ngx_microshop_store_key_seller(ngx_str_t *key, ngx_str_t *seller)
{
    u_char  *nl;

    nl = ngx_strlchr(key->data, key->data + key->len, '\n');
    if (nl == NULL) {
        return NGX_ERROR;
    }

    seller->data = key->data;
    seller->len = nl - key->data;

    return NGX_OK;
}


void
ngx_microshop_store_posted(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op)
{
    if (op->rc == NGX_ERROR) {
        /* at most once a second per worker, as the zone says it is full:
         * a full zone fails a fill on every request */
        if (ngx_time() != store->error_logged) {
            store->error_logged = ngx_time();
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "microshop: store operation %ui failed", op->type);
        }

        ngx_microshop_zone_count(store->local,
                                 NGX_MICROSHOP_COUNTER_STORE_ERRORS, 1);
        return;
    }

    if (op->rc == NGX_OK && op->counter) {
        ngx_microshop_zone_count(store->local, op->counter, 1);
    }
}


void
ngx_microshop_store_late(ngx_microshop_store_t *store)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "microshop: store answer for a request that is gone");

    ngx_microshop_zone_count(store->local, NGX_MICROSHOP_COUNTER_STORE_LATE,
                             1);
}


static ngx_int_t
ngx_microshop_store_str_copy(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    if (s->len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, s->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    s->data = ngx_cpymem(p, s->data, s->len) - s->len;

    return NGX_OK;
}


ngx_microshop_op_t *
ngx_microshop_store_op_copy(ngx_microshop_op_t *op, ngx_log_t *log)
{
    ngx_uint_t             i;
    ngx_pool_t            *pool;
    ngx_microshop_op_t    *copy;
    ngx_microshop_line_t  *lines;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        return NULL;
    }

    copy = ngx_palloc(pool, sizeof(ngx_microshop_op_t));
    if (copy == NULL) {
        goto failed;
    }

    *copy = *op;
    copy->pool = pool;
    copy->handler = NULL;
    copy->data = NULL;
    copy->pending = NULL;

    if (ngx_microshop_store_str_copy(pool, &copy->key) != NGX_OK) {
        goto failed;
    }

    /*
     * Only the strings an op reads are copied.  Out fields are cleared:
     * callers reuse one op for several types, so what the union holds
     * there may be what another type left (GCRA numbers), not a string.
     */

    switch (op->type) {

    case NGX_MICROSHOP_OP_IDEM_COMPLETE:
        if (ngx_microshop_store_str_copy(pool, &copy->u.idem.response)
            != NGX_OK)
        {
            goto failed;
        }

        break;

    case NGX_MICROSHOP_OP_IDEM_BEGIN:
    case NGX_MICROSHOP_OP_IDEM_RELEASE:
        ngx_str_null(&copy->u.idem.response);
        break;

    case NGX_MICROSHOP_OP_INV_PUT:
        if (ngx_microshop_store_str_copy(pool, &copy->u.inv.body) != NGX_OK
            || ngx_microshop_store_str_copy(pool, &copy->u.inv.etag)
               != NGX_OK)
        {
            goto failed;
        }

        break;

    case NGX_MICROSHOP_OP_INV_GET:
    case NGX_MICROSHOP_OP_INV_DROP:
    case NGX_MICROSHOP_OP_INV_FAILED:
        ngx_str_null(&copy->u.inv.body);
        ngx_str_null(&copy->u.inv.etag);
        break;

    case NGX_MICROSHOP_OP_EVENT:
        if (ngx_microshop_store_str_copy(pool, &copy->u.event.id) != NGX_OK) {
            goto failed;
        }

        if (!op->u.event.has_item) {
            ngx_str_null(&copy->u.event.item);
            ngx_str_null(&copy->u.event.etag);
            break;
        }

        if (ngx_microshop_store_str_copy(pool, &copy->u.event.item) != NGX_OK
            || ngx_microshop_store_str_copy(pool, &copy->u.event.etag)
               != NGX_OK)
        {
            goto failed;
        }

        break;

    case NGX_MICROSHOP_OP_IS_REVOKED:
        if (ngx_microshop_store_str_copy(pool, &copy->u.revoked.parent)
            != NGX_OK
            || ngx_microshop_store_str_copy(pool, &copy->u.revoked.seller)
               != NGX_OK
            || ngx_microshop_store_str_copy(pool, &copy->u.revoked.class)
               != NGX_OK)
        {
            goto failed;
        }

        break;

    case NGX_MICROSHOP_OP_FEED_APPEND:
        if (ngx_microshop_store_str_copy(pool, &copy->u.feed.data) != NGX_OK)
        {
            goto failed;
        }

        break;

    case NGX_MICROSHOP_OP_FEED_READ:
        copy->u.feed.events = NULL;
        copy->u.feed.nevents = 0;
        copy->u.feed.missed = 0;
        copy->u.feed.last.ms = 0;
        copy->u.feed.last.seq = 0;
        break;

    case NGX_MICROSHOP_OP_USAGE_PUT:
        if (ngx_microshop_store_str_copy(pool, &copy->u.usage.blob) != NGX_OK)
        {
            goto failed;
        }

        break;

    case NGX_MICROSHOP_OP_USAGE_GET:
        ngx_str_null(&copy->u.usage.blob);
        copy->u.usage.nodes = NULL;
        copy->u.usage.nnodes = 0;
        break;

    case NGX_MICROSHOP_OP_REVOKED_LIST:
        copy->u.revoked_list.jtis = NULL;
        copy->u.revoked_list.njtis = 0;
        copy->u.revoked_list.watermarks = NULL;
        copy->u.revoked_list.nwatermarks = 0;
        copy->u.revoked_list.truncated = 0;
        break;

    case NGX_MICROSHOP_OP_HOLD_LIST:
        copy->u.reserve.holds = NULL;
        copy->u.reserve.nholds = 0;
        copy->u.reserve.total = 0;

        if (ngx_microshop_store_str_copy(pool, &copy->u.reserve.seller)
            != NGX_OK)
        {
            goto failed;
        }

        break;

    case NGX_MICROSHOP_OP_RESERVE:
    case NGX_MICROSHOP_OP_SETTLE:
    case NGX_MICROSHOP_OP_HOLD_UNKNOWN:
        if (ngx_microshop_store_str_copy(pool, &copy->u.reserve.seller)
            != NGX_OK
            || ngx_microshop_store_str_copy(pool, &copy->u.reserve.id)
               != NGX_OK)
        {
            goto failed;
        }

        if (op->u.reserve.nlines == 0) {
            break;
        }

        lines = ngx_palloc(pool,
                           op->u.reserve.nlines * sizeof(ngx_microshop_line_t));
        if (lines == NULL) {
            goto failed;
        }

        for (i = 0; i < op->u.reserve.nlines; i++) {
            lines[i] = op->u.reserve.lines[i];

            if (ngx_microshop_store_str_copy(pool, &lines[i].sku) != NGX_OK) {
                goto failed;
            }
        }

        copy->u.reserve.lines = lines;
        break;

    default:
        break;
    }

    return copy;

failed:

    ngx_destroy_pool(pool);

    return NULL;
}
