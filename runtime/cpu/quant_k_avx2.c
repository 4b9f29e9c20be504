/*
 * quant_k_avx2.c: AVX2 dot products of Q2_K..Q6_K and IQ4_XS with Q8_K,
 * and the Q8_K quantizer. Built with -mavx2 -mfma -mf16c; only called when
 * the CPU has them (quant_k_x86.c decides), so nothing here may run first.
 *
 * Every kernel has the same shape. The weight quants are widened to bytes
 * that are non-negative (a type's offset is moved to the activation side,
 * where Q8_K's bsums pay for it: -4*bsum for Q3_K, -32*bsum for Q6_K, the
 * mins for Q2/Q4/Q5_K), so _mm256_maddubs_epi16 (u8 x s8 -> s16 pairs)
 * applies. The s16 pair sums are multiplied by the sub-block's scale with
 * _mm256_madd_epi16 (-> s32), so the scale is applied per 16- or 32-element
 * sub-block in integers, exactly; the only float work is one FMA per
 * super-block by d_x*d_y. No s16 overflows: the largest pair is 63*127*2
 * (Q6_K), and IQ4_XS, the one signed grid, goes through the sign trick.
 *
 * The per-block float terms are the reference's (quant_k.c), so results
 * differ from it only in float summation order.
 */
#include <immintrin.h>
#include <string.h>

#include "runtime/cpu/quant_k.h"

static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float f16(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* pshufb controls that spread one s16 of a lane-replicated vector over a
 * whole 128-bit lane: word a in the low lane, word b in the high lane */
static inline __m256i word_pair(int a, int b)
{
    return _mm256_setr_epi8(2 * a, 2 * a + 1, 2 * a, 2 * a + 1, 2 * a, 2 * a + 1, 2 * a, 2 * a + 1,
                            2 * a, 2 * a + 1, 2 * a, 2 * a + 1, 2 * a, 2 * a + 1, 2 * a, 2 * a + 1,
                            2 * b, 2 * b + 1, 2 * b, 2 * b + 1, 2 * b, 2 * b + 1, 2 * b, 2 * b + 1,
                            2 * b, 2 * b + 1, 2 * b, 2 * b + 1, 2 * b, 2 * b + 1, 2 * b, 2 * b + 1);
}

/* Q4_K/Q5_K: the 12 packed bytes as 8 scale bytes then 8 min bytes */
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

/* Q3_K: the 16 6-bit scales, unbiased, as 16 s8 */
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

/* sum over one 128-element half of a 16-scale type: u[k] (u8) times the
 * q8 bytes of elements 32k..32k+31, scaled per 16 by sc16 (s16, the 8
 * scales of this half replicated in both lanes) */
static inline __m256i dot_half16(const __m256i u[4], const int8_t *q8, __m256i sc16)
{
    __m256i s = _mm256_setzero_si256();
    #pragma GCC unroll 8
    for (int k = 0; k < 4; ++k) {
        const __m256i p = _mm256_maddubs_epi16(u[k], _mm256_loadu_si256((const __m256i *)(q8 + 32 * k)));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_shuffle_epi8(sc16, word_pair(2 * k, 2 * k + 1)), p));
    }
    return s;
}

void cpu_vec_dot_q2_k_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q2_k *x = vx;
    const cpu_block_q8_k *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const float dmin = -y[i].d * f16(x[i].dmin);
        const __m128i raw = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, _mm_set1_epi8(0xF)));
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0xF)));
        const __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        const __m256i summ = _mm256_madd_epi16(m16, bs);
        __m256i sumi = _mm256_setzero_si256();
        #pragma GCC unroll 8
        for (int h = 0; h < 2; ++h) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            const __m256i u[4] = {
                _mm256_and_si256(q, m3),
                _mm256_and_si256(_mm256_srli_epi16(q, 2), m3),
                _mm256_and_si256(_mm256_srli_epi16(q, 4), m3),
                _mm256_and_si256(_mm256_srli_epi16(q, 6), m3),
            };
            const __m256i sch = h ? _mm256_permute2x128_si256(sc16, sc16, 0x11)
                                   : _mm256_permute2x128_si256(sc16, sc16, 0x00);
            sumi = _mm256_add_epi32(sumi, dot_half16(u, y[i].qs + 128 * h, sch));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(summ), acc);
    }
    *s = hsum_ps(acc);
}

