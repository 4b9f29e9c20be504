/*
 * test_import.c: GGUF → IR import, for every architecture of the table.
 *
 * Each model is written here with gguf_writer, in memory, with the tensor
 * layout llama.cpp's loader expects for its architecture (zero weights: only
 * names, types and shapes matter to import). A test imports it, checks that
 * the graph verifies, and counts facts: op kinds per layer, the attention
 * attributes of each layer (window, scale, softcap), rope attributes and
 * operands, the output's shape, the model facts. The failure tests break
 * one thing at a time (a key removed or retyped, a tensor removed or
 * reshaped, an inconsistent head count) and check the message names it.
 * Somewhat over 800 lines because it is one case after another, and the
 * writer that lays out each arch's tensors belongs beside the checks that
 * count them. Each arch's graph is also taken through the passes and its
 * memory plan checked (plan_check.c).
 */
#include "test_util.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/gguf.h"
#include "frontend/import.h"
#include "ir/ir.h"
#include "ir/passes/passes.h"
#include "plan_check.h"

/* ---- model writer ------------------------------------------------------------ */

typedef struct spec {
    const char *arch;
    uint32_t L, E, H, Hkv, D, F, V;
    bool untied;           /* write output.weight */
    bool llama3_freqs;     /* rope_freqs.weight */
    bool write_kv_len;     /* attention.key_length / value_length */
    /* breakage */
    const char *drop_key;      /* suffix after "{arch}." or a full key */
    const char *drop_tensor;   /* full tensor name */
    const char *bad_tensor;    /* full tensor name; its ne1 (or ne0) gets +1 */
    void (*extra)(gguf_writer *w, const struct spec *s); /* more keys, after the base ones */
    bool phi3_factors;         /* rope_factors_long/short */
    uint32_t X, K_used, Fe, Fs;    /* experts (X > 0): count, used a token, their FFN width, the shared one's */
} spec;

typedef struct model {
    void *buf;
    gguf_file *f;
} model;

static float *zeros;

static bool has_feature(const char *arch, const char *what)
{
    bool qwen2 = !strcmp(arch, "qwen2"), qwen3 = !strcmp(arch, "qwen3"), phi3 = !strcmp(arch, "phi3");
    bool g2 = !strcmp(arch, "gemma2"), g3 = !strcmp(arch, "gemma3"), olmo2 = !strcmp(arch, "olmo2");
    bool glm4 = !strcmp(arch, "glm4");
    bool qwen2moe = !strcmp(arch, "qwen2moe"), qwen3moe = !strcmp(arch, "qwen3moe");
    if (!strcmp(what, "qkv_bias"))
        return qwen2 || qwen2moe;
    if (!strcmp(what, "qk_norm"))
        return qwen3 || g3 || qwen3moe;
    if (!strcmp(what, "fused"))
        return phi3;
    if (!strcmp(what, "post_norms"))
        return g2 || g3 || olmo2 || glm4;
    if (!strcmp(what, "fused_ffn"))
        return glm4;
    if (!strcmp(what, "qk_norm_rows"))
        return olmo2 || !strcmp(arch, "olmoe");
    return false;
}

static void key_name(char *buf, size_t n, const spec *s, const char *suffix)
{
    snprintf(buf, n, "%s.%s", s->arch, suffix);
}

static void set_u32(gguf_writer *w, const spec *s, const char *suffix, uint32_t v)
{
    char k[128];
    key_name(k, sizeof k, s, suffix);
    if (!s->drop_key || (strcmp(s->drop_key, suffix) && strcmp(s->drop_key, k)))
        gguf_writer_set_u32(w, k, v);
}

static void tensor3(gguf_writer *w, const spec *s, int layer, const char *base, uint64_t ne0, uint64_t ne1,
                    uint64_t ne2)
{
    char name[128];
    if (layer >= 0)
        snprintf(name, sizeof name, "blk.%d.%s", layer, base);
    else
        snprintf(name, sizeof name, "%s", base);
    if (s->drop_tensor && !strcmp(s->drop_tensor, name))
        return;
    uint64_t ne[3] = {ne0, ne1, ne2};
    if (s->bad_tensor && !strcmp(s->bad_tensor, name))
        ne[ne1 ? 1 : 0] += 1;
    CU_ASSERT_EQUAL(gguf_writer_add_tensor(w, name, GGML_TYPE_F32, ne2 ? 3 : ne1 ? 2 : 1, ne, zeros), RF_OK);
}

static void tensor(gguf_writer *w, const spec *s, int layer, const char *base, uint64_t ne0, uint64_t ne1)
{
    tensor3(w, s, layer, base, ne0, ne1, 0);
}

static bool open_model(const spec *s, model *m, rf_error *err)
{
    gguf_writer *w = gguf_writer_new(3);
    gguf_writer_set_str(w, "general.architecture", s->arch, strlen(s->arch));
    set_u32(w, s, "context_length", 2048);
    set_u32(w, s, "embedding_length", s->E);
    set_u32(w, s, "block_count", s->L);
    set_u32(w, s, "feed_forward_length", s->F);
    set_u32(w, s, "attention.head_count", s->H);
    set_u32(w, s, "attention.head_count_kv", s->Hkv);
    if (s->write_kv_len) {
        set_u32(w, s, "attention.key_length", s->D);
        set_u32(w, s, "attention.value_length", s->D);
    }
    char k[128];
    bool ln = !strcmp(s->arch, "starcoder2") || !strcmp(s->arch, "cohere2");
    const char *eps = ln ? "attention.layer_norm_epsilon" /* LayerNorm's */ : "attention.layer_norm_rms_epsilon";
    key_name(k, sizeof k, s, eps);
    if (!s->drop_key || strcmp(s->drop_key, eps))
        gguf_writer_set_f32(w, k, 1e-6f);
    if (!s->drop_key || strcmp(s->drop_key, "tokenizer.ggml.bos_token_id"))
        gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (s->X) {
        set_u32(w, s, "expert_count", s->X);
        set_u32(w, s, "expert_used_count", s->K_used);
        if (s->Fe)
            set_u32(w, s, "expert_feed_forward_length", s->Fe);
        if (s->Fs)
            set_u32(w, s, "expert_shared_feed_forward_length", s->Fs);
    }
    if (s->extra)
        s->extra(w, s);

    uint32_t E = s->E, F = s->F, V = s->V, nq = s->H * s->D, nk = s->Hkv * s->D;
    bool fused = has_feature(s->arch, "fused");
    tensor(w, s, -1, "token_embd.weight", E, V);
    tensor(w, s, -1, "output_norm.weight", E, 0);
    if (s->untied)
        tensor(w, s, -1, "output.weight", E, V);
    if (s->llama3_freqs)
        tensor(w, s, -1, "rope_freqs.weight", s->D / 2, 0);
    if (s->phi3_factors) {
        tensor(w, s, -1, "rope_factors_long.weight", s->D / 2, 0);
        tensor(w, s, -1, "rope_factors_short.weight", s->D / 2, 0);
    }
    for (uint32_t il = 0; il < s->L; il++) {
        int i = (int)il;
        tensor(w, s, i, "attn_norm.weight", E, 0);
        if (fused) {
            tensor(w, s, i, "attn_qkv.weight", E, nq + 2 * nk);
        } else {
            tensor(w, s, i, "attn_q.weight", E, nq);
            tensor(w, s, i, "attn_k.weight", E, nk);
            tensor(w, s, i, "attn_v.weight", E, nk);
        }
        if (has_feature(s->arch, "qkv_bias")) {
            tensor(w, s, i, "attn_q.bias", nq, 0);
            tensor(w, s, i, "attn_k.bias", nk, 0);
            tensor(w, s, i, "attn_v.bias", nk, 0);
        }
        if (has_feature(s->arch, "qk_norm")) {
            tensor(w, s, i, "attn_q_norm.weight", s->D, 0);
            tensor(w, s, i, "attn_k_norm.weight", s->D, 0);
        }
        if (has_feature(s->arch, "qk_norm_rows")) {
            tensor(w, s, i, "attn_q_norm.weight", nq, 0);
            tensor(w, s, i, "attn_k_norm.weight", nk, 0);
        }
        tensor(w, s, i, "attn_output.weight", nq, E);
        bool oss = !strcmp(s->arch, "gpt-oss");
        if (oss)
            tensor(w, s, i, "attn_sinks.weight", s->H, 0);
        if (has_feature(s->arch, "post_norms")) {
            tensor(w, s, i, "post_attention_norm.weight", E, 0);
            tensor(w, s, i, "post_ffw_norm.weight", E, 0);
        }
        tensor(w, s, i, oss ? "post_attention_norm.weight" : "ffn_norm.weight", E, 0);
        if (s->X) {
            tensor(w, s, i, "ffn_gate_inp.weight", E, s->X);
            uint32_t Fe = s->Fe ? s->Fe : F;
            tensor3(w, s, i, "ffn_gate_exps.weight", E, Fe, s->X);
            tensor3(w, s, i, "ffn_up_exps.weight", E, Fe, s->X);
            tensor3(w, s, i, "ffn_down_exps.weight", Fe, E, s->X);
            if (oss) {
                tensor(w, s, i, "ffn_gate_inp.bias", s->X, 0);
                tensor(w, s, i, "ffn_gate_exps.bias", Fe, s->X);
                tensor(w, s, i, "ffn_up_exps.bias", Fe, s->X);
                tensor(w, s, i, "ffn_down_exps.bias", E, s->X);
            }
            if (!strcmp(s->arch, "granitemoe") && s->Fs) {
                tensor(w, s, i, "ffn_gate_shexp.weight", E, s->Fs);
                tensor(w, s, i, "ffn_up_shexp.weight", E, s->Fs);
                tensor(w, s, i, "ffn_down_shexp.weight", s->Fs, E);
            }
            if (!strcmp(s->arch, "qwen2moe")) {
                tensor(w, s, i, "ffn_gate_inp_shexp.weight", E, 0);
                tensor(w, s, i, "ffn_gate_shexp.weight", E, s->Fs);
                tensor(w, s, i, "ffn_up_shexp.weight", E, s->Fs);
                tensor(w, s, i, "ffn_down_shexp.weight", s->Fs, E);
            }
            continue;
        }
        if (fused || has_feature(s->arch, "fused_ffn")) {
            tensor(w, s, i, "ffn_up.weight", E, 2 * F);
        } else {
            tensor(w, s, i, "ffn_gate.weight", E, F);
            tensor(w, s, i, "ffn_up.weight", E, F);
        }
        tensor(w, s, i, "ffn_down.weight", F, E);
    }
    size_t size;
    rf_error e = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_writer_to_memory(w, &m->buf, &size, &e), RF_OK);
    gguf_writer_free(w);
    char name[64];
    snprintf(name, sizeof name, "%s.gguf", s->arch);
    rf_status st = gguf_open_memory(m->buf, size, name, &m->f, err);
    if (st != RF_OK)
        fprintf(stderr, "\n  gguf_open_memory: %s\n", err->msg);
    CU_ASSERT_EQUAL_FATAL(st, RF_OK);
    return true;
}

