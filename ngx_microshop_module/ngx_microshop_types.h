/*
 * ngx_microshop: the types of the nginx glue, in one header that includes
 * only nginx headers and the layers below the features (the store, the
 * zone, the pure token logic), as OpenResty's srcache keeps its types.
 *
 * Every feature's configuration and per-request state is defined here,
 * because the main and location configuration and the request context
 * embed them; the feature headers declare only functions.  The module
 * file includes the feature headers; this header includes none of them.
 */

#ifndef _NGX_MICROSHOP_TYPES_H_INCLUDED_
#define _NGX_MICROSHOP_TYPES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "microshop_token_keys.h"
#include "microshop_token_sign.h"
#include "ngx_microshop_zone.h"
#include "ngx_microshop_store.h"
#include "ngx_microshop_metrics.h"


typedef struct ngx_http_microshop_main_conf_s  ngx_http_microshop_main_conf_t;
typedef struct ngx_http_microshop_loc_conf_s   ngx_http_microshop_loc_conf_t;
typedef struct ngx_http_microshop_ctx_s        ngx_http_microshop_ctx_t;


/* token */

/* the identity a verified token carries (cached in the zone) */
typedef enum {
    NGX_MICROSHOP_ID_SELLER = 0,
    NGX_MICROSHOP_ID_SUBJECT,
    NGX_MICROSHOP_ID_SCOPES,          /* normalized, space-separated */
    NGX_MICROSHOP_ID_CLASS,
    NGX_MICROSHOP_ID_TIER,
    NGX_MICROSHOP_ID_JTI,
    NGX_MICROSHOP_ID_KID,
    NGX_MICROSHOP_ID_ALG,
    NGX_MICROSHOP_ID_ISS,
    NGX_MICROSHOP_ID_AUD,             /* values joined by '\n' */
    NGX_MICROSHOP_ID_PARENT,          /* parent_jti: the jti of the token
                                         this one was minted from
                                         (docs/tokens.md) */
    NGX_MICROSHOP_ID_MAX
} ngx_microshop_id_field_e;

#define NGX_MICROSHOP_NO_TIME  INT64_MIN


typedef struct {
    int64_t                   exp;
    int64_t                   nbf;        /* NGX_MICROSHOP_NO_TIME: absent */
    int64_t                   iat;        /* NGX_MICROSHOP_NO_TIME: absent */
    ngx_str_t                 f[NGX_MICROSHOP_ID_MAX];
} ngx_microshop_identity_t;


typedef struct {
    ngx_str_t                 name;
    time_t                    max_ttl;
    ngx_str_t                 scopes;     /* ceiling, normalized; or null */
    ngx_uint_t                line;
} ngx_microshop_token_class_t;


/* keys from the identity provider (microshop_jwt_jwks_uri) */
typedef struct {
    ngx_str_t                 location;   /* the URI; empty: off */
    ngx_str_t                 args;       /* after its '?' */
    ngx_msec_t                refresh;
    ngx_msec_t                unknown_kid;  /* at most one fetch per it for
                                               a kid in no set */
    ngx_uint_t                any_s;      /* ecdsa_s=any */
} ngx_microshop_jwks_uri_t;


typedef struct {
    microshop_keyset_t        keys;
    ngx_array_t               jwks;       /* ngx_str_t file names */
    ngx_microshop_jwks_uri_t  jwks_uri;
    time_t                    leeway;
    ngx_str_t                 claim[NGX_MICROSHOP_ID_JTI];  /* seller..tier */
    ngx_array_t               classes;    /* ngx_microshop_token_class_t */
    ngx_microshop_token_class_t *default_class;

    /*
     * A digest of everything verification depends on (keys, classes,
     * claim names): part of the token cache key, so that a reload which
     * drops a key or tightens a class never serves tokens verified under
     * the old configuration.
     */
    u_char                    config_hash[32];
} ngx_microshop_token_main_t;


