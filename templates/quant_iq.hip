/*
 * quant_iq.hip: the weight types of quant.hip's contract that live on
 * lattices (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S), the
 * ternary types (TQ1_0, TQ2_0) and NVFP4: the same functions (rf_deq_T,
 * rf_qw_T, rf_qw4_T, rf_get_T, RF_QMIN_T, RF_QSAME_T), in a file of their
 * own so that quant.hip stays readable. Codegen looks a type's section up
 * in quant.hip, then here; a kernel that reads any of these types gets
 * quant.hip's common section, then this file's, then the types' sections.
 * This essay is in no section: codegen never pastes it.
 *
 * The formats are runtime/cpu/quant_iq.c's (ggml's), and so are the
 * numbers: rf_deq_T is its to_float bit for bit (test_gpu_quant). None of
 * this has run on a GPU yet: codegen renders these types under
 * ROCMFORGE_UNVERIFIED=1 only (docs/gpu.md).
 *
 * Lattice tables. A line "// =grid cpu_NAME" is replaced, when the
 * templates are built into the binary (cmake/embed_templates.cmake), by
 * runtime/cpu/quant_iq_grids.c's table cpu_NAME as RF_CONST rf_NAME,
 * guarded so that iq1_s and iq1_m, which share one, may both be pasted.
 * The CPU's table is the one copy in the source tree; the host test
 * compiles the expanded file (build/templates_gen/quant_iq.hip).
 *
 * Chunks. Every type but tq2_0 takes the same ones: quad i is the
 * elements 32i..32i+31, chunk 4i + j the runs 32i + 4j and 32i + 16 + 4j
 * (the a run in the first 16, the b run in the second). A lattice point
 * (a group of 8 elements) then gives half its coordinates to each of two
 * chunks, so two chunks read each index byte. A quad's halves are the two
 * scale groups of 16 where the type has them (iq2_xs, iq2_s, iq1_m,
 * nvfp4), and one 32-element activation block always, so RF_QSAME_T is 1
 * where a scale covers 32 or more (the two halves then share the weight
 * scale and the activation scale alike). tq2_0 is laid out as q2_k (a
 * byte holds four elements 32 apart) and takes q2_k's chunks, whose halves
 * are 32 apart in different activation blocks: RF_QSAME_tq2_0 is 0.
 *
 * Integers. The lattice coordinates are small integers (IQ2: 8, 25, 43;
 * IQ3_XXS: 4..62; IQ3_S: 1..15, signs apart) and each weight is a scale per
 * 16 or 32 elements times one, so q is the signed coordinate and s that
 * scale, as to_float computes it. IQ1's weight d(2s+1)(g + delta), delta
 * = +-1/8, is ((d(2s+1)) / 8)(8g +- 1): q = 8g +- 1 (odd, |q| <= 9) and the
 * exact power-of-two division makes it to_float's number. Ternary q is the
 * trit, NVFP4's q the E2M1 code doubled (rf_kvalues_mxfp4). No type has a
 * min (RF_QMIN_T 0). The quads are four chunks (RF_QW4_FROM_QW): none has
 * its own wider loads yet.
 */

// @common
/* what the types of this file share, on top of quant.hip's common section */

/* the 8 sign bits of a group of 8 from its 7 stored ones: the eighth makes
 * the count of minus signs even (ggml's ksigns_iq2xs table is this) */
RF_DEV unsigned int rf_signs8(unsigned int s7)
{
    unsigned int p = s7 ^ s7 >> 4;
    p ^= p >> 2;
    p ^= p >> 1;
    return s7 | (p & 1) << 7;
}

/* four magnitudes (the bytes of g, each below 128) as int8, byte i negated
 * where bit i of sg is set; the multiply spreads bits 0..3 to bytes 0..3 */
RF_DEV int rf_sign_bytes(unsigned int g, unsigned int sg)
{
    const unsigned int neg = ((sg & 0xf) * 0x00204081u & 0x01010101u) * 0xffu;
    return rf_sub_bytes(g & ~neg, g & neg);
}

/* 8g + delta for the four int8 g in the bytes of v (IQ1's lattice), delta
 * +-1 */
