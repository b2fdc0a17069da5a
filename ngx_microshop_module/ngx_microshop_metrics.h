/*
 * ngx_microshop: decisions and Prometheus counters.
 *
 * Counters live in the shared zone (ngx_microshop_sh_t.counters), so the
 * `microshop_status` page shows the sum over all workers, and they survive
 * `nginx -s reload`.
 */

#ifndef _NGX_MICROSHOP_METRICS_H_INCLUDED_
#define _NGX_MICROSHOP_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* why a request was allowed or denied: microshop_requests_total{reason} */
typedef enum {
    NGX_MICROSHOP_REASON_NONE = 0,            /* the module did not decide */
    NGX_MICROSHOP_REASON_OK,
    NGX_MICROSHOP_REASON_REPLAY,
    NGX_MICROSHOP_REASON_CACHE_HIT,
    NGX_MICROSHOP_REASON_DRY_RUN,
    NGX_MICROSHOP_REASON_NO_TOKEN,
    NGX_MICROSHOP_REASON_INVALID_TOKEN,
    NGX_MICROSHOP_REASON_INVALID_REQUEST,
    NGX_MICROSHOP_REASON_REVOKED,
    NGX_MICROSHOP_REASON_TOKEN_CLASS,
    NGX_MICROSHOP_REASON_INSUFFICIENT_SCOPE,
    NGX_MICROSHOP_REASON_SELLER_MISMATCH,
    NGX_MICROSHOP_REASON_METHOD_NOT_ALLOWED,
    NGX_MICROSHOP_REASON_RATE_LIMITED,
    NGX_MICROSHOP_REASON_IDEMPOTENCY,
    NGX_MICROSHOP_REASON_OUT_OF_STOCK,
    NGX_MICROSHOP_REASON_INVALID_CHECKOUT,
    NGX_MICROSHOP_REASON_INVALID_SIGNATURE,
    NGX_MICROSHOP_REASON_STORE_UNAVAILABLE,
    NGX_MICROSHOP_REASON_ERROR,
    NGX_MICROSHOP_REASON_UPSTREAM_UNAVAILABLE,
    NGX_MICROSHOP_REASON_QUOTA_EXCEEDED,
    /* the token exchange refused the subject token or the scopes asked */
    NGX_MICROSHOP_REASON_INVALID_GRANT,
    NGX_MICROSHOP_REASON_INVALID_SCOPE,
    NGX_MICROSHOP_REASON_MAX
} ngx_microshop_reason_e;


/*
 * The buckets of microshop_redis_latency_seconds, upper bounds in us; the
 * last one is +Inf (ngx_microshop_metrics.c prints them).
 */
#define NGX_MICROSHOP_REDIS_BUCKETS  12
#define NGX_MICROSHOP_REDIS_BUCKET_BOUNDS                                     \
    { 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,    \
      1000000, -1 }


