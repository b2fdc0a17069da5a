/*
 * ngx_microshop: the admin API's revocations (docs/tokens.md
 * "Revocation", docs/http.md "Revocation"), a route of microshop_admin:
 *
 *   POST <loc>/revocations {"jti":"...","exp":<unix>}
 *        -> 204: that token, and every token minted from it (its
 *           parent_jti), is refused from then on
 *   POST <loc>/revocations {"seller":"s1","class":"staff",
 *                           "issued_before":<unix>}
 *        -> 204: every token of that seller (and class) issued before
 *           that time, or without an iat, is refused from then on
 *   GET  <loc>/revocations[?limit=N]
 *        -> 200 {"jtis":[{"jti","exp"}],"watermarks":[{"seller","class",
 *                "issued_before","until"}],"truncated":false}
 *
 * A bad body is 400 invalid-request naming what is wrong; a store that
 * cannot keep it 503 store-unavailable.
 */

#ifndef _NGX_MICROSHOP_REVOCATIONS_H_INCLUDED_
#define _NGX_MICROSHOP_REVOCATIONS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* the route "revocations" below the admin location */
ngx_int_t ngx_microshop_revocations_handler(ngx_http_request_t *r);


#endif /* _NGX_MICROSHOP_REVOCATIONS_H_INCLUDED_ */
