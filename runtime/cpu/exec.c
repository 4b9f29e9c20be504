/*
 * exec.c: the CPU backend. It executes the fused plan: the groups the
 * passes formed, in the scheduled order, each through the kernels of ops.h.
 *
 * Memory: one workspace (the size the memory planner computed, for steps
 * of plan_tokens tokens, or the batch graph's for n_seq rows if larger), the
 * KV cache (per layer, for K and for V, the session's pool of blocks of
 * RT_KV_BLOCK rows of [Hkv, D], f32 or f16), and scratch for the quantized
 * activations and attention scores; all allocated in prepare(), none on the
 * hot path. Row t of a step stores its K/V at position pos[t] of sequence
 * seqs[t], in the row the session's block table gives, and attends to that
 * sequence's positions up to it: a prompt's rows are one sequence, a
 * batched decode step's each another.
 *
 * Fusion on the CPU: a matmul group quantizes its input once for all the
 * matmuls that read it (Q/K/V, gate/up) and runs its prologue (RMSNorm) and
 * epilogues (bias, gating, softcap, residual) right after, while the rows are
 * still in cache; the rope_kv group ropes q and k and stores k and v in one
 * pass over the step. Everything else is one kernel per node; nodes of at
 * most INLINE_MAX_ELEMS elements run on the calling thread, not the pool.
 *
 * A step runs from begin through run to its end; a tensor-parallel rank's
 * graph (runtime/tp.c) stops at each all_reduce and all_gather, whose
 * result tp.c writes into this workspace (value) before running on.
 *
 * With ROCMFORGE_PROFILE set when the session is prepared, every kernel
 * launch is timed into the session's rt_profile (runtime.h) by its group's
 * first op, matmuls of one row (slot IR_OP_MATMUL) and of more (slot
 * IR_OP_COUNT) apart; `rocmforge bench` prints it.
 * With ROCMFORGE_CPU_DEBUG set, every computed value prints one line
 * "debug %id sum sum|x|" to stderr, as the GPU backend does with
 * ROCMFORGE_GPU_DEBUG, so two runs diff to the first value that differs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ir/passes/passes.h"
#include "runtime/backend.h"
#include "runtime/cpu/ops.h"
#include "runtime/cpu/quant.h"
#include "support/error.h"

/* A step in progress: its graph, sizes, and the next node to run (a
 * tensor-parallel rank's step stops at each collective, runtime/tp.c) */
typedef struct cpu_cursor {
    const ir_graph *g;        /* the session's graph, or its batch graph */
    const void *const *weights;
    int64_t T, P, O;
    uint32_t at;              /* the next node of g to run */
    const ir_node *out;       /* the output node, once passed */
} cpu_cursor;

typedef struct cpu_state {
    cpu_pool *pool;
    bool pool_borrowed;       /* threads_of's (backend.h), not freed here */
    cpu_cursor cur;
    uint8_t *workspace;
    void **kv;                /* by layer: [2 * layer + kv] cache base */
    uint32_t n_layer;
    ggml_type kv_type;
    void *qx;                 /* quantized activations */
    void *moe_scratch;        /* matmul_id's gathered rows (cpu_matmul_id_scratch_bytes) */
    float *attn_scratch;      /* per thread */
    int64_t attn_scratch_per_thread;
    int profile;              /* ROCMFORGE_PROFILE set: time every kernel */
    int debug;                /* ROCMFORGE_CPU_DEBUG set: print every value's sums */
    rt_profile prof;          /* (IR_OP_COUNT + 1) kinds */
} cpu_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static rt_profile *cpu_profile(const rt_session *s)
{
    cpu_state *st = s->state;
    return st && st->profile ? &st->prof : NULL;
}

