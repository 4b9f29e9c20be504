/*
 * matmul.c: y = x · W^T for weights in any GGUF type the quant tables
 * support, over the thread pool.
 *
 * One pool run in two phases with a barrier between them (a second pool
 * run would cost as much as the whole decode matmul of a small weight).
 * First the activations x[M,K] are converted to the weight type's
 * vec_dot_type (Q8_0, Q8_1, Q8_K, F16, BF16) into qx, the M*K/block blocks
 * split evenly over threads; F32 weights use x itself. A decode step's x
 * (at most SERIAL_QUANT_MAX values) is quantized by the calling thread
 * before the run instead, which takes a few microseconds and saves the
 * barrier: every synchronisation is a chance to wait for a thread that
 * lost its core on a busy machine. Then every output element
 * is one vec_dot of a W row with a qx row. All n_w weights of a call share qx
 * and are treated as one tall matrix of sum(n) rows, so a fused Q/K/V group
 * is balanced as a whole.
 *
 * The split of the second phase depends on M:
 *  - small M (decode): thread ith takes one contiguous range of W rows and
 *    computes all M outputs of each row while the row is in L1. W is read
 *    exactly once, each thread streams its own part: bandwidth bound, which
 *    is the best decode can do. (Chunks from a shared counter were tried,
 *    to let a thread that lost its core on a busy machine leave its rows to
 *    the others: 10-20% slower on an idle 2-core machine, no faster on a
 *    busy one.)
 *  - large M (prefill): the (W rows x x rows) plane is cut into tiles of
 *    TILE_N W rows by TILE_M x rows, handed out through an atomic counter.
 *    Within a tile each x row is dotted with the TILE_N W rows, which stay
 *    in L1/L2 for the whole tile, so W traffic drops by TILE_M.
 *
 * Numerics are those of the per-type vec_dot (llama.cpp's), and the result
 * does not depend on the thread count: each output element is computed by
 * one vec_dot call whatever the split.
 */
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "runtime/cpu/ops.h"
#include "runtime/cpu/quant.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

enum {
    SPIN_ITERS = 1 << 14, /* barrier spins before yielding every time */
    SPIN_YIELD_AFTER = 1 << 10, SPIN_YIELD_EVERY = 64, /* before that, every 64th spin yields (pool.c) */
    DECODE_MAX_M = 8, /* up to this many x rows: static split by W rows */
    SERIAL_QUANT_MAX = 1 << 14, /* up to this many x values: quantized by the caller */
    TILE_N = 16,      /* W rows per prefill tile */
    TILE_M = 64,      /* x rows per prefill tile */
};

static int64_t row_bytes(ggml_type t, int64_t K)
{
    const ggml_type_traits *tt = ggml_type_get((uint32_t)t);
    if (!tt || !tt->block_size || K % tt->block_size)
        return -1;
    return K / tt->block_size * tt->type_size;
}

int64_t cpu_matmul_qx_bytes(ggml_type wtype, int64_t M, int64_t K)
{
    const cpu_quant_traits *q = cpu_quant(wtype);
    if (!q)
        return -1;
    int64_t rb = row_bytes(q->vec_dot_type, K);
    return rb < 0 ? -1 : rb * M;
}

typedef struct qx_ctx {
    cpu_from_float_fn from_float;
    const float *x;
    int64_t ldx, K, M, blk, blk_bytes, stride;
    char *out;
} qx_ctx;

typedef struct mm_ctx {
    const cpu_quant_traits *q;
    int64_t K, M;
    const cpu_matmul_w *ws;
    int n_w;
    int64_t n_total;       /* sum of ws[i].n */
    const char *qx;        /* M rows of vec_dot_type */
    int64_t qx_stride;     /* bytes per qx row */
    int64_t w_stride;      /* bytes per W row */
    int64_t n_tiles_m, n_tiles;
    atomic_llong next_tile;
    int need_quant;        /* phase one runs, then the barrier */
    qx_ctx quant;
    atomic_int arrived;
} mm_ctx;

/* Phase one: the M*nb blocks of qx as one list, each thread a contiguous
 * range, cut at row ends (every quantizer works block by block). */
static void quantize_x(const qx_ctx *c, int ith, int nth)
{
    int64_t nb = c->K / c->blk;
    int64_t total = c->M * nb;
    int64_t b0 = total * ith / nth, b1 = total * (ith + 1) / nth;
    while (b0 < b1) {
        int64_t m = b0 / nb, i = b0 % nb;
        int64_t e = nb - i < b1 - b0 ? nb - i : b1 - b0;
        c->from_float(c->x + m * c->ldx + i * c->blk, c->out + m * c->stride + i * c->blk_bytes, e * c->blk);
        b0 += e;
    }
}

/* Output columns [r0, r1) of the stacked weights, x rows [m0, m1). Rows of
 * one tile are walked x-row-major so the W rows are reused from cache. */
