/*
 * Checkout bodies: {"items":[{"sku":"A1","quantity":2},...]}.  Pure logic
 * (jansson), no nginx.
 */

#ifndef _MICROSHOP_RESERVE_CHECKOUT_H_INCLUDED_
#define _MICROSHOP_RESERVE_CHECKOUT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define MICROSHOP_CHECKOUT_MAX_LINES  100
#define MICROSHOP_CHECKOUT_MAX_SKU    256
#define MICROSHOP_CHECKOUT_MAX_QTY    1000000


typedef struct {
    char      sku[MICROSHOP_CHECKOUT_MAX_SKU + 1];
    size_t    sku_len;
    int64_t   quantity;
} microshop_checkout_line_t;


/*
 * Parses a checkout body strictly: a JSON object (duplicate members
 * refused) whose "items" is a non-empty array of at most
 * MICROSHOP_CHECKOUT_MAX_LINES objects, each with "sku" a non-empty string
 * of printable characters without '\n' and "quantity" a positive integer
 * (1 .. MICROSHOP_CHECKOUT_MAX_QTY).  Other members are ignored.  Lines of
 * the same SKU are merged, their quantities added.  Returns the number of
 * lines written to out (at most max), or -1 with *err set to a static
 * message.
 */
int microshop_checkout_parse(const char *body, size_t len,
    microshop_checkout_line_t *out, size_t max, const char **err);


#endif /* _MICROSHOP_RESERVE_CHECKOUT_H_INCLUDED_ */
