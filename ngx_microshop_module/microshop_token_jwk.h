/*
 * ngx_microshop -- JWK and JWKS documents (pure logic, no nginx headers).
 * See docs/directives.md, microshop_jwt_jwks.
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

#endif /* _MICROSHOP_TOKEN_JWK_H_INCLUDED_ */
