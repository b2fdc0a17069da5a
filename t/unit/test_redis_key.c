/*
 * ngx_microshop -- unit tests: the Redis back end's key names
 * (microshop_redis_key.c, docs/redis.md "Keys").
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "microshop_redis_key.h"


#define S(lit)  (const unsigned char *) (lit), sizeof(lit) - 1


static char  out[1024];


static const char *
encoded(const unsigned char *src, size_t len)
{
    size_t  n;

    n = microshop_redis_key_encode((unsigned char *) out, src, len);
    out[n] = '\0';

    return out;
}


static void
test_encode(void **state)
{
    assert_string_equal(encoded(S("acme")), "acme");
    assert_string_equal(encoded(S("A-z_0.9~")), "A-z_0.9~");
    /* the hash tag's braces, the separator and the escape are encoded */
    assert_string_equal(encoded(S("{a}:b%")), "%7Ba%7D%3Ab%25");
    assert_string_equal(encoded(S("a b/c\n")), "a%20b%2Fc%0A");
    assert_string_equal(encoded(S("\x01" "10.0.0.1")), "%0110.0.0.1");
    assert_string_equal(encoded(S("\xff\x80")), "%FF%80");
    assert_string_equal(encoded(S("")), "");
}


static void
test_decode(void **state)
{
    size_t         n;
    unsigned char  buf[64];

    n = microshop_redis_key_decode(buf, S("%7Ba%7D%3Ab%25"));
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "{a}:b%", 6);

    n = microshop_redis_key_decode(buf, S("%FF%00x"));
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "\xff\0x", 3);

    /* one spelling per key: lowercase hex, an encoded raw byte, a raw
     * byte that is always encoded, a cut escape are no encodings */
    assert_true(microshop_redis_key_decode(buf, S("%7b")) == (size_t) -1);
    assert_true(microshop_redis_key_decode(buf, S("%41")) == (size_t) -1);
    assert_true(microshop_redis_key_decode(buf, S("a:b")) == (size_t) -1);
    assert_true(microshop_redis_key_decode(buf, S("a%7")) == (size_t) -1);
    assert_true(microshop_redis_key_decode(buf, S("%")) == (size_t) -1);
    assert_true(microshop_redis_key_decode(buf, S("%G0")) == (size_t) -1);
}


static void
test_roundtrip(void **state)
{
    size_t         n, m, i;
    unsigned char  all[256], enc[768], dec[256];

    for (i = 0; i < 256; i++) {
        all[i] = (unsigned char) i;
    }

    n = microshop_redis_key_encode(enc, all, 256);
    assert_true(n <= 3 * 256);
    assert_null(memchr(enc, '{', n));
    assert_null(memchr(enc, '}', n));
    assert_null(memchr(enc, ':', n));

    m = microshop_redis_key_decode(dec, enc, n);
    assert_int_equal(m, 256);
    assert_memory_equal(dec, all, 256);
}


static const char *
store_key(const char *kind, const unsigned char *key, size_t len)
{
    size_t  n;

    assert_true(MICROSHOP_REDIS_KEY_LEN(len, strlen(kind), len)
                < sizeof(out));

    n = microshop_redis_key_store((unsigned char *) out, kind, key, len);
    out[n] = '\0';

    return out;
}


static void
test_store(void **state)
{
    assert_string_equal(store_key("inv", S("acme\nsku-1")),
                        "ms:{acme}:inv:sku-1");
    assert_string_equal(store_key("stock", S("a:b\nx/y")),
                        "ms:{a%3Ab}:stock:x%2Fy");
    /* the first '\n' splits: a name may hold one */
    assert_string_equal(store_key("idem", S("acme\nk\ney")),
                        "ms:{acme}:idem:k%0Aey");
    /* a client's key: its seller is the address */
    assert_string_equal(store_key("idem", S("\x01" "127.0.0.1\nkey")),
                        "ms:{%01127.0.0.1}:idem:key");
    /* an empty name still has its ':' */
    assert_string_equal(store_key("idem", S("acme\n")), "ms:{acme}:idem:");
    /* no '\n': a seller of its own, no name, no ':' */
    assert_string_equal(store_key("idem", S("acme")), "ms:{acme}:idem");
    /* a seller whose name looks like a key of another one stays apart */
    assert_string_equal(store_key("inv", S("a}:inv:b\nc")),
                        "ms:{a%7D%3Ainv%3Ab}:inv:c");
}


static const char *
rate_key(const unsigned char *key, size_t len)
{
    size_t  n;

    n = microshop_redis_key_rate((unsigned char *) out, key, len);
    out[n] = '\0';

    return out;
}


static void
test_rate(void **state)
{
    /* a seller's bucket: the seller's tag */
    assert_string_equal(rate_key(S("s:acme")), "ms:{acme}:rate");
    assert_string_equal(rate_key(S("s:a{b}")), "ms:{a%7Bb%7D}:rate");
    /* the others: the whole key is the tag */
    assert_string_equal(rate_key(S("k:v1")), "ms:{k%3Av1}:rate:bucket");
    assert_string_equal(rate_key(S("a:10.0.0.1")), "ms:{a%3A10.0.0.1}:rate:bucket");
    assert_string_equal(rate_key(S("S:abc-_")), "ms:{S%3Aabc-_}:rate:bucket");
    assert_string_equal(rate_key(S("K:abc")), "ms:{K%3Aabc}:rate:bucket");
    assert_string_equal(rate_key(S("s")), "ms:{s}:rate:bucket");
    assert_string_equal(rate_key(S("s:")), "ms:{}:rate");
    /* a seller named like a key= bucket has a bucket of its own */
    assert_string_equal(rate_key(S("s:k:v1")), "ms:{k%3Av1}:rate");
}


static void
test_inv_message(void **state)
{
    size_t         n, m;
    unsigned char  msg[64], key[64];

    n = microshop_redis_key_inv_message(msg, S("a:b\nsku\n1"));
    assert_int_equal(n, sizeof("a%3Ab\nsku%0A1") - 1);
    assert_memory_equal(msg, "a%3Ab\nsku%0A1", n);

    m = microshop_redis_key_inv_parse(key, msg, n);
    assert_int_equal(m, sizeof("a:b\nsku\n1") - 1);
    assert_memory_equal(key, "a:b\nsku\n1", m);

    assert_true(microshop_redis_key_inv_message(msg, S("nosku"))
                == (size_t) -1);
    assert_true(microshop_redis_key_inv_parse(key, S("nosku"))
                == (size_t) -1);
    assert_true(microshop_redis_key_inv_parse(key, S("a:b\nc"))
                == (size_t) -1);
    assert_true(microshop_redis_key_inv_parse(key, S("a\nc%zz"))
                == (size_t) -1);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_store),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_inv_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
