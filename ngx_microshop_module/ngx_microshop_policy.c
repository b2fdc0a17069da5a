/*
 * ngx_microshop: the policy report (see the header).
 *
 * The document is built with jansson when it is asked for: it is an audit
 * endpoint, not a hot path.  It walks every server and, in each, every
 * location nginx can still reach after configuration: the static location
 * tree, the regex array and the named locations (the "locations" queues
 * are gone by then), nested locations included.
 *
 * Each feature reports itself with one small function: the location
 * sections in ngx_microshop_policy_loc_sections[], the http-level ones in
 * ngx_microshop_policy_main_sections[].  A new feature adds a function and
 * a line there.  Key material is never reported, only what identifies a
 * key: kid, alg, type, size and the file it came from.
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
#include "ngx_microshop_inventory.h"
#include "ngx_microshop_audit.h"
#include "ngx_microshop_policy.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_admin.h"
#include "ngx_microshop_events.h"


typedef ngx_int_t (*ngx_microshop_policy_main_pt)(json_t *doc,
    ngx_http_request_t *r, ngx_http_microshop_main_conf_t *mmcf);

typedef ngx_int_t (*ngx_microshop_policy_loc_pt)(json_t *loc,
    ngx_http_core_loc_conf_t *clcf, ngx_http_microshop_loc_conf_t *mlcf);


typedef struct {
    const char                  *name;
    ngx_uint_t                   method;
} ngx_microshop_policy_method_t;


static ngx_int_t ngx_microshop_policy_handler(ngx_http_request_t *r);
static json_t *ngx_microshop_policy_document(ngx_http_request_t *r);
static ngx_int_t ngx_microshop_policy_servers(json_t *doc,
    ngx_http_request_t *r, ngx_http_microshop_main_conf_t *mmcf);
static ngx_int_t ngx_microshop_policy_server(json_t *servers,
    ngx_http_core_srv_conf_t *cscf);
static ngx_int_t ngx_microshop_policy_walk(json_t *list,
    ngx_http_core_loc_conf_t *clcf);
static ngx_int_t ngx_microshop_policy_tree(json_t *list,
    ngx_http_core_loc_conf_t *parent, ngx_http_location_tree_node_t *node);
static ngx_int_t ngx_microshop_policy_location(json_t *list,
    ngx_http_core_loc_conf_t *parent, ngx_http_core_loc_conf_t *clcf,
    void **loc_conf, const char *match);

static ngx_int_t ngx_microshop_policy_loc_auth(json_t *loc,
    ngx_http_core_loc_conf_t *clcf, ngx_http_microshop_loc_conf_t *mlcf);
static ngx_int_t ngx_microshop_policy_loc_scope(json_t *loc,
    ngx_http_core_loc_conf_t *clcf, ngx_http_microshop_loc_conf_t *mlcf);
static ngx_int_t ngx_microshop_policy_loc_token(json_t *loc,
    ngx_http_core_loc_conf_t *clcf, ngx_http_microshop_loc_conf_t *mlcf);
static ngx_int_t ngx_microshop_policy_loc_rate(json_t *loc,
    ngx_http_core_loc_conf_t *clcf, ngx_http_microshop_loc_conf_t *mlcf);
static ngx_int_t ngx_microshop_policy_loc_idem(json_t *loc,
    ngx_http_core_loc_conf_t *clcf, ngx_http_microshop_loc_conf_t *mlcf);
static ngx_int_t ngx_microshop_policy_loc_cache(json_t *loc,
    ngx_http_core_loc_conf_t *clcf, ngx_http_microshop_loc_conf_t *mlcf);
static ngx_int_t ngx_microshop_policy_loc_reserve(json_t *loc,
    ngx_http_core_loc_conf_t *clcf, ngx_http_microshop_loc_conf_t *mlcf);
static ngx_int_t ngx_microshop_policy_loc_events(json_t *loc,
    ngx_http_core_loc_conf_t *clcf, ngx_http_microshop_loc_conf_t *mlcf);

static ngx_int_t ngx_microshop_policy_keys(json_t *doc,
    ngx_http_request_t *r, ngx_http_microshop_main_conf_t *mmcf);
static ngx_int_t ngx_microshop_policy_token(json_t *doc,
    ngx_http_request_t *r, ngx_http_microshop_main_conf_t *mmcf);
static ngx_int_t ngx_microshop_policy_classes(json_t *doc,
    ngx_http_request_t *r, ngx_http_microshop_main_conf_t *mmcf);
static ngx_int_t ngx_microshop_policy_rate_tiers(json_t *doc,
    ngx_http_request_t *r, ngx_http_microshop_main_conf_t *mmcf);
static ngx_int_t ngx_microshop_policy_zone(json_t *doc,
    ngx_http_request_t *r, ngx_http_microshop_main_conf_t *mmcf);
static ngx_int_t ngx_microshop_policy_audit(json_t *doc,
    ngx_http_request_t *r, ngx_http_microshop_main_conf_t *mmcf);

static ngx_int_t ngx_microshop_json_set(json_t *obj, const char *key,
    json_t *value);
static ngx_int_t ngx_microshop_json_append(json_t *array, json_t *value);
static json_t *ngx_microshop_json_str(ngx_str_t *s);
static json_t *ngx_microshop_json_str_list(ngx_array_t *a);
static json_t *ngx_microshop_json_msec(ngx_msec_t ms);
static ngx_int_t ngx_microshop_json_scopes(json_t *array, ngx_str_t *set);


/* http level, in the order of the document (servers come last) */
static ngx_microshop_policy_main_pt  ngx_microshop_policy_main_sections[] = {
    ngx_microshop_policy_token,
    ngx_microshop_policy_keys,
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


/* the default claim names (microshop_jwt_claims) */
static ngx_str_t  ngx_microshop_policy_claims[][2] = {
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
    ngx_str_t                 body, type, allow;
    ngx_microshop_problem_t   problem;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        ngx_str_set(&allow, "GET, HEAD");

        if (ngx_microshop_header_add(r, "Allow", &allow) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memzero(&problem, sizeof(ngx_microshop_problem_t));
        problem.status = NGX_HTTP_NOT_ALLOWED;
        ngx_str_set(&problem.name, "method-not-allowed");
        ngx_str_set(&problem.title, "Method not allowed");
        ngx_str_set(&problem.detail, "The policy report is read with GET.");

        return ngx_microshop_problem_output(r, &problem);
    }

    doc = ngx_microshop_policy_document(r);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = json_dumps(doc, JSON_INDENT(2)|JSON_PRESERVE_ORDER);
    json_decref(doc);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

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
        if ((*section)(doc, r, mmcf) != NGX_OK) {
            json_decref(doc);
            return NULL;
        }
    }

    return doc;
}


