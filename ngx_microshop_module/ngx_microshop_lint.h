/*
 * ngx_microshop: configuration warnings `nginx -t` can give.
 *
 * nginx's `return` runs in the rewrite phase, before any access check: a
 * location that turns microshop checks on and answers with `return`
 * protects nothing.  nginx keeps the rewrite module's compiled codes in
 * its location configuration; a `return` there is found by its code
 * handler, ngx_http_script_return_code().
 */

#ifndef _NGX_MICROSHOP_LINT_H_INCLUDED_
#define _NGX_MICROSHOP_LINT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


void ngx_microshop_lint_location(ngx_conf_t *cf);


#endif /* _NGX_MICROSHOP_LINT_H_INCLUDED_ */
