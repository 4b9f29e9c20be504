/*
 * test_quantize.c: `rocmforge quantize` against llama.cpp's quantizer
 * (llama_eval quantize: libllama's llama_model_quantize, no imatrix), byte
 * for byte.
 *
 * Models (rf_gen_model, random weights, n_embd 256, n_ff 512, 4 heads over
 * 2 KV heads, and a 1024-token slice of the llama-spm vocabulary so that
 * the embedding does not dominate the run time), each chosen for the rules
 * it reaches:
 *   llama8     8 layers, untied head: use_more_bits and the attn_v/ffn_down
 *              counters, the Q3_K_M / Q4_K_S "first few" rules; also --pure
 *   qwen2      tied head: token_embd typed as the head
 *   qwen3moe   4 experts: ffn layers read from names, MXFP4_MOE's experts
 *   experts8   llama with 8 experts: the 8-expert rules (Q8_0 attn_v/attn_k,
 *              Q5_K attn_output)
 *   gemma2     tied, extra norms
 *   phi3       fused attn_qkv (an attn_v for the rules) and a 2*n_ff ffn_up
 *   odd        n_embd 384, n_ff 1000: rows 256 does not divide, and 1000
 *              that 32 does not: every fallback, F16 included
 *   llama_f16  an F16 input (dequantized before quantizing)
 *   llama_q8_0 an already quantized input (requantized; Q8_0 copied)
 * For every file type we write, each model is quantized by both (at the
 * same time, one thread each) and the files compared; on a mismatch the
 * message names the first differing byte and the key, tensor header or
 * tensor data it falls in. Then the error paths: unknown and unsupported
 * types, a missing input, an output that cannot be created, a write that
 * fails half way (a file size limit), a tensor type that cannot be
 * dequantized; none may leave an output (or a temporary) behind, and an
 * existing output must survive a failed run untouched.
 *
 * A missing reference library fails the suite (it is a conformance suite).
 */
#define _GNU_SOURCE
#include "test_util.h"

#include "frontend/gguf.h"
#include "runtime/quantize.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMALL_VOCAB 1024

/* q1_0 last: the odd model's rows of 1000 have no q1_0 form (error_q1_0) */
static const char *const TYPES[] = {
    "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m",
    "q5_k_s", "q5_k_m", "q6_k", "iq4_nl", "iq4_xs", "mxfp4_moe", "f16", "bf16", "f32", "q2_0", "q1_0",
};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])

static const struct model {
    const char *name;
    const char *args;   /* rf_gen_model's, after the common ones (later options win) */
    bool pure_too;      /* also every type with --pure */
} MODELS[] = {
    {"llama8", "--arch llama --n-layer 8 --untied", true},
    {"qwen2", "--arch qwen2 --n-layer 2 --tied", false},
    {"qwen3moe", "--arch qwen3moe --n-layer 2 --experts 4,2 --n-ff-exp 256", false},
    {"experts8", "--arch llama --n-layer 2 --experts 8,2 --n-ff 256", false},
    {"gemma2", "--arch gemma2 --n-layer 2", false},
    {"phi3", "--arch phi3 --n-layer 2", false},
    {"odd", "--arch llama --n-layer 2 --n-embd 384 --n-head 6 --n-head-kv 2 --n-ff 1000", false},
#define ODD_MODEL 6
    {"llama_f16", "--arch llama --n-layer 2 --untied --f16", false},
    {"llama_q8_0", "--arch llama --n-layer 2 --untied --type q8_0", false},
};
#define N_MODELS (sizeof MODELS / sizeof MODELS[0])

static bool have_ref;
static char vocab_path[4200];


static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- the small vocabulary ---------------------------------------------- */

/* The llama-spm vocabulary's tokenizer keys, its token arrays cut to the
 * first SMALL_VOCAB entries (the specials and the byte tokens come first). */
