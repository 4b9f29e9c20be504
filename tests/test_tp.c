/*
 * test_tp.c: tensor parallelism (rt_options.tp, frontend/arch_tp.c,
 * runtime/tp.c) checked on the CPU, without a second device.
 *
 * A session of N ranks runs each rank's share of the model (its heads and
 * their KV cache, its FFN columns, its rows of the vocabulary) one rank
 * after another, the all_reduce as the in-order sum of the ranks' partial
 * products and the all_gather as their concatenation. Its logits are not
 * the unsplit session's bit for bit: each product over K is summed in
 * another order (a rank's share, then across ranks), which moves them by
 * rounding; so they are held to the model conformance suite's bounds
 * against llama.cpp (tests/test_model_conformance.c: cosine >= 0.995 at
 * every row, >= 0.999 on average, top-1 agreement >= 80%), and the worst
 * absolute difference is printed (about 1e-6 of logits of a few units on
 * the F32 models, up to 3e-4 where LayerNorms and softcaps amplify it;
 * 0.1 on the trained Q8_0 model, whose activations are quantized to 8
 * bits after each sum, so a rounding can move a value by a step, at
 * cosines of 0.999999. A broken sum or slice gives differences of whole
 * units and cosines far below the bounds).
 *
 * For eleven archs of conformance_models.h, F32 (llama: untied head, llama3
 * rope factors; qwen2: q/k/v biases, tied head; qwen3: head_dim 128 and
 * per-head q/k norms; phi3: fused attn_qkv and gate+up; gemma2: softcaps,
 * post norms, a sliding window, tied head; starcoder2: LayerNorms, biases
 * everywhere, an FFN without gate; with experts, every rank its columns of
 * every expert: qwen3moe, qwen2moe's gated shared expert, Mixtral,
 * gpt-oss's sinks and experts' biases (their down bias added by one rank:
 * on every rank, the N = 4 rows leave the bounds), granitemoe's ungated
 * shared expert), at N = 2 and 4 (4: the two KV heads
 * replicated, one a rank), and the trained Q8_0 model at N = 2 (its 6
 * heads; the columns of O and down copied as whole blocks): a 22-token prompt in planned steps of 8, every
 * row's logits, then 6 greedy steps (the unsplit session's token fed to
 * both) compared row by row, and batched decode of three sequences
 * (rt_decode_batch, the ranks' batch graphs). Refused, with a message that
 * names the quantity: heads that do not divide, KV heads neither a
 * multiple nor a divisor of the ranks, an FFN of fewer blocks than ranks,
 * a block-quantized O whose columns a rank would cut inside a block,
 * experts whose width does not divide, deepseek2's latent attention, a
 * rank out of range, the GPU backend and a split by layers at once. The ranks' graphs print with their collectives and parse back.
 *
 * The GPUs' side that runs without one (runtime/gpu/coll.h): rank 0 hands
 * a 128-byte id to three other ranks, threads here, over loopback TCP,
 * one of them connecting before rank 0 listens; a world of another size,
 * a rank twice, nobody listening and bad addresses are refused; without
 * RCCL or NCCL, loading them says so and what to do; where one is
 * installed, it loads with every call we use.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixtures/conformance_models.h"
#include "frontend/gguf.h"
#include "frontend/import.h"
#include "ir/passes/passes.h"
#include "runtime/backend.h"
#include "runtime/gpu/coll.h"
#include "runtime/runtime.h"
#include "test_util.h"

/* the bounds of tests/test_model_conformance.c */
#define COS_MIN_ROW 0.995
#define COS_MIN_MEAN 0.999
#define TOP1_MIN 0.80

#define N_VOCAB 32000
#define N_GREEDY 6
#define TRAINED RF_SOURCE_DIR "/models/kjv-tiny-llama-q8_0.gguf"

static const char *const ARCHS[] = {"llama",    "qwen2",    "qwen3",   "phi3",   "gemma2",
                                    "starcoder2", "qwen3moe", "qwen2moe", "mixtral", "gpt-oss", "granitemoe"};
#define N_ARCHS (sizeof ARCHS / sizeof ARCHS[0])
/* the archs' F32 models, then the trained one */
static char paths[N_ARCHS + 1][4200];
/* models of uneven shares: an FFN of 514 over 4 ranks (129, 129, 128,
 * 128 columns), qwen3moe's experts 250 wide over 4, a Q4_K FFN of 768 (3
 * blocks of 256) over 2 (512 and 256 columns; over 4, refused); and only
 * refused: llama Q4_K (O's columns inside a block), deepseek2 (latent
 * attention) */
static char path_ff[4200], path_moe[4200], path_q4k_ff[4200], path_q4k[4200], path_mla[4200];

static const int32_t prompt[] = {1,   512,  278,  6763, 4177,  2825,  278, 18356, 322,  278,  8437,
                                 29889, 450, 3186, 471,  1780, 29892, 322, 4069,  1599, 3186, 9089};
#define N_PROMPT ((uint32_t)(sizeof prompt / sizeof prompt[0]))

/* an F32 model of the conformance shape (the type and shape as extra may change them) */
static void gen(const char *arch, size_t seed, const char *extra, const char *out)
{
    char args[2048];
    snprintf(args, sizeof args, "--arch %s " CONFORMANCE_SHAPE " --seed %zu %s -t 2", arch, seed, extra);
    test_gen_model(args, out);
}

static const arch_case *find_case(const char *arch)
{
    for (size_t c = 0; c < N_CASES; c++)
        if (!strcmp(CASES[c].arch, arch))
            return &CASES[c];
    CU_FAIL_FATAL("no such arch in conformance_models.h");
    return NULL;
}

