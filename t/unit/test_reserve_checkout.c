/*
 * Unit tests of checkout body parsing (microshop_reserve_checkout.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "microshop_reserve_checkout.h"


static int
parse_err(const char *body, microshop_checkout_line_t *lines,
    const char **err)
{
    *err = NULL;

    return microshop_checkout_parse(body, strlen(body), lines,
                                    MICROSHOP_CHECKOUT_MAX_LINES, err);
}


static int
parse(const char *body, microshop_checkout_line_t *lines)
{
    const char  *err;

    return parse_err(body, lines, &err);
}


static void
test_valid_and_merged(void **state)
{
    microshop_checkout_line_t  lines[MICROSHOP_CHECKOUT_MAX_LINES];

    /* other top-level members pass, whatever they hold */
    assert_int_equal(parse("{\"items\":[{\"sku\":\"A1\",\"quantity\":2},"
                           "{\"quantity\":1,\"sku\":\"B2\"},"
                           "{\"sku\":\"A\\u0031\",\"quantity\":3}],"
                           "\"x\":1,\"note\":\"ring twice\","
                           "\"customer\":{\"Items\":[1],\"sku\":\"Z\"},"
                           "\"items2\":[],\"item\":0,\"line_items\":[]}",
                           lines), 2);
    assert_string_equal(lines[0].sku, "A1");
    assert_int_equal(lines[0].quantity, 5);
    assert_string_equal(lines[1].sku, "B2");
    assert_int_equal(lines[1].quantity, 1);

    assert_int_equal(parse("{\"items\":[{\"sku\":\"A\",\"quantity\":1000000}"
                           "]}", lines), 1);
    assert_int_equal(lines[0].quantity, 1000000);

    /* UTF-8 SKUs are text like any other */
    assert_int_equal(parse("{\"items\":[{\"sku\":\"\\u017fku\",\"quantity\":1"
                           "}]}", lines), 1);
    assert_string_equal(lines[0].sku, "\xc5\xbf" "ku");
}


typedef struct {
    const char  *body;
    const char  *err;            /* a part of the message */
} bad_body_t;


