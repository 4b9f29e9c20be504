/*
 * arch.h: the architecture table and what its builders share.
 *
 * An architecture is a row of the table in arch.c: its GGUF name
 * (general.architecture), the hyperparameter keys it cannot do without, and
 * a build function. A build function reads the keys that only its family
 * has, fills an arch_decoder description (which norms, which activation,
 * which attention variant on which layers) and hands it to arch_decoder(),
 * the one builder of a pre-norm decoder-only transformer step
 * (arch_decoder.c). Adding an architecture is adding a row and a builder;
 * a family that does not fit arch_decoder writes its own graph with the
 * node helpers below.
 *
 * Errors are sticky: the first failure (a missing tensor, a wrong shape, no
 * memory) is recorded in the context, and every helper called afterwards
 * returns NULL and adds nothing, so a builder checks once at the end.
 * Semantics follow llama.cpp for the same file; the builders say where.
 */
#ifndef RF_FRONTEND_ARCH_H
#define RF_FRONTEND_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frontend/gguf.h"
#include "frontend/import.h"
#include "ir/ir.h"
#include "support/error.h"

typedef enum arch_rope_scaling {
    ARCH_ROPE_SCALING_NONE,
    ARCH_ROPE_SCALING_LINEAR,
    ARCH_ROPE_SCALING_YARN,
    ARCH_ROPE_SCALING_LONGROPE,
} arch_rope_scaling;

/* rope modes of the IR's rope op (ggml's rope types) */
enum { ARCH_ROPE_NORM = 0, ARCH_ROPE_NEOX = 2 };

/* What every supported architecture reads the same way (arch_load_hparams). */
typedef struct arch_hparams {
    uint32_t n_ctx_train;        /* {arch}.context_length */
    uint32_t n_embd, n_layer, n_ff;
    uint32_t n_head, n_head_kv;
    uint32_t head_dim;           /* attention.key_length, else n_embd/n_head */
    uint32_t head_dim_v;         /* attention.value_length, else the same (only deepseek2's differ) */
    uint32_t n_rot;              /* rope.dimension_count, else head_dim */
    uint32_t n_vocab;            /* rows of token_embd.weight */
    float rms_eps;               /* the norms' epsilon (LayerNorm's for the archs that have it) */
    /* rope, as llama.cpp's context derives it from the file */
    arch_rope_scaling rope_scaling;
    float rope_base, rope_freq_scale;
    float rope_ext_factor, rope_attn_factor, rope_beta_fast, rope_beta_slow;
    uint32_t rope_n_ctx_orig;    /* rope.scaling.original_context_length, else n_ctx_train */
    /* mixture of experts (n_expert > 1; llama.cpp counts 1 as dense) */
    uint32_t n_expert;           /* expert_count */
    uint32_t n_expert_used;      /* expert_used_count: experts a token goes to */
    uint32_t n_ff_exp;           /* expert_feed_forward_length, else n_ff */
    uint32_t n_ff_shexp;         /* expert_shared_feed_forward_length, else n_ff */
} arch_hparams;

/* A tensor-parallel rank's share (arch_tp.c); rank 0 of 1 is the whole model. */
typedef struct arch_tp {
    uint32_t rank, world;
    uint32_t n_head, head0;      /* its query heads: head0 .. head0 + n_head - 1 */
    uint32_t n_head_kv, kv_head0; /* the KV heads they read (one, replicated, where the model has fewer than world) */
} arch_tp;

typedef struct arch_ctx {
    const gguf_file *f;
    const char *arch;            /* the table row's name */
    import_options opt;
    ir_graph *g;
    arch_hparams hp;
    arch_tp tp;                  /* this rank's share (the whole model unless arch_tp_plan split it) */
    rf_status status;            /* sticky: the first failure */
    rf_error *err;
    ir_node *tokens, *pos;       /* the step's inputs */
    ir_node *tok_embd;           /* shared by embed and a tied output */
    char key[4][160];            /* arch_key's rotating buffers */
    unsigned key_slot;
} arch_ctx;

