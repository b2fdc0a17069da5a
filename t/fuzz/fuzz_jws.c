/*
 * Fuzz target: compact JWS parsing and verification
 * (microshop_token_jws.c, microshop_base64url.c), and the claim checks
 * behind it (microshop_token_claims.c, microshop_scope.c).
 *
 * Input: the first byte picks the mode.
 *   even  the rest is a token as a client sends it
 *   odd   the rest is "<JOSE header JSON>\n<claims JSON>": the target
 *         encodes and signs it with the HS256 key "hs", so that the
 *         header's members (alg, kid, typ, crit) and the claims get past
 *         the signature
 *
 * The keyset: "hs" HS256, "es" ES256, "rs" RS256, and an HS384 key without
 * a kid.
 */

#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include "fuzz.h"
#include "microshop_base64url.h"
#include "microshop_scope.h"
#include "microshop_token_claims.h"
#include "microshop_token_jws.h"


static const unsigned char  hs_secret[] = "fuzz-hs256-secret-0123456789abcdef";

static const unsigned char  hs384_secret[48] = { 'h', 's', '3', '8', '4' };

static microshop_keyset_t  ks;


static unsigned char *
dup_secret(const unsigned char *s, size_t len)
{
    unsigned char  *p;

    p = malloc(len);
    FUZZ_CHECK(p != NULL);
    memcpy(p, s, len);

    return p;
}


static void
keyset(void)
{
    char  why[200];

    if (ks.nkeys) {
        return;
    }

    microshop_keyset_init(&ks);

    FUZZ_CHECK(microshop_keyset_push(&ks, "hs", MICROSHOP_ALG_HS256, NULL,
                   dup_secret(hs_secret, sizeof(hs_secret) - 1),
                   sizeof(hs_secret) - 1, "fuzz", why, sizeof(why)) == 0);
    FUZZ_CHECK(microshop_keyset_push(&ks, "es", MICROSHOP_ALG_ES256,
                   EVP_EC_gen("P-256"), NULL, 0, "fuzz", why, sizeof(why))
               == 0);
    FUZZ_CHECK(microshop_keyset_push(&ks, "rs", MICROSHOP_ALG_RS256,
                   EVP_RSA_gen(2048), NULL, 0, "fuzz", why, sizeof(why))
               == 0);
    FUZZ_CHECK(microshop_keyset_push(&ks, NULL, MICROSHOP_ALG_HS384, NULL,
                   dup_secret(hs384_secret, sizeof(hs384_secret)),
                   sizeof(hs384_secret), "fuzz", why, sizeof(why)) == 0);
}


static size_t
b64url(const uint8_t *in, size_t len, char *out)
{
    size_t             i, n;
    uint32_t           v;
    static const char  a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                             "0123456789-_";

    n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[n++] = a[v >> 18];
        out[n++] = a[(v >> 12) & 63];
        out[n++] = a[(v >> 6) & 63];
        out[n++] = a[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[n++] = a[v >> 18];
        out[n++] = a[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[n++] = a[v >> 18];
        out[n++] = a[(v >> 12) & 63];
        out[n++] = a[(v >> 6) & 63];
    }

    return n;
}


/* "<b64 header>.<b64 claims>.<b64 HS256>" of header JSON \n claims JSON */
static char *
signed_token(const uint8_t *data, size_t size, size_t *len)
{
    char           *t;
    size_t          hlen, n;
    unsigned int    maclen;
    const uint8_t  *nl;
    unsigned char   mac[EVP_MAX_MD_SIZE];

    nl = memchr(data, '\n', size);
    hlen = nl ? (size_t) (nl - data) : size;

    t = malloc(size * 4 / 3 + 128);
    FUZZ_CHECK(t != NULL);

    n = b64url(data, hlen, t);
    t[n++] = '.';

    if (nl) {
        n += b64url(nl + 1, size - hlen - 1, t + n);
    }

    FUZZ_CHECK(HMAC(EVP_sha256(), hs_secret, sizeof(hs_secret) - 1,
                    (unsigned char *) t, n, mac, &maclen) != NULL);
    t[n++] = '.';
    n += b64url(mac, maclen, t + n);

    *len = n;

    return t;
}


static void
claims(json_t *c)
{
    int                        rc;
    char                       scopes[1024];
    int64_t                    exp;
    const char                *reason;
    static const char         *iss[] = { "https://issuer.example" };
    static const char         *aud[] = { "shop-api", "partner-api" };
    microshop_claims_policy_t  p = { 1700000000, 30, iss, 1, aud, 2 };

    reason = NULL;
    rc = microshop_jwt_check_claims(c, &p, &reason);
    FUZZ_CHECK(rc == 0 || (rc == -1 && reason != NULL));

    p.nissuers = 0;
    p.naudiences = 0;
    reason = NULL;
    rc = microshop_jwt_check_claims(c, &p, &reason);
    FUZZ_CHECK(rc == 0 || (rc == -1 && reason != NULL));

    rc = microshop_scopes_normalize(json_object_get(c, "scope"), scopes,
                                    sizeof(scopes));
    if (rc >= 0) {
        FUZZ_CHECK((size_t) rc < sizeof(scopes) && scopes[rc] == '\0');
        FUZZ_CHECK(strlen(scopes) == (size_t) rc);

        reason = NULL;
        rc = microshop_jwt_check_class(c, 900,
                                       "inventory:read inventory:write", 30,
                                       scopes, (size_t) rc, &reason);
        FUZZ_CHECK(rc == 0 || (rc == -1 && reason != NULL));
    }

    (void) microshop_jwt_numeric_date(json_object_get(c, "exp"), &exp);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               rc;
    char             *token;
    size_t            len;
    const char       *reason;
    microshop_jwt_t   jwt;

    if (size == 0) {
        return 0;
    }

    keyset();

    if (data[0] & 1) {
        token = signed_token(data + 1, size - 1, &len);

    } else {
        /* an exact-size copy, not NUL-terminated */
        len = size - 1;
        token = malloc(len ? len : 1);
        FUZZ_CHECK(token != NULL);
        memcpy(token, data + 1, len);
    }

    reason = NULL;
    rc = microshop_jwt_verify(&ks, token, len, &jwt, &reason);

    if (rc == 0) {
        FUZZ_CHECK(json_is_object(jwt.header) && json_is_object(jwt.claims));
        FUZZ_CHECK(jwt.key != NULL);
        claims(jwt.claims);
        microshop_jwt_release(&jwt);
        microshop_jwt_release(&jwt);

    } else {
        FUZZ_CHECK(rc == -1 && reason != NULL && reason[0] != '\0');
        FUZZ_CHECK(jwt.header == NULL && jwt.claims == NULL
                   && jwt.key == NULL);
        FUZZ_CHECK(len <= MICROSHOP_JWT_MAX_LEN
                   || strcmp(reason, "token too large") == 0);
    }

    /* "a failure leaves the OpenSSL error queue empty" */
    FUZZ_CHECK(ERR_peek_error() == 0);

    free(token);

    return 0;
}
