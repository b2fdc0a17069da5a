/*
 * ngx_microshop: SHA-256 on the request path (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_digest.h"


/* per worker: made on first use, freed at exit */
static EVP_MD      *sha256;
static EVP_MD_CTX  *md;


EVP_MD_CTX *
ngx_microshop_sha256_begin(void)
{
    if (md == NULL) {
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        md = EVP_MD_CTX_new();

        if (sha256 == NULL || md == NULL) {
            EVP_MD_free(sha256);
            EVP_MD_CTX_free(md);
            sha256 = NULL;
            md = NULL;
            return NULL;
        }
    }

    if (EVP_DigestInit_ex2(md, sha256, NULL) != 1) {
        return NULL;
    }

    return md;
}


void
ngx_microshop_sha256_free(void)
{
    EVP_MD_CTX_free(md);
    EVP_MD_free(sha256);

    md = NULL;
    sha256 = NULL;
}