typedef struct {
    ngx_array_t              *issuers;    /* ngx_str_t */
    ngx_array_t              *audiences;  /* ngx_str_t */
    u_char                   *auth_file;  /* where microshop_auth was set */
    ngx_uint_t                auth_line;
} ngx_microshop_token_loc_t;


typedef struct {
    ngx_microshop_identity_t  id;
    ngx_uint_t                verified;   /* 1: now verified, 0: from cache */

    /* keys from the identity provider (ngx_microshop_jwks_uri.h) */
    unsigned                  unknown_kid:1;  /* no set has the token's kid */
    unsigned                  jwks_waiting:1; /* waits for a fetch now */
    unsigned                  jwks_waited:1;  /* waited for a fetch once */
    unsigned                  jwks_retry:1;   /* that fetch died with its
                                                 request: may start one */
} ngx_microshop_token_ctx_t;


/* the gateway's signing keys (microshop_jwt_signing_key) and its JWKS
 * (microshop_jwks), docs/tokens.md */

typedef struct {
    ngx_str_t                 kid;
    microshop_alg_t           alg;
    ngx_str_t                 file;       /* full path, for messages */
    ngx_uint_t                line;
} ngx_microshop_signing_key_t;


typedef struct {
    ngx_array_t               keys;       /* ngx_microshop_signing_key_t;
                                             the first one signs */
    microshop_signer_t       *signer;     /* of the first key, or NULL */
    ngx_str_t                 header;     /* {"alg","kid","typ":"at+jwt"} */
    ngx_str_t                 jwks;       /* the JWKS document */
    ngx_str_t                 etag;       /* of the document, quoted */
} ngx_microshop_mint_main_t;


typedef struct {
    time_t                    max_age;
    u_char                   *file;       /* where microshop_jwks is */
    ngx_uint_t                line;
} ngx_microshop_jwks_loc_t;


/* scope */

typedef struct {
    ngx_uint_t                 methods;    /* NGX_HTTP_GET|... */
    ngx_uint_t                 any;        /* "*" */
    ngx_str_t                  methods_text;
    ngx_str_t                  scopes;     /* normalized */
} ngx_microshop_scope_rule_t;


typedef struct {
    ngx_array_t               *rules;      /* ngx_microshop_scope_rule_t */
    ngx_uint_t                 covered;    /* union of the rules' methods */
    ngx_uint_t                 any;
    ngx_str_t                  allow;      /* the Allow header for 405 */
    ngx_str_t                 *required;   /* per method of the table, and
                                              last for any other method */
    ngx_http_complex_value_t  *seller;
} ngx_microshop_scope_loc_t;


/* rate limit */

typedef struct {
    ngx_str_t                  name;
    ngx_str_t                  rate_text;   /* as written: 50r/s */
    int64_t                    interval;    /* us per unit */
    int64_t                    burst;
    ngx_str_t                  quoted;      /* name as an sf-string */
    ngx_str_t                  policy;      /* the RateLimit-Policy value */
    ngx_uint_t                 line;
} ngx_microshop_rate_tier_t;


typedef struct {
    ngx_array_t                tiers;       /* ngx_microshop_rate_tier_t */
    ngx_microshop_rate_tier_t *default_tier;
} ngx_microshop_rate_main_t;


typedef struct {
    ngx_flag_t                 on;
    ngx_uint_t                 cost;
    ngx_flag_t                 dry_run;
    ngx_http_complex_value_t  *key;         /* NULL: the token's seller */
    u_char                    *file;        /* where it was configured */
    ngx_uint_t                 line;
} ngx_microshop_rate_loc_t;


typedef struct {
    ngx_microshop_rate_tier_t *tier;        /* NULL: not limited */
    int64_t                    remaining;
    int64_t                    reset_after; /* us */
} ngx_microshop_rate_ctx_t;


/* idempotency */

#define NGX_MICROSHOP_IDEM_OFF       0
#define NGX_MICROSHOP_IDEM_ON        1
#define NGX_MICROSHOP_IDEM_REQUIRED  2


