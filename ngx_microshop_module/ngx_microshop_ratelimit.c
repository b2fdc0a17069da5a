/*
 * ngx_microshop: per-seller rate limits (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_ratelimit.h"
#include "ngx_microshop_answer.h"
#include "microshop_header.h"
#include "ngx_microshop_digest.h"


#define NGX_MICROSHOP_RATE_KEY_MAX  512


static ngx_int_t ngx_microshop_rate_key(ngx_http_request_t *r, u_char kind,
    ngx_str_t *value, ngx_str_t *key);
static ngx_int_t ngx_microshop_ratelimit_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, int64_t retry_after);


ngx_int_t
ngx_microshop_rate_main_init(ngx_conf_t *cf, ngx_microshop_rate_main_t *rmcf)
{
    return ngx_array_init(&rmcf->tiers, cf->pool, 4,
                          sizeof(ngx_microshop_rate_tier_t));
}


void
ngx_microshop_rate_loc_create(ngx_microshop_rate_loc_t *rlcf)
{
    rlcf->on = NGX_CONF_UNSET;
    rlcf->cost = NGX_CONF_UNSET_UINT;
    rlcf->dry_run = NGX_CONF_UNSET;
    rlcf->key = NGX_CONF_UNSET_PTR;
}


ngx_microshop_rate_tier_t *
ngx_microshop_rate_tier_find(ngx_microshop_rate_main_t *rmcf, ngx_str_t *name)
{
    ngx_uint_t                  i;
    ngx_microshop_rate_tier_t  *tier;

    tier = rmcf->tiers.elts;

    for (i = 0; i < rmcf->tiers.nelts; i++) {
        if (tier[i].name.len == name->len
            && ngx_strncmp(tier[i].name.data, name->data, name->len) == 0)
        {
            return &tier[i];
        }
    }

    return NULL;
}


/* microshop_rate_tier NAME rate=Nr/s|Nr/m burst=N */

char *
ngx_microshop_rate_tier_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_main_conf_t *mmcf = conf;

    u_char                     *p;
    ngx_int_t                   rate, scale, n;
    ngx_str_t                  *value;
    ngx_uint_t                  i;
    ngx_microshop_rate_tier_t  *tier;

    value = cf->args->elts;

    tier = ngx_microshop_rate_tier_find(&mmcf->rate, &value[1]);
    if (tier) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "rate tier \"%V\" is already declared at line %ui",
                           &value[1], tier->line);
        return NGX_CONF_ERROR;
    }

    tier = ngx_array_push(&mmcf->rate.tiers);
    if (tier == NULL) {
        return NGX_CONF_ERROR;
    }

    if (!microshop_header_sf_string_ok(value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid rate tier name \"%V\": printable ASCII "
                           "only, the name is written into the RateLimit "
                           "headers as a string", &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(tier, sizeof(ngx_microshop_rate_tier_t));
    tier->name = value[1];
    tier->line = cf->conf_file->line;

    rate = 0;
    scale = 1;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            p = value[i].data + value[i].len - 3;
            n = value[i].len - 8;

            if (value[i].len > 8 && ngx_strncmp(p, "r/s", 3) == 0) {
                scale = 1;

            } else if (value[i].len > 8 && ngx_strncmp(p, "r/m", 3) == 0) {
                scale = 60;

            } else {
                n = 0;
            }

            rate = (n > 0) ? ngx_atoi(value[i].data + 5, n) : NGX_ERROR;

            if (rate <= 0 || rate > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\": a whole number of "
                                   "requests from 1 to 1000000, \"r/s\" or "
                                   "\"r/m\", e.g. rate=50r/s", &value[i]);
                return NGX_CONF_ERROR;
            }

            tier->rate_text.data = value[i].data + 5;
            tier->rate_text.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            tier->burst = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (tier->burst <= 0 || tier->burst > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid burst \"%V\": a whole number "
                                   "from 1 to 1000000", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        return ngx_microshop_conf_invalid(cf, &value[i]);
    }

    if (rate == 0 || tier->burst == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "rate tier \"%V\" needs \"rate=\" and \"burst=\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    tier->interval = (int64_t) scale * 1000000 / rate;

    /* the same on every answer: written once */
    tier->quoted.len = microshop_header_sf_string(NULL, tier->name.data,
                                                  tier->name.len);
    tier->quoted.data = ngx_pnalloc(cf->pool, tier->quoted.len);
    tier->policy.data = ngx_pnalloc(cf->pool, sizeof(";q=;w=") - 1
                                              + tier->quoted.len
                                              + 2 * NGX_INT64_LEN);
    if (tier->quoted.data == NULL || tier->policy.data == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) microshop_header_sf_string(tier->quoted.data, tier->name.data,
                                      tier->name.len);

    tier->policy.len = ngx_sprintf(tier->policy.data, "%V;q=%L;w=%L",
                                   &tier->quoted, tier->burst,
                                   microshop_gcra_seconds_ceil(tier->burst
                                                           * tier->interval))
                       - tier->policy.data;

    if (value[1].len == 7 && ngx_strncmp(value[1].data, "default", 7) == 0) {
        mmcf->rate.default_tier = tier;
    }

    return NGX_CONF_OK;
}


/* microshop_rate_limit on|off [cost=N] [key=VALUE] [dry_run] */

char *
ngx_microshop_rate_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, key;
    ngx_uint_t   i;

    if (mlcf->rate.on != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_microshop_conf_flag(cf, &value[1], &mlcf->rate.on) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    mlcf->rate.file = cf->conf_file->file.name.data;
    mlcf->rate.line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "cost=", 5) == 0) {
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);

            if (n <= 0 || n > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid cost \"%V\": a whole number "
                                   "from 1 to 1000000", &value[i]);
                return NGX_CONF_ERROR;
            }

            mlcf->rate.cost = n;
            continue;
        }

        if (ngx_microshop_conf_value(&value[i], "key=", &key)) {
            mlcf->rate.key = ngx_microshop_complex_value(cf, &key);
            if (mlcf->rate.key == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "dry_run") == 0) {
            mlcf->rate.dry_run = 1;
            continue;
        }

        return ngx_microshop_conf_invalid(cf, &value[i]);
    }

    return NGX_CONF_OK;
}


