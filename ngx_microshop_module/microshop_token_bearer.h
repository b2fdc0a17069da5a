/*
 * ngx_microshop -- the Authorization header of a request that needs a
 * bearer token (RFC 6750 2.1, RFC 7235 2.1).  Pure logic, no nginx
 * headers.  See docs/http.md "Tokens (401)".
 */

#ifndef _MICROSHOP_TOKEN_BEARER_H_INCLUDED_
#define _MICROSHOP_TOKEN_BEARER_H_INCLUDED_


#include <stddef.h>


#define MICROSHOP_BEARER_OK         0    /* one token68 */
#define MICROSHOP_BEARER_NONE       1    /* another scheme: no bearer token */
#define MICROSHOP_BEARER_MALFORMED  2    /* Bearer, but not one token68 */


/*
 * An Authorization header value: "Bearer" (case-insensitive), one or more
 * spaces, one token68:
 *
 *     token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
 *               *"="
 *
 * Spaces and tabs after the token are ignored (OWS, not part of the field
 * value, RFC 9110 5.5).  A value whose first word is not "Bearer" ("Basic ...",
 * "Bearerx", "Bearer\t...") is another scheme: MICROSHOP_BEARER_NONE, as
 * RFC 6750 3.1 treats a request without a bearer token.  "Bearer" with
 * nothing, with a second word, with '=' before the end or with any byte
 * outside token68 is MICROSHOP_BEARER_MALFORMED.  On MICROSHOP_BEARER_OK
 * *start and *tlen give the token inside value; otherwise they are not
 * touched.
 */
int microshop_bearer_parse(const unsigned char *value, size_t len,
    size_t *start, size_t *tlen);


#endif /* _MICROSHOP_TOKEN_BEARER_H_INCLUDED_ */