static void close_model(model *m)
{
    gguf_close(m->f);
    free(m->buf);
}

static void cohere2_keys(gguf_writer *w, const spec *s)
{
    set_u32(w, s, "attention.sliding_window", 64);
    char k[128];
    key_name(k, sizeof k, s, "logit_scale");
    if (!s->drop_key || strcmp(s->drop_key, "logit_scale"))
        gguf_writer_set_f32(w, k, 0.25f);
}

static void gpt_oss_keys(gguf_writer *w, const spec *s)
{
    (void)s;
    gguf_writer_set_u32(w, "gpt-oss.attention.sliding_window", 128);
}

static spec base_spec(const char *arch)
{
    spec s = {.arch = arch, .L = 6, .E = 32, .H = 4, .Hkv = 2, .D = 8, .F = 48, .V = 64};
    s.write_kv_len = !strcmp(arch, "qwen3") || !strncmp(arch, "gemma", 5);
    if (!strcmp(arch, "qwen3moe") || !strcmp(arch, "qwen2moe") || !strcmp(arch, "gpt-oss"))
        s.X = 6, s.K_used = 2, s.Fe = 16, s.Fs = 40;
    if (!strcmp(arch, "olmoe") || !strcmp(arch, "granitemoe")) /* experts feed_forward_length wide */
        s.X = 6, s.K_used = 2;
    if (!strcmp(arch, "gpt-oss"))
        s.extra = gpt_oss_keys;
    if (!strcmp(arch, "cohere2"))
        s.extra = cohere2_keys;
    return s;
}

static spec mixtral_spec(void)
{
    spec s = base_spec("llama");
    s.X = 4, s.K_used = 2;
    return s;
}

/* imports s; NULL (and the message in err) on failure */
static ir_graph *import_spec(const spec *s, const import_options *opt, rf_error *err)
{
    model m;
    open_model(s, &m, err);
    ir_graph *g = NULL;
    memset(err, 0, sizeof *err);
    rf_status st = import_model(m.f, opt, &g, err);
    close_model(&m); /* the graph must not depend on the file */
    if (st != RF_OK)
        CU_ASSERT_PTR_NULL(g);
    return g;
}

static ir_graph *import_ok(const spec *s, const import_options *opt)
{
    rf_error err = {0};
    ir_graph *g = import_spec(s, opt, &err);
    if (!g)
        fprintf(stderr, "\n  import %s: %s\n", s->arch, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    rf_error v = {0};
    CU_ASSERT_EQUAL(ir_verify(g, &v), RF_OK);
    return g;
}

static void expect_fail(const spec *s, rf_status want, const char *needle1, const char *needle2)
{
    rf_error err = {0};
    ir_graph *g = import_spec(s, NULL, &err);
    CU_ASSERT_PTR_NULL(g);
    if (g) {
        ir_graph_free(g);
        return;
    }
    CU_ASSERT_EQUAL(err.status, want);
    bool ok = strstr(err.msg, needle1) && (!needle2 || strstr(err.msg, needle2));
    if (!ok)
        fprintf(stderr, "\n  message '%s' lacks '%s' / '%s'\n", err.msg, needle1, needle2 ? needle2 : "");
    CU_ASSERT_TRUE(ok);
}

/* ---- graph facts ------------------------------------------------------------- */

static unsigned count_op(const ir_graph *g, ir_op op)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++)
        n += g->nodes[i]->op == op;
    return n;
}

static const ir_node *nth_op(const ir_graph *g, ir_op op, unsigned k)
{
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == op && k-- == 0)
            return g->nodes[i];
    return NULL;
}

static int64_t ia(const ir_node *n, const char *name) { return n->ia[ir_op_iattr(n->op, name)]; }
static double fa(const ir_node *n, const char *name) { return n->fa[ir_op_fattr(n->op, name)]; }

static const ir_node *output_of(const ir_graph *g)
{
    const ir_node *o = g->nodes[g->n_nodes - 1];
    CU_ASSERT_EQUAL(o->op, IR_OP_OUTPUT);
    return o;
}

/* op counts of a whole graph with all_logits (no last_rows) */
typedef struct counts {
    unsigned rms_norm, matmul, add, slice, scale, softcap, weight;
    ir_op glu;
} counts;

static void check_counts(const ir_graph *g, uint32_t L, const counts *c)
{
    CU_ASSERT_EQUAL(count_op(g, IR_OP_INPUT_TOKENS), 1);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_INPUT_POS), 1);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_EMBED), 1);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_ATTENTION), L);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_KV_STORE), 2 * L);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_ROPE), 2 * L);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_RESHAPE), 3 * L);
    CU_ASSERT_EQUAL(count_op(g, c->glu), L);
    CU_ASSERT_EQUAL(count_op(g, c->glu == IR_OP_SWIGLU ? IR_OP_GEGLU : IR_OP_SWIGLU), 0);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_RMS_NORM), c->rms_norm);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_MATMUL), c->matmul);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_ADD), c->add);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SLICE), c->slice);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SCALE), c->scale);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SOFTCAP), c->softcap);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_WEIGHT), c->weight);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_LAST_ROWS), 0);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_OUTPUT), 1);
}

static void check_model(const ir_graph *g, const spec *s)
{
    CU_ASSERT_STRING_EQUAL(g->model.arch, s->arch);
    CU_ASSERT_EQUAL(g->model.n_vocab, s->V);
    CU_ASSERT_EQUAL(g->model.n_embd, s->E);
    CU_ASSERT_EQUAL(g->model.n_layer, s->L);
    CU_ASSERT_EQUAL(g->model.n_ctx, 2048);
    CU_ASSERT_EQUAL(g->model.n_head, s->H);
    CU_ASSERT_EQUAL(g->model.n_head_kv, s->Hkv);
    CU_ASSERT_EQUAL(g->model.head_dim, s->D);
    CU_ASSERT_EQUAL(g->model.bos, 1);
    CU_ASSERT_EQUAL(g->model.eos, 2);
    const ir_node *o = output_of(g);
    CU_ASSERT_EQUAL(o->type.rank, 2);
    CU_ASSERT_EQUAL(o->type.dim[0], IR_DIM_T);
    CU_ASSERT_EQUAL(o->type.dim[1], s->V);
}

static void check_rope(const ir_graph *g, int mode, double base, bool freqs)
{
    for (unsigned k = 0; k < count_op(g, IR_OP_ROPE); k++) {
        const ir_node *r = nth_op(g, IR_OP_ROPE, k);
        CU_ASSERT_EQUAL(ia(r, "mode"), mode);
        CU_ASSERT_EQUAL(ia(r, "n_rot"), r->type.dim[2]);
        CU_ASSERT_DOUBLE_EQUAL(fa(r, "base"), base, 1e-3);
        CU_ASSERT_EQUAL(r->n_in, freqs ? 3 : 2);
    }
}

