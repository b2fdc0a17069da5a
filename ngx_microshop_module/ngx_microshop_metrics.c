/*
 * ngx_microshop: decision names and the Prometheus status page.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_answer.h"


typedef struct {
    const char   *decision;
    const char   *reason;
} ngx_microshop_reason_t;


static ngx_microshop_reason_t  ngx_microshop_reasons[] = {
    { "none", "none" },
    { "allow", "ok" },
    { "allow", "idempotent_replay" },
    { "allow", "cache_hit" },
    { "allow", "dry_run" },
    { "deny", "no_token" },
    { "deny", "invalid_token" },
    { "deny", "invalid_request" },
    { "deny", "revoked" },
    { "deny", "token_class" },
    { "deny", "insufficient_scope" },
    { "deny", "seller_mismatch" },
    { "deny", "method_not_allowed" },
    { "deny", "rate_limited" },
    { "deny", "idempotency" },
    { "deny", "out_of_stock" },
    { "deny", "invalid_checkout" },
    { "deny", "invalid_signature" },
    { "deny", "store_unavailable" },
    { "error", "internal_error" },
    { "error", "upstream_unavailable" },
    { "deny", "quota_exceeded" },
    { "deny", "invalid_grant" },
    { "deny", "invalid_scope" },
};


/* the table and the enum must not drift apart */
typedef char  ngx_microshop_reasons_complete[
    (sizeof(ngx_microshop_reasons) / sizeof(ngx_microshop_reason_t)
     == NGX_MICROSHOP_REASON_MAX) ? 1 : -1];


typedef struct {
    ngx_uint_t    counter;
    const char   *line;        /* name{labels} */
} ngx_microshop_metric_t;


