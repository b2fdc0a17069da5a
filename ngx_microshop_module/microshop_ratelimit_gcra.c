/*
 * GCRA, see microshop_ratelimit_gcra.h.
 */

#include "microshop_ratelimit_gcra.h"


void
microshop_gcra_apply(int64_t *tat, int64_t now, int64_t interval,
    int64_t burst, int64_t cost, microshop_gcra_result_t *res)
{
    int64_t  tau, t, new_tat;

    tau = burst * interval;
    t = *tat;

    /*
     * The clock went backwards (another node's clock, an NTP step): the
     * state never counts as more than a full bucket ahead of now.
     */
    if (t > now + tau) {
        t = now + tau;
        *tat = t;
    }

    if (t < now) {
        t = now;
    }

    new_tat = t + cost * interval;

    if (new_tat - now <= tau) {
        *tat = new_tat;
        res->allowed = 1;
        res->retry_after = 0;
        res->reset_after = new_tat - now;
        res->remaining = (tau - (new_tat - now)) / interval;
        return;
    }

    res->allowed = 0;
    res->retry_after = new_tat - now - tau;
    res->reset_after = t - now;
    res->remaining = (tau - (t - now)) / interval;
}


int64_t
microshop_gcra_seconds_ceil(int64_t us)
{
    if (us <= 0) {
        return 0;
    }

    return (us + 999999) / 1000000;
}
