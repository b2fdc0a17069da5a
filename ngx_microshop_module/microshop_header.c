/*
 * ngx_microshop -- what may be written into an HTTP header, see
 * microshop_header.h.
 */

#include <string.h>

#include "microshop_header.h"


int
microshop_header_value_ok(const unsigned char *s, size_t len)
{
    size_t  i;

    if (len && (s[0] == ' ' || s[0] == '\t'
                || s[len - 1] == ' ' || s[len - 1] == '\t'))
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* 1 when every byte is printable ASCII (0x20-0x7e) and not in refused */

static int
microshop_header_printable(const unsigned char *s, size_t len,
    const char *refused)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        /* a NUL is below 0x20: strchr() never sees one */
        if (s[i] < 0x20 || s[i] > 0x7e || strchr(refused, s[i]) != NULL) {
            return 0;
        }
    }

    return 1;
}


int
microshop_header_qtext_ok(const unsigned char *s, size_t len)
{
    return microshop_header_printable(s, len, "\"\\");
}


int
microshop_header_sf_string_ok(const unsigned char *s, size_t len)
{
    return microshop_header_printable(s, len, "");
}


size_t
microshop_header_sf_string(unsigned char *out, const unsigned char *s,
    size_t len)
{
    size_t  i, n;

    n = 0;

    if (out) {
        out[n] = '"';
    }

    n++;

    for (i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            if (out) {
                out[n] = '\\';
            }

            n++;
        }

        if (out) {
            out[n] = s[i];
        }

        n++;
    }

    if (out) {
        out[n] = '"';
    }

    return n + 1;
}


int
microshop_header_name_has_prefix(const unsigned char *name, size_t len,
    const char *prefix)
{
    size_t         i, n;
    unsigned char  c;

    n = strlen(prefix);

    if (len < n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        c = name[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;

        } else if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9')) {
            c = '-';
        }

        if (c != (unsigned char) prefix[i]) {
            return 0;
        }
    }

    return 1;
}
