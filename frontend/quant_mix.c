/*
 * quant_mix.c: llama.cpp's choice of a type per tensor when it quantizes a
 * model (llama-quant.cpp: tensor_allows_quantization,
 * llama_tensor_get_type_impl, tensor_type_fallback), for the file types we
 * can write. Matching it decision for decision is the point: the same
 * input then gives the same file, byte for byte.
 *
 * The rules, for a tensor that may be quantized at all (a matrix or an
 * expert stack whose name ends in "weight", not a norm, router, position or
 * token-type embedding, or one of a list of small special tensors):
 *   - F32, F16, BF16 file types: the type, nothing else.
 *   - --pure: the default type, then the fallback.
 *   - the head (output.weight, or token_embd when there is no output):
 *     Q8_0 for MXFP4_MOE, for falcon, or when the row length does not divide
 *     the default type's block; otherwise Q6_K unless the default is Q8_0.
 *   - MXFP4_MOE: expert stacks (ne[2] > 1) MXFP4, everything else Q8_0.
 *   - attn_v (and the fused attn_qkv and attn_kv_b, which count as one):
 *     Q2_K: Q4_K with n_gqa >= 4, else Q3_K; Q3_K_M: Q5_K for the first
 *     two, then Q4_K; Q3_K_L: Q5_K; IQ4_NL/IQ4_XS with n_gqa >= 4: Q5_K;
 *     Q4_K_M/Q5_K_M: Q6_K where use_more_bits; Q4_K_S: Q5_K for the first
 *     four; a 70B model's Q3_K/Q4_K become Q5_K; 8 experts: Q8_0.
 *   - attn_k: Q8_0 with 8 experts.
 *   - ffn_down (any tensor named so: experts and shared experts too):
 *     Q2_K: Q3_K; Q3_K_M: Q5_K in the first sixteenth, else Q4_K (falcon:
 *     Q3_K outside use_more_bits); Q3_K_L: Q5_K (falcon Q4_K); Q4_K_M:
 *     Q6_K where use_more_bits (falcon: Q6_K, Q5_K, Q4_K by layer);
 *     IQ4_NL/IQ4_XS: Q5_K in the first eighth; Q5_K_M: Q6_K where
 *     use_more_bits; Q4_K_S: Q5_K in the first eighth (not falcon).
 *   - attn_output: with 8 experts Q5_K for the Q2_K..Q4_K_M and IQ4 mixes;
 *     else Q2_K: Q3_K, Q3_K_M: Q4_K, Q3_K_L: Q5_K (falcon: Q3_K_L Q4_K).
 *   - then the fallback, for a row length the block does not divide:
 *     Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0,
 *     IQ4_XS -> IQ4_NL, and F16 when even the fallback's block does not
 *     divide it (a 32-element type falls straight to F16); the lattice
 *     i-quants -> IQ4_NL, TQ1_0/TQ2_0/Q2_0 -> Q4_0; Q1_0 has none, an
 *     error as in llama.cpp.
 * use_more_bits(i, n): the first and last eighth of n, and every third in
 * between. The layer i of an attn_v is its count so far; of an ffn tensor
 * also its count so far, except with experts, where it is read from the
 * name (Mixtral's expert tensors are not in layer order), and n is the
 * block count.
 *   - the IQ1/IQ2 mixes (mix_type_iq12): head Q5_K, token_embd Q2_K (IQ2_S,
 *     IQ2_M: IQ3_S), attn_v Q4_K with n_gqa >= 4 or 4+ experts else
 *     Q2_K/IQ3_S, attn_k Q4_K with 8 experts, the first eighth of ffn_down
 *     (by count) Q2_K/IQ3_S, attn_output Q5_K with 8 experts, else IQ2_XXS
 *     (IQ1) or IQ3_S (IQ2_S/M); IQ3_XXS also makes the head Q5_K and
 *     token_embd IQ3_S; the IQ3 mixes make attn_q/attn_k IQ3_XXS (IQ3_XS)
 *     or IQ2_S (IQ3_XXS) and IQ3_XS's middle ffn_gate/ffn_up IQ3_XXS; the
 *     ternary mixes make token_embd Q4_K.
 *   - with an importance matrix (has_imatrix) llama.cpp changes three
 *     rules: Q4_0/Q5_0 make the first eighth of ffn_down Q4_1/Q5_1,
 *     IQ4_NL/IQ4_XS no longer make it Q5_K, and IQ3_XXS keeps attn_v and
 *     ffn_down IQ3_XXS (without: IQ3_S, and Q4_K/Q3_K).
 * qmix_requires_imatrix says which tensors then cannot be quantized without
 * one (llama.cpp's tensor_requires_imatrix).
 *
 * Where llama.cpp's code has a quirk that shows in its output, it is kept
 * and said so (a 5-byte name counts as ending in "weight").
 */
