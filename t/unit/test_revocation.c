/*
 * ngx_microshop -- unit tests: the body of POST <admin>/revocations
 * (microshop_revocation.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

#include "microshop_revocation.h"


/* the parse of text (NULL doc when it is not JSON); err: what was said */
static int
parse(const char *text, microshop_revocation_t *rv, char *err, size_t len)
{
    int      rc;
    json_t  *doc;

    doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    rc = microshop_revocation_parse(doc, rv, err, len);

    /* the strings point into doc: the callers look at them before */
    if (rc == 0 && rv->kind == MICROSHOP_REVOCATION_JTI) {
        static char  jti[2048];

        memcpy(jti, rv->jti, rv->jti_len);
        rv->jti = jti;
    }

    if (rc == 0 && rv->kind == MICROSHOP_REVOCATION_WATERMARK) {
        static char  seller[2048], cls[2048];

        memcpy(seller, rv->seller, rv->seller_len);
        rv->seller = seller;

        if (rv->cls) {
            memcpy(cls, rv->cls, rv->cls_len);
            rv->cls = cls;
        }
    }

    json_decref(doc);

    return rc;
}


/* refused, and the answer says so with these words */
static void
refused(const char *text, const char *words)
{
    char                    err[512];
    microshop_revocation_t  rv;

    err[0] = '\0';

    if (parse(text, &rv, err, sizeof(err)) != -1) {
        fail_msg("accepted: %s", text);
    }

    if (strstr(err, words) == NULL) {
        fail_msg("%s: \"%s\" does not say \"%s\"", text, err, words);
    }
}


static void
test_jti(void **state)
{
    microshop_revocation_t  rv;

    assert_int_equal(parse("{\"jti\":\"j1\",\"exp\":1700000000}", &rv,
                           NULL, 0), 0);
    assert_int_equal(rv.kind, MICROSHOP_REVOCATION_JTI);
    assert_int_equal(rv.jti_len, 2);
    assert_memory_equal(rv.jti, "j1", 2);
    assert_true(rv.exp == 1700000000);

    /* a real, its fraction dropped; the largest time */
    assert_int_equal(parse("{\"exp\":1700000000.9,\"jti\":\"j\"}", &rv,
                           NULL, 0), 0);
    assert_true(rv.exp == 1700000000);
    assert_int_equal(parse("{\"jti\":\"j\",\"exp\":253402300799}", &rv,
                           NULL, 0), 0);
    assert_true(rv.exp == 253402300799);
}


static void
test_watermark(void **state)
{
    microshop_revocation_t  rv;

    assert_int_equal(parse("{\"seller\":\"s1\",\"class\":\"staff\","
                           "\"issued_before\":1700000000}", &rv, NULL, 0),
                     0);
    assert_int_equal(rv.kind, MICROSHOP_REVOCATION_WATERMARK);
    assert_int_equal(rv.seller_len, 2);
    assert_memory_equal(rv.seller, "s1", 2);
    assert_int_equal(rv.cls_len, 5);
    assert_memory_equal(rv.cls, "staff", 5);
    assert_true(rv.before == 1700000000);

    /* no class, or null: every class */
    assert_int_equal(parse("{\"seller\":\"s 1\",\"issued_before\":5.5}", &rv,
                           NULL, 0), 0);
    assert_null(rv.cls);
    assert_true(rv.before == 5);
    assert_int_equal(parse("{\"seller\":\"s\",\"class\":null,"
                           "\"issued_before\":1}", &rv, NULL, 0), 0);
    assert_null(rv.cls);
}


