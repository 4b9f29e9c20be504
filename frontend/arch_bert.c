/*
 * arch_bert.c: the encoders, whose graph is an embedding, not logits.
 *
 * bert and nomic-bert, from llama.cpp's src/models/bert.cpp (one graph for
 * both) for the same file. For the T tokens of one text, from position 0:
 *
 *   x = embed(token_embd, tokens) [+ token_types row 0] [+ embed(position_embd, positions)]
 *   x = layer_norm(x, token_embd_norm, + bias)
 *   for each layer:
 *     q, k, v = x·Wq (+b), x·Wk (+b), x·Wv (+b)      (or one attn_qkv)
 *     [q, k = rope(q), rope(k), neox halves]         (nomic-bert)
 *     a = attention(q, k, v), both ways unless {arch}.attention.causal · Wo (+b)
 *     x = layer_norm(a + x, attn_output_norm, + bias)
 *     f = down(gelu(up(x) + b) + b)                  (bert)
 *       or down(silu(gate(x)) · up(x))               (nomic-bert: no biases)
 *     x = layer_norm(f + x, layer_output_norm, + bias)
 *   output = pool(x) over the rows (mean, cls, last), or x itself (none)
 *
 * Post-norm: each sublayer's sum is normalised, and nothing follows the
 * last layer's. Token types are all 0 ("sentence A"), as llama.cpp has
 * them, so their embedding is one row added to every token. bert's
 * absolute positions come from position_embd, nomic-bert's from rope.
 *
 * The attention is non-causal where the file says so (llama.cpp's default
 * for a missing {arch}.attention.causal is causal, and so is ours), so the
 * runtime evaluates a text in one step from position 0: the keys a row
 * sees are then exactly the text's. The pooling type is
 * {arch}.pooling_type (llama.cpp: absent is none) unless the caller asks for
 * another; rank pooling (a classifier head) is refused. Normalising the
 * pooled vector is the caller's (llama.cpp's embd_normalize lives in its
 * tools, not its graph), so it is not in the graph either.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "frontend/arch.h"

/* the pooling type, llama.cpp's numbers (0 none, 1 mean, 2 cls, 3 last) */
static uint32_t pooling(arch_ctx *c)
{
    if (c->opt.pooling != RF_POOLING_MODEL)
        return (uint32_t)c->opt.pooling - 1;
    uint32_t p = 0;
    const char *key = arch_key(c, "pooling_type");
    if (arch_opt_u32(c, key, &p) == RF_OK && p > 3)
        arch_fail(c, RF_E_UNSUPPORTED, "%s: key '%s' is %" PRIu32 ": only pooling none (0), mean (1), cls (2) and "
                  "last (3) are supported (4, rank, needs a classifier head)", gguf_path(c->f), key, p);
    return p;
}

static bool causal(arch_ctx *c)
{
    bool v = true;
    arch_opt_bool(c, arch_key(c, "attention.causal"), &v);
    return v;
}

static ir_node *input(arch_ctx *c, ir_op op)
{
    int64_t tdim[1] = {IR_DIM_T};
    ir_type ti = ir_type_make(GGML_TYPE_I32, 1, tdim);
    ir_node *n = c->status == RF_OK ? ir_add(c->g, op, &ti, NULL, 0) : NULL;
    if (c->status == RF_OK && !n)
        arch_fail(c, RF_E_NOMEM, "out of memory");
    return n;
}

static ir_node *embed(arch_ctx *c, ir_node *table, ir_node *ids)
{
    if (!table || !ids || c->status != RF_OK)
        return NULL;
    int64_t edim[2] = {IR_DIM_T, c->hp.n_embd};
    ir_type te = ir_type_make(GGML_TYPE_F32, 2, edim);
    ir_node *in[2] = {table, ids};
    ir_node *n = ir_add(c->g, IR_OP_EMBED, &te, in, 2);
    if (!n)
        arch_fail(c, RF_E_NOMEM, "out of memory");
    return n;
}

/* row 0 of token_types.weight {n_embd, n_types} as an [n_embd] vector, or
 * NULL when the file has none */
static ir_node *type_row0(arch_ctx *c)
{
    const gguf_tensor *t = gguf_find_tensor(c->f, "token_types.weight");
    if (!t || c->status != RF_OK)
        return NULL;
    if (t->n_dims != 2 || t->ne[0] != c->hp.n_embd || t->ne[1] == 0) {
        arch_fail(c, RF_E_FORMAT, "%s: tensor 'token_types.weight' has shape {%" PRIu64 ", %" PRIu64
                  "}, expected {n_embd = %" PRIu32 ", n_token_types}", gguf_path(c->f), t->ne[0], t->ne[1],
                  c->hp.n_embd);
        return NULL;
    }
    if (t->type != GGML_TYPE_F32) { /* llama.cpp's quantize keeps it f32, as ours does */
        arch_fail(c, RF_E_UNSUPPORTED, "%s: tensor 'token_types.weight' has type %s; f32 is supported",
                  gguf_path(c->f), ggml_type_get(t->type)->name);
        return NULL;
    }
    int64_t dim[2] = {1, c->hp.n_embd};
    ir_node *w = ir_weight(c->g, "token_types.weight", t->type, 2, dim); /* row0 = 0: its first row */
    int64_t rdim[1] = {c->hp.n_embd};
    ir_type tr = ir_type_make(GGML_TYPE_F32, 1, rdim);
    ir_node *r = w ? ir_add(c->g, IR_OP_RESHAPE, &tr, &w, 1) : NULL;
    if (!r)
        arch_fail(c, RF_E_NOMEM, "out of memory");
    return r;
}

