/*
 * Idempotency keys and request fingerprints.  Pure logic, no nginx.
 */

#ifndef _MICROSHOP_IDEMPOTENCY_H_INCLUDED_
#define _MICROSHOP_IDEMPOTENCY_H_INCLUDED_


#include <stddef.h>
#include <openssl/evp.h>


#define MICROSHOP_IDEM_KEY_MAX  255


/*
 * An Idempotency-Key header value: a bare token (abc) or the draft's
 * sf-string ("abc"), which are the same key.  The key is 1 to 255
 * printable ASCII characters (0x20-0x7e); inside quotes '"' and '\' must
 * not appear (no escapes).  A bare key holds no ',': "a, b" is a list of
 * two keys (two headers folded into one), not one key; "a, b" in quotes
 * is one sf-string.  Returns 0 and the key's offset and length in *start
 * and *klen, or -1.
 */
int microshop_idem_key_parse(const unsigned char *in, size_t len,
    size_t *start, size_t *klen);


/*
 * SHA-256 over the method, the URI with arguments and the exact body,
 * each length-prefixed so that no two requests share a fingerprint by
 * moving bytes between parts.  md is a context initialised for SHA-256
 * (EVP_DigestInit_ex2); the caller owns it.  Each returns 0 or -1;
 * finish() writes 32 bytes.
 */
int microshop_fingerprint_begin(EVP_MD_CTX *md, const unsigned char *method,
    size_t method_len, const unsigned char *uri, size_t uri_len,
    unsigned long long body_len);
int microshop_fingerprint_update(EVP_MD_CTX *md, const unsigned char *data,
    size_t len);
int microshop_fingerprint_finish(EVP_MD_CTX *md, unsigned char *out);


#endif /* _MICROSHOP_IDEMPOTENCY_H_INCLUDED_ */
