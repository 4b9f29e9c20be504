/*
 * tp.c: a session split by tensor parallelism, its ranks run one after
 * another on the CPU or on one GPU, or one a GPU: a thread each in this
 * process (--tp N), or a process each (--tp-world N).
 *
 * Each rank is a session of its own (rt_part_open) whose graph is that
 * rank's share of the model (frontend/arch_tp.c): its heads and their KV
 * cache, its FFN columns, its rows of the vocabulary. A rank runs its step
 * in segments: up to its next collective (all_reduce after the attention's
 * and the FFN's output products, all_gather of the logits), then the
 * collective across the ranks, then on to the next. The all_reduce is the
 * sum of the ranks' partial results; the all_gather joins the ranks'
 * slices side by side. Rank 0's output is the step's. It does not match
 * the unsplit session bit for bit: the products over K are summed in
 * another order (each rank's share, then across ranks), which moves the
 * logits by rounding (tests/test_tp.c holds them to the conformance
 * bounds).
 *
 * Three ways to run the ranks (tp_mode):
 *
 * - One after another (TP_SEQ): --tp N on the CPU, or on a GPU that is
 *   the only one (every rank a session on the same device). Every rank
 *   runs to its next collective, then the collective is done here: an
 *   in-order sum (rank 0's plus rank 1's plus ...) or the slices joined,
 *   a device's operands through host memory (the backend's get and put).
 *   This is the reference the others match, and what checks the sharding
 *   without a second device.
 * - A thread a rank (TP_THREADS): --tp N on a GPU backend that sees N
 *   GPUs or more. Each rank's thread opens its GPU (GPU_NTH(r)), prepares
 *   its part and joins a communicator of RCCL/NCCL (the unique id taken
 *   here, no rendezvous), then runs its steps as they are asked for, each
 *   collective a library call on the rank's stream. The part is closed on
 *   its thread too. ROCMFORGE_TP_THREADS=1 takes this way on any backend
 *   (with a stand-in library, test_tp runs it on the CPU; on one GPU every
 *   thread opens the same device), =0 the first.
 * - A process a rank (TP_PROCS, rt_options.tp_world): rt_tp_join loaded
 *   the library, opened the GPU, fetched rank 0's unique id over TCP and
 *   joined; this process runs its one rank as a thread rank would.
 *
 * Through the library, an all_reduce goes from the operand's device
 * address into the result's; an all_gather is the result laid out with
 * the rank's slices at their places and zeros elsewhere, summed in place
 * (each element is nonzero on one rank only, and x + 0 is x), because the
 * library's own gather puts whole operands one after another, not rows
 * side by side. A library that takes host memory (ROCMFORGE_COLL_HOST=1:
 * the tests' stand-in) gets the CPU's values, or a device's copied to the
 * host and back.
 *
 * The session that owns the ranks keeps the step's inputs and the paged
 * cache's block table, which the ranks borrow (and, threads, read at once
 * during a step); its own graph is the whole model's, for what the
 * session reports (vocabulary, context, rt_graph), and it runs none of it.
 * A rank that fails between collectives leaves the others waiting in
 * their next one: the failures that come from the model or the machine
 * (a shape, a type, memory) come when the parts are prepared, before any
 * rank joins a communicator, and end them all cleanly.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/import.h"
#include "runtime/backend.h"
#include "runtime/gpu/coll.h"
#include "runtime/gpu/gpu.h"
#include "support/error.h"

typedef enum tp_mode { TP_SEQ, TP_THREADS, TP_PROCS } tp_mode;
typedef enum tp_cmd { CMD_OPEN, CMD_JOIN, CMD_STEP, CMD_RESET, CMD_QUIT } tp_cmd;

typedef struct tp_state tp_state;

typedef struct tp_rank {
    tp_state *tp;
    rt_session *s;            /* the rank's part */
    uint32_t index;           /* its rank of the world */
    const ir_node *at;        /* the collective it stopped at */
    rt_coll *coll;            /* its communicator: a thread's own, a process's s->coll; NULL one after another */
    float *buf, *tmp;         /* host memory for its operands */
    size_t cap;               /* floats each holds */
    pthread_t thread;         /* TP_THREADS */
    bool started;
    rf_status st;             /* its last command's */
    rf_error err;
} tp_rank;

