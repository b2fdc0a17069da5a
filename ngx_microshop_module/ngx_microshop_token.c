/*
 * ngx_microshop: bearer tokens at the edge (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_token_cache.h"
#include "ngx_microshop_token_conf.h"
#include "ngx_microshop_jwks_uri.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_upstream_error.h"
#include "ngx_microshop_digest.h"
#include "ngx_microshop_json.h"
#include "microshop_header.h"
#include "microshop_scope.h"
#include "microshop_token_bearer.h"
#include "microshop_token_claims.h"
#include "microshop_token_jws.h"
#include "microshop_token_str.h"
#include "microshop_time.h"


#define NGX_MICROSHOP_SCOPES_MAX  2048


static ngx_str_t  ngx_microshop_default_claims[] = {
    ngx_string("seller"),
    ngx_string("sub"),
    ngx_string("scope"),
    ngx_string("token_class"),
    ngx_string("tier"),
};


static ngx_int_t ngx_microshop_token_parse_bearer(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_microshop_token_verify(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *token, u_char *hash,
    ngx_microshop_outcome_e *outcome, const char **why);
static const char *ngx_microshop_token_check(ngx_http_request_t *r,
    ngx_microshop_identity_t *id);
static void ngx_microshop_token_invalid_request(
    ngx_microshop_problem_t *problem, ngx_str_t *www, const char *detail);


/* the TOKEN stage */

