/*
 * ngx_microshop: the "redis" back end's own declarations, shared by its
 * files (docs/redis.md), from the top down; each file calls only the ones
 * below it:
 *
 *   ngx_microshop_store_redis.c        the back end: the table (exec,
 *                                      post, cancel, init, exit), the
 *                                      step of an op of one command and
 *                                      what its reply sets off
 *   ngx_microshop_store_redis_order.c  when a call is sent (at once, or
 *                                      after a walk), the answers in
 *                                      submission order
 *   ngx_microshop_store_redis_sellers.c  what walks every seller with
 *                                      holds: the sweep, HOLD_LIST and
 *                                      SETTLE without a seller
 *   ngx_microshop_store_redis_sync.c   pub/sub, the ready hook, the local
 *                                      inventory copies, the revocations
 *   ngx_microshop_store_redis_outage.c when Redis cannot answer
 *   ngx_microshop_store_redis_reply.c  a script's reply into the op
 *   ngx_microshop_store_redis_call.c   the life of a call: made, sent
 *                                      through the client, finished, its
 *                                      answer delivered
 *   ngx_microshop_store_redis_cmd.c    an op's script and its arguments
 *   ngx_microshop_store_redis_lua.c    the scripts
 *
 * Under them the client (ngx_microshop_redis.h).
 */

#ifndef _NGX_MICROSHOP_RSTORE_H_INCLUDED_
#define _NGX_MICROSHOP_RSTORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_store.h"
#include "ngx_microshop_redis.h"
#include "ngx_microshop_store_redis_lua.h"


/*
 * A local copy of an inventory entry answers an INV_GET at once, without
 * Redis, while it is younger than this (ms) and than the op's fresh=, and
 * the entry is still fresh: an event accepted by another node reaches
 * this one by the ms:inv message within milliseconds, and by the copy's
 * age within this bound when a message was missed.
 */
#define NGX_MICROSHOP_REDIS_INV_COPY      1000

/* the key of a local copy in the zone: this byte, then the store key; no
 * store key begins with it (a seller has no control character) */
#define NGX_MICROSHOP_REDIS_COPY          '\x02'

/* revocations are kept this long (s) past exp, as the shm back end does */
#define NGX_MICROSHOP_REDIS_REVOKE_MARGIN NGX_MICROSHOP_REVOKE_MARGIN

/* holds the sweep script looks at per seller, sellers per sweep */
#define NGX_MICROSHOP_REDIS_SWEEP_BATCH   64
#define NGX_MICROSHOP_REDIS_SWEEP_SELLERS 16

/* releases kept while Redis is down (BEGIN or RESERVE answered unknown) */
#define NGX_MICROSHOP_REDIS_RETRY_MAX     1024
#define NGX_MICROSHOP_REDIS_RETRY_ATTEMPTS 3

/* the pool of an answer that waits for its turn, and of a call */
#define NGX_MICROSHOP_REDIS_READY_POOL    512
#define NGX_MICROSHOP_REDIS_CALL_POOL     1024


typedef struct ngx_microshop_rstore_store_s  ngx_microshop_rstore_store_t;

/*
 * What a call's end lets go on: a call finishes below the files that
 * send what waited for it (ngx_microshop_rstore_resume(), set by
 * init_conf)
 */
typedef void (*ngx_microshop_rstore_resume_pt)(
    ngx_microshop_rstore_store_t *rs);


struct ngx_microshop_rstore_store_s {
    ngx_microshop_store_t          inner;     /* shm, on store->local */
    ngx_microshop_store_t         *store;
    ngx_microshop_redis_conf_t    *conf;
    ngx_microshop_redis_t         *rd;        /* this worker's client */
    ngx_microshop_redis_script_t   scripts[NGX_MICROSHOP_REDIS_LUA_N];
    ngx_str_t                      channels[4];
    ngx_microshop_redis_hooks_t    hooks;

    ngx_queue_t                    retry;     /* posts waiting for Redis */
    ngx_uint_t                     nretry;

