/*
 * test_quant_k.c: the CPU kernels of the k-quants, Q8_K and IQ4_XS
 * (quant_k*.c), against themselves and against ggml.
 *
 * Facts checked, each type in turn:
 *   - the tables: every type present, vec_dot_type Q8_K, block sizes as
 *     gguf.h's type table;
 *   - to_float(from_float(x)) stays within the type's RMS error bound on
 *     Gaussian data;
 *   - our dequantize and reference quantize give bit-identical floats and
 *     blocks to libggml-base's to_float / from_float_ref, on random blocks
 *     (every bit pattern in the quants, finite fp16 scales of any size) and
 *     on random rows (scales 1e-6..1e4, constant, sparse and outlier
 *     sub-blocks);
 *   - the scalar vec_dot equals dot(to_float(x), to_float(y));
 *   - the fast table holds the kernels of the ISA level under test, each
 *     SIMD vec_dot equals the scalar one to 1e-5 of the sum of |terms|,
 *     and the SIMD Q8_K quantizer gives the scalar one's bytes;
 *   - the fastest vec_dot agrees with ggml-cpu's (libggml-cpu-<variant>.so)
 *     and our Q8_K bytes are ggml-cpu's.
 * ggml is dlopen'd from the fetched reference; missing, the suite fails.
 * ctest runs the suite once per ISA level (scalar, AVX2, AVX-512) through
 * ROCMFORGE_CPU_ISA; a level this CPU lacks is reported skipped.
 */
#include "ggml_ref.h"
#include "test_util.h"

#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/quant_impl.h"
#include "runtime/cpu/quant_k.h"

static test_ggml ref;
/* Q8_K has neither in ggml's type table; libggml-base exports both */
static ggml_to_float_t ref_dequantize_q8_k;
static ggml_from_float_t ref_quantize_q8_k;

static const ggml_type weights[] = {GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K,
                                    GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_XS};
#define N_WEIGHTS (sizeof weights / sizeof weights[0])

static int load_ggml(void)
{
    if (test_ggml_load(&ref) != 0)
        return -1;
    *(void **)&ref_dequantize_q8_k = dlsym(ref.base, "dequantize_row_q8_K");
    *(void **)&ref_quantize_q8_k = dlsym(ref.base, "quantize_row_q8_K_ref");
    if (!ref_dequantize_q8_k || !ref_quantize_q8_k) {
        fprintf(stderr, "\n  ggml symbols missing under %s/lib\n", test_ref_dir());
        return -1;
    }
    return 0;
}

/* ---- random data ------------------------------------------------------ */

static uint64_t rng = 0x2545f4914f6cdd1dULL;

/* n floats; each 32 has its own scale in 10^[lo, hi), and now and then is
 * constant, partly zero, all zero (never for a whole super-block: Q8_K
 * leaves bsums unwritten there), or holds an outlier */
static void fill_floats_in(float *x, int64_t n, float lo, float hi)
{
    for (int64_t b = 0; b < n; b += 32) {
        float scale = powf(10.0f, lo + (hi - lo) * test_urand(&rng));
        int kind = (int)(test_rand(&rng) % 10);
        if (kind == 4 && b % QK_K == 0)
            kind = 0;
        for (int64_t j = b; j < b + 32; j++) {
            float v = test_grand(&rng) * scale;
            if (kind == 1)
                v = scale;
            else if (kind == 2 && j % 3 == 0)
                v = 0;
            else if (kind == 3 && j == b + 7)
                v *= 20;
            else if (kind == 4)
                v = 0;
            else if (kind == 5)
                v = fabsf(v) + scale; /* all positive: min clamps at 0 */
            x[j] = v;
        }
    }
}

static size_t row_bytes(ggml_type t, int64_t n)
{
    return (size_t)(n / QK_K) * ggml_type_get(t)->type_size;
}

/* random half, finite, with magnitude in 2^[lo, hi] */
static uint16_t rand_half(int lo, int hi)
{
    float v = ldexpf(1.0f + test_urand(&rng),
                     lo + (int)(test_rand(&rng) % (unsigned)(hi - lo + 1)));
    if (test_rand(&rng) & 1)
        v = -v;
    return cpu_f32_to_fp16(v);
}

static void put_half(uint8_t *blk, size_t off, uint16_t h) { memcpy(blk + off, &h, 2); }

