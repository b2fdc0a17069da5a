/*
 * ngx_microshop -- verification keys, JWS verification and claim checks
 * (pure logic, no nginx headers).  See SPEC.md "Token rules".
 */

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "microshop_jwt.h"
#include "microshop_scope.h"


#define MICROSHOP_KEY_FILE_MAX   (1024 * 1024)
#define MICROSHOP_RSA_MIN_BITS   2048
/* the largest decoded segment of a token of MICROSHOP_JWT_MAX_LEN bytes */
#define MICROSHOP_JWT_SEG_MAX    (MICROSHOP_JWT_MAX_LEN / 4 * 3 + 3)
#define MICROSHOP_EC_COORD_MAX   66


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
static const microshop_alg_info_t  microshop_algs[] = {
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

#define MICROSHOP_NALGS  (sizeof(microshop_algs) / sizeof(microshop_algs[0]))


/* members that only a private JWK has (RFC 7518 6.2.2, 6.3.2) */
static const char  *microshop_jwk_private[] = {
    "d", "p", "q", "dp", "dq", "qi", "oth"
};


static const microshop_alg_info_t *
microshop_alg_info(microshop_alg_t alg)
{
    if ((size_t) alg >= MICROSHOP_NALGS) {
        return &microshop_algs[0];
    }

    return &microshop_algs[alg];
}


static const EVP_MD *
microshop_alg_md(const microshop_alg_info_t *info)
{
    switch (info->bits) {
    case 256:
        return EVP_sha256();
    case 384:
        return EVP_sha384();
    case 512:
        return EVP_sha512();
    default:
        return NULL;
    }
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


/* helpers */

static void
microshop_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    (void) vsnprintf(err, errlen, fmt, args);
    va_end(args);
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


static const char *
microshop_memfind(const char *hay, size_t haylen, const char *needle)
{
    size_t  n, i;

    n = strlen(needle);

    if (n == 0 || n > haylen) {
        return NULL;
    }

    for (i = 0; i + n <= haylen; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0) {
            return hay + i;
        }
    }

    return NULL;
}


static size_t
microshop_memcount(const char *hay, size_t haylen, const char *needle)
{
    size_t       count, n;
    const char  *p, *end;

    count = 0;
    n = strlen(needle);
    end = hay + haylen;
    p = hay;

    while ((p = microshop_memfind(p, (size_t) (end - p), needle)) != NULL) {
        count++;
        p += n;
    }

    return count;
}


/* ASCII case-insensitive comparison of s (len bytes) with the C string lit */
static int
microshop_caseeq(const char *s, size_t len, const char *lit)
{
    size_t         i;
    unsigned char  a, b;

    if (strlen(lit) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        a = (unsigned char) s[i];
        b = (unsigned char) lit[i];

        if (a >= 'A' && a <= 'Z') {
            a = (unsigned char) (a - 'A' + 'a');
        }

        if (b >= 'A' && b <= 'Z') {
            b = (unsigned char) (b - 'A' + 'a');
        }

        if (a != b) {
            return 0;
        }
    }

    return 1;
}


/* a JSON string equal to the C string lit (embedded NULs never match) */
static int
microshop_json_streq(json_t *v, const char *lit)
{
    size_t  n;

    if (!json_is_string(v)) {
        return 0;
    }

    n = json_string_length(v);

    return n == strlen(lit) && memcmp(json_string_value(v), lit, n) == 0;
}


/*
 * Reads a whole file (at most MICROSHOP_KEY_FILE_MAX bytes) into a malloc()ed
 * buffer with a NUL after the data.  Returns 0, or -1 with why set.
 */
static int
microshop_read_file(const char *path, unsigned char **data, size_t *len,
    char *why, size_t whylen)
{
    FILE           *f;
    size_t          n, cap, got;
    unsigned char  *buf, *nbuf;

    *data = NULL;
    *len = 0;

    errno = 0;
    f = fopen(path, "rb");
    if (f == NULL) {
        microshop_err(why, whylen, "cannot open: %s",
                      errno ? strerror(errno) : "unknown error");
        return -1;
    }

    cap = 4096;
    n = 0;
    buf = malloc(cap + 1);
    if (buf == NULL) {
        fclose(f);
        microshop_err(why, whylen, "out of memory");
        return -1;
    }

    for ( ;; ) {
        if (n == cap) {
            if (cap >= MICROSHOP_KEY_FILE_MAX) {
                microshop_err(why, whylen, "file is larger than %d bytes",
                              MICROSHOP_KEY_FILE_MAX);
                goto failed;
            }

            nbuf = realloc(buf, 2 * cap + 1);
            if (nbuf == NULL) {
                microshop_err(why, whylen, "out of memory");
                goto failed;
            }

            buf = nbuf;
            cap *= 2;
        }

        errno = 0;
        got = fread(buf + n, 1, cap - n, f);
        n += got;

        if (got == 0) {
            if (ferror(f)) {
                microshop_err(why, whylen, "cannot read: %s",
                              errno ? strerror(errno) : "read error");
                goto failed;
            }

            break;
        }
    }

    fclose(f);

    buf[n] = '\0';
    *data = buf;
    *len = n;

    return 0;

failed:

    fclose(f);
    OPENSSL_cleanse(buf, cap + 1);
    free(buf);

    return -1;
}


static void
microshop_free_file(unsigned char *data, size_t len)
{
    if (data != NULL) {
        OPENSSL_cleanse(data, len + 1);
        free(data);
    }
}


/* strict base64url (RFC 7515 2, RFC 4648 5) */

static int
microshop_b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '-') {
        return 62;
    }

    if (c == '_') {
        return 63;
    }

    return -1;
}


