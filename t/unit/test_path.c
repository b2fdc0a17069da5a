/*
 * ngx_microshop -- unit tests: a request path as the client sent it.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "microshop_path.h"


typedef struct {
    const char        *path;
    microshop_path_e   rc;
} path_case_t;


#define OK      MICROSHOP_PATH_OK
#define DOT     MICROSHOP_PATH_DOT_SEGMENT
#define ENC     MICROSHOP_PATH_ENCODED
#define EMPTY   MICROSHOP_PATH_EMPTY_SEGMENT
#define BSL     MICROSHOP_PATH_BACKSLASH
#define FRAG    MICROSHOP_PATH_FRAGMENT


static const path_case_t  cases[] = {

    /* paths a seller API sees every day */
    { "/", OK },
    { "", OK },
    { "/v1/sellers/s1/inventory/A1", OK },
    { "/v1/sellers/s1/inventory/", OK },
    { "/v1/sellers/s1/inventory/A1?x=/../s2", OK },
    { "/v1/sellers/s1/inventory/A1?%2e%2e/%2f#x", OK },
    { "/v1/sellers/s1/inventory/%41%31", OK },
    { "/v1/sellers/s1/inventory/caf%C3%A9", OK },
    { "/v1/sellers/s1/inventory/caf\xc3\xa9", OK },
    { "/v1/sellers/s1/inventory/A.1", OK },
    { "/v1/sellers/s1/inventory/A..1", OK },
    { "/v1/sellers/s1/inventory/...", OK },
    { "/v1/sellers/s1/inventory/.hidden", OK },
    { "/v1/sellers/s1/inventory/a%3Fb", OK },
    { "/v1/sellers/s1/inventory/a%23b", OK },
    { "/v1/sellers/s1/inventory/100%25", OK },
    { "/v1/sellers/s1/inventory/a;b", OK },
    { "/v1/sellers/s1/inventory/a%20b+c", OK },
    { "/v1/sellers/s1/inventory/%", OK },
    { "/v1/sellers/s1/inventory/%4", OK },
    { "/v1/sellers/s1/inventory/%zz", OK },
    /* "%41" after one decoding, "A" after two, three, four */
    { "/v1/sellers/s1/inventory/%2541", OK },
    { "/v1/sellers/s1/inventory/%25252541", OK },

    /* the issue's path, and its spellings */
    { "/v1/sellers/s2/inventory/A1/../../../s1/inventory/A1", DOT },
    { "/v1/sellers/s2/inventory/A1/%2e%2e/%2e%2e/%2e%2e/s1/inventory/A1",
      ENC },
    { "/v1/sellers/s2/inventory/A1/%2E%2E/%2E%2E/%2E%2E/s1/inventory/A1",
      ENC },
    { "/v1/sellers/s2/inventory/A1/.%2e/%2E./s1", ENC },
    { "/v1/sellers/s2%2F..%2F..%2Fs1/inventory/A1", ENC },
    { "/v1/sellers/s2%2f..%2f..%2fs1/inventory/A1", ENC },
    { "/v1/sellers/s1/./inventory/A1", DOT },
    { "/v1/sellers/s1/inventory/A1/.", DOT },
    { "/v1/sellers/s1/inventory/A1/..", DOT },
    { "/./v1/sellers/s1", DOT },
    { "/..", DOT },
    { ".", DOT },
    { "..", DOT },

    /* any encoded dot, slash, backslash or NUL, at any depth */
    { "/v1/sellers/s1/inventory/A%2e1", ENC },
    { "/v1/sellers/s1/inventory/A%2F1", ENC },
    { "/v1/sellers/s1/inventory/A%5c1", ENC },
    { "/v1/sellers/s1/inventory/A%5C1", ENC },
    { "/v1/sellers/s1/inventory/A%001", ENC },
    { "/v1/sellers/s1/inventory/%252e%252e", ENC },
    { "/v1/sellers/s1/inventory/%252F", ENC },
    { "/v1/sellers/s1/inventory/%25252e", ENC },
    { "/v1/sellers/s1/inventory/%25%32%65", ENC },
    { "/v1/sellers/s1/inventory/%25%32%66", ENC },
    { "/v1/sellers/s1/inventory/%2500", ENC },
    /* five decodings: more than MICROSHOP_PATH_MAX_DECODES */
    { "/v1/sellers/s1/inventory/%2525252541", ENC },

    /* path parameters: a backend that drops them sees a dot segment */
    { "/v1/sellers/s2/inventory/A1/..;/..;/..;/s1/inventory/A1", DOT },
    { "/v1/sellers/s2/..;x=1/s1", DOT },
    { "/v1/sellers/s1/.;x/inventory", DOT },
    { "/v1/sellers/s2/..%3B/s1", DOT },
    { "/v1/sellers/s2/;x/s1", EMPTY },
    { "/v1/sellers/s1/inventory/;", EMPTY },

    /* empty segments, which nginx merges */
    { "//v1/sellers/s1", EMPTY },
    { "/v1//sellers/s1", EMPTY },
    { "/v1/sellers//s1/inventory", EMPTY },
    { "/v1/sellers/s1/inventory//", EMPTY },

    /* backslashes, raw */
    { "/v1/sellers/s2\\..\\..\\s1/inventory/A1", BSL },
    { "/v1/sellers/s1/inventory/A\\1", BSL },

    /* a fragment: nginx's path ends there, the backend's does not */
    { "/v1/sellers/s1/inventory/A1#/../../../s2/inventory/A1", FRAG },
    { "/v1/sellers/s1#", FRAG },
};


