/*
 * arch_decoder.c: one step of a pre-norm decoder-only transformer, as IR.
 *
 * Every architecture of the table is this graph with different switches
 * (arch_decoder in arch.h). For T tokens at positions P..P+T-1:
 *
 *   x = embed(token_embd, tokens)              [· sqrt(n_embd)] [· embed_mul]
 *   for each layer:
 *     h = rms_norm(x, attn_norm)                (olmo2: h = x)
 *     q, k, v = h·Wq (+b), h·Wk (+b), h·Wv (+b)   (Wq, Wk, Wv: maybe rows of one Wqkv)
 *     [q, k = rms_norm of the whole rows (olmo2)]
 *     [q, k = rms_norm per head (attn_q_norm, attn_k_norm)]
 *     q, k = rope(q), rope(k)                  (rope_freqs / long / short factors; smollm3: not every layer)
 *     [q = q · attention scale]
 *     a = attention(q, kv_store(k), kv_store(v) [, sinks]) · Wo (+b)
 *     x = x + [rms_norm(a, post_attention_norm)] a [· residual_mul]
 *     [last layer, last row only: x = last_rows(x) (a batch graph: the last O rows)]
 *     h = rms_norm(x, ffn_norm)                 (olmo2: h = x)
 *     f = glu(h·Wgate, h·Wup) · Wdown           (Wgate, Wup: maybe the halves of one Wup)
 *       or, with experts, f = Σ_j w_j · down_e(glu(gate_e(h), up_e(h))) over the
 *       experts e = ids_j the router chose [+ sigmoid(h·g) · shared FFN(h)]
 *     x = x + [rms_norm(f, post_ffw_norm)] f [· residual_mul]
 *   (starcoder2: LayerNorms with biases for the three pre-norms; an FFN
 *    without gate, down(gelu(up(h) + b) + b))
 *   (cohere2: a parallel block: the FFN reads attn_norm's output too, and
 *    x = (ffn(h) + x) + attention(h); LayerNorms without bias)
 *   (deepseek2: the latent attention of arch_deepseek2.c in place of the
 *    q/k/v heads, and the dense FFN in its first n_dense_lead layers)
 *   logits = rms_norm(x, output_norm) · Woutput (+b) [· logit_mul]   [softcap]
 *
 * A tensor-parallel rank's graph (import_options.tp_rank, tp_world) is the
 * same graph on its share (arch_tp.c): its heads' rows of Q/K/V, its
 * columns of O, its rows of gate/up and columns of down, each O and down
 * product's partial sum through all_reduce before its bias, and its rows
 * of the vocabulary through all_gather at the end. With one rank every
 * arch_tp_* call leaves its weight as it was and adds no node.
 *
 * A part of a split model (import_options.layer_begin, layer_end) is the
 * same graph for its layers only: the first part ends with output(x), the
 * residual rows of every token, and the second starts from them (`hidden`)
 * in place of the embedding.
 *
 * The last_rows cut sits one step after llama.cpp's output-row selection
 * (which follows the last layer's attention): after the attention's output
 * product and residual, so that layer's FFN and the output matmul run on
 * one row. Every op before it is row by row, so the last row is the same;
 * the output product then keeps the residual epilogue and the quantize-out
 * tail every other layer's has (prefill spends one n_embd x n_embd product
 * on rows it drops). The attention scale is an attribute of the
 * attention node, applied after the logit softcap (llama.cpp's non-flash
 * order, which the CPU backend follows). Where llama.cpp instead scales the
 * queries after rope and attends with scale 1 (phi3, gemma2, gemma3), so
 * does this graph (prescale_q): for gemma2 the softcap then sees the scaled
 * scores, as it must, and the rounding matches llama.cpp's everywhere.
 *
 * Node order is chosen for the fusion passes, which match adjacent
 * patterns: the Q/K/V (and gate/up) matmuls of one activation come before
 * their bias adds, and rope(q), rope(k), kv_store(k), kv_store(v) are
 * consecutive. Weights are checked against the shapes the hyperparameters
 * imply before any node uses them; the message names the tensor, its shape
 * and the expected one, in ggml's order {ne0, ne1}, with what they mean.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "frontend/arch.h"

/* ---- weights ------------------------------------------------------------ */

void arch_tensor_name(char *buf, size_t size, int layer, const char *base)
{
    if (layer >= 0)
        snprintf(buf, size, "blk.%d.%s", layer, base);
    else
        snprintf(buf, size, "%s", base);
}

bool arch_has_tensor(arch_ctx *c, int layer, const char *base)
{
    char name[128];
    arch_tensor_name(name, sizeof name, layer, base);
    return gguf_find_tensor(c->f, name) != NULL;
}

