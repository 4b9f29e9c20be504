/*
 * session.c: from a mapped GGUF to a session that evaluates tokens.
 *
 * The whole pipeline in one place: import → passes (verified after each) →
 * bind weights → backend prepare. Binding checks that each WEIGHT node's
 * tensor exists with the type and shape import recorded, so a backend never
 * has to revalidate the file. rt_eval splits a long prompt into steps of at
 * most the planned size and keeps the position bookkeeping.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/import.h"
#include "ir/passes/passes.h"
#include "runtime/backend.h"
#include "runtime/gpu/coll.h"
#include "runtime/gpu/gpu.h"
#include "support/error.h"

/* A weight that is a slice of its tensor other than whole rows of its
 * outermost dimension (a tensor-parallel rank's share, ir.h: col0, some
 * columns of each row; mid0, some rows of each expert's matrix) as a
 * tensor of its own: its pieces, whole blocks, copied one after another
 * from the mapping and held by the session (s->copies); *data, the
 * slice's first outer row in the mapping, becomes the copy */
static rf_status copy_slice(rt_session *s, const ir_node *n, const gguf_tensor *t, const unsigned char **data,
                            rf_error *err)
{
    const ggml_type_traits *tt = ggml_type_get(n->type.elem);
    uint8_t r = n->type.rank;
    int64_t mids = r == 3 ? n->type.dim[1] : 1, per_outer = r == 3 ? (int64_t)t->ne[1] : 1;
    size_t row = (size_t)(t->ne[0] / tt->block_size) * tt->type_size; /* a row of the tensor */
    size_t skip = (size_t)n->ia[1] / tt->block_size * tt->type_size;
    size_t len = (size_t)n->type.dim[r - 1] / tt->block_size * tt->type_size;
    size_t pieces = (size_t)n->type.dim[0] * (size_t)mids;
    void **grown = realloc(s->copies, (s->n_copies + 1) * sizeof *s->copies);
    unsigned char *c = malloc(len * pieces);
    if (grown)
        s->copies = grown;
    if (!grown || !c) {
        free(c);
        return rf_fail(err, RF_E_NOMEM, "out of memory for a rank's share of '%s'", n->name);
    }
    s->copies[s->n_copies++] = c;
    for (int64_t o = 0, k = 0; o < n->type.dim[0]; o++)
        for (int64_t m = 0; m < mids; m++, k++)
            memcpy(c + (size_t)k * len, *data + (size_t)(o * per_outer + n->ia[2] + m) * row + skip, len);
    *data = c;
    return RF_OK;
}

/* *weights: by node id of g, each WEIGHT node's data in the mapping (or
 * its slice's copy) */
static rf_status bind_weights(rt_session *s, const ir_graph *g, const void ***weights, rf_error *err)
{
    *weights = calloc(g->next_id ? g->next_id : 1, sizeof **weights);
    if (!*weights)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->op != IR_OP_WEIGHT)
            continue;
        const gguf_tensor *t = gguf_find_tensor(s->gguf, n->name);
        if (!t)
            return rf_fail(err, RF_E_NOTFOUND, "%s: tensor '%s' not found", gguf_path(s->gguf), n->name);
        /* the node is the tensor, or rows row0 .. of its outermost dimension,
         * and (col0) of each such row the columns col0 .., (mid0, 3-D) of
         * each matrix the rows mid0 .. */
        uint8_t r = n->type.rank;
        int64_t row0 = n->ia[0], col0 = n->ia[1], mid0 = n->ia[2];
        bool cols = r >= 2 && (col0 || (uint64_t)n->type.dim[r - 1] < t->ne[0]);
        bool mid = r == 3 && (mid0 || (uint64_t)n->type.dim[1] < t->ne[1]);
        bool same = t->type == n->type.elem && t->n_dims <= r + 1u && r >= 1 && row0 >= 0 &&
                    (uint64_t)row0 + (uint64_t)n->type.dim[0] <= t->ne[r - 1];
        for (uint8_t d = 1; same && d < r; d++)
            same = (int64_t)t->ne[r - 1 - d] == n->type.dim[d] ||
                   (cols && d == r - 1 && col0 >= 0 && (uint64_t)(col0 + n->type.dim[d]) <= t->ne[0]) ||
                   (mid && d == 1 && mid0 >= 0 && (uint64_t)(mid0 + n->type.dim[1]) <= t->ne[1]);
        uint32_t bs = ggml_type_get(t->type)->block_size;
        if (!same || (cols && (col0 % bs || n->type.dim[r - 1] % bs)))
            return rf_fail(err, RF_E_FORMAT, "%s: tensor '%s' does not match the imported graph's type or shape",
                           gguf_path(s->gguf), n->name);
        const unsigned char *rows = (const unsigned char *)t->data + (uint64_t)row0 * (t->n_bytes / t->ne[r - 1]);
        rf_status st = cols || mid ? copy_slice(s, n, t, &rows, err) : RF_OK;
        if (st != RF_OK)
            return st;
        (*weights)[n->id] = rows;
    }
    return RF_OK;
}

/* The backend the name asks for; "auto" (or none) is the GPU when one can
 * be opened, else the CPU (rt_session_open tries in that order). */