/* counters other than requests_total, in the order they are printed */
static ngx_microshop_metric_t  ngx_microshop_metric_lines[] = {
    { NGX_MICROSHOP_COUNTER_TOKEN_VERIFICATIONS,
      "microshop_token_verifications_total" },
    { NGX_MICROSHOP_COUNTER_TOKEN_CACHE_HITS,
      "microshop_token_cache_hits_total" },
    { NGX_MICROSHOP_COUNTER_TOKEN_CACHE_EVICTIONS,
      "microshop_token_cache_evictions_total" },
    { NGX_MICROSHOP_COUNTER_RATE_LIMITED, "microshop_rate_limited_total" },
    { NGX_MICROSHOP_COUNTER_RATE_DRY_RUN,
      "microshop_rate_limited_dry_run_total" },
    { NGX_MICROSHOP_COUNTER_IDEM_NEW,
      "microshop_idempotency_total{result=\"new\"}" },
    { NGX_MICROSHOP_COUNTER_IDEM_REPLAY,
      "microshop_idempotency_total{result=\"replay\"}" },
    { NGX_MICROSHOP_COUNTER_IDEM_IN_PROGRESS,
      "microshop_idempotency_total{result=\"conflict\"}" },
    { NGX_MICROSHOP_COUNTER_IDEM_MISMATCH,
      "microshop_idempotency_total{result=\"mismatch\"}" },
    { NGX_MICROSHOP_COUNTER_IDEM_UNAVAILABLE,
      "microshop_idempotency_total{result=\"unavailable\"}" },
    { NGX_MICROSHOP_COUNTER_IDEM_RELEASED,
      "microshop_idempotency_total{result=\"released\"}" },
    { NGX_MICROSHOP_COUNTER_IDEM_INVALID,
      "microshop_idempotency_total{result=\"invalid\"}" },
    { NGX_MICROSHOP_COUNTER_IDEM_UNKNOWN,
      "microshop_idempotency_total{result=\"unknown\"}" },
    { NGX_MICROSHOP_COUNTER_CACHE_HIT,
      "microshop_inventory_cache_total{result=\"hit\"}" },
    { NGX_MICROSHOP_COUNTER_CACHE_MISS,
      "microshop_inventory_cache_total{result=\"miss\"}" },
    { NGX_MICROSHOP_COUNTER_CACHE_STALE,
      "microshop_inventory_cache_total{result=\"stale\"}" },
    { NGX_MICROSHOP_COUNTER_CACHE_STORE,
      "microshop_inventory_cache_total{result=\"store\"}" },
    { NGX_MICROSHOP_COUNTER_CACHE_REFRESH,
      "microshop_inventory_cache_total{result=\"refresh\"}" },
    { NGX_MICROSHOP_COUNTER_CACHE_REFRESH_FAILED,
      "microshop_inventory_cache_total{result=\"refresh_failed\"}" },
    { NGX_MICROSHOP_COUNTER_RESERVE_OK,
      "microshop_reservations_total{result=\"reserved\"}" },
    { NGX_MICROSHOP_COUNTER_RESERVE_OUT_OF_STOCK,
      "microshop_reservations_total{result=\"out_of_stock\"}" },
    { NGX_MICROSHOP_COUNTER_RESERVE_COMMIT,
      "microshop_reservations_total{result=\"committed\"}" },
    { NGX_MICROSHOP_COUNTER_RESERVE_RELEASE,
      "microshop_reservations_total{result=\"released\"}" },
    { NGX_MICROSHOP_COUNTER_RESERVE_UNKNOWN,
      "microshop_reservations_total{result=\"unknown\"}" },
    { NGX_MICROSHOP_COUNTER_RESERVE_PENDING,
      "microshop_reservations_total{result=\"pending\"}" },
    { NGX_MICROSHOP_COUNTER_SETTLED_ADMIN_COMMIT,
      "microshop_reservations_settled_total{by=\"admin\","
      "result=\"committed\"}" },
    { NGX_MICROSHOP_COUNTER_SETTLED_ADMIN_RELEASE,
      "microshop_reservations_settled_total{by=\"admin\","
      "result=\"released\"}" },
    { NGX_MICROSHOP_COUNTER_SETTLED_EVENT,
      "microshop_reservations_settled_total{by=\"event\","
      "result=\"reconciled\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_ERR_TIMEOUT,
      "microshop_redis_errors_total{kind=\"timeout\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_ERR_CONNECT,
      "microshop_redis_errors_total{kind=\"connect\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_ERR_PROTOCOL,
      "microshop_redis_errors_total{kind=\"protocol\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_ERR_SCRIPT,
      "microshop_redis_errors_total{kind=\"script\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_COMMANDS,
      "microshop_redis_commands_total" },
    { NGX_MICROSHOP_COUNTER_REDIS_RECONNECTS,
      "microshop_redis_reconnects_total" },
    { NGX_MICROSHOP_COUNTER_REDIS_MESSAGES,
      "microshop_redis_messages_total" },
    { NGX_MICROSHOP_COUNTER_REDIS_FALLBACK_LOCAL,
      "microshop_redis_fallbacks_total{answer=\"local\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_FALLBACK_OPEN,
      "microshop_redis_fallbacks_total{answer=\"open\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_FALLBACK_CLOSED,
      "microshop_redis_fallbacks_total{answer=\"closed\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_MOVED,
      "microshop_redis_redirects_total{kind=\"moved\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_ASK,
      "microshop_redis_redirects_total{kind=\"ask\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_TRYAGAIN,
      "microshop_redis_redirects_total{kind=\"tryagain\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_CLUSTERDOWN,
      "microshop_redis_redirects_total{kind=\"clusterdown\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_REFRESHES,
      "microshop_redis_slot_refreshes_total" },
    { NGX_MICROSHOP_COUNTER_REDIS_FAILOVERS,
      "microshop_redis_failovers_total" },
    { NGX_MICROSHOP_COUNTER_STORE_ERRORS, "microshop_store_errors_total" },
    { NGX_MICROSHOP_COUNTER_STORE_LATE,
      "microshop_store_late_answers_total" },
    { NGX_MICROSHOP_COUNTER_ZONE_EVICTIONS,
      "microshop_zone_evictions_total" },
    { NGX_MICROSHOP_COUNTER_ZONE_FULL, "microshop_zone_full_total" },
    { NGX_MICROSHOP_COUNTER_QUOTA_IDEM,
      "microshop_zone_quota_refused_total{class=\"idempotency\"}" },
    { NGX_MICROSHOP_COUNTER_QUOTA_EVENTS,
      "microshop_zone_quota_refused_total{class=\"events\"}" },
    { NGX_MICROSHOP_COUNTER_MINTED_EXCHANGE,
      "microshop_tokens_minted_total{via=\"exchange\"}" },
    { NGX_MICROSHOP_COUNTER_MINTED_ADMIN,
      "microshop_tokens_minted_total{via=\"admin\"}" },
    { NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_REQUEST,
      "microshop_token_exchange_refused_total{error=\"invalid_request\"}" },
    { NGX_MICROSHOP_COUNTER_EXCHANGE_UNSUPPORTED_GRANT,
      "microshop_token_exchange_refused_total"
      "{error=\"unsupported_grant_type\"}" },
    { NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_TARGET,
      "microshop_token_exchange_refused_total{error=\"invalid_target\"}" },
    { NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_GRANT,
      "microshop_token_exchange_refused_total{error=\"invalid_grant\"}" },
    { NGX_MICROSHOP_COUNTER_EXCHANGE_INVALID_SCOPE,
      "microshop_token_exchange_refused_total{error=\"invalid_scope\"}" },
    { NGX_MICROSHOP_COUNTER_EXCHANGE_UNAUTHORIZED,
      "microshop_token_exchange_refused_total"
      "{error=\"unauthorized_client\"}" },
    { NGX_MICROSHOP_COUNTER_JWKS_OK,
      "microshop_jwks_uri_fetches_total{result=\"ok\"}" },
    { NGX_MICROSHOP_COUNTER_JWKS_ERROR,
      "microshop_jwks_uri_fetches_total{result=\"error\"}" },
    { NGX_MICROSHOP_COUNTER_JWKS_INVALID,
      "microshop_jwks_uri_fetches_total{result=\"invalid\"}" },
    { NGX_MICROSHOP_COUNTER_FEED_EVENTS, "microshop_feed_events_total" },
    { NGX_MICROSHOP_COUNTER_FEED_DROPPED,
      "microshop_feed_dropped_total" },
    { NGX_MICROSHOP_COUNTER_FEED_CUT, "microshop_feed_cut_off_total" },
    { NGX_MICROSHOP_COUNTER_OFFLINE_ACCEPTED,
      "microshop_offline_orders_total" },
};