/* The weight "blk.{layer}.{base}" checked to be {ne[0], .., ne[rank-1]} */
static ir_node *weight_ne(arch_ctx *c, int layer, const char *base, const int64_t *ne, int rank, unsigned flags,
                          const char *dims)
{
    if (c->status != RF_OK)
        return NULL;
    char name[128];
    arch_tensor_name(name, sizeof name, layer, base);
    const gguf_tensor *t = gguf_find_tensor(c->f, name);
    if (!t) {
        if (!(flags & ARCH_W_OPTIONAL))
            arch_fail(c, RF_E_NOTFOUND, "%s: tensor '%s' not found (required for architecture %s)",
                      gguf_path(c->f), name, c->arch);
        return NULL;
    }
    uint64_t want[GGUF_MAX_DIMS] = {1, 1, 1, 1};
    for (int i = 0; i < rank; i++)
        want[i] = (uint64_t)ne[i];
    if (memcmp(t->ne, want, sizeof want) != 0) {
        char got[96], exp[64];
        snprintf(got, sizeof got, "{%" PRIu64, t->ne[0]);
        for (uint32_t i = 1; i < t->n_dims; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), ", %" PRIu64, t->ne[i]);
        snprintf(got + strlen(got), sizeof got - strlen(got), "}");
        snprintf(exp, sizeof exp, "{%" PRId64, ne[0]);
        for (int i = 1; i < rank; i++)
            snprintf(exp + strlen(exp), sizeof exp - strlen(exp), ", %" PRId64, ne[i]);
        snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "}");
        arch_fail(c, RF_E_FORMAT, "%s: tensor '%s' has shape %s, expected %s = {%s}", gguf_path(c->f), name, got, exp,
                  dims);
        return NULL;
    }
    int64_t dim[3];
    for (int i = 0; i < rank; i++)
        dim[i] = ne[rank - 1 - i]; /* outermost first */
    ir_node *n = ir_weight(c->g, name, t->type, (uint8_t)rank, dim);
    if (!n)
        arch_fail(c, RF_E_NOMEM, "out of memory");
    return n;
}

ir_node *arch_weight(arch_ctx *c, int layer, const char *base, int64_t ne0, int64_t ne1, unsigned flags,
                     const char *dims)
{
    const int64_t ne[2] = {ne0, ne1};
    return weight_ne(c, layer, base, ne, ne1 < 0 ? 1 : 2, flags, dims);
}

ir_node *arch_weight3(arch_ctx *c, int layer, const char *base, int64_t ne0, int64_t ne1, int64_t ne2,
                      unsigned flags, const char *dims)
{
    const int64_t ne[3] = {ne0, ne1, ne2};
    return weight_ne(c, layer, base, ne, 3, flags, dims);
}

/* The products of the parts are then separate matmuls of one activation,
 * as with separate tensors, and no slice copies their columns apart. */
void arch_weight_rows(arch_ctx *c, ir_node *w, int n, const int64_t *len, ir_node **out)
{
    int64_t row0 = 0;
    for (int i = 0; i < n; i++) {
        out[i] = NULL;
        if (!w || c->status != RF_OK)
            continue;
        if (i == 0) {
            out[i] = w;
        } else if (!(out[i] = ir_weight(c->g, w->name, w->type.elem, w->type.rank, w->type.dim))) {
            arch_fail(c, RF_E_NOMEM, "out of memory");
            continue;
        }
        out[i]->type.dim[0] = len[i];
        out[i]->ia[0] = row0;
        row0 += len[i];
    }
}

/* ---- nodes --------------------------------------------------------------- */

static ir_node *add(arch_ctx *c, ir_op op, const ir_type *t, ir_node *a, ir_node *b, ir_node *d)
{
    if (c->status != RF_OK)
        return NULL;
    ir_node *in[3] = {a, b, d};
    uint8_t n_in = d ? 3 : b ? 2 : a ? 1 : 0;
    ir_node *n = ir_add(c->g, op, t, in, n_in);
    if (!n)
        arch_fail(c, RF_E_NOMEM, "out of memory");
    return n;
}

void arch_set_i(ir_node *n, const char *attr, int64_t v)
{
    if (!n)
        return;
    int slot = ir_op_iattr(n->op, attr);
    RF_ASSERT(slot >= 0);
    n->ia[slot] = v;
}

void arch_set_f(ir_node *n, const char *attr, double v)
{
    if (!n)
        return;
    int slot = ir_op_fattr(n->op, attr);
    RF_ASSERT(slot >= 0);
    n->fa[slot] = v;
}

static ir_type f32_like(const ir_type *t)
{
    ir_type r = *t;
    r.elem = GGML_TYPE_F32;
    return r;
}

ir_node *arch_op1(arch_ctx *c, ir_op op, const ir_type *t, ir_node *a)
{
    return a ? add(c, op, t, a, NULL, NULL) : NULL;
}

ir_node *arch_op2(arch_ctx *c, ir_op op, const ir_type *t, ir_node *a, ir_node *b)
{
    return a && b ? add(c, op, t, a, b, NULL) : NULL;
}

ir_node *arch_rms_norm(arch_ctx *c, ir_node *x, ir_node *w)
{
    if (!x)
        return NULL;
    ir_node *n = add(c, IR_OP_RMS_NORM, &x->type, x, w, NULL);
    arch_set_f(n, "eps", c->hp.rms_eps);
    return n;
}

ir_node *arch_layer_norm(arch_ctx *c, ir_node *x, ir_node *w, ir_node *b)
{
    if (!x)
        return NULL;
    ir_node *n = add(c, IR_OP_LAYER_NORM, &x->type, x, w, w ? b : NULL);
    arch_set_f(n, "eps", c->hp.rms_eps);
    return n;
}

/* the pre-norm NAME ("attn_norm", "ffn_norm", "output_norm") of layer il
 * (-1: the model's): an RMSNorm, or a LayerNorm with NAME.bias */
