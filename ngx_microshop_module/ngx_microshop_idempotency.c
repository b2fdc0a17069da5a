/*
 * ngx_microshop: idempotency keys (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_idempotency.h"
#include "ngx_microshop_answer.h"
#include "microshop_idempotency.h"
#include "ngx_microshop_digest.h"
#include "ngx_microshop_upstream_error.h"
#include "ngx_microshop_lint.h"


#define NGX_MICROSHOP_IDEM_READ_CHUNK  65536


/* answer headers worth replaying (end-to-end, about the representation) */
static ngx_str_t  ngx_microshop_idem_keep[] = {
    ngx_string("location"),
    ngx_string("etag"),
    ngx_string("last-modified"),
    ngx_string("cache-control"),
    ngx_string("expires"),
    ngx_string("content-language"),
    ngx_string("content-location"),
    ngx_string("link"),
    ngx_string("vary"),
    ngx_null_string
};


static ngx_int_t ngx_microshop_idem_fingerprint(ngx_http_request_t *r,
    ngx_microshop_idem_ctx_t *ictx);
static ngx_int_t ngx_microshop_idem_replay(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_str_t *stored);
static ngx_int_t ngx_microshop_idem_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_uint_t status, char *name,
    char *title, char *detail, ngx_uint_t retry_after);
static uint64_t ngx_microshop_idem_owner(void);
static void ngx_microshop_idem_end(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);
static void ngx_microshop_idem_op(ngx_http_request_t *r,
    ngx_microshop_idem_ctx_t *ictx, ngx_microshop_op_t *op);
static void ngx_microshop_idem_settle(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);


void
ngx_microshop_idem_loc_create(ngx_microshop_idem_loc_t *ilcf)
{
    ilcf->mode = NGX_CONF_UNSET_UINT;
    ilcf->methods = NGX_CONF_UNSET_UINT;
    ilcf->ttl = NGX_CONF_UNSET_MSEC;
    ilcf->lock = NGX_CONF_UNSET_MSEC;
    ilcf->max_body = NGX_CONF_UNSET_SIZE;
    ilcf->store_local = NGX_CONF_UNSET;
}


/*
 * microshop_idempotency off|on|required [methods=...] [ttl=T] [lock=T]
 *                       [max_body=SIZE] [header=NAME]
 *                       [on_store_error=closed|local]
 */

