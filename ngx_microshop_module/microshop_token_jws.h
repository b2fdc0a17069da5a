/*
 * ngx_microshop -- compact JWS: parsing and signature verification (pure
 * logic, no nginx headers).  See docs/http.md "Tokens (401)" and
 * docs/directives.md, microshop_jwt_key.
 *
 * A failure leaves the OpenSSL error queue empty.
 */

#ifndef _MICROSHOP_TOKEN_JWS_H_INCLUDED_
#define _MICROSHOP_TOKEN_JWS_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>

#include "microshop_token_keys.h"


#define MICROSHOP_JWT_MAX_LEN    8192      /* bytes of a compact JWS */


typedef struct {
    json_t                 *header;   /* owned */
    json_t                 *claims;   /* owned */
    const microshop_key_t  *key;      /* the key that verified it */
} microshop_jwt_t;

/*
 * Parse and verify a compact JWS.  Returns 0 and fills out (release with
 * microshop_jwt_release), or -1 with *reason set to a static, client-safe
 * string (never token content) and out zeroed.  The claims are parsed only
 * after the signature is verified.  See docs/http.md "Tokens (401)".
 */
int microshop_jwt_verify(const microshop_keyset_t *ks, const char *token,
    size_t len, microshop_jwt_t *out, const char **reason);
/*
 * microshop_jwt_verify() with the keys of several sets (NULL entries are
 * skipped): a kid is looked up in the sets in order, the first that has
 * it wins (docs/tokens.md: a configured key over a provider's key of the
 * same kid); a token without kid needs exactly one key of its alg across
 * all of them.  *unknown_kid, when not NULL, is 1 when the token was
 * refused because no set has a key for it (its kid, or without kid a key
 * of its alg), else 0.
 */
int microshop_jwt_verify_sets(const microshop_keyset_t *const *sets,
    size_t nsets, const char *token, size_t len, microshop_jwt_t *out,
    const char **reason, int *unknown_kid);
/* frees header and claims; safe on a zeroed or already released struct */
void microshop_jwt_release(microshop_jwt_t *jwt);

#endif /* _MICROSHOP_TOKEN_JWS_H_INCLUDED_ */