static ir_node *norm(arch_ctx *c, int il, ir_node *x, const char *name)
{
    char w[48], b[48];
    int64_t E = c->hp.n_embd;
    snprintf(w, sizeof w, "%s.weight", name);
    snprintf(b, sizeof b, "%s.bias", name);
    return arch_layer_norm(c, x, arch_weight(c, il, w, E, -1, 0, "n_embd"), arch_weight(c, il, b, E, -1, 0, "n_embd"));
}

static rf_status build_encoder(arch_ctx *c, bool nomic)
{
    const arch_hparams *hp = &c->hp;
    int64_t E = hp->n_embd, V = hp->n_vocab, D = hp->head_dim, nq = (int64_t)hp->n_head * hp->head_dim;
    uint32_t pool = pooling(c);
    bool noncausal = !causal(c);
    if (hp->n_expert > 1)
        return arch_fail(c, RF_E_UNSUPPORTED, "%s: key '%s' is %" PRIu32 ": experts are not supported for %s",
                         gguf_path(c->f), arch_key(c, "expert_count"), hp->n_expert, c->arch);
    if (arch_one_head_dim(c) != RF_OK)
        return c->status;
    c->g->model.embedding = 1;
    c->g->model.pooling = pool;

    c->tokens = input(c, IR_OP_INPUT_TOKENS);
    c->pos = input(c, IR_OP_INPUT_POS);
    c->tok_embd = arch_weight(c, -1, "token_embd.weight", E, V, 0, "n_embd, n_vocab");
    ir_node *x = embed(c, c->tok_embd, c->tokens);
    ir_node *types = type_row0(c);
    if (types)
        x = arch_binary(c, IR_OP_ADD, x, types);
    if (!nomic) {
        ir_node *pe = arch_weight(c, -1, "position_embd.weight", E, hp->n_ctx_train, 0, "n_embd, context_length");
        x = arch_binary(c, IR_OP_ADD, x, embed(c, pe, c->pos));
    }
    x = norm(c, -1, x, "token_embd_norm");

    /* the q/k/v and FFN tensors as arch_decoder reads them */
    arch_decoder d = {0};
    if (nomic) {
        d.ffn_glu = IR_OP_SWIGLU;
    } else {
        d.ffn_plain = true;
        d.ffn_act = IR_OP_GELU;
        d.bias_out = true;
    }
    for (uint32_t u = 0; u < hp->n_layer && c->status == RF_OK; u++) {
        int il = (int)u;
        ir_node *q, *k, *v;
        arch_qkv(c, &d, il, x, &q, &k, &v);
        if (nomic) {
            q = arch_rope(c, q, ARCH_ROPE_NEOX, NULL, hp->rope_base, hp->rope_freq_scale);
            k = arch_rope(c, k, ARCH_ROPE_NEOX, NULL, hp->rope_base, hp->rope_freq_scale);
        }
        ir_node *kc = arch_kv_store(c, k, il, 0);
        ir_node *vc = arch_kv_store(c, v, il, 1);
        ir_node *att = NULL;
        if (q && kc && vc && c->status == RF_OK) {
            int64_t dim[2] = {IR_DIM_T, nq};
            ir_type t = ir_type_make(GGML_TYPE_F32, 2, dim);
            ir_node *in[3] = {q, kc, vc};
            if (!(att = ir_add(c->g, IR_OP_ATTENTION, &t, in, 3)))
                arch_fail(c, RF_E_NOMEM, "out of memory");
            arch_set_i(att, "layer", il);
            arch_set_i(att, "noncausal", noncausal);
            arch_set_f(att, "scale", 1.0f / sqrtf((float)D));
        }
        ir_node *wo = arch_weight(c, il, "attn_output.weight", nq, E, 0, "n_head*head_dim, n_embd");
        ir_node *bo = arch_weight(c, il, "attn_output.bias", E, -1, ARCH_W_OPTIONAL, "n_embd");
        ir_node *a = arch_add_bias(c, arch_matmul(c, att, wo), bo);
        x = norm(c, il, arch_binary(c, IR_OP_ADD, a, x), "attn_output_norm");
        ir_node *f = arch_ffn(c, &d, il, x, "", hp->n_ff);
        x = norm(c, il, arch_binary(c, IR_OP_ADD, f, x), "layer_output_norm");
    }
    if (pool && x) {
        int64_t pdim[2] = {1, E};
        ir_type tp = ir_type_make(GGML_TYPE_F32, 2, pdim);
        x = arch_op1(c, IR_OP_POOL, &tp, x);
        arch_set_i(x, "type", pool);
    }
    arch_op1(c, IR_OP_OUTPUT, x ? &x->type : NULL, x);
    return c->status;
}

rf_status arch_build_bert(arch_ctx *c) { return build_encoder(c, false); }

rf_status arch_build_nomic_bert(arch_ctx *c) { return build_encoder(c, true); }
