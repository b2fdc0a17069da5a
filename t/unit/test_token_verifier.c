/*
 * ngx_microshop -- unit tests of microshop_token_verifier.c: the signature
 * check of one key, set up once.  The ES256 table path is compared with
 * OpenSSL's own ECDSA verification on many keys, messages and damaged
 * signatures; the contexts kept across verifications must give the same
 * answer on every call.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "microshop_token_keys.h"
#include "microshop_token_verifier.h"
#include "token_fixture.h"


#define NKEYS   6
#define NMSGS   24


/* an ECDSA signature as a JWS carries it: R || S, coord bytes each */
static void
es_sign(EVP_PKEY *pkey, const char *md, const unsigned char *msg, size_t len,
    unsigned char *sig, int coord)
{
    size_t          dlen;
    EVP_MD_CTX     *ctx;
    unsigned char   der[256];

    ctx = EVP_MD_CTX_new();
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, pkey,
                                           NULL), 1);
    dlen = sizeof(der);
    assert_int_equal(EVP_DigestSign(ctx, der, &dlen, msg, len), 1);
    EVP_MD_CTX_free(ctx);

    ec_raw_from_der(der, dlen, sig, coord);
}


/*
 * What the gateway must answer for R || S over msg, worked out with
 * OpenSSL's ECDSA verification of the DER form: 0, -1, or -2 (high S).
 */
static int
es_reference(EVP_PKEY *pkey, const char *md, int any_s,
    const unsigned char *msg, size_t len, const unsigned char *sig, int coord)
{
    int             rc, derlen;
    BIGNUM         *n, *half, *r, *s;
    EVP_MD_CTX     *ctx;
    ECDSA_SIG      *esig;
    unsigned char  *der;

    n = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_ORDER,
                                           &n), 1);
    r = BN_bin2bn(sig, coord, NULL);
    s = BN_bin2bn(sig + coord, coord, NULL);
    half = BN_dup(n);
    assert_true(r && s && half && BN_rshift1(half, half));

    if (BN_is_zero(r) || BN_is_zero(s) || BN_cmp(r, n) >= 0
        || BN_cmp(s, n) >= 0)
    {
        rc = -1;
        BN_free(r);
        BN_free(s);

    } else if (BN_cmp(s, half) > 0 && !any_s) {
        rc = -2;
        BN_free(r);
        BN_free(s);

    } else {
        esig = ECDSA_SIG_new();
        assert_non_null(esig);
        assert_int_equal(ECDSA_SIG_set0(esig, r, s), 1);
        der = NULL;
        derlen = i2d_ECDSA_SIG(esig, &der);
        assert_true(derlen > 0);
        ECDSA_SIG_free(esig);

        ctx = EVP_MD_CTX_new();
        assert_non_null(ctx);
        assert_int_equal(EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL,
                                                 pkey, NULL), 1);
        rc = (EVP_DigestVerify(ctx, der, (size_t) derlen, msg, len) == 1)
             ? 0 : -1;
        EVP_MD_CTX_free(ctx);
        OPENSSL_free(der);
    }

    BN_free(n);
    BN_free(half);

    return rc;
}


static void
push_key(microshop_keyset_t *ks, const char *kid, microshop_alg_t alg,
    EVP_PKEY *pub)
{
    char  why[256];

    assert_int_equal(microshop_keyset_push(ks, kid, alg, pub, NULL, 0, "test",
                                           why, sizeof(why)), 0);
}


