/*
 * llama_eval.c: quantize, evaluate and time models with llama.cpp itself,
 * the reference side of the CPU conformance tests.
 *
 *   llama_eval quantize IN.gguf OUT.gguf[,OUT...] TYPE[,TYPE...] [--imatrix FILE] [--pure] [--threads N]
 *   llama_eval logits   MODEL --tokens "ID ID ..." --out FILE [--threads N]
 *   llama_eval generate MODEL --prompt-ids "ID ..." -n N [--threads N]
 *   llama_eval bench    MODEL [-p 512] [-n 128] [--threads N]
 *   llama_eval embed    MODEL [--pooling none|mean|cls|last] [--threads N] < id-lines
 * Common options: --kv-f16 (F16 KV cache; default F32), --flash-attn (default
 * off), -v (llama.cpp's own log on stderr; errors are always shown).
 *
 * quantize maps TYPE (q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k_m q4_k_m q5_k_m q6_k
 * iq4_nl iq4_xs mxfp4 f16 bf16 f32, and a few more) to a llama_ftype and calls
 * llama_model_quantize with allow_requantize. llama.cpp picks the type per
 * tensor (k-quant mixes, Q8_0/Q6_K heads, a fallback when a row length does
 * not divide the block; MXFP4_MOE turns dense tensors into Q8_0 unless --pure),
 * so the tool then opens the result with our GGUF reader and prints what each
 * tensor ended up as: "tensor NAME TYPE" lines and a "types T=N ..." summary.
 * --imatrix does what llama.cpp's quantize tool (tools/quantize) does with
 * one, written here a second time on purpose, apart from ours: the file is
 * read with ggml's own GGUF reader (libggml-base's gguf_* functions), or as
 * the legacy .dat when that fails, each entry's values are in_sum2/counts
 * per matrix (1 where the count is 0) or sums/calls, the entries go to
 * llama_model_quantize as llama_model_imatrix_data, and the four
 * quantize.imatrix.* keys as key overrides, as the tool sets them.
 *
 * logits evaluates the ids as one batch (one ubatch) from position 0, adds no
 * BOS, asks for the logits of every position and writes them little-endian
 * float32, n_tokens rows of n_vocab. generate decodes the prompt the same way
 * and then extends it greedily (argmax, lowest id on ties), printing the new
 * ids. bench times one prefill of -p random ids and -n single-token decodes
 * after it, after one untimed warm-up pass, and prints JSON. embed reads
 * one text's ids a line (with its CLS/SEP: no special tokens are added) and
 * evaluates each as one batch from position 0, on a cleared context made
 * with embeddings on and the pooling asked for (default: the model's), and
 * prints a line a text: the n_embd floats of llama_get_embeddings_seq, or,
 * with pooling none, each token's llama_get_embeddings_ith one after
 * another; not normalised (that is the caller's in llama.cpp too).
 *
 * The library is the prebuilt libllama of scripts/fetch-reference.sh,
 * dlopen()ed by full path from $REF/lib, with ggml's CPU backend variants
 * loaded from the same directory; nothing of llama.cpp is linked or included.
 * Structs passed or returned by value are mirrored from include/llama.h of
 * that release. Each *_default_params() result is received into a buffer
 * with poisoned slack behind the mirror: if the library's struct is larger,
 * the slack changes, and if a field moved, the documented defaults do not
 * read back; either stops the tool before a call could see garbage.
 *
 * Exit status: 0 ok, 1 usage or I/O, 2 the library or model failed.
 */
#define _GNU_SOURCE
#include "frontend/gguf.h"
#include "llama_dl.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the slice of llama.h we use beyond llama_dl.h ---------------------- */

typedef int32_t llama_pos;
typedef int32_t llama_seq_id;
struct llama_context;
typedef void *llama_memory_t;

struct llama_context_params {
    uint32_t n_ctx, n_batch, n_ubatch, n_seq_max, n_rs_seq, n_outputs_max, n_outputs_max_per_seq;
    int32_t n_threads, n_threads_batch;
    int32_t ctx_type, rope_scaling_type, pooling_type, attention_type, flash_attn_type;
    float rope_freq_base, rope_freq_scale, yarn_ext_factor, yarn_attn_factor;
    float yarn_beta_fast, yarn_beta_slow;
    uint32_t yarn_orig_ctx;
    float defrag_thold;
    void *cb_eval;
    void *cb_eval_user_data;
    int32_t type_k, type_v;
    void *abort_callback;
    void *abort_callback_data;
    bool embeddings, offload_kqv, no_perf, op_offload, swa_full, kv_unified;
    void *samplers;
    size_t n_samplers;
    struct llama_context *ctx_other;
};
_Static_assert(sizeof(struct llama_context_params) == 160, "llama_context_params layout");