static ir_node *pre_norm(arch_ctx *c, const arch_decoder *d, int il, ir_node *x, const char *name)
{
    char w[48], b[48];
    int64_t E = c->hp.n_embd;
    snprintf(w, sizeof w, "%s.weight", name);
    if (!d->layer_norm)
        return arch_rms_norm(c, x, arch_weight(c, il, w, E, -1, 0, "n_embd"));
    snprintf(b, sizeof b, "%s.bias", name);
    return arch_layer_norm(c, x, arch_weight(c, il, w, E, -1, 0, "n_embd"),
                           arch_weight(c, il, b, E, -1, ARCH_W_OPTIONAL, "n_embd"));
}

ir_node *arch_matmul(arch_ctx *c, ir_node *x, ir_node *w)
{
    if (!x || !w)
        return NULL;
    ir_type t = f32_like(&x->type);
    t.dim[t.rank - 1] = w->type.dim[0];
    return add(c, IR_OP_MATMUL, &t, x, w, NULL);
}

ir_node *arch_binary(arch_ctx *c, ir_op op, ir_node *a, ir_node *b)
{
    return a && b ? add(c, op, &a->type, a, b, NULL) : NULL;
}

ir_node *arch_add_bias(arch_ctx *c, ir_node *x, ir_node *b)
{
    return b ? arch_binary(c, IR_OP_ADD, x, b) : x;
}

ir_node *arch_scale(arch_ctx *c, ir_node *x, double s)
{
    ir_node *n = arch_op1(c, IR_OP_SCALE, x ? &x->type : NULL, x);
    arch_set_f(n, "s", s);
    return n;
}

ir_node *arch_softcap(arch_ctx *c, ir_node *x, double cap)
{
    ir_node *n = arch_op1(c, IR_OP_SOFTCAP, x ? &x->type : NULL, x);
    arch_set_f(n, "cap", cap);
    return n;
}

ir_node *arch_heads(arch_ctx *c, ir_node *x, uint32_t n_head, uint32_t head_dim)
{
    if (!x)
        return NULL;
    int64_t dim[3] = {x->type.dim[0], n_head, head_dim};
    ir_type t = ir_type_make(GGML_TYPE_F32, 3, dim);
    return add(c, IR_OP_RESHAPE, &t, x, NULL, NULL);
}

ir_node *arch_last_rows(arch_ctx *c, ir_node *x, int64_t n)
{
    if (!x)
        return NULL;
    ir_type t = x->type;
    t.dim[0] = n;
    ir_node *r = add(c, IR_OP_LAST_ROWS, &t, x, NULL, NULL);
    arch_set_i(r, "n", n);
    return r;
}

/* ---- the layer ------------------------------------------------------------ */

typedef struct layer_rope {
    ir_node *freqs; /* [n_rot/2] or NULL */
    double base, freq_scale;
} layer_rope;

ir_node *arch_rope(arch_ctx *c, ir_node *x, int mode, ir_node *freqs, double base, double freq_scale)
{
    if (!x)
        return NULL;
    const arch_hparams *hp = &c->hp;
    ir_node *n = add(c, IR_OP_ROPE, &x->type, x, c->pos, freqs);
    arch_set_i(n, "n_rot", hp->n_rot);
    arch_set_i(n, "mode", mode);
    arch_set_f(n, "base", base);
    arch_set_f(n, "freq_scale", freq_scale);
    arch_set_f(n, "ext_factor", hp->rope_ext_factor);
    arch_set_f(n, "attn_factor", hp->rope_attn_factor);
    arch_set_f(n, "beta_fast", hp->rope_beta_fast);
    arch_set_f(n, "beta_slow", hp->rope_beta_slow);
    return n;
}

static ir_node *rope(arch_ctx *c, const arch_decoder *d, ir_node *x, const layer_rope *r)
{
    return arch_rope(c, x, d->rope_mode, r->freqs, r->base, r->freq_scale);
}

ir_node *arch_kv_store(arch_ctx *c, ir_node *x, int layer, int kv)
{
    if (!x)
        return NULL;
    ir_type t = x->type;
    t.dim[0] = IR_DIM_PT;
    ir_node *n = add(c, IR_OP_KV_STORE, &t, x, NULL, NULL);
    arch_set_i(n, "layer", layer);
    arch_set_i(n, "kv", kv);
    return n;
}

/* the rows of this rank's heads of the q, k and v weights (or biases) w[3] */
static void qkv_share(arch_ctx *c, ir_node *const *w)
{
    int64_t D = c->hp.head_dim;
    arch_tp_rows(c, w[0], c->tp.head0 * D, c->tp.n_head * D);
    arch_tp_rows(c, w[1], c->tp.kv_head0 * D, c->tp.n_head_kv * D);
    arch_tp_rows(c, w[2], c->tp.kv_head0 * D, c->tp.n_head_kv * D);
}

ir_node *arch_attention(arch_ctx *c, ir_node *q, ir_node *kc, ir_node *vc, ir_node *sinks, int layer)
{
    if (!q || !kc || !vc || c->status != RF_OK)
        return NULL;
    int64_t dim[2] = {IR_DIM_T, q->type.dim[1] * vc->type.dim[2]};
    ir_type t = ir_type_make(GGML_TYPE_F32, 2, dim);
    ir_node *in[4] = {q, kc, vc, sinks};
    ir_node *att = ir_add(c->g, IR_OP_ATTENTION, &t, in, sinks ? 4 : 3);
    if (!att)
        arch_fail(c, RF_E_NOMEM, "out of memory");
    arch_set_i(att, "layer", layer);
    return att;
}

