/*
 * ngx_microshop: the signed inventory webhook receiver.
 *
 * microshop_events secret=FILE [tolerance=T]        (loc, content handler)
 *
 *     POST only.  The body is a JSON event
 *       {"id":"evt_1","type":"inventory.updated","seller":"s1","sku":"A1",
 *        "available":12,"version":7,"item":{...}}
 *     signed with
 *       Microshop-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
 *                                                          t "." body)>
 *     (microshop_events_signature.h).  The event goes to the store as one
 *     NGX_MICROSHOP_OP_EVENT: a repeated id is a duplicate, a version not
 *     newer than the stored one is stale, else stock and the inventory
 *     cache are set from it.  The answer is 200
 *     {"status":"accepted"|"duplicate"|"stale"}.
 *
 *     The secret file is read at configuration time (relative to the conf
 *     directory), without its trailing CR/LF; it must hold 16 to 4096
 *     bytes.  tolerance: how far t may be from now, either way (default
 *     5m, 1s to 1h).
 */

#ifndef _NGX_MICROSHOP_EVENTS_H_INCLUDED_
#define _NGX_MICROSHOP_EVENTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* the directive; conf is the ngx_http_microshop_loc_conf_t */
char *ngx_microshop_events_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * A seller or SKU name as the store keys it ("seller\nsku"): 1 to 256
 * bytes, no control characters.  Used by the admin stock routes too.
 */
ngx_uint_t ngx_microshop_events_name_valid(u_char *data, size_t len);


#endif /* _NGX_MICROSHOP_EVENTS_H_INCLUDED_ */
