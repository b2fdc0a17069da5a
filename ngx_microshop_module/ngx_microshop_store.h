/*
 * ngx_microshop: the state store interface.
 *
 * Every state operation (rate limit, revocation, idempotency, inventory,
 * reservations) is an ngx_microshop_op_t handed to
 * ngx_microshop_store_exec().  The call returns
 *
 *   NGX_OK     the operation completed now; the result is in op->rc and
 *              the op's out fields (the shm back end always does this);
 *   NGX_AGAIN  the result comes later: op->handler(op) is called once,
 *              from the event loop (a network back end such as Redis).
 *
 * op->rc is NGX_OK (done / found), NGX_DECLINED (not found / refused) or
 * NGX_ERROR (the store could not answer).  Feature code uses only this
 * interface, never the zone or Redis directly.
 */

#ifndef _NGX_MICROSHOP_STORE_H_INCLUDED_
#define _NGX_MICROSHOP_STORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_zone.h"
#include "microshop_ratelimit_gcra.h"


typedef enum {
    NGX_MICROSHOP_OP_GCRA = 0,        /* key: rate key; u.gcra */
    NGX_MICROSHOP_OP_REVOKE,          /* key: jti; u.revoke.exp */
    NGX_MICROSHOP_OP_IS_REVOKED,      /* key: jti; rc NGX_OK if revoked */
    NGX_MICROSHOP_OP_IDEM_BEGIN,      /* key: seller + key; u.idem */
    NGX_MICROSHOP_OP_IDEM_COMPLETE,   /* store the answer (or "too big") */
    NGX_MICROSHOP_OP_IDEM_RELEASE,    /* forget an in-flight key */
    NGX_MICROSHOP_OP_INV_GET,         /* key: seller "\n" sku; u.inv */
    NGX_MICROSHOP_OP_INV_PUT,         /* fill or refresh from the backend */
    NGX_MICROSHOP_OP_INV_DROP,
    NGX_MICROSHOP_OP_EVENT,           /* key: seller "\n" sku; u.event */
    NGX_MICROSHOP_OP_STOCK_SET,       /* key: seller "\n" sku; u.stock */
    NGX_MICROSHOP_OP_STOCK_GET,       /* rc NGX_DECLINED: no stock set */
    NGX_MICROSHOP_OP_RESERVE,         /* u.reserve; NGX_DECLINED: short */
    NGX_MICROSHOP_OP_SETTLE,          /* u.reserve: commit or release */
    NGX_MICROSHOP_OP_SWEEP            /* release holds past their time */
} ngx_microshop_op_type_e;


/* u.event.result */
typedef enum {
    NGX_MICROSHOP_EVENT_ACCEPTED = 0,
    NGX_MICROSHOP_EVENT_DUPLICATE,    /* this event id was seen */
    NGX_MICROSHOP_EVENT_STALE         /* not newer than what is stored */
} ngx_microshop_event_result_e;


/* one line of a checkout */
typedef struct {
    ngx_str_t                      sku;
    int64_t                        quantity;
    ngx_uint_t                     short_of_stock;  /* out */
} ngx_microshop_line_t;


/* u.idem.result of NGX_MICROSHOP_OP_IDEM_BEGIN */
typedef enum {
    NGX_MICROSHOP_IDEM_NEW = 0,       /* the lock is ours: execute */
    NGX_MICROSHOP_IDEM_IN_PROGRESS,   /* same request still in flight */
    NGX_MICROSHOP_IDEM_MISMATCH,      /* the key was used for another one */
    NGX_MICROSHOP_IDEM_DONE,          /* u.idem.response holds the answer */
    NGX_MICROSHOP_IDEM_UNAVAILABLE    /* executed, answer not kept */
} ngx_microshop_idem_result_e;

#define NGX_MICROSHOP_FINGERPRINT_LEN  32


typedef struct ngx_microshop_op_s     ngx_microshop_op_t;
typedef struct ngx_microshop_store_s  ngx_microshop_store_t;

typedef void (*ngx_microshop_op_handler_pt)(ngx_microshop_op_t *op);


struct ngx_microshop_op_s {
    ngx_microshop_op_type_e        type;
    ngx_int_t                      rc;
    ngx_microshop_op_handler_pt    handler;
    void                          *data;

    ngx_str_t                      key;
    ngx_pool_t                    *pool;      /* for results that copy */

    union {
        struct {
            int64_t                    interval;   /* us */
            int64_t                    burst;
            int64_t                    cost;
            microshop_gcra_result_t    result;
        } gcra;

        struct {
            int64_t                    exp;        /* unix seconds */
        } revoke;

        struct {
            u_char                     fingerprint[
                                           NGX_MICROSHOP_FINGERPRINT_LEN];
            int64_t                    lock;       /* ms */
            int64_t                    ttl;        /* ms */
            ngx_uint_t                 result;     /* begin */
            ngx_uint_t                 unavailable; /* complete: too big */
            ngx_str_t                  response;   /* complete: in;
                                                      begin: out */
        } idem;

        struct {
            ngx_str_t                  body;       /* get: out; put: in */
            ngx_str_t                  etag;
            int64_t                    stored_at;  /* unix ms, out */
            int64_t                    version;    /* 0: none */
            int64_t                    keep;       /* put: ms */
        } inv;

        struct {
            ngx_str_t                  id;
            int64_t                    version;
            ngx_uint_t                 has_available;
            int64_t                    available;
            ngx_uint_t                 has_item;
            ngx_str_t                  item;       /* the representation */
            ngx_str_t                  etag;
            ngx_uint_t                 result;     /* out */
        } event;

        struct {
            int64_t                    available;  /* -1: not known */
            int64_t                    held;       /* out */
        } stock;

        struct {
            ngx_str_t                  seller;
            ngx_str_t                  id;         /* reservation id */
            ngx_microshop_line_t      *lines;
            ngx_uint_t                 nlines;
            int64_t                    hold;       /* ms */
            ngx_uint_t                 commit;     /* settle */
            ngx_uint_t                 held;       /* out: a hold exists */
        } reserve;
    } u;
};


struct ngx_microshop_store_s {
    ngx_int_t                    (*exec)(ngx_microshop_store_t *store,
                                         ngx_microshop_op_t *op);
    ngx_microshop_zone_t          *zone;
};


#define ngx_microshop_store_exec(store, op)  (store)->exec(store, op)

void ngx_microshop_store_shm_init(ngx_microshop_store_t *store,
    ngx_microshop_zone_t *zone);


#endif /* _NGX_MICROSHOP_STORE_H_INCLUDED_ */
