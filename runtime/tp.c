/*
 * tp.c: a session split by tensor parallelism (rt_options.tp), its ranks
 * run one after another on the CPU, or on one GPU (s->tp_ranks).
 *
 * Each of the N ranks is a session of its own (rt_part_open) whose graph
 * is that rank's share of the model (frontend/arch_tp.c): its heads and
 * their KV cache, its FFN columns, its rows of the vocabulary. A step runs
 * the ranks in segments: every rank up to its next collective (all_reduce
 * after the attention's and the FFN's output products, all_gather of the
 * logits), then the collective across them, then every rank on to the
 * next. The all_reduce is the sum of the ranks' partial results in rank
 * order (rank 0's plus rank 1's plus ...), the same on every rank and the
 * same every run; the all_gather joins the ranks' slices side by side.
 * Rank 0's output is the step's.
 *
 * This is the reference the GPUs' ranks are to match (one thread and
 * stream per GPU, the collectives through NCCL/RCCL: docs/gpu.md) and what
 * checks the sharding without a second device. On a GPU the ranks are
 * GPU sessions on the same device, each plan stopping at its collectives
 * (codegen's cg_coll); the operands come to host memory (the backend's
 * get), are summed or joined here as on the CPU, and go back (put): the
 * sharded plan's kernels checked on one device, slowly. It does not match the
 * unsplit session bit for bit: the products over K are summed in another
 * order (each rank's share, then across ranks), which moves the logits by
 * rounding (tests/test_tp.c holds them to the conformance bounds).
 *
 * The session that owns the ranks keeps the step's inputs and the paged
 * cache's block table, which the ranks borrow; its own graph is the whole
 * model's, for what the session reports (vocabulary, context, rt_graph),
 * and it runs none of it.
 *
 * On several GPUs the ranks are processes, one a GPU (rt_options.tp_world,
 * tp_rank, tp_addr): rt_tp_join loads RCCL or NCCL, opens the GPU, hands
 * rank 0's unique id to the others over TCP and joins the communicator;
 * then the session runs its one rank here as above, the collectives
 * through the library on the rank's stream (collective_world): the
 * all_reduce from the operand's device address into the result's, the
 * all_gather as a sum of zero-padded slices. Not yet run on GPUs
 * (docs/gpu.md): the tool that lends them has lent one at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "frontend/import.h"
#include "runtime/backend.h"
#include "runtime/gpu/coll.h"
#include "support/error.h"

typedef struct tp_state {
    uint32_t world;           /* ranks this process runs: --tp N's, or 1 of a world of processes */
    bool procs;               /* a world of processes (tp_world): this one's rank, collectives through s->coll */
    const rt_backend *b;      /* the ranks' backend: the CPU (value) or a GPU (get, put) */
    rt_session **rank;        /* (world) */
    const ir_node **at;       /* (world) the collective each rank stopped at */
    float *buf, *tmp;         /* a device backend's operands in host memory */
    size_t cap;               /* floats each holds */
} tp_state;

static rf_status tp_available(rf_error *err) { return rt_backend_cpu.available(err); }

static void tp_release(rt_session *s)
{
    tp_state *tp = s->state;
    if (!tp)
        return;
    for (uint32_t r = tp->world; tp->rank && r-- > 0;) /* rank 0, whose threads the others use, last */
        rt_part_close(tp->rank[r]);
    free(tp->rank);
    free(tp->at);
    free(tp->buf);
    free(tp->tmp);
    free(tp);
    s->state = NULL;
}

static rf_status tp_prepare(rt_session *s, rf_error *err)
{
    tp_state *tp = calloc(1, sizeof *tp);
    if (!(s->state = tp))
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    tp->procs = s->opt.tp_world > 1;
    tp->world = tp->procs ? 1 : s->opt.tp;
    tp->b = s->tp_ranks ? s->tp_ranks : &rt_backend_cpu;
    if (!tp->b->begin || !tp->b->run || !(tp->b->value || (tp->b->get && tp->b->put)) ||
        (tp->procs && (!(tp->b->value || tp->b->device) || !s->coll)))
        return rf_fail(err, RF_E_UNSUPPORTED, "tensor parallelism (--tp%s %u): the %s backend cannot run a rank",
                       tp->procs ? "-world" : "", tp->procs ? s->opt.tp_world : tp->world, tp->b->name);
    tp->rank = calloc(tp->world, sizeof *tp->rank);
    tp->at = calloc(tp->world, sizeof *tp->at);
    if (!tp->rank || !tp->at)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    rf_status st = RF_OK;
    for (uint32_t r = 0; r < tp->world && st == RF_OK; r++) {
        /* this process's rank of its world, or rank r of the ranks here */
        import_options io = {.all_logits = s->opt.all_logits, .n_ctx = s->opt.n_ctx,
                             .tp_rank = tp->procs ? s->opt.tp_rank : r,
                             .tp_world = tp->procs ? s->opt.tp_world : tp->world};
        /* the ranks run one after another: one pool of threads for all */
        st = rt_part_open(s, &io, tp->b, r && tp->b == &rt_backend_cpu ? tp->rank[0] : NULL, &tp->rank[r], err);
        if (st != RF_OK)
            rf_error_prefix(err, "tensor-parallel rank %u of %u", io.tp_rank, io.tp_world);
    }
    return st;
}

