/*
 * test_split.c: a model split across two backends by layers (runtime.h,
 * gpu_layers), checked without a GPU.
 *
 * The tests' rt_options.front_backend runs the first part on the CPU
 * backend too, so a split session here goes through exactly the code a
 * GPU split does (two graphs imported for their layers, the front a
 * session of its own borrowing the step inputs and block table, the rows
 * handed over once a step, each part keeping its own layers' KV cache) and
 * must give the logits of the unsplit CPU session bit for bit: the ops are
 * the same, only the graph they are in differs. For three archs of
 * conformance_models.h with 4 layers, llama (dense, untied head), gemma2
 * (an 8-token sliding window, softcaps, tied head) and qwen3moe (experts),
 * at N = 0, 1, 2 and 4 layers in front, one script of calls runs on both
 * sessions and every output is compared: a prompt in planned steps of 8,
 * decode tokens, greedy continuation, truncate and reset (one sequence);
 * every row's logits (all_logits); steps mixing three sequences' prompt
 * chunks and decode tokens, batched decode, a forgotten and a truncated
 * sequence, greedy on one of them (the paged cache).
 *
 * Also: "auto" against a memory limit (none fits, all fit, and a limit
 * found between them that splits, again equal to the CPU), the pure
 * choice rt_fit_layers with its edge cases, and the command line's
 * refusals of bad values and `rocmforge ir --gpu-layers`; the two parts'
 * graphs (the first from the embedding to the residual rows, the second
 * from them, `hidden`, to the logits) print and parse back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures/conformance_models.h"
#include "frontend/gguf.h"
#include "frontend/import.h"
#include "ir/passes/passes.h"
#include "runtime/runtime.h"
#include "test_util.h"

#define N_LAYER 4
#define N_VOCAB 32000
#define MODEL RF_SOURCE_DIR "/models/kjv-tiny-llama-q8_0.gguf"

static const char *const ARCHS[] = {"llama", "gemma2", "qwen3moe"};
#define N_ARCHS (sizeof ARCHS / sizeof ARCHS[0])
static char paths[N_ARCHS][4200];

static const int32_t prompt[] = {1,   512,  278,  6763, 4177,  2825,  278, 18356, 322,  278,  8437,
                                 29889, 450, 3186, 471,  1780, 29892, 322, 4069,  1599, 3186, 9089};
#define N_PROMPT ((uint32_t)(sizeof prompt / sizeof prompt[0]))

/* the outputs of a script, in the order it made them */
typedef struct record {
    float *logits;
    size_t n_rows, cap_rows;
    int32_t ids[64];
    size_t n_ids;
} record;

static float *rows(record *r, size_t n)
{
    if (r->n_rows + n > r->cap_rows) {
        r->cap_rows = (r->n_rows + n) * 2;
        r->logits = realloc(r->logits, r->cap_rows * N_VOCAB * sizeof *r->logits);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r->logits);
    }
    float *p = r->logits + r->n_rows * N_VOCAB;
    r->n_rows += n;
    return p;
}

static void id(record *r, int32_t v)
{
    CU_ASSERT_FATAL(r->n_ids < sizeof r->ids / sizeof r->ids[0]);
    r->ids[r->n_ids++] = v;
}

/* One sequence: a prompt in steps of 8, three decode tokens, a greedy
 * continuation, truncated back into the prompt and continued, reset. */
static void script_one(rt_session *s, record *r)
{
    rf_error err = {0};
    CU_ASSERT_EQUAL(rt_eval(s, prompt, N_PROMPT, rows(r, 1), &err), RF_OK);
    for (int k = 0; k < 3; k++)
        CU_ASSERT_EQUAL(rt_eval(s, &prompt[k + 2], 1, rows(r, 1), &err), RF_OK);
    int32_t next = prompt[5];
    for (int k = 0; k < 6; k++) {
        CU_ASSERT_EQUAL(rt_eval_greedy(s, &next, 1, &next, &err), RF_OK);
        id(r, next);
    }
    rt_seq_truncate(s, 0, 10);
    CU_ASSERT_EQUAL(rt_eval(s, prompt + 12, 3, rows(r, 1), &err), RF_OK);
    rt_reset(s);
    CU_ASSERT_EQUAL(rt_eval_greedy(s, prompt, 11, &next, &err), RF_OK);
    id(r, next);
    CU_ASSERT_EQUAL(rt_n_past(s), 11);
}