static rf_status choose_backend(const char *name, const rt_backend **out, bool *fallback, rf_error *err)
{
    *fallback = false;
    if (!name || !strcmp(name, "auto")) {
        *out = &rt_backend_gpu;
        *fallback = true;
    } else if (!strcmp(name, "cpu")) {
        *out = &rt_backend_cpu;
    } else if (!strcmp(name, "gpu")) {
        *out = &rt_backend_gpu;
    } else {
        return rf_fail(err, RF_E_ARG, "unknown backend '%s' (cpu, gpu, auto)", name);
    }
    return RF_OK;
}

static rf_status prepare_backend(rt_session *s, const rt_backend *b, rf_error *err)
{
    s->backend = b;
    rf_status st = b->available(err);
    if (st == RF_OK)
        st = b->prepare(s, err);
    if (st != RF_OK && s->state) {
        b->release(s);
        s->state = NULL;
    }
    return st;
}

/* No usable GPU (none, no driver or compiler for it, an arch the compiler
 * cannot build, too little memory) where "auto" allowed the CPU: said once,
 * through warn, and forgotten. A kernel that fails to build is a bug and is
 * reported instead. */
static bool fall_back(rt_session *s, bool allowed, rf_status st, rf_error *err)
{
    if (!allowed || (st != RF_E_UNSUPPORTED && st != RF_E_NOMEM))
        return false;
    snprintf(s->fallback, sizeof s->fallback, "%.250s; running on the CPU", err && err->msg[0] ? err->msg : "no GPU");
    if (s->opt.warn)
        s->opt.warn(s->opt.cb_ctx, s->fallback);
    if (err)
        *err = (rf_error){0};
    return true;
}

/* s->graph and, with several sequences, s->batch_graph: the part of the
 * model io names, through the passes, with their weights bound */
static rf_status plan_graphs(rt_session *s, const import_options *io, rf_error *err)
{
    ir_pipeline_options po = {.print_after = s->opt.print_after,
                              .disable = s->opt.disable_pass,
                              .print_to = stderr,
                              .max_tokens = s->opt.n_batch ? s->opt.n_batch : 512};
    rf_status st;
    if ((st = import_model(s->gguf, io, &s->graph, err)) != RF_OK || (st = ir_run_pipeline(s->graph, &po, err)) != RF_OK ||
        (st = bind_weights(s, s->graph, &s->weights, err)) != RF_OK)
        return st;
    if (s->graph->model.embedding && s->n_seq > 1) /* a text is one step of its own (rt_embed) */
        return rf_fail(err, RF_E_ARG, "%s: an embedding model (%s) runs one sequence, not %u", gguf_path(s->gguf),
                       s->graph->model.arch, s->n_seq);
    if (s->n_seq == 1)
        return RF_OK;
    /* the batch step: any sequences' rows, the logits of the last O */
    import_options bo = *io;
    bo.all_logits = false;
    bo.out_rows = true;
    ir_pipeline_options pb = {.max_tokens = s->n_seq + po.max_tokens, .max_out = s->n_seq};
    if ((st = import_model(s->gguf, &bo, &s->batch_graph, err)) == RF_OK &&
        (st = ir_run_pipeline(s->batch_graph, &pb, err)) == RF_OK)
        st = bind_weights(s, s->batch_graph, &s->batch_weights, err);
    return st;
}

static void drop_graphs(rt_session *s)
{
    ir_graph_free(s->graph);
    ir_graph_free(s->batch_graph);
    free(s->weights);
    free(s->batch_weights);
    s->graph = s->batch_graph = NULL;
    s->weights = s->batch_weights = NULL;
    for (uint32_t i = 0; i < s->n_copies; i++)
        free(s->copies[i]);
    free(s->copies);
    s->copies = NULL;
    s->n_copies = 0;
}

void rt_part_close(rt_session *f)
{
    if (!f)
        return;
    if (f->backend && f->state)
        f->backend->release(f);
    drop_graphs(f);
    free(f);
}

/* ---- a model split across two backends (runtime.h, gpu_layers) ------------------ */

/* Device bytes of the full graph's parts, for rt_fit_layers: each layer's
 * weights (blk.N.*) and KV cache, the output head's weights (output*), and
 * the rest (the embedding and whatever else) with the workspace and the
 * activation scratch the products convert their inputs into (at most four
 * rows of the widest K a planned step). */
static void measure_fit(const rt_session *s, uint64_t *layer_bytes, rt_fit *fit)
{
    const ir_graph *g = s->graph;
    uint64_t kv_rows = s->n_seq > 1 ? (uint64_t)s->n_kv_blocks << s->kv_shift : s->n_ctx;
    uint64_t ws = (uint64_t)g->workspace_bytes, widest = 0;
    if (s->batch_graph && (uint64_t)s->batch_graph->workspace_bytes > ws)
        ws = (uint64_t)s->batch_graph->workspace_bytes;
    *fit = (rt_fit){.n_layer = g->model.n_layer, .layer_bytes = layer_bytes};
    memset(layer_bytes, 0, g->model.n_layer * sizeof *layer_bytes);
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        unsigned layer;
        if (n->op == IR_OP_MATMUL && (uint64_t)n->in[1]->type.dim[1] > widest)
            widest = (uint64_t)n->in[1]->type.dim[1];
        if (n->op == IR_OP_KV_STORE)
            layer_bytes[n->ia[0]] += kv_rows * (uint64_t)(n->type.dim[1] * n->type.dim[2]) * (s->opt.kv_f16 ? 2 : 4);
        if (n->op != IR_OP_WEIGHT)
            continue;
        uint64_t bytes = (uint64_t)ir_type_bytes(&n->type, 0, 0, 0); /* a weight's dims are all fixed */
        if (sscanf(n->name, "blk.%u.", &layer) == 1 && layer < g->model.n_layer)
            layer_bytes[layer] += bytes;
        else if (!strncmp(n->name, "output", 6))
            fit->head_bytes += bytes;
        else
            fit->base_bytes += bytes;
    }
    fit->base_bytes += ws + 4 * widest * (uint64_t)s->n_rows * sizeof(float);
}

