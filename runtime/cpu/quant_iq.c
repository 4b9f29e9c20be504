/*
 * quant_iq.c: the scalar reference kernels of the lattice i-quants (IQ1_S,
 * IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S) and the ternary types
 * (TQ1_0, TQ2_0) against Q8_K, and of NVFP4 against Q8_0: the activation
 * types llama.cpp's CPU backend pairs them with.
 *
 * Every type is read the same way: unpack a block into its signed integer
 * lattice coordinates q (sign bits applied), one raw scale field s per
 * group of 16 or 32 and, for IQ1, the sign of each 8's delta. Then
 *   to_float  applies the type's float formula in ggml's order
 *             (dequantize_row_*), so a dequantized weight is libggml's to the
 *             bit: the sign is applied to the lattice integer rather than to
 *             the float product, which is the same number since rounding is
 *             symmetric;
 *   vec_dot   takes integer dots per group, weights them by the odd integer
 *             scale 2s+1 (every lattice type's scale is (2s+1)/k for a
 *             fixed k), and combines the block in float exactly as ggml's
 *             generic kernel does (ggml_vec_dot_*_generic), so it equals that
 *             kernel; ggml's SIMD kernels sum in other orders and agree to
 *             float rounding.
 * This file is built without FMA flags and under ISO C, where GCC does not
 * contract a*b+c, which the bit-exact claims rely on.
 *
 * There is no quantizer for the lattice types (llama.cpp's needs an
 * importance matrix for most of them and a lattice search for all), nor
 * yet for TQ1_0, TQ2_0 and NVFP4: from_float is NULL.
 */
#include "runtime/cpu/quant_iq.h"

#include <string.h>

#include "runtime/cpu/quant_impl.h"
#include "runtime/cpu/quant_legacy.h"

/* The 8 sign bits of a group of 8 from the 7 stored ones: the eighth makes
 * the count of minus signs even (GGUF's ksigns_iq2xs table is this). */
static inline unsigned signs8(unsigned s7)
{
    return s7 | (unsigned)(__builtin_popcount(s7) & 1) << 7;
}

/* coordinate j of a packed lattice point */
static inline int coord64(uint64_t g, int j) { return (int)((g >> (8 * j)) & 0xFF); }
static inline int coord32(uint32_t g, int j) { return (int)((g >> (8 * j)) & 0xFF); }

/* 8 coordinates of a magnitude lattice point with signs: q[j] = +-g[j] */
static inline void put8(int8_t *q, uint64_t g, unsigned signs)
{
    for (int j = 0; j < 8; ++j)
        q[j] = (int8_t)((signs >> j & 1) ? -coord64(g, j) : coord64(g, j));
}

static inline uint32_t le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ---- unpacking ----------------------------------------------------------- */

/* IQ2_XXS: per 32, a little-endian pair of words: four grid bytes, then
 * four 7-bit sign fields and the 4-bit scale in the top bits. s: per 32. */
static void unpack_iq2_xxs(const cpu_block_iq2_xxs *b, int8_t q[QK_K], uint8_t s[8])
{
    const uint8_t *p = (const uint8_t *)b->qs;
    for (int ib = 0; ib < 8; ++ib, p += 8) {
        const uint32_t sg = le32(p + 4);
        s[ib] = (uint8_t)(sg >> 28);
        for (int l = 0; l < 4; ++l)
            put8(q + 32 * ib + 8 * l, cpu_iq2xxs_grid[p[l]], signs8((sg >> (7 * l)) & 127));
    }
}

/* IQ2_XS: each 16-bit word a 9-bit grid index and 7 sign bits. s: per 16. */
static void unpack_iq2_xs(const cpu_block_iq2_xs *b, int8_t q[QK_K], uint8_t s[16])
{
    for (int ib = 0; ib < 8; ++ib) {
        s[2 * ib] = b->scales[ib] & 0xF;
        s[2 * ib + 1] = b->scales[ib] >> 4;
    }
    for (int l = 0; l < 32; ++l)
        put8(q + 8 * l, cpu_iq2xs_grid[b->qs[l] & 511], signs8(b->qs[l] >> 9));
}

