/*
 * ngx_microshop -- strict base64url decoding (RFC 7515 2, RFC 4648 5), pure
 * logic, no nginx headers.
 *
 * No padding, no characters outside the alphabet, no length that is 1 mod 4
 * and no non-zero bits after the last full byte (non-canonical).
 */

#ifndef _MICROSHOP_BASE64URL_H_INCLUDED_
#define _MICROSHOP_BASE64URL_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


/*
 * Decodes len characters of in into out, which holds outcap bytes.
 * Returns 0 with *outlen set, or -1 when in is not strict base64url or its
 * data would not fit in outcap bytes.
 */
int microshop_b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t outcap, size_t *outlen);

/*
 * Decodes the JSON string v into a malloc()ed *out.  Returns 0, or -1 (and
 * *out NULL, *outlen 0) when v is not a non-empty string of strict
 * base64url.
 */
int microshop_b64url_decode_json(json_t *v, unsigned char **out,
    size_t *outlen);

/*
 * Encodes len bytes of in as base64url without padding, NUL-terminated,
 * into out, which holds outcap bytes (MICROSHOP_B64URL_LEN(len) + 1 are
 * enough).  Returns 0, or -1 when out is too small.
 */
#define MICROSHOP_B64URL_LEN(len)  (((len) * 4 + 2) / 3)

int microshop_b64url_encode(const unsigned char *in, size_t len, char *out,
    size_t outcap);

#endif /* _MICROSHOP_BASE64URL_H_INCLUDED_ */
