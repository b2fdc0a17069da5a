/*
 * Idempotency keys and request fingerprints, see microshop_idempotency.h.
 */

#include <stdint.h>
#include <string.h>

#include "microshop_idempotency.h"


int
microshop_idem_key_parse(const unsigned char *in, size_t len, size_t *start,
    size_t *klen)
{
    size_t  i, s, n;
    int     quoted;

    quoted = (len >= 2 && in[0] == '"' && in[len - 1] == '"');

    s = quoted ? 1 : 0;
    n = quoted ? len - 2 : len;

    if (n == 0 || n > MICROSHOP_IDEM_KEY_MAX) {
        return -1;
    }

    for (i = s; i < s + n; i++) {
        if (in[i] < 0x20 || in[i] > 0x7e) {
            return -1;
        }

        if (quoted && (in[i] == '"' || in[i] == '\\')) {
            return -1;
        }

        /* a bare comma separates list members: "a, b" is two keys */
        if (!quoted && in[i] == ',') {
            return -1;
        }
    }

    /* a lone quote at one end is not an sf-string */
    if (!quoted && (in[0] == '"' || in[len - 1] == '"')) {
        return -1;
    }

    *start = s;
    *klen = n;

    return 0;
}


static int
microshop_fingerprint_length(EVP_MD_CTX *md, unsigned long long len)
{
    int            i;
    unsigned char  b[8];

    for (i = 0; i < 8; i++) {
        b[i] = (unsigned char) (len >> (56 - 8 * i));
    }

    return EVP_DigestUpdate(md, b, sizeof(b));
}


int
microshop_fingerprint_begin(EVP_MD_CTX *md, const unsigned char *method,
    size_t method_len, const unsigned char *uri, size_t uri_len,
    unsigned long long body_len)
{
    if (microshop_fingerprint_length(md, method_len) != 1
        || EVP_DigestUpdate(md, method, method_len) != 1
        || microshop_fingerprint_length(md, uri_len) != 1
        || EVP_DigestUpdate(md, uri, uri_len) != 1
        || microshop_fingerprint_length(md, body_len) != 1)
    {
        return -1;
    }

    return 0;
}


int
microshop_fingerprint_update(EVP_MD_CTX *md, const unsigned char *data,
    size_t len)
{
    return EVP_DigestUpdate(md, data, len) == 1 ? 0 : -1;
}


int
microshop_fingerprint_finish(EVP_MD_CTX *md, unsigned char *out)
{
    unsigned int  n;

    return (EVP_DigestFinal_ex(md, out, &n) == 1 && n == 32) ? 0 : -1;
}