/* IQ2_S: 10-bit grid indices (a byte, two bits of qh), a sign byte each 8.
 * s: per 16. */
static void unpack_iq2_s(const cpu_block_iq2_s *b, int8_t q[QK_K], uint8_t s[16])
{
    const uint8_t *signs = b->qs + QK_K / 8;
    for (int ib = 0; ib < 8; ++ib) {
        s[2 * ib] = b->scales[ib] & 0xF;
        s[2 * ib + 1] = b->scales[ib] >> 4;
        for (int l = 0; l < 4; ++l) {
            const int idx = b->qs[4 * ib + l] | ((b->qh[ib] << (8 - 2 * l)) & 0x300);
            put8(q + 32 * ib + 8 * l, cpu_iq2s_grid[idx], signs[4 * ib + l]);
        }
    }
}

/* IQ3_XXS: two 4-wide grid points per 8, signs and scale as IQ2_XXS's in
 * the word after the grid bytes. s: per 32. */
static void unpack_iq3_xxs(const cpu_block_iq3_xxs *b, int8_t q[QK_K], uint8_t s[8])
{
    const uint8_t *gas = b->qs + QK_K / 4;
    for (int ib = 0; ib < 8; ++ib) {
        const uint32_t sg = le32(gas + 4 * ib);
        s[ib] = (uint8_t)(sg >> 28);
        for (int l = 0; l < 4; ++l) {
            const unsigned sgn = signs8((sg >> (7 * l)) & 127);
            const uint32_t g1 = cpu_iq3xxs_grid[b->qs[8 * ib + 2 * l]];
            const uint32_t g2 = cpu_iq3xxs_grid[b->qs[8 * ib + 2 * l + 1]];
            int8_t *o = q + 32 * ib + 8 * l;
            for (int j = 0; j < 4; ++j) {
                o[j] = (int8_t)((sgn >> j & 1) ? -coord32(g1, j) : coord32(g1, j));
                o[j + 4] = (int8_t)((sgn >> (j + 4) & 1) ? -coord32(g2, j) : coord32(g2, j));
            }
        }
    }
}

/* IQ3_S: 9-bit indices of 4-wide points (ninth bit in qh), a sign bit per
 * element. s: per 32. */
static void unpack_iq3_s(const cpu_block_iq3_s *b, int8_t q[QK_K], uint8_t s[8])
{
    for (int ib = 0; ib < 8; ++ib) {
        s[ib] = ib % 2 ? b->scales[ib / 2] >> 4 : b->scales[ib / 2] & 0xF;
        for (int l = 0; l < 4; ++l) {
            const uint8_t *qs = b->qs + 8 * ib + 2 * l;
            const uint32_t g1 = cpu_iq3s_grid[qs[0] | ((b->qh[ib] << (8 - 2 * l)) & 256)];
            const uint32_t g2 = cpu_iq3s_grid[qs[1] | ((b->qh[ib] << (7 - 2 * l)) & 256)];
            const unsigned sgn = b->signs[4 * ib + l];
            int8_t *o = q + 32 * ib + 8 * l;
            for (int j = 0; j < 4; ++j) {
                o[j] = (int8_t)((sgn >> j & 1) ? -coord32(g1, j) : coord32(g1, j));
                o[j + 4] = (int8_t)((sgn >> (j + 4) & 1) ? -coord32(g2, j) : coord32(g2, j));
            }
        }
    }
}

/* an IQ1 lattice point: 8 int8 coordinates in {-1, 0, 1} */
static inline void put8_iq1(int8_t *q, int idx)
{
    for (int j = 0; j < 8; ++j)
        q[j] = (int8_t)coord64(cpu_iq1s_grid[idx], j);
}

/* IQ1_S: 11-bit indices (a byte, 3 bits of qh); per 32 a 3-bit scale and
 * one delta sign. s: per 32; neg: per 8, whether delta is -1/8. */
static void unpack_iq1_s(const cpu_block_iq1_s *b, int8_t q[QK_K], uint8_t s[8], uint8_t neg[32])
{
    for (int ib = 0; ib < 8; ++ib) {
        const unsigned h = b->qh[ib];
        s[ib] = (uint8_t)((h >> 12) & 7);
        for (int l = 0; l < 4; ++l) {
            put8_iq1(q + 32 * ib + 8 * l, b->qs[4 * ib + l] | (int)(((h >> (3 * l)) & 7) << 8));
            neg[4 * ib + l] = (uint8_t)(h >> 15);
        }
    }
}