static bool make_small_vocab(const char *out)
{
    char src[4200];
    snprintf(src, sizeof src, "%s/ggml-vocab-llama-spm.gguf", test_ref_models_dir());
    gguf_file *f;
    rf_error err = {0};
    if (gguf_open(src, &f, &err) != RF_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return false;
    }
    gguf_writer *w = gguf_writer_new(3);
    gguf_writer_set_str(w, "general.architecture", "llama", 5);
    const gguf_kv *tokens = gguf_find_kv(f, "tokenizer.ggml.tokens");
    uint64_t n_vocab = tokens ? tokens->arr_n : 0;
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        if (strncmp(key, "tokenizer.", 10) != 0)
            continue;
        if (kv->type == GGUF_VT_ARRAY && kv->arr_n == n_vocab) {
            if (kv->arr_type == GGUF_VT_STRING)
                gguf_writer_set_arr_str(w, key, kv->arr_strs, SMALL_VOCAB);
            else
                gguf_writer_set_arr(w, key, kv->arr_type, kv->arr_data, SMALL_VOCAB);
        } else if (kv->type == GGUF_VT_STRING) {
            gguf_writer_set_str(w, key, kv->val.str.ptr, (size_t)kv->val.str.len);
        } else if (kv->type == GGUF_VT_UINT32) {
            gguf_writer_set_u32(w, key, (uint32_t)kv->val.u64);
        } else if (kv->type == GGUF_VT_BOOL) {
            gguf_writer_set_bool(w, key, kv->val.u64 != 0);
        }
    }
    bool ok = gguf_writer_write(w, out, &err) == RF_OK;
    if (!ok)
        fprintf(stderr, "%s\n", err.msg);
    gguf_writer_free(w);
    gguf_close(f);
    return ok;
}

static const char *model_path(size_t k)
{
    static char buf[N_MODELS][4200];
    snprintf(buf[k], sizeof buf[k], "%s", test_tmp_path(MODELS[k].name));
    return buf[k];
}

static int suite_init(void)
{
    char lib[4400];
    snprintf(lib, sizeof lib, "%s/lib/libllama.v0.5.0.so", test_ref_dir());
    if (!exists(lib)) {
        fprintf(stderr, "llama.cpp reference missing under %s: run scripts/fetch-reference.sh\n", test_ref_dir());
        return 0;
    }
    snprintf(vocab_path, sizeof vocab_path, "%s", test_tmp_path("vocab-1024.gguf"));
    if (!make_small_vocab(vocab_path))
        return 0;
    for (size_t k = 0; k < N_MODELS; k++) {
        char cmd[16384];
        snprintf(cmd, sizeof cmd, "%s --vocab %s --n-embd 256 --n-ff 512 --n-head 4 --n-head-kv 2 -t 2 %s -o %.4100s 2>&1",
                 test_tool_bin("rf_gen_model"), vocab_path, MODELS[k].args, model_path(k));
        int st, sig;
        char *out = test_run(cmd, &st, &sig);
        if (st != 0) {
            fprintf(stderr, "%s\n%s\n", cmd, out ? out : "");
            free(out);
            return 0;
        }
        free(out);
    }
    have_ref = true;
    return 0;
}

static int suite_clean(void)
{
    for (size_t k = 0; k < N_MODELS; k++)
        unlink(model_path(k));
    unlink(vocab_path);
    rmdir(test_tmp_dir());
    return 0;
}

/* ---- comparing two GGUF files ---------------------------------------------- */

/* What byte off of the reference file f is: a key, a tensor's header
 * record, a tensor's data, or padding. */
static void locate(const gguf_file *f, uint64_t off, char *out, size_t n)
{
    const char *what = "the file header";
    char buf[512];
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        if (kv->offset <= off) {
            snprintf(buf, sizeof buf, "key #%llu '%.*s'", (unsigned long long)i, (int)kv->key.len, kv->key.ptr);
            what = buf;
        }
    }
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (t->info_offset <= off) {
            snprintf(buf, sizeof buf, "the header record of tensor #%llu '%.*s'", (unsigned long long)i,
                     (int)t->name.len, t->name.ptr);
            what = buf;
        }
    }
    uint64_t data = gguf_data_offset(f);
    if (off >= data) {
        snprintf(buf, sizeof buf, "padding");
        what = buf;
        for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
            const gguf_tensor *t = gguf_tensor_at(f, i);
            if (off >= data + t->offset && off < data + t->offset + t->n_bytes) {
                const ggml_type_traits *tt = ggml_type_get(t->type);
                snprintf(buf, sizeof buf, "the data of tensor #%llu '%.*s' (%s), its byte %llu",
                         (unsigned long long)i, (int)t->name.len, t->name.ptr, tt ? tt->name : "?",
                         (unsigned long long)(off - data - t->offset));
            }
        }
    }
    snprintf(out, n, "%s", what);
}

