/*
 * ngx_microshop: the "deferred" test back end (ngx_microshop_store_deferred.c)
 * and its knobs for the conformance suite (ngx_microshop_store_selftest.c).
 *
 * The knobs act on the calling worker only and return NGX_DECLINED when the
 * store is not the deferred back end.
 */

#ifndef _NGX_MICROSHOP_STORE_DEFERRED_H_INCLUDED_
#define _NGX_MICROSHOP_STORE_DEFERRED_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_store.h"


/*
 * reverse: the answers of one batch are delivered in the reverse order of
 * their submission (they are still executed in submission order); delay:
 * how long the next batch waits before it runs.  0, 0 (the default): in
 * order, at once.
 */
ngx_int_t ngx_microshop_store_deferred_knobs(ngx_microshop_store_t *store,
    ngx_uint_t reverse, ngx_msec_t delay);


#endif /* _NGX_MICROSHOP_STORE_DEFERRED_H_INCLUDED_ */
