/*
 * ngx_microshop: scopes per method and the seller a route addresses.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_answer.h"
#include "microshop_scope.h"
#include "microshop_token_str.h"
#include "microshop_path.h"


static ngx_int_t ngx_microshop_scope_union(ngx_conf_t *cf,
    ngx_microshop_scope_loc_t *slcf, ngx_uint_t method, ngx_str_t *out);
static ngx_int_t ngx_microshop_scope_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *required);
static ngx_int_t ngx_microshop_seller_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
static ngx_int_t ngx_microshop_seller_path(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
static ngx_int_t ngx_microshop_method_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_scope_loc_t *slcf);


void
ngx_microshop_scope_loc_create(ngx_microshop_scope_loc_t *slcf)
{
    slcf->rules = NGX_CONF_UNSET_PTR;
    slcf->seller = NGX_CONF_UNSET_PTR;
}


/* microshop_require_scope METHODS SCOPE... */

char *
ngx_microshop_require_scope_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    int                          n;
    u_char                      *p, *buf;
    size_t                       len;
    ngx_str_t                   *value;
    ngx_uint_t                   i;
    ngx_microshop_scope_rule_t  *rule;

    value = cf->args->elts;

    rule = ngx_microshop_scope_rule_add(cf, &mlcf->scope);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    rule->methods_text = value[1];

    if (value[1].len == 1 && value[1].data[0] == '*') {
        rule->any = 1;

    } else if (ngx_microshop_methods_parse(cf, &value[1], &rule->methods)
               != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    len = 0;

    for (i = 2; i < cf->args->nelts; i++) {
        len += value[i].len + 1;
    }

    buf = ngx_pnalloc(cf->pool, 2 * (len + 1));
    if (buf == NULL) {
        return NGX_CONF_ERROR;
    }

    p = buf;

    for (i = 2; i < cf->args->nelts; i++) {
        p = ngx_cpymem(p, value[i].data, value[i].len);
        *p++ = ' ';
    }

    n = microshop_scopes_normalize_str((char *) buf, p - buf, ' ',
                                       (char *) buf + len + 1, len + 1);
    buf += len + 1;
    if (n <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid scope in \"%V\": printable ASCII without "
                           "quotes or backslashes", &cmd->name);
        return NGX_CONF_ERROR;
    }

    rule->scopes.data = buf;
    rule->scopes.len = n;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_microshop_scope_require_any(ngx_conf_t *cf,
    ngx_http_microshop_loc_conf_t *mlcf, char *scope)
{
    ngx_microshop_scope_rule_t  *rule;

    mlcf->auth = 1;
    mlcf->token.auth_file = cf->conf_file->file.name.data;
    mlcf->token.auth_line = cf->conf_file->line;

    rule = ngx_microshop_scope_rule_add(cf, &mlcf->scope);
    if (rule == NULL) {
        return NGX_ERROR;
    }

    rule->any = 1;
    ngx_str_set(&rule->methods_text, "*");
    rule->scopes.data = (u_char *) scope;
    rule->scopes.len = ngx_strlen(scope);

    return NGX_OK;
}


ngx_uint_t
ngx_microshop_scope_token_has(ngx_http_request_t *r, char *scope, size_t len)
{
    ngx_str_t                 *set;
    ngx_microshop_identity_t  *id;

    id = ngx_microshop_token_identity(r);
    if (id == NULL) {
        return 0;
    }

    set = &id->f[NGX_MICROSHOP_ID_SCOPES];

    return microshop_scopes_has((char *) set->data, set->len, scope, len);
}


ngx_uint_t
ngx_microshop_scope_next(ngx_str_t *set, u_char **pos, ngx_str_t *scope)
{
    u_char  *p, *e, *last;

    p = *pos ? *pos : set->data;
    last = set->data + set->len;

    while (p && p < last) {
        e = ngx_strlchr(p, last, ' ');
        if (e == NULL) {
            e = last;
        }

        scope->data = p;
        scope->len = e - p;
        p = e + 1;

        if (scope->len) {
            *pos = p;
            return 1;
        }
    }

    *pos = last;
    return 0;
}


ngx_microshop_scope_rule_t *
ngx_microshop_scope_rule_add(ngx_conf_t *cf, ngx_microshop_scope_loc_t *slcf)
{
    ngx_microshop_scope_rule_t  *rule;

    if (slcf->rules == NGX_CONF_UNSET_PTR) {
        slcf->rules = ngx_array_create(cf->pool, 2,
                                       sizeof(ngx_microshop_scope_rule_t));
        if (slcf->rules == NULL) {
            return NULL;
        }
    }

    rule = ngx_array_push(slcf->rules);
    if (rule == NULL) {
        return NULL;
    }

    ngx_memzero(rule, sizeof(ngx_microshop_scope_rule_t));

    return rule;
}


/* microshop_seller VALUE */

