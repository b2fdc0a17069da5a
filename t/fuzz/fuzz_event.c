/*
 * Fuzz target: an event id a client sends (after=, Last-Event-ID) and an
 * event's JSON (microshop_event.c).
 *
 * Input: the id's text, which is also the event's seller.  An id taken
 * is canonical: written again it is the input ("<ms>-<seq>"), or the
 * input plus "-0" ("<ms>"); the id after it is later.  An event made with
 * the input as its seller is JSON that reads back to that seller, or the
 * input is not UTF-8.
 */

#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "microshop_event.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                  buf[MICROSHOP_EVENT_ID_LEN];
    char                 *out, *copy;
    size_t                n, len;
    json_t               *doc, *seller;
    microshop_event_id_t  id, next;

    /* an exact-size copy: a read past the end is ASan's */
    copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size);

    if (microshop_event_id_parse(copy, size, &id) == 0) {
        n = microshop_event_id_format(&id, buf);

        if (memchr(copy, '-', size)) {
            FUZZ_CHECK(n == size && memcmp(buf, copy, size) == 0);

        } else {
            FUZZ_CHECK(id.seq == 0 && n == size + 2
                       && memcmp(buf, copy, size) == 0
                       && memcmp(buf + size, "-0", 2) == 0);
        }

        if (microshop_event_id_next(&id, id.ms, &next) == 0) {
            FUZZ_CHECK(microshop_event_id_cmp(&next, &id) == 1);
        } else {
            FUZZ_CHECK(id.ms == UINT64_MAX && id.seq == UINT64_MAX);
        }
    }

    out = microshop_event_json(&id, 1700000000123LL,
                               MICROSHOP_EVENT_STOCK_CHANGED, copy, size,
                               NULL, &len);
    if (out != NULL) {
        FUZZ_CHECK(len == strlen(out));
        doc = json_loadb(out, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                         NULL);
        FUZZ_CHECK(doc != NULL);
        seller = json_object_get(doc, "seller");
        FUZZ_CHECK(json_is_string(seller)
                   && json_string_length(seller) == size
                   && memcmp(json_string_value(seller), copy, size) == 0);
        json_decref(doc);
        free(out);
    }

    free(copy);

    return 0;
}
