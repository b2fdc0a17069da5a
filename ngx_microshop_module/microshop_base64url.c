/*
 * ngx_microshop -- strict base64url (RFC 7515 2, RFC 4648 5), pure logic,
 * no nginx headers; see microshop_base64url.h.
 */

#include <stdint.h>
#include <stdlib.h>

#include "microshop_base64url.h"


static int
microshop_b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '-') {
        return 62;
    }

    if (c == '_') {
        return 63;
    }

    return -1;
}


static size_t
microshop_b64url_decoded_len(size_t len)
{
    return len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
}


/*
 * No padding, no characters outside the alphabet, no length that is 1 mod 4
 * and no non-zero bits after the last full byte (non-canonical).
 */
int
microshop_b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t outcap, size_t *outlen)
{
    int       v;
    size_t    i, n;
    uint32_t  acc;
    unsigned  bits;

    if (len % 4 == 1 || microshop_b64url_decoded_len(len) > outcap) {
        return -1;
    }

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        v = microshop_b64url_value((unsigned char) in[i]);
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    if (acc != 0) {
        return -1;
    }

    *outlen = n;

    return 0;
}


int
microshop_b64url_decode_json(json_t *v, unsigned char **out, size_t *outlen)
{
    size_t          len, cap;
    unsigned char  *buf;

    *out = NULL;
    *outlen = 0;

    if (!json_is_string(v)) {
        return -1;
    }

    len = json_string_length(v);
    if (len == 0) {
        return -1;
    }

    cap = microshop_b64url_decoded_len(len) + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        return -1;
    }

    if (microshop_b64url_decode(json_string_value(v), len, buf, cap, outlen)
        != 0)
    {
        free(buf);
        return -1;
    }

    *out = buf;

    return 0;
}


int
microshop_b64url_encode(const unsigned char *in, size_t len, char *out,
    size_t outcap)
{
    size_t         i, n;
    unsigned long  v;

    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    if (outcap == 0 || MICROSHOP_B64URL_LEN(len) > outcap - 1) {
        return -1;
    }

    n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        v = ((unsigned long) in[i] << 16) | ((unsigned long) in[i + 1] << 8)
            | in[i + 2];
        out[n++] = alphabet[(v >> 18) & 0x3f];
        out[n++] = alphabet[(v >> 12) & 0x3f];
        out[n++] = alphabet[(v >> 6) & 0x3f];
        out[n++] = alphabet[v & 0x3f];
    }

    if (len - i == 1) {
        v = (unsigned long) in[i] << 16;
        out[n++] = alphabet[(v >> 18) & 0x3f];
        out[n++] = alphabet[(v >> 12) & 0x3f];

    } else if (len - i == 2) {
        v = ((unsigned long) in[i] << 16) | ((unsigned long) in[i + 1] << 8);
        out[n++] = alphabet[(v >> 18) & 0x3f];
        out[n++] = alphabet[(v >> 12) & 0x3f];
        out[n++] = alphabet[(v >> 6) & 0x3f];
    }

    out[n] = '\0';

    return 0;
}
