/*
 * ngx_microshop: the answers the gateway makes itself: RFC 9457
 * problem+json (docs/http.md), the store-unavailable answer, complete
 * in-memory bodies, and the request and response header helpers.
 */

#ifndef _NGX_MICROSHOP_ANSWER_H_INCLUDED_
#define _NGX_MICROSHOP_ANSWER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


typedef struct {
    ngx_uint_t     status;
    ngx_str_t      name;        /* urn:problem:microshop:<name> */
    ngx_str_t      title;
    ngx_str_t      detail;      /* never a secret or the token */
    ngx_str_t      extra;       /* raw JSON members ",\"skus\":[...]" */
} ngx_microshop_problem_t;


/*
 * The next header of a list (r->headers_in.headers, r->headers_out.headers),
 * NULL after the last:
 *
 *     part = &r->headers_in.headers.part;
 *     i = 0;
 *
 *     while ((h = ngx_microshop_header_next(&part, &i)) != NULL) { ... }
 */

static ngx_inline ngx_table_elt_t *
ngx_microshop_header_next(ngx_list_part_t **part, ngx_uint_t *i)
{
    ngx_table_elt_t  *h;

    while (*i >= (*part)->nelts) {
        if ((*part)->next == NULL) {
            return NULL;
        }

        *part = (*part)->next;
        *i = 0;
    }

    h = (*part)->elts;

    return &h[(*i)++];
}


/* the first request header of that name (any case); with count, how many
 * the request carries */
ngx_table_elt_t *ngx_microshop_header_in(ngx_http_request_t *r,
    ngx_str_t *name, ngx_uint_t *count);

/*
 * Every header the module writes, towards the upstream (headers is
 * &r->headers_in.headers, lowcase the name in lower case) or the client
 * (&r->headers_out.headers, lowcase NULL), goes through here.  A value
 * that is not a field value as it is (microshop_header_value_ok(): a
 * control character, leading or trailing white space) is not written: it
 * is logged and NGX_DECLINED returned, and the caller refuses the request
 * or leaves the header out (docs/http.md).  NGX_OK, or NGX_ERROR.
 */
ngx_int_t ngx_microshop_header_push(ngx_http_request_t *r,
    ngx_list_t *headers, ngx_str_t *name, u_char *lowcase, ngx_str_t *value);

/*
 * r's request headers again without those for which drop() is 1, in a
 * list of r's own (a subrequest's copy of its parent's list stops sharing
 * it).  Pointers into the old list (r->headers_in.host, ...) stay valid:
 * its memory is the request's.
 */
typedef ngx_uint_t (*ngx_microshop_header_drop_pt)(ngx_table_elt_t *h);

ngx_int_t ngx_microshop_header_in_rebuild(ngx_http_request_t *r,
    ngx_microshop_header_drop_pt drop);

/* 1 when value may be written as it is; else 0, logged as above */
ngx_uint_t ngx_microshop_header_safe(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value);

/*
 * Adds a response header the gateway made itself (before
 * ngx_microshop_problem_send): NGX_ERROR also for a value it may not write.
 */
ngx_int_t ngx_microshop_header_add(ngx_http_request_t *r, char *name,
    ngx_str_t *value);

/*
 * Sends the problem, finalizes the request and returns NGX_DONE (what an
 * access-phase stage returns after answering).  Returns NGX_ERROR when it
 * could not build the answer.
 */
ngx_int_t ngx_microshop_problem_send(ngx_http_request_t *r,
    ngx_microshop_problem_t *p);

/* the same for a content handler: returns what ngx_http_output_filter did */
ngx_int_t ngx_microshop_problem_output(ngx_http_request_t *r,
    ngx_microshop_problem_t *p);

/*
 * The problem's body, and its Content-Type, Content-Length and
 * Cache-Control on r: for a header filter that turns an answer into this
 * problem (the status stays the answer's)
 */
ngx_int_t ngx_microshop_problem_header(ngx_http_request_t *r,
    ngx_microshop_problem_t *p, ngx_str_t *body);

/* ngx_microshop_problem_output() of plain C strings */
ngx_int_t ngx_microshop_problem_text(ngx_http_request_t *r, ngx_uint_t status,
    char *name, char *title, char *detail);

/*
 * 405 method-not-allowed with the Allow header, for a content handler:
 * returns what ngx_microshop_problem_output() did
 */
ngx_int_t ngx_microshop_not_allowed(ngx_http_request_t *r, char *allow,
    char *detail);

/* ngx_microshop_problem_send() of plain C strings */
ngx_int_t ngx_microshop_problem_send_text(ngx_http_request_t *r,
    ngx_uint_t status, char *name, char *title, char *detail);

/* sends the body of an answer whose header was sent, as the last buffer */
ngx_int_t ngx_microshop_send_buffer(ngx_http_request_t *r, ngx_str_t *body);

/* sends a complete in-memory answer with the given content type */
ngx_int_t ngx_microshop_send_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body);

/* 200 application/json with Cache-Control: no-store (the admin API) */
ngx_int_t ngx_microshop_send_private_json(ngx_http_request_t *r,
    ngx_str_t *body);

/*
 * The answers of an endpoint that issues tokens (RFC 6749 5.1, 5.2): JSON
 * with Cache-Control: no-store and Pragma: no-cache, for a content
 * handler.  ngx_microshop_oauth_answer() sends body with status (200, 201);
 * ngx_microshop_oauth_error() sends {"error":...,"error_description":...},
 * whose texts are fixed ones made of the characters RFC 6749 allows there
 * (%x20-21 / %x23-5B / %x5D-7E: no '"' or '\\'), never what a client sent.
 * A 401 also needs WWW-Authenticate, added before.  Both return what
 * ngx_http_output_filter did, or NGX_ERROR.
 */
ngx_int_t ngx_microshop_oauth_answer(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body);
ngx_int_t ngx_microshop_oauth_error(ngx_http_request_t *r, ngx_uint_t status,
    char *error, char *description);


/* seconds a client waits before it retries what the store could not do,
 * or a request still in flight (409 idempotency-in-progress) */
#define NGX_MICROSHOP_RETRY_STORE        1
#define NGX_MICROSHOP_RETRY_IN_PROGRESS  1

/* the HTTP status nginx 1.22 has no name for */
#define NGX_MICROSHOP_HTTP_UNPROCESSABLE  422

ngx_int_t ngx_microshop_header_retry_after(ngx_http_request_t *r,
    ngx_uint_t seconds);

/*
 * 503 store-unavailable with Retry-After, for a content handler: returns
 * what ngx_microshop_problem_output() did.
 */
ngx_int_t ngx_microshop_store_unavailable(ngx_http_request_t *r,
    char *detail);

/* the same for a stage, which it finalizes: returns NGX_DONE or NGX_ERROR */
ngx_int_t ngx_microshop_store_failed(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/*
 * 429 quota-exceeded: the store refused a record (op->rc NGX_BUSY) because
 * its seller is over seller_quota= (docs/http.md).  For a content handler
 * (what ngx_microshop_problem_output() did), and for a stage, which it
 * finalizes (NGX_DONE or NGX_ERROR).
 */
ngx_int_t ngx_microshop_quota_exceeded(ngx_http_request_t *r);
ngx_int_t ngx_microshop_quota_failed(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);


#endif /* _NGX_MICROSHOP_ANSWER_H_INCLUDED_ */
