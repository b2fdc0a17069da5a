/*
 * ngx_microshop: tokens the gateway signs itself (docs/tokens.md).
 *
 * The gateway's signing key (microshop_jwt_signing_key) signs the tokens
 * of the token exchange (microshop_token_exchange) and of seller
 * onboarding (microshop_admin, POST <loc>/sellers/<seller>/tokens).  Its
 * public half is one of the verification keys, so the gateway accepts
 * what it mints, and microshop_jwks publishes it for backends.
 */

#ifndef _NGX_MICROSHOP_MINT_H_INCLUDED_
#define _NGX_MICROSHOP_MINT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_microshop_types.h"


/* 1 when microshop_jwt_signing_key is configured */
ngx_uint_t ngx_microshop_mint_enabled(ngx_http_request_t *r);

/*
 * Signs claims (a JSON object, not changed) with the gateway's signing key
 * as a compact JWS whose header is {"alg":...,"kid":...,"typ":"at+jwt"}.
 * NGX_OK with the token in r->pool; NGX_DECLINED: no signing key is
 * configured; NGX_ERROR (logged).
 */
ngx_int_t ngx_microshop_mint(ngx_http_request_t *r, json_t *claims,
    ngx_str_t *token);

/* a fresh random jti: 128 bits from the CSPRNG, base64url, in r->pool */
ngx_int_t ngx_microshop_mint_jti(ngx_http_request_t *r, ngx_str_t *jti);


/*
 * The verification key (the public half) of the signing key i, in the
 * order of the directives (0: the one that signs); NULL past the last.
 */
const microshop_key_t *ngx_microshop_mint_public_key(
    ngx_http_microshop_main_conf_t *mmcf, ngx_uint_t i);

/* microshop_jwt_signing_key FILE kid=ID [alg=ES256|ES384|RS256] */
char *ngx_microshop_jwt_signing_key_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


#endif /* _NGX_MICROSHOP_MINT_H_INCLUDED_ */
