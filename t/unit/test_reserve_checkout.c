/*
 * Unit tests of checkout body parsing (microshop_reserve_checkout.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "microshop_reserve_checkout.h"


static int
parse(const char *body, microshop_checkout_line_t *lines)
{
    const char  *err;

    return microshop_checkout_parse(body, strlen(body), lines,
                                    MICROSHOP_CHECKOUT_MAX_LINES, &err);
}


static void
test_valid_and_merged(void **state)
{
    microshop_checkout_line_t  lines[MICROSHOP_CHECKOUT_MAX_LINES];

    assert_int_equal(parse("{\"items\":[{\"sku\":\"A1\",\"quantity\":2},"
                           "{\"sku\":\"B2\",\"quantity\":1,\"note\":\"x\"},"
                           "{\"sku\":\"A1\",\"quantity\":3}],\"x\":1}",
                           lines), 2);
    assert_string_equal(lines[0].sku, "A1");
    assert_int_equal(lines[0].quantity, 5);
    assert_string_equal(lines[1].sku, "B2");
    assert_int_equal(lines[1].quantity, 1);
}


static void
test_invalid_bodies(void **state)
{
    static const char  *bad[] = {
        "", "not json", "[]", "{}", "{\"items\":[]}", "{\"items\":{}}",
        "{\"items\":[1]}",
        "{\"items\":[{\"quantity\":1}]}",
        "{\"items\":[{\"sku\":\"\",\"quantity\":1}]}",
        "{\"items\":[{\"sku\":7,\"quantity\":1}]}",
        "{\"items\":[{\"sku\":\"A\",\"quantity\":0}]}",
        "{\"items\":[{\"sku\":\"A\",\"quantity\":-2}]}",
        "{\"items\":[{\"sku\":\"A\",\"quantity\":1.5}]}",
        "{\"items\":[{\"sku\":\"A\",\"quantity\":\"1\"}]}",
        "{\"items\":[{\"sku\":\"A\"}]}",
        "{\"items\":[{\"sku\":\"A\\nB\",\"quantity\":1}]}",
        "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],"
        "\"items\":[{\"sku\":\"B\",\"quantity\":1}]}",
        "{\"items\":[{\"sku\":\"A\",\"quantity\":1,\"quantity\":9}]}",
        "{\"items\":[{\"sku\":\"A\",\"quantity\":2000000}]}",
        NULL
    };

    microshop_checkout_line_t  lines[MICROSHOP_CHECKOUT_MAX_LINES];
    int                        i;

    for (i = 0; bad[i]; i++) {
        assert_int_equal(parse(bad[i], lines), -1);
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_and_merged),
        cmocka_unit_test(test_invalid_bodies),
    };

    return cmocka_run_group_tests_name("checkout", tests, NULL, NULL);
}