/* h → q[T,H,D], k, v[T,Hkv,D]: separate projections or one fused attn_qkv
 * (then, for olmo2, the whole q and k rows normalised) */
void arch_qkv(arch_ctx *c, const arch_decoder *d, int il, ir_node *h, ir_node **q, ir_node **k, ir_node **v)
{
    const arch_hparams *hp = &c->hp;
    int64_t E = hp->n_embd, nq = (int64_t)hp->n_head * hp->head_dim, nk = (int64_t)hp->n_head_kv * hp->head_dim;
    if (arch_has_tensor(c, il, "attn_qkv.weight")) {
        const char *rows = "(n_head + 2*n_head_kv)*head_dim";
        char dims[64];
        snprintf(dims, sizeof dims, "n_embd, %s", rows);
        /* the q, k and v rows of the fused tensor, as if they were three */
        const int64_t len[3] = {nq, nk, nk};
        ir_node *w[3], *b[3];
        arch_weight_rows(c, arch_weight(c, il, "attn_qkv.weight", E, nq + 2 * nk, 0, dims), 3, len, w);
        arch_weight_rows(c, arch_weight(c, il, "attn_qkv.bias", nq + 2 * nk, -1, ARCH_W_OPTIONAL, rows), 3, len, b);
        qkv_share(c, w);
        qkv_share(c, b);
        *q = arch_matmul(c, h, w[0]);
        *k = arch_matmul(c, h, w[1]);
        *v = arch_matmul(c, h, w[2]);
        *q = arch_add_bias(c, *q, b[0]);
        *k = arch_add_bias(c, *k, b[1]);
        *v = arch_add_bias(c, *v, b[2]);
    } else {
        /* the three matmuls first, then their biases: adjacent matmuls of one
         * activation are what fuse-qkv groups */
        ir_node *wq = arch_weight(c, il, "attn_q.weight", E, nq, 0, "n_embd, n_head*head_dim");
        ir_node *wk = arch_weight(c, il, "attn_k.weight", E, nk, 0, "n_embd, n_head_kv*head_dim");
        ir_node *wv = arch_weight(c, il, "attn_v.weight", E, nk, 0, "n_embd, n_head_kv*head_dim");
        ir_node *bq = arch_weight(c, il, "attn_q.bias", nq, -1, ARCH_W_OPTIONAL, "n_head*head_dim");
        ir_node *bk = arch_weight(c, il, "attn_k.bias", nk, -1, ARCH_W_OPTIONAL, "n_head_kv*head_dim");
        ir_node *bv = arch_weight(c, il, "attn_v.bias", nk, -1, ARCH_W_OPTIONAL, "n_head_kv*head_dim");
        qkv_share(c, (ir_node *[3]){wq, wk, wv});
        qkv_share(c, (ir_node *[3]){bq, bk, bv});
        *q = arch_matmul(c, h, wq);
        *k = arch_matmul(c, h, wk);
        *v = arch_matmul(c, h, wv);
        *q = arch_add_bias(c, *q, bq);
        *k = arch_add_bias(c, *k, bk);
        *v = arch_add_bias(c, *v, bv);
    }
    if (d->qk_norm_rows) {
        *q = arch_rms_norm(c, *q, arch_weight(c, il, "attn_q_norm.weight", nq, -1, 0, "n_head*head_dim"));
        *k = arch_rms_norm(c, *k, arch_weight(c, il, "attn_k_norm.weight", nk, -1, 0, "n_head_kv*head_dim"));
    }
    *q = arch_heads(c, *q, c->tp.n_head, hp->head_dim);
    *k = arch_heads(c, *k, c->tp.n_head_kv, hp->head_dim);
    *v = arch_heads(c, *v, c->tp.n_head_kv, hp->head_dim);
}

/* "ffn_{part}{sfx}.{kind}" of layer il: the FFN's tensors, or the shared
 * expert's (sfx "_shexp") */
static ir_node *ffn_w(arch_ctx *c, int il, const char *part, const char *sfx, const char *kind, int64_t ne0,
                      int64_t ne1, unsigned flags, const char *dims)
{
    char name[64];
    snprintf(name, sizeof name, "ffn_%s%s.%s", part, sfx, kind);
    return arch_weight(c, il, name, ne0, ne1, flags, dims);
}

/* The dense FFN of width F on h, through its down product: a
 * tensor-parallel rank's partial sum of it (the whole of it on a whole
 * model), and in *bias down's bias (NULL: none), for after the ranks'
 * sum: ffn_* (sfx ""), or the shared expert's ffn_*_shexp (sfx "_shexp") */
