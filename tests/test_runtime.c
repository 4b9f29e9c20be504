/*
 * test_runtime.c: the runtime's contract on the bundled trained model
 * (models/kjv-tiny-llama-q8_0.gguf), and its refusals.
 *
 * - a prompt evaluated as one batch, in planned steps of 4 tokens, and token
 *   by token gives the same next-token logits (the KV cache and positions
 *   are right whichever way the prompt arrives);
 * - rt_reset forgets the cache: the same prompt gives the same logits again;
 * - bad requests are errors that leave the session usable: no tokens, a
 *   token id outside the vocabulary, a context overflow;
 * - a model whose weights the CPU cannot run is refused at open with the
 *   tensor and the type named: a matrix of an unsupported type (TQ2_0), and
 *   a norm weight that is not f32;
 * - several sequences in one session: each prompt fed to its own sequence,
 *   then batched decode steps of several sequences at their own positions,
 *   give every row the logits a session of that sequence alone gives (f32
 *   and f16 caches); a reset sequence starts over; bad batches are refused
 *   without consuming anything;
 * - steps mixing several sequences' prompt chunks and decode tokens, rows
 *   interleaved, give each wanted row its sequence's logits alone.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/gguf.h"
#include "runtime/runtime.h"
#include "test_util.h"

#define MODEL RF_SOURCE_DIR "/models/kjv-tiny-llama-q8_0.gguf"

static const int32_t prompt[] = {1, 512, 278, 6763, 4177, 2825, 278, 18356, 322, 278, 8437, 29889};
#define N_PROMPT (sizeof prompt / sizeof prompt[0])

static gguf_file *open_model(void)
{
    gguf_file *f = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_open(MODEL, &f, &err), RF_OK);
    return f;
}

static double max_rel_diff(const float *a, const float *b, size_t n)
{
    double m = 0, scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(a[i]));
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m / (scale > 0 ? scale : 1);
}

/* logits of the last prompt token, fed in chunks of `chunk` tokens */
static float *eval_prompt(gguf_file *f, uint32_t n_batch, uint32_t chunk)
{
    rt_options o = {.n_threads = 2, .n_ctx = 64, .n_batch = n_batch};
    rt_session *s = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rt_session_open(f, &o, &s, &err), RF_OK);
    float *lg = malloc(rt_n_vocab(s) * sizeof *lg);
    for (size_t i = 0; i < N_PROMPT; i += chunk) {
        uint32_t n = (uint32_t)(N_PROMPT - i < chunk ? N_PROMPT - i : chunk);
        CU_ASSERT_EQUAL(rt_eval(s, prompt + i, n, lg, &err), RF_OK);
    }
    CU_ASSERT_EQUAL(rt_n_past(s), N_PROMPT);
    rt_session_close(s);
    return lg;
}

static void test_batch_equals_stepwise(void)
{
    gguf_file *f = open_model();
    float *batch = eval_prompt(f, 512, N_PROMPT);
    float *steps = eval_prompt(f, 4, N_PROMPT);  /* the runtime splits into steps of 4 */
    float *single = eval_prompt(f, 512, 1);     /* token by token */
    size_t n = 32000;
    CU_ASSERT(max_rel_diff(batch, steps, n) < 1e-4);
    CU_ASSERT(max_rel_diff(batch, single, n) < 1e-4);
    free(batch);
    free(steps);
    free(single);
    gguf_close(f);
}

static void test_reset_and_bad_requests(void)
{
    gguf_file *f = open_model();
    rt_options o = {.n_threads = 2, .n_ctx = 16};
    rt_session *s = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rt_session_open(f, &o, &s, &err), RF_OK);
    uint32_t nv = rt_n_vocab(s);
    float *a = malloc(nv * sizeof *a), *b = malloc(nv * sizeof *b);
    CU_ASSERT_EQUAL(rt_eval(s, prompt, N_PROMPT, a, &err), RF_OK);
    rt_reset(s);
    CU_ASSERT_EQUAL(rt_n_past(s), 0);
    CU_ASSERT_EQUAL(rt_eval(s, prompt, N_PROMPT, b, &err), RF_OK);
    CU_ASSERT(max_rel_diff(a, b, nv) == 0);

    CU_ASSERT_EQUAL(rt_eval(s, prompt, 0, a, &err), RF_E_ARG);
    int32_t bad[2] = {5, (int32_t)nv};
    CU_ASSERT_EQUAL(rt_eval(s, bad, 2, a, &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "outside the vocabulary"));
    CU_ASSERT_EQUAL(rt_eval(s, prompt, 5, a, &err), RF_E_ARG); /* 12 + 5 > 16 */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "context full"));
    CU_ASSERT_EQUAL(rt_n_past(s), N_PROMPT);                    /* nothing consumed */
    CU_ASSERT_EQUAL(rt_eval(s, prompt, 4, a, &err), RF_OK);     /* still usable */
    free(a);
    free(b);
    rt_session_close(s);
    gguf_close(f);
}

