// mmq.hip: a matmul group's products for many tokens at once, on the
// matrix units (prelude.hip's rf_mma16: mma.sync on NVIDIA, MFMA on AMD).
//
//   y[t, j] = epilogue( W[j, :] · x[t, :] )
//
// A block computes BM tokens by BN columns of one product (of both products
// of a GLU pair, whose gate and up sums meet in the epilogue); its WAVES
// wavefronts each take WM tokens by WN columns of it, as 16x16 tiles. The
// K dimension runs in steps of BK: each step stages the activations' and the
// weights' BK-wide tiles into shared memory as f16, then every wavefront
// multiplies its tiles. Two buffers alternate, so a step stages the next
// tiles while it multiplies the current ones, with one barrier a step.
//
// Staging converts. The weights stay in their GGUF blocks in memory and
// are dequantized here (templates/quant.hip's rf_deq_TYPE, f32, rounded to
// f16), so every type the decode kernels read runs here too. The
// activations are the actq kernel's rows the decode products read: int8
// values with one f32 scale per 32 (q * d, rounded to f16), or for f16
// weights f32 rows of f16 values. The matrix units then sum the same
// quantized activations the CPU's products see, in f32.
//
// A tile's k positions are not consecutive: staging takes a type's chunks
// (quant.hip: chunk c of a block holds elements a(c)..+3 and b(c)..+3) in
// order, each eight consecutive halves of a row in shared memory, and
// gathers the activations' same elements into the same places. A dot
// product does not depend on the order of its terms, and a chunk's bytes are
// consecutive in the weight row, so the weights are read in order with
// 16-byte stores to shared memory, whatever the block format.
//
// Blocks are numbered so that the BM-token tiles of one column tile run
// next to each other: they read the same weights, which the L2 cache then
// serves from one read of memory.
//
// Split-K (SPLIT > 1, for steps of few rows, whose column tiles alone are
// too few blocks to fill the device): a column tile's K loop is cut into
// SPLIT ranges, each a block of its own, and rf_ksplit_merge meets the
// partial sums in the block that finishes last, which runs the epilogue.
#define K {{K}}     // input features
#define BM {{BM}}   // tokens a block
#define BN {{BN}}   // columns a block (of each product of a GLU pair)
#define WM {{WM}}   // tokens a wavefront
#define WN {{WN}}   // columns a wavefront
#define NA {{NA}}   // activation tiles a step stages: 2 when a GLU pair's two types order k differently
#define NP {{NP}}   // weight tiles a step stages: 2 for a GLU pair
#define QINV {{QINV}} // 1: the int8 rows carry the products' 1/rms (xq0: the first)
#define I8 {{I8}}     // 1: int8 tiles (quantized weights); 0: f16 tiles
#define QS {{QS}}     // int8 tiles: quads (32 k) a step
#define SPLIT {{SPLIT}} // K ranges a column tile's sums are cut into (1: none)
#define KSPLIT_TILES {{KSPLIT_TILES}} // split-K counters before the partials (codegen's CG_KSPLIT_TILES)
#define BK 32
#define LDS (BK + 8) // halves a tile row takes in shared memory: 16 bytes of padding keep ldmatrix free of bank conflicts
#define WAVES ((BM / WM) * (BN / WN))
#define NTH (WAVES * RF_WAVE)
#define MI (WM / 16)
#define NI (WN / 16)
#define XROW RF_XROW(K) // bytes of an int8 activation row (prelude.hip)

// The activation tile at k position kp (of TYPE's chunk order) into dst:
// from int8 rows (AQ) or f32 rows (AF) at xs
#define RF_STAGE_AQ(TYPE, xs, kp, dst)                                                             \
    for (int i = threadIdx.x; i < BM * (BK / 8); i += NTH) {                                       \
        const int r = i / (BK / 8), p = (kp) + i % (BK / 8) * 8;                                   \
        const int blk = p / RF_QK_##TYPE, c = p % RF_QK_##TYPE / 8;                                \
        const int ka = blk * RF_QK_##TYPE + rf_a_##TYPE(c), kb = blk * RF_QK_##TYPE + rf_b_##TYPE(c); \
        const unsigned char *xt = (xs) + (size_t)min(m0 + r, T - 1) * XROW;                        \
        const unsigned int qa = rf_ld_u32(xt + ka), qb = rf_ld_u32(xt + kb);                       \
        const float da = ((const float *)(xt + K))[ka / 32], db = ((const float *)(xt + K))[kb / 32]; \
        rf_u32x4 h;                                                                                \
        h.x = rf_pack_h2(da * (float)rf_i8(qa, 0), da * (float)rf_i8(qa, 1));                      \
        h.y = rf_pack_h2(da * (float)rf_i8(qa, 2), da * (float)rf_i8(qa, 3));                      \
        h.z = rf_pack_h2(db * (float)rf_i8(qb, 0), db * (float)rf_i8(qb, 1));                      \
        h.w = rf_pack_h2(db * (float)rf_i8(qb, 2), db * (float)rf_i8(qb, 3));                      \
        *(rf_u32x4 *)((dst) + r * LDS + i % (BK / 8) * 8) = h;                                     \
    }