/* `test_tp threads` makes only the models its runs read: llama, gemma2
 * and the Q4_K FFN it refuses over 4 ranks */
static bool threads_only;

static void generate_models(void)
{
    for (size_t a = 0; a < N_ARCHS; a++) {
        if (threads_only && strcmp(ARCHS[a], "llama") && strcmp(ARCHS[a], "gemma2"))
            continue;
        const arch_case *c = find_case(ARCHS[a]);
        snprintf(paths[a], sizeof paths[a], "%s/%s.gguf", test_tmp_dir(), ARCHS[a]);
        gen(case_gen_arch(c), (size_t)(c - CASES) + 1, c->extra, paths[a]);
    }
    snprintf(paths[N_ARCHS], sizeof paths[N_ARCHS], "%s", TRAINED);
    snprintf(path_q4k_ff, sizeof path_q4k_ff, "%s/llama-q4_k-ff768.gguf", test_tmp_dir());
    gen("llama", 1, "--untied --n-embd 1024 --n-ff 768 --type q4_k", path_q4k_ff);
    if (threads_only)
        return;
    snprintf(path_q4k, sizeof path_q4k, "%s/llama-q4_k.gguf", test_tmp_dir());
    gen("llama", 1, "--untied --type q4_k", path_q4k);
    snprintf(path_ff, sizeof path_ff, "%s/llama-ff514.gguf", test_tmp_dir());
    gen("llama", 1, "--untied --n-ff 514", path_ff);
    snprintf(path_moe, sizeof path_moe, "%s/qwen3moe-ffexp250.gguf", test_tmp_dir());
    gen("qwen3moe", 1, "--untied --experts 8,2 --n-ff-exp 250", path_moe);
    const arch_case *mla = find_case("deepseek2");
    snprintf(path_mla, sizeof path_mla, "%s/deepseek2.gguf", test_tmp_dir());
    gen(case_gen_arch(mla), (size_t)(mla - CASES) + 1, mla->extra, path_mla);
}

/* ---- comparing logits ------------------------------------------------------ */

typedef struct agreement {
    double min_cos, sum_cos, max_abs;
    size_t rows, top1;
} agreement;

