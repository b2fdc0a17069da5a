/*
 * ngx_microshop -- compact JWS: parsing and signature verification (pure
 * logic, no nginx headers), see microshop_token_jws.h.
 */

#include <string.h>

#include <openssl/err.h>

#include "microshop_base64url.h"
#include "microshop_json_parse.h"
#include "microshop_token_jws.h"
#include "microshop_token_verifier.h"


/* the largest decoded segment of a token of MICROSHOP_JWT_MAX_LEN bytes */
#define MICROSHOP_JWT_SEG_MAX    (MICROSHOP_JWT_MAX_LEN / 4 * 3 + 3)


/* ASCII case-insensitive comparison of s (len bytes) with the C string lit */
static int
microshop_caseeq(const char *s, size_t len, const char *lit)
{
    size_t         i;
    unsigned char  a, b;

    if (strlen(lit) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        a = (unsigned char) s[i];
        b = (unsigned char) lit[i];

        if (a >= 'A' && a <= 'Z') {
            a = (unsigned char) (a - 'A' + 'a');
        }

        if (b >= 'A' && b <= 'Z') {
            b = (unsigned char) (b - 'A' + 'a');
        }

        if (a != b) {
            return 0;
        }
    }

    return 1;
}


static int
microshop_typ_ok(json_t *typ)
{
    const char  *s;
    size_t       n;

    if (typ == NULL) {
        return 1;
    }

    if (!json_is_string(typ)) {
        return 0;
    }

    s = json_string_value(typ);
    n = json_string_length(typ);

    return microshop_caseeq(s, n, "JWT")
           || microshop_caseeq(s, n, "at+jwt")
           || microshop_caseeq(s, n, "application/at+jwt");
}


int
microshop_jwt_verify(const microshop_keyset_t *ks, const char *token,
    size_t len, microshop_jwt_t *out, const char **reason)
{
    return microshop_jwt_verify_sets(&ks, ks ? 1 : 0, token, len, out,
                                     reason, NULL);
}


/* the key of kid in the first set that has it, or NULL */
static const microshop_key_t *
microshop_sets_find_kid(const microshop_keyset_t *const *sets, size_t nsets,
    const char *kid, size_t len)
{
    size_t                  s;
    const microshop_key_t  *key;

    for (s = 0; s < nsets; s++) {
        if (sets[s] == NULL) {
            continue;
        }

        key = microshop_keyset_find_kid(sets[s], kid, len);
        if (key != NULL) {
            return key;
        }
    }

    return NULL;
}


