/*
 * ngx_microshop -- verification keys, JWS verification and claim checks
 * (pure logic, no nginx headers).  See SPEC.md "Token rules".
 *
 * Nothing here keeps global state; a keyset is built at configuration time
 * and only read afterwards.  Every function that fails leaves the OpenSSL
 * error queue empty.
 */

#ifndef MICROSHOP_JWT_H
#define MICROSHOP_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>


#define MICROSHOP_JWT_MAX_LEN    8192      /* bytes of a compact JWS */


typedef enum {
    MICROSHOP_ALG_UNKNOWN = 0,
    MICROSHOP_ALG_HS256, MICROSHOP_ALG_HS384, MICROSHOP_ALG_HS512,
    MICROSHOP_ALG_RS256, MICROSHOP_ALG_RS384, MICROSHOP_ALG_RS512,
    MICROSHOP_ALG_ES256, MICROSHOP_ALG_ES384, MICROSHOP_ALG_ES512
} microshop_alg_t;

/* exact, case-sensitive; "none" and anything unsupported: UNKNOWN */
microshop_alg_t microshop_alg_from_name(const char *name, size_t len);
/* "HS256", ...; "unknown" for MICROSHOP_ALG_UNKNOWN (never NULL) */
const char *microshop_alg_name(microshop_alg_t alg);


typedef struct {
    char             *kid;         /* NUL-terminated, NULL when none */
    microshop_alg_t   alg;         /* exactly one alg per key */
    EVP_PKEY         *pkey;        /* RS*, ES* */
    unsigned char    *secret;      /* HS* */
    size_t            secret_len;
    char             *source;      /* file it came from (messages, audit) */
} microshop_key_t;

typedef struct {
    microshop_key_t  *keys;
    size_t            nkeys;
    size_t            nalloc;
} microshop_keyset_t;

void microshop_keyset_init(microshop_keyset_t *ks);
/* frees every key (secrets are wiped) and leaves an empty, reusable set */
void microshop_keyset_free(microshop_keyset_t *ks);


/*
 * A PEM public key file (RSA, EC; "BEGIN PUBLIC KEY", "BEGIN RSA PUBLIC
 * KEY", or the first certificate of a "BEGIN CERTIFICATE" file) or, with
 * alg HS*, a secret file.  alg may be NULL for PEM: RSA -> RS256, EC P-256
 * -> ES256, P-384 -> ES384, P-521 -> ES512; alg is required for secrets.
 * kid NULL: no kid; an empty kid is refused.  Returns 0, or -1 with a
 * human message in err naming the file and what is wrong.  On -1 the
 * keyset is unchanged.  Rules:
 *  - alg must fit the key: RS* needs RSA >= 2048 bits, ES256 P-256, ES384
 *    P-384, ES512 P-521; the public key must pass OpenSSL's public check.
 *  - HS* with a file that contains "-----BEGIN" is refused (key confusion);
 *    a secret file: trailing CR/LF stripped; shorter than the hash output
 *    (32/48/64 bytes, RFC 7518 3.2) is refused.
 *  - a private key PEM is refused (public keys only); a file with several
 *    PEM blocks is refused unless they are certificates (first one used).
 *  - a kid already in the keyset is refused.
 */
int microshop_keyset_add_file(microshop_keyset_t *ks, const char *path,
    const char *kid, const char *alg, char *err, size_t errlen);

/*
 * A JWKS document {"keys":[...]}: kty RSA (n, e), EC (crv, x, y), oct (k).
 * Strict: duplicate members refused; "alg" required for RSA and oct, for EC
 * it must match crv if given (else inferred from crv); "kid" if present a
 * non-empty string, unique in the keyset; "use" if present must be "sig"
 * (keys with use "enc" are skipped); private members ("d", "p", "q", "dp",
 * "dq", "qi", "oth") refused except oct's "k" (which must not be PEM);
 * unknown kty refused; bad base64url refused; EC x and y must have the
 * full coordinate length.  A document that yields no signature key at all
 * is refused.  All or nothing: on -1 the keyset is unchanged.
 */
int microshop_keyset_add_jwks_file(microshop_keyset_t *ks, const char *path,
    char *err, size_t errlen);


typedef struct {
    json_t                 *header;   /* owned */
    json_t                 *claims;   /* owned */
    const microshop_key_t  *key;      /* the key that verified it */
} microshop_jwt_t;

/*
 * Parse and verify a compact JWS.  Returns 0 and fills out (release with
 * microshop_jwt_release), or -1 with *reason set to a static, client-safe
 * string (never token content) and out zeroed.  The claims are parsed only
 * after the signature is verified.  See SPEC.md "Token rules".
 */
int microshop_jwt_verify(const microshop_keyset_t *ks, const char *token,
    size_t len, microshop_jwt_t *out, const char **reason);
/* frees header and claims; safe on a zeroed or already released struct */
void microshop_jwt_release(microshop_jwt_t *jwt);


typedef struct {
    int64_t        now;        /* unix seconds */
    int64_t        leeway;     /* seconds, >= 0 */
    const char   **issuers;    size_t nissuers;     /* 0: not checked */
    const char   **audiences;  size_t naudiences;   /* 0: not checked */
} microshop_claims_policy_t;

/*
 * exp required (JSON integer or real; anything else refused); expired when
 * now > exp + leeway.  nbf when present: a number, refused when
 * now + leeway < nbf.  iat when present: a number, refused when
 * iat > now + leeway.  iss when configured: a string in the list.  aud when
 * configured: a string or an array of strings, one of them in the list.
 * Returns 0 or -1 with a static *reason.
 */
int microshop_jwt_check_claims(json_t *claims,
    const microshop_claims_policy_t *p, const char **reason);

/*
 * Token class check (SPEC microshop_token_class).  max_ttl in seconds;
 * ceiling is a normalized scope set (microshop_scope.h) or NULL for none;
 * scopes is the token's normalized scope set.  Requires iat and exp numbers
 * with 0 <= exp - iat <= max_ttl; the token's scopes must be a subset of
 * the ceiling.  Returns 0 or -1 with a static *reason.
 */
int microshop_jwt_check_class(json_t *claims, int64_t max_ttl,
    const char *ceiling, size_t ceiling_len, const char *scopes,
    size_t scopes_len, const char **reason);

/*
 * A NumericDate claim value (integer, or real rounded down) as unix
 * seconds.  Returns 0, or -1 when value is NULL, not a number or out of
 * range.  Handy for the token cache lifetime (exp) and the audit log.
 */
int microshop_jwt_numeric_date(json_t *value, int64_t *out);

#endif /* MICROSHOP_JWT_H */
