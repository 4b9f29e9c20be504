/*
 * quant_legacy_x86.c: AVX2 kernels of the 32-element block types and the
 * float types, and the fill function that installs them (and, on CPUs that
 * have it, the AVX-512 ones of quant_legacy_avx512.c).
 *
 * Built with -mavx2 -mfma -mf16c (CMakeLists.txt); nothing here runs unless
 * quant.c found those features at run time, so the binary still runs on an
 * older CPU. The dot products are the integer kind llama.cpp uses: the
 * weight block is unpacked to 32 signed bytes, multiplied with the 32 int8
 * activations by maddubs (unsigned x signed, so the weight's sign is moved
 * onto the activation first), pairs summed to int32 by madd, and the block's
 * eight partial sums scaled in float by d_x * d_y into a running vector.
 * Integer sums are exact, so a result differs from the scalar reference only
 * by the order of the float additions.
 *
 * Block scales are read through a 64K-entry half -> float table
 * (cpu_f16_table, filled here before any kernel is installed), as ggml-cpu
 * does: two vcvtph2ps conversions a block cost more than the integer work.
 *
 * The Q8_0 / Q8_1 activation quantizers are ggml-cpu's, not the _ref ones:
 * scale 127/amax and round to nearest even. On AVX2 machines that is what
 * llama.cpp quantizes activations with, so our dot products see the same
 * bytes; a value differs from the reference quantizer's by at most 1, and
 * only at ties or one ulp of the inverse scale.
 */
#include <immintrin.h>
#include <string.h>

#include "runtime/cpu/quant_legacy.h"

float cpu_f16_table[65536];
#define H2F(h) cpu_f16_table[(uint16_t)(h)]

static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles first, then high */
static inline __m256i unpack_nibbles(const uint8_t *qs)
{
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* 32 bits -> 32 bytes, 0xff where the bit is set */
static inline __m256i expand_bits(const uint8_t qh[4])
{
    uint32_t bits;
    memcpy(&bits, qh, 4);
    const __m256i pick = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), pick);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* eight int32 partial sums of x*y, x and y signed bytes (|x*y| pairs fit
 * int16 because y is never -128) */
static inline __m256i dot_i8(__m256i x, __m256i y)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* the same with x unsigned (at most 31 here) */
static inline __m256i dot_u8(__m256i x, __m256i y)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

static inline __m256i load_q8(const int8_t *qs)
{
    return _mm256_loadu_si256((const __m256i *)qs);
}

/* acc += d * float(sumi) */
static inline __m256 scale_acc(__m256 acc, float d, __m256i sumi)
{
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
}

/* A kernel body over blocks, two at a time into two accumulators (the
 * fmadd latency otherwise bounds the loop); XQ(i) yields block i's 32
 * weight bytes as signed values, SCALE(i) its d_x * d_y. */
#define DOT_LOOP_SIGNED(XQ, SCALE)                                                  \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                  \
    int64_t i = 0;                                                                  \
    for (; i + 1 < nb; i += 2) {                                                    \
        acc0 = scale_acc(acc0, SCALE(i), dot_i8(XQ(i), load_q8(y[i].qs)));          \
        acc1 = scale_acc(acc1, SCALE(i + 1), dot_i8(XQ(i + 1), load_q8(y[i + 1].qs))); \
    }                                                                               \
    if (i < nb)                                                                     \
        acc0 = scale_acc(acc0, SCALE(i), dot_i8(XQ(i), load_q8(y[i].qs)));          \
    *s = hsum8(_mm256_add_ps(acc0, acc1))

/* ---- Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4 against Q8_0 -------------------- */

static void dot_q4_0_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q4_0 *x = vx;
    const cpu_block_q8_0 *y = vy;
    const int64_t nb = n / CPU_QK;
    const __m256i eight = _mm256_set1_epi8(8);
#define XQ(i) _mm256_sub_epi8(unpack_nibbles(x[i].qs), eight)
#define SCALE(i) (H2F(x[i].d) * H2F(y[i].d))
    DOT_LOOP_SIGNED(XQ, SCALE);
#undef XQ
}

