/*
 * ngx_microshop -- a small JSON writer (microshop_json_out.h).
 */

#include <string.h>

#include "microshop_json_out.h"


static void microshop_json_out_bytes(microshop_json_out_t *o,
    const void *data, size_t len);
static void microshop_json_out_name(microshop_json_out_t *o,
    const char *name);


void
microshop_json_out_init(microshop_json_out_t *o, unsigned char *buf,
    size_t size)
{
    o->start = buf;
    o->p = buf;
    o->end = buf + size;
    o->overflow = 0;
    o->comma = 0;
}


static void
microshop_json_out_bytes(microshop_json_out_t *o, const void *data,
    size_t len)
{
    if (o->overflow || (size_t) (o->end - o->p) < len) {
        o->overflow = 1;
        return;
    }

    memcpy(o->p, data, len);
    o->p += len;
}


/* the ',' before a value, and its name in an object */

static void
microshop_json_out_name(microshop_json_out_t *o, const char *name)
{
    if (o->comma) {
        microshop_json_out_bytes(o, ",", 1);
    }

    o->comma = 1;

    if (name == NULL) {
        return;
    }

    /* names are literals of the module: plain ASCII, nothing to escape */
    microshop_json_out_bytes(o, "\"", 1);
    microshop_json_out_bytes(o, name, strlen(name));
    microshop_json_out_bytes(o, "\":", 2);
}


void
microshop_json_out_open(microshop_json_out_t *o, const char *name, char c)
{
    microshop_json_out_name(o, name);
    microshop_json_out_bytes(o, &c, 1);
    o->comma = 0;
}


void
microshop_json_out_close(microshop_json_out_t *o, char c)
{
    microshop_json_out_bytes(o, &c, 1);
    o->comma = 1;
}


int
microshop_json_out_string(microshop_json_out_t *o, const char *name,
    const unsigned char *s, size_t len)
{
    size_t              i, from;
    unsigned char       c, esc[6];
    static const char   hex[] = "0123456789ABCDEF";

    if (!microshop_json_out_utf8(s, len)) {
        return -1;
    }

    microshop_json_out_name(o, name);
    microshop_json_out_bytes(o, "\"", 1);

    from = 0;

    for (i = 0; i < len; i++) {
        c = s[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }

        microshop_json_out_bytes(o, s + from, i - from);
        from = i + 1;

        esc[0] = '\\';

        switch (c) {
        case '"':  esc[1] = '"';  break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b';  break;
        case '\f': esc[1] = 'f';  break;
        case '\n': esc[1] = 'n';  break;
        case '\r': esc[1] = 'r';  break;
        case '\t': esc[1] = 't';  break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            microshop_json_out_bytes(o, esc, 6);
            continue;
        }

        microshop_json_out_bytes(o, esc, 2);
    }

    microshop_json_out_bytes(o, s + from, len - from);
    microshop_json_out_bytes(o, "\"", 1);

    return 0;
}


void
microshop_json_out_int(microshop_json_out_t *o, const char *name, int64_t v)
{
    unsigned char  buf[MICROSHOP_JSON_OUT_INT_MAX], *p;
    uint64_t       u;

    microshop_json_out_name(o, name);

    p = buf + sizeof(buf);
    u = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;

    do {
        *--p = (unsigned char) ('0' + u % 10);
        u /= 10;
    } while (u);

    if (v < 0) {
        *--p = '-';
    }

    microshop_json_out_bytes(o, p, buf + sizeof(buf) - p);
}


void
microshop_json_out_bool(microshop_json_out_t *o, const char *name, int v)
{
    microshop_json_out_name(o, name);

    if (v) {
        microshop_json_out_bytes(o, "true", 4);

    } else {
        microshop_json_out_bytes(o, "false", 5);
    }
}


void
microshop_json_out_raw(microshop_json_out_t *o, const char *name,
    const unsigned char *json, size_t len)
{
    microshop_json_out_name(o, name);
    microshop_json_out_bytes(o, json, len);
}


size_t
microshop_json_out_end(microshop_json_out_t *o)
{
    return o->overflow ? 0 : (size_t) (o->p - o->start);
}


int
microshop_json_out_utf8(const unsigned char *s, size_t len)
{
    size_t    i, n, k;
    uint32_t  cp, min;

    for (i = 0; i < len; i += n) {
        cp = s[i];

        if (cp < 0x80) {
            n = 1;
            continue;
        }

        if ((cp & 0xe0) == 0xc0) {
            n = 2; cp &= 0x1f; min = 0x80;

        } else if ((cp & 0xf0) == 0xe0) {
            n = 3; cp &= 0x0f; min = 0x800;

        } else if ((cp & 0xf8) == 0xf0) {
            n = 4; cp &= 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (s[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}
