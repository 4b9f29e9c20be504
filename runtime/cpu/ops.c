/*
 * ops.c: the CPU backend's row and elementwise kernels, RoPE, the KV cache
 * store and attention (ops.h), in portable C with the hot inner loops
 * dispatched through a table (ops_impl.h) that ops_x86.c / ops_avx512.c
 * fill with AVX2 / AVX-512 versions when the CPU has them.
 *
 * Numerics follow ggml's CPU backend wherever a difference would show up in
 * a comparison with llama.cpp:
 *  - rms_norm sums the f32 squares in double and scales by 1/sqrtf(mean+eps);
 *  - GELU is the tanh form evaluated through ggml's f16 table: the input is
 *    rounded to f16, the table holds gelu(x) rounded to f16, and |x| >= 10
 *    short-cuts to 0 or x (GGML_GELU_FP16, on in the prebuilt CPU backend);
 *  - RoPE's angles come from repeated multiplication by base^(-2/n_rot) in
 *    f32, starting at the position, with rope_yarn's ramp and mscale;
 *  - attention is llama.cpp's non-flash graph: kq = q·k, softcap as
 *    cap*tanh(kq*(1/cap)) before the scale, softmax of kq*scale + mask with
 *    max subtraction and the sum in double; with an f16 cache, q is rounded
 *    to f16 before q·k and the probabilities before the product with V
 *    (ggml_mul_mat converts its f32 operand to the f16 weight's type).
 *
 * Kernels never allocate (attention's scratch comes from the caller) and
 * split work only as the signature says: [r0, r1) or [i0, i1) chosen by the
 * caller, or (ith, nth) for attention.
 */
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "runtime/cpu/ops.h"
#include "runtime/cpu/ops_impl.h"
#include "runtime/cpu/quant.h"
#include "runtime/cpu/quant_impl.h"

/* ---- scalar inner loops and dispatch ---------------------------------------- */

static double sumsq_scalar(const float *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)(x[i] * x[i]);
    return s;
}

static float dot_f32_scalar(const float *a, const float *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)(a[i] * b[i]);
    return (float)s;
}

static float dot_f16_scalar(const float *a, const uint16_t *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)(a[i] * cpu_fp16_to_f32(b[i]));
    return (float)s;
}

static void axpy_f32_scalar(float *y, float a, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void axpy_f16_scalar(float *y, float a, const uint16_t *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * cpu_fp16_to_f32(x[i]);
}

static double exp_sum_scalar(float *y, const float *x, float max, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        y[i] = expf(x[i] - max);
        s += (double)y[i];
    }
    return s;
}

static void to_f16_scalar(const float *x, uint16_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = cpu_f32_to_fp16(x[i]);
}

static void silu_scalar(const float *g, const float *u, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float s = g[i] / (1.0f + expf(-g[i]));
        y[i] = u ? s * u[i] : s;
    }
}

static cpu_ops_kernels kern;
static uint16_t gelu_f16[1 << 16];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static float gelu_tanh(float x)
{
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * (1.0f + 0.044715f * x * x)));
}

static void init_kernels(void)
{
    kern = (cpu_ops_kernels){
        sumsq_scalar, dot_f32_scalar, dot_f16_scalar, axpy_f32_scalar,
        axpy_f16_scalar, exp_sum_scalar, to_f16_scalar, silu_scalar, "scalar",
    };
#if defined(__x86_64__) || defined(__i386__)
    enum cpu_isa isa = cpu_isa_detect();
    if (isa == CPU_ISA_AVX512)
        cpu_ops_fill_avx512(&kern);
    else if (isa == CPU_ISA_AVX2)
        cpu_ops_fill_x86(&kern);
#endif
    for (uint32_t h = 0; h < (1u << 16); h++)
        gelu_f16[h] = cpu_f32_to_fp16(gelu_tanh(cpu_fp16_to_f32((uint16_t)h)));
}

const cpu_ops_kernels *cpu_ops_kernels_get(void)
{
    pthread_once(&init_once, init_kernels);
    return &kern;
}

/* ggml_vec_gelu_f32 with GGML_GELU_FP16 */
static inline float gelu_table(float x)
{
    if (x <= -10.0f)
        return 0.0f;
    if (x >= 10.0f)
        return x;
    return cpu_fp16_to_f32(gelu_f16[cpu_f32_to_fp16(x)]);
}

