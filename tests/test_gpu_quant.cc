/*
 * test_gpu_quant.cc: templates/quant.hip and quant_iq.hip, the GPU kernels'
 * weight formats, compiled for the host and held to the CPU reference.
 *
 * C++17, the project's one C++ file: quant.hip is C++ (hipRTC and NVRTC
 * compile it), and this includes it with RF_DEV = `static inline` and
 * RF_CONST = `static const`; quant_iq.hip as the build expands it
 * (templates_gen/, the CPU's lattice tables copied in: the tables the
 * kernels get). Facts checked, each type in turn:
 *   - RF_QK_T / RF_QB_T are gguf.h's block size and bytes (f32, f16, bf16:
 *     a virtual block of 8 elements);
 *   - rf_a_T / rf_b_T are multiples of 4 whose four elements lie in the
 *     block, and the chunks of a block cover every element exactly once;
 *   - rf_deq_T equals the CPU to_float bit for bit, on rows quantized by the
 *     CPU's from_float (Gaussian data, scales 10^-4..10^4; the types of
 *     quant_iq.hip have no from_float and skip these) and on random blocks
 *     (every bit pattern in the quants, any finite f16 scale; f16 and bf16
 *     over all 65536 values, f32 any bits; NVFP4's UE4M3 scales any byte);
 *   - rf_get_T equals to_float for every element of those rows;
 *   - the integer form (rf_qw_T, which rf_deq_T expands, so it is held to the
 *     CPU by the rf_deq_T checks) and its quads: rf_qw4_T equals four
 *     rf_qw_T calls, bit for bit, and a quad's halves are 16 contiguous
 *     elements starting at a multiple of 16.
 * Rows are 32-byte aligned and hold several blocks, so the blocks sit at
 * every alignment their size allows; a sanitizer build catches a load
 * wider than that.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "runtime/cpu/quant.h"
#include "test_util.h"
}

#define RF_DEV static inline
#define RF_CONST static const
#include "templates/quant.hip"
#include "templates_gen/quant_iq.hip"

typedef struct gpu_type {
    ggml_type type;
    const char *name;
    int qk, qb;
    void (*deq)(const unsigned char *, int, float *);
    int (*a)(int);
    int (*b)(int);
    float (*get)(const unsigned char *, int);
    int n_half; /* f16 scales at the block's start, or at half_at (-1: iq1_m's nibbles) */
    int half_at;
    void (*qw)(const unsigned char *, int, int *, float *, float *);  /* integer form, or NULL (floats) */
    void (*qw4)(const unsigned char *, int, int *, float *, float *); /* its quads */
} gpu_type;

#define T(NAME, t, n_half, half_at)                                                            \
    {GGML_TYPE_##NAME, #t, RF_QK_##t, RF_QB_##t, rf_deq_##t, rf_a_##t, rf_b_##t, rf_get_##t, \
     n_half, half_at, NULL, NULL}
