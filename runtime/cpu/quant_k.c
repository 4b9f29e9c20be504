/*
 * quant_k.c: the scalar reference kernels of Q2_K..Q6_K and IQ4_XS against
 * Q8_K, and the Q8_K activation quantizer.
 *
 * to_float reproduces ggml's dequantize_row_* to the bit: the same float
 * operations in the same order (scale times integer, then minus min), so a
 * dequantized weight equals llama.cpp's. This file is built without FMA
 * flags and under ISO C, where GCC does not contract a*b-c.
 *
 * vec_dot is written for clarity, not speed: each super-block is unpacked
 * to 256 signed integers plus its sub-block scales, the integer dot per
 * sub-block is exact, and the block contributes d_x*d_y*(sum of scaled
 * integer dots) - dmin_x*d_y*(sum of mins times Q8_K's bsums) in float.
 * That is the association the SIMD kernels use too, so they agree with this
 * to float rounding of the per-block terms. ggml-cpu sums in other orders;
 * the tests hold all of them within 1e-5 of the sum of |terms|.
 *
 * The Q8_K quantizer is ggml's quantize_row_q8_K_ref: scale -127/max where
 * max is the first element of largest magnitude, round half to even, bsums
 * of each 16. The weight quantizers live in quant_k_quantize.c.
 */
#include "runtime/cpu/quant_k.h"

#include <math.h>
#include <string.h>

#include "runtime/cpu/quant_impl.h"

/* ---- to_float ------------------------------------------------------------ */

static void to_float_q2_k(const void *vx, float *y, int64_t n)
{
    const cpu_block_q2_k *x = vx;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = cpu_fp16_to_f32(x[i].d);
        const float dmin = cpu_fp16_to_f32(x[i].dmin);
        for (int e = 0; e < QK_K; ++e) {
            const int q = (x[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            const uint8_t sc = x[i].scales[e / 16];
            const float dl = d * (sc & 0xF);
            const float ml = dmin * (sc >> 4);
            y[e] = dl * q - ml;
        }
        y += QK_K;
    }
}

static void unpack_q3_k(const cpu_block_q3_k *b, int8_t q[QK_K])
{
    for (int e = 0; e < QK_K; ++e) {
        const int n = e / 128, j = (e % 128) / 32, l = e % 32;
        const int lo = (b->qs[32 * n + l] >> (2 * j)) & 3;
        const int hi = (b->hmask[l] >> (4 * n + j)) & 1;
        q[e] = (int8_t)(lo - (hi ? 0 : 4));
    }
}

static void to_float_q3_k(const void *vx, float *y, int64_t n)
{
    const cpu_block_q3_k *x = vx;
    int8_t q[QK_K], sc[16];
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = cpu_fp16_to_f32(x[i].d);
        unpack_q3_k(&x[i], q);
        cpu_q3_k_scales(x[i].scales, sc);
        for (int e = 0; e < QK_K; ++e) {
            const float dl = d * sc[e / 16];
            y[e] = dl * q[e];
        }
        y += QK_K;
    }
}

static void unpack_q4_k(const cpu_block_q4_k *b, int8_t q[QK_K])
{
    for (int e = 0; e < QK_K; ++e) {
        const uint8_t v = b->qs[32 * (e / 64) + e % 32];
        q[e] = (int8_t)((e % 64) < 32 ? v & 0xF : v >> 4);
    }
}

/* y = d * sc * q - dmin * m over a super-block's eight sub-blocks of 32:
 * Q4_K and Q5_K share this scaling and differ in how q is packed */
static void scale_k4_block(uint16_t d16, uint16_t dmin16, const uint8_t *scales, const int8_t q[QK_K], float *y)
{
    const float d = cpu_fp16_to_f32(d16);
    const float dmin = cpu_fp16_to_f32(dmin16);
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        cpu_k4_scale_min(j, scales, &sc, &m);
        const float d1 = d * sc, m1 = dmin * m;
        for (int l = 0; l < 32; ++l)
            y[32 * j + l] = d1 * q[32 * j + l] - m1;
    }
}

static void to_float_q4_k(const void *vx, float *y, int64_t n)
{
    const cpu_block_q4_k *x = vx;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i, y += QK_K) {
        unpack_q4_k(&x[i], q);
        scale_k4_block(x[i].d, x[i].dmin, x[i].scales, q, y);
    }
}

