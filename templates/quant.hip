// @common
/*
 * quant.hip: how a GPU kernel reads weights that stay in their GGUF block
 * format. One section per weight type; the renderer pastes this common
 * section and the sections of the types a kernel needs, so every section
 * compiles alone on top of this one. The lattice, ternary and NVFP4 types
 * are in quant_iq.hip, whose sections compile on top of this common section
 * and its own.
 *
 * The contract, for a type T (ggml's lowercase name):
 *   RF_QK_T, RF_QB_T  elements and bytes of a block. f32, f16 and bf16 have
 *                     a virtual block of 8 elements, so every type is read
 *                     the same way.
 *   rf_deq_T(blk, c, w)  chunk c in [0, RF_QK_T/8) of the block at blk:
 *                     eight weights dequantized to f32. w[0..3] are the
 *                     block's elements rf_a_T(c)..+3, w[4..7] rf_b_T(c)..+3;
 *                     both are multiples of 4, so the caller loads the
 *                     matching activations as two float4.
 *   rf_get_T(row, k)  element k of a row, for the embedding lookup.
 *
 * Why chunks are not eight consecutive elements: the block formats
 * interleave. A q4_0 byte holds element j in its low nibble and j+16 in its
 * high one; a q6_k ql byte holds elements 64 apart. A chunk is the set of
 * elements that a few consecutive quant bytes hold, so that chunk c reads
 * the bytes after chunk c-1's, and a byte is read by as few chunks as the
 * format allows (once for 4- and 8-bit quants; twice for q2_k's four 2-bit
 * fields, as each chunk takes two of them). The matmul gives lane L of a
 * warp chunks L, L+warp, ...: a warp then reads a block's quants coalesced,
 * each byte once. Scales are read per chunk with small loads; lanes of one
 * block hit the same bytes, which the cache serves once.
 *
 * Values are bit for bit those of the CPU reference (runtime/cpu/quant_*.c,
 * itself bit-exact with ggml): the same float operations in the same order.
 * Whether a GPU compiler contracts a*b - c into an fma is the includer's
 * choice (-ffp-contract / --fmad); the host test builds without it.
 *
 * Loads. A block is only as aligned as its size allows (the row starts
 * 32-byte aligned in the GGUF and in the device arena): q8_0's 34 bytes give
 * 2, q4_k's 144 give 16. Each type reads with the widest load that its
 * alignment guarantees, through the helpers below, never an unaligned cast;
 * each section states what it uses. Byte order is little-endian (every GPU
 * and host we run on).
 *
 * The includer defines RF_DEV (`__device__ __forceinline__` on the GPU,
 * `static inline` on the host) and RF_CONST for the code book tables
 * (`__constant__`, or `static const` on the host; a kernel whose lanes index
 * a table divergently may prefer `static __device__ const`). No header is
 * included: this is plain C++17 for the host compiler, hipRTC and NVRTC
 * alike, so halves and E8M0 scales are converted with integer arithmetic.
 */

/* p aligned to the load's width (u16: 2, u32: 4, u32x2: 8, u32x4: 16) */
struct alignas(8) rf_u32x2 { unsigned int x, y; };
struct alignas(16) rf_u32x4 { unsigned int x, y, z, w; };
RF_DEV unsigned int rf_ld_u16(const unsigned char *p) { return *(const unsigned short *)p; }
RF_DEV unsigned int rf_ld_u32(const unsigned char *p) { return *(const unsigned int *)p; }
RF_DEV rf_u32x2 rf_ld_u32x2(const unsigned char *p) { return *(const rf_u32x2 *)p; }
RF_DEV rf_u32x4 rf_ld_u32x4(const unsigned char *p) { return *(const rf_u32x4 *)p; }
/* four bytes from a 2-aligned address (two u16 loads) or any address */
RF_DEV unsigned int rf_ld_u32_a2(const unsigned char *p) { return rf_ld_u16(p) | rf_ld_u16(p + 2) << 16; }
RF_DEV unsigned int rf_ld_u32_a1(const unsigned char *p)
{
    return (unsigned int)p[0] | (unsigned int)p[1] << 8 | (unsigned int)p[2] << 16 | (unsigned int)p[3] << 24;
}

/* byte i of v, unsigned and as int8 */
RF_DEV int rf_u8(unsigned int v, int i) { return (int)((v >> (8 * i)) & 0xff); }
RF_DEV int rf_i8(unsigned int v, int i) { return (rf_u8(v, i) ^ 0x80) - 0x80; }

RF_DEV float rf_bits_f32(unsigned int u)
{
    union { unsigned int u; float f; } v;
    v.u = u;
    return v.f;
}

/* exact, NaN payload kept, as cpu_fp16_to_f32: one conversion instruction
 * on the GPU, integer arithmetic on the host (the host test's reference) */
#if defined(__CUDA_ARCH__)
RF_DEV float rf_f16_to_f32(unsigned short h)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
#elif defined(__HIP_DEVICE_COMPILE__)
RF_DEV float rf_f16_to_f32(unsigned short h)
{
    _Float16 v;
    __builtin_memcpy(&v, &h, 2);
    return (float)v;
}
#else
RF_DEV float rf_f16_to_f32(unsigned short h)
{
    unsigned int sign = (unsigned int)(h & 0x8000) << 16;
    unsigned int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f)
        return rf_bits_f32(sign | 0x7f800000u | man << 13);
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return rf_bits_f32(sign | (exp + 112) << 23 | man << 13);
}
#endif

RF_DEV float rf_bf16_to_f32(unsigned short h) { return rf_bits_f32((unsigned int)h << 16); }

/* 2^(e-128): half the E8M0 scale, as ggml's GGML_E8M0_TO_FP32_HALF */
RF_DEV float rf_e8m0_to_f32_half(unsigned int e)
{
    return rf_bits_f32(e < 2 ? 0x00200000u << e : (e - 1) << 23);
}

