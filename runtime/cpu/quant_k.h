/*
 * quant_k.h: the super-block layouts of the k-quants, Q8_K and IQ4_XS, and
 * the kernels the files that implement them share.
 *
 * A super-block covers QK_K = 256 elements. The layouts are GGUF's (and so
 * ggml's, ggml-common.h) byte for byte; every struct carries a
 * _Static_assert on the size gguf.h's type table gives. ggml_half is stored
 * as uint16_t; fp16 values are converted with cpu_fp16_to_f32 (quant.c) in
 * the scalar code and F16C in the SIMD files.
 *
 * Files: quant_k.c (scalar to_float, vec_dot, Q8_K quantizer, the reference
 * table fill), quant_k_quantize.c (the weight quantizers), quant_k_avx2.c and
 * quant_k_avx512.c (SIMD kernels, each compiled with its own -m flags),
 * quant_k_x86.c (run-time choice among them).
 */
#ifndef RF_RUNTIME_CPU_QUANT_K_H
#define RF_RUNTIME_CPU_QUANT_K_H

#include <stdint.h>

#include "runtime/cpu/quant_legacy.h" /* cpu_kvalues_iq4nl: IQ4_XS shares IQ4_NL's grid */

#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct cpu_block_q2_k {
    uint8_t scales[QK_K / 16]; /* low nibble scale, high nibble min */
    uint8_t qs[QK_K / 4];      /* 2-bit quants */
    uint16_t d;                /* fp16 super-block scale of the scales */
    uint16_t dmin;             /* fp16 super-block scale of the mins */
} cpu_block_q2_k;
_Static_assert(sizeof(cpu_block_q2_k) == 84, "q2_k block size");

typedef struct cpu_block_q3_k {
    uint8_t hmask[QK_K / 8]; /* high bit of each quant */
    uint8_t qs[QK_K / 4];    /* low 2 bits */
    uint8_t scales[12];      /* 16 6-bit scales, biased by 32 */
    uint16_t d;
} cpu_block_q3_k;
_Static_assert(sizeof(cpu_block_q3_k) == 110, "q3_k block size");

typedef struct cpu_block_q4_k {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE]; /* 8 6-bit scales and 8 6-bit mins */
    uint8_t qs[QK_K / 2];
} cpu_block_q4_k;
_Static_assert(sizeof(cpu_block_q4_k) == 144, "q4_k block size");

typedef struct cpu_block_q5_k {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8]; /* fifth bit */
    uint8_t qs[QK_K / 2]; /* low nibbles */
} cpu_block_q5_k;
_Static_assert(sizeof(cpu_block_q5_k) == 176, "q5_k block size");

typedef struct cpu_block_q6_k {
    uint8_t ql[QK_K / 2];     /* low 4 bits */
    uint8_t qh[QK_K / 4];     /* high 2 bits */
    int8_t scales[QK_K / 16]; /* signed 8-bit scales */
    uint16_t d;
} cpu_block_q6_k;
_Static_assert(sizeof(cpu_block_q6_k) == 210, "q6_k block size");

typedef struct cpu_block_q8_k {
    float d;
    int8_t qs[QK_K];          /* in [-127, 127], never -128 */
    int16_t bsums[QK_K / 16]; /* sum of each 16 consecutive qs */
} cpu_block_q8_k;
_Static_assert(sizeof(cpu_block_q8_k) == 292, "q8_k block size");

typedef struct cpu_block_iq4_xs {
    uint16_t d;
    uint16_t scales_h;          /* high 2 bits of the 8 6-bit scales */
    uint8_t scales_l[QK_K / 64]; /* low 4 bits */
    uint8_t qs[QK_K / 2];       /* 4-bit indices into cpu_kvalues_iq4nl */
} cpu_block_iq4_xs;
_Static_assert(sizeof(cpu_block_iq4_xs) == 136, "iq4_xs block size");

/* Q4_K / Q5_K: the 8 6-bit scales and 8 6-bit mins packed in 12 bytes. */
static inline void cpu_k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q3_K: the 16 6-bit scales, unbiased, into out[16]. */
static inline void cpu_q3_k_scales(const uint8_t *q, int8_t out[16])
{
    for (int j = 0; j < 16; ++j) {
        int lo = j < 8 ? q[j] & 0xF : q[j - 8] >> 4;
        int hi = (q[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* scalar (quant_k_quantize.c): ggml's reference quantizers, bit-exact */
void cpu_quantize_q2_k_ref(const float *x, void *y, int64_t n);
void cpu_quantize_q3_k_ref(const float *x, void *y, int64_t n);
void cpu_quantize_q4_k_ref(const float *x, void *y, int64_t n);
void cpu_quantize_q5_k_ref(const float *x, void *y, int64_t n);
void cpu_quantize_q6_k_ref(const float *x, void *y, int64_t n);
void cpu_quantize_iq4_xs_ref(const float *x, void *y, int64_t n);
/* The same with importance weights qw[0..n) (NULL: the above), as
 * ggml_quantize_chunk writes model files (cpu_quantize_file_fn). */
void cpu_quantize_q2_k(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_q3_k(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_q4_k(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_q5_k(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_q6_k(const float *x, void *y, int64_t n, const float *qw);
void cpu_quantize_iq4_xs(const float *x, void *y, int64_t n, const float *qw);

/* ggml's scale fits (quant_k_quantize.c), shared by the quantizers:
 * make_qx_quants (rmse_type 1; qw NULL weighs by x^2), make_qkx2/3_quants,
 * make_qp_quants. Each returns the scale. */
float cpu_fit_qx(int n, int nmax, const float *x, int8_t *L, const float *qw);
float cpu_fit_qkx(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                  uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad);
float cpu_fit_qp(int n, int nmax, const float *x, uint8_t *L, const float *qw);

/* AVX2 (quant_k_avx2.c): also uses FMA and F16C */
void cpu_vec_dot_q2_k_avx2(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_q3_k_avx2(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_q4_k_avx2(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_q5_k_avx2(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_q6_k_avx2(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_iq4_xs_avx2(int64_t n, float *s, const void *x, const void *y);
void cpu_quantize_q8_k_avx2(const float *x, void *y, int64_t n);

/* AVX-512 F+BW+VL (quant_k_avx512.c) */
void cpu_vec_dot_q2_k_avx512(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_q3_k_avx512(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_q4_k_avx512(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_q5_k_avx512(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_q6_k_avx512(int64_t n, float *s, const void *x, const void *y);
void cpu_vec_dot_iq4_xs_avx512(int64_t n, float *s, const void *x, const void *y);
void cpu_quantize_q8_k_avx512(const float *x, void *y, int64_t n);
void cpu_vec_dot_q4_k_x4_avx512(int64_t n, float *s, int64_t ds, const void *x, const void *y, int64_t dy);
void cpu_vec_dot_q6_k_x4_avx512(int64_t n, float *s, int64_t ds, const void *x, const void *y, int64_t dy);

#endif