static size_t
microshop_b64url_decoded_len(size_t len)
{
    return len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
}


/*
 * No padding, no characters outside the alphabet, no length that is 1 mod 4
 * and no non-zero bits after the last full byte (non-canonical).
 */
static int
microshop_b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t outcap, size_t *outlen)
{
    int       v;
    size_t    i, n;
    uint32_t  acc;
    unsigned  bits;

    if (len % 4 == 1 || microshop_b64url_decoded_len(len) > outcap) {
        return -1;
    }

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        v = microshop_b64url_value((unsigned char) in[i]);
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    if (acc != 0) {
        return -1;
    }

    *outlen = n;

    return 0;
}


static int
microshop_b64url_decode_json(json_t *v, unsigned char **out, size_t *outlen)
{
    size_t          len, cap;
    unsigned char  *buf;

    *out = NULL;
    *outlen = 0;

    if (!json_is_string(v)) {
        return -1;
    }

    len = json_string_length(v);
    if (len == 0) {
        return -1;
    }

    cap = microshop_b64url_decoded_len(len) + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        return -1;
    }

    if (microshop_b64url_decode(json_string_value(v), len, buf, cap, outlen)
        != 0)
    {
        free(buf);
        return -1;
    }

    *out = buf;

    return 0;
}


/* keyset */

static void
microshop_key_clear(microshop_key_t *key)
{
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


static void
microshop_keyset_truncate(microshop_keyset_t *ks, size_t n)
{
    while (ks->nkeys > n) {
        microshop_key_clear(&ks->keys[--ks->nkeys]);
    }
}


static const microshop_key_t *
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
static int
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
static int
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


static int
microshop_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}


static EVP_PKEY *
microshop_pem_public_key(const char *data, size_t len, char *why,
    size_t whylen)
{
    size_t               nbegin, ncert;
    BIO                 *bio;
    X509                *x509;
    EVP_PKEY            *pkey;
    OSSL_DECODER_CTX    *dctx;
    const unsigned char *p;

    if (microshop_memfind(data, len, "PRIVATE KEY")) {
        microshop_err(why, whylen, "is a private key; give the public key "
                      "only (openssl pkey -pubout)");
        return NULL;
    }

    nbegin = microshop_memcount(data, len, "-----BEGIN ");
    ncert = microshop_memcount(data, len, "-----BEGIN CERTIFICATE-----");

    if (nbegin > 1 && nbegin != ncert) {
        microshop_err(why, whylen, "holds %zu PEM blocks; one public key "
                      "per file", nbegin);
        return NULL;
    }

    pkey = NULL;

    if (ncert > 0) {
        bio = BIO_new_mem_buf(data, (int) len);
        if (bio == NULL) {
            microshop_err(why, whylen, "out of memory");
            return NULL;
        }

        x509 = PEM_read_bio_X509(bio, NULL, microshop_no_passphrase, NULL);
        BIO_free(bio);

        if (x509 == NULL) {
            microshop_err(why, whylen, "bad PEM certificate");
            return NULL;
        }

        pkey = X509_get_pubkey(x509);
        X509_free(x509);

        if (pkey == NULL) {
            microshop_err(why, whylen, "no usable public key in the "
                          "certificate");
            return NULL;
        }

        return pkey;
    }

    dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL,
                                         EVP_PKEY_PUBLIC_KEY, NULL, NULL);
    if (dctx == NULL) {
        microshop_err(why, whylen, "out of memory");
        return NULL;
    }

    p = (const unsigned char *) data;

    if (OSSL_DECODER_from_data(dctx, &p, &len) != 1 || pkey == NULL) {
        OSSL_DECODER_CTX_free(dctx);
        EVP_PKEY_free(pkey);
        microshop_err(why, whylen, "no PEM public key found");
        return NULL;
    }

    OSSL_DECODER_CTX_free(dctx);

    return pkey;
}


