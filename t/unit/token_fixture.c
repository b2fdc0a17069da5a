/*
 * ngx_microshop -- the fixture of the token unit tests, see token_fixture.h.
 *
 * Keys are generated at run time; public PEMs, secrets and JWKS documents
 * are written to a temporary directory; tokens are signed here with plain
 * OpenSSL calls, independently of the code under test.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "microshop_token_jwk.h"
#include "microshop_token_jws.h"
#include "microshop_token_pem.h"
#include "token_fixture.h"


/* helpers: files */

void
fx_path(const fx_t *fx, const char *name, char *buf, size_t len)
{
    int  n;

    n = snprintf(buf, len, "%s/%s", fx->dir, name);
    assert_true(n > 0 && (size_t) n < len);
}


void
write_file(const char *path, const void *data, size_t len)
{
    FILE  *f;

    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}


const char *
fx_file(const fx_t *fx, const char *name, const char *text, char *buf,
    size_t len)
{
    fx_path(fx, name, buf, len);
    write_file(buf, text, strlen(text));

    return buf;
}


unsigned char *
read_whole(const char *path, size_t *len)
{
    FILE           *f;
    long            n;
    unsigned char  *buf;

    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    buf = malloc((size_t) n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
    fclose(f);
    *len = (size_t) n;

    return buf;
}


void
write_pem_pub(const char *path, EVP_PKEY *pkey)
{
    BIO  *bio;

    bio = BIO_new_file(path, "w");
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
    BIO_free(bio);
}


void
write_pem_specific(const char *path, EVP_PKEY *pkey, int selection,
    const char *before)
{
    BIO               *bio;
    OSSL_ENCODER_CTX  *ectx;

    bio = BIO_new_file(path, "w");
    assert_non_null(bio);

    if (before) {
        assert_true(BIO_puts(bio, before) > 0);
    }

    ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, selection, "PEM",
                                         "type-specific", NULL);
    assert_non_null(ectx);
    assert_int_equal(OSSL_ENCODER_to_bio(ectx, bio), 1);
    OSSL_ENCODER_CTX_free(ectx);
    BIO_free(bio);
}


static void
write_pem_priv(const char *path, EVP_PKEY *pkey)
{
    BIO  *bio;

    bio = BIO_new_file(path, "w");
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0,
                                              NULL, NULL), 1);
    BIO_free(bio);
}


static void
write_pem_cert(const char *path, EVP_PKEY *pkey)
{
    BIO        *bio;
    X509       *x;
    X509_NAME  *name;

    x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    assert_int_equal(X509_set_pubkey(x, pkey), 1);
    name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                         (const unsigned char *) "microshop", -1, -1, 0), 1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);

    bio = BIO_new_file(path, "w");
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, x), 1);
    BIO_free(bio);
    X509_free(x);
}


/* the public half of pkey, as a key file would give it */
EVP_PKEY *
public_of(EVP_PKEY *pkey)
{
    int                   len;
    unsigned char        *der;
    const unsigned char  *p;
    EVP_PKEY             *pub;

    der = NULL;
    len = i2d_PUBKEY(pkey, &der);
    assert_true(len > 0);
    p = der;
    pub = d2i_PUBKEY(NULL, &p, len);
    assert_non_null(pub);
    OPENSSL_free(der);

    return pub;
}


/* helpers: base64url, JWKs */

char *
b64url(const void *data, size_t len)
{
    static const char   abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "abcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t               i, n;
    uint32_t             v;
    char                *out;
    const unsigned char *p;

    p = data;
    out = malloc(len / 3 * 4 + 5);
    assert_non_null(out);
    n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
        out[n++] = abc[v >> 18 & 63];
        out[n++] = abc[v >> 12 & 63];
        out[n++] = abc[v >> 6 & 63];
        out[n++] = abc[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) p[i] << 16;
        out[n++] = abc[v >> 18 & 63];
        out[n++] = abc[v >> 12 & 63];

    } else if (len - i == 2) {
        v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8;
        out[n++] = abc[v >> 18 & 63];
        out[n++] = abc[v >> 12 & 63];
        out[n++] = abc[v >> 6 & 63];
    }

    out[n] = '\0';

    return out;
}