static void check_attention(const ir_graph *g, const spec *s, double scale, double softcap, const uint32_t *window)
{
    for (uint32_t il = 0; il < s->L; il++) {
        const ir_node *a = nth_op(g, IR_OP_ATTENTION, il);
        CU_ASSERT_EQUAL(ia(a, "layer"), il);
        CU_ASSERT_EQUAL(ia(a, "window"), window ? window[il] : 0);
        CU_ASSERT_DOUBLE_EQUAL(fa(a, "scale"), scale, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(fa(a, "softcap"), softcap, 1e-6);
        CU_ASSERT_EQUAL(a->type.dim[1], s->H * s->D);
    }
}

/* the queries of layer il's attention are scaled after rope by s */
static void check_q_scale(const ir_graph *g, uint32_t il, double s)
{
    const ir_node *q = nth_op(g, IR_OP_ATTENTION, il)->in[0];
    CU_ASSERT_EQUAL_FATAL(q->op, IR_OP_SCALE);
    CU_ASSERT_EQUAL(q->in[0]->op, IR_OP_ROPE);
    CU_ASSERT_DOUBLE_EQUAL(fa(q, "s"), s, 1e-6);
}

/* ---- per-architecture graphs ------------------------------------------------- */

static void test_llama(void)
{
    spec s = base_spec("llama");
    import_options o = {.all_logits = true};
    ir_graph *g = import_ok(&s, &o);
    uint32_t L = s.L;
    counts c = {.rms_norm = 2 * L + 1, .matmul = 7 * L + 1, .add = 2 * L, .weight = 9 * L + 2, .glu = IR_OP_SWIGLU};
    check_counts(g, L, &c);
    check_model(g, &s);
    check_rope(g, 0, 10000, false);
    check_attention(g, &s, 1 / sqrt(8.0), 0, NULL);
    /* tied: the output matmul reads the embedding table */
    const ir_node *out = output_of(g)->in[0];
    CU_ASSERT_EQUAL(out->op, IR_OP_MATMUL);
    CU_ASSERT_PTR_EQUAL(out->in[1], nth_op(g, IR_OP_EMBED, 0)->in[0]);
    CU_ASSERT_STRING_EQUAL(out->in[1]->name, "token_embd.weight");
    /* weights carry their GGUF shape, outermost first */
    const ir_node *wq = nth_op(g, IR_OP_MATMUL, 0)->in[1];
    CU_ASSERT_STRING_EQUAL(wq->name, "blk.0.attn_q.weight");
    CU_ASSERT_EQUAL(wq->type.elem, GGML_TYPE_F32);
    CU_ASSERT_EQUAL(wq->type.rank, 2);
    CU_ASSERT_EQUAL(wq->type.dim[0], s.H * s.D);
    CU_ASSERT_EQUAL(wq->type.dim[1], s.E);
    ir_graph_free(g);
}

static void test_llama_untied_last_row(void)
{
    spec s = base_spec("llama");
    s.untied = true;
    ir_graph *g = import_ok(&s, NULL);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_LAST_ROWS), 1);
    const ir_node *o = output_of(g);
    CU_ASSERT_EQUAL(o->type.dim[0], 1);
    CU_ASSERT_EQUAL(o->type.dim[1], s.V);
    CU_ASSERT_STRING_EQUAL(o->in[0]->in[1]->name, "output.weight");
    CU_ASSERT_EQUAL(count_op(g, IR_OP_WEIGHT), 9 * s.L + 3);
    /* the cut is in the last layer, after attention's output product and
     * residual: its FFN runs on one row */
    const ir_node *lr = nth_op(g, IR_OP_LAST_ROWS, 0);
    CU_ASSERT_EQUAL(lr->in[0]->op, IR_OP_ADD);
    CU_ASSERT_EQUAL(lr->in[0]->in[0]->op, IR_OP_MATMUL);
    CU_ASSERT_STRING_EQUAL(lr->in[0]->in[0]->in[1]->name, "blk.5.attn_output.weight");
    CU_ASSERT_EQUAL(lr->type.dim[0], 1);
    ir_graph_free(g);
}

static void llama3_keys(gguf_writer *w, const spec *s)
{
    (void)s;
    gguf_writer_set_f32(w, "llama.rope.freq_base", 500000.0f);
}

static void test_llama3_rope_freqs(void)
{
    spec s = base_spec("llama");
    s.llama3_freqs = true;
    s.extra = llama3_keys;
    import_options o = {.all_logits = true};
    ir_graph *g = import_ok(&s, &o);
    check_rope(g, 0, 500000, true);
    const ir_node *r = nth_op(g, IR_OP_ROPE, 3);
    CU_ASSERT_STRING_EQUAL(r->in[2]->name, "rope_freqs.weight");
    CU_ASSERT_EQUAL(count_op(g, IR_OP_WEIGHT), 9 * s.L + 3); /* one rope_freqs node for all layers */
    ir_graph_free(g);
}

static void linear_keys(gguf_writer *w, const spec *s)
{
    (void)s;
    gguf_writer_set_str(w, "llama.rope.scaling.type", "linear", 6);
    gguf_writer_set_f32(w, "llama.rope.scaling.factor", 4.0f);
}

static void yarn_keys(gguf_writer *w, const spec *s)
{
    (void)s;
    gguf_writer_set_str(w, "llama.rope.scaling.type", "yarn", 4);
    gguf_writer_set_f32(w, "llama.rope.scaling.factor", 8.0f);
    gguf_writer_set_u32(w, "llama.rope.scaling.original_context_length", 512);
}

static void none_keys(gguf_writer *w, const spec *s)
{
    (void)s;
    gguf_writer_set_str(w, "llama.rope.scaling.type", "none", 4);
    gguf_writer_set_f32(w, "llama.rope.scaling.factor", 8.0f);
}

static void test_rope_scaling(void)
{
    spec s = base_spec("llama");
    import_options o = {.all_logits = true};
    s.extra = linear_keys;
    ir_graph *g = import_ok(&s, &o);
    const ir_node *r = nth_op(g, IR_OP_ROPE, 0);
    CU_ASSERT_DOUBLE_EQUAL(fa(r, "freq_scale"), 0.25, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fa(r, "ext_factor"), 0, 1e-9);
    ir_graph_free(g);

    s.extra = yarn_keys;
    g = import_ok(&s, &o);
    r = nth_op(g, IR_OP_ROPE, 0);
    CU_ASSERT_DOUBLE_EQUAL(fa(r, "freq_scale"), 0.125, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fa(r, "ext_factor"), 1, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fa(r, "attn_factor"), 1, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fa(r, "beta_fast"), 32, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fa(r, "beta_slow"), 1, 1e-9);
    CU_ASSERT_EQUAL(g->model.rope_n_ctx_orig, 512);
    ir_graph_free(g);

    s.extra = none_keys;
    g = import_ok(&s, &o);
    CU_ASSERT_DOUBLE_EQUAL(fa(nth_op(g, IR_OP_ROPE, 0), "freq_scale"), 1, 1e-9);
    ir_graph_free(g);
}

static void test_qwen2(void)
{
    spec s = base_spec("qwen2");
    import_options o = {.all_logits = true};
    ir_graph *g = import_ok(&s, &o);
    uint32_t L = s.L;
    counts c = {.rms_norm = 2 * L + 1, .matmul = 7 * L + 1, .add = 5 * L, .weight = 12 * L + 2, .glu = IR_OP_SWIGLU};
    check_counts(g, L, &c);
    check_model(g, &s);
    check_rope(g, 2, 10000, false);
    /* the bias follows its projection */
    const ir_node *a = nth_op(g, IR_OP_ADD, 0);
    CU_ASSERT_EQUAL(a->in[0]->op, IR_OP_MATMUL);
    CU_ASSERT_STRING_EQUAL(a->in[1]->name, "blk.0.attn_q.bias");
    ir_graph_free(g);
}

static void test_qwen3(void)
{
    spec s = base_spec("qwen3");
    s.D = 16; /* explicit key_length: H*D != n_embd */
    import_options o = {.all_logits = true};
    ir_graph *g = import_ok(&s, &o);
    uint32_t L = s.L;
    counts c = {.rms_norm = 4 * L + 1, .matmul = 7 * L + 1, .add = 2 * L, .weight = 11 * L + 2, .glu = IR_OP_SWIGLU};
    check_counts(g, L, &c);
    check_model(g, &s);
    check_rope(g, 2, 10000, false);
    check_attention(g, &s, 0.25, 0, NULL);
    /* q/k norms act per head, before rope */
    const ir_node *r = nth_op(g, IR_OP_ROPE, 0);
    CU_ASSERT_EQUAL(r->in[0]->op, IR_OP_RMS_NORM);
    CU_ASSERT_STRING_EQUAL(r->in[0]->in[1]->name, "blk.0.attn_q_norm.weight");
    CU_ASSERT_EQUAL(r->in[0]->type.rank, 3);
    ir_graph_free(g);
}

