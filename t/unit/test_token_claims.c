/*
 * ngx_microshop -- unit tests: claim checks, NumericDate values and token
 * classes (microshop_token_claims.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "microshop_token_claims.h"
#include "token_fixture.h"


/* tests: claims */

static int
claims_check(const char *json, const microshop_claims_policy_t *p,
    const char **reason)
{
    int           rc;
    json_t       *c;
    json_error_t  jerr;

    /* JSON_ALLOW_NUL: to see that an embedded NUL never matches */
    c = json_loads(json, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    assert_non_null(c);
    *reason = NULL;
    rc = microshop_jwt_check_claims(c, p, reason);
    json_decref(c);

    if (rc != 0) {
        assert_int_equal(rc, -1);
        assert_non_null(*reason);
    }

    return rc;
}


static void
claims_ok(const char *json, const microshop_claims_policy_t *p)
{
    const char  *reason;

    if (claims_check(json, p, &reason) != 0) {
        fail_msg("claims %s refused: %s", json, reason);
    }
}


static void
claims_fail(const char *json, const microshop_claims_policy_t *p,
    const char *want)
{
    const char  *reason;

    if (claims_check(json, p, &reason) == 0) {
        fail_msg("claims %s accepted; expected \"%s\"", json, want);
    }

    if (strcmp(reason, want) != 0) {
        fail_msg("claims %s: reason \"%s\", expected \"%s\"", json, reason,
                 want);
    }
}


static void
test_claims_time(void **state)
{
    microshop_claims_policy_t  p;

    memset(&p, 0, sizeof(p));
    p.now = NOW;
    p.leeway = 30;

    claims_ok("{\"exp\":1700003600}", &p);
    claims_fail("{\"sub\":\"u\"}", &p, "exp missing");
    claims_fail("{\"exp\":\"1700003600\"}", &p, "invalid exp");
    claims_fail("{\"exp\":null}", &p, "invalid exp");
    claims_fail("{\"exp\":true}", &p, "invalid exp");
    claims_fail("{\"exp\":[1700003600]}", &p, "invalid exp");

    /* expired beyond the leeway vs within it */
    claims_fail("{\"exp\":1699999969}", &p, "token expired");
    claims_ok("{\"exp\":1699999970}", &p);
    claims_ok("{\"exp\":1699999990}", &p);
    claims_fail("{\"exp\":1699999969.5}", &p, "token expired");
    claims_ok("{\"exp\":1699999970.0}", &p);

    /* NumericDates from 0 to year 9999 only: no overflow further on */
    claims_fail("{\"exp\":0}", &p, "token expired");
    claims_fail("{\"exp\":-1}", &p, "invalid exp");
    claims_fail("{\"exp\":-0.5}", &p, "invalid exp");
    claims_ok("{\"exp\":253402300799}", &p);
    claims_ok("{\"exp\":253402300799.5}", &p);
    claims_fail("{\"exp\":253402300800}", &p, "invalid exp");
    claims_fail("{\"exp\":9223372036854775807}", &p, "invalid exp");
    claims_fail("{\"exp\":-9223372036854775808}", &p, "invalid exp");
    claims_fail("{\"exp\":1e300}", &p, "invalid exp");
    claims_fail("{\"exp\":-1e300}", &p, "invalid exp");
    claims_fail("{\"exp\":1700003600,\"nbf\":-1}", &p, "invalid nbf");
    claims_fail("{\"exp\":1700003600,\"nbf\":4611686018427387904}", &p,
                "invalid nbf");
    claims_fail("{\"exp\":1700003600,\"iat\":-9223372036854775808}", &p,
                "invalid iat");
    claims_fail("{\"exp\":1700003600,\"iat\":253402300800.0}", &p,
                "invalid iat");

    /* nbf */
    claims_fail("{\"exp\":1700003600,\"nbf\":1700000031}", &p,
                "token not yet valid");
    claims_ok("{\"exp\":1700003600,\"nbf\":1700000030}", &p);
    claims_ok("{\"exp\":1700003600,\"nbf\":1600000000.5}", &p);
    claims_fail("{\"exp\":1700003600,\"nbf\":\"0\"}", &p, "invalid nbf");

    /* iat */
    claims_fail("{\"exp\":1700003600,\"iat\":1700000031}", &p,
                "token issued in the future");
    claims_fail("{\"exp\":1700003600,\"iat\":1700003600}", &p,
                "token issued in the future");
    claims_ok("{\"exp\":1700003600,\"iat\":1700000030}", &p);
    claims_fail("{\"exp\":1700003600,\"iat\":{}}", &p, "invalid iat");

    /* no leeway */
    p.leeway = 0;
    claims_fail("{\"exp\":1699999999}", &p, "token expired");
    claims_ok("{\"exp\":1700000000}", &p);
    claims_fail("{\"exp\":1700003600,\"nbf\":1700000001}", &p,
                "token not yet valid");

    /* a huge leeway does not overflow */
    p.leeway = INT64_MAX;
    claims_ok("{\"exp\":1}", &p);
    claims_ok("{\"exp\":1,\"nbf\":253402300799}", &p);
}


static void
test_claims_iss_aud(void **state)
{
    const char                 *iss[] = { "https://a.example", "https://b" };
    const char                 *aud[] = { "api", "shop" };
    microshop_claims_policy_t   p;

    memset(&p, 0, sizeof(p));
    p.now = NOW;
    p.leeway = 30;

    /* not configured: anything goes */
    claims_ok("{\"exp\":1700003600,\"iss\":5,\"aud\":{}}", &p);

    p.issuers = iss;
    p.nissuers = 2;
    claims_ok("{\"exp\":1700003600,\"iss\":\"https://b\"}", &p);
    claims_ok("{\"exp\":1700003600,\"iss\":\"https://a.example\"}", &p);
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://c\"}", &p,
                "issuer not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://B\"}", &p,
                "issuer not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b/\"}", &p,
                "issuer not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\\u0000x\"}", &p,
                "issuer not accepted");
    claims_fail("{\"exp\":1700003600}", &p, "issuer not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":[\"https://b\"]}", &p,
                "issuer not accepted");

    p.audiences = aud;
    p.naudiences = 2;
    claims_ok("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":\"shop\"}",
              &p);
    claims_ok("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":[\"x\","
              "\"api\"]}", &p);
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":\"x\"}",
                &p, "audience not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":[\"x\","
                "\"y\"]}", &p, "audience not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":[]}", &p,
                "audience not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\"}", &p,
                "audience not accepted");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":[1,"
                "\"api\"]}", &p, "invalid aud");
    claims_fail("{\"exp\":1700003600,\"iss\":\"https://b\",\"aud\":5}", &p,
                "invalid aud");

    /* checks run after exp */
    claims_fail("{\"exp\":1,\"iss\":\"https://c\"}", &p, "token expired");
}