struct tp_state {
    tp_mode mode;
    uint32_t here, world;     /* ranks in this process; in the world */
    const rt_backend *b;      /* the ranks' backend: the CPU (value) or a GPU (get, put, run_world) */
    bool host_lib;            /* the library sums host memory (ROCMFORGE_COLL_HOST=1) */
    rt_session *owner;
    tp_rank *rank;            /* (here) */
    /* TP_THREADS: the command every rank's thread runs (gen counts them) */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    bool sync_made;
    uint64_t gen;
    uint32_t pending;
    tp_cmd cmd;
    rt_coll_id id;
    bool batch;               /* CMD_STEP's */
    uint32_t T, O;
    float *logits;
};

static rf_status tp_available(rf_error *err) { return rt_backend_cpu.available(err); }

/* host room for n floats twice (a device backend's operands; a world's
 * padded all_gather) */
static rf_status host_room(tp_rank *k, size_t n, rf_error *err)
{
    if (n <= k->cap)
        return RF_OK;
    float *a = realloc(k->buf, n * sizeof *a), *b = a ? realloc(k->tmp, n * sizeof *b) : NULL;
    if (a)
        k->buf = a;
    if (b)
        k->tmp = b;
    if (!a || !b)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    k->cap = n;
    return RF_OK;
}

/* rank k's operand of the collective it stopped at, n floats: where the
 * CPU keeps it, or copied into host (a device's; with apart, the CPU's
 * too, kept apart from the result it may share memory with) */
static const float *operand(const tp_state *tp, tp_rank *k, int64_t n, float *host, bool apart, rf_status *st,
                            rf_error *err)
{
    const ir_node *in = k->at->in[0];
    if (tp->b->value)
        return apart ? memcpy(host, tp->b->value(k->s, in), (size_t)n * sizeof *host) : tp->b->value(k->s, in);
    *st = tp->b->get(k->s, in, host, (size_t)n * sizeof *host, err);
    return host;
}

/* rank r's slices (rows of width w, in) at their places among world
 * ranks' in the all_gather's rows (out): rank 0's first */
static void place_slices(float *out, const float *in, int64_t rows, int64_t w, uint32_t world, uint32_t r)
{
    for (int64_t t = 0; t < rows; t++)
        memcpy(out + (t * world + r) * w, in + t * w, (size_t)w * sizeof *out);
}

/* TP_SEQ: every rank's result of the collective the ranks stopped at, an
 * operand of n floats each: for all_reduce the operands summed in rank
 * order (rank 0's plus rank 1's plus ...), for all_gather rows of the
 * ranks' slices of width w side by side, rank 0's first. The result is
 * made in rank 0's value (CPU) or host memory (a device) and copied to the
 * others' (every rank's: put). */
static rf_status collective(tp_state *tp, int64_t n, int64_t w, rf_error *err)
{
    const rt_backend *b = tp->b;
    tp_rank *k0 = &tp->rank[0];
    bool reduce = k0->at->op == IR_OP_ALL_REDUCE;
    int64_t total = reduce ? n : n * tp->world, rows = w ? n / w : 0;
    rf_status st = b->value ? RF_OK : host_room(k0, (size_t)total, err);
    float *out = b->value ? b->value(k0->s, k0->at) : k0->buf;
    for (uint32_t r = 0; r < tp->world && st == RF_OK; r++) {
        const float *in = operand(tp, &tp->rank[r], n, k0->tmp, false, &st, err);
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
            memcpy(b->value(tp->rank[r].s, tp->rank[r].at), out, (size_t)total * sizeof *out);
        else if (!b->value)
            st = b->put(tp->rank[r].s, tp->rank[r].at, out, (size_t)total * sizeof *out, err);
    }
    return st;
}

/* A device's operand through a library of host memory: to the host, the
 * library's all_reduce there (in place, n floats), and back as the
 * result. */
static rf_status host_all_reduce(const tp_state *tp, tp_rank *k, float *v, int64_t n, rf_error *err)
{
    rf_status st = rt_coll_all_reduce(k->coll, v, v, (size_t)n, NULL, err);
    return st == RF_OK ? tp->b->put(k->s, k->at, v, (size_t)n * sizeof *v, err) : st;
}

/* TP_THREADS, TP_PROCS, in segments: the collective rank k stopped at,
 * across the world, through a library of host memory (the file's comment):
 * the CPU's values where they are, a device's through the host (get,
 * put). A device's ranks with a library of device memory run whole
 * instead (run_world). */
