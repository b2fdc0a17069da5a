/*
 * ngx_microshop -- the signature check of one key, set up once (pure logic,
 * no nginx headers), see microshop_token_verifier.h.
 */

/* EC_GROUP_precompute_mult and EC_POINT_get_Jprojective_coordinates_GFp:
 * deprecated in OpenSSL 3.0, with no replacement for a table of multiples
 * of a point other than the curve's generator */
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include "microshop_token_str.h"
#include "microshop_token_verifier.h"


/* ES256 with the public key's table of multiples */
typedef struct {
    EC_GROUP       *g;            /* P-256, generator G */
    EC_GROUP       *gq;           /* P-256, generator Q (the key), a table */
    EC_POINT       *p1;
    EC_POINT       *p2;
    BN_CTX         *bn;
    BIGNUM         *n;            /* the order */
    BIGNUM         *p;            /* the field prime */
    BIGNUM         *r, *s, *e, *w, *u1, *u2, *x, *z, *t;
} microshop_es_table_t;


struct microshop_verifier_s {
    EVP_MD                *md;
    EVP_MD_CTX            *mdctx;          /* RS, ES */
    EVP_MAC               *mac;            /* HS */
    EVP_MAC_CTX           *macctx;         /* HS, keyed */
    EVP_PKEY_CTX          *pctx;           /* RS, ES: verify_init done */
    size_t                 rsa_size;       /* RS: bytes of a signature */
    size_t                 coord;          /* ES: bytes of r, of s */
    unsigned char          n[MICROSHOP_EC_COORD_MAX];     /* ES: the order */
    unsigned char          half[MICROSHOP_EC_COORD_MAX];  /* ES: n >> 1 */
    microshop_es_table_t  *table;          /* ES256, or NULL */
};


static const char *
microshop_verifier_md_name(int bits)
{
    switch (bits) {
    case 256:
        return "SHA256";
    case 384:
        return "SHA384";
    default:
        return "SHA512";
    }
}


static void
microshop_es_table_free(microshop_es_table_t *t)
{
    if (t == NULL) {
        return;
    }

    EC_POINT_free(t->p1);
    EC_POINT_free(t->p2);
    EC_GROUP_free(t->g);
    EC_GROUP_free(t->gq);
    BN_free(t->n);
    BN_free(t->p);
    BN_free(t->r);
    BN_free(t->s);
    BN_free(t->e);
    BN_free(t->w);
    BN_free(t->u1);
    BN_free(t->u2);
    BN_free(t->x);
    BN_free(t->z);
    BN_free(t->t);
    BN_CTX_free(t->bn);
    free(t);
}


/* NULL when the table cannot be made: the key is verified the usual way */
static microshop_es_table_t *
microshop_es_table_new(EVP_PKEY *pkey)
{
    size_t                 publen;
    EC_POINT              *q;
    unsigned char          pub[2 * MICROSHOP_EC_COORD_MAX + 1];
    microshop_es_table_t  *t;

    t = calloc(1, sizeof(microshop_es_table_t));
    if (t == NULL) {
        return NULL;
    }

    q = NULL;

    t->bn = BN_CTX_new();
    t->g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    t->gq = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    t->p = BN_new();
    t->r = BN_new();
    t->s = BN_new();
    t->e = BN_new();
    t->w = BN_new();
    t->u1 = BN_new();
    t->u2 = BN_new();
    t->x = BN_new();
    t->z = BN_new();
    t->t = BN_new();

    if (t->bn == NULL || t->g == NULL || t->gq == NULL || t->p == NULL
        || t->r == NULL || t->s == NULL || t->e == NULL || t->w == NULL
        || t->u1 == NULL || t->u2 == NULL || t->x == NULL || t->z == NULL
        || t->t == NULL)
    {
        goto failed;
    }

    t->n = BN_dup(EC_GROUP_get0_order(t->g));
    t->p1 = EC_POINT_new(t->g);
    t->p2 = EC_POINT_new(t->gq);
    q = EC_POINT_new(t->g);

    if (t->n == NULL || t->p1 == NULL || t->p2 == NULL || q == NULL
        || EC_GROUP_get_curve(t->g, t->p, NULL, NULL, t->bn) != 1
        || EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY,
                                           pub, sizeof(pub), &publen)
           != 1
        || EC_POINT_oct2point(t->g, q, pub, publen, t->bn) != 1
        || EC_POINT_is_at_infinity(t->g, q)
        || EC_POINT_is_on_curve(t->g, q, t->bn) != 1)
    {
        goto failed;
    }

    /* P-256 has cofactor 1: every point but the infinity has order n */

    if (EC_GROUP_set_generator(t->gq, q, t->n, BN_value_one()) != 1
        || EC_GROUP_precompute_mult(t->gq, t->bn) != 1
        || EC_GROUP_have_precompute_mult(t->gq) != 1)
    {
        goto failed;
    }

    EC_POINT_free(q);
    ERR_clear_error();

    return t;

