/*
 * ngx_microshop: the admin API (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_microshop_module.h"
#include "ngx_microshop_admin.h"
#include "ngx_microshop_body.h"
#include "ngx_microshop_problem.h"
#include "microshop_scopes.h"


#define NGX_MICROSHOP_ADMIN_BODY_MAX  4096
#define NGX_MICROSHOP_JTI_MAX         256


static ngx_int_t ngx_microshop_admin_handler(ngx_http_request_t *r);
static void ngx_microshop_admin_revoke(ngx_http_request_t *r);
static void ngx_microshop_admin_op_done(ngx_microshop_op_t *op);
static ngx_int_t ngx_microshop_admin_problem(ngx_http_request_t *r,
    ngx_uint_t status, char *name, char *title, char *detail);


char *
ngx_microshop_admin_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t    *clcf;
    ngx_microshop_scope_rule_t  *rule;

    if (mlcf->auth == 0) {
        return "cannot be used with \"microshop_auth off\"";
    }

    mlcf->auth = 1;
    mlcf->token.auth_file = cf->conf_file->file.name.data;
    mlcf->token.auth_line = cf->conf_file->line;

    if (mlcf->scope.rules != NGX_CONF_UNSET_PTR) {
        return "must come before \"microshop_require_scope\": it requires "
               "the scope " NGX_MICROSHOP_ADMIN_SCOPE " itself";
    }

    mlcf->scope.rules = ngx_array_create(cf->pool, 1,
                                         sizeof(ngx_microshop_scope_rule_t));
    if (mlcf->scope.rules == NULL) {
        return NGX_CONF_ERROR;
    }

    rule = ngx_array_push(mlcf->scope.rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rule, sizeof(ngx_microshop_scope_rule_t));
    rule->any = 1;
    ngx_str_set(&rule->methods_text, "*");
    ngx_str_set(&rule->scopes, NGX_MICROSHOP_ADMIN_SCOPE);

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_microshop_admin_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_microshop_admin_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  route;
    ngx_microshop_identity_t  *id;
    ngx_http_core_loc_conf_t  *clcf;

    /* the access phase checked it; a second look costs nothing */
    id = ngx_microshop_token_identity(r);

    if (id == NULL
        || !microshop_scopes_has((char *) id->f[NGX_MICROSHOP_ID_SCOPES].data,
                                 id->f[NGX_MICROSHOP_ID_SCOPES].len,
                                 NGX_MICROSHOP_ADMIN_SCOPE,
                                 sizeof(NGX_MICROSHOP_ADMIN_SCOPE) - 1))
    {
        return NGX_HTTP_FORBIDDEN;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    route = r->uri;

    if (!clcf->regex && route.len >= clcf->name.len) {
        route.data += clcf->name.len;
        route.len -= clcf->name.len;
    }

    while (route.len && route.data[0] == '/') {
        route.data++;
        route.len--;
    }

    if (route.len == sizeof("revocations") - 1
        && ngx_strncmp(route.data, "revocations", route.len) == 0)
    {
        if (r->method != NGX_HTTP_POST) {
            return ngx_microshop_admin_problem(r, NGX_HTTP_NOT_ALLOWED,
                                  "method-not-allowed", "Method not allowed",
                                  "Revocations are made with POST.");
        }

        rc = ngx_http_read_client_request_body(r, ngx_microshop_admin_revoke);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    return ngx_microshop_admin_problem(r, NGX_HTTP_NOT_FOUND, "not-found",
                                       "Not found",
                                       "No admin route has this path.");
}


static void
ngx_microshop_admin_revoke(ngx_http_request_t *r)
{
    json_t                          *doc, *jti, *exp;
    ngx_int_t                        rc;
    ngx_str_t                        body;
    json_error_t                     err;
    ngx_microshop_op_t              *op;
    ngx_http_microshop_main_conf_t  *mmcf;

    rc = ngx_microshop_body_get(r, NGX_MICROSHOP_ADMIN_BODY_MAX, &body);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    doc = NULL;

    if (rc == NGX_OK && body.len) {
        doc = json_loadb((char *) body.data, body.len,
                         JSON_REJECT_DUPLICATES, &err);
    }

    jti = json_object_get(doc, "jti");
    exp = json_object_get(doc, "exp");

    if (!json_is_object(doc)
        || !json_is_string(jti)
        || json_string_length(jti) == 0
        || json_string_length(jti) > NGX_MICROSHOP_JTI_MAX
        || !json_is_integer(exp)
        || json_integer_value(exp) <= 0)
    {
        json_decref(doc);
        ngx_http_finalize_request(r,
            ngx_microshop_admin_problem(r, NGX_HTTP_BAD_REQUEST,
                              "invalid-request", "Invalid revocation",
                              "The body must be {\"jti\":\"<non-empty "
                              "string>\",\"exp\":<unix time>}."));
        return;
    }

    op = ngx_pcalloc(r->pool, sizeof(ngx_microshop_op_t));
    if (op == NULL) {
        json_decref(doc);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    op->type = NGX_MICROSHOP_OP_REVOKE;
    op->key.len = json_string_length(jti);
    op->key.data = ngx_pnalloc(r->pool, op->key.len);
    if (op->key.data == NULL) {
        json_decref(doc);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(op->key.data, json_string_value(jti), op->key.len);
    op->u.revoke.exp = json_integer_value(exp);
    op->handler = ngx_microshop_admin_op_done;
    op->data = r;

    json_decref(doc);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "microshop: token jti \"%V\" revoked", &op->key);

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_microshop_module);

    if (ngx_microshop_store_exec(&mmcf->store, op) == NGX_OK) {
        ngx_microshop_admin_op_done(op);
    }
}


static void
ngx_microshop_admin_op_done(ngx_microshop_op_t *op)
{
    ngx_http_request_t  *r;

    r = op->data;

    if (op->rc != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_microshop_admin_problem(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "store-unavailable", "State store unavailable",
                              "The revocation could not be stored."));
        return;
    }

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    ngx_http_finalize_request(r, ngx_http_send_header(r));
}


static ngx_int_t
ngx_microshop_admin_problem(ngx_http_request_t *r, ngx_uint_t status,
    char *name, char *title, char *detail)
{
    ngx_microshop_problem_t  problem;

    ngx_memzero(&problem, sizeof(ngx_microshop_problem_t));
    problem.status = status;
    problem.name.data = (u_char *) name;
    problem.name.len = ngx_strlen(name);
    problem.title.data = (u_char *) title;
    problem.title.len = ngx_strlen(title);
    problem.detail.data = (u_char *) detail;
    problem.detail.len = ngx_strlen(detail);

    return ngx_microshop_problem_output(r, &problem);
}