static rf_status collective_lib(const tp_state *tp, tp_rank *k, int64_t n, int64_t w, rf_error *err)
{
    const rt_backend *b = tp->b;
    const ir_node *c = k->at;
    rf_status st = RF_OK;
    if (c->op == IR_OP_ALL_REDUCE) {
        if (b->value)
            return rt_coll_all_reduce(k->coll, b->value(k->s, c->in[0]), b->value(k->s, c), (size_t)n, NULL, err);
        if ((st = host_room(k, (size_t)n, err)) == RF_OK)
            operand(tp, k, n, k->buf, false, &st, err);
        return st == RF_OK ? host_all_reduce(tp, k, k->buf, n, err) : st;
    }
    int64_t rows = w ? n / w : 0, total = n * tp->world;
    const float *in = (st = host_room(k, (size_t)total, err)) == RF_OK ? operand(tp, k, n, k->tmp, true, &st, err) : NULL;
    if (st != RF_OK)
        return st;
    float *out = b->value ? b->value(k->s, c) : k->buf;
    memset(out, 0, (size_t)total * sizeof *out);
    place_slices(out, in, rows, w, tp->world, k->index);
    return b->value ? rt_coll_all_reduce(k->coll, out, out, (size_t)total, NULL, err)
                    : host_all_reduce(tp, k, out, total, err);
}

/* the library's all_reduce on rank ctx's communicator (rt_world.sum) */
static rf_status lib_sum(void *ctx, const void *send, void *recv, size_t n, void *stream, rf_error *err)
{
    return rt_coll_all_reduce(((tp_rank *)ctx)->coll, send, recv, n, stream, err);
}

/* TP_THREADS, TP_PROCS: rank k's step, each collective through the
 * library: a device's whole step on its stream (run_world: a decode step
 * a graph with the library's calls in it), else segment by segment; the
 * output of this process's first rank to logits */
static rf_status rank_step(tp_state *tp, tp_rank *k, bool batch, uint32_t T, uint32_t O, float *logits,
                           rf_error *err)
{
    const rt_backend *b = tp->b;
    k->s->n_past = tp->owner->n_past;
    if (!b->value && !tp->host_lib)
        return b->run_world(k->s, batch, T, O, &(rt_world){tp->world, k->index, lib_sum, k},
                            k == tp->rank ? logits : NULL, err);
    b->begin(k->s, batch, T, O);
    int64_t P = batch ? 0 : tp->owner->n_past;
    for (;;) {
        rf_status st = RF_OK;
        if (!(k->at = b->run(k->s, k == tp->rank ? logits : NULL, &st, err)) || st != RF_OK)
            return st;
        const ir_type *in = &k->at->in[0]->type;
        int64_t n = rt_numel(in, T, P, O), w = rt_dim(in->dim[in->rank - 1], T, P, O);
        if ((st = collective_lib(tp, k, n, w, err)) != RF_OK)
            return st;
    }
}

/* TP_SEQ: one step on every rank, segment by segment, a collective
 * between each */
static rf_status seq_step(tp_state *tp, bool batch, uint32_t T, uint32_t O, float *logits, rf_error *err)
{
    const rt_backend *b = tp->b;
    for (uint32_t r = 0; r < tp->world; r++) {
        tp->rank[r].s->n_past = tp->owner->n_past;
        b->begin(tp->rank[r].s, batch, T, O);
    }
    int64_t P = batch ? 0 : tp->owner->n_past;
    for (;;) {
        rf_status st = RF_OK;
        for (uint32_t r = 0; r < tp->world && st == RF_OK; r++)
            tp->rank[r].at = b->run(tp->rank[r].s, r == 0 ? logits : NULL, &st, err);
        if (st != RF_OK)
            return st;
        const ir_node *c = tp->rank[0].at;
        for (uint32_t r = 1; r < tp->world; r++) /* the ranks' graphs are one graph on other slices */
            RF_ASSERT(c ? tp->rank[r].at && tp->rank[r].at->id == c->id : !tp->rank[r].at);
        if (!c)
            return RF_OK;
        const ir_type *in = &c->in[0]->type;
        int64_t n = rt_numel(in, T, P, O), w = rt_dim(in->dim[in->rank - 1], T, P, O);
        if ((st = collective(tp, n, w, err)) != RF_OK)
            return st;
    }
}

/* rank k's part of the model: rank index of the world, on GPU index (a
 * thread's) or the session's; one after another, the ranks share rank 0's
 * CPU threads */
static rf_status open_rank(tp_state *tp, tp_rank *k, rf_error *err)
{
    rt_session *s = tp->owner;
    import_options io = {.all_logits = s->opt.all_logits, .n_ctx = s->opt.n_ctx, .tp_rank = k->index,
                         .tp_world = tp->world};
    const rt_session *threads_of = tp->mode == TP_SEQ && k != tp->rank && tp->b == &rt_backend_cpu ? tp->rank[0].s : NULL;
    int device = tp->mode == TP_THREADS ? GPU_NTH((int)k->index) : s->device;
    rf_status st = rt_part_open(s, &io, tp->b, threads_of, device, &k->s, err);
    if (st != RF_OK)
        rf_error_prefix(err, "tensor-parallel rank %u of %u", k->index, tp->world);
    return st;
}

