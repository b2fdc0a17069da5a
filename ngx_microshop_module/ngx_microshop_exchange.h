/*
 * ngx_microshop: the token exchange for staff (microshop_token_exchange),
 * RFC 8693, a content handler (docs/tokens.md "Token exchange for staff",
 * docs/http.md "The token endpoint").
 *
 *   microshop_token_exchange class=NAME [ttl=TIME] [scopes=S1,S2,...]
 *                            [require_scope=SCOPE]            (location)
 *
 * POST application/x-www-form-urlencoded: grant_type (the token exchange),
 * subject_token, subject_token_type (an access token), scope, actor.  The
 * subject token is identified as a bearer token is (the verified-token
 * cache or its signature, then the location's issuers and audiences), its
 * revocation is checked, the location's rate limit applies to its seller;
 * the token minted from it (ngx_microshop_issue.h) is of the class the
 * directive names, never longer-lived or wider in scope than the subject
 * token, its class or the directive allow, and carries the subject
 * token's jti as parent_jti.  Answers and errors are RFC 6749 JSON.
 */

#ifndef _NGX_MICROSHOP_EXCHANGE_H_INCLUDED_
#define _NGX_MICROSHOP_EXCHANGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"


char *ngx_microshop_token_exchange_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

/*
 * The checks that need the whole http block (the token class, the signing
 * key): called first by the module's merge of every location.
 */
char *ngx_microshop_exchange_loc_merge(ngx_conf_t *cf,
    ngx_http_microshop_loc_conf_t *conf);


#endif /* _NGX_MICROSHOP_EXCHANGE_H_INCLUDED_ */
