/*
 * ngx_microshop: bearer tokens at the edge (docs/http.md, "Tokens (401)").
 *
 * The TOKEN stage: a request's token is verified once per node, then its
 * identity comes from the verified-token cache
 * (ngx_microshop_token_cache.h) until the token expires; time, issuer,
 * audience and revocation are checked on every request.  The keys, claim
 * names and token classes it checks against are configured by the
 * directives of ngx_microshop_token_conf.h.
 */

#ifndef _NGX_MICROSHOP_TOKEN_H_INCLUDED_
#define _NGX_MICROSHOP_TOKEN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_outcome.h"


ngx_int_t ngx_microshop_token_stage(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/*
 * The identity of a token, from the verified-token cache or verified now
 * (counted as TOKEN_CACHED or TOKEN_VERIFIED), then the checks made on
 * every request (time, issuer and audience of the request's location).
 * NGX_OK: ctx->token.id holds it; NGX_DECLINED: refused, *outcome
 * (TOKEN_INVALID or TOKEN_CLASS) and *why (a static text a client may
 * read) say why, and nothing was answered or recorded yet; NGX_AGAIN:
 * with microshop_jwt_jwks_uri, the identity provider's keys are being
 * fetched and the request waits for them (ngx_microshop_jwks_uri.h): its
 * r->write_event_handler, as it was at the call, runs when the wait is
 * over; call again from there; NGX_ERROR.
 * Revocation is not checked here: ngx_microshop_token_revoked_op().
 * Used by the TOKEN stage on the bearer token and by the token exchange
 * on its subject token.
 */
ngx_int_t ngx_microshop_token_identify(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *token,
    ngx_microshop_outcome_e *outcome, const char **why);

/*
 * Fills op (type, key and u.revoked) with the revocation check of an
 * identity (docs/tokens.md "Revocation"): its jti, its parent_jti, and
 * its seller, class and iat for the watermarks of its seller.  NGX_OK,
 * also for a token without a jti (a watermark may cover it); NGX_DECLINED
 * when nothing a revocation names is in the token (no jti, no parent_jti,
 * no seller): there is nothing to check.  The op points into the
 * identity's strings.  Once the op ran, op->rc NGX_OK means revoked,
 * NGX_ERROR that the store could not tell.
 */
ngx_int_t ngx_microshop_token_revoked_op(ngx_microshop_identity_t *id,
    ngx_microshop_op_t *op);

/*
 * the 401 answer, with RFC 6750 WWW-Authenticate; the 400 invalid-request
 * one for NGX_MICROSHOP_OUT_TOKEN_MALFORMED
 */
ngx_int_t ngx_microshop_token_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_outcome_e outcome,
    const char *description);

/*
 * The name of the claim that holds an identity field (SELLER, SCOPES,
 * CLASS, TIER; also SUBJECT: "sub"), as microshop_jwt_claims names it:
 * what the gateway reads, and so what the tokens it mints carry.
 */
ngx_str_t *ngx_microshop_token_claim_name(ngx_http_microshop_main_conf_t *mmcf,
    ngx_microshop_id_field_e field);

/* ngx_microshop_token_ctx_t of the request, NULL when no token passed */
ngx_microshop_identity_t *ngx_microshop_token_identity(ngx_http_request_t *r);

/* nginx's own 400 for a second Authorization header, as a problem */
ngx_int_t ngx_microshop_token_duplicate_filter(ngx_http_request_t *r);


#endif /* _NGX_MICROSHOP_TOKEN_H_INCLUDED_ */
