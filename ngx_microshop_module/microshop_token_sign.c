/*
 * ngx_microshop -- signing with the gateway's own key (pure logic, no nginx
 * headers), see microshop_token_sign.h.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "microshop_base64url.h"
#include "microshop_token_file.h"
#include "microshop_token_sign.h"
#include "microshop_token_str.h"
#include "microshop_token_verifier.h"


/* an ECDSA-Sig-Value of P-521: 2 INTEGERs of up to 67 bytes, headers */
#define MICROSHOP_ECDSA_DER_MAX  (2 * (MICROSHOP_EC_COORD_MAX + 3) + 3)


struct microshop_signer_s {
    microshop_alg_t   alg;
    EVP_PKEY         *pkey;
    EVP_MD           *md;
    EVP_MD_CTX       *mdctx;
    EVP_PKEY_CTX     *pctx;          /* sign_init done */
    size_t            siglen;        /* of the JWS signature */
    size_t            coord;         /* ES: bytes of r, of s */
    size_t            outcap;        /* bytes of out */
    unsigned char    *out;           /* what EVP_PKEY_sign writes */
    unsigned char     raw[2 * MICROSHOP_EC_COORD_MAX];  /* ES: R || S */
    unsigned char     n[MICROSHOP_EC_COORD_MAX];      /* ES: the order */
    unsigned char     half[MICROSHOP_EC_COORD_MAX];   /* ES: n >> 1 */
};


static int
microshop_sign_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}


EVP_PKEY *
microshop_private_key_read(const char *path, char *why, size_t whylen)
{
    BIO            *bio;
    size_t          len;
    EVP_PKEY       *pkey;
    const char     *text;
    unsigned char  *data;

    if (microshop_read_file(path, &data, &len, why, whylen) != 0) {
        return NULL;
    }

    text = (const char *) data;
    pkey = NULL;

    if (microshop_memfind(text, len, "ENCRYPTED")) {
        microshop_err(why, whylen, "is an encrypted private key; nginx "
                      "cannot ask for a passphrase (decrypt it: openssl "
                      "pkey -in FILE -out NEW, and keep NEW mode 0600)");
        goto done;
    }

    if (!microshop_memfind(text, len, "PRIVATE KEY-----")) {
        microshop_err(why, whylen, "%s",
                      microshop_memfind(text, len, "-----BEGIN")
                      ? "holds no private key (a public key or certificate "
                        "goes to microshop_jwt_key)"
                      : "is not a PEM private key");
        goto done;
    }

    bio = BIO_new_mem_buf(data, (int) len);
    if (bio == NULL) {
        microshop_err(why, whylen, "out of memory");
        goto done;
    }

    pkey = PEM_read_bio_PrivateKey(bio, NULL, microshop_sign_no_passphrase,
                                   NULL);
    BIO_free(bio);

    if (pkey == NULL) {
        microshop_err(why, whylen, "no PEM private key found");
    }

done:

    microshop_free_file(data, len);
    ERR_clear_error();

    return pkey;
}


