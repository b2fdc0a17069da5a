/*
 * ngx_microshop -- a main() for the fuzz targets without libFuzzer: feeds
 * every file named on the command line (a directory: each file in it) to
 * LLVMFuzzerTestOneInput() once.  Built with gcc and
 * -fsanitize=address,undefined by make fuzz-replay (part of make test),
 * so the committed corpus runs on a machine without clang.
 */

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"


int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));


static int
replay_file(const char *path)
{
    FILE     *f;
    long      len;
    uint8_t  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        perror(path);
        fclose(f);
        return -1;
    }

    /* an exact-size buffer, so ASan sees a read past the input */
    buf = malloc(len ? (size_t) len : 1);
    FUZZ_CHECK(buf != NULL);

    if (fread(buf, 1, (size_t) len, f) != (size_t) len) {
        perror(path);
        free(buf);
        fclose(f);
        return -1;
    }

    fclose(f);

    LLVMFuzzerTestOneInput(buf, (size_t) len);
    free(buf);

    return 0;
}


int
main(int argc, char **argv)
{
    int             i, n;
    char            path[4096];
    DIR            *d;
    struct stat     st;
    struct dirent  *e;

    if (LLVMFuzzerInitialize) {
        LLVMFuzzerInitialize(&argc, &argv);
    }

    n = 0;

    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }

        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) != 0) {
                return 1;
            }

            n++;
            continue;
        }

        d = opendir(argv[i]);
        if (d == NULL) {
            perror(argv[i]);
            return 1;
        }

        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') {
                continue;
            }

            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);

            if (replay_file(path) != 0) {
                closedir(d);
                return 1;
            }

            n++;
        }

        closedir(d);
    }

    printf("%s: %d inputs replayed\n", argv[0], n);

    return 0;
}
