/*
 * test_embed_conformance.c: embedding models (bert, nomic-bert) against
 * llama.cpp's embeddings, text by text.
 *
 * rf_gen_model writes a random-weight bert and nomic-bert (n_embd 128, 2
 * layers, 4 heads, n_ff 256, context 512) with the WordPiece vocabulary of
 * llama.cpp's ggml-vocab-bert-bge.gguf; llama_eval quantize makes F16, Q8_0
 * and Q4_0 of each (--pure: every matrix, token_embd too; token_types and
 * position_embd stay F32, as llama.cpp's quantize keeps them). TEXTS, of 3
 * to about 110 tokens, are tokenized by our tokenizer as llama.cpp's
 * embedding tool does (add_special, parse_special), and the ids must equal
 * llama.cpp's own (llama_ref tokenize --special --parse-special). Then for
 * every model and every pooling (none, mean, cls, last) llama.cpp's raw
 * embeddings (llama_eval embed: llama_get_embeddings_seq, or each token's
 * _ith with pooling none) and ours (rf_embed, normalize -1, in process on
 * the CPU) must have cosine >= 0.999 for every vector: each text's pooled
 * vector, and every token's with pooling none; and lengths within 1%
 * (the cosine alone would not see a mean that forgot to divide). The table prints the worst
 * cosine of each model and pooling, and the worst of all.
 *
 * Also: rf_embed's euclidean normalisation (the default, 2) is the raw
 * vector over its norm; `rocmforge embed --json` prints what rf_embed
 * returns; the model's own pooling_type is used when none is asked (bert's
 * fixture says cls, nomic-bert's mean); and the refusals: rf_session_eval on
 * an embedding model, rf_embed on a model that gives logits, a text longer
 * than the step, and GPU code generation for an embedding graph (named as
 * unsupported, so "auto" falls back to the CPU); and each encoder graph's
 * text form parses back to itself and its memory plans hold.
 */
#define _GNU_SOURCE
#include "plan_check.h"
#include "test_util.h"

#include "codegen/codegen.h"
#include "codegen/target.h"
#include "frontend/gguf.h"
#include "frontend/import.h"
#include "ir/passes/passes.h"
#include "rocmforge/rocmforge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define COS_MIN 0.999
#define N_EMBD 128

static const char *const TEXTS[] = {
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France? Paris is the capital and most populous city of France.",
    "Caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9, 3.14159 and 42 apples [SEP] co-operate!",
    "Embeddings map a text to a vector so that texts with similar meanings land near each other. "
    "A sentence encoder reads the whole text at once, every token attending to every other, and "
    "pools the token vectors into one: their mean, or the vector of the first token, which BERT "
    "calls CLS. The vectors are then usually normalised to unit length, so that a dot product is "
    "a cosine similarity, and a search is a nearest-neighbour lookup.",
    "a",
};
#define N_TEXTS (sizeof TEXTS / sizeof TEXTS[0])

static const char *const ARCHES[] = {"bert", "nomic-bert"};
#define N_ARCH 2
static const struct {
    const char *name, *quant; /* llama_eval quantize arguments; NULL: the F32 source */
} TYPES[] = {{"F32", NULL}, {"F16", "f16 --pure"}, {"Q8_0", "q8_0 --pure"}, {"Q4_0", "q4_0 --pure"}};
#define N_TYPES 4
static const char *const POOLINGS[] = {"none", "mean", "cls", "last"}; /* RF_POOLING_NONE + i */
#define N_POOL 4

static int have_ref;
static int32_t *ids[N_TEXTS];
static size_t n_ids[N_TEXTS];
static char src[N_ARCH][4400];
static double worst[N_ARCH][N_TYPES][N_POOL];
static int done[N_ARCH][N_TYPES][N_POOL];


static const char *vocab_path(void)
{
    static char buf[4400];
    snprintf(buf, sizeof buf, "%s/ggml-vocab-bert-bge.gguf", test_ref_models_dir());
    return buf;
}