typedef rf_status (*arch_build_fn)(arch_ctx *c);

typedef struct arch_def {
    const char *name;
    const char *const *keys;     /* required keys after "{name}.", NULL-terminated */
    arch_build_fn build;
} arch_def;

/* ---- the table (arch.c) ------------------------------------------------ */
const arch_def *arch_find(const char *name, size_t len);
/* "llama, qwen2, ..." into buf (always NUL-terminated). */
void arch_list(char *buf, size_t size);
/* Checks the row's required keys, then reads arch_hparams. */
rf_status arch_load_hparams(arch_ctx *c, const arch_def *d);

/* "{arch}.suffix" (one of four rotating buffers in c). */
const char *arch_key(arch_ctx *c, const char *suffix);
/* Optional keys: absent leaves *v unchanged and returns RF_OK; present with
 * another type is an error naming the key (recorded in c). */
rf_status arch_opt_u32(arch_ctx *c, const char *key, uint32_t *v);
rf_status arch_opt_f32(arch_ctx *c, const char *key, float *v);
rf_status arch_opt_bool(arch_ctx *c, const char *key, bool *v);
/* Records the first failure in c and returns c->status. */
rf_status arch_fail(arch_ctx *c, rf_status s, const char *fmt, ...) RF_PRINTF(3, 4);
/* For a builder whose K and V heads are one head_dim: fails unless the
 * file's key and value lengths agree. */
rf_status arch_one_head_dim(arch_ctx *c);
/* For an arch with experts in every (MoE) layer: fails unless
 * expert_count says there are some (> 1). */
rf_status arch_need_experts(arch_ctx *c);

/* The per-layer sliding-window pattern from
 * {arch}.attention.sliding_window_pattern: a u32 period n (layer il slides
 * iff n == 0 or il % n < n - 1, llama.cpp's rule) or an array of one flag a
 * layer; default_period when the key is absent. Allocated in the graph. */
uint8_t *arch_swa_layers(arch_ctx *c, uint32_t default_period);

/* ---- weights (arch_decoder.c) --------------------------------------------- */
enum { ARCH_W_OPTIONAL = 1 };
/* The WEIGHT node of tensor "blk.{layer}.{base}" (layer >= 0) or "{base}",
 * checked to have shape {ne0} (ne1 < 0) or {ne0, ne1} in ggml order; dims
 * says what they are ("n_embd, n_vocab") for the message. A missing
 * optional tensor returns NULL and records nothing. */
ir_node *arch_weight(arch_ctx *c, int layer, const char *base, int64_t ne0, int64_t ne1, unsigned flags,
                     const char *dims);
/* The same for a stack of ne2 matrices {ne0, ne1, ne2} (the experts'). */
ir_node *arch_weight3(arch_ctx *c, int layer, const char *base, int64_t ne0, int64_t ne1, int64_t ne2,
                      unsigned flags, const char *dims);
bool arch_has_tensor(arch_ctx *c, int layer, const char *base);
/* "blk.{layer}.{base}", or base (layer < 0): a weight's tensor name */
void arch_tensor_name(char *buf, size_t size, int layer, const char *base);
/* w (a checked weight holding n matrices one after another along its
 * outermost dimension) as n weights of len[i] rows: out[0] is w narrowed,
 * the others name the same tensor from their first row on (ir.h: row0).
 * NULL w (an optional tensor that is not there): all NULL. */
void arch_weight_rows(arch_ctx *c, ir_node *w, int n, const int64_t *len, ir_node **out);

