/*
 * Unit tests of the webhook signature (microshop_events_signature.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "microshop_events_signature.h"


#define NOW        1700000000LL
#define TOLERANCE  300

static const char  secret[] = "whsec_0123456789abcdef0123456789";
static const char  other[] = "whsec_fedcba9876543210fedcba9876";
static const char  body[] = "{\"id\":\"evt_1\",\"seller\":\"s1\","
                            "\"sku\":\"A1\",\"version\":7}";


static void
hex(const unsigned char *mac, char *out)
{
    size_t  i;

    for (i = 0; i < MICROSHOP_SIG_MAC_LEN; i++) {
        sprintf(out + 2 * i, "%02x", mac[i]);
    }
}


/* "t=<t>,v1=<hex>" for secret s over b */
static void
sign(char *out, size_t size, const char *s, long long t, const char *b)
{
    char           ts[32], h[2 * MICROSHOP_SIG_MAC_LEN + 1];
    unsigned char  mac[MICROSHOP_SIG_MAC_LEN];

    snprintf(ts, sizeof(ts), "%lld", t);
    assert_int_equal(microshop_sig_compute((const unsigned char *) s,
                                           strlen(s),
                                           (const unsigned char *) ts,
                                           strlen(ts),
                                           (const unsigned char *) b,
                                           strlen(b), mac),
                     0);
    hex(mac, h);
    snprintf(out, size, "t=%s,v1=%s", ts, h);
}


static microshop_sig_result_e
verify(const char *header, const char *s, const char *b, int64_t now)
{
    return microshop_sig_verify((const unsigned char *) header,
                                strlen(header), (const unsigned char *) s,
                                strlen(s), (const unsigned char *) b,
                                strlen(b), now, TOLERANCE);
}


static void
test_known_vector(void **state)
{
    char           h[2 * MICROSHOP_SIG_MAC_LEN + 1];
    unsigned char  mac[MICROSHOP_SIG_MAC_LEN];

    /*
     * python3 -c 'import hmac,hashlib;
     *   print(hmac.new(b"key", b"1.body", hashlib.sha256).hexdigest())'
     */
    assert_int_equal(microshop_sig_compute((const unsigned char *) "key", 3,
                                           (const unsigned char *) "1", 1,
                                           (const unsigned char *) "body", 4,
                                           mac),
                     0);
    hex(mac, h);
    assert_string_equal(h, "91b5374b153842ad05b2c4eab9349b83"
                           "21b14703165bd3fb8b034dfb8be98ae5");
}


static void
test_valid(void **state)
{
    char  header[256];

    sign(header, sizeof(header), secret, NOW, body);
    assert_int_equal(verify(header, secret, body, NOW), MICROSHOP_SIG_OK);

    /* inside the window on both sides */
    assert_int_equal(verify(header, secret, body, NOW + TOLERANCE),
                     MICROSHOP_SIG_OK);
    assert_int_equal(verify(header, secret, body, NOW - TOLERANCE),
                     MICROSHOP_SIG_OK);
}


static void
test_uppercase_hex_and_spaces(void **state)
{
    char    header[256], spaced[300];
    size_t  i;

    sign(header, sizeof(header), secret, NOW, body);

    for (i = 0; header[i]; i++) {
        if (header[i] >= 'a' && header[i] <= 'f' && i > 3) {
            header[i] = (char) (header[i] - 'a' + 'A');
        }
    }

    assert_int_equal(verify(header, secret, body, NOW), MICROSHOP_SIG_OK);

    sign(header, sizeof(header), secret, NOW, body);
    *strchr(header, ',') = '\0';
    snprintf(spaced, sizeof(spaced), " %s ,\t%s ", header,
             header + strlen(header) + 1);
    assert_int_equal(verify(spaced, secret, body, NOW), MICROSHOP_SIG_OK);
}


static void
test_empty_body(void **state)
{
    char  header[256];

    sign(header, sizeof(header), secret, NOW, "");
    assert_int_equal(verify(header, secret, "", NOW), MICROSHOP_SIG_OK);
    assert_int_equal(verify(header, secret, "x", NOW),
                     MICROSHOP_SIG_MISMATCH);
}


