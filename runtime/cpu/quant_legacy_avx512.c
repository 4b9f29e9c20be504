/*
 * quant_legacy_avx512.c: AVX-512 dot products of the 32-element block types
 * against Q8_0 / Q8_1, two blocks per 512-bit register.
 *
 * Built with -mavx512f -mavx512bw -mavx512vl -mavx512vnni (CMakeLists.txt)
 * and called only on a CPU with AVX-512 F/BW/VL; the block-type kernels are
 * installed only when it also has VNNI (without it they keep the AVX2 ones,
 * which are as fast there), the float-row kernels always. The inner product is
 * vpdpbusd (unsigned x signed bytes, four at a time into int32), so a
 * weight is made unsigned first: the kernel multiplies q + c (nibbles,
 * a code book shifted by 128, ...) and subtracts c * sum(y) with a second
 * vpdpbusd against a constant, which keeps the integer sums exact. Lanes 0-7
 * of a register hold block i's partial sums and lanes 8-15 block i+1's, so
 * one vector of two broadcast scales weights both in a single fmadd.
 *
 * An odd last block goes to the scalar reference. The float rows are plain
 * 16-lane fmadd loops.
 */
#include <immintrin.h>
#include <string.h>

#include "runtime/cpu/quant_legacy.h"

#define H2F(h) cpu_f16_table[(uint16_t)(h)]

/* blocks i and i+1's 16 packed bytes -> 64 bytes, each block's low nibbles
 * then its high nibbles: element order within each 32-byte half */
static inline __m512i unpack_nibbles2(const uint8_t *qs0, const uint8_t *qs1)
{
    __m256i a = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs0));
    __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs1));
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
    v = _mm512_srlv_epi64(v, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0f));
}

static inline __m512i load_q8x2(const int8_t *qs0, const int8_t *qs1)
{
    __m256i a = _mm256_loadu_si256((const __m256i *)qs0);
    __m256i b = _mm256_loadu_si256((const __m256i *)qs1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

static inline __m512 scales2(float d0, float d1)
{
    return _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(d0), _mm512_set1_ps(d1));
}

/* int32 sums of (xu - c) * y: xu unsigned bytes, cc = c in every byte */
static inline __m512i dot_off(__m512i xu, __m512i y, __m512i cc, int c)
{
    __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), xu, y);
    if (c == 0)
        return p;
    __m512i o = _mm512_dpbusd_epi32(_mm512_setzero_si512(), cc, y);
    return _mm512_sub_epi32(p, o);
}

static inline float hsum16(__m512 v) { return _mm512_reduce_add_ps(v); }

/* Loop over block pairs with two accumulators. XU(i) gives blocks i, i+1's
 * 64 unsigned weight bytes, OFF the constant they are shifted by, SCALE(i)
 * block i's d_x * d_y, EXTRA(i) a float term of block i added outside the
 * integer dot (Q4_1 / Q5_1's min * s), REF the scalar kernel for an odd last
 * block. */
#define DOT2_LOOP(XU, OFF, SCALE, EXTRA, REF, XT, YT)                                \
    const XT *x = vx;                                                                \
    const YT *y = vy;                                                                \
    const int64_t nb = n / CPU_QK;                                                   \
    const __m512i cc = _mm512_set1_epi8((char)(OFF));                                \
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();                   \
    float extra = 0;                                                                 \
    int64_t i = 0;                                                                   \
    for (; i + 3 < nb; i += 4) {                                                     \
        extra += (EXTRA(i) + EXTRA(i + 1)) + (EXTRA(i + 2) + EXTRA(i + 3));          \
        __m512i s0 = dot_off(XU(i), load_q8x2(y[i].qs, y[i + 1].qs), cc, OFF);            \
        __m512i s1 = dot_off(XU(i + 2), load_q8x2(y[i + 2].qs, y[i + 3].qs), cc, OFF);    \
        acc0 = _mm512_fmadd_ps(scales2(SCALE(i), SCALE(i + 1)), _mm512_cvtepi32_ps(s0), acc0); \
        acc1 = _mm512_fmadd_ps(scales2(SCALE(i + 2), SCALE(i + 3)), _mm512_cvtepi32_ps(s1), acc1); \
    }                                                                                \
    for (; i + 1 < nb; i += 2) {                                                     \
        extra += EXTRA(i) + EXTRA(i + 1);                                            \
        __m512i s0 = dot_off(XU(i), load_q8x2(y[i].qs, y[i + 1].qs), cc, OFF);            \
        acc0 = _mm512_fmadd_ps(scales2(SCALE(i), SCALE(i + 1)), _mm512_cvtepi32_ps(s0), acc0); \
    }                                                                                \
    float sum = hsum16(_mm512_add_ps(acc0, acc1)) + extra;                           \
    if (i < nb) {                                                                    \
        float t;                                                                     \
        REF(CPU_QK, &t, x + i, y + i);                                               \
        sum += t;                                                                    \
    }                                                                                \
    *s = sum