/* all_logits: every row of a prompt, in steps of 8 */
static void script_all(rt_session *s, record *r)
{
    rf_error err = {0};
    CU_ASSERT_EQUAL(rt_eval(s, prompt, N_PROMPT, rows(r, N_PROMPT), &err), RF_OK);
}

/* Three sequences: a step of prompt chunks (one wanting no logits), a
 * step mixing the rest of a prompt with decode tokens, batched decode,
 * a forgotten sequence read again, a truncated one, greedy. */
static void script_seqs(rt_session *s, record *r)
{
    rf_error err = {0};
    uint32_t seq[11];
    int32_t tok[11];
    bool want[11];
    /* the most rows a step takes (n_seq + n_batch): sequence 0's 6 prompt
     * rows, 1's 3 (no logits), 2's 2 */
    for (uint32_t i = 0; i < 11; i++) {
        seq[i] = i < 6 ? 0 : i < 9 ? 1 : 2;
        tok[i] = prompt[i + seq[i]];
        want[i] = i == 5 || i == 10;
    }
    CU_ASSERT_EQUAL(rt_step(s, 11, seq, tok, want, rows(r, 2), &err), RF_OK);
    /* interleaved: 1 continues its prompt, 0 and 2 decode */
    static const uint32_t seq2[5] = {1, 0, 1, 2, 1};
    static const bool want2[5] = {false, true, false, true, true};
    static const int32_t tok2[5] = {3186, 471, 1780, 29892, 322};
    CU_ASSERT_EQUAL(rt_step(s, 5, seq2, tok2, want2, rows(r, 3), &err), RF_OK);
    static const uint32_t all[3] = {2, 0, 1};
    for (int k = 0; k < 3; k++) {
        int32_t t[3] = {prompt[k], prompt[k + 4], prompt[k + 8]};
        CU_ASSERT_EQUAL(rt_decode_batch(s, 3, all, t, rows(r, 3), &err), RF_OK);
    }
    rt_seq_reset(s, 1);
    CU_ASSERT_EQUAL(rt_eval_seq(s, 1, prompt + 3, 9, rows(r, 1), &err), RF_OK);
    rt_seq_truncate(s, 2, 3);
    CU_ASSERT_EQUAL(rt_decode_batch(s, 3, all, tok2, rows(r, 3), &err), RF_OK);
    int32_t next;
    CU_ASSERT_EQUAL(rt_eval_seq_greedy(s, 0, prompt + 7, 2, &next, &err), RF_OK);
    id(r, next);
    CU_ASSERT_EQUAL(rt_seq_n_past(s, 2), 4);
}

typedef void (*script_fn)(rt_session *, record *);
static const struct {
    const char *name;
    script_fn run;
    uint32_t n_seq;
    bool all_logits;
} SCRIPTS[] = {{"one sequence", script_one, 1, false}, {"all logits", script_all, 1, true},
               {"three sequences", script_seqs, 3, false}};
#define N_SCRIPTS (sizeof SCRIPTS / sizeof SCRIPTS[0])

/* the options of a script's session: the CPU alone, or with gpu_layers
 * "N" ("auto") its first part on the CPU as a GPU's would be */
static rt_options options(size_t sc, const char *gpu_layers, uint64_t limit)
{
    return (rt_options){.backend = "cpu", .n_threads = 2, .n_ctx = 64, .n_batch = 8, .n_seq = SCRIPTS[sc].n_seq,
                        .all_logits = SCRIPTS[sc].all_logits, .gpu_layers = gpu_layers, .gpu_mem_limit = limit,
                        .front_backend = gpu_layers ? "cpu" : NULL};
}