/* NULL when the files are equal, else a message (static buffer). */
static const char *compare_files(const char *ref, const char *ours)
{
    static char msg[1400];
    size_t n_ref, n_ours;
    char *a = test_read_file(ref, &n_ref), *b = test_read_file(ours, &n_ours);
    if (!a || !b) {
        snprintf(msg, sizeof msg, "cannot read %.1000s", a ? ours : ref);
        free(a);
        free(b);
        return msg;
    }
    size_t n = n_ref < n_ours ? n_ref : n_ours, off = 0;
    while (off < n && a[off] == b[off])
        off++;
    const char *res = NULL;
    if (off < n || n_ref != n_ours) {
        char where[600] = "the end of the shorter file";
        gguf_file *f;
        rf_error err = {0};
        if (off < n && gguf_open(ref, &f, &err) == RF_OK) {
            locate(f, off, where, sizeof where);
            gguf_close(f);
        }
        snprintf(msg, sizeof msg, "first difference at byte %zu (sizes %zu llama.cpp, %zu ours): in %s", off,
                 n_ref, n_ours, where);
        res = msg;
    }
    free(a);
    free(b);
    return res;
}

/* ---- the comparison ---------------------------------------------------- */

/* Both quantizers on one model, side by side: llama_eval writes every
 * type in one process (ggml sets up its i-quant lattices once), we run
 * once per type; extra goes to both (--pure, --imatrix FILE). A failure
 * message for the first type that differs, or NULL. */
static const char *quantize_both(size_t k, const char *const *types, size_t n, const char *extra)
{
    static char msg[2000];
    char refs[8192] = "", list[2048] = "", ours[64][4200], cmd[40000];
    if (n > 64)
        return "too many types for one run";
    size_t at = 0, lt = 0;
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "ref-%zu.gguf", i);
        at += (size_t)snprintf(refs + at, sizeof refs - at, "%s%s", i ? "," : "", test_tmp_path(name));
        lt += (size_t)snprintf(list + lt, sizeof list - lt, "%s%s", i ? "," : "", types[i]);
        snprintf(name, sizeof name, "ours-%zu.gguf", i);
        snprintf(ours[i], sizeof ours[i], "%s", test_tmp_path(name));
    }
    size_t c = (size_t)snprintf(cmd, sizeof cmd, "( %s quantize %s %s %s%s --threads 1 >/dev/null 2>&1; echo \"ref $?\" ) & (",
                                test_tool_bin("llama_eval"), model_path(k), refs, list, extra);
    for (size_t i = 0; i < n; i++)
        c += (size_t)snprintf(cmd + c, sizeof cmd - c, " %s quantize %s %s %s%s --threads 1 >/dev/null 2>&1 || echo \"ours %zu failed\";",
                              test_rocmforge_bin(), model_path(k), ours[i], types[i], extra, i);
    snprintf(cmd + c, sizeof cmd - c, " echo ours done ); wait");
    int st, sig;
    char *out = test_run(cmd, &st, &sig);
    const char *res = NULL;
    if (!out || !strstr(out, "ref 0")) {
        snprintf(msg, sizeof msg, "llama_eval quantize failed (%s)", out ? out : "no output");
        res = msg;
    } else if (strstr(out, "failed")) {
        snprintf(msg, sizeof msg, "rocmforge quantize failed (%s)", out);
        res = msg;
    }
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "ref-%zu.gguf", i);
        const char *why = res ? NULL : compare_files(test_tmp_path(name), ours[i]);
        if (why) {
            snprintf(msg, sizeof msg, "%s: %s", types[i], why);
            res = msg;
        }
        unlink(test_tmp_path(name));
        unlink(ours[i]);
    }
    free(out);
    return res;
}

