/*
 * ngx_microshop: the outcome table (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_outcome.h"
#include "ngx_microshop_request.h"


/* which of the request's strings an outcome sets */
#define NGX_MICROSHOP_SLOT_NONE         0
#define NGX_MICROSHOP_SLOT_IDEMPOTENCY  1
#define NGX_MICROSHOP_SLOT_CACHE        2


typedef struct {
    const char                *name;      /* for logs */
    ngx_uint_t                 counter;   /* ngx_microshop_counter_e, 0:
                                             none */
    ngx_microshop_reason_e     reason;    /* NONE: the decision stays */
    ngx_uint_t                 slot;
    ngx_str_t                  value;     /* the variable, the audit field */
} ngx_microshop_outcome_t;


#define ngx_microshop_no_value  ngx_null_string


/* in the order of ngx_microshop_outcome_e */
static ngx_microshop_outcome_t  ngx_microshop_outcomes[] = {

    { "token verified", NGX_MICROSHOP_COUNTER_TOKEN_VERIFICATIONS,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "token from cache", NGX_MICROSHOP_COUNTER_TOKEN_CACHE_HITS,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "no token", 0,
      NGX_MICROSHOP_REASON_NO_TOKEN, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "invalid token", 0,
      NGX_MICROSHOP_REASON_INVALID_TOKEN, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "malformed bearer header", 0,
      NGX_MICROSHOP_REASON_INVALID_REQUEST, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "token revoked", 0,
      NGX_MICROSHOP_REASON_REVOKED, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "token class refused", 0,
      NGX_MICROSHOP_REASON_TOKEN_CLASS, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },

    { "insufficient scope", 0,
      NGX_MICROSHOP_REASON_INSUFFICIENT_SCOPE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "method not allowed", 0,
      NGX_MICROSHOP_REASON_METHOD_NOT_ALLOWED, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "seller mismatch", 0,
      NGX_MICROSHOP_REASON_SELLER_MISMATCH, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },

    { "rate limited", NGX_MICROSHOP_COUNTER_RATE_LIMITED,
      NGX_MICROSHOP_REASON_RATE_LIMITED, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "rate limited, dry run", NGX_MICROSHOP_COUNTER_RATE_DRY_RUN,
      NGX_MICROSHOP_REASON_DRY_RUN, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },

    { "idempotency key new", NGX_MICROSHOP_COUNTER_IDEM_NEW,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_IDEMPOTENCY,
      ngx_string("new") },
    { "idempotent replay", NGX_MICROSHOP_COUNTER_IDEM_REPLAY,
      NGX_MICROSHOP_REASON_REPLAY, NGX_MICROSHOP_SLOT_IDEMPOTENCY,
      ngx_string("replay") },
    { "idempotency key in progress", NGX_MICROSHOP_COUNTER_IDEM_IN_PROGRESS,
      NGX_MICROSHOP_REASON_IDEMPOTENCY, NGX_MICROSHOP_SLOT_IDEMPOTENCY,
      ngx_string("conflict") },
    { "idempotency key mismatch", NGX_MICROSHOP_COUNTER_IDEM_MISMATCH,
      NGX_MICROSHOP_REASON_IDEMPOTENCY, NGX_MICROSHOP_SLOT_IDEMPOTENCY,
      ngx_string("mismatch") },
    { "idempotent answer unavailable", NGX_MICROSHOP_COUNTER_IDEM_UNAVAILABLE,
      NGX_MICROSHOP_REASON_IDEMPOTENCY, NGX_MICROSHOP_SLOT_IDEMPOTENCY,
      ngx_string("unavailable") },
    { "idempotency key released", NGX_MICROSHOP_COUNTER_IDEM_RELEASED,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_IDEMPOTENCY,
      ngx_string("released") },
    { "idempotency key missing", NGX_MICROSHOP_COUNTER_IDEM_INVALID,
      NGX_MICROSHOP_REASON_IDEMPOTENCY, NGX_MICROSHOP_SLOT_IDEMPOTENCY,
      ngx_string("missing") },
    { "idempotency key invalid", NGX_MICROSHOP_COUNTER_IDEM_INVALID,
      NGX_MICROSHOP_REASON_IDEMPOTENCY, NGX_MICROSHOP_SLOT_IDEMPOTENCY,
      ngx_string("invalid") },

    { "inventory cache hit", NGX_MICROSHOP_COUNTER_CACHE_HIT,
      NGX_MICROSHOP_REASON_CACHE_HIT, NGX_MICROSHOP_SLOT_CACHE,
      ngx_string("hit") },
    { "inventory cache miss", NGX_MICROSHOP_COUNTER_CACHE_MISS,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_CACHE,
      ngx_string("miss") },
    { "stale inventory served", NGX_MICROSHOP_COUNTER_CACHE_STALE,
      NGX_MICROSHOP_REASON_CACHE_HIT, NGX_MICROSHOP_SLOT_CACHE,
      ngx_string("stale") },
    { "inventory refresh started", NGX_MICROSHOP_COUNTER_CACHE_REFRESH,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },

    { "stock held", NGX_MICROSHOP_COUNTER_RESERVE_OK,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "out of stock", NGX_MICROSHOP_COUNTER_RESERVE_OUT_OF_STOCK,
      NGX_MICROSHOP_REASON_OUT_OF_STOCK, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "invalid checkout", 0,
      NGX_MICROSHOP_REASON_INVALID_CHECKOUT, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "hold committed", NGX_MICROSHOP_COUNTER_RESERVE_COMMIT,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "hold released", NGX_MICROSHOP_COUNTER_RESERVE_RELEASE,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },

    { "webhook signature refused", 0,
      NGX_MICROSHOP_REASON_INVALID_SIGNATURE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "webhook event answered", 0,
      NGX_MICROSHOP_REASON_OK, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },

    { "request allowed", 0,
      NGX_MICROSHOP_REASON_OK, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "store unavailable", 0,
      NGX_MICROSHOP_REASON_STORE_UNAVAILABLE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "internal error", 0,
      NGX_MICROSHOP_REASON_ERROR, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },

    { "path differs from the normalized one", 0,
      NGX_MICROSHOP_REASON_INVALID_REQUEST, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },

    { "upstream unavailable", 0,
      NGX_MICROSHOP_REASON_UPSTREAM_UNAVAILABLE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "seller over its quota of records", 0,
      NGX_MICROSHOP_REASON_QUOTA_EXCEEDED, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },

    { "idempotency key kept: outcome unknown",
      NGX_MICROSHOP_COUNTER_IDEM_UNKNOWN,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_IDEMPOTENCY,
      ngx_string("unknown") },
    { "hold kept: outcome unknown", NGX_MICROSHOP_COUNTER_RESERVE_UNKNOWN,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "checkout accepted offline", NGX_MICROSHOP_COUNTER_OFFLINE_ACCEPTED,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "hold committed by the admin API",
      NGX_MICROSHOP_COUNTER_SETTLED_ADMIN_COMMIT,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "hold released by the admin API",
      NGX_MICROSHOP_COUNTER_SETTLED_ADMIN_RELEASE,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },

    { "token exchange: token issued", NGX_MICROSHOP_COUNTER_MINTED_EXCHANGE,
      NGX_MICROSHOP_REASON_OK, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "token exchange: invalid request",
      NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_REQUEST,
      NGX_MICROSHOP_REASON_INVALID_REQUEST, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "token exchange: unsupported grant type",
      NGX_MICROSHOP_COUNTER_EXCHANGE_UNSUPPORTED_GRANT,
      NGX_MICROSHOP_REASON_INVALID_REQUEST, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "token exchange: audience or resource asked",
      NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_TARGET,
      NGX_MICROSHOP_REASON_INVALID_REQUEST, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "token exchange: subject token refused",
      NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_GRANT,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "token exchange: subject token may not be exchanged",
      NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_GRANT,
      NGX_MICROSHOP_REASON_INVALID_GRANT, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "token exchange: no scope left to grant",
      NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_SCOPE,
      NGX_MICROSHOP_REASON_INVALID_SCOPE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "token exchange: subject token may not issue",
      NGX_MICROSHOP_COUNTER_EXCHANGE_UNAUTHORIZED,
      NGX_MICROSHOP_REASON_INSUFFICIENT_SCOPE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "seller token issued by the admin API",
      NGX_MICROSHOP_COUNTER_MINTED_ADMIN,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "keys fetched from the identity provider",
      NGX_MICROSHOP_COUNTER_JWKS_OK,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "keys from the identity provider not fetched",
      NGX_MICROSHOP_COUNTER_JWKS_ERROR,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "keys from the identity provider refused",
      NGX_MICROSHOP_COUNTER_JWKS_INVALID,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
    { "waiting for the keys of the identity provider", 0,
      NGX_MICROSHOP_REASON_NONE, NGX_MICROSHOP_SLOT_NONE,
      ngx_microshop_no_value },
};


/* the table and the enum must not drift apart */
typedef char  ngx_microshop_outcomes_complete[
    (sizeof(ngx_microshop_outcomes) / sizeof(ngx_microshop_outcome_t)
     == NGX_MICROSHOP_OUT_MAX) ? 1 : -1];


void
ngx_microshop_outcome(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx,
    ngx_microshop_outcome_e outcome)
{
    ngx_microshop_outcome_t         *o;
    ngx_http_microshop_main_conf_t  *mmcf;

    o = &ngx_microshop_outcomes[outcome];

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop: %s", o->name);

    if (o->counter) {
        mmcf = ngx_microshop_main_conf(r);
        ngx_microshop_zone_count(mmcf->zone, o->counter, 1);
    }

    if (o->reason != NGX_MICROSHOP_REASON_NONE) {
        ctx->reason = o->reason;
    }

    switch (o->slot) {

    case NGX_MICROSHOP_SLOT_IDEMPOTENCY:
        ctx->idempotency = o->value;
        break;

    case NGX_MICROSHOP_SLOT_CACHE:
        ctx->cache = o->value;
        break;
    }
}


const char *
ngx_microshop_outcome_name(ngx_microshop_outcome_e outcome)
{
    return ngx_microshop_outcomes[outcome].name;
}
