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
