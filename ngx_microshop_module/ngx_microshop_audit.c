/*
 * ngx_microshop: the audit log (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_module.h"


char *
ngx_microshop_audit_log_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return "is not implemented yet";
}


void
ngx_microshop_audit_write(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx)
{
}
