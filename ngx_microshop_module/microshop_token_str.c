/*
 * ngx_microshop -- string helpers of the token files (pure logic, no nginx
 * headers), see microshop_token_str.h.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "microshop_token_str.h"


void
microshop_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    (void) vsnprintf(err, errlen, fmt, args);
    va_end(args);
}


const char *
microshop_memfind(const char *hay, size_t haylen, const char *needle)
{
    size_t  n, i;

    n = strlen(needle);

    if (n == 0 || n > haylen) {
        return NULL;
    }

    for (i = 0; i + n <= haylen; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0) {
            return hay + i;
        }
    }

    return NULL;
}


/* a JSON string equal to the C string lit (embedded NULs never match) */
int
microshop_json_streq(json_t *v, const char *lit)
{
    size_t  n;

    if (!json_is_string(v)) {
        return 0;
    }

    n = json_string_length(v);

    return n == strlen(lit) && memcmp(json_string_value(v), lit, n) == 0;
}


int
microshop_text_is_clean(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}