/* the low and high half of a u32 holding two halves */
RF_DEV float rf_f16_lo(unsigned int v) { return rf_f16_to_f32((unsigned short)(v & 0xffff)); }
RF_DEV float rf_f16_hi(unsigned int v) { return rf_f16_to_f32((unsigned short)(v >> 16)); }

/* q4_k / q5_k: 6-bit scale and min of sub-block j from the 12 scale bytes,
 * held as the words y, z, w of the block's first 16 bytes */
RF_DEV void rf_k4_scale_min(rf_u32x4 h, int j, int *sc, int *m)
{
    int sh = 8 * (j & 3);
    unsigned int s0 = h.y >> sh, s1 = h.z >> sh, s2 = h.w >> sh;
    if (j < 4) {
        *sc = (int)(s0 & 63);
        *m = (int)(s1 & 63);
    } else {
        *sc = (int)((s2 & 0xf) | ((s0 >> 6) & 3) << 4);
        *m = (int)(((s2 >> 4) & 0xf) | ((s1 >> 6) & 3) << 4);
    }
}

/* iq4_nl / iq4_xs levels, and mxfp4's E2M1 values doubled (the E8M0 scale
 * is halved to match) */
RF_CONST signed char rf_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                             1,    13,   25,  38,  53,  69,  89,  113};
RF_CONST signed char rf_kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};


/* The integer form of a chunk (all types but f32, f16, bf16):
 *   rf_qw_T(blk, c, q, s, m)  chunk c's eight weights as integers: q[0]
 *                     packs elements rf_a_T(c)..+3 as four int8 (element
 *                     rf_a_T(c) in the low byte), q[1] rf_b_T(c)..+3; the
 *                     weights are s[h] * q + m[h], for half h, computed as
 *                     rf_deq_T computes them (so that is what rf_deq_T is).
 *   RF_QMIN_T         1 when m can be non-zero (the types with a min or an
 *                     offset); 0 when m is always 0 and the product needs no
 *                     sum of the activations.
 * A matrix product then takes a chunk's dot product with int8 activations
 * as two 4-way integer dot products (rf_dp4a), scaled once per half. */
RF_DEV void rf_qw_expand(const int q[2], const float s[2], const float m[2], bool has_min, float w[8])
{
    for (int j = 0; j < 4; j++) {
        const float a = s[0] * (float)rf_i8((unsigned int)q[0], j), b = s[1] * (float)rf_i8((unsigned int)q[1], j);
        w[j] = has_min ? a + m[0] : a; /* + 0 would turn -0 into +0 */
        w[4 + j] = has_min ? b + m[1] : b;
    }
}
/* A quad half's integer products on the GPU (the prelude's rf_dp4a; the
 * matrix products use them): */
#ifdef RF_WAVE
// sum_i q_i x_i over 16 int8 pairs; sum_i x_i over 16 (the x_i four to a u32)
RF_DEV int rf_dot16(const int *q, rf_u32x4 x)
{
    return rf_dp4a(q[3], (int)x.w, rf_dp4a(q[2], (int)x.z, rf_dp4a(q[1], (int)x.y, rf_dp4a(q[0], (int)x.x, 0))));
}
RF_DEV int rf_sum16(rf_u32x4 x)
{
    const int ones = 0x01010101;
    return rf_dp4a(ones, (int)x.w, rf_dp4a(ones, (int)x.z, rf_dp4a(ones, (int)x.y, rf_dp4a(ones, (int)x.x, 0))));
}
#endif
/* Quads. Chunks 4i..4i+3 of a block (quad i, 32 weights) share their
 * scales in every type, and their halves are contiguous: chunk 4i+j's
 * elements are A+4j.. and B+4j.., A = rf_a_T(4i), B = rf_b_T(4i), both
 * multiples of 16. A matrix product that gives each lane a quad decodes the
 * scales once for 32 weights and loads the activations as two 16-byte runs:
 *   rf_qw4_T(blk, i, q, s, m)  q[j], q[4 + j]: chunk 4i+j's q[0], q[1];
 *                     s, m as the four chunks share them. A type with no
 *                     wider load than its chunks' takes RF_QW4_FROM_QW. */
#define RF_QW4_FROM_QW(T)                                                                          \
    RF_DEV void rf_qw4_##T(const unsigned char *blk, int c4, int q[8], float s[2], float m[2])     \
    {                                                                                              \
        for (int j = 0; j < 4; j++) {                                                              \
            int qj[2];                                                                             \
            rf_qw_##T(blk, 4 * c4 + j, qj, s, m);                                                  \
            q[j] = qj[0];                                                                          \
            q[4 + j] = qj[1];                                                                      \
        }                                                                                          \
    }
