/*
 * quant_k_avx512.c: AVX-512 (F+BW+VL) dot products of Q2_K..Q6_K and
 * IQ4_XS with Q8_K, and the Q8_K quantizer. Built with -mavx512f
 * -mavx512bw -mavx512vl -mavx2 -mfma -mf16c; quant_k_x86.c calls it only
 * when the CPU has all of them.
 *
 * The scheme is quant_k_avx2.c's (u8 weights x s8 activations with
 * maddubs, per-sub-block integer scales with madd, offsets and mins paid
 * through Q8_K's bsums, one float FMA per super-block) at twice the width.
 * The layouts pack sub-blocks that share bytes (the two nibbles of Q4_K,
 * the four 2-bit fields of Q2_K/Q3_K, the 6-bit pairs of Q6_K) in the same
 * byte, so instead of shuffling the activations the weight bytes are
 * broadcast to both 256-bit halves and shifted by a different count in
 * each half (vpsrlvw): the unpacked weights then line up with 64
 * consecutive activation bytes. Scales are spread over lanes with vpermw.
 *
 * VNNI (vpdpbusd) is not used: it sums straight to 32 bits, after which
 * the per-sub-block scale would cost a vpmulld, while madd applies the
 * 16-bit scale in the same instruction that widens. Needs only F+BW+VL.
 */
#include <immintrin.h>
#include <string.h>

#include "runtime/cpu/quant_k.h"

static inline float f16(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* s16 index vector: word a for the low 16 words, word b for the high 16 */
static inline __m512i idx_halves(int a, int b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)a)),
                              _mm256_set1_epi16((short)b), 1);
}

/* s16 index vector: word g+L in the whole 128-bit lane L */
static inline __m512i idx_lanes(int g)
{
    return _mm512_setr_epi64(0x0001000100010001LL * g, 0x0001000100010001LL * g,
                             0x0001000100010001LL * (g + 1), 0x0001000100010001LL * (g + 1),
                             0x0001000100010001LL * (g + 2), 0x0001000100010001LL * (g + 2),
                             0x0001000100010001LL * (g + 3), 0x0001000100010001LL * (g + 3));
}

/* shift counts: a for the low 16 words, b for the high 16 */
static inline __m512i shifts(int a, int b)
{
    return idx_halves(a, b);
}

static inline __m512i bcast32(const uint8_t *p)
{
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}

static inline __m512i load64(const int8_t *p)
{
    return _mm512_loadu_si512((const void *)p);
}

