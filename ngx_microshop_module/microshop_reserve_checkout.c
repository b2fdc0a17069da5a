/*
 * Checkout bodies, see microshop_reserve_checkout.h.
 */

#include <string.h>
#include <jansson.h>

#include "microshop_reserve_checkout.h"
#include "microshop_token_str.h"


static int microshop_checkout_top_names(json_t *doc, const char **err);
static int microshop_checkout_item_names(json_t *item, const char **err);


static char
microshop_checkout_lower(unsigned char c)
{
    return (char) ((c >= 'A' && c <= 'Z') ? (c | 0x20) : c);
}


int
microshop_checkout_parse(const char *body, size_t len,
    microshop_checkout_line_t *out, size_t max, const char **err)
{
    int            n;
    size_t         i, k, slen;
    json_t        *doc, *items, *item, *sku, *qty;
    json_int_t     q;
    const char    *s;
    json_error_t   jerr;

    /* jansson refuses invalid UTF-8, lone surrogates, a NUL in a name,
     * trailing bytes, integers beyond 64 bits and reals beyond a double */

    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!json_is_object(doc)) {
        if (doc != NULL) {
            *err = "the body is not a JSON object";

        } else if (strncmp(jerr.text, "duplicate", 9) == 0) {
            *err = "a member name appears twice in one object";

        } else {
            *err = "the body is not valid JSON";
        }

        json_decref(doc);
        return -1;
    }

    if (microshop_checkout_top_names(doc, err) != 0) {
        goto failed;
    }

    items = json_object_get(doc, "items");

    if (!json_is_array(items) || json_array_size(items) == 0) {
        *err = "\"items\" must be a non-empty array";
        goto failed;
    }

    if (json_array_size(items) > MICROSHOP_CHECKOUT_MAX_LINES
        || json_array_size(items) > max)
    {
        *err = "too many items";
        goto failed;
    }

    n = 0;

    json_array_foreach(items, i, item) {
        if (!json_is_object(item)) {
            *err = "every item must be an object";
            goto failed;
        }

        if (microshop_checkout_item_names(item, err) != 0) {
            goto failed;
        }

        sku = json_object_get(item, "sku");
        qty = json_object_get(item, "quantity");

        if (!json_is_string(sku)) {
            *err = "every item needs a \"sku\" string";
            goto failed;
        }

        s = json_string_value(sku);
        slen = json_string_length(sku);

        if (slen == 0 || slen > MICROSHOP_CHECKOUT_MAX_SKU
            || !microshop_text_is_clean(s, slen))
        {
            *err = "a \"sku\" is empty, too long or has control characters";
            goto failed;
        }

        /* a real (3.0, 3e0) is not an integer to every backend: refused */

        if (!json_is_integer(qty)) {
            *err = "every item needs an integer \"quantity\"";
            goto failed;
        }

        q = json_integer_value(qty);

        if (q <= 0 || q > MICROSHOP_CHECKOUT_MAX_QTY) {
            *err = "a \"quantity\" must be a positive integer";
            goto failed;
        }

        for (k = 0; k < (size_t) n; k++) {
            if (out[k].sku_len == slen && memcmp(out[k].sku, s, slen) == 0) {
                break;
            }
        }

        if (k < (size_t) n) {
            out[k].quantity += q;

            if (out[k].quantity > MICROSHOP_CHECKOUT_MAX_QTY) {
                *err = "a \"quantity\" must be a positive integer";
                goto failed;
            }

            continue;
        }

        memcpy(out[n].sku, s, slen);
        out[n].sku[slen] = '\0';
        out[n].sku_len = slen;
        out[n].quantity = q;
        n++;
    }

    json_decref(doc);
    return n;

failed:

    json_decref(doc);
    return -1;
}


/* top level: any member but one a case-insensitive parser reads as items */

static int
microshop_checkout_top_names(json_t *doc, const char **err)
{
    json_t      *v;
    const char  *name;

    json_object_foreach(doc, name, v) {
        if (strcmp(name, "items") != 0
            && microshop_checkout_name_folds(name, strlen(name), "items"))
        {
            *err = "a member spells \"items\" another way (letter case, "
                   "'_', '-' or a letter that folds to i, k or s); "
                   "member names are exact";
            return -1;
        }
    }

    return 0;
}


/* an item: "sku" and "quantity", nothing else */

static int
microshop_checkout_item_names(json_t *item, const char **err)
{
    size_t       len;
    json_t      *v;
    const char  *name;

    json_object_foreach(item, name, v) {
        if (strcmp(name, "sku") == 0 || strcmp(name, "quantity") == 0) {
            continue;
        }

        len = strlen(name);

        if (microshop_checkout_name_folds(name, len, "sku")
            || microshop_checkout_name_folds(name, len, "quantity"))
        {
            *err = "an item member spells \"sku\" or \"quantity\" another "
                   "way (letter case, '_', '-' or a letter that folds to "
                   "i, k or s); member names are exact";

        } else {
            *err = "an item may hold only \"sku\" and \"quantity\"";
        }

        return -1;
    }

    return 0;
}


int
microshop_checkout_name_folds(const char *name, size_t len,
    const char *target)
{
    char                  c;
    size_t                i;
    const unsigned char  *p;

    p = (const unsigned char *) name;
    i = 0;

    while (i < len) {

        if (p[i] == '_' || p[i] == '-') {
            i++;
            continue;
        }

        if (p[i] < 0x80) {
            c = microshop_checkout_lower(p[i]);
            i++;

        } else if (len - i >= 2 && p[i] == 0xc4
                   && (p[i + 1] == 0xb0 || p[i + 1] == 0xb1))
        {
            c = 'i';                          /* U+0130, U+0131 */
            i += 2;

        } else if (len - i >= 2 && p[i] == 0xc5 && p[i + 1] == 0xbf) {
            c = 's';                          /* U+017F */
            i += 2;

        } else if (len - i >= 3 && p[i] == 0xe2 && p[i + 1] == 0x84
                   && p[i + 2] == 0xaa)
        {
            c = 'k';                          /* U+212A */
            i += 3;

        } else {
            return 0;
        }

        if (*target != c) {
            return 0;
        }

        target++;
    }

    return *target == '\0';
}


int
microshop_checkout_media_type(const char *value, size_t len)
{
    size_t                n;
    const char           *type;
    const unsigned char  *p;

    type = "application/json";
    p = (const unsigned char *) value;

    for (n = 0; type[n] != '\0'; n++) {
        if (n == len || microshop_checkout_lower(p[n]) != type[n]) {
            return 0;
        }
    }

    /* the end, or parameters after optional white space */

    for ( /* void */ ; n < len; n++) {
        if (value[n] == ';') {
            return 1;
        }

        if (value[n] != ' ' && value[n] != '\t') {
            return 0;
        }
    }

    return 1;
}