#define RF_DEQ_FROM_QW(T)                                                                          \
    RF_DEV void rf_deq_##T(const unsigned char *blk, int c, float w[8])                            \
    {                                                                                              \
        int q[2];                                                                                  \
        float s[2], m[2];                                                                          \
        rf_qw_##T(blk, c, q, s, m);                                                                \
        rf_qw_expand(q, s, m, RF_QMIN_##T, w);                                                     \
    }

/* each byte of x (0..127) minus the same byte of k4, as int8; lifting every
 * byte by 128 first keeps borrows from crossing bytes */
RF_DEV int rf_sub_bytes(unsigned int x, unsigned int k4) { return (int)(((x | 0x80808080u) - k4) ^ 0x80808080u); }

/* bits 0..3 of h, one to each byte's bit 4 */
RF_DEV unsigned int rf_bit4_bytes(unsigned int h)
{
    return (h & 1u) << 4 | (h & 2u) << 11 | (h & 4u) << 18 | (h & 8u) << 25;
}

/* byte i of the result: byte sel_i (0..7, byte i of sel) of lo's bytes
 * 0..3 then hi's: v_perm_b32 on AMD, prmt (its selector a nibble a byte)
 * on NVIDIA */
RF_DEV unsigned int rf_perm_bytes(unsigned int hi, unsigned int lo, unsigned int sel)
{
#if defined(RF_VENDOR_NVIDIA)
    const unsigned int n = sel | sel >> 4;
    return __byte_perm(lo, hi, (n & 0xffu) | (n >> 8 & 0xff00u));
#elif defined(RF_VENDOR_AMD)
    return __builtin_amdgcn_perm(hi, lo, sel);
#else
    unsigned int r = 0;
    for (int i = 0; i < 32; i += 8) {
        const unsigned int b = sel >> i & 7;
        r |= (b < 4 ? lo >> 8 * b : hi >> 8 * (b - 4)) << i & 0xffu << i;
    }
    return r;
#endif
}

/* four int8 entries of a 16-entry table, indexed by the nibbles of v at
 * shift sh (bits sh..sh+3 of each byte), the table in registers (t.x:
 * entries 0..3, low byte first, ... t.w: 12..15) rather than in memory:
 * a product of iq4_nl, iq4_xs, mxfp4 or nvfp4 weights looks up every
 * weight, and the table's loads were what bound it */
RF_DEV int rf_lut16(rf_u32x4 t, unsigned int v, int sh)
{
    const unsigned int q = v >> sh & 0x0f0f0f0fu, idx = q & 0x07070707u;
    const unsigned int upper = (q >> 3 & 0x01010101u) * 0xffu; /* entries 8..15 */
    const unsigned int lo = rf_perm_bytes(t.y, t.x, idx), hi = rf_perm_bytes(t.w, t.z, idx);
    return (int)((lo & ~upper) | (hi & upper));
}

/* rf_kvalues_iq4nl and rf_kvalues_mxfp4 as rf_lut16 takes them */
RF_DEV rf_u32x4 rf_words_iq4nl(void) { return rf_u32x4{0xbfad9881u, 0xf6eaddcfu, 0x26190d01u, 0x71594535u}; }
RF_DEV rf_u32x4 rf_words_mxfp4(void) { return rf_u32x4{0x03020100u, 0x0c080604u, 0xfdfeff00u, 0xf4f8fafcu}; }

// @type f32
/* f32: a virtual block of 8 floats, 32 bytes, 32-aligned; one chunk, two
 * 16-byte loads. */
#define RF_QK_f32 8
#define RF_QB_f32 32
RF_DEV int rf_a_f32(int c) { return 8 * c; }
RF_DEV int rf_b_f32(int c) { return 8 * c + 4; }
RF_DEV void rf_deq_f32(const unsigned char *blk, int c, float w[8])
{
    (void)c;
    rf_u32x4 lo = rf_ld_u32x4(blk), hi = rf_ld_u32x4(blk + 16);
    w[0] = rf_bits_f32(lo.x), w[1] = rf_bits_f32(lo.y), w[2] = rf_bits_f32(lo.z), w[3] = rf_bits_f32(lo.w);
    w[4] = rf_bits_f32(hi.x), w[5] = rf_bits_f32(hi.y), w[6] = rf_bits_f32(hi.z), w[7] = rf_bits_f32(hi.w);
}
RF_DEV float rf_get_f32(const unsigned char *row, int k) { return rf_bits_f32(rf_ld_u32(row + 4 * k)); }

// @type f16
/* f16: a virtual block of 8 halves, 16 bytes, 16-aligned; one chunk, one
 * 16-byte load. */
#define RF_QK_f16 8
#define RF_QB_f16 16
RF_DEV int rf_a_f16(int c) { return 8 * c; }
RF_DEV int rf_b_f16(int c) { return 8 * c + 4; }
RF_DEV void rf_deq_f16(const unsigned char *blk, int c, float w[8])
{
    (void)c;
    rf_u32x4 v = rf_ld_u32x4(blk);
    w[0] = rf_f16_lo(v.x), w[1] = rf_f16_hi(v.x), w[2] = rf_f16_lo(v.y), w[3] = rf_f16_hi(v.y);
    w[4] = rf_f16_lo(v.z), w[5] = rf_f16_hi(v.z), w[6] = rf_f16_lo(v.w), w[7] = rf_f16_hi(v.w);
}
RF_DEV float rf_get_f16(const unsigned char *row, int k)
{
    return rf_f16_to_f32((unsigned short)rf_ld_u16(row + 2 * k));
}

// @type bf16
/* bf16: as f16, a virtual block of 8, one 16-byte load. */
#define RF_QK_bf16 8
#define RF_QB_bf16 16
RF_DEV int rf_a_bf16(int c) { return 8 * c; }
RF_DEV int rf_b_bf16(int c) { return 8 * c + 4; }
RF_DEV void rf_deq_bf16(const unsigned char *blk, int c, float w[8])
{
    (void)c;
    rf_u32x4 v = rf_ld_u32x4(blk);
    w[0] = rf_bits_f32(v.x << 16), w[1] = rf_bits_f32(v.x & 0xffff0000u);
    w[2] = rf_bits_f32(v.y << 16), w[3] = rf_bits_f32(v.y & 0xffff0000u);
    w[4] = rf_bits_f32(v.z << 16), w[5] = rf_bits_f32(v.z & 0xffff0000u);
    w[6] = rf_bits_f32(v.w << 16), w[7] = rf_bits_f32(v.w & 0xffff0000u);
}
RF_DEV float rf_get_bf16(const unsigned char *row, int k)
{
    return rf_bf16_to_f32((unsigned short)rf_ld_u16(row + 2 * k));
}

// @type q4_0
/* q4_0, 18 bytes, 2-aligned: d (f16), qs[16]; qs[j] holds element j (low
 * nibble) and j+16 (high), q-8 times d. Chunk c: qs[4c..4c+3] (two u16
 * loads), elements 4c.. and 16+4c.. */
#define RF_QK_q4_0 32
#define RF_QB_q4_0 18
RF_DEV int rf_a_q4_0(int c) { return 4 * c; }
RF_DEV int rf_b_q4_0(int c) { return 16 + 4 * c; }
#define RF_QMIN_q4_0 0
#define RF_QSAME_q4_0 1
RF_DEV void rf_qw_q4_0(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const float d = rf_f16_lo(rf_ld_u16(blk));
    const unsigned int v = rf_ld_u32_a2(blk + 2 + 4 * c);
    q[0] = rf_sub_bytes(v & 0x0f0f0f0fu, 0x08080808u);
    q[1] = rf_sub_bytes((v >> 4) & 0x0f0f0f0fu, 0x08080808u);
    s[0] = s[1] = d;
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(q4_0)
RF_DEV void rf_qw4_q4_0(const unsigned char *blk, int c4, int q[8], float s[2], float m[2])
{
    (void)c4; /* one quad: the block */
    for (int j = 0; j < 4; j++) {
        const unsigned int v = rf_ld_u32_a2(blk + 2 + 4 * j);
        q[j] = rf_sub_bytes(v & 0x0f0f0f0fu, 0x08080808u);
        q[4 + j] = rf_sub_bytes((v >> 4) & 0x0f0f0f0fu, 0x08080808u);
    }
    s[0] = s[1] = rf_f16_lo(rf_ld_u16(blk));
    m[0] = m[1] = 0.0f;
}
RF_DEV float rf_get_q4_0(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 32) * RF_QB_q4_0;
    int e = k % 32, v = blk[2 + e % 16];
    return (float)((e < 16 ? v & 0xf : v >> 4) - 8) * rf_f16_lo(rf_ld_u16(blk));
}

// @type q4_1
/* q4_1, 20 bytes, 4-aligned: d, m (f16, one u32 load), qs[16] as q4_0's,
 * q*d + m. Chunk c: qs[4c..4c+3] (one u32 load), elements 4c.. and 16+4c.. */
#define RF_QK_q4_1 32
#define RF_QB_q4_1 20
RF_DEV int rf_a_q4_1(int c) { return 4 * c; }
RF_DEV int rf_b_q4_1(int c) { return 16 + 4 * c; }
#define RF_QMIN_q4_1 1
#define RF_QSAME_q4_1 1
RF_DEV void rf_qw_q4_1(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const unsigned int dm = rf_ld_u32(blk), v = rf_ld_u32(blk + 4 + 4 * c);
    q[0] = (int)(v & 0x0f0f0f0fu);
    q[1] = (int)((v >> 4) & 0x0f0f0f0fu);
    s[0] = s[1] = rf_f16_lo(dm);
    m[0] = m[1] = rf_f16_hi(dm);
}
RF_DEQ_FROM_QW(q4_1)
RF_QW4_FROM_QW(q4_1)
RF_DEV float rf_get_q4_1(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 32) * RF_QB_q4_1;
    unsigned int dm = rf_ld_u32(blk);
    int e = k % 32, v = blk[4 + e % 16];
    return (float)(e < 16 ? v & 0xf : v >> 4) * rf_f16_lo(dm) + rf_f16_hi(dm);
}