/* base64url of a BIGNUM parameter, padded to pad bytes (0: minimal) */
static json_t *
bn_param_b64(EVP_PKEY *pkey, const char *param, int pad)
{
    int             n;
    char           *s;
    json_t         *j;
    BIGNUM         *bn;
    unsigned char   buf[1024];

    bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);

    if (pad) {
        n = BN_bn2binpad(bn, buf, pad);
    } else {
        n = BN_bn2bin(bn, buf);
    }

    assert_true(n > 0);
    BN_free(bn);

    s = b64url(buf, (size_t) n);
    j = json_string(s);
    free(s);

    return j;
}


json_t *
jwk_rsa(EVP_PKEY *pkey, const char *kid, const char *alg)
{
    json_t  *j;

    j = json_pack("{s:s, s:o, s:o}", "kty", "RSA",
                  "n", bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0),
                  "e", bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0));
    assert_non_null(j);

    if (kid) {
        json_object_set_new(j, "kid", json_string(kid));
    }

    if (alg) {
        json_object_set_new(j, "alg", json_string(alg));
    }

    return j;
}


json_t *
jwk_ec(EVP_PKEY *pkey, const char *crv, int coord, const char *kid,
    const char *alg)
{
    json_t  *j;

    j = json_pack("{s:s, s:s, s:o, s:o}", "kty", "EC", "crv", crv,
                  "x", bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, coord),
                  "y", bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, coord));
    assert_non_null(j);

    if (kid) {
        json_object_set_new(j, "kid", json_string(kid));
    }

    if (alg) {
        json_object_set_new(j, "alg", json_string(alg));
    }

    return j;
}


json_t *
jwk_oct(const char *secret, const char *kid, const char *alg)
{
    char    *k;
    json_t  *j;

    k = b64url(secret, strlen(secret));
    j = json_pack("{s:s, s:s}", "kty", "oct", "k", k);
    free(k);
    assert_non_null(j);

    if (kid) {
        json_object_set_new(j, "kid", json_string(kid));
    }

    if (alg) {
        json_object_set_new(j, "alg", json_string(alg));
    }

    return j;
}


/* writes {"keys":[...]} (steals the keys) */
const char *
write_jwks(const fx_t *fx, const char *name, char *buf, size_t len, ...)
{
    char     *s;
    json_t   *doc, *keys, *k;
    va_list   args;

    keys = json_array();
    assert_non_null(keys);

    va_start(args, len);
    while ((k = va_arg(args, json_t *)) != NULL) {
        json_array_append_new(keys, k);
    }
    va_end(args);

    doc = json_pack("{s:o}", "keys", keys);
    assert_non_null(doc);
    s = json_dumps(doc, JSON_COMPACT);
    assert_non_null(s);
    json_decref(doc);

    fx_file(fx, name, s, buf, len);
    free(s);

    return buf;
}


/* helpers: signing */

static const EVP_MD *
md_of(const char *alg)
{
    if (strcmp(alg + 2, "256") == 0) {
        return EVP_sha256();
    }

    if (strcmp(alg + 2, "384") == 0) {
        return EVP_sha384();
    }

    return EVP_sha512();
}


char *
join3(const char *a, const char *b, const char *c)
{
    char    *s;
    size_t   n;

    n = strlen(a) + strlen(b) + strlen(c) + 3;
    s = malloc(n);
    assert_non_null(s);

    snprintf(s, n, "%s.%s.%s", a, b, c);

    return s;
}


/* the order n of pkey's curve, and s of a raw R || S signature */
static void
ec_order_and_s(EVP_PKEY *pkey, const unsigned char *sig, int coord,
    BIGNUM **n, BIGNUM **s)
{
    *n = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_ORDER,
                                           n), 1);
    *s = BN_bin2bn(sig + coord, coord, NULL);
    assert_non_null(*s);
}


/* s of a raw R || S signature (coord bytes each) replaced by n - s */
void
ec_negate_s(EVP_PKEY *pkey, unsigned char *sig, int coord)
{
    BIGNUM  *n, *s;

    ec_order_and_s(pkey, sig, coord, &n, &s);
    assert_int_equal(BN_sub(s, n, s), 1);
    assert_int_equal(BN_bn2binpad(s, sig + coord, coord), coord);
    BN_free(s);
    BN_free(n);
}


