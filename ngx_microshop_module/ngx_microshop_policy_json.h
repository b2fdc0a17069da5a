/*
 * ngx_microshop: the JSON values of the policy report
 * (docs/audit-and-policy.md): nginx strings that need not be UTF-8,
 * complex values as written, times in seconds, scope sets, and arrays of
 * C and nginx arrays.  Every function returns NULL (or NGX_ERROR) when
 * jansson could not allocate, and takes a NULL member as that error.
 */

#ifndef _NGX_MICROSHOP_POLICY_JSON_H_INCLUDED_
#define _NGX_MICROSHOP_POLICY_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>


/* the JSON value of one element of a C array */
typedef json_t *(*ngx_microshop_json_item_pt)(void *elt);

ngx_int_t ngx_microshop_json_merge(json_t *obj, json_t *members);
json_t *ngx_microshop_json_array(void *elts, ngx_uint_t n,
    size_t size, ngx_microshop_json_item_pt item);
json_t *ngx_microshop_json_list(ngx_array_t *a,
    ngx_microshop_json_item_pt item);
json_t *ngx_microshop_json_str(ngx_str_t *s);
json_t *ngx_microshop_json_str_item(void *elt);
json_t *ngx_microshop_json_str_list(ngx_array_t *a);
json_t *ngx_microshop_json_value(ngx_http_complex_value_t *cv);
json_t *ngx_microshop_json_msec(ngx_msec_t ms);
json_t *ngx_microshop_json_scope_list(ngx_str_t *set);
ngx_int_t ngx_microshop_json_scopes(json_t *array, ngx_str_t *set);


#endif /* _NGX_MICROSHOP_POLICY_JSON_H_INCLUDED_ */
