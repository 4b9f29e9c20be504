/*
 * test_ir.c: the IR core: builder, verifier, text round trip, the pass
 * pipeline (fusion groups, schedule, memory plan) and parse errors.
 *
 * The graphs are built here by hand (a two-layer llama-shaped step), so the
 * suite needs no model file; test_import covers graphs from real GGUFs.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "ir/passes/passes.h"
#include "test_util.h"

static ir_node *op(ir_graph *g, ir_op o, ir_type t, ir_node *a, ir_node *b, ir_node *c)
{
    ir_node *in[3] = {a, b, c};
    uint8_t n = (uint8_t)(a != NULL) + (b != NULL) + (c != NULL);
    ir_node *r = ir_add(g, o, &t, in, n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    return r;
}

static ir_type f32(uint8_t rank, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t d[3] = {d0, d1, d2};
    return ir_type_make(GGML_TYPE_F32, rank, d);
}

static ir_node *w(ir_graph *g, const char *name, ggml_type t, int64_t rows, int64_t cols)
{
    int64_t d[2] = {rows, cols};
    ir_node *n = rows ? ir_weight(g, name, t, 2, d) : ir_weight(g, name, t, 1, d + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    return n;
}

/* E=64, 4 heads of 16, 2 kv heads, ffn 128, vocab 100 */
static ir_graph *build_llama_bias(int n_layer, bool q_bias)
{
    ir_graph *g = ir_graph_new();
    g->model = (ir_model){.arch = "llama", .n_vocab = 100, .n_embd = 64, .n_layer = (uint32_t)n_layer, .n_ctx = 256,
                          .n_head = 4, .n_head_kv = 2, .head_dim = 16, .bos = 1, .eos = 2};
    int64_t dt[1] = {IR_DIM_T};
    ir_type ti = ir_type_make(GGML_TYPE_I32, 1, dt);
    ir_node *tok = ir_add(g, IR_OP_INPUT_TOKENS, &ti, NULL, 0);
    ir_node *pos = ir_add(g, IR_OP_INPUT_POS, &ti, NULL, 0);
    ir_node *emb = w(g, "token_embd.weight", GGML_TYPE_Q8_0, 100, 64);
    ir_node *x = op(g, IR_OP_EMBED, f32(2, IR_DIM_T, 64, 0), emb, tok, NULL);
    char name[64];
    for (int l = 0; l < n_layer; l++) {
#define W(s, t, r, c) (snprintf(name, sizeof name, "blk.%d." s, l), w(g, name, t, r, c))
        ir_node *nw = W("attn_norm.weight", GGML_TYPE_F32, 0, 64);
        ir_node *h = op(g, IR_OP_RMS_NORM, f32(2, IR_DIM_T, 64, 0), x, nw, NULL);
        h->fa[0] = 1e-5f;
        ir_node *q = op(g, IR_OP_MATMUL, f32(2, IR_DIM_T, 64, 0), h, W("attn_q.weight", GGML_TYPE_Q4_K, 64, 256), NULL);
        if (q_bias) /* qwen2-style: the bias add sits between the Q and K matmuls */
            q = op(g, IR_OP_ADD, f32(2, IR_DIM_T, 64, 0), q, W("attn_q.bias", GGML_TYPE_F32, 0, 64), NULL);
        ir_node *k = op(g, IR_OP_MATMUL, f32(2, IR_DIM_T, 32, 0), h, W("attn_k.weight", GGML_TYPE_Q4_K, 32, 256), NULL);
        ir_node *v = op(g, IR_OP_MATMUL, f32(2, IR_DIM_T, 32, 0), h, W("attn_v.weight", GGML_TYPE_Q6_K, 32, 256), NULL);
        /* (the weight column counts above are deliberately wrong: fixed below) */
        (q_bias ? q->in[0] : q)->in[1]->type.dim[1] = k->in[1]->type.dim[1] = v->in[1]->type.dim[1] = 64;
        ir_node *q3 = op(g, IR_OP_RESHAPE, f32(3, IR_DIM_T, 4, 16), q, NULL, NULL);
        ir_node *k3 = op(g, IR_OP_RESHAPE, f32(3, IR_DIM_T, 2, 16), k, NULL, NULL);
        ir_node *v3 = op(g, IR_OP_RESHAPE, f32(3, IR_DIM_T, 2, 16), v, NULL, NULL);
        ir_node *rq = op(g, IR_OP_ROPE, f32(3, IR_DIM_T, 4, 16), q3, pos, NULL);
        ir_node *rk = op(g, IR_OP_ROPE, f32(3, IR_DIM_T, 2, 16), k3, pos, NULL);
        rq->ia[0] = rk->ia[0] = 16;
        rq->fa[0] = rk->fa[0] = 10000.0f;
        rq->fa[1] = rk->fa[1] = 1.0f;
        ir_node *sk = op(g, IR_OP_KV_STORE, f32(3, IR_DIM_PT, 2, 16), rk, NULL, NULL);
        ir_node *sv = op(g, IR_OP_KV_STORE, f32(3, IR_DIM_PT, 2, 16), v3, NULL, NULL);
        sk->ia[0] = sv->ia[0] = l;
        sv->ia[1] = 1;
        ir_node *a = op(g, IR_OP_ATTENTION, f32(2, IR_DIM_T, 64, 0), rq, sk, sv);
        a->ia[0] = l;
        a->fa[0] = 0.25f;
        ir_node *o = op(g, IR_OP_MATMUL, f32(2, IR_DIM_T, 64, 0), a, W("attn_output.weight", GGML_TYPE_Q4_K, 64, 64), NULL);
        x = op(g, IR_OP_ADD, f32(2, IR_DIM_T, 64, 0), o, x, NULL);
        ir_node *fw = W("ffn_norm.weight", GGML_TYPE_F32, 0, 64);
        ir_node *f = op(g, IR_OP_RMS_NORM, f32(2, IR_DIM_T, 64, 0), x, fw, NULL);
        f->fa[0] = 1e-5f;
        ir_node *gt = op(g, IR_OP_MATMUL, f32(2, IR_DIM_T, 128, 0), f, W("ffn_gate.weight", GGML_TYPE_Q4_K, 128, 64), NULL);
        ir_node *up = op(g, IR_OP_MATMUL, f32(2, IR_DIM_T, 128, 0), f, W("ffn_up.weight", GGML_TYPE_Q4_K, 128, 64), NULL);
        ir_node *sw = op(g, IR_OP_SWIGLU, f32(2, IR_DIM_T, 128, 0), gt, up, NULL);
        ir_node *dn = op(g, IR_OP_MATMUL, f32(2, IR_DIM_T, 64, 0), sw, W("ffn_down.weight", GGML_TYPE_Q6_K, 64, 128), NULL);
        x = op(g, IR_OP_ADD, f32(2, IR_DIM_T, 64, 0), dn, x, NULL);
#undef W
    }
    ir_node *on = w(g, "output_norm.weight", GGML_TYPE_F32, 0, 64);
    ir_node *last = op(g, IR_OP_LAST_ROWS, f32(2, 1, 64, 0), x, NULL, NULL);
    last->ia[0] = 1;
    ir_node *h = op(g, IR_OP_RMS_NORM, f32(2, 1, 64, 0), last, on, NULL);
    h->fa[0] = 1e-5f;
    ir_node *lg = op(g, IR_OP_MATMUL, f32(2, 1, 100, 0), h, emb, NULL);
    op(g, IR_OP_OUTPUT, f32(2, 1, 100, 0), lg, NULL, NULL);
    return g;
}