char *
ngx_microshop_idempotency_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    ssize_t                    size;
    ngx_int_t                  t;
    ngx_str_t                 *value, s;
    ngx_uint_t                 i;
    ngx_microshop_idem_loc_t  *ilcf;

    ilcf = &mlcf->idem;

    if (ilcf->mode != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ilcf->file = cf->conf_file->file.name.data;
    ilcf->line = cf->conf_file->line;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        ilcf->mode = NGX_MICROSHOP_IDEM_OFF;

    } else if (ngx_strcmp(value[1].data, "on") == 0) {
        ilcf->mode = NGX_MICROSHOP_IDEM_ON;

    } else if (ngx_strcmp(value[1].data, "required") == 0) {
        ilcf->mode = NGX_MICROSHOP_IDEM_REQUIRED;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", it must be \"off\", "
                           "\"on\" or \"required\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "methods=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            if (s.len == 0
                || ngx_microshop_methods_parse(cf, &s, &ilcf->methods)
                   != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0
            || ngx_strncmp(value[i].data, "lock=", 5) == 0)
        {
            t = ngx_microshop_conf_time(cf, &value[i], 0, 1,
                                        NGX_MAX_INT_T_VALUE,
                                        "invalid time \"%V\"", &value[i]);
            if (t == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            if (value[i].data[0] == 't') {
                ilcf->ttl = t;

            } else {
                ilcf->lock = t;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_body=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || size > 64 * 1024 * 1024) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid size \"%V\" (at most 64m)",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            ilcf->max_body = size;
            continue;
        }

        if (ngx_microshop_conf_value(&value[i], "header=", &ilcf->header)) {
            continue;
        }

        t = ngx_microshop_conf_store_error(cf, &value[i], &ilcf->store_local);

        if (t == NGX_OK) {
            continue;
        }

        if (t == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        return ngx_microshop_conf_invalid(cf, &value[i]);
    }

    return NGX_CONF_OK;
}


char *
ngx_microshop_idem_loc_merge(ngx_conf_t *cf, ngx_microshop_idem_loc_t *prev,
    ngx_microshop_idem_loc_t *conf)
{
    if (conf->mode == NGX_CONF_UNSET_UINT) {
        /* the directive is inherited whole */
        *conf = *prev;
    }

    ngx_conf_merge_uint_value(conf->mode, NGX_CONF_UNSET_UINT,
                              NGX_MICROSHOP_IDEM_OFF);
    ngx_conf_merge_uint_value(conf->methods, NGX_CONF_UNSET_UINT,
                              NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_PATCH
                              |NGX_HTTP_DELETE);
    ngx_conf_merge_msec_value(conf->ttl, NGX_CONF_UNSET_MSEC,
                              24 * 60 * 60 * 1000);
    ngx_conf_merge_msec_value(conf->lock, NGX_CONF_UNSET_MSEC, 60 * 1000);
    ngx_conf_merge_size_value(conf->max_body, NGX_CONF_UNSET_SIZE,
                              1024 * 1024);
    ngx_conf_merge_str_value(conf->header, (ngx_str_t) ngx_null_string,
                             "Idempotency-Key");
    ngx_conf_merge_value(conf->store_local, NGX_CONF_UNSET, 0);

    if (conf->mode != NGX_MICROSHOP_IDEM_OFF) {
        ngx_microshop_lint_upstream_time(cf, "microshop_idempotency", "lock",
                                         conf->lock, conf->file, conf->line);
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_microshop_idempotency_stage(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    size_t                           start, klen;
    ngx_int_t                        rc;
    ngx_uint_t                       count;
    ngx_str_t                       *seller;
    ngx_table_elt_t                 *h;
    ngx_microshop_idem_ctx_t        *ictx;
    ngx_microshop_idem_loc_t        *ilcf;
    ngx_http_microshop_loc_conf_t   *mlcf;

    mlcf = ngx_microshop_loc_conf(r);
    ilcf = &mlcf->idem;
    ictx = &ctx->idem;

    if (ilcf->mode == NGX_MICROSHOP_IDEM_OFF || !(r->method & ilcf->methods)) {
        return NGX_DECLINED;
    }

    if (ictx->key.len == 0) {

        h = ngx_microshop_header_in(r, &ilcf->header, &count);

        if (h == NULL) {
            if (ilcf->mode != NGX_MICROSHOP_IDEM_REQUIRED) {
                return NGX_DECLINED;
            }

            ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_IDEM_MISSING);

            return ngx_microshop_idem_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                       "idempotency-key-missing", "Idempotency key missing",
                       "This request needs an Idempotency-Key header.",
                       0);
        }

        /*
         * Two headers (of any spelling of the name, empty or not) are
         * refused rather than one of them used: a proxy in front may
         * have read the other one (docs/directives.md).
         */

        if (count > 1
            || microshop_idem_key_parse(h->value.data, h->value.len,
                                        &start, &klen)
               != 0)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "microshop: idempotency key refused, %ui headers",
                           count);

            ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_IDEM_INVALID);

            return ngx_microshop_idem_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                       "idempotency-key-invalid", "Invalid idempotency key",
                       "An idempotency key is one header of 1 to 255 "
                       "printable ASCII characters, bare (without a comma) "
                       "or as a quoted string.", 0);
        }

        /*
         * keys are scoped per seller: two sellers' keys never meet;
         * without a token, the client address stands for the seller
         */

        if (ctx->has_token) {
            seller = &ctx->token.id.f[NGX_MICROSHOP_ID_SELLER];
            rc = ngx_microshop_store_key(r->pool, seller,
                                         h->value.data + start, klen,
                                         &ictx->key);

        } else {
            rc = ngx_microshop_store_key_client(r->pool,
                                                &r->connection->addr_text,
                                                h->value.data + start, klen,
                                                &ictx->key);
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (!ictx->fingerprinted) {
        rc = ngx_microshop_request_read_body(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_microshop_idem_fingerprint(r, ictx) != NGX_OK) {
            return NGX_ERROR;
        }

        ictx->fingerprinted = 1;
    }

    if (ctx->op_state == NGX_MICROSHOP_OP_IDLE) {
        /* whatever the lock's fate, it is settled when the request ends */
        if (!ictx->at_end) {
            if (ngx_microshop_request_at_end(r, ctx, ngx_microshop_idem_end)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            ictx->at_end = 1;
        }

        ictx->owner = ngx_microshop_idem_owner();

        ngx_microshop_idem_op(r, ictx, &ctx->op);
        ctx->op.type = NGX_MICROSHOP_OP_IDEM_BEGIN;
        ctx->op.u.idem.lock = ilcf->lock;
    }

    if (ngx_microshop_request_store(r, ctx) == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (ctx->op.rc == NGX_BUSY) {
        /* the seller keeps as many keys as seller_quota= allows */
        return ngx_microshop_quota_failed(r, ctx);
    }

    if (ctx->op.rc != NGX_OK) {
        return ngx_microshop_store_failed(r, ctx);
    }

    switch (ctx->op.u.idem.result) {

    case NGX_MICROSHOP_IDEM_NEW:
        ictx->active = 1;
        ictx->local = ctx->op.local;
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_IDEM_NEW);
        return NGX_DECLINED;

    case NGX_MICROSHOP_IDEM_DONE:
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_IDEM_REPLAY);
        return ngx_microshop_idem_replay(r, ctx, &ctx->op.u.idem.response);

    case NGX_MICROSHOP_IDEM_IN_PROGRESS:
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_IDEM_CONFLICT);
        return ngx_microshop_idem_reject(r, ctx, NGX_HTTP_CONFLICT,
                   "idempotency-in-progress", "Request in progress",
                   "A request with this idempotency key is still being "
                   "processed; retry later.",
                   NGX_MICROSHOP_RETRY_IN_PROGRESS);

    case NGX_MICROSHOP_IDEM_MISMATCH:
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_IDEM_MISMATCH);
        return ngx_microshop_idem_reject(r, ctx,
                   NGX_MICROSHOP_HTTP_UNPROCESSABLE,
                   "idempotency-key-reused", "Idempotency key reused",
                   "This idempotency key was used for a different request "
                   "(method, URI or body).", 0);

    default: /* NGX_MICROSHOP_IDEM_UNAVAILABLE */
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_IDEM_UNAVAILABLE);
        return ngx_microshop_idem_reject(r, ctx, NGX_HTTP_CONFLICT,
                   "idempotency-response-unavailable",
                   "Stored response unavailable",
                   "The request with this idempotency key was executed, "
                   "but its answer was too large to keep; it is not "
                   "executed again.", 0);
    }
}