struct llama_batch {
    int32_t n_tokens;
    llama_token *token;
    float *embd;
    llama_pos *pos;
    int32_t *n_seq_id;
    llama_seq_id **seq_id;
    int8_t *logits;
};
_Static_assert(sizeof(struct llama_batch) == 56, "llama_batch layout");

struct llama_model_quantize_params {
    int32_t nthread;
    int32_t ftype;
    int32_t output_tensor_type;
    int32_t token_embedding_type;
    bool allow_requantize, quantize_output_tensor, only_copy, pure, keep_split, dry_run;
    const void *imatrix;
    const void *kv_overrides;
    const void *tt_overrides;
    const int32_t *prune_layers;
    size_t max_buf_size;
};
_Static_assert(sizeof(struct llama_model_quantize_params) == 64, "quantize_params layout");

#if !defined(__x86_64__) || defined(_WIN32)
#error "llama_eval mirrors the x86-64 System V ABI of the prebuilt linux-x64 libllama"
#endif

#define SLACK 256
#define POISON 0xA5
#define SLOT(T) struct { T p; unsigned char slack[SLACK]; }
typedef SLOT(struct llama_model_params) model_slot;
typedef SLOT(struct llama_context_params) context_slot;
typedef SLOT(struct llama_model_quantize_params) quant_slot;

enum { GGML_F32 = 0, GGML_F16 = 1, GGML_COUNT = 43, LOG_ERROR = 4 };

static struct {
    void (*backend_init)(void);
    void (*log_set)(void (*cb)(int, const char *, void *), void *user_data);
    /* The three *_default_params() return structs too large for registers,
     * i.e. through a hidden pointer the caller passes (x86-64 SysV: in rdi,
     * echoed in rax). Declared that way, the callee writes straight into our
     * poisoned slot; a C struct return would let the compiler go through a
     * temporary and copy, slack included, hiding an overrun. */
    void *(*model_default_params)(model_slot *ret);
    void *(*context_default_params)(context_slot *ret);
    void *(*quantize_default_params)(quant_slot *ret);
    struct llama_model *(*model_load_from_file)(const char *path, struct llama_model_params p);
    void (*model_free)(struct llama_model *model);
    struct llama_context *(*init_from_model)(struct llama_model *m, struct llama_context_params p);
    void (*free_ctx)(struct llama_context *ctx);
    int32_t (*decode)(struct llama_context *ctx, struct llama_batch batch);
    float *(*get_logits_ith)(struct llama_context *ctx, int32_t i);
    const struct llama_vocab *(*model_get_vocab)(const struct llama_model *model);
    int32_t (*vocab_n_tokens)(const struct llama_vocab *vocab);
    llama_memory_t (*get_memory)(const struct llama_context *ctx);
    void (*memory_clear)(llama_memory_t mem, bool data);
    uint32_t (*model_quantize)(const char *in, const char *out,
                               const struct llama_model_quantize_params *p);
    void (*backend_load_all_from_path)(const char *dir);
    float *(*get_embeddings_ith)(struct llama_context *ctx, int32_t i);
    float *(*get_embeddings_seq)(struct llama_context *ctx, llama_seq_id seq_id);
    int32_t (*model_n_embd)(const struct llama_model *model);
} L;

static bool verbose;

static void log_cb(int level, const char *text, void *user_data)
{
    static int last;
    (void)user_data;
    if (level != 5) /* GGML_LOG_LEVEL_CONT continues the previous message */
        last = level;
    if (verbose || last == LOG_ERROR)
        fputs(text, stderr);
}

static void fail(const char *what, const char *arg)
{
    fprintf(stderr, "llama_eval: %s%s%s\n", what, arg ? " " : "", arg ? arg : "");
    exit(2);
}

static void load_library(void)
{
    void *llama = llama_dl_open("libllama.v0.5.0.so");
    void *ggml = llama_dl_open("libggml.v0.5.0.so"); /* already mapped by libllama's RUNPATH */
    /* POSIX: object and function pointers share a representation. */
#define BIND(lib, field, name) *(void **)&L.field = llama_dl_sym(lib, name)
    BIND(llama, backend_init, "llama_backend_init");
    BIND(llama, log_set, "llama_log_set");
    BIND(llama, model_default_params, "llama_model_default_params");
    BIND(llama, context_default_params, "llama_context_default_params");
    BIND(llama, quantize_default_params, "llama_model_quantize_default_params");
    BIND(llama, model_load_from_file, "llama_model_load_from_file");
    BIND(llama, model_free, "llama_model_free");
    BIND(llama, init_from_model, "llama_init_from_model");
    BIND(llama, free_ctx, "llama_free");
    BIND(llama, decode, "llama_decode");
    BIND(llama, get_logits_ith, "llama_get_logits_ith");
    BIND(llama, model_get_vocab, "llama_model_get_vocab");
    BIND(llama, vocab_n_tokens, "llama_vocab_n_tokens");
    BIND(llama, get_memory, "llama_get_memory");
    BIND(llama, memory_clear, "llama_memory_clear");
    BIND(llama, model_quantize, "llama_model_quantize");
    BIND(llama, get_embeddings_ith, "llama_get_embeddings_ith");
    BIND(llama, get_embeddings_seq, "llama_get_embeddings_seq");
    BIND(llama, model_n_embd, "llama_model_n_embd");
    BIND(ggml, backend_load_all_from_path, "ggml_backend_load_all_from_path");
#undef BIND
    L.log_set(log_cb, NULL);
    L.backend_init();
    L.backend_load_all_from_path(llama_dl_dir());
}