static char *run(const char *cmd)
{
    int status, signo;
    char *out = test_run(cmd, &status, &signo);
    if (!out || status != 0) {
        fprintf(stderr, "\ncommand failed (status %d, signal %d): %s\n%.2000s\n", status, signo, cmd, out ? out : "");
        free(out);
        return NULL;
    }
    return out;
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

/* whitespace-separated numbers of a line into v (at most cap); the count */
static size_t parse_floats(const char *s, const char **end, float *v, size_t cap)
{
    size_t n = 0;
    while (*s && *s != '\n') {
        char *e;
        float x = strtof(s, &e);
        if (e == s)
            break;
        if (n < cap)
            v[n] = x;
        n++;
        s = e;
        while (*s == ' ' || *s == ',')
            s++;
    }
    if (end)
        *end = *s == '\n' ? s + 1 : s;
    return n;
}

/* ---- tokenization ------------------------------------------------------------- */

static void test_tokenize(void)
{
    CU_ASSERT_FATAL(have_ref);
    const char *inp = test_tmp_path("texts.inp");
    FILE *f = fopen(inp, "w");
    CU_ASSERT_FATAL(f != NULL);
    for (size_t t = 0; t < N_TEXTS; t++)
        fprintf(f, "%s\n__ggml_vocab_test__\n", TEXTS[t]);
    fclose(f);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s tokenize %s --special --parse-special < %s 2>&1", test_tool_bin("llama_ref"), vocab_path(), inp);
    char *out = run(cmd);
    CU_ASSERT_FATAL(out != NULL);
    rf_model *m = NULL;
    rf_error err = {0};
    CU_ASSERT_FATAL(rf_model_open(src[0], &m, &err) == RF_OK);
    const char *p = out;
    for (size_t t = 0; t < N_TEXTS; t++) {
        float ref[1024];
        size_t n = parse_floats(p, &p, ref, 1024);
        CU_ASSERT_EQUAL(rf_tokenize(m, TEXTS[t], strlen(TEXTS[t]), RF_TOK_ADD_SPECIAL | RF_TOK_PARSE_SPECIAL,
                                    &ids[t], &n_ids[t], &err), RF_OK);
        bool same = n == n_ids[t];
        for (size_t i = 0; same && i < n; i++)
            same = (int32_t)ref[i] == ids[t][i];
        if (!same)
            fprintf(stderr, "\ntext %zu: %zu ids from llama.cpp, %zu from us\n", t, n, n_ids[t]);
        CU_ASSERT(same);
    }
    printf("\n  texts: ");
    for (size_t t = 0; t < N_TEXTS; t++)
        printf("%s%zu", t ? ", " : "", n_ids[t]);
    printf(" tokens\n");
    rf_model_close(m);
    free(out);
}

/* ---- embeddings against llama.cpp ----------------------------------------------- */

/* llama.cpp's raw vectors for every text, one malloc'd array a text */
static float **ref_embed(const char *model, int pool, size_t E)
{
    const char *in = test_tmp_path("ids.txt");
    FILE *f = fopen(in, "w");
    if (!f)
        return NULL;
    for (size_t t = 0; t < N_TEXTS; t++)
        for (size_t i = 0; i < n_ids[t]; i++)
            fprintf(f, i + 1 < n_ids[t] ? "%d " : "%d\n", (int)ids[t][i]);
    fclose(f);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s embed %s --pooling %s --threads 2 < %s 2>&1", test_tool_bin("llama_eval"), model,
             POOLINGS[pool], in);
    char *out = run(cmd);
    if (!out)
        return NULL;
    float **v = calloc(N_TEXTS, sizeof *v);
    const char *p = out;
    for (size_t t = 0; v && t < N_TEXTS; t++) {
        size_t want = (pool == 0 ? n_ids[t] : 1) * E;
        v[t] = malloc(want * sizeof **v);
        if (!v[t] || parse_floats(p, &p, v[t], want) != want) {
            fprintf(stderr, "\nllama_eval embed: text %zu: not %zu numbers\n", t, want);
            CU_FAIL("llama_eval embed output");
        }
    }
    free(out);
    return v;
}

