/*
 * ngx_microshop -- unit tests: keys, JWS verification, claims, classes.
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
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "microshop_token_claims.h"
#include "microshop_token_jwk.h"
#include "microshop_token_jws.h"
#include "microshop_token_pem.h"
#include "microshop_scope.h"


#define NOW      1700000000
#define CLAIMS   "{\"sub\":\"u1\",\"exp\":4102444800}"

#define HS256_SECRET  "0123456789abcdef0123456789abcdef-hs256"
#define HS512_SECRET  "0123456789abcdef0123456789abcdef" \
                      "0123456789abcdef0123456789abcdef-hs512"
#define OCT_SECRET    "oct-secret-oct-secret-oct-secret-oct-secret"


typedef struct {
    char        dir[64];
    EVP_PKEY   *rsa;          /* 2048 bits */
    EVP_PKEY   *ec256;
    EVP_PKEY   *ec384;
    EVP_PKEY   *ec521;
    EVP_PKEY   *attacker;     /* P-256 */
    char        rsa_pem[128];
    char        rsa_pkcs1_pem[128];
    char        rsa_cert_pem[128];
    char        rsa_priv_pem[128];
    char        ec256_pem[128];
    char        ec384_pem[128];
    char        ec521_pem[128];
    char        ec256_priv_pem[128];
    char        hs256_secret[128];
    char        hs512_secret[128];
    char        jwks[128];
} fx_t;


/* helpers: files */

static void
fx_path(const fx_t *fx, const char *name, char *buf, size_t len)
{
    int  n;

    n = snprintf(buf, len, "%s/%s", fx->dir, name);
    assert_true(n > 0 && (size_t) n < len);
}


static void
write_file(const char *path, const void *data, size_t len)
{
    FILE  *f;

    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}


static const char *
fx_file(const fx_t *fx, const char *name, const char *text, char *buf,
    size_t len)
{
    fx_path(fx, name, buf, len);
    write_file(buf, text, strlen(text));

    return buf;
}


static unsigned char *
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


static void
write_pem_pub(const char *path, EVP_PKEY *pkey)
{
    BIO  *bio;

    bio = BIO_new_file(path, "w");
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
    BIO_free(bio);
}


static void
write_pem_pkcs1(const char *path, EVP_PKEY *pkey)
{
    BIO               *bio;
    OSSL_ENCODER_CTX  *ectx;

    bio = BIO_new_file(path, "w");
    assert_non_null(bio);
    ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_PUBLIC_KEY, "PEM",
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


/* helpers: base64url, JWKs */

static char *
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


static json_t *
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


static json_t *
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


static json_t *
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
static const char *
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


static char *
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


/* the raw signature of input with alg (HS: secret, RS/ES: pkey) */
static size_t
raw_sign(const char *alg, const char *input, EVP_PKEY *pkey,
    const void *secret, size_t slen, unsigned char *sig)
{
    int                  coord;
    size_t               len;
    unsigned int         ulen;
    EVP_MD_CTX          *ctx;
    ECDSA_SIG           *esig;
    const BIGNUM        *r, *s;
    unsigned char        der[256];
    const unsigned char *p;

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
    p = der;
    esig = d2i_ECDSA_SIG(NULL, &p, (long) len);
    assert_non_null(esig);
    ECDSA_SIG_get0(esig, &r, &s);
    assert_int_equal(BN_bn2binpad(r, sig, coord), coord);
    assert_int_equal(BN_bn2binpad(s, sig + coord, coord), coord);
    ECDSA_SIG_free(esig);

    return (size_t) (2 * coord);
}


static char *
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


static char *
sign(const char *alg, const char *hdr, const char *claims, EVP_PKEY *pkey)
{
    return sign_raw(alg, hdr, strlen(hdr), claims, strlen(claims), pkey,
                    NULL, 0);
}


static char *
sign_hs(const char *alg, const char *hdr, const char *claims,
    const char *secret)
{
    return sign_raw(alg, hdr, strlen(hdr), claims, strlen(claims), NULL,
                    secret, strlen(secret));
}


/* a token from segments given in clear text, with a given raw signature */
static char *
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

static void
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


static void
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


static void
jwks_ok(microshop_keyset_t *ks, const char *path)
{
    char  err[512];

    err[0] = '\0';

    if (microshop_keyset_add_jwks_file(ks, path, err, sizeof(err)) != 0) {
        fail_msg("add_jwks_file %s: %s", path, err);
    }
}


static void
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
static void
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


static void
expect_ok(const microshop_keyset_t *ks, char *tok)
{
    expect_ok_kid(ks, tok, NULL);
}


/* tok is freed; want NULL: any reason */
static void
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


static void
expect_fail(const microshop_keyset_t *ks, char *tok, const char *want)
{
    expect_fail_len(ks, tok, strlen(tok), want);
}


static char *
xdup(const char *s)
{
    char  *p;

    p = malloc(strlen(s) + 1);
    assert_non_null(p);
    strcpy(p, s);

    return p;
}


/* fixture */

static int
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
    write_pem_pkcs1(fx->rsa_pkcs1_pem, fx->rsa);
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


static int
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


/* tests: valid tokens */

static void
test_alg_names(void **state)
{
    assert_int_equal(microshop_alg_from_name("RS256", 5), MICROSHOP_ALG_RS256);
    assert_int_equal(microshop_alg_from_name("ES512", 5), MICROSHOP_ALG_ES512);
    assert_int_equal(microshop_alg_from_name("HS384", 5), MICROSHOP_ALG_HS384);
    assert_int_equal(microshop_alg_from_name("hs256", 5),
                     MICROSHOP_ALG_UNKNOWN);
    assert_int_equal(microshop_alg_from_name("HS2566", 6),
                     MICROSHOP_ALG_UNKNOWN);
    assert_int_equal(microshop_alg_from_name("HS25", 4),
                     MICROSHOP_ALG_UNKNOWN);
    assert_int_equal(microshop_alg_from_name("none", 4),
                     MICROSHOP_ALG_UNKNOWN);
    assert_int_equal(microshop_alg_from_name("PS256", 5),
                     MICROSHOP_ALG_UNKNOWN);
    assert_int_equal(microshop_alg_from_name(NULL, 0), MICROSHOP_ALG_UNKNOWN);
    assert_string_equal(microshop_alg_name(MICROSHOP_ALG_ES384), "ES384");
    assert_string_equal(microshop_alg_name(MICROSHOP_ALG_UNKNOWN), "unknown");
}


static void
test_valid_pem(void **state)
{
    fx_t                *fx = *state;
    microshop_keyset_t   ks;

    microshop_keyset_init(&ks);
    add_ok(&ks, fx->rsa_pem, "rsa", NULL);
    add_ok(&ks, fx->ec256_pem, NULL, NULL);
    add_ok(&ks, fx->ec384_pem, "ec384", "ES384");
    add_ok(&ks, fx->ec521_pem, NULL, NULL);
    add_ok(&ks, fx->hs256_secret, "hs", "HS256");

    assert_int_equal(ks.nkeys, 5);
    assert_int_equal(ks.keys[0].alg, MICROSHOP_ALG_RS256);
    assert_int_equal(ks.keys[1].alg, MICROSHOP_ALG_ES256);
    assert_int_equal(ks.keys[2].alg, MICROSHOP_ALG_ES384);
    assert_int_equal(ks.keys[3].alg, MICROSHOP_ALG_ES512);
    assert_int_equal(ks.keys[4].alg, MICROSHOP_ALG_HS256);
    assert_null(ks.keys[1].kid);
    assert_string_equal(ks.keys[0].source, fx->rsa_pem);
    /* "\r\n" stripped */
    assert_int_equal(ks.keys[4].secret_len, strlen(HS256_SECRET));

    /* with and without kid; kid absent: the one key of that alg */
    expect_ok_kid(&ks, sign("RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa\"}",
                            CLAIMS, fx->rsa), "rsa");
    expect_ok_kid(&ks, sign("RS256", "{\"alg\":\"RS256\"}", CLAIMS, fx->rsa),
                  "rsa");
    expect_ok(&ks, sign("ES256", "{\"alg\":\"ES256\",\"typ\":\"JWT\"}",
                        CLAIMS, fx->ec256));
    expect_ok_kid(&ks, sign("ES384", "{\"alg\":\"ES384\",\"kid\":\"ec384\"}",
                            CLAIMS, fx->ec384), "ec384");
    expect_ok(&ks, sign("ES512", "{\"alg\":\"ES512\"}", CLAIMS, fx->ec521));
    expect_ok_kid(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"}", CLAIMS,
                               HS256_SECRET), "hs");

    microshop_keyset_free(&ks);
    assert_int_equal(ks.nkeys, 0);
    assert_null(ks.keys);
}