    /*
     * Answers go out in submission order (the contract's FIFO): every
     * exec() waiting to be answered, those answered from the zone too,
     * is in order; a call that needs two round trips (a walk of the
     * sellers) is a barrier: what is submitted after it waits in held
     * until it is done, so it runs after it, as it was submitted.
     */
    ngx_queue_t                    order;
    ngx_queue_t                    held;
    ngx_uint_t                     barrier;
    ngx_uint_t                     delivering;

    int64_t                        ready_at;  /* unix ms: copies made
                                                 before are not used */
    ngx_uint_t                     epoch;     /* + 1 on every ms:inv
                                                 message and ready */
    u_char                         cursor[NGX_INT64_LEN]; /* the sweep's */
    size_t                         cursor_len;
    ngx_microshop_rstore_resume_pt  resume;
    unsigned                       exiting:1;
};


/* a script to send: its index, KEYS then ARGV */
typedef struct {
    ngx_uint_t                     script;
    ngx_uint_t                     nkeys;
    ngx_uint_t                     argc;
    ngx_uint_t                     max;
    ngx_str_t                     *argv;
    ngx_pool_t                    *pool;
} ngx_microshop_rstore_args_t;


typedef struct ngx_microshop_rstore_call_s  ngx_microshop_rstore_call_t;

/* a reply of a call's command; status as ngx_microshop_redis_reply_pt */
typedef void (*ngx_microshop_rstore_step_pt)(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply);


/*
 * One exec() or post() sent to Redis, in a pool of its own, freed once its
 * last command was answered.  op is the caller's until it is answered or
 * cancelled (then NULL); a post works on copy, which it owns.
 */
struct ngx_microshop_rstore_call_s {
    ngx_microshop_rstore_store_t   *rs;
    ngx_pool_t                    *pool;
    ngx_microshop_op_t            *op;        /* the caller's exec */
    ngx_microshop_op_t            *copy;      /* a post's */
    ngx_uint_t                     type;
    ngx_queue_t                    queue;     /* in rs->retry, rs->held */
    ngx_queue_t                    order;     /* an exec, in rs->order */
    ngx_microshop_rstore_step_pt    step;      /* for the next reply */
    ngx_uint_t                     waiting;   /* commands not answered */
    ngx_uint_t                     epoch;     /* rs->epoch when sent */

    /* what an unknown answer's release needs, the caller's op gone */
    ngx_str_t                      key;
    ngx_str_t                      seller;
    ngx_str_t                      id;
    u_char                         fingerprint[
                                       NGX_MICROSHOP_FINGERPRINT_LEN];
    uint64_t                       owner;

    /* fan-out over sellers: what the replies add up to */
    ngx_int_t                      rc;
    ngx_uint_t                     status;    /* the worst one */
    ngx_array_t                    holds;     /* ngx_microshop_hold_t */
    ngx_uint_t                     total;

    unsigned                       post:1;
    unsigned                       cancelled:1;
    unsigned                       retry:1;   /* DECLINED: keep it */
    unsigned                       ordered:1; /* in rs->order */
    unsigned                       done:1;    /* answered, in order */
    unsigned                       barrier:1; /* counted in rs->barrier */
    unsigned                       attempts:2; /* a retry post's sends */
};


/* ngx_microshop_store_redis_order.c */
ngx_int_t ngx_microshop_rstore_answered(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op);
ngx_uint_t ngx_microshop_rstore_hold(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_rstore_call_t *call);
ngx_int_t ngx_microshop_rstore_start(ngx_microshop_rstore_call_t *call,
    ngx_microshop_op_t *op);
void ngx_microshop_rstore_post_start(ngx_microshop_rstore_call_t *call);
void ngx_microshop_rstore_drain(ngx_microshop_rstore_store_t *rs);
void ngx_microshop_rstore_resume(ngx_microshop_rstore_store_t *rs);
void ngx_microshop_rstore_drop(ngx_microshop_rstore_store_t *rs);

/* ngx_microshop_store_redis_outage.c */
void ngx_microshop_rstore_outage(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op);
ngx_int_t ngx_microshop_rstore_release(ngx_microshop_rstore_call_t *call,
    ngx_microshop_op_t *op);
ngx_uint_t ngx_microshop_rstore_retry_again(
    ngx_microshop_rstore_call_t *call);
void ngx_microshop_rstore_flush_retry(ngx_microshop_rstore_store_t *rs);