/* What "auto" may take: the device's free memory, at most gpu_mem_limit;
 * a stand-in device with no memory of its own (the tests' front_backend)
 * has the limit alone. */
static rf_status device_memory(const rt_session *s, const rt_backend *dev, uint64_t *bytes, rf_error *err)
{
    uint64_t limit = s->opt.gpu_mem_limit ? s->opt.gpu_mem_limit : UINT64_MAX;
    rf_status st = RF_OK;
    *bytes = limit;
    if (!dev || (!dev->free_memory && limit == UINT64_MAX))
        return rf_fail(err, RF_E_UNSUPPORTED, "gpu layers 'auto': the %s backend has no GPU memory to fit",
                       dev ? dev->name : "cpu");
    if (dev->free_memory && (st = dev->free_memory(s, bytes, err)) != RF_OK) {
        rf_error_prefix(err, "gpu layers 'auto'");
        return st;
    }
    *bytes = *bytes < limit ? *bytes : limit;
    return RF_OK;
}

/* The layers the device runs (rt_options.gpu_layers): every one, a count,
 * or as many as fit; dev is NULL where the session has no device. */
static rf_status choose_gpu_layers(rt_session *s, const rt_backend *dev, uint32_t *n, rf_error *err)
{
    const char *v = s->opt.gpu_layers;
    uint32_t L = s->graph->model.n_layer;
    *n = dev ? L : 0;
    if (!v)
        return RF_OK;
    if (strcmp(v, "auto")) {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < 0 || x > L)
            return rf_fail(err, RF_E_ARG, "gpu layers '%s': a count of layers from 0 to the model's %u, or auto", v, L);
        if (x > 0 && !dev)
            return rf_fail(err, RF_E_ARG, "gpu layers %lld: the cpu backend runs no layer on a GPU", x);
        *n = (uint32_t)x;
        return RF_OK;
    }
    if (s->graph->model.embedding) /* an encoder is never split (import.h) */
        return rf_fail(err, RF_E_UNSUPPORTED, "gpu layers 'auto': an embedding model runs whole on one backend");
    rt_fit fit;
    uint64_t free_bytes, *layer_bytes = malloc((L ? L : 1) * sizeof *layer_bytes);
    if (!layer_bytes)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    rf_status st = device_memory(s, dev, &free_bytes, err);
    if (st == RF_OK) {
        measure_fit(s, layer_bytes, &fit);
        fit.free_bytes = free_bytes;
        fit.margin_bytes = (256ull << 20) + free_bytes / 32;
        *n = rt_fit_layers(&fit);
        uint64_t sum = fit.base_bytes + fit.head_bytes;
        for (uint32_t i = 0; i < L; i++)
            sum += layer_bytes[i];
        char msg[256];
        snprintf(msg, sizeof msg, "gpu layers auto: %u of %u layers on the GPU, %u on the CPU (the model needs about "
                 "%.2f GiB there, %.2f GiB is free, %.2f GiB of it kept as a margin)", *n, L, L - *n,
                 sum / 1073741824.0, free_bytes / 1073741824.0, fit.margin_bytes / 1073741824.0);
        if (s->opt.warn)
            s->opt.warn(s->opt.cb_ctx, msg);
    }
    free(layer_bytes);
    return st;
}

rf_status rt_part_open(const rt_session *s, const import_options *io, const rt_backend *b,
                       const rt_session *threads_of, int device, rt_session **out, rf_error *err)
{
    rt_session *f = calloc(1, sizeof *f);
    if (!(*out = f))
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    f->threads_of = threads_of;
    f->device = device;
    f->gguf = s->gguf;
    f->opt = s->opt;
    if (io->tp_rank > 0) /* one progress bar, rank 0's: the ranks may build at once, on threads of their own */
        f->opt.progress = NULL;
    f->n_vocab = s->n_vocab;
    f->n_ctx = s->n_ctx;
    f->n_seq = s->n_seq;
    f->n_rows = s->n_rows;
    f->tokens = s->tokens;
    f->pos = s->pos;
    f->seqs = s->seqs;
    f->kv_shift = s->kv_shift;
    f->kv_stride = s->kv_stride;
    f->n_kv_blocks = s->n_kv_blocks;
    f->kv_table = s->kv_table;
    rf_status st = plan_graphs(f, io, err);
    if (st == RF_OK)
        st = prepare_backend(f, b, err);
    return st;
}

/* The first part of a split session: a session of its own on dev that
 * runs the embedding and layers [0, n) */
static rf_status open_front(rt_session *s, const rt_backend *dev, uint32_t n, rf_error *err)
{
    snprintf(s->backend_name, sizeof s->backend_name, "%s+cpu", dev->name);
    return rt_part_open(s, &(import_options){.n_ctx = s->opt.n_ctx, .layer_end = n}, dev, NULL, s->device, &s->front,
                        err);
}