static void
test_valid_pem_forms(void **state)
{
    fx_t                *fx = *state;
    microshop_keyset_t   ks;

    /* "BEGIN RSA PUBLIC KEY", a certificate, RS384/RS512 bound to a key */
    microshop_keyset_init(&ks);
    add_ok(&ks, fx->rsa_pkcs1_pem, "pkcs1", NULL);
    add_ok(&ks, fx->rsa_cert_pem, "cert", "RS384");
    add_ok(&ks, fx->rsa_pem, "rs512", "RS512");
    add_ok(&ks, fx->hs512_secret, "hs512", "HS512");

    expect_ok_kid(&ks, sign("RS256", "{\"alg\":\"RS256\",\"kid\":\"pkcs1\"}",
                            CLAIMS, fx->rsa), "pkcs1");
    expect_ok_kid(&ks, sign("RS384", "{\"alg\":\"RS384\",\"kid\":\"cert\"}",
                            CLAIMS, fx->rsa), "cert");
    expect_ok_kid(&ks, sign("RS512", "{\"alg\":\"RS512\"}", CLAIMS, fx->rsa),
                  "rs512");
    expect_ok_kid(&ks, sign_hs("HS512", "{\"alg\":\"HS512\"}", CLAIMS,
                               HS512_SECRET), "hs512");

    /* RS384 key, RS256 token signed by the same RSA key */
    expect_fail(&ks, sign("RS256", "{\"alg\":\"RS256\",\"kid\":\"cert\"}",
                          CLAIMS, fx->rsa), "alg not allowed for this key");

    microshop_keyset_free(&ks);
}


static void
test_valid_jwks(void **state)
{
    fx_t                *fx = *state;
    microshop_keyset_t   ks;

    microshop_keyset_init(&ks);
    jwks_ok(&ks, fx->jwks);

    /* the "enc" key is skipped */
    assert_int_equal(ks.nkeys, 4);
    assert_int_equal(ks.keys[2].alg, MICROSHOP_ALG_ES384);
    assert_string_equal(ks.keys[0].source, fx->jwks);

    expect_ok_kid(&ks, sign("RS256", "{\"alg\":\"RS256\",\"kid\":"
                            "\"rsa-jwks\"}", CLAIMS, fx->rsa), "rsa-jwks");
    expect_ok_kid(&ks, sign("ES256", "{\"alg\":\"ES256\",\"kid\":"
                            "\"ec-jwks\"}", CLAIMS, fx->ec256), "ec-jwks");
    expect_ok_kid(&ks, sign("ES384", "{\"alg\":\"ES384\",\"kid\":"
                            "\"ec384-jwks\"}", CLAIMS, fx->ec384),
                  "ec384-jwks");
    expect_ok_kid(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"kid\":"
                               "\"oct-jwks\"}", CLAIMS, OCT_SECRET),
                  "oct-jwks");

    /* kid of the RSA key, signed by the EC key */
    expect_fail(&ks, sign("ES256", "{\"alg\":\"ES256\",\"kid\":"
                          "\"rsa-jwks\"}", CLAIMS, fx->ec256),
                "alg not allowed for this key");
    expect_fail(&ks, sign("RS256", "{\"alg\":\"RS256\",\"kid\":\"enc-1\"}",
                          CLAIMS, fx->rsa), "unknown kid");

    /* a second JWKS with the same kids: duplicate kid */
    jwks_fail(&ks, fx->jwks, "duplicate kid");
    assert_int_equal(ks.nkeys, 4);

    microshop_keyset_free(&ks);
}


static void
test_typ(void **state)
{
    fx_t                *fx = *state;
    microshop_keyset_t   ks;

    microshop_keyset_init(&ks);
    add_ok(&ks, fx->hs256_secret, NULL, "HS256");

    expect_ok(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}",
                           CLAIMS, HS256_SECRET));
    expect_ok(&ks, sign_hs("HS256", "{\"typ\":\"application/at+jwt\","
                           "\"alg\":\"HS256\"}", CLAIMS, HS256_SECRET));
    expect_ok(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"typ\":\"AT+JWT\"}",
                           CLAIMS, HS256_SECRET));
    expect_ok(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"typ\":\"jwt\"}",
                           CLAIMS, HS256_SECRET));
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"typ\":\"foo\"}",
                             CLAIMS, HS256_SECRET), "unsupported typ");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"typ\":\"JWS\"}",
                             CLAIMS, HS256_SECRET), "unsupported typ");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"typ\":1}",
                             CLAIMS, HS256_SECRET), "unsupported typ");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"typ\":"
                             "\"JWT\\u0000\"}", CLAIMS, HS256_SECRET),
                NULL);

    /* crit is refused, whatever it names */
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"crit\":[\"exp\"],"
                             "\"exp\":1}", CLAIMS, HS256_SECRET),
                "crit header not supported");

    microshop_keyset_free(&ks);
}


/* tests: algorithm attacks */

static void
test_alg_none(void **state)
{
    fx_t                *fx = *state;
    microshop_keyset_t   ks;
    unsigned char        sig[32];

    microshop_keyset_init(&ks);
    add_ok(&ks, fx->hs256_secret, NULL, "HS256");
    add_ok(&ks, fx->rsa_pem, NULL, NULL);

    memset(sig, 0x41, sizeof(sig));

    expect_fail(&ks, forge("{\"alg\":\"none\"}", CLAIMS, sig, sizeof(sig)),
                "alg none not allowed");
    expect_fail(&ks, forge("{\"alg\":\"None\"}", CLAIMS, sig, sizeof(sig)),
                "alg none not allowed");
    expect_fail(&ks, forge("{\"alg\":\"NONE\"}", CLAIMS, sig, sizeof(sig)),
                "alg none not allowed");
    expect_fail(&ks, forge("{\"alg\":\"nOnE\",\"typ\":\"JWT\"}", CLAIMS, sig,
                           sizeof(sig)), "alg none not allowed");
    /* the classic form: empty signature */
    expect_fail(&ks, forge("{\"alg\":\"none\"}", CLAIMS, "", 0), NULL);

    /* alg missing, wrong type, unknown */
    expect_fail(&ks, forge("{\"typ\":\"JWT\"}", CLAIMS, sig, sizeof(sig)),
                "alg missing");
    expect_fail(&ks, forge("{\"alg\":null}", CLAIMS, sig, sizeof(sig)),
                "alg missing");
    expect_fail(&ks, forge("{\"alg\":[\"HS256\"]}", CLAIMS, sig, sizeof(sig)),
                "alg missing");
    expect_fail(&ks, forge("{\"alg\":\"PS256\"}", CLAIMS, sig, sizeof(sig)),
                "unsupported alg");
    expect_fail(&ks, forge("{\"alg\":\"hs256\"}", CLAIMS, sig, sizeof(sig)),
                "unsupported alg");
    expect_fail(&ks, forge("{\"alg\":\"HS256\\u0000\"}", CLAIMS, sig,
                           sizeof(sig)), NULL);

    microshop_keyset_free(&ks);
}