static void test_phi3(void)
{
    spec s = base_spec("phi3");
    import_options o = {.all_logits = true};
    ir_graph *g = import_ok(&s, &o);
    uint32_t L = s.L;
    counts c = {.rms_norm = 2 * L + 1, .matmul = 7 * L + 1, .add = 2 * L, .scale = L, .weight = 9 * L + 2,
                .glu = IR_OP_SWIGLU};
    check_counts(g, L, &c);
    check_model(g, &s);
    check_rope(g, 2, 10000, false);
    check_attention(g, &s, 1, 0, NULL); /* llama.cpp scales q instead */
    check_q_scale(g, 3, 1 / sqrt(8.0));
    /* q, k, v: products of the rows of attn_qkv in that order, no slices */
    int64_t nq = s.H * s.D, nk = s.Hkv * s.D, row0[3] = {0, nq, nq + nk}, rows[3] = {nq, nk, nk};
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SLICE), 0);
    for (int i = 0; i < 3; i++) {
        const ir_node *w = nth_op(g, IR_OP_MATMUL, i)->in[1];
        CU_ASSERT_STRING_EQUAL(w->name, "blk.0.attn_qkv.weight");
        CU_ASSERT_TRUE(ia(w, "row0") == row0[i] && w->type.dim[0] == rows[i] && w->type.dim[1] == s.E);
    }
    /* gate is the first half of ffn_up's rows, up the second */
    const ir_node *sw = nth_op(g, IR_OP_SWIGLU, 0), *wg = sw->in[0]->in[1], *wu = sw->in[1]->in[1];
    CU_ASSERT_STRING_EQUAL(wg->name, "blk.0.ffn_up.weight");
    CU_ASSERT_STRING_EQUAL(wu->name, "blk.0.ffn_up.weight");
    CU_ASSERT_TRUE(ia(wg, "row0") == 0 && wg->type.dim[0] == s.F);
    CU_ASSERT_TRUE(ia(wu, "row0") == s.F && wu->type.dim[0] == s.F);
    ir_graph_free(g);
}

static void gemma2_keys(gguf_writer *w, const spec *s)
{
    (void)s;
    gguf_writer_set_u32(w, "gemma2.attention.sliding_window", 128);
    gguf_writer_set_f32(w, "gemma2.attn_logit_softcapping", 40.0f);
}

static void test_gemma2(void)
{
    spec s = base_spec("gemma2");
    s.untied = true; /* gemma2 ignores output.weight, as llama.cpp does */
    s.extra = gemma2_keys;
    import_options o = {.all_logits = true};
    ir_graph *g = import_ok(&s, &o);
    uint32_t L = s.L;
    counts c = {.rms_norm = 4 * L + 1, .matmul = 7 * L + 1, .add = 2 * L, .scale = 1 + L, .softcap = 1,
                .weight = 11 * L + 2, .glu = IR_OP_GEGLU};
    check_counts(g, L, &c);
    check_model(g, &s);
    check_rope(g, 2, 10000, false);
    uint32_t window[6] = {128, 0, 128, 0, 128, 0}; /* even layers slide */
    check_attention(g, &s, 1, 40, window); /* the softcap sees q scaled beforehand */
    check_q_scale(g, 0, 1 / sqrt(8.0));
    const ir_node *sc = nth_op(g, IR_OP_SCALE, 0);
    CU_ASSERT_EQUAL(sc->in[0]->op, IR_OP_EMBED);
    CU_ASSERT_DOUBLE_EQUAL(fa(sc, "s"), sqrt(32.0), 1e-5);
    const ir_node *cap = output_of(g)->in[0];
    CU_ASSERT_EQUAL(cap->op, IR_OP_SOFTCAP);
    CU_ASSERT_DOUBLE_EQUAL(fa(cap, "cap"), 30, 1e-9);
    CU_ASSERT_STRING_EQUAL(cap->in[0]->in[1]->name, "token_embd.weight");
    /* post norms sit between each block's output and its residual add */
    const ir_node *add0 = nth_op(g, IR_OP_ADD, 0);
    CU_ASSERT_STRING_EQUAL(add0->in[0]->in[1]->name, "blk.0.post_attention_norm.weight");
    const ir_node *add1 = nth_op(g, IR_OP_ADD, 1);
    CU_ASSERT_STRING_EQUAL(add1->in[0]->in[1]->name, "blk.0.post_ffw_norm.weight");
    ir_graph_free(g);
}

static void gemma3_keys(gguf_writer *w, const spec *s)
{
    (void)s;
    gguf_writer_set_u32(w, "gemma3.attention.sliding_window", 512);
    gguf_writer_set_f32(w, "gemma3.rope.freq_base", 1000000.0f);
    gguf_writer_set_str(w, "gemma3.rope.scaling.type", "linear", 6);
    gguf_writer_set_f32(w, "gemma3.rope.scaling.factor", 8.0f);
}

static void test_gemma3(void)
{
    spec s = base_spec("gemma3");
    s.L = 7;
    s.extra = gemma3_keys;
    import_options o = {.all_logits = true};
    ir_graph *g = import_ok(&s, &o);
    uint32_t L = s.L;
    counts c = {.rms_norm = 6 * L + 1, .matmul = 7 * L + 1, .add = 2 * L, .scale = 1 + L, .softcap = 0,
                .weight = 13 * L + 2, .glu = IR_OP_GEGLU};
    check_counts(g, L, &c);
    check_model(g, &s);
    uint32_t window[7] = {512, 512, 512, 512, 512, 0, 512}; /* 5 local : 1 global */
    check_attention(g, &s, 1, 0, window);
    check_q_scale(g, 6, 1 / sqrt(8.0));
    for (uint32_t il = 0; il < L; il++) {
        const ir_node *r = nth_op(g, IR_OP_ROPE, 2 * il);
        bool global = il == 5;
        CU_ASSERT_DOUBLE_EQUAL(fa(r, "base"), global ? 1e6 : 1e4, 1e-3);
        CU_ASSERT_DOUBLE_EQUAL(fa(r, "freq_scale"), global ? 0.125 : 1, 1e-9);
        CU_ASSERT_EQUAL(r->in[0]->op, IR_OP_RMS_NORM); /* q norm before rope */
    }
    ir_graph_free(g);

    /* without a window there are no local layers */
    s.extra = NULL;
    g = import_ok(&s, &o);
    check_attention(g, &s, 1, 0, NULL);
    ir_graph_free(g);
}

static void longrope_keys(gguf_writer *w, const spec *s)
{
    (void)s;
    gguf_writer_set_str(w, "phi3.rope.scaling.type", "longrope", 8);
    gguf_writer_set_u32(w, "phi3.rope.scaling.original_context_length", 1024);
    gguf_writer_set_f32(w, "phi3.rope.scaling.attn_factor", 1.25f);
}

static void test_phi3_longrope(void)
{
    spec s = base_spec("phi3");
    s.phi3_factors = true;
    s.extra = longrope_keys;
    /* the context (default: context_length 2048) exceeds the original 1024 */
    ir_graph *g = import_ok(&s, NULL);
    const ir_node *r = nth_op(g, IR_OP_ROPE, 0);
    CU_ASSERT_EQUAL_FATAL(r->n_in, 3);
    CU_ASSERT_STRING_EQUAL(r->in[2]->name, "rope_factors_long.weight");
    CU_ASSERT_DOUBLE_EQUAL(fa(r, "attn_factor"), 1.25, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(fa(r, "ext_factor"), 0, 1e-9);
    ir_graph_free(g);
    import_options o = {.n_ctx = 1024};
    g = import_ok(&s, &o);
    r = nth_op(g, IR_OP_ROPE, 0);
    CU_ASSERT_EQUAL_FATAL(r->n_in, 3);
    CU_ASSERT_STRING_EQUAL(r->in[2]->name, "rope_factors_short.weight");
    ir_graph_free(g);
}

static void test_gemma2_scale(void)
{
    /* llama.cpp: query_pre_attn_scalar = n_embd/n_head for the 27B (46 layers), else head_dim */
    spec s = base_spec("gemma2");
    s.D = 16;
    import_options o = {.all_logits = true};
    ir_graph *g = import_ok(&s, &o);
    check_q_scale(g, 0, 0.25);
    ir_graph_free(g);
    s.L = 46;
    g = import_ok(&s, &o);
    check_q_scale(g, 45, 1 / sqrt(8.0));
    CU_ASSERT_EQUAL(ia(nth_op(g, IR_OP_ATTENTION, 0), "window"), 4096); /* gemma2's default window */
    ir_graph_free(g);
}

static void swa_array(gguf_writer *w, const spec *s)
{
    (void)s;
    static const uint8_t flags[6] = {1, 1, 0, 1, 0, 0};
    gguf_writer_set_u32(w, "gemma3.attention.sliding_window", 64);
    gguf_writer_set_arr(w, "gemma3.attention.sliding_window_pattern", GGUF_VT_BOOL, flags, 6);
    gguf_writer_set_f32(w, "gemma3.rope.freq_base_swa", 20000.0f);
}

static void test_swa_pattern_array(void)
{
    spec s = base_spec("gemma3");
    s.extra = swa_array;
    import_options o = {.all_logits = true};
    ir_graph *g = import_ok(&s, &o);
    uint32_t window[6] = {64, 64, 0, 64, 0, 0};
    check_attention(g, &s, 1, 0, window);
    CU_ASSERT_DOUBLE_EQUAL(fa(nth_op(g, IR_OP_ROPE, 0), "base"), 20000, 1e-3);
    CU_ASSERT_DOUBLE_EQUAL(fa(nth_op(g, IR_OP_ROPE, 4), "base"), 10000, 1e-3);
    ir_graph_free(g);
}

static float granite_logit_scale = 4.0f;

static void granite_keys(gguf_writer *w, const spec *s)
{
    static const char *const names[] = {"logit_scale", "residual_scale", "embedding_scale", "attention.scale"};
    const float vals[] = {granite_logit_scale, 0.5f, 3.0f, 0.1f};
    for (int i = 0; i < 4; i++) {
        char k[128];
        key_name(k, sizeof k, s, names[i]); /* granite.*, granitemoe.* */
        if (!s->drop_key || strcmp(s->drop_key, names[i]))
            gguf_writer_set_f32(w, k, vals[i]);
    }
}

/* granite: the embedding times embedding_scale, each layer's two residual
 * branches times residual_scale right before their adds, the logits times
 * 1/logit_scale, attention.scale as the attention's; logit_scale is
 * required and must be positive */
static void test_granite(void)
{
    spec s = base_spec("granite");
    s.untied = true;
    s.extra = granite_keys;
    import_options o = {.all_logits = true};
    ir_graph *g = import_ok(&s, &o);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SCALE), 1 + 2 * s.L + 1);
    const ir_node *e = nth_op(g, IR_OP_SCALE, 0), *lg = nth_op(g, IR_OP_SCALE, 2 * s.L + 1);
    CU_ASSERT_EQUAL(e->in[0]->op, IR_OP_EMBED);
    CU_ASSERT_DOUBLE_EQUAL(fa(e, "s"), 3.0, 1e-9);
    CU_ASSERT_EQUAL(lg->in[0]->op, IR_OP_MATMUL);
    CU_ASSERT_DOUBLE_EQUAL(fa(lg, "s"), 0.25, 1e-9);
    for (unsigned k = 1; k <= 2 * s.L; k++) {
        const ir_node *r = nth_op(g, IR_OP_SCALE, k);
        CU_ASSERT_DOUBLE_EQUAL(fa(r, "s"), 0.5, 1e-9);
        CU_ASSERT_EQUAL(r->in[0]->op, IR_OP_MATMUL); /* attn_output or ffn_down, no bias here */
    }
    for (unsigned il = 0; il < s.L; il++)
        CU_ASSERT_DOUBLE_EQUAL(fa(nth_op(g, IR_OP_ATTENTION, il), "scale"), 0.1, 1e-7);
    ir_graph_free(g);
    s.drop_key = "logit_scale";
    expect_fail(&s, RF_E_NOTFOUND, "'granite.logit_scale'", NULL);
    s.drop_key = NULL;
    granite_logit_scale = 0;
    expect_fail(&s, RF_E_FORMAT, "logit_scale 0", "granite");
    granite_logit_scale = 4.0f;
}