static void run_script(gguf_file *f, size_t sc, const rt_options *o, record *r, rt_session **keep)
{
    rt_session *s = NULL;
    rf_error err = {0};
    rf_status st = rt_session_open(f, o, &s, &err);
    if (st != RF_OK)
        printf("\n  %s: %s", SCRIPTS[sc].name, err.msg);
    CU_ASSERT_EQUAL_FATAL(st, RF_OK);
    SCRIPTS[sc].run(s, r);
    if (keep)
        *keep = s;
    else
        rt_session_close(s);
}

static bool same(const record *a, const record *b)
{
    return a->n_rows == b->n_rows && a->n_ids == b->n_ids &&
           !memcmp(a->logits, b->logits, a->n_rows * N_VOCAB * sizeof *a->logits) &&
           !memcmp(a->ids, b->ids, a->n_ids * sizeof *a->ids);
}

static void record_free(record *r)
{
    free(r->logits);
    *r = (record){0};
}

static void generate_models(void)
{
    char args[2048];
    for (size_t a = 0; a < N_ARCHS; a++) {
        size_t c = 0;
        while (c < N_CASES && strcmp(CASES[c].arch, ARCHS[a]))
            c++;
        CU_ASSERT_FATAL(c < N_CASES);
        snprintf(paths[a], sizeof paths[a], "%s/%s.gguf", test_tmp_dir(), ARCHS[a]);
        snprintf(args, sizeof args, "--arch %s " CONFORMANCE_SHAPE " --seed %zu %s --n-layer %d --type q8_0 -t 2",
                 case_gen_arch(&CASES[c]), c + 1, CASES[c].extra, N_LAYER);
        test_gen_model(args, paths[a]);
    }
}

/* Every script, every arch: N = 0, 1, 2, 4 layers in front give the CPU's outputs bit for bit. */
static void test_split_equals_cpu(void)
{
    static const char *const N[] = {"0", "1", "2", "4"};
    for (size_t a = 0; a < N_ARCHS; a++) {
        gguf_file *f = NULL;
        rf_error err = {0};
        CU_ASSERT_EQUAL_FATAL(gguf_open(paths[a], &f, &err), RF_OK);
        for (size_t sc = 0; sc < N_SCRIPTS; sc++) {
            record ref = {0};
            rt_options o = options(sc, NULL, 0);
            run_script(f, sc, &o, &ref, NULL);
            for (size_t n = 0; n < sizeof N / sizeof N[0]; n++) {
                record r = {0};
                rt_session *s = NULL;
                o = options(sc, N[n], 0);
                run_script(f, sc, &o, &r, &s);
                uint32_t layers = (uint32_t)atoi(N[n]);
                bool split = layers > 0 && layers < N_LAYER;
                CU_ASSERT_EQUAL(rt_gpu_layers(s), split ? layers : 0); /* "all" on a CPU front is the CPU */
                CU_ASSERT_STRING_EQUAL(rt_backend_name(s), split ? "cpu+cpu" : "cpu");
                if (!same(&ref, &r))
                    printf("\n  %s, %s, %s layers in front: the outputs differ from the CPU's", ARCHS[a],
                           SCRIPTS[sc].name, N[n]);
                CU_ASSERT_TRUE(same(&ref, &r));
                rt_session_close(s);
                record_free(&r);
            }
            record_free(&ref);
        }
        gguf_close(f);
    }
}

static void keep_notice(void *ctx, const char *msg) { snprintf(ctx, 512, "%s", msg); }

/* the layers "auto" puts in front under a memory limit, and its notice */
static uint32_t auto_layers(gguf_file *f, uint64_t limit, char *notice)
{
    rt_options o = options(0, "auto", limit);
    o.warn = keep_notice;
    o.cb_ctx = notice;
    rt_session *s = NULL;
    rf_error err = {0};
    notice[0] = 0;
    CU_ASSERT_EQUAL_FATAL(rt_session_open(f, &o, &s, &err), RF_OK);
    uint32_t n = N_LAYER + 1;
    CU_ASSERT_EQUAL(sscanf(notice, "gpu layers auto: %u of 4 layers", &n), 1);
    bool split = n > 0 && n < N_LAYER; /* else no split: the CPU session, the stand-in's "all" included */
    CU_ASSERT_EQUAL(rt_gpu_layers(s), split ? n : 0);
    CU_ASSERT_STRING_EQUAL(rt_backend_name(s), split ? "cpu+cpu" : "cpu");
    rt_session_close(s);
    return n;
}

