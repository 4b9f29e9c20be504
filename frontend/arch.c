/*
 * arch.c: the table of supported architectures and the hyperparameters
 * they all read the same way.
 *
 * A row names the architecture as general.architecture spells it, the keys
 * (below "{arch}.") without which its graph cannot be built, and its build
 * function. arch_load_hparams() checks a row's keys before anything else,
 * so a file that lacks one fails with that key's name rather than with
 * whatever happened to be read first; then it reads what every decoder
 * needs, applying llama.cpp's defaults (llama-model.cpp, load_hparams):
 *
 *   head_count_kv      = head_count
 *   key_length         = embedding_length / head_count   (value_length too)
 *   rope.dimension_count = key_length
 *   rope.freq_base     = 10000
 *   rope.scaling.type  = "linear"; rope.scaling.factor (or the older
 *                        rope.scale_linear) f gives freq_scale 1/f
 *   rope.scaling.original_context_length = context_length
 *
 * and llama.cpp's context rules for rope: scaling type "none" forces
 * freq_scale 1, "yarn" turns on ext_factor 1 (ggml's rope then applies yarn's
 * magnitude correction itself, which llama.cpp cancels, so attn_factor stays
 * 1 times rope.scaling.attn_factor).
 *
 * Every value is also checked for what the IR needs: head_count a multiple
 * of head_count_kv, an even rope dimension no larger than a head; a builder
 * whose K and V heads are one head_dim checks that key_length equals
 * value_length (arch_one_head_dim: all but deepseek2, whose cached latent
 * is its key, the latent without the rope part its value). It does not read
 * per-layer head-count arrays (the architectures here have none). Experts:
 * expert_count (> 1: a mixture of experts, which the builder must allow),
 * expert_used_count (then required, 1..expert_count), the experts' and the
 * shared expert's FFN widths (default feed_forward_length); like llama.cpp
 * for these archs, no expert_weights_scale.
 */
#include "frontend/arch.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "support/error.h"

/* ---- the table ------------------------------------------------------------ */

#define COMMON_KEYS "context_length", "embedding_length", "block_count", "feed_forward_length", \
                    "attention.head_count", "attention.layer_norm_rms_epsilon"

static const char *const keys_common[] = {COMMON_KEYS, NULL};
static const char *const keys_granite[] = {COMMON_KEYS, "logit_scale", NULL};
static const char *const keys_gpt_oss[] = {COMMON_KEYS, "expert_feed_forward_length", "attention.sliding_window", NULL};
/* LayerNorm archs: the norms' epsilon under its own key */
static const char *const keys_layernorm[] = {"context_length", "embedding_length", "block_count",
                                             "feed_forward_length", "attention.head_count",
                                             "attention.layer_norm_epsilon", NULL};

static const char *const keys_cohere2[] = {"context_length", "embedding_length", "block_count", "feed_forward_length",
                                           "attention.head_count", "attention.layer_norm_epsilon",
                                           "attention.sliding_window", "logit_scale", NULL};
/* deepseek2: llama.cpp requires these (q_lora_rank too, but for the
 * V2-Lite-sized models, which have none) */
static const char *const keys_deepseek2[] = {COMMON_KEYS, "attention.kv_lora_rank", "expert_feed_forward_length",
                                             "expert_shared_count", NULL};