static ngx_int_t
ngx_microshop_idem_fingerprint(ngx_http_request_t *r,
    ngx_microshop_idem_ctx_t *ictx)
{
    u_char       *buf;
    off_t         len, pos;
    size_t        n;
    ssize_t       got;
    ngx_buf_t    *b;
    EVP_MD_CTX   *md;
    ngx_chain_t  *cl;

    len = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }

    md = ngx_microshop_sha256_begin();

    if (md == NULL
        || microshop_fingerprint_begin(md, r->method_name.data,
                                       r->method_name.len,
                                       r->unparsed_uri.data,
                                       r->unparsed_uri.len, len)
           != 0)
    {
        return NGX_ERROR;
    }

    buf = NULL;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (!b->in_file) {
            if (microshop_fingerprint_update(md, b->pos, b->last - b->pos)
                != 0)
            {
                goto failed;
            }

            continue;
        }

        /* a body nginx spilled to a temporary file: read it in chunks */

        if (buf == NULL) {
            buf = ngx_palloc(r->pool, NGX_MICROSHOP_IDEM_READ_CHUNK);
            if (buf == NULL) {
                goto failed;
            }
        }

        for (pos = b->file_pos; pos < b->file_last; pos += got) {
            n = (size_t) ngx_min(b->file_last - pos,
                                 NGX_MICROSHOP_IDEM_READ_CHUNK);

            got = ngx_read_file(b->file, buf, n, pos);

            if (got <= 0) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "microshop: cannot read the request body "
                              "from \"%V\"", &b->file->name);
                goto failed;
            }

            if (microshop_fingerprint_update(md, buf, got) != 0) {
                goto failed;
            }
        }
    }

    if (buf) {
        ngx_pfree(r->pool, buf);
    }

    return microshop_fingerprint_finish(md, ictx->fingerprint) == 0
           ? NGX_OK : NGX_ERROR;

