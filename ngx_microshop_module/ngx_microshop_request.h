/*
 * ngx_microshop: the request layer under every feature
 * (docs/architecture.md).
 *
 * The module's configuration and context of a request, reading the body
 * in a phase handler, and running store operations for a request: an op
 * that does not finish at once holds the request (r->main->count) and is
 * cancelled through an ngx_http_cleanup_add handler when the request dies
 * first, so a late answer never touches freed memory.
 */

#ifndef _NGX_MICROSHOP_REQUEST_H_INCLUDED_
#define _NGX_MICROSHOP_REQUEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


/*
 * The module itself, handed down by the module file at preconfiguration,
 * so that the layers below it never name the module file's symbols.
 */
extern ngx_module_t  *ngx_microshop_module;

void ngx_microshop_request_init(ngx_module_t *module);

#define ngx_microshop_main_conf(r)                                           \
    ((ngx_http_microshop_main_conf_t *)                                      \
         ngx_http_get_module_main_conf(r, (*ngx_microshop_module)))
#define ngx_microshop_loc_conf(r)                                            \
    ((ngx_http_microshop_loc_conf_t *)                                       \
         ngx_http_get_module_loc_conf(r, (*ngx_microshop_module)))
#define ngx_microshop_conf_main_conf(cf)                                     \
    ((ngx_http_microshop_main_conf_t *)                                      \
         ngx_http_conf_get_module_main_conf(cf, (*ngx_microshop_module)))
#define ngx_microshop_conf_loc_conf(cf)                                      \
    ((ngx_http_microshop_loc_conf_t *)                                       \
         ngx_http_conf_get_module_loc_conf(cf, (*ngx_microshop_module)))
#define ngx_microshop_cycle_main_conf(cycle)                                 \
    ((ngx_http_microshop_main_conf_t *)                                      \
         ngx_http_cycle_get_module_main_conf(cycle, (*ngx_microshop_module)))

/* the context of the request, NULL when none was made */
#define ngx_microshop_ctx(r)                                                 \
    ((ngx_http_microshop_ctx_t *)                                            \
         ngx_http_get_module_ctx(r, (*ngx_microshop_module)))


/* the context of the request, made on first use; NULL: out of memory */
ngx_http_microshop_ctx_t *ngx_microshop_request_ctx(ngx_http_request_t *r);

/*
 * A stage handler returns
 *   NGX_DECLINED  the stage has nothing against the request: go on;
 *   NGX_AGAIN     a store operation or the body is pending: the phases
 *                 resume when it finishes and the stage runs again;
 *   NGX_DONE      the stage answered the request itself (problem, replay);
 *   NGX_ERROR     internal failure (500).
 */
typedef ngx_int_t (*ngx_microshop_stage_pt)(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/*
 * Runs ctx->op for a stage.  NGX_OK: the result is in ctx->op (at once,
 * or when the stage runs again after the op finished); NGX_AGAIN: in
 * flight, the phases resume when it finishes.
 */
ngx_int_t ngx_microshop_request_store(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/* called with the finished op of ngx_microshop_request_exec() */
typedef void (*ngx_microshop_request_done_pt)(ngx_http_request_t *r,
    ngx_microshop_op_t *op);

/*
 * Runs an op for a content handler.  NGX_OK: finished now, the caller
 * reads the result (done is not called); NGX_AGAIN: done(r, op) runs when
 * it finishes, unless the request dies first; NGX_ERROR: not started.
 * The op lives in the request pool; one op per request is in flight.
 */
ngx_int_t ngx_microshop_request_exec(ngx_http_request_t *r,
    ngx_microshop_op_t *op, ngx_microshop_request_done_pt done);

/*
 * ngx_microshop_request_exec() for a content handler whose answer is sent
 * by done(r, op), now or when the store answers; a failure to start it
 * finalizes the request with 500
 */
/*
 * The path of a content handler's request below its location (a prefix
 * location; a regex location's is the whole path), without leading
 * slashes: a new ngx_str_t in r->pool, NULL when out of memory
 */
ngx_str_t *ngx_microshop_request_route(ngx_http_request_t *r);

/*
 * A route "<prefix><a>/<b>" of a content handler (skip: the prefix's
 * length): a and b, neither empty, b without a '/'; NGX_DECLINED when the
 * route has no such form
 */
ngx_int_t ngx_microshop_route_pair(ngx_str_t *route, size_t skip,
    ngx_str_t *a, ngx_str_t *b);

void ngx_microshop_request_run(ngx_http_request_t *r, ngx_microshop_op_t *op,
    ngx_microshop_request_done_pt done);

/*
 * handler(r, ctx) runs when the request ends (answered, terminated, its
 * client gone), before the log phase, with the context a stage wrote to
 * even when an internal redirect (error_page) detached it from the
 * request: what a stage took there (a lock, a hold) is settled by it.
 */
typedef void (*ngx_microshop_request_end_pt)(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

ngx_int_t ngx_microshop_request_at_end(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_request_end_pt handler);

/*
 * A number no other request takes, on this node or another one sharing
 * its store (docs/redis.md): a random 64-bit base per worker (OpenSSL's
 * RAND_bytes, drawn at its first use) plus a counter.  An idempotency
 * lock's owner and a reservation's id are made from it: a pid or a time,
 * which containers repeat across nodes, is not enough.
 */
uint64_t ngx_microshop_request_unique(void);

/*
 * Marks every buffer of in as sent (an output filter that keeps a
 * subrequest's answer to itself): they are free again for whoever made
 * them.
 */
void ngx_microshop_request_consume(ngx_chain_t *in);

/*
 * Reads the request body in the access phase (once per request; it still
 * reaches the upstream as it came).  NGX_OK: read; NGX_AGAIN: reading,
 * the phases resume when it is done; NGX_DONE: the request was finalized
 * (413, client gone).
 */
ngx_int_t ngx_microshop_request_read_body(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/*
 * Reads the request body for a content handler, which then runs
 * handler(r): what the content handler returns (NGX_DONE, or an error
 * status nginx answers)
 */
ngx_int_t ngx_microshop_request_content_body(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler);

#endif /* _NGX_MICROSHOP_REQUEST_H_INCLUDED_ */