// @type q5_0
/* q5_0, 22 bytes, 2-aligned: d (f16), qh[4] (bit j: 5th bit of element j),
 * qs[16] as q4_0's, q-16 times d. Chunk c: qs[4c..4c+3] (two u16 loads) and
 * the qh bytes holding bits 4c.. and 16+4c.. (two byte loads). */
#define RF_QK_q5_0 32
#define RF_QB_q5_0 22
RF_DEV int rf_a_q5_0(int c) { return 4 * c; }
RF_DEV int rf_b_q5_0(int c) { return 16 + 4 * c; }
#define RF_QMIN_q5_0 0
#define RF_QSAME_q5_0 1
RF_DEV void rf_qw_q5_0(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const float d = rf_f16_lo(rf_ld_u16(blk));
    const int sh = 4 * (c & 1);
    const unsigned int ha = (unsigned int)(blk[2 + c / 2] >> sh), hb = (unsigned int)(blk[4 + c / 2] >> sh);
    const unsigned int v = rf_ld_u32_a2(blk + 6 + 4 * c);
    q[0] = rf_sub_bytes((v & 0x0f0f0f0fu) | rf_bit4_bytes(ha), 0x10101010u);
    q[1] = rf_sub_bytes(((v >> 4) & 0x0f0f0f0fu) | rf_bit4_bytes(hb), 0x10101010u);
    s[0] = s[1] = d;
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(q5_0)
RF_QW4_FROM_QW(q5_0)
RF_DEV float rf_get_q5_0(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 32) * RF_QB_q5_0;
    int e = k % 32, v = blk[6 + e % 16], h = (blk[2 + e / 8] >> (e % 8)) & 1;
    return (float)(((e < 16 ? v & 0xf : v >> 4) | h << 4) - 16) * rf_f16_lo(rf_ld_u16(blk));
}

// @type q5_1
/* q5_1, 24 bytes, 8-aligned: d, m (f16), qh[4] (one u32x2 load for all
 * three), qs[16] as q4_0's, q*d + m. Chunk c: qs[4c..4c+3] (one u32 load),
 * elements 4c.. and 16+4c.. */
#define RF_QK_q5_1 32
#define RF_QB_q5_1 24
RF_DEV int rf_a_q5_1(int c) { return 4 * c; }
RF_DEV int rf_b_q5_1(int c) { return 16 + 4 * c; }
#define RF_QMIN_q5_1 1
#define RF_QSAME_q5_1 1
RF_DEV void rf_qw_q5_1(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const rf_u32x2 h = rf_ld_u32x2(blk);
    const unsigned int ha = h.y >> (4 * c), hb = h.y >> (16 + 4 * c);
    const unsigned int v = rf_ld_u32(blk + 8 + 4 * c);
    q[0] = (int)((v & 0x0f0f0f0fu) | rf_bit4_bytes(ha & 0xf));
    q[1] = (int)(((v >> 4) & 0x0f0f0f0fu) | rf_bit4_bytes(hb & 0xf));
    s[0] = s[1] = rf_f16_lo(h.x);
    m[0] = m[1] = rf_f16_hi(h.x);
}
RF_DEQ_FROM_QW(q5_1)
RF_QW4_FROM_QW(q5_1)
RF_DEV float rf_get_q5_1(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 32) * RF_QB_q5_1;
    rf_u32x2 h = rf_ld_u32x2(blk);
    int e = k % 32, v = blk[8 + e % 16], hi = (int)((h.y >> e) & 1);
    return (float)((e < 16 ? v & 0xf : v >> 4) | hi << 4) * rf_f16_lo(h.x) + rf_f16_hi(h.x);
}