/* A copy of the model with one tensor re-typed (its bytes re-made). */
static const char *retyped(const char *name, ggml_type type, const char *file)
{
    gguf_file *f = open_model();
    gguf_writer *w = gguf_writer_new(3);
    CU_ASSERT_EQUAL_FATAL(gguf_writer_copy_kvs(w, f), RF_OK);
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char tn[256];
        snprintf(tn, sizeof tn, "%.*s", (int)t->name.len, t->name.ptr);
        if (strcmp(tn, name)) {
            CU_ASSERT_EQUAL(gguf_writer_add_tensor(w, tn, t->type, t->n_dims, t->ne, t->data), RF_OK);
            continue;
        }
        const ggml_type_traits *tr = ggml_type_get(type);
        size_t bytes = t->n_elements / tr->block_size * tr->type_size;
        uint8_t *data = calloc(1, bytes);
        CU_ASSERT_EQUAL(gguf_writer_add_tensor(w, tn, type, t->n_dims, t->ne, data), RF_OK);
        free(data);
    }
    const char *path = test_tmp_path(file);
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_writer_write(w, path, &err), RF_OK);
    gguf_writer_free(w);
    gguf_close(f);
    return path;
}

static void expect_refused(const char *path, const char *tensor, const char *type)
{
    gguf_file *f = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_open(path, &f, &err), RF_OK);
    rt_options o = {.n_threads = 1, .n_ctx = 16};
    rt_session *s = NULL;
    CU_ASSERT_NOT_EQUAL(rt_session_open(f, &o, &s, &err), RF_OK);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, tensor));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, type));
    if (!strstr(err.msg, tensor) || !strstr(err.msg, type))
        fprintf(stderr, "message: %s\n", err.msg);
    gguf_close(f);
}

/* the four prompts of the sequences: pieces of the prompt above, of
 * different lengths, and the tokens each is continued with */
static const uint32_t seq_start[4] = {0, 3, 1, 5}, seq_len[4] = {5, 9, 2, 7};
static const int32_t seq_next[2][4] = {{278, 18356, 322, 29889}, {6763, 512, 4177, 2825}};

/* what one sequence alone gives: its prompt, then its next tokens one by one */
static void alone(gguf_file *f, bool kv_f16, int s, int steps, float *out)
{
    rt_options o = {.n_threads = 2, .n_ctx = 32, .kv_f16 = kv_f16};
    rt_session *ss = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rt_session_open(f, &o, &ss, &err), RF_OK);
    CU_ASSERT_EQUAL(rt_eval(ss, prompt + seq_start[s], seq_len[s], out, &err), RF_OK);
    for (int k = 0; k < steps; k++)
        CU_ASSERT_EQUAL(rt_eval(ss, &seq_next[k][s], 1, out, &err), RF_OK);
    rt_session_close(ss);
}

