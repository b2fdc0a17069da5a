/*
 * ngx_microshop -- what may be written into an HTTP header (pure logic, no
 * nginx headers).  Every header value the gateway writes, towards the
 * upstream or the client, passes microshop_header_value_ok() first
 * (docs/http.md "Identity towards the upstream" and "Problem answers").
 */

#ifndef _MICROSHOP_HEADER_H_INCLUDED_
#define _MICROSHOP_HEADER_H_INCLUDED_


#include <stddef.h>


/*
 * 1 when s is a field value of RFC 9110 section 5.5, written as it is:
 * visible ASCII (0x21-0x7e), obs-text (0x80-0xff), and SP or HTAB only
 * between two such bytes.  No control character (a CR, a bare LF, a NUL,
 * any other C0, DEL) and no leading or trailing white space, which a
 * receiver would strip and so read another value.  The empty value is 1.
 */
int microshop_header_value_ok(const unsigned char *s, size_t len);

/*
 * 1 when s may stand between the quotes of an RFC 6750 auth-param
 * (error_description="...", scope="..."): 0x20-0x7e without '"' and '\'
 * (RFC 6750 section 3 allows no quoted-pair there).
 */
int microshop_header_qtext_ok(const unsigned char *s, size_t len);

/*
 * 1 when s can be an sf-string of RFC 8941 section 3.3.3: 0x20-0x7e ('"'
 * and '\' are escaped by microshop_header_sf_string()).
 */
int microshop_header_sf_string_ok(const unsigned char *s, size_t len);

/*
 * Writes s (which passed microshop_header_sf_string_ok()) as an sf-string:
 * in quotes, '"' and '\' escaped by a '\'.  Returns the bytes written;
 * with out NULL only counts them (at most 2 * len + 2).
 */
size_t microshop_header_sf_string(unsigned char *out, const unsigned char *s,
    size_t len);

/*
 * 1 when the header name, read as the backends behind the gateway read
 * names, begins with prefix (lower case letters, digits and '-'): ASCII
 * letters in any case, and every byte that is neither a letter nor a
 * digit as '-'.  CGI, FastCGI, WSGI, Rack and PHP map '-' and '_' (and
 * often every other byte) to one '_', so "X-Microshop_Seller",
 * "x_microshop_seller" and "X.Microshop.Seller" all reach them as
 * X-Microshop-Seller.
 */
int microshop_header_name_has_prefix(const unsigned char *name, size_t len,
    const char *prefix);


#endif /* _MICROSHOP_HEADER_H_INCLUDED_ */
