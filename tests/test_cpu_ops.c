/*
 * test_cpu_ops.c: the CPU backend's kernels (runtime/cpu/ops.h) against
 * straightforward scalar references written here in double, on random
 * data, plus the thread pool under thousands of tiny jobs.
 *
 * Where ops.c deliberately follows ggml's rounding (RoPE's angle recurrence
 * in f32, GELU through the f16 table, q and probabilities rounded to f16
 * with an f16 KV cache), the reference states the same rounding, so the
 * tolerances stay at f32 rounding level. cpu_matmul is checked against the
 * dequantized weight dotted in double with the dequantized activations
 * (tight), and with the original activations within the activation
 * quantization's error bound, for every type of the weight table below:
 * each must be supported.
 *
 * ctest runs the suite once per ISA level (scalar, AVX2, AVX-512) through
 * ROCMFORGE_CPU_ISA; the first test checks that the kernels really are that
 * level's, and a level this CPU lacks is reported skipped.
 */
#include "test_util.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/ops.h"
#include "runtime/cpu/ops_impl.h"
#include "runtime/cpu/quant.h"
#include "runtime/cpu/quant_impl.h"

#define PI 3.14159265358979323846

static uint64_t rng = 0x1234567887654321ull;

static float frand(void) /* [-1, 1) */
{
    return (float)(test_rand(&rng) >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

static float *rand_vec(int64_t n, float scale)
{
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = frand() * scale;
    return v;
}

static float rf16(float x)
{
    return cpu_fp16_to_f32(cpu_f32_to_fp16(x));
}

/* |a - b| <= tol * max(1, |b|), counting failures into one assertion */
static int close_to(double a, double b, double tol)
{
    return fabs(a - b) <= tol * fmax(1.0, fabs(b));
}

static cpu_pool *pools[5]; /* pools[n]: n threads */
static const char *isa_name; /* the ISA level of this run */

/* The ops kernels and the quant table run at the level asked for (the
 * helper that read ROCMFORGE_CPU_ISA checked cpu_isa_detect() agrees; this
 * checks the tables that were filled from it). Q8_0 has a kernel at every
 * level but AVX-512 without VNNI, where AVX2's serves. */
static void test_isa_level(void)
{
    CU_ASSERT_STRING_EQUAL(cpu_ops_kernels_get()->isa, isa_name);
    bool no_vnni = !strcmp(isa_name, "avx512") && !__builtin_cpu_supports("avx512vnni");
    CU_ASSERT_STRING_EQUAL(cpu_quant(GGML_TYPE_Q8_0)->isa, no_vnni ? "avx2" : isa_name);
}

/* ---- pool ------------------------------------------------------------------ */

typedef struct {
    atomic_int hits[8];
    atomic_long sum;
} pool_job;

static void pool_fn(void *ctx, int ith, int nth)
{
    pool_job *j = ctx;
    atomic_fetch_add(&j->hits[ith], 1);
    atomic_fetch_add(&j->sum, nth);
}

static void test_pool(void)
{
    CU_ASSERT(cpu_physical_cores() >= 1);
    for (int n = 1; n <= 4; n++) {
        CU_ASSERT_EQUAL(cpu_pool_size(pools[n]), n);
        pool_job j;
        memset(&j, 0, sizeof j);
        const int runs = n <= 2 ? 5000 : 1000;
        for (int r = 0; r < runs; r++)
            cpu_pool_run(pools[n], pool_fn, &j);
        for (int i = 0; i < n; i++)
            CU_ASSERT_EQUAL(atomic_load(&j.hits[i]), runs);
        CU_ASSERT_EQUAL(atomic_load(&j.sum), (long)runs * n * n);
    }
    /* create and free under load, including a pool never run */
    for (int i = 0; i < 20; i++) {
        cpu_pool *p = cpu_pool_new(1 + i % 4);
        pool_job j;
        memset(&j, 0, sizeof j);
        for (int r = 0; r < i; r++)
            cpu_pool_run(p, pool_fn, &j);
        cpu_pool_free(p);
        CU_ASSERT_EQUAL(atomic_load(&j.hits[0]), i);
    }
}

/* ---- rms_norm, glu, unary, add/mul, get_rows ---------------------------------- */

static void test_rms_norm(void)
{
    const int64_t ns[] = {4096, 100, 7};
    for (int c = 0; c < 3; c++) {
        const int64_t n = ns[c], rows = 3;
        float *x = rand_vec(n * rows, 3.0f), *w = rand_vec(n, 1.0f), *y = malloc((size_t)(n * rows) * sizeof *y);
        for (int withw = 0; withw < 2; withw++) {
            cpu_rms_norm(x, withw ? w : NULL, y, n, 1e-5f, 0, rows);
            int bad = 0;
            for (int64_t r = 0; r < rows; r++) {
                double ss = 0;
                for (int64_t i = 0; i < n; i++)
                    ss += (double)x[r * n + i] * x[r * n + i];
                double sc = 1.0 / sqrt(ss / n + 1e-5);
                for (int64_t i = 0; i < n; i++)
                    bad += !close_to(y[r * n + i], x[r * n + i] * sc * (withw ? w[i] : 1.0), 2e-6);
            }
            CU_ASSERT_EQUAL(bad, 0);
        }
        free(x), free(w), free(y);
    }
}

/* GELU as the prebuilt ggml CPU backend computes it: ggml_gelu_f32's f32
 * formula (whose 1 + tanh cancels for x << 0) tabulated at f16 inputs and
 * stored as f16; exact outside (-10, 10). */
static float gelu_spec(float x)
{
    if (x <= -10.0f)
        return 0.0f;
    if (x >= 10.0f)
        return x;
    float h = rf16(x);
    return rf16(0.5f * h * (1.0f + tanhf(0.79788456080286535587989211986876f * h * (1.0f + 0.044715f * h * h))));
}

static double gelu_exact(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / PI) * x * (1.0 + 0.044715 * x * x)));
}

