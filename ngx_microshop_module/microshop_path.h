/*
 * ngx_microshop -- a request path as the client sent it (pure logic, no
 * nginx headers).
 *
 * nginx matches locations, and so reads the seller of a route, on the
 * normalized URI: %XX decoded, "." and ".." segments resolved, "//"
 * merged, cut at '#'.  proxy_pass without a URI (and FastCGI's
 * REQUEST_URI) hands the backend the raw path instead.  A raw path for
 * which the two tell different segments is refused (docs/http.md, "The
 * path a seller is read from"):
 *
 *   - a dot segment: "." or "..", also with path parameters ("..;x"),
 *     which some backends drop;
 *   - a percent-encoded '.', '/', '\' or NUL, at any depth of encoding
 *     ("%2e", "%2F", "%5c", "%252e", "%25%32%65"), or encoded more than
 *     MICROSHOP_PATH_MAX_DECODES times;
 *   - an empty segment ("//"; a trailing '/' is not one);
 *   - a backslash (a separator to nginx on Windows and to some backends);
 *   - a '#' (nginx ends the path there, the backend gets what follows).
 *
 * Every other byte and escape passes ("%41", "%C3%A9", "%3F", "A.B").
 */

#ifndef MICROSHOP_PATH_H
#define MICROSHOP_PATH_H

#include <stddef.h>


#define MICROSHOP_PATH_MAX_DECODES  4


typedef enum {
    MICROSHOP_PATH_OK = 0,
    MICROSHOP_PATH_DOT_SEGMENT,
    MICROSHOP_PATH_ENCODED,
    MICROSHOP_PATH_EMPTY_SEGMENT,
    MICROSHOP_PATH_BACKSLASH,
    MICROSHOP_PATH_FRAGMENT
} microshop_path_e;


/*
 * Checks the path of a request target (len bytes; it ends at the first
 * '?', so the whole "path?query" may be passed).  scratch: room for len
 * bytes, used to decode; it may be NULL when the path holds no '%' (a
 * path with a '%' and no scratch is refused as MICROSHOP_PATH_ENCODED).
 */
microshop_path_e microshop_path_check(const char *path, size_t len,
    char *scratch);

/* why a path was refused, one sentence for a problem's detail */
const char *microshop_path_reason(microshop_path_e rc);

/* the value of a hex digit (either case), or -1 (also the form parser's) */
int microshop_path_hex(unsigned char c);


#endif /* MICROSHOP_PATH_H */
