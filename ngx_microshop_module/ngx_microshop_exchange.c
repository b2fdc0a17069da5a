/*
 * ngx_microshop: the token exchange for staff (see the header).
 *
 * The content handler reads the body, then goes step by step, each step
 * either answering or handing on to the next; the two store operations
 * (the revocation check, the rate limit) may finish later, from the event
 * loop (ngx_microshop_request_run()):
 *
 *   body  -> the form, the subject token identified, the rules that need
 *            no store (not minted by an exchange, has a jti)
 *   revoked -> the revocation check's answer
 *   limited -> the rate limit's answer
 *   issue -> require_scope, scopes, lifetime; mint; answer 200
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_body.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_token_conf.h"
#include "ngx_microshop_ratelimit.h"
#include "ngx_microshop_admin.h"
#include "ngx_microshop_mint.h"
#include "ngx_microshop_issue.h"
#include "ngx_microshop_exchange.h"
#include "microshop_form.h"
#include "microshop_header.h"
#include "microshop_scope.h"
#include "microshop_token_str.h"


/* a subject token (8 KB at most) and the other parameters, encoded */
#define NGX_MICROSHOP_EXCHANGE_BODY_MAX   16384
#define NGX_MICROSHOP_EXCHANGE_ACTOR_MAX  256
#define NGX_MICROSHOP_EXCHANGE_REQUIRE    "staff:issue"

/* the longest scope set a verified token holds (ngx_microshop_token.c) */
#define NGX_MICROSHOP_SCOPES_TEXT_MAX     2048

#define NGX_MICROSHOP_GRANT_EXCHANGE                                          \
    "urn:ietf:params:oauth:grant-type:token-exchange"
#define NGX_MICROSHOP_TOKEN_TYPE_ACCESS                                       \
    "urn:ietf:params:oauth:token-type:access_token"


static ngx_int_t ngx_microshop_exchange_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_microshop_exchange_form_type(ngx_http_request_t *r);
static void ngx_microshop_exchange_body(ngx_http_request_t *r);
static void ngx_microshop_exchange_resume(ngx_http_request_t *r);
static ngx_int_t ngx_microshop_exchange_params(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *subject, ngx_int_t *answer);
static ngx_int_t ngx_microshop_exchange_bad_params(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, microshop_form_t *form,
    ngx_str_t *subject);
static ngx_int_t ngx_microshop_exchange_form_error(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, microshop_form_t *form,
    microshop_form_rc_e rc);
static void ngx_microshop_exchange_revoked(ngx_http_request_t *r,
    ngx_microshop_op_t *op);
