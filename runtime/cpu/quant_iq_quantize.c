/*
 * quant_iq_quantize.c: the quantizers of the lattice i-quants (IQ2_XXS,
 * IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M) and the ternary types
 * (TQ1_0, TQ2_0), equal bit for bit to what ggml_quantize_chunk writes,
 * with importance weights or, where ggml allows it, without.
 *
 * The lattice quantizers map groups of 8 (IQ2, IQ1) or 4 (IQ3) magnitudes
 * onto points of a fixed grid. A lattice here is that grid with each
 * coordinate as its odd level 2l+1 (l the rank of the coordinate's value
 * among the grid's values), a map from every candidate point of the full
 * cube (2 or 3 bits a coordinate, packed) to its grid index, and for a
 * candidate off the grid the list of grid points at its nwant smallest
 * squared distances, by distance then index (ggml's iq2xs_init_impl and
 * iq3xs_init_impl build the same lists). They are built from the
 * dequantizers' tables (quant_iq_grids.c) on first use, once per process.
 *
 * The search (fit_group) is ggml's: magnitudes scaled by a range of
 * candidate scales, each rounded onto the cube, points off the grid moved
 * to their best neighbour under the weights, the candidate with the best
 * weighted least-squares score kept, then a refit. Types differ in group
 * size, candidate scales, whether the sign bits carry even parity (the 8th
 * sign implied: an odd count of negatives flips the element of least
 * weight*x^2 instead), the weights without an importance matrix, their
 * super-block fudge factor and their packing; each row function states
 * its own. IQ1 fits {-1, 0, 1} + delta exactly over the sorted elements.
 *
 * As in quant_k_quantize.c every float expression keeps ggml's operand
 * order, and nothing here may be built with FP contraction.
 *
 * The file is longer than most (~900 lines) on purpose: the IQ1 quantizers
 * use the same lattices, lookups and neighbour search as IQ2/IQ3, which
 * stay private to it rather than becoming an internal interface.
 */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/quant_impl.h"
#include "runtime/cpu/quant_iq.h"
#include "support/error.h"

#define F2H(f) cpu_f32_to_fp16(f)

static inline int nearest(float v)
{
    return (int)lrintf(v); /* half to even, as ggml's nearest_int */
}

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- lattices ------------------------------------------------------------- */

enum { MAP_D8 = 43692, MAP_D4 = 4096 }; /* ggml's kmap sizes: 2 bits x 8, 3 bits x 4 */

typedef struct lattice {
    int dim, bits, n_points;
    int8_t pts[2048][8];  /* each coordinate as 2l+1 */
    int32_t map[MAP_D8];  /* cube point -> grid index, or -(1 + offset into nb) */
    uint16_t *nb;         /* per off-grid point: count, then grid indices */
} lattice;

enum { LAT_IQ2_XXS, LAT_IQ2_XS, LAT_IQ2_S, LAT_IQ1, LAT_IQ3_XXS, LAT_IQ3_S, N_LATTICES };

static lattice lattices[N_LATTICES];
static bool lattice_ready[N_LATTICES];
static pthread_mutex_t lattice_lock = PTHREAD_MUTEX_INITIALIZER;

static int coord(int id, int p, int k)
{
    switch (id) {
    case LAT_IQ2_XXS: return (int8_t)(cpu_iq2xxs_grid[p] >> 8 * k);
    case LAT_IQ2_XS: return (int8_t)(cpu_iq2xs_grid[p] >> 8 * k);
    case LAT_IQ2_S: return (int8_t)(cpu_iq2s_grid[p] >> 8 * k);
    case LAT_IQ1: return (int8_t)(cpu_iq1s_grid[p] >> 8 * k);
    case LAT_IQ3_XXS: return (int8_t)(cpu_iq3xxs_grid[p] >> 8 * k);
    default: return (int8_t)(cpu_iq3s_grid[p] >> 8 * k);
    }
}

/* The neighbour list of cube point i: the grid points at the nwant
 * smallest distinct squared distances, nearest first, by index within a
 * distance. Appended to g->nb at *used. */
static void add_neighbours(lattice *g, int i, int nwant, size_t *used, size_t *cap)
{
    enum { MAX_D2 = 1024 };
    int d2[2048], hist[MAX_D2] = {0}, pos[8];
    const int mask = (1 << g->bits) - 1;
    for (int k = 0; k < g->dim; k++)
        pos[k] = 2 * ((i >> g->bits * k) & mask) + 1;
    for (int j = 0; j < g->n_points; j++) {
        int s = 0;
        for (int k = 0; k < g->dim; k++)
            s += (g->pts[j][k] - pos[k]) * (g->pts[j][k] - pos[k]);
        d2[j] = s;
        hist[s]++;
    }
    int want[8], n_want = 0;
    size_t n = 0;
    for (int s = 0; s < MAX_D2 && n_want < nwant; s++)
        if (hist[s]) {
            want[n_want++] = s;
            n += (size_t)hist[s];
        }
    if (*used + n + 1 > *cap) {
        *cap = (*used + n + 1) * 2;
        g->nb = realloc(g->nb, *cap * sizeof *g->nb);
        RF_ASSERT(g->nb);
    }
    g->map[i] = -(int32_t)(*used + 1);
    g->nb[(*used)++] = (uint16_t)n;
    for (int w = 0; w < n_want; w++)
        for (int j = 0; j < g->n_points; j++)
            if (d2[j] == want[w])
                g->nb[(*used)++] = (uint16_t)j;
}

