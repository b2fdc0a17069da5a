/*
 * ngx_microshop: the admin API (microshop_admin), content handler.
 *
 *   POST <loc>/revocations           {"jti":"...","exp":<unix>}  -> 204
 *   PUT  <loc>/stock/<seller>/<sku>  {"available":N}              -> 204
 *   GET  <loc>/stock/<seller>/<sku>  -> {"available":N,"held":M}
 *   GET  <loc>/orders, POST <loc>/orders/<id>/commit|release
 *                                    (ngx_microshop_orders.h)
 *   POST <loc>/sellers/<seller>/tokens  (ngx_microshop_onboard.h)
 *
 * The location needs a token with the scope microshop:admin: the
 * directive turns microshop_auth on there and adds that scope rule.
 */

#ifndef _NGX_MICROSHOP_ADMIN_H_INCLUDED_
#define _NGX_MICROSHOP_ADMIN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_MICROSHOP_ADMIN_SCOPE  "microshop:admin"


char *ngx_microshop_admin_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_microshop_admin_handler(ngx_http_request_t *r);


#endif /* _NGX_MICROSHOP_ADMIN_H_INCLUDED_ */