static void
test_invalid_bodies(void **state)
{
    static const bad_body_t  bad[] = {

        /* not one JSON object */
        { "", "not valid JSON" },
        { "not json", "not valid JSON" },
        { "[]", "not a JSON object" },
        { "\xef\xbb\xbf{\"items\":[{\"sku\":\"A\",\"quantity\":1}]}",
          "not valid JSON" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}]} {}",
          "not valid JSON" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}]}x",
          "not valid JSON" },
        { "{\"items\":[{\"sku\":\"A\xff\",\"quantity\":1}]}",
          "not valid JSON" },
        { "{\"items\":[{\"sku\":\"A\\ud800\",\"quantity\":1}]}",
          "not valid JSON" },
        { "{\"items\":[{\"sku\":\"A\\u0000\",\"quantity\":1}]}",
          "not valid JSON" },
        { "{\"items\\u0000\":[],\"items\":[{\"sku\":\"A\",\"quantity\":1}]}",
          "not valid JSON" },

        /* a name twice, however it is spelled */
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],"
          "\"items\":[{\"sku\":\"B\",\"quantity\":1}]}", "twice" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],"
          "\"it\\u0065ms\":[{\"sku\":\"B\",\"quantity\":1}]}", "twice" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1,\"quantity\":9}]}",
          "twice" },
        { "{\"items\":[{\"sku\":\"A\",\"s\\u006bu\":\"B\",\"quantity\":1}]}",
          "twice" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],\"n\":1,\"n\":2}",
          "twice" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],"
          "\"c\":{\"a\":1,\"a\":2}}", "twice" },

        /* "items" in another spelling, with or without "items" itself */
        { "{\"Items\":[{\"sku\":\"A\",\"quantity\":1}]}", "spells \"items\"" },
        { "{\"ITEMS\":[{\"sku\":\"A\",\"quantity\":1}]}", "spells \"items\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],"
          "\"Items\":[{\"sku\":\"A\",\"quantity\":120}]}", "spells \"items\"" },
        { "{\"iTeMs\":[],\"items\":[{\"sku\":\"A\",\"quantity\":1}]}",
          "spells \"items\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],\"item\\u017f\":[]}",
          "spells \"items\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],\"item\xc5\xbf\":[]}",
          "spells \"items\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],\"\\u0131tems\":[]}",
          "spells \"items\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],\"\\u0130TEMS\":[]}",
          "spells \"items\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],\"_items\":[]}",
          "spells \"items\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],\"it-ems\":[]}",
          "spells \"items\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1}],\"Items_\":[]}",
          "spells \"items\"" },

        /* "sku" and "quantity" in another spelling */
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1,\"Quantity\":120}]}",
          "spells \"sku\" or \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"QUANTITY\":120}]}",
          "spells \"sku\" or \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1,\"quant\\u0131ty\":9}]}",
          "spells \"sku\" or \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1,\"quantity_\":9}]}",
          "spells \"sku\" or \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"SKU\":\"B\",\"quantity\":1}]}",
          "spells \"sku\" or \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"Sku\":\"B\",\"quantity\":1}]}",
          "spells \"sku\" or \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"\\u017fku\":\"B\",\"quantity\":1}]}",
          "spells \"sku\" or \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"s\\u212au\":\"B\",\"quantity\":1}]}",
          "spells \"sku\" or \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"s\xe2\x84\xaau\":\"B\",\"quantity\":1"
          "}]}", "spells \"sku\" or \"quantity\"" },
        { "{\"items\":[{\"s-k-u\":\"A\",\"quantity\":1}]}",
          "spells \"sku\" or \"quantity\"" },

        /* an item holds nothing else */
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1,\"note\":\"x\"}]}",
          "only \"sku\" and \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1,\"qty\":120}]}",
          "only \"sku\" and \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1,\"price\":0}]}",
          "only \"sku\" and \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1,\"\":0}]}",
          "only \"sku\" and \"quantity\"" },

        /* items */
        { "{}", "\"items\" must be" },
        { "{\"items\":[]}", "\"items\" must be" },
        { "{\"items\":{}}", "\"items\" must be" },
        { "{\"items\":null}", "\"items\" must be" },
        { "{\"items\":\"[]\"}", "\"items\" must be" },
        { "{\"items\":[1]}", "must be an object" },
        { "{\"items\":[null]}", "must be an object" },
        { "{\"items\":[[{\"sku\":\"A\",\"quantity\":1}]]}",
          "must be an object" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1},\"B\"]}",
          "must be an object" },

        /* sku */
        { "{\"items\":[{\"quantity\":1}]}", "\"sku\" string" },
        { "{\"items\":[{\"sku\":7,\"quantity\":1}]}", "\"sku\" string" },
        { "{\"items\":[{\"sku\":null,\"quantity\":1}]}", "\"sku\" string" },
        { "{\"items\":[{\"sku\":[\"A\"],\"quantity\":1}]}", "\"sku\" string" },
        { "{\"items\":[{\"sku\":\"\",\"quantity\":1}]}", "control" },
        { "{\"items\":[{\"sku\":\"A\\nB\",\"quantity\":1}]}", "control" },
        { "{\"items\":[{\"sku\":\"A\\tB\",\"quantity\":1}]}", "control" },
        { "{\"items\":[{\"sku\":\"A\\r\",\"quantity\":1}]}", "control" },
        { "{\"items\":[{\"sku\":\"A\\u007f\",\"quantity\":1}]}", "control" },
        { "{\"items\":[{\"sku\":\"A\x01\",\"quantity\":1}]}",
          "not valid JSON" },

        /* quantity: a plain positive integer and nothing that looks like
         * one to some backend */
        { "{\"items\":[{\"sku\":\"A\"}]}", "integer \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1.5}]}",
          "integer \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":3.0}]}",
          "integer \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":3e0}]}",
          "integer \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1E2}]}",
          "integer \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":\"1\"}]}",
          "integer \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":true}]}",
          "integer \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":null}]}",
          "integer \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":[3]}]}",
          "integer \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":{\"n\":3}}]}",
          "integer \"quantity\"" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":0}]}", "positive" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":-0}]}", "positive" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":-2}]}", "positive" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":2000000}]}", "positive" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":9223372036854775807}]}",
          "positive" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":600000},"
          "{\"sku\":\"A\",\"quantity\":600000}]}", "positive" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":99999999999999999999}]}",
          "not valid JSON" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":1e400}]}",
          "not valid JSON" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":03}]}",
          "not valid JSON" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":+3}]}",
          "not valid JSON" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":0x3}]}",
          "not valid JSON" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":Infinity}]}",
          "not valid JSON" },
        { "{\"items\":[{\"sku\":\"A\",\"quantity\":NaN}]}",
          "not valid JSON" },
    };

    microshop_checkout_line_t  lines[MICROSHOP_CHECKOUT_MAX_LINES];
    const char                *err;
    size_t                     i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_err(bad[i].body, lines, &err) != -1
            || err == NULL || strstr(err, bad[i].err) == NULL)
        {
            fail_msg("%s: \"%s\", not \"%s\"", bad[i].body,
                     err ? err : "(accepted)", bad[i].err);
        }
    }
}