static void test_sequences(void)
{
    gguf_file *f = open_model();
    const size_t nv = 32000;
    for (int kvh = 0; kvh < 2; kvh++) {
        rt_options o = {.n_threads = 2, .n_ctx = 32, .n_seq = 4, .kv_f16 = kvh == 1};
        rt_session *s = NULL;
        rf_error err = {0};
        CU_ASSERT_EQUAL_FATAL(rt_session_open(f, &o, &s, &err), RF_OK);
        CU_ASSERT_EQUAL(rt_n_seq(s), 4);
        float *lg = malloc(4 * nv * sizeof *lg), *ref = malloc(nv * sizeof *ref);
        /* prompts, the last sequence first: each sequence's rows are its own */
        for (int q = 3; q >= 0; q--) {
            CU_ASSERT_EQUAL(rt_eval_seq(s, (uint32_t)q, prompt + seq_start[q], seq_len[q], lg, &err), RF_OK);
            alone(f, kvh, q, 0, ref);
            CU_ASSERT(max_rel_diff(ref, lg, nv) < 1e-4);
            CU_ASSERT_EQUAL(rt_seq_n_past(s, (uint32_t)q), seq_len[q]);
        }
        /* a step of all four, in another order; then one of two */
        static const uint32_t steps[2][4] = {{2, 0, 3, 1}, {3, 2}}, n_rows[2] = {4, 2};
        for (int k = 0; k < 2; k++) {
            int32_t tok[4];
            for (uint32_t i = 0; i < n_rows[k]; i++)
                tok[i] = seq_next[k][steps[k][i]];
            CU_ASSERT_EQUAL(rt_decode_batch(s, n_rows[k], steps[k], tok, lg, &err), RF_OK);
            for (uint32_t i = 0; i < n_rows[k]; i++) {
                alone(f, kvh, (int)steps[k][i], k + 1, ref);
                CU_ASSERT(max_rel_diff(ref, lg + i * nv, nv) < 1e-4);
                CU_ASSERT_EQUAL(rt_seq_n_past(s, steps[k][i]), seq_len[steps[k][i]] + 1 + (k == 1));
            }
        }
        CU_ASSERT_EQUAL(rt_seq_n_past(s, 0), seq_len[0] + 1);
        /* a reset sequence starts over; the others keep theirs */
        rt_seq_reset(s, 3);
        CU_ASSERT_EQUAL(rt_seq_n_past(s, 3), 0);
        CU_ASSERT_EQUAL(rt_eval_seq(s, 3, prompt + seq_start[3], seq_len[3], lg, &err), RF_OK);
        alone(f, kvh, 3, 0, ref);
        CU_ASSERT(max_rel_diff(ref, lg, nv) < 1e-4);
        CU_ASSERT_EQUAL(rt_seq_n_past(s, 2), seq_len[2] + 2);
        free(lg);
        free(ref);
        rt_session_close(s);
    }
    gguf_close(f);
}

/* the last-token logits of ids[0..n) in a session of its own */
static void logits_alone(gguf_file *f, const int32_t *ids, uint32_t n, float *out)
{
    rt_options o = {.n_threads = 2, .n_ctx = 64};
    rt_session *s = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rt_session_open(f, &o, &s, &err), RF_OK);
    CU_ASSERT_EQUAL(rt_eval(s, ids, n, out, &err), RF_OK);
    rt_session_close(s);
}

/* rt_step: steps mixing prompt chunks and decode tokens of several
 * sequences, rows interleaved, give each wanted row the logits of its
 * sequence's tokens alone; a step that wants no logits still advances its
 * sequences; bad steps are refused and consume nothing. */
