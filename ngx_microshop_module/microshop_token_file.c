/*
 * ngx_microshop -- reading key files (pure logic, no nginx headers), see
 * microshop_token_file.h.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "microshop_token_file.h"
#include "microshop_token_str.h"


#define MICROSHOP_KEY_FILE_MAX   (1024 * 1024)


/*
 * Reads a whole file (at most MICROSHOP_KEY_FILE_MAX bytes) into a malloc()ed
 * buffer with a NUL after the data.  Returns 0, or -1 with why set.
 */
int
microshop_read_file(const char *path, unsigned char **data, size_t *len,
    char *why, size_t whylen)
{
    FILE           *f;
    size_t          n, cap, got;
    unsigned char  *buf, *nbuf;

    *data = NULL;
    *len = 0;

    errno = 0;
    f = fopen(path, "rb");
    if (f == NULL) {
        microshop_err(why, whylen, "cannot open: %s",
                      errno ? strerror(errno) : "unknown error");
        return -1;
    }

    cap = 4096;
    n = 0;
    buf = malloc(cap + 1);
    if (buf == NULL) {
        fclose(f);
        microshop_err(why, whylen, "out of memory");
        return -1;
    }

    for ( ;; ) {
        if (n == cap) {
            if (cap >= MICROSHOP_KEY_FILE_MAX) {
                microshop_err(why, whylen, "file is larger than %d bytes",
                              MICROSHOP_KEY_FILE_MAX);
                goto failed;
            }

            nbuf = realloc(buf, 2 * cap + 1);
            if (nbuf == NULL) {
                microshop_err(why, whylen, "out of memory");
                goto failed;
            }

            buf = nbuf;
            cap *= 2;
        }

        errno = 0;
        got = fread(buf + n, 1, cap - n, f);
        n += got;

        if (got == 0) {
            if (ferror(f)) {
                microshop_err(why, whylen, "cannot read: %s",
                              errno ? strerror(errno) : "read error");
                goto failed;
            }

            break;
        }
    }

    fclose(f);

    buf[n] = '\0';
    *data = buf;
    *len = n;

    return 0;

failed:

    fclose(f);
    OPENSSL_cleanse(buf, cap + 1);
    free(buf);

    return -1;
}


void
microshop_free_file(unsigned char *data, size_t len)
{
    if (data != NULL) {
        OPENSSL_cleanse(data, len + 1);
        free(data);
    }
}
