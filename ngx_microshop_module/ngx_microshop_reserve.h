/*
 * ngx_microshop: live-drop reservations (docs/inventory.md,
 * "Reservations").
 *
 * microshop_reserve on|off [hold=T]                               (loc)
 *     checkout bodies reserve stock all-or-nothing at the edge; a 2xx
 *     from the backend commits, its other answers and a request that
 *     provably never left release; a request that ends without an answer
 *     after it was sent keeps its hold, its outcome unknown (docs/http.md
 *     "Outcomes").  A once-a-second sweep in every worker moves holds
 *     past hold= to pending reconciliation, which the admin API lists and
 *     settles (docs/inventory.md).
 */

#ifndef _NGX_MICROSHOP_RESERVE_H_INCLUDED_
#define _NGX_MICROSHOP_RESERVE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


char *ngx_microshop_reserve_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

void ngx_microshop_reserve_loc_create(ngx_microshop_reserve_loc_t *c);
char *ngx_microshop_reserve_loc_merge(ngx_conf_t *cf,
    ngx_microshop_reserve_loc_t *prev, ngx_microshop_reserve_loc_t *conf);

ngx_int_t ngx_microshop_reserve_stage(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

void ngx_microshop_reserve_header_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/* the periodic sweep of holds past hold=, one timer per worker */
ngx_int_t ngx_microshop_reserve_init_process(ngx_cycle_t *cycle);


#endif /* _NGX_MICROSHOP_RESERVE_H_INCLUDED_ */