static void ngx_microshop_exchange_limit(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
static void ngx_microshop_exchange_limited(ngx_http_request_t *r,
    ngx_microshop_op_t *op);
static ngx_int_t ngx_microshop_exchange_issue(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
static ngx_int_t ngx_microshop_exchange_answer(ngx_http_request_t *r,
    ngx_str_t *token, int64_t expires_in, ngx_str_t *scopes);
static ngx_int_t ngx_microshop_exchange_refuse(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_outcome_e outcome,
    ngx_uint_t status, char *error, char *description);
static ngx_int_t ngx_microshop_exchange_subject_refused(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_outcome_e outcome,
    const char *why);
static ngx_int_t ngx_microshop_exchange_unavailable(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
static ngx_int_t ngx_microshop_exchange_failed(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);


/* the parameters whose names an error may name (RFC 6749, RFC 8693) */
static char  *ngx_microshop_exchange_names[] = {
    "grant_type", "subject_token", "subject_token_type", "scope", "actor",
    "requested_token_type", "actor_token", "actor_token_type", "audience",
    "resource", NULL
};


/* microshop_token_exchange class=NAME [ttl=T] [scopes=...] [require_scope=S] */

char *
ngx_microshop_token_exchange_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    int                            n;
    u_char                        *buf;
    ngx_int_t                      t;
    ngx_str_t                     *value, v;
    ngx_uint_t                     i;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_microshop_exchange_loc_t  *x;

    if (mlcf->exchange != NULL) {
        return "is duplicate";
    }

    x = ngx_pcalloc(cf->pool, sizeof(ngx_microshop_exchange_loc_t));
    if (x == NULL) {
        return NGX_CONF_ERROR;
    }

    x->file = cf->conf_file->file.name.data;
    x->line = cf->conf_file->line;
    ngx_str_set(&x->require, NGX_MICROSHOP_EXCHANGE_REQUIRE);

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_microshop_conf_value(&value[i], "class=", &v)) {
            x->class_name = v;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            t = ngx_microshop_conf_time(cf, &value[i], 1, 1,
                                        NGX_MAX_INT_T_VALUE,
                                        "\"%V\": invalid \"%V\" (a time of "
                                        "1s or more)", &cmd->name,
                                        &value[i]);
            if (t == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            x->ttl = t;
            continue;
        }

        if (ngx_microshop_conf_value(&value[i], "scopes=", &v)) {
            buf = ngx_pnalloc(cf->pool, v.len + 1);
            if (buf == NULL) {
                return NGX_CONF_ERROR;
            }

            n = microshop_scopes_normalize_str((char *) v.data, v.len, ',',
                                               (char *) buf, v.len + 1);
            if (n <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\": invalid scope list \"%V\"",
                                   &cmd->name, &value[i]);
                return NGX_CONF_ERROR;
            }

            x->scopes.data = buf;
            x->scopes.len = n;
            continue;
        }

        if (ngx_microshop_conf_value(&value[i], "require_scope=", &v)) {
            buf = ngx_pnalloc(cf->pool, v.len + 1);
            if (buf == NULL) {
                return NGX_CONF_ERROR;
            }

            /* one scope: a ',' would make it a list */
            n = microshop_scopes_normalize_str((char *) v.data, v.len, ' ',
                                               (char *) buf, v.len + 1);
            if (n != (int) v.len
                || ngx_strlchr(v.data, v.data + v.len, ',') != NULL)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\": invalid \"%V\": one scope",
                                   &cmd->name, &value[i]);
                return NGX_CONF_ERROR;
            }

            x->require = v;
            continue;
        }

        return ngx_microshop_conf_invalid(cf, &value[i]);
    }

    if (x->class_name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs \"class=\": the token class of the "
                           "tokens it mints", &cmd->name);
        return NGX_CONF_ERROR;
    }

    mlcf->exchange = x;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_microshop_exchange_handler;

    return NGX_CONF_OK;
}