/* gauges: what is there now (a line each, its own family) */
static ngx_microshop_metric_t  ngx_microshop_gauge_lines[] = {
    { NGX_MICROSHOP_COUNTER_HOLDS_PENDING, "microshop_reservations_pending" },
    { NGX_MICROSHOP_COUNTER_REDIS_SYNCED,
      "microshop_redis_revocations_loaded" },
    { NGX_MICROSHOP_COUNTER_JWKS_KEYS, "microshop_jwks_uri_keys" },
    { NGX_MICROSHOP_COUNTER_JWKS_FETCHED_AT,
      "microshop_jwks_uri_last_success_timestamp_seconds" },
    { NGX_MICROSHOP_COUNTER_FEED_SUBSCRIBERS, "microshop_feed_subscribers" },
};


#define ngx_microshop_nelts(a)  (sizeof(a) / sizeof((a)[0]))


/*
 * The lines of the status page, printed by the handler and measured by
 * ngx_microshop_status_size(): a line is never longer than its format plus
 * its strings plus NGX_ATOMIC_T_LEN digits for its number, because each
 * conversion ("%s", "%V", "%uA", "%d") is counted as well.
 */
#define NGX_MICROSHOP_STATUS_REQUESTS_HEAD                                    \
    "# HELP microshop_requests_total Decisions of the gateway, by reason.\n"  \
    "# TYPE microshop_requests_total counter\n"
