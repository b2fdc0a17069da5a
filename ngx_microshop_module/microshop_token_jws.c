/*
 * ngx_microshop -- compact JWS: parsing and signature verification (pure
 * logic, no nginx headers), see microshop_token_jws.h.
 */

#include <limits.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "microshop_base64url.h"
#include "microshop_token_jws.h"


/* the largest decoded segment of a token of MICROSHOP_JWT_MAX_LEN bytes */
#define MICROSHOP_JWT_SEG_MAX    (MICROSHOP_JWT_MAX_LEN / 4 * 3 + 3)


static const EVP_MD *
microshop_alg_md(const microshop_alg_info_t *info)
{
    switch (info->bits) {
    case 256:
        return EVP_sha256();
    case 384:
        return EVP_sha384();
    case 512:
        return EVP_sha512();
    default:
        return NULL;
    }
}


/* ASCII case-insensitive comparison of s (len bytes) with the C string lit */
static int
microshop_caseeq(const char *s, size_t len, const char *lit)
{
    size_t         i;
    unsigned char  a, b;

    if (strlen(lit) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        a = (unsigned char) s[i];
        b = (unsigned char) lit[i];

        if (a >= 'A' && a <= 'Z') {
            a = (unsigned char) (a - 'A' + 'a');
        }

        if (b >= 'A' && b <= 'Z') {
            b = (unsigned char) (b - 'A' + 'a');
        }

        if (a != b) {
            return 0;
        }
    }

    return 1;
}


static int
microshop_verify_hmac(const microshop_key_t *key,
    const microshop_alg_info_t *info, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
    int            rc;
    unsigned int   maclen;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    if (siglen != info->hash_len || key->secret == NULL
        || key->secret_len > INT_MAX)
    {
        return -1;
    }

    if (HMAC(microshop_alg_md(info), key->secret, (int) key->secret_len,
             data, len, mac, &maclen)
        == NULL)
    {
        return -1;
    }

    rc = (maclen == siglen && CRYPTO_memcmp(mac, sig, siglen) == 0) ? 0 : -1;

    OPENSSL_cleanse(mac, sizeof(mac));

    return rc;
}


static int
microshop_verify_pkey(const microshop_key_t *key,
    const microshop_alg_info_t *info, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
    int           rc;
    EVP_MD_CTX   *mctx;
    EVP_PKEY_CTX *pctx;

    if (key->pkey == NULL) {
        return -1;
    }

    mctx = EVP_MD_CTX_new();
    if (mctx == NULL) {
        return -1;
    }

    rc = -1;
    pctx = NULL;

    if (EVP_DigestVerifyInit(mctx, &pctx, microshop_alg_md(info), NULL,
                             key->pkey)
        != 1)
    {
        goto done;
    }

    if (info->family == MICROSHOP_FAMILY_RS
        && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
    {
        goto done;
    }

    if (EVP_DigestVerify(mctx, sig, siglen, data, len) == 1) {
        rc = 0;
    }

done:

    EVP_MD_CTX_free(mctx);

    return rc;
}


static int
microshop_verify_rsa(const microshop_key_t *key,
    const microshop_alg_info_t *info, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
    if (key->pkey == NULL || (int) siglen != EVP_PKEY_get_size(key->pkey)) {
        return -1;
    }

    return microshop_verify_pkey(key, info, data, len, sig, siglen);
}


/*
 * r and s in [1, n - 1] and s <= n / 2 (n: the order of the key's curve).
 * Of the two valid signatures (r, s) and (r, n - s) of the same token only
 * the one with the low S is taken, so that nobody but the issuer can make
 * a second, different string of a token (signature malleability), unless
 * the key was configured with ecdsa_s=any for an issuer that does not
 * normalize S (docs/directives.md, microshop_jwt_key).
 * Returns 0, -1 (out of range) or -2 (high S).
 */
static int
microshop_ecdsa_canonical(const microshop_key_t *key, const BIGNUM *r,
    const BIGNUM *s)
{
    int      rc;
    BIGNUM  *n;

    n = NULL;

    if (EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_ORDER, &n) != 1)
    {
        return -1;
    }

    if (BN_is_zero(r) || BN_is_zero(s)
        || BN_cmp(r, n) >= 0 || BN_cmp(s, n) >= 0
        || BN_rshift1(n, n) != 1)
    {
        rc = -1;

    } else {
        rc = (BN_cmp(s, n) > 0 && !key->any_s) ? -2 : 0;
    }

    BN_free(n);

    return rc;
}