#define SCALE_D(i) (H2F(x[i].d) * H2F(y[i].d))
#define NO_EXTRA(i) 0.0f
#define MIN_S(i) (H2F(x[i].m) * H2F(y[i].s))

static void dot_q4_0_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
#define XU(i) unpack_nibbles2(x[i].qs, x[i + 1].qs)
    DOT2_LOOP(XU, 8, SCALE_D, NO_EXTRA, cpu_vec_dot_q4_0_q8_0_ref, cpu_block_q4_0, cpu_block_q8_0);
#undef XU
}

/* blocks i and i+1's qh as one 64-bit mask, bit j = element j */
static inline __mmask64 high_bits2(const uint8_t *qh0, const uint8_t *qh1)
{
    uint32_t a, b;
    memcpy(&a, qh0, 4);
    memcpy(&b, qh1, 4);
    return (__mmask64)a | (__mmask64)b << 32;
}

/* 5-bit weights of blocks i and i+1: nibble + 16 where the qh bit is set */
static inline __m512i q5_bytes(const uint8_t *qs0, const uint8_t *qs1, const uint8_t *qh0,
                               const uint8_t *qh1)
{
    __m512i q = unpack_nibbles2(qs0, qs1);
    return _mm512_mask_add_epi8(q, high_bits2(qh0, qh1), q, _mm512_set1_epi8(0x10));
}

static void dot_q5_0_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
#define XU(i) q5_bytes(x[i].qs, x[i + 1].qs, x[i].qh, x[i + 1].qh)
    DOT2_LOOP(XU, 16, SCALE_D, NO_EXTRA, cpu_vec_dot_q5_0_q8_0_ref, cpu_block_q5_0, cpu_block_q8_0);
#undef XU
}

/* Q8_0 x Q8_0 needs no unpacking, so loads and lane inserts would dominate
 * a 512-bit loop; one 256-bit vpdpbusd a block on |x| and y carrying x's
 * sign is faster (dpbusd does not saturate, so x = -128 is exact too). */
static void dot_q8_0_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q8_0 *x = vx;
    const cpu_block_q8_0 *y = vy;
    const int64_t nb = n / CPU_QK;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)x[i].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)x[i + 1].qs);
        __m256i y0 = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i y1 = _mm256_loadu_si256((const __m256i *)y[i + 1].qs);
        __m256i p0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(x0, x0),
                                         _mm256_sign_epi8(y0, x0));
        __m256i p1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(x1, x1),
                                         _mm256_sign_epi8(y1, x1));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(SCALE_D(i)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(SCALE_D(i + 1)), _mm256_cvtepi32_ps(p1), acc1);
    }
    __m256 acc = _mm256_add_ps(acc0, acc1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    float sum = _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
    if (i < nb) {
        float t;
        cpu_vec_dot_q8_0_q8_0_ref(CPU_QK, &t, x + i, y + i);
        sum += t;
    }
    *s = sum;
}

/* dot_q8_0_avx512 of one weight row against four activation rows (y + r*dy,
 * results at s[r*ds]): x's blocks are loaded and their signs taken once for
 * the four; per row the operations are dot_q8_0_avx512's, in its order, so
 * each result is bit for bit the same. Prefill's matmul uses it. */
static void dot_q8_0_x4_avx512(int64_t n, float *s, int64_t ds, const void *vx, const void *vy, int64_t dy)
{
    const cpu_block_q8_0 *x = vx;
    const int64_t nb = n / CPU_QK;
    __m256 acc0[4], acc1[4];
    for (int r = 0; r < 4; r++)
        acc0[r] = acc1[r] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i x1 = _mm256_loadu_si256((const __m256i *)x[i + 1].qs);
        const __m256i a0 = _mm256_sign_epi8(x0, x0), a1 = _mm256_sign_epi8(x1, x1);
        const float xd0 = H2F(x[i].d), xd1 = H2F(x[i + 1].d);
        #pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const cpu_block_q8_0 *y = (const cpu_block_q8_0 *)((const char *)vy + r * dy);
            __m256i y0 = _mm256_loadu_si256((const __m256i *)y[i].qs);
            __m256i y1 = _mm256_loadu_si256((const __m256i *)y[i + 1].qs);
            __m256i p0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), a0, _mm256_sign_epi8(y0, x0));
            __m256i p1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), a1, _mm256_sign_epi8(y1, x1));
            acc0[r] = _mm256_fmadd_ps(_mm256_set1_ps(xd0 * H2F(y[i].d)), _mm256_cvtepi32_ps(p0), acc0[r]);
            acc1[r] = _mm256_fmadd_ps(_mm256_set1_ps(xd1 * H2F(y[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1[r]);
        }
    }
    for (int r = 0; r < 4; r++) {
        const cpu_block_q8_0 *y = (const cpu_block_q8_0 *)((const char *)vy + r * dy);
        __m256 acc = _mm256_add_ps(acc0[r], acc1[r]);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        float sum = _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
        if (i < nb) {
            float t;
            cpu_vec_dot_q8_0_q8_0_ref(CPU_QK, &t, x + i, y + i);
            sum += t;
        }
        s[r * ds] = sum;
    }
}