// @type q8_0
/* q8_0, 34 bytes, 2-aligned: d (f16), qs[32] int8, q times d. Chunk c:
 * qs[4c..4c+3] and qs[16+4c..16+4c+3] (two u16 loads each), elements 4c..
 * and 16+4c.., the layout of the other 32-element types; a quad is the
 * whole block, 32 bytes in 16 u16 loads. */
#define RF_QK_q8_0 32
#define RF_QB_q8_0 34
RF_DEV int rf_a_q8_0(int c) { return 4 * c; }
RF_DEV int rf_b_q8_0(int c) { return 16 + 4 * c; }
#define RF_QMIN_q8_0 0
#define RF_QSAME_q8_0 1
RF_DEV void rf_qw_q8_0(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    q[0] = (int)rf_ld_u32_a2(blk + 2 + 4 * c);
    q[1] = (int)rf_ld_u32_a2(blk + 18 + 4 * c);
    s[0] = s[1] = rf_f16_lo(rf_ld_u16(blk));
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(q8_0)
RF_DEV void rf_qw4_q8_0(const unsigned char *blk, int c4, int q[8], float s[2], float m[2])
{
    (void)c4;
    for (int i = 0; i < 8; i++)
        q[i] = (int)rf_ld_u32_a2(blk + 2 + 4 * i);
    s[0] = s[1] = rf_f16_lo(rf_ld_u16(blk));
    m[0] = m[1] = 0.0f;
}
RF_DEV float rf_get_q8_0(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 32) * RF_QB_q8_0;
    return (float)rf_i8(blk[2 + k % 32], 0) * rf_f16_lo(rf_ld_u16(blk));
}

// @type q2_k
/* q2_k, 84 bytes, 4-aligned: scales[16] (low nibble scale, high nibble
 * min, one per 16 elements), qs[64], d, dmin (f16, one u32 load). Element
 * 128n + 32j + l is bits 2j..2j+1 of qs[32n + l]: each byte holds four
 * elements 32 apart. Chunk c = 16p + 8n + i: qs[4(c%16)..+3] (one u32
 * load), fields j = 2p and 2p+1, elements 128n + 64p + 4i.. and 32 on; so
 * chunks 0..15 and 16..31 each read the 64 bytes once. */