static bool slack_intact(const unsigned char *slack)
{
    for (int i = 0; i < SLACK; i++)
        if (slack[i] != POISON)
            return false;
    return true;
}

/* ---- defaults, checked against the documented values ------------------- */

static struct llama_model_params model_params(void)
{
    model_slot s;
    memset(&s, POISON, sizeof s);
    L.model_default_params(&s);
    const struct llama_model_params *p = &s.p;
    if (!slack_intact(s.slack) || p->devices || p->tensor_buft_overrides ||
        p->n_gpu_layers != -1 || p->split_mode != 1 || p->main_gpu != 0 || p->tensor_split ||
        p->progress_callback || p->kv_overrides || p->vocab_only || p->check_tensors ||
        !p->use_extra_bufts || p->no_host || p->no_alloc)
        fail("llama_model_params layout does not match this libllama", NULL);
    return s.p;
}

static struct llama_context_params context_params(void)
{
    context_slot s;
    memset(&s, POISON, sizeof s);
    L.context_default_params(&s);
    const struct llama_context_params *p = &s.p;
    if (!slack_intact(s.slack) || p->n_ctx != 512 || p->n_batch != 2048 || p->n_ubatch != 512 ||
        p->n_seq_max != 1 || p->n_rs_seq != 0 || p->n_outputs_max != 0 ||
        p->n_outputs_max_per_seq != 1 || p->ctx_type != 0 || p->rope_scaling_type != -1 ||
        p->pooling_type != -1 || p->attention_type != -1 || p->flash_attn_type != -1 ||
        p->rope_freq_base != 0.0f || p->rope_freq_scale != 0.0f || p->yarn_ext_factor != -1.0f ||
        p->yarn_orig_ctx != 0 || p->cb_eval || p->type_k != GGML_F16 || p->type_v != GGML_F16 ||
        p->abort_callback || p->embeddings || !p->offload_kqv || !p->op_offload ||
        !p->swa_full || p->kv_unified || p->samplers || p->n_samplers || p->ctx_other)
        fail("llama_context_params layout does not match this libllama", NULL);
    return s.p;
}

static struct llama_model_quantize_params quantize_params(void)
{
    quant_slot s;
    memset(&s, POISON, sizeof s);
    L.quantize_default_params(&s);
    const struct llama_model_quantize_params *p = &s.p;
    if (!slack_intact(s.slack) || p->nthread != 0 || p->ftype != 7 ||
        p->output_tensor_type != GGML_COUNT || p->token_embedding_type != GGML_COUNT ||
        p->allow_requantize || !p->quantize_output_tensor || p->only_copy || p->pure ||
        p->keep_split || p->dry_run || p->imatrix || p->kv_overrides || p->tt_overrides ||
        p->prune_layers || p->max_buf_size != 8ull << 30)
        fail("llama_model_quantize_params layout does not match this libllama", NULL);
    return s.p;
}

/* ---- quantize ---------------------------------------------------------- */

static const struct { const char *name; int ftype; } FTYPES[] = {
    {"f32", 0}, {"f16", 1}, {"q4_0", 2}, {"q4_1", 3}, {"q8_0", 7}, {"q5_0", 8},
    {"q5_1", 9}, {"q2_k", 10}, {"q3_k_s", 11}, {"q3_k_m", 12}, {"q3_k_l", 13},
    {"q4_k_s", 14}, {"q4_k_m", 15}, {"q5_k_s", 16}, {"q5_k_m", 17}, {"q6_k", 18},
    {"iq4_nl", 25}, {"iq3_s", 26}, {"iq4_xs", 30}, {"bf16", 32}, {"tq1_0", 36}, {"tq2_0", 37},
    {"mxfp4", 38}, {"mxfp4_moe", 38}, {"nvfp4", 39}, {"iq2_xxs", 19}, {"iq2_xs", 20}, {"q2_k_s", 21},
    {"iq3_xs", 22}, {"iq3_xxs", 23}, {"iq1_s", 24}, {"iq3_m", 27}, {"iq2_s", 28}, {"iq2_m", 29},
    {"iq1_m", 31}, {"q1_0", 40}, {"q2_0", 41},
};

