/*
 * ngx_microshop: keys from the identity provider (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_token_conf.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_digest.h"
#include "ngx_microshop_jwks_uri.h"
#include "microshop_token_jwk.h"


#define NGX_MICROSHOP_JWKS_REFRESH       (5 * 60 * 1000)
#define NGX_MICROSHOP_JWKS_UNKNOWN_KID   (30 * 1000)
/* a failed refresh is tried again after this (or refresh=, if shorter) */
#define NGX_MICROSHOP_JWKS_RETRY         (30 * 1000)
/* without any set yet, a failed fetch is tried again after this */
#define NGX_MICROSHOP_JWKS_COLD_RETRY    1000
/* the longest a request waits for a fetch */
#define NGX_MICROSHOP_JWKS_WAIT          (10 * 1000)
/* the most signature keys a provider's document may hold */
#define NGX_MICROSHOP_JWKS_MAX_KEYS      32
/* the largest document taken */
#define NGX_MICROSHOP_JWKS_MAX_BODY      (256 * 1024)


/* a fetch: its post_subrequest handler, and the answer read so far */
struct ngx_microshop_jwks_fetch_s {
    ngx_http_post_subrequest_t  ps;
    u_char                     *data;
    size_t                      len;
    size_t                      cap;
    unsigned                    complete:1;  /* its last buffer seen */
    unsigned                    too_big:1;
    unsigned                    failed:1;    /* no memory, a file unread */
};


/* a request waiting for the fetch in flight */
typedef struct {
    ngx_queue_t                queue;
    ngx_event_t                event;     /* the wake-up, the wait's end */
    ngx_http_request_t        *r;
    ngx_http_microshop_ctx_t  *ctx;
    ngx_http_event_handler_pt  read;      /* the request's, given back */
    ngx_http_event_handler_pt  write;
    unsigned                   active:1;  /* waiting, or woken not run */
    unsigned                   queued:1;
    unsigned                   retry:1;   /* the fetch died unfinished */
} ngx_microshop_jwks_wait_t;


/* the worker's keys from the provider and its fetch */
typedef struct {
    ngx_http_microshop_main_conf_t  *mmcf;     /* of the cycle it is for */
    microshop_keyset_t               keys;
    u_char                           digest[NGX_MICROSHOP_JWKS_DIGEST_LEN];
    u_char                           body[SHA256_DIGEST_LENGTH];  /* of the
                                                  last good document */
    ngx_uint_t                       good;     /* a good set was fetched */
    ngx_msec_t                       fetched;  /* the last good fetch */
    ngx_msec_t                       started;  /* the last fetch started */
    ngx_uint_t                       attempts;
    ngx_http_request_t              *sr;       /* the fetch in flight */
    ngx_queue_t                      waiting;
} ngx_microshop_jwks_worker_t;


typedef enum {
    NGX_MICROSHOP_JWKS_OK = 0,
    NGX_MICROSHOP_JWKS_ERROR,
    NGX_MICROSHOP_JWKS_INVALID
} ngx_microshop_jwks_result_e;


static ngx_microshop_jwks_worker_t *ngx_microshop_jwks_worker(
    ngx_http_microshop_main_conf_t *mmcf);
static ngx_int_t ngx_microshop_jwks_need(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_jwks_worker_t *w,
    ngx_msec_t gap);
static ngx_int_t ngx_microshop_jwks_fetch(ngx_http_request_t *r,
    ngx_microshop_jwks_worker_t *w);