static const arch_def arch_table[] = {
    {"llama", keys_common, arch_build_llama},
    {"granite", keys_granite, arch_build_granite},
    {"smollm3", keys_common, arch_build_smollm3},
    {"olmo2", keys_common, arch_build_olmo2},
    {"glm4", keys_common, arch_build_glm4},
    {"exaone", keys_common, arch_build_exaone},
    {"starcoder2", keys_layernorm, arch_build_starcoder2},
    {"cohere2", keys_cohere2, arch_build_cohere2},
    {"qwen2", keys_common, arch_build_qwen2},
    {"qwen3", keys_common, arch_build_qwen3},
    {"qwen2moe", keys_common, arch_build_qwen2moe},
    {"qwen3moe", keys_common, arch_build_qwen3moe},
    {"gpt-oss", keys_gpt_oss, arch_build_gpt_oss},
    {"olmoe", keys_common, arch_build_olmoe},
    {"granitemoe", keys_granite, arch_build_granitemoe},
    {"phi3", keys_common, arch_build_phi3},
    {"gemma2", keys_common, arch_build_gemma2},
    {"gemma3", keys_common, arch_build_gemma3},
    {"deepseek2", keys_deepseek2, arch_build_deepseek2},
    {"bert", keys_layernorm, arch_build_bert},
    {"nomic-bert", keys_layernorm, arch_build_nomic_bert},
};

#define N_ARCH (sizeof arch_table / sizeof arch_table[0])

const arch_def *arch_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_ARCH; i++)
        if (strlen(arch_table[i].name) == len && memcmp(arch_table[i].name, name, len) == 0)
            return &arch_table[i];
    return NULL;
}

void arch_list(char *buf, size_t size)
{
    size_t p = 0;
    if (!size)
        return;
    buf[0] = 0;
    for (size_t i = 0; i < N_ARCH && p < size; i++) {
        int n = snprintf(buf + p, size - p, "%s%s", i ? ", " : "", arch_table[i].name);
        if (n < 0)
            break;
        p += (size_t)n;
    }
}

/* ---- keys ----------------------------------------------------------------- */

