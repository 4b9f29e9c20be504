/*
 * exec.c: the GPU backend. It runs the plan codegen made of the fused
 * graph: one launch per group (two variants for matmul groups: decode and
 * batched), in the scheduled order, all on one stream.
 *
 * prepare() opens the device (gpu.h: HIP on AMD, the CUDA driver on
 * NVIDIA), names its arch, generates the kernels, builds them through the
 * disk cache (compiling only what is missing), checks a plan file when one
 * is given, loads the code objects, and allocates two arenas: every weight
 * in one allocation, uploaded once; the workspace the memory planner sized,
 * the KV cache ([n_ctx, Hkv, D] per layer and K/V, f32 or with
 * rt_options.kv_f16 f16), the step's token
 * and position inputs and the argmax result in the other. Nothing is
 * allocated after that: eval() uploads P and the T token ids (one copy)
 * and the positions, launches, and copies back the logits (or, for greedy
 * decoding, one token id). The activation arena also holds the actq
 * scratch: the rows a matmul group's products read, converted as the CPU
 * converts them (codegen.h).
 *
 * A launch's arguments are device addresses of IR values, resolved as the
 * CPU backend resolves them (workspace offset, weight, cache, or a view of
 * another value), then the launch's row count and the address of P, which
 * every kernel reads from device memory. So a decode step (T = 1) launches
 * the same kernels with the same arguments whatever P is: the first one is
 * captured as a graph, and every later one is a copy of P and the token, one
 * graph launch and, greedy, one copy back of the next token. A capture that
 * fails is said once (the warn callback) and the steps run launch by launch,
 * as they do with rt_options.no_graph, ROCMFORGE_PROFILE or
 * ROCMFORGE_GPU_DEBUG.
 *
 * With ROCMFORGE_PROFILE set, an event is recorded before every launch and
 * after the last, and at the end of the step the time between consecutive
 * events goes to the kernel launched between them (rt_profile, decode
 * and prefill apart, with the bytes each launch moves), which `rocmforge
 * bench` prints: where a step's time goes, launch gaps included, no launch
 * synchronised. The device's copy bandwidth is measured once at open, to
 * put the kernels' rates against.
 *
 * A session of several sequences (rt_options.n_seq > 1) has a second
 * plan, the batch graph's (a step's rows of any sequences, the logits of
 * the last O), and keeps the KV cache in blocks of RT_KV_BLOCK positions,
 * the pool the session hands out (backend.h): both plans are rendered for
 * it (codegen.h's cg_paging), so every kernel that stores or reads the
 * cache finds a row's position, sequence and block in the step's inputs,
 * which one copy uploads before each step: P, the tokens, the positions,
 * the sequences and the block table. The plans share the weights, the
 * workspace (the larger one's), the scratch and the cache. A batch step of
 * B sequences' one token each is captured as a graph per B, as the decode
 * step is.
 *
 * With ROCMFORGE_GPU_DEBUG set, every launch is followed by a stream sync
 * and one line per value it stored, "debug %id sum sum|x|", the same lines
 * the CPU backend prints with ROCMFORGE_CPU_DEBUG, so the first kernel that
 * disagrees is found by diffing two runs.
 *
 * With rt_options.gpu_mem_limit every allocation of the two arenas counts
 * against it (a test's smaller GPU); free_memory() answers what
 * `gpu_layers` "auto" fits. The file is over 800 lines because all of it
 * works on gpu_state, which no other file is to see.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cache.h"
#include "codegen/codegen.h"
#include "codegen/plan.h"
#include "codegen/target.h"
#include "ir/passes/passes.h"
#include "runtime/backend.h"
#include "runtime/gpu/gpu.h"
#include "support/error.h"

enum { ALIGN = 256 };

/* a step's symbols: rows, past positions (the session's graph), rows with
 * logits (the batch graph) */
typedef struct step_dims {
    int64_t T, P, O;
} step_dims;

/* One graph's kernels and what runs them: the session's graph, and with
 * several sequences the batch graph. */
typedef struct gpu_plan {
    const ir_graph *g;
    cg_program *prog;
    gpu_module **modules;      /* (prog->n_kernels) */
    gpu_function **functions;  /* (prog->n_kernels) */
    gpu_ptr *weight_at;        /* by node id: a WEIGHT's address */
    const ir_node **by_id;     /* node of each id */
    const ir_node *out;        /* the graph's output: the logits */
    /* captured steps: [0] the decode step (T = 1) of the session's graph;
     * [B] the batch graph's step of B rows, all with logits (B sequences'
     * decode), for B up to n_graphs - 1 */
    gpu_graph **graphs;
    uint32_t n_graphs;
} gpu_plan;

typedef struct gpu_state {
    const gpu_api *api;
    gpu_device_info info;
    gpu_stream *stream;
    gpu_plan one, batch;       /* batch.prog: NULL with one sequence */
    cg_build_stats build;      /* both plans' */
    gpu_ptr weights;           /* the weight arena */
    gpu_ptr weights2;          /* the batch graph's weights the session's graph has not (0: none) */
    gpu_ptr acts;              /* workspace, KV cache, inputs */
    uint64_t allocated;        /* bytes of weights and acts, against rt_options.gpu_mem_limit */
    gpu_ptr workspace, tokens, pos, argmax_out;
    gpu_ptr past;              /* the step's inputs: P, then the tokens, the positions and (paged) the rest */
    int32_t *h_step;           /* (n_words) host staging of the step's inputs */
    size_t n_words;            /* the inputs' 32-bit words: up to the tokens' end, or (paged) the table's */
    bool paged;                /* several sequences: the cache in blocks */
    cg_paging pg;              /* where the inputs are (paged) */
    uint64_t kv_rows;          /* rows of each layer's cache: n_ctx, or (paged) the pool's positions */
    bool graph_off;            /* decode steps run launch by launch */
    gpu_event **ev;            /* profile: (n_launches + 1) */
    uint32_t *ran;             /* profile: (n_launches) the launches of the last step */
    gpu_ptr scratch;           /* actq slots, each plan_tokens rows of prog->scratch_k floats */
    gpu_ptr split;             /* the attention split scratch (prog->split_bytes), counters zeroed */
    gpu_ptr qtail;             /* the quantize-out tails' counters (prog->qtail_bytes), zeroed */
    gpu_ptr ksplit;            /* the split-K tiles' counters and partials (prog->ksplit_bytes), zeroed */
    gpu_ptr moesum;            /* the expert sums' counters (prog->moesum_bytes), zeroed */
    gpu_ptr experts;           /* the grouped expert products' pairs by expert (prog->experts_bytes) */
    size_t scratch_slot;       /* bytes per slot */
    gpu_ptr *kv;               /* by 2 * layer + kv */
    uint32_t n_layer;
    int debug;
    int profile;               /* ROCMFORGE_PROFILE set: time every launch */
    const gpu_plan *prof_pl;   /* the plan profiled: the batch graph's where there is one, else the session's */
    /* a tensor-parallel rank's step in segments (gpu_begin / gpu_run): its
     * plan and dims, the next launch, the next collective */
    gpu_plan *seg_pl;
    step_dims seg_d;
    uint32_t seg_next, seg_coll;
    rt_profile prof;
} gpu_state;