int
microshop_keyset_add_file(microshop_keyset_t *ks, const char *path,
    const char *kid, const char *alg, char *err, size_t errlen)
{
    char                         why[256];
    size_t                       len, slen;
    EVP_PKEY                    *pkey;
    unsigned char               *data, *secret;
    microshop_alg_t              a;
    const microshop_alg_info_t  *info;

    data = NULL;
    len = 0;
    why[0] = '\0';

    if (ks == NULL || path == NULL) {
        microshop_err(err, errlen, "no key file");
        return -1;
    }

    a = MICROSHOP_ALG_UNKNOWN;

    if (alg != NULL) {
        a = microshop_alg_from_name(alg, strlen(alg));

        if (a == MICROSHOP_ALG_UNKNOWN) {
            microshop_err(why, sizeof(why), "unsupported alg \"%.32s\" "
                          "(HS256/384/512, RS256/384/512, ES256/384/512)",
                          alg);
            goto failed;
        }
    }

    if (kid != NULL && kid[0] == '\0') {
        microshop_err(why, sizeof(why), "empty kid");
        goto failed;
    }

    if (kid != NULL && microshop_keyset_find_kid(ks, kid, strlen(kid))) {
        microshop_err(why, sizeof(why), "duplicate kid \"%.64s\"", kid);
        goto failed;
    }

    if (microshop_read_file(path, &data, &len, why, sizeof(why)) != 0) {
        goto failed;
    }

    info = microshop_alg_info(a);

    if (info->family == MICROSHOP_FAMILY_HS) {

        if (microshop_memfind((char *) data, len, "-----BEGIN")) {
            microshop_err(why, sizeof(why), "looks like a PEM key, not an "
                          "%s secret (refused: key confusion)", info->name);
            goto failed;
        }

        slen = len;
        while (slen > 0 && (data[slen - 1] == '\n' || data[slen - 1] == '\r'))
        {
            slen--;
        }

        if (slen < info->hash_len) {
            microshop_err(why, sizeof(why), "%s secret of %zu bytes is too "
                          "short (at least %zu, RFC 7518 3.2)",
                          info->name, slen, info->hash_len);
            goto failed;
        }

        secret = malloc(slen);
        if (secret == NULL) {
            microshop_err(why, sizeof(why), "out of memory");
            goto failed;
        }

        memcpy(secret, data, slen);

        if (microshop_keyset_push(ks, kid, a, NULL, secret, slen, path,
                                  why, sizeof(why))
            != 0)
        {
            goto failed;
        }

        microshop_free_file(data, len);

        return 0;
    }

    if (!microshop_memfind((char *) data, len, "-----BEGIN")) {
        microshop_err(why, sizeof(why), "not a PEM public key (a secret "
                      "file needs alg=HS256, HS384 or HS512)");
        goto failed;
    }

    pkey = microshop_pem_public_key((char *) data, len, why, sizeof(why));
    if (pkey == NULL) {
        goto failed;
    }

    if (microshop_pkey_check(pkey, &a, why, sizeof(why)) != 0) {
        EVP_PKEY_free(pkey);
        goto failed;
    }

    if (microshop_keyset_push(ks, kid, a, pkey, NULL, 0, path,
                              why, sizeof(why))
        != 0)
    {
        goto failed;
    }

    microshop_free_file(data, len);

    return 0;

failed:

    microshop_free_file(data, len);
    ERR_clear_error();
    microshop_err(err, errlen, "key file \"%s\": %s", path, why);

    return -1;
}


/* JWKS */

static EVP_PKEY *
microshop_jwk_fromdata(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY      *pkey;
    EVP_PKEY_CTX  *ctx;

    pkey = NULL;

    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (ctx == NULL) {
        return NULL;
    }

    if (EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);

    return pkey;
}


