/*
 * ngx_microshop: the request layer (docs/architecture.md).
 *
 * A store op that does not finish at once is tied to its request the way
 * ngx_http_upstream.c ties its work: the request is held
 * (r->main->count++) while the op is in flight, an ngx_http_cleanup_add
 * handler cancels the op when the request is terminated or freed first,
 * and the op's handler drops the hold with
 * ngx_http_finalize_request(r, NGX_DONE) after resuming the request.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_microshop_request.h"


static void ngx_microshop_request_op_done(ngx_microshop_op_t *op);
static void ngx_microshop_request_cancel(void *data);
static void ngx_microshop_request_resume(ngx_http_request_t *r,
    ngx_microshop_op_t *op);
static void ngx_microshop_request_body_done(ngx_http_request_t *r);
static void ngx_microshop_request_end(void *data);


typedef struct {
    ngx_http_request_t               *r;
    ngx_http_microshop_ctx_t         *ctx;
    ngx_microshop_request_end_pt      handler;
} ngx_microshop_request_end_t;


/*
 * Set at every preconfiguration to the same object (the module struct in
 * the loaded library): nothing of a cycle is kept here.
 */
ngx_module_t  *ngx_microshop_module;


void
ngx_microshop_request_init(ngx_module_t *module)
{
    ngx_microshop_module = module;
}


ngx_http_microshop_ctx_t *
ngx_microshop_request_ctx(ngx_http_request_t *r)
{
    ngx_http_microshop_ctx_t  *ctx;

    ctx = ngx_microshop_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_microshop_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ctx->rate_remaining = -1;

        ngx_http_set_ctx(r, ctx, (*ngx_microshop_module));
    }

    return ctx;
}


ngx_int_t
ngx_microshop_request_exec(ngx_http_request_t *r, ngx_microshop_op_t *op,
    ngx_microshop_request_done_pt done)
{
    ngx_int_t                        rc;
    ngx_http_cleanup_t              *cln;
    ngx_http_microshop_ctx_t        *ctx;
    ngx_http_microshop_main_conf_t  *mmcf;

    ctx = ngx_microshop_request_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    mmcf = ngx_microshop_main_conf(r);

    op->handler = ngx_microshop_request_op_done;
    op->data = r;

    rc = ngx_microshop_store_exec(&mmcf->store, op);

    if (rc != NGX_AGAIN) {
        return NGX_OK;
    }

    /* only an op in flight costs a cleanup: the shm store never waits */

    if (!ctx->cleanup_added) {
        cln = ngx_http_cleanup_add(r, 0);
        if (cln == NULL) {
            ngx_microshop_store_cancel(&mmcf->store, op);
            return NGX_ERROR;
        }

        cln->handler = ngx_microshop_request_cancel;
        cln->data = r;
        ctx->cleanup_added = 1;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop: store op %ui pending, count:%d",
                   op->type, r->main->count);

    ctx->pending = op;
    ctx->done = done;
    r->main->count++;

    return NGX_AGAIN;
}


void
ngx_microshop_request_run(ngx_http_request_t *r, ngx_microshop_op_t *op,
    ngx_microshop_request_done_pt done)
{
    switch (ngx_microshop_request_exec(r, op, done)) {

    case NGX_OK:
        done(r, op);
        break;

    case NGX_AGAIN:
        break;

    default:
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


static void
ngx_microshop_request_op_done(ngx_microshop_op_t *op)
{
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_microshop_ctx_t  *ctx;

    r = op->data;
    c = r->connection;

    ctx = ngx_microshop_ctx(r);
    ctx->pending = NULL;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "microshop: store op %ui finished, rc:%i",
                   op->type, op->rc);

    ctx->done(r, op);

    /* the hold taken when the op went pending */
    ngx_http_finalize_request(r, NGX_DONE);

    ngx_http_run_posted_requests(c);
}


static void
ngx_microshop_request_cancel(void *data)
{
    ngx_http_request_t *r = data;

    ngx_http_microshop_ctx_t        *ctx;
    ngx_http_microshop_main_conf_t  *mmcf;

    ctx = ngx_microshop_ctx(r);

    if (ctx == NULL || ctx->pending == NULL) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop: request gone, store op %ui cancelled",
                   ctx->pending->type);

    mmcf = ngx_microshop_main_conf(r);

    ngx_microshop_store_cancel(&mmcf->store, ctx->pending);
    ctx->pending = NULL;
}