static void unpack_q5_k(const cpu_block_q5_k *b, int8_t q[QK_K])
{
    for (int e = 0; e < QK_K; ++e) {
        const int c = e / 64, hi = (e % 64) / 32, l = e % 32;
        const uint8_t v = b->qs[32 * c + l];
        const int lo = hi ? v >> 4 : v & 0xF;
        q[e] = (int8_t)(lo + (((b->qh[l] >> (2 * c + hi)) & 1) ? 16 : 0));
    }
}

static void to_float_q5_k(const void *vx, float *y, int64_t n)
{
    const cpu_block_q5_k *x = vx;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i, y += QK_K) {
        unpack_q5_k(&x[i], q);
        scale_k4_block(x[i].d, x[i].dmin, x[i].scales, q, y);
    }
}

static void unpack_q6_k(const cpu_block_q6_k *b, int8_t q[QK_K])
{
    for (int e = 0; e < QK_K; ++e) {
        const int n = e / 128, g = (e % 128) / 32, l = e % 32;
        const uint8_t lo = b->ql[64 * n + 32 * (g & 1) + l];
        const int lo4 = g < 2 ? lo & 0xF : lo >> 4;
        const int hi2 = (b->qh[32 * n + l] >> (2 * g)) & 3;
        q[e] = (int8_t)((lo4 | (hi2 << 4)) - 32);
    }
}

static void to_float_q6_k(const void *vx, float *y, int64_t n)
{
    const cpu_block_q6_k *x = vx;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = cpu_fp16_to_f32(x[i].d);
        unpack_q6_k(&x[i], q);
        for (int e = 0; e < QK_K; ++e)
            y[e] = d * x[i].scales[e / 16] * q[e];
        y += QK_K;
    }
}

static void unpack_iq4_xs(const cpu_block_iq4_xs *b, int8_t q[QK_K], int ls[QK_K / 32])
{
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        ls[ib] = (((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) |
                  (((b->scales_h >> (2 * ib)) & 3) << 4)) - 32;
        for (int j = 0; j < 16; ++j) {
            q[32 * ib + j] = cpu_kvalues_iq4nl[b->qs[16 * ib + j] & 0xF];
            q[32 * ib + j + 16] = cpu_kvalues_iq4nl[b->qs[16 * ib + j] >> 4];
        }
    }
}

static void to_float_iq4_xs(const void *vx, float *y, int64_t n)
{
    const cpu_block_iq4_xs *x = vx;
    int8_t q[QK_K];
    int ls[QK_K / 32];
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = cpu_fp16_to_f32(x[i].d);
        unpack_iq4_xs(&x[i], q, ls);
        for (int e = 0; e < QK_K; ++e) {
            const float dl = d * ls[e / 32];
            y[e] = dl * q[e];
        }
        y += QK_K;
    }
}

static void to_float_q8_k(const void *vx, float *y, int64_t n)
{
    const cpu_block_q8_k *x = vx;
    for (int64_t i = 0; i < n / QK_K; ++i)
        for (int e = 0; e < QK_K; ++e)
            *y++ = x[i].d * x[i].qs[e];
}

/* ---- Q8_K quantizer ------------------------------------------------------ */

/* round half to even, as ggml's nearest_int for |v| < 2^22 */
static inline int round_even(float v)
{
    return (int)lrintf(v);
}

