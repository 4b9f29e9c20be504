/*
 * test_quant_mix.c: the quantizer's decisions without llama.cpp at hand
 * (a unit suite, so it also runs under ASan+UBSan): file type names, the
 * output order, the per-tensor types of a few mixes on synthetic models,
 * and the IQ4_NL scale search. test_quantize checks the same rules against
 * llama.cpp's files; these facts are the rules written out, one per line,
 * so a change in them reads as a change in the table here.
 */
#include "test_util.h"

#include "frontend/gguf.h"
#include "frontend/quant_mix.h"
#include "runtime/cpu/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- file types ---------------------------------------------------------- */

static void test_ftype_names(void)
{
    const qmix_ftype *ft;
    rf_error err = {0};
    CU_ASSERT_EQUAL(qmix_ftype_find("Q4_K_M", &ft, &err), RF_OK);
    CU_ASSERT(ft && ft->ftype == 15 && ft->type == GGML_TYPE_Q4_K);
    CU_ASSERT_EQUAL(qmix_ftype_find("q4_k", &ft, &err), RF_OK); /* llama.cpp's alias */
    CU_ASSERT(ft && ft->ftype == 15);
    CU_ASSERT_EQUAL(qmix_ftype_find("mxfp4", &ft, &err), RF_OK);
    CU_ASSERT(ft && ft->ftype == 38 && ft->type == GGML_TYPE_MXFP4);
    CU_ASSERT_EQUAL(qmix_ftype_find("bf16", &ft, &err), RF_OK);
    CU_ASSERT(ft && ft->ftype == 32);
    CU_ASSERT_EQUAL(qmix_ftype_find("q2_k_s", &ft, &err), RF_OK);
    CU_ASSERT(ft && ft->ftype == 21 && ft->type == GGML_TYPE_Q2_K);
    CU_ASSERT_EQUAL(qmix_ftype_find("iq2_s", &ft, &err), RF_OK); /* llama.cpp's default for it is IQ2_XS */
    CU_ASSERT(ft && ft->ftype == 28 && ft->type == GGML_TYPE_IQ2_XS);
    CU_ASSERT_EQUAL(qmix_ftype_find("iq3_xs", &ft, &err), RF_OK);
    CU_ASSERT(ft && ft->ftype == 22 && ft->type == GGML_TYPE_IQ3_S);
    CU_ASSERT_EQUAL(qmix_ftype_find("nvfp4", &ft, &err), RF_E_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "nvfp4"));
    CU_ASSERT_EQUAL(qmix_ftype_find("q9", &ft, &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'q9'"));
    CU_ASSERT_PTR_NULL(ft);
    /* with no rf_error the status still says which */
    CU_ASSERT_EQUAL(qmix_ftype_find("NVFP4", &ft, NULL), RF_E_UNSUPPORTED);
    CU_ASSERT_EQUAL(qmix_ftype_find("q1_0", &ft, NULL), RF_OK);
    CU_ASSERT(ft && ft->ftype == 40 && ft->type == GGML_TYPE_Q1_0);
}

static void test_order(void)
{
    const char *names[] = {"blk.10.attn_q.weight", "blk.2.ffn_up.weight", "output.weight", "blk.2.attn_k.weight",
                           "token_embd.weight", "blk.2.attn_k.bias", "output_norm.weight"};
    const char *want[] = {"output.weight", "output_norm.weight", "token_embd.weight", "blk.2.attn_k.bias",
                          "blk.2.attn_k.weight", "blk.2.ffn_up.weight", "blk.10.attn_q.weight"};
    size_t idx[7];
    CU_ASSERT_EQUAL_FATAL(qmix_order(names, idx, 7, NULL), RF_OK);
    for (size_t i = 0; i < 7; i++)
        CU_ASSERT_STRING_EQUAL(names[idx[i]], want[i]);
}

static void test_n_dims(void)
{
    CU_ASSERT_EQUAL(qmix_n_dims((const uint64_t[4]){256, 1, 1, 1}), 1);
    CU_ASSERT_EQUAL(qmix_n_dims((const uint64_t[4]){256, 8, 1, 1}), 2);
    CU_ASSERT_EQUAL(qmix_n_dims((const uint64_t[4]){256, 1, 4, 1}), 3);
}

/* ---- per-tensor types ------------------------------------------------------ */

typedef struct ttensor {
    const char *name;
    uint64_t ne[4];
} ttensor;

/* A model of llama's tensors: n_layer blocks, rows of n_embd and n_ff,
 * an output head unless tied; with n_expert, stacked experts. */
static gguf_file *make_model(const char *arch, uint32_t n_layer, uint64_t n_embd, uint64_t n_ff, bool tied,
                             uint32_t n_expert, void **buf)
{
    gguf_writer *w = gguf_writer_new(3);
    char key[128];
    gguf_writer_set_str(w, "general.architecture", arch, strlen(arch));
    snprintf(key, sizeof key, "%s.block_count", arch);
    gguf_writer_set_u32(w, key, n_layer);
    snprintf(key, sizeof key, "%s.attention.head_count", arch);
    gguf_writer_set_u32(w, key, 8);
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    gguf_writer_set_u32(w, key, 2);
    if (n_expert) {
        snprintf(key, sizeof key, "%s.expert_count", arch);
        gguf_writer_set_u32(w, key, n_expert);
    }
    uint64_t ne[3];
    gguf_writer_add_tensor(w, "token_embd.weight", GGML_TYPE_F32, 2, (ne[0] = n_embd, ne[1] = 64, ne), NULL);
    gguf_writer_add_tensor(w, "output_norm.weight", GGML_TYPE_F32, 1, (ne[0] = n_embd, ne), NULL);
    if (!tied)
        gguf_writer_add_tensor(w, "output.weight", GGML_TYPE_F32, 2, (ne[0] = n_embd, ne[1] = 64, ne), NULL);
    for (uint32_t il = 0; il < n_layer; il++) {
        static const char *const sq[] = {"attn_q", "attn_k", "attn_v", "attn_output"};
        char name[96];
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "blk.%u.%s.weight", il, sq[k]);
            gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 2, (ne[0] = n_embd, ne[1] = 32, ne), NULL);
        }
        snprintf(name, sizeof name, "blk.%u.attn_norm.weight", il);
        gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 1, (ne[0] = n_embd, ne), NULL);
        const char *sfx = n_expert ? "_exps" : "";
        uint32_t nd = n_expert ? 3 : 2;
        snprintf(name, sizeof name, "blk.%u.ffn_gate%s.weight", il, sfx);
        gguf_writer_add_tensor(w, name, GGML_TYPE_F32, nd, (ne[0] = n_embd, ne[1] = 8, ne[2] = n_expert, ne), NULL);
        snprintf(name, sizeof name, "blk.%u.ffn_up%s.weight", il, sfx);
        gguf_writer_add_tensor(w, name, GGML_TYPE_F32, nd, (ne[0] = n_embd, ne[1] = 8, ne[2] = n_expert, ne), NULL);
        snprintf(name, sizeof name, "blk.%u.ffn_down%s.weight", il, sfx);
        gguf_writer_add_tensor(w, name, GGML_TYPE_F32, nd, (ne[0] = n_ff, ne[1] = 8, ne[2] = n_expert, ne), NULL);
        if (n_expert) {
            snprintf(name, sizeof name, "blk.%u.ffn_gate_inp.weight", il);
            gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 2, (ne[0] = n_embd, ne[1] = n_expert, ne), NULL);
        }
    }
    size_t size;
    rf_error err = {0};
    gguf_file *f = NULL;
    if (gguf_writer_to_memory(w, buf, &size, &err) != RF_OK || gguf_open_memory(*buf, size, arch, &f, &err) != RF_OK)
        fprintf(stderr, "%s\n", err.msg);
    gguf_writer_free(w);
    return f;
}

