/*
 * ngx_microshop: the policy report (see the header).
 *
 * The document is built with jansson when it is asked for: it is an audit
 * endpoint, not a hot path.  It walks every server and, in each, every
 * location nginx can still reach after configuration: the static location
 * tree, the regex array and the named locations (the "locations" queues
 * are gone by then), nested locations included.
 *
 * Each feature reports itself with one small function that returns its
 * members as a json_pack() object: the location sections in
 * ngx_microshop_policy_loc_sections[], the http-level ones in
 * ngx_microshop_policy_main_sections[].  A new feature adds a function and
 * a line there.  Key material is never reported, nor where it lives (the
 * paths of key, JWKS and secret files): only what identifies a key, its
 * kid, alg, type, size and, for a public key, its RFC 7638 thumbprint.
 *
 * A NULL json_t is an allocation that failed: json_pack() fails on an "o"
 * argument that is NULL and releases every value it was handed, so the
 * document is either complete or not sent.  Configuration text goes
 * through ngx_microshop_json_str() ("o"), never "s": it need not be UTF-8.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_ratelimit.h"
#include "ngx_microshop_idempotency.h"
#include "ngx_microshop_audit.h"
#include "ngx_microshop_policy.h"
#include "ngx_microshop_policy_json.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_admin.h"
#include "ngx_microshop_events.h"
#include "ngx_microshop_mint.h"
#include "microshop_token_thumbprint.h"


/* json_dumps() indentation of the report */
#define NGX_MICROSHOP_POLICY_INDENT     2

/* the method of a "*" rule: any method the method table does not list */
#define NGX_MICROSHOP_POLICY_OTHER_METHOD  0


typedef json_t *(*ngx_microshop_policy_main_pt)(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf);

typedef json_t *(*ngx_microshop_policy_loc_pt)(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf);


typedef struct {
    const char                  *name;
    ngx_uint_t                   method;
} ngx_microshop_policy_method_t;


typedef struct {
    ngx_str_t                    name;        /* in the report */
    ngx_str_t                    claim;       /* the default claim name */
} ngx_microshop_policy_claim_t;


static ngx_int_t ngx_microshop_policy_handler(ngx_http_request_t *r);
static json_t *ngx_microshop_policy_document(ngx_http_request_t *r);
static json_t *ngx_microshop_policy_servers(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf);
static json_t *ngx_microshop_policy_server(void *elt);
static ngx_int_t ngx_microshop_policy_walk(json_t *list,
    ngx_http_core_loc_conf_t *clcf);
static ngx_int_t ngx_microshop_policy_tree(json_t *list,
    ngx_http_core_loc_conf_t *parent, ngx_http_location_tree_node_t *node);
static ngx_int_t ngx_microshop_policy_location(json_t *list,
    ngx_http_core_loc_conf_t *parent, ngx_http_core_loc_conf_t *clcf,
    void **loc_conf, const char *match);
static json_t *ngx_microshop_policy_location_head(
    ngx_http_core_loc_conf_t *parent, ngx_http_core_loc_conf_t *clcf,
    const char *match);

static json_t *ngx_microshop_policy_loc_auth(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf);
static json_t *ngx_microshop_policy_loc_scope(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf);
static json_t *ngx_microshop_policy_scope_methods(
    ngx_microshop_scope_loc_t *slcf);
static json_t *ngx_microshop_policy_method_scopes(
    ngx_microshop_scope_loc_t *slcf, ngx_uint_t method);
static json_t *ngx_microshop_policy_scope_rule(void *elt);
static json_t *ngx_microshop_policy_loc_token(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf);
static json_t *ngx_microshop_policy_loc_rate(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf);
static json_t *ngx_microshop_policy_loc_idem(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf);
static json_t *ngx_microshop_policy_loc_cache(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf);
static json_t *ngx_microshop_policy_loc_reserve(
    ngx_http_core_loc_conf_t *clcf, ngx_http_microshop_loc_conf_t *mlcf);