/* random bytes for n elements of weight type t with fp16 scales from the
 * subnormal range up to 2^hi */
static void fill_blocks(ggml_type t, void *dst, int64_t n, int hi)
{
    size_t bs = ggml_type_get(t)->type_size;
    uint8_t *p = dst;
    for (size_t i = 0; i < row_bytes(t, n); i++)
        p[i] = (uint8_t)test_rand(&rng);
    for (int64_t b = 0; b < n / QK_K; b++) {
        uint8_t *blk = p + b * bs;
        switch (t) {
        case GGML_TYPE_Q2_K:
            put_half(blk, offsetof(cpu_block_q2_k, d), rand_half(-24, hi));
            put_half(blk, offsetof(cpu_block_q2_k, dmin), rand_half(-24, hi));
            break;
        case GGML_TYPE_Q3_K:
            put_half(blk, offsetof(cpu_block_q3_k, d), rand_half(-24, hi));
            break;
        case GGML_TYPE_Q4_K:
        case GGML_TYPE_Q5_K: /* same header */
            put_half(blk, offsetof(cpu_block_q4_k, d), rand_half(-24, hi));
            put_half(blk, offsetof(cpu_block_q4_k, dmin), rand_half(-24, hi));
            break;
        case GGML_TYPE_Q6_K:
            put_half(blk, offsetof(cpu_block_q6_k, d), rand_half(-24, hi));
            break;
        case GGML_TYPE_IQ4_XS:
            put_half(blk, offsetof(cpu_block_iq4_xs, d), rand_half(-24, hi));
            break;
        default:
            break;
        }
    }
}

/* a random Q8_K row: any qs in [-127, 127], consistent bsums, d up to 100 */
static void fill_q8_k(cpu_block_q8_k *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++) {
        y[b].d = powf(10.0f, -6 + 8 * test_urand(&rng));
        int range = (test_rand(&rng) % 4 == 0) ? 8 : 255; /* small or full */
        for (int j = 0; j < QK_K; j++)
            y[b].qs[j] = (int8_t)((int)(test_rand(&rng) % (unsigned)range) - range / 2);
        for (int j = 0; j < QK_K; j++)
            if (y[b].qs[j] == -128)
                y[b].qs[j] = -127;
        for (int g = 0; g < QK_K / 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += y[b].qs[16 * g + l];
            y[b].bsums[g] = (int16_t)s;
        }
    }
}

static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b)); }

/* ---- tests ------------------------------------------------------------ */

static void test_tables(void)
{
    static const ggml_type all[] = {GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
                                    GGML_TYPE_Q6_K, GGML_TYPE_IQ4_XS, GGML_TYPE_Q8_K};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const cpu_quant_traits *r = cpu_quant_ref(all[i]), *f = cpu_quant(all[i]);
        CU_ASSERT_FATAL(r != NULL && f != NULL);
        CU_ASSERT_EQUAL(r->vec_dot_type, GGML_TYPE_Q8_K);
        CU_ASSERT_PTR_NOT_NULL(r->to_float);
        CU_ASSERT_PTR_NOT_NULL(r->from_float);
        CU_ASSERT_PTR_NOT_NULL(f->from_float);
        CU_ASSERT_EQUAL(ggml_type_get(all[i])->block_size, QK_K);
        if (all[i] != GGML_TYPE_Q8_K) {
            CU_ASSERT_PTR_NOT_NULL(r->vec_dot);
            CU_ASSERT_PTR_NOT_NULL(f->vec_dot);
        }
    }
    CU_ASSERT_EQUAL(ggml_type_get(GGML_TYPE_Q2_K)->type_size, sizeof(cpu_block_q2_k));
    CU_ASSERT_EQUAL(ggml_type_get(GGML_TYPE_Q3_K)->type_size, sizeof(cpu_block_q3_k));
    CU_ASSERT_EQUAL(ggml_type_get(GGML_TYPE_Q4_K)->type_size, sizeof(cpu_block_q4_k));
    CU_ASSERT_EQUAL(ggml_type_get(GGML_TYPE_Q5_K)->type_size, sizeof(cpu_block_q5_k));
    CU_ASSERT_EQUAL(ggml_type_get(GGML_TYPE_Q6_K)->type_size, sizeof(cpu_block_q6_k));
    CU_ASSERT_EQUAL(ggml_type_get(GGML_TYPE_Q8_K)->type_size, sizeof(cpu_block_q8_k));
    CU_ASSERT_EQUAL(ggml_type_get(GGML_TYPE_IQ4_XS)->type_size, sizeof(cpu_block_iq4_xs));
}