failed:

    EC_POINT_free(q);
    microshop_es_table_free(t);
    ERR_clear_error();

    return NULL;
}


int
microshop_ec_order(EVP_PKEY *pkey, size_t coord, unsigned char *n,
    unsigned char *half)
{
    int      rc;
    BIGNUM  *bn;

    bn = NULL;

    rc = (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_ORDER, &bn) == 1
          && BN_num_bytes(bn) <= (int) coord
          && BN_bn2binpad(bn, n, (int) coord) == (int) coord
          && BN_rshift1(bn, bn) == 1
          && BN_bn2binpad(bn, half, (int) coord) == (int) coord)
         ? 0 : -1;

    BN_free(bn);

    return rc;
}


int
microshop_verifier_create(microshop_key_t *key, char *why, size_t whylen)
{
    OSSL_PARAM                   params[2];
    const char                  *mdname;
    microshop_verifier_t        *v;
    const microshop_alg_info_t  *info;

    if ((size_t) key->alg == 0 || (size_t) key->alg >= MICROSHOP_NALGS) {
        microshop_err(why, whylen, "unknown alg");
        return -1;
    }

    info = &microshop_algs[key->alg];
    mdname = microshop_verifier_md_name(info->bits);

    v = calloc(1, sizeof(microshop_verifier_t));
    if (v == NULL) {
        microshop_err(why, whylen, "out of memory");
        return -1;
    }

    key->verifier = v;

    v->md = EVP_MD_fetch(NULL, mdname, NULL);
    if (v->md == NULL) {
        microshop_err(why, whylen, "OpenSSL has no SHA-2 digest");
        goto failed;
    }

    if (info->family == MICROSHOP_FAMILY_HS) {

        if (key->secret == NULL) {
            microshop_err(why, whylen, "the key has no secret");
            goto failed;
        }

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *) mdname, 0);
        params[1] = OSSL_PARAM_construct_end();

        v->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        v->macctx = (v->mac != NULL) ? EVP_MAC_CTX_new(v->mac) : NULL;

        if (v->macctx == NULL
            || EVP_MAC_init(v->macctx, key->secret, key->secret_len, params)
               != 1)
        {
            microshop_err(why, whylen, "OpenSSL has no HMAC");
            goto failed;
        }

        ERR_clear_error();
        return 0;
    }

    if (key->pkey == NULL) {
        microshop_err(why, whylen, "the key has no public key");
        goto failed;
    }

    v->mdctx = EVP_MD_CTX_new();
    v->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);

    if (v->mdctx == NULL || v->pctx == NULL
        || EVP_PKEY_verify_init(v->pctx) != 1
        || (info->family == MICROSHOP_FAMILY_RS
            && EVP_PKEY_CTX_set_rsa_padding(v->pctx, RSA_PKCS1_PADDING) <= 0)
        || EVP_PKEY_CTX_set_signature_md(v->pctx, v->md) <= 0)
    {
        microshop_err(why, whylen,
                               "OpenSSL cannot verify with this key");
        goto failed;
    }

    if (info->family == MICROSHOP_FAMILY_RS) {
        v->rsa_size = (size_t) EVP_PKEY_get_size(key->pkey);
        ERR_clear_error();
        return 0;
    }

    /* ES */

    v->coord = info->coord_len;

    if (microshop_ec_order(key->pkey, v->coord, v->n, v->half) != 0) {
        microshop_err(why, whylen, "the EC key has no order");
        goto failed;
    }

    if (key->alg == MICROSHOP_ALG_ES256) {
        v->table = microshop_es_table_new(key->pkey);
    }

    ERR_clear_error();
    return 0;

failed:

    microshop_verifier_free(key);
    ERR_clear_error();

    return -1;
}


void
microshop_verifier_free(microshop_key_t *key)
{
    microshop_verifier_t  *v;

    v = key->verifier;

    if (v == NULL) {
        return;
    }

    EVP_MD_free(v->md);
    EVP_MD_CTX_free(v->mdctx);
    EVP_MAC_CTX_free(v->macctx);
    EVP_MAC_free(v->mac);
    EVP_PKEY_CTX_free(v->pctx);
    microshop_es_table_free(v->table);
    free(v);

    key->verifier = NULL;
}


