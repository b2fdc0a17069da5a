/*
 * ngx_microshop -- claim checks, token classes and NumericDate (pure logic,
 * no nginx headers), see microshop_token_claims.h.
 */

#include <stdint.h>

#include "microshop_scope.h"
#include "microshop_token_claims.h"
#include "microshop_token_str.h"
#include "microshop_time.h"


/* compares a JSON number with t: -1, 0, 1 */
static int
microshop_num_cmp(json_t *v, int64_t t)
{
    double     d;
    json_int_t i;

    if (json_is_integer(v)) {
        i = json_integer_value(v);
        return (i < t) ? -1 : (i > t);
    }

    d = json_real_value(v);

    return (d < (double) t) ? -1 : (d > (double) t);
}


static int
microshop_str_in(json_t *v, const char **list, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (list[i] != NULL && microshop_json_streq(v, list[i])) {
            return 1;
        }
    }

    return 0;
}


int
microshop_jwt_check_claims(json_t *claims,
    const microshop_claims_policy_t *p, const char **reason)
{
    int64_t      leeway, t;
    size_t       i;
    json_t      *v, *item;
    const char  *why;

    if (!json_is_object(claims) || p == NULL) {
        why = "invalid token claims";
        goto failed;
    }

    leeway = p->leeway > 0 ? p->leeway : 0;

    v = json_object_get(claims, "exp");
    if (v == NULL) {
        why = "exp missing";
        goto failed;
    }

    if (microshop_jwt_numeric_date(v, &t) != 0) {
        why = "invalid exp";
        goto failed;
    }

    if (microshop_num_cmp(v, microshop_time_add(p->now, -leeway)) < 0) {
        why = "token expired";
        goto failed;
    }

    v = json_object_get(claims, "nbf");
    if (v != NULL) {
        if (microshop_jwt_numeric_date(v, &t) != 0) {
            why = "invalid nbf";
            goto failed;
        }

        if (microshop_num_cmp(v, microshop_time_add(p->now, leeway)) > 0) {
            why = "token not yet valid";
            goto failed;
        }
    }

    v = json_object_get(claims, "iat");
    if (v != NULL) {
        if (microshop_jwt_numeric_date(v, &t) != 0) {
            why = "invalid iat";
            goto failed;
        }

        if (microshop_num_cmp(v, microshop_time_add(p->now, leeway)) > 0) {
            why = "token issued in the future";
            goto failed;
        }
    }

    if (p->nissuers > 0) {
        v = json_object_get(claims, "iss");

        if (!microshop_str_in(v, p->issuers, p->nissuers)) {
            why = "issuer not accepted";
            goto failed;
        }
    }

    if (p->naudiences > 0) {
        v = json_object_get(claims, "aud");

        if (json_is_string(v)) {
            if (!microshop_str_in(v, p->audiences, p->naudiences)) {
                why = "audience not accepted";
                goto failed;
            }

        } else if (json_is_array(v)) {
            why = "audience not accepted";

            json_array_foreach(v, i, item) {
                if (!json_is_string(item)) {
                    why = "invalid aud";
                    goto failed;
                }

                if (microshop_str_in(item, p->audiences, p->naudiences)) {
                    why = NULL;
                }
            }

            if (why != NULL) {
                goto failed;
            }

        } else {
            why = v ? "invalid aud" : "audience not accepted";
            goto failed;
        }
    }

    return 0;

failed:

    if (reason != NULL) {
        *reason = why;
    }

    return -1;
}


int
microshop_jwt_check_class(json_t *claims, int64_t max_ttl,
    const char *ceiling, size_t ceiling_len, const char *scopes,
    size_t scopes_len, const char **reason)
{
    double       d;
    json_t      *iat, *exp;
    int64_t      t;
    const char  *why;

    iat = json_object_get(claims, "iat");
    exp = json_object_get(claims, "exp");

    if (microshop_jwt_numeric_date(iat, &t) != 0) {
        why = iat ? "invalid iat" : "token class requires iat";
        goto failed;
    }

    if (microshop_jwt_numeric_date(exp, &t) != 0) {
        why = exp ? "invalid exp" : "token class requires exp";
        goto failed;
    }

    if (max_ttl < 0) {
        max_ttl = 0;
    }

    if (json_is_integer(iat) && json_is_integer(exp)) {
        if (json_integer_value(exp) < json_integer_value(iat)) {
            why = "token expires before it was issued";
            goto failed;
        }

        /* both are 0 .. MICROSHOP_TIME_MAX: no overflow */
        if (json_integer_value(exp) - json_integer_value(iat) > max_ttl) {
            why = "token lifetime exceeds its class";
            goto failed;
        }

    } else {
        d = json_number_value(exp) - json_number_value(iat);

        if (d < 0) {
            why = "token expires before it was issued";
            goto failed;
        }

        if (d > (double) max_ttl) {
            why = "token lifetime exceeds its class";
            goto failed;
        }
    }

    if (ceiling != NULL
        && !microshop_scopes_contains_all(ceiling, ceiling_len,
                                          scopes, scopes ? scopes_len : 0,
                                          NULL, 0))
    {
        why = "token scopes exceed its class";
        goto failed;
    }

    return 0;

failed:

    if (reason != NULL) {
        *reason = why;
    }

    return -1;
}


int
microshop_jwt_numeric_date(json_t *value, int64_t *out)
{
    double   d;
    int64_t  i;

    if (json_is_integer(value)) {
        i = (int64_t) json_integer_value(value);

        if (i < 0 || i > MICROSHOP_TIME_MAX) {
            return -1;
        }

        *out = i;
        return 0;
    }

    if (!json_is_real(value)) {
        return -1;
    }

    d = json_real_value(value);

    /* also refuses NaN, which jansson never makes anyway */
    if (!(d >= 0.0 && d < (double) MICROSHOP_TIME_MAX + 1.0)) {
        return -1;
    }

    /* rounded down: d is not negative */
    *out = (int64_t) d;

    return 0;
}