char *
ngx_microshop_seller_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    size_t      off, n;
    ngx_str_t  *value;

    if (mlcf->scope.seller != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mlcf->scope.seller = ngx_microshop_complex_value(cf, &value[1]);
    if (mlcf->scope.seller == NULL) {
        return NGX_CONF_ERROR;
    }

    if (microshop_seller_client_var((char *) value[1].data, value[1].len,
                                    &off, &n))
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\" reads \"$%*s\", which the client sets "
                           "as it likes, not the path the backend reads: "
                           "take the seller from the path the location "
                           "matches (a named capture)",
                           &cmd->name, n, value[1].data + off);
    }

    return NGX_CONF_OK;
}


char *
ngx_microshop_scope_loc_merge(ngx_conf_t *cf, ngx_microshop_scope_loc_t *prev,
    ngx_microshop_scope_loc_t *conf)
{
    u_char                      *p;
    ngx_uint_t                   i, n;
    ngx_microshop_scope_rule_t  *rule;

    ngx_conf_merge_ptr_value(conf->rules, prev->rules, NULL);
    ngx_conf_merge_ptr_value(conf->seller, prev->seller, NULL);

    conf->covered = 0;
    conf->any = 0;

    if (conf->rules == NULL) {
        return NGX_CONF_OK;
    }

    rule = conf->rules->elts;

    for (i = 0; i < conf->rules->nelts; i++) {
        conf->covered |= rule[i].methods;
        conf->any |= rule[i].any;
    }

    /* GET implies HEAD, as nginx's limit_except does */
    if (conf->covered & NGX_HTTP_GET) {
        conf->covered |= NGX_HTTP_HEAD;
    }

    p = ngx_pnalloc(cf->pool, NGX_MICROSHOP_METHODS_TEXT_LEN);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->allow.data = p;
    conf->allow.len = ngx_microshop_methods_text(p, conf->covered) - p;

    /* what each method needs, worked out once, not per request */

    n = sizeof(ngx_microshop_methods) / sizeof(ngx_microshop_method_t);

    conf->required = ngx_pcalloc(cf->pool, n * sizeof(ngx_str_t));
    if (conf->required == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (ngx_microshop_scope_union(cf, conf,
                                      ngx_microshop_methods[i].method,
                                      &conf->required[i])
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* the union of the rules covering a method, normalized (config time) */

static ngx_int_t
ngx_microshop_scope_union(ngx_conf_t *cf, ngx_microshop_scope_loc_t *slcf,
    ngx_uint_t method, ngx_str_t *out)
{
    int                          n;
    u_char                      *p, *buf;
    size_t                       len;
    ngx_uint_t                   i;
    ngx_microshop_scope_rule_t  *rule;

    rule = slcf->rules->elts;
    len = 0;

    for (i = 0; i < slcf->rules->nelts; i++) {
        if (rule[i].any || (rule[i].methods & method)
            || (method == NGX_HTTP_HEAD && (rule[i].methods & NGX_HTTP_GET)))
        {
            len += rule[i].scopes.len + 1;
        }
    }

    ngx_str_null(out);

    if (len == 0) {
        return NGX_OK;
    }

    buf = ngx_pnalloc(cf->pool, 2 * len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = buf;

    for (i = 0; i < slcf->rules->nelts; i++) {
        if (rule[i].any || (rule[i].methods & method)
            || (method == NGX_HTTP_HEAD && (rule[i].methods & NGX_HTTP_GET)))
        {
            p = ngx_cpymem(p, rule[i].scopes.data, rule[i].scopes.len);
            *p++ = ' ';
        }
    }

    n = microshop_scopes_normalize_str((char *) buf, p - buf, ' ',
                                       (char *) buf + len, len);
    if (n < 0) {
        return NGX_ERROR;
    }

    out->data = buf + len;
    out->len = n;

    return NGX_OK;
}


ngx_str_t *
ngx_microshop_scope_required(ngx_http_request_t *r,
    ngx_microshop_scope_loc_t *slcf)
{
    ngx_uint_t  i;

    static ngx_str_t  none = ngx_null_string;

    if (slcf->required == NULL) {
        return &none;
    }

    for (i = 0; ngx_microshop_methods[i].name.len; i++) {
        if (ngx_microshop_methods[i].method == r->method) {
            break;
        }
    }

    return &slcf->required[i];
}


ngx_int_t
ngx_microshop_scope_stage(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_str_t                      *required, seller;
    ngx_microshop_identity_t       *id;
    ngx_microshop_scope_loc_t      *slcf;
    ngx_http_microshop_loc_conf_t  *mlcf;

    mlcf = ngx_microshop_loc_conf(r);
    slcf = &mlcf->scope;

    if (slcf->seller) {
        /* with or without a token: later stages key records by the seller */
        rc = ngx_microshop_seller_path(r, ctx);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (!ctx->has_token) {
        /* scopes and sellers are checked where microshop_auth is on */
        return NGX_DECLINED;
    }

    id = &ctx->token.id;

    if (slcf->rules) {

        if (!slcf->any && !(r->method & slcf->covered)) {
            return ngx_microshop_method_reject(r, ctx, slcf);
        }

        required = ngx_microshop_scope_required(r, slcf);

        ctx->scopes_required = *required;

        if (!microshop_scopes_contains_all(
                               (char *) id->f[NGX_MICROSHOP_ID_SCOPES].data,
                               id->f[NGX_MICROSHOP_ID_SCOPES].len,
                               (char *) required->data, required->len,
                               NULL, 0))
        {
            return ngx_microshop_scope_reject(r, ctx, required);
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop: scopes \"%V\" held", required);
    }

    if (slcf->seller) {
        if (ngx_http_complex_value(r, slcf->seller, &seller) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->route_seller = seller;

        if (seller.len == 0
            || seller.len != id->f[NGX_MICROSHOP_ID_SELLER].len
            || ngx_strncmp(seller.data, id->f[NGX_MICROSHOP_ID_SELLER].data,
                           seller.len) != 0)
        {
            return ngx_microshop_seller_reject(r, ctx);
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop: seller \"%V\" matches", &seller);
    }

    return NGX_DECLINED;
}


/* the seller a route addresses: microshop_seller, else the token's */

ngx_int_t
ngx_microshop_route_seller(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *seller)
{
    ngx_http_microshop_loc_conf_t  *mlcf;

    mlcf = ngx_microshop_loc_conf(r);

    if (ctx->route_seller.len) {
        /* the scope stage evaluated it already */
        *seller = ctx->route_seller;
        return NGX_OK;
    }

    if (mlcf->scope.seller) {
        if (ngx_http_complex_value(r, mlcf->scope.seller, seller) != NGX_OK) {
            return NGX_ERROR;
        }

        /*
         * Held to the seller claim's rule: a control character (the LF of
         * a decoded %0a) would end the seller early in a store key.
         */
        if (!microshop_text_is_clean((char *) seller->data, seller->len)) {
            ngx_str_null(seller);
        }

        return NGX_OK;
    }

    if (ctx->has_token) {
        *seller = ctx->token.id.f[NGX_MICROSHOP_ID_SELLER];

    } else {
        ngx_str_null(seller);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_scope_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *required)
{
    u_char                   *p;
    ngx_str_t                 www;
    ngx_microshop_problem_t   problem;

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_SCOPE_INSUFFICIENT);

    www.data = ngx_pnalloc(r->pool, sizeof("Bearer realm=\"microshop\", "
                                           "error=\"insufficient_scope\", "
                                           "scope=\"\"") + required->len);
    if (www.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(www.data, "Bearer realm=\"microshop\", "
                    "error=\"insufficient_scope\", scope=\"%V\"", required);
    www.len = p - www.data;

    if (ngx_microshop_header_add(r, "WWW-Authenticate", &www) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&problem, sizeof(ngx_microshop_problem_t));
    problem.status = NGX_HTTP_FORBIDDEN;
    ngx_str_set(&problem.name, "insufficient-scope");
    ngx_str_set(&problem.title, "The token lacks a required scope");

    problem.detail.data = ngx_pnalloc(r->pool,
                                      sizeof("This request needs the scopes: ")
                                      + required->len);
    if (problem.detail.data == NULL) {
        return NGX_ERROR;
    }

    problem.detail.len = ngx_sprintf(problem.detail.data,
                                     "This request needs the scopes: %V",
                                     required)
                         - problem.detail.data;

    return ngx_microshop_problem_send(r, &problem);
}


/*
 * The path a seller is read from: nginx reads it from the normalized URI,
 * the backend gets the raw one; the two must name the same segments
 * (docs/http.md, "The path a seller is read from").  The raw one is the
 * client's request line, also after a rewrite or an internal redirect,
 * where proxy_pass forwards the new URI but FastCGI's REQUEST_URI
 * ($request_uri) still carries it.
 */

static ngx_int_t
ngx_microshop_seller_path(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    char              *scratch;
    ngx_str_t         *raw;
    microshop_path_e   rc;

    raw = &r->main->unparsed_uri;
    scratch = NULL;

    if (ngx_strlchr(raw->data, raw->data + raw->len, '%')) {
        scratch = ngx_pnalloc(r->pool, raw->len);
        if (scratch == NULL) {
            return NGX_ERROR;
        }
    }

    rc = microshop_path_check((char *) raw->data, raw->len, scratch);

    if (rc == MICROSHOP_PATH_OK) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop: raw path has the normalized segments");
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "microshop: path refused where microshop_seller is read "
                  "from the normalized URI: %s", microshop_path_reason(rc));

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_PATH_INVALID);

    return ngx_microshop_problem_send_text(r, NGX_HTTP_BAD_REQUEST,
               "invalid-request", "Invalid request path",
               (char *) microshop_path_reason(rc));
}


static ngx_int_t
ngx_microshop_seller_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_SELLER_MISMATCH);

    return ngx_microshop_problem_send_text(r, NGX_HTTP_FORBIDDEN,
               "seller-mismatch", "The token belongs to another seller",
               "The token's seller is not the seller this route addresses.");
}


static ngx_int_t
ngx_microshop_method_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_scope_loc_t *slcf)
{
    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_SCOPE_METHOD);

    if (ngx_microshop_header_add(r, "Allow", &slcf->allow) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_microshop_problem_send_text(r, NGX_HTTP_NOT_ALLOWED,
               "method-not-allowed", "Method not allowed",
               "No scope rule of this location covers the method.");
}