static void compare_model(size_t k)
{
    if (!have_ref)
        CU_FAIL_FATAL("llama.cpp reference or fixtures missing");
    for (int pure = 0; pure <= (MODELS[k].pure_too ? 1 : 0); pure++) {
        const char *why = quantize_both(k, TYPES, N_TYPES - (k == ODD_MODEL), pure ? " --pure" : "");
        if (why)
            fprintf(stderr, "\n  %s%s: %s", MODELS[k].name, pure ? " --pure" : "", why);
        CU_ASSERT(why == NULL);
    }
}

static void test_model_0(void) { compare_model(0); }
static void test_model_1(void) { compare_model(1); }
static void test_model_2(void) { compare_model(2); }
static void test_model_3(void) { compare_model(3); }
static void test_model_4(void) { compare_model(4); }
static void test_model_5(void) { compare_model(5); }
static void test_model_6(void) { compare_model(6); }
static void test_model_7(void) { compare_model(7); }
static void test_model_8(void) { compare_model(8); }

/* ---- progress ------------------------------------------------------------ */

typedef struct seen {
    uint64_t calls, last_index, n_tensors, requantized, converted;
    bool in_order;
} seen;

static void count_progress(void *ctx, const rt_quantize_progress *p)
{
    seen *s = ctx;
    s->calls++;
    s->in_order &= p->index == s->last_index + 1 && p->name && *p->name;
    s->last_index = p->index;
    s->n_tensors = p->n_tensors;
    s->requantized += p->requantized;
    s->converted += p->converted;
}

/* One call per tensor, in order; a Q8_0 input quantized to Q4_0 requantizes
 * its matrices and copies its vectors. */
static void test_progress(void)
{
    CU_ASSERT_FATAL(have_ref);
    const char *out = test_tmp_path("progress.gguf");
    seen s = {.in_order = true};
    rt_quantize_options o = {.type = "q4_0", .n_threads = 2, .progress = count_progress, .ctx = &s};
    rt_quantize_stats st;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rt_quantize(model_path(8), out, &o, &st, &err), RF_OK);
    gguf_file *f;
    CU_ASSERT_EQUAL_FATAL(gguf_open(model_path(8), &f, &err), RF_OK);
    CU_ASSERT_EQUAL(s.calls, gguf_n_tensors(f));
    CU_ASSERT_EQUAL(s.n_tensors, gguf_n_tensors(f));
    CU_ASSERT(s.in_order);
    CU_ASSERT(s.requantized > 0 && s.requantized == s.converted);
    CU_ASSERT(s.converted < s.calls); /* the norms are copied */
    CU_ASSERT_EQUAL(st.n_requantized, s.requantized);
    gguf_close(f);
    unlink(out);
}

/* ---- errors ------------------------------------------------------------------ */

/* Names in dir that start with prefix (leftover temporaries). */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* ---- with an importance matrix ------------------------------------------- */

/* The types a run with an imatrix is compared for, one or more for each
 * way an imatrix changes the file: the weighted quantizers (K, legacy,
 * IQ4, the lattices, ternary), the rules that depend on it (Q4_0's
 * ffn_down, IQ4_XS's, IQ3_XXS's attn_v and ffn_down), the types that need
 * it (Q2_K in q2_k_s, the IQ2/IQ3_XXS types) and the IQ2/IQ3 mixes' own
 * rules. Time bounds the list: each quantizer is compared with ggml type
 * by type in test_quant_weights, and the other mixes (iq1_*, iq2_xs/s/m,
 * iq3_s/m; llama.cpp alone spends ~9 s setting up IQ1's lattice) differ
 * from these only in rules that do not depend on the imatrix. */
static const char *const IMX_TYPES[] = {
    "q4_0", "q4_k_m", "iq4_xs", "q2_k_s", "iq2_xxs", "iq3_xxs", "iq3_xs", "tq1_0",
};
#define N_IMX_TYPES (sizeof IMX_TYPES / sizeof IMX_TYPES[0])

