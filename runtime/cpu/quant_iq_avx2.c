/*
 * quant_iq_avx2.c: AVX2 dot products of IQ2_XXS, IQ2_XS, IQ3_XXS and IQ1_S
 * with Q8_K. Built with -mavx2 -mfma -mf16c; only called when the CPU has them
 * (quant_iq_x86.c decides).
 *
 * The lattice coordinates are magnitudes (at most 62), so a 32-element
 * sub-block is four (IQ2) or eight (IQ3) grid entries gathered into one
 * vector of unsigned bytes; the signs move to the activation side
 * (_mm256_sign_epi8), _mm256_maddubs_epi16 makes s16 pair sums (at most
 * 2*62*127, no overflow), and _mm256_madd_epi16 weights them by the odd
 * integer scale 2s+1 of each 16 or 32. A super-block's sum is thus the
 * reference's integer bsum exactly, and the float work after it is the
 * reference's in the same order (quant_iq.c), so these kernels return the
 * scalar ones' results bit for bit.
 */
#include <immintrin.h>
#include <string.h>

#include "runtime/cpu/quant_iq.h"

/* the 8 sign bits of a group from its 7 stored ones (even parity) */
static inline uint32_t signs8(uint32_t s7)
{
    return s7 | (uint32_t)(__builtin_popcount(s7) & 1) << 7;
}

/* four sign bytes (one per 8 elements) as 32 bytes of +1 / -1 */
static inline __m256i sign_bytes(uint32_t s4)
{
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i b = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)s4), spread), bit);
    return _mm256_or_si256(_mm256_cmpeq_epi8(b, bit), _mm256_set1_epi8(1));
}

/* s32 lanes of sum over 32 elements of g (u8) * sign * y, weighted per 16
 * by the s16 scales in ls (low lane: elements 0..15, high: 16..31) */
static inline __m256i dot32(__m256i g, const int8_t *y, uint32_t s4, __m256i ls)
{
    const __m256i ys = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y), sign_bytes(s4));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(g, ys), ls);
}

static inline __m256i scales16(int lo, int hi)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)lo)), _mm_set1_epi16((short)hi), 1);
}

static inline int32_t hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

static inline uint32_t le32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

void cpu_vec_dot_iq2_xxs_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_iq2_xxs *x = vx;
    const cpu_block_q8_k *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const uint8_t *p = (const uint8_t *)x[i].qs;
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib, p += 8) {
            const uint32_t sg = le32(p + 4);
            const __m256i g = _mm256_setr_epi64x((long long)cpu_iq2xxs_grid[p[0]], (long long)cpu_iq2xxs_grid[p[1]],
                                                 (long long)cpu_iq2xxs_grid[p[2]], (long long)cpu_iq2xxs_grid[p[3]]);
            const uint32_t s4 = signs8(sg & 127) | signs8((sg >> 7) & 127) << 8 | signs8((sg >> 14) & 127) << 16 |
                                signs8((sg >> 21) & 127) << 24;
            const int ls = 2 * (int)(sg >> 28) + 1;
            acc = _mm256_add_epi32(acc, dot32(g, y[i].qs + 32 * ib, s4, _mm256_set1_epi16((short)ls)));
        }
        /* apart, so that no compiler fuses them: the reference rounds both */
        const float d = _cvtsh_ss(x[i].d) * y[i].d, t = d * (float)hsum_epi32(acc);
        sumf += t;
    }
    *s = 0.125f * sumf;
}