/* IQ1_M's fp16 super-block scale, spread over the top nibbles of its four
 * little-endian scale words */
static uint16_t iq1_m_d(const cpu_block_iq1_m *b)
{
    uint16_t sc[4];
    memcpy(sc, b->scales, sizeof sc);
    return (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
}

/* IQ1_M: 11-bit indices (a byte, a nibble of qh whose top bit is the delta
 * sign); 3-bit scales per 16. s: per 16; neg: per 8. */
static void unpack_iq1_m(const cpu_block_iq1_m *b, int8_t q[QK_K], uint8_t s[16], uint8_t neg[32])
{
    uint16_t sc[4];
    memcpy(sc, b->scales, sizeof sc);
    for (int ib = 0; ib < 8; ++ib) {
        s[2 * ib] = (uint8_t)((sc[ib / 2] >> (6 * (ib % 2))) & 7);
        s[2 * ib + 1] = (uint8_t)((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7);
        for (int l = 0; l < 4; ++l) {
            const unsigned nib = (b->qh[2 * ib + l / 2] >> (4 * (l % 2))) & 0xF;
            put8_iq1(q + 32 * ib + 8 * l, b->qs[4 * ib + l] | (int)((nib & 7) << 8));
            neg[4 * ib + l] = (uint8_t)(nib >> 3);
        }
    }
}

/* One trit from its base-3 fixed-point byte: the top trit of q * 3^k. */
static inline int8_t trit(uint8_t v, int k)
{
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const uint8_t t = (uint8_t)(v * pow3[k]);
    return (int8_t)(((t * 3) >> 8) - 1);
}

/* TQ1_0: the first 32 bytes give 5 runs of 32, the next 16 give 5 runs of
 * 16, and qh's 4 bytes 4 runs of 4. */
static void unpack_tq1_0(const cpu_block_tq1_0 *b, int8_t q[QK_K])
{
    int e = 0;
    for (int k = 0; k < 5; ++k)
        for (int m = 0; m < 32; ++m)
            q[e++] = trit(b->qs[m], k);
    for (int k = 0; k < 5; ++k)
        for (int m = 0; m < 16; ++m)
            q[e++] = trit(b->qs[32 + m], k);
    for (int k = 0; k < 4; ++k)
        for (int m = 0; m < 4; ++m)
            q[e++] = trit(b->qh[m], k);
}

/* TQ2_0: each 32 bytes give 4 runs of 32, low bit pair first. */
static void unpack_tq2_0(const cpu_block_tq2_0 *b, int8_t q[QK_K])
{
    for (int e = 0; e < QK_K; ++e)
        q[e] = (int8_t)(((b->qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3) - 1);
}

/* ---- to_float ------------------------------------------------------------ */

/* y = (d * (0.5 + s) * k) * q over groups of g: the IQ2 (k = 1/4) and
 * IQ3_XXS (k = 1/2) formula */
static void scale_half_odd(float d, const int8_t *q, const uint8_t *s, int g, float k, float *y)
{
    for (int e = 0; e < QK_K; ++e) {
        const float db = d * (0.5f + s[e / g]) * k;
        y[e] = db * q[e];
    }
}

static void to_float_iq2_xxs(const void *vx, float *y, int64_t n)
{
    const cpu_block_iq2_xxs *x = vx;
    int8_t q[QK_K];
    uint8_t s[8];
    for (int64_t i = 0; i < n / QK_K; ++i, y += QK_K) {
        unpack_iq2_xxs(&x[i], q, s);
        scale_half_odd(cpu_fp16_to_f32(x[i].d), q, s, 32, 0.25f, y);
    }
}

static void to_float_iq2_xs(const void *vx, float *y, int64_t n)
{
    const cpu_block_iq2_xs *x = vx;
    int8_t q[QK_K];
    uint8_t s[16];
    for (int64_t i = 0; i < n / QK_K; ++i, y += QK_K) {
        unpack_iq2_xs(&x[i], q, s);
        scale_half_odd(cpu_fp16_to_f32(x[i].d), q, s, 16, 0.25f, y);
    }
}

static void to_float_iq2_s(const void *vx, float *y, int64_t n)
{
    const cpu_block_iq2_s *x = vx;
    int8_t q[QK_K];
    uint8_t s[16];
    for (int64_t i = 0; i < n / QK_K; ++i, y += QK_K) {
        unpack_iq2_s(&x[i], q, s);
        scale_half_odd(cpu_fp16_to_f32(x[i].d), q, s, 16, 0.25f, y);
    }
}

static void to_float_iq3_xxs(const void *vx, float *y, int64_t n)
{
    const cpu_block_iq3_xxs *x = vx;
    int8_t q[QK_K];
    uint8_t s[8];
    for (int64_t i = 0; i < n / QK_K; ++i, y += QK_K) {
        unpack_iq3_xxs(&x[i], q, s);
        scale_half_odd(cpu_fp16_to_f32(x[i].d), q, s, 32, 0.5f, y);
    }
}

static void to_float_iq3_s(const void *vx, float *y, int64_t n)
{
    const cpu_block_iq3_s *x = vx;
    int8_t q[QK_K];
    uint8_t s[8];
    for (int64_t i = 0; i < n / QK_K; ++i, y += QK_K) {
        const float d = cpu_fp16_to_f32(x[i].d);
        unpack_iq3_s(&x[i], q, s);
        for (int e = 0; e < QK_K; ++e) {
            const float db = d * (1 + 2 * s[e / 32]);
            y[e] = db * q[e];
        }
    }
}

/* y = (d * (2s + 1)) * (q + delta): IQ1's formula over groups of g */
static void scale_iq1(float d, const int8_t *q, const uint8_t *s, int g, const uint8_t *neg, float *y)
{
    for (int e = 0; e < QK_K; ++e) {
        const float dl = d * (2 * s[e / g] + 1);
        const float delta = neg[e / 8] ? -CPU_IQ1_DELTA : CPU_IQ1_DELTA;
        y[e] = dl * (q[e] + delta);
    }
}

static void to_float_iq1_s(const void *vx, float *y, int64_t n)
{
    const cpu_block_iq1_s *x = vx;
    int8_t q[QK_K];
    uint8_t s[8], neg[32];
    for (int64_t i = 0; i < n / QK_K; ++i, y += QK_K) {
        unpack_iq1_s(&x[i], q, s, neg);
        scale_iq1(cpu_fp16_to_f32(x[i].d), q, s, 32, neg, y);
    }
}

static void to_float_iq1_m(const void *vx, float *y, int64_t n)
{
    const cpu_block_iq1_m *x = vx;
    int8_t q[QK_K];
    uint8_t s[16], neg[32];
    for (int64_t i = 0; i < n / QK_K; ++i, y += QK_K) {
        unpack_iq1_m(&x[i], q, s, neg);
        scale_iq1(cpu_fp16_to_f32(iq1_m_d(&x[i])), q, s, 16, neg, y);
    }
}

static void to_float_tq1_0(const void *vx, float *y, int64_t n)
{
    const cpu_block_tq1_0 *x = vx;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i, y += QK_K) {
        const float d = cpu_fp16_to_f32(x[i].d);
        unpack_tq1_0(&x[i], q);
        for (int e = 0; e < QK_K; ++e)
            y[e] = (float)q[e] * d;
    }
}

static void to_float_tq2_0(const void *vx, float *y, int64_t n)
{
    const cpu_block_tq2_0 *x = vx;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i, y += QK_K) {
        const float d = cpu_fp16_to_f32(x[i].d);
        unpack_tq2_0(&x[i], q);
        for (int e = 0; e < QK_K; ++e)
            y[e] = (float)q[e] * d;
    }
}

/* NVFP4: 4 sub-blocks of 16; in each, byte j holds elements j (low nibble)
 * and j + 8 (high nibble) */
static void to_float_nvfp4(const void *vx, float *y, int64_t n)
{
    const cpu_block_nvfp4 *x = vx;
    for (int64_t i = 0; i < n / QK_NVFP4; ++i) {
        for (int sb = 0; sb < 4; ++sb, y += QK_NVFP4_SUB) {
            const float d = cpu_ue4m3_to_f32_half(x[i].d[sb]);
            for (int j = 0; j < 8; ++j) {
                const uint8_t v = x[i].qs[8 * sb + j];
                y[j] = cpu_kvalues_mxfp4[v & 0xF] * d;
                y[j + 8] = cpu_kvalues_mxfp4[v >> 4] * d;
            }
        }
    }
}

/* ---- vec_dot ------------------------------------------------------------- */

static int32_t dot_i8(const int8_t *a, const int8_t *b, int len)
{
    int32_t s = 0;
    for (int l = 0; l < len; ++l)
        s += a[l] * b[l];
    return s;
}

/* sum over groups of g of (2s + 1) * dot(q, y) */
static int32_t dot_odd_scaled(const int8_t *q, const uint8_t *s, int g, const int8_t *y)
{
    int32_t sum = 0;
    for (int k = 0; k < QK_K / g; ++k)
        sum += (2 * s[k] + 1) * dot_i8(q + g * k, y + g * k, g);
    return sum;
}

/* The IQ2/IQ3 lattice types: sum of d_x d_y * block sum, times the type's
 * constant (1/8, 1/4 or 1) once at the end, as ggml does. */
#define VEC_DOT_LATTICE(T, G, NS, K)                                                               \
    static void vec_dot_##T(int64_t n, float *s, const void *vx, const void *vy)                  \
    {                                                                                              \
        const cpu_block_##T *x = vx;                                                               \
        const cpu_block_q8_k *y = vy;                                                              \
        int8_t q[QK_K];                                                                            \
        uint8_t sc[NS];                                                                            \
        float sumf = 0;                                                                            \
        for (int64_t i = 0; i < n / QK_K; ++i) {                                                   \
            unpack_##T(&x[i], q, sc);                                                              \
            const float d = cpu_fp16_to_f32(x[i].d) * y[i].d;                                      \
            sumf += d * (float)dot_odd_scaled(q, sc, G, y[i].qs);                                  \
        }                                                                                          \
        *s = K * sumf;                                                                             \
    }

VEC_DOT_LATTICE(iq2_xxs, 32, 8, 0.125f)
VEC_DOT_LATTICE(iq2_xs, 16, 16, 0.125f)
VEC_DOT_LATTICE(iq2_s, 16, 16, 0.125f)
VEC_DOT_LATTICE(iq3_xxs, 32, 8, 0.25f)
VEC_DOT_LATTICE(iq3_s, 32, 8, 1.0f)

/* IQ1: the lattice part and the delta part (+-1 times the activations'
 * sums) as two integer sums, joined as d_x d_y (sumi + delta sumd) */
static float dot_iq1_block(float dxy, const int8_t *q, const uint8_t *s, int g, const uint8_t *neg,
                           const int8_t *y)
{
    int32_t sumi = 0, sumd = 0;
    for (int k = 0; k < QK_K / 8; ++k) {
        int32_t ysum = 0;
        for (int j = 0; j < 8; ++j)
            ysum += y[8 * k + j];
        const int ls = 2 * s[8 * k / g] + 1;
        sumi += ls * dot_i8(q + 8 * k, y + 8 * k, 8);
        sumd += ls * (neg[k] ? -ysum : ysum);
    }
    return dxy * ((float)sumi + CPU_IQ1_DELTA * (float)sumd);
}

static void vec_dot_iq1_s(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_iq1_s *x = vx;
    const cpu_block_q8_k *y = vy;
    int8_t q[QK_K];
    uint8_t sc[8], neg[32];
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        unpack_iq1_s(&x[i], q, sc, neg);
        sumf += dot_iq1_block(cpu_fp16_to_f32(x[i].d) * y[i].d, q, sc, 32, neg, y[i].qs);
    }
    *s = sumf;
}