static inline __m128i k4_scales_mins(const uint8_t *p)
{
    /* dwords w0..w2 of the 12 bytes (16 read: the quants follow them) into
     * [w0 & 3f, (w2 & 0f) | (w0 >> 6) << 4, w1 & 3f, (w2 >> 4) | (w1 >> 6) << 4]
     * per byte */
    const __m128i v = _mm_loadu_si128((const __m128i *)p);
    const __m128i lo = _mm_and_si128(_mm_srlv_epi32(_mm_shuffle_epi32(v, 0x98), _mm_setr_epi32(0, 0, 0, 4)),
                                     _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    const __m128i hi = _mm_and_si128(_mm_srli_epi32(_mm_shuffle_epi32(v, 0x50), 2),
                                     _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm_or_si128(lo, hi);
}

static inline __m128i q3_scales(const uint8_t *p)
{
    uint32_t w[3];
    memcpy(w, p, 12);
    const uint32_t m4 = 0x0f0f0f0f, m2 = 0x03030303;
    const __m128i v = _mm_setr_epi32((int)((w[0] & m4) | ((w[2] & m2) << 4)),
                                     (int)((w[1] & m4) | (((w[2] >> 2) & m2) << 4)),
                                     (int)(((w[0] >> 4) & m4) | (((w[2] >> 4) & m2) << 4)),
                                     (int)(((w[1] >> 4) & m4) | (((w[2] >> 6) & m2) << 4)));
    return _mm_sub_epi8(v, _mm_set1_epi8(32));
}

static inline __m128i k4_mins_dot(__m128i mins16, const int16_t *bsums)
{
    const __m128i b0 = _mm_loadu_si128((const __m128i *)bsums);
    const __m128i b1 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    return _mm_madd_epi16(mins16, _mm_hadd_epi16(b0, b1));
}

/* one 64-element step of a 16-scale type: u (u8) times q8, scaled per 16
 * by the words of sc16 (s16 scales in the low 16 words) g..g+3 */
static inline __m512i step16(__m512i u, const int8_t *q8, __m512i sc16, int g)
{
    const __m512i p = _mm512_maddubs_epi16(u, load64(q8));
    return _mm512_madd_epi16(_mm512_permutexvar_epi16(idx_lanes(g), sc16), p);
}

static inline float finish_k4(__m512 acc, __m128 accm)
{
    accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
    return _mm512_reduce_add_ps(acc) + _mm_cvtss_f32(accm);
}

void cpu_vec_dot_q2_k_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q2_k *x = vx;
    const cpu_block_q8_k *y = vy;
    const __m512i m3 = _mm512_set1_epi8(3);
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const float dmin = -y[i].d * f16(x[i].dmin);
        const __m128i raw = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(raw, _mm_set1_epi8(0xF))));
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0xF)));
        const __m256i summ = _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(summ), accm);
        __m512i sumi = _mm512_setzero_si512();
        #pragma GCC unroll 8
        for (int h = 0; h < 2; ++h) {
            const __m512i q = bcast32(x[i].qs + 32 * h);
            const __m512i u0 = _mm512_and_si512(_mm512_srlv_epi16(q, shifts(0, 2)), m3);
            const __m512i u1 = _mm512_and_si512(_mm512_srlv_epi16(q, shifts(4, 6)), m3);
            sumi = _mm512_add_epi32(sumi, step16(u0, y[i].qs + 128 * h, sc16, 8 * h));
            sumi = _mm512_add_epi32(sumi, step16(u1, y[i].qs + 128 * h + 64, sc16, 8 * h + 4));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(accm), _mm256_extractf128_ps(accm, 1));
    *s = finish_k4(acc, r);
}

void cpu_vec_dot_q3_k_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q3_k *x = vx;
    const cpu_block_q8_k *y = vy;
    const __m512i m3 = _mm512_set1_epi8(3), one = _mm512_set1_epi8(1);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const __m256i sc256 = _mm256_cvtepi8_epi16(q3_scales(x[i].scales));
        const __m512i sc16 = _mm512_castsi256_si512(sc256);
        const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc256, _mm256_loadu_si256((const __m256i *)y[i].bsums)), 2);
        __m512i sumi = _mm512_castsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), corr));
        sumi = _mm512_inserti64x4(sumi, _mm256_setzero_si256(), 1);
        const __m512i hm = bcast32(x[i].hmask);
        #pragma GCC unroll 8
        for (int h = 0; h < 2; ++h) {
            const __m512i q = bcast32(x[i].qs + 32 * h);
            #pragma GCC unroll 8
            for (int t = 0; t < 2; ++t) {
                const __m512i lo = _mm512_and_si512(_mm512_srlv_epi16(q, shifts(4 * t, 4 * t + 2)), m3);
                const __m512i hb = _mm512_and_si512(_mm512_srlv_epi16(hm, shifts(4 * h + 2 * t, 4 * h + 2 * t + 1)), one);
                const __m512i u = _mm512_or_si512(lo, _mm512_slli_epi16(hb, 2));
                sumi = _mm512_add_epi32(sumi, step16(u, y[i].qs + 128 * h + 64 * t, sc16, 8 * h + 4 * t));
            }
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

void cpu_vec_dot_q4_k_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q4_k *x = vx;
    const cpu_block_q8_k *y = vy;
    const __m512i m4 = _mm512_set1_epi8(0xF);
    const __m512i sh = shifts(0, 4);
    __m512 acc = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const float dmin = -y[i].d * f16(x[i].dmin);
        const __m256i sm16 = _mm256_cvtepu8_epi16(k4_scales_mins(x[i].scales));
        const __m128i prod = k4_mins_dot(_mm256_extracti128_si256(sm16, 1), y[i].bsums);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), accm);
        const __m512i sc = _mm512_castsi256_si512(sm16);
        __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
        #pragma GCC unroll 8
        for (int j = 0; j < QK_K / 64; j += 2) {
            const __m512i u0 = _mm512_and_si512(_mm512_srlv_epi16(bcast32(x[i].qs + 32 * j), sh), m4);
            const __m512i u1 = _mm512_and_si512(_mm512_srlv_epi16(bcast32(x[i].qs + 32 * j + 32), sh), m4);
            const __m512i p0 = _mm512_maddubs_epi16(u0, load64(y[i].qs + 64 * j));
            const __m512i p1 = _mm512_maddubs_epi16(u1, load64(y[i].qs + 64 * j + 64));
            s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(_mm512_permutexvar_epi16(idx_halves(2 * j, 2 * j + 1), sc), p0));
            s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(_mm512_permutexvar_epi16(idx_halves(2 * j + 2, 2 * j + 3), sc), p1));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), acc);
    }
    *s = finish_k4(acc, accm);
}

