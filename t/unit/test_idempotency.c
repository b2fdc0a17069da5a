/*
 * Unit tests of idempotency keys and fingerprints (microshop_idempotency.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "microshop_idempotency.h"


static int
parse(const char *s, size_t *start, size_t *klen)
{
    return microshop_idem_key_parse((const unsigned char *) s, strlen(s),
                                    start, klen);
}


static void
test_bare_and_quoted_are_the_same_key(void **state)
{
    size_t  s, n;

    assert_int_equal(parse("order-123", &s, &n), 0);
    assert_int_equal(s, 0);
    assert_int_equal(n, 9);

    assert_int_equal(parse("\"order-123\"", &s, &n), 0);
    assert_int_equal(s, 1);
    assert_int_equal(n, 9);

    assert_int_equal(parse("a b", &s, &n), 0);

    /* inside an sf-string a comma is text */
    assert_int_equal(parse("\"a, b\"", &s, &n), 0);
    assert_int_equal(s, 1);
    assert_int_equal(n, 4);
}


static void
test_invalid_keys(void **state)
{
    size_t  s, n;
    char    big[300];

    assert_int_equal(parse("", &s, &n), -1);
    assert_int_equal(parse("\"\"", &s, &n), -1);
    assert_int_equal(parse("\"abc", &s, &n), -1);
    assert_int_equal(parse("abc\"", &s, &n), -1);
    assert_int_equal(parse("\"a\"b\"", &s, &n), -1);
    assert_int_equal(parse("\"a\\b\"", &s, &n), -1);
    assert_int_equal(parse("caf\xc3\xa9", &s, &n), -1);
    assert_int_equal(parse("tab\there", &s, &n), -1);

    /* a list (two headers folded into one) is not a key */
    assert_int_equal(parse("a, b", &s, &n), -1);
    assert_int_equal(parse("a,b", &s, &n), -1);
    assert_int_equal(parse(",", &s, &n), -1);
    assert_int_equal(parse("a,", &s, &n), -1);
    assert_int_equal(parse("\"a\", \"b\"", &s, &n), -1);
    assert_int_equal(parse("\"a\", b", &s, &n), -1);
    assert_int_equal(parse("a, \"b\"", &s, &n), -1);

    memset(big, 'k', sizeof(big));
    big[255] = '\0';
    assert_int_equal(parse(big, &s, &n), 0);
    big[255] = 'k';
    big[256] = '\0';
    assert_int_equal(parse(big, &s, &n), -1);
}


static void
fp(const char *method, const char *uri, const char *body, unsigned char *out)
{
    EVP_MD_CTX  *md;

    /* one context for every fingerprint, as a worker keeps one */
    static EVP_MD_CTX  *shared;

    if (shared == NULL) {
        shared = EVP_MD_CTX_new();
    }

    md = shared;
    assert_int_equal(EVP_DigestInit_ex2(md, EVP_sha256(), NULL), 1);
    assert_int_equal(microshop_fingerprint_begin(md,
                         (const unsigned char *) method, strlen(method),
                         (const unsigned char *) uri, strlen(uri),
                         strlen(body)), 0);
    assert_int_equal(microshop_fingerprint_update(md,
                         (const unsigned char *) body, strlen(body)), 0);
    assert_int_equal(microshop_fingerprint_finish(md, out), 0);
}


static void
test_fingerprints(void **state)
{
    unsigned char  a[32], b[32];

    fp("POST", "/v1/x?a=1", "{\"q\":1}", a);
    fp("POST", "/v1/x?a=1", "{\"q\":1}", b);
    assert_memory_equal(a, b, 32);

    fp("POST", "/v1/x?a=1", "{\"q\":2}", b);
    assert_memory_not_equal(a, b, 32);

    fp("PUT", "/v1/x?a=1", "{\"q\":1}", b);
    assert_memory_not_equal(a, b, 32);

    fp("POST", "/v1/x?a=2", "{\"q\":1}", b);
    assert_memory_not_equal(a, b, 32);

    /* bytes moved from the URI into the body make another fingerprint */
    fp("POST", "/v1/xy", "", a);
    fp("POST", "/v1/x", "y", b);
    assert_memory_not_equal(a, b, 32);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bare_and_quoted_are_the_same_key),
        cmocka_unit_test(test_invalid_keys),
        cmocka_unit_test(test_fingerprints),
    };

    return cmocka_run_group_tests_name("idempotency", tests, NULL, NULL);
}
