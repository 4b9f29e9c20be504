// attention_decode.hip: the attention of a decode step (one query row) over
// the KV cache, one block per kv head and key range.
//
//   out[h, :] = softmax_j( s_j ) · V[j, hk, :]     h = hk * G + g, g < G
//   s_j = SCALE * softcap( q[h, :] · K[j, hk, :] ),   j in [P - WINDOW + 1, P]
//
// The G = HQ / HKV query heads of a kv head share it: one block takes all
// of them, so every key and value row is loaded once for G heads (a block
// per query head, as templates/attention.hip does for prefill, loads it G
// times). Grid HKV * NSPLIT: the keys are cut into up to NSPLIT equal
// ranges of at least MINK keys, one a block, the blocks past them returning
// at once (flash-decoding); the ranges follow P, so a captured step serves
// every P. A wavefront takes KB consecutive keys at a time (every WAVES-th
// group), its lanes over the head dimension (DL consecutive elements a
// lane, one wide load a row), and keeps an online softmax per query head;
// the wavefronts' partials merge in shared memory, and with more than one
// range each block writes its partials (max, sum, accumulator per head) to
// the split scratch, the last block of the kv head (a ticket, reset by it)
// merging them into the output: each partial's weight once, then every
// output element a thread, its loads independent (a merge loop per thread
// over the partials' maxima and sums would be a chain of L2 round trips).
//
// With ROPE the kernel also does what the rope_kv kernel does for prefill:
// it rotates the G query heads (RMS-normed per head before, with QNORM, and
// scaled by QSCALE after, where the model does so) and the new key row (position pos[0], the
// (cos, sin) table made once a block by rf_rope_cs, as rope_kv makes it),
// takes the new value row, and the block whose range ends at P stores both
// in the cache at P; that block weighs position P from shared memory, so no
// block reads a cache row this launch writes. KVH: the cache holds f16, the
// new row rounded to f16 before it is used, as the cache would give it.
#define D {{D}}             // head dimension
#define HQ {{HQ}}           // query heads
#define HKV {{HKV}}         // kv heads
#define G (HQ / HKV)        // query heads a block takes
#define WINDOW {{WINDOW}}   // sliding window (0: none)
#define SCALE {{SCALE}}
#define SOFTCAP {{SOFTCAP}} // 0: none
#define WAVES {{WAVES}}     // wavefronts per block
#define NSPLIT {{NSPLIT}}   // key ranges per kv head (blocks that share it)
#define KVH {{KVH}}         // 1: the cache holds f16
#define ROPE {{ROPE}}       // 1: rotate q and k and store k, v here
#define N_ROT {{N_ROT}}     // rotated dimensions (ROPE)
#define MODE {{MODE}}       // 0: adjacent pairs, 2: halves (neox)
#define THETA_SCALE {{THETA_SCALE}} // ROPE's constants, as rf_rope_cs (prelude.hip) takes them
#define FREQ_SCALE {{FREQ_SCALE}}
#define EXT_FACTOR {{EXT_FACTOR}}
#define ATTN_FACTOR {{ATTN_FACTOR}}
#define CORR0 {{CORR0}}
#define CORR1 {{CORR1}}
#define QSCALE {{QSCALE}}   // ROPE: the queries' scale after rotation (prescale_q), else 1
#define QNORM {{QNORM}}     // ROPE: 1: q and k heads are RMS-normed (weights qnw, knw) before it
#define QEPS {{QEPS}}
#define KEPS {{KEPS}}
#define KB 4                // keys a wavefront takes at once
#define DL (D / RF_WAVE)    // head elements per lane (codegen: D % RF_WAVE == 0)
#define PART (D + 2)        // floats of one partial: max, sum, accumulator
#define MINK ({{MINK_PASSES}} * WAVES * KB) // keys of a range, at least: passes of the block
#if defined(RF_VENDOR_NVIDIA)
#define RF_LDCG(p) __ldcg(p) // from L2: another block wrote it in this launch
#else
#define RF_LDCG(p) (*(const volatile float *)(p))
#endif
#define NT (WAVES * RF_WAVE)

#if KVH
typedef unsigned short rf_kv_t;
#else
typedef float rf_kv_t;
#endif

