/*
 * ngx_microshop: the store contract (docs/architecture.md).
 *
 * Every piece of shared state (rate limits, revocations, idempotency,
 * inventory, stock and reservations) is read and written through an
 * ngx_microshop_op_t handed to one of three calls.  Feature code uses only
 * these calls; it never names a back end, the zone or Redis.
 *
 * exec(op)    an operation a request waits for.  The op, its key and
 *             every buffer it points to belong to the caller (the request
 *             pool) and must stay valid until the op finished or was
 *             cancelled.  Returns NGX_OK: finished now, the result is in
 *             op->rc and the op's out fields, op->handler is NOT called;
 *             NGX_AGAIN: op->handler(op) runs exactly once, later, from
 *             the event loop.  Results that need memory (a stored answer,
 *             an inventory body) are allocated from op->pool.  A back end
 *             that waits on the network bounds the wait itself: a timeout
 *             finishes the op with rc NGX_ERROR, never a hang.
 * post(op)    fire-and-forget work (settle, complete, release, cache fill,
 *             sweep).  The back end copies what it needs before post()
 *             returns; the caller may free the op at once.  No handler
 *             runs.  When the op succeeds, op->counter (if not 0) is
 *             counted; a failure is logged and counted as a store error.
 * cancel(op)  the request of a pending exec() died first (client gone,
 *             timeout, reload).  After cancel() the back end never touches
 *             the op again and never calls its handler; the answer that
 *             still arrives is dropped and counted (store_late_answers).
 *
 * op->rc is NGX_OK (done / found), NGX_DECLINED (not found / refused),
 * NGX_BUSY (IDEM_BEGIN, EVENT: the op would keep one more record for a
 * seller that is over its quota of them, seller_quota=; nothing changed)
 * or NGX_ERROR (the store could not answer).
 */

#ifndef _NGX_MICROSHOP_STORE_H_INCLUDED_
#define _NGX_MICROSHOP_STORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_zone.h"
#include "microshop_ratelimit_gcra.h"
#include "microshop_event.h"


typedef enum {
    NGX_MICROSHOP_OP_GCRA = 0,        /* key: rate key; u.gcra */
    NGX_MICROSHOP_OP_REVOKE,          /* key: jti; u.revoke.exp */
    NGX_MICROSHOP_OP_IS_REVOKED,      /* key: jti ("": none); u.revoked;
                                         rc NGX_OK if revoked */
    NGX_MICROSHOP_OP_IDEM_BEGIN,      /* key: seller + key; u.idem */
    NGX_MICROSHOP_OP_IDEM_COMPLETE,   /* store the answer (or "too big") */
    NGX_MICROSHOP_OP_IDEM_RELEASE,    /* forget an in-flight key */
    NGX_MICROSHOP_OP_INV_GET,         /* key: seller "\n" sku; u.inv */
    NGX_MICROSHOP_OP_INV_PUT,         /* fill or refresh from the backend */
    NGX_MICROSHOP_OP_INV_DROP,
    NGX_MICROSHOP_OP_INV_FAILED,      /* a refresh failed: u.inv.keep */
    NGX_MICROSHOP_OP_EVENT,           /* key: seller "\n" sku; u.event */
    NGX_MICROSHOP_OP_STOCK_SET,       /* key: seller "\n" sku; u.stock */
    NGX_MICROSHOP_OP_STOCK_GET,       /* rc NGX_DECLINED: no stock set */
    NGX_MICROSHOP_OP_RESERVE,         /* u.reserve; NGX_DECLINED: short */
    NGX_MICROSHOP_OP_SETTLE,          /* u.reserve.id: commit or release,
                                         whatever its state; NGX_DECLINED:
                                         no such hold (settled already) */
    NGX_MICROSHOP_OP_SWEEP,           /* holds past hold=: pending */
    NGX_MICROSHOP_OP_HOLD_UNKNOWN,    /* u.reserve.id, why: its request
                                         ended, the outcome is unknown */
    NGX_MICROSHOP_OP_HOLD_LIST,       /* u.reserve: holds, oldest first */
    NGX_MICROSHOP_OP_REVOKE_BEFORE,   /* key: seller "\n" class ("": every
                                         class); u.watermark */
    NGX_MICROSHOP_OP_REVOKED_LIST,    /* u.revoked_list: what is in force */
    NGX_MICROSHOP_OP_FEED_APPEND,     /* key: seller; u.feed: an event */
    NGX_MICROSHOP_OP_FEED_READ,       /* key: seller; u.feed: its events
                                         after an id */
    NGX_MICROSHOP_OP_USAGE_PUT,       /* key: this node's name; u.usage */
    NGX_MICROSHOP_OP_USAGE_GET        /* u.usage: every node's export */
} ngx_microshop_op_type_e;

