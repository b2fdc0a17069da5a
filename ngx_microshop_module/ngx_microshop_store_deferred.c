/*
 * ngx_microshop: the "deferred" back end, a store that answers LATER.
 *
 * It exists for the tests.  It is chosen only by the test switch
 * NGX_MICROSHOP_TEST_STORE=deferred (make test-deferred,
 * docs/architecture.md), never by a directive.  The shm back end answers
 * every exec() at once, so feature code could ignore NGX_AGAIN, the
 * completion handler and cancel() and still pass every test; this back end
 * proves that every feature handles an operation that completes later, from
 * the event loop, after its request may have gone away.
 *
 * It models a network store (Redis) on one pipelined connection per
 * worker, in front of the very same records: it wraps an inner shm store on
 * the node-local zone (store->local).
 *
 *   exec()    takes a deep copy of the op, queues it (FIFO, per worker),
 *             points op->pending at the queued entry and returns NGX_AGAIN.
 *   post()    takes a deep copy and executes it at once, after every
 *             queued copy not executed yet (in submission order), as a
 *             network store has a posted command on the wire, behind the
 *             ones before it, when post() returns: a post followed by an
 *             exec of the same worker runs in that order, and another
 *             worker that reads after post() returned sees the write (an
 *             idempotency answer is stored before its last byte goes out).
 *             Only the accounting of a post is its own.
 *   the batch a 0 ms timer (or the delay set by the test knob) runs:
 *             first every queued copy not executed yet is executed on the
 *             inner shm store, in submission order; then the answers are
 *             delivered, in submission order or, with the test knob
 *             ngx_microshop_store_deferred_knobs(), in reverse: the
 *             result is copied into the caller's op (rc, out fields,
 *             strings into op->pool, the short_of_stock flags of the lines),
 *             op->pending is cleared and op->handler(op) runs exactly once.
 *             The answer of a cancelled op is counted as late and dropped.
 *   cancel()  marks the entry cancelled and clears op->pending; the op is
 *             never touched again.
 *
 * A caller that breaks the contract in a way a later answer would turn into
 * a crash (exec() without a handler) gets an alert that names the op.
 *
 * Every copy lives in a pool of its own (ngx_create_pool), with its entry,
 * never in a request's pool, and is freed once its answer was delivered or
 * dropped; the strings of a delivered answer are overwritten first, so a
 * result left pointing into the copy shows in any test.  What a handler
 * submits while a batch is being delivered goes to the next batch.
 *
 * Graceful shutdown (nginx -s quit, reload): only an exec() arms the
 * timer, and it is not cancelable: nginx keeps a shutting-down worker for
 * its requests only while they hold a timer, and a waiting request cut off
 * there would leave its socket open (an alert).  Posts never wait in the
 * queue, so the store never keeps a shutting-down worker for them.
 *
 * Exit of the worker: see ngx_microshop_store_deferred_drop().
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_microshop_store.h"
#include "ngx_microshop_store_deferred.h"


typedef struct {
    ngx_queue_t                    queue;     /* in the worker's FIFO */
    ngx_microshop_op_t            *copy;      /* run on the inner store; its
                                                 pool holds this entry too */
    ngx_microshop_op_t            *op;        /* the caller's until its
                                                 answer or cancel(); NULL:
                                                 cancelled */
    ngx_uint_t                     executed;  /* on the inner store */
} ngx_microshop_deferred_entry_t;


typedef struct {
    ngx_microshop_store_t          inner;     /* shm, on the same zone */
    ngx_queue_t                    queue;     /* submitted, not yet run */
    ngx_event_t                    event;     /* runs the queue */
    ngx_msec_t                     delay;     /* test knob */
    ngx_uint_t                     reverse;   /* test knob */
} ngx_microshop_deferred_t;


static ngx_int_t ngx_microshop_store_deferred_init_conf(ngx_conf_t *cf,
    ngx_microshop_store_t *store);
static ngx_int_t ngx_microshop_store_deferred_init_process(
    ngx_cycle_t *cycle, ngx_microshop_store_t *store);
static void ngx_microshop_store_deferred_exit_process(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store);
static ngx_int_t ngx_microshop_store_deferred_exec(
    ngx_microshop_store_t *store, ngx_microshop_op_t *op);
