/*
 * test_quant_x4.c: the four-row dot products prefill uses (vec_dot_x4) give,
 * bit for bit, what four calls of the type's vec_dot give — for every type
 * that has one, on random rows of several lengths and with strided outputs.
 *
 * ctest runs the suite once per ISA level (ROCMFORGE_CPU_ISA). Which types
 * have a four-row kernel at which level is stated below and checked against
 * the table first, so a kernel that goes missing (matmul would quietly fall
 * back to four vec_dot calls) fails. A level with none, as it should be, has
 * nothing to compare and is reported skipped, not passed.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/quant.h"
#include "runtime/cpu/quant_impl.h"
#include "test_util.h"

static int isa;
static const char *isa_name;

/* Does type t have a four-row kernel at this run's level? AVX-512 has them
 * for Q4_K and Q6_K, and for Q8_0 where the CPU has VNNI (its AVX-512 Q8_0
 * dot needs it); scalar and AVX2 have none. */
static bool want_x4(ggml_type t)
{
    if (isa != CPU_ISA_AVX512)
        return false;
    return t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q6_K ||
           (t == GGML_TYPE_Q8_0 && __builtin_cpu_supports("avx512vnni"));
}

/* the table has a four-row kernel exactly where want_x4 says; returns how
 * many it has */
static int check_table(void)
{
    int n = 0, wrong = 0;
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const cpu_quant_traits *q = cpu_quant((ggml_type)t);
        bool has = q && q->vec_dot_x4;
        n += has;
        if (has != want_x4((ggml_type)t)) {
            fprintf(stderr, "\n  %s at %s: %s four-row kernel", ggml_type_get((ggml_type)t)->name, isa_name,
                    has ? "an unexpected" : "no");
            wrong++;
        }
    }
    return wrong ? -1 : n;
}

static void check_type(ggml_type t)
{
    const cpu_quant_traits *q = cpu_quant(t);
    CU_ASSERT_FATAL(q != NULL && q->vec_dot_x4 != NULL);
    const cpu_quant_traits *act = cpu_quant(q->vec_dot_type);
    CU_ASSERT_PTR_NOT_NULL_FATAL(act);
    CU_ASSERT_PTR_NOT_NULL_FATAL(act->from_float);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q->from_float);
    const ggml_type_traits *tw = ggml_type_get(t), *ta = ggml_type_get(q->vec_dot_type);
    uint64_t seed = 0x5eed + (uint64_t)t;
    for (int64_t n = 256; n <= 4096; n *= 4) {
        float *x = malloc((size_t)n * sizeof *x), *y = malloc(4 * (size_t)n * sizeof *y);
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)test_grand(&seed);
        for (int64_t i = 0; i < 4 * n; i++)
            y[i] = (float)test_grand(&seed) * (i % 97 == 0 ? 20.0f : 1.0f);
        size_t wb = (size_t)(n / tw->block_size * tw->type_size), ab = (size_t)(n / ta->block_size * ta->type_size);
        uint8_t *w = malloc(wb), *a = malloc(4 * ab);
        q->from_float(x, w, n);
        for (int r = 0; r < 4; r++)
            act->from_float(y + r * n, a + r * ab, n);
        float one[4], four[12];
        for (int r = 0; r < 4; r++)
            q->vec_dot(n, &one[r], w, a + r * ab);
        memset(four, 0, sizeof four);
        q->vec_dot_x4(n, four, 3, w, a, (int64_t)ab); /* outputs 3 floats apart */
        for (int r = 0; r < 4; r++) {
            CU_ASSERT_EQUAL(memcmp(&one[r], &four[3 * r], sizeof(float)), 0);
            if (memcmp(&one[r], &four[3 * r], sizeof(float)))
                fprintf(stderr, "%s n=%lld row %d: vec_dot %.9g, x4 %.9g (%s)\n", tw->name, (long long)n, r,
                        (double)one[r], (double)four[3 * r], q->isa);
        }
        free(x), free(y), free(w), free(a);
    }
}

static void test_table(void)
{
    CU_ASSERT(check_table() > 0);
}

static void test_x4_all_types(void)
{
    int with_x4 = 0;
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (want_x4((ggml_type)t)) {
            with_x4++;
            check_type((ggml_type)t);
        }
    printf("(%d types with a four-row kernel) ", with_x4);
}

int main(void)
{
    isa = test_cpu_isa(&isa_name);
    int n = check_table();
    if (n < 0) {
        printf("\nthe four-row kernels at %s are not the ones this suite states\n", isa_name);
        return 1;
    }
    if (n == 0) {
        printf("skipped: no type has a four-row kernel at %s, as stated (matmul calls vec_dot four times)\n",
               isa_name);
        return TEST_SKIP;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("quant_x4", NULL, NULL);
    CU_add_test(s, "the four-row kernels of this ISA level are the stated ones", test_table);
    CU_add_test(s, "vec_dot_x4 equals four vec_dot calls bit for bit", test_x4_all_types);
    return test_main();
}