char *
ngx_microshop_exchange_loc_merge(ngx_conf_t *cf,
    ngx_http_microshop_loc_conf_t *conf)
{
    char                             missing[NGX_MICROSHOP_SCOPES_TEXT_MAX];
    ngx_microshop_token_class_t     *tc;
    ngx_microshop_exchange_loc_t    *x;
    ngx_http_microshop_main_conf_t  *mmcf;

    x = conf->exchange;

    if (x == NULL) {
        return NGX_CONF_OK;
    }

    if (conf->auth == 1) {
        /* set here, not inherited: the operator meant it */
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"microshop_auth on\" cannot be used where "
                      "\"microshop_token_exchange\" is: its credential is "
                      "the subject token in the body, in %s:%ui",
                      x->file, x->line);
        return NGX_CONF_ERROR;
    }

    /* an inherited "microshop_auth on" does not ask for a bearer token */
    conf->auth = 0;

    mmcf = ngx_microshop_conf_main_conf(cf);

    tc = ngx_microshop_token_class_find(&mmcf->token, &x->class_name);

    if (tc == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"microshop_token_exchange\": token class \"%V\" is "
                      "not declared (microshop_token_class) in %s:%ui",
                      &x->class_name, x->file, x->line);
        return NGX_CONF_ERROR;
    }

    if (mmcf->mint.signer == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"microshop_token_exchange\" needs a "
                      "\"microshop_jwt_signing_key\" at http level to sign "
                      "the tokens it mints, in %s:%ui", x->file, x->line);
        return NGX_CONF_ERROR;
    }

    if (x->ttl > tc->max_ttl) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"microshop_token_exchange\": ttl=%T is longer than "
                      "the max_ttl=%T of token class \"%V\" in %s:%ui",
                      x->ttl, tc->max_ttl, &tc->name, x->file, x->line);
        return NGX_CONF_ERROR;
    }

    if (x->scopes.len && tc->scopes.len
        && !microshop_scopes_contains_all((char *) tc->scopes.data,
                                          tc->scopes.len,
                                          (char *) x->scopes.data,
                                          x->scopes.len, missing,
                                          sizeof(missing)))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"microshop_token_exchange\": scopes= holds \"%s\", "
                      "which token class \"%V\" may not carry, in %s:%ui",
                      missing, &tc->name, x->file, x->line);
        return NGX_CONF_ERROR;
    }

    x->tclass = tc;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_microshop_exchange_handler(ngx_http_request_t *r)
{
    ngx_str_t                       allow;
    ngx_http_microshop_ctx_t       *ctx;
    ngx_http_microshop_loc_conf_t  *mlcf;

    mlcf = ngx_microshop_loc_conf(r);

    ctx = ngx_microshop_request_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->exchange = ngx_pcalloc(r->pool, sizeof(ngx_microshop_exchange_ctx_t));
    if (ctx->exchange == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* what the audit line says the subject token needs */
    ctx->scopes_required = mlcf->exchange->require;

    if (r->method != NGX_HTTP_POST) {
        ngx_str_set(&allow, "POST");

        if (ngx_microshop_header_add(r, "Allow", &allow) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
                   NGX_HTTP_NOT_ALLOWED, "invalid_request",
                   "The token endpoint takes POST.");
    }

    if (!ngx_microshop_exchange_form_type(r)) {
        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
                   NGX_HTTP_BAD_REQUEST, "invalid_request",
                   "The body must be application/x-www-form-urlencoded.");
    }

    return ngx_microshop_request_content_body(r, ngx_microshop_exchange_body);
}


/* Content-Type: application/x-www-form-urlencoded, parameters allowed */

static ngx_uint_t
ngx_microshop_exchange_form_type(ngx_http_request_t *r)
{
    u_char     c;
    ngx_str_t  *v;

    static ngx_str_t  form = ngx_string("application/x-www-form-urlencoded");

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    v = &r->headers_in.content_type->value;

    if (v->len < form.len
        || ngx_strncasecmp(v->data, form.data, form.len) != 0)
    {
        return 0;
    }

    if (v->len == form.len) {
        return 1;
    }

    c = v->data[form.len];

    return c == ';' || c == ' ' || c == '\t';
}


static void
ngx_microshop_exchange_body(ngx_http_request_t *r)
{
    ngx_int_t                  rc, answer;
    ngx_str_t                  subject;
    const char                *why;
    ngx_microshop_identity_t  *id;
    ngx_microshop_outcome_e    outcome;
    ngx_http_microshop_ctx_t  *ctx;

    ctx = ngx_microshop_ctx(r);

    rc = ngx_microshop_exchange_params(r, ctx, &subject, &answer);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, (rc == NGX_ERROR)
                                     ? ngx_microshop_exchange_failed(r, ctx)
                                     : answer);
        return;
    }

    /*
     * While the identity provider's keys are fetched, identify() answers
     * NGX_AGAIN and holds the request; the wait's end calls the write
     * handler, which runs the exchange again from its body.
     */
    r->write_event_handler = ngx_microshop_exchange_resume;

    rc = ngx_microshop_token_identify(r, ctx, &subject, &outcome, &why);

    if (rc == NGX_AGAIN) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    /* anything but an identity or a refusal fails: nothing is ever minted
     * from an identity not filled in */
    if (rc != NGX_OK && rc != NGX_DECLINED) {
        ngx_http_finalize_request(r, ngx_microshop_exchange_failed(r, ctx));
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r,
            ngx_microshop_exchange_subject_refused(r, ctx, outcome, why));
        return;
    }

    /* from here on, the request is the subject token's: audit, variables */
    ctx->has_token = 1;

    id = &ctx->token.id;

    if (id->f[NGX_MICROSHOP_ID_PARENT].len) {
        ngx_http_finalize_request(r,
            ngx_microshop_exchange_refuse(r, ctx,
                NGX_MICROSHOP_OUT_EXCHANGE_INVALID_GRANT,
                NGX_HTTP_BAD_REQUEST, "invalid_grant",
                "The subject token was minted by a token exchange: a minted "
                "token is not exchanged again."));
        return;
    }

    if (id->f[NGX_MICROSHOP_ID_JTI].len == 0) {
        ngx_http_finalize_request(r,
            ngx_microshop_exchange_refuse(r, ctx,
                NGX_MICROSHOP_OUT_EXCHANGE_INVALID_GRANT,
                NGX_HTTP_BAD_REQUEST, "invalid_grant",
                "The subject token has no jti: the tokens minted from it "
                "could not be revoked with it."));
        return;
    }

    ctx->exchange->op.pool = r->pool;

    if (ngx_microshop_token_revoked_op(id, &ctx->exchange->op) != NGX_OK) {
        /* nothing to check */
        ngx_microshop_exchange_limit(r, ctx);
        return;
    }

    ngx_microshop_request_run(r, &ctx->exchange->op,
                              ngx_microshop_exchange_revoked);
}


