/*
 * moe.c: the CPU kernels of a mixture-of-experts FFN: the router's softmax,
 * group mask (deepseek's: only the best groups' experts may be chosen) and
 * top-k, the chosen experts' weights, their products (matmul_id), the
 * weighted sum, and the shared expert's gate.
 *
 * Numerics follow ggml's CPU backend, which is what llama.cpp's
 * build_moe_ffn runs on: the softmax subtracts the row's max, sums the
 * exponentials in double and scales by the f32 reciprocal of the sum; the
 * weights' sum for normalisation is summed in double and clamped below at
 * 2^-14 (llama.cpp's clamp to f16's smallest normal); the experts' outputs
 * are multiplied by their weights and added in slot order, one rounding
 * each, as ggml_mul then a chain of ggml_add does. The top-k is ggml's
 * descending argsort cut at k (ties keep the lower index first).
 *
 * gpt-oss's router (softmax_weight) takes the top k of the logits and
 * weighs the chosen by the softmax of their logits (moe_weights norm 2);
 * its experts add their own bias rows after the product (ggml's add_id).
 *
 * matmul_id runs each expert that any row chose as one product over the
 * rows that chose it: those rows are gathered into scratch, multiplied by
 * the expert's matrix through cpu_matmul (so an expert's arithmetic is that
 * of a dense matmul of the same type, the activations quantized row by
 * row as ggml's mul_mat_id does) and scattered back to their (token, slot).
 * A step of a few tokens (decode) instead runs each token's k experts as
 * the k weights of one product call where they share its row. Either way
 * a token reads only its k experts' rows, and each output is the same one
 * vec_dot of the same quantized row.
 */
#include <math.h>
#include <string.h>

#include "runtime/cpu/ops.h"

/* up to this many tokens of up to this many slots: matmul_id_few */
enum { MOE_FEW_TOKENS = 4, MOE_FEW_SLOTS = 32 };

void cpu_softmax_rows(const float *x, float *y, int64_t n, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float max = -INFINITY;
        for (int64_t i = 0; i < n; i++)
            max = xr[i] > max ? xr[i] : max;
        double sum = 0;
        for (int64_t i = 0; i < n; i++) {
            yr[i] = expf(xr[i] - max);
            sum += (double)yr[i];
        }
        const float inv = (float)(1.0 / sum);
        for (int64_t i = 0; i < n; i++)
            yr[i] *= inv;
    }
}

void cpu_topk_rows(const float *x, int32_t *ids, int64_t n, int64_t k, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * n;
        int32_t *ir = ids + r * k;
        /* insertion into the k best so far: k is small (2..16) */
        int64_t have = 0;
        for (int64_t i = 0; i < n; i++) {
            float v = xr[i];
            if (have == k && !(v > xr[ir[k - 1]]))
                continue;
            int64_t j = have < k ? have++ : k - 1; /* the slot to fill; a full list drops its last */
            while (j > 0 && v > xr[ir[j - 1]]) {
                ir[j] = ir[j - 1];
                j--;
            }
            ir[j] = (int32_t)i;
        }
    }
}

/* the sum of the two largest of x[0..m), ggml's top-2 argsort then sum_rows */
static float top2_sum(const float *x, int64_t m)
{
    float a = -INFINITY, b = -INFINITY;
    for (int64_t i = 0; i < m; i++) {
        if (x[i] > a)
            b = a, a = x[i];
        else if (x[i] > b)
            b = x[i];
    }
    return a + b;
}

void cpu_group_mask(const float *x, float *y, int64_t n, int64_t groups, int64_t used, int64_t r0, int64_t r1)
{
    const int64_t m = n / groups;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        /* a group's rank among the groups: those scoring higher, or the
         * same at a lower index, come first (ggml's argsort order) */
        for (int64_t g = 0; g < groups; g++) {
            const float score = top2_sum(xr + g * m, m);
            int64_t rank = 0;
            for (int64_t h = 0; h < groups; h++) {
                const float other = top2_sum(xr + h * m, m);
                rank += other > score || (other == score && h < g);
            }
            for (int64_t i = g * m; i < (g + 1) * m; i++)
                yr[i] = rank < used ? xr[i] : -INFINITY;
        }
    }
}

