/*
 * ngx_microshop: the audit log (microshop_audit_log), one JSON object per
 * decision, never the token itself.
 */

#ifndef _NGX_MICROSHOP_AUDIT_H_INCLUDED_
#define _NGX_MICROSHOP_AUDIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


typedef struct {
    ngx_open_file_t          *file;       /* NULL: off */
    size_t                    buffer;
    ngx_msec_t                flush;
} ngx_microshop_audit_main_t;


char *ngx_microshop_audit_log_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* from the log phase, for every request the module decided on */
void ngx_microshop_audit_write(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);


#endif /* _NGX_MICROSHOP_AUDIT_H_INCLUDED_ */