static ngx_int_t ngx_microshop_jwks_fetched(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_microshop_jwks_decide(ngx_http_request_t *sr,
    ngx_microshop_jwks_fetch_t *f, ngx_int_t rc);
static ngx_int_t ngx_microshop_jwks_keep(ngx_http_request_t *sr,
    ngx_microshop_jwks_fetch_t *f, ngx_buf_t *b);
static ngx_microshop_jwks_result_e ngx_microshop_jwks_take(
    ngx_http_request_t *sr, ngx_microshop_jwks_worker_t *w,
    ngx_microshop_jwks_fetch_t *f, ngx_int_t rc, char *why, size_t whylen);
static ngx_microshop_jwks_result_e ngx_microshop_jwks_install(
    ngx_http_request_t *sr, ngx_microshop_jwks_worker_t *w, u_char *data,
    size_t len, char *why, size_t whylen);
static void ngx_microshop_jwks_settle(ngx_microshop_jwks_worker_t *w,
    ngx_uint_t retry);
static void ngx_microshop_jwks_fetch_cleanup(void *data);
static ngx_int_t ngx_microshop_jwks_wait(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_jwks_worker_t *w);
static void ngx_microshop_jwks_wake(ngx_event_t *ev);
static void ngx_microshop_jwks_wait_cleanup(void *data);


/* per worker: the configuration is the cycle's, this is the process's */
static ngx_microshop_jwks_worker_t  ngx_microshop_jwks;


/* elapsed since t, in ms */
#define ngx_microshop_jwks_since(t)                                          \
    ((ngx_msec_int_t) (ngx_current_msec - (t)))


/* configuration */

char *
ngx_microshop_jwt_jwks_uri_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_main_conf_t *mmcf = conf;

    u_char                    *q;
    ngx_int_t                  t, rc;
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_microshop_jwks_uri_t  *ju;

    ju = &mmcf->token.jwks_uri;

    if (ju->location.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid LOCATION \"%V\": the URI of an internal "
                           "location, starting with \"/\" (the location "
                           "proxies to the identity provider)", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= ' ' || value[1].data[i] == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid LOCATION \"%V\": a URI holds no "
                               "white space or control character",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    ju->location = value[1];

    q = ngx_strlchr(value[1].data, value[1].data + value[1].len, '?');

    if (q != NULL) {
        ju->location.len = q - value[1].data;
        ju->args.data = q + 1;
        ju->args.len = value[1].data + value[1].len - (q + 1);
    }

    ju->refresh = NGX_MICROSHOP_JWKS_REFRESH;
    ju->unknown_kid = NGX_MICROSHOP_JWKS_UNKNOWN_KID;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "refresh=", 8) == 0) {
            t = ngx_microshop_conf_time(cf, &value[i], 0, 1000,
                                        7 * 86400 * 1000,
                                        "invalid \"%V\": refresh= is a time "
                                        "from 1s to 7d", &value[i]);
            if (t == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            ju->refresh = (ngx_msec_t) t;
            continue;
        }

        if (ngx_strncmp(value[i].data, "unknown_kid=", 12) == 0) {
            t = ngx_microshop_conf_time(cf, &value[i], 0, 1000, 86400 * 1000,
                                        "invalid \"%V\": unknown_kid= is a "
                                        "time from 1s to 1d", &value[i]);
            if (t == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            ju->unknown_kid = (ngx_msec_t) t;
            continue;
        }

        rc = ngx_microshop_jwt_ecdsa_s(cf, &value[i], &ju->any_s);

        if (rc == -1) {
            return NGX_CONF_ERROR;
        }

        if (rc == 1) {
            continue;
        }

        return ngx_microshop_conf_invalid(cf, &value[i]);
    }

    return NGX_CONF_OK;
}


/* the worker */

ngx_int_t
ngx_microshop_jwks_uri_init_process(ngx_cycle_t *cycle,
    ngx_http_microshop_main_conf_t *mmcf)
{
    ngx_microshop_jwks_uri_exit_process(cycle);

    ngx_microshop_jwks.mmcf = mmcf;
    microshop_keyset_init(&ngx_microshop_jwks.keys);
    ngx_queue_init(&ngx_microshop_jwks.waiting);

    return NGX_OK;
}