typedef struct imx_opts {
    bool legacy;           /* the .dat form */
    const char *skip;      /* a weight left out, or NULL (output.weight by default) */
    const char *short_one; /* a weight whose entry has 100 values too few */
    bool nan;              /* one value NaN */
} imx_opts;

/* Whether a model tensor gets an entry: the matrices a calibration run
 * sees (not token_embd, which it sees as a lookup), less opt->skip. */
static bool gets_entry(const gguf_tensor *t, const char *name, const imx_opts *o)
{
    size_t len = strlen(name);
    if (t->n_dims < 2 || len < 6 || strcmp(name + len - 6, "weight") || strstr(name, "_norm") ||
        strstr(name, "ffn_gate_inp") || !strcmp(name, "token_embd.weight"))
        return false;
    return strcmp(name, o->skip ? o->skip : "output.weight") != 0;
}

/* An importance matrix for model k: random positive sums over counts of
 * 1000 (an expert that saw no tokens: count 0, where llama.cpp takes 1),
 * plus an entry for token_embd of the wrong size (llama.cpp ignores it). */
static bool write_imatrix(size_t k, const char *path, const imx_opts *o)
{
    gguf_file *f;
    rf_error err = {0};
    if (gguf_open(model_path(k), &f, &err) != RF_OK)
        return false;
    gguf_writer *w = gguf_writer_new(3);
    gguf_writer_set_str(w, "general.type", "imatrix", 7);
    gguf_str ds = {"wiki.test.raw (rocmforge test)", 30};
    gguf_writer_set_arr_str(w, "imatrix.datasets", &ds, 1);
    gguf_writer_set_u32(w, "imatrix.chunk_count", 40);
    gguf_writer_set_u32(w, "imatrix.chunk_size", 512);
    FILE *dat = o->legacy ? fopen(path, "wb") : NULL;
    int32_t n_entries = 0;
    if (dat)
        fwrite(&n_entries, 4, 1, dat); /* patched below */
    uint64_t seed = 99 + k;
    bool ok = !o->legacy || dat;
    for (uint64_t i = 0; ok && i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        bool embd = !strcmp(name, "token_embd.weight");
        if (!embd && !gets_entry(t, name, o))
            continue;
        uint64_t ne0 = t->ne[0] - (embd || (o->short_one && !strcmp(name, o->short_one)) ? 100 : 0);
        uint64_t n_mat = o->legacy ? 1 : t->ne[2], n = ne0 * n_mat;
        float *sums = malloc(n * sizeof *sums), counts[64];
        for (uint64_t j = 0; j < n; j++) {
            float g = test_grand(&seed);
            sums[j] = (0.01f + g * g) * 1000.0f;
        }
        if (o->nan && i == 3)
            sums[5] = NAN;
        for (uint64_t e = 0; e < n_mat && e < 64; e++)
            counts[e] = n_mat > 1 && e == 1 ? 0.0f : 1000.0f;
        if (dat) {
            int32_t len = (int32_t)strlen(name), ncall = 1000, nval = (int32_t)n;
            fwrite(&len, 4, 1, dat);
            fwrite(name, 1, (size_t)len, dat);
            fwrite(&ncall, 4, 1, dat);
            fwrite(&nval, 4, 1, dat);
            fwrite(sums, 4, n, dat);
        } else {
            char tn[300];
            snprintf(tn, sizeof tn, "%s.in_sum2", name);
            gguf_writer_add_tensor(w, tn, GGML_TYPE_F32, 2, (const uint64_t[]){ne0, n_mat}, sums);
            snprintf(tn, sizeof tn, "%s.counts", name);
            gguf_writer_add_tensor(w, tn, GGML_TYPE_F32, 2, (const uint64_t[]){1, n_mat}, counts);
        }
        n_entries++;
        free(sums);
    }
    if (dat) {
        int32_t chunks = 40, len = 13;
        fwrite(&chunks, 4, 1, dat);
        fwrite(&len, 4, 1, dat);
        fwrite("wiki.test.raw", 1, 13, dat);
        ok = fseek(dat, 0, SEEK_SET) == 0 && fwrite(&n_entries, 4, 1, dat) == 1;
        ok = fclose(dat) == 0 && ok;
    } else {
        ok = gguf_writer_write(w, path, &err) == RF_OK;
    }
    gguf_writer_free(w);
    gguf_close(f);
    return ok;
}

