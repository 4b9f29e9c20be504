/*
 * quant_impl.h: how the quant kernel files fill the tables of quant.h.
 *
 * quant.c owns the two tables and calls each fill function once (thread-safe
 * lazy init). Files, by owner of the types:
 *   quant_legacy.c         scalar: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
 *                          Q8_0, Q8_1, IQ4_NL, MXFP4
 *   quant_k.c              scalar: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, IQ4_XS
 *   quant_iq.c             scalar: IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S,
 *                          IQ3_XXS, IQ3_S, TQ1_0, TQ2_0, NVFP4
 *   quant_legacy_x86.c     AVX2 / AVX-512 variants of the first group
 *   quant_k_x86.c          AVX2 / AVX-512 variants of the second
 *   quant_iq_x86.c         AVX2 variants of IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S (at the
 *                          AVX-512 level too, named "avx2")
 * A SIMD fill function overwrites only the entries it has a kernel for, so a
 * type without one keeps its scalar kernel.
 */
#ifndef RF_RUNTIME_CPU_QUANT_IMPL_H
#define RF_RUNTIME_CPU_QUANT_IMPL_H

#include "runtime/cpu/quant.h"

enum cpu_isa { CPU_ISA_SCALAR = 0, CPU_ISA_AVX2 = 1, CPU_ISA_AVX512 = 2 };

/* The best ISA level this CPU runs (AVX2 = avx2+fma+f16c; AVX512 adds
 * avx512f/bw/vl), capped by ROCMFORGE_CPU_ISA=scalar|avx2. The one place the
 * CPU is probed: every kernel table (quant.c, ops.c) asks this. */
enum cpu_isa cpu_isa_detect(void);

void cpu_quant_fill_legacy_ref(cpu_quant_traits tbl[GGML_TYPE_COUNT]);
void cpu_quant_fill_k_ref(cpu_quant_traits tbl[GGML_TYPE_COUNT]);
void cpu_quant_fill_iq_ref(cpu_quant_traits tbl[GGML_TYPE_COUNT]);
void cpu_quant_fill_legacy_x86(cpu_quant_traits tbl[GGML_TYPE_COUNT], enum cpu_isa isa);
void cpu_quant_fill_k_x86(cpu_quant_traits tbl[GGML_TYPE_COUNT], enum cpu_isa isa);
void cpu_quant_fill_iq_x86(cpu_quant_traits tbl[GGML_TYPE_COUNT], enum cpu_isa isa);

/* fp16 / bf16 <-> f32, exact as ggml's (round to nearest even) */
float cpu_fp16_to_f32(uint16_t h);
uint16_t cpu_f32_to_fp16(float f);
float cpu_bf16_to_f32(uint16_t h);
uint16_t cpu_f32_to_bf16(float f);

#endif
