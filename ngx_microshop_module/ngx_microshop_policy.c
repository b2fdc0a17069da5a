/*
 * ngx_microshop: the policy report (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_module.h"
#include "ngx_microshop_policy.h"


char *
ngx_microshop_policy_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not implemented yet";
}
