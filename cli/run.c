/*
 * run.c: `rocmforge run MODEL -p TEXT [options]`: generate text.
 *
 * Built on the public API (rocmforge.h) alone (and support/'s rf_fail). The prompt is tokenized with
 * BOS (and whatever else the model's metadata adds), or taken verbatim from
 * --prompt-ids, and prefilled with ONE rf_session_eval call (the runtime
 * splits it into planned steps). Then token by token: the sampler picks
 * from the last logits, the token is shown, and rf_session_eval feeds it
 * back (greedy: rf_session_eval_greedy, the argmax taken on the device). Generation ends at an end-of-generation token (not shown), a
 * --stop string (not shown), -n tokens, or the end of the context. One stats
 * line goes to stderr at the end.
 *
 * Streaming text correctly is the subtle part. A token's bytes are not
 * always whole characters (byte-fallback pieces split UTF-8 sequences), the
 * first piece of a decode loses its leading space on SentencePiece models,
 * and a stop string may straddle tokens. So the text is never built from
 * pieces: after each token we decode the last few prompt ids plus every
 * generated id in one rf_detokenize call, take what lies past the prompt part,
 * and print the new bytes up to the last point that is (a) complete UTF-8
 * and (b) not the beginning of a possible stop string. The held-back bytes
 * are printed when they complete, or at the end. Decoding is quadratic in
 * the generated length; at a few thousand tokens that is still far below one
 * decode step, and it is the only way to print exactly what a decode of the
 * whole output would say.
 *
 * Rows of the output head past the tokenizer's vocabulary (padding) are set
 * to -inf before sampling: they have no text.
 *
 * With --print-ids the generated ids are printed as they come, space-
 * separated; EOG and --stop still end generation (the ids that completed a
 * stop string are printed).
 */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rocmforge/rocmforge.h"
#include "support/error.h"

#define RUN_USAGE                                                                                                   \
    "usage: rocmforge run MODEL -p TEXT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P] "                    \
    "[--repeat-penalty R] [--repeat-last-n N] [--presence-penalty X] [--frequency-penalty X] [--seed S] "          \
    "[--threads N] [--ctx N] [--ubatch N] [--backend cpu|gpu|auto] [--plan PLAN] [--cache DIR] [--no-graph] [--kv-f16] [--prompt-ids IDS] "  \
    "[--print-ids] [--gpu-layers N|auto] [--gpu-mem-limit BYTES] [--tp N] " \
    "[--stop STR]..."

#define PREFIX_IDS 4      /* prompt ids decoded ahead of the output, for context */
#define DEFAULT_CTX 4096  /* as llama.cpp's CLI, unless the model has less */
#define MAX_STOPS 16

typedef struct run_args {
    const char *path, *prompt, *prompt_ids, *backend, *plan, *cache;
    rf_session_options place;    /* --gpu-layers, --tp, ... (cli_gpu_option) */
    long long n_predict, threads, ctx, ubatch;
    rf_sampler_params sp;
    bool print_ids;
    bool no_graph;
    bool kv_f16; /* the KV cache in f16 */
    const char *stop[MAX_STOPS];
    int n_stop;
} run_args;