static ir_node *ffn_partial(arch_ctx *c, const arch_decoder *d, int il, ir_node *h, const char *sfx, int64_t F,
                            ir_node **bias)
{
    const arch_hparams *hp = &c->hp;
    int64_t E = hp->n_embd;
    unsigned ob = d->bias_out ? ARCH_W_OPTIONAL : 0;
    int64_t f0, fn; /* this rank's columns of the FFN (arch_tp.c) */
    char down[32];
    *bias = NULL;
    snprintf(down, sizeof down, "ffn_down%s.weight", sfx);
    if (arch_tp_share_ffn(c, il, down, *sfx ? "the shared expert's FFN width n_ff_shexp" : "the FFN width n_ff", F,
                          &f0, &fn) != RF_OK)
        return NULL;
    ir_node *a;
    if (d->ffn_plain) { /* up, the activation, down */
        ir_node *wu = arch_tp_rows(c, ffn_w(c, il, "up", sfx, "weight", E, F, 0, "n_embd, n_ff"), f0, fn);
        ir_node *bu = arch_tp_rows(c, ob ? ffn_w(c, il, "up", sfx, "bias", F, -1, ob, "n_ff") : NULL, f0, fn);
        a = arch_add_bias(c, arch_matmul(c, h, wu), bu);
        a = arch_op1(c, d->ffn_act, a ? &a->type : NULL, a);
    } else {
        ir_node *g, *u;
        if (d->ffn_fused_gate_up) {
            /* gate rows, then up rows (phi3's order) */
            const int64_t len[2] = {F, F};
            ir_node *w[2];
            arch_weight_rows(c, ffn_w(c, il, "up", sfx, "weight", E, 2 * F, 0, "n_embd, 2*n_ff"), 2, len, w);
            g = arch_matmul(c, h, arch_tp_rows(c, w[0], f0, fn));
            u = arch_matmul(c, h, arch_tp_rows(c, w[1], f0, fn));
        } else {
            ir_node *wg = arch_tp_rows(c, ffn_w(c, il, "gate", sfx, "weight", E, F, 0, "n_embd, n_ff"), f0, fn);
            ir_node *wu = arch_tp_rows(c, ffn_w(c, il, "up", sfx, "weight", E, F, 0, "n_embd, n_ff"), f0, fn);
            ir_node *bg = arch_tp_rows(c, ob ? ffn_w(c, il, "gate", sfx, "bias", F, -1, ob, "n_ff") : NULL, f0, fn);
            ir_node *bu = arch_tp_rows(c, ob ? ffn_w(c, il, "up", sfx, "bias", F, -1, ob, "n_ff") : NULL, f0, fn);
            g = arch_matmul(c, h, wg);
            u = arch_matmul(c, h, wu);
            g = arch_add_bias(c, g, bg);
            u = arch_add_bias(c, u, bu);
        }
        a = arch_binary(c, d->ffn_glu, g, u);
    }
    ir_node *wd = arch_tp_cols(c, ffn_w(c, il, "down", sfx, "weight", F, E, 0, "n_ff, n_embd"), f0, fn);
    *bias = ob ? ffn_w(c, il, "down", sfx, "bias", E, -1, ob, "n_embd") : NULL;
    return arch_matmul(c, a, wd);
}

/* the dense FFN of width F on h (ffn_partial's) */
ir_node *arch_ffn(arch_ctx *c, const arch_decoder *d, int il, ir_node *h, const char *sfx, int64_t F)
{
    ir_node *bd = NULL, *y = ffn_partial(c, d, il, h, sfx, F, &bd);
    /* the ranks' partial sums meet before the bias, which is added once */
    return arch_add_bias(c, arch_all_reduce(c, y), bd);
}

/* x[rows,K] or x[rows,k,K] through the experts ids[rows,k] of w[n_expert,N,K]
 * (plus their rows of bias b[n_expert,N], when given) */
static ir_node *matmul_id(arch_ctx *c, ir_node *x, ir_node *w, ir_node *ids, ir_node *b)
{
    if (c->status != RF_OK || !x || !w || !ids)
        return NULL;
    int64_t dim[3] = {ids->type.dim[0], ids->type.dim[1], w->type.dim[1]};
    ir_type t = ir_type_make(GGML_TYPE_F32, 3, dim);
    ir_node *in[4] = {x, w, ids, b};
    ir_node *n = ir_add(c->g, IR_OP_MATMUL_ID, &t, in, b ? 4 : 3);
    if (!n)
        arch_fail(c, RF_E_NOMEM, "out of memory");
    return n;
}

/* The experts' FFN on h[rows,E], as llama.cpp's build_moe_ffn: the
 * router's softmax (or sigmoid: moe_sigmoid) over the experts, the
 * n_expert_used largest (their probabilities the weights, normalised to
 * sum 1 if moe_norm_w, times moe_w_scale; deepseek chooses by the
 * probabilities plus exp_probs_b and among its best expert groups only),
 * or (moe_softmax_chosen, gpt-oss) the largest logits weighed by their own
 * softmax; each chosen expert's gate/up (+ its bias rows, moe_bias), the
 * GLU, down (+ bias), the weighted sum; then (moe_shared) the shared
 * expert's FFN times sigmoid(h·ffn_gate_inp_shexp) added. */
