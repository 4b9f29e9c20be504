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
// rows of the rounded values. An int8 row ends with the 1/rms the products
// multiply their sums by: 1 here, as this kernel normalises (a decode
// step's rows are made instead by the producing kernel's quantize-out tail,
// prelude.hip, which leaves the norm to that factor). The integer products
// then equal the CPU's up
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
#define XROW RF_XROW(K) // bytes of a quantized row: values, scales, 1/rms

// y = Q(x * inv * w) over the row, blocks of QB elements (32: Q8_0/Q8_1,
// 256: Q8_K), one wavefront a block; y is the row's XROW bytes
template <int QB, bool KQUANT>
RF_DEV void rf_actq_q8(const float *x, const float *w, float inv, unsigned char *y)
{
    if (blockIdx.x == 0 && threadIdx.x == 0)
        *(float *)(y + RF_XINV(K)) = 1.0f; // normalised here: the products' 1/rms is 1
    const int end = min(K, ((int)blockIdx.x + 1) * SLICE) / QB;
    rf_q8_blocks<QB, KQUANT>(x, NORM_W ? w : 0, inv, NORM, (int)blockIdx.x * SLICE / QB, end, NWAVES, y,
                             (float *)(y + K));
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