/* the last op type: a larger one is no op */
#define NGX_MICROSHOP_OP_LAST  NGX_MICROSHOP_OP_USAGE_GET


/*
 * Revocations (docs/tokens.md "Revocation").  A revocation by jti (REVOKE)
 * refuses every token whose jti or parent_jti is that jti; it is kept
 * until the token's exp + NGX_MICROSHOP_REVOKE_MARGIN, the largest
 * leeway.  A watermark (REVOKE_BEFORE) of a seller, and of one of its
 * token classes or of all of them, refuses every token of that seller
 * (and class) issued before u.watermark.before, and one without an iat;
 * a later one for the same seller and class only moves it forward.  It
 * is kept until u.watermark.until (0: for ever), which the caller
 * computes: no token it covers is still valid then.  IS_REVOKED checks a
 * token's jti, parent_jti, and its seller, class and iat against both.
 */
#define NGX_MICROSHOP_REVOKE_MARGIN  3600

/* u.revoked.iat of a token without one */
#define NGX_MICROSHOP_STORE_NO_IAT   INT64_MIN


/* a revocation by jti, as NGX_MICROSHOP_OP_REVOKED_LIST lists it */
typedef struct {
    ngx_str_t                      jti;
    int64_t                        exp;       /* unix s, as revoked */
} ngx_microshop_revoked_jti_t;


/* a watermark, as NGX_MICROSHOP_OP_REVOKED_LIST lists it */
typedef struct {
    ngx_str_t                      seller;
    ngx_str_t                      class;     /* "": every class */
    int64_t                        before;    /* unix s: issued before */
    int64_t                        until;     /* unix s: kept until; 0:
                                                 for ever */
} ngx_microshop_watermark_t;


/*
 * The states of a hold (docs/inventory.md "Pending reconciliation").  A
 * hold is settled (commit or release) by its request's answer, by the
 * admin API or, once its outcome is unknown, by an inventory event with a
 * newer version; time alone never releases it.
 */
/*
 * Offline slots (docs/events.md "Offline orders"): a RESERVE with
 * offline_max > 0 also takes one of the seller's offline slots when fewer
 * than offline_max are taken, and says so (u.reserve.offline).  Only a
 * hold with a slot may become an offline order (HOLD_UNKNOWN with why
 * OFFLINE), which keeps it until the admin API settles the order; every
 * other end of the hold (SETTLE, HOLD_UNKNOWN for another reason) gives
 * the slot back.  So a seller never has more than offline_max offline
 * orders, and a checkout that found no slot fails as without offline=.
 * An inventory event never settles a hold with a slot: while its request
 * is in flight it may still become an offline order, which the backend's
 * count cannot know of.
 */
typedef enum {
    NGX_MICROSHOP_HOLD_LIVE = 0,      /* its request has not told yet */
    NGX_MICROSHOP_HOLD_UNKNOWN,       /* its request ended after it was
                                         sent, without an answer */
    NGX_MICROSHOP_HOLD_PENDING        /* past hold= and not settled:
                                         pending reconciliation */
} ngx_microshop_hold_state_e;


/* why the outcome of a hold is unknown (u.reserve.why) */
typedef enum {
    NGX_MICROSHOP_WHY_NONE = 0,
    NGX_MICROSHOP_WHY_TIMEOUT,        /* nginx's 504 after the request was
                                         sent */
    NGX_MICROSHOP_WHY_UPSTREAM_ERROR, /* nginx's 502/503 after it was sent:
                                         reset, closed, a bad header */
    NGX_MICROSHOP_WHY_CLIENT_ABORT,   /* the request ended after it was
                                         sent, before any answer: the
                                         client went away */
    NGX_MICROSHOP_WHY_NO_ANSWER,      /* hold= ran out before its request
                                         told: still waiting, or its
                                         worker stopped */
    NGX_MICROSHOP_WHY_OFFLINE,        /* the backend could not be reached
                                         and the checkout was accepted
                                         offline (docs/events.md "Offline
                                         orders"): only the admin API
                                         settles it, never an inventory
                                         event */
    NGX_MICROSHOP_WHY_MAX
} ngx_microshop_hold_why_e;


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
    /* RESERVE, out: the stock of the sku once the hold was taken, -1 when
     * the back end does not tell (a line the edge does not manage) */
    int64_t                        available;
    int64_t                        held;
} ngx_microshop_line_t;


