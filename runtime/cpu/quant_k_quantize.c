/*
 * quant_k_quantize.c: the weight quantizers of Q2_K..Q6_K and IQ4_XS, equal
 * bit for bit to ggml's reference quantizers (quantize_row_q*_K_ref and
 * quantize_iq4_xs without importance weights).
 *
 * Bit equality is the whole point: a file we quantize must be the file
 * llama.cpp's quantize writes, so every float expression below keeps
 * ggml's operand order ((w*x)*l, not w*(x*l)), rounding is half to even as
 * its nearest_int, fp16 stores round to nearest even (cpu_f32_to_fp16), and
 * this file must never be built with FP contraction (ISO C mode and no FMA
 * flags; see CMakeLists.txt). The search procedures themselves:
 *   - qkx2: asymmetric (scale, min) fit of a sub-block, trying nstep+1
 *     candidate scales and solving least squares for each (Q2/Q4/Q5_K);
 *   - q3: symmetric fit refined by coordinate descent (Q3_K);
 *   - qx: symmetric fit trying 18 scales around nmax/max (Q6_K);
 *   - iq4: per-32 scale on the non-linear grid, then one 6-bit scale each
 *     against a shared fp16 super-scale (IQ4_XS).
 * Importance-matrix variants (quantize_q*_K with quant_weights) are not
 * here; `rocmforge quantize` will add them when it needs them.
 */
#include <math.h>
#include <string.h>

#include "runtime/cpu/quant_impl.h"
#include "runtime/cpu/quant_k.h"

#define GROUP_MAX_EPS 1e-15f

static inline int nearest(float v)
{
    return (int)lrintf(v); /* half to even in the default rounding mode */
}

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Asymmetric fit x ~ scale*L - the_min over n values, L in [0, nmax]. */
static float fit_qkx2(int n, int nmax, const float *x, const float *w, uint8_t *L,
                      float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                      int use_mad)
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

/* Symmetric fit weighted by x^2 trying 18 scales; L biased by nmax. */
static float fit_qx(int n, int nmax, const float *x, int8_t *L)
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
        const float w = x[i] * x[i];
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
            const float w = x[i] * x[i];
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