ngx_int_t
ngx_microshop_token_stage(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_str_t                        token;
    const char                      *why;
    ngx_microshop_outcome_e          outcome;
    ngx_http_microshop_loc_conf_t   *mlcf;

    mlcf = ngx_microshop_loc_conf(r);

    if (!mlcf->auth) {
        return NGX_DECLINED;
    }

    if (!ctx->has_token) {

        rc = ngx_microshop_token_parse_bearer(r, &token);

        if (rc != NGX_OK) {
            return ngx_microshop_token_reject(r, ctx,
                     (rc == NGX_DECLINED) ? NGX_MICROSHOP_OUT_TOKEN_MISSING
                                          : NGX_MICROSHOP_OUT_TOKEN_MALFORMED,
                     (rc == NGX_DECLINED) ? NULL
                         : "the Authorization header is not one bearer "
                           "token68");
        }

        rc = ngx_microshop_token_identify(r, ctx, &token, &outcome, &why);

        if (rc == NGX_DECLINED) {
            return ngx_microshop_token_reject(r, ctx, outcome, why);
        }

        if (rc != NGX_OK) {
            return rc;
        }

        ctx->has_token = 1;

        if (ngx_microshop_token_revoked_op(&ctx->token.id, &ctx->op)
            != NGX_OK)
        {
            /* nothing a revocation could name */
            return NGX_DECLINED;
        }
    }

    rc = ngx_microshop_request_store(r, ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->op.rc == NGX_OK) {
        return ngx_microshop_token_reject(r, ctx, NGX_MICROSHOP_OUT_TOKEN_REVOKED,
                                          "token revoked");
    }

    if (ctx->op.rc == NGX_ERROR) {
        return ngx_microshop_store_failed(r, ctx);
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_microshop_token_identify(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *token,
    ngx_microshop_outcome_e *outcome, const char **why)
{
    u_char                           hash[NGX_MICROSHOP_TOKEN_CACHE_KEY_LEN];
    ngx_int_t                        rc;
    ngx_microshop_identity_t        *id;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);
    id = &ctx->token.id;

    *outcome = NGX_MICROSHOP_OUT_TOKEN_INVALID;

    if (token->len > MICROSHOP_JWT_MAX_LEN) {
        *why = "token too large";
        return NGX_DECLINED;
    }

    /* keys from the identity provider: none yet (wait), or a refresh due */
    rc = ngx_microshop_jwks_uri_ready(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_microshop_token_cache_key(mmcf, token, hash) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_microshop_token_cache_lookup(r, id, hash);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_TOKEN_CACHED);

    } else {
        rc = ngx_microshop_token_verify(r, ctx, token, hash, outcome, why);

        if (rc == NGX_DECLINED && ctx->token.unknown_kid) {
            /* a kid in no set: the provider's keys once more, at most */
            rc = ngx_microshop_jwks_uri_unknown_kid(r, ctx);
            if (rc != NGX_DECLINED) {
                return rc;
            }
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    *why = ngx_microshop_token_check(r, id);

    if (*why) {
        *outcome = NGX_MICROSHOP_OUT_TOKEN_INVALID;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the identity's "no iat" is the store's */
typedef char  ngx_microshop_token_no_iat[
    (NGX_MICROSHOP_NO_TIME == NGX_MICROSHOP_STORE_NO_IAT) ? 1 : -1];


ngx_int_t
ngx_microshop_token_revoked_op(ngx_microshop_identity_t *id,
    ngx_microshop_op_t *op)
{
    if (id->f[NGX_MICROSHOP_ID_JTI].len == 0
        && id->f[NGX_MICROSHOP_ID_PARENT].len == 0
        && id->f[NGX_MICROSHOP_ID_SELLER].len == 0)
    {
        return NGX_DECLINED;
    }

    op->type = NGX_MICROSHOP_OP_IS_REVOKED;
    op->key = id->f[NGX_MICROSHOP_ID_JTI];
    op->u.revoked.parent = id->f[NGX_MICROSHOP_ID_PARENT];
    op->u.revoked.seller = id->f[NGX_MICROSHOP_ID_SELLER];
    op->u.revoked.class = id->f[NGX_MICROSHOP_ID_CLASS];
    op->u.revoked.iat = id->iat;

    return NGX_OK;
}


/*
 * The token of "Authorization: Bearer <token68>" (microshop_token_bearer.h):
 * NGX_OK, NGX_DECLINED when no Authorization header or another scheme was
 * sent (no token, RFC 6750 3.1), NGX_ERROR when the header is not one
 * bearer token68.
 */

static ngx_int_t
ngx_microshop_token_parse_bearer(ngx_http_request_t *r, ngx_str_t *token)
{
    size_t      start, len;
    ngx_str_t  *v;

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    v = &r->headers_in.authorization->value;

    switch (microshop_bearer_parse(v->data, v->len, &start, &len)) {

    case MICROSHOP_BEARER_OK:
        token->data = v->data + start;
        token->len = len;
        return NGX_OK;

    case MICROSHOP_BEARER_NONE:
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop: Authorization is another scheme");
        return NGX_DECLINED;

    default: /* MICROSHOP_BEARER_MALFORMED */
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop: Authorization is not one bearer token68");
        return NGX_ERROR;
    }
}


static ngx_int_t
ngx_microshop_claim_string(ngx_http_request_t *r, json_t *claims,
    ngx_str_t *name, ngx_str_t *out)
{
    char     key[256];
    json_t  *v;

    out->len = 0;
    out->data = NULL;

    if (name->len >= sizeof(key)) {
        return NGX_ERROR;
    }

    ngx_memcpy(key, name->data, name->len);
    key[name->len] = '\0';

    v = json_object_get(claims, key);

    if (v == NULL) {
        return NGX_OK;
    }

    if (!json_is_string(v) || json_string_length(v) > MICROSHOP_JWT_CLAIM_MAX
        || !microshop_text_is_clean(json_string_value(v),
                                    json_string_length(v)))
    {
        /* a control character would reach the upstream in a header */
        return NGX_ERROR;
    }

    return ngx_microshop_json_copy(r->pool, v, out);
}


static ngx_int_t
ngx_microshop_claim_audience(ngx_http_request_t *r, json_t *claims,
    ngx_str_t *out)
{
    u_char  *p;
    size_t   i, len, n;
    json_t  *v, *e;

    ngx_str_null(out);

    v = json_object_get(claims, "aud");

    if (v == NULL) {
        return NGX_OK;
    }

    if (json_is_string(v)) {
        n = json_string_length(v);
        if (n > MICROSHOP_JWT_CLAIM_MAX
            || !microshop_text_is_clean(json_string_value(v), n))
        {
            return NGX_ERROR;
        }

        out->data = (u_char *) json_string_value(v);
        out->len = n;

    } else if (json_is_array(v)) {
        len = 0;

        json_array_foreach(v, i, e) {
            if (!json_is_string(e) || json_string_length(e) > MICROSHOP_JWT_CLAIM_MAX) {
                return NGX_ERROR;
            }

            len += json_string_length(e) + 1;
        }

        out->data = ngx_pnalloc(r->pool, len);
        if (out->data == NULL) {
            return NGX_ERROR;
        }

        p = out->data;

        json_array_foreach(v, i, e) {
            n = json_string_length(e);

            if (!microshop_text_is_clean(json_string_value(e), n)) {
                return NGX_ERROR;
            }

            if (p != out->data) {
                *p++ = '\n';
            }

            p = ngx_cpymem(p, json_string_value(e), n);
        }

        out->len = p - out->data;
        return NGX_OK;

    } else {
        return NGX_ERROR;
    }

    /* copy out of the JSON document, which is freed soon */

    p = ngx_pnalloc(r->pool, out->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, out->data, out->len);
    out->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_token_verify(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *token, u_char *hash,
    ngx_microshop_outcome_e *outcome, const char **why)
{
    int                               n, unknown_kid;
    char                              scopes[NGX_MICROSHOP_SCOPES_MAX];
    json_t                           *v;
    ngx_str_t                        *names;
    ngx_int_t                         rc;
    ngx_uint_t                        i;
    const char                       *reason;
    microshop_jwt_t                   jwt;
    ngx_microshop_identity_t         *id;
    const microshop_keyset_t         *sets[2];
    microshop_claims_policy_t         policy;
    ngx_microshop_token_class_t      *tc;
    ngx_http_microshop_main_conf_t   *mmcf;

    mmcf = ngx_microshop_main_conf(r);
    names = mmcf->token.claim;
    id = &ctx->token.id;

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_TOKEN_VERIFIED);

    /* the configured keys first: their kid wins over a provider's */
    sets[0] = &mmcf->token.keys;
    sets[1] = ngx_microshop_jwks_uri_keys(mmcf);

    if (microshop_jwt_verify_sets(sets, 2, (char *) token->data, token->len,
                                  &jwt, &reason, &unknown_kid)
        != 0)
    {
        ctx->token.unknown_kid = unknown_kid;
        *outcome = NGX_MICROSHOP_OUT_TOKEN_INVALID;
        *why = reason;
        return NGX_DECLINED;
    }

    ctx->token.unknown_kid = 0;

    ngx_memzero(&policy, sizeof(microshop_claims_policy_t));
    policy.now = ngx_time();
    policy.leeway = mmcf->token.leeway;

    if (microshop_jwt_check_claims(jwt.claims, &policy, &reason) != 0) {
        goto invalid;
    }

    rc = NGX_ERROR;
    reason = "a claim has the wrong type";

    if (microshop_jwt_numeric_date(json_object_get(jwt.claims, "exp"),
                                   &id->exp)
        != 0)
    {
        goto invalid;
    }

    v = json_object_get(jwt.claims, "nbf");
    id->nbf = NGX_MICROSHOP_NO_TIME;

    if (v && microshop_jwt_numeric_date(v, &id->nbf) != 0) {
        goto invalid;
    }

    v = json_object_get(jwt.claims, "iat");
    id->iat = NGX_MICROSHOP_NO_TIME;

    if (v && microshop_jwt_numeric_date(v, &id->iat) != 0) {
        goto invalid;
    }

    for (i = NGX_MICROSHOP_ID_SELLER; i < NGX_MICROSHOP_ID_JTI; i++) {
        if (i == NGX_MICROSHOP_ID_SCOPES) {
            continue;
        }

        if (ngx_microshop_claim_string(r, jwt.claims,
                                       ngx_microshop_token_claim_name(mmcf, i),
                                       &id->f[i])
            != NGX_OK)
        {
            goto invalid;
        }
    }

    /*
     * Written as they are into headers towards the upstream, which would
     * strip the white space and read another seller or subject.
     */
    for (i = NGX_MICROSHOP_ID_SELLER; i <= NGX_MICROSHOP_ID_SUBJECT; i++) {
        if (!microshop_header_value_ok(id->f[i].data, id->f[i].len)) {
            reason = "a claim has leading or trailing white space";
            goto invalid;
        }
    }

    if (ngx_microshop_claim_string(r, jwt.claims,
                                   &(ngx_str_t) ngx_string("jti"),
                                   &id->f[NGX_MICROSHOP_ID_JTI])
           != NGX_OK
        || ngx_microshop_claim_string(r, jwt.claims,
                                      &(ngx_str_t) ngx_string("iss"),
                                      &id->f[NGX_MICROSHOP_ID_ISS])
           != NGX_OK
        || ngx_microshop_claim_string(r, jwt.claims,
                                      &(ngx_str_t) ngx_string("parent_jti"),
                                      &id->f[NGX_MICROSHOP_ID_PARENT])
           != NGX_OK
        || ngx_microshop_claim_audience(r, jwt.claims,
                                        &id->f[NGX_MICROSHOP_ID_AUD])
           != NGX_OK)
    {
        goto invalid;
    }

    reason = "invalid scope claim";

    v = names[NGX_MICROSHOP_ID_SCOPES].len
        ? json_object_getn(jwt.claims,
                           (char *) names[NGX_MICROSHOP_ID_SCOPES].data,
                           names[NGX_MICROSHOP_ID_SCOPES].len)
        : json_object_get(jwt.claims, "scope");

    n = microshop_scopes_normalize(v, scopes, sizeof(scopes));
    if (n < 0) {
        goto invalid;
    }

    id->f[NGX_MICROSHOP_ID_SCOPES].len = n;
    id->f[NGX_MICROSHOP_ID_SCOPES].data = ngx_pnalloc(r->pool, n);
    if (id->f[NGX_MICROSHOP_ID_SCOPES].data == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_memcpy(id->f[NGX_MICROSHOP_ID_SCOPES].data, scopes, n);

    id->f[NGX_MICROSHOP_ID_ALG].data =
                               (u_char *) microshop_alg_name(jwt.key->alg);
    id->f[NGX_MICROSHOP_ID_ALG].len =
                               ngx_strlen(id->f[NGX_MICROSHOP_ID_ALG].data);

    if (jwt.key->kid) {
        /* a provider's key may be gone when the log phase reads it */
        id->f[NGX_MICROSHOP_ID_KID].len = ngx_strlen(jwt.key->kid);
        id->f[NGX_MICROSHOP_ID_KID].data = ngx_pnalloc(r->pool,
                                          id->f[NGX_MICROSHOP_ID_KID].len);
        if (id->f[NGX_MICROSHOP_ID_KID].data == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        ngx_memcpy(id->f[NGX_MICROSHOP_ID_KID].data, jwt.key->kid,
                   id->f[NGX_MICROSHOP_ID_KID].len);
    }

    /* token classes: off when none is declared */

    if (mmcf->token.classes.nelts) {
        tc = NULL;

        if (id->f[NGX_MICROSHOP_ID_CLASS].len == 0) {
            tc = mmcf->token.default_class;

            if (tc == NULL) {
                reason = "token has no token class";
                goto violation;
            }

            id->f[NGX_MICROSHOP_ID_CLASS] = tc->name;

        } else {
            tc = ngx_microshop_token_class_find(&mmcf->token,
                                              &id->f[NGX_MICROSHOP_ID_CLASS]);

            if (tc == NULL) {
                reason = "unknown token class";
                goto violation;
            }
        }

        if (microshop_jwt_check_class(jwt.claims, tc->max_ttl,
                                      tc->scopes.len
                                          ? (char *) tc->scopes.data : NULL,
                                      tc->scopes.len, scopes, n, &reason)
            != 0)
        {
            goto violation;
        }
    }

    ctx->token.verified = 1;

    ngx_microshop_token_cache_insert(r, id, hash);

    rc = NGX_OK;
    goto done;

invalid:

    *outcome = NGX_MICROSHOP_OUT_TOKEN_INVALID;
    *why = reason;
    rc = NGX_DECLINED;
    goto done;

violation:

    *outcome = NGX_MICROSHOP_OUT_TOKEN_CLASS;
    *why = reason;
    rc = NGX_DECLINED;

done:

    microshop_jwt_release(&jwt);

    return rc;
}


/* checked on every request, cached or not */

static const char *
ngx_microshop_token_check(ngx_http_request_t *r, ngx_microshop_identity_t *id)
{
    u_char                          *p, *last, *e;
    time_t                           now, leeway;
    ngx_str_t                       *s;
    ngx_uint_t                       i;
    ngx_array_t                     *a;
    ngx_http_microshop_loc_conf_t   *mlcf;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);
    mlcf = ngx_microshop_loc_conf(r);

    now = ngx_time();
    leeway = mmcf->token.leeway;

    if (now > microshop_time_add(id->exp, leeway)) {
        return "token expired";
    }

    if (id->nbf != NGX_MICROSHOP_NO_TIME
        && microshop_time_add(now, leeway) < id->nbf)
    {
        return "token not yet valid";
    }

    if (id->iat != NGX_MICROSHOP_NO_TIME
        && id->iat > microshop_time_add(now, leeway))
    {
        return "token issued in the future";
    }

    a = mlcf->token.issuers;

    if (a) {
        s = a->elts;

        for (i = 0; i < a->nelts; i++) {
            if (s[i].len == id->f[NGX_MICROSHOP_ID_ISS].len
                && ngx_strncmp(s[i].data, id->f[NGX_MICROSHOP_ID_ISS].data,
                               s[i].len) == 0)
            {
                break;
            }
        }

        if (i == a->nelts) {
            return "issuer not accepted";
        }
    }

    a = mlcf->token.audiences;

    if (a) {
        s = a->elts;
        p = id->f[NGX_MICROSHOP_ID_AUD].data;
        last = p + id->f[NGX_MICROSHOP_ID_AUD].len;

        while (p < last) {
            e = ngx_strlchr(p, last, '\n');
            if (e == NULL) {
                e = last;
            }

            for (i = 0; i < a->nelts; i++) {
                if (s[i].len == (size_t) (e - p)
                    && ngx_strncmp(s[i].data, p, s[i].len) == 0)
                {
                    return NULL;
                }
            }

            p = e + 1;
        }

        return "audience not accepted";
    }

    return NULL;
}


ngx_int_t
ngx_microshop_token_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_outcome_e outcome,
    const char *description)
{
    u_char                   *p;
    size_t                    len;
    ngx_str_t                 www;
    ngx_microshop_problem_t   problem;

    ngx_microshop_outcome(r, ctx, outcome);

    ngx_memzero(&problem, sizeof(ngx_microshop_problem_t));
    problem.status = NGX_HTTP_UNAUTHORIZED;
    ngx_str_set(&problem.name, "invalid-token");
    ngx_str_set(&problem.title, "Invalid or missing bearer token");

    if (outcome == NGX_MICROSHOP_OUT_TOKEN_MALFORMED) {
        ngx_microshop_token_invalid_request(&problem, &www, description);

    } else if (description == NULL) {
        ngx_str_set(&www, "Bearer realm=\"microshop\"");
        ngx_str_set(&problem.detail, "This resource needs a bearer token.");

    } else {
        len = ngx_strlen(description);

        if (!microshop_header_qtext_ok((u_char *) description, len)) {
            /* fixed texts all are: a '"' would end error_description */
            description = "invalid token";
            len = sizeof("invalid token") - 1;
        }

        www.data = ngx_pnalloc(r->pool, sizeof("Bearer realm=\"microshop\", "
                                   "error=\"invalid_token\", "
                                   "error_description=\"\"") + len);
        if (www.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(www.data, "Bearer realm=\"microshop\", "
                        "error=\"invalid_token\", error_description=\"%s\"",
                        description);
        www.len = p - www.data;

        problem.detail.data = (u_char *) description;
        problem.detail.len = len;
    }

    if (outcome == NGX_MICROSHOP_OUT_TOKEN_CLASS) {
        ngx_str_set(&problem.name, "token-class-violation");
        ngx_str_set(&problem.title, "The token breaks its token class");
    }

    if (ngx_microshop_header_add(r, "WWW-Authenticate", &www) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_microshop_problem_send(r, &problem);
}


/* RFC 6750 3.1: a malformed request, not a bad token */

static void
ngx_microshop_token_invalid_request(ngx_microshop_problem_t *problem,
    ngx_str_t *www, const char *detail)
{
    problem->status = NGX_HTTP_BAD_REQUEST;
    ngx_str_set(&problem->name, "invalid-request");
    ngx_str_set(&problem->title, "Invalid request");
    problem->detail.data = (u_char *) detail;
    problem->detail.len = ngx_strlen(detail);
    ngx_str_set(www, "Bearer realm=\"microshop\", error=\"invalid_request\"");
}


/*
 * nginx refuses a second Authorization header itself (a unique header
 * line), with its HTML 400, before any location is found.  Where the
 * gateway verifies tokens, that 400 is the problem RFC 6750 3.1 asks for
 * (docs/http.md, Tokens): the header lines read so far are in
 * r->headers_in.headers, the second Authorization last.
 */

ngx_int_t
ngx_microshop_token_duplicate_filter(ngx_http_request_t *r)
{
    ngx_str_t                        www;
    ngx_uint_t                       i, n;
    ngx_list_part_t                 *part;
    ngx_table_elt_t                 *h;
    ngx_microshop_problem_t          problem;
    ngx_http_microshop_ctx_t        *ctx;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    if (r->err_status != NGX_HTTP_BAD_REQUEST || mmcf == NULL
        || (mmcf->token.keys.nkeys == 0
            && mmcf->token.jwks_uri.location.len == 0))
    {
        return NGX_OK;
    }

    part = &r->headers_in.headers.part;
    i = 0;
    n = 0;

    while ((h = ngx_microshop_header_next(&part, &i)) != NULL) {
        if (h->key.len == sizeof("Authorization") - 1
            && ngx_strncasecmp(h->key.data, (u_char *) "Authorization",
                               sizeof("Authorization") - 1) == 0)
        {
            n++;
        }
    }

    if (n < 2) {
        return NGX_OK;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop: more than one Authorization header");

    ctx = ngx_microshop_request_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_TOKEN_MALFORMED);

    ngx_memzero(&problem, sizeof(ngx_microshop_problem_t));
    ngx_microshop_token_invalid_request(&problem, &www,
                                        "More than one Authorization header.");

    if (ngx_microshop_header_add(r, "WWW-Authenticate", &www) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_microshop_page_problem(r, ctx, &problem);
}


ngx_str_t *
ngx_microshop_token_claim_name(ngx_http_microshop_main_conf_t *mmcf,
    ngx_microshop_id_field_e field)
{
    return mmcf->token.claim[field].len ? &mmcf->token.claim[field]
                                        : &ngx_microshop_default_claims[field];
}


ngx_microshop_identity_t *
ngx_microshop_token_identity(ngx_http_request_t *r)
{
    ngx_http_microshop_ctx_t  *ctx;

    ctx = ngx_microshop_ctx(r);

    if (ctx == NULL || !ctx->has_token) {
        return NULL;
    }

    return &ctx->token.id;
}
