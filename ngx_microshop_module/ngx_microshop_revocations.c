/*
 * ngx_microshop: the admin API's revocations (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_revocations.h"
#include "ngx_microshop_order_events.h"
#include "ngx_microshop_json.h"
#include "ngx_microshop_answer.h"
#include "microshop_revocation.h"


/*
 * Enough for a watermark of the longest seller and class a token may
 * carry, however they are escaped: 1024 bytes of UTF-8 each are at most
 * 3072 bytes of \uXXXX escapes (no control character), and the names
 */
#define NGX_MICROSHOP_REVOCATIONS_BODY_MAX   8192

/* what GET lists of each kind at most, and by default */
#define NGX_MICROSHOP_REVOCATIONS_LIMIT_MAX  1000

#define NGX_MICROSHOP_REVOCATIONS_ERR        512


static void ngx_microshop_revocations_post(ngx_http_request_t *r);
static ngx_int_t ngx_microshop_revocations_watermark(ngx_http_request_t *r,
    microshop_revocation_t *rv, ngx_microshop_op_t *op, char *err,
    size_t errlen);
static void ngx_microshop_revocations_made(ngx_http_request_t *r,
    ngx_microshop_op_t *op);
static ngx_int_t ngx_microshop_revocations_list(ngx_http_request_t *r);
static void ngx_microshop_revocations_listed(ngx_http_request_t *r,
    ngx_microshop_op_t *op);
static json_t *ngx_microshop_revocations_json(ngx_microshop_op_t *op);
static int ngx_microshop_revocations_str_cmp(ngx_str_t *x, ngx_str_t *y);
static int ngx_libc_cdecl ngx_microshop_revocations_jti_cmp(const void *a,
    const void *b);
static int ngx_libc_cdecl ngx_microshop_revocations_wm_cmp(const void *a,
    const void *b);


