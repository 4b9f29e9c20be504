/*
 * test_fixtures.c: the model fixtures and llama.cpp's side of the logits
 * comparison, checked before anything of ours is compared with them.
 *
 * For each arch (llama, qwen2, qwen3, phi3, gemma2, gemma3) rf_gen_model
 * writes a small random-weight F32 model with the llama-spm vocabulary
 * (n_embd 256, 2 layers, 4 heads over 2 KV heads, n_ff 512: every row length
 * a multiple of 256, so the k-quants apply without fallback), then:
 *   - our reader accepts it and it holds the arch's tensors;
 *   - llama_eval logits returns 24 rows of finite, non-constant logits for a
 *     fixed 24-token sequence, and llama_eval generate's first greedy token
 *     is the argmax of the last row (the two commands agree);
 *   - for every type of QUANT_TYPES, llama_eval quantize succeeds, our reader
 *     accepts the output, llama.cpp loads and evaluates it, and the cosine
 *     of its logits with the F32 model's (all 24 rows as one vector) is
 *     > 0.9, or a lower floor for the sub-4-bit types (see cos_floor).
 * Each arch exercises what sets it apart: llama an untied head and llama3
 * rope_freqs, qwen2 QKV biases and a tied head, qwen3 q/k norms with
 * head_dim 128 != n_embd/n_head, phi3 fused QKV and gate+up, gemma2 softcaps
 * and an 8-token sliding window, gemma3 q/k norms and alternating local/global
 * layers with two rope bases. The cosine table is printed, as the record of
 * which combinations llama.cpp handles.
 *
 * The files live in the suite's scratch directory and each quantized model is
 * removed once checked. A missing reference library fails the suite.
 */
#include "test_util.h"

#include "frontend/gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_TOKENS 24
#define COS_MIN 0.9

/* Below ~4 bits per weight, random Gaussian weights without an imatrix lose
 * more than a trained model does (measured: q2_k 0.64..0.88, q3_k_m
 * 0.88..0.97, pure MXFP4 0.88..0.94 over the six archs), so those types get
 * a floor that still tells a working dequantizer from a broken one. */
static double cos_floor(const char *type)
{
    if (!strcmp(type, "q2_k"))
        return 0.5;
    if (!strcmp(type, "q3_k_m") || !strcmp(type, "mxfp4 --pure"))
        return 0.8;
    return COS_MIN;
}

static const char *QUANT_TYPES[] = {
    "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k_m", "q4_k_m", "q5_k_m",
    "q6_k", "iq4_nl", "iq4_xs", "mxfp4", "mxfp4 --pure", "f16", "bf16", "f32",
};
#define N_QUANT (sizeof QUANT_TYPES / sizeof QUANT_TYPES[0])

typedef struct arch_case {
    const char *arch;
    const char *extra;      /* rf_gen_model options beyond the common ones */
    const char *must_have;  /* a tensor only this arch has */
    int tied;
} arch_case;

static const arch_case CASES[] = {
    {"llama", "--untied --llama3-rope 8,1,4,64", "rope_freqs.weight", 0},
    {"qwen2", "--tied", "blk.0.attn_k.bias", 1},
    {"qwen3", "--untied --head-dim 128", "blk.1.attn_q_norm.weight", 0},
    {"phi3", "--untied", "blk.0.attn_qkv.weight", 0},
    {"gemma2", "--swa 8", "blk.1.post_ffw_norm.weight", 1},
    {"gemma3", "--swa 8 --swa-pattern 2 --rope-base 1000000 --rope-base-swa 10000",
     "blk.0.attn_k_norm.weight", 1},
};

static char tokens[N_TOKENS * 8];
static int have_ref; /* a suite init failure would not fail the run */
static char cos_table[8][N_QUANT][16];

static const char *bin(const char *name)
{
    static char buf[2][4352];
    static int slot;
    char *b = buf[slot++ & 1];
    snprintf(b, sizeof buf[0], "%s/tests/%s", RF_BINARY_DIR, name);
    return b;
}

static const char *vocab_path(void)
{
    static char buf[4400];
    snprintf(buf, sizeof buf, "%s/ggml-vocab-llama-spm.gguf", test_ref_models_dir());
    return buf;
}

/* Runs cmd; prints it and its output when it fails. Returns stdout or NULL. */
static char *run(const char *cmd)
{
    int status, signo;
    char *out = test_run(cmd, &status, &signo);
    if (!out || status != 0) {
        fprintf(stderr, "\ncommand failed (status %d, signal %d): %s\n%s\n", status, signo, cmd,
                out ? out : "");
        free(out);
        return NULL;
    }
    return out;
}