/* microshop_jwt_numeric_date() of j (then released): -1, or 0 and want */
static void
numeric_date_is(json_t *j, int64_t want, int rc)
{
    int64_t  v;

    assert_non_null(j);
    assert_int_equal(microshop_jwt_numeric_date(j, &v), rc);

    if (rc == 0) {
        assert_true(v == want);
    }

    json_decref(j);
}


static void
test_numeric_date(void **state)
{
    int64_t  v;

    numeric_date_is(json_real(1.9), 1, 0);
    numeric_date_is(json_real(0.5), 0, 0);
    numeric_date_is(json_integer(42), 42, 0);
    numeric_date_is(json_integer(0), 0, 0);

    /* from 0 to year 9999 only */
    numeric_date_is(json_integer(253402300799), 253402300799, 0);
    numeric_date_is(json_real(253402300799.9), 253402300799, 0);
    numeric_date_is(json_integer(253402300800), 0, -1);
    numeric_date_is(json_real(253402300800.0), 0, -1);
    numeric_date_is(json_integer(INT64_MAX), 0, -1);
    numeric_date_is(json_integer(-1), 0, -1);
    numeric_date_is(json_integer(INT64_MIN), 0, -1);
    numeric_date_is(json_real(-1.5), 0, -1);
    numeric_date_is(json_real(-0.25), 0, -1);
    numeric_date_is(json_real(1e300), 0, -1);

    numeric_date_is(json_string("42"), 0, -1);
    numeric_date_is(json_true(), 0, -1);
    assert_int_equal(microshop_jwt_numeric_date(NULL, &v), -1);
}


