/*
 * ngx_microshop: the conformance suite of the store contract (see the
 * header), one scripted sequence of cases run inside a worker against the
 * configured back end, whatever it is.
 *
 * A case is a list of steps.  A step checks what the ops of the step before
 * answered and submits the next ones; the next step runs once every exec()
 * it submitted was answered, at once (NGX_OK) or later (its handler).  So
 * the same script runs against a back end that answers at once (shm) and
 * one that answers later (deferred).  Every case works on keys of its own
 * seller, unique per run, so the suite can run again on the same zone.
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
#define NGX_MICROSHOP_SELFTEST_STEPS   8
#define NGX_MICROSHOP_SELFTEST_KEY     128
#define NGX_MICROSHOP_SELFTEST_KEEP    60000          /* ms */
#define NGX_MICROSHOP_SELFTEST_MINUTE  60000000       /* us */
#define NGX_MICROSHOP_SELFTEST_BAD_OP  99             /* no such op */
#define NGX_MICROSHOP_SELFTEST_JUNK    0x5a

/* what a case needs of the back end */
#define NGX_MICROSHOP_SELFTEST_ANY     0
#define NGX_MICROSHOP_SELFTEST_LATER   1    /* answers later: cancel */
#define NGX_MICROSHOP_SELFTEST_KNOBS   2    /* the deferred back end's */

#define NGX_MICROSHOP_SELFTEST_ANSWER                                         \
    "HTTP/1.1 201 Created\r\nContent-Length: 6\r\n\r\nstored"
#define NGX_MICROSHOP_SELFTEST_BODY    "{\"sku\":\"inv\",\"available\":3}"
#define NGX_MICROSHOP_SELFTEST_ETAG    "\"v1\""
#define NGX_MICROSHOP_SELFTEST_ITEM    "{\"sku\":\"ev\",\"available\":7}"
#define NGX_MICROSHOP_SELFTEST_IETAG   "\"e1\""


typedef struct ngx_microshop_selftest_s  ngx_microshop_selftest_t;

typedef ngx_int_t (*ngx_microshop_selftest_step_pt)(
    ngx_microshop_selftest_t *st);