static void dot_q5_0_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q5_0 *x = vx;
    const cpu_block_q8_0 *y = vy;
    const int64_t nb = n / CPU_QK;
    const __m256i f0 = _mm256_set1_epi8((char)0xf0);
    /* q - 16 = nibble when the 5th bit is set, else nibble | 0xf0 */
#define XQ(i) _mm256_or_si256(unpack_nibbles(x[i].qs), _mm256_andnot_si256(expand_bits(x[i].qh), f0))
    DOT_LOOP_SIGNED(XQ, SCALE);
#undef XQ
}

static void dot_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q8_0 *x = vx;
    const cpu_block_q8_0 *y = vy;
    const int64_t nb = n / CPU_QK;
#define XQ(i) load_q8(x[i].qs)
    DOT_LOOP_SIGNED(XQ, SCALE);
#undef XQ
}

static void dot_iq4_nl_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_iq4_nl *x = vx;
    const cpu_block_q8_0 *y = vy;
    const int64_t nb = n / CPU_QK;
    const __m256i book = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)cpu_kvalues_iq4nl));
#define XQ(i) _mm256_shuffle_epi8(book, unpack_nibbles(x[i].qs))
    DOT_LOOP_SIGNED(XQ, SCALE);
#undef XQ
#undef SCALE
}

static void dot_mxfp4_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_mxfp4 *x = vx;
    const cpu_block_q8_0 *y = vy;
    const int64_t nb = n / CPU_QK;
    const __m256i book = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)cpu_kvalues_mxfp4));
#define XQ(i) _mm256_shuffle_epi8(book, unpack_nibbles(x[i].qs))
#define SCALE(i) (H2F(y[i].d) * cpu_e8m0_to_f32_half(x[i].e))
    DOT_LOOP_SIGNED(XQ, SCALE);
#undef XQ
#undef SCALE
}

/* ---- Q4_1, Q5_1 against Q8_1: unsigned weights plus min * sum(y) ------ */

static void dot_q4_1_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q4_1 *x = vx;
    const cpu_block_q8_1 *y = vy;
    const int64_t nb = n / CPU_QK;
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int64_t i = 0; i < nb; i++) {
        mins += H2F(x[i].m) * H2F(y[i].s);
        __m256i sumi = dot_u8(unpack_nibbles(x[i].qs), load_q8(y[i].qs));
        acc = scale_acc(acc, H2F(x[i].d) * H2F(y[i].d), sumi);
    }
    *s = hsum8(acc) + mins;
}

static void dot_q5_1_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q5_1 *x = vx;
    const cpu_block_q8_1 *y = vy;
    const int64_t nb = n / CPU_QK;
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int64_t i = 0; i < nb; i++) {
        mins += H2F(x[i].m) * H2F(y[i].s);
        __m256i q = _mm256_or_si256(unpack_nibbles(x[i].qs),
                                    _mm256_and_si256(expand_bits(x[i].qh), bit4));
        acc = scale_acc(acc, H2F(x[i].d) * H2F(y[i].d), dot_u8(q, load_q8(y[i].qs)));
    }
    *s = hsum8(acc) + mins;
}

/* ---- float rows ------------------------------------------------------- */

/* LOAD(p) gives 8 floats from element p on; four accumulators */
#define FLOAT_DOT(T, LOAD, SCALAR)                                              \
    const T *x = vx, *y = vy;                                                   \
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                 \
    int64_t i = 0;                                                              \
    for (; i + 32 <= n; i += 32) {                                              \
        a0 = _mm256_fmadd_ps(LOAD(x + i), LOAD(y + i), a0);                     \
        a1 = _mm256_fmadd_ps(LOAD(x + i + 8), LOAD(y + i + 8), a1);             \
        a2 = _mm256_fmadd_ps(LOAD(x + i + 16), LOAD(y + i + 16), a2);           \
        a3 = _mm256_fmadd_ps(LOAD(x + i + 24), LOAD(y + i + 24), a3);           \
    }                                                                           \
    for (; i + 8 <= n; i += 8)                                                  \
        a0 = _mm256_fmadd_ps(LOAD(x + i), LOAD(y + i), a0);                     \
    double sum = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))); \
    for (; i < n; i++)                                                          \
        sum += (double)(SCALAR(x[i]) * SCALAR(y[i]));                           \
    *s = (float)sum

