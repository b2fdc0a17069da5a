/*
 * ngx_microshop -- a one-pass JSON parser for the header and the claims of
 * a token (pure logic, no nginx headers).  See docs/operations.md, "The
 * cold token path".
 *
 * It accepts what json_loadb(data, len, JSON_REJECT_DUPLICATES, ...) of
 * jansson accepts when the top level is an object, and builds the same
 * json_t tree, so that everything that reads claims keeps jansson's API;
 * it is several times faster because it reads the bytes once, from a
 * buffer, and copies a string only when it has escapes.  RFC 8259 JSON
 * only: UTF-8 without overlong forms or surrogates, no NUL (\u0000),
 * no duplicate member names in any object, integers in int64 (a larger
 * one is refused), reals that do not overflow a double.
 *
 * Two differences from jansson, both refusals: nesting deeper than
 * MICROSHOP_JSON_DEPTH_MAX (jansson allows 2048), and a NUL byte between
 * tokens (jansson reads it as white space).
 */

#ifndef _MICROSHOP_JSON_PARSE_H_INCLUDED_
#define _MICROSHOP_JSON_PARSE_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


#define MICROSHOP_JSON_DEPTH_MAX  64


/* the object that data (len bytes) holds, or NULL (not JSON, not an
 * object at the top level, or out of memory) */
json_t *microshop_json_parse_object(const unsigned char *data, size_t len);


#endif /* _MICROSHOP_JSON_PARSE_H_INCLUDED_ */
