/*
 * ngx_microshop: the outcomes of the gateway's decisions, in one table
 * (docs/operations.md "Metrics", docs/audit-and-policy.md).
 *
 * As ngx_http_limit_req_module.c keeps its status strings, every outcome
 * a feature reaches is one value of ngx_microshop_outcome_e, and one row
 * of the table in ngx_microshop_outcome.c says what follows from it: the
 * counter it counts (a line of the status page), the request's decision
 * (microshop_requests_total{reason} and the audit line's "reason"), and
 * the value of the feature's variable and audit field
 * ($microshop_idempotency, $microshop_cache).  Features call
 * ngx_microshop_outcome() and set none of these themselves.
 */

#ifndef _NGX_MICROSHOP_OUTCOME_H_INCLUDED_
#define _NGX_MICROSHOP_OUTCOME_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


typedef enum {
    /* token */
    NGX_MICROSHOP_OUT_TOKEN_VERIFIED = 0,
    NGX_MICROSHOP_OUT_TOKEN_CACHED,
    NGX_MICROSHOP_OUT_TOKEN_MISSING,
    NGX_MICROSHOP_OUT_TOKEN_INVALID,
    NGX_MICROSHOP_OUT_TOKEN_MALFORMED,
    NGX_MICROSHOP_OUT_TOKEN_REVOKED,
    NGX_MICROSHOP_OUT_TOKEN_CLASS,

    /* scope and seller */
    NGX_MICROSHOP_OUT_SCOPE_INSUFFICIENT,
    NGX_MICROSHOP_OUT_SCOPE_METHOD,
    NGX_MICROSHOP_OUT_SELLER_MISMATCH,

    /* rate limit */
    NGX_MICROSHOP_OUT_RATE_LIMITED,
    NGX_MICROSHOP_OUT_RATE_DRY_RUN,

    /* idempotency: $microshop_idempotency */
    NGX_MICROSHOP_OUT_IDEM_NEW,
    NGX_MICROSHOP_OUT_IDEM_REPLAY,
    NGX_MICROSHOP_OUT_IDEM_CONFLICT,
    NGX_MICROSHOP_OUT_IDEM_MISMATCH,
    NGX_MICROSHOP_OUT_IDEM_UNAVAILABLE,
    NGX_MICROSHOP_OUT_IDEM_RELEASED,
    NGX_MICROSHOP_OUT_IDEM_MISSING,
    NGX_MICROSHOP_OUT_IDEM_INVALID,

    /* inventory cache: $microshop_cache */
    NGX_MICROSHOP_OUT_CACHE_HIT,
    NGX_MICROSHOP_OUT_CACHE_MISS,
    NGX_MICROSHOP_OUT_CACHE_STALE,
    NGX_MICROSHOP_OUT_CACHE_REFRESH,

    /* reservations */
    NGX_MICROSHOP_OUT_RESERVE_HELD,
    NGX_MICROSHOP_OUT_RESERVE_OUT_OF_STOCK,
    NGX_MICROSHOP_OUT_RESERVE_INVALID,
    NGX_MICROSHOP_OUT_RESERVE_COMMIT,
    NGX_MICROSHOP_OUT_RESERVE_RELEASE,

    /* the webhook receiver */
    NGX_MICROSHOP_OUT_EVENT_SIGNATURE_INVALID,
    NGX_MICROSHOP_OUT_EVENT_ANSWERED,

    /* the request as a whole */
    NGX_MICROSHOP_OUT_ALLOWED,
    NGX_MICROSHOP_OUT_STORE_UNAVAILABLE,
    NGX_MICROSHOP_OUT_ERROR,

    /* the path a seller is read from (scope and seller) */
    NGX_MICROSHOP_OUT_PATH_INVALID,
    /* nginx's own 502/503/504, answered as a problem */
    NGX_MICROSHOP_OUT_UPSTREAM_UNAVAILABLE,
    /* a seller over its seller_quota= of records in the zone */
    NGX_MICROSHOP_OUT_QUOTA_EXCEEDED,

    /* outcomes not known (docs/http.md "Outcomes"), and the admin API's
     * settling of holds */
    NGX_MICROSHOP_OUT_IDEM_UNKNOWN,
    NGX_MICROSHOP_OUT_RESERVE_UNKNOWN,
    NGX_MICROSHOP_OUT_RESERVE_OFFLINE,
    NGX_MICROSHOP_OUT_ORDER_COMMIT,
    NGX_MICROSHOP_OUT_ORDER_RELEASE,

    /* tokens the gateway mints (docs/tokens.md): the token exchange's
     * answers (a refused subject token is first recorded as the token
     * stage records it), seller onboarding */
    NGX_MICROSHOP_OUT_EXCHANGE_ISSUED,
    NGX_MICROSHOP_OUT_EXCHANGE_INVALID_REQUEST,
    NGX_MICROSHOP_OUT_EXCHANGE_UNSUPPORTED_GRANT,
    NGX_MICROSHOP_OUT_EXCHANGE_INVALID_TARGET,
    NGX_MICROSHOP_OUT_EXCHANGE_SUBJECT_REFUSED,
    NGX_MICROSHOP_OUT_EXCHANGE_INVALID_GRANT,
    NGX_MICROSHOP_OUT_EXCHANGE_INVALID_SCOPE,
    NGX_MICROSHOP_OUT_EXCHANGE_UNAUTHORIZED,
    NGX_MICROSHOP_OUT_ONBOARD_ISSUED,
    /* keys from the identity provider (ngx_microshop_jwks_uri.h): a
     * fetch's result, counted for the request that started it */
    NGX_MICROSHOP_OUT_JWKS_FETCHED,
    NGX_MICROSHOP_OUT_JWKS_FETCH_FAILED,
    NGX_MICROSHOP_OUT_JWKS_INVALID,
    NGX_MICROSHOP_OUT_JWKS_WAIT,

    NGX_MICROSHOP_OUT_MAX
} ngx_microshop_outcome_e;


/*
 * Records the outcome for the request: counts it, sets the request's
 * decision (when the row has one) and the feature's variable, and logs it
 * at debug level.
 */
void ngx_microshop_outcome(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_outcome_e outcome);

/* the name of an outcome, for logs */
const char *ngx_microshop_outcome_name(ngx_microshop_outcome_e outcome);


#endif /* _NGX_MICROSHOP_OUTCOME_H_INCLUDED_ */
