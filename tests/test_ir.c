/*
 * test_ir.c: the IR core: builder, verifier, text round trip, the pass
 * pipeline (fusion groups, schedule, memory plan) and parse errors.
 *
 * The graphs are built here by hand (a two-layer llama-shaped step, a chain
 * that keeps one value alive across many, and random graphs of every
 * computing op over values of several sizes), so the suite needs no model
 * file; test_import covers graphs from real GGUFs. Every memory plan is
 * checked pair by pair by plan_check.c: values live at once never share a
 * byte (test_import and test_kernels check theirs the same way).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "ir/passes/passes.h"
#include "plan_check.h"
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

/* bytes of every value the workspace holds, without reuse */
static int64_t activation_bytes(const ir_graph *g)
{
    int64_t sum = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->offset >= 0 && n->op != IR_OP_RESHAPE && n->op != IR_OP_LAST_ROWS && n->op != IR_OP_OUTPUT)
            sum += ir_type_bytes(&n->type, g->plan_tokens, 0, g->plan_out);
    }
    return sum;
}

static char *to_text(const ir_graph *g)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ir_print(g, f);
    fclose(f);
    return buf;
}

static ir_node *find(ir_graph *g, ir_op o, int nth)
{
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == o && nth-- == 0)
            return g->nodes[i];
    return NULL;
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
    /* rows of a tensor (ir.h: row0) print and parse; a whole one is unmarked */
    find(g, IR_OP_MATMUL, 1)->in[1]->ia[0] = 64;
    char *text = to_text(g);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, " @blk.0.attn_k.weight {row0=64} : q4_k[32,64]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, " @blk.0.attn_q.weight : q4_k[64,64]"));
    free(text);
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
    /* every activation has an offset inside the workspace, two values live
     * at once never overlap, and the workspace is reused (smaller than the
     * sum of all activations) */
    CU_ASSERT_EQUAL(test_check_memplan(g, "the llama graph"), 0);
    CU_ASSERT(g->workspace_bytes > 0 && g->workspace_bytes < activation_bytes(g));
    check_round_trip(g);
    ir_graph_free(g);
}

/* ---- memory plans that reuse hard ----------------------------------------- */

static const char *const NO_FUSION = "fuse-qkv,fuse-norm,fuse-epilogue,fuse-rope-kv";

static ir_graph *new_graph(int64_t n_vocab, int64_t n_embd, ir_node **x)
{
    ir_graph *g = ir_graph_new();
    g->model = (ir_model){.arch = "llama", .n_vocab = (uint32_t)n_vocab, .n_embd = (uint32_t)n_embd, .n_layer = 1,
                          .n_ctx = 256, .n_head = 1, .n_head_kv = 1, .head_dim = (uint32_t)n_embd, .bos = 1, .eos = 2};
    int64_t dt[1] = {IR_DIM_T};
    ir_type ti = ir_type_make(GGML_TYPE_I32, 1, dt);
    ir_node *tok = ir_add(g, IR_OP_INPUT_TOKENS, &ti, NULL, 0);
    *x = op(g, IR_OP_EMBED, f32(2, IR_DIM_T, n_embd, 0), w(g, "token_embd.weight", GGML_TYPE_Q8_0, n_vocab, n_embd),
            tok, NULL);
    return g;
}

/* x · W for a fresh weight [n, x's width] */
static ir_node *project(ir_graph *g, ir_node *x, int64_t n, ggml_type t)
{
    char name[32];
    snprintf(name, sizeof name, "w%u.weight", g->next_id);
    return op(g, IR_OP_MATMUL, f32(2, IR_DIM_T, n, 0), x, w(g, name, t, n, x->type.dim[1]), NULL);
}

/* Runs the pipeline planning for max_tokens and checks the plan; the plan
 * must also reuse (a workspace smaller than all activations together). */
static void check_plan(ir_graph *g, int64_t max_tokens, const char *disable, const char *what)
{
    rf_error err = {0};
    ir_pipeline_options o = {.max_tokens = max_tokens, .disable = disable};
    CU_ASSERT_EQUAL_FATAL(ir_run_pipeline(g, &o, &err), RF_OK);
    CU_ASSERT_EQUAL(test_check_memplan(g, what), 0);
}

/* A chain of values of growing and shrinking widths, each read once by the
 * next, while the first is kept alive to the end, a middle one is read
 * again late through two views, and the step ends in a view of the output:
 * the long lives must keep their bytes while the chain reuses around them. */
