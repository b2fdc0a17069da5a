/*
 * ngx_microshop: idempotency keys -- a retried write executes at most once.
 *
 * microshop_idempotency off|on|required [methods=...] [ttl=T] [lock=T]
 *                       [max_body=SIZE] [header=NAME]            (loc)
 *
 * The IDEMPOTENCY stage validates the key, reads the request body (it still
 * reaches the upstream byte for byte), fingerprints method, URI and body,
 * and takes the key's lock in the store; a duplicate is answered from the
 * stored answer (replay), 409 while the first is in flight, 422 when the
 * key was used for another request.  The header and body filters capture
 * the upstream's answer and store it before its last byte goes out, or
 * release the key when the answer was a 5xx or the upstream failed; the
 * log phase settles what is left (an answer cut short: executed, not
 * replayable).
 */

#ifndef _NGX_MICROSHOP_IDEMPOTENCY_H_INCLUDED_
#define _NGX_MICROSHOP_IDEMPOTENCY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


char *ngx_microshop_idempotency_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_microshop_idem_loc_create(ngx_microshop_idem_loc_t *ilcf);
char *ngx_microshop_idem_loc_merge(ngx_conf_t *cf,
    ngx_microshop_idem_loc_t *prev, ngx_microshop_idem_loc_t *conf);

ngx_int_t ngx_microshop_idempotency_stage(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
ngx_int_t ngx_microshop_idem_header_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
ngx_int_t ngx_microshop_idem_body_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_chain_t *in);


#endif /* _NGX_MICROSHOP_IDEMPOTENCY_H_INCLUDED_ */