void cpu_vec_dot_q5_k_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q5_k *x = vx;
    const cpu_block_q8_k *y = vy;
    const __m512i m4 = _mm512_set1_epi8(0xF), one = _mm512_set1_epi8(1);
    const __m512i sh = shifts(0, 4);
    __m512 acc = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const float dmin = -y[i].d * f16(x[i].dmin);
        const __m256i sm16 = _mm256_cvtepu8_epi16(k4_scales_mins(x[i].scales));
        const __m128i prod = k4_mins_dot(_mm256_extracti128_si256(sm16, 1), y[i].bsums);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), accm);
        const __m512i sc = _mm512_castsi256_si512(sm16);
        const __m512i qh = bcast32(x[i].qh);
        __m512i sumi = _mm512_setzero_si512();
        #pragma GCC unroll 8
        for (int j = 0; j < QK_K / 64; ++j) {
            const __m512i lo = _mm512_and_si512(_mm512_srlv_epi16(bcast32(x[i].qs + 32 * j), sh), m4);
            const __m512i hb = _mm512_and_si512(_mm512_srlv_epi16(qh, shifts(2 * j, 2 * j + 1)), one);
            const __m512i u = _mm512_or_si512(lo, _mm512_slli_epi16(hb, 4));
            const __m512i p = _mm512_maddubs_epi16(u, load64(y[i].qs + 64 * j));
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(_mm512_permutexvar_epi16(idx_halves(2 * j, 2 * j + 1), sc), p));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = finish_k4(acc, accm);
}

void cpu_vec_dot_q6_k_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q6_k *x = vx;
    const cpu_block_q8_k *y = vy;
    const __m512i m4 = _mm512_set1_epi8(0xF), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = shifts(4, 2), shr = shifts(0, 2);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const __m256i sc256 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m512i sc16 = _mm512_castsi256_si512(sc256);
        const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc256, _mm256_loadu_si256((const __m256i *)y[i].bsums)), 5);
        __m512i s0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), corr)),
                                        _mm256_setzero_si256(), 1);
        __m512i s1 = _mm512_setzero_si512();
        #pragma GCC unroll 8
        for (int h = 0; h < 2; ++h) {
            /* elements 0..63 of this half: low nibbles of ql[0..63] with
             * qh bits 0-1 (first 32) and 2-3 (next 32); elements 64..127:
             * high nibbles with bits 4-5 and 6-7 */
            const __m512i ql = _mm512_loadu_si512((const void *)(x[i].ql + 64 * h));
            const __m512i qh = bcast32(x[i].qh + 32 * h);
            const __m512i u0 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, shl), m30));
            const __m512i u1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                               _mm512_and_si512(_mm512_srlv_epi16(qh, shr), m30));
            s0 = _mm512_add_epi32(s0, step16(u0, y[i].qs + 128 * h, sc16, 8 * h));
            s1 = _mm512_add_epi32(s1, step16(u1, y[i].qs + 128 * h + 64, sc16, 8 * h + 4));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

