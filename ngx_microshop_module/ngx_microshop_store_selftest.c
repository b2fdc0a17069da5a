/*
 * ngx_microshop: the conformance suite of the store contract (see the
 * header), one scripted sequence of cases run inside a worker against the
 * configured back end, whatever it is (docs/architecture.md).
 *
 * A case is a function of its step number.  A step checks what the ops of
 * the step before answered and submits the next ones; the next step runs
 * once every exec() it submitted was answered, at once (NGX_OK) or later
 * (its handler).  So the same script runs against a back end that answers
 * at once (shm) and one that answers later (deferred).  Every case works on
 * keys of its own seller, unique per run, so the suite can run again on the
 * same zone.
 *
 * The first check of a step that fails fails the case: what the step
 * would submit after it is not submitted, and its next steps do not run.
 *
 * Besides what each case checks, every answer is checked against the
 * contract: a handler runs only for an exec() that returned NGX_AGAIN, only
 * once, never inside exec(), never after cancel(), with op->pending
 * cleared.  A broken contract fails the case in progress.
 *
 * The request stays alive while ops are pending (r->main->count), and its
 * cleanup cancels them if it dies first (client gone, timeout).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_store_deferred.h"
#include "ngx_microshop_store_selftest.h"


#define NGX_MICROSHOP_SELFTEST_OPS     16
#define NGX_MICROSHOP_SELFTEST_KEY     128
#define NGX_MICROSHOP_SELFTEST_KEEP    60000          /* ms */
#define NGX_MICROSHOP_SELFTEST_MINUTE  60000000       /* us */
#define NGX_MICROSHOP_SELFTEST_BAD_OP  99             /* no such op */
#define NGX_MICROSHOP_SELFTEST_JUNK    0x5a

/* what a case needs of the back end */
#define NGX_MICROSHOP_SELFTEST_ANY     0
#define NGX_MICROSHOP_SELFTEST_LATER   1    /* answers later: cancel */
#define NGX_MICROSHOP_SELFTEST_KNOBS   2    /* the deferred back end's */
#define NGX_MICROSHOP_SELFTEST_FEED    3    /* microshop_events_out */

#define NGX_MICROSHOP_SELFTEST_ANSWER                                         \
    "HTTP/1.1 201 Created\r\nContent-Length: 6\r\n\r\nstored"
#define NGX_MICROSHOP_SELFTEST_BODY    "{\"sku\":\"inv\",\"available\":3}"
#define NGX_MICROSHOP_SELFTEST_ETAG    "\"v1\""
#define NGX_MICROSHOP_SELFTEST_ITEM    "{\"sku\":\"ev\",\"available\":7}"
#define NGX_MICROSHOP_SELFTEST_IETAG   "\"e1\""


typedef struct ngx_microshop_selftest_s  ngx_microshop_selftest_t;

/* runs step "step" of a case; NGX_DONE: the case has no such step */
typedef ngx_int_t (*ngx_microshop_selftest_case_pt)(
    ngx_microshop_selftest_t *st, ngx_uint_t step);


typedef struct {
    char                            *name;
    ngx_uint_t                       needs;
    ngx_microshop_selftest_case_pt   run;
} ngx_microshop_selftest_case_t;


/* an exec() of the suite */
typedef struct {
    ngx_microshop_op_t               op;
    ngx_microshop_selftest_t        *st;
    ngx_uint_t                       calls;     /* handler runs */
    ngx_uint_t                       order;     /* 1, 2, ...: when answered */
    ngx_uint_t                       pending;   /* not answered, cancelled */
    ngx_uint_t                       later;     /* exec() said NGX_AGAIN */
} ngx_microshop_selftest_op_t;


typedef struct {
    char                            *name;
    ngx_str_t                        why;
} ngx_microshop_selftest_note_t;


struct ngx_microshop_selftest_s {
    ngx_http_request_t              *r;
    ngx_microshop_store_t           *store;
    ngx_microshop_selftest_case_t   *cases;
    ngx_uint_t                       ncase;
    ngx_uint_t                       nstep;
    ngx_uint_t                       inflight;  /* execs awaited */
    ngx_uint_t                       finished;  /* execs answered */
    ngx_uint_t                       later;     /* ... of them later */
    ngx_uint_t                       answers;   /* handler runs */
    ngx_uint_t                       cancelled;
    ngx_uint_t                       passed;
    ngx_msec_t                       hold;
    ngx_atomic_uint_t                before;    /* a counter */
    ngx_str_t                        seller;    /* of the case */
    ngx_array_t                      ops;       /* every exec, for cancel */
    ngx_array_t                      failed;    /* notes */
    ngx_array_t                      skipped;   /* notes */
    ngx_microshop_selftest_op_t     *t[NGX_MICROSHOP_SELFTEST_OPS];

    unsigned                         knobs:1;   /* deferred back end */
    unsigned                         knobs_set:1;
    unsigned                         case_failed:1;
    unsigned                         error:1;   /* out of memory: 500 */
    unsigned                         running:1;
    unsigned                         in_exec:1;
};


static ngx_int_t ngx_microshop_store_selftest_handler(ngx_http_request_t *r);
static void ngx_microshop_selftest_run(ngx_microshop_selftest_t *st);
static char *ngx_microshop_selftest_needs(ngx_microshop_selftest_t *st,
    ngx_microshop_selftest_case_t *c);
static ngx_int_t ngx_microshop_selftest_start_case(
    ngx_microshop_selftest_t *st);