int
microshop_jwt_verify_sets(const microshop_keyset_t *const *sets,
    size_t nsets, const char *token, size_t len, microshop_jwt_t *out,
    const char **reason, int *unknown_kid)
{
    int                          rc;
    size_t                       i, s, ndots, d1, d2, hlen, plen, slen, n;
    json_t                      *header, *claims, *v;
    const char                  *why;
    microshop_alg_t              alg;
    const microshop_key_t       *key, *k;
    unsigned char                hbuf[MICROSHOP_JWT_SEG_MAX];
    unsigned char                pbuf[MICROSHOP_JWT_SEG_MAX];
    unsigned char                sbuf[MICROSHOP_JWT_SEG_MAX];

    header = NULL;
    d1 = 0;
    d2 = 0;

    if (out != NULL) {
        memset(out, 0, sizeof(microshop_jwt_t));
    }

    if (unknown_kid != NULL) {
        *unknown_kid = 0;
    }

    if (len > MICROSHOP_JWT_MAX_LEN) {
        why = "token too large";
        goto failed;
    }

    if (sets == NULL || nsets == 0 || out == NULL || token == NULL
        || len == 0)
    {
        why = "malformed token";
        goto failed;
    }

    ndots = 0;

    for (i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots == 0) {
                d1 = i;
            } else {
                d2 = i;
            }

            if (++ndots > 2) {
                break;
            }
        }
    }

    if (ndots != 2) {
        why = "malformed token";
        goto failed;
    }

    hlen = d1;
    plen = d2 - d1 - 1;
    slen = len - d2 - 1;

    if (hlen == 0 || plen == 0) {
        why = "malformed token";
        goto failed;
    }

    if (slen == 0) {
        why = "signature missing";
        goto failed;
    }

    if (microshop_b64url_decode(token, hlen, hbuf, sizeof(hbuf), &hlen) != 0
        || microshop_b64url_decode(token + d1 + 1, plen, pbuf, sizeof(pbuf),
                                   &plen)
           != 0
        || microshop_b64url_decode(token + d2 + 1, slen, sbuf, sizeof(sbuf),
                                   &slen)
           != 0)
    {
        why = "malformed token";
        goto failed;
    }

    /* the header and the claims: one pass each (microshop_json_parse.h) */
    header = microshop_json_parse_object(hbuf, hlen);
    if (header == NULL) {
        why = "invalid token header";
        goto failed;
    }

    v = json_object_get(header, "alg");
    if (!json_is_string(v)) {
        why = "alg missing";
        goto failed;
    }

    if (microshop_caseeq(json_string_value(v), json_string_length(v), "none"))
    {
        why = "alg none not allowed";
        goto failed;
    }

    alg = microshop_alg_from_name(json_string_value(v), json_string_length(v));
    if (alg == MICROSHOP_ALG_UNKNOWN) {
        why = "unsupported alg";
        goto failed;
    }

    if (!microshop_typ_ok(json_object_get(header, "typ"))) {
        why = "unsupported typ";
        goto failed;
    }

    if (json_object_get(header, "crit") != NULL) {
        why = "crit header not supported";
        goto failed;
    }

    /* "jwk", "jku", "x5u", "x5c", "x5t" never select a key: not looked at */

    key = NULL;
    v = json_object_get(header, "kid");

    if (v != NULL) {
        if (!json_is_string(v)) {
            why = "invalid kid";
            goto failed;
        }

        key = microshop_sets_find_kid(sets, nsets, json_string_value(v),
                                      json_string_length(v));
        if (key == NULL) {
            if (unknown_kid != NULL) {
                *unknown_kid = 1;
            }

            why = "unknown kid";
            goto failed;
        }

        if (key->alg != alg) {
            why = "alg not allowed for this key";
            goto failed;
        }

    } else {
        n = 0;

        for (s = 0; s < nsets; s++) {
            if (sets[s] == NULL) {
                continue;
            }

            for (i = 0; i < sets[s]->nkeys; i++) {
                k = &sets[s]->keys[i];

                if (k->alg == alg) {
                    key = k;
                    n++;
                }
            }
        }

        if (n == 0) {
            /* a set fetched later may have one, as for a kid */
            if (unknown_kid != NULL) {
                *unknown_kid = 1;
            }

            why = "no key for this alg";
            goto failed;
        }

        if (n > 1) {
            why = "kid required";
            goto failed;
        }
    }

    rc = microshop_verifier_verify(key, (const unsigned char *) token, d2,
                                   sbuf, slen);

    if (rc != 0) {
        why = (rc == -2) ? "non-canonical ECDSA signature (high S)"
                         : "invalid signature";
        goto failed;
    }

    /* the claims are parsed only once the signature holds */

    claims = microshop_json_parse_object(pbuf, plen);
    if (claims == NULL) {
        why = "invalid token claims";
        goto failed;
    }

    out->header = header;
    out->claims = claims;
    out->key = key;

    return 0;

failed:

    json_decref(header);
    ERR_clear_error();

    if (reason != NULL) {
        *reason = why;
    }

    return -1;
}


void
microshop_jwt_release(microshop_jwt_t *jwt)
{
    if (jwt == NULL) {
        return;
    }

    json_decref(jwt->header);
    json_decref(jwt->claims);

    jwt->header = NULL;
    jwt->claims = NULL;
    jwt->key = NULL;
}
