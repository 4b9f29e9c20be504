// attention.hip: causal attention of one query head over the KV cache.
//
//   out[t, h, :] = softmax_j( s_j ) · V[j, h / (HQ / HKV), :]
//   s_j = SCALE * softcap( q[t, h, :] · K[j, hk, :] ),   j in [P + t - WINDOW + 1, P + t]
//
// Grid (HQ * NSPLIT, T): NSPLIT blocks per query row and head, GQA by
// reading kv head h / (HQ / HKV). The row's keys are cut into up to NSPLIT
// equal ranges of at least MINK keys, one a block, the blocks past them
// returning at once (flash-decoding: a decode step has one query row, so
// without the split a long context would run on HQ blocks alone); the
// ranges follow P, so one launch serves every step of a captured graph.
// Inside a block each wavefront takes KB consecutive keys at a time (every
// WAVES-th group of them), so KB key rows and then KB value rows are in
// flight together, and keeps an online softmax (running max, running sum,
// rescaled accumulator), its lanes over the head dimension; the wavefronts'
// partial results are merged in shared memory. With NSPLIT > 1 each block
// then writes its (max, sum, accumulator) to the split scratch (unless
// the row's keys make one range), and the last block of the row and head to finish (a ticket counter, reset by that
// block for the next launch) merges the ranges' partials the same way and
// writes the output. Value rows are loaded with the key rows, before the
// scores they are weighed by, so both are in flight at once. Scores never touch memory, so any context length fits.
// When the output is the next group's input and that group's products are
// quantized, the block that wrote a head's output then runs the
// quantize-out tail for it (prelude.hip, rf_qtail).
// The cache rows are [n_ctx, HKV, D], f32 or (KVH) f16, written by the
// rope_kv kernel. A sink logit per head (gpt-oss; sinks from the setup, 0
// for none) joins the softmax's max and sum in the final merge.
// In a session of several sequences (RF_PAGED, codegen.h's cg_paging) row t
// is at its own position of its own sequence, and the cache is in blocks:
// key j of the row's sequence is at row rf_kv_row(past, seq, j).
#define D {{D}}             // head dimension
#define HQ {{HQ}}           // query heads
#define HKV {{HKV}}         // kv heads
#define WINDOW {{WINDOW}}   // sliding window (0: none)
#define SCALE {{SCALE}}
#define SOFTCAP {{SOFTCAP}} // 0: none
#define WAVES {{WAVES}}     // wavefronts per block
#define NSPLIT {{NSPLIT}}   // key ranges per query row and head (blocks that share it)
#define KVH {{KVH}}         // 1: the cache holds f16
#define KB 4                             // keys a wavefront takes at once
#define DL ((D + RF_WAVE - 1) / RF_WAVE) // head elements per lane
#define PART (D + 2)                     // floats of one partial: max, sum, accumulator
#define MINK (2 * WAVES * KB)            // keys of a range, at least: two passes of the block

#if KVH
typedef unsigned short rf_kv_t;
RF_DEV float rf_kv_get(const rf_kv_t *p, int d) { return rf_f16_to_f32(p[d]); }
#else
typedef float rf_kv_t;
RF_DEV float rf_kv_get(const rf_kv_t *p, int d) { return p[d]; }
#endif

