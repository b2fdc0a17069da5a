/*
 * ngx_microshop: the tokens the gateway issues itself (docs/tokens.md):
 * the claims the token exchange (ngx_microshop_exchange.h) and seller
 * onboarding (ngx_microshop_onboard.h) write, under the claim names the
 * gateway reads back (microshop_jwt_claims), signed by ngx_microshop_mint()
 * and noted for the audit line.
 */

#ifndef _NGX_MICROSHOP_ISSUE_H_INCLUDED_
#define _NGX_MICROSHOP_ISSUE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


/* a token to mint; a null string is a claim left out */
typedef struct {
    ngx_str_t                 iss;
    ngx_str_t                 sub;
    ngx_str_t                 act_sub;     /* act: {"sub": ...} */
    ngx_str_t                 aud;         /* values joined by '\n' */
    ngx_str_t                 seller;
    ngx_str_t                 tier;
    ngx_str_t                 class_name;
    ngx_str_t                 scopes;      /* normalized, space-separated */
    ngx_str_t                 parent_jti;
    int64_t                   iat;
    int64_t                   exp;
    ngx_str_t                 jti;         /* set by ngx_microshop_issue() */
} ngx_microshop_issue_t;


/*
 * Mints t with a fresh random jti (t->jti): NGX_OK and the token in
 * r->pool, and, with an audit log, ctx->minted set to what its line says
 * of it (jti, sub, seller, class, scopes, exp; never the token);
 * NGX_DECLINED: no signing key is configured; NGX_ERROR (logged).
 */
ngx_int_t ngx_microshop_issue(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_issue_t *t,
    ngx_str_t *token);


#endif /* _NGX_MICROSHOP_ISSUE_H_INCLUDED_ */
