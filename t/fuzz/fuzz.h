/*
 * ngx_microshop -- what the fuzz targets share (how to run them: the head
 * of t/fuzz/Makefile).  Each fuzz_<name>.c defines LLVMFuzzerTestOneInput();
 * it is linked with libFuzzer (clang, make fuzz) or with replay_main.c
 * (gcc, make fuzz-replay: every file of the committed corpus once).
 *
 * A target checks what the pure file promises (an oracle) and calls
 * FUZZ_CHECK(), which aborts, when it breaks: a finding like a crash.
 */

#ifndef _MICROSHOP_FUZZ_H_INCLUDED_
#define _MICROSHOP_FUZZ_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>


#define FUZZ_CHECK(cond)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: oracle failed: %s\n", __FILE__,          \
                    __LINE__, #cond);                                        \
            abort();                                                         \
        }                                                                    \
    } while (0)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The bytes as a file for the parsers that read one (key files, JWKS):
 * a memfd written anew on each call, so no disk is touched.  Returns a
 * path ("/proc/self/fd/N") valid until the next call.
 */
const char *fuzz_file(const uint8_t *data, size_t size);

/* a malloc()ed copy with a NUL after the data (free() it) */
char *fuzz_strdup(const uint8_t *data, size_t size);


#endif /* _MICROSHOP_FUZZ_H_INCLUDED_ */
