// actq.hip: a matmul group's input as the reference's matrix products see it.
//
// llama.cpp's CPU products, and ours, never multiply a weight row with the
// f32 activations: each weight type names a vec_dot type and the activation
// row is first converted to it. Q8_0 / Q8_1 (for the 32-element block
// types): per block d = amax / 127 stored as f16, q = round(x / d) half away
// from zero. Q8_K (for the k-quants and IQ4_XS): per 256 elements
// iscale = 127 / amax, q = min(127, rint(x * iscale)), d = 1 / iscale. F16 and
// BF16 weights see the activation rounded to f16 / bf16. This kernel writes
// that row once per kind the group's weights need, and the matmul kernels
// read it instead of x: the Q8 kinds as K int8 values q followed by K / 32
// f32 scales d, one per 32 elements (Q8_K's one d per 256 repeated; Q8_0's
// d as its f16 rounds it), XROW bytes a row; the f16 / bf16 kinds as f32
// rows of the rounded values. The integer products then equal the CPU's up
// to the order of the float sums, which is what makes a near tie in a
// trained model's logits resolve the same way on both backends.
//
// Grid (K / SLICE, rows): a block converts SLICE elements of a row, so a
// decode step's one row spreads over several multiprocessors. The group's
// RMS norm (x / rms(x) * norm_w) runs here, before the conversion, as the
// CPU does it: every block of a row sums the whole row's squares (the same
// sum in the same order, so every block gets the same 1/rms).
#define K {{K}}           // features
#define NORM {{NORM}}     // 1: RMS-normalise first
#define NORM_W {{NORM_W}} // 1: the norm has a weight
#define EPS {{EPS}}
#define THREADS 256
#define NWAVES (THREADS / RF_WAVE)
#define SLICE {{SLICE}} // elements a block converts: a multiple of 256
#define XROW ((K + K / 32 * 4 + 15) / 16 * 16) // bytes of a quantized row and its scales, 16-aligned

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

// f32 → bf16 (ties to even, NaN kept quiet) → f32
RF_DEV float rf_round_bf16(float f)
{
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return __uint_as_float((u | 0x00400000u) & 0xffff0000u);
    return __uint_as_float((u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u);
}

RF_DEV float rf_wave_max(float v)
{
#pragma unroll
    for (int m = RF_WAVE / 2; m > 0; m >>= 1)
        v = fmaxf(v, rf_shfl_xor(v, m));
    return v;
}

// y = Q(x * inv * w) over the row, blocks of QB elements (32: Q8_0/Q8_1,
// 256: Q8_K), one wavefront a block; y is the row's XROW bytes
template <int QB, bool KQUANT>
RF_DEV void rf_actq_q8(const float *x, const float *w, float inv, unsigned char *y)
{
    float *yd = (float *)(y + K); // the scales, one per 32 elements
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE;
    constexpr int PER = (QB + RF_WAVE - 1) / RF_WAVE;
    const int end = min(K, ((int)blockIdx.x + 1) * SLICE) / QB;
    for (int b = (int)blockIdx.x * SLICE / QB + wave; b < end; b += NWAVES) {
        float v[PER], amax = 0.0f;
#pragma unroll
        for (int i = 0; i < PER; i++) {
            const int e = lane + i * RF_WAVE;
            v[i] = 0.0f;
            if (e < QB) {
                const int k = b * QB + e;
                v[i] = NORM ? x[k] * inv * (NORM_W ? w[k] : 1.0f) : x[k];
            }
            amax = fmaxf(amax, fabsf(v[i]));
        }
        amax = rf_wave_max(amax);
#pragma unroll
        for (int i = 0; i < PER; i++) {
            const int e = lane + i * RF_WAVE;
            if (e >= QB)
                continue;
            float q, d;
            if (KQUANT) { // quantize_row_q8_K: the sign of the largest value does not change d * q
                const float iscale = amax != 0.0f ? 127.0f / amax : 0.0f;
                q = amax != 0.0f ? fminf(127.0f, rintf(iscale * v[i])) : 0.0f;
                d = amax != 0.0f ? 1.0f / iscale : 0.0f;
            } else { // quantize_row_q8_0 / q8_1
                d = amax / 127.0f;
                const float id = d != 0.0f ? 1.0f / d : 0.0f;
                q = roundf(v[i] * id);
                d = rf_round_f16(d);
            }
            y[b * QB + e] = (unsigned char)(signed char)(int)q;
            if (e % 32 == 0)
                yd[(b * QB + e) / 32] = d;
        }
    }
}

// y = round(x * inv * w) to f32 (MODE 0), f16 (1) or bf16 (2)
template <int MODE>
RF_DEV void rf_actq_round(const float *x, const float *w, float inv, float *y)
{
    const int end = min(K, ((int)blockIdx.x + 1) * SLICE);
    for (int k = (int)blockIdx.x * SLICE + threadIdx.x; k < end; k += THREADS) {
        const float v = NORM ? x[k] * inv * (NORM_W ? w[k] : 1.0f) : x[k];
        y[k] = MODE == 1 ? rf_round_f16(v) : MODE == 2 ? rf_round_bf16(v) : v;
    }
}

extern "C" __global__ void __launch_bounds__(THREADS)
{{NAME}}({{PARAMS}}int T, const int *__restrict__ past)
{
    const int P = *past; // positions already in the cache: read here, so a captured step serves every P
    const int r = blockIdx.y;
    __shared__ float scratch[NWAVES];
    (void)T; (void)P; (void)scratch;
{{SETUP}}
    float inv = 1.0f;
#if NORM
    float ss = 0.0f;
    for (int k = threadIdx.x; k < K; k += THREADS)
        ss += x[k] * x[k];
    ss = rf_block_sum(ss, scratch, NWAVES);
    inv = 1.0f / sqrtf(ss / (float)K + EPS);
#endif
{{BODY}}
}