static void
test_wrong_secret(void **state)
{
    char  header[256];

    sign(header, sizeof(header), other, NOW, body);
    assert_int_equal(verify(header, secret, body, NOW),
                     MICROSHOP_SIG_MISMATCH);
}


static void
test_tampered_body(void **state)
{
    char  header[256], tampered[sizeof(body)];

    sign(header, sizeof(header), secret, NOW, body);

    memcpy(tampered, body, sizeof(body));
    tampered[sizeof(body) - 3] = '8';     /* version 7 -> 8 */

    assert_int_equal(verify(header, secret, tampered, NOW),
                     MICROSHOP_SIG_MISMATCH);
}


static void
test_tampered_timestamp(void **state)
{
    char  header[256], *p;

    /* the timestamp is signed: moving it breaks the signature */
    sign(header, sizeof(header), secret, NOW, body);
    p = strchr(header, ',');
    p[-1] = (char) (p[-1] + 1);

    assert_int_equal(verify(header, secret, body, NOW),
                     MICROSHOP_SIG_MISMATCH);

    /* the signed text is t as sent: a leading zero is another text */
    sign(header, sizeof(header), secret, NOW, body);
    memmove(header + 3, header + 2, strlen(header + 2) + 1);
    header[2] = '0';

    assert_int_equal(verify(header, secret, body, NOW),
                     MICROSHOP_SIG_MISMATCH);
}


static void
test_stale_and_future(void **state)
{
    char  header[256];

    sign(header, sizeof(header), secret, NOW - TOLERANCE - 1, body);
    assert_int_equal(verify(header, secret, body, NOW), MICROSHOP_SIG_STALE);

    sign(header, sizeof(header), secret, NOW + TOLERANCE + 1, body);
    assert_int_equal(verify(header, secret, body, NOW),
                     MICROSHOP_SIG_FUTURE);

    /* a stale header is refused before its signature counts */
    sign(header, sizeof(header), other, 1, body);
    assert_int_equal(verify(header, secret, body, NOW), MICROSHOP_SIG_STALE);
}


static void
test_rotation(void **state)
{
    char  a[256], b[256], header[600];

    sign(a, sizeof(a), secret, NOW, body);
    sign(b, sizeof(b), other, NOW, body);

    /* old and new secret: either order verifies with either secret */
    snprintf(header, sizeof(header), "%s,%s", a, strchr(b, ',') + 1);
    assert_int_equal(verify(header, secret, body, NOW), MICROSHOP_SIG_OK);
    assert_int_equal(verify(header, other, body, NOW), MICROSHOP_SIG_OK);

    snprintf(header, sizeof(header), "%s,%s", b, strchr(a, ',') + 1);
    assert_int_equal(verify(header, secret, body, NOW), MICROSHOP_SIG_OK);

    /* neither matches a third secret */
    assert_int_equal(verify(header, "a-third-secret-of-32-bytes-long!",
                            body, NOW),
                     MICROSHOP_SIG_MISMATCH);
}


static void
test_unknown_schemes_ignored(void **state)
{
    char  a[256], header[600];

    sign(a, sizeof(a), secret, NOW, body);

    snprintf(header, sizeof(header), "v0=deadbeef,%s,v2=zz,x-ext=,k=v=w",
             a);
    assert_int_equal(verify(header, secret, body, NOW), MICROSHOP_SIG_OK);

    /* v1 in another position */
    snprintf(header, sizeof(header), "%s,t=%lld", strchr(a, ',') + 1, NOW);
    assert_int_equal(verify(header, secret, body, NOW), MICROSHOP_SIG_OK);
}


static void
test_parse(void **state)
{
    char                    a[256];
    microshop_sig_header_t  h;

    sign(a, sizeof(a), secret, NOW, body);

    assert_int_equal(microshop_sig_parse((const unsigned char *) a,
                                         strlen(a), &h),
                     0);
    assert_int_equal(h.timestamp, NOW);
    assert_int_equal(h.t_len, 10);
    assert_memory_equal(h.t, "1700000000", 10);
    assert_int_equal(h.nv1, 1);
}


