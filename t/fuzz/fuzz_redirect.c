/*
 * Fuzz target: Redis Cluster's MOVED and ASK redirects, Sentinel's
 * +switch-master, +promoted-slave, a Sentinel event's master and the key
 * slot (microshop_redis_slot.c).
 *
 * Input: the error reply's text, which is also read as Sentinel's
 * messages and as a key.  A redirect found must say what the text says
 * (its pieces inside the input, in range, and the text written again
 * without leading zeros parses the same); a slot is the CRC16 of its hash
 * tag, computed here a bit at a time.
 */

#include <string.h>

#include "fuzz.h"
#include "microshop_redis_slot.h"


/* CRC16 XMODEM the slow way, not from a table */
static unsigned
crc16(const uint8_t *p, size_t len)
{
    int       b;
    size_t    i;
    unsigned  crc;

    crc = 0;

    for (i = 0; i < len; i++) {
        crc ^= (unsigned) p[i] << 8;

        for (b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
        }
    }

    return crc & 0xffff;
}


static unsigned
slot(const uint8_t *key, size_t len)
{
    size_t  s, e;

    for (s = 0; s < len && key[s] != '{'; s++) { /* void */ }

    for (e = s + 1; e < len && key[e] != '}'; e++) { /* void */ }

    if (e < len && e > s + 1) {
        return crc16(key + s + 1, e - s - 1) % MICROSHOP_REDIS_SLOTS;
    }

    return crc16(key, len) % MICROSHOP_REDIS_SLOTS;
}


static void
redirect(const uint8_t *copy, size_t size)
{
    int                          n;
    char                         again[64];
    size_t                       i;
    microshop_redis_redirect_t   r, r2;

    microshop_redis_redirect_parse(copy, size, &r);

    if (r.kind == MICROSHOP_REDIS_REDIRECT_NONE
        || r.kind == MICROSHOP_REDIS_REDIRECT_TRYAGAIN
        || r.kind == MICROSHOP_REDIS_REDIRECT_CLUSTERDOWN)
    {
        FUZZ_CHECK(r.host == NULL && r.host_len == 0 && r.slot == 0
                   && r.port == 0);
        FUZZ_CHECK(r.kind != MICROSHOP_REDIS_REDIRECT_TRYAGAIN
                   || (size >= 8 && memcmp(copy, "TRYAGAIN", 8) == 0));
        FUZZ_CHECK(r.kind != MICROSHOP_REDIS_REDIRECT_CLUSTERDOWN
                   || (size >= 11 && memcmp(copy, "CLUSTERDOWN", 11) == 0));
        return;
    }

    FUZZ_CHECK(r.kind == MICROSHOP_REDIS_REDIRECT_MOVED
               || r.kind == MICROSHOP_REDIS_REDIRECT_ASK);
    FUZZ_CHECK(r.slot < MICROSHOP_REDIS_SLOTS);
    FUZZ_CHECK(r.port >= 1 && r.port <= 65535);
    FUZZ_CHECK(r.host > copy && r.host + r.host_len < copy + size);
    FUZZ_CHECK(r.host[-1] == ' ' && r.host[r.host_len] == ':');

    for (i = 0; i < r.host_len; i++) {
        FUZZ_CHECK(r.host[i] > 0x20 && r.host[i] != 0x7f);
    }

    if (r.host_len > 32) {
        return;
    }

    n = snprintf(again, sizeof(again), "%s %u %.*s:%u",
                 r.kind == MICROSHOP_REDIS_REDIRECT_MOVED ? "MOVED" : "ASK",
                 r.slot, (int) r.host_len, (const char *) r.host, r.port);
    FUZZ_CHECK(n > 0 && (size_t) n < sizeof(again));

    FUZZ_CHECK(microshop_redis_redirect_parse((unsigned char *) again, n, &r2)
               == r.kind);
    FUZZ_CHECK(r2.slot == r.slot && r2.port == r.port
               && r2.host_len == r.host_len
               && memcmp(r2.host, r.host, r.host_len) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                     i, spaces;
    uint8_t                   *copy;
    microshop_redis_switch_t   sw;
    const unsigned char       *name;
    size_t                     name_len;

    /* an exact-size copy: a read past the end is ASan's */
    copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size);

    redirect(copy, size);

    if (microshop_redis_switch_parse(copy, size, &sw) == 0) {
        for (spaces = 0, i = 0; i < size; i++) {
            FUZZ_CHECK(copy[i] >= 0x20 && copy[i] != 0x7f);
            spaces += copy[i] == ' ';
        }

        FUZZ_CHECK(spaces == 4);
        FUZZ_CHECK(sw.name == copy && sw.name_len >= 1
                   && sw.name[sw.name_len] == ' ');
        FUZZ_CHECK(sw.host > copy && sw.host + sw.host_len < copy + size
                   && sw.host_len >= 1 && sw.host[-1] == ' '
                   && sw.host[sw.host_len] == ' ');
        FUZZ_CHECK(sw.port >= 1 && sw.port <= 65535);
    }

    /* +promoted-slave: eight fields, the replica's host and port, the
     * master's name, all inside the text */
    if (microshop_redis_promoted_parse(copy, size, &sw) == 0) {
        for (spaces = 0, i = 0; i < size; i++) {
            spaces += copy[i] == ' ';
        }

        FUZZ_CHECK(spaces == 7);
        FUZZ_CHECK(sw.name > copy && sw.name + sw.name_len < copy + size
                   && sw.name_len >= 1 && sw.name[-1] == ' ');
        FUZZ_CHECK(sw.host > copy && sw.host + sw.host_len < copy + size
                   && sw.host_len >= 1 && sw.host[-1] == ' ');
        FUZZ_CHECK(sw.port >= 1 && sw.port <= 65535);
    }

    if (microshop_redis_event_master(copy, size, &name, &name_len) == 0) {
        FUZZ_CHECK(name > copy && name + name_len < copy + size
                   && name_len >= 1 && name[-1] == ' '
                   && name[name_len] == ' ');
    }

    FUZZ_CHECK(microshop_redis_slot(copy, size) == slot(copy, size));

    free(copy);

    return 0;
}
