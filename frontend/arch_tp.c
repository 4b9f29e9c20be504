/*
 * arch_tp.c: one rank's share of a decoder, for tensor parallelism
 * (import_options.tp_rank of tp_world), Megatron-style.
 *
 * Each of the world ranks runs the same graph on its own slice of the
 * weights: its query heads and the KV heads they read (and their KV
 * cache), its columns of the FFN, its rows of the vocabulary. A product
 * whose output the rank splits (Q, K, V, gate, up, the output head) takes
 * whole rows of W[N,K]: rows row0.. of the mapped tensor, as a fused
 * tensor's parts already do. A product whose input the rank holds a slice
 * of (the attention output's O, the FFN's down) takes of every row the
 * columns of that slice (a weight's col0), and its partial sums meet in
 * an all_reduce before the bias, the post norm and the residual, which
 * every rank then applies alike. The logits come out as each rank's rows
 * of the vocabulary and meet in an all_gather. Everything else (the
 * embedding, every norm, the residual stream) is replicated: each rank
 * holds the whole of x.
 *
 * Experts are split the same way, each expert's FFN as a dense one:
 * every rank holds every expert's rows f0.. of gate and up (the middle
 * dimension of [n_expert, n_ff_exp, n_embd]: a weight's mid0) and those
 * columns of down, and the router, which reads the replicated x, chooses
 * alike on every rank; the experts' weighted sum is the rank's partial
 * sum and meets the others' in an all_reduce before the residual (rank 0
 * alone adds the experts' down bias, gpt-oss's, so that it is added once).
 * A shared expert's partial sum joins the routed experts' before the one
 * all_reduce (its own only where its down has a bias, added once after).
 *
 * An FFN's columns (dense, shared or an expert's) are dealt to the ranks
 * whole blocks of down's type at a time, as evenly as they go: a width of
 * 768 in Q4_K's blocks of 256 is 512 columns for rank 0 and 256 for rank 1
 * (the products are sums over the columns, so uneven shares are exact);
 * fewer blocks than ranks is refused. Other shapes that do not divide are
 * refused, naming the quantity and the world: heads, the vocabulary, and
 * the columns of a block-quantized O (a rank's columns must begin and end
 * on block boundaries, since the rows are stored block by block). KV heads
 * fewer than the ranks are replicated when the ranks divide evenly among
 * them: each rank then holds one KV head, the one its query heads read.
 * Not done here, and refused by name: multi-head latent attention
 * (deepseek2), whole-row q/k norms (olmo2, olmoe: the norm needs the whole
 * row), embedding models, and a model split by layers at once.
 */
#include <inttypes.h>

#include "frontend/arch.h"

void arch_tp_whole(arch_ctx *c)
{
    c->tp = (arch_tp){.rank = 0, .world = 1, .n_head = c->hp.n_head, .n_head_kv = c->hp.n_head_kv};
}

/* "world must divide what": the refusal of a quantity that does not split */
static rf_status indivisible(arch_ctx *c, const char *what, uint64_t v)
{
    return arch_fail(c, RF_E_UNSUPPORTED, "%s: tensor parallelism over %" PRIu32 " ranks needs %s (%" PRIu64 ") to "
                     "be a multiple of %" PRIu32, gguf_path(c->f), c->tp.world, what, v, c->tp.world);
}

rf_status arch_tp_plan(arch_ctx *c, const arch_decoder *d)
{
    const arch_hparams *hp = &c->hp;
    uint32_t world = c->opt.tp_world, rank = c->opt.tp_rank;
    if (world <= 1 || c->status != RF_OK)
        return c->status;
    c->tp.world = world;
    c->tp.rank = rank;
    const char *path = gguf_path(c->f);
    if (rank >= world)
        return arch_fail(c, RF_E_ARG, "%s: tensor-parallel rank %" PRIu32 " of %" PRIu32 ": ranks are 0..%" PRIu32,
                         path, rank, world, world - 1);
    if (d->mla)
        return arch_fail(c, RF_E_UNSUPPORTED, "%s: tensor parallelism of %s is not supported: its multi-head latent "
                         "attention is not split", path, c->arch);
    if (d->qk_norm_rows)
        return arch_fail(c, RF_E_UNSUPPORTED, "%s: tensor parallelism of %s is not supported: its q/k norms span the "
                         "whole row of every head", path, c->arch);
    if (hp->n_head % world)
        return indivisible(c, "the attention heads", hp->n_head);
    if (hp->n_head_kv % world && world % hp->n_head_kv)
        return arch_fail(c, RF_E_UNSUPPORTED, "%s: tensor parallelism over %" PRIu32 " ranks needs the KV heads (%"
                         PRIu32 ") to be a multiple of the ranks, or the ranks a multiple of them (each KV head "
                         "then replicated)", path, world, hp->n_head_kv);
    if (hp->n_vocab % world)
        return indivisible(c, "the vocabulary", hp->n_vocab);
    c->tp.n_head = hp->n_head / world;
    c->tp.head0 = rank * c->tp.n_head;
    if (hp->n_head_kv >= world) {
        c->tp.n_head_kv = hp->n_head_kv / world;
        c->tp.kv_head0 = rank * c->tp.n_head_kv;
    } else { /* replicated: the one KV head this rank's query heads read */
        c->tp.n_head_kv = 1;
        c->tp.kv_head0 = rank / (world / hp->n_head_kv);
    }
    c->g->model.n_head = c->tp.n_head;
    c->g->model.n_head_kv = c->tp.n_head_kv;
    c->g->model.tp_rank = rank;
    c->g->model.tp_world = world;
    return RF_OK;
}