failed:

    return NGX_ERROR;
}


static ngx_int_t
ngx_microshop_idem_reject(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx,
    ngx_uint_t status, char *name, char *title, char *detail,
    ngx_uint_t retry_after)
{
    if (retry_after
        && ngx_microshop_header_retry_after(r, retry_after) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_microshop_problem_send_text(r, status, name, title, detail);
}


static ngx_uint_t
ngx_microshop_idem_kept(ngx_table_elt_t *h)
{
    ngx_str_t  *keep;

    if (h->hash == 0) {
        return 0;
    }

    for (keep = ngx_microshop_idem_keep; keep->len; keep++) {
        if (keep->len == h->key.len
            && ngx_strncasecmp(keep->data, h->key.data, keep->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * A stored answer: status (2 bytes), the content type and the kept
 * headers as (name length 2, value length 4, name, value), an empty name
 * closing the list, then the body.
 */

static u_char *
ngx_microshop_idem_put_header(u_char *p, ngx_str_t *name, ngx_str_t *value)
{
    uint16_t  nlen;
    uint32_t  vlen;

    nlen = (uint16_t) name->len;
    vlen = (uint32_t) value->len;

    p = ngx_cpymem(p, &nlen, sizeof(uint16_t));
    p = ngx_cpymem(p, &vlen, sizeof(uint32_t));
    p = ngx_microshop_cpymem(p, name->data, name->len);
    return ngx_microshop_cpymem(p, value->data, value->len);
}


ngx_int_t
ngx_microshop_idem_header_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    u_char                         *p;
    size_t                          len;
    ngx_str_t                       type;
    ngx_uint_t                      i;
    ngx_list_part_t                *part;
    ngx_table_elt_t                *h;
    ngx_microshop_idem_ctx_t       *ictx;
    ngx_http_microshop_loc_conf_t  *mlcf;

    ictx = &ctx->idem;
    ictx->header_seen = 1;
    ictx->status = r->headers_out.status;

    if (ngx_microshop_upstream_unknown(r) && !ctx->reserve.offline) {
        /*
         * nginx's own 502/504 after the request reached the upstream
         * (timeout, reset): it may have executed.  Remembered as executed,
         * with no answer to replay: a retry gets 409, never a second run.
         */
        ictx->capture = 1;
        ictx->oversize = 1;
        ictx->complete = 1;
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_IDEM_UNKNOWN);
        ngx_microshop_idem_settle(r, ctx);
        return NGX_OK;
    }

    /*
     * Only a real answer of the upstream is kept: a 5xx, an upstream
     * failure before the request left (nginx's own 502/504 of a refused
     * connect) or an answer made at the edge after the lock was taken
     * releases the key, so the client may retry.
     */
    if (r->upstream == NULL || ictx->status >= 500 || ictx->status < 200) {
        /* released before the client sees the answer, so it may retry */
        ngx_microshop_idem_settle(r, ctx);
        return NGX_OK;
    }

    ictx->capture = 1;

    type = r->headers_out.content_type;

    len = sizeof(uint16_t) + 2 * (sizeof(uint16_t) + sizeof(uint32_t))
          + sizeof("content-type") - 1 + type.len;

    part = &r->headers_out.headers.part;
    i = 0;

    while ((h = ngx_microshop_header_next(&part, &i)) != NULL) {
        if (ngx_microshop_idem_kept(h)) {
            len += sizeof(uint16_t) + sizeof(uint32_t) + h->key.len
                   + h->value.len;
        }
    }

    /* one buffer for the whole answer: its body usually has a length */

    mlcf = ngx_microshop_loc_conf(r);

    ictx->answer_cap = len;

    if (r->headers_out.content_length_n > 0
        && r->headers_out.content_length_n <= (off_t) mlcf->idem.max_body)
    {
        ictx->answer_cap += (size_t) r->headers_out.content_length_n;
    }

    ictx->answer.data = ngx_pnalloc(r->pool, ictx->answer_cap);
    if (ictx->answer.data == NULL) {
        return NGX_ERROR;
    }

    p = ictx->answer.data;
    p = ngx_cpymem(p, &(uint16_t) { (uint16_t) ictx->status },
                   sizeof(uint16_t));

    if (type.len) {
        p = ngx_microshop_idem_put_header(p,
                                 &(ngx_str_t) ngx_string("Content-Type"),
                                 &type);
    }

    part = &r->headers_out.headers.part;
    i = 0;

    while ((h = ngx_microshop_header_next(&part, &i)) != NULL) {
        if (ngx_microshop_idem_kept(h)) {
            p = ngx_microshop_idem_put_header(p, &h->key, &h->value);
        }
    }

    p = ngx_microshop_idem_put_header(p, &(ngx_str_t) ngx_null_string,
                                      &(ngx_str_t) ngx_null_string);

    ictx->headers_len = p - ictx->answer.data;
    ictx->answer.len = ictx->headers_len;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_idem_body_filter(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_chain_t *in)
{
    u_char                         *p;
    off_t                           size;
    size_t                          cap;
    ssize_t                         n;
    ngx_buf_t                      *b;
    ngx_chain_t                    *cl;
    ngx_microshop_idem_ctx_t       *ictx;
    ngx_http_microshop_loc_conf_t  *mlcf;

    ictx = &ctx->idem;

    if (!ictx->capture || ictx->complete) {
        return NGX_OK;
    }

    mlcf = ngx_microshop_loc_conf(r);

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            ictx->complete = 1;
        }

        size = ngx_buf_size(b);

        if (ictx->oversize || size == 0) {
            continue;
        }

        if (ictx->answer.len - ictx->headers_len + size > mlcf->idem.max_body)
        {
            ictx->oversize = 1;
            continue;
        }

        if (ictx->answer.len + size > ictx->answer_cap) {
            /* no length was announced: grow, at most to max_body */
            cap = ngx_max(2 * ictx->answer_cap, ictx->answer.len + size);
            cap = ngx_min(cap, ictx->headers_len + mlcf->idem.max_body);

            p = ngx_pnalloc(r->pool, cap);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(p, ictx->answer.data, ictx->answer.len);
            ictx->answer.data = p;
            ictx->answer_cap = cap;
        }

        p = ictx->answer.data + ictx->answer.len;

        if (ngx_buf_in_memory(b)) {
            ngx_memcpy(p, b->pos, size);

        } else {
            /* the upstream's answer was buffered to a temporary file */
            n = ngx_read_file(b->file, p, (size_t) size, b->file_pos);
            if (n != size) {
                ictx->oversize = 1;
                continue;
            }
        }

        ictx->answer.len += size;
    }

    if (ictx->complete) {
        /* stored before the client sees the end of the answer */
        ngx_microshop_idem_settle(r, ctx);
    }

    return NGX_OK;
}


/* a lock of this request: unique across workers, nodes and restarts */

static uint64_t
ngx_microshop_idem_owner(void)
{
    return ngx_microshop_request_unique();
}


/* the fields every op on the request's key carries */

static void
ngx_microshop_idem_op(ngx_http_request_t *r, ngx_microshop_idem_ctx_t *ictx,
    ngx_microshop_op_t *op)
{
    ngx_http_microshop_loc_conf_t  *mlcf;

    mlcf = ngx_microshop_loc_conf(r);

    op->key = ictx->key;
    op->pool = r->pool;
    ngx_memcpy(op->u.idem.fingerprint, ictx->fingerprint,
               NGX_MICROSHOP_FINGERPRINT_LEN);
    op->u.idem.owner = ictx->owner;
    op->u.idem.ttl = mlcf->idem.ttl;

    /* the begin may fall back to this node's zone; what settles it goes
     * where its lock is (docs/redis.md "When Redis is down") */
    op->fallback = mlcf->idem.store_local;
    op->local = ictx->local;
}


/*
 * The request ends (docs/http.md "Outcomes").  A lock no answer settled
 * is settled now: kept as executed once bytes of the request reached the
 * backend, released when they provably did not.  An IDEM_BEGIN still in
 * flight (the request went away first) may have taken the lock it will
 * never use: a release follows it, which frees the key only if that lock
 * is ours.
 */

static void
ngx_microshop_idem_end(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx)
{
    if (ctx->op_state == NGX_MICROSHOP_OP_PENDING
        && ctx->op.type == NGX_MICROSHOP_OP_IDEM_BEGIN)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop: request gone during IDEM_BEGIN, "
                       "releasing its lock");

        /* as a lock taken and never used: nothing was sent */
        ctx->idem.active = 1;
    }

    ngx_microshop_idem_settle(r, ctx);
}