/* the wait for the identity provider's keys is over: the body once more */

static void
ngx_microshop_exchange_resume(ngx_http_request_t *r)
{
    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_microshop_exchange_body(r);
}


/*
 * The form of the body: NGX_OK and the subject token; NGX_DONE when the
 * request was answered (*answer: what ngx_microshop_exchange_refuse()
 * returned, to finalize it with); NGX_ERROR.
 */

static ngx_int_t
ngx_microshop_exchange_params(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *subject, ngx_int_t *answer)
{
    u_char               *buf;
    ngx_int_t             rc;
    ngx_str_t             body;
    microshop_form_t     *form;
    microshop_form_rc_e   frc;

    rc = ngx_microshop_body_get(r, NGX_MICROSHOP_EXCHANGE_BODY_MAX, &body);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        *answer = ngx_microshop_exchange_refuse(r, ctx,
                      NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
                      NGX_HTTP_BAD_REQUEST, "invalid_request",
                      "The body is larger than 16 KB.");
        return NGX_DONE;
    }

    form = ngx_palloc(r->pool, sizeof(microshop_form_t));
    buf = ngx_pnalloc(r->pool, body.len + 1);

    if (form == NULL || buf == NULL) {
        return NGX_ERROR;
    }

    frc = microshop_form_parse((char *) body.data, body.len, (char *) buf,
                               form);

    *answer = (frc != MICROSHOP_FORM_OK)
              ? ngx_microshop_exchange_form_error(r, ctx, form, frc)
              : ngx_microshop_exchange_bad_params(r, ctx, form, subject);

    return (*answer == NGX_DECLINED) ? NGX_OK : NGX_DONE;
}


/*
 * The parameters of a well-formed body: NGX_DECLINED when they are those
 * of a token exchange (the subject token in *subject, scope and actor in
 * ctx->exchange); else what the answer that refused them returned.
 */