static size_t argmax(const float *v)
{
    size_t best = 0;
    for (size_t i = 1; i < N_VOCAB; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* rows of the unsplit (ref) and the split session's logits into a */
static void agree(agreement *a, const float *ref, const float *got, size_t rows)
{
    for (size_t r = 0; r < rows; r++) {
        const float *x = ref + r * N_VOCAB, *y = got + r * N_VOCAB;
        double xy = 0, xx = 0, yy = 0;
        for (size_t i = 0; i < N_VOCAB; i++) {
            xy += (double)x[i] * y[i];
            xx += (double)x[i] * x[i];
            yy += (double)y[i] * y[i];
            double d = fabs((double)x[i] - y[i]);
            a->max_abs = d > a->max_abs ? d : a->max_abs;
        }
        double cos = xy / sqrt(xx * yy + 1e-30);
        a->min_cos = a->rows && a->min_cos < cos ? a->min_cos : cos;
        a->sum_cos += cos;
        a->top1 += argmax(x) == argmax(y);
        a->rows++;
    }
}

static bool within_bounds(const agreement *a)
{
    return a->rows && a->min_cos >= COS_MIN_ROW && a->sum_cos / a->rows >= COS_MIN_MEAN &&
           (double)a->top1 / a->rows >= TOP1_MIN;
}

/* ---- the sessions ------------------------------------------------------------ */

static rt_options options(uint32_t tp, uint32_t n_seq)
{
    return (rt_options){.backend = "cpu", .n_threads = 2, .n_ctx = 256, .n_batch = 8, .n_seq = n_seq,
                        .all_logits = n_seq == 1, .tp = tp};
}

static rt_session *open_session(const gguf_file *f, const rt_options *o)
{
    rt_session *s = NULL;
    rf_error err = {0};
    rf_status st = rt_session_open(f, o, &s, &err);
    if (st != RF_OK)
        printf("\n  tp %u: %s", o->tp, err.msg);
    CU_ASSERT_EQUAL_FATAL(st, RF_OK);
    return s;
}

/* The prompt, every row, then greedy steps with the unsplit session's
 * token fed to both */
static void prompt_and_greedy(const gguf_file *f, uint32_t tp, agreement *a)
{
    rt_options o = options(0, 1);
    rt_session *ref = open_session(f, &o);
    o.tp = tp;
    rt_session *s = open_session(f, &o);
    CU_ASSERT_STRING_EQUAL(rt_backend_name(s), "cpu-tp");
    float *x = malloc((size_t)N_PROMPT * N_VOCAB * sizeof *x), *y = malloc((size_t)N_PROMPT * N_VOCAB * sizeof *y);
    CU_ASSERT_FATAL(x && y);
    rf_error err = {0};
    CU_ASSERT_EQUAL(rt_eval(ref, prompt, N_PROMPT, x, &err), RF_OK);
    CU_ASSERT_EQUAL(rt_eval(s, prompt, N_PROMPT, y, &err), RF_OK);
    agree(a, x, y, N_PROMPT);
    int32_t next = (int32_t)argmax(x + (size_t)(N_PROMPT - 1) * N_VOCAB);
    for (int i = 0; i < N_GREEDY; i++) {
        CU_ASSERT_EQUAL(rt_eval(ref, &next, 1, x, &err), RF_OK);
        CU_ASSERT_EQUAL(rt_eval(s, &next, 1, y, &err), RF_OK);
        agree(a, x, y, 1);
        next = (int32_t)argmax(x);
    }
    CU_ASSERT_EQUAL(rt_n_past(s), N_PROMPT + N_GREEDY);
    free(x);
    free(y);
    rt_session_close(s);
    rt_session_close(ref);
}

/* Three sequences, prompts of 5, 9 and 14 tokens, then two batched decode
 * steps of all three (the ranks' batch graphs) */
static void batched(const gguf_file *f, uint32_t tp, agreement *a)
{
    enum { N_SEQ = 3 };
    rt_options o = options(0, N_SEQ);
    rt_session *ref = open_session(f, &o);
    o.tp = tp;
    rt_session *s = open_session(f, &o);
    static const uint32_t len[N_SEQ] = {5, 9, 14}, seq[N_SEQ] = {2, 0, 1};
    float *x = malloc(N_SEQ * N_VOCAB * sizeof *x), *y = malloc(N_SEQ * N_VOCAB * sizeof *y);
    CU_ASSERT_FATAL(x && y);
    rf_error err = {0};
    for (uint32_t q = 0; q < N_SEQ; q++) {
        CU_ASSERT_EQUAL(rt_eval_seq(ref, q, prompt + q, len[q], x, &err), RF_OK);
        CU_ASSERT_EQUAL(rt_eval_seq(s, q, prompt + q, len[q], y, &err), RF_OK);
        agree(a, x, y, 1);
    }
    int32_t tok[N_SEQ] = {450, 3186, 471};
    for (int step = 0; step < 2; step++) {
        CU_ASSERT_EQUAL(rt_decode_batch(ref, N_SEQ, seq, tok, x, &err), RF_OK);
        CU_ASSERT_EQUAL(rt_decode_batch(s, N_SEQ, seq, tok, y, &err), RF_OK);
        agree(a, x, y, N_SEQ);
        for (uint32_t q = 0; q < N_SEQ; q++)
            tok[q] = (int32_t)argmax(x + q * N_VOCAB);
    }
    free(x);
    free(y);
    rt_session_close(s);
    rt_session_close(ref);
}

/* one model at N ranks, both scripts, a table row each */
static void matches_unsplit(const char *path, const char *name, uint32_t tp)
{
    gguf_file *f = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_open(path, &f, &err), RF_OK);
    for (int script = 0; script < 2; script++) {
        agreement a = {0};
        if (script == 0)
            prompt_and_greedy(f, tp, &a);
        else
            batched(f, tp, &a);
        bool ok = within_bounds(&a);
        CU_ASSERT_TRUE(ok);
        printf("\n  %-12s %3u  %-9s %5zu %9.6f %9.6f %5.0f%% %9.2e%s", name, tp, script ? "batched" : "greedy", a.rows,
               a.min_cos, a.rows ? a.sum_cos / a.rows : 0, a.rows ? 100.0 * a.top1 / a.rows : 0, a.max_abs,
               ok ? "" : "  OUT OF BOUNDS");
    }
    gguf_close(f);
}

static void test_tp_matches_unsplit(void)
{
    printf("\n  %-12s %3s  %-9s %5s %9s %9s %6s %9s", "model", "N", "script", "rows", "min cos", "mean cos", "top1",
           "max |d|");
    for (size_t m = 0; m < N_ARCHS; m++) {
        matches_unsplit(paths[m], ARCHS[m], 2);
        matches_unsplit(paths[m], ARCHS[m], 4);
    }
    matches_unsplit(paths[N_ARCHS], "kjv-q8_0", 2); /* the trained model's 6 heads: 2 */
    /* uneven shares of the FFN: whole blocks of down's type, as evenly as they go */
    matches_unsplit(path_ff, "ff514", 4);
    matches_unsplit(path_moe, "ffexp250", 4);
    matches_unsplit(path_q4k_ff, "q4_k-ff768", 2);
}

/* ---- refusals ---------------------------------------------------------------- */

static int warnings;

static void count_warning(void *ctx, const char *msg)
{
    (void)ctx;
    printf("\n  warned: %s", msg);
    warnings++;
}

static void refused(const char *path, rt_options o, rf_status want, const char *says)
{
    gguf_file *f = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_open(path, &f, &err), RF_OK);
    rt_session *s = NULL;
    rf_status st = rt_session_open(f, &o, &s, &err);
    CU_ASSERT_EQUAL(st, want);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, says));
    if (st != want || !strstr(err.msg, says))
        printf("\n  %s --tp %u: status %d, said '%s'", path, o.tp, st, err.msg);
    rt_session_close(s);
    gguf_close(f);
}