#define NGX_MICROSHOP_STATUS_REQUESTS                                         \
    "microshop_requests_total{decision=\"%s\",reason=\"%s\"} %uA\n"
#define NGX_MICROSHOP_STATUS_FAMILY      "# TYPE %V counter\n"
#define NGX_MICROSHOP_STATUS_COUNTER     "%s %uA\n"
#define NGX_MICROSHOP_STATUS_GAUGE       "# TYPE %s gauge\n%s %uA\n"
/* revocations in force, by kind: the zone's records of them (a record
 * past its time is counted until it is dropped, at its next lookup, the
 * next revocation or listing) */
#define NGX_MICROSHOP_STATUS_REVOCATIONS                                      \
    "# TYPE microshop_revocations gauge\n"                                    \
    "microshop_revocations{kind=\"jti\"} %uA\n"                              \
    "microshop_revocations{kind=\"watermark\"} %uA\n"
#define NGX_MICROSHOP_STATUS_RECORDS_HEAD                                     \
    "# TYPE microshop_zone_records gauge\n"
#define NGX_MICROSHOP_STATUS_RECORDS                                          \
    "microshop_zone_records{kind=\"%s\"} %uA\n"
#define NGX_MICROSHOP_STATUS_BYTES_HEAD                                       \
    "# TYPE microshop_zone_bytes gauge\n"
#define NGX_MICROSHOP_STATUS_BYTES                                            \
    "microshop_zone_bytes{kind=\"%s\"} %uA\n"
#define NGX_MICROSHOP_STATUS_ROOM                                             \
    "# TYPE microshop_zone_room_bytes gauge\nmicroshop_zone_room_bytes %uz\n" \
    "# TYPE microshop_zone_reserve_bytes gauge\n"                            \
    "microshop_zone_reserve_bytes %uz\n"                                     \
    "# TYPE microshop_zone_seller_quota_bytes gauge\n"                       \
    "microshop_zone_seller_quota_bytes %uz\n"                                \
    "# TYPE microshop_token_cache_bytes gauge\n"                             \
    "microshop_token_cache_bytes %uA\n"                                      \
    "# TYPE microshop_token_cache_bound_bytes gauge\n"                       \
    "microshop_token_cache_bound_bytes %uz\n"
/*
 * what each zone is and holds, labelled by its name (the microshop_zone,
 * and microshop_events of microshop_events_out): a line is the name's
 * head, the escaped zone name, then its tail (docs/operations.md
 * "Metrics")
 */
#define NGX_MICROSHOP_STATUS_ZONE_HEAD  "# TYPE microshop_zone_%s gauge\n"
#define NGX_MICROSHOP_STATUS_ZONE_NAME  "microshop_zone_%s{zone=\""
#define NGX_MICROSHOP_STATUS_ZONE_SIZE  "\"} %uz\n"
#define NGX_MICROSHOP_STATUS_ZONE_KIND  "\",kind=\"%s\"} %uA\n"
#define NGX_MICROSHOP_STATUS_ZONE_FAMILY_MAX  sizeof("size_bytes")
#define NGX_MICROSHOP_STATUS_ZONES_MAX  2
#define NGX_MICROSHOP_STATUS_REDIS                                            \
    "# TYPE microshop_redis_up gauge\nmicroshop_redis_up %d\n"              \
    "# TYPE microshop_redis_connections gauge\n"                            \
    "microshop_redis_connections %uA\n"                                     \
    "# TYPE microshop_redis_latency_seconds histogram\n"
/* the per-node families (ngx_microshop_node_stat_t), a line per node */
#define NGX_MICROSHOP_STATUS_NODE_HEAD  "# TYPE microshop_redis_node_%s %s\n"
#define NGX_MICROSHOP_STATUS_NODE                                             \
    "microshop_redis_node_%s{node=\"%*s\"%s} %uA\n"