/* ---- a thread a rank --------------------------------------------------------------------- */

static rf_status rank_command(tp_rank *k, tp_cmd cmd, rf_error *err)
{
    tp_state *tp = k->tp;
    switch (cmd) {
    case CMD_OPEN: return open_rank(tp, k, err);
    case CMD_JOIN: return rt_coll_join(&tp->id, (int)tp->world, (int)k->index, &k->coll, err);
    case CMD_STEP: return rank_step(tp, k, tp->batch, tp->T, tp->O, tp->logits, err);
    case CMD_RESET:
        if (tp->b->reset && k->s)
            tp->b->reset(k->s);
        return RF_OK;
    case CMD_QUIT: /* on its thread, where its device is current */
        rt_part_close(k->s);
        rt_coll_leave(k->coll);
        k->s = NULL;
        k->coll = NULL;
        return RF_OK;
    }
    return RF_OK;
}

static void *rank_main(void *arg)
{
    tp_rank *k = arg;
    tp_state *tp = k->tp;
    for (uint64_t seen = 0;;) {
        pthread_mutex_lock(&tp->mu);
        while (tp->gen == seen)
            pthread_cond_wait(&tp->go, &tp->mu);
        seen = tp->gen;
        tp_cmd cmd = tp->cmd;
        pthread_mutex_unlock(&tp->mu);
        k->err = (rf_error){0};
        k->st = rank_command(k, cmd, &k->err);
        pthread_mutex_lock(&tp->mu);
        if (--tp->pending == 0)
            pthread_cond_signal(&tp->done);
        pthread_mutex_unlock(&tp->mu);
        if (cmd == CMD_QUIT)
            return NULL;
    }
}

