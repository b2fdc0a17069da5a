/*
 * ngx_http_microshop_module: an API gateway for micro-shops.
 *
 * The module definition, the directive table, configuration create/merge,
 * and the phase handlers that run the feature stages in order:
 * token -> scope and seller -> rate limit -> idempotency -> reservation.
 * The features live in their own files; this one stays thin.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_zone.h"
#include "ngx_microshop_store.h"
#include "ngx_microshop_metrics.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_token_conf.h"
#include "ngx_microshop_jwks_uri.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_ratelimit.h"
#include "ngx_microshop_idempotency.h"
#include "ngx_microshop_cache.h"
#include "ngx_microshop_reserve.h"
#include "ngx_microshop_reserve_offline.h"
#include "ngx_microshop_identity.h"
#include "ngx_microshop_variables.h"
#include "ngx_microshop_audit.h"
#include "ngx_microshop_admin.h"
#include "ngx_microshop_exchange.h"
#include "ngx_microshop_policy.h"
#include "ngx_microshop_usage.h"
#include "ngx_microshop_events.h"
#include "ngx_microshop_feed.h"
#include "ngx_microshop_lint.h"
#include "ngx_microshop_digest.h"
#include "ngx_microshop_store_selftest.h"
#include "ngx_microshop_upstream_error.h"
#include "ngx_microshop_redis.h"
#include "ngx_microshop_mint.h"
#include "ngx_microshop_jwks.h"


#define NGX_MICROSHOP_DEFAULT_ZONE_SIZE  (10 * 1024 * 1024)


static void *ngx_http_microshop_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_microshop_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_microshop_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_microshop_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_microshop_preconf(ngx_conf_t *cf);
static ngx_int_t ngx_http_microshop_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_microshop_init_module(ngx_cycle_t *cycle);
static void ngx_http_microshop_exit_master(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_microshop_init_process(ngx_cycle_t *cycle);
static void ngx_http_microshop_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_microshop_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_microshop_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_microshop_header_filter(ngx_http_request_t *r);
static void ngx_http_microshop_count_reason(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
static ngx_int_t ngx_http_microshop_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


extern ngx_module_t  ngx_http_microshop_module;  /* below; the zone's tag */


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* the access-phase chain, in the order of ngx_microshop_stage_e */
static ngx_microshop_stage_pt  ngx_http_microshop_stages[] = {
    ngx_microshop_token_stage,
    ngx_microshop_scope_stage,
    ngx_microshop_ratelimit_stage,
    ngx_microshop_idempotency_stage,
    ngx_microshop_reserve_stage,
    ngx_microshop_cache_stage,
};