#include "frontend/quant_mix.h"
#include "support/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* llama_ftype values (llama.h). */
enum {
    FT_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8, FT_Q5_1 = 9,
    FT_Q2_K = 10, FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13, FT_Q4_K_S = 14, FT_Q4_K_M = 15,
    FT_Q5_K_S = 16, FT_Q5_K_M = 17, FT_Q6_K = 18, FT_IQ2_XXS = 19, FT_IQ2_XS = 20, FT_Q2_K_S = 21,
    FT_IQ3_XS = 22, FT_IQ3_XXS = 23, FT_IQ1_S = 24, FT_IQ4_NL = 25, FT_IQ3_S = 26, FT_IQ3_M = 27,
    FT_IQ2_S = 28, FT_IQ2_M = 29, FT_IQ4_XS = 30, FT_IQ1_M = 31, FT_BF16 = 32, FT_TQ1_0 = 36,
    FT_TQ2_0 = 37, FT_MXFP4_MOE = 38, FT_Q1_0 = 40, FT_Q2_0 = 41,
};

static const qmix_ftype FTYPES[] = {
    {"q4_0", FT_Q4_0, GGML_TYPE_Q4_0},       {"q4_1", FT_Q4_1, GGML_TYPE_Q4_1},
    {"q5_0", FT_Q5_0, GGML_TYPE_Q5_0},       {"q5_1", FT_Q5_1, GGML_TYPE_Q5_1},
    {"q8_0", FT_Q8_0, GGML_TYPE_Q8_0},       {"q2_k", FT_Q2_K, GGML_TYPE_Q2_K},
    {"q3_k_s", FT_Q3_K_S, GGML_TYPE_Q3_K},   {"q3_k_m", FT_Q3_K_M, GGML_TYPE_Q3_K},
    {"q3_k_l", FT_Q3_K_L, GGML_TYPE_Q3_K},   {"q4_k_s", FT_Q4_K_S, GGML_TYPE_Q4_K},
    {"q4_k_m", FT_Q4_K_M, GGML_TYPE_Q4_K},   {"q5_k_s", FT_Q5_K_S, GGML_TYPE_Q5_K},
    {"q5_k_m", FT_Q5_K_M, GGML_TYPE_Q5_K},   {"q6_k", FT_Q6_K, GGML_TYPE_Q6_K},
    {"iq4_nl", FT_IQ4_NL, GGML_TYPE_IQ4_NL}, {"iq4_xs", FT_IQ4_XS, GGML_TYPE_IQ4_XS},
    {"mxfp4_moe", FT_MXFP4_MOE, GGML_TYPE_MXFP4},
    {"q2_k_s", FT_Q2_K_S, GGML_TYPE_Q2_K},   {"iq2_xxs", FT_IQ2_XXS, GGML_TYPE_IQ2_XXS},
    {"iq2_xs", FT_IQ2_XS, GGML_TYPE_IQ2_XS}, {"iq2_s", FT_IQ2_S, GGML_TYPE_IQ2_XS},
    {"iq2_m", FT_IQ2_M, GGML_TYPE_IQ2_S},    {"iq1_s", FT_IQ1_S, GGML_TYPE_IQ1_S},
    {"iq1_m", FT_IQ1_M, GGML_TYPE_IQ1_M},    {"iq3_xxs", FT_IQ3_XXS, GGML_TYPE_IQ3_XXS},
    {"iq3_xs", FT_IQ3_XS, GGML_TYPE_IQ3_S},  {"iq3_s", FT_IQ3_S, GGML_TYPE_IQ3_S},
    {"iq3_m", FT_IQ3_M, GGML_TYPE_IQ3_S},    {"tq1_0", FT_TQ1_0, GGML_TYPE_TQ1_0},
    {"tq2_0", FT_TQ2_0, GGML_TYPE_TQ2_0},    {"q1_0", FT_Q1_0, GGML_TYPE_Q1_0},
    {"q2_0", FT_Q2_0, GGML_TYPE_Q2_0},
    {"f16", FT_F16, GGML_TYPE_F16},          {"bf16", FT_BF16, GGML_TYPE_BF16},
    {"f32", FT_F32, GGML_TYPE_F32},
};
#define N_FTYPES (sizeof FTYPES / sizeof FTYPES[0])