static void test_refusals(void)
{
    rt_options o = options(3, 1);
    refused(paths[0], o, RF_E_UNSUPPORTED, "over 3 ranks needs the attention heads (4) to be a multiple of 3");
    refused(TRAINED, o, RF_E_UNSUPPORTED, "needs the KV heads (2) to be a multiple of the ranks, or the ranks a "
                                          "multiple of them");
    o.tp = 4;
    refused(path_q4k_ff, o, RF_E_UNSUPPORTED, "over 4 ranks needs the FFN width n_ff (768) to hold a block of "
                                              "'blk.0.ffn_down.weight' (256 columns) for every rank");
    o.tp = 2;
    refused(path_q4k, o, RF_E_UNSUPPORTED, "tensor 'blk.0.attn_output.weight' (q4_k, blocks of 256): rank 0's "
                                           "columns 0..128 of its 256 do not fall on block boundaries");
    refused(path_mla, o, RF_E_UNSUPPORTED, "its multi-head latent attention is not split");
    /* under "auto" the ranks run on the CPU: a refusal is said once, with
     * no "running on the CPU" before it (there was no GPU to leave) */
    warnings = 0;
    o.backend = NULL;
    o.warn = count_warning;
    refused(path_q4k, o, RF_E_UNSUPPORTED, "do not fall on block boundaries");
    CU_ASSERT_EQUAL(warnings, 0);
    o.warn = NULL;
    o.backend = "gpu"; /* the ranks one after another on one GPU: without one, said for the first rank */
    rf_error none = {0};
    uint64_t free_bytes = 0; /* the device opens (available() leaves that to prepare) */
    if (rt_backend_gpu.free_memory(NULL, &free_bytes, &none) != RF_OK)
        refused(paths[0], o, RF_E_UNSUPPORTED, "tensor-parallel rank 0 of 2: no GPU");
    else
        printf("\n  a GPU is here: --tp 2 --backend gpu runs (rf_compare --tp 2 --backend gpu checks it)");
    o.backend = "cpu";
    o.gpu_layers = "1";
    refused(paths[0], o, RF_E_UNSUPPORTED, "and a split by layers (--gpu-layers) at once");

    /* a rank out of range, at import */
    gguf_file *f = NULL;
    rf_error err = {0};
    ir_graph *g = NULL;
    CU_ASSERT_EQUAL_FATAL(gguf_open(paths[0], &f, &err), RF_OK);
    import_options io = {.tp_rank = 2, .tp_world = 2};
    CU_ASSERT_EQUAL(import_model(f, &io, &g, &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "rank 2 of 2: ranks are 0..1"));
    CU_ASSERT_PTR_NULL(g);
    gguf_close(f);
}

/* ---- the ranks' graphs --------------------------------------------------------- */

/* Every rank of llama at N = 4: its heads' and columns' weights, two
 * all_reduce a layer and one all_gather, and the text parses back to
 * itself */
static void test_rank_graphs(void)
{
    gguf_file *f = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_open(paths[0], &f, &err), RF_OK);
    for (uint32_t r = 0; r < 4; r++) {
        ir_graph *g = NULL;
        import_options io = {.tp_rank = r, .tp_world = 4};
        CU_ASSERT_EQUAL_FATAL(import_model(f, &io, &g, &err), RF_OK);
        ir_pipeline_options po = {.max_tokens = 16};
        CU_ASSERT_EQUAL_FATAL(ir_run_pipeline(g, &po, &err), RF_OK);
        CU_ASSERT_EQUAL(g->model.n_head, 1);
        CU_ASSERT_EQUAL(g->model.n_head_kv, 1);
        uint32_t reduce = 0, gather = 0;
        for (uint32_t i = 0; i < g->n_nodes; i++) {
            const ir_node *n = g->nodes[i];
            reduce += n->op == IR_OP_ALL_REDUCE;
            gather += n->op == IR_OP_ALL_GATHER;
            if (n->op == IR_OP_WEIGHT && !strcmp(n->name, "blk.0.attn_k.weight")) /* rank r reads KV head r / 2 */
                CU_ASSERT_EQUAL(n->ia[0], (r / 2) * 64);
            if (n->op == IR_OP_WEIGHT && !strcmp(n->name, "blk.1.ffn_down.weight")) /* columns r*128 .. */
                CU_ASSERT_TRUE(n->ia[1] == r * 128 && n->type.dim[1] == 128 && n->type.dim[0] == 256);
            if (n->op == IR_OP_WEIGHT && !strcmp(n->name, "output.weight")) /* rows of the vocabulary */
                CU_ASSERT_TRUE(n->ia[0] == r * 8000 && n->type.dim[0] == 8000);
        }
        CU_ASSERT_EQUAL(reduce, 2 * 2);
        CU_ASSERT_EQUAL(gather, 1);
        CU_ASSERT_EQUAL(g->model.tp_rank, r);
        CU_ASSERT_EQUAL(g->model.tp_world, 4);
        test_ir_round_trip(g);
        ir_graph_free(g);
    }
    gguf_close(f);
    /* gpt-oss at N = 2: every expert's rows of gate and up (mid0), its
     * columns of down (col0) and of the bias rows, the down bias on rank 0
     * only, an all_reduce after the experts' sum */
    size_t oss = 0;
    while (strcmp(ARCHS[oss], "gpt-oss"))
        oss++;
    CU_ASSERT_EQUAL_FATAL(gguf_open(paths[oss], &f, &err), RF_OK);
    for (uint32_t r = 0; r < 2; r++) {
        ir_graph *g = NULL;
        CU_ASSERT_EQUAL_FATAL(import_model(f, &(import_options){.tp_rank = r, .tp_world = 2}, &g, &err), RF_OK);
        ir_pipeline_options po = {.max_tokens = 16};
        CU_ASSERT_EQUAL_FATAL(ir_run_pipeline(g, &po, &err), RF_OK);
        uint32_t down_bias = 0, summed = 0;
        for (uint32_t i = 0; i < g->n_nodes; i++) {
            const ir_node *n = g->nodes[i];
            if (n->op == IR_OP_WEIGHT && !strcmp(n->name, "blk.0.ffn_gate_exps.weight")) /* [8, 128 of 256, 256] */
                CU_ASSERT_TRUE(n->ia[2] == r * 128 && n->type.dim[0] == 8 && n->type.dim[1] == 128 &&
                               n->type.dim[2] == 256);
            if (n->op == IR_OP_WEIGHT && !strcmp(n->name, "blk.0.ffn_down_exps.weight")) /* [8, 256, 128 of 256] */
                CU_ASSERT_TRUE(n->ia[1] == r * 128 && n->type.dim[1] == 256 && n->type.dim[2] == 128);
            if (n->op == IR_OP_WEIGHT && !strcmp(n->name, "blk.0.ffn_up_exps.bias"))
                CU_ASSERT_TRUE(n->ia[1] == r * 128 && n->type.dim[1] == 128);
            down_bias += n->op == IR_OP_WEIGHT && !strcmp(n->name, "blk.0.ffn_down_exps.bias");
            summed += n->op == IR_OP_ALL_REDUCE && n->in[0]->op == IR_OP_MOE_SUM;
        }
        CU_ASSERT_EQUAL(down_bias, r == 0);
        CU_ASSERT_EQUAL(summed, 2);
        test_ir_round_trip(g);
        ir_graph_free(g);
    }
    gguf_close(f);
    /* qwen2moe and granitemoe: the routed experts' and the shared expert's
     * partial sums meet in one all_reduce a layer, the attention's in
     * another */
    for (size_t m = 0; m < N_ARCHS; m++) {
        if (strcmp(ARCHS[m], "qwen2moe") && strcmp(ARCHS[m], "granitemoe"))
            continue;
        ir_graph *g = NULL;
        CU_ASSERT_EQUAL_FATAL(gguf_open(paths[m], &f, &err), RF_OK);
        CU_ASSERT_EQUAL_FATAL(import_model(f, &(import_options){.tp_rank = 1, .tp_world = 2}, &g, &err), RF_OK);
        uint32_t reduce = 0;
        for (uint32_t i = 0; i < g->n_nodes; i++)
            reduce += g->nodes[i]->op == IR_OP_ALL_REDUCE;
        CU_ASSERT_EQUAL(reduce, 2 * g->model.n_layer);
        if (reduce != 2 * g->model.n_layer)
            printf("\n  %s: %u all_reduce in %u layers", ARCHS[m], reduce, g->model.n_layer);
        ir_graph_free(g);
        gguf_close(f);
    }
}

