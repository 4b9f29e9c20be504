/*
 * quant_iq.h: the block layouts of the i-quants on lattices (IQ1_S, IQ1_M,
 * IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S), the ternary types (TQ1_0,
 * TQ2_0) and NVFP4, and the lattice tables they index.
 *
 * Each struct is the GGUF block byte for byte (ggml-common.h), its size
 * checked against support/types.h. Multi-byte fields are little-endian in
 * the file; the structs read them as native integers, as the rest of the
 * CPU backend does (it runs on little-endian hosts only).
 *
 * Files: quant_iq_grids.c (the lattices, format data), quant_iq.c (scalar
 * to_float and vec_dot, the reference table fill), quant_iq_avx2.c (SIMD
 * dot products of the most used types), quant_iq_x86.c (which of those this
 * CPU runs), quant_iq_quantize.c (the quantizers of model files).
 */
#ifndef RF_RUNTIME_CPU_QUANT_IQ_H
#define RF_RUNTIME_CPU_QUANT_IQ_H

#include <stdint.h>

#include "runtime/cpu/quant_k.h" /* QK_K, cpu_block_q8_k */

typedef struct cpu_block_iq2_xxs {
    uint16_t d;
    uint16_t qs[QK_K / 8]; /* per 32: 4 grid bytes, then 4x7 sign bits and a 4-bit scale */
} cpu_block_iq2_xxs;
_Static_assert(sizeof(cpu_block_iq2_xxs) == 66, "iq2_xxs block size");

typedef struct cpu_block_iq2_xs {
    uint16_t d;
    uint16_t qs[QK_K / 8];     /* 9-bit grid index, 7 sign bits */
    uint8_t scales[QK_K / 32]; /* two 4-bit scales, one per 16 */
} cpu_block_iq2_xs;
_Static_assert(sizeof(cpu_block_iq2_xs) == 74, "iq2_xs block size");

typedef struct cpu_block_iq2_s {
    uint16_t d;
    uint8_t qs[QK_K / 4];      /* 32 low grid bytes, then 32 sign bytes */
    uint8_t qh[QK_K / 32];     /* high 2 bits of the 4 grid indices of each 32 */
    uint8_t scales[QK_K / 32]; /* two 4-bit scales, one per 16 */
} cpu_block_iq2_s;
_Static_assert(sizeof(cpu_block_iq2_s) == 82, "iq2_s block size");

typedef struct cpu_block_iq3_xxs {
    uint16_t d;
    uint8_t qs[3 * QK_K / 8]; /* 64 grid bytes, then per 32: 4x7 sign bits and a 4-bit scale */
} cpu_block_iq3_xxs;
_Static_assert(sizeof(cpu_block_iq3_xxs) == 98, "iq3_xxs block size");

typedef struct cpu_block_iq3_s {
    uint16_t d;
    uint8_t qs[QK_K / 4];     /* low 8 bits of the grid indices */
    uint8_t qh[QK_K / 32];    /* their ninth bits */
    uint8_t signs[QK_K / 8];  /* one bit per element */
    uint8_t scales[QK_K / 64]; /* two 4-bit scales, one per 32 */
} cpu_block_iq3_s;
_Static_assert(sizeof(cpu_block_iq3_s) == 110, "iq3_s block size");

typedef struct cpu_block_iq1_s {
    uint16_t d;
    uint8_t qs[QK_K / 8];  /* low 8 bits of the grid indices */
    uint16_t qh[QK_K / 32]; /* per 32: 4x3 index bits, a 3-bit scale, the delta's sign */
} cpu_block_iq1_s;
_Static_assert(sizeof(cpu_block_iq1_s) == 50, "iq1_s block size");

typedef struct cpu_block_iq1_m {
    uint8_t qs[QK_K / 8];      /* low 8 bits of the grid indices */
    uint8_t qh[QK_K / 16];     /* per 8: 3 index bits and the delta's sign */
    uint8_t scales[QK_K / 32]; /* 3-bit scales per 16; the fp16 d in the top nibbles */
} cpu_block_iq1_m;
_Static_assert(sizeof(cpu_block_iq1_m) == 56, "iq1_m block size");

typedef struct cpu_block_tq1_0 {
    uint8_t qs[(QK_K - 4 * QK_K / 64) / 5]; /* 5 trits a byte, base 3 fixed point */
    uint8_t qh[QK_K / 64];                 /* 4 trits a byte */
    uint16_t d;
} cpu_block_tq1_0;
_Static_assert(sizeof(cpu_block_tq1_0) == 54, "tq1_0 block size");

typedef struct cpu_block_tq2_0 {
    uint8_t qs[QK_K / 4]; /* 2 bits each, value - 1 in {-1, 0, 1} */
    uint16_t d;
} cpu_block_tq2_0;
_Static_assert(sizeof(cpu_block_tq2_0) == 66, "tq2_0 block size");

#define QK_NVFP4 64
#define QK_NVFP4_SUB 16
typedef struct cpu_block_nvfp4 {
    uint8_t d[QK_NVFP4 / QK_NVFP4_SUB]; /* UE4M3 scale of each 16 */
    uint8_t qs[QK_NVFP4 / 2];           /* E2M1 codes, two a byte */
} cpu_block_nvfp4;
_Static_assert(sizeof(cpu_block_nvfp4) == 36, "nvfp4 block size");

/* The lattices (quant_iq_grids.c): entry i holds the coordinates of point
 * i one a byte, the first in the lowest byte. */
extern const uint64_t cpu_iq2xxs_grid[256];
extern const uint64_t cpu_iq2xs_grid[512];
extern const uint64_t cpu_iq2s_grid[1024];
extern const uint32_t cpu_iq3xxs_grid[256];
extern const uint32_t cpu_iq3s_grid[512];
extern const uint64_t cpu_iq1s_grid[2048];

/* The quantizers of model files (quant_iq_quantize.c): what
 * ggml_quantize_chunk writes, qw the row's importance weights or NULL.
 * IQ2_XXS, IQ2_XS and IQ1_S need them (ggml asserts; so do these); the
 * others fall back to weights from x alone; TQ1_0/TQ2_0 ignore them. */
void cpu_quantize_iq2_xxs(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_iq2_xs(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_iq2_s(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_iq3_xxs(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_iq3_s(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_iq1_s(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_iq1_m(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_tq1_0(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_tq2_0(const float *x, void *y, int64_t n, const float *qw);

/* AVX2 + FMA + F16C (quant_iq_avx2.c): the reference's results bit for bit */
void cpu_vec_dot_iq2_xxs_avx2(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_iq2_xs_avx2(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_iq3_xxs_avx2(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_iq1_s_avx2(int64_t n, float *s, const void *x, const void *y);

/* IQ1's delta: each weight is dl * (grid + delta), delta = +-1/8 */
#define CPU_IQ1_DELTA 0.125f

/* NVFP4's UE4M3 scale, halved as the doubled E2M1 values need (as ggml's
 * ggml_ue4m3_to_fp32): the sign bit is ignored and 0x7F (NaN) reads 0. */
static inline float cpu_ue4m3_to_f32_half(uint8_t x)
{
    if (x == 0 || x == 0x7F)
        return 0.0f;
    const int e = (x >> 3) & 0xF, m = x & 7;
    /* exact: (8 + m) 2^(e-11) for normals, m 2^-10 for subnormals */
    union { uint32_t u; float f; } p;
    p.u = (uint32_t)(e ? e - 11 + 127 : -10 + 127) << 23;
    return (float)(e ? 8 + m : m) * p.f;
}

#endif