/* JWS ECDSA: raw R || S (RFC 7518 3.4) -> DER ECDSA-Sig-Value */
static int
microshop_verify_ecdsa(const microshop_key_t *key,
    const microshop_alg_info_t *info, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
    int             derlen, rc;
    size_t          i;
    BIGNUM         *r, *s;
    ECDSA_SIG      *esig;
    unsigned char   der[2 * MICROSHOP_EC_COORD_MAX + 16];
    unsigned char  *p;

    if (siglen != 2 * info->coord_len || key->pkey == NULL) {
        return -1;
    }

    for (i = 0; i < siglen; i++) {
        if (sig[i] != 0) {
            break;
        }
    }

    if (i == siglen) {
        return -1;
    }

    r = BN_bin2bn(sig, (int) info->coord_len, NULL);
    s = BN_bin2bn(sig + info->coord_len, (int) info->coord_len, NULL);
    esig = ECDSA_SIG_new();

    rc = (r == NULL || s == NULL) ? -1 : microshop_ecdsa_canonical(key, r, s);

    if (rc != 0 || esig == NULL || ECDSA_SIG_set0(esig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(esig);
        return (rc != 0) ? rc : -1;
    }

    /* esig owns r and s now */

    derlen = i2d_ECDSA_SIG(esig, NULL);
    if (derlen <= 0 || (size_t) derlen > sizeof(der)) {
        ECDSA_SIG_free(esig);
        return -1;
    }

    p = der;
    derlen = i2d_ECDSA_SIG(esig, &p);
    ECDSA_SIG_free(esig);

    if (derlen <= 0) {
        return -1;
    }

    return microshop_verify_pkey(key, info, data, len, der, (size_t) derlen);
}


static int
microshop_typ_ok(json_t *typ)
{
    const char  *s;
    size_t       n;

    if (typ == NULL) {
        return 1;
    }

    if (!json_is_string(typ)) {
        return 0;
    }

    s = json_string_value(typ);
    n = json_string_length(typ);

    return microshop_caseeq(s, n, "JWT")
           || microshop_caseeq(s, n, "at+jwt")
           || microshop_caseeq(s, n, "application/at+jwt");
}


static json_t *
microshop_json_object(const unsigned char *data, size_t len)
{
    json_t        *v;
    json_error_t   jerr;

    v = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES, &jerr);

    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }

    return v;
}


