/*
 * quant.c: the two kernel tables of quant.h, and the half/bfloat converters.
 *
 * Both tables are filled once, on first use, under pthread_once: the
 * reference table by the scalar fill functions alone; the fast table starts
 * as a copy of the reference and the x86 fill functions then overwrite the
 * entries they have a SIMD kernel for. The ISA is the best one the CPU
 * reports (AVX2 needs avx2+fma+f16c; AVX-512 needs avx512f+bw+vl), capped
 * by ROCMFORGE_CPU_ISA=scalar|avx2|avx512. An unknown value of the variable
 * is ignored rather than reported: library code does not print.
 *
 * The converters are exact, round to nearest even, with ggml's treatment of
 * NaN (quiet, sign kept), so bytes written here equal ggml's.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/quant_impl.h"
#include "runtime/cpu/quant_iq.h"
#include "runtime/cpu/quant_k.h"
#include "runtime/cpu/quant_legacy.h"

static cpu_quant_traits ref_tbl[GGML_TYPE_COUNT];
static cpu_quant_traits fast_tbl[GGML_TYPE_COUNT];
static pthread_once_t tbl_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__)
/* CPUID.1:ECX.F16C[bit 29] (clang's __builtin_cpu_supports has no "f16c") */
static int has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}
#endif

enum cpu_isa cpu_isa_detect(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    enum cpu_isa isa = CPU_ISA_SCALAR;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c())
        isa = CPU_ISA_AVX2;
    if (isa == CPU_ISA_AVX2 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        isa = CPU_ISA_AVX512;
    const char *cap = getenv("ROCMFORGE_CPU_ISA");
    if (cap) {
        if (strcmp(cap, "scalar") == 0)
            isa = CPU_ISA_SCALAR;
        else if (strcmp(cap, "avx2") == 0 && isa > CPU_ISA_AVX2)
            isa = CPU_ISA_AVX2;
    }
    return isa;
#else
    return CPU_ISA_SCALAR;
#endif
}

static void fill_tables(void)
{
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        ref_tbl[t] = (cpu_quant_traits){.type = (ggml_type)t, .isa = "scalar"};
    cpu_quant_fill_legacy_ref(ref_tbl);
    cpu_quant_fill_k_ref(ref_tbl);
    cpu_quant_fill_iq_ref(ref_tbl);
    memcpy(fast_tbl, ref_tbl, sizeof fast_tbl);
#if defined(__x86_64__) || defined(__i386__)
    enum cpu_isa isa = cpu_isa_detect();
    if (isa != CPU_ISA_SCALAR) {
        cpu_quant_fill_legacy_x86(fast_tbl, isa);
        cpu_quant_fill_k_x86(fast_tbl, isa);
        cpu_quant_fill_iq_x86(fast_tbl, isa);
    }
#endif
}

const cpu_quant_traits *cpu_quant_ref(ggml_type t)
{
    if ((unsigned)t >= GGML_TYPE_COUNT)
        return NULL;
    pthread_once(&tbl_once, fill_tables);
    return ref_tbl[t].to_float ? &ref_tbl[t] : NULL;
}

const cpu_quant_traits *cpu_quant(ggml_type t)
{
    if ((unsigned)t >= GGML_TYPE_COUNT)
        return NULL;
    pthread_once(&tbl_once, fill_tables);
    return fast_tbl[t].to_float ? &fast_tbl[t] : NULL;
}

/* The types whose file quantizer is their from_float, weights unused
 * (quantize_q8_0, quantize_mxfp4 and the float types ignore them). */