/*
 * The feeds (docs/events.md).  FEED_APPEND (post) adds an event to the
 * seller's feed: the back end gives it the next id (microshop_event.h),
 * keeps the store's last feed_keep events of the seller (about that many
 * with Redis, MAXLEN ~) and drops the oldest first, counting them.
 * FEED_READ (exec) copies up to limit events after an id, oldest first,
 * into op->pool, with the seller's newest id, and says whether events
 * after that id were dropped before they could be read (missed).
 */
typedef struct {
    microshop_event_id_t           id;
    ngx_uint_t                     type;      /* microshop_event_type_e */
    ngx_str_t                      data;      /* a JSON object */
} ngx_microshop_feed_event_t;


/*
 * Scope usage across nodes (docs/audit-playbook.md "Several nodes").
 * USAGE_PUT (post) keeps the export of this node's usage block
 * (microshop_usage_wire.h) under its name (op->key), for u.usage.keep ms
 * after the last put.  USAGE_GET (exec) copies the name and export of
 * every node kept into op->pool, this node's too.  A store of one node
 * keeps nothing: USAGE_PUT does nothing, USAGE_GET answers NGX_DECLINED
 * (no other node); the report then reads the node's block alone.
 */
typedef struct {
    ngx_str_t                      node;
    ngx_str_t                      blob;
} ngx_microshop_usage_blob_t;


/* a hold, as NGX_MICROSHOP_OP_HOLD_LIST lists it (in op->pool) */
typedef struct {
    ngx_str_t                      id;
    ngx_str_t                      seller;
    ngx_microshop_line_t          *lines;     /* not settled yet */
    ngx_uint_t                     nlines;
    int64_t                        created;   /* unix ms */
    int64_t                        deadline;  /* unix ms: hold= runs out */
    ngx_uint_t                     state;     /* PENDING once past deadline */
    ngx_uint_t                     why;
} ngx_microshop_hold_t;


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

typedef struct ngx_microshop_store_backend_s  ngx_microshop_store_backend_t;

typedef void (*ngx_microshop_op_handler_pt)(ngx_microshop_op_t *op);


struct ngx_microshop_op_s {
    ngx_microshop_op_type_e        type;
    ngx_int_t                      rc;
    ngx_microshop_op_handler_pt    handler;
    void                          *data;

    ngx_str_t                      key;
    ngx_pool_t                    *pool;      /* for results that copy */
    ngx_uint_t                     counter;   /* post: counted on success */
    void                          *pending;   /* the back end's, while an
                                                 exec() is in flight */

    /*
     * When the shared store (Redis) cannot answer: fallback = 1 lets the
     * back end run the op on this node's zone instead (a location's
     * on_store_error=local, docs/redis.md "When Redis is down"); the
     * back end then sets local = 1.  An op given with local = 1 runs on
     * this node's zone whatever the store: the settling op of one that
     * fell back goes where its lock or hold is.
     */
    unsigned                       fallback:1;
    unsigned                       local:1;

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

        /* IS_REVOKED: what else of the token revocations may name */
        struct {
            ngx_str_t                  parent;     /* parent_jti, "" */
            ngx_str_t                  seller;     /* "": no watermark
                                                      applies */
            ngx_str_t                  class;      /* "": none */
            int64_t                    iat;        /* unix s, or
                                                      NGX_MICROSHOP_STORE_
                                                      NO_IAT */
        } revoked;

        /* REVOKE_BEFORE */
        struct {
            int64_t                    before;     /* unix s */
            int64_t                    until;      /* unix s, 0: for ever */
        } watermark;

        /*
         * REVOKED_LIST: up to limit of each kind in force, in op->pool
         * (on a Redis back end the node's copy); truncated: there are
         * more of either kind
         */
        struct {
            ngx_uint_t                 limit;
            ngx_microshop_revoked_jti_t  *jtis;    /* out */
            ngx_uint_t                 njtis;      /* out */
            ngx_microshop_watermark_t *watermarks; /* out */
            ngx_uint_t                 nwatermarks; /* out */
            ngx_uint_t                 truncated;  /* out */
        } revoked_list;

