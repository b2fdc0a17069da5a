/*
 * ngx_microshop: the conformance suite of the store contract
 * (ngx_microshop_store.h), run inside a worker against the configured back
 * end (docs/architecture.md).
 *
 *   location = /selftest { microshop_store_selftest; }
 *
 * Only with the test switch NGX_MICROSHOP_TEST_STORE set: without it
 * nginx -t refuses the directive.  GET answers
 *
 *   {"backend":"deferred","passed":N,"later":M,
 *    "failed":[{"case":"...","why":"..."}],
 *    "skipped":[{"case":"...","why":"..."}]}
 *
 * GET ?hold=<ms> instead runs one exec() that the deferred back end answers
 * only after <ms>: a client that goes away meanwhile proves that the
 * request's cleanup cancels it (the answer is then counted as late).
 *
 * One run at a time per worker: the knobs of the deferred back end that
 * some cases turn are the worker's.
 */

#ifndef _NGX_MICROSHOP_STORE_SELFTEST_H_INCLUDED_
#define _NGX_MICROSHOP_STORE_SELFTEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


char *ngx_microshop_store_selftest_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


#endif /* _NGX_MICROSHOP_STORE_SELFTEST_H_INCLUDED_ */
