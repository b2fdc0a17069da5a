/*
 * ngx_microshop -- JWK and JWKS documents (pure logic, no nginx headers),
 * see microshop_token_jwk.h.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "microshop_base64url.h"
#include "microshop_token_file.h"
#include "microshop_token_jwk.h"
#include "microshop_token_str.h"
#include "microshop_token_thumbprint.h"


/* members that only a private JWK has (RFC 7518 6.2.2, 6.3.2) */
static const char  *microshop_jwk_private[] = {
    "d", "p", "q", "dp", "dq", "qi", "oth"
};


static EVP_PKEY *
microshop_jwk_fromdata(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY      *pkey;
    EVP_PKEY_CTX  *ctx;

    pkey = NULL;

    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (ctx == NULL) {
        return NULL;
    }

    if (EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);

    return pkey;
}


static EVP_PKEY *
microshop_jwk_rsa(json_t *jwk, char *why, size_t whylen)
{
    size_t           nlen, elen;
    BIGNUM          *n, *e;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    unsigned char   *nbuf, *ebuf;
    OSSL_PARAM_BLD  *bld;

    pkey = NULL;
    n = NULL;
    e = NULL;
    bld = NULL;
    params = NULL;
    nbuf = NULL;
    ebuf = NULL;

    if (microshop_b64url_decode_json(json_object_get(jwk, "n"), &nbuf, &nlen)
        != 0)
    {
        microshop_err(why, whylen, "\"n\" missing or not base64url");
        goto done;
    }

    if (microshop_b64url_decode_json(json_object_get(jwk, "e"), &ebuf, &elen)
        != 0)
    {
        microshop_err(why, whylen, "\"e\" missing or not base64url");
        goto done;
    }

    n = BN_bin2bn(nbuf, (int) nlen, NULL);
    e = BN_bin2bn(ebuf, (int) elen, NULL);
    bld = OSSL_PARAM_BLD_new();

    if (n == NULL || e == NULL || bld == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
    {
        microshop_err(why, whylen, "out of memory");
        goto done;
    }

    pkey = microshop_jwk_fromdata("RSA", params);
    if (pkey == NULL) {
        microshop_err(why, whylen, "not a valid RSA public key");
    }

done:

    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(nbuf);
    free(ebuf);

    return pkey;
}


static EVP_PKEY *
microshop_jwk_ec(json_t *jwk, const microshop_alg_info_t *info, char *why,
    size_t whylen)
{
    size_t          xlen, ylen;
    EVP_PKEY       *pkey;
    OSSL_PARAM      params[3];
    unsigned char  *x, *y;
    unsigned char   pub[1 + 2 * MICROSHOP_EC_COORD_MAX];

    pkey = NULL;
    x = NULL;
    y = NULL;

    if (microshop_b64url_decode_json(json_object_get(jwk, "x"), &x, &xlen)
        != 0
        || microshop_b64url_decode_json(json_object_get(jwk, "y"), &y, &ylen)
           != 0)
    {
        microshop_err(why, whylen, "\"x\" or \"y\" missing or not "
                      "base64url");
        goto done;
    }

    if (xlen != info->coord_len || ylen != info->coord_len) {
        microshop_err(why, whylen, "\"x\" and \"y\" must be %zu bytes for "
                      "%s", info->coord_len, info->crv);
        goto done;
    }

    pub[0] = 0x04;
    memcpy(pub + 1, x, xlen);
    memcpy(pub + 1 + xlen, y, ylen);

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *) info->group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  pub, 1 + xlen + ylen);
    params[2] = OSSL_PARAM_construct_end();

    pkey = microshop_jwk_fromdata("EC", params);
    if (pkey == NULL) {
        microshop_err(why, whylen, "not a valid EC public key (point not "
                      "on %s?)", info->crv);
    }

done:

    free(x);
    free(y);

    return pkey;
}


/*
 * One JWK.  Returns 1 when added, 0 when skipped (use "enc"), -1 with why.
 */