static ir_graph *build_llama(int n_layer) { return build_llama_bias(n_layer, false); }

static char *to_text(const ir_graph *g)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ir_print(g, f);
    fclose(f);
    return buf;
}

static void check_round_trip(const ir_graph *g)
{
    char *a = to_text(g);
    ir_graph *p = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(ir_parse(a, strlen(a), &p, &err), RF_OK);
    CU_ASSERT_EQUAL(ir_verify(p, &err), RF_OK);
    char *b = to_text(p);
    CU_ASSERT_STRING_EQUAL(a, b);
    if (strcmp(a, b))
        fprintf(stderr, "--- printed\n%s--- reparsed\n%s", a, b);
    free(a);
    free(b);
    ir_graph_free(p);
}

static void test_build_verify_roundtrip(void)
{
    ir_graph *g = build_llama(2);
    rf_error err = {0};
    CU_ASSERT_EQUAL(ir_verify(g, &err), RF_OK);
    if (err.status)
        fprintf(stderr, "%s\n", err.msg);
    check_round_trip(g);
    ir_graph_free(g);
}

static void test_pipeline(void)
{
    ir_graph *g = build_llama(2);
    rf_error err = {0};
    ir_pipeline_options o = {.max_tokens = 32};
    CU_ASSERT_EQUAL_FATAL(ir_run_pipeline(g, &o, &err), RF_OK);
    /* per layer 6 groups: norm+qkv, rope_kv, attention, out+residual,
     * norm+gate+up+swiglu, down+residual; plus embed and norm+output */
    int kinds[IR_K_COUNT] = {0};
    for (uint32_t i = 0; i < g->n_groups; i++)
        kinds[g->groups[i].kernel]++;
    CU_ASSERT_EQUAL(kinds[IR_K_EMBED], 1);
    CU_ASSERT_EQUAL(kinds[IR_K_MATMUL], 2 * 4 + 1);
    CU_ASSERT_EQUAL(kinds[IR_K_ROPE_KV], 2);
    CU_ASSERT_EQUAL(kinds[IR_K_ATTENTION], 2);
    CU_ASSERT_EQUAL(kinds[IR_K_NORM], 0);
    CU_ASSERT_EQUAL(g->n_groups, 1 + 2 * 6 + 1);
    /* the QKV group has the norm as prologue and all three matmuls */
    ir_group *qkv = NULL;
    for (uint32_t i = 0; i < g->n_groups && !qkv; i++)
        if (g->groups[i].kernel == IR_K_MATMUL && g->groups[i].spec[0] == 64 + 32 + 32)
            qkv = &g->groups[i];
    CU_ASSERT_PTR_NOT_NULL_FATAL(qkv);
    CU_ASSERT_EQUAL(qkv->spec[3], 1); /* norm */
    /* every activation has an offset inside the workspace, and two values
     * live at once never overlap: checked by running the liveness again
     * here is overkill; check bounds and that the workspace is reused
     * (smaller than the sum of all activations) */
    int64_t sum = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (n->offset >= 0 && n->op != IR_OP_RESHAPE && n->op != IR_OP_LAST_ROWS && n->op != IR_OP_OUTPUT) {
            int64_t b = ir_type_bytes(&n->type, 32, 0);
            CU_ASSERT(n->offset + b <= g->workspace_bytes);
            sum += b;
        }
    }
    CU_ASSERT(g->workspace_bytes > 0 && g->workspace_bytes < sum);
    check_round_trip(g);
    ir_graph_free(g);
}

