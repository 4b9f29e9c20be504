// attention.hip: causal attention of one query head over the KV cache.
//
//   out[t, h, :] = softmax_j( s_j ) · V[j, h / (HQ / HKV), :]
//   s_j = SCALE * softcap( q[t, h, :] · K[j, hk, :] ),   j in [P + t - WINDOW + 1, P + t]
//
// Grid (HQ, T): one block per query row and head, GQA by reading kv head
// h / (HQ / HKV). Each wavefront takes KB consecutive keys at a time (every
// WAVES-th group of them), so KB key rows and then KB value rows are in
// flight together, and keeps an online softmax (running max, running sum,
// rescaled accumulator), its lanes over the head dimension; the wavefronts'
// partial results are merged at the end. Scores never touch memory, so any
// context length fits. The cache rows are [n_ctx, HKV, D] f32, written by the
// rope_kv kernel.
#define D {{D}}             // head dimension
#define HQ {{HQ}}           // query heads
#define HKV {{HKV}}         // kv heads
#define WINDOW {{WINDOW}}   // sliding window (0: none)
#define SCALE {{SCALE}}
#define SOFTCAP {{SOFTCAP}} // 0: none
#define WAVES {{WAVES}}                  // wavefronts per block
#define KB 4                             // keys a wavefront takes at once
#define DL ((D + RF_WAVE - 1) / RF_WAVE) // head elements per lane

extern "C" __global__ void __launch_bounds__(WAVES * RF_WAVE)
{{NAME}}(const float *__restrict__ q, const float *__restrict__ kc, const float *__restrict__ vc,
         float *__restrict__ out, int T, const int *__restrict__ past)
{
    const int P = *past; // positions already in the cache
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE;
    const int h = blockIdx.x, t = blockIdx.y, hk = h / (HQ / HKV);
    const int pos = P + t;
    const int j0 = WINDOW > 0 && pos - WINDOW + 1 > 0 ? pos - WINDOW + 1 : 0;
    (void)T;
    const float *qr = q + ((size_t)t * HQ + h) * D;
    float qv[DL], acc[DL];
#pragma unroll
    for (int i = 0; i < DL; i++) {
        const int d = lane + i * RF_WAVE;
        qv[i] = d < D ? qr[d] : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -RF_INF, l = 0.0f;
    for (int jb = j0 + wave * KB; jb <= pos; jb += WAVES * KB) {
        float s[KB];
#pragma unroll
        for (int b = 0; b < KB; b++) {
            const int j = min(jb + b, pos); // past pos: a repeat, masked below
            const float *kr = kc + ((size_t)j * HKV + hk) * D;
            float acc_s = 0.0f;
#pragma unroll
            for (int i = 0; i < DL; i++) {
                const int d = lane + i * RF_WAVE;
                acc_s += d < D ? qv[i] * kr[d] : 0.0f;
            }
            s[b] = acc_s;
        }
        float mn = m;
#pragma unroll
        for (int b = 0; b < KB; b++) {
            s[b] = rf_wave_sum(s[b]);
            if (SOFTCAP > 0.0f)
                s[b] = rf_softcap(s[b], SOFTCAP);
            s[b] = jb + b <= pos ? s[b] * SCALE : -RF_INF;
            mn = fmaxf(mn, s[b]);
        }
        const float corr = expf(m - mn);
        l *= corr;
#pragma unroll
        for (int i = 0; i < DL; i++)
            acc[i] *= corr;
#pragma unroll
        for (int b = 0; b < KB; b++) {
            const float p = expf(s[b] - mn); // 0 for the masked repeats
            const float *vr = vc + ((size_t)min(jb + b, pos) * HKV + hk) * D;
            l += p;
#pragma unroll
            for (int i = 0; i < DL; i++) {
                const int d = lane + i * RF_WAVE;
                acc[i] += d < D ? p * vr[d] : 0.0f;
            }
        }
        m = mn;
    }
    // merge the wavefronts: out = sum_w acc_w e^(m_w - M) / sum_w l_w e^(m_w - M)
    __shared__ float s_m[WAVES], s_l[WAVES], s_acc[WAVES][D];
    if (lane == 0) {
        s_m[wave] = m;
        s_l[wave] = l;
    }
#pragma unroll
    for (int i = 0; i < DL; i++) {
        const int d = lane + i * RF_WAVE;
        if (d < D)
            s_acc[wave][d] = acc[i];
    }
    __syncthreads();
    float M = -RF_INF;
    for (int w = 0; w < WAVES; w++)
        M = fmaxf(M, s_m[w]);
    float L = 0.0f;
    for (int w = 0; w < WAVES; w++)
        L += s_m[w] == -RF_INF ? 0.0f : s_l[w] * expf(s_m[w] - M);
    float *o = out + ((size_t)t * HQ + h) * D;
    for (int d = threadIdx.x; d < D; d += WAVES * RF_WAVE) {
        float v = 0.0f;
        for (int w = 0; w < WAVES; w++)
            v += s_m[w] == -RF_INF ? 0.0f : s_acc[w][d] * expf(s_m[w] - M);
        o[d] = v / L;
    }
}