rf_status arch_fail(arch_ctx *c, rf_status s, const char *fmt, ...)
{
    if (c->status != RF_OK)
        return c->status;
    c->status = s;
    if (c->err) {
        va_list ap;
        va_start(ap, fmt);
        c->err->status = s;
        vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* records a getter's failure (its message already names the key) */
static rf_status keep(arch_ctx *c, rf_status s, const rf_error *e)
{
    if (s != RF_OK && c->status == RF_OK) {
        c->status = s;
        if (c->err)
            *c->err = *e;
    }
    return c->status;
}

const char *arch_key(arch_ctx *c, const char *suffix)
{
    char *k = c->key[c->key_slot++ % 4];
    snprintf(k, sizeof c->key[0], "%s.%s", c->arch, suffix);
    return k;
}

rf_status arch_opt_u32(arch_ctx *c, const char *key, uint32_t *v)
{
    if (c->status != RF_OK || !gguf_find_kv(c->f, key))
        return c->status;
    rf_error e = {0};
    return keep(c, gguf_get_u32(c->f, key, v, &e), &e);
}

rf_status arch_opt_f32(arch_ctx *c, const char *key, float *v)
{
    if (c->status != RF_OK || !gguf_find_kv(c->f, key))
        return c->status;
    rf_error e = {0};
    return keep(c, gguf_get_f32(c->f, key, v, &e), &e);
}

rf_status arch_opt_bool(arch_ctx *c, const char *key, bool *v)
{
    if (c->status != RF_OK || !gguf_find_kv(c->f, key))
        return c->status;
    rf_error e = {0};
    return keep(c, gguf_get_bool(c->f, key, v, &e), &e);
}

static rf_status req_u32(arch_ctx *c, const char *suffix, uint32_t *v)
{
    if (c->status != RF_OK)
        return c->status;
    rf_error e = {0};
    return keep(c, gguf_get_u32(c->f, arch_key(c, suffix), v, &e), &e);
}

rf_status arch_one_head_dim(arch_ctx *c)
{
    const arch_hparams *hp = &c->hp;
    if (c->status == RF_OK && hp->head_dim != hp->head_dim_v)
        arch_fail(c, RF_E_UNSUPPORTED, "%s: head size %" PRIu32 " ('%s') and %" PRIu32 " ('%s') differ; one "
                  "head_dim for K and V is supported for architecture %s", gguf_path(c->f), hp->head_dim,
                  arch_key(c, "attention.key_length"), hp->head_dim_v, arch_key(c, "attention.value_length"), c->arch);
    return c->status;
}

rf_status arch_need_experts(arch_ctx *c)
{
    if (c->status == RF_OK && c->hp.n_expert <= 1)
        arch_fail(c, RF_E_FORMAT, "%s: key '%s' is %" PRIu32 ", but architecture %s has experts (> 1)",
                  gguf_path(c->f), arch_key(c, "expert_count"), c->hp.n_expert, c->arch);
    return c->status;
}

uint8_t *arch_swa_layers(arch_ctx *c, uint32_t default_period)
{
    uint32_t n = c->hp.n_layer;
    uint8_t *swa = arena_calloc(&c->g->arena, n ? n : 1, 1);
    if (!swa) {
        arch_fail(c, RF_E_NOMEM, "out of memory");
        return NULL;
    }
    const char *key = arch_key(c, "attention.sliding_window_pattern");
    const gguf_kv *kv = gguf_find_kv(c->f, key);
    uint32_t period = default_period;
    if (kv && kv->type == GGUF_VT_ARRAY) {
        /* one flag a layer (llama.cpp reads it into is_swa_impl) */
        bool ok = kv->arr_type == GGUF_VT_BOOL || kv->arr_type == GGUF_VT_UINT8 || kv->arr_type == GGUF_VT_INT8 ||
                  kv->arr_type == GGUF_VT_UINT32 || kv->arr_type == GGUF_VT_INT32;
        if (!ok || kv->arr_n != n) {
            arch_fail(c, RF_E_FORMAT, "%s: key '%s' is an array of %" PRIu64 " %s, expected %" PRIu32
                      " flags (one a layer) or a u32 period", gguf_path(c->f), key, kv->arr_n,
                      gguf_vtype_name(kv->arr_type), n);
            return NULL;
        }
        for (uint32_t il = 0; il < n; il++)
            swa[il] = gguf_arr_int(kv, il) != 0;
        return swa;
    }
    if (arch_opt_u32(c, key, &period) != RF_OK)
        return NULL;
    for (uint32_t il = 0; il < n; il++)
        swa[il] = period == 0 || il % period < period - 1;
    return swa;
}

/* ---- common hyperparameters ----------------------------------------------- */

static rf_status check_required(arch_ctx *c, const arch_def *d)
{
    for (const char *const *k = d->keys; *k; k++) {
        const char *key = arch_key(c, *k);
        if (!gguf_find_kv(c->f, key))
            return arch_fail(c, RF_E_NOTFOUND, "%s: key '%s' not found (required for architecture %s)",
                             gguf_path(c->f), key, d->name);
    }
    return RF_OK;
}

static rf_status load_rope(arch_ctx *c)
{
    arch_hparams *hp = &c->hp;
    hp->rope_base = 10000.0f;
    arch_opt_f32(c, arch_key(c, "rope.freq_base"), &hp->rope_base);
    hp->rope_n_ctx_orig = hp->n_ctx_train;
    arch_opt_u32(c, arch_key(c, "rope.scaling.original_context_length"), &hp->rope_n_ctx_orig);

    hp->rope_scaling = ARCH_ROPE_SCALING_LINEAR;
    const char *key = arch_key(c, "rope.scaling.type");
    if (c->status == RF_OK && gguf_find_kv(c->f, key)) {
        rf_error e = {0};
        const char *type = NULL;
        if (keep(c, gguf_get_cstr(c->f, key, &type, &e), &e) != RF_OK)
            return c->status;
        if (strcmp(type, "none") == 0)
            hp->rope_scaling = ARCH_ROPE_SCALING_NONE;
        else if (strcmp(type, "linear") == 0)
            hp->rope_scaling = ARCH_ROPE_SCALING_LINEAR;
        else if (strcmp(type, "yarn") == 0)
            hp->rope_scaling = ARCH_ROPE_SCALING_YARN;
        else if (strcmp(type, "longrope") == 0)
            hp->rope_scaling = ARCH_ROPE_SCALING_LONGROPE;
        else
            return arch_fail(c, RF_E_UNSUPPORTED, "%s: key '%s' is '%s', expected none, linear, yarn or longrope",
                             gguf_path(c->f), key, type);
    }
    float factor = 0.0f;
    const char *fkey = arch_key(c, "rope.scaling.factor");
    if (!gguf_find_kv(c->f, fkey))
        fkey = arch_key(c, "rope.scale_linear");
    arch_opt_f32(c, fkey, &factor);
    if (factor < 0.0f)
        return arch_fail(c, RF_E_FORMAT, "%s: key '%s' is %g, expected a factor > 0", gguf_path(c->f), fkey,
                         (double)factor);
    hp->rope_freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
    if (hp->rope_scaling == ARCH_ROPE_SCALING_NONE)
        hp->rope_freq_scale = 1.0f;

    float attn = 1.0f;
    arch_opt_f32(c, arch_key(c, "rope.scaling.attn_factor"), &attn);
    hp->rope_ext_factor = hp->rope_scaling == ARCH_ROPE_SCALING_YARN ? 1.0f : 0.0f;
    hp->rope_attn_factor = attn;
    hp->rope_beta_fast = 32.0f;
    hp->rope_beta_slow = 1.0f;
    return c->status;
}

static rf_status load_experts(arch_ctx *c)
{
    arch_hparams *hp = &c->hp;
    const char *path = gguf_path(c->f);
    hp->n_ff_exp = hp->n_ff_shexp = hp->n_ff;
    arch_opt_u32(c, arch_key(c, "expert_count"), &hp->n_expert);
    arch_opt_u32(c, arch_key(c, "expert_used_count"), &hp->n_expert_used);
    arch_opt_u32(c, arch_key(c, "expert_feed_forward_length"), &hp->n_ff_exp);
    arch_opt_u32(c, arch_key(c, "expert_shared_feed_forward_length"), &hp->n_ff_shexp);
    if (c->status != RF_OK || hp->n_expert <= 1)
        return c->status;
    if (hp->n_expert_used == 0 || hp->n_expert_used > hp->n_expert)
        return arch_fail(c, RF_E_FORMAT, "%s: key '%s' is %" PRIu32 ", expected 1..%" PRIu32 " (the '%s')", path,
                         arch_key(c, "expert_used_count"), hp->n_expert_used, hp->n_expert,
                         arch_key(c, "expert_count"));
    if (hp->n_ff_exp == 0 || hp->n_ff_shexp == 0)
        return arch_fail(c, RF_E_FORMAT, "%s: the experts' feed-forward lengths ('%s', '%s') must be > 0", path,
                         arch_key(c, "expert_feed_forward_length"), arch_key(c, "expert_shared_feed_forward_length"));
    return RF_OK;
}

rf_status arch_load_hparams(arch_ctx *c, const arch_def *d)
{
    arch_hparams *hp = &c->hp;
    const char *path = gguf_path(c->f);
    if (check_required(c, d) != RF_OK)
        return c->status;
    req_u32(c, "context_length", &hp->n_ctx_train);
    req_u32(c, "embedding_length", &hp->n_embd);
    req_u32(c, "block_count", &hp->n_layer);
    req_u32(c, "feed_forward_length", &hp->n_ff);
    req_u32(c, "attention.head_count", &hp->n_head);
    /* the norms' epsilon: RMSNorm's, or LayerNorm's for the archs that have it */
    const char *eps_key = "attention.layer_norm_rms_epsilon";
    for (size_t i = 0; d->keys[i]; i++)
        if (!strcmp(d->keys[i], "attention.layer_norm_epsilon"))
            eps_key = d->keys[i];
    if (c->status == RF_OK) {
        rf_error e = {0};
        keep(c, gguf_get_f32(c->f, arch_key(c, eps_key), &hp->rms_eps, &e), &e);
    }
    if (c->status != RF_OK)
        return c->status;

    if (hp->n_layer == 0 || hp->n_embd == 0 || hp->n_ff == 0 || hp->n_head == 0)
        return arch_fail(c, RF_E_FORMAT, "%s: '%s', '%s', '%s' and '%s' must be > 0 (got %" PRIu32 ", %" PRIu32
                         ", %" PRIu32 ", %" PRIu32 ")", path, arch_key(c, "block_count"),
                         arch_key(c, "embedding_length"), arch_key(c, "feed_forward_length"),
                         arch_key(c, "attention.head_count"), hp->n_layer, hp->n_embd, hp->n_ff, hp->n_head);
    if (!(hp->rms_eps > 0.0f))
        return arch_fail(c, RF_E_FORMAT, "%s: key '%s' is %g, expected > 0", path, arch_key(c, eps_key),
                         (double)hp->rms_eps);

    if (load_experts(c) != RF_OK)
        return c->status;

    hp->n_head_kv = hp->n_head;
    if (arch_opt_u32(c, arch_key(c, "attention.head_count_kv"), &hp->n_head_kv) != RF_OK)
        return c->status;
    if (hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv != 0)
        return arch_fail(c, RF_E_FORMAT, "%s: key '%s' is %" PRIu32 ", expected a divisor of '%s' (%" PRIu32 ")",
                         path, arch_key(c, "attention.head_count_kv"), hp->n_head_kv,
                         arch_key(c, "attention.head_count"), hp->n_head);

    const char *kkey = arch_key(c, "attention.key_length");
    bool has_k = gguf_find_kv(c->f, kkey) != NULL;
    if (!has_k && hp->n_embd % hp->n_head != 0)
        return arch_fail(c, RF_E_FORMAT, "%s: '%s' (%" PRIu32 ") is not a multiple of '%s' (%" PRIu32
                         ") and '%s' is absent", path, arch_key(c, "embedding_length"), hp->n_embd,
                         arch_key(c, "attention.head_count"), hp->n_head, kkey);
    uint32_t dk = hp->n_embd / hp->n_head, dv = dk;
    arch_opt_u32(c, kkey, &dk);
    arch_opt_u32(c, arch_key(c, "attention.value_length"), &dv);
    if (c->status != RF_OK)
        return c->status;
    if (dk == 0 || dv == 0)
        return arch_fail(c, RF_E_FORMAT, "%s: head sizes '%s' and '%s' must be > 0", path, kkey,
                         arch_key(c, "attention.value_length"));
    hp->head_dim = dk;
    hp->head_dim_v = dv;

    hp->n_rot = hp->head_dim;
    const char *rkey = arch_key(c, "rope.dimension_count");
    if (arch_opt_u32(c, rkey, &hp->n_rot) != RF_OK)
        return c->status;
    if (hp->n_rot == 0 || hp->n_rot % 2 || hp->n_rot > hp->head_dim)
        return arch_fail(c, RF_E_FORMAT, "%s: rope dimension %" PRIu32 " ('%s', default head_dim) must be even, "
                         "> 0 and <= head_dim %" PRIu32, path, hp->n_rot, rkey, hp->head_dim);

    /* the vocabulary is what the embedding table has rows for */
    const gguf_tensor *te = gguf_find_tensor(c->f, "token_embd.weight");
    if (!te)
        return arch_fail(c, RF_E_NOTFOUND, "%s: tensor 'token_embd.weight' not found", path);
    if (te->ne[1] == 0 || te->ne[1] > UINT32_MAX)
        return arch_fail(c, RF_E_FORMAT, "%s: tensor 'token_embd.weight' has %" PRIu64 " rows", path, te->ne[1]);
    hp->n_vocab = (uint32_t)te->ne[1];
    return load_rope(c);
}