/* host room for n floats twice (a device backend's operands; a world's
 * padded all_gather) */
static rf_status host_room(tp_state *tp, size_t n, rf_error *err)
{
    if (n <= tp->cap)
        return RF_OK;
    float *a = realloc(tp->buf, n * sizeof *a), *b = a ? realloc(tp->tmp, n * sizeof *b) : NULL;
    if (a)
        tp->buf = a;
    if (b)
        tp->tmp = b;
    if (!a || !b)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    tp->cap = n;
    return RF_OK;
}

/* rank r's operand of the collective it stopped at (tp->at), n floats:
 * where the CPU keeps it, or a device's copied to host memory (tp->tmp) */
static const float *operand(tp_state *tp, uint32_t r, int64_t n, rf_status *st, rf_error *err)
{
    const ir_node *in = tp->at[r]->in[0];
    if (tp->b->value)
        return tp->b->value(tp->rank[r], in);
    *st = tp->b->get(tp->rank[r], in, tp->tmp, (size_t)n * sizeof(float), err);
    return tp->tmp;
}

/* rank r's slices (rows of width w, in) at their places among world
 * ranks' in the all_gather's rows (out): rank 0's first */
static void place_slices(float *out, const float *in, int64_t rows, int64_t w, uint32_t world, uint32_t r)
{
    for (int64_t t = 0; t < rows; t++)
        memcpy(out + (t * world + r) * w, in + t * w, (size_t)w * sizeof *out);
}

/* Every rank's result of the collective the ranks stopped at, an operand
 * of n floats each: for all_reduce the operands summed in rank order
 * (rank 0's plus rank 1's plus ...), for all_gather rows of the ranks'
 * slices of width w side by side, rank 0's first. The result is made in
 * rank 0's value (CPU) or host memory (a device) and copied to the
 * others' (every rank's: put). */
static rf_status collective(tp_state *tp, int64_t n, int64_t w, rf_error *err)
{
    const rt_backend *b = tp->b;
    bool reduce = tp->at[0]->op == IR_OP_ALL_REDUCE;
    int64_t total = reduce ? n : n * tp->world, rows = w ? n / w : 0;
    rf_status st = b->value ? RF_OK : host_room(tp, (size_t)total, err);
    float *out = b->value ? b->value(tp->rank[0], tp->at[0]) : tp->buf;
    for (uint32_t r = 0; r < tp->world && st == RF_OK; r++) {
        const float *in = operand(tp, r, n, &st, err);
        if (st != RF_OK)
            break;
        if (reduce)
            for (int64_t j = 0; j < n; j++)
                out[j] = r ? out[j] + in[j] : in[j];
        else
            place_slices(out, in, rows, w, tp->world, r);
    }
    for (uint32_t r = 0; r < tp->world && st == RF_OK; r++) {
        if (b->value && r)
            memcpy(b->value(tp->rank[r], tp->at[r]), out, (size_t)total * sizeof *out);
        else if (!b->value)
            st = b->put(tp->rank[r], tp->at[r], out, (size_t)total * sizeof *out, err);
    }
    return st;
}

/* where the library finds node n of this process's rank: a host backend's
 * value (a library that takes host memory: the tests' stand-in), or a
 * device's address and the rank's stream */
static rf_status lib_ptr(tp_state *tp, const ir_node *n, void **ptr, void **stream, rf_error *err)
{
    if (!tp->b->value)
        return tp->b->device(tp->rank[0], n, ptr, stream, err);
    *ptr = tp->b->value(tp->rank[0], n);
    if (stream)
        *stream = NULL;
    return RF_OK;
}

/* The collective this process's rank stopped at, across the world of
 * processes (s->coll), on the rank's stream: all_reduce from the operand's
 * device address into the result's (n floats); all_gather (slices of
 * width w) as the result's rows laid out with this rank's slices at their
 * places and zeros elsewhere, summed over the ranks in place (each element
 * is nonzero on one rank only, and x + 0 is x), because the library's own
 * gather puts whole operands one after another, not rows side by side. */