#define NMAX (QK_K * 32)

static void test_roundtrip(void)
{
    /* relative RMS error on N(0,1) data; measured values are about 3/4 of
     * these (0.298 0.151 0.071 0.036 0.018 0.078 0.0071) */
    static const struct { ggml_type t; double bound; } cases[] = {
        {GGML_TYPE_Q2_K, 0.38},  {GGML_TYPE_Q3_K, 0.20}, {GGML_TYPE_Q4_K, 0.095},
        {GGML_TYPE_Q5_K, 0.048}, {GGML_TYPE_Q6_K, 0.024}, {GGML_TYPE_IQ4_XS, 0.10},
        {GGML_TYPE_Q8_K, 0.0095},
    };
    float *x = malloc(NMAX * sizeof *x), *z = malloc(NMAX * sizeof *z);
    void *q = malloc(NMAX * 2);
    for (int i = 0; i < NMAX; i++)
        x[i] = test_grand(&rng);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const cpu_quant_traits *tr = cpu_quant_ref(cases[c].t);
        tr->from_float(x, q, NMAX);
        tr->to_float(q, z, NMAX);
        double se = 0, sx = 0;
        for (int i = 0; i < NMAX; i++) {
            se += (double)(x[i] - z[i]) * (x[i] - z[i]);
            sx += (double)x[i] * x[i];
        }
        double rel = sqrt(se / sx);
        if (!(rel <= cases[c].bound))
            fprintf(stderr, "\n  %s: relative RMS error %.4f > %.4f", ggml_type_get(cases[c].t)->name,
                    rel, cases[c].bound);
        CU_ASSERT(rel <= cases[c].bound);
    }
    free(x);
    free(z);
    free(q);
}

static void test_ggml_dequantize(void)
{
    uint8_t *q = malloc(NMAX * 2);
    float *a = malloc(NMAX * sizeof *a), *b = malloc(NMAX * sizeof *b);
    for (size_t i = 0; i <= N_WEIGHTS; i++) {
        ggml_type t = i < N_WEIGHTS ? weights[i] : GGML_TYPE_Q8_K;
        const struct ref_type_traits *g = ref.traits((int)t);
        CU_ASSERT_FATAL(g != NULL);
        CU_ASSERT_EQUAL(g->type_size, ggml_type_get(t)->type_size);
        ggml_to_float_t to_float = t == GGML_TYPE_Q8_K ? ref_dequantize_q8_k : g->to_float;
        CU_ASSERT_FATAL(to_float != NULL);
        int bad = 0;
        for (int rep = 0; rep < 20; rep++) {
            if (t == GGML_TYPE_Q8_K)
                fill_q8_k((cpu_block_q8_k *)q, NMAX);
            else
                fill_blocks(t, q, NMAX, rep < 10 ? 15 : 0);
            cpu_quant_ref(t)->to_float(q, a, NMAX);
            to_float(q, b, NMAX);
            for (int j = 0; j < NMAX; j++)
                if (!same_bits(a[j], b[j]) && bad++ < 3)
                    fprintf(stderr, "\n  %s [%d]: %.9g vs ggml %.9g", ggml_type_get(t)->name, j, a[j], b[j]);
        }
        CU_ASSERT_EQUAL(bad, 0);
    }
    free(q);
    free(a);
    free(b);
}