static json_t *ngx_microshop_policy_loc_events(
    ngx_http_core_loc_conf_t *clcf, ngx_http_microshop_loc_conf_t *mlcf);
static json_t *ngx_microshop_policy_loc_exchange(
    ngx_http_core_loc_conf_t *clcf, ngx_http_microshop_loc_conf_t *mlcf);

static json_t *ngx_microshop_policy_token(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf);
static json_t *ngx_microshop_policy_claims(
    ngx_http_microshop_main_conf_t *mmcf);
static json_t *ngx_microshop_policy_keys(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf);
static json_t *ngx_microshop_policy_key(void *elt);
static const char *ngx_microshop_policy_key_type(microshop_alg_t alg);
static json_t *ngx_microshop_policy_classes(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf);
static json_t *ngx_microshop_policy_class(void *elt);
static json_t *ngx_microshop_policy_rate_tiers(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf);
static json_t *ngx_microshop_policy_rate_tier(void *elt);
static json_t *ngx_microshop_policy_zone(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf);
static json_t *ngx_microshop_policy_audit(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf);
static json_t *ngx_microshop_policy_signing_keys(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf);



/* http level, in the order of the document (servers come last) */
static ngx_microshop_policy_main_pt  ngx_microshop_policy_main_sections[] = {
    ngx_microshop_policy_token,
    ngx_microshop_policy_keys,
    ngx_microshop_policy_signing_keys,
    ngx_microshop_policy_classes,
    ngx_microshop_policy_rate_tiers,
    ngx_microshop_policy_zone,
    ngx_microshop_policy_audit,
    /* Redis, ...: one function each */
    ngx_microshop_policy_servers,
    NULL
};


/* per location, in the order of the location object */
static ngx_microshop_policy_loc_pt  ngx_microshop_policy_loc_sections[] = {
    ngx_microshop_policy_loc_auth,
    ngx_microshop_policy_loc_scope,
    ngx_microshop_policy_loc_token,
    ngx_microshop_policy_loc_rate,
    ngx_microshop_policy_loc_idem,
    ngx_microshop_policy_loc_cache,
    ngx_microshop_policy_loc_reserve,
    ngx_microshop_policy_loc_events,
    ngx_microshop_policy_loc_exchange,
    /* a new feature: one function here */
    NULL
};


static ngx_microshop_policy_method_t  ngx_microshop_policy_methods[] = {
    { "GET", NGX_HTTP_GET },
    { "HEAD", NGX_HTTP_HEAD },
    { "POST", NGX_HTTP_POST },
    { "PUT", NGX_HTTP_PUT },
    { "PATCH", NGX_HTTP_PATCH },
    { "DELETE", NGX_HTTP_DELETE },
    { "OPTIONS", NGX_HTTP_OPTIONS },
    { NULL, 0 }
};


/* the defaults of microshop_jwt_claims, in the order of mmcf->token.claim[] */
static ngx_microshop_policy_claim_t
    ngx_microshop_policy_claim_defaults[NGX_MICROSHOP_ID_JTI] =
{
    { ngx_string("seller"), ngx_string("seller") },
    { ngx_string("subject"), ngx_string("sub") },
    { ngx_string("scope"), ngx_string("scope") },
    { ngx_string("class"), ngx_string("token_class") },
    { ngx_string("tier"), ngx_string("tier") },
};


char *
ngx_microshop_policy_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    clcf->handler = ngx_microshop_policy_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_microshop_policy_handler(ngx_http_request_t *r)
{
    char                     *text;
    size_t                    len;
    json_t                   *doc;
    ngx_str_t                 body, type;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_microshop_not_allowed(r, "GET, HEAD",
                                         "The policy report is read with "
                                         "GET.");
    }

    doc = ngx_microshop_policy_document(r);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = json_dumps(doc, JSON_INDENT(NGX_MICROSHOP_POLICY_INDENT)
                           |JSON_PRESERVE_ORDER);
    json_decref(doc);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the document and a final LF */

    len = ngx_strlen(text);

    body.data = ngx_pnalloc(r->pool, len + 1);
    if (body.data == NULL) {
        free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body.data, text, len);
    body.data[len] = LF;
    body.len = len + 1;

    free(text);

    ngx_str_set(&type, "application/json");

    return ngx_microshop_send_body(r, NGX_HTTP_OK, &type, &body);
}