#define RF_QK_q2_k 256
#define RF_QB_q2_k 84
RF_DEV int rf_a_q2_k(int c) { return 128 * ((c >> 3) & 1) + 64 * (c >> 4) + 4 * (c & 7); }
RF_DEV int rf_b_q2_k(int c) { return rf_a_q2_k(c) + 32; }
#define RF_QMIN_q2_k 1
#define RF_QSAME_q2_k 0
RF_DEV void rf_qw_q2_k(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const unsigned int dm = rf_ld_u32(blk + 80);
    const float d = rf_f16_lo(dm), dmin = rf_f16_hi(dm);
    const int a = rf_a_q2_k(c), sh = 4 * (c >> 4);
    const int sa = blk[a / 16], sb = blk[(a + 32) / 16];
    const unsigned int v = rf_ld_u32(blk + 16 + 4 * (c & 15));
    q[0] = (int)((v >> sh) & 0x03030303u);
    q[1] = (int)((v >> (sh + 2)) & 0x03030303u);
    s[0] = d * (sa & 0xf), m[0] = -(dmin * (sa >> 4));
    s[1] = d * (sb & 0xf), m[1] = -(dmin * (sb >> 4));
}
RF_DEQ_FROM_QW(q2_k)
RF_QW4_FROM_QW(q2_k)
RF_DEV float rf_get_q2_k(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 256) * RF_QB_q2_k;
    int e = k % 256, sc = blk[e / 16];
    int q = (blk[16 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    unsigned int dm = rf_ld_u32(blk + 80);
    return rf_f16_lo(dm) * (sc & 0xf) * q - rf_f16_hi(dm) * (sc >> 4);
}

// @type q3_k
/* q3_k, 110 bytes, 2-aligned: hmask[32], qs[64], scales[12] (16 6-bit
 * scales biased by 32), d (f16). Element 128n + 32j + l: low bits
 * 2j..2j+1 of qs[32n + l] as q2_k, high bit 4n + j of hmask[l], minus 4
 * when that bit is clear. Chunks as q2_k's: qs[4(c%16)..+3] and
 * hmask[4i..4i+3] (two u16 loads each), elements 128n + 64p + 4i.. and 32
 * on. Each hmask byte holds eight elements' bits, so four chunks read it. */
#define RF_QK_q3_k 256
#define RF_QB_q3_k 110
RF_DEV int rf_a_q3_k(int c) { return 128 * ((c >> 3) & 1) + 64 * (c >> 4) + 4 * (c & 7); }
RF_DEV int rf_b_q3_k(int c) { return rf_a_q3_k(c) + 32; }
/* scale s of the 16, unbiased */
RF_DEV int rf_q3_k_scale(const unsigned char *scales, int s)
{
    int lo = s < 8 ? scales[s] & 0xf : scales[s - 8] >> 4;
    int hi = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
    return (lo | hi << 4) - 32;
}
#define RF_QMIN_q3_k 0
#define RF_QSAME_q3_k 0
RF_DEV void rf_qw_q3_k(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const float d = rf_f16_lo(rf_ld_u16(blk + 108));
    const int a = rf_a_q3_k(c), n = (c >> 3) & 1, ja = 2 * (c >> 4);
    const unsigned int v = rf_ld_u32_a2(blk + 32 + 4 * (c & 15)) >> (2 * ja);
    const unsigned int hm = rf_ld_u32_a2(blk + 4 * (c & 7)) >> (4 * n + ja);
    /* low bits | high bit << 2, minus 4: the clear high bit subtracts 4 */
    q[0] = rf_sub_bytes((v & 0x03030303u) | (hm & 0x01010101u) << 2, 0x04040404u);
    q[1] = rf_sub_bytes(((v >> 2) & 0x03030303u) | (hm & 0x02020202u) << 1, 0x04040404u);
    s[0] = d * rf_q3_k_scale(blk + 96, a / 16);
    s[1] = d * rf_q3_k_scale(blk + 96, (a + 32) / 16);
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(q3_k)
RF_QW4_FROM_QW(q3_k)
RF_DEV float rf_get_q3_k(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 256) * RF_QB_q3_k;
    int e = k % 256, n = e / 128, j = (e % 128) / 32, l = e % 32;
    int lo = (blk[32 + 32 * n + l] >> (2 * j)) & 3;
    int hi = (blk[l] >> (4 * n + j)) & 1;
    float dl = rf_f16_lo(rf_ld_u16(blk + 108)) * rf_q3_k_scale(blk + 96, e / 16);
    return dl * (lo - (hi ? 0 : 4));
}

// @type q4_k
/* q4_k, 144 bytes, 16-aligned: d, dmin (f16), scales[12] (8 6-bit scales
 * and mins, one per 32 elements), all four in one u32x4 load; qs[128]:
 * qs[32g + l] holds element 64g + l (low nibble) and 64g + 32 + l (high).
 * Chunk c = 8g + i: qs[4c..4c+3] (one u32 load), elements 64g + 4i.. and
 * 64g + 32 + 4i.., sub-blocks 2g and 2g+1. */
#define RF_QK_q4_k 256
#define RF_QB_q4_k 144
RF_DEV int rf_a_q4_k(int c) { return 64 * (c >> 3) + 4 * (c & 7); }
RF_DEV int rf_b_q4_k(int c) { return rf_a_q4_k(c) + 32; }
#define RF_QMIN_q4_k 1
#define RF_QSAME_q4_k 0
RF_DEV void rf_qw_q4_k(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const rf_u32x4 h = rf_ld_u32x4(blk);
    const float d = rf_f16_lo(h.x), dmin = rf_f16_hi(h.x);
    int sa, ma, sb, mb;
    rf_k4_scale_min(h, 2 * (c >> 3), &sa, &ma);
    rf_k4_scale_min(h, 2 * (c >> 3) + 1, &sb, &mb);
    const unsigned int v = rf_ld_u32(blk + 16 + 4 * c);
    q[0] = (int)(v & 0x0f0f0f0fu);
    q[1] = (int)((v >> 4) & 0x0f0f0f0fu);
    s[0] = d * sa, m[0] = -(dmin * ma);
    s[1] = d * sb, m[1] = -(dmin * mb);
}
RF_DEQ_FROM_QW(q4_k)
/* quad i = 2g + h: qs[16i..16i+15] in one 16-byte load */
RF_DEV void rf_qw4_q4_k(const unsigned char *blk, int c4, int q[8], float s[2], float m[2])
{
    const rf_u32x4 h = rf_ld_u32x4(blk), v = rf_ld_u32x4(blk + 16 + 16 * c4);
    const float d = rf_f16_lo(h.x), dmin = rf_f16_hi(h.x);
    int sa, ma, sb, mb;
    rf_k4_scale_min(h, 2 * (c4 >> 1), &sa, &ma);
    rf_k4_scale_min(h, 2 * (c4 >> 1) + 1, &sb, &mb);
    const unsigned int w[4] = {v.x, v.y, v.z, v.w};
    for (int j = 0; j < 4; j++) {
        q[j] = (int)(w[j] & 0x0f0f0f0fu);
        q[4 + j] = (int)((w[j] >> 4) & 0x0f0f0f0fu);
    }
    s[0] = d * sa, m[0] = -(dmin * ma);
    s[1] = d * sb, m[1] = -(dmin * mb);
}
RF_DEV float rf_get_q4_k(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 256) * RF_QB_q4_k;
    rf_u32x4 h = rf_ld_u32x4(blk);
    int e = k % 256, sc, m;
    rf_k4_scale_min(h, e / 32, &sc, &m);
    int v = blk[16 + 32 * (e / 64) + e % 32];
    return rf_f16_lo(h.x) * sc * ((e % 64) < 32 ? v & 0xf : v >> 4) - rf_f16_hi(h.x) * m;
}

// @type q5_k
/* q5_k, 176 bytes, 16-aligned: d, dmin, scales[12] as q4_k's (one u32x4
 * load), qh[32] (bit 2g + h of qh[l]: fifth bit of element 64g + 32h + l),
 * qs[128] as q4_k's. Chunk c = 8g + i: qs[4c..4c+3] and qh[4i..4i+3] (one
 * u32 load each), elements as q4_k's; four chunks read each qh byte. */
