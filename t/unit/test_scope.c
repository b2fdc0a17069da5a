/*
 * ngx_microshop -- unit tests: scope sets.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "microshop_scope.h"


static int
norm_json(const char *json, char *out, size_t outlen)
{
    int           rc;
    json_t       *v;
    json_error_t  jerr;

    v = json_loads(json, JSON_DECODE_ANY, &jerr);
    assert_non_null(v);

    rc = microshop_scopes_normalize(v, out, outlen);
    json_decref(v);

    return rc;
}


static void
test_normalize_string(void **state)
{
    char  out[128];

    assert_int_equal(norm_json("\"a b c\"", out, sizeof(out)), 5);
    assert_string_equal(out, "a b c");

    /* runs of spaces, leading and trailing spaces */
    assert_int_equal(norm_json("\"  orders:read   orders:write  \"", out,
                               sizeof(out)), 24);
    assert_string_equal(out, "orders:read orders:write");

    /* duplicates dropped, first appearance order kept */
    assert_int_equal(norm_json("\"b a b c a\"", out, sizeof(out)), 5);
    assert_string_equal(out, "b a c");

    assert_int_equal(norm_json("\"\"", out, sizeof(out)), 0);
    assert_string_equal(out, "");

    assert_int_equal(norm_json("\"   \"", out, sizeof(out)), 0);
    assert_string_equal(out, "");

    /* a scope is a prefix of another: both kept */
    assert_int_equal(norm_json("\"read read:all read\"", out, sizeof(out)),
                     13);
    assert_string_equal(out, "read read:all");
}


static void
test_normalize_array(void **state)
{
    char  out[128];

    assert_int_equal(norm_json("[\"x\",\"y\",\"x\",\"z\"]", out, sizeof(out)),
                     5);
    assert_string_equal(out, "x y z");

    assert_int_equal(norm_json("[]", out, sizeof(out)), 0);
    assert_string_equal(out, "");

    /* element with a space, empty element, non-string element */
    assert_int_equal(norm_json("[\"a b\"]", out, sizeof(out)), -1);
    assert_int_equal(norm_json("[\"a\",\"\"]", out, sizeof(out)), -1);
    assert_int_equal(norm_json("[\"a\",1]", out, sizeof(out)), -1);
    assert_int_equal(norm_json("[[\"a\"]]", out, sizeof(out)), -1);
    assert_string_equal(out, "");
}