/* ---- the importance matrix, as llama.cpp's quantize tool loads it -------- */

struct llama_model_imatrix_data { /* include/llama.h */
    const char *name;
    const float *data;
    size_t size;
};

struct llama_model_kv_override { /* include/llama.h */
    int32_t tag; /* 0 int, 1 float, 2 bool, 3 string */
    char key[128];
    union {
        int64_t val_i64;
        double val_f64;
        bool val_bool;
        char val_str[128];
    };
};
_Static_assert(sizeof(struct llama_model_kv_override) == 264, "llama_model_kv_override layout");

typedef struct imx {
    struct llama_model_imatrix_data *e; /* n + 1, the last all NULL */
    size_t n;
    char dataset[128];
    int32_t chunk_count;
} imx;

static void imx_add(imx *m, const char *name, float *data, size_t size)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].name, name)) { /* the tool's map: the later one wins */
            m->e[i].data = data;
            m->e[i].size = size;
            return;
        }
    m->e = realloc(m->e, (m->n + 2) * sizeof *m->e);
    if (!m->e)
        fail("out of memory", NULL);
    m->e[m->n++] = (struct llama_model_imatrix_data){strdup(name), data, size};
    m->e[m->n] = (struct llama_model_imatrix_data){0};
}

/* common_imatrix_load_legacy, then the tool's sums/calls */
static void imx_load_legacy(imx *m, FILE *fp, const char *path)
{
    int32_t n_entries;
    rewind(fp);
    if (fread(&n_entries, 4, 1, fp) != 1 || n_entries < 1)
        fail("no imatrix data in", path);
    for (int32_t i = 0; i < n_entries; i++) {
        int32_t len, ncall = 0, nval = 0;
        char name[4096];
        if (fread(&len, 4, 1, fp) != 1 || len < 0 || len >= (int32_t)sizeof name ||
            fread(name, 1, (size_t)len, fp) != (size_t)len)
            fail("bad legacy imatrix entry name in", path);
        name[len] = 0;
        if (fread(&ncall, 4, 1, fp) != 1 || fread(&nval, 4, 1, fp) != 1 || nval < 1)
            fail("bad legacy imatrix entry in", path);
        float *v = malloc((size_t)nval * sizeof *v);
        if (!v || fread(v, 4, (size_t)nval, fp) != (size_t)nval)
            fail("bad legacy imatrix data in", path);
        for (int32_t j = 0; ncall > 0 && j < nval; j++)
            v[j] = v[j] / (float)(int64_t)ncall;
        imx_add(m, name, v, (size_t)nval);
    }
    int32_t n_chunks, len;
    if (fread(&n_chunks, 4, 1, fp) == 1) {
        m->chunk_count = n_chunks;
        if (fread(&len, 4, 1, fp) == 1 && len > 0 && len < 4096) {
            char ds[4096] = {0};
            if (fread(ds, 1, (size_t)len, fp) == (size_t)len)
                snprintf(m->dataset, sizeof m->dataset, "%s", ds);
        }
    }
}

