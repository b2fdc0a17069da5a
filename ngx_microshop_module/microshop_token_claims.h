/*
 * ngx_microshop -- claim checks, token classes and NumericDate values (pure
 * logic, no nginx headers).  See docs/directives.md, microshop_jwt_issuer,
 * microshop_jwt_audience, microshop_jwt_leeway and microshop_token_class.
 */

#ifndef _MICROSHOP_TOKEN_CLAIMS_H_INCLUDED_
#define _MICROSHOP_TOKEN_CLAIMS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <jansson.h>


/*
 * The longest text claim a token may carry (sub, seller, jti, ...), in
 * bytes: a longer one makes the token invalid.  The revocation API takes
 * every jti up to this length, so that every accepted token is revocable
 * (docs/http.md "Revocation").
 */
#define MICROSHOP_JWT_CLAIM_MAX  1024


typedef struct {
    int64_t        now;        /* unix seconds */
    int64_t        leeway;     /* seconds, >= 0 */
    const char   **issuers;    size_t nissuers;     /* 0: not checked */
    const char   **audiences;  size_t naudiences;   /* 0: not checked */
} microshop_claims_policy_t;

/*
 * exp required, a NumericDate (below; anything else refused); expired when
 * now > exp + leeway.  nbf when present: a NumericDate, refused when
 * now + leeway < nbf.  iat when present: a NumericDate, refused when
 * iat > now + leeway.  iss when configured: a string in the list.  aud when
 * configured: a string or an array of strings, one of them in the list.
 * Returns 0 or -1 with a static *reason.
 */
int microshop_jwt_check_claims(json_t *claims,
    const microshop_claims_policy_t *p, const char **reason);

/*
 * Token class check (docs/directives.md, microshop_token_class).  max_ttl
 * in seconds; ceiling is a normalized scope set (microshop_scope.h) or NULL
 * for none; scopes is the token's normalized scope set.  Requires iat and
 * exp NumericDates with 0 <= exp - iat <= max_ttl; the token's scopes must be a
 * subset of the ceiling.  Returns 0 or -1 with a static *reason.
 */
int microshop_jwt_check_class(json_t *claims, int64_t max_ttl,
    const char *ceiling, size_t ceiling_len, const char *scopes,
    size_t scopes_len, const char **reason);

/*
 * A NumericDate claim value (integer, or real rounded down) as unix
 * seconds, 0 to MICROSHOP_TIME_MAX (year 9999), so that no time read from
 * a token or a client overflows the arithmetic done on it.  Returns 0, or
 * -1 when value is NULL, not a number, negative or beyond year 9999.
 */
int microshop_jwt_numeric_date(json_t *value, int64_t *out);

#endif /* _MICROSHOP_TOKEN_CLAIMS_H_INCLUDED_ */
