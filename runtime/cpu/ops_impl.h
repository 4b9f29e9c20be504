/*
 * ops_impl.h: the inner loops of ops.c that have SIMD variants.
 *
 * ops.c fills a table with its portable scalar loops once, then lets
 * ops_x86.c (built with -mavx2 -mfma -mf16c) or ops_avx512.c overwrite the
 * entries for the best ISA the CPU has (the same test as quant.c's: AVX2
 * needs avx2+fma+f16c, AVX-512 also avx512f+bw+vl), capped by
 * ROCMFORGE_CPU_ISA=scalar|avx2. Every SIMD loop
 * agrees with its scalar one to rounding (summation order, a polynomial exp
 * within 2 ulp), which tests/test_cpu_ops.c checks.
 */
#ifndef RF_RUNTIME_CPU_OPS_IMPL_H
#define RF_RUNTIME_CPU_OPS_IMPL_H

#include <stdint.h>

typedef struct cpu_ops_kernels {
    /* sum x[i]*x[i], products rounded to f32, sum in double (as ggml) */
    double (*sumsq)(const float *x, int64_t n);
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    float (*dot_f16)(const float *a, const uint16_t *b, int64_t n);
    /* y += a * x */
    void (*axpy_f32)(float *y, float a, const float *x, int64_t n);
    void (*axpy_f16)(float *y, float a, const uint16_t *x, int64_t n);
    /* y = exp(x - max), returns the sum in double */
    double (*exp_sum)(float *y, const float *x, float max, int64_t n);
    /* y = f16(x), round to nearest even (NaN stays NaN, payload aside) */
    void (*to_f16)(const float *x, uint16_t *y, int64_t n);
    /* y = silu(g) [* u when u != NULL] */
    void (*silu)(const float *g, const float *u, float *y, int64_t n);
    const char *isa;
} cpu_ops_kernels;

const cpu_ops_kernels *cpu_ops_kernels_get(void);
void cpu_ops_fill_x86(cpu_ops_kernels *k);
void cpu_ops_fill_avx512(cpu_ops_kernels *k);

#endif