/* "auto" against a limit: nothing, everything, and between them a split
 * (found by bisection) that gives the CPU's outputs; no memory to fit is refused */
static void test_auto(void)
{
    gguf_file *f = NULL;
    rf_error err = {0};
    char notice[512];
    CU_ASSERT_EQUAL_FATAL(gguf_open(paths[0], &f, &err), RF_OK);
    CU_ASSERT_EQUAL(auto_layers(f, 1, notice), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(notice, "gpu layers auto: 0 of 4 layers on the GPU, 4 on the CPU"));
    CU_ASSERT_EQUAL(auto_layers(f, 1ull << 40, notice), N_LAYER);
    CU_ASSERT_PTR_NOT_NULL(strstr(notice, "4 of 4 layers on the GPU"));
    uint64_t lo = 1, hi = 1ull << 40, mid = 0;
    uint32_t n = 0;
    while (hi - lo > 1 && (n == 0 || n == N_LAYER)) {
        mid = lo + (hi - lo) / 2;
        n = auto_layers(f, mid, notice);
        *(n == 0 ? &lo : &hi) = mid;
    }
    CU_ASSERT(n > 0 && n < N_LAYER);
    record ref = {0}, r = {0};
    rt_options o = options(0, NULL, 0);
    run_script(f, 0, &o, &ref, NULL);
    o = options(0, "auto", mid);
    run_script(f, 0, &o, &r, NULL);
    CU_ASSERT_TRUE(same(&ref, &r));
    record_free(&ref);
    record_free(&r);
    /* without a GPU or its stand-in, "auto" has no memory to fit */
    rt_session *s = NULL;
    o = (rt_options){.backend = "cpu", .n_ctx = 64, .gpu_layers = "auto"};
    CU_ASSERT_EQUAL(rt_session_open(f, &o, &s, &err), RF_E_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "gpu layers 'auto'"));
    CU_ASSERT_PTR_NULL(s);
    gguf_close(f);
}

/* rt_fit_layers: the layers in order while they fit, the head only with all of them */
static void test_fit(void)
{
    const uint64_t layer[4] = {100, 100, 100, 100};
    rt_fit f = {.n_layer = 4, .layer_bytes = layer, .base_bytes = 50, .head_bytes = 30, .margin_bytes = 20};
    static const struct {
        uint64_t free_bytes;
        uint32_t n;
    } cases[] = {
        {0, 0},   {20, 0},  {70, 0},  {169, 0}, /* nothing fits: not the margin, the base, the first layer */
        {170, 1}, {269, 1}, {270, 2}, {470, 4 - 1}, /* every layer but not the head: the last goes to the CPU */
        {499, 3}, {500, 4}, {UINT64_MAX, 4},       /* everything fits */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f.free_bytes = cases[i].free_bytes;
        uint32_t n = rt_fit_layers(&f);
        if (n != cases[i].n)
            printf("\n  free %llu: %u layers, expected %u", (unsigned long long)f.free_bytes, n, cases[i].n);
        CU_ASSERT_EQUAL(n, cases[i].n);
    }
    f.n_layer = 0; /* a model of no layers fits nothing to split */
    f.free_bytes = 1000;
    CU_ASSERT_EQUAL(rt_fit_layers(&f), 0);
}

/* Both parts of a split llama, through the passes: the first ends in the
 * residual rows of every token, the second starts from them; each prints
 * and parses back to the same text, its plan included. */