/* 1 when s of a raw R || S signature is above n / 2 */
int
ec_high_s(EVP_PKEY *pkey, const unsigned char *sig, int coord)
{
    int      high;
    BIGNUM  *n, *s;

    ec_order_and_s(pkey, sig, coord, &n, &s);
    assert_int_equal(BN_rshift1(n, n), 1);
    high = BN_cmp(s, n) > 0;
    BN_free(s);
    BN_free(n);

    return high;
}


/* an ECDSA-Sig-Value (DER) as a JWS carries it: R || S, coord bytes each */
void
ec_raw_from_der(const unsigned char *der, size_t len, unsigned char *sig,
    int coord)
{
    ECDSA_SIG            *esig;
    const BIGNUM         *r, *s;
    const unsigned char  *p;

    p = der;
    esig = d2i_ECDSA_SIG(NULL, &p, (long) len);
    assert_non_null(esig);
    ECDSA_SIG_get0(esig, &r, &s);
    assert_int_equal(BN_bn2binpad(r, sig, coord), coord);
    assert_int_equal(BN_bn2binpad(s, sig + coord, coord), coord);
    ECDSA_SIG_free(esig);
}


/* the raw signature of input with alg (HS: secret, RS/ES: pkey) */
static size_t
raw_sign(const char *alg, const char *input, EVP_PKEY *pkey,
    const void *secret, size_t slen, unsigned char *sig)
{
    int                  coord;
    size_t               len;
    unsigned int         ulen;
    EVP_MD_CTX          *ctx;
    unsigned char        der[256];

    if (alg[0] == 'H') {
        assert_non_null(HMAC(md_of(alg), secret, (int) slen,
                             (const unsigned char *) input, strlen(input),
                             sig, &ulen));
        return ulen;
    }

    ctx = EVP_MD_CTX_new();
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, md_of(alg), NULL, pkey),
                     1);
    len = sizeof(der);
    assert_int_equal(EVP_DigestSign(ctx, alg[0] == 'R' ? sig : der, &len,
                                    (const unsigned char *) input,
                                    strlen(input)), 1);
    EVP_MD_CTX_free(ctx);

    if (alg[0] == 'R') {
        return len;
    }

    /* ES: DER -> raw R || S */
    coord = strcmp(alg, "ES256") == 0 ? 32 : strcmp(alg, "ES384") == 0 ? 48
                                                                      : 66;
    ec_raw_from_der(der, len, sig, coord);

    /* the canonical (low S) form, which is what the gateway takes */
    if (ec_high_s(pkey, sig, coord)) {
        ec_negate_s(pkey, sig, coord);
    }

    return (size_t) (2 * coord);
}


char *
sign_raw(const char *alg, const void *hdr, size_t hlen, const void *claims,
    size_t clen, EVP_PKEY *pkey, const void *secret, size_t slen)
{
    char           *h, *c, *input, *sig64, *tok;
    size_t          n, siglen;
    unsigned char   sig[1024];

    h = b64url(hdr, hlen);
    c = b64url(claims, clen);

    n = strlen(h) + strlen(c) + 2;
    input = malloc(n);
    assert_non_null(input);
    snprintf(input, n, "%s.%s", h, c);

    siglen = raw_sign(alg, input, pkey, secret, slen, sig);
    sig64 = b64url(sig, siglen);

    tok = join3(h, c, sig64);

    free(h);
    free(c);
    free(input);
    free(sig64);

    return tok;
}


char *
sign(const char *alg, const char *hdr, const char *claims, EVP_PKEY *pkey)
{
    return sign_raw(alg, hdr, strlen(hdr), claims, strlen(claims), pkey,
                    NULL, 0);
}


char *
sign_hs(const char *alg, const char *hdr, const char *claims,
    const char *secret)
{
    return sign_raw(alg, hdr, strlen(hdr), claims, strlen(claims), NULL,
                    secret, strlen(secret));
}