/* the kinds' names and counters; false on no memory */
static bool profile_init(cpu_state *st)
{
    static const char *names[IR_OP_COUNT + 1];
    for (int k = 0; k < IR_OP_COUNT; k++)
        names[k] = k == IR_OP_MATMUL ? "matmul(M=1)" : ir_op_name((ir_op)k);
    names[IR_OP_COUNT] = "matmul(M>1)";
    st->prof.n = IR_OP_COUNT + 1;
    st->prof.name = names;
    for (int f = 0; f < 2; f++) {
        st->prof.seconds[f] = calloc(IR_OP_COUNT + 1, sizeof *st->prof.seconds[f]);
        st->prof.calls[f] = calloc(IR_OP_COUNT + 1, sizeof *st->prof.calls[f]);
        if (!st->prof.seconds[f] || !st->prof.calls[f])
            return false;
    }
    return true;
}

/* ---- values -------------------------------------------------------------- */

typedef struct step {
    rt_session *s;
    cpu_state *st;
    const ir_graph *g;        /* the session's graph, or its batch graph */
    const void *const *weights;
    int64_t T, P, O;          /* O: a batch step's rows with logits (its last O) */
    cpu_kv_rows rows;         /* where each row's K/V go and what it attends */
} step;

/* the profile's slot of a node: its op, a matmul by M = 1 or not; in
 * phase 0 (decode) for a step of one row, or of rows that all want logits
 * (a batched decode step), else 1 */
static void profile_add(const step *x, const ir_node *n, int64_t M, double t)
{
    int k = n->op == IR_OP_MATMUL && M > 1 ? IR_OP_COUNT : (int)n->op, f = x->T > 1 && x->O != x->T;
    x->st->prof.seconds[f][k] += t;
    x->st->prof.calls[f][k]++;
}

static int64_t dim_of(const step *x, int64_t d) { return rt_dim(d, x->T, x->P, x->O); }

static int64_t numel(const step *x, const ir_type *t) { return rt_numel(t, x->T, x->P, x->O); }

static int64_t last_dim(const step *x, const ir_type *t) { return t->rank ? dim_of(x, t->dim[t->rank - 1]) : 1; }

/* Where a value's data is this step. */
static void *val(const step *x, const ir_node *n)
{
    rt_place p = rt_place_of(n, x->T, x->P, x->O);
    char *base;
    switch (p.home) {
    case RT_IN_TOKENS: base = (char *)x->s->tokens; break;
    case RT_IN_POS: base = (char *)x->s->pos; break;
    case RT_IN_HIDDEN: base = (char *)x->s->hidden; break;
    case RT_IN_WEIGHT: base = (char *)x->weights[p.node->id]; break;
    case RT_IN_KV: base = x->st->kv[2 * p.node->ia[0] + p.node->ia[1]]; break;
    default: base = (char *)x->st->workspace; break;
    }
    return base + p.offset;
}

/* ---- parallel loops -------------------------------------------------------- */

typedef struct task {
    const step *x;
    const ir_node *n;
    int64_t count;           /* rows or elements to split */
} task;

static void split(int64_t count, int ith, int nth, int64_t *a, int64_t *b)
{
    int64_t per = (count + nth - 1) / nth;
    *a = per * ith < count ? per * ith : count;
    *b = *a + per < count ? *a + per : count;
}

