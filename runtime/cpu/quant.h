/*
 * quant.h: the CPU's per-type kernels: dequantize, quantize, and the dot
 * product of a weight row with an activation row.
 *
 * Weights stay in their GGUF block format. As llama.cpp does, a dot product
 * with a quantized weight row takes the activations quantized to the type's
 * vec_dot_type (Q8_0 for the 32-element block types and NVFP4, Q8_1 for
 * Q4_1/Q5_1, Q8_K for the k-quants, the IQ1/IQ2/IQ3/IQ4_XS i-quants and
 * TQ1_0/TQ2_0; F16/BF16/F32 rows against the same type or F32), so results match llama.cpp's numerics and the inner loop is
 * integer arithmetic.
 *
 * Two tables: cpu_quant_ref() holds the portable scalar reference of every
 * kernel (the definition of correct, used by tests), cpu_quant() the fastest
 * variant for this CPU (AVX-512, AVX2 or scalar), chosen once at run time.
 * Every SIMD kernel is tested against the reference on random data.
 */
#ifndef RF_RUNTIME_CPU_QUANT_H
#define RF_RUNTIME_CPU_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "support/types.h"

/* y[0..n) = dequantized x; n is a multiple of the block size */
typedef void (*cpu_to_float_fn)(const void *x, float *y, int64_t n);
/* quantize x[0..n) into blocks at y (round-to-nearest, as ggml's reference
 * quantize_row_*_ref; used for activations and by tests) */
typedef void (*cpu_from_float_fn)(const float *x, void *y, int64_t n);
/* *s = dot(x, y) over n elements: x a weight row of the type, y a row of
 * vec_dot_type */
typedef void (*cpu_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);
/* s[r*ds] = dot(x, y + r*dy) for r = 0..3: one weight row against four
 * activation rows (dy bytes apart), each result bit for bit vec_dot's;
 * prefill's matmul uses it to unpack each weight block once per four rows */
typedef void (*cpu_vec_dot_x4_fn)(int64_t n, float *s, int64_t ds, const void *x, const void *y, int64_t dy);

typedef struct cpu_quant_traits {
    ggml_type type;
    ggml_type vec_dot_type;
    cpu_to_float_fn to_float;     /* NULL: type not supported on the CPU */
    cpu_from_float_fn from_float; /* NULL where no quantizer is needed */
    cpu_vec_dot_fn vec_dot;
    const char *isa;              /* "scalar", "avx2", "avx512" */
    cpu_vec_dot_x4_fn vec_dot_x4; /* NULL: four vec_dot calls */
} cpu_quant_traits;

/* The scalar reference for type t, or NULL when the CPU backend does not
 * support it. */
const cpu_quant_traits *cpu_quant_ref(ggml_type t);
/* The fastest variant this CPU runs, or NULL when unsupported. Set
 * ROCMFORGE_CPU_ISA=scalar|avx2|avx512 to cap the choice (tests, bench). */
const cpu_quant_traits *cpu_quant(ggml_type t);
/* One row of a model file quantized as ggml_quantize_chunk writes it: qw
 * the row's importance weights (n floats, from an importance matrix) or
 * NULL. Types whose ggml quantizer ignores the weights ignore them here. */
typedef void (*cpu_quantize_row_fn)(const float *x, void *y, int64_t n, const float *qw);
/* The quantizer of model files for t, NULL when t has none here. */
cpu_quantize_row_fn cpu_quantize_file_fn(ggml_type t);
/* Whether t's quantizer cannot run without weights (ggml's
 * ggml_quantize_requires_imatrix: IQ2_XXS, IQ2_XS, IQ1_S); it asserts. */
bool cpu_quantize_needs_weights(ggml_type t);

#endif
