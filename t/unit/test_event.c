/*
 * ngx_microshop -- unit tests: the events of a seller's feed, their types,
 * ids and JSON (microshop_event.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

#include "microshop_event.h"


static void
test_types_round_trip(void **state)
{
    int          i;
    const char  *name;

    for (i = 0; i < MICROSHOP_EVENT_MAX; i++) {
        name = microshop_event_type_name(i);
        assert_non_null(name);
        assert_int_equal(microshop_event_type_find(name, strlen(name)), i);
    }

    assert_string_equal(microshop_event_type_name(
                            MICROSHOP_EVENT_ORDER_COMMITTED),
                        "order.committed");
    assert_string_equal(microshop_event_type_name(
                            MICROSHOP_EVENT_STOCK_SOLD_OUT),
                        "stock.sold_out");
    assert_null(microshop_event_type_name(MICROSHOP_EVENT_MAX));
    assert_null(microshop_event_type_name((microshop_event_type_e) -1));
    assert_int_equal(microshop_event_type_find("order.commit", 12), -1);
    assert_int_equal(microshop_event_type_find("order.committedx", 16), -1);
    assert_int_equal(microshop_event_type_find("", 0), -1);
}


static void
next_is(const microshop_event_id_t *last, uint64_t now, uint64_t ms,
    uint64_t seq)
{
    microshop_event_id_t  next;

    assert_int_equal(microshop_event_id_next(last, now, &next), 0);
    assert_true(next.ms == ms);
    assert_true(next.seq == seq);

    if (last) {
        assert_int_equal(microshop_event_id_cmp(&next, last), 1);
    }
}


static void
test_id_next(void **state)
{
    microshop_event_id_t  last, next;

    next_is(NULL, 1000, 1000, 0);

    last.ms = 1000;
    last.seq = 0;
    next_is(&last, 1000, 1000, 1);          /* the same millisecond */
    next_is(&last, 1001, 1001, 0);          /* a later one */
    next_is(&last, 5, 1000, 1);             /* the clock stepped back */

    last.seq = UINT64_MAX;                  /* no sequence left in it */
    next_is(&last, 1000, 1001, 0);

    last.ms = UINT64_MAX;
    assert_int_equal(microshop_event_id_next(&last, 0, &next), -1);
    last.seq = 7;
    next_is(&last, 0, UINT64_MAX, 8);
}


static void
parsed(const char *s, uint64_t ms, uint64_t seq)
{
    char                  buf[MICROSHOP_EVENT_ID_LEN];
    microshop_event_id_t  id;

    assert_int_equal(microshop_event_id_parse(s, strlen(s), &id), 0);
    assert_true(id.ms == ms);
    assert_true(id.seq == seq);

    /* the full form comes back as it was */
    if (strchr(s, '-')) {
        assert_int_equal(microshop_event_id_format(&id, buf), strlen(s));
        assert_string_equal(buf, s);
    }
}


static void
refused(const char *s)
{
    microshop_event_id_t  id;

    assert_int_equal(microshop_event_id_parse(s, strlen(s), &id), -1);
}


static void
test_id_parse(void **state)
{
    microshop_event_id_t  id;

    parsed("0", 0, 0);
    parsed("0-0", 0, 0);
    parsed("1796277214221", 1796277214221ULL, 0);
    parsed("1796277214221-3", 1796277214221ULL, 3);
    parsed("18446744073709551615-18446744073709551615", UINT64_MAX,
           UINT64_MAX);

    refused("");
    refused("-");
    refused("1-");
    refused("-1");
    refused("01");
    refused("1-01");
    refused("00-1");
    refused("18446744073709551616");
    refused("1-18446744073709551616");
    refused("184467440737095516150");
    refused("1 -2");
    refused(" 1");
    refused("+1");
    refused("1-2-3");
    refused("1-+2");
    refused("a");
    refused("1-0x1");

    /* a NUL is a byte like any other: refused, never an end */
    assert_int_equal(microshop_event_id_parse("1\0-2", 4, &id), -1);
    /* only the bytes given are read */
    assert_int_equal(microshop_event_id_parse("12-3junk", 4, &id), 0);
    assert_true(id.ms == 12 && id.seq == 3);
}


