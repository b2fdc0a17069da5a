/*
 * ngx_microshop -- unit tests of microshop_json_parse.c: it must accept
 * exactly what jansson's json_loadb(JSON_REJECT_DUPLICATES) accepts as a
 * top-level object, and build an equal tree.  Hand-picked cases, then a
 * few hundred thousand generated and damaged documents.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "microshop_json_parse.h"


/* 1 when both refuse, or both accept with equal trees */
static int
agree(const unsigned char *data, size_t len, int *accepted)
{
    int           same;
    json_t       *ref, *got;
    json_error_t  err;

    ref = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES, &err);

    if (ref != NULL && !json_is_object(ref)) {
        json_decref(ref);
        ref = NULL;
    }

    got = microshop_json_parse_object(data, len);

    if (memchr(data, '\0', len) != NULL) {
        /* jansson takes a NUL byte between tokens as white space: we
         * refuse it (RFC 8259 has no such white space) */
        json_decref(ref);
        ref = NULL;
    }

    same = (ref == NULL && got == NULL)
           || (ref != NULL && got != NULL && json_equal(ref, got));

    if (!same) {
        fprintf(stderr, "disagree (jansson %s, ours %s) on: %.*s\n",
                ref ? "accepts" : "refuses", got ? "accepts" : "refuses",
                (int) len, (const char *) data);
        for (size_t i = 0; i < len; i++) {
            fprintf(stderr, "%02x", data[i]);
        }
        fprintf(stderr, " (%zu bytes)\n", len);
    }

    *accepted = (got != NULL);

    json_decref(ref);
    json_decref(got);

    return same;
}


static void
check(const char *text, int want)
{
    int  accepted;

    assert_true(agree((const unsigned char *) text, strlen(text), &accepted));
    assert_int_equal(accepted, want);
}


