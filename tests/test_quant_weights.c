/*
 * test_quant_weights.c: the quantizers of model files
 * (cpu_quantize_file_fn) against libggml-base's ggml_quantize_chunk, byte
 * for byte, with a random positive importance vector and, for the types
 * ggml can quantize without one, without.
 *
 * Each type gets the same rows: Gaussian rows whose 32-blocks differ in
 * scale by up to 1000x, one row with an all-zero 32-block (and an all-zero
 * 256-block), one with a single large outlier. The importance vectors are
 * random in (0, 4], one with a stretch of zeros and one of a constant (a
 * calibration run's dead columns and untouched ones). The types are every
 * one `rocmforge quantize` writes. The message of a mismatch names the
 * type, the row, the weights and the first differing byte.
 *
 * A missing reference library fails the suite.
 */
#include "ggml_ref.h"
#include "test_util.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/quant.h"

enum { N_PER_ROW = 1024, N_ROWS = 6 };

static size_t (*ggml_chunk)(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row,
                            const float *imatrix);

static float rows[N_ROWS][N_PER_ROW];
static float weights[3][N_PER_ROW];

static int suite_init(void)
{
    test_ggml ref;
    if (test_ggml_load(&ref) == 0)
        *(void **)&ggml_chunk = dlsym(ref.base, "ggml_quantize_chunk");
    uint64_t s = 12345;
    for (int r = 0; r < N_ROWS; r++)
        for (int i = 0; i < N_PER_ROW; i++) {
            const float block_scale = (float)(1 + (i / 32 * 37 + r * 11) % 1000) * 0.001f;
            rows[r][i] = test_grand(&s) * block_scale;
        }
    memset(rows[1] + 64, 0, 32 * sizeof(float));   /* a zero 32-block */
    memset(rows[1] + 512, 0, 256 * sizeof(float)); /* a zero super-block */
    rows[2][77] = 40.0f;                           /* an outlier */
    for (int i = 0; i < N_PER_ROW; i++) {
        weights[0][i] = 4.0f * (0.001f + (float)(test_grand(&s) * test_grand(&s)));
        weights[0][i] = weights[0][i] < 0 ? -weights[0][i] : weights[0][i];
        weights[1][i] = i % 256 < 40 ? 0.0f : weights[0][(i * 7) % N_PER_ROW];
        weights[2][i] = 1.0f;
    }
    return 0;
}

static const ggml_type TYPES[] = {
    GGML_TYPE_Q4_0,   GGML_TYPE_Q4_1,    GGML_TYPE_Q5_0,   GGML_TYPE_Q5_1,    GGML_TYPE_Q8_0,  GGML_TYPE_Q2_K,
    GGML_TYPE_Q3_K,   GGML_TYPE_Q4_K,    GGML_TYPE_Q5_K,   GGML_TYPE_Q6_K,    GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS,
    GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS, GGML_TYPE_IQ2_S,  GGML_TYPE_IQ3_XXS, GGML_TYPE_IQ3_S, GGML_TYPE_IQ1_S,
    GGML_TYPE_IQ1_M,  GGML_TYPE_TQ1_0,   GGML_TYPE_TQ2_0,  GGML_TYPE_MXFP4,   GGML_TYPE_F16,   GGML_TYPE_BF16,
    GGML_TYPE_Q1_0,   GGML_TYPE_Q2_0,
};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])

/* Our row against ggml's for one type, row and weights (-1: none); a
 * message on a mismatch, else NULL. */
static const char *compare_row(ggml_type t, int r, int wi)
{
    static char msg[300];
    static uint8_t ours[N_PER_ROW * 4], theirs[N_PER_ROW * 4];
    const ggml_type_traits *tt = ggml_type_get((uint32_t)t);
    const size_t row_bytes = N_PER_ROW / tt->block_size * tt->type_size;
    const float *qw = wi < 0 ? NULL : weights[wi];
    memset(ours, 0xA5, row_bytes);
    memset(theirs, 0x5A, row_bytes);
    cpu_quantize_file_fn(t)(rows[r], ours, N_PER_ROW, qw);
    size_t n = ggml_chunk((int)t, rows[r], theirs, 0, 1, N_PER_ROW, qw);
    if (n != row_bytes) {
        snprintf(msg, sizeof msg, "%s: ggml wrote %zu bytes, a row is %zu", tt->name, n, row_bytes);
        return msg;
    }
    for (size_t i = 0; i < row_bytes; i++)
        if (ours[i] != theirs[i]) {
            snprintf(msg, sizeof msg, "%s row %d weights %d: byte %zu of %zu (block %zu) is %02x, ggml's %02x",
                     tt->name, r, wi, i, row_bytes, i / tt->type_size, ours[i], theirs[i]);
            return msg;
        }
    return NULL;
}

static void test_types(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(ggml_chunk);
    for (size_t k = 0; k < N_TYPES; k++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(cpu_quantize_file_fn(TYPES[k]));
        int fails = 0;
        for (int wi = cpu_quantize_needs_weights(TYPES[k]) ? 0 : -1; wi < 3; wi++)
            for (int r = 0; r < N_ROWS; r++) {
                const char *why = compare_row(TYPES[k], r, wi);
                if (why && fails++ == 0)
                    fprintf(stderr, "\n  %s", why);
            }
        CU_ASSERT_EQUAL(fails, 0);
    }
}

/* Which types need weights, as ggml_quantize_requires_imatrix says. */
static void test_needs_weights(void)
{
    bool (*requires)(int);
    test_ggml ref;
    CU_ASSERT_FATAL(test_ggml_load(&ref) == 0);
    *(void **)&requires = dlsym(ref.base, "ggml_quantize_requires_imatrix");
    CU_ASSERT_PTR_NOT_NULL_FATAL(requires);
    for (size_t k = 0; k < N_TYPES; k++)
        CU_ASSERT_EQUAL(cpu_quantize_needs_weights(TYPES[k]), requires((int)TYPES[k]));
    /* types without a quantizer here */
    CU_ASSERT_PTR_NULL(cpu_quantize_file_fn(GGML_TYPE_NVFP4));
    CU_ASSERT_PTR_NULL(cpu_quantize_file_fn(GGML_TYPE_Q8_K));
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("file quantizers vs ggml_quantize_chunk", suite_init, NULL);
    CU_add_test(s, "every type, with and without importance weights, byte for byte", test_types);
    CU_add_test(s, "the types that need weights", test_needs_weights);
    return test_main();
}
