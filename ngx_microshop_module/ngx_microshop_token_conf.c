/*
 * ngx_microshop: the token directives and configuration (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_token_conf.h"
#include "microshop_scope.h"
#include "microshop_token_pem.h"
#include "microshop_token_jwk.h"


#define NGX_MICROSHOP_MAX_LEEWAY  3600


static void ngx_microshop_keyset_cleanup(void *data);


/* configuration */

ngx_int_t
ngx_microshop_token_main_init(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf)
{
    ngx_pool_cleanup_t  *cln;

    microshop_keyset_init(&mmcf->token.keys);

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_microshop_keyset_cleanup;
    cln->data = &mmcf->token.keys;

    if (ngx_array_init(&mmcf->token.jwks, cf->pool, 1, sizeof(ngx_str_t))
        != NGX_OK
        || ngx_array_init(&mmcf->token.classes, cf->pool, 4,
                          sizeof(ngx_microshop_token_class_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    mmcf->token.leeway = NGX_CONF_UNSET;

    return NGX_OK;
}


/* the configuration digest, once every http-level directive was read */

ngx_int_t
ngx_microshop_token_main_done(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf)
{
    int                           n;
    size_t                        i;
    EVP_MD_CTX                   *md;
    unsigned int                  len;
    ngx_microshop_token_class_t  *c;

    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
        || microshop_keyset_digest(&mmcf->token.keys, md) != 0)
    {
        EVP_MD_CTX_free(md);
        return NGX_ERROR;
    }

    c = mmcf->token.classes.elts;
    mmcf->token.default_class = NULL;

    for (i = 0; i < mmcf->token.classes.nelts; i++) {
        if (c[i].name.len == 7
            && ngx_strncmp(c[i].name.data, "default", 7) == 0)
        {
            mmcf->token.default_class = &c[i];
        }

        EVP_DigestUpdate(md, c[i].name.data, c[i].name.len);
        EVP_DigestUpdate(md, &c[i].max_ttl, sizeof(time_t));
        EVP_DigestUpdate(md, c[i].scopes.data, c[i].scopes.len);
        EVP_DigestUpdate(md, "\n", 1);
    }

    for (i = 0; i < NGX_MICROSHOP_ID_JTI; i++) {
        EVP_DigestUpdate(md, mmcf->token.claim[i].data,
                         mmcf->token.claim[i].len);
        EVP_DigestUpdate(md, "\n", 1);
    }

    n = EVP_DigestFinal_ex(md, mmcf->token.config_hash, &len);
    EVP_MD_CTX_free(md);

    return n == 1 ? NGX_OK : NGX_ERROR;
}


/* microshop_auth on|off */

char *
ngx_microshop_auth_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK) {
        mlcf->token.auth_file = cf->conf_file->file.name.data;
        mlcf->token.auth_line = cf->conf_file->line;
    }

    return rv;
}


static void
ngx_microshop_keyset_cleanup(void *data)
{
    microshop_keyset_free(data);
}


ngx_int_t
ngx_microshop_token_loc_create(ngx_conf_t *cf,
    ngx_http_microshop_loc_conf_t *mlcf)
{
    mlcf->token.issuers = NGX_CONF_UNSET_PTR;
    mlcf->token.audiences = NGX_CONF_UNSET_PTR;

    return NGX_OK;
}


