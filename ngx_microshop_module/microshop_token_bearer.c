/*
 * ngx_microshop -- the bearer token of an Authorization header, see
 * microshop_token_bearer.h.
 */

#include "microshop_token_bearer.h"


/* token68 before its '=' padding: ALPHA DIGIT - . _ ~ + /; a byte table,
 * as every request's token is checked */
static const unsigned char  microshop_token68[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1,    /*  +  - . /  */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,    /* 0-9       */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,    /* A-O       */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,    /* P-Z  _    */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,    /* a-o       */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0,    /* p-z  ~    */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};


int
microshop_bearer_parse(const unsigned char *value, size_t len,
    size_t *start, size_t *tlen)
{
    size_t  i, s, e;

    static const char  scheme[] = "bearer";

    if (len < sizeof(scheme) - 1) {
        return MICROSHOP_BEARER_NONE;
    }

    for (i = 0; i < sizeof(scheme) - 1; i++) {
        if ((value[i] | 0x20) != (unsigned char) scheme[i]) {
            return MICROSHOP_BEARER_NONE;
        }
    }

    if (len == i) {
        return MICROSHOP_BEARER_MALFORMED;
    }

    if (value[i] != ' ') {
        return MICROSHOP_BEARER_NONE;
    }

    /* 1*SP, the token, OWS (RFC 9110 5.5: not part of the field value;
     * nginx strips trailing spaces but keeps a tab) */

    for (s = i; s < len && value[s] == ' '; s++) { /* void */ }
    for (e = len; e > s && (value[e - 1] == ' ' || value[e - 1] == '\t'); e--)
    {
        /* void */
    }

    for (i = s; i < e && microshop_token68[value[i]]; i++) { /* void */ }

    if (i == s) {
        /* nothing, or padding only */
        return MICROSHOP_BEARER_MALFORMED;
    }

    while (i < e && value[i] == '=') {
        i++;
    }

    if (i != e) {
        return MICROSHOP_BEARER_MALFORMED;
    }

    *start = s;
    *tlen = e - s;

    return MICROSHOP_BEARER_OK;
}