static void check_model(size_t a, size_t ty, const char *path)
{
    rf_model *m = NULL;
    rf_error err = {0};
    CU_ASSERT_FATAL(rf_model_open(path, &m, &err) == RF_OK);
    for (int pool = 0; pool < N_POOL; pool++) {
        float **ref = ref_embed(path, pool, N_EMBD);
        CU_ASSERT_FATAL(ref != NULL);
        rf_session *s = NULL;
        rf_session_options so = {.backend = "cpu", .n_threads = 2, .pooling = (rf_pooling)(RF_POOLING_NONE + pool)};
        if (rf_session_open(m, &so, &s, &err) != RF_OK)
            fprintf(stderr, "\n%s: %s\n", path, err.msg);
        CU_ASSERT_FATAL(s != NULL);
        CU_ASSERT_EQUAL(rf_session_n_embd(s), N_EMBD);
        CU_ASSERT_EQUAL(rf_session_pooling(s), (rf_pooling)(RF_POOLING_NONE + pool));
        double w = 1.0;
        for (size_t t = 0; t < N_TEXTS; t++) {
            size_t rows = pool == 0 ? n_ids[t] : 1;
            float *ours = malloc(rows * N_EMBD * sizeof *ours);
            CU_ASSERT_FATAL(ours != NULL);
            if (rf_embed(s, ids[t], n_ids[t], -1, ours, &err) != RF_OK) {
                fprintf(stderr, "\n%s: %s\n", path, err.msg);
                CU_FAIL("rf_embed");
            }
            for (size_t r = 0; r < rows; r++) {
                double c = cosine(ours + r * N_EMBD, ref[t] + r * N_EMBD, N_EMBD);
                w = c < w ? c : w;
                /* the cosine ignores scale; a mean that forgot its 1/T would not */
                double na = 0, nb = 0;
                for (int i = 0; i < N_EMBD; i++) {
                    na += (double)ours[r * N_EMBD + i] * ours[r * N_EMBD + i];
                    nb += (double)ref[t][r * N_EMBD + i] * ref[t][r * N_EMBD + i];
                }
                if (!(fabs(sqrt(na / nb) - 1.0) < 0.01)) {
                    fprintf(stderr, "\n%s text %zu row %zu: norm %g, llama.cpp's %g\n", path, t, r, sqrt(na), sqrt(nb));
                    CU_FAIL("the vector's length differs from llama.cpp's");
                }
            }
            free(ours);
            free(ref[t]);
        }
        free(ref);
        worst[a][ty][pool] = w;
        done[a][ty][pool] = 1;
        if (!(w >= COS_MIN))
            fprintf(stderr, "\n%s %s pooling %s: worst cosine %.6f < %.3f\n", ARCHES[a], TYPES[ty].name,
                    POOLINGS[pool], w, COS_MIN);
        CU_ASSERT(w >= COS_MIN);
        rf_session_close(s);
    }
    rf_model_close(m);
}

static void check_arch(size_t a)
{
    CU_ASSERT_FATAL(have_ref && n_ids[0]);
    for (size_t ty = 0; ty < N_TYPES; ty++) {
        if (!TYPES[ty].quant) {
            check_model(a, ty, src[a]);
            continue;
        }
        char out[4400], cmd[16384];
        snprintf(out, sizeof out, "%s/%s-%s.gguf", test_tmp_dir(), ARCHES[a], TYPES[ty].name);
        snprintf(cmd, sizeof cmd, "%s quantize %s %s %s --threads 2 2>&1", test_tool_bin("llama_eval"), src[a], out,
                 TYPES[ty].quant);
        char *o = run(cmd);
        CU_ASSERT(o != NULL);
        free(o);
        if (o)
            check_model(a, ty, out);
        unlink(out);
    }
}

static void test_bert(void) { check_arch(0); }
static void test_nomic_bert(void) { check_arch(1); }

static void test_table(void)
{
    double all = 1.0;
    printf("\n  worst cosine with llama.cpp (pooling none: over every token's vector)\n");
    printf("  %-11s %-5s %9s %9s %9s %9s\n", "arch", "type", "none", "mean", "cls", "last");
    for (size_t a = 0; a < N_ARCH; a++)
        for (size_t ty = 0; ty < N_TYPES; ty++) {
            printf("  %-11s %-5s", ARCHES[a], TYPES[ty].name);
            for (int p = 0; p < N_POOL; p++) {
                if (done[a][ty][p]) {
                    printf(" %9.7f", worst[a][ty][p]);
                    all = worst[a][ty][p] < all ? worst[a][ty][p] : all;
                } else {
                    printf(" %9s", "-");
                }
            }
            printf("\n");
        }
    printf("  worst of all: %.7f (bound %.3f)\n", all, COS_MIN);
}