/* Logits of the fixed sequence, n_vocab per row; NULL on failure. */
static float *eval_logits(const char *model, size_t n_vocab)
{
    const char *out = test_tmp_path("logits.bin");
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s logits %s --tokens '%s' --out %s --threads 2 2>&1",
             bin("llama_eval"), model, tokens, out);
    char *o = run(cmd);
    if (!o)
        return NULL;
    free(o);
    size_t len;
    char *data = test_read_file(out, &len);
    if (!data || len != N_TOKENS * n_vocab * sizeof(float)) {
        fprintf(stderr, "\n%s: %zu bytes of logits, expected %zu\n", model, data ? len : 0,
                N_TOKENS * n_vocab * sizeof(float));
        free(data);
        return NULL;
    }
    unlink(out);
    return (float *)data; /* malloc'd; float-aligned */
}

/* Every value finite and every row spread (sd > 0.05). */
static int logits_sane(const float *l, size_t n_vocab)
{
    for (size_t r = 0; r < N_TOKENS; r++) {
        const float *row = l + r * n_vocab;
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n_vocab; i++) {
            if (!isfinite(row[i]))
                return 0;
            s += row[i];
            s2 += (double)row[i] * row[i];
        }
        double m = s / n_vocab;
        if (s2 / n_vocab - m * m < 0.05 * 0.05)
            return 0;
    }
    return 1;
}

/* Cosine of the whole n_tokens x n_vocab matrices, and the worst row's. */
static double cosine(const float *a, const float *b, size_t n_vocab, double *min_row)
{
    double tab = 0, taa = 0, tbb = 0;
    *min_row = 1.0;
    for (size_t r = 0; r < N_TOKENS; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (size_t i = 0; i < n_vocab; i++) {
            double x = a[r * n_vocab + i], y = b[r * n_vocab + i];
            ab += x * y, aa += x * x, bb += y * y;
        }
        double c = ab / sqrt(aa * bb + 1e-30);
        if (c < *min_row)
            *min_row = c;
        tab += ab, taa += aa, tbb += bb;
    }
    return tab / sqrt(taa * tbb + 1e-30);
}

static int reader_accepts(const char *path, const char *must_have, size_t *n_vocab)
{
    gguf_file *f;
    rf_error err = {0};
    if (gguf_open(path, &f, &err) != RF_OK) {
        fprintf(stderr, "\nour reader rejects %s: %s\n", path, err.msg);
        return 0;
    }
    int ok = gguf_find_tensor(f, "token_embd.weight") && gguf_find_tensor(f, must_have);
    const gguf_kv *toks;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STRING, &toks, &err) == RF_OK) {
        if (n_vocab)
            *n_vocab = (size_t)toks->arr_n;
    } else {
        ok = 0;
    }
    gguf_close(f);
    return ok;
}

