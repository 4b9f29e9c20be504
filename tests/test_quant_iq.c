/*
 * test_quant_iq.c: the CPU kernels of IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS,
 * IQ2_S, IQ3_XXS, IQ3_S, TQ1_0, TQ2_0 and NVFP4 (quant_iq.c) against ggml.
 *
 * Facts checked, each type in turn:
 *   - the tables: every type present, its vec_dot_type the one ggml-cpu
 *     pairs it with, block sizes as gguf.h's table, ggml's and our structs;
 *   - our dequantize gives libggml-base's to_float bit for bit on random
 *     blocks (random bytes are valid blocks; fp16 scales are drawn finite,
 *     from the subnormal range up, so no block decodes to NaN);
 *   - our scalar vec_dot equals ggml's generic C kernel bit for bit: the one
 *     in libggml-cpu-x64.so, loaded into a namespace of its own (dlmopen) so
 *     that it does not resolve against the SIMD variant;
 *   - the scalar vec_dot equals dot(to_float(x), to_float(y)) to 1e-5 of the
 *     sum of |terms|, a check that needs no ggml;
 *   - the fast table at the ISA level under test: IQ2_XXS, IQ2_XS, IQ3_XXS
 *     and IQ1_S have AVX2 kernels (at the AVX-512 level too), which equal the
 *     scalar ones bit for bit; the other types keep the scalar kernels;
 *   - the fastest vec_dot agrees with the ggml-cpu variant this CPU loads
 *     (its SIMD kernels sum in other orders) to the same 1e-5.
 * ctest runs the suite once per ISA level (ROCMFORGE_CPU_ISA).
 */
#define _GNU_SOURCE /* dlmopen */
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
#include "runtime/cpu/quant_iq.h"

static test_ggml ref;
/* ggml-cpu's table in libggml-cpu-x64.so: the generic kernels */
static const struct ref_type_traits_cpu *(*generic_traits_cpu)(int);

static const ggml_type types[] = {GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS, GGML_TYPE_IQ2_S,
                                  GGML_TYPE_IQ3_XXS, GGML_TYPE_IQ3_S,  GGML_TYPE_IQ1_S,
                                  GGML_TYPE_IQ1_M,   GGML_TYPE_TQ1_0,  GGML_TYPE_TQ2_0,
                                  GGML_TYPE_NVFP4};
#define N_TYPES (sizeof types / sizeof types[0])

static int load_ggml(void)
{
    if (test_ggml_load(&ref) != 0)
        return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/lib/libggml-cpu-x64.so", test_ref_dir());
    void *h = dlmopen(LM_ID_NEWLM, path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "\n  dlmopen %s: %s\n", path, dlerror());
        return -1;
    }
    void (*init)(void);
    *(void **)&init = dlsym(h, "ggml_cpu_init");
    *(void **)&generic_traits_cpu = dlsym(h, "ggml_get_type_traits_cpu");
    if (!init || !generic_traits_cpu) {
        fprintf(stderr, "\n  ggml-cpu-x64 symbols missing under %s/lib\n", test_ref_dir());
        return -1;
    }
    init();
    return 0;
}

/* ---- random data ------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static size_t row_bytes(ggml_type t, int64_t n)
{
    const ggml_type_traits *tt = ggml_type_get(t);
    return (size_t)(n / tt->block_size) * tt->type_size;
}

/* random half, finite, with magnitude in 2^[lo, hi] */
static uint16_t rand_half(int lo, int hi)
{
    float v = ldexpf(1.0f + test_urand(&rng), lo + (int)(test_rand(&rng) % (unsigned)(hi - lo + 1)));
    if (test_rand(&rng) & 1)
        v = -v;
    return cpu_f32_to_fp16(v);
}

static void put_half(uint8_t *blk, size_t off, uint16_t h) { memcpy(blk + off, &h, 2); }

/* random bytes for n elements of t, fp16 scales from the subnormal range up
 * to 2^hi (NVFP4's UE4M3 scales are any byte: none decodes to NaN) */