static void lattice_build(int id)
{
    static const struct { int n_points, dim, nwant; } SHAPE[N_LATTICES] = {
        [LAT_IQ2_XXS] = {256, 8, 2}, [LAT_IQ2_XS] = {512, 8, 2}, [LAT_IQ2_S] = {1024, 8, 1},
        [LAT_IQ1] = {2048, 8, 3},    [LAT_IQ3_XXS] = {256, 4, 2}, [LAT_IQ3_S] = {512, 4, 3},
    };
    lattice *g = &lattices[id];
    g->n_points = SHAPE[id].n_points;
    g->dim = SHAPE[id].dim;
    g->bits = g->dim == 8 ? 2 : 3;
    const int map_size = g->dim == 8 ? MAP_D8 : MAP_D4;
    bool present[256] = {0};
    for (int p = 0; p < g->n_points; p++)
        for (int k = 0; k < g->dim; k++)
            present[coord(id, p, k) + 128] = true;
    int rank[256], r = 0;
    for (int v = 0; v < 256; v++)
        rank[v] = present[v] ? r++ : -1;
    RF_ASSERT(r <= 1 << g->bits);
    for (int i = 0; i < map_size; i++)
        g->map[i] = INT32_MIN;
    for (int p = 0; p < g->n_points; p++) {
        int index = 0;
        for (int k = 0; k < g->dim; k++) {
            const int l = rank[coord(id, p, k) + 128];
            g->pts[p][k] = (int8_t)(2 * l + 1);
            index |= l << g->bits * k;
        }
        RF_ASSERT(index < map_size);
        g->map[index] = p;
    }
    size_t used = 0, cap = 0;
    for (int i = 0; i < map_size; i++)
        if (g->map[i] == INT32_MIN)
            add_neighbours(g, i, SHAPE[id].nwant, &used, &cap);
}

static const lattice *lattice_get(int id)
{
    pthread_mutex_lock(&lattice_lock);
    if (!lattice_ready[id]) {
        lattice_build(id);
        lattice_ready[id] = true;
    }
    pthread_mutex_unlock(&lattice_lock);
    return &lattices[id];
}

/* The map entry of the cube point with levels L[0..dim). */
static int32_t lattice_code(const lattice *g, const int8_t *L)
{
    int u = 0;
    for (int i = 0; i < g->dim; i++)
        u |= L[i] << g->bits * i;
    return g->map[u];
}

/* Of the neighbours of an off-grid code, the one nearest xval under
 * weights w at this scale, each coordinate read as its odd level 2l+1 or,
 * given levels (IQ1), as levels[l]; L gets its l (ggml's
 * iq2/iq3_find_best_neighbour, iq1_find_best_neighbour2). ggml's fallback
 * past the neighbours only runs for non-finite input. */
static int lattice_nearest(const lattice *g, int32_t code, const float *xval, const float *w, float scale,
                           const float *levels, int8_t *L)
{
    const uint16_t *nb = g->nb + (-code - 1);
    float best = FLT_MAX;
    int index = -1;
    for (int j = 1; j <= nb[0]; j++) {
        const int8_t *pg = g->pts[nb[j]];
        float d2 = 0;
        for (int i = 0; i < g->dim; i++) {
            const float q = levels ? levels[(pg[i] - 1) / 2] : pg[i];
            const float diff = scale * q - xval[i];
            d2 += w[i] * diff * diff;
        }
        if (d2 < best) {
            best = d2;
            index = nb[j];
        }
    }
    RF_ASSERT(index >= 0);
    for (int i = 0; i < g->dim; i++)
        L[i] = (int8_t)((g->pts[index][i] - 1) / 2);
    return index;
}

/* ---- the IQ2 / IQ3 group search --------------------------------------------- */

typedef struct group_kind {
    int lattice;
    int n;           /* elements a group: 32 or 16 */
    int kmax;        /* levels 0..kmax-1 */
    int n_steps;     /* candidate scales (2*kmax-1 + is*step)/max, |is| <= n_steps */
    float step;
    float eps;       /* a group whose largest magnitude is below is zero */
    bool from_qp;    /* IQ2_XXS: the range from a cpu_fit_qp fit, every piece refitted */
    bool refit_all;  /* IQ3_S: every piece refitted when one is off the grid */
} group_kind;

/* Fits one group of magnitudes xval under weight (waux its square root):
 * *scale (negative only in a degenerate case the caller flips) and the
 * grid index of each piece of dim elements. False for a zero group. */