static EVP_PKEY *
microshop_jwk_rsa(json_t *jwk, char *why, size_t whylen)
{
    size_t           nlen, elen;
    BIGNUM          *n, *e;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    unsigned char   *nbuf, *ebuf;
    OSSL_PARAM_BLD  *bld;

    pkey = NULL;
    n = NULL;
    e = NULL;
    bld = NULL;
    params = NULL;
    nbuf = NULL;
    ebuf = NULL;

    if (microshop_b64url_decode_json(json_object_get(jwk, "n"), &nbuf, &nlen)
        != 0)
    {
        microshop_err(why, whylen, "\"n\" missing or not base64url");
        goto done;
    }

    if (microshop_b64url_decode_json(json_object_get(jwk, "e"), &ebuf, &elen)
        != 0)
    {
        microshop_err(why, whylen, "\"e\" missing or not base64url");
        goto done;
    }

    n = BN_bin2bn(nbuf, (int) nlen, NULL);
    e = BN_bin2bn(ebuf, (int) elen, NULL);
    bld = OSSL_PARAM_BLD_new();

    if (n == NULL || e == NULL || bld == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
    {
        microshop_err(why, whylen, "out of memory");
        goto done;
    }

    pkey = microshop_jwk_fromdata("RSA", params);
    if (pkey == NULL) {
        microshop_err(why, whylen, "not a valid RSA public key");
    }

done:

    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(nbuf);
    free(ebuf);

    return pkey;
}


static EVP_PKEY *
microshop_jwk_ec(json_t *jwk, const microshop_alg_info_t *info, char *why,
    size_t whylen)
{
    size_t          xlen, ylen;
    EVP_PKEY       *pkey;
    OSSL_PARAM      params[3];
    unsigned char  *x, *y;
    unsigned char   pub[1 + 2 * MICROSHOP_EC_COORD_MAX];

    pkey = NULL;
    x = NULL;
    y = NULL;

    if (microshop_b64url_decode_json(json_object_get(jwk, "x"), &x, &xlen)
        != 0
        || microshop_b64url_decode_json(json_object_get(jwk, "y"), &y, &ylen)
           != 0)
    {
        microshop_err(why, whylen, "\"x\" or \"y\" missing or not "
                      "base64url");
        goto done;
    }

    if (xlen != info->coord_len || ylen != info->coord_len) {
        microshop_err(why, whylen, "\"x\" and \"y\" must be %zu bytes for "
                      "%s", info->coord_len, info->crv);
        goto done;
    }

    pub[0] = 0x04;
    memcpy(pub + 1, x, xlen);
    memcpy(pub + 1 + xlen, y, ylen);

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *) info->group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  pub, 1 + xlen + ylen);
    params[2] = OSSL_PARAM_construct_end();

    pkey = microshop_jwk_fromdata("EC", params);
    if (pkey == NULL) {
        microshop_err(why, whylen, "not a valid EC public key (point not "
                      "on %s?)", info->crv);
    }

done:

    free(x);
    free(y);

    return pkey;
}


/*
 * One JWK.  Returns 1 when added, 0 when skipped (use "enc"), -1 with why.
 */
static int
microshop_jwk_add(microshop_keyset_t *ks, json_t *jwk, const char *path,
    char *why, size_t whylen)
{
    size_t                       i, klen;
    json_t                      *v;
    EVP_PKEY                    *pkey;
    const char                  *kid;
    unsigned char               *k;
    microshop_alg_t              alg;
    const microshop_alg_info_t  *info;

    if (!json_is_object(jwk)) {
        microshop_err(why, whylen, "not a JSON object");
        return -1;
    }

    for (i = 0; i < sizeof(microshop_jwk_private) / sizeof(char *); i++) {
        if (json_object_get(jwk, microshop_jwk_private[i]) != NULL) {
            microshop_err(why, whylen, "has private member \"%s\"; publish "
                          "public keys only", microshop_jwk_private[i]);
            return -1;
        }
    }

    v = json_object_get(jwk, "use");
    if (v != NULL) {
        if (microshop_json_streq(v, "enc")) {
            return 0;
        }

        if (!microshop_json_streq(v, "sig")) {
            microshop_err(why, whylen, "\"use\" must be \"sig\"");
            return -1;
        }
    }

    kid = NULL;
    v = json_object_get(jwk, "kid");
    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) == 0
            || strlen(json_string_value(v)) != json_string_length(v))
        {
            microshop_err(why, whylen, "\"kid\" must be a non-empty string");
            return -1;
        }

        kid = json_string_value(v);
    }

    alg = MICROSHOP_ALG_UNKNOWN;
    v = json_object_get(jwk, "alg");
    if (v != NULL) {
        if (!json_is_string(v)) {
            microshop_err(why, whylen, "\"alg\" must be a string");
            return -1;
        }

        alg = microshop_alg_from_name(json_string_value(v),
                                      json_string_length(v));
        if (alg == MICROSHOP_ALG_UNKNOWN) {
            microshop_err(why, whylen, "unsupported alg \"%.32s\"",
                          json_string_value(v));
            return -1;
        }
    }

    info = microshop_alg_info(alg);
    v = json_object_get(jwk, "kty");

    if (microshop_json_streq(v, "RSA")) {

        if (alg == MICROSHOP_ALG_UNKNOWN) {
            microshop_err(why, whylen, "RSA key without \"alg\"");
            return -1;
        }

        if (info->family != MICROSHOP_FAMILY_RS) {
            microshop_err(why, whylen, "alg %s does not fit kty RSA",
                          info->name);
            return -1;
        }

        pkey = microshop_jwk_rsa(jwk, why, whylen);

    } else if (microshop_json_streq(v, "EC")) {

        v = json_object_get(jwk, "crv");

        for (i = 1; i < MICROSHOP_NALGS; i++) {
            if (microshop_algs[i].family == MICROSHOP_FAMILY_ES
                && microshop_json_streq(v, microshop_algs[i].crv))
            {
                break;
            }
        }

        if (i == MICROSHOP_NALGS) {
            microshop_err(why, whylen, "\"crv\" missing or not one of "
                          "P-256, P-384, P-521");
            return -1;
        }

        if (alg != MICROSHOP_ALG_UNKNOWN && alg != (microshop_alg_t) i) {
            microshop_err(why, whylen, "alg %s does not fit crv %s",
                          info->name, microshop_algs[i].crv);
            return -1;
        }

        alg = (microshop_alg_t) i;
        info = microshop_alg_info(alg);

        pkey = microshop_jwk_ec(jwk, info, why, whylen);

    } else if (microshop_json_streq(v, "oct")) {

        if (alg == MICROSHOP_ALG_UNKNOWN) {
            microshop_err(why, whylen, "oct key without \"alg\"");
            return -1;
        }

        if (info->family != MICROSHOP_FAMILY_HS) {
            microshop_err(why, whylen, "alg %s does not fit kty oct",
                          info->name);
            return -1;
        }

        if (microshop_b64url_decode_json(json_object_get(jwk, "k"), &k, &klen)
            != 0)
        {
            microshop_err(why, whylen, "\"k\" missing or not base64url");
            return -1;
        }

        if (klen < info->hash_len) {
            OPENSSL_cleanse(k, klen);
            free(k);
            microshop_err(why, whylen, "%s secret of %zu bytes is too short "
                          "(at least %zu, RFC 7518 3.2)",
                          info->name, klen, info->hash_len);
            return -1;
        }

        if (microshop_memfind((char *) k, klen, "-----BEGIN")) {
            OPENSSL_cleanse(k, klen);
            free(k);
            microshop_err(why, whylen, "\"k\" holds a PEM key, not an %s "
                          "secret (refused: key confusion)", info->name);
            return -1;
        }

        if (microshop_keyset_push(ks, kid, alg, NULL, k, klen, path,
                                  why, whylen)
            != 0)
        {
            return -1;
        }

        return 1;

    } else if (json_is_string(v)) {
        microshop_err(why, whylen, "unsupported kty \"%.16s\"",
                      json_string_value(v));
        return -1;

    } else {
        microshop_err(why, whylen, "\"kty\" missing or not a string");
        return -1;
    }

    if (pkey == NULL) {
        return -1;
    }

    if (microshop_pkey_check(pkey, &alg, why, whylen) != 0) {
        EVP_PKEY_free(pkey);
        return -1;
    }

    if (microshop_keyset_push(ks, kid, alg, pkey, NULL, 0, path, why, whylen)
        != 0)
    {
        return -1;
    }

    return 1;
}