void
ngx_microshop_jwks_uri_exit_process(ngx_cycle_t *cycle)
{
    /* no request is left: nothing waits, no fetch runs */
    microshop_keyset_free(&ngx_microshop_jwks.keys);
    ngx_memzero(&ngx_microshop_jwks, sizeof(ngx_microshop_jwks_worker_t));
}


/* the worker's state for mmcf, NULL without the directive */

static ngx_microshop_jwks_worker_t *
ngx_microshop_jwks_worker(ngx_http_microshop_main_conf_t *mmcf)
{
    if (mmcf->token.jwks_uri.location.len == 0) {
        return NULL;
    }

    if (ngx_microshop_jwks.mmcf != mmcf) {
        /* a process that did not run init_process for this cycle (the
         * single process mode reloads without it) */
        microshop_keyset_free(&ngx_microshop_jwks.keys);
        ngx_memzero(&ngx_microshop_jwks, sizeof(ngx_microshop_jwks_worker_t));
        ngx_microshop_jwks.mmcf = mmcf;
        ngx_queue_init(&ngx_microshop_jwks.waiting);
    }

    return &ngx_microshop_jwks;
}


const microshop_keyset_t *
ngx_microshop_jwks_uri_keys(ngx_http_microshop_main_conf_t *mmcf)
{
    ngx_microshop_jwks_worker_t  *w;

    w = ngx_microshop_jwks_worker(mmcf);

    if (w == NULL || !w->good || w->keys.nkeys == 0) {
        return NULL;
    }

    return &w->keys;
}


const u_char *
ngx_microshop_jwks_uri_digest(ngx_http_microshop_main_conf_t *mmcf)
{
    ngx_microshop_jwks_worker_t  *w;

    w = ngx_microshop_jwks_worker(mmcf);

    return (w == NULL) ? NULL : w->digest;
}


/* the triggers */