static void fill_blocks(ggml_type t, void *dst, int64_t n, int hi)
{
    const size_t bs = ggml_type_get(t)->type_size;
    uint8_t *p = dst;
    for (size_t i = 0; i < row_bytes(t, n); i++)
        p[i] = (uint8_t)test_rand(&rng);
    for (int64_t b = 0; b < n / ggml_type_get(t)->block_size; b++) {
        uint8_t *blk = p + b * bs;
        const uint16_t h = rand_half(-24, hi);
        switch (t) {
        case GGML_TYPE_IQ2_XXS:
        case GGML_TYPE_IQ2_XS:
        case GGML_TYPE_IQ2_S:
        case GGML_TYPE_IQ3_XXS:
        case GGML_TYPE_IQ3_S:
        case GGML_TYPE_IQ1_S: put_half(blk, 0, h); break; /* d leads these blocks */
        case GGML_TYPE_TQ1_0: put_half(blk, offsetof(cpu_block_tq1_0, d), h); break;
        case GGML_TYPE_TQ2_0: put_half(blk, offsetof(cpu_block_tq2_0, d), h); break;
        case GGML_TYPE_IQ1_M: {
            /* d's four nibbles are the top nibbles of the scale words */
            uint8_t *sc = blk + offsetof(cpu_block_iq1_m, scales);
            for (int k = 0; k < 4; k++)
                sc[2 * k + 1] = (uint8_t)((sc[2 * k + 1] & 0x0F) | ((h >> (4 * k)) & 0xF) << 4);
            break;
        }
        default: break;
        }
    }
}

static void fill_q8_k(cpu_block_q8_k *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++) {
        y[b].d = powf(10.0f, -6 + 8 * test_urand(&rng));
        int range = (test_rand(&rng) % 4 == 0) ? 8 : 255;
        for (int j = 0; j < QK_K; j++) {
            int v = (int)(test_rand(&rng) % (unsigned)range) - range / 2;
            y[b].qs[j] = (int8_t)(v < -127 ? -127 : v);
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += y[b].qs[16 * g + l];
            y[b].bsums[g] = (int16_t)s;
        }
    }
}

static void fill_q8_0(cpu_block_q8_0 *y, int64_t n)
{
    for (int64_t b = 0; b < n / CPU_QK; b++) {
        y[b].d = rand_half(-14, 6);
        for (int j = 0; j < CPU_QK; j++) {
            int v = (int)(test_rand(&rng) % 255) - 127;
            y[b].qs[j] = (int8_t)v;
        }
    }
}

/* activations of vec_dot_type dt: random blocks, or every third time
 * Gaussian floats through our quantizer */
static void fill_act(ggml_type dt, void *y, float *tmp, int64_t n, int rep)
{
    if (rep % 3 == 0) {
        for (int64_t i = 0; i < n; i++)
            tmp[i] = test_grand(&rng) * powf(10.0f, -2 + 3 * test_urand(&rng));
        cpu_quant_ref(dt)->from_float(tmp, y, n);
    } else if (dt == GGML_TYPE_Q8_K) {
        fill_q8_k(y, n);
    } else {
        fill_q8_0(y, n);
    }
}

static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- tests ------------------------------------------------------------ */

static void test_tables(void)
{
    static const size_t sizes[] = {
        sizeof(cpu_block_iq2_xxs), sizeof(cpu_block_iq2_xs), sizeof(cpu_block_iq2_s),
        sizeof(cpu_block_iq3_xxs), sizeof(cpu_block_iq3_s),  sizeof(cpu_block_iq1_s),
        sizeof(cpu_block_iq1_m),   sizeof(cpu_block_tq1_0),  sizeof(cpu_block_tq2_0),
        sizeof(cpu_block_nvfp4)};
    for (size_t i = 0; i < N_TYPES; i++) {
        const ggml_type t = types[i];
        const cpu_quant_traits *r = cpu_quant_ref(t), *f = cpu_quant(t);
        CU_ASSERT_FATAL(r != NULL && f != NULL);
        CU_ASSERT_PTR_NOT_NULL(r->to_float);
        CU_ASSERT_PTR_NOT_NULL(r->vec_dot);
        CU_ASSERT_PTR_NOT_NULL(f->vec_dot);
        CU_ASSERT_EQUAL(r->vec_dot_type, t == GGML_TYPE_NVFP4 ? GGML_TYPE_Q8_0 : GGML_TYPE_Q8_K);
        CU_ASSERT_EQUAL(ref.traits_cpu((int)t)->vec_dot_type, (int)r->vec_dot_type);
        CU_ASSERT_EQUAL(ggml_type_get(t)->type_size, sizes[i]);
        CU_ASSERT_EQUAL(ref.traits((int)t)->type_size, sizes[i]);
        CU_ASSERT_EQUAL(ref.traits((int)t)->blck_size, (int64_t)ggml_type_get(t)->block_size);
    }
}