static void dot_range(const mm_ctx *c, int64_t r0, int64_t r1, int64_t m0, int64_t m1)
{
    int64_t base = 0;
    for (int wi = 0; wi < c->n_w && r0 < r1; wi++) {
        const cpu_matmul_w *w = &c->ws[wi];
        if (r0 >= base + w->n) {
            base += w->n;
            continue;
        }
        int64_t j0 = r0 - base, j1 = (r1 < base + w->n ? r1 : base + w->n) - base;
        const char *wrows = (const char *)w->w;
        if (m1 - m0 <= DECODE_MAX_M) {
            for (int64_t j = j0; j < j1; j++)
                for (int64_t m = m0; m < m1; m++)
                    c->q->vec_dot(c->K, &w->y[m * w->ldy + j], wrows + j * c->w_stride, c->qx + m * c->qx_stride);
        } else if (c->q->vec_dot_x4) {
            /* each W row against four x rows at a time: the kernel unpacks
             * a W block once for the four */
            int64_t m4 = m0 + (m1 - m0) / 4 * 4;
            for (int64_t j = j0; j < j1; j++) {
                const char *wr = wrows + j * c->w_stride;
                for (int64_t m = m0; m < m4; m += 4)
                    c->q->vec_dot_x4(c->K, &w->y[m * w->ldy + j], w->ldy, wr, c->qx + m * c->qx_stride,
                                     c->qx_stride);
                for (int64_t m = m4; m < m1; m++)
                    c->q->vec_dot(c->K, &w->y[m * w->ldy + j], wr, c->qx + m * c->qx_stride);
            }
        } else {
            for (int64_t m = m0; m < m1; m++)
                for (int64_t j = j0; j < j1; j++)
                    c->q->vec_dot(c->K, &w->y[m * w->ldy + j], wrows + j * c->w_stride, c->qx + m * c->qx_stride);
        }
        r0 = base + j1;
        base += w->n;
    }
}

/* One-shot barrier between the phases: every thread has to see all of qx.
 * Spins, yielding now and then, then only yields, so an oversubscribed
 * machine still makes progress. */
static void barrier_wait(atomic_int *arrived, int nth)
{
    atomic_fetch_add_explicit(arrived, 1, memory_order_acq_rel);
    for (int i = 0; atomic_load_explicit(arrived, memory_order_acquire) < nth; i++) {
        if (i < SPIN_ITERS && (i < SPIN_YIELD_AFTER || i % SPIN_YIELD_EVERY))
            cpu_relax();
        else
            sched_yield();
    }
}

static void matmul_job(void *arg, int ith, int nth)
{
    mm_ctx *c = arg;
    if (c->need_quant) {
        quantize_x(&c->quant, ith, nth);
        if (nth > 1)
            barrier_wait(&c->arrived, nth);
    }
    if (c->M <= DECODE_MAX_M) {
        dot_range(c, c->n_total * ith / nth, c->n_total * (ith + 1) / nth, 0, c->M);
        return;
    }
    for (;;) {
        long long t = atomic_fetch_add_explicit(&c->next_tile, 1, memory_order_relaxed);
        if (t >= c->n_tiles)
            return;
        /* consecutive tiles share the W block: the next tile a thread
         * takes is likely to hit the same rows in L2 */
        int64_t tn = t / c->n_tiles_m, tm = t % c->n_tiles_m;
        int64_t r0 = tn * TILE_N, r1 = r0 + TILE_N < c->n_total ? r0 + TILE_N : c->n_total;
        int64_t m0 = tm * TILE_M, m1 = m0 + TILE_M < c->M ? m0 + TILE_M : c->M;
        dot_range(c, r0, r1, m0, m1);
    }
}

int cpu_matmul(cpu_pool *pool, ggml_type wtype, int64_t K, const float *x, int64_t ldx, int64_t M,
               const cpu_matmul_w *ws, int n_w, void *qx)
{
    const cpu_quant_traits *q = cpu_quant(wtype);
    if (!q || !q->vec_dot || n_w < 1 || M < 1)
        return -1;
    int64_t w_stride = row_bytes(wtype, K);
    int64_t qx_stride = row_bytes(q->vec_dot_type, K);
    if (w_stride < 0 || qx_stride < 0)
        return -1;
    mm_ctx c = {
        .q = q, .K = K, .M = M, .ws = ws, .n_w = n_w, .w_stride = w_stride, .qx_stride = qx_stride,
    };
    for (int i = 0; i < n_w; i++)
        c.n_total += ws[i].n;
    if (q->vec_dot_type == GGML_TYPE_F32) {
        c.qx = (const char *)x;
        c.qx_stride = ldx * (int64_t)sizeof(float);
    } else {
        /* the vec_dot_type's own entry holds its quantizer */
        const cpu_quant_traits *vq = cpu_quant(q->vec_dot_type);
        if (!vq || !vq->from_float)
            return -1;
        const ggml_type_traits *vt = ggml_type_get((uint32_t)q->vec_dot_type);
        c.quant = (qx_ctx){
            .from_float = vq->from_float, .x = x, .ldx = ldx, .K = K, .M = M,
            .blk = vt->block_size, .blk_bytes = vt->type_size, .stride = qx_stride, .out = qx,
        };
        c.qx = qx;
        if (M * K <= SERIAL_QUANT_MAX) /* a few us: cheaper than the barrier */
            quantize_x(&c.quant, 0, 1);
        else
            c.need_quant = 1;
    }
    c.n_tiles_m = (M + TILE_M - 1) / TILE_M;
    c.n_tiles = (c.n_total + TILE_N - 1) / TILE_N * c.n_tiles_m;
    atomic_init(&c.next_tile, 0);
    atomic_init(&c.arrived, 0);
    cpu_pool_run(pool, matmul_job, &c);
    return 0;
}