static void
test_key_confusion(void **state)
{
    fx_t                *fx = *state;
    char                *tok;
    size_t               len;
    const char          *hdr;
    unsigned char       *pem;
    microshop_keyset_t   ks;

    microshop_keyset_init(&ks);
    add_ok(&ks, fx->rsa_pem, "rsa1", NULL);

    /* HS256 with the RSA public key PEM bytes as the HMAC secret */
    pem = read_whole(fx->rsa_pem, &len);

    hdr = "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}";
    tok = sign_raw("HS256", hdr, strlen(hdr), CLAIMS, strlen(CLAIMS), NULL,
                   pem, len);
    expect_fail(&ks, tok, "alg not allowed for this key");

    hdr = "{\"alg\":\"HS256\"}";
    tok = sign_raw("HS256", hdr, strlen(hdr), CLAIMS, strlen(CLAIMS), NULL,
                   pem, len);
    expect_fail(&ks, tok, "no key for this alg");

    free(pem);

    /* and the PEM can never become an HS key */
    add_fail(&ks, fx->rsa_pem, "rsa-as-hs", "HS256", "key confusion");

    microshop_keyset_free(&ks);

    /* HS512 token against an HS256 key (the secret would be long enough) */
    microshop_keyset_init(&ks);
    add_ok(&ks, fx->hs512_secret, "h", "HS256");

    expect_ok(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"}", CLAIMS,
                           HS512_SECRET));
    expect_fail(&ks, sign_hs("HS512", "{\"alg\":\"HS512\"}", CLAIMS,
                             HS512_SECRET), "no key for this alg");
    expect_fail(&ks, sign_hs("HS512", "{\"alg\":\"HS512\",\"kid\":\"h\"}",
                             CLAIMS, HS512_SECRET),
                "alg not allowed for this key");
    expect_fail(&ks, sign_hs("HS384", "{\"alg\":\"HS384\",\"kid\":\"h\"}",
                             CLAIMS, HS512_SECRET),
                "alg not allowed for this key");

    microshop_keyset_free(&ks);
}


static void
test_kid_selection(void **state)
{
    fx_t                *fx = *state;
    microshop_keyset_t   ks;

    microshop_keyset_init(&ks);
    add_ok(&ks, fx->hs256_secret, "a", "HS256");
    add_ok(&ks, fx->hs512_secret, "b", "HS256");
    add_ok(&ks, fx->ec256_pem, "e", NULL);

    /* two HS256 keys and no kid: refused, no trying both */
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"}", CLAIMS,
                             HS256_SECRET), "kid required");
    expect_ok_kid(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"kid\":\"a\"}",
                               CLAIMS, HS256_SECRET), "a");
    expect_ok_kid(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"kid\":\"b\"}",
                               CLAIMS, HS512_SECRET), "b");

    /* the kid names the other key: no fallback */
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"kid\":\"b\"}",
                             CLAIMS, HS256_SECRET), "invalid signature");

    /* one ES256 key: used without kid even though it has one */
    expect_ok_kid(&ks, sign("ES256", "{\"alg\":\"ES256\"}", CLAIMS,
                            fx->ec256), "e");

    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"kid\":\"zz\"}",
                             CLAIMS, HS256_SECRET), "unknown kid");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"kid\":\"\"}",
                             CLAIMS, HS256_SECRET), "unknown kid");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"kid\":"
                             "\"a\\u0000\"}", CLAIMS, HS256_SECRET),
                "invalid token header");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"kid\":1}",
                             CLAIMS, HS256_SECRET), "invalid kid");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"kid\":null}",
                             CLAIMS, HS256_SECRET), "invalid kid");

    microshop_keyset_free(&ks);

    /* an empty keyset */
    microshop_keyset_init(&ks);
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"}", CLAIMS,
                             HS256_SECRET), "no key for this alg");
    microshop_keyset_free(&ks);
}


static void
test_embedded_jwk_ignored(void **state)
{
    fx_t                *fx = *state;
    char                *hdr, *jwk_s, *tok;
    json_t              *jwk;
    microshop_keyset_t   ks;

    microshop_keyset_init(&ks);
    add_ok(&ks, fx->ec256_pem, NULL, NULL);

    jwk = jwk_ec(fx->attacker, "P-256", 32, NULL, NULL);
    jwk_s = json_dumps(jwk, JSON_COMPACT);
    json_decref(jwk);
    assert_non_null(jwk_s);

    hdr = malloc(strlen(jwk_s) + 256);
    assert_non_null(hdr);
    sprintf(hdr, "{\"alg\":\"ES256\",\"jwk\":%s,\"jku\":\"https://evil/"
            "jwks\",\"x5u\":\"https://evil/c\",\"x5c\":[\"AAAA\"],"
            "\"x5t\":\"AAAA\"}", jwk_s);

    /* signed by the attacker: the embedded key is not used */
    expect_fail(&ks, sign("ES256", hdr, CLAIMS, fx->attacker),
                "invalid signature");

    /* signed by the configured key: the headers are just ignored */
    expect_ok(&ks, sign("ES256", hdr, CLAIMS, fx->ec256));

    /* the attacker's key with a kid that is not configured */
    sprintf(hdr, "{\"alg\":\"ES256\",\"kid\":\"attacker\",\"jwk\":%s}",
            jwk_s);
    expect_fail(&ks, sign("ES256", hdr, CLAIMS, fx->attacker),
                "unknown kid");

    free(hdr);
    free(jwk_s);

    /* an ES256 token signed with another P-256 key: refused */
    tok = sign("ES256", "{\"alg\":\"ES256\"}", CLAIMS, fx->attacker);
    expect_fail(&ks, tok, "invalid signature");

    microshop_keyset_free(&ks);
}


/* tests: signatures and encoding */