static void check_arch(size_t k)
{
    const arch_case *c = &CASES[k];
    char model[4400], cmd[16384];
    CU_ASSERT_TRUE_FATAL(have_ref);
    snprintf(model, sizeof model, "%s/%s-src.gguf", test_tmp_dir(), c->arch);
    snprintf(cmd, sizeof cmd,
             "%s --arch %s --vocab %s --n-embd 256 --n-layer 2 --n-head 4 --n-head-kv 2 "
             "--n-ff 512 --ctx 4096 --seed %zu %s -o %s 2>&1",
             bin("rf_gen_model"), c->arch, vocab_path(), k + 1, c->extra, model);
    char *o = run(cmd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    free(o);

    size_t n_vocab = 0;
    CU_ASSERT_TRUE_FATAL(reader_accepts(model, c->must_have, &n_vocab));
    CU_ASSERT_EQUAL_FATAL(n_vocab, 32000);
    {
        gguf_file *f;
        CU_ASSERT_EQUAL_FATAL(gguf_open(model, &f, NULL), RF_OK);
        CU_ASSERT_EQUAL(gguf_find_tensor(f, "output.weight") == NULL, c->tied);
        gguf_close(f);
    }

    float *ref = eval_logits(model, n_vocab);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    CU_ASSERT_TRUE(logits_sane(ref, n_vocab));

    /* generate's first token is the argmax of logits' last row */
    snprintf(cmd, sizeof cmd, "%s generate %s --prompt-ids '%s' -n 4 --threads 2 2>/dev/null",
             bin("llama_eval"), model, tokens);
    o = run(cmd);
    CU_ASSERT_PTR_NOT_NULL(o);
    if (o) {
        const float *last = ref + (N_TOKENS - 1) * n_vocab;
        size_t best = 0;
        for (size_t i = 1; i < n_vocab; i++)
            if (last[i] > last[best])
                best = i;
        CU_ASSERT_EQUAL(strtol(o, NULL, 10), (long)best);
        free(o);
    }

    for (size_t q = 0; q < N_QUANT; q++) {
        char qpath[4400], type[32];
        snprintf(type, sizeof type, "%s", QUANT_TYPES[q]);
        type[strcspn(type, " ")] = 0;
        snprintf(qpath, sizeof qpath, "%s/%s-%s.gguf", test_tmp_dir(), c->arch, type);
        snprintf(cmd, sizeof cmd, "%s quantize %s %s %s --threads 2 2>&1",
                 bin("llama_eval"), model, qpath, QUANT_TYPES[q]);
        snprintf(cos_table[k][q], sizeof cos_table[k][q], "FAIL");
        o = run(cmd);
        CU_ASSERT_PTR_NOT_NULL(o);
        if (!o)
            continue;
        const char *types = strstr(o, "types ");
        CU_ASSERT_PTR_NOT_NULL(types);
        if (!strcmp(QUANT_TYPES[q], "mxfp4 --pure"))
            CU_ASSERT(types && strstr(types, "mxfp4=") != NULL);
        free(o);
        CU_ASSERT_TRUE(reader_accepts(qpath, c->must_have, NULL));

        float *l = eval_logits(qpath, n_vocab);
        CU_ASSERT_PTR_NOT_NULL(l);
        if (l) {
            CU_ASSERT_TRUE(logits_sane(l, n_vocab));
            double min_row, cs = cosine(ref, l, n_vocab, &min_row);
            snprintf(cos_table[k][q], sizeof cos_table[k][q], "%.3f/%.3f", cs, min_row);
            if (!(cs > cos_floor(QUANT_TYPES[q])))
                fprintf(stderr, "\n%s %s: cosine %.4f\n", c->arch, QUANT_TYPES[q], cs);
            CU_ASSERT_TRUE(cs > cos_floor(QUANT_TYPES[q]));
            free(l);
        }
        unlink(qpath);
    }
    free(ref);
    unlink(model);
}

#define ARCH_TEST(i) static void test_arch_##i(void) { check_arch(i); }
ARCH_TEST(0)
ARCH_TEST(1)
ARCH_TEST(2)
ARCH_TEST(3)
ARCH_TEST(4)
ARCH_TEST(5)

static void test_print_table(void)
{
    printf("\n  cosine of llama.cpp's logits with the F32 model's: all 24 rows / worst row\n  %-14s", "type");
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++)
        printf(" %-11s", CASES[k].arch);
    printf("\n");
    for (size_t q = 0; q < N_QUANT; q++) {
        printf("  %-14s", QUANT_TYPES[q]);
        for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++)
            printf(" %-11s", cos_table[k][q][0] ? cos_table[k][q] : "-");
        printf("\n");
    }
    CU_PASS("table printed");
}

static int suite_init(void)
{
    char path[4400];
    struct stat st;
    snprintf(path, sizeof path, "%s/lib/libllama.v0.5.0.so", test_ref_dir());
    if (stat(path, &st) != 0 || stat(vocab_path(), &st) != 0) {
        fprintf(stderr, "reference missing under %s: run scripts/fetch-reference.sh\n",
                test_ref_dir());
        return 0;
    }
    have_ref = 1;
    uint64_t s = 24;
    size_t n = 0;
    for (int i = 0; i < N_TOKENS; i++)
        n += (size_t)snprintf(tokens + n, sizeof tokens - n, i ? " %u" : "%u",
                              (unsigned)(3 + test_rand(&s) % 31997));
    return 0;
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("fixtures", suite_init, NULL);
    CU_add_test(s, "llama: llama3 rope, untied head", test_arch_0);
    CU_add_test(s, "qwen2: qkv biases, tied head", test_arch_1);
    CU_add_test(s, "qwen3: q/k norms, head_dim 128", test_arch_2);
    CU_add_test(s, "phi3: fused qkv and gate+up", test_arch_3);
    CU_add_test(s, "gemma2: softcaps, sliding window", test_arch_4);
    CU_add_test(s, "gemma3: q/k norms, local/global layers", test_arch_5);
    CU_add_test(s, "cosine table", test_print_table);
    return test_main();
}