/* A bias add between the Q and K matmuls: fuse-qkv groups them anyway and
 * the pipeline keeps the group contiguous, with the add as epilogue. */
static void test_pipeline_interleaved_bias(void)
{
    ir_graph *g = build_llama_bias(2, true);
    rf_error err = {0};
    ir_pipeline_options o = {.max_tokens = 8, .print_after = "all", .print_to = NULL};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    o.print_to = f;
    CU_ASSERT_EQUAL(ir_run_pipeline(g, &o, &err), RF_OK);
    fclose(f);
    if (err.status)
        fprintf(stderr, "%s\n", err.msg);
    ir_group *qkv = &g->groups[1];
    CU_ASSERT_EQUAL(qkv->kernel, IR_K_MATMUL);
    CU_ASSERT_EQUAL(qkv->spec[0], 128); /* all three matmuls */
    CU_ASSERT_EQUAL(qkv->spec[4], 1);   /* one bias */
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "# after fuse-qkv"));
    free(buf);
    check_round_trip(g);
    ir_graph_free(g);
}

static void test_pipeline_options(void)
{
    rf_error err = {0};
    ir_graph *g = build_llama(1);
    ir_pipeline_options o = {.disable = "fuse-qkv,fuse-norm,fuse-epilogue,fuse-rope-kv"};
    CU_ASSERT_EQUAL_FATAL(ir_run_pipeline(g, &o, &err), RF_OK);
    uint32_t matmuls = 0;
    for (uint32_t i = 0; i < g->n_groups; i++)
        matmuls += g->groups[i].kernel == IR_K_MATMUL;
    CU_ASSERT_EQUAL(matmuls, 7 + 1); /* unfused: one group per matmul */
    ir_graph_free(g);

    g = build_llama(1);
    o = (ir_pipeline_options){.disable = "memplan"};
    CU_ASSERT_EQUAL(ir_run_pipeline(g, &o, &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "required"));
    o = (ir_pipeline_options){.print_after = "fuse-everything"};
    CU_ASSERT_EQUAL(ir_run_pipeline(g, &o, &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unknown pass 'fuse-everything'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "fuse-rope-kv"));

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    o = (ir_pipeline_options){.print_after = "fuse-qkv", .print_to = f};
    CU_ASSERT_EQUAL(ir_run_pipeline(g, &o, &err), RF_OK);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "# after fuse-qkv\nmodel llama"));
    CU_ASSERT_PTR_NULL(strstr(buf, "# after memplan"));
    free(buf);
    ir_graph_free(g);
}