void cpu_vec_dot_iq4_xs_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_iq4_xs *x = vx;
    const cpu_block_q8_k *y = vy;
    const __m512i grid = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)cpu_kvalues_iq4nl));
    const __m512i m4 = _mm512_set1_epi8(0xF);
    /* qword indices pairing the low- and high-nibble halves of a sub-block */
    const __m512i pa = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
    const __m512i pb = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        int16_t ls[8];
        #pragma GCC unroll 8
        for (int b = 0; b < 8; ++b)
            ls[b] = (int16_t)((((x[i].scales_l[b / 2] >> (4 * (b % 2))) & 0xF) |
                               (((x[i].scales_h >> (2 * b)) & 3) << 4)) - 32);
        const __m512i sc = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)ls));
        __m512i sumi = _mm512_setzero_si512();
        #pragma GCC unroll 8
        for (int ib = 0; ib < QK_K / 32; ib += 4) {
            const __m512i q = _mm512_loadu_si512((const void *)(x[i].qs + 16 * ib));
            const __m512i lo = _mm512_shuffle_epi8(grid, _mm512_and_si512(q, m4));
            const __m512i hi = _mm512_shuffle_epi8(grid, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4));
            #pragma GCC unroll 8
            for (int t = 0; t < 2; ++t) {
                const __m512i v = _mm512_permutex2var_epi64(lo, t ? pb : pa, hi);
                const __m512i q8 = load64(y[i].qs + 32 * (ib + 2 * t));
                const __mmask64 neg = _mm512_movepi8_mask(v);
                const __m512i q8s = _mm512_mask_sub_epi8(q8, neg, _mm512_setzero_si512(), q8);
                const __m512i p = _mm512_maddubs_epi16(_mm512_abs_epi8(v), q8s);
                const __m512i scv = _mm512_permutexvar_epi16(idx_halves(ib + 2 * t, ib + 2 * t + 1), sc);
                sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(scv, p));
            }
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* ---- Q8_K quantizer: bit-identical to the scalar one --------------------- */

void cpu_quantize_q8_k_avx512(const float *x, void *vy, int64_t n)
{
    cpu_block_q8_k *y = vy;
    const __m512i c127 = _mm512_set1_epi32(127);
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        __m512 vmax = _mm512_setzero_ps();
        for (int j = 0; j < QK_K; j += 16)
            vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
        const float amax = _mm512_reduce_max_ps(vmax);
        if (amax == 0) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        int first = 0;
        const __m512 va = _mm512_set1_ps(amax);
        for (int j = 0; j < QK_K; j += 16) {
            const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)), va, _CMP_EQ_OQ);
            if (hit) {
                first = j + __builtin_ctz((unsigned)hit);
                break;
            }
        }
        const float iscale = -127.f / x[first];
        const __m512 vs = _mm512_set1_ps(iscale);
        for (int j = 0; j < QK_K; j += 16) {
            const __m512i v = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + j))), c127);
            _mm_storeu_si128((__m128i *)(y[i].qs + j), _mm512_cvtsepi32_epi8(v));
            y[i].bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(v);
        }
        y[i].d = 1 / iscale;
    }
}

/* ---- one weight row against four activation rows -------------------------
 *
 * Prefill computes every weight row against many activation rows. These
 * kernels unpack a super-block of the weight row (and spread its scales)
 * once and apply it to four Q8_K rows, y + r*dy for r = 0..3, writing
 * s[r*ds]. Per row they do exactly the integer and float operations of the
 * single-row kernel above, in the same order, so each result is bit for bit
 * the one vec_dot gives. */