/* ---- Q2_K ---------------------------------------------------------------- */

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
            scales[j] = fit_qkx2(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1);
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
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = cpu_fp16_to_f32(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d)
                continue;
            const float dm = cpu_fp16_to_f32(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] = (uint8_t)clampi(nearest((x[16 * j + l] + dm) / d), 0, 3);
        }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; ++l)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) |
                                               (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

/* ---- Q3_K ---------------------------------------------------------------- */

void cpu_quantize_q3_k_ref(const float *x, void *vy, int64_t n)
{
    cpu_block_q3_k *y = vy;
    int8_t L[QK_K], sc[16];
    float scales[QK_K / 16];

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
        memset(y[i].scales, 0, sizeof y[i].scales);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) {
                const int l = clampi(nearest(iscale * scales[j]), -32, 31) + 32;
                if (j < 8)
                    y[i].scales[j] = (uint8_t)(l & 0xF);
                else
                    y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                y[i].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[i].d = cpu_f32_to_fp16(1 / iscale);
        } else {
            y[i].d = cpu_f32_to_fp16(0.f);
        }
        cpu_q3_k_scales(y[i].scales, sc);
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = cpu_fp16_to_f32(y[i].d) * sc[j];
            if (!d)
                continue;
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] = (int8_t)(clampi(nearest(x[16 * j + l] / d), -4, 3) + 4);
        }
        /* high bit of quant j goes to hmask[j % 32], bit j / 32 */
        memset(y[i].hmask, 0, sizeof y[i].hmask);
        for (int j = 0; j < QK_K; ++j) {
            if (L[j] > 3) {
                y[i].hmask[j % 32] |= (uint8_t)(1 << (j / 32));
                L[j] -= 4;
            }
        }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; ++l)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) |
                                               (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

/* ---- Q4_K / Q5_K --------------------------------------------------------- */

/* The shared front half: fit each 32-block, pack 6-bit scales and mins, set
 * d and dmin, and requantize L against the packed values. */
static void fit_k4(const float *x, uint8_t L[QK_K], int nmax, float rmin, int nstep,
                   uint8_t packed[K_SCALE_SIZE], uint16_t *d_out, uint16_t *dmin_out)
{
    uint8_t Laux[32];
    float w[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; ++l)
            w[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = fit_qkx2(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t ls = (uint8_t)nearest(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
            packed[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = cpu_f32_to_fp16(max_scale / 63.f);
    *dmin_out = cpu_f32_to_fp16(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        cpu_k4_scale_min(j, packed, &sc, &m);
        const float d = cpu_fp16_to_f32(*d_out) * sc;
        if (!d)
            continue;
        const float dm = cpu_fp16_to_f32(*dmin_out) * m;
        for (int l = 0; l < 32; ++l)
            L[32 * j + l] = (uint8_t)clampi(nearest((x[32 * j + l] + dm) / d), 0, nmax);
    }
}

void cpu_quantize_q4_k_ref(const float *x, void *vy, int64_t n)
{
    cpu_block_q4_k *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        fit_k4(x, L, 15, -1.f, 20, y[i].scales, &y[i].d, &y[i].dmin);
        for (int j = 0; j < QK_K / 64; ++j)
            for (int l = 0; l < 32; ++l)
                y[i].qs[32 * j + l] = (uint8_t)(L[64 * j + l] | (L[64 * j + l + 32] << 4));
    }
}

void cpu_quantize_q5_k_ref(const float *x, void *vy, int64_t n)
{
    cpu_block_q5_k *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        fit_k4(x, L, 31, -0.5f, 15, y[i].scales, &y[i].d, &y[i].dmin);
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int c = 0; c < QK_K / 64; ++c) {
            for (int l = 0; l < 32; ++l) {
                const int l1 = L[64 * c + l], l2 = L[64 * c + l + 32];
                if (l1 > 15)
                    y[i].qh[l] |= (uint8_t)(1 << (2 * c));
                if (l2 > 15)
                    y[i].qh[l] |= (uint8_t)(2 << (2 * c));
                y[i].qs[32 * c + l] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
            }
        }
    }
}

/* ---- Q6_K ---------------------------------------------------------------- */

void cpu_quantize_q6_k_ref(const float *x, void *vy, int64_t n)
{
    cpu_block_q6_k *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];

    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            scales[ib] = fit_qx(16, 32, x + 16 * ib, L + 16 * ib);
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

/* ---- IQ4_XS -------------------------------------------------------------- */

/* index of the grid value nearest v (ties toward the lower index) */
static int grid_index(const int8_t *val, float v)
{
    if (v <= val[0])
        return 0;
    if (v >= val[15])
        return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (v < val[mid])
            hi = mid;
        else
            lo = mid;
    }
    return v - val[hi - 1] < val[hi] - v ? hi - 1 : hi;
}

void cpu_quantize_iq4_xs_ref(const float *x, void *vy, int64_t n)
{
    cpu_block_iq4_xs *y = vy;
    const int8_t *val = cpu_kvalues_iq4nl;
    const int ntry = 7;
    uint8_t L[QK_K];
    float w[32], scales[QK_K / 32];

    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        memset(y[i].qs, 0, sizeof y[i].qs);
        y[i].d = cpu_f32_to_fp16(0.f);
        float max_scale = 0, amax_scale = 0;
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const float *xb = x + 32 * ib;
            uint8_t *Lb = L + 32 * ib;
            for (int j = 0; j < 32; ++j)
                w[j] = xb[j] * xb[j];
            float amax = 0, max = 0;
            for (int j = 0; j < 32; ++j) {
                const float ax = fabsf(xb[j]);
                if (ax > amax) {
                    amax = ax;
                    max = xb[j];
                }
            }
            if (amax < GROUP_MAX_EPS) {
                scales[ib] = 0;
                continue;
            }
            float d = -max / val[0];
            float id = 1 / d;
            float sumqx = 0, sumq2 = 0;
            for (int j = 0; j < 32; ++j) {
                const int l = grid_index(val, id * xb[j]);
                Lb[j] = (uint8_t)l;
                const float q = val[l];
                sumqx += w[j] * q * xb[j];
                sumq2 += w[j] * q * q;
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
            float best = d * sumqx;
            for (int itry = -ntry; itry <= ntry; ++itry) {
                id = (itry + val[0]) / max;
                sumqx = sumq2 = 0;
                for (int j = 0; j < 32; ++j) {
                    const float q = val[grid_index(val, id * xb[j])];
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
        y[i].scales_h = 0;
        const float d = -max_scale / 32;
        y[i].d = cpu_f32_to_fp16(d);
        const float id = d ? 1 / d : 0.f;
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            int l = clampi(nearest(id * scales[ib]), -32, 31);
            const float dl = d * l;
            const float idl = dl ? 1 / dl : 0.f;
            for (int j = 0; j < 32; ++j)
                L[32 * ib + j] = (uint8_t)grid_index(val, idl * x[32 * ib + j]);
            l += 32;
            if (ib % 2 == 0)
                y[i].scales_l[ib / 2] = (uint8_t)(l & 0xF);
            else
                y[i].scales_l[ib / 2] |= (uint8_t)((l & 0xF) << 4);
            y[i].scales_h |= (uint16_t)((l >> 4) << (2 * ib));
        }
        for (int ib = 0; ib < QK_K / 32; ++ib)
            for (int j = 0; j < 16; ++j)
                y[i].qs[16 * ib + j] = (uint8_t)(L[32 * ib + j] | (L[32 * ib + 16 + j] << 4));
    }
}