static void run_node_part(void *ctx, int ith, int nth)
{
    const task *t = ctx;
    const step *x = t->x;
    const ir_node *n = t->n;
    int64_t a, b;
    split(t->count, ith, nth, &a, &b);
    if (a >= b && n->op != IR_OP_ATTENTION)
        return;
    float *y = val(x, n);
    switch (n->op) {
    case IR_OP_EMBED:
        cpu_get_rows(val(x, n->in[0]), n->in[0]->type.elem, n->in[0]->type.dim[1], val(x, n->in[1]), y, a, b);
        break;
    case IR_OP_RMS_NORM:
        cpu_rms_norm(val(x, n->in[0]), n->n_in > 1 ? val(x, n->in[1]) : NULL, y, last_dim(x, &n->type), n->fa[0], a, b);
        break;
    case IR_OP_LAYER_NORM:
        cpu_layer_norm(val(x, n->in[0]), n->n_in > 1 ? val(x, n->in[1]) : NULL, n->n_in > 2 ? val(x, n->in[2]) : NULL,
                       y, last_dim(x, &n->type), n->fa[0], a, b);
        break;
    case IR_OP_ADD:
        cpu_add(val(x, n->in[0]), val(x, n->in[1]), numel(x, &n->in[1]->type), y, a, b);
        break;
    case IR_OP_MUL:
        cpu_mul(val(x, n->in[0]), val(x, n->in[1]), numel(x, &n->in[1]->type), y, a, b);
        break;
    case IR_OP_SCALE: cpu_unary_f32(CPU_SCALE, n->fa[0], val(x, n->in[0]), y, a, b); break;
    case IR_OP_SILU: cpu_unary_f32(CPU_SILU, 0, val(x, n->in[0]), y, a, b); break;
    case IR_OP_GELU: cpu_unary_f32(CPU_GELU, 0, val(x, n->in[0]), y, a, b); break;
    case IR_OP_SOFTCAP: cpu_unary_f32(CPU_SOFTCAP, n->fa[0], val(x, n->in[0]), y, a, b); break;
    case IR_OP_SIGMOID: cpu_unary_f32(CPU_SIGMOID, 0, val(x, n->in[0]), y, a, b); break;
    case IR_OP_SOFTMAX: cpu_softmax_rows(val(x, n->in[0]), y, last_dim(x, &n->type), a, b); break;
    case IR_OP_TOPK:
        cpu_topk_rows(val(x, n->in[0]), (int32_t *)y, last_dim(x, &n->in[0]->type), n->ia[0], a, b);
        break;
    case IR_OP_GROUP_MASK: cpu_group_mask(val(x, n->in[0]), y, last_dim(x, &n->type), n->ia[0], n->ia[1], a, b); break;
    case IR_OP_CONCAT: { /* b's rows repeat where it has one head to a's H */
        const ir_type *ta = &n->in[0]->type, *tb = &n->in[1]->type;
        int64_t every = ta->rank > 2 ? dim_of(x, ta->dim[ta->rank - 2]) / dim_of(x, tb->dim[tb->rank - 2]) : 1;
        cpu_concat_rows(val(x, n->in[0]), last_dim(x, ta), val(x, n->in[1]), last_dim(x, tb), every, y, a, b);
        break;
    }
    case IR_OP_MOE_WEIGHTS:
        cpu_moe_weights(val(x, n->in[0]), val(x, n->in[1]), y, last_dim(x, &n->in[0]->type),
                        last_dim(x, &n->type), (int)n->ia[0], n->fa[0], a, b);
        break;
    case IR_OP_MOE_SUM:
        cpu_moe_sum(val(x, n->in[0]), val(x, n->in[1]), y, n->in[0]->type.dim[1], n->type.dim[1], a, b);
        break;
    case IR_OP_SCALE_ROWS: cpu_scale_rows(val(x, n->in[0]), val(x, n->in[1]), y, n->type.dim[1], a, b); break;
    case IR_OP_SWIGLU:
    case IR_OP_GEGLU:
        cpu_glu(n->op == IR_OP_GEGLU, val(x, n->in[0]), val(x, n->in[1]), y, a, b);
        break;
    case IR_OP_POOL: cpu_pool_rows(val(x, n->in[0]), x->T, n->type.dim[1], (int)n->ia[0], y); break;
    case IR_OP_SWIGLU_OAI: cpu_glu_oai(n->fa[0], n->fa[1], val(x, n->in[0]), val(x, n->in[1]), y, a, b); break;
    case IR_OP_SLICE: { /* rows a..b of the outer product of the dims before the axis */
        const ir_type *it = &n->in[0]->type;
        int64_t inner = 1;
        for (uint8_t d = (uint8_t)(n->ia[0] + 1); d < it->rank; d++)
            inner *= dim_of(x, it->dim[d]);
        int64_t in_block = dim_of(x, it->dim[n->ia[0]]) * inner, out_block = n->ia[2] * inner;
        const float *src = val(x, n->in[0]);
        for (int64_t r = a; r < b; r++)
            memcpy(y + r * out_block, src + r * in_block + n->ia[1] * inner, (size_t)out_block * sizeof *y);
        break;
    }
    case IR_OP_ROPE: {
        int64_t H = n->type.dim[1], D = n->type.dim[2];
        const float *src = val(x, n->in[0]);
        if (src != y)
            memcpy(y + a * H * D, src + a * H * D, (size_t)((b - a) * H * D) * sizeof *y);
        cpu_rope_params p = {
            .n_rot = (int)n->ia[0], .mode = (int)n->ia[1], .n_ctx_orig = (int)x->s->graph->model.rope_n_ctx_orig,
            .base = n->fa[0], .freq_scale = n->fa[1], .ext_factor = n->fa[2], .attn_factor = n->fa[3],
            .beta_fast = n->fa[4], .beta_slow = n->fa[5],
            .freq_factors = n->n_in > 2 ? val(x, n->in[2]) : NULL,
        };
        cpu_rope(y, val(x, n->in[1]), H, D, &p, a, b);
        break;
    }
    case IR_OP_KV_STORE:
        cpu_kv_store(val(x, n), x->st->kv_type, val(x, n->in[0]), n->type.dim[1], n->type.dim[2], &x->rows, a, b);
        break;
    case IR_OP_ATTENTION: {
        const ir_node *k = n->in[1];
        cpu_attn_params p = {
            .T = x->T, .rows = x->rows, .Hq = (int)n->in[0]->type.dim[1], .Hkv = (int)k->type.dim[1],
            .D = (int)k->type.dim[2], .Dv = (int)n->in[2]->type.dim[2], .scale = n->fa[0], .softcap = n->fa[1], .window = (int)n->ia[1],
            .noncausal = n->ia[2] != 0, .kv_len = x->P + x->T,
            .cache_type = x->st->kv_type, .sinks = n->n_in > 3 ? val(x, n->in[3]) : NULL,
        };
        cpu_attention(val(x, n->in[0]), val(x, k), val(x, n->in[2]), y, &p,
                      x->st->attn_scratch + ith * x->st->attn_scratch_per_thread, ith, nth);
        break;
    }
    default:
        break;
    }
}