static void
test_too_many_and_too_long(void **state)
{
    char                       body[8192], *p;
    microshop_checkout_line_t  lines[MICROSHOP_CHECKOUT_MAX_LINES];
    const char                *err;
    int                        i;

    /* 100 lines pass, 101 do not */
    p = body + sprintf(body, "{\"items\":[");
    for (i = 0; i < MICROSHOP_CHECKOUT_MAX_LINES; i++) {
        p += sprintf(p, "%s{\"sku\":\"S%d\",\"quantity\":1}", i ? "," : "", i);
    }
    sprintf(p, "]}");
    assert_int_equal(parse(body, lines), MICROSHOP_CHECKOUT_MAX_LINES);

    sprintf(p, ",{\"sku\":\"X\",\"quantity\":1}]}");
    assert_int_equal(parse_err(body, lines, &err), -1);
    assert_string_equal(err, "too many items");

    /* a SKU of 256 bytes passes, of 257 does not */
    p = body + sprintf(body, "{\"items\":[{\"sku\":\"");
    memset(p, 'k', MICROSHOP_CHECKOUT_MAX_SKU);
    sprintf(p + MICROSHOP_CHECKOUT_MAX_SKU, "\",\"quantity\":1}]}");
    assert_int_equal(parse(body, lines), 1);
    assert_int_equal(lines[0].sku_len, MICROSHOP_CHECKOUT_MAX_SKU);

    memset(p, 'k', MICROSHOP_CHECKOUT_MAX_SKU + 1);
    sprintf(p + MICROSHOP_CHECKOUT_MAX_SKU + 1, "\",\"quantity\":1}]}");
    assert_int_equal(parse(body, lines), -1);
}


static void
test_name_folds(void **state)
{
    static const char  *onto_sku[] = {
        "sku", "SKU", "Sku", "sKu", "\xc5\xbf" "ku", "s\xe2\x84\xaa" "u",
        "\xc5\xbf\xe2\x84\xaa" "U", "_sku", "s_k_u", "sku-", "--s--k--u--",
        NULL
    };

    static const char  *not_sku[] = {
        "", "sk", "skuu", "skus", " sku", "sku ", "s.ku", "s\xc5" "ku",
        "\xc5\xbe" "ku", "s\xe2\x84" "u", "s\xe2\x84\xab" "u", "sku\xc4",
        "\xef\xbd\x93" "ku", "s\xc4\xb1u", "_", NULL
    };

    static const char  *onto_quantity[] = {
        "Quantity", "QUANTITY", "quant\xc4\xb1ty", "QUANT\xc4\xb0TY",
        "quantity_", "Qu-An-Ti-Ty", NULL
    };

    size_t  i;

    for (i = 0; onto_sku[i]; i++) {
        assert_true(microshop_checkout_name_folds(onto_sku[i],
                                                  strlen(onto_sku[i]),
                                                  "sku"));
    }

    for (i = 0; not_sku[i]; i++) {
        if (microshop_checkout_name_folds(not_sku[i], strlen(not_sku[i]),
                                          "sku"))
        {
            fail_msg("\"%s\" folds onto \"sku\"", not_sku[i]);
        }
    }

    for (i = 0; onto_quantity[i]; i++) {
        assert_true(microshop_checkout_name_folds(onto_quantity[i],
                                                  strlen(onto_quantity[i]),
                                                  "quantity"));
    }

    /* the length counts, not a NUL */
    assert_false(microshop_checkout_name_folds("sk", 2, "sku"));
    assert_true(microshop_checkout_name_folds("SKUx", 3, "sku"));
    assert_false(microshop_checkout_name_folds("s\xc5", 2, "s"));
}


static void
test_media_type(void **state)
{
    static const char  *good[] = {
        "application/json", "Application/JSON", "application/json;",
        "application/json; charset=utf-8", "application/json ;charset=UTF-8",
        "application/json\t; x=y", "application/json  ", NULL
    };

    static const char  *bad[] = {
        "", "application", "application/jso", "application/jsonx",
        "application/json-seq", "application/json5", "text/json",
        "application/x-www-form-urlencoded", "multipart/form-data; b=x",
        "text/plain", "application/problem+json", " application/json",
        "application/json,text/plain", "application/json x", NULL
    };

    size_t  i;

    for (i = 0; good[i]; i++) {
        if (!microshop_checkout_media_type(good[i], strlen(good[i]))) {
            fail_msg("\"%s\" refused", good[i]);
        }
    }

    for (i = 0; bad[i]; i++) {
        if (microshop_checkout_media_type(bad[i], strlen(bad[i]))) {
            fail_msg("\"%s\" accepted", bad[i]);
        }
    }

    assert_false(microshop_checkout_media_type("application/json", 15));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_and_merged),
        cmocka_unit_test(test_invalid_bodies),
        cmocka_unit_test(test_too_many_and_too_long),
        cmocka_unit_test(test_name_folds),
        cmocka_unit_test(test_media_type),
    };

    return cmocka_run_group_tests_name("checkout", tests, NULL, NULL);
}
