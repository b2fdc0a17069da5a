/*
 * ngx_microshop -- helpers of the fuzz targets, see fuzz.h.
 */

#define _GNU_SOURCE

#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "fuzz.h"


const char *
fuzz_file(const uint8_t *data, size_t size)
{
    static int   fd = -1;
    static char  path[64];
    size_t       done;
    ssize_t      n;

    if (fd == -1) {
        fd = memfd_create("microshop-fuzz", 0);
        FUZZ_CHECK(fd != -1);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }

    FUZZ_CHECK(ftruncate(fd, 0) == 0);

    for (done = 0; done < size; done += (size_t) n) {
        n = pwrite(fd, data + done, size - done, (off_t) done);
        FUZZ_CHECK(n > 0);
    }

    return path;
}


char *
fuzz_strdup(const uint8_t *data, size_t size)
{
    char  *s;

    s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);

    if (size) {
        memcpy(s, data, size);
    }

    s[size] = '\0';

    return s;
}