/* a token from segments given in clear text, with a given raw signature */
char *
forge(const char *hdr, const char *claims, const void *sig, size_t siglen)
{
    char  *h, *c, *s, *tok;

    h = b64url(hdr, strlen(hdr));
    c = b64url(claims, strlen(claims));
    s = b64url(sig, siglen);
    tok = join3(h, c, s);
    free(h);
    free(c);
    free(s);

    return tok;
}


/* helpers: expectations */

void
add_ok(microshop_keyset_t *ks, const char *path, const char *kid,
    const char *alg)
{
    char  err[512];

    err[0] = '\0';

    if (microshop_keyset_add_file(ks, path, kid, alg, err, sizeof(err)) != 0)
    {
        fail_msg("add_file %s: %s", path, err);
    }
}


void
add_fail(microshop_keyset_t *ks, const char *path, const char *kid,
    const char *alg, const char *needle)
{
    int     rc;
    char    err[512];
    size_t  n;

    err[0] = '\0';
    n = ks->nkeys;

    rc = microshop_keyset_add_file(ks, path, kid, alg, err, sizeof(err));

    if (rc != -1) {
        fail_msg("add_file %s (alg %s) should fail with \"%s\"", path,
                 alg ? alg : "-", needle);
    }

    if (strstr(err, needle) == NULL || strstr(err, path) == NULL) {
        fail_msg("add_file %s: message \"%s\" lacks \"%s\" or the path",
                 path, err, needle);
    }

    assert_int_equal(ks->nkeys, n);
}


void
jwks_ok(microshop_keyset_t *ks, const char *path)
{
    char  err[512];

    err[0] = '\0';

    if (microshop_keyset_add_jwks_file(ks, path, err, sizeof(err)) != 0) {
        fail_msg("add_jwks_file %s: %s", path, err);
    }
}


void
jwks_fail(microshop_keyset_t *ks, const char *path, const char *needle)
{
    char    err[512];
    size_t  n;

    err[0] = '\0';
    n = ks->nkeys;

    if (microshop_keyset_add_jwks_file(ks, path, err, sizeof(err)) != -1) {
        fail_msg("add_jwks_file %s should fail with \"%s\"", path, needle);
    }

    if (strstr(err, needle) == NULL || strstr(err, path) == NULL) {
        fail_msg("add_jwks_file %s: message \"%s\" lacks \"%s\" or the path",
                 path, err, needle);
    }

    assert_int_equal(ks->nkeys, n);
}


/* verifies tok (and frees it); returns the kid of the key that verified */
void
expect_ok_kid(const microshop_keyset_t *ks, char *tok, const char *kid)
{
    int              rc;
    const char      *reason;
    microshop_jwt_t  jwt;

    reason = NULL;
    rc = microshop_jwt_verify(ks, tok, strlen(tok), &jwt, &reason);

    if (rc != 0) {
        free(tok);
        fail_msg("token refused: %s", reason);
    }

    free(tok);

    assert_non_null(jwt.header);
    assert_true(json_is_object(jwt.claims));
    assert_non_null(jwt.key);

    if (kid != NULL) {
        assert_non_null(jwt.key->kid);
        assert_string_equal(jwt.key->kid, kid);
    }

    microshop_jwt_release(&jwt);
    assert_null(jwt.header);
    assert_null(jwt.claims);
}


void
expect_ok(const microshop_keyset_t *ks, char *tok)
{
    expect_ok_kid(ks, tok, NULL);
}


/* tok is freed; want NULL: any reason */
void
expect_fail_len(const microshop_keyset_t *ks, char *tok, size_t len,
    const char *want)
{
    int              rc;
    const char      *reason;
    microshop_jwt_t  jwt;

    reason = NULL;
    rc = microshop_jwt_verify(ks, tok, len, &jwt, &reason);
    free(tok);

    if (rc == 0) {
        microshop_jwt_release(&jwt);
        fail_msg("token accepted; expected \"%s\"", want ? want : "refusal");
    }

    assert_int_equal(rc, -1);
    assert_non_null(reason);
    assert_null(jwt.header);
    assert_null(jwt.claims);
    assert_null(jwt.key);

    if (want != NULL && strcmp(reason, want) != 0) {
        fail_msg("reason \"%s\", expected \"%s\"", reason, want);
    }
}