extern "C" __global__ void __launch_bounds__(WAVES * RF_WAVE)
{{NAME}}(const float *__restrict__ q, const rf_kv_t *__restrict__ kc, const rf_kv_t *__restrict__ vc,
         float *__restrict__ out, float *__restrict__ split, {{PARAMS}}int T, const int *__restrict__ past)
{
    const int P = *past; // positions already in the cache
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE;
    const int h = blockIdx.x / NSPLIT, sp = blockIdx.x % NSPLIT, t = blockIdx.y, hk = h / (HQ / HKV);
#if defined(RF_PAGED)
    const int pos = past[RF_PG_POS + t], seq = past[RF_PG_SEQ + t];
    (void)P;
#define RF_KROW(j) rf_kv_row(past, seq, j)
#else
    const int pos = P + t;
#define RF_KROW(j) ((size_t)(j))
#endif
    const int j0 = WINDOW > 0 && pos - WINDOW + 1 > 0 ? pos - WINDOW + 1 : 0;
    // the row's keys split into nsp ranges of at least MINK (a block's keys
    // of one pass), this block's [jbeg, jend]; blocks past nsp have none
    const int n = pos - j0 + 1, nsp = min(NSPLIT, (n + MINK - 1) / MINK);
    if (sp >= nsp)
        return;
    const int chunk = (n + nsp - 1) / nsp;
    const int jbeg = j0 + sp * chunk, jend = min(pos, jbeg + chunk - 1);
    (void)T;
{{SETUP}}    const float sk = sinks ? sinks[h] : -RF_INF; // the head's sink logit (gpt-oss), joining the final merge
    const float *qr = q + ((size_t)t * HQ + h) * D;
    float qv[DL], acc[DL];
#pragma unroll
    for (int i = 0; i < DL; i++) {
        const int d = lane + i * RF_WAVE;
        qv[i] = d < D ? qr[d] : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -RF_INF, l = 0.0f;
    for (int jb = jbeg + wave * KB; jb <= jend; jb += WAVES * KB) {
        float s[KB], vv[KB][DL];
#pragma unroll
        for (int b = 0; b < KB; b++) {
            const int j = min(jb + b, jend); // past jend: a repeat, masked below
            const size_t row = RF_KROW(j);
            const rf_kv_t *kr = kc + (row * HKV + hk) * D;
            const rf_kv_t *vr = vc + (row * HKV + hk) * D; // loaded with the keys: in flight together
            float acc_s = 0.0f;
#pragma unroll
            for (int i = 0; i < DL; i++) {
                const int d = lane + i * RF_WAVE;
                acc_s += d < D ? qv[i] * rf_kv_get(kr, d) : 0.0f;
                vv[b][i] = d < D ? rf_kv_get(vr, d) : 0.0f;
            }
            s[b] = acc_s;
        }
        float mn = m;
#pragma unroll
        for (int b = 0; b < KB; b++) {
            s[b] = rf_wave_sum(s[b]);
            if (SOFTCAP > 0.0f)
                s[b] = rf_softcap(s[b], SOFTCAP);
            s[b] = jb + b <= jend ? s[b] * SCALE : -RF_INF;
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
            l += p;
#pragma unroll
            for (int i = 0; i < DL; i++)
                acc[i] += p * vv[b][i];
        }
        m = mn;
    }
    // merge the wavefronts
    __shared__ float s_part[WAVES][PART];
    if (lane == 0) {
        s_part[wave][0] = m;
        s_part[wave][1] = l;
    }
#pragma unroll
    for (int i = 0; i < DL; i++) {
        const int d = lane + i * RF_WAVE;
        if (d < D)
            s_part[wave][2 + d] = acc[i];
    }
    __syncthreads();
    auto waves = [&](int w, int d) { return s_part[w][2 + d]; };
    float *o = out + ((size_t)t * HQ + h) * D;
#if NSPLIT == 1
    rf_attn_merge<D, WAVES * RF_WAVE>(WAVES, waves, o, sk);
    (void)split;
{{TAIL}}
#else
    if (nsp == 1) { // the row's keys fit one range: no partials, no ticket
        rf_attn_merge<D, WAVES * RF_WAVE>(WAVES, waves, o, sk);
    } else {
        // this block's partial to the scratch, then the last block of (t, h) merges
        float *mine = split + (((size_t)t * HQ + h) * NSPLIT + sp) * PART;
        rf_attn_merge<D, WAVES * RF_WAVE>(WAVES, waves, mine + 2); // normalised by the block's own sum: l below rescales it
        if (threadIdx.x == 0) {
            float M = -RF_INF, L = 0.0f;
            for (int w = 0; w < WAVES; w++)
                M = fmaxf(M, s_part[w][0]);
            for (int w = 0; w < WAVES; w++)
                L += s_part[w][0] == -RF_INF ? 0.0f : s_part[w][1] * expf(s_part[w][0] - M);
            mine[0] = M;
            mine[1] = L;
        }
        __shared__ bool s_last;
        __syncthreads();
        if (threadIdx.x == 0) {
            __threadfence(); // the partial is visible before the ticket is
            unsigned int *count = (unsigned int *)(split + (size_t)T * HQ * NSPLIT * PART) + (size_t)t * HQ + h;
            s_last = atomicAdd(count, 1u) == (unsigned int)nsp - 1;
            if (s_last)
                *count = 0; // for the next launch
        }
        __syncthreads();
        if (!s_last)
            return;
        __threadfence();
        const volatile float *all = split + ((size_t)t * HQ + h) * NSPLIT * PART; // other blocks' writes: not from L1
        // each partial's accumulator is already divided by its sum, so weigh by
        // sum * e^(max - M)
        auto parts = [&](int i, int d) {
            const float v = all[i * PART + 2 + d];
            return d == -2 ? all[i * PART] : d == -1 ? all[i * PART + 1] : v * all[i * PART + 1];
        };
        rf_attn_merge<D, WAVES * RF_WAVE>(nsp, parts, o, sk);
    }
{{TAIL}}
#endif
}