/* how a node's work is split: rows or elements */
static int64_t work_of(const step *x, const ir_node *n)
{
    switch (n->op) {
    case IR_OP_EMBED:
    case IR_OP_ROPE:
    case IR_OP_KV_STORE: return x->T;
    case IR_OP_RMS_NORM:
    case IR_OP_LAYER_NORM:
    case IR_OP_SOFTMAX:
    case IR_OP_GROUP_MASK:
    case IR_OP_CONCAT:
    case IR_OP_MOE_SUM:
    case IR_OP_SCALE_ROWS: return numel(x, &n->type) / last_dim(x, &n->type);
    case IR_OP_TOPK:
    case IR_OP_MOE_WEIGHTS: return numel(x, &n->in[0]->type) / last_dim(x, &n->in[0]->type);
    case IR_OP_SLICE: {
        int64_t outer = 1;
        for (uint8_t d = 0; d < n->ia[0]; d++)
            outer *= dim_of(x, n->in[0]->type.dim[d]);
        return outer;
    }
    case IR_OP_ATTENTION: return 1; /* the kernel splits itself */
    case IR_OP_POOL: return 1;      /* one call over all rows */
    default: return numel(x, &n->type);
    }
}

/* Nodes this small (a decode step's norms, adds, ropes, cache stores) run
 * on the calling thread: waking the pool and waiting for it costs more than
 * the work, and every such wait is a chance to lose the core on a busy
 * machine. The result is the same either way: these kernels compute each
 * element or row independently of the split. */
enum { INLINE_MAX_ELEMS = 1 << 14 };

static void run_node(const step *x, const ir_node *n)
{
    task t = {x, n, work_of(x, n)};
    /* a cache store's type is the whole cache; it writes T rows of it */
    int64_t size = n->op == IR_OP_KV_STORE ? x->T * n->type.dim[1] * n->type.dim[2] : numel(x, &n->type);
    if (n->op != IR_OP_ATTENTION && size <= INLINE_MAX_ELEMS)
        run_node_part(&t, 0, 1);
    else
        cpu_pool_run(x->st->pool, run_node_part, &t);
}