static void test_memplan_chain(void)
{
    static const int64_t widths[] = {64, 256, 32, 512, 96, 64, 1024, 32, 160, 64};
    for (int fused = 0; fused < 2; fused++)
        for (int64_t T = 1; T <= 64; T *= 8) {
            ir_node *x0, *x;
            ir_graph *g = new_graph(100, 64, &x0);
            x = x0;
            ir_node *mid = NULL;
            for (int i = 0; i < 10; i++) {
                x = project(g, x, widths[i], i % 2 ? GGML_TYPE_F32 : GGML_TYPE_Q8_0);
                x = op(g, i % 3 ? IR_OP_SILU : IR_OP_GELU, x->type, x, NULL, NULL);
                if (i == 4)
                    mid = op(g, IR_OP_RESHAPE, f32(3, IR_DIM_T, 3, 32), x, NULL, NULL); /* 96 = 3 x 32 */
            }
            ir_node *m = op(g, IR_OP_RESHAPE, f32(2, IR_DIM_T, 96, 0), mid, NULL, NULL);
            ir_node *y = op(g, IR_OP_ADD, x0->type, project(g, x, 64, GGML_TYPE_F32), x0, NULL);
            y = op(g, IR_OP_ADD, y->type, y, project(g, m, 64, GGML_TYPE_F32), NULL);
            ir_node *lg = project(g, y, 100, GGML_TYPE_Q8_0);
            ir_node *last = op(g, IR_OP_LAST_ROWS, f32(2, 1, 100, 0), lg, NULL, NULL);
            last->ia[0] = 1;
            op(g, IR_OP_OUTPUT, last->type, last, NULL, NULL);
            char what[64];
            snprintf(what, sizeof what, "the chain, T %lld%s", (long long)T, fused ? "" : ", unfused");
            check_plan(g, T, fused ? NULL : NO_FUSION, what);
            CU_ASSERT(g->workspace_bytes < activation_bytes(g));
            ir_graph_free(g);
        }
}

/* One of the values so far: mostly one of the last few, else any. */
static ir_node *pick(uint64_t *rng, ir_node **vals, int n)
{
    int back = test_rand(rng) % 2 ? (int)(test_rand(rng) % 3) : (int)(test_rand(rng) % (uint64_t)n);
    return vals[back < n ? n - 1 - back : 0];
}

/* Another value of x's width, or x itself. */
static ir_node *same_width(uint64_t *rng, ir_node **vals, int n, ir_node *x)
{
    int start = (int)(test_rand(rng) % (uint64_t)n);
    for (int k = 0; k < n; k++) {
        ir_node *v = vals[(start + k) % n];
        if (v != x && v->type.dim[1] == x->type.dim[1])
            return v;
    }
    return x;
}

/* A random step: every computing op but rope, the cache and attention, over
 * f32[T,width] values of widths from 32 to 512, each operand drawn from all
 * values so far (most often the last few, so lives are mostly short and
 * some long); reshape views with a computation between them; and at the end
 * a handful of values, old ones included, projected to the vocab and summed. */