static void
test_tampering(void **state)
{
    fx_t                *fx = *state;
    char                *tok, *dot, *other, *t2;
    size_t               n;
    microshop_keyset_t   ks;
    unsigned char        zero[132];

    microshop_keyset_init(&ks);
    add_ok(&ks, fx->rsa_pem, NULL, NULL);
    add_ok(&ks, fx->ec256_pem, NULL, NULL);
    add_ok(&ks, fx->ec521_pem, NULL, NULL);
    add_ok(&ks, fx->hs256_secret, NULL, "HS256");

    /* payload of another token, signature of the first */
    tok = sign("RS256", "{\"alg\":\"RS256\"}", CLAIMS, fx->rsa);
    other = b64url("{\"sub\":\"admin\",\"exp\":4102444800}",
                   strlen("{\"sub\":\"admin\",\"exp\":4102444800}"));
    dot = strchr(tok, '.');
    t2 = malloc(strlen(tok) + strlen(other) + 1);
    assert_non_null(t2);
    n = (size_t) (dot - tok) + 1;
    memcpy(t2, tok, n);
    strcpy(t2 + n, other);
    strcat(t2, strrchr(tok, '.'));
    expect_fail(&ks, t2, "invalid signature");
    free(other);

    /* one bit of the signature flipped */
    t2 = xdup(tok);
    n = strlen(t2);
    t2[n - 5] = t2[n - 5] == 'A' ? 'B' : 'A';
    expect_fail(&ks, t2, "invalid signature");

    /* stripped signature: "h.p." and "h.p" */
    t2 = xdup(tok);
    strrchr(t2, '.')[1] = '\0';
    expect_fail(&ks, t2, "signature missing");
    t2 = xdup(tok);
    strrchr(t2, '.')[0] = '\0';
    expect_fail(&ks, t2, "malformed token");

    /* signature truncated (by 4 characters: non-canonical, or by 3) */
    t2 = xdup(tok);
    t2[strlen(t2) - 4] = '\0';
    expect_fail(&ks, t2, NULL);
    t2 = xdup(tok);
    t2[strlen(t2) - 3] = '\0';
    expect_fail(&ks, t2, NULL);

    free(tok);

    /* ES256: zero signature, zero R or S, DER instead of raw, wrong length */
    memset(zero, 0, sizeof(zero));
    expect_fail(&ks, forge("{\"alg\":\"ES256\"}", CLAIMS, zero, 64),
                "invalid signature");
    expect_fail(&ks, forge("{\"alg\":\"ES512\"}", CLAIMS, zero, 132),
                "invalid signature");

    tok = sign("ES256", "{\"alg\":\"ES256\"}", CLAIMS, fx->ec256);
    expect_ok(&ks, xdup(tok));
    t2 = xdup(tok);
    {
        /* keep R, zero S */
        char           *sig64 = strrchr(t2, '.') + 1;
        char           *s2;
        unsigned char   raw[64];

        memset(raw, 0xff, 32);
        memset(raw + 32, 0, 32);
        s2 = b64url(raw, 64);
        strcpy(sig64, s2);
        free(s2);
    }
    expect_fail(&ks, t2, "invalid signature");
    free(tok);

    {
        /* a DER signature in place of R || S */
        char           *h, *c, *in, *s64;
        size_t          len;
        EVP_MD_CTX     *ctx;
        unsigned char   der[80];

        h = b64url("{\"alg\":\"ES256\"}", 15);
        c = b64url(CLAIMS, strlen(CLAIMS));
        in = malloc(strlen(h) + strlen(c) + 2);
        assert_non_null(in);
        sprintf(in, "%s.%s", h, c);

        ctx = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
                                            fx->ec256), 1);
        len = sizeof(der);
        assert_int_equal(EVP_DigestSign(ctx, der, &len,
                                        (unsigned char *) in, strlen(in)),
                         1);
        EVP_MD_CTX_free(ctx);

        s64 = b64url(der, len);
        t2 = join3(h, c, s64);
        expect_fail(&ks, t2, "invalid signature");
        free(h);
        free(c);
        free(in);
        free(s64);
    }

    /* HS256: signature with a wrong length */
    expect_fail(&ks, forge("{\"alg\":\"HS256\"}", CLAIMS, zero, 31),
                "invalid signature");

    /* non-canonical base64url: unused low bits of the last character set */
    tok = sign_hs("HS256", "{\"alg\":\"HS256\"}", CLAIMS, HS256_SECRET);
    expect_ok(&ks, xdup(tok));
    n = strlen(tok);
    /* 32 bytes -> 43 characters: the last one carries 2 unused bits */
    assert_int_equal(strlen(strrchr(tok, '.') + 1), 43);
    {
        static const char  abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz0123456789-_";
        const char        *p;

        p = strchr(abc, tok[n - 1]);
        assert_non_null(p);
        assert_int_equal((p - abc) & 3, 0);
        tok[n - 1] = abc[(p - abc) | 1];
    }
    expect_fail(&ks, tok, "malformed token");

    microshop_keyset_free(&ks);
}


static void
test_garbage(void **state)
{
    fx_t                *fx = *state;
    char                *tok, *t2, *big;
    size_t               i, n;
    microshop_keyset_t   ks;

    static const char   *bad[] = {
        "", ".", "..", "...", "a.b", "a.b.c.d", "a..c", ".b.c",
        "eyJhbGciOiJIUzI1NiJ9.e30.", "a b.c.d", "a.b.c=",
        "eyJhbGciOiJIUzI1NiJ9.e30=.AAAA", "eyJhbGciOiJIUzI1NiJ9.e3+.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.e3/.AAAA", "eyJhbGciOiJIUzI1NiJ9.e30.AAAAA",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.AAAA", "\xff\xfe.\x01.\x02",
    };

    microshop_keyset_init(&ks);
    add_ok(&ks, fx->hs256_secret, NULL, "HS256");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_fail(&ks, xdup(bad[i]), NULL);
    }

    /* NULL token, NULL keyset, embedded NUL within len */
    {
        const char       *reason = NULL;
        microshop_jwt_t   jwt;

        assert_int_equal(microshop_jwt_verify(&ks, NULL, 0, &jwt, &reason),
                         -1);
        assert_non_null(reason);
        assert_int_equal(microshop_jwt_verify(NULL, "a.b.c", 5, &jwt,
                                              &reason), -1);
    }

    tok = sign_hs("HS256", "{\"alg\":\"HS256\"}", CLAIMS, HS256_SECRET);
    n = strlen(tok);
    t2 = malloc(n + 2);
    assert_non_null(t2);
    memcpy(t2, tok, n + 1);
    t2[n] = '\0';
    expect_fail_len(&ks, t2, n + 1, "malformed token");

    /* only len bytes are read: a valid token followed by junk */
    t2 = malloc(n + 8);
    assert_non_null(t2);
    memcpy(t2, tok, n);
    memcpy(t2 + n, ".junk!!", 8);
    {
        const char       *reason = NULL;
        microshop_jwt_t   jwt;

        assert_int_equal(microshop_jwt_verify(&ks, t2, n, &jwt, &reason), 0);
        microshop_jwt_release(&jwt);
        microshop_jwt_release(&jwt);
    }
    free(t2);
    free(tok);

    /* header and payload that are not JSON objects */
    expect_fail(&ks, sign_hs("HS256", "[\"alg\",\"HS256\"]", CLAIMS,
                             HS256_SECRET), "invalid token header");
    expect_fail(&ks, sign_hs("HS256", "\"HS256\"", CLAIMS, HS256_SECRET),
                "invalid token header");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"} x", CLAIMS,
                             HS256_SECRET), "invalid token header");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"}", "[1]",
                             HS256_SECRET), "invalid token claims");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"}", "42",
                             HS256_SECRET), "invalid token claims");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"}", "{\"exp\":1",
                             HS256_SECRET), "invalid token claims");

    /* a 16 KB token, an 8193-byte one: refused before anything else */
    big = malloc(16384 + 64);
    assert_non_null(big);
    strcpy(big, "{\"exp\":4102444800,\"pad\":\"");
    n = strlen(big);
    memset(big + n, 'x', 12000);
    strcpy(big + n + 12000, "\"}");
    tok = sign_hs("HS256", "{\"alg\":\"HS256\"}", big, HS256_SECRET);
    assert_true(strlen(tok) > 16000);
    expect_fail(&ks, tok, "token too large");

    memset(big, 'A', 8193);
    expect_fail_len(&ks, big, 8193, "token too large");

    /* a large token just under the limit is fine */
    big = malloc(6000 + 64);
    assert_non_null(big);
    strcpy(big, "{\"exp\":4102444800,\"pad\":\"");
    n = strlen(big);
    memset(big + n, 'x', 6000);
    strcpy(big + n + 6000, "\"}");
    tok = sign_hs("HS256", "{\"alg\":\"HS256\"}", big, HS256_SECRET);
    assert_true(strlen(tok) <= MICROSHOP_JWT_MAX_LEN);
    expect_ok(&ks, tok);
    free(big);

    microshop_keyset_free(&ks);
}


