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
// with the chunk loop unrolled UNROLL times, so many loads are in flight per
// lane; prefill renders MT tokens with one row, so a weight chunk, once
// unpacked, serves MT tokens.
//
// Quantized weights meet int8 activations: an actq kernel has already
// normalised x and quantized it as the CPU's products see it
// (templates/actq.hip): per row, K int8 values then K/32 f32 scales, one per
// 32 elements (XROW bytes a row). In RF_QDOT a lane takes a quad of four chunks (32 weights sharing their scales,
// rf_qw4_T) as eight 4-way integer dot products against the activations'
// bytes (rf_dp4a), and scales each half once:
// sum_i (s q_i + m) d x_i = d (s sum_i q_i x_i + m sum_i x_i).
// F16 and BF16 weights read the activations rounded to their precision as
// f32 rows (RF_DOT). With f32 weights the RMS norm runs here as a prologue:
// each block makes one pass over its MT rows of x; 1/rms(x[t]) factors out
// of the dot product, so the weights are scaled by norm_w once per chunk and
// the sum by 1/rms once per token.
//
// The epilogue (bias, residual, GLU gating, softcap, scale) runs on the
// reduced values, lane L taking column j + L / MT for token L % MT, and only
// values used outside the group are stored. When the stored row is the next
// group's input and that group's products are quantized, the decode variant
// ends with the quantize-out tail (prelude.hip, rf_qtail): the block that
// completes a 256-column segment converts it for them, so no actq kernel
// runs in a decode step between the two.
#define K {{K}}           // input features
#define NCOLS {{NCOLS}}   // output columns this kernel computes
#define MT {{MT}}         // tokens per block
#define ROWS {{ROWS}}     // output columns per wavefront (weight rows sharing each activation load)
#define WAVES {{WAVES}}   // wavefronts per block
#define NORM {{NORM}}     // 1: RMS-normalise x first
#define EPS {{EPS}}       // the norm's epsilon
#define NORM_W {{NORM_W}} // 1: the norm has a weight
#define UNROLL {{UNROLL}} // chunk iterations unrolled (loads in flight per lane)
#define QINV {{QINV}} // 1: the products read int8 rows, which carry their 1/rms (xq0: the first)
#define OCC {{OCC}} // wavefronts a multiprocessor holds at once, at least (caps registers; 0: the compiler's choice)
#define XROW RF_XROW(K) // bytes of an int8 activation row (prelude.hip)

#define RF_UNROLL _Pragma("unroll {{UNROLL}}")
#define RF_NIT ((K / 8 + RF_WAVE - 1) / RF_WAVE)  // chunk iterations of a lane
#define RF_NQ ((K / 32 + RF_WAVE - 1) / RF_WAVE) // quad iterations of a lane

// acc[r][u] += W[row r] · xs[tok[u]] over this lane's chunks; the rows are
// rowb bytes apart, the activation chunk is loaded once for all ROWS rows
#define RF_DOT(TYPE, row, rowb, acc, xs)                                                           \
    RF_UNROLL for (int it = 0; it < RF_NIT; it++) {                                                  \
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

// the same over int8 activations, a quad (32 weights: two runs of 16,
// templates/quant.hip) a lane at a time, its scales decoded once: xs is the
// actq rows' base (XROW bytes a row); the weights' type has the integer
// form rf_qw4_TYPE
#define RF_QDOT(TYPE, row, rowb, acc, xs)                                                          \
    RF_UNROLL for (int it = 0; it < RF_NQ; it++) {                                                 \
        const int qd = lane + it * RF_WAVE;                                                        \
        if (K / 32 % RF_WAVE != 0 && qd >= K / 32)                                                 \
            break;                                                                                 \
        const int blk = qd / (RF_QK_##TYPE / 32), c4 = qd % (RF_QK_##TYPE / 32);                   \
        const int ka = blk * RF_QK_##TYPE + rf_a_##TYPE(4 * c4);                                   \
        const int kb = blk * RF_QK_##TYPE + rf_b_##TYPE(4 * c4);                                   \
        rf_u32x4 xa[MT], xb[MT];                                                                   \
        float da[MT], db[MT];                                                                      \
        _Pragma("unroll") for (int u = 0; u < MT; u++) {                                           \
            const unsigned char *xt = (xs) + (size_t)tok[u] * XROW;                                \
            xa[u] = rf_ld_u32x4(xt + ka);                                                          \
            xb[u] = rf_ld_u32x4(xt + kb);                                                          \
            da[u] = ((const float *)(xt + K))[ka / 32];                                            \
            db[u] = ((const float *)(xt + K))[kb / 32];                                            \
        }                                                                                          \
        _Pragma("unroll") for (int r = 0; r < ROWS; r++) {                                         \
            int q[8];                                                                              \
            float s[2], m[2];                                                                      \
            rf_qw4_##TYPE((row) + (size_t)r * (rowb) + (size_t)blk * RF_QB_##TYPE, c4, q, s, m);   \
            _Pragma("unroll") for (int u = 0; u < MT; u++) {                                       \
                float va = s[0] * (float)rf_dot16(q, xa[u]), vb = s[1] * (float)rf_dot16(q + 4, xb[u]); \
                if (RF_QMIN_##TYPE) {                                                              \
                    va += m[0] * (float)rf_sum16(xa[u]);                                           \
                    vb += m[1] * (float)rf_sum16(xb[u]);                                           \
                }                                                                                  \
                acc[r][u] += da[u] * va + db[u] * vb;                                              \
            }                                                                                      \
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

#if OCC >= WAVES && defined(RF_VENDOR_NVIDIA) // AMD: the compiler's choice (its second argument counts otherwise)
#define RF_BOUNDS __launch_bounds__(WAVES * RF_WAVE, OCC / WAVES)
#else
#define RF_BOUNDS __launch_bounds__(WAVES * RF_WAVE)
#endif
extern "C" __global__ void RF_BOUNDS
{{NAME}}({{PARAMS}}int T, const int *__restrict__ past)
{
    const int P = *past; // positions already in the cache: read here, so a captured step serves every P
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
#elif QINV
#pragma unroll
    for (int t = 0; t < MT; t++)
        inv[t] = *(const float *)(xq0 + (size_t)tok[t] * XROW + RF_XINV(K));
#else
#pragma unroll
    for (int t = 0; t < MT; t++)
        inv[t] = 1.0f;
#endif
    const int t = (int)blockIdx.y * MT + lane % MT; // the token lane `lane` finishes
    const bool store = lane < ROWS * MT && t < T;
    (void)P;
    if (j < NCOLS) {
{{BODY}}
    }
{{TAIL}}}