static int parse(int argc, char **argv, run_args *a)
{
    *a = (run_args){.n_predict = 128, .threads = 0, .ctx = -1, .sp = rf_sampler_defaults()};
    const char *v;
    long long x;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
#define VALUE()                                                                                                     \
    do {                                                                                                            \
        if ((rc = cli_value("run", argc, argv, &i, &v)))                                                            \
            return rc;                                                                                              \
    } while (0)
#define FLOAT(dst, lo, hi)                                                                                          \
    do {                                                                                                            \
        VALUE();                                                                                                    \
        if ((rc = cli_float("run", o, v, lo, hi, &(dst))))                                                          \
            return rc;                                                                                              \
    } while (0)
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            puts(RUN_USAGE "\n(options: docs/cli.md)");
            return -1; /* done, successfully */
        } else if (!strcmp(o, "-p") || !strcmp(o, "--prompt")) {
            VALUE();
            a->prompt = v;
        } else if (!strcmp(o, "--prompt-ids")) {
            VALUE();
            a->prompt_ids = v;
        } else if (!strcmp(o, "-n") || !strcmp(o, "--n-predict")) {
            VALUE();
            if ((rc = cli_int("run", o, v, 0, INT32_MAX, &a->n_predict)))
                return rc;
        } else if (!strcmp(o, "--temp")) {
            FLOAT(a->sp.temperature, -1e9, 1e9);
        } else if (!strcmp(o, "--top-k")) {
            VALUE();
            if ((rc = cli_int("run", o, v, 0, INT32_MAX, &x)))
                return rc;
            a->sp.top_k = (int32_t)x;
        } else if (!strcmp(o, "--top-p")) {
            FLOAT(a->sp.top_p, 0.0, 1.0);
        } else if (!strcmp(o, "--min-p")) {
            FLOAT(a->sp.min_p, 0.0, 1.0);
        } else if (!strcmp(o, "--repeat-penalty")) {
            FLOAT(a->sp.repeat_penalty, 1e-6, 1e6);
        } else if (!strcmp(o, "--repeat-last-n")) {
            VALUE();
            if ((rc = cli_int("run", o, v, 0, 1 << 24, &x)))
                return rc;
            a->sp.penalty_last_n = (int32_t)x;
        } else if (!strcmp(o, "--presence-penalty")) {
            FLOAT(a->sp.presence_penalty, -1e6, 1e6);
        } else if (!strcmp(o, "--frequency-penalty")) {
            FLOAT(a->sp.frequency_penalty, -1e6, 1e6);
        } else if (!strcmp(o, "--seed")) {
            VALUE();
            if ((rc = cli_u64("run", o, v, &a->sp.seed)))
                return rc;
        } else if (!strcmp(o, "--threads") || !strcmp(o, "-t")) {
            VALUE();
            if ((rc = cli_int("run", o, v, 0, 4096, &a->threads)))
                return rc;
        } else if (!strcmp(o, "--ctx") || !strcmp(o, "-c")) {
            VALUE();
            if ((rc = cli_int("run", o, v, 1, UINT32_MAX, &a->ctx)))
                return rc;
        } else if (!strcmp(o, "--ubatch") || !strcmp(o, "-ub")) {
            VALUE();
            if ((rc = cli_int("run", o, v, 1, 1 << 16, &a->ubatch)))
                return rc;
        } else if (!strcmp(o, "--no-graph")) {
            a->no_graph = true;
        } else if (!strcmp(o, "--kv-f16")) {
            a->kv_f16 = true;
        } else if (!strcmp(o, "--plan")) {
            if ((rc = cli_value("run", argc, argv, &i, &a->plan)))
                return rc;
        } else if (!strcmp(o, "--cache")) {
            if ((rc = cli_value("run", argc, argv, &i, &a->cache)))
                return rc;
        } else if (!strcmp(o, "--backend")) {
            VALUE();
            if (strcmp(v, "cpu") && strcmp(v, "gpu") && strcmp(v, "auto"))
                return cli_usage_error("run: --backend: '%s' is not one of cpu, gpu, auto", v);
            a->backend = v;
        } else if (!strcmp(o, "--print-ids")) {
            a->print_ids = true;
        } else if (!strcmp(o, "--stop")) {
            VALUE();
            if (!*v)
                return cli_usage_error("run: --stop: the stop string is empty");
            if (a->n_stop == MAX_STOPS)
                return cli_usage_error("run: --stop: at most %d stop strings", MAX_STOPS);
            a->stop[a->n_stop++] = v;
        } else if ((rc = cli_gpu_option("run", argc, argv, &i, &a->place)) >= 0) {
            if (rc)
                return rc;
        } else if (o[0] == '-' && o[1]) {
            return cli_usage_error("run: unknown option '%s'", o);
        } else if (!a->path) {
            a->path = o;
        } else {
            return cli_usage_error("run: unexpected argument '%s' (the prompt goes after -p)", o);
        }