int
microshop_jwt_verify(const microshop_keyset_t *ks, const char *token,
    size_t len, microshop_jwt_t *out, const char **reason)
{
    int                          rc;
    size_t                       i, ndots, d1, d2, hlen, plen, slen, n;
    json_t                      *header, *claims, *v;
    const char                  *why;
    microshop_alg_t              alg;
    const microshop_key_t       *key, *k;
    const microshop_alg_info_t  *info;
    unsigned char                hbuf[MICROSHOP_JWT_SEG_MAX];
    unsigned char                pbuf[MICROSHOP_JWT_SEG_MAX];
    unsigned char                sbuf[MICROSHOP_JWT_SEG_MAX];

    header = NULL;
    d1 = 0;
    d2 = 0;

    if (out != NULL) {
        memset(out, 0, sizeof(microshop_jwt_t));
    }

    if (len > MICROSHOP_JWT_MAX_LEN) {
        why = "token too large";
        goto failed;
    }

    if (ks == NULL || out == NULL || token == NULL || len == 0) {
        why = "malformed token";
        goto failed;
    }

    ndots = 0;

    for (i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots == 0) {
                d1 = i;
            } else {
                d2 = i;
            }

            if (++ndots > 2) {
                break;
            }
        }
    }

    if (ndots != 2) {
        why = "malformed token";
        goto failed;
    }

    hlen = d1;
    plen = d2 - d1 - 1;
    slen = len - d2 - 1;

    if (hlen == 0 || plen == 0) {
        why = "malformed token";
        goto failed;
    }

    if (slen == 0) {
        why = "signature missing";
        goto failed;
    }

    if (microshop_b64url_decode(token, hlen, hbuf, sizeof(hbuf), &hlen) != 0
        || microshop_b64url_decode(token + d1 + 1, plen, pbuf, sizeof(pbuf),
                                   &plen)
           != 0
        || microshop_b64url_decode(token + d2 + 1, slen, sbuf, sizeof(sbuf),
                                   &slen)
           != 0)
    {
        why = "malformed token";
        goto failed;
    }

    header = microshop_json_object(hbuf, hlen);
    if (header == NULL) {
        why = "invalid token header";
        goto failed;
    }

    v = json_object_get(header, "alg");
    if (!json_is_string(v)) {
        why = "alg missing";
        goto failed;
    }

    if (microshop_caseeq(json_string_value(v), json_string_length(v), "none"))
    {
        why = "alg none not allowed";
        goto failed;
    }

    alg = microshop_alg_from_name(json_string_value(v), json_string_length(v));
    if (alg == MICROSHOP_ALG_UNKNOWN) {
        why = "unsupported alg";
        goto failed;
    }

    if (!microshop_typ_ok(json_object_get(header, "typ"))) {
        why = "unsupported typ";
        goto failed;
    }

    if (json_object_get(header, "crit") != NULL) {
        why = "crit header not supported";
        goto failed;
    }

    /* "jwk", "jku", "x5u", "x5c", "x5t" never select a key: not looked at */

    key = NULL;
    v = json_object_get(header, "kid");

    if (v != NULL) {
        if (!json_is_string(v)) {
            why = "invalid kid";
            goto failed;
        }

        key = microshop_keyset_find_kid(ks, json_string_value(v),
                                        json_string_length(v));
        if (key == NULL) {
            why = "unknown kid";
            goto failed;
        }

        if (key->alg != alg) {
            why = "alg not allowed for this key";
            goto failed;
        }

    } else {
        n = 0;

        for (i = 0; i < ks->nkeys; i++) {
            k = &ks->keys[i];

            if (k->alg == alg) {
                key = k;
                n++;
            }
        }

        if (n == 0) {
            why = "no key for this alg";
            goto failed;
        }

        if (n > 1) {
            why = "kid required";
            goto failed;
        }
    }

    info = microshop_alg_info(alg);

    switch (info->family) {
    case MICROSHOP_FAMILY_HS:
        rc = microshop_verify_hmac(key, info, (const unsigned char *) token,
                                   d2, sbuf, slen);
        break;
    case MICROSHOP_FAMILY_RS:
        rc = microshop_verify_rsa(key, info, (const unsigned char *) token,
                                  d2, sbuf, slen);
        break;
    case MICROSHOP_FAMILY_ES:
        rc = microshop_verify_ecdsa(key, info, (const unsigned char *) token,
                                    d2, sbuf, slen);
        break;
    default:
        rc = -1;
        break;
    }

    if (rc != 0) {
        why = (rc == -2) ? "non-canonical ECDSA signature (high S)"
                         : "invalid signature";
        goto failed;
    }

    /* the claims are parsed only once the signature holds */

    claims = microshop_json_object(pbuf, plen);
    if (claims == NULL) {
        why = "invalid token claims";
        goto failed;
    }

    out->header = header;
    out->claims = claims;
    out->key = key;

    return 0;

failed:

    json_decref(header);
    ERR_clear_error();

    if (reason != NULL) {
        *reason = why;
    }

    return -1;
}


void
microshop_jwt_release(microshop_jwt_t *jwt)
{
    if (jwt == NULL) {
        return;
    }

    json_decref(jwt->header);
    json_decref(jwt->claims);

    jwt->header = NULL;
    jwt->claims = NULL;
    jwt->key = NULL;
}
