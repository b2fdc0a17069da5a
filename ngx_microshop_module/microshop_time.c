/*
 * ngx_microshop -- bounded time arithmetic (pure logic, no nginx headers),
 * see microshop_time.h.
 */

#include "microshop_time.h"


int64_t
microshop_time_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) {
        return INT64_MAX;
    }

    if (b < 0 && a < INT64_MIN - b) {
        return INT64_MIN;
    }

    return a + b;
}


int64_t
microshop_time_ms(int64_t sec)
{
    if (sec > INT64_MAX / 1000) {
        return INT64_MAX;
    }

    if (sec < INT64_MIN / 1000) {
        return INT64_MIN;
    }

    return sec * 1000;
}