static imx imx_load(const char *path)
{
    struct gguf_init_params { bool no_alloc; void **ctx; };
    void *ggml = llama_dl_open("libggml-base.so");
    void *(*init)(const char *, struct gguf_init_params);
    void (*gfree)(void *);
    int64_t (*n_tensors)(const void *), (*find_key)(const void *, const char *);
    const char *(*tensor_name)(const void *, int64_t), *(*arr_str)(const void *, int64_t, size_t);
    size_t (*tensor_offset)(const void *, int64_t), (*data_offset)(const void *), (*tensor_size)(const void *, int64_t);
    size_t (*arr_n)(const void *, int64_t);
    int32_t (*tensor_type)(const void *, int64_t), (*kv_type)(const void *, int64_t), (*arr_type)(const void *, int64_t);
    uint32_t (*val_u32)(const void *, int64_t);
#define BIND(field, name) *(void **)&field = llama_dl_sym(ggml, name)
    BIND(init, "gguf_init_from_file");
    BIND(gfree, "gguf_free");
    BIND(n_tensors, "gguf_get_n_tensors");
    BIND(find_key, "gguf_find_key");
    BIND(tensor_name, "gguf_get_tensor_name");
    BIND(arr_str, "gguf_get_arr_str");
    BIND(tensor_offset, "gguf_get_tensor_offset");
    BIND(data_offset, "gguf_get_data_offset");
    BIND(tensor_size, "gguf_get_tensor_size");
    BIND(arr_n, "gguf_get_arr_n");
    BIND(tensor_type, "gguf_get_tensor_type");
    BIND(kv_type, "gguf_get_kv_type");
    BIND(arr_type, "gguf_get_arr_type");
    BIND(val_u32, "gguf_get_val_u32");
#undef BIND
    imx m = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail("cannot open", path);
    void *g = init(path, (struct gguf_init_params){true, NULL});
    if (!g) {
        imx_load_legacy(&m, fp, path);
        fclose(fp);
        return m;
    }
    int64_t kd = find_key(g, "imatrix.datasets"), kc = find_key(g, "imatrix.chunk_count");
    if (kd < 0 || kc < 0 || find_key(g, "imatrix.chunk_size") < 0)
        fail("missing imatrix metadata in", path);
    if (kv_type(g, kd) == 9 && arr_type(g, kd) == 8 && arr_n(g, kd) > 0)
        snprintf(m.dataset, sizeof m.dataset, "%s", arr_str(g, kd, 0));
    m.chunk_count = (int32_t)val_u32(g, kc);
    for (int64_t i = 0; i < n_tensors(g); i++) {
        const char *name = tensor_name(g, i);
        size_t len = strlen(name);
        if (len <= 8 || strcmp(name + len - 8, ".in_sum2"))
            continue;
        char cname[4096];
        snprintf(cname, sizeof cname, "%.*s.counts", (int)(len - 8), name);
        int64_t c = -1;
        for (int64_t j = 0; j < n_tensors(g); j++)
            if (!strcmp(tensor_name(g, j), cname))
                c = j;
        if (c < 0 || tensor_type(g, i) != 0 || tensor_type(g, c) != 0)
            fail("mismatched sums and counts in", path);
        size_t nval = tensor_size(g, i) / 4, ncounts = tensor_size(g, c) / 4, ne0 = nval / ncounts;
        float *sums = malloc(nval * 4), *counts = malloc(ncounts * 4), *v = calloc(nval, 4);
        if (!sums || !counts || !v || fseek(fp, (long)(data_offset(g) + tensor_offset(g, i)), SEEK_SET) ||
            fread(sums, 4, nval, fp) != nval || fseek(fp, (long)(data_offset(g) + tensor_offset(g, c)), SEEK_SET) ||
            fread(counts, 4, ncounts, fp) != ncounts)
            fail("cannot read imatrix data of", name);
        for (size_t j = 0; j < ncounts; j++) {
            const float count = (float)(int64_t)lroundf(counts[j]);
            for (size_t k = 0; k < ne0; k++)
                v[j * ne0 + k] = count > 0.0f ? sums[j * ne0 + k] / count : 1;
        }
        free(sums);
        free(counts);
        name = strndup(name, len - 8);
        imx_add(&m, name, v, nval);
        free((void *)name);
    }
    gfree(g);
    fclose(fp);
    return m;
}

/* The tool's key overrides: the file, the first dataset, the entry count,
 * the chunk count when positive; strings cut to 127 bytes. */
static struct llama_model_kv_override *imx_overrides(const imx *m, const char *path)
{
    static struct llama_model_kv_override o[5];
    int n = 0;
    memset(o, 0, sizeof o);
    o[n].tag = 3;
    snprintf(o[n].key, sizeof o[n].key, "quantize.imatrix.file");
    snprintf(o[n++].val_str, 128, "%.127s", path);
    if (m->dataset[0]) {
        o[n].tag = 3;
        snprintf(o[n].key, sizeof o[n].key, "quantize.imatrix.dataset");
        snprintf(o[n++].val_str, 128, "%.127s", m->dataset);
    }
    snprintf(o[n].key, sizeof o[n].key, "quantize.imatrix.entries_count");
    o[n++].val_i64 = (int64_t)m->n;
    if (m->chunk_count > 0) {
        snprintf(o[n].key, sizeof o[n].key, "quantize.imatrix.chunks_count");
        o[n++].val_i64 = m->chunk_count;
    }
    return o;
}

/* One output of cmd_quantize: the file, then what each tensor became. */
static void quantize_one(const char *in, const char *out, const char *type, struct llama_model_quantize_params p)
{
    p.ftype = -1;
    for (size_t i = 0; i < sizeof FTYPES / sizeof FTYPES[0]; i++)
        if (!strcmp(FTYPES[i].name, type))
            p.ftype = FTYPES[i].ftype;
    if (p.ftype < 0)
        fail("unknown quantization type", type);
    if (L.model_quantize(in, out, &p) != 0)
        fail("llama_model_quantize failed for", out);

    gguf_file *f;
    rf_error err = {0};
    if (gguf_open(out, &f, &err) != RF_OK)
        fail("our reader rejects the quantized file:", err.msg);
    unsigned count[GGML_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const ggml_type_traits *tr = ggml_type_get(t->type);
        printf("tensor %.*s %s\n", (int)t->name.len, t->name.ptr, tr ? tr->name : "?");
        count[t->type]++;
    }
    printf("types");
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (count[t])
            printf(" %s=%u", ggml_type_get((uint32_t)t)->name, count[t]);
    printf("\n");
    gguf_close(f);
}