/* `rocmforge ir --tp`, and the command line's refusals */
static void test_cli(void)
{
    static const test_cli_case cases[] = {
        {"ir " TRAINED " --tp 2 --tp-rank 1", 0, "tp_rank=1, tp_world=2}"},
        {"ir " TRAINED " --tp 2 --tp-rank 1", 0, "= all_reduce %"},
        {"ir " TRAINED " --tp 2 --tp-rank 1", 0, "= all_gather %"},
        {"ir " TRAINED " --tp 2 --tp-rank 1", 0, "weight @blk.0.ffn_down.weight {col0=512} : q8_0[384,512]"},
        {"ir " TRAINED " --tp 2", 0, "# rank 1 of 2 (tensor parallel)"},
        /* a rank's plan: its launches stop where the ranks meet */
        {"kernels " TRAINED " --arch sm_90 --tp 2 --tp-rank 1 --launches decode", 0,
         "-- all_reduce %"},
        {"kernels " TRAINED " --arch sm_90 --tp 2 --launches prefill", 0, "-- all_gather %"},
        {"kernels " TRAINED " --arch sm_90 --tp 2 --tp-rank 2", 2, "--tp-rank 2: the ranks of --tp 2 are 0..1"},
        {"ir " TRAINED " --tp 2 --tp-rank 2", 2, "--tp-rank 2: the ranks of --tp 2 are 0..1"},
        {"run " TRAINED " -p hi -n 1 --tp 0", 2, "--tp: 0 is out of range"},
        {"run " TRAINED " -p hi -n 1 --tp 2 --gpu-layers 1", 1, "and a split by layers (--gpu-layers) at once"},
        {"logits " TRAINED " --tokens 1 --out /dev/null --tp 3", 1, "needs the KV heads (2)"},
        /* one process a GPU: what is checked before any device or network */
        {"run " TRAINED " -p hi -n 1 --tp-world 2 --tp-rank 0", 1, "--tp-addr HOST:PORT (rank 0's), which is missing"},
        {"run " TRAINED " -p hi -n 1 --tp-world 2 --tp-rank 2 --tp-addr h:1", 1, "needs --tp-rank from 0 to 1 (not 2)"},
        {"run " TRAINED " -p hi -n 1 --tp-world 2 --tp-rank 1 --tp-addr h:1 --backend cpu", 1,
         "--tp-world 2 is one process a GPU: --backend gpu (on the CPU, --tp 2 runs every rank in one process)"},
        {"bench " TRAINED " -p 4 -n 1 --tp 2 --tp-world 2 --tp-addr h:1", 1, "one or the other"},
        {"logits " TRAINED " --tokens 1 --out /dev/null --tp-world 1", 2, "--tp-world: 1 is out of range 2..1024"},
        {"run " TRAINED " -p hi -n 1 --tp 2 --plan x.rfplan", 1, "--plan checks the plan of one model on one GPU"},
        {"compile " TRAINED " --arch sm_90 --tp 2 -o x.rfplan", 2, "-o names one plan: with --tp 2, name the rank"},
        {"compile " TRAINED " --arch sm_90 --tp 2 --gpu-layers 1", 2, "split one way or the other"},
        {"compile " TRAINED " --arch sm_90 --tp 2 --tp-rank 2", 2, "--tp-rank 2: the ranks of --tp 2 are 0..1"},
        {"compile " TRAINED " --arch sm_90 --tp 3", 1, "needs the KV heads (2)"},
    };
    test_cli_expect(cases, sizeof cases / sizeof cases[0]);
    /* compile --tp: every rank's plan, or one rank's, their kernels in the
     * cache (NVRTC is here in CI: test_rtc) */
    char every[512], one[512], plan[256];
    snprintf(plan, sizeof plan, "%s/tp-rank-1.rfplan", test_tmp_dir());
    snprintf(every, sizeof every, "compile %s --arch sm_90 --tp 2 --json --cache %s/tp-cache", TRAINED, test_tmp_dir());
    snprintf(one, sizeof one, "compile %s --arch sm_90 --tp 2 --tp-rank 1 -o %s --cache %s/tp-cache", TRAINED, plan,
             test_tmp_dir());
    const test_cli_case compiles[] = {
        {every, 0, ".sm_90.tp-2-rank-0.rfplan\",\"arch\":\"sm_90\""},
        {every, 0, ".sm_90.tp-2-rank-1.rfplan\",\"arch\":\"sm_90\""},
        {every, 0, "\"tp_rank\":1,\"tp_world\":2}"},
        {one, 0, " kernels: 0 compiled, "}, /* in the cache since the ranks were compiled above */
        {one, 0, "tp-rank-1.rfplan"},
    };
    test_cli_expect(compiles, sizeof compiles / sizeof compiles[0]);
    FILE *f = fopen(plan, "r");
    CU_ASSERT_PTR_NOT_NULL(f);
    if (f)
        fclose(f);
}

