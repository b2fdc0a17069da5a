/*
 * GCRA (generic cell rate algorithm): a rate limit kept as one timestamp
 * per key, the theoretical arrival time (TAT).  Pure logic, no nginx.
 *
 * interval  emission interval: microseconds one unit of cost refills in
 *           (1 s / rate);
 * burst     how many units may be spent at once from a full bucket;
 * cost      units this request spends.
 *
 * A request is allowed when, after adding cost * interval to
 * max(TAT, now), the TAT is at most burst * interval ahead of now.
 */

#ifndef _MICROSHOP_RATELIMIT_GCRA_H_INCLUDED_
#define _MICROSHOP_RATELIMIT_GCRA_H_INCLUDED_


#include <stdint.h>


typedef struct {
    int       allowed;
    int64_t   remaining;     /* units that could still be spent now */
    int64_t   retry_after;   /* us until this request would be allowed */
    int64_t   reset_after;   /* us until the bucket is full again */
} microshop_gcra_result_t;


/*
 * Applies one request to *tat (0 means "never seen"; updated when allowed,
 * and when a clock that went back is clamped).  All times in microseconds.
 */
void microshop_gcra_apply(int64_t *tat, int64_t now, int64_t interval,
    int64_t burst, int64_t cost, microshop_gcra_result_t *res);

/* seconds, rounded up, for Retry-After and the RateLimit fields */
int64_t microshop_gcra_seconds_ceil(int64_t us);


#endif /* _MICROSHOP_RATELIMIT_GCRA_H_INCLUDED_ */