static void
ngx_microshop_idem_settle(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx)
{
    ngx_microshop_op_t              *op;
    ngx_microshop_idem_ctx_t        *ictx;
    ngx_http_microshop_main_conf_t  *mmcf;

    ictx = &ctx->idem;

    if (!ictx->active) {
        return;
    }

    ictx->active = 0;


    if (!ictx->header_seen && ngx_microshop_upstream_reached(r)) {
        /*
         * The request ends without an answer after bytes of it reached
         * the backend (the client went away, nginx gave up): it may have
         * executed.  Remembered as executed with no answer to replay.
         */
        ictx->capture = 1;
        ictx->oversize = 1;
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_IDEM_UNKNOWN);
    }

    mmcf = ngx_microshop_main_conf(r);

    /* posted: the store copies what it keeps, the request may end first */
    op = &ictx->op;
    ngx_microshop_idem_op(r, ictx, op);

    if (!ictx->capture) {
        op->type = NGX_MICROSHOP_OP_IDEM_RELEASE;
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_IDEM_RELEASED);

    } else {
        op->type = NGX_MICROSHOP_OP_IDEM_COMPLETE;

        /* executed; replayable only when the whole answer was kept */
        op->u.idem.unavailable = ictx->oversize || !ictx->complete;

        op->u.idem.response = ictx->answer;
    }

    ngx_microshop_store_post(&mmcf->store, op);
}