static ir_node *moe_ffn(arch_ctx *c, const arch_decoder *d, int il, ir_node *h)
{
    const arch_hparams *hp = &c->hp;
    int64_t E = hp->n_embd, F = hp->n_ff_exp, X = hp->n_expert, K = hp->n_expert_used;
    if (!h)
        return NULL;
    int64_t f0, fn; /* this rank's columns of every expert's FFN (arch_tp.c) */
    if (arch_tp_share_ffn(c, il, "ffn_down_exps.weight", "the experts' FFN width n_ff_exp", F, &f0, &fn) != RF_OK)
        return NULL;
    ir_node *router = arch_weight(c, il, "ffn_gate_inp.weight", E, X, 0, "n_embd, n_expert");
    ir_node *wg = arch_tp_mid(c, arch_weight3(c, il, "ffn_gate_exps.weight", E, F, X, 0, "n_embd, n_ff_exp, n_expert"),
                              f0, fn);
    ir_node *wu = arch_tp_mid(c, arch_weight3(c, il, "ffn_up_exps.weight", E, F, X, 0, "n_embd, n_ff_exp, n_expert"),
                              f0, fn);
    ir_node *wd = arch_tp_cols(c, arch_weight3(c, il, "ffn_down_exps.weight", F, E, X, 0, "n_ff_exp, n_embd, n_expert"),
                               f0, fn);
    ir_node *bg = NULL, *bu = NULL, *bd = NULL, *br = NULL;
    if (d->moe_bias) {
        br = arch_weight(c, il, "ffn_gate_inp.bias", X, -1, 0, "n_expert");
        bg = arch_tp_cols(c, arch_weight(c, il, "ffn_gate_exps.bias", F, X, 0, "n_ff_exp, n_expert"), f0, fn);
        bu = arch_tp_cols(c, arch_weight(c, il, "ffn_up_exps.bias", F, X, 0, "n_ff_exp, n_expert"), f0, fn);
        bd = arch_weight(c, il, "ffn_down_exps.bias", E, X, 0, "n_embd, n_expert");
        /* the ranks' partial sums meet after the weighted sum: one rank adds
         * it (the node is made on every rank all the same, so that the
         * ranks' graphs number their nodes alike; the passes drop it) */
        bd = c->tp.rank == 0 ? bd : NULL;
    }
    ir_node *logits = arch_add_bias(c, arch_matmul(c, h, router), br);
    ir_op gating = d->moe_sigmoid ? IR_OP_SIGMOID : IR_OP_SOFTMAX;
    ir_node *p = d->moe_softmax_chosen ? logits : arch_op1(c, gating, logits ? &logits->type : NULL, logits);
    /* the experts are chosen by p plus exp_probs_b where there is one, and
     * among the best groups' only where they are grouped; weighed by p */
    ir_node *sel = p;
    if (d->moe_probs_bias)
        sel = arch_add_bias(c, p, arch_weight(c, il, "exp_probs_b.bias", X, -1, ARCH_W_OPTIONAL, "n_expert"));
    if (d->moe_groups > 1) {
        sel = arch_op1(c, IR_OP_GROUP_MASK, sel ? &sel->type : NULL, sel);
        arch_set_i(sel, "groups", d->moe_groups);
        arch_set_i(sel, "used", d->moe_groups_used);
    }
    int64_t kd[2] = {h->type.dim[0], K};
    ir_type ti = ir_type_make(GGML_TYPE_I32, 2, kd), tw = ir_type_make(GGML_TYPE_F32, 2, kd);
    ir_node *ids = arch_op1(c, IR_OP_TOPK, &ti, sel);
    arch_set_i(ids, "k", K);
    ir_node *w = p && ids ? add(c, IR_OP_MOE_WEIGHTS, &tw, p, ids, NULL) : NULL;
    arch_set_i(w, "norm", d->moe_softmax_chosen ? 2 : d->moe_norm_w);
    arch_set_f(w, "scale", d->moe_w_scale);
    ir_node *g = matmul_id(c, h, wg, ids, bg);
    ir_node *u = matmul_id(c, h, wu, ids, bu);
    ir_node *a = arch_binary(c, d->ffn_glu, g, u);
    if (d->ffn_glu == IR_OP_SWIGLU_OAI) {
        arch_set_f(a, "alpha", d->glu_alpha);
        arch_set_f(a, "limit", d->glu_limit);
    }
    ir_node *y = matmul_id(c, a, wd, ids, bd);
    ir_node *f = NULL;
    if (y && w) {
        int64_t od[2] = {h->type.dim[0], E};
        ir_type to = ir_type_make(GGML_TYPE_F32, 2, od);
        f = add(c, IR_OP_MOE_SUM, &to, y, w, NULL);
    }
    /* a tensor-parallel rank's f is its partial sum: the ranks' meet in an
     * all_reduce, one for the routed and the shared expert's together */
    if (!d->moe_shared && !d->moe_shared_plain)
        return arch_all_reduce(c, f);
    ir_node *sg = NULL; /* qwen2moe's gate of the shared expert; granitemoe's is ungated */
    if (d->moe_shared) {
        ir_node *sw = arch_weight(c, il, "ffn_gate_inp_shexp.weight", E, 1, 0, "n_embd");
        sg = arch_matmul(c, h, sw);
        sg = arch_op1(c, IR_OP_SIGMOID, sg ? &sg->type : NULL, sg);
    }
    ir_node *sbd = NULL, *se = ffn_partial(c, d, il, h, "_shexp", hp->n_ff_shexp, &sbd);
    if (sbd) { /* its bias after the ranks' sum: a sum of its own */
        se = arch_add_bias(c, arch_all_reduce(c, se), sbd);
        f = arch_all_reduce(c, f);
    }
    if (d->moe_shared)
        se = se && sg ? add(c, IR_OP_SCALE_ROWS, &se->type, se, sg, NULL) : NULL;
    ir_node *sum = arch_binary(c, IR_OP_ADD, f, se);
    return sbd ? sum : arch_all_reduce(c, sum);
}