/* A run of matmuls in one group reading the same input with the same weight
 * type: one quantization of the input, one call. Returns how many nodes of
 * g->nodes starting at i it consumed. */
static uint32_t run_matmuls(const step *x, uint32_t i, rf_error *err, rf_status *st)
{
    const ir_graph *g = x->g;
    const ir_node *m0 = g->nodes[i];
    cpu_matmul_w ws[8];
    int n_w = 0;
    uint32_t j = i;
    for (; j < g->n_nodes && n_w < 8; j++) {
        const ir_node *m = g->nodes[j];
        if (m->op != IR_OP_MATMUL || m->group != m0->group || m->in[0] != m0->in[0] ||
            m->in[1]->type.elem != m0->in[1]->type.elem)
            break;
        ws[n_w++] = (cpu_matmul_w){val(x, m->in[1]), m->in[1]->type.dim[0], val(x, m), m->in[1]->type.dim[0]};
    }
    const ir_node *in = m0->in[0];
    int64_t K = m0->in[1]->type.dim[1];
    int64_t M = numel(x, &in->type) / K;
    if (M && cpu_matmul(x->st->pool, m0->in[1]->type.elem, K, val(x, in), K, M, ws, n_w, x->st->qx) != 0)
        *st = rf_fail(err, RF_E_UNSUPPORTED, "weight '%s': type %s is not supported by the CPU backend",
                      m0->in[1]->name, ggml_type_get(m0->in[1]->type.elem)->name);
    return j - i;
}

/* The chosen experts' products: every expert any row chose, over its rows. */
static void run_matmul_id(const step *x, const ir_node *n, rf_error *err, rf_status *st)
{
    const ir_node *w = n->in[1];
    const ggml_type_traits *tt = ggml_type_get(w->type.elem);
    cpu_matmul_id_args a = {
        .wtype = w->type.elem, .w = val(x, w), .n_expert = w->type.dim[0], .N = w->type.dim[1],
        .K = w->type.dim[2], .x = val(x, n->in[0]), .x_per_slot = n->in[0]->type.rank == 3,
        .bias = n->n_in > 3 ? val(x, n->in[3]) : NULL,
        .ids = val(x, n->in[2]), .T = dim_of(x, n->type.dim[0]), .k = n->type.dim[1], .y = val(x, n),
    };
    a.expert_bytes = a.N * (a.K / tt->block_size * tt->type_size);
    if (a.T && cpu_matmul_id(x->st->pool, &a, x->st->moe_scratch, x->st->qx) != 0)
        *st = rf_fail(err, RF_E_UNSUPPORTED, "weight '%s': type %s is not supported by the CPU backend", w->name,
                      tt->name);
}

/* x[T,H,K] times W[H,N,K] head by head: a product per head, each x's
 * rows of that head (stride H*K) into y's (stride H*N). */
static void run_matmul_heads(const step *x, const ir_node *n, rf_error *err, rf_status *st)
{
    const ir_node *w = n->in[1];
    const ggml_type_traits *tt = ggml_type_get(w->type.elem);
    int64_t H = w->type.dim[0], N = w->type.dim[1], K = w->type.dim[2], T = dim_of(x, n->type.dim[0]);
    int64_t head_bytes = N * (K / tt->block_size * tt->type_size);
    const float *in = val(x, n->in[0]);
    float *y = val(x, n);
    for (int64_t h = 0; h < H && T && *st == RF_OK; h++) {
        cpu_matmul_w ws = {(const char *)val(x, w) + h * head_bytes, N, y + h * N, H * N};
        if (cpu_matmul(x->st->pool, w->type.elem, K, in + h * K, H * K, T, &ws, 1, x->st->qx) != 0)
            *st = rf_fail(err, RF_E_UNSUPPORTED, "weight '%s': type %s is not supported by the CPU backend",
                          w->name, tt->name);
    }
}

