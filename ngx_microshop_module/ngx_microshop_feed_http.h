/*
 * ngx_microshop: microshop_feed, the content handler that serves a
 * seller's feed (docs/events.md "Reading the feed"): a JSON page of
 * events after an id, a long poll with wait=, or an event stream
 * (Accept: text/event-stream) that resumes with Last-Event-ID.
 */

#ifndef _NGX_MICROSHOP_FEED_HTTP_H_INCLUDED_
#define _NGX_MICROSHOP_FEED_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_microshop_feed_handler(ngx_http_request_t *r);


#endif /* _NGX_MICROSHOP_FEED_HTTP_H_INCLUDED_ */
