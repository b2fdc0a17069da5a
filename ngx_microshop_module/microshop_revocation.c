/*
 * ngx_microshop -- the body of POST <admin>/revocations (see the header).
 */

#include <string.h>

#include "microshop_revocation.h"
#include "microshop_token_claims.h"
#include "microshop_token_str.h"
#include "microshop_time.h"


/* an unknown member's name is repeated in the answer up to this long */
#define MICROSHOP_REVOCATION_NAME_MAX  64

#define MICROSHOP_REVOCATION_SHAPES                                          \
    "{\"jti\":\"...\",\"exp\":<unix time>} or "                             \
    "{\"seller\":\"...\",\"class\":\"...\",\"issued_before\":<unix time>}"  \
    " (class optional)"

#define MICROSHOP_REVOCATION_TIME  "a unix time from 1 to 253402300799"
#define MICROSHOP_REVOCATION_RANGE                                           \
    "; a unix time is from 1 to 253402300799"


static int microshop_revocation_text(json_t *v, const char **s, size_t *len);
static int microshop_revocation_time(json_t *v, int64_t *t);
static int microshop_revocation_printable(const char *s, size_t len);


int
microshop_revocation_parse(json_t *doc, microshop_revocation_t *rv,
    char *err, size_t errlen)
{
    json_t      *v, *jti, *exp, *seller, *cls, *before;
    const char  *name;

    memset(rv, 0, sizeof(microshop_revocation_t));

    if (!json_is_object(doc)) {
        microshop_err(err, errlen, "The body must be one JSON object "
                      "(no member twice): " MICROSHOP_REVOCATION_SHAPES
                      MICROSHOP_REVOCATION_RANGE ".");
        return -1;
    }

    json_object_foreach(doc, name, v) {
        if (strcmp(name, "jti") == 0 || strcmp(name, "exp") == 0
            || strcmp(name, "seller") == 0 || strcmp(name, "class") == 0
            || strcmp(name, "issued_before") == 0)
        {
            continue;
        }

        if (microshop_revocation_printable(name, strlen(name))) {
            microshop_err(err, errlen, "Unknown member \"%s\": a revocation "
                          "is " MICROSHOP_REVOCATION_SHAPES ".", name);
        } else {
            microshop_err(err, errlen, "An unknown member: a revocation "
                          "is " MICROSHOP_REVOCATION_SHAPES ".");
        }

        return -1;
    }

    jti = json_object_get(doc, "jti");
    exp = json_object_get(doc, "exp");
    seller = json_object_get(doc, "seller");
    cls = json_object_get(doc, "class");
    before = json_object_get(doc, "issued_before");

    if ((jti || exp) && (seller || cls || before)) {
        microshop_err(err, errlen, "A revocation is by jti (\"jti\" and "
                      "\"exp\") or by seller (\"seller\", \"class\" and "
                      "\"issued_before\"), not both.");
        return -1;
    }

    if (jti || exp) {
        rv->kind = MICROSHOP_REVOCATION_JTI;

        if (microshop_revocation_text(jti, &rv->jti, &rv->jti_len) != 0) {
            microshop_err(err, errlen, "\"jti\" must be a string of 1 to "
                          "1024 bytes without a control character.");
            return -1;
        }

        if (microshop_revocation_time(exp, &rv->exp) != 0) {
            microshop_err(err, errlen, "\"exp\" must be the token's exp, "
                          MICROSHOP_REVOCATION_TIME ".");
            return -1;
        }

        return 0;
    }

    if (seller == NULL && cls == NULL && before == NULL) {
        microshop_err(err, errlen, "The body names nothing to revoke: "
                      MICROSHOP_REVOCATION_SHAPES
                      MICROSHOP_REVOCATION_RANGE ".");
        return -1;
    }

    rv->kind = MICROSHOP_REVOCATION_WATERMARK;

    if (seller == NULL) {
        microshop_err(err, errlen, "\"seller\" is missing: a watermark "
                      "revokes tokens of one seller.");
        return -1;
    }

    if (microshop_revocation_text(seller, &rv->seller, &rv->seller_len) != 0)
    {
        microshop_err(err, errlen, "\"seller\" must be a string of 1 to "
                      "1024 bytes without a control character.");
        return -1;
    }

    if (cls && !json_is_null(cls)
        && microshop_revocation_text(cls, &rv->cls, &rv->cls_len) != 0)
    {
        microshop_err(err, errlen, "\"class\" must be a token class, a "
                      "string of 1 to 1024 bytes without a control "
                      "character, or null (every class).");
        return -1;
    }

    if (microshop_revocation_time(before, &rv->before) != 0) {
        microshop_err(err, errlen, "\"issued_before\" must be "
                      MICROSHOP_REVOCATION_TIME ".");
        return -1;
    }

    return 0;
}


int64_t
microshop_watermark_until(int64_t before, int64_t max_ttl, int64_t leeway,
    int64_t margin)
{
    if (max_ttl < 0) {
        return 0;
    }

    return microshop_time_add(microshop_time_add(before, max_ttl),
                              microshop_time_add(leeway, margin));
}


/* a text a token's claim may hold: 1 to 1024 bytes, no control character */

static int
microshop_revocation_text(json_t *v, const char **s, size_t *len)
{
    if (!json_is_string(v)) {
        return -1;
    }

    *s = json_string_value(v);
    *len = json_string_length(v);

    if (*len == 0 || *len > MICROSHOP_JWT_CLAIM_MAX
        || !microshop_text_is_clean(*s, *len))
    {
        return -1;
    }

    return 0;
}


/* a NumericDate, as a token's exp: 1 to MICROSHOP_TIME_MAX */

static int
microshop_revocation_time(json_t *v, int64_t *t)
{
    if (v == NULL || microshop_jwt_numeric_date(v, t) != 0 || *t == 0) {
        return -1;
    }

    return 0;
}


/* short printable ASCII: a name the answer may repeat as it is */

static int
microshop_revocation_printable(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > MICROSHOP_REVOCATION_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}