static void ngx_microshop_store_deferred_post(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op);
static void ngx_microshop_store_deferred_cancel(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op);
static ngx_microshop_deferred_entry_t *ngx_microshop_store_deferred_submit(
    ngx_microshop_store_t *store, ngx_microshop_op_t *op);
static void ngx_microshop_store_deferred_execute(ngx_microshop_deferred_t *d,
    ngx_queue_t *queue);
static void ngx_microshop_store_deferred_run(ngx_event_t *ev);
static void ngx_microshop_store_deferred_result(ngx_microshop_op_t *op,
    ngx_microshop_op_t *copy);
static ngx_int_t ngx_microshop_store_deferred_holds(ngx_microshop_op_t *op,
    ngx_microshop_op_t *copy);
static ngx_int_t ngx_microshop_store_deferred_revoked(ngx_microshop_op_t *op,
    ngx_microshop_op_t *copy);
static ngx_int_t ngx_microshop_store_deferred_feed(ngx_microshop_op_t *op,
    ngx_microshop_op_t *copy);
static ngx_int_t ngx_microshop_store_deferred_str(ngx_pool_t *pool,
    ngx_str_t *dst, ngx_str_t *src);
static void ngx_microshop_store_deferred_junk(ngx_str_t *s);
static void ngx_microshop_store_deferred_poison(ngx_microshop_op_t *copy);
static void ngx_microshop_store_deferred_drop(ngx_microshop_store_t *store);


const ngx_microshop_store_backend_t  ngx_microshop_store_deferred = {
    ngx_string("deferred"),
    ngx_microshop_store_deferred_init_conf,
    ngx_microshop_store_deferred_init_process,
    ngx_microshop_store_deferred_exit_process,
    ngx_microshop_store_deferred_exec,
    ngx_microshop_store_deferred_post,
    ngx_microshop_store_deferred_cancel
};


static ngx_int_t
ngx_microshop_store_deferred_init_conf(ngx_conf_t *cf,
    ngx_microshop_store_t *store)
{
    ngx_microshop_deferred_t  *d;

    d = ngx_pcalloc(cf->pool, sizeof(ngx_microshop_deferred_t));
    if (d == NULL) {
        return NGX_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     d->event = { 0 };  the log is the worker's, set on first use
     *     d->delay = 0;
     *     d->reverse = 0;
     */

    d->inner.backend = &ngx_microshop_store_shm;
    d->inner.local = store->local;
    d->inner.feed = store->feed;
    d->inner.feed_keep = store->feed_keep;

    if (ngx_microshop_store_shm.init_conf(cf, &d->inner) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_queue_init(&d->queue);

    d->event.handler = ngx_microshop_store_deferred_run;
    d->event.data = store;

    store->data = d;

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_store_deferred_init_process(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store)
{
    ngx_microshop_deferred_t  *d;

    d = store->data;
    d->event.log = cycle->log;

    return NGX_OK;
}


static void
ngx_microshop_store_deferred_exit_process(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store)
{
    ngx_microshop_store_deferred_drop(store);
}


static ngx_int_t
ngx_microshop_store_deferred_exec(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op)
{
    ngx_microshop_deferred_entry_t  *e;

    if (op->handler == NULL) {
        /*
         * A broken caller: nothing could ever deliver the answer.  Said
         * loudly (the suite fails on alerts) instead of a crash later;
         * the op runs as a post would, its memory never touched again.
         */

        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "microshop deferred: exec() of op %ui without a "
                      "handler; work nobody waits for goes through post()",
                      (ngx_uint_t) op->type);

        ngx_microshop_store_deferred_post(store, op);

        return NGX_AGAIN;
    }

    e = ngx_microshop_store_deferred_submit(store, op);

    if (e == NULL) {
        /* finished now: the store could not take it */
        op->rc = NGX_ERROR;
        return NGX_OK;
    }

    e->op = op;
    op->pending = e;

    return NGX_AGAIN;
}


static void
ngx_microshop_store_deferred_post(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op)
{
    ngx_microshop_op_t        *copy;
    ngx_microshop_deferred_t  *d;

    d = store->data;

    /* a copy all the same: the inner store must read only what the
     * contract says a post keeps */

    copy = ngx_microshop_store_op_copy(op, ngx_cycle->log);
    if (copy == NULL) {
        op->rc = NGX_ERROR;
        ngx_microshop_store_posted(store, op);
        return;
    }

    ngx_microshop_store_deferred_execute(d, &d->queue);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "microshop deferred: post op %ui executed", op->type);

    ngx_microshop_store_exec(&d->inner, copy);
    ngx_microshop_store_posted(store, copy);
    ngx_destroy_pool(copy->pool);
}


/* the copies of queue not executed yet, in submission order */

static void
ngx_microshop_store_deferred_execute(ngx_microshop_deferred_t *d,
    ngx_queue_t *queue)
{
    ngx_queue_t                     *q;
    ngx_microshop_deferred_entry_t  *e;

    for (q = ngx_queue_head(queue);
         q != ngx_queue_sentinel(queue);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_microshop_deferred_entry_t, queue);

        if (!e->executed) {
            (void) ngx_microshop_store_exec(&d->inner, e->copy);
            e->executed = 1;
        }
    }
}