#define WEIGHTS_UNUSED(T)                                                          \
    static void quantize_##T(const float *x, void *y, int64_t n, const float *qw) \
    {                                                                             \
        (void)qw;                                                                 \
        ref_tbl[GGML_TYPE_##T].from_float(x, y, n);                               \
    }
WEIGHTS_UNUSED(F32)
WEIGHTS_UNUSED(F16)
WEIGHTS_UNUSED(BF16)
WEIGHTS_UNUSED(Q8_0)
WEIGHTS_UNUSED(MXFP4)
#undef WEIGHTS_UNUSED

cpu_quantize_row_fn cpu_quantize_file_fn(ggml_type t)
{
    pthread_once(&tbl_once, fill_tables);
    switch (t) {
    case GGML_TYPE_F32: return quantize_F32;
    case GGML_TYPE_F16: return quantize_F16;
    case GGML_TYPE_BF16: return quantize_BF16;
    case GGML_TYPE_Q8_0: return quantize_Q8_0;
    case GGML_TYPE_MXFP4: return quantize_MXFP4;
    case GGML_TYPE_Q4_0: return cpu_quantize_q4_0;
    case GGML_TYPE_Q4_1: return cpu_quantize_q4_1;
    case GGML_TYPE_Q5_0: return cpu_quantize_q5_0;
    case GGML_TYPE_Q5_1: return cpu_quantize_q5_1;
    case GGML_TYPE_IQ4_NL: return cpu_quantize_iq4_nl;
    case GGML_TYPE_Q2_K: return cpu_quantize_q2_k;
    case GGML_TYPE_Q3_K: return cpu_quantize_q3_k;
    case GGML_TYPE_Q4_K: return cpu_quantize_q4_k;
    case GGML_TYPE_Q5_K: return cpu_quantize_q5_k;
    case GGML_TYPE_Q6_K: return cpu_quantize_q6_k;
    case GGML_TYPE_IQ4_XS: return cpu_quantize_iq4_xs;
    case GGML_TYPE_IQ2_XXS: return cpu_quantize_iq2_xxs;
    case GGML_TYPE_IQ2_XS: return cpu_quantize_iq2_xs;
    case GGML_TYPE_IQ2_S: return cpu_quantize_iq2_s;
    case GGML_TYPE_IQ3_XXS: return cpu_quantize_iq3_xxs;
    case GGML_TYPE_IQ3_S: return cpu_quantize_iq3_s;
    case GGML_TYPE_IQ1_S: return cpu_quantize_iq1_s;
    case GGML_TYPE_IQ1_M: return cpu_quantize_iq1_m;
    case GGML_TYPE_TQ1_0: return cpu_quantize_tq1_0;
    case GGML_TYPE_TQ2_0: return cpu_quantize_tq2_0;
    case GGML_TYPE_Q1_0: return cpu_quantize_q1_0;
    case GGML_TYPE_Q2_0: return cpu_quantize_q2_0;
    default: return NULL;
    }
}

bool cpu_quantize_needs_weights(ggml_type t)
{
    return t == GGML_TYPE_IQ2_XXS || t == GGML_TYPE_IQ2_XS || t == GGML_TYPE_IQ1_S;
}

/* ---- half and bfloat -------------------------------------------------- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float cpu_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) /* inf or NaN: keep the payload */
        return bits_f32(sign | 0x7f800000 | man << 13);
    if (exp == 0) {
        if (man == 0)
            return bits_f32(sign);
        /* subnormal: man * 2^-24, exact in float */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | (exp + 112) << 23 | man << 13);
}

uint16_t cpu_f32_to_fp16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffff;
    if (a > 0x7f800000) /* NaN */
        return sign | 0x7e00;
    if (a >= 0x477ff000) /* rounds to 65536 or more, or inf */
        return sign | 0x7c00;
    if (a < 0x38800000) { /* below 2^-14: subnormal half (or zero) */
        if (a < 0x33000000) /* below 2^-25: rounds to zero */
            return sign;
        uint32_t e = a >> 23;
        uint32_t m = (a & 0x7fffff) | 0x800000; /* 24-bit significand */
        uint32_t shift = 126 - e;               /* to units of 2^-24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
        return sign | (uint16_t)q;
    }
    /* normal: rebias, then round the 13 dropped bits to nearest even (a
     * carry into the exponent is the right answer) */
    uint32_t r = a - 0x38000000;
    uint32_t q = r >> 13;
    uint32_t rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1)))
        q++;
    return sign | (uint16_t)q;
}

float cpu_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t cpu_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((u >> 16) | 64); /* NaN: force quiet */
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