#define NGX_MICROSHOP_STATUS_NODE_NAME_MAX  sizeof("slot_refreshes_total")
#define NGX_MICROSHOP_STATUS_NODE_LABEL_MAX sizeof(",kind=\"moved\"")
#define NGX_MICROSHOP_STATUS_BUCKET                                           \
    "microshop_redis_latency_seconds_bucket{le=\"%s\"} %uA\n"
#define NGX_MICROSHOP_STATUS_BUCKET_END                                       \
    "microshop_redis_latency_seconds_sum %uA.%06uA\n"                        \
    "microshop_redis_latency_seconds_count %uA\n"

#define ngx_microshop_fmt_len(fmt)  (sizeof(fmt) - 1)

/* the Prometheus text exposition format, version 0.0.4 */
#define NGX_MICROSHOP_STATUS_TYPE  "text/plain; version=0.0.4"


/* in the order of ngx_microshop_kind_e */
static const char  *ngx_microshop_kind_names[] = {
    "token", "rate", "inventory", "event", "revoked", "idempotency",
    "stock", "hold", "tenant", "watermark", "offline", "feed",
    "feed_event"
};

typedef char  ngx_microshop_kind_names_complete[
    (sizeof(ngx_microshop_kind_names) / sizeof(char *)
     == NGX_MICROSHOP_KIND_MAX) ? 1 : -1];


/* the le= labels of NGX_MICROSHOP_REDIS_BUCKET_BOUNDS */
static const char  *ngx_microshop_redis_le[] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "0.5", "1", "+Inf"
};

typedef char  ngx_microshop_redis_le_complete[
    (sizeof(ngx_microshop_redis_le) / sizeof(char *)
     == NGX_MICROSHOP_REDIS_BUCKETS) ? 1 : -1];


/* the per-node lines: a family each, but redirects_total has two kinds */
typedef struct {
    const char                   *name;
    const char                   *type;      /* NULL: the family above */
    ngx_uint_t                    counter;
    const char                   *label;
    ngx_uint_t                    up;        /* 0/1 of the counter */
} ngx_microshop_node_line_t;

static ngx_microshop_node_line_t  ngx_microshop_node_lines[] = {
    { "up", "gauge", NGX_MICROSHOP_NODE_CONNECTIONS, "", 1 },
    { "connections", "gauge", NGX_MICROSHOP_NODE_CONNECTIONS, "", 0 },
    { "errors_total", "counter", NGX_MICROSHOP_NODE_ERRORS, "", 0 },
    { "redirects_total", "counter", NGX_MICROSHOP_NODE_MOVED,
      ",kind=\"moved\"", 0 },
    { "redirects_total", NULL, NGX_MICROSHOP_NODE_ASK, ",kind=\"ask\"", 0 },
    { "slot_refreshes_total", "counter", NGX_MICROSHOP_NODE_REFRESHES, "",
      0 },
    { "failovers_total", "counter", NGX_MICROSHOP_NODE_FAILOVERS, "", 0 },
};


static ngx_int_t ngx_microshop_status_handler(ngx_http_request_t *r);
static size_t ngx_microshop_status_size(ngx_http_microshop_main_conf_t *mmcf);
static ngx_uint_t ngx_microshop_status_zone_list(
    ngx_http_microshop_main_conf_t *mmcf, ngx_microshop_zone_t **zones);
static u_char *ngx_microshop_status_zones(u_char *p, u_char *last,
    ngx_http_microshop_main_conf_t *mmcf);
static u_char *ngx_microshop_status_label(u_char *p, u_char *last,
    ngx_str_t *value);
static u_char *ngx_microshop_status_redis(u_char *p, u_char *last,
    ngx_atomic_t *c);
static u_char *ngx_microshop_status_nodes(u_char *p, u_char *last,
    ngx_microshop_node_stat_t *nodes);


const char *
ngx_microshop_reason_name(ngx_microshop_reason_e reason)
{
    return ngx_microshop_reasons[reason].reason;
}


const char *
ngx_microshop_reason_decision(ngx_microshop_reason_e reason)
{
    return ngx_microshop_reasons[reason].decision;
}