static size_t align_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

/* ---- values ----------------------------------------------------------------------- */

static size_t weight_bytes(const ir_node *w) { return (size_t)ir_type_bytes(&w->type, 0, 0, 0); }

/* bytes of a KV cache element: f16 or f32, as the kernels were rendered */
static size_t kv_elem(const gpu_state *st) { return st->one.prog->kv_f16 ? 2 : sizeof(float); }

static gpu_ptr addr(const gpu_state *st, const gpu_plan *pl, const ir_node *n, step_dims d)
{
    rt_place p = rt_place_of(n, d.T, d.P, d.O);
    gpu_ptr base;
    switch (p.home) {
    case RT_IN_TOKENS: base = st->tokens; break;
    case RT_IN_POS: base = st->pos; break;
    case RT_IN_HIDDEN: RF_ASSERT(!"a GPU part starts from the embedding"); base = 0; break;
    case RT_IN_WEIGHT: base = pl->weight_at[p.node->id]; break;
    case RT_IN_KV: base = st->kv[2 * p.node->ia[0] + p.node->ia[1]]; break;
    default: base = st->workspace; break;
    }
    return base + (gpu_ptr)p.offset;
}

/* ---- debugging ------------------------------------------------------------------------ */

static rf_status debug_launch(rt_session *s, const gpu_plan *pl, const cg_launch *l, step_dims d, rf_error *err)
{
    gpu_state *st = s->state;
    rf_status rc = st->api->stream_sync(st->stream, err);
    if (rc != RF_OK) {
        rf_error_prefix(err, "kernel %s (group %u)", pl->prog->kernels[l->kernel].name, l->group);
        return rc;
    }
    for (uint32_t a = 0; a < l->n_args; a++) {
        if (l->arg[a] >= CG_ARG_SCRATCH)
            continue;
        const ir_node *n = pl->by_id[l->arg[a]];
        if (n->group != l->group || n->offset < 0 || n->type.elem != GGML_TYPE_F32)
            continue;
        int64_t cnt = rt_numel(&n->type, d.T, d.P, d.O);
        float *h = malloc((size_t)cnt * sizeof *h);
        if (!h)
            return rf_fail(err, RF_E_NOMEM, "out of memory");
        if ((rc = st->api->memcpy_dtoh(h, addr(st, pl, n, d), (size_t)cnt * 4, st->stream, err)) == RF_OK)
            rc = st->api->stream_sync(st->stream, err);
        double sum = 0, abs = 0;
        for (int64_t i = 0; i < cnt; i++) {
            sum += h[i];
            abs += h[i] < 0 ? -h[i] : h[i];
        }
        free(h);
        if (rc != RF_OK)
            return rc;
        fprintf(stderr, "debug %%%u %.6e %.6e\n", n->id, sum, abs);
    }
    return RF_OK;
}

/* ---- a step ------------------------------------------------------------------------------ */

/* bytes launch l of plan pl moves (rt_profile): its weights, values and
 * the cache rows attention reads, each once */
static double launch_bytes(const gpu_state *st, const gpu_plan *pl, const cg_launch *l, int64_t T, int64_t P,
                           int64_t O)
{
    double b = 0;
    int64_t rows = rt_dim(l->rows, T, P, O);
    for (uint32_t a = 0; a < l->n_args; a++) {
        uint32_t id = l->arg[a];
        if (id == CG_ARG_SPLIT || id == CG_ARG_QTAIL || id == CG_ARG_KSPLIT || id == CG_ARG_MOESUM ||
            id == CG_ARG_EXPERTS)
            continue; /* partials and counters */
        if (id >= CG_ARG_SCRATCH) {
            b += (double)rows * (double)pl->prog->scratch_k;
            continue;
        }
        const ir_node *n = pl->by_id[id];
        if (n->op == IR_OP_WEIGHT)
            b += (double)weight_bytes(n);
        else if (n->op == IR_OP_KV_STORE)
            b += (double)(P + T) * (double)(n->type.dim[1] * n->type.dim[2]) * (double)kv_elem(st);
        else
            b += (double)rt_numel(&n->type, T, P, O) * (n->type.elem == GGML_TYPE_F32 ? 4 : 1);
    }
    return b;
}

/* Launches i0 to i1 - 1 of plan pl that this step runs, on the stream
 * (recorded instead when a capture is on); only st->prof_pl is profiled. */