int
microshop_verifier_precomputed(const microshop_key_t *key)
{
    return key->verifier != NULL && key->verifier->table != NULL;
}


static int
microshop_verifier_digest(microshop_verifier_t *v, const unsigned char *data,
    size_t len, unsigned char *out, unsigned int *outlen)
{
    if (EVP_DigestInit_ex2(v->mdctx, v->md, NULL) != 1
        || EVP_DigestUpdate(v->mdctx, data, len) != 1
        || EVP_DigestFinal_ex(v->mdctx, out, outlen) != 1)
    {
        return -1;
    }

    return 0;
}


static int
microshop_verify_hmac(microshop_verifier_t *v,
    const microshop_alg_info_t *info, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
    int            rc;
    size_t         maclen;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    if (siglen != info->hash_len || v->macctx == NULL) {
        return -1;
    }

    /* a NULL key: the key given at creation again (RFC 2104 pads kept) */

    if (EVP_MAC_init(v->macctx, NULL, 0, NULL) != 1
        || EVP_MAC_update(v->macctx, data, len) != 1
        || EVP_MAC_final(v->macctx, mac, &maclen, sizeof(mac)) != 1)
    {
        return -1;
    }

    rc = (maclen == siglen && CRYPTO_memcmp(mac, sig, siglen) == 0) ? 0 : -1;

    OPENSSL_cleanse(mac, sizeof(mac));

    return rc;
}


static int
microshop_verify_rsa(microshop_verifier_t *v, const unsigned char *data,
    size_t len, const unsigned char *sig, size_t siglen)
{
    unsigned int   dlen;
    unsigned char  dg[EVP_MAX_MD_SIZE];

    if (v->pctx == NULL || siglen != v->rsa_size
        || microshop_verifier_digest(v, data, len, dg, &dlen) != 0)
    {
        return -1;
    }

    return (EVP_PKEY_verify(v->pctx, sig, siglen, dg, dlen) == 1) ? 0 : -1;
}


/* one DER INTEGER of the unsigned big-endian b (n bytes, not all zero) */
static size_t
microshop_der_int(unsigned char *p, const unsigned char *b, size_t n)
{
    size_t  pad;

    while (n > 1 && b[0] == 0) {
        b++;
        n--;
    }

    pad = (b[0] & 0x80) ? 1 : 0;

    p[0] = 0x02;
    p[1] = (unsigned char) (n + pad);       /* at most 67: the short form */
    p[2] = 0;
    memcpy(p + 2 + pad, b, n);

    return 2 + pad + n;
}


/* OpenSSL's ECDSA verification: R || S -> DER ECDSA-Sig-Value */
static int
microshop_verify_ecdsa_der(microshop_verifier_t *v, const unsigned char *dg,
    unsigned int dlen, const unsigned char *sig)
{
    size_t         rlen, slen, hdr;
    unsigned char  ints[2 * (MICROSHOP_EC_COORD_MAX + 3)];
    unsigned char  der[2 * (MICROSHOP_EC_COORD_MAX + 3) + 3];

    rlen = microshop_der_int(ints, sig, v->coord);
    slen = microshop_der_int(ints + rlen, sig + v->coord, v->coord);

    der[0] = 0x30;

    if (rlen + slen < 0x80) {
        der[1] = (unsigned char) (rlen + slen);
        hdr = 2;

    } else {
        der[1] = 0x81;
        der[2] = (unsigned char) (rlen + slen);
        hdr = 3;
    }

    memcpy(der + hdr, ints, rlen + slen);

    return (EVP_PKEY_verify(v->pctx, der, hdr + rlen + slen, dg, dlen) == 1)
           ? 0 : -1;
}


/*
 * u1 = e / s, u2 = r / s (mod n); R = u1 G + u2 Q, both from tables; valid
 * when R is not the infinity and x(R) mod n == r, that is x(R) == r or
 * r + n (x(R) < p < 2n), checked as X == x Z^2 (mod p) in Jacobian
 * coordinates.  r and s are in [1, n - 1] already.
 */
