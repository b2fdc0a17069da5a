/*
 * ngx_microshop -- key files: PEM public keys and HMAC secrets (pure logic,
 * no nginx headers).  See docs/directives.md, microshop_jwt_key.
 *
 * A failure leaves the OpenSSL error queue empty.
 */

#ifndef _MICROSHOP_TOKEN_PEM_H_INCLUDED_
#define _MICROSHOP_TOKEN_PEM_H_INCLUDED_


#include <stddef.h>

#include "microshop_token_keys.h"


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

#endif /* _MICROSHOP_TOKEN_PEM_H_INCLUDED_ */