static int
microshop_jwk_add(microshop_keyset_t *ks, json_t *jwk, const char *path,
    int remote, char *why, size_t whylen)
{
    size_t                       i, klen;
    json_t                      *v;
    EVP_PKEY                    *pkey;
    const char                  *kid;
    unsigned char               *k;
    microshop_alg_t              alg;
    const microshop_alg_info_t  *info;

    if (!json_is_object(jwk)) {
        microshop_err(why, whylen, "not a JSON object");
        return -1;
    }

    for (i = 0; i < sizeof(microshop_jwk_private) / sizeof(char *); i++) {
        if (json_object_get(jwk, microshop_jwk_private[i]) != NULL) {
            microshop_err(why, whylen, "has private member \"%s\"; publish "
                          "public keys only", microshop_jwk_private[i]);
            return -1;
        }
    }

    v = json_object_get(jwk, "use");
    if (v != NULL) {
        if (microshop_json_streq(v, "enc")) {
            return 0;
        }

        if (!microshop_json_streq(v, "sig")) {
            microshop_err(why, whylen, "\"use\" must be \"sig\"");
            return -1;
        }
    }

    kid = NULL;
    v = json_object_get(jwk, "kid");
    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) == 0
            || strlen(json_string_value(v)) != json_string_length(v))
        {
            microshop_err(why, whylen, "\"kid\" must be a non-empty string");
            return -1;
        }

        kid = json_string_value(v);
    }

    alg = MICROSHOP_ALG_UNKNOWN;
    v = json_object_get(jwk, "alg");
    if (v != NULL) {
        if (!json_is_string(v)) {
            microshop_err(why, whylen, "\"alg\" must be a string");
            return -1;
        }

        alg = microshop_alg_from_name(json_string_value(v),
                                      json_string_length(v));
        if (alg == MICROSHOP_ALG_UNKNOWN) {
            microshop_err(why, whylen, "unsupported alg \"%.32s\"",
                          json_string_value(v));
            return -1;
        }
    }

    info = microshop_alg_info(alg);
    v = json_object_get(jwk, "kty");

    if (microshop_json_streq(v, "RSA")) {

        if (alg == MICROSHOP_ALG_UNKNOWN) {
            microshop_err(why, whylen, "RSA key without \"alg\"");
            return -1;
        }

        if (info->family != MICROSHOP_FAMILY_RS) {
            microshop_err(why, whylen, "alg %s does not fit kty RSA",
                          info->name);
            return -1;
        }

        pkey = microshop_jwk_rsa(jwk, why, whylen);

    } else if (microshop_json_streq(v, "EC")) {

        v = json_object_get(jwk, "crv");

        for (i = 1; i < MICROSHOP_NALGS; i++) {
            if (microshop_algs[i].family == MICROSHOP_FAMILY_ES
                && microshop_json_streq(v, microshop_algs[i].crv))
            {
                break;
            }
        }

        if (i == MICROSHOP_NALGS) {
            microshop_err(why, whylen, "\"crv\" missing or not one of "
                          "P-256, P-384, P-521");
            return -1;
        }

        if (alg != MICROSHOP_ALG_UNKNOWN && alg != (microshop_alg_t) i) {
            microshop_err(why, whylen, "alg %s does not fit crv %s",
                          info->name, microshop_algs[i].crv);
            return -1;
        }

        alg = (microshop_alg_t) i;
        info = microshop_alg_info(alg);

        pkey = microshop_jwk_ec(jwk, info, why, whylen);

    } else if (microshop_json_streq(v, "oct")) {

        if (remote) {
            /* a secret on a published document: anyone could sign */
            microshop_err(why, whylen, "oct keys (shared secrets) are not "
                          "taken from an identity provider");
            return -1;
        }

        if (alg == MICROSHOP_ALG_UNKNOWN) {
            microshop_err(why, whylen, "oct key without \"alg\"");
            return -1;
        }

        if (info->family != MICROSHOP_FAMILY_HS) {
            microshop_err(why, whylen, "alg %s does not fit kty oct",
                          info->name);
            return -1;
        }

        if (microshop_b64url_decode_json(json_object_get(jwk, "k"), &k, &klen)
            != 0)
        {
            microshop_err(why, whylen, "\"k\" missing or not base64url");
            return -1;
        }

        if (klen < info->hash_len) {
            OPENSSL_cleanse(k, klen);
            free(k);
            microshop_err(why, whylen, "%s secret of %zu bytes is too short "
                          "(at least %zu, RFC 7518 3.2)",
                          info->name, klen, info->hash_len);
            return -1;
        }

        if (microshop_memfind((char *) k, klen, "-----BEGIN")) {
            OPENSSL_cleanse(k, klen);
            free(k);
            microshop_err(why, whylen, "\"k\" holds a PEM key, not an %s "
                          "secret (refused: key confusion)", info->name);
            return -1;
        }

        if (microshop_keyset_push(ks, kid, alg, NULL, k, klen, path,
                                  why, whylen)
            != 0)
        {
            return -1;
        }

        return 1;

    } else if (json_is_string(v)) {
        microshop_err(why, whylen, "unsupported kty \"%.16s\"",
                      json_string_value(v));
        return -1;

    } else {
        microshop_err(why, whylen, "\"kty\" missing or not a string");
        return -1;
    }

    if (pkey == NULL) {
        return -1;
    }

    if (microshop_pkey_check(pkey, &alg, why, whylen) != 0) {
        EVP_PKEY_free(pkey);
        return -1;
    }

    if (microshop_keyset_push(ks, kid, alg, pkey, NULL, 0, path, why, whylen)
        != 0)
    {
        return -1;
    }

    return 1;
}


/*
 * The keys of a JWKS document.  remote: from an identity provider (oct
 * refused, a key the rules refuse is left out and counted in report).
 * Returns 0, or -1 with why set and the keys added so far still in ks.
 */