static void
test_id_cmp(void **state)
{
    microshop_event_id_t  a = { 5, 9 }, b = { 6, 0 }, c = { 6, 1 };

    assert_int_equal(microshop_event_id_cmp(&a, &b), -1);
    assert_int_equal(microshop_event_id_cmp(&b, &a), 1);
    assert_int_equal(microshop_event_id_cmp(&b, &c), -1);
    assert_int_equal(microshop_event_id_cmp(&c, &c), 0);
}


static void
time_is(int64_t ms, const char *want)
{
    char  buf[MICROSHOP_EVENT_TIME_LEN];

    assert_int_equal(microshop_event_time_format(ms, buf), strlen(want));
    assert_string_equal(buf, want);
}


static void
test_time_format(void **state)
{
    char  buf[MICROSHOP_EVENT_TIME_LEN];

    time_is(0, "1970-01-01T00:00:00.000Z");
    time_is(1796277214221LL, "2026-12-03T05:53:34.221Z");
    time_is(951782400999LL, "2000-02-29T00:00:00.999Z");
    time_is(253402300799999LL, "9999-12-31T23:59:59.999Z");

    /* against the C library's gmtime(), a day in every 13 to 9999 */
    {
        char       want[MICROSHOP_EVENT_TIME_LEN + 8];
        time_t     t;
        int64_t    ms, day;
        struct tm *tm;

        for (day = 0; day < 2932897; day += 13) {
            ms = day * 86400000 + (day * 7919 % 86400000);
            t = (time_t) (ms / 1000);
            tm = gmtime(&t);
            assert_non_null(tm);
            strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", tm);
            snprintf(want + 19, sizeof(want) - 19, ".%03dZ",
                     (int) (ms % 1000));
            assert_int_equal(microshop_event_time_format(ms, buf), 24);
            assert_string_equal(buf, want);
        }
    }

    assert_int_equal(microshop_event_time_format(-1, buf), 0);
    assert_int_equal(microshop_event_time_format(253402300800000LL, buf), 0);
    assert_int_equal(microshop_event_time_format(INT64_MAX, buf), 0);
}


static void
test_json(void **state)
{
    char                 *out;
    size_t                len;
    json_t               *data;
    microshop_event_id_t  id = { 1796277214221ULL, 2 };

    data = json_pack("{s:s,s:i}", "order", "r-1", "available", 3);
    out = microshop_event_json(&id, 1796277214221LL,
                               MICROSHOP_EVENT_ORDER_COMMITTED, "s1", 2,
                               data, &len);
    assert_non_null(out);
    assert_string_equal(out,
        "{\"id\":\"1796277214221-2\",\"time\":\"2026-12-03T05:53:34.221Z\","
        "\"type\":\"order.committed\",\"seller\":\"s1\","
        "\"data\":{\"order\":\"r-1\",\"available\":3}}");
    assert_int_equal(len, strlen(out));
    free(out);

    /* no data: an empty object; a seller with a quote, escaped */
    out = microshop_event_json(&id, 0, MICROSHOP_EVENT_TOKEN_REVOKED,
                               "s\"1", 3, NULL, &len);
    assert_non_null(out);
    assert_string_equal(out,
        "{\"id\":\"1796277214221-2\",\"time\":\"1970-01-01T00:00:00.000Z\","
        "\"type\":\"token.revoked\",\"seller\":\"s\\\"1\",\"data\":{}}");
    free(out);

    /* refused, and data's reference released each time (valgrind) */
    assert_null(microshop_event_json(&id, 0, MICROSHOP_EVENT_ORDER_RESERVED,
                                     "\xff", 1, json_object(), &len));
    assert_null(microshop_event_json(&id, 0, MICROSHOP_EVENT_MAX, "s1", 2,
                                     json_object(), &len));
    assert_null(microshop_event_json(&id, -5, MICROSHOP_EVENT_ORDER_RESERVED,
                                     "s1", 2, json_object(), &len));
    assert_null(microshop_event_json(&id, 0, MICROSHOP_EVENT_ORDER_RESERVED,
                                     "s1", 2, json_array(), &len));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_types_round_trip),
        cmocka_unit_test(test_id_next),
        cmocka_unit_test(test_id_parse),
        cmocka_unit_test(test_id_cmp),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