static rf_status launch_range(rt_session *s, const gpu_plan *pl, step_dims d, uint32_t i0, uint32_t i1,
                              uint32_t *n_ran, rf_error *err)
{
    gpu_state *st = s->state;
    const gpu_api *api = st->api;
    bool prof = st->profile && pl == st->prof_pl;
    rf_status rc;
    const cg_program *p = pl->prog;
    *n_ran = 0;
    for (uint32_t i = i0; i < i1; i++) {
        const cg_launch *l = &p->launches[i];
        if ((l->only_T == 1 && d.T != 1) || (l->only_T == -1 && d.T == 1) || (l->min_T && d.T < l->min_T) ||
            (l->max_T && d.T > l->max_T))
            continue;
        int64_t rows = rt_dim(l->rows, d.T, d.P, d.O);
        if (rows <= 0) /* a batch step with no row wanting logits: the head has nothing to do */
            continue;
        gpu_ptr ptrs[CG_MAX_ARGS];
        void *args[CG_MAX_ARGS + 2];
        for (uint32_t a = 0; a < l->n_args; a++) {
            uint32_t id = l->arg[a];
            ptrs[a] = id == CG_ARG_SPLIT      ? st->split
                      : id == CG_ARG_QTAIL   ? st->qtail
                      : id == CG_ARG_KSPLIT  ? st->ksplit
                      : id == CG_ARG_MOESUM  ? st->moesum
                      : id == CG_ARG_EXPERTS ? st->experts
                      : id >= CG_ARG_SCRATCH ? st->scratch + (id - CG_ARG_SCRATCH) * st->scratch_slot
                                             : addr(st, pl, pl->by_id[id], d);
            args[a] = &ptrs[a];
        }
        int32_t rows32 = (int32_t)rows;
        args[l->n_args] = &rows32;
        args[l->n_args + 1] = &st->past;
        uint32_t grid[3] = {l->grid_x, (uint32_t)((rows + l->row_tile - 1) / l->row_tile), 1};
        uint32_t block[3] = {p->kernels[l->kernel].block, 1, 1};
        if (prof && (rc = api->event_record(st->ev[*n_ran], st->stream, err)) != RF_OK)
            return rc;
        if ((rc = api->launch(pl->functions[l->kernel], grid, block, 0, st->stream, args, err)) != RF_OK) {
            rf_error_prefix(err, "kernel %s (group %u)", p->kernels[l->kernel].name, l->group);
            return rc;
        }
        if (prof)
            st->ran[*n_ran] = i;
        (*n_ran)++;
        if (st->debug && (rc = debug_launch(s, pl, l, d, err)) != RF_OK)
            return rc;
    }
    if (prof && (rc = api->event_record(st->ev[*n_ran], st->stream, err)) != RF_OK)
        return rc;
    return RF_OK;
}

/* The step's launches of plan pl, in plan order, on the stream (recorded
 * instead when a capture is on); only st->prof_pl is profiled. */
static rf_status launch_all(rt_session *s, const gpu_plan *pl, step_dims d, uint32_t *n_ran, rf_error *err)
{
    return launch_range(s, pl, d, 0, pl->prog->n_launches, n_ran, err);
}

/* the time between the events around each launch of the step just run:
 * a prefill step's (f = 1), or a decode step's (f = 0: the session's one
 * row, or the batch graph's rows that all want logits) */
static rf_status profile_step(rt_session *s, step_dims d, uint32_t n_ran, rf_error *err)
{
    gpu_state *st = s->state;
    rf_status rc = st->api->stream_sync(st->stream, err);
    int f = st->prof_pl == &st->one ? d.T > 1 : d.O != d.T;
    for (uint32_t i = 0; i < n_ran && rc == RF_OK; i++) {
        const cg_launch *l = &st->prof_pl->prog->launches[st->ran[i]];
        float ms = 0;
        if ((rc = st->api->event_elapsed(st->ev[i], st->ev[i + 1], &ms, err)) != RF_OK)
            break;
        st->prof.seconds[f][l->kernel] += 1e-3 * ms;
        st->prof.calls[f][l->kernel]++;
        st->prof.bytes[f][l->kernel] += launch_bytes(st, st->prof_pl, l, d.T, d.P, d.O);
    }
    return rc;
}

/* A tensor-parallel rank's step of plan pl (w: its world, run_world): the
 * segments' launches with the collectives between them, all on the stream
 * (recorded instead when a capture is on) */
static rf_status launch_world(rt_session *s, const gpu_plan *pl, step_dims d, const rt_world *w, rf_error *err)
{
    gpu_state *st = s->state;
    const gpu_api *api = st->api;
    const cg_program *p = pl->prog;
    uint32_t next = 0, n_ran;
    rf_status rc = RF_OK;
    for (uint32_t c = 0; rc == RF_OK; c++) {
        uint32_t end = c < p->n_colls ? p->colls[c].at : p->n_launches;
        if ((rc = launch_range(s, pl, d, next, end, &n_ran, err)) != RF_OK || c == p->n_colls)
            break;
        next = end;
        const ir_node *n = pl->by_id[p->colls[c].node], *in = n->in[0];
        int64_t count = rt_numel(&in->type, d.T, d.P, d.O);
        gpu_ptr src = addr(st, pl, in, d), dst = addr(st, pl, n, d);
        if (n->op == IR_OP_ALL_GATHER) { /* rows of the ranks' slices side by side, this rank's in zeros */
            size_t row = (size_t)rt_dim(in->type.dim[in->type.rank - 1], d.T, d.P, d.O) * sizeof(float);
            int64_t rows = (int64_t)(count * sizeof(float) / row);
            rc = api->memset(dst, 0, (size_t)count * w->world * sizeof(float), st->stream, err);
            for (int64_t t = 0; t < rows && rc == RF_OK; t++)
                rc = api->memcpy_dtod(dst + (gpu_ptr)(((size_t)t * w->world + w->rank) * row), src + (gpu_ptr)(t * row),
                                      row, st->stream, err);
            src = dst;
            count *= w->world;
        }
        if (rc == RF_OK)
            rc = w->sum(w->ctx, (const void *)(uintptr_t)src, (void *)(uintptr_t)dst, (size_t)count, st->stream, err);
    }
    return rc;
}

/* the step's launches, a world's collectives among them (w, or NULL) */
static rf_status launch_step(rt_session *s, const gpu_plan *pl, step_dims d, const rt_world *w, uint32_t *n_ran,
                             rf_error *err)
{
    *n_ran = 0;
    return w ? launch_world(s, pl, d, w, err) : launch_all(s, pl, d, n_ran, err);
}

/* A decode step of plan pl (decode_step) as a graph (with a world's
 * collectives, w): captured on first use, replayed after; the slot as
 * gpu_plan.graphs says. */
