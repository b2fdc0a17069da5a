/*
 * ngx_microshop -- unit tests: application/x-www-form-urlencoded bodies.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "microshop_form.h"


static char              buf[4096];
static microshop_form_t  form;


static microshop_form_rc_e
parse(const char *body)
{
    return microshop_form_parse(body, strlen(body), buf, &form);
}


/* the value of name as a C string in out, or NULL when absent */
static const char *
value(const char *name)
{
    static char                   out[4096];
    const microshop_form_pair_t  *p;

    p = microshop_form_get(&form, name);
    if (p == NULL) {
        return NULL;
    }

    memcpy(out, p->value, p->value_len);
    out[p->value_len] = '\0';

    return out;
}


static void
test_pairs(void **state)
{
    assert_int_equal(parse("grant_type=urn%3Aietf%3Aparams%3Aoauth"
                           "%3Agrant-type%3Atoken-exchange&subject_token=a.b.c"
                           "&scope=orders%3Awrite+inventory:read"),
                     MICROSHOP_FORM_OK);
    assert_int_equal(form.n, 3);
    assert_string_equal(value("grant_type"),
                        "urn:ietf:params:oauth:grant-type:token-exchange");
    assert_string_equal(value("subject_token"), "a.b.c");
    assert_string_equal(value("scope"), "orders:write inventory:read");
    assert_null(value("actor"));
    assert_null(value("scop"));
    assert_null(value("scopes"));

    /* the order of pairs is kept */
    assert_int_equal(form.pair[0].name_len, 10);
    assert_memory_equal(form.pair[2].name, "scope", 5);
}


static void
test_empty(void **state)
{
    assert_int_equal(parse(""), MICROSHOP_FORM_OK);
    assert_int_equal(form.n, 0);

    /* empty pairs are skipped */
    assert_int_equal(parse("&&a=1&&b=2&"), MICROSHOP_FORM_OK);
    assert_int_equal(form.n, 2);
    assert_string_equal(value("a"), "1");
    assert_string_equal(value("b"), "2");

    /* a name without '=', and an empty value */
    assert_int_equal(parse("flag&v="), MICROSHOP_FORM_OK);
    assert_int_equal(form.n, 2);
    assert_string_equal(value("flag"), "");
    assert_string_equal(value("v"), "");

    /* '=' inside the value */
    assert_int_equal(parse("a=b=c"), MICROSHOP_FORM_OK);
    assert_string_equal(value("a"), "b=c");
}


static void
test_decoding(void **state)
{
    /* '+' is a space, %2B a plus; hex digits in either case */
    assert_int_equal(parse("actor=Ann+Lee%2B%2b%20x"), MICROSHOP_FORM_OK);
    assert_string_equal(value("actor"), "Ann Lee++ x");

    /* names are decoded too */
    assert_int_equal(parse("grant%5Ftype=x"), MICROSHOP_FORM_OK);
    assert_string_equal(value("grant_type"), "x");

    /* UTF-8 and other bytes pass as they are decoded */
    assert_int_equal(parse("actor=Jos%C3%A9&raw=%ff%0A"), MICROSHOP_FORM_OK);
    assert_string_equal(value("actor"), "Jos\xc3\xa9");
    assert_string_equal(value("raw"), "\xff\n");

    /* a literal character that is not encoded */
    assert_int_equal(parse("t=a.b_c-d~e"), MICROSHOP_FORM_OK);
    assert_string_equal(value("t"), "a.b_c-d~e");
}