static void
test_refused(void **state)
{
    char  big[1100 + 64];

    refused("not json", "one JSON object");
    refused("[]", "one JSON object");
    refused("{\"jti\":\"a\",\"jti\":\"b\",\"exp\":1}", "no member twice");
    refused("{}", "nothing to revoke");

    /* unknown members are named, when they can be shown */
    refused("{\"jti\":\"a\",\"exp\":1,\"why\":1}", "Unknown member \"why\"");
    refused("{\"seller\":\"a\",\"issued_before\":1,\"iat\":1}",
            "Unknown member \"iat\"");
    refused("{\"seller\":\"a\",\"issued_before\":1,\"\\u00e9\":1}",
            "An unknown member");
    refused("{\"jti\":\"a\",\"exp\":1,\"\\n\":1}", "An unknown member");

    /* one kind or the other */
    refused("{\"jti\":\"a\",\"exp\":1,\"seller\":\"s\"}", "not both");
    refused("{\"jti\":\"a\",\"issued_before\":1}", "not both");
    refused("{\"exp\":1,\"class\":\"c\"}", "not both");

    /* by jti */
    refused("{\"exp\":1}", "\"jti\" must be");
    refused("{\"jti\":\"\",\"exp\":1}", "\"jti\" must be");
    refused("{\"jti\":5,\"exp\":1}", "\"jti\" must be");
    refused("{\"jti\":\"a\\nb\",\"exp\":1}", "\"jti\" must be");
    refused("{\"jti\":\"a\"}", "\"exp\" must be");
    refused("{\"jti\":\"a\",\"exp\":0}", "253402300799");
    refused("{\"jti\":\"a\",\"exp\":0.5}", "\"exp\" must be");
    refused("{\"jti\":\"a\",\"exp\":-1}", "\"exp\" must be");
    refused("{\"jti\":\"a\",\"exp\":253402300800}", "\"exp\" must be");
    refused("{\"jti\":\"a\",\"exp\":\"1\"}", "\"exp\" must be");
    refused("{\"jti\":\"a\",\"exp\":null}", "\"exp\" must be");

    /* by seller */
    refused("{\"class\":\"c\",\"issued_before\":1}", "\"seller\" is missing");
    refused("{\"issued_before\":1}", "\"seller\" is missing");
    refused("{\"seller\":\"\",\"issued_before\":1}", "\"seller\" must be");
    refused("{\"seller\":null,\"issued_before\":1}", "\"seller\" must be");
    refused("{\"seller\":[\"s\"],\"issued_before\":1}", "\"seller\" must be");
    refused("{\"seller\":\"a\\u0001b\",\"issued_before\":1}",
            "\"seller\" must be");
    refused("{\"seller\":\"s\",\"class\":\"\",\"issued_before\":1}",
            "\"class\" must be");
    refused("{\"seller\":\"s\",\"class\":7,\"issued_before\":1}",
            "\"class\" must be");
    refused("{\"seller\":\"s\",\"class\":\"\\u007f\",\"issued_before\":1}",
            "\"class\" must be");
    refused("{\"seller\":\"s\"}", "\"issued_before\" must be");
    refused("{\"seller\":\"s\",\"issued_before\":0}", "253402300799");
    refused("{\"seller\":\"s\",\"issued_before\":\"1\"}",
            "\"issued_before\" must be");
    refused("{\"seller\":\"s\",\"issued_before\":true}",
            "\"issued_before\" must be");
    refused("{\"seller\":\"s\",\"issued_before\":1e300}",
            "\"issued_before\" must be");

    /* 1025 bytes: more than a token's claim holds */
    memset(big, 0, sizeof(big));
    strcpy(big, "{\"seller\":\"");
    memset(big + strlen(big), 'x', 1025);
    strcat(big, "\",\"issued_before\":1}");
    refused(big, "\"seller\" must be");
}


static void
test_until(void **state)
{
    assert_true(microshop_watermark_until(1000, 900, 30, 3600)
                == 1000 + 900 + 30 + 3600);
    /* no class declared: kept for ever */
    assert_true(microshop_watermark_until(1000, -1, 30, 3600) == 0);
    /* saturated, never wrapped */
    assert_true(microshop_watermark_until(INT64_MAX - 5, 900, 30, 3600)
                == INT64_MAX);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jti),
        cmocka_unit_test(test_watermark),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_until),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