/* Model k quantized to types with an imatrix by both, byte for byte. */
static void compare_imatrix(size_t k, const char *const *types, size_t n, const imx_opts *o)
{
    CU_ASSERT_FATAL(have_ref);
    char imx[4200], extra[4300];
    snprintf(imx, sizeof imx, "%s", test_tmp_path(o->legacy ? "imatrix.dat" : "imatrix.gguf"));
    CU_ASSERT_FATAL(write_imatrix(k, imx, o));
    snprintf(extra, sizeof extra, " --imatrix %s", imx);
    const char *why = quantize_both(k, types, n, extra);
    if (why)
        fprintf(stderr, "\n  %s --imatrix%s: %s", MODELS[k].name, o->legacy ? " (legacy)" : "", why);
    CU_ASSERT(why == NULL);
    unlink(imx);
}

static void test_imatrix_llama(void)
{
    compare_imatrix(0, IMX_TYPES, N_IMX_TYPES, &(imx_opts){0});
}

/* Experts: each expert's rows take its slice of the entry. */
static void test_imatrix_experts(void)
{
    static const char *const types[] = {"q4_k_m", "iq2_xxs"};
    compare_imatrix(2, types, 2, &(imx_opts){0});
}

static void test_imatrix_legacy(void)
{
    static const char *const types[] = {"q4_k_m"};
    compare_imatrix(0, types, 1, &(imx_opts){.legacy = true});
}

/* A file that cannot be used: our error (status, and the message names
 * each of must), no output left behind; the command exits non-zero. */
static void expect_imatrix_error(const char *imx, const char *type, rf_status want, const char *must1,
                                 const char *must2)
{
    const char *out = test_tmp_path("imx-out.gguf");
    rt_quantize_options o = {.type = type, .imatrix = imx, .n_threads = 1};
    rf_error err = {0};
    CU_ASSERT_EQUAL(rt_quantize(model_path(1), out, &o, NULL, &err), want);
    if (!strstr(err.msg, must1) || (must2 && !strstr(err.msg, must2)))
        fprintf(stderr, "\n  unexpected message: %s", err.msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, must1));
    CU_ASSERT(!must2 || strstr(err.msg, must2));
    CU_ASSERT(!exists(out));
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "%s quantize %s %s %s%s%s 2>&1", test_rocmforge_bin(), model_path(1), out, type,
             imx ? " --imatrix " : "", imx ? imx : "");
    int st, sig;
    char *msg = test_run(cmd, &st, &sig);
    CU_ASSERT(st != 0 && sig == 0);
    CU_ASSERT(msg && strstr(msg, must1));
    free(msg);
    CU_ASSERT(!exists(out));
    CU_ASSERT_EQUAL(count_prefixed(test_tmp_dir(), "imx-out.gguf"), 0);
}