static void test_ggml_quantize(void)
{
    float *x = malloc(NMAX * sizeof *x);
    uint8_t *a = malloc(NMAX * 2), *b = malloc(NMAX * 2);
    for (size_t i = 0; i <= N_WEIGHTS; i++) {
        ggml_type t = i < N_WEIGHTS ? weights[i] : GGML_TYPE_Q8_K;
        const struct ref_type_traits *g = ref.traits((int)t);
        CU_ASSERT_FATAL(g != NULL);
        ggml_from_float_t quantize = t == GGML_TYPE_Q8_K ? ref_quantize_q8_k : g->from_float_ref;
        CU_ASSERT_FATAL(quantize != NULL);
        size_t bs = ggml_type_get(t)->type_size;
        int bad = 0;
        for (int rep = 0; rep < 40; rep++) {
            fill_floats_in(x, NMAX, rep < 20 ? -6 : -1, rep < 20 ? 4 : 1);
            memset(a, 0, NMAX * 2);
            memset(b, 0, NMAX * 2);
            cpu_quant_ref(t)->from_float(x, a, NMAX);
            quantize(x, b, NMAX);
            for (int blk = 0; blk < NMAX / QK_K; blk++)
                if (memcmp(a + blk * bs, b + blk * bs, bs) != 0 && bad++ < 3) {
                    size_t k = 0;
                    while (a[blk * bs + k] == b[blk * bs + k])
                        k++;
                    fprintf(stderr, "\n  %s rep %d block %d: byte %zu is %d, ggml %d",
                            ggml_type_get(t)->name, rep, blk, k, a[blk * bs + k], b[blk * bs + k]);
                }
        }
        CU_ASSERT_EQUAL(bad, 0);
    }
    free(x);
    free(a);
    free(b);
}

/* ---- dot products ------------------------------------------------------ */

static const int64_t lengths[] = {QK_K, 2 * QK_K, 3 * QK_K, 16 * QK_K, 32 * QK_K};
#define N_LENGTHS (sizeof lengths / sizeof lengths[0])

typedef struct rows {
    uint8_t *x, *x0;  /* weights; the same with every quant zeroed (mins only) */
    cpu_block_q8_k *y;
    float *fx, *fx0, *fy;
} rows;

static void rows_alloc(rows *r)
{
    r->x = malloc(NMAX * 2);
    r->x0 = malloc(NMAX * 2);
    r->y = malloc(NMAX / QK_K * sizeof *r->y);
    r->fx = malloc(NMAX * sizeof(float));
    r->fx0 = malloc(NMAX * sizeof(float));
    r->fy = malloc(NMAX * sizeof(float));
}

static void rows_free(rows *r)
{
    free(r->x);
    free(r->x0);
    free(r->y);
    free(r->fx);
    free(r->fx0);
    free(r->fy);
}

/* random weights (random bytes, or every other time quantized floats) and
 * Q8_K activations (random or quantized) of length n */
static void make_rows(ggml_type t, int64_t n, rows *r, int rep)
{
    if (rep % 2 == 0) {
        fill_blocks(t, r->x, n, rep % 4 == 0 ? 12 : 2);
    } else {
        fill_floats_in(r->fx, n, -3, 2);
        cpu_quant_ref(t)->from_float(r->fx, r->x, n);
    }
    if (rep % 3 == 0) {
        fill_floats_in(r->fy, n, -3, 2);
        cpu_quant_ref(GGML_TYPE_Q8_K)->from_float(r->fy, r->y, n);
    } else {
        fill_q8_k(r->y, n);
    }
    /* the mins part of each weight alone: the same blocks, quants zeroed */
    size_t bs = ggml_type_get(t)->type_size;
    memcpy(r->x0, r->x, row_bytes(t, n));
    for (int64_t b = 0; b < n / QK_K; b++) {
        uint8_t *blk = r->x0 + b * bs;
        if (t == GGML_TYPE_Q2_K)
            memset(blk + offsetof(cpu_block_q2_k, qs), 0, QK_K / 4);
        else if (t == GGML_TYPE_Q4_K)
            memset(blk + offsetof(cpu_block_q4_k, qs), 0, QK_K / 2);
        else if (t == GGML_TYPE_Q5_K)
            memset(blk + offsetof(cpu_block_q5_k, qh), 0, QK_K / 8 + QK_K / 2);
        else
            memset(blk, 0, bs); /* no mins */
    }
    cpu_quant_ref(t)->to_float(r->x, r->fx, n);
    cpu_quant_ref(t)->to_float(r->x0, r->fx0, n);
    cpu_quant_ref(GGML_TYPE_Q8_K)->to_float(r->y, r->fy, n);
}

/* the exact dot in double, and the sum of |terms| before cancellation
 * (scale part and min part of each weight counted apart) */