/* the attention of layer il on h, through its output product (+ bias) */
static ir_node *attention(arch_ctx *c, const arch_decoder *d, int il, ir_node *h, const layer_rope *r)
{
    const arch_hparams *hp = &c->hp;
    int64_t E = hp->n_embd, D = hp->head_dim, nq = (int64_t)c->tp.n_head * hp->head_dim; /* this rank's heads */
    bool swa = d->swa && d->swa[il];
    if (d->mla)
        return arch_mla_attention(c, d->mla, il, h, r->base, r->freq_scale);
    ir_node *q, *k, *v;
    arch_qkv(c, d, il, h, &q, &k, &v);
    if (d->qk_norm) {
        q = arch_rms_norm(c, q, arch_weight(c, il, "attn_q_norm.weight", D, -1, 0, "head_dim"));
        k = arch_rms_norm(c, k, arch_weight(c, il, "attn_k_norm.weight", D, -1, 0, "head_dim"));
    }
    /* rope q, rope k, store k, store v adjacent: fuse-rope-kv's pattern */
    bool roped = d->rope_swa_only ? swa : !d->no_rope_every || (il + 1) % d->no_rope_every != 0;
    if (roped) {
        q = rope(c, d, q, r);
        k = rope(c, d, k, r);
    }
    ir_node *kc = arch_kv_store(c, k, il, 0);
    ir_node *vc = arch_kv_store(c, v, il, 1);
    double scale = d->attn_scale > 0 ? d->attn_scale : 1.0f / sqrtf((float)D);
    if (d->prescale_q) {
        q = arch_scale(c, q, scale);
        scale = 1.0;
    }
    ir_node *sinks = d->attn_sinks ? arch_weight(c, il, "attn_sinks.weight", hp->n_head, -1, 0, "n_head") : NULL;
    arch_tp_rows(c, sinks, c->tp.head0, c->tp.n_head);
    ir_node *att = arch_attention(c, q, kc, vc, sinks, il);
    arch_set_i(att, "window", swa ? d->n_swa : 0);
    arch_set_f(att, "scale", scale);
    arch_set_f(att, "softcap", d->attn_softcap);
    ir_node *wo = arch_weight(c, il, "attn_output.weight", (int64_t)hp->n_head * D, E, 0, "n_head*head_dim, n_embd");
    wo = arch_tp_cols(c, wo, c->tp.head0 * D, nq);
    ir_node *bo = d->bias_out ? arch_weight(c, il, "attn_output.bias", E, -1, ARCH_W_OPTIONAL, "n_embd") : NULL;
    /* the ranks' partial sums meet before the bias, which is added once */
    return arch_add_bias(c, arch_all_reduce(c, arch_matmul(c, att, wo)), bo);
}

static ir_node *layer(arch_ctx *c, const arch_decoder *d, int il, ir_node *x, const layer_rope *r)
{
    const arch_hparams *hp = &c->hp;
    int64_t E = hp->n_embd;
    ir_node *h = d->no_pre_norms ? x : pre_norm(c, d, il, x, "attn_norm");
    ir_node *a = attention(c, d, il, h, r);
    if (d->post_norms)
        a = arch_rms_norm(c, a, arch_weight(c, il, "post_attention_norm.weight", E, -1, 0, "n_embd"));
    if (d->residual_mul != 0)
        a = arch_scale(c, a, d->residual_mul);
    bool last = !c->opt.all_logits && il + 1 == (int)hp->n_layer;
    int64_t out_rows = c->opt.out_rows ? IR_DIM_O : 1;
    if (d->parallel) { /* cohere2: the FFN reads attn_norm's output too; (ffn + x) + attention, llama.cpp's order */
        if (last) {
            h = arch_last_rows(c, h, out_rows);
            x = arch_last_rows(c, x, out_rows);
            a = arch_last_rows(c, a, out_rows);
        }
        ir_node *f = arch_ffn(c, d, il, h, "", hp->n_ff);
        return arch_binary(c, IR_OP_ADD, arch_binary(c, IR_OP_ADD, f, x), a);
    }
    x = arch_binary(c, IR_OP_ADD, a, x);
    if (last)
        x = arch_last_rows(c, x, out_rows);

    h = d->no_pre_norms ? x : pre_norm(c, d, il, x, d->ffn_norm_name ? d->ffn_norm_name : "ffn_norm");
    bool dense = hp->n_expert <= 1 || (uint32_t)il < d->n_dense_lead;
    ir_node *f = dense ? arch_ffn(c, d, il, h, "", hp->n_ff) : moe_ffn(c, d, il, h);
    if (d->post_norms)
        f = arch_rms_norm(c, f, arch_weight(c, il, "post_ffw_norm.weight", E, -1, 0, "n_embd"));
    if (d->residual_mul != 0)
        f = arch_scale(c, f, d->residual_mul);
    return arch_binary(c, IR_OP_ADD, f, x);
}

