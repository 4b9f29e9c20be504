/*
 * quant_legacy.c: the scalar reference kernels of the float types and the
 * 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL, MXFP4).
 *
 * This file is the definition of correct for its types: every SIMD kernel is
 * tested against it, and it is tested bit for bit against ggml. So it
 * follows ggml's arithmetic where the result depends on it: the quantizers
 * compute scales and the per-element products in the same order, round the
 * same way (roundf, truncating casts after +0.5), and pick IQ4_NL's scale by
 * the same weighted least-squares refit as quantize_row_iq4_nl_ref. The
 * file quantizers with importance weights (quantize_q4_0 .. q5_1,
 * quantize_iq4_nl/iq4_xs) are here too, on the fits of quant_k_quantize.c.
 * The dot products sum integers per block and accumulate blocks in float,
 * float rows in double. It deliberately has no speed tricks: the x86 files have those.
 *
 * One divergence by design: an IQ4_NL block whose elements are all (almost)
 * zero gets index 8 (value 1) everywhere under a zero scale, where ggml
 * leaves whatever its scratch buffer held; both decode to zeros.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "runtime/cpu/quant_k.h"
#include "runtime/cpu/quant_legacy.h"

/* block sizes as GGML_TYPE_LIST states them */
#define X(NAME, ID, STR, BLK, BYTES) CPU_BYTES_##NAME = BYTES, CPU_BLK_##NAME = BLK,
enum { GGML_TYPE_LIST(X) };
#undef X
#define BLOCK_CHECK(T, NAME)                                                     \
    _Static_assert(sizeof(cpu_block_##T) == CPU_BYTES_##NAME && CPU_BLK_##NAME == CPU_QK, \
                   #T " block layout")
BLOCK_CHECK(q4_0, Q4_0);
BLOCK_CHECK(q4_1, Q4_1);
BLOCK_CHECK(q5_0, Q5_0);
BLOCK_CHECK(q5_1, Q5_1);
BLOCK_CHECK(q8_0, Q8_0);
BLOCK_CHECK(q8_1, Q8_1);
BLOCK_CHECK(iq4_nl, IQ4_NL);
BLOCK_CHECK(mxfp4, MXFP4);

const int8_t cpu_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                      1,    13,   25,  38,  53,  69,  89,  113};
const int8_t cpu_kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

#define H2F(h) cpu_fp16_to_f32(h)
#define F2H(f) cpu_f32_to_fp16(f)

/* ---- float types ------------------------------------------------------ */

static void f32_to_float(const void *x, float *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

static void f32_from_float(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

static void f16_to_float(const void *vx, float *y, int64_t n)
{
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++)
        y[i] = H2F(x[i]);
}

static void f16_from_float(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = F2H(x[i]);
}

static void bf16_to_float(const void *vx, float *y, int64_t n)
{
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++)
        y[i] = cpu_bf16_to_f32(x[i]);
}

static void bf16_from_float(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = cpu_f32_to_bf16(x[i]);
}

static void vec_dot_f32(int64_t n, float *s, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

static void vec_dot_f16(int64_t n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(H2F(x[i]) * H2F(y[i]));
    *s = (float)sum;
}

static void vec_dot_bf16(int64_t n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(cpu_bf16_to_f32(x[i]) * cpu_bf16_to_f32(y[i]));
    *s = (float)sum;
}

/* ---- helpers ---------------------------------------------------------- */

/* the element of largest magnitude, sign kept (first one on ties) */
static float signed_absmax(const float *x)
{
    float amax = 0, max = 0;
    for (int j = 0; j < CPU_QK; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void min_max(const float *x, float *min, float *max)
{
    *min = FLT_MAX;
    *max = -FLT_MAX;
    for (int j = 0; j < CPU_QK; j++) {
        if (x[j] < *min)
            *min = x[j];
        if (x[j] > *max)
            *max = x[j];
    }
}

static int imin(int a, int b) { return a < b ? a : b; }

/* the 5th bit of element j of a Q5 block */
static int q5_high(uint32_t qh, int j) { return (int)((qh >> j) & 1) << 4; }

/* ---- Q4_0 / Q4_1 ------------------------------------------------------ */

static void q4_0_to_float(const void *vx, float *y, int64_t n)
{
    const cpu_block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / CPU_QK; i++, y += CPU_QK) {
        float d = H2F(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((x[i].qs[j] & 0xf) - 8) * d;
            y[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void q4_0_from_float(const float *x, void *vy, int64_t n)
{
    cpu_block_q4_0 *y = vy;
    for (int64_t i = 0; i < n / CPU_QK; i++, x += CPU_QK) {
        float d = signed_absmax(x) / -8;
        float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        for (int j = 0; j < 16; j++) {
            int lo = imin(15, (int8_t)(x[j] * id + 8.5f));
            int hi = imin(15, (int8_t)(x[j + 16] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void cpu_vec_dot_q4_0_q8_0_ref(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q4_0 *x = vx;
    const cpu_block_q8_0 *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / CPU_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += ((x[i].qs[j] & 0xf) - 8) * y[i].qs[j] +
                    ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        sum += (float)sumi * H2F(x[i].d) * H2F(y[i].d);
    }
    *s = sum;
}

static void q4_1_to_float(const void *vx, float *y, int64_t n)
{
    const cpu_block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / CPU_QK; i++, y += CPU_QK) {
        float d = H2F(x[i].d), m = H2F(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(x[i].qs[j] & 0xf) * d + m;
            y[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

static void q4_1_from_float(const float *x, void *vy, int64_t n)
{
    cpu_block_q4_1 *y = vy;
    for (int64_t i = 0; i < n / CPU_QK; i++, x += CPU_QK) {
        float min, max;
        min_max(x, &min, &max);
        float d = (max - min) / 15;
        float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        y[i].m = F2H(min);
        for (int j = 0; j < 16; j++) {
            int lo = imin(15, (int8_t)((x[j] - min) * id + 0.5f));
            int hi = imin(15, (int8_t)((x[j + 16] - min) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void cpu_vec_dot_q4_1_q8_1_ref(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q4_1 *x = vx;
    const cpu_block_q8_1 *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / CPU_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += (x[i].qs[j] & 0xf) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        sum += H2F(x[i].d) * H2F(y[i].d) * (float)sumi + H2F(x[i].m) * H2F(y[i].s);
    }
    *s = sum;
}

/* ---- Q5_0 / Q5_1 ------------------------------------------------------ */

static void q5_0_to_float(const void *vx, float *y, int64_t n)
{
    const cpu_block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / CPU_QK; i++, y += CPU_QK) {
        float d = H2F(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(((x[i].qs[j] & 0xf) | q5_high(qh, j)) - 16) * d;
            y[j + 16] = (float)(((x[i].qs[j] >> 4) | q5_high(qh, j + 16)) - 16) * d;
        }
    }
}

static void q5_pack(const int *q, uint8_t qs[16], uint8_t qh_out[4])
{
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0xf) | (q[j + 16] & 0xf) << 4);
        qh |= (uint32_t)((q[j] >> 4) & 1) << j;
        qh |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
    }
    memcpy(qh_out, &qh, 4);
}

static void q5_0_from_float(const float *x, void *vy, int64_t n)
{
    cpu_block_q5_0 *y = vy;
    for (int64_t i = 0; i < n / CPU_QK; i++, x += CPU_QK) {
        float d = signed_absmax(x) / -16;
        float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        int q[CPU_QK];
        for (int j = 0; j < CPU_QK; j++)
            q[j] = imin(31, (int8_t)(x[j] * id + 16.5f));
        q5_pack(q, y[i].qs, y[i].qh);
    }
}

void cpu_vec_dot_q5_0_q8_0_ref(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q5_0 *x = vx;
    const cpu_block_q8_0 *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / CPU_QK; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += (((x[i].qs[j] & 0xf) | q5_high(qh, j)) - 16) * y[i].qs[j] +
                    (((x[i].qs[j] >> 4) | q5_high(qh, j + 16)) - 16) * y[i].qs[j + 16];
        sum += (float)sumi * H2F(x[i].d) * H2F(y[i].d);
    }
    *s = sum;
}

static void q5_1_to_float(const void *vx, float *y, int64_t n)
{
    const cpu_block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / CPU_QK; i++, y += CPU_QK) {
        float d = H2F(x[i].d), m = H2F(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((x[i].qs[j] & 0xf) | q5_high(qh, j)) * d + m;
            y[j + 16] = (float)((x[i].qs[j] >> 4) | q5_high(qh, j + 16)) * d + m;
        }
    }
}

static void q5_1_from_float(const float *x, void *vy, int64_t n)
{
    cpu_block_q5_1 *y = vy;
    for (int64_t i = 0; i < n / CPU_QK; i++, x += CPU_QK) {
        float min, max;
        min_max(x, &min, &max);
        float d = (max - min) / 31;
        float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        y[i].m = F2H(min);
        int q[CPU_QK];
        for (int j = 0; j < CPU_QK; j++) /* ggml: no clamp, the cast wraps */
            q[j] = (uint8_t)((x[j] - min) * id + 0.5f);
        q5_pack(q, y[i].qs, y[i].qh);
    }
}

void cpu_vec_dot_q5_1_q8_1_ref(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q5_1 *x = vx;
    const cpu_block_q8_1 *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / CPU_QK; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += ((x[i].qs[j] & 0xf) | q5_high(qh, j)) * y[i].qs[j] +
                    ((x[i].qs[j] >> 4) | q5_high(qh, j + 16)) * y[i].qs[j + 16];
        sum += H2F(x[i].d) * H2F(y[i].d) * (float)sumi + H2F(x[i].m) * H2F(y[i].s);
    }
    *s = sum;
}

/* ---- Q8_0 / Q8_1 ------------------------------------------------------ */

static void q8_0_to_float(const void *vx, float *y, int64_t n)
{
    const cpu_block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / CPU_QK; i++, y += CPU_QK) {
        float d = H2F(x[i].d);
        for (int j = 0; j < CPU_QK; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}

/* amax/127 and round half away from zero, as quantize_row_q8_*_ref */
static float q8_block(const float *x, int8_t qs[32])
{
    float amax = 0;
    for (int j = 0; j < CPU_QK; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127;
    float id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < CPU_QK; j++)
        qs[j] = (int8_t)roundf(x[j] * id);
    return d;
}

static void q8_0_from_float(const float *x, void *vy, int64_t n)
{
    cpu_block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / CPU_QK; i++, x += CPU_QK)
        y[i].d = F2H(q8_block(x, y[i].qs));
}

void cpu_vec_dot_q8_0_q8_0_ref(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q8_0 *x = vx;
    const cpu_block_q8_0 *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / CPU_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < CPU_QK; j++)
            sumi += x[i].qs[j] * y[i].qs[j];
        sum += (float)sumi * (H2F(x[i].d) * H2F(y[i].d));
    }
    *s = sum;
}

static void q8_1_to_float(const void *vx, float *y, int64_t n)
{
    const cpu_block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / CPU_QK; i++, y += CPU_QK) {
        float d = H2F(x[i].d);
        for (int j = 0; j < CPU_QK; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}

static void q8_1_from_float(const float *x, void *vy, int64_t n)
{
    cpu_block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / CPU_QK; i++, x += CPU_QK) {
        float d = q8_block(x, y[i].qs);
        int sum = 0;
        for (int j = 0; j < CPU_QK; j++)
            sum += y[i].qs[j];
        y[i].d = F2H(d);
        y[i].s = F2H((float)sum * d);
    }
}

/* ---- IQ4_NL / MXFP4: 4-bit indices into a code book ------------------- */

static void iq4_nl_to_float(const void *vx, float *y, int64_t n)
{
    const cpu_block_iq4_nl *x = vx;
    for (int64_t i = 0; i < n / CPU_QK; i++, y += CPU_QK) {
        float d = H2F(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)cpu_kvalues_iq4nl[x[i].qs[j] & 0xf];
            y[j + 16] = d * (float)cpu_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

/* index of the code book level nearest v (lower one on a tie) */
static int iq4_nearest(float v)
{
    const int8_t *k = cpu_kvalues_iq4nl;
    if (v <= k[0])
        return 0;
    if (v >= k[15])
        return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < k[mid])
            hi = mid;
        else
            lo = mid;
    }
    return v - k[hi - 1] < k[hi] - v ? hi - 1 : hi;
}

/* Scale from the largest element onto level -127, then the least-squares
 * scale for the indices that gives, weighting each element by its square
 * (quantize_row_iq4_nl_ref: no importance matrix, no scale search). */
static void iq4_nl_from_float(const float *x, void *vy, int64_t n)
{
    cpu_block_iq4_nl *y = vy;
    for (int64_t i = 0; i < n / CPU_QK; i++, x += CPU_QK) {
        uint8_t L[CPU_QK];
        float amax = 0, max = 0;
        for (int j = 0; j < CPU_QK; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        float d = 0;
        if (amax < 1e-15f) {
            memset(L, 8, sizeof L);
        } else {
            float id = 1 / (max / cpu_kvalues_iq4nl[0]);
            float sumqx = 0, sumq2 = 0;
            for (int j = 0; j < CPU_QK; j++) {
                L[j] = (uint8_t)iq4_nearest(id * x[j]);
                float q = cpu_kvalues_iq4nl[L[j]];
                float w = x[j] * x[j];
                sumqx += w * q * x[j];
                sumq2 += w * q * q;
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
        }
        y[i].d = F2H(d);
        for (int j = 0; j < 16; j++)
            y[i].qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
    }
}

/* IQ4_NL and IQ4_XS as ggml_quantize_chunk writes them
 * (quantize_row_iq4_nl_impl with ntry 7): per 32 the scale from the
 * largest element onto level -127, then 15 more candidates, (k - 127) / max
 * for k in -7..7, each refitted by weighted least squares, the one with the
 * smallest weighted error kept. Weights are qw * sqrt(sigma2 + x^2) with
 * importance weights (sigma2: twice the super-block's mean square), else
 * x^2. A super-block of one 32 (IQ4_NL) stores that scale; of eight
 * (IQ4_XS) a shared fp16 scale and 6-bit multiples of it. The indices are
 * then taken afresh against the stored scale. */
static void iq4_fit(int super, const float *x, const float *qw, uint16_t *dh, uint8_t *q4,
                    uint16_t *scales_h, uint8_t *scales_l)
{
    enum { NTRY = 7 };
    const int8_t *val = cpu_kvalues_iq4nl;
    const int nb = super / CPU_QK;
    float scales[8], w[CPU_QK], sigma2 = 0;
    uint8_t L[8 * CPU_QK];
    for (int j = 0; j < super; j++)
        sigma2 += x[j] * x[j];
    sigma2 *= 2.f / super;
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < nb; ib++) {
        const float *xb = x + CPU_QK * ib;
        float amax = 0, max = 0;
        for (int j = 0; j < CPU_QK; j++) {
            w[j] = qw ? qw[CPU_QK * ib + j] * sqrtf(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
            if (fabsf(xb[j]) > amax) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        }
        if (amax < 1e-15f) {
            scales[ib] = 0;
            continue;
        }
        float d = -max / val[0], id = 1 / d, sumqx = 0, sumq2 = 0;
        for (int j = 0; j < CPU_QK; j++) {
            float q = val[iq4_nearest(id * xb[j])];
            sumqx += w[j] * q * xb[j];
            sumq2 += w[j] * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
        float best = d * sumqx;
        for (int itry = -NTRY; itry <= NTRY; itry++) {
            id = (itry + val[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < CPU_QK; j++) {
                float q = val[iq4_nearest(id * xb[j])];
                sumqx += w[j] * q * xb[j];
                sumq2 += w[j] * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        if (fabsf(d) > amax_scale) {
            amax_scale = fabsf(d);
            max_scale = d;
        }
    }
    if (nb == 1) {
        *dh = F2H(scales[0]);
        float id = scales[0] ? 1 / scales[0] : 0.0f;
        for (int j = 0; j < CPU_QK; j++)
            L[j] = (uint8_t)iq4_nearest(id * x[j]);
    } else {
        *scales_h = 0;
        float d = -max_scale / 32;
        *dh = F2H(d);
        float id = d ? 1 / d : 0.0f;
        for (int ib = 0; ib < nb; ib++) {
            int l = (int)lrintf(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            float dl = d * l, idl = dl ? 1 / dl : 0.0f;
            for (int j = 0; j < CPU_QK; j++)
                L[CPU_QK * ib + j] = (uint8_t)iq4_nearest(idl * x[CPU_QK * ib + j]);
            l += 32;
            if (ib % 2 == 0)
                scales_l[ib / 2] = (uint8_t)(l & 0xf);
            else
                scales_l[ib / 2] |= (uint8_t)((l & 0xf) << 4);
            *scales_h |= (uint16_t)((l >> 4) << (2 * ib));
        }
    }
    for (int ib = 0; ib < nb; ib++)
        for (int j = 0; j < 16; j++)
            q4[16 * ib + j] = (uint8_t)(L[CPU_QK * ib + j] | L[CPU_QK * ib + 16 + j] << 4);
}

void cpu_quantize_iq4_nl(const float *x, void *vy, int64_t n, const float *qw)
{
    cpu_block_iq4_nl *y = vy;
    for (int64_t i = 0; i < n / CPU_QK; i++)
        iq4_fit(CPU_QK, x + CPU_QK * i, qw ? qw + CPU_QK * i : NULL, &y[i].d, y[i].qs, NULL, NULL);
}

void cpu_quantize_iq4_xs(const float *x, void *vy, int64_t n, const float *qw)
{
    cpu_block_iq4_xs *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++)
        iq4_fit(QK_K, x + QK_K * i, qw ? qw + QK_K * i : NULL, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l);
}

void cpu_quantize_iq4_xs_ref(const float *x, void *y, int64_t n)
{
    cpu_quantize_iq4_xs(x, y, n, NULL);
}

/* ---- Q1_0 / Q2_0 ------------------------------------------------------- */

/* Q1_0: 128 elements a block, each its sign bit (1: >= 0) under the mean
 * magnitude; Q2_0: 64 a block, round(x/amax) + 1 clamped to 0..3 in two
 * bits (levels -1, 0, 1, 2 of amax). quantize_row_q1_0_ref and
 * quantize_row_q2_0_ref; ggml's quantizers ignore importance weights for
 * them. No dequantizer here: they are written, not run. */
typedef struct { uint16_t d; uint8_t qs[16]; } cpu_block_q1_0;
typedef struct { uint16_t d; uint8_t qs[16]; } cpu_block_q2_0;
_Static_assert(sizeof(cpu_block_q1_0) == CPU_BYTES_Q1_0 && CPU_BLK_Q1_0 == 128, "q1_0 block layout");
_Static_assert(sizeof(cpu_block_q2_0) == CPU_BYTES_Q2_0 && CPU_BLK_Q2_0 == 64, "q2_0 block layout");

void cpu_quantize_q1_0(const float *x, void *vy, int64_t n, const float *qw)
{
    (void)qw;
    cpu_block_q1_0 *y = vy;
    for (int64_t i = 0; i < n / 128; i++, x += 128) {
        float sum_abs = 0.0f;
        for (int j = 0; j < 128; j++)
            sum_abs += fabsf(x[j]);
        y[i].d = F2H(sum_abs / 128);
        memset(y[i].qs, 0, sizeof y[i].qs);
        for (int j = 0; j < 128; j++)
            if (x[j] >= 0.0f)
                y[i].qs[j / 8] |= (uint8_t)(1 << j % 8);
    }
}

void cpu_quantize_q2_0(const float *x, void *vy, int64_t n, const float *qw)
{
    (void)qw;
    cpu_block_q2_0 *y = vy;
    for (int64_t i = 0; i < n / 64; i++, x += 64) {
        float amax = 0.0f;
        for (int j = 0; j < 64; j++)
            amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        const float id = amax > 0.0f ? 1.0f / amax : 0.0f;
        y[i].d = F2H(amax);
        memset(y[i].qs, 0, sizeof y[i].qs);
        for (int j = 0; j < 64; j++) {
            int q = (int)roundf(x[j] * id) + 1;
            q = q < 0 ? 0 : q > 3 ? 3 : q;
            y[i].qs[j / 4] |= (uint8_t)(q << (j % 4) * 2);
        }
    }
}

/* ---- importance-weighted Q4_0 .. Q5_1 ------------------------------------- */

/* ggml's quantize_q4_0 .. quantize_q5_1 with quant_weights: each block
 * fitted (cpu_fit_qx symmetric, cpu_fit_qkx with a minimum) under weights
 * qw * sqrt(sigma2 + x^2), sigma2 the row's mean square. Without weights
 * they are the plain quantizers above. A block_fit_fn fits one block under
 * its weights into its bytes. */
typedef void (*block_fit_fn)(const float *xb, const float *w, void *block);

static void fit_q4_0(const float *xb, const float *w, void *block)
{
    cpu_block_q4_0 *y = block;
    int8_t L[CPU_QK];
    y->d = F2H(cpu_fit_qx(CPU_QK, 8, xb, L, w));
    for (int j = 0; j < 16; j++)
        y->qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
}

static void fit_q5_0(const float *xb, const float *w, void *block)
{
    cpu_block_q5_0 *y = block;
    int8_t L[CPU_QK];
    int q[CPU_QK];
    y->d = F2H(cpu_fit_qx(CPU_QK, 16, xb, L, w));
    for (int j = 0; j < CPU_QK; j++)
        q[j] = L[j];
    q5_pack(q, y->qs, y->qh);
}

/* Q4_1 and Q5_1: levels 0..nmax above a minimum; d and m stored, the
 * levels into q for the caller to pack. */
static void fit_with_min(const float *xb, const float *w, int nmax, uint16_t *d, uint16_t *m, int q[CPU_QK])
{
    uint8_t L[CPU_QK], Laux[CPU_QK];
    float min;
    *d = F2H(cpu_fit_qkx(CPU_QK, nmax, xb, w, L, &min, Laux, -0.9f, 0.05f, 36, 0));
    *m = F2H(-min);
    for (int j = 0; j < CPU_QK; j++)
        q[j] = L[j];
}

static void fit_q4_1(const float *xb, const float *w, void *block)
{
    cpu_block_q4_1 *y = block;
    int q[CPU_QK];
    fit_with_min(xb, w, 15, &y->d, &y->m, q);
    for (int j = 0; j < 16; j++)
        y->qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
}

static void fit_q5_1(const float *xb, const float *w, void *block)
{
    cpu_block_q5_1 *y = block;
    int q[CPU_QK];
    fit_with_min(xb, w, 31, &y->d, &y->m, q);
    q5_pack(q, y->qs, y->qh);
}

static void quantize_weighted(const float *x, void *vy, int64_t n, const float *qw, size_t block_bytes,
                              block_fit_fn fit)
{
    float sum_x2 = 0, w[CPU_QK];
    for (int64_t j = 0; j < n; j++)
        sum_x2 += x[j] * x[j];
    const float sigma2 = sum_x2 / (float)n;
    for (int64_t i = 0; i < n / CPU_QK; i++) {
        const float *xb = x + CPU_QK * i, *qb = qw + CPU_QK * i;
        for (int j = 0; j < CPU_QK; j++)
            w[j] = qb[j] * sqrtf(sigma2 + xb[j] * xb[j]);
        fit(xb, w, (uint8_t *)vy + (size_t)i * block_bytes);
    }
}

void cpu_quantize_q4_0(const float *x, void *y, int64_t n, const float *qw)
{
    (qw ? quantize_weighted(x, y, n, qw, sizeof(cpu_block_q4_0), fit_q4_0) : q4_0_from_float(x, y, n));
}

void cpu_quantize_q4_1(const float *x, void *y, int64_t n, const float *qw)
{
    (qw ? quantize_weighted(x, y, n, qw, sizeof(cpu_block_q4_1), fit_q4_1) : q4_1_from_float(x, y, n));
}

void cpu_quantize_q5_0(const float *x, void *y, int64_t n, const float *qw)
{
    (qw ? quantize_weighted(x, y, n, qw, sizeof(cpu_block_q5_0), fit_q5_0) : q5_0_from_float(x, y, n));
}

void cpu_quantize_q5_1(const float *x, void *y, int64_t n, const float *qw)
{
    (qw ? quantize_weighted(x, y, n, qw, sizeof(cpu_block_q5_1), fit_q5_1) : q5_1_from_float(x, y, n));
}

void cpu_vec_dot_iq4_nl_q8_0_ref(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_iq4_nl *x = vx;
    const cpu_block_q8_0 *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / CPU_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += cpu_kvalues_iq4nl[x[i].qs[j] & 0xf] * y[i].qs[j] +
                    cpu_kvalues_iq4nl[x[i].qs[j] >> 4] * y[i].qs[j + 16];
        sum += H2F(x[i].d) * H2F(y[i].d) * (float)sumi;
    }
    *s = sum;
}

static void mxfp4_to_float(const void *vx, float *y, int64_t n)
{
    const cpu_block_mxfp4 *x = vx;
    for (int64_t i = 0; i < n / CPU_QK; i++, y += CPU_QK) {
        float d = cpu_e8m0_to_f32_half(x[i].e);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)cpu_kvalues_mxfp4[x[i].qs[j] & 0xf] * d;
            y[j + 16] = (float)cpu_kvalues_mxfp4[x[i].qs[j] >> 4] * d;
        }
    }
}

/* the code whose value times d is nearest v (first one on a tie) */
static int mxfp4_nearest(float v, float d)
{
    int best = 0;
    float best_err = fabsf((float)cpu_kvalues_mxfp4[0] * d - v);
    for (int k = 1; k < 16; k++) {
        float err = fabsf((float)cpu_kvalues_mxfp4[k] * d - v);
        if (err < best_err) {
            best = k;
            best_err = err;
        }
    }
    return best;
}

static void mxfp4_from_float(const float *x, void *vy, int64_t n)
{
    cpu_block_mxfp4 *y = vy;
    for (int64_t i = 0; i < n / CPU_QK; i++, x += CPU_QK) {
        float amax = 0;
        for (int j = 0; j < CPU_QK; j++)
            if (amax < fabsf(x[j]))
                amax = fabsf(x[j]);
        /* the largest E2M1 value is 6 = 1.5 * 2^2 */
        uint8_t e = amax > 0 ? (uint8_t)(floorf(log2f(amax)) - 2 + 127) : 0;
        float d = cpu_e8m0_to_f32_half(e);
        y[i].e = e;
        for (int j = 0; j < 16; j++)
            y[i].qs[j] = (uint8_t)(mxfp4_nearest(x[j], d) | mxfp4_nearest(x[j + 16], d) << 4);
    }
}

void cpu_vec_dot_mxfp4_q8_0_ref(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_mxfp4 *x = vx;
    const cpu_block_q8_0 *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / CPU_QK; i++) {
        float d = H2F(y[i].d) * cpu_e8m0_to_f32_half(x[i].e);
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += cpu_kvalues_mxfp4[x[i].qs[j] & 0xf] * y[i].qs[j] +
                    cpu_kvalues_mxfp4[x[i].qs[j] >> 4] * y[i].qs[j + 16];
        sum += d * (float)sumi;
    }
    *s = sum;
}

/* ---- the table -------------------------------------------------------- */

void cpu_quant_fill_legacy_ref(cpu_quant_traits tbl[GGML_TYPE_COUNT])
{
#define ENTRY(T, VT, TOF, FROMF, DOT) \
    tbl[GGML_TYPE_##T] = (cpu_quant_traits){GGML_TYPE_##T, GGML_TYPE_##VT, TOF, FROMF, DOT, "scalar", NULL}
    ENTRY(F32, F32, f32_to_float, f32_from_float, vec_dot_f32);
    ENTRY(F16, F16, f16_to_float, f16_from_float, vec_dot_f16);
    ENTRY(BF16, BF16, bf16_to_float, bf16_from_float, vec_dot_bf16);
    ENTRY(Q4_0, Q8_0, q4_0_to_float, q4_0_from_float, cpu_vec_dot_q4_0_q8_0_ref);
    ENTRY(Q4_1, Q8_1, q4_1_to_float, q4_1_from_float, cpu_vec_dot_q4_1_q8_1_ref);
    ENTRY(Q5_0, Q8_0, q5_0_to_float, q5_0_from_float, cpu_vec_dot_q5_0_q8_0_ref);
    ENTRY(Q5_1, Q8_1, q5_1_to_float, q5_1_from_float, cpu_vec_dot_q5_1_q8_1_ref);
    ENTRY(Q8_0, Q8_0, q8_0_to_float, q8_0_from_float, cpu_vec_dot_q8_0_q8_0_ref);
    ENTRY(Q8_1, Q8_1, q8_1_to_float, q8_1_from_float, NULL);
    ENTRY(IQ4_NL, Q8_0, iq4_nl_to_float, iq4_nl_from_float, cpu_vec_dot_iq4_nl_q8_0_ref);
    ENTRY(MXFP4, Q8_0, mxfp4_to_float, mxfp4_from_float, cpu_vec_dot_mxfp4_q8_0_ref);
#undef ENTRY
}