/* this rank's equal share of n: [*first, *first + *len) */
static void share(const arch_ctx *c, int64_t n, int64_t *first, int64_t *len)
{
    *len = n / c->tp.world;
    *first = c->tp.rank * *len;
}

rf_status arch_tp_share_ffn(arch_ctx *c, int il, const char *down, const char *what, int64_t n, int64_t *first,
                            int64_t *len)
{
    *first = 0;
    *len = n;
    if (c->tp.world == 1 || c->status != RF_OK)
        return c->status;
    char name[96];
    arch_tensor_name(name, sizeof name, il, down);
    const gguf_tensor *t = gguf_find_tensor(c->f, name);
    int64_t unit = t ? ggml_type_get(t->type)->block_size : 1, units = n / unit;
    uint32_t world = c->tp.world, r = c->tp.rank;
    if (n % unit || units < world)
        return arch_fail(c, RF_E_UNSUPPORTED, "%s: tensor parallelism over %" PRIu32 " ranks needs %s (%" PRId64 ") "
                         "to hold a block of '%s' (%" PRId64 " columns) for every rank", gguf_path(c->f), world, what,
                         n, name, unit);
    int64_t base = units / world, extra = units % world; /* the first `extra` ranks a block more */
    *first = unit * (r * base + (r < extra ? r : extra));
    *len = unit * (base + (r < extra));
    return RF_OK;
}

ir_node *arch_tp_rows(arch_ctx *c, ir_node *w, int64_t first, int64_t n)
{
    if (!w || c->status != RF_OK)
        return w;
    RF_ASSERT(first >= 0 && first + n <= w->type.dim[0]);
    w->ia[0] += first;
    w->type.dim[0] = n;
    return w;
}

ir_node *arch_tp_mid(arch_ctx *c, ir_node *w, int64_t first, int64_t n)
{
    if (!w || c->status != RF_OK || c->tp.world == 1)
        return w;
    RF_ASSERT(w->type.rank == 3 && first >= 0 && first + n <= w->type.dim[1]);
    w->ia[2] += first;
    w->type.dim[1] = n;
    return w;
}

ir_node *arch_tp_cols(arch_ctx *c, ir_node *w, int64_t first, int64_t n)
{
    if (!w || c->status != RF_OK || c->tp.world == 1)
        return w;
    uint8_t r = w->type.rank;
    int64_t K = w->type.dim[r - 1];
    RF_ASSERT((r == 2 || r == 3) && first >= 0 && first + n <= K);
    const ggml_type_traits *tt = ggml_type_get(w->type.elem);
    if (first % tt->block_size || n % tt->block_size) {
        arch_fail(c, RF_E_UNSUPPORTED, "%s: tensor '%s' (%s, blocks of %" PRIu32 "): rank %" PRIu32 "'s columns %"
                  PRId64 "..%" PRId64 " of its %" PRId64 " do not fall on block boundaries; tensor parallelism over %"
                  PRIu32 " ranks needs %" PRId64 " columns a rank to be a multiple of %" PRIu32, gguf_path(c->f),
                  w->name, tt->name, tt->block_size, c->tp.rank, first, first + n, K, c->tp.world, n, tt->block_size);
        return NULL;
    }
    w->ia[1] = first;
    w->type.dim[r - 1] = n;
    return w;
}

ir_node *arch_tp_vocab(arch_ctx *c, ir_node *w)
{
    if (!w || c->status != RF_OK || c->tp.world == 1)
        return w;
    int64_t first, n;
    share(c, w->type.dim[0], &first, &n);
    if (w != c->tok_embd)
        return arch_tp_rows(c, w, first, n);
    /* a tied head: a node of its own, as the embedding reads the whole table */
    ir_node *r = ir_weight(c->g, w->name, w->type.elem, w->type.rank, w->type.dim);
    if (!r)
        arch_fail(c, RF_E_NOMEM, "out of memory");
    return arch_tp_rows(c, r, first, n);
}

/* the collective op on x, or x itself on a whole model */
static ir_node *collective(arch_ctx *c, ir_op op, ir_node *x)
{
    if (!x || c->status != RF_OK || c->tp.world == 1)
        return x;
    ir_type t = x->type;
    if (op == IR_OP_ALL_GATHER)
        t.dim[t.rank - 1] *= c->tp.world;
    return arch_op1(c, op, &t, x);
}

ir_node *arch_all_reduce(arch_ctx *c, ir_node *x) { return collective(c, IR_OP_ALL_REDUCE, x); }

ir_node *arch_all_gather(arch_ctx *c, ir_node *x) { return collective(c, IR_OP_ALL_GATHER, x); }
