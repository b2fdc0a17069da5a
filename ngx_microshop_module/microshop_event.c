/*
 * ngx_microshop -- the events of a seller's feed (see the header).
 */

#include <stdio.h>
#include <string.h>

#include "microshop_event.h"


static const char  *microshop_event_types[] = {
    "order.reserved",
    "order.committed",
    "order.released",
    "order.pending",
    "stock.changed",
    "stock.sold_out",
    "inventory.updated",
    "token.revoked",
};

/* the table and the enum must not drift apart */
typedef char  microshop_event_types_complete[
    (sizeof(microshop_event_types) / sizeof(microshop_event_types[0])
     == MICROSHOP_EVENT_MAX) ? 1 : -1];


/* the largest unix ms microshop_event_time_format() writes: 9999-12-31 */
#define MICROSHOP_EVENT_MS_MAX  ((int64_t) 253402300799999)


static int microshop_event_u64(const char *s, size_t len, uint64_t *v);


const char *
microshop_event_type_name(microshop_event_type_e type)
{
    if ((int) type < 0 || type >= MICROSHOP_EVENT_MAX) {
        return NULL;
    }

    return microshop_event_types[type];
}


int
microshop_event_type_find(const char *name, size_t len)
{
    int  i;

    for (i = 0; i < MICROSHOP_EVENT_MAX; i++) {
        if (strlen(microshop_event_types[i]) == len
            && memcmp(microshop_event_types[i], name, len) == 0)
        {
            return i;
        }
    }

    return -1;
}


int
microshop_event_id_next(const microshop_event_id_t *last, uint64_t now_ms,
    microshop_event_id_t *next)
{
    if (last == NULL || now_ms > last->ms) {
        next->ms = now_ms;
        next->seq = 0;
        return 0;
    }

    /* the clock is where it was, or stepped back: the same millisecond */

    if (last->seq < UINT64_MAX) {
        next->ms = last->ms;
        next->seq = last->seq + 1;
        return 0;
    }

    if (last->ms < UINT64_MAX) {
        next->ms = last->ms + 1;
        next->seq = 0;
        return 0;
    }

    return -1;
}


int
microshop_event_id_parse(const char *s, size_t len, microshop_event_id_t *id)
{
    const char  *dash;

    dash = memchr(s, '-', len);

    if (dash == NULL) {
        id->seq = 0;
        return microshop_event_u64(s, len, &id->ms);
    }

    if (microshop_event_u64(s, (size_t) (dash - s), &id->ms) != 0
        || microshop_event_u64(dash + 1, len - (size_t) (dash - s) - 1,
                               &id->seq)
           != 0)
    {
        return -1;
    }

    return 0;
}


size_t
microshop_event_id_format(const microshop_event_id_t *id, char *buf)
{
    int  n;

    n = snprintf(buf, MICROSHOP_EVENT_ID_LEN, "%llu-%llu",
                 (unsigned long long) id->ms, (unsigned long long) id->seq);

    return (n > 0) ? (size_t) n : 0;
}


int
microshop_event_id_cmp(const microshop_event_id_t *a,
    const microshop_event_id_t *b)
{
    if (a->ms != b->ms) {
        return (a->ms < b->ms) ? -1 : 1;
    }

    if (a->seq != b->seq) {
        return (a->seq < b->seq) ? -1 : 1;
    }

    return 0;
}


size_t
microshop_event_time_format(int64_t ms, char *buf)
{
    int      n;
    int64_t  days, secs, z, era, doe, yoe, doy, mp, y, m, d;

    if (ms < 0 || ms > MICROSHOP_EVENT_MS_MAX) {
        buf[0] = '\0';
        return 0;
    }

    days = ms / 86400000;
    secs = (ms / 1000) % 86400;

    /* the civil date of a day count (H. Hinnant's days_from_civil, in
     * reverse), without libc's time zone or locale */
    z = days + 719468;
    era = z / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += (m <= 2);

    n = snprintf(buf, MICROSHOP_EVENT_TIME_LEN,
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 (int) y, (int) m, (int) d, (int) (secs / 3600),
                 (int) (secs / 60 % 60), (int) (secs % 60),
                 (int) (ms % 1000));

    return (n == MICROSHOP_EVENT_TIME_LEN - 1) ? (size_t) n : 0;
}


char *
microshop_event_json(const microshop_event_id_t *id, int64_t ms,
    microshop_event_type_e type, const char *seller, size_t seller_len,
    json_t *data, size_t *len)
{
    char         idbuf[MICROSHOP_EVENT_ID_LEN];
    char         timebuf[MICROSHOP_EVENT_TIME_LEN];
    char        *out;
    json_t      *doc;
    const char  *name;

    name = microshop_event_type_name(type);

    if (data == NULL) {
        data = json_object();
    }

    if (name == NULL || data == NULL || !json_is_object(data)
        || microshop_event_time_format(ms, timebuf) == 0)
    {
        json_decref(data);
        return NULL;
    }

    (void) microshop_event_id_format(id, idbuf);

    /* in this order (jansson keeps it); json_object_set_new() takes the
     * value's reference, also when it fails */
    doc = json_object();

    if (doc == NULL
        || json_object_set_new(doc, "id", json_string(idbuf)) != 0
        || json_object_set_new(doc, "time", json_string(timebuf)) != 0
        || json_object_set_new(doc, "type", json_string(name)) != 0
        || json_object_set_new(doc, "seller",
                               json_stringn(seller, seller_len)) != 0)
    {
        json_decref(doc);
        json_decref(data);
        return NULL;
    }

    if (json_object_set_new(doc, "data", data) != 0) {
        json_decref(doc);
        return NULL;
    }

    out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    if (out == NULL) {
        return NULL;
    }

    *len = strlen(out);

    return out;
}


/* decimal digits only, no leading zero but "0", at most 2^64 - 1 */

static int
microshop_event_u64(const char *s, size_t len, uint64_t *v)
{
    size_t    i;
    uint64_t  n, d;

    if (len == 0 || len > 20 || (len > 1 && s[0] == '0')) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        d = (uint64_t) (s[i] - '0');

        if (n > (UINT64_MAX - d) / 10) {
            return -1;
        }

        n = n * 10 + d;
    }

    *v = n;

    return 0;
}