char *
ngx_microshop_status_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_microshop_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_microshop_status_handler(ngx_http_request_t *r)
{
    size_t                           len;
    u_char                          *p, *last;
    ngx_int_t                        rc;
    size_t                           n;
    ngx_str_t                        body, type, family;
    ngx_uint_t                       i;
    const char                      *line;
    ngx_atomic_t                    *c;
    ngx_http_microshop_main_conf_t  *mmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_microshop_not_allowed(r, "GET, HEAD",
                                         "The status page is read with GET.");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mmcf = ngx_microshop_main_conf(r);
    c = mmcf->zone->sh->counters;

    len = ngx_microshop_status_size(mmcf);

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the size is a bound; ngx_slprintf() would cut rather than overrun */
    last = body.data + len;

    p = ngx_slprintf(body.data, last, NGX_MICROSHOP_STATUS_REQUESTS_HEAD);

    for (i = NGX_MICROSHOP_REASON_OK; i < NGX_MICROSHOP_REASON_MAX; i++) {
        p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_REQUESTS,
                         ngx_microshop_reasons[i].decision,
                         ngx_microshop_reasons[i].reason, c[i]);
    }

    family.len = 0;

    for (i = 0; i < ngx_microshop_nelts(ngx_microshop_metric_lines); i++) {
        line = ngx_microshop_metric_lines[i].line;
        n = strcspn(line, "{");

        if (n != family.len || ngx_strncmp(line, family.data, n) != 0) {
            family.data = (u_char *) line;
            family.len = n;
            p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_FAMILY, &family);
        }

        p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_COUNTER, line,
                         c[ngx_microshop_metric_lines[i].counter]);
    }

    for (i = 0; i < ngx_microshop_nelts(ngx_microshop_gauge_lines); i++) {
        line = ngx_microshop_gauge_lines[i].line;
        p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_GAUGE, line, line,
                         c[ngx_microshop_gauge_lines[i].counter]);
    }

    p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_REVOCATIONS,
                     mmcf->zone->sh->records[NGX_MICROSHOP_KIND_REVOKED],
                     mmcf->zone->sh->records[NGX_MICROSHOP_KIND_WATERMARK]);

    p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_RECORDS_HEAD);

    for (i = 0; i < NGX_MICROSHOP_KIND_MAX; i++) {
        p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_RECORDS,
                         ngx_microshop_kind_names[i],
                         mmcf->zone->sh->records[i]);
    }

    p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_BYTES_HEAD);

    for (i = 0; i < NGX_MICROSHOP_KIND_MAX; i++) {
        p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_BYTES,
                         ngx_microshop_kind_names[i],
                         mmcf->zone->sh->bytes[i]);
    }

    p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_ROOM,
                     mmcf->zone->sh->room, mmcf->zone->sh->reserve,
                     mmcf->zone->sh->quota,
                     mmcf->zone->sh->bytes[NGX_MICROSHOP_KIND_TOKEN],
                     mmcf->zone->sh->token_bound);

    p = ngx_microshop_status_zones(p, last, mmcf);
    p = ngx_microshop_status_redis(p, last, c);
    p = ngx_microshop_status_nodes(p, last, mmcf->zone->sh->redis_nodes);

    body.len = p - body.data;

    ngx_str_set(&type, NGX_MICROSHOP_STATUS_TYPE);

    return ngx_microshop_send_body(r, NGX_HTTP_OK, &type, &body);
}


/*
 * The most the page can take: the same lines as the handler prints, over
 * the same tables, so a new reason, counter or kind is counted as well.
 */

