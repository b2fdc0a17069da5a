/*
 * ngx_microshop -- string helpers shared by the microshop_token_*.c files
 * (pure logic, no nginx headers).
 */

#ifndef _MICROSHOP_TOKEN_STR_H_INCLUDED_
#define _MICROSHOP_TOKEN_STR_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


/* vsnprintf() into err; nothing when err is NULL or errlen is 0 */
void microshop_err(char *err, size_t errlen, const char *fmt, ...);

/* the first needle (a non-empty C string) in hay, or NULL */
const char *microshop_memfind(const char *hay, size_t haylen,
    const char *needle);

/* a JSON string equal to the C string lit (embedded NULs never match) */
int microshop_json_streq(json_t *v, const char *lit);

/*
 * 1 when s holds no control character (C0, including a bare LF or a NUL,
 * and DEL): text a claim may hold, since the gateway writes claims into
 * request headers towards the upstream (docs/http.md "Identity towards
 * the upstream"); 0 otherwise.
 */
int microshop_text_is_clean(const char *s, size_t len);

#endif /* _MICROSHOP_TOKEN_STR_H_INCLUDED_ */
