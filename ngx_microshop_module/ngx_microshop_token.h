/*
 * ngx_microshop: bearer tokens at the edge.
 *
 * Keys (microshop_jwt_key, microshop_jwt_jwks), claim names, token classes,
 * and the TOKEN stage: a request's token is verified once per node, then
 * its identity comes from the verified-token cache
 * (ngx_microshop_token_cache.h) until the token expires; time, issuer,
 * audience and revocation are checked on every request.
 */

#ifndef _NGX_MICROSHOP_TOKEN_H_INCLUDED_
#define _NGX_MICROSHOP_TOKEN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


ngx_int_t ngx_microshop_token_main_init(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf);
ngx_int_t ngx_microshop_token_main_done(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf);
ngx_int_t ngx_microshop_token_loc_create(ngx_conf_t *cf,
    ngx_http_microshop_loc_conf_t *mlcf);
char *ngx_microshop_token_loc_merge(ngx_conf_t *cf,
    ngx_http_microshop_loc_conf_t *prev, ngx_http_microshop_loc_conf_t *conf);

char *ngx_microshop_auth_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_microshop_jwt_key_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_microshop_jwt_jwks_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_microshop_jwt_list_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_microshop_jwt_leeway_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_microshop_jwt_claims_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_microshop_token_class_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

ngx_int_t ngx_microshop_token_stage(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/* the 401 answer, with RFC 6750 WWW-Authenticate */
ngx_int_t ngx_microshop_token_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_reason_e reason,
    const char *description);

/* ngx_microshop_token_ctx_t of the request, NULL when no token passed */
ngx_microshop_identity_t *ngx_microshop_token_identity(ngx_http_request_t *r);


#endif /* _NGX_MICROSHOP_TOKEN_H_INCLUDED_ */
