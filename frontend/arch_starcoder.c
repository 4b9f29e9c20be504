/*
 * arch_starcoder.c: starcoder2 (StarCoder 2), from llama.cpp's
 * src/models/starcoder2.cpp for the same file: neox rope; LayerNorms with
 * biases for attn_norm, ffn_norm and output_norm (epsilon under
 * attention.layer_norm_epsilon); q/k/v, attn_output and FFN biases; an
 * FFN without gate, down(gelu(up(h) + b) + b), gelu with ggml's tanh form
 * through its f16 table; a tied head unless output.weight is there.
 */
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