void cpu_vec_dot_q4_k_x4_avx512(int64_t n, float *s, int64_t ds, const void *vx, const void *vy, int64_t dy)
{
    const cpu_block_q4_k *x = vx;
    const cpu_block_q8_k *y[4];
    for (int r = 0; r < 4; ++r)
        y[r] = (const cpu_block_q8_k *)((const char *)vy + r * dy);
    const __m512i m4 = _mm512_set1_epi8(0xF);
    const __m512i sh = shifts(0, 4);
    __m512 acc[4];
    __m128 accm[4];
    for (int r = 0; r < 4; ++r) {
        acc[r] = _mm512_setzero_ps();
        accm[r] = _mm_setzero_ps();
    }
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float xd = f16(x[i].d), xdmin = f16(x[i].dmin);
        const __m256i sm16 = _mm256_cvtepu8_epi16(k4_scales_mins(x[i].scales));
        const __m128i mins = _mm256_extracti128_si256(sm16, 1);
        const __m512i sc = _mm512_castsi256_si512(sm16);
        __m512i u[4], scv[4];
        #pragma GCC unroll 8
        for (int j = 0; j < 4; ++j) {
            u[j] = _mm512_and_si512(_mm512_srlv_epi16(bcast32(x[i].qs + 32 * j), sh), m4);
            scv[j] = _mm512_permutexvar_epi16(idx_halves(2 * j, 2 * j + 1), sc);
        }
        #pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {
            const cpu_block_q8_k *b = &y[r][i];
            const float d = b->d * xd;
            const float dmin = -b->d * xdmin;
            const __m128i prod = k4_mins_dot(mins, b->bsums);
            accm[r] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), accm[r]);
            __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
            #pragma GCC unroll 8
            for (int j = 0; j < 4; j += 2) {
                const __m512i p0 = _mm512_maddubs_epi16(u[j], load64(b->qs + 64 * j));
                const __m512i p1 = _mm512_maddubs_epi16(u[j + 1], load64(b->qs + 64 * j + 64));
                s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(scv[j], p0));
                s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(scv[j + 1], p1));
            }
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), acc[r]);
        }
    }
    for (int r = 0; r < 4; ++r)
        s[r * ds] = finish_k4(acc[r], accm[r]);
}

void cpu_vec_dot_q6_k_x4_avx512(int64_t n, float *s, int64_t ds, const void *vx, const void *vy, int64_t dy)
{
    const cpu_block_q6_k *x = vx;
    const cpu_block_q8_k *y[4];
    for (int r = 0; r < 4; ++r)
        y[r] = (const cpu_block_q8_k *)((const char *)vy + r * dy);
    const __m512i m4 = _mm512_set1_epi8(0xF), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = shifts(4, 2), shr = shifts(0, 2);
    __m512 acc[4];
    for (int r = 0; r < 4; ++r)
        acc[r] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float xd = f16(x[i].d);
        const __m256i sc256 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m512i sc16 = _mm512_castsi256_si512(sc256);
        __m512i u[4], scv[4];
        #pragma GCC unroll 8
        for (int h = 0; h < 2; ++h) {
            const __m512i ql = _mm512_loadu_si512((const void *)(x[i].ql + 64 * h));
            const __m512i qh = bcast32(x[i].qh + 32 * h);
            u[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, shl), m30));
            u[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                           _mm512_and_si512(_mm512_srlv_epi16(qh, shr), m30));
            scv[2 * h] = _mm512_permutexvar_epi16(idx_lanes(8 * h), sc16);
            scv[2 * h + 1] = _mm512_permutexvar_epi16(idx_lanes(8 * h + 4), sc16);
        }
        #pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {
            const cpu_block_q8_k *b = &y[r][i];
            const float d = b->d * xd;
            const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc256, _mm256_loadu_si256((const __m256i *)b->bsums)), 5);
            __m512i s0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), corr)),
                                            _mm256_setzero_si256(), 1);
            __m512i s1 = _mm512_setzero_si512();
            #pragma GCC unroll 8
            for (int h = 0; h < 2; ++h) {
                s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(scv[2 * h], _mm512_maddubs_epi16(u[2 * h], load64(b->qs + 128 * h))));
                s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(scv[2 * h + 1],
                                                            _mm512_maddubs_epi16(u[2 * h + 1], load64(b->qs + 128 * h + 64))));
            }
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), acc[r]);
        }
    }
    for (int r = 0; r < 4; ++r)
        s[r * ds] = _mm512_reduce_add_ps(acc[r]);
}