static void test_mixed_steps(void)
{
    gguf_file *f = open_model();
    const size_t nv = 32000;
    rt_options o = {.n_threads = 2, .n_ctx = 64, .n_seq = 3, .n_batch = 8}; /* steps of up to 3 + 8 rows */
    rt_session *s = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rt_session_open(f, &o, &s, &err), RF_OK);
    /* what each sequence is fed, in all */
    static const int32_t q0[] = {1, 512, 278, 6763, 4177, 2825, 278, 18356};
    static const int32_t q1[] = {1, 450, 3189, 4177, 338, 590, 29879, 1216, 2728, 29892};
    static const int32_t q2[] = {1, 1126, 4177, 1497, 29892, 2803, 727, 367, 3578};
    float *lg = malloc(3 * nv * sizeof *lg), *ref = malloc(nv * sizeof *ref);
    /* 1: q2's first 5 (no logits), q0's first 6 (logits after the 6th), interleaved */
    const uint32_t s1[] = {2, 0, 0, 2, 0, 2, 0, 0, 2, 2, 0, 0};
    const int32_t t1[] = {q2[0], q0[0], q0[1], q2[1], q0[2], q2[2], q0[3], q0[4], q2[3], q2[4], q0[5], q0[6]};
    bool w1[12] = {0};
    w1[11] = true;
    CU_ASSERT_EQUAL(rt_step(s, 12, s1, t1, w1, lg, &err), RF_E_ARG); /* 12 rows: one too many */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "at most 11"));
    const uint32_t s_bad[] = {0, 3};
    CU_ASSERT_EQUAL(rt_step(s, 2, s_bad, t1, w1, lg, &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "sequence 3, the session holds 3"));
    /* rows 0..10: q2's first 5, q0's first 6, logits after q0's 6th */
    CU_ASSERT_EQUAL(rt_step(s, 11, s1, t1, w1 + 1, lg, &err), RF_OK);
    CU_ASSERT_EQUAL(rt_seq_n_past(s, 0), 6);
    CU_ASSERT_EQUAL(rt_seq_n_past(s, 2), 5);
    logits_alone(f, q0, 6, ref);
    CU_ASSERT(max_rel_diff(ref, lg, nv) < 1e-4);
    /* 2: q0's 7th and 8th, q1's first 4 (no logits), q2's 6th..9th; logits for q0 and q2, in row order */
    const uint32_t s2[] = {2, 1, 0, 1, 2, 1, 0, 2, 1, 2};
    const int32_t t2[] = {q2[5], q1[0], q0[6], q1[1], q2[6], q1[2], q0[7], q2[7], q1[3], q2[8]};
    const bool early[] = {0, 0, 1, 0, 0, 0, 0, 0, 0, 1}, w2[] = {0, 0, 0, 0, 0, 0, 1, 0, 0, 1};
    CU_ASSERT_EQUAL(rt_step(s, 10, s2, t2, early, lg, &err), RF_E_ARG); /* logits before q0's last row */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "last row"));
    CU_ASSERT_TRUE(rt_seq_n_past(s, 0) == 6 && rt_seq_n_past(s, 1) == 0 && rt_seq_n_past(s, 2) == 5);
    CU_ASSERT_EQUAL(rt_step(s, 10, s2, t2, w2, lg, &err), RF_OK);
    logits_alone(f, q0, 8, ref);
    CU_ASSERT(max_rel_diff(ref, lg, nv) < 1e-4);
    logits_alone(f, q2, 9, ref);
    CU_ASSERT(max_rel_diff(ref, lg + nv, nv) < 1e-4);
    /* 3: q1's 5th..9th, no logits at all; 4: its 10th with */
    const uint32_t s3[] = {1, 1, 1, 1, 1};
    const bool none[5] = {0}, one = true;
    CU_ASSERT_EQUAL(rt_step(s, 5, s3, q1 + 4, none, NULL, &err), RF_OK);
    CU_ASSERT_EQUAL(rt_seq_n_past(s, 1), 9);
    CU_ASSERT_EQUAL(rt_step(s, 1, s3, q1 + 9, &one, NULL, &err), RF_E_ARG); /* nowhere for the logits */
    CU_ASSERT_EQUAL(rt_step(s, 1, s3, q1 + 9, &one, lg, &err), RF_OK);
    logits_alone(f, q1, 10, ref);
    CU_ASSERT(max_rel_diff(ref, lg, nv) < 1e-4);
    free(lg);
    free(ref);
    rt_session_close(s);
    gguf_close(f);
}

/* bad batches: refused, named, nothing consumed */
static void test_bad_batches(void)
{
    gguf_file *f = open_model();
    rt_options o = {.n_threads = 2, .n_ctx = 8, .n_seq = 3};
    rt_session *s = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rt_session_open(f, &o, &s, &err), RF_OK);
    float *lg = malloc(3 * 32000 * sizeof *lg);
    CU_ASSERT_EQUAL(rt_eval_seq(s, 1, prompt, 8, lg, &err), RF_OK); /* sequence 1 is full */
    const uint32_t dup[2] = {0, 0}, out[2] = {0, 3}, full[2] = {2, 1}, ok[2] = {0, 2};
    const int32_t tok[3] = {5, 6, 7}, bad_tok[2] = {5, 32000};
    struct {
        uint32_t n;
        const uint32_t *seq;
        const int32_t *tok;
        const char *msg;
    } cases[] = {{0, ok, tok, "a batch of 0"},     {4, ok, tok, "a batch of 4"},
                 {2, dup, tok, "both sequence 0"}, {2, out, tok, "sequence 3, the session holds 3"},
                 {2, full, tok, "sequence 1 is full"}, {2, ok, bad_tok, "outside the vocabulary"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CU_ASSERT_EQUAL(rt_decode_batch(s, cases[i].n, cases[i].seq, cases[i].tok, lg, &err), RF_E_ARG);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cases[i].msg));
        if (!strstr(err.msg, cases[i].msg))
            fprintf(stderr, "expected '%s' in '%s'\n", cases[i].msg, err.msg);
    }
    CU_ASSERT_EQUAL(rt_eval_seq(s, 3, prompt, 1, lg, &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "sequence 3: the session holds 3"));
    CU_ASSERT_TRUE(rt_seq_n_past(s, 0) == 0 && rt_seq_n_past(s, 1) == 8 && rt_seq_n_past(s, 2) == 0);
    CU_ASSERT_EQUAL(rt_decode_batch(s, 2, ok, tok, lg, &err), RF_OK); /* still usable */
    CU_ASSERT_TRUE(rt_seq_n_past(s, 0) == 1 && rt_seq_n_past(s, 2) == 1);
    free(lg);
    rt_session_close(s);
    gguf_close(f);
}

