/*
 * ngx_microshop: configuration warnings `nginx -t` can give.
 *
 * nginx's `return` runs in the rewrite phase, before any access check: a
 * location that turns microshop checks on and answers with `return`
 * protects nothing.  nginx keeps the rewrite module's compiled codes in
 * its location configuration; a `return` there is found by its code
 * handler, ngx_http_script_return_code().
 *
 * A hold or an idempotency lock shorter than the time a request may wait
 * for its backend's answer (proxy_connect_timeout + proxy_read_timeout)
 * runs out while the answer may still come: the hold is listed as pending
 * reconciliation, a retry is answered idempotency-response-unavailable.
 * ngx_http_proxy_module's location configuration begins with its
 * ngx_http_upstream_conf_t; its merge ran before this module's (modules
 * merge in the order they were added, a dynamic one last).
 */

#ifndef _NGX_MICROSHOP_LINT_H_INCLUDED_
#define _NGX_MICROSHOP_LINT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


void ngx_microshop_lint_location(ngx_conf_t *cf);

/*
 * In a location with proxy_pass (not with variables): warns when time
 * (the parameter param of directive, set in file:line) is shorter than
 * proxy_connect_timeout + proxy_read_timeout there
 */
void ngx_microshop_lint_upstream_time(ngx_conf_t *cf, char *directive,
    char *param, ngx_msec_t time, u_char *file, ngx_uint_t line);


#endif /* _NGX_MICROSHOP_LINT_H_INCLUDED_ */
