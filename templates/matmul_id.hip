// matmul_id.hip: the chosen experts' products of a mixture-of-experts layer.
//
//   y[t, s, n] = W[ids[t, s]][n, :] · x[t, :]  [+ bias[ids[t, s]][n]]   (or x[t, s, :]: PER_SLOT)
//
// Only the experts a token chose are read: the ids stay on the device, and
// block (b, t) of the grid (SLOTS * CB, T) takes token t's slot s = b / CB
// and its column block b % CB of WAVES * ROWS columns of that expert's N,
// each wavefront ROWS adjacent columns. A decode step (T = 1) thus streams
// exactly its SLOTS experts' matrices, once.
//
// The arithmetic is the dense products' (templates/matmul.hip): quantized
// weights meet the activation row converted as the CPU's product sees it
// (Q8_0 / Q8_1 blocks of 32, or Q8_K of 256: KIND 3 / 4), which each block
// makes in shared memory (rf_q8_blocks, as actq would), then a lane takes a
// quad of 32 weights at a time as integer dot products (rf_qw4_T,
// rf_dot16) and scales each half once; f32 / f16 / bf16 weights (KIND 0 /
// 1 / 2) meet the activations rounded to their precision, eight weights a
// chunk. So an expert's product equals the CPU's up to the order of the
// float sums. Prefill runs the same kernel, a block per (token, slot):
// correct, but it reads an expert's matrix once per token that chose it.
//
// An expert GLU (GLU > 0, ir fuse-moe) runs its gate (W) and up (W1)
// products in one kernel over the activations converted once, and writes
// y = glu(gate + bias, up + bias1) instead of the two products.
//
// The down products with their weighted sum (SUM, fuse-moe) write their
// products y as before; then each block takes a ticket of its token's
// column block, and the block of the last ticket (the last slot to finish)
// sums the SLOTS products of its columns, weighted, in slot order (the
// CPU's moe_sum), adds the residual (RESID) and writes out.
//
// Grouped (GROUPED, a prefill step's; ROCMFORGE_MOE_GROUPED): moe_sort.hip
// has put the step's (token, slot) pairs in tiles of at most MT pairs of
// one expert (ex), and block (column block, y) takes tiles y, y +
// gridDim.y, ...: the tile's activation rows converted into shared memory,
// then each weight quad read once for all of them. A pair's sums are the
// per-pair kernel's, term for term, so the results are the same; the
// expert's matrix is read once a tile instead of once a pair. With SUM
// every pair takes its token's ticket.
#define K {{K}}                        // input features
#define N {{N}}                        // output columns of an expert
#define SLOTS {{SLOTS}}                // experts a token uses
#define PER_SLOT {{PER_SLOT}}          // 1: x holds a row per (token, slot); 0: per token
#define WAVES {{WAVES}}
#define ROWS {{ROWS}}                  // columns a wavefront
#define KIND {{KIND}}                  // the activations: 0 f32, 1 f16, 2 bf16, 3 Q8 (32), 4 Q8_K (256)
#define ROW_BYTES {{ROW_BYTES}}        // bytes of a weight row
#define EXPERT_BYTES {{EXPERT_BYTES}}  // bytes of an expert's matrix
#define GLU {{GLU}}                    // 0: one product; 1 swiglu, 2 geglu, 3 swiglu_oai of gate (W) and up (W1)
#define ALPHA {{ALPHA}}                // swiglu_oai's
#define LIMIT {{LIMIT}}
#define SUM {{SUM}}                    // 1: then the weighted sum over the slots (wts, out; counters sum_cnt)
#define RESID {{RESID}}                // 1: and the add of resid after it
#define GROUPED {{GROUPED}}            // 1: tiles of one expert's pairs (moe_sort.hip's ex)
#define MT {{MT}}                      // pairs a tile, at most (GROUPED)
#define MAXP {{MAXP}}                  // where the tiles start in ex (moe_sort.hip)
#define THREADS (WAVES * RF_WAVE)
#define CB ((N + WAVES * ROWS - 1) / (WAVES * ROWS)) // column blocks of an expert

// f32 activations as a weight type's product sees them
RF_DEV float rf_xk(float v) { return KIND == 1 ? rf_round_f16(v) : KIND == 2 ? rf_round_bf16(v) : v; }