microshop_signer_t *
microshop_signer_create(EVP_PKEY *pkey, microshop_alg_t alg, char *why,
    size_t whylen)
{
    int                          ok;
    const char                  *mdname;
    EVP_PKEY_CTX                *check;
    microshop_signer_t          *s;
    const microshop_alg_info_t  *info;

    info = microshop_alg_info(alg);

    if (info->family == MICROSHOP_FAMILY_HS) {
        microshop_err(why, whylen, "alg %s is refused: an HMAC secret "
                      "cannot be published", info->name);
        return NULL;
    }

    if (info->family == MICROSHOP_FAMILY_NONE) {
        microshop_err(why, whylen, "unknown alg");
        return NULL;
    }

    if (pkey == NULL || microshop_pkey_check(pkey, &alg, why, whylen) != 0) {
        if (pkey == NULL) {
            microshop_err(why, whylen, "no key");
        }

        ERR_clear_error();
        return NULL;
    }

    /* the private half is there and matches the public one */

    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    ok = (check != NULL && EVP_PKEY_pairwise_check(check) == 1);
    EVP_PKEY_CTX_free(check);

    if (!ok) {
        microshop_err(why, whylen, "not a sound private key");
        ERR_clear_error();
        return NULL;
    }

    s = calloc(1, sizeof(microshop_signer_t));
    if (s == NULL) {
        microshop_err(why, whylen, "out of memory");
        return NULL;
    }

    s->alg = alg;

    if (EVP_PKEY_up_ref(pkey) != 1) {
        microshop_err(why, whylen, "out of memory");
        goto failed;
    }

    s->pkey = pkey;

    mdname = (info->bits == 256) ? "SHA256"
             : (info->bits == 384) ? "SHA384" : "SHA512";

    s->md = EVP_MD_fetch(NULL, mdname, NULL);
    s->mdctx = EVP_MD_CTX_new();
    s->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);

    if (s->md == NULL || s->mdctx == NULL || s->pctx == NULL
        || EVP_PKEY_sign_init(s->pctx) != 1
        || (info->family == MICROSHOP_FAMILY_RS
            && EVP_PKEY_CTX_set_rsa_padding(s->pctx, RSA_PKCS1_PADDING) <= 0)
        || EVP_PKEY_CTX_set_signature_md(s->pctx, s->md) <= 0)
    {
        microshop_err(why, whylen, "OpenSSL cannot sign with this key");
        goto failed;
    }

    if (info->family == MICROSHOP_FAMILY_RS) {
        s->siglen = (size_t) EVP_PKEY_get_size(pkey);
        s->outcap = s->siglen;

    } else {
        s->coord = info->coord_len;
        s->siglen = 2 * s->coord;
        s->outcap = MICROSHOP_ECDSA_DER_MAX;

        if (microshop_ec_order(pkey, s->coord, s->n, s->half) != 0) {
            microshop_err(why, whylen, "the EC key has no order");
            goto failed;
        }
    }

    s->out = malloc(s->outcap);
    if (s->out == NULL) {
        microshop_err(why, whylen, "out of memory");
        goto failed;
    }

    ERR_clear_error();

    return s;

failed:

    microshop_signer_free(s);
    ERR_clear_error();

    return NULL;
}


void
microshop_signer_free(microshop_signer_t *s)
{
    if (s == NULL) {
        return;
    }

    EVP_PKEY_CTX_free(s->pctx);
    EVP_MD_CTX_free(s->mdctx);
    EVP_MD_free(s->md);
    EVP_PKEY_free(s->pkey);

    if (s->out != NULL) {
        OPENSSL_cleanse(s->out, s->outcap);
        free(s->out);
    }

    free(s);
}


microshop_alg_t
microshop_signer_alg(const microshop_signer_t *s)
{
    return s->alg;
}


size_t
microshop_signer_len(const microshop_signer_t *s)
{
    return s->siglen;
}


/*
 * One DER INTEGER at *p (before end) into coord bytes at out, right
 * aligned; *p moves past it.  A positive number of at most coord bytes
 * (a leading 0 is the sign byte).
 */
static int
microshop_der_uint(const unsigned char **p, const unsigned char *end,
    unsigned char *out, size_t coord)
{
    size_t                len;
    const unsigned char  *v;

    if (end - *p < 2 || (*p)[0] != 0x02 || (*p)[1] & 0x80) {
        return -1;
    }

    len = (*p)[1];
    v = *p + 2;

    if ((size_t) (end - v) < len || len == 0 || v[0] & 0x80) {
        return -1;
    }

    *p = v + len;

    while (len > 0 && v[0] == 0) {
        v++;
        len--;
    }

    if (len > coord) {
        return -1;
    }

    memset(out, 0, coord - len);
    memcpy(out + coord - len, v, len);

    return 0;
}


