/*
 * quant_iq_x86.c: puts the AVX2 dot products of IQ2_XXS, IQ2_XS, IQ3_XXS
 * and IQ1_S into the fastest table.
 *
 * Compiled without ISA flags: it only takes addresses. There are no
 * AVX-512 kernels for these types, so at the AVX-512 level the table holds
 * the AVX2 ones and names them "avx2" (what they run). The other lattice
 * types, the ternary types and NVFP4 keep their scalar kernels.
 */
#include "runtime/cpu/quant_impl.h"
#include "runtime/cpu/quant_iq.h"

#if defined(__x86_64__) || defined(__i386__)

void cpu_quant_fill_iq_x86(cpu_quant_traits tbl[GGML_TYPE_COUNT], enum cpu_isa isa)
{
    static const struct { ggml_type type; cpu_vec_dot_fn vec_dot; } avx2[] = {
        {GGML_TYPE_IQ2_XXS, cpu_vec_dot_iq2_xxs_avx2},
        {GGML_TYPE_IQ2_XS, cpu_vec_dot_iq2_xs_avx2},
        {GGML_TYPE_IQ3_XXS, cpu_vec_dot_iq3_xxs_avx2},
        {GGML_TYPE_IQ1_S, cpu_vec_dot_iq1_s_avx2},
    };
    if (isa < CPU_ISA_AVX2)
        return;
    for (size_t i = 0; i < sizeof avx2 / sizeof avx2[0]; i++) {
        cpu_quant_traits *t = &tbl[avx2[i].type];
        if (!t->to_float)
            continue; /* the scalar fill must come first */
        t->vec_dot = avx2[i].vec_dot;
        t->isa = "avx2";
    }
}

#else

void cpu_quant_fill_iq_x86(cpu_quant_traits tbl[GGML_TYPE_COUNT], enum cpu_isa isa)
{
    (void)tbl;
    (void)isa;
}

#endif