char *
ngx_microshop_token_loc_merge(ngx_conf_t *cf,
    ngx_http_microshop_loc_conf_t *prev, ngx_http_microshop_loc_conf_t *conf)
{
    ngx_http_microshop_main_conf_t  *mmcf;

    ngx_conf_merge_ptr_value(conf->token.issuers, prev->token.issuers, NULL);
    ngx_conf_merge_ptr_value(conf->token.audiences, prev->token.audiences,
                             NULL);

    if (conf->token.auth_file == NULL) {
        conf->token.auth_file = prev->token.auth_file;
        conf->token.auth_line = prev->token.auth_line;
    }

    if (conf->auth == 1) {
        mmcf = ngx_microshop_conf_main_conf(cf);

        if (mmcf->token.keys.nkeys == 0
            && mmcf->token.jwks_uri.location.len == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"microshop_auth on\" needs at least one "
                          "\"microshop_jwt_key\", \"microshop_jwt_jwks\" "
                          "or \"microshop_jwt_jwks_uri\" "
                          "at http level in %s:%ui",
                          conf->token.auth_file, conf->token.auth_line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_microshop_cstr(ngx_conf_t *cf, u_char *data, size_t len)
{
    char  *s;

    s = ngx_pnalloc(cf->pool, len + 1);
    if (s == NULL) {
        return NULL;
    }

    ngx_memcpy(s, data, len);
    s[len] = '\0';

    return s;
}


/*
 * ecdsa_s=low|any (docs/directives.md): whether the ES keys a directive
 * adds take a signature with a high S.  Returns 1 when param is this
 * parameter (*any set), 0 when it is another one, -1 on a bad value.
 */
ngx_int_t
ngx_microshop_jwt_ecdsa_s(ngx_conf_t *cf, ngx_str_t *param, ngx_uint_t *any)
{
    ngx_str_t  v;

    if (!ngx_microshop_conf_value(param, "ecdsa_s=", &v)) {
        return 0;
    }

    if (v.len == 3 && ngx_strncmp(v.data, "low", 3) == 0) {
        *any = 0;
        return 1;
    }

    if (v.len == 3 && ngx_strncmp(v.data, "any", 3) == 0) {
        *any = 1;
        return 1;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"%V\": ecdsa_s= is \"low\" or \"any\"",
                       param);
    return -1;
}


/*
 * After a key file was read (rc, err): its error, or ecdsa_s=any marked on
 * the ES keys it added since "from"; none is a mistake in the config.
 */
static char *
ngx_microshop_jwt_added(ngx_conf_t *cf, microshop_keyset_t *ks, int rc,
    char *err, size_t from, ngx_uint_t any, ngx_str_t *file)
{
    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    if (any && microshop_keyset_allow_high_s(ks, from) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ecdsa_s= is for ES256/ES384/ES512 keys, "
                           "and \"%V\" holds none", file);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* microshop_jwt_key FILE [kid=ID] [alg=ALG] [ecdsa_s=low|any] */

char *
ngx_microshop_jwt_key_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_main_conf_t *mmcf = conf;

    char        *kid, *alg, err[512];
    size_t       from;
    ngx_int_t    rc;
    ngx_str_t   *value, file, param;
    ngx_uint_t   i, any;

    value = cf->args->elts;
    kid = NULL;
    alg = NULL;
    any = 0;

    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_microshop_conf_value(&value[i], "kid=", &param)) {
            kid = ngx_microshop_cstr(cf, param.data, param.len);
            if (kid == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_microshop_conf_value(&value[i], "alg=", &param)) {
            alg = ngx_microshop_cstr(cf, param.data, param.len);
            if (alg == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        rc = ngx_microshop_jwt_ecdsa_s(cf, &value[i], &any);

        if (rc == 1) {
            continue;
        }

        return (rc == -1) ? NGX_CONF_ERROR
                          : ngx_microshop_conf_invalid(cf, &value[i]);
    }

    from = mmcf->token.keys.nkeys;
    rc = microshop_keyset_add_file(&mmcf->token.keys, (char *) file.data, kid,
                                   alg, err, sizeof(err));

    return ngx_microshop_jwt_added(cf, &mmcf->token.keys, (int) rc, err, from,
                                   any, &value[1]);
}


/* microshop_jwt_jwks FILE [ecdsa_s=low|any] */

char *
ngx_microshop_jwt_jwks_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_main_conf_t *mmcf = conf;

    char        err[512];
    size_t      from;
    ngx_int_t   rc;
    ngx_str_t  *value, *file;
    ngx_uint_t  any;

    value = cf->args->elts;
    any = 0;

    if (cf->args->nelts == 3) {
        rc = ngx_microshop_jwt_ecdsa_s(cf, &value[2], &any);

        if (rc != 1) {
            return (rc == -1) ? NGX_CONF_ERROR
                              : ngx_microshop_conf_invalid(cf, &value[2]);
        }
    }

    file = ngx_array_push(&mmcf->token.jwks);
    if (file == NULL) {
        return NGX_CONF_ERROR;
    }

    *file = value[1];

    if (ngx_conf_full_name(cf->cycle, file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    from = mmcf->token.keys.nkeys;
    rc = microshop_keyset_add_jwks_file(&mmcf->token.keys,
                                        (char *) file->data, err,
                                        sizeof(err));

    return ngx_microshop_jwt_added(cf, &mmcf->token.keys, (int) rc, err, from,
                                   any, &value[1]);
}


/* microshop_jwt_issuer ISS..., microshop_jwt_audience AUD... */

char *
ngx_microshop_jwt_list_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t     *value, *s;
    ngx_uint_t     i;
    ngx_array_t  **a;

    a = (ngx_array_t **) (p + cmd->offset);

    if (*a != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *a = ngx_array_create(cf->pool, cf->args->nelts - 1, sizeof(ngx_str_t));
    if (*a == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0) {
            return "has an empty value";
        }

        s = ngx_array_push(*a);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


/* microshop_jwt_leeway TIME */

char *
ngx_microshop_jwt_leeway_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_main_conf_t *mmcf = conf;

    time_t      t;
    ngx_str_t  *value;

    if (mmcf->token.leeway != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    t = ngx_parse_time(&value[1], 1);

    if (t == (time_t) NGX_ERROR || t > NGX_MICROSHOP_MAX_LEEWAY) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid leeway \"%V\": a time up to 1h",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    mmcf->token.leeway = t;

    return NGX_CONF_OK;
}


/* microshop_jwt_claims [seller=NAME] [scope=NAME] [class=NAME] [tier=NAME] */

char *
ngx_microshop_jwt_claims_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_main_conf_t *mmcf = conf;

    static struct {
        ngx_str_t    prefix;
        ngx_uint_t   field;
    } params[] = {
        { ngx_string("seller="), NGX_MICROSHOP_ID_SELLER },
        { ngx_string("scope="), NGX_MICROSHOP_ID_SCOPES },
        { ngx_string("class="), NGX_MICROSHOP_ID_CLASS },
        { ngx_string("tier="), NGX_MICROSHOP_ID_TIER },
    };

    ngx_str_t   *value;
    ngx_uint_t   i, k;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (k = 0; k < sizeof(params) / sizeof(params[0]); k++) {
            if (value[i].len > params[k].prefix.len
                && ngx_strncmp(value[i].data, params[k].prefix.data,
                               params[k].prefix.len) == 0)
            {
                break;
            }
        }

        if (k == sizeof(params) / sizeof(params[0])) {
            return ngx_microshop_conf_invalid(cf, &value[i]);
        }

        if (mmcf->token.claim[params[k].field].len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        mmcf->token.claim[params[k].field].data =
                                     value[i].data + params[k].prefix.len;
        mmcf->token.claim[params[k].field].len =
                                     value[i].len - params[k].prefix.len;
    }

    return NGX_CONF_OK;
}


/* microshop_token_class NAME max_ttl=TIME [scopes=S1,S2,...] */

char *
ngx_microshop_token_class_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_main_conf_t *mmcf = conf;

    int                           n;
    u_char                       *buf;
    ngx_int_t                     t;
    ngx_str_t                    *value;
    ngx_uint_t                    i;
    ngx_microshop_token_class_t  *tc;

    value = cf->args->elts;

    tc = ngx_microshop_token_class_find(&mmcf->token, &value[1]);

    if (tc) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "token class \"%V\" is already declared "
                           "at line %ui", &value[1], tc->line);
        return NGX_CONF_ERROR;
    }

    tc = ngx_array_push(&mmcf->token.classes);
    if (tc == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(tc, sizeof(ngx_microshop_token_class_t));

    tc->name = value[1];
    tc->max_ttl = 0;
    tc->line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_ttl=", 8) == 0) {
            t = ngx_microshop_conf_time(cf, &value[i], 1, 1,
                                        NGX_MAX_INT_T_VALUE,
                                        "invalid \"%V\"", &value[i]);
            if (t == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            tc->max_ttl = t;
            continue;
        }

        if (ngx_strncmp(value[i].data, "scopes=", 7) == 0) {
            buf = ngx_pnalloc(cf->pool, value[i].len);
            if (buf == NULL) {
                return NGX_CONF_ERROR;
            }

            n = microshop_scopes_normalize_str((char *) value[i].data + 7,
                                               value[i].len - 7, ',',
                                               (char *) buf, value[i].len);
            if (n <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid scope list \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            tc->scopes.data = buf;
            tc->scopes.len = n;
            continue;
        }

        return ngx_microshop_conf_invalid(cf, &value[i]);
    }

    if (tc->max_ttl == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "token class \"%V\" needs \"max_ttl=\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    /* mmcf->token.default_class is found once every class is read (a
     * later push may move the array) */

    return NGX_CONF_OK;
}


ngx_microshop_token_class_t *
ngx_microshop_token_class_find(ngx_microshop_token_main_t *tm,
    ngx_str_t *name)
{
    ngx_uint_t                    i;
    ngx_microshop_token_class_t  *c;

    c = tm->classes.elts;

    for (i = 0; i < tm->classes.nelts; i++) {
        if (c[i].name.len == name->len
            && ngx_strncmp(c[i].name.data, name->data, name->len) == 0)
        {
            return &c[i];
        }
    }

    return NULL;
}
