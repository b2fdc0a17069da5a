/*
 * Fuzz target: the claims of a verified token (microshop_token_claims.c,
 * microshop_scope.c, microshop_token_str.c).
 *
 * Input: a claims JSON document, as the payload of a token whose signature
 * held.
 */

#include <string.h>

#include "fuzz.h"
#include "microshop_json_parse.h"
#include "microshop_scope.h"
#include "microshop_token_claims.h"
#include "microshop_token_str.h"


#define NOW  1700000000


static void
check(int rc, const char *reason)
{
    FUZZ_CHECK(rc == 0 || (rc == -1 && reason != NULL && reason[0]));
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                        rc, n;
    char                       scopes[2048], missing[64];
    int64_t                    t;
    json_t                    *c, *v;
    const char                *reason, *key;
    static const char         *iss[] = { "https://issuer.example" };
    static const char         *aud[] = { "shop-api", "partner-api" };
    microshop_claims_policy_t  p = { NOW, 30, iss, 1, aud, 2 };

    /* as the module reads claims (microshop_json_parse.h) */
    c = microshop_json_parse_object(data, size);

    if (!json_is_object(c)) {
        json_decref(c);
        return 0;
    }

    reason = NULL;
    rc = microshop_jwt_check_claims(c, &p, &reason);
    check(rc, reason);

    p.leeway = 0;
    p.nissuers = 0;
    p.naudiences = 0;
    reason = NULL;
    rc = microshop_jwt_check_claims(c, &p, &reason);
    check(rc, reason);

    n = microshop_scopes_normalize(json_object_get(c, "scope"), scopes,
                                   sizeof(scopes));
    if (n >= 0) {
        FUZZ_CHECK((size_t) n < sizeof(scopes) && strlen(scopes) == (size_t) n);
        /* a normalized set normalizes to itself */
        {
            char  again[2048];

            FUZZ_CHECK(microshop_scopes_normalize_str(scopes, n, ' ', again,
                                                      sizeof(again)) == n);
            FUZZ_CHECK(memcmp(again, scopes, n + 1) == 0);
        }

        FUZZ_CHECK(microshop_scopes_contains_all(scopes, n, scopes, n,
                                                 missing, sizeof(missing))
                   == 1);

        rc = microshop_scopes_contains_all("inventory:read", 14, scopes, n,
                                           missing, sizeof(missing));
        FUZZ_CHECK(rc == 0 || rc == 1);
        FUZZ_CHECK(strlen(missing) < sizeof(missing));

        reason = NULL;
        rc = microshop_jwt_check_class(c, 900,
                                       "inventory:read inventory:write", 30,
                                       scopes, n, &reason);
        check(rc, reason);

        reason = NULL;
        rc = microshop_jwt_check_class(c, 0, NULL, 0, scopes, n, &reason);
        check(rc, reason);
    }

    json_object_foreach(c, key, v) {
        (void) microshop_jwt_numeric_date(v, &t);

        if (json_is_string(v)) {
            (void) microshop_text_is_clean(json_string_value(v),
                                           json_string_length(v));
        }
    }

    json_decref(c);

    return 0;
}
