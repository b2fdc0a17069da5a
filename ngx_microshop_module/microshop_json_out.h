/*
 * ngx_microshop -- a small JSON writer (pure logic, no nginx headers): the
 * events of the hot path (docs/events.md "Event types") are written with
 * it straight into one buffer, as jansson's json_dumps(JSON_COMPACT)
 * would write them, without building a tree first.
 *
 * Members come in the order they are written.  A string that is not
 * valid UTF-8 is not written at all (the member is left out, as jansson's
 * json_stringn() refuses it); '"', '\' and the control characters are
 * escaped as jansson escapes them, every other byte is copied.  Writing
 * past the end of the buffer only marks the writer as overflowed:
 * microshop_json_out_end() then returns 0.
 */

#ifndef _MICROSHOP_JSON_OUT_H_INCLUDED_
#define _MICROSHOP_JSON_OUT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


typedef struct {
    unsigned char  *start;
    unsigned char  *p;
    unsigned char  *end;
    unsigned        overflow:1;
    unsigned        comma:1;     /* a value before: a ',' first */
} microshop_json_out_t;


/* the most a string of len bytes takes, quotes included */
#define MICROSHOP_JSON_OUT_STRING_MAX(len)  (6 * (len) + 2)

/* the most a member name (a plain ASCII literal), its quotes and ':' and
 * the ',' before it take, and an integer value */
#define MICROSHOP_JSON_OUT_NAME_MAX(name)   (sizeof(name) - 1 + 4)
#define MICROSHOP_JSON_OUT_INT_MAX          21


void microshop_json_out_init(microshop_json_out_t *o, unsigned char *buf,
    size_t size);

/*
 * '{' or '[' (c), as the member name (NULL: an element of an array, or
 * the document itself), then microshop_json_out_close() with '}' or ']'
 */
void microshop_json_out_open(microshop_json_out_t *o, const char *name,
    char c);
void microshop_json_out_close(microshop_json_out_t *o, char c);

/* 0, or -1 when s is not valid UTF-8 (nothing written) */
int microshop_json_out_string(microshop_json_out_t *o, const char *name,
    const unsigned char *s, size_t len);
void microshop_json_out_int(microshop_json_out_t *o, const char *name,
    int64_t v);
void microshop_json_out_bool(microshop_json_out_t *o, const char *name,
    int v);

/* a value already written as JSON (the caller checked that it is one),
 * copied as it is */
void microshop_json_out_raw(microshop_json_out_t *o, const char *name,
    const unsigned char *json, size_t len);

/* the bytes written, or 0 after an overflow */
size_t microshop_json_out_end(microshop_json_out_t *o);

/* 1 when s is valid UTF-8 (RFC 3629: no overlong form, no surrogate,
 * nothing past U+10FFFF) */
int microshop_json_out_utf8(const unsigned char *s, size_t len);


#endif /* _MICROSHOP_JSON_OUT_H_INCLUDED_ */