static void
test_strict_json(void **state)
{
    fx_t                *fx = *state;
    microshop_keyset_t   ks;
    static const char    bad_utf8[] =
                             "{\"sub\":\"\xff\xfe\",\"exp\":4102444800}";
    static const char    overlong[] =
                             "{\"sub\":\"\xc0\xaf\",\"exp\":4102444800}";
    static const char    bad_hdr[] =
                             "{\"alg\":\"HS256\",\"x\":\"\xed\xa0\x80\"}";

    microshop_keyset_init(&ks);
    add_ok(&ks, fx->hs256_secret, NULL, "HS256");

    /* duplicate header member: refused even when both are equal */
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
                             CLAIMS, HS256_SECRET), "invalid token header");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\",\"kid\":\"a\","
                             "\"kid\":\"b\"}", CLAIMS, HS256_SECRET),
                "invalid token header");

    /* duplicate claim, also nested */
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"}",
                             "{\"sub\":\"a\",\"exp\":4102444800,\"sub\":"
                             "\"admin\"}", HS256_SECRET),
                "invalid token claims");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"}",
                             "{\"exp\":4102444800,\"x\":{\"a\":1,\"a\":2}}",
                             HS256_SECRET), "invalid token claims");

    /* non-UTF-8, overlong UTF-8, surrogates */
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"}", bad_utf8,
                             HS256_SECRET), "invalid token claims");
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"}", overlong,
                             HS256_SECRET), "invalid token claims");
    expect_fail(&ks, sign_hs("HS256", bad_hdr, CLAIMS, HS256_SECRET),
                "invalid token header");

    /* NUL escapes are refused by jansson without JSON_ALLOW_NUL */
    expect_fail(&ks, sign_hs("HS256", "{\"alg\":\"HS256\"}",
                             "{\"sub\":\"a\\u0000b\",\"exp\":4102444800}",
                             HS256_SECRET), "invalid token claims");

    microshop_keyset_free(&ks);
}


/* tests: key files */

static void
test_key_file_errors(void **state)
{
    fx_t                *fx = *state;
    char                 path[256], path2[256];
    char                 err[512];
    EVP_PKEY            *small;
    microshop_keyset_t   ks;

    microshop_keyset_init(&ks);

    add_fail(&ks, fx->rsa_priv_pem, NULL, NULL, "private key");
    add_fail(&ks, fx->ec256_priv_pem, NULL, "ES256", "private key");
    add_fail(&ks, fx->rsa_priv_pem, NULL, "HS256", "key confusion");
    add_fail(&ks, fx->ec256_pem, NULL, "HS256", "key confusion");
    add_fail(&ks, fx->rsa_pem, NULL, "HS512", "key confusion");

    add_fail(&ks, fx_file(fx, "short.secret", "0123456789abcdef0123456789abcde"
                          "\n", path, sizeof(path)), NULL, "HS256",
             "too short");
    /* 32 bytes: fine for HS256, too short for HS384 and HS512 */
    fx_file(fx, "s32.secret", "0123456789abcdef0123456789abcdef", path,
            sizeof(path));
    add_fail(&ks, path, NULL, "HS384", "too short");
    add_fail(&ks, path, NULL, "HS512", "too short");
    add_fail(&ks, fx_file(fx, "crlf.secret", "\r\n\r\n", path, sizeof(path)),
             NULL, "HS256", "too short");
    /* a secret without alg */
    add_fail(&ks, fx->hs256_secret, NULL, NULL, "not a PEM public key");
    /* PEM marker anywhere in a secret */
    add_fail(&ks, fx_file(fx, "pemish.secret", "0123456789abcdef0123456789ab"
                          "cdef -----BEGIN", path, sizeof(path)), NULL,
             "HS256", "key confusion");

    add_fail(&ks, fx->rsa_pem, NULL, "ES256", "does not fit an RSA key");
    add_fail(&ks, fx->ec256_pem, NULL, "RS256", "does not fit an EC key");
    add_fail(&ks, fx->ec256_pem, NULL, "ES384", "needs an EC P-384 key");
    add_fail(&ks, fx->ec521_pem, NULL, "ES256", "needs an EC P-256 key");
    add_fail(&ks, fx->rsa_pem, NULL, "PS256", "unsupported alg");
    add_fail(&ks, fx->rsa_pem, NULL, "none", "unsupported alg");
    add_fail(&ks, fx->rsa_pem, NULL, "rs256", "unsupported alg");
    add_fail(&ks, fx->rsa_pem, "", NULL, "empty kid");

    fx_path(fx, "does-not-exist.pem", path, sizeof(path));
    add_fail(&ks, path, NULL, NULL, "cannot open");
    add_fail(&ks, fx->dir, NULL, NULL, "cannot read");

    add_fail(&ks, fx_file(fx, "junk.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n"
                          "-----END PUBLIC KEY-----\n", path, sizeof(path)),
             NULL, NULL, "no PEM public key");
    add_fail(&ks, fx_file(fx, "empty.pem", "", path, sizeof(path)), NULL,
             NULL, "not a PEM public key");

    /* two public keys in one file */
    {
        size_t          l1, l2;
        unsigned char  *a, *b, *both;

        a = read_whole(fx->rsa_pem, &l1);
        b = read_whole(fx->ec256_pem, &l2);
        both = malloc(l1 + l2);
        assert_non_null(both);
        memcpy(both, a, l1);
        memcpy(both + l1, b, l2);
        fx_path(fx, "two.pem", path, sizeof(path));
        write_file(path, both, l1 + l2);
        add_fail(&ks, path, NULL, NULL, "PEM blocks");
        free(a);
        free(b);
        free(both);
    }

    /* RSA below 2048 bits */
    small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    assert_non_null(small);
    fx_path(fx, "rsa1024.pem", path2, sizeof(path2));
    write_pem_pub(path2, small);
    add_fail(&ks, path2, NULL, NULL, "too small");
    EVP_PKEY_free(small);

    /* an Ed25519 key */
    small = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(small);
    fx_path(fx, "ed25519.pem", path2, sizeof(path2));
    write_pem_pub(path2, small);
    add_fail(&ks, path2, NULL, NULL, "unsupported key type");
    EVP_PKEY_free(small);

    /* an EC curve that is not P-256/384/521 */
    small = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    assert_non_null(small);
    fx_path(fx, "k1.pem", path2, sizeof(path2));
    write_pem_pub(path2, small);
    add_fail(&ks, path2, NULL, NULL, "not supported");
    add_fail(&ks, path2, NULL, "ES256", "needs an EC P-256 key");
    EVP_PKEY_free(small);

    assert_int_equal(ks.nkeys, 0);

    /* duplicate kid */
    add_ok(&ks, fx->rsa_pem, "k", NULL);
    add_fail(&ks, fx->ec256_pem, "k", NULL, "duplicate kid");
    add_fail(&ks, fx->hs256_secret, "k", "HS256", "duplicate kid");
    /* no kid twice is fine (then a kid is needed to tell them apart) */
    add_ok(&ks, fx->ec256_pem, NULL, NULL);
    add_ok(&ks, fx->ec256_pem, NULL, NULL);
    assert_int_equal(ks.nkeys, 3);
    expect_fail(&ks, sign("ES256", "{\"alg\":\"ES256\"}", CLAIMS, fx->ec256),
                "kid required");

    /* err may be small or NULL */
    assert_int_equal(microshop_keyset_add_file(&ks, fx->rsa_priv_pem, NULL,
                                               NULL, err, 8), -1);
    assert_int_equal(strlen(err), 7);
    assert_int_equal(microshop_keyset_add_file(&ks, fx->rsa_priv_pem, NULL,
                                               NULL, NULL, 0), -1);

    microshop_keyset_free(&ks);
    /* free twice: an empty set */
    microshop_keyset_free(&ks);
}


