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


/* the access-phase chain, in the order of the SPEC's request path */
typedef enum {
    NGX_MICROSHOP_STAGE_TOKEN = 0,
    NGX_MICROSHOP_STAGE_SCOPE,
    NGX_MICROSHOP_STAGE_RATELIMIT,
    NGX_MICROSHOP_STAGE_IDEMPOTENCY,
    NGX_MICROSHOP_STAGE_RESERVE,
    NGX_MICROSHOP_STAGE_DONE
} ngx_microshop_stage_e;


typedef struct {
    ngx_microshop_zone_t     *zone;       /* microshop_zone (or implicit) */
    ngx_microshop_store_t     store;      /* where shared state lives */
    void                     *token;      /* ngx_microshop_token_main_t */
} ngx_http_microshop_main_conf_t;


typedef struct {
    ngx_flag_t                auth;       /* microshop_auth */
    void                     *token;      /* ngx_microshop_token_loc_t */

    /* set by merge: does any stage run in this location? */
    ngx_flag_t                enabled;
} ngx_http_microshop_loc_conf_t;


typedef struct {
    ngx_microshop_stage_e     stage;
    ngx_microshop_reason_e    reason;     /* the decision, for metrics */
    ngx_microshop_op_t        op;         /* the store operation in flight */
    void                     *token;      /* ngx_microshop_token_ctx_t */
} ngx_http_microshop_ctx_t;


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

/* continue the phases after an asynchronous stage completed */
void ngx_http_microshop_resume(ngx_http_request_t *r);


#endif /* _NGX_MICROSHOP_MODULE_H_INCLUDED_ */