#define RF_STAGE_AF(TYPE, xs, kp, dst)                                                             \
    for (int i = threadIdx.x; i < BM * (BK / 8); i += NTH) {                                       \
        const int r = i / (BK / 8), p = (kp) + i % (BK / 8) * 8;                                   \
        const int blk = p / RF_QK_##TYPE, c = p % RF_QK_##TYPE / 8;                                \
        const int ka = blk * RF_QK_##TYPE + rf_a_##TYPE(c), kb = blk * RF_QK_##TYPE + rf_b_##TYPE(c); \
        const float *xt = (xs) + (size_t)min(m0 + r, T - 1) * K;                                   \
        const float4 a = rf_load4(xt + ka), b = rf_load4(xt + kb);                                 \
        rf_u32x4 h;                                                                                \
        h.x = rf_pack_h2(a.x, a.y);                                                                \
        h.y = rf_pack_h2(a.z, a.w);                                                                \
        h.z = rf_pack_h2(b.x, b.y);                                                                \
        h.w = rf_pack_h2(b.z, b.w);                                                                \
        *(rf_u32x4 *)((dst) + r * LDS + i % (BK / 8) * 8) = h;                                     \
    }

// The weight tile at k position kp: rows j0.. of a product of N rows of
// rowb bytes at wt (rows past N repeat the last: computed, not stored)
#define RF_STAGE_B(TYPE, wt, rowb, N, kp, dst)                                                      \
    for (int i = threadIdx.x; i < BN * (BK / 8); i += NTH) {                                       \
        const int n = i / (BK / 8), p = (kp) + i % (BK / 8) * 8;                                   \
        const int blk = p / RF_QK_##TYPE, c = p % RF_QK_##TYPE / 8;                                \
        float v[8];                                                                                \
        rf_deq_##TYPE((wt) + (size_t)min(j0 + n, (N) - 1) * (rowb) + (size_t)blk * RF_QB_##TYPE, c, v); \
        rf_u32x4 h;                                                                                \
        h.x = rf_pack_h2(v[0], v[1]);                                                              \
        h.y = rf_pack_h2(v[2], v[3]);                                                              \
        h.z = rf_pack_h2(v[4], v[5]);                                                              \
        h.w = rf_pack_h2(v[6], v[7]);                                                              \
        *(rf_u32x4 *)((dst) + n * LDS + i % (BK / 8) * 8) = h;                                     \
    }

// ---- int8 tiles (I8): the integer products of the decode kernels' RF_QDOT,
// on the matrix units. A step stages QS quads a row (templates/quant.hip:
// 32 weights of four chunks, whose "a" runs and "b" runs are two runs of 16
// consecutive elements, each with one weight scale s and min m a row, and
// one activation scale d a token): the a runs' bytes, then the b runs'.
// Each half is one k = 16 product of exact int32 sums I, and
// acc += d_t (s_n I + m_n sum_t), sum_t the activations' sum over the run:
// the CPU's arithmetic, in another order.
#define BK8 (32 * QS) // k a step of int8 tiles
#define LDB (BK8 + 16) // bytes a tile row takes in shared memory: 16 of padding keep ldmatrix free of bank conflicts
#define RF_STAGE_AI(TYPE, xs, kp, a)                                                               \
    for (int i = threadIdx.x; i < BM * 2 * QS; i += NTH) {                                         \
        const int r = i / (2 * QS), u = i % (2 * QS), hf = u % 2, p = (kp) + u / 2 * 32;           \
        const int blk = p / RF_QK_##TYPE, c4 = p % RF_QK_##TYPE / 32;                              \
        const int k0 = blk * RF_QK_##TYPE + (hf ? rf_b_##TYPE(4 * c4) : rf_a_##TYPE(4 * c4));      \
        const unsigned char *xt = (xs) + (size_t)min(m0 + r, T - 1) * XROW;                        \
        const rf_u32x4 x = rf_ld_u32x4(xt + k0);                                                   \
        *(rf_u32x4 *)(s_a8[buf][a] + r * LDB + u * 16) = x;                                        \
        s_ad[buf][a][r][u] = ((const float *)(xt + K))[k0 / 32];                                   \
        s_as[buf][a][r][u] = (float)rf_sum16(x);                                                   \
    }
