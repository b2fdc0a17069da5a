/*
 * ngx_microshop -- unit tests of microshop_token_sign.c: the gateway's own
 * signatures.  Every token it makes must verify with the module's own
 * verifier (microshop_jwt_verify, which refuses a high S) and with plain
 * OpenSSL; S is always low; lengths are those of RFC 7518; keys that do
 * not fit the alg, public keys and small RSA keys are refused; private key
 * files are read in their usual forms and refused when encrypted.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "microshop_base64url.h"
#include "microshop_token_jws.h"
#include "microshop_token_keys.h"
#include "microshop_token_sign.h"
#include "token_fixture.h"


#define NTOKENS  64

#define HEADER_FMT  "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}"


/* plain OpenSSL's verdict on a JWS signature (R || S for ES): 1 valid */
static int
ossl_verify(const char *alg, EVP_PKEY *pkey, const char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
    int             ok, derlen;
    size_t          coord;
    BIGNUM         *r, *s;
    ECDSA_SIG      *esig;
    EVP_MD_CTX     *ctx;
    unsigned char  *der;
    const char     *md;

    md = (strcmp(alg + 2, "256") == 0) ? "SHA256"
         : (strcmp(alg + 2, "384") == 0) ? "SHA384" : "SHA512";

    der = NULL;
    derlen = (int) siglen;

    if (alg[0] == 'E') {
        coord = siglen / 2;
        r = BN_bin2bn(sig, (int) coord, NULL);
        s = BN_bin2bn(sig + coord, (int) coord, NULL);
        esig = ECDSA_SIG_new();
        assert_true(r && s && esig);
        assert_int_equal(ECDSA_SIG_set0(esig, r, s), 1);
        derlen = i2d_ECDSA_SIG(esig, &der);
        assert_true(derlen > 0);
        ECDSA_SIG_free(esig);
    }

    ctx = EVP_MD_CTX_new();
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL, pkey,
                                             NULL), 1);
    ok = EVP_DigestVerify(ctx, der ? der : sig, (size_t) derlen,
                          (const unsigned char *) data, len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);

    return ok;
}


static microshop_signer_t *
signer_ok(EVP_PKEY *pkey, microshop_alg_t alg)
{
    char                 why[256];
    microshop_signer_t  *s;

    why[0] = '\0';
    s = microshop_signer_create(pkey, alg, why, sizeof(why));

    if (s == NULL) {
        fail_msg("signer %s: %s", microshop_alg_name(alg), why);
    }

    assert_int_equal(microshop_signer_alg(s), alg);

    return s;
}


static void
signer_fail(EVP_PKEY *pkey, microshop_alg_t alg, const char *needle)
{
    char                 why[256];
    microshop_signer_t  *s;

    why[0] = '\0';
    s = microshop_signer_create(pkey, alg, why, sizeof(why));

    if (s != NULL) {
        microshop_signer_free(s);
        fail_msg("signer %s should fail with \"%s\"",
                 microshop_alg_name(alg), needle);
    }

    if (strstr(why, needle) == NULL) {
        fail_msg("signer %s: \"%s\" lacks \"%s\"", microshop_alg_name(alg),
                 why, needle);
    }
}


/*
 * NTOKENS tokens of alg with pkey, each with other claims: every one
 * verifies with the gateway's verifier (the public half, low S only) and
 * with OpenSSL; its header and claims are the texts given; the signature
 * has siglen bytes and, for ES, a low S.
 */
