/*
 * ngx_microshop: the gateway's public keys as a JWKS document
 * (microshop_jwks), content handler; docs/tokens.md "The gateway's signing
 * key and its JWKS", docs/directives.md.
 *
 * The document holds the public half of every microshop_jwt_signing_key,
 * the one that signs and the retired ones, and is built once, when the
 * configuration is read.
 */

#ifndef _NGX_MICROSHOP_JWKS_H_INCLUDED_
#define _NGX_MICROSHOP_JWKS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


/* microshop_jwks [max_age=TIME] */
char *ngx_microshop_jwks_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* the document and its ETag, once every http-level directive was read */
ngx_int_t ngx_microshop_jwks_main_done(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf);

/* refuses microshop_jwks where no signing key is configured */
char *ngx_microshop_jwks_loc_merge(ngx_conf_t *cf,
    ngx_http_microshop_loc_conf_t *conf);


#endif /* _NGX_MICROSHOP_JWKS_H_INCLUDED_ */
