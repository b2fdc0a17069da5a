/*
 * ngx_microshop: microshop_feed, the content handler that serves a
 * seller's feed (docs/events.md "Reading the feed").
 *
 * A request is one feed reader: it holds the request (r->main->count)
 * from the handler to its final answer, reads the store (FEED_READ, which
 * may finish later: ngx_microshop_request_exec() cancels it when the
 * request dies first) and, while it has nothing to send, waits on the
 * worker's list (ngx_microshop_feed_wait.h) for the next event written.
 *
 *   JSON       GET ?after=ID&limit=N: at once {"events":[...],"next":ID};
 *              with wait=T, answers as soon as there is an event after
 *              ID, or with none when T runs out.
 *   stream     Accept: text/event-stream: every event after ID (after=,
 *              Last-Event-ID) as it is written, a comment every
 *              heartbeat=; a reader whose unsent bytes pass buffer= is
 *              sent a last event, microshop.cut_off, and its stream ends:
 *              a slow reader never grows the worker's memory.
 *
 * Every read has a pool of its own, freed once its events are written out:
 * a stream that runs for days keeps only its output buffers, which are
 * reused once sent (ngx_chain_update_chains), as the upstream module does.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_feed_http.h"
#include "ngx_microshop_feed.h"
#include "ngx_microshop_feed_wait.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_store.h"
#include "microshop_event.h"


#define NGX_MICROSHOP_FEED_LIMIT      100
#define NGX_MICROSHOP_FEED_LIMIT_MAX  1000
#define NGX_MICROSHOP_FEED_CHUNK      8192

#define NGX_MICROSHOP_FEED_CUT_OFF                                            \
    "event: microshop.cut_off\n"                                              \
    "data: {\"reason\":\"slow-reader\",\"detail\":\"The stream fell too "     \
    "far behind; reconnect with Last-Event-ID.\"}\n\n"
#define NGX_MICROSHOP_FEED_HEARTBEAT_LINE  ": heartbeat\n\n"


typedef struct {
    ngx_http_request_t               *r;
    ngx_microshop_feed_loc_t         *conf;
    ngx_microshop_feed_waiter_t       waiter;
    ngx_microshop_op_t                op;
    ngx_pool_t                       *pool;      /* of the read in flight */
    ngx_str_t                         seller;
    microshop_event_id_t              cursor;    /* the last id sent */
    ngx_uint_t                        limit;
    ngx_msec_t                        wait;
    ngx_event_t                       timer;     /* wait=, heartbeat= */
    ngx_event_t                       next;      /* reads the next page */

    ngx_chain_t                      *free;
    ngx_chain_t                      *busy;
    off_t                             sent_base; /* c->sent after headers */
    off_t                             written;   /* body bytes given */
    ngx_int_t                         answer;    /* of a 400 */

    unsigned                          stream:1;
    unsigned                          from_now:1;  /* after=$ */
    unsigned                          reading:1;
    unsigned                          expired:1;
    unsigned                          missed:1;
    unsigned                          ended:1;
} ngx_microshop_feed_reader_t;


static ngx_int_t ngx_microshop_feed_args(ngx_http_request_t *r,
    ngx_microshop_feed_reader_t *fr);
static ngx_int_t ngx_microshop_feed_invalid(ngx_microshop_feed_reader_t *fr,
    char *title, char *detail);
