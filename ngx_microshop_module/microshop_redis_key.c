/*
 * ngx_microshop: Redis key names, see microshop_redis_key.h.
 */

#include <string.h>

#include "microshop_redis_key.h"


static int
microshop_redis_key_raw(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~'
           || c == '-';
}


static int
microshop_redis_key_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    /* what the encoder writes is uppercase: one spelling per key */
    return -1;
}


size_t
microshop_redis_key_encode(unsigned char *dst, const unsigned char *src,
    size_t len)
{
    size_t          i;
    unsigned char  *p;

    static const char  hex[] = "0123456789ABCDEF";

    p = dst;

    for (i = 0; i < len; i++) {
        if (microshop_redis_key_raw(src[i])) {
            *p++ = src[i];
            continue;
        }

        *p++ = '%';
        *p++ = (unsigned char) hex[src[i] >> 4];
        *p++ = (unsigned char) hex[src[i] & 0x0f];
    }

    return (size_t) (p - dst);
}


size_t
microshop_redis_key_decode(unsigned char *dst, const unsigned char *src,
    size_t len)
{
    int             hi, lo;
    size_t          i;
    unsigned char  *p;

    p = dst;

    for (i = 0; i < len; i++) {
        if (microshop_redis_key_raw(src[i])) {
            *p++ = src[i];
            continue;
        }

        if (src[i] != '%' || len - i < 3) {
            return (size_t) -1;
        }

        hi = microshop_redis_key_hex(src[i + 1]);
        lo = microshop_redis_key_hex(src[i + 2]);

        if (hi < 0 || lo < 0 || microshop_redis_key_raw(hi << 4 | lo)) {
            /* a raw byte is never encoded: one spelling per key */
            return (size_t) -1;
        }

        *p++ = (unsigned char) (hi << 4 | lo);
        i += 2;
    }

    return (size_t) (p - dst);
}


size_t
microshop_redis_key_make(unsigned char *dst, const unsigned char *seller,
    size_t slen, const char *kind, const unsigned char *name, size_t nlen)
{
    size_t          klen;
    unsigned char  *p;

    p = dst;

    memcpy(p, "ms:{", 4);
    p += 4;
    p += microshop_redis_key_encode(p, seller, slen);
    *p++ = '}';
    *p++ = ':';

    klen = strlen(kind);
    memcpy(p, kind, klen);
    p += klen;

    if (name) {
        *p++ = ':';
        p += microshop_redis_key_encode(p, name, nlen);
    }

    return (size_t) (p - dst);
}


int
microshop_redis_key_split(const unsigned char *key, size_t len,
    const unsigned char **seller, size_t *slen, const unsigned char **name,
    size_t *nlen)
{
    const unsigned char  *nl;

    nl = len ? memchr(key, '\n', len) : NULL;
    if (nl == NULL) {
        return -1;
    }

    *seller = key;
    *slen = (size_t) (nl - key);
    *name = nl + 1;
    *nlen = len - *slen - 1;

    return 0;
}


size_t
microshop_redis_key_store(unsigned char *dst, const char *kind,
    const unsigned char *key, size_t len)
{
    size_t                slen, nlen;
    const unsigned char  *seller, *name;

    if (microshop_redis_key_split(key, len, &seller, &slen, &name, &nlen)
        != 0)
    {
        return microshop_redis_key_make(dst, key, len, kind, NULL, 0);
    }

    return microshop_redis_key_make(dst, seller, slen, kind, name, nlen);
}


size_t
microshop_redis_key_rate(unsigned char *dst, const unsigned char *key,
    size_t len)
{
    if (len >= 2 && key[0] == 's' && key[1] == ':') {
        /* a seller's bucket lives with the seller's other keys */
        return microshop_redis_key_make(dst, key + 2, len - 2, "rate",
                                        NULL, 0);
    }

    /*
     * a tag of its own, and a name a seller's bucket never has: a seller
     * called "k:v" (its bucket ms:{k%3Av}:rate) never meets key= "v"
     */
    return microshop_redis_key_make(dst, key, len, "rate",
                                    (const unsigned char *) "bucket", 6);
}


size_t
microshop_redis_key_inv_message(unsigned char *dst, const unsigned char *key,
    size_t len)
{
    size_t                slen, nlen;
    unsigned char        *p;
    const unsigned char  *seller, *name;

    if (microshop_redis_key_split(key, len, &seller, &slen, &name, &nlen)
        != 0)
    {
        return (size_t) -1;
    }

    p = dst;
    p += microshop_redis_key_encode(p, seller, slen);
    *p++ = '\n';
    p += microshop_redis_key_encode(p, name, nlen);

    return (size_t) (p - dst);
}


size_t
microshop_redis_key_inv_parse(unsigned char *dst, const unsigned char *msg,
    size_t len)
{
    size_t                slen, nlen, n, m;
    const unsigned char  *seller, *name;

    if (microshop_redis_key_split(msg, len, &seller, &slen, &name, &nlen)
        != 0)
    {
        return (size_t) -1;
    }

    n = microshop_redis_key_decode(dst, seller, slen);
    if (n == (size_t) -1) {
        return (size_t) -1;
    }

    dst[n] = '\n';

    m = microshop_redis_key_decode(dst + n + 1, name, nlen);
    if (m == (size_t) -1) {
        return (size_t) -1;
    }

    return n + 1 + m;
}
