/*
 * llama_dl.c: opening the prebuilt llama.cpp libraries for the reference
 * tools (llama_dl.h).
 */
#define _GNU_SOURCE
#include "llama_dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

const char *llama_dl_dir(void)
{
    static char buf[4096];
    const char *e = getenv("ROCMFORGE_REF_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (e && *e)
        snprintf(buf, sizeof buf, "%s/lib", e);
    else if (xdg && *xdg)
        snprintf(buf, sizeof buf, "%s/rocmforge-ref/lib", xdg);
    else
        snprintf(buf, sizeof buf, "%s/.cache/rocmforge-ref/lib", home ? home : "/tmp");
    return buf;
}

void *llama_dl_open(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", llama_dl_dir(), name);
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "%s: cannot load %s: %s (run scripts/fetch-reference.sh)\n",
                program_invocation_short_name, path, dlerror());
        exit(2);
    }
    return lib;
}

void *llama_dl_sym(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "%s: symbol not found: %s: %s\n", program_invocation_short_name, name, dlerror());
        exit(2);
    }
    return p;
}