void cpu_moe_weights(const float *p, const int32_t *ids, float *w, int64_t n, int64_t k, int norm, float scale,
                     int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        float *wr = w + r * k;
        for (int64_t j = 0; j < k; j++)
            wr[j] = p[r * n + ids[r * k + j]];
        if (norm == 2) /* the chosen logits' softmax (gpt-oss) */
            cpu_softmax_rows(wr, wr, k, 0, 1);
        if (norm == 1) {
            double sum = 0;
            for (int64_t j = 0; j < k; j++)
                sum += (double)wr[j];
            float s = (float)sum;
            s = s < 6.103515625e-5f ? 6.103515625e-5f : s;
            for (int64_t j = 0; j < k; j++)
                wr[j] /= s;
        }
        if (scale != 0.0f && scale != 1.0f)
            for (int64_t j = 0; j < k; j++)
                wr[j] *= scale;
    }
}

void cpu_moe_sum(const float *y, const float *w, float *out, int64_t k, int64_t N, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        float *o = out + r * N;
        const float *yr = y + r * k * N, *wr = w + r * k;
        for (int64_t i = 0; i < N; i++)
            o[i] = yr[i] * wr[0];
        for (int64_t j = 1; j < k; j++)
            for (int64_t i = 0; i < N; i++) {
                float t = yr[j * N + i] * wr[j];
                o[i] += t;
            }
    }
}

void cpu_scale_rows(const float *x, const float *s, float *y, int64_t N, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++)
        for (int64_t i = 0; i < N; i++)
            y[r * N + i] = x[r * N + i] * s[r];
}

int64_t cpu_matmul_id_scratch_bytes(int64_t rows, int64_t K, int64_t N)
{
    return rows * (K + N) * (int64_t)sizeof(float) + rows * (int64_t)sizeof(int32_t);
}

/* y row r's bias, after the product (ggml's add_id: one rounding) */
static void add_bias(const cpu_matmul_id_args *a, int64_t r)
{
    const float *b = a->bias + a->ids[r] * a->N;
    float *y = a->y + r * a->N;
    for (int64_t c = 0; c < a->N; c++)
        y[c] += b[c];
}

/* A few tokens (decode): each token's k experts in one product call where
 * they share its row (gate, up: cpu_matmul's weights of one input), else one
 * call a slot, straight into y: no gathering, and k times fewer pool runs
 * for gate and up than an expert at a time. */
static int matmul_id_few(cpu_pool *pool, const cpu_matmul_id_args *a, void *qx)
{
    cpu_matmul_w ws[MOE_FEW_SLOTS];
    for (int64_t t = 0; t < a->T; t++) {
        for (int64_t j = 0; j < a->k; j++)
            ws[j] = (cpu_matmul_w){(const char *)a->w + a->ids[t * a->k + j] * a->expert_bytes, a->N,
                                   a->y + (t * a->k + j) * a->N, a->N};
        if (!a->x_per_slot) {
            if (cpu_matmul(pool, a->wtype, a->K, a->x + t * a->K, a->K, 1, ws, (int)a->k, qx) != 0)
                return -1;
        } else {
            for (int64_t j = 0; j < a->k; j++)
                if (cpu_matmul(pool, a->wtype, a->K, a->x + (t * a->k + j) * a->K, a->K, 1, &ws[j], 1, qx) != 0)
                    return -1;
        }
        for (int64_t j = 0; a->bias && j < a->k; j++)
            add_bias(a, t * a->k + j);
    }
    return 0;
}

int cpu_matmul_id(cpu_pool *pool, const cpu_matmul_id_args *a, void *scratch, void *qx)
{
    if (a->T <= MOE_FEW_TOKENS && a->k <= MOE_FEW_SLOTS)
        return matmul_id_few(pool, a, qx);
    int64_t R = a->T * a->k;
    float *xs = scratch, *ys = xs + R * a->K;
    int32_t *rows = (int32_t *)(ys + R * a->N);
    for (int64_t e = 0; e < a->n_expert; e++) {
        int64_t m = 0;
        for (int64_t r = 0; r < R; r++)
            if (a->ids[r] == e)
                rows[m++] = (int32_t)r;
        if (!m)
            continue;
        for (int64_t i = 0; i < m; i++) {
            int64_t src = a->x_per_slot ? rows[i] : rows[i] / a->k;
            memcpy(xs + i * a->K, a->x + src * a->K, (size_t)a->K * sizeof *xs);
        }
        cpu_matmul_w w = {(const char *)a->w + e * a->expert_bytes, a->N, ys, a->N};
        if (cpu_matmul(pool, a->wtype, a->K, xs, a->K, m, &w, 1, qx) != 0)
            return -1;
        for (int64_t i = 0; i < m; i++) {
            memcpy(a->y + (int64_t)rows[i] * a->N, ys + i * a->N, (size_t)a->N * sizeof *ys);
            if (a->bias)
                add_bias(a, rows[i]);
        }
    }
    return 0;
}