void
expect_fail(const microshop_keyset_t *ks, char *tok, const char *want)
{
    expect_fail_len(ks, tok, strlen(tok), want);
}


char *
xdup(const char *s)
{
    char  *p;

    p = malloc(strlen(s) + 1);
    assert_non_null(p);
    strcpy(p, s);

    return p;
}


/* fixture */

int
group_setup(void **state)
{
    fx_t  *fx;

    fx = calloc(1, sizeof(fx_t));
    assert_non_null(fx);

    strcpy(fx->dir, "/tmp/microshop-unit-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));

    fx->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    fx->ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    fx->ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    fx->ec521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    fx->attacker = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(fx->rsa);
    assert_non_null(fx->ec256);
    assert_non_null(fx->ec384);
    assert_non_null(fx->ec521);
    assert_non_null(fx->attacker);

    fx_path(fx, "rsa.pem", fx->rsa_pem, sizeof(fx->rsa_pem));
    write_pem_pub(fx->rsa_pem, fx->rsa);
    fx_path(fx, "rsa-pkcs1.pem", fx->rsa_pkcs1_pem, sizeof(fx->rsa_pem));
    write_pem_specific(fx->rsa_pkcs1_pem, fx->rsa, EVP_PKEY_PUBLIC_KEY,
                       NULL);
    fx_path(fx, "rsa-cert.pem", fx->rsa_cert_pem, sizeof(fx->rsa_pem));
    write_pem_cert(fx->rsa_cert_pem, fx->rsa);
    fx_path(fx, "rsa-priv.pem", fx->rsa_priv_pem, sizeof(fx->rsa_pem));
    write_pem_priv(fx->rsa_priv_pem, fx->rsa);
    fx_path(fx, "ec256.pem", fx->ec256_pem, sizeof(fx->rsa_pem));
    write_pem_pub(fx->ec256_pem, fx->ec256);
    fx_path(fx, "ec384.pem", fx->ec384_pem, sizeof(fx->rsa_pem));
    write_pem_pub(fx->ec384_pem, fx->ec384);
    fx_path(fx, "ec521.pem", fx->ec521_pem, sizeof(fx->rsa_pem));
    write_pem_pub(fx->ec521_pem, fx->ec521);
    fx_path(fx, "ec256-priv.pem", fx->ec256_priv_pem, sizeof(fx->rsa_pem));
    write_pem_priv(fx->ec256_priv_pem, fx->ec256);

    /* trailing CR/LF are stripped from secret files */
    fx_file(fx, "hs256.secret", HS256_SECRET "\r\n", fx->hs256_secret,
            sizeof(fx->hs256_secret));
    fx_file(fx, "hs512.secret", HS512_SECRET "\n", fx->hs512_secret,
            sizeof(fx->hs512_secret));

    write_jwks(fx, "jwks.json", fx->jwks, sizeof(fx->jwks),
               jwk_rsa(fx->rsa, "rsa-jwks", "RS256"),
               jwk_ec(fx->ec256, "P-256", 32, "ec-jwks", "ES256"),
               jwk_ec(fx->ec384, "P-384", 48, "ec384-jwks", NULL),
               jwk_oct(OCT_SECRET, "oct-jwks", "HS256"),
               json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "use", "enc",
                         "kid", "enc-1", "n", "AQAB", "e", "AQAB"),
               (json_t *) NULL);

    *state = fx;

    return 0;
}


int
group_teardown(void **state)
{
    fx_t           *fx;
    DIR            *d;
    char            path[512];
    struct dirent  *e;

    fx = *state;

    d = opendir(fx->dir);
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }

            snprintf(path, sizeof(path), "%s/%s", fx->dir, e->d_name);
            unlink(path);
        }

        closedir(d);
    }

    rmdir(fx->dir);

    EVP_PKEY_free(fx->rsa);
    EVP_PKEY_free(fx->ec256);
    EVP_PKEY_free(fx->ec384);
    EVP_PKEY_free(fx->ec521);
    EVP_PKEY_free(fx->attacker);
    free(fx);

    return 0;
}