#undef FLOAT
#undef VALUE
    }
    if (!a->path || (!a->prompt && !a->prompt_ids))
        return cli_usage_error(RUN_USAGE);
    if (a->prompt && a->prompt_ids)
        return cli_usage_error("run: -p and --prompt-ids exclude each other");
    return 0;
}

/* ---- streaming output ------------------------------------------------- */

typedef struct stream {
    rf_model *m;
    int32_t *ids;          /* (n_prefix + n_predict) prompt tail, then generated */
    size_t n_prefix, n;
    char *base;            /* decode of the prefix ids alone */
    size_t base_len;
    size_t printed;        /* bytes of generated text written */
    const run_args *a;
} stream;

/* Bytes at the end of s[0..n) that start a UTF-8 sequence not yet complete. */
static size_t utf8_incomplete_tail(const char *s, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation: keep looking for the lead */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

/* Offset of the first needle in hay[from..n), or SIZE_MAX. Not strstr: a
 * token may decode to a NUL byte. */
static size_t find(const char *hay, size_t n, size_t from, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = from; nl <= n && i <= n - nl; i++)
        if (!memcmp(hay + i, needle, nl))
            return i;
    return SIZE_MAX;
}

/* Decodes and prints what is new. final: print everything left. Sets
 * *stopped when a stop string appeared (its text and what follows are not
 * printed). */
static rf_status stream_emit(stream *st, bool final, bool *stopped, rf_error *err)
{
    *stopped = false;
    if (st->a->print_ids && st->a->n_stop == 0)
        return RF_OK; /* the text is not needed */
    char *full;
    size_t len;
    rf_status s = rf_detokenize(st->m, st->ids, st->n, 0, &full, &len, err);
    if (s != RF_OK)
        return s;
    size_t base = 0; /* the prefix's text, as far as it still agrees */
    while (base < st->base_len && base < len && full[base] == st->base[base])
        base++;
    const char *gen = full + base;
    size_t gen_len = len - base, from = st->printed < gen_len ? st->printed : gen_len;
    size_t end = gen_len;
    for (int i = 0; i < st->a->n_stop; i++) {
        size_t at = find(gen, gen_len, from, st->a->stop[i]);
        if (at < end) {
            end = at;
            *stopped = true;
        }
    }
    if (!*stopped && !final) {
        for (int i = 0; i < st->a->n_stop; i++) { /* hold back a stop string's beginning */
            size_t sl = strlen(st->a->stop[i]);
            for (size_t l = sl - 1; l > 0; l--)
                if (l <= gen_len - from && !memcmp(gen + gen_len - l, st->a->stop[i], l)) {
                    if (gen_len - l < end)
                        end = gen_len - l;
                    break;
                }
        }
        end -= utf8_incomplete_tail(gen + from, end - from);
    }
    if (!st->a->print_ids && end > from) {
        fwrite(gen + from, 1, end - from, stdout);
        if (fflush(stdout) != 0) {
            free(full);
            return rf_fail(err, RF_E_IO, "stdout: write failed");
        }
    }
    if (end > st->printed)
        st->printed = end;
    free(full);
    return RF_OK;
}

/* ---- the command ------------------------------------------------------ */

typedef struct run_stats {
    size_t n_prompt, n_gen, n_decode_evals;
    double t_prefill, t_decode;
    const char *why;
} run_stats;

