/*
 * ngx_microshop: the microshop_redis directive (docs/redis.md "URL forms").
 *
 *   microshop_redis URL [timeout=TIME] [connect_timeout=TIME]
 *                       [on_error=local|open|closed];
 *
 * microshop_redis_url.c cuts the URL; this file resolves every host name
 * now, at configuration time (hiredis' connect would call a blocking
 * getaddrinfo() in a worker), and keeps numeric addresses only.  Every
 * message names the directive, the file and the line, and shows the URL
 * with its password masked.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "microshop_redis_url.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_redis.h"


/* timeout= and connect_timeout=: 1ms .. 1h */
#define NGX_MICROSHOP_REDIS_TIME_MAX  3600000


static ngx_int_t ngx_microshop_redis_conf_span(ngx_conf_t *cf,
    ngx_str_t *url, microshop_redis_span_t *span, ngx_str_t *out);
static ngx_int_t ngx_microshop_redis_conf_addr(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_microshop_redis_conf_t *rc, ngx_str_t *url,
    microshop_redis_url_host_t *h);
static char *ngx_microshop_redis_conf_param(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_microshop_redis_conf_t *rc, ngx_str_t *param);


char *
ngx_microshop_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_microshop_redis_conf_t  **field = (void *) ((char *) conf
                                                    + cmd->offset);

    u_char                      *p;
    char                        *rv;
    ngx_str_t                   *value;
    ngx_uint_t                   i;
    const char                  *err;
    microshop_redis_url_t        url;
    ngx_microshop_redis_conf_t  *rc;

    if (*field != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rc = ngx_pcalloc(cf->pool, sizeof(ngx_microshop_redis_conf_t));
    if (rc == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, value[1].len + MICROSHOP_REDIS_URL_MASK_EXTRA);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    rc->url.data = p;
    rc->url.len = microshop_redis_url_mask(value[1].data, value[1].len, p);

    err = microshop_redis_url_parse(value[1].data, value[1].len, &url);

    if (err != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": invalid URL \"%V\": %s",
                           &cmd->name, &rc->url, err);
        return NGX_CONF_ERROR;
    }

    switch (url.kind) {

    case MICROSHOP_REDIS_URL_CLUSTER:
        rc->kind = NGX_MICROSHOP_REDIS_CLUSTER;
        break;

    case MICROSHOP_REDIS_URL_SENTINEL:
        rc->kind = NGX_MICROSHOP_REDIS_SENTINEL;

        if (ngx_microshop_redis_conf_span(cf, &value[1], &url.master,
                                          &rc->master)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        break;

    default:
        rc->kind = NGX_MICROSHOP_REDIS_SINGLE;
    }

    rc->db = url.db;
    rc->timeout = NGX_MICROSHOP_REDIS_DEFAULT_TIMEOUT;
    rc->connect_timeout = NGX_MICROSHOP_REDIS_CONNECT_TIMEOUT;
    rc->on_error = NGX_MICROSHOP_REDIS_ON_ERROR_LOCAL;
    rc->file = cf->conf_file->file.name.data;
    rc->line = cf->conf_file->line;

    if (url.password.len
        && ngx_microshop_redis_conf_span(cf, &value[1], &url.password,
                                         &rc->password)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&rc->addrs, cf->pool, url.nhosts,
                       sizeof(ngx_microshop_redis_addr_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < url.nhosts; i++) {
        if (ngx_microshop_redis_conf_addr(cf, cmd, rc, &value[1],
                                          &url.hosts[i])
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 2; i < cf->args->nelts; i++) {
        rv = ngx_microshop_redis_conf_param(cf, cmd, rc, &value[i]);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    *field = rc;

    return NGX_CONF_OK;
}


/* a piece of the URL, NUL-terminated */
static ngx_int_t
ngx_microshop_redis_conf_span(ngx_conf_t *cf, ngx_str_t *url,
    microshop_redis_span_t *span, ngx_str_t *out)
{
    u_char  *p;

    out->len = span->len;
    out->data = ngx_pnalloc(cf->pool, span->len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, url->data + span->off, span->len);
    *p = '\0';

    return NGX_OK;
}


/* one address: a unix path as it is, a host resolved to a number now */
static ngx_int_t
ngx_microshop_redis_conf_addr(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_microshop_redis_conf_t *rc, ngx_str_t *url,
    microshop_redis_url_host_t *h)
{
    u_char                      *p;
    ngx_url_t                    u;
    ngx_microshop_redis_addr_t  *a;

    a = ngx_array_push(&rc->addrs);
    if (a == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(a, sizeof(ngx_microshop_redis_addr_t));

    if (h->port == 0) {
        /* unix:/path: hiredis takes the path, NUL-terminated */
        a->name.len = h->host.len;
        a->name.data = ngx_pnalloc(cf->pool, h->host.len + 1);
        if (a->name.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(a->name.data, url->data + h->host.off, h->host.len);
        *p = '\0';

        a->host = a->name;

        return NGX_OK;
    }

    /* "host:port", brackets kept around an IPv6 address for ngx_parse_url */
    a->name.data = ngx_pnalloc(cf->pool, h->host.len + sizeof("[]:65535"));
    if (a->name.data == NULL) {
        return NGX_ERROR;
    }

    a->name.len = ngx_sprintf(a->name.data, h->ipv6 ? "[%*s]:%ui" : "%*s:%ui",
                              h->host.len, url->data + h->host.off,
                              (ngx_uint_t) h->port)
                  - a->name.data;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = a->name;
    u.default_port = (in_port_t) h->port;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": %s \"%V\" in \"%V\"", &cmd->name,
                           u.err ? u.err : "host not found", &a->name,
                           &rc->url);
        return NGX_ERROR;
    }

    /* the first address of a name; hiredis connects to it by number */
    a->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (a->host.data == NULL) {
        return NGX_ERROR;
    }

    a->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                a->host.data, NGX_SOCKADDR_STRLEN, 0);
    a->host.data[a->host.len] = '\0';
    a->port = h->port;

    if (u.naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "\"%V\": \"%V\" has %ui addresses, %V is used",
                           &cmd->name, &a->name, u.naddrs, &a->host);
    }

    return NGX_OK;
}


static char *
ngx_microshop_redis_conf_param(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_microshop_redis_conf_t *rc, ngx_str_t *param)
{
    ngx_int_t    t;
    ngx_str_t    v;
    ngx_msec_t  *ms;

    if (ngx_strncmp(param->data, "timeout=", 8) == 0) {
        ms = &rc->timeout;

    } else if (ngx_strncmp(param->data, "connect_timeout=", 16) == 0) {
        ms = &rc->connect_timeout;

    } else {
        ms = NULL;
    }

    if (ms != NULL) {
        t = ngx_microshop_conf_time(cf, param, 0, 1,
                                    NGX_MICROSHOP_REDIS_TIME_MAX,
                                    "\"%V\": invalid time \"%V\" "
                                    "(1ms .. 1h)", &cmd->name, param);
        if (t == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        *ms = (ngx_msec_t) t;
        return NGX_CONF_OK;
    }

    if (ngx_microshop_conf_value(param, "on_error=", &v)) {
        if (v.len == 5 && ngx_strncmp(v.data, "local", 5) == 0) {
            rc->on_error = NGX_MICROSHOP_REDIS_ON_ERROR_LOCAL;
            return NGX_CONF_OK;
        }

        if (v.len == 4 && ngx_strncmp(v.data, "open", 4) == 0) {
            rc->on_error = NGX_MICROSHOP_REDIS_ON_ERROR_OPEN;
            return NGX_CONF_OK;
        }

        if (v.len == 6 && ngx_strncmp(v.data, "closed", 6) == 0) {
            rc->on_error = NGX_MICROSHOP_REDIS_ON_ERROR_CLOSED;
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\": invalid parameter \"%V\" (timeout=TIME, "
                       "connect_timeout=TIME, on_error=local|open|closed)",
                       &cmd->name, param);

    return NGX_CONF_ERROR;
}