/* ---- a world of processes --------------------------------------------------------- */

/* the whole of a file, or NULL */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    *n = 0;
    if (f && fseek(f, 0, SEEK_END) == 0) {
        long len = ftell(f);
        if (len > 0 && (b = malloc((size_t)len)) && fseek(f, 0, SEEK_SET) == 0 && fread(b, 1, (size_t)len, f) == (size_t)len)
            *n = (size_t)len;
    }
    if (f)
        fclose(f);
    return b;
}

/* Two processes, one rank each (--tp-world 2), on the CPU, meeting through
 * tests/fake_coll.c (ROCMFORGE_COLL_LIB; ROCMFORGE_COLL_HOST=1) where GPU
 * ranks meet through NCCL: the rendezvous, the communicator, tp.c's
 * collectives of a world (the all_reduce from operand to result, the
 * all_gather as zero-padded slices summed) and the session around them.
 * The library sums in rank order, as tp.c's one-process ranks do, so both
 * processes' logits are `--tp 2`'s bit for bit. */
static void test_world_of_processes(void)
{
    rt_rendezvous *r = NULL;
    uint16_t port = 0;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rt_rendezvous_listen("127.0.0.1:0", &r, &port, &err), RF_OK);
    rt_rendezvous_close(r); /* a free port for rank 0 to serve on */
    const char *dir = test_tmp_dir(), *ids = "1 450 3186 310 278 6257 29892";
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd %s && R() { timeout 120 " RF_BINARY_DIR "/rocmforge logits " TRAINED " --tokens \"%s\" --backend cpu "
             "--threads 1 \"$@\"; } && "
             "R --tp 2 --out world-ref.f32 > world-ref.log 2>&1 && "
             "export ROCMFORGE_COLL_LIB='" RF_FAKE_COLL "' ROCMFORGE_COLL_HOST=1 && "
             "{ R --tp-world 2 --tp-rank 1 --tp-addr 127.0.0.1:%u --out world-1.f32 > world-1.log 2>&1 & } && "
             "R --tp-world 2 --tp-rank 0 --tp-addr 127.0.0.1:%u --out world-0.f32 > world-0.log 2>&1; "
             "r0=$?; wait $!; r1=$?; exit $((r0 | r1))",
             dir, ids, port, port);
    int rc = system(cmd);
    if (rc != 0) {
        printf("\n  a world of two processes: exit %d; see %s/world-*.log", rc, dir);
        snprintf(cmd, sizeof cmd, "tail -n 3 %s/world-ref.log %s/world-0.log %s/world-1.log", dir, dir, dir);
        if (system(cmd) != 0)
            printf("\n  (no logs)");
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    char path[512];
    size_t n_ref = 0, n_r = 0;
    snprintf(path, sizeof path, "%s/world-ref.f32", dir);
    unsigned char *ref = slurp(path, &n_ref);
    CU_ASSERT_TRUE_FATAL(ref && n_ref == 7 * 32000 * sizeof(float)); /* every position's logits */
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/world-%d.f32", dir, k);
        unsigned char *got = slurp(path, &n_r);
        CU_ASSERT_TRUE(got && n_r == n_ref && !memcmp(got, ref, n_ref));
        if (!got || n_r != n_ref || memcmp(got, ref, n_ref))
            printf("\n  rank %d's logits (%zu bytes) differ from --tp 2's (%zu bytes)", k, n_r, n_ref);
        free(got);
    }
    free(ref);
}

/* ---- a thread a rank (runtime/tp.c's TP_THREADS) -------------------------------- */

enum { SCRIPT_ROWS = N_PROMPT + N_GREEDY + N_PROMPT + 3 + 2 * 3 };

/* Every logit of a script into out (SCRIPT_ROWS rows): the prompt's every
 * row, greedy steps on the session's own picks, a reset and the prompt
 * again; then three sequences' prompts and two batched decode steps. */