int
microshop_keyset_add_jwks_file(microshop_keyset_t *ks, const char *path,
    char *err, size_t errlen)
{
    int             rc;
    char            why[256];
    size_t          len, i, n0, added;
    json_t         *doc, *keys, *jwk, *kid;
    json_error_t    jerr;
    unsigned char  *data;

    if (ks == NULL || path == NULL) {
        microshop_err(err, errlen, "no JWKS file");
        return -1;
    }

    n0 = ks->nkeys;
    doc = NULL;
    data = NULL;
    len = 0;
    why[0] = '\0';

    if (microshop_read_file(path, &data, &len, why, sizeof(why)) != 0) {
        goto failed;
    }

    doc = json_loadb((char *) data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        microshop_err(why, sizeof(why), "invalid JSON at line %d: %s",
                      jerr.line, jerr.text);
        goto failed;
    }

    keys = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(keys)) {
        microshop_err(why, sizeof(why), "not a JWKS ({\"keys\":[...]})");
        goto failed;
    }

    added = 0;

    json_array_foreach(keys, i, jwk) {
        char  kwhy[200];

        rc = microshop_jwk_add(ks, jwk, path, kwhy, sizeof(kwhy));

        if (rc < 0) {
            kid = json_is_object(jwk) ? json_object_get(jwk, "kid") : NULL;

            if (json_is_string(kid)) {
                microshop_err(why, sizeof(why), "keys[%zu] (kid \"%.64s\"): "
                              "%s", i, json_string_value(kid), kwhy);
            } else {
                microshop_err(why, sizeof(why), "keys[%zu]: %s", i, kwhy);
            }

            goto failed;
        }

        added += (size_t) rc;
    }

    if (added == 0) {
        microshop_err(why, sizeof(why), "no signature key in the JWKS");
        goto failed;
    }

    json_decref(doc);
    microshop_free_file(data, len);

    return 0;

failed:

    microshop_keyset_truncate(ks, n0);
    json_decref(doc);
    microshop_free_file(data, len);
    ERR_clear_error();
    microshop_err(err, errlen, "JWKS file \"%s\": %s", path, why);

    return -1;
}


/* verification */