static json_t *
ngx_microshop_policy_document(ngx_http_request_t *r)
{
    json_t                          *doc;
    ngx_microshop_policy_main_pt    *section;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    doc = json_object();
    if (doc == NULL) {
        return NULL;
    }

    for (section = ngx_microshop_policy_main_sections; *section; section++) {
        if (ngx_microshop_json_merge(doc, (*section)(r, mmcf)) != NGX_OK) {
            json_decref(doc);
            return NULL;
        }
    }

    return doc;
}


/* servers and locations */

static json_t *
ngx_microshop_policy_servers(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    return json_pack("{s:o}", "servers",
                     ngx_microshop_json_list(&cmcf->servers,
                                             ngx_microshop_policy_server));
}


static json_t *
ngx_microshop_policy_server(void *elt)
{
    json_t                     *list;
    ngx_http_core_srv_conf_t   *cscf;
    ngx_http_core_loc_conf_t   *clcf, **clcfp;

    cscf = *(ngx_http_core_srv_conf_t **) elt;

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    /* the server level: requests that match no location */

    clcf = cscf->ctx->loc_conf[ngx_http_core_module.ctx_index];

    if (ngx_microshop_policy_location(list, NULL, clcf, cscf->ctx->loc_conf,
                                      "server")
        != NGX_OK)
    {
        goto failed;
    }

    for (clcfp = cscf->named_locations; clcfp && *clcfp; clcfp++) {
        if (ngx_microshop_policy_location(list, NULL, *clcfp,
                                          (*clcfp)->loc_conf, "named")
            != NGX_OK)
        {
            goto failed;
        }
    }

    /*
     * the server's first name, as nginx keeps it ("~..." for a regex);
     * the full list of names lives only while the configuration is read
     */

    return json_pack("{s:o, s:o}",
                     "server_name", ngx_microshop_json_str(&cscf->server_name),
                     "locations", list);

failed:

    json_decref(list);
    return NULL;
}


/* the locations inside clcf (a server or a location), in nginx's order */