static inline float round_f16(float x)
{
    return cpu_fp16_to_f32(cpu_f32_to_fp16(x));
}

/* ---- row kernels --------------------------------------------------------------- */

void cpu_rms_norm(const float *x, const float *w, float *y, int64_t n, float eps, int64_t r0, int64_t r1)
{
    const cpu_ops_kernels *k = cpu_ops_kernels_get();
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        const float mean = (float)(k->sumsq(xr, n) / (double)n);
        const float scale = 1.0f / sqrtf(mean + eps);
        if (w)
            for (int64_t i = 0; i < n; i++)
                yr[i] = xr[i] * scale * w[i];
        else
            for (int64_t i = 0; i < n; i++)
                yr[i] = xr[i] * scale;
    }
}

void cpu_layer_norm(const float *x, const float *w, const float *b, float *y, int64_t n, float eps, int64_t r0,
                    int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        double sum = 0;
        for (int64_t i = 0; i < n; i++)
            sum += xr[i];
        const float mean = (float)(sum / (double)n);
        double sum2 = 0;
        for (int64_t i = 0; i < n; i++) {
            const float v = xr[i] - mean;
            yr[i] = v;
            sum2 += (double)(v * v);
        }
        const float scale = 1.0f / sqrtf((float)(sum2 / (double)n) + eps);
        for (int64_t i = 0; i < n; i++) {
            float v = yr[i] * scale;
            if (w)
                v *= w[i];
            if (b)
                v += b[i];
            yr[i] = v;
        }
    }
}

void cpu_concat_rows(const float *a, int64_t na, const float *b, int64_t nb, int64_t b_every, float *y, int64_t r0,
                     int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        memcpy(y + r * (na + nb), a + r * na, (size_t)na * sizeof *y);
        memcpy(y + r * (na + nb) + na, b + r / b_every * nb, (size_t)nb * sizeof *y);
    }
}

void cpu_get_rows(const void *table, ggml_type type, int64_t n_cols, const int32_t *ids, float *y, int64_t r0,
                  int64_t r1)
{
    const cpu_quant_traits *q = cpu_quant(type);
    const ggml_type_traits *tt = ggml_type_get((uint32_t)type);
    assert(q && tt && n_cols % tt->block_size == 0);
    const int64_t row_bytes = n_cols / tt->block_size * tt->type_size;
    for (int64_t r = r0; r < r1; r++)
        q->to_float((const char *)table + (int64_t)ids[r] * row_bytes, y + r * n_cols, n_cols);
}

/* ---- elementwise ------------------------------------------------------------- */

void cpu_unary_f32(cpu_unary op, float param, const float *x, float *y, int64_t i0, int64_t i1)
{
    switch (op) {
    case CPU_SILU:
        cpu_ops_kernels_get()->silu(x + i0, NULL, y + i0, i1 - i0);
        break;
    case CPU_GELU:
        cpu_ops_kernels_get();
        for (int64_t i = i0; i < i1; i++)
            y[i] = gelu_table(x[i]);
        break;
    case CPU_SCALE:
        for (int64_t i = i0; i < i1; i++)
            y[i] = x[i] * param;
        break;
    case CPU_SOFTCAP: {
        /* ggml_scale(1/cap), ggml_tanh, ggml_scale(cap) */
        const float inv = 1.0f / param;
        for (int64_t i = i0; i < i1; i++)
            y[i] = tanhf(x[i] * inv) * param;
        break;
    }
    case CPU_SIGMOID:
        for (int64_t i = i0; i < i1; i++)
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    }
}

void cpu_glu_oai(float alpha, float limit, const float *g, const float *u, float *y, int64_t i0, int64_t i1)
{
    for (int64_t i = i0; i < i1; i++) {
        const float x = g[i] < limit ? g[i] : limit;
        const float v = u[i] < -limit ? -limit : u[i] > limit ? limit : u[i];
        y[i] = x / (1.0f + expf(alpha * (-x))) * (v + 1.0f);
    }
}

void cpu_glu(int gelu, const float *g, const float *u, float *y, int64_t i0, int64_t i1)
{
    const cpu_ops_kernels *k = cpu_ops_kernels_get();
    if (!gelu) {
        k->silu(g + i0, u + i0, y + i0, i1 - i0);
        return;
    }
    for (int64_t i = i0; i < i1; i++)
        y[i] = gelu_table(g[i]) * u[i];
}