static void
ngx_microshop_store_deferred_cancel(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op)
{
    ngx_microshop_deferred_entry_t  *e;

    e = op->pending;

    if (e == NULL) {
        /* answered already, or never pending */
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "microshop deferred: cancel op %ui", op->type);

    /* the answer still comes and is dropped by the batch */
    e->op = NULL;
    op->pending = NULL;
}


static ngx_microshop_deferred_entry_t *
ngx_microshop_store_deferred_submit(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op)
{
    ngx_microshop_op_t              *copy;
    ngx_microshop_deferred_t        *d;
    ngx_microshop_deferred_entry_t  *e;

    d = store->data;

    copy = ngx_microshop_store_op_copy(op, ngx_cycle->log);
    if (copy == NULL) {
        return NULL;
    }

    e = ngx_pcalloc(copy->pool, sizeof(ngx_microshop_deferred_entry_t));
    if (e == NULL) {
        ngx_destroy_pool(copy->pool);
        return NULL;
    }

    e->copy = copy;

    ngx_queue_insert_tail(&d->queue, &e->queue);

    if (d->event.log == NULL) {
        d->event.log = ngx_cycle->log;
    }

    /* a request waits for the answer: it holds a shutdown */
    d->event.cancelable = 0;

    if (!d->event.timer_set) {
        ngx_add_timer(&d->event, d->delay);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "microshop deferred: exec op %ui queued, delay %M",
                   op->type, d->delay);

    return e;
}


static void
ngx_microshop_store_deferred_run(ngx_event_t *ev)
{
    ngx_queue_t                     *q, batch;
    ngx_microshop_op_t              *op;
    ngx_microshop_store_t           *store;
    ngx_microshop_deferred_t        *d;
    ngx_microshop_deferred_entry_t  *e;

    store = ev->data;
    d = store->data;

    if (ngx_queue_empty(&d->queue)) {
        return;
    }

    /* what the handlers below submit goes to the next batch */

    ngx_queue_init(&batch);
    ngx_queue_add(&batch, &d->queue);
    ngx_queue_init(&d->queue);

    /* the store executes in submission order */

    ngx_microshop_store_deferred_execute(d, &batch);

    /*
     * The answers: a handler may cancel an op further down the batch (its
     * request finalized another one), so e->op is read at delivery.
     */

    while (!ngx_queue_empty(&batch)) {
        q = d->reverse ? ngx_queue_last(&batch) : ngx_queue_head(&batch);
        ngx_queue_remove(q);

        e = ngx_queue_data(q, ngx_microshop_deferred_entry_t, queue);
        op = e->op;

        if (op == NULL) {
            ngx_microshop_store_late(store);

        } else {
            op->pending = NULL;
            ngx_microshop_store_deferred_result(op, e->copy);
            ngx_microshop_store_deferred_poison(e->copy);
        }

        ngx_destroy_pool(e->copy->pool);

        if (op) {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                           "microshop deferred: op %ui answered rc:%i",
                           op->type, op->rc);

            op->handler(op);
        }
    }
}


/* what exec() on the shm store would have left in the caller's op */