/* Every rank's thread runs cmd; the first rank's failure is the result. */
static rf_status command(tp_state *tp, tp_cmd cmd, rf_error *err)
{
    pthread_mutex_lock(&tp->mu);
    tp->cmd = cmd;
    tp->pending = tp->here;
    tp->gen++;
    pthread_cond_broadcast(&tp->go);
    while (tp->pending)
        pthread_cond_wait(&tp->done, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
    for (uint32_t r = 0; r < tp->here; r++)
        if (tp->rank[r].st != RF_OK) {
            if (err)
                *err = tp->rank[r].err;
            return tp->rank[r].st;
        }
    return RF_OK;
}

/* The ranks' threads, each opening its GPU and part, then, all opened,
 * joining one communicator (the id taken here): nobody waits in the
 * library for a rank whose part failed. */
static rf_status start_threads(tp_state *tp, rf_error *err)
{
    if (pthread_mutex_init(&tp->mu, NULL) != 0 || pthread_cond_init(&tp->go, NULL) != 0 ||
        pthread_cond_init(&tp->done, NULL) != 0)
        return rf_fail(err, RF_E_NOMEM, "tensor parallelism: cannot make the ranks' locks");
    tp->sync_made = true;
    rf_status st = rt_coll_unique_id(&tp->id, err);
    for (uint32_t r = 0; r < tp->here && st == RF_OK; r++) {
        if (pthread_create(&tp->rank[r].thread, NULL, rank_main, &tp->rank[r]) != 0)
            st = rf_fail(err, RF_E_NOMEM, "tensor parallelism: cannot start rank %u's thread", r);
        tp->rank[r].started = st == RF_OK;
    }
    if (st == RF_OK)
        st = command(tp, CMD_OPEN, err);
    if (st == RF_OK)
        st = command(tp, CMD_JOIN, err);
    return st;
}

/* ---- the backend ------------------------------------------------------------------------- */

static void tp_release(rt_session *s)
{
    tp_state *tp = s->state;
    if (!tp)
        return;
    if (tp->mode == TP_THREADS && tp->sync_made) {
        uint32_t started = 0;
        for (uint32_t r = 0; r < tp->here; r++)
            started += tp->rank[r].started;
        tp->here = started; /* the threads made, in order: only they take the command */
        if (started)
            command(tp, CMD_QUIT, NULL);
        for (uint32_t r = 0; r < started; r++)
            pthread_join(tp->rank[r].thread, NULL);
    }
    for (uint32_t r = tp->rank ? tp->here : 0; r-- > 0;) /* rank 0, whose threads the others use, last */
        rt_part_close(tp->rank[r].s);
    for (uint32_t r = 0; tp->rank && r < tp->here; r++) {
        free(tp->rank[r].buf);
        free(tp->rank[r].tmp);
    }
    if (tp->sync_made) {
        pthread_mutex_destroy(&tp->mu);
        pthread_cond_destroy(&tp->go);
        pthread_cond_destroy(&tp->done);
    }
    free(tp->rank);
    free(tp);
    s->state = NULL;
}

/* how the ranks run (the file's comment): a world's process its one; a
 * thread each where the backend sees a device for each (or
 * ROCMFORGE_TP_THREADS says so); else one after another, said through
 * warn on a GPU */
static tp_mode choose_mode(rt_session *s, const rt_backend *b)
{
    if (s->opt.tp_world > 1)
        return TP_PROCS;
    const char *env = getenv("ROCMFORGE_TP_THREADS");
    if (env && *env)
        return strcmp(env, "0") ? TP_THREADS : TP_SEQ;
    uint32_t n = 0;
    if (b->value || !b->devices || b->devices(&n, &(rf_error){0}) != RF_OK) /* no GPU: prepare says why */
        return TP_SEQ;
    if (n >= s->opt.tp)
        return TP_THREADS;
    if (s->opt.warn) {
        char msg[192];
        snprintf(msg, sizeof msg, "--tp %u: %u GPU%s here, so the %u ranks run one after another on GPU 0: a check of "
                 "the sharded plan, not a speed-up", s->opt.tp, n, n == 1 ? "" : "s", s->opt.tp);
        s->opt.warn(s->opt.cb_ctx, msg);
    }
    return TP_SEQ;
}

static rf_status tp_prepare(rt_session *s, rf_error *err)
{
    tp_state *tp = calloc(1, sizeof *tp);
    if (!(s->state = tp))
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    tp->owner = s;
    tp->b = s->tp_ranks ? s->tp_ranks : &rt_backend_cpu;
    snprintf(s->backend_name, sizeof s->backend_name, "%s-tp", tp->b->name);
    tp->mode = choose_mode(s, tp->b);
    tp->world = tp->mode == TP_PROCS ? s->opt.tp_world : s->opt.tp;
    tp->here = tp->mode == TP_PROCS ? 1 : tp->world;
    tp->host_lib = rt_coll_host();
    const rt_backend *b = tp->b;
    bool lib = tp->mode != TP_SEQ;
    if (!b->begin || !b->run || !(b->value || (b->get && b->put)) || (lib && !b->value && !tp->host_lib && !b->run_world) ||
        (tp->mode == TP_PROCS && !s->coll))
        return rf_fail(err, RF_E_UNSUPPORTED, "tensor parallelism (--tp%s %u): the %s backend cannot run a rank",
                       tp->mode == TP_PROCS ? "-world" : "", tp->world, b->name);
    if (!(tp->rank = calloc(tp->here, sizeof *tp->rank)))
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    for (uint32_t r = 0; r < tp->here; r++) {
        tp->rank[r].tp = tp;
        tp->rank[r].index = tp->mode == TP_PROCS ? s->opt.tp_rank : r;
    }
    if (tp->mode == TP_THREADS)
        return start_threads(tp, err);
    rf_status st = RF_OK;
    for (uint32_t r = 0; r < tp->here && st == RF_OK; r++)
        st = open_rank(tp, &tp->rank[r], err);
    if (tp->mode == TP_PROCS)
        tp->rank[0].coll = s->coll; /* the session's: it leaves it */
    return st;
}

static rf_status tp_step(rt_session *s, bool batch, uint32_t T, uint32_t O, float *logits, rf_error *err)
{
    tp_state *tp = s->state;
    switch (tp->mode) {
    case TP_SEQ: return seq_step(tp, batch, T, O, logits, err);
    case TP_PROCS: return rank_step(tp, &tp->rank[0], batch, T, O, logits, err);
    case TP_THREADS:
        tp->batch = batch;
        tp->T = T;
        tp->O = O;
        tp->logits = logits;
        return command(tp, CMD_STEP, err);
    }
    return RF_OK;
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
    if (tp->mode == TP_THREADS) {
        command(tp, CMD_RESET, NULL);
        return;
    }
    for (uint32_t r = 0; r < tp->here; r++)
        if (tp->b->reset)
            tp->b->reset(tp->rank[r].s);
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
    .name = "tp", /* the session says which: backend_name, "cpu-tp" or "gpu-tp" */
    .available = tp_available,
    .prepare = tp_prepare,
    .eval = tp_eval,
    .eval_batch = tp_eval_batch,
    .reset = tp_reset,
    .release = tp_release,
};
