/*
 * ngx_microshop: the answers the gateway makes itself: RFC 9457
 * problem+json (docs/http.md), the store-unavailable answer, complete
 * in-memory bodies, and the request and response header helpers.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_answer.h"
#include "ngx_microshop_outcome.h"
#include "microshop_header.h"


static ngx_int_t ngx_microshop_problem_finalize(ngx_http_request_t *r,
    ngx_int_t rc);


static ngx_str_t  ngx_microshop_problem_type =
    ngx_string("application/problem+json");


ngx_uint_t
ngx_microshop_header_safe(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    if (microshop_header_value_ok(value->data, value->len)) {
        return 1;
    }

    /* the value itself is never logged: it may be anything */
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "microshop: the value of the \"%V\" header holds a "
                  "control character or leading or trailing white space, "
                  "not written", name);

    return 0;
}


ngx_int_t
ngx_microshop_header_push(ngx_http_request_t *r, ngx_list_t *headers,
    ngx_str_t *name, u_char *lowcase, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    if (!ngx_microshop_header_safe(r, name, value)) {
        return NGX_DECLINED;
    }

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key = *name;
    h->value = *value;
    h->lowcase_key = lowcase;
    h->hash = lowcase ? ngx_hash_key(lowcase, name->len) : 1;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_header_in_rebuild(ngx_http_request_t *r,
    ngx_microshop_header_drop_pt drop)
{
    ngx_uint_t        i;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    if (ngx_list_init(&headers, r->pool, 20, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    i = 0;

    while ((h = ngx_microshop_header_next(&part, &i)) != NULL) {

        if (drop(h)) {
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = *h;
    }

    r->headers_in.headers = headers;

    /* the copy's "last" must point into the request, not at this frame */
    if (headers.last == &headers.part) {
        r->headers_in.headers.last = &r->headers_in.headers.part;
    }

    return NGX_OK;
}


ngx_int_t
ngx_microshop_header_add(ngx_http_request_t *r, char *name, ngx_str_t *value)
{
    ngx_str_t  key;

    key.data = (u_char *) name;
    key.len = ngx_strlen(name);

    /* a value the gateway made itself: one it may not write is a bug */
    return (ngx_microshop_header_push(r, &r->headers_out.headers, &key, NULL,
                                      value)
            == NGX_OK) ? NGX_OK : NGX_ERROR;
}


ngx_table_elt_t *
ngx_microshop_header_in(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t *count)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    found = NULL;
    n = 0;

    part = &r->headers_in.headers.part;
    i = 0;

    while ((h = ngx_microshop_header_next(&part, &i)) != NULL) {

        if (h->key.len == name->len
            && ngx_strncasecmp(h->key.data, name->data, name->len) == 0)
        {
            if (found == NULL) {
                found = h;
            }

            n++;

            if (count == NULL) {
                break;
            }
        }
    }

    if (count) {
        *count = n;
    }

    return found;
}


ngx_int_t
ngx_microshop_send_private_json(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_str_t  type, cc;

    ngx_str_set(&cc, "no-store");

    if (ngx_microshop_header_add(r, "Cache-Control", &cc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&type, "application/json");

    return ngx_microshop_send_body(r, NGX_HTTP_OK, &type, body);
}


ngx_int_t
ngx_microshop_oauth_answer(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    ngx_str_t  type, cc, pragma;

    ngx_str_set(&cc, "no-store");
    ngx_str_set(&pragma, "no-cache");

    if (ngx_microshop_header_add(r, "Cache-Control", &cc) != NGX_OK
        || ngx_microshop_header_add(r, "Pragma", &pragma) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&type, "application/json");

    return ngx_microshop_send_body(r, status, &type, body);
}


ngx_int_t
ngx_microshop_oauth_error(ngx_http_request_t *r, ngx_uint_t status,
    char *error, char *description)
{
    size_t      elen, dlen;
    u_char     *p;
    ngx_str_t   body;

    elen = ngx_strlen(error);
    dlen = ngx_strlen(description);

    body.data = ngx_pnalloc(r->pool,
                            sizeof("{\"error\":\"\",\"error_description\":"
                                   "\"\"}\n") - 1
                            + elen + ngx_escape_json(NULL, (u_char *) error,
                                                     elen)
                            + dlen + ngx_escape_json(NULL,
                                                     (u_char *) description,
                                                     dlen));
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(body.data, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, (u_char *) error, elen);
    p = ngx_cpymem(p, "\",\"error_description\":\"",
                   sizeof("\",\"error_description\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, (u_char *) description, dlen);
    p = ngx_cpymem(p, "\"}\n", sizeof("\"}\n") - 1);

    body.len = p - body.data;

    return ngx_microshop_oauth_answer(r, status, &body);
}


ngx_int_t
ngx_microshop_send_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body)
{
    ngx_int_t  rc;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = body->len;

    if (body->len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_microshop_send_buffer(r, body);
}


ngx_int_t
ngx_microshop_send_buffer(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_microshop_problem_output(ngx_http_request_t *r, ngx_microshop_problem_t *p)
{
    ngx_str_t  body;

    if (ngx_microshop_problem_header(r, p, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_microshop_send_body(r, p->status, &ngx_microshop_problem_type,
                                   &body);
}


ngx_int_t
ngx_microshop_problem_header(ngx_http_request_t *r, ngx_microshop_problem_t *p,
    ngx_str_t *body)
{
    size_t      len;
    u_char     *pos;
    ngx_str_t   cc;

    len = sizeof("{\"type\":\"urn:problem:microshop:\",\"title\":\"\","
                 "\"status\":,\"detail\":\"\"}\n") - 1
          + p->name.len
          + ngx_escape_json(NULL, p->title.data, p->title.len)
          + p->title.len
          + NGX_INT_T_LEN
          + ngx_escape_json(NULL, p->detail.data, p->detail.len)
          + p->detail.len
          + p->extra.len;

    body->data = ngx_pnalloc(r->pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    pos = ngx_sprintf(body->data, "{\"type\":\"urn:problem:microshop:%V\","
                      "\"title\":\"", &p->name);
    pos = (u_char *) ngx_escape_json(pos, p->title.data, p->title.len);
    pos = ngx_sprintf(pos, "\",\"status\":%ui,\"detail\":\"", p->status);
    pos = (u_char *) ngx_escape_json(pos, p->detail.data, p->detail.len);
    pos = ngx_sprintf(pos, "\"%V}\n", &p->extra);

    body->len = pos - body->data;

    ngx_str_set(&cc, "no-store");

    if (ngx_microshop_header_add(r, "Cache-Control", &cc) != NGX_OK) {
        return NGX_ERROR;
    }

    r->headers_out.content_type = ngx_microshop_problem_type;
    r->headers_out.content_type_len = ngx_microshop_problem_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = body->len;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_problem_send(ngx_http_request_t *r, ngx_microshop_problem_t *p)
{
    return ngx_microshop_problem_finalize(r,
                                          ngx_microshop_problem_output(r, p));
}


ngx_int_t
ngx_microshop_problem_send_text(ngx_http_request_t *r, ngx_uint_t status,
    char *name, char *title, char *detail)
{
    return ngx_microshop_problem_finalize(r,
               ngx_microshop_problem_text(r, status, name, title, detail));
}


/* a stage answered the request: finalized with what the output did */

static ngx_int_t
ngx_microshop_problem_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


ngx_int_t
ngx_microshop_problem_text(ngx_http_request_t *r, ngx_uint_t status,
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


ngx_int_t
ngx_microshop_not_allowed(ngx_http_request_t *r, char *allow, char *detail)
{
    ngx_str_t  value;

    value.data = (u_char *) allow;
    value.len = ngx_strlen(allow);

    if (ngx_microshop_header_add(r, "Allow", &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_microshop_problem_text(r, NGX_HTTP_NOT_ALLOWED,
                                      "method-not-allowed",
                                      "Method not allowed", detail);
}


ngx_int_t
ngx_microshop_header_retry_after(ngx_http_request_t *r, ngx_uint_t seconds)
{
    u_char     *p;
    ngx_str_t   value;

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "%ui", seconds) - p;

    return ngx_microshop_header_add(r, "Retry-After", &value);
}


ngx_int_t
ngx_microshop_store_unavailable(ngx_http_request_t *r, char *detail)
{
    if (ngx_microshop_header_retry_after(r, NGX_MICROSHOP_RETRY_STORE)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_microshop_problem_text(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "store-unavailable",
                                      "State store unavailable", detail);
}


ngx_int_t
ngx_microshop_store_failed(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_int_t  rc;

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_STORE_UNAVAILABLE);

    rc = ngx_microshop_store_unavailable(r,
             "The gateway cannot reach its state store; retry later.");

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


ngx_int_t
ngx_microshop_quota_exceeded(ngx_http_request_t *r)
{
    return ngx_microshop_problem_text(r, NGX_HTTP_TOO_MANY_REQUESTS,
               "quota-exceeded", "Quota exceeded",
               "The seller keeps as many records at the gateway "
               "(idempotency keys, events) as its quota allows; new ones "
               "are refused until older ones expire.");
}


ngx_int_t
ngx_microshop_quota_failed(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_QUOTA_EXCEEDED);

    return ngx_microshop_problem_finalize(r, ngx_microshop_quota_exceeded(r));
}