        struct {
            u_char                     fingerprint[
                                           NGX_MICROSHOP_FINGERPRINT_LEN];
            uint64_t                   owner;      /* begin, release: the
                                                      request's own */
            int64_t                    lock;       /* ms */
            int64_t                    ttl;        /* ms */
            ngx_uint_t                 result;     /* begin */
            ngx_uint_t                 unavailable; /* complete: too big */
            ngx_str_t                  response;   /* complete: in;
                                                      begin: out */
        } idem;

        /*
         * INV_GET with revalidate > 0 also takes the entry's refresh lock
         * for lock ms (refresh = 1) when the entry is at least fresh ms
         * old and less than fresh + revalidate, no refresh holds the lock
         * and none failed less than its retry time ago (failed = 1).  The
         * lock ends with the next INV_PUT (a new entry), INV_DROP or
         * INV_FAILED of stored_at's entry, which also bars a new refresh
         * for keep ms.
         */
        struct {
            ngx_str_t                  body;       /* get: out; put: in */
            ngx_str_t                  etag;
            int64_t                    stored_at;  /* unix ms, get: out;
                                                      failed: in */
            int64_t                    version;    /* 0: none */
            int64_t                    keep;       /* put, failed: ms */
            int64_t                    fresh;      /* get: ms */
            int64_t                    revalidate; /* get: ms, 0: no lock */
            int64_t                    lock;       /* get: ms */
            ngx_uint_t                 refresh;    /* get, out: the lock */
            ngx_uint_t                 failed;     /* get, out */
        } inv;

        struct {
            ngx_str_t                  id;
            int64_t                    version;    /* >= 0 */
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
            ngx_uint_t                 type;       /* append */
            ngx_str_t                  data;       /* append: a JSON
                                                      object */
            microshop_event_id_t       after;      /* read */
            ngx_uint_t                 limit;      /* read */
            ngx_microshop_feed_event_t *events;    /* read: out */
            ngx_uint_t                 nevents;    /* read: out */
            microshop_event_id_t       last;       /* read: out, the
                                                      newest id, 0-0:
                                                      none yet */
            ngx_uint_t                 missed;     /* read: out */
        } feed;

        struct {
            ngx_str_t                  blob;       /* put: the export */
            int64_t                    keep;       /* ms */
            ngx_microshop_usage_blob_t *nodes;     /* get: out */
            ngx_uint_t                 nnodes;     /* get: out */
        } usage;

        struct {
            ngx_str_t                  seller;     /* list: "" for all;
                                                      settle: "" in, the
                                                      hold's out (if the
                                                      back end tells) */
            ngx_str_t                  id;         /* reservation id */
            ngx_microshop_line_t      *lines;
            ngx_uint_t                 nlines;
            int64_t                    hold;       /* ms */
            ngx_uint_t                 commit;     /* settle */
            ngx_uint_t                 offline_max; /* reserve: take one of
                                                      the seller's offline
                                                      slots if fewer than
                                                      this are taken (0:
                                                      none) */
            ngx_uint_t                 offline;    /* reserve, out: a slot
                                                      was taken */
            ngx_uint_t                 held;       /* out: a hold exists */
            ngx_uint_t                 why;        /* hold_unknown */
            ngx_uint_t                 all;        /* list: every state,
                                                      not only pending */
            ngx_uint_t                 limit;      /* list */
            ngx_microshop_hold_t      *holds;      /* list: out */
            ngx_uint_t                 nholds;     /* list: out */
            ngx_uint_t                 total;      /* list: out, matches
                                                      beyond the limit too */
        } reserve;
    } u;
};


/*
 * A back end.  Registered in the table of ngx_microshop_store.c; chosen by
 * name at configuration time.  data is its own (the shm back end keeps
 * the zone there).
 */
struct ngx_microshop_store_backend_s {
    ngx_str_t                      name;
    ngx_int_t                    (*init_conf)(ngx_conf_t *cf,
                                              ngx_microshop_store_t *store);
    ngx_int_t                    (*init_process)(ngx_cycle_t *cycle,
                                                 ngx_microshop_store_t *store);
    void                         (*exit_process)(ngx_cycle_t *cycle,
                                                 ngx_microshop_store_t *store);
    ngx_int_t                    (*exec)(ngx_microshop_store_t *store,
                                         ngx_microshop_op_t *op);
    void                         (*post)(ngx_microshop_store_t *store,
                                         ngx_microshop_op_t *op);
    void                         (*cancel)(ngx_microshop_store_t *store,
                                           ngx_microshop_op_t *op);
};


struct ngx_microshop_store_s {
    const ngx_microshop_store_backend_t  *backend;
    void                                 *data;      /* the back end's */