static void ngx_microshop_selftest_finish(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_json(ngx_microshop_selftest_t *st,
    ngx_str_t *body);
static void ngx_microshop_selftest_abort(ngx_microshop_selftest_t *st);
static void ngx_microshop_selftest_cleanup(void *data);
static void ngx_microshop_selftest_done(ngx_microshop_op_t *op);
static void ngx_microshop_selftest_expect(ngx_microshop_selftest_t *st,
    ngx_uint_t ok, const char *fmt, ...);
static ngx_int_t ngx_microshop_selftest_note(ngx_microshop_selftest_t *st,
    ngx_array_t *a, char *name, u_char *why, size_t len);
static void ngx_microshop_selftest_rc_is(ngx_microshop_selftest_t *st,
    ngx_uint_t i, ngx_int_t rc, char *what);
static void ngx_microshop_selftest_idem_is(ngx_microshop_selftest_t *st,
    ngx_uint_t i, ngx_uint_t result, char *what);
static void ngx_microshop_selftest_held_is(ngx_microshop_selftest_t *st,
    ngx_uint_t i, char *what);
static void ngx_microshop_selftest_stock_is(ngx_microshop_selftest_t *st,
    ngx_uint_t i, int64_t available, int64_t held);
static u_char *ngx_microshop_selftest_key(ngx_microshop_selftest_t *st,
    u_char *p, ngx_uint_t type, char *name);
static ngx_microshop_selftest_op_t *ngx_microshop_selftest_op(
    ngx_microshop_selftest_t *st, ngx_uint_t i, ngx_uint_t type, char *name);
static void ngx_microshop_selftest_exec(ngx_microshop_selftest_t *st,
    ngx_microshop_selftest_op_t *t);
static void ngx_microshop_selftest_submit(ngx_microshop_selftest_t *st,
    ngx_uint_t i, ngx_uint_t type, char *name, int64_t arg);
static void ngx_microshop_selftest_post(ngx_microshop_selftest_t *st,
    ngx_microshop_op_t *op, char *name);
static void ngx_microshop_selftest_cancel(ngx_microshop_selftest_t *st,
    ngx_microshop_selftest_op_t *t);
static ngx_uint_t ngx_microshop_selftest_junk(ngx_microshop_selftest_op_t *t);
static ngx_uint_t ngx_microshop_selftest_same(ngx_str_t *s, char *text);
static ngx_atomic_uint_t ngx_microshop_selftest_counter(
    ngx_microshop_selftest_t *st, ngx_uint_t counter);
static void ngx_microshop_selftest_idem_post(ngx_microshop_selftest_t *st,
    ngx_uint_t type, u_char fp, ngx_uint_t unavailable);
static void ngx_microshop_selftest_stock_post(ngx_microshop_selftest_t *st,
    char *sku, int64_t available);
static void ngx_microshop_selftest_event(ngx_microshop_selftest_t *st,
    ngx_uint_t i, char *id, int64_t version);
static ngx_microshop_selftest_op_t *ngx_microshop_selftest_reserve(
    ngx_microshop_selftest_t *st, ngx_uint_t i, ngx_uint_t type, char *id,
    char *sku1, int64_t q1, char *sku2, int64_t q2);
static void ngx_microshop_selftest_is_revoked(ngx_microshop_selftest_t *st,
    ngx_uint_t i, char *jti, char *parent, char *seller, char *cls,
    int64_t iat);
static void ngx_microshop_selftest_before(ngx_microshop_selftest_t *st,
    ngx_uint_t i, char *cls, int64_t before, int64_t until);
static void ngx_microshop_selftest_revoked_list(ngx_microshop_selftest_t *st,
    ngx_uint_t i, ngx_uint_t limit);
static ngx_microshop_watermark_t *ngx_microshop_selftest_watermark(
    ngx_microshop_selftest_t *st, ngx_uint_t i, char *cls);
static void ngx_microshop_selftest_batch(ngx_microshop_selftest_t *st);
static void ngx_microshop_selftest_batch_check(ngx_microshop_selftest_t *st,
    ngx_uint_t reverse);


static ngx_uint_t  ngx_microshop_selftest_runs;


static void
ngx_microshop_selftest_run(ngx_microshop_selftest_t *st)
{
    char                           *why;
    ngx_int_t                       rc;
    ngx_microshop_selftest_case_t  *c;

    if (st->running) {
        return;
    }

    st->running = 1;

    while (st->inflight == 0 && !st->error) {

        c = &st->cases[st->ncase];

        if (c->name == NULL) {
            st->running = 0;
            ngx_microshop_selftest_finish(st);
            return;
        }

        if (st->nstep == 0) {
            why = ngx_microshop_selftest_needs(st, c);

            if (why) {
                if (ngx_microshop_selftest_note(st, &st->skipped, c->name,
                                                (u_char *) why,
                                                ngx_strlen(why))
                    != NGX_OK)
                {
                    goto failed;
                }

                st->ncase++;
                continue;
            }

            if (ngx_microshop_selftest_start_case(st) != NGX_OK) {
                goto failed;
            }
        }

        /* a failed case runs no more steps */
        rc = st->case_failed ? NGX_DONE : c->run(st, st->nstep++);

        if (rc == NGX_DONE) {
            if (!st->case_failed) {
                st->passed++;
            }

            st->ncase++;
            st->nstep = 0;
        }
    }

    st->running = 0;

    if (!st->error) {
        return;
    }

failed:

    st->running = 0;

    ngx_microshop_selftest_abort(st);
    ngx_http_finalize_request(st->r, NGX_HTTP_INTERNAL_SERVER_ERROR);
}


static char *
ngx_microshop_selftest_needs(ngx_microshop_selftest_t *st,
    ngx_microshop_selftest_case_t *c)
{
    if (c->needs == NGX_MICROSHOP_SELFTEST_LATER && st->later == 0) {
        return "this back end answered every exec() at once: there is "
               "nothing to cancel";
    }

    if (c->needs == NGX_MICROSHOP_SELFTEST_KNOBS && !st->knobs) {
        return "needs the test knobs of the deferred back end";
    }

    if (c->needs == NGX_MICROSHOP_SELFTEST_FEED
        && st->store->feed == NULL && st->store->redis == NULL)
    {
        return "needs microshop_events_out";
    }

    return NULL;
}


/* a seller of its own for every case of every run: keys never meet */

static ngx_int_t
ngx_microshop_selftest_start_case(ngx_microshop_selftest_t *st)
{
    u_char  *p;

    p = ngx_pnalloc(st->r->pool, NGX_INT_T_LEN * 4 + sizeof("st----"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    st->seller.data = p;
    st->seller.len = ngx_sprintf(p, "st-%P-%ui-%M-%ui", ngx_pid,
                                 ngx_microshop_selftest_runs,
                                 ngx_current_msec, st->ncase)
                     - p;

    st->case_failed = 0;
    ngx_memzero(st->t, sizeof(st->t));

    return NGX_OK;
}


static void
ngx_microshop_selftest_finish(ngx_microshop_selftest_t *st)
{
    ngx_int_t            rc;
    ngx_str_t            body, type;
    ngx_http_request_t  *r;

    r = st->r;

    ngx_microshop_selftest_abort(st);

    if (ngx_microshop_selftest_json(st, &body) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_str_set(&type, "application/json");

    rc = ngx_microshop_send_body(r, NGX_HTTP_OK, &type, &body);

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_microshop_selftest_json(ngx_microshop_selftest_t *st, ngx_str_t *body)
{
    size_t                          len;
    json_t                         *doc, *list, *item;
    ngx_uint_t                      i, k, ncases;
    ngx_array_t                    *a;
    ngx_microshop_selftest_note_t  *n;

    static char  *names[] = { "failed", "skipped" };

    for (ncases = 0; st->cases[ncases].name; ncases++) { /* void */ }

    doc = json_pack("{s:s%,s:I,s:I,s:I}",
                    "backend", (char *) st->store->backend->name.data,
                    st->store->backend->name.len,
                    "passed", (json_int_t) st->passed,
                    "cases", (json_int_t) ncases,
                    "later", (json_int_t) st->later);
    if (doc == NULL) {
        return NGX_ERROR;
    }

    for (k = 0; k < 2; k++) {
        a = k ? &st->skipped : &st->failed;

        list = json_array();
        if (list == NULL || json_object_set_new(doc, names[k], list) != 0) {
            goto failed;
        }

        n = a->elts;

        for (i = 0; i < a->nelts; i++) {
            item = json_pack("{s:s,s:s%}", "case", n[i].name,
                             "why", (char *) n[i].why.data, n[i].why.len);

            if (item == NULL || json_array_append_new(list, item) != 0) {
                goto failed;
            }
        }
    }

    len = json_dumpb(doc, NULL, 0, JSON_COMPACT);
    if (len == 0) {
        goto failed;
    }

    body->data = ngx_pnalloc(st->r->pool, len);
    if (body->data == NULL) {
        goto failed;
    }

    body->len = json_dumpb(doc, (char *) body->data, len, JSON_COMPACT);

    json_decref(doc);

    return body->len == len ? NGX_OK : NGX_ERROR;

failed:

    json_decref(doc);

    return NGX_ERROR;
}


/* cancels what is pending and puts the knobs back: the run is over */

static void
ngx_microshop_selftest_abort(ngx_microshop_selftest_t *st)
{
    ngx_uint_t                     i;
    ngx_microshop_selftest_op_t  **t;

    t = st->ops.elts;

    for (i = 0; i < st->ops.nelts; i++) {
        if (t[i]->pending) {
            ngx_microshop_store_cancel(st->store, &t[i]->op);
            t[i]->pending = 0;
            st->inflight--;
        }
    }

    if (st->knobs_set) {
        (void) ngx_microshop_store_deferred_knobs(st->store, 0, 0);
        st->knobs_set = 0;
    }
}


/* the request is freed: its client went away, or it was answered */

static void
ngx_microshop_selftest_cleanup(void *data)
{
    ngx_microshop_selftest_t  *st = data;

    if (st->inflight) {
        ngx_log_error(NGX_LOG_INFO, st->r->connection->log, 0,
                      "microshop selftest: %ui store operations cancelled, "
                      "the request is gone", st->inflight);
    }

    ngx_microshop_selftest_abort(st);
}


static void
ngx_microshop_selftest_done(ngx_microshop_op_t *op)
{
    ngx_connection_t             *c;
    ngx_microshop_selftest_t     *st;
    ngx_microshop_selftest_op_t  *t;

    t = op->data;
    st = t->st;
    c = st->r->connection;

    t->calls++;
    st->answers++;

    if (t->calls > 1 || !t->pending) {
        ngx_microshop_selftest_expect(st, 0, "a handler ran %s (op %ui)",
                                      t->calls > 1
                                      ? "twice"
                                      : "after cancel() or an answer at once",
                                      (ngx_uint_t) op->type);
        return;
    }

    ngx_microshop_selftest_expect(st, op->pending == NULL,
                                  "op->pending still set when the handler "
                                  "of op %ui ran", (ngx_uint_t) op->type);

    t->pending = 0;
    t->order = ++st->finished;
    st->inflight--;

    if (st->in_exec) {
        /* a broken back end: ngx_microshop_selftest_exec() says so */
        return;
    }

    ngx_microshop_selftest_run(st);

    /* st may be gone */

    ngx_http_run_posted_requests(c);
}


/*
 * unless ok, the case in progress fails with the message (the first one
 * only); what its step would submit after this is not submitted
 */

static void
ngx_microshop_selftest_expect(ngx_microshop_selftest_t *st, ngx_uint_t ok,
    const char *fmt, ...)
{
    char     *name;
    u_char   *p, buf[256];
    va_list   args;

    if (ok || st->case_failed) {
        return;
    }

    st->case_failed = 1;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    name = st->cases[st->ncase].name;

    if (ngx_microshop_selftest_note(st, &st->failed,
                                    name ? name : "contract", buf, p - buf)
        != NGX_OK)
    {
        st->error = 1;
    }
}


static ngx_int_t
ngx_microshop_selftest_note(ngx_microshop_selftest_t *st, ngx_array_t *a,
    char *name, u_char *why, size_t len)
{
    ngx_microshop_selftest_note_t  *n;

    n = ngx_array_push(a);
    if (n == NULL) {
        return NGX_ERROR;
    }

    n->name = name;
    n->why.len = len;
    n->why.data = ngx_pnalloc(st->r->pool, len);
    if (n->why.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(n->why.data, why, len);

    return NGX_OK;
}


/* the checks the cases share */

static void
ngx_microshop_selftest_rc_is(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_int_t rc, char *what)
{
    ngx_int_t  got;

    got = st->t[i]->op.rc;

    ngx_microshop_selftest_expect(st, got == rc, "%s: rc %i, expected %s",
                                  what, got,
                                  rc == NGX_OK ? "NGX_OK"
                                  : rc == NGX_DECLINED ? "NGX_DECLINED"
                                  : "NGX_ERROR");
}


static void
ngx_microshop_selftest_idem_is(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t result, char *what)
{
    ngx_microshop_op_t  *op;

    static char  *names[] = {
        "new", "in progress", "mismatch", "done", "unavailable"
    };

    op = &st->t[i]->op;

    ngx_microshop_selftest_expect(st,
        op->rc == NGX_OK && op->u.idem.result == result,
        "%s: rc %i, result %ui, expected %s", what, op->rc,
        op->u.idem.result, names[result]);
}


/* a RESERVE that held */

static void
ngx_microshop_selftest_held_is(ngx_microshop_selftest_t *st, ngx_uint_t i,
    char *what)
{
    ngx_microshop_op_t  *op;

    op = &st->t[i]->op;

    ngx_microshop_selftest_expect(st,
        op->rc == NGX_OK && op->u.reserve.held == 1,
        "%s: rc %i, held %ui", what, op->rc, op->u.reserve.held);
}


static void
ngx_microshop_selftest_stock_is(ngx_microshop_selftest_t *st, ngx_uint_t i,
    int64_t available, int64_t held)
{
    ngx_microshop_op_t  *op;

    op = &st->t[i]->op;

    ngx_microshop_selftest_expect(st,
        op->rc == NGX_OK && op->u.stock.available == available
        && op->u.stock.held == held,
        "stock op %ui: rc %i, available %L held %L, expected available %L "
        "held %L", i, op->rc, op->u.stock.available, op->u.stock.held,
        available, held);
}


/*
 * "seller\nsku" keys of the ops on a sku (inventory, events and stock),
 * "selftest:seller:name" of the others
 */

static u_char *
ngx_microshop_selftest_key(ngx_microshop_selftest_t *st, u_char *p,
    ngx_uint_t type, char *name)
{
    switch (type) {

    case NGX_MICROSHOP_OP_INV_GET:
    case NGX_MICROSHOP_OP_INV_PUT:
    case NGX_MICROSHOP_OP_INV_DROP:
    case NGX_MICROSHOP_OP_INV_FAILED:
    case NGX_MICROSHOP_OP_EVENT:
    case NGX_MICROSHOP_OP_STOCK_SET:
    case NGX_MICROSHOP_OP_STOCK_GET:
    case NGX_MICROSHOP_OP_REVOKE_BEFORE:    /* name: the class */
        return ngx_sprintf(p, "%V\n%s", &st->seller, name);

    case NGX_MICROSHOP_OP_FEED_APPEND:      /* the key is a seller */
    case NGX_MICROSHOP_OP_FEED_READ:
        return ngx_sprintf(p, "%V-%s", &st->seller, name);

    default:
        return ngx_sprintf(p, "selftest:%V:%s", &st->seller, name);
    }
}


/* the op of slot i, not submitted; NULL: out of memory or the case failed */

static ngx_microshop_selftest_op_t *
ngx_microshop_selftest_op(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t type, char *name)
{
    u_char                       *p;
    ngx_microshop_selftest_op_t  *t;

    if (st->case_failed || st->error) {
        return NULL;
    }

    t = ngx_pcalloc(st->r->pool, sizeof(ngx_microshop_selftest_op_t));
    p = ngx_pnalloc(st->r->pool, NGX_MICROSHOP_SELFTEST_KEY);

    if (t == NULL || p == NULL) {
        st->error = 1;
        return NULL;
    }

    t->op.type = type;
    t->op.key.data = p;
    t->op.key.len = ngx_microshop_selftest_key(st, p, type, name) - p;
    t->op.pool = st->r->pool;
    t->op.handler = ngx_microshop_selftest_done;
    t->op.data = t;
    t->st = st;

    st->t[i] = t;

    return t;
}


/* a broken contract fails the case */

static void
ngx_microshop_selftest_exec(ngx_microshop_selftest_t *st,
    ngx_microshop_selftest_op_t *t)
{
    ngx_int_t                      rc;
    ngx_microshop_selftest_op_t  **p;

    if (t == NULL || st->case_failed || st->error) {
        return;
    }

    p = ngx_array_push(&st->ops);
    if (p == NULL) {
        st->error = 1;
        return;
    }

    *p = t;

    t->pending = 1;
    st->inflight++;

    st->in_exec = 1;
    rc = ngx_microshop_store_exec(st->store, &t->op);
    st->in_exec = 0;

    if (t->calls) {
        ngx_microshop_selftest_expect(st, 0, "the handler of op %ui ran "
                                      "inside exec()",
                                      (ngx_uint_t) t->op.type);
        return;
    }

    if (rc == NGX_AGAIN) {
        t->later = 1;
        st->later++;
        return;
    }

    t->pending = 0;
    t->order = ++st->finished;
    st->inflight--;

    ngx_microshop_selftest_expect(st, rc == NGX_OK && t->op.pending == NULL,
                                  "exec() of op %ui returned %i, "
                                  "op->pending %p", (ngx_uint_t) t->op.type,
                                  rc, t->op.pending);
}


/*
 * exec() of the op of slot i with what its type reads set from arg: the
 * burst of GCRA, the fingerprint of IDEM_BEGIN and IDEM_RELEASE, what
 * STOCK_SET stores (and a junk "held" STOCK_GET and STOCK_SET must set)
 */

static void
ngx_microshop_selftest_submit(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t type, char *name, int64_t arg)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, type, name);
    if (t == NULL) {
        return;
    }

    switch (type) {

    case NGX_MICROSHOP_OP_GCRA:
        /* one a minute: the second request is denied even under valgrind */
        t->op.u.gcra.interval = NGX_MICROSHOP_SELFTEST_MINUTE;
        t->op.u.gcra.burst = arg;
        t->op.u.gcra.cost = 1;
        break;

    case NGX_MICROSHOP_OP_REVOKE:
        t->op.u.revoke.exp = ngx_time() + 600;
        break;

    case NGX_MICROSHOP_OP_IDEM_BEGIN:
        t->op.u.idem.lock = NGX_MICROSHOP_SELFTEST_KEEP;
        t->op.u.idem.ttl = NGX_MICROSHOP_SELFTEST_KEEP;
        /* fall through */

    case NGX_MICROSHOP_OP_IDEM_RELEASE:
        ngx_memset(t->op.u.idem.fingerprint, (u_char) arg,
                   NGX_MICROSHOP_FINGERPRINT_LEN);
        break;

    case NGX_MICROSHOP_OP_STOCK_SET:
    case NGX_MICROSHOP_OP_STOCK_GET:
        t->op.u.stock.available = arg;
        t->op.u.stock.held = -7;
        break;

    default:
        /* the key alone */
        break;
    }

    ngx_microshop_selftest_exec(st, t);
}


/*
 * post() of an op on this stack frame, keyed from a buffer of this frame:
 * both are overwritten as soon as post() returns, as a caller may free
 * them.  The caller overwrites the buffers its strings point to.
 */

static void
ngx_microshop_selftest_post(ngx_microshop_selftest_t *st,
    ngx_microshop_op_t *op, char *name)
{
    u_char  key[NGX_MICROSHOP_SELFTEST_KEY];

    if (st->case_failed || st->error) {
        return;
    }

    op->key.data = key;
    op->key.len = ngx_microshop_selftest_key(st, key, op->type, name) - key;
    op->pool = st->r->pool;

    ngx_microshop_store_post(st->store, op);

    ngx_memset(key, 'X', sizeof(key));
    ngx_memset(op, NGX_MICROSHOP_SELFTEST_JUNK, sizeof(ngx_microshop_op_t));
}


/* the op is not awaited any more; it is junk from now on */

static void
ngx_microshop_selftest_cancel(ngx_microshop_selftest_t *st,
    ngx_microshop_selftest_op_t *t)
{
    if (t == NULL || st->case_failed) {
        return;
    }

    if (!t->pending || !t->later) {
        ngx_microshop_selftest_expect(st, 0, "op %ui was answered before it "
                                      "could be cancelled",
                                      (ngx_uint_t) t->op.type);
        return;
    }

    ngx_microshop_store_cancel(st->store, &t->op);

    if (t->op.pending) {
        ngx_microshop_selftest_expect(st, 0,
                                      "cancel() left op->pending set");
        return;
    }

    t->pending = 0;
    st->inflight--;
    st->cancelled++;

    ngx_memset(&t->op, NGX_MICROSHOP_SELFTEST_JUNK,
               sizeof(ngx_microshop_op_t));
}


/* the back end did not write into a cancelled op */

static ngx_uint_t
ngx_microshop_selftest_junk(ngx_microshop_selftest_op_t *t)
{
    u_char      *p;
    ngx_uint_t   i;

    p = (u_char *) &t->op;

    for (i = 0; i < sizeof(ngx_microshop_op_t); i++) {
        if (p[i] != NGX_MICROSHOP_SELFTEST_JUNK) {
            return 0;
        }
    }

    return 1;
}


static ngx_uint_t
ngx_microshop_selftest_same(ngx_str_t *s, char *text)
{
    size_t  len;

    len = ngx_strlen(text);

    return s->len == len && ngx_memcmp(s->data, text, len) == 0;
}


static ngx_atomic_uint_t
ngx_microshop_selftest_counter(ngx_microshop_selftest_t *st,
    ngx_uint_t counter)
{
    return st->store->local->sh->counters[counter];
}


/* IDEM_COMPLETE or IDEM_RELEASE of the key "idem", posted */

static void
ngx_microshop_selftest_idem_post(ngx_microshop_selftest_t *st,
    ngx_uint_t type, u_char fp, ngx_uint_t unavailable)
{
    u_char              answer[sizeof(NGX_MICROSHOP_SELFTEST_ANSWER)];
    ngx_microshop_op_t  op;

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));

    op.type = type;
    ngx_memset(op.u.idem.fingerprint, fp, NGX_MICROSHOP_FINGERPRINT_LEN);
    op.u.idem.lock = NGX_MICROSHOP_SELFTEST_KEEP;
    op.u.idem.ttl = NGX_MICROSHOP_SELFTEST_KEEP;
    op.u.idem.unavailable = unavailable;

    if (type == NGX_MICROSHOP_OP_IDEM_COMPLETE && !unavailable) {
        ngx_memcpy(answer, NGX_MICROSHOP_SELFTEST_ANSWER, sizeof(answer));
        op.u.idem.response.data = answer;
        op.u.idem.response.len = sizeof(NGX_MICROSHOP_SELFTEST_ANSWER) - 1;
    }

    ngx_microshop_selftest_post(st, &op, "idem");

    ngx_memset(answer, 'X', sizeof(answer));
}


static void
ngx_microshop_selftest_stock_post(ngx_microshop_selftest_t *st, char *sku,
    int64_t available)
{
    ngx_microshop_op_t  op;

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));

    op.type = NGX_MICROSHOP_OP_STOCK_SET;
    op.u.stock.available = available;

    ngx_microshop_selftest_post(st, &op, sku);
}