static ngx_int_t
ngx_microshop_exchange_bad_params(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, microshop_form_t *form,
    ngx_str_t *subject)
{
    int                            n;
    json_t                        *text;
    ngx_microshop_exchange_ctx_t  *xc;
    const microshop_form_pair_t   *p;

    xc = ctx->exchange;

    p = microshop_form_get(form, "grant_type");

    if (p == NULL) {
        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
                   NGX_HTTP_BAD_REQUEST, "invalid_request",
                   "The parameter grant_type is missing.");
    }

    if (p->value_len != sizeof(NGX_MICROSHOP_GRANT_EXCHANGE) - 1
        || ngx_memcmp(p->value, NGX_MICROSHOP_GRANT_EXCHANGE, p->value_len)
           != 0)
    {
        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_UNSUPPORTED_GRANT,
                   NGX_HTTP_BAD_REQUEST, "unsupported_grant_type",
                   "This endpoint takes the token exchange grant only "
                   "(" NGX_MICROSHOP_GRANT_EXCHANGE ", RFC 8693).");
    }

    p = microshop_form_get(form, "subject_token");

    if (p == NULL || p->value_len == 0) {
        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
                   NGX_HTTP_BAD_REQUEST, "invalid_request",
                   "The parameter subject_token is missing.");
    }

    subject->data = (u_char *) p->value;
    subject->len = p->value_len;

    p = microshop_form_get(form, "subject_token_type");

    if (p == NULL
        || p->value_len != sizeof(NGX_MICROSHOP_TOKEN_TYPE_ACCESS) - 1
        || ngx_memcmp(p->value, NGX_MICROSHOP_TOKEN_TYPE_ACCESS,
                      p->value_len) != 0)
    {
        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
                   NGX_HTTP_BAD_REQUEST, "invalid_request",
                   "The parameter subject_token_type must be "
                   NGX_MICROSHOP_TOKEN_TYPE_ACCESS ".");
    }

    p = microshop_form_get(form, "requested_token_type");

    if (p != NULL
        && (p->value_len != sizeof(NGX_MICROSHOP_TOKEN_TYPE_ACCESS) - 1
            || ngx_memcmp(p->value, NGX_MICROSHOP_TOKEN_TYPE_ACCESS,
                          p->value_len) != 0))
    {
        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
                   NGX_HTTP_BAD_REQUEST, "invalid_request",
                   "This endpoint issues access tokens only "
                   "(requested_token_type).");
    }

    if (microshop_form_get(form, "actor_token") != NULL
        || microshop_form_get(form, "actor_token_type") != NULL)
    {
        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
                   NGX_HTTP_BAD_REQUEST, "invalid_request",
                   "actor_token is not taken: name the staff member with "
                   "actor.");
    }

    if (microshop_form_get(form, "audience") != NULL
        || microshop_form_get(form, "resource") != NULL)
    {
        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_INVALID_TARGET,
                   NGX_HTTP_BAD_REQUEST, "invalid_target",
                   "The minted token is for this gateway: audience and "
                   "resource are not taken.");
    }

    p = microshop_form_get(form, "scope");

    if (p != NULL) {
        xc->scope.data = ngx_pnalloc(r->pool, p->value_len + 1);
        if (xc->scope.data == NULL) {
            return ngx_microshop_exchange_failed(r, ctx);
        }

        n = microshop_scopes_normalize_str(p->value, p->value_len, ' ',
                                           (char *) xc->scope.data,
                                           p->value_len + 1);
        if (n < 0) {
            return ngx_microshop_exchange_refuse(r, ctx,
                       NGX_MICROSHOP_OUT_EXCHANGE_INVALID_SCOPE,
                       NGX_HTTP_BAD_REQUEST, "invalid_scope",
                       "The parameter scope is not a space-separated list "
                       "of scopes (RFC 6749 3.3).");
        }

        xc->scope.len = n;
        xc->has_scope = 1;
    }

    p = microshop_form_get(form, "actor");

    if (p != NULL) {
        /* a name for sub: text that may go into a header as it is */
        text = NULL;

        if (p->value_len == 0
            || p->value_len > NGX_MICROSHOP_EXCHANGE_ACTOR_MAX
            || !microshop_text_is_clean(p->value, p->value_len)
            || !microshop_header_value_ok((u_char *) p->value, p->value_len)
            || (text = json_stringn(p->value, p->value_len)) == NULL)
        {
            return ngx_microshop_exchange_refuse(r, ctx,
                       NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
                       NGX_HTTP_BAD_REQUEST, "invalid_request",
                       "The parameter actor must be 1 to 256 bytes of UTF-8 "
                       "text, without control characters or spaces around "
                       "it.");
        }

        json_decref(text);

        xc->actor.data = (u_char *) p->value;
        xc->actor.len = p->value_len;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_microshop_exchange_form_error(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, microshop_form_t *form,
    microshop_form_rc_e rc)
{
    u_char      *p;
    ngx_uint_t   i;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "microshop: token exchange: %s",
                  microshop_form_error(rc));

    if (rc == MICROSHOP_FORM_DUPLICATE) {
        /* RFC 6749 3.2: never more than once; a known name is named */
        for (i = 0; ngx_microshop_exchange_names[i]; i++) {
            if (microshop_form_is(&form->pair[form->bad],
                                  ngx_microshop_exchange_names[i]))
            {
                p = ngx_pnalloc(r->pool, sizeof("The parameter  is given "
                                                "more than once.")
                                         + form->pair[form->bad].name_len);
                if (p == NULL) {
                    return ngx_microshop_exchange_failed(r, ctx);
                }

                (void) ngx_sprintf(p, "The parameter %s is given more than "
                                   "once.%Z", ngx_microshop_exchange_names[i]);

                return ngx_microshop_exchange_refuse(r, ctx,
                           NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
                           NGX_HTTP_BAD_REQUEST, "invalid_request",
                           (char *) p);
            }
        }

        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
                   NGX_HTTP_BAD_REQUEST, "invalid_request",
                   "A parameter is given more than once.");
    }

    return ngx_microshop_exchange_refuse(r, ctx,
               NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
               NGX_HTTP_BAD_REQUEST, "invalid_request",
               (rc == MICROSHOP_FORM_TOO_MANY)
                   ? "The body has too many parameters."
                   : "The body is not application/x-www-form-urlencoded "
                     "(a bad escape, an empty name or a NUL byte).");
}