typedef struct {
    char                            *name;
    ngx_uint_t                       needs;
    ngx_microshop_selftest_step_pt   steps[NGX_MICROSHOP_SELFTEST_STEPS];
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
    ngx_atomic_uint_t                before[2]; /* counters */
    ngx_str_t                        seller;    /* of the case */
    ngx_array_t                      ops;       /* every exec, for cancel */
    ngx_array_t                      failed;    /* notes */
    ngx_array_t                      skipped;   /* notes */
    ngx_microshop_selftest_op_t     *t[NGX_MICROSHOP_SELFTEST_OPS];

    unsigned                         knobs:1;   /* deferred back end */
    unsigned                         knobs_set:1;
    unsigned                         case_failed:1;
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
static ngx_int_t ngx_microshop_selftest_fail(ngx_microshop_selftest_t *st,
    const char *fmt, ...);
static ngx_int_t ngx_microshop_selftest_note(ngx_microshop_selftest_t *st,
    ngx_array_t *a, char *name, u_char *why, size_t len);
static ngx_int_t ngx_microshop_selftest_expect(ngx_microshop_selftest_t *st,
    ngx_uint_t ok, const char *fmt, ...);
static u_char *ngx_microshop_selftest_key(ngx_microshop_selftest_t *st,
    u_char *p, char *name, ngx_uint_t sku);
static ngx_microshop_selftest_op_t *ngx_microshop_selftest_op(
    ngx_microshop_selftest_t *st, ngx_uint_t i, ngx_uint_t type, char *name,
    ngx_uint_t sku);
static ngx_int_t ngx_microshop_selftest_exec(ngx_microshop_selftest_t *st,
    ngx_microshop_selftest_op_t *t);
static void ngx_microshop_selftest_post(ngx_microshop_selftest_t *st,
    ngx_microshop_op_t *op, char *name, ngx_uint_t sku);
static ngx_int_t ngx_microshop_selftest_cancel(ngx_microshop_selftest_t *st,
    ngx_microshop_selftest_op_t *t);
static ngx_uint_t ngx_microshop_selftest_junk(ngx_microshop_selftest_op_t *t);
static ngx_uint_t ngx_microshop_selftest_same(ngx_str_t *s, char *text);
static ngx_atomic_uint_t ngx_microshop_selftest_counter(
    ngx_microshop_selftest_t *st, ngx_uint_t counter);

static ngx_int_t ngx_microshop_selftest_gcra(ngx_microshop_selftest_t *st,
    ngx_uint_t i, char *name, int64_t burst);
static ngx_int_t ngx_microshop_selftest_idem(ngx_microshop_selftest_t *st,
    ngx_uint_t i, char *name, u_char fp);
static void ngx_microshop_selftest_idem_post(ngx_microshop_selftest_t *st,
    ngx_uint_t type, char *name, u_char fp, ngx_uint_t unavailable);
static ngx_int_t ngx_microshop_selftest_stock(ngx_microshop_selftest_t *st,
    ngx_uint_t i, ngx_uint_t type, char *sku, int64_t available);
static void ngx_microshop_selftest_stock_post(ngx_microshop_selftest_t *st,
    char *sku, int64_t available);
static ngx_microshop_selftest_op_t *ngx_microshop_selftest_reserve(
    ngx_microshop_selftest_t *st, ngx_uint_t i, ngx_uint_t type, char *id,
    char *sku1, int64_t q1, char *sku2, int64_t q2);
static ngx_int_t ngx_microshop_selftest_stock_is(ngx_microshop_selftest_t *st,
    ngx_uint_t i, int64_t available, int64_t held);

static ngx_int_t ngx_microshop_selftest_gcra_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_gcra_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_gcra_3(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_revoke_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_revoke_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_revoke_3(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_revoke_4(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_begin_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_begin_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_begin_3(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_done_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_done_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_done_3(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_unavail_1(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_unavail_2(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_unavail_3(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_release_1(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_release_2(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_release_3(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_release_4(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_release_5(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_inv_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_inv_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_inv_3(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_inv_4(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_event_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_event_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_event_3(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_event(ngx_microshop_selftest_t *st,
    ngx_uint_t i, char *id, int64_t version);
static ngx_int_t ngx_microshop_selftest_stock_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_stock_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_reserve_1(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_reserve_2(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_reserve_3(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_reserve_4(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_reserve_5(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_settle_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_settle_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_settle_3(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_settle_4(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_sweep_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_sweep_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_sweep_3(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_sweep_4(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_fifo_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_fifo_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_batch(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_batch_check(
    ngx_microshop_selftest_t *st, ngx_uint_t reverse);
static ngx_int_t ngx_microshop_selftest_inorder_2(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_reorder_1(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_reorder_2(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_cancel_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_cancel_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_cancel_3(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_error_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_error_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_perror_1(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_perror_2(
    ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_stale_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_stale_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_once_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_once_2(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_hold_1(ngx_microshop_selftest_t *st);
static ngx_int_t ngx_microshop_selftest_hold_2(ngx_microshop_selftest_t *st);


static ngx_microshop_selftest_case_t  ngx_microshop_selftest_cases[] = {

    /* GCRA: a full bucket of one allows, the next request is denied */
    { "gcra_allow_deny", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_gcra_1, ngx_microshop_selftest_gcra_2,
        ngx_microshop_selftest_gcra_3, NULL } },

    /* IS_REVOKED declined, REVOKE, IS_REVOKED found */
    { "revoke", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_revoke_1, ngx_microshop_selftest_revoke_2,
        ngx_microshop_selftest_revoke_3, ngx_microshop_selftest_revoke_4,
        NULL } },

    /* IDEM_BEGIN: new, then in progress and mismatch in flight together */
    { "idem_new_in_progress_mismatch", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_begin_1, ngx_microshop_selftest_begin_2,
        ngx_microshop_selftest_begin_3, NULL } },

    /* a posted IDEM_COMPLETE whose memory is overwritten at once, then
     * IDEM_BEGIN: done, with the stored answer in the caller's pool */
    { "idem_complete_posted_done", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_done_1, ngx_microshop_selftest_done_2,
        ngx_microshop_selftest_done_3, NULL } },

    /* IDEM_COMPLETE of an answer too big to keep: unavailable */
    { "idem_complete_unavailable", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_unavail_1, ngx_microshop_selftest_unavail_2,
        ngx_microshop_selftest_unavail_3, NULL } },

    /* IDEM_RELEASE: not by another fingerprint; posted, the key is new */
    { "idem_release", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_release_1, ngx_microshop_selftest_release_2,
        ngx_microshop_selftest_release_3, ngx_microshop_selftest_release_4,
        ngx_microshop_selftest_release_5, NULL } },

    /* posted INV_PUT (overwritten, counter counted), GET, DROP, GET */
    { "inventory_put_get_drop", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_inv_1, ngx_microshop_selftest_inv_2,
        ngx_microshop_selftest_inv_3, ngx_microshop_selftest_inv_4,
        NULL } },

    /* EVENT accepted, duplicate id, stale version; its stock and item */
    { "event_accepted_duplicate_stale", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_event_1, ngx_microshop_selftest_event_2,
        ngx_microshop_selftest_event_3, NULL } },

    /* STOCK_GET of unknown stock declined; SET then GET in flight */
    { "stock_set_get", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_stock_1, ngx_microshop_selftest_stock_2,
        NULL } },

    /* RESERVE ok; RESERVE short, with the flags of the short lines */
    { "reserve_ok_short", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_reserve_1, ngx_microshop_selftest_reserve_2,
        ngx_microshop_selftest_reserve_3, ngx_microshop_selftest_reserve_4,
        ngx_microshop_selftest_reserve_5, NULL } },

    /* SETTLE commit (exec), release (posted), a second settle declined */
    { "settle_commit_release", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_settle_1, ngx_microshop_selftest_settle_2,
        ngx_microshop_selftest_settle_3, ngx_microshop_selftest_settle_4,
        NULL } },

    /* SWEEP releases a hold past its time */
    { "sweep", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_sweep_1, ngx_microshop_selftest_sweep_2,
        ngx_microshop_selftest_sweep_3, ngx_microshop_selftest_sweep_4,
        NULL } },

    /* post, exec, post, exec of one worker run in that order */
    { "post_then_exec_in_order", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_fifo_1, ngx_microshop_selftest_fifo_2,
        NULL } },

    /* ten execs of every kind in flight at once, answered in order, each
     * with its own result */
    { "in_flight_in_order", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_batch, ngx_microshop_selftest_inorder_2,
        NULL } },

    /* the same, answered in reverse order (the deferred back end's knob);
     * executed in order all the same */
    { "in_flight_out_of_order", NGX_MICROSHOP_SELFTEST_KNOBS,
      { ngx_microshop_selftest_reorder_1, ngx_microshop_selftest_reorder_2,
        NULL } },

    /* cancel before the answer: the handler never runs, the op is never
     * touched again, the answer is counted as late */
    { "cancel_before_answer", NGX_MICROSHOP_SELFTEST_LATER,
      { ngx_microshop_selftest_cancel_1, ngx_microshop_selftest_cancel_2,
        ngx_microshop_selftest_cancel_3, NULL } },

    /* exec of an op type that does not exist: rc NGX_ERROR */
    { "error_exec", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_error_1, ngx_microshop_selftest_error_2,
        NULL } },

    /* post of an op type that does not exist: counted as a store error */
    { "error_post", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_perror_1, ngx_microshop_selftest_perror_2,
        NULL } },

    /* ops whose unused fields hold junk (what another type left in a
     * reused op): a back end reads only what the type reads */
    { "unused_fields_never_read", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_stale_1, ngx_microshop_selftest_stale_2,
        NULL } },

    /* last: every handler ran exactly once over the whole run */
    { "handlers_exactly_once", NGX_MICROSHOP_SELFTEST_ANY,
      { ngx_microshop_selftest_once_1, ngx_microshop_selftest_once_2,
        NULL } },

    { NULL, 0, { NULL } }
};


/* GET ?hold=<ms>: one exec() answered after <ms> */
static ngx_microshop_selftest_case_t  ngx_microshop_selftest_hold_cases[] = {

    { "hold", NGX_MICROSHOP_SELFTEST_KNOBS,
      { ngx_microshop_selftest_hold_1, ngx_microshop_selftest_hold_2,
        NULL } },

    { NULL, 0, { NULL } }
};


static ngx_uint_t  ngx_microshop_selftest_runs;


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


static void
ngx_microshop_selftest_run(ngx_microshop_selftest_t *st)
{
    char                            *why;
    ngx_int_t                        rc;
    ngx_microshop_selftest_case_t   *c;
    ngx_microshop_selftest_step_pt   step;

    if (st->running) {
        return;
    }

    st->running = 1;

    while (st->inflight == 0) {

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

        step = st->case_failed ? NULL : c->steps[st->nstep];

        if (step == NULL) {
            if (!st->case_failed) {
                st->passed++;
            }

            st->ncase++;
            st->nstep = 0;
            continue;
        }

        st->nstep++;

        rc = step(st);

        if (rc == NGX_ERROR) {
            goto failed;
        }

        /* NGX_DECLINED: the case failed, its other steps are skipped */
    }

    st->running = 0;

    return;

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
        (void) ngx_microshop_store_deferred_reverse(st->store, 0);
        (void) ngx_microshop_store_deferred_delay(st->store, 0);
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
        (void) ngx_microshop_selftest_fail(st,
                   "a handler ran %s (op %ui)",
                   t->calls > 1 ? "twice" : "after cancel() or an answer "
                   "at once", (ngx_uint_t) op->type);
        return;
    }

    if (op->pending) {
        (void) ngx_microshop_selftest_fail(st,
                   "op->pending still set when the handler of op %ui ran",
                   (ngx_uint_t) op->type);
    }

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


/* the current case failed: why; returns NGX_DECLINED (or NGX_ERROR) */

static ngx_int_t
ngx_microshop_selftest_fail(ngx_microshop_selftest_t *st, const char *fmt,
    ...)
{
    char     *name;
    u_char   *p, buf[256];
    va_list   args;

    if (st->case_failed) {
        return NGX_DECLINED;
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
        return NGX_ERROR;
    }

    return NGX_DECLINED;
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


/* NGX_OK when ok, else the case fails with the message */

static ngx_int_t
ngx_microshop_selftest_expect(ngx_microshop_selftest_t *st, ngx_uint_t ok,
    const char *fmt, ...)
{
    u_char   *p, buf[256];
    va_list   args;

    if (ok) {
        return NGX_OK;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    return ngx_microshop_selftest_fail(st, "%s", buf);
}


/* "seller\nsku" keys of inventory and stock, or "selftest:seller:name" */

static u_char *
ngx_microshop_selftest_key(ngx_microshop_selftest_t *st, u_char *p,
    char *name, ngx_uint_t sku)
{
    if (sku) {
        return ngx_sprintf(p, "%V\n%s", &st->seller, name);
    }

    return ngx_sprintf(p, "selftest:%V:%s", &st->seller, name);
}


static ngx_microshop_selftest_op_t *
ngx_microshop_selftest_op(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t type, char *name, ngx_uint_t sku)
{
    u_char                       *p;
    ngx_microshop_selftest_op_t  *t;

    t = ngx_pcalloc(st->r->pool, sizeof(ngx_microshop_selftest_op_t));
    if (t == NULL) {
        return NULL;
    }

    p = ngx_pnalloc(st->r->pool, NGX_MICROSHOP_SELFTEST_KEY);
    if (p == NULL) {
        return NULL;
    }

    t->op.type = type;
    t->op.key.data = p;
    t->op.key.len = ngx_microshop_selftest_key(st, p, name, sku) - p;
    t->op.pool = st->r->pool;
    t->op.handler = ngx_microshop_selftest_done;
    t->op.data = t;
    t->st = st;

    st->t[i] = t;

    return t;
}


/* NGX_ERROR: out of memory; a broken contract fails the case */

static ngx_int_t
ngx_microshop_selftest_exec(ngx_microshop_selftest_t *st,
    ngx_microshop_selftest_op_t *t)
{
    ngx_int_t                      rc;
    ngx_microshop_selftest_op_t  **p;

    p = ngx_array_push(&st->ops);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *p = t;

    t->pending = 1;
    st->inflight++;

    st->in_exec = 1;
    rc = ngx_microshop_store_exec(st->store, &t->op);
    st->in_exec = 0;

    if (t->calls) {
        rc = ngx_microshop_selftest_fail(st,
                 "the handler of op %ui ran inside exec()",
                 (ngx_uint_t) t->op.type);

        return rc == NGX_ERROR ? NGX_ERROR : NGX_OK;
    }

    if (rc == NGX_AGAIN) {
        t->later = 1;
        st->later++;
        return NGX_OK;
    }

    t->pending = 0;
    t->order = ++st->finished;
    st->inflight--;

    if (rc != NGX_OK || t->op.pending) {
        rc = ngx_microshop_selftest_fail(st,
                 "exec() of op %ui returned %i, op->pending %p",
                 (ngx_uint_t) t->op.type, rc, t->op.pending);

        return rc == NGX_ERROR ? NGX_ERROR : NGX_OK;
    }

    return NGX_OK;
}


/*
 * post() of an op on this stack frame, keyed from a buffer of this frame:
 * both are overwritten as soon as post() returns, as a caller may free
 * them.  The caller overwrites the buffers its strings point to.
 */

static void
ngx_microshop_selftest_post(ngx_microshop_selftest_t *st,
    ngx_microshop_op_t *op, char *name, ngx_uint_t sku)
{
    u_char  key[NGX_MICROSHOP_SELFTEST_KEY];

    op->key.data = key;
    op->key.len = ngx_microshop_selftest_key(st, key, name, sku) - key;
    op->pool = st->r->pool;

    ngx_microshop_store_post(st->store, op);

    ngx_memset(key, 'X', sizeof(key));
    ngx_memset(op, NGX_MICROSHOP_SELFTEST_JUNK, sizeof(ngx_microshop_op_t));
}


/* the op is not awaited any more; it is junk from now on */

static ngx_int_t
ngx_microshop_selftest_cancel(ngx_microshop_selftest_t *st,
    ngx_microshop_selftest_op_t *t)
{
    if (!t->pending || !t->later) {
        return ngx_microshop_selftest_fail(st,
                   "op %ui was answered before it could be cancelled",
                   (ngx_uint_t) t->op.type);
    }

    ngx_microshop_store_cancel(st->store, &t->op);

    if (t->op.pending) {
        return ngx_microshop_selftest_fail(st,
                   "cancel() left op->pending set");
    }

    t->pending = 0;
    st->inflight--;
    st->cancelled++;

    ngx_memset(&t->op, NGX_MICROSHOP_SELFTEST_JUNK,
               sizeof(ngx_microshop_op_t));

    return NGX_OK;
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


/* builders of the ops the cases use */

static ngx_int_t
ngx_microshop_selftest_gcra(ngx_microshop_selftest_t *st, ngx_uint_t i,
    char *name, int64_t burst)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, NGX_MICROSHOP_OP_GCRA, name, 0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    /* one a minute: the second request is denied even under valgrind */
    t->op.u.gcra.interval = NGX_MICROSHOP_SELFTEST_MINUTE;
    t->op.u.gcra.burst = burst;
    t->op.u.gcra.cost = 1;

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_idem(ngx_microshop_selftest_t *st, ngx_uint_t i,
    char *name, u_char fp)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, NGX_MICROSHOP_OP_IDEM_BEGIN, name,
                                  0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    ngx_memset(t->op.u.idem.fingerprint, fp, NGX_MICROSHOP_FINGERPRINT_LEN);
    t->op.u.idem.lock = NGX_MICROSHOP_SELFTEST_KEEP;
    t->op.u.idem.ttl = NGX_MICROSHOP_SELFTEST_KEEP;

    return ngx_microshop_selftest_exec(st, t);
}


/* IDEM_COMPLETE or IDEM_RELEASE, posted */

static void
ngx_microshop_selftest_idem_post(ngx_microshop_selftest_t *st,
    ngx_uint_t type, char *name, u_char fp, ngx_uint_t unavailable)
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

    ngx_microshop_selftest_post(st, &op, name, 0);

    ngx_memset(answer, 'X', sizeof(answer));
}


static ngx_int_t
ngx_microshop_selftest_stock(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t type, char *sku, int64_t available)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, type, sku, 1);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->op.u.stock.available = available;
    t->op.u.stock.held = -7;

    return ngx_microshop_selftest_exec(st, t);
}


static void
ngx_microshop_selftest_stock_post(ngx_microshop_selftest_t *st, char *sku,
    int64_t available)
{
    ngx_microshop_op_t  op;

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));

    op.type = NGX_MICROSHOP_OP_STOCK_SET;
    op.u.stock.available = available;

    ngx_microshop_selftest_post(st, &op, sku, 1);
}


/* RESERVE or SETTLE of one or two lines (sku2 NULL: one); not submitted */

static ngx_microshop_selftest_op_t *
ngx_microshop_selftest_reserve(ngx_microshop_selftest_t *st, ngx_uint_t i,
    ngx_uint_t type, char *id, char *sku1, int64_t q1, char *sku2,
    int64_t q2)
{
    ngx_microshop_line_t         *lines;
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, type, id, 0);
    if (t == NULL) {
        return NULL;
    }

    lines = ngx_pcalloc(st->r->pool, 2 * sizeof(ngx_microshop_line_t));
    if (lines == NULL) {
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


static ngx_int_t
ngx_microshop_selftest_stock_is(ngx_microshop_selftest_t *st, ngx_uint_t i,
    int64_t available, int64_t held)
{
    ngx_microshop_op_t  *op;

    op = &st->t[i]->op;

    return ngx_microshop_selftest_expect(st,
               op->rc == NGX_OK && op->u.stock.available == available
               && op->u.stock.held == held,
               "stock op %ui: rc %i, available %L held %L, expected "
               "available %L held %L", i, op->rc, op->u.stock.available,
               op->u.stock.held, available, held);
}


/* gcra_allow_deny */

static ngx_int_t
ngx_microshop_selftest_gcra_1(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_gcra(st, 0, "gcra", 1);
}


static ngx_int_t
ngx_microshop_selftest_gcra_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t            rc;
    ngx_microshop_op_t  *op;

    op = &st->t[0]->op;

    rc = ngx_microshop_selftest_expect(st,
             op->rc == NGX_OK && op->u.gcra.result.allowed
             && op->u.gcra.result.remaining == 0,
             "first request: rc %i, allowed %d, remaining %L; expected "
             "allowed, 0 remaining", op->rc, op->u.gcra.result.allowed,
             op->u.gcra.result.remaining);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_microshop_selftest_gcra(st, 1, "gcra", 1);
}


static ngx_int_t
ngx_microshop_selftest_gcra_3(ngx_microshop_selftest_t *st)
{
    ngx_microshop_op_t  *op;

    op = &st->t[1]->op;

    return ngx_microshop_selftest_expect(st,
               op->rc == NGX_DECLINED && !op->u.gcra.result.allowed
               && op->u.gcra.result.retry_after > 0,
               "second request: rc %i, allowed %d, retry after %L us; "
               "expected denied", op->rc, op->u.gcra.result.allowed,
               op->u.gcra.result.retry_after);
}


/* revoke */

static ngx_int_t
ngx_microshop_selftest_revoke_1(ngx_microshop_selftest_t *st)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, 0, NGX_MICROSHOP_OP_IS_REVOKED, "jti",
                                  0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_revoke_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t                     rc;
    ngx_microshop_selftest_op_t  *t;

    rc = ngx_microshop_selftest_expect(st, st->t[0]->op.rc == NGX_DECLINED,
             "IS_REVOKED of a new jti: rc %i, expected NGX_DECLINED",
             st->t[0]->op.rc);
    if (rc != NGX_OK) {
        return rc;
    }

    t = ngx_microshop_selftest_op(st, 1, NGX_MICROSHOP_OP_REVOKE, "jti", 0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->op.u.revoke.exp = ngx_time() + 600;

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_revoke_3(ngx_microshop_selftest_t *st)
{
    ngx_int_t                     rc;
    ngx_microshop_selftest_op_t  *t;

    rc = ngx_microshop_selftest_expect(st, st->t[1]->op.rc == NGX_OK,
             "REVOKE: rc %i, expected NGX_OK", st->t[1]->op.rc);
    if (rc != NGX_OK) {
        return rc;
    }

    t = ngx_microshop_selftest_op(st, 2, NGX_MICROSHOP_OP_IS_REVOKED, "jti",
                                  0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_revoke_4(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_expect(st, st->t[2]->op.rc == NGX_OK,
               "IS_REVOKED of a revoked jti: rc %i, expected NGX_OK",
               st->t[2]->op.rc);
}


/* idem_new_in_progress_mismatch */

static ngx_int_t
ngx_microshop_selftest_begin_1(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_idem(st, 0, "idem", 'a');
}


static ngx_int_t
ngx_microshop_selftest_begin_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t            rc;
    ngx_microshop_op_t  *op;

    op = &st->t[0]->op;

    rc = ngx_microshop_selftest_expect(st,
             op->rc == NGX_OK && op->u.idem.result == NGX_MICROSHOP_IDEM_NEW,
             "first IDEM_BEGIN: rc %i, result %ui, expected new", op->rc,
             op->u.idem.result);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_microshop_selftest_idem(st, 1, "idem", 'a') != NGX_OK
        || ngx_microshop_selftest_idem(st, 2, "idem", 'b') != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_selftest_begin_3(ngx_microshop_selftest_t *st)
{
    ngx_microshop_op_t  *same, *other;

    same = &st->t[1]->op;
    other = &st->t[2]->op;

    return ngx_microshop_selftest_expect(st,
               same->rc == NGX_OK
               && same->u.idem.result == NGX_MICROSHOP_IDEM_IN_PROGRESS
               && other->rc == NGX_OK
               && other->u.idem.result == NGX_MICROSHOP_IDEM_MISMATCH,
               "same request: rc %i result %ui (expected in progress), "
               "other request: rc %i result %ui (expected mismatch)",
               same->rc, same->u.idem.result, other->rc,
               other->u.idem.result);
}


/* idem_complete_posted_done */

static ngx_int_t
ngx_microshop_selftest_done_1(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_idem(st, 0, "idem", 'a');
}


static ngx_int_t
ngx_microshop_selftest_done_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t            rc;
    ngx_microshop_op_t  *op;

    op = &st->t[0]->op;

    rc = ngx_microshop_selftest_expect(st,
             op->rc == NGX_OK && op->u.idem.result == NGX_MICROSHOP_IDEM_NEW,
             "IDEM_BEGIN: rc %i, result %ui, expected new", op->rc,
             op->u.idem.result);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_microshop_selftest_idem_post(st, NGX_MICROSHOP_OP_IDEM_COMPLETE,
                                     "idem", 'a', 0);

    return ngx_microshop_selftest_idem(st, 1, "idem", 'a');
}


static ngx_int_t
ngx_microshop_selftest_done_3(ngx_microshop_selftest_t *st)
{
    ngx_microshop_op_t  *op;

    op = &st->t[1]->op;

    return ngx_microshop_selftest_expect(st,
               op->rc == NGX_OK && op->u.idem.result == NGX_MICROSHOP_IDEM_DONE
               && ngx_microshop_selftest_same(&op->u.idem.response,
                                              NGX_MICROSHOP_SELFTEST_ANSWER),
               "IDEM_BEGIN after the posted IDEM_COMPLETE: rc %i, result %ui, "
               "%uz bytes of answer; expected done with the %uz bytes stored",
               op->rc, op->u.idem.result, op->u.idem.response.len,
               sizeof(NGX_MICROSHOP_SELFTEST_ANSWER) - 1);
}


/* idem_complete_unavailable */

static ngx_int_t
ngx_microshop_selftest_unavail_1(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_idem(st, 0, "idem", 'a');
}


static ngx_int_t
ngx_microshop_selftest_unavail_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t  rc;

    rc = ngx_microshop_selftest_expect(st,
             st->t[0]->op.u.idem.result == NGX_MICROSHOP_IDEM_NEW,
             "IDEM_BEGIN: result %ui, expected new",
             st->t[0]->op.u.idem.result);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_microshop_selftest_idem_post(st, NGX_MICROSHOP_OP_IDEM_COMPLETE,
                                     "idem", 'a', 1);

    return ngx_microshop_selftest_idem(st, 1, "idem", 'a');
}


static ngx_int_t
ngx_microshop_selftest_unavail_3(ngx_microshop_selftest_t *st)
{
    ngx_microshop_op_t  *op;

    op = &st->t[1]->op;

    return ngx_microshop_selftest_expect(st,
               op->rc == NGX_OK
               && op->u.idem.result == NGX_MICROSHOP_IDEM_UNAVAILABLE,
               "IDEM_BEGIN after an unavailable answer: rc %i, result %ui, "
               "expected unavailable", op->rc, op->u.idem.result);
}


/* idem_release */

static ngx_int_t
ngx_microshop_selftest_release_1(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_idem(st, 0, "idem", 'a');
}


static ngx_int_t
ngx_microshop_selftest_release_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t                     rc;
    ngx_microshop_selftest_op_t  *t;

    rc = ngx_microshop_selftest_expect(st,
             st->t[0]->op.u.idem.result == NGX_MICROSHOP_IDEM_NEW,
             "IDEM_BEGIN: result %ui, expected new",
             st->t[0]->op.u.idem.result);
    if (rc != NGX_OK) {
        return rc;
    }

    /* another request may not release the key */

    t = ngx_microshop_selftest_op(st, 1, NGX_MICROSHOP_OP_IDEM_RELEASE,
                                  "idem", 0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    ngx_memset(t->op.u.idem.fingerprint, 'b', NGX_MICROSHOP_FINGERPRINT_LEN);

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_release_3(ngx_microshop_selftest_t *st)
{
    ngx_int_t  rc;

    rc = ngx_microshop_selftest_expect(st, st->t[1]->op.rc == NGX_DECLINED,
             "IDEM_RELEASE by another fingerprint: rc %i, expected "
             "NGX_DECLINED", st->t[1]->op.rc);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_microshop_selftest_idem_post(st, NGX_MICROSHOP_OP_IDEM_RELEASE,
                                     "idem", 'a', 0);

    return ngx_microshop_selftest_idem(st, 2, "idem", 'a');
}


static ngx_int_t
ngx_microshop_selftest_release_4(ngx_microshop_selftest_t *st)
{
    ngx_int_t                     rc;
    ngx_microshop_op_t           *op;
    ngx_microshop_selftest_op_t  *t;

    op = &st->t[2]->op;

    rc = ngx_microshop_selftest_expect(st,
             op->rc == NGX_OK && op->u.idem.result == NGX_MICROSHOP_IDEM_NEW,
             "IDEM_BEGIN after the posted IDEM_RELEASE: rc %i, result %ui, "
             "expected new", op->rc, op->u.idem.result);
    if (rc != NGX_OK) {
        return rc;
    }

    t = ngx_microshop_selftest_op(st, 3, NGX_MICROSHOP_OP_IDEM_RELEASE,
                                  "idem", 0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    ngx_memset(t->op.u.idem.fingerprint, 'a', NGX_MICROSHOP_FINGERPRINT_LEN);

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_release_5(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_expect(st, st->t[3]->op.rc == NGX_OK,
               "IDEM_RELEASE of our own key: rc %i, expected NGX_OK",
               st->t[3]->op.rc);
}


/* inventory_put_get_drop */

static ngx_int_t
ngx_microshop_selftest_inv_1(ngx_microshop_selftest_t *st)
{
    u_char                        body[sizeof(NGX_MICROSHOP_SELFTEST_BODY)];
    u_char                        etag[sizeof(NGX_MICROSHOP_SELFTEST_ETAG)];
    ngx_microshop_op_t            op;
    ngx_microshop_selftest_op_t  *t;

    st->before[0] = ngx_microshop_selftest_counter(st,
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

    ngx_microshop_selftest_post(st, &op, "inv", 1);

    ngx_memset(body, 'X', sizeof(body));
    ngx_memset(etag, 'X', sizeof(etag));

    t = ngx_microshop_selftest_op(st, 0, NGX_MICROSHOP_OP_INV_GET, "inv", 1);
    if (t == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_inv_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t                     rc;
    ngx_atomic_uint_t             stored;
    ngx_microshop_op_t           *op;
    ngx_microshop_selftest_op_t  *t;

    op = &st->t[0]->op;

    rc = ngx_microshop_selftest_expect(st,
             op->rc == NGX_OK
             && ngx_microshop_selftest_same(&op->u.inv.body,
                                            NGX_MICROSHOP_SELFTEST_BODY)
             && ngx_microshop_selftest_same(&op->u.inv.etag,
                                            NGX_MICROSHOP_SELFTEST_ETAG)
             && op->u.inv.stored_at > 0 && op->u.inv.version == 0,
             "INV_GET after the posted INV_PUT: rc %i, body \"%V\", etag "
             "\"%V\", stored at %L, version %L", op->rc, &op->u.inv.body,
             &op->u.inv.etag, op->u.inv.stored_at, op->u.inv.version);
    if (rc != NGX_OK) {
        return rc;
    }

    stored = ngx_microshop_selftest_counter(st,
                                        NGX_MICROSHOP_COUNTER_CACHE_STORE);

    rc = ngx_microshop_selftest_expect(st, stored >= st->before[0] + 1,
             "the counter of the posted op was not counted (%uA, was %uA)",
             stored, st->before[0]);
    if (rc != NGX_OK) {
        return rc;
    }

    t = ngx_microshop_selftest_op(st, 1, NGX_MICROSHOP_OP_INV_DROP, "inv", 1);
    if (t == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_inv_3(ngx_microshop_selftest_t *st)
{
    ngx_int_t                     rc;
    ngx_microshop_selftest_op_t  *get, *drop;

    rc = ngx_microshop_selftest_expect(st, st->t[1]->op.rc == NGX_OK,
             "INV_DROP: rc %i, expected NGX_OK", st->t[1]->op.rc);
    if (rc != NGX_OK) {
        return rc;
    }

    get = ngx_microshop_selftest_op(st, 2, NGX_MICROSHOP_OP_INV_GET, "inv",
                                    1);
    drop = ngx_microshop_selftest_op(st, 3, NGX_MICROSHOP_OP_INV_DROP,
                                     "inv", 1);
    if (get == NULL || drop == NULL) {
        return NGX_ERROR;
    }

    if (ngx_microshop_selftest_exec(st, get) != NGX_OK
        || ngx_microshop_selftest_exec(st, drop) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_selftest_inv_4(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_expect(st,
               st->t[2]->op.rc == NGX_DECLINED
               && st->t[3]->op.rc == NGX_DECLINED,
               "INV_GET and INV_DROP of a dropped item: rc %i and %i, "
               "expected NGX_DECLINED", st->t[2]->op.rc, st->t[3]->op.rc);
}


/* event_accepted_duplicate_stale */

static ngx_int_t
ngx_microshop_selftest_event(ngx_microshop_selftest_t *st, ngx_uint_t i,
    char *id, int64_t version)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, i, NGX_MICROSHOP_OP_EVENT, "ev", 1);
    if (t == NULL) {
        return NGX_ERROR;
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

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_event_1(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_event(st, 0, "e1", 5);
}


static ngx_int_t
ngx_microshop_selftest_event_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t                     rc;
    ngx_microshop_op_t           *op;
    ngx_microshop_selftest_op_t  *t;

    op = &st->t[0]->op;

    rc = ngx_microshop_selftest_expect(st,
             op->rc == NGX_OK
             && op->u.event.result == NGX_MICROSHOP_EVENT_ACCEPTED,
             "first EVENT: rc %i, result %ui, expected accepted", op->rc,
             op->u.event.result);
    if (rc != NGX_OK) {
        return rc;
    }

    /* in flight together: the same id again, an older version, and what
     * the accepted event left */

    if (ngx_microshop_selftest_event(st, 1, "e1", 6) != NGX_OK
        || ngx_microshop_selftest_event(st, 2, "e2", 3) != NGX_OK
        || ngx_microshop_selftest_stock(st, 3, NGX_MICROSHOP_OP_STOCK_GET,
                                        "ev", 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    t = ngx_microshop_selftest_op(st, 4, NGX_MICROSHOP_OP_INV_GET, "ev", 1);
    if (t == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_event_3(ngx_microshop_selftest_t *st)
{
    ngx_int_t            rc;
    ngx_microshop_op_t  *dup, *stale, *inv;

    dup = &st->t[1]->op;
    stale = &st->t[2]->op;
    inv = &st->t[4]->op;

    rc = ngx_microshop_selftest_expect(st,
             dup->rc == NGX_OK
             && dup->u.event.result == NGX_MICROSHOP_EVENT_DUPLICATE
             && stale->rc == NGX_OK
             && stale->u.event.result == NGX_MICROSHOP_EVENT_STALE,
             "same id: rc %i result %ui (expected duplicate), older "
             "version: rc %i result %ui (expected stale)", dup->rc,
             dup->u.event.result, stale->rc, stale->u.event.result);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_microshop_selftest_stock_is(st, 3, 7, 0);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_microshop_selftest_expect(st,
               inv->rc == NGX_OK
               && ngx_microshop_selftest_same(&inv->u.inv.body,
                                              NGX_MICROSHOP_SELFTEST_ITEM)
               && ngx_microshop_selftest_same(&inv->u.inv.etag,
                                              NGX_MICROSHOP_SELFTEST_IETAG)
               && inv->u.inv.version == 5,
               "the item of the accepted event: rc %i, body \"%V\", "
               "etag \"%V\", version %L", inv->rc, &inv->u.inv.body,
               &inv->u.inv.etag, inv->u.inv.version);
}


/* stock_set_get */

static ngx_int_t
ngx_microshop_selftest_stock_1(ngx_microshop_selftest_t *st)
{
    if (ngx_microshop_selftest_stock(st, 0, NGX_MICROSHOP_OP_STOCK_GET,
                                     "unknown", 0)
        != NGX_OK
        || ngx_microshop_selftest_stock(st, 1, NGX_MICROSHOP_OP_STOCK_SET,
                                        "s", 9)
           != NGX_OK
        || ngx_microshop_selftest_stock(st, 2, NGX_MICROSHOP_OP_STOCK_GET,
                                        "s", 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_selftest_stock_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t  rc;

    rc = ngx_microshop_selftest_expect(st, st->t[0]->op.rc == NGX_DECLINED,
             "STOCK_GET of unknown stock: rc %i, expected NGX_DECLINED",
             st->t[0]->op.rc);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_microshop_selftest_expect(st,
             st->t[1]->op.rc == NGX_OK && st->t[1]->op.u.stock.held == 0,
             "STOCK_SET: rc %i, held %L", st->t[1]->op.rc,
             st->t[1]->op.u.stock.held);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_microshop_selftest_stock_is(st, 2, 9, 0);
}


/* reserve_ok_short */

static ngx_int_t
ngx_microshop_selftest_reserve_1(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_stock(st, 0, NGX_MICROSHOP_OP_STOCK_SET, "A",
                                        3);
}


static ngx_int_t
ngx_microshop_selftest_reserve_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t                     rc;
    ngx_microshop_selftest_op_t  *t;

    rc = ngx_microshop_selftest_expect(st, st->t[0]->op.rc == NGX_OK,
             "STOCK_SET: rc %i", st->t[0]->op.rc);
    if (rc != NGX_OK) {
        return rc;
    }

    t = ngx_microshop_selftest_reserve(st, 1, NGX_MICROSHOP_OP_RESERVE, "r1",
                                       "A", 2, NULL, 0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_reserve_3(ngx_microshop_selftest_t *st)
{
    ngx_int_t                     rc;
    ngx_microshop_op_t           *op;
    ngx_microshop_selftest_op_t  *t;

    op = &st->t[1]->op;

    rc = ngx_microshop_selftest_expect(st,
             op->rc == NGX_OK && op->u.reserve.held == 1
             && op->u.reserve.lines[0].short_of_stock == 0,
             "RESERVE 2 of 3: rc %i, held %ui, short %ui; expected held",
             op->rc, op->u.reserve.held,
             op->u.reserve.lines[0].short_of_stock);
    if (rc != NGX_OK) {
        return rc;
    }

    /* 2 more of A (1 left) and 1 of B (no stock known: the backend's) */

    t = ngx_microshop_selftest_reserve(st, 2, NGX_MICROSHOP_OP_RESERVE, "r2",
                                       "A", 2, "B", 1);
    if (t == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_reserve_4(ngx_microshop_selftest_t *st)
{
    ngx_int_t            rc;
    ngx_microshop_op_t  *op;

    op = &st->t[2]->op;

    rc = ngx_microshop_selftest_expect(st,
             op->rc == NGX_DECLINED && op->u.reserve.held == 0
             && op->u.reserve.lines[0].short_of_stock == 1
             && op->u.reserve.lines[1].short_of_stock == 0,
             "RESERVE beyond the stock: rc %i, held %ui, short A %ui B %ui;"
             " expected NGX_DECLINED, A short only", op->rc,
             op->u.reserve.held, op->u.reserve.lines[0].short_of_stock,
             op->u.reserve.lines[1].short_of_stock);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_microshop_selftest_stock(st, 3, NGX_MICROSHOP_OP_STOCK_GET, "A",
                                        0);
}


static ngx_int_t
ngx_microshop_selftest_reserve_5(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_stock_is(st, 3, 3, 2);
}


/* settle_commit_release */

static ngx_int_t
ngx_microshop_selftest_settle_1(ngx_microshop_selftest_t *st)
{
    ngx_microshop_selftest_op_t  *t;

    /* in flight together: the set runs first */

    if (ngx_microshop_selftest_stock(st, 0, NGX_MICROSHOP_OP_STOCK_SET, "S",
                                     5)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    t = ngx_microshop_selftest_reserve(st, 1, NGX_MICROSHOP_OP_RESERVE, "r3",
                                       "S", 2, NULL, 0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_settle_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t                     rc;
    ngx_microshop_selftest_op_t  *t;

    rc = ngx_microshop_selftest_expect(st,
             st->t[1]->op.rc == NGX_OK && st->t[1]->op.u.reserve.held == 1,
             "RESERVE: rc %i, held %ui", st->t[1]->op.rc,
             st->t[1]->op.u.reserve.held);
    if (rc != NGX_OK) {
        return rc;
    }

    t = ngx_microshop_selftest_reserve(st, 2, NGX_MICROSHOP_OP_SETTLE, "r3",
                                       "S", 2, NULL, 0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->op.u.reserve.commit = 1;

    if (ngx_microshop_selftest_exec(st, t) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_microshop_selftest_stock(st, 3, NGX_MICROSHOP_OP_STOCK_GET, "S",
                                        0);
}


static ngx_int_t
ngx_microshop_selftest_settle_3(ngx_microshop_selftest_t *st)
{
    u_char                        id[NGX_MICROSHOP_SELFTEST_KEY];
    ngx_int_t                     rc;
    ngx_microshop_op_t            op;
    ngx_microshop_line_t          line;
    ngx_microshop_selftest_op_t  *t;

    rc = ngx_microshop_selftest_expect(st, st->t[2]->op.rc == NGX_OK,
             "SETTLE commit: rc %i, expected NGX_OK", st->t[2]->op.rc);
    if (rc != NGX_OK) {
        return rc;
    }

    /* sold: 2 fewer available, nothing held */

    rc = ngx_microshop_selftest_stock_is(st, 3, 3, 0);
    if (rc != NGX_OK) {
        return rc;
    }

    t = ngx_microshop_selftest_reserve(st, 4, NGX_MICROSHOP_OP_RESERVE, "r4",
                                       "S", 1, NULL, 0);
    if (t == NULL || ngx_microshop_selftest_exec(st, t) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a posted release on this frame, after the reserve, before the get */

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));
    ngx_memzero(&line, sizeof(ngx_microshop_line_t));

    ngx_str_set(&line.sku, "S");
    line.quantity = 1;

    op.type = NGX_MICROSHOP_OP_SETTLE;
    op.u.reserve.seller = st->seller;
    op.u.reserve.id.data = id;
    op.u.reserve.id.len = ngx_microshop_selftest_key(st, id, "r4", 0) - id;
    op.u.reserve.lines = &line;
    op.u.reserve.nlines = 1;
    op.u.reserve.commit = 0;

    ngx_microshop_selftest_post(st, &op, "r4", 0);

    ngx_memset(id, 'X', sizeof(id));
    ngx_memset(&line, NGX_MICROSHOP_SELFTEST_JUNK, sizeof(line));

    if (ngx_microshop_selftest_stock(st, 5, NGX_MICROSHOP_OP_STOCK_GET, "S",
                                     0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    t = ngx_microshop_selftest_reserve(st, 6, NGX_MICROSHOP_OP_SETTLE, "r4",
                                       "S", 1, NULL, 0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_settle_4(ngx_microshop_selftest_t *st)
{
    ngx_int_t  rc;

    rc = ngx_microshop_selftest_expect(st,
             st->t[4]->op.rc == NGX_OK && st->t[4]->op.u.reserve.held == 1,
             "second RESERVE: rc %i, held %ui", st->t[4]->op.rc,
             st->t[4]->op.u.reserve.held);
    if (rc != NGX_OK) {
        return rc;
    }

    /* released: as before the reserve */

    rc = ngx_microshop_selftest_stock_is(st, 5, 3, 0);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_microshop_selftest_expect(st, st->t[6]->op.rc == NGX_DECLINED,
               "SETTLE of a released hold: rc %i, expected NGX_DECLINED",
               st->t[6]->op.rc);
}


/* sweep */

static ngx_int_t
ngx_microshop_selftest_sweep_1(ngx_microshop_selftest_t *st)
{
    ngx_microshop_selftest_op_t  *t;

    if (ngx_microshop_selftest_stock(st, 0, NGX_MICROSHOP_OP_STOCK_SET, "W",
                                     2)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    t = ngx_microshop_selftest_reserve(st, 1, NGX_MICROSHOP_OP_RESERVE, "r5",
                                       "W", 1, NULL, 0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    /* a hold that is past its time at once */
    t->op.u.reserve.hold = 0;

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_sweep_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t                     rc;
    ngx_microshop_selftest_op_t  *t;

    rc = ngx_microshop_selftest_expect(st,
             st->t[1]->op.rc == NGX_OK && st->t[1]->op.u.reserve.held == 1,
             "RESERVE: rc %i, held %ui", st->t[1]->op.rc,
             st->t[1]->op.u.reserve.held);
    if (rc != NGX_OK) {
        return rc;
    }

    st->before[0] = ngx_microshop_selftest_counter(st,
                                    NGX_MICROSHOP_COUNTER_RESERVE_EXPIRED);

    t = ngx_microshop_selftest_op(st, 2, NGX_MICROSHOP_OP_SWEEP, "sweep", 0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_sweep_3(ngx_microshop_selftest_t *st)
{
    ngx_int_t                     rc;
    ngx_atomic_uint_t             expired;
    ngx_microshop_selftest_op_t  *t;

    expired = ngx_microshop_selftest_counter(st,
                                    NGX_MICROSHOP_COUNTER_RESERVE_EXPIRED);

    rc = ngx_microshop_selftest_expect(st,
             st->t[2]->op.rc == NGX_OK && expired >= st->before[0] + 1,
             "SWEEP: rc %i, expired holds counted %uA (was %uA)",
             st->t[2]->op.rc, expired, st->before[0]);
    if (rc != NGX_OK) {
        return rc;
    }

    t = ngx_microshop_selftest_reserve(st, 3, NGX_MICROSHOP_OP_SETTLE, "r5",
                                       "W", 1, NULL, 0);
    if (t == NULL || ngx_microshop_selftest_exec(st, t) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_microshop_selftest_stock(st, 4, NGX_MICROSHOP_OP_STOCK_GET, "W",
                                        0);
}


static ngx_int_t
ngx_microshop_selftest_sweep_4(ngx_microshop_selftest_t *st)
{
    ngx_int_t  rc;

    rc = ngx_microshop_selftest_expect(st, st->t[3]->op.rc == NGX_DECLINED,
             "SETTLE of a swept hold: rc %i, expected NGX_DECLINED",
             st->t[3]->op.rc);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_microshop_selftest_stock_is(st, 4, 2, 0);
}


/* post_then_exec_in_order */

static ngx_int_t
ngx_microshop_selftest_fifo_1(ngx_microshop_selftest_t *st)
{
    ngx_microshop_selftest_stock_post(st, "F", 42);

    if (ngx_microshop_selftest_stock(st, 0, NGX_MICROSHOP_OP_STOCK_GET, "F",
                                     0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_microshop_selftest_stock_post(st, "F", 43);

    return ngx_microshop_selftest_stock(st, 1, NGX_MICROSHOP_OP_STOCK_GET, "F",
                                        0);
}


static ngx_int_t
ngx_microshop_selftest_fifo_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t  rc;

    rc = ngx_microshop_selftest_stock_is(st, 0, 42, 0);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_microshop_selftest_stock_is(st, 1, 43, 0);
}


/*
 * in_flight_in_order, in_flight_out_of_order: ten execs of every kind at
 * once, behind the posts that prepare what they read
 */

static ngx_int_t
ngx_microshop_selftest_batch(ngx_microshop_selftest_t *st)
{
    u_char                        body[sizeof("batch")];
    ngx_uint_t                    i;
    ngx_microshop_op_t            op;
    ngx_microshop_selftest_op_t  *t[10];

    static char  *skus[] = { "q0", "q1", "q2", "q3" };

    for (i = 0; i < 4; i++) {
        ngx_microshop_selftest_stock_post(st, skus[i], 100 + i);
    }

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));
    op.type = NGX_MICROSHOP_OP_INV_PUT;
    ngx_memcpy(body, "batch", sizeof(body));
    op.u.inv.body.data = body;
    op.u.inv.body.len = sizeof(body) - 1;
    op.u.inv.keep = NGX_MICROSHOP_SELFTEST_KEEP;
    ngx_microshop_selftest_post(st, &op, "qi", 1);
    ngx_memset(body, 'X', sizeof(body));

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));
    op.type = NGX_MICROSHOP_OP_REVOKE;
    op.u.revoke.exp = ngx_time() + 600;
    ngx_microshop_selftest_post(st, &op, "qjti", 0);

    t[0] = ngx_microshop_selftest_op(st, 0, NGX_MICROSHOP_OP_STOCK_GET, "q0",
                                     1);
    t[1] = ngx_microshop_selftest_op(st, 1, NGX_MICROSHOP_OP_INV_GET, "qi", 1);
    t[2] = ngx_microshop_selftest_op(st, 2, NGX_MICROSHOP_OP_STOCK_GET, "q1",
                                     1);
    t[3] = ngx_microshop_selftest_op(st, 3, NGX_MICROSHOP_OP_IS_REVOKED,
                                     "qjti", 0);
    t[4] = ngx_microshop_selftest_op(st, 4, NGX_MICROSHOP_OP_GCRA, "qg", 0);
    t[5] = ngx_microshop_selftest_op(st, 5, NGX_MICROSHOP_OP_STOCK_GET, "q2",
                                     1);
    t[6] = ngx_microshop_selftest_op(st, 6, NGX_MICROSHOP_OP_INV_GET, "qnone",
                                     1);
    t[7] = ngx_microshop_selftest_op(st, 7, NGX_MICROSHOP_OP_STOCK_SET, "q3",
                                     1);
    t[8] = ngx_microshop_selftest_op(st, 8, NGX_MICROSHOP_OP_STOCK_GET, "q3",
                                     1);
    t[9] = ngx_microshop_selftest_op(st, 9, NGX_MICROSHOP_OP_IDEM_BEGIN,
                                     "qidem", 0);

    for (i = 0; i < 10; i++) {
        if (t[i] == NULL) {
            return NGX_ERROR;
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
        if (ngx_microshop_selftest_exec(st, t[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_selftest_batch_check(ngx_microshop_selftest_t *st,
    ngx_uint_t reverse)
{
    ngx_int_t            rc;
    ngx_uint_t           i;
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
        rc = ngx_microshop_selftest_stock_is(st, stock[i][0], stock[i][1], 0);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    rc = ngx_microshop_selftest_expect(st,
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
    if (rc != NGX_OK) {
        return rc;
    }

    /* the order of the answers */

    for (i = 0; i + 1 < 10; i++) {
        if (reverse ? st->t[i]->order > st->t[i + 1]->order
                    : st->t[i]->order < st->t[i + 1]->order)
        {
            continue;
        }

        return ngx_microshop_selftest_fail(st,
                   "op %ui was answered %ui-th, op %ui %ui-th: expected %s",
                   i, st->t[i]->order, i + 1, st->t[i + 1]->order,
                   reverse ? "the reverse order" : "submission order");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_selftest_inorder_2(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_batch_check(st, 0);
}


static ngx_int_t
ngx_microshop_selftest_reorder_1(ngx_microshop_selftest_t *st)
{
    st->knobs_set = 1;
    (void) ngx_microshop_store_deferred_reverse(st->store, 1);

    return ngx_microshop_selftest_batch(st);
}


static ngx_int_t
ngx_microshop_selftest_reorder_2(ngx_microshop_selftest_t *st)
{
    (void) ngx_microshop_store_deferred_reverse(st->store, 0);

    return ngx_microshop_selftest_batch_check(st, 1);
}


/* cancel_before_answer */

static ngx_int_t
ngx_microshop_selftest_cancel_1(ngx_microshop_selftest_t *st)
{
    ngx_int_t  rc;

    st->before[0] = ngx_microshop_selftest_counter(st,
                                            NGX_MICROSHOP_COUNTER_STORE_LATE);

    /* the first and the last of three, the middle one is answered */

    if (ngx_microshop_selftest_stock(st, 0, NGX_MICROSHOP_OP_STOCK_GET, "c0",
                                     0)
        != NGX_OK
        || ngx_microshop_selftest_gcra(st, 1, "cg", 1) != NGX_OK
        || ngx_microshop_selftest_stock(st, 2, NGX_MICROSHOP_OP_STOCK_SET,
                                        "c2", 4)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_microshop_selftest_cancel(st, st->t[0]);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_microshop_selftest_cancel(st, st->t[2]);
}


static ngx_int_t
ngx_microshop_selftest_cancel_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t  rc;

    rc = ngx_microshop_selftest_expect(st,
             st->t[0]->calls == 0 && st->t[2]->calls == 0
             && ngx_microshop_selftest_junk(st->t[0])
             && ngx_microshop_selftest_junk(st->t[2]),
             "after cancel(): handler runs %ui and %ui, the ops %s",
             st->t[0]->calls, st->t[2]->calls,
             ngx_microshop_selftest_junk(st->t[0])
             && ngx_microshop_selftest_junk(st->t[2])
             ? "untouched" : "written to");
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_microshop_selftest_expect(st,
             st->t[1]->op.rc == NGX_OK && st->t[1]->op.u.gcra.result.allowed,
             "the op between the cancelled ones: rc %i",
             st->t[1]->op.rc);
    if (rc != NGX_OK) {
        return rc;
    }

    /* one more round: whatever the back end still had is answered */

    return ngx_microshop_selftest_stock(st, 3, NGX_MICROSHOP_OP_STOCK_GET,
                                        "c2", 0);
}


static ngx_int_t
ngx_microshop_selftest_cancel_3(ngx_microshop_selftest_t *st)
{
    ngx_int_t          rc;
    ngx_atomic_uint_t  late;

    late = ngx_microshop_selftest_counter(st,
                                          NGX_MICROSHOP_COUNTER_STORE_LATE);

    rc = ngx_microshop_selftest_expect(st,
             st->t[0]->calls == 0 && st->t[2]->calls == 0
             && ngx_microshop_selftest_junk(st->t[0])
             && ngx_microshop_selftest_junk(st->t[2])
             && late >= st->before[0] + 2,
             "a round later: handler runs %ui and %ui, late answers %uA "
             "(was %uA, expected 2 more)", st->t[0]->calls, st->t[2]->calls,
             late, st->before[0]);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the cancelled set ran all the same: a store executes what it got */

    return ngx_microshop_selftest_stock_is(st, 3, 4, 0);
}


/* error_exec */

static ngx_int_t
ngx_microshop_selftest_error_1(ngx_microshop_selftest_t *st)
{
    ngx_microshop_selftest_op_t  *t;

    t = ngx_microshop_selftest_op(st, 0, NGX_MICROSHOP_SELFTEST_BAD_OP,
                                  "bad", 0);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->op.rc = NGX_OK;

    return ngx_microshop_selftest_exec(st, t);
}


static ngx_int_t
ngx_microshop_selftest_error_2(ngx_microshop_selftest_t *st)
{
    ngx_microshop_selftest_op_t  *t;

    t = st->t[0];

    return ngx_microshop_selftest_expect(st,
               t->op.rc == NGX_ERROR && t->calls == (t->later ? 1 : 0),
               "exec() of op %d: rc %i, answered %s, handler runs %ui",
               NGX_MICROSHOP_SELFTEST_BAD_OP, t->op.rc,
               t->later ? "later" : "at once", t->calls);
}


/* error_post */

static ngx_int_t
ngx_microshop_selftest_perror_1(ngx_microshop_selftest_t *st)
{
    ngx_microshop_op_t  op;

    st->before[0] = ngx_microshop_selftest_counter(st,
                                        NGX_MICROSHOP_COUNTER_STORE_ERRORS);

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));
    op.type = NGX_MICROSHOP_SELFTEST_BAD_OP;
    op.counter = NGX_MICROSHOP_COUNTER_CACHE_STORE;

    ngx_microshop_selftest_post(st, &op, "bad", 0);

    /* answered after the post ran */

    return ngx_microshop_selftest_stock(st, 0, NGX_MICROSHOP_OP_STOCK_GET,
                                        "e", 0);
}


static ngx_int_t
ngx_microshop_selftest_perror_2(ngx_microshop_selftest_t *st)
{
    ngx_atomic_uint_t  errors;

    errors = ngx_microshop_selftest_counter(st,
                                        NGX_MICROSHOP_COUNTER_STORE_ERRORS);

    return ngx_microshop_selftest_expect(st,
               errors >= st->before[0] + 1,
               "a failed post was not counted as a store error (%uA, was "
               "%uA)", errors, st->before[0]);
}


/* unused_fields_never_read */

static ngx_int_t
ngx_microshop_selftest_stale_1(ngx_microshop_selftest_t *st)
{
    ngx_uint_t                    i;
    ngx_microshop_selftest_op_t  *t[4];

    t[0] = ngx_microshop_selftest_op(st, 0, NGX_MICROSHOP_OP_INV_GET, "x", 1);
    t[1] = ngx_microshop_selftest_op(st, 1, NGX_MICROSHOP_OP_IDEM_BEGIN, "x",
                                     0);
    t[2] = ngx_microshop_selftest_op(st, 2, NGX_MICROSHOP_OP_EVENT, "x", 1);
    t[3] = ngx_microshop_selftest_op(st, 3, NGX_MICROSHOP_OP_STOCK_GET, "x",
                                     1);

    for (i = 0; i < 4; i++) {
        if (t[i] == NULL) {
            return NGX_ERROR;
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
        if (ngx_microshop_selftest_exec(st, t[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_selftest_stale_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t  rc;

    rc = ngx_microshop_selftest_expect(st,
             st->t[0]->op.rc == NGX_DECLINED
             && st->t[1]->op.rc == NGX_OK
             && st->t[1]->op.u.idem.result == NGX_MICROSHOP_IDEM_NEW
             && st->t[2]->op.rc == NGX_OK
             && st->t[2]->op.u.event.result == NGX_MICROSHOP_EVENT_ACCEPTED,
             "INV_GET rc %i, IDEM_BEGIN rc %i result %ui, EVENT rc %i "
             "result %ui", st->t[0]->op.rc, st->t[1]->op.rc,
             st->t[1]->op.u.idem.result, st->t[2]->op.rc,
             st->t[2]->op.u.event.result);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_microshop_selftest_stock_is(st, 3, 2, 0);
}


/* handlers_exactly_once */

static ngx_int_t
ngx_microshop_selftest_once_1(ngx_microshop_selftest_t *st)
{
    /* a last round: a second answer to anything would come before it */
    return ngx_microshop_selftest_gcra(st, 0, "once", 1);
}


static ngx_int_t
ngx_microshop_selftest_once_2(ngx_microshop_selftest_t *st)
{
    ngx_int_t   rc;
    ngx_uint_t  shm;

    rc = ngx_microshop_selftest_expect(st,
             st->answers == st->later - st->cancelled,
             "%ui handler runs for %ui execs answered later, %ui of them "
             "cancelled", st->answers, st->later, st->cancelled);
    if (rc != NGX_OK) {
        return rc;
    }

    shm = (st->store->backend == &ngx_microshop_store_shm);

    /* the shm back end answers at once; the deferred one always later */

    return ngx_microshop_selftest_expect(st,
               shm ? st->later == 0
                   : !st->knobs || st->later == st->ops.nelts,
               "%ui of %ui execs answered later", st->later,
               st->ops.nelts);
}


/* hold: ?hold=<ms> */

static ngx_int_t
ngx_microshop_selftest_hold_1(ngx_microshop_selftest_t *st)
{
    ngx_int_t  rc;

    st->knobs_set = 1;
    (void) ngx_microshop_store_deferred_delay(st->store, st->hold);

    rc = ngx_microshop_selftest_stock(st, 0, NGX_MICROSHOP_OP_STOCK_GET,
                                      "h", 0);

    /* the batch is armed: later ones do not wait */
    (void) ngx_microshop_store_deferred_delay(st->store, 0);

    return rc;
}


static ngx_int_t
ngx_microshop_selftest_hold_2(ngx_microshop_selftest_t *st)
{
    return ngx_microshop_selftest_expect(st,
               st->t[0]->op.rc == NGX_DECLINED,
               "STOCK_GET of unknown stock: rc %i", st->t[0]->op.rc);
}