static void
ngx_microshop_selftest_event(ngx_microshop_selftest_t *st, ngx_uint_t i,
    char *id, int64_t version)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, NGX_MICROSHOP_OP_EVENT, "ev");
    if (t == NULL) {
        return;
    }

    t->op.u.event.id.data = (u_char *) id;
    t->op.u.event.id.len = ngx_strlen(id);
    t->op.u.event.version = version;
    t->op.u.event.has_available = 1;
    t->op.u.event.available = 7;
    t->op.u.event.has_item = 1;
    ngx_str_set(&t->op.u.event.item, NGX_MICROSHOP_SELFTEST_ITEM);
    ngx_str_set(&t->op.u.event.etag, NGX_MICROSHOP_SELFTEST_IETAG);
    t->op.u.event.result = 99;

    ngx_microshop_selftest_exec(st, t);
}


/* RESERVE or SETTLE of one or two lines (sku2 NULL: one); not submitted */

static ngx_microshop_selftest_op_t *
ngx_microshop_selftest_reserve(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t type, char *id, char *sku1, int64_t q1, char *sku2,
    int64_t q2)
{
    ngx_microshop_line_t         *lines;
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, type, id);
    if (t == NULL) {
        return NULL;
    }

    lines = ngx_pcalloc(st->r->pool, 2 * sizeof(ngx_microshop_line_t));
    if (lines == NULL) {
        st->error = 1;
        return NULL;
    }

    /* the back end must set every flag, whatever it held */
    lines[0].sku.data = (u_char *) sku1;
    lines[0].sku.len = ngx_strlen(sku1);
    lines[0].quantity = q1;
    lines[0].short_of_stock = 5;

    if (sku2) {
        lines[1].sku.data = (u_char *) sku2;
        lines[1].sku.len = ngx_strlen(sku2);
        lines[1].quantity = q2;
        lines[1].short_of_stock = 5;
    }

    t->op.u.reserve.seller = st->seller;
    t->op.u.reserve.id = t->op.key;
    t->op.u.reserve.lines = lines;
    t->op.u.reserve.nlines = sku2 ? 2 : 1;
    t->op.u.reserve.hold = NGX_MICROSHOP_SELFTEST_KEEP;
    t->op.u.reserve.held = 5;

    return t;
}


/* the cases, in the order of the table below */

static ngx_int_t
ngx_microshop_selftest_gcra_allow_deny(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    ngx_microshop_op_t  *op;

    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_GCRA, "gcra", 1);
        return NGX_OK;

    case 1:
        op = &st->t[0]->op;

        ngx_microshop_selftest_expect(st,
            op->rc == NGX_OK && op->u.gcra.result.allowed
            && op->u.gcra.result.remaining == 0,
            "first request: rc %i, allowed %d, remaining %L; expected "
            "allowed, 0 remaining", op->rc, op->u.gcra.result.allowed,
            op->u.gcra.result.remaining);

        ngx_microshop_selftest_submit(st, 1, NGX_MICROSHOP_OP_GCRA, "gcra", 1);
        return NGX_OK;

    case 2:
        op = &st->t[1]->op;

        ngx_microshop_selftest_expect(st,
            op->rc == NGX_DECLINED && !op->u.gcra.result.allowed
            && op->u.gcra.result.retry_after > 0,
            "second request: rc %i, allowed %d, retry after %L us; "
            "expected denied", op->rc, op->u.gcra.result.allowed,
            op->u.gcra.result.retry_after);
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_revoke(ngx_microshop_selftest_t *st, ngx_uint_t step)
{
    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_IS_REVOKED,
                                      "jti", 0);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_rc_is(st, 0, NGX_DECLINED,
                                     "IS_REVOKED of a new jti");
        ngx_microshop_selftest_submit(st, 1, NGX_MICROSHOP_OP_REVOKE, "jti",
                                      0);
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_rc_is(st, 1, NGX_OK, "REVOKE");
        ngx_microshop_selftest_submit(st, 2, NGX_MICROSHOP_OP_IS_REVOKED,
                                      "jti", 0);
        return NGX_OK;

    case 3:
        ngx_microshop_selftest_rc_is(st, 2, NGX_OK,
                                     "IS_REVOKED of a revoked jti");
        return NGX_OK;
    }

    return NGX_DONE;
}


/*
 * IS_REVOKED of slot i: the jti name (NULL: none), the parent_jti name
 * (NULL: none), both keyed as REVOKE keys them; the case's seller with
 * seller NULL, none with "", another one otherwise; the class and iat
 */

static void
ngx_microshop_selftest_is_revoked(ngx_microshop_selftest_t *st, ngx_uint_t i,
    char *jti, char *parent, char *seller, char *cls, int64_t iat)
{
    u_char                       *p;
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, NGX_MICROSHOP_OP_IS_REVOKED,
                                  jti ? jti : "");
    if (t == NULL) {
        return;
    }

    if (jti == NULL) {
        t->op.key.len = 0;
    }

    if (parent) {
        p = ngx_pnalloc(st->r->pool, NGX_MICROSHOP_SELFTEST_KEY);
        if (p == NULL) {
            st->error = 1;
            return;
        }

        t->op.u.revoked.parent.data = p;
        t->op.u.revoked.parent.len = ngx_microshop_selftest_key(st, p,
                                           NGX_MICROSHOP_OP_REVOKE, parent)
                                     - p;
    }

    if (seller == NULL) {
        t->op.u.revoked.seller = st->seller;

    } else if (seller[0]) {
        p = ngx_pnalloc(st->r->pool, st->seller.len + ngx_strlen(seller));
        if (p == NULL) {
            st->error = 1;
            return;
        }

        t->op.u.revoked.seller.data = p;
        t->op.u.revoked.seller.len = ngx_sprintf(p, "%V%s", &st->seller,
                                                 seller)
                                     - p;
    }

    t->op.u.revoked.class.data = (u_char *) cls;
    t->op.u.revoked.class.len = ngx_strlen(cls);
    t->op.u.revoked.iat = iat;

    ngx_microshop_selftest_exec(st, t);
}


/* REVOKE_BEFORE of slot i: the case's seller, class cls ("": every one) */

static void
ngx_microshop_selftest_before(ngx_microshop_selftest_t *st, ngx_uint_t i,
    char *cls, int64_t before, int64_t until)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, NGX_MICROSHOP_OP_REVOKE_BEFORE, cls);
    if (t == NULL) {
        return;
    }

    t->op.u.watermark.before = before;
    t->op.u.watermark.until = until;

    ngx_microshop_selftest_exec(st, t);
}


static void
ngx_microshop_selftest_revoked_list(ngx_microshop_selftest_t *st,
    ngx_uint_t i, ngx_uint_t limit)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, NGX_MICROSHOP_OP_REVOKED_LIST, "");
    if (t == NULL) {
        return;
    }

    t->op.key.len = 0;
    t->op.u.revoked_list.limit = limit;
    t->op.u.revoked_list.njtis = 77;
    t->op.u.revoked_list.nwatermarks = 77;
    t->op.u.revoked_list.truncated = 77;

    ngx_microshop_selftest_exec(st, t);
}


/* the case's watermark of class cls in the list of slot i, or NULL */

static ngx_microshop_watermark_t *
ngx_microshop_selftest_watermark(ngx_microshop_selftest_t *st, ngx_uint_t i,
    char *cls)
{
    ngx_uint_t                  k;
    ngx_microshop_op_t         *op;
    ngx_microshop_watermark_t  *w;

    op = &st->t[i]->op;

    for (k = 0; op->rc == NGX_OK && k < op->u.revoked_list.nwatermarks; k++) {
        w = &op->u.revoked_list.watermarks[k];

        if (w->seller.len == st->seller.len
            && ngx_memcmp(w->seller.data, st->seller.data, st->seller.len)
               == 0
            && ngx_microshop_selftest_same(&w->class, cls))
        {
            return w;
        }
    }

    return NULL;
}


/*
 * revoke_parent: a revoked jti refuses the tokens whose parent_jti it is,
 * whatever their own jti (unknown, or none)
 */

static ngx_int_t
ngx_microshop_selftest_revoke_parent(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_REVOKE, "par",
                                      0);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_rc_is(st, 0, NGX_OK, "REVOKE of the parent");

        ngx_microshop_selftest_is_revoked(st, 1, "child", "par", "", "",
                                          NGX_MICROSHOP_STORE_NO_IAT);
        ngx_microshop_selftest_is_revoked(st, 2, NULL, "par", "", "", 0);
        ngx_microshop_selftest_is_revoked(st, 3, "child", "other", "", "",
                                          0);
        ngx_microshop_selftest_is_revoked(st, 4, "par", "other", "", "", 0);
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_rc_is(st, 1, NGX_OK,
                                     "IS_REVOKED of an unknown jti whose "
                                     "parent is revoked");
        ngx_microshop_selftest_rc_is(st, 2, NGX_OK,
                                     "IS_REVOKED of no jti whose parent "
                                     "is revoked");
        ngx_microshop_selftest_rc_is(st, 3, NGX_DECLINED,
                                     "IS_REVOKED of another parent's child");
        ngx_microshop_selftest_rc_is(st, 4, NGX_OK,
                                     "IS_REVOKED of the parent itself");
        return NGX_OK;
    }

    return NGX_DONE;
}


/*
 * revoke_before: watermarks by seller and class against the iat; one of
 * every class; a token without iat; forward only; REVOKED_LIST
 */

static ngx_int_t
ngx_microshop_selftest_revoke_before(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    int64_t                     now;
    ngx_microshop_op_t          op;
    ngx_microshop_op_t         *l;
    ngx_microshop_watermark_t  *w, *all;

    now = ngx_time();

    switch (step) {

    case 0:
        ngx_microshop_selftest_before(st, 0, "staff", now, now + 600);

        /* posted from memory overwritten at once: every class */
        ngx_memzero(&op, sizeof(ngx_microshop_op_t));
        op.type = NGX_MICROSHOP_OP_REVOKE_BEFORE;
        op.u.watermark.before = now - 1000;
        op.u.watermark.until = 0;
        ngx_microshop_selftest_post(st, &op, "");
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_rc_is(st, 0, NGX_OK, "REVOKE_BEFORE");

        ngx_microshop_selftest_is_revoked(st, 1, "w1", NULL, NULL, "staff",
                                          now - 1);
        ngx_microshop_selftest_is_revoked(st, 2, "w2", NULL, NULL, "staff",
                                          now + 1);
        ngx_microshop_selftest_is_revoked(st, 3, "w3", NULL, NULL,
                                          "integration", now - 1);
        ngx_microshop_selftest_is_revoked(st, 4, NULL, NULL, NULL,
                                          "integration", now - 1001);
        ngx_microshop_selftest_is_revoked(st, 5, NULL, NULL, NULL, "staff",
                                          NGX_MICROSHOP_STORE_NO_IAT);
        ngx_microshop_selftest_is_revoked(st, 6, "w6", NULL, "x", "staff",
                                          now - 1);
        ngx_microshop_selftest_is_revoked(st, 7, NULL, NULL, NULL, "",
                                          now - 1001);
        ngx_microshop_selftest_is_revoked(st, 8, NULL, NULL, NULL, "",
                                          now - 5);
        ngx_microshop_selftest_is_revoked(st, 9, "w9", NULL, "", "staff",
                                          NGX_MICROSHOP_STORE_NO_IAT);

        /* back: ignored */
        ngx_microshop_selftest_before(st, 10, "staff", now - 100, now + 60);
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_rc_is(st, 1, NGX_OK,
                                     "a token of the class issued before");
        ngx_microshop_selftest_rc_is(st, 2, NGX_DECLINED,
                                     "a token of the class issued after");
        ngx_microshop_selftest_rc_is(st, 3, NGX_DECLINED,
                                     "another class, after every class's");
        ngx_microshop_selftest_rc_is(st, 4, NGX_OK,
                                     "another class, before every class's");
        ngx_microshop_selftest_rc_is(st, 5, NGX_OK, "a token without iat");
        ngx_microshop_selftest_rc_is(st, 6, NGX_DECLINED, "another seller");
        ngx_microshop_selftest_rc_is(st, 7, NGX_OK,
                                     "no class, before every class's");
        ngx_microshop_selftest_rc_is(st, 8, NGX_DECLINED,
                                     "no class, after every class's");
        ngx_microshop_selftest_rc_is(st, 9, NGX_DECLINED,
                                     "no seller, no iat");
        ngx_microshop_selftest_rc_is(st, 10, NGX_OK,
                                     "REVOKE_BEFORE of an earlier time");

        ngx_microshop_selftest_is_revoked(st, 11, NULL, NULL, NULL, "staff",
                                          now - 1);

        /* forward */
        ngx_microshop_selftest_before(st, 12, "staff", now + 10, now + 900);
        return NGX_OK;

    case 3:
        ngx_microshop_selftest_rc_is(st, 11, NGX_OK,
                                     "a watermark moved back (ignored)");
        ngx_microshop_selftest_rc_is(st, 12, NGX_OK,
                                     "REVOKE_BEFORE of a later time");

        ngx_microshop_selftest_is_revoked(st, 13, NULL, NULL, NULL, "staff",
                                          now + 5);
        ngx_microshop_selftest_revoked_list(st, 14, 1000);
        ngx_microshop_selftest_revoked_list(st, 15, 1);
        return NGX_OK;

    case 4:
        ngx_microshop_selftest_rc_is(st, 13, NGX_OK,
                                     "a watermark moved forward");
        ngx_microshop_selftest_rc_is(st, 14, NGX_OK, "REVOKED_LIST");
        ngx_microshop_selftest_rc_is(st, 15, NGX_OK, "REVOKED_LIST of 1");

        w = ngx_microshop_selftest_watermark(st, 14, "staff");
        all = ngx_microshop_selftest_watermark(st, 14, "");
        l = &st->t[14]->op;

        ngx_microshop_selftest_expect(st,
            (w && w->before == now + 10 && w->until == now + 900
             && all && all->before == now - 1000 && all->until == 0)
            || (l->u.revoked_list.truncated == 1 && w == NULL),
            "REVOKED_LIST: the watermark of the class %s (before %L, "
            "until %L), of every class %s (before %L, until %L), "
            "truncated %ui", w ? "listed" : "missing", w ? w->before : 0,
            w ? w->until : 0, all ? "listed" : "missing",
            all ? all->before : 0, all ? all->until : 0,
            l->u.revoked_list.truncated);

        l = &st->t[15]->op;

        ngx_microshop_selftest_expect(st,
            l->u.revoked_list.nwatermarks == 1
            && l->u.revoked_list.njtis <= 1
            && l->u.revoked_list.truncated == 1,
            "REVOKED_LIST of 1: %ui jtis, %ui watermarks, truncated %ui",
            l->u.revoked_list.njtis, l->u.revoked_list.nwatermarks,
            l->u.revoked_list.truncated);
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_idem_in_progress(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_IDEM_BEGIN,
                                      "idem", 'a');
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_idem_is(st, 0, NGX_MICROSHOP_IDEM_NEW,
                                       "first IDEM_BEGIN");

        /* in flight together */
        ngx_microshop_selftest_submit(st, 1, NGX_MICROSHOP_OP_IDEM_BEGIN,
                                      "idem", 'a');
        ngx_microshop_selftest_submit(st, 2, NGX_MICROSHOP_OP_IDEM_BEGIN,
                                      "idem", 'b');
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_idem_is(st, 1, NGX_MICROSHOP_IDEM_IN_PROGRESS,
                                       "same request");
        ngx_microshop_selftest_idem_is(st, 2, NGX_MICROSHOP_IDEM_MISMATCH,
                                       "other request");
        return NGX_OK;
    }

    return NGX_DONE;
}