static void
test_bad_escapes(void **state)
{
    static const char  *bad[] = {
        "a=%", "a=%4", "a=%4g", "a=%g4", "a=x%", "a=%%41", "a%=1",
        "a=1&b=%zz", "%=1", "a=%+1",
    };

    size_t  i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i]), MICROSHOP_FORM_BAD_ESCAPE);
    }

    /* the error is about the second pair, whose name is known */
    assert_int_equal(parse("a=1&b=%zz"), MICROSHOP_FORM_BAD_ESCAPE);
    assert_int_equal(form.bad, 1);
    assert_true(microshop_form_is(&form.pair[1], "b"));

    /* ... or about a name that could not be decoded */
    assert_int_equal(parse("a=1&%zz=1"), MICROSHOP_FORM_BAD_ESCAPE);
    assert_int_equal(form.bad, 1);
    assert_null(form.pair[1].name);
    assert_false(microshop_form_is(&form.pair[1], "b"));
}


static void
test_nul_and_names(void **state)
{
    assert_int_equal(parse("a=x%00y"), MICROSHOP_FORM_NUL);
    assert_int_equal(parse("a%00=1"), MICROSHOP_FORM_NUL);
    assert_int_equal(parse("=1"), MICROSHOP_FORM_EMPTY_NAME);
    assert_int_equal(parse("a=1&=2"), MICROSHOP_FORM_EMPTY_NAME);
    assert_int_equal(form.bad, 1);

    /* a name that decodes to a space is a name */
    assert_int_equal(parse("+=1"), MICROSHOP_FORM_OK);
    assert_string_equal(value(" "), "1");
}


static void
test_duplicates(void **state)
{
    assert_int_equal(parse("scope=a&scope=b"), MICROSHOP_FORM_DUPLICATE);
    assert_int_equal(form.bad, 1);
    assert_true(microshop_form_is(&form.pair[1], "scope"));

    /* the same name however it is encoded */
    assert_int_equal(parse("grant_type=x&a=1&grant%5ftype=x"),
                     MICROSHOP_FORM_DUPLICATE);
    assert_int_equal(form.bad, 2);
    assert_true(microshop_form_is(&form.pair[2], "grant_type"));

    /* also an empty value given twice, and unknown names */
    assert_int_equal(parse("x&x="), MICROSHOP_FORM_DUPLICATE);

    /* a name that is a prefix of another is another name */
    assert_int_equal(parse("scope=a&scopes=b&scop=c"), MICROSHOP_FORM_OK);
    assert_int_equal(form.n, 3);
}


static void
test_too_many(void **state)
{
    char    body[1024], *p;
    size_t  i;

    p = body;

    for (i = 0; i < MICROSHOP_FORM_MAX_PAIRS; i++) {
        p += sprintf(p, "p%zu=%zu&", i, i);
    }

    assert_int_equal(microshop_form_parse(body, p - body, buf, &form),
                     MICROSHOP_FORM_OK);
    assert_int_equal(form.n, MICROSHOP_FORM_MAX_PAIRS);

    /* empty pairs do not count */
    p += sprintf(p, "&&&");
    assert_int_equal(microshop_form_parse(body, p - body, buf, &form),
                     MICROSHOP_FORM_OK);

    p += sprintf(p, "one=more");
    assert_int_equal(microshop_form_parse(body, p - body, buf, &form),
                     MICROSHOP_FORM_TOO_MANY);
}


static void
test_bounds(void **state)
{
    char  body[8];

    /* not NUL-terminated: nothing past len is read */
    memcpy(body, "a=%41%4", 8);
    assert_int_equal(microshop_form_parse(body, 5, buf, &form),
                     MICROSHOP_FORM_OK);
    assert_string_equal(value("a"), "A");
    assert_int_equal(microshop_form_parse(body, 7, buf, &form),
                     MICROSHOP_FORM_BAD_ESCAPE);
    assert_int_equal(microshop_form_parse(body, 4, buf, &form),
                     MICROSHOP_FORM_BAD_ESCAPE);

    assert_string_equal(microshop_form_error(MICROSHOP_FORM_DUPLICATE),
                        "a parameter is given more than once");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_decoding),
        cmocka_unit_test(test_bad_escapes),
        cmocka_unit_test(test_nul_and_names),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