    /* microshop_redis (ngx_microshop_redis.h), NULL: not configured */
    struct ngx_microshop_redis_conf_s    *redis;

    /* the node-local zone: where the store's own outcomes are counted and
     * where the shm back end keeps its records */
    ngx_microshop_zone_t                 *local;

    /* microshop_events_out: the zone of the embedded feeds (NULL: no
     * feeds) and how many events of a seller are kept */
    ngx_microshop_zone_t                 *feed;
    ngx_uint_t                            feed_keep;

    time_t                                error_logged;  /* per worker */
};


/* the test switch that runs the suite on another back end */
#define NGX_MICROSHOP_STORE_ENV  "NGX_MICROSHOP_TEST_STORE"

/*
 * Chooses the back end at configuration time: "redis" with microshop_redis,
 * else "shm" unless the test switch NGX_MICROSHOP_TEST_STORE names another
 * one (docs/architecture.md).
 */
ngx_int_t ngx_microshop_store_init_conf(ngx_conf_t *cf,
    ngx_microshop_store_t *store, ngx_microshop_zone_t *local);
ngx_int_t ngx_microshop_store_init_process(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store);
void ngx_microshop_store_exit_process(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store);

#define ngx_microshop_store_exec(store, op)                                   \
    (store)->backend->exec(store, op)
#define ngx_microshop_store_post(store, op)                                   \
    (store)->backend->post(store, op)
#define ngx_microshop_store_cancel(store, op)                                 \
    (store)->backend->cancel(store, op)


/*
 * The key of a seller's record: seller "\n" name (an SKU, an
 * Idempotency-Key, an event id).  Two sellers' keys never meet.
 * ngx_microshop_store_key() allocates it from pool (NGX_ERROR: out of
 * memory); ngx_microshop_store_key_write() writes it at p, which has room
 * for seller->len + 1 + len bytes, and returns the end.
 */
ngx_int_t ngx_microshop_store_key(ngx_pool_t *pool, ngx_str_t *seller,
    u_char *name, size_t len, ngx_str_t *key);
u_char *ngx_microshop_store_key_write(u_char *p, ngx_str_t *seller,
    u_char *name, size_t len);

/*
 * The key of a record of a client without a seller (no token), e.g. an
 * Idempotency-Key: "\x01" address "\n" name.  No seller begins with
 * that byte (a token's claims hold no control character), so a client's
 * keys never meet those of a seller named like its address.
 */
#define NGX_MICROSHOP_STORE_CLIENT  '\x01'

ngx_int_t ngx_microshop_store_key_client(ngx_pool_t *pool, ngx_str_t *addr,
    u_char *name, size_t len, ngx_str_t *key);

/* the seller of a key, NGX_ERROR when key is not a seller's */
ngx_int_t ngx_microshop_store_key_seller(ngx_str_t *key, ngx_str_t *seller);


/*
 * The embedded store across a restart (docs/events.md "Across a
 * restart"): the feeds and the offline orders saved to path by the master
 * as nginx stops, and read back by the next one into fresh zones.
 * Nothing with microshop_redis.
 */
void ngx_microshop_store_state_save(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store, ngx_str_t *path);
ngx_int_t ngx_microshop_store_state_load(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store, ngx_str_t *path);


/*
 * Events written by other nodes that this worker heard of (Redis pub/sub):
 * the feeds' waiting readers look at it with the count of events this node
 * wrote (ngx_microshop_feed_wait.h)
 */
extern ngx_uint_t  ngx_microshop_store_feed_heard;


/* for back ends */

/* a posted op finished: counts op->counter or the error */
void ngx_microshop_store_posted(ngx_microshop_store_t *store,
    ngx_microshop_op_t *op);

/* an answer arrived for an op that was cancelled */
void ngx_microshop_store_late(ngx_microshop_store_t *store);

/*
 * A deep copy of op (key and every buffer the op reads; out fields are
 * cleared) in a pool of its own, for a back end that finishes an op later;
 * ngx_destroy_pool(copy->pool) frees it whole.  NULL when out of memory.
 */
ngx_microshop_op_t *ngx_microshop_store_op_copy(ngx_microshop_op_t *op,
    ngx_log_t *log);


/* the back ends */
extern const ngx_microshop_store_backend_t  ngx_microshop_store_shm;
extern const ngx_microshop_store_backend_t  ngx_microshop_store_deferred;
extern const ngx_microshop_store_backend_t  ngx_microshop_store_redis;


#endif /* _NGX_MICROSHOP_STORE_H_INCLUDED_ */