/* the first IDEM_BEGIN of a key is new */

static void
ngx_microshop_selftest_begun(ngx_microshop_selftest_t *st)
{
    ngx_microshop_selftest_expect(st,
        st->t[0]->op.u.idem.result == NGX_MICROSHOP_IDEM_NEW,
        "IDEM_BEGIN: result %ui, expected new", st->t[0]->op.u.idem.result);
}


static ngx_int_t
ngx_microshop_selftest_idem_done(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    ngx_microshop_op_t  *op;

    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_IDEM_BEGIN,
                                      "idem", 'a');
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_idem_is(st, 0, NGX_MICROSHOP_IDEM_NEW,
                                       "IDEM_BEGIN");

        ngx_microshop_selftest_idem_post(st, NGX_MICROSHOP_OP_IDEM_COMPLETE,
                                         'a', 0);
        ngx_microshop_selftest_submit(st, 1, NGX_MICROSHOP_OP_IDEM_BEGIN,
                                      "idem", 'a');
        return NGX_OK;

    case 2:
        op = &st->t[1]->op;

        ngx_microshop_selftest_expect(st,
            op->rc == NGX_OK && op->u.idem.result == NGX_MICROSHOP_IDEM_DONE
            && ngx_microshop_selftest_same(&op->u.idem.response,
                                           NGX_MICROSHOP_SELFTEST_ANSWER),
            "IDEM_BEGIN after the posted IDEM_COMPLETE: rc %i, result %ui, "
            "%uz bytes of answer; expected done with the %uz bytes stored",
            op->rc, op->u.idem.result, op->u.idem.response.len,
            sizeof(NGX_MICROSHOP_SELFTEST_ANSWER) - 1);
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_idem_unavailable(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_IDEM_BEGIN,
                                      "idem", 'a');
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_begun(st);

        ngx_microshop_selftest_idem_post(st, NGX_MICROSHOP_OP_IDEM_COMPLETE,
                                         'a', 1);
        ngx_microshop_selftest_submit(st, 1, NGX_MICROSHOP_OP_IDEM_BEGIN,
                                      "idem", 'a');
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_idem_is(st, 1, NGX_MICROSHOP_IDEM_UNAVAILABLE,
                                       "IDEM_BEGIN after an unavailable "
                                       "answer");
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_idem_release(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_IDEM_BEGIN,
                                      "idem", 'a');
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_begun(st);

        /* another request may not release the key */
        ngx_microshop_selftest_submit(st, 1, NGX_MICROSHOP_OP_IDEM_RELEASE,
                                      "idem", 'b');
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_rc_is(st, 1, NGX_DECLINED,
                                     "IDEM_RELEASE by another fingerprint");

        ngx_microshop_selftest_idem_post(st, NGX_MICROSHOP_OP_IDEM_RELEASE,
                                         'a', 0);
        ngx_microshop_selftest_submit(st, 2, NGX_MICROSHOP_OP_IDEM_BEGIN,
                                      "idem", 'a');
        return NGX_OK;

    case 3:
        ngx_microshop_selftest_idem_is(st, 2, NGX_MICROSHOP_IDEM_NEW,
                                       "IDEM_BEGIN after the posted "
                                       "IDEM_RELEASE");
        ngx_microshop_selftest_submit(st, 3, NGX_MICROSHOP_OP_IDEM_RELEASE,
                                      "idem", 'a');
        return NGX_OK;

    case 4:
        ngx_microshop_selftest_rc_is(st, 3, NGX_OK,
                                     "IDEM_RELEASE of our own key");
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_inventory(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    u_char               body[sizeof(NGX_MICROSHOP_SELFTEST_BODY)];
    u_char               etag[sizeof(NGX_MICROSHOP_SELFTEST_ETAG)];
    ngx_atomic_uint_t    stored;
    ngx_microshop_op_t   op, *get;

    switch (step) {

    case 0:
        st->before = ngx_microshop_selftest_counter(st,
                                        NGX_MICROSHOP_COUNTER_CACHE_STORE);

        ngx_memcpy(body, NGX_MICROSHOP_SELFTEST_BODY, sizeof(body));
        ngx_memcpy(etag, NGX_MICROSHOP_SELFTEST_ETAG, sizeof(etag));

        ngx_memzero(&op, sizeof(ngx_microshop_op_t));

        op.type = NGX_MICROSHOP_OP_INV_PUT;
        op.counter = NGX_MICROSHOP_COUNTER_CACHE_STORE;
        op.u.inv.body.data = body;
        op.u.inv.body.len = sizeof(body) - 1;
        op.u.inv.etag.data = etag;
        op.u.inv.etag.len = sizeof(etag) - 1;
        op.u.inv.keep = NGX_MICROSHOP_SELFTEST_KEEP;

        ngx_microshop_selftest_post(st, &op, "inv");

        ngx_memset(body, 'X', sizeof(body));
        ngx_memset(etag, 'X', sizeof(etag));

        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_INV_GET, "inv",
                                      0);
        return NGX_OK;

    case 1:
        get = &st->t[0]->op;

        ngx_microshop_selftest_expect(st,
            get->rc == NGX_OK
            && ngx_microshop_selftest_same(&get->u.inv.body,
                                           NGX_MICROSHOP_SELFTEST_BODY)
            && ngx_microshop_selftest_same(&get->u.inv.etag,
                                           NGX_MICROSHOP_SELFTEST_ETAG)
            && get->u.inv.stored_at > 0 && get->u.inv.version == 0,
            "INV_GET after the posted INV_PUT: rc %i, body \"%V\", etag "
            "\"%V\", stored at %L, version %L", get->rc, &get->u.inv.body,
            &get->u.inv.etag, get->u.inv.stored_at, get->u.inv.version);

        stored = ngx_microshop_selftest_counter(st,
                                        NGX_MICROSHOP_COUNTER_CACHE_STORE);

        ngx_microshop_selftest_expect(st, stored >= st->before + 1,
            "the counter of the posted op was not counted (%uA, was %uA)",
            stored, st->before);

        ngx_microshop_selftest_submit(st, 1, NGX_MICROSHOP_OP_INV_DROP,
                                      "inv", 0);
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_rc_is(st, 1, NGX_OK, "INV_DROP");

        ngx_microshop_selftest_submit(st, 2, NGX_MICROSHOP_OP_INV_GET, "inv",
                                      0);
        ngx_microshop_selftest_submit(st, 3, NGX_MICROSHOP_OP_INV_DROP,
                                      "inv", 0);
        return NGX_OK;

    case 3:
        ngx_microshop_selftest_rc_is(st, 2, NGX_DECLINED,
                                     "INV_GET of a dropped item");
        ngx_microshop_selftest_rc_is(st, 3, NGX_DECLINED,
                                     "INV_DROP of a dropped item");
        return NGX_OK;
    }

    return NGX_DONE;
}


/* INV_GET with a refresh window: an INV_GET that asks for the lock */

static void
ngx_microshop_selftest_inv_lock(ngx_microshop_selftest_t *st, ngx_uint_t i,
    int64_t revalidate)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, NGX_MICROSHOP_OP_INV_GET, "rl");
    if (t == NULL) {
        return;
    }

    /* stale at once, for a minute */
    t->op.u.inv.fresh = 0;
    t->op.u.inv.revalidate = revalidate;
    t->op.u.inv.lock = NGX_MICROSHOP_SELFTEST_KEEP;

    ngx_microshop_selftest_exec(st, t);
}


static void
ngx_microshop_selftest_inv_put(ngx_microshop_selftest_t *st, char *name)
{
    u_char              body[sizeof(NGX_MICROSHOP_SELFTEST_BODY)];
    ngx_microshop_op_t  op;

    ngx_memcpy(body, NGX_MICROSHOP_SELFTEST_BODY, sizeof(body));
    ngx_memzero(&op, sizeof(ngx_microshop_op_t));

    op.type = NGX_MICROSHOP_OP_INV_PUT;
    op.u.inv.body.data = body;
    op.u.inv.body.len = sizeof(body) - 1;
    op.u.inv.keep = NGX_MICROSHOP_SELFTEST_KEEP;

    ngx_microshop_selftest_post(st, &op, name);
}


static void
ngx_microshop_selftest_inv_lock_is(ngx_microshop_selftest_t *st,
    ngx_uint_t i, ngx_uint_t refresh, ngx_uint_t failed, char *what)
{
    ngx_microshop_op_t  *op;

    op = &st->t[i]->op;

    ngx_microshop_selftest_expect(st,
        op->rc == NGX_OK && op->u.inv.refresh == refresh
        && op->u.inv.failed == failed,
        "%s: rc %i, refresh %ui, failed %ui, expected refresh %ui, "
        "failed %ui", what, op->rc, op->u.inv.refresh, op->u.inv.failed,
        refresh, failed);
}