static void
ngx_microshop_exchange_revoked(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    ngx_http_microshop_ctx_t  *ctx;

    ctx = ngx_microshop_ctx(r);

    if (op->rc == NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_microshop_exchange_subject_refused(r, ctx,
                NGX_MICROSHOP_OUT_TOKEN_REVOKED, "token revoked"));
        return;
    }

    if (op->rc == NGX_ERROR) {
        ngx_http_finalize_request(r,
                                  ngx_microshop_exchange_unavailable(r, ctx));
        return;
    }

    ngx_microshop_exchange_limit(r, ctx);
}


/* the location's rate limit, on the subject token's seller and tier */

static void
ngx_microshop_exchange_limit(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_microshop_op_t             *op;
    ngx_http_microshop_loc_conf_t  *mlcf;

    mlcf = ngx_microshop_loc_conf(r);

    if (!mlcf->rate.on) {
        ngx_http_finalize_request(r, ngx_microshop_exchange_issue(r, ctx));
        return;
    }

    op = &ctx->exchange->op;

    ngx_memzero(op, sizeof(ngx_microshop_op_t));
    op->pool = r->pool;

    if (ngx_microshop_ratelimit_op(r, ctx, op) != NGX_OK) {
        ngx_http_finalize_request(r, ngx_microshop_exchange_failed(r, ctx));
        return;
    }

    ngx_microshop_request_run(r, op, ngx_microshop_exchange_limited);
}


static void
ngx_microshop_exchange_limited(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    int64_t                    retry_after;
    ngx_int_t                  rc;
    ngx_http_microshop_ctx_t  *ctx;

    ctx = ngx_microshop_ctx(r);

    rc = ngx_microshop_ratelimit_verdict(r, ctx, op, &retry_after);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r,
                                  ngx_microshop_exchange_unavailable(r, ctx));
        return;
    }

    if (rc == NGX_BUSY) {
        /* recorded as rate-limited; the RateLimit fields come with it */
        if (ngx_microshop_header_retry_after(r,
                                 ngx_microshop_ratelimit_seconds(retry_after))
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_finalize_request(r,
            ngx_microshop_oauth_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                      "slow_down",
                                      "The seller's request rate is over "
                                      "its tier; retry after the time in "
                                      "Retry-After."));
        return;
    }

    ngx_http_finalize_request(r, ngx_microshop_exchange_issue(r, ctx));
}


/* the rules that need the subject token's claims, then the token */

