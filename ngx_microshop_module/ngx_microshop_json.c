/*
 * ngx_microshop: JSON in the request layer (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_body.h"
#include "ngx_microshop_json.h"
#include "ngx_microshop_answer.h"


ngx_int_t
ngx_microshop_json_body(ngx_http_request_t *r, size_t max, json_t **doc)
{
    ngx_int_t     rc;
    ngx_str_t     body;
    json_error_t  err;

    *doc = NULL;

    rc = ngx_microshop_body_get(r, max, &body);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK && body.len) {
        *doc = json_loadb((char *) body.data, body.len,
                          JSON_REJECT_DUPLICATES, &err);
    }

    return NGX_OK;
}


ngx_int_t
ngx_microshop_json_copy(ngx_pool_t *pool, json_t *v, ngx_str_t *out)
{
    out->len = json_string_length(v);
    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, json_string_value(v), out->len);

    return NGX_OK;
}


ngx_int_t
ngx_microshop_json_dump(ngx_pool_t *pool, json_t *doc, ngx_str_t *out)
{
    size_t  len;

    len = json_dumpb(doc, NULL, 0, JSON_COMPACT|JSON_PRESERVE_ORDER);
    if (len == 0) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = json_dumpb(doc, (char *) out->data, len,
                          JSON_COMPACT|JSON_PRESERVE_ORDER);

    return (out->len == len) ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_microshop_json_send(ngx_http_request_t *r, json_t *doc)
{
    size_t     len;
    ngx_str_t  body;

    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = json_dumpb(doc, NULL, 0, JSON_COMPACT);

    body.data = (len == 0) ? NULL : ngx_pnalloc(r->pool, len + 1);

    if (body.data == NULL
        || json_dumpb(doc, (char *) body.data, len, JSON_COMPACT) != len)
    {
        json_decref(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_decref(doc);

    body.data[len] = '\n';
    body.len = len + 1;

    return ngx_microshop_send_private_json(r, &body);
}