static void script_logits(const gguf_file *f, uint32_t tp, float *out)
{
    rt_options o = options(tp, 1);
    o.n_threads = 1;
    rt_session *s = open_session(f, &o);
    rf_error err = {0};
    CU_ASSERT_EQUAL(rt_eval(s, prompt, N_PROMPT, out, &err), RF_OK);
    out += (size_t)N_PROMPT * N_VOCAB;
    int32_t next = (int32_t)argmax(out - N_VOCAB);
    for (int i = 0; i < N_GREEDY; i++, out += N_VOCAB) {
        CU_ASSERT_EQUAL(rt_eval(s, &next, 1, out, &err), RF_OK);
        next = (int32_t)argmax(out);
    }
    rt_reset(s);
    CU_ASSERT_EQUAL(rt_eval(s, prompt, N_PROMPT, out, &err), RF_OK);
    out += (size_t)N_PROMPT * N_VOCAB;
    rt_session_close(s);
    o = options(tp, 3);
    o.n_threads = 1;
    s = open_session(f, &o);
    static const uint32_t len[3] = {5, 9, 14}, seq[3] = {2, 0, 1};
    for (uint32_t q = 0; q < 3; q++, out += N_VOCAB)
        CU_ASSERT_EQUAL(rt_eval_seq(s, q, prompt + q, len[q], out, &err), RF_OK);
    int32_t tok[3] = {450, 3186, 471};
    for (int step = 0; step < 2; step++, out += 3 * N_VOCAB) {
        CU_ASSERT_EQUAL(rt_decode_batch(s, 3, seq, tok, out, &err), RF_OK);
        for (uint32_t q = 0; q < 3; q++)
            tok[q] = (int32_t)argmax(out + q * N_VOCAB);
    }
    rt_session_close(s);
}

/* --tp N with a thread a rank (ROCMFORGE_TP_THREADS=1), each rank's part
 * opened, run and closed on its thread and its collectives through the
 * library (tests/fake_coll.c here, on host memory: ROCMFORGE_COLL_HOST=1;
 * NCCL on GPUs), gives the logits of the ranks run one after another
 * (ROCMFORGE_TP_THREADS=0) bit for bit: the stand-in sums in rank order as
 * tp.c does. Over a prompt, greedy steps, a reset, three sequences and
 * batched steps, for an F32 llama at 2 and 4 ranks, gemma2 (softcaps,
 * window) at 2 and the trained Q8_0 model at 2. A rank that cannot be
 * made ends them all with its reason, nobody waiting in the library. */
static void test_threads(void)
{
    static const struct {
        size_t model;
        uint32_t tp;
    } RUNS[] = {{0, 2}, {0, 4}, {4, 2}, {N_ARCHS, 2}};
    CU_ASSERT_EQUAL_FATAL(setenv("ROCMFORGE_COLL_LIB", RF_FAKE_COLL, 1), 0);
    CU_ASSERT_EQUAL_FATAL(setenv("ROCMFORGE_COLL_HOST", "1", 1), 0);
    size_t bytes = (size_t)SCRIPT_ROWS * N_VOCAB * sizeof(float);
    float *seq = malloc(bytes), *thr = malloc(bytes);
    CU_ASSERT_FATAL(seq && thr);
    for (size_t i = 0; i < sizeof RUNS / sizeof RUNS[0]; i++) {
        const char *path = paths[RUNS[i].model];
        gguf_file *f = NULL;
        rf_error err = {0};
        CU_ASSERT_EQUAL_FATAL(gguf_open(path, &f, &err), RF_OK);
        memset(seq, 0, bytes);
        memset(thr, 0xff, bytes);
        CU_ASSERT_EQUAL_FATAL(setenv("ROCMFORGE_TP_THREADS", "0", 1), 0);
        script_logits(f, RUNS[i].tp, seq);
        CU_ASSERT_EQUAL_FATAL(setenv("ROCMFORGE_TP_THREADS", "1", 1), 0);
        script_logits(f, RUNS[i].tp, thr);
        bool same = !memcmp(seq, thr, bytes);
        CU_ASSERT_TRUE(same);
        printf("\n  %-12s --tp %u, a thread a rank: %d rows %s", strrchr(path, '/') + 1, RUNS[i].tp, SCRIPT_ROWS,
               same ? "the same bit for bit" : "DIFFER");
        gguf_close(f);
    }
    free(seq);
    free(thr);
    /* a rank that cannot be made (a Q4_K FFN of 3 blocks over 4 ranks): its reason */
    rt_options o = options(4, 1);
    refused(path_q4k_ff, o, RF_E_UNSUPPORTED, "needs the FFN width n_ff (768) to hold a block of");
    unsetenv("ROCMFORGE_TP_THREADS");
    unsetenv("ROCMFORGE_COLL_HOST");
    unsetenv("ROCMFORGE_COLL_LIB");
}

/* ---- the rendezvous and the library (runtime/gpu/coll.h) ----------------------- */

typedef struct fetcher {
    char addr[64];
    uint32_t rank, world;
    int timeout_ms;
    rt_coll_id id;
    rf_status st;
    rf_error err;
    pthread_t thread;
} fetcher;

static void *fetch_main(void *p)
{
    fetcher *f = p;
    f->st = rt_rendezvous_fetch(f->addr, f->rank, f->world, &f->id, f->timeout_ms, &f->err);
    return NULL;
}

static void fetch_start(fetcher *f, uint16_t port, uint32_t rank, uint32_t world, int timeout_ms)
{
    *f = (fetcher){.rank = rank, .world = world, .timeout_ms = timeout_ms};
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%u", port);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&f->thread, NULL, fetch_main, f), 0);
}

static rt_rendezvous *listen_any(uint16_t *port)
{
    rt_rendezvous *r = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rt_rendezvous_listen("127.0.0.1:0", &r, port, &err), RF_OK);
    CU_ASSERT_TRUE(*port != 0);
    return r;
}

