/*
 * ngx_microshop: the parsers of directive parameters that several
 * features share (docs/directives.md): complex values, method lists and
 * KEY=TIME parameters.
 */

#ifndef _NGX_MICROSHOP_CONF_H_INCLUDED_
#define _NGX_MICROSHOP_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct {
    ngx_str_t     name;
    ngx_uint_t    method;
} ngx_microshop_method_t;


/* the methods a method list may name, in this order, then a null entry */
#define NGX_MICROSHOP_METHODS_N  7

extern ngx_microshop_method_t  ngx_microshop_methods[NGX_MICROSHOP_METHODS_N
                                                     + 1];


/* a compiled complex value ($seller, $sku, ...); NULL on error */
ngx_http_complex_value_t *ngx_microshop_complex_value(ngx_conf_t *cf,
    ngx_str_t *value);

/* "GET,HEAD" -> NGX_HTTP_GET|NGX_HTTP_HEAD; logs and fails on others */
ngx_int_t ngx_microshop_methods_parse(ngx_conf_t *cf, ngx_str_t *text,
    ngx_uint_t *methods);

/* "GET,HEAD" for a method mask */
u_char *ngx_microshop_methods_text(u_char *p, ngx_uint_t methods);
#define NGX_MICROSHOP_METHODS_TEXT_LEN  128

/* "on" or "off" into *flag; logs and fails on any other value */
ngx_int_t ngx_microshop_conf_flag(ngx_conf_t *cf, ngx_str_t *value,
    ngx_flag_t *flag);

/*
 * on_store_error=closed|local of microshop_idempotency and microshop_reserve
 * (docs/redis.md "When Redis is down"): NGX_OK and *local set when param
 * is one, NGX_DECLINED when it is another parameter, NGX_ERROR (logged)
 * for another value.
 */
ngx_int_t ngx_microshop_conf_store_error(ngx_conf_t *cf, ngx_str_t *param,
    ngx_flag_t *local);

/* with a non-empty VALUE after key ("sku="): 1 and the VALUE in *value */
ngx_uint_t ngx_microshop_conf_value(ngx_str_t *param, char *key,
    ngx_str_t *value);

/* logs "invalid parameter" and returns NGX_CONF_ERROR */
char *ngx_microshop_conf_invalid(ngx_conf_t *cf, ngx_str_t *param);

/*
 * The TIME of a KEY=TIME parameter whose KEY= the caller matched: ms, or
 * seconds with sec, as ngx_parse_time() reads it.  A time that does not
 * parse, lies outside [min, max] or is longer than MICROSHOP_TIME_SPAN_MAX
 * (36500d, docs/directives.md) is NGX_ERROR, after the caller's
 * message (fmt and its arguments) was logged as ngx_conf_log_error() logs.
 */
ngx_int_t ngx_cdecl ngx_microshop_conf_time(ngx_conf_t *cf, ngx_str_t *param,
    ngx_uint_t sec, ngx_int_t min, ngx_int_t max, const char *fmt, ...);


#endif /* _NGX_MICROSHOP_CONF_H_INCLUDED_ */