static rf_status step_graph(rt_session *s, gpu_plan *pl, step_dims d, const rt_world *w, rf_error *err)
{
    gpu_state *st = s->state;
    const gpu_api *api = st->api;
    uint32_t slot = pl == &st->one ? 0 : (uint32_t)d.T;
    if (!pl->graphs[slot]) {
        uint32_t n_ran;
        rf_error cap = {0};
        rf_status rc = api->capture_begin(st->stream, &cap);
        if (rc == RF_OK) {
            rc = launch_step(s, pl, d, w, &n_ran, &cap);
            gpu_graph *g = NULL;
            rf_status rc_end = api->capture_end(st->stream, &g, rc == RF_OK ? &cap : NULL);
            rc = rc != RF_OK ? rc : rc_end;
            pl->graphs[slot] = rc == RF_OK ? g : NULL;
            if (rc != RF_OK && g)
                api->graph_destroy(g);
        }
        if (rc != RF_OK) {
            st->graph_off = true;
            if (s->opt.warn) {
                char msg[sizeof cap.msg + 96];
                snprintf(msg, sizeof msg, "GPU: the decode step could not be captured as a graph (%s); running it "
                                          "launch by launch", cap.msg);
                s->opt.warn(s->opt.cb_ctx, msg);
            }
            return launch_step(s, pl, d, w, &n_ran, err);
        }
    }
    return api->graph_launch(pl->graphs[slot], st->stream, err);
}

/* Upload the step's inputs (s->tokens, s->pos and, paged, s->seqs and the
 * block table). */
static rf_status upload_inputs(rt_session *s, step_dims d, rf_error *err)
{
    gpu_state *st = s->state;
    const gpu_api *api = st->api;
    rf_status rc;
    uint32_t T = (uint32_t)d.T;
    int32_t *h = st->h_step;
    h[0] = (int32_t)d.P;
    memcpy(h + 1, s->tokens, T * sizeof(int32_t));
    if (st->paged) { /* one copy: P, tokens, positions, sequences, the table */
        memcpy(h + st->pg.pos, s->pos, T * sizeof(int32_t));
        memcpy(h + st->pg.seq, s->seqs, T * sizeof(int32_t));
        memcpy(h + st->pg.table, s->kv_table, (size_t)s->n_seq * s->kv_stride * sizeof(uint32_t));
        rc = api->memcpy_htod(st->past, h, st->n_words * sizeof(int32_t), st->stream, err);
    } else if ((rc = api->memcpy_htod(st->past, h, (T + 1) * sizeof(int32_t), st->stream, err)) == RF_OK) {
        rc = api->memcpy_htod(st->pos, s->pos, T * sizeof(int32_t), st->stream, err);
    }
    return rc;
}

/* a decode step replays its graph: the session's graph's one row, or the
 * batch graph's T rows all with logits (T sequences' next tokens) */
static bool decode_step(const gpu_state *st, const gpu_plan *pl, step_dims d)
{
    return pl == &st->one ? d.T == 1 : d.O == d.T && d.T < pl->n_graphs;
}

/* The step's inputs, then plan pl's launches for d.T rows. */
static rf_status run_step(rt_session *s, gpu_plan *pl, step_dims d, rf_error *err)
{
    gpu_state *st = s->state;
    if (pl->prog->n_colls) /* a rank's plan: in segments only (gpu_begin, gpu_run) */
        return rf_fail(err, RF_E_UNSUPPORTED, "a tensor-parallel rank's plan runs only from tp.c, in segments");
    rf_status rc = upload_inputs(s, d, err);
    if (rc != RF_OK)
        return rc;
    if (decode_step(st, pl, d) && !st->graph_off)
        return step_graph(s, pl, d, NULL, err);
    uint32_t n_ran;
    if ((rc = launch_all(s, pl, d, &n_ran, err)) != RF_OK)
        return rc;
    return st->profile && pl == st->prof_pl ? profile_step(s, d, n_ran, err) : RF_OK;
}

/* plan pl's output rows (every row's logits, the last row's, or a batch
 * step's last O rows') to logits, unless NULL, once the stream is done */
static rf_status copy_logits(gpu_state *st, const gpu_plan *pl, step_dims d, float *logits, rf_error *err)
{
    int64_t n = rt_numel(&pl->out->type, d.T, d.P, d.O);
    rf_status rc = logits ? st->api->memcpy_dtoh(logits, addr(st, pl, pl->out, d), (size_t)n * sizeof *logits,
                                                 st->stream, err)
                          : RF_OK;
    return rc == RF_OK ? st->api->stream_sync(st->stream, err) : rc;
}

/* run plan pl's step and copy its output rows to logits */
static rf_status step_logits(rt_session *s, gpu_plan *pl, step_dims d, float *logits, rf_error *err)
{
    rf_status rc = run_step(s, pl, d, err);
    return rc == RF_OK ? copy_logits(s->state, pl, d, logits, err) : rc;
}

static rf_status gpu_eval(rt_session *s, uint32_t T, float *logits, rf_error *err)
{
    gpu_state *st = s->state;
    return step_logits(s, &st->one, (step_dims){T, s->n_past, 0}, logits, err);
}

/* the batch graph's step: T rows of any sequences (s->seqs, s->pos), the
 * logits of the last O */
static rf_status gpu_eval_batch(rt_session *s, uint32_t T, uint32_t O, float *logits, rf_error *err)
{
    gpu_state *st = s->state;
    return step_logits(s, &st->batch, (step_dims){T, 0, O}, logits, err);
}

static rf_status gpu_eval_argmax(rt_session *s, uint32_t T, int32_t *token, rf_error *err)
{
    gpu_state *st = s->state;
    step_dims d = {T, s->n_past, 0};
    rf_status rc = run_step(s, &st->one, d, err);
    if (rc != RF_OK)
        return rc;
    const ir_node *out = st->one.out;
    int64_t n = rt_numel(&out->type, T, s->n_past, 0);
    gpu_ptr last = addr(st, &st->one, out, d) + (gpu_ptr)((n - s->n_vocab) * 4);
    int32_t nv = (int32_t)s->n_vocab;
    void *args[] = {&last, &st->argmax_out, &nv};
    uint32_t grid[3] = {1, 1, 1}, block[3] = {st->one.prog->kernels[st->one.prog->argmax_kernel].block, 1, 1};
    if ((rc = st->api->launch(st->one.functions[st->one.prog->argmax_kernel], grid, block, 0, st->stream, args, err)) !=
            RF_OK ||
        (rc = st->api->memcpy_dtoh(token, st->argmax_out, sizeof *token, st->stream, err)) != RF_OK)
        return rc;
    return st->api->stream_sync(st->stream, err);
}

/* ---- a tensor-parallel rank's step in segments (tp.c) -------------------------------------- */