/* every counter; the first NGX_MICROSHOP_REASON_MAX are requests_total */
typedef enum {
    NGX_MICROSHOP_COUNTER_TOKEN_VERIFICATIONS = NGX_MICROSHOP_REASON_MAX,
    NGX_MICROSHOP_COUNTER_TOKEN_CACHE_HITS,
    NGX_MICROSHOP_COUNTER_RATE_LIMITED,
    NGX_MICROSHOP_COUNTER_RATE_DRY_RUN,
    NGX_MICROSHOP_COUNTER_IDEM_NEW,
    NGX_MICROSHOP_COUNTER_IDEM_REPLAY,
    NGX_MICROSHOP_COUNTER_IDEM_IN_PROGRESS,
    NGX_MICROSHOP_COUNTER_IDEM_MISMATCH,
    NGX_MICROSHOP_COUNTER_IDEM_UNAVAILABLE,
    NGX_MICROSHOP_COUNTER_IDEM_RELEASED,
    NGX_MICROSHOP_COUNTER_IDEM_INVALID,
    NGX_MICROSHOP_COUNTER_IDEM_UNKNOWN,
    NGX_MICROSHOP_COUNTER_CACHE_HIT,
    NGX_MICROSHOP_COUNTER_CACHE_MISS,
    NGX_MICROSHOP_COUNTER_CACHE_STALE,
    NGX_MICROSHOP_COUNTER_CACHE_STORE,
    NGX_MICROSHOP_COUNTER_CACHE_REFRESH,
    NGX_MICROSHOP_COUNTER_CACHE_REFRESH_FAILED,
    NGX_MICROSHOP_COUNTER_RESERVE_OK,
    NGX_MICROSHOP_COUNTER_RESERVE_OUT_OF_STOCK,
    NGX_MICROSHOP_COUNTER_RESERVE_COMMIT,
    NGX_MICROSHOP_COUNTER_RESERVE_RELEASE,
    NGX_MICROSHOP_COUNTER_RESERVE_UNKNOWN,
    NGX_MICROSHOP_COUNTER_RESERVE_PENDING,
    NGX_MICROSHOP_COUNTER_SETTLED_ADMIN_COMMIT,
    NGX_MICROSHOP_COUNTER_SETTLED_ADMIN_RELEASE,
    NGX_MICROSHOP_COUNTER_SETTLED_EVENT,
    NGX_MICROSHOP_COUNTER_REDIS_ERR_TIMEOUT,   /* no answer in timeout= */
    NGX_MICROSHOP_COUNTER_REDIS_ERR_CONNECT,   /* a connect failed, a
                                                  connection was lost */
    NGX_MICROSHOP_COUNTER_REDIS_ERR_PROTOCOL,  /* an answer not understood */
    NGX_MICROSHOP_COUNTER_REDIS_ERR_SCRIPT,    /* an error answer */
    NGX_MICROSHOP_COUNTER_REDIS_COMMANDS,      /* commands sent */
    NGX_MICROSHOP_COUNTER_REDIS_RECONNECTS,    /* connects after the first */
    NGX_MICROSHOP_COUNTER_REDIS_MESSAGES,      /* pub/sub messages received */
    NGX_MICROSHOP_COUNTER_REDIS_FALLBACK_LOCAL, /* answered by the zone */
    NGX_MICROSHOP_COUNTER_REDIS_FALLBACK_OPEN,  /* allowed, not checked */
    NGX_MICROSHOP_COUNTER_REDIS_FALLBACK_CLOSED, /* refused: store error */
    NGX_MICROSHOP_COUNTER_REDIS_MOVED,     /* Cluster redirects followed */
    NGX_MICROSHOP_COUNTER_REDIS_ASK,
    NGX_MICROSHOP_COUNTER_REDIS_TRYAGAIN,  /* resent after a delay */
    NGX_MICROSHOP_COUNTER_REDIS_CLUSTERDOWN,
    NGX_MICROSHOP_COUNTER_REDIS_REFRESHES, /* slot maps loaded */
    NGX_MICROSHOP_COUNTER_REDIS_FAILOVERS, /* a new primary took over from
                                              one that was down (Cluster),
                                              a move to a new primary
                                              (Sentinel) */

    /* microshop_redis_latency_seconds: one counter per bucket (not
     * cumulative; the status page sums them), then the sum in us */
    NGX_MICROSHOP_COUNTER_REDIS_LATENCY,
    NGX_MICROSHOP_COUNTER_REDIS_LATENCY_SUM_US =
        NGX_MICROSHOP_COUNTER_REDIS_LATENCY + NGX_MICROSHOP_REDIS_BUCKETS,

    NGX_MICROSHOP_COUNTER_STORE_ERRORS,
    NGX_MICROSHOP_COUNTER_STORE_LATE,
    NGX_MICROSHOP_COUNTER_ZONE_EVICTIONS,  /* cache records evicted for
                                              a record that is no token */
    NGX_MICROSHOP_COUNTER_TOKEN_CACHE_EVICTIONS, /* tokens evicted for a
                                              token, within token_cache= */
    NGX_MICROSHOP_COUNTER_ZONE_FULL,
    NGX_MICROSHOP_COUNTER_QUOTA_IDEM,
    NGX_MICROSHOP_COUNTER_QUOTA_EVENTS,

    /* tokens the gateway minted (docs/tokens.md), and the token exchange's
     * refusals by their RFC 6749 error */
    NGX_MICROSHOP_COUNTER_MINTED_EXCHANGE,
    NGX_MICROSHOP_COUNTER_MINTED_ADMIN,
    NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_REQUEST,
    NGX_MICROSHOP_COUNTER_EXCHANGE_UNSUPPORTED_GRANT,
    NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_TARGET,
    NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_GRANT,
    NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_SCOPE,
    NGX_MICROSHOP_COUNTER_EXCHANGE_UNAUTHORIZED,
    /* keys from the identity provider: fetches by result */
    NGX_MICROSHOP_COUNTER_JWKS_OK,
    NGX_MICROSHOP_COUNTER_JWKS_ERROR,
    NGX_MICROSHOP_COUNTER_JWKS_INVALID,
    /* the sellers' feeds (docs/events.md): events written by this node,
     * dropped from a full ring, subscribers cut off for reading too
     * slowly; the first is also what wakes a worker's waiting readers */
    NGX_MICROSHOP_COUNTER_FEED_EVENTS,
    NGX_MICROSHOP_COUNTER_FEED_DROPPED,
    NGX_MICROSHOP_COUNTER_FEED_CUT,
    /* checkouts accepted while the backend was down (docs/events.md
     * "Offline orders") */
    NGX_MICROSHOP_COUNTER_OFFLINE_ACCEPTED,

    /* gauges: up and down */
    NGX_MICROSHOP_COUNTER_HOLDS_PENDING,   /* holds pending reconciliation */
    NGX_MICROSHOP_COUNTER_REDIS_UP,        /* Redis command connections
                                              up, over all workers */
    NGX_MICROSHOP_COUNTER_REDIS_SYNCED,    /* 1 once the zone holds the
                                              revocations loaded from
                                              Redis (docs/redis.md) */
    NGX_MICROSHOP_COUNTER_JWKS_KEYS,       /* keys the provider's set got
                                              at its last good fetch (any
                                              worker) */
    NGX_MICROSHOP_COUNTER_JWKS_FETCHED_AT, /* unix time of that fetch */
    NGX_MICROSHOP_COUNTER_FEED_SUBSCRIBERS, /* feed readers waiting (long
                                              polls and event streams) */
    NGX_MICROSHOP_COUNTER_MAX
} ngx_microshop_counter_e;