static void
mint_and_verify(EVP_PKEY *pkey, microshop_alg_t alg, size_t siglen)
{
    int                  i, n;
    char                 hdr[128], claims[128], *tok, *dot1, *dot2;
    char                 text[256];
    size_t               len, tlen, rawlen;
    const char          *reason, *name;
    unsigned char        raw[1024];
    microshop_jwt_t      jwt;
    microshop_signer_t  *s;
    microshop_keyset_t   ks;
    char                 why[256];

    name = microshop_alg_name(alg);
    s = signer_ok(pkey, alg);
    assert_int_equal(microshop_signer_len(s), siglen);

    microshop_keyset_init(&ks);
    assert_int_equal(microshop_keyset_push(&ks, "gw", alg, public_of(pkey),
                                           NULL, 0, "test", why,
                                           sizeof(why)), 0);

    n = snprintf(hdr, sizeof(hdr), HEADER_FMT, name, "gw");
    assert_true(n > 0);

    for (i = 0; i < NTOKENS; i++) {
        n = snprintf(claims, sizeof(claims),
                     "{\"sub\":\"u%d\",\"exp\":4102444800,\"n\":%d}", i,
                     i * 7919);
        assert_true(n > 0);

        len = microshop_jws_len(s, strlen(hdr), strlen(claims));
        tok = malloc(len + 1);
        assert_non_null(tok);

        /* one byte short of the NUL: refused, nothing written past it */
        assert_int_equal(microshop_jws_sign(s, hdr, strlen(hdr), claims,
                                            strlen(claims), tok, len), 0);

        tlen = microshop_jws_sign(s, hdr, strlen(hdr), claims,
                                  strlen(claims), tok, len + 1);
        assert_int_equal(tlen, len);
        assert_int_equal(strlen(tok), len);

        /* the gateway's own verifier */
        reason = NULL;
        if (microshop_jwt_verify(&ks, tok, tlen, &jwt, &reason) != 0) {
            fail_msg("%s token %d refused: %s", name, i, reason);
        }
        assert_ptr_equal(jwt.key, &ks.keys[0]);
        microshop_jwt_release(&jwt);

        /* the segments: the texts given, then the raw signature */
        dot1 = strchr(tok, '.');
        assert_non_null(dot1);
        dot2 = strchr(dot1 + 1, '.');
        assert_non_null(dot2);
        assert_null(strchr(dot2 + 1, '.'));

        assert_int_equal(microshop_b64url_decode(tok, dot1 - tok,
                             (unsigned char *) text, sizeof(text) - 1, &len),
                         0);
        text[len] = '\0';
        assert_string_equal(text, hdr);
        assert_int_equal(microshop_b64url_decode(dot1 + 1, dot2 - dot1 - 1,
                             (unsigned char *) text, sizeof(text) - 1, &len),
                         0);
        text[len] = '\0';
        assert_string_equal(text, claims);

        assert_int_equal(microshop_b64url_decode(dot2 + 1, strlen(dot2 + 1),
                                                 raw, sizeof(raw), &rawlen),
                         0);
        assert_int_equal(rawlen, siglen);

        /* plain OpenSSL over the signing input */
        assert_true(ossl_verify(name, pkey, tok, (size_t) (dot2 - tok), raw,
                                rawlen));

        if (name[0] == 'E') {
            assert_false(ec_high_s(pkey, raw, (int) (siglen / 2)));
        }

        free(tok);
    }

    microshop_keyset_free(&ks);
    microshop_signer_free(s);
}


static void
test_es256(void **state)
{
    fx_t  *fx = *state;

    mint_and_verify(fx->ec256, MICROSHOP_ALG_ES256, 64);
}


static void
test_es384(void **state)
{
    fx_t  *fx = *state;

    mint_and_verify(fx->ec384, MICROSHOP_ALG_ES384, 96);
}


static void
test_es512(void **state)
{
    fx_t  *fx = *state;

    /* P-521: 66-byte coordinates, the DER in the long length form */
    mint_and_verify(fx->ec521, MICROSHOP_ALG_ES512, 132);
}


static void
test_rs256(void **state)
{
    fx_t  *fx = *state;

    mint_and_verify(fx->rsa, MICROSHOP_ALG_RS256, 256);
}


/* the signature alone, over any bytes; the contexts are reused */
static void
test_sign_raw(void **state)
{
    fx_t                *fx = *state;

    int                  i;
    unsigned char        msg[100], sig[64];
    microshop_signer_t  *s;

    s = signer_ok(fx->ec256, MICROSHOP_ALG_ES256);

    for (i = 0; i < 16; i++) {
        memset(msg, i, sizeof(msg));
        assert_int_equal(microshop_signer_sign(s, msg, (size_t) i * 6, sig),
                         0);
        assert_true(ossl_verify("ES256", fx->ec256, (char *) msg,
                                (size_t) i * 6, sig, sizeof(sig)));
        assert_false(ossl_verify("ES256", fx->ec256, (char *) msg,
                                 (size_t) i * 6 + 1, sig, sizeof(sig)));
        assert_false(ec_high_s(fx->ec256, sig, 32));
    }

    microshop_signer_free(s);
    microshop_signer_free(NULL);
}


static void
test_refused_keys(void **state)
{
    fx_t      *fx = *state;

    EVP_PKEY  *small, *pub;

    /* a key of another type or curve than the alg */
    signer_fail(fx->ec256, MICROSHOP_ALG_ES384, "P-384");
    signer_fail(fx->ec384, MICROSHOP_ALG_ES256, "P-256");
    signer_fail(fx->ec256, MICROSHOP_ALG_RS256, "EC key");
    signer_fail(fx->rsa, MICROSHOP_ALG_ES256, "RSA key");

    /* no secret can be published; no alg at all */
    signer_fail(fx->ec256, MICROSHOP_ALG_HS256, "HMAC");
    signer_fail(fx->rsa, MICROSHOP_ALG_HS512, "HMAC");
    signer_fail(fx->ec256, MICROSHOP_ALG_UNKNOWN, "unknown alg");
    signer_fail(NULL, MICROSHOP_ALG_ES256, "no key");

    /* RSA under 2048 bits */
    small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    assert_non_null(small);
    signer_fail(small, MICROSHOP_ALG_RS256, "too small");
    EVP_PKEY_free(small);

    /* the public half only */
    pub = public_of(fx->ec256);
    signer_fail(pub, MICROSHOP_ALG_ES256, "private");
    EVP_PKEY_free(pub);

    pub = public_of(fx->rsa);
    signer_fail(pub, MICROSHOP_ALG_RS256, "private");
    EVP_PKEY_free(pub);
}