/* servers and locations */

static ngx_int_t
ngx_microshop_policy_servers(json_t *doc, ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    json_t                      *servers;
    ngx_uint_t                   s;
    ngx_http_core_srv_conf_t   **cscfp;
    ngx_http_core_main_conf_t   *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    servers = json_array();

    if (ngx_microshop_json_set(doc, "servers", servers) != NGX_OK) {
        return NGX_ERROR;
    }

    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {
        if (ngx_microshop_policy_server(servers, cscfp[s]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_server(json_t *servers, ngx_http_core_srv_conf_t *cscf)
{
    json_t                     *server, *list;
    ngx_http_core_loc_conf_t   *clcf, **clcfp;

    server = json_object();

    /*
     * the server's first name, as nginx keeps it ("~..." for a regex);
     * the full list of names lives only while the configuration is read
     */

    if (ngx_microshop_json_append(servers, server) != NGX_OK
        || ngx_microshop_json_set(server, "server_name",
                                  ngx_microshop_json_str(&cscf->server_name))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    list = json_array();

    if (ngx_microshop_json_set(server, "locations", list) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the server level: requests that match no location */

    clcf = cscf->ctx->loc_conf[ngx_http_core_module.ctx_index];

    if (ngx_microshop_policy_location(list, NULL, clcf, cscf->ctx->loc_conf,
                                      "server")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (cscf->named_locations) {
        for (clcfp = cscf->named_locations; *clcfp; clcfp++) {
            if (ngx_microshop_policy_location(list, NULL, *clcfp,
                                              (*clcfp)->loc_conf, "named")
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
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

    if (clcf->regex_locations) {
        for (clcfp = clcf->regex_locations; *clcfp; clcfp++) {
            if (ngx_microshop_policy_location(list, clcf, *clcfp,
                                              (*clcfp)->loc_conf, "regex")
                != NGX_OK)
            {
                return NGX_ERROR;
            }
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

    loc = json_object();

    if (ngx_microshop_json_append(list, loc) != NGX_OK
        || ngx_microshop_json_set(loc, "location",
                                  ngx_microshop_json_str(&clcf->name))
           != NGX_OK
        || ngx_microshop_json_set(loc, "match", json_string(match)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (parent
        && parent->name.len
        && ngx_microshop_json_set(loc, "parent",
                                  ngx_microshop_json_str(&parent->name))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (section = ngx_microshop_policy_loc_sections; *section; section++) {
        if ((*section)(loc, clcf, mlcf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* nested locations follow their parent */

    return ngx_microshop_policy_walk(list, clcf);
}


/* location sections */

static ngx_int_t
ngx_microshop_policy_loc_auth(json_t *loc, ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    ngx_uint_t                   admin;

    admin = (clcf->handler == ngx_microshop_admin_handler);

    if (ngx_microshop_json_set(loc, "auth", json_boolean(mlcf->auth == 1))
        != NGX_OK
        || ngx_microshop_json_set(loc, "admin", json_boolean(admin)) != NGX_OK
        || ngx_microshop_json_set(loc, "policy",
                               json_boolean(clcf->handler
                                            == ngx_microshop_policy_handler))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_loc_scope(json_t *loc, ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    json_t                         *methods, *rules, *o, *a;
    ngx_uint_t                      i, m;
    ngx_microshop_scope_loc_t      *slcf;
    ngx_microshop_scope_rule_t     *rule;
    ngx_microshop_policy_method_t  *pm;

    slcf = &mlcf->scope;

    if (slcf->rules == NULL) {
        /* no rule: any method, no scope */
        if (ngx_microshop_json_set(loc, "methods", json_null()) != NGX_OK
            || ngx_microshop_json_set(loc, "rules", json_array()) != NGX_OK
            || ngx_microshop_json_set(loc, "allow", json_null()) != NGX_OK)
        {
            return NGX_ERROR;
        }

        goto seller;
    }

    rule = slcf->rules->elts;

    /* the effective scopes of each method; a method not listed gets 405 */

    methods = json_object();

    if (ngx_microshop_json_set(loc, "methods", methods) != NGX_OK) {
        return NGX_ERROR;
    }

    for (pm = ngx_microshop_policy_methods; pm->name; pm++) {

        if (!slcf->any && !(slcf->covered & pm->method)) {
            continue;
        }

        a = json_array();

        if (ngx_microshop_json_set(methods, pm->name, a) != NGX_OK) {
            return NGX_ERROR;
        }

        for (i = 0; i < slcf->rules->nelts; i++) {
            m = rule[i].methods;

            if (rule[i].any || (m & pm->method)
                || (pm->method == NGX_HTTP_HEAD && (m & NGX_HTTP_GET)))
            {
                if (ngx_microshop_json_scopes(a, &rule[i].scopes) != NGX_OK) {
                    return NGX_ERROR;
                }
            }
        }
    }

    if (slcf->any) {
        /* any other method */
        a = json_array();

        if (ngx_microshop_json_set(methods, "*", a) != NGX_OK) {
            return NGX_ERROR;
        }

        for (i = 0; i < slcf->rules->nelts; i++) {
            if (rule[i].any
                && ngx_microshop_json_scopes(a, &rule[i].scopes) != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    /* the rules as written */

    rules = json_array();

    if (ngx_microshop_json_set(loc, "rules", rules) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < slcf->rules->nelts; i++) {
        o = json_object();
        a = json_array();

        if (ngx_microshop_json_append(rules, o) != NGX_OK
            || ngx_microshop_json_set(o, "methods",
                               ngx_microshop_json_str(&rule[i].methods_text))
               != NGX_OK
            || ngx_microshop_json_set(o, "scopes", a) != NGX_OK
            || ngx_microshop_json_scopes(a, &rule[i].scopes) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_microshop_json_set(loc, "allow",
                               slcf->any ? json_null()
                                   : ngx_microshop_json_str(&slcf->allow))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

seller:

    return ngx_microshop_json_set(loc, "seller",
                             slcf->seller
                             ? ngx_microshop_json_str(&slcf->seller->value)
                             : json_null());
}


static ngx_int_t
ngx_microshop_policy_loc_token(json_t *loc, ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    /* null: not checked */

    if (ngx_microshop_json_set(loc, "issuers",
                         ngx_microshop_json_str_list(mlcf->token.issuers))
        != NGX_OK
        || ngx_microshop_json_set(loc, "audiences",
                         ngx_microshop_json_str_list(mlcf->token.audiences))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_loc_rate(json_t *loc, ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    json_t                    *rate;
    ngx_microshop_rate_loc_t  *rlcf;

    rlcf = &mlcf->rate;

    if (!rlcf->on) {
        return ngx_microshop_json_set(loc, "rate_limit", json_null());
    }

    rate = json_object();

    /* key null: the token's seller */

    if (ngx_microshop_json_set(loc, "rate_limit", rate) != NGX_OK
        || ngx_microshop_json_set(rate, "cost", json_integer(rlcf->cost))
           != NGX_OK
        || ngx_microshop_json_set(rate, "key",
                                  rlcf->key
                                  ? ngx_microshop_json_str(&rlcf->key->value)
                                  : json_null())
           != NGX_OK
        || ngx_microshop_json_set(rate, "dry_run",
                                  json_boolean(rlcf->dry_run == 1))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_loc_idem(json_t *loc, ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    u_char                    methods[NGX_MICROSHOP_METHODS_TEXT_LEN];
    json_t                   *idem;
    ngx_str_t                 text;
    ngx_microshop_idem_loc_t  *ilcf;

    ilcf = &mlcf->idem;

    if (ilcf->mode == NGX_MICROSHOP_IDEM_OFF) {
        return ngx_microshop_json_set(loc, "idempotency", json_null());
    }

    text.data = methods;
    text.len = ngx_microshop_methods_text(methods, ilcf->methods) - methods;

    idem = json_object();

    if (ngx_microshop_json_set(loc, "idempotency", idem) != NGX_OK
        || ngx_microshop_json_set(idem, "mode",
                         json_string(ilcf->mode == NGX_MICROSHOP_IDEM_REQUIRED
                                     ? "required" : "on"))
           != NGX_OK
        || ngx_microshop_json_set(idem, "methods",
                                  ngx_microshop_json_str(&text))
           != NGX_OK
        || ngx_microshop_json_set(idem, "ttl",
                                  ngx_microshop_json_msec(ilcf->ttl))
           != NGX_OK
        || ngx_microshop_json_set(idem, "lock",
                                  ngx_microshop_json_msec(ilcf->lock))
           != NGX_OK
        || ngx_microshop_json_set(idem, "max_body",
                                  json_integer(ilcf->max_body))
           != NGX_OK
        || ngx_microshop_json_set(idem, "header",
                                  ngx_microshop_json_str(&ilcf->header))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_loc_cache(json_t *loc, ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    json_t                     *cache;
    ngx_microshop_cache_loc_t  *c;

    c = &mlcf->cache;

    if (c->sku == NULL) {
        return ngx_microshop_json_set(loc, "inventory_cache", json_null());
    }

    cache = json_object();

    if (ngx_microshop_json_set(loc, "inventory_cache", cache) != NGX_OK
        || ngx_microshop_json_set(cache, "sku",
                                  ngx_microshop_json_str(&c->sku->value))
           != NGX_OK
        || ngx_microshop_json_set(cache, "ttl",
                                  ngx_microshop_json_msec(c->ttl))
           != NGX_OK
        || ngx_microshop_json_set(cache, "stale_if_error",
                                  ngx_microshop_json_msec(c->stale_if_error))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_loc_reserve(json_t *loc, ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    json_t  *reserve;

    if (!mlcf->reserve.on) {
        return ngx_microshop_json_set(loc, "reserve", json_null());
    }

    reserve = json_object();

    if (ngx_microshop_json_set(loc, "reserve", reserve) != NGX_OK
        || ngx_microshop_json_set(reserve, "hold",
                               ngx_microshop_json_msec(mlcf->reserve.hold))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_loc_events(json_t *loc, ngx_http_core_loc_conf_t *clcf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    json_t                      *events;
    ngx_microshop_events_loc_t  *ev;

    ev = mlcf->events;

    if (ev == NULL) {
        return ngx_microshop_json_set(loc, "events", json_null());
    }

    /* the secret's file, never the secret */

    events = json_object();

    if (ngx_microshop_json_set(loc, "events", events) != NGX_OK
        || ngx_microshop_json_set(events, "secret_file",
                                  ngx_microshop_json_str(&ev->secret_file))
           != NGX_OK
        || ngx_microshop_json_set(events, "tolerance",
                                  json_integer(ev->tolerance))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* http-level sections */

static ngx_int_t
ngx_microshop_policy_token(json_t *doc, ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    json_t      *claims, *jwks;
    ngx_str_t   *name, *file;
    ngx_uint_t   i;

    if (ngx_microshop_json_set(doc, "leeway",
                               json_integer(mmcf->token.leeway))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    claims = json_object();

    if (ngx_microshop_json_set(doc, "claims", claims) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(ngx_microshop_policy_claims)
                    / sizeof(ngx_microshop_policy_claims[0]); i++)
    {
        name = &mmcf->token.claim[i];

        if (name->len == 0) {
            name = &ngx_microshop_policy_claims[i][1];
        }

        if (ngx_microshop_json_set(claims,
                         (char *) ngx_microshop_policy_claims[i][0].data,
                         ngx_microshop_json_str(name))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    jwks = json_array();

    if (ngx_microshop_json_set(doc, "jwks", jwks) != NGX_OK) {
        return NGX_ERROR;
    }

    file = mmcf->token.jwks.elts;

    for (i = 0; i < mmcf->token.jwks.nelts; i++) {
        if (ngx_microshop_json_append(jwks, ngx_microshop_json_str(&file[i]))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_keys(json_t *doc, ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    size_t            i;
    json_t           *keys, *key;
    const char       *type;
    microshop_key_t  *k;

    keys = json_array();

    if (ngx_microshop_json_set(doc, "keys", keys) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < mmcf->token.keys.nkeys; i++) {
        k = &mmcf->token.keys.keys[i];

        /* what identifies the key, never its material */

        switch (k->alg) {
        case MICROSHOP_ALG_HS256:
        case MICROSHOP_ALG_HS384:
        case MICROSHOP_ALG_HS512:
            type = "oct";
            break;

        case MICROSHOP_ALG_RS256:
        case MICROSHOP_ALG_RS384:
        case MICROSHOP_ALG_RS512:
            type = "RSA";
            break;

        case MICROSHOP_ALG_ES256:
        case MICROSHOP_ALG_ES384:
        case MICROSHOP_ALG_ES512:
            type = "EC";
            break;

        default:
            type = "unknown";
        }

        key = json_object();

        if (ngx_microshop_json_append(keys, key) != NGX_OK
            || ngx_microshop_json_set(key, "kid",
                                      k->kid ? json_string(k->kid)
                                             : json_null())
               != NGX_OK
            || ngx_microshop_json_set(key, "alg",
                                  json_string(microshop_alg_name(k->alg)))
               != NGX_OK
            || ngx_microshop_json_set(key, "type", json_string(type))
               != NGX_OK
            || ngx_microshop_json_set(key, "bits",
                               k->pkey ? json_integer(EVP_PKEY_bits(k->pkey))
                                       : json_null())
               != NGX_OK
            || ngx_microshop_json_set(key, "source",
                                      k->source ? json_string(k->source)
                                                : json_null())
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_classes(json_t *doc, ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    json_t                       *classes, *c, *scopes;
    ngx_uint_t                    i;
    ngx_microshop_token_class_t  *tc;

    classes = json_array();

    if (ngx_microshop_json_set(doc, "token_classes", classes) != NGX_OK) {
        return NGX_ERROR;
    }

    tc = mmcf->token.classes.elts;

    for (i = 0; i < mmcf->token.classes.nelts; i++) {
        c = json_object();

        if (ngx_microshop_json_append(classes, c) != NGX_OK
            || ngx_microshop_json_set(c, "name",
                                      ngx_microshop_json_str(&tc[i].name))
               != NGX_OK
            || ngx_microshop_json_set(c, "max_ttl",
                                      json_integer(tc[i].max_ttl))
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* the scope ceiling; null: none */

        if (tc[i].scopes.len == 0) {
            if (ngx_microshop_json_set(c, "scopes", json_null()) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        scopes = json_array();

        if (ngx_microshop_json_set(c, "scopes", scopes) != NGX_OK
            || ngx_microshop_json_scopes(scopes, &tc[i].scopes) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_rate_tiers(json_t *doc, ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    json_t                     *tiers, *t;
    ngx_uint_t                  i;
    ngx_microshop_rate_tier_t  *tier;

    tiers = json_array();

    if (ngx_microshop_json_set(doc, "rate_tiers", tiers) != NGX_OK) {
        return NGX_ERROR;
    }

    tier = mmcf->rate.tiers.elts;

    for (i = 0; i < mmcf->rate.tiers.nelts; i++) {
        t = json_object();

        if (ngx_microshop_json_append(tiers, t) != NGX_OK
            || ngx_microshop_json_set(t, "name",
                                      ngx_microshop_json_str(&tier[i].name))
               != NGX_OK
            || ngx_microshop_json_set(t, "rate",
                                  ngx_microshop_json_str(&tier[i].rate_text))
               != NGX_OK
            || ngx_microshop_json_set(t, "burst",
                                      json_integer(tier[i].burst))
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_zone(json_t *doc, ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    json_t  *zone;

    if (mmcf->zone == NULL) {
        return ngx_microshop_json_set(doc, "zone", json_null());
    }

    zone = json_object();

    if (ngx_microshop_json_set(doc, "zone", zone) != NGX_OK
        || ngx_microshop_json_set(zone, "name",
                                  ngx_microshop_json_str(&mmcf->zone->name))
           != NGX_OK
        || ngx_microshop_json_set(zone, "size",
                                  json_integer(mmcf->zone->size))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_policy_audit(json_t *doc, ngx_http_request_t *r,
    ngx_http_microshop_main_conf_t *mmcf)
{
    json_t  *audit;

    if (mmcf->audit.file == NULL) {
        return ngx_microshop_json_set(doc, "audit_log", json_null());
    }

    audit = json_object();

    if (ngx_microshop_json_set(doc, "audit_log", audit) != NGX_OK
        || ngx_microshop_json_set(audit, "file",
                              ngx_microshop_json_str(&mmcf->audit.file->name))
           != NGX_OK
        || ngx_microshop_json_set(audit, "buffer",
                                  json_integer(mmcf->audit.buffer))
           != NGX_OK
        || ngx_microshop_json_set(audit, "flush",
                                  ngx_microshop_json_msec(mmcf->audit.flush))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* jansson helpers: a NULL value (allocation failed) is an error */

static ngx_int_t
ngx_microshop_json_set(json_t *obj, const char *key, json_t *value)
{
    /* json_object_set_new() takes the reference even when it fails */
    return json_object_set_new(obj, key, value) == 0 ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_microshop_json_append(json_t *array, json_t *value)
{
    return json_array_append_new(array, value) == 0 ? NGX_OK : NGX_ERROR;
}


/*
 * A JSON string of configuration text.  Text that is not UTF-8 (nginx.conf
 * may hold any byte) is kept readable: each byte >= 0x80 becomes the code
 * point of the same value.
 */

static json_t *
ngx_microshop_json_str(ngx_str_t *s)
{
    u_char      *p, *d;
    json_t      *j;
    ngx_uint_t   i;

    if (s->len == 0) {
        return json_string("");
    }

    j = json_stringn((char *) s->data, s->len);
    if (j) {
        return j;
    }

    p = ngx_alloc(2 * s->len, ngx_cycle->log);
    if (p == NULL) {
        return NULL;
    }

    d = p;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x80) {
            *d++ = s->data[i];

        } else {
            *d++ = 0xc0 | (s->data[i] >> 6);
            *d++ = 0x80 | (s->data[i] & 0x3f);
        }
    }

    j = json_stringn((char *) p, d - p);

    ngx_free(p);

    return j;
}


/* an array of strings, or null when a is NULL */

static json_t *
ngx_microshop_json_str_list(ngx_array_t *a)
{
    json_t      *list;
    ngx_str_t   *s;
    ngx_uint_t   i;

    if (a == NULL) {
        return json_null();
    }

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    s = a->elts;

    for (i = 0; i < a->nelts; i++) {
        if (ngx_microshop_json_append(list, ngx_microshop_json_str(&s[i]))
            != NGX_OK)
        {
            json_decref(list);
            return NULL;
        }
    }

    return list;
}


/* a time in seconds, as the other times of the document */

static json_t *
ngx_microshop_json_msec(ngx_msec_t ms)
{
    if (ms % 1000 == 0) {
        return json_integer(ms / 1000);
    }

    return json_real(ms / 1000.0);
}


/* the scopes of a normalized set, each once, appended to array */

static ngx_int_t
ngx_microshop_json_scopes(json_t *array, ngx_str_t *set)
{
    u_char     *p, *last, *e;
    size_t      i;
    json_t     *v;
    ngx_str_t   scope;

    p = set->data;
    last = p + set->len;

    while (p < last) {
        e = ngx_strlchr(p, last, ' ');
        if (e == NULL) {
            e = last;
        }

        scope.data = p;
        scope.len = e - p;
        p = e + 1;

        if (scope.len == 0) {
            continue;
        }

        json_array_foreach(array, i, v) {
            if (json_string_length(v) == scope.len
                && ngx_strncmp(json_string_value(v), scope.data, scope.len)
                   == 0)
            {
                break;
            }
        }

        if (i < json_array_size(array)) {
            continue;
        }

        if (ngx_microshop_json_append(array, ngx_microshop_json_str(&scope))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
