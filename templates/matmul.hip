// matmul.hip: the matrix products of one fused group, with their prologue
// and epilogue, in one kernel.
//
//   y[t, j] = epilogue( W[j, :] · x'[t, :] )     x' = x / rms(x) * norm_w  when NORM
//
// The group's products all read the same activation x[T, K] (Q/K/V, or
// gate/up); their output columns are numbered one after another (or, for a
// GLU pair, column j computes both the gate and the up row j). One wavefront
// computes ROWS adjacent output columns for MT tokens: its lanes walk the
// weight rows in chunks of eight weights (templates/quant.hip), so each
// weight byte is read once, in order, across the wavefront, and each
// activation chunk, loaded once, serves the ROWS rows. Decode renders MT = 1
// with several rows and the chunk loop unrolled, so many loads are in flight
// per lane; prefill renders MT tokens with one row, so a weight chunk, once
// unpacked, serves MT tokens.
//
// When the group's weights are quantized, an actq kernel has already
// normalised x and converted it as the CPU's products see it
// (templates/actq.hip); each product reads its kind's rows. With f32 weights
// the RMS norm runs here as a prologue: each block makes one pass over its
// MT rows of x; 1/rms(x[t]) factors out of the dot product, so the weights
// are scaled by norm_w once per chunk and the sum by 1/rms once per token.
//
// The epilogue (bias, residual, GLU gating, softcap, scale) runs on the
// reduced values, lane L taking column j + L / MT for token L % MT, and only
// values used outside the group are stored.
#define K {{K}}           // input features
#define NCOLS {{NCOLS}}   // output columns this kernel computes
#define MT {{MT}}         // tokens per block
#define ROWS {{ROWS}}     // output columns per wavefront (weight rows sharing each activation load)
#define WAVES {{WAVES}}   // wavefronts per block
#define NORM {{NORM}}     // 1: RMS-normalise x first
#define EPS {{EPS}}       // the norm's epsilon
#define NORM_W {{NORM_W}} // 1: the norm has a weight

#if MT == 1
#define RF_UNROLL _Pragma("unroll 4")
#else
#define RF_UNROLL _Pragma("unroll 1")
#endif

// acc[r][u] += W[row r] · xs[tok[u]] over this lane's chunks; the rows are
// rowb bytes apart, the activation chunk is loaded once for all ROWS rows
#define RF_DOT(TYPE, row, rowb, acc, xs)                                                           \
    RF_UNROLL for (int it = 0; it < (K / 8 + RF_WAVE - 1) / RF_WAVE; it++) {                      \
        const int ch = lane + it * RF_WAVE;                                                        \
        if (K / 8 % RF_WAVE != 0 && ch >= K / 8)                                                   \
            break;                                                                                 \
        const int blk = ch / (RF_QK_##TYPE / 8), c = ch % (RF_QK_##TYPE / 8);                      \
        const int ka = blk * RF_QK_##TYPE + rf_a_##TYPE(c), kb = blk * RF_QK_##TYPE + rf_b_##TYPE(c); \
        float4 xa[MT], xb[MT];                                                                     \
        _Pragma("unroll") for (int u = 0; u < MT; u++) {                                           \
            const float *xt = (xs) + (size_t)tok[u] * K;                                           \
            xa[u] = rf_load4(xt + ka);                                                             \
            xb[u] = rf_load4(xt + kb);                                                             \
        }                                                                                          \
        _Pragma("unroll") for (int r = 0; r < ROWS; r++) {                                         \
            float w[8];                                                                            \
            rf_deq_##TYPE((row) + (size_t)r * (rowb) + (size_t)blk * RF_QB_##TYPE, c, w);          \
            if (NORM && NORM_W) {                                                                  \
                const float4 na = rf_load4(nw + ka), nb = rf_load4(nw + kb);                       \
                w[0] *= na.x; w[1] *= na.y; w[2] *= na.z; w[3] *= na.w;                            \
                w[4] *= nb.x; w[5] *= nb.y; w[6] *= nb.z; w[7] *= nb.w;                            \
            }                                                                                      \
            _Pragma("unroll") for (int u = 0; u < MT; u++)                                         \
                acc[r][u] += w[0] * xa[u].x + w[1] * xa[u].y + w[2] * xa[u].z + w[3] * xa[u].w +   \
                             w[4] * xb[u].x + w[5] * xb[u].y + w[6] * xb[u].z + w[7] * xb[u].w;    \
        }                                                                                          \
    }

// v = the full sum lane L finishes: row L / MT, token L % MT (lanes past
// ROWS * MT repeat the last)
#define RF_REDUCE(acc, v)                                                                          \
    float v = 0.0f;                                                                                \
    _Pragma("unroll") for (int r = 0; r < ROWS; r++)                                               \
        _Pragma("unroll") for (int u = 0; u < MT; u++) {                                           \
            const float s = rf_wave_sum(acc[r][u]) * inv[u];                                       \
            if (lane == r * MT + u || (r * MT + u == ROWS * MT - 1 && lane > r * MT + u))          \
                v = s;                                                                             \
        }

extern "C" __global__ void __launch_bounds__(WAVES * RF_WAVE)
{{NAME}}({{PARAMS}}int T, int P)
{
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE;
    const int j = (blockIdx.x * WAVES + wave) * ROWS; // the first of this wavefront's columns
{{SETUP}}    // this block's token rows; past T they repeat the last (computed, not stored)
    int tok[MT];
#pragma unroll
    for (int t = 0; t < MT; t++)
        tok[t] = min((int)blockIdx.y * MT + t, T - 1);
    float inv[MT];
#if NORM
    __shared__ float s_inv[MT];
    for (int t = wave; t < MT; t += WAVES) {
        const float *xt = x + (size_t)tok[t] * K;
        float ss = 0.0f;
        for (int k = lane * 4; k < K; k += RF_WAVE * 4) {
            const float4 v = rf_load4(xt + k);
            ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
        ss = rf_wave_sum(ss);
        if (lane == 0)
            s_inv[t] = 1.0f / sqrtf(ss / (float)K + EPS);
    }
    __syncthreads();
#pragma unroll
    for (int t = 0; t < MT; t++)
        inv[t] = s_inv[t];
#else
#pragma unroll
    for (int t = 0; t < MT; t++)
        inv[t] = 1.0f;
#endif
    if (j >= NCOLS)
        return;
    const int t = (int)blockIdx.y * MT + lane % MT; // the token lane `lane` finishes
    const bool store = lane < ROWS * MT && t < T;
    (void)P;
{{BODY}}
}
