/*
 * ngx_microshop -- the events of a seller's feed (pure logic, no nginx
 * headers; docs/events.md "Events"): their types, their ids and their
 * JSON.
 *
 * An id is "<ms>-<seq>", as a Redis stream's: the time the event was
 * written (unix ms) and a sequence number within that millisecond.  The
 * embedded feed makes them as XADD * does, so that a consumer reads the
 * same ids from either back end, and they increase per seller even when
 * the clock steps back.
 */

#ifndef _MICROSHOP_EVENT_H_INCLUDED_
#define _MICROSHOP_EVENT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <jansson.h>


typedef enum {
    MICROSHOP_EVENT_ORDER_RESERVED = 0,
    MICROSHOP_EVENT_ORDER_COMMITTED,
    MICROSHOP_EVENT_ORDER_RELEASED,
    MICROSHOP_EVENT_ORDER_PENDING,
    MICROSHOP_EVENT_STOCK_CHANGED,
    MICROSHOP_EVENT_STOCK_SOLD_OUT,
    MICROSHOP_EVENT_INVENTORY_UPDATED,
    MICROSHOP_EVENT_TOKEN_REVOKED,
    MICROSHOP_EVENT_MAX
} microshop_event_type_e;


typedef struct {
    uint64_t  ms;
    uint64_t  seq;
} microshop_event_id_t;


/* "18446744073709551615-18446744073709551615" and its NUL */
#define MICROSHOP_EVENT_ID_LEN    (2 * 20 + 1 + 1)

/* "9999-12-31T23:59:59.999Z" and its NUL */
#define MICROSHOP_EVENT_TIME_LEN  (24 + 1)


/* "order.committed", ...; NULL for a value out of range */
const char *microshop_event_type_name(microshop_event_type_e type);

/* the type of a name, or -1 */
int microshop_event_type_find(const char *name, size_t len);

/*
 * The id of an event written at now_ms after the seller's last one
 * (last NULL: the first): <max(now_ms, last.ms)>-<0, or last.seq + 1
 * within last.ms>.  0, or -1 when no id is left after last (both parts
 * at their largest).
 */
int microshop_event_id_next(const microshop_event_id_t *last,
    uint64_t now_ms, microshop_event_id_t *next);

/*
 * An id a client sent (after=, Last-Event-ID): "<ms>-<seq>", or "<ms>"
 * for "<ms>-0"; decimal digits only, each part at most 2^64 - 1, no sign,
 * no space, no leading zero but a lone "0".  0, or -1.
 */
int microshop_event_id_parse(const char *s, size_t len,
    microshop_event_id_t *id);

/* "<ms>-<seq>" into buf (MICROSHOP_EVENT_ID_LEN bytes); its length */
size_t microshop_event_id_format(const microshop_event_id_t *id, char *buf);

/* -1, 0, 1 as a is before, the same as, after b */
int microshop_event_id_cmp(const microshop_event_id_t *a,
    const microshop_event_id_t *b);

/*
 * RFC 3339 in UTC with milliseconds, "2026-12-03T06:20:01.123Z", into
 * buf (MICROSHOP_EVENT_TIME_LEN bytes); its length, or 0 for a time
 * before 1970 or after 9999.
 */
size_t microshop_event_time_format(int64_t ms, char *buf);

/*
 * The event as compact JSON, {"id","time","type","seller","data"} in that
 * order (malloc(): free() it), *len its length; data (an object, taken:
 * its reference is the event's) may be NULL for {}.  NULL when out of
 * memory, or when the seller is not UTF-8.
 */
char *microshop_event_json(const microshop_event_id_t *id, int64_t ms,
    microshop_event_type_e type, const char *seller, size_t seller_len,
    json_t *data, size_t *len);


#endif /* _MICROSHOP_EVENT_H_INCLUDED_ */