RF_DEV int rf_iq1_bytes(unsigned int v, int delta)
{
    unsigned int r = 0;
    for (int i = 0; i < 4; i++)
        r |= (unsigned int)((8 * rf_i8(v, i) + delta) & 0xff) << (8 * i);
    return (int)r;
}

/* element k of a row, through the chunk that holds it, for a type whose
 * quad i is the elements 32i..32i+31 (chunk 4i + j: 32i + 4j.. and
 * 32i + 16 + 4j..) */
#define RF_GET_FROM_DEQ(T)                                                                         \
    RF_DEV float rf_get_##T(const unsigned char *row, int k)                                       \
    {                                                                                              \
        const int e = k % RF_QK_##T, r = e % 32;                                                   \
        float w[8];                                                                                \
        rf_deq_##T(row + (k / RF_QK_##T) * RF_QB_##T, 4 * (e / 32) + r % 16 / 4, w);               \
        return w[4 * (r / 16) + r % 4];                                                            \
    }

/* NVFP4's UE4M3 scale halved, as cpu_ue4m3_to_f32_half: the sign bit
 * ignored, 0x7f (NaN) read as 0; (8 + m) 2^(e-11), or m 2^-10 when e = 0 */
RF_DEV float rf_ue4m3_to_f32_half(unsigned int x)
{
    if (x == 0 || x == 0x7f)
        return 0.0f;
    const unsigned int e = (x >> 3) & 0xf, m = x & 7;
    return (float)(e ? 8 + m : m) * rf_bits_f32((e ? e - 11 + 127 : 127 - 10) << 23);
}

// @type iq2_xxs
/* iq2_xxs, 66 bytes, 2-aligned: d (f16), then per 32 elements (sub-block
 * b) 8 bytes at 2 + 8b: four indices into rf_iq2xxs_grid (a point of 8
 * magnitudes, one a byte), then a u32 (two u16 loads) of four 7-bit sign
 * fields (rf_signs8) and the 4-bit scale s in its top bits; a weight is
 * d (0.5 + s) / 4 times its signed magnitude. Chunk c = 4b + j: half j%2
 * of point j/2 and of point 2 + j/2. */