/* ---- the API around it ---------------------------------------------------------- */

static void test_normalize_and_default_pooling(void)
{
    CU_ASSERT_FATAL(have_ref && n_ids[1]);
    for (size_t a = 0; a < N_ARCH; a++) {
        rf_model *m = NULL;
        rf_session *s = NULL, *s_cls = NULL;
        rf_error err = {0};
        CU_ASSERT_FATAL(rf_model_open(src[a], &m, &err) == RF_OK);
        rf_session_options so = {.backend = "cpu", .n_threads = 2};
        CU_ASSERT_FATAL(rf_session_open(m, &so, &s, &err) == RF_OK);
        /* the fixtures' pooling_type: bert cls (2), nomic-bert mean (1) */
        CU_ASSERT_EQUAL(rf_session_pooling(s), a == 0 ? RF_POOLING_CLS : RF_POOLING_MEAN);
        so.pooling = a == 0 ? RF_POOLING_CLS : RF_POOLING_MEAN;
        CU_ASSERT_FATAL(rf_session_open(m, &so, &s_cls, &err) == RF_OK);
        float raw[N_EMBD], unit[N_EMBD], same[N_EMBD];
        CU_ASSERT_EQUAL(rf_embed(s, ids[1], n_ids[1], -1, raw, &err), RF_OK);
        CU_ASSERT_EQUAL(rf_embed(s, ids[1], n_ids[1], 2, unit, &err), RF_OK);
        CU_ASSERT_EQUAL(rf_embed(s_cls, ids[1], n_ids[1], -1, same, &err), RF_OK);
        CU_ASSERT_EQUAL(memcmp(raw, same, sizeof raw), 0);
        double norm = 0, dev = 0;
        for (int i = 0; i < N_EMBD; i++)
            norm += (double)raw[i] * raw[i];
        norm = sqrt(norm);
        double sq = 0;
        for (int i = 0; i < N_EMBD; i++) {
            sq += (double)unit[i] * unit[i];
            dev = fmax(dev, fabs(unit[i] - raw[i] / norm));
        }
        CU_ASSERT(fabs(sq - 1.0) < 1e-5);
        CU_ASSERT(dev < 1e-6);
        /* a text evaluated twice, and after another, is the same: nothing stays in the cache */
        float again[N_EMBD];
        CU_ASSERT_EQUAL(rf_embed(s, ids[4], n_ids[4], -1, again, &err), RF_OK);
        CU_ASSERT_EQUAL(rf_embed(s, ids[1], n_ids[1], -1, again, &err), RF_OK);
        CU_ASSERT_EQUAL(memcmp(raw, again, sizeof raw), 0);
        rf_session_close(s_cls);
        rf_session_close(s);
        rf_model_close(m);
    }
}

static void test_cli(void)
{
    CU_ASSERT_FATAL(have_ref && n_ids[2]);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s embed %s '%s' '%s' --json --backend cpu --threads 2 --pooling mean 2>/dev/null",
             test_rocmforge_bin(), src[0], TEXTS[2], TEXTS[0]);
    char *out = run(cmd);
    CU_ASSERT_FATAL(out != NULL);
    rf_model *m = NULL;
    rf_session *s = NULL;
    rf_error err = {0};
    CU_ASSERT_FATAL(rf_model_open(src[0], &m, &err) == RF_OK);
    rf_session_options so = {.backend = "cpu", .n_threads = 2, .pooling = RF_POOLING_MEAN};
    CU_ASSERT_FATAL(rf_session_open(m, &so, &s, &err) == RF_OK);
    const char *p = out;
    CU_ASSERT(p[0] == '[' && p[1] == '[');
    for (size_t k = 0; k < 2; k++) {
        size_t t = k == 0 ? 2 : 0;
        float lib[N_EMBD], cli[N_EMBD + 1];
        CU_ASSERT_EQUAL(rf_embed(s, ids[t], n_ids[t], 2, lib, &err), RF_OK);
        p = strchr(p, '[');
        while (p && *p == '[')
            p++;
        CU_ASSERT_FATAL(p != NULL);
        CU_ASSERT_EQUAL(parse_floats(p, &p, cli, N_EMBD + 1), N_EMBD);
        CU_ASSERT_EQUAL(memcmp(lib, cli, sizeof lib), 0); /* %.9g is exact for f32 */
    }
    rf_session_close(s);
    rf_model_close(m);
    free(out);
}