static void
test_jwks_errors(void **state)
{
    fx_t                *fx = *state;
    char                 path[256];
    json_t              *k;
    microshop_keyset_t   ks;

    microshop_keyset_init(&ks);

    /* private members */
    k = jwk_rsa(fx->rsa, "r", "RS256");
    json_object_set_new(k, "d", json_string("AQAB"));
    jwks_fail(&ks, write_jwks(fx, "d.json", path, sizeof(path), k,
                              (json_t *) NULL), "private member \"d\"");

    k = jwk_ec(fx->ec256, "P-256", 32, "e", NULL);
    json_object_set_new(k, "d", json_string("AQAB"));
    jwks_fail(&ks, write_jwks(fx, "ecd.json", path, sizeof(path), k,
                              (json_t *) NULL), "private member \"d\"");

    k = jwk_rsa(fx->rsa, "r", "RS256");
    json_object_set_new(k, "qi", json_string("AQAB"));
    jwks_fail(&ks, write_jwks(fx, "qi.json", path, sizeof(path), k,
                              (json_t *) NULL), "private member \"qi\"");

    /* alg required for RSA and oct */
    jwks_fail(&ks, write_jwks(fx, "octnoalg.json", path, sizeof(path),
                              jwk_oct(OCT_SECRET, "o", NULL),
                              (json_t *) NULL), "without \"alg\"");
    jwks_fail(&ks, write_jwks(fx, "rsanoalg.json", path, sizeof(path),
                              jwk_rsa(fx->rsa, "r", NULL),
                              (json_t *) NULL), "without \"alg\"");

    /* alg that does not fit the key */
    jwks_fail(&ks, write_jwks(fx, "rsaes.json", path, sizeof(path),
                              jwk_rsa(fx->rsa, "r", "ES256"),
                              (json_t *) NULL), "does not fit kty RSA");
    jwks_fail(&ks, write_jwks(fx, "octrs.json", path, sizeof(path),
                              jwk_oct(OCT_SECRET, "o", "RS256"),
                              (json_t *) NULL), "does not fit kty oct");
    jwks_fail(&ks, write_jwks(fx, "eccrv.json", path, sizeof(path),
                              jwk_ec(fx->ec256, "P-256", 32, "e", "ES384"),
                              (json_t *) NULL), "does not fit crv P-256");
    jwks_fail(&ks, write_jwks(fx, "ecps.json", path, sizeof(path),
                              jwk_rsa(fx->rsa, "r", "PS256"),
                              (json_t *) NULL), "unsupported alg");
    /* crv naming another curve than the point */
    jwks_fail(&ks, write_jwks(fx, "eccrv2.json", path, sizeof(path),
                              jwk_ec(fx->ec256, "P-384", 32, "e", NULL),
                              (json_t *) NULL), "must be 48 bytes");
    jwks_fail(&ks, write_jwks(fx, "eck1.json", path, sizeof(path),
                              jwk_ec(fx->ec256, "secp256k1", 32, "e", NULL),
                              (json_t *) NULL), "\"crv\"");

    /* a PEM public key as an oct secret */
    {
        size_t          plen;
        unsigned char  *pem;
        char           *k64;

        pem = read_whole(fx->rsa_pem, &plen);
        k64 = b64url(pem, plen);
        k = jwk_oct(OCT_SECRET, "o", "HS256");
        json_object_set_new(k, "k", json_string(k64));
        jwks_fail(&ks, write_jwks(fx, "octpem.json", path, sizeof(path), k,
                                  (json_t *) NULL), "key confusion");
        free(k64);
        free(pem);
    }

    /* short oct secret */
    jwks_fail(&ks, write_jwks(fx, "octshort.json", path, sizeof(path),
                              jwk_oct("short", "o", "HS256"),
                              (json_t *) NULL), "too short");

    /* unknown / missing kty */
    jwks_fail(&ks, fx_file(fx, "okp.json", "{\"keys\":[{\"kty\":\"OKP\","
                           "\"crv\":\"Ed25519\",\"x\":\"AAAA\"}]}",
                           path, sizeof(path)), "unsupported kty");
    jwks_fail(&ks, fx_file(fx, "nokty.json", "{\"keys\":[{\"n\":\"AQAB\"}]}",
                           path, sizeof(path)), "\"kty\"");

    /* bad base64url: padding, '+', missing */
    k = jwk_rsa(fx->rsa, "r", "RS256");
    json_object_set_new(k, "e", json_string("AQAB=="));
    jwks_fail(&ks, write_jwks(fx, "pad.json", path, sizeof(path), k,
                              (json_t *) NULL), "\"e\"");
    k = jwk_oct(OCT_SECRET, "o", "HS256");
    json_object_set_new(k, "k", json_string("ab+cdefghijklmnopqrstuvwxyz"
                                            "0123456789abcdefghijk"));
    jwks_fail(&ks, write_jwks(fx, "plus.json", path, sizeof(path), k,
                              (json_t *) NULL), "\"k\"");
    k = jwk_ec(fx->ec256, "P-256", 32, "e", NULL);
    json_object_del(k, "y");
    jwks_fail(&ks, write_jwks(fx, "noy.json", path, sizeof(path), k,
                              (json_t *) NULL), "\"y\"");

    /* EC point not on the curve (y + 1) */
    {
        char           *s;
        BIGNUM         *y;
        unsigned char   buf[32];

        y = NULL;
        assert_int_equal(EVP_PKEY_get_bn_param(fx->ec256,
                                               OSSL_PKEY_PARAM_EC_PUB_Y, &y),
                         1);
        assert_int_equal(BN_add_word(y, 1), 1);
        assert_int_equal(BN_bn2binpad(y, buf, 32), 32);
        BN_free(y);
        s = b64url(buf, 32);
        k = jwk_ec(fx->ec256, "P-256", 32, "e", NULL);
        json_object_set_new(k, "y", json_string(s));
        free(s);
        jwks_fail(&ks, write_jwks(fx, "offcurve.json", path, sizeof(path), k,
                                  (json_t *) NULL), "EC public key");
    }

    /* small RSA in a JWKS */
    {
        EVP_PKEY  *small;

        small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
        assert_non_null(small);
        jwks_fail(&ks, write_jwks(fx, "rsa1024.json", path, sizeof(path),
                                  jwk_rsa(small, "s", "RS256"),
                                  (json_t *) NULL), "too small");
        EVP_PKEY_free(small);
    }

    /* use */
    k = jwk_oct(OCT_SECRET, "o", "HS256");
    json_object_set_new(k, "use", json_string("foo"));
    jwks_fail(&ks, write_jwks(fx, "usefoo.json", path, sizeof(path), k,
                              (json_t *) NULL), "\"use\"");
    k = jwk_oct(OCT_SECRET, "o", "HS256");
    json_object_set_new(k, "use", json_string("enc"));
    jwks_fail(&ks, write_jwks(fx, "onlyenc.json", path, sizeof(path), k,
                              (json_t *) NULL), "no signature key");
    jwks_fail(&ks, fx_file(fx, "empty.json", "{\"keys\":[]}", path,
                           sizeof(path)), "no signature key");

    /* kid */
    k = jwk_oct(OCT_SECRET, NULL, "HS256");
    json_object_set_new(k, "kid", json_integer(1));
    jwks_fail(&ks, write_jwks(fx, "kidint.json", path, sizeof(path), k,
                              (json_t *) NULL), "\"kid\"");
    jwks_fail(&ks, write_jwks(fx, "kiddup.json", path, sizeof(path),
                              jwk_oct(OCT_SECRET, "same", "HS256"),
                              jwk_rsa(fx->rsa, "same", "RS256"),
                              (json_t *) NULL), "duplicate kid");

    /* not JSON, duplicate members, not a JWKS */
    jwks_fail(&ks, fx_file(fx, "dupmember.json", "{\"keys\":[{\"kty\":\"oct\","
                           "\"alg\":\"HS256\",\"alg\":\"HS256\",\"k\":\"AAAA\""
                           "}]}", path, sizeof(path)), "invalid JSON");
    jwks_fail(&ks, fx_file(fx, "dupkeys.json", "{\"keys\":[],\"keys\":[]}",
                           path, sizeof(path)), "invalid JSON");
    jwks_fail(&ks, fx_file(fx, "notjson.json", "keys", path, sizeof(path)),
              "invalid JSON");
    jwks_fail(&ks, fx_file(fx, "arr.json", "[]", path, sizeof(path)),
              "not a JWKS");
    jwks_fail(&ks, fx_file(fx, "nokeys.json", "{\"k\":[]}", path,
                           sizeof(path)), "not a JWKS");
    jwks_fail(&ks, fx_file(fx, "keyobj.json", "{\"keys\":{}}", path,
                           sizeof(path)), "not a JWKS");
    jwks_fail(&ks, fx_file(fx, "keystr.json", "{\"keys\":[\"x\"]}", path,
                           sizeof(path)), "not a JSON object");
    fx_path(fx, "missing.json", path, sizeof(path));
    jwks_fail(&ks, path, "cannot open");

    assert_int_equal(ks.nkeys, 0);

    /* all or nothing: good keys before a bad one are not kept */
    microshop_keyset_free(&ks);
    add_ok(&ks, fx->hs256_secret, "first", "HS256");
    k = jwk_rsa(fx->rsa, "r2", "RS256");
    json_object_set_new(k, "p", json_string("AQAB"));
    jwks_fail(&ks, write_jwks(fx, "partial.json", path, sizeof(path),
                              jwk_oct(OCT_SECRET, "o1", "HS256"),
                              jwk_ec(fx->ec256, "P-256", 32, "e1", NULL),
                              k, (json_t *) NULL), "keys[2] (kid \"r2\")");
    assert_int_equal(ks.nkeys, 1);
    assert_string_equal(ks.keys[0].kid, "first");
    /* a JWKS kid clashing with a configured key */
    jwks_fail(&ks, write_jwks(fx, "clash.json", path, sizeof(path),
                              jwk_oct(OCT_SECRET, "first", "HS256"),
                              (json_t *) NULL), "duplicate kid");
    assert_int_equal(ks.nkeys, 1);

    microshop_keyset_free(&ks);
}


