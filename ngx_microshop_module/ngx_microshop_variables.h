/*
 * ngx_microshop: the $microshop_* variables (docs/directives.md,
 * "Variables"): the verified identity, the decision, the units left in
 * the rate-limit bucket, and what idempotency and the cache did.  Each is
 * not found when it does not apply.
 */

#ifndef _NGX_MICROSHOP_VARIABLES_H_INCLUDED_
#define _NGX_MICROSHOP_VARIABLES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* at preconfiguration, so that any directive may name them */
ngx_int_t ngx_microshop_add_variables(ngx_conf_t *cf);


#endif /* _NGX_MICROSHOP_VARIABLES_H_INCLUDED_ */
