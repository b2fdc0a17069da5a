/*
 * ngx_microshop -- reading key files (pure logic, no nginx headers), for
 * microshop_token_pem.c and microshop_token_jwk.c.
 */

#ifndef _MICROSHOP_TOKEN_FILE_H_INCLUDED_
#define _MICROSHOP_TOKEN_FILE_H_INCLUDED_


#include <stddef.h>


/*
 * Reads a whole file (under 1 MiB) into a malloc()ed buffer with a NUL
 * after the data.  Returns 0, or -1 with why set (and *data NULL).
 */
int microshop_read_file(const char *path, unsigned char **data, size_t *len,
    char *why, size_t whylen);

/* wipes and frees what microshop_read_file() gave; NULL is fine */
void microshop_free_file(unsigned char *data, size_t len);

#endif /* _MICROSHOP_TOKEN_FILE_H_INCLUDED_ */