static void
ngx_microshop_store_deferred_result(ngx_microshop_op_t *op,
    ngx_microshop_op_t *copy)
{
    ngx_uint_t  i;

    op->rc = copy->rc;

    switch (op->type) {

    case NGX_MICROSHOP_OP_GCRA:
        op->u.gcra.result = copy->u.gcra.result;
        break;

    case NGX_MICROSHOP_OP_IDEM_BEGIN:
        op->u.idem.result = copy->u.idem.result;

        if (copy->rc == NGX_OK
            && copy->u.idem.result == NGX_MICROSHOP_IDEM_DONE
            && ngx_microshop_store_deferred_str(op->pool, &op->u.idem.response,
                                                &copy->u.idem.response)
               != NGX_OK)
        {
            op->rc = NGX_ERROR;
        }

        break;

    case NGX_MICROSHOP_OP_INV_GET:
        if (copy->rc != NGX_OK) {
            break;
        }

        if (ngx_microshop_store_deferred_str(op->pool, &op->u.inv.body,
                                             &copy->u.inv.body)
            != NGX_OK
            || ngx_microshop_store_deferred_str(op->pool, &op->u.inv.etag,
                                                &copy->u.inv.etag)
               != NGX_OK)
        {
            op->rc = NGX_ERROR;
            break;
        }

        op->u.inv.stored_at = copy->u.inv.stored_at;
        op->u.inv.version = copy->u.inv.version;
        op->u.inv.refresh = copy->u.inv.refresh;
        op->u.inv.failed = copy->u.inv.failed;
        break;

    case NGX_MICROSHOP_OP_EVENT:
        op->u.event.result = copy->u.event.result;
        break;

    case NGX_MICROSHOP_OP_STOCK_SET:
    case NGX_MICROSHOP_OP_STOCK_GET:
        op->u.stock.available = copy->u.stock.available;
        op->u.stock.held = copy->u.stock.held;
        break;

    case NGX_MICROSHOP_OP_RESERVE:
        for (i = 0; i < op->u.reserve.nlines; i++) {
            op->u.reserve.lines[i].short_of_stock =
                                 copy->u.reserve.lines[i].short_of_stock;
            op->u.reserve.lines[i].available =
                                 copy->u.reserve.lines[i].available;
            op->u.reserve.lines[i].held = copy->u.reserve.lines[i].held;
        }

        op->u.reserve.held = copy->u.reserve.held;
        op->u.reserve.offline = copy->u.reserve.offline;
        break;

    case NGX_MICROSHOP_OP_HOLD_LIST:
        op->u.reserve.holds = NULL;
        op->u.reserve.nholds = 0;
        op->u.reserve.total = copy->u.reserve.total;

        if (copy->rc == NGX_OK
            && ngx_microshop_store_deferred_holds(op, copy) != NGX_OK)
        {
            op->rc = NGX_ERROR;
        }

        break;

    case NGX_MICROSHOP_OP_SETTLE:
        if (copy->rc == NGX_OK && op->u.reserve.seller.len == 0
            && copy->u.reserve.seller.len
            && ngx_microshop_store_deferred_str(op->pool, &op->u.reserve.seller,
                                                &copy->u.reserve.seller)
               != NGX_OK)
        {
            op->rc = NGX_ERROR;
        }

        break;

    case NGX_MICROSHOP_OP_FEED_READ:
        op->u.feed.events = NULL;
        op->u.feed.nevents = 0;
        op->u.feed.last = copy->u.feed.last;
        op->u.feed.missed = copy->u.feed.missed;

        if (copy->rc == NGX_OK
            && ngx_microshop_store_deferred_feed(op, copy) != NGX_OK)
        {
            op->rc = NGX_ERROR;
        }

        break;

    case NGX_MICROSHOP_OP_REVOKED_LIST:
        op->u.revoked_list.jtis = NULL;
        op->u.revoked_list.njtis = 0;
        op->u.revoked_list.watermarks = NULL;
        op->u.revoked_list.nwatermarks = 0;
        op->u.revoked_list.truncated = copy->u.revoked_list.truncated;

        if (copy->rc == NGX_OK
            && ngx_microshop_store_deferred_revoked(op, copy) != NGX_OK)
        {
            op->rc = NGX_ERROR;
        }

        break;

    default:
        /* the others answer with rc alone */
        break;
    }
}


/* what REVOKED_LIST found, into the caller's pool */

