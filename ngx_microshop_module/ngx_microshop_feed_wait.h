/*
 * ngx_microshop: the feed readers a worker keeps waiting (long polls and
 * event streams, docs/events.md "Reading the feed"), and what wakes them.
 *
 * A waiter is on this worker's list while its request waits for an event.
 * One timer per worker, armed only while the list is not empty, looks
 * every NGX_MICROSHOP_FEED_TICK ms at the count of events written
 * (microshop_feed_events_total, in the zone all workers share, and what
 * the store heard of other nodes' events, ngx_microshop_store_feed_heard)
 * and,
 * when it moved, calls every waiter's wake(): each reads its seller's feed
 * again.  An event written by any worker of the node reaches a waiting
 * reader within a tick and a read.  When the worker is shutting down the
 * waiters are woken with ngx_exiting set and end their requests, so an
 * event stream never keeps an old worker alive after a reload.
 */

#ifndef _NGX_MICROSHOP_FEED_WAIT_H_INCLUDED_
#define _NGX_MICROSHOP_FEED_WAIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_zone.h"


#define NGX_MICROSHOP_FEED_TICK  50


typedef struct ngx_microshop_feed_waiter_s  ngx_microshop_feed_waiter_t;

struct ngx_microshop_feed_waiter_s {
    ngx_queue_t                    queue;
    void                         (*wake)(ngx_microshop_feed_waiter_t *w);
    void                          *data;
    ngx_uint_t                     waiting;   /* on the list */
};


/* zone: where the events written are counted (the main zone) */
void ngx_microshop_feed_wait_add(ngx_microshop_zone_t *zone,
    ngx_microshop_feed_waiter_t *w);
void ngx_microshop_feed_wait_remove(ngx_microshop_feed_waiter_t *w);


#endif /* _NGX_MICROSHOP_FEED_WAIT_H_INCLUDED_ */