// the GLU of an expert pair's gate g and up u, as the elementwise kernels'
RF_DEV float rf_id_glu(float g, float u)
{
    return GLU == 1 ? rf_silu(g) * u : GLU == 2 ? rf_gelu(g) * u : rf_swiglu_oai(g, u, ALPHA, LIMIT);
}

// output column n of expert e from its product v (with GLU the gate's) and
// u (the up product's; 0 without GLU): the expert's bias rows (gpt-oss)
// added after the products, then the GLU; what both kernels store
RF_DEV float rf_id_out(float v, float u, const float *bias, const float *bias1, int e, int n)
{
    const float g = bias ? v + bias[(size_t)e * N + n] : v;
    return GLU ? rf_id_glu(g, bias1 ? u + bias1[(size_t)e * N + n] : u) : g;
}

// acc[r] += row (j + r) of the expert at wp · x over this lane's quads: int8 activations
// (xq values, xd scales per 32) against the weights' integer form
#define RF_ID_QDOT(TYPE, wp, acc)                                                                   \
    for (int qd = lane; qd < K / 32; qd += RF_WAVE) {                                              \
        const int blk = qd / (RF_QK_##TYPE / 32), c4 = qd % (RF_QK_##TYPE / 32);                   \
        const int ka = blk * RF_QK_##TYPE + rf_a_##TYPE(4 * c4);                                   \
        const int kb = blk * RF_QK_##TYPE + rf_b_##TYPE(4 * c4);                                   \
        const rf_u32x4 xa = *(const rf_u32x4 *)(s_q + ka), xb = *(const rf_u32x4 *)(s_q + kb);     \
        const float da = s_d[ka / 32], db = s_d[kb / 32];                                          \
        _Pragma("unroll") for (int r = 0; r < ROWS; r++) {                                         \
            int q[8];                                                                              \
            float s[2], m[2];                                                                      \
            rf_qw4_##TYPE((wp) + (size_t)(j + r) * ROW_BYTES + (size_t)blk * RF_QB_##TYPE, c4, q, s, m); \
            float va = s[0] * (float)rf_dot16(q, xa), vb = s[1] * (float)rf_dot16(q + 4, xb);      \
            if (RF_QMIN_##TYPE) {                                                                  \
                va += m[0] * (float)rf_sum16(xa);                                                  \
                vb += m[1] * (float)rf_sum16(xb);                                                  \
            }                                                                                      \
            acc[r] += da * va + db * vb;                                                           \
        }                                                                                          \
    }

// RF_ID_QDOT for the cnt (<= MT) pairs of a tile: acc[r][m] += row (j + r)
// of the expert at wp · pair m's int8 row (s_q[m], s_d[m]), each weight quad
// read once; pair m's terms are RF_ID_QDOT's, in its order
#define RF_ID_QDOT_MT(TYPE, wp, acc)                                                                \
    for (int qd = lane; qd < K / 32; qd += RF_WAVE) {                                              \
        const int blk = qd / (RF_QK_##TYPE / 32), c4 = qd % (RF_QK_##TYPE / 32);                   \
        const int ka = blk * RF_QK_##TYPE + rf_a_##TYPE(4 * c4);                                   \
        const int kb = blk * RF_QK_##TYPE + rf_b_##TYPE(4 * c4);                                   \
        _Pragma("unroll") for (int r = 0; r < ROWS; r++) {                                         \
            int q[8];                                                                              \
            float s[2], m[2];                                                                      \
            rf_qw4_##TYPE((wp) + (size_t)(j + r) * ROW_BYTES + (size_t)blk * RF_QB_##TYPE, c4, q, s, m); \
            _Pragma("unroll") for (int mt = 0; mt < MT; mt++) {                                    \
                if (mt < cnt) {                                                                    \
                    const rf_u32x4 xa = *(const rf_u32x4 *)(s_q[mt] + ka), xb = *(const rf_u32x4 *)(s_q[mt] + kb); \
                    const float da = s_d[mt][ka / 32], db = s_d[mt][kb / 32];                      \
                    float va = s[0] * (float)rf_dot16(q, xa), vb = s[1] * (float)rf_dot16(q + 4, xb); \
                    if (RF_QMIN_##TYPE) {                                                          \
                        va += m[0] * (float)rf_sum16(xa);                                          \
                        vb += m[1] * (float)rf_sum16(xb);                                          \
                    }                                                                              \
                    acc[r][mt] += da * va + db * vb;                                               \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

// the same for float weights: eight weights a chunk against the rounded
// activations
#define RF_ID_DOT(TYPE, wp, acc)                                                                    \
    for (int ch = lane; ch < K / 8; ch += RF_WAVE) {                                               \
        const int blk = ch / (RF_QK_##TYPE / 8), c = ch % (RF_QK_##TYPE / 8);                      \
        const int ka = blk * RF_QK_##TYPE + rf_a_##TYPE(c), kb = blk * RF_QK_##TYPE + rf_b_##TYPE(c); \
        const float4 a = rf_load4(xr + ka), b = rf_load4(xr + kb);                                 \
        const float xa0 = rf_xk(a.x), xa1 = rf_xk(a.y), xa2 = rf_xk(a.z), xa3 = rf_xk(a.w);        \
        const float xb0 = rf_xk(b.x), xb1 = rf_xk(b.y), xb2 = rf_xk(b.z), xb3 = rf_xk(b.w);        \
        _Pragma("unroll") for (int r = 0; r < ROWS; r++) {                                         \
            float wv[8];                                                                           \
            rf_deq_##TYPE((wp) + (size_t)(j + r) * ROW_BYTES + (size_t)blk * RF_QB_##TYPE, c, wv);  \
            acc[r] += wv[0] * xa0 + wv[1] * xa1 + wv[2] * xa2 + wv[3] * xa3 + wv[4] * xb0 +        \
                      wv[5] * xb1 + wv[6] * xb2 + wv[7] * xb3;                                     \
        }                                                                                          \
    }

#if RESID
#define RF_RESID resid
#else
#define RF_RESID ((const float *)0)
#endif

#if SUM
// token t's weighted sum over its slots' products y[t, :, cols of block cb]
// (other blocks' stores: from L2, not this one's L1), in slot order, plus
// the residual; the caller took the token's last ticket
RF_DEV void rf_id_sum(const float *y, const float *wts, const float *resid, float *out, int t, int cb)
{
    const volatile float *yv = y + (size_t)t * SLOTS * N;
    for (int c = threadIdx.x; c < WAVES * ROWS; c += THREADS) {
        const int jj = cb * WAVES * ROWS + c;
        if (jj >= N)
            break;
        float o = yv[jj] * wts[t * SLOTS];
        for (int s = 1; s < SLOTS; s++)
            o += yv[(size_t)s * N + jj] * wts[t * SLOTS + s];
#if RESID
        o += resid[(size_t)t * N + jj];
#endif
        out[(size_t)t * N + jj] = o;
    }
}
#endif

#if GROUPED
extern "C" __global__ void __launch_bounds__(THREADS)
{{NAME}}({{PARAMS}}int T, const int *__restrict__ past)
{
    (void)T; (void)past;
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE, cb = blockIdx.x;
{{SETUP}}    (void)ids;
    const int n_tiles = ex[0];
    const int *pairs = ex + 1, *tiles = ex + 1 + MAXP;
    __shared__ __attribute__((aligned(16))) unsigned char s_q[MT][K];
    __shared__ float s_d[MT][K / 32];
    __shared__ int s_p[MT];
#if SUM
    __shared__ int s_last[MT];
#endif
    const int j = (cb * WAVES + wave) * ROWS; // this wavefront's first column (N % ROWS == 0)
    for (int ti = blockIdx.y; ti < n_tiles; ti += gridDim.y) {
        const int e = tiles[3 * ti], start = tiles[3 * ti + 1], cnt = tiles[3 * ti + 2];
        __syncthreads(); // the previous tile's rows are read
        if (threadIdx.x < MT)
            s_p[threadIdx.x] = threadIdx.x < cnt ? pairs[start + threadIdx.x] : 0;
        __syncthreads();
        for (int r = 0; r < cnt; r++) {
            const float *xr = x + (size_t)(PER_SLOT ? s_p[r] : s_p[r] / SLOTS) * K;
            rf_q8_blocks<KIND == 3 ? 32 : 256, KIND == 4>(xr, 0, 1.0f, false, 0, K / (KIND == 3 ? 32 : 256), WAVES,
                                                         s_q[r], s_d[r]);
        }
        __syncthreads();
        const unsigned char *we = W + (size_t)e * EXPERT_BYTES;
#if GLU
        const unsigned char *we1 = W1 + (size_t)e * EXPERT_BYTES;
#endif
        if (j < N) {
            float acc[ROWS][MT] = {};
#if GLU
            float acc1[ROWS][MT] = {};
#endif
{{BODY}}
#pragma unroll
            for (int r = 0; r < ROWS; r++)
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    if (mt >= cnt)
                        continue;
                    const float v = rf_wave_sum(acc[r][mt]);
#if GLU
                    const float u = rf_wave_sum(acc1[r][mt]);
#else
                    const float u = 0.0f;
#endif
                    if (lane == 0)
                        y[(size_t)s_p[mt] * N + j + r] = rf_id_out(v, u, bias, bias1, e, j + r);
                }
        }
#if SUM
        __threadfence(); // the products are visible before the tickets are
        __syncthreads();
        if (threadIdx.x < cnt)
            s_last[threadIdx.x] = atomicAdd(sum_cnt + (size_t)(s_p[threadIdx.x] / SLOTS) * CB + cb, 1u) == SLOTS - 1;
        __syncthreads();
        for (int r = 0; r < cnt; r++)
            if (s_last[r]) {
                __threadfence();
                rf_id_sum(y, wts, RF_RESID, out, s_p[r] / SLOTS, cb);
                if (threadIdx.x == 0)
                    sum_cnt[(size_t)(s_p[r] / SLOTS) * CB + cb] = 0; // zero again for the next launch
            }
#endif
    }
}
#else
extern "C" __global__ void __launch_bounds__(THREADS)
{{NAME}}({{PARAMS}}int T, const int *__restrict__ past)
{
    (void)T; (void)past;
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE;
    const int t = blockIdx.y, slot = blockIdx.x / CB, cb = blockIdx.x % CB;
{{SETUP}}    const int e = ids[t * SLOTS + slot];
    const float *xr = x + (size_t)(PER_SLOT ? t * SLOTS + slot : t) * K;
    const unsigned char *we = W + (size_t)e * EXPERT_BYTES;
#if GLU
    const unsigned char *we1 = W1 + (size_t)e * EXPERT_BYTES;
#endif
#if KIND >= 3
    __shared__ __attribute__((aligned(16))) unsigned char s_q[K];
    __shared__ float s_d[K / 32];
    rf_q8_blocks<KIND == 3 ? 32 : 256, KIND == 4>(xr, 0, 1.0f, false, 0, K / (KIND == 3 ? 32 : 256), WAVES, s_q, s_d);
    __syncthreads();
#endif
    const int j = (cb * WAVES + wave) * ROWS; // this wavefront's first column (N % ROWS == 0)
    if (j < N) { // past the last column a wavefront has none
        float acc[ROWS] = {};
#if GLU
        float acc1[ROWS] = {};
#endif
{{BODY}}
        float *yr = y + ((size_t)t * SLOTS + slot) * N;
#pragma unroll
        for (int r = 0; r < ROWS; r++) {
            const float v = rf_wave_sum(acc[r]);
#if GLU
            const float u = rf_wave_sum(acc1[r]);
#else
            const float u = 0.0f;
#endif
            if (lane == 0)
                yr[j + r] = rf_id_out(v, u, bias, bias1, e, j + r);
        }
    }
#if SUM
    __threadfence(); // the products are visible before the ticket is
    __syncthreads();
    __shared__ int s_last;
    unsigned int *cnt = sum_cnt + (size_t)t * CB + cb;
    if (threadIdx.x == 0)
        s_last = atomicAdd(cnt, 1u) == SLOTS - 1;
    __syncthreads();
    if (!s_last)
        return;
    __threadfence();
    rf_id_sum(y, wts, RF_RESID, out, t, cb);
    if (threadIdx.x == 0)
        *cnt = 0; // zero again for the next launch
{{TAIL}}#endif
}
#endif