/* ---- node helpers (arch_decoder.c); result types follow ir.h ----------- */
ir_node *arch_op1(arch_ctx *c, ir_op op, const ir_type *t, ir_node *a);
ir_node *arch_op2(arch_ctx *c, ir_op op, const ir_type *t, ir_node *a, ir_node *b); /* NULL a or b: NULL */
ir_node *arch_rms_norm(arch_ctx *c, ir_node *x, ir_node *w);
ir_node *arch_matmul(arch_ctx *c, ir_node *x, ir_node *w);
ir_node *arch_binary(arch_ctx *c, ir_op op, ir_node *a, ir_node *b); /* add, mul, swiglu, geglu */
ir_node *arch_add_bias(arch_ctx *c, ir_node *x, ir_node *b);         /* x when b is NULL */
ir_node *arch_scale(arch_ctx *c, ir_node *x, double s);
ir_node *arch_softcap(arch_ctx *c, ir_node *x, double cap);
ir_node *arch_heads(arch_ctx *c, ir_node *x, uint32_t n_head, uint32_t head_dim); /* [..,H*D] → [..,H,D] */
ir_node *arch_last_rows(arch_ctx *c, ir_node *x, int64_t n);
/* a LayerNorm with an optional weight and bias (either may be NULL) */
ir_node *arch_layer_norm(arch_ctx *c, ir_node *x, ir_node *w, ir_node *b);

/* ---- layer parts (arch_decoder.c), for builders of other shapes ---------- */
void arch_set_i(ir_node *n, const char *attr, int64_t v); /* n NULL: nothing */
void arch_set_f(ir_node *n, const char *attr, double v);
/* rope of x[T,H,D] at the step's positions with the file's rope settings */
ir_node *arch_rope(arch_ctx *c, ir_node *x, int mode, ir_node *freqs, double base, double freq_scale);
/* x[T,Hkv,D] into the layer's K (kv 0) or V cache; the cache view [P+T,Hkv,D] */
ir_node *arch_kv_store(arch_ctx *c, ir_node *x, int layer, int kv);
/* q[T,Hq,D] against the layer's cache views k, v (optional sinks [Hq]):
 * [T, Hq·Dv]; window, scale and softcap are the caller's to set */
ir_node *arch_attention(arch_ctx *c, ir_node *q, ir_node *kc, ir_node *vc, ir_node *sinks, int layer);
struct arch_decoder;
/* h → q[T,H,D], k, v[T,Hkv,D] (attn_q/k/v or one attn_qkv, optional biases) */
void arch_qkv(arch_ctx *c, const struct arch_decoder *d, int il, ir_node *h, ir_node **q, ir_node **k,
              ir_node **v);
/* the FFN of width F on h (ffn_{gate,up,down}{sfx}), as d says */
ir_node *arch_ffn(arch_ctx *c, const struct arch_decoder *d, int il, ir_node *h, const char *sfx, int64_t F);