#define NMAX (QK_K * 32)

static void test_ggml_dequantize(void)
{
    uint8_t *q = malloc(NMAX * 2);
    float *a = malloc(NMAX * sizeof *a), *b = malloc(NMAX * sizeof *b);
    for (size_t i = 0; i < N_TYPES; i++) {
        const ggml_type t = types[i];
        const struct ref_type_traits *g = ref.traits((int)t);
        CU_ASSERT_FATAL(g != NULL && g->to_float != NULL);
        int bad = 0;
        for (int rep = 0; rep < 20; rep++) {
            fill_blocks(t, q, NMAX, rep < 10 ? 15 : 0);
            cpu_quant_ref(t)->to_float(q, a, NMAX);
            g->to_float(q, b, NMAX);
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

/* ---- dot products ------------------------------------------------------ */

static const int64_t lengths[] = {QK_K, 2 * QK_K, 3 * QK_K, 16 * QK_K, 32 * QK_K};
#define N_LENGTHS (sizeof lengths / sizeof lengths[0])

typedef struct rows {
    uint8_t *x;
    void *y;
    float *fx, *fy;
} rows;

static void rows_alloc(rows *r)
{
    r->x = malloc(NMAX * 2);
    r->y = malloc(NMAX / QK_K * sizeof(cpu_block_q8_k));
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

/* random weights and activations of length n, and both dequantized; the
 * sum of |terms| of their dot is returned, the dot in double in *dot */
static double make_rows(ggml_type t, int64_t n, rows *r, int rep, double *dot)
{
    const ggml_type dt = cpu_quant_ref(t)->vec_dot_type;
    fill_blocks(t, r->x, n, rep % 2 == 0 ? 12 : 2);
    fill_act(dt, r->y, r->fy, n, rep);
    cpu_quant_ref(t)->to_float(r->x, r->fx, n);
    cpu_quant_ref(dt)->to_float(r->y, r->fy, n);
    double s = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)r->fx[i] * r->fy[i];
        m += fabs((double)r->fx[i] * r->fy[i]);
    }
    *dot = s;
    return m;
}

static bool close(double a, double b, double mag) { return fabs(a - b) <= 1e-5 * mag + 1e-30; }

static void test_generic_bits(void)
{
    rows r;
    rows_alloc(&r);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const ggml_type t = types[ti];
        const struct ref_type_traits_cpu *g = generic_traits_cpu((int)t);
        CU_ASSERT_FATAL(g != NULL && g->vec_dot != NULL);
        int bad = 0;
        for (size_t li = 0; li < N_LENGTHS; li++)
            for (int rep = 0; rep < 12; rep++) {
                const int64_t n = lengths[li];
                double dot;
                make_rows(t, n, &r, rep, &dot);
                float s_ours, s_ggml;
                cpu_quant_ref(t)->vec_dot(n, &s_ours, r.x, r.y);
                g->vec_dot((int)n, &s_ggml, 0, r.x, 0, r.y, 0, 1);
                if (!same_bits(s_ours, s_ggml) && bad++ < 3)
                    fprintf(stderr, "\n  %s n=%lld: %.9g vs ggml generic %.9g", ggml_type_get(t)->name,
                            (long long)n, s_ours, s_ggml);
            }
        CU_ASSERT_EQUAL(bad, 0);
    }
    rows_free(&r);
}

static void test_scalar_dot(void)
{
    rows r;
    rows_alloc(&r);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const ggml_type t = types[ti];
        int bad = 0;
        for (size_t li = 0; li < N_LENGTHS; li++)
            for (int rep = 0; rep < 12; rep++) {
                const int64_t n = lengths[li];
                double dot, mag = make_rows(t, n, &r, rep, &dot);
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

static int isa;

/* The fast table at this run's level. IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S have AVX2
 * kernels, also used at the AVX-512 level (and named "avx2" there); they
 * keep the reference's integer sums and float order, so they must return
 * its results bit for bit. Every other type keeps the scalar kernel. */
static bool has_avx2(ggml_type t)
{
    return t == GGML_TYPE_IQ2_XXS || t == GGML_TYPE_IQ2_XS || t == GGML_TYPE_IQ3_XXS || t == GGML_TYPE_IQ1_S;
}

static void test_simd(void)
{
    rows r;
    rows_alloc(&r);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const ggml_type t = types[ti];
        const cpu_quant_traits *f = cpu_quant(t), *s = cpu_quant_ref(t);
        if (isa == CPU_ISA_SCALAR || !has_avx2(t)) {
            CU_ASSERT_PTR_EQUAL(f->vec_dot, s->vec_dot);
            CU_ASSERT_STRING_EQUAL(f->isa, "scalar");
            continue;
        }
        CU_ASSERT_STRING_EQUAL(f->isa, "avx2");
        CU_ASSERT_PTR_NOT_EQUAL(f->vec_dot, s->vec_dot);
        int bad = 0;
        for (size_t li = 0; li < N_LENGTHS; li++)
            for (int rep = 0; rep < 24; rep++) {
                const int64_t n = lengths[li];
                double dot;
                make_rows(t, n, &r, rep, &dot);
                float s_ref, s_fast;
                s->vec_dot(n, &s_ref, r.x, r.y);
                f->vec_dot(n, &s_fast, r.x, r.y);
                if (!same_bits(s_fast, s_ref) && bad++ < 3)
                    fprintf(stderr, "\n  %s/%s n=%lld: %.9g vs ref %.9g", f->isa, ggml_type_get(t)->name,
                            (long long)n, s_fast, s_ref);
            }
        CU_ASSERT_EQUAL(bad, 0);
    }
    rows_free(&r);
}

static void test_ggml_cpu(void)
{
    rows r;
    rows_alloc(&r);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const ggml_type t = types[ti];
        const struct ref_type_traits_cpu *g = ref.traits_cpu((int)t);
        const cpu_quant_traits *tr = cpu_quant(t);
        CU_ASSERT_FATAL(g != NULL && g->vec_dot != NULL);
        int bad = 0;
        for (size_t li = 0; li < N_LENGTHS; li++)
            for (int rep = 0; rep < 12; rep++) {
                const int64_t n = lengths[li];
                double dot, mag = make_rows(t, n, &r, rep, &dot);
                float s_ours, s_ggml;
                tr->vec_dot(n, &s_ours, r.x, r.y);
                g->vec_dot((int)n, &s_ggml, 0, r.x, 0, r.y, 0, 1);
                if (!close(s_ours, s_ggml, mag) && bad++ < 3)
                    fprintf(stderr, "\n  %s (%s) n=%lld: %.9g vs ggml-cpu-%s %.9g", ggml_type_get(t)->name,
                            tr->isa, (long long)n, s_ours, ref.cpu_variant, s_ggml);
            }
        CU_ASSERT_EQUAL(bad, 0);
    }
    rows_free(&r);
}

int main(void)
{
    isa = test_cpu_isa(NULL);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    if (load_ggml() != 0)
        return 1;
    CU_pSuite s = CU_add_suite("quant_iq", NULL, NULL);
    CU_add_test(s, "tables", test_tables);
    CU_add_test(s, "to_float equals ggml's bit for bit", test_ggml_dequantize);
    CU_add_test(s, "scalar vec_dot equals ggml's generic kernel bit for bit", test_generic_bits);
    CU_add_test(s, "scalar vec_dot equals the float dot", test_scalar_dot);
    CU_add_test(s, "this ISA level's kernels equal the scalar ones", test_simd);
    CU_add_test(s, "fast kernels equal ggml-cpu's", test_ggml_cpu);
    return test_main();
}
