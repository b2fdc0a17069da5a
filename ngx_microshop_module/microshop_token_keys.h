/*
 * ngx_microshop -- verification keys: algorithms and the key set (pure
 * logic, no nginx headers).  See docs/directives.md, microshop_jwt_key and
 * microshop_jwt_jwks.
 *
 * Nothing here keeps global state; a keyset is built at configuration time
 * (microshop_token_pem.h, microshop_token_jwk.h) and only read afterwards
 * (microshop_token_jws.h), except for each key's verifier, whose contexts
 * every verification reuses (microshop_token_verifier.h): one thread at a
 * time, as in an nginx worker.
 */

#ifndef _MICROSHOP_TOKEN_KEYS_H_INCLUDED_
#define _MICROSHOP_TOKEN_KEYS_H_INCLUDED_


#include <stddef.h>
#include <openssl/evp.h>


typedef enum {
    MICROSHOP_ALG_UNKNOWN = 0,
    MICROSHOP_ALG_HS256, MICROSHOP_ALG_HS384, MICROSHOP_ALG_HS512,
    MICROSHOP_ALG_RS256, MICROSHOP_ALG_RS384, MICROSHOP_ALG_RS512,
    MICROSHOP_ALG_ES256, MICROSHOP_ALG_ES384, MICROSHOP_ALG_ES512
} microshop_alg_t;

/* exact, case-sensitive; "none" and anything unsupported: UNKNOWN */
microshop_alg_t microshop_alg_from_name(const char *name, size_t len);
/* "HS256", ...; "unknown" for MICROSHOP_ALG_UNKNOWN (never NULL) */
const char *microshop_alg_name(microshop_alg_t alg);


/* the signature check of a key, set up once (microshop_token_verifier.h) */
typedef struct microshop_verifier_s  microshop_verifier_t;

typedef struct {
    char             *kid;         /* NUL-terminated, NULL when none */
    microshop_alg_t   alg;         /* exactly one alg per key */
    EVP_PKEY         *pkey;        /* RS*, ES* */
    unsigned char    *secret;      /* HS* */
    size_t            secret_len;
    char             *source;      /* file it came from (messages, audit) */
    int               any_s;       /* ES*: a high S is taken too (ecdsa_s=any) */
    microshop_verifier_t  *verifier;  /* made by microshop_keyset_push */
} microshop_key_t;

typedef struct {
    microshop_key_t  *keys;
    size_t            nkeys;
    size_t            nalloc;
    int               lazy;        /* microshop_keyset_push makes no
                                      verifier: microshop_keyset_ready()
                                      does */
} microshop_keyset_t;

void microshop_keyset_init(microshop_keyset_t *ks);
/* frees every key (secrets are wiped) and leaves an empty, reusable set */
void microshop_keyset_free(microshop_keyset_t *ks);
/* marks the ES keys from index "from" on as taking a high S; returns how
 * many there were */
size_t microshop_keyset_allow_high_s(microshop_keyset_t *ks, size_t from);


/*
 * A set filled with lazy set (a provider's keys, fetched again and again):
 * each key equal to a key of old (microshop_key_equal) takes over old's
 * verifier, so an ES256 table is not made again for a key the provider
 * still publishes; the other keys get one made now.  Returns 0 (lazy is
 * cleared), or -1 with why set and old untouched.  old may be NULL; the
 * keys of old that gave their verifier verify nothing afterwards: old is
 * to be freed.
 */
int microshop_keyset_ready(microshop_keyset_t *ks, microshop_keyset_t *old,
    char *why, size_t whylen);

/* the same key: alg, kid, public key or secret, ecdsa_s */
int microshop_key_equal(const microshop_key_t *a, const microshop_key_t *b);

/* frees the key at index i; the keys after it move down */
void microshop_keyset_remove(microshop_keyset_t *ks, size_t i);

/*
 * Adds to a SHA-2 digest in progress what verification with the keys
 * depends on: each key's alg, kid and public key (DER) or secret.
 * Returns 0, or -1 when OpenSSL fails.
 */
int microshop_keyset_digest(const microshop_keyset_t *ks, EVP_MD_CTX *md);


/* the rest is for the microshop_token_*.c files only */

#define MICROSHOP_EC_COORD_MAX   66        /* bytes of a P-521 coordinate */


typedef enum {
    MICROSHOP_FAMILY_NONE = 0,
    MICROSHOP_FAMILY_HS,
    MICROSHOP_FAMILY_RS,
    MICROSHOP_FAMILY_ES
} microshop_family_t;


typedef struct {
    const char          *name;
    microshop_family_t   family;
    int                  bits;        /* SHA-2 size */
    size_t               hash_len;    /* bytes; minimum HS secret length */
    size_t               coord_len;   /* ES: bytes of one coordinate */
    int                  nid;         /* ES: the curve */
    const char          *crv;         /* ES: JWK "crv" */
    const char          *group;       /* ES: OpenSSL group name */
} microshop_alg_info_t;


/* indexed by microshop_alg_t */
extern const microshop_alg_info_t  microshop_algs[];

#define MICROSHOP_NALGS  ((size_t) MICROSHOP_ALG_ES512 + 1)

/* the entry of alg; that of MICROSHOP_ALG_UNKNOWN when alg is out of range */
const microshop_alg_info_t *microshop_alg_info(microshop_alg_t alg);

/* frees the keys after the first n */
void microshop_keyset_truncate(microshop_keyset_t *ks, size_t n);

/* the key whose kid is kid (len bytes), or NULL */
const microshop_key_t *microshop_keyset_find_kid(const microshop_keyset_t *ks,
    const char *kid, size_t len);

/*
 * Appends a key.  Takes ownership of pkey / secret (also on failure: they
 * are freed).  Returns 0, or -1 with why set (a duplicate kid, no memory).
 */
int microshop_keyset_push(microshop_keyset_t *ks, const char *kid,
    microshop_alg_t alg, EVP_PKEY *pkey, unsigned char *secret,
    size_t secret_len, const char *source, char *why, size_t whylen);

/*
 * Checks that pkey is a sound public key fit for *alg; with *alg UNKNOWN
 * infers it (RSA -> RS256, EC -> ES256/384/512 by curve).  Returns 0, or
 * -1 with why set.
 */
int microshop_pkey_check(EVP_PKEY *pkey, microshop_alg_t *alg, char *why,
    size_t whylen);

#endif /* _MICROSHOP_TOKEN_KEYS_H_INCLUDED_ */
