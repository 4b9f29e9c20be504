/*
 * test_quant_legacy.c: the CPU kernels of the float types and the 32-element
 * block types (quant_legacy*.c), against themselves and against ggml.
 *
 * Facts checked, each type in turn:
 *   - the half / bfloat converters equal ggml's on every half and on a
 *     sweep of float bit patterns (NaN, inf, subnormal, rounding ties);
 *   - to_float(from_float(x)) stays within the type's error bound;
 *   - our dequantize and reference quantize give bit-identical floats and
 *     blocks to libggml-base's to_float / from_float_ref on random data;
 *   - the scalar vec_dot equals dot(to_float(x), to_float(y));
 *   - the fast table holds the kernels of the ISA level under test, and
 *     each SIMD vec_dot equals the scalar one to ~1e-5 of sum |x_i y_i|,
 *     over many lengths and scales from subnormal to 65504;
 *   - the fast activation quantizers give ggml-cpu's bytes, and our fast
 *     vec_dot agrees with ggml-cpu's (libggml-cpu-<variant>.so).
 * ctest runs the suite once per ISA level (scalar, AVX2, AVX-512) through
 * ROCMFORGE_CPU_ISA; a level this CPU lacks is reported skipped.
 * ggml is dlopen'd from the fetched reference; missing, the suite fails.
 */
#include "ggml_ref.h"
#include "test_util.h"

#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/quant_impl.h"

typedef struct { uint16_t bits; } ref_bf16;

static test_ggml ref;
static float (*ref_fp16_to_fp32)(uint16_t);
static uint16_t (*ref_fp32_to_fp16)(float);
static ref_bf16 (*ref_fp32_to_bf16)(float);

static const ggml_type types[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0,
                                  GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
                                  GGML_TYPE_Q8_1, GGML_TYPE_IQ4_NL, GGML_TYPE_MXFP4};
#define N_TYPES (sizeof types / sizeof types[0])

static int load_ggml(void)
{
    if (test_ggml_load(&ref) != 0)
        return -1;
    *(void **)&ref_fp16_to_fp32 = dlsym(ref.base, "ggml_fp16_to_fp32");
    *(void **)&ref_fp32_to_fp16 = dlsym(ref.base, "ggml_fp32_to_fp16");
    *(void **)&ref_fp32_to_bf16 = dlsym(ref.base, "ggml_fp32_to_bf16");
    if (!ref_fp16_to_fp32 || !ref_fp32_to_fp16 || !ref_fp32_to_bf16) {
        fprintf(stderr, "\n  ggml symbols missing under %s/lib\n", test_ref_dir());
        return -1;
    }
    return 0;
}

/* ---- random data ------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

/* n floats in blocks of 32, each block with its own scale from 10^lo to
 * 10^hi, now and then a block that is all one value, has exact zeros, or
 * holds a single outlier */
static void fill_floats_in(float *x, int64_t n, float lo, float hi)
{
    for (int64_t b = 0; b < n; b += 32) {
        float scale = powf(10.0f, lo + (hi - lo) * test_urand(&rng));
        int kind = (int)(test_rand(&rng) % 8);
        for (int64_t j = b; j < b + 32 && j < n; j++) {
            float v = test_grand(&rng) * scale;
            if (kind == 1)
                v = scale;
            else if (kind == 2 && j % 3 == 0)
                v = 0;
            else if (kind == 3 && j == b + 7)
                v *= 10;
            x[j] = v;
        }
    }
}

/* the golden tests' range: fp16 scales from subnormal to overflow */
static void fill_floats(float *x, int64_t n) { fill_floats_in(x, n, -6, 4); }

/* random half with a finite value between 2^-24 and 65504 (either sign) */
static uint16_t rand_half_scale(void)
{
    uint16_t h = (uint16_t)(test_rand(&rng) & 0xffff);
    if (((h >> 10) & 0x1f) == 0x1f)
        h &= 0xbfff;
    return h;
}

/* random bytes for n elements of type t, with finite scales in the block
 * headers (Q4_1/Q5_1 min, Q8_1 sum included); with `finite`, BF16 values
 * and MXFP4 exponents stay where a dot product cannot overflow */