ngx_int_t
ngx_microshop_revocations_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        return ngx_microshop_revocations_list(r);
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_microshop_not_allowed(r, "GET, HEAD, POST",
                                         "Revocations are made with POST "
                                         "and listed with GET.");
    }

    rc = ngx_http_read_client_request_body(r, ngx_microshop_revocations_post);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_microshop_revocations_post(ngx_http_request_t *r)
{
    char                     err[NGX_MICROSHOP_REVOCATIONS_ERR];
    json_t                  *doc;
    ngx_int_t                rc;
    ngx_microshop_op_t      *op;
    microshop_revocation_t   rv;

    if (ngx_microshop_json_body(r, NGX_MICROSHOP_REVOCATIONS_BODY_MAX, &doc)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* docs/http.md "Revocation": what each member must be */

    if (microshop_revocation_parse(doc, &rv, err, sizeof(err)) != 0) {
        json_decref(doc);
        goto invalid;
    }

    op = ngx_pcalloc(r->pool, sizeof(ngx_microshop_op_t));
    if (op == NULL) {
        json_decref(doc);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    op->pool = r->pool;

    if (rv.kind == MICROSHOP_REVOCATION_JTI) {
        op->type = NGX_MICROSHOP_OP_REVOKE;
        op->u.revoke.exp = rv.exp;
        op->key.len = rv.jti_len;
        op->key.data = ngx_pnalloc(r->pool, rv.jti_len);
        rc = (op->key.data == NULL) ? NGX_ERROR : NGX_OK;

        if (rc == NGX_OK) {
            ngx_memcpy(op->key.data, rv.jti, rv.jti_len);
        }

    } else {
        rc = ngx_microshop_revocations_watermark(r, &rv, op, err,
                                                 sizeof(err));
    }

    json_decref(doc);

    if (rc == NGX_DECLINED) {
        goto invalid;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* reading the body took the reference that the completion releases */
    ngx_microshop_request_run(r, op, ngx_microshop_revocations_made);

    return;

invalid:

    ngx_http_finalize_request(r,
        ngx_microshop_problem_text(r, NGX_HTTP_BAD_REQUEST, "invalid-request",
                                   "Invalid revocation", err));
}


/*
 * The watermark of rv into op: kept until no token it covers can still be
 * valid, issued_before + the longest max_ttl of the declared classes (its
 * class's own when it names one) + the leeway + the margin of jti
 * revocations; for ever when no class is declared (a token may then live
 * for ever).  NGX_DECLINED: a class no token can carry (err says so).
 */

static ngx_int_t
ngx_microshop_revocations_watermark(ngx_http_request_t *r,
    microshop_revocation_t *rv, ngx_microshop_op_t *op, char *err,
    size_t errlen)
{
    int64_t                          max_ttl;
    ngx_str_t                        seller, class;
    ngx_uint_t                       i, found;
    ngx_microshop_token_class_t     *c;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    seller.data = (u_char *) rv->seller;
    seller.len = rv->seller_len;

    class.data = (u_char *) (rv->cls ? rv->cls : "");
    class.len = rv->cls_len;

    max_ttl = -1;
    found = 0;
    c = mmcf->token.classes.elts;

    for (i = 0; i < mmcf->token.classes.nelts; i++) {
        if (rv->cls == NULL) {
            max_ttl = ngx_max(max_ttl, (int64_t) c[i].max_ttl);
            continue;
        }

        if (c[i].name.len == class.len
            && ngx_strncmp(c[i].name.data, class.data, class.len) == 0)
        {
            max_ttl = c[i].max_ttl;
            found = 1;
        }
    }

    if (rv->cls && mmcf->token.classes.nelts && !found) {
        (void) ngx_cpystrn((u_char *) err,
                           (u_char *) "\"class\" is not a declared token "
                           "class (microshop_token_class): no token is of "
                           "that class.", errlen);
        return NGX_DECLINED;
    }

    op->type = NGX_MICROSHOP_OP_REVOKE_BEFORE;
    op->u.watermark.before = rv->before;
    op->u.watermark.until = microshop_watermark_until(rv->before, max_ttl,
                                                mmcf->token.leeway,
                                                NGX_MICROSHOP_REVOKE_MARGIN);

    if (ngx_microshop_store_key(r->pool, &seller, class.data, class.len,
                                &op->key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_microshop_revocations_made(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    u_char     *nl;
    ngx_str_t   seller, class;

    if (op->rc != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_microshop_store_unavailable(r,
                              "The revocation could not be stored."));
        return;
    }

    /* logged once it is in force, never for one the store refused */

    if (op->type == NGX_MICROSHOP_OP_REVOKE) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "microshop: token jti \"%V\" revoked", &op->key);

    } else {
        /* the key is seller "\n" class (empty: every class) */
        nl = ngx_strlchr(op->key.data, op->key.data + op->key.len, '\n');

        seller.data = op->key.data;
        seller.len = nl ? (size_t) (nl - op->key.data) : op->key.len;
        class.data = nl ? nl + 1 : op->key.data + op->key.len;
        class.len = op->key.data + op->key.len - class.data;

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "microshop: tokens of seller \"%V\", %s%V%s, issued "
                      "before %L revoked", &seller,
                      class.len ? "class \"" : "every class", &class,
                      class.len ? "\"" : "", op->u.watermark.before);

        ngx_microshop_revoked_event(ngx_microshop_main_conf(r), &seller,
                                    &class, op->u.watermark.before);
    }

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    ngx_http_finalize_request(r, ngx_http_send_header(r));
}


/* GET <loc>/revocations[?limit=N] */

static ngx_int_t
ngx_microshop_revocations_list(ngx_http_request_t *r)
{
    ngx_int_t            rc, n;
    ngx_str_t            value;
    ngx_microshop_op_t  *op;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    op = ngx_pcalloc(r->pool, sizeof(ngx_microshop_op_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->type = NGX_MICROSHOP_OP_REVOKED_LIST;
    op->pool = r->pool;
    op->u.revoked_list.limit = NGX_MICROSHOP_REVOCATIONS_LIMIT_MAX;

    if (ngx_http_arg(r, (u_char *) "limit", 5, &value) == NGX_OK) {
        n = ngx_atoi(value.data, value.len);

        if (n < 1 || n > NGX_MICROSHOP_REVOCATIONS_LIMIT_MAX) {
            return ngx_microshop_problem_text(r, NGX_HTTP_BAD_REQUEST,
                                              "invalid-request",
                                              "Invalid limit",
                                              "limit is a number from 1 to "
                                              "1000.");
        }

        op->u.revoked_list.limit = n;
    }

    /* the request lives on until the completion finalizes it */
    r->main->count++;

    ngx_microshop_request_run(r, op, ngx_microshop_revocations_listed);

    return NGX_DONE;
}


static void
ngx_microshop_revocations_listed(ngx_http_request_t *r,
    ngx_microshop_op_t *op)
{
    json_t  *doc;

    if (op->rc != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_microshop_store_unavailable(r,
                              "The revocations could not be read."));
        return;
    }

    doc = ngx_microshop_revocations_json(op);
    ngx_http_finalize_request(r, ngx_microshop_json_send(r, doc));
}


/*
 * {"jtis":[{"jti","exp"}],"watermarks":[{"seller","class","issued_before",
 * "until"}],"truncated":bool}: jtis by exp, watermarks by seller and
 * class; a string that is not UTF-8 (written into Redis by another hand)
 * is left out
 */

static json_t *
ngx_microshop_revocations_json(ngx_microshop_op_t *op)
{
    json_t                       *doc, *jtis, *wms, *o;
    ngx_uint_t                    i;
    ngx_microshop_watermark_t    *w;
    ngx_microshop_revoked_jti_t  *j;

    j = op->u.revoked_list.jtis;
    w = op->u.revoked_list.watermarks;

    if (op->u.revoked_list.njtis > 1) {
        ngx_qsort(j, op->u.revoked_list.njtis,
                  sizeof(ngx_microshop_revoked_jti_t),
                  ngx_microshop_revocations_jti_cmp);
    }

    if (op->u.revoked_list.nwatermarks > 1) {
        ngx_qsort(w, op->u.revoked_list.nwatermarks,
                  sizeof(ngx_microshop_watermark_t),
                  ngx_microshop_revocations_wm_cmp);
    }

    doc = json_object();
    jtis = json_array();
    wms = json_array();

    if (doc == NULL || jtis == NULL || wms == NULL
        || json_object_set(doc, "jtis", jtis) != 0
        || json_object_set(doc, "watermarks", wms) != 0
        || json_object_set_new(doc, "truncated",
                               json_boolean(op->u.revoked_list.truncated))
           != 0)
    {
        goto failed;
    }

    for (i = 0; i < op->u.revoked_list.njtis; i++) {
        o = json_pack("{s:s%,s:I}",
                      "jti", (char *) j[i].jti.data, j[i].jti.len,
                      "exp", (json_int_t) j[i].exp);

        if (o && json_array_append_new(jtis, o) != 0) {
            goto failed;
        }
    }

    for (i = 0; i < op->u.revoked_list.nwatermarks; i++) {
        o = json_pack("{s:s%,s:o,s:I,s:o}",
                      "seller", (char *) w[i].seller.data, w[i].seller.len,
                      "class", w[i].class.len
                               ? json_stringn((char *) w[i].class.data,
                                              w[i].class.len)
                               : json_null(),
                      "issued_before", (json_int_t) w[i].before,
                      "until", w[i].until ? json_integer(w[i].until)
                                          : json_null());

        if (o && json_array_append_new(wms, o) != 0) {
            goto failed;
        }
    }

    json_decref(jtis);
    json_decref(wms);

    return doc;

failed:

    json_decref(doc);
    json_decref(jtis);
    json_decref(wms);

    return NULL;
}


/* byte order, the shorter first; an empty string may have no data */

static int
ngx_microshop_revocations_str_cmp(ngx_str_t *x, ngx_str_t *y)
{
    ngx_int_t  rc;

    if (x->len == 0 || y->len == 0) {
        return (x->len > y->len) - (x->len < y->len);
    }

    rc = ngx_memn2cmp(x->data, y->data, x->len, y->len);

    return (rc > 0) - (rc < 0);
}


static int ngx_libc_cdecl
ngx_microshop_revocations_jti_cmp(const void *a, const void *b)
{
    ngx_microshop_revoked_jti_t  *x, *y;

    x = (ngx_microshop_revoked_jti_t *) a;
    y = (ngx_microshop_revoked_jti_t *) b;

    if (x->exp != y->exp) {
        return (x->exp < y->exp) ? -1 : 1;
    }

    return ngx_microshop_revocations_str_cmp(&x->jti, &y->jti);
}


static int ngx_libc_cdecl
ngx_microshop_revocations_wm_cmp(const void *a, const void *b)
{
    int                         rc;
    ngx_microshop_watermark_t  *x, *y;

    x = (ngx_microshop_watermark_t *) a;
    y = (ngx_microshop_watermark_t *) b;

    rc = ngx_microshop_revocations_str_cmp(&x->seller, &y->seller);

    return rc ? rc : ngx_microshop_revocations_str_cmp(&x->class, &y->class);
}