static ir_graph *build_random(uint64_t *rng, int n_ops)
{
    static const int64_t widths[] = {32, 64, 96, 160, 256, 512};
    ir_node *vals[160], *x;
    int nv = 0;
    ir_graph *g = new_graph(64, 32, &x);
    vals[nv++] = x;
    for (int i = 0; i < n_ops && nv < 150; i++) {
        ir_node *a = pick(rng, vals, nv), *b, *r;
        int64_t wa = a->type.dim[1];
        switch (test_rand(rng) % 8) {
        case 0:
        case 1:
            r = project(g, a, widths[test_rand(rng) % 6], test_rand(rng) % 2 ? GGML_TYPE_F32 : GGML_TYPE_Q8_0);
            break;
        case 2: {
            static const ir_op un[] = {IR_OP_SCALE, IR_OP_SILU, IR_OP_GELU, IR_OP_SOFTCAP};
            r = op(g, un[test_rand(rng) % 4], a->type, a, NULL, NULL);
            r->fa[0] = r->op == IR_OP_SCALE ? 0.5f : 5.0f;
            break;
        }
        case 3:
            b = same_width(rng, vals, nv, a);
            r = op(g, test_rand(rng) % 2 ? IR_OP_ADD : IR_OP_MUL, a->type, a, b, NULL);
            break;
        case 4:
            b = same_width(rng, vals, nv, a);
            r = op(g, test_rand(rng) % 2 ? IR_OP_SWIGLU : IR_OP_GEGLU, a->type, a, b, NULL);
            break;
        case 5: {
            char name[32];
            snprintf(name, sizeof name, "n%u.weight", g->next_id);
            r = op(g, IR_OP_RMS_NORM, a->type, a, test_rand(rng) % 2 ? w(g, name, GGML_TYPE_F32, 0, wa) : NULL, NULL);
            r->fa[0] = 1e-5f;
            break;
        }
        case 6: {
            int64_t start = 32 * (int64_t)(test_rand(rng) % (uint64_t)(wa / 32));
            int64_t len = 32 * (1 + (int64_t)(test_rand(rng) % (uint64_t)((wa - start) / 32)));
            r = op(g, IR_OP_SLICE, f32(2, IR_DIM_T, len, 0), a, NULL, NULL);
            r->ia[0] = 1, r->ia[1] = start, r->ia[2] = len;
            break;
        }
        default: { /* [T,w] -> [T,w/32,32] -> scale -> [T,w] */
            ir_node *v = op(g, IR_OP_RESHAPE, f32(3, IR_DIM_T, wa / 32, 32), a, NULL, NULL);
            ir_node *s = op(g, IR_OP_SCALE, v->type, v, NULL, NULL);
            s->fa[0] = 2.0f;
            r = op(g, IR_OP_RESHAPE, a->type, s, NULL, NULL);
            break;
        }
        }
        vals[nv++] = r;
    }
    ir_node *sum = project(g, vals[nv - 1], 64, GGML_TYPE_F32);
    for (int k = (int)(test_rand(rng) % 4); k >= 0; k--)
        sum = op(g, IR_OP_ADD, sum->type, sum, project(g, vals[test_rand(rng) % (uint64_t)nv], 64, GGML_TYPE_F32),
                 NULL);
    if (test_rand(rng) % 2) {
        sum = op(g, IR_OP_LAST_ROWS, f32(2, 1, 64, 0), sum, NULL, NULL);
        sum->ia[0] = 1;
    }
    op(g, IR_OP_OUTPUT, sum->type, sum, NULL, NULL);
    return g;
}

static void test_memplan_random(void)
{
    uint64_t rng = 0x3e3a9;
    int reused = 0;
    const int n_graphs = 300;
    for (int i = 0; i < n_graphs; i++) {
        ir_graph *g = build_random(&rng, 10 + (int)(test_rand(&rng) % 120));
        rf_error err = {0};
        if (ir_verify(g, &err) != RF_OK)
            fprintf(stderr, "\n  random graph %d: %s", i, err.msg);
        CU_ASSERT_EQUAL_FATAL(err.status, RF_OK);
        static const int64_t Ts[] = {1, 7, 64, 512};
        char what[64];
        snprintf(what, sizeof what, "random graph %d", i);
        check_plan(g, Ts[i % 4], i % 3 ? NULL : NO_FUSION, what);
        reused += g->workspace_bytes < activation_bytes(g);
        ir_graph_free(g);
    }
    CU_ASSERT(reused > n_graphs / 2); /* the plans were under pressure to reuse */
    printf("(%d of %d plans reuse) ", reused, n_graphs);
}

/* The llama graph at several step sizes, fused and not, with the bias. */
static void test_memplan_llama(void)
{
    for (int i = 0; i < 8; i++) {
        ir_graph *g = build_llama_bias(2, i & 1);
        char what[64];
        snprintf(what, sizeof what, "the llama graph (case %d)", i);
        check_plan(g, i & 2 ? 1 : 300, i & 4 ? NO_FUSION : NULL, what);
        ir_graph_free(g);
    }
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
    find(g, IR_OP_MATMUL, 1)->in[1]->ia[0] = -2;
    expect_verify_error(g, "(weight @blk.0.attn_k.weight): negative row0");

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
    CU_add_test(s, "memory plan: values live at once never overlap (llama)", test_memplan_llama);
    CU_add_test(s, "memory plan: a long life across a reusing chain", test_memplan_chain);
    CU_add_test(s, "memory plan: random graphs of every op", test_memplan_random);
    CU_add_test(s, "pipeline options: disable, print-after, unknown passes", test_pipeline_options);
    CU_add_test(s, "verifier errors name the node", test_verify_errors);
    CU_add_test(s, "parse errors carry line:column", test_parse_errors);
    return test_main();
}
