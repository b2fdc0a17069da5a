/*
 * ngx_microshop -- a one-pass JSON parser for the header and the claims of
 * a token (pure logic, no nginx headers), see microshop_json_parse.h.
 */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "microshop_json_parse.h"


typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
    unsigned char        *scratch;    /* unescaped strings, len bytes */
    size_t                len;
    int                   depth;
} microshop_jp_t;


static json_t *microshop_jp_value(microshop_jp_t *s);


static void
microshop_jp_ws(microshop_jp_t *s)
{
    while (s->p < s->end
           && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n'
               || *s->p == '\r'))
    {
        s->p++;
    }
}


/* the bytes of one UTF-8 sequence at p (RFC 3629 table), 0 when invalid */
static size_t
microshop_jp_utf8(const unsigned char *p, const unsigned char *end)
{
    size_t         i, n;
    unsigned char  c, lo, hi;

    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c == 0xe0) {
        n = 3;
        lo = 0xa0;

    } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
        n = 3;

    } else if (c == 0xed) {
        n = 3;
        hi = 0x9f;                      /* no surrogates */

    } else if (c == 0xf0) {
        n = 4;
        lo = 0x90;

    } else if (c >= 0xf1 && c <= 0xf3) {
        n = 4;

    } else if (c == 0xf4) {
        n = 4;
        hi = 0x8f;                      /* at most U+10FFFF */

    } else {
        return 0;
    }

    if ((size_t) (end - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }

    return n;
}


/* four hex digits at p (the caller checked there are four), or -1 */
static long
microshop_jp_hex4(const unsigned char *p)
{
    int   i;
    long  v;

    v = 0;

    for (i = 0; i < 4; i++) {
        v <<= 4;

        if (p[i] >= '0' && p[i] <= '9') {
            v |= p[i] - '0';

        } else if (p[i] >= 'a' && p[i] <= 'f') {
            v |= p[i] - 'a' + 10;

        } else if (p[i] >= 'A' && p[i] <= 'F') {
            v |= p[i] - 'A' + 10;

        } else {
            return -1;
        }
    }

    return v;
}


/* \uXXXX (and its low surrogate) at p, just after the 'u'; the code point
 * goes to *cp; returns the bytes read, 0 when invalid */
static size_t
microshop_jp_unicode(const unsigned char *p, const unsigned char *end,
    long *cp)
{
    long  hi, lo;

    if (end - p < 4 || (hi = microshop_jp_hex4(p)) < 0) {
        return 0;
    }

    if (hi >= 0xdc00 && hi <= 0xdfff) {
        return 0;                       /* a low surrogate alone */
    }

    if (hi < 0xd800 || hi > 0xdbff) {
        *cp = hi;
        return (hi == 0) ? 0 : 4;       /* no NUL */
    }

    if (end - p < 10 || p[4] != '\\' || p[5] != 'u'
        || (lo = microshop_jp_hex4(p + 6)) < 0xdc00 || lo > 0xdfff)
    {
        return 0;
    }

    *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);

    return 10;
}


static unsigned char *
microshop_jp_put_utf8(unsigned char *o, long cp)
{
    if (cp < 0x80) {
        *o++ = (unsigned char) cp;

    } else if (cp < 0x800) {
        *o++ = (unsigned char) (0xc0 | (cp >> 6));
        *o++ = (unsigned char) (0x80 | (cp & 0x3f));

    } else if (cp < 0x10000) {
        *o++ = (unsigned char) (0xe0 | (cp >> 12));
        *o++ = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        *o++ = (unsigned char) (0x80 | (cp & 0x3f));

    } else {
        *o++ = (unsigned char) (0xf0 | (cp >> 18));
        *o++ = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
        *o++ = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        *o++ = (unsigned char) (0x80 | (cp & 0x3f));
    }

    return o;
}


/*
 * The string at s->p (a '"').  Without escapes *str points into the input;
 * with escapes into s->scratch, which the next string overwrites (an
 * unescaped string is never longer than its JSON form).  0 or -1.
 */
