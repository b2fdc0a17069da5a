/*
 * ngx_microshop -- signing with the gateway's own key (pure logic, no nginx
 * headers).  See docs/tokens.md, "The gateway's signing key and its JWKS",
 * and docs/directives.md, microshop_jwt_signing_key.
 *
 * A signer is made once per key when the configuration is read, as a
 * verifier is (microshop_token_verifier.h): the digest is fetched once, a
 * digest context and a signing context of the private key are set up once,
 * and the buffers a signature needs are the signer's own.  A signature then
 * allocates nothing but what OpenSSL's signing itself takes.
 *
 * ES256, ES384 (and ES512): the JWS signature is R || S at the fixed length
 * of the curve (RFC 7518 3.4), converted from OpenSSL's DER, with S in its
 * low form (s > n / 2 is replaced by n - s): the gateway's verifier takes
 * no other unless a key says ecdsa_s=any.  RS256 (RS384, RS512):
 * RSASSA-PKCS1-v1_5.  HS* is refused: an HMAC secret cannot be published.
 *
 * The state is the process's own: one thread at a time (an nginx worker).
 * A failure leaves the OpenSSL error queue empty.
 */

#ifndef _MICROSHOP_TOKEN_SIGN_H_INCLUDED_
#define _MICROSHOP_TOKEN_SIGN_H_INCLUDED_


#include <stddef.h>
#include <openssl/evp.h>

#include "microshop_token_keys.h"


typedef struct microshop_signer_s  microshop_signer_t;


/*
 * A PEM private key file: PKCS#8 ("BEGIN PRIVATE KEY") or traditional
 * ("BEGIN EC PRIVATE KEY", "BEGIN RSA PRIVATE KEY", an "EC PARAMETERS"
 * block before it is fine), unencrypted.  Returns the key, or NULL with why
 * set (never any key material): the file cannot be read, is encrypted,
 * holds a public key or certificate only, or no private key.
 */
EVP_PKEY *microshop_private_key_read(const char *path, char *why,
    size_t whylen);

/*
 * The signer of alg (RS* or ES*) with the private key pkey, which it keeps
 * a reference of (the caller frees its own).  The key must fit alg as a
 * verification key must (microshop_pkey_check: RSA of at least 2048 bits,
 * the curve of the ES alg) and hold its private half.  Returns NULL with
 * why set.
 */
microshop_signer_t *microshop_signer_create(EVP_PKEY *pkey,
    microshop_alg_t alg, char *why, size_t whylen);

/* NULL is fine */
void microshop_signer_free(microshop_signer_t *s);

microshop_alg_t microshop_signer_alg(const microshop_signer_t *s);

/* bytes of a JWS signature: 2 * coordinate (ES), the modulus (RS) */
size_t microshop_signer_len(const microshop_signer_t *s);

/*
 * The JWS signature of data (len bytes) into sig, which holds
 * microshop_signer_len() bytes.  Returns 0, or -1.
 */
int microshop_signer_sign(microshop_signer_t *s, const unsigned char *data,
    size_t len, unsigned char *sig);

/* characters of the compact JWS of a header and claims of those lengths */
size_t microshop_jws_len(const microshop_signer_t *s, size_t hlen,
    size_t clen);

/*
 * The compact JWS b64url(hdr) "." b64url(claims) "." b64url(signature)
 * of the JSON texts hdr (hlen bytes) and claims (clen bytes), written
 * NUL-terminated into out (outcap > microshop_jws_len()).  Returns its
 * length, or 0 when it could not be made.
 */
size_t microshop_jws_sign(microshop_signer_t *s, const char *hdr, size_t hlen,
    const char *claims, size_t clen, char *out, size_t outcap);


#endif /* _MICROSHOP_TOKEN_SIGN_H_INCLUDED_ */
