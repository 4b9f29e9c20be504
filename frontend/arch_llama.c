/*
 * arch_llama.c: the llama family: llama (Llama 2/3/3.x, Mistral, Mixtral,
 * TinyLlama, SmolLM), granite, granitemoe, smollm3, qwen2, qwen3, qwen2moe,
 * qwen3moe, olmoe, gpt-oss, phi3, olmo2, glm4 and exaone.
 *
 * They differ from plain llama in a few switches of arch_decoder, each taken
 * from llama.cpp's src/models/<arch>.cpp for the same file:
 *
 *   llama  adjacent-pair rope; optional rope_freqs.weight (llama3 scaling)
 *          as rope's factors (long/short factors under longrope); optional attn_output and ffn biases;
 *          rope.dimension_count must equal the head size.
 *   granite llama's graph with IBM Granite 3's multipliers: the embedding
 *          times embedding_scale, each attention and FFN output times
 *          residual_scale before its residual add, the logits divided by
 *          logit_scale (required), and attention.scale as the attention
 *          scale (each optional but logit_scale; 0 means none, and
 *          1/sqrt(head_dim) for the scale).
 *   smollm3 llama's graph without rope in every fourth layer (il + 1 a
 *          multiple of 4: those attend by content alone), no rope factors
 *          and no output biases (llama.cpp creates none for it).
 *   qwen2  neox rope; q/k/v biases (optional for every arch, as llama.cpp's
 *          create_tensor_qkv has them); optional output.bias.
 *   qwen3  neox rope; rms_norm of each q and k head (attn_q_norm,
 *          attn_k_norm, [head_dim]) before rope; key_length/value_length
 *          give the head size.
 *   qwen2moe qwen2's graph (no output.bias) with experts in every layer
 *          (expert_count > 1): the chosen experts' weights are their
 *          softmax probabilities as they are, and a shared expert
 *          (ffn_*_shexp, expert_shared_feed_forward_length wide) gated by
 *          sigmoid(ffn_gate_inp_shexp · h) is added.
 *   qwen3moe qwen3's graph with experts in every layer, their weights
 *          normalised to sum 1; no shared expert.
 *   llama with expert_count > 1 (Mixtral): experts in every layer, the
 *          weights normalised as qwen3moe's.
 *   olmoe  neox rope, olmo2's whole-row q/k norms with pre-norms, and
 *          experts in every layer (feed_forward_length wide, weights as
 *          the softmax gives them).
 *   granitemoe granite's graph and multipliers with experts in every layer
 *          (feed_forward_length wide, weights normalised) and, where
 *          expert_shared_feed_forward_length is given, a shared expert
 *          added without a gate.
 *   gpt-oss neox rope (YaRN as the file says), every other layer (the
 *          sliding_window_pattern, default 2) attending over a sliding
 *          window with rope.freq_base_swa; a learned sink logit a head
 *          (attn_sinks) in each softmax; q/k/v and output biases; the FFN
 *          norm is named post_attention_norm; experts in every layer
 *          chosen by the top k of the router's logits (plus its bias) and
 *          weighed by those logits' softmax, each with bias rows, and
 *          llama.cpp's clamped SwiGLU (alpha 1.702, limit 7).
 *   phi3   neox rope; usually a fused attn_qkv (sliced into q, k, v);
 *          ffn_up holds gate then up ([2·n_ff] rows) for swiglu; longrope
 *          factors rope_factors_long/short chosen by context length.
 *          Its sliding window is ignored, as llama.cpp does (its SWA for
 *          phi3 is disabled; see ggml-org/llama.cpp#13676).
 *
 *   olmo2  neox rope; no pre-norms: attention and FFN read x itself, and
 *          their outputs pass gemma's post norms (post_attention_norm,
 *          post_ffw_norm) before the residual adds; rms_norm of the whole
 *          q and k rows (attn_q_norm [n_head*head_dim], attn_k_norm
 *          [n_head_kv*head_dim]) before the heads and rope. Its sliding-
 *          window form (OLMo 3) is refused by name.
 *   glm4   adjacent-pair rope, usually over part of each head
 *          (rope.dimension_count); pre and post norms around attention
 *          and FFN (gemma's names); ffn_up holds gate then up, as phi3's;
 *          optional q/k/v biases. Its multimodal rope (rope.
 *          dimension_sections, GLM-4V) is refused by name.
 *   exaone neox rope with llama's optional rope_freqs.weight (llama3
 *          scaling) or longrope factors; optional q/k/v biases; no output
 *          biases.
 *
 * All but granite use 1/sqrt(head_dim) as the attention scale; phi3
 * applies it to q after rope, as llama.cpp's graph does.
 */