/* OUT and TYPE may be comma-separated lists of one length: one process
 * then writes them all, paying ggml's one-time set-up of the i-quant
 * lattices (seconds for IQ1) once. */
static int cmd_quantize(const char *in, const char *outs, const char *types, const char *imatrix, bool pure,
                        int threads)
{
    struct llama_model_quantize_params p = quantize_params();
    p.allow_requantize = true;
    p.pure = pure;
    p.nthread = threads;
    imx m = {0};
    if (imatrix) {
        m = imx_load(imatrix);
        p.imatrix = m.e;
        p.kv_overrides = imx_overrides(&m, imatrix);
    }
    char *o = strdup(outs), *t = strdup(types), *so, *st;
    if (!o || !t)
        fail("out of memory", NULL);
    char *out = strtok_r(o, ",", &so), *type = strtok_r(t, ",", &st);
    for (; out && type; out = strtok_r(NULL, ",", &so), type = strtok_r(NULL, ",", &st))
        quantize_one(in, out, type, p);
    if (out || type)
        fail("quantize: OUT and TYPE lists differ in length", NULL);
    free(o);
    free(t);
    return 0;
}

/* ---- evaluation --------------------------------------------------------- */

typedef struct eval_opts {
    int threads;
    bool kv_f16, flash_attn;
    bool embeddings;   /* embed: the context gives embeddings, */
    int pooling;       /* pooled so (llama_pooling_type: -1 the model's, 0 none, 1 mean, 2 cls, 3 last) */
} eval_opts;

typedef struct session {
    struct llama_model *model;
    struct llama_context *ctx;
    int32_t n_vocab;
    /* one batch's arrays, n_max entries */
    int32_t n_max;
    llama_token *token;
    llama_pos *pos;
    int32_t *n_seq_id;
    llama_seq_id *seq0;
    llama_seq_id **seq_id;
    int8_t *logits;
} session;

static void session_open(session *s, const char *path, int32_t n_ctx, int32_t n_batch,
                         const eval_opts *o)
{
    memset(s, 0, sizeof *s);
    struct llama_model_params mp = model_params();
    mp.n_gpu_layers = 0;
    s->model = L.model_load_from_file(path, mp);
    if (!s->model)
        fail("llama.cpp failed to load", path);
    s->n_vocab = L.vocab_n_tokens(L.model_get_vocab(s->model));

    struct llama_context_params cp = context_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = cp.n_ubatch = (uint32_t)n_batch;
    cp.n_outputs_max_per_seq = 0; /* every position may ask for logits */
    cp.n_threads = cp.n_threads_batch = o->threads;
    cp.flash_attn_type = o->flash_attn ? 1 : 0;
    cp.type_k = cp.type_v = o->kv_f16 ? GGML_F16 : GGML_F32;
    cp.offload_kqv = false;
    cp.op_offload = false;
    cp.embeddings = o->embeddings;
    cp.pooling_type = o->pooling;
    s->ctx = L.init_from_model(s->model, cp);
    if (!s->ctx)
        fail("llama_init_from_model failed for", path);

    s->n_max = n_batch;
    s->token = calloc((size_t)n_batch, sizeof *s->token);
    s->pos = calloc((size_t)n_batch, sizeof *s->pos);
    s->n_seq_id = calloc((size_t)n_batch, sizeof *s->n_seq_id);
    s->seq0 = calloc(1, sizeof *s->seq0);
    s->seq_id = calloc((size_t)n_batch, sizeof *s->seq_id);
    s->logits = calloc((size_t)n_batch, sizeof *s->logits);
    if (!s->token || !s->pos || !s->n_seq_id || !s->seq0 || !s->seq_id || !s->logits)
        fail("out of memory", NULL);
}

static void session_close(session *s)
{
    L.free_ctx(s->ctx);
    L.model_free(s->model);
    free(s->token);
    free(s->pos);
    free(s->n_seq_id);
    free(s->seq0);
    free(s->seq_id);
    free(s->logits);
}

/* Decodes ids[0..n) at positions pos0.. as one batch; all_logits asks for
 * every position's logits, else only the last one's. */
