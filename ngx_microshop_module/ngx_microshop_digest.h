/*
 * ngx_microshop: SHA-256 on the request path.
 *
 * OpenSSL 3 looks an algorithm up again, under a lock, on every
 * EVP_Digest()/EVP_sha256() initialisation, and EVP_MD_CTX_new() allocates;
 * a worker fetches SHA-256 once and keeps one context, which every digest
 * of a request (token cache key, idempotency fingerprint) reuses in turn.
 */

#ifndef _NGX_MICROSHOP_DIGEST_H_INCLUDED_
#define _NGX_MICROSHOP_DIGEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>


/* the worker's context, initialised for a new SHA-256; NULL on failure */
EVP_MD_CTX *ngx_microshop_sha256_begin(void);

/* frees what the worker fetched and made (exit_process) */
void ngx_microshop_sha256_free(void);


#endif /* _NGX_MICROSHOP_DIGEST_H_INCLUDED_ */