/* The step of T rows (batch: the batch graph's, the last O with logits)
 * starts: its inputs go up, the first segment is next. */
static void gpu_begin(rt_session *s, bool batch, uint32_t T, uint32_t O)
{
    gpu_state *st = s->state;
    st->seg_pl = batch ? &st->batch : &st->one;
    st->seg_d = (step_dims){T, batch ? 0 : s->n_past, O};
    st->seg_next = st->seg_coll = 0;
}

/* The launches up to the next collective (cg_coll), the stream drained,
 * and that collective's node; at the end of the plan the output rows to
 * logits (unless NULL) and NULL. The inputs go up with the first
 * segment. No graph: the collectives go through the host (tp.c). */
static const ir_node *gpu_run(rt_session *s, float *logits, rf_status *stp, rf_error *err)
{
    gpu_state *st = s->state;
    gpu_plan *pl = st->seg_pl;
    const cg_program *p = pl->prog;
    step_dims d = st->seg_d;
    rf_status rc = st->seg_next == 0 && st->seg_coll == 0 ? upload_inputs(s, d, err) : RF_OK;
    bool more = st->seg_coll < p->n_colls;
    uint32_t end = more ? p->colls[st->seg_coll].at : p->n_launches, n_ran;
    if (rc == RF_OK)
        rc = launch_range(s, pl, d, st->seg_next, end, &n_ran, err);
    const ir_node *at = NULL;
    if (rc == RF_OK && more) {
        at = pl->by_id[p->colls[st->seg_coll].node];
        st->seg_next = end;
        st->seg_coll++;
    }
    if (rc == RF_OK)
        rc = copy_logits(st, pl, d, more ? NULL : logits, err);
    *stp = rc;
    return rc == RF_OK ? at : NULL;
}

/* where node n is this step of the segments (gpu_begin's plan and dims) */
static gpu_ptr seg_addr(const gpu_state *st, const ir_node *n) { return addr(st, st->seg_pl, n, st->seg_d); }

/* node n's value this step to host memory, or from it */
static rf_status gpu_get(const rt_session *s, const ir_node *n, void *host, size_t bytes, rf_error *err)
{
    const gpu_state *st = s->state;
    rf_status rc = st->api->memcpy_dtoh(host, seg_addr(st, n), bytes, st->stream, err);
    return rc == RF_OK ? st->api->stream_sync(st->stream, err) : rc;
}

static rf_status gpu_put(const rt_session *s, const ir_node *n, const void *host, size_t bytes, rf_error *err)
{
    const gpu_state *st = s->state;
    rf_status rc = st->api->memcpy_htod(seg_addr(st, n), host, bytes, st->stream, err);
    return rc == RF_OK ? st->api->stream_sync(st->stream, err) : rc;
}

/* A rank's whole step, its collectives on the stream through w (the
 * backend's run_world; backend.h) */
static rf_status gpu_run_world(rt_session *s, bool batch, uint32_t T, uint32_t O, const rt_world *w, float *logits,
                               rf_error *err)
{
    gpu_state *st = s->state;
    gpu_plan *pl = batch ? &st->batch : &st->one;
    step_dims d = {T, batch ? 0 : s->n_past, O};
    uint32_t n_ran;
    rf_status rc = upload_inputs(s, d, err);
    if (rc == RF_OK)
        rc = decode_step(st, pl, d) && !st->graph_off ? step_graph(s, pl, d, w, err)
                                                       : launch_step(s, pl, d, w, &n_ran, err);
    return rc == RF_OK ? copy_logits(st, pl, d, logits, err) : rc;
}

/* ---- set-up ------------------------------------------------------------------------------- */

static rf_status gpu_available(rf_error *err)
{
    (void)err;
    return RF_OK; /* prepare() opens the device and says what is missing */
}

/* the device a session opens (rt_session.device): the first, or a
 * tensor-parallel rank's modulo the devices it sees (a process's or a
 * thread's own GPU on a host of several; CUDA_VISIBLE_DEVICES /
 * HIP_VISIBLE_DEVICES narrow what it sees) */
static int device_ordinal(const rt_session *s) { return s ? s->device : 0; }

static rf_status gpu_free_memory(const rt_session *s, uint64_t *bytes, rf_error *err)
{
    const gpu_api *api;
    gpu_device_info info;
    size_t free_bytes = 0;
    rf_status rc = gpu_open(NULL, device_ordinal(s), &api, &info, err);
    if (rc == RF_OK)
        rc = api->mem_free(&free_bytes, err);
    *bytes = free_bytes;
    return rc;
}

static rf_status gpu_devices(uint32_t *n, rf_error *err)
{
    const gpu_api *api;
    gpu_device_info info;
    rf_status rc = gpu_open(NULL, 0, &api, &info, err);
    *n = rc == RF_OK ? (uint32_t)info.count : 0;
    return rc;
}

/* the step's inputs, in 32-bit words from P's address: P, the tokens, and
 * (aligned) the positions; paged, then the sequences and the block table */
enum { WORDS_ALIGN = ALIGN / 4 };
static uint32_t words_up(uint64_t n) { return (uint32_t)((n + WORDS_ALIGN - 1) / WORDS_ALIGN * WORDS_ALIGN); }

/* Render pl's graph (the batch graph's too when paged), build it through
 * the cache, and check it against a plan file when one is given (the
 * session's graph only: a plan describes that one). */
static rf_status build_kernels(rt_session *s, gpu_state *st, gpu_plan *pl, rf_error *err)
{
    cg_arch arch;
    rf_status rc;
    if ((rc = cg_arch_parse(st->info.arch, &arch, err)) != RF_OK) {
        rf_error_prefix(err, "GPU '%s'", st->info.name);
        return rc;
    }
    cg_options copt = {.kv_f16 = s->opt.kv_f16, .paged = st->paged ? &st->pg : NULL};
    if ((rc = cg_generate(pl->g, &arch, &copt, &pl->prog, err)) != RF_OK)
        return rc;
    cg_compiler *cc = NULL;
    cg_cache *cache = NULL;
    cg_build_stats b = {0};
    if ((rc = cg_compiler_open(&arch, &cc, err)) == RF_OK && (rc = cg_cache_open(s->opt.cache_dir, &cache, err)) == RF_OK)
        rc = cg_build_program(pl->prog, cc, cache, 0, s->opt.progress, s->opt.warn, s->opt.cb_ctx, &b, err);
    if (rc == RF_OK && s->opt.plan && pl == &st->one)
        rc = cg_plan_check(s->opt.plan, pl->prog, cc, s->gguf, err);
    st->build.compiled += b.compiled;
    st->build.cached += b.cached;
    st->build.corrupt += b.corrupt;
    st->build.seconds += b.seconds;
    cg_cache_close(cache);
    cg_compiler_close(cc);
    return rc;
}

