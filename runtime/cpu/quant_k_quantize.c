/*
 * quant_k_quantize.c: the weight quantizers of Q2_K..Q6_K, equal bit for
 * bit to what ggml_quantize_chunk writes: without importance weights its
 * reference quantizers (quantize_row_q*_K_ref), with them its
 * quantize_row_q*_K_impl. Also the scale fits the other quantizers share
 * (cpu_fit_qx, cpu_fit_qkx, cpu_fit_qp).
 *
 * Bit equality is the whole point: a file we quantize must be the file
 * llama.cpp's quantize writes, so every float expression below keeps
 * ggml's operand order ((w*x)*l, not w*(x*l)), rounding is half to even as
 * its nearest_int, fp16 stores round to nearest even (cpu_f32_to_fp16), and
 * this file must never be built with FP contraction (ISO C mode and no FMA
 * flags; see CMakeLists.txt). The search procedures themselves:
 *   - qkx: asymmetric (scale, min) fit of a sub-block, trying nstep+1
 *     candidate scales and solving least squares for each (Q2/Q4/Q5_K,
 *     and Q4_1/Q5_1 with weights);
 *   - q3: symmetric fit refined by coordinate descent (Q3_K);
 *   - qx: symmetric fit trying 18 scales around nmax/max (Q6_K; Q3_K's
 *     sub-blocks and scales with weights; Q4_0/Q5_0 with weights);
 *   - qp: non-negative values (the weighted fits' scales and mins) onto
 *     [0, nmax], nine scales then coordinate descent.
 * With importance weights each element's weight is qw * sqrt(sigma2 + x^2)
 * (sigma2 the super-block's mean square, doubled but for Q2_K), except
 * Q6_K, which takes qw as it is; the scales are fitted under the sums of
 * their sub-blocks' weights rather than spread linearly.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "runtime/cpu/quant_impl.h"
#include "runtime/cpu/quant_k.h"

#define GROUP_MAX_EPS 1e-15f

static inline int nearest(float v)
{
    return (int)lrintf(v); /* half to even in the default rounding mode */
}