static ngx_int_t
ngx_microshop_selftest_inventory_refresh(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    ngx_microshop_op_t  op;

    switch (step) {

    case 0:
        ngx_microshop_selftest_inv_put(st, "rl");

        /* in flight together, executed in order: one takes the lock */
        ngx_microshop_selftest_inv_lock(st, 0, 0);
        ngx_microshop_selftest_inv_lock(st, 1, NGX_MICROSHOP_SELFTEST_KEEP);
        ngx_microshop_selftest_inv_lock(st, 2, NGX_MICROSHOP_SELFTEST_KEEP);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_inv_lock_is(st, 0, 0, 0,
                                           "INV_GET without a window");
        ngx_microshop_selftest_inv_lock_is(st, 1, 1, 0,
                                           "the first INV_GET with one");
        ngx_microshop_selftest_inv_lock_is(st, 2, 0, 0,
                                           "the second, lock taken");

        if (st->case_failed) {
            return NGX_OK;
        }

        /* INV_FAILED of another entry than the stored one: nothing */
        ngx_memzero(&op, sizeof(ngx_microshop_op_t));
        op.type = NGX_MICROSHOP_OP_INV_FAILED;
        op.u.inv.stored_at = st->t[1]->op.u.inv.stored_at - 1;
        op.u.inv.keep = NGX_MICROSHOP_SELFTEST_KEEP;
        ngx_microshop_selftest_post(st, &op, "rl");

        ngx_microshop_selftest_inv_lock(st, 3, NGX_MICROSHOP_SELFTEST_KEEP);
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_inv_lock_is(st, 3, 0, 0,
                                           "after INV_FAILED of another "
                                           "entry");

        if (st->case_failed) {
            return NGX_OK;
        }

        /* the refresh failed: the lock is free, none starts for keep */
        ngx_memzero(&op, sizeof(ngx_microshop_op_t));
        op.type = NGX_MICROSHOP_OP_INV_FAILED;
        op.u.inv.stored_at = st->t[1]->op.u.inv.stored_at;
        op.u.inv.keep = NGX_MICROSHOP_SELFTEST_KEEP;
        ngx_microshop_selftest_post(st, &op, "rl");

        ngx_microshop_selftest_inv_lock(st, 4, NGX_MICROSHOP_SELFTEST_KEEP);
        return NGX_OK;

    case 3:
        ngx_microshop_selftest_inv_lock_is(st, 4, 0, 1,
                                           "after INV_FAILED");

        /* a new entry: its refresh may start at once */
        ngx_microshop_selftest_inv_put(st, "rl");
        ngx_microshop_selftest_inv_lock(st, 5, NGX_MICROSHOP_SELFTEST_KEEP);
        return NGX_OK;

    case 4:
        ngx_microshop_selftest_inv_lock_is(st, 5, 1, 0,
                                           "after a new INV_PUT");
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_events(ngx_microshop_selftest_t *st, ngx_uint_t step)
{
    ngx_microshop_op_t  *op, *stale, *inv;

    switch (step) {

    case 0:
        ngx_microshop_selftest_event(st, 0, "e1", 5);
        return NGX_OK;

    case 1:
        op = &st->t[0]->op;

        ngx_microshop_selftest_expect(st,
            op->rc == NGX_OK
            && op->u.event.result == NGX_MICROSHOP_EVENT_ACCEPTED,
            "first EVENT: rc %i, result %ui, expected accepted", op->rc,
            op->u.event.result);

        /* in flight together: the same id again, an older version, and
         * what the accepted event left */

        ngx_microshop_selftest_event(st, 1, "e1", 6);
        ngx_microshop_selftest_event(st, 2, "e2", 3);
        ngx_microshop_selftest_submit(st, 3, NGX_MICROSHOP_OP_STOCK_GET, "ev",
                                      0);
        ngx_microshop_selftest_submit(st, 4, NGX_MICROSHOP_OP_INV_GET, "ev",
                                      0);
        return NGX_OK;

    case 2:
        op = &st->t[1]->op;
        stale = &st->t[2]->op;
        inv = &st->t[4]->op;

        ngx_microshop_selftest_expect(st,
            op->rc == NGX_OK
            && op->u.event.result == NGX_MICROSHOP_EVENT_DUPLICATE
            && stale->rc == NGX_OK
            && stale->u.event.result == NGX_MICROSHOP_EVENT_STALE,
            "same id: rc %i result %ui (expected duplicate), older "
            "version: rc %i result %ui (expected stale)", op->rc,
            op->u.event.result, stale->rc, stale->u.event.result);

        ngx_microshop_selftest_stock_is(st, 3, 7, 0);

        ngx_microshop_selftest_expect(st,
            inv->rc == NGX_OK
            && ngx_microshop_selftest_same(&inv->u.inv.body,
                                           NGX_MICROSHOP_SELFTEST_ITEM)
            && ngx_microshop_selftest_same(&inv->u.inv.etag,
                                           NGX_MICROSHOP_SELFTEST_IETAG)
            && inv->u.inv.version == 5,
            "the item of the accepted event: rc %i, body \"%V\", "
            "etag \"%V\", version %L", inv->rc, &inv->u.inv.body,
            &inv->u.inv.etag, inv->u.inv.version);
        return NGX_OK;
    }

    return NGX_DONE;
}


static void
ngx_microshop_selftest_event_is(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t result, char *what)
{
    ngx_microshop_op_t  *op;

    op = &st->t[i]->op;

    ngx_microshop_selftest_expect(st,
        op->rc == NGX_OK && op->u.event.result == result,
        "%s: rc %i, result %ui, expected %ui", what, op->rc,
        op->u.event.result, result);
}


/* "no version yet" is not version 0: the first version 0 applies, the
 * second is stale */

static ngx_int_t
ngx_microshop_selftest_event_zero(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    switch (step) {

    case 0:
        /* stock without an event yet, then the first event: version 0 */
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_STOCK_SET, "ev",
                                      3);
        ngx_microshop_selftest_event(st, 1, "z1", 0);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_stock_is(st, 0, 3, 0);
        ngx_microshop_selftest_event_is(st, 1, NGX_MICROSHOP_EVENT_ACCEPTED,
                                        "first EVENT, version 0");

        ngx_microshop_selftest_event(st, 2, "z2", 0);
        ngx_microshop_selftest_event(st, 3, "z3", 1);
        ngx_microshop_selftest_event(st, 4, "z4", 1);
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_event_is(st, 2, NGX_MICROSHOP_EVENT_STALE,
                                        "second EVENT, version 0");
        ngx_microshop_selftest_event_is(st, 3, NGX_MICROSHOP_EVENT_ACCEPTED,
                                        "EVENT, version 1");
        ngx_microshop_selftest_event_is(st, 4, NGX_MICROSHOP_EVENT_STALE,
                                        "second EVENT, version 1");
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_stock(ngx_microshop_selftest_t *st, ngx_uint_t step)
{
    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_STOCK_GET,
                                      "unknown", 0);
        ngx_microshop_selftest_submit(st, 1, NGX_MICROSHOP_OP_STOCK_SET, "s",
                                      9);
        ngx_microshop_selftest_submit(st, 2, NGX_MICROSHOP_OP_STOCK_GET, "s",
                                      0);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_rc_is(st, 0, NGX_DECLINED,
                                     "STOCK_GET of unknown stock");

        ngx_microshop_selftest_expect(st,
            st->t[1]->op.rc == NGX_OK && st->t[1]->op.u.stock.held == 0,
            "STOCK_SET: rc %i, held %L", st->t[1]->op.rc,
            st->t[1]->op.u.stock.held);

        ngx_microshop_selftest_stock_is(st, 2, 9, 0);
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_reserve_short(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    ngx_microshop_op_t  *op;

    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_STOCK_SET, "A",
                                      3);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_rc_is(st, 0, NGX_OK, "STOCK_SET");
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve(st, 1, NGX_MICROSHOP_OP_RESERVE,
                                           "r1", "A", 2, NULL, 0));
        return NGX_OK;

    case 2:
        op = &st->t[1]->op;

        ngx_microshop_selftest_expect(st,
            op->rc == NGX_OK && op->u.reserve.held == 1
            && op->u.reserve.lines[0].short_of_stock == 0,
            "RESERVE 2 of 3: rc %i, held %ui, short %ui; expected held",
            op->rc, op->u.reserve.held,
            op->u.reserve.lines[0].short_of_stock);

        /* 2 more of A (1 left) and 1 of B (no stock known: the backend's) */
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve(st, 2, NGX_MICROSHOP_OP_RESERVE,
                                           "r2", "A", 2, "B", 1));
        return NGX_OK;

    case 3:
        op = &st->t[2]->op;

        ngx_microshop_selftest_expect(st,
            op->rc == NGX_DECLINED && op->u.reserve.held == 0
            && op->u.reserve.lines[0].short_of_stock == 1
            && op->u.reserve.lines[1].short_of_stock == 0,
            "RESERVE beyond the stock: rc %i, held %ui, short A %ui B %ui;"
            " expected NGX_DECLINED, A short only", op->rc,
            op->u.reserve.held, op->u.reserve.lines[0].short_of_stock,
            op->u.reserve.lines[1].short_of_stock);

        ngx_microshop_selftest_submit(st, 3, NGX_MICROSHOP_OP_STOCK_GET, "A",
                                      0);
        return NGX_OK;

    case 4:
        ngx_microshop_selftest_stock_is(st, 3, 3, 2);
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_settle(ngx_microshop_selftest_t *st, ngx_uint_t step)
{
    u_char                        id[NGX_MICROSHOP_SELFTEST_KEY];
    ngx_microshop_op_t            op;
    ngx_microshop_line_t          line;
    ngx_microshop_selftest_op_t  *t;

    switch (step) {

    case 0:
        /* in flight together: the set runs first */
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_STOCK_SET, "S",
                                      5);
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve(st, 1, NGX_MICROSHOP_OP_RESERVE,
                                           "r3", "S", 2, NULL, 0));
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_held_is(st, 1, "RESERVE");

        t = ngx_microshop_selftest_reserve(st, 2, NGX_MICROSHOP_OP_SETTLE,
                                           "r3", "S", 2, NULL, 0);
        if (t) {
            t->op.u.reserve.commit = 1;
        }

        ngx_microshop_selftest_exec(st, t);
        ngx_microshop_selftest_submit(st, 3, NGX_MICROSHOP_OP_STOCK_GET, "S",
                                      0);
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_rc_is(st, 2, NGX_OK, "SETTLE commit");

        /* sold: 2 fewer available, nothing held */
        ngx_microshop_selftest_stock_is(st, 3, 3, 0);

        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve(st, 4, NGX_MICROSHOP_OP_RESERVE,
                                           "r4", "S", 1, NULL, 0));

        /* a posted release on this frame, after the reserve, before the
         * get */

        ngx_memzero(&op, sizeof(ngx_microshop_op_t));
        ngx_memzero(&line, sizeof(ngx_microshop_line_t));

        ngx_str_set(&line.sku, "S");
        line.quantity = 1;

        op.type = NGX_MICROSHOP_OP_SETTLE;
        op.u.reserve.seller = st->seller;
        op.u.reserve.id.data = id;
        op.u.reserve.id.len = ngx_microshop_selftest_key(st, id, op.type,
                                                         "r4")
                              - id;
        op.u.reserve.lines = &line;
        op.u.reserve.nlines = 1;
        op.u.reserve.commit = 0;

        ngx_microshop_selftest_post(st, &op, "r4");

        ngx_memset(id, 'X', sizeof(id));
        ngx_memset(&line, NGX_MICROSHOP_SELFTEST_JUNK, sizeof(line));

        ngx_microshop_selftest_submit(st, 5, NGX_MICROSHOP_OP_STOCK_GET, "S",
                                      0);
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve(st, 6, NGX_MICROSHOP_OP_SETTLE,
                                           "r4", "S", 1, NULL, 0));
        return NGX_OK;

    case 3:
        ngx_microshop_selftest_held_is(st, 4, "second RESERVE");

        /* released: as before the reserve */
        ngx_microshop_selftest_stock_is(st, 5, 3, 0);

        ngx_microshop_selftest_rc_is(st, 6, NGX_DECLINED,
                                     "SETTLE of a released hold");
        return NGX_OK;
    }

    return NGX_DONE;
}


/* HOLD_UNKNOWN of the hold of slot i */

static void
ngx_microshop_selftest_unknown(ngx_microshop_selftest_t *st, ngx_uint_t i,
    char *id, ngx_uint_t why)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_reserve(st, i, NGX_MICROSHOP_OP_HOLD_UNKNOWN,
                                       id, "unused", 1, NULL, 0);
    if (t) {
        t->op.u.reserve.nlines = 0;
        t->op.u.reserve.why = why;
    }

    ngx_microshop_selftest_exec(st, t);
}


/* SETTLE by id alone, as the admin API settles */

static void
ngx_microshop_selftest_settle_id(ngx_microshop_selftest_t *st, ngx_uint_t i,
    char *id, ngx_uint_t commit)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_reserve(st, i, NGX_MICROSHOP_OP_SETTLE, id,
                                       "unused", 1, NULL, 0);
    if (t) {
        ngx_str_null(&t->op.u.reserve.seller);
        t->op.u.reserve.nlines = 0;
        t->op.u.reserve.commit = commit;
    }

    ngx_microshop_selftest_exec(st, t);
}


/* HOLD_LIST of the case's seller: pending ones, or all */

static void
ngx_microshop_selftest_list(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t all)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, NGX_MICROSHOP_OP_HOLD_LIST, "list");
    if (t == NULL) {
        return;
    }

    t->op.u.reserve.seller = st->seller;
    t->op.u.reserve.all = all;
    t->op.u.reserve.limit = 10;

    /* out fields the back end must set */
    t->op.u.reserve.nholds = 77;
    t->op.u.reserve.total = 77;

    ngx_microshop_selftest_exec(st, t);
}


/*
 * The hold of the RESERVE in slot r in the HOLD_LIST of slot i, with this
 * state and why and its open lines "sku quantity ..." (one or two)
 */

static void
ngx_microshop_selftest_listed(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t r, ngx_uint_t state, ngx_uint_t why, char *sku,
    int64_t quantity)
{
    ngx_str_t             *id;
    ngx_uint_t             k;
    ngx_microshop_op_t    *op;
    ngx_microshop_hold_t  *h;

    op = &st->t[i]->op;
    id = &st->t[r]->op.u.reserve.id;
    h = NULL;

    for (k = 0; op->rc == NGX_OK && k < op->u.reserve.nholds; k++) {
        if (op->u.reserve.holds[k].id.len == id->len
            && ngx_memcmp(op->u.reserve.holds[k].id.data, id->data, id->len)
               == 0)
        {
            h = &op->u.reserve.holds[k];
        }
    }

    ngx_microshop_selftest_expect(st, h != NULL,
        "HOLD_LIST (rc %i, %ui holds) does not list \"%V\"", op->rc,
        op->u.reserve.nholds, id);

    if (h == NULL) {
        return;
    }

    ngx_microshop_selftest_expect(st,
        h->state == state && h->why == why
        && h->seller.len == st->seller.len
        && ngx_memcmp(h->seller.data, st->seller.data, st->seller.len) == 0
        && h->created > 0 && h->deadline >= h->created
        && h->nlines == 1 && h->lines[0].quantity == quantity
        && ngx_microshop_selftest_same(&h->lines[0].sku, sku),
        "hold \"%V\": state %ui why %ui, seller \"%V\", %ui lines (first "
        "\"%V\" %L); expected state %ui why %ui, %s %L", id, h->state,
        h->why, &h->seller, h->nlines,
        h->nlines ? &h->lines[0].sku : &st->seller,
        h->nlines ? h->lines[0].quantity : 0, state, why, sku, quantity);
}


static void
ngx_microshop_selftest_total_is(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t total)
{
    ngx_microshop_op_t  *op;

    op = &st->t[i]->op;

    ngx_microshop_selftest_expect(st,
        op->rc == NGX_OK && op->u.reserve.total == total
        && op->u.reserve.nholds == total,
        "HOLD_LIST: rc %i, %ui holds of %ui, expected %ui", op->rc,
        op->u.reserve.nholds, op->u.reserve.total, total);
}


/* past hold=, a hold nobody settled goes pending; it is still held */

static ngx_int_t
ngx_microshop_selftest_sweep(ngx_microshop_selftest_t *st, ngx_uint_t step)
{
    ngx_atomic_uint_t             pending;
    ngx_microshop_selftest_op_t  *t;

    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_STOCK_SET, "W",
                                      2);

        t = ngx_microshop_selftest_reserve(st, 1, NGX_MICROSHOP_OP_RESERVE,
                                           "r5", "W", 1, NULL, 0);
        if (t) {
            /* a hold that is past its time at once */
            t->op.u.reserve.hold = 0;
        }

        ngx_microshop_selftest_exec(st, t);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_held_is(st, 1, "RESERVE");

        st->before = ngx_microshop_selftest_counter(st,
                                    NGX_MICROSHOP_COUNTER_RESERVE_PENDING);

        ngx_microshop_selftest_submit(st, 2, NGX_MICROSHOP_OP_SWEEP, "sweep",
                                      0);
        return NGX_OK;

    case 2:
        pending = ngx_microshop_selftest_counter(st,
                                    NGX_MICROSHOP_COUNTER_RESERVE_PENDING);

        ngx_microshop_selftest_expect(st,
            st->t[2]->op.rc == NGX_OK && pending >= st->before + 1,
            "SWEEP: rc %i, pending holds counted %uA (was %uA)",
            st->t[2]->op.rc, pending, st->before);

        ngx_microshop_selftest_list(st, 3, 0);
        ngx_microshop_selftest_submit(st, 4, NGX_MICROSHOP_OP_STOCK_GET, "W",
                                      0);
        return NGX_OK;

    case 3:
        ngx_microshop_selftest_total_is(st, 3, 1);
        ngx_microshop_selftest_listed(st, 3, 1, NGX_MICROSHOP_HOLD_PENDING,
                                      NGX_MICROSHOP_WHY_NO_ANSWER, "W", 1);

        /* time gave nothing back */
        ngx_microshop_selftest_stock_is(st, 4, 2, 1);

        ngx_microshop_selftest_settle_id(st, 5, "r5", 0);
        ngx_microshop_selftest_submit(st, 6, NGX_MICROSHOP_OP_STOCK_GET, "W",
                                      0);
        ngx_microshop_selftest_settle_id(st, 7, "r5", 0);
        ngx_microshop_selftest_list(st, 8, 1);
        return NGX_OK;

    case 4:
        ngx_microshop_selftest_rc_is(st, 5, NGX_OK,
                                     "SETTLE release of a pending hold");
        ngx_microshop_selftest_stock_is(st, 6, 2, 0);
        ngx_microshop_selftest_rc_is(st, 7, NGX_DECLINED,
                                     "SETTLE of a settled hold");
        ngx_microshop_selftest_total_is(st, 8, 0);
        return NGX_OK;
    }

    return NGX_DONE;
}