typedef struct {
    ngx_uint_t                 mode;
    ngx_uint_t                 methods;
    ngx_msec_t                 ttl;
    ngx_msec_t                 lock;
    size_t                     max_body;
    ngx_str_t                  header;
    ngx_flag_t                 store_local;  /* on_store_error=local */
    u_char                    *file;         /* where it was configured */
    ngx_uint_t                 line;
} ngx_microshop_idem_loc_t;


typedef struct {
    ngx_str_t                  key;          /* seller "\n" key */
    u_char                     fingerprint[NGX_MICROSHOP_FINGERPRINT_LEN];
    uint64_t                   owner;        /* of the lock we take */
    ngx_microshop_op_t         op;           /* the settling operation */

    ngx_uint_t                 status;
    ngx_str_t                  answer;       /* headers, then the body */
    size_t                     answer_cap;
    size_t                     headers_len;

    unsigned                   fingerprinted:1;
    unsigned                   at_end:1;     /* settled at the end */
    unsigned                   active:1;     /* we hold the lock */
    unsigned                   header_seen:1;
    unsigned                   capture:1;    /* an answer worth keeping */
    unsigned                   complete:1;   /* last_buf seen */
    unsigned                   oversize:1;
    unsigned                   local:1;      /* the lock is in this node's
                                                zone (a fallback) */
} ngx_microshop_idem_ctx_t;


/* inventory cache and reservations */

#define NGX_MICROSHOP_SKU_MAX  256


typedef struct {
    ngx_http_complex_value_t  *sku;          /* NULL: off */
    ngx_msec_t                 ttl;
    ngx_msec_t                 stale_if_error;
    ngx_msec_t                 stale_while_revalidate;
    ngx_msec_t                 refresh_retry;
} ngx_microshop_cache_loc_t;


/* the feeds (docs/events.md) */

typedef struct {
    ngx_flag_t                 on;          /* microshop_events_out */
    size_t                     size;
    ngx_uint_t                 keep;
    ngx_str_t                  state;       /* state=FILE, "": none */
    u_char                    *used_file;   /* the first microshop_feed */
    ngx_uint_t                 used_line;
} ngx_microshop_feed_main_t;


typedef struct {
    ngx_msec_t                 heartbeat;   /* event streams */
    size_t                     buffer;      /* a stream's unsent bytes */
    ngx_msec_t                 wait_max;    /* the longest wait= */
} ngx_microshop_feed_loc_t;


typedef struct {
    ngx_flag_t                 on;
    ngx_msec_t                 hold;
    ngx_flag_t                 store_local;  /* on_store_error=local */
    ngx_flag_t                 offline;      /* offline=accept */
    ngx_uint_t                 offline_max;
    u_char                    *file;         /* where it was configured */
    ngx_uint_t                 line;
} ngx_microshop_reserve_loc_t;


typedef struct {
    ngx_str_t                  key;          /* seller "\n" sku */
    ngx_str_t                  stale_body;   /* a stale entry to fall back */
    ngx_str_t                  stale_etag;
    int64_t                    stale_version;
    int64_t                    stale_at;     /* when it was stored */

    /* the main request's background refresh (its own context may be reset
     * by a redirect there, this one is not) */
    ngx_http_request_t        *refresh;
    ngx_http_microshop_ctx_t  *refresh_ctx;

    /* capture of the backend's answer for a fill or a refresh */
    ngx_chain_t               *body;
    ngx_chain_t              **last;
    size_t                     body_len;
    ngx_str_t                  etag;

    unsigned                   lookup_done:1;
    unsigned                   capture:1;
    unsigned                   complete:1;
    unsigned                   too_big:1;
    unsigned                   drop:1;        /* a write: drop the entry */
    unsigned                   serve_stale:1; /* replacing a failure */
    unsigned                   stale_sent:1;
    unsigned                   refresh_done:1; /* the refresh's verdict */
} ngx_microshop_cache_ctx_t;


