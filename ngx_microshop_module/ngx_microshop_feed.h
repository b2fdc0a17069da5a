/*
 * ngx_microshop: the sellers' feeds (docs/events.md).
 *
 * microshop_events_out [size=SIZE] [keep=N] [state=FILE]         (http)
 *     keep a feed of events per seller: in a zone of its own of SIZE
 *     (default 4m), or with microshop_redis in a stream per seller; the
 *     last N events of each seller (default 1000) are kept; with state=,
 *     the embedded feeds and offline orders outlive a restart.
 * microshop_feed [heartbeat=T] [buffer=SIZE] [max_wait=T]          (loc)
 *     a content handler that serves the feed of the route's seller to a
 *     token with the scope events:read (ngx_microshop_feed_http.c).
 *
 * ngx_microshop_feed_emit() is how a feature writes an event: posted to
 * the store, never waited for, and nothing when there is no
 * microshop_events_out.
 */

#ifndef _NGX_MICROSHOP_FEED_H_INCLUDED_
#define _NGX_MICROSHOP_FEED_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "microshop_event.h"


#define NGX_MICROSHOP_FEED_SCOPE  "events:read"

char *ngx_microshop_events_out_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_microshop_feed_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* a location's microshop_feed needs microshop_events_out: checked once
 * the http block is read */
char *ngx_microshop_feed_main_done(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf);

/*
 * An event of type for the seller's feed, with data (the text of a JSON
 * object, copied before the call returns).  Posted: the store gives it
 * its id.
 */
void ngx_microshop_feed_emit(ngx_http_microshop_main_conf_t *mmcf,
    ngx_str_t *seller, microshop_event_type_e type, u_char *data, size_t len);

/*
 * state=FILE: the feeds and the offline orders read back as nginx starts
 * (fresh zones only, never for nginx -t) and saved as it stops
 */
void ngx_microshop_feed_init_module(ngx_cycle_t *cycle,
    ngx_http_microshop_main_conf_t *mmcf);
void ngx_microshop_feed_exit_master(ngx_cycle_t *cycle,
    ngx_http_microshop_main_conf_t *mmcf);

/* whether events are written at all (microshop_events_out) */
#define ngx_microshop_feed_on(mmcf)  ((mmcf)->feed.on)


#endif /* _NGX_MICROSHOP_FEED_H_INCLUDED_ */