static void
read_ok(const char *path, EVP_PKEY *want, microshop_alg_t alg)
{
    char                 why[256];
    EVP_PKEY            *pkey;
    microshop_signer_t  *s;

    why[0] = '\0';
    pkey = microshop_private_key_read(path, why, sizeof(why));

    if (pkey == NULL) {
        fail_msg("%s: %s", path, why);
    }

    assert_int_equal(EVP_PKEY_eq(pkey, want), 1);

    /* the file's key signs what the key it was written from verifies */
    s = signer_ok(pkey, alg);
    EVP_PKEY_free(pkey);
    microshop_signer_free(s);
}


static void
read_fail(const char *path, const char *needle)
{
    char       why[256];
    EVP_PKEY  *pkey;

    why[0] = '\0';
    pkey = microshop_private_key_read(path, why, sizeof(why));

    if (pkey != NULL) {
        EVP_PKEY_free(pkey);
        fail_msg("%s should be refused with \"%s\"", path, needle);
    }

    if (strstr(why, needle) == NULL) {
        fail_msg("%s: \"%s\" lacks \"%s\"", path, why, needle);
    }
}


static void
test_private_key_files(void **state)
{
    fx_t  *fx = *state;

    BIO   *bio;
    char   path[256], buf[256];

    /* PKCS#8 */
    read_ok(fx->ec256_priv_pem, fx->ec256, MICROSHOP_ALG_ES256);
    read_ok(fx->rsa_priv_pem, fx->rsa, MICROSHOP_ALG_RS256);

    /* traditional, and as `openssl ecparam -genkey` writes it */
    fx_path(fx, "ec384-trad.pem", path, sizeof(path));
    write_pem_specific(path, fx->ec384, EVP_PKEY_KEYPAIR, NULL);
    read_ok(path, fx->ec384, MICROSHOP_ALG_ES384);

    fx_path(fx, "rsa-trad.pem", path, sizeof(path));
    write_pem_specific(path, fx->rsa, EVP_PKEY_KEYPAIR, NULL);
    read_ok(path, fx->rsa, MICROSHOP_ALG_RS256);

    fx_path(fx, "ec256-params.pem", path, sizeof(path));
    write_pem_specific(path, fx->ec256, EVP_PKEY_KEYPAIR,
                       "-----BEGIN EC PARAMETERS-----\n"
                       "BggqhkjOPQMBBw==\n"
                       "-----END EC PARAMETERS-----\n");
    read_ok(path, fx->ec256, MICROSHOP_ALG_ES256);

    /* encrypted: PKCS#8 and traditional */
    fx_path(fx, "ec256-enc.pem", path, sizeof(path));
    bio = BIO_new_file(path, "w");
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, fx->ec256,
                         EVP_aes_128_cbc(), "secret-pass", 11, NULL, NULL),
                     1);
    BIO_free(bio);
    read_fail(path, "encrypted");

    fx_file(fx, "trad-enc.pem", "-----BEGIN EC PRIVATE KEY-----\n"
            "Proc-Type: 4,ENCRYPTED\n"
            "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n"
            "AAAA\n-----END EC PRIVATE KEY-----\n", buf, sizeof(buf));
    read_fail(buf, "encrypted");

    /* not a private key */
    read_fail(fx->ec256_pem, "no private key");
    read_fail(fx->rsa_cert_pem, "no private key");
    read_fail(fx->hs256_secret, "not a PEM private key");
    fx_file(fx, "junk.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n"
            "-----END PRIVATE KEY-----\n", buf, sizeof(buf));
    read_fail(buf, "no PEM private key");

    fx_path(fx, "no-such.pem", path, sizeof(path));
    read_fail(path, "cannot open");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_es256),
        cmocka_unit_test(test_es384),
        cmocka_unit_test(test_es512),
        cmocka_unit_test(test_rs256),
        cmocka_unit_test(test_sign_raw),
        cmocka_unit_test(test_refused_keys),
        cmocka_unit_test(test_private_key_files),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