void cpu_add(const float *a, const float *b, int64_t nb, float *y, int64_t i0, int64_t i1)
{
    int64_t j = i0 % nb;
    for (int64_t i = i0; i < i1;) {
        int64_t e = i1 - i < nb - j ? i1 - i : nb - j;
        for (int64_t k = 0; k < e; k++)
            y[i + k] = a[i + k] + b[j + k];
        i += e;
        j = 0;
    }
}

void cpu_mul(const float *a, const float *b, int64_t nb, float *y, int64_t i0, int64_t i1)
{
    int64_t j = i0 % nb;
    for (int64_t i = i0; i < i1;) {
        int64_t e = i1 - i < nb - j ? i1 - i : nb - j;
        for (int64_t k = 0; k < e; k++)
            y[i + k] = a[i + k] * b[j + k];
        i += e;
        j = 0;
    }
}

/* ---- RoPE ---------------------------------------------------------------------- */

enum { ROPE_MAX_ROT = 1024 };

/* cos/sin pairs of one position, as ggml_rope_cache_init + rope_yarn */
static void rope_cache(float *cache, float pos, const cpu_rope_params *p, const float corr[2], float theta_scale)
{
    float theta = pos;
    for (int i = 0; i < p->n_rot / 2; i++) {
        const float ff = p->freq_factors ? p->freq_factors[i] : 1.0f;
        const float extrap = theta / ff;
        float t = p->freq_scale * extrap;
        float mscale = p->attn_factor;
        if (p->ext_factor != 0.0f) {
            float y = ((float)i - corr[0]) / fmaxf(0.001f, corr[1] - corr[0]);
            float ramp = 1.0f - fminf(1.0f, fmaxf(0.0f, y));
            float mix = ramp * p->ext_factor;
            t = t * (1 - mix) + extrap * mix;
            mscale *= 1.0f + 0.1f * logf(1.0f / p->freq_scale);
        }
        cache[2 * i] = cosf(t) * mscale;
        cache[2 * i + 1] = sinf(t) * mscale;
        theta *= theta_scale;
    }
}

void cpu_rope(float *x, const int32_t *pos, int64_t H, int64_t D, const cpu_rope_params *p, int64_t t0, int64_t t1)
{
    assert(p->n_rot % 2 == 0 && p->n_rot <= D && p->n_rot <= ROPE_MAX_ROT);
    assert(p->mode == 0 || p->mode == 2); /* no multi-section (M-RoPE) modes */
    float cache[ROPE_MAX_ROT];
    float corr[2] = {0, 0};
    const float theta_scale = powf(p->base, -2.0f / (float)p->n_rot);
    if (p->ext_factor != 0.0f)
        ir_rope_yarn_corr(p->n_rot, p->n_ctx_orig, p->beta_fast, p->beta_slow, p->base, corr);
    const int half = p->n_rot / 2;
    for (int64_t t = t0; t < t1; t++) {
        rope_cache(cache, (float)pos[t], p, corr, theta_scale);
        for (int64_t h = 0; h < H; h++) {
            float *v = x + (t * H + h) * D;
            for (int i = 0; i < half; i++) {
                const float c = cache[2 * i], s = cache[2 * i + 1];
                float *a = p->mode == 2 ? &v[i] : &v[2 * i];
                float *b = p->mode == 2 ? &v[i + half] : &v[2 * i + 1];
                const float x0 = *a, x1 = *b;
                *a = x0 * c - x1 * s;
                *b = x0 * s + x1 * c;
            }
        }
    }
}

/* ---- KV cache and attention ---------------------------------------------------- */

void cpu_kv_store(void *cache, ggml_type cache_type, const float *x, int64_t H, int64_t D, const cpu_kv_rows *r,
                  int64_t t0, int64_t t1)
{
    const int64_t row = H * D;
    assert(cache_type == GGML_TYPE_F32 || cache_type == GGML_TYPE_F16);
    for (int64_t t = t0; t < t1; t++) {
        const int64_t c = cpu_kv_row(r, r->seq ? r->seq[t] : 0, r->pos[t]);
        if (cache_type == GGML_TYPE_F32)
            memcpy((float *)cache + c * row, x + t * row, (size_t)row * sizeof(float));
        else
            cpu_ops_kernels_get()->to_f16(x + t * row, (uint16_t *)cache + c * row, row);
    }
}

int64_t cpu_attention_scratch(int64_t kv_len, int D)
{
    return kv_len + D + 16;
}