static bool fit_group(const group_kind *t, const lattice *g, const float *xval, const float *weight,
                      const float *waux, float *scale_out, uint16_t *idx)
{
    const int dim = g->dim, np = t->n / dim;
    int8_t L[32], Laux[32];
    bool on[8], on_aux[8];
    float max = xval[0];
    for (int i = 1; i < t->n; i++)
        max = max > xval[i] ? max : xval[i];
    if (max < t->eps || max == 0)
        return false;
    float scale, range = max, best = 0;
    memset(L, 0, sizeof L);
    if (t->from_qp) {
        scale = cpu_fit_qp(t->n, t->kmax + 1, xval, (uint8_t *)L, weight);
        range = scale * t->kmax;
        if (range <= 0)
            return false;
    } else {
        scale = max / (2 * t->kmax - 1);
    }
    for (int k = 0; k < np; k++)
        on[k] = !t->refit_all;
    for (int is = -t->n_steps; is <= t->n_steps; is++) {
        const float id = (2 * t->kmax - 1 + is * t->step) / range;
        const float this_scale = 1 / id;
        for (int k = 0; k < np; k++) {
            for (int i = 0; i < dim; i++)
                Laux[dim * k + i] = (int8_t)clampi(nearest(0.5f * (id * xval[dim * k + i] - 1)), 0, t->kmax - 1);
            const int32_t code = lattice_code(g, Laux + dim * k);
            on_aux[k] = code >= 0;
            if (code < 0)
                lattice_nearest(g, code, xval + dim * k, waux + dim * k, this_scale, NULL, Laux + dim * k);
        }
        float sumqx = 0, sumq2 = 0;
        for (int i = 0; i < t->n; i++) {
            const float w = weight[i], q = 2 * Laux[i] + 1;
            sumqx += w * xval[i] * q;
            sumq2 += w * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            memcpy(L, Laux, (size_t)t->n);
            memcpy(on, on_aux, sizeof on);
        }
    }
    int n_off = 0;
    for (int k = 0; k < np; k++)
        n_off += !on[k];
    if (scale > 0 && (t->from_qp || n_off > 0)) {
        const float id = 1 / scale;
        for (int k = 0; k < np; k++) {
            if (on[k] && !t->from_qp && !t->refit_all)
                continue;
            int8_t *Lk = L + dim * k;
            for (int i = 0; i < dim; i++)
                Lk[i] = (int8_t)clampi(nearest(0.5f * (id * xval[dim * k + i] - 1)), 0, t->kmax - 1);
            const int32_t code = lattice_code(g, Lk);
            if (code < 0)
                lattice_nearest(g, code, xval + dim * k, waux + dim * k, scale, NULL, Lk);
        }
        float sumqx = 0, sumq2 = 0;
        for (int i = 0; i < t->n; i++) {
            const float w = weight[i], q = 2 * L[i] + 1;
            sumqx += w * xval[i] * q;
            sumq2 += w * q * q;
        }
        if (sumq2 > 0)
            scale = sumqx / sumq2;
    }
    for (int k = 0; k < np; k++) {
        const int32_t code = lattice_code(g, L + dim * k);
        RF_ASSERT(code >= 0); /* ggml aborts: "found point not on grid" */
        idx[k] = (uint16_t)code;
    }
    *scale_out = scale;
    return true;
}

/* Magnitudes and sign bits of 8 elements. With even parity (7 stored bits)
 * an odd count of negatives flips back the element of least w*x^2. */
static uint8_t take_signs(const float *xb, const float *w, float *xval, bool even)
{
    int nflip = 0;
    uint8_t s = 0;
    for (int i = 0; i < 8; i++) {
        if (xb[i] >= 0) {
            xval[i] = xb[i];
        } else {
            xval[i] = -xb[i];
            nflip++;
            s |= (uint8_t)(1 << i);
        }
    }
    if (!even)
        return s;
    if (nflip % 2) {
        int imin = 0;
        float min = w[0] * xb[0] * xb[0];
        for (int i = 1; i < 8; i++) {
            const float ax = w[i] * xb[i] * xb[i];
            if (ax < min) {
                min = ax;
                imin = i;
            }
        }
        xval[imin] = -xval[imin];
        s ^= (uint8_t)(1 << imin);
    }
    return s & 127;
}

/* The sum of squares of a super-block: its sigma2 is twice (or, for
 * IQ2_XXS and IQ2_XS, once) that over QK_K. */
static float sum_squares(const float *x)
{
    float sumx2 = 0;
    for (int i = 0; i < QK_K; i++)
        sumx2 += x[i] * x[i];
    return sumx2;
}

/* One super-block fitted group by group: scales, grid indices in order,
 * sign bytes per 8, the 4-bit group scales and the fp16 super-scale. */
typedef struct lattice_block {
    float scale[QK_K / 16];
    uint16_t idx[QK_K / 4];
    uint8_t signs[QK_K / 8];
    uint8_t l[QK_K / 16];
    bool zero[QK_K / 16]; /* the group was (almost) all zero */
    uint16_t d;
    bool any; /* a group with a non-zero scale */
} lattice_block;

/* sigma2_x2: sigma2 is twice the mean square (else the mean square);
 * bias: the weight without an importance matrix is bias*sigma2 + x^2. */