static void fill_blocks(ggml_type t, void *dst, int64_t n, bool finite)
{
    const ggml_type_traits *tt = ggml_type_get(t);
    size_t bytes = (size_t)(n / tt->block_size) * tt->type_size;
    uint8_t *p = dst;
    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)test_rand(&rng);
    if (t == GGML_TYPE_F32) {
        fill_floats(dst, n);
        return;
    }
    if (t == GGML_TYPE_F16 || t == GGML_TYPE_BF16 || t == GGML_TYPE_MXFP4) {
        if (t == GGML_TYPE_F16)
            for (int64_t i = 0; i < n; i++)
                ((uint16_t *)dst)[i] = rand_half_scale();
        if (t == GGML_TYPE_BF16 && finite)
            for (int64_t i = 0; i < n; i++)
                ((uint16_t *)dst)[i] =
                    cpu_f32_to_bf16(test_grand(&rng) * powf(10.0f, -20 + 24 * test_urand(&rng)));
        if (t == GGML_TYPE_MXFP4 && finite)
            for (int64_t b = 0; b < n / 32; b++)
                p[b * 17] = (uint8_t)(100 + test_rand(&rng) % 40);
        return; /* otherwise bf16: any bits; mxfp4: any exponent */
    }
    int n_half = (t == GGML_TYPE_Q4_1 || t == GGML_TYPE_Q5_1 || t == GGML_TYPE_Q8_1) ? 2 : 1;
    for (int64_t b = 0; b < n / 32; b++)
        for (int k = 0; k < n_half; k++) {
            uint16_t h = rand_half_scale();
            memcpy(p + b * tt->type_size + 2 * k, &h, 2);
        }
    if (t == GGML_TYPE_Q8_0 || t == GGML_TYPE_Q8_1) /* -128 never occurs */
        for (int64_t b = 0; b < n / 32; b++)
            for (int j = 0; j < 32; j++) {
                int8_t *q = (int8_t *)(p + b * tt->type_size + 2 * n_half + j);
                if (*q == -128)
                    *q = -127;
            }
}

static size_t row_bytes(ggml_type t, int64_t n)
{
    const ggml_type_traits *tt = ggml_type_get(t);
    return (size_t)(n / tt->block_size) * tt->type_size;
}

/* ---- converters ------------------------------------------------------- */

static bool same_bits_or_both_nan(float a, float b)
{
    return memcmp(&a, &b, 4) == 0 || (isnan(a) && isnan(b));
}

static void test_half_bf16(void)
{
    CU_ASSERT_FATAL(ref.traits != NULL);
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++)
        bad += !same_bits_or_both_nan(cpu_fp16_to_f32((uint16_t)h), ref_fp16_to_fp32((uint16_t)h));
    CU_ASSERT_EQUAL(bad, 0);
    bad = 0;
    int bad_bf = 0;
    for (uint64_t k = 0; k < (1u << 24); k++) {
        /* every 256th pattern plus its neighbours: ties, carries, NaNs */
        uint32_t u = (uint32_t)(k << 8) | (uint32_t)(k & 3 ? test_rand(&rng) & 0xff : 0);
        float f;
        memcpy(&f, &u, 4);
        bad += cpu_f32_to_fp16(f) != ref_fp32_to_fp16(f);
        bad_bf += cpu_f32_to_bf16(f) != ref_fp32_to_bf16(f).bits;
        if (cpu_f32_to_fp16(f) != ref_fp32_to_fp16(f) && bad < 4)
            fprintf(stderr, "\n  fp16(%a = 0x%08x): ours 0x%04x ggml 0x%04x", f, u,
                    cpu_f32_to_fp16(f), ref_fp32_to_fp16(f));
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(bad_bf, 0);
    for (uint32_t h = 0; h < 65536; h++) /* half -> float -> half is the identity */
        if (((h >> 10) & 0x1f) != 0x1f || (h & 0x3ff) == 0)
            bad += cpu_f32_to_fp16(cpu_fp16_to_f32((uint16_t)h)) != h;
    CU_ASSERT_EQUAL(bad, 0);
}

/* ---- round trip ------------------------------------------------------- */

