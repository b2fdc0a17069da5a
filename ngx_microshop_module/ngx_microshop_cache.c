/*
 * ngx_microshop: the inventory cache (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_cache.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_identity.h"


#define NGX_MICROSHOP_CACHE_MAX_BODY   (256 * 1024)

/*
 * How long a background refresh holds the refresh lock of its key unless
 * it ends first (it frees the lock when it ends, in every way): only a
 * worker that died mid-refresh leaves it to run out (docs/inventory.md).
 */
#define NGX_MICROSHOP_CACHE_REFRESH_LOCK  60000


static ngx_int_t ngx_microshop_cache_key(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *key);
static ngx_uint_t ngx_microshop_etag_matches(ngx_http_request_t *r,
    ngx_str_t *etag);
static ngx_int_t ngx_microshop_cache_answer(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *body, ngx_str_t *etag,
    ngx_str_t *status);
static ngx_int_t ngx_microshop_cache_stale(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
static ngx_int_t ngx_microshop_cache_refresh_start(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
static ngx_int_t ngx_microshop_cache_refresh_headers(ngx_http_request_t *sr,
    ngx_http_microshop_ctx_t *ctx);
static ngx_uint_t ngx_microshop_cache_refresh_drop(ngx_table_elt_t *h);
static ngx_int_t ngx_microshop_cache_refresh_abort(ngx_http_request_t *sr);
static void ngx_microshop_cache_refresh_cleanup(void *data);
static void ngx_microshop_cache_failed(ngx_http_request_t *r,
    ngx_str_t *key, int64_t stored_at);
static ngx_int_t ngx_microshop_cache_capture(ngx_http_request_t *r,
    ngx_microshop_cache_ctx_t *cc, ngx_chain_t *in);
static void ngx_microshop_cache_store(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
static ngx_int_t ngx_microshop_cache_stale_headers(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);


static ngx_str_t  ngx_microshop_cache_hit = ngx_string("microshop; hit");
static ngx_str_t  ngx_microshop_cache_stale_hit =
    ngx_string("microshop; hit; detail=stale");


/* configuration */

void
ngx_microshop_cache_loc_create(ngx_microshop_cache_loc_t *c)
{
    c->sku = NGX_CONF_UNSET_PTR;
    c->ttl = NGX_CONF_UNSET_MSEC;
    c->stale_if_error = NGX_CONF_UNSET_MSEC;
    c->stale_while_revalidate = NGX_CONF_UNSET_MSEC;
    c->refresh_retry = NGX_CONF_UNSET_MSEC;
}


/*
 * microshop_inventory_cache sku=VALUE [ttl=T] [stale_while_revalidate=T]
 *                           [stale_if_error=T] [refresh_retry=T]
 */

char *
ngx_microshop_inventory_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    ngx_int_t     t;
    ngx_str_t    *value, s;
    ngx_uint_t    i;
    ngx_msec_t   *field;

    if (mlcf->cache.sku != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    mlcf->cache.sku = NULL;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_microshop_conf_value(&value[i], "sku=", &s)) {
            mlcf->cache.sku = ngx_microshop_complex_value(cf, &s);
            if (mlcf->cache.sku == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            field = &mlcf->cache.ttl;

        } else if (ngx_strncmp(value[i].data, "stale_if_error=", 15) == 0) {
            field = &mlcf->cache.stale_if_error;

        } else if (ngx_strncmp(value[i].data, "stale_while_revalidate=", 23)
                   == 0)
        {
            field = &mlcf->cache.stale_while_revalidate;

        } else if (ngx_strncmp(value[i].data, "refresh_retry=", 14) == 0) {
            field = &mlcf->cache.refresh_retry;

        } else {
            field = NULL;
        }

        if (field) {
            t = ngx_microshop_conf_time(cf, &value[i], 0, 0,
                                        NGX_MAX_INT_T_VALUE,
                                        "invalid time \"%V\"", &value[i]);
            if (t == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            *field = t;
            continue;
        }

        return ngx_microshop_conf_invalid(cf, &value[i]);
    }

    if (mlcf->cache.sku == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs \"sku=\", e.g. sku=$sku",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_microshop_cache_loc_merge(ngx_conf_t *cf, ngx_microshop_cache_loc_t *prev,
    ngx_microshop_cache_loc_t *conf)
{
    if (conf->sku == NGX_CONF_UNSET_PTR) {
        *conf = *prev;
    }

    ngx_conf_merge_ptr_value(conf->sku, NGX_CONF_UNSET_PTR, NULL);
    ngx_conf_merge_msec_value(conf->ttl, NGX_CONF_UNSET_MSEC, 5000);
    ngx_conf_merge_msec_value(conf->stale_if_error, NGX_CONF_UNSET_MSEC, 0);
    ngx_conf_merge_msec_value(conf->stale_while_revalidate,
                              NGX_CONF_UNSET_MSEC, 0);
    ngx_conf_merge_msec_value(conf->refresh_retry, NGX_CONF_UNSET_MSEC,
                              5000);

    return NGX_CONF_OK;
}


/* the key of (seller, sku) */

static ngx_int_t
ngx_microshop_cache_key(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx,
    ngx_str_t *key)
{
    ngx_str_t                       seller, sku;
    ngx_http_microshop_loc_conf_t  *mlcf;

    mlcf = ngx_microshop_loc_conf(r);

    ngx_str_null(key);

    if (ngx_microshop_route_seller(r, ctx, &seller) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_complex_value(r, mlcf->cache.sku, &sku) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a seller holding the key's "\n" (a decoded %0A) would meet the
     * keys of another: no token names such a seller, nothing is cached */

    if (seller.len == 0 || sku.len == 0 || sku.len > NGX_MICROSHOP_SKU_MAX
        || seller.len > NGX_MICROSHOP_SKU_MAX
        || ngx_strlchr(seller.data, seller.data + seller.len, '\n'))
    {
        return NGX_DECLINED;
    }

    if (ngx_microshop_store_key(r->pool, &seller, sku.data, sku.len, key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the CACHE stage: inventory reads answered at the edge */

ngx_int_t
ngx_microshop_cache_stage(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx)
{
    int64_t                          age;
    ngx_int_t                        rc;
    ngx_microshop_cache_ctx_t       *cc;
    ngx_http_microshop_loc_conf_t   *mlcf;

    mlcf = ngx_microshop_loc_conf(r);

    if (mlcf->cache.sku == NULL) {
        return NGX_DECLINED;
    }

    cc = &ctx->cache_ctx;

    if (!cc->lookup_done) {
        rc = ngx_microshop_cache_key(r, ctx, &cc->key);

        if (rc != NGX_OK) {
            return (rc == NGX_ERROR) ? NGX_ERROR : NGX_DECLINED;
        }

        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            /* a write: its answer refreshes or drops the entry */
            cc->lookup_done = 1;
            cc->drop = 1;
            return NGX_DECLINED;
        }

        if (ctx->op_state == NGX_MICROSHOP_OP_IDLE) {
            ctx->op.type = NGX_MICROSHOP_OP_INV_GET;
            ctx->op.key = cc->key;
            ctx->op.pool = r->pool;

            /* past ttl, within stale_while_revalidate: one refresh */
            ctx->op.u.inv.fresh = mlcf->cache.ttl;
            ctx->op.u.inv.revalidate = mlcf->cache.stale_while_revalidate;
            ctx->op.u.inv.lock = NGX_MICROSHOP_CACHE_REFRESH_LOCK;
            ctx->op.u.inv.refresh = 0;
            ctx->op.u.inv.failed = 0;
        }

        if (ngx_microshop_request_store(r, ctx) == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        cc->lookup_done = 1;

        if (ctx->op.rc == NGX_ERROR) {
            /* Redis with on_error=closed (docs/redis.md) */
            return ngx_microshop_store_failed(r, ctx);
        }

        if (ctx->op.rc == NGX_OK) {
            age = ngx_microshop_now_ms() - ctx->op.u.inv.stored_at;

            /* the entry: answered now, or kept for a failing backend */
            cc->stale_body = ctx->op.u.inv.body;
            cc->stale_etag = ctx->op.u.inv.etag;
            cc->stale_version = ctx->op.u.inv.version;
            cc->stale_at = ctx->op.u.inv.stored_at;

            if (age < (int64_t) mlcf->cache.ttl && !ctx->op.u.inv.refresh) {
                ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_CACHE_HIT);

                return ngx_microshop_cache_answer(r, ctx, &cc->stale_body,
                                                  &cc->stale_etag,
                                                  &ngx_microshop_cache_hit);
            }

            /* the store's clock decided the lock: a lock taken is used */

            if (ctx->op.u.inv.refresh
                || age < (int64_t) (mlcf->cache.ttl
                                    + mlcf->cache.stale_while_revalidate))
            {
                return ngx_microshop_cache_stale(r, ctx);
            }

            if (age >= (int64_t) mlcf->cache.stale_if_error) {
                /* too old even to answer for a failing backend */
                ngx_str_null(&cc->stale_body);
            }
        }

        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_CACHE_MISS);
    }

    return NGX_DECLINED;
}


/*
 * A stale entry answered at once (docs/inventory.md, "Stale answers"); the
 * request that took the key's refresh lock starts the background refresh
 * first, so that the answer does not wait for the backend.
 */

static ngx_int_t
ngx_microshop_cache_stale(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_microshop_cache_ctx_t  *cc;

    cc = &ctx->cache_ctx;

    if (ctx->op.u.inv.refresh) {
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_CACHE_REFRESH);

        if (ngx_microshop_cache_refresh_start(r, ctx) != NGX_OK) {
            /* the lock is ours: free it; a refresh is tried again after
             * refresh_retry */
            ngx_microshop_cache_failed(r, &cc->key, cc->stale_at);
        }

    } else {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop: stale entry, %s",
                       ctx->op.u.inv.failed ? "its refresh failed lately"
                                            : "a refresh runs");
    }

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_CACHE_STALE);

    return ngx_microshop_cache_answer(r, ctx, &cc->stale_body,
                                      &cc->stale_etag,
                                      &ngx_microshop_cache_stale_hit);
}


/*
 * The refresh is a background subrequest to this location, as nginx's
 * proxy_cache_background_update makes one (ngx_http_upstream.c): a clone
 * that goes on from the access phase, which nginx skips for subrequests,
 * so no token check and no rate limit runs a second time.  The client's
 * connection stays open until it ends; its answer goes to the cache
 * only (ngx_microshop_cache_refresh_header_filter()).
 */

static ngx_int_t
ngx_microshop_cache_refresh_start(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_http_request_t         *sr;
    ngx_http_cleanup_t         *cln;
    ngx_http_microshop_ctx_t   *rctx;
    ngx_microshop_cache_ctx_t  *cc;

    cc = &ctx->cache_ctx;

    rctx = ngx_pcalloc(r->pool, sizeof(ngx_http_microshop_ctx_t));
    cln = ngx_http_cleanup_add(r, 0);

    if (rctx == NULL || cln == NULL) {
        return NGX_ERROR;
    }

    /* what the refresh needs of the request: its identity and key */
    rctx->stage = NGX_MICROSHOP_STAGE_DONE;
    rctx->rate_remaining = -1;
    rctx->token = ctx->token;
    rctx->has_token = ctx->has_token;
    rctx->route_seller = ctx->route_seller;
    rctx->cache_ctx.key = cc->key;
    rctx->cache_ctx.stale_at = cc->stale_at;
    rctx->cache_ctx.lookup_done = 1;

    if (ngx_http_subrequest(r, &r->uri, &r->args, &sr, NULL,
                            NGX_HTTP_SUBREQUEST_CLONE
                            |NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* from here on the refresh runs, and ends with a verdict */

    cc->refresh = sr;
    cc->refresh_ctx = rctx;

    cln->handler = ngx_microshop_cache_refresh_cleanup;
    cln->data = r;

    ngx_http_set_ctx(sr, rctx, (*ngx_microshop_module));

    /* a HEAD is refreshed with a GET: the entry needs the body */
    sr->method = NGX_HTTP_GET;
    sr->method_name = ngx_http_core_get_method;

    if (ngx_microshop_cache_refresh_headers(sr, ctx) != NGX_OK) {
        /* never a request without its identity: it fails at once */
        sr->content_handler = ngx_microshop_cache_refresh_abort;
    }

    /*
     * The connection waits for the refresh: a client that sent its next
     * request on it would wait too, so this answer closes it (HTTP/1).
     */
    r->keepalive = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop: background refresh \"%V\" started", &r->uri);

    return NGX_OK;
}


/* a client's header the refresh does not send */

static ngx_uint_t
ngx_microshop_cache_refresh_drop(ngx_table_elt_t *h)
{
    ngx_uint_t  n;

    static ngx_str_t  skip[] = {
        ngx_string("if-none-match"), ngx_string("if-modified-since"),
        ngx_string("if-match"), ngx_string("if-unmodified-since"),
        ngx_string("if-range"), ngx_string("range"),
        ngx_string("accept-encoding"), ngx_string("content-length"),
        ngx_string("transfer-encoding"), ngx_string("expect"),
        ngx_null_string
    };

    for (n = 0; skip[n].len; n++) {
        if (h->key.len == skip[n].len
            && ngx_strncasecmp(h->key.data, skip[n].data, skip[n].len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The refresh's request headers: the client's, without those that would
 * make the backend answer less than the whole entry (conditionals,
 * ranges, an encoding) or a body, and with the verified identity.
 */

static ngx_int_t
ngx_microshop_cache_refresh_headers(ngx_http_request_t *sr,
    ngx_http_microshop_ctx_t *ctx)
{
    if (ngx_microshop_header_in_rebuild(sr, ngx_microshop_cache_refresh_drop)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.if_modified_since = NULL;
    sr->headers_in.if_unmodified_since = NULL;
    sr->headers_in.if_match = NULL;
    sr->headers_in.if_none_match = NULL;
    sr->headers_in.range = NULL;
    sr->headers_in.if_range = NULL;
    sr->headers_in.content_length = NULL;
    sr->headers_in.content_length_n = -1;
    sr->headers_in.transfer_encoding = NULL;
    sr->headers_in.chunked = 0;
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    sr->headers_in.accept_encoding = NULL;
#endif

    if (ctx->has_token
        && ngx_microshop_identity_forward(sr, &ctx->token.id) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_cache_refresh_abort(ngx_http_request_t *sr)
{
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* the refresh of r, when r is a request's background refresh */

ngx_http_microshop_ctx_t *
ngx_microshop_cache_refresh_ctx(ngx_http_request_t *r)
{
    ngx_http_microshop_ctx_t  *mctx;

    if (r == r->main || !r->background) {
        return NULL;
    }

    mctx = ngx_microshop_ctx(r->main);

    if (mctx == NULL || mctx->cache_ctx.refresh != r) {
        return NULL;
    }

    return mctx->cache_ctx.refresh_ctx;
}


/*
 * The refresh's answer: a 200 JSON object is the new entry; 5xx, 429,
 * nginx's own failures (timeouts, connect errors), an answer from another
 * location (error_page) or one cut short fail the refresh, so the entry
 * stays stale and no refresh starts for refresh_retry; any other answer
 * drops the entry, so the next read asks the backend itself.  Nothing is
 * sent to the client, which has its answer.
 */

ngx_int_t
ngx_microshop_cache_refresh_header_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_str_t                  *type;
    ngx_uint_t                  status;
    ngx_microshop_cache_ctx_t  *cc;

    cc = &ctx->cache_ctx;

    if (cc->refresh_done || cc->capture) {
        return NGX_OK;
    }

    status = r->headers_out.status;
    type = &r->headers_out.content_type;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop: background refresh answered %ui", status);

    if (r->upstream == NULL || r->uri_changes <= NGX_HTTP_MAX_URI_CHANGES
        || status >= NGX_HTTP_INTERNAL_SERVER_ERROR
        || status == NGX_HTTP_TOO_MANY_REQUESTS)
    {
        ngx_microshop_cache_failed(r, &cc->key, cc->stale_at);
        cc->refresh_done = 1;
        return NGX_OK;
    }

    if (status == NGX_HTTP_OK && r->headers_out.content_encoding == NULL
        && type->len >= 16
        && ngx_strncasecmp(type->data, (u_char *) "application/json", 16)
           == 0)
    {
        if (r->headers_out.etag) {
            cc->etag = r->headers_out.etag->value;
        }

        cc->capture = 1;
        return NGX_OK;
    }

    /* cc->capture is 0: the entry is dropped */
    ngx_microshop_cache_store(r, ctx);
    cc->refresh_done = 1;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_cache_refresh_body_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_microshop_cache_ctx_t  *cc;

    cc = &ctx->cache_ctx;

    if (cc->capture && !cc->refresh_done) {
        if (ngx_microshop_cache_capture(r, cc, in) != NGX_OK) {
            /*
             * no memory, a file unread: the refresh failed, as a 5xx
             * would; never NGX_ERROR, nginx would end the client's
             * connection with it
             */
            ngx_microshop_cache_failed(r, &cc->key, cc->stale_at);
            cc->refresh_done = 1;

        } else if (cc->complete) {
            ngx_microshop_cache_store(r, ctx);
            cc->refresh_done = 1;
        }
    }

    /* nothing reaches the client */
    ngx_microshop_request_consume(in);

    return NGX_OK;
}


/* the request and its refresh end: a refresh without a verdict failed */

static void
ngx_microshop_cache_refresh_cleanup(void *data)
{
    ngx_http_request_t *r = data;

    ngx_http_microshop_ctx_t  *ctx, *rctx;

    ctx = ngx_microshop_ctx(r);

    if (ctx == NULL || ctx->cache_ctx.refresh_ctx == NULL) {
        return;
    }

    rctx = ctx->cache_ctx.refresh_ctx;

    if (!rctx->cache_ctx.refresh_done) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop: background refresh ended unanswered");

        ngx_microshop_cache_failed(r, &rctx->cache_ctx.key,
                                   rctx->cache_ctx.stale_at);
        rctx->cache_ctx.refresh_done = 1;
    }
}


/* the refresh of the entry stored at stored_at failed, or never started */

static void
ngx_microshop_cache_failed(ngx_http_request_t *r, ngx_str_t *key,
    int64_t stored_at)
{
    ngx_microshop_op_t               op;
    ngx_http_microshop_loc_conf_t   *mlcf;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);
    mlcf = ngx_microshop_loc_conf(r);

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));

    op.type = NGX_MICROSHOP_OP_INV_FAILED;
    op.key = *key;
    op.pool = r->pool;
    op.u.inv.stored_at = stored_at;
    op.u.inv.keep = mlcf->cache.refresh_retry;

    /* counted when the store took it */
    op.counter = NGX_MICROSHOP_COUNTER_CACHE_REFRESH_FAILED;

    /* post() copies what it needs before it returns */
    ngx_microshop_store_post(&mmcf->store, &op);
}


static ngx_uint_t
ngx_microshop_etag_matches(ngx_http_request_t *r, ngx_str_t *etag)
{
    u_char     *p, *last, *start;
    ngx_str_t  *inm;

    if (r->headers_in.if_none_match == NULL) {
        return 0;
    }

    inm = &r->headers_in.if_none_match->value;

    if (inm->len == 1 && inm->data[0] == '*') {
        return 1;
    }

    /* a list of entity tags; W/ compares weakly, as RFC 9110 13.1.2 */

    p = inm->data;
    last = p + inm->len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == ',')) {
            p++;
        }

        if (last - p > 2 && p[0] == 'W' && p[1] == '/') {
            p += 2;
        }

        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        while (p > start && p[-1] == ' ') {
            p--;
        }

        if ((size_t) (p - start) == etag->len
            && ngx_strncmp(start, etag->data, etag->len) == 0)
        {
            return 1;
        }

        while (p < last && *p != ',') {
            p++;
        }
    }

    return 0;
}


static ngx_int_t
ngx_microshop_cache_answer(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *body, ngx_str_t *etag,
    ngx_str_t *status)
{
    ngx_int_t  rc;
    ngx_str_t  type;

    if (ngx_microshop_header_add(r, "ETag", etag) != NGX_OK
        || ngx_microshop_header_add(r, "Cache-Status", status) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_microshop_etag_matches(r, etag)) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            r->keepalive = 0;
        }

        r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
        r->header_only = 1;

        rc = ngx_http_send_header(r);
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    ngx_str_set(&type, "application/json");

    rc = ngx_microshop_send_body(r, NGX_HTTP_OK, &type, body);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


ngx_int_t
ngx_microshop_cache_header_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_str_t                   status, *type;
    ngx_uint_t                  json;
    ngx_microshop_cache_ctx_t  *cc;

    cc = &ctx->cache_ctx;

    if (r->upstream == NULL) {
        return NGX_OK;
    }

    type = &r->headers_out.content_type;
    json = (type->len >= 16
            && ngx_strncasecmp(type->data, (u_char *) "application/json", 16)
               == 0);

    if (r->headers_out.etag) {
        cc->etag = r->headers_out.etag->value;
    }

    if (cc->drop) {
        /* a write through a cached location */
        if (r->headers_out.status >= 200 && r->headers_out.status < 300) {
            cc->capture = json && (r->method & (NGX_HTTP_PUT|NGX_HTTP_PATCH));

            if (!cc->capture) {
                ngx_microshop_cache_store(r, ctx);
            }
        }

        return NGX_OK;
    }

    if (r->headers_out.status >= 500 && cc->stale_body.data) {
        return ngx_microshop_cache_stale_headers(r, ctx);
    }

    /* whether it gets stored is known only at its end: no "stored" here */
    ngx_str_set(&status, "microshop; fwd=miss");

    if (r->headers_out.status == NGX_HTTP_OK && json) {
        cc->capture = 1;
    }

    return ngx_microshop_header_add(r, "Cache-Status", &status);
}


/* the backend failed: a stale entry answers instead */

static ngx_int_t
ngx_microshop_cache_stale_headers(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_uint_t                       i;
    ngx_list_part_t                 *part;
    ngx_table_elt_t                 *h;
    ngx_microshop_cache_ctx_t       *cc;

    cc = &ctx->cache_ctx;

    part = &r->headers_out.headers.part;
    i = 0;

    while ((h = ngx_microshop_header_next(&part, &i)) != NULL) {
        h->hash = 0;
    }

    r->err_status = 0;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.status_line.len = 0;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;
    r->headers_out.content_length = NULL;
    r->headers_out.content_length_n = cc->stale_body.len;
    r->headers_out.content_encoding = NULL;
    r->headers_out.location = NULL;
    r->headers_out.refresh = NULL;
    r->headers_out.last_modified = NULL;
    r->headers_out.last_modified_time = -1;
    r->headers_out.etag = NULL;
    r->headers_out.expires = NULL;
    r->headers_out.www_authenticate = NULL;

    if (ngx_microshop_header_add(r, "ETag", &cc->stale_etag) != NGX_OK
        || ngx_microshop_header_add(r, "Cache-Status",
                                    &ngx_microshop_cache_stale_hit)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    cc->serve_stale = 1;
    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_CACHE_STALE);

    return NGX_OK;
}


ngx_int_t
ngx_microshop_cache_body_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_chain_t **in)
{
    ngx_buf_t                  *b;
    ngx_chain_t                *cl, *ln;
    ngx_microshop_cache_ctx_t  *cc;

    cc = &ctx->cache_ctx;

    if (cc->serve_stale) {
        /* the failure's own body is consumed, the stale one goes out */

        for (cl = *in; cl; cl = cl->next) {
            b = cl->buf;

            if (ngx_buf_in_memory(b)) {
                b->pos = b->last;
            }

            if (b->in_file) {
                b->file_pos = b->file_last;
            }
        }

        if (cc->stale_sent) {
            *in = NULL;
            return NGX_OK;
        }

        b = ngx_calloc_buf(r->pool);
        ln = ngx_alloc_chain_link(r->pool);
        if (b == NULL || ln == NULL) {
            return NGX_ERROR;
        }

        b->pos = cc->stale_body.data;
        b->last = cc->stale_body.data + cc->stale_body.len;
        b->memory = 1;
        b->last_buf = 1;
        b->last_in_chain = 1;

        ln->buf = b;
        ln->next = NULL;
        *in = ln;
        cc->stale_sent = 1;

        return NGX_OK;
    }

    if (!cc->capture || cc->complete) {
        return NGX_OK;
    }

    if (ngx_microshop_cache_capture(r, cc, *in) != NGX_OK) {
        return NGX_ERROR;
    }

    if (cc->complete) {
        ngx_microshop_cache_store(r, ctx);
    }

    return NGX_OK;
}


/* a copy of the answer's body, up to its end (a subrequest's: its chain's) */

static ngx_int_t
ngx_microshop_cache_capture(ngx_http_request_t *r,
    ngx_microshop_cache_ctx_t *cc, ngx_chain_t *in)
{
    off_t         size;
    ngx_buf_t    *b, *copy;
    ngx_chain_t  *cl, *ln;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf || (r != r->main && b->last_in_chain)) {
            cc->complete = 1;
        }

        size = ngx_buf_size(b);

        if (cc->too_big || size == 0) {
            continue;
        }

        if (!ngx_buf_in_memory(b)
            || cc->body_len + size > NGX_MICROSHOP_CACHE_MAX_BODY)
        {
            cc->too_big = 1;
            continue;
        }

        copy = ngx_create_temp_buf(r->pool, (size_t) size);
        ln = ngx_alloc_chain_link(r->pool);
        if (copy == NULL || ln == NULL) {
            return NGX_ERROR;
        }

        copy->last = ngx_cpymem(copy->pos, b->pos, size);

        ln->buf = copy;
        ln->next = NULL;

        if (cc->last == NULL) {
            cc->last = &cc->body;
        }

        *cc->last = ln;
        cc->last = &ln->next;
        cc->body_len += size;
    }

    return NGX_OK;
}


/* fill, refresh or drop the entry, before the answer's end goes out */

static void
ngx_microshop_cache_store(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx)
{
    u_char                          *p;
    json_t                          *doc, *v;
    ngx_chain_t                     *cl;
    json_error_t                     err;
    ngx_microshop_op_t              *op;
    ngx_microshop_cache_ctx_t       *cc;
    ngx_http_microshop_loc_conf_t   *mlcf;
    ngx_http_microshop_main_conf_t  *mmcf;

    cc = &ctx->cache_ctx;

    mmcf = ngx_microshop_main_conf(r);
    mlcf = ngx_microshop_loc_conf(r);

    op = ngx_pcalloc(r->pool, sizeof(ngx_microshop_op_t));
    if (op == NULL) {
        return;
    }

    op->key = cc->key;
    op->pool = r->pool;

    if (!cc->capture || cc->too_big) {
        op->type = NGX_MICROSHOP_OP_INV_DROP;
        ngx_microshop_store_post(&mmcf->store, op);
        return;
    }

    op->type = NGX_MICROSHOP_OP_INV_PUT;
    op->u.inv.body.len = cc->body_len;
    op->u.inv.body.data = ngx_pnalloc(r->pool, cc->body_len);
    if (op->u.inv.body.data == NULL) {
        return;
    }

    p = op->u.inv.body.data;

    for (cl = cc->body; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    /* only a JSON object is a representation worth serving */

    doc = json_loadb((char *) op->u.inv.body.data, op->u.inv.body.len, 0,
                     &err);

    if (!json_is_object(doc)) {
        json_decref(doc);
        op->type = NGX_MICROSHOP_OP_INV_DROP;
        ngx_microshop_store_post(&mmcf->store, op);
        return;
    }

    v = json_object_get(doc, "version");
    op->u.inv.version = json_is_integer(v) ? json_integer_value(v) : 0;
    json_decref(doc);

    /* the entry's own tag for one a hit may not write */
    if (cc->etag.len
        && ngx_microshop_header_safe(r, &(ngx_str_t) ngx_string("ETag"),
                                     &cc->etag))
    {
        op->u.inv.etag = cc->etag;

    } else if (ngx_microshop_cache_etag(r->pool, &op->u.inv.body,
                                        &op->u.inv.etag)
               != NGX_OK)
    {
        return;
    }

    /* kept while a read may still answer it */
    op->u.inv.keep = ngx_max(mlcf->cache.ttl
                             + mlcf->cache.stale_while_revalidate,
                             mlcf->cache.stale_if_error);

    /* counted when the store kept it */
    op->counter = NGX_MICROSHOP_COUNTER_CACHE_STORE;

    ngx_microshop_store_post(&mmcf->store, op);
}


/* "ms-" and the first 16 hex digits of SHA-256(body), quoted */

ngx_int_t
ngx_microshop_cache_etag(ngx_pool_t *pool, ngx_str_t *body, ngx_str_t *etag)
{
    u_char        *p, md[EVP_MAX_MD_SIZE];
    unsigned int   n;

    if (EVP_Digest(body->data, body->len, md, &n, EVP_sha256(), NULL) != 1) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, sizeof("\"ms-\"") - 1 + 16);
    if (p == NULL) {
        return NGX_ERROR;
    }

    etag->data = p;

    p = ngx_cpymem(p, "\"ms-", 4);
    p = ngx_hex_dump(p, md, 8);
    *p++ = '"';

    etag->len = p - etag->data;

    return NGX_OK;
}