static int
microshop_verify_hmac(const microshop_key_t *key,
    const microshop_alg_info_t *info, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
    int            rc;
    unsigned int   maclen;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    if (siglen != info->hash_len || key->secret == NULL
        || key->secret_len > INT_MAX)
    {
        return -1;
    }

    if (HMAC(microshop_alg_md(info), key->secret, (int) key->secret_len,
             data, len, mac, &maclen)
        == NULL)
    {
        return -1;
    }

    rc = (maclen == siglen && CRYPTO_memcmp(mac, sig, siglen) == 0) ? 0 : -1;

    OPENSSL_cleanse(mac, sizeof(mac));

    return rc;
}


static int
microshop_verify_pkey(const microshop_key_t *key,
    const microshop_alg_info_t *info, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
    int           rc;
    EVP_MD_CTX   *mctx;
    EVP_PKEY_CTX *pctx;

    if (key->pkey == NULL) {
        return -1;
    }

    mctx = EVP_MD_CTX_new();
    if (mctx == NULL) {
        return -1;
    }

    rc = -1;
    pctx = NULL;

    if (EVP_DigestVerifyInit(mctx, &pctx, microshop_alg_md(info), NULL,
                             key->pkey)
        != 1)
    {
        goto done;
    }

    if (info->family == MICROSHOP_FAMILY_RS
        && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
    {
        goto done;
    }

    if (EVP_DigestVerify(mctx, sig, siglen, data, len) == 1) {
        rc = 0;
    }

done:

    EVP_MD_CTX_free(mctx);

    return rc;
}


static int
microshop_verify_rsa(const microshop_key_t *key,
    const microshop_alg_info_t *info, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
    if (key->pkey == NULL || (int) siglen != EVP_PKEY_get_size(key->pkey)) {
        return -1;
    }

    return microshop_verify_pkey(key, info, data, len, sig, siglen);
}


/* JWS ECDSA: raw R || S (RFC 7518 3.4) -> DER ECDSA-Sig-Value */
static int
microshop_verify_ecdsa(const microshop_key_t *key,
    const microshop_alg_info_t *info, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
    int             derlen;
    size_t          i;
    BIGNUM         *r, *s;
    ECDSA_SIG      *esig;
    unsigned char   der[2 * MICROSHOP_EC_COORD_MAX + 16];
    unsigned char  *p;

    if (siglen != 2 * info->coord_len) {
        return -1;
    }

    for (i = 0; i < siglen; i++) {
        if (sig[i] != 0) {
            break;
        }
    }

    if (i == siglen) {
        return -1;
    }

    r = BN_bin2bn(sig, (int) info->coord_len, NULL);
    s = BN_bin2bn(sig + info->coord_len, (int) info->coord_len, NULL);
    esig = ECDSA_SIG_new();

    if (r == NULL || s == NULL || esig == NULL
        || BN_is_zero(r) || BN_is_zero(s)
        || ECDSA_SIG_set0(esig, r, s) != 1)
    {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(esig);
        return -1;
    }

    /* esig owns r and s now */

    derlen = i2d_ECDSA_SIG(esig, NULL);
    if (derlen <= 0 || (size_t) derlen > sizeof(der)) {
        ECDSA_SIG_free(esig);
        return -1;
    }

    p = der;
    derlen = i2d_ECDSA_SIG(esig, &p);
    ECDSA_SIG_free(esig);

    if (derlen <= 0) {
        return -1;
    }

    return microshop_verify_pkey(key, info, data, len, der, (size_t) derlen);
}


static int
microshop_typ_ok(json_t *typ)
{
    const char  *s;
    size_t       n;

    if (typ == NULL) {
        return 1;
    }

    if (!json_is_string(typ)) {
        return 0;
    }

    s = json_string_value(typ);
    n = json_string_length(typ);

    return microshop_caseeq(s, n, "JWT")
           || microshop_caseeq(s, n, "at+jwt")
           || microshop_caseeq(s, n, "application/at+jwt");
}


static json_t *
microshop_json_object(const unsigned char *data, size_t len)
{
    json_t        *v;
    json_error_t   jerr;

    v = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES, &jerr);

    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }

    return v;
}