static void fit_lattice_block(const group_kind *t, const float *x, const float *qw, bool sigma2_x2, float bias,
                              bool even, float fudge, lattice_block *b)
{
    const lattice *g = lattice_get(t->lattice);
    const int n_groups = QK_K / t->n, per_group = t->n / g->dim;
    float weight[32], waux[32], xval[32], max_scale = 0;
    memset(b, 0, sizeof *b);
    const float sigma2 = sigma2_x2 ? 2 * sum_squares(x) / QK_K : sum_squares(x) / QK_K;
    for (int ib = 0; ib < n_groups; ib++) {
        const float *xb = x + t->n * ib;
        for (int i = 0; i < t->n; i++) {
            if (qw)
                weight[i] = qw[t->n * ib + i] * sqrtf(sigma2 + xb[i] * xb[i]);
            else
                weight[i] = bias ? bias * sigma2 + xb[i] * xb[i] : xb[i] * xb[i];
            waux[i] = sqrtf(weight[i]);
        }
        uint8_t *signs = b->signs + t->n / 8 * ib;
        for (int k = 0; k < t->n / 8; k++)
            signs[k] = take_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k, even);
        float scale;
        if (!fit_group(t, g, xval, weight, waux, &scale, b->idx + per_group * ib)) {
            memset(signs, 0, (size_t)(t->n / 8));
            b->zero[ib] = true;
            continue;
        }
        if (scale < 0) {
            scale = -scale;
            for (int k = 0; k < t->n / 8; k++)
                signs[k] = (uint8_t)(even ? ~signs[k] & 127 : ~signs[k]);
        }
        b->scale[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (!max_scale)
        return;
    b->any = true;
    const float d = max_scale / 31;
    b->d = F2H(d * fudge);
    const float id = 1 / d;
    for (int ib = 0; ib < n_groups; ib++)
        b->l[ib] = (uint8_t)clampi(nearest(0.5f * (id * b->scale[ib] - 1)), 0, 15);
}

/* A lattice type: its search, its weights, its fudge, its packing. */
typedef struct lattice_type {
    group_kind g;
    bool needs_weights;
    bool sigma2_x2;  /* sigma2 twice the mean square */
    float bias;      /* weights without an imatrix: bias*sigma2 + x^2 */
    bool even;       /* 7 sign bits, even parity */
    float fudge;     /* of the fp16 super-scale */
    size_t block_bytes;
    void (*pack)(const lattice_block *b, void *block); /* into a zeroed block */
} lattice_type;

static void quantize_lattice(const lattice_type *lt, const float *x, void *vy, int64_t n, const float *qw)
{
    RF_ASSERT(qw || !lt->needs_weights); /* ggml asserts too */
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++) {
        lattice_block b;
        uint8_t *y = (uint8_t *)vy + (size_t)ibl * lt->block_bytes;
        fit_lattice_block(&lt->g, x + QK_K * ibl, qw ? qw + QK_K * ibl : NULL, lt->sigma2_x2, lt->bias, lt->even,
                          lt->fudge, &b);
        memset(y, 0, lt->block_bytes);
        lt->pack(&b, y);
    }
}

/* The 4-bit group scales two a byte, low nibble first. */
static void pack_nibbles(const uint8_t *l, int n, uint8_t *out)
{
    for (int ib = 0; ib < n; ib++)
        out[ib / 2] |= (uint8_t)(l[ib] << 4 * (ib % 2));
}

/* IQ2_XXS (quantize_row_iq2_xxs_impl): per 32 a uint32 of four 8-bit grid
 * indices and one of four 7-bit signs under a 4-bit scale. A super-block
 * of zero groups is all zero. */
static void pack_iq2_xxs(const lattice_block *b, void *block)
{
    cpu_block_iq2_xxs *y = block;
    uint32_t q2[QK_K / 16] = {0};
    for (int ib = 0; b->any && ib < QK_K / 32; ib++) {
        for (int k = 0; k < 4; k++) {
            q2[2 * ib] |= (uint32_t)b->idx[4 * ib + k] << 8 * k;
            q2[2 * ib + 1] |= (uint32_t)b->signs[4 * ib + k] << 7 * k;
        }
        q2[2 * ib + 1] |= (uint32_t)b->l[ib] << 28;
    }
    y->d = b->d;
    memcpy(y->qs, q2, sizeof q2);
}

/* IQ2_XS (quantize_row_iq2_xs_impl): a uint16 per 8 (9-bit index, 7
 * signs), 4-bit scales per 16; all zero for a super-block of zero groups. */
static void pack_iq2_xs(const lattice_block *b, void *block)
{
    cpu_block_iq2_xs *y = block;
    y->d = b->d;
    if (!b->any)
        return;
    for (int i = 0; i < QK_K / 8; i++)
        y->qs[i] = (uint16_t)(b->idx[i] | b->signs[i] << 9);
    pack_nibbles(b->l, QK_K / 16, y->scales);
}

/* IQ2_S (quantize_row_iq2_s_impl): 10-bit indices split into qs and qh,
 * all 8 signs a byte, 4-bit scales per 16. A super-block whose groups all
 * came out zero keeps its indices and signs (ggml writes them as it goes). */
static void pack_iq2_s(const lattice_block *b, void *block)
{
    cpu_block_iq2_s *y = block;
    y->d = b->d;
    for (int i = 0; i < QK_K / 8; i++) {
        y->qs[i] = (uint8_t)(b->idx[i] & 255);
        y->qh[i / 4] |= (uint8_t)((b->idx[i] >> 8) << 2 * (i % 4));
        y->qs[QK_K / 8 + i] = b->signs[i];
    }
    pack_nibbles(b->l, QK_K / 16, y->scales);
}

/* IQ3_XXS (quantize_row_iq3_xxs_impl): 8-bit indices, then per 32 a
 * uint32 of 4x7 signs and a 4-bit scale; all zero for a super-block of
 * zero groups. */
static void pack_iq3_xxs(const lattice_block *b, void *block)
{
    cpu_block_iq3_xxs *y = block;
    y->d = b->d;
    for (int ib = 0; b->any && ib < QK_K / 32; ib++) {
        uint32_t ss = (uint32_t)b->l[ib] << 28;
        for (int k = 0; k < 8; k++)
            y->qs[8 * ib + k] = (uint8_t)b->idx[8 * ib + k];
        for (int k = 0; k < 4; k++)
            ss |= (uint32_t)b->signs[4 * ib + k] << 7 * k;
        memcpy(y->qs + QK_K / 4 + 4 * ib, &ss, 4);
    }
}

