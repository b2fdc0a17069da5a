/*
 * ngx_microshop -- the JWK SHA-256 thumbprint of a verification key
 * (RFC 7638), pure logic, no nginx headers.  The policy report shows it, so
 * that an auditor can tell which key is configured without being shown
 * where the key files are (docs/audit-and-policy.md).
 */

#ifndef _MICROSHOP_TOKEN_THUMBPRINT_H_INCLUDED_
#define _MICROSHOP_TOKEN_THUMBPRINT_H_INCLUDED_


#include <stddef.h>

#include "microshop_token_keys.h"


/* base64url characters of a SHA-256 thumbprint, without the NUL */
#define MICROSHOP_THUMBPRINT_LEN  43


/*
 * The base64url (no padding) SHA-256 of the key's canonical public JWK,
 * RFC 7638 3: {"e":..,"kty":"RSA","n":..} or {"crv":..,"kty":"EC","x":..,
 * "y":..}, the members in that order, no white space, RSA numbers without
 * leading zero bytes, EC coordinates at the full length of the curve.  The
 * same key has the same thumbprint from a PEM file or a JWKS, and it is the
 * one `jose`, `step crypto jwk thumbprint` and the like print.
 *
 * Writes it NUL-terminated into out (outcap > MICROSHOP_THUMBPRINT_LEN)
 * and returns 0; -1 for a secret (HS*), which has none on purpose: the
 * thumbprint of an "oct" JWK is a plain hash of the secret, against which
 * guesses can be tested offline.  -1 also when OpenSSL fails (the error
 * queue is left empty).
 */
int microshop_key_thumbprint(const microshop_key_t *key, char *out,
    size_t outcap);

/*
 * The base64url of the number "name" (an OSSL_PKEY_PARAM_*) of pkey,
 * malloc()ed, NUL-terminated: at its own length (pad 0: RSA, RFC 7518
 * 6.3.1) or at pad bytes (EC coordinates, 6.2.1.2).  NULL on failure.
 */
char *microshop_key_number_b64(EVP_PKEY *pkey, const char *name, int pad);


#endif /* _MICROSHOP_TOKEN_THUMBPRINT_H_INCLUDED_ */
