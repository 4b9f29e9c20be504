// attention_mma.hip: causal attention of many query rows (prefill) on the
// matrix units, flash-attention style: no score matrix in memory.
//
//   out[t, h, :] = softmax_j( s_j ) · V[j, h / (HQ / HKV), :]
//   s_j = SCALE * softcap( q[t, h, :] · K[j, hk, :] ),   j in [P + t - WINDOW + 1, P + t]
//
// Grid (HQ, ceil(T / BQ)): a block takes BQ = 16 * WAVES query rows of one
// head, each wavefront 16 of them, and walks their keys BKV at a time, from
// the window's start for its first row to the last row's position. A step
// stages the keys' K rows and their V rows transposed in shared memory as
// f16 (an f32 cache rounded to nearest, an f16 cache as it is), then each
// wavefront
//   1. multiplies its 16 query rows (f16, in registers since the start) by
//      the K rows on the matrix units (prelude.hip's rf_mma16, f32 sums),
//      applies softcap, scale and the causal / window mask, and writes the
//      16 x BKV scores to its part of shared memory;
//   2. takes them row by row (RF_WAVE / 16 lanes a row): the running max,
//      the rescale factor of what is summed so far, the probabilities
//      e^(s - max) written back over the scores as f16, the running sum;
//   3. rescales its accumulator rows and adds P · V on the matrix units.
// At the end each row is divided by its sum (a sink logit, gpt-oss, joins
// the max and the sum there) and written as f32. Rows past T (the last
// block's padding) are computed from a repeat of row T - 1 and not written.
#define D {{D}}             // head dimension (a multiple of 16)
#define HQ {{HQ}}           // query heads
#define HKV {{HKV}}         // kv heads
#define WINDOW {{WINDOW}}   // sliding window (0: none)
#define SCALE {{SCALE}}
#define SOFTCAP {{SOFTCAP}} // 0: none
#define WAVES {{WAVES}}     // wavefronts a block, 16 query rows each
#define KVH {{KVH}}         // 1: the cache holds f16
#define BQ (16 * WAVES)     // query rows a block
#define BKV 32              // keys a step
#define NTH (WAVES * RF_WAVE)
#define LDK (D + 8)         // halves a staged K (and Q) row: 16 bytes of padding against bank conflicts
#define LDV (BKV + 8)       // halves a staged V^T row
#define LDS (BKV + 4)       // floats a score row
#define LDP (BKV + 8)       // halves a probability row (over the scores)
#define DT (D / 16)         // 16-wide tiles of the head dimension
#define NT (BKV / 16)       // 16-key tiles a step
#define LPR (RF_WAVE / 16)  // lanes a row in the softmax pass
#define CPL (BKV / LPR)     // its columns a lane
#define STAGE_HALVES (BQ * LDK > BKV * LDK + D * LDV ? BQ * LDK : BKV * LDK + D * LDV)

#if defined(RF_VENDOR_NVIDIA)
#define RF_WAVE_SYNC() __syncwarp()
#else
#define RF_WAVE_SYNC() __syncthreads()
#endif

#if KVH
typedef unsigned short rf_kv_t;
#else
typedef float rf_kv_t;
#endif

// eight cache values at p as f16 bits, packed in pairs
RF_DEV uint4 rf_kv8(const rf_kv_t *p)
{
#if KVH
    return *(const uint4 *)p;
#else
    const float4 a = rf_load4(p), b = rf_load4(p + 4);
    return make_uint4(rf_pack_h2(a.x, a.y), rf_pack_h2(a.z, a.w), rf_pack_h2(b.x, b.y), rf_pack_h2(b.z, b.w));
#endif
}

