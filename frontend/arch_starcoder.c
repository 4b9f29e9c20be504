/*
 * arch_starcoder.c: the LayerNorm archs.
 *
 * starcoder2 (StarCoder 2), from llama.cpp's
 * src/models/starcoder2.cpp for the same file: neox rope; LayerNorms with
 * biases for attn_norm, ffn_norm and output_norm (epsilon under
 * attention.layer_norm_epsilon); q/k/v, attn_output and FFN biases; an
 * FFN without gate, down(gelu(up(h) + b) + b), gelu with ggml's tanh form
 * through its f16 table; a tied head unless output.weight is there.
 *
 * cohere2 (Command R7B), from src/models/cohere2.cpp: adjacent-pair rope;
 * LayerNorms without bias (attn_norm, output_norm; epsilon under
 * attention.layer_norm_epsilon); a parallel block: the SwiGLU FFN reads
 * attn_norm's output as the attention does, x = (ffn + x) + attention; a
 * sliding window on three layers of four (sliding_window_pattern, default
 * 4), and rope on those only (the global layers attend by content); the
 * head always tied to token_embd; the logits times logit_scale.
 */
#include <inttypes.h>

#include "frontend/arch.h"

rf_status arch_build_starcoder2(arch_ctx *c)
{
    arch_decoder d = {0};
    d.rope_mode = ARCH_ROPE_NEOX;
    d.layer_norm = true;
    d.ffn_plain = true;
    d.ffn_act = IR_OP_GELU;
    d.bias_out = true;
    return arch_decoder_build(c, &d);
}

rf_status arch_build_cohere2(arch_ctx *c)
{
    arch_decoder d = {0};
    d.rope_mode = ARCH_ROPE_NORM;
    d.ffn_glu = IR_OP_SWIGLU;
    d.layer_norm = true;
    d.parallel = true;
    d.rope_swa_only = true;
    d.output_always_tied = true;
    float logit_scale = 0.0f;
    arch_opt_f32(c, arch_key(c, "logit_scale"), &logit_scale); /* required keys, present, as the window's */
    if (arch_swa(c, &d, 0, 4, c->hp.rope_base) != RF_OK)
        return c->status;
    if (!(logit_scale >= 0.0f) || d.n_swa == 0)
        return arch_fail(c, RF_E_FORMAT, "%s: cohere2 needs '%s' > 0 and '%s' >= 0 (got %" PRIu32 ", %g)",
                         gguf_path(c->f), arch_key(c, "attention.sliding_window"), arch_key(c, "logit_scale"),
                         d.n_swa, (double)logit_scale);
    d.logit_mul = logit_scale; /* 0: none, as llama.cpp skips it */
    d.rope_base_swa = c->hp.rope_base; /* llama.cpp reads rope.freq_base_swa but ropes with the global base */
    return arch_decoder_build(c, &d);
}