/* s's graphs for layers [n, L): the whole model at n = 0, else the part
 * after a split session's front, from its rows (s->hidden) */
static rf_status plan_from(rt_session *s, uint32_t n, rf_error *err)
{
    if (s->graph && s->layer_begin == n)
        return RF_OK;
    drop_graphs(s);
    s->layer_begin = n;
    /* the whole model's graph, also under tensor parallelism: tp.c's ranks
     * are parts of their own, this session runs none of it */
    import_options io = {.all_logits = s->opt.all_logits, .n_ctx = s->opt.n_ctx, .pooling = s->opt.pooling,
                         .layer_begin = n};
    rf_status st = plan_graphs(s, &io, err);
    if (st == RF_OK && n && !s->hidden &&
        !(s->hidden = malloc((size_t)s->n_rows * s->graph->model.n_embd * sizeof *s->hidden)))
        st = rf_fail(err, RF_E_NOMEM, "out of memory");
    return st;
}

/* The model on its backends: s->gpu_layers of its layers on dev (all: on
 * b, the session's backend, as one model), the rest on the CPU; or, split
 * by tensor parallelism, its ranks (tp.c) */
static rf_status place(rt_session *s, const rt_backend *b, const rt_backend *dev, rf_error *err)
{
    uint32_t n = s->gpu_layers, L = s->graph->model.n_layer;
    /* --tp ranks on GPUs only when asked for by name ("auto" keeps the
     * CPU's): a thread a GPU where there are enough, else one after another
     * on one GPU, a check rather than a speed (tp.c) */
    s->tp_ranks = s->opt.backend && !strcmp(s->opt.backend, "gpu") ? b : &rt_backend_cpu;
    rf_status st = n > 0 && n < L ? open_front(s, dev, n, err) : RF_OK;
    if (st == RF_OK)
        st = plan_from(s, n < L ? n : 0, err);
    if (st == RF_OK)
        st = prepare_backend(s, s->opt.tp > 1 || s->opt.tp_world > 1 ? &rt_backend_tp : n == L ? b : &rt_backend_cpu,
                             err);
    return st;
}

/* Tensor parallelism (tp.c): --tp N runs the ranks in this process (one
 * after another, or a thread a GPU), a world of processes (tp_world) one
 * rank each; neither with a split by layers yet */
static rf_status check_tp(const rt_session *s, const rt_backend *b, bool fallback, rf_error *err)
{
    const rt_options *o = &s->opt;
    if (o->tp_world > 1 && o->tp > 1)
        return rf_fail(err, RF_E_ARG, "--tp %u runs every rank in this process on the CPU, --tp-world %u one process "
                       "a GPU: one or the other", o->tp, o->tp_world);
    if (o->tp_world > 1 && (o->tp_rank >= o->tp_world || !o->tp_addr))
        return rf_fail(err, RF_E_ARG, "--tp-world %u: needs --tp-rank from 0 to %u (not %u) and --tp-addr HOST:PORT "
                       "(rank 0's)%s", o->tp_world, o->tp_world - 1, o->tp_rank, o->tp_addr ? "" : ", which is missing");
    /* a library of host memory (test_tp's stand-in for NCCL): the CPU can run a rank */
    bool cpu_ranks = b == &rt_backend_cpu && !fallback && rt_coll_host();
    if (o->tp_world > 1 && (b != &rt_backend_gpu || fallback) && !cpu_ranks)
        return rf_fail(err, RF_E_ARG, "--tp-world %u is one process a GPU: --backend gpu (on the CPU, --tp %u runs "
                       "every rank in one process)", o->tp_world, o->tp_world);
    if (o->tp > 1 && o->plan)
        return rf_fail(err, RF_E_ARG, "--plan checks the plan of one model on one GPU; --tp %u runs %u ranks' plans "
                       "(rocmforge compile --tp %u writes them and caches their kernels)", o->tp, o->tp, o->tp);
    if ((o->tp_world > 1 || o->tp > 1) && o->gpu_layers)
        return rf_fail(err, RF_E_UNSUPPORTED, "tensor parallelism (--tp%s %u) and a split by layers (--gpu-layers) at "
                       "once are not supported", o->tp_world > 1 ? "-world" : "", o->tp_world > 1 ? o->tp_world : o->tp);
    return RF_OK;
}

/* after a place() that failed: nothing on any backend */
static void unplace(rt_session *s, rf_error *err)
{
    rt_part_close(s->front);
    s->front = NULL;
    s->backend = NULL;
    if (err)
        *err = (rf_error){0};
}

/* A split session's front runs each step first, its output rows into
 * s->hidden (the one crossing from the device to the host a step) for
 * this session's graph: the step graph for T rows at s->n_past, or,
 * batch, the batch graph for T rows of which the last O want logits.
 * Nothing to do without a front. */
static rf_status front_step(rt_session *s, uint32_t T, uint32_t O, bool batch, rf_error *err)
{
    rt_session *f = s->front;
    if (!f)
        return RF_OK;
    f->n_past = s->n_past;
    return batch ? f->backend->eval_batch(f, T, O, s->hidden, err) : f->backend->eval(f, T, s->hidden, err);
}