static ngx_command_t  ngx_http_microshop_commands[] = {

    { ngx_string("microshop_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_microshop_zone_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_microshop_main_conf_t, zone),
      &ngx_http_microshop_module },

    { ngx_string("microshop_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_microshop_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_microshop_main_conf_t, store.redis),
      NULL },

    { ngx_string("microshop_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_microshop_status_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_jwt_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1234,
      ngx_microshop_jwt_key_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_jwt_jwks"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_microshop_jwt_jwks_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_jwt_signing_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE23,
      ngx_microshop_jwt_signing_key_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_jwt_jwks_uri"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1234,
      ngx_microshop_jwt_jwks_uri_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_jwks"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_microshop_jwks_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_microshop_jwt_list_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_microshop_loc_conf_t, token.issuers),
      NULL },

    { ngx_string("microshop_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_microshop_jwt_list_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_microshop_loc_conf_t, token.audiences),
      NULL },

    { ngx_string("microshop_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_microshop_jwt_leeway_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_jwt_claims"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_microshop_jwt_claims_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_token_class"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_microshop_token_class_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_microshop_auth_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_microshop_loc_conf_t, auth),
      NULL },

    { ngx_string("microshop_require_scope"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_microshop_require_scope_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_seller"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_microshop_seller_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_policy"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_microshop_policy_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_audit_report"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_microshop_audit_report_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_microshop_audit_log_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_rate_tier"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_microshop_rate_tier_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_rate_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_microshop_rate_limit_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_idempotency"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_microshop_idempotency_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_inventory_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_microshop_inventory_cache_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_reserve"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_microshop_reserve_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_events"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_microshop_events_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_microshop_admin_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_token_exchange"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_microshop_token_exchange_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_events_out"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_ANY,
      ngx_microshop_events_out_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      &ngx_http_microshop_module },

    { ngx_string("microshop_feed"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_microshop_feed_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_store_selftest"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_microshop_store_selftest_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_microshop_module_ctx = {
    ngx_http_microshop_preconf,            /* preconfiguration */
    ngx_http_microshop_init,               /* postconfiguration */

    ngx_http_microshop_create_main_conf,   /* create main configuration */
    ngx_http_microshop_init_main_conf,     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_microshop_create_loc_conf,    /* create location configuration */
    ngx_http_microshop_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_microshop_module = {
    NGX_MODULE_V1,
    &ngx_http_microshop_module_ctx,        /* module context */
    ngx_http_microshop_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_microshop_init_module,        /* init module */
    ngx_http_microshop_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_microshop_exit_process,       /* exit process */
    ngx_http_microshop_exit_master,        /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_microshop_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_microshop_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mmcf->zone = NULL;
     *     mmcf->store = { 0 };
     */

    if (ngx_microshop_token_main_init(cf, mmcf) != NGX_OK
        || ngx_microshop_rate_main_init(cf, &mmcf->rate) != NGX_OK)
    {
        return NULL;
    }

    return mmcf;
}


static char *
ngx_http_microshop_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_microshop_main_conf_t *mmcf = conf;

    ngx_str_t  name;

    if (mmcf->zone == NULL) {
        /* the embedded default: no directive, no other service needed */
        ngx_str_set(&name, "microshop");

        mmcf->zone = ngx_microshop_zone_add(cf, &name,
                                            NGX_MICROSHOP_DEFAULT_ZONE_SIZE,
                                            &ngx_http_microshop_module);
        if (mmcf->zone == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_microshop_store_init_conf(cf, &mmcf->store, mmcf->zone)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (mmcf->token.leeway == NGX_CONF_UNSET) {
        mmcf->token.leeway = 30;
    }

    if (ngx_microshop_token_main_done(cf, mmcf) != NGX_OK
        || ngx_microshop_jwks_main_done(cf, mmcf) != NGX_OK
        || ngx_microshop_feed_main_done(cf, mmcf) != NGX_CONF_OK
        || ngx_microshop_reserve_offline_main_done(cf, mmcf) != NGX_CONF_OK
        || ngx_microshop_usage_main_done(cf, mmcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_microshop_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_microshop_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_microshop_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    mlcf->auth = NGX_CONF_UNSET;

    if (ngx_microshop_token_loc_create(cf, mlcf) != NGX_OK) {
        return NULL;
    }

    ngx_microshop_scope_loc_create(&mlcf->scope);
    ngx_microshop_rate_loc_create(&mlcf->rate);
    ngx_microshop_idem_loc_create(&mlcf->idem);
    ngx_microshop_cache_loc_create(&mlcf->cache);
    ngx_microshop_reserve_loc_create(&mlcf->reserve);

    return mlcf;
}


static char *
ngx_http_microshop_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_microshop_loc_conf_t *prev = parent;
    ngx_http_microshop_loc_conf_t *conf = child;

    /* before microshop_auth is inherited: it is not, there */
    if (ngx_microshop_exchange_loc_merge(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_value(conf->auth, prev->auth, 0);

    if (ngx_microshop_token_loc_merge(cf, prev, conf) != NGX_CONF_OK
        || ngx_microshop_scope_loc_merge(cf, &prev->scope, &conf->scope)
           != NGX_CONF_OK
        || ngx_microshop_rate_loc_merge(cf, &prev->rate, &conf->rate)
           != NGX_CONF_OK
        || ngx_microshop_idem_loc_merge(cf, &prev->idem, &conf->idem)
           != NGX_CONF_OK
        || ngx_microshop_cache_loc_merge(cf, &prev->cache, &conf->cache)
           != NGX_CONF_OK
        || ngx_microshop_reserve_loc_merge(cf, &prev->reserve,
                                           &conf->reserve)
           != NGX_CONF_OK
        || ngx_microshop_jwks_loc_merge(cf, conf) != NGX_CONF_OK
        || ngx_microshop_usage_loc_merge(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    conf->enabled = conf->auth || conf->rate.on
                    || conf->idem.mode != NGX_MICROSHOP_IDEM_OFF
                    || conf->cache.sku || conf->reserve.on;

    if (conf->exchange) {
        /* its content handler runs what applies there itself */
        conf->enabled = 0;
    }

    if (conf->enabled) {
        ngx_microshop_lint_location(cf);
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_microshop_preconf(ngx_conf_t *cf)
{
    ngx_microshop_request_init(&ngx_http_microshop_module);

    return ngx_microshop_add_variables(cf);
}


static ngx_int_t
ngx_http_microshop_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_microshop_access_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_microshop_log_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_microshop_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_microshop_body_filter;

    return NGX_OK;
}


/* in the master, once the shared memory of the cycle exists */

static ngx_int_t
ngx_http_microshop_init_module(ngx_cycle_t *cycle)
{
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_microshop_module);
    if (mmcf) {
        ngx_microshop_feed_init_module(cycle, mmcf);
    }

    return NGX_OK;
}


/* in the master as nginx stops: every worker has exited */

static void
ngx_http_microshop_exit_master(ngx_cycle_t *cycle)
{
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_microshop_module);
    if (mmcf) {
        ngx_microshop_feed_exit_master(cycle, mmcf);
    }
}


static ngx_int_t
ngx_http_microshop_init_process(ngx_cycle_t *cycle)
{
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_microshop_module);
    if (mmcf == NULL) {
        return NGX_OK;
    }

    if (ngx_microshop_store_init_process(cycle, &mmcf->store) != NGX_OK
        || ngx_microshop_jwks_uri_init_process(cycle, mmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_microshop_usage_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_microshop_reserve_init_process(cycle);
}


static void
ngx_http_microshop_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_microshop_module);
    if (mmcf) {
        ngx_microshop_store_exit_process(cycle, &mmcf->store);
    }

    ngx_microshop_jwks_uri_exit_process(cycle);

    ngx_microshop_sha256_free();
}


static ngx_int_t
ngx_http_microshop_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_microshop_stage_pt          stage;
    ngx_http_microshop_ctx_t       *ctx;
    ngx_http_microshop_loc_conf_t  *mlcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_microshop_module);

    if (ctx == NULL || ctx->stage == NGX_MICROSHOP_STAGE_TOKEN) {
        /* identity headers come only from the gateway, everywhere */
        if (ngx_microshop_identity_strip(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_microshop_module);

    if (!mlcf->enabled) {
        return NGX_DECLINED;
    }

    ctx = ngx_microshop_request_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_microshop_upstream_access(r, ctx);

    if (ctx->stage == NGX_MICROSHOP_STAGE_DONE) {
        return NGX_DECLINED;
    }

    while (ctx->stage < NGX_MICROSHOP_STAGE_DONE) {

        stage = ngx_http_microshop_stages[ctx->stage];

        rc = stage(r, ctx);

        switch (rc) {

        case NGX_DECLINED:
            ctx->stage++;
            continue;

        case NGX_AGAIN:
            /* the stage resumes the phases when its operation completes */
            return NGX_DONE;

        case NGX_DONE:
            /* answered (problem, replay, cache hit) and finalized */
            return NGX_DONE;

        default:
            ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_ERROR);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ctx->reason == NGX_MICROSHOP_REASON_NONE) {
        /* every stage let it through, and none had a word of its own */
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_ALLOWED);
    }

    if (ctx->has_token
        && ngx_microshop_identity_forward(r, &ctx->token.id) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_microshop_header_filter(ngx_http_request_t *r)
{
    ngx_http_microshop_ctx_t    *ctx;
    ngx_microshop_jwks_fetch_t  *fetch;

    if (r != r->main && r->background) {
        ctx = ngx_microshop_cache_refresh_ctx(r);
        if (ctx) {
            return ngx_microshop_cache_refresh_header_filter(r, ctx);
        }

        fetch = ngx_microshop_jwks_uri_fetch(r);
        if (fetch) {
            return ngx_microshop_jwks_uri_header_filter(r, fetch);
        }
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_microshop_module);

    if (ctx == NULL && r == r->main && r->err_status) {
        /* nginx refused the request before any phase ran */
        if (ngx_microshop_token_duplicate_filter(r) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx = ngx_http_get_module_ctx(r, ngx_http_microshop_module);
    }

    if (ctx == NULL || r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    /* before the idempotency key sees the status: an order accepted
     * offline is an answer to keep and replay */
    if (ctx->reserve.held
        && ngx_microshop_reserve_offline_filter(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->idem.active
        && ngx_microshop_idem_header_filter(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->reserve.held) {
        ngx_microshop_reserve_header_filter(r, ctx);
    }

    if (ctx->cache_ctx.lookup_done
        && ngx_microshop_cache_header_filter(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->rate.tier
        && ngx_microshop_ratelimit_headers(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* after the features above saw nginx's own status and page */
    if (ngx_microshop_upstream_header_filter(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * The decision is counted before a byte of the answer is written, so a
     * client that holds the answer finds it in the status page
     * (docs/operations.md "Metrics"); a request without an answer is
     * counted as it ends.
     */
    ngx_http_microshop_count_reason(r, ctx);

    return ngx_http_next_header_filter(r);
}


static void
ngx_http_microshop_count_reason(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_http_microshop_main_conf_t  *mmcf;

    if (ctx->reason == NGX_MICROSHOP_REASON_NONE || ctx->reason_counted) {
        return;
    }

    ctx->reason_counted = 1;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_microshop_module);

    ngx_microshop_zone_count(mmcf->zone, ctx->reason, 1);
}


static ngx_int_t
ngx_http_microshop_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_microshop_ctx_t    *ctx;
    ngx_microshop_jwks_fetch_t  *fetch;

    if (r != r->main && r->background) {
        ctx = ngx_microshop_cache_refresh_ctx(r);
        if (ctx) {
            return ngx_microshop_cache_refresh_body_filter(r, ctx, in);
        }

        fetch = ngx_microshop_jwks_uri_fetch(r);
        if (fetch) {
            return ngx_microshop_jwks_uri_body_filter(r, fetch, in);
        }
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_microshop_module);

    if (ctx == NULL || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    /* the 202 of an order accepted offline in place of nginx's page,
     * before the idempotency key keeps the answer */
    if (ctx->reserve.offline
        && ngx_microshop_upstream_body_filter(r, ctx, &in) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->idem.capture
        && ngx_microshop_idem_body_filter(r, ctx, in) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if ((ctx->cache_ctx.capture || ctx->cache_ctx.serve_stale)
        && ngx_microshop_cache_body_filter(r, ctx, &in) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->upstream.active
        && ngx_microshop_upstream_body_filter(r, ctx, &in) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_body_filter(r, in);
}


static ngx_int_t
ngx_http_microshop_log_handler(ngx_http_request_t *r)
{
    ngx_http_microshop_ctx_t        *ctx;
    ngx_http_microshop_main_conf_t  *mmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_microshop_module);

    if (ctx == NULL || ctx->reason == NGX_MICROSHOP_REASON_NONE) {
        return NGX_OK;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_microshop_module);

    /* a lock or a hold left was settled as the request ended, before */

    ngx_http_microshop_count_reason(r, ctx);

    if (mmcf->audit.file) {
        ngx_microshop_audit_write(r, ctx);
    }

    if (mmcf->usage.shm_zone) {
        ngx_microshop_usage_note(r, ctx);
    }

    return NGX_OK;
}