static const struct { const char *alias, *name; } ALIASES[] = {
    {"q3_k", "q3_k_m"}, {"q4_k", "q4_k_m"}, {"q5_k", "q5_k_m"}, {"mxfp4", "mxfp4_moe"},
};

/* Types named by llama.cpp that we do not write, and why. */
static const struct { const char *name, *why; } UNSUPPORTED[] = {
    {"nvfp4", "is not a file type of llama.cpp's quantize tool (NVFP4 tensors come from conversion)"},
};

rf_status qmix_ftype_find(const char *name, const qmix_ftype **out, rf_error *err)
{
    *out = NULL;
    if (!name)
        name = "";
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if (!strcasecmp(name, ALIASES[i].alias))
            name = ALIASES[i].name;
    for (size_t i = 0; i < N_FTYPES; i++)
        if (!strcasecmp(name, FTYPES[i].name)) {
            *out = &FTYPES[i];
            return RF_OK;
        }
    for (size_t i = 0; i < sizeof UNSUPPORTED / sizeof UNSUPPORTED[0]; i++)
        if (!strcasecmp(name, UNSUPPORTED[i].name))
            return rf_fail(err, RF_E_UNSUPPORTED, "quantize type '%s' %s", name, UNSUPPORTED[i].why);
    return rf_fail(err, RF_E_ARG, "unknown quantize type '%s' (one of: %s)", name, qmix_ftype_names());
}

const char *qmix_ftype_names(void)
{
    return "q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q2_k_s q3_k_s q3_k_m q3_k_l q4_k_s q4_k_m q5_k_s q5_k_m q6_k "
           "iq1_s iq1_m iq2_xxs iq2_xs iq2_s iq2_m iq3_xxs iq3_xs iq3_s iq3_m iq4_nl iq4_xs tq1_0 tq2_0 "
           "q1_0 q2_0 mxfp4_moe f16 bf16 f32";
}

/* ---- names -------------------------------------------------------------- */

typedef enum category {
    CAT_TOKEN_EMBD, CAT_ATTN_Q, CAT_ATTN_V, CAT_ATTN_K, CAT_ATTN_QKV, CAT_ATTN_KV_B, CAT_ATTN_OUTPUT,
    CAT_FFN_UP, CAT_FFN_GATE, CAT_FFN_DOWN, CAT_OUTPUT, CAT_OTHER
} category;

static bool has(const char *s, const char *part)
{
    return strstr(s, part) != NULL;
}

static bool is_token_embd(const char *name)
{
    return !strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight");
}

/* Broad roles by substring, first match wins (the order matters: an
 * attn_qkv is not an attn_q). */
static category name_category(const char *name)
{
    if (!strcmp(name, "output.weight"))
        return CAT_OUTPUT;
    if (is_token_embd(name))
        return CAT_TOKEN_EMBD;
    static const struct { const char *part; category cat; } PARTS[] = {
        {"attn_qkv.weight", CAT_ATTN_QKV}, {"attn_kv_b.weight", CAT_ATTN_KV_B},
        {"attn_v.weight", CAT_ATTN_V},     {"attn_k.weight", CAT_ATTN_K},
        {"attn_q.weight", CAT_ATTN_Q},     {"attn_output.weight", CAT_ATTN_OUTPUT},
        {"ffn_up", CAT_FFN_UP},            {"ffn_gate", CAT_FFN_GATE},
        {"ffn_down", CAT_FFN_DOWN},
    };
    for (size_t i = 0; i < sizeof PARTS / sizeof PARTS[0]; i++)
        if (has(name, PARTS[i].part))
            return PARTS[i].cat;
    return CAT_OTHER;
}