rf_status rt_session_open(const gguf_file *f, const rt_options *opt, rt_session **out, rf_error *err)
{
    *out = NULL;
    rt_session *s = calloc(1, sizeof *s);
    if (!s)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    s->gguf = f;
    s->opt = opt ? *opt : (rt_options){0};
    s->n_seq = s->opt.n_seq ? s->opt.n_seq : 1;
    rf_status st;
    if ((st = plan_from(s, 0, err)) != RF_OK)
        goto fail;
    s->n_vocab = s->graph->model.n_vocab;
    s->n_ctx = s->opt.n_ctx ? s->opt.n_ctx : s->graph->model.n_ctx;
    if (!s->n_ctx) {
        st = rf_fail(err, RF_E_FORMAT, "%s: the model states no context length; pass --ctx", gguf_path(f));
        goto fail;
    }
    uint32_t T = (uint32_t)s->graph->plan_tokens;
    s->n_rows = s->batch_graph && s->batch_graph->plan_tokens > T ? (uint32_t)s->batch_graph->plan_tokens : T;
    s->tokens = malloc(s->n_rows * sizeof *s->tokens);
    s->pos = malloc(s->n_rows * sizeof *s->pos);
    s->seqs = malloc(s->n_rows * sizeof *s->seqs);
    s->seq_past = calloc(s->n_seq, sizeof *s->seq_past);
    s->seq_rows = calloc(s->n_seq, sizeof *s->seq_rows);
    s->want_all = malloc(s->n_seq * sizeof *s->want_all);
    if (!s->tokens || !s->pos || !s->seqs || !s->seq_past || !s->seq_rows || !s->want_all) {
        st = rf_fail(err, RF_E_NOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t q = 0; q < s->n_seq; q++)
        s->want_all[q] = true;
    /* the KV cache's blocks: a pool, every block free */
    s->kv_shift = 0;
    while ((1u << s->kv_shift) < RT_KV_BLOCK)
        s->kv_shift++;
    s->kv_stride = (s->n_ctx + RT_KV_BLOCK - 1) / RT_KV_BLOCK;
    uint64_t pool = s->opt.kv_positions ? s->opt.kv_positions : (uint64_t)s->n_seq * s->kv_stride * RT_KV_BLOCK;
    s->n_kv_blocks = (uint32_t)((pool + RT_KV_BLOCK - 1) / RT_KV_BLOCK);
    s->kv_table = calloc((size_t)s->n_seq * s->kv_stride, sizeof *s->kv_table);
    s->seq_blocks = calloc(s->n_seq, sizeof *s->seq_blocks);
    s->kv_free = malloc((s->n_kv_blocks ? s->n_kv_blocks : 1) * sizeof *s->kv_free);
    if (!s->kv_table || !s->seq_blocks || !s->kv_free) {
        st = rf_fail(err, RF_E_NOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t b = 0; b < s->n_kv_blocks; b++) /* popped from the end: block 0 first */
        s->kv_free[b] = s->n_kv_blocks - 1 - b;
    s->n_free = s->n_kv_blocks;
    /* the rows one step writes: T with all_logits (or an embedding model's
     * vector per token), else the last one */
    s->n_out_rows_max = s->opt.all_logits || (s->graph->model.embedding && !s->graph->model.pooling) ? T : 1;
    uint32_t width = s->n_vocab > s->graph->model.n_embd ? s->n_vocab : s->graph->model.n_embd;
    s->scratch_logits = malloc((size_t)s->n_out_rows_max * width * sizeof(float));
    if (!s->scratch_logits) {
        st = rf_fail(err, RF_E_NOMEM, "out of memory");
        goto fail;
    }
    const rt_backend *b = NULL, *dev = NULL;
    bool fallback = false;
    if ((st = choose_backend(s->opt.backend, &b, &fallback, err)) != RF_OK ||
        (st = check_tp(s, b, fallback, err)) != RF_OK)
        goto fail;
    s->device = s->opt.tp_world > 1 ? GPU_NTH((int)s->opt.tp_rank) : 0; /* a world's process: its rank's GPU */
    if (s->opt.tp_world > 1 && (st = rt_tp_join(s, b, err)) != RF_OK)
        goto fail;
    if (s->opt.front_backend && (st = choose_backend(s->opt.front_backend, &dev, &(bool){0}, err)) != RF_OK)
        goto fail;
    dev = dev ? dev : b == &rt_backend_gpu ? b : NULL;
    if ((st = choose_gpu_layers(s, dev, &s->gpu_layers, err)) != RF_OK)
        goto fail;
    bool fit = s->opt.gpu_layers && !strcmp(s->opt.gpu_layers, "auto");
    while ((st = place(s, b, dev, err)) == RF_E_NOMEM && fit && s->gpu_layers > 0) {
        /* auto's sums fell short of what the GPU's part took: a layer fewer */
        char msg[sizeof err->msg + 96];
        snprintf(msg, sizeof msg, "gpu layers auto: %u layers did not fit (%s); trying %u", s->gpu_layers,
                 err ? err->msg : "out of memory", s->gpu_layers - 1);
        if (s->opt.warn)
            s->opt.warn(s->opt.cb_ctx, msg);
        unplace(s, err);
        s->gpu_layers--;
    }
    /* the CPU again only where the GPU was used: under "auto" the --tp
     * ranks run on the CPU already (place), so their refusal is final */
    bool used_gpu = s->opt.tp > 1 ? s->tp_ranks != &rt_backend_cpu : s->gpu_layers > 0;
    if (st != RF_OK && used_gpu && fall_back(s, fallback, st, err)) {
        unplace(s, err);
        s->gpu_layers = 0;
        st = place(s, b, dev, err);
    }
    if (st != RF_OK) {
        s->backend = NULL;
        goto fail;
    }
    if (!s->front && s->backend != &rt_backend_gpu)
        s->gpu_layers = 0;
    *out = s;
    return RF_OK;
fail:
    rt_session_close(s);
    return st;
}

void rt_session_close(rt_session *s)
{
    if (!s)
        return;
    if (s->backend && s->state)
        s->backend->release(s);
    rt_part_close(s->front);
    rt_coll_leave(s->coll);
    drop_graphs(s);
    free(s->hidden);
    free(s->tokens);
    free(s->pos);
    free(s->seqs);
    free(s->seq_past);
    free(s->seq_rows);
    free(s->want_all);
    free(s->kv_table);
    free(s->seq_blocks);
    free(s->kv_free);
    free(s->scratch_logits);
    free(s);
}

/* ---- the paged KV cache ------------------------------------------------------ */

/* sequence seq keeps the blocks its first n positions need, no more */
static void kv_trim(rt_session *s, uint32_t seq, uint32_t n)
{
    uint32_t keep = (n + RT_KV_BLOCK - 1) / RT_KV_BLOCK;
    while (s->seq_blocks[seq] > keep)
        s->kv_free[s->n_free++] = s->kv_table[(size_t)seq * s->kv_stride + --s->seq_blocks[seq]];
}

/* sequence seq gets the blocks its first n positions need; when the pool
 * runs dry, it is left as it was and the step fails */
static rf_status kv_reserve(rt_session *s, uint32_t seq, uint32_t n, rf_error *err)
{
    uint32_t need = (n + RT_KV_BLOCK - 1) / RT_KV_BLOCK, had = s->seq_blocks[seq];
    while (s->seq_blocks[seq] < need) {
        if (!s->n_free) {
            kv_trim(s, seq, had * RT_KV_BLOCK);
            return rf_fail(err, RF_E_NOMEM, "the KV cache is full: all %u blocks of %d positions are in use",
                           s->n_kv_blocks, RT_KV_BLOCK);
        }
        s->kv_table[(size_t)seq * s->kv_stride + s->seq_blocks[seq]++] = s->kv_free[--s->n_free];
    }
    return RF_OK;
}

void rt_kv_blocks(const rt_session *s, uint32_t *used, uint32_t *total)
{
    *used = s->n_kv_blocks - s->n_free;
    *total = s->n_kv_blocks;
}

static rf_status check_tokens(const rt_session *s, const int32_t *tokens, uint32_t n, rf_error *err)
{
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= s->n_vocab)
            return rf_fail(err, RF_E_ARG, "token %u: id %d is outside the vocabulary (0..%u)", i, tokens[i],
                           s->n_vocab - 1);
    return RF_OK;
}

/* rt_eval, rt_eval_seq and rt_eval_greedy: sequence seq; logits receives
 * the rows, or, with next set, only the last row's argmax is wanted */
static rf_status not_logits(const rt_session *s, rf_error *err)
{
    return rf_fail(err, RF_E_UNSUPPORTED, "%s: %s is an embedding model: it gives embeddings, not logits",
                   gguf_path(s->gguf), s->graph->model.arch);
}

static rf_status eval_steps(rt_session *s, uint32_t seq, const int32_t *tokens, uint32_t n, float *logits,
                            int32_t *next, rf_error *err)
{
    if (s->graph->model.embedding)
        return not_logits(s, err);
    if (seq >= s->n_seq)
        return rf_fail(err, RF_E_ARG, "sequence %u: the session holds %u", seq, s->n_seq);
    s->n_past = s->seq_past[seq];
    if (n == 0)
        return rf_fail(err, RF_E_ARG, "no tokens to evaluate");
    if ((uint64_t)s->n_past + n > s->n_ctx)
        return rf_fail(err, RF_E_ARG, "context full: %u past + %u new tokens exceed the context of %u", s->n_past, n,
                       s->n_ctx);
    rf_status cs = check_tokens(s, tokens, n, err);
    if (cs == RF_OK)
        cs = kv_reserve(s, seq, s->n_past + n, err);
    if (cs != RF_OK)
        return cs;
    uint32_t step = (uint32_t)s->graph->plan_tokens, start = s->n_past;
    for (uint32_t done = 0; done < n;) {
        uint32_t T = n - done < step ? n - done : step;
        for (uint32_t i = 0; i < T; i++) {
            s->tokens[i] = tokens[done + i];
            s->pos[i] = (int32_t)(s->n_past + i);
            s->seqs[i] = (int32_t)seq;
        }
        bool last = done + T == n;
        rf_status st = front_step(s, T, 0, false, err);
        if (st == RF_OK && next && last && s->backend->eval_argmax) {
            st = s->backend->eval_argmax(s, T, next, err);
        } else if (st == RF_OK && next) {
            /* greedy: only the last step's last row matters */
            st = s->backend->eval(s, T, s->scratch_logits, err);
            if (st == RF_OK && last) {
                const float *l = s->scratch_logits + (s->opt.all_logits ? (size_t)(T - 1) * s->n_vocab : 0);
                int32_t best = 0;
                for (uint32_t v = 1; v < s->n_vocab; v++)
                    if (l[v] > l[best])
                        best = (int32_t)v;
                *next = best;
            }
        } else if (st == RF_OK) {
            /* all_logits: each step writes its rows; otherwise only the last
             * step matters and every step may write the one row */
            float *out = s->opt.all_logits ? logits + (size_t)done * s->n_vocab : logits;
            st = s->backend->eval(s, T, out, err);
        }
        if (st != RF_OK) {
            s->n_past = s->seq_past[seq] = start; /* the cache beyond start is garbage now: forget it */
            kv_trim(s, seq, start);
            return st;
        }
        s->n_past += T;
        s->seq_past[seq] = s->n_past;
        done += T;
    }
    return RF_OK;
}

rf_status rt_eval(rt_session *s, const int32_t *tokens, uint32_t n, float *logits, rf_error *err)
{
    return eval_steps(s, 0, tokens, n, logits, NULL, err);
}

rf_status rt_eval_seq(rt_session *s, uint32_t seq, const int32_t *tokens, uint32_t n, float *logits,
                      rf_error *err)
{
    return eval_steps(s, seq, tokens, n, logits, NULL, err);
}

rf_status rt_eval_greedy(rt_session *s, const int32_t *tokens, uint32_t n, int32_t *next, rf_error *err)
{
    return eval_steps(s, 0, tokens, n, NULL, next, err);
}

rf_status rt_eval_seq_greedy(rt_session *s, uint32_t seq, const int32_t *tokens, uint32_t n, int32_t *next,
                             rf_error *err)
{
    return eval_steps(s, seq, tokens, n, NULL, next, err);
}

/* rt_step with a batch graph: rows checked, the sequences' blocks taken */
static rf_status step_rows(rt_session *s, uint32_t n, const uint32_t *seq, const int32_t *tokens, const bool *want,
                           float *logits, rf_error *err)
{
    rf_status st = RF_OK;
    uint32_t q = 0;
    for (q = 0; q < s->n_seq && st == RF_OK; q++) /* each sequence's blocks; on a dry pool, the others give theirs back */
        if (s->seq_rows[q])
            st = kv_reserve(s, q, s->seq_past[q] + s->seq_rows[q], err);
    if (st != RF_OK) {
        for (uint32_t k = 0; k + 1 < q; k++)
            kv_trim(s, k, s->seq_past[k]);
        return st;
    }
    /* each row at its sequence's next position (seq_past counts them off);
     * the rows with logits, each its sequence's last, at the end in order */
    uint32_t O = 0;
    for (uint32_t i = 0; i < n; i++)
        O += want[i];
    for (uint32_t i = 0, front = 0, back = n - O; i < n; i++) {
        uint32_t j = want[i] ? back++ : front++;
        s->tokens[j] = tokens[i];
        s->pos[j] = (int32_t)s->seq_past[seq[i]]++;
        s->seqs[j] = (int32_t)seq[i];
    }
    if ((st = front_step(s, n, O, true, err)) != RF_OK || (st = s->backend->eval_batch(s, n, O, logits, err)) != RF_OK)
        for (q = 0; q < s->n_seq; q++) /* the rows stored at the new positions are past every end: unread */
            if (s->seq_rows[q]) {
                s->seq_past[q] -= s->seq_rows[q];
                kv_trim(s, q, s->seq_past[q]);
            }
    return st;
}

rf_status rt_step(rt_session *s, uint32_t n, const uint32_t *seq, const int32_t *tokens, const bool *want,
                  float *logits, rf_error *err)
{
    if (s->graph->model.embedding)
        return not_logits(s, err);
    if (n == 0)
        return rf_fail(err, RF_E_ARG, "a step of no rows");
    if (s->batch_graph && n > s->batch_graph->plan_tokens)
        return rf_fail(err, RF_E_ARG, "a step of %u rows: at most %" PRId64 " (the sequences and the ubatch)", n,
                       s->batch_graph->plan_tokens);
    memset(s->seq_rows, 0, s->n_seq * sizeof *s->seq_rows);
    for (uint32_t i = 0; i < n; i++) {
        if (seq[i] >= s->n_seq)
            return rf_fail(err, RF_E_ARG, "step row %u: sequence %u, the session holds %u", i, seq[i], s->n_seq);
        s->seq_rows[seq[i]]++;
    }
    for (uint32_t i = 0; i < n; i++) {
        bool later = false;
        for (uint32_t j = i + 1; want[i] && j < n && !later; j++)
            later = seq[j] == seq[i];
        if (later)
            return rf_fail(err, RF_E_ARG, "step row %u: logits are for a sequence's last row in the step, and "
                           "sequence %u has more", i, seq[i]);
        if (want[i] && !logits)
            return rf_fail(err, RF_E_ARG, "step row %u wants logits, and there is nowhere to put them", i);
        if ((uint64_t)s->seq_past[seq[i]] + s->seq_rows[seq[i]] > s->n_ctx)
            return rf_fail(err, RF_E_ARG, "step row %u: sequence %u is full (%u past + %u new exceed %u positions)", i,
                           seq[i], s->seq_past[seq[i]], s->seq_rows[seq[i]], s->n_ctx);
    }
    rf_status st = check_tokens(s, tokens, n, err);
    if (st != RF_OK)
        return st;
    if (!s->batch_graph) { /* one sequence: its steps, and the last row's logits if wanted */
        if (s->opt.all_logits)
            return rf_fail(err, RF_E_ARG, "rt_step on a session that returns every row's logits (all_logits)");
        return eval_steps(s, seq[0], tokens, n, want[n - 1] ? logits : s->scratch_logits, NULL, err);
    }
    return step_rows(s, n, seq, tokens, want, logits, err);
}

rf_status rt_decode_batch(rt_session *s, uint32_t n, const uint32_t *seq, const int32_t *tokens, float *logits,
                          rf_error *err)
{
    if (n == 0 || n > s->n_seq)
        return rf_fail(err, RF_E_ARG, "a batch of %u sequences (the session holds %u)", n, s->n_seq);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < i && seq[i] < s->n_seq; j++)
            if (seq[j] == seq[i])
                return rf_fail(err, RF_E_ARG, "batch rows %u and %u: both sequence %u", j, i, seq[i]);
    if (n > 1 && !s->backend->eval_batch)
        return rf_fail(err, RF_E_UNSUPPORTED, "the %s backend has no batched decode", s->backend->name);
    return rt_step(s, n, seq, tokens, s->want_all, logits, err);
}