/*
 * Per Redis node (docs/redis.md "Metrics"): a table in the zone, an entry
 * per address any worker connected to (the first NODES_MAX of them), so
 * the status page labels the lines with node="host:port".
 */
#define NGX_MICROSHOP_REDIS_NODES_MAX  32
#define NGX_MICROSHOP_REDIS_NODE_NAME  64

typedef enum {
    NGX_MICROSHOP_NODE_CONNECTIONS = 0,   /* gauge: command connections up */
    NGX_MICROSHOP_NODE_ERRORS,            /* connects failed, connections
                                             lost, commands timed out */
    NGX_MICROSHOP_NODE_MOVED,             /* redirects this node answered */
    NGX_MICROSHOP_NODE_ASK,
    NGX_MICROSHOP_NODE_REFRESHES,         /* slot maps it answered */
    NGX_MICROSHOP_NODE_FAILOVERS,         /* its primary role taken over
                                             (Cluster), moves to it
                                             (Sentinel) */
    NGX_MICROSHOP_NODE_FAILED,            /* 1 once a worker saw it lose its
                                             primary role: the failover is
                                             counted once, not per worker;
                                             0 again once it is back */
    NGX_MICROSHOP_NODE_MAX
} ngx_microshop_node_counter_e;

typedef struct {
    ngx_atomic_t              used;       /* 1 once name is set */
    size_t                    len;
    u_char                    name[NGX_MICROSHOP_REDIS_NODE_NAME];
    ngx_atomic_t              counters[NGX_MICROSHOP_NODE_MAX];
} ngx_microshop_node_stat_t;


const char *ngx_microshop_reason_name(ngx_microshop_reason_e reason);
const char *ngx_microshop_reason_decision(ngx_microshop_reason_e reason);

char *ngx_microshop_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_MICROSHOP_METRICS_H_INCLUDED_ */