static rf_status load_kernels(gpu_state *st, gpu_plan *pl, rf_error *err)
{
    const cg_program *p = pl->prog;
    pl->modules = calloc(p->n_kernels, sizeof *pl->modules);
    pl->functions = calloc(p->n_kernels, sizeof *pl->functions);
    if (!pl->modules || !pl->functions)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < p->n_kernels; i++) {
        rf_status rc = st->api->module_load(p->kernels[i].code, p->kernels[i].code_size, &pl->modules[i], err);
        if (rc == RF_OK)
            rc = st->api->function(pl->modules[i], p->kernels[i].name, &pl->functions[i], err);
        if (rc != RF_OK) {
            rf_error_prefix(err, "kernel %s", p->kernels[i].name);
            return rc;
        }
    }
    return RF_OK;
}

/* Every allocation of the session's two arenas: at most
 * rt_options.gpu_mem_limit bytes in all, a test's stand-in for a smaller
 * GPU (what `gpu_layers` "auto" fits), refused as a full device would. */
static rf_status device_alloc(const rt_session *s, gpu_state *st, gpu_ptr *p, size_t bytes, rf_error *err)
{
    uint64_t limit = s->opt.gpu_mem_limit;
    if (limit && (bytes > limit || st->allocated > limit - bytes))
        return rf_fail(err, RF_E_NOMEM, "GPU memory limit: %.2f GiB more on the %.2f GiB taken exceeds gpu_mem_limit "
                       "(%.2f GiB)", bytes / 1073741824.0, st->allocated / 1073741824.0, limit / 1073741824.0);
    rf_status rc = st->api->malloc(p, bytes, err);
    if (rc == RF_OK)
        st->allocated += bytes;
    return rc;
}

/* The weights of the session's graph in one arena, uploaded once; the
 * batch graph's are the same tensors (the same bytes of the model file),
 * found by their host address, and any it has alone go to a second arena. */
static rf_status upload_weights(rt_session *s, gpu_state *st, rf_error *err)
{
    const ir_graph *g = s->graph, *bg = st->batch.prog ? s->batch_graph : NULL;
    size_t total = 0, total2 = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == IR_OP_WEIGHT)
            total += align_up(weight_bytes(g->nodes[i]));
    rf_status rc = device_alloc(s, st, &st->weights, total ? total : ALIGN, err);
    if (rc != RF_OK) {
        rf_error_prefix(err, "the model's weights");
        return rc;
    }
    size_t off = 0;
    for (uint32_t i = 0; i < g->n_nodes && rc == RF_OK; i++) {
        const ir_node *w = g->nodes[i];
        if (w->op != IR_OP_WEIGHT)
            continue;
        st->one.weight_at[w->id] = st->weights + off;
        rc = st->api->memcpy_htod(st->weights + off, s->weights[w->id], weight_bytes(w), st->stream, err);
        off += align_up(weight_bytes(w));
    }
    for (uint32_t i = 0; bg && i < bg->n_nodes && rc == RF_OK; i++) {
        const ir_node *w = bg->nodes[i];
        if (w->op != IR_OP_WEIGHT)
            continue;
        for (uint32_t j = 0; j < g->n_nodes && !st->batch.weight_at[w->id]; j++) {
            const ir_node *v = g->nodes[j];
            if (v->op == IR_OP_WEIGHT && s->weights[v->id] == s->batch_weights[w->id] &&
                weight_bytes(v) == weight_bytes(w))
                st->batch.weight_at[w->id] = st->one.weight_at[v->id];
        }
        if (!st->batch.weight_at[w->id])
            total2 += align_up(weight_bytes(w));
    }
    if (rc == RF_OK && total2) {
        if ((rc = device_alloc(s, st, &st->weights2, total2, err)) != RF_OK)
            rf_error_prefix(err, "the batch graph's weights");
        off = 0;
        for (uint32_t i = 0; i < bg->n_nodes && rc == RF_OK; i++) {
            const ir_node *w = bg->nodes[i];
            if (w->op != IR_OP_WEIGHT || st->batch.weight_at[w->id])
                continue;
            st->batch.weight_at[w->id] = st->weights2 + off;
            rc = st->api->memcpy_htod(st->weights2 + off, s->batch_weights[w->id], weight_bytes(w), st->stream, err);
            off += align_up(weight_bytes(w));
        }
    }
    if (rc == RF_OK)
        rc = st->api->stream_sync(st->stream, err);
    return rc;
}

