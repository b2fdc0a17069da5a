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

#include "ngx_microshop_module.h"
#include "ngx_microshop_problem.h"


#define NGX_MICROSHOP_DEFAULT_ZONE_SIZE  (10 * 1024 * 1024)


static void *ngx_http_microshop_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_microshop_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_microshop_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_microshop_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_microshop_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_microshop_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_microshop_log_handler(ngx_http_request_t *r);


/* the access-phase chain; a stage not built yet is NULL and skipped */
static ngx_microshop_stage_pt  ngx_http_microshop_stages[] = {
    NULL,                                   /* token */
    NULL,                                   /* scope and seller */
    NULL,                                   /* rate limit */
    NULL,                                   /* idempotency */
    NULL,                                   /* reservation */
};


static ngx_command_t  ngx_http_microshop_commands[] = {

    { ngx_string("microshop_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_microshop_zone_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("microshop_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_microshop_status_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_microshop_module_ctx = {
    NULL,                                  /* preconfiguration */
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
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
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
                                            NGX_MICROSHOP_DEFAULT_ZONE_SIZE);
        if (mmcf->zone == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_microshop_store_shm_init(&mmcf->store, mmcf->zone);

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

    return mlcf;
}


static char *
ngx_http_microshop_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_microshop_loc_conf_t *prev = parent;
    ngx_http_microshop_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->auth, prev->auth, 0);

    conf->enabled = conf->auth;

    return NGX_CONF_OK;
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

    return NGX_OK;
}


ngx_http_microshop_ctx_t *
ngx_http_microshop_get_ctx(ngx_http_request_t *r)
{
    ngx_http_microshop_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_microshop_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_microshop_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_microshop_module);
    }

    return ctx;
}


static ngx_int_t
ngx_http_microshop_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_microshop_stage_pt          stage;
    ngx_http_microshop_ctx_t       *ctx;
    ngx_http_microshop_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_microshop_module);

    if (!mlcf->enabled || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_microshop_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    while (ctx->stage < NGX_MICROSHOP_STAGE_DONE) {

        stage = ngx_http_microshop_stages[ctx->stage];

        if (stage == NULL) {
            ctx->stage++;
            continue;
        }

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
            ctx->reason = NGX_MICROSHOP_REASON_ERROR;
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ctx->reason == NGX_MICROSHOP_REASON_NONE) {
        ctx->reason = NGX_MICROSHOP_REASON_OK;
    }

    return NGX_DECLINED;
}


void
ngx_http_microshop_resume(ngx_http_request_t *r)
{
    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
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

    ngx_microshop_zone_count(mmcf->zone, ctx->reason, 1);

    return NGX_OK;
}