#define TQ(NAME, t, n_half, half_at)                                                           \
    {GGML_TYPE_##NAME, #t, RF_QK_##t, RF_QB_##t, rf_deq_##t, rf_a_##t, rf_b_##t, rf_get_##t, \
     n_half, half_at, rf_qw_##t, rf_qw4_##t}
static const gpu_type types[] = {
    T(F32, f32, 0, 0),      T(F16, f16, 0, 0),      T(BF16, bf16, 0, 0),        TQ(Q4_0, q4_0, 1, 0),
    TQ(Q4_1, q4_1, 2, 0),   TQ(Q5_0, q5_0, 1, 0),   TQ(Q5_1, q5_1, 2, 0),       TQ(Q8_0, q8_0, 1, 0),
    TQ(Q2_K, q2_k, 2, 80),  TQ(Q3_K, q3_k, 1, 108), TQ(Q4_K, q4_k, 2, 0),       TQ(Q5_K, q5_k, 2, 0),
    TQ(Q6_K, q6_k, 1, 208), TQ(IQ4_NL, iq4_nl, 1, 0), TQ(IQ4_XS, iq4_xs, 1, 0), TQ(MXFP4, mxfp4, 0, 0),
    /* quant_iq.hip */
    TQ(IQ2_XXS, iq2_xxs, 1, 0), TQ(IQ2_XS, iq2_xs, 1, 0), TQ(IQ2_S, iq2_s, 1, 0), TQ(IQ3_XXS, iq3_xxs, 1, 0),
    TQ(IQ3_S, iq3_s, 1, 0),     TQ(IQ1_S, iq1_s, 1, 0),   TQ(IQ1_M, iq1_m, 1, -1), TQ(TQ1_0, tq1_0, 1, 52),
    TQ(TQ2_0, tq2_0, 1, 64),    TQ(NVFP4, nvfp4, 0, 0),
};
#undef T
#undef TQ
#define N_TYPES (int)(sizeof types / sizeof types[0])

#define N_ELEMS 16384 /* a row: 64 super-blocks, 512 blocks of 32 */

static uint64_t rng = 0x9d2c5680a3b1f04dULL;

/* ---- rows -------------------------------------------------------------- */

typedef struct row {
    unsigned char *q; /* the blocks, 32-byte aligned */
    float *ref;       /* the CPU's to_float of them */
    int n;            /* elements */
} row;

static row row_alloc(const gpu_type *g, int n)
{
    size_t bytes = (size_t)(n / g->qk) * (size_t)g->qb;
    row r = {(unsigned char *)aligned_alloc(32, (bytes + 31) / 32 * 32),
             (float *)malloc((size_t)n * sizeof(float)), n};
    CU_ASSERT_FATAL(r.q != NULL && r.ref != NULL);
    return r;
}

static void row_free(row *r)
{
    free(r->q);
    free(r->ref);
}

/* whether the CPU quantizes type g (quant_iq.hip's types: no) */
static bool has_quantizer(const gpu_type *g) { return cpu_quant_ref(g->type)->from_float != NULL; }

/* Gaussian, each 32 elements with its own scale in 10^[-4, 4), quantized by
 * the CPU */
static row row_quantized(const gpu_type *g)
{
    row r = row_alloc(g, N_ELEMS);
    float *x = (float *)malloc(N_ELEMS * sizeof(float));
    CU_ASSERT_FATAL(x != NULL);
    for (int b = 0; b < N_ELEMS; b += 32) {
        float scale = powf(10.0f, -4 + 8 * test_urand(&rng));
        for (int j = b; j < b + 32; j++)
            x[j] = test_grand(&rng) * scale;
    }
    const cpu_quant_traits *tr = cpu_quant_ref(g->type);
    CU_ASSERT_FATAL(tr != NULL && tr->from_float != NULL);
    tr->from_float(x, r.q, N_ELEMS);
    tr->to_float(r.q, r.ref, N_ELEMS);
    free(x);
    return r;
}

/* a random half with a finite value (subnormals included), either sign */
static unsigned short rand_half_scale(void)
{
    unsigned short h = (unsigned short)(test_rand(&rng) & 0xffff);
    if (((h >> 10) & 0x1f) == 0x1f)
        h &= 0xbfff;
    return h;
}

/* random bytes with finite f16 scales; f16 and bf16: every value once */
static row row_random(const gpu_type *g)
{
    int n = (g->type == GGML_TYPE_F16 || g->type == GGML_TYPE_BF16) ? 65536 : N_ELEMS;
    row r = row_alloc(g, n);
    int n_blk = n / g->qk;
    for (size_t i = 0; i < (size_t)n_blk * (size_t)g->qb; i++)
        r.q[i] = (unsigned char)test_rand(&rng);
    if (n == 65536)
        for (int i = 0; i < n; i++) {
            unsigned short h = (unsigned short)i;
            memcpy(r.q + 2 * i, &h, 2);
        }
    for (int b = 0; b < n_blk; b++)
        for (int k = 0; k < g->n_half; k++) {
            unsigned short h = rand_half_scale();
            unsigned char *blk = r.q + (size_t)b * g->qb;
            if (g->half_at < 0) /* iq1_m: d's nibbles top the four scale words at 48 */
                for (int n = 0; n < 4; n++)
                    blk[49 + 2 * n] = (unsigned char)((blk[49 + 2 * n] & 0x0f) | ((h >> (4 * n)) & 0xf) << 4);
            else
                memcpy(blk + g->half_at + 2 * k, &h, 2);
        }
    cpu_quant_ref(g->type)->to_float(r.q, r.ref, n);
    return r;
}

/* ---- comparisons ------------------------------------------------------- */

static int same_bits(float x, float y) { return memcmp(&x, &y, sizeof x) == 0; }

/* every chunk of every block against the reference; returns mismatches */
static int check_deq(const gpu_type *g, const row *r, const char *what)
{
    int bad = 0;
    for (int blk = 0; blk < r->n / g->qk; blk++)
        for (int c = 0; c < g->qk / 8; c++) {
            float w[8];
            g->deq(r->q + (size_t)blk * g->qb, c, w);
            for (int j = 0; j < 8; j++) {
                int e = (j < 4 ? g->a(c) : g->b(c)) + j % 4;
                float want = r->ref[blk * g->qk + e];
                if (!same_bits(w[j], want) && bad++ < 4)
                    fprintf(stderr, "\n  %s %s: block %d chunk %d w[%d] (element %d) = %a, want %a",
                            g->name, what, blk, c, j, e, (double)w[j], (double)want);
            }
        }
    return bad;
}

static int check_get(const gpu_type *g, const row *r, const char *what)
{
    int bad = 0;
    for (int k = 0; k < r->n; k++) {
        float v = g->get(r->q, k), want = r->ref[k];
        if (!same_bits(v, want) && bad++ < 4)
            fprintf(stderr, "\n  %s %s: rf_get(%d) = %a, want %a", g->name, what, k, (double)v,
                    (double)want);
    }
    return bad;
}

/* every quad of every block: rf_qw4 against four rf_qw calls; returns
 * mismatches */
static int check_qw4(const gpu_type *g, const row *r, const char *what)
{
    int bad = 0;
    for (int blk = 0; blk < r->n / g->qk; blk++)
        for (int c4 = 0; c4 < g->qk / 32; c4++) {
            const unsigned char *p = r->q + (size_t)blk * g->qb;
            int q4[8];
            float s4[2], m4[2];
            g->qw4(p, c4, q4, s4, m4);
            for (int j = 0; j < 4; j++) {
                int q[2];
                float sc[2], m[2];
                g->qw(p, 4 * c4 + j, q, sc, m);
                bool same = q4[j] == q[0] && q4[4 + j] == q[1];
                for (int h = 0; h < 2; h++)
                    same = same && same_bits(s4[h], sc[h]) && same_bits(m4[h], m[h]);
                if (!same && bad++ < 4)
                    fprintf(stderr, "\n  %s %s: block %d quad %d chunk %d: %08x %08x %a %a, want %08x %08x %a %a", g->name,
                            what, blk, c4, j, (unsigned)q4[j], (unsigned)q4[4 + j], (double)s4[0], (double)m4[0],
                            (unsigned)q[0], (unsigned)q[1], (double)sc[0], (double)m[0]);
            }
        }
    return bad;
}

/* ---- tests ------------------------------------------------------------- */

static void test_block_sizes(void)
{
    for (int i = 0; i < N_TYPES; i++) {
        const gpu_type *g = &types[i];
        const ggml_type_traits *tt = ggml_type_get((uint32_t)g->type);
        CU_ASSERT_FATAL(tt != NULL);
        int virt = tt->block_size == 1 ? 8 : 1; /* f32, f16, bf16 */
        CU_ASSERT_EQUAL(g->qk, (int)tt->block_size * virt);
        CU_ASSERT_EQUAL(g->qb, (int)tt->type_size * virt);
        CU_ASSERT_PTR_NOT_NULL(cpu_quant_ref(g->type));
    }
}

static void test_chunk_cover(void)
{
    for (int i = 0; i < N_TYPES; i++) {
        const gpu_type *g = &types[i];
        int seen[256] = {0}, bad = 0;
        for (int c = 0; c < g->qk / 8; c++) {
            int ab[2] = {g->a(c), g->b(c)};
            for (int h = 0; h < 2; h++) {
                if (ab[h] % 4 != 0 || ab[h] < 0 || ab[h] + 4 > g->qk) {
                    fprintf(stderr, "\n  %s chunk %d: element %d", g->name, c, ab[h]);
                    bad++;
                    continue;
                }
                for (int j = 0; j < 4; j++)
                    seen[ab[h] + j]++;
            }
        }
        for (int e = 0; e < g->qk; e++)
            if (seen[e] != 1 && bad++ < 4)
                fprintf(stderr, "\n  %s: element %d in %d chunks", g->name, e, seen[e]);
        CU_ASSERT_EQUAL(bad, 0);
    }
}

static void test_quad_layout(void)
{
    for (int i = 0; i < N_TYPES; i++) {
        const gpu_type *g = &types[i];
        if (!g->qw)
            continue;
        int bad = 0;
        for (int c4 = 0; c4 < g->qk / 32; c4++) {
            int a = g->a(4 * c4), b = g->b(4 * c4);
            bad += a % 16 != 0 || b % 16 != 0;
            for (int j = 0; j < 4; j++)
                bad += g->a(4 * c4 + j) != a + 4 * j || g->b(4 * c4 + j) != b + 4 * j;
        }
        if (bad)
            fprintf(stderr, "\n  %s: quads are not two runs of 16 at multiples of 16", g->name);
        CU_ASSERT_EQUAL(bad, 0);
    }
}

static void test_qw4(void)
{
    int n = 0;
    for (int i = 0; i < N_TYPES; i++) {
        if (!types[i].qw)
            continue;
        row r = row_random(&types[i]);
        CU_ASSERT_EQUAL(check_qw4(&types[i], &r, "random"), 0);
        row_free(&r);
        if (has_quantizer(&types[i])) {
            row q = row_quantized(&types[i]);
            CU_ASSERT_EQUAL(check_qw4(&types[i], &q, "quantized"), 0);
            row_free(&q);
        }
        n++;
    }
    CU_ASSERT_EQUAL(n, N_TYPES - 3); /* all but f32, f16, bf16 */
}

static void test_deq_quantized(void)
{
    int n = 0;
    for (int i = 0; i < N_TYPES; i++) {
        if (!has_quantizer(&types[i]))
            continue;
        n++;
        row r = row_quantized(&types[i]);
        CU_ASSERT_EQUAL(check_deq(&types[i], &r, "quantized"), 0);
        row_free(&r);
    }
    CU_ASSERT_EQUAL(n, N_TYPES - 10); /* all but quant_iq.hip's */
}

static void test_deq_random(void)
{
    for (int i = 0; i < N_TYPES; i++) {
        row r = row_random(&types[i]);
        CU_ASSERT_EQUAL(check_deq(&types[i], &r, "random"), 0);
        row_free(&r);
    }
}

static void test_get(void)
{
    for (int i = 0; i < N_TYPES; i++) {
        row r = row_random(&types[i]);
        CU_ASSERT_EQUAL(check_get(&types[i], &r, "random"), 0);
        row_free(&r);
        if (has_quantizer(&types[i])) {
            row q = row_quantized(&types[i]);
            CU_ASSERT_EQUAL(check_get(&types[i], &q, "quantized"), 0);
            row_free(&q);
        }
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("gpu_quant", NULL, NULL);
    CU_add_test(s, "RF_QK/RF_QB are gguf.h's block sizes", test_block_sizes);
    CU_add_test(s, "chunks cover each element once, at multiples of 4", test_chunk_cover);
    CU_add_test(s, "rf_deq equals to_float on quantized rows", test_deq_quantized);
    CU_add_test(s, "rf_deq equals to_float on random blocks", test_deq_random);
    CU_add_test(s, "rf_get equals to_float", test_get);
    CU_add_test(s, "quads are two runs of 16 elements", test_quad_layout);
    CU_add_test(s, "rf_qw4 equals four rf_qw", test_qw4);
    return test_main();
}