ngx_int_t
ngx_microshop_jwks_uri_ready(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_microshop_jwks_uri_t        *ju;
    ngx_microshop_jwks_worker_t     *w;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    w = ngx_microshop_jwks_worker(mmcf);
    if (w == NULL) {
        return NGX_OK;
    }

    if (ctx->token.jwks_waiting) {
        /* the stage ran again before the wait was over */
        return NGX_AGAIN;
    }

    ju = &mmcf->token.jwks_uri;

    /*
     * No set yet: the first fetch starts in the background, and the
     * request goes on; only a token that no configured key verifies
     * waits for it (ngx_microshop_jwks_uri_unknown_kid()).  A set older
     * than refresh=: likewise.
     */

    if (w->sr == NULL
        && (w->good
            ? ngx_microshop_jwks_since(w->fetched)
                  >= (ngx_msec_int_t) ju->refresh
              && ngx_microshop_jwks_since(w->started)
                  >= (ngx_msec_int_t) ngx_min(ju->refresh,
                                              NGX_MICROSHOP_JWKS_RETRY)
            : w->attempts == 0
              || ngx_microshop_jwks_since(w->started)
                  >= (ngx_msec_int_t) NGX_MICROSHOP_JWKS_COLD_RETRY))
    {
        /*
         * A refresh in the background: the request goes on with the set
         * the worker has.  Its connection waits for the fetch, so that a
         * next request on it would wait too: this answer closes it.
         */
        if (ngx_microshop_jwks_fetch(r, w) == NGX_OK) {
            r->keepalive = 0;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_microshop_jwks_uri_unknown_kid(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    ngx_microshop_jwks_worker_t     *w;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    w = ngx_microshop_jwks_worker(mmcf);
    if (w == NULL) {
        return NGX_DECLINED;
    }

    /* without a set yet, the first fetch is tried again sooner */
    return ngx_microshop_jwks_need(r, ctx, w,
                                   w->good ? mmcf->token.jwks_uri.unknown_kid
                                           : NGX_MICROSHOP_JWKS_COLD_RETRY);
}


/*
 * A request that needs keys the worker may not have: it waits for the
 * fetch in flight, or starts one and waits, unless one started less than
 * gap ago.  It waits once, unless the fetch it waited for died with the
 * request that started it.  NGX_AGAIN: it waits; NGX_DECLINED: no fetch;
 * NGX_ERROR.
 */

static ngx_int_t
ngx_microshop_jwks_need(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx,
    ngx_microshop_jwks_worker_t *w, ngx_msec_t gap)
{
    ngx_uint_t  retry;

    retry = ctx->token.jwks_retry;
    ctx->token.jwks_retry = 0;

    if (ctx->token.jwks_waited && !retry) {
        return NGX_DECLINED;
    }

    if (w->sr != NULL) {
        return ngx_microshop_jwks_wait(r, ctx, w);
    }

    if (!retry && w->attempts
        && ngx_microshop_jwks_since(w->started) < (ngx_msec_int_t) gap)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop: the keys were fetched lately");
        return NGX_DECLINED;
    }

    if (ngx_microshop_jwks_fetch(r, w) != NGX_OK) {
        return NGX_DECLINED;
    }

    return ngx_microshop_jwks_wait(r, ctx, w);
}


/* the fetch */

/*
 * A background subrequest to LOCATION: it sends none of the client's
 * headers, nor its body, its answer is read by the module's filters
 * (ngx_microshop_jwks_uri_header_filter()) and never reaches the client,
 * and it ends with the request that started it
 * (ngx_microshop_jwks_fetch_cleanup()).  NGX_OK, or NGX_ERROR (logged)
 * when it could not start.
 */

static ngx_int_t
ngx_microshop_jwks_fetch(ngx_http_request_t *r,
    ngx_microshop_jwks_worker_t *w)
{
    ngx_str_t                        server;
    ngx_list_t                       headers;
    ngx_http_request_t              *sr;
    ngx_http_cleanup_t              *cln;
    ngx_http_request_body_t         *rb;
    ngx_microshop_jwks_uri_t        *ju;
    ngx_microshop_jwks_fetch_t      *f;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);
    ju = &mmcf->token.jwks_uri;

    /*
     * Whatever the fetch needs is allocated before it starts: a subrequest
     * once created runs, and it must never run half set up.
     */

    f = ngx_pcalloc(r->pool, sizeof(ngx_microshop_jwks_fetch_t));
    cln = ngx_http_cleanup_add(r, 0);
    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));

    if (f == NULL || cln == NULL || rb == NULL
        || ngx_list_init(&headers, r->pool, 1, sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    f->ps.handler = ngx_microshop_jwks_fetched;
    f->ps.data = f;

    if (ngx_http_subrequest(r, &ju->location,
                            ju->args.len ? &ju->args : NULL, &sr, &f->ps,
                            NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "microshop_jwt_jwks_uri \"%V\": the subrequest "
                      "could not start", &ju->location);
        return NGX_ERROR;
    }

    /* nothing of the client goes to the provider: no header, no body */

    server = r->headers_in.server;
    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    /* the list's last part is its own first one: point it at the copy */
    sr->headers_in.headers = headers;
    sr->headers_in.headers.last = &sr->headers_in.headers.part;
    sr->headers_in.server = server;
    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;

    /* as auth_request does: no attempt to read a body */
    sr->request_body = rb;

    sr->method = NGX_HTTP_GET;
    sr->method_name = ngx_http_core_get_method;

    cln->handler = ngx_microshop_jwks_fetch_cleanup;
    cln->data = sr;

    w->sr = sr;
    w->started = ngx_current_msec;
    w->attempts++;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop: fetching the keys from \"%V\"",
                   &ju->location);

    return NGX_OK;
}


/*
 * The post_subrequest handler; nginx may call it more than once (a
 * special response is finalized again): the first call decides.  It
 * returns NGX_OK for a failed fetch: nginx would otherwise terminate the
 * main request with its subrequest, and the client's request must not
 * fail because the provider did (a client that went away still ends it:
 * c->error).
 */

