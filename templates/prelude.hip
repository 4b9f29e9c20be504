// prelude.hip: the first lines of every kernel ROCmForge generates.
//
// Codegen renders it with the target's vendor and wavefront size, so the
// templates after it use one vocabulary on AMD (hipRTC) and NVIDIA (NVRTC):
//   RF_WAVE            lanes in a wavefront / warp: 64 on GCN and CDNA, 32 on RDNA and NVIDIA
//   rf_shfl_xor(v, m)  butterfly exchange within a wavefront
//   rf_dp4a(a, b, c)   c + the dot product of a's and b's four int8 bytes:
//                      one instruction where the target has it (RF_DOT4)
//   RF_DEV, RF_CONST   a device function, a read-only table (templates/quant.hip uses them)
// Nothing here includes a header: both compilers provide threadIdx, float4,
// the math functions and __syncthreads without one, and the source stays the
// same text whatever the installed SDK.
#define RF_VENDOR_{{VENDOR}} 1
#define RF_ARCH "{{ARCH}}"
#define RF_WAVE {{WAVE}}
#define RF_DOT4 {{DOT4}} // 1: dp4a (NVIDIA) / v_dot4_i32_i8 (AMD dot1-insts)
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