static void expect_verify_error(ir_graph *g, const char *needle)
{
    rf_error err = {0};
    CU_ASSERT_NOT_EQUAL(ir_verify(g, &err), RF_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, needle));
    if (!strstr(err.msg, needle))
        fprintf(stderr, "expected '%s' in '%s'\n", needle, err.msg);
    ir_graph_free(g);
}

static ir_node *find(ir_graph *g, ir_op o, int nth)
{
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == o && nth-- == 0)
            return g->nodes[i];
    return NULL;
}

static void test_verify_errors(void)
{
    ir_graph *g = build_llama(1);
    find(g, IR_OP_MATMUL, 0)->type.dim[1] = 65;
    expect_verify_error(g, "(matmul): result must be");

    g = build_llama(1);
    find(g, IR_OP_ROPE, 0)->ia[0] = 15;
    expect_verify_error(g, "(rope): n_rot must be even");

    g = build_llama(1);
    ir_node *a = find(g, IR_OP_ATTENTION, 0);
    a->in[1] = a->in[2];
    expect_verify_error(g, "(attention): k and v must be");

    g = build_llama(1);
    ir_node *m = find(g, IR_OP_MATMUL, 1);
    m->in[0] = g->nodes[g->n_nodes - 1]; /* the output: defined later */
    expect_verify_error(g, "operand 0 is not defined before it");

    g = build_llama(1);
    g->nodes[g->n_nodes - 1]->dead = false;
    g->n_nodes--; /* drop the output */
    expect_verify_error(g, "no output");
}

static void expect_parse_error(const char *text, const char *needle)
{
    ir_graph *g = NULL;
    rf_error err = {0};
    CU_ASSERT_NOT_EQUAL(ir_parse(text, strlen(text), &g, &err), RF_OK);
    CU_ASSERT_PTR_NULL(g);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, needle));
    if (!strstr(err.msg, needle))
        fprintf(stderr, "expected '%s' in '%s'\n", needle, err.msg);
}

static void test_parse_errors(void)
{
    const char *m = "model llama {n_vocab=10, n_embd=4, n_layer=1, n_ctx=8, n_head=1, n_head_kv=1, head_dim=4, bos=1, eos=2}\n";
    char buf[1024];
    expect_parse_error("", "empty IR text");
    expect_parse_error("%0 = tokens : i32[T]\n", "1:1: expected 'model");
    snprintf(buf, sizeof buf, "%s%%0 = tokens : i32[T]\n%%1 = embed %%0, %%7 : f32[T,4]\n", m);
    expect_parse_error(buf, "3:");
    expect_parse_error(buf, "operand used before its definition");
    snprintf(buf, sizeof buf, "%s%%0 = tokens : i32[T]\n%%0 = positions : i32[T]\n", m);
    expect_parse_error(buf, "3:1: node id defined twice");
    snprintf(buf, sizeof buf, "%s%%0 = frobnicate : f32[T]\n", m);
    expect_parse_error(buf, "unknown op");
    snprintf(buf, sizeof buf, "%s%%0 = tokens : q9_9[T]\n", m);
    expect_parse_error(buf, "unknown element type q9_9");
    snprintf(buf, sizeof buf, "%s%%0 = tokens : i32[T\n", m);
    expect_parse_error(buf, "expected ']'");
    snprintf(buf, sizeof buf, "%s%%0 = weight : f32[4]\n", m);
    expect_parse_error(buf, "a weight needs @name");
    snprintf(buf, sizeof buf, "%s%%0 = tokens : i32[T]\n%%1 = scale %%0 {bogus=1} : f32[T]\n", m);
    expect_parse_error(buf, "unknown attribute bogus");
    snprintf(buf, sizeof buf, "%sgroup 2 matmul {} {\n}\n", m);
    expect_parse_error(buf, "numbered 1, 2");
    snprintf(buf, sizeof buf, "%sgroup 1 matmul {} {\n", m);
    expect_parse_error(buf, "is not closed");
    snprintf(buf, sizeof buf, "%s%%99999999 = tokens : i32[T]\n", m);
    expect_parse_error(buf, "node id out of range");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("ir", NULL, NULL);
    CU_add_test(s, "build, verify, print/parse round trip", test_build_verify_roundtrip);
    CU_add_test(s, "pipeline: groups, schedule, memory plan, round trip", test_pipeline);
    CU_add_test(s, "pipeline: interleaved bias stays fused and contiguous", test_pipeline_interleaved_bias);
    CU_add_test(s, "pipeline options: disable, print-after, unknown passes", test_pipeline_options);
    CU_add_test(s, "verifier errors name the node", test_verify_errors);
    CU_add_test(s, "parse errors carry line:column", test_parse_errors);
    return test_main();
}