static ngx_int_t
ngx_microshop_jwks_fetched(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_microshop_jwks_decide(sr, data, rc);

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return NGX_OK;
    }

    return rc;
}


static void
ngx_microshop_jwks_decide(ngx_http_request_t *sr,
    ngx_microshop_jwks_fetch_t *f, ngx_int_t rc)
{
    char                             why[512];
    ngx_microshop_outcome_e          outcome;
    ngx_http_microshop_ctx_t        *ctx;
    ngx_microshop_jwks_worker_t     *w;
    ngx_microshop_jwks_result_e      result;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(sr);
    w = ngx_microshop_jwks_worker(mmcf);

    if (w == NULL || w->sr != sr) {
        return;
    }

    why[0] = '\0';
    result = ngx_microshop_jwks_take(sr, w, f, rc, why, sizeof(why));

    switch (result) {

    case NGX_MICROSHOP_JWKS_OK:
        outcome = NGX_MICROSHOP_OUT_JWKS_FETCHED;
        break;

    case NGX_MICROSHOP_JWKS_INVALID:
        outcome = NGX_MICROSHOP_OUT_JWKS_INVALID;
        break;

    default:
        outcome = NGX_MICROSHOP_OUT_JWKS_FETCH_FAILED;
    }

    if (result != NGX_MICROSHOP_JWKS_OK) {
        if (w->good) {
            ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                          "microshop_jwt_jwks_uri \"%V\": %s; the %ui keys "
                          "fetched %M s ago stay in use",
                          &mmcf->token.jwks_uri.location, why,
                          w->keys.nkeys,
                          (ngx_current_msec - w->fetched) / 1000);
        } else {
            ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                          "microshop_jwt_jwks_uri \"%V\": %s; no key from "
                          "the identity provider yet",
                          &mmcf->token.jwks_uri.location, why);
        }
    }

    ctx = ngx_microshop_request_ctx(sr->main);
    if (ctx != NULL) {
        ngx_microshop_outcome(sr->main, ctx, outcome);
    }

    ngx_microshop_jwks_settle(w, 0);
}


/* what the answer is: the new set is in place when NGX_MICROSHOP_JWKS_OK */

static ngx_microshop_jwks_result_e
ngx_microshop_jwks_take(ngx_http_request_t *sr,
    ngx_microshop_jwks_worker_t *w, ngx_microshop_jwks_fetch_t *f,
    ngx_int_t rc, char *why, size_t whylen)
{
    ngx_uint_t  status;

    status = sr->headers_out.status;

    if (f->too_big) {
        ngx_snprintf((u_char *) why, whylen, "the answer is larger than "
                     "%uz bytes%Z", (size_t) NGX_MICROSHOP_JWKS_MAX_BODY);
        return NGX_MICROSHOP_JWKS_ERROR;
    }

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE || f->failed) {
        ngx_snprintf((u_char *) why, whylen, "the fetch failed (%i, see "
                     "the error before)%Z", f->failed ? NGX_ERROR : rc);
        return NGX_MICROSHOP_JWKS_ERROR;
    }

    if (status != NGX_HTTP_OK) {
        ngx_snprintf((u_char *) why, whylen, "the answer is %ui, not 200%Z",
                     status);
        return NGX_MICROSHOP_JWKS_ERROR;
    }

    if (!f->complete) {
        ngx_snprintf((u_char *) why, whylen, "the answer was cut short%Z");
        return NGX_MICROSHOP_JWKS_ERROR;
    }

    if (f->len == 0) {
        ngx_snprintf((u_char *) why, whylen, "the answer is empty%Z");
        return NGX_MICROSHOP_JWKS_INVALID;
    }

    return ngx_microshop_jwks_install(sr, w, f->data, f->len, why, whylen);
}


/* the answer of a fetch: never sent to the client, read by the module */

