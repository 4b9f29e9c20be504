// prelude.hip: the first lines of every kernel ROCmForge generates.
//
// Codegen renders it with the target's vendor and wavefront size, so the
// templates after it use one vocabulary on AMD (hipRTC) and NVIDIA (NVRTC):
//   RF_WAVE            lanes in a wavefront / warp: 64 on GCN and CDNA, 32 on RDNA and NVIDIA
//   rf_shfl_xor(v, m)  butterfly exchange within a wavefront
//   rf_dp4a(a, b, c)   c + the dot product of a's and b's four int8 bytes:
//                      one instruction where the target has it (RF_DOT4)
//   RF_DEV, RF_CONST   a device function, a read-only table (templates/quant.hip uses them)
//   RF_XROW(K), rf_q8_conv, rf_q8_blocks, rf_qtail, rf_rowtail   int8 activation
//                      rows: their layout, the conversion (of a value, of a
//                      row's blocks), and the quantize-out tails of a decode kernel
//   rf_round_f16, rf_round_bf16   f32 rounded as f16 / bf16 would hold it
//   rf_attn_merge, rf_rope_cs   what both attention templates (and rope_kv) share
//   rf_mma16, rf_mma_ld_a/b, rf_mma_row/col, rf_pack_h2   16x16x16 f16 tiles on
//                      the matrix units, where RF_MMA (templates/mmq.hip)
// Nothing here includes a header: both compilers provide threadIdx, float4,
// the math functions and __syncthreads without one, and the source stays the
// same text whatever the installed SDK.
#define RF_VENDOR_{{VENDOR}} 1
#define RF_ARCH "{{ARCH}}"
#define RF_WAVE {{WAVE}}
#define RF_DOT4 {{DOT4}} // 1: dp4a (NVIDIA) / v_dot4_i32_i8 (AMD dot1-insts)
#define RF_MMA {{MMA}}   // 1: f16 matrix units: mma.sync (NVIDIA sm_80+) / MFMA (AMD CDNA)
#define RF_DEV __device__ __forceinline__
#define RF_CONST static __device__ const // tables: global memory, cached; __constant__ would serialise lanes reading different entries
#define RF_INF __int_as_float(0x7f800000)

#if defined(RF_VENDOR_NVIDIA)
#define rf_shfl_xor(v, m) __shfl_xor_sync(0xffffffffu, (v), (m))
#else
#define rf_shfl_xor(v, m) __shfl_xor((v), (m))
#endif

RF_DEV int rf_dp4a(int a, int b, int c)
{
#if RF_DOT4 && defined(RF_VENDOR_NVIDIA)
    return __dp4a(a, b, c);
#elif RF_DOT4
    return __builtin_amdgcn_sdot4(a, b, c, false);
#else
#pragma unroll
    for (int i = 0; i < 32; i += 8)
        c += (int)(signed char)(a >> i) * (int)(signed char)(b >> i);
    return c;
#endif
}

// sum over the wavefront, every lane gets it
RF_DEV float rf_wave_sum(float v)
{
#pragma unroll
    for (int m = RF_WAVE / 2; m > 0; m >>= 1)
        v += rf_shfl_xor(v, m);
    return v;
}

// sum over a block of nwaves wavefronts; every thread gets it. scratch holds
// one float per wavefront; the block must call it together.
RF_DEV float rf_block_sum(float v, float *scratch, int nwaves)
{
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE;
    v = rf_wave_sum(v);
    __syncthreads();
    if (lane == 0)
        scratch[wave] = v;
    __syncthreads();
    float s = 0.0f;
    for (int w = 0; w < nwaves; w++)
        s += scratch[w];
    return s;
}

RF_DEV float4 rf_load4(const float *p) { return *(const float4 *)p; }

RF_DEV float rf_silu(float x) { return x / (1.0f + expf(-x)); }