/*
 * HOLD_UNKNOWN of a live hold; the pending ones listed (a hold past
 * hold=), all of them listed; SETTLE commit by id of a pending hold
 */

static ngx_int_t
ngx_microshop_selftest_unknown_list(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    ngx_microshop_selftest_op_t  *t;

    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_STOCK_SET, "U",
                                      3);
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve(st, 1, NGX_MICROSHOP_OP_RESERVE,
                                           "r6", "U", 1, NULL, 0));

        t = ngx_microshop_selftest_reserve(st, 2, NGX_MICROSHOP_OP_RESERVE,
                                           "r7", "U", 1, NULL, 0);
        if (t) {
            t->op.u.reserve.hold = 0;
        }

        ngx_microshop_selftest_exec(st, t);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_held_is(st, 1, "RESERVE");
        ngx_microshop_selftest_held_is(st, 2, "RESERVE past hold=");

        ngx_microshop_selftest_unknown(st, 3, "r6", NGX_MICROSHOP_WHY_TIMEOUT);
        ngx_microshop_selftest_unknown(st, 4, "r7",
                                       NGX_MICROSHOP_WHY_CLIENT_ABORT);
        ngx_microshop_selftest_unknown(st, 5, "none",
                                       NGX_MICROSHOP_WHY_TIMEOUT);
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_rc_is(st, 3, NGX_OK, "HOLD_UNKNOWN");
        ngx_microshop_selftest_rc_is(st, 4, NGX_OK, "HOLD_UNKNOWN");
        ngx_microshop_selftest_rc_is(st, 5, NGX_DECLINED,
                                     "HOLD_UNKNOWN without a hold");

        ngx_microshop_selftest_list(st, 6, 0);
        ngx_microshop_selftest_list(st, 7, 1);
        return NGX_OK;

    case 3:
        ngx_microshop_selftest_total_is(st, 6, 1);
        ngx_microshop_selftest_listed(st, 6, 2, NGX_MICROSHOP_HOLD_PENDING,
                                      NGX_MICROSHOP_WHY_CLIENT_ABORT, "U", 1);

        ngx_microshop_selftest_total_is(st, 7, 2);
        ngx_microshop_selftest_listed(st, 7, 1, NGX_MICROSHOP_HOLD_UNKNOWN,
                                      NGX_MICROSHOP_WHY_TIMEOUT, "U", 1);

        ngx_microshop_selftest_settle_id(st, 8, "r7", 1);
        ngx_microshop_selftest_submit(st, 9, NGX_MICROSHOP_OP_STOCK_GET, "U",
                                      0);
        return NGX_OK;

    case 4:
        ngx_microshop_selftest_rc_is(st, 8, NGX_OK, "SETTLE commit by id");

        /* r7 sold, r6 still held */
        ngx_microshop_selftest_stock_is(st, 9, 2, 1);
        return NGX_OK;
    }

    return NGX_DONE;
}


/*
 * An accepted EVENT with a count settles the lines of its sku in holds of
 * unknown outcome, not in live ones; an older version settles nothing
 */

static ngx_int_t
ngx_microshop_selftest_event_settles(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_STOCK_SET, "ev",
                                      5);
        ngx_microshop_selftest_submit(st, 1, NGX_MICROSHOP_OP_STOCK_SET, "X",
                                      4);
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve(st, 2, NGX_MICROSHOP_OP_RESERVE,
                                           "r8", "ev", 2, "X", 1));
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve(st, 3, NGX_MICROSHOP_OP_RESERVE,
                                           "r9", "ev", 1, NULL, 0));
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_held_is(st, 2, "RESERVE of two lines");
        ngx_microshop_selftest_held_is(st, 3, "RESERVE");

        ngx_microshop_selftest_unknown(st, 4, "r8",
                                       NGX_MICROSHOP_WHY_UPSTREAM_ERROR);
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_rc_is(st, 4, NGX_OK, "HOLD_UNKNOWN");

        /* the backend's count of ev, version 5: 7 left */
        ngx_microshop_selftest_event(st, 5, "e1", 5);
        ngx_microshop_selftest_submit(st, 6, NGX_MICROSHOP_OP_STOCK_GET, "ev",
                                      0);
        ngx_microshop_selftest_submit(st, 7, NGX_MICROSHOP_OP_STOCK_GET, "X",
                                      0);
        ngx_microshop_selftest_list(st, 8, 1);
        return NGX_OK;

    case 3:
        ngx_microshop_selftest_event_is(st, 5, NGX_MICROSHOP_EVENT_ACCEPTED,
                                        "EVENT");

        /* r8's ev line settled by the count, r9 live: still held */
        ngx_microshop_selftest_stock_is(st, 6, 7, 1);
        ngx_microshop_selftest_stock_is(st, 7, 4, 1);

        ngx_microshop_selftest_total_is(st, 8, 2);
        ngx_microshop_selftest_listed(st, 8, 2, NGX_MICROSHOP_HOLD_UNKNOWN,
                                      NGX_MICROSHOP_WHY_UPSTREAM_ERROR,
                                      "X", 1);
        ngx_microshop_selftest_listed(st, 8, 3, NGX_MICROSHOP_HOLD_LIVE,
                                      NGX_MICROSHOP_WHY_NONE, "ev", 1);

        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve(st, 9, NGX_MICROSHOP_OP_RESERVE,
                                           "r10", "ev", 1, NULL, 0));
        return NGX_OK;

    case 4:
        ngx_microshop_selftest_held_is(st, 9, "RESERVE");
        ngx_microshop_selftest_unknown(st, 10, "r10",
                                       NGX_MICROSHOP_WHY_TIMEOUT);
        return NGX_OK;

    case 5:
        /* an older version: stale, it settles nothing */
        ngx_microshop_selftest_event(st, 11, "e2", 4);
        ngx_microshop_selftest_submit(st, 12, NGX_MICROSHOP_OP_STOCK_GET,
                                      "ev", 0);
        return NGX_OK;

    case 6:
        ngx_microshop_selftest_event_is(st, 11, NGX_MICROSHOP_EVENT_STALE,
                                        "older EVENT");
        ngx_microshop_selftest_stock_is(st, 12, 7, 2);

        ngx_microshop_selftest_event(st, 13, "e3", 6);
        ngx_microshop_selftest_submit(st, 14, NGX_MICROSHOP_OP_STOCK_GET,
                                      "ev", 0);
        ngx_microshop_selftest_list(st, 15, 1);
        return NGX_OK;

    case 7:
        ngx_microshop_selftest_event_is(st, 13, NGX_MICROSHOP_EVENT_ACCEPTED,
                                        "newer EVENT");

        /* r10 is gone, r8 keeps its X line, r9 is live */
        ngx_microshop_selftest_stock_is(st, 14, 7, 1);
        ngx_microshop_selftest_total_is(st, 15, 2);
        return NGX_OK;
    }

    return NGX_DONE;
}


/*
 * Offline slots (ngx_microshop_store.h): RESERVE with offline_max 2 takes
 * a slot for two holds, not the third; HOLD_UNKNOWN offline needs a slot,
 * another why gives it back; an EVENT never settles a hold with one; a
 * SETTLE gives it back, so the next RESERVE takes one again
 */

static ngx_microshop_selftest_op_t *
ngx_microshop_selftest_reserve_slot(ngx_microshop_selftest_t *st,
    ngx_uint_t i, char *id)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_reserve(st, i, NGX_MICROSHOP_OP_RESERVE, id,
                                       "ev", 1, NULL, 0);
    if (t) {
        t->op.u.reserve.offline_max = 2;
        t->op.u.reserve.offline = 5;
    }

    return t;
}


static void
ngx_microshop_selftest_slot_is(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t slot)
{
    ngx_microshop_op_t  *op;

    op = &st->t[i]->op;

    ngx_microshop_selftest_expect(st,
        op->rc == NGX_OK && op->u.reserve.held == 1
        && op->u.reserve.offline == slot,
        "RESERVE \"%V\": rc %i, held %ui, offline %ui; expected a hold, "
        "offline %ui", &op->u.reserve.id, op->rc, op->u.reserve.held,
        op->u.reserve.offline, slot);
}


static ngx_int_t
ngx_microshop_selftest_offline_slots(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    switch (step) {

    case 0:
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_STOCK_SET, "ev",
                                      10);
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve_slot(st, 1, "o1"));
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve_slot(st, 2, "o2"));
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve_slot(st, 3, "o3"));
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_slot_is(st, 1, 1);
        ngx_microshop_selftest_slot_is(st, 2, 1);
        ngx_microshop_selftest_slot_is(st, 3, 0);

        ngx_microshop_selftest_unknown(st, 4, "o3", NGX_MICROSHOP_WHY_OFFLINE);
        ngx_microshop_selftest_unknown(st, 5, "o1", NGX_MICROSHOP_WHY_OFFLINE);
        ngx_microshop_selftest_unknown(st, 6, "o2",
                                       NGX_MICROSHOP_WHY_UPSTREAM_ERROR);
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_rc_is(st, 4, NGX_DECLINED,
                                     "HOLD_UNKNOWN offline without a slot");
        ngx_microshop_selftest_rc_is(st, 5, NGX_OK, "HOLD_UNKNOWN offline");
        ngx_microshop_selftest_rc_is(st, 6, NGX_OK, "HOLD_UNKNOWN");

        /* the backend's count (7): settles o2, never o1 */
        ngx_microshop_selftest_event(st, 7, "eo", 5);
        ngx_microshop_selftest_list(st, 8, 1);
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve_slot(st, 9, "o4"));
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve_slot(st, 10, "o5"));
        return NGX_OK;

    case 3:
        ngx_microshop_selftest_event_is(st, 7, NGX_MICROSHOP_EVENT_ACCEPTED,
                                        "EVENT");
        ngx_microshop_selftest_total_is(st, 8, 2);
        ngx_microshop_selftest_listed(st, 8, 1, NGX_MICROSHOP_HOLD_UNKNOWN,
                                      NGX_MICROSHOP_WHY_OFFLINE, "ev", 1);
        ngx_microshop_selftest_listed(st, 8, 3, NGX_MICROSHOP_HOLD_LIVE,
                                      NGX_MICROSHOP_WHY_NONE, "ev", 1);

        /* o2's slot came back: o4 takes it, o5 finds none */
        ngx_microshop_selftest_slot_is(st, 9, 1);
        ngx_microshop_selftest_slot_is(st, 10, 0);

        ngx_microshop_selftest_settle_id(st, 11, "o1", 1);
        return NGX_OK;

    case 4:
        ngx_microshop_selftest_rc_is(st, 11, NGX_OK, "SETTLE commit by id");

        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_reserve_slot(st, 12, "o6"));
        ngx_microshop_selftest_submit(st, 13, NGX_MICROSHOP_OP_STOCK_GET,
                                      "ev", 0);
        return NGX_OK;

    case 5:
        ngx_microshop_selftest_slot_is(st, 12, 1);

        /* 7 counted, o1 sold; o3, o4, o5, o6 held */
        ngx_microshop_selftest_stock_is(st, 13, 6, 4);
        return NGX_OK;
    }

    return NGX_DONE;
}


/* an IDEM_BEGIN (with lock) or IDEM_RELEASE of "idem" by owner, submitted */

static void
ngx_microshop_selftest_owned(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t type, uint64_t owner, int64_t lock)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, type, "idem");
    if (t == NULL) {
        return;
    }

    ngx_memset(t->op.u.idem.fingerprint, 'a', NGX_MICROSHOP_FINGERPRINT_LEN);
    t->op.u.idem.owner = owner;
    t->op.u.idem.lock = lock;
    t->op.u.idem.ttl = NGX_MICROSHOP_SELFTEST_KEEP;

    ngx_microshop_selftest_exec(st, t);
}


/*
 * A lock that ran out before its owner settled it: the key answers
 * unavailable, never new; only the owner's IDEM_RELEASE frees it
 */