static rf_status generate(rf_session *rt, rf_sampler *smp, rf_model *m, const run_args *a, const int32_t *prompt,
                          size_t n_prompt, run_stats *rs, rf_error *err)
{
    rf_status s;
    uint32_t n_vocab = rf_session_n_vocab(rt), n_tokens = rf_vocab_size(m);
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    stream st = {.m = m, .a = a, .n_prefix = n_prompt < PREFIX_IDS ? n_prompt : PREFIX_IDS};
    /* at most one token per free position, plus the one sampled when full */
    size_t max_gen = (size_t)a->n_predict, room = (size_t)(rf_session_n_ctx(rt) - n_prompt) + 1;
    st.ids = malloc((st.n_prefix + (max_gen < room ? max_gen : room)) * sizeof *st.ids);
    if (!logits || !st.ids) {
        s = rf_fail(err, RF_E_NOMEM, "out of memory for %u logits", n_vocab);
        goto done;
    }
    memcpy(st.ids, prompt + n_prompt - st.n_prefix, st.n_prefix * sizeof *st.ids);
    st.n = st.n_prefix;
    if (!(a->print_ids && a->n_stop == 0) &&
        (s = rf_detokenize(m, st.ids, st.n, 0, &st.base, &st.base_len, err)) != RF_OK)
        goto done;

    for (size_t i = 0; i < n_prompt; i++)
        rf_sampler_accept(smp, prompt[i]);
    /* plain greedy decoding picks on the device: one id comes back, not the
     * logits (the padding rows of a head wider than the vocabulary would need
     * masking first, so those take the host path) */
    const rf_sampler_params *sp = &a->sp;
    bool on_device = sp->temperature <= 0 && sp->repeat_penalty == 1.0f && sp->presence_penalty == 0.0f &&
                     sp->frequency_penalty == 0.0f && n_vocab == n_tokens;
    int32_t next = 0;
    double t0 = cli_now();
    if ((s = on_device ? rf_session_eval_greedy(rt, 0, prompt, n_prompt, &next, err)
                       : rf_session_eval(rt, 0, prompt, n_prompt, logits, err)) != RF_OK)
        goto done;
    rs->t_prefill = cli_now() - t0;
    rs->why = "n";
    for (long long i = 0; i < a->n_predict; i++) {
        int32_t tok = next;
        if (on_device) {
            rf_sampler_accept(smp, tok);
        } else {
            for (uint32_t k = n_tokens; k < n_vocab; k++)
                logits[k] = -INFINITY; /* padding rows of the output head: no token to print */
            tok = rf_sampler_sample(smp, logits);
        }
        if (rf_token_is_eog(m, tok)) {
            rs->why = "eog";
            break;
        }
        if ((uint32_t)tok >= n_tokens) {
            s = rf_fail(err, RF_E_FORMAT, "sampled id %d has no token in the vocabulary of %u", tok, n_tokens);
            goto done;
        }
        st.ids[st.n++] = tok;
        rs->n_gen++;
        if (a->print_ids) {
            printf(rs->n_gen > 1 ? " %d" : "%d", tok);
            if (fflush(stdout) != 0) {
                s = rf_fail(err, RF_E_IO, "stdout: write failed");
                goto done;
            }
        }
        bool stopped;
        if ((s = stream_emit(&st, false, &stopped, err)) != RF_OK)
            goto done;
        if (stopped) {
            rs->why = "stop";
            goto done;
        }
        if (i + 1 == a->n_predict)
            break;
        if (rf_session_n_past(rt, 0) >= rf_session_n_ctx(rt)) {
            rs->why = "ctx";
            break;
        }
        t0 = cli_now();
        if ((s = on_device ? rf_session_eval_greedy(rt, 0, &tok, 1, &next, err)
                           : rf_session_eval(rt, 0, &tok, 1, logits, err)) != RF_OK)
            goto done;
        rs->t_decode += cli_now() - t0;
        rs->n_decode_evals++;
    }
    bool stopped;
    s = stream_emit(&st, true, &stopped, err);
done:
    free(st.base);
    free(st.ids);
    free(logits);
    return s;
}

