/*
 * ngx_microshop: forward declarations shared by the feature headers, so
 * that ngx_microshop_module.h can embed each feature's configuration.
 */

#ifndef _NGX_MICROSHOP_TYPES_H_INCLUDED_
#define _NGX_MICROSHOP_TYPES_H_INCLUDED_


typedef struct ngx_http_microshop_main_conf_s  ngx_http_microshop_main_conf_t;
typedef struct ngx_http_microshop_loc_conf_s   ngx_http_microshop_loc_conf_t;
typedef struct ngx_http_microshop_ctx_s        ngx_http_microshop_ctx_t;


#endif /* _NGX_MICROSHOP_TYPES_H_INCLUDED_ */