ngx_microshop_jwks_fetch_t *
ngx_microshop_jwks_uri_fetch(ngx_http_request_t *r)
{
    if (r == r->main || r->post_subrequest == NULL
        || r->post_subrequest->handler != ngx_microshop_jwks_fetched)
    {
        return NULL;
    }

    return r->post_subrequest->data;
}


ngx_int_t
ngx_microshop_jwks_uri_header_filter(ngx_http_request_t *r,
    ngx_microshop_jwks_fetch_t *f)
{
    if (r->headers_out.content_length_n > NGX_MICROSHOP_JWKS_MAX_BODY) {
        f->too_big = 1;
    }

    return NGX_OK;
}


ngx_int_t
ngx_microshop_jwks_uri_body_filter(ngx_http_request_t *r,
    ngx_microshop_jwks_fetch_t *f, ngx_chain_t *in)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!f->too_big && !f->failed && !f->complete
            && ngx_microshop_jwks_keep(r, f, b) != NGX_OK)
        {
            f->failed = 1;
        }

        if (b->last_buf || b->last_in_chain) {
            f->complete = 1;
        }
    }

    /* nothing reaches the client */
    ngx_microshop_request_consume(in);

    /* never NGX_ERROR: nginx would end the client's connection with it */
    return NGX_OK;
}


/* a copy of a buffer of the answer, in memory or in a file */

static ngx_int_t
ngx_microshop_jwks_keep(ngx_http_request_t *sr, ngx_microshop_jwks_fetch_t *f,
    ngx_buf_t *b)
{
    off_t    size;
    u_char  *p;
    size_t   cap;
    ssize_t  n;

    size = ngx_buf_size(b);

    if (size <= 0 || ngx_buf_special(b)) {
        return NGX_OK;
    }

    if (size > (off_t) (NGX_MICROSHOP_JWKS_MAX_BODY - f->len)) {
        f->too_big = 1;
        return NGX_OK;
    }

    if (f->len + (size_t) size > f->cap) {
        cap = ngx_max(f->cap * 2, 4096);

        while (cap < f->len + (size_t) size) {
            cap *= 2;
        }

        cap = ngx_min(cap, NGX_MICROSHOP_JWKS_MAX_BODY);

        p = ngx_pnalloc(sr->pool, cap);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (f->len) {
            ngx_memcpy(p, f->data, f->len);
        }

        f->data = p;
        f->cap = cap;
    }

    if (ngx_buf_in_memory(b)) {
        ngx_memcpy(f->data + f->len, b->pos, (size_t) size);

    } else {
        /* a proxy_cache hit or a temporary file: read as nginx's copy
         * filter reads it */
        n = ngx_read_file(b->file, f->data + f->len, (size_t) size,
                          b->file_pos);
        if (n != (ssize_t) size) {
            return NGX_ERROR;
        }
    }

    f->len += (size_t) size;

    return NGX_OK;
}


/*
 * A document: the same as the last good one changes nothing; else its
 * keys, without those whose kid a configured key has (the configured one
 * wins), become the worker's set.
 */