static void test_refusals(void)
{
    CU_ASSERT_FATAL(have_ref && n_ids[0]);
    rf_model *m = NULL, *dec = NULL;
    rf_session *s = NULL, *ds = NULL;
    rf_error err = {0};
    CU_ASSERT_FATAL(rf_model_open(src[0], &m, &err) == RF_OK);
    rf_session_options so = {.backend = "cpu", .n_threads = 2, .n_ubatch = 8};
    CU_ASSERT_FATAL(rf_session_open(m, &so, &s, &err) == RF_OK);
    float v[N_EMBD], logits[8];
    CU_ASSERT_EQUAL(rf_session_eval(s, 0, ids[0], n_ids[0], NULL, &err), RF_E_UNSUPPORTED);
    CU_ASSERT(strstr(err.msg, "embedding model") != NULL);
    CU_ASSERT_EQUAL(rf_embed(s, ids[2], n_ids[2], 2, v, &err), RF_E_ARG); /* longer than the step of 8 */
    CU_ASSERT(strstr(err.msg, "one step") != NULL);
    CU_ASSERT_EQUAL(rf_embed(s, ids[0], 0, 2, v, &err), RF_E_ARG);
    CU_ASSERT_EQUAL(rf_embed(s, ids[0], n_ids[0], 2, v, &err), RF_OK); /* and still works */
    rf_session_close(s);
    so.n_seq = 2; /* a text is a step of its own */
    CU_ASSERT_EQUAL(rf_session_open(m, &so, &s, &err), RF_E_ARG);
    (void)logits;

    CU_ASSERT_FATAL(rf_model_open(RF_SOURCE_DIR "/models/kjv-tiny-llama-q8_0.gguf", &dec, &err) == RF_OK);
    rf_session_options dso = {.backend = "cpu", .n_threads = 2, .n_ctx = 64};
    CU_ASSERT_FATAL(rf_session_open(dec, &dso, &ds, &err) == RF_OK);
    int32_t one = 1;
    CU_ASSERT_EQUAL(rf_embed(ds, &one, 1, 2, v, &err), RF_E_UNSUPPORTED);
    CU_ASSERT(strstr(err.msg, "not an embedding model") != NULL);
    CU_ASSERT(!rf_session_is_embedding(ds));
    rf_session_close(ds);
    rf_model_close(dec);
    rf_model_close(m);

    /* the GPU's code generation names what it cannot run */
    gguf_file *f = NULL;
    ir_graph *g = NULL;
    CU_ASSERT_FATAL(gguf_open(src[1], &f, &err) == RF_OK);
    CU_ASSERT_FATAL(import_model(f, NULL, &g, &err) == RF_OK);
    ir_pipeline_options po = {.max_tokens = 64};
    CU_ASSERT_FATAL(ir_run_pipeline(g, &po, &err) == RF_OK);
    cg_arch arch;
    CU_ASSERT_FATAL(cg_arch_parse("gfx90a", &arch, &err) == RF_OK);
    cg_program *p = NULL;
    CU_ASSERT_EQUAL(cg_generate(g, &arch, NULL, &p, &err), RF_E_UNSUPPORTED);
    CU_ASSERT(strstr(err.msg, "embedding model") != NULL && strstr(err.msg, "GPU") != NULL);
    cg_program_free(p);
    ir_graph_free(g);
    gguf_close(f);
}

/* Every encoder graph (each pooling) prints and parses back to the same
 * text, and its memory plan, fused or not, never overlaps live values. */