typedef struct {
    ngx_microshop_op_t         op;           /* reserve, then settle */
    ngx_microshop_line_t      *lines;
    ngx_uint_t                 nlines;
    unsigned                   parsed:1;
    unsigned                   at_end:1;     /* settled at the end */
    unsigned                   held:1;       /* a hold awaits settling */
    unsigned                   header_seen:1;
    unsigned                   offline_slot:1; /* the hold may go offline */
    unsigned                   offline:1;    /* accepted offline: 202 */
    ngx_uint_t                 status;
} ngx_microshop_reserve_ctx_t;


/* nginx's own upstream failures, answered as problems */

typedef struct {
    /* the upstream an earlier location left (error_page) when the access
     * phase ran here: its failure is not this location's */
    ngx_http_upstream_t       *prior;
    ngx_str_t                  body;         /* the problem, sent instead */
    unsigned                   active:1;     /* replacing nginx's page */
    unsigned                   sent:1;       /* the problem went out */
} ngx_microshop_upstream_ctx_t;


/* audit log */

typedef struct {
    ngx_open_file_t          *file;       /* NULL: off */
    size_t                    buffer;     /* 0: a write() per line */
    ngx_msec_t                flush;      /* 0: no timer */
    ngx_uint_t                set;        /* the directive was given */
    ngx_int_t                 request_id; /* index of $request_id */

    /* per worker (the configuration is copied by fork) */
    u_char                   *start;
    u_char                   *pos;
    u_char                   *last;
    ngx_event_t              *event;      /* the flush= timer */
    time_t                    error_log_time;
} ngx_microshop_audit_main_t;


/* scope usage (microshop_audit_report, docs/audit-playbook.md) */

typedef struct {
    ngx_shm_zone_t           *shm_zone;   /* NULL: no report, not kept */
    ngx_uint_t                subjects;   /* the most a report asks for */
    time_t                    window;     /* the longest window */
    ngx_array_t               scopes;     /* ngx_str_t: the routes' scopes */
    ngx_slab_pool_t          *shpool;
    void                     *usage;      /* microshop_usage_t, in it */
    ngx_str_t                 node;       /* this node's name, per worker */
} ngx_microshop_usage_main_t;


typedef struct {
    time_t                    window;     /* window= */
    ngx_uint_t                subjects;   /* subjects= */
} ngx_microshop_usage_loc_t;


/* webhook receiver */

#define NGX_MICROSHOP_EVENTS_SECRET_MIN  16
#define NGX_MICROSHOP_EVENTS_SECRET_MAX  4096
#define NGX_MICROSHOP_EVENTS_BODY_MAX    (1024 * 1024)


typedef struct {
    ngx_str_t                  secret;       /* never logged */
    ngx_str_t                  secret_file;  /* full path, for messages */
    time_t                     tolerance;    /* seconds */
} ngx_microshop_events_loc_t;


/* the token exchange (microshop_token_exchange, docs/tokens.md) */

typedef struct {
    ngx_str_t                    class_name;
    ngx_microshop_token_class_t *tclass;   /* found once the http block
                                              was read */
    time_t                       ttl;      /* ttl=, 0: the class's
                                              max_ttl */
    ngx_str_t                    scopes;   /* scopes=, normalized; null:
                                              not given */
    ngx_str_t                    require;  /* require_scope= */
    u_char                      *file;     /* where it was configured */
    ngx_uint_t                   line;
} ngx_microshop_exchange_loc_t;


typedef struct {
    ngx_microshop_op_t           op;       /* the subject's revocation
                                              check, then its rate limit */
    ngx_str_t                    scope;    /* asked for, normalized */
    ngx_str_t                    actor;    /* null: none */
    unsigned                     has_scope:1;
} ngx_microshop_exchange_ctx_t;


/* the module: configuration and the request context */

