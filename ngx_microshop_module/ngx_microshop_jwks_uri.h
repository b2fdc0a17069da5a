/*
 * ngx_microshop: keys from the identity provider (docs/tokens.md, "Keys
 * from the identity provider"; docs/directives.md,
 * "microshop_jwt_jwks_uri").
 *
 * Each worker keeps a key set of its own, fetched as a JWKS document
 * through a background subrequest to an internal location the operator
 * points at the provider (proxy_pass: TLS, proxies, resolvers and
 * proxy_cache are nginx's own).  The module's header and body filters
 * take its answer (up to 256 KB, in memory or from a file) and never pass
 * it on to the client; it is read with the rules of microshop_jwt_jwks
 * (microshop_token_jwk.h).  A fetch starts
 *
 *   - when the worker has no set yet: the first request with a token
 *     starts it and goes on; one whose token no configured key verifies
 *     waits for it (again at most once a second while none succeeded);
 *   - when the set is older than refresh=: the next request with a token
 *     starts it and goes on with the set it has;
 *   - for a token whose kid is in no set: at most once per unknown_kid=,
 *     and the request waits for it.
 *
 * One fetch at a time per worker: requests that need the one in flight
 * wait for it (a wait list, woken when it ends; each wait bounded, its
 * timer cancelable), never start another.  A failed fetch keeps the last
 * good set.  The digest of the set is part of the verified-token cache
 * key, so a set that changed verifies again the tokens of the set before.
 */

#ifndef _NGX_MICROSHOP_JWKS_URI_H_INCLUDED_
#define _NGX_MICROSHOP_JWKS_URI_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


#define NGX_MICROSHOP_JWKS_DIGEST_LEN  32


typedef struct ngx_microshop_jwks_fetch_s  ngx_microshop_jwks_fetch_t;


/* microshop_jwt_jwks_uri LOCATION [refresh=TIME] [unknown_kid=TIME] */
char *ngx_microshop_jwt_jwks_uri_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

/* the worker's state, empty (init_process), and its keys freed (exit) */
ngx_int_t ngx_microshop_jwks_uri_init_process(ngx_cycle_t *cycle,
    ngx_http_microshop_main_conf_t *mmcf);
void ngx_microshop_jwks_uri_exit_process(ngx_cycle_t *cycle);

/*
 * The worker's keys from the provider, NULL when there are none (no
 * directive, no good fetch yet).  A key and its kid live until the next
 * set replaces them: what a request keeps of them is copied.
 */
const microshop_keyset_t *ngx_microshop_jwks_uri_keys(
    ngx_http_microshop_main_conf_t *mmcf);

/*
 * The digest of those keys (NGX_MICROSHOP_JWKS_DIGEST_LEN bytes; zeros
 * while there are none), for the verified-token cache key; NULL without
 * the directive.
 */
const u_char *ngx_microshop_jwks_uri_digest(
    ngx_http_microshop_main_conf_t *mmcf);

/*
 * Before a token of the request is looked up or verified.  NGX_OK: go on
 * (the first fetch or a refresh may have started in the background);
 * NGX_AGAIN: the request waits for a fetch already (the stage ran again
 * before its wait was over); NGX_ERROR.
 *
 * A request that waits is held (r->main->count) as for a store op of the
 * request layer: when the fetch ends (or the wait's time ran out)
 * r->write_event_handler(r) runs, in the access phase
 * ngx_http_core_run_phases, so the stage runs again, and then the hold is
 * dropped with ngx_http_finalize_request(r, NGX_DONE).  A request that
 * ends while it waits leaves the list through its cleanup.
 */
ngx_int_t ngx_microshop_jwks_uri_ready(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);

/*
 * After a verification refused a token no set has a key for
 * (ctx->token.unknown_kid): the worker may have no set yet, or not this
 * kid.  NGX_AGAIN: a fetch started or was in flight,
 * the request waits as above and verifies again when it runs again;
 * NGX_DECLINED: no fetch now (one started less than unknown_kid= ago, or
 * 1s ago while the worker has no set, or the request waited once
 * already): refuse the token; NGX_ERROR.
 */
ngx_int_t ngx_microshop_jwks_uri_unknown_kid(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx);


/*
 * The fetch whose subrequest r is, or NULL.  Its header and body go to
 * the two filters below, never further: the module's filters call them
 * before anything else for such a subrequest.  Both return NGX_OK.
 */
ngx_microshop_jwks_fetch_t *ngx_microshop_jwks_uri_fetch(
    ngx_http_request_t *r);
ngx_int_t ngx_microshop_jwks_uri_header_filter(ngx_http_request_t *r,
    ngx_microshop_jwks_fetch_t *f);
ngx_int_t ngx_microshop_jwks_uri_body_filter(ngx_http_request_t *r,
    ngx_microshop_jwks_fetch_t *f, ngx_chain_t *in);


#endif /* _NGX_MICROSHOP_JWKS_URI_H_INCLUDED_ */