static void debug_value(const step *x, const ir_node *n)
{
    if (n->offset < 0 || n->type.elem != GGML_TYPE_F32)
        return;
    const float *v = val(x, n);
    double sum = 0, abs = 0;
    for (int64_t i = 0, cnt = numel(x, &n->type); i < cnt; i++) {
        sum += v[i];
        abs += v[i] < 0 ? -v[i] : v[i];
    }
    fprintf(stderr, "debug %%%u %.6e %.6e\n", n->id, sum, abs);
}

/* The step of the cursor: inputs s->tokens, s->pos, s->seqs */
static step step_of(const rt_session *s)
{
    const cpu_state *st = s->state;
    const cpu_cursor *c = &st->cur;
    return (step){(rt_session *)s, s->state, c->g, c->weights, c->T, c->P, c->O,
                  {s->pos, s->seqs, s->kv_table, s->kv_stride, s->kv_shift}};
}

/* A step from its first node: the step graph for T rows at s->n_past, or
 * (batch) the batch graph for T rows, the last O with logits (P is 0 there:
 * the views' sizes are the single sequence's) */
static void cpu_begin(rt_session *s, bool batch, uint32_t T, uint32_t O)
{
    cpu_state *st = s->state;
    st->cur = batch ? (cpu_cursor){s->batch_graph, s->batch_weights, T, 0, O, 0, NULL}
                    : (cpu_cursor){s->graph, s->weights, T, s->n_past, 0, 0, NULL};
}

static void *cpu_value(const rt_session *s, const ir_node *n)
{
    step x = step_of(s);
    return val(&x, n);
}

/* Runs the step from where it stopped up to the next collective, which it
 * returns with its operand computed (the caller does it, then runs on), or
 * to the end: NULL, the output rows copied to logits (if not NULL). */
static const ir_node *cpu_run(rt_session *s, float *logits, rf_status *rc, rf_error *err)
{
    step x = step_of(s);
    cpu_cursor *c = &x.st->cur;
    const ir_graph *g = c->g;
    rf_status st = RF_OK;
    for (uint32_t i = c->at; i < g->n_nodes && st == RF_OK;) {
        const ir_node *n = g->nodes[i];
        if (ir_is_leaf(n) || ir_is_alias(n)) {
            if (n->op == IR_OP_OUTPUT)
                c->out = n;
            i++;
            continue;
        }
        if (n->op == IR_OP_ALL_REDUCE || n->op == IR_OP_ALL_GATHER) {
            c->at = i + 1;
            *rc = RF_OK;
            return n;
        }
        double t0 = x.st->profile ? now_s() : 0;
        uint32_t i0 = i;
        if (n->op == IR_OP_MATMUL) {
            i += run_matmuls(&x, i, err, &st);
        } else if (n->op == IR_OP_MATMUL_ID) {
            run_matmul_id(&x, n, err, &st);
            i++;
        } else if (n->op == IR_OP_MATMUL_HEADS) {
            run_matmul_heads(&x, n, err, &st);
            i++;
        } else {
            run_node(&x, n);
            i++;
        }
        for (uint32_t d = i0; x.st->debug && d < i; d++)
            debug_value(&x, g->nodes[d]);
        if (x.st->profile)
            profile_add(&x, n, n->op == IR_OP_MATMUL ? numel(&x, &n->in[0]->type) / n->in[1]->type.dim[1] : 1,
                        now_s() - t0);
    }
    c->at = g->n_nodes;
    *rc = st;
    if (st != RF_OK)
        return NULL;
    RF_ASSERT(c->out);
    size_t n_out = (size_t)numel(&x, &c->out->type);
    if (n_out && logits) /* a batch step may want no logits, and give nowhere to put them */
        memcpy(logits, val(&x, c->out), n_out * sizeof *logits);
    return NULL;
}