static void
test_malformed(void **state)
{
    size_t                  i;
    char                    good[256], v1[128], many[2048], buf[600];
    microshop_sig_header_t  h;
    const char             *bad[] = {
        "",
        " ",
        ",",
        "t=1700000000",                        /* no v1 */
        "v1=%s",                               /* no t */
        "t=,v1=%s",
        "t=-1700000000,v1=%s",
        "t=+1700000000,v1=%s",
        "t=17000000x0,v1=%s",
        "t=1 700000000,v1=%s",
        "t=1234567890123456,v1=%s",            /* 16 digits */
        "t=1700000000,t=1700000000,v1=%s",     /* second t */
        "t=1700000000,,v1=%s",                 /* empty element */
        "t=1700000000,v1=%s,",                 /* trailing comma */
        ",t=1700000000,v1=%s",
        "t=1700000000,v1=",
        "t=1700000000,v1=abc",
        "t=1700000000,v1=%sa",                 /* 65 hex digits */
        "t=1700000000,v1=%s,v1=zz",
        "t=1700000000;v1=%s",
        "t=1700000000,v1 = %s",
        "t 1700000000,v1=%s",
        "=1,t=1700000000,v1=%s",               /* empty name */
        "t=1700000000,v*=1,v1=%s",             /* bad name */
        "T=1700000000,V1=%s",                  /* names are lower case */
    };

    sign(good, sizeof(good), secret, NOW, body);
    snprintf(v1, sizeof(v1), "%s", strstr(good, "v1=") + 3);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(buf, sizeof(buf), bad[i], v1);
        if (verify(buf, secret, body, NOW) != MICROSHOP_SIG_MALFORMED) {
            fail_msg("not refused as malformed: \"%s\"", buf);
        }
    }

    /* a v1 with a non-hex digit */
    snprintf(buf, sizeof(buf), "%s", good);
    buf[strlen(buf) - 1] = 'g';
    assert_int_equal(verify(buf, secret, body, NOW), MICROSHOP_SIG_MALFORMED);

    /* at most 8 signatures */
    snprintf(many, sizeof(many), "t=%lld", NOW);
    for (i = 0; i < MICROSHOP_SIG_MAX_V1; i++) {
        snprintf(many + strlen(many), sizeof(many) - strlen(many), ",v1=%s",
                 v1);
    }
    assert_int_equal(verify(many, secret, body, NOW), MICROSHOP_SIG_OK);
    snprintf(many + strlen(many), sizeof(many) - strlen(many), ",v1=%s", v1);
    assert_int_equal(verify(many, secret, body, NOW),
                     MICROSHOP_SIG_MALFORMED);

    /* a NULL or oversized header */
    assert_int_equal(microshop_sig_parse(NULL, 0, &h), -1);
    assert_int_equal(microshop_sig_parse((const unsigned char *) good,
                                         MICROSHOP_SIG_HEADER_MAX + 1, &h),
                     -1);
    assert_int_equal(h.nv1, 0);
}


static void
test_result_text(void **state)
{
    assert_non_null(strstr(microshop_sig_result_text(MICROSHOP_SIG_STALE),
                           "old"));
    assert_non_null(strstr(microshop_sig_result_text(MICROSHOP_SIG_FUTURE),
                           "future"));
    assert_non_null(strstr(microshop_sig_result_text(MICROSHOP_SIG_MALFORMED),
                           "malformed"));
    assert_non_null(strstr(microshop_sig_result_text(MICROSHOP_SIG_MISMATCH),
                           "match"));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vector),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_uppercase_hex_and_spaces),
        cmocka_unit_test(test_empty_body),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_tampered_body),
        cmocka_unit_test(test_tampered_timestamp),
        cmocka_unit_test(test_stale_and_future),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_unknown_schemes_ignored),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_result_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