int cmd_run(int argc, char **argv)
{
    run_args a;
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    signal(SIGPIPE, SIG_IGN); /* `run ... | head`: a write error ends generation, not a signal */

    rf_error err = {0};
    rf_model *m = NULL;
    rf_session *rt = NULL;
    rf_sampler *smp = NULL;
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    rf_model_info info;
    run_stats rs = {0};

    if (a.prompt_ids && (rc = cli_ids("run", "--prompt-ids", a.prompt_ids, &prompt, &n_prompt)))
        return rc;
    if (rf_model_open(a.path, &m, &err) != RF_OK || rf_model_load_tokenizer(m, &err) != RF_OK ||
        rf_model_get_info(m, &info, &err) != RF_OK)
        goto fail;
    if (a.prompt && rf_tokenize(m, a.prompt, strlen(a.prompt), RF_TOK_ADD_SPECIAL, &prompt, &n_prompt, &err) != RF_OK)
        goto fail;
    for (size_t i = 0; i < n_prompt; i++)
        if ((uint32_t)prompt[i] >= rf_vocab_size(m)) {
            rc = cli_usage_error("run: --prompt-ids: id %d (at %zu) is outside the vocabulary of %u", prompt[i], i,
                                 rf_vocab_size(m));
            goto out;
        }
    if (n_prompt == 0) {
        rc = cli_usage_error("run: the prompt is empty (no tokens, and the model adds no BOS)");
        goto out;
    }
    cli_ui ui;
    rf_session_options so = {.backend = a.backend,
                             .n_threads = (int)a.threads,
                             .plan = a.plan,
                             .cache_dir = a.cache,
                             .no_graph = a.no_graph,
                             .kv_f16 = a.kv_f16,
                             .n_ubatch = (uint32_t)a.ubatch};
    cli_placement(&so, &a.place);
    cli_session_callbacks(&so, &ui);
    if (a.ctx > 0)
        so.n_ctx = (uint32_t)a.ctx;
    else if (info.context_length)
        so.n_ctx = info.context_length < DEFAULT_CTX ? info.context_length : DEFAULT_CTX;
    if (so.n_ctx && n_prompt >= so.n_ctx) {
        rc = cli_usage_error("run: the prompt's %zu tokens leave no room in a context of %u (--ctx)", n_prompt,
                             so.n_ctx);
        goto out;
    }
    if (rf_session_open(m, &so, &rt, &err) != RF_OK ||
        rf_sampler_new(&a.sp, rf_session_n_vocab(rt), &smp, &err) != RF_OK)
        goto fail;
    if (n_prompt >= rf_session_n_ctx(rt)) {
        rc = cli_usage_error("run: the prompt's %zu tokens leave no room in a context of %u (--ctx)", n_prompt,
                             rf_session_n_ctx(rt));
        goto out;
    }
    rs.n_prompt = n_prompt;
    if (generate(rt, smp, m, &a, prompt, n_prompt, &rs, &err) != RF_OK) {
        fputc('\n', stdout);
        fflush(stdout);
        goto fail;
    }
    fputc('\n', stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fputs("rocmforge: run: writing to stdout failed\n", stderr);
        rc = 1;
        goto out;
    }
    fprintf(stderr, "prompt %zu tokens, %.2f tok/s | generated %zu tokens, %.2f tok/s | stop: %s | %s, seed %llu\n",
            rs.n_prompt, rs.t_prefill > 0 ? (double)rs.n_prompt / rs.t_prefill : 0.0, rs.n_gen,
            rs.t_decode > 0 ? (double)rs.n_decode_evals / rs.t_decode : 0.0, rs.why, rf_session_backend(rt),
            (unsigned long long)rf_sampler_seed(smp));
    rc = 0;
    goto out;
fail:
    rc = cli_error(&err);
out:
    rf_sampler_free(smp);
    rf_session_close(rt);
    free(prompt);
    rf_model_close(m);
    return rc;
}