/* IQ3_S (quantize_row_iq3_s_impl): 9-bit indices (ninth bits in qh), all
 * signs, a 4-bit scale per 32. Like IQ2_S an all-zero super-block keeps
 * its indices and signs. ggml advances its index and sign pointers only
 * past non-zero groups, so a zero group shifts the later groups' low index
 * bytes and signs down (the ninth bits stay in place): kept, it is in the
 * files. */
static void pack_iq3_s(const lattice_block *b, void *block)
{
    cpu_block_iq3_s *y = block;
    y->d = b->d;
    int at = 0; /* groups written so far */
    for (int ib = 0; ib < QK_K / 32; ib++) {
        if (b->zero[ib])
            continue;
        for (int k = 0; k < 8; k++) {
            const int i = 8 * ib + k;
            y->qs[8 * at + k] = (uint8_t)(b->idx[i] & 255);
            y->qh[i / 8] |= (uint8_t)((b->idx[i] >> 8) << (i % 8));
        }
        memcpy(y->signs + 4 * at, b->signs + 4 * ib, 4);
        at++;
    }
    pack_nibbles(b->l, QK_K / 32, y->scales);
}

/* The five: groups of 32 or 16, the lattice, kmax, candidate scales
 * (n_steps, step), the zero threshold; then ggml's other choices. IQ2_XXS
 * takes its scale range from a cpu_fit_qp fit; IQ3_S refits every piece. */
static const lattice_type IQ2_XXS = {{LAT_IQ2_XXS, 32, 3, 6, 0.1f, 1e-15f, true, false}, true, false, 0, true, 1.0f,
                                     sizeof(cpu_block_iq2_xxs), pack_iq2_xxs};
static const lattice_type IQ2_XS = {{LAT_IQ2_XS, 16, 3, 9, 0.1f, 1e-15f, false, false}, true, false, 0, true, 1.0f,
                                    sizeof(cpu_block_iq2_xs), pack_iq2_xs};
static const lattice_type IQ2_S = {{LAT_IQ2_S, 16, 3, 9, 0.1f, 1e-8f, false, false}, false, true, 0.25f, false,
                                   0.9875f, sizeof(cpu_block_iq2_s), pack_iq2_s};
static const lattice_type IQ3_XXS = {{LAT_IQ3_XXS, 32, 8, 15, 0.2f, 1e-8f, false, false}, false, true, 0, true,
                                     1.0125f, sizeof(cpu_block_iq3_xxs), pack_iq3_xxs};
static const lattice_type IQ3_S = {{LAT_IQ3_S, 32, 8, 9, 0.2f, 0.f, false, true}, false, true, 0, false, 1.033f,
                                   sizeof(cpu_block_iq3_s), pack_iq3_s};

void cpu_quantize_iq2_xxs(const float *x, void *y, int64_t n, const float *qw)
{
    quantize_lattice(&IQ2_XXS, x, y, n, qw);
}

void cpu_quantize_iq2_xs(const float *x, void *y, int64_t n, const float *qw)
{
    quantize_lattice(&IQ2_XS, x, y, n, qw);
}

void cpu_quantize_iq2_s(const float *x, void *y, int64_t n, const float *qw)
{
    quantize_lattice(&IQ2_S, x, y, n, qw);
}

void cpu_quantize_iq3_xxs(const float *x, void *y, int64_t n, const float *qw)
{
    quantize_lattice(&IQ3_XXS, x, y, n, qw);
}

void cpu_quantize_iq3_s(const float *x, void *y, int64_t n, const float *qw)
{
    quantize_lattice(&IQ3_S, x, y, n, qw);
}

/* ---- IQ1_S / IQ1_M ------------------------------------------------------------ */

/* An element and its position, sorted by value (ggml sorts float pairs
 * with qsort; the same qsort on the same keys gives the same order). */
typedef struct ranked {
    float v;
    int i;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const float l = ((const ranked *)a)->v, r = ((const ranked *)b)->v;
    return l < r ? -1 : l > r ? 1 : 0;
}

/* A group's weights (qw * sqrt(sigma2 + x^2), else x^2) and its largest
 * magnitude; unless that is below eps, its elements sorted into r. False
 * for a zero group. */