/* smollm3: layers 3 and 7 of 8 (il + 1 a multiple of 4) store k and v
 * without rope; the others rope q and k */
static void test_smollm3(void)
{
    spec s = base_spec("smollm3");
    s.L = 8;
    ir_graph *g = import_ok(&s, NULL);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_ROPE), 2 * (8 - 2));
    for (unsigned il = 0; il < 8; il++) {
        const ir_node *kc = nth_op(g, IR_OP_KV_STORE, 2 * il), *q = nth_op(g, IR_OP_ATTENTION, il)->in[0];
        bool roped = (il + 1) % 4 != 0;
        CU_ASSERT_EQUAL(kc->in[0]->op == IR_OP_ROPE, roped);
        CU_ASSERT_EQUAL(q->op == IR_OP_ROPE, roped);
    }
    ir_graph_free(g);
}

static void olmo2_window(gguf_writer *w, const spec *s)
{
    (void)s;
    gguf_writer_set_u32(w, "olmo2.attention.sliding_window", 4096);
}

/* olmo2: attention and FFN read x itself (no attn_norm, ffn_norm: a file's
 * would be unused) and pass post norms before the adds; q and k are
 * normalised as whole rows before the heads; a sliding window (OLMo 3) is
 * refused by name */
static void test_olmo2(void)
{
    spec s = base_spec("olmo2");
    s.untied = true;
    ir_graph *g = import_ok(&s, NULL);
    /* per layer: q, k, post attention, post FFN; and the output norm */
    CU_ASSERT_EQUAL(count_op(g, IR_OP_RMS_NORM), 4 * s.L + 1);
    for (unsigned il = 0; il < s.L; il++) {
        const ir_node *qn = nth_op(g, IR_OP_RMS_NORM, 4 * il), *mm = qn->in[0];
        CU_ASSERT_EQUAL(qn->type.rank, 2); /* [T, n_head*head_dim]: before the heads */
        CU_ASSERT_EQUAL(qn->type.dim[1], (int64_t)s.H * s.D);
        CU_ASSERT_EQUAL(mm->op, IR_OP_MATMUL);
        CU_ASSERT_EQUAL(mm->in[0]->op == IR_OP_RMS_NORM, false); /* q reads x, not a norm of it */
    }
    ir_graph_free(g);
    s.extra = olmo2_window;
    expect_fail(&s, RF_E_UNSUPPORTED, "'olmo2.attention.sliding_window'", "OLMo 3");
}

static void glm4_sections(gguf_writer *w, const spec *s)
{
    (void)s;
    static const int32_t sections[4] = {8, 12, 12, 0};
    gguf_writer_set_arr(w, "glm4.rope.dimension_sections", GGUF_VT_INT32, sections, 4);
}

/* glm4: pre and post norms, gate and up as the halves of ffn_up, rope over
 * rope.dimension_count of each head; the multimodal rope refused by name */
static void test_glm4(void)
{
    spec s = base_spec("glm4");
    ir_graph *g = import_ok(&s, NULL);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_RMS_NORM), 4 * s.L + 1);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SWIGLU), s.L);
    const ir_node *gl = nth_op(g, IR_OP_SWIGLU, 0);
    CU_ASSERT_TRUE(gl->in[0]->in[1]->ia[0] == 0 && gl->in[1]->in[1]->ia[0] == s.F); /* gate rows, then up rows */
    CU_ASSERT_STRING_EQUAL(gl->in[0]->in[1]->name, "blk.0.ffn_up.weight");
    ir_graph_free(g);
    s.extra = glm4_sections;
    expect_fail(&s, RF_E_UNSUPPORTED, "'glm4.rope.dimension_sections'", "GLM-4V");
}

/* starcoder2: LayerNorms (optional biases) for the three pre-norms, an FFN
 * of up, gelu and down (no gate); its epsilon is LayerNorm's key, whose
 * absence is named */
static void test_starcoder2(void)
{
    spec s = base_spec("starcoder2");
    ir_graph *g = import_ok(&s, NULL);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_LAYER_NORM), 2 * s.L + 1);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_RMS_NORM), 0);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_GELU), s.L);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SWIGLU) + count_op(g, IR_OP_GEGLU), 0);
    const ir_node *gl = nth_op(g, IR_OP_GELU, 0);
    CU_ASSERT_STRING_EQUAL(gl->in[0]->in[1]->name, "blk.0.ffn_up.weight");
    CU_ASSERT_DOUBLE_EQUAL(fa(nth_op(g, IR_OP_LAYER_NORM, 0), "eps"), 1e-6, 1e-12);
    ir_graph_free(g);
    s.drop_key = "attention.layer_norm_epsilon";
    expect_fail(&s, RF_E_NOTFOUND, "'starcoder2.attention.layer_norm_epsilon'", NULL);
}

/* a parallel block: one LayerNorm feeds attention and FFN, x = (ffn + x) + attention;
 * windows and rope on three layers of four; the last layer's three operands cut to the last row */
static void test_cohere2(void)
{
    spec s = base_spec("cohere2");
    s.L = 8;
    ir_graph *g = import_ok(&s, NULL);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_LAYER_NORM), s.L + 1);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_RMS_NORM), 0);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_ROPE), 2 * (s.L - s.L / 4));
    for (unsigned il = 0; il < s.L; il++)
        CU_ASSERT_EQUAL(ia(nth_op(g, IR_OP_ATTENTION, il), "window"), il % 4 < 3 ? 64 : 0);
    const ir_node *ln = nth_op(g, IR_OP_LAYER_NORM, 0);
    CU_ASSERT_EQUAL(ln->n_in, 2); /* no bias */
    /* the FFN's gate reads the attention's norm */
    const ir_node *gate = NULL;
    for (uint32_t i = 0; i < g->n_nodes && !gate; i++)
        if (g->nodes[i]->op == IR_OP_MATMUL && !strcmp(g->nodes[i]->in[1]->name, "blk.0.ffn_gate.weight"))
            gate = g->nodes[i];
    CU_ASSERT_PTR_NOT_NULL_FATAL(gate);
    CU_ASSERT_PTR_EQUAL(gate->in[0], ln);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_LAST_ROWS), 3);
    const ir_node *out = output_of(g);
    CU_ASSERT_EQUAL(out->in[0]->op, IR_OP_SCALE);
    CU_ASSERT_DOUBLE_EQUAL(fa(out->in[0], "s"), 0.25, 1e-7);
    CU_ASSERT_PTR_EQUAL(out->in[0]->in[0]->in[1], nth_op(g, IR_OP_EMBED, 0)->in[0]); /* tied */
    ir_graph_free(g);
    s = base_spec("cohere2");
    s.drop_key = "logit_scale";
    expect_fail(&s, RF_E_NOTFOUND, "'cohere2.logit_scale'", NULL);
}