static void
test_table(void **state)
{
    char        *scratch;
    size_t       i, len;
    const char  *path;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        path = cases[i].path;
        len = strlen(path);

        scratch = malloc(len + 1);
        assert_non_null(scratch);

        if (microshop_path_check(path, len, scratch) != cases[i].rc) {
            fail_msg("\"%s\": got %d, expected %d", path,
                     (int) microshop_path_check(path, len, scratch),
                     (int) cases[i].rc);
        }

        free(scratch);
    }
}


static void
test_no_scratch(void **state)
{
    const char  *p;

    p = "/v1/sellers/s1/inventory/A1";
    assert_int_equal(microshop_path_check(p, strlen(p), NULL), OK);

    p = "/v1/sellers/s1/../s2";
    assert_int_equal(microshop_path_check(p, strlen(p), NULL), DOT);

    /* a '%' needs room to decode: refused without it */
    p = "/v1/sellers/s1/inventory/%41";
    assert_int_equal(microshop_path_check(p, strlen(p), NULL), ENC);

    /* the '%' of the query does not count */
    p = "/v1/sellers/s1/inventory/A1?q=%41";
    assert_int_equal(microshop_path_check(p, strlen(p), NULL), OK);

    assert_int_equal(microshop_path_check(NULL, 0, NULL), OK);
}


static void
test_length_bounds(void **state)
{
    char  scratch[64];

    /* only len bytes are read: what follows does not count */
    assert_int_equal(microshop_path_check("/a/../b", 3, scratch), OK);
    assert_int_equal(microshop_path_check("/a/%2e", 4, scratch), OK);
    assert_int_equal(microshop_path_check("/a/%2e", 6, scratch), ENC);

    /* an embedded NUL byte is a byte like another */
    assert_int_equal(microshop_path_check("/a\0/../b", 8, scratch), DOT);

    /* the scratch copy never touches the caller's path */
    {
        const char  path[] = "/v1/sellers/%73%31/x";
        char        copy[sizeof(path)];

        memcpy(copy, path, sizeof(path));
        assert_int_equal(microshop_path_check(copy, sizeof(path) - 1,
                                              scratch), OK);
        assert_memory_equal(copy, path, sizeof(path));
    }
}


static void
test_reasons(void **state)
{
    int  rc;

    for (rc = MICROSHOP_PATH_OK; rc <= MICROSHOP_PATH_FRAGMENT; rc++) {
        assert_non_null(microshop_path_reason((microshop_path_e) rc));
        assert_null(strchr(microshop_path_reason((microshop_path_e) rc),
                           '"'));
    }

    assert_string_equal(microshop_path_reason(MICROSHOP_PATH_DOT_SEGMENT),
                        "The path holds a dot segment.");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_no_scratch),
        cmocka_unit_test(test_length_bounds),
        cmocka_unit_test(test_reasons),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
