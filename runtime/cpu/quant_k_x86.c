/*
 * quant_k_x86.c: puts the AVX2 or AVX-512 kernels of the k-quants and
 * IQ4_XS into the fastest table.
 *
 * This file is compiled without ISA flags: it only takes addresses, so the
 * binary still starts on a CPU without AVX2. quant.c passes the ISA it
 * detected (capped by ROCMFORGE_CPU_ISA): cpu_isa_detect() promises FMA
 * and F16C with AVX2, and BW and VL with AVX-512F, which is all these
 * kernels use, so the CPU is probed there only. An entry without a SIMD kernel keeps
 * the scalar one; to_float and the weight quantizers stay scalar (they are
 * not on the decode path).
 */
#include "runtime/cpu/quant_impl.h"
#include "runtime/cpu/quant_k.h"

#if defined(__x86_64__) || defined(__i386__)

typedef struct k_kernels {
    ggml_type type;
    cpu_vec_dot_fn vec_dot;
    cpu_from_float_fn from_float;
    cpu_vec_dot_x4_fn vec_dot_x4;
} k_kernels;

static const k_kernels avx2_kernels[] = {
    {GGML_TYPE_Q2_K, cpu_vec_dot_q2_k_avx2, NULL, NULL},
    {GGML_TYPE_Q3_K, cpu_vec_dot_q3_k_avx2, NULL, NULL},
    {GGML_TYPE_Q4_K, cpu_vec_dot_q4_k_avx2, NULL, NULL},
    {GGML_TYPE_Q5_K, cpu_vec_dot_q5_k_avx2, NULL, NULL},
    {GGML_TYPE_Q6_K, cpu_vec_dot_q6_k_avx2, NULL, NULL},
    {GGML_TYPE_IQ4_XS, cpu_vec_dot_iq4_xs_avx2, NULL, NULL},
    {GGML_TYPE_Q8_K, NULL, cpu_quantize_q8_k_avx2, NULL},
};

static const k_kernels avx512_kernels[] = {
    {GGML_TYPE_Q2_K, cpu_vec_dot_q2_k_avx512, NULL, NULL},
    {GGML_TYPE_Q3_K, cpu_vec_dot_q3_k_avx512, NULL, NULL},
    {GGML_TYPE_Q4_K, cpu_vec_dot_q4_k_avx512, NULL, cpu_vec_dot_q4_k_x4_avx512},
    {GGML_TYPE_Q5_K, cpu_vec_dot_q5_k_avx512, NULL, NULL},
    {GGML_TYPE_Q6_K, cpu_vec_dot_q6_k_avx512, NULL, cpu_vec_dot_q6_k_x4_avx512},
    {GGML_TYPE_IQ4_XS, cpu_vec_dot_iq4_xs_avx512, NULL, NULL},
    {GGML_TYPE_Q8_K, NULL, cpu_quantize_q8_k_avx512, NULL},
};

static void apply(cpu_quant_traits tbl[GGML_TYPE_COUNT], const k_kernels *k, int n, const char *isa)
{
    for (int i = 0; i < n; ++i) {
        cpu_quant_traits *t = &tbl[k[i].type];
        if (!t->to_float)
            continue; /* the scalar fill must come first */
        if (k[i].vec_dot)
            t->vec_dot = k[i].vec_dot;
        if (k[i].from_float)
            t->from_float = k[i].from_float;
        t->vec_dot_x4 = k[i].vec_dot_x4;
        t->isa = isa;
    }
}

void cpu_quant_fill_k_x86(cpu_quant_traits tbl[GGML_TYPE_COUNT], enum cpu_isa isa)
{
    if (isa >= CPU_ISA_AVX512)
        apply(tbl, avx512_kernels, (int)(sizeof avx512_kernels / sizeof avx512_kernels[0]), "avx512");
    else if (isa >= CPU_ISA_AVX2)
        apply(tbl, avx2_kernels, (int)(sizeof avx2_kernels / sizeof avx2_kernels[0]), "avx2");
}

#else

void cpu_quant_fill_k_x86(cpu_quant_traits tbl[GGML_TYPE_COUNT], enum cpu_isa isa)
{
    (void)tbl;
    (void)isa;
}

#endif
