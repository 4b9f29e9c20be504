/*
 * arch_deepseek2.c: deepseek2 (DeepSeek-V2, V2-Lite, V3 and the models
 * converted as they are), from llama.cpp's src/models/deepseek2.cpp for the
 * same file. The decoder is arch_decoder's (RMSNorms, adjacent-pair rope,
 * SwiGLU); what is its own:
 *
 * Multi-head latent attention. A position's keys and values are made from
 * one latent c of kv_lora_rank values, which is what is cached:
 *
 *   q      = h·attn_q, or attn_q_b·rms_norm(h·attn_q_a, attn_q_a_norm)
 *            (q_lora_rank > 0): n_head heads of qk_nope + qk_rope
 *   c, kpe = h·attn_kv_a_mqa (its first kv_lora_rank rows, then qk_rope)
 *   c      = rms_norm(c, attn_kv_a_norm);  kpe = rope(kpe), one head for all
 *   q_nope, q_pe = a head's first qk_nope values and its last qk_rope; rope(q_pe)
 *   Q      = [q_nope·attn_k_b (per head: into the latent), q_pe]
 *   K      = [c, kpe]  (one head, cached)     V = c  (cached)
 *   o      = attention(Q, K, V) per head, then ·attn_v_b per head (out of
 *            the latent, v_head_dim wide) · attn_output
 *
 * which is llama.cpp's "absorbed" MLA: K's dot with Q is q_nope's with the
 * head's decompressed key plus q_pe's with kpe, without a key a head ever
 * being made. llama.cpp caches K alone and reads V as its first
 * kv_lora_rank values; this graph stores V apart (kv_store needs its own
 * cache), so a position costs 2·kv_lora_rank + qk_rope floats a layer
 * instead of kv_lora_rank + qk_rope: still far from the plain
 * n_head·(k + v) of decompressed heads, and the CPU's attention kernel
 * takes K and V of different widths. The file's key_length (kv_lora_rank +
 * qk_rope) and value_length (kv_lora_rank) say exactly that; the heads'
 * own widths are key_length_mla and value_length_mla.
 *
 * A file without the _mla keys holds the unsplit attn_kv_b of converters
 * before attn_k_b/attn_v_b, and key_length/value_length are the heads'
 * widths. llama.cpp then decompresses the latent into plain heads, and so
 * does this graph: k_nope, v = per head rows of c·attn_kv_b, K = [k_nope,
 * kpe] (kpe repeated over the heads), Q = [q_nope, q_pe], and the cache
 * holds every head's K and V (n_head of them: head_count_kv must say so).
 *
 * The attention scale is llama.cpp's: with YaRN (rope.scaling.type yarn,
 * factor f = 1/freq_scale) ggml's rope scales the rotated values by
 * attn_factor · (1 + 0.1 ln f), so the rope's attn_factor is made
 * rope.scaling.attn_factor / (1 + 0.1 ln f), and the scores are scaled by
 * mscale² / sqrt(qk_nope + qk_rope) with mscale = rope.scaling.attn_factor
 * · (1 + 0.1 · mscale_all_dim · ln f), mscale_all_dim being
 * rope.scaling.yarn_log_multiplier / 0.1 (the converter writes 0.1 times
 * it). All in f32, in llama.cpp's order of operations (which takes the
 * rope's factor back up before the product).
 *
 * Experts: the first leading_dense_block_count layers have the dense FFN
 * (feed_forward_length), the others expert_count experts
 * (expert_feed_forward_length wide) plus expert_shared_count shared ones
 * as one ungated FFN of that many times the width. The router is the
 * softmax or the sigmoid (expert_gating_func 1 or 2; absent: softmax, but
 * sigmoid for GLM-4.7-Flash's shape, as llama.cpp guesses); the experts
 * are chosen by the probabilities plus blk.N.exp_probs_b.bias where the
 * file has it, among the expert_group_used_count best of expert_group_count
 * groups (a group's score: its two largest) where it has groups, and
 * weighed by the probabilities, normalised (expert_weights_norm) and times
 * expert_weights_scale.
 *
 * Refused by name: multi-token prediction layers (nextn_predict_layers),
 * attention temperature tuning (attention.temperature_scale), gating
 * functions other than softmax and sigmoid.
 */
