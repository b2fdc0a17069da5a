/*
 * ngx_microshop -- unit tests: JWK thumbprints of verification keys
 * (microshop_token_thumbprint.c), RFC 7638.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "microshop_token_jwk.h"
#include "microshop_token_pem.h"
#include "microshop_token_thumbprint.h"
#include "token_fixture.h"


/* RFC 7638 3.1: the RSA key of RFC 7517 A.1 and its thumbprint */
#define RFC7638_N                                                             \
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aP" \
    "FFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl9" \
    "3lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdA" \
    "ZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3" \
    "XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
#define RFC7638_THUMBPRINT  "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


/* the thumbprint of a JWK, computed here: sorted members, compact JSON */
static void
expected(json_t *jwk, char *out)
{
    char           *doc;
    unsigned char   hash[32];
    char           *s;

    doc = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(doc);
    assert_int_equal(EVP_Digest(doc, strlen(doc), hash, NULL, EVP_sha256(),
                                NULL), 1);
    s = b64url(hash, sizeof(hash));
    assert_int_equal(strlen(s), MICROSHOP_THUMBPRINT_LEN);
    strcpy(out, s);

    free(s);
    free(doc);
    json_decref(jwk);
}


static void
thumbprint_is(const microshop_key_t *key, const char *want)
{
    char  out[MICROSHOP_THUMBPRINT_LEN + 1];

    assert_int_equal(microshop_key_thumbprint(key, out, sizeof(out)), 0);
    assert_string_equal(out, want);
}


static void
test_rfc7638_vector(void **state)
{
    fx_t                *fx = *state;
    char                 path[256];
    microshop_keyset_t   ks;

    microshop_keyset_init(&ks);

    /* kid, alg and use are not part of the thumbprint */
    jwks_ok(&ks, write_jwks(fx, "rfc7638.json", path, sizeof(path),
                            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
                                      "kty", "RSA", "n", RFC7638_N,
                                      "e", "AQAB", "alg", "RS256",
                                      "kid", "2011-04-29", "use", "sig"),
                            (json_t *) NULL));

    assert_int_equal(ks.nkeys, 1);
    thumbprint_is(&ks.keys[0], RFC7638_THUMBPRINT);

    microshop_keyset_free(&ks);
}


static void
test_pem_keys(void **state)
{
    fx_t                *fx = *state;
    char                 want[MICROSHOP_THUMBPRINT_LEN + 1];
    microshop_keyset_t   ks;

    microshop_keyset_init(&ks);

    add_ok(&ks, fx->rsa_pem, "rsa", NULL);
    add_ok(&ks, fx->ec256_pem, "ec256", NULL);
    add_ok(&ks, fx->ec384_pem, "ec384", NULL);
    add_ok(&ks, fx->ec521_pem, "ec521", NULL);
    add_ok(&ks, fx->rsa_cert_pem, "cert", "RS512");

    expected(jwk_rsa(fx->rsa, NULL, NULL), want);
    thumbprint_is(&ks.keys[0], want);

    /* EC coordinates at the curve's length, P-521's 66 bytes too */
    expected(jwk_ec(fx->ec256, "P-256", 32, NULL, NULL), want);
    thumbprint_is(&ks.keys[1], want);
    expected(jwk_ec(fx->ec384, "P-384", 48, NULL, NULL), want);
    thumbprint_is(&ks.keys[2], want);
    expected(jwk_ec(fx->ec521, "P-521", 66, NULL, NULL), want);
    thumbprint_is(&ks.keys[3], want);

    /* the key of a certificate, whatever alg it is bound to */
    expected(jwk_rsa(fx->rsa, NULL, NULL), want);
    thumbprint_is(&ks.keys[4], want);

    microshop_keyset_free(&ks);
}


static void
test_same_key_from_pem_and_jwks(void **state)
{
    fx_t                *fx = *state;
    char                 a[MICROSHOP_THUMBPRINT_LEN + 1];
    char                 b[MICROSHOP_THUMBPRINT_LEN + 1];
    microshop_keyset_t   ks;

    microshop_keyset_init(&ks);

    jwks_ok(&ks, fx->jwks);                  /* rsa-jwks, ec-jwks first */
    add_ok(&ks, fx->rsa_pem, "rsa", NULL);
    add_ok(&ks, fx->ec256_pem, "ec", NULL);

    assert_int_equal(microshop_key_thumbprint(&ks.keys[0], a, sizeof(a)), 0);
    assert_int_equal(microshop_key_thumbprint(&ks.keys[ks.nkeys - 2], b,
                                              sizeof(b)), 0);
    assert_string_equal(a, b);

    assert_int_equal(microshop_key_thumbprint(&ks.keys[1], a, sizeof(a)), 0);
    assert_int_equal(microshop_key_thumbprint(&ks.keys[ks.nkeys - 1], b,
                                              sizeof(b)), 0);
    assert_string_equal(a, b);

    /* two keys, two thumbprints */
    assert_string_not_equal(a, RFC7638_THUMBPRINT);
    assert_int_equal(microshop_key_thumbprint(&ks.keys[0], b, sizeof(b)), 0);
    assert_string_not_equal(a, b);

    microshop_keyset_free(&ks);
}


static void
test_secrets_have_none(void **state)
{
    fx_t                *fx = *state;
    char                 out[MICROSHOP_THUMBPRINT_LEN + 1];
    size_t               i;
    microshop_keyset_t   ks;

    microshop_keyset_init(&ks);

    add_ok(&ks, fx->hs256_secret, "hs", "HS256");
    jwks_ok(&ks, fx->jwks);

    for (i = 0; i < ks.nkeys; i++) {
        if (ks.keys[i].secret == NULL) {
            continue;
        }

        memset(out, 'x', sizeof(out));
        assert_int_equal(microshop_key_thumbprint(&ks.keys[i], out,
                                                  sizeof(out)), -1);
    }

    /* room for 43 characters and the NUL */
    assert_int_equal(microshop_key_thumbprint(&ks.keys[ks.nkeys - 1], out,
                                              MICROSHOP_THUMBPRINT_LEN), -1);
    assert_int_equal(microshop_key_thumbprint(&ks.keys[1], out,
                                              MICROSHOP_THUMBPRINT_LEN), -1);

    microshop_keyset_free(&ks);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7638_vector),
        cmocka_unit_test(test_pem_keys),
        cmocka_unit_test(test_same_key_from_pem_and_jwks),
        cmocka_unit_test(test_secrets_have_none),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