/* sign, check, then damage the signature and the message bit by bit */
static void
es_compare(microshop_alg_t alg, const char *group, const char *md, int coord,
    int want_table)
{
    int                 i, j, k, bit, any_s, got, want, valid, high;
    char                kid[16];
    size_t              len;
    EVP_PKEY           *priv[NKEYS];
    unsigned char       msg[300], sig[2 * MICROSHOP_EC_COORD_MAX];
    unsigned char       bad[2 * MICROSHOP_EC_COORD_MAX];
    microshop_keyset_t  ks;

    microshop_keyset_init(&ks);

    for (i = 0; i < NKEYS; i++) {
        priv[i] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
        assert_non_null(priv[i]);
        snprintf(kid, sizeof(kid), "k%d", i);
        push_key(&ks, kid, alg, public_of(priv[i]));
        /* the odd keys take a high S (ecdsa_s=any) */
        ks.keys[i].any_s = i & 1;
        assert_int_equal(microshop_verifier_precomputed(&ks.keys[i]),
                         want_table);
    }

    valid = 0;

    for (i = 0; i < NKEYS; i++) {
        any_s = ks.keys[i].any_s;

        for (j = 0; j < NMSGS; j++) {
            len = 1 + (size_t) (j * 7) % sizeof(msg);
            assert_int_equal(RAND_bytes(msg, (int) len), 1);
            es_sign(priv[i], md, msg, len, sig, coord);

            want = es_reference(priv[i], md, any_s, msg, len, sig, coord);
            got = microshop_verifier_verify(&ks.keys[i], msg, len, sig,
                                            (size_t) (2 * coord));
            assert_int_equal(got, want);
            valid += (got == 0);

            /* every key but its own refuses it (a high S first) */
            high = es_reference(priv[i], md, 0, msg, len, sig, coord) == -2;
            k = (i + 1) % NKEYS;
            assert_int_equal(microshop_verifier_verify(&ks.keys[k], msg, len,
                                                       sig,
                                                       (size_t) (2 * coord)),
                             high && !ks.keys[k].any_s ? -2 : -1);

            /* one bit of the signature flipped, anywhere */
            for (k = 0; k < 4; k++) {
                memcpy(bad, sig, (size_t) (2 * coord));
                bit = (j * 131 + k * 977) % (16 * coord);
                bad[bit / 8] ^= (unsigned char) (1u << (bit % 8));
                want = es_reference(priv[i], md, any_s, msg, len, bad, coord);
                got = microshop_verifier_verify(&ks.keys[i], msg, len, bad,
                                                (size_t) (2 * coord));
                assert_int_equal(got, want);
                assert_int_not_equal(got, 0);
            }

            /* one bit of the message */
            msg[j % len] ^= 0x10;
            want = es_reference(priv[i], md, any_s, msg, len, sig, coord);
            assert_int_not_equal(want, 0);
            assert_int_equal(microshop_verifier_verify(&ks.keys[i], msg, len,
                                                       sig,
                                                       (size_t) (2 * coord)),
                             want);

            /* the wrong length */
            assert_int_equal(microshop_verifier_verify(&ks.keys[i], msg, len,
                                                       sig,
                                                       (size_t) (2 * coord
                                                                 - 1)),
                             -1);
        }
    }

    /* about half the signatures have a high S: refused by the even keys */
    assert_true(valid > NKEYS * NMSGS / 2);

    microshop_keyset_free(&ks);

    for (i = 0; i < NKEYS; i++) {
        EVP_PKEY_free(priv[i]);
    }
}


static void
test_es256_table_matches_openssl(void **state)
{
    es_compare(MICROSHOP_ALG_ES256, "P-256", "SHA256", 32, 1);
}


static void
test_es384_matches_openssl(void **state)
{
    es_compare(MICROSHOP_ALG_ES384, "P-384", "SHA384", 48, 0);
}


static void
test_es512_matches_openssl(void **state)
{
    es_compare(MICROSHOP_ALG_ES512, "P-521", "SHA512", 66, 0);
}


/* r or s of 0 or of n and more: refused before any arithmetic */
static void
test_es256_out_of_range(void **state)
{
    BIGNUM             *n;
    EVP_PKEY           *priv;
    unsigned char       msg[] = "header.claims";
    unsigned char       sig[64], bad[64], nb[32];
    microshop_keyset_t  ks;

    microshop_keyset_init(&ks);
    priv = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(priv);
    push_key(&ks, "k", MICROSHOP_ALG_ES256, public_of(priv));
    ks.keys[0].any_s = 1;

    es_sign(priv, "SHA256", msg, sizeof(msg) - 1, sig, 32);
    assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                               sizeof(msg) - 1, sig, 64), 0);

    n = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(priv, OSSL_PKEY_PARAM_EC_ORDER,
                                           &n), 1);
    assert_int_equal(BN_bn2binpad(n, nb, 32), 32);

    memset(bad, 0, sizeof(bad));
    assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                               sizeof(msg) - 1, bad, 64), -1);

    memcpy(bad, sig, 64);
    memset(bad, 0, 32);                                  /* r = 0 */
    assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                               sizeof(msg) - 1, bad, 64), -1);

    memcpy(bad, sig, 64);
    memset(bad + 32, 0, 32);                             /* s = 0 */
    assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                               sizeof(msg) - 1, bad, 64), -1);

    memcpy(bad, nb, 32);                                 /* r = n */
    memcpy(bad + 32, sig + 32, 32);
    assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                               sizeof(msg) - 1, bad, 64), -1);

    memcpy(bad, sig, 32);                                /* s = n */
    memcpy(bad + 32, nb, 32);
    assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                               sizeof(msg) - 1, bad, 64), -1);

    memset(bad, 0xff, 64);                               /* both > n */
    assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                               sizeof(msg) - 1, bad, 64), -1);

    /* and the good one still holds after all of that */
    assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                               sizeof(msg) - 1, sig, 64), 0);

    BN_free(n);
    EVP_PKEY_free(priv);
    microshop_keyset_free(&ks);
}