/* Every tensor's output type, by name ("" ends; NULL type: any name not
 * listed must keep its type). Returns the number of mismatches. */
typedef struct want {
    const char *name;
    ggml_type type;
} want;

enum { MIX_PURE = 1, MIX_IMATRIX = 2, MIX_LISTED = 4 /* unlisted tensors not checked */ };

static int check_mix(const char *arch, uint32_t n_layer, uint64_t n_embd, uint64_t n_ff, bool tied, uint32_t n_expert,
                     const char *type, int flags, const want *wants)
{
    void *buf = NULL;
    gguf_file *f = make_model(arch, n_layer, n_embd, n_ff, tied, n_expert, &buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t n = (size_t)gguf_n_tensors(f);
    char **names = calloc(n, sizeof *names);
    size_t *idx = calloc(n, sizeof *idx);
    for (size_t i = 0; i < n; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        names[i] = calloc(1, t->name.len + 1);
        memcpy(names[i], t->name.ptr, t->name.len);
    }
    const qmix_ftype *ft;
    qmix m;
    rf_error err = {0};
    int bad = 0;
    CU_ASSERT_EQUAL_FATAL(qmix_ftype_find(type, &ft, &err), RF_OK);
    CU_ASSERT_EQUAL_FATAL(qmix_init(&m, f, ft, flags & MIX_PURE, flags & MIX_IMATRIX, (const char *const *)names, n,
                                    &err), RF_OK);
    CU_ASSERT_EQUAL_FATAL(qmix_order((const char *const *)names, idx, n, &err), RF_OK);
    for (size_t k = 0; k < n; k++) {
        const gguf_tensor *t = gguf_tensor_at(f, idx[k]);
        ggml_type got;
        bool fell;
        CU_ASSERT_EQUAL_FATAL(qmix_tensor_type(&m, names[idx[k]], t->ne, t->type, &got, &fell, &err), RF_OK);
        ggml_type expect = t->type;
        bool listed = false;
        for (const want *w = wants; w->name; w++)
            if (!strcmp(w->name, names[idx[k]])) {
                expect = w->type;
                listed = true;
            }
        if (got != expect && (listed || !(flags & MIX_LISTED))) {
            fprintf(stderr, "\n  %s %s%s: %s is %s, expected %s", arch, type, flags & MIX_IMATRIX ? " (imatrix)" : "",
                    names[idx[k]], ggml_type_get(got)->name, ggml_type_get(expect)->name);
            bad++;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(idx);
    gguf_close(f);
    free(buf);
    return bad;
}

/* check_mix on llama, 8 layers, untied, only the listed tensors checked. */
static int partial_mix(const char *type, int flags, const want *wants)
{
    return check_mix("llama", 8, 256, 512, false, 0, type, flags | MIX_LISTED, wants);
}

#define Q4K GGML_TYPE_Q4_K
#define Q5K GGML_TYPE_Q5_K
#define Q6K GGML_TYPE_Q6_K

/* 8 layers: use_more_bits is layers 0, 3, 6, 7 */
static void test_q4_k_m_llama8(void)
{
    const want w[] = {
        {"token_embd.weight", Q4K}, {"output.weight", Q6K},
        {"blk.0.attn_q.weight", Q4K}, {"blk.0.attn_k.weight", Q4K}, {"blk.0.attn_v.weight", Q6K},
        {"blk.0.attn_output.weight", Q4K}, {"blk.0.ffn_gate.weight", Q4K}, {"blk.0.ffn_up.weight", Q4K},
        {"blk.0.ffn_down.weight", Q6K},
        {"blk.1.attn_q.weight", Q4K}, {"blk.1.attn_k.weight", Q4K}, {"blk.1.attn_v.weight", Q4K},
        {"blk.1.attn_output.weight", Q4K}, {"blk.1.ffn_gate.weight", Q4K}, {"blk.1.ffn_up.weight", Q4K},
        {"blk.1.ffn_down.weight", Q4K},
        {"blk.2.attn_q.weight", Q4K}, {"blk.2.attn_k.weight", Q4K}, {"blk.2.attn_v.weight", Q4K},
        {"blk.2.attn_output.weight", Q4K}, {"blk.2.ffn_gate.weight", Q4K}, {"blk.2.ffn_up.weight", Q4K},
        {"blk.2.ffn_down.weight", Q4K},
        {"blk.3.attn_q.weight", Q4K}, {"blk.3.attn_k.weight", Q4K}, {"blk.3.attn_v.weight", Q6K},
        {"blk.3.attn_output.weight", Q4K}, {"blk.3.ffn_gate.weight", Q4K}, {"blk.3.ffn_up.weight", Q4K},
        {"blk.3.ffn_down.weight", Q6K},
        {"blk.4.attn_q.weight", Q4K}, {"blk.4.attn_k.weight", Q4K}, {"blk.4.attn_v.weight", Q4K},
        {"blk.4.attn_output.weight", Q4K}, {"blk.4.ffn_gate.weight", Q4K}, {"blk.4.ffn_up.weight", Q4K},
        {"blk.4.ffn_down.weight", Q4K},
        {"blk.5.attn_q.weight", Q4K}, {"blk.5.attn_k.weight", Q4K}, {"blk.5.attn_v.weight", Q4K},
        {"blk.5.attn_output.weight", Q4K}, {"blk.5.ffn_gate.weight", Q4K}, {"blk.5.ffn_up.weight", Q4K},
        {"blk.5.ffn_down.weight", Q4K},
        {"blk.6.attn_q.weight", Q4K}, {"blk.6.attn_k.weight", Q4K}, {"blk.6.attn_v.weight", Q6K},
        {"blk.6.attn_output.weight", Q4K}, {"blk.6.ffn_gate.weight", Q4K}, {"blk.6.ffn_up.weight", Q4K},
        {"blk.6.ffn_down.weight", Q6K},
        {"blk.7.attn_q.weight", Q4K}, {"blk.7.attn_k.weight", Q4K}, {"blk.7.attn_v.weight", Q6K},
        {"blk.7.attn_output.weight", Q4K}, {"blk.7.ffn_gate.weight", Q4K}, {"blk.7.ffn_up.weight", Q4K},
        {"blk.7.ffn_down.weight", Q6K},
        {NULL, 0},
    };
    CU_ASSERT_EQUAL(check_mix("llama", 8, 256, 256, false, 0, "q4_k_m", false, w), 0);
}

/* 2 layers, tied: token_embd is the head; Q3_K_M: the first two attn_v
 * Q5_K, attn_output Q4_K, ffn_down Q4_K (no layer is in the first 16th) */
static void test_q3_k_m_tied(void)
{
    const want w[] = {
        {"token_embd.weight", Q6K},
        {"blk.0.attn_q.weight", GGML_TYPE_Q3_K}, {"blk.0.attn_k.weight", GGML_TYPE_Q3_K},
        {"blk.0.attn_v.weight", Q5K}, {"blk.0.attn_output.weight", Q4K},
        {"blk.0.ffn_gate.weight", GGML_TYPE_Q3_K}, {"blk.0.ffn_up.weight", GGML_TYPE_Q3_K},
        {"blk.0.ffn_down.weight", Q4K},
        {"blk.1.attn_q.weight", GGML_TYPE_Q3_K}, {"blk.1.attn_k.weight", GGML_TYPE_Q3_K},
        {"blk.1.attn_v.weight", Q5K}, {"blk.1.attn_output.weight", Q4K},
        {"blk.1.ffn_gate.weight", GGML_TYPE_Q3_K}, {"blk.1.ffn_up.weight", GGML_TYPE_Q3_K},
        {"blk.1.ffn_down.weight", Q4K},
        {NULL, 0},
    };
    CU_ASSERT_EQUAL(check_mix("qwen2", 2, 256, 256, true, 0, "q3_k_m", false, w), 0);
}

/* Rows of 384 (256 does not divide: Q4_K -> Q5_0, the head Q8_0) and an
 * ffn_down of 1000 (32 does not either: F16), --pure. */
static void test_fallback_pure(void)
{
    const want w[] = {
        {"token_embd.weight", GGML_TYPE_Q5_0}, {"output.weight", GGML_TYPE_Q5_0},
        {"blk.0.attn_q.weight", GGML_TYPE_Q5_0}, {"blk.0.attn_k.weight", GGML_TYPE_Q5_0},
        {"blk.0.attn_v.weight", GGML_TYPE_Q5_0}, {"blk.0.attn_output.weight", GGML_TYPE_Q5_0},
        {"blk.0.ffn_gate.weight", GGML_TYPE_Q5_0}, {"blk.0.ffn_up.weight", GGML_TYPE_Q5_0},
        {"blk.0.ffn_down.weight", GGML_TYPE_F16},
        {NULL, 0},
    };
    CU_ASSERT_EQUAL(check_mix("llama", 1, 384, 1000, false, 0, "q4_k_m", true, w), 0);
    /* the mix's head: Q8_0 where the default's block does not divide */
    const want w2[] = {
        {"token_embd.weight", GGML_TYPE_Q5_0}, {"output.weight", GGML_TYPE_Q8_0},
        {"blk.0.attn_q.weight", GGML_TYPE_Q5_0}, {"blk.0.attn_k.weight", GGML_TYPE_Q5_0},
        {"blk.0.attn_v.weight", GGML_TYPE_Q8_0}, {"blk.0.attn_output.weight", GGML_TYPE_Q5_0},
        {"blk.0.ffn_gate.weight", GGML_TYPE_Q5_0}, {"blk.0.ffn_up.weight", GGML_TYPE_Q5_0},
        {"blk.0.ffn_down.weight", GGML_TYPE_F16},
        {NULL, 0},
    };
    CU_ASSERT_EQUAL(check_mix("llama", 1, 384, 1000, false, 0, "q4_k_m", false, w2), 0);
}

/* MXFP4_MOE: expert stacks MXFP4, other matrices Q8_0, the router kept. */
static void test_mxfp4_moe(void)
{
    const want w[] = {
        {"token_embd.weight", GGML_TYPE_Q8_0}, {"output.weight", GGML_TYPE_Q8_0},
        {"blk.0.attn_q.weight", GGML_TYPE_Q8_0}, {"blk.0.attn_k.weight", GGML_TYPE_Q8_0},
        {"blk.0.attn_v.weight", GGML_TYPE_Q8_0}, {"blk.0.attn_output.weight", GGML_TYPE_Q8_0},
        {"blk.0.ffn_gate_exps.weight", GGML_TYPE_MXFP4}, {"blk.0.ffn_up_exps.weight", GGML_TYPE_MXFP4},
        {"blk.0.ffn_down_exps.weight", GGML_TYPE_MXFP4},
        {NULL, 0},
    };
    CU_ASSERT_EQUAL(check_mix("qwen3moe", 1, 256, 256, false, 4, "mxfp4_moe", false, w), 0);
}

/* 8 experts: attn_v and attn_k Q8_0, attn_output Q5_K under Q4_K_M. */
static void test_eight_experts(void)
{
    const want w[] = {
        {"token_embd.weight", Q4K}, {"output.weight", Q6K},
        {"blk.0.attn_q.weight", Q4K}, {"blk.0.attn_k.weight", GGML_TYPE_Q8_0},
        {"blk.0.attn_v.weight", GGML_TYPE_Q8_0}, {"blk.0.attn_output.weight", Q5K},
        {"blk.0.ffn_gate_exps.weight", Q4K}, {"blk.0.ffn_up_exps.weight", Q4K},
        {"blk.0.ffn_down_exps.weight", Q6K},
        {NULL, 0},
    };
    CU_ASSERT_EQUAL(check_mix("llama", 1, 256, 256, false, 8, "q4_k_m", false, w), 0);
}

/* With experts the ffn rules read the layer from the name: a name without
 * one is an error naming the tensor. */
static void test_expert_name_without_block(void)
{
    void *buf = NULL;
    gguf_file *f = make_model("qwen3moe", 1, 256, 256, false, 4, &buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    const char *names[] = {"ffn_up_exps.weight"};
    const qmix_ftype *ft;
    qmix m;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(qmix_ftype_find("q4_k_m", &ft, &err), RF_OK);
    CU_ASSERT_EQUAL_FATAL(qmix_init(&m, f, ft, false, false, names, 1, &err), RF_OK);
    ggml_type t;
    bool fell;
    CU_ASSERT_EQUAL(qmix_tensor_type(&m, names[0], (const uint64_t[4]){256, 8, 4, 1}, GGML_TYPE_F32, &t, &fell, &err),
                    RF_E_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ffn_up_exps.weight"));
    gguf_close(f);
    free(buf);
}

/* ---- the i-quant mixes and the rules an importance matrix changes ---------- */

#define Q2K GGML_TYPE_Q2_K
#define Q3K GGML_TYPE_Q3_K
#define IQ2XXS GGML_TYPE_IQ2_XXS
#define IQ2S GGML_TYPE_IQ2_S
#define IQ3XXS GGML_TYPE_IQ3_XXS
#define IQ3S GGML_TYPE_IQ3_S

/* The ffn_down rules of 8 layers (n/8 = 1: layer 0 is "the first few"),
 * with and without an imatrix, and the requirement. */
static void test_imatrix_rules(void)
{
    const want q4_0_imx[] = {{"blk.0.ffn_down.weight", GGML_TYPE_Q4_1}, {"blk.1.ffn_down.weight", GGML_TYPE_Q4_0}, {0}};
    const want q4_0[] = {{"blk.0.ffn_down.weight", GGML_TYPE_Q4_0}, {0}};
    const want iq4_xs[] = {{"blk.0.ffn_down.weight", Q5K}, {"blk.1.ffn_down.weight", GGML_TYPE_IQ4_XS}, {0}};
    const want iq4_xs_imx[] = {{"blk.0.ffn_down.weight", GGML_TYPE_IQ4_XS}, {0}};
    const want iq3_xxs[] = {{"blk.0.ffn_down.weight", Q4K}, {"blk.5.ffn_down.weight", Q3K},
                            {"blk.3.attn_q.weight", IQ2S}, {"blk.3.attn_k.weight", IQ2S},
                            {"blk.3.attn_v.weight", Q4K}, {"blk.3.attn_output.weight", IQ3S},
                            {"blk.3.ffn_up.weight", IQ3XXS}, {"token_embd.weight", IQ3S}, {"output.weight", Q5K}, {0}};
    const want iq3_xxs_imx[] = {{"blk.0.ffn_down.weight", IQ3XXS}, {"blk.5.ffn_down.weight", IQ3XXS}, {0}};
    int bad = 0;
    bad += partial_mix("q4_0", MIX_IMATRIX, q4_0_imx) + partial_mix("q4_0", 0, q4_0);
    bad += partial_mix("iq4_xs", 0, iq4_xs) + partial_mix("iq4_xs", MIX_IMATRIX, iq4_xs_imx);
    bad += partial_mix("iq3_xxs", 0, iq3_xxs) + partial_mix("iq3_xxs", MIX_IMATRIX, iq3_xxs_imx);
    CU_ASSERT_EQUAL(bad, 0);
}

/* The IQ1/IQ2 mixes' own rules (n_gqa 4 here: attn_v Q4_K), the ternary
 * ones' token_embd, and which tensors then need an imatrix. */
static void test_iq_mixes(void)
{
    const want iq2_xxs[] = {{"blk.0.ffn_down.weight", Q2K}, {"blk.1.ffn_down.weight", IQ2XXS},
                            {"blk.2.attn_v.weight", Q4K}, {"blk.2.attn_output.weight", IQ2XXS},
                            {"token_embd.weight", Q2K}, {"output.weight", Q5K}, {0}};
    const want iq2_m[] = {{"blk.0.ffn_down.weight", IQ3S}, {"blk.1.ffn_down.weight", IQ2S},
                          {"blk.2.attn_output.weight", IQ3S}, {"token_embd.weight", IQ3S}, {0}};
    const want iq1_s[] = {{"blk.2.attn_output.weight", IQ2XXS}, {"blk.2.attn_q.weight", GGML_TYPE_IQ1_S}, {0}};
    const want iq3_xs[] = {{"blk.0.ffn_up.weight", IQ3S}, {"blk.1.ffn_up.weight", IQ3XXS},
                           {"blk.7.ffn_gate.weight", IQ3S}, {"blk.2.attn_q.weight", IQ3XXS},
                           {"blk.2.attn_v.weight", Q4K}, {0}};
    const want tq1_0[] = {{"token_embd.weight", Q4K}, {"blk.2.attn_q.weight", GGML_TYPE_TQ1_0}, {"output.weight", Q6K}, {0}};
    int bad = partial_mix("iq2_xxs", MIX_IMATRIX, iq2_xxs) + partial_mix("iq2_m", MIX_IMATRIX, iq2_m) +
              partial_mix("iq1_s", MIX_IMATRIX, iq1_s) + partial_mix("iq3_xs", MIX_IMATRIX, iq3_xs) +
              partial_mix("tq1_0", 0, tq1_0);
    CU_ASSERT_EQUAL(bad, 0);

    const qmix_ftype *ft;
    qmix m = {0};
    CU_ASSERT_EQUAL_FATAL(qmix_ftype_find("q2_k_s", &ft, NULL), RF_OK);
    m.ft = ft;
    CU_ASSERT(qmix_requires_imatrix(&m, "blk.0.attn_q.weight", Q2K));
    CU_ASSERT(!qmix_requires_imatrix(&m, "blk.0.attn_q.weight", Q4K));
    CU_ASSERT(!qmix_requires_imatrix(&m, "token_embd.weight", IQ2XXS));
    CU_ASSERT(!qmix_requires_imatrix(&m, "output.weight", GGML_TYPE_IQ1_S));
    CU_ASSERT(qmix_requires_imatrix(&m, "blk.0.ffn_down_exps.weight", IQ2S));
    CU_ASSERT(!qmix_requires_imatrix(&m, "blk.0.ffn_down.weight", IQ3S)); /* IQ3_S does without */
    CU_ASSERT_EQUAL_FATAL(qmix_ftype_find("q2_k", &ft, NULL), RF_OK);
    m.ft = ft;
    CU_ASSERT(!qmix_requires_imatrix(&m, "blk.0.attn_q.weight", Q2K));
    CU_ASSERT(qmix_imatrix_optional("token_embd.weight") && !qmix_imatrix_optional("output.weight"));
}

/* ---- IQ4_NL's scale search ------------------------------------------------- */

/* The file quantizer keeps the row reference's scale among its candidates
 * and takes the best by weighted error, so on every block its error is
 * at most the row reference's (up to the fp16 rounding of the scale). */
static void test_iq4_nl_search(void)
{
    enum { N = 32 * 64 };
    static float x[N], y_ref[N], y_srch[N];
    static uint8_t q_ref[N / 32 * 18], q_srch[N / 32 * 18];
    uint64_t s = 7;
    for (int i = 0; i < N; i++)
        x[i] = test_grand(&s) * (i % 64 < 32 ? 1.0f : 0.01f);
    const cpu_quant_traits *tr = cpu_quant_ref(GGML_TYPE_IQ4_NL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
    cpu_quantize_row_fn srch = cpu_quantize_file_fn(GGML_TYPE_IQ4_NL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srch);
    tr->from_float(x, q_ref, N);
    srch(x, q_srch, N, NULL);
    tr->to_float(q_ref, y_ref, N);
    tr->to_float(q_srch, y_srch, N);
    int better = 0, worse = 0;
    for (int b = 0; b < N / 32; b++) {
        double e_ref = 0, e_srch = 0;
        for (int j = b * 32; j < b * 32 + 32; j++) {
            double w = (double)x[j] * x[j];
            e_ref += w * (x[j] - y_ref[j]) * (x[j] - y_ref[j]);
            e_srch += w * (x[j] - y_srch[j]) * (x[j] - y_srch[j]);
        }
        better += e_srch < e_ref * 0.999;
        worse += e_srch > e_ref * 1.01;
    }
    CU_ASSERT(better > N / 32 / 4); /* the search finds better scales often */
    CU_ASSERT_EQUAL(worse, 0);
    /* a zero block: scale 0, every index 8 (the level nearest 0) */
    float z[32] = {0};
    uint8_t qz[18];
    srch(z, qz, 32, NULL);
    CU_ASSERT(qz[0] == 0 && qz[1] == 0);
    for (int j = 2; j < 18; j++)
        CU_ASSERT_EQUAL(qz[j], 0x88);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("quant_mix", NULL, NULL);
    CU_add_test(s, "file type names, aliases, unsupported types", test_ftype_names);
    CU_add_test(s, "llama.cpp's tensor order", test_order);
    CU_add_test(s, "dimensions that count", test_n_dims);
    CU_add_test(s, "q4_k_m, 8 layers: use_more_bits", test_q4_k_m_llama8);
    CU_add_test(s, "q3_k_m, tied head", test_q3_k_m_tied);
    CU_add_test(s, "fallbacks, --pure and mix", test_fallback_pure);
    CU_add_test(s, "mxfp4_moe", test_mxfp4_moe);
    CU_add_test(s, "8 experts", test_eight_experts);
    CU_add_test(s, "experts: a name without a block", test_expert_name_without_block);
    CU_add_test(s, "rules that an importance matrix changes", test_imatrix_rules);
    CU_add_test(s, "the i-quant and ternary mixes, and what needs an imatrix", test_iq_mixes);
    CU_add_test(s, "iq4_nl: the file quantizer's scale search", test_iq4_nl_search);
    return test_main();
}