static void
test_cases(void **state)
{
    /* what tokens carry */
    check("{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"JWT\"}", 1);
    check("{\"exp\":1796238144,\"iat\":1796230944,\"jti\":\"cold-1\","
          "\"scope\":\"inventory:read orders:write\",\"seller\":\"s1\","
          "\"sub\":\"bench\",\"aud\":[\"a\",\"b\"],\"n\":null,"
          "\"t\":true,\"f\":false,\"r\":1.5e3,\"o\":{\"x\":[[],{}]}}", 1);
    check(" \t\r\n{ } \n", 1);
    check("{}", 1);
    check("{\"\":0}", 1);

    /* not an object, or more than one value */
    check("[]", 0);
    check("\"s\"", 0);
    check("1", 0);
    check("", 0);
    check("{}{}", 0);
    check("{} x", 0);
    check("{", 0);
    check("}", 0);

    /* members */
    check("{\"a\":1,}", 0);
    check("{,}", 0);
    check("{\"a\" 1}", 0);
    check("{a:1}", 0);
    check("{'a':1}", 0);
    check("{\"a\":1 \"b\":2}", 0);
    check("{\"a\":1,\"a\":2}", 0);
    check("{\"o\":{\"a\":1,\"a\":2}}", 0);
    check("{\"a\":1,\"\\u0061\":2}", 0);
    check("{\"a\":[1,]}", 0);
    check("{\"a\":[,1]}", 0);

    /* literals */
    check("{\"a\":tru}", 0);
    check("{\"a\":truex}", 0);
    check("{\"a\":True}", 0);
    check("{\"a\":nul}", 0);

    /* numbers */
    check("{\"a\":-0}", 1);
    check("{\"a\":-0.0}", 1);
    check("{\"a\":0e0}", 1);
    check("{\"a\":1E+2}", 1);
    check("{\"a\":1e-400}", 1);
    check("{\"a\":9223372036854775807}", 1);
    check("{\"a\":-9223372036854775808}", 1);
    check("{\"a\":9223372036854775808}", 0);
    check("{\"a\":-9223372036854775809}", 0);
    check("{\"a\":1e400}", 0);
    check("{\"a\":-1e400}", 0);
    check("{\"a\":01}", 0);
    check("{\"a\":-}", 0);
    check("{\"a\":+1}", 0);
    check("{\"a\":.5}", 0);
    check("{\"a\":1.}", 0);
    check("{\"a\":1e}", 0);
    check("{\"a\":1e+}", 0);
    check("{\"a\":0x1}", 0);
    check("{\"a\":1.5.5}", 0);
    check("{\"a\":Infinity}", 0);
    check("{\"a\":NaN}", 0);

    /* strings */
    check("{\"a\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"}", 1);
    check("{\"a\":\"\\u00e9\\u20ac\\ud83d\\ude00\"}", 1);
    check("{\"a\":\"\\u0000\"}", 0);
    check("{\"a\\u0000\":1}", 0);
    check("{\"a\":\"\\ud800\"}", 0);
    check("{\"a\":\"\\ud800x\"}", 0);
    check("{\"a\":\"\\ud800\\u0041\"}", 0);
    check("{\"a\":\"\\udc00\"}", 0);
    check("{\"a\":\"\\u12\"}", 0);
    check("{\"a\":\"\\u12g4\"}", 0);
    check("{\"a\":\"\\x41\"}", 0);
    check("{\"a\":\"\\'\"}", 0);
    check("{\"a\":\"tab\there\"}", 0);
    check("{\"a\":\"nl\nhere\"}", 0);
    check("{\"a\":\"unterminated}", 0);
    check("{\"a\":\"\\", 0);
    check("{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", 1);
    check("{\"a\":\"\xc0\xaf\"}", 0);                 /* overlong */
    check("{\"a\":\"\xe0\x80\xaf\"}", 0);             /* overlong */
    check("{\"a\":\"\xed\xa0\x80\"}", 0);             /* a surrogate */
    check("{\"a\":\"\xf4\x90\x80\x80\"}", 0);         /* > U+10FFFF */
    check("{\"a\":\"\xf8\x88\x80\x80\x80\"}", 0);
    check("{\"a\":\"\x80\"}", 0);
    check("{\"a\":\"\xc3\"}", 0);
    check("{\"\xc3\xa9\":\"\\u00e9\"}", 1);
    check("{\"a\":\"x\"}\xc3\xa9", 0);

    /* escaped keys and values one after the other (the scratch buffer) */
    check("{\"\\u0061\":{\"\\u0062\":\"\\u0063\",\"d\":\"\\u0065\"},"
          "\"\\u0066\":\"g\"}", 1);
}


static void
test_nul_inside(void **state)
{
    int  accepted;

    assert_true(agree((const unsigned char *) "{\"a\":\"x\0\"}", 10,
                      &accepted));
    assert_int_equal(accepted, 0);
    assert_true(agree((const unsigned char *) "{\"a\":1}\0", 8, &accepted));
    assert_int_equal(accepted, 0);
}


static void
test_depth(void **state)
{
    int    i, n;
    char   buf[512];

    /* nesting up to MICROSHOP_JSON_DEPTH_MAX is taken, one more is not */
    for (n = MICROSHOP_JSON_DEPTH_MAX - 1; n <= MICROSHOP_JSON_DEPTH_MAX;
         n++)
    {
        size_t  len;
        json_t *v;

        len = 0;
        buf[len++] = '{';
        buf[len++] = '"';
        buf[len++] = 'a';
        buf[len++] = '"';
        buf[len++] = ':';

        for (i = 1; i < n; i++) {
            buf[len++] = '[';
        }

        for (i = 1; i < n; i++) {
            buf[len++] = ']';
        }

        buf[len++] = '}';

        v = microshop_json_parse_object((unsigned char *) buf, len);

        if (n <= MICROSHOP_JSON_DEPTH_MAX) {
            assert_non_null(v);
        }

        json_decref(v);
    }

    memset(buf, '[', sizeof(buf));
    buf[0] = '{';
    assert_null(microshop_json_parse_object((unsigned char *) buf,
                                            sizeof(buf)));
}