void cpu_vec_dot_q3_k_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q3_k *x = vx;
    const cpu_block_q8_k *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const __m256i sc16 = _mm256_cvtepi8_epi16(q3_scales(x[i].scales));
        /* q = u - 4 with u = low2 | high<<2 in [0, 8) */
        const __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 2);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), corr);
        #pragma GCC unroll 8
        for (int h = 0; h < 2; ++h) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            __m256i u[4];
            #pragma GCC unroll 8
            for (int k = 0; k < 4; ++k) {
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m3);
                const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + k), one);
                u[k] = _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2));
            }
            const __m256i sch = h ? _mm256_permute2x128_si256(sc16, sc16, 0x11)
                                   : _mm256_permute2x128_si256(sc16, sc16, 0x00);
            sumi = _mm256_add_epi32(sumi, dot_half16(u, y[i].qs + 128 * h, sch));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps(acc);
}

/* Q4_K/Q5_K mins: dmin_x*d_y times sum of min_j*(bsum_2j + bsum_2j+1) */
static inline __m128i k4_mins_dot(__m128i mins16, const int16_t *bsums)
{
    const __m128i b0 = _mm_loadu_si128((const __m128i *)bsums);
    const __m128i b1 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    return _mm_madd_epi16(mins16, _mm_hadd_epi16(b0, b1));
}

void cpu_vec_dot_q4_k_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q4_k *x = vx;
    const cpu_block_q8_k *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const float dmin = -y[i].d * f16(x[i].dmin);
        const __m256i sm16 = _mm256_cvtepu8_epi16(k4_scales_mins(x[i].scales));
        const __m128i prod = k4_mins_dot(_mm256_extracti128_si256(sm16, 1), y[i].bsums);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), accm);
        const __m256i sc = _mm256_permute2x128_si256(sm16, sm16, 0x00);
        const uint8_t *q4 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i s0 = _mm256_setzero_si256();
        #pragma GCC unroll 8
        for (int j = 0; j < QK_K / 64; ++j) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(q4 + 32 * j));
            const __m256i lo = _mm256_and_si256(q, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j)));
            const __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32)));
            const __m256i sl = _mm256_madd_epi16(_mm256_shuffle_epi8(sc, word_pair(2 * j, 2 * j)), pl);
            const __m256i sh = _mm256_madd_epi16(_mm256_shuffle_epi8(sc, word_pair(2 * j + 1, 2 * j + 1)), ph);
            s0 = _mm256_add_epi32(s0, _mm256_add_epi32(sl, sh));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s0), acc);
    }
    accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
    *s = hsum_ps(acc) + _mm_cvtss_f32(accm);
}

void cpu_vec_dot_q5_k_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q5_k *x = vx;
    const cpu_block_q8_k *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const float dmin = -y[i].d * f16(x[i].dmin);
        const __m256i sm16 = _mm256_cvtepu8_epi16(k4_scales_mins(x[i].scales));
        const __m128i prod = k4_mins_dot(_mm256_extracti128_si256(sm16, 1), y[i].bsums);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), accm);
        const __m256i sc = _mm256_permute2x128_si256(sm16, sm16, 0x00);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        const uint8_t *q5 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        #pragma GCC unroll 8
        for (int j = 0; j < QK_K / 64; ++j) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(q5 + 32 * j));
            const __m256i hl = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one);
            const __m256i hh = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_slli_epi16(hl, 4));
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), _mm256_slli_epi16(hh, 4));
            const __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j)));
            const __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32)));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_shuffle_epi8(sc, word_pair(2 * j, 2 * j)), pl));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_shuffle_epi8(sc, word_pair(2 * j + 1, 2 * j + 1)), ph));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
    *s = hsum_ps(acc) + _mm_cvtss_f32(accm);
}

