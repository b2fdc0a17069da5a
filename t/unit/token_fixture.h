/*
 * ngx_microshop -- the fixture of the token unit tests (test_token_*.c):
 * keys generated at run time, files in a temporary directory, tokens signed
 * with plain OpenSSL calls, and the expectations the tests share.
 *
 * A test group runs with cmocka_run_group_tests(tests, group_setup,
 * group_teardown); every test gets the fx_t as *state.
 */

#ifndef _TOKEN_FIXTURE_H_INCLUDED_
#define _TOKEN_FIXTURE_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "microshop_token_keys.h"


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


/* files */

/* fx->dir "/" name into buf */
void fx_path(const fx_t *fx, const char *name, char *buf, size_t len);
void write_file(const char *path, const void *data, size_t len);
/* writes text to the file name in fx->dir; returns its path (buf) */
const char *fx_file(const fx_t *fx, const char *name, const char *text,
    char *buf, size_t len);
/* a malloc()ed copy of a whole file */
unsigned char *read_whole(const char *path, size_t *len);
void write_pem_pub(const char *path, EVP_PKEY *pkey);
/* pkey in the PEM form of its type ("RSA PUBLIC KEY", "EC PRIVATE KEY",
 * ...) of the OSSL_KEYMGMT selection, after the text before (or NULL) */
void write_pem_specific(const char *path, EVP_PKEY *pkey, int selection,
    const char *before);
/* the public half of pkey, as a key file would give it */
EVP_PKEY *public_of(EVP_PKEY *pkey);


/* base64url, JWKs */

/* malloc()ed, without padding */
char *b64url(const void *data, size_t len);
/* kid and alg may be NULL (member left out) */
json_t *jwk_rsa(EVP_PKEY *pkey, const char *kid, const char *alg);
/* coord: bytes x and y are padded to */
json_t *jwk_ec(EVP_PKEY *pkey, const char *crv, int coord, const char *kid,
    const char *alg);
json_t *jwk_oct(const char *secret, const char *kid, const char *alg);
/* writes {"keys":[...]} (steals the keys, a NULL json_t * ends them) */
const char *write_jwks(const fx_t *fx, const char *name, char *buf,
    size_t len, ...);


/* signing (every token is malloc()ed) */

/* "a.b.c" */
char *join3(const char *a, const char *b, const char *c);
/* HS: secret, slen; RS/ES: pkey */
char *sign_raw(const char *alg, const void *hdr, size_t hlen,
    const void *claims, size_t clen, EVP_PKEY *pkey, const void *secret,
    size_t slen);
char *sign(const char *alg, const char *hdr, const char *claims,
    EVP_PKEY *pkey);
char *sign_hs(const char *alg, const char *hdr, const char *claims,
    const char *secret);
/* ES: s of a raw R || S signature (coord bytes each) replaced by n - s */
void ec_negate_s(EVP_PKEY *pkey, unsigned char *sig, int coord);
/* an ECDSA-Sig-Value (DER, len bytes) as raw R || S, S left as it is */
void ec_raw_from_der(const unsigned char *der, size_t len, unsigned char *sig,
    int coord);
/* ES: 1 when s of a raw R || S signature is above n / 2 */
int ec_high_s(EVP_PKEY *pkey, const unsigned char *sig, int coord);
/* a token from segments given in clear text, with a given raw signature */
char *forge(const char *hdr, const char *claims, const void *sig,
    size_t siglen);


/* expectations: each one fails the test when not met */

void add_ok(microshop_keyset_t *ks, const char *path, const char *kid,
    const char *alg);
/* the message names the path and holds needle; the keyset is unchanged */
void add_fail(microshop_keyset_t *ks, const char *path, const char *kid,
    const char *alg, const char *needle);
void jwks_ok(microshop_keyset_t *ks, const char *path);
void jwks_fail(microshop_keyset_t *ks, const char *path, const char *needle);
/* tok is verified and freed; kid NULL: any key */
void expect_ok_kid(const microshop_keyset_t *ks, char *tok, const char *kid);
void expect_ok(const microshop_keyset_t *ks, char *tok);
/* tok is freed; want NULL: any reason */
void expect_fail_len(const microshop_keyset_t *ks, char *tok, size_t len,
    const char *want);
void expect_fail(const microshop_keyset_t *ks, char *tok, const char *want);
char *xdup(const char *s);


/* fixture */

int group_setup(void **state);
int group_teardown(void **state);

#endif /* _TOKEN_FIXTURE_H_INCLUDED_ */