static ngx_int_t
ngx_microshop_selftest_idem_lock(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    switch (step) {

    case 0:
        ngx_microshop_selftest_owned(st, 0, NGX_MICROSHOP_OP_IDEM_BEGIN, 1, 0);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_idem_is(st, 0, NGX_MICROSHOP_IDEM_NEW,
                                       "IDEM_BEGIN");
        ngx_microshop_selftest_owned(st, 1, NGX_MICROSHOP_OP_IDEM_BEGIN, 2,
                                     NGX_MICROSHOP_SELFTEST_KEEP);
        return NGX_OK;

    case 2:
        ngx_microshop_selftest_idem_is(st, 1, NGX_MICROSHOP_IDEM_UNAVAILABLE,
                                       "IDEM_BEGIN after the lock ran out");

        /* the release after that request's IDEM_BEGIN: not its lock */
        ngx_microshop_selftest_owned(st, 2, NGX_MICROSHOP_OP_IDEM_RELEASE, 2,
                                     0);
        return NGX_OK;

    case 3:
        ngx_microshop_selftest_rc_is(st, 2, NGX_DECLINED,
                                     "IDEM_RELEASE by another owner");
        ngx_microshop_selftest_owned(st, 3, NGX_MICROSHOP_OP_IDEM_RELEASE, 1,
                                     0);
        ngx_microshop_selftest_owned(st, 4, NGX_MICROSHOP_OP_IDEM_BEGIN, 3,
                                     NGX_MICROSHOP_SELFTEST_KEEP);
        return NGX_OK;

    case 4:
        ngx_microshop_selftest_rc_is(st, 3, NGX_OK,
                                     "IDEM_RELEASE by its owner");
        ngx_microshop_selftest_idem_is(st, 4, NGX_MICROSHOP_IDEM_NEW,
                                       "IDEM_BEGIN after the release");
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_fifo(ngx_microshop_selftest_t *st, ngx_uint_t step)
{
    switch (step) {

    case 0:
        ngx_microshop_selftest_stock_post(st, "F", 42);
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_STOCK_GET, "F",
                                      0);
        ngx_microshop_selftest_stock_post(st, "F", 43);
        ngx_microshop_selftest_submit(st, 1, NGX_MICROSHOP_OP_STOCK_GET, "F",
                                      0);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_stock_is(st, 0, 42, 0);
        ngx_microshop_selftest_stock_is(st, 1, 43, 0);
        return NGX_OK;
    }

    return NGX_DONE;
}


/*
 * in_flight_in_order, in_flight_out_of_order: ten execs of every kind at
 * once, behind the posts that prepare what they read
 */

static void
ngx_microshop_selftest_batch(ngx_microshop_selftest_t *st)
{
    u_char                        body[sizeof("batch")];
    ngx_uint_t                    i;
    ngx_microshop_op_t            op;
    ngx_microshop_selftest_op_t  *t[10];

    static char        *skus[] = { "q0", "q1", "q2", "q3" };

    static ngx_uint_t   types[] = {
        NGX_MICROSHOP_OP_STOCK_GET, NGX_MICROSHOP_OP_INV_GET,
        NGX_MICROSHOP_OP_STOCK_GET, NGX_MICROSHOP_OP_IS_REVOKED,
        NGX_MICROSHOP_OP_GCRA, NGX_MICROSHOP_OP_STOCK_GET,
        NGX_MICROSHOP_OP_INV_GET, NGX_MICROSHOP_OP_STOCK_SET,
        NGX_MICROSHOP_OP_STOCK_GET, NGX_MICROSHOP_OP_IDEM_BEGIN
    };

    static char        *names[] = {
        "q0", "qi", "q1", "qjti", "qg", "q2", "qnone", "q3", "q3", "qidem"
    };

    for (i = 0; i < 4; i++) {
        ngx_microshop_selftest_stock_post(st, skus[i], 100 + i);
    }

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));
    op.type = NGX_MICROSHOP_OP_INV_PUT;
    ngx_memcpy(body, "batch", sizeof(body));
    op.u.inv.body.data = body;
    op.u.inv.body.len = sizeof(body) - 1;
    op.u.inv.keep = NGX_MICROSHOP_SELFTEST_KEEP;
    ngx_microshop_selftest_post(st, &op, "qi");
    ngx_memset(body, 'X', sizeof(body));

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));
    op.type = NGX_MICROSHOP_OP_REVOKE;
    op.u.revoke.exp = ngx_time() + 600;
    ngx_microshop_selftest_post(st, &op, "qjti");

    for (i = 0; i < 10; i++) {
        t[i] = ngx_microshop_selftest_op(st, i, types[i], names[i]);
        if (t[i] == NULL) {
            return;
        }
    }

    t[4]->op.u.gcra.interval = NGX_MICROSHOP_SELFTEST_MINUTE;
    t[4]->op.u.gcra.burst = 2;
    t[4]->op.u.gcra.cost = 1;

    t[7]->op.u.stock.available = 77;

    ngx_memset(t[9]->op.u.idem.fingerprint, 'a',
               NGX_MICROSHOP_FINGERPRINT_LEN);
    t[9]->op.u.idem.lock = NGX_MICROSHOP_SELFTEST_KEEP;
    t[9]->op.u.idem.ttl = NGX_MICROSHOP_SELFTEST_KEEP;

    for (i = 0; i < 10; i++) {
        ngx_microshop_selftest_exec(st, t[i]);
    }
}


static void
ngx_microshop_selftest_batch_check(ngx_microshop_selftest_t *st,
    ngx_uint_t reverse)
{
    ngx_uint_t           i, j;
    ngx_microshop_op_t  *op[10];

    /* the stock ops and what they read: 7 wrote 77, 8 read it */
    static ngx_uint_t  stock[][2] = {
        { 0, 100 }, { 2, 101 }, { 5, 102 }, { 7, 77 }, { 8, 77 }
    };

    for (i = 0; i < 10; i++) {
        op[i] = &st->t[i]->op;
    }

    /* each its own result */

    for (i = 0; i < sizeof(stock) / sizeof(stock[0]); i++) {
        ngx_microshop_selftest_stock_is(st, stock[i][0], stock[i][1], 0);
    }

    ngx_microshop_selftest_expect(st,
        op[1]->rc == NGX_OK
        && ngx_microshop_selftest_same(&op[1]->u.inv.body, "batch")
        && op[3]->rc == NGX_OK
        && op[4]->rc == NGX_OK && op[4]->u.gcra.result.allowed
        && op[4]->u.gcra.result.remaining == 1
        && op[6]->rc == NGX_DECLINED
        && op[9]->rc == NGX_OK
        && op[9]->u.idem.result == NGX_MICROSHOP_IDEM_NEW,
        "results: INV_GET rc %i body \"%V\", IS_REVOKED rc %i, "
        "GCRA rc %i remaining %L, INV_GET of nothing rc %i, "
        "IDEM_BEGIN rc %i result %ui", op[1]->rc, &op[1]->u.inv.body,
        op[3]->rc, op[4]->rc, op[4]->u.gcra.result.remaining,
        op[6]->rc, op[9]->rc, op[9]->u.idem.result);

    /*
     * The order of the answers that came later: a back end answers what
     * it has at once (the Redis back end's revocations and inventory
     * copies, from the zone) while what it waits for comes in submission
     * order, as commands on one connection do.
     */

    for (i = 0, j = 10; i < 10; i++) {
        if (!st->t[i]->later) {
            continue;
        }

        if (j < 10) {
            ngx_microshop_selftest_expect(st,
                reverse ? st->t[j]->order > st->t[i]->order
                        : st->t[j]->order < st->t[i]->order,
                "op %ui was answered %ui-th, op %ui %ui-th: expected %s",
                j, st->t[j]->order, i, st->t[i]->order,
                reverse ? "the reverse order" : "submission order");
        }

        j = i;
    }
}