/* an ECDSA-Sig-Value (DER) as R || S, S made low: s > n / 2 -> n - s */
static int
microshop_ecdsa_raw(microshop_signer_t *s, const unsigned char *der,
    size_t len, unsigned char *sig)
{
    int                   borrow, d;
    size_t                i, body;
    unsigned char        *sv;
    const unsigned char  *p, *end;

    if (len < 2 || der[0] != 0x30) {
        return -1;
    }

    if (der[1] < 0x80) {
        body = der[1];
        p = der + 2;

    } else if (der[1] == 0x81 && len >= 3) {
        body = der[2];
        p = der + 3;

    } else {
        return -1;
    }

    end = p + body;

    if (end != der + len
        || microshop_der_uint(&p, end, sig, s->coord) != 0
        || microshop_der_uint(&p, end, sig + s->coord, s->coord) != 0
        || p != end)
    {
        return -1;
    }

    /* big-endian numbers of one length compare as their bytes do */

    sv = sig + s->coord;

    if (memcmp(sv, s->half, s->coord) <= 0) {
        return 0;
    }

    borrow = 0;

    for (i = s->coord; i-- > 0; ) {
        d = (int) s->n[i] - (int) sv[i] - borrow;
        borrow = (d < 0);
        sv[i] = (unsigned char) (d + (borrow ? 256 : 0));
    }

    return 0;
}


/* the JWS signature of data: in s->out (RS) or s->raw (ES), or NULL */
static const unsigned char *
microshop_signer_raw(microshop_signer_t *s, const unsigned char *data,
    size_t len)
{
    int            rc;
    size_t         outlen;
    unsigned int   dlen;
    unsigned char  dg[EVP_MAX_MD_SIZE];

    if (EVP_DigestInit_ex2(s->mdctx, s->md, NULL) != 1
        || EVP_DigestUpdate(s->mdctx, data, len) != 1
        || EVP_DigestFinal_ex(s->mdctx, dg, &dlen) != 1)
    {
        ERR_clear_error();
        return NULL;
    }

    outlen = s->outcap;

    if (EVP_PKEY_sign(s->pctx, s->out, &outlen, dg, dlen) != 1) {
        ERR_clear_error();
        return NULL;
    }

    if (s->coord == 0) {
        /* RS: the signature is as long as the modulus */
        return (outlen == s->siglen) ? s->out : NULL;
    }

    rc = microshop_ecdsa_raw(s, s->out, outlen, s->raw);

    return (rc == 0) ? s->raw : NULL;
}


int
microshop_signer_sign(microshop_signer_t *s, const unsigned char *data,
    size_t len, unsigned char *sig)
{
    const unsigned char  *raw;

    raw = microshop_signer_raw(s, data, len);

    if (raw == NULL) {
        return -1;
    }

    memcpy(sig, raw, s->siglen);

    return 0;
}


size_t
microshop_jws_len(const microshop_signer_t *s, size_t hlen, size_t clen)
{
    return MICROSHOP_B64URL_LEN(hlen) + 1 + MICROSHOP_B64URL_LEN(clen) + 1
           + MICROSHOP_B64URL_LEN(s->siglen);
}


size_t
microshop_jws_sign(microshop_signer_t *s, const char *hdr, size_t hlen,
    const char *claims, size_t clen, char *out, size_t outcap)
{
    char                 *p, *last;
    size_t                total;
    const unsigned char  *raw;

    total = microshop_jws_len(s, hlen, clen);

    if (outcap <= total) {
        return 0;
    }

    p = out;
    last = out + outcap;

    if (microshop_b64url_encode((const unsigned char *) hdr, hlen, p,
                                (size_t) (last - p))
        != 0)
    {
        return 0;
    }

    p += MICROSHOP_B64URL_LEN(hlen);
    *p++ = '.';

    if (microshop_b64url_encode((const unsigned char *) claims, clen, p,
                                (size_t) (last - p))
        != 0)
    {
        return 0;
    }

    p += MICROSHOP_B64URL_LEN(clen);

    raw = microshop_signer_raw(s, (unsigned char *) out, (size_t) (p - out));

    if (raw == NULL) {
        return 0;
    }

    *p++ = '.';

    if (microshop_b64url_encode(raw, s->siglen, p, (size_t) (last - p)) != 0)
    {
        return 0;
    }

    return total;
}
