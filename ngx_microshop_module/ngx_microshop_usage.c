/*
 * ngx_microshop: scope usage, the glue (ngx_microshop_usage.h): the zone
 * "microshop_usage", the scopes the routes require, and the note the log
 * phase takes of each decided request (docs/audit-playbook.md, "What the
 * gateway keeps").
 *
 * The zone is node-local and summed over the workers: one block of fixed
 * size (microshop_usage.c), behind the slab pool's lock.  It is kept over
 * a reload when the largest subjects= and window= stay the same; a change
 * of either starts it afresh.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_metrics.h"
#include "ngx_microshop_usage.h"

#include "microshop_usage.h"


static ngx_int_t ngx_microshop_usage_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_microshop_usage_conf(ngx_http_microshop_main_conf_t *mmcf,
    microshop_usage_conf_t *conf);
static ngx_int_t ngx_microshop_usage_add_scopes(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf, ngx_str_t *set);
static void ngx_microshop_usage_known(microshop_usage_t *u, ngx_str_t *set);


char *
ngx_microshop_usage_main_done(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf)
{
    size_t                   size;
    ngx_str_t                name;
    microshop_usage_conf_t   conf;

    if (mmcf->usage.subjects == 0) {
        /* no report: nothing is kept, the log phase does not look */
        return NGX_CONF_OK;
    }

    ngx_microshop_usage_conf(mmcf, &conf);

    size = microshop_usage_size(&conf);
    if (size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "microshop_audit_report: no room for %ui "
                           "subjects over %T s", mmcf->usage.subjects,
                           mmcf->usage.window);
        return NGX_CONF_ERROR;
    }

    /* the block and the slab pool's own pages */
    size = ngx_align(size, ngx_pagesize) + 8 * ngx_pagesize;

    ngx_str_set(&name, "microshop_usage");

    mmcf->usage.shm_zone = ngx_shared_memory_add(cf, &name, size,
                                                 ngx_microshop_module);
    if (mmcf->usage.shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (mmcf->usage.shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    mmcf->usage.shm_zone->init = ngx_microshop_usage_init_zone;
    mmcf->usage.shm_zone->data = mmcf;

    return NGX_CONF_OK;
}


char *
ngx_microshop_usage_loc_merge(ngx_conf_t *cf,
    ngx_http_microshop_loc_conf_t *conf)
{
    ngx_uint_t                       i;
    ngx_microshop_scope_rule_t      *rule;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_conf_main_conf(cf);

    if (mmcf->usage.shm_zone == NULL) {
        return NGX_CONF_OK;
    }

    if (conf->scope.rules && conf->scope.rules != NGX_CONF_UNSET_PTR) {
        rule = conf->scope.rules->elts;

        for (i = 0; i < conf->scope.rules->nelts; i++) {
            if (ngx_microshop_usage_add_scopes(cf, mmcf, &rule[i].scopes)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }
        }
    }

    /* the token exchange's require_scope= is asked of the subject token */
    if (conf->exchange
        && ngx_microshop_usage_add_scopes(cf, mmcf, &conf->exchange->require)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


void
ngx_microshop_usage_note(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_str_t                       *v, *required;
    const char                      *decision;
    microshop_usage_note_t           n;
    ngx_microshop_identity_t        *id;
    ngx_http_microshop_loc_conf_t   *mlcf;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    if (mmcf->usage.usage == NULL) {
        return;
    }

    ngx_memzero(&n, sizeof(microshop_usage_note_t));

    id = ngx_microshop_token_identity(r);

    if (id) {
        n.verified = 1;

        v = &id->f[NGX_MICROSHOP_ID_SUBJECT];
        n.sub = v->len ? (const char *) v->data : NULL;
        n.sub_len = v->len;

        v = &id->f[NGX_MICROSHOP_ID_SELLER];
        n.seller = v->len ? (const char *) v->data : NULL;
        n.seller_len = v->len;

        /* the class a token without one is held to (docs/tokens.md) */
        v = &id->f[NGX_MICROSHOP_ID_CLASS];

        if (v->len) {
            n.cls = (const char *) v->data;
            n.cls_len = v->len;

        } else {
            n.cls = "default";
            n.cls_len = sizeof("default") - 1;
        }

        v = &id->f[NGX_MICROSHOP_ID_SCOPES];
        n.granted = (const char *) v->data;
        n.granted_len = v->len;

        /* the scope stage let it through: its scopes were used */
        n.exercised = ctx->stage > NGX_MICROSHOP_STAGE_SCOPE;
    }

    if (ctx->scopes_required.len) {
        required = &ctx->scopes_required;

    } else {
        mlcf = ngx_microshop_loc_conf(r);
        required = ngx_microshop_scope_required(r, &mlcf->scope);
    }

    if (required && required->len) {
        n.required = (const char *) required->data;
        n.required_len = required->len;
    }

    decision = ngx_microshop_reason_decision(ctx->reason);
    n.denied = decision[0] != 'a';
    n.reason = ctx->reason;
    n.now = (uint32_t) ngx_time();

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop usage: verified:%d exercised:%d denied:%d "
                   "reason:%s", n.verified, n.exercised, n.denied,
                   ngx_microshop_reason_name(ctx->reason));

    ngx_shmtx_lock(&mmcf->usage.shpool->mutex);
    microshop_usage_note(mmcf->usage.usage, &n);
    ngx_shmtx_unlock(&mmcf->usage.shpool->mutex);
}


void *
ngx_microshop_usage_copy(ngx_http_request_t *r)
{
    void                            *copy;
    size_t                           size;
    microshop_usage_conf_t           conf;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    if (mmcf->usage.usage == NULL) {
        return NULL;
    }

    ngx_microshop_usage_conf(mmcf, &conf);
    size = microshop_usage_size(&conf);

    copy = ngx_palloc(r->pool, size);
    if (copy == NULL) {
        return NULL;
    }

    ngx_shmtx_lock(&mmcf->usage.shpool->mutex);
    ngx_memcpy(copy, mmcf->usage.usage, size);
    ngx_shmtx_unlock(&mmcf->usage.shpool->mutex);

    return copy;
}


ngx_uint_t
ngx_microshop_usage_route_scope(ngx_http_microshop_main_conf_t *mmcf,
    u_char *scope, size_t len)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    s = mmcf->usage.scopes.elts;

    for (i = 0; i < mmcf->usage.scopes.nelts; i++) {
        if (s[i].len == len && ngx_strncmp(s[i].data, scope, len) == 0) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_microshop_usage_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_microshop_main_conf_t  *omcf = data;

    size_t                           size;
    u_char                           id[MICROSHOP_USAGE_ID_LEN];
    ngx_uint_t                       i;
    ngx_str_t                       *s;
    microshop_usage_t               *u;
    microshop_usage_conf_t           conf;
    ngx_microshop_token_class_t     *tc;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = shm_zone->data;

    ngx_microshop_usage_conf(mmcf, &conf);

    if (omcf) {
        /* nginx -s reload with the same size: the same memory */
        mmcf->usage.shpool = omcf->usage.shpool;
        u = omcf->usage.usage;

        if (microshop_usage_same(u, &conf)) {
            goto known;
        }

        /* another layout in a zone of the same size: made afresh */
        ngx_slab_free(mmcf->usage.shpool, u);

    } else {
        mmcf->usage.shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    }

    size = microshop_usage_size(&conf);

    u = ngx_slab_alloc(mmcf->usage.shpool, size);
    if (u == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "microshop_usage: no room for the usage block of "
                      "%uz bytes", size);
        return NGX_ERROR;
    }

    microshop_usage_init(u, &conf);

    /* the node's name in a shared store: new with every new block */
    if (RAND_bytes(id, sizeof(id)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "microshop_usage: RAND_bytes() failed");
        return NGX_ERROR;
    }

    microshop_usage_set_id(u, id);

known:

    mmcf->usage.usage = u;

    /* the names of what routes and ceilings hold: always kept */
    s = mmcf->usage.scopes.elts;

    for (i = 0; i < mmcf->usage.scopes.nelts; i++) {
        (void) microshop_usage_scope_add(u, (char *) s[i].data, s[i].len);
    }

    tc = mmcf->token.classes.elts;

    for (i = 0; i < mmcf->token.classes.nelts; i++) {
        ngx_microshop_usage_known(u, &tc[i].scopes);
    }

    return NGX_OK;
}


static void
ngx_microshop_usage_conf(ngx_http_microshop_main_conf_t *mmcf,
    microshop_usage_conf_t *conf)
{
    conf->subjects = (uint32_t) mmcf->usage.subjects;
    conf->hours = (uint32_t) ((mmcf->usage.window + 3599) / 3600) + 1;
    conf->reasons = NGX_MICROSHOP_REASON_MAX;
}


/* each scope of a normalized set, once */

static ngx_int_t
ngx_microshop_usage_add_scopes(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf, ngx_str_t *set)
{
    u_char     *pos;
    ngx_str_t  *s, scope;

    if (set->len == 0) {
        return NGX_OK;
    }

    if (mmcf->usage.scopes.elts == NULL
        && ngx_array_init(&mmcf->usage.scopes, cf->pool, 8,
                          sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    pos = NULL;

    while (ngx_microshop_scope_next(set, &pos, &scope)) {

        if (ngx_microshop_usage_route_scope(mmcf, scope.data, scope.len)) {
            continue;
        }

        s = ngx_array_push(&mmcf->usage.scopes);
        if (s == NULL) {
            return NGX_ERROR;
        }

        *s = scope;
    }

    return NGX_OK;
}


static void
ngx_microshop_usage_known(microshop_usage_t *u, ngx_str_t *set)
{
    u_char     *pos;
    ngx_str_t   scope;

    pos = NULL;

    while (ngx_microshop_scope_next(set, &pos, &scope)) {
        (void) microshop_usage_scope_add(u, (char *) scope.data, scope.len);
    }
}
