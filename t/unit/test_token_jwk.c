/*
 * ngx_microshop -- unit tests: JWKS documents (microshop_token_jwk.c); the
 * tokens their keys sign verify.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>

#include "microshop_token_jwk.h"
#include "microshop_token_jws.h"
#include "microshop_token_pem.h"
#include "token_fixture.h"


/* tests: valid keys */

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


/* tests: JWKS files */

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

/* tests: the public JWK the gateway publishes of its own keys */

static void
test_public_jwk(void **state)
{
    fx_t                *fx = *state;

    char                 path[256];
    size_t               i;
    json_t              *jwk, *want;
    microshop_keyset_t   ks, back;

    microshop_keyset_init(&ks);
    add_ok(&ks, fx->ec256_pem, "gw-es256", "ES256");
    add_ok(&ks, fx->ec384_pem, "gw-es384", NULL);
    add_ok(&ks, fx->rsa_pem, NULL, "RS256");
    add_ok(&ks, fx->hs256_secret, "gw-hs", "HS256");

    /* the same members as a JWK written here from the key's numbers */
    jwk = microshop_jwk_public(&ks.keys[0]);
    assert_non_null(jwk);
    assert_string_equal(json_string_value(json_object_get(jwk, "use")),
                        "sig");
    json_object_del(jwk, "use");
    want = jwk_ec(fx->ec256, "P-256", 32, "gw-es256", "ES256");
    assert_true(json_equal(jwk, want));
    json_decref(want);
    json_decref(jwk);

    jwk = microshop_jwk_public(&ks.keys[2]);
    assert_non_null(jwk);
    assert_null(json_object_get(jwk, "kid"));
    assert_null(json_object_get(jwk, "d"));
    json_object_del(jwk, "use");
    want = jwk_rsa(fx->rsa, NULL, "RS256");
    assert_true(json_equal(jwk, want));
    json_decref(want);
    json_decref(jwk);

    /* no JWK of a secret */
    assert_null(microshop_jwk_public(&ks.keys[3]));

    /* read back as a JWKS, each key verifies what its private half signs */
    write_jwks(fx, "public.json", path, sizeof(path),
               microshop_jwk_public(&ks.keys[0]),
               microshop_jwk_public(&ks.keys[1]),
               (json_t *) NULL);
    microshop_keyset_init(&back);
    jwks_ok(&back, path);
    assert_int_equal(back.nkeys, 2);

    for (i = 0; i < back.nkeys; i++) {
        assert_int_equal(back.keys[i].alg, ks.keys[i].alg);
        assert_string_equal(back.keys[i].kid, ks.keys[i].kid);
        assert_int_equal(EVP_PKEY_eq(back.keys[i].pkey, ks.keys[i].pkey), 1);
    }

    expect_ok_kid(&back, sign("ES384", "{\"alg\":\"ES384\",\"kid\":"
                              "\"gw-es384\"}", CLAIMS, fx->ec384),
                  "gw-es384");

    microshop_keyset_free(&back);
    microshop_keyset_free(&ks);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_jwks),
        cmocka_unit_test(test_jwks_errors),
        cmocka_unit_test(test_public_jwk),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