/* -- generated documents */

static unsigned  seed = 12345;

static unsigned
rnd(unsigned n)
{
    seed = seed * 1103515245u + 12345u;
    return (seed >> 8) % n;
}


static void
gen_string(char **p)
{
    static const char *pieces[] = {
        "a", "b", "k", "alg", "\\u0061", "\\n", "\\\"", "\\\\", "\\/",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\\ud83d\\ude00",
        "\\u00e9", " ", "x y", "\\u0000", "\\ud800", "\xc0\xaf", "\x7f",
        "\\t", "\\u20AC"
    };
    unsigned  i, n;

    *(*p)++ = '"';
    n = rnd(4);

    for (i = 0; i < n; i++) {
        /* the invalid pieces are rare */
        const char *s = pieces[rnd(rnd(8) ? 16 : 22)];
        size_t      l = strlen(s);

        memcpy(*p, s, l);
        *p += l;
    }

    *(*p)++ = '"';
}


static void
gen_value(char **p, int depth)
{
    static const char *scalars[] = {
        "0", "-0", "1", "-17", "3.25", "1e3", "-2.5E-3", "1796238144",
        "9223372036854775807", "9223372036854775808", "1e400", "01",
        "true", "false", "null", "1.", ".5", "-", "tru"
    };
    unsigned  i, n;

    switch (depth < 6 ? rnd(5) : 4) {

    case 0:
    case 1:
        *(*p)++ = '{';
        n = rnd(5);

        for (i = 0; i < n; i++) {
            if (i) {
                *(*p)++ = ',';
            }

            if (rnd(10) == 0) {
                *(*p)++ = ' ';
            }

            gen_string(p);
            *(*p)++ = ':';
            gen_value(p, depth + 1);
        }

        *(*p)++ = '}';
        break;

    case 2:
        *(*p)++ = '[';
        n = rnd(4);

        for (i = 0; i < n; i++) {
            if (i) {
                *(*p)++ = ',';
            }

            gen_value(p, depth + 1);
        }

        *(*p)++ = ']';
        break;

    case 3:
        gen_string(p);
        break;

    default: {
        const char *s = scalars[rnd(rnd(6) ? 15 : 19)];
        size_t      l = strlen(s);

        memcpy(*p, s, l);
        *p += l;
        break;
    }
    }
}


static void
test_generated(void **state)
{
    int       i, accepted, n_accepted, k;
    char      buf[1 << 16], *p;
    size_t    len, pos;
    unsigned  m;

    n_accepted = 0;

    for (i = 0; i < 200000; i++) {
        p = buf;
        *p++ = '{';
        gen_string(&p);
        *p++ = ':';
        gen_value(&p, 1);

        if (rnd(3) == 0) {
            *p++ = ',';
            gen_string(&p);
            *p++ = ':';
            gen_value(&p, 1);
        }

        *p++ = '}';
        len = (size_t) (p - buf);

        /* now and then damaged: a byte changed, dropped or cut off */
        for (k = rnd(4) == 0 ? 1 + rnd(3) : 0; k > 0; k--) {
            pos = rnd((unsigned) len);
            m = rnd(3);

            if (m == 0) {
                buf[pos] = "{}[]\",:\\ 0e.-tu\x80\xc3"[rnd(18)];

            } else if (m == 1) {
                memmove(buf + pos, buf + pos + 1, len - pos - 1);
                len--;

            } else {
                len = pos;
            }

            if (len == 0) {
                break;
            }
        }

        assert_true(agree((unsigned char *) buf, len, &accepted));
        n_accepted += accepted;
    }

    /* both sides were exercised */
    assert_true(n_accepted > 20000);
    assert_true(n_accepted < 190000);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_nul_inside),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_generated),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
