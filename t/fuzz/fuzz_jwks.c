/*
 * Fuzz target: JWKS documents (microshop_token_jwk.c, microshop_token_file.c,
 * microshop_base64url.c).
 *
 * Input: the JWKS file.
 */

#include "fuzz.h"
#include "fuzz_keys.h"
#include "microshop_token_jwk.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  rc;
    char                 err[512];
    microshop_keyset_t  *ks;

    ks = fuzz_keyset();

    err[0] = '\0';
    rc = microshop_keyset_add_jwks_file(ks, fuzz_file(data, size), err,
                                        sizeof(err));
    fuzz_keyset_check(ks, rc, err);

    return 0;
}
