/*
 * ngx_microshop -- scope sets (pure logic, no nginx headers).
 */

#include <limits.h>
#include <string.h>

#include "microshop_scope.h"


/* RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static int
microshop_scope_char(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '"' && c != '\\';
}


static int
microshop_scope_valid(const char *s, size_t n)
{
    size_t  i;

    if (n == 0) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (!microshop_scope_char((unsigned char) s[i])) {
            return 0;
        }
    }

    return 1;
}


/*
 * Appends one (already validated) scope to the normalized set in out unless
 * it is there already.  Returns 0, or -1 when it does not fit.
 */
static int
microshop_scopes_append(char *out, size_t outlen, size_t *pos,
    const char *s, size_t n)
{
    size_t  need;

    if (microshop_scopes_has(out, *pos, s, n)) {
        return 0;
    }

    need = *pos + (*pos ? 1 : 0) + n + 1;

    if (need > outlen || need - 1 > INT_MAX) {
        return -1;
    }

    if (*pos) {
        out[(*pos)++] = ' ';
    }

    memcpy(out + *pos, s, n);
    *pos += n;
    out[*pos] = '\0';

    return 0;
}


static int
microshop_scopes_split(const char *in, size_t len, char sep, char *out,
    size_t outlen)
{
    size_t       pos, i, start;

    if (out == NULL || outlen == 0) {
        return -1;
    }

    out[0] = '\0';
    pos = 0;

    if (in == NULL || len == 0) {
        return 0;
    }

    start = 0;

    for (i = 0; i <= len; i++) {

        if (i < len && in[i] != sep) {
            continue;
        }

        /* an element in[start .. i) */

        if (i == start) {
            if (sep == ' ') {
                start = i + 1;
                continue;
            }

            return -1;
        }

        if (!microshop_scope_valid(in + start, i - start)) {
            return -1;
        }

        if (microshop_scopes_append(out, outlen, &pos, in + start, i - start)
            != 0)
        {
            return -1;
        }

        start = i + 1;
    }

    return (int) pos;
}


int
microshop_scopes_normalize(json_t *value, char *out, size_t outlen)
{
    size_t       i, pos, n;
    json_t      *item;
    const char  *s;

    if (out == NULL || outlen == 0) {
        return -1;
    }

    out[0] = '\0';

    if (value == NULL) {
        return 0;
    }

    if (json_is_string(value)) {
        return microshop_scopes_split(json_string_value(value),
                                      json_string_length(value), ' ',
                                      out, outlen);
    }

    if (!json_is_array(value)) {
        return -1;
    }

    pos = 0;

    json_array_foreach(value, i, item) {

        if (!json_is_string(item)) {
            out[0] = '\0';
            return -1;
        }

        s = json_string_value(item);
        n = json_string_length(item);

        if (!microshop_scope_valid(s, n)
            || microshop_scopes_append(out, outlen, &pos, s, n) != 0)
        {
            out[0] = '\0';
            return -1;
        }
    }

    return (int) pos;
}


int
microshop_scopes_normalize_str(const char *in, size_t len, char sep,
    char *out, size_t outlen)
{
    int  rc;

    rc = microshop_scopes_split(in, len, sep, out, outlen);

    if (rc < 0 && out != NULL && outlen > 0) {
        out[0] = '\0';
    }

    return rc;
}


int
microshop_scopes_has(const char *set, size_t setlen, const char *scope,
    size_t len)
{
    size_t  i, start;

    if (set == NULL || scope == NULL || len == 0) {
        return 0;
    }

    start = 0;

    for (i = 0; i <= setlen; i++) {

        if (i < setlen && set[i] != ' ') {
            continue;
        }

        if (i - start == len && memcmp(set + start, scope, len) == 0) {
            return 1;
        }

        start = i + 1;
    }

    return 0;
}


int
microshop_scopes_contains_all(const char *set, size_t setlen,
    const char *required, size_t reqlen, char *missing, size_t missinglen)
{
    int     ok;
    size_t  i, start, pos;

    if (missing != NULL && missinglen > 0) {
        missing[0] = '\0';
    }

    ok = 1;
    pos = 0;

    if (required == NULL) {
        return 1;
    }

    start = 0;

    for (i = 0; i <= reqlen; i++) {

        if (i < reqlen && required[i] != ' ') {
            continue;
        }

        if (i > start
            && !microshop_scopes_has(set, setlen, required + start, i - start))
        {
            ok = 0;

            if (missing != NULL && missinglen > 0) {
                /* a scope that does not fit is left out whole */
                (void) microshop_scopes_append(missing, missinglen, &pos,
                                               required + start, i - start);
            }
        }

        start = i + 1;
    }

    return ok;
}



int
microshop_scopes_intersect(const char *a, size_t alen, const char *b,
    size_t blen, const char *drop, char *out, size_t outlen)
{
    size_t  i, start, pos, dlen;

    if (out == NULL || outlen == 0) {
        return -1;
    }

    out[0] = '\0';
    pos = 0;
    dlen = drop ? strlen(drop) : 0;

    if (a == NULL) {
        return 0;
    }

    start = 0;

    for (i = 0; i <= alen; i++) {

        if (i < alen && a[i] != ' ') {
            continue;
        }

        if (i > start
            && (b == NULL || microshop_scopes_has(b, blen, a + start,
                                                  i - start))
            && !(i - start == dlen && memcmp(a + start, drop, dlen) == 0)
            && microshop_scopes_append(out, outlen, &pos, a + start,
                                       i - start)
               != 0)
        {
            out[0] = '\0';
            return -1;
        }

        start = i + 1;
    }

    return (int) pos;
}

/* the name (n bytes, any case) is word, or starts with it when prefix */

static int
microshop_var_is(const char *name, size_t n, const char *word, int prefix)
{
    size_t         i, wlen;
    unsigned char  c;

    wlen = strlen(word);

    if (prefix ? n <= wlen : n != wlen) {
        return 0;
    }

    for (i = 0; i < wlen; i++) {
        c = (unsigned char) name[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (unsigned char) word[i]) {
            return 0;
        }
    }

    return 1;
}


int
microshop_seller_client_var(const char *value, size_t len, size_t *off,
    size_t *n)
{
    size_t         i, start, end;
    unsigned char  c;
    const char   **w;

    static const char  *prefixes[] = { "arg_", "http_", "cookie_", NULL };
    static const char  *words[] = { "args", "query_string", "request_body",
                                    NULL };

    for (i = 0; i < len; i++) {

        if (value[i] != '$') {
            continue;
        }

        start = i + 1;

        if (start < len && value[start] == '{') {
            start++;
        }

        for (end = start; end < len; end++) {
            c = (unsigned char) value[end];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '_'))
            {
                break;
            }
        }

        for (w = prefixes; *w; w++) {
            if (microshop_var_is(value + start, end - start, *w, 1)) {
                goto found;
            }
        }

        for (w = words; *w; w++) {
            if (microshop_var_is(value + start, end - start, *w, 0)) {
                goto found;
            }
        }

        continue;

    found:

        *off = start;
        *n = end - start;
        return 1;
    }

    return 0;
}