static const char *const ALL_ARCHS[] = {"llama", "granite", "smollm3", "qwen2", "qwen3", "phi3", "gemma2", "gemma3",
                                        "olmo2", "glm4", "exaone", "starcoder2", "cohere2", "qwen2moe", "qwen3moe",
                                        "mixtral", "gpt-oss", "olmoe", "granitemoe"};

/* base_spec, with the keys an arch cannot do without */
static spec arch_spec(const char *arch)
{
    if (!strcmp(arch, "mixtral"))
        return mixtral_spec();
    spec s = base_spec(arch);
    if (!strcmp(arch, "granite") || !strcmp(arch, "granitemoe"))
        s.extra = granite_keys;
    return s;
}

/* last row, every row, or a batch graph's last O rows */
static import_options logits_kind(int kind)
{
    return (import_options){.all_logits = kind == 1, .out_rows = kind == 2};
}

static void test_round_trip(void)
{
    for (size_t i = 0; i < sizeof ALL_ARCHS / sizeof ALL_ARCHS[0]; i++) {
        for (int kind = 0; kind < 3; kind++) {
            spec s = arch_spec(ALL_ARCHS[i]);
            import_options o = logits_kind(kind);
            ir_graph *g = import_ok(&s, &o);
            CU_ASSERT(test_check_round_trip(g, ALL_ARCHS[i]));
            ir_graph_free(g);
        }
    }
}

/* Every arch's step through the passes, planned for one token and for many,
 * last row, all logits or a batch graph's last O (at most 3), fused or not:
 * values live at once never share workspace bytes (plan_check.c). */
static void test_memory_plans(void)
{
    for (size_t i = 0; i < sizeof ALL_ARCHS / sizeof ALL_ARCHS[0]; i++)
        for (int c = 0; c < 12; c++) {
            spec s = arch_spec(ALL_ARCHS[i]);
            import_options o = logits_kind(c % 3);
            ir_graph *g = import_ok(&s, &o);
            ir_pipeline_options po = {.max_tokens = c / 3 & 1 ? 1 : 512, .max_out = 3,
                                      .disable = c / 3 & 2 ? "fuse-qkv,fuse-norm,fuse-epilogue,fuse-rope-kv" : NULL};
            rf_error err = {0};
            rf_status st = ir_run_pipeline(g, &po, &err);
            if (st != RF_OK)
                fprintf(stderr, "\n  %s: %s\n", ALL_ARCHS[i], err.msg);
            CU_ASSERT_EQUAL(st, RF_OK);
            char what[64];
            snprintf(what, sizeof what, "%s (case %d)", ALL_ARCHS[i], c);
            if (st == RF_OK)
                CU_ASSERT_EQUAL(test_check_memplan(g, what), 0);
            ir_graph_free(g);
        }
}

/* ---- failures ------------------------------------------------------------------ */

static void test_unknown_arch(void)
{
    spec s = base_spec("mamba");
    expect_fail(&s, RF_E_UNSUPPORTED, "'mamba'",
                "supported: llama, granite, smollm3, olmo2, glm4, exaone, starcoder2, cohere2, qwen2, qwen3, qwen2moe, "
                "qwen3moe, gpt-oss, olmoe, granitemoe, phi3, gemma2, gemma3, deepseek2, bert, nomic-bert");
}

static void test_missing_key(void)
{
    spec s = base_spec("qwen2");
    s.drop_key = "block_count";
    expect_fail(&s, RF_E_NOTFOUND, "'qwen2.block_count'", "qwen2");
    s.drop_key = "attention.layer_norm_rms_epsilon";
    expect_fail(&s, RF_E_NOTFOUND, "'qwen2.attention.layer_norm_rms_epsilon'", NULL);
}

static void f32_block_count(gguf_writer *w, const spec *s)
{
    (void)s;
    gguf_writer_set_f32(w, "llama.block_count", 6.0f);
}

static void f32_head_count_kv(gguf_writer *w, const spec *s)
{
    (void)s;
    gguf_writer_set_f32(w, "llama.attention.head_count_kv", 2.0f);
}

static void test_wrong_key_type(void)
{
    spec s = base_spec("llama");
    s.drop_key = "block_count";
    s.extra = f32_block_count;
    expect_fail(&s, RF_E_TYPE, "'llama.block_count'", "f32");
    s = base_spec("llama");
    s.drop_key = "attention.head_count_kv";
    s.extra = f32_head_count_kv;
    expect_fail(&s, RF_E_TYPE, "'llama.attention.head_count_kv'", NULL);
}

static void test_bad_tensor(void)
{
    spec s = base_spec("llama");
    s.bad_tensor = "blk.2.attn_q.weight";
    expect_fail(&s, RF_E_FORMAT, "'blk.2.attn_q.weight'", "expected {32, 32} = {n_embd, n_head*head_dim}");
    s = base_spec("phi3");
    s.bad_tensor = "blk.0.attn_qkv.weight";
    expect_fail(&s, RF_E_FORMAT, "'blk.0.attn_qkv.weight'", "expected {32, 64}");
    s = base_spec("gemma3");
    s.bad_tensor = "blk.1.attn_k_norm.weight";
    expect_fail(&s, RF_E_FORMAT, "'blk.1.attn_k_norm.weight'", "expected {8}");
    s = base_spec("qwen3");
    s.drop_tensor = "blk.3.ffn_down.weight";
    expect_fail(&s, RF_E_NOTFOUND, "'blk.3.ffn_down.weight'", "qwen3");
    s = base_spec("llama");
    s.drop_tensor = "token_embd.weight";
    expect_fail(&s, RF_E_NOTFOUND, "'token_embd.weight'", NULL);
}

static void test_inconsistent_hparams(void)
{
    spec s = base_spec("llama");
    s.Hkv = 3;
    expect_fail(&s, RF_E_FORMAT, "'llama.attention.head_count_kv'", "divisor");
    s = base_spec("llama");
    s.E = 30; /* 30 / 4 heads */
    expect_fail(&s, RF_E_FORMAT, "'llama.embedding_length'", "'llama.attention.head_count'");
    s = base_spec("qwen3");
    s.D = 7; /* odd head: no rope */
    expect_fail(&s, RF_E_FORMAT, "'qwen3.rope.dimension_count'", "even");
}