void cpu_vec_dot_q6_k_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_q6_k *x = vx;
    const cpu_block_q8_k *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        /* q = u - 32 with u in [0, 64) */
        const __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 5));
        #pragma GCC unroll 8
        for (int h = 0; h < 2; ++h) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            const __m256i u[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)),
                _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m30)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)),
            };
            const __m256i sch = h ? _mm256_permute2x128_si256(sc16, sc16, 0x11)
                                   : _mm256_permute2x128_si256(sc16, sc16, 0x00);
            sumi = _mm256_add_epi32(sumi, dot_half16(u, y[i].qs + 128 * h, sch));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps(acc);
}

void cpu_vec_dot_iq4_xs_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_iq4_xs *x = vx;
    const cpu_block_q8_k *y = vy;
    const __m256i grid = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)cpu_kvalues_iq4nl));
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        __m256i sumi = _mm256_setzero_si256();
        #pragma GCC unroll 8
        for (int ib = 0; ib < QK_K / 32; ib += 2) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 16 * ib));
            const __m256i lo = _mm256_shuffle_epi8(grid, _mm256_and_si256(q, m4));
            const __m256i hi = _mm256_shuffle_epi8(grid, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
            #pragma GCC unroll 8
            for (int t = 0; t < 2; ++t) {
                const __m256i v = t ? _mm256_permute2x128_si256(lo, hi, 0x31) : _mm256_permute2x128_si256(lo, hi, 0x20);
                const __m256i q8 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 32 * (ib + t)));
                const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(q8, v));
                const int b = ib + t;
                const int ls = (((x[i].scales_l[b / 2] >> (4 * (b % 2))) & 0xF) |
                                (((x[i].scales_h >> (2 * b)) & 3) << 4)) - 32;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_set1_epi16((short)ls), p));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps(acc);
}

/* ---- Q8_K quantizer: bit-identical to the scalar one --------------------- */

void cpu_quantize_q8_k_avx2(const float *x, void *vy, int64_t n)
{
    cpu_block_q8_k *y = vy;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        __m256 vmax = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8)
            vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(x + j), absmask));
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float amax = _mm_cvtss_f32(m);
        if (amax == 0) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        /* the sign of the scale follows the first element of largest
         * magnitude, as in the reference */
        int first = 0;
        const __m256 va = _mm256_set1_ps(amax);
        for (int j = 0; j < QK_K; j += 8) {
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), absmask), va, _CMP_EQ_OQ));
            if (hit) {
                first = j + __builtin_ctz((unsigned)hit);
                break;
            }
        }
        const float iscale = -127.f / x[first];
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i c127 = _mm256_set1_epi32(127);
        for (int j = 0; j < QK_K; j += 32) {
            __m256i v[4];
            #pragma GCC unroll 8
            for (int k = 0; k < 4; ++k)
                v[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 8 * k))), c127);
            /* sums of 16: groups (v0,v1) and (v2,v3) */
            const __m256i g = _mm256_hadd_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]));
            const __m256i g2 = _mm256_hadd_epi32(g, g);
            const __m128i g4 = _mm_add_epi32(_mm256_castsi256_si128(g2), _mm256_extracti128_si256(g2, 1));
            y[i].bsums[j / 16] = (int16_t)_mm_extract_epi32(g4, 0);
            y[i].bsums[j / 16 + 1] = (int16_t)_mm_extract_epi32(g4, 1);
            const __m256i p16 = _mm256_packs_epi32(v[0], v[1]);
            const __m256i p16b = _mm256_packs_epi32(v[2], v[3]);
            const __m256i p8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16, p16b), perm);
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), p8);
        }
        y[i].d = 1 / iscale;
    }
}