static bool is_attn_v_like(category c)
{
    return c == CAT_ATTN_V || c == CAT_ATTN_QKV || c == CAT_ATTN_KV_B;
}

uint32_t qmix_n_dims(const uint64_t ne[GGUF_MAX_DIMS])
{
    for (uint32_t d = GGUF_MAX_DIMS; d > 1; d--)
        if (ne[d - 1] > 1)
            return d;
    return 1;
}

/* Tensors never quantized, by part of the name: small ones, lookups, and
 * the ones precision matters most for. */
static const char *const KEEP_PARTS[] = {
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
    "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
    "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
    "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
    "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
    "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd",
    "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
    "mm.a.code_embd",
};

static bool allows_quantization(const char *name, const uint64_t ne[GGUF_MAX_DIMS])
{
    if (qmix_n_dims(ne) < 2)
        return false;
    size_t len = strlen(name);
    /* llama.cpp tests name.rfind("weight") == name.size() - 6, which a name
     * of 5 bytes passes too (npos == 5 - 6 in size_t): kept, as it decides
     * the output. */
    bool ends_weight = (len >= 6 && !strcmp(name + len - 6, "weight")) || (len == 5 && !has(name, "weight"));
    if (!ends_weight)
        return false;
    for (size_t i = 0; i < sizeof KEEP_PARTS / sizeof KEEP_PARTS[0]; i++)
        if (has(name, KEEP_PARTS[i]))
            return false;
    return strcmp(name, "position_embd.weight") != 0 && strcmp(name, "token_types.weight") != 0;
}

/* The block index of a "blk.N." name (as sscanf "blk.%d." reads it), or -1. */
static int block_of(const char *name)
{
    int il;
    return sscanf(name, "blk.%d.", &il) == 1 ? il : -1;
}

/* ---- hyper-parameters -------------------------------------------------- */

/* An integer key of any integer type, or element 0 of an integer array
 * (per-layer head counts); def when absent. */
static rf_status kv_int(const gguf_file *f, const char *key, int64_t def, int64_t *out, rf_error *err)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    *out = def;
    if (!kv)
        return RF_OK;
    gguf_vtype t = kv->type;
    if (t == GGUF_VT_ARRAY) {
        t = kv->arr_type;
        bool is_int = t <= GGUF_VT_INT32 || t == GGUF_VT_UINT64 || t == GGUF_VT_INT64;
        if (!is_int || kv->arr_n == 0)
            return rf_fail(err, RF_E_TYPE, "%s: key '%s' is not an integer array", gguf_path(f), key);
        *out = gguf_arr_int(kv, 0);
        return RF_OK;
    }
    switch (t) {
    case GGUF_VT_UINT8: case GGUF_VT_UINT16: case GGUF_VT_UINT32: case GGUF_VT_UINT64:
        *out = kv->val.u64 > INT32_MAX ? INT32_MAX : (int64_t)kv->val.u64;
        return RF_OK;
    case GGUF_VT_INT8: case GGUF_VT_INT16: case GGUF_VT_INT32: case GGUF_VT_INT64:
        *out = kv->val.i64;
        return RF_OK;
    default:
        return rf_fail(err, RF_E_TYPE, "%s: key '%s' is %s, not an integer", gguf_path(f), key,
                       gguf_vtype_name(t));
    }
}