static int
microshop_verify_es_table(microshop_es_table_t *t, const unsigned char *dg,
    unsigned int dlen, const unsigned char *sig)
{
    if (BN_bin2bn(sig, 32, t->r) == NULL
        || BN_bin2bn(sig + 32, 32, t->s) == NULL
        || BN_bin2bn(dg, (int) dlen, t->e) == NULL
        || BN_mod_inverse(t->w, t->s, t->n, t->bn) == NULL
        || BN_mod_mul(t->u1, t->e, t->w, t->n, t->bn) != 1
        || BN_mod_mul(t->u2, t->r, t->w, t->n, t->bn) != 1
        || EC_POINT_mul(t->g, t->p1, t->u1, NULL, NULL, t->bn) != 1
        || EC_POINT_mul(t->gq, t->p2, t->u2, NULL, NULL, t->bn) != 1
        || EC_POINT_add(t->g, t->p1, t->p1, t->p2, t->bn) != 1)
    {
        return -1;
    }

    if (EC_POINT_is_at_infinity(t->g, t->p1)) {
        return -1;
    }

    if (EC_POINT_get_Jprojective_coordinates_GFp(t->g, t->p1, t->x, NULL,
                                                 t->z, t->bn)
           != 1
        || BN_mod_sqr(t->z, t->z, t->p, t->bn) != 1
        || BN_mod_mul(t->t, t->r, t->z, t->p, t->bn) != 1)
    {
        return -1;
    }

    if (BN_cmp(t->t, t->x) == 0) {
        return 0;
    }

    if (BN_add(t->t, t->r, t->n) != 1) {
        return -1;
    }

    if (BN_cmp(t->t, t->p) >= 0
        || BN_mod_mul(t->t, t->t, t->z, t->p, t->bn) != 1)
    {
        return -1;
    }

    return (BN_cmp(t->t, t->x) == 0) ? 0 : -1;
}


/*
 * r and s in [1, n - 1] and s <= n / 2 (n: the order of the key's curve).
 * Of the two valid signatures (r, s) and (r, n - s) of the same token only
 * the one with the low S is taken, so that nobody but the issuer can make
 * a second, different string of a token (signature malleability), unless
 * the key was configured with ecdsa_s=any for an issuer that does not
 * normalize S (docs/directives.md, microshop_jwt_key).
 */
static int
microshop_verify_ecdsa(const microshop_key_t *key, microshop_verifier_t *v,
    const unsigned char *data, size_t len, const unsigned char *sig,
    size_t siglen)
{
    size_t                i;
    unsigned int          dlen;
    unsigned char         dg[EVP_MAX_MD_SIZE];
    const unsigned char  *r, *s;

    if (siglen != 2 * v->coord || v->pctx == NULL) {
        return -1;
    }

    r = sig;
    s = sig + v->coord;

    for (i = 0; i < v->coord && r[i] == 0; i++) { /* void */ }

    if (i == v->coord) {
        return -1;
    }

    for (i = 0; i < v->coord && s[i] == 0; i++) { /* void */ }

    if (i == v->coord) {
        return -1;
    }

    /* big-endian strings of one length compare as their numbers do */

    if (memcmp(r, v->n, v->coord) >= 0 || memcmp(s, v->n, v->coord) >= 0) {
        return -1;
    }

    if (memcmp(s, v->half, v->coord) > 0 && !key->any_s) {
        return -2;
    }

    if (microshop_verifier_digest(v, data, len, dg, &dlen) != 0) {
        return -1;
    }

    if (v->table != NULL) {
        return microshop_verify_es_table(v->table, dg, dlen, sig);
    }

    return microshop_verify_ecdsa_der(v, dg, dlen, sig);
}


int
microshop_verifier_verify(const microshop_key_t *key,
    const unsigned char *data, size_t len, const unsigned char *sig,
    size_t siglen)
{
    int                          rc;
    microshop_verifier_t        *v;
    const microshop_alg_info_t  *info;

    v = key->verifier;

    if (v == NULL || (size_t) key->alg >= MICROSHOP_NALGS) {
        return -1;
    }

    info = &microshop_algs[key->alg];

    switch (info->family) {
    case MICROSHOP_FAMILY_HS:
        rc = microshop_verify_hmac(v, info, data, len, sig, siglen);
        break;
    case MICROSHOP_FAMILY_RS:
        rc = microshop_verify_rsa(v, data, len, sig, siglen);
        break;
    case MICROSHOP_FAMILY_ES:
        rc = microshop_verify_ecdsa(key, v, data, len, sig, siglen);
        break;
    default:
        rc = -1;
        break;
    }

    if (rc != 0) {
        ERR_clear_error();
    }

    return rc;
}
