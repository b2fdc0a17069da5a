/*
 * ngx_microshop: configuration warnings (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_lint.h"


/* the head of ngx_http_rewrite_module's location configuration */
typedef struct {
    ngx_array_t                *codes;       /* bytes of script codes */
} ngx_microshop_rewrite_loc_conf_t;


extern ngx_module_t  ngx_http_rewrite_module;
extern ngx_module_t  ngx_http_proxy_module;


static u_char *ngx_microshop_lint_time(u_char *p, u_char *last,
    ngx_msec_t t);


void
ngx_microshop_lint_location(ngx_conf_t *cf)
{
    u_char                            *p, *last;
    uintptr_t                          code;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_microshop_rewrite_loc_conf_t  *rlcf;

    rlcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_rewrite_module);

    if (rlcf == NULL || rlcf->codes == NULL
        || rlcf->codes == NGX_CONF_UNSET_PTR)
    {
        return;
    }

    /* every code structure starts with its handler, pointer-aligned */

    p = rlcf->codes->elts;
    last = p + rlcf->codes->nelts * rlcf->codes->size;

    for ( /* void */ ; p + sizeof(uintptr_t) <= last; p += sizeof(uintptr_t))
    {
        ngx_memcpy(&code, p, sizeof(uintptr_t));

        if (code == (uintptr_t) ngx_http_script_return_code) {
            clcf = ngx_http_conf_get_module_loc_conf(cf,
                                                     ngx_http_core_module);

            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "location \"%V\" answers with \"return\", "
                               "which runs in the rewrite phase before the "
                               "microshop access checks: they protect "
                               "nothing there; answer with proxy_pass, "
                               "static files or a microshop handler",
                               &clcf->name);
            return;
        }
    }
}


void
ngx_microshop_lint_upstream_time(ngx_conf_t *cf, char *directive,
    char *param, ngx_msec_t time, u_char *file, ngx_uint_t line)
{
    u_char                     mine[32], connect[32], read[32], *p;
    ngx_msec_t                 wait;
    ngx_http_upstream_conf_t  *ucf;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* the proxy's, as ngx_http_proxy_loc_conf_t begins */
    ucf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_proxy_module);

    if (clcf->noname || ucf == NULL || ucf->upstream == NULL) {
        /* no proxy_pass of its own (an "if" block has its location's) */
        return;
    }

    wait = ucf->connect_timeout + ucf->read_timeout;

    if (time >= wait) {
        return;
    }

    p = ngx_microshop_lint_time(mine, mine + sizeof(mine) - 1, time);
    *p = '\0';
    p = ngx_microshop_lint_time(connect, connect + sizeof(connect) - 1,
                                ucf->connect_timeout);
    *p = '\0';
    p = ngx_microshop_lint_time(read, read + sizeof(read) - 1,
                                ucf->read_timeout);
    *p = '\0';

    ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                  "\"%s\" %s=%s in location \"%V\" is shorter than "
                  "proxy_connect_timeout %s + proxy_read_timeout %s there: "
                  "it may run out while the backend's answer can still "
                  "come in %s:%ui",
                  directive, param, mine, &clcf->name, connect, read,
                  file, line);
}


/* a time as a directive takes it: 30s, 1500ms */

static u_char *
ngx_microshop_lint_time(u_char *p, u_char *last, ngx_msec_t t)
{
    if (t % 1000 == 0) {
        return ngx_slprintf(p, last, "%Ms", (ngx_msec_t) (t / 1000));
    }

    return ngx_slprintf(p, last, "%Mms", t);
}
