/*
 * ngx_microshop: the token directives (docs/directives.md,
 * "microshop_jwt_key" to "microshop_auth").
 *
 * Keys (microshop_jwt_key, microshop_jwt_jwks), issuers and audiences,
 * the leeway, claim names and token classes, and the digest of all that
 * verification depends on, which is part of the verified-token cache key
 * (ngx_microshop_token_cache.h).  The TOKEN stage that uses them is
 * ngx_microshop_token.h.
 */

#ifndef _NGX_MICROSHOP_TOKEN_CONF_H_INCLUDED_
#define _NGX_MICROSHOP_TOKEN_CONF_H_INCLUDED_


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
/* ecdsa_s=low|any of a key directive: 1 (*any set), 0 another parameter,
 * -1 a bad value (logged) */
ngx_int_t ngx_microshop_jwt_ecdsa_s(ngx_conf_t *cf, ngx_str_t *param,
    ngx_uint_t *any);
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

/* the declared token class of that name, or NULL */
ngx_microshop_token_class_t *ngx_microshop_token_class_find(
    ngx_microshop_token_main_t *tm, ngx_str_t *name);


#endif /* _NGX_MICROSHOP_TOKEN_CONF_H_INCLUDED_ */