#include <inttypes.h>
#include <math.h>

#include "frontend/arch.h"

/* ---- the attention -------------------------------------------------------- */

/* x's last axis from start, len wide */
static ir_node *slice_last(arch_ctx *c, ir_node *x, int64_t start, int64_t len)
{
    if (!x)
        return NULL;
    ir_type t = x->type;
    t.dim[t.rank - 1] = len;
    ir_node *n = arch_op1(c, IR_OP_SLICE, &t, x);
    arch_set_i(n, "axis", t.rank - 1);
    arch_set_i(n, "start", start);
    arch_set_i(n, "len", len);
    return n;
}

/* [..., n] and [..., m] → [..., n + m] */
static ir_node *concat(arch_ctx *c, ir_node *a, ir_node *b)
{
    if (!a || !b)
        return NULL;
    ir_type t = a->type;
    t.dim[t.rank - 1] += b->type.dim[b->type.rank - 1];
    return arch_op2(c, IR_OP_CONCAT, &t, a, b);
}

/* x[T,H,K] times w[H,N,K] head by head: [T,H,N] */
static ir_node *matmul_heads(arch_ctx *c, ir_node *x, ir_node *w)
{
    if (!x || !w)
        return NULL;
    ir_type t = x->type;
    t.dim[2] = w->type.dim[1];
    return arch_op2(c, IR_OP_MATMUL_HEADS, &t, x, w);
}

/* The attention over the latent c[T,1,r] and the roped shared key
 * kpe[T,1,R]: llama.cpp's absorbed form (attn_k_b, attn_v_b: the cache
 * holds [c, kpe] and c, one head) or, for a file with the unsplit
 * attn_kv_b, its decompressed heads (the cache holds each head's
 * [k_nope, kpe] and v). Returns [T, H·V]. */
static ir_node *latent_attention(arch_ctx *c, const arch_mla *m, int il, ir_node *q, ir_node *kv, ir_node *kpe,
                                 ir_node *q_pe)
{
    int64_t H = c->hp.n_head, r = m->kv_lora_rank, n = m->n_nope, V = m->head_dim_v;
    ir_node *q_nope = slice_last(c, q, 0, n), *wv_b = NULL, *kc, *vc;
    if (m->kv_b) {
        ir_node *wkv_b = arch_weight(c, il, "attn_kv_b.weight", r, H * (n + V), 0, "kv_lora_rank, n_head*(qk_nope+v)");
        ir_node *kvh = arch_heads(c, arch_matmul(c, kv, wkv_b), (uint32_t)H, (uint32_t)(n + V));
        kc = arch_kv_store(c, concat(c, slice_last(c, kvh, 0, n), kpe), il, 0);
        vc = arch_kv_store(c, slice_last(c, kvh, n, V), il, 1);
    } else {
        ir_node *wk_b = arch_weight3(c, il, "attn_k_b.weight", n, r, H, 0, "qk_nope, kv_lora_rank, n_head");
        wv_b = arch_weight3(c, il, "attn_v_b.weight", r, V, H, 0, "kv_lora_rank, v_head_dim, n_head");
        q_nope = matmul_heads(c, q_nope, wk_b); /* into the latent */
        kv = arch_heads(c, kv, 1, (uint32_t)r);
        kc = arch_kv_store(c, concat(c, kv, kpe), il, 0);
        vc = arch_kv_store(c, kv, il, 1);
    }
    ir_node *att = arch_attention(c, concat(c, q_nope, q_pe), kc, vc, NULL, il);
    arch_set_f(att, "scale", m->kq_scale);
    if (m->kv_b)
        return att;
    ir_node *o = matmul_heads(c, arch_heads(c, att, (uint32_t)H, (uint32_t)r), wv_b); /* out of the latent */
    if (!o)
        return NULL;
    int64_t dim[2] = {o->type.dim[0], H * V};
    ir_type t = ir_type_make(GGML_TYPE_F32, 2, dim);
    return arch_op1(c, IR_OP_RESHAPE, &t, o);
}

