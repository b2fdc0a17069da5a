/*
 * Fuzz target: Idempotency-Key values and request fingerprints
 * (microshop_idempotency.c).
 *
 * Input: the header value.  The same bytes are also cut into a method,
 * a URI and a body for the fingerprint, which must not depend on how the
 * body is fed in.
 */

#include <string.h>
#include <openssl/evp.h>

#include "fuzz.h"
#include "microshop_idempotency.h"


static void
fingerprint(EVP_MD_CTX *md, const uint8_t *m, size_t mlen, const uint8_t *u,
    size_t ulen, const uint8_t *b, size_t blen, size_t cut,
    unsigned char *out)
{
    FUZZ_CHECK(EVP_DigestInit_ex2(md, EVP_sha256(), NULL) == 1);
    FUZZ_CHECK(microshop_fingerprint_begin(md, m, mlen, u, ulen, blen) == 0);
    FUZZ_CHECK(microshop_fingerprint_update(md, b, cut) == 0);
    FUZZ_CHECK(microshop_fingerprint_update(md, b + cut, blen - cut) == 0);
    FUZZ_CHECK(microshop_fingerprint_finish(md, out) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          i, s, n, mlen, ulen;
    uint8_t        *copy;
    EVP_MD_CTX     *md;
    unsigned char   a[32], b[32];

    copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size);

    s = n = (size_t) -1;

    if (microshop_idem_key_parse(copy, size, &s, &n) == 0) {
        FUZZ_CHECK(n >= 1 && n <= MICROSHOP_IDEM_KEY_MAX);
        FUZZ_CHECK(s + n <= size);
        FUZZ_CHECK(s == 0 ? n == size
                          : s == 1 && n == size - 2 && copy[0] == '"'
                            && copy[size - 1] == '"');

        for (i = s; i < s + n; i++) {
            FUZZ_CHECK(copy[i] >= 0x20 && copy[i] <= 0x7e);
            FUZZ_CHECK(s == 0 || (copy[i] != '"' && copy[i] != '\\'));
        }
    }

    if (size >= 2) {
        mlen = copy[0] % (size - 1);
        ulen = copy[1] % (size - 1 - mlen + 1);
        ulen = ulen > size - 2 - mlen ? size - 2 - mlen : ulen;

        md = EVP_MD_CTX_new();
        FUZZ_CHECK(md != NULL);

        fingerprint(md, copy + 2, mlen, copy + 2 + mlen, ulen,
                    copy + 2 + mlen + ulen, size - 2 - mlen - ulen, 0, a);
        fingerprint(md, copy + 2, mlen, copy + 2 + mlen, ulen,
                    copy + 2 + mlen + ulen, size - 2 - mlen - ulen,
                    (size - 2 - mlen - ulen) / 2, b);
        FUZZ_CHECK(memcmp(a, b, 32) == 0);

        EVP_MD_CTX_free(md);
    }

    free(copy);

    return 0;
}
