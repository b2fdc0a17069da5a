/*
 * ngx_microshop -- bounded time arithmetic (pure logic, no nginx headers).
 *
 * Every time the gateway reads from a token or a client is a unix time
 * from 0 to MICROSHOP_TIME_MAX before it takes part in any arithmetic
 * (docs/http.md "Tokens (401)"), every duration from the configuration is
 * at most MICROSHOP_TIME_SPAN_MAX (docs/directives.md), and the sums and
 * conversions below saturate instead of overflowing, so that no time
 * arithmetic is undefined behaviour.
 */

#ifndef _MICROSHOP_TIME_H_INCLUDED_
#define _MICROSHOP_TIME_H_INCLUDED_


#include <stdint.h>


/* 9999-12-31T23:59:59Z: the largest time a token or a client may give */
#define MICROSHOP_TIME_MAX       ((int64_t) 253402300799)

/* 100 years, 36500d: the longest duration */
#define MICROSHOP_TIME_SPAN_MAX  ((int64_t) 100 * 365 * 24 * 60 * 60)


/* a + b, saturated to INT64_MIN .. INT64_MAX */
int64_t microshop_time_add(int64_t a, int64_t b);

/* seconds as milliseconds, saturated to INT64_MIN .. INT64_MAX */
int64_t microshop_time_ms(int64_t sec);

#endif /* _MICROSHOP_TIME_H_INCLUDED_ */