#define RF_QK_q5_k 256
#define RF_QB_q5_k 176
RF_DEV int rf_a_q5_k(int c) { return 64 * (c >> 3) + 4 * (c & 7); }
RF_DEV int rf_b_q5_k(int c) { return rf_a_q5_k(c) + 32; }
#define RF_QMIN_q5_k 1
#define RF_QSAME_q5_k 0
RF_DEV void rf_qw_q5_k(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const rf_u32x4 h = rf_ld_u32x4(blk);
    const float d = rf_f16_lo(h.x), dmin = rf_f16_hi(h.x);
    const int g = c >> 3;
    int sa, ma, sb, mb;
    rf_k4_scale_min(h, 2 * g, &sa, &ma);
    rf_k4_scale_min(h, 2 * g + 1, &sb, &mb);
    const unsigned int v = rf_ld_u32(blk + 48 + 4 * c);
    const unsigned int qh = rf_ld_u32(blk + 16 + 4 * (c & 7)) >> (2 * g);
    q[0] = (int)((v & 0x0f0f0f0fu) | (qh & 0x01010101u) << 4);
    q[1] = (int)(((v >> 4) & 0x0f0f0f0fu) | (qh & 0x02020202u) << 3);
    s[0] = d * sa, m[0] = -(dmin * ma);
    s[1] = d * sb, m[1] = -(dmin * mb);
}
RF_DEQ_FROM_QW(q5_k)
/* quad i = 2g + h: qs[16i..] and qh[16h..], one 16-byte load each */
RF_DEV void rf_qw4_q5_k(const unsigned char *blk, int c4, int q[8], float s[2], float m[2])
{
    const rf_u32x4 h = rf_ld_u32x4(blk), v = rf_ld_u32x4(blk + 48 + 16 * c4);
    const rf_u32x4 hh = rf_ld_u32x4(blk + 16 + 16 * (c4 & 1));
    const float d = rf_f16_lo(h.x), dmin = rf_f16_hi(h.x);
    const int g = c4 >> 1;
    int sa, ma, sb, mb;
    rf_k4_scale_min(h, 2 * g, &sa, &ma);
    rf_k4_scale_min(h, 2 * g + 1, &sb, &mb);
    const unsigned int w[4] = {v.x, v.y, v.z, v.w}, qh[4] = {hh.x, hh.y, hh.z, hh.w};
    for (int j = 0; j < 4; j++) {
        const unsigned int b = qh[j] >> (2 * g);
        q[j] = (int)((w[j] & 0x0f0f0f0fu) | (b & 0x01010101u) << 4);
        q[4 + j] = (int)(((w[j] >> 4) & 0x0f0f0f0fu) | (b & 0x02020202u) << 3);
    }
    s[0] = d * sa, m[0] = -(dmin * ma);
    s[1] = d * sb, m[1] = -(dmin * mb);
}
RF_DEV float rf_get_q5_k(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 256) * RF_QB_q5_k;
    rf_u32x4 h = rf_ld_u32x4(blk);
    int e = k % 256, g = e / 64, hi = (e % 64) / 32, l = e % 32, sc, m;
    rf_k4_scale_min(h, e / 32, &sc, &m);
    int v = blk[48 + 32 * g + l];
    int q = (hi ? v >> 4 : v & 0xf) + ((blk[16 + l] >> (2 * g + hi)) & 1 ? 16 : 0);
    return rf_f16_lo(h.x) * sc * q - rf_f16_hi(h.x) * m;
}

// @type q6_k
/* q6_k, 210 bytes, 2-aligned: ql[128] (low 4 bits), qh[64] (high 2 bits),
 * scales[16] int8 (one per 16 elements), d (f16); q-32 times d*scale. In
 * half n (128 elements), ql[64n + l] holds element 128n + l (low nibble)
 * and 128n + 64 + l (high), for l < 64; qh[32n + l] holds bits 4..5 of
 * elements 128n + l + 32g, g = 0..3, in bits 2g..2g+1. Chunk c = 16n + i:
 * ql[4c..4c+3] and qh[32n + 4(i%8)..+3] (two u16 loads each), elements
 * 128n + 4i.. and 128n + 64 + 4i..; two chunks read each qh byte. */
#define RF_QK_q6_k 256
#define RF_QB_q6_k 210
RF_DEV int rf_a_q6_k(int c) { return 128 * (c >> 4) + 4 * (c & 15); }
RF_DEV int rf_b_q6_k(int c) { return rf_a_q6_k(c) + 64; }
#define RF_QMIN_q6_k 0
#define RF_QSAME_q6_k 0
RF_DEV void rf_qw_q6_k(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const float d = rf_f16_lo(rf_ld_u16(blk + 208));
    const int a = rf_a_q6_k(c), n = c >> 4, g = (c >> 3) & 1;
    const unsigned int ql = rf_ld_u32_a2(blk + 4 * c);
    const unsigned int qh = rf_ld_u32_a2(blk + 128 + 32 * n + 4 * (c & 7)) >> (2 * g);
    q[0] = rf_sub_bytes((ql & 0x0f0f0f0fu) | (qh & 0x03030303u) << 4, 0x20202020u);
    q[1] = rf_sub_bytes(((ql >> 4) & 0x0f0f0f0fu) | ((qh >> 4) & 0x03030303u) << 4, 0x20202020u);
    s[0] = d * rf_i8(blk[192 + a / 16], 0);
    s[1] = d * rf_i8(blk[192 + (a + 64) / 16], 0);
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(q6_k)
/* quad i = 4n + k: ql[16i..16i+15], qh[32n + 16(k&1)..+15] (u16 loads), the
 * scales of elements 128n + 16k and 64 on */
RF_DEV void rf_qw4_q6_k(const unsigned char *blk, int c4, int q[8], float s[2], float m[2])
{
    const float d = rf_f16_lo(rf_ld_u16(blk + 208));
    const int n = c4 >> 2, g = (c4 >> 1) & 1, a = 128 * n + 16 * (c4 & 3);
    for (int j = 0; j < 4; j++) {
        const unsigned int ql = rf_ld_u32_a2(blk + 16 * c4 + 4 * j);
        const unsigned int qh = rf_ld_u32_a2(blk + 128 + 32 * n + 16 * (c4 & 1) + 4 * j) >> (2 * g);
        q[j] = rf_sub_bytes((ql & 0x0f0f0f0fu) | (qh & 0x03030303u) << 4, 0x20202020u);
        q[4 + j] = rf_sub_bytes(((ql >> 4) & 0x0f0f0f0fu) | ((qh >> 4) & 0x03030303u) << 4, 0x20202020u);
    }
    s[0] = d * rf_i8(blk[192 + a / 16], 0);
    s[1] = d * rf_i8(blk[192 + (a + 64) / 16], 0);
    m[0] = m[1] = 0.0f;
}
RF_DEV float rf_get_q6_k(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 256) * RF_QB_q6_k;
    int e = k % 256, n = e / 128, g = (e % 128) / 32, l = e % 32;
    int lo = blk[64 * n + 32 * (g & 1) + l];
    int q = ((g < 2 ? lo & 0xf : lo >> 4) | ((blk[128 + 32 * n + l] >> (2 * g)) & 3) << 4) - 32;
    return rf_f16_lo(rf_ld_u16(blk + 208)) * rf_i8(blk[192 + e / 16], 0) * q;
}