static double dot_mag(const rows *r, int64_t n, double *dot)
{
    double s = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)r->fx[i] * r->fy[i];
        m += fabs((double)r->fx[i] * r->fy[i]) + 2 * fabs((double)r->fx0[i] * r->fy[i]);
    }
    *dot = s;
    return m;
}

static bool close(double a, double b, double mag) { return fabs(a - b) <= 1e-5 * mag + 1e-30; }

static void test_scalar_dot(void)
{
    rows r;
    rows_alloc(&r);
    for (size_t ti = 0; ti < N_WEIGHTS; ti++) {
        ggml_type t = weights[ti];
        int bad = 0;
        for (size_t li = 0; li < N_LENGTHS; li++)
            for (int rep = 0; rep < 12; rep++) {
                int64_t n = lengths[li];
                make_rows(t, n, &r, rep);
                double dot, mag = dot_mag(&r, n, &dot);
                float s;
                cpu_quant_ref(t)->vec_dot(n, &s, r.x, r.y);
                if (!close(s, dot, mag) && bad++ < 3)
                    fprintf(stderr, "\n  %s n=%lld: %.9g vs float dot %.9g (mag %.3g)",
                            ggml_type_get(t)->name, (long long)n, s, dot, mag);
            }
        CU_ASSERT_EQUAL(bad, 0);
    }
    rows_free(&r);
}

/* The ISA level of this run: ctest runs the suite once per level
 * (ROCMFORGE_CPU_ISA), so cpu_quant() is that level's table. */
static int isa;
static const char *isa_name;

/* The fast table at this run's level against the scalar one: every weight
 * type and Q8_K's quantizer have a kernel of their own at AVX2 and AVX-512;
 * at the scalar level the table is the reference itself. */
static void test_simd(void)
{
    const char *want = isa_name;
    cpu_quant_traits tbl[GGML_TYPE_COUNT];
    static const ggml_type all[] = {GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
                                    GGML_TYPE_Q6_K, GGML_TYPE_IQ4_XS, GGML_TYPE_Q8_K};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const cpu_quant_traits *f = cpu_quant(all[i]), *s = cpu_quant_ref(all[i]);
        CU_ASSERT_FATAL(f != NULL && s != NULL);
        tbl[all[i]] = *f;
        if (isa == CPU_ISA_SCALAR) {
            CU_ASSERT_PTR_EQUAL(f->vec_dot, s->vec_dot);
            CU_ASSERT_PTR_EQUAL(f->from_float, s->from_float);
        }
    }
    rows r;
    rows_alloc(&r);
    for (size_t ti = 0; ti < N_WEIGHTS; ti++) {
        ggml_type t = weights[ti];
        CU_ASSERT_STRING_EQUAL(tbl[t].isa, want);
        int bad = 0;
        for (size_t li = 0; li < N_LENGTHS; li++)
            for (int rep = 0; rep < 24; rep++) {
                int64_t n = lengths[li];
                make_rows(t, n, &r, rep);
                double dot, mag = dot_mag(&r, n, &dot);
                float s_ref, s_fast;
                cpu_quant_ref(t)->vec_dot(n, &s_ref, r.x, r.y);
                tbl[t].vec_dot(n, &s_fast, r.x, r.y);
                if (!close(s_fast, s_ref, mag) && bad++ < 3)
                    fprintf(stderr, "\n  %s/%s n=%lld: %.9g vs ref %.9g (mag %.3g)", want,
                            ggml_type_get(t)->name, (long long)n, s_fast, s_ref, mag);
            }
        CU_ASSERT_EQUAL(bad, 0);
    }
    /* the Q8_K quantizer: the reference's bytes */
    CU_ASSERT_STRING_EQUAL(tbl[GGML_TYPE_Q8_K].isa, want);
    float *x = malloc(NMAX * sizeof *x);
    uint8_t *a = malloc(NMAX * 2), *b = malloc(NMAX * 2);
    int bad = 0;
    for (int rep = 0; rep < 40; rep++) {
        fill_floats_in(x, NMAX, rep % 2 ? -6 : -1, rep % 2 ? 4 : 1);
        if (rep == 0)
            x[5] = -x[9] * 1.0f, x[9] = fabsf(x[9]) + 100; /* tie break on sign */
        tbl[GGML_TYPE_Q8_K].from_float(x, a, NMAX);
        cpu_quant_ref(GGML_TYPE_Q8_K)->from_float(x, b, NMAX);
        bad += memcmp(a, b, row_bytes(GGML_TYPE_Q8_K, NMAX)) != 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(x);
    free(a);
    free(b);
    rows_free(&r);
}

