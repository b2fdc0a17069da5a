/*
 * ngx_microshop -- unit tests: the string helpers of the token files
 * (microshop_token_str.c), here the control-character check every text
 * claim passes before the gateway forwards it in a header.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "microshop_token_str.h"


static int
clean(const char *s)
{
    return microshop_text_is_clean(s, strlen(s));
}


static void
test_printable_is_clean(void **state)
{
    (void) state;

    assert_int_equal(clean(""), 1);
    assert_int_equal(clean("user-1 s1 inventory:read ~!\"#$%&'()*+,-./"), 1);
    /* UTF-8 beyond ASCII is text, not a control character */
    assert_int_equal(clean("caf\xc3\xa9"), 1);
}


static void
test_controls_are_refused(void **state)
{
    unsigned int  c;
    char          s[4];

    (void) state;

    for (c = 1; c < 0x20; c++) {
        s[0] = 'a';
        s[1] = (char) c;
        s[2] = 'b';
        s[3] = '\0';
        assert_int_equal(clean(s), 0);
    }

    assert_int_equal(clean("a\x7f" "b"), 0);
    assert_int_equal(clean("a\r\nX-Microshop-Seller: s2"), 0);
    /* a NUL inside the claim, as JSON "\u0000" gives it */
    assert_int_equal(microshop_text_is_clean("a\0b", 3), 0);
    /* the last byte counts too */
    assert_int_equal(clean("abc\n"), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_printable_is_clean),
        cmocka_unit_test(test_controls_are_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