#define RF_STAGE_BI(TYPE, wt, rowb, N, kp, b)                                                      \
    for (int i = threadIdx.x; i < BN * QS; i += NTH) {                                             \
        const int n = i / QS, u = i % QS, p = (kp) + u * 32;                                       \
        const int blk = p / RF_QK_##TYPE, c4 = p % RF_QK_##TYPE / 32;                              \
        int q[8];                                                                                  \
        float sc[2], mn[2];                                                                        \
        rf_qw4_##TYPE((wt) + (size_t)min(j0 + n, (N) - 1) * (rowb) + (size_t)blk * RF_QB_##TYPE, c4, q, sc, mn); \
        unsigned char *d = s_b8[buf][b] + n * LDB + u * 32;                                        \
        *(rf_u32x4 *)d = rf_u32x4{(unsigned int)q[0], (unsigned int)q[1], (unsigned int)q[2], (unsigned int)q[3]}; \
        *(rf_u32x4 *)(d + 16) = rf_u32x4{(unsigned int)q[4], (unsigned int)q[5], (unsigned int)q[6], (unsigned int)q[7]}; \
        s_bs[buf][b][n][2 * u] = sc[0];                                                            \
        s_bs[buf][b][n][2 * u + 1] = sc[1];                                                        \
        s_bm[buf][b][n][2 * u] = RF_QMIN_##TYPE ? mn[0] : 0.0f;                                    \
        s_bm[buf][b][n][2 * u + 1] = RF_QMIN_##TYPE ? mn[1] : 0.0f;                                \
    }
// acc += the staged quads' products (activation tile a, weight tile b of
// a type with mins when QMIN: without them the min term is compiled out).
// Where a quad's two halves share their scales (SAME: the 32-element block
// types and iq4_xs, RF_QSAME_T), both halves sum into one int32 product
// and the scales apply once a quad; otherwise once a half.
#define RF_MMA8_STEP(a, b, acc, QMIN, SAME)                                                        \
    _Pragma("unroll 1") for (int u = 0; u < (SAME ? QS : 2 * QS); u++) {                           \
        rf_mma8_a fa[MI];                                                                          \
        rf_mma8_b fb[NI];                                                                          \
        int c[MI][NI][RF_MMA_NC];                                                                  \
        _Pragma("unroll") for (int hh = 0; hh < (SAME ? 2 : 1); hh++) {                            \
            const int hf = SAME ? 2 * u + hh : u;                                                  \
            _Pragma("unroll") for (int mi = 0; mi < MI; mi++)                                      \
                rf_mma8_ld_a(fa[mi], s_a8[buf][a] + (wm * WM + mi * 16) * LDB + hf * 16, LDB);     \
            _Pragma("unroll") for (int ni = 0; ni < NI; ni++)                                      \
                rf_mma8_ld_b(fb[ni], s_b8[buf][b] + (wn * WN + ni * 16) * LDB + hf * 16, LDB);     \
            _Pragma("unroll") for (int mi = 0; mi < MI; mi++)                                      \
                _Pragma("unroll") for (int ni = 0; ni < NI; ni++) {                                \
                    int ch[RF_MMA_NC];                                                             \
                    rf_mma8(ch, fa[mi], fb[ni]);                                                   \
                    _Pragma("unroll") for (int q = 0; q < RF_MMA_NC; q++)                          \
                        c[mi][ni][q] = hh ? c[mi][ni][q] + ch[q] : ch[q];                          \
                }                                                                                  \
        }                                                                                          \
        const int h0 = SAME ? 2 * u : u; /* the scales: the first half's (the second's are equal) */ \
        _Pragma("unroll") for (int mi = 0; mi < MI; mi++)                                          \
            _Pragma("unroll") for (int ni = 0; ni < NI; ni++)                                      \
                _Pragma("unroll") for (int q = 0; q < RF_MMA_NC; q++) {                            \
                    const int tr = wm * WM + mi * 16 + rf_mma_row(q), nc = wn * WN + ni * 16 + rf_mma_col(q); \
                    const float ws = s_bs[buf][b][nc][h0] * (float)c[mi][ni][q];                   \
                    const float xs = SAME ? s_as[buf][a][tr][h0] + s_as[buf][a][tr][h0 + 1]        \
                                          : s_as[buf][a][tr][h0];                                  \
                    acc[mi][ni][q] += s_ad[buf][a][tr][h0] * (QMIN ? ws + s_bm[buf][b][nc][h0] * xs : ws); \
                }                                                                                  \
    }