#define LOAD_F32(p) _mm256_loadu_ps(p)
#define LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define LOAD_BF16(p) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
#define ID(v) (v)

static void dot_f32_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    FLOAT_DOT(float, LOAD_F32, ID);
}

static void dot_f16_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    FLOAT_DOT(uint16_t, LOAD_F16, cpu_fp16_to_f32);
}

static void dot_bf16_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    FLOAT_DOT(uint16_t, LOAD_BF16, cpu_bf16_to_f32);
}

/* ---- activation quantizers -------------------------------------------- */

/* one block: d, and the 32 rounded values as int32 in q[0..3] */
static inline float q8_block_avx2(const float *x, __m256i q[4])
{
    __m256 v[4];
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
    }
    __m128 m = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    float max = _mm_cvtss_f32(m);
    __m256 id = _mm256_set1_ps(max != 0.0f ? 127.f / max : 0.0f);
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], id),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    return max / 127.f;
}

/* packs interleave 128-bit halves; this puts the 32 bytes back in order */
static inline void store_q8(int8_t *dst, const __m256i q[4])
{
    __m256i a = _mm256_packs_epi32(q[0], q[1]);
    __m256i b = _mm256_packs_epi32(q[2], q[3]);
    __m256i c = _mm256_packs_epi16(a, b);
    c = _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)dst, c);
}

static void quantize_q8_0_avx2(const float *x, void *vy, int64_t n)
{
    cpu_block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / CPU_QK; i++, x += CPU_QK) {
        __m256i q[4];
        float d = q8_block_avx2(x, q);
        y[i].d = _cvtss_sh(d, 0);
        store_q8(y[i].qs, q);
    }
}

static void quantize_q8_1_avx2(const float *x, void *vy, int64_t n)
{
    cpu_block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / CPU_QK; i++, x += CPU_QK) {
        __m256i q[4];
        float d = q8_block_avx2(x, q);
        __m256i t = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        u = _mm_add_epi32(u, _mm_shuffle_epi32(u, _MM_SHUFFLE(1, 0, 3, 2)));
        u = _mm_add_epi32(u, _mm_shuffle_epi32(u, _MM_SHUFFLE(2, 3, 0, 1)));
        y[i].d = _cvtss_sh(d, 0);
        y[i].s = _cvtss_sh(d * (float)_mm_cvtsi128_si32(u), 0);
        store_q8(y[i].qs, q);
    }
}

/* ---- the table -------------------------------------------------------- */

void cpu_quant_fill_legacy_x86(cpu_quant_traits tbl[GGML_TYPE_COUNT], enum cpu_isa isa)
{
    if (isa < CPU_ISA_AVX2)
        return;
    for (uint32_t h = 0; h < 65536; h++)
        cpu_f16_table[h] = cpu_fp16_to_f32((uint16_t)h);
#define SET(T, FN)                        \
    do {                                  \
        tbl[GGML_TYPE_##T].vec_dot = FN;  \
        tbl[GGML_TYPE_##T].isa = "avx2";  \
    } while (0)
    SET(F32, dot_f32_avx2);
    SET(F16, dot_f16_avx2);
    SET(BF16, dot_bf16_avx2);
    SET(Q4_0, dot_q4_0_avx2);
    SET(Q4_1, dot_q4_1_avx2);
    SET(Q5_0, dot_q5_0_avx2);
    SET(Q5_1, dot_q5_1_avx2);
    SET(Q8_0, dot_q8_0_avx2);
    SET(IQ4_NL, dot_iq4_nl_avx2);
    SET(MXFP4, dot_mxfp4_avx2);
#undef SET
    tbl[GGML_TYPE_Q8_0].from_float = quantize_q8_0_avx2;
    tbl[GGML_TYPE_Q8_1].from_float = quantize_q8_1_avx2;
    tbl[GGML_TYPE_Q8_1].isa = "avx2";
    if (isa >= CPU_ISA_AVX512)
        cpu_quant_fill_legacy_avx512(tbl);
}