// @type iq4_nl
/* iq4_nl, 18 bytes, 2-aligned: as q4_0, the nibble an index into
 * rf_kvalues_iq4nl. Chunk c: qs[4c..4c+3] (two u16 loads), elements 4c..
 * and 16+4c.. */
#define RF_QK_iq4_nl 32
#define RF_QB_iq4_nl 18
RF_DEV int rf_a_iq4_nl(int c) { return 4 * c; }
RF_DEV int rf_b_iq4_nl(int c) { return 16 + 4 * c; }
#define RF_QMIN_iq4_nl 0
#define RF_QSAME_iq4_nl 1
RF_DEV void rf_qw_iq4_nl(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const unsigned int v = rf_ld_u32_a2(blk + 2 + 4 * c);
    q[0] = rf_lut16(rf_words_iq4nl(), v, 0);
    q[1] = rf_lut16(rf_words_iq4nl(), v, 4);
    s[0] = s[1] = rf_f16_lo(rf_ld_u16(blk));
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(iq4_nl)
RF_QW4_FROM_QW(iq4_nl)
RF_DEV float rf_get_iq4_nl(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 32) * RF_QB_iq4_nl;
    int e = k % 32, v = blk[2 + e % 16];
    return rf_f16_lo(rf_ld_u16(blk)) * (float)rf_kvalues_iq4nl[e < 16 ? v & 0xf : v >> 4];
}

// @type iq4_xs
/* iq4_xs, 136 bytes, 8-aligned: d (f16), scales_h (2 high bits of each of
 * 8 6-bit scales), scales_l[4] (4 low bits), all in one u32x2 load; qs[128]:
 * sub-block b (32 elements) is iq4_nl's qs at qs[16b]. Chunk c = 4b + i:
 * qs[4c..4c+3] (one u32 load), elements 32b + 4i.. and 32b + 16 + 4i.. */
#define RF_QK_iq4_xs 256
#define RF_QB_iq4_xs 136
RF_DEV int rf_a_iq4_xs(int c) { return 32 * (c >> 2) + 4 * (c & 3); }
RF_DEV int rf_b_iq4_xs(int c) { return rf_a_iq4_xs(c) + 16; }
/* the scale of sub-block b, unbiased */
RF_DEV int rf_iq4_xs_scale(rf_u32x2 h, int b)
{
    return (int)(((h.y >> (4 * b)) & 0xf) | ((h.x >> (16 + 2 * b)) & 3) << 4) - 32;
}
#define RF_QMIN_iq4_xs 0
#define RF_QSAME_iq4_xs 1
RF_DEV void rf_qw_iq4_xs(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const rf_u32x2 h = rf_ld_u32x2(blk);
    const unsigned int v = rf_ld_u32(blk + 8 + 4 * c);
    q[0] = rf_lut16(rf_words_iq4nl(), v, 0);
    q[1] = rf_lut16(rf_words_iq4nl(), v, 4);
    s[0] = s[1] = rf_f16_lo(h.x) * rf_iq4_xs_scale(h, c >> 2);
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(iq4_xs)
RF_QW4_FROM_QW(iq4_xs)
RF_DEV float rf_get_iq4_xs(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 256) * RF_QB_iq4_xs;
    rf_u32x2 h = rf_ld_u32x2(blk);
    int e = k % 256, v = blk[8 + 16 * (e / 32) + e % 16];
    float dl = rf_f16_lo(h.x) * rf_iq4_xs_scale(h, e / 32);
    return dl * rf_kvalues_iq4nl[e % 32 < 16 ? v & 0xf : v >> 4];
}

// @type mxfp4
/* mxfp4, 17 bytes, 1-aligned: e (E8M0), qs[16] as q4_0's, the nibble an
 * index into rf_kvalues_mxfp4 (E2M1 doubled) times half the scale. Chunk c:
 * qs[4c..4c+3] (four byte loads), elements 4c.. and 16+4c.. */
#define RF_QK_mxfp4 32
#define RF_QB_mxfp4 17
RF_DEV int rf_a_mxfp4(int c) { return 4 * c; }
RF_DEV int rf_b_mxfp4(int c) { return 16 + 4 * c; }
#define RF_QMIN_mxfp4 0
#define RF_QSAME_mxfp4 1
RF_DEV void rf_qw_mxfp4(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const unsigned int v = rf_ld_u32_a1(blk + 1 + 4 * c);
    q[0] = rf_lut16(rf_words_mxfp4(), v, 0);
    q[1] = rf_lut16(rf_words_mxfp4(), v, 4);
    s[0] = s[1] = rf_e8m0_to_f32_half(blk[0]);
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(mxfp4)
RF_QW4_FROM_QW(mxfp4)
RF_DEV float rf_get_mxfp4(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 32) * RF_QB_mxfp4;
    int e = k % 32, v = blk[1 + e % 16];
    return (float)rf_kvalues_mxfp4[e < 16 ? v & 0xf : v >> 4] * rf_e8m0_to_f32_half(blk[0]);
}
