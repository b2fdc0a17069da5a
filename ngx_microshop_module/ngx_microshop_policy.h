/*
 * ngx_microshop: the policy report (microshop_policy), content handler:
 * JSON of the effective policy of every location, for audits.
 */

#ifndef _NGX_MICROSHOP_POLICY_H_INCLUDED_
#define _NGX_MICROSHOP_POLICY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


char *ngx_microshop_policy_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_MICROSHOP_POLICY_H_INCLUDED_ */