extern "C" __global__ void __launch_bounds__(NTH)
{{NAME}}(const float *__restrict__ q, const rf_kv_t *__restrict__ kc, const rf_kv_t *__restrict__ vc,
         float *__restrict__ out, float *__restrict__ split, {{PARAMS}}int T, const int *__restrict__ past)
{
    const int P = *past; // positions already in the cache
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE;
    const int h = blockIdx.x, hk = h / (HQ / HKV), t0 = blockIdx.y * BQ;
    (void)split;
{{SETUP}}    const float sk = sinks ? sinks[h] : -RF_INF; // the head's sink logit (gpt-oss)
    __shared__ __attribute__((aligned(16))) unsigned short s_stage[STAGE_HALVES]; // Q, then K and V^T
    __shared__ __attribute__((aligned(16))) float s_sc[WAVES][16 * LDS];         // scores, then f16 probabilities
    __shared__ float s_fac[WAVES][16];                                             // a row's rescale factor
    unsigned short *s_k = s_stage, *s_vt = s_stage + BKV * LDK;
    unsigned short *s_p = (unsigned short *)s_sc[wave];

    // this wavefront's query rows as f16 fragments, kept for the whole walk
    for (int i = threadIdx.x; i < BQ * (D / 8); i += NTH) {
        const int r = i / (D / 8), d8 = i % (D / 8) * 8, t = min(t0 + r, T - 1);
        const float *qr = q + ((size_t)t * HQ + h) * D + d8;
        const float4 a = rf_load4(qr), b = rf_load4(qr + 4);
        *(uint4 *)(s_stage + r * LDK + d8) =
            make_uint4(rf_pack_h2(a.x, a.y), rf_pack_h2(a.z, a.w), rf_pack_h2(b.x, b.y), rf_pack_h2(b.z, b.w));
    }
    __syncthreads();
    rf_mma_frag qf[DT];
#pragma unroll
    for (int dt = 0; dt < DT; dt++)
        rf_mma_ld_a(qf[dt], s_stage + wave * 16 * LDK + dt * 16, LDK);
    __syncthreads();

    const int kend = P + min(t0 + BQ, T) - 1; // the block's last key: its last row's position
    const int kbeg = WINDOW > 0 ? max(0, P + t0 - WINDOW + 1) : 0;
    const int q0 = P + t0 + wave * 16;        // the position of this wavefront's first row
    const int rr = lane / LPR, c0 = lane % LPR * CPL; // the softmax pass: this lane's row and first column
    float m = -RF_INF, l = 0.0f;              // row rr's running max and sum
    float o[DT][RF_MMA_NC];
#pragma unroll
    for (int dt = 0; dt < DT; dt++)
#pragma unroll
        for (int i = 0; i < RF_MMA_NC; i++)
            o[dt][i] = 0.0f;

    for (int j0 = kbeg; j0 <= kend; j0 += BKV) {
        // K rows as they are (lanes along a row), V rows transposed (lanes along the keys)
        for (int i = threadIdx.x; i < BKV * (D / 8); i += NTH) {
            const int kk = i / (D / 8), d8 = i % (D / 8) * 8, j = min(j0 + kk, kend);
            *(uint4 *)(s_k + kk * LDK + d8) = rf_kv8(kc + ((size_t)j * HKV + hk) * D + d8);
        }
        for (int i = threadIdx.x; i < BKV * (D / 8); i += NTH) {
            const int kk = i % BKV, d8 = i / BKV * 8, j = min(j0 + kk, kend);
            const uint4 v = rf_kv8(vc + ((size_t)j * HKV + hk) * D + d8);
            const unsigned int w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
            for (int e = 0; e < 4; e++) {
                s_vt[(d8 + 2 * e) * LDV + kk] = (unsigned short)(w[e] & 0xffffu);
                s_vt[(d8 + 2 * e + 1) * LDV + kk] = (unsigned short)(w[e] >> 16);
            }
        }
        __syncthreads();

        // 1. scores
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            float c[RF_MMA_NC];
#pragma unroll
            for (int i = 0; i < RF_MMA_NC; i++)
                c[i] = 0.0f;
#pragma unroll
            for (int dt = 0; dt < DT; dt++) {
                rf_mma_frag kf;
                rf_mma_ld_b(kf, s_k + nt * 16 * LDK + dt * 16, LDK);
                rf_mma16(c, qf[dt], kf);
            }
#pragma unroll
            for (int i = 0; i < RF_MMA_NC; i++) {
                const int r = rf_mma_row(i), col = nt * 16 + rf_mma_col(i), j = j0 + col, pos = q0 + r;
                float s = c[i];
                if (SOFTCAP > 0.0f)
                    s = rf_softcap(s, SOFTCAP);
                s *= SCALE;
                const bool out_of_range = j > pos || j > kend || (WINDOW > 0 && j < pos - WINDOW + 1);
                s_sc[wave][r * LDS + col] = out_of_range ? -RF_INF : s;
            }
        }
        RF_WAVE_SYNC();

        // 2. the online softmax, row rr
        float p[CPL], mx = -RF_INF;
#pragma unroll
        for (int e = 0; e < CPL; e++) {
            p[e] = s_sc[wave][rr * LDS + c0 + e];
            mx = fmaxf(mx, p[e]);
        }
#pragma unroll
        for (int x = 1; x < LPR; x <<= 1)
            mx = fmaxf(mx, rf_shfl_xor(mx, x));
        const float mn = fmaxf(m, mx), mu = mn == -RF_INF ? 0.0f : mn; // no key yet: every p is 0
        const float alpha = expf(m - mu);
        float sum = 0.0f;
#pragma unroll
        for (int e = 0; e < CPL; e++) {
            p[e] = expf(p[e] - mu);
            sum += p[e];
        }
#pragma unroll
        for (int x = 1; x < LPR; x <<= 1)
            sum += rf_shfl_xor(sum, x);
        l = l * alpha + sum;
        m = mn;
        RF_WAVE_SYNC(); // every score is read before the probabilities overwrite them
#pragma unroll
        for (int e = 0; e < CPL; e += 2)
            *(unsigned int *)(s_p + rr * LDP + c0 + e) = rf_pack_h2(p[e], p[e + 1]);
        if (lane % LPR == 0)
            s_fac[wave][rr] = alpha;
        RF_WAVE_SYNC();

        // 3. rescale, then P · V
#pragma unroll
        for (int dt = 0; dt < DT; dt++)
#pragma unroll
            for (int i = 0; i < RF_MMA_NC; i++)
                o[dt][i] *= s_fac[wave][rf_mma_row(i)];
#pragma unroll
        for (int kt = 0; kt < NT; kt++) {
            rf_mma_frag pf;
            rf_mma_ld_a(pf, s_p + kt * 16, LDP);
#pragma unroll
            for (int dt = 0; dt < DT; dt++) {
                rf_mma_frag vf;
                rf_mma_ld_b(vf, s_vt + dt * 16 * LDV + kt * 16, LDV);
                rf_mma16(o[dt], pf, vf);
            }
        }
        __syncthreads(); // the staged tiles and the scores are free again
    }

    // divide by the sum (the sink joins it), write rows < T
    {
        const float mf = fmaxf(m, sk), mu = mf == -RF_INF ? 0.0f : mf;
        const float keep = expf(m - mu), lf = l * keep + expf(sk - mu);
        if (lane % LPR == 0)
            s_fac[wave][rr] = lf > 0.0f ? keep / lf : 0.0f;
    }
    RF_WAVE_SYNC();
#pragma unroll
    for (int dt = 0; dt < DT; dt++)
#pragma unroll
        for (int i = 0; i < RF_MMA_NC; i++) {
            const int r = rf_mma_row(i), t = t0 + wave * 16 + r;
            if (t < T)
                out[((size_t)t * HQ + h) * D + dt * 16 + rf_mma_col(i)] = o[dt][i] * s_fac[wave][r];
        }
}