static void vec_dot_iq1_m(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_iq1_m *x = vx;
    const cpu_block_q8_k *y = vy;
    int8_t q[QK_K];
    uint8_t sc[16], neg[32];
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        unpack_iq1_m(&x[i], q, sc, neg);
        sumf += dot_iq1_block(cpu_fp16_to_f32(iq1_m_d(&x[i])) * y[i].d, q, sc, 16, neg, y[i].qs);
    }
    *s = sumf;
}

static void vec_dot_tq1_0(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_tq1_0 *x = vx;
    const cpu_block_q8_k *y = vy;
    int8_t q[QK_K];
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        unpack_tq1_0(&x[i], q);
        sumf += (float)dot_i8(q, y[i].qs, QK_K) * (cpu_fp16_to_f32(x[i].d) * y[i].d);
    }
    *s = sumf;
}

static void vec_dot_tq2_0(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_tq2_0 *x = vx;
    const cpu_block_q8_k *y = vy;
    int8_t q[QK_K];
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        unpack_tq2_0(&x[i], q);
        sumf += (float)dot_i8(q, y[i].qs, QK_K) * (y[i].d * cpu_fp16_to_f32(x[i].d));
    }
    *s = sumf;
}

/* NVFP4 against Q8_0: each sub-block of 16 is half a Q8_0 block, and
 * contributes d_y * d_x * (its integer dot) */