/* worst error of a block relative to its amax (range for the min types) */
static double roundtrip_bound(ggml_type t)
{
    switch (t) {
    case GGML_TYPE_F32: return 0;
    case GGML_TYPE_F16: return 0x1p-11;
    case GGML_TYPE_BF16: return 0x1p-8;
    case GGML_TYPE_Q4_0: return 1.0 / 8; /* -max maps to +8, clamped to 7 */
    case GGML_TYPE_Q4_1: return 1.0 / 30 * 1.01;
    case GGML_TYPE_Q5_0: return 1.0 / 16;
    case GGML_TYPE_Q5_1: return 1.0 / 62 * 1.01;
    case GGML_TYPE_Q8_0:
    case GGML_TYPE_Q8_1: return 1.0 / 254 * 1.01;
    case GGML_TYPE_IQ4_NL: return 0.15;
    case GGML_TYPE_MXFP4: return 0.26;
    default: return 0;
    }
}

static void test_roundtrip(void)
{
    enum { N = 32 * 64 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    void *q = malloc(N * 4);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        ggml_type t = types[ti];
        const cpu_quant_traits *tr = cpu_quant_ref(t);
        CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
        CU_ASSERT_PTR_NOT_NULL_FATAL(tr->from_float);
        int bad = 0;
        for (int rep = 0; rep < 20; rep++) {
            fill_floats_in(x, N, -1, 3); /* fp16 scales stay normal and finite */
            tr->from_float(x, q, N);
            tr->to_float(q, y, N);
            bool affine = t == GGML_TYPE_Q4_1 || t == GGML_TYPE_Q5_1;
            bool perval = t == GGML_TYPE_F16 || t == GGML_TYPE_BF16 || t == GGML_TYPE_F32;
            for (int b = 0; b < N; b += 32) {
                float amax = 0, mn = x[b], mx = x[b];
                for (int j = b; j < b + 32; j++) {
                    amax = fmaxf(amax, fabsf(x[j]));
                    mn = fminf(mn, x[j]);
                    mx = fmaxf(mx, x[j]);
                }
                for (int j = b; j < b + 32; j++) {
                    double ref = perval ? fabs(x[j]) : affine ? mx - mn : amax;
                    /* fp16 scales add their own rounding: one half-ulp of d */
                    /* plus the fp16 rounding of the scale (and min) */
                    double lim = roundtrip_bound(t) * ref +
                                 (perval ? 0x1p-25 : 0x1p-10 * (fabs(x[j]) + fabs(mn))) + 1e-30;
                    if (fabs((double)y[j] - x[j]) > lim && bad++ < 3)
                        fprintf(stderr, "\n  %s: x=%g y=%g amax=%g", ggml_type_get(t)->name,
                                x[j], y[j], amax);
                }
            }
        }
        CU_ASSERT_EQUAL(bad, 0);
    }
    free(x);
    free(y);
    free(q);
}

/* ---- ggml golden ------------------------------------------------------ */

static void test_ggml_dequantize(void)
{
    CU_ASSERT_FATAL(ref.traits != NULL);
    enum { N = 32 * 256 };
    void *q = malloc(N * 4);
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        ggml_type t = types[ti];
        const struct ref_type_traits *g = ref.traits((int)t);
        if (!g->to_float)
            continue; /* Q8_1: ggml has none */
        CU_ASSERT_EQUAL(g->type_size, ggml_type_get(t)->type_size);
        int bad = 0;
        for (int rep = 0; rep < 10; rep++) {
            fill_blocks(t, q, N, false);
            cpu_quant_ref(t)->to_float(q, a, N);
            g->to_float(q, b, N);
            for (int i = 0; i < N; i++)
                bad += !same_bits_or_both_nan(a[i], b[i]);
        }
        if (bad)
            fprintf(stderr, "\n  %s: %d floats differ", ggml_type_get(t)->name, bad);
        CU_ASSERT_EQUAL(bad, 0);
    }
    free(q);
    free(a);
    free(b);
}