/* A whole step: a graph without collectives (a rank's is run by tp.c) */
static rf_status run_step(rt_session *s, bool batch, uint32_t T, uint32_t O, float *logits, rf_error *err)
{
    rf_status st;
    cpu_begin(s, batch, T, O);
    const ir_node *stop = cpu_run(s, logits, &st, err);
    RF_ASSERT(!stop);
    return st;
}

static rf_status cpu_eval(rt_session *s, uint32_t T, float *logits, rf_error *err)
{
    return run_step(s, false, T, 0, logits, err);
}

static rf_status cpu_eval_batch(rt_session *s, uint32_t T, uint32_t O, float *logits, rf_error *err)
{
    return run_step(s, true, T, O, logits, err);
}

/* ---- set-up ---------------------------------------------------------------- */

static rf_status cpu_available(rf_error *err)
{
    (void)err;
    return RF_OK;
}

static void *alloc64(size_t n)
{
    size_t rounded = n ? (n + 63) / 64 * 64 : 64;
    return aligned_alloc(64, rounded);
}

/* Every weight of g a kernel reads must have a CPU kernel; *qx_bytes and
 * *max_D grow to what g's products and caches need. */
static rf_status check_graph(rt_session *s, cpu_state *st, const ir_graph *g, int64_t *qx_bytes, int64_t *max_D,
                             int64_t *moe_bytes, rf_error *err)
{
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        bool product = n->op == IR_OP_MATMUL || n->op == IR_OP_MATMUL_ID || n->op == IR_OP_MATMUL_HEADS;
        const ir_node *w = product ? n->in[1] : n->op == IR_OP_EMBED ? n->in[0] : NULL;
        if (w && !cpu_quant(w->type.elem))
            return rf_fail(err, RF_E_UNSUPPORTED, "%s: tensor '%s' has type %s, which the CPU backend does not support",
                           gguf_path(s->gguf), w->name, ggml_type_get(w->type.elem)->name);
        /* other kernels (norms, biases, rope factors) read weights as f32 */
        for (uint8_t k = 0; k < n->n_in; k++) {
            const ir_node *o = n->in[k];
            if (o->op == IR_OP_WEIGHT && o != w && o->type.elem != GGML_TYPE_F32)
                return rf_fail(err, RF_E_UNSUPPORTED,
                               "%s: tensor '%s' has type %s, but the CPU backend's %s kernel needs f32",
                               gguf_path(s->gguf), o->name, ggml_type_get(o->type.elem)->name, ir_op_name(n->op));
        }
        if (n->op == IR_OP_MATMUL || n->op == IR_OP_MATMUL_HEADS) { /* per head: T rows of K */
            int64_t K = w->type.dim[w->type.rank - 1], M = ir_type_bytes(&n->in[0]->type, g->plan_tokens, 0, g->plan_out) / 4 / K;
            if (n->op == IR_OP_MATMUL_HEADS)
                M /= w->type.dim[0];
            int64_t b = cpu_matmul_qx_bytes(w->type.elem, M, K);
            if (b > *qx_bytes)
                *qx_bytes = b;
        }
        if (n->op == IR_OP_MATMUL_ID) {
            /* at most every (token, slot) row through one expert */
            int64_t rows = ir_type_bytes(&n->type, g->plan_tokens, 0, g->plan_out) / 4 / w->type.dim[1];
            int64_t b = cpu_matmul_qx_bytes(w->type.elem, rows, w->type.dim[2]);
            int64_t m = cpu_matmul_id_scratch_bytes(rows, w->type.dim[2], w->type.dim[1]);
            *qx_bytes = b > *qx_bytes ? b : *qx_bytes;
            *moe_bytes = m > *moe_bytes ? m : *moe_bytes;
        }
        if (n->op == IR_OP_KV_STORE && n->type.dim[2] > *max_D)
            *max_D = n->type.dim[2];
        if (n->op == IR_OP_KV_STORE && (uint32_t)n->ia[0] + 1 > st->n_layer)
            st->n_layer = (uint32_t)n->ia[0] + 1;
    }
    return RF_OK;
}