/* ---- the decoder builder (arch_decoder.c) ------------------------------- */
typedef struct arch_decoder {
    int rope_mode;               /* ARCH_ROPE_NORM / ARCH_ROPE_NEOX */
    bool embed_scale;            /* x *= sqrt(n_embd) after the embedding (gemma) */
    bool qk_norm;                /* rms_norm of each q and k head before rope (qwen3, gemma3) */
    bool post_norms;             /* rms_norm of the attention and FFN outputs before the residual add (gemma) */
    ir_op ffn_glu;               /* IR_OP_SWIGLU or IR_OP_GEGLU */
    bool ffn_fused_gate_up;      /* ffn_up holds [gate; up] (phi3) */
    bool bias_out;               /* optional attn_output / ffn biases (llama) */
    bool bias_logits;            /* optional output.bias (qwen2) */
    bool output_always_tied;     /* ignore output.weight, use token_embd (gemma2) */
    bool rope_freqs;             /* optional rope_freqs.weight, llama3 scaling */
    bool rope_long_short;        /* optional rope_factors_long/short (phi3 longrope) */
    double attn_scale;           /* 0: 1/sqrt(head_dim) */
    bool prescale_q;             /* scale q after rope, attention scale 1 (llama.cpp's phi3, gemma graphs) */
    double attn_softcap;         /* 0: none */
    double final_softcap;        /* 0: none */
    const uint8_t *swa;          /* (n_layer) 1 = sliding-window layer; NULL: none */
    uint32_t n_swa;              /* the window */
    float rope_base_swa, rope_freq_scale_swa; /* rope on sliding-window layers */
    /* granite's multipliers (0: none): the embedding, the attention and FFN
     * outputs before their residual adds, the logits */
    float embed_mul, residual_mul, logit_mul;
    uint32_t no_rope_every;      /* layers il with (il + 1) % this == 0 have no rope (smollm3: 4); 0: none */
    bool no_pre_norms;           /* no attn_norm / ffn_norm: the sublayers read x itself (olmo2) */
    bool qk_norm_rows;           /* rms_norm of the whole q and k rows before the heads (olmo2) */
    bool layer_norm;             /* attn_norm, ffn_norm, output_norm are LayerNorms with .bias (starcoder2) */
    bool ffn_plain;              /* FFN up (+b), ffn_act, down (+b): no gate (starcoder2) */
    ir_op ffn_act;               /* with ffn_plain: IR_OP_GELU */
    /* mixture of experts, when hp.n_expert > 1 (else a file with experts is
     * refused): the FFN routes each token to n_expert_used experts by the
     * softmax of ffn_gate_inp's logits */
    bool moe;                    /* this arch may have experts */
    bool moe_norm_w;             /* the chosen experts' weights divided by their sum */
    bool moe_shared;             /* plus a shared expert gated by sigmoid(ffn_gate_inp_shexp) (qwen2moe) */
    bool moe_shared_plain;       /* plus a shared expert, ungated (granitemoe's when the file has one) */
    bool moe_softmax_chosen;     /* the top k of the router's logits, weighed by their softmax (gpt-oss) */
    bool moe_bias;               /* ffn_gate_inp.bias and the experts' bias rows (gpt-oss) */
    float glu_alpha, glu_limit;  /* with ffn_glu IR_OP_SWIGLU_OAI: its constants */
    const char *ffn_norm_name;   /* the FFN's pre-norm tensor, NULL: "ffn_norm" (gpt-oss: "post_attention_norm") */
    bool attn_sinks;             /* attn_sinks.weight [n_head]: a logit a head that joins its softmax (gpt-oss) */
    bool parallel;               /* attention and FFN both read attn_norm's output; x + ffn + attention (cohere2) */
    bool rope_swa_only;          /* rope on the sliding-window layers only (cohere2's global layers have none) */
    /* deepseek2: the latent attention instead of q/k/v heads, its first
     * layers' FFN dense, its router's sigmoid, selection bias, groups and
     * scale */
    const struct arch_mla *mla;  /* NULL: q/k/v heads */
    uint32_t n_dense_lead;       /* layers il < this have the dense FFN (n_ff) even with experts */
    bool moe_sigmoid;            /* the router's probabilities by sigmoid, not softmax */
    bool moe_probs_bias;         /* choose by probabilities + exp_probs_b.bias where the file has it */
    uint32_t moe_groups, moe_groups_used; /* > 1: choose among the best moe_groups_used of moe_groups groups */
    float moe_w_scale;           /* the chosen experts' weights times this (0: not scaled) */
} arch_decoder;

rf_status arch_decoder_build(arch_ctx *c, const arch_decoder *d);

/* ---- deepseek2's multi-head latent attention (arch_deepseek2.c) ---------- */
typedef struct arch_mla {
    uint32_t q_lora_rank;        /* 0: q = h·attn_q; else attn_q_b·rms_norm(attn_q_a·h) */
    uint32_t kv_lora_rank;       /* the latent a position caches */
    uint32_t n_nope, n_rope;     /* a query head: n_nope dims without rope, then n_rope with (= hp.n_rot) */
    uint32_t head_dim_v;         /* a head's value width after attn_v_b */
    bool kv_b;                   /* the unsplit attn_kv_b: decompressed heads, cached per head */
    double kq_scale;             /* the attention scale (YaRN's mscale squared over sqrt(n_nope + n_rope)) */
} arch_mla;
/* layer il's attention on h through attn_output, rope at base/freq_scale */
ir_node *arch_mla_attention(arch_ctx *c, const arch_mla *m, int il, ir_node *h, double base, double freq_scale);