/* one layer's K or V cache (its KV_STORE node n): kv_rows rows of Hkv x D */
static size_t kv_layer_bytes(const gpu_state *st, const ir_node *n)
{
    return align_up((size_t)st->kv_rows * (size_t)(n->type.dim[1] * n->type.dim[2]) * kv_elem(st));
}

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static rf_status alloc_activations(rt_session *s, gpu_state *st, rf_error *err)
{
    const ir_graph *g = s->graph;
    const cg_program *bp = st->batch.prog; /* the plans run one at a time: they share all of this */
    uint64_t ws = max_u64((uint64_t)g->workspace_bytes, bp ? (uint64_t)s->batch_graph->workspace_bytes : 0);
    uint64_t rows = max_u64((uint64_t)g->plan_tokens, bp ? (uint64_t)s->batch_graph->plan_tokens : 0);
    uint64_t scratch_k = max_u64((uint64_t)st->one.prog->scratch_k, bp ? (uint64_t)bp->scratch_k : 0);
    uint64_t slots = max_u64(st->one.prog->scratch_slots, bp ? bp->scratch_slots : 0);
    uint64_t split = max_u64(st->one.prog->split_bytes, bp ? bp->split_bytes : 0);
    uint64_t qt = max_u64(st->one.prog->qtail_bytes, bp ? bp->qtail_bytes : 0);
    uint64_t ks = max_u64(st->one.prog->ksplit_bytes, bp ? bp->ksplit_bytes : 0);
    uint64_t ms = max_u64(st->one.prog->moesum_bytes, bp ? bp->moesum_bytes : 0);
    uint64_t xs = max_u64(st->one.prog->experts_bytes, bp ? bp->experts_bytes : 0);
    size_t total = align_up((size_t)ws), kv_off = total;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->op == IR_OP_KV_STORE) {
            total += kv_layer_bytes(st, n);
            if ((uint32_t)n->ia[0] + 1 > st->n_layer)
                st->n_layer = (uint32_t)n->ia[0] + 1;
        }
    }
    size_t scratch_off = total;
    st->scratch_slot = align_up((size_t)(rows * scratch_k) * sizeof(float));
    total += st->scratch_slot * slots;
    size_t split_off = total;
    total += align_up((size_t)split);
    size_t qtail_off = total;
    total += align_up((size_t)qt);
    size_t ksplit_off = total;
    total += align_up((size_t)ks);
    size_t moesum_off = total;
    total += align_up((size_t)ms);
    size_t experts_off = total;
    total += align_up((size_t)xs);
    size_t inputs = total;
    total += (size_t)st->n_words * 4 + ALIGN;
    st->kv = calloc(2 * (size_t)st->n_layer + 1, sizeof *st->kv);
    if (!st->kv)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    rf_status rc = device_alloc(s, st, &st->acts, total, err);
    if (rc != RF_OK) {
        rf_error_prefix(err, "workspace and KV cache for %llu positions", (unsigned long long)st->kv_rows);
        return rc;
    }
    st->workspace = st->acts;
    size_t off = kv_off;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->op != IR_OP_KV_STORE)
            continue;
        st->kv[2 * n->ia[0] + n->ia[1]] = st->acts + off;
        off += kv_layer_bytes(st, n);
    }
    st->scratch = st->acts + scratch_off;
    st->split = st->acts + split_off;
    st->qtail = st->acts + qtail_off;
    st->ksplit = st->acts + ksplit_off;
    st->moesum = st->acts + moesum_off;
    st->experts = st->acts + experts_off;
    st->past = st->acts + inputs;
    st->tokens = st->past + sizeof(int32_t);
    st->pos = st->past + (gpu_ptr)st->pg.pos * 4;
    st->argmax_out = st->past + (gpu_ptr)st->n_words * 4;
    st->h_step = calloc(st->n_words, sizeof *st->h_step);
    if (!st->h_step)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    /* a cache read before it is written would be garbage, never NaN-free */
    return st->api->memset(st->acts, 0, total, st->stream, err);
}

/* the device-to-device copy rate, bytes read + written: the median of five
 * copies of 256 MiB (0 when the memory for it is not there) */
static double copy_bandwidth(gpu_state *st)
{
    const gpu_api *api = st->api;
    enum { BYTES = 256 << 20, RUNS = 5 };
    gpu_ptr a = 0, b = 0;
    gpu_event *e[2] = {0};
    float ms[RUNS];
    double gbs = 0;
    if (api->malloc(&a, BYTES, NULL) == RF_OK && api->malloc(&b, BYTES, NULL) == RF_OK &&
        api->event_create(&e[0], NULL) == RF_OK && api->event_create(&e[1], NULL) == RF_OK &&
        api->memset(a, 1, BYTES, st->stream, NULL) == RF_OK) {
        int ok = api->memcpy_dtod(b, a, BYTES, st->stream, NULL) == RF_OK; /* warm-up */
        for (int r = 0; r < RUNS && ok; r++)
            ok = api->event_record(e[0], st->stream, NULL) == RF_OK &&
                 api->memcpy_dtod(b, a, BYTES, st->stream, NULL) == RF_OK &&
                 api->event_record(e[1], st->stream, NULL) == RF_OK &&
                 api->stream_sync(st->stream, NULL) == RF_OK && api->event_elapsed(e[0], e[1], &ms[r], NULL) == RF_OK;
        if (ok) {
            for (int i = 1; i < RUNS; i++) /* insertion sort, for the median */
                for (int j = i; j > 0 && ms[j] < ms[j - 1]; j--) {
                    float t = ms[j];
                    ms[j] = ms[j - 1];
                    ms[j - 1] = t;
                }
            gbs = 2.0 * BYTES / (1e-3 * ms[RUNS / 2]) / 1e9;
        }
    }
    api->stream_sync(st->stream, NULL);
    api->event_destroy(e[0]);
    api->event_destroy(e[1]);
    api->free(a);
    api->free(b);
    return gbs;
}

static rf_status profile_init(gpu_state *st, rf_error *err)
{
    if (!st->profile)
        return RF_OK;
    /* several sequences step through the batch graph (bench --batch, serve) */
    st->prof_pl = st->paged ? &st->batch : &st->one;
    const cg_program *p = st->prof_pl->prog;
    uint32_t n = p->n_kernels;
    st->prof.n = n;
    st->prof.name = calloc(n, sizeof *st->prof.name);
    for (int f = 0; f < 2; f++) {
        st->prof.seconds[f] = calloc(n, sizeof *st->prof.seconds[f]);
        st->prof.calls[f] = calloc(n, sizeof *st->prof.calls[f]);
        st->prof.bytes[f] = calloc(n, sizeof *st->prof.bytes[f]);
        if (!st->prof.seconds[f] || !st->prof.calls[f] || !st->prof.bytes[f])
            return rf_fail(err, RF_E_NOMEM, "out of memory");
    }
    st->ev = calloc(p->n_launches + 1, sizeof *st->ev);
    st->ran = calloc(p->n_launches + 1, sizeof *st->ran);
    if (!st->prof.name || !st->ev || !st->ran)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++)
        st->prof.name[i] = p->kernels[i].name;
    for (uint32_t i = 0; i <= p->n_launches; i++) {
        rf_status rc = st->api->event_create(&st->ev[i], err);
        if (rc != RF_OK)
            return rc;
    }
    st->prof.copy_gbs = copy_bandwidth(st);
    return RF_OK;
}