/* ties of |x| with opposite signs: the first one sets the scale's sign */
static void test_q8_k_sign_tie(void)
{
    float x[QK_K];
    for (int i = 0; i < QK_K; i++)
        x[i] = test_grand(&rng);
    x[3] = -50;
    x[200] = 50;
    cpu_block_q8_k a, b;
    cpu_quant_ref(GGML_TYPE_Q8_K)->from_float(x, &a, QK_K);
    ref_quantize_q8_k(x, &b, QK_K);
    CU_ASSERT_EQUAL(memcmp(&a, &b, sizeof a), 0);
    CU_ASSERT_EQUAL(a.qs[3], -127);
    CU_ASSERT_EQUAL(a.qs[200], 127);
    cpu_quant(GGML_TYPE_Q8_K)->from_float(x, &b, QK_K);
    CU_ASSERT_EQUAL(memcmp(&a, &b, sizeof a), 0);
}

static void test_ggml_cpu(void)
{
    CU_ASSERT_FATAL(ref.traits_cpu != NULL);
    rows r;
    rows_alloc(&r);
    for (size_t ti = 0; ti < N_WEIGHTS; ti++) {
        ggml_type t = weights[ti];
        const struct ref_type_traits_cpu *g = ref.traits_cpu((int)t);
        const cpu_quant_traits *tr = cpu_quant(t);
        CU_ASSERT_FATAL(g != NULL && g->vec_dot != NULL);
        CU_ASSERT_EQUAL(g->vec_dot_type, (int)tr->vec_dot_type);
        int bad = 0;
        for (size_t li = 0; li < N_LENGTHS; li++)
            for (int rep = 0; rep < 12; rep++) {
                int64_t n = lengths[li];
                make_rows(t, n, &r, rep);
                double dot, mag = dot_mag(&r, n, &dot);
                float s_ours, s_ggml;
                tr->vec_dot(n, &s_ours, r.x, r.y);
                g->vec_dot((int)n, &s_ggml, 0, r.x, 0, r.y, 0, 1);
                if (!close(s_ours, s_ggml, mag) && bad++ < 3)
                    fprintf(stderr, "\n  %s (%s) n=%lld: %.9g vs ggml-cpu-%s %.9g",
                            ggml_type_get(t)->name, tr->isa, (long long)n, s_ours,
                            ref.cpu_variant, s_ggml);
            }
        CU_ASSERT_EQUAL(bad, 0);
    }
    float *x = malloc(NMAX * sizeof *x);
    uint8_t *a = malloc(NMAX * 2), *b = malloc(NMAX * 2);
    int bad = 0;
    for (int rep = 0; rep < 20; rep++) {
        fill_floats_in(x, NMAX, -6, 4);
        cpu_quant(GGML_TYPE_Q8_K)->from_float(x, a, NMAX);
        ref.traits_cpu(GGML_TYPE_Q8_K)->from_float(x, b, NMAX);
        bad += memcmp(a, b, row_bytes(GGML_TYPE_Q8_K, NMAX)) != 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(x);
    free(a);
    free(b);
    rows_free(&r);
}

int main(void)
{
    isa = test_cpu_isa(&isa_name);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    if (load_ggml() != 0)
        return 1;
    CU_pSuite s = CU_add_suite("quant_k", NULL, NULL);
    CU_add_test(s, "tables", test_tables);
    CU_add_test(s, "from_float then to_float within bounds", test_roundtrip);
    CU_add_test(s, "to_float equals ggml's bit for bit", test_ggml_dequantize);
    CU_add_test(s, "from_float equals ggml's _ref bit for bit", test_ggml_quantize);
    CU_add_test(s, "Q8_K scale sign on a tie of magnitudes", test_q8_k_sign_tie);
    CU_add_test(s, "scalar vec_dot equals the float dot", test_scalar_dot);
    CU_add_test(s, "this ISA level's kernels equal the scalar ones", test_simd);
    CU_add_test(s, "fast kernels equal ggml-cpu's", test_ggml_cpu);
    return test_main();
}