#define RF_QK_iq2_xxs 256
#define RF_QB_iq2_xxs 66
RF_DEV int rf_a_iq2_xxs(int c) { return 32 * (c >> 2) + 4 * (c & 3); }
RF_DEV int rf_b_iq2_xxs(int c) { return rf_a_iq2_xxs(c) + 16; }
#define RF_QMIN_iq2_xxs 0
#define RF_QSAME_iq2_xxs 1
// =grid cpu_iq2xxs_grid
RF_DEV void rf_qw_iq2_xxs(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const unsigned char *p = blk + 2 + 8 * (c >> 2);
    const int j = c & 3, hh = j & 1;
    const unsigned int sg = rf_ld_u32_a2(p + 4);
    for (int h = 0; h < 2; h++) {
        const int l = 2 * h + (j >> 1);
        const unsigned int g = (unsigned int)(rf_iq2xxs_grid[p[l]] >> (32 * hh));
        q[h] = rf_sign_bytes(g, rf_signs8((sg >> (7 * l)) & 127) >> (4 * hh));
    }
    s[0] = s[1] = rf_f16_lo(rf_ld_u16(blk)) * (0.5f + (float)(sg >> 28)) * 0.25f;
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(iq2_xxs)
RF_QW4_FROM_QW(iq2_xxs)
RF_GET_FROM_DEQ(iq2_xxs)

// @type iq2_xs
/* iq2_xs, 74 bytes, 2-aligned: d (f16), qs[32] u16 (per 8 elements a 9-bit
 * index into rf_iq2xs_grid and 7 sign bits), scales[8] (two 4-bit scales s
 * each, the low nibble first, one per 16 elements); a weight is
 * d (0.5 + s) / 4 times its signed magnitude. Chunk c = 4b + j: half j%2
 * of point 4b + j/2 (scale 2b) and of point 4b + 2 + j/2 (scale 2b + 1). */
#define RF_QK_iq2_xs 256
#define RF_QB_iq2_xs 74
RF_DEV int rf_a_iq2_xs(int c) { return 32 * (c >> 2) + 4 * (c & 3); }
RF_DEV int rf_b_iq2_xs(int c) { return rf_a_iq2_xs(c) + 16; }
#define RF_QMIN_iq2_xs 0
#define RF_QSAME_iq2_xs 0
// =grid cpu_iq2xs_grid
RF_DEV void rf_qw_iq2_xs(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const float d = rf_f16_lo(rf_ld_u16(blk));
    const int b = c >> 2, j = c & 3, hh = j & 1, sc = blk[66 + b];
    for (int h = 0; h < 2; h++) {
        const unsigned int v = rf_ld_u16(blk + 2 + 2 * (4 * b + 2 * h + (j >> 1)));
        const unsigned int g = (unsigned int)(rf_iq2xs_grid[v & 511] >> (32 * hh));
        q[h] = rf_sign_bytes(g, rf_signs8(v >> 9) >> (4 * hh));
        s[h] = d * (0.5f + (float)((sc >> (4 * h)) & 0xf)) * 0.25f;
    }
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(iq2_xs)
RF_QW4_FROM_QW(iq2_xs)
RF_GET_FROM_DEQ(iq2_xs)

// @type iq2_s
/* iq2_s, 82 bytes, 2-aligned: d (f16), qs[32] (the low 8 bits of each 8's
 * index into rf_iq2s_grid), signs[32] (a byte each 8), qh[8] (per 32: the
 * two high index bits of its four points, point l at bit 2l), scales[8] as
 * iq2_xs's; a weight is d (0.5 + s) / 4 times its signed magnitude. Chunks
 * as iq2_xs's. */
#define RF_QK_iq2_s 256
#define RF_QB_iq2_s 82
RF_DEV int rf_a_iq2_s(int c) { return 32 * (c >> 2) + 4 * (c & 3); }
RF_DEV int rf_b_iq2_s(int c) { return rf_a_iq2_s(c) + 16; }
#define RF_QMIN_iq2_s 0
#define RF_QSAME_iq2_s 0
// =grid cpu_iq2s_grid
RF_DEV void rf_qw_iq2_s(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const float d = rf_f16_lo(rf_ld_u16(blk));
    const int b = c >> 2, j = c & 3, hh = j & 1, sc = blk[74 + b], qh = blk[66 + b];
    for (int h = 0; h < 2; h++) {
        const int l = 2 * h + (j >> 1), idx = blk[2 + 4 * b + l] | ((qh << (8 - 2 * l)) & 0x300);
        const unsigned int g = (unsigned int)(rf_iq2s_grid[idx] >> (32 * hh));
        q[h] = rf_sign_bytes(g, (unsigned int)blk[34 + 4 * b + l] >> (4 * hh));
        s[h] = d * (0.5f + (float)((sc >> (4 * h)) & 0xf)) * 0.25f;
    }
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(iq2_s)
RF_QW4_FROM_QW(iq2_s)
RF_GET_FROM_DEQ(iq2_s)

// @type iq3_xxs
/* iq3_xxs, 98 bytes, 2-aligned: d (f16), qs[64] (indices into
 * rf_iq3xxs_grid, a point of 4 magnitudes, 8 a sub-block of 32), then per
 * sub-block b a u32 at 66 + 4b (two u16 loads) of four 7-bit sign fields
 * (one each 8 elements) and the 4-bit scale s, as iq2_xxs's; a weight is
 * d (0.5 + s) / 2 times its signed magnitude. Chunk c = 4b + j: points
 * 8b + j and 8b + 4 + j. */
#define RF_QK_iq3_xxs 256
#define RF_QB_iq3_xxs 98
RF_DEV int rf_a_iq3_xxs(int c) { return 32 * (c >> 2) + 4 * (c & 3); }
RF_DEV int rf_b_iq3_xxs(int c) { return rf_a_iq3_xxs(c) + 16; }
#define RF_QMIN_iq3_xxs 0
#define RF_QSAME_iq3_xxs 1
// =grid cpu_iq3xxs_grid
RF_DEV void rf_qw_iq3_xxs(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const int b = c >> 2, j = c & 3;
    const unsigned int sg = rf_ld_u32_a2(blk + 66 + 4 * b);
    for (int h = 0; h < 2; h++) {
        const int l = 2 * h + (j >> 1); /* the group of 8 */
        const unsigned int g = rf_iq3xxs_grid[blk[2 + 8 * b + 4 * h + j]];
        q[h] = rf_sign_bytes(g, rf_signs8((sg >> (7 * l)) & 127) >> (4 * (j & 1)));
    }
    s[0] = s[1] = rf_f16_lo(rf_ld_u16(blk)) * (0.5f + (float)(sg >> 28)) * 0.5f;
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(iq3_xxs)
RF_QW4_FROM_QW(iq3_xxs)
RF_GET_FROM_DEQ(iq3_xxs)

// @type iq3_s
/* iq3_s, 110 bytes, 2-aligned: d (f16), qs[64] (the low 8 bits of indices
 * into rf_iq3s_grid, a point of 4 magnitudes, 8 a sub-block of 32), qh[8]
 * (their ninth bits, point k of sub-block b at bit k of qh[b]), signs[32]
 * (a bit an element), scales[4] (two 4-bit scales s, one per 32); a weight
 * is d (1 + 2s) times its signed magnitude. Chunk c = 4b + j: points 8b + j
 * and 8b + 4 + j. */
#define RF_QK_iq3_s 256
#define RF_QB_iq3_s 110
RF_DEV int rf_a_iq3_s(int c) { return 32 * (c >> 2) + 4 * (c & 3); }
RF_DEV int rf_b_iq3_s(int c) { return rf_a_iq3_s(c) + 16; }
#define RF_QMIN_iq3_s 0
#define RF_QSAME_iq3_s 1
// =grid cpu_iq3s_grid
RF_DEV void rf_qw_iq3_s(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const int b = c >> 2, j = c & 3, qh = blk[66 + b], sc = (blk[106 + b / 2] >> (4 * (b & 1))) & 0xf;
    for (int h = 0; h < 2; h++) {
        const int k = 4 * h + j, l = 2 * h + (j >> 1);
        const unsigned int g = rf_iq3s_grid[blk[2 + 8 * b + k] | ((qh >> k) & 1) << 8];
        q[h] = rf_sign_bytes(g, (unsigned int)blk[74 + 4 * b + l] >> (4 * (j & 1)));
    }
    s[0] = s[1] = rf_f16_lo(rf_ld_u16(blk)) * (1 + 2 * sc);
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(iq3_s)
RF_QW4_FROM_QW(iq3_s)
RF_GET_FROM_DEQ(iq3_s)

// @type iq1_s
/* iq1_s, 50 bytes, 2-aligned: d (f16), qs[32] (the low 8 bits of each 8's
 * index into rf_iq1s_grid, a point of 8 values in {-1, 0, 1}), qh[8] u16
 * (per 32: the three high index bits of each of its four points, a 3-bit
 * scale s at bit 12, the sign of its delta at bit 15); a weight is
 * d (2s + 1) (g + delta), delta = +-1/8, as the integer 8g +- 1 times
 * d (2s + 1) / 8. Chunk c = 4b + j: half j%2 of point 4b + j/2 and of
 * point 4b + 2 + j/2. */
#define RF_QK_iq1_s 256
#define RF_QB_iq1_s 50
RF_DEV int rf_a_iq1_s(int c) { return 32 * (c >> 2) + 4 * (c & 3); }
RF_DEV int rf_b_iq1_s(int c) { return rf_a_iq1_s(c) + 16; }
#define RF_QMIN_iq1_s 0
#define RF_QSAME_iq1_s 1
// =grid cpu_iq1s_grid
RF_DEV void rf_qw_iq1_s(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const int b = c >> 2, j = c & 3;
    const unsigned int qh = rf_ld_u16(blk + 34 + 2 * b);
    for (int h = 0; h < 2; h++) {
        const int l = 2 * h + (j >> 1), idx = blk[2 + 4 * b + l] | (int)((qh >> (3 * l)) & 7) << 8;
        q[h] = rf_iq1_bytes((unsigned int)(rf_iq1s_grid[idx] >> (32 * (j & 1))), qh >> 15 ? -1 : 1);
    }
    s[0] = s[1] = rf_f16_lo(rf_ld_u16(blk)) * (int)(2 * ((qh >> 12) & 7) + 1) * 0.125f;
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(iq1_s)
RF_QW4_FROM_QW(iq1_s)
RF_GET_FROM_DEQ(iq1_s)

// @type iq1_m
/* iq1_m, 56 bytes, 8-aligned: qs[32] as iq1_s's, qh[16] (a nibble each 8
 * elements, the low one first: three high index bits and the sign of its
 * delta), scales[8] as four u16 (one u32x2 load): 3-bit scales s, one per
 * 16 elements, four a u16, and the f16 d in the four top nibbles; weights,
 * integers and scales as iq1_s's. Chunk c = 4b + j: half j%2 of point
 * 4b + j/2 (scale 2b) and of point 4b + 2 + j/2 (scale 2b + 1). */
#define RF_QK_iq1_m 256
#define RF_QB_iq1_m 56
RF_DEV int rf_a_iq1_m(int c) { return 32 * (c >> 2) + 4 * (c & 3); }
RF_DEV int rf_b_iq1_m(int c) { return rf_a_iq1_m(c) + 16; }
#define RF_QMIN_iq1_m 0
#define RF_QSAME_iq1_m 0
// =grid cpu_iq1s_grid
RF_DEV void rf_qw_iq1_m(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const rf_u32x2 sc = rf_ld_u32x2(blk + 48);
    const unsigned int dh = ((sc.x >> 12) & 0xf) | ((sc.x >> 24) & 0xf0) | ((sc.y >> 4) & 0xf00) | ((sc.y >> 16) & 0xf000);
    const float d = rf_f16_to_f32((unsigned short)dh);
    const int b = c >> 2, j = c & 3;
    const unsigned int w = ((b & 4 ? sc.y : sc.x) >> (16 * ((b >> 1) & 1))) >> (6 * (b & 1));
    for (int h = 0; h < 2; h++) {
        const int l = 2 * h + (j >> 1);
        const unsigned int nib = (blk[32 + 2 * b + (l >> 1)] >> (4 * (l & 1))) & 0xf;
        const int idx = blk[4 * b + l] | (int)(nib & 7) << 8;
        q[h] = rf_iq1_bytes((unsigned int)(rf_iq1s_grid[idx] >> (32 * (j & 1))), nib >> 3 ? -1 : 1);
        s[h] = d * (int)(2 * ((w >> (3 * h)) & 7) + 1) * 0.125f;
    }
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(iq1_m)
RF_QW4_FROM_QW(iq1_m)
RF_GET_FROM_DEQ(iq1_m)

// @type tq1_0
/* tq1_0, 54 bytes, 2-aligned: qs[48], qh[4], d (f16). A byte holds 5 (qs)
 * or 4 (qh) trits as a base-3 fraction: trit k of byte v is the top trit of
 * v 3^k (mod 256), and the weight that trit minus 1, times d. Elements
 * 0..159 are trit e/32 of qs[e%32], 160..239 trit (e-160)/16 of
 * qs[32 + (e-160)%16], 240..255 trit (e-240)/4 of qh[(e-240)%4]: four from
 * a multiple of 4 are one trit of four consecutive bytes (two u16 loads).
 * Chunk c = 4i + j: elements 32i + 4j.. and 32i + 16 + 4j.. */
#define RF_QK_tq1_0 256
#define RF_QB_tq1_0 54
RF_DEV int rf_a_tq1_0(int c) { return 32 * (c >> 2) + 4 * (c & 3); }
RF_DEV int rf_b_tq1_0(int c) { return rf_a_tq1_0(c) + 16; }
#define RF_QMIN_tq1_0 0
#define RF_QSAME_tq1_0 1
/* elements e..e+3 (e a multiple of 4) as four int8 trits */
RF_DEV int rf_tq1_run(const unsigned char *blk, int e)
{
    const int at = e < 160 ? e % 32 : e < 240 ? 32 + (e - 160) % 16 : 48;
    const int k = e < 160 ? e / 32 : e < 240 ? (e - 160) / 16 : (e - 240) / 4;
    const unsigned int v = rf_ld_u32_a2(blk + at), p3 = k == 0 ? 1 : k == 1 ? 3 : k == 2 ? 9 : k == 3 ? 27 : 81;
    unsigned int r = 0;
    for (int i = 0; i < 4; i++) {
        const unsigned int t = ((unsigned int)rf_u8(v, i) * p3) & 0xff;
        r |= ((((t * 3) >> 8) - 1) & 0xff) << (8 * i);
    }
    return (int)r;
}
RF_DEV void rf_qw_tq1_0(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    q[0] = rf_tq1_run(blk, rf_a_tq1_0(c));
    q[1] = rf_tq1_run(blk, rf_b_tq1_0(c));
    s[0] = s[1] = rf_f16_lo(rf_ld_u16(blk + 52));
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(tq1_0)
RF_QW4_FROM_QW(tq1_0)
RF_GET_FROM_DEQ(tq1_0)

// @type tq2_0
/* tq2_0, 66 bytes, 2-aligned: qs[64], d (f16). Element 128n + 32j + l is
 * bits 2j..2j+1 of qs[32n + l] minus 1, times d: q2_k's qs. Chunks are
 * q2_k's (c = 16p + 8n + i: qs[4(c%16)..+3] in two u16 loads, fields 2p
 * and 2p + 1, elements 128n + 64p + 4i.. and 32 on), so a quad's halves lie
 * in different 32-element activation blocks. */
#define RF_QK_tq2_0 256
#define RF_QB_tq2_0 66
RF_DEV int rf_a_tq2_0(int c) { return 128 * ((c >> 3) & 1) + 64 * (c >> 4) + 4 * (c & 7); }
RF_DEV int rf_b_tq2_0(int c) { return rf_a_tq2_0(c) + 32; }
#define RF_QMIN_tq2_0 0
#define RF_QSAME_tq2_0 0
RF_DEV void rf_qw_tq2_0(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const unsigned int v = rf_ld_u32_a2(blk + 4 * (c & 15)) >> (4 * (c >> 4));
    q[0] = rf_sub_bytes(v & 0x03030303u, 0x01010101u);
    q[1] = rf_sub_bytes((v >> 2) & 0x03030303u, 0x01010101u);
    s[0] = s[1] = rf_f16_lo(rf_ld_u16(blk + 64));
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(tq2_0)
RF_QW4_FROM_QW(tq2_0)
RF_DEV float rf_get_tq2_0(const unsigned char *row, int k)
{
    const unsigned char *blk = row + (k / 256) * RF_QB_tq2_0;
    const int e = k % 256, q = ((blk[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3) - 1;
    return (float)q * rf_f16_lo(rf_ld_u16(blk + 64));
}

// @type nvfp4
/* nvfp4, 36 bytes, 4-aligned: d[4] (UE4M3, one per 16 elements), qs[32]:
 * in sub-block b (16 elements), byte 8b + l holds element l (low nibble)
 * and l + 8 (high), an index into rf_kvalues_mxfp4 (E2M1 doubled) times
 * half the scale. Chunk c = 4i + j: elements 32i + 4j.. of sub-block 2i
 * and 32i + 16 + 4j.. of 2i + 1, the nibbles j/2 of qs[8b + 4(j%2)..+3]
 * (one u32 load each). */
#define RF_QK_nvfp4 64
#define RF_QB_nvfp4 36
RF_DEV int rf_a_nvfp4(int c) { return 32 * (c >> 2) + 4 * (c & 3); }
RF_DEV int rf_b_nvfp4(int c) { return rf_a_nvfp4(c) + 16; }
#define RF_QMIN_nvfp4 0
#define RF_QSAME_nvfp4 0
RF_DEV void rf_qw_nvfp4(const unsigned char *blk, int c, int q[2], float s[2], float m[2])
{
    const int i = c >> 2, j = c & 3;
    for (int h = 0; h < 2; h++) {
        const unsigned int v = rf_ld_u32(blk + 4 + 8 * (2 * i + h) + 4 * (j & 1));
        q[h] = rf_lut16(rf_words_mxfp4(), v, 4 * (j >> 1));
        s[h] = rf_ue4m3_to_f32_half(blk[2 * i + h]);
    }
    m[0] = m[1] = 0.0f;
}
RF_DEQ_FROM_QW(nvfp4)
RF_QW4_FROM_QW(nvfp4)
RF_GET_FROM_DEQ(nvfp4)