static void test_unary_glu(void)
{
    const int64_t n = 1003;
    float *g = rand_vec(n, 12.0f), *u = rand_vec(n, 2.0f), *y = malloc((size_t)n * sizeof *y);
    g[0] = -95.0f, g[1] = 95.0f, g[2] = 0.0f, g[3] = -10.0f, g[4] = 10.0f;
    int bad = 0;
    cpu_unary_f32(CPU_SILU, 0, g, y, 0, n);
    for (int64_t i = 0; i < n; i++)
        bad += fabs(y[i] - g[i] / (1.0 + exp(-(double)g[i]))) > 1e-6 * fabs(g[i]) + 1e-30;
    CU_ASSERT_EQUAL(bad, 0);
    /* split calls write only their own range */
    memset(y, 0, (size_t)n * sizeof *y);
    cpu_glu(0, g, u, y, 5, 500);
    cpu_glu(0, g, u, y, 500, n);
    bad = y[0] != 0.0f;
    for (int64_t i = 5; i < n; i++)
        bad += fabs(y[i] - g[i] / (1.0 + exp(-(double)g[i])) * u[i]) > 1e-6 * fabs(g[i] * u[i]) + 1e-30;
    CU_ASSERT_EQUAL(bad, 0);
    /* GELU: exactly the table, and near the true function */
    cpu_unary_f32(CPU_GELU, 0, g, y, 0, n);
    bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += y[i] != gelu_spec(g[i]) || fabs(y[i] - gelu_exact(g[i])) > 1e-2 * fabs(g[i]) + 1e-4;
    CU_ASSERT_EQUAL(bad, 0);
    cpu_glu(1, g, u, y, 0, n);
    bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += y[i] != gelu_spec(g[i]) * u[i];
    CU_ASSERT_EQUAL(bad, 0);
    cpu_unary_f32(CPU_SCALE, 0.37f, g, y, 0, n);
    cpu_unary_f32(CPU_SOFTCAP, 5.0f, g, u, 0, n);
    bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += y[i] != g[i] * 0.37f || !close_to(u[i], 5.0 * tanh(g[i] / 5.0), 1e-6);
    CU_ASSERT_EQUAL(bad, 0);
    free(g), free(u), free(y);
}

static void test_add_mul(void)
{
    const int64_t nb = 37, n = nb * 11;
    float *a = rand_vec(n, 1), *b = rand_vec(nb, 1), *y = malloc((size_t)n * sizeof *y);
    int bad = 0;
    for (int op = 0; op < 2; op++) {
        memset(y, 0, (size_t)n * sizeof *y);
        const int64_t cuts[] = {0, 5, 37, 100, 111, n};
        for (int c = 0; c + 1 < 6; c++)
            (op ? cpu_mul : cpu_add)(a, b, nb, y, cuts[c], cuts[c + 1]);
        for (int64_t i = 0; i < n; i++)
            bad += y[i] != (op ? a[i] * b[i % nb] : a[i] + b[i % nb]);
    }
    /* nb == n: plain elementwise */
    cpu_add(a, a, n, y, 3, n);
    for (int64_t i = 3; i < n; i++)
        bad += y[i] != a[i] + a[i];
    CU_ASSERT_EQUAL(bad, 0);
    free(a), free(b), free(y);
}

static void test_get_rows(void)
{
    const ggml_type types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K};
    const int64_t n_cols = 512, n_rows = 9;
    float *src = rand_vec(n_cols * n_rows, 1), *y = malloc((size_t)(n_cols * 4) * sizeof *y);
    float *ref = malloc((size_t)n_cols * sizeof *ref);
    const int32_t ids[] = {3, 0, 8, 3};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const cpu_quant_traits *q = cpu_quant_ref(types[t]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(q);
        const ggml_type_traits *tt = ggml_type_get(types[t]);
        const int64_t rb = n_cols / tt->block_size * tt->type_size;
        char *table = malloc((size_t)(rb * n_rows));
        for (int64_t r = 0; r < n_rows; r++)
            q->from_float(src + r * n_cols, table + r * rb, n_cols);
        cpu_get_rows(table, types[t], n_cols, ids, y, 0, 2);
        cpu_get_rows(table, types[t], n_cols, ids, y, 2, 4);
        int bad = 0;
        for (int r = 0; r < 4; r++) {
            q->to_float(table + ids[r] * rb, ref, n_cols);
            bad += memcmp(ref, y + r * n_cols, (size_t)n_cols * sizeof *ref) != 0;
        }
        CU_ASSERT_EQUAL(bad, 0);
        free(table);
    }
    free(src), free(y), free(ref);
}

/* ---- RoPE --------------------------------------------------------------------- */

static double yarn_corr(int n_rot, int n_ctx, double rot, double base)
{
    return n_rot * log(n_ctx / (rot * 2 * PI)) / (2 * log(base));
}

