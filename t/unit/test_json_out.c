/*
 * ngx_microshop -- unit tests: the JSON writer of the events
 * (microshop_json_out.c).  What it writes must be what jansson's
 * json_dumps(JSON_COMPACT) writes for the same members, which the feed
 * parses back (docs/events.md "Event types").
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "microshop_json_out.h"


#define U(s)  (const unsigned char *) (s)


static char  out[4096];


/* jansson's compact text of {"s": s} (NULL when it refuses s) */

static char *
jansson_string(const unsigned char *s, size_t len)
{
    char    *text;
    json_t  *o, *v;

    v = json_stringn((const char *) s, len);
    if (v == NULL) {
        return NULL;
    }

    o = json_object();
    json_object_set_new(o, "s", v);
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);

    return text;
}


static size_t
write_string(const unsigned char *s, size_t len, int *rc)
{
    microshop_json_out_t  o;

    microshop_json_out_init(&o, (unsigned char *) out, sizeof(out));
    microshop_json_out_open(&o, NULL, '{');
    *rc = microshop_json_out_string(&o, "s", s, len);
    microshop_json_out_close(&o, '}');

    return microshop_json_out_end(&o);
}


static void
same_as_jansson(const unsigned char *s, size_t len)
{
    int      rc;
    char    *want;
    size_t   n;

    want = jansson_string(s, len);
    n = write_string(s, len, &rc);

    if (want == NULL) {
        assert_int_equal(rc, -1);
        assert_int_equal(n, 2);                 /* {} */
        return;
    }

    assert_int_equal(rc, 0);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_true(n <= MICROSHOP_JSON_OUT_STRING_MAX(len) + 6);
    free(want);
}


static void
test_strings_as_jansson(void **state)
{
    unsigned char  all[256];
    int            i;

    same_as_jansson(U(""), 0);
    same_as_jansson(U("A1"), 2);
    same_as_jansson(U("quote \" back \\ slash / tab \t nl \n"), 33);
    same_as_jansson(U("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), 14);
    same_as_jansson(U("nul \0 in it"), 11);

    /* every single byte */
    for (i = 0; i < 256; i++) {
        all[0] = (unsigned char) i;
        same_as_jansson(all, 1);
    }

    /* every byte after an ASCII one, as a string of its own */
    for (i = 0; i < 128; i++) {
        all[i] = (unsigned char) i;
    }

    same_as_jansson(all, 128);
}


static void
test_bad_utf8_left_out(void **state)
{
    static const char  *bad[] = {
        "\xc0\x80",              /* overlong NUL */
        "\xe0\x80\xaf",          /* overlong '/' */
        "\xed\xa0\x80",          /* a surrogate */
        "\xf4\x90\x80\x80",      /* past U+10FFFF */
        "\xc3",                  /* cut short */
        "\xe2\x82",
        "\x80",                  /* a continuation alone */
        "\xff",
        "ok \xc3\x28",           /* a bad continuation */
    };
    size_t  i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(microshop_json_out_utf8(U(bad[i]),
                                                 strlen(bad[i])), 0);
        same_as_jansson(U(bad[i]), strlen(bad[i]));
    }

    assert_int_equal(microshop_json_out_utf8(U("\xf4\x8f\xbf\xbf"), 4), 1);
    assert_int_equal(microshop_json_out_utf8(U("\xee\x80\x80"), 3), 1);
}


static void
test_a_whole_event(void **state)
{
    size_t                n;
    char                 *want;
    json_t               *o, *lines, *line;
    microshop_json_out_t  w;

    microshop_json_out_init(&w, (unsigned char *) out, sizeof(out));
    microshop_json_out_open(&w, NULL, '{');
    microshop_json_out_string(&w, "order", U("ab12-7"), 6);
    microshop_json_out_int(&w, "status", 201);
    microshop_json_out_open(&w, "lines", '[');
    microshop_json_out_open(&w, NULL, '{');
    microshop_json_out_string(&w, "sku", U("A1"), 2);
    microshop_json_out_int(&w, "quantity", 2);
    microshop_json_out_close(&w, '}');
    microshop_json_out_open(&w, NULL, '{');
    microshop_json_out_string(&w, "sku", U("B\"2"), 3);
    microshop_json_out_int(&w, "quantity", INT64_MIN);
    microshop_json_out_close(&w, '}');
    microshop_json_out_close(&w, ']');
    microshop_json_out_int(&w, "available", INT64_MAX);
    microshop_json_out_int(&w, "zero", 0);
    microshop_json_out_int(&w, "minus", -42);
    microshop_json_out_bool(&w, "cached", 1);
    microshop_json_out_bool(&w, "missed", 0);
    microshop_json_out_open(&w, "empty", '[');
    microshop_json_out_close(&w, ']');
    microshop_json_out_raw(&w, "body", U("{\"a\":[1,2]}"), 11);
    microshop_json_out_close(&w, '}');
    n = microshop_json_out_end(&w);

    o = json_object();
    json_object_set_new(o, "order", json_string("ab12-7"));
    json_object_set_new(o, "status", json_integer(201));
    lines = json_array();
    line = json_object();
    json_object_set_new(line, "sku", json_string("A1"));
    json_object_set_new(line, "quantity", json_integer(2));
    json_array_append_new(lines, line);
    line = json_object();
    json_object_set_new(line, "sku", json_string("B\"2"));
    json_object_set_new(line, "quantity", json_integer(INT64_MIN));
    json_array_append_new(lines, line);
    json_object_set_new(o, "lines", lines);
    json_object_set_new(o, "available", json_integer(INT64_MAX));
    json_object_set_new(o, "zero", json_integer(0));
    json_object_set_new(o, "minus", json_integer(-42));
    json_object_set_new(o, "cached", json_true());
    json_object_set_new(o, "missed", json_false());
    json_object_set_new(o, "empty", json_array());
    json_object_set_new(o, "body", json_loads("{\"a\":[1,2]}", 0, NULL));
    want = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);

    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    free(want);
}


static void
test_overflow_is_zero(void **state)
{
    size_t                size;
    unsigned char         buf[16];
    microshop_json_out_t  w;

    /* every size short of the text overflows, and never writes past it */
    for (size = 0; size < 13; size++) {
        memset(buf, 'x', sizeof(buf));
        microshop_json_out_init(&w, buf, size);
        microshop_json_out_open(&w, NULL, '{');
        microshop_json_out_string(&w, "sku", U("A\n"), 2);
        microshop_json_out_close(&w, '}');
        assert_int_equal(microshop_json_out_end(&w), 0);
        assert_int_equal(buf[size], 'x');
    }

    microshop_json_out_init(&w, buf, 13);
    microshop_json_out_open(&w, NULL, '{');
    microshop_json_out_string(&w, "sku", U("A\n"), 2);
    microshop_json_out_close(&w, '}');
    assert_int_equal(microshop_json_out_end(&w), 13);
    assert_memory_equal(buf, "{\"sku\":\"A\\n\"}", 13);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_as_jansson),
        cmocka_unit_test(test_bad_utf8_left_out),
        cmocka_unit_test(test_a_whole_event),
        cmocka_unit_test(test_overflow_is_zero),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