static void iq1_weights(const float *xb, int n, const float *qw, float sigma2, float *w)
{
    for (int i = 0; i < n; i++)
        w[i] = qw ? qw[i] * sqrtf(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
}

static bool iq1_prepare(const float *xb, int n, const float *qw, float sigma2, float eps, float *w, ranked *r,
                        float *max)
{
    iq1_weights(xb, n, qw, sigma2, w);
    *max = fabsf(xb[0]);
    for (int i = 1; i < n; i++)
        *max = *max > fabsf(xb[i]) ? *max : fabsf(xb[i]);
    if (*max < eps)
        return false;
    for (int j = 0; j < n; j++)
        r[j] = (ranked){xb[j], j};
    qsort(r, (size_t)n, sizeof r[0], cmp_ranked);
    return true;
}

/* The grid index of each 8 of a group's levels (off-grid ones moved to
 * their best neighbour, under the level values xx_of(k)); false when one
 * was off the grid. */
static bool iq1_indices(const lattice *g, int n, int8_t *L, const float *xb, const float *w, float scale,
                        const float *const *xx, uint16_t *idx)
{
    bool all_on = true;
    for (int k = 0; k < n / 8; k++) {
        int32_t code = lattice_code(g, L + 8 * k);
        if (code < 0) {
            all_on = false;
            code = lattice_nearest(g, code, xb + 8 * k, w + 8 * k, scale, xx[k], L + 8 * k);
        }
        idx[k] = (uint16_t)code;
    }
    return all_on;
}

/* The least-squares scale of the chosen points, kept when positive. */
static float iq1_refit(const lattice *g, int n, const uint16_t *idx, const float *xb, const float *w,
                       const float *const *xx, float scale)
{
    float sumqx = 0, sumq2 = 0;
    for (int k = 0; k < n / 8; k++) {
        const int8_t *pg = g->pts[idx[k]];
        for (int j = 0; j < 8; j++) {
            const float q = xx[k][(pg[j] - 1) / 2];
            sumqx += w[8 * k + j] * q * xb[8 * k + j];
            sumq2 += w[8 * k + j] * q * q;
        }
    }
    return sumqx > 0 && sumq2 > 0 ? sumqx / sumq2 : scale;
}

/* Levels 0, 1, 2 of a group from the two split points of its sorted order.
 * A negative scale turns the levels around and is made positive; true
 * then, for the caller to turn its delta signs around too. */
static bool iq1_levels(const ranked *r, int n, int i1, int i2, float *scale, int8_t *L)
{
    for (int j = 0; j < n; j++)
        L[r[j].i] = (int8_t)(j < i1 ? 0 : j < i2 ? 1 : 2);
    if (*scale >= 0)
        return false;
    for (int j = 0; j < n; j++)
        L[j] = (int8_t)(2 - L[j]);
    *scale = -*scale;
    return true;
}


static const float IQ1_XP[3] = {-1 + CPU_IQ1_DELTA, CPU_IQ1_DELTA, 1 + CPU_IQ1_DELTA};
static const float IQ1_XM[3] = {-1 - CPU_IQ1_DELTA, -CPU_IQ1_DELTA, 1 - CPU_IQ1_DELTA};

/* IQ1_S (quantize_row_iq1_s_impl; needs weights): per 32 the exact best
 * split of the sorted elements into -1, 0, +1 with a shared delta sign,
 * four 11-bit indices, a 3-bit scale and the delta's sign; fp16 scale with
 * ggml's 1.125 fudge. */
void cpu_quantize_iq1_s(const float *x, void *vy, int64_t n, const float *qw)
{
    enum { BS = 32 };
    const lattice *g = lattice_get(LAT_IQ1);
    cpu_block_iq1_s *y = vy;
    RF_ASSERT(qw);
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw += QK_K) {
        float scales[QK_K / BS], weight[BS], sumx[BS + 1], sumw[BS + 1], max_scale = 0;
        const float sigma2 = 2 * sum_squares(x) / QK_K;
        int8_t L[BS], shifts[QK_K / BS];
        ranked r[BS];
        memset(&y[ibl], 0, sizeof y[ibl]);
        for (int ib = 0; ib < QK_K / BS; ib++) {
            const float *xb = x + BS * ib;
            float max;
            scales[ib] = 0;
            shifts[ib] = 1;
            if (!iq1_prepare(xb, BS, qw + BS * ib, sigma2, 1e-12f, weight, r, &max))
                continue;
            sumx[0] = sumw[0] = 0;
            for (int j = 0; j < BS; j++) {
                sumx[j + 1] = sumx[j] + weight[r[j].i] * xb[r[j].i];
                sumw[j + 1] = sumw[j] + weight[r[j].i];
            }
            float best = -FLT_MAX, scale = max;
            int besti1 = -1, besti2 = -1, best_shift = 0;
            for (int i1 = 0; i1 <= BS; i1++) {
                for (int i2 = i1; i2 <= BS; i2++) {
                    for (int sh = 1; sh >= -1; sh -= 2) {
                        const float *v = sh == 1 ? IQ1_XP : IQ1_XM;
                        const float sumqx = (sumx[i1] - sumx[0]) * v[0] + (sumx[i2] - sumx[i1]) * v[1] +
                                            (sumx[BS] - sumx[i2]) * v[2];
                        const float sumq2 = (sumw[i1] - sumw[0]) * v[0] * v[0] +
                                            (sumw[i2] - sumw[i1]) * v[1] * v[1] +
                                            (sumw[BS] - sumw[i2]) * v[2] * v[2];
                        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                            scale = sumqx / sumq2;
                            best = scale * sumqx;
                            besti1 = i1;
                            besti2 = i2;
                            best_shift = sh;
                        }
                    }
                }
            }
            if (besti1 < 0 || besti2 < 0 || best_shift == 0)
                continue;
            if (iq1_levels(r, BS, besti1, besti2, &scale, L))
                best_shift = -best_shift;
            const float *xx = best_shift == 1 ? IQ1_XP : IQ1_XM;
            const float *const xk[4] = {xx, xx, xx, xx};
            uint16_t idx[BS / 8];
            if (!iq1_indices(g, BS, L, xb, weight, scale, xk, idx))
                scale = iq1_refit(g, BS, idx, xb, weight, xk, scale);
            uint16_t h = 0;
            for (int k = 0; k < BS / 8; k++) {
                y[ibl].qs[BS / 8 * ib + k] = (uint8_t)(idx[k] & 255);
                h |= (uint16_t)((idx[k] >> 8) << 3 * k);
            }
            y[ibl].qh[ib] = h;
            scales[ib] = scale;
            shifts[ib] = (int8_t)best_shift;
            max_scale = max_scale > scale ? max_scale : scale;
        }
        if (!max_scale)
            continue;
        const float d = max_scale / 15;
        y[ibl].d = F2H(d * 1.125f);
        const float id = 1 / d;
        for (int ib = 0; ib < QK_K / BS; ib++) {
            int l = clampi(nearest(0.5f * (id * scales[ib] - 1)), 0, 7);
            if (shifts[ib] == -1)
                l |= 8;
            y[ibl].qh[ib] |= (uint16_t)(l << 12);
        }
    }
}