static void rope_ref(float *x, const int32_t *pos, int64_t T, int64_t H, int64_t D, const cpu_rope_params *p)
{
    const int half = p->n_rot / 2;
    double lo = 0, hi = 0;
    if (p->ext_factor != 0) {
        lo = fmax(0, floor(yarn_corr(p->n_rot, p->n_ctx_orig, p->beta_fast, p->base)));
        hi = fmin(p->n_rot - 1, ceil(yarn_corr(p->n_rot, p->n_ctx_orig, p->beta_slow, p->base)));
    }
    const float theta_scale = powf(p->base, -2.0f / (float)p->n_rot);
    for (int64_t t = 0; t < T; t++) {
        float base_theta = (float)pos[t]; /* ggml's f32 recurrence, stated */
        for (int i = 0; i < half; i++, base_theta *= theta_scale) {
            /* the angle itself in f32 as ggml forms it: at 4000 rad an f32
             * rounding is 2e-4 rad, more than the tolerance */
            float extrap = base_theta / (p->freq_factors ? p->freq_factors[i] : 1.0f);
            float th = p->freq_scale * extrap;
            double ms = p->attn_factor;
            if (p->ext_factor != 0) {
                double ramp = 1 - fmin(1, fmax(0, (i - lo) / fmax(0.001, hi - lo)));
                float mix = (float)ramp * p->ext_factor;
                th = th * (1 - mix) + extrap * mix;
                ms *= 1 + 0.1 * log(1 / p->freq_scale);
            }
            for (int64_t h = 0; h < H; h++) {
                float *v = x + (t * H + h) * D;
                int64_t a = p->mode == 2 ? i : 2 * i, b = p->mode == 2 ? i + half : 2 * i + 1;
                double x0 = v[a], x1 = v[b];
                v[a] = (float)((x0 * cos(th) - x1 * sin(th)) * ms);
                v[b] = (float)((x0 * sin(th) + x1 * cos(th)) * ms);
            }
        }
    }
}

static void test_rope(void)
{
    const int64_t T = 6, H = 3, D = 64;
    int32_t pos[6] = {0, 1, 7, 100, 1023, 4000};
    float ff[32];
    for (int i = 0; i < 32; i++)
        ff[i] = 1.0f + (float)i * 0.25f;
    for (int c = 0; c < 8; c++) {
        cpu_rope_params p = {
            .n_rot = (c & 4) ? 32 : 64, .mode = (c & 1) ? 2 : 0, .n_ctx_orig = 4096, .base = 10000.0f,
            .freq_scale = 1.0f, .attn_factor = 1.0f, .beta_fast = 32.0f, .beta_slow = 1.0f,
            .freq_factors = (c & 2) ? ff : NULL,
        };
        if (c == 7) /* YaRN */
            p.freq_scale = 0.25f, p.ext_factor = 1.0f, p.attn_factor = 0.9f;
        float *x = rand_vec(T * H * D, 2), *r = malloc((size_t)(T * H * D) * sizeof *r);
        memcpy(r, x, (size_t)(T * H * D) * sizeof *r);
        cpu_rope(x, pos, H, D, &p, 0, 2);
        cpu_rope(x, pos, H, D, &p, 2, T);
        rope_ref(r, pos, T, H, D, &p);
        int bad = 0;
        for (int64_t i = 0; i < T * H * D; i++)
            bad += fabs(x[i] - r[i]) > 2e-5; /* cosf/sinf of angles up to 4000 rad */
        CU_ASSERT_EQUAL(bad, 0);
        if (bad)
            fprintf(stderr, "rope case %d: %d bad\n", c, bad);
        free(x), free(r);
    }
}

/* ---- KV store and attention ---------------------------------------------------- */

typedef struct {
    const float *q;
    const void *k, *v;
    float *out;
    const cpu_attn_params *p;
    float *scratch;
    int64_t per_thread;
} attn_job;

static void attn_fn(void *ctx, int ith, int nth)
{
    attn_job *j = ctx;
    cpu_attention(j->q, j->k, j->v, j->out, j->p, j->scratch + ith * j->per_thread, ith, nth);
}

/* the f16 store rounds exactly as cpu_f32_to_fp16, edges included */
static void test_kv_store_f16(void)
{
    float x[40];
    const float edge[] = {65519.0f, 65520.0f, -65536.0f, 1e-8f, -3e-8f, 6.1e-5f, 2.98e-8f, -0.0f, INFINITY, 1.0009765625f};
    for (int i = 0; i < 40; i++)
        x[i] = i < 10 ? edge[i] : frand() * 1e-4f;
    uint16_t c[2 * 40];
    const int32_t pos1 = 1;
    cpu_kv_store(c, GGML_TYPE_F16, x, 1, 40, &(cpu_kv_rows){.pos = &pos1}, 0, 1);
    int bad = 0;
    for (int i = 0; i < 40; i++)
        bad += c[40 + i] != cpu_f32_to_fp16(x[i]);
    CU_ASSERT_EQUAL(bad, 0);
}

/* positions P, P+1, ... of one sequence */
static cpu_kv_rows from(int32_t *pos, int64_t P, int64_t n)
{
    for (int64_t t = 0; t < n; t++)
        pos[t] = (int32_t)(P + t);
    return (cpu_kv_rows){.pos = pos};
}