static ngx_microshop_jwks_result_e
ngx_microshop_jwks_install(ngx_http_request_t *sr,
    ngx_microshop_jwks_worker_t *w, u_char *data, size_t len, char *why,
    size_t whylen)
{
    char                             err[512];
    u_char                           body[SHA256_DIGEST_LENGTH];
    size_t                           i;
    EVP_MD_CTX                      *md;
    ngx_uint_t                       shadowed;
    microshop_key_t                 *k;
    microshop_keyset_t               ks;
    microshop_jwks_report_t          report;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(sr);

    md = ngx_microshop_sha256_begin();
    if (md == NULL || EVP_DigestUpdate(md, data, len) != 1
        || EVP_DigestFinal_ex(md, body, NULL) != 1)
    {
        ngx_snprintf((u_char *) why, whylen, "SHA-256 failed%Z");
        return NGX_MICROSHOP_JWKS_ERROR;
    }

    if (w->good && ngx_memcmp(body, w->body, sizeof(body)) == 0) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                       "microshop: the provider's keys did not change");
        goto good;
    }

    microshop_keyset_init(&ks);
    ks.lazy = 1;

    if (microshop_keyset_add_jwks_remote(&ks, (char *) data, len, "jwks_uri",
                                         NGX_MICROSHOP_JWKS_MAX_KEYS,
                                         &report, err, sizeof(err))
        != 0)
    {
        ngx_snprintf((u_char *) why, whylen, "the document is refused: %s%Z",
                     err);
        return NGX_MICROSHOP_JWKS_INVALID;
    }

    if (mmcf->token.jwks_uri.any_s) {
        /* ecdsa_s=any: as for a key file (docs/directives.md) */
        (void) microshop_keyset_allow_high_s(&ks, 0);
    }

    /* a configured key of the same kid wins */

    shadowed = 0;

    for (i = 0; i < ks.nkeys; /* void */) {
        k = &ks.keys[i];

        if (k->kid != NULL
            && microshop_keyset_find_kid(&mmcf->token.keys, k->kid,
                                         ngx_strlen(k->kid)))
        {
            ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                          "microshop_jwt_jwks_uri: the provider's key of "
                          "kid \"%s\" is not used: a configured key has "
                          "that kid", k->kid);
            microshop_keyset_remove(&ks, i);
            shadowed++;
            continue;
        }

        i++;
    }

    /* the verifiers: an unchanged key keeps its own */

    if (microshop_keyset_ready(&ks, &w->keys, err, sizeof(err)) != 0) {
        microshop_keyset_free(&ks);
        ngx_snprintf((u_char *) why, whylen, "%s%Z", err);
        return NGX_MICROSHOP_JWKS_ERROR;
    }

    md = ngx_microshop_sha256_begin();
    if (md == NULL || microshop_keyset_digest(&ks, md) != 0
        || EVP_DigestFinal_ex(md, w->digest, NULL) != 1)
    {
        /* w->digest may be half written: never a digest of another set */
        ngx_memset(w->digest, 0xff, sizeof(w->digest));
    }

    microshop_keyset_free(&w->keys);
    w->keys = ks;
    ngx_memcpy(w->body, body, sizeof(body));
    w->good = 1;

    if (report.skipped) {
        ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                      "microshop_jwt_jwks_uri: %uz of the provider's keys "
                      "left out, the first: %s", report.skipped,
                      report.first);
    }

    ngx_log_error(NGX_LOG_NOTICE, sr->connection->log, 0,
                  "microshop_jwt_jwks_uri \"%V\": %uz keys from the "
                  "identity provider (%uz left out, %ui with the kid of a "
                  "configured key)", &mmcf->token.jwks_uri.location,
                  ks.nkeys, report.skipped, shadowed);

good:

    w->fetched = ngx_current_msec;

    mmcf->zone->sh->counters[NGX_MICROSHOP_COUNTER_JWKS_KEYS] =
                                                    w->keys.nkeys;
    mmcf->zone->sh->counters[NGX_MICROSHOP_COUNTER_JWKS_FETCHED_AT] =
                                                    ngx_time();

    return NGX_MICROSHOP_JWKS_OK;
}


/* the fetch is over: whoever waited for it runs again */

static void
ngx_microshop_jwks_settle(ngx_microshop_jwks_worker_t *w, ngx_uint_t retry)
{
    ngx_queue_t                *q;
    ngx_microshop_jwks_wait_t  *wt;

    w->sr = NULL;

    while (!ngx_queue_empty(&w->waiting)) {
        q = ngx_queue_head(&w->waiting);
        wt = ngx_queue_data(q, ngx_microshop_jwks_wait_t, queue);

        ngx_queue_remove(q);
        wt->queued = 0;
        wt->retry = retry;

        if (wt->event.timer_set) {
            ngx_del_timer(&wt->event);
        }

        /* from the event loop, not from within the subrequest's end */
        ngx_post_event(&wt->event, &ngx_posted_events);
    }
}


