/*
 * ngx_microshop: the verified-token cache, node-local by design (see the
 * header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_token_cache.h"
#include "ngx_microshop_digest.h"
#include "ngx_microshop_jwks_uri.h"
#include "microshop_time.h"


/* the cached identity: this header, then the strings back to back */
typedef struct {
    int64_t                   exp;
    int64_t                   nbf;
    int64_t                   iat;
    uint16_t                  len[NGX_MICROSHOP_ID_MAX];
} ngx_microshop_identity_rec_t;


/*
 * The cache key: SHA-256(config digest || [provider keys digest] || token).
 * The digest of the worker's keys from the identity provider
 * (microshop_jwt_jwks_uri) is in it, so that a set that changed verifies
 * again the tokens of the one before, and an unchanged refresh does not.
 */

ngx_int_t
ngx_microshop_token_cache_key(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *token, u_char *hash)
{
    EVP_MD_CTX    *md;
    const u_char  *idp;

    md = ngx_microshop_sha256_begin();
    idp = ngx_microshop_jwks_uri_digest(mmcf);

    if (md == NULL
        || EVP_DigestUpdate(md, mmcf->token.config_hash, 32) != 1
        || (idp != NULL
            && EVP_DigestUpdate(md, idp, NGX_MICROSHOP_JWKS_DIGEST_LEN) != 1)
        || EVP_DigestUpdate(md, token->data, token->len) != 1
        || EVP_DigestFinal_ex(md, hash, NULL) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_microshop_token_cache_lookup(ngx_http_request_t *r,
    ngx_microshop_identity_t *id, u_char *hash)
{
    u_char                          *p, *copy;
    size_t                           len;
    ngx_uint_t                       i;
    ngx_microshop_rec_t             *rec;
    ngx_microshop_identity_rec_t     ir;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    ngx_microshop_zone_lock(mmcf->zone);

    rec = ngx_microshop_zone_lookup(mmcf->zone, NGX_MICROSHOP_KIND_TOKEN,
                                    hash, SHA256_DIGEST_LENGTH,
                                    ngx_microshop_now_ms());
    if (rec == NULL) {
        ngx_microshop_zone_unlock(mmcf->zone);
        return NGX_DECLINED;
    }

    len = rec->value_len;

    copy = ngx_pnalloc(r->pool, len);
    if (copy == NULL) {
        ngx_microshop_zone_unlock(mmcf->zone);
        return NGX_ERROR;
    }

    ngx_memcpy(copy, ngx_microshop_rec_value(rec), len);

    ngx_microshop_zone_unlock(mmcf->zone);

    ngx_memcpy(&ir, copy, sizeof(ngx_microshop_identity_rec_t));

    id->exp = ir.exp;
    id->nbf = ir.nbf;
    id->iat = ir.iat;

    p = copy + sizeof(ngx_microshop_identity_rec_t);

    for (i = 0; i < NGX_MICROSHOP_ID_MAX; i++) {
        id->f[i].data = p;
        id->f[i].len = ir.len[i];
        p += ir.len[i];
    }

    return NGX_OK;
}


void
ngx_microshop_token_cache_insert(ngx_http_request_t *r,
    ngx_microshop_identity_t *id, u_char *hash)
{
    u_char                          *p;
    size_t                           len;
    int64_t                          now, expire;
    ngx_uint_t                       i;
    ngx_microshop_rec_t             *rec;
    ngx_microshop_identity_rec_t     ir;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    ngx_memzero(&ir, sizeof(ngx_microshop_identity_rec_t));

    ir.exp = id->exp;
    ir.nbf = id->nbf;
    ir.iat = id->iat;

    len = sizeof(ngx_microshop_identity_rec_t);

    for (i = 0; i < NGX_MICROSHOP_ID_MAX; i++) {
        ir.len[i] = (uint16_t) id->f[i].len;
        len += id->f[i].len;
    }

    now = ngx_microshop_now_ms();
    /* exp is 0 .. MICROSHOP_TIME_MAX (a NumericDate), still saturated */
    expire = microshop_time_ms(microshop_time_add(id->exp,
                                                  mmcf->token.leeway + 1));

    ngx_microshop_zone_lock(mmcf->zone);

    rec = ngx_microshop_zone_lookup(mmcf->zone, NGX_MICROSHOP_KIND_TOKEN,
                                    hash, SHA256_DIGEST_LENGTH, now);

    if (rec == NULL) {
        /* another worker may have cached it meanwhile: then keep that */

        rec = ngx_microshop_zone_insert(mmcf->zone, NGX_MICROSHOP_KIND_TOKEN,
                                        hash, SHA256_DIGEST_LENGTH, len,
                                        expire, now);
        if (rec) {
            p = ngx_cpymem(ngx_microshop_rec_value(rec), &ir,
                           sizeof(ngx_microshop_identity_rec_t));

            for (i = 0; i < NGX_MICROSHOP_ID_MAX; i++) {
                p = ngx_microshop_cpymem(p, id->f[i].data, id->f[i].len);
            }
        }
    }

    ngx_microshop_zone_unlock(mmcf->zone);
}
