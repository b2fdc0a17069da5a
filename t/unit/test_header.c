/*
 * ngx_microshop -- unit tests: what may be written into an HTTP header
 * (microshop_header.c): field values, auth-param text, sf-strings, and
 * header names as the backends read them.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "microshop_header.h"


#define U(s)  (const unsigned char *) (s)


static int
value_ok(const char *s)
{
    return microshop_header_value_ok(U(s), strlen(s));
}


static int
qtext_ok(const char *s)
{
    return microshop_header_qtext_ok(U(s), strlen(s));
}


static int
sf_ok(const char *s)
{
    return microshop_header_sf_string_ok(U(s), strlen(s));
}


static int
has_prefix(const char *name)
{
    return microshop_header_name_has_prefix(U(name), strlen(name),
                                            "x-microshop-");
}


static void
test_field_values(void **state)
{
    (void) state;

    assert_int_equal(value_ok(""), 1);
    assert_int_equal(value_ok("s1"), 1);
    assert_int_equal(value_ok("inventory:read orders:write"), 1);
    assert_int_equal(value_ok("a\tb"), 1);
    assert_int_equal(value_ok("\"gold\";q=8;w=4"), 1);
    assert_int_equal(value_ok("~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"), 1);
    /* obs-text: UTF-8 is carried as it is */
    assert_int_equal(value_ok("caf\xc3\xa9"), 1);
    assert_int_equal(value_ok("\xff"), 1);
}


static void
test_field_value_controls(void **state)
{
    unsigned int   c;
    unsigned char  s[3];

    (void) state;

    for (c = 0; c < 0x20; c++) {
        if (c == '\t') {
            continue;
        }

        s[0] = 'a';
        s[1] = (unsigned char) c;
        s[2] = 'b';
        assert_int_equal(microshop_header_value_ok(s, 3), 0);
        /* first and last byte count too */
        assert_int_equal(microshop_header_value_ok(s + 1, 2), 0);
        assert_int_equal(microshop_header_value_ok(s, 2), 0);
    }

    assert_int_equal(value_ok("a\x7f" "b"), 0);
    assert_int_equal(value_ok("s1\r\nX-Microshop-Seller: s2"), 0);
    assert_int_equal(value_ok("s1\nX-Microshop-Seller: s2"), 0);
    assert_int_equal(value_ok("s1\r"), 0);
    assert_int_equal(microshop_header_value_ok(U("a\0b"), 3), 0);
}


static void
test_field_value_edges(void **state)
{
    (void) state;

    /* a receiver strips them, and reads another value */
    assert_int_equal(value_ok(" s1"), 0);
    assert_int_equal(value_ok("s1 "), 0);
    assert_int_equal(value_ok("\ts1"), 0);
    assert_int_equal(value_ok("s1\t"), 0);
    assert_int_equal(value_ok(" "), 0);
    assert_int_equal(value_ok("s 1"), 1);
}


static void
test_qtext(void **state)
{
    unsigned int   c;
    unsigned char  s[1];

    (void) state;

    assert_int_equal(qtext_ok(""), 1);
    assert_int_equal(qtext_ok("token expired"), 1);
    assert_int_equal(qtext_ok("inventory:write orders:write"), 1);
    assert_int_equal(qtext_ok("a\"b"), 0);
    assert_int_equal(qtext_ok("a\\b"), 0);
    assert_int_equal(qtext_ok("a\tb"), 0);
    assert_int_equal(qtext_ok("caf\xc3\xa9"), 0);

    for (c = 0; c < 0x100; c++) {
        s[0] = (unsigned char) c;
        assert_int_equal(microshop_header_qtext_ok(s, 1),
                         c >= 0x20 && c <= 0x7e && c != '"' && c != '\\');
    }
}


static void
test_sf_string(void **state)
{
    unsigned int   c;
    unsigned char  s[1], out[64];
    size_t         n;

    (void) state;

    assert_int_equal(sf_ok("gold"), 1);
    assert_int_equal(sf_ok("a;b,c=d \"e\" \\f"), 1);
    assert_int_equal(sf_ok("caf\xc3\xa9"), 0);
    assert_int_equal(sf_ok("a\tb"), 0);

    for (c = 0; c < 0x100; c++) {
        s[0] = (unsigned char) c;
        assert_int_equal(microshop_header_sf_string_ok(s, 1),
                         c >= 0x20 && c <= 0x7e);
    }

    n = microshop_header_sf_string(out, U("gold"), 4);
    assert_int_equal(n, 6);
    assert_memory_equal(out, "\"gold\"", 6);

    n = microshop_header_sf_string(out, U(""), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\"\"", 2);

    n = microshop_header_sf_string(out, U("a\"b\\c;d,e"), 9);
    assert_int_equal(n, 13);
    assert_memory_equal(out, "\"a\\\"b\\\\c;d,e\"", 13);

    /* counting writes nothing and agrees */
    assert_int_equal(microshop_header_sf_string(NULL, U("a\"b\\c;d,e"), 9),
                     13);
    assert_int_equal(microshop_header_sf_string(NULL, U("\"\"\"\""), 4),
                     2 * 4 + 2);
}


static void
test_name_prefix(void **state)
{
    (void) state;

    assert_int_equal(has_prefix("X-Microshop-Seller"), 1);
    assert_int_equal(has_prefix("x-microshop-seller"), 1);
    assert_int_equal(has_prefix("X-MICROSHOP-SUB"), 1);
    assert_int_equal(has_prefix("x-microshop-"), 1);
    /* '_' and every other odd byte read as '-', as CGI and friends do */
    assert_int_equal(has_prefix("X-Microshop_Seller"), 1);
    assert_int_equal(has_prefix("x_microshop_seller"), 1);
    assert_int_equal(has_prefix("X_MICROSHOP-SUB"), 1);
    assert_int_equal(has_prefix("X.Microshop.Seller"), 1);
    assert_int_equal(has_prefix("X-Microshop~Seller"), 1);
    assert_int_equal(has_prefix("X-Microshop\xc2Seller"), 1);

    assert_int_equal(has_prefix("X-Microshop"), 0);
    assert_int_equal(has_prefix("X-Microshops"), 0);
    assert_int_equal(has_prefix("XMicroshop-Seller"), 0);
    assert_int_equal(has_prefix("X-Micro-shop-Seller"), 0);
    assert_int_equal(has_prefix("X-Other"), 0);
    assert_int_equal(has_prefix(""), 0);
    /* digits stay digits, letters stay letters */
    assert_int_equal(microshop_header_name_has_prefix(U("X-1"), 3, "x-1"),
                     1);
    assert_int_equal(microshop_header_name_has_prefix(U("X-1"), 3, "x-2"),
                     0);
    assert_int_equal(microshop_header_name_has_prefix(U("X@"), 2, "xa"), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_values),
        cmocka_unit_test(test_field_value_controls),
        cmocka_unit_test(test_field_value_edges),
        cmocka_unit_test(test_qtext),
        cmocka_unit_test(test_sf_string),
        cmocka_unit_test(test_name_prefix),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