// DL consecutive cache elements at p, widened to f32
RF_DEV void rf_kv_load(const rf_kv_t *p, float *v)
{
#if KVH
    if (DL % 8 == 0) {
#pragma unroll
        for (int c = 0; c < DL / 8; c++) {
            const rf_u32x4 u = rf_ld_u32x4((const unsigned char *)(p + 8 * c));
            v[8 * c] = rf_f16_lo(u.x), v[8 * c + 1] = rf_f16_hi(u.x), v[8 * c + 2] = rf_f16_lo(u.y);
            v[8 * c + 3] = rf_f16_hi(u.y), v[8 * c + 4] = rf_f16_lo(u.z), v[8 * c + 5] = rf_f16_hi(u.z);
            v[8 * c + 6] = rf_f16_lo(u.w), v[8 * c + 7] = rf_f16_hi(u.w);
        }
    } else if (DL % 2 == 0) {
#pragma unroll
        for (int c = 0; c < DL / 2; c++) {
            const unsigned int u = ((const unsigned int *)p)[c];
            v[2 * c] = rf_f16_lo(u), v[2 * c + 1] = rf_f16_hi(u);
        }
    } else {
#pragma unroll
        for (int i = 0; i < DL; i++)
            v[i] = rf_f16_to_f32(p[i]);
    }
#else
    if (DL % 4 == 0) {
#pragma unroll
        for (int c = 0; c < DL / 4; c++) {
            const float4 u = rf_load4(p + 4 * c);
            v[4 * c] = u.x, v[4 * c + 1] = u.y, v[4 * c + 2] = u.z, v[4 * c + 3] = u.w;
        }
    } else {
#pragma unroll
        for (int i = 0; i < DL; i++)
            v[i] = p[i];
    }
#endif
}

RF_DEV void rf_kv_store(rf_kv_t *p, float v)
{
#if KVH
    *p = rf_f16_bits(v);
#else
    *p = v;
#endif
}