ir_node *arch_mla_attention(arch_ctx *c, const arch_mla *m, int il, ir_node *h, double base, double freq_scale)
{
    const arch_hparams *hp = &c->hp;
    int64_t E = hp->n_embd, H = hp->n_head, Dq = m->n_nope + m->n_rope, R = m->n_rope, r = m->kv_lora_rank;
    ir_node *wq_a = NULL, *wq;
    if (m->q_lora_rank) {
        wq_a = arch_weight(c, il, "attn_q_a.weight", E, m->q_lora_rank, 0, "n_embd, q_lora_rank");
        wq = arch_weight(c, il, "attn_q_b.weight", m->q_lora_rank, H * Dq, 0,
                         "q_lora_rank, n_head*(qk_nope+qk_rope)");
    } else {
        wq = arch_weight(c, il, "attn_q.weight", E, H * Dq, 0, "n_embd, n_head*(qk_nope+qk_rope)");
    }
    ir_node *wkv_a[2];
    const int64_t kv_rows[2] = {r, R};
    arch_weight_rows(c, arch_weight(c, il, "attn_kv_a_mqa.weight", E, r + R, 0, "n_embd, kv_lora_rank+qk_rope"), 2,
                     kv_rows, wkv_a);

    /* h's three products first: fuse-qkv makes them one group */
    ir_node *q = arch_matmul(c, h, wq_a ? wq_a : wq);
    ir_node *kv = arch_matmul(c, h, wkv_a[0]);
    ir_node *kpe = arch_matmul(c, h, wkv_a[1]);
    if (wq_a)
        q = arch_matmul(c, arch_rms_norm(c, q, arch_weight(c, il, "attn_q_a_norm.weight", m->q_lora_rank, -1, 0,
                                                           "q_lora_rank")), wq);
    q = arch_heads(c, q, (uint32_t)H, (uint32_t)Dq);
    ir_node *q_pe = arch_rope(c, slice_last(c, q, m->n_nope, R), ARCH_ROPE_NORM, NULL, base, freq_scale);
    kv = arch_rms_norm(c, kv, arch_weight(c, il, "attn_kv_a_norm.weight", r, -1, 0, "kv_lora_rank"));
    kpe = arch_rope(c, arch_heads(c, kpe, 1, (uint32_t)R), ARCH_ROPE_NORM, NULL, base, freq_scale);
    ir_node *o = latent_attention(c, m, il, q, kv, kpe, q_pe);
    return arch_matmul(c, o, arch_weight(c, il, "attn_output.weight", H * m->head_dim_v, E, 0,
                                         "n_head*v_head_dim, n_embd"));
}

/* ---- the hyperparameters ------------------------------------------------- */

static uint32_t opt_u32(arch_ctx *c, const char *suffix, uint32_t dflt)
{
    arch_opt_u32(c, arch_key(c, suffix), &dflt);
    return dflt;
}

static float opt_f32(arch_ctx *c, const char *suffix, float dflt)
{
    arch_opt_f32(c, arch_key(c, suffix), &dflt);
    return dflt;
}

static bool opt_bool(arch_ctx *c, const char *suffix)
{
    bool v = false;
    arch_opt_bool(c, arch_key(c, suffix), &v);
    return v;
}

