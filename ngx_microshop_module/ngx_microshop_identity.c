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
#include "microshop_header.h"


#define NGX_MICROSHOP_HEADER_PREFIX  "x-microshop-"


static ngx_uint_t ngx_microshop_identity_header(ngx_table_elt_t *h);


ngx_int_t
ngx_microshop_identity_strip(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

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

    /* the list again without them */
    return ngx_microshop_header_in_rebuild(r, ngx_microshop_identity_header);
}


/*
 * A header only the gateway may set: X-Microshop-*, in any case, and with
 * '_' (underscores_in_headers on) or any other odd byte
 * (ignore_invalid_headers off) for a '-', as the backends read names.
 */

static ngx_uint_t
ngx_microshop_identity_header(ngx_table_elt_t *h)
{
    return microshop_header_name_has_prefix(h->key.data, h->key.len,
                                            NGX_MICROSHOP_HEADER_PREFIX);
}


static ngx_int_t
ngx_microshop_header_in_add(ngx_http_request_t *r, char *name, char *lowcase,
    ngx_str_t *value)
{
    ngx_int_t  rc;
    ngx_str_t  key;

    if (value->len == 0) {
        /* a claim the token does not carry: no header */
        return NGX_OK;
    }

    key.data = (u_char *) name;
    key.len = ngx_strlen(name);

    rc = ngx_microshop_header_push(r, &r->headers_in.headers, &key,
                                   (u_char *) lowcase, value);

    /*
     * The token stage refuses such claims (invalid-token): here the
     * request is refused rather than sent without its identity.
     */
    return (rc == NGX_OK) ? NGX_OK : NGX_ERROR;
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