void cpu_vec_dot_iq2_xs_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_iq2_xs *x = vx;
    const cpu_block_q8_k *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const uint16_t *q = x[i].qs;
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib, q += 4) {
            const __m256i g = _mm256_setr_epi64x((long long)cpu_iq2xs_grid[q[0] & 511], (long long)cpu_iq2xs_grid[q[1] & 511],
                                                 (long long)cpu_iq2xs_grid[q[2] & 511], (long long)cpu_iq2xs_grid[q[3] & 511]);
            const uint32_t s4 = signs8(q[0] >> 9) | signs8(q[1] >> 9) << 8 | signs8(q[2] >> 9) << 16 |
                                signs8(q[3] >> 9) << 24;
            const int sc = x[i].scales[ib];
            acc = _mm256_add_epi32(acc, dot32(g, y[i].qs + 32 * ib, s4, scales16(2 * (sc & 0xF) + 1, 2 * (sc >> 4) + 1)));
        }
        /* apart, so that no compiler fuses them: the reference rounds both */
        const float d = _cvtsh_ss(x[i].d) * y[i].d, t = d * (float)hsum_epi32(acc);
        sumf += t;
    }
    *s = 0.125f * sumf;
}

void cpu_vec_dot_iq3_xxs_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_iq3_xxs *x = vx;
    const cpu_block_q8_k *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const uint8_t *q3 = x[i].qs, *gas = x[i].qs + QK_K / 4;
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib, q3 += 8) {
            const uint32_t sg = le32(gas + 4 * ib);
            const __m256i g = _mm256_setr_epi32((int)cpu_iq3xxs_grid[q3[0]], (int)cpu_iq3xxs_grid[q3[1]],
                                                (int)cpu_iq3xxs_grid[q3[2]], (int)cpu_iq3xxs_grid[q3[3]],
                                                (int)cpu_iq3xxs_grid[q3[4]], (int)cpu_iq3xxs_grid[q3[5]],
                                                (int)cpu_iq3xxs_grid[q3[6]], (int)cpu_iq3xxs_grid[q3[7]]);
            const uint32_t s4 = signs8(sg & 127) | signs8((sg >> 7) & 127) << 8 | signs8((sg >> 14) & 127) << 16 |
                                signs8((sg >> 21) & 127) << 24;
            const int ls = 2 * (int)(sg >> 28) + 1;
            acc = _mm256_add_epi32(acc, dot32(g, y[i].qs + 32 * ib, s4, _mm256_set1_epi16((short)ls)));
        }
        /* apart, so that no compiler fuses them: the reference rounds both */
        const float d = _cvtsh_ss(x[i].d) * y[i].d, t = d * (float)hsum_epi32(acc);
        sumf += t;
    }
    *s = 0.25f * sumf;
}

/* IQ1_S: the lattice is signed ({-1, 0, 1}), so the product is
 * |g| (u8) times y with g's sign; the delta part takes Q8_K's sums of 16
 * as ggml's kernels do (the reference sums the same bytes itself) */
void cpu_vec_dot_iq1_s_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const cpu_block_iq1_s *x = vx;
    const cpu_block_q8_k *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        __m256i acc = _mm256_setzero_si256();
        int32_t sumd = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const uint32_t h = x[i].qh[ib];
            const uint8_t *qs = x[i].qs + 4 * ib;
            const __m256i g = _mm256_setr_epi64x((long long)cpu_iq1s_grid[qs[0] | (h & 7) << 8],
                                                 (long long)cpu_iq1s_grid[qs[1] | ((h >> 3) & 7) << 8],
                                                 (long long)cpu_iq1s_grid[qs[2] | ((h >> 6) & 7) << 8],
                                                 (long long)cpu_iq1s_grid[qs[3] | ((h >> 9) & 7) << 8]);
            const __m256i yv = _mm256_loadu_si256((const __m256i *)(y[i].qs + 32 * ib));
            const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(g), _mm256_sign_epi8(yv, g));
            const int ls = 2 * (int)((h >> 12) & 7) + 1;
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16((short)ls)));
            const int ysum = y[i].bsums[2 * ib] + y[i].bsums[2 * ib + 1];
            sumd += ls * (h & 0x8000 ? -ysum : ysum);
        }
        const float dxy = _cvtsh_ss(x[i].d) * y[i].d;
        const float inner = (float)hsum_epi32(acc) + CPU_IQ1_DELTA * (float)sumd, t = dxy * inner;
        sumf += t;
    }
    *s = sumf;
}
