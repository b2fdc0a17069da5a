/*
 * ngx_microshop -- unit tests: key files, PEM public keys and HMAC secrets
 * (microshop_token_pem.c); the tokens they sign verify.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "microshop_token_jws.h"
#include "microshop_token_pem.h"
#include "token_fixture.h"


/* tests: valid keys */

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


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_pem),
        cmocka_unit_test(test_valid_pem_forms),
        cmocka_unit_test(test_key_file_errors),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