// ggml's tanh approximation; |x| >= 10 short-cuts as ggml's f16 table does
RF_DEV float rf_gelu(float x)
{
    if (x <= -10.0f)
        return 0.0f;
    if (x >= 10.0f)
        return x;
    const float c = 0.7978845608028654f; // sqrt(2 / pi)
    return 0.5f * x * (1.0f + tanhf(c * x * (1.0f + 0.044715f * x * x)));
}

RF_DEV float rf_softcap(float x, float cap) { return cap * tanhf(x / cap); }

// gpt-oss's clamped GLU, as ggml's swiglu_oai: x = min(g, limit),
// x * sigmoid(alpha x) * (clamp(u, -limit, limit) + 1)
RF_DEV float rf_swiglu_oai(float g, float u, float alpha, float limit)
{
    const float x = fminf(g, limit), y = fminf(fmaxf(u, -limit), limit);
    return x / (1.0f + expf(alpha * (-x))) * (y + 1.0f);
}

RF_DEV float rf_wave_max(float v)
{
#pragma unroll
    for (int m = RF_WAVE / 2; m > 0; m >>= 1)
        v = fmaxf(v, rf_shfl_xor(v, m));
    return v;
}

// the largest v over a block, as rf_block_sum sums it
RF_DEV float rf_block_max(float v, float *scratch, int nwaves)
{
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE;
    v = rf_wave_max(v);
    __syncthreads();
    if (lane == 0)
        scratch[wave] = v;
    __syncthreads();
    float m = scratch[0];
    for (int w = 1; w < nwaves; w++)
        m = fmaxf(m, scratch[w]);
    return m;
}

