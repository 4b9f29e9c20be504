/*
 * ggml_ref.h: ggml's CPU kernels as the quant suites' reference, dlopen'd
 * from the fetched llama.cpp build (test_ref_dir()/lib): ggml's type-traits
 * structs as its headers declare them, and a loader for libggml-base and the
 * libggml-cpu-<variant>.so this CPU would load.
 *
 * Nothing here is linked against ggml; a suite that needs more of
 * libggml-base than the traits looks it up with dlsym(ref.base, ...).
 */
#ifndef RF_TEST_GGML_REF_H
#define RF_TEST_GGML_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- ggml, as its headers declare it (ggml.h, ggml-cpu.h) ------------- */

typedef void (*ggml_to_float_t)(const void *x, float *y, int64_t k);
typedef void (*ggml_from_float_t)(const float *x, void *y, int64_t k);
typedef void (*ggml_vec_dot_t)(int n, float *s, size_t bs, const void *x, size_t bx,
                               const void *y, size_t by, int nrc);
struct ref_type_traits { /* struct ggml_type_traits */
    const char *type_name;
    int64_t blck_size;
    int64_t blck_size_interleave;
    size_t type_size;
    bool is_quantized;
    ggml_to_float_t to_float;
    ggml_from_float_t from_float_ref;
};
struct ref_type_traits_cpu { /* struct ggml_type_traits_cpu */
    ggml_from_float_t from_float;
    ggml_vec_dot_t vec_dot;
    int vec_dot_type;
    int64_t nrows;
};

typedef struct test_ggml {
    void *base;                                           /* libggml-base.so */
    const struct ref_type_traits *(*traits)(int);         /* ggml_get_type_traits */
    const struct ref_type_traits_cpu *(*traits_cpu)(int); /* ggml_get_type_traits_cpu */
    const char *cpu_variant;                              /* of the libggml-cpu loaded */
} test_ggml;

/* Loads libggml-base and the best libggml-cpu-<variant>.so this CPU runs
 * (ggml_cpu_init called): 0, or -1 with the reason on stderr, when a library
 * or either traits function is missing. */
int test_ggml_load(test_ggml *ref);

/* does the CPU have F16C (which __builtin_cpu_supports cannot name)? */
bool test_cpu_has_f16c(void);

#endif
