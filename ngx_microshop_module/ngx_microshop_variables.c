/*
 * ngx_microshop: the $microshop_* variables (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_variables.h"


static ngx_int_t ngx_microshop_identity_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_microshop_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_microshop_rate_remaining_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_microshop_ctx_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_microshop_vars[] = {

    { ngx_string("microshop_seller"), NULL, ngx_microshop_identity_variable,
      NGX_MICROSHOP_ID_SELLER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("microshop_subject"), NULL, ngx_microshop_identity_variable,
      NGX_MICROSHOP_ID_SUBJECT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("microshop_scopes"), NULL, ngx_microshop_identity_variable,
      NGX_MICROSHOP_ID_SCOPES, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("microshop_token_class"), NULL,
      ngx_microshop_identity_variable,
      NGX_MICROSHOP_ID_CLASS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("microshop_jti"), NULL, ngx_microshop_identity_variable,
      NGX_MICROSHOP_ID_JTI, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("microshop_decision"), NULL,
      ngx_microshop_decision_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("microshop_rate_remaining"), NULL,
      ngx_microshop_rate_remaining_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("microshop_idempotency"), NULL,
      ngx_microshop_ctx_str_variable,
      offsetof(ngx_http_microshop_ctx_t, idempotency),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("microshop_cache"), NULL,
      ngx_microshop_ctx_str_variable,
      offsetof(ngx_http_microshop_ctx_t, cache),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_microshop_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_microshop_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_identity_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_microshop_identity_t  *id;

    id = ngx_microshop_token_identity(r);

    if (id == NULL || id->f[data].len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = id->f[data].len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = id->f[data].data;

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                *name;
    ngx_http_microshop_ctx_t  *ctx;

    ctx = ngx_microshop_ctx(r);

    if (ctx == NULL || ctx->reason == NGX_MICROSHOP_REASON_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = ngx_microshop_reason_decision(ctx->reason);

    v->len = ngx_strlen(name);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) name;

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_rate_remaining_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    ngx_http_microshop_ctx_t  *ctx;

    ctx = ngx_microshop_ctx(r);

    if (ctx == NULL || ctx->rate_remaining < 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%i", ctx->rate_remaining) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_ctx_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                 *s;
    ngx_http_microshop_ctx_t  *ctx;

    ctx = ngx_microshop_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) ctx + data);

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}
