/*
 * Unit tests of the Authorization header parser (microshop_token_bearer.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "microshop_token_bearer.h"


static int
parse_n(const char *s, size_t len, size_t *start, size_t *tlen)
{
    return microshop_bearer_parse((const unsigned char *) s, len, start,
                                  tlen);
}


static int
parse(const char *s, size_t *start, size_t *tlen)
{
    return parse_n(s, strlen(s), start, tlen);
}


/* the value is one token68 and the token is want */
static void
assert_token(const char *value, const char *want)
{
    size_t  s = 999, n = 999;

    if (parse(value, &s, &n) != MICROSHOP_BEARER_OK) {
        fail_msg("refused: \"%s\"", value);
    }

    assert_int_equal(n, strlen(want));
    assert_memory_equal(value + s, want, n);
}


static void
assert_rc(const char *value, size_t len, int want)
{
    size_t  s = 999, n = 999;
    int     rc;

    rc = parse_n(value, len, &s, &n);

    if (rc != want) {
        fail_msg("\"%.*s\": %d, want %d", (int) len, value, rc, want);
    }

    if (rc != MICROSHOP_BEARER_OK) {
        /* untouched */
        assert_int_equal(s, 999);
        assert_int_equal(n, 999);
    }
}


static void
test_tokens(void **state)
{
    assert_token("Bearer abc", "abc");
    assert_token("bearer abc", "abc");
    assert_token("BEARER abc", "abc");
    assert_token("bEaReR abc", "abc");
    assert_token("Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
                 "eyJhbGciOiJFUzI1NiJ9.e30.c2ln");
    assert_token("Bearer A-Za-z0-9._~+/", "A-Za-z0-9._~+/");
    assert_token("Bearer x", "x");
    assert_token("Bearer x=", "x=");
    assert_token("Bearer x==", "x==");
    assert_token("Bearer ..", "..");

    /* 1*SP before, spaces after */
    assert_token("Bearer    abc", "abc");
    assert_token("Bearer abc   ", "abc");
    assert_token("Bearer  a.b.c  ", "a.b.c");
    assert_token("Bearer abc\t", "abc");
    assert_token("Bearer abc \t ", "abc");
}


static void
test_other_schemes_are_no_token(void **state)
{
    static const char  *none[] = {
        "", "B", "Beare", "Basic dXNlcjpwYXNzd29yZA==", "Bearerx",
        "Bearer\tabc", "Bearer,abc", "Bearer=abc", "Bearer_abc",
        " Bearer abc", "Beaver abc", "Bearerabc", "Digest a=b",
        "Bear\xc5r abc", "DPoP abc",
    };
    size_t  i;

    for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        assert_rc(none[i], strlen(none[i]), MICROSHOP_BEARER_NONE);
    }

    /* an embedded NUL after the scheme word */
    assert_rc("Bearer\0abc", 10, MICROSHOP_BEARER_NONE);
}


static void
test_not_one_token68_is_malformed(void **state)
{
    static const char  *bad[] = {
        "Bearer", "bearer", "Bearer ", "Bearer  ", "Bearer      ",
        /* two words */
        "Bearer a b", "Bearer a.b.c d", "Bearer a\tb", "Bearer \tabc",
        /* '=' only at the end, and never alone */
        "Bearer =", "Bearer ===", "Bearer a=b", "Bearer a==b=",
        "Bearer =abc",
        /* bytes outside token68 */
        "Bearer !!!.@@@.###", "Bearer a,b", "Bearer a;b", "Bearer \"abc\"",
        "Bearer a\\b", "Bearer a%2Eb", "Bearer a:b", "Bearer a*b",
        "Bearer a\rb", "Bearer a\nb", "Bearer a\x7f", "Bearer a\x01",
        "Bearer caf\xc3\xa9", "Bearer \xff", "Bearer a\x80",
        /* auth-params are not a token68 */
        "Bearer token=abc, realm=x",
    };
    size_t  i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_rc(bad[i], strlen(bad[i]), MICROSHOP_BEARER_MALFORMED);
    }

    /* a NUL inside or after the token */
    assert_rc("Bearer a\0b", 10, MICROSHOP_BEARER_MALFORMED);
    assert_rc("Bearer ab\0", 10, MICROSHOP_BEARER_MALFORMED);
}


static void
test_every_byte(void **state)
{
    char        v[16];
    int         c, want;
    const char *ok = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789-._~+/";

    for (c = 0; c < 256; c++) {
        memcpy(v, "Bearer a?b", 10);
        v[8] = (char) c;
        want = (c != 0 && strchr(ok, c) != NULL) ? MICROSHOP_BEARER_OK
                                                 : MICROSHOP_BEARER_MALFORMED;
        assert_rc(v, 10, want);
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_other_schemes_are_no_token),
        cmocka_unit_test(test_not_one_token68_is_malformed),
        cmocka_unit_test(test_every_byte),
    };

    return cmocka_run_group_tests_name("token_bearer", tests, NULL, NULL);
}