char *
ngx_microshop_rate_loc_merge(ngx_conf_t *cf, ngx_microshop_rate_loc_t *prev,
    ngx_microshop_rate_loc_t *conf)
{
    ngx_uint_t                       i;
    ngx_microshop_rate_tier_t       *tier;
    ngx_http_microshop_main_conf_t  *mmcf;

    if (conf->on == NGX_CONF_UNSET) {
        /* the directive is inherited whole, as limit_req is */
        conf->on = prev->on;
        conf->cost = prev->cost;
        conf->dry_run = prev->dry_run;
        conf->key = prev->key;
        conf->file = prev->file;
        conf->line = prev->line;
    }

    ngx_conf_merge_value(conf->on, NGX_CONF_UNSET, 0);
    ngx_conf_merge_uint_value(conf->cost, NGX_CONF_UNSET_UINT, 1);
    ngx_conf_merge_value(conf->dry_run, NGX_CONF_UNSET, 0);
    ngx_conf_merge_ptr_value(conf->key, NGX_CONF_UNSET_PTR, NULL);

    if (!conf->on) {
        return NGX_CONF_OK;
    }

    mmcf = ngx_microshop_conf_main_conf(cf);

    if (mmcf->rate.default_tier == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"microshop_rate_limit on\" needs a rate tier named "
                      "\"default\" (microshop_rate_tier default rate=... "
                      "burst=...) in %s:%ui", conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    tier = mmcf->rate.tiers.elts;

    for (i = 0; i < mmcf->rate.tiers.nelts; i++) {
        if ((int64_t) conf->cost > tier[i].burst) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"microshop_rate_limit\" cost=%ui is larger than "
                          "the burst=%L of rate tier \"%V\": such requests "
                          "could never pass, in %s:%ui", conf->cost,
                          tier[i].burst, &tier[i].name, conf->file,
                          conf->line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_microshop_ratelimit_stage(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    int64_t                         retry_after;
    ngx_int_t                       rc;
    ngx_http_microshop_loc_conf_t  *mlcf;

    mlcf = ngx_microshop_loc_conf(r);

    if (!mlcf->rate.on) {
        return NGX_DECLINED;
    }

    if (ctx->op_state == NGX_MICROSHOP_OP_IDLE
        && ngx_microshop_ratelimit_op(r, ctx, &ctx->op) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_microshop_request_store(r, ctx) == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    rc = ngx_microshop_ratelimit_verdict(r, ctx, &ctx->op, &retry_after);

    if (rc == NGX_OK) {
        return NGX_DECLINED;
    }

    if (rc == NGX_ERROR) {
        return ngx_microshop_store_failed(r, ctx);
    }

    return ngx_microshop_ratelimit_reject(r, ctx, retry_after);
}


ngx_int_t
ngx_microshop_ratelimit_op(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_op_t *op)
{
    ngx_str_t                        key, *name;
    ngx_microshop_rate_tier_t       *tier;
    ngx_http_microshop_loc_conf_t   *mlcf;
    ngx_http_microshop_main_conf_t  *mmcf;

    mlcf = ngx_microshop_loc_conf(r);
    mmcf = ngx_microshop_main_conf(r);

    tier = NULL;

    if (ctx->has_token) {
        name = &ctx->token.id.f[NGX_MICROSHOP_ID_TIER];

        if (name->len) {
            tier = ngx_microshop_rate_tier_find(&mmcf->rate, name);
        }
    }

    if (tier == NULL) {
        tier = mmcf->rate.default_tier;
    }

    if (mlcf->rate.key) {
        if (ngx_http_complex_value(r, mlcf->rate.key, &key) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (ctx->has_token) {
        key = ctx->token.id.f[NGX_MICROSHOP_ID_SELLER];

    } else {
        ngx_str_null(&key);
    }

    if (ngx_microshop_rate_key(r, mlcf->rate.key ? 'k' : 's', &key, &op->key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->rate.tier = tier;

    op->type = NGX_MICROSHOP_OP_GCRA;
    op->u.gcra.interval = tier->interval;
    op->u.gcra.burst = tier->burst;
    op->u.gcra.cost = mlcf->rate.cost;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_ratelimit_verdict(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_op_t *op,
    int64_t *retry_after)
{
    microshop_gcra_result_t        *res;
    ngx_http_microshop_loc_conf_t  *mlcf;

    if (op->rc == NGX_ERROR) {
        ctx->rate.tier = NULL;
        return NGX_ERROR;
    }

    res = &op->u.gcra.result;

    ctx->rate.remaining = res->remaining;
    ctx->rate.reset_after = res->reset_after;
    ctx->rate_remaining = res->remaining;

    if (res->allowed) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "microshop: rate limit \"%V\" allows, %L left",
                       &ctx->rate.tier->name, res->remaining);
        return NGX_OK;
    }

    mlcf = ngx_microshop_loc_conf(r);

    if (mlcf->rate.dry_run) {
        ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_RATE_DRY_RUN);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "microshop: rate limit of \"%V\" exceeded "
                      "(dry run), key \"%V\"", &ctx->rate.tier->name,
                      &op->key);
        return NGX_OK;
    }

    ngx_microshop_outcome(r, ctx, NGX_MICROSHOP_OUT_RATE_LIMITED);

    *retry_after = res->retry_after;

    return NGX_BUSY;
}


/*
 * The bucket of a request: "s:" and the token's seller, "k:" and the key=
 * value (kind 's' or 'k'), "a:" and the client address when there is
 * neither, so that no two of them share a bucket.  A seller or key longer
 * than NGX_MICROSHOP_RATE_KEY_MAX is its SHA-256 instead ("S:" or "K:" and
 * 43 base64url characters): every byte of it counts, so two long sellers
 * never share a bucket and one seller always has the same one.
 */

static ngx_int_t
ngx_microshop_rate_key(ngx_http_request_t *r, u_char kind, ngx_str_t *value,
    ngx_str_t *key)
{
    u_char       hash[32];
    ngx_str_t    src, digest;
    EVP_MD_CTX  *md;

    src = *value;

    if (src.len == 0) {
        /* no seller to limit: the client address stands for it */
        src = r->connection->addr_text;
        kind = 'a';
    }

    if (src.len <= NGX_MICROSHOP_RATE_KEY_MAX) {
        key->len = 2 + src.len;
        key->data = ngx_pnalloc(r->pool, key->len);
        if (key->data == NULL) {
            return NGX_ERROR;
        }

        key->data[0] = kind;
        key->data[1] = ':';
        ngx_memcpy(key->data + 2, src.data, src.len);

        return NGX_OK;
    }

    md = ngx_microshop_sha256_begin();

    if (md == NULL
        || EVP_DigestUpdate(md, src.data, src.len) != 1
        || EVP_DigestFinal_ex(md, hash, NULL) != 1)
    {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop: rate key of %uz bytes hashed", src.len);

    key->data = ngx_pnalloc(r->pool, 2 + ngx_base64_encoded_length(32));
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->data[0] = ngx_toupper(kind);
    key->data[1] = ':';

    src.data = hash;
    src.len = sizeof(hash);
    digest.data = key->data + 2;

    ngx_encode_base64url(&digest, &src);

    key->len = 2 + digest.len;

    return NGX_OK;
}


ngx_uint_t
ngx_microshop_ratelimit_seconds(int64_t retry_after)
{
    /* never negative: 0 when the bucket has room again */
    return (ngx_uint_t) microshop_gcra_seconds_ceil(retry_after);
}


static ngx_int_t
ngx_microshop_ratelimit_reject(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, int64_t retry_after)
{
    if (ngx_microshop_header_retry_after(r,
                                 ngx_microshop_ratelimit_seconds(retry_after))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_microshop_problem_send_text(r, NGX_HTTP_TOO_MANY_REQUESTS,
               "rate-limited", "Too many requests",
               "The seller's request rate is over its tier; retry after "
               "the time in Retry-After.");
}


ngx_int_t
ngx_microshop_ratelimit_headers(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx)
{
    u_char                     *p;
    ngx_str_t                   state;
    ngx_microshop_rate_tier_t  *tier;

    tier = ctx->rate.tier;

    p = ngx_pnalloc(r->pool, sizeof(";r=;t=") - 1 + tier->quoted.len
                             + 2 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    state.data = p;
    state.len = ngx_sprintf(p, "%V;r=%L;t=%L", &tier->quoted,
                            ctx->rate.remaining,
                            microshop_gcra_seconds_ceil(ctx->rate.reset_after))
                - p;

    if (ngx_microshop_header_add(r, "RateLimit-Policy", &tier->policy)
        != NGX_OK
        || ngx_microshop_header_add(r, "RateLimit", &state) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