/* rank 0 and three others; rank 3 dials before rank 0 listens, and retries */
static void test_rendezvous(void)
{
    rt_coll_id id;
    for (int i = 0; i < RT_COLL_ID_BYTES; i++)
        id.bytes[i] = (unsigned char)(i * 37 + 11);
    uint16_t port;
    rt_rendezvous_close(listen_any(&port)); /* a free port, to listen on again below */
    fetcher f[4];
    fetch_start(&f[3], port, 3, 4, 5000);
    nanosleep(&(struct timespec){0, 150 * 1000 * 1000}, NULL);
    rt_rendezvous *r = NULL;
    rf_error err = {0};
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    CU_ASSERT_EQUAL_FATAL(rt_rendezvous_listen(addr, &r, NULL, &err), RF_OK);
    for (uint32_t k = 1; k < 3; k++)
        fetch_start(&f[k], port, k, 4, 5000);
    CU_ASSERT_EQUAL(rt_rendezvous_serve(r, 4, &id, 5000, &err), RF_OK);
    for (uint32_t k = 1; k < 4; k++) {
        pthread_join(f[k].thread, NULL);
        CU_ASSERT_EQUAL(f[k].st, RF_OK);
        CU_ASSERT_EQUAL(memcmp(f[k].id.bytes, id.bytes, RT_COLL_ID_BYTES), 0);
    }
    rt_rendezvous_close(r);

    /* a world of another size, and a rank twice: refused, and rank 0 waits out its time */
    r = listen_any(&port);
    fetch_start(&f[1], port, 1, 3, 2000);
    CU_ASSERT_EQUAL(rt_rendezvous_serve(r, 2, &id, 500, &err), RF_E_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "0 of the other 1 ranks came within 500 ms"));
    pthread_join(f[1].thread, NULL);
    CU_ASSERT_EQUAL(f[1].st, RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(f[1].err.msg, "refused it (its world has another size)"));
    rt_rendezvous_close(r);
    r = listen_any(&port);
    fetch_start(&f[1], port, 1, 3, 2000);
    fetch_start(&f[2], port, 1, 3, 2000);
    CU_ASSERT_EQUAL(rt_rendezvous_serve(r, 3, &id, 500, &err), RF_E_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "1 of the other 2 ranks came"));
    pthread_join(f[1].thread, NULL);
    pthread_join(f[2].thread, NULL);
    fetcher *second = f[1].st == RF_OK ? &f[2] : &f[1]; /* whichever came second */
    CU_ASSERT_TRUE((f[1].st == RF_OK) != (f[2].st == RF_OK));
    CU_ASSERT_EQUAL(second->st, RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(second->err.msg, "that rank came already"));
    rt_rendezvous_close(r);

    /* nobody listening; addresses that are not HOST:PORT */
    rt_coll_id got;
    CU_ASSERT_EQUAL(rt_rendezvous_fetch(addr, 1, 2, &got, 200, &err), RF_E_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no rank 0 listening on 127.0.0.1:"));
    CU_ASSERT_EQUAL(rt_rendezvous_listen("localhost", &r, NULL, &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "expected HOST:PORT"));
    CU_ASSERT_EQUAL(rt_rendezvous_fetch("127.0.0.1:99999", 1, 2, &got, 200, &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "the port is not a number from 0 to 65535"));
}

/* without RCCL or NCCL ($ROCMFORGE_COLL_LIB naming a library that is not
 * there): one message naming what was tried and the CPU's way; then the
 * real one where the machine has it, all six calls found */
static void test_coll_library(void)
{
    const char *name = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(setenv("ROCMFORGE_COLL_LIB", "librf-no-such-nccl.so.2", 1), 0);
    CU_ASSERT_EQUAL(rt_coll_load(&name, &err), RF_E_UNSUPPORTED);
    CU_ASSERT_PTR_NULL(name);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "needs RCCL or NCCL, and neither library loads (tried "
                                           "librf-no-such-nccl.so.2): install RCCL (AMD) or NCCL (NVIDIA), or run "
                                           "the ranks on the CPU (--tp N --backend cpu)"));
    rt_coll_id id;
    rt_coll *c = NULL;
    CU_ASSERT_EQUAL(rt_coll_unique_id(&id, &err), RF_E_UNSUPPORTED);
    CU_ASSERT_EQUAL(rt_coll_join(&id, 2, 0, &c, &err), RF_E_UNSUPPORTED);
    CU_ASSERT_PTR_NULL(c);
    unsetenv("ROCMFORGE_COLL_LIB");
    rf_status st = rt_coll_load(&name, &err);
    if (st == RF_OK)
        printf("\n  %s loads with every call", name);
    else
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "(tried librccl.so.1, librccl.so, libnccl.so.2, libnccl.so)"));
}

/* `test_tp threads`: the threads' suite alone, in a process of its own
 * (ctest's test_tp.threads), because the collective library a process
 * loads stays loaded: test_coll_library wants none, this one the
 * stand-in. */
int main(int argc, char **argv)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("tp", NULL, NULL);
    CU_add_test(s, "the models (the threads' run: the three it reads)", generate_models);
    threads_only = argc > 1 && !strcmp(argv[1], "threads");
    if (threads_only) {
        CU_add_test(s, "a thread a rank gives the ranks one after another bit for bit", test_threads);
        return test_main();
    }
    CU_add_test(s, "N ranks give the unsplit logits within the conformance bounds", test_tp_matches_unsplit);
    CU_add_test(s, "shapes that do not divide, and what is not done, are refused", test_refusals);
    CU_add_test(s, "the ranks' graphs: their slices and collectives, their text", test_rank_graphs);
    CU_add_test(s, "rocmforge ir --tp, and the command line", test_cli);
    CU_add_test(s, "the id's rendezvous over loopback TCP", test_rendezvous);
    CU_add_test(s, "RCCL/NCCL missing: said so", test_coll_library);
    CU_add_test(s, "a world of two processes gives --tp 2's logits", test_world_of_processes);
    return test_main();
}