static ngx_int_t ngx_microshop_feed_unescape(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_int_t ngx_microshop_feed_id_arg(ngx_microshop_feed_reader_t *fr,
    ngx_str_t *value);
static ngx_uint_t ngx_microshop_feed_wants_stream(ngx_http_request_t *r);
static ngx_str_t *ngx_microshop_feed_header(ngx_http_request_t *r,
    char *name);
static void ngx_microshop_feed_cleanup(void *data);
static void ngx_microshop_feed_read(ngx_microshop_feed_reader_t *fr);
static void ngx_microshop_feed_read_done(ngx_http_request_t *r,
    ngx_microshop_op_t *op);
static void ngx_microshop_feed_wait(ngx_microshop_feed_reader_t *fr);
static void ngx_microshop_feed_wake(ngx_microshop_feed_waiter_t *w);
static void ngx_microshop_feed_next(ngx_event_t *ev);
static void ngx_microshop_feed_timer(ngx_event_t *ev);
static void ngx_microshop_feed_page(ngx_microshop_feed_reader_t *fr,
    ngx_microshop_op_t *op);
static ngx_int_t ngx_microshop_feed_event_json(
    ngx_microshop_feed_reader_t *fr, ngx_microshop_feed_event_t *ev,
    ngx_pool_t *pool, ngx_str_t *out);
static ngx_int_t ngx_microshop_feed_stream_start(
    ngx_microshop_feed_reader_t *fr);
static void ngx_microshop_feed_stream_events(ngx_microshop_feed_reader_t *fr,
    ngx_microshop_op_t *op);
static ngx_int_t ngx_microshop_feed_stream_write(
    ngx_microshop_feed_reader_t *fr, ngx_str_t *parts, ngx_uint_t n,
    ngx_uint_t last);
static void ngx_microshop_feed_stream_end(ngx_microshop_feed_reader_t *fr,
    ngx_uint_t cut);
static void ngx_microshop_feed_stream_writer(ngx_http_request_t *r);
static void ngx_microshop_feed_finalize(ngx_microshop_feed_reader_t *fr,
    ngx_int_t rc);


ngx_int_t
ngx_microshop_feed_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_pool_cleanup_t              *cln;
    ngx_http_microshop_ctx_t        *ctx;
    ngx_microshop_feed_reader_t     *fr;
    ngx_http_microshop_loc_conf_t   *mlcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_microshop_not_allowed(r, "GET, HEAD",
                                         "A feed is read with GET.");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mlcf = ngx_microshop_loc_conf(r);

    ctx = ngx_microshop_request_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    fr = ngx_pcalloc(r->pool, sizeof(ngx_microshop_feed_reader_t));
    if (fr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    fr->r = r;
    fr->conf = mlcf->feed;
    fr->limit = NGX_MICROSHOP_FEED_LIMIT;
    fr->waiter.wake = ngx_microshop_feed_wake;
    fr->waiter.data = fr;

    /* the access phase checked the scope and the seller's binding */
    if (ngx_microshop_route_seller(r, ctx, &fr->seller) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (fr->seller.len == 0) {
        return ngx_microshop_problem_text(r, NGX_HTTP_FORBIDDEN,
                   "seller-mismatch", "No seller",
                   "The token names no seller, and this route none.");
    }

    fr->stream = (r->method == NGX_HTTP_GET
                  && ngx_microshop_feed_wants_stream(r));

    if (ngx_microshop_feed_args(r, fr) != NGX_OK) {
        /* answered 400: what sending it returned */
        return fr->answer;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_microshop_feed_cleanup;
    cln->data = fr;

    fr->next.handler = ngx_microshop_feed_next;
    fr->next.data = fr;
    fr->next.log = r->connection->log;

    fr->timer.handler = ngx_microshop_feed_timer;
    fr->timer.data = fr;
    fr->timer.log = r->connection->log;

    /* a client that goes away while the reader waits ends the request */
    r->read_event_handler = ngx_http_test_reading;

    if (fr->stream && ngx_microshop_feed_stream_start(fr) != NGX_OK) {
        /* the header may be out already: no page of nginx's after it */
        return NGX_ERROR;
    }

    /* held until the reader's last answer */
    r->main->count++;

    ngx_microshop_feed_read(fr);

    return NGX_DONE;
}


/* after=ID|$, limit=N, wait=T; Last-Event-ID for a stream */

static ngx_int_t
ngx_microshop_feed_args(ngx_http_request_t *r, ngx_microshop_feed_reader_t *fr)
{
    ngx_int_t   n;
    ngx_str_t   value, *h;

    if (ngx_http_arg(r, (u_char *) "after", 5, &value) == NGX_OK
        && (ngx_microshop_feed_unescape(r, &value) != NGX_OK
            || ngx_microshop_feed_id_arg(fr, &value) != NGX_OK))
    {
        return ngx_microshop_feed_invalid(fr, "Invalid after",
                   "after= is an event id, <ms>-<seq> or <ms>, or $ for "
                   "the events written from now on.");
    }

    h = ngx_microshop_feed_header(r, "Last-Event-ID");

    if (fr->stream && h && ngx_microshop_feed_id_arg(fr, h) != NGX_OK) {
        return ngx_microshop_feed_invalid(fr, "Invalid Last-Event-ID",
                   "Last-Event-ID is an event id the feed sent, "
                   "<ms>-<seq>.");
    }

    if (ngx_http_arg(r, (u_char *) "limit", 5, &value) == NGX_OK) {
        n = ngx_atoi(value.data, value.len);

        if (n < 1 || n > NGX_MICROSHOP_FEED_LIMIT_MAX) {
            return ngx_microshop_feed_invalid(fr, "Invalid limit",
                       "limit= is a number of events from 1 to 1000.");
        }

        fr->limit = n;
    }

    if (ngx_http_arg(r, (u_char *) "wait", 4, &value) == NGX_OK) {
        /* a bare number is seconds, as in Retry-After */
        n = (value.len == 0 || value.len > 16) ? NGX_ERROR
            : (value.data[value.len - 1] >= '0'
               && value.data[value.len - 1] <= '9')
              ? ngx_atoi(value.data, value.len)
              : ngx_parse_time(&value, 0);

        if (n != NGX_ERROR && value.data[value.len - 1] >= '0'
            && value.data[value.len - 1] <= '9')
        {
            n = (n > 3600) ? NGX_ERROR : n * 1000;
        }

        if (n == NGX_ERROR || (ngx_msec_t) n > fr->conf->wait_max) {
            return ngx_microshop_feed_invalid(fr, "Invalid wait",
                       "wait= is a time (30s, 500ms) up to this feed's "
                       "max_wait=.");
        }

        fr->wait = n;
    }

    return NGX_OK;
}


/*
 * 400 invalid-request, sent: NGX_DECLINED, and fr->answer is what sending
 * it returned (NGX_OK once sent), for the handler to return.
 */

static ngx_int_t
ngx_microshop_feed_invalid(ngx_microshop_feed_reader_t *fr, char *title,
    char *detail)
{
    fr->answer = ngx_microshop_problem_text(fr->r, NGX_HTTP_BAD_REQUEST,
                                            "invalid-request", title, detail);

    return NGX_DECLINED;
}


/*
 * An argument as the client meant it: ngx_http_arg() leaves it escaped,
 * and a client's URL encoder sends after=$ as after=%24.
 */

static ngx_int_t
ngx_microshop_feed_unescape(ngx_http_request_t *r, ngx_str_t *value)
{
    u_char  *src, *dst, *p;

    if (ngx_strlchr(value->data, value->data + value->len, '%') == NULL) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, value->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    src = value->data;
    dst = p;

    ngx_unescape_uri(&dst, &src, value->len, 0);

    value->data = p;
    value->len = dst - p;

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_feed_id_arg(ngx_microshop_feed_reader_t *fr, ngx_str_t *value)
{
    if (value->len == 1 && value->data[0] == '$') {
        fr->from_now = 1;
        return NGX_OK;
    }

    if (microshop_event_id_parse((char *) value->data, value->len,
                                 &fr->cursor)
        != 0)
    {
        return NGX_ERROR;
    }

    fr->from_now = 0;

    return NGX_OK;
}


static ngx_uint_t
ngx_microshop_feed_wants_stream(ngx_http_request_t *r)
{
    ngx_str_t  *accept;

    accept = ngx_microshop_feed_header(r, "Accept");

    return accept
           && ngx_strlcasestrn(accept->data, accept->data + accept->len,
                               (u_char *) "text/event-stream",
                               sizeof("text/event-stream") - 2)
              != NULL;
}


static ngx_str_t *
ngx_microshop_feed_header(ngx_http_request_t *r, char *name)
{
    ngx_str_t         n;
    ngx_table_elt_t  *h;

    n.data = (u_char *) name;
    n.len = ngx_strlen(name);

    h = ngx_microshop_header_in(r, &n, NULL);

    return h ? &h->value : NULL;
}


/* the request is freed: nothing of the reader is left behind */

static void
ngx_microshop_feed_cleanup(void *data)
{
    ngx_microshop_feed_reader_t *fr = data;

    ngx_microshop_feed_wait_remove(&fr->waiter);

    if (fr->timer.timer_set) {
        ngx_del_timer(&fr->timer);
    }

    if (fr->next.posted) {
        ngx_delete_posted_event(&fr->next);
    }

    /* a read still in flight was cancelled by the request's cleanup,
     * which ran before the pool's */
    if (fr->pool) {
        ngx_destroy_pool(fr->pool);
        fr->pool = NULL;
    }
}


static void
ngx_microshop_feed_read(ngx_microshop_feed_reader_t *fr)
{
    ngx_int_t                        rc;
    ngx_http_request_t              *r;
    ngx_microshop_op_t              *op;

    r = fr->r;

    if (fr->reading || fr->ended) {
        return;
    }

    fr->pool = ngx_create_pool(4096, r->connection->log);
    if (fr->pool == NULL) {
        ngx_microshop_feed_finalize(fr, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    op = &fr->op;
    ngx_memzero(op, sizeof(ngx_microshop_op_t));

    op->type = NGX_MICROSHOP_OP_FEED_READ;
    op->key = fr->seller;
    op->pool = fr->pool;
    op->u.feed.after = fr->cursor;
    op->u.feed.limit = fr->from_now ? 0 : fr->limit;

    fr->reading = 1;

    rc = ngx_microshop_request_exec(r, op, ngx_microshop_feed_read_done);

    if (rc == NGX_OK) {
        ngx_microshop_feed_read_done(r, op);
        return;
    }

    if (rc == NGX_ERROR) {
        fr->reading = 0;
        ngx_destroy_pool(fr->pool);
        fr->pool = NULL;
        ngx_microshop_feed_finalize(fr, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


static void
ngx_microshop_feed_read_done(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    ngx_microshop_feed_reader_t  *fr;

    fr = (ngx_microshop_feed_reader_t *)
             ((u_char *) op - offsetof(ngx_microshop_feed_reader_t, op));

    fr->reading = 0;

    if (op->rc != NGX_OK) {
        ngx_destroy_pool(fr->pool);
        fr->pool = NULL;

        if (fr->stream) {
            ngx_microshop_feed_stream_end(fr, 0);
            return;
        }

        ngx_microshop_feed_finalize(fr,
            ngx_microshop_store_unavailable(r, "The feed could not be read."));
        return;
    }

    if (fr->from_now) {
        /* after=$: what comes after the newest event now */
        fr->from_now = 0;
        fr->cursor = op->u.feed.last;

        ngx_destroy_pool(fr->pool);
        fr->pool = NULL;

        ngx_microshop_feed_wait(fr);
        return;
    }

    if (op->u.feed.missed) {
        fr->missed = 1;
    }

    if (fr->stream) {
        ngx_microshop_feed_stream_events(fr, op);
        return;
    }

    if (op->u.feed.nevents == 0 && fr->wait && !fr->expired && !ngx_exiting)
    {
        ngx_destroy_pool(fr->pool);
        fr->pool = NULL;

        ngx_microshop_feed_wait(fr);
        return;
    }

    ngx_microshop_feed_page(fr, op);
}


/* nothing to send now: on the list until an event is written */

static void
ngx_microshop_feed_wait(ngx_microshop_feed_reader_t *fr)
{
    ngx_http_microshop_main_conf_t  *mmcf;

    if (ngx_exiting) {
        if (fr->stream) {
            ngx_microshop_feed_stream_end(fr, 0);

        } else {
            fr->expired = 1;
            ngx_microshop_feed_read(fr);
        }

        return;
    }

    if (!fr->stream && fr->wait == 0) {
        /* after=$ without wait=: nothing after now, now */
        fr->expired = 1;
        ngx_microshop_feed_read(fr);
        return;
    }

    mmcf = ngx_microshop_main_conf(fr->r);

    ngx_microshop_feed_wait_add(mmcf->zone, &fr->waiter);

    if (!fr->timer.timer_set) {
        ngx_add_timer(&fr->timer, fr->stream ? fr->conf->heartbeat
                                             : fr->wait);
    }
}


static void
ngx_microshop_feed_wake(ngx_microshop_feed_waiter_t *w)
{
    ngx_connection_t             *c;
    ngx_microshop_feed_reader_t  *fr;

    fr = w->data;

    /* the request may be freed below */
    c = fr->r->connection;

    if (ngx_exiting && fr->stream) {
        ngx_microshop_feed_stream_end(fr, 0);

    } else {
        if (ngx_exiting) {
            fr->expired = 1;
        }

        ngx_microshop_feed_read(fr);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_microshop_feed_next(ngx_event_t *ev)
{
    ngx_connection_t             *c;
    ngx_microshop_feed_reader_t  *fr;

    fr = ev->data;
    c = fr->r->connection;

    ngx_microshop_feed_read(fr);

    ngx_http_run_posted_requests(c);
}


static void
ngx_microshop_feed_timer(ngx_event_t *ev)
{
    ngx_int_t                     rc;
    ngx_str_t                     beat;
    ngx_connection_t             *c;
    ngx_microshop_feed_reader_t  *fr;

    fr = ev->data;
    c = fr->r->connection;

    if (fr->stream) {
        /* a comment keeps proxies and the client's reader awake */
        ngx_str_set(&beat, NGX_MICROSHOP_FEED_HEARTBEAT_LINE);

        if (!fr->ended) {
            rc = ngx_microshop_feed_stream_write(fr, &beat, 1, 0);

            if (rc != NGX_OK) {
                ngx_microshop_feed_stream_end(fr, rc == NGX_DECLINED);

            } else {
                ngx_add_timer(&fr->timer, fr->conf->heartbeat);
            }
        }

        ngx_http_run_posted_requests(c);
        return;
    }

    /* wait= ran out: the page is empty unless an event came meanwhile */

    fr->expired = 1;

    ngx_microshop_feed_wait_remove(&fr->waiter);
    ngx_microshop_feed_read(fr);

    ngx_http_run_posted_requests(c);
}


/* {"events":[...],"next":ID[,"missed":true]} */

static void
ngx_microshop_feed_page(ngx_microshop_feed_reader_t *fr,
    ngx_microshop_op_t *op)
{
    u_char              *p;
    size_t               len;
    ngx_str_t           *parts, body;
    ngx_uint_t           i;
    ngx_http_request_t  *r;
    char                 next[MICROSHOP_EVENT_ID_LEN];

    r = fr->r;

    parts = ngx_palloc(fr->pool, (op->u.feed.nevents + 1) * sizeof(ngx_str_t));
    if (parts == NULL) {
        goto failed;
    }

    len = sizeof("{\"events\":[],\"next\":\"\",\"missed\":true}\n")
          + MICROSHOP_EVENT_ID_LEN;

    for (i = 0; i < op->u.feed.nevents; i++) {
        if (ngx_microshop_feed_event_json(fr, &op->u.feed.events[i], fr->pool,
                                          &parts[i])
            != NGX_OK)
        {
            goto failed;
        }

        len += parts[i].len + 1;
        fr->cursor = op->u.feed.events[i].id;
    }

    (void) microshop_event_id_format(&fr->cursor, next);

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        goto failed;
    }

    p = ngx_cpymem(body.data, "{\"events\":[", sizeof("{\"events\":[") - 1);

    for (i = 0; i < op->u.feed.nevents; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, parts[i].data, parts[i].len);
    }

    p = ngx_sprintf(p, "],\"next\":\"%s\"%s}\n", next,
                    fr->missed ? ",\"missed\":true" : "");

    body.len = p - body.data;

    ngx_destroy_pool(fr->pool);
    fr->pool = NULL;

    ngx_microshop_feed_finalize(fr, ngx_microshop_send_private_json(r, &body));
    return;

failed:

    ngx_destroy_pool(fr->pool);
    fr->pool = NULL;

    ngx_microshop_feed_finalize(fr, NGX_HTTP_INTERNAL_SERVER_ERROR);
}


static ngx_int_t
ngx_microshop_feed_event_json(ngx_microshop_feed_reader_t *fr,
    ngx_microshop_feed_event_t *ev, ngx_pool_t *pool, ngx_str_t *out)
{
    char          *text;
    size_t         len;
    json_t        *data;
    json_error_t   err;

    data = json_loadb((char *) ev->data.data, ev->data.len, 0, &err);
    if (data == NULL) {
        return NGX_ERROR;
    }

    text = microshop_event_json(&ev->id, (int64_t) ev->id.ms, ev->type,
                                (char *) fr->seller.data, fr->seller.len,
                                data, &len);
    if (text == NULL) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        free(text);
        return NGX_ERROR;
    }

    out->len = len;
    ngx_memcpy(out->data, text, len);

    free(text);

    return NGX_OK;
}


/* the event stream */

static ngx_int_t
ngx_microshop_feed_stream_start(ngx_microshop_feed_reader_t *fr)
{
    ngx_int_t            rc;
    ngx_str_t            hello;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    r = fr->r;

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = sizeof("text/event-stream") - 1;
    r->headers_out.content_length_n = -1;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    /* proxies in front (nginx's own) must not buffer the stream */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Accel-Buffering");
    ngx_str_set(&h->value, "no");

    r->keepalive = 0;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return NGX_ERROR;
    }

    fr->sent_base = r->connection->sent;

    r->write_event_handler = ngx_microshop_feed_stream_writer;

    ngx_str_set(&hello, ": microshop feed\n\n");

    return ngx_microshop_feed_stream_write(fr, &hello, 1, 0);
}


static void
ngx_microshop_feed_stream_events(ngx_microshop_feed_reader_t *fr,
    ngx_microshop_op_t *op)
{
    u_char       *p;
    ngx_int_t     rc;
    ngx_str_t     parts[1], json;
    ngx_uint_t    i, more;
    microshop_event_id_t  id;
    char          idbuf[MICROSHOP_EVENT_ID_LEN];
    const char   *name;

    more = (op->u.feed.nevents == fr->limit);

    for (i = 0; i < op->u.feed.nevents; i++) {
        if (ngx_microshop_feed_event_json(fr, &op->u.feed.events[i], fr->pool,
                                          &json)
            != NGX_OK)
        {
            ngx_destroy_pool(fr->pool);
            fr->pool = NULL;
            ngx_microshop_feed_stream_end(fr, 0);
            return;
        }

        id = op->u.feed.events[i].id;
        (void) microshop_event_id_format(&id, idbuf);
        name = microshop_event_type_name(op->u.feed.events[i].type);

        parts[0].data = ngx_pnalloc(fr->pool, json.len + ngx_strlen(idbuf)
                                    + ngx_strlen(name) + 32);
        if (parts[0].data == NULL) {
            ngx_destroy_pool(fr->pool);
            fr->pool = NULL;
            ngx_microshop_feed_stream_end(fr, 0);
            return;
        }

        p = ngx_sprintf(parts[0].data, "id: %s\nevent: %s\ndata: %V\n\n",
                        idbuf, name, &json);
        parts[0].len = p - parts[0].data;

        rc = ngx_microshop_feed_stream_write(fr, parts, 1, 0);

        if (rc != NGX_OK) {
            ngx_destroy_pool(fr->pool);
            fr->pool = NULL;
            ngx_microshop_feed_stream_end(fr, rc == NGX_DECLINED);
            return;
        }

        fr->cursor = id;
    }

    ngx_destroy_pool(fr->pool);
    fr->pool = NULL;

    if (more) {
        /*
         * A page was full: there may be more at once.  The next read is
         * posted, not called: a feed of a million events is never a
         * million frames deep.
         */
        ngx_post_event(&fr->next, &ngx_posted_events);
        return;
    }

    ngx_microshop_feed_wait(fr);
}


/*
 * Copies the parts into the stream's buffers and sends what the client
 * takes.  NGX_DECLINED: the reader is too far behind (its unsent bytes
 * passed buffer=); NGX_ERROR: the connection failed.
 */

static ngx_int_t
ngx_microshop_feed_stream_write(ngx_microshop_feed_reader_t *fr,
    ngx_str_t *parts, ngx_uint_t n, ngx_uint_t last)
{
    off_t                unsent;
    size_t               len, size;
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_uint_t           i;
    ngx_chain_t         *cl;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = fr->r;
    c = r->connection;

    if (fr->ended) {
        return NGX_ERROR;
    }

    len = 0;
    for (i = 0; i < n; i++) {
        len += parts[i].len;
    }

    unsent = fr->written - (c->sent - fr->sent_base);

    if (!last && unsent > 0 && (size_t) unsent + len > fr->conf->buffer) {
        return NGX_DECLINED;
    }

    cl = ngx_chain_get_free_buf(r->pool, &fr->free);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = cl->buf;
    size = ngx_max(len, NGX_MICROSHOP_FEED_CHUNK);

    if (b->start == NULL || (size_t) (b->end - b->start) < len) {
        /* a reused buffer too small for these bytes is left to the pool */
        b->start = ngx_palloc(r->pool, size);
        if (b->start == NULL) {
            return NGX_ERROR;
        }

        b->end = b->start + size;
    }

    b->pos = b->start;
    b->last = b->start;
    /* the stream's end alone (a reload, a failed read) is a special
     * buffer: an empty one in memory is an alert of the writer and an
     * error, and the client would miss the last chunk */
    b->temporary = (len != 0);
    b->memory = 0;
    b->flush = 1;
    b->last_buf = last;
    b->tag = (ngx_buf_tag_t) &ngx_microshop_feed_handler;

    for (i = 0; i < n; i++) {
        b->last = ngx_microshop_cpymem(b->last, parts[i].data, parts[i].len);
    }

    fr->written += len;

    rc = ngx_http_output_filter(r, cl);

    ngx_chain_update_chains(r->pool, &fr->free, &fr->busy, &cl,
                            (ngx_buf_tag_t) &ngx_microshop_feed_handler);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (c->buffered && !last) {
        /* the client reads slowly: the writer sends the rest when it can,
         * within send_timeout */
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (!c->write->timer_set && !c->write->delayed) {
            ngx_add_timer(c->write, clcf->send_timeout);
        }

        if (ngx_handle_write_event(c->write, clcf->send_lowat) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the stream's last bytes: a cut-off event for a reader too far behind */

static void
ngx_microshop_feed_stream_end(ngx_microshop_feed_reader_t *fr, ngx_uint_t cut)
{
    ngx_int_t                        rc;
    ngx_str_t                        part;
    ngx_http_microshop_main_conf_t  *mmcf;

    if (fr->ended) {
        return;
    }

    ngx_microshop_feed_wait_remove(&fr->waiter);

    if (fr->timer.timer_set) {
        ngx_del_timer(&fr->timer);
    }

    if (cut) {
        mmcf = ngx_microshop_main_conf(fr->r);
        ngx_microshop_zone_count(mmcf->zone, NGX_MICROSHOP_COUNTER_FEED_CUT,
                                 1);

        ngx_log_error(NGX_LOG_INFO, fr->r->connection->log, 0,
                      "microshop: feed reader of \"%V\" cut off: more than "
                      "%uz bytes unsent", &fr->seller, fr->conf->buffer);

        ngx_str_set(&part, NGX_MICROSHOP_FEED_CUT_OFF);

    } else {
        ngx_str_null(&part);
    }

    rc = ngx_microshop_feed_stream_write(fr, &part, 1, 1);

    fr->ended = 1;

    ngx_microshop_feed_finalize(fr, rc == NGX_OK ? NGX_OK : NGX_ERROR);
}


static void
ngx_microshop_feed_stream_writer(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_event_t                *wev;
    ngx_connection_t           *c;
    ngx_http_core_loc_conf_t   *clcf;

    c = r->connection;
    wev = c->write;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (wev->timedout) {
        c->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    rc = ngx_http_output_filter(r, NULL);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    if (c->buffered) {
        if (!wev->delayed) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }
}


/* the reader's last answer: the reference the handler took goes */

static void
ngx_microshop_feed_finalize(ngx_microshop_feed_reader_t *fr, ngx_int_t rc)
{
    ngx_http_request_t  *r;

    r = fr->r;

    fr->ended = 1;

    ngx_microshop_feed_wait_remove(&fr->waiter);

    if (fr->timer.timer_set) {
        ngx_del_timer(&fr->timer);
    }

    ngx_http_finalize_request(r, rc);
}