/* the latent attention's widths, checked against the cache the file
 * states: one head of the latent and the roped key (key_length =
 * kv_lora_rank + rope, value_length = kv_lora_rank) with the heads' own
 * widths in the _mla keys; or, in a file of the unsplit attn_kv_b
 * (no _mla keys), the heads' widths in key_length and value_length and a
 * head of the cache a query head */
static rf_status load_mla(arch_ctx *c, arch_mla *m)
{
    const arch_hparams *hp = &c->hp;
    const char *path = gguf_path(c->f);
    m->q_lora_rank = opt_u32(c, "attention.q_lora_rank", 0);
    m->kv_lora_rank = opt_u32(c, "attention.kv_lora_rank", 0);
    uint32_t k_mla = opt_u32(c, "attention.key_length_mla", 0), v_mla = opt_u32(c, "attention.value_length_mla", 0);
    if (c->status != RF_OK)
        return c->status;
    m->kv_b = !k_mla || !v_mla;
    if (m->kv_b)
        k_mla = hp->head_dim, v_mla = hp->head_dim_v;
    m->n_rope = hp->n_rot;
    m->head_dim_v = v_mla;
    if (k_mla <= m->n_rope || !m->kv_lora_rank)
        return arch_fail(c, RF_E_FORMAT, "%s: a query head (%" PRIu32 ", '%s') must exceed the rope dimension %"
                         PRIu32 " and '%s' be > 0", path, k_mla,
                         arch_key(c, m->kv_b ? "attention.key_length" : "attention.key_length_mla"), m->n_rope,
                         arch_key(c, "attention.kv_lora_rank"));
    m->n_nope = k_mla - m->n_rope;
    if (m->kv_b && hp->n_head_kv != hp->n_head)
        return arch_fail(c, RF_E_FORMAT, "%s: '%s' is %" PRIu32 ": with the unsplit attn_kv_b every query head has "
                         "its key and value head (%" PRIu32 ")", path, arch_key(c, "attention.head_count_kv"),
                         hp->n_head_kv, hp->n_head);
    if (!m->kv_b && (hp->n_head_kv != 1 || hp->head_dim != m->kv_lora_rank + m->n_rope ||
                     hp->head_dim_v != m->kv_lora_rank))
        return arch_fail(c, RF_E_FORMAT, "%s: the latent cache is one head of key_length = kv_lora_rank + rope "
                         "dimension (%" PRIu32 ") and value_length = kv_lora_rank (%" PRIu32 "); the file says %"
                         PRIu32 " head(s) of %" PRIu32 " and %" PRIu32, path, m->kv_lora_rank + m->n_rope,
                         m->kv_lora_rank, hp->n_head_kv, hp->head_dim, hp->head_dim_v);
    return RF_OK;
}

/* YaRN's get_mscale as llama.cpp's context has it */
static float yarn_mscale(float scale, float mscale)
{
    return scale <= 1.0f ? 1.0f : 0.1f * mscale * logf(scale) + 1.0f;
}

/* The rope's attn_factor and the attention scale, llama.cpp's (see the top). */
static void attention_scales(arch_ctx *c, arch_mla *m)
{
    arch_hparams *hp = &c->hp;
    float log_mul = opt_f32(c, "rope.scaling.yarn_log_multiplier", 0.0f) / 0.1f; /* mscale_all_dim */
    float factor = 1.0f / hp->rope_freq_scale;
    float attn = 1.0f;
    if (hp->rope_ext_factor != 0.0f) {
        /* with a log multiplier, llama.cpp's get_mscale(f, mscale) /
         * get_mscale(f, mscale_all_dim), which for deepseek2 (mscale taken
         * equal to mscale_all_dim) is 1 */
        attn = log_mul != 0.0f ? 1.0f : yarn_mscale(factor, 1.0f);
        attn *= 1.0f / (1.0f + 0.1f * logf(factor)); /* ggml's rope multiplies it back */
    }
    hp->rope_attn_factor *= attn;
    float mscale = hp->rope_attn_factor * (1.0f + 0.1f * logf(1.0f / hp->rope_freq_scale));
    mscale *= 1.0f + 0.1f * log_mul * logf(1.0f / hp->rope_freq_scale);
    m->kq_scale = mscale * mscale / sqrtf((float)(m->n_nope + m->n_rope));
}