static void session_decode(session *s, const llama_token *ids, int32_t n, int32_t pos0,
                           bool all_logits)
{
    if (n > s->n_max)
        fail("batch larger than the context's n_batch", NULL);
    for (int32_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= s->n_vocab)
            fail("token id out of range", NULL);
        s->token[i] = ids[i];
        s->pos[i] = pos0 + i;
        s->n_seq_id[i] = 1;
        s->seq_id[i] = s->seq0;
        s->logits[i] = (int8_t)(all_logits || i == n - 1);
    }
    struct llama_batch b = {n, s->token, NULL, s->pos, s->n_seq_id, s->seq_id, s->logits};
    int32_t rc = L.decode(s->ctx, b);
    if (rc != 0) {
        fprintf(stderr, "llama_eval: llama_decode returned %d\n", (int)rc);
        exit(2);
    }
}

static int32_t argmax(const float *v, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

static llama_token *parse_ids(const char *s, int32_t *n)
{
    size_t cap = strlen(s) / 2 + 1;
    llama_token *ids = malloc(cap * sizeof *ids);
    if (!ids)
        fail("out of memory", NULL);
    *n = 0;
    for (;;) {
        char *e;
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n')
            s++;
        if (!*s)
            break;
        errno = 0;
        long v = strtol(s, &e, 10);
        if (e == s || errno || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "llama_eval: bad token id near '%.20s'\n", s);
            exit(1);
        }
        ids[(*n)++] = (llama_token)v;
        s = e;
    }
    if (!*n) {
        fprintf(stderr, "llama_eval: no token ids\n");
        exit(1);
    }
    return ids;
}

