/*
 * ggml_ref.c: loading ggml's CPU kernels for the quant suites (ggml_ref.h).
 *
 * libggml-base is opened RTLD_GLOBAL so that the libggml-cpu variant opened
 * after it resolves against it. The variant is the one ggml's own loader
 * would pick on this CPU: the first of a best-first list whose features the
 * CPU has and whose library opens; x64 needs nothing.
 */
#include "ggml_ref.h"

#include "test_util.h"

#include <cpuid.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

bool test_cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}

static bool cpu_has(const char *f)
{
    /* __builtin_cpu_supports needs a literal: test the few we name */
    return strcmp(f, "avx512f") == 0      ? __builtin_cpu_supports("avx512f")
           : strcmp(f, "avx512bw") == 0   ? __builtin_cpu_supports("avx512bw")
           : strcmp(f, "avx512vl") == 0   ? __builtin_cpu_supports("avx512vl")
           : strcmp(f, "avx512cd") == 0   ? __builtin_cpu_supports("avx512cd")
           : strcmp(f, "avx512vnni") == 0 ? __builtin_cpu_supports("avx512vnni")
           : strcmp(f, "avx512bf16") == 0 ? __builtin_cpu_supports("avx512bf16")
           : strcmp(f, "avx512vbmi") == 0 ? __builtin_cpu_supports("avx512vbmi")
           : strcmp(f, "avx2") == 0       ? __builtin_cpu_supports("avx2")
           : strcmp(f, "fma") == 0        ? __builtin_cpu_supports("fma")
           : strcmp(f, "f16c") == 0       ? test_cpu_has_f16c()
           : strcmp(f, "bmi2") == 0       ? __builtin_cpu_supports("bmi2")
           : strcmp(f, "sse4.2") == 0     ? __builtin_cpu_supports("sse4.2")
                                          : false;
}

int test_ggml_load(test_ggml *ref)
{
    *ref = (test_ggml){.cpu_variant = "?"};
    char path[4096];
    snprintf(path, sizeof path, "%s/lib/libggml-base.so", test_ref_dir());
    ref->base = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!ref->base) {
        fprintf(stderr, "\n  dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    *(void **)&ref->traits = dlsym(ref->base, "ggml_get_type_traits");
    /* the ggml-cpu build this CPU would load, best first */
    static const struct { const char *name, *need[4]; } variants[] = {
        {"zen4", {"avx512f", "avx512bw", "avx512vnni", "avx512bf16"}},
        {"icelake", {"avx512f", "avx512bw", "avx512vnni", "avx512vbmi"}},
        {"skylakex", {"avx512f", "avx512bw", "avx512vl", "avx512cd"}},
        {"haswell", {"avx2", "fma", "f16c", "bmi2"}},
        {"sse42", {"sse4.2"}},
        {"x64", {0}},
    };
    __builtin_cpu_init();
    for (size_t v = 0; v < sizeof variants / sizeof variants[0] && !ref->traits_cpu; v++) {
        bool ok = true;
        for (int k = 0; k < 4 && variants[v].need[k]; k++)
            ok = ok && cpu_has(variants[v].need[k]);
        if (!ok)
            continue;
        snprintf(path, sizeof path, "%s/lib/libggml-cpu-%s.so", test_ref_dir(), variants[v].name);
        void *cpu = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
        if (!cpu)
            continue;
        void (*init)(void);
        *(void **)&init = dlsym(cpu, "ggml_cpu_init");
        *(void **)&ref->traits_cpu = dlsym(cpu, "ggml_get_type_traits_cpu");
        if (init)
            init();
        ref->cpu_variant = variants[v].name;
    }
    if (!ref->traits || !ref->traits_cpu) {
        fprintf(stderr, "\n  ggml symbols missing under %s/lib\n", test_ref_dir());
        return -1;
    }
    return 0;
}
