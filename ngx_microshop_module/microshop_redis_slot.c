/*
 * ngx_microshop -- Redis Cluster's key slots and the replies that move
 * them (pure logic, no nginx headers): see microshop_redis_slot.h.
 *
 * The slot and its hash tag are those of the Redis Cluster specification
 * (https://redis.io/docs/reference/cluster-spec/, "Key distribution
 * model", "Hash tags" and its Appendix A, the CRC16 of crc16.c), the
 * redirects those of its "Redirection and resharding" (MOVED, ASK); the
 * +switch-master message that of Sentinel's "Pub/Sub messages"
 * (https://redis.io/docs/management/sentinel/).
 */

#include <string.h>

#include "microshop_redis_slot.h"


static int microshop_redis_slot_fields(const unsigned char *msg, size_t len,
    size_t n, const unsigned char **field, const unsigned char **field_end);
static int microshop_redis_slot_number(const unsigned char *p,
    const unsigned char *end, unsigned long max, unsigned *out);
static int microshop_redis_slot_port(const unsigned char *p,
    const unsigned char *end, unsigned *out);
static int microshop_redis_slot_host(const unsigned char *p,
    const unsigned char *end);
static int microshop_redis_slot_word(const unsigned char *p, size_t len,
    const char *word);


/*
 * CRC16 XMODEM (CCITT polynomial 0x1021, init 0, no reflection, no final
 * xor), a byte at a time: crc16tab[] of Redis's crc16.c, which the Cluster
 * specification's Appendix A gives.  crc16("123456789") is 0x31c3.
 */
static const uint16_t  microshop_redis_crc16tab[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
    0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
    0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
    0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
    0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
    0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
    0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
    0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
    0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
    0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
    0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
    0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
    0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
    0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
    0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
    0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
    0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
    0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
    0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
    0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
    0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};


uint16_t
microshop_redis_crc16(const unsigned char *p, size_t len)
{
    size_t    i;
    uint16_t  crc;

    crc = 0;

    for (i = 0; i < len; i++) {
        crc = (uint16_t) ((crc << 8)
                          ^ microshop_redis_crc16tab[((crc >> 8) ^ p[i])
                                                     & 0xff]);
    }

    return crc;
}


unsigned
microshop_redis_slot(const unsigned char *key, size_t len)
{
    const unsigned char  *s, *e;

    if (len == 0) {
        return 0;       /* the CRC16 of nothing */
    }

    /* the hash tag: after the first '{', up to the first '}' after it */

    s = memchr(key, '{', len);

    if (s != NULL) {
        s++;
        e = memchr(s, '}', key + len - s);

        if (e != NULL && e != s) {
            key = s;
            len = e - s;
        }
    }

    return microshop_redis_crc16(key, len) & (MICROSHOP_REDIS_SLOTS - 1);
}


microshop_redis_redirect_e
microshop_redis_redirect_parse(const unsigned char *err, size_t len,
    microshop_redis_redirect_t *out)
{
    const unsigned char         *p, *end, *sp, *colon;
    microshop_redis_redirect_e   kind;

    memset(out, 0, sizeof(*out));

    end = err + len;

    if (microshop_redis_slot_word(err, len, "TRYAGAIN")) {
        out->kind = MICROSHOP_REDIS_REDIRECT_TRYAGAIN;
        return out->kind;
    }

    if (microshop_redis_slot_word(err, len, "CLUSTERDOWN")) {
        out->kind = MICROSHOP_REDIS_REDIRECT_CLUSTERDOWN;
        return out->kind;
    }

    if (len > 6 && memcmp(err, "MOVED ", 6) == 0) {
        kind = MICROSHOP_REDIS_REDIRECT_MOVED;
        p = err + 6;

    } else if (len > 4 && memcmp(err, "ASK ", 4) == 0) {
        kind = MICROSHOP_REDIS_REDIRECT_ASK;
        p = err + 4;

    } else {
        return MICROSHOP_REDIS_REDIRECT_NONE;
    }

    /* "<slot> <host>:<port>", nothing after */

    sp = memchr(p, ' ', end - p);

    if (sp == NULL
        || microshop_redis_slot_number(p, sp, MICROSHOP_REDIS_SLOTS - 1,
                                       &out->slot)
           != 0)
    {
        goto malformed;
    }

    p = sp + 1;

    for (colon = end; colon > p; colon--) {
        if (colon[-1] == ':') {
            break;
        }
    }

    if (colon == p
        || microshop_redis_slot_host(p, colon - 1) != 0
        || microshop_redis_slot_port(colon, end, &out->port) != 0)
    {
        goto malformed;
    }

    out->kind = kind;
    out->host = p;
    out->host_len = colon - 1 - p;

    return kind;

malformed:

    memset(out, 0, sizeof(*out));

    return MICROSHOP_REDIS_REDIRECT_NONE;
}


