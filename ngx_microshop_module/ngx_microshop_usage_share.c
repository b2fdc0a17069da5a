/*
 * ngx_microshop: scope usage across nodes (docs/audit-playbook.md
 * "Several nodes"): with a shared store (microshop_redis) the first worker
 * of each node puts the export of the node's usage block
 * (microshop_usage_wire.c) into the store every
 * NGX_MICROSHOP_USAGE_SHARE ms, under the node's name; a report reads
 * every node's export (USAGE_GET) and adds the other nodes' into its copy
 * of this node's block.
 *
 * A node's name is the host's name and the id of its block, which is
 * drawn when the block is made: it stays over a reload that keeps the
 * block and changes with a restart, whose block starts empty.  So a node
 * that restarted counts as two in the store, the one before the restart
 * kept until the longest window is past: what it saw is still reported.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_store.h"
#include "ngx_microshop_usage.h"

#include "microshop_usage.h"
#include "microshop_usage_wire.h"


static void ngx_microshop_usage_share_handler(ngx_event_t *ev);
static ngx_int_t ngx_microshop_usage_node_name(ngx_cycle_t *cycle,
    ngx_http_microshop_main_conf_t *mmcf);


ngx_int_t
ngx_microshop_usage_init_process(ngx_cycle_t *cycle)
{
    ngx_event_t                     *ev;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_cycle_main_conf(cycle);

    if (mmcf == NULL || mmcf->usage.usage == NULL) {
        return NGX_OK;
    }

    if (ngx_microshop_usage_node_name(cycle, mmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a store of one node keeps nothing (ngx_microshop_store.h); the
     * block is summed over the workers: one of them puts it */
    if (mmcf->store.redis == NULL || ngx_worker != 0) {
        return NGX_OK;
    }

    ev = ngx_pcalloc(cycle->pool, sizeof(ngx_event_t));
    if (ev == NULL) {
        return NGX_ERROR;
    }

    ev->handler = ngx_microshop_usage_share_handler;
    ev->data = mmcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    /* soon after the start, then every NGX_MICROSHOP_USAGE_SHARE */
    ngx_add_timer(ev, 1000);

    return NGX_OK;
}


/* how long a node's export is kept after its last put: the longest
 * window and two periods */

int64_t
ngx_microshop_usage_keep(ngx_http_microshop_main_conf_t *mmcf)
{
    return (int64_t) mmcf->usage.window * 1000
           + 2 * NGX_MICROSHOP_USAGE_SHARE;
}


/*
 * Adds the exports of the other nodes that a USAGE_GET read into the
 * copy of this node's block; counts those merged and those skipped (not
 * an export of this version, or of a block of another layout)
 */

void
ngx_microshop_usage_merge_nodes(ngx_http_request_t *r, void *copy,
    ngx_microshop_op_t *op, ngx_uint_t *merged, ngx_uint_t *skipped)
{
    ngx_uint_t                       i;
    ngx_microshop_usage_blob_t      *b;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    for (i = 0; i < op->u.usage.nnodes; i++) {
        b = &op->u.usage.nodes[i];

        if (b->node.len == mmcf->usage.node.len
            && ngx_strncmp(b->node.data, mmcf->usage.node.data,
                           b->node.len) == 0)
        {
            /* this node: its block, not its last export */
            continue;
        }

        if (microshop_usage_merge(copy, b->blob.data, b->blob.len) != 0) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "microshop_audit_report: the usage of node "
                          "\"%V\" (%uz bytes) is not an export of this "
                          "version, skipped", &b->node, b->blob.len);
            (*skipped)++;
            continue;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop usage: merged node \"%V\"", &b->node);

        (*merged)++;
    }
}


static void
ngx_microshop_usage_share_handler(ngx_event_t *ev)
{
    size_t                           size, len;
    u_char                          *buf;
    ngx_microshop_op_t               op;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ev->data;

    if (ngx_exiting) {
        return;
    }

    ngx_add_timer(ev, NGX_MICROSHOP_USAGE_SHARE);

    /* exported under the lock: only what is used, not the whole block */
    ngx_shmtx_lock(&mmcf->usage.shpool->mutex);

    size = microshop_usage_export_size(mmcf->usage.usage);
    buf = ngx_alloc(size, ev->log);
    len = buf ? microshop_usage_export(mmcf->usage.usage, buf, size) : 0;

    ngx_shmtx_unlock(&mmcf->usage.shpool->mutex);

    if (len == 0) {
        if (buf) {
            ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                          "microshop usage: the export did not fit in "
                          "%uz bytes", size);
            ngx_free(buf);
        }

        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "microshop usage: put \"%V\", %uz bytes",
                   &mmcf->usage.node, len);

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));
    op.type = NGX_MICROSHOP_OP_USAGE_PUT;
    op.pool = ngx_cycle->pool;
    op.key = mmcf->usage.node;
    op.u.usage.blob.data = buf;
    op.u.usage.blob.len = len;
    op.u.usage.keep = ngx_microshop_usage_keep(mmcf);

    /* the back end copies what it needs before post() returns */
    ngx_microshop_store_post(&mmcf->store, &op);

    ngx_free(buf);
}


/* "<host>/<the block's id, hex>" */

static ngx_int_t
ngx_microshop_usage_node_name(ngx_cycle_t *cycle,
    ngx_http_microshop_main_conf_t *mmcf)
{
    u_char  *p;

    p = ngx_pnalloc(cycle->pool, cycle->hostname.len + 1
                                 + 2 * MICROSHOP_USAGE_ID_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    mmcf->usage.node.data = p;

    p = ngx_cpymem(p, cycle->hostname.data, cycle->hostname.len);
    *p++ = '/';
    p = ngx_hex_dump(p, (u_char *) microshop_usage_id(mmcf->usage.usage),
                     MICROSHOP_USAGE_ID_LEN);

    mmcf->usage.node.len = p - mmcf->usage.node.data;

    return NGX_OK;
}
