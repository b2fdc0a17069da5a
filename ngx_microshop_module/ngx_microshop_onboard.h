/*
 * ngx_microshop: seller onboarding through the admin API (microshop_admin;
 * docs/tokens.md "Seller onboarding", docs/http.md "Admin and webhooks"):
 *
 *   POST <loc>/sellers/<seller>/tokens
 *        {"class":"integration","scopes":["inventory:read"],"tier":"pro",
 *         "ttl":"30d","sub":"sync-job"}
 *   -> 201 {"access_token":"...","expires_in":N,"jti":"..."}
 *
 * A token for the seller, of a declared class and within its lifetime
 * and scope ceilings, signed with the gateway's key (ngx_microshop_issue.h).
 * The token is answered once and never kept or logged; its jti is.
 */

#ifndef _NGX_MICROSHOP_ONBOARD_H_INCLUDED_
#define _NGX_MICROSHOP_ONBOARD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* route: the path below the admin location, "sellers/..." */
ngx_int_t ngx_microshop_onboard_handler(ngx_http_request_t *r,
    ngx_str_t *route);


#endif /* _NGX_MICROSHOP_ONBOARD_H_INCLUDED_ */
