/*
 * ngx_microshop: shared types of the nginx glue.
 *
 * Configuration (main and location), the per-request context and the
 * access-phase stages that the feature files plug into.
 */

#ifndef _NGX_MICROSHOP_MODULE_H_INCLUDED_
#define _NGX_MICROSHOP_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_zone.h"
#include "ngx_microshop_store.h"
#include "ngx_microshop_metrics.h"
#include "ngx_microshop_types.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_audit.h"
#include "ngx_microshop_ratelimit.h"
#include "ngx_microshop_idempotency.h"
#include "ngx_microshop_inventory.h"


/* the access-phase chain, in the order of the SPEC's request path */
typedef enum {
    NGX_MICROSHOP_STAGE_TOKEN = 0,
    NGX_MICROSHOP_STAGE_SCOPE,
    NGX_MICROSHOP_STAGE_RATELIMIT,
    NGX_MICROSHOP_STAGE_IDEMPOTENCY,
    NGX_MICROSHOP_STAGE_RESERVE,
    NGX_MICROSHOP_STAGE_CACHE,
    NGX_MICROSHOP_STAGE_DONE
} ngx_microshop_stage_e;


struct ngx_http_microshop_main_conf_s {
    ngx_microshop_zone_t       *zone;     /* microshop_zone (or implicit) */
    ngx_microshop_store_t       store;    /* where shared state lives */
    ngx_microshop_token_main_t  token;
    ngx_microshop_audit_main_t  audit;
    ngx_microshop_rate_main_t   rate;
    ngx_flag_t                  reserve_used;
};


struct ngx_http_microshop_loc_conf_s {
    ngx_flag_t                  auth;     /* microshop_auth */
    ngx_microshop_token_loc_t   token;
    ngx_microshop_scope_loc_t   scope;
    ngx_microshop_rate_loc_t    rate;
    ngx_microshop_idem_loc_t    idem;
    ngx_microshop_cache_loc_t   cache;
    ngx_microshop_reserve_loc_t reserve;
    void                       *events;   /* ngx_microshop_events_loc_t */

    /* set by merge: does any stage run in this location? */
    ngx_flag_t                  enabled;
};


struct ngx_http_microshop_ctx_s {
    ngx_microshop_stage_e       stage;
    ngx_microshop_reason_e      reason;   /* the decision, for metrics */
    ngx_microshop_op_t          op;       /* the store operation */
    ngx_uint_t                  op_state; /* NGX_MICROSHOP_OP_* */
    ngx_microshop_token_ctx_t   token;
    ngx_uint_t                  has_token;
    ngx_uint_t                  body_read;
    ngx_str_t                   scopes_required;
    ngx_str_t                   route_seller;  /* microshop_seller, once */
    ngx_microshop_rate_ctx_t    rate;
    ngx_microshop_idem_ctx_t    idem;
    ngx_microshop_cache_ctx_t   cache_ctx;
    ngx_microshop_reserve_ctx_t reserve;

    /* for the audit log and variables; set by the stages that ran */
    ngx_int_t                   rate_remaining;   /* -1: not limited */
    ngx_str_t                   idempotency;      /* new, replay, ... */
    ngx_str_t                   cache;            /* hit, miss, stale */
};


#define NGX_MICROSHOP_OP_IDLE     0
#define NGX_MICROSHOP_OP_PENDING  1
#define NGX_MICROSHOP_OP_DONE     2


extern ngx_module_t  ngx_http_microshop_module;


ngx_http_microshop_ctx_t *ngx_http_microshop_get_ctx(ngx_http_request_t *r);

/*
 * A stage handler returns
 *   NGX_DECLINED  the stage has nothing against the request: go on;
 *   NGX_AGAIN     a store operation is in flight: the stage resumes the
 *                 phases from its completion handler;
 *   NGX_DONE      the stage answered the request itself (problem, replay);
 *   NGX_ERROR     internal failure (500).
 */
typedef ngx_int_t (*ngx_microshop_stage_pt)(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/*
 * Runs ctx->op on the store.  NGX_OK: the result is in ctx->op (at once,
 * or when the stage is entered again after the operation completed);
 * NGX_AGAIN: in flight, the phases resume when it completes.
 */
ngx_int_t ngx_http_microshop_store(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/*
 * Reads the request body in the access phase (once per request; it still
 * reaches the upstream as it came).  NGX_OK: read; NGX_AGAIN: reading,
 * the phases resume when it is done; NGX_DONE: the request was finalized
 * (413, client gone).
 */
ngx_int_t ngx_http_microshop_read_body(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/* 503 store-unavailable */
ngx_int_t ngx_http_microshop_store_failed(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);


#endif /* _NGX_MICROSHOP_MODULE_H_INCLUDED_ */
