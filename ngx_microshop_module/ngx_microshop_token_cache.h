/*
 * ngx_microshop: the verified-token cache (docs/directives.md,
 * "microshop_auth"; docs/operations.md, "The zone" and "Reload").
 *
 * A token verified on this node is kept in the zone, as its identity,
 * until its exp plus the leeway, so that its signature is checked once per
 * node and not on every request.  The key is SHA-256 over the digest of
 * the configuration verification depends on and the token, so a reload
 * that drops a key or tightens a class never serves a token verified
 * before it.
 *
 * The cache is node-local by design: it sits on the hot path of every
 * request with a token, which must not pay a network round trip, so it
 * stays in the zone and never goes through the store.  Revocations do go
 * through the store, and are checked on every request, cached or not.
 */

#ifndef _NGX_MICROSHOP_TOKEN_CACHE_H_INCLUDED_
#define _NGX_MICROSHOP_TOKEN_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/sha.h>

#include "ngx_microshop_types.h"


#define NGX_MICROSHOP_TOKEN_CACHE_KEY_LEN  SHA256_DIGEST_LENGTH


/* the key of a token: SHA-256(config digest || token) */
ngx_int_t ngx_microshop_token_cache_key(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *token, u_char *hash);

/*
 * The identity of a token verified before, copied into the request pool:
 * NGX_OK, NGX_DECLINED when it is not cached, NGX_ERROR.
 */
ngx_int_t ngx_microshop_token_cache_lookup(ngx_http_request_t *r,
    ngx_microshop_identity_t *id, u_char *hash);

/* keeps a verified identity; a zone without room keeps nothing */
void ngx_microshop_token_cache_insert(ngx_http_request_t *r,
    ngx_microshop_identity_t *id, u_char *hash);


#endif /* _NGX_MICROSHOP_TOKEN_CACHE_H_INCLUDED_ */
