// matmul.hip: the matrix products of one fused group, with their prologue
// and epilogue, in one kernel.
//
//   y[t, j] = epilogue( W[j, :] · x'[t, :] )     x' = x / rms(x) * norm_w  when NORM
//
// The group's products all read the same activation x[T, K] (Q/K/V, or
// gate/up); their output columns are numbered one after another (or, for a
// GLU pair, column j computes both the gate and the up row j). One wavefront
// computes one output column for MT tokens: its lanes walk the weight row in
// chunks of eight weights (templates/quant.hip), so each weight byte is read
// once, in order, across the wavefront, while the MT activation rows come
// through the cache. Decode renders MT = 1; prefill renders a batched MT, so
// a weight chunk, once unpacked, serves MT tokens.
//
// When the group's weights are quantized, an actq kernel has already
// normalised x and converted it as the CPU's products see it
// (templates/actq.hip); each product reads its kind's rows. With f32 weights
// the RMS norm runs here as a prologue: each block makes one pass over its
// MT rows of x; 1/rms(x[t]) factors out of the dot product, so the weights
// are scaled by norm_w once per chunk and the sum by 1/rms once per token. The epilogue
// (bias, residual, GLU gating, softcap, scale) runs on the reduced value in
// lane t for token t, and only values used outside the group are stored.
#define K {{K}}           // input features
#define NCOLS {{NCOLS}}   // output columns this kernel computes
#define MT {{MT}}         // tokens per block
#define WAVES {{WAVES}}   // wavefronts per block, one output column each
#define NORM {{NORM}}     // 1: RMS-normalise x first
#define EPS {{EPS}}       // the norm's epsilon
#define NORM_W {{NORM_W}} // 1: the norm has a weight

// acc[t] += W_row · xs[tok[t]] over this lane's chunks of the row
#define RF_DOT(TYPE, row, acc, xs)                                                                   \
    for (int ch = lane; ch < K / 8; ch += RF_WAVE) {                                               \
        const int blk = ch / (RF_QK_##TYPE / 8), c = ch % (RF_QK_##TYPE / 8);                      \
        float w[8];                                                                                \
        rf_deq_##TYPE((row) + (size_t)blk * RF_QB_##TYPE, c, w);                                   \
        const int ka = blk * RF_QK_##TYPE + rf_a_##TYPE(c), kb = blk * RF_QK_##TYPE + rf_b_##TYPE(c); \
        if (NORM && NORM_W) {                                                                      \
            const float4 na = rf_load4(nw + ka), nb = rf_load4(nw + kb);                           \
            w[0] *= na.x; w[1] *= na.y; w[2] *= na.z; w[3] *= na.w;                                \
            w[4] *= nb.x; w[5] *= nb.y; w[6] *= nb.z; w[7] *= nb.w;                                \
        }                                                                                          \
        _Pragma("unroll") for (int u = 0; u < MT; u++) {                                           \
            const float *xt = (xs) + (size_t)tok[u] * K;                                           \
            const float4 xa = rf_load4(xt + ka), xb = rf_load4(xt + kb);                           \
            acc[u] += w[0] * xa.x + w[1] * xa.y + w[2] * xa.z + w[3] * xa.w +                      \
                      w[4] * xb.x + w[5] * xb.y + w[6] * xb.z + w[7] * xb.w;                       \
        }                                                                                          \
    }

// v = the full sum for token `lane` (lanes >= MT get token MT-1's)
#define RF_REDUCE(acc, v)                                                                          \
    float v = 0.0f;                                                                                \
    _Pragma("unroll") for (int u = 0; u < MT; u++) {                                               \
        const float s = rf_wave_sum(acc[u]) * inv[u];                                              \
        if (lane == u || (u == MT - 1 && lane > u))                                                \
            v = s;                                                                                 \
    }

extern "C" __global__ void __launch_bounds__(WAVES * RF_WAVE)
{{NAME}}({{PARAMS}}int T, int P)
{
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE;
    const int j = blockIdx.x * WAVES + wave;
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
    const int t = (int)blockIdx.y * MT + lane; // the token lane `lane` finishes
    const bool store = lane < MT && t < T;
    (void)P;
{{BODY}}
}
