/*
 * info.c: what a GGUF holds, in the words of its metadata.
 *
 * Architecture-specific keys are "{arch}.<name>" (llama.block_count, ...).
 * Numeric keys are accepted in any integer type that holds the value, since
 * converters disagree on u32 vs i32 vs u64; anything else is an error that
 * names the key, so a corrupt value is never shown as a plausible number.
 * This file only reports; it does not decide whether we can run the model
 * (that is import's job, with the architecture table).
 */
#include "frontend/info.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "support/error.h"

const char *info_ftype_name(int32_t ftype)
{
    static const char *names[] = {
        [0] = "ALL_F32", [1] = "MOSTLY_F16", [2] = "MOSTLY_Q4_0", [3] = "MOSTLY_Q4_1",
        [7] = "MOSTLY_Q8_0", [8] = "MOSTLY_Q5_0", [9] = "MOSTLY_Q5_1", [10] = "MOSTLY_Q2_K",
        [11] = "MOSTLY_Q3_K_S", [12] = "MOSTLY_Q3_K_M", [13] = "MOSTLY_Q3_K_L", [14] = "MOSTLY_Q4_K_S",
        [15] = "MOSTLY_Q4_K_M", [16] = "MOSTLY_Q5_K_S", [17] = "MOSTLY_Q5_K_M", [18] = "MOSTLY_Q6_K",
        [19] = "MOSTLY_IQ2_XXS", [20] = "MOSTLY_IQ2_XS", [21] = "MOSTLY_Q2_K_S", [22] = "MOSTLY_IQ3_XS",
        [23] = "MOSTLY_IQ3_XXS", [24] = "MOSTLY_IQ1_S", [25] = "MOSTLY_IQ4_NL", [26] = "MOSTLY_IQ3_S",
        [27] = "MOSTLY_IQ3_M", [28] = "MOSTLY_IQ2_S", [29] = "MOSTLY_IQ2_M", [30] = "MOSTLY_IQ4_XS",
        [31] = "MOSTLY_IQ1_M", [32] = "MOSTLY_BF16", [36] = "MOSTLY_TQ1_0", [37] = "MOSTLY_TQ2_0",
        [38] = "MOSTLY_MXFP4_MOE", [39] = "MOSTLY_NVFP4", [40] = "MOSTLY_Q1_0", [41] = "MOSTLY_Q2_0",
    };
    if (ftype == 1024)
        return "GUESSED";
    if (ftype < 0 || (size_t)ftype >= sizeof names / sizeof names[0])
        return NULL;
    return names[ftype];
}

/* key = prefix + "." + name, or name when prefix is NULL */
static const char *key_of(char *buf, size_t cap, const char *prefix, const char *name)
{
    if (prefix)
        snprintf(buf, cap, "%s.%s", prefix, name);
    else
        snprintf(buf, cap, "%s", name);
    return buf;
}

static rf_status get_uint(const gguf_file *f, const char *prefix, const char *name, uint64_t max,
                          uint64_t *out, rf_error *err)
{
    char key[256];
    const gguf_kv *kv = gguf_find_kv(f, key_of(key, sizeof key, prefix, name));
    if (!kv)
        return RF_OK;
    switch (kv->type) {
    case GGUF_VT_UINT8: case GGUF_VT_UINT16: case GGUF_VT_UINT32: case GGUF_VT_UINT64:
        if (kv->val.u64 <= max) {
            *out = kv->val.u64;
            return RF_OK;
        }
        break;
    case GGUF_VT_INT8: case GGUF_VT_INT16: case GGUF_VT_INT32: case GGUF_VT_INT64:
        if (kv->val.i64 >= 0 && (uint64_t)kv->val.i64 <= max) {
            *out = (uint64_t)kv->val.i64;
            return RF_OK;
        }
        break;
    case GGUF_VT_ARRAY:
        /* per-layer values (e.g. head_count_kv for hybrid models): report the first */
        if (kv->arr_n > 0 && kv->arr_type != GGUF_VT_STRING && kv->arr_type != GGUF_VT_FLOAT32 &&
            kv->arr_type != GGUF_VT_FLOAT64 && kv->arr_type != GGUF_VT_BOOL) {
            int64_t v = gguf_arr_int(kv, 0);
            if (v >= 0 && (uint64_t)v <= max) {
                *out = (uint64_t)v;
                return RF_OK;
            }
        }
        break;
    default:
        return rf_fail(err, RF_E_TYPE, "%s: offset %" PRIu64 ": key '%s' has type %s, expected an integer",
                       gguf_path(f), kv->offset, key, gguf_vtype_name(kv->type));
    }
    return rf_fail(err, RF_E_FORMAT, "%s: offset %" PRIu64 ": key '%s' holds an out-of-range value", gguf_path(f),
                   kv->offset, key);
}

static rf_status get_u32(const gguf_file *f, const char *prefix, const char *name, uint32_t *out, rf_error *err)
{
    uint64_t v = *out;
    rf_status s = get_uint(f, prefix, name, UINT32_MAX, &v, err);
    *out = (uint32_t)v;
    return s;
}

