/*
 * Fuzz target: PEM key files and secret files (microshop_token_pem.c,
 * microshop_token_keys.c).
 *
 * Input: the first byte picks the alg parameter, the second the kid; the
 * rest is the file.
 */

#include "fuzz.h"
#include "fuzz_keys.h"
#include "microshop_token_pem.h"


static const char  *algs[] = {
    NULL, "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256",
    "ES384", "ES512", "none", "hs256", "PS256"
};

static const char  *kids[] = { NULL, "k1", "", "base" };


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  rc;
    char                 err[512];
    microshop_keyset_t  *ks;

    if (size < 2) {
        return 0;
    }

    ks = fuzz_keyset();

    err[0] = '\0';
    rc = microshop_keyset_add_file(ks, fuzz_file(data + 2, size - 2),
                                   kids[data[1] % (sizeof(kids)
                                                   / sizeof(kids[0]))],
                                   algs[data[0] % (sizeof(algs)
                                                   / sizeof(algs[0]))],
                                   err, sizeof(err));
    fuzz_keyset_check(ks, rc, err);

    return 0;
}