static void test_imatrix_errors(void)
{
    CU_ASSERT_FATAL(have_ref);
    char path[4200];
    snprintf(path, sizeof path, "%s", test_tmp_path("bad-imatrix.gguf"));
    /* none given for a type that needs one */
    expect_imatrix_error(NULL, "iq2_xxs", RF_E_ARG, "importance matrix", "blk.0.");
    /* no entry for a tensor that needs one */
    CU_ASSERT_FATAL(write_imatrix(1, path, &(imx_opts){.skip = "blk.1.ffn_down.weight"}));
    expect_imatrix_error(path, "iq2_xs", RF_E_NOTFOUND, "blk.1.ffn_down.weight", "bad-imatrix.gguf");
    /* an entry of the wrong column count, for any type */
    CU_ASSERT_FATAL(write_imatrix(1, path, &(imx_opts){.short_one = "blk.0.attn_q.weight"}));
    expect_imatrix_error(path, "q4_k_m", RF_E_FORMAT, "blk.0.attn_q.weight", "bad-imatrix.gguf");
    /* a NaN */
    CU_ASSERT_FATAL(write_imatrix(1, path, &(imx_opts){.nan = true}));
    expect_imatrix_error(path, "q4_k_m", RF_E_FORMAT, "non-finite", "bad-imatrix.gguf");
    /* truncated: the GGUF reader's error, naming the file */
    CU_ASSERT_FATAL(write_imatrix(1, path, &(imx_opts){0}));
    size_t n;
    char *b = test_read_file(path, &n);
    CU_ASSERT_FATAL(b && n > 200);
    CU_ASSERT_FATAL(test_write_file(path, b, n - 100) == 0);
    expect_imatrix_error(path, "q4_k_m", RF_E_FORMAT, "bad-imatrix.gguf", NULL);
    free(b);
    /* a GGUF without the imatrix keys (a model is not an importance matrix) */
    expect_imatrix_error(model_path(0), "q4_k_m", RF_E_FORMAT, "imatrix.datasets", NULL);
    /* the legacy form, cut inside an entry, and not one at all */
    snprintf(path, sizeof path, "%s", test_tmp_path("bad-imatrix.dat"));
    CU_ASSERT_FATAL(write_imatrix(1, path, &(imx_opts){.legacy = true}));
    b = test_read_file(path, &n);
    CU_ASSERT_FATAL(b && n > 5000);
    CU_ASSERT_FATAL(test_write_file(path, b, n / 2) == 0);
    expect_imatrix_error(path, "q4_k_m", RF_E_FORMAT, "truncated", "bad-imatrix.dat");
    CU_ASSERT_FATAL(test_write_file(path, "\xff\xff\xff\xffjunk", 8) == 0);
    expect_imatrix_error(path, "q4_k_m", RF_E_FORMAT, "not an importance matrix", "bad-imatrix.dat");
    free(b);
    unlink(path);
    /* missing */
    expect_imatrix_error(test_tmp_path("no-such.imatrix"), "q4_k_m", RF_E_IO, "no-such.imatrix", NULL);
    unlink(test_tmp_path("bad-imatrix.gguf"));
}

