/*
 * ngx_microshop -- the signature check of one key, set up once (pure logic,
 * no nginx headers).  See docs/operations.md, "The cold token path".
 *
 * A verifier is made when a key joins a key set (configuration time) and
 * holds everything a verification needs that does not depend on the token:
 * the digest fetched once (OpenSSL 3 fetches again on every implicit
 * EVP_sha256() use), a digest context, an HMAC context keyed once, a
 * verification context of the public key set up once, and for ES256 a
 * table of multiples of the public key (below).  A verification then
 * allocates nothing.
 *
 * ES256: instead of OpenSSL's ECDSA verification, which computes
 * u1 G + u2 Q with a table for G only, the verifier keeps a second
 * P-256 group whose generator is the public key Q, with a precomputed
 * table of its multiples, so that both products are fixed-base ones;
 * R = u1 G + u2 Q is then compared with r in Jacobian coordinates
 * (X == r Z^2 or (r + n) Z^2 mod p), without an inversion mod p.  The
 * arithmetic is OpenSSL's; only the order of the steps is ours (the
 * verification equation of FIPS 186-5 6.4.2).  The table costs about
 * 150 KB and 40 ms per key when the key is loaded; when it cannot be
 * made, the key is verified the usual way.
 *
 * The state is the process's own: it may be used by one thread at a time
 * (an nginx worker), and a forked process has its own copy.
 */

#ifndef _MICROSHOP_TOKEN_VERIFIER_H_INCLUDED_
#define _MICROSHOP_TOKEN_VERIFIER_H_INCLUDED_


#include <stddef.h>

#include "microshop_token_keys.h"


/*
 * Sets key->verifier up for key->alg and key->pkey / key->secret.
 * Returns 0, or -1 with why set.
 */
int microshop_verifier_create(microshop_key_t *key, char *why, size_t whylen);

/* frees key->verifier (NULL is fine) */
void microshop_verifier_free(microshop_key_t *key);

/*
 * The signature sig (siglen bytes, as the JWS carries it: the MAC, the
 * RSA signature, or the ECDSA R || S) over data.  Returns 0 (valid), -1
 * (invalid) or -2 (an ECDSA signature with a high S, refused unless the
 * key takes one, ecdsa_s=any).
 */
int microshop_verifier_verify(const microshop_key_t *key,
    const unsigned char *data, size_t len, const unsigned char *sig,
    size_t siglen);

/*
 * The order n of an EC key's curve and n >> 1, big-endian, coord bytes
 * each: the bounds of r and of a low s, for the verifier and the signer
 * (microshop_token_sign.h).  Returns 0, or -1.
 */
int microshop_ec_order(EVP_PKEY *pkey, size_t coord, unsigned char *n,
    unsigned char *half);

/* 1 when the key's ES256 verification uses the table of multiples */
int microshop_verifier_precomputed(const microshop_key_t *key);


#endif /* _MICROSHOP_TOKEN_VERIFIER_H_INCLUDED_ */
