/*
 * Fuzz target: the Authorization header parser (microshop_token_bearer.c),
 * against a plain reading of its grammar.
 */

#include <string.h>

#include "fuzz.h"
#include "microshop_token_bearer.h"


static int
is_token68(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || (c != '\0' && strchr("-._~+/", c));
}


/* the same grammar, written the slow way */
static int
reference(const uint8_t *v, size_t len, size_t *start, size_t *tlen)
{
    size_t  i, s, e, pad;

    if (len < 6 || strncasecmp((const char *) v, "bearer", 6) != 0
        || memchr(v, '\0', 6) != NULL)
    {
        return MICROSHOP_BEARER_NONE;
    }

    if (len == 6) {
        return MICROSHOP_BEARER_MALFORMED;
    }

    if (v[6] != ' ') {
        return MICROSHOP_BEARER_NONE;
    }

    s = 6;
    while (s < len && v[s] == ' ') {
        s++;
    }

    e = len;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) {
        e--;
    }

    pad = 0;
    while (pad < e - s && v[e - 1 - pad] == '=') {
        pad++;
    }

    if (e - s - pad == 0) {
        return MICROSHOP_BEARER_MALFORMED;
    }

    for (i = s; i < e - pad; i++) {
        if (!is_token68(v[i])) {
            return MICROSHOP_BEARER_MALFORMED;
        }
    }

    *start = s;
    *tlen = e - s;

    return MICROSHOP_BEARER_OK;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int       rc, want;
    size_t    s, n, ws, wn;
    uint8_t  *copy;

    /* an exact-size copy: a read past the value is an ASan report */
    copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size);

    s = n = ws = wn = (size_t) -1;

    rc = microshop_bearer_parse(copy, size, &s, &n);
    want = reference(copy, size, &ws, &wn);

    FUZZ_CHECK(rc == want);

    if (rc == MICROSHOP_BEARER_OK) {
        FUZZ_CHECK(s == ws && n == wn);
        FUZZ_CHECK(n > 0 && s + n <= size);

    } else {
        /* untouched */
        FUZZ_CHECK(s == (size_t) -1 && n == (size_t) -1);
    }

    free(copy);

    return 0;
}