/* one sequence (rows.seq NULL), its positions rows.pos[t] */
static void attention_ref(const float *q, const float *kc, const float *vc, double *out, const cpu_attn_params *p)
{
    const int group = p->Hq / p->Hkv, D = p->D, Dv = p->Dv, f16 = p->cache_type == GGML_TYPE_F16;
    double *s = malloc((size_t)(p->rows.pos[p->T - 1] + 1) * sizeof *s);
    for (int64_t t = 0; t < p->T; t++)
        for (int h = 0; h < p->Hq; h++) {
            const float *qr = q + (t * p->Hq + h) * D;
            const int64_t pos = p->rows.pos[t], j0 = p->window > 0 ? (pos - p->window + 1 > 0 ? pos - p->window + 1 : 0) : 0;
            double max = -INFINITY, sum = 0;
            for (int64_t j = j0; j <= pos; j++) {
                const float *kr = kc + (j * p->Hkv + h / group) * D;
                double d = 0;
                for (int i = 0; i < D; i++)
                    d += (double)(f16 ? rf16(qr[i]) : qr[i]) * kr[i];
                if (p->softcap != 0)
                    d = p->softcap * tanh(d / p->softcap);
                s[j] = d * p->scale;
                max = fmax(max, s[j]);
            }
            for (int64_t j = j0; j <= pos; j++)
                sum += s[j] = exp(s[j] - max);
            double *o = out + (t * p->Hq + h) * Dv;
            for (int i = 0; i < Dv; i++)
                o[i] = 0;
            for (int64_t j = j0; j <= pos; j++)
                for (int i = 0; i < Dv; i++)
                    o[i] += s[j] / sum * vc[(j * p->Hkv + h / group) * Dv + i];
        }
    free(s);
}

/* every mode, with V's rows as wide as K's or (odd cases: deepseek2's
 * latent attention) narrower */
static void test_attention(void)
{
    const int Hq = 6, Hkv = 2, D = 68;
    const int64_t T = 5, P = 9, n_ctx = 16;
    int n_cases = 0;
    int32_t pos[16], hist[16];
    for (int c = 0; c < 16; c++) {
        const int64_t pT = (c & 8) ? 1 : T, pP = (c & 8) ? P + T - 1 : ((c & 1) ? P : 0);
        const int Dv = (c & 1) ? 36 : D;
        cpu_attn_params p = {
            .T = pT, .rows = from(pos, pP, pT), .Hq = Hq, .Hkv = Hkv, .D = D, .Dv = Dv,
            .scale = 1.0f / sqrtf((float)D) * 2.0f, .softcap = (c & 2) ? 3.0f : 0.0f, .window = (c & 4) ? 4 : 0,
            .cache_type = GGML_TYPE_F32,
        };
        for (int f16 = 0; f16 < 2; f16++) {
            p.cache_type = f16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
            const int64_t kvn = pP + pT, row = Hkv * D, vrow = Hkv * Dv, n_out = p.T * Hq * Dv;
            float *kf = rand_vec(n_ctx * row, 2), *vf = rand_vec(n_ctx * vrow, 1);
            float *q = rand_vec(p.T * Hq * D, 1), *out = malloc((size_t)n_out * sizeof *out);
            double *ref = malloc((size_t)n_out * sizeof *ref);
            size_t esz = f16 ? 2 : 4;
            void *kc = calloc((size_t)(n_ctx * row), esz), *vc = calloc((size_t)(n_ctx * vrow), esz);
            /* the history through kv_store in two pieces, the new rows in two more */
            const cpu_kv_rows old = from(hist, 0, pP);
            cpu_kv_store(kc, p.cache_type, kf, Hkv, D, &old, 0, pP);
            cpu_kv_store(vc, p.cache_type, vf, Hkv, Dv, &old, 0, pP);
            cpu_kv_store(kc, p.cache_type, kf + pP * row, Hkv, D, &p.rows, 0, 1);
            cpu_kv_store(kc, p.cache_type, kf + pP * row, Hkv, D, &p.rows, 1, pT);
            cpu_kv_store(vc, p.cache_type, vf + pP * vrow, Hkv, Dv, &p.rows, 0, pT);
            int bad = 0;
            for (int64_t i = 0; i < kvn * row; i++) {
                float kk = f16 ? cpu_fp16_to_f32(((uint16_t *)kc)[i]) : ((float *)kc)[i];
                bad += kk != (f16 ? rf16(kf[i]) : kf[i]);
                kf[i] = kk; /* the reference sees what the cache holds */
            }
            for (int64_t i = 0; i < kvn * vrow; i++) {
                float vv = f16 ? cpu_fp16_to_f32(((uint16_t *)vc)[i]) : ((float *)vc)[i];
                bad += vv != (f16 ? rf16(vf[i]) : vf[i]);
                vf[i] = vv;
            }
            CU_ASSERT_EQUAL(bad, 0);
            attention_ref(q, kf, vf, ref, &p);
            const int64_t per = cpu_attention_scratch(kvn, D);
            float *scratch = malloc((size_t)(per * 4) * sizeof *scratch);
            for (int nth = 1; nth <= 4; nth++) {
                memset(out, 0xff, (size_t)n_out * sizeof *out);
                attn_job j = {q, kc, vc, out, &p, scratch, per};
                if (nth == 3)
                    for (int ith = 0; ith < nth; ith++) /* sequential calls split the same */
                        cpu_attention(q, kc, vc, out, &p, scratch, ith, nth);
                else
                    cpu_pool_run(pools[nth], attn_fn, &j);
                /* f16: the probabilities are rounded to f16 by the kernel only */
                const double tol = f16 ? 1e-3 : 2e-6;
                for (int64_t i = 0; i < n_out; i++)
                    bad += !close_to(out[i], ref[i], tol);
            }
            CU_ASSERT_EQUAL(bad, 0);
            if (bad)
                fprintf(stderr, "attention case %d f16 %d: %d bad\n", c, f16, bad);
            n_cases++;
            free(kf), free(vf), free(q), free(out), free(ref), free(kc), free(vc), free(scratch);
        }
    }
    CU_ASSERT_EQUAL(n_cases, 32);
}