/* the HMAC context keyed once answers alike on every call */
static void
test_hmac_context_reused(void **state)
{
    int                 i;
    char                why[256];
    unsigned int        maclen;
    unsigned char       msg[64], mac[64], *secret;
    microshop_keyset_t  ks;
    static const char   key[] = "0123456789abcdef0123456789abcdef-secret";

    microshop_keyset_init(&ks);
    secret = malloc(sizeof(key) - 1);
    assert_non_null(secret);
    memcpy(secret, key, sizeof(key) - 1);
    assert_int_equal(microshop_keyset_push(&ks, "h", MICROSHOP_ALG_HS256, NULL,
                                           secret, sizeof(key) - 1, "test",
                                           why, sizeof(why)), 0);

    for (i = 0; i < 200; i++) {
        memset(msg, i, sizeof(msg));
        assert_non_null(HMAC(EVP_sha256(), key, (int) sizeof(key) - 1, msg,
                             (size_t) (i % 64), mac, &maclen));
        assert_int_equal(maclen, 32);

        if (i % 3 == 0) {
            /* a wrong MAC in between must not disturb the next one */
            mac[i % 32] ^= 1;
            assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                                       (size_t) (i % 64), mac,
                                                       32), -1);
            mac[i % 32] ^= 1;
        }

        assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                                   (size_t) (i % 64), mac, 32),
                         0);
        assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                                   (size_t) (i % 64), mac, 31),
                         -1);
    }

    microshop_keyset_free(&ks);
}


/* the RSA context set up once: valid, damaged, wrong length, in turn */
static void
test_rsa_context_reused(void **state)
{
    int                 i;
    size_t              len;
    EVP_PKEY           *priv;
    EVP_MD_CTX         *ctx;
    unsigned char       msg[100], sig[512];
    microshop_keyset_t  ks;

    microshop_keyset_init(&ks);
    priv = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    assert_non_null(priv);
    push_key(&ks, "r", MICROSHOP_ALG_RS256, public_of(priv));

    for (i = 0; i < 20; i++) {
        assert_int_equal(RAND_bytes(msg, sizeof(msg)), 1);
        ctx = EVP_MD_CTX_new();
        assert_non_null(ctx);
        assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL,
                                               priv, NULL), 1);
        len = sizeof(sig);
        assert_int_equal(EVP_DigestSign(ctx, sig, &len, msg, sizeof(msg)), 1);
        EVP_MD_CTX_free(ctx);
        assert_int_equal(len, 256);

        assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                                   sizeof(msg), sig, len), 0);
        sig[i * 7 % len] ^= 4;
        assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                                   sizeof(msg), sig, len), -1);
        sig[i * 7 % len] ^= 4;
        assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                                   sizeof(msg), sig, len - 1),
                         -1);
        assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                                   sizeof(msg) - 1, sig, len),
                         -1);
        assert_int_equal(microshop_verifier_verify(&ks.keys[0], msg,
                                                   sizeof(msg), sig, len), 0);
    }

    EVP_PKEY_free(priv);
    microshop_keyset_free(&ks);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_es256_table_matches_openssl),
        cmocka_unit_test(test_es384_matches_openssl),
        cmocka_unit_test(test_es512_matches_openssl),
        cmocka_unit_test(test_es256_out_of_range),
        cmocka_unit_test(test_hmac_context_reused),
        cmocka_unit_test(test_rsa_context_reused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