static int
microshop_jwks_parse(microshop_keyset_t *ks, const char *data, size_t len,
    const char *source, microshop_jwks_report_t *report, size_t max,
    char *why, size_t whylen)
{
    int            rc;
    char           kwhy[200], *note;
    size_t         i, added;
    json_t        *doc, *keys, *jwk, *kid;
    json_error_t   jerr;

    doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        microshop_err(why, whylen, "invalid JSON at line %d: %s",
                      jerr.line, jerr.text);
        return -1;
    }

    keys = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(keys)) {
        microshop_err(why, whylen, "not a JWKS ({\"keys\":[...]})");
        goto failed;
    }

    added = 0;

    json_array_foreach(keys, i, jwk) {

        rc = microshop_jwk_add(ks, jwk, source, report != NULL, kwhy,
                               sizeof(kwhy));

        if (rc < 0) {
            note = why;

            if (report != NULL) {
                if (report->skipped++ > 0) {
                    continue;
                }

                note = report->first;
            }

            kid = json_is_object(jwk) ? json_object_get(jwk, "kid") : NULL;

            if (json_is_string(kid)) {
                microshop_err(note, report ? sizeof(report->first) : whylen,
                              "keys[%zu] (kid \"%.64s\"): %s", i,
                              json_string_value(kid), kwhy);
            } else {
                microshop_err(note, report ? sizeof(report->first) : whylen,
                              "keys[%zu]: %s", i, kwhy);
            }

            if (report != NULL) {
                continue;
            }

            goto failed;
        }

        added += (size_t) rc;

        if (max && added > max) {
            microshop_err(why, whylen, "more than %zu signature keys", max);
            goto failed;
        }
    }

    if (added == 0) {
        if (report != NULL && report->skipped) {
            microshop_err(why, whylen, "no usable signature key (%s)",
                          report->first);
        } else {
            microshop_err(why, whylen, "no signature key in the JWKS");
        }

        goto failed;
    }

    json_decref(doc);

    return 0;

failed:

    json_decref(doc);

    return -1;
}


int
microshop_keyset_add_jwks_file(microshop_keyset_t *ks, const char *path,
    char *err, size_t errlen)
{
    char            why[256];
    size_t          len, n0;
    unsigned char  *data;

    if (ks == NULL || path == NULL) {
        microshop_err(err, errlen, "no JWKS file");
        return -1;
    }

    n0 = ks->nkeys;
    data = NULL;
    len = 0;
    why[0] = '\0';

    if (microshop_read_file(path, &data, &len, why, sizeof(why)) != 0
        || microshop_jwks_parse(ks, (char *) data, len, path, NULL, 0, why,
                                sizeof(why))
           != 0)
    {
        microshop_keyset_truncate(ks, n0);
        microshop_free_file(data, len);
        ERR_clear_error();
        microshop_err(err, errlen, "JWKS file \"%s\": %s", path, why);
        return -1;
    }

    microshop_free_file(data, len);

    return 0;
}


int
microshop_keyset_add_jwks_remote(microshop_keyset_t *ks, const char *data,
    size_t len, const char *source, size_t max,
    microshop_jwks_report_t *report, char *err, size_t errlen)
{
    size_t  n0;

    report->skipped = 0;
    report->first[0] = '\0';

    if (ks == NULL || data == NULL || source == NULL) {
        microshop_err(err, errlen, "no JWKS document");
        return -1;
    }

    n0 = ks->nkeys;

    if (microshop_jwks_parse(ks, data, len, source, report, max, err, errlen)
        != 0)
    {
        microshop_keyset_truncate(ks, n0);
        ERR_clear_error();
        return -1;
    }

    ERR_clear_error();

    return 0;
}


json_t *
microshop_jwk_public(const microshop_key_t *key)
{
    int                          ec;
    char                        *a, *b;
    json_t                      *jwk;
    const microshop_alg_info_t  *info;

    info = microshop_alg_info(key->alg);

    if (key->pkey == NULL
        || (info->family != MICROSHOP_FAMILY_RS
            && info->family != MICROSHOP_FAMILY_ES))
    {
        return NULL;
    }

    ec = (info->family == MICROSHOP_FAMILY_ES);

    if (ec) {
        a = microshop_key_number_b64(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X,
                                     (int) info->coord_len);
        b = microshop_key_number_b64(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y,
                                     (int) info->coord_len);

    } else {
        a = microshop_key_number_b64(key->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        b = microshop_key_number_b64(key->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
    }

    jwk = NULL;

    if (a != NULL && b != NULL) {
        jwk = ec ? json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC",
                             "crv", info->crv, "x", a, "y", b)
                 : json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", a,
                             "e", b);
    }

    free(a);
    free(b);
    ERR_clear_error();

    if (jwk == NULL) {
        return NULL;
    }

    if ((key->kid != NULL
         && json_object_set_new(jwk, "kid", json_string(key->kid)) != 0)
        || json_object_set_new(jwk, "alg", json_string(info->name)) != 0
        || json_object_set_new(jwk, "use", json_string("sig")) != 0)
    {
        json_decref(jwk);
        return NULL;
    }

    return jwk;
}
