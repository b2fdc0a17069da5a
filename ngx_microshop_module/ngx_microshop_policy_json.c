/*
 * ngx_microshop: the JSON values of the policy report (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_policy_json.h"


/* the times of the document are seconds */
#define NGX_MICROSHOP_MSEC_PER_SEC      1000

/*
 * A byte of configuration text that is not ASCII, read as the code point
 * of the same value (U+0080..U+00FF), is two bytes of UTF-8:
 * 110000xx 10xxxxxx.
 */
#define NGX_MICROSHOP_ASCII_END         0x80
#define NGX_MICROSHOP_UTF8_LEAD2        0xc0
#define NGX_MICROSHOP_UTF8_CONT         0x80
#define NGX_MICROSHOP_UTF8_CONT_BITS    6
#define NGX_MICROSHOP_UTF8_CONT_MASK    0x3f    /* the low CONT_BITS */
#define NGX_MICROSHOP_LATIN1_UTF8_LEN   2       /* bytes per byte, at most */


/* jansson helpers: a NULL value (allocation failed) is an error */

/* adds the members of a section to obj, in their order */

ngx_int_t
ngx_microshop_json_merge(json_t *obj, json_t *members)
{
    ngx_int_t  rc;

    if (members == NULL) {
        return NGX_ERROR;
    }

    rc = json_object_update(obj, members) == 0 ? NGX_OK : NGX_ERROR;
    json_decref(members);

    return rc;
}


/* an array of the values item() makes of n elements of size bytes */

json_t *
ngx_microshop_json_array(void *elts, ngx_uint_t n, size_t size,
    ngx_microshop_json_item_pt item)
{
    json_t      *array;
    ngx_uint_t   i;

    array = json_array();
    if (array == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        /* json_array_append_new() takes the reference even when it fails */
        if (json_array_append_new(array, item((u_char *) elts + i * size))
            != 0)
        {
            json_decref(array);
            return NULL;
        }
    }

    return array;
}


/* the same of the elements of an ngx_array_t */

json_t *
ngx_microshop_json_list(ngx_array_t *a, ngx_microshop_json_item_pt item)
{
    return ngx_microshop_json_array(a->elts, a->nelts, a->size, item);
}


/*
 * A JSON string of configuration text.  Text that is not UTF-8 (nginx.conf
 * may hold any byte) is kept readable: each byte that is not ASCII becomes
 * the code point of the same value.
 */

json_t *
ngx_microshop_json_str(ngx_str_t *s)
{
    u_char      *p, *d;
    json_t      *j;
    ngx_uint_t   i;

    if (s->len == 0) {
        return json_string("");
    }

    j = json_stringn((char *) s->data, s->len);
    if (j) {
        return j;
    }

    p = ngx_alloc(NGX_MICROSHOP_LATIN1_UTF8_LEN * s->len, ngx_cycle->log);
    if (p == NULL) {
        return NULL;
    }

    d = p;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < NGX_MICROSHOP_ASCII_END) {
            *d++ = s->data[i];

        } else {
            *d++ = NGX_MICROSHOP_UTF8_LEAD2
                   | (s->data[i] >> NGX_MICROSHOP_UTF8_CONT_BITS);
            *d++ = NGX_MICROSHOP_UTF8_CONT
                   | (s->data[i] & NGX_MICROSHOP_UTF8_CONT_MASK);
        }
    }

    j = json_stringn((char *) p, d - p);

    ngx_free(p);

    return j;
}


json_t *
ngx_microshop_json_str_item(void *elt)
{
    return ngx_microshop_json_str(elt);
}


/* an array of strings, or null when a is NULL */

json_t *
ngx_microshop_json_str_list(ngx_array_t *a)
{
    if (a == NULL) {
        return json_null();
    }

    return ngx_microshop_json_list(a, ngx_microshop_json_str_item);
}


/* a complex value as written ("$seller"), or null when it is not set */

json_t *
ngx_microshop_json_value(ngx_http_complex_value_t *cv)
{
    if (cv == NULL) {
        return json_null();
    }

    return ngx_microshop_json_str(&cv->value);
}


/* a time in seconds, as the other times of the document */

json_t *
ngx_microshop_json_msec(ngx_msec_t ms)
{
    if (ms % NGX_MICROSHOP_MSEC_PER_SEC == 0) {
        return json_integer(ms / NGX_MICROSHOP_MSEC_PER_SEC);
    }

    return json_real(ms / (double) NGX_MICROSHOP_MSEC_PER_SEC);
}


/* an array of the scopes of a normalized set, each once */

json_t *
ngx_microshop_json_scope_list(ngx_str_t *set)
{
    json_t  *scopes;

    scopes = json_array();
    if (scopes == NULL) {
        return NULL;
    }

    if (ngx_microshop_json_scopes(scopes, set) != NGX_OK) {
        json_decref(scopes);
        return NULL;
    }

    return scopes;
}


/* the scopes of a normalized set, each once, appended to array */

ngx_int_t
ngx_microshop_json_scopes(json_t *array, ngx_str_t *set)
{
    u_char     *p, *last, *e;
    size_t      i;
    json_t     *v;
    ngx_str_t   scope;

    p = set->data;
    last = p + set->len;

    while (p < last) {
        e = ngx_strlchr(p, last, ' ');
        if (e == NULL) {
            e = last;
        }

        scope.data = p;
        scope.len = e - p;
        p = e + 1;

        if (scope.len == 0) {
            continue;
        }

        json_array_foreach(array, i, v) {
            if (json_string_length(v) == scope.len
                && ngx_strncmp(json_string_value(v), scope.data, scope.len)
                   == 0)
            {
                break;
            }
        }

        if (i < json_array_size(array)) {
            continue;
        }

        if (json_array_append_new(array, ngx_microshop_json_str(&scope))
            != 0)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
