/*
 * ngx_microshop: the verified identity towards the upstream and in
 * variables (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_ratelimit.h"
#include "ngx_microshop_idempotency.h"
#include "ngx_microshop_audit.h"
#include "ngx_microshop_identity.h"


#define NGX_MICROSHOP_HEADER_PREFIX  "x-microshop-"


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
ngx_microshop_identity_strip(ngx_http_request_t *r)
{
    ngx_uint_t        i, found;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    /* the common case: nothing to strip, nothing allocated */

    found = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len >= sizeof(NGX_MICROSHOP_HEADER_PREFIX) - 1
            && ngx_strncasecmp(h[i].key.data,
                               (u_char *) NGX_MICROSHOP_HEADER_PREFIX,
                               sizeof(NGX_MICROSHOP_HEADER_PREFIX) - 1)
               == 0)
        {
            found = 1;
            break;
        }
    }

    if (!found) {
        return NGX_OK;
    }

    /*
     * Build the list again without them.  Pointers into the old list
     * (r->headers_in.host, ...) stay valid: its memory is the request's.
     */

    if (ngx_list_init(&headers, r->pool, 20, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len >= sizeof(NGX_MICROSHOP_HEADER_PREFIX) - 1
            && ngx_strncasecmp(h[i].key.data,
                               (u_char *) NGX_MICROSHOP_HEADER_PREFIX,
                               sizeof(NGX_MICROSHOP_HEADER_PREFIX) - 1)
               == 0)
        {
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    r->headers_in.headers = headers;

    /* the copy's "last" must point into the request, not at this frame */
    if (headers.last == &headers.part) {
        r->headers_in.headers.last = &r->headers_in.headers.part;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_header_in_add(ngx_http_request_t *r, char *name, char *lowcase,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    if (value->len == 0) {
        /* a claim the token does not carry: no header */
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->lowcase_key = (u_char *) lowcase;
    h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
    h->value = *value;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_identity_forward(ngx_http_request_t *r,
    ngx_microshop_identity_t *id)
{
    if (ngx_microshop_header_in_add(r, "X-Microshop-Seller",
                                    "x-microshop-seller",
                                    &id->f[NGX_MICROSHOP_ID_SELLER])
           != NGX_OK
        || ngx_microshop_header_in_add(r, "X-Microshop-Subject",
                                       "x-microshop-subject",
                                       &id->f[NGX_MICROSHOP_ID_SUBJECT])
           != NGX_OK
        || ngx_microshop_header_in_add(r, "X-Microshop-Scopes",
                                       "x-microshop-scopes",
                                       &id->f[NGX_MICROSHOP_ID_SCOPES])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


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
