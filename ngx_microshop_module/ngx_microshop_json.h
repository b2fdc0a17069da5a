/*
 * ngx_microshop: JSON in the request layer (docs/architecture.md): a
 * request body read as a JSON document, a JSON string or the compact text
 * of a document copied into a pool.
 */

#ifndef _NGX_MICROSHOP_JSON_H_INCLUDED_
#define _NGX_MICROSHOP_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>


/*
 * After ngx_http_read_client_request_body() finished: the body as a JSON
 * document in *doc (the caller releases it with json_decref()), or NULL
 * when the body is empty, larger than max, or not JSON (or repeats a
 * member).  NGX_ERROR on a read error.
 */
ngx_int_t ngx_microshop_json_body(ngx_http_request_t *r, size_t max,
    json_t **doc);

/*
 * doc as the 200 answer of a content handler: compact JSON and a newline,
 * application/json, Cache-Control: no-store (the admin API).  doc is
 * released; NULL (it could not be made) is a 500.  Returns what
 * ngx_microshop_send_private_json() did, for ngx_http_finalize_request().
 */
ngx_int_t ngx_microshop_json_send(ngx_http_request_t *r, json_t *doc);

/* the bytes of the JSON string v, copied into pool */
ngx_int_t ngx_microshop_json_copy(ngx_pool_t *pool, json_t *v,
    ngx_str_t *out);

/* the compact text of doc (members in their order), in pool */
ngx_int_t ngx_microshop_json_dump(ngx_pool_t *pool, json_t *doc,
    ngx_str_t *out);


#endif /* _NGX_MICROSHOP_JSON_H_INCLUDED_ */