static void quantize_q8_k(const float *x, void *vy, int64_t n)
{
    cpu_block_q8_k *y = vy;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; ++j) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0) {
            memset(&y[i], 0, sizeof y[i]);
            x += QK_K;
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; ++j) {
            const int v = round_even(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            int sum = 0;
            for (int l = 0; l < 16; ++l)
                sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
        x += QK_K;
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

static void vec_dot_q2_k(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q2_k *x = vx;
    const cpu_block_q8_k *y = vy;
    int8_t q[QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        for (int e = 0; e < QK_K; ++e)
            q[e] = (int8_t)((x[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3);
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            sumi += (x[i].scales[j] & 0xF) * dot_i8(q + 16 * j, y[i].qs + 16 * j, 16);
            summ += (x[i].scales[j] >> 4) * y[i].bsums[j];
        }
        const float d = y[i].d * cpu_fp16_to_f32(x[i].d);
        const float dmin = y[i].d * cpu_fp16_to_f32(x[i].dmin);
        sum += d * (float)sumi - dmin * (float)summ;
    }
    *s = sum;
}

static void vec_dot_q3_k(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q3_k *x = vx;
    const cpu_block_q8_k *y = vy;
    int8_t q[QK_K], sc[16];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        unpack_q3_k(&x[i], q);
        cpu_q3_k_scales(x[i].scales, sc);
        int32_t sumi = 0;
        for (int j = 0; j < QK_K / 16; ++j)
            sumi += sc[j] * dot_i8(q + 16 * j, y[i].qs + 16 * j, 16);
        sum += y[i].d * cpu_fp16_to_f32(x[i].d) * (float)sumi;
    }
    *s = sum;
}

/* One super-block of Q4_K or Q5_K (same scales and mins; q holds the
 * unpacked quants) against a Q8_K block. */
static float dot_k4_block(const int8_t *q, const uint8_t *scales, uint16_t d16, uint16_t dmin16,
                          const cpu_block_q8_k *y)
{
    int32_t sumi = 0, summ = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        cpu_k4_scale_min(j, scales, &sc, &m);
        sumi += sc * dot_i8(q + 32 * j, y->qs + 32 * j, 32);
        summ += m * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    const float d = y->d * cpu_fp16_to_f32(d16);
    const float dmin = y->d * cpu_fp16_to_f32(dmin16);
    return d * (float)sumi - dmin * (float)summ;
}

static void vec_dot_q4_k(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q4_k *x = vx;
    const cpu_block_q8_k *y = vy;
    int8_t q[QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        unpack_q4_k(&x[i], q);
        sum += dot_k4_block(q, x[i].scales, x[i].d, x[i].dmin, &y[i]);
    }
    *s = sum;
}

static void vec_dot_q5_k(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q5_k *x = vx;
    const cpu_block_q8_k *y = vy;
    int8_t q[QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        unpack_q5_k(&x[i], q);
        sum += dot_k4_block(q, x[i].scales, x[i].d, x[i].dmin, &y[i]);
    }
    *s = sum;
}

static void vec_dot_q6_k(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q6_k *x = vx;
    const cpu_block_q8_k *y = vy;
    int8_t q[QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        unpack_q6_k(&x[i], q);
        int32_t sumi = 0;
        for (int j = 0; j < QK_K / 16; ++j)
            sumi += x[i].scales[j] * dot_i8(q + 16 * j, y[i].qs + 16 * j, 16);
        sum += y[i].d * cpu_fp16_to_f32(x[i].d) * (float)sumi;
    }
    *s = sum;
}

static void vec_dot_iq4_xs(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_iq4_xs *x = vx;
    const cpu_block_q8_k *y = vy;
    int8_t q[QK_K];
    int ls[QK_K / 32];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        unpack_iq4_xs(&x[i], q, ls);
        int32_t sumi = 0;
        for (int j = 0; j < QK_K / 32; ++j)
            sumi += ls[j] * dot_i8(q + 32 * j, y[i].qs + 32 * j, 32);
        sum += y[i].d * cpu_fp16_to_f32(x[i].d) * (float)sumi;
    }
    *s = sum;
}

/* ---- table --------------------------------------------------------------- */

static void set(cpu_quant_traits tbl[GGML_TYPE_COUNT], ggml_type t, cpu_to_float_fn to_float,
                cpu_from_float_fn from_float, cpu_vec_dot_fn vec_dot)
{
    tbl[t] = (cpu_quant_traits){
        .type = t,
        .vec_dot_type = GGML_TYPE_Q8_K,
        .to_float = to_float,
        .from_float = from_float,
        .vec_dot = vec_dot,
        .isa = "scalar",
    };
}

void cpu_quant_fill_k_ref(cpu_quant_traits tbl[GGML_TYPE_COUNT])
{
    set(tbl, GGML_TYPE_Q2_K, to_float_q2_k, cpu_quantize_q2_k_ref, vec_dot_q2_k);
    set(tbl, GGML_TYPE_Q3_K, to_float_q3_k, cpu_quantize_q3_k_ref, vec_dot_q3_k);
    set(tbl, GGML_TYPE_Q4_K, to_float_q4_k, cpu_quantize_q4_k_ref, vec_dot_q4_k);
    set(tbl, GGML_TYPE_Q5_K, to_float_q5_k, cpu_quantize_q5_k_ref, vec_dot_q5_k);
    set(tbl, GGML_TYPE_Q6_K, to_float_q6_k, cpu_quantize_q6_k_ref, vec_dot_q6_k);
    set(tbl, GGML_TYPE_IQ4_XS, to_float_iq4_xs, cpu_quantize_iq4_xs_ref, vec_dot_iq4_xs);
    /* Q8_K is only ever an activation row; it has no dot of its own */
    set(tbl, GGML_TYPE_Q8_K, to_float_q8_k, quantize_q8_k, NULL);
}