static int
microshop_jp_string(microshop_jp_t *s, const char **str, size_t *len)
{
    long                  cp;
    size_t                n;
    unsigned char         c, *o;
    const unsigned char  *p, *start;

    p = s->p + 1;
    start = p;
    o = NULL;

    for ( ;; ) {

        if (p == s->end) {
            return -1;
        }

        c = *p;

        if (c == '"') {
            break;
        }

        if (c < 0x20) {
            return -1;
        }

        if (c == '\\') {
            if (o == NULL) {
                if (s->scratch == NULL) {
                    s->scratch = malloc(s->len);
                    if (s->scratch == NULL) {
                        return -1;
                    }
                }

                memcpy(s->scratch, start, (size_t) (p - start));
                o = s->scratch + (p - start);
            }

            if (++p == s->end) {
                return -1;
            }

            switch (*p++) {
            case '"':
                *o++ = '"';
                break;
            case '\\':
                *o++ = '\\';
                break;
            case '/':
                *o++ = '/';
                break;
            case 'b':
                *o++ = '\b';
                break;
            case 'f':
                *o++ = '\f';
                break;
            case 'n':
                *o++ = '\n';
                break;
            case 'r':
                *o++ = '\r';
                break;
            case 't':
                *o++ = '\t';
                break;
            case 'u':
                n = microshop_jp_unicode(p, s->end, &cp);
                if (n == 0) {
                    return -1;
                }

                p += n;
                o = microshop_jp_put_utf8(o, cp);
                break;
            default:
                return -1;
            }

            continue;
        }

        if (c < 0x80) {
            n = 1;

        } else {
            n = microshop_jp_utf8(p, s->end);
            if (n == 0) {
                return -1;
            }
        }

        if (o != NULL) {
            memcpy(o, p, n);
            o += n;
        }

        p += n;
    }

    s->p = p + 1;

    if (o != NULL) {
        *str = (const char *) s->scratch;
        *len = (size_t) (o - s->scratch);

    } else {
        *str = (const char *) start;
        *len = (size_t) (p - start);
    }

    return 0;
}


static int
microshop_jp_digits(microshop_jp_t *s)
{
    const unsigned char  *p;

    p = s->p;

    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        s->p++;
    }

    return (s->p > p) ? 0 : -1;
}


/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, as jansson reads it */
static json_t *
microshop_jp_number(microshop_jp_t *s)
{
    int                   real;
    char                  small[64], *buf, *e;
    size_t                n;
    double                d;
    json_t               *v;
    long long             i;
    const unsigned char  *start;

    start = s->p;
    real = 0;

    if (*s->p == '-') {
        s->p++;
    }

    if (s->p == s->end) {
        return NULL;
    }

    if (*s->p == '0') {
        s->p++;

    } else if (microshop_jp_digits(s) != 0) {
        return NULL;
    }

    if (s->p < s->end && *s->p == '.') {
        real = 1;
        s->p++;

        if (microshop_jp_digits(s) != 0) {
            return NULL;
        }
    }

    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        real = 1;
        s->p++;

        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) {
            s->p++;
        }

        if (microshop_jp_digits(s) != 0) {
            return NULL;
        }
    }

    n = (size_t) (s->p - start);
    buf = (n < sizeof(small)) ? small : malloc(n + 1);

    if (buf == NULL) {
        return NULL;
    }

    memcpy(buf, start, n);
    buf[n] = '\0';
    errno = 0;

    if (!real) {
        i = strtoll(buf, &e, 10);
        v = (errno == ERANGE) ? NULL : json_integer((json_int_t) i);

    } else {
        d = strtod(buf, &e);
        v = ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
            ? NULL : json_real(d);
    }

    if (buf != small) {
        free(buf);
    }

    return v;
}


static json_t *
microshop_jp_literal(microshop_jp_t *s, const char *lit, size_t n,
    json_t *v)
{
    if ((size_t) (s->end - s->p) < n || memcmp(s->p, lit, n) != 0) {
        return NULL;
    }

    s->p += n;

    return v;
}