static rf_status cpu_prepare(rt_session *s, rf_error *err)
{
    ir_graph *g = s->graph;
    cpu_state *st = calloc(1, sizeof *st);
    if (!st)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    s->state = st;
    st->kv_type = s->opt.kv_f16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
    const char *prof = getenv("ROCMFORGE_PROFILE");
    st->profile = prof && *prof && strcmp(prof, "0") != 0;
    if (st->profile && !profile_init(st))
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    const char *dbg = getenv("ROCMFORGE_CPU_DEBUG");
    st->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
    /* one workspace for both graphs' steps (never at once) */
    int64_t qx_bytes = 0, max_D = 0, moe_bytes = 0, ws = g->workspace_bytes;
    rf_status rc = check_graph(s, st, g, &qx_bytes, &max_D, &moe_bytes, err);
    if (rc == RF_OK && s->batch_graph) {
        rc = check_graph(s, st, s->batch_graph, &qx_bytes, &max_D, &moe_bytes, err);
        ws = s->batch_graph->workspace_bytes > ws ? s->batch_graph->workspace_bytes : ws;
    }
    if (rc != RF_OK)
        return rc;
    const rt_session *lender = s->threads_of;
    if (lender && lender->backend == &rt_backend_cpu && lender->state) {
        st->pool = ((const cpu_state *)lender->state)->pool;
        st->pool_borrowed = true;
    } else if (!(st->pool = cpu_pool_new(s->opt.n_threads))) {
        return rf_fail(err, RF_E_NOMEM, "cannot start the CPU threads");
    }
    st->workspace = alloc64((size_t)ws);
    st->qx = alloc64((size_t)qx_bytes);
    st->moe_scratch = moe_bytes ? alloc64((size_t)moe_bytes) : NULL;
    st->attn_scratch_per_thread = cpu_attention_scratch(s->n_ctx, (int)max_D);
    st->attn_scratch = alloc64((size_t)(st->attn_scratch_per_thread * cpu_pool_size(st->pool)) * sizeof(float));
    st->kv = calloc(2 * (size_t)st->n_layer + 1, sizeof *st->kv);
    if (!st->workspace || !st->qx || !st->attn_scratch || !st->kv || (moe_bytes && !st->moe_scratch))
        return rf_fail(err, RF_E_NOMEM, "out of memory for the workspace");
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->op != IR_OP_KV_STORE)
            continue;
        size_t bytes = ((size_t)s->n_kv_blocks << s->kv_shift) * (size_t)(n->type.dim[1] * n->type.dim[2]) *
                       ggml_type_get(st->kv_type)->type_size;
        void **slot = &st->kv[2 * n->ia[0] + n->ia[1]];
        if (!*slot && !(*slot = alloc64(bytes)))
            return rf_fail(err, RF_E_NOMEM, "out of memory for the KV cache (%u blocks of %d positions)",
                           s->n_kv_blocks, RT_KV_BLOCK);
    }
    return RF_OK;
}

static void cpu_reset(rt_session *s) { (void)s; /* positions >= n_past are never read */ }

static void cpu_release(rt_session *s)
{
    cpu_state *st = s->state;
    if (!st)
        return;
    if (!st->pool_borrowed)
        cpu_pool_free(st->pool);
    free(st->workspace);
    free(st->qx);
    free(st->moe_scratch);
    free(st->attn_scratch);
    if (st->kv)
        for (uint32_t i = 0; i < 2 * st->n_layer; i++)
            free(st->kv[i]);
    free(st->kv);
    for (int f = 0; f < 2; f++) {
        free(st->prof.seconds[f]);
        free(st->prof.calls[f]);
    }
    free(st);
    s->state = NULL;
}

const rt_backend rt_backend_cpu = {
    .name = "cpu",
    .available = cpu_available,
    .prepare = cpu_prepare,
    .eval = cpu_eval,
    .eval_batch = cpu_eval_batch,
    .reset = cpu_reset,
    .release = cpu_release,
    .profile = cpu_profile,
    .begin = cpu_begin,
    .run = cpu_run,
    .value = cpu_value,
};
