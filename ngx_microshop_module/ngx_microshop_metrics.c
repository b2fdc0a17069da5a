/*
 * ngx_microshop: decision names and the Prometheus status page.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_ratelimit.h"
#include "ngx_microshop_idempotency.h"
#include "ngx_microshop_inventory.h"
#include "ngx_microshop_audit.h"
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
};


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
    { NGX_MICROSHOP_COUNTER_CACHE_HIT,
      "microshop_inventory_cache_total{result=\"hit\"}" },
    { NGX_MICROSHOP_COUNTER_CACHE_MISS,
      "microshop_inventory_cache_total{result=\"miss\"}" },
    { NGX_MICROSHOP_COUNTER_CACHE_STALE,
      "microshop_inventory_cache_total{result=\"stale\"}" },
    { NGX_MICROSHOP_COUNTER_CACHE_STORE,
      "microshop_inventory_cache_total{result=\"store\"}" },
    { NGX_MICROSHOP_COUNTER_RESERVE_OK,
      "microshop_reservations_total{result=\"reserved\"}" },
    { NGX_MICROSHOP_COUNTER_RESERVE_OUT_OF_STOCK,
      "microshop_reservations_total{result=\"out_of_stock\"}" },
    { NGX_MICROSHOP_COUNTER_RESERVE_COMMIT,
      "microshop_reservations_total{result=\"committed\"}" },
    { NGX_MICROSHOP_COUNTER_RESERVE_RELEASE,
      "microshop_reservations_total{result=\"released\"}" },
    { NGX_MICROSHOP_COUNTER_RESERVE_EXPIRED,
      "microshop_reservations_total{result=\"expired\"}" },
    { NGX_MICROSHOP_COUNTER_REDIS_ERRORS, "microshop_redis_errors_total" },
    { NGX_MICROSHOP_COUNTER_STORE_ERRORS, "microshop_store_errors_total" },
    { NGX_MICROSHOP_COUNTER_STORE_LATE,
      "microshop_store_late_answers_total" },
    { NGX_MICROSHOP_COUNTER_ZONE_EVICTIONS,
      "microshop_zone_evictions_total" },
    { NGX_MICROSHOP_COUNTER_ZONE_FULL, "microshop_zone_full_total" },
};


/* in the order of ngx_microshop_kind_e */
static const char  *ngx_microshop_kind_names[] = {
    "token", "rate", "inventory", "event", "revoked", "idempotency",
    "stock", "hold"
};


static ngx_int_t ngx_microshop_status_handler(ngx_http_request_t *r);


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
    u_char                          *p;
    ngx_int_t                        rc;
    size_t                           n;
    ngx_str_t                        body, type, family;
    ngx_uint_t                       i;
    const char                      *line;
    ngx_atomic_t                    *c;
    ngx_microshop_problem_t          problem;
    ngx_http_microshop_main_conf_t  *mmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        ngx_str_set(&type, "GET, HEAD");

        if (ngx_microshop_header_add(r, "Allow", &type) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memzero(&problem, sizeof(ngx_microshop_problem_t));
        problem.status = NGX_HTTP_NOT_ALLOWED;
        ngx_str_set(&problem.name, "method-not-allowed");
        ngx_str_set(&problem.title, "Method not allowed");
        ngx_str_set(&problem.detail, "The status page is read with GET.");

        return ngx_microshop_problem_output(r, &problem);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mmcf = ngx_microshop_main_conf(r);
    c = mmcf->zone->sh->counters;

    len = 4096 + (NGX_MICROSHOP_REASON_MAX + NGX_MICROSHOP_KIND_MAX
                  + sizeof(ngx_microshop_metric_lines)
                    / sizeof(ngx_microshop_metric_t))
                 * (128 + NGX_ATOMIC_T_LEN);

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body.data,
                   "# HELP microshop_requests_total Decisions of the "
                   "gateway, by reason.\n"
                   "# TYPE microshop_requests_total counter\n",
                   sizeof("# HELP microshop_requests_total Decisions of the "
                          "gateway, by reason.\n"
                          "# TYPE microshop_requests_total counter\n") - 1);

    for (i = NGX_MICROSHOP_REASON_OK; i < NGX_MICROSHOP_REASON_MAX; i++) {
        p = ngx_sprintf(p, "microshop_requests_total{decision=\"%s\","
                        "reason=\"%s\"} %uA\n",
                        ngx_microshop_reasons[i].decision,
                        ngx_microshop_reasons[i].reason, c[i]);
    }

    family.len = 0;

    for (i = 0; i < sizeof(ngx_microshop_metric_lines)
                    / sizeof(ngx_microshop_metric_t); i++)
    {
        line = ngx_microshop_metric_lines[i].line;
        n = strcspn(line, "{");

        if (n != family.len || ngx_strncmp(line, family.data, n) != 0) {
            family.data = (u_char *) line;
            family.len = n;
            p = ngx_sprintf(p, "# TYPE %V counter\n", &family);
        }

        p = ngx_sprintf(p, "%s %uA\n", line,
                        c[ngx_microshop_metric_lines[i].counter]);
    }

    p = ngx_cpymem(p, "# TYPE microshop_zone_records gauge\n",
                   sizeof("# TYPE microshop_zone_records gauge\n") - 1);

    for (i = 0; i < NGX_MICROSHOP_KIND_MAX; i++) {
        p = ngx_sprintf(p, "microshop_zone_records{kind=\"%s\"} %uA\n",
                        ngx_microshop_kind_names[i],
                        mmcf->zone->sh->records[i]);
    }

    p = ngx_sprintf(p, "# TYPE microshop_redis_up gauge\n"
                    "microshop_redis_up %d\n", 0);

    body.len = p - body.data;

    ngx_str_set(&type, "text/plain; version=0.0.4");

    return ngx_microshop_send_body(r, NGX_HTTP_OK, &type, &body);
}