/* ngx_microshop_store_redis_cmd.c */
ngx_int_t ngx_microshop_rstore_args_init(ngx_microshop_rstore_args_t *a,
    ngx_pool_t *pool, ngx_uint_t script, ngx_uint_t max);
ngx_int_t ngx_microshop_rstore_arg(ngx_microshop_rstore_args_t *a,
    u_char *data, size_t len);
ngx_int_t ngx_microshop_rstore_arg_int(ngx_microshop_rstore_args_t *a,
    int64_t n);
ngx_int_t ngx_microshop_rstore_arg_key(ngx_microshop_rstore_args_t *a,
    ngx_str_t *seller, char *kind, ngx_str_t *name);
ngx_int_t ngx_microshop_rstore_arg_prefix(ngx_microshop_rstore_args_t *a,
    ngx_str_t *seller);
ngx_int_t ngx_microshop_rstore_cmd(ngx_pool_t *pool, ngx_microshop_op_t *op,
    ngx_uint_t keep, ngx_microshop_rstore_args_t *a);
ngx_int_t ngx_microshop_rstore_cmd_seller(ngx_pool_t *pool,
    ngx_microshop_op_t *op, ngx_str_t *seller,
    ngx_microshop_rstore_args_t *a);
int64_t ngx_microshop_rstore_span(int64_t ms);

/* ngx_microshop_store_redis_reply.c */
ngx_int_t ngx_microshop_rstore_reply(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op, redisReply *reply);
void ngx_microshop_rstore_effects(ngx_microshop_rstore_call_t *call,
    redisReply *reply);
ngx_uint_t ngx_microshop_rstore_reply_held(redisReply *reply);
ngx_int_t ngx_microshop_rstore_reply_holds(ngx_microshop_rstore_call_t *call,
    ngx_str_t *seller, redisReply *reply);
ngx_int_t ngx_microshop_rstore_deliver_holds(ngx_microshop_rstore_call_t *call,
    ngx_microshop_op_t *op);
ngx_int_t ngx_microshop_rstore_int(redisReply *reply, int64_t *n);
ngx_int_t ngx_microshop_rstore_atoi(u_char *p, size_t len, int64_t *n);
ngx_int_t ngx_microshop_rstore_dup(ngx_pool_t *pool, ngx_str_t *dst,
    redisReply *reply);

/* ngx_microshop_store_redis_sync.c */
void ngx_microshop_rstore_message(void *data, ngx_str_t *channel,
    ngx_str_t *message);
void ngx_microshop_rstore_ready(void *data);
ngx_int_t ngx_microshop_rstore_copy_get(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op);
void ngx_microshop_rstore_copy_put(ngx_microshop_rstore_store_t *rs,
    ngx_microshop_op_t *op);
void ngx_microshop_rstore_copy_drop(ngx_microshop_rstore_store_t *rs,
    ngx_str_t *key);

/* ngx_microshop_store_redis_sellers.c */
ngx_int_t ngx_microshop_rstore_sellers_start(ngx_microshop_rstore_call_t *call);
void ngx_microshop_rstore_sellers_add(ngx_microshop_rstore_store_t *rs,
    ngx_str_t *seller);


/* ngx_microshop_store_redis_call.c */
ngx_microshop_rstore_call_t *ngx_microshop_rstore_call(
    ngx_microshop_rstore_store_t *rs, ngx_microshop_op_t *op,
    ngx_uint_t copy, ngx_microshop_rstore_step_pt step);
ngx_microshop_rstore_call_t *ngx_microshop_rstore_call_bare(
    ngx_microshop_rstore_store_t *rs, ngx_microshop_rstore_step_pt step);
ngx_int_t ngx_microshop_rstore_send(ngx_microshop_rstore_call_t *call,
    ngx_microshop_rstore_args_t *a);
ngx_microshop_op_t *ngx_microshop_rstore_call_op(
    ngx_microshop_rstore_call_t *call);
void ngx_microshop_rstore_finish(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status);
void ngx_microshop_rstore_deliver(ngx_microshop_rstore_store_t *rs);


#endif /* _NGX_MICROSHOP_RSTORE_H_INCLUDED_ */
