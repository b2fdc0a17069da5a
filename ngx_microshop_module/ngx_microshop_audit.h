/*
 * ngx_microshop: the audit log (microshop_audit_log), one JSON object per
 * decision, never the token itself.
 *
 * microshop_audit_log FILE|off [buffer=SIZE] [flush=TIME]
 *
 * The file is opened with ngx_conf_open_file(), as access_log does, so
 * `nginx -s reopen` reopens it.  Without buffer= every line is one write()
 * on the O_APPEND descriptor, so lines of several workers never mix.  With
 * buffer= each worker keeps whole lines in its own buffer and writes it when
 * the next line does not fit, when the flush= timer fires, before the file
 * is reopened and when the worker exits (the open file's flush callback).
 */

#ifndef _NGX_MICROSHOP_AUDIT_H_INCLUDED_
#define _NGX_MICROSHOP_AUDIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


char *ngx_microshop_audit_log_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* from the log phase, for every request the module decided on */
void ngx_microshop_audit_write(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);


#endif /* _NGX_MICROSHOP_AUDIT_H_INCLUDED_ */
