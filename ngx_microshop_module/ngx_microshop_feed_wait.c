/*
 * ngx_microshop: the feed readers a worker keeps waiting, and the tick
 * that wakes them (ngx_microshop_feed_wait.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_microshop_feed_wait.h"
#include "ngx_microshop_store.h"


static void ngx_microshop_feed_tick(ngx_event_t *ev);


/* per worker */
static ngx_queue_t            ngx_microshop_feed_waiters;
static ngx_uint_t             ngx_microshop_feed_inited;
static ngx_event_t            ngx_microshop_feed_timer;
static ngx_microshop_zone_t  *ngx_microshop_feed_zone;
static ngx_atomic_uint_t      ngx_microshop_feed_seen;


static ngx_atomic_uint_t
ngx_microshop_feed_written(void)
{
    return ngx_microshop_feed_zone->sh->counters[
                                      NGX_MICROSHOP_COUNTER_FEED_EVENTS]
           + ngx_microshop_store_feed_heard;
}


void
ngx_microshop_feed_wait_add(ngx_microshop_zone_t *zone,
    ngx_microshop_feed_waiter_t *w)
{
    if (!ngx_microshop_feed_inited) {
        ngx_queue_init(&ngx_microshop_feed_waiters);

        ngx_microshop_feed_timer.handler = ngx_microshop_feed_tick;
        ngx_microshop_feed_timer.log = ngx_cycle->log;
        ngx_microshop_feed_timer.data = &ngx_microshop_feed_waiters;

        ngx_microshop_feed_inited = 1;
    }

    if (w->waiting) {
        return;
    }

    if (ngx_queue_empty(&ngx_microshop_feed_waiters)) {
        /* what was written while nobody waited is every waiter's own
         * read's business: the tick looks for what comes after */
        ngx_microshop_feed_zone = zone;
        ngx_microshop_feed_seen = ngx_microshop_feed_written();
    }

    ngx_queue_insert_tail(&ngx_microshop_feed_waiters, &w->queue);
    w->waiting = 1;

    ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_FEED_SUBSCRIBERS, 1);

    if (!ngx_microshop_feed_timer.timer_set) {
        /* not cancelable: a worker that shuts down ends its waiters */
        ngx_add_timer(&ngx_microshop_feed_timer, NGX_MICROSHOP_FEED_TICK);
    }
}


void
ngx_microshop_feed_wait_remove(ngx_microshop_feed_waiter_t *w)
{
    if (!w->waiting) {
        return;
    }

    ngx_queue_remove(&w->queue);
    w->waiting = 0;

    ngx_microshop_zone_count(ngx_microshop_feed_zone,
                             NGX_MICROSHOP_COUNTER_FEED_SUBSCRIBERS,
                             (ngx_atomic_int_t) -1);

    if (ngx_queue_empty(&ngx_microshop_feed_waiters)
        && ngx_microshop_feed_timer.timer_set)
    {
        ngx_del_timer(&ngx_microshop_feed_timer);
    }
}


static void
ngx_microshop_feed_tick(ngx_event_t *ev)
{
    ngx_queue_t                   woken, *q;
    ngx_atomic_uint_t             written;
    ngx_microshop_feed_waiter_t  *w;

    written = ngx_microshop_feed_written();

    if (written != ngx_microshop_feed_seen || ngx_exiting) {
        ngx_microshop_feed_seen = written;

        /*
         * Every waiter leaves the list before it is woken: a wake() ends
         * its request, or reads and adds itself again (to the list, not
         * to this round).
         */

        ngx_queue_init(&woken);

        if (!ngx_queue_empty(&ngx_microshop_feed_waiters)) {
            ngx_queue_add(&woken, &ngx_microshop_feed_waiters);
            ngx_queue_init(&ngx_microshop_feed_waiters);
        }

        while (!ngx_queue_empty(&woken)) {
            q = ngx_queue_head(&woken);
            ngx_queue_remove(q);

            w = ngx_queue_data(q, ngx_microshop_feed_waiter_t, queue);
            w->waiting = 0;

            ngx_microshop_zone_count(ngx_microshop_feed_zone,
                                     NGX_MICROSHOP_COUNTER_FEED_SUBSCRIBERS,
                                     (ngx_atomic_int_t) -1);

            w->wake(w);
        }
    }

    if (!ngx_queue_empty(&ngx_microshop_feed_waiters)
        && !ngx_microshop_feed_timer.timer_set)
    {
        ngx_add_timer(&ngx_microshop_feed_timer, NGX_MICROSHOP_FEED_TICK);
    }
}
