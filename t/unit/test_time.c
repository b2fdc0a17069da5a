/*
 * ngx_microshop -- unit tests: bounded time arithmetic (microshop_time.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "microshop_time.h"


static void
test_add(void **state)
{
    assert_true(microshop_time_add(1, 2) == 3);
    assert_true(microshop_time_add(-5, 2) == -3);
    assert_true(microshop_time_add(INT64_MAX, 0) == INT64_MAX);
    assert_true(microshop_time_add(INT64_MAX, 1) == INT64_MAX);
    assert_true(microshop_time_add(INT64_MAX - 1, 1) == INT64_MAX);
    assert_true(microshop_time_add(INT64_MAX, INT64_MAX) == INT64_MAX);
    assert_true(microshop_time_add(INT64_MIN, -1) == INT64_MIN);
    assert_true(microshop_time_add(INT64_MIN, INT64_MIN) == INT64_MIN);
    assert_true(microshop_time_add(INT64_MIN, INT64_MAX) == -1);
    assert_true(microshop_time_add(INT64_MAX, INT64_MIN) == -1);
    assert_true(microshop_time_add((int64_t) 1 << 62, (int64_t) 1 << 62)
                == INT64_MAX);
}


static void
test_ms(void **state)
{
    assert_true(microshop_time_ms(0) == 0);
    assert_true(microshop_time_ms(1700000000) == 1700000000000);
    assert_true(microshop_time_ms(-2) == -2000);
    assert_true(microshop_time_ms(MICROSHOP_TIME_MAX)
                == MICROSHOP_TIME_MAX * 1000);
    assert_true(microshop_time_ms(INT64_MAX / 1000) == INT64_MAX / 1000 * 1000);
    assert_true(microshop_time_ms(INT64_MAX / 1000 + 1) == INT64_MAX);
    assert_true(microshop_time_ms(INT64_MAX) == INT64_MAX);
    assert_true(microshop_time_ms((int64_t) 1 << 62) == INT64_MAX);
    assert_true(microshop_time_ms(INT64_MIN / 1000) == INT64_MIN / 1000 * 1000);
    assert_true(microshop_time_ms(INT64_MIN / 1000 - 1) == INT64_MIN);
    assert_true(microshop_time_ms(INT64_MIN) == INT64_MIN);
}


static void
test_bounds(void **state)
{
    /* the bounds keep every sum the gateway makes far from overflow */
    assert_true(MICROSHOP_TIME_MAX == 253402300799);
    assert_true(MICROSHOP_TIME_SPAN_MAX == 3153600000);
    assert_true((MICROSHOP_TIME_MAX + MICROSHOP_TIME_SPAN_MAX) * 1000
                < INT64_MAX / 1000);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_ms),
        cmocka_unit_test(test_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
