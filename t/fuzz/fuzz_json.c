/*
 * Fuzz target: the one-pass JSON parser of token headers and claims
 * (microshop_json_parse.c), differential against jansson.
 *
 * Input: any bytes.  Both must refuse, or both accept with equal trees
 * (jansson's json_loadb with JSON_REJECT_DUPLICATES, a top-level object),
 * except where microshop_json_parse.h says ours is stricter: a NUL byte,
 * or nesting deeper than MICROSHOP_JSON_DEPTH_MAX.
 */

#include <string.h>

#include "fuzz.h"
#include "microshop_json_parse.h"


/* the deepest nesting of brackets outside strings (a bound is enough) */
static size_t
nesting(const uint8_t *data, size_t size)
{
    int     in_string;
    size_t  i, depth, max;

    in_string = 0;
    depth = 0;
    max = 0;

    for (i = 0; i < size; i++) {
        if (in_string) {
            if (data[i] == '\\') {
                i++;
            } else if (data[i] == '"') {
                in_string = 0;
            }

        } else if (data[i] == '"') {
            in_string = 1;

        } else if (data[i] == '{' || data[i] == '[') {
            if (++depth > max) {
                max = depth;
            }

        } else if ((data[i] == '}' || data[i] == ']') && depth > 0) {
            depth--;
        }
    }

    return max;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t        *ref, *got;
    json_error_t   jerr;

    got = microshop_json_parse_object(data, size);

    if (memchr(data, '\0', size) != NULL
        || nesting(data, size) > MICROSHOP_JSON_DEPTH_MAX)
    {
        /* stricter than jansson here: refused */
        ref = NULL;
        FUZZ_CHECK(got == NULL);

    } else {
        ref = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES,
                         &jerr);

        if (ref != NULL && !json_is_object(ref)) {
            json_decref(ref);
            ref = NULL;
        }

        FUZZ_CHECK((ref == NULL) == (got == NULL));
        FUZZ_CHECK(ref == NULL || json_equal(ref, got));
    }

    json_decref(ref);
    json_decref(got);

    return 0;
}