/* tests: claims */

static int
claims_check(const char *json, const microshop_claims_policy_t *p,
    const char **reason)
{
    int           rc;
    json_t       *c;
    json_error_t  jerr;

    /* JSON_ALLOW_NUL: to see that an embedded NUL never matches */
    c = json_loads(json, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    assert_non_null(c);
    *reason = NULL;
    rc = microshop_jwt_check_claims(c, p, reason);
    json_decref(c);

    if (rc != 0) {
        assert_int_equal(rc, -1);
        assert_non_null(*reason);
    }

    return rc;
}


static void
claims_ok(const char *json, const microshop_claims_policy_t *p)
{
    const char  *reason;

    if (claims_check(json, p, &reason) != 0) {
        fail_msg("claims %s refused: %s", json, reason);
    }
}


static void
claims_fail(const char *json, const microshop_claims_policy_t *p,
    const char *want)
{
    const char  *reason;

    if (claims_check(json, p, &reason) == 0) {
        fail_msg("claims %s accepted; expected \"%s\"", json, want);
    }

    if (strcmp(reason, want) != 0) {
        fail_msg("claims %s: reason \"%s\", expected \"%s\"", json, reason,
                 want);
    }
}


static void
test_claims_time(void **state)
{
    microshop_claims_policy_t  p;

    memset(&p, 0, sizeof(p));
    p.now = NOW;
    p.leeway = 30;

    claims_ok("{\"exp\":1700003600}", &p);
    claims_fail("{\"sub\":\"u\"}", &p, "exp missing");
    claims_fail("{\"exp\":\"1700003600\"}", &p, "invalid exp");
    claims_fail("{\"exp\":null}", &p, "invalid exp");
    claims_fail("{\"exp\":true}", &p, "invalid exp");
    claims_fail("{\"exp\":[1700003600]}", &p, "invalid exp");

    /* expired beyond the leeway vs within it */
    claims_fail("{\"exp\":1699999969}", &p, "token expired");
    claims_ok("{\"exp\":1699999970}", &p);
    claims_ok("{\"exp\":1699999990}", &p);
    claims_fail("{\"exp\":1699999969.5}", &p, "token expired");
    claims_ok("{\"exp\":1699999970.0}", &p);
    claims_fail("{\"exp\":-1}", &p, "token expired");
    claims_ok("{\"exp\":9223372036854775807}", &p);

    /* nbf */
    claims_fail("{\"exp\":1700003600,\"nbf\":1700000031}", &p,
                "token not yet valid");
    claims_ok("{\"exp\":1700003600,\"nbf\":1700000030}", &p);
    claims_ok("{\"exp\":1700003600,\"nbf\":1600000000.5}", &p);
    claims_fail("{\"exp\":1700003600,\"nbf\":\"0\"}", &p, "invalid nbf");

    /* iat */
    claims_fail("{\"exp\":1700003600,\"iat\":1700000031}", &p,
                "token issued in the future");
    claims_fail("{\"exp\":1700003600,\"iat\":1700003600}", &p,
                "token issued in the future");
    claims_ok("{\"exp\":1700003600,\"iat\":1700000030}", &p);
    claims_fail("{\"exp\":1700003600,\"iat\":{}}", &p, "invalid iat");

    /* no leeway */
    p.leeway = 0;
    claims_fail("{\"exp\":1699999999}", &p, "token expired");
    claims_ok("{\"exp\":1700000000}", &p);
    claims_fail("{\"exp\":1700003600,\"nbf\":1700000001}", &p,
                "token not yet valid");

    /* a huge leeway does not overflow */
    p.leeway = INT64_MAX;
    claims_ok("{\"exp\":1}", &p);
    claims_ok("{\"exp\":1,\"nbf\":9223372036854775807}", &p);
}


static void
test_claims_iss_aud(void **state)
{
    const char                 *iss[] = { "https://a.example", "https://b" };
    const char                 *aud[] = { "api", "shop" };
    microshop_claims_policy_t   p;

    memset(&p, 0, sizeof(p));
    p.now = NOW;
    p.leeway = 30;

    /* not configured: anything goes */
    claims_ok("{\"exp\":1700003600,\"iss\":5,\"aud\":{}}", &p);

    p.issuers = iss;
    p.nissuers = 2;
    claims_ok("{\"exp\":1700003600,\"iss\":\"https://b\"}", &p);
    claims_ok("{\"exp\":1700003600,\"iss\":\"https://a.example\"}", &p);
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://c\"}", &p,
                "issuer not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://B\"}", &p,
                "issuer not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b/\"}", &p,
                "issuer not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\\u0000x\"}", &p,
                "issuer not accepted");
    claims_fail("{\"exp\":1700003600}", &p, "issuer not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":[\"https://b\"]}", &p,
                "issuer not accepted");

    p.audiences = aud;
    p.naudiences = 2;
    claims_ok("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":\"shop\"}",
              &p);
    claims_ok("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":[\"x\","
              "\"api\"]}", &p);
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":\"x\"}",
                &p, "audience not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":[\"x\","
                "\"y\"]}", &p, "audience not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":[]}", &p,
                "audience not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\"}", &p,
                "audience not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":[1,"
                "\"api\"]}", &p, "invalid aud");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":5}", &p,
                "invalid aud");

    /* checks run after exp */
    claims_fail("{\"exp\":1,\"iss\":\"https://c\"}", &p, "token expired");
}


static void
test_end_to_end(void **state)
{
    fx_t                       *fx = *state;
    int64_t                     exp;
    const char                 *reason;
    const char                 *aud[] = { "api" };
    char                        claims[256];
    char                       *tok;
    microshop_jwt_t             jwt;
    microshop_keyset_t          ks;
    microshop_claims_policy_t   p;

    microshop_keyset_init(&ks);
    add_ok(&ks, fx->rsa_pem, "k1", NULL);

    memset(&p, 0, sizeof(p));
    p.now = NOW;
    p.leeway = 30;
    p.audiences = aud;
    p.naudiences = 1;

    snprintf(claims, sizeof(claims), "{\"sub\":\"u1\",\"aud\":[\"api\"],"
             "\"iat\":%d,\"exp\":%d.75,\"scope\":\"a b\"}", NOW, NOW + 60);
    tok = sign("RS256", "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":"
               "\"k1\"}", claims, fx->rsa);

    assert_int_equal(microshop_jwt_verify(&ks, tok, strlen(tok), &jwt,
                                          &reason), 0);
    assert_ptr_equal(jwt.key, &ks.keys[0]);
    assert_int_equal(microshop_jwt_check_claims(jwt.claims, &p, &reason), 0);
    assert_int_equal(microshop_jwt_numeric_date(json_object_get(jwt.claims,
                                                                "exp"), &exp),
                     0);
    assert_int_equal(exp, NOW + 60);
    assert_string_equal(json_string_value(json_object_get(jwt.header, "typ")),
                        "at+jwt");

    p.now = NOW + 91;
    assert_int_equal(microshop_jwt_check_claims(jwt.claims, &p, &reason), -1);
    assert_string_equal(reason, "token expired");

    microshop_jwt_release(&jwt);
    free(tok);
    microshop_keyset_free(&ks);
}


static void
test_numeric_date(void **state)
{
    int64_t  v;
    json_t  *j;

    j = json_real(1.9);
    assert_int_equal(microshop_jwt_numeric_date(j, &v), 0);
    assert_int_equal(v, 1);
    json_decref(j);

    j = json_real(-1.5);
    assert_int_equal(microshop_jwt_numeric_date(j, &v), 0);
    assert_int_equal(v, -2);
    json_decref(j);

    j = json_real(1e300);
    assert_int_equal(microshop_jwt_numeric_date(j, &v), -1);
    json_decref(j);

    j = json_integer(42);
    assert_int_equal(microshop_jwt_numeric_date(j, &v), 0);
    assert_int_equal(v, 42);
    json_decref(j);

    j = json_string("42");
    assert_int_equal(microshop_jwt_numeric_date(j, &v), -1);
    json_decref(j);

    assert_int_equal(microshop_jwt_numeric_date(NULL, &v), -1);
}


/* tests: token classes */

static int
class_check(const char *json, int64_t max_ttl, const char *ceiling,
    const char *scopes, const char **reason)
{
    int           rc;
    json_t       *c;
    json_error_t  jerr;

    c = json_loads(json, 0, &jerr);
    assert_non_null(c);
    *reason = NULL;
    rc = microshop_jwt_check_class(c, max_ttl, ceiling,
                                   ceiling ? strlen(ceiling) : 0,
                                   scopes, scopes ? strlen(scopes) : 0,
                                   reason);
    json_decref(c);

    if (rc != 0) {
        assert_int_equal(rc, -1);
        assert_non_null(*reason);
    }

    return rc;
}


static void
test_class(void **state)
{
    const char  *r;
    const char  *ceil = "orders:read orders:write";

    /* lifetime: 900 s */
    assert_int_equal(class_check("{\"iat\":1700000000,\"exp\":1700000900}",
                                 900, NULL, "", &r), 0);
    assert_int_equal(class_check("{\"iat\":1700000000,\"exp\":1700000900}",
                                 899, NULL, "", &r), -1);
    assert_string_equal(r, "token lifetime exceeds its class");
    assert_int_equal(class_check("{\"iat\":1700000000.5,\"exp\":1700000900.75}",
                                 900, NULL, "", &r), -1);
    assert_int_equal(class_check("{\"iat\":1700000000.5,\"exp\":1700000900}",
                                 900, NULL, "", &r), 0);
    assert_int_equal(class_check("{\"iat\":-9223372036854775807,"
                                 "\"exp\":9223372036854775807}",
                                 2592000, NULL, "", &r), -1);
    assert_string_equal(r, "token lifetime exceeds its class");

    /* iat and exp required, numbers, in order */
    assert_int_equal(class_check("{\"exp\":1700000900}", 900, NULL, "", &r),
                     -1);
    assert_string_equal(r, "token class requires iat");
    assert_int_equal(class_check("{\"iat\":1700000000}", 900, NULL, "", &r),
                     -1);
    assert_string_equal(r, "token class requires exp");
    assert_int_equal(class_check("{\"iat\":\"1700000000\",\"exp\":1700000900}",
                                 900, NULL, "", &r), -1);
    assert_string_equal(r, "invalid iat");
    assert_int_equal(class_check("{\"iat\":1700000900,\"exp\":1700000000}",
                                 900, NULL, "", &r), -1);
    assert_string_equal(r, "token expires before it was issued");

    /* scope ceiling */
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, ceil,
                                 "orders:read", &r), 0);
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, ceil,
                                 "orders:write orders:read", &r), 0);
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, ceil, "", &r),
                     0);
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, ceil, NULL,
                                 &r), 0);
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, ceil,
                                 "orders:read microshop:admin", &r), -1);
    assert_string_equal(r, "token scopes exceed its class");
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, "",
                                 "orders:read", &r), -1);
    /* no ceiling: any scopes */
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, NULL,
                                 "microshop:admin", &r), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_valid_pem),
        cmocka_unit_test(test_valid_pem_forms),
        cmocka_unit_test(test_valid_jwks),
        cmocka_unit_test(test_typ),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_key_confusion),
        cmocka_unit_test(test_kid_selection),
        cmocka_unit_test(test_embedded_jwk_ignored),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_strict_json),
        cmocka_unit_test(test_key_file_errors),
        cmocka_unit_test(test_jwks_errors),
        cmocka_unit_test(test_claims_time),
        cmocka_unit_test(test_claims_iss_aud),
        cmocka_unit_test(test_end_to_end),
        cmocka_unit_test(test_numeric_date),
        cmocka_unit_test(test_class),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