static void test_gpt_oss(void)
{
    spec s = base_spec("gpt-oss");
    ir_graph *g = import_ok(&s, NULL);
    /* its router: the top k of the logits plus their bias, weighed by their softmax; biased experts */
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SOFTMAX), 0);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_TOPK), s.L);
    const ir_node *k = nth_op(g, IR_OP_TOPK, 0);
    CU_ASSERT_EQUAL(k->in[0]->op, IR_OP_ADD);
    CU_ASSERT_STRING_EQUAL(k->in[0]->in[1]->name, "blk.0.ffn_gate_inp.bias");
    CU_ASSERT_EQUAL(ia(nth_op(g, IR_OP_MOE_WEIGHTS, 0), "norm"), 2);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_MATMUL_ID), 3 * s.L);
    for (unsigned i = 0; i < 3 * s.L; i++)
        CU_ASSERT_EQUAL(nth_op(g, IR_OP_MATMUL_ID, i)->n_in, 4);
    CU_ASSERT_STRING_EQUAL(nth_op(g, IR_OP_MATMUL_ID, 2)->in[3]->name, "blk.0.ffn_down_exps.bias");
    const ir_node *glu = nth_op(g, IR_OP_SWIGLU_OAI, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(glu);
    CU_ASSERT_DOUBLE_EQUAL(fa(glu, "alpha"), 1.702, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(fa(glu, "limit"), 7.0, 1e-6);
    /* sinks in every attention, a 128-token window on even layers, the FFN norm by its gpt-oss name */
    for (unsigned il = 0; il < s.L; il++) {
        const ir_node *a = nth_op(g, IR_OP_ATTENTION, il);
        CU_ASSERT_EQUAL(a->n_in, 4);
        CU_ASSERT_EQUAL(a->in[3]->type.dim[0], s.H);
        CU_ASSERT_EQUAL(ia(a, "window"), il % 2 ? 0 : 128);
    }
    CU_ASSERT_STRING_EQUAL(nth_op(g, IR_OP_RMS_NORM, 1)->in[1]->name, "blk.0.post_attention_norm.weight");
    ir_graph_free(g);
    s.drop_tensor = "blk.3.attn_sinks.weight";
    expect_fail(&s, RF_E_NOTFOUND, "'blk.3.attn_sinks.weight' not found", "gpt-oss");
    s = base_spec("gpt-oss");
    s.extra = NULL;
    expect_fail(&s, RF_E_NOTFOUND, "'gpt-oss.attention.sliding_window'", NULL);
}

static void gemma2_experts(gguf_writer *w, const spec *s)
{
    (void)s;
    gguf_writer_set_u32(w, "gemma2.expert_count", 8);
    gguf_writer_set_u32(w, "gemma2.expert_used_count", 2);
}

/* experts where the arch has none, none where it must have them, bad counts */
static void test_moe_refusals(void)
{
    spec s = base_spec("gemma2");
    s.extra = gemma2_experts;
    expect_fail(&s, RF_E_UNSUPPORTED, "'gemma2.expert_count'", "mixture-of-experts layers are not supported");
    s = base_spec("qwen3moe");
    s.drop_key = "expert_count";
    expect_fail(&s, RF_E_FORMAT, "'qwen3moe.expert_count'", "has experts");
    s = base_spec("qwen3moe");
    s.drop_key = "expert_used_count";
    expect_fail(&s, RF_E_FORMAT, "'qwen3moe.expert_used_count' is 0", "1..6");
    s = base_spec("qwen3moe");
    s.K_used = 7;
    expect_fail(&s, RF_E_FORMAT, "'qwen3moe.expert_used_count' is 7", NULL);
    s = base_spec("qwen3moe");
    s.bad_tensor = "blk.1.ffn_down_exps.weight";
    expect_fail(&s, RF_E_FORMAT, "'blk.1.ffn_down_exps.weight' has shape {16, 33, 6}", "{16, 32, 6}");
    s = base_spec("qwen2moe");
    s.drop_tensor = "blk.2.ffn_gate_inp_shexp.weight";
    expect_fail(&s, RF_E_NOTFOUND, "'blk.2.ffn_gate_inp_shexp.weight' not found", NULL);
}

/* deepseek2's keys beyond the base ones: a latent of 16 and experts, then
 * one thing at a time that the importer refuses (ds2_break) */
static enum {
    DS2_KV_B_HEADS,  /* the unsplit attn_kv_b (no _mla keys), its cache of one head */
    DS2_MTP,         /* nextn_predict_layers */
    DS2_TWO_HEADS,   /* the latent cache as two heads */
    DS2_GATING,      /* expert_gating_func 3 */
    DS2_GROUPS,      /* 4 groups of 6 experts */
} ds2_break;

static void deepseek2_keys(gguf_writer *w, const spec *s)
{
    set_u32(w, s, "attention.kv_lora_rank", 16);
    set_u32(w, s, "expert_feed_forward_length", 16);
    set_u32(w, s, "expert_shared_count", 1);
    set_u32(w, s, "rope.dimension_count", 4);
    if (ds2_break == DS2_KV_B_HEADS) { /* the heads' own widths */
        set_u32(w, s, "attention.key_length", 12);
        set_u32(w, s, "attention.value_length", 8);
    } else {
        set_u32(w, s, "attention.key_length_mla", 12);
        set_u32(w, s, "attention.value_length_mla", 8);
        set_u32(w, s, "attention.key_length", 16 + 4);
        set_u32(w, s, "attention.value_length", 16);
    }
    if (ds2_break == DS2_MTP)
        set_u32(w, s, "nextn_predict_layers", 1);
    if (ds2_break == DS2_GATING)
        set_u32(w, s, "expert_gating_func", 3);
    if (ds2_break == DS2_GROUPS) {
        set_u32(w, s, "expert_group_count", 4);
        set_u32(w, s, "expert_group_used_count", 2);
    }
}

/* What the deepseek2 importer refuses (files llama.cpp reads and it does
 * not, or that llama.cpp could not run either), each by name before any
 * tensor is looked at; the graphs themselves are checked on
 * rf_gen_model's files by the conformance suite */
static void test_deepseek2_refusals(void)
{
    spec s = base_spec("deepseek2");
    s.X = 6, s.K_used = 2, s.Hkv = 1, s.extra = deepseek2_keys;
    s.drop_key = "attention.kv_lora_rank";
    expect_fail(&s, RF_E_NOTFOUND, "'deepseek2.attention.kv_lora_rank'", "required for architecture deepseek2");
    s.drop_key = NULL;
    ds2_break = DS2_KV_B_HEADS;
    expect_fail(&s, RF_E_FORMAT, "'deepseek2.attention.head_count_kv' is 1", "unsplit attn_kv_b");
    ds2_break = DS2_MTP;
    expect_fail(&s, RF_E_UNSUPPORTED, "'deepseek2.nextn_predict_layers'", "multi-token prediction");
    ds2_break = DS2_GATING;
    expect_fail(&s, RF_E_UNSUPPORTED, "'deepseek2.expert_gating_func' is 3", "softmax (1) and sigmoid (2)");
    ds2_break = DS2_GROUPS;
    expect_fail(&s, RF_E_FORMAT, "'deepseek2.expert_group_count' (4)", "groups of two or more");
    ds2_break = DS2_TWO_HEADS;
    s.Hkv = 2;
    expect_fail(&s, RF_E_FORMAT, "one head of key_length", "2 head(s) of 20 and 16");
}

/* The experts' FFN of every layer: the router's matmul, softmax, top-k and
 * weights, three products through the chosen experts' matrices, the
 * weighted sum; the last layer's on the last row only. */
static void check_moe(const ir_graph *g, const spec *s, bool norm)
{
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SOFTMAX), s->L);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_TOPK), s->L);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_MOE_WEIGHTS), s->L);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_MATMUL_ID), 3 * s->L);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_MOE_SUM), s->L);
    const ir_node *k = nth_op(g, IR_OP_TOPK, 0);
    CU_ASSERT_EQUAL(ia(k, "k"), s->K_used);
    CU_ASSERT_EQUAL(k->type.elem, GGML_TYPE_I32);
    CU_ASSERT_EQUAL(k->in[0]->op, IR_OP_SOFTMAX);
    CU_ASSERT_STRING_EQUAL(k->in[0]->in[0]->in[1]->name, "blk.0.ffn_gate_inp.weight");
    CU_ASSERT_EQUAL(ia(nth_op(g, IR_OP_MOE_WEIGHTS, 0), "norm"), norm);
    const ir_node *gate = nth_op(g, IR_OP_MATMUL_ID, 0), *down = nth_op(g, IR_OP_MATMUL_ID, 2);
    uint32_t F = s->Fe ? s->Fe : s->F;
    const int64_t wdim[3] = {s->X, F, s->E}, ddim[3] = {s->X, s->E, F};
    CU_ASSERT_STRING_EQUAL(gate->in[1]->name, "blk.0.ffn_gate_exps.weight");
    CU_ASSERT_EQUAL(memcmp(gate->in[1]->type.dim, wdim, sizeof wdim), 0);
    CU_ASSERT_EQUAL(memcmp(down->in[1]->type.dim, ddim, sizeof ddim), 0);
    CU_ASSERT_EQUAL(gate->in[0]->type.rank, 2);  /* the token's row, for every slot */
    CU_ASSERT_EQUAL(down->in[0]->type.rank, 3);  /* a row a slot */
    CU_ASSERT_EQUAL(down->in[0]->op, IR_OP_SWIGLU);
    CU_ASSERT_EQUAL(gate->type.dim[0], IR_DIM_T);
    CU_ASSERT_EQUAL(gate->type.dim[1], s->K_used);
    /* the last layer's experts see the last row only */
    const ir_node *last = nth_op(g, IR_OP_MATMUL_ID, 3 * s->L - 1);
    CU_ASSERT_EQUAL(last->type.dim[0], 1);
    CU_ASSERT_EQUAL(nth_op(g, IR_OP_MOE_SUM, s->L - 1)->type.dim[0], 1);
}

/* After the passes (ir fuse-moe), each layer's experts run as two
 * matmul_id groups: the gate and up products with their GLU (spec glu 1:
 * swiglu), and the down products with their weighted sum and the add
 * that takes it (spec sum 2); with fuse-moe disabled every product is a
 * group of its own. */
static void check_moe_groups(ir_graph *g, const spec *s, bool fused)
{
    ir_pipeline_options po = {.max_tokens = 512, .disable = fused ? NULL : "fuse-moe"};
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(ir_run_pipeline(g, &po, &err), RF_OK);
    for (uint32_t l = 0; l < s->L; l++) {
        const ir_node *gate = nth_op(g, IR_OP_MATMUL_ID, 3 * l), *up = nth_op(g, IR_OP_MATMUL_ID, 3 * l + 1);
        const ir_node *down = nth_op(g, IR_OP_MATMUL_ID, 3 * l + 2), *sum = nth_op(g, IR_OP_MOE_SUM, l);
        const ir_node *glu = down->in[0];
        CU_ASSERT_EQUAL(gate->group == up->group && up->group == glu->group, fused);
        CU_ASSERT_EQUAL(down->group == sum->group, fused);
        CU_ASSERT_NOT_EQUAL(gate->group, down->group);
        const ir_group *gg = &g->groups[gate->group - 1], *gd = &g->groups[down->group - 1];
        CU_ASSERT_EQUAL(gg->kernel, IR_K_MATMUL_ID);
        CU_ASSERT_EQUAL(gd->kernel, IR_K_MATMUL_ID);
        CU_ASSERT_EQUAL(gg->spec[5], fused ? 1 : 0);
        CU_ASSERT_EQUAL(gd->spec[6], fused ? 2 : 0);
        unsigned adds = 0;
        for (uint32_t i = 0; i < g->n_nodes; i++)
            adds += g->nodes[i]->op == IR_OP_ADD && g->nodes[i]->group == down->group &&
                    (g->nodes[i]->in[0] == sum || g->nodes[i]->in[1] == sum);
        CU_ASSERT_EQUAL(adds, fused ? 1u : 0u);
    }
}