ngx_int_t
ngx_microshop_request_store(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_int_t  rc;

    switch (ctx->op_state) {

    case NGX_MICROSHOP_OP_PENDING:
        return NGX_AGAIN;

    case NGX_MICROSHOP_OP_DONE:
        ctx->op_state = NGX_MICROSHOP_OP_IDLE;
        return NGX_OK;
    }

    rc = ngx_microshop_request_exec(r, &ctx->op,
                                    ngx_microshop_request_resume);

    if (rc == NGX_AGAIN) {
        ctx->op_state = NGX_MICROSHOP_OP_PENDING;
        return NGX_AGAIN;
    }

    if (rc == NGX_ERROR) {
        ctx->op.rc = NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_microshop_request_resume(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    ngx_http_microshop_ctx_t  *ctx;

    ctx = ngx_microshop_ctx(r);
    ctx->op_state = NGX_MICROSHOP_OP_DONE;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * A request cleanup (ngx_http_cleanup_add): it runs in
 * ngx_http_terminate_request() and ngx_http_free_request(), after the
 * upstream's own cleanup, which was added later (the list runs last in,
 * first out), finalized the upstream and counted what it sent.
 */

ngx_int_t
ngx_microshop_request_at_end(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_request_end_pt handler)
{
    ngx_http_cleanup_t           *cln;
    ngx_microshop_request_end_t  *end;

    cln = ngx_http_cleanup_add(r, sizeof(ngx_microshop_request_end_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    end = cln->data;
    end->r = r;
    end->ctx = ctx;
    end->handler = handler;

    cln->handler = ngx_microshop_request_end;

    return NGX_OK;
}


static void
ngx_microshop_request_end(void *data)
{
    ngx_microshop_request_end_t  *end = data;

    end->handler(end->r, end->ctx);
}


ngx_int_t
ngx_microshop_request_read_body(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->body_read) {
        return NGX_OK;
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_microshop_request_body_done);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_AGAIN;
}


static void
ngx_microshop_request_body_done(ngx_http_request_t *r)
{
    ngx_http_microshop_ctx_t  *ctx;

    ctx = ngx_microshop_ctx(r);
    ctx->body_read = 1;

    /* the body stays for the upstream, also across internal redirects */
    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


ngx_str_t *
ngx_microshop_request_route(ngx_http_request_t *r)
{
    ngx_str_t                 *route;
    ngx_http_core_loc_conf_t  *clcf;

    route = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (route == NULL) {
        return NULL;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    *route = r->uri;

    if (!clcf->regex && route->len >= clcf->name.len) {
        route->data += clcf->name.len;
        route->len -= clcf->name.len;
    }

    while (route->len && route->data[0] == '/') {
        route->data++;
        route->len--;
    }

    return route;
}


void
ngx_microshop_request_consume(ngx_chain_t *in)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            b->pos = b->last;
        }

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }
}


ngx_int_t
ngx_microshop_route_pair(ngx_str_t *route, size_t skip, ngx_str_t *a,
    ngx_str_t *b)
{
    u_char  *slash, *last;

    a->data = route->data + skip;
    last = route->data + route->len;

    slash = ngx_strlchr(a->data, last, '/');

    if (slash == NULL || slash == a->data || slash + 1 == last
        || ngx_strlchr(slash + 1, last, '/') != NULL)
    {
        return NGX_DECLINED;
    }

    a->len = slash - a->data;
    b->data = slash + 1;
    b->len = last - b->data;

    return NGX_OK;
}


uint64_t
ngx_microshop_request_unique(void)
{
    static uint64_t   base, n;
    static ngx_pid_t  pid;

    if (pid != ngx_pid) {
        /* a worker's own, not its master's (fork copies it) */
        if (RAND_bytes((u_char *) &base, sizeof(base)) != 1) {
            base = ((uint64_t) ngx_random() << 32) ^ (uint64_t) ngx_random()
                   ^ ((uint64_t) ngx_pid << 16) ^ (uint64_t) ngx_time();
        }

        pid = ngx_pid;
        n = 0;
    }

    return base + ++n;
}


ngx_int_t
ngx_microshop_request_content_body(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t  rc;

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    /* handler(r) finalizes the request */
    return NGX_DONE;
}
