/*
 * ngx_microshop -- application/x-www-form-urlencoded bodies (see the
 * header).
 */

#include <string.h>

#include "microshop_form.h"
#include "microshop_path.h"


static microshop_form_rc_e microshop_form_decode(const char *p,
    const char *last, char *out, size_t *len);


microshop_form_rc_e
microshop_form_parse(const char *body, size_t len, char *buf,
    microshop_form_t *form)
{
    size_t                  i, n;
    const char             *p, *last, *amp, *eq;
    microshop_form_rc_e     rc;
    microshop_form_pair_t  *pair;

    memset(form, 0, sizeof(microshop_form_t));

    p = body;
    last = body + len;

    while (p < last) {

        amp = memchr(p, '&', last - p);
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            /* an empty pair: "a=1&&b=2", "&a=1", "a=1&" */
            p++;
            continue;
        }

        if (form->n == MICROSHOP_FORM_MAX_PAIRS) {
            form->bad = 0;
            return MICROSHOP_FORM_TOO_MANY;
        }

        form->bad = form->n;
        pair = &form->pair[form->n];

        eq = memchr(p, '=', amp - p);
        if (eq == NULL) {
            eq = amp;
        }

        if (eq == p) {
            return MICROSHOP_FORM_EMPTY_NAME;
        }

        rc = microshop_form_decode(p, eq, buf, &n);
        if (rc != MICROSHOP_FORM_OK) {
            return rc;
        }

        pair->name = buf;
        pair->name_len = n;
        buf += n;

        rc = microshop_form_decode(eq < amp ? eq + 1 : amp, amp, buf, &n);
        if (rc != MICROSHOP_FORM_OK) {
            return rc;
        }

        pair->value = buf;
        pair->value_len = n;
        buf += n;

        for (i = 0; i < form->n; i++) {
            if (form->pair[i].name_len == pair->name_len
                && memcmp(form->pair[i].name, pair->name, pair->name_len)
                   == 0)
            {
                return MICROSHOP_FORM_DUPLICATE;
            }
        }

        form->n++;
        p = amp + 1;
    }

    form->bad = 0;

    return MICROSHOP_FORM_OK;
}


/* p .. last percent-decoded into out ('+' is a space): *len bytes */

static microshop_form_rc_e
microshop_form_decode(const char *p, const char *last, char *out,
    size_t *len)
{
    int    hi, lo;
    char  *o;

    o = out;

    while (p < last) {

        if (*p == '+') {
            *o++ = ' ';
            p++;
            continue;
        }

        if (*p != '%') {
            *o++ = *p++;
            continue;
        }

        if (last - p < 3) {
            return MICROSHOP_FORM_BAD_ESCAPE;
        }

        hi = microshop_path_hex((unsigned char) p[1]);
        lo = microshop_path_hex((unsigned char) p[2]);

        if (hi < 0 || lo < 0) {
            return MICROSHOP_FORM_BAD_ESCAPE;
        }

        if (hi == 0 && lo == 0) {
            return MICROSHOP_FORM_NUL;
        }

        *o++ = (char) (hi << 4 | lo);
        p += 3;
    }

    *len = o - out;

    return MICROSHOP_FORM_OK;
}


int
microshop_form_is(const microshop_form_pair_t *pair, const char *name)
{
    size_t  len;

    len = strlen(name);

    return pair->name != NULL && pair->name_len == len
           && memcmp(pair->name, name, len) == 0;
}


const microshop_form_pair_t *
microshop_form_get(const microshop_form_t *form, const char *name)
{
    size_t  i;

    for (i = 0; i < form->n; i++) {
        if (microshop_form_is(&form->pair[i], name)) {
            return &form->pair[i];
        }
    }

    return NULL;
}


const char *
microshop_form_error(microshop_form_rc_e rc)
{
    switch (rc) {

    case MICROSHOP_FORM_OK:
        return "ok";

    case MICROSHOP_FORM_BAD_ESCAPE:
        return "a '%' is not followed by two hex digits";

    case MICROSHOP_FORM_NUL:
        return "a parameter holds a NUL byte";

    case MICROSHOP_FORM_EMPTY_NAME:
        return "a parameter has no name";

    case MICROSHOP_FORM_DUPLICATE:
        return "a parameter is given more than once";

    default: /* MICROSHOP_FORM_TOO_MANY */
        return "too many parameters";
    }
}
