/*
 * ngx_microshop: the verified identity towards the upstream (docs/http.md,
 * "Identity towards the upstream").
 *
 * Client-sent X-Microshop-* headers (any case) are removed from every
 * request before it can reach an upstream; a request that passed the
 * token checks carries X-Microshop-Seller, -Subject and -Scopes instead.
 * The identity in variables is ngx_microshop_variables.h.
 */

#ifndef _NGX_MICROSHOP_IDENTITY_H_INCLUDED_
#define _NGX_MICROSHOP_IDENTITY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


ngx_int_t ngx_microshop_identity_strip(ngx_http_request_t *r);
ngx_int_t ngx_microshop_identity_forward(ngx_http_request_t *r,
    ngx_microshop_identity_t *id);


#endif /* _NGX_MICROSHOP_IDENTITY_H_INCLUDED_ */