static void
test_normalize_bad(void **state)
{
    char  out[16];

    /* wrong types */
    assert_int_equal(norm_json("1", out, sizeof(out)), -1);
    assert_int_equal(norm_json("true", out, sizeof(out)), -1);
    assert_int_equal(norm_json("null", out, sizeof(out)), -1);
    assert_int_equal(norm_json("{\"a\":1}", out, sizeof(out)), -1);

    /* control characters, tab, quote, backslash, non-ASCII, NUL */
    assert_int_equal(norm_json("\"a\\tb\"", out, sizeof(out)), -1);
    assert_int_equal(norm_json("\"a\\nb\"", out, sizeof(out)), -1);
    assert_int_equal(norm_json("\"a\\\"b\"", out, sizeof(out)), -1);
    assert_int_equal(norm_json("\"a\\\\b\"", out, sizeof(out)), -1);
    assert_int_equal(norm_json("\"caf\\u00e9\"", out, sizeof(out)), -1);
    assert_int_equal(norm_json("[\"a\\u0001\"]", out, sizeof(out)), -1);

    /* NULL value: the empty set */
    assert_int_equal(microshop_scopes_normalize(NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "");

    /* too long: 15 chars + NUL fit in 16, 16 do not */
    assert_int_equal(norm_json("\"aaaaaaa bbbbbbb\"", out, sizeof(out)), 15);
    assert_int_equal(norm_json("\"aaaaaaa bbbbbbbb\"", out, sizeof(out)), -1);
    assert_int_equal(norm_json("\"aaaaaaa aaaaaaa aaaaaaa\"", out,
                               sizeof(out)), 7);

    assert_int_equal(microshop_scopes_normalize(NULL, out, 0), -1);
}


static void
test_normalize_str(void **state)
{
    char         out[64];
    const char  *s;

    s = "orders:read,orders:write,orders:read";
    assert_int_equal(microshop_scopes_normalize_str(s, strlen(s), ',', out,
                                                    sizeof(out)), 24);
    assert_string_equal(out, "orders:read orders:write");

    s = " a  b ";
    assert_int_equal(microshop_scopes_normalize_str(s, strlen(s), ' ', out,
                                                    sizeof(out)), 3);
    assert_string_equal(out, "a b");

    /* only len bytes are looked at */
    s = "a,b,c";
    assert_int_equal(microshop_scopes_normalize_str(s, 3, ',', out,
                                                    sizeof(out)), 3);
    assert_string_equal(out, "a b");

    assert_int_equal(microshop_scopes_normalize_str("", 0, ',', out,
                                                    sizeof(out)), 0);
    assert_string_equal(out, "");

    /* empty elements with a non-space separator, spaces inside */
    assert_int_equal(microshop_scopes_normalize_str("a,,b", 4, ',', out,
                                                    sizeof(out)), -1);
    assert_int_equal(microshop_scopes_normalize_str(",a", 2, ',', out,
                                                    sizeof(out)), -1);
    assert_int_equal(microshop_scopes_normalize_str("a,", 2, ',', out,
                                                    sizeof(out)), -1);
    assert_int_equal(microshop_scopes_normalize_str("a, b", 4, ',', out,
                                                    sizeof(out)), -1);
    assert_string_equal(out, "");
}


static void
test_has(void **state)
{
    const char  *set = "orders:read orders:write admin";

    assert_true(microshop_scopes_has(set, strlen(set), "orders:read", 11));
    assert_true(microshop_scopes_has(set, strlen(set), "orders:write", 12));
    assert_true(microshop_scopes_has(set, strlen(set), "admin", 5));
    assert_false(microshop_scopes_has(set, strlen(set), "orders", 6));
    assert_false(microshop_scopes_has(set, strlen(set), "admi", 4));
    assert_false(microshop_scopes_has(set, strlen(set), "admins", 6));
    assert_false(microshop_scopes_has(set, strlen(set), "", 0));
    assert_false(microshop_scopes_has("", 0, "a", 1));
    /* setlen bounds the set */
    assert_false(microshop_scopes_has(set, 11, "orders:write", 12));
}


static void
test_contains_all(void **state)
{
    char         missing[64];
    const char  *set = "a b c";
    const char  *req;

    req = "c a";
    assert_int_equal(microshop_scopes_contains_all(set, 5, req, strlen(req),
                                                   missing, sizeof(missing)),
                     1);
    assert_string_equal(missing, "");

    req = "a x b y";
    assert_int_equal(microshop_scopes_contains_all(set, 5, req, strlen(req),
                                                   missing, sizeof(missing)),
                     0);
    assert_string_equal(missing, "x y");

    /* without a buffer for the missing ones */
    assert_int_equal(microshop_scopes_contains_all(set, 5, req, strlen(req),
                                                   NULL, 0), 0);

    /* missing buffer too small: whole scopes only */
    req = "xx yyyy";
    assert_int_equal(microshop_scopes_contains_all(set, 5, req, strlen(req),
                                                   missing, 5), 0);
    assert_string_equal(missing, "xx");

    /* empty required set, empty granted set */
    assert_int_equal(microshop_scopes_contains_all(set, 5, "", 0,
                                                   missing, sizeof(missing)),
                     1);
    assert_int_equal(microshop_scopes_contains_all("", 0, "a", 1,
                                                   missing, sizeof(missing)),
                     0);
    assert_string_equal(missing, "a");
}


static void
test_seller_client_var(void **state)
{
    size_t   i, off, n;

    static const struct {
        const char  *value;
        const char  *name;      /* NULL: none */
    } cases[] = {
        { "$seller", NULL },
        { "$1", NULL },
        { "s1", NULL },
        { "", NULL },
        { "$", NULL },
        { "${", NULL },
        { "$uri", NULL },
        { "$request_uri", NULL },
        { "$host", NULL },
        { "$microshop_seller", NULL },
        { "$argument", NULL },
        { "$arg_", NULL },
        { "$http_", NULL },
        { "$args_x", NULL },
        { "$request_body_file", NULL },
        { "shop-$seller-$1", NULL },

        { "$arg_seller", "arg_seller" },
        { "$ARG_Seller", "ARG_Seller" },
        { "${arg_seller}", "arg_seller" },
        { "$http_x_seller", "http_x_seller" },
        { "$cookie_seller", "cookie_seller" },
        { "$args", "args" },
        { "$query_string", "query_string" },
        { "$request_body", "request_body" },
        { "shop-$arg_s", "arg_s" },
        { "$seller$http_x_s", "http_x_s" },
        { "${seller}-${cookie_s}", "cookie_s" },
        { "$$arg_s", "arg_s" },
        { "$seller.$args", "args" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        off = n = 12345;

        if (cases[i].name == NULL) {
            if (microshop_seller_client_var(cases[i].value,
                                            strlen(cases[i].value),
                                            &off, &n) != 0)
            {
                fail_msg("\"%s\": a client-set variable found",
                         cases[i].value);
            }
            continue;
        }

        if (microshop_seller_client_var(cases[i].value,
                                        strlen(cases[i].value), &off, &n)
            != 1)
        {
            fail_msg("\"%s\": no client-set variable found",
                     cases[i].value);
        }

        assert_int_equal(n, strlen(cases[i].name));
        assert_memory_equal(cases[i].value + off, cases[i].name, n);
    }

    /* only len bytes count */
    assert_int_equal(microshop_seller_client_var("$arg_s", 5, &off, &n), 0);
    assert_int_equal(microshop_seller_client_var("$arg_s", 6, &off, &n), 1);
    assert_int_equal(n, 5);
}



static int
intersect(const char *a, const char *b, const char *drop, char *out,
    size_t outlen)
{
    return microshop_scopes_intersect(a, a ? strlen(a) : 0, b,
                                      b ? strlen(b) : 0, drop, out, outlen);
}


static void
test_intersect(void **state)
{
    char  out[64];

    /* a's order, what b has too */
    assert_int_equal(intersect("c a b", "a b d", NULL, out, sizeof(out)), 3);
    assert_string_equal(out, "a b");

    /* no limit */
    assert_int_equal(intersect("c a b", NULL, NULL, out, sizeof(out)), 5);
    assert_string_equal(out, "c a b");

    /* drop one scope, wherever it is, and only that one */
    assert_int_equal(intersect("microshop:admin orders:write",
                               "orders:write microshop:admin",
                               "microshop:admin", out, sizeof(out)), 12);
    assert_string_equal(out, "orders:write");
    assert_int_equal(intersect("microshop:admin:x microshop:admi", NULL,
                               "microshop:admin", out, sizeof(out)), 32);
    assert_string_equal(out, "microshop:admin:x microshop:admi");

    /* a prefix of a scope is another scope */
    assert_int_equal(intersect("read", "read:all", NULL, out, sizeof(out)),
                     0);
    assert_string_equal(out, "");

    /* empty sets */
    assert_int_equal(intersect("", "a", NULL, out, sizeof(out)), 0);
    assert_int_equal(intersect(NULL, "a", NULL, out, sizeof(out)), 0);
    assert_int_equal(intersect("a", "", NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "");

    /* alen + 1 is enough; less is an error with "" written */
    assert_int_equal(intersect("ab cd", NULL, NULL, out, 6), 5);
    assert_int_equal(intersect("ab cd", NULL, NULL, out, 5), -1);
    assert_string_equal(out, "");
    assert_int_equal(intersect("ab", NULL, NULL, NULL, 5), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_string),
        cmocka_unit_test(test_normalize_array),
        cmocka_unit_test(test_normalize_bad),
        cmocka_unit_test(test_normalize_str),
        cmocka_unit_test(test_has),
        cmocka_unit_test(test_contains_all),
        cmocka_unit_test(test_intersect),
        cmocka_unit_test(test_seller_client_var),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