int
microshop_jwt_verify(const microshop_keyset_t *ks, const char *token,
    size_t len, microshop_jwt_t *out, const char **reason)
{
    int                          rc;
    size_t                       i, ndots, d1, d2, hlen, plen, slen, n;
    json_t                      *header, *claims, *v;
    const char                  *why;
    microshop_alg_t              alg;
    const microshop_key_t       *key, *k;
    const microshop_alg_info_t  *info;
    unsigned char                hbuf[MICROSHOP_JWT_SEG_MAX];
    unsigned char                pbuf[MICROSHOP_JWT_SEG_MAX];
    unsigned char                sbuf[MICROSHOP_JWT_SEG_MAX];

    header = NULL;
    d1 = 0;
    d2 = 0;

    if (out != NULL) {
        memset(out, 0, sizeof(microshop_jwt_t));
    }

    if (len > MICROSHOP_JWT_MAX_LEN) {
        why = "token too large";
        goto failed;
    }

    if (ks == NULL || out == NULL || token == NULL || len == 0) {
        why = "malformed token";
        goto failed;
    }

    ndots = 0;

    for (i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots == 0) {
                d1 = i;
            } else {
                d2 = i;
            }

            if (++ndots > 2) {
                break;
            }
        }
    }

    if (ndots != 2) {
        why = "malformed token";
        goto failed;
    }

    hlen = d1;
    plen = d2 - d1 - 1;
    slen = len - d2 - 1;

    if (hlen == 0 || plen == 0) {
        why = "malformed token";
        goto failed;
    }

    if (slen == 0) {
        why = "signature missing";
        goto failed;
    }

    if (microshop_b64url_decode(token, hlen, hbuf, sizeof(hbuf), &hlen) != 0
        || microshop_b64url_decode(token + d1 + 1, plen, pbuf, sizeof(pbuf),
                                   &plen)
           != 0
        || microshop_b64url_decode(token + d2 + 1, slen, sbuf, sizeof(sbuf),
                                   &slen)
           != 0)
    {
        why = "malformed token";
        goto failed;
    }

    header = microshop_json_object(hbuf, hlen);
    if (header == NULL) {
        why = "invalid token header";
        goto failed;
    }

    v = json_object_get(header, "alg");
    if (!json_is_string(v)) {
        why = "alg missing";
        goto failed;
    }

    if (microshop_caseeq(json_string_value(v), json_string_length(v), "none"))
    {
        why = "alg none not allowed";
        goto failed;
    }

    alg = microshop_alg_from_name(json_string_value(v), json_string_length(v));
    if (alg == MICROSHOP_ALG_UNKNOWN) {
        why = "unsupported alg";
        goto failed;
    }

    if (!microshop_typ_ok(json_object_get(header, "typ"))) {
        why = "unsupported typ";
        goto failed;
    }

    if (json_object_get(header, "crit") != NULL) {
        why = "crit header not supported";
        goto failed;
    }

    /* "jwk", "jku", "x5u", "x5c", "x5t" never select a key: not looked at */

    key = NULL;
    v = json_object_get(header, "kid");

    if (v != NULL) {
        if (!json_is_string(v)) {
            why = "invalid kid";
            goto failed;
        }

        key = microshop_keyset_find_kid(ks, json_string_value(v),
                                        json_string_length(v));
        if (key == NULL) {
            why = "unknown kid";
            goto failed;
        }

        if (key->alg != alg) {
            why = "alg not allowed for this key";
            goto failed;
        }

    } else {
        n = 0;

        for (i = 0; i < ks->nkeys; i++) {
            k = &ks->keys[i];

            if (k->alg == alg) {
                key = k;
                n++;
            }
        }

        if (n == 0) {
            why = "no key for this alg";
            goto failed;
        }

        if (n > 1) {
            why = "kid required";
            goto failed;
        }
    }

    info = microshop_alg_info(alg);

    switch (info->family) {
    case MICROSHOP_FAMILY_HS:
        rc = microshop_verify_hmac(key, info, (const unsigned char *) token,
                                   d2, sbuf, slen);
        break;
    case MICROSHOP_FAMILY_RS:
        rc = microshop_verify_rsa(key, info, (const unsigned char *) token,
                                  d2, sbuf, slen);
        break;
    case MICROSHOP_FAMILY_ES:
        rc = microshop_verify_ecdsa(key, info, (const unsigned char *) token,
                                    d2, sbuf, slen);
        break;
    default:
        rc = -1;
        break;
    }

    if (rc != 0) {
        why = "invalid signature";
        goto failed;
    }

    /* the claims are parsed only once the signature holds */

    claims = microshop_json_object(pbuf, plen);
    if (claims == NULL) {
        why = "invalid token claims";
        goto failed;
    }

    out->header = header;
    out->claims = claims;
    out->key = key;

    return 0;

failed:

    json_decref(header);
    ERR_clear_error();

    if (reason != NULL) {
        *reason = why;
    }

    return -1;
}


void
microshop_jwt_release(microshop_jwt_t *jwt)
{
    if (jwt == NULL) {
        return;
    }

    json_decref(jwt->header);
    json_decref(jwt->claims);

    jwt->header = NULL;
    jwt->claims = NULL;
    jwt->key = NULL;
}


/* claims */

static int64_t
microshop_sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) {
        return INT64_MAX;
    }

    if (b < 0 && a < INT64_MIN - b) {
        return INT64_MIN;
    }

    return a + b;
}


/* compares a JSON number with t: -1, 0, 1 */
static int
microshop_num_cmp(json_t *v, int64_t t)
{
    double     d;
    json_int_t i;

    if (json_is_integer(v)) {
        i = json_integer_value(v);
        return (i < t) ? -1 : (i > t);
    }

    d = json_real_value(v);

    return (d < (double) t) ? -1 : (d > (double) t);
}