/* the access-phase chain, in the order of the request path (docs/http.md) */
typedef enum {
    NGX_MICROSHOP_STAGE_TOKEN = 0,
    NGX_MICROSHOP_STAGE_SCOPE,
    NGX_MICROSHOP_STAGE_RATELIMIT,
    NGX_MICROSHOP_STAGE_IDEMPOTENCY,
    NGX_MICROSHOP_STAGE_RESERVE,
    NGX_MICROSHOP_STAGE_CACHE,
    NGX_MICROSHOP_STAGE_DONE
} ngx_microshop_stage_e;


struct ngx_http_microshop_main_conf_s {
    ngx_microshop_zone_t       *zone;     /* microshop_zone (or implicit) */
    ngx_microshop_store_t       store;    /* where shared state lives */
    ngx_microshop_token_main_t  token;
    ngx_microshop_mint_main_t   mint;     /* microshop_jwt_signing_key */
    ngx_microshop_audit_main_t  audit;
    ngx_microshop_rate_main_t   rate;
    ngx_flag_t                  reserve_used;
    u_char                     *offline_file; /* the first offline=accept */
    ngx_uint_t                  offline_line;
    ngx_microshop_feed_main_t   feed;     /* microshop_events_out */
    ngx_microshop_usage_main_t  usage;    /* microshop_audit_report */
};


struct ngx_http_microshop_loc_conf_s {
    ngx_flag_t                  auth;     /* microshop_auth */
    ngx_microshop_token_loc_t   token;
    ngx_microshop_scope_loc_t   scope;
    ngx_microshop_rate_loc_t    rate;
    ngx_microshop_idem_loc_t    idem;
    ngx_microshop_cache_loc_t   cache;
    ngx_microshop_reserve_loc_t reserve;
    ngx_microshop_events_loc_t *events;   /* microshop_events */
    ngx_microshop_jwks_loc_t   *jwks;     /* microshop_jwks */
    ngx_microshop_exchange_loc_t *exchange; /* microshop_token_exchange */
    ngx_microshop_feed_loc_t   *feed;     /* microshop_feed */
    ngx_microshop_usage_loc_t  *usage;    /* microshop_audit_report */

    /* set by merge: does any stage run in this location? */
    ngx_flag_t                  enabled;
};


struct ngx_http_microshop_ctx_s {
    ngx_microshop_stage_e       stage;
    ngx_microshop_reason_e      reason;   /* the decision, for metrics */
    ngx_uint_t                  reason_counted; /* 1 once in the zone */
    ngx_microshop_op_t          op;       /* the store operation */
    ngx_uint_t                  op_state; /* NGX_MICROSHOP_OP_* */
    ngx_microshop_op_t         *pending;  /* in flight, cancelled if the
                                             request dies first */
    void                      (*done)(ngx_http_request_t *r,
                                      ngx_microshop_op_t *op);
    ngx_uint_t                  cleanup_added;
    ngx_microshop_token_ctx_t   token;
    ngx_uint_t                  has_token;
    ngx_uint_t                  body_read;
    ngx_str_t                   scopes_required;
    ngx_str_t                   route_seller;  /* microshop_seller, once */
    ngx_microshop_rate_ctx_t    rate;
    ngx_microshop_idem_ctx_t    idem;
    ngx_microshop_cache_ctx_t   cache_ctx;
    ngx_microshop_reserve_ctx_t reserve;

    /* for the audit log and variables; set by the stages that ran */
    ngx_int_t                   rate_remaining;   /* -1: not limited */
    ngx_str_t                   idempotency;      /* new, replay, ... */
    ngx_str_t                   cache;            /* hit, miss, stale */

    ngx_microshop_upstream_ctx_t upstream;

    /* the token exchange's request; what the gateway minted, as a JSON
     * object for the audit line (never the token) */
    ngx_microshop_exchange_ctx_t *exchange;
    ngx_str_t                   minted;
};


#define NGX_MICROSHOP_OP_IDLE     0
#define NGX_MICROSHOP_OP_PENDING  1
#define NGX_MICROSHOP_OP_DONE     2


#endif /* _NGX_MICROSHOP_TYPES_H_INCLUDED_ */