/* d's sliding window as most archs read it: attention.sliding_window
 * (default n_swa), the layers of sliding_window_pattern (default period,
 * arch_swa_layers), their rope base rope.freq_base_swa (default base_swa)
 * and the global freq_scale (llama.cpp's rope_freq_scale_train_swa) */
rf_status arch_swa(arch_ctx *c, arch_decoder *d, uint32_t n_swa, uint32_t period, float base_swa);

/* ---- tensor parallelism (arch_tp.c) -------------------------------------- */
/* c->tp: the whole model (before any builder runs) */
void arch_tp_whole(arch_ctx *c);
/* c->tp: rank opt.tp_rank's share of opt.tp_world (> 1), with the model
 * facts it changes; or a refusal naming what does not divide or is not
 * supported. Nothing with world 1. */
rf_status arch_tp_plan(arch_ctx *c, const struct arch_decoder *d);
/* this rank's share of the n columns of layer il's FFN whose down product
 * is tensor blk.il.<down>: whole blocks of its type, as evenly as
 * they go (all of them on a whole model); refused, naming what (n's
 * name), when some rank would get none */
rf_status arch_tp_share_ffn(arch_ctx *c, int il, const char *down, const char *what, int64_t n, int64_t *first,
                            int64_t *len);
/* w narrowed to its rows first .. first+n-1 (of its own rows) / of each row
 * to the columns first .. first+n-1 (refused off block boundaries) / of
 * each matrix of a 3-D w (an expert's) to its rows first .. first+n-1 */
ir_node *arch_tp_rows(arch_ctx *c, ir_node *w, int64_t first, int64_t n);
ir_node *arch_tp_cols(arch_ctx *c, ir_node *w, int64_t first, int64_t n);
ir_node *arch_tp_mid(arch_ctx *c, ir_node *w, int64_t first, int64_t n);
/* the output head's rows of this rank's vocabulary, a node of its own */
ir_node *arch_tp_vocab(arch_ctx *c, ir_node *w);
/* the ranks' partial sums added / slices joined along the last axis; x on a whole model */
ir_node *arch_all_reduce(arch_ctx *c, ir_node *x);
ir_node *arch_all_gather(arch_ctx *c, ir_node *x);

/* ---- builders, one per table row ---------------------------------------- */
rf_status arch_build_llama(arch_ctx *c);
rf_status arch_build_granite(arch_ctx *c);
rf_status arch_build_smollm3(arch_ctx *c);
rf_status arch_build_olmo2(arch_ctx *c);
rf_status arch_build_glm4(arch_ctx *c);
rf_status arch_build_exaone(arch_ctx *c);
rf_status arch_build_starcoder2(arch_ctx *c);
rf_status arch_build_cohere2(arch_ctx *c);
rf_status arch_build_qwen2(arch_ctx *c);
rf_status arch_build_qwen3(arch_ctx *c);
rf_status arch_build_qwen2moe(arch_ctx *c);
rf_status arch_build_qwen3moe(arch_ctx *c);
rf_status arch_build_gpt_oss(arch_ctx *c);
rf_status arch_build_olmoe(arch_ctx *c);
rf_status arch_build_granitemoe(arch_ctx *c);
rf_status arch_build_phi3(arch_ctx *c);
rf_status arch_build_gemma2(arch_ctx *c);
rf_status arch_build_gemma3(arch_ctx *c);
rf_status arch_build_deepseek2(arch_ctx *c);
rf_status arch_build_bert(arch_ctx *c);
rf_status arch_build_nomic_bert(arch_ctx *c);

#endif