/* One query row of sequence seq against its keys [j0, j1]: out[D] = softmax(s) · V. */
static void attend_one(const cpu_ops_kernels *k, const float *q, const void *kc, const void *vc, float *out,
                       const cpu_attn_params *p, int32_t seq, int hk, int64_t j0, int64_t j1, float sink,
                       float *scratch)
{
    const int D = p->D, Dv = p->Dv;
    const int64_t k_row = (int64_t)p->Hkv * D, v_row = (int64_t)p->Hkv * Dv;
    const int f16 = p->cache_type == GGML_TYPE_F16;
    float *s = scratch;
    float *qh = scratch + (j1 + 1);
    if (f16) {
        for (int d = 0; d < D; d++)
            qh[d] = round_f16(q[d]);
        q = qh;
    }
    const int64_t n = j1 - j0 + 1;
    for (int64_t j = j0; j <= j1; j++) {
        const int64_t off = cpu_kv_row(&p->rows, seq, j) * k_row + (int64_t)hk * D;
        s[j - j0] = f16 ? k->dot_f16(q, (const uint16_t *)kc + off, D) : k->dot_f32(q, (const float *)kc + off, D);
    }
    if (p->softcap != 0.0f) {
        const float inv = 1.0f / p->softcap;
        for (int64_t j = 0; j < n; j++)
            s[j] = tanhf(s[j] * inv) * p->softcap;
    }
    float max = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        s[j] *= p->scale;
        max = s[j] > max ? s[j] : max;
    }
    /* a sink joins the max and the sum, as ggml's soft_max with sinks */
    max = sink > max ? sink : max;
    double sum = k->exp_sum(s, s, max, n);
    if (sink > -INFINITY)
        sum += (double)expf(sink - max);
    const float inv_sum = (float)(1.0 / sum);
    memset(out, 0, (size_t)Dv * sizeof(float));
    for (int64_t j = j0; j <= j1; j++) {
        float w = s[j - j0] * inv_sum;
        const int64_t off = cpu_kv_row(&p->rows, seq, j) * v_row + (int64_t)hk * Dv;
        if (f16)
            k->axpy_f16(out, round_f16(w), (const uint16_t *)vc + off, Dv);
        else
            k->axpy_f32(out, w, (const float *)vc + off, Dv);
    }
}

void cpu_attention(const float *q, const void *kcache, const void *vcache, float *out, const cpu_attn_params *p,
                   float *scratch, int ith, int nth)
{
    const cpu_ops_kernels *k = cpu_ops_kernels_get();
    assert(p->Hkv > 0 && p->Hq % p->Hkv == 0);
    const int group = p->Hq / p->Hkv;
    /* work item: (query row, query head), dealt round-robin, which balances
     * the causal triangle and gives decode (T = 1) Hq items rather than
     * Hkv; heads that share a kv head are adjacent, so the threads reading
     * the same K/V rows run at the same time and share them in cache */
    const int64_t n_items = p->T * p->Hq;
    for (int64_t it = ith; it < n_items; it += nth) {
        const int64_t t = it / p->Hq;
        const int h = (int)(it % p->Hq);
        const int64_t pos = p->noncausal ? p->kv_len - 1 : p->rows.pos[t];
        int64_t j0 = 0;
        if (p->window > 0 && pos - p->window + 1 > 0)
            j0 = pos - p->window + 1;
        const int64_t qrow = (t * p->Hq + h) * p->D, orow = (t * p->Hq + h) * p->Dv;
        attend_one(k, q + qrow, kcache, vcache, out + orow, p, p->rows.seq ? p->rows.seq[t] : 0, h / group, j0, pos,
                   p->sinks ? p->sinks[h] : -INFINITY, scratch);
    }
}

/* ---- pooling ------------------------------------------------------------------- */

void cpu_pool_rows(const float *x, int64_t T, int64_t E, int type, float *y)
{
    assert(T > 0 && type >= 1 && type <= 3);
    if (type != 1) {
        memcpy(y, x + (type == 2 ? 0 : T - 1) * E, (size_t)E * sizeof *y);
        return;
    }
    /* llama.cpp's mean is a product with a column of 1/T, so each row is
     * scaled before the sum, in row order */
    const float inv = 1.0f / (float)T;
    for (int64_t e = 0; e < E; e++) {
        float sum = 0.0f;
        for (int64_t t = 0; t < T; t++)
            sum += x[t * E + e] * inv;
        y[e] = sum;
    }
}