static void test_ggml_quantize(void)
{
    CU_ASSERT_FATAL(ref.traits != NULL);
    enum { N = 32 * 256 };
    float *x = malloc(N * sizeof(float));
    uint8_t *a = malloc(N * 4), *b = malloc(N * 4);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        ggml_type t = types[ti];
        const struct ref_type_traits *g = ref.traits((int)t);
        if (!g->from_float_ref)
            continue;
        size_t bs = ggml_type_get(t)->type_size;
        int bad = 0;
        for (int rep = 0; rep < 10; rep++) {
            fill_floats(x, N);
            if (t == GGML_TYPE_F16 || t == GGML_TYPE_BF16) /* edge values */
                for (int i = 0; i < 64; i++) {
                    static const float edge[] = {65504.f, 65519.f, 65520.f, 1e-8f, 2.98e-8f,
                                                 6.1e-5f, INFINITY, NAN, -0.0f, 3.4e38f};
                    x[i * 7] = edge[i % 10] * (i & 1 ? -1 : 1);
                }
            cpu_quant_ref(t)->from_float(x, a, N);
            g->from_float_ref(x, b, N);
            for (size_t k = 0; k < row_bytes(t, N) / bs; k++)
                if (memcmp(a + k * bs, b + k * bs, bs) != 0 && bad++ < 2)
                    fprintf(stderr, "\n  %s: block %zu differs", ggml_type_get(t)->name, k);
        }
        CU_ASSERT_EQUAL(bad, 0);
    }
    free(x);
    free(a);
    free(b);
}

/* ---- vec_dot ---------------------------------------------------------- */

static const int64_t lengths[] = {32, 64, 96, 128, 160, 256, 352, 1024, 4096, 4128, 11008};
#define N_LENGTHS (sizeof lengths / sizeof lengths[0])
#define NMAX 11008

/* sum |x_i y_i| of the dequantized rows: the scale of a dot's rounding */
static double abs_dot(const float *x, const float *y, int64_t n, double *dot)
{
    double s = 0, d = 0;
    for (int64_t i = 0; i < n; i++) {
        s += fabs((double)x[i] * y[i]);
        d += (double)x[i] * y[i];
    }
    *dot = d;
    return s;
}

typedef struct {
    void *x, *y;
    float *fx, *fy;
    double extra; /* Q8_1: how far the fp16 sums s may move the dot */
} rows;

/* a random weight row of t and an activation row of its vec_dot_type */
static void make_rows(ggml_type t, int64_t n, rows *r)
{
    const cpu_quant_traits *tr = cpu_quant_ref(t);
    fill_blocks(t, r->x, n, true);
    fill_floats_in(r->fy, n, -4, 2);
    cpu_quant_ref(tr->vec_dot_type)->from_float(r->fy, r->y, n);
    tr->to_float(r->x, r->fx, n);
    cpu_quant_ref(tr->vec_dot_type)->to_float(r->y, r->fy, n);
    r->extra = 0;
    if (tr->vec_dot_type == GGML_TYPE_Q8_1) { /* m sits at byte 2 of Q4_1, Q5_1 */
        size_t bx = ggml_type_get(t)->type_size;
        for (int64_t b = 0; b < n / 32; b++) {
            uint16_t m, sy;
            memcpy(&m, (const uint8_t *)r->x + b * bx + 2, 2);
            memcpy(&sy, (const uint8_t *)r->y + b * 36 + 2, 2);
            int sum = 0; /* s = fp16(d * sum) with d before its own rounding */
            for (int j = 0; j < 32; j++)
                sum += ((const int8_t *)r->y)[b * 36 + 4 + j];
            r->extra += fabs(cpu_fp16_to_f32(m)) *
                        (fabs(cpu_fp16_to_f32(sy)) * 0x1p-10 + (abs(sum) + 1) * 0x1p-25);
        }
    }
}

static void rows_alloc(rows *r)
{
    r->x = malloc(NMAX * 4);
    r->y = malloc(NMAX * 4);
    r->fx = malloc(NMAX * sizeof(float));
    r->fy = malloc(NMAX * sizeof(float));
}

static void rows_free(rows *r)
{
    free(r->x);
    free(r->y);
    free(r->fx);
    free(r->fy);
}

static bool has_dot(ggml_type t) { return cpu_quant_ref(t)->vec_dot != NULL; }