/* Several sequences in one paged cache (blocks of 4 positions, each
 * sequence's blocks scattered over a pool of 10): a step whose rows are
 * different sequences at their own positions gives each row what attention
 * over that sequence alone, in order, gives. */
static void test_attention_sequences(void)
{
    enum { NSEQ = 3, SROWS = 12, Hq = 4, Hkv = 2, D = 32, SHIFT = 2, POOL = 10 };
    const int64_t row = Hkv * D;
    const int32_t len[NSEQ] = {7, 1, 12}; /* each sequence's keys, its new row's included */
    static const uint32_t table[NSEQ * 3] = {7, 2, 9, 4, 0, 0, 1, 8, 5}; /* block 3 and 6: nobody's */
    for (int f16 = 0; f16 < 2; f16++) {
        const ggml_type ct = f16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
        const size_t esz = f16 ? 2 : 4;
        void *kc = calloc((size_t)(POOL << SHIFT) * (size_t)row, esz);
        void *vc = calloc((size_t)(POOL << SHIFT) * (size_t)row, esz);
        float *kf[NSEQ], *vf[NSEQ], *q = rand_vec(NSEQ * Hq * D, 1);
        int32_t hist[SROWS];
        /* each sequence's history, one store a sequence (seq ids given) */
        for (int s = 0; s < NSEQ; s++) {
            kf[s] = rand_vec(SROWS * row, 2), vf[s] = rand_vec(SROWS * row, 1);
            int32_t seq[SROWS];
            for (int t = 0; t < SROWS; t++)
                seq[t] = s;
            cpu_kv_rows h = from(hist, 0, len[s] - 1);
            h.seq = seq, h.blocks = table, h.stride = 3, h.shift = SHIFT;
            cpu_kv_store(kc, ct, kf[s], Hkv, D, &h, 0, len[s] - 1);
            cpu_kv_store(vc, ct, vf[s], Hkv, D, &h, 0, len[s] - 1);
        }
        /* the step: sequence 2's row, then 0's, then 1's */
        const int32_t seq[NSEQ] = {2, 0, 1}, pos[NSEQ] = {len[2] - 1, len[0] - 1, len[1] - 1};
        float x[NSEQ][2 * Hkv * D];
        for (int t = 0; t < NSEQ; t++)
            for (int i = 0; i < row; i++) {
                x[t][i] = kf[seq[t]][pos[t] * row + i];
                x[t][row + i] = vf[seq[t]][pos[t] * row + i];
            }
        const cpu_kv_rows rows = {pos, seq, table, 3, SHIFT};
        for (int t = 0; t < NSEQ; t++) {
            cpu_kv_store(kc, ct, x[t], Hkv, D, &(cpu_kv_rows){pos + t, seq + t, table, 3, SHIFT}, 0, 1);
            cpu_kv_store(vc, ct, x[t] + row, Hkv, D, &(cpu_kv_rows){pos + t, seq + t, table, 3, SHIFT}, 0, 1);
        }
        cpu_attn_params p = {.T = NSEQ, .rows = rows, .Hq = Hq, .Hkv = Hkv, .D = D, .Dv = D, .scale = 0.3f, .cache_type = ct};
        float out[NSEQ * Hq * D];
        const int64_t per = cpu_attention_scratch(SROWS, D);
        float *scratch = malloc((size_t)(per * 4) * sizeof *scratch);
        attn_job j = {q, kc, vc, out, &p, scratch, per};
        cpu_pool_run(pools[2], attn_fn, &j);
        int bad = 0;
        for (int t = 0; t < NSEQ; t++) {
            /* the reference: that sequence's rows gathered in position order, its one row */
            float *ks = malloc((size_t)(SROWS * row) * sizeof *ks), *vs = malloc((size_t)(SROWS * row) * sizeof *vs);
            for (int64_t i = 0; i < len[seq[t]] * row; i++) {
                size_t at = (size_t)(cpu_kv_row(&rows, seq[t], i / row) * row + i % row);
                ks[i] = f16 ? cpu_fp16_to_f32(((uint16_t *)kc)[at]) : ((float *)kc)[at];
                vs[i] = f16 ? cpu_fp16_to_f32(((uint16_t *)vc)[at]) : ((float *)vc)[at];
            }
            int32_t one = pos[t];
            cpu_attn_params p1 = p;
            p1.T = 1, p1.rows = (cpu_kv_rows){.pos = &one};
            double ref[Hq * D];
            attention_ref(q + t * Hq * D, ks, vs, ref, &p1);
            for (int i = 0; i < Hq * D; i++)
                bad += !close_to(out[t * Hq * D + i], ref[i], f16 ? 1e-3 : 2e-6);
            free(ks), free(vs);
        }
        CU_ASSERT_EQUAL(bad, 0);
        for (int s = 0; s < NSEQ; s++)
            free(kf[s]), free(vf[s]);
        free(kc), free(vc), free(q), free(scratch);
    }
}