rf_status qmix_init(qmix *m, const gguf_file *f, const qmix_ftype *ft, bool pure, bool has_imatrix,
                    const char *const *names, size_t n_names, rf_error *err)
{
    memset(m, 0, sizeof *m);
    m->ft = ft;
    m->pure = pure;
    m->has_imatrix = has_imatrix;
    const char *arch;
    rf_status s = gguf_get_cstr(f, "general.architecture", &arch, err);
    if (s != RF_OK)
        return s;
    char key[256];
    int64_t n_layer, n_expert, n_head, n_head_kv;
    snprintf(key, sizeof key, "%s.block_count", arch);
    if (!gguf_find_kv(f, key))
        return rf_fail(err, RF_E_NOTFOUND, "%s: key '%s' is missing (the rules count layers)", gguf_path(f), key);
    if ((s = kv_int(f, key, 0, &n_layer, err)) != RF_OK)
        return s;
    if (n_layer <= 0 || n_layer > 1000000)
        return rf_fail(err, RF_E_FORMAT, "%s: key '%s' = %lld is not a layer count", gguf_path(f), key,
                       (long long)n_layer);
    snprintf(key, sizeof key, "%s.expert_count", arch);
    if ((s = kv_int(f, key, 0, &n_expert, err)) != RF_OK)
        return s;
    snprintf(key, sizeof key, "%s.attention.head_count", arch);
    if ((s = kv_int(f, key, 0, &n_head, err)) != RF_OK)
        return s;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    if ((s = kv_int(f, key, n_head, &n_head_kv, err)) != RF_OK)
        return s;

    m->n_layer = (int)n_layer;
    m->n_expert = n_expert < 0 ? 0 : n_expert > INT32_MAX ? INT32_MAX : (int)n_expert;
    m->n_gqa = n_head_kv > 0 ? (int)(n_head / n_head_kv) : 0;
    m->falcon = !strcmp(arch, "falcon");
    m->bailingmoe3 = !strcmp(arch, "bailingmoe3");
    /* llama.cpp's model type: only "70B" changes a rule */
    if (!strcmp(arch, "llama"))
        m->is_70b = n_layer == 80 && n_head != n_head_kv;
    else if (!strcmp(arch, "qwen2") || !strcmp(arch, "deci") || !strcmp(arch, "olmo"))
        m->is_70b = n_layer == 80;
    else if (!strcmp(arch, "jais2"))
        m->is_70b = n_layer == 68;

    m->tied = true;
    for (size_t i = 0; i < n_names; i++) {
        category c = name_category(names[i]);
        if (is_attn_v_like(c))
            m->n_attn_v++;
        if (c == CAT_OUTPUT)
            m->tied = false;
    }
    return RF_OK;
}

/* ---- the rules ---------------------------------------------------------- */

static bool use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool is_quantized(ggml_type t)
{
    return t != GGML_TYPE_F32 && t != GGML_TYPE_F16 && t != GGML_TYPE_BF16;
}

static uint32_t block_size(ggml_type t)
{
    return ggml_type_get((uint32_t)t)->block_size;
}

/* The layer an ffn tensor is in: its count so far, or with experts the
 * number in its name. */
static rf_status ffn_layer(const qmix *m, int count, const char *name, int *il, rf_error *err)
{
    *il = count;
    if (m->n_expert > 1) {
        *il = block_of(name);
        if (*il < 0)
            return rf_fail(err, RF_E_FORMAT, "tensor '%s': no block number in its name (a model with "
                           "experts types its FFN tensors by layer)", name);
        if (*il >= m->n_layer)
            return rf_fail(err, RF_E_FORMAT, "tensor '%s': block %d of a model of %d", name, *il, m->n_layer);
    }
    return RF_OK;
}

static bool ft_in(uint32_t ft, const uint32_t *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ft == set[i])
            return true;
    return false;
}
#define FT_IN(ft, ...) ft_in(ft, (const uint32_t[]){__VA_ARGS__}, sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

/* The very-low-bit mixes (IQ1, IQ2): their own rules for every tensor. */
static void mix_type_iq12(qmix *m, category cat, ggml_type *t)
{
    const uint32_t ft = m->ft->ftype;
    const bool iq2_sm = ft == FT_IQ2_S || ft == FT_IQ2_M;
    if (is_attn_v_like(cat)) {
        *t = m->n_gqa >= 4 || m->n_expert >= 4 ? GGML_TYPE_Q4_K : iq2_sm ? GGML_TYPE_IQ3_S : GGML_TYPE_Q2_K;
        m->i_attn_v++;
    } else if (m->n_expert == 8 && cat == CAT_ATTN_K) {
        *t = GGML_TYPE_Q4_K;
    } else if (cat == CAT_FFN_DOWN) {
        /* by its count, not its layer, even with experts */
        if (m->i_ffn_down < m->n_layer / 8)
            *t = iq2_sm ? GGML_TYPE_IQ3_S : GGML_TYPE_Q2_K;
        m->i_ffn_down++;
    } else if (cat == CAT_ATTN_OUTPUT) {
        if (m->n_expert == 8)
            *t = GGML_TYPE_Q5_K;
        else if (ft == FT_IQ1_S || ft == FT_IQ1_M)
            *t = GGML_TYPE_IQ2_XXS;
        else if (iq2_sm)
            *t = GGML_TYPE_IQ3_S;
    }
}

