/*
 * ngx_microshop: scopes per method and the seller a route addresses.
 *
 * microshop_require_scope METHODS SCOPE...  for these methods every listed
 *     scope is required (several lines covering one method add up); once a
 *     location has a rule, a method no rule covers gets 405 with Allow.
 * microshop_seller VALUE  the token's seller must equal it; where it is set,
 *     a raw path whose segments differ from the normalized ones is 400
 *     invalid-request, token or not (microshop_path.h); nginx -t warns
 *     when VALUE reads a variable the client sets freely.
 */

#ifndef _NGX_MICROSHOP_SCOPE_H_INCLUDED_
#define _NGX_MICROSHOP_SCOPE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"

/* the method lists of scope rules, for those who read or print them */
#include "ngx_microshop_conf.h"


char *ngx_microshop_require_scope_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_microshop_seller_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* a new scope rule of a location, zeroed; NULL on error */
ngx_microshop_scope_rule_t *ngx_microshop_scope_rule_add(ngx_conf_t *cf,
    ngx_microshop_scope_loc_t *slcf);

/*
 * A content handler's location (microshop_admin, microshop_feed,
 * microshop_audit_report): a token is required, and it must hold scope
 * whatever the method.
 */
ngx_int_t ngx_microshop_scope_require_any(ngx_conf_t *cf,
    ngx_http_microshop_loc_conf_t *mlcf, char *scope);

/* 1 when the request's verified token holds the scope (len bytes) */
ngx_uint_t ngx_microshop_scope_token_has(ngx_http_request_t *r,
    char *scope, size_t len);

/*
 * The scopes of a normalized set one after the other: *pos starts at
 * set->data (or NULL); each call gives the next in *scope, 0 at the end.
 */
ngx_uint_t ngx_microshop_scope_next(ngx_str_t *set, u_char **pos,
    ngx_str_t *scope);

void ngx_microshop_scope_loc_create(ngx_microshop_scope_loc_t *slcf);
char *ngx_microshop_scope_loc_merge(ngx_conf_t *cf,
    ngx_microshop_scope_loc_t *prev, ngx_microshop_scope_loc_t *conf);

ngx_int_t ngx_microshop_scope_stage(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/* the scopes the request's method needs (normalized), for audit */
ngx_str_t *ngx_microshop_scope_required(ngx_http_request_t *r,
    ngx_microshop_scope_loc_t *slcf);

/*
 * The seller a route addresses: microshop_seller, else the token's; empty
 * when neither names one (for the stages after the scope stage).
 */
ngx_int_t ngx_microshop_route_seller(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *seller);


#endif /* _NGX_MICROSHOP_SCOPE_H_INCLUDED_ */
