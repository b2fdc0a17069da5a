/*
 * Checkout bodies, see microshop_reserve_checkout.h.
 */

#include <string.h>
#include <jansson.h>

#include "microshop_reserve_checkout.h"


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

    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!json_is_object(doc)) {
        *err = "the body is not a JSON object";
        json_decref(doc);
        return -1;
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
        sku = json_object_get(item, "sku");
        qty = json_object_get(item, "quantity");

        if (!json_is_object(item) || !json_is_string(sku)) {
            *err = "every item needs a \"sku\" string";
            goto failed;
        }

        s = json_string_value(sku);
        slen = json_string_length(sku);

        if (slen == 0 || slen > MICROSHOP_CHECKOUT_MAX_SKU
            || memchr(s, '\n', slen) || memchr(s, '\0', slen))
        {
            *err = "a \"sku\" is empty, too long or has control characters";
            goto failed;
        }

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