static rf_status mix_type(qmix *m, const char *name, const uint64_t ne[GGUF_MAX_DIMS], ggml_type *type,
                          rf_error *err)
{
    const uint32_t ft = m->ft->ftype;
    const category cat = name_category(name);
    const int n = m->n_layer;
    ggml_type t = *type;

    if (cat == CAT_OUTPUT || (m->tied && cat == CAT_TOKEN_EMBD)) {
        if (ft == FT_MXFP4_MOE || m->falcon || ne[0] % block_size(t) != 0)
            t = GGML_TYPE_Q8_0;
        else if (FT_IN(ft, FT_IQ2_XXS, FT_IQ2_XS, FT_IQ3_XXS, FT_IQ1_S, FT_IQ2_S, FT_IQ2_M, FT_IQ1_M))
            t = GGML_TYPE_Q5_K;
        else if (t != GGML_TYPE_Q8_0)
            t = GGML_TYPE_Q6_K;
    } else if (ft == FT_MXFP4_MOE) {
        bool expert_role = cat == CAT_FFN_UP || cat == CAT_FFN_GATE || cat == CAT_FFN_DOWN;
        t = ne[2] > 1 && (!m->bailingmoe3 || expert_role) ? GGML_TYPE_MXFP4 : GGML_TYPE_Q8_0;
    } else if (cat == CAT_TOKEN_EMBD) {
        if (FT_IN(ft, FT_IQ2_XXS, FT_IQ2_XS, FT_IQ1_S, FT_IQ1_M))
            t = GGML_TYPE_Q2_K;
        else if (FT_IN(ft, FT_IQ2_S, FT_IQ2_M, FT_IQ3_XXS))
            t = GGML_TYPE_IQ3_S;
        else if (FT_IN(ft, FT_TQ1_0, FT_TQ2_0, FT_Q2_0))
            t = GGML_TYPE_Q4_K;
    } else if (FT_IN(ft, FT_IQ2_XXS, FT_IQ2_XS, FT_IQ1_S, FT_IQ2_S, FT_IQ2_M, FT_IQ1_M)) {
        mix_type_iq12(m, cat, &t);
    } else if (is_attn_v_like(cat)) {
        if (ft == FT_Q2_K)
            t = m->n_gqa >= 4 ? GGML_TYPE_Q4_K : GGML_TYPE_Q3_K;
        else if (ft == FT_Q2_K_S && m->n_gqa >= 4)
            t = GGML_TYPE_Q4_K;
        else if (ft == FT_IQ3_XXS)
            t = m->n_gqa >= 4 ? GGML_TYPE_Q4_K : !m->has_imatrix ? GGML_TYPE_IQ3_S : GGML_TYPE_IQ3_XXS;
        else if ((ft == FT_IQ3_XS || ft == FT_IQ3_S) && m->n_gqa >= 4)
            t = GGML_TYPE_Q4_K;
        else if (ft == FT_IQ3_M)
            t = GGML_TYPE_Q4_K;
        else if (ft == FT_Q3_K_M)
            t = m->i_attn_v < 2 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L)
            t = GGML_TYPE_Q5_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && m->n_gqa >= 4)
            t = GGML_TYPE_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(m->i_attn_v, m->n_attn_v))
            t = GGML_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && m->i_attn_v < 4)
            t = GGML_TYPE_Q5_K;
        /* 70B shares each attn_v over 8 heads: the tensor is small, more
         * bits are cheap */
        if (m->is_70b && (t == GGML_TYPE_Q3_K || t == GGML_TYPE_Q4_K))
            t = GGML_TYPE_Q5_K;
        if (m->n_expert == 8)
            t = GGML_TYPE_Q8_0;
        m->i_attn_v++;
    } else if (cat == CAT_ATTN_K) {
        if (m->n_expert == 8)
            t = GGML_TYPE_Q8_0;
        else if (ft == FT_IQ3_XS)
            t = GGML_TYPE_IQ3_XXS;
        else if (ft == FT_IQ3_XXS)
            t = GGML_TYPE_IQ2_S;
    } else if (cat == CAT_ATTN_Q) {
        if (ft == FT_IQ3_XS)
            t = GGML_TYPE_IQ3_XXS;
        else if (ft == FT_IQ3_XXS)
            t = GGML_TYPE_IQ2_S;
    } else if (cat == CAT_FFN_DOWN) {
        int il;
        rf_status s = ffn_layer(m, m->i_ffn_down, name, &il, err);
        if (s != RF_OK)
            return s;
        if (ft == FT_Q2_K)
            t = GGML_TYPE_Q3_K;
        else if (ft == FT_Q2_K_S) {
            if (il < n / 8)
                t = GGML_TYPE_Q4_K;
        } else if (ft == FT_IQ3_XXS && !m->has_imatrix)
            t = il < n / 8 ? GGML_TYPE_Q4_K : GGML_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M)
            t = il < n / 16 ? GGML_TYPE_Q5_K
              : !m->falcon || use_more_bits(il, n) ? GGML_TYPE_Q4_K : GGML_TYPE_Q3_K;
        else if (ft == FT_IQ3_M && (il < n / 8 || (m->n_expert == 8 && use_more_bits(il, n))))
            t = GGML_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L)
            t = m->falcon ? GGML_TYPE_Q4_K : GGML_TYPE_Q5_K;
        else if (ft == FT_Q4_K_M) {
            if (m->falcon)
                t = il < n / 16 ? GGML_TYPE_Q6_K : use_more_bits(il, n) ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
            else if (use_more_bits(il, n))
                t = GGML_TYPE_Q6_K;
        } else if (il < n / 8 && (ft == FT_IQ4_NL || ft == FT_IQ4_XS) && !m->has_imatrix)
            t = GGML_TYPE_Q5_K;
        else if (ft == FT_Q5_K_M && use_more_bits(il, n))
            t = GGML_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && !m->falcon && il < n / 8)
            t = GGML_TYPE_Q5_K;
        else if ((ft == FT_Q4_0 || ft == FT_Q5_0) && m->has_imatrix && il < n / 8)
            /* the first few ffn_down go wrong even with an imatrix in
             * Q4_0/Q5_0 (llama.cpp's guard, only with an imatrix so that
             * files without one stay as they were) */
            t = ft == FT_Q4_0 ? GGML_TYPE_Q4_1 : GGML_TYPE_Q5_1;
        m->i_ffn_down++;
    } else if (cat == CAT_ATTN_OUTPUT) {
        if (!m->falcon) {
            if (m->n_expert == 8) {
                if (FT_IN(ft, FT_Q2_K, FT_IQ3_XS, FT_IQ3_XXS, FT_Q3_K_S, FT_Q3_K_M, FT_IQ4_NL, FT_Q4_K_S,
                          FT_Q4_K_M, FT_IQ3_S, FT_IQ3_M, FT_IQ4_XS))
                    t = GGML_TYPE_Q5_K;
            } else if (ft == FT_Q2_K) {
                t = GGML_TYPE_Q3_K;
            } else if (ft == FT_IQ3_XXS) {
                t = GGML_TYPE_IQ3_S;
            } else if (ft == FT_Q3_K_M || ft == FT_IQ3_M) {
                t = GGML_TYPE_Q4_K;
            } else if (ft == FT_Q3_K_L) {
                t = GGML_TYPE_Q5_K;
            }
        } else if (ft == FT_Q3_K_L) {
            t = GGML_TYPE_Q4_K;
        }
    } else if (cat == CAT_FFN_GATE || cat == CAT_FFN_UP) {
        /* with experts a name without a block number is an error, as it is
         * for llama.cpp, whatever the rule */
        int *count = cat == CAT_FFN_GATE ? &m->i_ffn_gate : &m->i_ffn_up;
        int il;
        rf_status s = ffn_layer(m, *count, name, &il, err);
        if (s != RF_OK)
            return s;
        if (ft == FT_IQ3_XS && il >= n / 8 && il < 7 * n / 8)
            t = GGML_TYPE_IQ3_XXS;
        (*count)++;
    }
    *type = t;
    return RF_OK;
}