static ngx_int_t
ngx_microshop_exchange_issue(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    int                             n;
    u_char                         *p;
    time_t                          now, life;
    ngx_str_t                       token, granted, *asked, *iss;
    ngx_int_t                       rc;
    ngx_microshop_issue_t           t;
    ngx_microshop_identity_t       *id;
    ngx_microshop_token_class_t    *tc;
    ngx_microshop_exchange_ctx_t   *xc;
    ngx_microshop_exchange_loc_t   *x;
    const char                     *drop;
    ngx_http_microshop_loc_conf_t  *mlcf;

    char                            scopes[NGX_MICROSHOP_SCOPES_TEXT_MAX];

    mlcf = ngx_microshop_loc_conf(r);
    x = mlcf->exchange;
    tc = x->tclass;
    xc = ctx->exchange;
    id = &ctx->token.id;

    if (!microshop_scopes_has((char *) id->f[NGX_MICROSHOP_ID_SCOPES].data,
                              id->f[NGX_MICROSHOP_ID_SCOPES].len,
                              (char *) x->require.data, x->require.len))
    {
        p = ngx_pnalloc(r->pool, sizeof("The subject token lacks the scope "
                                        ", which this endpoint requires.")
                                 + x->require.len);
        if (p == NULL) {
            return ngx_microshop_exchange_failed(r, ctx);
        }

        /* a scope is text RFC 6749 allows in error_description */
        (void) ngx_sprintf(p, "The subject token lacks the scope %V, which "
                           "this endpoint requires.%Z", &x->require);

        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_UNAUTHORIZED,
                   NGX_HTTP_BAD_REQUEST, "unauthorized_client", (char *) p);
    }

    /*
     * asked (all of the subject token's when none is asked for) and the
     * subject token's, within the ceiling: scopes=, else the class's;
     * microshop:admin only when scopes= lists it
     */

    asked = xc->has_scope ? &xc->scope : &id->f[NGX_MICROSHOP_ID_SCOPES];

    n = microshop_scopes_intersect((char *) asked->data, asked->len,
                                   (char *) id->f[NGX_MICROSHOP_ID_SCOPES].data,
                                   id->f[NGX_MICROSHOP_ID_SCOPES].len, NULL,
                                   scopes, sizeof(scopes));

    granted.len = 0;

    if (n > 0) {
        granted.data = ngx_pnalloc(r->pool, n + 1);
        if (granted.data == NULL) {
            return ngx_microshop_exchange_failed(r, ctx);
        }

        drop = (x->scopes.len
                && microshop_scopes_has((char *) x->scopes.data,
                                        x->scopes.len,
                                        NGX_MICROSHOP_ADMIN_SCOPE,
                                        sizeof(NGX_MICROSHOP_ADMIN_SCOPE) - 1))
               ? NULL : NGX_MICROSHOP_ADMIN_SCOPE;

        n = x->scopes.len
            ? microshop_scopes_intersect(scopes, n, (char *) x->scopes.data,
                                         x->scopes.len, drop,
                                         (char *) granted.data, n + 1)
            : microshop_scopes_intersect(scopes, n,
                                         tc->scopes.len
                                             ? (char *) tc->scopes.data
                                             : NULL,
                                         tc->scopes.len, drop,
                                         (char *) granted.data, n + 1);
        granted.len = (n > 0) ? n : 0;
    }

    if (granted.len == 0) {
        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_INVALID_SCOPE,
                   NGX_HTTP_BAD_REQUEST, "invalid_scope",
                   "No scope is left to grant: the scopes asked for are not "
                   "those of the subject token or beyond what this endpoint "
                   "may grant.");
    }

    /* the directive's ttl (the class's max_ttl), within the parent's */

    now = ngx_time();
    life = x->ttl ? x->ttl : tc->max_ttl;

    if (id->exp - now < life) {
        life = id->exp - now;
    }

    if (life <= 0) {
        return ngx_microshop_exchange_refuse(r, ctx,
                   NGX_MICROSHOP_OUT_EXCHANGE_INVALID_GRANT,
                   NGX_HTTP_BAD_REQUEST, "invalid_grant",
                   "The subject token has no lifetime left to hand on.");
    }

    ngx_memzero(&t, sizeof(ngx_microshop_issue_t));

    if (mlcf->token.issuers && mlcf->token.issuers->nelts) {
        iss = mlcf->token.issuers->elts;
        t.iss = iss[0];
    }

    t.sub = xc->actor.len ? xc->actor : id->f[NGX_MICROSHOP_ID_SUBJECT];
    t.act_sub = id->f[NGX_MICROSHOP_ID_SUBJECT];
    t.aud = id->f[NGX_MICROSHOP_ID_AUD];
    t.seller = id->f[NGX_MICROSHOP_ID_SELLER];
    t.tier = id->f[NGX_MICROSHOP_ID_TIER];
    t.class_name = tc->name;
    t.scopes = granted;
    t.parent_jti = id->f[NGX_MICROSHOP_ID_JTI];
    t.iat = now;
    t.exp = now + life;

    rc = ngx_microshop_issue(r, ctx, &t, &token);

    if (rc != NGX_OK) {
        return ngx_microshop_exchange_failed(r, ctx);
    }

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_EXCHANGE_ISSUED);

    return ngx_microshop_exchange_answer(r, &token, life, &granted);
}