static rf_status get_float(const gguf_file *f, const char *prefix, const char *name, float *out, rf_error *err)
{
    char key[256];
    const gguf_kv *kv = gguf_find_kv(f, key_of(key, sizeof key, prefix, name));
    if (!kv)
        return RF_OK;
    if (kv->type != GGUF_VT_FLOAT32 && kv->type != GGUF_VT_FLOAT64)
        return rf_fail(err, RF_E_TYPE, "%s: offset %" PRIu64 ": key '%s' has type %s, expected f32",
                       gguf_path(f), kv->offset, key, gguf_vtype_name(kv->type));
    *out = (float)kv->val.f64;
    return RF_OK;
}

static rf_status get_str(const gguf_file *f, const char *prefix, const char *name, const char **out, rf_error *err)
{
    char key[256];
    key_of(key, sizeof key, prefix, name);
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return RF_OK;
    return gguf_get_cstr(f, key, out, err);
}

rf_status info_describe(const gguf_file *f, rf_model_info *out, rf_error *err)
{
    memset(out, 0, sizeof *out);
    out->path = gguf_path(f);
    out->gguf_version = gguf_version(f);
    out->file_size = gguf_file_size(f);
    out->n_kv = gguf_n_kv(f);
    out->n_tensors = gguf_n_tensors(f);
    out->arch = out->name = out->file_type_name = out->rope_scaling = "";
    out->tokenizer_model = out->tokenizer_pre = "";
    out->file_type = -1;

    rf_status s;
    const char *a = NULL;
    if ((s = get_str(f, NULL, "general.architecture", &out->arch, err)) != RF_OK ||
        (s = get_str(f, NULL, "general.name", &out->name, err)) != RF_OK ||
        (s = get_str(f, NULL, "tokenizer.ggml.model", &out->tokenizer_model, err)) != RF_OK ||
        (s = get_str(f, NULL, "tokenizer.ggml.pre", &out->tokenizer_pre, err)) != RF_OK)
        return s;
    if (out->arch[0])
        a = out->arch;

    uint64_t ft = UINT64_MAX;
    if ((s = get_uint(f, NULL, "general.file_type", INT32_MAX, &ft, err)) != RF_OK)
        return s;
    if (ft != UINT64_MAX) {
        out->file_type = (int32_t)ft;
        const char *n = info_ftype_name(out->file_type);
        out->file_type_name = n ? n : "";
    }

    if (a) {
        if ((s = get_u32(f, a, "context_length", &out->context_length, err)) != RF_OK ||
            (s = get_u32(f, a, "block_count", &out->n_layers, err)) != RF_OK ||
            (s = get_u32(f, a, "embedding_length", &out->n_embd, err)) != RF_OK ||
            (s = get_u32(f, a, "attention.head_count", &out->n_heads, err)) != RF_OK ||
            (s = get_u32(f, a, "attention.head_count_kv", &out->n_kv_heads, err)) != RF_OK ||
            (s = get_u32(f, a, "attention.key_length", &out->head_dim, err)) != RF_OK ||
            (s = get_u32(f, a, "feed_forward_length", &out->n_ff, err)) != RF_OK ||
            (s = get_u32(f, a, "expert_count", &out->n_expert, err)) != RF_OK ||
            (s = get_u32(f, a, "expert_used_count", &out->n_expert_used, err)) != RF_OK ||
            (s = get_u32(f, a, "expert_feed_forward_length", &out->n_ff_exp, err)) != RF_OK ||
            (s = get_u32(f, a, "rope.dimension_count", &out->rope_dim, err)) != RF_OK ||
            (s = get_float(f, a, "rope.freq_base", &out->rope_freq_base, err)) != RF_OK ||
            (s = get_str(f, a, "rope.scaling.type", &out->rope_scaling, err)) != RF_OK ||
            (s = get_float(f, a, "rope.scaling.factor", &out->rope_scaling_factor, err)) != RF_OK ||
            (s = get_u32(f, a, "vocab_size", &out->vocab_size, err)) != RF_OK)
            return s;
    }
    if (!out->n_kv_heads)
        out->n_kv_heads = out->n_heads;
    if (!out->head_dim && out->n_heads)
        out->head_dim = out->n_embd / out->n_heads;
    if (!out->rope_dim)
        out->rope_dim = out->head_dim;
    if (out->n_expert && !out->n_ff_exp)
        out->n_ff_exp = out->n_ff;

    const gguf_kv *tokens = gguf_find_kv(f, "tokenizer.ggml.tokens");
    if (tokens && tokens->type == GGUF_VT_ARRAY && tokens->arr_n <= UINT32_MAX)
        out->vocab_size = (uint32_t)tokens->arr_n;
    out->has_chat_template = gguf_find_kv(f, "tokenizer.chat_template") != NULL;

    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        out->n_params += t->n_elements;
        const char *tn = ggml_type_get(t->type)->name;
        uint32_t k = 0;
        while (k < out->n_types && strcmp(out->by_type[k].type_name, tn) != 0)
            k++;
        if (k == out->n_types) {
            RF_ASSERT(k < sizeof out->by_type / sizeof out->by_type[0]);
            out->by_type[k].type_name = tn;
            out->n_types++;
        }
        out->by_type[k].n_tensors++;
    }
    return RF_OK;
}