static int
microshop_str_in(json_t *v, const char **list, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (list[i] != NULL && microshop_json_streq(v, list[i])) {
            return 1;
        }
    }

    return 0;
}


int
microshop_jwt_check_claims(json_t *claims,
    const microshop_claims_policy_t *p, const char **reason)
{
    int64_t      leeway;
    size_t       i;
    json_t      *v, *item;
    const char  *why;

    if (!json_is_object(claims) || p == NULL) {
        why = "invalid token claims";
        goto failed;
    }

    leeway = p->leeway > 0 ? p->leeway : 0;

    v = json_object_get(claims, "exp");
    if (v == NULL) {
        why = "exp missing";
        goto failed;
    }

    if (!json_is_number(v)) {
        why = "invalid exp";
        goto failed;
    }

    if (microshop_num_cmp(v, microshop_sat_add(p->now, -leeway)) < 0) {
        why = "token expired";
        goto failed;
    }

    v = json_object_get(claims, "nbf");
    if (v != NULL) {
        if (!json_is_number(v)) {
            why = "invalid nbf";
            goto failed;
        }

        if (microshop_num_cmp(v, microshop_sat_add(p->now, leeway)) > 0) {
            why = "token not yet valid";
            goto failed;
        }
    }

    v = json_object_get(claims, "iat");
    if (v != NULL) {
        if (!json_is_number(v)) {
            why = "invalid iat";
            goto failed;
        }

        if (microshop_num_cmp(v, microshop_sat_add(p->now, leeway)) > 0) {
            why = "token issued in the future";
            goto failed;
        }
    }

    if (p->nissuers > 0) {
        v = json_object_get(claims, "iss");

        if (!microshop_str_in(v, p->issuers, p->nissuers)) {
            why = "issuer not accepted";
            goto failed;
        }
    }

    if (p->naudiences > 0) {
        v = json_object_get(claims, "aud");

        if (json_is_string(v)) {
            if (!microshop_str_in(v, p->audiences, p->naudiences)) {
                why = "audience not accepted";
                goto failed;
            }

        } else if (json_is_array(v)) {
            why = "audience not accepted";

            json_array_foreach(v, i, item) {
                if (!json_is_string(item)) {
                    why = "invalid aud";
                    goto failed;
                }

                if (microshop_str_in(item, p->audiences, p->naudiences)) {
                    why = NULL;
                }
            }

            if (why != NULL) {
                goto failed;
            }

        } else {
            why = v ? "invalid aud" : "audience not accepted";
            goto failed;
        }
    }

    return 0;

failed:

    if (reason != NULL) {
        *reason = why;
    }

    return -1;
}


int
microshop_jwt_check_class(json_t *claims, int64_t max_ttl,
    const char *ceiling, size_t ceiling_len, const char *scopes,
    size_t scopes_len, const char **reason)
{
    double       d;
    json_t      *iat, *exp;
    const char  *why;

    iat = json_object_get(claims, "iat");
    exp = json_object_get(claims, "exp");

    if (!json_is_number(iat)) {
        why = iat ? "invalid iat" : "token class requires iat";
        goto failed;
    }

    if (!json_is_number(exp)) {
        why = exp ? "invalid exp" : "token class requires exp";
        goto failed;
    }

    if (max_ttl < 0) {
        max_ttl = 0;
    }

    if (json_is_integer(iat) && json_is_integer(exp)) {
        if (json_integer_value(exp) < json_integer_value(iat)) {
            why = "token expires before it was issued";
            goto failed;
        }

        if ((uint64_t) json_integer_value(exp)
            - (uint64_t) json_integer_value(iat)
            > (uint64_t) max_ttl)
        {
            why = "token lifetime exceeds its class";
            goto failed;
        }

    } else {
        d = json_number_value(exp) - json_number_value(iat);

        if (d < 0) {
            why = "token expires before it was issued";
            goto failed;
        }

        if (d > (double) max_ttl) {
            why = "token lifetime exceeds its class";
            goto failed;
        }
    }

    if (ceiling != NULL
        && !microshop_scopes_contains_all(ceiling, ceiling_len,
                                          scopes, scopes ? scopes_len : 0,
                                          NULL, 0))
    {
        why = "token scopes exceed its class";
        goto failed;
    }

    return 0;

failed:

    if (reason != NULL) {
        *reason = why;
    }

    return -1;
}


int
microshop_jwt_numeric_date(json_t *value, int64_t *out)
{
    double   d;
    int64_t  i;

    if (json_is_integer(value)) {
        *out = (int64_t) json_integer_value(value);
        return 0;
    }

    if (!json_is_real(value)) {
        return -1;
    }

    d = json_real_value(value);

    /* 2^63 is exactly representable; the range check also refuses NaN */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
        return -1;
    }

    i = (int64_t) d;

    if ((double) i > d) {
        i--;
    }

    *out = i;

    return 0;
}
