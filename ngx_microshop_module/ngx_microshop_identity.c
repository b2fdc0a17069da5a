/*
 * ngx_microshop: the verified identity towards the upstream (see the
 * header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_identity.h"
#include "ngx_microshop_answer.h"


#define NGX_MICROSHOP_HEADER_PREFIX  "x-microshop-"


static ngx_uint_t ngx_microshop_identity_header(ngx_table_elt_t *h);


ngx_int_t
ngx_microshop_identity_strip(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    /* the common case: nothing to strip, nothing allocated */

    part = &r->headers_in.headers.part;
    i = 0;

    while ((h = ngx_microshop_header_next(&part, &i)) != NULL) {
        if (ngx_microshop_identity_header(h)) {
            break;
        }
    }

    if (h == NULL) {
        return NGX_OK;
    }

    /*
     * Build the list again without them.  Pointers into the old list
     * (r->headers_in.host, ...) stay valid: its memory is the request's.
     */

    if (ngx_list_init(&headers, r->pool, 20, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    i = 0;

    while ((h = ngx_microshop_header_next(&part, &i)) != NULL) {

        if (ngx_microshop_identity_header(h)) {
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


/* a header only the gateway may set: X-Microshop-*, any case */

static ngx_uint_t
ngx_microshop_identity_header(ngx_table_elt_t *h)
{
    return h->key.len >= sizeof(NGX_MICROSHOP_HEADER_PREFIX) - 1
           && ngx_strncasecmp(h->key.data,
                              (u_char *) NGX_MICROSHOP_HEADER_PREFIX,
                              sizeof(NGX_MICROSHOP_HEADER_PREFIX) - 1)
              == 0;
}


static ngx_int_t
ngx_microshop_header_in_add(ngx_http_request_t *r, char *name, char *lowcase,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    if (value->len == 0) {
        /* a claim the token does not carry: no header */
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->lowcase_key = (u_char *) lowcase;
    h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
    h->value = *value;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_identity_forward(ngx_http_request_t *r,
    ngx_microshop_identity_t *id)
{
    if (ngx_microshop_header_in_add(r, "X-Microshop-Seller",
                                    "x-microshop-seller",
                                    &id->f[NGX_MICROSHOP_ID_SELLER])
           != NGX_OK
        || ngx_microshop_header_in_add(r, "X-Microshop-Subject",
                                       "x-microshop-subject",
                                       &id->f[NGX_MICROSHOP_ID_SUBJECT])
           != NGX_OK
        || ngx_microshop_header_in_add(r, "X-Microshop-Scopes",
                                       "x-microshop-scopes",
                                       &id->f[NGX_MICROSHOP_ID_SCOPES])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
