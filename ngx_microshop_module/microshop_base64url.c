/*
 * ngx_microshop -- strict base64url (RFC 7515 2, RFC 4648 5), pure logic,
 * no nginx headers; see microshop_base64url.h.
 */

#include <stdint.h>
#include <stdlib.h>

#include "microshop_base64url.h"


/* the value of a base64url character, 255 for any other byte */
static const unsigned char  microshop_b64url_values[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255,
     52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255, 255, 255, 255,
    255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
     15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255,  63,
    255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
     41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};


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
    size_t    i, n;
    uint32_t  acc;
    unsigned  a, b, c, d;

    if (len % 4 == 1 || microshop_b64url_decoded_len(len) > outcap) {
        return -1;
    }

    n = 0;

    /* four characters, three bytes at a time; a value of 255 anywhere
     * shows in the OR of the four */

    for (i = 0; i + 4 <= len; i += 4) {
        a = microshop_b64url_values[(unsigned char) in[i]];
        b = microshop_b64url_values[(unsigned char) in[i + 1]];
        c = microshop_b64url_values[(unsigned char) in[i + 2]];
        d = microshop_b64url_values[(unsigned char) in[i + 3]];

        if ((a | b | c | d) & 0xc0) {
            return -1;
        }

        acc = ((uint32_t) a << 18) | ((uint32_t) b << 12)
              | ((uint32_t) c << 6) | d;
        out[n++] = (unsigned char) (acc >> 16);
        out[n++] = (unsigned char) (acc >> 8);
        out[n++] = (unsigned char) acc;
    }

    /* the rest: 2 characters (1 byte) or 3 (2 bytes); the bits after the
     * last full byte must be zero */

    switch (len - i) {

    case 0:
        break;

    case 2:
        a = microshop_b64url_values[(unsigned char) in[i]];
        b = microshop_b64url_values[(unsigned char) in[i + 1]];

        if (((a | b) & 0xc0) || (b & 0x0f)) {
            return -1;
        }

        out[n++] = (unsigned char) ((a << 2) | (b >> 4));
        break;

    default: /* 3 */
        a = microshop_b64url_values[(unsigned char) in[i]];
        b = microshop_b64url_values[(unsigned char) in[i + 1]];
        c = microshop_b64url_values[(unsigned char) in[i + 2]];

        if (((a | b | c) & 0xc0) || (c & 0x03)) {
            return -1;
        }

        acc = ((uint32_t) a << 10) | ((uint32_t) b << 4) | (c >> 2);
        out[n++] = (unsigned char) (acc >> 8);
        out[n++] = (unsigned char) acc;
        break;
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
