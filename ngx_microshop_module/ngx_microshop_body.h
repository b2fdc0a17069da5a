/*
 * ngx_microshop: the request body as one contiguous buffer, whether nginx
 * kept it in memory or spilled it to a temporary file.
 */

#ifndef _NGX_MICROSHOP_BODY_H_INCLUDED_
#define _NGX_MICROSHOP_BODY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * After ngx_http_read_client_request_body() finished: the whole body in
 * out (allocated from the request pool).  NGX_DECLINED when it is larger
 * than max, NGX_ERROR on a read error.  The request body itself is left
 * as it is, so it still reaches the upstream byte for byte.
 */
ngx_int_t ngx_microshop_body_get(ngx_http_request_t *r, size_t max,
    ngx_str_t *out);


#endif /* _NGX_MICROSHOP_BODY_H_INCLUDED_ */
