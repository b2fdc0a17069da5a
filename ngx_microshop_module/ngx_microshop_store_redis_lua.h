/*
 * ngx_microshop: the Lua scripts of the Redis back end
 * (ngx_microshop_store_redis_lua.c), one per state change.
 */

#ifndef _NGX_MICROSHOP_STORE_REDIS_LUA_H_INCLUDED_
#define _NGX_MICROSHOP_STORE_REDIS_LUA_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the index of a script in the client's table */
typedef enum {
    NGX_MICROSHOP_REDIS_LUA_GCRA = 0,
    NGX_MICROSHOP_REDIS_LUA_REVOKE,
    NGX_MICROSHOP_REDIS_LUA_REVOKED_LOAD,
    NGX_MICROSHOP_REDIS_LUA_IDEM_BEGIN,
    NGX_MICROSHOP_REDIS_LUA_IDEM_COMPLETE,
    NGX_MICROSHOP_REDIS_LUA_IDEM_RELEASE,
    NGX_MICROSHOP_REDIS_LUA_INV_GET,
    NGX_MICROSHOP_REDIS_LUA_INV_PUT,
    NGX_MICROSHOP_REDIS_LUA_INV_DROP,
    NGX_MICROSHOP_REDIS_LUA_INV_FAILED,
    NGX_MICROSHOP_REDIS_LUA_EVENT,
    NGX_MICROSHOP_REDIS_LUA_STOCK_SET,
    NGX_MICROSHOP_REDIS_LUA_STOCK_GET,
    NGX_MICROSHOP_REDIS_LUA_RESERVE,
    NGX_MICROSHOP_REDIS_LUA_SETTLE,
    NGX_MICROSHOP_REDIS_LUA_HOLD_UNKNOWN,
    NGX_MICROSHOP_REDIS_LUA_HOLD_LIST,
    NGX_MICROSHOP_REDIS_LUA_SWEEP,
    NGX_MICROSHOP_REDIS_LUA_SELLERS,
    NGX_MICROSHOP_REDIS_LUA_N
} ngx_microshop_redis_lua_e;


/* the source of a script, for ngx_microshop_redis_script_t */
const ngx_str_t *ngx_microshop_store_redis_lua_source(ngx_uint_t script);


#endif /* _NGX_MICROSHOP_STORE_REDIS_LUA_H_INCLUDED_ */