/* RFC 8693 2.2.1 */

static ngx_int_t
ngx_microshop_exchange_answer(ngx_http_request_t *r, ngx_str_t *token,
    int64_t expires_in, ngx_str_t *scopes)
{
    u_char     *p;
    ngx_str_t   body;

    /* a JWS and scopes hold nothing JSON escapes */
    body.data = ngx_pnalloc(r->pool,
                            sizeof("{\"access_token\":\"\","
                                   "\"issued_token_type\":\""
                                   NGX_MICROSHOP_TOKEN_TYPE_ACCESS "\","
                                   "\"token_type\":\"Bearer\","
                                   "\"expires_in\":,\"scope\":\"\"}\n")
                            + token->len + NGX_INT64_LEN + scopes->len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body.data, "{\"access_token\":\"%V\","
                    "\"issued_token_type\":\""
                    NGX_MICROSHOP_TOKEN_TYPE_ACCESS "\","
                    "\"token_type\":\"Bearer\","
                    "\"expires_in\":%L,\"scope\":\"%V\"}\n",
                    token, expires_in, scopes);

    body.len = p - body.data;

    return ngx_microshop_oauth_answer(r, NGX_HTTP_OK, &body);
}


static ngx_int_t
ngx_microshop_exchange_refuse(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_outcome_e outcome,
    ngx_uint_t status, char *error, char *description)
{
    ngx_microshop_outcome(r, ctx, outcome);

    return ngx_microshop_oauth_error(r, status, error, description);
}


/*
 * A subject token that is not valid, expired or revoked: invalid_grant,
 * with the 401 the token is worth (RFC 7235: and so WWW-Authenticate)
 */

static ngx_int_t
ngx_microshop_exchange_subject_refused(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_outcome_e outcome,
    const char *why)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   www;

    /* the token stage's reason (invalid_token, token_class, revoked) */
    ngx_microshop_outcome(r, ctx, outcome);

    ngx_str_set(&www, "Bearer realm=\"microshop\", error=\"invalid_token\"");

    if (ngx_microshop_header_add(r, "WWW-Authenticate", &www) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(why);

    if (!microshop_header_qtext_ok((u_char *) why, len)
        || ngx_strlchr((u_char *) why, (u_char *) why + len, '"') != NULL)
    {
        /* fixed texts all are */
        why = "invalid token";
        len = sizeof("invalid token") - 1;
    }

    p = ngx_pnalloc(r->pool, sizeof("The subject token is refused: .")
                             + len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_sprintf(p, "The subject token is refused: %s.%Z", why);

    return ngx_microshop_exchange_refuse(r, ctx,
               NGX_MICROSHOP_OUT_EXCHANGE_SUBJECT_REFUSED,
               NGX_HTTP_UNAUTHORIZED, "invalid_grant", (char *) p);
}


static ngx_int_t
ngx_microshop_exchange_unavailable(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_STORE_UNAVAILABLE);

    if (ngx_microshop_header_retry_after(r, NGX_MICROSHOP_RETRY_STORE)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_microshop_oauth_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "temporarily_unavailable",
                                     "The gateway cannot reach its state "
                                     "store; retry later.");
}


static ngx_int_t
ngx_microshop_exchange_failed(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    return ngx_microshop_exchange_refuse(r, ctx, NGX_MICROSHOP_OUT_ERROR,
                                         NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "server_error",
                                         "The gateway could not mint the "
                                         "token.");
}
