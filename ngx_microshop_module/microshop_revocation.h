/*
 * ngx_microshop -- the body of POST <admin>/revocations (pure logic, no
 * nginx headers; docs/http.md "Revocation"):
 *
 *   {"jti":"...","exp":<unix>}                       one token, and every
 *                                                    token minted from it
 *   {"seller":"s1","class":"staff","issued_before":<unix>}
 *                                                    a watermark: every
 *                                                    token of the seller
 *                                                    (and class) issued
 *                                                    before the time
 *
 * and how long a watermark is kept.
 */

#ifndef _MICROSHOP_REVOCATION_H_INCLUDED_
#define _MICROSHOP_REVOCATION_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <jansson.h>


typedef enum {
    MICROSHOP_REVOCATION_JTI = 1,
    MICROSHOP_REVOCATION_WATERMARK
} microshop_revocation_kind_e;


typedef struct {
    microshop_revocation_kind_e  kind;

    /* MICROSHOP_REVOCATION_JTI */
    const char                  *jti;
    size_t                       jti_len;
    int64_t                      exp;

    /* MICROSHOP_REVOCATION_WATERMARK */
    const char                  *seller;
    size_t                       seller_len;
    const char                  *cls;        /* NULL: every class */
    size_t                       cls_len;
    int64_t                      before;     /* issued_before */
} microshop_revocation_t;


/*
 * The revocation of a body read as JSON (doc NULL: the body was not one
 * JSON object, or repeated a member).  0: *rv, its strings pointing into
 * doc; -1: err (errlen bytes) holds a sentence that names what is wrong,
 * for the detail of a 400 problem.  The strings are what a token may
 * carry (1 to 1024 bytes, no control character); the times NumericDates
 * from 1 to 253402300799, their fraction dropped; "class" may be null
 * (every class, as when it is left out).
 */
int microshop_revocation_parse(json_t *doc, microshop_revocation_t *rv,
    char *err, size_t errlen);

/*
 * The time (unix s) from which no token a watermark covers can still be
 * valid, plus margin: before + max_ttl + leeway + margin, saturated.
 * max_ttl < 0 (no token class declared: a token may live for ever) gives
 * 0, kept for ever.
 */
int64_t microshop_watermark_until(int64_t before, int64_t max_ttl,
    int64_t leeway, int64_t margin);


#endif /* _MICROSHOP_REVOCATION_H_INCLUDED_ */
