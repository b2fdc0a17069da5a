/*
 * ngx_microshop -- a request path as the client sent it (pure logic, no
 * nginx headers).
 */

#include <string.h>

#include "microshop_path.h"


int
microshop_path_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * One decoding of every %XX in s, in place, as a backend that decodes the
 * path (once more) would do.  1: an escape was decoded; 0: none was left;
 * -1: an escape stands for '.', '/', '\' or NUL.
 */
static int
microshop_path_decode(char *s, size_t *n)
{
    int            hi, lo, decoded;
    size_t         i, out;
    unsigned char  c;

    decoded = 0;
    out = 0;

    for (i = 0; i < *n; i++) {

        if (s[i] == '%' && i + 2 < *n) {
            hi = microshop_path_hex((unsigned char) s[i + 1]);
            lo = microshop_path_hex((unsigned char) s[i + 2]);

            if (hi >= 0 && lo >= 0) {
                c = (unsigned char) (hi << 4 | lo);

                if (c == '.' || c == '/' || c == '\\' || c == '\0') {
                    return -1;
                }

                s[out++] = (char) c;
                i += 2;
                decoded = 1;
                continue;
            }
        }

        s[out++] = s[i];
    }

    *n = out;

    return decoded;
}


/* the segments of a path whose escapes are all decoded */

static microshop_path_e
microshop_path_segments(const char *s, size_t n)
{
    size_t       len, plain;
    const char  *p, *end, *slash, *semi;

    if (n == 0) {
        return MICROSHOP_PATH_OK;
    }

    p = s;
    end = s + n;

    if (*p == '/') {
        p++;
    }

    for ( ;; ) {
        slash = memchr(p, '/', end - p);
        len = (slash ? slash : end) - p;

        /* path parameters ("..;x") are dropped by some backends */
        semi = memchr(p, ';', len);
        plain = semi ? (size_t) (semi - p) : len;

        if (plain == 0 && (slash || len)) {
            /* "//", or a segment that is empty without its parameters */
            return MICROSHOP_PATH_EMPTY_SEGMENT;
        }

        if ((plain == 1 && p[0] == '.')
            || (plain == 2 && p[0] == '.' && p[1] == '.'))
        {
            return MICROSHOP_PATH_DOT_SEGMENT;
        }

        if (slash == NULL) {
            return MICROSHOP_PATH_OK;
        }

        p = slash + 1;
    }
}


microshop_path_e
microshop_path_check(const char *path, size_t len, char *scratch)
{
    int     rc, quoted;
    size_t  i, n, round;

    quoted = 0;

    for (i = 0; i < len && path[i] != '?'; i++) {

        switch (path[i]) {

        case '#':
            return MICROSHOP_PATH_FRAGMENT;

        case '\\':
            return MICROSHOP_PATH_BACKSLASH;

        case '%':
            quoted = 1;
            break;
        }
    }

    n = i;

    if (!quoted) {
        return microshop_path_segments(path, n);
    }

    if (scratch == NULL) {
        return MICROSHOP_PATH_ENCODED;
    }

    memcpy(scratch, path, n);

    /* nginx decodes once; a backend may decode again, and again */

    for (round = 0; /* void */; round++) {
        rc = microshop_path_decode(scratch, &n);

        if (rc < 0 || (rc > 0 && round == MICROSHOP_PATH_MAX_DECODES)) {
            return MICROSHOP_PATH_ENCODED;
        }

        if (rc == 0) {
            break;
        }
    }

    /*
     * no escape made a '/' or a '.', so these are the raw segments, with
     * every ';' a backend may see after decoding
     */

    return microshop_path_segments(scratch, n);
}


const char *
microshop_path_reason(microshop_path_e rc)
{
    switch (rc) {

    case MICROSHOP_PATH_OK:
        return "The path is fine.";

    case MICROSHOP_PATH_DOT_SEGMENT:
        return "The path holds a dot segment.";

    case MICROSHOP_PATH_ENCODED:
        return "The path holds a percent-encoded dot, slash, backslash or "
               "NUL byte.";

    case MICROSHOP_PATH_EMPTY_SEGMENT:
        return "The path holds an empty segment.";

    case MICROSHOP_PATH_BACKSLASH:
        return "The path holds a backslash.";

    case MICROSHOP_PATH_FRAGMENT:
        return "The path holds a fragment mark.";
    }

    return "The path is invalid.";
}
