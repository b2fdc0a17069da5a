/*
 * ngx_microshop: the shared parsers of directive parameters (see the
 * header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_conf.h"
#include "microshop_time.h"


ngx_microshop_method_t  ngx_microshop_methods[NGX_MICROSHOP_METHODS_N + 1] = {
    { ngx_string("GET"), NGX_HTTP_GET },
    { ngx_string("HEAD"), NGX_HTTP_HEAD },
    { ngx_string("POST"), NGX_HTTP_POST },
    { ngx_string("PUT"), NGX_HTTP_PUT },
    { ngx_string("PATCH"), NGX_HTTP_PATCH },
    { ngx_string("DELETE"), NGX_HTTP_DELETE },
    { ngx_string("OPTIONS"), NGX_HTTP_OPTIONS },
    { ngx_null_string, 0 }
};


ngx_http_complex_value_t *
ngx_microshop_complex_value(ngx_conf_t *cf, ngx_str_t *value)
{
    ngx_http_complex_value_t          *cv;
    ngx_http_compile_complex_value_t   ccv;

    cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (cv == NULL) {
        return NULL;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = cv;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NULL;
    }

    return cv;
}


u_char *
ngx_microshop_methods_text(u_char *p, ngx_uint_t methods)
{
    u_char                  *start;
    ngx_microshop_method_t  *m;

    start = p;

    for (m = ngx_microshop_methods; m->name.len; m++) {
        if (methods & m->method) {
            if (p != start) {
                *p++ = ',';
            }

            p = ngx_cpymem(p, m->name.data, m->name.len);
        }
    }

    return p;
}


ngx_int_t
ngx_microshop_methods_parse(ngx_conf_t *cf, ngx_str_t *text,
    ngx_uint_t *methods)
{
    u_char                  *p, *last, *e;
    ngx_microshop_method_t  *m;

    *methods = 0;
    p = text->data;
    last = p + text->len;

    if (text->len == 0 || last[-1] == ',') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": method list \"%V\" ends with a comma "
                           "(methods are written without spaces: GET,HEAD)",
                           &((ngx_str_t *) cf->args->elts)[0], text);
        return NGX_ERROR;
    }

    while (p < last) {
        e = ngx_strlchr(p, last, ',');
        if (e == NULL) {
            e = last;
        }

        for (m = ngx_microshop_methods; m->name.len; m++) {
            if (m->name.len == (size_t) (e - p)
                && ngx_strncmp(m->name.data, p, e - p) == 0)
            {
                break;
            }
        }

        if (m->name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": unknown method \"%*s\" in \"%V\" "
                               "(GET, HEAD, POST, PUT, PATCH, DELETE, "
                               "OPTIONS or *)",
                               &((ngx_str_t *) cf->args->elts)[0],
                               e - p, p, text);
            return NGX_ERROR;
        }

        *methods |= m->method;
        p = e + 1;
    }

    return NGX_OK;
}


ngx_int_t
ngx_microshop_conf_flag(ngx_conf_t *cf, ngx_str_t *value, ngx_flag_t *flag)
{
    if (ngx_strcmp(value->data, "on") == 0) {
        *flag = 1;
        return NGX_OK;
    }

    if (ngx_strcmp(value->data, "off") == 0) {
        *flag = 0;
        return NGX_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\", it must be \"on\" or \"off\"",
                       value);
    return NGX_ERROR;
}


ngx_uint_t
ngx_microshop_conf_value(ngx_str_t *param, char *key, ngx_str_t *value)
{
    size_t  len;

    len = ngx_strlen(key);

    if (param->len <= len || ngx_strncmp(param->data, key, len) != 0) {
        return 0;
    }

    value->data = param->data + len;
    value->len = param->len - len;

    return 1;
}


ngx_int_t
ngx_microshop_conf_store_error(ngx_conf_t *cf, ngx_str_t *param,
    ngx_flag_t *local)
{
    ngx_str_t  v;

    if (ngx_strncmp(param->data, "on_store_error=", 15) != 0) {
        return NGX_DECLINED;
    }

    v.data = param->data + 15;
    v.len = param->len - 15;

    if (v.len == 5 && ngx_strncmp(v.data, "local", 5) == 0) {
        *local = 1;
        return NGX_OK;
    }

    if (v.len == 6 && ngx_strncmp(v.data, "closed", 6) == 0) {
        *local = 0;
        return NGX_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\", it must be "
                       "\"on_store_error=closed\" or "
                       "\"on_store_error=local\"", param);

    return NGX_ERROR;
}


char *
ngx_microshop_conf_invalid(ngx_conf_t *cf, ngx_str_t *param)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       param);
    return NGX_CONF_ERROR;
}


ngx_int_t ngx_cdecl
ngx_microshop_conf_time(ngx_conf_t *cf, ngx_str_t *param, ngx_uint_t sec,
    ngx_int_t min, ngx_int_t max, const char *fmt, ...)
{
    u_char     *p, errstr[NGX_MAX_CONF_ERRSTR];
    va_list     args;
    ngx_int_t   t, limit;
    ngx_str_t   s;

    p = ngx_strlchr(param->data, param->data + param->len, '=');

    s.data = (p == NULL) ? param->data + param->len : p + 1;
    s.len = param->data + param->len - s.data;

    t = ngx_parse_time(&s, sec);

    /* every duration is bounded, so that now + it never overflows */
    limit = (ngx_int_t) (sec ? MICROSHOP_TIME_SPAN_MAX
                             : MICROSHOP_TIME_SPAN_MAX * 1000);

    if (t != NGX_ERROR && t >= min && t <= max && t <= limit) {
        return t;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(errstr, errstr + NGX_MAX_CONF_ERRSTR, fmt, args);
    va_end(args);

    if (t != NGX_ERROR && t > limit && limit <= max) {
        p = ngx_slprintf(p, errstr + NGX_MAX_CONF_ERRSTR,
                         ": the longest time is 36500d (100 years)");
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%*s", p - errstr, errstr);

    return NGX_ERROR;
}
