/*
 * ngx_microshop: seller onboarding through the admin API (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_json.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_token_conf.h"
#include "ngx_microshop_ratelimit.h"
#include "ngx_microshop_events.h"
#include "ngx_microshop_admin.h"
#include "ngx_microshop_mint.h"
#include "ngx_microshop_issue.h"
#include "ngx_microshop_onboard.h"
#include "microshop_header.h"
#include "microshop_scope.h"
#include "microshop_time.h"
#include "microshop_token_str.h"


#define NGX_MICROSHOP_ONBOARD_BODY_MAX   4096
#define NGX_MICROSHOP_ONBOARD_TEXT_MAX   256
#define NGX_MICROSHOP_ONBOARD_SCOPES_MAX 2048


/* what a request asks for, checked */
typedef struct {
    ngx_str_t                     seller;
    ngx_str_t                     sub;
    ngx_str_t                     tier;
    ngx_str_t                     scopes;
    ngx_microshop_token_class_t  *tclass;      /* NULL: no class declared */
    ngx_str_t                     class_name;
    time_t                        ttl;
} ngx_microshop_onboard_t;


static ngx_int_t ngx_microshop_onboard_seller(ngx_str_t *route,
    ngx_str_t *seller);
static ngx_int_t ngx_microshop_onboard_refuse_route(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_microshop_onboard_body(ngx_http_request_t *r);
static char *ngx_microshop_onboard_parse(ngx_http_request_t *r, json_t *doc,
    ngx_microshop_onboard_t *o);
static char *ngx_microshop_onboard_class(ngx_http_request_t *r, json_t *doc,
    ngx_microshop_onboard_t *o);
static char *ngx_microshop_onboard_scopes(ngx_http_request_t *r, json_t *v,
    ngx_microshop_onboard_t *o);
static char *ngx_microshop_onboard_ttl(json_t *v, ngx_microshop_onboard_t *o);
static ngx_int_t ngx_microshop_onboard_text(json_t *v, ngx_str_t *out);
static ngx_int_t ngx_microshop_onboard_issue(ngx_http_request_t *r,
    ngx_microshop_onboard_t *o);


ngx_int_t
ngx_microshop_onboard_handler(ngx_http_request_t *r, ngx_str_t *route)
{
    ngx_int_t  rc;
    ngx_str_t  seller;

    rc = ngx_microshop_onboard_seller(route, &seller);

    if (rc != NGX_OK) {
        return ngx_microshop_onboard_refuse_route(r, rc);
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_microshop_not_allowed(r, "POST",
                                         "A seller's tokens are made with "
                                         "POST.");
    }

    if (!ngx_microshop_mint_enabled(r)) {
        return ngx_microshop_problem_text(r, NGX_HTTP_NOT_IMPLEMENTED,
                   "no-signing-key", "No signing key",
                   "The gateway mints tokens only with a "
                   "microshop_jwt_signing_key (docs/tokens.md).");
    }

    return ngx_microshop_request_content_body(r, ngx_microshop_onboard_body);
}


/*
 * The seller of "sellers/<seller>/tokens": NGX_OK, NGX_HTTP_NOT_FOUND
 * (another route), NGX_HTTP_BAD_REQUEST (a name no seller has: what the
 * stock routes take, and nothing a header would strip)
 */

static ngx_int_t
ngx_microshop_onboard_seller(ngx_str_t *route, ngx_str_t *seller)
{
    ngx_str_t  what;

    if (ngx_microshop_route_pair(route, sizeof("sellers/") - 1, seller, &what)
        != NGX_OK
        || what.len != sizeof("tokens") - 1
        || ngx_strncmp(what.data, "tokens", what.len) != 0)
    {
        return NGX_HTTP_NOT_FOUND;
    }

    if (!ngx_microshop_events_name_valid(seller->data, seller->len)
        || !microshop_header_value_ok(seller->data, seller->len))
    {
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_onboard_refuse_route(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc == NGX_HTTP_NOT_FOUND) {
        return ngx_microshop_problem_text(r, NGX_HTTP_NOT_FOUND,
                                  "not-found", "Not found",
                                  "Seller routes are "
                                  "sellers/<seller>/tokens.");
    }

    return ngx_microshop_problem_text(r, NGX_HTTP_BAD_REQUEST,
                              "invalid-request", "Invalid seller",
                              "A seller has 1 to 256 bytes, no control "
                              "characters and no spaces around it.");
}


static void
ngx_microshop_onboard_body(ngx_http_request_t *r)
{
    char                     *detail;
    json_t                   *doc;
    ngx_int_t                 rc;
    ngx_str_t                *route;
    ngx_microshop_onboard_t   o;

    ngx_memzero(&o, sizeof(ngx_microshop_onboard_t));

    route = ngx_microshop_request_route(r);

    if (route == NULL
        || ngx_microshop_onboard_seller(route, &o.seller) != NGX_OK
        || ngx_microshop_json_body(r, NGX_MICROSHOP_ONBOARD_BODY_MAX, &doc)
           != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    detail = ngx_microshop_onboard_parse(r, doc, &o);

    if (detail == NGX_CONF_ERROR) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else if (detail != NULL) {
        rc = ngx_microshop_problem_text(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid-request",
                                        "Invalid token request", detail);

    } else {
        rc = ngx_microshop_onboard_issue(r, &o);
    }

    /* o's strings are the document's */
    json_decref(doc);

    ngx_http_finalize_request(r, rc);
}


/*
 * The members of the body into o: NULL, or the detail of the 400 answer
 * (it names the member), or NGX_CONF_ERROR on a memory shortage
 */

static char *
ngx_microshop_onboard_parse(ngx_http_request_t *r, json_t *doc,
    ngx_microshop_onboard_t *o)
{
    char                            *detail;
    json_t                          *v;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    if (!json_is_object(doc)) {
        return "The body must be a JSON object of at most 4 KB, such as "
               "{\"class\":\"integration\",\"scopes\":[\"inventory:read\"],"
               "\"ttl\":\"30d\",\"sub\":\"sync-job\"}.";
    }

    if (json_object_size(doc)
        != (size_t) (json_object_get(doc, "sub") != NULL)
                    + (json_object_get(doc, "class") != NULL)
                    + (json_object_get(doc, "scopes") != NULL)
                    + (json_object_get(doc, "tier") != NULL)
                    + (json_object_get(doc, "ttl") != NULL))
    {
        return "The body has a member other than class, scopes, tier, ttl "
               "and sub.";
    }

    if (ngx_microshop_onboard_text(json_object_get(doc, "sub"), &o->sub)
        != NGX_OK)
    {
        return "The member sub is required: 1 to 256 bytes of text, without "
               "control characters or spaces around it.";
    }

    detail = ngx_microshop_onboard_class(r, doc, o);
    if (detail != NULL) {
        return detail;
    }

    detail = ngx_microshop_onboard_scopes(r, json_object_get(doc, "scopes"),
                                          o);
    if (detail != NULL) {
        return detail;
    }

    detail = ngx_microshop_onboard_ttl(json_object_get(doc, "ttl"), o);
    if (detail != NULL) {
        return detail;
    }

    v = json_object_get(doc, "tier");

    if (v != NULL
        && (ngx_microshop_onboard_text(v, &o->tier) != NGX_OK
            || (mmcf->rate.tiers.nelts
                && ngx_microshop_rate_tier_find(&mmcf->rate, &o->tier)
                   == NULL)))
    {
        return "The member tier must name a declared rate tier "
               "(microshop_rate_tier).";
    }

    return NULL;
}


static char *
ngx_microshop_onboard_class(ngx_http_request_t *r, json_t *doc,
    ngx_microshop_onboard_t *o)
{
    json_t                          *v;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    v = json_object_get(doc, "class");

    if (mmcf->token.classes.nelts == 0) {
        /* classes are not checked: the claim is written as asked */
        if (v != NULL
            && ngx_microshop_onboard_text(v, &o->class_name) != NGX_OK)
        {
            return "The member class must be 1 to 256 bytes of text.";
        }

        return NULL;
    }

    if (ngx_microshop_onboard_text(v, &o->class_name) != NGX_OK
        || (o->tclass = ngx_microshop_token_class_find(&mmcf->token,
                                                       &o->class_name))
           == NULL)
    {
        return "The member class is required: one of the declared token "
               "classes (microshop_token_class).";
    }

    return NULL;
}


/* within the class's ceiling; microshop:admin only when it lists it */

static char *
ngx_microshop_onboard_scopes(ngx_http_request_t *r, json_t *v,
    ngx_microshop_onboard_t *o)
{
    int                           n;
    u_char                       *p;
    ngx_microshop_token_class_t  *tc;

    char                          missing[NGX_MICROSHOP_ONBOARD_SCOPES_MAX];

    o->scopes.data = ngx_pnalloc(r->pool, NGX_MICROSHOP_ONBOARD_SCOPES_MAX);
    if (o->scopes.data == NULL) {
        return NGX_CONF_ERROR;
    }

    n = json_is_array(v)
        ? microshop_scopes_normalize(v, (char *) o->scopes.data,
                                     NGX_MICROSHOP_ONBOARD_SCOPES_MAX)
        : -1;

    if (n <= 0) {
        return "The member scopes is required: an array of one or more "
               "scopes (RFC 6749 3.3).";
    }

    o->scopes.len = n;
    tc = o->tclass;

    if (tc && tc->scopes.len
        && !microshop_scopes_contains_all((char *) tc->scopes.data,
                                          tc->scopes.len,
                                          (char *) o->scopes.data, n,
                                          missing, sizeof(missing)))
    {
        p = ngx_pnalloc(r->pool, sizeof("The member scopes holds , which "
                                        "token class  may not carry.")
                                 + ngx_strlen(missing) + tc->name.len);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        (void) ngx_sprintf(p, "The member scopes holds %s, which token "
                           "class %V may not carry.%Z", missing, &tc->name);
        return (char *) p;
    }

    if (microshop_scopes_has((char *) o->scopes.data, n,
                             NGX_MICROSHOP_ADMIN_SCOPE,
                             sizeof(NGX_MICROSHOP_ADMIN_SCOPE) - 1)
        && (tc == NULL || tc->scopes.len == 0))
    {
        return "The member scopes holds " NGX_MICROSHOP_ADMIN_SCOPE ", which "
               "a seller's token gets only from a token class that lists "
               "it.";
    }

    return NULL;
}


/* nginx's time syntax ("30d", "1h30m") or seconds; the class's max_ttl */

static char *
ngx_microshop_onboard_ttl(json_t *v, ngx_microshop_onboard_t *o)
{
    ngx_int_t  t;
    ngx_str_t  s;

    if (v == NULL) {
        if (o->tclass == NULL) {
            return "The member ttl is required where no token class is "
                   "declared.";
        }

        o->ttl = o->tclass->max_ttl;
        return NULL;
    }

    if (json_is_string(v)) {
        s.data = (u_char *) json_string_value(v);
        s.len = json_string_length(v);
        t = s.len ? ngx_parse_time(&s, 1) : NGX_ERROR;

    } else if (json_is_integer(v)) {
        t = (json_integer_value(v) > 0
             && json_integer_value(v) <= MICROSHOP_TIME_SPAN_MAX)
            ? (ngx_int_t) json_integer_value(v) : NGX_ERROR;

    } else {
        t = NGX_ERROR;
    }

    if (t == NGX_ERROR || t <= 0 || t > MICROSHOP_TIME_SPAN_MAX) {
        return "The member ttl must be a time such as \"30d\", \"12h\" or "
               "\"1h30m\", or seconds, from 1s to 36500d.";
    }

    if (o->tclass && t > o->tclass->max_ttl) {
        return "The member ttl is longer than the max_ttl of its token "
               "class.";
    }

    o->ttl = t;

    return NULL;
}


/* a JSON string of text that goes into headers and logs as it is */

static ngx_int_t
ngx_microshop_onboard_text(json_t *v, ngx_str_t *out)
{
    size_t  len;

    if (!json_is_string(v)) {
        return NGX_DECLINED;
    }

    len = json_string_length(v);

    if (len == 0 || len > NGX_MICROSHOP_ONBOARD_TEXT_MAX
        || !microshop_text_is_clean(json_string_value(v), len)
        || !microshop_header_value_ok((u_char *) json_string_value(v), len))
    {
        return NGX_DECLINED;
    }

    /* the document lives until the token is minted */
    out->data = (u_char *) json_string_value(v);
    out->len = len;

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_onboard_issue(ngx_http_request_t *r, ngx_microshop_onboard_t *o)
{
    u_char                         *p;
    ngx_str_t                       token, body, *s, admin;
    ngx_int_t                       rc;
    ngx_microshop_issue_t           t;
    ngx_microshop_identity_t       *id;
    ngx_http_microshop_ctx_t       *ctx;
    ngx_http_microshop_loc_conf_t  *mlcf;

    ctx = ngx_microshop_request_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mlcf = ngx_microshop_loc_conf(r);

    ngx_memzero(&t, sizeof(ngx_microshop_issue_t));

    /* the admin location's issuer and audience: the gateway's own */

    if (mlcf->token.issuers && mlcf->token.issuers->nelts) {
        s = mlcf->token.issuers->elts;
        t.iss = s[0];
    }

    if (mlcf->token.audiences && mlcf->token.audiences->nelts) {
        s = mlcf->token.audiences->elts;
        t.aud = s[0];
    }

    t.sub = o->sub;
    t.seller = o->seller;
    t.tier = o->tier;
    t.class_name = o->tclass ? o->tclass->name : o->class_name;
    t.scopes = o->scopes;
    t.iat = ngx_time();
    t.exp = t.iat + o->ttl;

    rc = ngx_microshop_issue(r, ctx, &t, &token);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_ONBOARD_ISSUED);

    id = ngx_microshop_token_identity(r);

    if (id && id->f[NGX_MICROSHOP_ID_SUBJECT].len) {
        admin = id->f[NGX_MICROSHOP_ID_SUBJECT];

    } else {
        ngx_str_set(&admin, "-");
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "microshop: token jti \"%V\" minted by the admin API for "
                  "seller \"%V\", class \"%V\", sub \"%V\", expires %L, by "
                  "admin subject \"%V\"", &t.jti, &t.seller, &t.class_name,
                  &t.sub, t.exp, &admin);

    /* a JWS and a base64url jti hold nothing JSON escapes */
    body.data = ngx_pnalloc(r->pool, sizeof("{\"access_token\":\"\","
                                            "\"expires_in\":,\"jti\":\"\"}\n")
                                     + token.len + NGX_INT64_LEN + t.jti.len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body.data, "{\"access_token\":\"%V\",\"expires_in\":%T,"
                    "\"jti\":\"%V\"}\n", &token, o->ttl, &t.jti);
    body.len = p - body.data;

    return ngx_microshop_oauth_answer(r, NGX_HTTP_CREATED, &body);
}