// acc (this wavefront's MI x NI tiles) += the staged tiles' product; the
// GLU form multiplies one activation tile with two weight tiles
#define RF_MMA_STEP(sa, sb, acc)                                                                   \
    _Pragma("unroll") for (int kk = 0; kk < BK; kk += 16) {                                        \
        rf_mma_frag fa[MI], fb[NI];                                                                \
        _Pragma("unroll") for (int mi = 0; mi < MI; mi++)                                          \
            rf_mma_ld_a(fa[mi], (sa) + (wm * WM + mi * 16) * LDS + kk, LDS);                       \
        _Pragma("unroll") for (int ni = 0; ni < NI; ni++)                                          \
            rf_mma_ld_b(fb[ni], (sb) + (wn * WN + ni * 16) * LDS + kk, LDS);                       \
        _Pragma("unroll") for (int mi = 0; mi < MI; mi++)                                          \
            _Pragma("unroll") for (int ni = 0; ni < NI; ni++)                                      \
                rf_mma16(acc[mi][ni], fa[mi], fb[ni]);                                             \
    }
#define RF_MMA_STEP2(sa, sb0, acc0, sb1, acc1)                                                     \
    _Pragma("unroll") for (int kk = 0; kk < BK; kk += 16) {                                        \
        rf_mma_frag fa[MI], fb0[NI], fb1[NI];                                                      \
        _Pragma("unroll") for (int mi = 0; mi < MI; mi++)                                          \
            rf_mma_ld_a(fa[mi], (sa) + (wm * WM + mi * 16) * LDS + kk, LDS);                       \
        _Pragma("unroll") for (int ni = 0; ni < NI; ni++) {                                        \
            rf_mma_ld_b(fb0[ni], (sb0) + (wn * WN + ni * 16) * LDS + kk, LDS);                     \
            rf_mma_ld_b(fb1[ni], (sb1) + (wn * WN + ni * 16) * LDS + kk, LDS);                     \
        }                                                                                          \
        _Pragma("unroll") for (int mi = 0; mi < MI; mi++)                                          \
            _Pragma("unroll") for (int ni = 0; ni < NI; ni++) {                                    \
                rf_mma16(acc0[mi][ni], fa[mi], fb0[ni]);                                           \
                rf_mma16(acc1[mi][ni], fa[mi], fb1[ni]);                                           \
            }                                                                                      \
    }

// The K loop, KSTEP k a step: STAGE fills buffer buf's tiles at k position
// kp, MULTIPLY multiplies buffer buf's; the next step's tiles are staged
// into the other buffer before this step's multiply
#if I8
#define KSTEP BK8
#else
#define KSTEP BK
#endif
// this block's K steps: range kz of SPLIT (all of them without split-K)
#define KT0 (kz * (K / KSTEP) / SPLIT)
#define KT1 ((kz + 1) * (K / KSTEP) / SPLIT)
#define RF_MMQ_LOOP(STAGE, MULTIPLY)                                                               \
    {                                                                                              \
        {                                                                                          \
            const int kp = KT0 * KSTEP, buf = 0;                                                   \
            STAGE;                                                                                 \
        }                                                                                          \
        __syncthreads();                                                                           \
        for (int kt = KT0; kt < KT1; kt++) {                                                       \
            if (kt + 1 < KT1) {                                                                    \
                const int kp = (kt + 1) * KSTEP, buf = (kt + 1 - KT0) & 1;                         \
                STAGE;                                                                             \
            }                                                                                      \
            {                                                                                      \
                const int buf = (kt - KT0) & 1;                                                    \
                MULTIPLY;                                                                          \
            }                                                                                      \
            __syncthreads();                                                                       \
        }                                                                                          \
    }