static rf_status collective_world(rt_session *s, tp_state *tp, int64_t n, int64_t w, rf_error *err)
{
    const ir_node *c = tp->at[0];
    void *src, *dst, *stream;
    rf_status st = RF_OK;
    if (c->op == IR_OP_ALL_REDUCE) {
        if ((st = lib_ptr(tp, c->in[0], &src, &stream, err)) != RF_OK || (st = lib_ptr(tp, c, &dst, NULL, err)) != RF_OK)
            return st;
        return rt_coll_all_reduce(s->coll, src, dst, (size_t)n, stream, err);
    }
    int64_t rows = w ? n / w : 0, total = n * s->opt.tp_world;
    const float *in = (st = host_room(tp, (size_t)total, err)) == RF_OK ? operand(tp, 0, n, &st, err) : NULL;
    if (st != RF_OK)
        return st;
    if (in != tp->tmp) /* a host backend's value: kept apart from the result it may share memory with */
        in = memcpy(tp->tmp, in, (size_t)n * sizeof *tp->tmp);
    float *out = tp->b->value ? tp->b->value(tp->rank[0], c) : tp->buf;
    memset(out, 0, (size_t)total * sizeof *out);
    place_slices(out, in, rows, w, s->opt.tp_world, s->opt.tp_rank);
    if ((!tp->b->value && (st = tp->b->put(tp->rank[0], c, out, (size_t)total * sizeof *out, err)) != RF_OK) ||
        (st = lib_ptr(tp, c, &dst, &stream, err)) != RF_OK)
        return st;
    return rt_coll_all_reduce(s->coll, dst, dst, (size_t)total, stream, err);
}

/* One step on every rank: segment by segment, a collective between each */
static rf_status tp_step(rt_session *s, bool batch, uint32_t T, uint32_t O, float *logits, rf_error *err)
{
    tp_state *tp = s->state;
    const rt_backend *b = tp->b;
    for (uint32_t r = 0; r < tp->world; r++) {
        tp->rank[r]->n_past = s->n_past;
        b->begin(tp->rank[r], batch, T, O);
    }
    int64_t P = batch ? 0 : s->n_past;
    for (;;) {
        rf_status st = RF_OK;
        for (uint32_t r = 0; r < tp->world && st == RF_OK; r++)
            tp->at[r] = b->run(tp->rank[r], r == 0 ? logits : NULL, &st, err);
        if (st != RF_OK)
            return st;
        const ir_node *c = tp->at[0];
        for (uint32_t r = 1; r < tp->world; r++) /* the ranks' graphs are one graph on other slices */
            RF_ASSERT(c ? tp->at[r] && tp->at[r]->id == c->id : !tp->at[r]);
        if (!c)
            return RF_OK;
        const ir_type *in = &c->in[0]->type;
        int64_t n = rt_numel(in, T, P, O), w = rt_dim(in->dim[in->rank - 1], T, P, O);
        if ((st = tp->procs ? collective_world(s, tp, n, w, err) : collective(tp, n, w, err)) != RF_OK)
            return st;
    }
}

static rf_status tp_eval(rt_session *s, uint32_t T, float *logits, rf_error *err)
{
    return tp_step(s, false, T, 0, logits, err);
}

static rf_status tp_eval_batch(rt_session *s, uint32_t T, uint32_t O, float *logits, rf_error *err)
{
    return tp_step(s, true, T, O, logits, err);
}

static void tp_reset(rt_session *s)
{
    tp_state *tp = s->state;
    for (uint32_t r = 0; r < tp->world; r++)
        if (tp->b->reset)
            tp->b->reset(tp->rank[r]);
}

/* ---- one process a GPU ------------------------------------------------------ */

enum { JOIN_TIMEOUT_MS = 120 * 1000 }; /* for every rank to come: a job's processes start within it */

rf_status rt_tp_join(rt_session *s, const rt_backend *gpu, rf_error *err)
{
    const rt_options *o = &s->opt;
    rt_coll_id id;
    uint64_t free_bytes;
    rf_status st = rt_coll_load(NULL, err);
    if (st == RF_OK) /* the device opens: without one, nobody is kept waiting for this rank */
        st = gpu->free_memory ? gpu->free_memory(s, &free_bytes, err) : gpu->available(err);
    if (st == RF_OK && o->tp_rank == 0) {
        rt_rendezvous *r = NULL;
        if ((st = rt_coll_unique_id(&id, err)) == RF_OK && (st = rt_rendezvous_listen(o->tp_addr, &r, NULL, err)) == RF_OK)
            st = rt_rendezvous_serve(r, o->tp_world, &id, JOIN_TIMEOUT_MS, err);
        rt_rendezvous_close(r);
    } else if (st == RF_OK) {
        st = rt_rendezvous_fetch(o->tp_addr, o->tp_rank, o->tp_world, &id, JOIN_TIMEOUT_MS, err);
    }
    return st == RF_OK ? rt_coll_join(&id, (int)o->tp_world, (int)o->tp_rank, &s->coll, err) : st;
}

const rt_backend rt_backend_tp = {
    .name = "cpu-tp",
    .available = tp_available,
    .prepare = tp_prepare,
    .eval = tp_eval,
    .eval_batch = tp_eval_batch,
    .reset = tp_reset,
    .release = tp_release,
};