/* tests: token classes */

static int
class_check(const char *json, int64_t max_ttl, const char *ceiling,
    const char *scopes, const char **reason)
{
    int           rc;
    json_t       *c;
    json_error_t  jerr;

    c = json_loads(json, 0, &jerr);
    assert_non_null(c);
    *reason = NULL;
    rc = microshop_jwt_check_class(c, max_ttl, ceiling,
                                   ceiling ? strlen(ceiling) : 0,
                                   scopes, scopes ? strlen(scopes) : 0,
                                   reason);
    json_decref(c);

    if (rc != 0) {
        assert_int_equal(rc, -1);
        assert_non_null(*reason);
    }

    return rc;
}


static void
test_class(void **state)
{
    const char  *r;
    const char  *ceil = "orders:read orders:write";

    /* lifetime: 900 s */
    assert_int_equal(class_check("{\"iat\":1700000000,\"exp\":1700000900}",
                                 900, NULL, "", &r), 0);
    assert_int_equal(class_check("{\"iat\":1700000000,\"exp\":1700000900}",
                                 899, NULL, "", &r), -1);
    assert_string_equal(r, "token lifetime exceeds its class");
    assert_int_equal(class_check("{\"iat\":1700000000.5,\"exp\":1700000900.75}",
                                 900, NULL, "", &r), -1);
    assert_int_equal(class_check("{\"iat\":1700000000.5,\"exp\":1700000900}",
                                 900, NULL, "", &r), 0);
    assert_int_equal(class_check("{\"iat\":-9223372036854775807,"
                                 "\"exp\":9223372036854775807}",
                                 2592000, NULL, "", &r), -1);
    assert_string_equal(r, "invalid iat");
    assert_int_equal(class_check("{\"iat\":0,\"exp\":9223372036854775807}",
                                 INT64_MAX, NULL, "", &r), -1);
    assert_string_equal(r, "invalid exp");
    assert_int_equal(class_check("{\"iat\":0,\"exp\":253402300799}",
                                 INT64_MAX, NULL, "", &r), 0);
    assert_int_equal(class_check("{\"iat\":0,\"exp\":253402300799}",
                                 253402300798, NULL, "", &r), -1);
    assert_string_equal(r, "token lifetime exceeds its class");

    /* iat and exp required, numbers, in order */
    assert_int_equal(class_check("{\"exp\":1700000900}", 900, NULL, "", &r),
                     -1);
    assert_string_equal(r, "token class requires iat");
    assert_int_equal(class_check("{\"iat\":1700000000}", 900, NULL, "", &r),
                     -1);
    assert_string_equal(r, "token class requires exp");
    assert_int_equal(class_check("{\"iat\":\"1700000000\",\"exp\":1700000900}",
                                 900, NULL, "", &r), -1);
    assert_string_equal(r, "invalid iat");
    assert_int_equal(class_check("{\"iat\":1700000900,\"exp\":1700000000}",
                                 900, NULL, "", &r), -1);
    assert_string_equal(r, "token expires before it was issued");

    /* scope ceiling */
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, ceil,
                                 "orders:read", &r), 0);
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, ceil,
                                 "orders:write orders:read", &r), 0);
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, ceil, "", &r),
                     0);
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, ceil, NULL,
                                 &r), 0);
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, ceil,
                                 "orders:read microshop:admin", &r), -1);
    assert_string_equal(r, "token scopes exceed its class");
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, "",
                                 "orders:read", &r), -1);
    /* no ceiling: any scopes */
    assert_int_equal(class_check("{\"iat\":1,\"exp\":2}", 900, NULL,
                                 "microshop:admin", &r), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims_time),
        cmocka_unit_test(test_claims_iss_aud),
        cmocka_unit_test(test_numeric_date),
        cmocka_unit_test(test_class),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