// f32 → bf16 (ties to even, NaN kept quiet) → f32
RF_DEV float rf_round_bf16(float f)
{
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return __uint_as_float((u | 0x00400000u) & 0xffff0000u);
    return __uint_as_float((u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u);
}

// f32 → the nearest f16 (ties to even) → f32, without a half type
RF_DEV float rf_round_f16(float f)
{
    const float a = fabsf(f);
    if (!(a < 65520.0f)) // rounds to infinity, or NaN
        return a != a ? f : copysignf(RF_INF, f);
    if (a < 6.103515625e-05f) // f16 subnormals: multiples of 2^-24
        return copysignf(rintf(a * 16777216.0f) * 5.9604644775390625e-08f, f);
    unsigned int u = __float_as_uint(a);
    u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
    return copysignf(__uint_as_float(u), f);
}

// Attention's merge of n partial softmaxes (max m_i, sum l_i, accumulator
// acc_i[:], part(i, -2), part(i, -1), part(i, d)) into out[d] for the
// block's NTH threads over DIM elements:
// sum_i acc_i e^(m_i - M) / (sum_i l_i e^(m_i - M) [+ e^(sink - M)]);
// a sink (gpt-oss: a logit a head, -inf for none) joins the max and the
// sum of the final merge only, weighing no value
template <int DIM, int NTH, typename F>
RF_DEV void rf_attn_merge(int n, F part, float *o, float sink = -RF_INF)
{
    float M = sink;
    for (int i = 0; i < n; i++)
        M = fmaxf(M, part(i, -2));
    float L = sink == -RF_INF ? 0.0f : expf(sink - M);
    for (int i = 0; i < n; i++) {
        const float m = part(i, -2);
        L += m == -RF_INF ? 0.0f : part(i, -1) * expf(m - M);
    }
    for (int d = threadIdx.x; d < DIM; d += NTH) {
        float v = 0.0f;
        for (int i = 0; i < n; i++) {
            const float m = part(i, -2);
            v += m == -RF_INF ? 0.0f : part(i, d) * expf(m - M);
        }
        o[d] = v / L;
    }
}

// RoPE's (cos, sin) of pair i at position pos, as ggml_rope_ext makes them:
// theta = pos * theta_scale^i (multiplied out as ggml does, rounding for
// rounding) / ff, linear scaling, YaRN's ramp between corr0 and corr1 when
// ext_factor, both times mscale. The rope_kv and decode attention kernels
// make their tables with it, so both rotate alike.
RF_DEV void rf_rope_cs(int i, float pos, float theta_scale, float freq_scale, float ext_factor, float attn_factor,
                       float corr0, float corr1, float ff, float *c, float *s)
{
    float theta = pos;
    for (int j = 0; j < i; j++)
        theta *= theta_scale;
    const float extrap = theta / ff;
    float th = freq_scale * extrap, mscale = attn_factor;
    if (ext_factor != 0.0f) {
        const float ramp = 1.0f - fminf(1.0f, fmaxf(0.0f, ((float)i - corr0) / fmaxf(0.001f, corr1 - corr0)));
        const float mix = ramp * ext_factor;
        th = th * (1.0f - mix) + extrap * mix;
        mscale *= 1.0f + 0.1f * logf(1.0f / freq_scale);
    }
    *c = cosf(th) * mscale;
    *s = sinf(th) * mscale;
}

// f32 → f16 bits, the nearest (ties to even), without a half type
RF_DEV unsigned short rf_f16_bits(float f)
{
    const float r = rf_round_f16(f); // an f16 value now, or inf / NaN
    const unsigned int u = __float_as_uint(r), sign = (u >> 16) & 0x8000u;
    const float a = fabsf(r);
    if (a != a)
        return (unsigned short)(sign | 0x7e00u);
    if (a > 65504.0f)
        return (unsigned short)(sign | 0x7c00u);
    if (a < 6.103515625e-05f) // subnormal: a multiple of 2^-24, exactly
        return (unsigned short)(sign | (unsigned int)(a * 16777216.0f));
    return (unsigned short)(sign | (((u >> 23) & 0xffu) - 112u) << 10 | ((u >> 13) & 0x3ffu));
}

#if RF_MMA
// One wavefront multiplies 16x16 f16 tiles on the matrix units, f32 sums:
// C[16 x 16] += A[16 x 16] * B^T, A and B read from shared memory as rows
// of 16 k values (A: 16 token rows, B: 16 weight rows, each ld halves
// apart, 16-byte aligned). A lane holds RF_MMA_NC of C's values, element i
// at (rf_mma_row(i), rf_mma_col(i)). rf_mma8 does the same for int8 tiles
// (rows of 16 bytes, ld bytes apart), C = the exact int32 sums.
#if defined(RF_VENDOR_NVIDIA)
// two mma.sync.m16n8k16 (sm_80+); fragments loaded with ldmatrix
#define RF_MMA_NC 8
struct rf_mma_frag { unsigned int r[4]; };
RF_DEV unsigned int rf_smem(const void *p) { return (unsigned int)__cvta_generic_to_shared(p); }
RF_DEV void rf_ldmatrix4(rf_mma_frag &f, const unsigned short *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(f.r[0]), "=r"(f.r[1]), "=r"(f.r[2]), "=r"(f.r[3])
                 : "r"(rf_smem(p)));
}
// A's four 8x8 quarters: rows 0-7 | 8-15 of k 0-7, then of k 8-15
RF_DEV void rf_mma_ld_a(rf_mma_frag &a, const unsigned short *p, int ld)
{
    const int lane = threadIdx.x % 32;
    rf_ldmatrix4(a, p + (lane % 16) * ld + (lane / 16) * 8);
}
// B's: rows 0-7 of k 0-7 | k 8-15, then rows 8-15 of k 0-7 | k 8-15
RF_DEV void rf_mma_ld_b(rf_mma_frag &b, const unsigned short *p, int ld)
{
    const int lane = threadIdx.x % 32;
    rf_ldmatrix4(b, p + (lane % 8 + 8 * (lane / 16)) * ld + 8 * (lane / 8 % 2));
}
RF_DEV void rf_mma_m16n8k16(float *c, const rf_mma_frag &a, unsigned int b0, unsigned int b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a.r[0]), "r"(a.r[1]), "r"(a.r[2]), "r"(a.r[3]), "r"(b0), "r"(b1));
}
RF_DEV void rf_mma16(float *c, const rf_mma_frag &a, const rf_mma_frag &b)
{
    rf_mma_m16n8k16(c, a, b.r[0], b.r[1]);
    rf_mma_m16n8k16(c + 4, a, b.r[2], b.r[3]);
}
// int8: C (int32) = A[16 x 16] * B^T over 16 k, tiles of 16 bytes a row:
// two mma.sync.m16n8k16.s8 from ldmatrix.x2 fragments (a byte row is an
// 8-halves row to ldmatrix)
struct rf_mma8_a { unsigned int r[2]; };
struct rf_mma8_b { unsigned int r[2]; };
RF_DEV void rf_mma8_ld(unsigned int *r, const unsigned char *p, int ld)
{
    const int lane = threadIdx.x % 32;
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(rf_smem(p + (lane % 16) * ld)));
}
RF_DEV void rf_mma8_ld_a(rf_mma8_a &a, const unsigned char *p, int ld) { rf_mma8_ld(a.r, p, ld); }
RF_DEV void rf_mma8_ld_b(rf_mma8_b &b, const unsigned char *p, int ld) { rf_mma8_ld(b.r, p, ld); }
RF_DEV void rf_mma8(int *c, const rf_mma8_a &a, const rf_mma8_b &b)
{
#pragma unroll
    for (int h = 0; h < 2; h++)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5}, {%6}, "
                     "{%7, %7, %7, %7};"
                     : "=r"(c[4 * h]), "=r"(c[4 * h + 1]), "=r"(c[4 * h + 2]), "=r"(c[4 * h + 3])
                     : "r"(a.r[0]), "r"(a.r[1]), "r"(b.r[h]), "r"(0));
}
RF_DEV int rf_mma_row(int i) { return (int)(threadIdx.x % 32) / 4 + 8 * (i % 4 / 2); }
RF_DEV int rf_mma_col(int i) { return 8 * (i / 4) + 2 * (int)(threadIdx.x % 4) + i % 2; }
// two f32 as the f16 pair (lo, hi), rounded to nearest even
RF_DEV unsigned int rf_pack_h2(float lo, float hi)
{
    unsigned int r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
#else
// one v_mfma_f32_16x16x16f16 (CDNA, wave64): lane L holds A's row L % 16
// and B's row L % 16 at k = 4 (L / 16) .. +3, and C's column L % 16 at rows
// 4 (L / 16) .. +3
#define RF_MMA_NC 4
typedef _Float16 rf_half4 __attribute__((ext_vector_type(4)));
typedef float rf_float4v __attribute__((ext_vector_type(4)));
struct rf_mma_frag { rf_half4 v; };
RF_DEV void rf_mma_ld_a(rf_mma_frag &a, const unsigned short *p, int ld)
{
    const int lane = threadIdx.x % 64;
    a.v = *(const rf_half4 *)(p + (lane % 16) * ld + 4 * (lane / 16));
}
RF_DEV void rf_mma_ld_b(rf_mma_frag &b, const unsigned short *p, int ld) { rf_mma_ld_a(b, p, ld); }
RF_DEV void rf_mma16(float *c, const rf_mma_frag &a, const rf_mma_frag &b)
{
    rf_float4v acc = {c[0], c[1], c[2], c[3]};
    acc = __builtin_amdgcn_mfma_f32_16x16x16f16(a.v, b.v, acc, 0, 0, 0);
    c[0] = acc[0];
    c[1] = acc[1];
    c[2] = acc[2];
    c[3] = acc[3];
}
// int8: one v_mfma_i32_16x16x16i8, four bytes a lane from the same places
typedef int rf_int4v __attribute__((ext_vector_type(4)));
struct rf_mma8_a { int v; };
struct rf_mma8_b { int v; };
RF_DEV void rf_mma8_ld_a(rf_mma8_a &a, const unsigned char *p, int ld)
{
    const int lane = threadIdx.x % 64;
    a.v = *(const int *)(p + (lane % 16) * ld + 4 * (lane / 16));
}
RF_DEV void rf_mma8_ld_b(rf_mma8_b &b, const unsigned char *p, int ld)
{
    const int lane = threadIdx.x % 64;
    b.v = *(const int *)(p + (lane % 16) * ld + 4 * (lane / 16));
}
RF_DEV void rf_mma8(int *c, const rf_mma8_a &a, const rf_mma8_b &b)
{
    rf_int4v acc = {0, 0, 0, 0};
    acc = __builtin_amdgcn_mfma_i32_16x16x16i8(a.v, b.v, acc, 0, 0, 0);
    c[0] = acc[0];
    c[1] = acc[1];
    c[2] = acc[2];
    c[3] = acc[3];
}
RF_DEV int rf_mma_row(int i) { return 4 * (int)(threadIdx.x % 64 / 16) + i; }
RF_DEV int rf_mma_col(int i) { return (int)(threadIdx.x % 16); }
RF_DEV unsigned int rf_pack_h2(float lo, float hi)
{
    const _Float16 l = (_Float16)lo, h = (_Float16)hi;
    unsigned short a, b;
    __builtin_memcpy(&a, &l, 2);
    __builtin_memcpy(&b, &h, 2);
    return (unsigned int)a | (unsigned int)b << 16;
}
#endif
#endif

// An int8 activation row of K elements (the input of a matrix product with
// quantized weights, templates/matmul.hip): K values q, then K / 32 f32
// scales d (element k is d[k / 32] * q[k]), then the f32 factor 1/rms the
// products multiply their sums by, padded to 16 bytes.
#define RF_XINV(k) ((k) + (k) / 32 * 4)
#define RF_XROW(k) ((RF_XINV(k) + 4 + 15) / 16 * 16)

// One activation v of a block whose largest magnitude is amax, as the
// reference quantizes it: Q8_0 / Q8_1 (kquant false): d = amax / 127,
// q = round(v / d) half away from zero, d kept as f16 rounds it; Q8_K:
// iscale = 127 / amax, q = min(127, rint(v * iscale)), d = 1 / iscale (the
// sign of the largest value, which ggml takes, flips q and d together).
RF_DEV void rf_q8_conv(float v, float amax, bool kquant, int *q, float *d)
{
    if (kquant) {
        const float iscale = amax != 0.0f ? 127.0f / amax : 0.0f;
        *q = amax != 0.0f ? (int)fminf(127.0f, rintf(iscale * v)) : 0;
        *d = amax != 0.0f ? 1.0f / iscale : 0.0f;
    } else {
        const float dd = amax / 127.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
        *q = (int)roundf(v * id);
        *d = rf_round_f16(dd);
    }
}

// Blocks b0, b0 + nw, ... below b1 of QB elements (32: Q8_0 / Q8_1, 256:
// Q8_K) of the row x, times inv and w (when given) if norm, as the
// reference quantizes them: wavefront `wave` of nw takes every nw-th block
// from b0 + wave, its lanes over the elements; the values into q (element
// k at q[k]), the scales into d (one per 32 elements, Q8_K's repeated)
template <int QB, bool KQUANT>
RF_DEV void rf_q8_blocks(const float *x, const float *w, float inv, bool norm, int b0, int b1, int nw,
                         unsigned char *q, float *d)
{
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE;
    constexpr int PER = (QB + RF_WAVE - 1) / RF_WAVE;
    for (int b = b0 + wave; b < b1; b += nw) {
        float v[PER], amax = 0.0f;
#pragma unroll
        for (int i = 0; i < PER; i++) {
            const int e = lane + i * RF_WAVE;
            v[i] = 0.0f;
            if (e < QB) {
                const int k = b * QB + e;
                v[i] = norm ? x[k] * inv * (w ? w[k] : 1.0f) : x[k];
            }
            amax = fmaxf(amax, fabsf(v[i]));
        }
        amax = rf_wave_max(amax);
#pragma unroll
        for (int i = 0; i < PER; i++) {
            const int e = lane + i * RF_WAVE;
            if (e >= QB)
                continue;
            int qi;
            float di;
            rf_q8_conv(v[i], amax, KQUANT, &qi, &di);
            q[b * QB + e] = (unsigned char)(signed char)qi;
            if (e % 32 == 0)
                d[(b * QB + e) / 32] = di;
        }
    }
}

// One 256-element segment seg of an activation row y[N] converted into the
// int8 rows of the next group's kinds (KIND0, KIND1: 0 none, 1 Q8_0 blocks
// of 32, 2 Q8_K blocks of 256), with the RMS-norm weight w applied when NORM;
// returns the segment's sum of squares of y. The block's NT threads call it
// together (a block of more than 256 threads leaves the rest idle); ys may
// be another block's stores (volatile: read from L2, not this one's L1).
template <int N, int NT, int KIND0, int KIND1, bool NORM>
RF_DEV float rf_q8_seg(const volatile float *ys, const float *w, int seg, unsigned char *dst0, unsigned char *dst1)
{
    constexpr int PER = NT < 256 ? 256 / NT : 1, NWV = NT / RF_WAVE;
    __shared__ float s_max[NWV], s_ss[NWV];
    const int tid = threadIdx.x, lane = tid % RF_WAVE, wv = tid / RF_WAVE;
    float v[PER], ss = 0.0f, amax = 0.0f;
#pragma unroll
    for (int i = 0; i < PER; i++) {
        const int e = tid + i * NT;
        const float x = e < 256 ? ys[seg * 256 + e] : 0.0f;
        ss += x * x;
        v[i] = NORM && w && e < 256 ? x * w[seg * 256 + e] : x;
        amax = fmaxf(amax, fabsf(v[i]));
    }
    // the segment's largest magnitude (Q8_K) and sum of squares
    float am = rf_wave_max(amax), sw = rf_wave_sum(ss);
    __syncthreads(); // an earlier call's readers of s_max, s_ss are done
    if (lane == 0) {
        s_max[wv] = am;
        s_ss[wv] = sw;
    }
    __syncthreads();
    float seg_max = 0.0f, seg_ss = 0.0f;
    for (int i = 0; i < NWV; i++) {
        seg_max = fmaxf(seg_max, s_max[i]);
        seg_ss += s_ss[i];
    }
#pragma unroll
    for (int kk = 0; kk < 2; kk++) {
        const int kind = kk == 0 ? KIND0 : KIND1;
        unsigned char *dst = kk == 0 ? dst0 : dst1;
        if (kind == 0)
            continue;
#pragma unroll
        for (int i = 0; i < PER; i++) {
            const int e = seg * 256 + tid + i * NT;
            float am32 = amax; // Q8_0: the 32 elements e - e % 32 .., lanes 32 apart never mix
            if (kind == 1) {
                am32 = fabsf(v[i]);
#pragma unroll
                for (int m = 16; m > 0; m >>= 1)
                    am32 = fmaxf(am32, rf_shfl_xor(am32, m));
            }
            int q;
            float d;
            rf_q8_conv(v[i], kind == 2 ? seg_max : am32, kind == 2, &q, &d);
            if (tid + i * NT >= 256)
                continue;
            dst[e] = (unsigned char)(signed char)q;
            if (e % 32 == 0)
                ((float *)(dst + N))[e / 32] = d;
        }
    }
    return seg_ss;
}

// The quantize-out tail. A decode kernel (one token) whose output row y[N]
// is the next matrix product's input converts it, so no conversion kernel
// runs between them: after the block has stored its cols columns, all in
// the 256-column segment seg, it adds them to the segment's counter; the
// block that completes the segment converts it (rf_q8_seg) and leaves the
// segment's sum of squares in ssp; the block that completes the last
// segment sums those in segment order (the same order every step) and
// writes 1/rms (1 without NORM) to the rows. The values quantized are
// y * w, not y / rms * w as the reference's: 1/rms scales a block's values
// and its amax alike, so the integers are the same up to rounding, and the
// products multiply by it once at the end. Counters are left at zero for
// the next launch. cnt[0]: the row's ticket, cnt[1 + s]: segment s's
// columns; ssp: NSEG floats, apart from the counters.
template <int N, int NT, int KIND0, int KIND1, bool NORM>
RF_DEV void rf_qtail(const float *y, const float *w, float eps, unsigned char *dst0, unsigned char *dst1,
                     unsigned int *cnt, float *ssp, int seg, int cols)
{
    constexpr int NSEG = N / 256;
    __shared__ unsigned int s_t;
    const int tid = threadIdx.x;
    __syncthreads(); // the block's stores are issued
    if (tid == 0) {
        __threadfence();
        s_t = atomicAdd(&cnt[1 + seg], (unsigned int)cols) + (unsigned int)cols;
    }
    __syncthreads();
    if (s_t != 256u)
        return;
    __threadfence();
    const float seg_ss = rf_q8_seg<N, NT, KIND0, KIND1, NORM>(y, w, seg, dst0, dst1);
    if (tid == 0) {
        ssp[seg] = seg_ss;
        cnt[1 + seg] = 0;
        __threadfence();
        s_t = atomicAdd(&cnt[0], 1u) == NSEG - 1;
    }
    __syncthreads();
    if (!s_t || tid != 0)
        return;
    __threadfence();
    float total = 0.0f;
    for (int i = 0; i < NSEG; i++)
        total += ((const volatile float *)ssp)[i];
    const float inv = NORM ? 1.0f / sqrtf(total / (float)N + eps) : 1.0f;
    if (KIND0)
        *(float *)(dst0 + RF_XINV(N)) = inv;
    if (KIND1)
        *(float *)(dst1 + RF_XINV(N)) = inv;
    cnt[0] = 0;
}

// The post-norm tail: as rf_qtail, where the next product's input is not
// the output row a[N] itself but x' = xres + rms_norm(a) * wpost (gemma's
// norm after attention and after the FFN, then the residual). That needs
// all of a first, so the block that completes the grid (cnt[0], a ticket
// per block) does the whole row: 1/rms of a, x' stored to xout (the
// residual stream the next layer reads), then x' converted segment by
// segment with the next norm's weight w. Its arithmetic is the prefill
// kernels' (rf_rms_norm_row's y = a * inv * w, then the add), so decode and
// prefill store the same x'.
template <int N, int NT, int KIND0, int KIND1, bool NORM>
RF_DEV void rf_rowtail(const float *a, const float *wpost, float eps_post, const float *xres, float *xout,
                       const float *w, float eps, unsigned char *dst0, unsigned char *dst1, unsigned int *cnt)
{
    constexpr int NSEG = N / 256, NWV = NT / RF_WAVE;
    __shared__ unsigned int s_t;
    __shared__ float s_red[NWV];
    const int tid = threadIdx.x;
    __syncthreads(); // the block's stores are issued
    if (tid == 0) {
        __threadfence();
        s_t = atomicAdd(&cnt[0], 1u) == gridDim.x * gridDim.y - 1;
    }
    __syncthreads();
    if (!s_t)
        return;
    __threadfence();
    const volatile float *av = a;
    float ss = 0.0f;
    for (int i = tid; i < N; i += NT)
        ss += av[i] * av[i];
    ss = rf_block_sum(ss, s_red, NWV);
    const float inv_a = 1.0f / sqrtf(ss / (float)N + eps_post);
    for (int i = tid; i < N; i += NT)
        xout[i] = xres[i] + av[i] * inv_a * wpost[i];
    __syncthreads(); // x' is this block's stores: visible to it
    float total = 0.0f;
    for (int seg = 0; seg < NSEG; seg++)
        total += rf_q8_seg<N, NT, KIND0, KIND1, NORM>(xout, w, seg, dst0, dst1);
    if (tid == 0) {
        const float inv = NORM ? 1.0f / sqrtf(total / (float)N + eps) : 1.0f;
        if (KIND0)
            *(float *)(dst0 + RF_XINV(N)) = inv;
        if (KIND1)
            *(float *)(dst1 + RF_XINV(N)) = inv;
        cnt[0] = 0;
    }
}