rf_status rt_embed(rt_session *s, const int32_t *tokens, uint32_t n, float *out, rf_error *err)
{
    if (!s->graph->model.embedding)
        return rf_fail(err, RF_E_UNSUPPORTED, "%s: %s is not an embedding model (it gives logits)", gguf_path(s->gguf),
                       s->graph->model.arch);
    if (n == 0)
        return rf_fail(err, RF_E_ARG, "no tokens to embed");
    uint32_t step = (uint32_t)s->graph->plan_tokens;
    if (n > step || n > s->n_ctx)
        return rf_fail(err, RF_E_ARG, "a text of %u tokens: an embedding model reads a text in one step, at most %u "
                       "tokens here (the step size and the context of %u)", n, step < s->n_ctx ? step : s->n_ctx,
                       s->n_ctx);
    rf_status st = check_tokens(s, tokens, n, err);
    if (st != RF_OK)
        return st;
    /* every text from position 0, alone in the cache: its rows attend to
     * exactly its own keys */
    rt_seq_reset(s, 0);
    if ((st = kv_reserve(s, 0, n, err)) != RF_OK)
        return st;
    for (uint32_t i = 0; i < n; i++) {
        s->tokens[i] = tokens[i];
        s->pos[i] = (int32_t)i;
        s->seqs[i] = 0;
    }
    s->n_past = 0;
    st = s->backend->eval(s, n, out, err);
    rt_seq_reset(s, 0);
    return st;
}