static void vec_dot_nvfp4(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_nvfp4 *x = vx;
    const cpu_block_q8_0 *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_NVFP4; ++i) {
        for (int sb = 0; sb < 4; ++sb) {
            const cpu_block_q8_0 *yb = &y[2 * i + sb / 2];
            const int8_t *yq = yb->qs + 16 * (sb % 2);
            int32_t sumi = 0;
            for (int j = 0; j < 8; ++j) {
                const uint8_t v = x[i].qs[8 * sb + j];
                sumi += yq[j] * cpu_kvalues_mxfp4[v & 0xF] + yq[j + 8] * cpu_kvalues_mxfp4[v >> 4];
            }
            const float dx = cpu_ue4m3_to_f32_half(x[i].d[sb]);
            sumf += cpu_fp16_to_f32(yb->d) * dx * (float)sumi;
        }
    }
    *s = sumf;
}

/* ---- table --------------------------------------------------------------- */

static void set(cpu_quant_traits tbl[GGML_TYPE_COUNT], ggml_type t, ggml_type dot_type,
                cpu_to_float_fn to_float, cpu_vec_dot_fn vec_dot)
{
    tbl[t] = (cpu_quant_traits){
        .type = t,
        .vec_dot_type = dot_type,
        .to_float = to_float,
        .vec_dot = vec_dot,
        .isa = "scalar",
    };
}

