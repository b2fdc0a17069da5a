/*
 * ngx_microshop: the gateway's public keys as a JWKS document (see the
 * header).
 *
 * GET and HEAD answer the document made at configuration time, as
 * application/jwk-set+json (RFC 7517 8.5.1) with Cache-Control: max-age
 * and an ETag; nginx's not-modified filter answers a matching
 * If-None-Match with 304.  Other methods: 405 with Allow.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_answer.h"
#include "ngx_microshop_json.h"
#include "ngx_microshop_jwks.h"
#include "ngx_microshop_mint.h"
#include "microshop_base64url.h"
#include "microshop_token_jwk.h"


#define NGX_MICROSHOP_JWKS_MAX_AGE      300
#define NGX_MICROSHOP_JWKS_MAX_AGE_MAX  (7 * 86400)

/* bytes of the document's SHA-256 in its ETag */
#define NGX_MICROSHOP_JWKS_ETAG_BYTES   16


static ngx_int_t ngx_microshop_jwks_handler(ngx_http_request_t *r);
static json_t *ngx_microshop_jwks_document(
    ngx_http_microshop_main_conf_t *mmcf);


char *
ngx_microshop_jwks_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    ngx_int_t                  t;
    ngx_str_t                 *value, v;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_microshop_jwks_loc_t  *jl;

    if (mlcf->jwks != NULL) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    jl = ngx_pcalloc(cf->pool, sizeof(ngx_microshop_jwks_loc_t));
    if (jl == NULL) {
        return NGX_CONF_ERROR;
    }

    jl->max_age = NGX_MICROSHOP_JWKS_MAX_AGE;
    jl->file = cf->conf_file->file.name.data;
    jl->line = cf->conf_file->line;

    value = cf->args->elts;

    if (cf->args->nelts == 2) {

        if (!ngx_microshop_conf_value(&value[1], "max_age=", &v)) {
            return ngx_microshop_conf_invalid(cf, &value[1]);
        }

        t = ngx_microshop_conf_time(cf, &value[1], 1, 0,
                                    NGX_MICROSHOP_JWKS_MAX_AGE_MAX,
                                    "invalid \"%V\" (0s to 7d)", &value[1]);
        if (t == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        jl->max_age = t;
    }

    mlcf->jwks = jl;
    clcf->handler = ngx_microshop_jwks_handler;

    return NGX_CONF_OK;
}


char *
ngx_microshop_jwks_loc_merge(ngx_conf_t *cf,
    ngx_http_microshop_loc_conf_t *conf)
{
    ngx_http_microshop_main_conf_t  *mmcf;

    if (conf->jwks == NULL) {
        return NGX_CONF_OK;
    }

    mmcf = ngx_microshop_conf_main_conf(cf);

    if (mmcf->mint.keys.nelts == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"microshop_jwks\" has no key to publish: it needs "
                      "a \"microshop_jwt_signing_key\" at http level "
                      "in %s:%ui", conf->jwks->file, conf->jwks->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_microshop_jwks_main_done(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf)
{
    u_char                      md[EVP_MAX_MD_SIZE];
    size_t                      len;
    json_t                     *doc;
    ngx_int_t                   rc;
    unsigned int                mdlen;
    ngx_microshop_mint_main_t  *mint;

    mint = &mmcf->mint;

    if (mint->keys.nelts == 0) {
        return NGX_OK;
    }

    doc = ngx_microshop_jwks_document(mmcf);
    if (doc == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "microshop: the JWKS of the signing keys cannot "
                           "be made");
        return NGX_ERROR;
    }

    rc = ngx_microshop_json_dump(cf->pool, doc, &mint->jwks);
    json_decref(doc);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* a strong ETag: base64url of the first 128 bits of its SHA-256 */

    if (EVP_Digest(mint->jwks.data, mint->jwks.len, md, &mdlen,
                   EVP_sha256(), NULL)
        != 1)
    {
        return NGX_ERROR;
    }

    len = MICROSHOP_B64URL_LEN(NGX_MICROSHOP_JWKS_ETAG_BYTES);

    mint->etag.data = ngx_pnalloc(cf->pool, len + 3);
    if (mint->etag.data == NULL) {
        return NGX_ERROR;
    }

    mint->etag.data[0] = '"';
    (void) microshop_b64url_encode(md, NGX_MICROSHOP_JWKS_ETAG_BYTES,
                                   (char *) mint->etag.data + 1, len + 1);
    mint->etag.data[len + 1] = '"';
    mint->etag.len = len + 2;

    return NGX_OK;
}


/* {"keys":[...]}: the public JWK of every signing key, in their order */

static json_t *
ngx_microshop_jwks_document(ngx_http_microshop_main_conf_t *mmcf)
{
    json_t                 *keys;
    ngx_uint_t              i;
    const microshop_key_t  *key;

    keys = json_array();
    if (keys == NULL) {
        return NULL;
    }

    for (i = 0; i < mmcf->mint.keys.nelts; i++) {
        key = ngx_microshop_mint_public_key(mmcf, i);

        if (key == NULL
            || json_array_append_new(keys, microshop_jwk_public(key)) != 0)
        {
            json_decref(keys);
            return NULL;
        }
    }

    return json_pack("{s:o}", "keys", keys);
}


static ngx_int_t
ngx_microshop_jwks_handler(ngx_http_request_t *r)
{
    u_char                     *p;
    ngx_str_t                   type, cc;
    ngx_list_part_t            *last;
    ngx_table_elt_t            *h;
    ngx_microshop_jwks_loc_t   *jl;
    ngx_microshop_mint_main_t  *mint;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_microshop_not_allowed(r, "GET, HEAD",
                                         "The key set is read with GET.");
    }

    jl = ngx_microshop_loc_conf(r)->jwks;
    mint = &ngx_microshop_main_conf(r)->mint;

    p = ngx_pnalloc(r->pool, sizeof("max-age=") - 1 + NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cc.data = p;
    cc.len = ngx_sprintf(p, "max-age=%T", jl->max_age) - p;

    if (ngx_microshop_header_add(r, "Cache-Control", &cc) != NGX_OK
        || ngx_microshop_header_add(r, "ETag", &mint->etag) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the ETag just added: the not-modified filter compares it */

    last = r->headers_out.headers.last;
    h = last->elts;
    r->headers_out.etag = &h[last->nelts - 1];

    ngx_str_set(&type, "application/jwk-set+json");

    return ngx_microshop_send_body(r, NGX_HTTP_OK, &type, &mint->jwks);
}
