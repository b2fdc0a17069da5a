/*
 * ngx_microshop -- unit tests: strict base64url decoding
 * (microshop_base64url.c).  The JWS and JWK tests reach it through tokens
 * and key files; these call it directly.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "microshop_base64url.h"


/* decodes the C string in; -1 or the decoded length */
static int
decode(const char *in, unsigned char *out, size_t outcap)
{
    size_t  n;

    n = (size_t) -1;

    if (microshop_b64url_decode(in, strlen(in), out, outcap, &n) != 0) {
        return -1;
    }

    assert_true(n <= outcap);

    return (int) n;
}


static void
decodes_to(const char *in, const char *want)
{
    int            n;
    unsigned char  out[64];

    n = decode(in, out, sizeof(out));

    if (n < 0) {
        fail_msg("\"%s\" refused, expected \"%s\"", in, want);
    }

    assert_int_equal(n, strlen(want));

    if (n > 0) {
        assert_memory_equal(out, want, n);
    }
}


static void
refused(const char *in)
{
    unsigned char  out[64];

    if (decode(in, out, sizeof(out)) != -1) {
        fail_msg("\"%s\" accepted", in);
    }
}


/* tests */

static void
test_rfc4648_vectors(void **state)
{
    /* RFC 4648 10, without the padding */
    decodes_to("", "");
    decodes_to("Zg", "f");
    decodes_to("Zm8", "fo");
    decodes_to("Zm9v", "foo");
    decodes_to("Zm9vYg", "foob");
    decodes_to("Zm9vYmE", "fooba");
    decodes_to("Zm9vYmFy", "foobar");
}


static void
test_url_alphabet(void **state)
{
    unsigned char  out[8];

    /* 0xfb 0xff: "+/8=" in base64, "-_8" in base64url */
    assert_int_equal(decode("-_8", out, sizeof(out)), 2);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);

    assert_int_equal(decode("AAAA", out, sizeof(out)), 3);
    assert_int_equal(out[0] | out[1] | out[2], 0);
    assert_int_equal(decode("____", out, sizeof(out)), 3);
    assert_int_equal(out[0] & out[1] & out[2], 0xff);

    /* the base64 characters are not base64url */
    refused("+/8");
    refused("Zm9v+A");
    refused("Zm9v/w");
}


static void
test_refused(void **state)
{
    size_t         n;
    unsigned char  out[8];

    /* padding */
    refused("Zg==");
    refused("Zm8=");
    refused("=");

    /* a length that is 1 mod 4 cannot be */
    refused("Z");
    refused("Zm9vY");

    /* non-canonical: bits set after the last full byte */
    refused("Zh");
    refused("Zm9");
    decodes_to("Zm8", "fo");

    /* anything outside the alphabet */
    refused("Zm 9v");
    refused("Zm9v\n");
    refused("Zm.v");
    refused("Zm9v\xc3\xa9");

    /* an embedded NUL within len */
    assert_int_equal(microshop_b64url_decode("Zm\0v", 4, out, sizeof(out),
                                             &n), -1);
}


static void
test_outcap(void **state)
{
    unsigned char  out[8];

    /* out must hold every decoded byte */
    assert_int_equal(decode("Zm9v", out, 2), -1);
    assert_int_equal(decode("Zm9v", out, 3), 3);
    assert_int_equal(decode("Zm9vYg", out, 3), -1);
    assert_int_equal(decode("Zm9vYg", out, 4), 4);
    assert_int_equal(decode("", out, 0), 0);
}


static void
encodes_to(const char *in, const char *want)
{
    char           out[64];
    unsigned char  back[64];

    assert_int_equal(microshop_b64url_encode((const unsigned char *) in,
                                             strlen(in), out, sizeof(out)),
                     0);
    assert_string_equal(out, want);

    /* what it writes, the strict decoder reads back */
    assert_int_equal(decode(out, back, sizeof(back)), strlen(in));
}


