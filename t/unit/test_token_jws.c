/*
 * ngx_microshop -- unit tests: compact JWS verification
 * (microshop_token_jws.c): typ, algorithm attacks, kid selection,
 * tampering, malformed tokens, strict JSON, canonical ECDSA signatures.
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

#include "microshop_base64url.h"
#include "microshop_token_claims.h"
#include "microshop_token_jws.h"
#include "microshop_token_pem.h"
#include "token_fixture.h"


/* tests: valid tokens */

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


/* tests: verification and claims together */

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


/* tests: ECDSA signatures in canonical form only (low S, r and s < n) */

/* tok with its raw R || S signature replaced by sig */
static char *
with_raw_sig(const char *tok, const unsigned char *sig, size_t len)
{
    char    *t, *s64, *out;
    size_t   n;

    n = (size_t) (strrchr(tok, '.') - tok);
    t = malloc(n + 1);
    assert_non_null(t);
    memcpy(t, tok, n);
    t[n] = '\0';

    s64 = b64url(sig, len);
    out = malloc(n + strlen(s64) + 2);
    assert_non_null(out);
    sprintf(out, "%s.%s", t, s64);
    free(t);
    free(s64);

    return out;
}


static void
test_ecdsa_canonical(void **state)
{
    fx_t                *fx = *state;
    int                  coord, i, k;
    char                *tok, hdr[32];
    size_t               len;
    BIGNUM              *n;
    EVP_PKEY            *keys[3];
    microshop_keyset_t   ks;
    unsigned char        sig[2 * 66], bad[2 * 66];

    static const char   *algs[3] = { "ES256", "ES384", "ES512" };
    static const int     coords[3] = { 32, 48, 66 };

    keys[0] = fx->ec256;
    keys[1] = fx->ec384;
    keys[2] = fx->ec521;

    microshop_keyset_init(&ks);
    add_ok(&ks, fx->ec256_pem, NULL, NULL);
    add_ok(&ks, fx->ec384_pem, NULL, NULL);
    add_ok(&ks, fx->ec521_pem, NULL, NULL);

    for (k = 0; k < 3; k++) {
        coord = coords[k];
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", algs[k]);

        n = NULL;
        assert_int_equal(EVP_PKEY_get_bn_param(keys[k],
                                               OSSL_PKEY_PARAM_EC_ORDER, &n),
                         1);

        /* several signatures: OpenSSL makes a high S half of the time */
        for (i = 0; i < 8; i++) {
            tok = sign(algs[k], hdr, CLAIMS, keys[k]);
            assert_int_equal(microshop_b64url_decode(strrchr(tok, '.') + 1,
                                 strlen(strrchr(tok, '.') + 1), sig,
                                 sizeof(sig), &len), 0);
            assert_int_equal(len, 2 * coord);
            assert_false(ec_high_s(keys[k], sig, coord));
            expect_ok(&ks, xdup(tok));

            /* (r, n - s): just as valid mathematically, refused */
            memcpy(bad, sig, len);
            ec_negate_s(keys[k], bad, coord);
            assert_true(ec_high_s(keys[k], bad, coord));
            expect_fail(&ks, with_raw_sig(tok, bad, len),
                        "non-canonical ECDSA signature (high S)");
            free(tok);
        }

        /* r = n, s = n, r = 0: out of range */
        memcpy(bad, sig, len);
        assert_int_equal(BN_bn2binpad(n, bad, coord), coord);
        expect_fail(&ks, forge(hdr, CLAIMS, bad, len), "invalid signature");

        memcpy(bad, sig, len);
        assert_int_equal(BN_bn2binpad(n, bad + coord, coord), coord);
        expect_fail(&ks, forge(hdr, CLAIMS, bad, len), "invalid signature");

        memcpy(bad, sig, len);
        memset(bad, 0, coord);
        expect_fail(&ks, forge(hdr, CLAIMS, bad, len), "invalid signature");

        /* s = n - 1: high */
        memcpy(bad, sig, len);
        assert_int_equal(BN_sub_word(n, 1), 1);
        assert_int_equal(BN_bn2binpad(n, bad + coord, coord), coord);
        expect_fail(&ks, forge(hdr, CLAIMS, bad, len),
                    "non-canonical ECDSA signature (high S)");

        BN_free(n);
    }

    microshop_keyset_free(&ks);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typ),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_key_confusion),
        cmocka_unit_test(test_kid_selection),
        cmocka_unit_test(test_embedded_jwk_ignored),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_strict_json),
        cmocka_unit_test(test_end_to_end),
        cmocka_unit_test(test_ecdsa_canonical),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