/* ---- matmul -------------------------------------------------------------------- */

static void test_matmul(void)
{
    const ggml_type types[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1,
                               GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_IQ4_NL, GGML_TYPE_MXFP4,
                               GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
                               GGML_TYPE_IQ4_XS};
    const size_t n_types = sizeof types / sizeof types[0];
    const int64_t K = 512, Ns[3] = {67, 16, 33};
    size_t n_tested = 0;
    for (size_t ti = 0; ti < n_types; ti++) {
        const ggml_type t = types[ti];
        const cpu_quant_traits *q = cpu_quant_ref(t);
        if (!q || !q->vec_dot || !cpu_quant(t)) {
            fprintf(stderr, "matmul %s: not supported by the quant tables\n", ggml_type_get(t)->name);
            CU_FAIL("a weight type of the table is not supported");
            continue;
        }
        const cpu_quant_traits *vq = cpu_quant_ref(q->vec_dot_type);
        const ggml_type_traits *tt = ggml_type_get(t);
        const int64_t rb = K / tt->block_size * tt->type_size;
        n_tested++;
        /* three weights, dequantized once for the reference */
        char *w[3];
        float *wd[3];
        for (int i = 0; i < 3; i++) {
            float *src = rand_vec(Ns[i] * K, 1);
            w[i] = malloc((size_t)(Ns[i] * rb));
            wd[i] = malloc((size_t)(Ns[i] * K) * sizeof(float));
            for (int64_t r = 0; r < Ns[i]; r++) {
                q->from_float(src + r * K, w[i] + r * rb, K);
                q->to_float(w[i] + r * rb, wd[i] + r * K, K);
            }
            free(src);
        }
        const int64_t ldx = K + 8, M_max = 37;
        float *x = rand_vec(M_max * ldx, 2), *xq = malloc((size_t)K * sizeof *xq);
        void *qxr = malloc((size_t)cpu_matmul_qx_bytes(t, 1, K));
        void *qx = malloc((size_t)cpu_matmul_qx_bytes(t, M_max, K));
        float *y[3], *y1[3];
        for (int i = 0; i < 3; i++) {
            y[i] = malloc((size_t)(M_max * (Ns[i] + 3)) * sizeof(float));
            y1[i] = malloc((size_t)(M_max * (Ns[i] + 3)) * sizeof(float));
        }
        /* Q8_1 carries d*sum(qs) rounded to f16, which Q4_1/Q5_1's dot uses
         * for the min term: a 2^-11 relative error on that part */
        const double tight = q->vec_dot_type == GGML_TYPE_Q8_1 ? 1e-4 : 1e-5;
        int bad = 0, differs = 0;
        for (int mc = 0; mc < 2; mc++) {
            const int64_t M = mc ? M_max : 1;
            for (int nw = 1; nw <= 3; nw += 2) {
                cpu_matmul_w ws[3];
                for (int th = 1; th <= 4; th++) {
                    for (int i = 0; i < nw; i++)
                        ws[i] = (cpu_matmul_w){w[i], Ns[i], th == 1 ? y1[i] : y[i], Ns[i] + 3};
                    if (cpu_matmul(pools[th], t, K, x, ldx, M, ws, nw, qx) != 0) {
                        bad++;
                        continue;
                    }
                    if (th > 1) /* one vec_dot per output: no dependence on the split */
                        for (int i = 0; i < nw; i++)
                            for (int64_t m = 0; m < M; m++)
                                differs += memcmp(y[i] + m * (Ns[i] + 3), y1[i] + m * (Ns[i] + 3),
                                                  (size_t)Ns[i] * sizeof(float)) != 0;
                }
                for (int64_t m = 0; m < M; m++) {
                    /* the activations as the kernel sees them */
                    const float *xr = x + m * ldx;
                    if (q->vec_dot_type == GGML_TYPE_F32) {
                        memcpy(xq, xr, (size_t)K * sizeof *xq);
                    } else {
                        vq->from_float(xr, qxr, K);
                        vq->to_float(qxr, xq, K);
                    }
                    for (int i = 0; i < nw; i++)
                        for (int64_t n = 0; n < Ns[i]; n++) {
                            double rq = 0, rx = 0, mag = 0, qerr = 0;
                            for (int64_t k = 0; k < K; k++) {
                                double wv = wd[i][n * K + k];
                                rq += wv * xq[k];
                                rx += wv * xr[k];
                                mag += fabs(wv * xq[k]);
                                qerr += fabs(wv) * fabs((double)xr[k] - xq[k]);
                            }
                            double got = y1[i][m * (Ns[i] + 3) + n];
                            bad += fabs(got - rq) > tight * mag + 1e-5;
                            bad += fabs(got - rx) > qerr * 1.001 + tight * mag + 1e-5;
                        }
                }
            }
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(differs, 0);
        if (bad || differs)
            fprintf(stderr, "matmul %s: %d bad, %d rows differ across thread counts\n", tt->name, bad, differs);
        for (int i = 0; i < 3; i++)
            free(w[i]), free(wd[i]), free(y[i]), free(y1[i]);
        free(x), free(xq), free(qx), free(qxr);
    }
    CU_ASSERT_EQUAL(n_tested, n_types);
    fprintf(stderr, "(matmul: %zu weight types) ", n_tested);
    /* an unsupported type: -1, y untouched */
    float y = 7.0f, xx[32] = {0};
    cpu_matmul_w bw = {xx, 1, &y, 1};
    CU_ASSERT_EQUAL(cpu_matmul(pools[2], GGML_TYPE_Q2_0, 32, xx, 32, 1, &bw, 1, NULL), -1);
    CU_ASSERT_EQUAL(y, 7.0f);
}

/* The router's kernels against plain definitions, and matmul_id against
 * cpu_matmul of each (token, slot) row through its expert's matrix alone:
 * bit for bit, since an expert's product is the dense product of its rows. */
static int cmp_float_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* deepseek's grouped routing: 12 experts in 4 groups of 3, the 2 groups
 * whose two best sum highest kept, by a reference that sorts the scores
 * (a tie between groups keeps the lower one) */
static void test_group_mask(void)
{
    enum { T = 7, NE = 12, G = 4, M = NE / G, USED = 2 };
    float x[T * NE], y[T * NE];
    for (int i = 0; i < T * NE; i++)
        x[i] = frand();
    for (int i = 0; i < M; i++) /* row 3: groups 1 and 2 tie, both first; group 1 must win */
        x[3 * NE + M + i] = x[3 * NE + 2 * M + i] = 2.0f + (float)i;
    x[3 * NE] = 9.0f; /* and group 0 beats them both */
    cpu_group_mask(x, y, NE, G, USED, 0, T);
    int bad = 0;
    for (int t = 0; t < T; t++) {
        double score[G];
        for (int g = 0; g < G; g++) {
            float v[M];
            memcpy(v, x + t * NE + g * M, sizeof v);
            qsort(v, M, sizeof *v, cmp_float_desc);
            score[g] = (double)v[0] + v[1];
        }
        for (int g = 0; g < G; g++) {
            int rank = 0;
            for (int h = 0; h < G; h++)
                rank += score[h] > score[g] || (score[h] == score[g] && h < g);
            for (int i = g * M; i < (g + 1) * M; i++)
                bad += rank < USED ? y[t * NE + i] != x[t * NE + i] : y[t * NE + i] != -INFINITY;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(y[3 * NE + M], x[3 * NE + M]);
    CU_ASSERT_EQUAL(y[3 * NE + 2 * M], -INFINITY);
}

/* concat of rows, and of one head's row repeated over a's three heads */
static void test_concat(void)
{
    const float a[2 * 3 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, b[2 * 1] = {-1, -2};
    float y[2 * 3 * 3];
    cpu_concat_rows(a, 2, b, 1, 3, y, 0, 6);
    const float want[] = {1, 2, -1, 3, 4, -1, 5, 6, -1, 7, 8, -2, 9, 10, -2, 11, 12, -2};
    CU_ASSERT_EQUAL(memcmp(y, want, sizeof want), 0);
    cpu_concat_rows(a, 4, a, 2, 1, y, 1, 3); /* rows 1 and 2 of [3,4] and [6,2] */
    const float want2[] = {5, 6, 7, 8, 3, 4, 9, 10, 11, 12, 5, 6};
    CU_ASSERT_EQUAL(memcmp(y + 6, want2, sizeof want2), 0);
}

static void test_moe(void)
{
    enum { T = 5, NE = 6, KS = 3, K = 256, N = 40 };
    float logits[T * NE], p[T * NE], w[T * KS];
    int32_t ids[T * KS];
    for (int i = 0; i < T * NE; i++)
        logits[i] = frand() * 4;
    logits[2 * NE + 1] = logits[2 * NE + 4]; /* a tie: the lower index first */
    cpu_softmax_rows(logits, p, NE, 0, T);
    cpu_topk_rows(p, ids, NE, KS, 0, T);
    for (int t = 0; t < T; t++) {
        double mx = -1e30, sum = 0;
        for (int e = 0; e < NE; e++)
            mx = fmax(mx, logits[t * NE + e]);
        for (int e = 0; e < NE; e++)
            sum += exp(logits[t * NE + e] - mx);
        for (int e = 0; e < NE; e++)
            CU_ASSERT_TRUE(close_to(p[t * NE + e], exp(logits[t * NE + e] - mx) / sum, 1e-6));
        /* the KS largest, in order: nothing outside beats the last, and ties keep index order */
        for (int j = 0; j < KS; j++) {
            const float v = p[t * NE + ids[t * KS + j]];
            if (j)
                CU_ASSERT_TRUE(v < p[t * NE + ids[t * KS + j - 1]] ||
                               (v == p[t * NE + ids[t * KS + j - 1]] && ids[t * KS + j] > ids[t * KS + j - 1]));
            for (int e = 0, chosen; e < NE; e++) {
                chosen = 0;
                for (int i = 0; i < KS; i++)
                    chosen |= ids[t * KS + i] == e;
                if (!chosen)
                    CU_ASSERT_TRUE(p[t * NE + e] < v || (p[t * NE + e] == v && e > ids[t * KS + j]));
            }
        }
    }
    for (int norm = 0; norm < 3; norm++) { /* as they are; by their sum, times 2.5; their softmax */
        cpu_moe_weights(p, ids, w, NE, KS, norm, norm == 1 ? 2.5f : 0.0f, 0, T);
        for (int t = 0; t < T; t++) {
            double s = 0, se = 0;
            for (int j = 0; j < KS; j++) {
                s += p[t * NE + ids[t * KS + j]];
                se += exp(p[t * NE + ids[t * KS + j]] - p[t * NE + ids[t * KS]]);
            }
            for (int j = 0; j < KS; j++) {
                double v = p[t * NE + ids[t * KS + j]];
                double want = norm == 1 ? 2.5 * v / s : norm == 2 ? exp(v - p[t * NE + ids[t * KS]]) / se : v;
                CU_ASSERT_TRUE(close_to(w[t * KS + j], want, 1e-6));
            }
        }
    }
    /* the products: Q4_K experts, x a row a token and a row a slot */
    const ggml_type t4 = GGML_TYPE_Q4_K;
    const ggml_type_traits *tt = ggml_type_get(t4);
    const int64_t rb = K / tt->block_size * tt->type_size;
    char *wq = malloc((size_t)(NE * N * rb));
    for (int64_t r = 0; r < NE * N; r++) {
        float *src = rand_vec(K, 1);
        cpu_quant_ref(t4)->from_float(src, wq + r * rb, K);
        free(src);
    }
    float *x = rand_vec(T * KS * K, 1), *y = malloc(T * KS * N * sizeof *y), *yr = malloc(N * sizeof *yr);
    void *scratch = malloc((size_t)cpu_matmul_id_scratch_bytes(T * KS, K, N));
    void *qx = malloc((size_t)cpu_matmul_qx_bytes(t4, T * KS, K));
    int bad = 0;
    float *bias = rand_vec(NE * N, 1);
    /* a row a token, a row a slot, and with biases; five tokens (an expert
     * at a time) and two (a token's experts in one call) */
    for (int cs = 0; cs < 6; cs++) {
        int per_slot = cs % 3, TT = cs < 3 ? T : 2;
        cpu_matmul_id_args a = {.wtype = t4, .w = wq, .n_expert = NE, .N = N, .K = K, .expert_bytes = N * rb,
                                .x = x, .x_per_slot = per_slot == 1, .bias = per_slot == 2 ? bias : NULL,
                                .ids = ids, .T = TT, .k = KS, .y = y};
        CU_ASSERT_EQUAL_FATAL(cpu_matmul_id(pools[3], &a, scratch, qx), 0);
        for (int r = 0; r < TT * KS; r++) {
            const float *xr = x + (per_slot == 1 ? r : r / KS) * K;
            cpu_matmul_w one = {wq + ids[r] * N * rb, N, yr, N};
            CU_ASSERT_EQUAL_FATAL(cpu_matmul(pools[1], t4, K, xr, K, 1, &one, 1, qx), 0);
            for (int c = 0; per_slot == 2 && c < N; c++)
                yr[c] += bias[ids[r] * N + c];
            bad += memcmp(yr, y + r * N, N * sizeof *yr) != 0;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    {   /* the weighted sum below reads all five tokens' rows: run them again */
        cpu_matmul_id_args a = {.wtype = t4, .w = wq, .n_expert = NE, .N = N, .K = K, .expert_bytes = N * rb,
                                .x = x, .bias = bias, .ids = ids, .T = T, .k = KS, .y = y};
        CU_ASSERT_EQUAL_FATAL(cpu_matmul_id(pools[3], &a, scratch, qx), 0);
    }
    /* the weighted sum in slot order, and a row scaled by its factor */
    float out[T * N], s2[T], o2[T * N];
    cpu_moe_sum(y, w, out, KS, N, 0, T);
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            float v = y[(t * KS) * N + n] * w[t * KS];
            for (int j = 1; j < KS; j++)
                v += y[(t * KS + j) * N + n] * w[t * KS + j];
            bad += v != out[t * N + n];
        }
    for (int t = 0; t < T; t++)
        s2[t] = frand();
    cpu_scale_rows(out, s2, o2, N, 0, T);
    for (int i = 0; i < T * N; i++)
        bad += o2[i] != out[i] * s2[i / N];
    CU_ASSERT_EQUAL(bad, 0);
    free(wq), free(x), free(y), free(yr), free(scratch), free(qx), free(bias);
}

int main(void)
{
    test_cpu_isa(&isa_name);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    for (int n = 1; n <= 4; n++)
        pools[n] = cpu_pool_new(n);
    fprintf(stderr, "cpu_ops kernels: %s, quant: %s\n", cpu_ops_kernels_get()->isa, cpu_quant(GGML_TYPE_Q8_0)->isa);
    CU_pSuite s = CU_add_suite("cpu_ops", NULL, NULL);
    CU_add_test(s, "kernels of the ISA level under test", test_isa_level);
    CU_add_test(s, "pool runs thousands of tiny jobs", test_pool);
    CU_add_test(s, "rms_norm", test_rms_norm);
    CU_add_test(s, "silu, gelu, glu, scale, softcap", test_unary_glu);
    CU_add_test(s, "add and mul with broadcast", test_add_mul);
    CU_add_test(s, "get_rows", test_get_rows);
    CU_add_test(s, "rope normal and neox, freq factors, yarn", test_rope);
    CU_add_test(s, "kv_store f16 rounding", test_kv_store_f16);
    CU_add_test(s, "kv_store and attention", test_attention);
    CU_add_test(s, "attention over several sequences in one cache", test_attention_sequences);
    CU_add_test(s, "matmul for every weight type", test_matmul);
    CU_add_test(s, "mixture of experts: router, matmul_id, weighted sum", test_moe);
    CU_add_test(s, "group_mask: the best expert groups", test_group_mask);
    CU_add_test(s, "concat, a head repeated", test_concat);
    int rc = test_main();
    for (int n = 1; n <= 4; n++)
        cpu_pool_free(pools[n]);
    return rc;
}