#include <inttypes.h>

#include "frontend/arch.h"

static arch_decoder base(void)
{
    arch_decoder d = {0};
    d.rope_mode = ARCH_ROPE_NEOX;
    d.ffn_glu = IR_OP_SWIGLU;
    return d;
}

/* llama's switches; fails (c->status) when the rope is not the whole head */
static arch_decoder llama_base(arch_ctx *c)
{
    arch_decoder d = base();
    if (c->hp.n_rot != c->hp.head_dim)
        arch_fail(c, RF_E_FORMAT, "%s: key '%s' is %" PRIu32 ", expected the head size %" PRIu32, gguf_path(c->f),
                  arch_key(c, "rope.dimension_count"), c->hp.n_rot, c->hp.head_dim);
    d.rope_mode = ARCH_ROPE_NORM;
    d.bias_out = true;
    /* llama.cpp loads longrope's long/short factors instead of rope_freqs */
    d.rope_long_short = c->hp.rope_scaling == ARCH_ROPE_SCALING_LONGROPE;
    d.rope_freqs = !d.rope_long_short;
    return d;
}

rf_status arch_build_llama(arch_ctx *c)
{
    arch_decoder d = llama_base(c);
    d.moe = d.moe_norm_w = true; /* Mixtral: its experts are feed_forward_length wide, as llama.cpp reads them */
    c->hp.n_ff_exp = c->hp.n_ff;
    return c->status != RF_OK ? c->status : arch_decoder_build(c, &d);
}

rf_status arch_build_smollm3(arch_ctx *c)
{
    arch_decoder d = llama_base(c);
    d.bias_out = false;
    d.rope_freqs = d.rope_long_short = false;
    d.no_rope_every = 4;
    return c->status != RF_OK ? c->status : arch_decoder_build(c, &d);
}

/* granite's multipliers into d (fails when logit_scale is missing or one is negative) */
static rf_status granite_muls(arch_ctx *c, arch_decoder *d)
{
    float logit = 0, residual = 0, embed = 0, scale = 0;
    arch_opt_f32(c, arch_key(c, "logit_scale"), &logit); /* present: a required key of the table */
    arch_opt_f32(c, arch_key(c, "residual_scale"), &residual);
    arch_opt_f32(c, arch_key(c, "embedding_scale"), &embed);
    arch_opt_f32(c, arch_key(c, "attention.scale"), &scale);
    if (c->status != RF_OK)
        return c->status;
    if (!(logit > 0) || !(residual >= 0) || !(embed >= 0) || !(scale >= 0))
        return arch_fail(c, RF_E_FORMAT, "%s: granite's multipliers must be finite and not negative, logit_scale "
                         "positive: logit_scale %g, residual_scale %g, embedding_scale %g, attention.scale %g",
                         gguf_path(c->f), logit, residual, embed, scale);
    d->logit_mul = 1.0f / logit; /* llama.cpp scales by the f32 reciprocal */
    d->residual_mul = residual;
    d->embed_mul = embed;
    d->attn_scale = scale;
    return RF_OK;
}

rf_status arch_build_granite(arch_ctx *c)
{
    arch_decoder d = llama_base(c);
    return granite_muls(c, &d) != RF_OK ? c->status : arch_decoder_build(c, &d);
}

rf_status arch_build_qwen2(arch_ctx *c)
{
    arch_decoder d = base();
    d.bias_logits = true;
    return arch_decoder_build(c, &d);
}

rf_status arch_build_qwen3(arch_ctx *c)
{
    arch_decoder d = base();
    d.qk_norm = true;
    return arch_decoder_build(c, &d);
}

