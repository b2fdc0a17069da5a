/*
 * ngx_microshop: the sellers' feeds, their directives and how a feature
 * writes an event (docs/events.md).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_feed.h"
#include "ngx_microshop_feed_http.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_zone.h"
#include "ngx_microshop_store.h"


#define NGX_MICROSHOP_FEED_SIZE       (4 * 1024 * 1024)
#define NGX_MICROSHOP_FEED_SIZE_MIN   (64 * 1024)
#define NGX_MICROSHOP_FEED_KEEP       1000
#define NGX_MICROSHOP_FEED_KEEP_MAX   1000000

#define NGX_MICROSHOP_FEED_HEARTBEAT  15000
#define NGX_MICROSHOP_FEED_BUFFER     (256 * 1024)
#define NGX_MICROSHOP_FEED_WAIT_MAX   60000


/* microshop_events_out [size=SIZE] [keep=N] [state=FILE] */

char *
ngx_microshop_events_out_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_main_conf_t *mmcf = conf;

    ssize_t                size;
    ngx_int_t              n;
    ngx_str_t             *value, s, name;
    ngx_uint_t             i;
    ngx_microshop_zone_t  *zone;

    if (mmcf->feed.on) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = NGX_MICROSHOP_FEED_SIZE;
    n = NGX_MICROSHOP_FEED_KEEP;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || size < NGX_MICROSHOP_FEED_SIZE_MIN) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": a size of at least 64k",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "state=", 6) == 0
            && value[i].len > 6)
        {
            mmcf->feed.state.data = value[i].data + 6;
            mmcf->feed.state.len = value[i].len - 6;

            if (ngx_conf_full_name(cf->cycle, &mmcf->feed.state, 0)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "keep=", 5) == 0) {
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);

            if (n == NGX_ERROR || n < 1 || n > NGX_MICROSHOP_FEED_KEEP_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": a number of events from "
                                   "1 to 1000000", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        return ngx_microshop_conf_invalid(cf, &value[i]);
    }

    ngx_str_set(&name, "microshop_events");

    zone = ngx_microshop_zone_add(cf, &name, size, cmd->post);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the feeds' records are all alike: no reserve, quota or token share */
    zone->reserve.percent = 0;
    zone->reserve.size = 0;
    zone->quota.percent = 0;
    zone->quota.size = 0;
    zone->tokens.percent = 0;
    zone->tokens.size = 0;

    mmcf->feed.on = 1;
    mmcf->feed.size = size;
    mmcf->feed.keep = n;

    mmcf->store.feed = zone;
    mmcf->store.feed_keep = n;

    return NGX_CONF_OK;
}


/* microshop_feed [heartbeat=T] [buffer=SIZE] [max_wait=T] */

char *
ngx_microshop_feed_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    ssize_t                          size;
    ngx_int_t                        t;
    ngx_str_t                       *value, s;
    ngx_uint_t                       i;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_microshop_feed_loc_t        *fl;
    ngx_http_microshop_main_conf_t  *mmcf;

    if (mlcf->feed) {
        return "is duplicate";
    }

    if (mlcf->auth == 0) {
        return "cannot be used with \"microshop_auth off\"";
    }

    if (mlcf->scope.rules != NGX_CONF_UNSET_PTR) {
        return "must come before \"microshop_require_scope\": it requires "
               "the scope " NGX_MICROSHOP_FEED_SCOPE " itself";
    }

    fl = ngx_pcalloc(cf->pool, sizeof(ngx_microshop_feed_loc_t));
    if (fl == NULL) {
        return NGX_CONF_ERROR;
    }

    fl->heartbeat = NGX_MICROSHOP_FEED_HEARTBEAT;
    fl->buffer = NGX_MICROSHOP_FEED_BUFFER;
    fl->wait_max = NGX_MICROSHOP_FEED_WAIT_MAX;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "heartbeat=", 10) == 0) {
            t = ngx_microshop_conf_time(cf, &value[i], 0, 100, 3600000,
                                        "invalid \"%V\": a time from 100ms "
                                        "to 1h", &value[i]);
            if (t == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            fl->heartbeat = t;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_wait=", 9) == 0) {
            t = ngx_microshop_conf_time(cf, &value[i], 0, 1000, 3600000,
                                        "invalid \"%V\": a time from 1s "
                                        "to 1h", &value[i]);
            if (t == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            fl->wait_max = t;
            continue;
        }

        if (ngx_strncmp(value[i].data, "buffer=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || size < 4096 || size > 64 * 1024 * 1024) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": a size from 4k to 64m",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            fl->buffer = size;
            continue;
        }

        return ngx_microshop_conf_invalid(cf, &value[i]);
    }

    /* a token is needed, and it must hold events:read, whatever the
     * method (the handler answers 405 to all but GET and HEAD) */

    if (ngx_microshop_scope_require_any(cf, mlcf, NGX_MICROSHOP_FEED_SCOPE)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    mlcf->feed = fl;

    mmcf = ngx_microshop_conf_main_conf(cf);

    if (mmcf->feed.used_file == NULL) {
        mmcf->feed.used_file = cf->conf_file->file.name.data;
        mmcf->feed.used_line = cf->conf_file->line;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_microshop_feed_handler;

    return NGX_CONF_OK;
}


char *
ngx_microshop_feed_main_done(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf)
{
    if (mmcf->feed.used_file && !mmcf->feed.on) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"microshop_feed\" needs \"microshop_events_out\" in "
                      "the http block, in %s:%ui",
                      mmcf->feed.used_file, mmcf->feed.used_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


void
ngx_microshop_feed_emit(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, microshop_event_type_e type, u_char *data, size_t len)
{
    ngx_microshop_op_t  op;

    if (!mmcf->feed.on || seller->len == 0) {
        return;
    }

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));

    op.type = NGX_MICROSHOP_OP_FEED_APPEND;
    op.key = *seller;
    op.counter = NGX_MICROSHOP_COUNTER_FEED_EVENTS;
    op.u.feed.type = type;
    op.u.feed.data.data = data;
    op.u.feed.data.len = len;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "microshop: event %s for \"%V\": %V",
                   microshop_event_type_name(type), seller, &op.u.feed.data);

    /* the back end copies what it needs before post() returns */
    ngx_microshop_store_post(&mmcf->store, &op);
}


void
ngx_microshop_feed_init_module(ngx_cycle_t *cycle,
    ngx_http_microshop_main_conf_t *mmcf)
{
    if (!mmcf->feed.on || mmcf->feed.state.len == 0 || ngx_test_config
        || !mmcf->store.feed->fresh)
    {
        /* nginx -t, a reload (the zones are kept), or nothing to read */
        return;
    }

    (void) ngx_microshop_store_state_load(cycle, &mmcf->store,
                                          &mmcf->feed.state);
}


void
ngx_microshop_feed_exit_master(ngx_cycle_t *cycle,
    ngx_http_microshop_main_conf_t *mmcf)
{
    if (!mmcf->feed.on || mmcf->feed.state.len == 0) {
        return;
    }

    ngx_microshop_store_state_save(cycle, &mmcf->store, &mmcf->feed.state);
}
