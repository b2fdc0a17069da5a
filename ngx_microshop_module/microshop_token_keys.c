/*
 * ngx_microshop -- algorithms and the key set (pure logic, no nginx
 * headers), see microshop_token_keys.h.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "microshop_token_keys.h"
#include "microshop_token_str.h"
#include "microshop_token_verifier.h"


#define MICROSHOP_RSA_MIN_BITS   2048


/* indexed by microshop_alg_t */
const microshop_alg_info_t  microshop_algs[] = {
    { "unknown", MICROSHOP_FAMILY_NONE, 0, 0, 0, NID_undef, NULL, NULL },
    { "HS256", MICROSHOP_FAMILY_HS, 256, 32, 0, NID_undef, NULL, NULL },
    { "HS384", MICROSHOP_FAMILY_HS, 384, 48, 0, NID_undef, NULL, NULL },
    { "HS512", MICROSHOP_FAMILY_HS, 512, 64, 0, NID_undef, NULL, NULL },
    { "RS256", MICROSHOP_FAMILY_RS, 256, 32, 0, NID_undef, NULL, NULL },
    { "RS384", MICROSHOP_FAMILY_RS, 384, 48, 0, NID_undef, NULL, NULL },
    { "RS512", MICROSHOP_FAMILY_RS, 512, 64, 0, NID_undef, NULL, NULL },
    { "ES256", MICROSHOP_FAMILY_ES, 256, 32, 32, NID_X9_62_prime256v1,
      "P-256", SN_X9_62_prime256v1 },
    { "ES384", MICROSHOP_FAMILY_ES, 384, 48, 48, NID_secp384r1,
      "P-384", SN_secp384r1 },
    { "ES512", MICROSHOP_FAMILY_ES, 512, 64, 66, NID_secp521r1,
      "P-521", SN_secp521r1 },
};

/* one entry per microshop_alg_t, or the build fails */
typedef char  microshop_algs_complete_t[
    sizeof(microshop_algs) / sizeof(microshop_algs[0]) == MICROSHOP_NALGS
    ? 1 : -1];


const microshop_alg_info_t *
microshop_alg_info(microshop_alg_t alg)
{
    if ((size_t) alg >= MICROSHOP_NALGS) {
        return &microshop_algs[0];
    }

    return &microshop_algs[alg];
}


microshop_alg_t
microshop_alg_from_name(const char *name, size_t len)
{
    size_t  i;

    if (name == NULL) {
        return MICROSHOP_ALG_UNKNOWN;
    }

    for (i = 1; i < MICROSHOP_NALGS; i++) {
        if (strlen(microshop_algs[i].name) == len
            && memcmp(microshop_algs[i].name, name, len) == 0)
        {
            return (microshop_alg_t) i;
        }
    }

    return MICROSHOP_ALG_UNKNOWN;
}


const char *
microshop_alg_name(microshop_alg_t alg)
{
    return microshop_alg_info(alg)->name;
}


static char *
microshop_strndup(const char *s, size_t n)
{
    char  *p;

    p = malloc(n + 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, s, n);
    p[n] = '\0';

    return p;
}


static void
microshop_key_clear(microshop_key_t *key)
{
    microshop_verifier_free(key);
    free(key->kid);
    free(key->source);
    EVP_PKEY_free(key->pkey);

    if (key->secret != NULL) {
        OPENSSL_cleanse(key->secret, key->secret_len);
        free(key->secret);
    }

    memset(key, 0, sizeof(microshop_key_t));
}


void
microshop_keyset_init(microshop_keyset_t *ks)
{
    ks->keys = NULL;
    ks->nkeys = 0;
    ks->nalloc = 0;
    ks->lazy = 0;
}


void
microshop_keyset_free(microshop_keyset_t *ks)
{
    size_t  i;

    if (ks == NULL) {
        return;
    }

    for (i = 0; i < ks->nkeys; i++) {
        microshop_key_clear(&ks->keys[i]);
    }

    free(ks->keys);
    microshop_keyset_init(ks);
}


/* ecdsa_s=any (docs/directives.md): the ES keys from "from" on take a high S */
size_t
microshop_keyset_allow_high_s(microshop_keyset_t *ks, size_t from)
{
    size_t  i, n;

    n = 0;

    for (i = from; i < ks->nkeys; i++) {
        if (microshop_algs[ks->keys[i].alg].family == MICROSHOP_FAMILY_ES) {
            ks->keys[i].any_s = 1;
            n++;
        }
    }

    return n;
}


void
microshop_keyset_truncate(microshop_keyset_t *ks, size_t n)
{
    while (ks->nkeys > n) {
        microshop_key_clear(&ks->keys[--ks->nkeys]);
    }
}