/* A type whose block does not divide the row length: the nearest type with
 * 32-element blocks, or F16. */
static ggml_type fallback(ggml_type t, uint64_t ncols, bool *fell)
{
    if (ncols % block_size(t) == 0)
        return t;
    *fell = true;
    ggml_type r;
    switch (t) {
    case GGML_TYPE_IQ1_S: case GGML_TYPE_IQ1_M: case GGML_TYPE_IQ2_XXS: case GGML_TYPE_IQ2_XS:
    case GGML_TYPE_IQ2_S: case GGML_TYPE_IQ3_XXS: case GGML_TYPE_IQ3_S:
    case GGML_TYPE_IQ4_XS: r = GGML_TYPE_IQ4_NL; break;
    case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: case GGML_TYPE_TQ1_0: case GGML_TYPE_TQ2_0: case GGML_TYPE_Q2_0:
        r = GGML_TYPE_Q4_0; break;
    case GGML_TYPE_Q4_K: r = GGML_TYPE_Q5_0; break;
    case GGML_TYPE_Q5_K: r = GGML_TYPE_Q5_1; break;
    case GGML_TYPE_Q6_K: r = GGML_TYPE_Q8_0; break;
    default:
        /* every type the rules give is one of the above, Q1_0 (refused
         * before) or has 32-element blocks */
        RF_ASSERT(block_size(t) <= 32);
        r = t;
    }
    return ncols % block_size(r) == 0 ? r : GGML_TYPE_F16;
}