static void test_scalar_dot(void)
{
    rows r;
    rows_alloc(&r);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        if (!has_dot(types[ti]))
            continue;
        int bad = 0;
        for (size_t li = 0; li < N_LENGTHS; li++)
            for (int rep = 0; rep < 5; rep++) {
                make_rows(types[ti], lengths[li], &r);
                double dot, mag = abs_dot(r.fx, r.fy, lengths[li], &dot);
                float s;
                cpu_quant_ref(types[ti])->vec_dot(lengths[li], &s, r.x, r.y);
                if (!(fabs(s - dot) <= 1e-5 * mag + r.extra + 1e-35) && bad++ < 3)
                    fprintf(stderr, "\n  %s n=%lld: %g vs %g", ggml_type_get(types[ti])->name,
                            (long long)lengths[li], s, dot);
            }
        CU_ASSERT_EQUAL(bad, 0);
    }
    rows_free(&r);
}

/* The ISA level of this run: ctest runs the suite once per level
 * (ROCMFORGE_CPU_ISA), so cpu_quant() is that level's table. */
static int isa;
static const char *isa_name;

/* The kernel each entry of the fast table holds at this run's level: the
 * level's own where it has one. AVX-512 has the float dots always and the
 * integer ones only with VNNI (AVX2's otherwise); Q8_1's quantizer is
 * AVX2's at both levels. */
static const char *want_isa(ggml_type t)
{
    bool is_float = t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16;
    if (isa == CPU_ISA_SCALAR)
        return "scalar";
    if (isa == CPU_ISA_AVX2 || t == GGML_TYPE_Q8_1)
        return "avx2";
    return is_float || __builtin_cpu_supports("avx512vnni") ? "avx512" : "avx2";
}

/* the fast table at this run's level against the scalar one */
static void test_simd(void)
{
    cpu_quant_traits tbl[GGML_TYPE_COUNT];
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const cpu_quant_traits *f = cpu_quant(types[ti]), *s = cpu_quant_ref(types[ti]);
        CU_ASSERT_FATAL(f != NULL && s != NULL);
        tbl[types[ti]] = *f;
        if (strcmp(f->isa, want_isa(types[ti])))
            fprintf(stderr, "\n  %s at %s: the %s kernel, expected %s", ggml_type_get(types[ti])->name, isa_name,
                    f->isa, want_isa(types[ti]));
        CU_ASSERT_STRING_EQUAL(f->isa, want_isa(types[ti]));
        if (isa == CPU_ISA_SCALAR) { /* the reference itself, not a copy that could differ */
            CU_ASSERT_PTR_EQUAL(f->vec_dot, s->vec_dot);
            CU_ASSERT_PTR_EQUAL(f->from_float, s->from_float);
        }
    }
    rows r;
    rows_alloc(&r);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        ggml_type t = types[ti];
        if (!has_dot(t))
            continue;
        int bad = 0;
        for (size_t li = 0; li < N_LENGTHS; li++)
            for (int rep = 0; rep < 20; rep++) {
                int64_t n = lengths[li];
                make_rows(t, n, &r);
                double dot, mag = abs_dot(r.fx, r.fy, n, &dot);
                float s_ref, s_fast;
                cpu_quant_ref(t)->vec_dot(n, &s_ref, r.x, r.y);
                tbl[t].vec_dot(n, &s_fast, r.x, r.y);
                if (!(fabs(s_fast - s_ref) <= 1e-5 * mag + 1e-35) && bad++ < 3)
                    fprintf(stderr, "\n  %s/%s n=%lld: %.9g vs ref %.9g", tbl[t].isa,
                            ggml_type_get(t)->name, (long long)n, s_fast, s_ref);
            }
        CU_ASSERT_EQUAL(bad, 0);
    }
    /* fast activation quantizers: same d, values within 1 of the reference */
    float *x = malloc(NMAX * sizeof(float));
    uint8_t *a = malloc(NMAX * 2), *b = malloc(NMAX * 2);
    static const ggml_type act[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q8_1};
    for (int k = 0; k < 2; k++) {
        int bad = 0;
        size_t bs = ggml_type_get(act[k])->type_size, hdr = bs - 32;
        for (int rep = 0; rep < 20; rep++) {
            fill_floats(x, NMAX);
            tbl[act[k]].from_float(x, a, NMAX);
            cpu_quant_ref(act[k])->from_float(x, b, NMAX);
            for (int blk = 0; blk < NMAX / 32; blk++) {
                bad += memcmp(a + blk * bs, b + blk * bs, 2) != 0;
                for (size_t j = hdr; j < bs; j++)
                    bad += abs((int8_t)a[blk * bs + j] - (int8_t)b[blk * bs + j]) > 1;
            }
        }
        CU_ASSERT_EQUAL(bad, 0);
    }
    free(x);
    free(a);
    free(b);
    rows_free(&r);
}