/*
 * The request that started the fetch ends (terminated: its client went
 * away, a timeout) before the fetch did: the fetch ended with it, those
 * who waited for it may start another one.
 */

static void
ngx_microshop_jwks_fetch_cleanup(void *data)
{
    ngx_http_request_t *sr = data;

    ngx_microshop_jwks_worker_t  *w;

    w = &ngx_microshop_jwks;

    if (w->sr != sr) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, sr->connection->log, 0,
                  "microshop_jwt_jwks_uri: the fetch ended with the request "
                  "that started it");

    ngx_microshop_jwks_settle(w, 1);
}


/* waiting */

static ngx_int_t
ngx_microshop_jwks_wait(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx,
    ngx_microshop_jwks_worker_t *w)
{
    ngx_http_cleanup_t         *cln;
    ngx_microshop_jwks_wait_t  *wt;

    wt = ngx_pcalloc(r->pool, sizeof(ngx_microshop_jwks_wait_t));
    cln = ngx_http_cleanup_add(r, 0);

    if (wt == NULL || cln == NULL) {
        return NGX_ERROR;
    }

    wt->r = r;
    wt->ctx = ctx;
    wt->active = 1;
    wt->queued = 1;

    wt->event.handler = ngx_microshop_jwks_wake;
    wt->event.data = wt;
    wt->event.log = r->connection->log;
    wt->event.cancelable = 1;

    cln->handler = ngx_microshop_jwks_wait_cleanup;
    cln->data = wt;

    ngx_queue_insert_tail(&w->waiting, &wt->queue);
    ngx_add_timer(&wt->event, NGX_MICROSHOP_JWKS_WAIT);

    /* a client that goes away ends the request meanwhile, as limit_req's
     * delay does: its cleanup takes it off the list */
    wt->read = r->read_event_handler;
    r->read_event_handler = ngx_http_test_reading;

    /* a write event meanwhile must not run the phases */
    wt->write = r->write_event_handler;
    r->write_event_handler = ngx_http_request_empty_handler;

    ctx->token.jwks_waiting = 1;

    ctx->token.jwks_waited = 1;

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_JWKS_WAIT);

    /* held until woken, as a store op of the request layer holds it */
    r->main->count++;

    return NGX_AGAIN;
}


/* the fetch ended (a posted event), or the wait's time ran out (timer) */

static void
ngx_microshop_jwks_wake(ngx_event_t *ev)
{
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_microshop_jwks_wait_t  *wt;

    wt = ev->data;
    r = wt->r;
    c = r->connection;

    if (wt->queued) {
        ngx_queue_remove(&wt->queue);
        wt->queued = 0;
    }

    wt->active = 0;
    wt->ctx->token.jwks_waiting = 0;
    r->read_event_handler = wt->read;
    r->write_event_handler = wt->write;

    if (ev->timedout) {
        ev->timedout = 0;
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "microshop_jwt_jwks_uri: no keys after %d s of "
                      "waiting, going on without",
                      NGX_MICROSHOP_JWKS_WAIT / 1000);
    }

    if (wt->retry) {
        wt->ctx->token.jwks_retry = 1;
    }

    r->write_event_handler(r);

    /* the hold taken when the request began to wait */
    ngx_http_finalize_request(r, NGX_DONE);

    ngx_http_run_posted_requests(c);
}


/* the request ends while it waits (or woken, before it ran) */

static void
ngx_microshop_jwks_wait_cleanup(void *data)
{
    ngx_microshop_jwks_wait_t  *wt = data;

    if (!wt->active) {
        return;
    }

    if (wt->queued) {
        ngx_queue_remove(&wt->queue);
        wt->queued = 0;
    }

    if (wt->event.timer_set) {
        ngx_del_timer(&wt->event);
    }

    if (wt->event.posted) {
        ngx_delete_posted_event(&wt->event);
    }

    wt->active = 0;
}