const microshop_key_t *
microshop_keyset_find_kid(const microshop_keyset_t *ks, const char *kid,
    size_t len)
{
    size_t  i;

    for (i = 0; i < ks->nkeys; i++) {
        if (ks->keys[i].kid != NULL
            && strlen(ks->keys[i].kid) == len
            && memcmp(ks->keys[i].kid, kid, len) == 0)
        {
            return &ks->keys[i];
        }
    }

    return NULL;
}


/*
 * Takes ownership of pkey / secret (also on failure: they are freed).
 * Returns 0, or -1 with why set.
 */
int
microshop_keyset_push(microshop_keyset_t *ks, const char *kid,
    microshop_alg_t alg, EVP_PKEY *pkey, unsigned char *secret,
    size_t secret_len, const char *source, char *why, size_t whylen)
{
    size_t            n;
    microshop_key_t  *key, *keys;

    if (kid != NULL && microshop_keyset_find_kid(ks, kid, strlen(kid))) {
        microshop_err(why, whylen, "duplicate kid \"%.64s\"", kid);
        goto failed;
    }

    if (ks->nkeys == ks->nalloc) {
        n = ks->nalloc ? ks->nalloc * 2 : 4;

        keys = realloc(ks->keys, n * sizeof(microshop_key_t));
        if (keys == NULL) {
            microshop_err(why, whylen, "out of memory");
            goto failed;
        }

        ks->keys = keys;
        ks->nalloc = n;
    }

    key = &ks->keys[ks->nkeys];
    memset(key, 0, sizeof(microshop_key_t));

    key->source = microshop_strndup(source, strlen(source));
    key->kid = kid ? microshop_strndup(kid, strlen(kid)) : NULL;

    if (key->source == NULL || (kid != NULL && key->kid == NULL)) {
        free(key->source);
        free(key->kid);
        memset(key, 0, sizeof(microshop_key_t));
        microshop_err(why, whylen, "out of memory");
        goto failed;
    }

    key->alg = alg;
    key->pkey = pkey;
    key->secret = secret;
    key->secret_len = secret_len;

    /* what every verification with this key needs, made once */

    if (!ks->lazy && microshop_verifier_create(key, why, whylen) != 0) {
        microshop_key_clear(key);
        return -1;
    }

    ks->nkeys++;

    return 0;

failed:

    EVP_PKEY_free(pkey);

    if (secret != NULL) {
        OPENSSL_cleanse(secret, secret_len);
        free(secret);
    }

    return -1;
}


void
microshop_keyset_remove(microshop_keyset_t *ks, size_t i)
{
    if (i >= ks->nkeys) {
        return;
    }

    microshop_key_clear(&ks->keys[i]);

    memmove(&ks->keys[i], &ks->keys[i + 1],
            (ks->nkeys - i - 1) * sizeof(microshop_key_t));
    ks->nkeys--;
}


int
microshop_key_equal(const microshop_key_t *a, const microshop_key_t *b)
{
    if (a->alg != b->alg || a->any_s != b->any_s
        || (a->kid == NULL) != (b->kid == NULL)
        || (a->kid != NULL && strcmp(a->kid, b->kid) != 0))
    {
        return 0;
    }

    if (a->secret != NULL || b->secret != NULL) {
        return a->secret != NULL && b->secret != NULL
               && a->secret_len == b->secret_len
               && CRYPTO_memcmp(a->secret, b->secret, a->secret_len) == 0;
    }

    return a->pkey != NULL && b->pkey != NULL
           && EVP_PKEY_eq(a->pkey, b->pkey) == 1;
}


int
microshop_keyset_ready(microshop_keyset_t *ks, microshop_keyset_t *old,
    char *why, size_t whylen)
{
    size_t   i, j, nold;
    size_t  *from;
    char    *taken;

    nold = (old != NULL) ? old->nkeys : 0;

    from = malloc((ks->nkeys + 1) * sizeof(size_t));
    taken = calloc(nold + 1, 1);

    if (from == NULL || taken == NULL) {
        free(from);
        free(taken);
        microshop_err(why, whylen, "out of memory");
        return -1;
    }

    /* first what may fail: old is not touched before it all went well */

    for (i = 0; i < ks->nkeys; i++) {
        from[i] = nold;

        if (ks->keys[i].verifier != NULL) {
            continue;
        }

        for (j = 0; j < nold; j++) {
            if (!taken[j] && old->keys[j].verifier != NULL
                && microshop_key_equal(&ks->keys[i], &old->keys[j]))
            {
                taken[j] = 1;
                from[i] = j;
                break;
            }
        }

        if (from[i] == nold
            && microshop_verifier_create(&ks->keys[i], why, whylen) != 0)
        {
            free(from);
            free(taken);
            return -1;
        }
    }

    for (i = 0; i < ks->nkeys; i++) {
        if (from[i] < nold) {
            ks->keys[i].verifier = old->keys[from[i]].verifier;
            old->keys[from[i]].verifier = NULL;
        }
    }

    free(from);
    free(taken);
    ks->lazy = 0;

    return 0;
}