static void test_bad_type(void)
{
    CU_ASSERT_FATAL(have_ref);
    const char *out = test_tmp_path("badtype.gguf");
    rf_error err = {0};
    rt_quantize_options o = {.type = "q9_9"};
    CU_ASSERT_EQUAL(rt_quantize(model_path(1), out, &o, NULL, &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'q9_9'"));
    o.type = "nvfp4";
    CU_ASSERT_EQUAL(rt_quantize(model_path(1), out, &o, NULL, &err), RF_E_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "nvfp4"));
    CU_ASSERT(!exists(out));
    /* the command: non-zero exit, one line naming the type, no file */
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "%s quantize %s %s q9_9 2>&1", test_rocmforge_bin(), model_path(1), out);
    int st, sig;
    char *msg = test_run(cmd, &st, &sig);
    CU_ASSERT(st != 0);
    CU_ASSERT(msg && strstr(msg, "q9_9"));
    free(msg);
    /* q1_0 has no fallback: rows of 1000 are an error naming the tensor,
     * as llama.cpp's (which fails too) */
    o.type = "q1_0";
    CU_ASSERT_EQUAL(rt_quantize(model_path(ODD_MODEL), out, &o, NULL, &err), RF_E_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ffn_down.weight"));
    snprintf(cmd, sizeof cmd, "%s quantize %s %s q1_0 >/dev/null 2>&1", test_tool_bin("llama_eval"),
             model_path(ODD_MODEL), out);
    char *ref = test_run(cmd, &st, &sig);
    CU_ASSERT(st != 0);
    free(ref);

    CU_ASSERT(!exists(out));
}

static void test_missing_input(void)
{
    const char *out = test_tmp_path("missing.gguf");
    const char *in = test_tmp_path("no-such-model.gguf");
    rf_error err = {0};
    rt_quantize_options o = {.type = "q8_0"};
    CU_ASSERT_EQUAL(rt_quantize(in, out, &o, NULL, &err), RF_E_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no-such-model.gguf"));
    CU_ASSERT(!exists(out));
}

/* An output in a "directory" that is a file cannot be created. */
static void test_unwritable_output(void)
{
    CU_ASSERT_FATAL(have_ref);
    char out[4300];
    snprintf(out, sizeof out, "%s/x.gguf", vocab_path);
    rf_error err = {0};
    rt_quantize_options o = {.type = "q8_0", .n_threads = 1};
    CU_ASSERT_EQUAL(rt_quantize(model_path(1), out, &o, NULL, &err), RF_E_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "x.gguf"));
}

/* A write that fails half way (the file size limit of a child process)
 * leaves neither the output nor a temporary, and an existing output as it
 * was. */
static void test_failed_write_leaves_nothing(void)
{
    CU_ASSERT_FATAL(have_ref);
    const char *out = test_tmp_path("halfway.gguf");
    CU_ASSERT_FATAL(test_write_file(out, "old", 3) == 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN); /* write() then fails with EFBIG */
        struct rlimit rl = {1 << 20, 1 << 20};
        setrlimit(RLIMIT_FSIZE, &rl);
        rt_quantize_options o = {.type = "q8_0", .n_threads = 1};
        rf_error err = {0};
        rf_status s = rt_quantize(model_path(0), out, &o, NULL, &err);
        _exit(s == RF_E_IO && strstr(err.msg, "halfway.gguf") ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    size_t n;
    char *b = test_read_file(out, &n);
    CU_ASSERT(b && n == 3 && !memcmp(b, "old", 3));
    free(b);
    CU_ASSERT_EQUAL(count_prefixed(test_tmp_dir(), "halfway.gguf.tmp"), 0);
    unlink(out);
}

/* A matrix of a type with no dequantizer (I32) to be quantized: an error
 * naming the tensor and the type, before anything is written. */
static void test_cannot_dequantize(void)
{
    const char *in = test_tmp_path("i32.gguf"), *out = test_tmp_path("i32-out.gguf");
    gguf_writer *w = gguf_writer_new(3);
    gguf_writer_set_str(w, "general.architecture", "llama", 5);
    gguf_writer_set_u32(w, "llama.block_count", 1);
    int32_t data[64] = {0};
    gguf_writer_add_tensor(w, "blk.0.attn_q.weight", GGML_TYPE_I32, 2, (const uint64_t[]){32, 2}, data);
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_writer_write(w, in, &err), RF_OK);
    gguf_writer_free(w);
    rt_quantize_options o = {.type = "q8_0", .n_threads = 1};
    CU_ASSERT_EQUAL(rt_quantize(in, out, &o, NULL, &err), RF_E_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "blk.0.attn_q.weight"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "i32"));
    CU_ASSERT(!exists(out));
    unlink(in);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("quantize vs llama.cpp", suite_init, suite_clean);
    static void (*const tests[N_MODELS])(void) = {test_model_0, test_model_1, test_model_2, test_model_3,
                                                  test_model_4, test_model_5, test_model_6, test_model_7,
                                                  test_model_8};
    static char names[N_MODELS][96];
    for (size_t k = 0; k < N_MODELS; k++) {
        snprintf(names[k], sizeof names[k], "%s: %zu types%s", MODELS[k].name, N_TYPES,
                 MODELS[k].pure_too ? ", and each --pure" : "");
        CU_add_test(s, names[k], tests[k]);
    }
    CU_add_test(s, "--imatrix: llama8, 8 types, GGUF imatrix", test_imatrix_llama);
    CU_add_test(s, "--imatrix: qwen3moe, per-expert slices", test_imatrix_experts);
    CU_add_test(s, "--imatrix: legacy .dat", test_imatrix_legacy);
    CU_add_test(s, "--imatrix: errors", test_imatrix_errors);
    CU_add_test(s, "progress: one call per tensor, in order", test_progress);
    CU_add_test(s, "error: unknown and unsupported types", test_bad_type);
    CU_add_test(s, "error: missing input", test_missing_input);
    CU_add_test(s, "error: output that cannot be created", test_unwritable_output);
    CU_add_test(s, "error: a failed write leaves the old output", test_failed_write_leaves_nothing);
    CU_add_test(s, "error: a tensor type with no dequantizer", test_cannot_dequantize);
    return test_main();
}