static ngx_int_t
ngx_microshop_policy_walk(json_t *list, ngx_http_core_loc_conf_t *clcf)
{
#if (NGX_PCRE)
    ngx_http_core_loc_conf_t  **clcfp;
#endif

    if (ngx_microshop_policy_tree(list, clcf, clcf->static_locations)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

#if (NGX_PCRE)

    for (clcfp = clcf->regex_locations; clcfp && *clcfp; clcfp++) {
        if (ngx_microshop_policy_location(list, clcf, *clcfp,
                                          (*clcfp)->loc_conf, "regex")
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

#endif

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_tree(json_t *list, ngx_http_core_loc_conf_t *parent,
    ngx_http_location_tree_node_t *node)
{
    if (node == NULL) {
        return NGX_OK;
    }

    if (ngx_microshop_policy_tree(list, parent, node->left) != NGX_OK) {
        return NGX_ERROR;
    }

    if (node->exact
        && ngx_microshop_policy_location(list, parent, node->exact,
                                         node->exact->loc_conf, "exact")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (node->inclusive
        && ngx_microshop_policy_location(list, parent, node->inclusive,
                                         node->inclusive->loc_conf,
                                         node->inclusive->noregex
                                         ? "prefix_noregex" : "prefix")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the locations whose names extend this one */

    if (ngx_microshop_policy_tree(list, parent, node->tree) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_microshop_policy_tree(list, parent, node->right);
}


static ngx_int_t
ngx_microshop_policy_location(json_t *list, ngx_http_core_loc_conf_t *parent,
    ngx_http_core_loc_conf_t *clcf, void **loc_conf, const char *match)
{
    json_t                         *loc;
    ngx_microshop_policy_loc_pt    *section;
    ngx_http_microshop_loc_conf_t  *mlcf;

    mlcf = loc_conf[ngx_microshop_module->ctx_index];

    loc = ngx_microshop_policy_location_head(parent, clcf, match);

    if (json_array_append_new(list, loc) != 0) {
        return NGX_ERROR;
    }

    for (section = ngx_microshop_policy_loc_sections; *section; section++) {
        if (ngx_microshop_json_merge(loc, (*section)(clcf, mlcf)) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* nested locations follow their parent */

    return ngx_microshop_policy_walk(list, clcf);
}


/* what the location is: its name, how it matches, where it is nested */

static json_t *
ngx_microshop_policy_location_head(ngx_http_core_loc_conf_t *parent,
    ngx_http_core_loc_conf_t *clcf, const char *match)
{
    if (parent == NULL || parent->name.len == 0) {
        return json_pack("{s:o, s:s}",
                         "location", ngx_microshop_json_str(&clcf->name),
                         "match", match);
    }

    return json_pack("{s:o, s:s, s:o}",
                     "location", ngx_microshop_json_str(&clcf->name),
                     "match", match,
                     "parent", ngx_microshop_json_str(&parent->name));
}


/* location sections */

static json_t *
ngx_microshop_policy_loc_auth(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    return json_pack("{s:b, s:b, s:b}",
                     "auth", mlcf->auth == 1,
                     "admin", clcf->handler == ngx_microshop_admin_handler,
                     "policy", clcf->handler == ngx_microshop_policy_handler);
}


static json_t *
ngx_microshop_policy_loc_scope(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    ngx_microshop_scope_loc_t  *slcf;

    slcf = &mlcf->scope;

    if (slcf->rules == NULL) {
        /* no rule: any method, no scope */
        return json_pack("{s:n, s:[], s:n, s:o}",
                         "methods", "rules", "allow",
                         "seller", ngx_microshop_json_value(slcf->seller));
    }

    /* rules: as written; allow: null when "*" covers every method */

    return json_pack("{s:o, s:o, s:o, s:o}",
                     "methods", ngx_microshop_policy_scope_methods(slcf),
                     "rules",
                     ngx_microshop_json_list(slcf->rules,
                                             ngx_microshop_policy_scope_rule),
                     "allow", slcf->any ? json_null()
                                        : ngx_microshop_json_str(&slcf->allow),
                     "seller", ngx_microshop_json_value(slcf->seller));
}


/* the effective scopes of each method; a method not listed gets 405 */

static json_t *
ngx_microshop_policy_scope_methods(ngx_microshop_scope_loc_t *slcf)
{
    json_t                         *methods;
    ngx_microshop_policy_method_t  *pm;

    methods = json_object();
    if (methods == NULL) {
        return NULL;
    }

    for (pm = ngx_microshop_policy_methods; pm->name; pm++) {
        if ((slcf->any || (slcf->covered & pm->method))
            && json_object_set_new(methods, pm->name,
                       ngx_microshop_policy_method_scopes(slcf, pm->method))
               != 0)
        {
            goto failed;
        }
    }

    if (slcf->any
        && json_object_set_new(methods, "*",
                               ngx_microshop_policy_method_scopes(slcf,
                                   NGX_MICROSHOP_POLICY_OTHER_METHOD))
           != 0)
    {
        goto failed;
    }

    return methods;

failed:

    json_decref(methods);
    return NULL;
}


/* the scopes of the rules that apply to method (OTHER_METHOD: "*" rules) */

static json_t *
ngx_microshop_policy_method_scopes(ngx_microshop_scope_loc_t *slcf,
    ngx_uint_t method)
{
    json_t                      *scopes;
    ngx_uint_t                   i, m;
    ngx_microshop_scope_rule_t  *rule;

    scopes = json_array();
    if (scopes == NULL) {
        return NULL;
    }

    rule = slcf->rules->elts;

    for (i = 0; i < slcf->rules->nelts; i++) {
        m = rule[i].methods;

        if ((rule[i].any || (m & method)
             || (method == NGX_HTTP_HEAD && (m & NGX_HTTP_GET)))
            && ngx_microshop_json_scopes(scopes, &rule[i].scopes) != NGX_OK)
        {
            json_decref(scopes);
            return NULL;
        }
    }

    return scopes;
}


static json_t *
ngx_microshop_policy_scope_rule(void *elt)
{
    ngx_microshop_scope_rule_t  *rule = elt;

    return json_pack("{s:o, s:o}",
                     "methods", ngx_microshop_json_str(&rule->methods_text),
                     "scopes", ngx_microshop_json_scope_list(&rule->scopes));
}


static json_t *
ngx_microshop_policy_loc_token(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    /* null: not checked */

    return json_pack("{s:o, s:o}",
                     "issuers",
                     ngx_microshop_json_str_list(mlcf->token.issuers),
                     "audiences",
                     ngx_microshop_json_str_list(mlcf->token.audiences));
}


static json_t *
ngx_microshop_policy_loc_rate(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    ngx_microshop_rate_loc_t  *rlcf;

    rlcf = &mlcf->rate;

    if (!rlcf->on) {
        return json_pack("{s:n}", "rate_limit");
    }

    /* key null: the token's seller */

    return json_pack("{s:{s:I, s:o, s:b}}", "rate_limit",
                     "cost", (json_int_t) rlcf->cost,
                     "key", ngx_microshop_json_value(rlcf->key),
                     "dry_run", rlcf->dry_run == 1);
}


static json_t *
ngx_microshop_policy_loc_idem(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    u_char                    methods[NGX_MICROSHOP_METHODS_TEXT_LEN];
    size_t                    len;
    ngx_microshop_idem_loc_t  *ilcf;

    ilcf = &mlcf->idem;

    if (ilcf->mode == NGX_MICROSHOP_IDEM_OFF) {
        return json_pack("{s:n}", "idempotency");
    }

    len = ngx_microshop_methods_text(methods, ilcf->methods) - methods;

    return json_pack("{s:{s:s, s:s%, s:o, s:o, s:I, s:o}}", "idempotency",
                     "mode", ilcf->mode == NGX_MICROSHOP_IDEM_REQUIRED
                             ? "required" : "on",
                     "methods", (char *) methods, len,
                     "ttl", ngx_microshop_json_msec(ilcf->ttl),
                     "lock", ngx_microshop_json_msec(ilcf->lock),
                     "max_body", (json_int_t) ilcf->max_body,
                     "header", ngx_microshop_json_str(&ilcf->header));
}


static json_t *
ngx_microshop_policy_loc_cache(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    ngx_microshop_cache_loc_t  *c;

    c = &mlcf->cache;

    if (c->sku == NULL) {
        return json_pack("{s:n}", "inventory_cache");
    }

    return json_pack("{s:{s:o, s:o, s:o, s:o, s:o}}", "inventory_cache",
                     "sku", ngx_microshop_json_value(c->sku),
                     "ttl", ngx_microshop_json_msec(c->ttl),
                     "stale_while_revalidate",
                     ngx_microshop_json_msec(c->stale_while_revalidate),
                     "stale_if_error",
                     ngx_microshop_json_msec(c->stale_if_error),
                     "refresh_retry",
                     ngx_microshop_json_msec(c->refresh_retry));
}


static json_t *
ngx_microshop_policy_loc_reserve(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    if (!mlcf->reserve.on) {
        return json_pack("{s:n}", "reserve");
    }

    return json_pack("{s:{s:o}}", "reserve",
                     "hold", ngx_microshop_json_msec(mlcf->reserve.hold));
}


static json_t *
ngx_microshop_policy_loc_events(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    ngx_microshop_events_loc_t  *ev;

    ev = mlcf->events;

    if (ev == NULL) {
        return json_pack("{s:n}", "events");
    }

    /* neither the secret nor where it lives */

    return json_pack("{s:{s:I}}", "events",
                     "tolerance", (json_int_t) ev->tolerance);
}


static json_t *
ngx_microshop_policy_loc_exchange(ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    ngx_microshop_exchange_loc_t  *x;

    x = mlcf->exchange;

    if (x == NULL) {
        return json_pack("{s:n}", "token_exchange");
    }

    /* what it mints: the class, the lifetime and the ceiling in effect */

    return json_pack("{s:{s:o, s:I, s:o, s:o}}", "token_exchange",
                     "class", ngx_microshop_json_str(&x->class_name),
                     "ttl", (json_int_t) (x->ttl ? x->ttl
                                                 : x->tclass->max_ttl),
                     "scopes", x->scopes.len
                               ? ngx_microshop_json_scope_list(&x->scopes)
                               : json_null(),
                     "require_scope", ngx_microshop_json_str(&x->require));
}


/* http-level sections */

static json_t *
ngx_microshop_policy_token(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    /* the number of JWKS files, not their paths: their keys are in "keys" */

    return json_pack("{s:I, s:o, s:I}",
                     "leeway", (json_int_t) mmcf->token.leeway,
                     "claims", ngx_microshop_policy_claims(mmcf),
                     "jwks", (json_int_t) mmcf->token.jwks.nelts);
}


/* the claim names in effect, defaults included */

static json_t *
ngx_microshop_policy_claims(ngx_http_microshop_main_conf_t *mmcf)
{
    json_t                        *claims;
    ngx_str_t                     *name;
    ngx_uint_t                     i;
    ngx_microshop_policy_claim_t  *claim;

    claims = json_object();
    if (claims == NULL) {
        return NULL;
    }

    for (i = 0; i < NGX_MICROSHOP_ID_JTI; i++) {
        claim = &ngx_microshop_policy_claim_defaults[i];
        name = mmcf->token.claim[i].len ? &mmcf->token.claim[i]
                                        : &claim->claim;

        if (json_object_set_new(claims, (char *) claim->name.data,
                                ngx_microshop_json_str(name))
            != 0)
        {
            json_decref(claims);
            return NULL;
        }
    }

    return claims;
}


static json_t *
ngx_microshop_policy_keys(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    return json_pack("{s:o}", "keys",
                     ngx_microshop_json_array(mmcf->token.keys.keys,
                                              mmcf->token.keys.nkeys,
                                              sizeof(microshop_key_t),
                                              ngx_microshop_policy_key));
}


/*
 * What identifies the key, never its material nor its file.  A public key
 * shows its RFC 7638 thumbprint; a secret shows none (its thumbprint would
 * be a hash of the secret, open to offline guessing) and not its length.
 */

static json_t *
ngx_microshop_policy_key(void *elt)
{
    microshop_key_t  *k = elt;

    char        thumbprint[MICROSHOP_THUMBPRINT_LEN + 1];
    const char  *type;

    type = ngx_microshop_policy_key_type(k->alg);

    if (k->pkey
        && microshop_key_thumbprint(k, thumbprint, sizeof(thumbprint)) != 0)
    {
        return NULL;
    }

    /* ecdsa_s: which signature forms an EC key takes (microshop_jwt_key) */
    return json_pack("{s:s?, s:s, s:s, s:o, s:s?, s:s?}",
                     "kid", k->kid,
                     "alg", microshop_alg_name(k->alg),
                     "type", type,
                     "bits", k->pkey ? json_integer(EVP_PKEY_bits(k->pkey))
                                     : json_null(),
                     "thumbprint", k->pkey ? thumbprint : NULL,
                     "ecdsa_s", ngx_strcmp(type, "EC") != 0 ? NULL
                                : k->any_s ? "any" : "low");
}


/*
 * The gateway's own keys (microshop_jwt_signing_key): kid, alg, whether it
 * signs (the first) or is retired, and its thumbprint, which its entry in
 * "keys" shows too.  Neither the key nor its file.
 */

static json_t *
ngx_microshop_policy_signing_keys(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    char                          thumbprint[MICROSHOP_THUMBPRINT_LEN + 1];
    json_t                       *list;
    ngx_uint_t                    i;
    const microshop_key_t        *key;
    ngx_microshop_signing_key_t  *sk;

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    sk = mmcf->mint.keys.elts;

    for (i = 0; i < mmcf->mint.keys.nelts; i++) {
        key = ngx_microshop_mint_public_key(mmcf, i);

        if (key == NULL
            || microshop_key_thumbprint(key, thumbprint, sizeof(thumbprint))
               != 0
            || json_array_append_new(list,
                   json_pack("{s:o, s:s, s:b, s:s}",
                             "kid", ngx_microshop_json_str(&sk[i].kid),
                             "alg", microshop_alg_name(sk[i].alg),
                             "signs", i == 0,
                             "thumbprint", thumbprint))
               != 0)
        {
            json_decref(list);
            return NULL;
        }
    }

    return json_pack("{s:o}", "signing_keys", list);
}


/* the JWK "kty" of the key's algorithm */

static const char *
ngx_microshop_policy_key_type(microshop_alg_t alg)
{
    switch (alg) {
    case MICROSHOP_ALG_HS256:
    case MICROSHOP_ALG_HS384:
    case MICROSHOP_ALG_HS512:
        return "oct";

    case MICROSHOP_ALG_RS256:
    case MICROSHOP_ALG_RS384:
    case MICROSHOP_ALG_RS512:
        return "RSA";

    case MICROSHOP_ALG_ES256:
    case MICROSHOP_ALG_ES384:
    case MICROSHOP_ALG_ES512:
        return "EC";

    default:
        return "unknown";
    }
}


static json_t *
ngx_microshop_policy_classes(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    return json_pack("{s:o}", "token_classes",
                     ngx_microshop_json_list(&mmcf->token.classes,
                                             ngx_microshop_policy_class));
}


static json_t *
ngx_microshop_policy_class(void *elt)
{
    ngx_microshop_token_class_t  *tc = elt;

    /* the scope ceiling; null: none */

    return json_pack("{s:o, s:I, s:o}",
                     "name", ngx_microshop_json_str(&tc->name),
                     "max_ttl", (json_int_t) tc->max_ttl,
                     "scopes", tc->scopes.len
                               ? ngx_microshop_json_scope_list(&tc->scopes)
                               : json_null());
}


static json_t *
ngx_microshop_policy_rate_tiers(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    return json_pack("{s:o}", "rate_tiers",
                     ngx_microshop_json_list(&mmcf->rate.tiers,
                                             ngx_microshop_policy_rate_tier));
}


static json_t *
ngx_microshop_policy_rate_tier(void *elt)
{
    ngx_microshop_rate_tier_t  *tier = elt;

    return json_pack("{s:o, s:o, s:I}",
                     "name", ngx_microshop_json_str(&tier->name),
                     "rate", ngx_microshop_json_str(&tier->rate_text),
                     "burst", (json_int_t) tier->burst);
}


static json_t *
ngx_microshop_policy_zone(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    if (mmcf->zone == NULL) {
        return json_pack("{s:n}", "zone");
    }

    /* the shares as the zone applies them, in bytes */
    return json_pack("{s:{s:o, s:I, s:I, s:I, s:I}}", "zone",
                     "name", ngx_microshop_json_str(&mmcf->zone->name),
                     "size", (json_int_t) mmcf->zone->size,
                     "seller_quota", (json_int_t) mmcf->zone->sh->quota,
                     "reserve", (json_int_t) mmcf->zone->sh->reserve,
                     "token_cache",
                     (json_int_t) mmcf->zone->sh->token_bound);
}


static json_t *
ngx_microshop_policy_audit(ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    if (mmcf->audit.file == NULL) {
        return json_pack("{s:n}", "audit_log");
    }

    return json_pack("{s:{s:o, s:I, s:o}}", "audit_log",
                     "file", ngx_microshop_json_str(&mmcf->audit.file->name),
                     "buffer", (json_int_t) mmcf->audit.buffer,
                     "flush", ngx_microshop_json_msec(mmcf->audit.flush));
}