static ngx_int_t
ngx_microshop_idem_replay(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx,
    ngx_str_t *stored)
{
    u_char     *p, *last;
    uint16_t    nlen, status;
    uint32_t    vlen;
    ngx_int_t   rc;
    ngx_str_t   name, value, body, yes;

    p = stored->data;
    last = p + stored->len;

    if (last - p < (ssize_t) sizeof(uint16_t)) {
        return NGX_ERROR;
    }

    ngx_memcpy(&status, p, sizeof(uint16_t));
    p += sizeof(uint16_t);

    r->headers_out.status = status;

    for ( ;; ) {
        if (last - p < (ssize_t) (sizeof(uint16_t) + sizeof(uint32_t))) {
            return NGX_ERROR;
        }

        ngx_memcpy(&nlen, p, sizeof(uint16_t));
        ngx_memcpy(&vlen, p + sizeof(uint16_t), sizeof(uint32_t));
        p += sizeof(uint16_t) + sizeof(uint32_t);

        if (nlen == 0) {
            break;
        }

        if ((size_t) (last - p) < (size_t) nlen + vlen) {
            return NGX_ERROR;
        }

        name.data = p;
        name.len = nlen;
        value.data = p + nlen;
        value.len = vlen;
        p += nlen + vlen;

        if (nlen == sizeof("Content-Type") - 1
            && ngx_strncasecmp(name.data, (u_char *) "Content-Type", nlen)
               == 0)
        {
            if (ngx_microshop_header_safe(r, &name, &value)) {
                r->headers_out.content_type = value;
                r->headers_out.content_type_len = value.len;
            }

            continue;
        }

        /*
         * nginx keeps an upstream's header value with a control
         * character other than CR, LF and NUL: the replay leaves it out
         */
        if (ngx_microshop_header_push(r, &r->headers_out.headers, &name,
                                      NULL, &value)
            == NGX_ERROR)
        {
            return NGX_ERROR;
        }
    }

    ngx_str_set(&yes, "true");

    if (ngx_microshop_header_add(r, "Idempotent-Replayed", &yes) != NGX_OK) {
        return NGX_ERROR;
    }

    body.data = p;
    body.len = last - p;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    r->headers_out.content_length_n = body.len;

    if (body.len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc != NGX_ERROR && rc <= NGX_OK && !r->header_only) {
        rc = ngx_microshop_send_buffer(r, &body);
    }

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}