/* the model-wide rope frequency factors, or NULL */
static ir_node *rope_factors(arch_ctx *c, const arch_decoder *d)
{
    int64_t half = c->hp.n_rot / 2;
    if (d->rope_freqs)
        return arch_weight(c, -1, "rope_freqs.weight", half, -1, ARCH_W_OPTIONAL, "rope dimension/2");
    if (d->rope_long_short) {
        /* llama.cpp: long factors when the context exceeds the original one */
        uint32_t n_ctx = c->opt.n_ctx ? c->opt.n_ctx : c->hp.n_ctx_train;
        const char *name = n_ctx > c->hp.rope_n_ctx_orig ? "rope_factors_long.weight" : "rope_factors_short.weight";
        return arch_weight(c, -1, name, half, -1, ARCH_W_OPTIONAL, "rope dimension/2");
    }
    return NULL;
}

rf_status arch_swa(arch_ctx *c, arch_decoder *d, uint32_t n_swa, uint32_t period, float base_swa)
{
    d->n_swa = n_swa;
    d->rope_base_swa = base_swa;
    arch_opt_u32(c, arch_key(c, "attention.sliding_window"), &d->n_swa);
    arch_opt_f32(c, arch_key(c, "rope.freq_base_swa"), &d->rope_base_swa);
    d->swa = arch_swa_layers(c, period);
    d->rope_freq_scale_swa = c->hp.rope_freq_scale;
    return c->status;
}

rf_status arch_decoder_build(arch_ctx *c, const arch_decoder *d)
{
    const arch_hparams *hp = &c->hp;
    if (hp->n_expert > 1 && !d->moe)
        return arch_fail(c, RF_E_UNSUPPORTED, "%s: key '%s' is %" PRIu32 ": mixture-of-experts layers are not supported "
                         "for architecture %s (they are for llama, granitemoe, qwen2moe, qwen3moe, olmoe, "
                         "gpt-oss and deepseek2)", gguf_path(c->f),
                         arch_key(c, "expert_count"), hp->n_expert, c->arch);
    if (arch_tp_plan(c, d) != RF_OK || (!d->mla && arch_one_head_dim(c) != RF_OK))
        return c->status;
    int64_t E = hp->n_embd, V = hp->n_vocab;
    int64_t tdim[1] = {IR_DIM_T};
    ir_type ti = ir_type_make(GGML_TYPE_I32, 1, tdim);
    c->tokens = add(c, IR_OP_INPUT_TOKENS, &ti, NULL, NULL, NULL);
    c->pos = add(c, IR_OP_INPUT_POS, &ti, NULL, NULL, NULL);
    c->tok_embd = arch_weight(c, -1, "token_embd.weight", E, V, 0, "n_embd, n_vocab");
    int64_t edim[2] = {IR_DIM_T, E};
    ir_type te = ir_type_make(GGML_TYPE_F32, 2, edim);
    ir_node *x = NULL;
    uint32_t begin = c->opt.layer_begin, end = c->opt.layer_end ? c->opt.layer_end : hp->n_layer;
    if (begin > 0) { /* a later part of a split model: from the earlier part's rows */
        x = add(c, IR_OP_INPUT_HIDDEN, &te, NULL, NULL, NULL);
    } else if (c->tok_embd && c->tokens) {
        x = add(c, IR_OP_EMBED, &te, c->tok_embd, c->tokens, NULL);
        if (d->embed_scale)
            x = arch_scale(c, x, sqrtf((float)hp->n_embd)); /* llama.cpp scales by the f32 sqrtf */
        if (d->embed_mul != 0)
            x = arch_scale(c, x, d->embed_mul);
    }

    ir_node *freqs = rope_factors(c, d);
    for (uint32_t il = begin; il < end && c->status == RF_OK; il++) {
        bool swa = d->swa && d->swa[il];
        layer_rope r = {freqs, swa ? d->rope_base_swa : hp->rope_base,
                        swa ? d->rope_freq_scale_swa : hp->rope_freq_scale};
        x = layer(c, d, (int)il, x, &r);
    }
    if (end < hp->n_layer) { /* an earlier part: its rows are the next part's input */
        arch_op1(c, IR_OP_OUTPUT, x ? &x->type : NULL, x);
        return c->status;
    }

    x = pre_norm(c, d, -1, x, "output_norm");
    ir_node *wout = NULL;
    if (!d->output_always_tied)
        wout = arch_weight(c, -1, "output.weight", E, V, ARCH_W_OPTIONAL, "n_embd, n_vocab");
    /* a tensor-parallel rank: its rows of the vocabulary, every rank's joined at the end */
    ir_node *logits = arch_matmul(c, x, arch_tp_vocab(c, wout ? wout : c->tok_embd));
    if (d->bias_logits)
        logits = arch_add_bias(
            c, logits, arch_tp_vocab(c, arch_weight(c, -1, "output.bias", V, -1, ARCH_W_OPTIONAL, "n_vocab")));
    if (d->logit_mul != 0)
        logits = arch_scale(c, logits, d->logit_mul);
    if (d->final_softcap > 0)
        logits = arch_softcap(c, logits, d->final_softcap);
    logits = arch_all_gather(c, logits);
    arch_op1(c, IR_OP_OUTPUT, logits ? &logits->type : NULL, logits);
    return c->status;
}
