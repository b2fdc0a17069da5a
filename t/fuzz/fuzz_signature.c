/*
 * Fuzz target: the Microshop-Signature header (microshop_events_signature.c).
 *
 * Input: the header value, a NUL, the body (no NUL: all header, empty
 * body).  The header is parsed and verified; then a header the sender
 * would write for that body must verify.
 */

#include <string.h>

#include "fuzz.h"
#include "microshop_events_signature.h"


#define NOW        1700000000
#define TOLERANCE  300

static const unsigned char  secret[] = "fuzz-webhook-secret-0123456789abcdef";


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                      rc;
    char                     good[200], *p;
    size_t                   hlen, blen, i;
    uint8_t                 *header, *body;
    const uint8_t           *nul;
    unsigned char            mac[MICROSHOP_SIG_MAC_LEN];
    microshop_sig_header_t   h;

    nul = memchr(data, '\0', size);
    hlen = nul ? (size_t) (nul - data) : size;
    blen = nul ? size - hlen - 1 : 0;

    /* exact-size copies */
    header = malloc(hlen ? hlen : 1);
    body = malloc(blen ? blen : 1);
    FUZZ_CHECK(header != NULL && body != NULL);
    memcpy(header, data, hlen);
    if (blen) {
        memcpy(body, nul + 1, blen);
    }

    memset(&h, 0, sizeof(h));

    if (microshop_sig_parse(header, hlen, &h) == 0) {
        FUZZ_CHECK(h.nv1 >= 1 && h.nv1 <= MICROSHOP_SIG_MAX_V1);
        FUZZ_CHECK(h.t >= header && h.t + h.t_len <= header + hlen);
        FUZZ_CHECK(h.t_len >= 1 && h.t_len <= MICROSHOP_SIG_T_MAX);
        FUZZ_CHECK(h.timestamp >= 0);

        for (i = 0; i < h.t_len; i++) {
            FUZZ_CHECK(h.t[i] >= '0' && h.t[i] <= '9');
        }
    }

    rc = microshop_sig_verify(header, hlen, secret, sizeof(secret) - 1, body,
                              blen, NOW, TOLERANCE);
    FUZZ_CHECK(rc >= MICROSHOP_SIG_OK && rc <= MICROSHOP_SIG_ERROR);
    FUZZ_CHECK(microshop_sig_result_text(rc) != NULL);

    /* what a sender writes for this body verifies */
    FUZZ_CHECK(microshop_sig_compute(secret, sizeof(secret) - 1,
                                     (const unsigned char *) "1700000000", 10,
                                     body, blen, mac) == 0);
    p = good + sprintf(good, "t=1700000000,v1=");
    for (i = 0; i < sizeof(mac); i++) {
        p += sprintf(p, "%02x", mac[i]);
    }

    FUZZ_CHECK(microshop_sig_verify((unsigned char *) good, p - good, secret,
                                    sizeof(secret) - 1, body, blen, NOW,
                                    TOLERANCE)
               == MICROSHOP_SIG_OK);

    free(header);
    free(body);

    return 0;
}
