/*
 * ngx_microshop -- scope sets (pure logic, no nginx headers).
 *
 * A scope set is a normalized string: scopes separated by single spaces, no
 * duplicates, order of first appearance kept, e.g. "orders:read orders:write".
 * The empty string is the empty set.
 *
 * A scope is 1*( %x21 / %x23-5B / %x5D-7E ) (RFC 6749 section 3.3): printable
 * ASCII without space, '"' and '\'.  Anything else (control characters,
 * non-ASCII bytes, quotes) is refused, so a normalized set is always safe to
 * put inside a quoted HTTP header parameter (scope="...").
 */

#ifndef MICROSHOP_SCOPE_H
#define MICROSHOP_SCOPE_H

#include <stddef.h>
#include <jansson.h>


/*
 * From a claim value: a space-separated string (RFC 9068; runs of spaces,
 * leading and trailing spaces are fine) or a JSON array of strings (each a
 * single non-empty scope).  A NULL value gives the empty set.  Writes the
 * NUL-terminated normalized string into out and returns its length, or -1
 * on a wrong type, an invalid scope character, an empty array element, or
 * when the result (plus NUL) does not fit in outlen.
 */
int microshop_scopes_normalize(json_t *value, char *out, size_t outlen);

/*
 * The same from a plain string, e.g. a config value "a,b,c" (sep ',') or
 * "a b c" (sep ' ').  With sep ' ' runs of spaces are fine; with any other
 * separator an empty element ("a,,b", ",a", "a,") is refused.
 */
int microshop_scopes_normalize_str(const char *in, size_t len, char sep,
    char *out, size_t outlen);

/* 1 when scope (len bytes, a single scope) is in the set, else 0. */
int microshop_scopes_has(const char *set, size_t setlen, const char *scope,
    size_t len);

/*
 * 1 when every scope of `required` is in `set`; else 0 and, when missing is
 * not NULL and missinglen > 0, writes the missing scopes normalized and
 * NUL-terminated (scopes that do not fit are left out whole; the output is
 * never cut inside a scope).  On 1, missing (if given) is set to "".
 */
int microshop_scopes_contains_all(const char *set, size_t setlen,
    const char *required, size_t reqlen, char *missing, size_t missinglen);

/*
 * The scopes of the set a that are also in the set b (NULL: no limit),
 * except drop (a single scope, or NULL), in a's order: what the token
 * exchange grants (docs/tokens.md).  Writes the NUL-terminated normalized
 * result into out (alen + 1 bytes always suffice) and returns its length,
 * or -1 when it does not fit.
 */
int microshop_scopes_intersect(const char *a, size_t alen, const char *b,
    size_t blen, const char *drop, char *out, size_t outlen);

/*
 * The first variable in the text of a microshop_seller value ("$name" or
 * "${name}", any case, as nginx reads them) whose value a client sets as
 * it likes, independently of the path the backend reads: $arg_NAME,
 * $args, $query_string, $http_NAME, $cookie_NAME, $request_body.  Returns
 * 1 and sets *off and *n to where its name is in value (without '$' and
 * braces), or 0 when there is none.
 */
int microshop_seller_client_var(const char *value, size_t len, size_t *off,
    size_t *n);

#endif /* MICROSHOP_SCOPE_H */