static void test_qwen3moe(void)
{
    spec s = base_spec("qwen3moe");
    ir_graph *g = import_ok(&s, NULL);
    check_moe(g, &s, true);
    for (int fused = 0; fused < 2; fused++) {
        ir_graph *p = import_ok(&s, NULL);
        check_moe_groups(p, &s, fused);
        ir_graph_free(p);
    }
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SIGMOID), 0);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_RMS_NORM), 4 * s.L + 1); /* q/k norms */
    ir_graph_free(g);
}

static void test_qwen2moe(void)
{
    spec s = base_spec("qwen2moe");
    ir_graph *g = import_ok(&s, NULL);
    check_moe(g, &s, false);
    /* the shared expert: a dense FFN of Fs times sigmoid(h · gate_inp_shexp), added */
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SIGMOID), s.L);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SCALE_ROWS), s.L);
    const ir_node *sr = nth_op(g, IR_OP_SCALE_ROWS, 0);
    CU_ASSERT_STRING_EQUAL(sr->in[0]->in[1]->name, "blk.0.ffn_down_shexp.weight");
    CU_ASSERT_EQUAL(sr->in[1]->op, IR_OP_SIGMOID);
    CU_ASSERT_STRING_EQUAL(sr->in[1]->in[0]->in[1]->name, "blk.0.ffn_gate_inp_shexp.weight");
    CU_ASSERT_EQUAL(sr->in[0]->in[1]->type.dim[1], s.Fs);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_ADD), 2 * s.L + 3 * s.L + s.L); /* residuals, q/k/v biases, shared expert */
    ir_graph_free(g);
    g = import_ok(&s, NULL);
    check_moe_groups(g, &s, true); /* the add that takes the sum: the shared expert's */
    ir_graph_free(g);
}

/* granitemoe: granite's multipliers around experts, a shared expert added ungated when the file has one */
static void test_granitemoe(void)
{
    spec s = arch_spec("granitemoe");
    s.Fs = 24;
    ir_graph *g = import_ok(&s, NULL);
    check_moe(g, &s, true);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_SIGMOID), 0);
    unsigned shexp = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        shexp += n->op == IR_OP_ADD && n->in[0]->op == IR_OP_MOE_SUM && n->in[1]->op == IR_OP_MATMUL &&
                 strstr(n->in[1]->in[1]->name, "ffn_down_shexp");
    }
    CU_ASSERT_EQUAL(shexp, s.L);
    ir_graph_free(g);
    s.Fs = 0; /* no key, no shared expert */
    g = import_ok(&s, NULL);
    CU_ASSERT_EQUAL(count_op(g, IR_OP_MATMUL), 4 * s.L + 1 + s.L); /* q, k, v, o, the router; the head */
    ir_graph_free(g);
}

/* rf_model_get_info (rocmforge info) names the experts: count, used, their width (else n_ff) */
static void test_info_experts(void)
{
    for (int k = 0; k < 2; k++) {
        spec s = k ? mixtral_spec() : base_spec("qwen3moe");
        model m;
        rf_error err = {0};
        open_model(&s, &m, &err);
        char path[4200];
        snprintf(path, sizeof path, "%s/info-%d.gguf", test_tmp_dir(), k);
        FILE *f = fopen(path, "wb");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        size_t size = (size_t)gguf_file_size(m.f);
        CU_ASSERT_EQUAL(fwrite(m.buf, 1, size, f), size);
        fclose(f);
        close_model(&m);
        rf_model *rm = NULL;
        rf_model_info info;
        CU_ASSERT_EQUAL_FATAL(rf_model_open(path, &rm, &err), RF_OK);
        CU_ASSERT_EQUAL(rf_model_get_info(rm, &info, &err), RF_OK);
        CU_ASSERT_EQUAL(info.n_expert, s.X);
        CU_ASSERT_EQUAL(info.n_expert_used, s.K_used);
        CU_ASSERT_EQUAL(info.n_ff_exp, s.Fe ? s.Fe : s.F);
        rf_model_close(rm);
        remove(path);
    }
}

static void test_mixtral(void)
{
    spec s = mixtral_spec();
    ir_graph *g = import_ok(&s, NULL); /* no expert_feed_forward_length needed: the experts are feed_forward_length wide */
    check_moe(g, &s, true);
    ir_graph_free(g);
    s.Fe = s.F + 8; /* llama.cpp's llama takes feed_forward_length for its experts, whatever else the file says */
    expect_fail(&s, RF_E_FORMAT, "'blk.0.ffn_gate_exps.weight' has shape", NULL);
}

static void test_no_arch_key(void)
{
    model m;
    rf_error err = {0};
    gguf_writer *w = gguf_writer_new(3);
    gguf_writer_set_u32(w, "llama.block_count", 1);
    size_t size;
    CU_ASSERT_EQUAL_FATAL(gguf_writer_to_memory(w, &m.buf, &size, &err), RF_OK);
    gguf_writer_free(w);
    CU_ASSERT_EQUAL_FATAL(gguf_open_memory(m.buf, size, "x.gguf", &m.f, &err), RF_OK);
    ir_graph *g = NULL;
    CU_ASSERT_EQUAL(import_model(m.f, NULL, &g, &err), RF_E_NOTFOUND);
    CU_ASSERT_PTR_NULL(g);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'general.architecture'"));
    close_model(&m);
}

static void test_optional_ids(void)
{
    spec s = base_spec("llama");
    s.drop_key = "tokenizer.ggml.bos_token_id";
    ir_graph *g = import_ok(&s, NULL);
    CU_ASSERT_EQUAL(g->model.bos, UINT32_MAX);
    CU_ASSERT_EQUAL(g->model.eos, 2);
    ir_graph_free(g);
}

int main(void)
{
    zeros = calloc(1 << 16, sizeof *zeros);
    if (!zeros || CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("import", NULL, NULL);
    CU_add_test(s, "llama: counts, tied output, weight shapes", test_llama);
    CU_add_test(s, "llama: untied output, last row only", test_llama_untied_last_row);
    CU_add_test(s, "llama3: rope_freqs as rope's factors", test_llama3_rope_freqs);
    CU_add_test(s, "rope scaling: linear, yarn, none", test_rope_scaling);
    CU_add_test(s, "qwen2: q/k/v biases", test_qwen2);
    CU_add_test(s, "qwen3: per-head q/k norms, key_length", test_qwen3);
    CU_add_test(s, "phi3: fused qkv and gate/up as weight rows", test_phi3);
    CU_add_test(s, "gemma2: softcaps, post norms, alternating windows", test_gemma2);
    CU_add_test(s, "gemma3: 5 local : 1 global, local rope base", test_gemma3);
    CU_add_test(s, "phi3: longrope long/short factors by context", test_phi3_longrope);
    CU_add_test(s, "gemma2: attention scale of the 27B, default window", test_gemma2_scale);
    CU_add_test(s, "granite: its multipliers, a required logit_scale", test_granite);
    CU_add_test(s, "smollm3: no rope in every fourth layer", test_smollm3);
    CU_add_test(s, "olmo2: post norms only, whole-row q/k norms, no sliding window", test_olmo2);
    CU_add_test(s, "glm4: pre and post norms, fused gate/up, no multimodal rope", test_glm4);
    CU_add_test(s, "starcoder2: LayerNorms, a GELU FFN without gate", test_starcoder2);
    CU_add_test(s, "cohere2: parallel block, rope on windowed layers, scaled logits", test_cohere2);
    CU_add_test(s, "sliding-window pattern as one flag a layer", test_swa_pattern_array);
    CU_add_test(s, "every arch prints and parses back", test_round_trip);
    CU_add_test(s, "every arch's memory plan keeps live values apart", test_memory_plans);
    CU_add_test(s, "unknown architecture lists the supported ones", test_unknown_arch);
    CU_add_test(s, "missing key is named", test_missing_key);
    CU_add_test(s, "key of the wrong type is named", test_wrong_key_type);
    CU_add_test(s, "missing or misshapen tensor is named", test_bad_tensor);
    CU_add_test(s, "inconsistent head counts and sizes", test_inconsistent_hparams);
    CU_add_test(s, "qwen3moe: router, chosen experts, normalised weights", test_qwen3moe);
    CU_add_test(s, "qwen2moe: unnormalised weights, a gated shared expert", test_qwen2moe);
    CU_add_test(s, "llama with experts (Mixtral)", test_mixtral);
    CU_add_test(s, "rf_model_get_info names the experts", test_info_experts);
    CU_add_test(s, "granitemoe: multipliers, an ungated shared expert when there is one", test_granitemoe);
    CU_add_test(s, "gpt-oss: sinks, alternating windows, biased experts, clamped GLU", test_gpt_oss);
    CU_add_test(s, "mixture-of-experts refusals name the key or tensor", test_moe_refusals);
    CU_add_test(s, "deepseek2: what it refuses, by name", test_deepseek2_refusals);
    CU_add_test(s, "no general.architecture", test_no_arch_key);
    CU_add_test(s, "bos/eos are optional", test_optional_ids);
    int rc = test_main();
    free(zeros);
    return rc;
}