static void
test_encode(void **state)
{
    char                  out[8];
    static unsigned char  ff[] = { 0xfb, 0xff };

    encodes_to("", "");
    encodes_to("f", "Zg");
    encodes_to("fo", "Zm8");
    encodes_to("foo", "Zm9v");
    encodes_to("foob", "Zm9vYg");
    encodes_to("fooba", "Zm9vYmE");
    encodes_to("foobar", "Zm9vYmFy");

    assert_int_equal(microshop_b64url_encode(ff, 2, out, sizeof(out)), 0);
    assert_string_equal(out, "-_8");

    /* room for the characters and the NUL */
    assert_int_equal(microshop_b64url_encode((const unsigned char *) "foo",
                                             3, out, 4), -1);
    assert_int_equal(microshop_b64url_encode((const unsigned char *) "foo",
                                             3, out, 5), 0);
    assert_int_equal(microshop_b64url_encode((const unsigned char *) "", 0,
                                             out, 0), -1);
    assert_int_equal(MICROSHOP_B64URL_LEN(32), 43);
}


static void
test_json(void **state)
{
    size_t          n;
    json_t         *v;
    unsigned char  *out;

    v = json_string("Zm9vYmFy");
    assert_non_null(v);
    assert_int_equal(microshop_b64url_decode_json(v, &out, &n), 0);
    assert_non_null(out);
    assert_int_equal(n, 6);
    assert_memory_equal(out, "foobar", 6);
    free(out);
    json_decref(v);

    /* refused: an empty string, bad base64url, not a string, NULL */
    v = json_string("");
    assert_int_equal(microshop_b64url_decode_json(v, &out, &n), -1);
    assert_null(out);
    assert_int_equal(n, 0);
    json_decref(v);

    v = json_string("Zm9vYg==");
    assert_int_equal(microshop_b64url_decode_json(v, &out, &n), -1);
    assert_null(out);
    json_decref(v);

    v = json_stringn("Zm\0v", 4);
    assert_non_null(v);
    assert_int_equal(microshop_b64url_decode_json(v, &out, &n), -1);
    assert_null(out);
    json_decref(v);

    v = json_integer(1);
    assert_int_equal(microshop_b64url_decode_json(v, &out, &n), -1);
    assert_null(out);
    json_decref(v);

    assert_int_equal(microshop_b64url_decode_json(NULL, &out, &n), -1);
    assert_null(out);
}


/* the decoder as it was first written, one character at a time: the
 * reference the block decoder must agree with */
static int
ref_decode(const char *in, size_t len, unsigned char *out, size_t *outlen)
{
    int       v;
    size_t    i, n;
    uint32_t  acc;
    unsigned  bits;
    char      ch;

    if (len % 4 == 1) {
        return -1;
    }

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        ch = in[i];
        v = (ch >= 'A' && ch <= 'Z') ? ch - 'A'
            : (ch >= 'a' && ch <= 'z') ? ch - 'a' + 26
            : (ch >= '0' && ch <= '9') ? ch - '0' + 52
            : ch == '-' ? 62 : ch == '_' ? 63 : -1;

        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    if (acc != 0) {
        return -1;
    }

    *outlen = n;
    return 0;
}


/* random strings over the alphabet and some bytes outside it */
static void
test_block_decoder_matches_reference(void **state)
{
    int            i, rc, want;
    size_t         len, j, n, m;
    char           in[64];
    unsigned char  out[64], ref[64];
    static const char  chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        "AQgw=+/. \x80";

    srand(7);

    for (i = 0; i < 200000; i++) {
        len = (size_t) rand() % 24;

        for (j = 0; j < len; j++) {
            /* mostly the alphabet, now and then another byte */
            in[j] = (rand() % 50) ? chars[rand() % 64]
                                  : chars[rand() % (sizeof(chars) - 1)];
        }

        want = ref_decode(in, len, ref, &m);
        rc = microshop_b64url_decode(in, len, out, sizeof(out), &n);
        assert_int_equal(rc, want);

        if (rc == 0) {
            assert_int_equal(n, m);
            assert_memory_equal(out, ref, n);
        }
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_url_alphabet),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_outcap),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_block_decoder_matches_reference),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
