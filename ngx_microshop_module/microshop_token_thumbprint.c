/*
 * ngx_microshop -- JWK thumbprints (pure logic, no nginx headers), see
 * microshop_token_thumbprint.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>

#include "microshop_base64url.h"
#include "microshop_token_thumbprint.h"


/* see the header */

char *
microshop_key_number_b64(EVP_PKEY *pkey, const char *name, int pad)
{
    int             n;
    char           *out;
    size_t          cap;
    BIGNUM         *bn;
    unsigned char  *bin;

    bn = NULL;

    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
        return NULL;
    }

    n = pad ? pad : BN_num_bytes(bn);
    cap = MICROSHOP_B64URL_LEN((size_t) n) + 1;

    bin = malloc(n ? n : 1);
    out = malloc(cap);

    if (bin == NULL || out == NULL
        || (pad ? BN_bn2binpad(bn, bin, pad) : BN_bn2bin(bn, bin)) != n
        || microshop_b64url_encode(bin, n, out, cap) != 0)
    {
        free(out);
        out = NULL;
    }

    free(bin);
    BN_free(bn);

    return out;
}


int
microshop_key_thumbprint(const microshop_key_t *key, char *out,
    size_t outcap)
{
    int                          rc, n;
    char                        *a, *b, *doc;
    size_t                       len;
    unsigned char                hash[32];
    unsigned int                 hlen;
    const microshop_alg_info_t  *info;

    info = microshop_alg_info(key->alg);

    if (key->pkey == NULL || outcap <= MICROSHOP_THUMBPRINT_LEN) {
        return -1;
    }

    /* the members in lexicographic order (RFC 7638 3.3) */

    switch (info->family) {

    case MICROSHOP_FAMILY_RS:
        a = microshop_key_number_b64(key->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        b = microshop_key_number_b64(key->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        break;

    case MICROSHOP_FAMILY_ES:
        a = microshop_key_number_b64(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X,
                                     (int) info->coord_len);
        b = microshop_key_number_b64(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y,
                                     (int) info->coord_len);
        break;

    default:
        /* a secret: no thumbprint (see the header) */
        return -1;
    }

    rc = -1;
    doc = NULL;

    if (a == NULL || b == NULL) {
        goto done;
    }

    len = strlen(a) + strlen(b) + 64;

    doc = malloc(len);
    if (doc == NULL) {
        goto done;
    }

    if (info->family == MICROSHOP_FAMILY_RS) {
        n = snprintf(doc, len, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
                     a, b);

    } else {
        n = snprintf(doc, len,
                     "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\","
                     "\"y\":\"%s\"}", info->crv, a, b);
    }

    if (n < 0 || (size_t) n >= len
        || EVP_Digest(doc, n, hash, &hlen, EVP_sha256(), NULL) != 1
        || hlen != sizeof(hash))
    {
        goto done;
    }

    rc = microshop_b64url_encode(hash, sizeof(hash), out, outcap);

done:

    free(doc);
    free(a);
    free(b);

    if (rc != 0) {
        ERR_clear_error();
    }

    return rc;
}