static inline int imin(int a, int b)
{
    return a < b ? a : b;
}

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Asymmetric fit x ~ scale*L - the_min over n values, L in [0, nmax]
 * (ggml's make_qkx2_quants, and make_qkx3_quants given weights). */
float cpu_fit_qkx(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                  uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad)
{
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        L[i] = (uint8_t)clampi(nearest(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += w[i] * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clampi(nearest(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0))
            continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float cur_error = 0;
        for (int i = 0; i < n; ++i) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            diff = use_mad ? fabsf(diff) : diff * diff;
            cur_error += w[i] * diff;
        }
        if (cur_error < best_error) {
            memcpy(L, Laux, (size_t)n);
            best_error = cur_error;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* Symmetric fit with coordinate descent; L in [0, 2*nmax) biased by nmax. */
static float fit_q3(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (!(slx > 0))
                continue;
            float sl2 = suml2 - w * L[i] * L[i];
            const int new_l = clampi(nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (new_l == L[i])
                continue;
            slx += w * x[i] * new_l;
            sl2 += w * new_l * new_l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                ++n_changed;
            }
        }
        if (!n_changed)
            break;
    }
    for (int i = 0; i < n; ++i)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Symmetric fit trying 18 scales, each element weighted by qw[i] (NULL:
 * x^2); L biased by nmax (ggml's make_qx_quants, rmse_type 1). */
float cpu_fit_qx(int n, int nmax, const float *x, int8_t *L, const float *qw)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = qw ? qw[i] : x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0)
            continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
            const float w = qw ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i)
                L[i] = (int8_t)(nmax + clampi(nearest(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Non-negative x onto L in [0, nmax] with one scale, weighted by qw: the
 * best of nine scales around nmax/max, refined by coordinate descent
 * (ggml's make_qp_quants; fits the K-quants' scales and IQ2_XXS). */
float cpu_fit_qp(int n, int nmax, const float *x, uint8_t *L, const float *qw)
{
    float max = 0;
    for (int i = 0; i < n; ++i)
        max = max > x[i] ? max : x[i];
    if (max < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = nmax / max;
    for (int i = 0; i < n; ++i)
        L[i] = (uint8_t)nearest(iscale * x[i]);
    const float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; ++i) {
        const float diff = x[i] - scale * L[i];
        best_mse += qw[i] * diff * diff;
    }
    for (int is = -4; is <= 4; ++is) {
        if (is == 0)
            continue;
        const float iscale_is = (0.1f * is + nmax) / max;
        const float scale_is = 1 / iscale_is;
        float mse = 0;
        for (int i = 0; i < n; ++i) {
            const int l = imin(nmax, nearest(iscale_is * x[i]));
            const float diff = x[i] - scale_is * l;
            mse += qw[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = imin(nmax, nearest(iscale * x[i]));
        L[i] = (uint8_t)l;
        sumlx += qw[i] * x[i] * l;
        suml2 += qw[i] * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = qw[i];
            float slx = sumlx - w * x[i] * L[i];
            float sl2 = suml2 - w * L[i] * L[i];
            if (!(slx > 0 && sl2 > 0))
                continue;
            const int new_l = imin(nmax, nearest(x[i] * sl2 / slx));
            if (new_l == L[i])
                continue;
            slx += w * x[i] * new_l;
            sl2 += w * new_l * new_l;
            if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (uint8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                ++n_changed;
            }
        }
        if (!n_changed)
            break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* ---- packing ------------------------------------------------------------ */

static void pack_2bit(const uint8_t L[QK_K], uint8_t qs[QK_K / 4])
{
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

static void pack_q3_k(int8_t L[QK_K], cpu_block_q3_k *y)
{
    /* high bit of quant j goes to hmask[j % 32], bit j / 32 */
    memset(y->hmask, 0, sizeof y->hmask);
    for (int j = 0; j < QK_K; ++j) {
        if (L[j] > 3) {
            y->hmask[j % 32] |= (uint8_t)(1 << (j / 32));
            L[j] -= 4;
        }
    }
    pack_2bit((const uint8_t *)L, y->qs);
}

/* ---- Q2_K ---------------------------------------------------------------- */

/* Requantize every element against the stored scales and mins, then pack. */
static void q2_k_finish(const float *x, uint8_t L[QK_K], cpu_block_q2_k *y)
{
    for (int j = 0; j < QK_K / 16; ++j) {
        const float d = cpu_fp16_to_f32(y->d) * (y->scales[j] & 0xF);
        if (!d)
            continue;
        const float dm = cpu_fp16_to_f32(y->dmin) * (y->scales[j] >> 4);
        for (int l = 0; l < 16; ++l)
            L[16 * j + l] = (uint8_t)clampi(nearest((x[16 * j + l] + dm) / d), 0, 3);
    }
    pack_2bit(L, y->qs);
}

void cpu_quantize_q2_k_ref(const float *x, void *vy, int64_t n)
{
    cpu_block_q2_k *y = vy;
    uint8_t L[QK_K], Laux[16];
    float w[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;

    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            for (int l = 0; l < 16; ++l)
                w[l] = fabsf(x[16 * j + l]);
            scales[j] = cpu_fit_qkx(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale)
                max_scale = scales[j];
            if (mins[j] > max_min)
                max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; ++j)
                y[i].scales[j] = (uint8_t)nearest(iscale * scales[j]);
            y[i].d = cpu_f32_to_fp16(max_scale / q4scale);
        } else {
            memset(y[i].scales, 0, sizeof y[i].scales);
            y[i].d = cpu_f32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; ++j)
                y[i].scales[j] |= (uint8_t)(nearest(iscale * mins[j]) << 4);
            y[i].dmin = cpu_f32_to_fp16(max_min / q4scale);
        } else {
            y[i].dmin = cpu_f32_to_fp16(0.f);
        }
        q2_k_finish(x, L, &y[i]);
    }
}

/* With importance weights (quantize_row_q2_K_impl): each 16 by
 * cpu_fit_qkx under qw * sqrt(sigma2 + x^2), then the scales and the mins
 * fitted onto 4 bits under the sums of those weights. */
static void quantize_q2_k_weighted(const float *x, void *vy, int64_t n, const float *qw)
{
    cpu_block_q2_k *y = vy;
    uint8_t L[QK_K], Laux[16], Ls[QK_K / 16], Lm[QK_K / 16];
    float w[16], sw[QK_K / 16], mins[QK_K / 16], scales[QK_K / 16];

    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K, qw += QK_K) {
        float sumx2 = 0;
        for (int j = 0; j < QK_K; ++j)
            sumx2 += x[j] * x[j];
        const float sigma2 = sumx2 / QK_K;
        for (int j = 0; j < QK_K / 16; ++j) {
            sw[j] = 0;
            for (int l = 0; l < 16; ++l)
                w[l] = qw[16 * j + l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
            for (int l = 0; l < 16; ++l)
                sw[j] += w[l];
            scales[j] = cpu_fit_qkx(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
        }
        y[i].d = cpu_f32_to_fp16(cpu_fit_qp(QK_K / 16, 15, scales, Ls, sw));
        y[i].dmin = cpu_f32_to_fp16(cpu_fit_qp(QK_K / 16, 15, mins, Lm, sw));
        for (int j = 0; j < QK_K / 16; ++j)
            y[i].scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
        q2_k_finish(x, L, &y[i]);
    }
}

void cpu_quantize_q2_k(const float *x, void *y, int64_t n, const float *qw)
{
    if (qw)
        quantize_q2_k_weighted(x, y, n, qw);
    else
        cpu_quantize_q2_k_ref(x, y, n);
}

/* ---- Q3_K ---------------------------------------------------------------- */

/* The back half of both Q3_K fits: 6-bit scales l[j] (biased by 32; NULL:
 * all zero) under the super-scale d, then every element requantized
 * against the stored scales and packed. */
static void q3_k_finish(const float *x, const int *l, float d, int8_t L[QK_K], cpu_block_q3_k *y)
{
    int8_t sc[16];
    memset(y->scales, 0, sizeof y->scales);
    for (int j = 0; l && j < QK_K / 16; ++j) {
        if (j < 8)
            y->scales[j] = (uint8_t)(l[j] & 0xF);
        else
            y->scales[j - 8] |= (uint8_t)((l[j] & 0xF) << 4);
        y->scales[j % 4 + 8] |= (uint8_t)((l[j] >> 4) << (2 * (j / 4)));
    }
    y->d = cpu_f32_to_fp16(d);
    cpu_q3_k_scales(y->scales, sc);
    for (int j = 0; j < QK_K / 16; ++j) {
        const float dl = cpu_fp16_to_f32(y->d) * sc[j];
        if (!dl)
            continue;
        for (int i = 0; i < 16; ++i)
            L[16 * j + i] = (int8_t)(clampi(nearest(x[16 * j + i] / dl), -4, 3) + 4);
    }
    pack_q3_k(L, y);
}

void cpu_quantize_q3_k_ref(const float *x, void *vy, int64_t n)
{
    cpu_block_q3_k *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    int l[QK_K / 16];

    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            scales[j] = fit_q3(16, 4, x + 16 * j, L + 16 * j);
            const float a = fabsf(scales[j]);
            if (a > amax) {
                amax = a;
                max_scale = scales[j];
            }
        }
        if (!max_scale) {
            q3_k_finish(x, NULL, 0.f, L, &y[i]);
            continue;
        }
        const float iscale = -32.f / max_scale;
        for (int j = 0; j < QK_K / 16; ++j)
            l[j] = clampi(nearest(iscale * scales[j]), -32, 31) + 32;
        q3_k_finish(x, l, 1 / iscale, L, &y[i]);
    }
}

/* With importance weights qw (quantize_row_q3_K_impl): each 16 fitted
 * under weights qw * sqrt(sigma2 + x^2), the scales fitted in turn under
 * the sums of those weights. */
static void quantize_q3_k_weighted(const float *x, void *vy, int64_t n, const float *qw)
{
    cpu_block_q3_k *y = vy;
    int8_t L[QK_K], Ls[QK_K / 16];
    float scales[QK_K / 16], w[16], sw[QK_K / 16];
    int l[QK_K / 16];

    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K, qw += QK_K) {
        float sumx2 = 0;
        for (int j = 0; j < QK_K; ++j)
            sumx2 += x[j] * x[j];
        const float sigma2 = 2 * sumx2 / QK_K;
        for (int j = 0; j < QK_K / 16; ++j) {
            float sumw = 0;
            for (int k = 0; k < 16; ++k)
                w[k] = qw[16 * j + k] * sqrtf(sigma2 + x[16 * j + k] * x[16 * j + k]);
            for (int k = 0; k < 16; ++k)
                sumw += w[k];
            sw[j] = sumw;
            scales[j] = cpu_fit_qx(16, 4, x + 16 * j, L + 16 * j, w);
        }
        const float d_block = cpu_fit_qx(QK_K / 16, 32, scales, Ls, sw);
        for (int j = 0; j < QK_K / 16; ++j)
            l[j] = Ls[j];
        q3_k_finish(x, l, d_block, L, &y[i]);
    }
}

void cpu_quantize_q3_k(const float *x, void *y, int64_t n, const float *qw)
{
    if (qw)
        quantize_q3_k_weighted(x, y, n, qw);
    else
        cpu_quantize_q3_k_ref(x, y, n);
}

/* ---- Q4_K / Q5_K --------------------------------------------------------- */

/* The back half of every Q4_K/Q5_K fit: 6-bit scales ls and mins lm packed,
 * d and dmin stored, and L requantized against the packed values. */
static void k4_finish(const float *x, uint8_t L[QK_K], int nmax, const uint8_t ls[QK_K / 32],
                      const uint8_t lm[QK_K / 32], float d, float dmin, uint8_t packed[K_SCALE_SIZE],
                      uint16_t *d_out, uint16_t *dmin_out)
{
    for (int j = 0; j < QK_K / 32; ++j) {
        if (j < 4) {
            packed[j] = ls[j];
            packed[j + 4] = lm[j];
        } else {
            packed[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            packed[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            packed[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
    *d_out = cpu_f32_to_fp16(d);
    *dmin_out = cpu_f32_to_fp16(dmin);
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        cpu_k4_scale_min(j, packed, &sc, &m);
        const float dl = cpu_fp16_to_f32(*d_out) * sc;
        if (!dl)
            continue;
        const float dm = cpu_fp16_to_f32(*dmin_out) * m;
        for (int l = 0; l < 32; ++l)
            L[32 * j + l] = (uint8_t)clampi(nearest((x[32 * j + l] + dm) / dl), 0, nmax);
    }
}

/* The reference fit of one super-block: each 32 by cpu_fit_qkx under
 * weights av_x + |x|, scales and mins scaled linearly onto 6 bits. */
static void fit_k4(const float *x, uint8_t L[QK_K], int nmax, float rmin, int nstep,
                   uint8_t packed[K_SCALE_SIZE], uint16_t *d_out, uint16_t *dmin_out)
{
    uint8_t Laux[32], ls[QK_K / 32], lm[QK_K / 32];
    float w[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; ++l)
            w[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = cpu_fit_qkx(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
        ls[j] = (uint8_t)nearest(inv_scale * scales[j]);
        lm[j] = (uint8_t)nearest(inv_min * mins[j]);
        ls[j] = ls[j] < 63 ? ls[j] : 63;
        lm[j] = lm[j] < 63 ? lm[j] : 63;
    }
    k4_finish(x, L, nmax, ls, lm, max_scale / 63.f, max_min / 63.f, packed, d_out, dmin_out);
}

/* The importance-weighted fit (quantize_row_q4_K_impl / q5_K_impl): each
 * 32 under qw * sqrt(sigma2 + x^2), the scales and mins then fitted onto 6
 * bits under the sums of those weights. Q5_K clamps the 6-bit values to 63,
 * Q4_K does not (it shows only for a negative scale). */
static void fit_k4_weighted(const float *x, const float *qw, uint8_t L[QK_K], int nmax, bool clamp,
                            uint8_t packed[K_SCALE_SIZE], uint16_t *d_out, uint16_t *dmin_out)
{
    uint8_t Laux[32], ls[QK_K / 32], lm[QK_K / 32];
    float w[32], sw[QK_K / 32], mins[QK_K / 32], scales[QK_K / 32];
    float sum_x2 = 0;
    for (int l = 0; l < QK_K; ++l)
        sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / QK_K;
    for (int j = 0; j < QK_K / 32; ++j) {
        float sumw = 0;
        for (int l = 0; l < 32; ++l)
            w[l] = qw[32 * j + l] * sqrtf(sigma2 + x[32 * j + l] * x[32 * j + l]);
        for (int l = 0; l < 32; ++l)
            sumw += w[l];
        sw[j] = sumw;
        scales[j] = cpu_fit_qkx(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
    }
    const float d = cpu_fit_qp(QK_K / 32, 63, scales, ls, sw);
    const float m = cpu_fit_qp(QK_K / 32, 63, mins, lm, sw);
    for (int j = 0; clamp && j < QK_K / 32; ++j) {
        ls[j] = ls[j] < 63 ? ls[j] : 63;
        lm[j] = lm[j] < 63 ? lm[j] : 63;
    }
    k4_finish(x, L, nmax, ls, lm, d, m, packed, d_out, dmin_out);
}

static void pack_q4_k(const uint8_t L[QK_K], cpu_block_q4_k *y)
{
    for (int j = 0; j < QK_K / 64; ++j)
        for (int l = 0; l < 32; ++l)
            y->qs[32 * j + l] = (uint8_t)(L[64 * j + l] | (L[64 * j + l + 32] << 4));
}

static void pack_q5_k(const uint8_t L[QK_K], cpu_block_q5_k *y)
{
    memset(y->qh, 0, sizeof y->qh);
    for (int c = 0; c < QK_K / 64; ++c) {
        for (int l = 0; l < 32; ++l) {
            const int l1 = L[64 * c + l], l2 = L[64 * c + l + 32];
            if (l1 > 15)
                y->qh[l] |= (uint8_t)(1 << (2 * c));
            if (l2 > 15)
                y->qh[l] |= (uint8_t)(2 << (2 * c));
            y->qs[32 * c + l] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
        }
    }
}

void cpu_quantize_q4_k_ref(const float *x, void *vy, int64_t n)
{
    cpu_quantize_q4_k(x, vy, n, NULL);
}

void cpu_quantize_q4_k(const float *x, void *vy, int64_t n, const float *qw)
{
    cpu_block_q4_k *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        if (qw)
            fit_k4_weighted(x, qw + QK_K * i, L, 15, false, y[i].scales, &y[i].d, &y[i].dmin);
        else
            fit_k4(x, L, 15, -1.f, 20, y[i].scales, &y[i].d, &y[i].dmin);
        pack_q4_k(L, &y[i]);
    }
}

void cpu_quantize_q5_k_ref(const float *x, void *vy, int64_t n)
{
    cpu_quantize_q5_k(x, vy, n, NULL);
}

void cpu_quantize_q5_k(const float *x, void *vy, int64_t n, const float *qw)
{
    cpu_block_q5_k *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        if (qw)
            fit_k4_weighted(x, qw + QK_K * i, L, 31, true, y[i].scales, &y[i].d, &y[i].dmin);
        else
            fit_k4(x, L, 31, -0.5f, 15, y[i].scales, &y[i].d, &y[i].dmin);
        pack_q5_k(L, &y[i]);
    }
}

/* ---- Q6_K ---------------------------------------------------------------- */

void cpu_quantize_q6_k_ref(const float *x, void *vy, int64_t n)
{
    cpu_quantize_q6_k(x, vy, n, NULL);
}

/* ggml's quantize_row_q6_K_impl takes the importance weights as they are
 * (no sigma2 term) into each 16's fit; the rest is the reference's. */
void cpu_quantize_q6_k(const float *x, void *vy, int64_t n, const float *qw)
{
    cpu_block_q6_k *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];

    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            scales[ib] = cpu_fit_qx(16, 32, x + 16 * ib, L + 16 * ib, qw ? qw + QK_K * i + 16 * ib : NULL);
            const float a = fabsf(scales[ib]);
            if (a > max_abs_scale) {
                max_abs_scale = a;
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            y[i].d = cpu_f32_to_fp16(0.f);
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = cpu_f32_to_fp16(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            const int v = nearest(iscale * scales[ib]);
            y[i].scales[ib] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = cpu_fp16_to_f32(y[i].d) * y[i].scales[j];
            if (!d)
                continue;
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] = (int8_t)(clampi(nearest(x[16 * j + l] / d), -32, 31) + 32);
        }
        for (int h = 0; h < QK_K / 128; ++h) {
            uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
            const int8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; ++l) {
                ql[l] = (uint8_t)((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
                qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                  ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}
