/*
 * Unit tests of the GCRA arithmetic (microshop_ratelimit_gcra.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "microshop_ratelimit_gcra.h"


#define SEC  1000000LL

/* 10 requests per second, burst 5: one unit refills in 100 ms */
#define INTERVAL  (SEC / 10)
#define BURST     5


static void
test_burst_then_limited(void **state)
{
    int64_t                  tat = 0, now = 1000 * SEC;
    int                      i;
    microshop_gcra_result_t  res;

    for (i = 0; i < BURST; i++) {
        microshop_gcra_apply(&tat, now, INTERVAL, BURST, 1, &res);
        assert_true(res.allowed);
        assert_int_equal(res.remaining, BURST - 1 - i);
        assert_int_equal(res.retry_after, 0);
        assert_int_equal(res.reset_after, (i + 1) * INTERVAL);
    }

    microshop_gcra_apply(&tat, now, INTERVAL, BURST, 1, &res);
    assert_false(res.allowed);
    assert_int_equal(res.remaining, 0);
    assert_int_equal(res.retry_after, INTERVAL);
    assert_int_equal(res.reset_after, BURST * INTERVAL);

    /* a refused request spends nothing */
    assert_int_equal(tat, now + BURST * INTERVAL);
}


static void
test_refill_at_rate(void **state)
{
    int64_t                  tat = 0, now = 1000 * SEC;
    int                      i;
    microshop_gcra_result_t  res;

    for (i = 0; i < BURST; i++) {
        microshop_gcra_apply(&tat, now, INTERVAL, BURST, 1, &res);
    }

    /* 99 ms later: still nothing */
    microshop_gcra_apply(&tat, now + INTERVAL - 1000, INTERVAL, BURST, 1,
                         &res);
    assert_false(res.allowed);
    assert_int_equal(res.retry_after, 1000);

    /* 100 ms later: exactly one */
    microshop_gcra_apply(&tat, now + INTERVAL, INTERVAL, BURST, 1, &res);
    assert_true(res.allowed);
    assert_int_equal(res.remaining, 0);

    microshop_gcra_apply(&tat, now + INTERVAL, INTERVAL, BURST, 1, &res);
    assert_false(res.allowed);

    /* after a long pause the bucket is full, not fuller */
    microshop_gcra_apply(&tat, now + 3600 * SEC, INTERVAL, BURST, 1, &res);
    assert_true(res.allowed);
    assert_int_equal(res.remaining, BURST - 1);
}


static void
test_cost(void **state)
{
    int64_t                  tat = 0, now = 50 * SEC;
    microshop_gcra_result_t  res;

    microshop_gcra_apply(&tat, now, INTERVAL, BURST, 3, &res);
    assert_true(res.allowed);
    assert_int_equal(res.remaining, 2);

    /* 3 more do not fit in the 2 left; the refusal says when they would */
    microshop_gcra_apply(&tat, now, INTERVAL, BURST, 3, &res);
    assert_false(res.allowed);
    assert_int_equal(res.remaining, 2);
    assert_int_equal(res.retry_after, INTERVAL);

    microshop_gcra_apply(&tat, now, INTERVAL, BURST, 2, &res);
    assert_true(res.allowed);
    assert_int_equal(res.remaining, 0);

    /* a cost above the burst never passes */
    tat = 0;
    microshop_gcra_apply(&tat, now, INTERVAL, BURST, BURST + 1, &res);
    assert_false(res.allowed);
}


static void
test_clock_going_backwards(void **state)
{
    int64_t                  tat = 0, now = 1000 * SEC;
    int                      i;
    microshop_gcra_result_t  res;

    for (i = 0; i < BURST; i++) {
        microshop_gcra_apply(&tat, now, INTERVAL, BURST, 1, &res);
    }

    /* the clock steps back an hour: the key is not locked out for an hour */
    microshop_gcra_apply(&tat, now - 3600 * SEC, INTERVAL, BURST, 1, &res);
    assert_false(res.allowed);
    assert_int_equal(res.retry_after, INTERVAL);
    assert_int_equal(res.reset_after, BURST * INTERVAL);

    microshop_gcra_apply(&tat, now - 3600 * SEC + INTERVAL, INTERVAL, BURST,
                         1, &res);
    assert_true(res.allowed);
}


static void
test_seconds_round_up(void **state)
{
    assert_int_equal(microshop_gcra_seconds_ceil(0), 0);
    assert_int_equal(microshop_gcra_seconds_ceil(-5), 0);
    assert_int_equal(microshop_gcra_seconds_ceil(1), 1);
    assert_int_equal(microshop_gcra_seconds_ceil(SEC), 1);
    assert_int_equal(microshop_gcra_seconds_ceil(SEC + 1), 2);
    assert_int_equal(microshop_gcra_seconds_ceil(60 * SEC - 1), 60);
}


static void
test_per_minute_rate(void **state)
{
    /* 2 requests a minute, burst 1 */
    int64_t                  tat = 0, now = 7 * SEC, interval = 30 * SEC;
    microshop_gcra_result_t  res;

    microshop_gcra_apply(&tat, now, interval, 1, 1, &res);
    assert_true(res.allowed);
    microshop_gcra_apply(&tat, now + SEC, interval, 1, 1, &res);
    assert_false(res.allowed);
    assert_int_equal(microshop_gcra_seconds_ceil(res.retry_after), 29);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_limited),
        cmocka_unit_test(test_refill_at_rate),
        cmocka_unit_test(test_cost),
        cmocka_unit_test(test_clock_going_backwards),
        cmocka_unit_test(test_seconds_round_up),
        cmocka_unit_test(test_per_minute_rate),
    };

    return cmocka_run_group_tests_name("gcra", tests, NULL, NULL);
}
