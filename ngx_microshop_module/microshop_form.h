/*
 * ngx_microshop -- application/x-www-form-urlencoded bodies (pure logic,
 * no nginx headers), as a token endpoint reads them (RFC 6749 3.2,
 * RFC 8693 2.1; docs/http.md "Token exchange").
 *
 * A body is name=value pairs separated by '&'; names and values are
 * percent-decoded ('+' is a space, %XX a byte).  Stricter than the WHATWG
 * parser, as a token endpoint must be: a '%' not followed by two hex
 * digits is an error rather than a literal '%', a name given twice is an
 * error ("parameters MUST NOT be included more than once", RFC 6749 3.2),
 * a decoded NUL byte is an error, and so is an empty name ("=x").  Empty
 * pairs ("a=1&&b=2", a trailing '&') are skipped; a pair without '=' is a
 * name with an empty value.
 */

#ifndef _MICROSHOP_FORM_H_INCLUDED_
#define _MICROSHOP_FORM_H_INCLUDED_


#include <stddef.h>


/* more pairs than this is an error: a token request has a handful */
#define MICROSHOP_FORM_MAX_PAIRS  32


typedef enum {
    MICROSHOP_FORM_OK = 0,
    MICROSHOP_FORM_BAD_ESCAPE,      /* '%' without two hex digits */
    MICROSHOP_FORM_NUL,             /* a name or value decodes to a NUL */
    MICROSHOP_FORM_EMPTY_NAME,      /* "=value" */
    MICROSHOP_FORM_DUPLICATE,       /* a name given twice */
    MICROSHOP_FORM_TOO_MANY         /* over MICROSHOP_FORM_MAX_PAIRS */
} microshop_form_rc_e;


typedef struct {
    const char  *name;              /* decoded, into the caller's buffer */
    size_t       name_len;
    const char  *value;
    size_t       value_len;
} microshop_form_pair_t;


typedef struct {
    microshop_form_pair_t  pair[MICROSHOP_FORM_MAX_PAIRS];
    size_t                 n;
    size_t                 bad;     /* the pair an error is about (a
                                       DUPLICATE: the second one; 0 for
                                       TOO_MANY) */
} microshop_form_t;


/*
 * Parses body (len bytes) into form; the decoded names and values are
 * written into buf, which must hold len bytes (decoding never grows).  On
 * an error form->bad is the pair it is about (its name decoded when the
 * name itself was not the trouble; else form->pair[bad].name is NULL).
 */
microshop_form_rc_e microshop_form_parse(const char *body, size_t len,
    char *buf, microshop_form_t *form);

/* the pair named name (a C string), or NULL */
const microshop_form_pair_t *microshop_form_get(const microshop_form_t *form,
    const char *name);

/* 1 when the pair's name is the C string name, else 0 */
int microshop_form_is(const microshop_form_pair_t *pair, const char *name);

/* a text for logs of an error (a static string) */
const char *microshop_form_error(microshop_form_rc_e rc);


#endif /* _MICROSHOP_FORM_H_INCLUDED_ */