static ngx_int_t
ngx_microshop_store_deferred_revoked(ngx_microshop_op_t *op,
    ngx_microshop_op_t *copy)
{
    ngx_uint_t                    i, nj, nw;
    ngx_microshop_watermark_t    *w, *wfrom;
    ngx_microshop_revoked_jti_t  *j, *jfrom;

    nj = copy->u.revoked_list.njtis;
    nw = copy->u.revoked_list.nwatermarks;

    if (nj + nw == 0) {
        return NGX_OK;
    }

    if (op->pool == NULL) {
        return NGX_ERROR;
    }

    j = ngx_pcalloc(op->pool, (nj + 1) * sizeof(ngx_microshop_revoked_jti_t));
    w = ngx_pcalloc(op->pool, (nw + 1) * sizeof(ngx_microshop_watermark_t));

    if (j == NULL || w == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < nj; i++) {
        jfrom = &copy->u.revoked_list.jtis[i];
        j[i].exp = jfrom->exp;

        if (ngx_microshop_store_deferred_str(op->pool, &j[i].jti, &jfrom->jti)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < nw; i++) {
        wfrom = &copy->u.revoked_list.watermarks[i];
        w[i].before = wfrom->before;
        w[i].until = wfrom->until;

        if (ngx_microshop_store_deferred_str(op->pool, &w[i].seller,
                                             &wfrom->seller)
            != NGX_OK
            || ngx_microshop_store_deferred_str(op->pool, &w[i].class,
                                                &wfrom->class)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    op->u.revoked_list.jtis = j;
    op->u.revoked_list.njtis = nj;
    op->u.revoked_list.watermarks = w;
    op->u.revoked_list.nwatermarks = nw;

    return NGX_OK;
}


/* the holds HOLD_LIST found, into the caller's pool */

static ngx_int_t
ngx_microshop_store_deferred_holds(ngx_microshop_op_t *op,
    ngx_microshop_op_t *copy)
{
    ngx_uint_t             i, k;
    ngx_microshop_hold_t  *h, *from;

    if (copy->u.reserve.nholds == 0) {
        return NGX_OK;
    }

    if (op->pool == NULL) {
        return NGX_ERROR;
    }

    h = ngx_pcalloc(op->pool,
                    copy->u.reserve.nholds * sizeof(ngx_microshop_hold_t));
    if (h == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < copy->u.reserve.nholds; i++) {
        from = &copy->u.reserve.holds[i];

        h[i] = *from;
        h[i].lines = ngx_pcalloc(op->pool, (from->nlines + 1)
                                           * sizeof(ngx_microshop_line_t));

        if (h[i].lines == NULL
            || ngx_microshop_store_deferred_str(op->pool, &h[i].id,
                                                &from->id)
               != NGX_OK
            || ngx_microshop_store_deferred_str(op->pool, &h[i].seller,
                                                &from->seller)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (k = 0; k < from->nlines; k++) {
            h[i].lines[k] = from->lines[k];

            if (ngx_microshop_store_deferred_str(op->pool, &h[i].lines[k].sku,
                                                 &from->lines[k].sku)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    op->u.reserve.holds = h;
    op->u.reserve.nholds = copy->u.reserve.nholds;

    return NGX_OK;
}


/* the events of a FEED_READ, into the caller's pool, each data NUL-ended
 * as the shm store leaves it */

static ngx_int_t
ngx_microshop_store_deferred_feed(ngx_microshop_op_t *op,
    ngx_microshop_op_t *copy)
{
    u_char                      *p;
    ngx_uint_t                   i;
    ngx_microshop_feed_event_t  *ev, *from;

    if (copy->u.feed.nevents == 0) {
        return NGX_OK;
    }

    if (op->pool == NULL) {
        return NGX_ERROR;
    }

    ev = ngx_palloc(op->pool,
                    copy->u.feed.nevents * sizeof(ngx_microshop_feed_event_t));
    if (ev == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < copy->u.feed.nevents; i++) {
        from = &copy->u.feed.events[i];

        ev[i] = *from;
        ev[i].data.data = ngx_pnalloc(op->pool, from->data.len + 1);
        if (ev[i].data.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_microshop_cpymem(ev[i].data.data, from->data.data,
                                 from->data.len);
        *p = '\0';
    }

    op->u.feed.events = ev;
    op->u.feed.nevents = copy->u.feed.nevents;

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_store_deferred_str(ngx_pool_t *pool, ngx_str_t *dst,
    ngx_str_t *src)
{
    u_char  *p;

    if (pool == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, src->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_microshop_cpymem(p, src->data, src->len);

    dst->data = p;
    dst->len = src->len;

    return NGX_OK;
}


/*
 * The strings of an answer are overwritten before the copy is freed: a
 * result that still points into the copy instead of the caller's pool
 * then reads as junk in any test, not only under valgrind.
 */

static void
ngx_microshop_store_deferred_junk(ngx_str_t *s)
{
    /* an empty string may have a NULL data: memset(NULL, c, 0) is UB */
    if (s->len) {
        ngx_memset(s->data, '#', s->len);
    }
}


static void
ngx_microshop_store_deferred_poison(ngx_microshop_op_t *copy)
{
    ngx_uint_t             i, k;
    ngx_microshop_hold_t  *h;

    switch (copy->type) {

    case NGX_MICROSHOP_OP_IDEM_BEGIN:
        ngx_microshop_store_deferred_junk(&copy->u.idem.response);
        break;

    case NGX_MICROSHOP_OP_INV_GET:
        ngx_microshop_store_deferred_junk(&copy->u.inv.body);
        ngx_microshop_store_deferred_junk(&copy->u.inv.etag);
        break;

    case NGX_MICROSHOP_OP_REVOKED_LIST:
        for (i = 0; copy->rc == NGX_OK && i < copy->u.revoked_list.njtis; i++)
        {
            ngx_microshop_store_deferred_junk(
                &copy->u.revoked_list.jtis[i].jti);
        }

        for (i = 0;
             copy->rc == NGX_OK && i < copy->u.revoked_list.nwatermarks;
             i++)
        {
            ngx_microshop_store_deferred_junk(
                &copy->u.revoked_list.watermarks[i].seller);
            ngx_microshop_store_deferred_junk(
                &copy->u.revoked_list.watermarks[i].class);
        }

        break;

    case NGX_MICROSHOP_OP_FEED_READ:
        for (i = 0; copy->rc == NGX_OK && i < copy->u.feed.nevents; i++) {
            ngx_microshop_store_deferred_junk(&copy->u.feed.events[i].data);
        }

        break;

    case NGX_MICROSHOP_OP_HOLD_LIST:
        for (i = 0; copy->rc == NGX_OK && i < copy->u.reserve.nholds; i++) {
            h = &copy->u.reserve.holds[i];

            ngx_microshop_store_deferred_junk(&h->id);
            ngx_microshop_store_deferred_junk(&h->seller);

            for (k = 0; k < h->nlines; k++) {
                ngx_microshop_store_deferred_junk(&h->lines[k].sku);
            }
        }

        break;

    default:
        break;
    }
}


/*
 * The worker exits with ops still queued (a fast shutdown; a graceful one
 * waits for the ops requests wait for, see above).
 *
 * Posts never wait here (post() executes them).  Execs are dropped and
 * their handlers are NOT called: a handler resumes its request (phases,
 * upstream, output) in a process that is tearing its cycle down, and nginx
 * does not finalize requests on exit either.  One that no later post
 * executed leaves nothing a retry on another worker would trip over (an
 * idempotency lock, a hold, a spent rate-limit unit); one that a post
 * executed stays done, as a command a network store received does.  Their
 * ops are not touched: their requests may be gone.  Nothing is counted as
 * late, no answer arrived.
 *
 * Every copy is freed.
 */

static void
ngx_microshop_store_deferred_drop(ngx_microshop_store_t *store)
{
    ngx_uint_t                       dropped;
    ngx_queue_t                     *q;
    ngx_microshop_deferred_t        *d;
    ngx_microshop_deferred_entry_t  *e;

    d = store->data;

    if (d == NULL) {
        return;
    }

    if (d->event.timer_set) {
        ngx_del_timer(&d->event);
    }

    dropped = 0;

    while (!ngx_queue_empty(&d->queue)) {
        q = ngx_queue_head(&d->queue);
        ngx_queue_remove(q);

        e = ngx_queue_data(q, ngx_microshop_deferred_entry_t, queue);

        dropped++;

        ngx_destroy_pool(e->copy->pool);
    }

    if (dropped) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "microshop deferred: %ui operations dropped on exit",
                      dropped);
    }
}


ngx_int_t
ngx_microshop_store_deferred_knobs(ngx_microshop_store_t *store,
    ngx_uint_t reverse, ngx_msec_t delay)
{
    ngx_microshop_deferred_t  *d;

    if (store->backend != &ngx_microshop_store_deferred) {
        return NGX_DECLINED;
    }

    d = store->data;
    d->reverse = reverse;
    d->delay = delay;

    return NGX_OK;
}
