/*
 * ngx_microshop -- JWK and JWKS documents (pure logic, no nginx headers).
 * See docs/directives.md, microshop_jwt_jwks and microshop_jwt_jwks_uri.
 *
 * A failure leaves the OpenSSL error queue empty.
 */

#ifndef _MICROSHOP_TOKEN_JWK_H_INCLUDED_
#define _MICROSHOP_TOKEN_JWK_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>

#include "microshop_token_keys.h"


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

/*
 * The public JWK of an RS* or ES* key, as the gateway publishes its own
 * (microshop_jwks): {"kty":"RSA","n":..,"e":..} or {"kty":"EC","crv":..,
 * "x":..,"y":..}, then "kid" (when the key has one), "alg" and "use":"sig".
 * Never a private member.  NULL for a secret, or when OpenSSL or jansson
 * fails (the error queue is left empty).
 */
json_t *microshop_jwk_public(const microshop_key_t *key);

/* the keys microshop_keyset_add_jwks_remote() left out */
typedef struct {
    size_t            skipped;
    char              first[256];   /* why the first one was */
} microshop_jwks_report_t;

/*
 * A JWKS document from an identity provider (docs/tokens.md, "Keys from
 * the identity provider"): each key under the rules of
 * microshop_keyset_add_jwks_file(), with two differences.  An oct key is
 * refused (a secret on a published document would let anyone sign).  A
 * key the rules refuse is left out, counted in report, instead of failing
 * the document: the provider changes it without the operator, and a key
 * the gateway cannot take (another kty, an RSA key without "alg") must
 * not stop the rotation of the others.  A key left out verifies nothing.
 * Returns 0 with at least one key added, or -1 with err set (not JSON,
 * not a JWKS, no usable key, more than max keys when max is not 0); on
 * -1 the keyset is unchanged.  source names the keys' origin.
 */
int microshop_keyset_add_jwks_remote(microshop_keyset_t *ks,
    const char *data, size_t len, const char *source, size_t max,
    microshop_jwks_report_t *report, char *err, size_t errlen);

#endif /* _MICROSHOP_TOKEN_JWK_H_INCLUDED_ */
