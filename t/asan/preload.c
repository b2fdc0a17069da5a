/*
 * ngx_microshop -- preloaded into nginx after the ASan runtime by
 * scripts/asan-suite (built by make build-asan).
 *
 * - UBSan (its own runtime, libubsan, loaded with the module) reads its
 *   options at its first report, in a worker, whose environment nginx has
 *   cleared.  The options are kept here when nginx starts and handed to
 *   UBSan through __ubsan_default_options(), which it calls then.  Their
 *   log_path is what UBSan sets as the ASan runtime's report path (t/harness.py
 *   gives ASan's own); UBSan's own reports go to MICROSHOP_UBSAN_LOG, set
 *   here in its copy of the runtime.  The two paths differ: each runtime
 *   opens (and truncates) its file itself.
 * - nginx unloads the module (dlclose) when it frees its cycle, before
 *   LeakSanitizer looks at the heap at exit: the frames of the module
 *   would show as "<unknown module>".  dlclose() is a no-op here.
 */

#define _GNU_SOURCE

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>


static char  ubsan_options[4096];
static char  ubsan_log[4096];


static void
keep(const char *name, char *buf, size_t size)
{
    const char  *v;

    v = getenv(name);

    if (v != NULL && strlen(v) < size) {
        strcpy(buf, v);
    }
}


__attribute__((constructor))
static void
keep_options(void)
{
    keep("UBSAN_OPTIONS", ubsan_options, sizeof(ubsan_options));
    keep("MICROSHOP_UBSAN_LOG", ubsan_log, sizeof(ubsan_log));
}


const char *
__ubsan_default_options(void)
{
    void   *ubsan;
    void  (*set_path)(const char *);

    ubsan = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);

    if (ubsan != NULL && ubsan_log[0] != '\0') {
        /* UBSan's own copy, not the ASan runtime's */
        set_path = (void (*)(const char *))
                       dlsym(ubsan, "__sanitizer_set_report_path");
        if (set_path != NULL) {
            set_path(ubsan_log);
        }
    }

    return ubsan_options;
}


int
dlclose(void *handle)
{
    (void) handle;

    return 0;
}