static void test_parts_ir(void)
{
    gguf_file *f = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_open(paths[0], &f, &err), RF_OK);
    static const import_options parts[2] = {{.n_ctx = 64, .layer_end = 2}, {.n_ctx = 64, .layer_begin = 2}};
    for (int k = 0; k < 2; k++) {
        ir_graph *g = NULL;
        ir_pipeline_options po = {.max_tokens = 8};
        CU_ASSERT_EQUAL_FATAL(import_model(f, &parts[k], &g, &err), RF_OK);
        CU_ASSERT_EQUAL_FATAL(ir_run_pipeline(g, &po, &err), RF_OK);
        const ir_node *first = NULL, *out = g->nodes[g->n_nodes - 1];
        for (uint32_t i = 0; i < g->n_nodes && !first; i++)
            if (g->nodes[i]->op == IR_OP_EMBED || g->nodes[i]->op == IR_OP_INPUT_HIDDEN)
                first = g->nodes[i];
        CU_ASSERT_EQUAL(first->op, k == 0 ? IR_OP_EMBED : IR_OP_INPUT_HIDDEN);
        CU_ASSERT_EQUAL(out->op, IR_OP_OUTPUT);
        CU_ASSERT_EQUAL(out->type.dim[0], k == 0 ? IR_DIM_T : 1);       /* every row, or the last one's logits */
        CU_ASSERT_EQUAL(out->type.dim[1], k == 0 ? 256 : N_VOCAB);
        test_ir_round_trip(g);
        ir_graph_free(g);
    }
    gguf_close(f);
}

/* the command line: bad values are one-line errors with a non-zero exit */
static void test_cli(void)
{
    static const test_cli_case cases[] = {
        {"run " MODEL " -p hi -n 1 --gpu-layers -3", 2, "--gpu-layers: '-3' is neither a count of layers"},
        {"run " MODEL " -p hi -n 1 --gpu-layers 3x", 2, "is neither a count of layers"},
        {"run " MODEL " -p hi -n 1 --backend gpu --gpu-layers 9", 1, "gpu layers '9': a count of layers from 0 to "
                                                                     "the model's 8, or auto"},
        {"bench " MODEL " -p 4 -n 1 --backend cpu --gpu-layers auto", 1, "gpu layers 'auto': the cpu backend has no "
                                                                         "GPU memory"},
        {"logits " MODEL " --tokens 1 --out /dev/null --gpu-layers 2", 1, "the cpu backend runs no layer on a GPU"},
        {"chat " MODEL " --backend cpu --gpu-mem-limit lots", 2, "--gpu-mem-limit: 'lots' is not a non-negative"},
        {"serve " MODEL " --gpu-layers", 2, "option '--gpu-layers' needs a value"},
    };
    test_cli_expect(cases, sizeof cases / sizeof cases[0]);
    char cmd[8192];
    /* `ir --gpu-layers 3`: the two parts, the second from the first's rows */
    snprintf(cmd, sizeof cmd, "%s ir %s --gpu-layers 3 --stage fused", test_rocmforge_bin(), MODEL);
    int status, sig;
    char *out = test_run(cmd, &status, &sig);
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT_TRUE(out != NULL && strstr(out, "# part 1 of 2 (gpu): the embedding and layers 0..2"));
    CU_ASSERT_TRUE(out != NULL && strstr(out, "# part 2 of 2 (cpu): from those rows (hidden), layers 3.."));
    CU_ASSERT_TRUE(out != NULL && strstr(out, "= hidden : f32[T,384]"));
    CU_ASSERT_TRUE(out != NULL && strstr(out, "blk.2.ffn_down") && !strstr(strstr(out, "# part 2"), "blk.2."));
    free(out);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("split", NULL, NULL);
    CU_add_test(s, "the models: three archs of four layers", generate_models);
    CU_add_test(s, "split sessions give the CPU's outputs bit for bit", test_split_equals_cpu);
    CU_add_test(s, "auto fits a memory limit", test_auto);
    CU_add_test(s, "rt_fit_layers: what fits, edge cases", test_fit);
    CU_add_test(s, "the parts' graphs: where they start and end, their text", test_parts_ir);
    CU_add_test(s, "the command line refuses bad values", test_cli);
    return test_main();
}