static ngx_int_t
ngx_microshop_selftest_in_order(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    switch (step) {

    case 0:
        ngx_microshop_selftest_batch(st);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_batch_check(st, 0);
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_out_of_order(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    switch (step) {

    case 0:
        st->knobs_set = 1;
        (void) ngx_microshop_store_deferred_knobs(st->store, 1, 0);

        ngx_microshop_selftest_batch(st);
        return NGX_OK;

    case 1:
        (void) ngx_microshop_store_deferred_knobs(st->store, 0, 0);

        ngx_microshop_selftest_batch_check(st, 1);
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_cancel_before(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    ngx_uint_t          untouched;
    ngx_atomic_uint_t   late;

    switch (step) {

    case 0:
        st->before = ngx_microshop_selftest_counter(st,
                                            NGX_MICROSHOP_COUNTER_STORE_LATE);

        /* the first and the last of three, the middle one is answered */

        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_STOCK_GET, "c0",
                                      0);
        ngx_microshop_selftest_submit(st, 1, NGX_MICROSHOP_OP_GCRA, "cg", 1);
        ngx_microshop_selftest_submit(st, 2, NGX_MICROSHOP_OP_STOCK_SET, "c2",
                                      4);

        ngx_microshop_selftest_cancel(st, st->t[0]);
        ngx_microshop_selftest_cancel(st, st->t[2]);
        return NGX_OK;

    case 1:
        untouched = ngx_microshop_selftest_junk(st->t[0])
                    && ngx_microshop_selftest_junk(st->t[2]);

        ngx_microshop_selftest_expect(st,
            st->t[0]->calls == 0 && st->t[2]->calls == 0 && untouched,
            "after cancel(): handler runs %ui and %ui, the ops %s",
            st->t[0]->calls, st->t[2]->calls,
            untouched ? "untouched" : "written to");

        ngx_microshop_selftest_expect(st,
            st->t[1]->op.rc == NGX_OK && st->t[1]->op.u.gcra.result.allowed,
            "the op between the cancelled ones: rc %i", st->t[1]->op.rc);

        /* one more round: whatever the back end still had is answered */
        ngx_microshop_selftest_submit(st, 3, NGX_MICROSHOP_OP_STOCK_GET, "c2",
                                      0);
        return NGX_OK;

    case 2:
        late = ngx_microshop_selftest_counter(st,
                                            NGX_MICROSHOP_COUNTER_STORE_LATE);

        ngx_microshop_selftest_expect(st,
            st->t[0]->calls == 0 && st->t[2]->calls == 0
            && ngx_microshop_selftest_junk(st->t[0])
            && ngx_microshop_selftest_junk(st->t[2])
            && late >= st->before + 2,
            "a round later: handler runs %ui and %ui, late answers %uA "
            "(was %uA, expected 2 more)", st->t[0]->calls, st->t[2]->calls,
            late, st->before);

        /* the cancelled set ran all the same: a store executes what it got */
        ngx_microshop_selftest_stock_is(st, 3, 4, 0);
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_error_exec(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    ngx_microshop_selftest_op_t  *t;

    switch (step) {

    case 0:
        /* its rc starts as NGX_OK (0): the back end must set NGX_ERROR */
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_SELFTEST_BAD_OP,
                                      "bad", 0);
        return NGX_OK;

    case 1:
        t = st->t[0];

        ngx_microshop_selftest_expect(st,
            t->op.rc == NGX_ERROR && t->calls == (t->later ? 1 : 0),
            "exec() of op %d: rc %i, answered %s, handler runs %ui",
            NGX_MICROSHOP_SELFTEST_BAD_OP, t->op.rc,
            t->later ? "later" : "at once", t->calls);
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_error_post(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    ngx_atomic_uint_t   errors;
    ngx_microshop_op_t  op;

    switch (step) {

    case 0:
        st->before = ngx_microshop_selftest_counter(st,
                                        NGX_MICROSHOP_COUNTER_STORE_ERRORS);

        ngx_memzero(&op, sizeof(ngx_microshop_op_t));
        op.type = NGX_MICROSHOP_SELFTEST_BAD_OP;
        op.counter = NGX_MICROSHOP_COUNTER_CACHE_STORE;

        ngx_microshop_selftest_post(st, &op, "bad");

        /* answered after the post ran */
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_STOCK_GET, "e",
                                      0);
        return NGX_OK;

    case 1:
        errors = ngx_microshop_selftest_counter(st,
                                        NGX_MICROSHOP_COUNTER_STORE_ERRORS);

        ngx_microshop_selftest_expect(st, errors >= st->before + 1,
            "a failed post was not counted as a store error (%uA, was %uA)",
            errors, st->before);
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_unused_fields(ngx_microshop_selftest_t *st,
    ngx_uint_t step)
{
    ngx_uint_t                    i;
    ngx_microshop_selftest_op_t  *t[4];

    static ngx_uint_t  types[] = {
        NGX_MICROSHOP_OP_INV_GET, NGX_MICROSHOP_OP_IDEM_BEGIN,
        NGX_MICROSHOP_OP_EVENT, NGX_MICROSHOP_OP_STOCK_GET
    };

    switch (step) {

    case 0:
        for (i = 0; i < 4; i++) {
            t[i] = ngx_microshop_selftest_op(st, i, types[i], "x");
            if (t[i] == NULL) {
                return NGX_OK;
            }

            ngx_memset(&t[i]->op.u, NGX_MICROSHOP_SELFTEST_JUNK,
                       sizeof(t[i]->op.u));
        }

        /* what each type reads, the rest stays junk */

        ngx_memset(t[1]->op.u.idem.fingerprint, 'a',
                   NGX_MICROSHOP_FINGERPRINT_LEN);
        t[1]->op.u.idem.lock = NGX_MICROSHOP_SELFTEST_KEEP;
        t[1]->op.u.idem.ttl = NGX_MICROSHOP_SELFTEST_KEEP;

        ngx_str_set(&t[2]->op.u.event.id, "e1");
        t[2]->op.u.event.version = 1;
        t[2]->op.u.event.has_available = 1;
        t[2]->op.u.event.available = 2;
        t[2]->op.u.event.has_item = 0;

        for (i = 0; i < 4; i++) {
            ngx_microshop_selftest_exec(st, t[i]);
        }

        return NGX_OK;

    case 1:
        ngx_microshop_selftest_rc_is(st, 0, NGX_DECLINED, "INV_GET");
        ngx_microshop_selftest_idem_is(st, 1, NGX_MICROSHOP_IDEM_NEW,
                                       "IDEM_BEGIN");

        ngx_microshop_selftest_expect(st,
            st->t[2]->op.rc == NGX_OK
            && st->t[2]->op.u.event.result == NGX_MICROSHOP_EVENT_ACCEPTED,
            "EVENT: rc %i, result %ui, expected accepted", st->t[2]->op.rc,
            st->t[2]->op.u.event.result);

        ngx_microshop_selftest_stock_is(st, 3, 2, 0);
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_microshop_selftest_once(ngx_microshop_selftest_t *st, ngx_uint_t step)
{
    ngx_uint_t  shm;

    switch (step) {

    case 0:
        /* a last round: a second answer to anything would come before it */
        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_GCRA, "once", 1);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_expect(st,
            st->answers == st->later - st->cancelled,
            "%ui handler runs for %ui execs answered later, %ui of them "
            "cancelled", st->answers, st->later, st->cancelled);

        shm = (st->store->backend == &ngx_microshop_store_shm);

        /* the shm back end answers at once; the deferred one always later */

        ngx_microshop_selftest_expect(st,
            shm ? st->later == 0 : !st->knobs || st->later == st->ops.nelts,
            "%ui of %ui execs answered later", st->later, st->ops.nelts);
        return NGX_OK;
    }

    return NGX_DONE;
}


/* ?hold=<ms> */

static ngx_int_t
ngx_microshop_selftest_hold(ngx_microshop_selftest_t *st, ngx_uint_t step)
{
    switch (step) {

    case 0:
        st->knobs_set = 1;
        (void) ngx_microshop_store_deferred_knobs(st->store, 0, st->hold);

        ngx_microshop_selftest_submit(st, 0, NGX_MICROSHOP_OP_STOCK_GET, "h",
                                      0);

        /* the batch is armed: later ones do not wait */
        (void) ngx_microshop_store_deferred_knobs(st->store, 0, 0);
        return NGX_OK;

    case 1:
        ngx_microshop_selftest_rc_is(st, 0, NGX_DECLINED,
                                     "STOCK_GET of unknown stock");
        return NGX_OK;
    }

    return NGX_DONE;
}


/*
 * FEED_APPEND (posted) of three events, then FEED_READ: the first page,
 * oldest first with their types and data, ids increasing; after the
 * second id the third alone; limit 0 only the newest id; another feed
 * empty, newest id 0-0
 */

static void
ngx_microshop_selftest_feed_post(ngx_microshop_selftest_t *st, char *data)
{
    u_char              buf[32];
    ngx_microshop_op_t  op;

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));
    op.type = NGX_MICROSHOP_OP_FEED_APPEND;
    op.u.feed.type = MICROSHOP_EVENT_STOCK_CHANGED;
    op.u.feed.data.len = ngx_cpystrn(buf, (u_char *) data, sizeof(buf)) - buf;
    op.u.feed.data.data = buf;

    ngx_microshop_selftest_post(st, &op, "f");

    ngx_memset(buf, 'X', sizeof(buf));
}


static ngx_microshop_selftest_op_t *
ngx_microshop_selftest_feed_read(ngx_microshop_selftest_t *st, ngx_uint_t i,
    char *name, microshop_event_id_t *after, ngx_uint_t limit)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, NGX_MICROSHOP_OP_FEED_READ, name);

    if (t) {
        t->op.u.feed.after = *after;
        t->op.u.feed.limit = limit;
    }

    return t;
}


static ngx_int_t
ngx_microshop_selftest_feed(ngx_microshop_selftest_t *st, ngx_uint_t step)
{
    ngx_microshop_op_t          *op;
    microshop_event_id_t         zero, id;
    ngx_microshop_feed_event_t  *ev;

    zero.ms = 0;
    zero.seq = 0;

    switch (step) {

    case 0:
        ngx_microshop_selftest_feed_post(st, "{\"n\":1}");
        ngx_microshop_selftest_feed_post(st, "{\"n\":2}");
        ngx_microshop_selftest_feed_post(st, "{\"n\":3}");

        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_feed_read(st, 0, "f", &zero, 2));
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_feed_read(st, 1, "other", &zero, 10));
        return NGX_OK;

    case 1:
        op = &st->t[0]->op;
        ev = op->u.feed.events;

        ngx_microshop_selftest_expect(st,
            op->rc == NGX_OK && op->u.feed.nevents == 2 && !op->u.feed.missed,
            "FEED_READ after 0 limit 2: rc %i, %ui events, missed %ui",
            op->rc, op->u.feed.nevents, op->u.feed.missed);

        if (st->case_failed) {
            return NGX_OK;
        }

        ngx_microshop_selftest_expect(st,
            ev[0].type == MICROSHOP_EVENT_STOCK_CHANGED
            && ngx_microshop_selftest_same(&ev[0].data, "{\"n\":1}")
            && ngx_microshop_selftest_same(&ev[1].data, "{\"n\":2}")
            && ev[0].data.data[ev[0].data.len] == '\0'
            && microshop_event_id_cmp(&ev[0].id, &ev[1].id) < 0
            && microshop_event_id_cmp(&ev[1].id, &op->u.feed.last) < 0,
            "FEED_READ: the first two events in order, NUL-ended, before "
            "the newest id");

        op = &st->t[1]->op;

        ngx_microshop_selftest_expect(st,
            op->rc == NGX_OK && op->u.feed.nevents == 0
            && op->u.feed.last.ms == 0 && op->u.feed.last.seq == 0,
            "FEED_READ of a feed never written: rc %i, %ui events, last "
            "%uL-%uL", op->rc, op->u.feed.nevents, op->u.feed.last.ms,
            op->u.feed.last.seq);

        id = st->t[0]->op.u.feed.events[1].id;

        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_feed_read(st, 2, "f", &id, 10));
        ngx_microshop_selftest_exec(st,
            ngx_microshop_selftest_feed_read(st, 3, "f", &zero, 0));
        return NGX_OK;

    case 2:
        op = &st->t[2]->op;

        ngx_microshop_selftest_expect(st,
            op->rc == NGX_OK && op->u.feed.nevents == 1
            && ngx_microshop_selftest_same(&op->u.feed.events[0].data,
                                           "{\"n\":3}")
            && microshop_event_id_cmp(&op->u.feed.events[0].id,
                                      &op->u.feed.last) == 0,
            "FEED_READ after the second: rc %i, %ui events; expected the "
            "third, the newest", op->rc, op->u.feed.nevents);

        ngx_microshop_selftest_expect(st,
            st->t[3]->op.rc == NGX_OK && st->t[3]->op.u.feed.nevents == 0
            && microshop_event_id_cmp(&st->t[3]->op.u.feed.last,
                                      &op->u.feed.last) == 0,
            "FEED_READ limit 0: rc %i, %ui events; expected the newest id "
            "alone", st->t[3]->op.rc, st->t[3]->op.u.feed.nevents);
        return NGX_OK;
    }

    return NGX_DONE;
}


/*
 * USAGE_PUT (posted), then USAGE_GET: a store of one node keeps no
 * node's usage, NGX_DECLINED and no node (ngx_microshop_store.h)
 */

static ngx_int_t
ngx_microshop_selftest_usage(ngx_microshop_selftest_t *st, ngx_uint_t step)
{
    u_char                        blob[16];
    ngx_uint_t                    i, found;
    ngx_microshop_op_t            op, *get;
    ngx_microshop_usage_blob_t   *b;
    ngx_microshop_selftest_op_t  *t;

    switch (step) {

    case 0:
        ngx_memzero(&op, sizeof(ngx_microshop_op_t));
        op.type = NGX_MICROSHOP_OP_USAGE_PUT;
        ngx_memset(blob, 'u', sizeof(blob));
        op.u.usage.blob.data = blob;
        op.u.usage.blob.len = sizeof(blob);
        op.u.usage.keep = NGX_MICROSHOP_SELFTEST_KEEP;

        ngx_microshop_selftest_post(st, &op, "node");
        ngx_memset(blob, 'X', sizeof(blob));

        t = ngx_microshop_selftest_op(st, 0, NGX_MICROSHOP_OP_USAGE_GET,
                                      "node");
        if (t) {
            t->op.u.usage.keep = NGX_MICROSHOP_SELFTEST_KEEP;
        }

        ngx_microshop_selftest_exec(st, t);
        return NGX_OK;

    case 1:
        get = &st->t[0]->op;

        if (st->store->redis == NULL) {
            ngx_microshop_selftest_expect(st,
                get->rc == NGX_DECLINED && get->u.usage.nnodes == 0,
                "USAGE_GET of a store of one node: rc %i, %ui nodes; "
                "expected NGX_DECLINED and none", get->rc,
                get->u.usage.nnodes);
            return NGX_OK;
        }

        /* a shared store: the put is there, under its name, whole */
        ngx_memzero(blob, sizeof(blob));
        found = 0;

        for (i = 0; get->rc == NGX_OK && i < get->u.usage.nnodes; i++) {
            b = &get->u.usage.nodes[i];

            if (b->node.len == st->t[0]->op.key.len
                && ngx_strncmp(b->node.data, st->t[0]->op.key.data,
                               b->node.len) == 0)
            {
                ngx_memset(blob, 'u', sizeof(blob));
                found = (b->blob.len == sizeof(blob)
                         && ngx_memcmp(b->blob.data, blob, sizeof(blob))
                            == 0);
            }
        }

        ngx_microshop_selftest_expect(st, get->rc == NGX_OK && found,
            "USAGE_GET of a shared store: rc %i, %ui nodes; expected the "
            "put of \"%V\", whole", get->rc, get->u.usage.nnodes,
            &st->t[0]->op.key);
        return NGX_OK;
    }

    return NGX_DONE;
}


static ngx_microshop_selftest_case_t  ngx_microshop_selftest_cases[] = {

    /* GCRA: a full bucket of one allows, the next request is denied */
    { "gcra_allow_deny", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_gcra_allow_deny },

    /* IS_REVOKED declined, REVOKE, IS_REVOKED found */
    { "revoke", NGX_MICROSHOP_SELFTEST_ANY, ngx_microshop_selftest_revoke },

    /* a revoked jti refuses the tokens whose parent_jti it is */
    { "revoke_parent", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_revoke_parent },

    /* REVOKE_BEFORE by seller and class (a posted one of every class),
     * against the iat (none: refused); forward only; REVOKED_LIST */
    { "revoke_before", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_revoke_before },

    /* IDEM_BEGIN: new, then in progress and mismatch in flight together */
    { "idem_new_in_progress_mismatch", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_idem_in_progress },

    /* a posted IDEM_COMPLETE whose memory is overwritten at once, then
     * IDEM_BEGIN: done, with the stored answer in the caller's pool */
    { "idem_complete_posted_done", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_idem_done },

    /* IDEM_COMPLETE of an answer too big to keep: unavailable */
    { "idem_complete_unavailable", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_idem_unavailable },

    /* IDEM_RELEASE: not by another fingerprint; posted, the key is new */
    { "idem_release", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_idem_release },

    /* posted INV_PUT (overwritten, counter counted), GET, DROP, GET */
    { "inventory_put_get_drop", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_inventory },

    /* INV_GET takes the refresh lock of a stale entry once; INV_FAILED
     * frees it and bars a refresh; a new INV_PUT starts afresh */
    { "inventory_refresh_lock", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_inventory_refresh },

    /* EVENT accepted, duplicate id, stale version; its stock and item */
    { "event_accepted_duplicate_stale", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_events },

    /* EVENT version 0 first accepted (also after STOCK_SET), a second
     * version 0 stale, version 1 accepted once */
    { "event_version_zero", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_event_zero },

    /* STOCK_GET of unknown stock declined; SET then GET in flight */
    { "stock_set_get", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_stock },

    /* RESERVE ok; RESERVE short, with the flags of the short lines */
    { "reserve_ok_short", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_reserve_short },

    /* SETTLE commit (exec), release (posted), a second settle declined */
    { "settle_commit_release", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_settle },

    /* SWEEP: a hold past its time goes pending, still held; HOLD_LIST
     * lists it; SETTLE by id releases it, a second one is declined */
    { "sweep_pending", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_sweep },

    /* HOLD_UNKNOWN; HOLD_LIST of pending holds and of all; SETTLE commit
     * by id */
    { "hold_unknown_list_settle", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_unknown_list },

    /* an EVENT with a newer version settles the lines of its sku in holds
     * of unknown outcome, an older one does not; live holds stay */
    { "event_settles_unknown_holds", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_event_settles },

    /* offline_max slots: taken, given back, never settled by an EVENT */
    { "offline_slots", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_offline_slots },

    /* IDEM_BEGIN after the lock ran out: unavailable; IDEM_RELEASE only by
     * the lock's owner */
    { "idem_lock_runs_out", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_idem_lock },

    /* post, exec, post, exec of one worker run in that order */
    { "post_then_exec_in_order", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_fifo },

    /* ten execs of every kind in flight at once, answered in order, each
     * with its own result */
    { "in_flight_in_order", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_in_order },

    /* the same, answered in reverse order (the deferred back end's knob);
     * executed in order all the same */
    { "in_flight_out_of_order", NGX_MICROSHOP_SELFTEST_KNOBS,
      ngx_microshop_selftest_out_of_order },

    /* cancel before the answer: the handler never runs, the op is never
     * touched again, the answer is counted as late */
    { "cancel_before_answer", NGX_MICROSHOP_SELFTEST_LATER,
      ngx_microshop_selftest_cancel_before },

    /* exec of an op type that does not exist: rc NGX_ERROR */
    { "error_exec", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_error_exec },

    /* post of an op type that does not exist: counted as a store error */
    { "error_post", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_error_post },

    /* ops whose unused fields hold junk (what another type left in a
     * reused op): a back end reads only what the type reads */
    { "unused_fields_never_read", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_unused_fields },

    /* last: every handler ran exactly once over the whole run */
    /* FEED_APPEND posted, FEED_READ pages, after, limit 0, no feed */
    { "feed_append_read", NGX_MICROSHOP_SELFTEST_FEED,
      ngx_microshop_selftest_feed },

    /* USAGE_PUT posted, USAGE_GET: nothing kept in a store of one node */
    { "usage_one_node", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_usage },

    { "handlers_exactly_once", NGX_MICROSHOP_SELFTEST_ANY,
      ngx_microshop_selftest_once },

    { NULL, 0, NULL }
};


/* GET ?hold=<ms>: one exec() answered after <ms> */
static ngx_microshop_selftest_case_t  ngx_microshop_selftest_hold_cases[] = {

    { "hold", NGX_MICROSHOP_SELFTEST_KNOBS, ngx_microshop_selftest_hold },

    { NULL, 0, NULL }
};


char *
ngx_microshop_store_selftest_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char                      *env;
    ngx_http_core_loc_conf_t  *clcf;

    env = getenv(NGX_MICROSHOP_STORE_ENV);

    if (env == NULL || *env == '\0') {
        return "exists only for tests: it is refused unless the "
               "environment variable " NGX_MICROSHOP_STORE_ENV " is set "
               "(shm or deferred)";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_microshop_store_selftest_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_microshop_store_selftest_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc, n;
    ngx_str_t                        value;
    ngx_http_cleanup_t              *cln;
    ngx_microshop_selftest_t        *st;
    ngx_http_microshop_main_conf_t  *mmcf;

    if (r->method != NGX_HTTP_GET) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mmcf = ngx_microshop_main_conf(r);

    st = ngx_pcalloc(r->pool, sizeof(ngx_microshop_selftest_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->r = r;
    st->store = &mmcf->store;
    st->cases = ngx_microshop_selftest_cases;
    st->knobs = (st->store->backend == &ngx_microshop_store_deferred);

    if (ngx_http_arg(r, (u_char *) "hold", 4, &value) == NGX_OK) {
        n = ngx_atoi(value.data, value.len);
        if (n == NGX_ERROR) {
            return NGX_HTTP_BAD_REQUEST;
        }

        st->hold = (ngx_msec_t) n;
        st->cases = ngx_microshop_selftest_hold_cases;
    }

    if (ngx_array_init(&st->ops, r->pool, 64,
                       sizeof(ngx_microshop_selftest_op_t *))
        != NGX_OK
        || ngx_array_init(&st->failed, r->pool, 4,
                          sizeof(ngx_microshop_selftest_note_t))
           != NGX_OK
        || ngx_array_init(&st->skipped, r->pool, 4,
                          sizeof(ngx_microshop_selftest_note_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_microshop_selftest_cleanup;
    cln->data = st;

    ngx_microshop_selftest_runs++;

    /* alive until ngx_microshop_selftest_finish(), as upstreams do */
    r->main->count++;

    if (!r->discard_body) {
        /* notices a client that goes away */
        r->read_event_handler = ngx_http_test_reading;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_microshop_selftest_run(st);

    return NGX_DONE;
}
