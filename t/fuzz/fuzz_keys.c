/*
 * ngx_microshop -- checks of the key file targets, see fuzz_keys.h.
 */

#include <string.h>
#include <openssl/err.h>

#include "fuzz.h"
#include "fuzz_keys.h"


microshop_keyset_t *
fuzz_keyset(void)
{
    char                       why[200];
    unsigned char             *s;
    static microshop_keyset_t  ks;

    if (ks.nkeys == 0) {
        microshop_keyset_init(&ks);

        s = malloc(32);
        FUZZ_CHECK(s != NULL);
        memset(s, 'b', 32);

        FUZZ_CHECK(microshop_keyset_push(&ks, "base", MICROSHOP_ALG_HS256,
                                         NULL, s, 32, "fuzz", why,
                                         sizeof(why)) == 0);
    }

    return &ks;
}


void
fuzz_keyset_check(microshop_keyset_t *ks, int rc, const char *err)
{
    size_t                  i, j;
    const microshop_key_t  *k;

    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(ERR_peek_error() == 0);

    if (rc == -1) {
        FUZZ_CHECK(ks->nkeys == 1);
        FUZZ_CHECK(err[0] != '\0');
        return;
    }

    FUZZ_CHECK(ks->nkeys >= 2);

    for (i = 0; i < ks->nkeys; i++) {
        k = &ks->keys[i];

        FUZZ_CHECK(k->alg != MICROSHOP_ALG_UNKNOWN);

        if (microshop_alg_info(k->alg)->family == MICROSHOP_FAMILY_HS) {
            FUZZ_CHECK(k->secret != NULL && k->pkey == NULL);
            FUZZ_CHECK(k->secret_len
                       >= microshop_alg_info(k->alg)->hash_len);

        } else {
            FUZZ_CHECK(k->pkey != NULL && k->secret == NULL);
        }

        FUZZ_CHECK(k->kid == NULL || k->kid[0] != '\0');

        for (j = 0; j < i; j++) {
            FUZZ_CHECK(k->kid == NULL || ks->keys[j].kid == NULL
                       || strcmp(k->kid, ks->keys[j].kid) != 0);
        }
    }

    microshop_keyset_truncate(ks, 1);
    FUZZ_CHECK(ks->nkeys == 1);
}
