/*
 * ngx_microshop: bearer tokens at the edge.
 *
 * Keys (microshop_jwt_key, microshop_jwt_jwks), claim names, token classes,
 * the verified-token cache in the zone, and the TOKEN stage: a request's
 * token is verified once per node, then its identity comes from the cache
 * until the token expires; time, issuer, audience and revocation are
 * checked on every request.
 */

#ifndef _NGX_MICROSHOP_TOKEN_H_INCLUDED_
#define _NGX_MICROSHOP_TOKEN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "microshop_token_keys.h"
#include "ngx_microshop_types.h"
#include "ngx_microshop_metrics.h"


/* the identity a verified token carries (cached in the zone) */
typedef enum {
    NGX_MICROSHOP_ID_SELLER = 0,
    NGX_MICROSHOP_ID_SUBJECT,
    NGX_MICROSHOP_ID_SCOPES,          /* normalized, space-separated */
    NGX_MICROSHOP_ID_CLASS,
    NGX_MICROSHOP_ID_TIER,
    NGX_MICROSHOP_ID_JTI,
    NGX_MICROSHOP_ID_KID,
    NGX_MICROSHOP_ID_ALG,
    NGX_MICROSHOP_ID_ISS,
    NGX_MICROSHOP_ID_AUD,             /* values joined by '\n' */
    NGX_MICROSHOP_ID_MAX
} ngx_microshop_id_field_e;

#define NGX_MICROSHOP_NO_TIME  INT64_MIN


typedef struct {
    int64_t                   exp;
    int64_t                   nbf;        /* NGX_MICROSHOP_NO_TIME: absent */
    int64_t                   iat;        /* NGX_MICROSHOP_NO_TIME: absent */
    ngx_str_t                 f[NGX_MICROSHOP_ID_MAX];
} ngx_microshop_identity_t;


typedef struct {
    ngx_str_t                 name;
    time_t                    max_ttl;
    ngx_str_t                 scopes;     /* ceiling, normalized; or null */
    ngx_uint_t                line;
} ngx_microshop_token_class_t;


typedef struct {
    microshop_keyset_t        keys;
    ngx_array_t               jwks;       /* ngx_str_t file names */
    time_t                    leeway;
    ngx_str_t                 claim[NGX_MICROSHOP_ID_JTI];  /* seller..tier */
    ngx_array_t               classes;    /* ngx_microshop_token_class_t */
    ngx_microshop_token_class_t *default_class;

    /*
     * A digest of everything verification depends on (keys, classes,
     * claim names): part of the token cache key, so that a reload which
     * drops a key or tightens a class never serves tokens verified under
     * the old configuration.
     */
    u_char                    config_hash[32];
} ngx_microshop_token_main_t;


typedef struct {
    ngx_array_t              *issuers;    /* ngx_str_t */
    ngx_array_t              *audiences;  /* ngx_str_t */
    u_char                   *auth_file;  /* where microshop_auth was set */
    ngx_uint_t                auth_line;
} ngx_microshop_token_loc_t;


typedef struct {
    ngx_microshop_identity_t  id;
    ngx_uint_t                verified;   /* 1: now verified, 0: from cache */
} ngx_microshop_token_ctx_t;


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
