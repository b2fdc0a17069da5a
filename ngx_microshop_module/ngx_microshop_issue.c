/*
 * ngx_microshop: the tokens the gateway issues itself (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_mint.h"
#include "ngx_microshop_issue.h"


static json_t *ngx_microshop_issue_claims(ngx_http_request_t *r,
    ngx_microshop_issue_t *t);
static int ngx_microshop_issue_set(json_t *obj, ngx_str_t *name,
    ngx_str_t *value);
static json_t *ngx_microshop_issue_list(ngx_str_t *values, u_char sep);
static ngx_int_t ngx_microshop_issue_note(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_issue_t *t);


ngx_int_t
ngx_microshop_issue(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx,
    ngx_microshop_issue_t *t, ngx_str_t *token)
{
    json_t     *claims;
    ngx_int_t   rc;

    if (ngx_microshop_mint_jti(r, &t->jti) != NGX_OK) {
        return NGX_ERROR;
    }

    claims = ngx_microshop_issue_claims(r, t);

    if (claims == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "microshop: the claims of a token to mint could not "
                      "be built");
        return NGX_ERROR;
    }

    rc = ngx_microshop_mint(r, claims, token);

    json_decref(claims);

    if (rc != NGX_OK) {
        return rc;
    }

    /* only the audit line reads it */
    if (ngx_microshop_main_conf(r)->audit.file == NULL) {
        return NGX_OK;
    }

    return ngx_microshop_issue_note(r, ctx, t);
}


static json_t *
ngx_microshop_issue_claims(ngx_http_request_t *r, ngx_microshop_issue_t *t)
{
    json_t                          *claims, *v, *one;
    ngx_str_t                        name, *names[NGX_MICROSHOP_ID_MAX];
    ngx_uint_t                       i;
    ngx_http_microshop_main_conf_t  *mmcf;

    static ngx_str_t  iss = ngx_string("iss");
    static ngx_str_t  jti = ngx_string("jti");
    static ngx_str_t  parent = ngx_string("parent_jti");

    mmcf = ngx_microshop_main_conf(r);

    for (i = NGX_MICROSHOP_ID_SELLER; i <= NGX_MICROSHOP_ID_TIER; i++) {
        names[i] = ngx_microshop_token_claim_name(mmcf, i);
    }

    names[NGX_MICROSHOP_ID_ISS] = &iss;
    names[NGX_MICROSHOP_ID_JTI] = &jti;
    names[NGX_MICROSHOP_ID_PARENT] = &parent;

    {
        /* the string claims, under the names the gateway reads back */
        struct {
            ngx_uint_t   field;
            ngx_str_t   *value;
        } strings[] = {
            { NGX_MICROSHOP_ID_ISS, &t->iss },
            { NGX_MICROSHOP_ID_SUBJECT, &t->sub },
            { NGX_MICROSHOP_ID_SELLER, &t->seller },
            { NGX_MICROSHOP_ID_TIER, &t->tier },
            { NGX_MICROSHOP_ID_CLASS, &t->class_name },
            { NGX_MICROSHOP_ID_SCOPES, &t->scopes },
            { NGX_MICROSHOP_ID_JTI, &t->jti },
            { NGX_MICROSHOP_ID_PARENT, &t->parent_jti },
        };

        claims = json_object();
        if (claims == NULL) {
            return NULL;
        }

        for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
            if (ngx_microshop_issue_set(claims, names[strings[i].field],
                                        strings[i].value)
                != 0)
            {
                goto failed;
            }
        }
    }

    if (json_object_set_new(claims, "iat", json_integer(t->iat)) != 0
        || json_object_set_new(claims, "exp", json_integer(t->exp)) != 0)
    {
        goto failed;
    }

    if (t->act_sub.len) {
        /* RFC 8693 4.1: the actor is the subject of the parent token */
        v = json_object();

        ngx_str_set(&name, "sub");

        if (v == NULL
            || json_object_set_new(claims, "act", v) != 0
            || ngx_microshop_issue_set(v, &name, &t->act_sub) != 0)
        {
            goto failed;
        }
    }

    if (t->aud.len) {
        v = ngx_microshop_issue_list(&t->aud, '\n');

        if (v == NULL) {
            goto failed;
        }

        if (json_array_size(v) == 1) {
            /* one audience: a string, as it was */
            one = json_incref(json_array_get(v, 0));
            json_decref(v);
            v = one;
        }

        if (json_object_set_new(claims, "aud", v) != 0) {
            goto failed;
        }
    }

    return claims;

failed:

    json_decref(claims);

    return NULL;
}


/* obj[name] = value, unless value is empty: 0, or -1 (not UTF-8, memory) */

static int
ngx_microshop_issue_set(json_t *obj, ngx_str_t *name, ngx_str_t *value)
{
    json_t  *v;

    if (value->len == 0) {
        return 0;
    }

    v = json_stringn((char *) value->data, value->len);
    if (v == NULL) {
        return -1;
    }

    return json_object_setn_new(obj, (char *) name->data, name->len, v);
}


/* the non-empty items of values, split at sep, as a JSON array */

static json_t *
ngx_microshop_issue_list(ngx_str_t *values, u_char sep)
{
    u_char  *p, *last, *e;
    json_t  *a;

    a = json_array();
    if (a == NULL) {
        return NULL;
    }

    p = values->data;
    last = p + values->len;

    while (p < last) {
        e = ngx_strlchr(p, last, sep);
        if (e == NULL) {
            e = last;
        }

        if (e > p
            && json_array_append_new(a, json_stringn((char *) p, e - p))
               != 0)
        {
            json_decref(a);
            return NULL;
        }

        p = e + 1;
    }

    return a;
}


/* what the audit line says of the token (docs/audit-and-policy.md) */

static ngx_int_t
ngx_microshop_issue_note(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx,
    ngx_microshop_issue_t *t)
{
    char        *text;
    json_t      *note, *scopes;
    ngx_int_t    rc;
    ngx_uint_t   i;

    struct {
        ngx_str_t    name;
        ngx_str_t   *value;
    } strings[] = {
        { ngx_string("jti"), &t->jti },
        { ngx_string("sub"), &t->sub },
        { ngx_string("seller"), &t->seller },
        { ngx_string("class"), &t->class_name },
    };

    rc = NGX_ERROR;
    text = NULL;

    note = json_object();
    scopes = ngx_microshop_issue_list(&t->scopes, ' ');

    if (note == NULL || scopes == NULL) {
        goto done;
    }

    for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        if (ngx_microshop_issue_set(note, &strings[i].name, strings[i].value)
            != 0)
        {
            goto done;
        }
    }

    if (json_object_set(note, "scopes", scopes) != 0
        || json_object_set_new(note, "exp", json_integer(t->exp)) != 0)
    {
        goto done;
    }

    text = json_dumps(note, JSON_COMPACT|JSON_PRESERVE_ORDER);

    if (text == NULL) {
        goto done;
    }

    ctx->minted.len = ngx_strlen(text);
    ctx->minted.data = ngx_pnalloc(r->pool, ctx->minted.len);

    if (ctx->minted.data == NULL) {
        ctx->minted.len = 0;
        goto done;
    }

    ngx_memcpy(ctx->minted.data, text, ctx->minted.len);

    rc = NGX_OK;

done:

    free(text);
    json_decref(scopes);
    json_decref(note);

    return rc;
}