/* the router's function: 1 softmax, 2 sigmoid; absent: llama.cpp's guess */
static bool sigmoid_router(arch_ctx *c)
{
    const arch_hparams *hp = &c->hp;
    uint32_t f = opt_u32(c, "expert_gating_func", 0);
    if (f == 0) /* GLM-4.7-Flash's shape is sigmoid, every other file softmax */
        f = (hp->n_layer == 47 || hp->n_layer == 48) && hp->n_vocab == 154880 ? 2 : 1;
    if (f != 1 && f != 2)
        arch_fail(c, RF_E_UNSUPPORTED, "%s: key '%s' is %" PRIu32 ": only softmax (1) and sigmoid (2) routers are "
                  "supported", gguf_path(c->f), arch_key(c, "expert_gating_func"), f);
    return f == 2;
}

/* expert_group_count / expert_group_used_count into d, checked as llama.cpp does */
static rf_status load_groups(arch_ctx *c, arch_decoder *d)
{
    d->moe_groups = opt_u32(c, "expert_group_count", 0);
    d->moe_groups_used = opt_u32(c, "expert_group_used_count", 0);
    if (c->status != RF_OK || d->moe_groups <= 1)
        return c->status;
    uint32_t per_group = c->hp.n_expert / d->moe_groups;
    if (c->hp.n_expert % d->moe_groups || per_group < 2 || !d->moe_groups_used || d->moe_groups_used >= d->moe_groups)
        return arch_fail(c, RF_E_FORMAT, "%s: '%s' (%" PRIu32 ") must divide the %" PRIu32 " experts into groups of "
                         "two or more, and '%s' (%" PRIu32 ") be 1..groups-1", gguf_path(c->f),
                         arch_key(c, "expert_group_count"), d->moe_groups, c->hp.n_expert,
                         arch_key(c, "expert_group_used_count"), d->moe_groups_used);
    return RF_OK;
}

rf_status arch_build_deepseek2(arch_ctx *c)
{
    arch_hparams *hp = &c->hp;
    const char *path = gguf_path(c->f);
    if (opt_u32(c, "nextn_predict_layers", 0))
        return arch_fail(c, RF_E_UNSUPPORTED, "%s: key '%s': multi-token prediction layers are not supported", path,
                         arch_key(c, "nextn_predict_layers"));
    if (opt_f32(c, "attention.temperature_scale", 0.0f) != 0.0f)
        return arch_fail(c, RF_E_UNSUPPORTED, "%s: key '%s': attention temperature tuning is not supported", path,
                         arch_key(c, "attention.temperature_scale"));
    arch_mla m = {0};
    if (load_mla(c, &m) != RF_OK || arch_need_experts(c) != RF_OK)
        return c->status;
    attention_scales(c, &m);

    arch_decoder d = {0};
    d.rope_mode = ARCH_ROPE_NORM;
    d.ffn_glu = IR_OP_SWIGLU;
    d.mla = &m;
    d.moe = true;
    d.n_dense_lead = opt_u32(c, "leading_dense_block_count", 0);
    uint32_t n_shared = opt_u32(c, "expert_shared_count", 0);
    hp->n_ff_shexp = hp->n_ff_exp * n_shared;
    d.moe_shared_plain = n_shared > 0;
    d.moe_norm_w = opt_bool(c, "expert_weights_norm");
    d.moe_w_scale = opt_f32(c, "expert_weights_scale", 0.0f);
    d.moe_sigmoid = sigmoid_router(c);
    d.moe_probs_bias = true;
    if (load_groups(c, &d) != RF_OK)
        return c->status;
    return arch_decoder_build(c, &d);
}