rf_status arch_build_qwen2moe(arch_ctx *c)
{
    arch_decoder d = base();
    d.moe = d.moe_shared = true;
    return arch_need_experts(c) != RF_OK ? c->status : arch_decoder_build(c, &d);
}

rf_status arch_build_qwen3moe(arch_ctx *c)
{
    arch_decoder d = base();
    d.qk_norm = true;
    d.moe = d.moe_norm_w = true;
    return arch_need_experts(c) != RF_OK ? c->status : arch_decoder_build(c, &d);
}

rf_status arch_build_olmoe(arch_ctx *c)
{
    arch_decoder d = base();
    d.qk_norm_rows = true;
    d.moe = true; /* the weights as the softmax gives them */
    c->hp.n_ff_exp = c->hp.n_ff; /* its experts are feed_forward_length wide, as llama.cpp reads them */
    return arch_need_experts(c) != RF_OK ? c->status : arch_decoder_build(c, &d);
}

rf_status arch_build_granitemoe(arch_ctx *c)
{
    arch_decoder d = llama_base(c);
    d.moe = d.moe_norm_w = true;
    /* a shared expert, added ungated, where expert_shared_feed_forward_length says (Granite MoE Shared) */
    uint32_t n_ff_shexp = 0;
    arch_opt_u32(c, arch_key(c, "expert_shared_feed_forward_length"), &n_ff_shexp);
    d.moe_shared_plain = n_ff_shexp > 0;
    c->hp.n_ff_exp = c->hp.n_ff;
    if (arch_need_experts(c) != RF_OK || granite_muls(c, &d) != RF_OK)
        return c->status;
    return arch_decoder_build(c, &d);
}

rf_status arch_build_gpt_oss(arch_ctx *c)
{
    arch_decoder d = base();
    if (arch_swa(c, &d, 0, 2, c->hp.rope_base) != RF_OK || arch_need_experts(c) != RF_OK) /* the window: a required key */
        return c->status;
    d.bias_out = true;
    d.attn_sinks = true;
    d.ffn_norm_name = "post_attention_norm";
    d.moe = d.moe_softmax_chosen = d.moe_bias = true;
    d.ffn_glu = IR_OP_SWIGLU_OAI;
    d.glu_alpha = 1.702f; /* llama.cpp's LLM_FFN_SWIGLU_OAI_MOE */
    d.glu_limit = 7.0f;
    return arch_decoder_build(c, &d);
}

rf_status arch_build_phi3(arch_ctx *c)
{
    arch_decoder d = base();
    d.ffn_fused_gate_up = true;
    d.prescale_q = true;
    d.rope_long_short = true;
    return arch_decoder_build(c, &d);
}

rf_status arch_build_olmo2(arch_ctx *c)
{
    uint32_t n_swa = 0;
    arch_opt_u32(c, arch_key(c, "attention.sliding_window"), &n_swa);
    if (c->status != RF_OK)
        return c->status;
    if (n_swa > 0)
        return arch_fail(c, RF_E_UNSUPPORTED, "%s: olmo2 with a sliding window ('%s' = %" PRIu32 ", OLMo 3) is not "
                         "supported yet", gguf_path(c->f), arch_key(c, "attention.sliding_window"), n_swa);
    arch_decoder d = base();
    d.no_pre_norms = true;
    d.qk_norm_rows = true;
    d.post_norms = true;
    return arch_decoder_build(c, &d);
}

rf_status arch_build_glm4(arch_ctx *c)
{
    if (gguf_find_kv(c->f, arch_key(c, "rope.dimension_sections")))
        return arch_fail(c, RF_E_UNSUPPORTED, "%s: glm4 with a multimodal rope ('%s', GLM-4V) is not supported yet",
                         gguf_path(c->f), arch_key(c, "rope.dimension_sections"));
    arch_decoder d = base();
    d.rope_mode = ARCH_ROPE_NORM;
    d.post_norms = true;
    d.ffn_fused_gate_up = true;
    return arch_decoder_build(c, &d);
}

rf_status arch_build_exaone(arch_ctx *c)
{
    arch_decoder d = base();
    d.rope_long_short = c->hp.rope_scaling == ARCH_ROPE_SCALING_LONGROPE;
    d.rope_freqs = !d.rope_long_short;
    return arch_decoder_build(c, &d);
}