#if SPLIT > 1
// Split-K: this block's N sums a thread (of each of NACC accumulators:
// a0, and a1 for a GLU pair's up product) are range kz's partials of tile
// `tile`. They go to ksp (the counters, then [tile][range][sum][thread]),
// and the block that takes the last ticket adds every range's in range
// order (the same sums whichever block is last), leaves them in a0/a1
// and returns true; the others return false and end. The last block
// zeroes the tile's counter again for the next launch.
template <int N, int NACC>
RF_DEV bool rf_ksplit_merge(float *a0, float *a1, float *ksp, int tile, int kz)
{
    unsigned int *cnt = (unsigned int *)ksp;
    float *part = ksp + KSPLIT_TILES + (size_t)tile * SPLIT * NACC * N * NTH;
#pragma unroll
    for (int e = 0; e < N; e++) {
        part[((size_t)kz * NACC * N + e) * NTH + threadIdx.x] = a0[e];
        if (NACC == 2)
            part[((size_t)kz * NACC * N + N + e) * NTH + threadIdx.x] = a1[e];
    }
    __threadfence(); // every thread's partials are visible before the ticket is
    __syncthreads();
    __shared__ int s_last;
    if (threadIdx.x == 0)
        s_last = atomicAdd(cnt + tile, 1u) == SPLIT - 1;
    __syncthreads();
    if (!s_last)
        return false;
    __threadfence();
    const volatile float *all = part; // other blocks' writes: from L2, not this one's L1
#pragma unroll
    for (int e = 0; e < N; e++) {
        float s0 = 0.0f, s1 = 0.0f;
        for (int z = 0; z < SPLIT; z++) {
            s0 += all[((size_t)z * NACC * N + e) * NTH + threadIdx.x];
            if (NACC == 2)
                s1 += all[((size_t)z * NACC * N + N + e) * NTH + threadIdx.x];
        }
        a0[e] = s0;
        if (NACC == 2)
            a1[e] = s1;
    }
    if (threadIdx.x == 0)
        cnt[tile] = 0;
    return true;
}
#endif

// the products' factor for token t: the int8 rows' 1/rms (1 after actq's
// own normalisation)
#if QINV
#define RF_INV(t) (*(const float *)(xq0 + (size_t)(t) * XROW + RF_XINV(K)))
#else
#define RF_INV(t) 1.0f
#endif

extern "C" __global__ void __launch_bounds__(NTH)
{{NAME}}({{PARAMS}}int T, const int *__restrict__ past)
{
    const int P = *past; // positions already in the cache: read here, so a captured step serves every P
    (void)P;
#if I8
    __shared__ __align__(16) unsigned char s_a8[2][NA][BM * LDB];
    __shared__ __align__(16) unsigned char s_b8[2][NP][BN * LDB];
    __shared__ float s_ad[2][NA][BM][2 * QS], s_as[2][NA][BM][2 * QS]; // a token's scale and sum, each half
    __shared__ float s_bs[2][NP][BN][2 * QS], s_bm[2][NP][BN][2 * QS]; // a row's scale and min, each half
#else
    __shared__ __align__(16) unsigned short s_a[2][NA][BM * LDS];
    __shared__ __align__(16) unsigned short s_b[2][NP][BN * LDS];
#endif
    const int wave = threadIdx.x / RF_WAVE, wm = wave / (BN / WN), wn = wave % (BN / WN);
    // token tiles vary fastest: the blocks in flight share their weight tiles
    const int lin = (int)(blockIdx.x + blockIdx.y * gridDim.x);
    const int m0 = lin % (int)gridDim.y * BM, nt = lin / (int)gridDim.y / SPLIT;
    const int kz = lin / (int)gridDim.y % SPLIT; // the K range (split-K)
    const int tile = nt * (int)gridDim.y + (int)(lin % gridDim.y); // split-K's counter
    (void)kz;
    (void)tile;
{{SETUP}}{{BODY}}}