/* The level values of the two 8s of an IQ1_M group: shift k picks + or -
 * delta for each (0: ++, 1: +-, 2: -+, 3: --). */
static void iq1_m_values(int k, const float *xx[2])
{
    xx[0] = k < 2 ? IQ1_XP : IQ1_XM;
    xx[1] = k % 2 == 0 ? IQ1_XP : IQ1_XM;
}


/* The exact best split of a sorted group of 16 into -1, 0, +1, each half
 * with its own delta sign (ggml keeps prefix sums per half: the three-level
 * sums collapse to T*v[2] - px[i1] - px[i2]). */
static bool iq1_m_split(const ranked *r, const float *xb, const float *w, float *scale, int *bi1, int *bi2,
                        int *bk)
{
    enum { BS = 16 };
    float px[2][BS + 1], pw[2][BS + 1], best = -FLT_MAX;
    px[0][0] = px[1][0] = pw[0][0] = pw[1][0] = 0;
    for (int j = 0; j < BS; j++) {
        const int i = r[j].i, h = i < BS / 2 ? 0 : 1;
        px[h][j + 1] = px[h][j] + w[i] * xb[i];
        px[1 - h][j + 1] = px[1 - h][j];
        pw[h][j + 1] = pw[h][j] + w[i];
        pw[1 - h][j + 1] = pw[1 - h][j];
    }
    const float txs[2] = {px[0][BS], px[1][BS]}, tws[2] = {pw[0][BS], pw[1][BS]};
    const float p2 = IQ1_XP[2], m2 = IQ1_XM[2];
    const float cp1 = IQ1_XP[0] * IQ1_XP[0] - IQ1_XP[1] * IQ1_XP[1];
    const float cp2 = IQ1_XP[1] * IQ1_XP[1] - IQ1_XP[2] * IQ1_XP[2];
    const float cm1 = IQ1_XM[0] * IQ1_XM[0] - IQ1_XM[1] * IQ1_XM[1];
    const float cm2 = IQ1_XM[1] * IQ1_XM[1] - IQ1_XM[2] * IQ1_XM[2];
    *bi1 = *bi2 = *bk = -1;
    for (int i1 = 0; i1 <= BS; i1++) {
        for (int i2 = i1; i2 <= BS; i2++) {
            float qx_p[2], qx_m[2], q2_p[2], q2_m[2];
            for (int h = 0; h < 2; h++) {
                const float sx = px[h][i1] + px[h][i2];
                qx_p[h] = txs[h] * p2 - sx;
                qx_m[h] = txs[h] * m2 - sx;
                q2_p[h] = tws[h] * p2 * p2 + pw[h][i1] * cp1 + pw[h][i2] * cp2;
                q2_m[h] = tws[h] * m2 * m2 + pw[h][i1] * cm1 + pw[h][i2] * cm2;
            }
            const float sumqx[4] = {qx_p[0] + qx_p[1], qx_p[0] + qx_m[1], qx_m[0] + qx_p[1], qx_m[0] + qx_m[1]};
            const float sumq2[4] = {q2_p[0] + q2_p[1], q2_p[0] + q2_m[1], q2_m[0] + q2_p[1], q2_m[0] + q2_m[1]};
            for (int k = 0; k < 4; k++) {
                if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best * sumq2[k]) {
                    *scale = sumqx[k] / sumq2[k];
                    best = *scale * sumqx[k];
                    *bi1 = i1;
                    *bi2 = i2;
                    *bk = k;
                }
            }
        }
    }
    return *bi1 >= 0 && *bi2 >= 0 && *bk >= 0;
}

/* IQ1_M (quantize_row_iq1_m_impl): groups of 16, each 8 with its own delta
 * sign, 11-bit indices, 3-bit scales; the fp16 super-scale is refitted over
 * the whole super-block, scaled by ggml's 1.1125 fudge and spread over the
 * top nibbles of the four scale words. Without weights x^2. */