void cpu_quant_fill_iq_ref(cpu_quant_traits tbl[GGML_TYPE_COUNT])
{
    set(tbl, GGML_TYPE_IQ2_XXS, GGML_TYPE_Q8_K, to_float_iq2_xxs, vec_dot_iq2_xxs);
    set(tbl, GGML_TYPE_IQ2_XS, GGML_TYPE_Q8_K, to_float_iq2_xs, vec_dot_iq2_xs);
    set(tbl, GGML_TYPE_IQ2_S, GGML_TYPE_Q8_K, to_float_iq2_s, vec_dot_iq2_s);
    set(tbl, GGML_TYPE_IQ3_XXS, GGML_TYPE_Q8_K, to_float_iq3_xxs, vec_dot_iq3_xxs);
    set(tbl, GGML_TYPE_IQ3_S, GGML_TYPE_Q8_K, to_float_iq3_s, vec_dot_iq3_s);
    set(tbl, GGML_TYPE_IQ1_S, GGML_TYPE_Q8_K, to_float_iq1_s, vec_dot_iq1_s);
    set(tbl, GGML_TYPE_IQ1_M, GGML_TYPE_Q8_K, to_float_iq1_m, vec_dot_iq1_m);
    set(tbl, GGML_TYPE_TQ1_0, GGML_TYPE_Q8_K, to_float_tq1_0, vec_dot_tq1_0);
    set(tbl, GGML_TYPE_TQ2_0, GGML_TYPE_Q8_K, to_float_tq2_0, vec_dot_tq2_0);
    set(tbl, GGML_TYPE_NVFP4, GGML_TYPE_Q8_0, to_float_nvfp4, vec_dot_nvfp4);
}