/* The paged cache: three sequences share a pool of three blocks (96
 * positions). A prompt needing a block when none is free fails and changes
 * nothing; a sequence reset gives its blocks back; a sequence on blocks
 * another one used before gets what a fresh session gets; a batched step
 * needing a block from a dry pool fails whole. */
static void test_paged_cache(void)
{
    gguf_file *f = open_model();
    rt_options o = {.n_threads = 2, .n_ctx = 64, .n_seq = 3, .kv_positions = 3 * RT_KV_BLOCK};
    rt_session *s = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rt_session_open(f, &o, &s, &err), RF_OK);
    int32_t ids[60];
    for (int i = 0; i < 60; i++)
        ids[i] = 100 + 37 * i;
    uint32_t used, total;
    float *lg = malloc(3 * 32000 * sizeof *lg), *ref = malloc(32000 * sizeof *ref);
    CU_ASSERT_EQUAL(rt_eval_seq(s, 0, ids, 40, lg, &err), RF_OK); /* 2 blocks */
    CU_ASSERT_EQUAL(rt_eval_seq(s, 1, ids + 3, 20, lg, &err), RF_OK); /* 1 block: the pool is dry */
    rt_kv_blocks(s, &used, &total);
    CU_ASSERT_TRUE(used == 3 && total == 3);
    CU_ASSERT_EQUAL(rt_eval_seq(s, 2, ids + 7, 5, lg, &err), RF_E_NOMEM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "KV cache is full"));
    CU_ASSERT_EQUAL(rt_seq_n_past(s, 2), 0);
    /* sequence 1 at 20 + 12 = 32 positions still fits its block; the 33rd needs another */
    CU_ASSERT_EQUAL(rt_eval_seq(s, 1, ids + 23, 12, lg, &err), RF_OK);
    const uint32_t both[2] = {0, 1};
    const int32_t tok[2] = {5, 6};
    CU_ASSERT_EQUAL(rt_decode_batch(s, 2, both, tok, lg, &err), RF_E_NOMEM);
    CU_ASSERT_TRUE(rt_seq_n_past(s, 0) == 40 && rt_seq_n_past(s, 1) == 32);
    rt_kv_blocks(s, &used, &total);
    CU_ASSERT_EQUAL(used, 3);
    /* sequence 0 gives its two blocks back; sequence 2 runs on them */
    rt_seq_reset(s, 0);
    rt_kv_blocks(s, &used, &total);
    CU_ASSERT_EQUAL(used, 1);
    CU_ASSERT_EQUAL(rt_eval_seq(s, 2, ids + 7, 45, lg, &err), RF_OK);
    rt_session *fresh = NULL;
    rt_options one = {.n_threads = 2, .n_ctx = 64};
    CU_ASSERT_EQUAL_FATAL(rt_session_open(f, &one, &fresh, &err), RF_OK);
    CU_ASSERT_EQUAL(rt_eval(fresh, ids + 7, 45, ref, &err), RF_OK);
    CU_ASSERT(max_rel_diff(ref, lg, 32000) < 1e-4);
    rt_session_close(fresh);
    rt_reset(s);
    rt_kv_blocks(s, &used, &total);
    CU_ASSERT_EQUAL(used, 0);
    free(lg);
    free(ref);
    rt_session_close(s);
    gguf_close(f);
}

/* The public API (rocmforge.h) over the same: two sessions, one of three
 * sequences stepped together, one of a single sequence; the same logits. */