/* our fastest kernels against the ggml-cpu build this CPU would load */
static void test_ggml_cpu(void)
{
    CU_ASSERT_FATAL(ref.traits_cpu != NULL);
    rows r;
    rows_alloc(&r);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        ggml_type t = types[ti];
        const struct ref_type_traits_cpu *g = ref.traits_cpu((int)t);
        const cpu_quant_traits *tr = cpu_quant(t);
        if (!has_dot(t) || !g->vec_dot)
            continue;
        CU_ASSERT_EQUAL(g->vec_dot_type, (int)tr->vec_dot_type);
        int bad = 0;
        for (size_t li = 0; li < N_LENGTHS; li++)
            for (int rep = 0; rep < 10; rep++) {
                int64_t n = lengths[li];
                make_rows(t, n, &r);
                double dot, mag = abs_dot(r.fx, r.fy, n, &dot);
                float s_ours, s_ggml;
                tr->vec_dot(n, &s_ours, r.x, r.y);
                g->vec_dot((int)n, &s_ggml, 0, r.x, 0, r.y, 0, 1);
                if (!(fabs(s_ours - s_ggml) <= 1e-5 * mag + 1e-35) && bad++ < 3)
                    fprintf(stderr, "\n  %s (%s) n=%lld: %.9g vs ggml-cpu-%s %.9g",
                            ggml_type_get(t)->name, tr->isa, (long long)n, s_ours,
                            ref.cpu_variant, s_ggml);
            }
        CU_ASSERT_EQUAL(bad, 0);
    }
    /* activation quantizers: ggml-cpu's bytes exactly */
    float *x = malloc(NMAX * sizeof(float));
    uint8_t *a = malloc(NMAX * 2), *b = malloc(NMAX * 2);
    static const ggml_type act[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q8_1};
    for (int k = 0; k < 2; k++) {
        int bad = 0;
        for (int rep = 0; rep < 20; rep++) {
            fill_floats(x, NMAX);
            cpu_quant(act[k])->from_float(x, a, NMAX);
            ref.traits_cpu((int)act[k])->from_float(x, b, NMAX);
            bad += memcmp(a, b, row_bytes(act[k], NMAX)) != 0;
        }
        CU_ASSERT_EQUAL(bad, 0);
    }
    free(x);
    free(a);
    free(b);
    rows_free(&r);
}

static void test_tables(void)
{
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const cpu_quant_traits *r = cpu_quant_ref(types[ti]), *f = cpu_quant(types[ti]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT_EQUAL(r->type, types[ti]);
        CU_ASSERT_STRING_EQUAL(r->isa, "scalar");
        CU_ASSERT_EQUAL(f->vec_dot_type, r->vec_dot_type);
    }
    CU_ASSERT_PTR_NULL(cpu_quant_ref((ggml_type)4));
    CU_ASSERT_PTR_NULL(cpu_quant((ggml_type)GGML_TYPE_COUNT));
}

int main(void)
{
    isa = test_cpu_isa(&isa_name);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    if (load_ggml() != 0)
        ref.traits = NULL, ref.traits_cpu = NULL; /* the golden tests fail */
    CU_pSuite s = CU_add_suite("quant_legacy", NULL, NULL);
    CU_add_test(s, "tables", test_tables);
    CU_add_test(s, "half and bfloat converters equal ggml's", test_half_bf16);
    CU_add_test(s, "from_float then to_float within bounds", test_roundtrip);
    CU_add_test(s, "to_float equals ggml's bit for bit", test_ggml_dequantize);
    CU_add_test(s, "from_float equals ggml's _ref bit for bit", test_ggml_quantize);
    CU_add_test(s, "scalar vec_dot equals the float dot", test_scalar_dot);
    CU_add_test(s, "this ISA level's kernels equal the scalar ones", test_simd);
    CU_add_test(s, "fast kernels equal ggml-cpu's", test_ggml_cpu);
    return test_main();
}