static void test_ir(void)
{
    CU_ASSERT_FATAL(have_ref);
    for (size_t a = 0; a < N_ARCH; a++) {
        gguf_file *f = NULL;
        rf_error err = {0};
        CU_ASSERT_FATAL(gguf_open(src[a], &f, &err) == RF_OK);
        for (int pool = 0; pool < N_POOL; pool++)
            for (int fused = 0; fused < 2; fused++) {
                import_options io = {.pooling = (rf_pooling)(RF_POOLING_NONE + pool)};
                ir_graph *g = NULL;
                CU_ASSERT_FATAL(import_model(f, &io, &g, &err) == RF_OK);
                CU_ASSERT_EQUAL(g->model.embedding, 1);
                CU_ASSERT_EQUAL(g->model.pooling, (uint32_t)pool);
                char what[64];
                snprintf(what, sizeof what, "%s pooling %s", ARCHES[a], POOLINGS[pool]);
                CU_ASSERT(test_check_round_trip(g, what));
                char *text = NULL;
                size_t len = 0;
                FILE *m = open_memstream(&text, &len);
                ir_print(g, m);
                fclose(m);
                CU_ASSERT(strstr(text, "noncausal=1") != NULL);
                CU_ASSERT((strstr(text, "= pool ") != NULL) == (pool != 0));
                ir_pipeline_options po = {.max_tokens = 64,
                                          .disable = fused ? NULL : "fuse-qkv,fuse-norm,fuse-epilogue,fuse-rope-kv"};
                CU_ASSERT_EQUAL(ir_run_pipeline(g, &po, &err), RF_OK);
                CU_ASSERT_EQUAL(test_check_memplan(g, what), 0);
                free(text);
                ir_graph_free(g);
            }
        gguf_close(f);
    }
}

/* ---- set-up ---------------------------------------------------------------------- */

static int suite_init(void)
{
    char path[4400];
    struct stat st;
    snprintf(path, sizeof path, "%s/lib/libllama.v0.5.0.so", test_ref_dir());
    if (stat(path, &st) != 0 || stat(vocab_path(), &st) != 0) {
        fprintf(stderr, "reference missing under %s: run scripts/fetch-reference.sh\n", test_ref_dir());
        return 0;
    }
    for (size_t a = 0; a < N_ARCH; a++) {
        snprintf(src[a], sizeof src[a], "%s/%s.gguf", test_tmp_dir(), ARCHES[a]);
        char cmd[16384];
        snprintf(cmd, sizeof cmd, "%s --arch %s --vocab %s --n-embd %d --n-layer 2 --n-head 4 --n-ff 256 --ctx 512 "
                 "--seed %zu -o %s 2>&1", test_tool_bin("rf_gen_model"), ARCHES[a], vocab_path(), N_EMBD, 7 + a, src[a]);
        char *o = run(cmd);
        if (!o)
            return 0;
        free(o);
    }
    have_ref = 1;
    return 0;
}

static int suite_clean(void)
{
    for (size_t a = 0; a < N_ARCH; a++)
        if (src[a][0])
            unlink(src[a]);
    unlink(test_tmp_path("texts.inp"));
    unlink(test_tmp_path("ids.txt"));
    for (size_t t = 0; t < N_TEXTS; t++)
        free(ids[t]);
    rmdir(test_tmp_dir());
    return 0;
}

int main(void)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("embedding models", suite_init, suite_clean);
    CU_add_test(s, "tokenization equals llama.cpp's", test_tokenize);
    CU_add_test(s, "bert: F32, F16, Q8_0, Q4_0 x 4 poolings", test_bert);
    CU_add_test(s, "nomic-bert: F32, F16, Q8_0, Q4_0 x 4 poolings", test_nomic_bert);
    CU_add_test(s, "table", test_table);
    CU_add_test(s, "normalisation and the model's pooling", test_normalize_and_default_pooling);
    CU_add_test(s, "rocmforge embed --json", test_cli);
    CU_add_test(s, "refusals", test_refusals);
    CU_add_test(s, "IR: text round trip, memory plans", test_ir);
    int rc = test_main();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("test_embed_conformance: %.1f s\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return rc;
}