uint32_t rt_n_embd(const rt_session *s) { return s->graph->model.n_embd; }
bool rt_is_embedding(const rt_session *s) { return s->graph->model.embedding != 0; }

const char *rt_fallback_reason(const rt_session *s) { return s->fallback[0] ? s->fallback : NULL; }

const rt_profile *rt_session_profile(const rt_session *s)
{
    return s->backend && s->backend->profile ? s->backend->profile(s) : NULL;
}

void rt_profile_reset(rt_session *s)
{
    rt_profile *p = s->backend && s->backend->profile ? s->backend->profile(s) : NULL;
    for (int f = 0; p && f < 2; f++) {
        memset(p->seconds[f], 0, p->n * sizeof *p->seconds[f]);
        memset(p->calls[f], 0, p->n * sizeof *p->calls[f]);
        if (p->bytes[f])
            memset(p->bytes[f], 0, p->n * sizeof *p->bytes[f]);
    }
}

uint32_t rt_n_past(const rt_session *s) { return s->seq_past[0]; }
uint32_t rt_seq_n_past(const rt_session *s, uint32_t seq) { return seq < s->n_seq ? s->seq_past[seq] : 0; }
uint32_t rt_n_seq(const rt_session *s) { return s->n_seq; }
uint32_t rt_n_vocab(const rt_session *s) { return s->n_vocab; }
uint32_t rt_n_ctx(const rt_session *s) { return s->n_ctx; }
const ir_graph *rt_graph(const rt_session *s) { return s->graph; }
const char *rt_backend_name(const rt_session *s)
{
    return s->front || s->backend == &rt_backend_tp ? s->backend_name : s->backend->name;
}
uint32_t rt_gpu_layers(const rt_session *s) { return s->gpu_layers; }

void rt_reset(rt_session *s)
{
    if (s->front && s->front->backend->reset)
        s->front->backend->reset(s->front);
    s->n_past = 0;
    memset(s->seq_past, 0, s->n_seq * sizeof *s->seq_past);
    for (uint32_t q = 0; q < s->n_seq; q++)
        kv_trim(s, q, 0);
    if (s->backend->reset)
        s->backend->reset(s);
}

void rt_seq_truncate(rt_session *s, uint32_t seq, uint32_t n)
{
    if (seq < s->n_seq && n < s->seq_past[seq]) {
        s->seq_past[seq] = n; /* positions past a sequence's end are never read */
        kv_trim(s, seq, n);
    }
}

void rt_seq_reset(rt_session *s, uint32_t seq)
{
    if (seq < s->n_seq) {
        s->seq_past[seq] = 0; /* positions past a sequence's end are never read */
        kv_trim(s, seq, 0);
    }
}