/* a code book shifted by 128 into unsigned bytes, in every 128-bit lane */
static inline __m512i shifted_book(const int8_t book[16])
{
    int8_t u[16];
    for (int k = 0; k < 16; k++)
        u[k] = (int8_t)(uint8_t)(book[k] + 128);
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)u));
}

static void dot_iq4_nl_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    const __m512i book = shifted_book(cpu_kvalues_iq4nl);
#define XU(i) _mm512_shuffle_epi8(book, unpack_nibbles2(x[i].qs, x[i + 1].qs))
    DOT2_LOOP(XU, 0x80, SCALE_D, NO_EXTRA, cpu_vec_dot_iq4_nl_q8_0_ref, cpu_block_iq4_nl, cpu_block_q8_0);
}

static void dot_mxfp4_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    const __m512i book = shifted_book(cpu_kvalues_mxfp4);
#define SCALE_E(i) (H2F(y[i].d) * cpu_e8m0_to_f32_half(x[i].e))
    DOT2_LOOP(XU, 0x80, SCALE_E, NO_EXTRA, cpu_vec_dot_mxfp4_q8_0_ref, cpu_block_mxfp4, cpu_block_q8_0);
#undef XU
#undef SCALE_E
}

/* Q4_1 / Q5_1: unsigned weights as they are, plus min * s per block */
static void dot_q4_1_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
#define XU(i) unpack_nibbles2(x[i].qs, x[i + 1].qs)
    DOT2_LOOP(XU, 0, SCALE_D, MIN_S, cpu_vec_dot_q4_1_q8_1_ref, cpu_block_q4_1, cpu_block_q8_1);
#undef XU
}

static void dot_q5_1_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
#define XU(i) q5_bytes(x[i].qs, x[i + 1].qs, x[i].qh, x[i + 1].qh)
    DOT2_LOOP(XU, 0, SCALE_D, MIN_S, cpu_vec_dot_q5_1_q8_1_ref, cpu_block_q5_1, cpu_block_q8_1);
#undef XU
}

/* ---- float rows: 16 lanes, four accumulators ------------------------- */

#define FLOAT_DOT512(T, LOAD, SCALAR)                                               \
    const T *x = vx, *y = vy;                                                       \
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                     \
    int64_t i = 0;                                                                  \
    for (; i + 64 <= n; i += 64) {                                                  \
        a0 = _mm512_fmadd_ps(LOAD(x + i), LOAD(y + i), a0);                         \
        a1 = _mm512_fmadd_ps(LOAD(x + i + 16), LOAD(y + i + 16), a1);               \
        a2 = _mm512_fmadd_ps(LOAD(x + i + 32), LOAD(y + i + 32), a2);               \
        a3 = _mm512_fmadd_ps(LOAD(x + i + 48), LOAD(y + i + 48), a3);               \
    }                                                                               \
    for (; i + 16 <= n; i += 16)                                                    \
        a0 = _mm512_fmadd_ps(LOAD(x + i), LOAD(y + i), a0);                         \
    double sum = hsum16(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))); \
    for (; i < n; i++)                                                              \
        sum += (double)(SCALAR(x[i]) * SCALAR(y[i]));                               \
    *s = (float)sum

#define LOAD_F32(p) _mm512_loadu_ps(p)
#define LOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define LOAD_BF16(p) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
#define ID(v) (v)

static void dot_f32_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    FLOAT_DOT512(float, LOAD_F32, ID);
}

static void dot_f16_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    FLOAT_DOT512(uint16_t, LOAD_F16, cpu_fp16_to_f32);
}

static void dot_bf16_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    FLOAT_DOT512(uint16_t, LOAD_BF16, cpu_bf16_to_f32);
}

void cpu_quant_fill_legacy_avx512(cpu_quant_traits tbl[GGML_TYPE_COUNT])
{
#define SET(T, FN)                         \
    do {                                   \
        tbl[GGML_TYPE_##T].vec_dot = FN;   \
        tbl[GGML_TYPE_##T].isa = "avx512"; \
    } while (0)
    SET(F32, dot_f32_avx512);
    SET(F16, dot_f16_avx512);
    SET(BF16, dot_bf16_avx512);
    if (!__builtin_cpu_supports("avx512vnni"))
        return;
    SET(Q4_0, dot_q4_0_avx512);
    SET(Q4_1, dot_q4_1_avx512);
    SET(Q5_0, dot_q5_0_avx512);
    SET(Q5_1, dot_q5_1_avx512);
    SET(Q8_0, dot_q8_0_avx512);
    tbl[GGML_TYPE_Q8_0].vec_dot_x4 = dot_q8_0_x4_avx512;
    SET(IQ4_NL, dot_iq4_nl_avx512);
    SET(MXFP4, dot_mxfp4_avx512);
#undef SET
}
