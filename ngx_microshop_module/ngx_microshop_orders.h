/*
 * ngx_microshop: the admin API's orders, the reservations the edge holds
 * (docs/inventory.md "Pending reconciliation"), routes of microshop_admin:
 *
 *   GET  <loc>/orders[?state=pending|all][&seller=S][&limit=N]
 *        -> 200 {"orders":[{"id","seller","state","why","created",
 *                "deadline","lines":[{"sku","quantity"}]}],"total":N}
 *   POST <loc>/orders/<reservation id>/commit   -> 204 (sold)
 *   POST <loc>/orders/<reservation id>/release  -> 204 (not sold)
 *        -> 404 not-found when no hold has that id (settled already)
 *
 * The id is the one the backend received as X-Microshop-Reservation.
 * Offline orders (a later issue) are settled through the same routes.
 */

#ifndef _NGX_MICROSHOP_ORDERS_H_INCLUDED_
#define _NGX_MICROSHOP_ORDERS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* route: the path below the admin location, "orders" or "orders/..." */
ngx_int_t ngx_microshop_orders_handler(ngx_http_request_t *r,
    ngx_str_t *route);


#endif /* _NGX_MICROSHOP_ORDERS_H_INCLUDED_ */