static size_t
ngx_microshop_status_size(ngx_http_microshop_main_conf_t *mmcf)
{
    size_t                 len, n;
    ngx_uint_t             i, k, nzones;
    ngx_microshop_zone_t  *zones[NGX_MICROSHOP_STATUS_ZONES_MAX];

    len = ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_REQUESTS_HEAD);

    for (i = NGX_MICROSHOP_REASON_OK; i < NGX_MICROSHOP_REASON_MAX; i++) {
        len += ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_REQUESTS)
               + ngx_strlen(ngx_microshop_reasons[i].decision)
               + ngx_strlen(ngx_microshop_reasons[i].reason)
               + NGX_ATOMIC_T_LEN;
    }

    /* at most a family line before each counter; a family is a prefix */

    for (i = 0; i < ngx_microshop_nelts(ngx_microshop_metric_lines); i++) {
        n = ngx_strlen(ngx_microshop_metric_lines[i].line);

        len += ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_FAMILY) + n
               + ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_COUNTER) + n
               + NGX_ATOMIC_T_LEN;
    }

    for (i = 0; i < ngx_microshop_nelts(ngx_microshop_gauge_lines); i++) {
        len += ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_GAUGE)
               + 2 * ngx_strlen(ngx_microshop_gauge_lines[i].line)
               + NGX_ATOMIC_T_LEN;
    }

    len += ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_REVOCATIONS)
           + 2 * NGX_ATOMIC_T_LEN;

    len += ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_RECORDS_HEAD);

    for (i = 0; i < NGX_MICROSHOP_KIND_MAX; i++) {
        len += ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_RECORDS)
               + ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_BYTES)
               + 2 * (ngx_strlen(ngx_microshop_kind_names[i])
                      + NGX_ATOMIC_T_LEN);
    }

    len += ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_BYTES_HEAD)
           + ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_ROOM)
           + 5 * NGX_ATOMIC_T_LEN;

    /* a zone's name takes twice its length at most, escaped */

    len += 2 * (ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_ZONE_HEAD)
                + NGX_MICROSHOP_STATUS_ZONE_FAMILY_MAX);

    nzones = ngx_microshop_status_zone_list(mmcf, zones);

    for (i = 0; i < nzones; i++) {
        n = ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_ZONE_NAME)
            + NGX_MICROSHOP_STATUS_ZONE_FAMILY_MAX + 2 * zones[i]->name.len;

        len += n + ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_ZONE_SIZE)
               + NGX_SIZE_T_LEN;

        for (k = 0; k < NGX_MICROSHOP_KIND_MAX; k++) {
            len += n + ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_ZONE_KIND)
                   + ngx_strlen(ngx_microshop_kind_names[k])
                   + NGX_ATOMIC_T_LEN;
        }
    }

    len += ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_REDIS)
           + NGX_INT_T_LEN + NGX_ATOMIC_T_LEN;

    for (i = 0; i < NGX_MICROSHOP_REDIS_BUCKETS; i++) {
        len += ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_BUCKET)
               + ngx_strlen(ngx_microshop_redis_le[i]) + NGX_ATOMIC_T_LEN;
    }

    for (i = 0; i < ngx_microshop_nelts(ngx_microshop_node_lines); i++) {
        len += ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_NODE_HEAD)
               + NGX_MICROSHOP_STATUS_NODE_NAME_MAX + sizeof("counter")
               + NGX_MICROSHOP_REDIS_NODES_MAX
                 * (ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_NODE)
                    + NGX_MICROSHOP_STATUS_NODE_NAME_MAX
                    + NGX_MICROSHOP_REDIS_NODE_NAME
                    + NGX_MICROSHOP_STATUS_NODE_LABEL_MAX + NGX_ATOMIC_T_LEN);
    }

    return len + ngx_microshop_fmt_len(NGX_MICROSHOP_STATUS_BUCKET_END)
           + 3 * NGX_ATOMIC_T_LEN;
}


/* the zones of the page: the microshop_zone, then the feeds' one */

static ngx_uint_t
ngx_microshop_status_zone_list(ngx_http_microshop_main_conf_t *mmcf,
    ngx_microshop_zone_t **zones)
{
    zones[0] = mmcf->zone;

    if (mmcf->store.feed == NULL) {
        return 1;
    }

    zones[1] = mmcf->store.feed;

    return 2;
}