/* pl for graph g: its nodes by id, its output */
static rf_status plan_init(gpu_plan *pl, const ir_graph *g, uint32_t n_graphs, rf_error *err)
{
    pl->g = g;
    pl->by_id = calloc(g->next_id ? g->next_id : 1, sizeof *pl->by_id);
    pl->weight_at = calloc(g->next_id ? g->next_id : 1, sizeof *pl->weight_at);
    pl->graphs = calloc(n_graphs, sizeof *pl->graphs);
    pl->n_graphs = n_graphs;
    if (!pl->by_id || !pl->weight_at || !pl->graphs)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        pl->by_id[g->nodes[i]->id] = g->nodes[i];
        if (g->nodes[i]->op == IR_OP_OUTPUT)
            pl->out = g->nodes[i];
    }
    RF_ASSERT(pl->out);
    return RF_OK;
}

static rf_status gpu_prepare(rt_session *s, rf_error *err)
{
    gpu_state *st = calloc(1, sizeof *st);
    if (!st)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    s->state = st;
    const char *dbg = getenv("ROCMFORGE_GPU_DEBUG"), *prof = getenv("ROCMFORGE_PROFILE");
    st->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
    st->profile = prof && *prof && strcmp(prof, "0") != 0;
    rf_status rc;
    if ((rc = gpu_open(NULL, device_ordinal(s), &st->api, &st->info, err)) != RF_OK)
        return rc;
    /* where the step's inputs are; several sequences keep the cache in the
     * session's blocks, and every kernel finds a row's block in the table */
    st->paged = s->n_seq > 1;
    st->pg.pos = words_up(1 + (uint64_t)s->n_rows);
    st->n_words = st->pg.pos + words_up(s->n_rows);
    st->kv_rows = s->n_ctx;
    if (st->paged) {
        st->pg.seq = (uint32_t)st->n_words;
        st->pg.table = st->pg.seq + words_up(s->n_rows);
        st->pg.stride = s->kv_stride;
        st->pg.shift = s->kv_shift;
        st->n_words = st->pg.table + words_up((uint64_t)s->n_seq * s->kv_stride);
        st->kv_rows = (uint64_t)s->n_kv_blocks << s->kv_shift;
    }
    if ((rc = plan_init(&st->one, s->graph, 1, err)) != RF_OK ||
        (st->paged && (rc = plan_init(&st->batch, s->batch_graph, s->n_seq + 1, err)) != RF_OK))
        return rc;
    if ((rc = st->api->stream_create(&st->stream, err)) != RF_OK || (rc = build_kernels(s, st, &st->one, err)) != RF_OK)
        return rc;
    if ((st->paged && (rc = build_kernels(s, st, &st->batch, err)) != RF_OK) ||
        (rc = load_kernels(st, &st->one, err)) != RF_OK ||
        (st->paged && (rc = load_kernels(st, &st->batch, err)) != RF_OK) ||
        (rc = upload_weights(s, st, err)) != RF_OK || (rc = alloc_activations(s, st, err)) != RF_OK ||
        (rc = profile_init(st, err)) != RF_OK)
        return rc;
    /* one graph serves every decode step only while no launch's shape
     * depends on P */
    st->graph_off = s->opt.no_graph || st->profile || st->debug;
    for (uint32_t i = 0; i < st->one.prog->n_launches; i++) {
        const cg_launch *l = &st->one.prog->launches[i];
        if (l->only_T != -1 && (l->rows == IR_DIM_P || l->rows == IR_DIM_PT))
            st->graph_off = true;
    }
    return st->api->stream_sync(st->stream, err);
}

static void gpu_reset(rt_session *s) { (void)s; /* positions >= n_past are never read */ }

static void plan_release(gpu_state *st, gpu_plan *pl)
{
    for (uint32_t i = 0; pl->graphs && i < pl->n_graphs; i++)
        if (pl->graphs[i])
            st->api->graph_destroy(pl->graphs[i]);
    for (uint32_t i = 0; pl->modules && i < pl->prog->n_kernels; i++)
        if (pl->modules[i])
            st->api->module_unload(pl->modules[i]);
    free(pl->graphs);
    free(pl->modules);
    free(pl->functions);
    free(pl->by_id);
    free(pl->weight_at);
    cg_program_free(pl->prog);
}

static void gpu_release(rt_session *s)
{
    gpu_state *st = s->state;
    if (!st)
        return;
    if (st->api) {
        if (st->stream)
            st->api->stream_sync(st->stream, NULL);
        for (uint32_t i = 0; st->ev && i <= st->prof_pl->prog->n_launches; i++)
            st->api->event_destroy(st->ev[i]);
        plan_release(st, &st->one);
        plan_release(st, &st->batch);
        if (st->weights)
            st->api->free(st->weights);
        if (st->weights2)
            st->api->free(st->weights2);
        if (st->acts)
            st->api->free(st->acts);
        if (st->stream)
            st->api->stream_destroy(st->stream);
    }
    free(st->prof.name);
    for (int f = 0; f < 2; f++) {
        free(st->prof.seconds[f]);
        free(st->prof.calls[f]);
        free(st->prof.bytes[f]);
    }
    free(st->ev);
    free(st->ran);
    free(st->h_step);
    free(st->kv);
    free(st);
    s->state = NULL;
}

/* a split session's GPU part is its front (backend.h) */
const cg_build_stats *rt_gpu_build_stats(const rt_session *s)
{
    s = s && s->front ? s->front : s;
    const gpu_state *st = s && s->backend == &rt_backend_gpu ? s->state : NULL;
    return st ? &st->build : NULL;
}

static rt_profile *gpu_profile(const rt_session *s)
{
    gpu_state *st = s->state;
    return st && st->profile ? &st->prof : NULL;
}

const char *rt_gpu_device_name(const rt_session *s)
{
    s = s && s->front ? s->front : s;
    const gpu_state *st = s && s->backend == &rt_backend_gpu ? s->state : NULL;
    return st ? st->info.name : NULL;
}

const rt_backend rt_backend_gpu = {
    .name = "gpu",
    .available = gpu_available,
    .free_memory = gpu_free_memory,
    .devices = gpu_devices,
    .prepare = gpu_prepare,
    .eval = gpu_eval,
    .eval_argmax = gpu_eval_argmax,
    .eval_batch = gpu_eval_batch,
    .reset = gpu_reset,
    .profile = gpu_profile,
    .release = gpu_release,
    .begin = gpu_begin,
    .run = gpu_run,
    .get = gpu_get,
    .put = gpu_put,
    .run_world = gpu_run_world,
};
