/*
 * ngx_microshop -- what the key file targets (fuzz_jwks.c, fuzz_pem.c)
 * check after a keyset was added to.
 */

#ifndef _MICROSHOP_FUZZ_KEYS_H_INCLUDED_
#define _MICROSHOP_FUZZ_KEYS_H_INCLUDED_


#include "microshop_token_keys.h"


/*
 * A keyset holding one key, kid "base", to which the file is added: a
 * kid already there must be refused.
 */
microshop_keyset_t *fuzz_keyset(void);

/*
 * After an add of rc (0 or -1) with message err: on -1 the keyset is as
 * before, err says why and the OpenSSL error queue is empty; on 0 every
 * key is sound and every kid unique.  Then the keyset is cut back to the
 * one key.
 */
void fuzz_keyset_check(microshop_keyset_t *ks, int rc, const char *err);


#endif /* _MICROSHOP_FUZZ_KEYS_H_INCLUDED_ */