/*
 * The zone usage lines (docs/operations.md "Metrics"): each zone's size=
 * and the slot bytes of each kind in it, so that a zone's usage is
 * sum(microshop_zone_used_bytes) / microshop_zone_size_bytes.
 */

static u_char *
ngx_microshop_status_zones(u_char *p, u_char *last,
    ngx_http_microshop_main_conf_t *mmcf)
{
    ngx_uint_t             i, k, n;
    ngx_microshop_zone_t  *zones[NGX_MICROSHOP_STATUS_ZONES_MAX];

    n = ngx_microshop_status_zone_list(mmcf, zones);

    p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_ZONE_HEAD, "size_bytes");

    for (i = 0; i < n; i++) {
        p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_ZONE_NAME,
                         "size_bytes");
        p = ngx_microshop_status_label(p, last, &zones[i]->name);
        p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_ZONE_SIZE,
                         zones[i]->size);
    }

    p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_ZONE_HEAD, "used_bytes");

    for (i = 0; i < n; i++) {
        for (k = 0; k < NGX_MICROSHOP_KIND_MAX; k++) {
            p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_ZONE_NAME,
                             "used_bytes");
            p = ngx_microshop_status_label(p, last, &zones[i]->name);
            p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_ZONE_KIND,
                             ngx_microshop_kind_names[k],
                             zones[i]->sh->bytes[k]);
        }
    }

    return p;
}


/* a label value as the text format escapes it: \\, \" and \n */

static u_char *
ngx_microshop_status_label(u_char *p, u_char *last, ngx_str_t *value)
{
    u_char  *s, *end;

    end = value->data + value->len;

    for (s = value->data; s < end && last - p >= 2; s++) {

        switch (*s) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = *s;
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = *s;
        }
    }

    return p;
}


/*
 * The Redis lines: microshop_redis_up is 1 while at least one worker's
 * command connection is up (docs/redis.md "Metrics"), the histogram's
 * buckets are cumulative as Prometheus reads them.
 */

static u_char *
ngx_microshop_status_redis(u_char *p, u_char *last, ngx_atomic_t *c)
{
    ngx_uint_t    i;
    ngx_atomic_t  sum, up;

    up = c[NGX_MICROSHOP_COUNTER_REDIS_UP];

    p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_REDIS, up ? 1 : 0, up);

    sum = 0;

    for (i = 0; i < NGX_MICROSHOP_REDIS_BUCKETS; i++) {
        sum += c[NGX_MICROSHOP_COUNTER_REDIS_LATENCY + i];
        p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_BUCKET,
                         ngx_microshop_redis_le[i], sum);
    }

    return ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_BUCKET_END,
                        c[NGX_MICROSHOP_COUNTER_REDIS_LATENCY_SUM_US]
                        / 1000000,
                        c[NGX_MICROSHOP_COUNTER_REDIS_LATENCY_SUM_US]
                        % 1000000,
                        sum);
}


/* a line per node the workers connected to, family by family */

static u_char *
ngx_microshop_status_nodes(u_char *p, u_char *last,
    ngx_microshop_node_stat_t *nodes)
{
    ngx_uint_t                  i, k;
    ngx_atomic_t                v;
    ngx_microshop_node_line_t  *l;

    if (!nodes[0].used) {
        /* no Redis, or no node yet: no family without a line */
        return p;
    }

    for (i = 0; i < ngx_microshop_nelts(ngx_microshop_node_lines); i++) {
        l = &ngx_microshop_node_lines[i];

        if (l->type != NULL) {
            p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_NODE_HEAD,
                             l->name, l->type);
        }

        for (k = 0; k < NGX_MICROSHOP_REDIS_NODES_MAX; k++) {
            if (!nodes[k].used) {
                continue;
            }

            v = nodes[k].counters[l->counter];

            if (l->up) {
                v = ((ngx_atomic_int_t) v > 0) ? 1 : 0;
            }

            p = ngx_slprintf(p, last, NGX_MICROSHOP_STATUS_NODE, l->name,
                             nodes[k].len, nodes[k].name, l->label, v);
        }
    }

    return p;
}