static void test_public_api(void)
{
    rf_error err = {0};
    rf_model *m = NULL;
    rf_session *multi = NULL, *one = NULL;
    CU_ASSERT_EQUAL_FATAL(rf_model_open(MODEL, &m, &err), RF_OK);
    rf_session_options so = {.backend = "cpu", .n_threads = 2, .n_ctx = 32, .n_seq = 3};
    CU_ASSERT_EQUAL_FATAL(rf_session_open(m, &so, &multi, &err), RF_OK);
    so.n_seq = 0;
    CU_ASSERT_EQUAL_FATAL(rf_session_open(m, &so, &one, &err), RF_OK);
    CU_ASSERT_STRING_EQUAL(rf_session_backend(multi), "cpu");
    CU_ASSERT_TRUE(rf_session_n_seq(multi) == 3 && rf_session_n_seq(one) == 1 && rf_session_n_ctx(one) == 32);
    const size_t nv = rf_session_n_vocab(one);
    float *lg = malloc(3 * nv * sizeof *lg), *ref = malloc(nv * sizeof *ref);
    for (uint32_t q = 0; q < 3; q++)
        CU_ASSERT_EQUAL(rf_session_eval(multi, q, prompt + seq_start[q], seq_len[q], NULL, &err), RF_OK);
    const uint32_t seq[3] = {1, 2, 0};
    int32_t tok[3];
    for (int i = 0; i < 3; i++)
        tok[i] = seq_next[0][seq[i]];
    CU_ASSERT_EQUAL(rf_session_decode_batch(multi, 3, seq, tok, lg, &err), RF_OK);
    for (int i = 0; i < 3; i++) {
        rf_session_forget(one, 0);
        CU_ASSERT_EQUAL(rf_session_n_past(one, 0), 0);
        CU_ASSERT_EQUAL(rf_session_eval(one, 0, prompt + seq_start[seq[i]], seq_len[seq[i]], NULL, &err), RF_OK);
        CU_ASSERT_EQUAL(rf_session_eval(one, 0, &tok[i], 1, ref, &err), RF_OK);
        CU_ASSERT(max_rel_diff(ref, lg + i * nv, nv) < 1e-4);
        CU_ASSERT_EQUAL(rf_session_n_past(multi, seq[i]), seq_len[seq[i]] + 1);
    }
    /* greedy sampling is the argmax; a bad sequence is an error */
    rf_sampler_params sp = rf_sampler_defaults();
    sp.temperature = 0;
    rf_sampler *smp = NULL;
    CU_ASSERT_EQUAL_FATAL(rf_sampler_new(&sp, (uint32_t)nv, &smp, &err), RF_OK);
    size_t best = 0;
    for (size_t v = 1; v < nv; v++)
        best = ref[v] > ref[best] ? v : best;
    CU_ASSERT_EQUAL(rf_sampler_sample(smp, ref), (int32_t)best);
    CU_ASSERT_EQUAL(rf_session_eval(one, 1, tok, 1, NULL, &err), RF_E_ARG);
    CU_ASSERT_TRUE(rf_token_is_eog(m, 2) && !rf_token_is_eog(m, 1)); /* EOS 2, BOS 1 */
    rf_sampler_free(smp);
    free(lg);
    free(ref);
    rf_session_close(multi);
    rf_session_close(one);
    rf_model_close(m);
}

static void test_unsupported_weights(void)
{
    /* q1_0: a GGUF type no backend runs yet (the CPU runs every IQ and TQ type since #11) */
    expect_refused(retyped("blk.3.ffn_down.weight", GGML_TYPE_Q1_0, "q1.gguf"), "blk.3.ffn_down.weight", "q1_0");
    expect_refused(retyped("blk.1.attn_norm.weight", GGML_TYPE_F16, "f16norm.gguf"), "blk.1.attn_norm.weight", "f16");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("runtime", NULL, NULL);
    CU_add_test(s, "one batch, planned steps and token by token agree", test_batch_equals_stepwise);
    CU_add_test(s, "reset, and bad requests leave the session usable", test_reset_and_bad_requests);
    CU_add_test(s, "weights the CPU cannot run are refused by name", test_unsupported_weights);
    CU_add_test(s, "sequences: prompts and batched decode steps match each alone", test_sequences);
    CU_add_test(s, "bad batches are refused and consume nothing", test_bad_batches);
    CU_add_test(s, "steps mixing prompt chunks and decode tokens match each sequence alone", test_mixed_steps);
    CU_add_test(s, "the public API: sessions, batches, sampling", test_public_api);
    CU_add_test(s, "the paged KV cache: a shared pool, refusals, reuse", test_paged_cache);
    return test_main();
}
