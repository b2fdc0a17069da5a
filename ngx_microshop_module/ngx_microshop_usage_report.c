/*
 * ngx_microshop: the audit report (microshop_audit_report), a content
 * handler for the security team: per token class and per subject, the
 * scopes granted in the window, those exercised, those never used, and a
 * least-privilege list (docs/directives.md "microshop_audit_report",
 * docs/audit-playbook.md).  It reads a copy of the usage block
 * (ngx_microshop_usage.c), so the zone is locked only for the copy.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_metrics.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_admin.h"
#include "ngx_microshop_json.h"
#include "ngx_microshop_usage.h"

#include "microshop_scope.h"
#include "microshop_usage.h"


#define NGX_MICROSHOP_USAGE_WINDOW_MIN  60
#define NGX_MICROSHOP_USAGE_WINDOW_MAX  (31 * 86400)


typedef struct {
    const microshop_usage_t  *u;
    time_t                    now;
    time_t                    since;
    json_t                   *least;
} ngx_microshop_report_t;


static ngx_int_t ngx_microshop_audit_report_handler(ngx_http_request_t *r);
static void ngx_microshop_audit_report_done(ngx_http_request_t *r,
    ngx_microshop_op_t *op);
static json_t *ngx_microshop_report_document(ngx_http_request_t *r,
    ngx_microshop_usage_loc_t *ul, ngx_microshop_op_t *op);
static json_t *ngx_microshop_report_classes(ngx_microshop_report_t *rp);
static json_t *ngx_microshop_report_subjects(ngx_http_request_t *r,
    ngx_microshop_report_t *rp, ngx_uint_t max);
static json_t *ngx_microshop_report_others(ngx_microshop_report_t *rp);
static ngx_int_t ngx_microshop_report_ceilings(ngx_http_request_t *r,
    ngx_microshop_report_t *rp);
static ngx_int_t ngx_microshop_report_scopes(ngx_microshop_report_t *rp,
    const microshop_usage_entry_t *e, json_t *obj, json_t **unused);
static json_t *ngx_microshop_report_name(const char *s, size_t len);
static json_t *ngx_microshop_report_time(time_t t);
static int ngx_microshop_report_cmp(const void *a, const void *b);


char *
ngx_microshop_audit_report_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    time_t                           window;
    ngx_int_t                        n;
    ngx_str_t                       *value, s;
    ngx_uint_t                       i, subjects;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_microshop_main_conf_t  *mmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (mlcf->usage) {
        return "is duplicate";
    }

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    if (mlcf->auth == 0) {
        return "cannot be used with \"microshop_auth off\"";
    }

    if (mlcf->scope.rules != NGX_CONF_UNSET_PTR) {
        return "must come before \"microshop_require_scope\": it requires "
               "the scope " NGX_MICROSHOP_ADMIN_SCOPE " itself";
    }

    window = NGX_MICROSHOP_USAGE_WINDOW;
    subjects = NGX_MICROSHOP_USAGE_SUBJECTS;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "window=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            window = ngx_parse_time(&s, 1);

            if (window == (time_t) NGX_ERROR
                || window < NGX_MICROSHOP_USAGE_WINDOW_MIN
                || window > NGX_MICROSHOP_USAGE_WINDOW_MAX)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"microshop_audit_report\": invalid "
                                   "\"%V\": a time from 1m to 31d",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "subjects=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);

            if (n == NGX_ERROR || n < 1 || n > MICROSHOP_USAGE_SUBJECTS_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"microshop_audit_report\": invalid "
                                   "\"%V\": a number of subjects from 1 "
                                   "to %d", &value[i],
                                   MICROSHOP_USAGE_SUBJECTS_MAX);
                return NGX_CONF_ERROR;
            }

            subjects = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"microshop_audit_report\": invalid parameter "
                           "\"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    mlcf->usage = ngx_pcalloc(cf->pool, sizeof(ngx_microshop_usage_loc_t));
    if (mlcf->usage == NULL) {
        return NGX_CONF_ERROR;
    }

    mlcf->usage->window = window;
    mlcf->usage->subjects = subjects;

    /* the zone keeps what the largest report needs */
    mmcf = ngx_microshop_conf_main_conf(cf);

    mmcf->usage.subjects = ngx_max(mmcf->usage.subjects, subjects);
    mmcf->usage.window = ngx_max(mmcf->usage.window, window);

    /* as microshop_admin: a token with microshop:admin, whatever method */
    if (ngx_microshop_scope_require_any(cf, mlcf, NGX_MICROSHOP_ADMIN_SCOPE)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    clcf->handler = ngx_microshop_audit_report_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_microshop_audit_report_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_microshop_op_t  *op;

    /* the access phase checked it; a second look costs nothing */
    if (!ngx_microshop_scope_token_has(r, NGX_MICROSHOP_ADMIN_SCOPE,
                                       sizeof(NGX_MICROSHOP_ADMIN_SCOPE) - 1))
    {
        return NGX_HTTP_FORBIDDEN;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_microshop_not_allowed(r, "GET, HEAD",
                                         "The audit report is read with "
                                         "GET.");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the other nodes' usage, if the store is shared (docs/audit-playbook.md
     * "Several nodes") */
    op = ngx_pcalloc(r->pool, sizeof(ngx_microshop_op_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->type = NGX_MICROSHOP_OP_USAGE_GET;
    op->pool = r->pool;
    op->u.usage.keep = ngx_microshop_usage_keep(ngx_microshop_main_conf(r));

    /* the request lives on until the completion finalizes it */
    r->main->count++;

    ngx_microshop_request_run(r, op, ngx_microshop_audit_report_done);

    return NGX_DONE;
}


static void
ngx_microshop_audit_report_done(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    json_t                         *doc;
    ngx_http_microshop_loc_conf_t  *mlcf;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop audit report: USAGE_GET rc:%i", op->rc);

    if (op->rc == NGX_ERROR) {
        /* this node alone would call a scope that another node saw used
         * "never exercised": no report rather than a wrong one */
        ngx_http_finalize_request(r,
            ngx_microshop_store_unavailable(r,
                              "The usage of the other nodes could not be "
                              "read from the store."));
        return;
    }

    mlcf = ngx_microshop_loc_conf(r);

    doc = ngx_microshop_report_document(r, mlcf->usage, op);
    if (doc == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* compact, Cache-Control: no-store: it says who holds what */
    ngx_http_finalize_request(r, ngx_microshop_json_send(r, doc));
}


static json_t *
ngx_microshop_report_document(ngx_http_request_t *r,
    ngx_microshop_usage_loc_t *ul, ngx_microshop_op_t *op)
{
    void                    *copy;
    json_t                  *doc, *v;
    ngx_uint_t               merged, skipped;
    ngx_microshop_report_t   rp;

    copy = ngx_microshop_usage_copy(r);
    if (copy == NULL) {
        return NULL;
    }

    /* this node, and the others' in a shared store */
    merged = 1;
    skipped = 0;

    if (op->rc == NGX_OK) {
        ngx_microshop_usage_merge_nodes(r, copy, op, &merged, &skipped);
    }

    rp.u = copy;

    rp.now = ngx_time();
    rp.since = rp.now - ul->window;

    doc = json_object();
    rp.least = json_array();

    if (doc == NULL || rp.least == NULL) {
        json_decref(doc);
        json_decref(rp.least);
        return NULL;
    }

    if (json_object_set_new(doc, "window", json_integer(ul->window)) != 0
        || json_object_set_new(doc, "from", ngx_microshop_report_time(
                                                rp.since)) != 0
        || json_object_set_new(doc, "to", ngx_microshop_report_time(rp.now))
           != 0
        || json_object_set_new(doc, "nodes",
                               json_pack("{s:I,s:I,s:b}",
                                         "merged", (json_int_t) merged,
                                         "skipped", (json_int_t) skipped,
                                         "shared", op->rc == NGX_OK))
           != 0)
    {
        goto failed;
    }

    v = ngx_microshop_report_classes(&rp);
    if (v == NULL || json_object_set_new(doc, "classes", v) != 0) {
        goto failed;
    }

    v = ngx_microshop_report_subjects(r, &rp, ul->subjects);
    if (v == NULL || json_object_set_new(doc, "subjects", v) != 0) {
        goto failed;
    }

    v = ngx_microshop_report_others(&rp);
    if (v == NULL || json_object_set_new(doc, "others", v) != 0) {
        goto failed;
    }

    if (ngx_microshop_report_ceilings(r, &rp) != NGX_OK
        || json_object_set(doc, "least_privilege", rp.least) != 0)
    {
        goto failed;
    }

    json_decref(rp.least);

    /* the bounds of what is kept (docs/directives.md) */
    v = json_pack("{s:I,s:I,s:I}",
                  "subjects_folded",
                  (json_int_t) microshop_usage_folded(rp.u),
                  "classes_folded",
                  (json_int_t) microshop_usage_classes_folded(rp.u),
                  "scopes_lost",
                  (json_int_t) microshop_usage_scopes_lost(rp.u));

    if (v == NULL || json_object_set_new(doc, "kept", v) != 0) {
        json_decref(doc);
        return NULL;
    }

    return doc;

failed:

    json_decref(rp.least);
    json_decref(doc);

    return NULL;
}


static json_t *
ngx_microshop_report_classes(ngx_microshop_report_t *rp)
{
    size_t                          len;
    uint32_t                        i;
    uint64_t                        n;
    json_t                         *list, *obj, *denials, *unused, *lp;
    ngx_uint_t                      reason;
    const char                     *name;
    const microshop_usage_entry_t  *e;

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    for (i = 0; i < microshop_usage_nclasses(rp->u); i++) {
        e = microshop_usage_class(rp->u, i);

        if ((time_t) e->last_used < rp->since) {
            continue;
        }

        name = microshop_usage_entry_class(e, &len);

        obj = json_object();
        denials = json_object();

        if (obj == NULL || denials == NULL
            || json_array_append_new(list, obj) != 0
            || json_object_set_new(obj, "class",
                                   ngx_microshop_report_name(name, len))
               != 0
            || json_object_set_new(obj, "last_used",
                                   ngx_microshop_report_time(e->last_used))
               != 0
            || ngx_microshop_report_scopes(rp, e, obj, &unused) != NGX_OK)
        {
            json_decref(denials);
            goto failed;
        }

        for (reason = NGX_MICROSHOP_REASON_NONE + 1;
             reason < NGX_MICROSHOP_REASON_MAX;
             reason++)
        {
            if (ngx_microshop_reason_decision(reason)[0] == 'a') {
                continue;
            }

            n = microshop_usage_denials(rp->u, i, reason,
                                        (uint32_t) (rp->since / 3600),
                                        (uint32_t) rp->now);
            if (n
                && json_object_set_new(denials,
                                       ngx_microshop_reason_name(reason),
                                       json_integer((json_int_t) n))
                   != 0)
            {
                json_decref(denials);
                goto failed;
            }
        }

        if (json_object_set_new(obj, "denials", denials) != 0) {
            goto failed;
        }

        if (name && json_array_size(unused)) {
            lp = json_pack("{s:O,s:O,s:s}", "class",
                           json_object_get(obj, "class"), "unused", unused,
                           "why", "not_exercised");

            if (lp == NULL || json_array_append_new(rp->least, lp) != 0) {
                goto failed;
            }
        }
    }

    return list;

failed:

    json_decref(list);
    return NULL;
}


static json_t *
ngx_microshop_report_subjects(ngx_http_request_t *r,
    ngx_microshop_report_t *rp, ngx_uint_t max)
{
    size_t                           len;
    uint32_t                         i, n, k;
    json_t                          *list, *obj, *unused, *lp;
    const char                      *s;
    const microshop_usage_entry_t  **top, *e;

    n = microshop_usage_nsubjects(rp->u);

    top = ngx_palloc(r->pool, sizeof(microshop_usage_entry_t *) * (n + 1));
    if (top == NULL) {
        return NULL;
    }

    k = 0;

    for (i = 0; i < n; i++) {
        e = microshop_usage_subject(rp->u, i);

        if ((time_t) e->last_used >= rp->since) {
            top[k++] = e;
        }
    }

    /* the most traffic first */
    ngx_qsort(top, k, sizeof(microshop_usage_entry_t *),
              ngx_microshop_report_cmp);

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    for (i = 0; i < k && i < max; i++) {
        e = top[i];

        obj = json_object();

        if (obj == NULL || json_array_append_new(list, obj) != 0) {
            goto failed;
        }

        s = microshop_usage_entry_sub(e, &len);
        if (json_object_set_new(obj, "sub", ngx_microshop_report_name(s, len))
            != 0)
        {
            goto failed;
        }

        s = microshop_usage_entry_seller(e, &len);
        if (json_object_set_new(obj, "seller",
                                ngx_microshop_report_name(s, len))
            != 0)
        {
            goto failed;
        }

        s = microshop_usage_entry_class(e, &len);
        if (json_object_set_new(obj, "class",
                                ngx_microshop_report_name(s, len))
               != 0
            || json_object_set_new(obj, "requests",
                                   json_integer((json_int_t) e->requests))
               != 0
            || ngx_microshop_report_scopes(rp, e, obj, &unused) != NGX_OK
            || json_object_set_new(obj, "last_used",
                                   ngx_microshop_report_time(e->last_used))
               != 0)
        {
            goto failed;
        }

        if (json_array_size(unused)) {
            lp = json_pack("{s:O,s:O,s:O,s:O,s:s}",
                           "sub", json_object_get(obj, "sub"),
                           "seller", json_object_get(obj, "seller"),
                           "class", json_object_get(obj, "class"),
                           "unused", unused, "why", "not_exercised");

            if (lp == NULL || json_array_append_new(rp->least, lp) != 0) {
                goto failed;
            }
        }
    }

    return list;

failed:

    json_decref(list);
    return NULL;
}


/* the subjects past the top N, folded into one */

static json_t *
ngx_microshop_report_others(ngx_microshop_report_t *rp)
{
    json_t                         *obj, *unused;
    const microshop_usage_entry_t  *e;

    e = microshop_usage_others(rp->u);

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    if ((time_t) e->last_used < rp->since) {
        if (json_object_set_new(obj, "last_used", json_null()) != 0
            || json_object_set_new(obj, "granted", json_array()) != 0
            || json_object_set_new(obj, "exercised", json_array()) != 0
            || json_object_set_new(obj, "unused", json_array()) != 0)
        {
            json_decref(obj);
            return NULL;
        }

        return obj;
    }

    if (json_object_set_new(obj, "last_used",
                            ngx_microshop_report_time(e->last_used))
           != 0
        || ngx_microshop_report_scopes(rp, e, obj, &unused) != NGX_OK)
    {
        json_decref(obj);
        return NULL;
    }

    return obj;
}


/* token classes whose ceiling holds scopes that no route requires */

static ngx_int_t
ngx_microshop_report_ceilings(ngx_http_request_t *r,
    ngx_microshop_report_t *rp)
{
    u_char                          *pos;
    json_t                          *unused, *lp;
    ngx_str_t                        scope;
    ngx_uint_t                       i;
    ngx_microshop_token_class_t     *tc;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);
    tc = mmcf->token.classes.elts;

    for (i = 0; i < mmcf->token.classes.nelts; i++) {

        if (tc[i].scopes.data == NULL) {
            continue;
        }

        unused = json_array();
        if (unused == NULL) {
            return NGX_ERROR;
        }

        pos = NULL;

        while (ngx_microshop_scope_next(&tc[i].scopes, &pos, &scope)) {

            if (!ngx_microshop_usage_route_scope(mmcf, scope.data, scope.len)
                && json_array_append_new(unused,
                                         json_stringn((char *) scope.data,
                                                      scope.len))
                   != 0)
            {
                json_decref(unused);
                return NGX_ERROR;
            }
        }

        if (json_array_size(unused) == 0) {
            json_decref(unused);
            continue;
        }

        lp = json_pack("{s:s%,s:o,s:s}", "class", tc[i].name.data,
                       tc[i].name.len, "unused", unused,
                       "why", "no_route_requires");

        if (lp == NULL || json_array_append_new(rp->least, lp) != 0) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* "granted", "exercised" and "unused" of an entry, in the window */

static ngx_int_t
ngx_microshop_report_scopes(ngx_microshop_report_t *rp,
    const microshop_usage_entry_t *e, json_t *obj, json_t **unused)
{
    size_t        len;
    uint32_t      i;
    json_t       *granted, *exercised, *name;
    const char   *s;

    granted = json_array();
    exercised = json_array();
    *unused = json_array();

    if (json_object_set_new(obj, "granted", granted) != 0
        || json_object_set_new(obj, "exercised", exercised) != 0
        || json_object_set_new(obj, "unused", *unused) != 0)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < e->nscopes; i++) {

        if ((time_t) e->scopes[i].granted < rp->since) {
            continue;
        }

        s = microshop_usage_scope_name(rp->u, e->scopes[i].scope, &len);

        name = json_stringn(s, len);
        if (name == NULL || json_array_append(granted, name) != 0) {
            json_decref(name);
            return NGX_ERROR;
        }

        if ((time_t) e->scopes[i].exercised >= rp->since) {
            if (json_array_append(exercised, name) != 0) {
                json_decref(name);
                return NGX_ERROR;
            }

        } else if (json_array_append(*unused, name) != 0) {
            json_decref(name);
            return NGX_ERROR;
        }

        json_decref(name);
    }

    if (e->lost && json_object_set_new(obj, "scopes_lost", json_true()) != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a name kept by the gateway (a claim's value: valid UTF-8 or \u00XX
 * from the token's JSON, which jansson took), null when absent */

static json_t *
ngx_microshop_report_name(const char *s, size_t len)
{
    json_t  *v;

    if (s == NULL) {
        return json_null();
    }

    v = json_stringn(s, len);

    /* not UTF-8: a claim can only be that after an unescape; say so */
    return v ? v : json_string("(not UTF-8)");
}


static json_t *
ngx_microshop_report_time(time_t t)
{
    u_char    buf[sizeof("1970-01-01T00:00:00Z")];
    ngx_tm_t  tm;

    if (t <= 0) {
        return json_null();
    }

    ngx_gmtime(t, &tm);

    return json_stringn((char *) buf,
                        ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                                    tm.ngx_tm_year, tm.ngx_tm_mon,
                                    tm.ngx_tm_mday, tm.ngx_tm_hour,
                                    tm.ngx_tm_min, tm.ngx_tm_sec)
                        - buf);
}


static int
ngx_microshop_report_cmp(const void *a, const void *b)
{
    const microshop_usage_entry_t  *x, *y;

    x = *(const microshop_usage_entry_t **) a;
    y = *(const microshop_usage_entry_t **) b;

    if (x->count != y->count) {
        return x->count > y->count ? -1 : 1;
    }

    if (x->last_used != y->last_used) {
        return x->last_used > y->last_used ? -1 : 1;
    }

    return 0;
}