rf_status qmix_tensor_type(qmix *m, const char *name, const uint64_t ne[GGUF_MAX_DIMS], ggml_type cur,
                           ggml_type *out, bool *fell, rf_error *err)
{
    *out = cur;
    *fell = false;
    if (!allows_quantization(name, ne))
        return RF_OK;
    ggml_type t = m->ft->type;
    if (is_quantized(t)) {
        if (!m->pure) {
            rf_status s = mix_type(m, name, ne, &t, err);
            if (s != RF_OK)
                return s;
        }
        /* llama.cpp defines no fallback for a type of blocks above 32
         * other than those fallback() knows (Q1_0's 128) */
        if (ne[0] % block_size(t) != 0 && t == GGML_TYPE_Q1_0)
            return rf_fail(err, RF_E_UNSUPPORTED, "tensor '%s': its rows of %llu do not divide into q1_0 blocks "
                           "of 128, and llama.cpp defines no fallback type for q1_0", name,
                           (unsigned long long)ne[0]);
        t = fallback(t, ne[0], fell);
        if (*fell)
            m->n_fallback++;
    }
    *out = t;
    return RF_OK;
}

bool qmix_requires_imatrix(const qmix *m, const char *name, ggml_type to)
{
    if (!strcmp(name, "output.weight") || is_token_embd(name))
        return false;
    switch (to) {
    case GGML_TYPE_IQ3_XXS: case GGML_TYPE_IQ2_XXS: case GGML_TYPE_IQ2_XS: case GGML_TYPE_IQ2_S:
    case GGML_TYPE_IQ1_M: case GGML_TYPE_IQ1_S:
        return true;
    case GGML_TYPE_Q2_K:
        return m->ft->ftype == FT_Q2_K_S;
    default:
        return false;
    }
}

bool qmix_imatrix_optional(const char *name)
{
    return is_token_embd(name);
}

/* ---- order ----------------------------------------------------------------- */

typedef struct order_key {
    int block;
    const char *name;
    size_t idx;
} order_key;

static int cmp_order(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->block != y->block)
        return x->block < y->block ? -1 : 1;
    /* std::string's operator<: bytes as unsigned char, a prefix first */
    return strcmp(x->name, y->name);
}

rf_status qmix_order(const char *const *names, size_t *idx, size_t n, rf_error *err)
{
    order_key *k = malloc((n ? n : 1) * sizeof *k);
    if (!k)
        return rf_fail(err, RF_E_NOMEM, "quantize: out of memory ordering %zu tensors", n);
    for (size_t i = 0; i < n; i++)
        k[i] = (order_key){block_of(names[i]), names[i], i};
    qsort(k, n, sizeof *k, cmp_order);
    for (size_t i = 0; i < n; i++)
        idx[i] = k[i].idx;
    free(k);
    return RF_OK;
}
