/*
 * Fuzz target: checkout bodies (microshop_reserve_checkout.c).
 */

#include <string.h>

#include "fuzz.h"
#include "microshop_reserve_checkout.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                               n, i, j;
    char                             *body;
    const char                       *err;
    static microshop_checkout_line_t  out[MICROSHOP_CHECKOUT_MAX_LINES];

    /* not NUL-terminated, as a request body is */
    body = malloc(size ? size : 1);
    FUZZ_CHECK(body != NULL);
    memcpy(body, data, size);

    err = NULL;
    n = microshop_checkout_parse(body, size, out,
                                 MICROSHOP_CHECKOUT_MAX_LINES, &err);

    if (n < 0) {
        FUZZ_CHECK(n == -1 && err != NULL && err[0] != '\0');

    } else {
        FUZZ_CHECK(n >= 1 && n <= MICROSHOP_CHECKOUT_MAX_LINES);

        for (i = 0; i < n; i++) {
            FUZZ_CHECK(out[i].sku_len >= 1
                       && out[i].sku_len <= MICROSHOP_CHECKOUT_MAX_SKU);
            FUZZ_CHECK(out[i].sku[out[i].sku_len] == '\0');
            FUZZ_CHECK(strlen(out[i].sku) == out[i].sku_len);
            FUZZ_CHECK(memchr(out[i].sku, '\n', out[i].sku_len) == NULL);
            FUZZ_CHECK(out[i].quantity >= 1
                       && out[i].quantity <= MICROSHOP_CHECKOUT_MAX_QTY);

            /* lines of one SKU are merged */
            for (j = 0; j < i; j++) {
                FUZZ_CHECK(out[j].sku_len != out[i].sku_len
                           || memcmp(out[j].sku, out[i].sku,
                                     out[i].sku_len) != 0);
            }
        }
    }

    /* a smaller room for lines never overflows */
    n = microshop_checkout_parse(body, size, out, 1, &err);
    FUZZ_CHECK(n == -1 || n == 1);

    free(body);

    return 0;
}