extern "C" __global__ void __launch_bounds__(NT)
{{NAME}}(const float *__restrict__ q, rf_kv_t *__restrict__ kc, rf_kv_t *__restrict__ vc,
         float *__restrict__ out, float *__restrict__ split, {{PARAMS}}int T, const int *__restrict__ past)
{
    const int P = *past; // positions already in the cache
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE;
    const int hk = blockIdx.x / NSPLIT, sp = blockIdx.x % NSPLIT;
    const int pos = P; // the one query row's position in the cache
    const int j0 = WINDOW > 0 && pos - WINDOW + 1 > 0 ? pos - WINDOW + 1 : 0;
    const int n = pos - j0 + 1, nsp = min(NSPLIT, (n + MINK - 1) / MINK);
    if (sp >= nsp)
        return;
    const int chunk = (n + nsp - 1) / nsp;
    const int jbeg = j0 + sp * chunk, jend = min(pos, jbeg + chunk - 1);
    (void)T;
{{SETUP}}    __shared__ float s_q[G][D];
#if ROPE
    // the rotation of this step's position, then q's G heads and the new k
    // and v rows of kv head hk into shared memory
    __shared__ float s_cos[N_ROT / 2], s_sin[N_ROT / 2], s_k[D], s_v[D];
    for (int i = threadIdx.x; i < N_ROT / 2; i += NT)
        rf_rope_cs(i, (float)rpos[0], THETA_SCALE, FREQ_SCALE, EXT_FACTOR, ATTN_FACTOR, CORR0, CORR1,
                   rff ? rff[i] : 1.0f, &s_cos[i], &s_sin[i]);
#if QNORM
    // the heads normed in place first, a wavefront a head, as rf_rms_norm_row
    // (templates/rowwise.hip) norms them for prefill
    for (int e = threadIdx.x; e < (G + 1) * D; e += NT) {
        const int hh = e / D, d = e % D;
        (hh < G ? s_q[hh] : s_k)[d] = hh < G ? xq[(size_t)(hk * G + hh) * D + d] : xk[(size_t)hk * D + d];
    }
    __syncthreads();
    for (int hh = wave; hh < G + 1; hh += WAVES) {
        float *xs = hh < G ? s_q[hh] : s_k;
        float ss = 0.0f;
        for (int d = lane; d < D; d += RF_WAVE)
            ss += xs[d] * xs[d];
        ss = rf_wave_sum(ss);
        const float inv = 1.0f / sqrtf(ss / (float)D + (hh < G ? QEPS : KEPS));
        for (int d = lane; d < D; d += RF_WAVE)
            xs[d] = xs[d] * inv * (hh < G ? qnw : knw)[d];
    }
#endif
    __syncthreads();
    for (int e = threadIdx.x; e < (G + 1) * (N_ROT / 2); e += NT) {
        const int hh = e / (N_ROT / 2), i = e % (N_ROT / 2);
        const int ia = MODE == 2 ? i : 2 * i, ib = MODE == 2 ? i + N_ROT / 2 : 2 * i + 1;
        float *y = hh < G ? s_q[hh] : s_k; // QNORM: rotated in place, each pair by one thread
#if QNORM
        const float *x = y;
#else
        const float *x = hh < G ? xq + (size_t)(hk * G + hh) * D : xk + (size_t)hk * D;
#endif
        const float x0 = x[ia], x1 = x[ib], c = s_cos[i], s = s_sin[i];
        const float ya = x0 * c - x1 * s, yb = x0 * s + x1 * c; // rope_kv's rounding, then the scale's
        y[ia] = hh < G ? ya * QSCALE : ya;
        y[ib] = hh < G ? yb * QSCALE : yb;
    }
#if N_ROT < D
    for (int e = threadIdx.x; e < (G + 1) * (D - N_ROT); e += NT) { // past n_rot: as they are
        const int hh = e / (D - N_ROT), d = N_ROT + e % (D - N_ROT);
#if QNORM
        if (hh < G)
            s_q[hh][d] *= QSCALE;
#else
        if (hh < G)
            s_q[hh][d] = xq[(size_t)(hk * G + hh) * D + d] * QSCALE;
        else
            s_k[d] = xk[(size_t)hk * D + d];
#endif
    }
#endif
    for (int d = threadIdx.x; d < D; d += NT)
        s_v[d] = xv[(size_t)hk * D + d];
    __syncthreads();
    const bool mine = jend == pos; // this block's range holds P: it stores the row and weighs it
    for (int d = threadIdx.x; d < D; d += NT) {
#if KVH
        s_k[d] = rf_round_f16(s_k[d]);
        s_v[d] = rf_round_f16(s_v[d]);
#endif
        if (mine) {
            rf_kv_store(kc + ((size_t)pos * HKV + hk) * D + d, s_k[d]);
            rf_kv_store(vc + ((size_t)pos * HKV + hk) * D + d, s_v[d]);
        }
    }
    const int jlast = mine ? pos - 1 : jend; // the keys read from the cache
#else
    for (int e = threadIdx.x; e < G * D; e += NT)
        s_q[e / D][e % D] = q[(size_t)hk * G * D + e];
    const int jlast = jend;
#endif
    __syncthreads();
    float qv[G][DL], acc[G][DL], m[G], l[G];
#pragma unroll
    for (int g = 0; g < G; g++) {
#pragma unroll
        for (int i = 0; i < DL; i++) {
            qv[g][i] = s_q[g][lane * DL + i];
            acc[g][i] = 0.0f;
        }
        m[g] = -RF_INF;
        l[g] = 0.0f;
    }
    // one step of the online softmax: KB keys' rows kr, vr (f32), valid ones first
    auto step = [&](float (*kr)[DL], float (*vr)[DL], int valid) {
#pragma unroll
        for (int g = 0; g < G; g++) {
            float s[KB], mn = m[g];
#pragma unroll
            for (int b = 0; b < KB; b++) {
                float a = 0.0f;
#pragma unroll
                for (int i = 0; i < DL; i++)
                    a += qv[g][i] * kr[b][i];
                a = rf_wave_sum(a);
                if (SOFTCAP > 0.0f)
                    a = rf_softcap(a, SOFTCAP);
                s[b] = b < valid ? a * SCALE : -RF_INF;
                mn = fmaxf(mn, s[b]);
            }
            const float corr = expf(m[g] - mn);
            l[g] *= corr;
#pragma unroll
            for (int i = 0; i < DL; i++)
                acc[g][i] *= corr;
#pragma unroll
            for (int b = 0; b < KB; b++) {
                const float p = expf(s[b] - mn); // 0 for the masked repeats
                l[g] += p;
#pragma unroll
                for (int i = 0; i < DL; i++)
                    acc[g][i] += p * vr[b][i];
            }
            m[g] = mn;
        }
    };
    for (int jb = jbeg + wave * KB; jb <= jlast; jb += WAVES * KB) {
        float kr[KB][DL], vr[KB][DL];
#pragma unroll
        for (int b = 0; b < KB; b++) { // values loaded with the keys: in flight together
            const int j = min(jb + b, jlast); // past jlast: a repeat, masked
            rf_kv_load(kc + ((size_t)j * HKV + hk) * D + lane * DL, kr[b]);
            rf_kv_load(vc + ((size_t)j * HKV + hk) * D + lane * DL, vr[b]);
        }
        step(kr, vr, jlast - jb + 1);
    }
#if ROPE
    if (mine && wave == WAVES - 1) { // position P, from shared memory
        float kr[KB][DL], vr[KB][DL];
#pragma unroll
        for (int b = 0; b < KB; b++)
#pragma unroll
            for (int i = 0; i < DL; i++) {
                kr[b][i] = s_k[lane * DL + i];
                vr[b][i] = s_v[lane * DL + i];
            }
        step(kr, vr, 1);
    }
#endif
    // merge the wavefronts, head by head
    __shared__ float s_part[WAVES][G][PART];
#pragma unroll
    for (int g = 0; g < G; g++) {
        if (lane == 0) {
            s_part[wave][g][0] = m[g];
            s_part[wave][g][1] = l[g];
        }
#pragma unroll
        for (int i = 0; i < DL; i++)
            s_part[wave][g][2 + lane * DL + i] = acc[g][i];
    }
    __syncthreads();
    if (nsp == 1) { // the row's keys fit one range: no partials, no ticket
        for (int g = 0; g < G; g++) {
            auto waves = [&](int w, int d) { return s_part[w][g][2 + d]; };
            rf_attn_merge<D, NT>(WAVES, waves, out + (size_t)(hk * G + g) * D,
                                 sinks ? sinks[hk * G + g] : -RF_INF);
        }
    } else {
        for (int g = 0; g < G; g++) { // this block's partials to the scratch
            const int h = hk * G + g;
            float *mine_p = split + ((size_t)h * NSPLIT + sp) * PART;
            auto waves = [&](int w, int d) { return s_part[w][g][2 + d]; };
            rf_attn_merge<D, NT>(WAVES, waves, mine_p + 2); // divided by the block's own sum: weighed by it below
            if (threadIdx.x == 0) {
                float M = -RF_INF, L = 0.0f;
                for (int w = 0; w < WAVES; w++)
                    M = fmaxf(M, s_part[w][g][0]);
                for (int w = 0; w < WAVES; w++)
                    L += s_part[w][g][0] == -RF_INF ? 0.0f : s_part[w][g][1] * expf(s_part[w][g][0] - M);
                mine_p[0] = M;
                mine_p[1] = L;
            }
        }
        __shared__ bool s_last;
        __threadfence(); // every thread's partial writes are visible before the ticket is
        __syncthreads();
        if (threadIdx.x == 0) {
            unsigned int *count = (unsigned int *)(split + (size_t)HQ * NSPLIT * PART) + hk;
            s_last = atomicAdd(count, 1u) == (unsigned int)nsp - 1;
            if (s_last)
                *count = 0; // for the next launch
        }
        __syncthreads();
        if (!s_last)
            return;
        __threadfence();
        // every partial's weight l_i e^(m_i - M) / L, then the outputs: the
        // loads are independent, spread over the block (other blocks'
        // writes: read from L2, not L1)
        __shared__ float s_m[G][NSPLIT], s_w[G][NSPLIT];
        for (int e = threadIdx.x; e < G * nsp; e += NT) {
            const float *pp = split + ((size_t)(hk * G + e / nsp) * NSPLIT + e % nsp) * PART;
            s_m[e / nsp][e % nsp] = RF_LDCG(pp);
            s_w[e / nsp][e % nsp] = RF_LDCG(pp + 1);
        }
        __syncthreads();
        for (int g = wave; g < G; g += WAVES) {
            const float sk = sinks ? sinks[hk * G + g] : -RF_INF; // the head's sink logit joins max and sum
            float M = -RF_INF, L = 0.0f;
            for (int i = lane; i < nsp; i += RF_WAVE)
                M = fmaxf(M, s_m[g][i]);
            M = fmaxf(rf_wave_max(M), sk);
            for (int i = lane; i < nsp; i += RF_WAVE)
                L += s_m[g][i] == -RF_INF ? 0.0f : s_w[g][i] * expf(s_m[g][i] - M);
            L = rf_wave_sum(L) + (sk == -RF_INF ? 0.0f : expf(sk - M));
            for (int i = lane; i < nsp; i += RF_WAVE)
                s_w[g][i] = s_m[g][i] == -RF_INF ? 0.0f : s_w[g][i] * expf(s_m[g][i] - M) / L;
        }
        __syncthreads();
        for (int e = threadIdx.x; e < G * D; e += NT) {
            const float *pp = split + (size_t)(hk * G + e / D) * NSPLIT * PART + 2 + e % D;
            float v = 0.0f;
#pragma unroll 8
            for (int i = 0; i < nsp; i++)
                v += RF_LDCG(pp + (size_t)i * PART) * s_w[e / D][i];
            out[(size_t)hk * G * D + e] = v;
        }
    }
{{TAIL}}
}