static int cmd_logits(const char *path, const char *tokens, const char *out, const eval_opts *o)
{
    int32_t n;
    llama_token *ids = parse_ids(tokens, &n);
    session s;
    session_open(&s, path, n < 256 ? 256 : n, n, o);
    session_decode(&s, ids, n, 0, true);
    FILE *fp = fopen(out, "wb");
    if (!fp) {
        fprintf(stderr, "llama_eval: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    for (int32_t i = 0; i < n; i++) {
        const float *row = L.get_logits_ith(s.ctx, i);
        if (!row)
            fail("no logits returned for a position", NULL);
        /* x86-64 and every target llama.cpp ships for are little-endian */
        if (fwrite(row, sizeof *row, (size_t)s.n_vocab, fp) != (size_t)s.n_vocab)
            break;
    }
    int rc = fclose(fp) == 0 ? 0 : 1;
    if (rc)
        fprintf(stderr, "llama_eval: cannot write %s\n", out);
    session_close(&s);
    free(ids);
    return rc;
}

static int cmd_generate(const char *path, const char *prompt, int32_t n_gen, const eval_opts *o)
{
    int32_t n;
    llama_token *ids = parse_ids(prompt, &n);
    session s;
    session_open(&s, path, n + n_gen + 8 < 256 ? 256 : n + n_gen + 8, n, o);
    session_decode(&s, ids, n, 0, false);
    for (int32_t i = 0; i < n_gen; i++) {
        llama_token next = argmax(L.get_logits_ith(s.ctx, -1), s.n_vocab);
        printf(i ? " %d" : "%d", (int)next);
        if (i + 1 < n_gen)
            session_decode(&s, &next, 1, n + i, false);
    }
    printf("\n");
    session_close(&s);
    free(ids);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_embed(const char *path, const eval_opts *o)
{
    session s;
    enum { MAX_TOKENS = 512 };
    session_open(&s, path, MAX_TOKENS, MAX_TOKENS, o);
    int32_t E = L.model_n_embd(s.model);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        int32_t n;
        llama_token *ids = parse_ids(line, &n);
        if (n > MAX_TOKENS)
            fail("a text longer than 512 tokens", NULL);
        L.memory_clear(L.get_memory(s.ctx), true);
        session_decode(&s, ids, n, 0, true); /* every token an output: embeddings need them all */
        for (int32_t r = 0; r < (o->pooling == 0 ? n : 1); r++) {
            const float *v = o->pooling == 0 ? L.get_embeddings_ith(s.ctx, r) : L.get_embeddings_seq(s.ctx, 0);
            if (!v)
                fail("no embeddings returned for", path);
            for (int32_t i = 0; i < E; i++)
                printf(r || i ? " %.9g" : "%.9g", (double)v[i]);
        }
        printf("\n");
        free(ids);
    }
    free(line);
    session_close(&s);
    return fflush(stdout) == 0 ? 0 : 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmd_bench(const char *path, int32_t n_prompt, int32_t n_gen, const eval_opts *o)
{
    session s;
    session_open(&s, path, n_prompt + n_gen + 8, n_prompt, o);
    llama_token *ids = malloc((size_t)n_prompt * sizeof *ids);
    if (!ids)
        fail("out of memory", NULL);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int32_t i = 0; i < n_prompt; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = (llama_token)(x % (uint64_t)s.n_vocab);
    }
    double t_prefill = 0, t_decode = 0;
    for (int pass = 0; pass < 2; pass++) { /* pass 0 warms caches and the allocator */
        L.memory_clear(L.get_memory(s.ctx), true);
        double t0 = now();
        session_decode(&s, ids, n_prompt, 0, false);
        double t1 = now();
        int32_t gen = pass ? n_gen : (n_gen < 4 ? n_gen : 4);
        for (int32_t i = 0; i < gen; i++) {
            llama_token next = argmax(L.get_logits_ith(s.ctx, -1), s.n_vocab);
            session_decode(&s, &next, 1, n_prompt + i, false);
        }
        t_prefill = t1 - t0;
        t_decode = now() - t1;
    }
    printf("{\"model\": \"%s\", \"threads\": %d, \"n_prompt\": %d, \"n_gen\": %d, "
           "\"prefill_tok_s\": %.2f, \"decode_tok_s\": %.2f}\n",
           path, o->threads, (int)n_prompt, (int)n_gen, n_prompt / t_prefill,
           n_gen > 0 ? n_gen / t_decode : 0.0);
    free(ids);
    session_close(&s);
    return 0;
}

/* ---- command line ------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr,
            "usage: llama_eval quantize IN.gguf OUT.gguf TYPE [--imatrix FILE] [--pure] [--threads N]\n"
            "       llama_eval logits MODEL --tokens \"ID ...\" --out FILE [--threads N]\n"
            "       llama_eval generate MODEL --prompt-ids \"ID ...\" -n N [--threads N]\n"
            "       llama_eval bench MODEL [-p 512] [-n 128] [--threads N]\n"
            "       llama_eval embed MODEL [--pooling none|mean|cls|last] [--threads N] < id-lines\n"
            "options: --kv-f16, --flash-attn, -v\n"
            "TYPE: f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k_s q3_k_m q3_k_l q4_k_s\n"
            "      q4_k_m q5_k_s q5_k_m q6_k iq4_nl iq3_s iq4_xs tq1_0 tq2_0 mxfp4 nvfp4\n");
    return 1;
}

static int32_t parse_count(const char *s, int32_t min)
{
    char *e;
    long v = strtol(s, &e, 10);
    if (e == s || *e || v < min || v > 1 << 20) {
        fprintf(stderr, "llama_eval: bad number %s\n", s);
        exit(1);
    }
    return (int32_t)v;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    const char *cmd = argv[1], *model = argv[2];
    const char *tokens = NULL, *out = NULL, *qout = NULL, *qtype = NULL, *imatrix = NULL;
    int32_t n = -1, p = 512;
    bool pure = false;
    eval_opts o = {.threads = 2, .pooling = -1};
    int i = 3;
    if (!strcmp(cmd, "quantize")) {
        if (argc < 5)
            return usage();
        qout = argv[3];
        qtype = argv[4];
        i = 5;
    }
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-v"))
            verbose = true;
        else if (!strcmp(a, "--pure"))
            pure = true;
        else if (!strcmp(a, "--kv-f16"))
            o.kv_f16 = true;
        else if (!strcmp(a, "--flash-attn"))
            o.flash_attn = true;
        else if (!v)
            return usage();
        else if (!strcmp(a, "--threads"))
            o.threads = parse_count(v, 1), i++;
        else if (!strcmp(a, "--tokens") || !strcmp(a, "--prompt-ids"))
            tokens = v, i++;
        else if (!strcmp(a, "--out"))
            out = v, i++;
        else if (!strcmp(a, "--imatrix"))
            imatrix = v, i++;
        else if (!strcmp(a, "-n"))
            n = parse_count(v, 0), i++;
        else if (!strcmp(a, "-p"))
            p = parse_count(v, 1), i++;
        else if (!strcmp(a, "--pooling")) {
            static const char *const names[] = {"none", "mean", "cls", "last"};
            o.pooling = -2;
            for (int k = 0; k < 4; k++)
                if (!strcmp(v, names[k]))
                    o.pooling = k;
            if (o.pooling == -2)
                return usage();
            i++;
        }
        else
            return usage();
    }

    if (!strcmp(cmd, "quantize")) {
        load_library();
        return cmd_quantize(model, qout, qtype, imatrix, pure, o.threads);
    }
    if (!strcmp(cmd, "logits")) {
        if (!tokens || !out)
            return usage();
        load_library();
        return cmd_logits(model, tokens, out, &o);
    }
    if (!strcmp(cmd, "embed")) {
        o.embeddings = true;
        load_library();
        return cmd_embed(model, &o);
    }
    if (!strcmp(cmd, "generate")) {
        if (!tokens || n < 0)
            return usage();
        load_library();
        return cmd_generate(model, tokens, n, &o);
    }
    if (!strcmp(cmd, "bench")) {
        load_library();
        return cmd_bench(model, p, n < 0 ? 128 : n, &o);
    }
    return usage();
}