void cpu_quantize_iq1_m(const float *x, void *vy, int64_t n, const float *qw)
{
    enum { BS = 16 };
    static const uint8_t MASKS[4] = {0x00, 0x80, 0x08, 0x88};
    const lattice *g = lattice_get(LAT_IQ1);
    cpu_block_iq1_m *y = vy;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K) {
        const float *qwb = qw ? qw + QK_K * ibl : NULL;
        float scales[QK_K / BS], weight[BS], max_scale = 0;
        const float sigma2 = 2 * sum_squares(x) / QK_K;
        int8_t L[BS], shifts[QK_K / BS];
        ranked r[BS];
        const float *xx[2];
        memset(&y[ibl], 0, sizeof y[ibl]);
        for (int ib = 0; ib < QK_K / BS; ib++) {
            const float *xb = x + BS * ib;
            float max;
            scales[ib] = 0;
            shifts[ib] = 0;
            if (!iq1_prepare(xb, BS, qwb ? qwb + BS * ib : NULL, sigma2, 1e-7f, weight, r, &max))
                continue;
            float scale = max;
            int i1, i2, k;
            if (!iq1_m_split(r, xb, weight, &scale, &i1, &i2, &k))
                continue;
            if (iq1_levels(r, BS, i1, i2, &scale, L))
                k = 3 - k;
            iq1_m_values(k, xx);
            uint16_t idx[BS / 8];
            if (!iq1_indices(g, BS, L, xb, weight, scale, xx, idx))
                scale = iq1_refit(g, BS, idx, xb, weight, xx, scale);
            y[ibl].qs[2 * ib] = (uint8_t)(idx[0] & 255);
            y[ibl].qs[2 * ib + 1] = (uint8_t)(idx[1] & 255);
            y[ibl].qh[ib] = (uint8_t)((idx[0] >> 8) | ((idx[1] >> 8) << 4));
            scales[ib] = scale;
            shifts[ib] = (int8_t)k;
            max_scale = max_scale > scale ? max_scale : scale;
        }
        if (!max_scale)
            continue;
        uint16_t sc[4] = {0};
        float d = max_scale / 15;
        const float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int ib = 0; ib < QK_K / BS; ib++) {
            const int l = clampi(nearest(0.5f * (id * scales[ib] - 1)), 0, 7);
            sc[ib / 4] |= (uint16_t)(l << 3 * (ib % 4));
            y[ibl].qh[ib] |= MASKS[shifts[ib]];
            const float *xb = x + BS * ib;
            iq1_weights(xb, BS, qwb ? qwb + BS * ib : NULL, sigma2, weight);
            iq1_m_values(shifts[ib], xx);
            for (int k = 0; k < 2; k++) {
                const int8_t *pg = g->pts[y[ibl].qs[2 * ib + k] + ((y[ibl].qh[ib] << (8 - 4 * k)) & 0x700)];
                for (int j = 0; j < 8; j++) {
                    const float q = xx[k][(pg[j] - 1) / 2] * (2 * l + 1);
                    sumqx += weight[8 * k + j] * q * xb[8 * k + j];
                    sumq2 += weight[8 * k + j] * q * q;
                }
            }
        }
        if (sumq2 > 0)
            d = sumqx / sumq2;
        const uint16_t h = F2H(d * 1.1125f);
        sc[0] |= (uint16_t)((h & 0x000f) << 12);
        sc[1] |= (uint16_t)((h & 0x00f0) << 8);
        sc[2] |= (uint16_t)((h & 0x0f00) << 4);
        sc[3] |= (uint16_t)(h & 0xf000);
        memcpy(y[ibl].scales, sc, sizeof sc);
    }
}

/* ---- TQ1_0 / TQ2_0 ---------------------------------------------------------- */

/* Ternary: each element rounded (half away from zero, lroundf) to -1, 0, 1
 * of the block's largest magnitude. Importance weights do not change them
 * (ggml ignores them). */
static int trit(float v, float id)
{
    return (int)lroundf(v * id) + 1;
}

/* TQ1_0: five trits a byte as a base-3 fraction of 256 (rounded up), 32
 * then 16 bytes of them, then four trits a byte in qh. */
void cpu_quantize_tq1_0(const float *x, void *vy, int64_t n, const float *qw)
{
    (void)qw;
    cpu_block_tq1_0 *y = vy;
    const size_t nqs = sizeof y->qs, nqh = sizeof y->qh, n32 = nqs - nqs % 32;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float amax = 0;
        for (int j = 0; j < QK_K; j++)
            amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
        const float id = amax ? 1.0f / amax : 0.0f;
        y[i].d = F2H(amax);
        for (size_t j = 0; j < nqs; ) {
            const size_t w = j < n32 ? 32 : 16;
            for (size_t m = 0; m < w; m++) {
                uint8_t q = 0;
                for (size_t k = 0; k < 5; k++)
                    q = (uint8_t)(q * 3 + trit(x[m + k * w], id));
                y[i].qs[j + m] = (uint8_t)(((uint16_t)q * 256 + (243 - 1)) / 243);
            }
            x += 5 * w;
            j += w;
        }
        for (size_t j = 0; j < nqh; j++) {
            uint8_t q = 0;
            for (size_t m = 0; m < 4; m++)
                q = (uint8_t)(q * 3 + trit(x[j + m * nqh], id));
            q = (uint8_t)(q * 3);
            y[i].qh[j] = (uint8_t)(((uint16_t)q * 256 + (243 - 1)) / 243);
        }
        x += 4 * nqh;
    }
}

/* TQ2_0: four 2-bit trits a byte, each 32 bytes covering 128 elements. */
void cpu_quantize_tq2_0(const float *x, void *vy, int64_t n, const float *qw)
{
    (void)qw;
    cpu_block_tq2_0 *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float amax = 0;
        for (int j = 0; j < QK_K; j++)
            amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
        const float id = amax ? 1.0f / amax : 0.0f;
        y[i].d = F2H(amax);
        for (size_t j = 0; j < sizeof y->qs; j += 32, x += 128)
            for (size_t m = 0; m < 32; m++) {
                uint8_t q = 0;
                for (size_t k = 0; k < 4; k++)
                    q = (uint8_t)(q + ((trit(x[m + k * 32], id) & 3) << 2 * k));
                y[i].qs[j + m] = q;
            }
    }
}
