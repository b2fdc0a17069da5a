/*
 * Signed webhooks: the Microshop-Signature header (see the header file).
 */

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "microshop_events_signature.h"


static int microshop_sig_is_ows(unsigned char c);
static int microshop_sig_is_name(const unsigned char *p, size_t len);
static int microshop_sig_parse_t(const unsigned char *p, size_t len,
    int64_t *out);
static int microshop_sig_hex(const unsigned char *p, size_t len,
    unsigned char *out);


static int
microshop_sig_is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}


/* an element name: letters, digits, '_' and '-' */
static int
microshop_sig_is_name(const unsigned char *p, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
microshop_sig_parse_t(const unsigned char *p, size_t len, int64_t *out)
{
    size_t   i;
    int64_t  v;

    if (len == 0 || len > MICROSHOP_SIG_T_MAX) {
        return -1;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        v = v * 10 + (p[i] - '0');
    }

    *out = v;

    return 0;
}


static int
microshop_sig_hex(const unsigned char *p, size_t len, unsigned char *out)
{
    size_t         i;
    unsigned char  c, n, b;

    if (len != 2 * MICROSHOP_SIG_MAC_LEN) {
        return -1;
    }

    b = 0;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            n = c - '0';

        } else if (c >= 'a' && c <= 'f') {
            n = c - 'a' + 10;

        } else if (c >= 'A' && c <= 'F') {
            n = c - 'A' + 10;

        } else {
            return -1;
        }

        if (i % 2 == 0) {
            b = (unsigned char) (n << 4);

        } else {
            out[i / 2] = b | n;
        }
    }

    return 0;
}


int
microshop_sig_parse(const unsigned char *in, size_t len,
    microshop_sig_header_t *h)
{
    int                   have_t;
    const unsigned char  *p, *end, *comma, *s, *e, *eq;

    memset(h, 0, sizeof(microshop_sig_header_t));

    if (in == NULL || len == 0 || len > MICROSHOP_SIG_HEADER_MAX) {
        return -1;
    }

    have_t = 0;
    p = in;
    end = in + len;

    for ( ;; ) {
        comma = memchr(p, ',', end - p);
        if (comma == NULL) {
            comma = end;
        }

        s = p;
        e = comma;

        while (s < e && microshop_sig_is_ows(*s)) {
            s++;
        }

        while (e > s && microshop_sig_is_ows(e[-1])) {
            e--;
        }

        eq = memchr(s, '=', e - s);

        if (eq == NULL || !microshop_sig_is_name(s, eq - s)) {
            goto malformed;
        }

        if (eq - s == 1 && s[0] == 't') {

            if (have_t
                || microshop_sig_parse_t(eq + 1, e - eq - 1, &h->timestamp)
                   != 0)
            {
                goto malformed;
            }

            h->t = eq + 1;
            h->t_len = e - eq - 1;
            have_t = 1;

        } else if (eq - s == 2 && s[0] == 'v' && s[1] == '1') {

            if (h->nv1 == MICROSHOP_SIG_MAX_V1
                || microshop_sig_hex(eq + 1, e - eq - 1, h->v1[h->nv1]) != 0)
            {
                goto malformed;
            }

            h->nv1++;
        }

        /* any other scheme is ignored */

        if (comma == end) {
            break;
        }

        p = comma + 1;
    }

    if (!have_t || h->nv1 == 0) {
        goto malformed;
    }

    return 0;

malformed:

    memset(h, 0, sizeof(microshop_sig_header_t));

    return -1;
}


int
microshop_sig_compute(const unsigned char *secret, size_t secret_len,
    const unsigned char *t, size_t t_len, const unsigned char *body,
    size_t body_len, unsigned char *mac)
{
    int           rc;
    size_t        n;
    EVP_MAC      *m;
    OSSL_PARAM    params[2];
    EVP_MAC_CTX  *ctx;

    rc = -1;
    ctx = NULL;

    m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (m == NULL) {
        return -1;
    }

    ctx = EVP_MAC_CTX_new(m);
    if (ctx == NULL) {
        goto done;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_MAC_init(ctx, secret, secret_len, params) != 1
        || EVP_MAC_update(ctx, t, t_len) != 1
        || EVP_MAC_update(ctx, (const unsigned char *) ".", 1) != 1
        || (body_len && EVP_MAC_update(ctx, body, body_len) != 1)
        || EVP_MAC_final(ctx, mac, &n, MICROSHOP_SIG_MAC_LEN) != 1
        || n != MICROSHOP_SIG_MAC_LEN)
    {
        goto done;
    }

    rc = 0;

done:

    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);

    return rc;
}


microshop_sig_result_e
microshop_sig_verify(const unsigned char *header, size_t header_len,
    const unsigned char *secret, size_t secret_len,
    const unsigned char *body, size_t body_len, int64_t now,
    int64_t tolerance)
{
    int                     diff;
    size_t                  i;
    unsigned char           mac[MICROSHOP_SIG_MAC_LEN];
    microshop_sig_header_t  h;

    if (microshop_sig_parse(header, header_len, &h) != 0) {
        return MICROSHOP_SIG_MALFORMED;
    }

    /* cheap checks first: a replayed old request costs no HMAC */

    if (now - h.timestamp > tolerance) {
        return MICROSHOP_SIG_STALE;
    }

    if (h.timestamp - now > tolerance) {
        return MICROSHOP_SIG_FUTURE;
    }

    if (microshop_sig_compute(secret, secret_len, h.t, h.t_len, body,
                              body_len, mac)
        != 0)
    {
        return MICROSHOP_SIG_ERROR;
    }

    /* every candidate is compared, each in constant time */

    diff = 1;

    for (i = 0; i < h.nv1; i++) {
        diff &= (CRYPTO_memcmp(mac, h.v1[i], MICROSHOP_SIG_MAC_LEN) != 0);
    }

    OPENSSL_cleanse(mac, sizeof(mac));

    return diff ? MICROSHOP_SIG_MISMATCH : MICROSHOP_SIG_OK;
}


const char *
microshop_sig_result_text(microshop_sig_result_e rc)
{
    switch (rc) {

    case MICROSHOP_SIG_OK:
        return "valid signature";

    case MICROSHOP_SIG_MALFORMED:
        return "malformed Microshop-Signature header";

    case MICROSHOP_SIG_STALE:
        return "signature timestamp outside the tolerance (too old)";

    case MICROSHOP_SIG_FUTURE:
        return "signature timestamp outside the tolerance (in the future)";

    case MICROSHOP_SIG_MISMATCH:
        return "signature does not match the body";

    default:
        return "signature could not be checked";
    }
}