static json_t *
microshop_jp_object(microshop_jp_t *s)
{
    char        *copy;
    size_t       klen;
    json_t      *obj, *v;
    const char  *key;

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    s->p++;
    microshop_jp_ws(s);

    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return obj;
    }

    for ( ;; ) {
        microshop_jp_ws(s);

        if (s->p == s->end || *s->p != '"'
            || microshop_jp_string(s, &key, &klen) != 0)
        {
            goto failed;
        }

        copy = NULL;

        if ((const unsigned char *) key == s->scratch) {
            /* the value's strings would overwrite it */
            copy = malloc(klen + 1);
            if (copy == NULL) {
                goto failed;
            }

            memcpy(copy, key, klen);
            key = copy;
        }

        microshop_jp_ws(s);

        if (s->p == s->end || *s->p != ':') {
            free(copy);
            goto failed;
        }

        s->p++;

        v = microshop_jp_value(s);

        if (v == NULL || json_object_getn(obj, key, klen) != NULL) {
            /* JSON_REJECT_DUPLICATES */
            json_decref(v);
            free(copy);
            goto failed;
        }

        /* the key is valid UTF-8 without NUL: checked already */
        if (json_object_setn_new_nocheck(obj, key, klen, v) != 0) {
            free(copy);
            goto failed;
        }

        free(copy);

        microshop_jp_ws(s);

        if (s->p == s->end) {
            goto failed;
        }

        if (*s->p == ',') {
            s->p++;
            continue;
        }

        if (*s->p == '}') {
            s->p++;
            return obj;
        }

        goto failed;
    }

failed:

    json_decref(obj);

    return NULL;
}


static json_t *
microshop_jp_array(microshop_jp_t *s)
{
    json_t  *arr, *v;

    arr = json_array();
    if (arr == NULL) {
        return NULL;
    }

    s->p++;
    microshop_jp_ws(s);

    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return arr;
    }

    for ( ;; ) {
        v = microshop_jp_value(s);

        if (v == NULL || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            return NULL;
        }

        microshop_jp_ws(s);

        if (s->p == s->end) {
            break;
        }

        if (*s->p == ',') {
            s->p++;
            continue;
        }

        if (*s->p == ']') {
            s->p++;
            return arr;
        }

        break;
    }

    json_decref(arr);

    return NULL;
}


static json_t *
microshop_jp_value(microshop_jp_t *s)
{
    size_t       len;
    json_t      *v;
    const char  *str;

    microshop_jp_ws(s);

    if (s->p == s->end) {
        return NULL;
    }

    switch (*s->p) {

    case '{':
    case '[':
        if (++s->depth > MICROSHOP_JSON_DEPTH_MAX) {
            return NULL;
        }

        v = (*s->p == '{') ? microshop_jp_object(s) : microshop_jp_array(s);
        s->depth--;

        return v;

    case '"':
        if (microshop_jp_string(s, &str, &len) != 0) {
            return NULL;
        }

        /* valid UTF-8 without NUL: checked already */
        return json_stringn_nocheck(str, len);

    case 't':
        return microshop_jp_literal(s, "true", 4, json_true());

    case 'f':
        return microshop_jp_literal(s, "false", 5, json_false());

    case 'n':
        return microshop_jp_literal(s, "null", 4, json_null());

    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) {
            return microshop_jp_number(s);
        }

        return NULL;
    }
}


json_t *
microshop_json_parse_object(const unsigned char *data, size_t len)
{
    json_t          *v;
    microshop_jp_t   s;

    if (data == NULL) {
        return NULL;
    }

    s.p = data;
    s.end = data + len;
    s.scratch = NULL;
    s.len = len;
    s.depth = 0;

    microshop_jp_ws(&s);

    if (s.p == s.end || *s.p != '{') {
        return NULL;
    }

    v = microshop_jp_value(&s);

    if (v != NULL) {
        microshop_jp_ws(&s);

        if (s.p != s.end) {
            json_decref(v);
            v = NULL;
        }
    }

    free(s.scratch);

    return v;
}
