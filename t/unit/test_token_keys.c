/*
 * ngx_microshop -- unit tests: algorithm names (microshop_token_keys.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "microshop_token_keys.h"


/* tests: algorithm names */

static void
test_alg_names(void **state)
{
    assert_int_equal(microshop_alg_from_name("RS256", 5), MICROSHOP_ALG_RS256);
    assert_int_equal(microshop_alg_from_name("ES512", 5), MICROSHOP_ALG_ES512);
    assert_int_equal(microshop_alg_from_name("HS384", 5), MICROSHOP_ALG_HS384);
    assert_int_equal(microshop_alg_from_name("hs256", 5),
                     MICROSHOP_ALG_UNKNOWN);
    assert_int_equal(microshop_alg_from_name("HS2566", 6),
                     MICROSHOP_ALG_UNKNOWN);
    assert_int_equal(microshop_alg_from_name("HS25", 4),
                     MICROSHOP_ALG_UNKNOWN);
    assert_int_equal(microshop_alg_from_name("none", 4),
                     MICROSHOP_ALG_UNKNOWN);
    assert_int_equal(microshop_alg_from_name("PS256", 5),
                     MICROSHOP_ALG_UNKNOWN);
    assert_int_equal(microshop_alg_from_name(NULL, 0), MICROSHOP_ALG_UNKNOWN);
    assert_string_equal(microshop_alg_name(MICROSHOP_ALG_ES384), "ES384");
    assert_string_equal(microshop_alg_name(MICROSHOP_ALG_UNKNOWN), "unknown");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alg_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
