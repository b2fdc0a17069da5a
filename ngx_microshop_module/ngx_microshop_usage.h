/*
 * ngx_microshop: scope usage kept by the gateway, for the security team's
 * report (microshop_audit_report, docs/audit-playbook.md): a zone of its
 * own, "microshop_usage", made when a report is configured, in which the
 * log phase notes what each verified token was granted and what it
 * exercised (microshop_usage.c holds the logic).
 */

#ifndef _NGX_MICROSHOP_USAGE_H_INCLUDED_
#define _NGX_MICROSHOP_USAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_store.h"


#define NGX_MICROSHOP_USAGE_WINDOW    (7 * 86400)
#define NGX_MICROSHOP_USAGE_SUBJECTS  1000

/* how often a node puts its usage into a shared store, ms */
#define NGX_MICROSHOP_USAGE_SHARE     5000


/* once the http block is read: the zone, sized for the reports */
char *ngx_microshop_usage_main_done(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf);

/* a location's scope rules: the scopes some route requires */
char *ngx_microshop_usage_loc_merge(ngx_conf_t *cf,
    ngx_http_microshop_loc_conf_t *conf);

/* the log phase: what this request's token was granted and exercised */
void ngx_microshop_usage_note(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/* a copy of the usage block, taken under the zone's lock; NULL: error */
void *ngx_microshop_usage_copy(ngx_http_request_t *r);

/* 1 when some route requires the scope */
ngx_uint_t ngx_microshop_usage_route_scope(
    ngx_http_microshop_main_conf_t *mmcf, u_char *scope, size_t len);

/*
 * across nodes (ngx_microshop_usage_share.c): the node's name and, with a
 * shared store, the timer of its first worker that puts its usage there
 */
ngx_int_t ngx_microshop_usage_init_process(ngx_cycle_t *cycle);

/* ms: how long the store keeps a node's usage after its last put */
int64_t ngx_microshop_usage_keep(ngx_http_microshop_main_conf_t *mmcf);

/* the other nodes' usage a USAGE_GET read, added into a copy */
void ngx_microshop_usage_merge_nodes(ngx_http_request_t *r, void *copy,
    ngx_microshop_op_t *op, ngx_uint_t *merged, ngx_uint_t *skipped);

/* microshop_audit_report [window=T] [subjects=N] */
char *ngx_microshop_audit_report_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


#endif /* _NGX_MICROSHOP_USAGE_H_INCLUDED_ */
