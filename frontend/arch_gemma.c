/*
 * arch_gemma.c: gemma2 and gemma3.
 *
 * Both scale the embedding by sqrt(n_embd), normalise the attention and FFN
 * outputs again before each residual add (post_attention_norm,
 * post_ffw_norm), gate the FFN with GELU (geglu), use neox rope, and
 * alternate sliding-window ("local") and global layers. The norm weights in
 * a GGUF already include gemma's +1, so they are plain rms_norm weights.
 * Facts from llama.cpp's src/models/gemma2.cpp, gemma3.cpp and
 * llama-hparams.cpp:
 *
 *   attention scale   1/sqrt(n_embd/n_head) for the 27B models (gemma2:
 *                     46 layers, gemma3: 62 layers; their
 *                     query_pre_attn_scalar), else 1/sqrt(head_dim). The
 *                     GGUF carries no query_pre_attn_scalar key; llama.cpp
 *                     derives it from the layer count and so does this.
 *                     It scales q after rope (attention scale 1), so
 *                     gemma2's softcap sees scaled scores.
 *   sliding layers    attention.sliding_window_pattern (period n, or one flag
 *                     a layer), default 2 for gemma2 and 6 for gemma3; layer
 *                     il slides iff il % n < n - 1 (gemma2: even layers;
 *                     gemma3: five local, then one global).
 *   window            attention.sliding_window; gemma2 default 4096; gemma3
 *                     has no sliding layers at all without it (or with 0).
 *   gemma2 softcaps   attn_logit_softcapping (default 50) on the scores,
 *                     final_logit_softcapping (default 30) on the logits;
 *                     the output is always token_embd (tied).
 *   gemma3            attn_q_norm/attn_k_norm per head before rope; final
 *                     softcap only if the key is present and non-zero;
 *                     output.weight used when present.
 *   local rope        gemma2: rope.freq_base_swa, else rope.freq_base, with
 *                     the global freq_scale; gemma3: rope.freq_base_swa,
 *                     else 10000, freq_scale 1 (the global layers keep
 *                     rope.scaling.*).
 */
#include <math.h>

#include "frontend/arch.h"

static arch_decoder gemma_base(arch_ctx *c, uint32_t big_layers)
{
    arch_decoder d = {0};
    d.rope_mode = ARCH_ROPE_NEOX;
    d.embed_scale = true;
    d.post_norms = true;
    d.ffn_glu = IR_OP_GEGLU;
    uint32_t per_head = c->hp.n_layer == big_layers ? c->hp.n_embd / c->hp.n_head : c->hp.head_dim;
    d.attn_scale = 1.0f / sqrtf((float)per_head); /* in f32, as llama.cpp */
    d.prescale_q = true;
    return d;
}

rf_status arch_build_gemma2(arch_ctx *c)
{
    arch_decoder d = gemma_base(c, 46);
    float attn_cap = 50.0f, final_cap = 30.0f;
    arch_opt_f32(c, arch_key(c, "attn_logit_softcapping"), &attn_cap);
    arch_opt_f32(c, arch_key(c, "final_logit_softcapping"), &final_cap);
    if (arch_swa(c, &d, 4096, 2, c->hp.rope_base) != RF_OK)
        return c->status;
    d.attn_softcap = attn_cap;
    d.final_softcap = final_cap;
    d.output_always_tied = true;
    return arch_decoder_build(c, &d);
}

rf_status arch_build_gemma3(arch_ctx *c)
{
    arch_decoder d = gemma_base(c, 62);
    d.qk_norm = true;
    uint32_t n_swa = 0;
    float base_swa = 10000.0f, final_cap = 0.0f;
    arch_opt_u32(c, arch_key(c, "attention.sliding_window"), &n_swa);
    arch_opt_f32(c, arch_key(c, "final_logit_softcapping"), &final_cap);
    if (n_swa > 0) {
        arch_opt_f32(c, arch_key(c, "rope.freq_base_swa"), &base_swa);
        d.swa = arch_swa_layers(c, 6);
    }
    if (c->status != RF_OK)
        return c->status;
    d.n_swa = n_swa;
    d.rope_base_swa = base_swa;
    d.rope_freq_scale_swa = 1.0f;
    d.final_softcap = final_cap;
    return arch_decoder_build(c, &d);
}
