/*
 * ngx_microshop -- key files: PEM public keys and HMAC secrets (pure logic,
 * no nginx headers), see microshop_token_pem.h.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "microshop_token_file.h"
#include "microshop_token_pem.h"
#include "microshop_token_str.h"


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