int
microshop_keyset_digest(const microshop_keyset_t *ks, EVP_MD_CTX *md)
{
    int                     n;
    size_t                  i;
    unsigned char          *der;
    const microshop_key_t  *k;

    for (i = 0; i < ks->nkeys; i++) {
        k = &ks->keys[i];

        if (EVP_DigestUpdate(md, &k->alg, sizeof(k->alg)) != 1
            || EVP_DigestUpdate(md, k->kid ? k->kid : "",
                                k->kid ? strlen(k->kid) : 0)
               != 1
            || EVP_DigestUpdate(md, &k->any_s, sizeof(k->any_s)) != 1
            || EVP_DigestUpdate(md, "\n", 1) != 1)
        {
            return -1;
        }

        if (k->secret) {
            if (EVP_DigestUpdate(md, k->secret, k->secret_len) != 1) {
                return -1;
            }

            continue;
        }

        der = NULL;
        n = i2d_PUBKEY(k->pkey, &der);

        if (n <= 0 || EVP_DigestUpdate(md, der, n) != 1) {
            OPENSSL_free(der);
            return -1;
        }

        OPENSSL_free(der);
    }

    return 0;
}


static int
microshop_ec_nid(const EVP_PKEY *pkey)
{
    int     nid;
    char    name[80];
    size_t  len;

    if (EVP_PKEY_get_group_name(pkey, name, sizeof(name), &len) != 1) {
        return NID_undef;
    }

    nid = OBJ_sn2nid(name);

    if (nid == NID_undef) {
        nid = OBJ_ln2nid(name);
    }

    if (nid == NID_undef) {
        nid = EC_curve_nist2nid(name);
    }

    return nid;
}


/*
 * Checks that pkey is a sound public key fit for *alg; with *alg UNKNOWN
 * infers it (RSA -> RS256, EC -> ES256/384/512 by curve).
 */
int
microshop_pkey_check(EVP_PKEY *pkey, microshop_alg_t *alg, char *why,
    size_t whylen)
{
    int                          bits, nid, ok;
    size_t                       i;
    EVP_PKEY_CTX                *ctx;
    const microshop_alg_info_t  *info;

    info = microshop_alg_info(*alg);

    if (EVP_PKEY_is_a(pkey, "RSA")) {

        if (*alg == MICROSHOP_ALG_UNKNOWN) {
            *alg = MICROSHOP_ALG_RS256;
            info = microshop_alg_info(*alg);
        }

        if (info->family != MICROSHOP_FAMILY_RS) {
            microshop_err(why, whylen, "alg %s does not fit an RSA key",
                          info->name);
            return -1;
        }

        bits = EVP_PKEY_get_bits(pkey);
        if (bits < MICROSHOP_RSA_MIN_BITS) {
            microshop_err(why, whylen,
                          "RSA key of %d bits is too small (at least %d)",
                          bits, MICROSHOP_RSA_MIN_BITS);
            return -1;
        }

    } else if (EVP_PKEY_is_a(pkey, "EC")) {

        nid = microshop_ec_nid(pkey);

        if (*alg == MICROSHOP_ALG_UNKNOWN) {
            for (i = 1; i < MICROSHOP_NALGS; i++) {
                if (microshop_algs[i].family == MICROSHOP_FAMILY_ES
                    && microshop_algs[i].nid == nid)
                {
                    *alg = (microshop_alg_t) i;
                    break;
                }
            }

            if (*alg == MICROSHOP_ALG_UNKNOWN) {
                microshop_err(why, whylen, "EC curve %s is not supported "
                              "(P-256, P-384, P-521 are)",
                              nid == NID_undef ? "(unknown)" : OBJ_nid2sn(nid));
                return -1;
            }

            info = microshop_alg_info(*alg);
        }

        if (info->family != MICROSHOP_FAMILY_ES) {
            microshop_err(why, whylen, "alg %s does not fit an EC key",
                          info->name);
            return -1;
        }

        if (nid != info->nid) {
            microshop_err(why, whylen, "alg %s needs an EC %s key, not %s",
                          info->name, info->crv,
                          nid == NID_undef ? "(unknown)" : OBJ_nid2sn(nid));
            return -1;
        }

    } else {
        microshop_err(why, whylen, "unsupported key type %s (RSA and EC "
                      "public keys are supported)",
                      EVP_PKEY_get0_type_name(pkey)
                      ? EVP_PKEY_get0_type_name(pkey) : "(unknown)");
        return -1;
    }

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL) {
        microshop_err(why, whylen, "out of memory");
        return -1;
    }

    ok = EVP_PKEY_public_check(ctx);
    EVP_PKEY_CTX_free(ctx);

    if (ok != 1) {
        microshop_err(why, whylen, "the public key fails validation");
        return -1;
    }

    return 0;
}
