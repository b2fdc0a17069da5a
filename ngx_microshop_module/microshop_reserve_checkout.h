/*
 * Checkout bodies: {"items":[{"sku":"A1","quantity":2},...]}.  Pure logic
 * (jansson), no nginx.  The rules are those of docs/inventory.md
 * "Checkout bodies": the edge and every backend parser must read one
 * meaning from a body, so nothing a backend might read otherwise passes.
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
 * Parses a checkout body strictly: one JSON object (valid UTF-8, duplicate
 * members refused at every level) whose "items" is a non-empty array of at
 * most MICROSHOP_CHECKOUT_MAX_LINES objects.  Each item holds exactly "sku",
 * a string of 1 .. MICROSHOP_CHECKOUT_MAX_SKU bytes without control
 * characters, and "quantity", an integer 1 .. MICROSHOP_CHECKOUT_MAX_QTY
 * written as one (no fraction, no exponent), and no other member.  Other
 * top-level members are allowed unless their name folds onto "items"
 * (microshop_checkout_name_folds()).  Lines of the same SKU are merged,
 * their quantities added.  Returns the number of lines written to out (at
 * most max), or -1 with *err set to a static message.
 */
int microshop_checkout_parse(const char *body, size_t len,
    microshop_checkout_line_t *out, size_t max, const char **err);

/*
 * 1 when name (len bytes of UTF-8) is read as target (lower-case ASCII, a C
 * string) by a case-insensitive JSON parser: ASCII letters in either case,
 * U+017F (long s) as 's', U+212A (Kelvin sign) as 'k', U+0130 and U+0131
 * (dotted and dotless I) as 'i', with every '_' and '-' left out.  Go's
 * encoding/json folds the first two (its v2 also drops '_' and '-'),
 * Java's String.equalsIgnoreCase() all four.  0 otherwise.
 */
int microshop_checkout_name_folds(const char *name, size_t len,
    const char *target);

/*
 * 1 when a Content-Type value (len bytes) is application/json, in any
 * letter case, alone or followed by parameters; 0 for anything else.
 */
int microshop_checkout_media_type(const char *value, size_t len);


#endif /* _MICROSHOP_RESERVE_CHECKOUT_H_INCLUDED_ */