int
microshop_redis_switch_parse(const unsigned char *msg, size_t len,
    microshop_redis_switch_t *out)
{
    unsigned              port;
    const unsigned char  *field[5], *field_end[5];

    memset(out, 0, sizeof(*out));

    if (microshop_redis_slot_fields(msg, len, 5, field, field_end) != 0
        || microshop_redis_slot_host(field[0], field_end[0]) != 0
        || microshop_redis_slot_host(field[1], field_end[1]) != 0
        || microshop_redis_slot_port(field[2], field_end[2], &port) != 0
        || microshop_redis_slot_host(field[3], field_end[3]) != 0
        || microshop_redis_slot_port(field[4], field_end[4], &port) != 0)
    {
        return -1;
    }

    out->name = field[0];
    out->name_len = field_end[0] - field[0];
    out->host = field[3];
    out->host_len = field_end[3] - field[3];
    out->port = port;

    return 0;
}


int
microshop_redis_promoted_parse(const unsigned char *msg, size_t len,
    microshop_redis_switch_t *out)
{
    size_t                n;
    unsigned              port, ignored;
    const unsigned char  *field[8], *field_end[8];

    memset(out, 0, sizeof(*out));

    if (microshop_redis_slot_fields(msg, len, 8, field, field_end) != 0) {
        return -1;
    }

    n = field_end[0] - field[0];

    if (!((n == 5 && memcmp(field[0], "slave", 5) == 0)
          || (n == 7 && memcmp(field[0], "replica", 7) == 0))
        || field_end[4] - field[4] != 1 || *field[4] != '@'
        || microshop_redis_slot_host(field[1], field_end[1]) != 0
        || microshop_redis_slot_host(field[2], field_end[2]) != 0
        || microshop_redis_slot_port(field[3], field_end[3], &port) != 0
        || microshop_redis_slot_host(field[5], field_end[5]) != 0
        || microshop_redis_slot_host(field[6], field_end[6]) != 0
        || microshop_redis_slot_port(field[7], field_end[7], &ignored) != 0)
    {
        return -1;
    }

    out->name = field[5];
    out->name_len = field_end[5] - field[5];
    out->host = field[2];
    out->host_len = field_end[2] - field[2];
    out->port = port;

    return 0;
}


int
microshop_redis_event_master(const unsigned char *msg, size_t len,
    const unsigned char **name, size_t *name_len)
{
    const unsigned char  *field[8], *field_end[8];

    if (microshop_redis_slot_fields(msg, len, 4, field, field_end) == 0) {
        if (field_end[0] - field[0] != 6 || memcmp(field[0], "master", 6) != 0
            || microshop_redis_slot_host(field[1], field_end[1]) != 0)
        {
            return -1;
        }

        *name = field[1];
        *name_len = field_end[1] - field[1];
        return 0;
    }

    if (microshop_redis_slot_fields(msg, len, 8, field, field_end) != 0
        || field_end[4] - field[4] != 1 || *field[4] != '@'
        || microshop_redis_slot_host(field[5], field_end[5]) != 0)
    {
        return -1;
    }

    *name = field[5];
    *name_len = field_end[5] - field[5];

    return 0;
}


/* exactly n fields, one space between each two, none empty */
static int
microshop_redis_slot_fields(const unsigned char *msg, size_t len, size_t n,
    const unsigned char **field, const unsigned char **field_end)
{
    size_t                i;
    const unsigned char  *p, *end, *sp;

    if (len == 0) {
        return -1;
    }

    p = msg;
    end = msg + len;

    for (i = 0; i < n; i++) {
        sp = memchr(p, ' ', end - p);

        if ((sp == NULL) != (i == n - 1)) {
            return -1;
        }

        field[i] = p;
        field_end[i] = sp ? sp : end;

        if (field_end[i] == p) {
            return -1;
        }

        p = field_end[i] + 1;
    }

    return 0;
}


/* the whole of [p, end) is a decimal number, at most max */
static int
microshop_redis_slot_number(const unsigned char *p, const unsigned char *end,
    unsigned long max, unsigned *out)
{
    unsigned long  n;

    if (p == end) {
        return -1;
    }

    n = 0;

    for ( /* void */ ; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        n = n * 10 + (*p - '0');

        if (n > max) {
            return -1;
        }
    }

    *out = (unsigned) n;

    return 0;
}


static int
microshop_redis_slot_port(const unsigned char *p, const unsigned char *end,
    unsigned *out)
{
    if (microshop_redis_slot_number(p, end, 65535, out) != 0 || *out == 0) {
        return -1;
    }

    return 0;
}


/* no spaces or control bytes (an empty host is the caller's business) */
static int
microshop_redis_slot_host(const unsigned char *p, const unsigned char *end)
{
    for ( /* void */ ; p < end; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            return -1;
        }
    }

    return 0;
}


/* err is word, alone or followed by a space and a message */
static int
microshop_redis_slot_word(const unsigned char *p, size_t len,
    const char *word)
{
    size_t  n;

    n = strlen(word);

    return len >= n && memcmp(p, word, n) == 0 && (len == n || p[n] == ' ');
}
