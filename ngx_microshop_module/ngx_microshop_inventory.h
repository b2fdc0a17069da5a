/*
 * ngx_microshop: inventory at the edge (docs/inventory.md) is two
 * features, each in its own file:
 *
 *   ngx_microshop_cache.h    microshop_inventory_cache: reads answered
 *                            from the zone;
 *   ngx_microshop_reserve.h  microshop_reserve: checkout bodies hold
 *                            stock, and the sweep of stale holds.
 *
 * The signed webhook receiver is ngx_microshop_events.h.  This header only
 * includes the two; a file includes the one it uses.
 */

#ifndef _NGX_MICROSHOP_INVENTORY_H_INCLUDED_
#define _NGX_MICROSHOP_INVENTORY_H_INCLUDED_


#include "ngx_microshop_cache.h"
#include "ngx_microshop_reserve.h"


#endif /* _NGX_MICROSHOP_INVENTORY_H_INCLUDED_ */
