/*
 * quant_legacy.h: the block layouts of the 32-element quant types, shared by
 * the scalar reference (quant_legacy.c) and its x86 variants
 * (quant_legacy_x86.c, quant_legacy_avx512.c).
 *
 * Each struct is byte-for-byte the GGUF block (ggml-common.h), its size
 * checked against GGML_TYPE_LIST; scales are raw IEEE half bits (or an E8M0
 * exponent for MXFP4), read through quant_impl.h's converters.
 */
#ifndef RF_RUNTIME_CPU_QUANT_LEGACY_H
#define RF_RUNTIME_CPU_QUANT_LEGACY_H

#include <stdint.h>

#include "runtime/cpu/quant_impl.h"

#define CPU_QK 32 /* elements per block of every type here */

typedef struct { uint16_t d; uint8_t qs[16]; } cpu_block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } cpu_block_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } cpu_block_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } cpu_block_q5_1;
typedef struct { uint16_t d; int8_t qs[32]; } cpu_block_q8_0;
typedef struct { uint16_t d, s; int8_t qs[32]; } cpu_block_q8_1; /* s = d * sum(qs) */
typedef struct { uint16_t d; uint8_t qs[16]; } cpu_block_iq4_nl;
typedef struct { uint8_t e; uint8_t qs[16]; } cpu_block_mxfp4;  /* e: E8M0 exponent */

/* Non-linear code books: IQ4_NL's 16 levels and MXFP4's E2M1 values doubled
 * (so they are integers; the block scale is halved to match). */
extern const int8_t cpu_kvalues_iq4nl[16];
extern const int8_t cpu_kvalues_mxfp4[16];

/* 2^(e-128): half the E8M0 scale, as ggml's GGML_E8M0_TO_FP32_HALF */
static inline float cpu_e8m0_to_f32_half(uint8_t e)
{
    union { uint32_t u; float f; } v;
    v.u = e < 2 ? UINT32_C(0x00200000) << e : (uint32_t)(e - 1) << 23;
    return v.f;
}

/* Every half as a float, filled by cpu_quant_fill_legacy_x86 before any x86
 * kernel runs. The SIMD loops read block scales through it, as ggml-cpu does
 * on x86: a load is cheaper there than vpinsrw + vcvtph2ps, twice a block. */
extern float cpu_f16_table[65536];

/* The scalar reference kernels the x86 files fall back to for a tail. */
void cpu_vec_dot_q4_0_q8_0_ref(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_q4_1_q8_1_ref(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_q5_0_q8_0_ref(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_q5_1_q8_1_ref(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_q8_0_q8_0_ref(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_iq4_nl_q8_0_ref(int64_t n, float *s, const void *x, const void *y);
/* The quantizers of model files (cpu_quantize_file_fn): what
 * ggml_quantize_chunk writes, with importance weights qw[0..n) or without
 * (NULL). IQ4_NL's searches the block scale where its from_float
 * (quantize_row_iq4_nl_ref) does not. */
void cpu_quantize_q4_0(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_q4_1(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_q5_0(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_q5_1(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_iq4_nl(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_q1_0(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_q2_0(const float *x, void *y, int64_t n, const float *qw);
void cpu_vec_dot_mxfp4_q8_0_ref(int64_t n, float *s, const void *x, const void *y);

/* quant_legacy_avx512.c: overwrites the entries it has AVX-512 kernels for;
 * called by cpu_quant_fill_legacy_x86 after its AVX2 pass. */
void cpu_quant_fill_legacy_avx512(cpu_quant_traits tbl[GGML_TYPE_COUNT]);

#endif
