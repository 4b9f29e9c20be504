/*
 * rf_compare.c: one model, one token sequence, two backends in-process: the
 * CPU (the reference, itself checked against llama.cpp) against another,
 * through runtime.h only.
 *
 *   rf_compare MODEL (--tokens "ID ID ..." | --random N [--seed S])
 *              [--backend B] [--gen N] [--prompts K] [--prompt "ID ..."]...
 *              [--prompt-len L] [--threads N] [--ctx N] [--batch N] [--kv-f16] [--seqs S]
 *              [--gpu-layers N|auto] [--gpu-mem-limit BYTES] [--tp N]
 *              [--bounds random|trained] [--min-cos X] [--mean-cos X]
 *              [--top1 X] [--kl-mean X] [--kl-max X] [--greedy-same M]
 *              [--tie X] [--json] [-q]
 *
 * 1. Logits. Both sessions (rt_options.backend "cpu" and B, default "gpu";
 *    all_logits) evaluate the sequence from position 0 as one call, nothing
 *    added (no BOS). Per position: the cosine of the two logit rows, whether
 *    their argmax agree, and KL(cpu || B) of their softmaxes in nats; then
 *    the worst and mean of each. Also the logit error d = cpu - B: its
 *    largest |d|, and the largest error of the margin between the CPU's two
 *    best tokens, |d[top1] - d[top2]|, which is what moves a greedy pick.
 * 2. Greedy continuations. Two more sessions (last-token logits only, the
 *    path `rocmforge run` takes) extend each of K prompts by N tokens, one
 *    token per step, argmax with the lowest id on ties, never stopping at an
 *    end-of-generation token; the two continuations must be identical. Where
 *    they part, the gap of each side's logits between the two picks at that
 *    step is shown: a near tie (both within --tie) is rounding, not a bug;
 *    so is the swing gap_cpu - gap_B (= d[cpu's pick] - d[B's pick], what
 *    parted them), to hold against section 1's margin error.
 *    Prompts: each --prompt; else with --random, K sequences of L random ids
 *    (seeds S+1..S+K); else K prefixes of --tokens of evenly spaced lengths.
 *
 * 3. Batched (--seqs S, S >= 2). One session of S sequences on B steps
 *    the S prompts together (rt_step: every prompt's rows in one step,
 *    each sequence's last row with logits), then --gen steps of one token
 *    for each (rt_decode_batch), the tokens fixed in advance (random ids,
 *    seeds S+201..): S sequences at their own positions, each row's logits
 *    compared with the CPU's all-logits session of that sequence alone at
 *    the same position. Prompts: the greedy section's first S, or random.
 *    The cosine and top-1 bounds hold for these rows too.
 *
 * Bounds, each checked only when given: --min-cos, --mean-cos, --top1 (a
 * fraction) at least, --kl-mean, --kl-max (nats) at most, --greedy-same M:
 * at least M identical continuations and every parting a near tie. The
 * presets are the conformance suite's (tests/test_model_conformance.c);
 * later options override earlier ones:
 *   --bounds random   min-cos 0.995, mean-cos 0.999, top1 0.80 (random-weight
 *                     fixtures: logits spread ~1, so cosine is meaningful),
 *                     and greedy-same 0 with every parting a near tie within
 *                     0.05 (random logits part often, but never by more: a
 *                     last-token session that computes other logits than
 *                     the all-logits one parts by ~1)
 *   --bounds trained  kl-max 0.005, kl-mean 0.001, top1 0.90, and
 *                     greedy-same ceil(3K/4) with every parting a near tie
 *                     (within --tie, 0.02)
 * Exit status: 0 all bounds hold, 1 a bound failed (each failure is printed),
 * 2 usage, a model or a backend that would not open or evaluate (with B =
 * gpu in a build without one, the runtime's "no GPU backend" error).
 *
 * --gpu-layers and --gpu-mem-limit go to B's sessions (runtime.h): a model
 * split by layers across the GPU and the CPU, checked against the CPU; so
 * does --tp N: the model split N ways by tensor parallelism (its ranks one
 * after another on B), checked against the unsplit CPU session.
 *
 * --json prints one JSON object on stdout instead of the text report. With B
 * = cpu both sides run the same code and agree exactly: the tool's own test.
 * Random ids are drawn from [3, n_vocab).
 */
#include "frontend/gguf.h"
#include "runtime/runtime.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PROMPTS 64
#define TIE_DEFAULT 0.02
#define TIE_RANDOM 0.05 /* --bounds random: random logits part by more, but still never by ~1 */

typedef struct ids {
    int32_t *v;
    uint32_t n;
} ids;

typedef struct bound {
    const char *name;  /* as the option, without "--" */
    bool set, upper;   /* upper: value <= limit, else value >= limit */
    double limit, value;
} bound;

enum { B_MIN_COS, B_MEAN_COS, B_TOP1, B_KL_MEAN, B_KL_MAX, B_GREEDY_SAME, N_BOUNDS };

typedef struct cfg {
    const char *model, *backend, *tokens_arg;
    const char *gpu_layers; /* B's sessions: split by layers (runtime.h) */
    uint64_t gpu_mem_limit;
    uint32_t tp;            /* B's sessions: split by tensor parallelism (0, 1: not) */
    uint32_t n_random, n_gen, n_prompts, prompt_len, n_ctx, n_batch, n_seqs;
    uint64_t seed;
    int n_threads;
    bool kv_f16, json, quiet;
    double tie;
    bound b[N_BOUNDS];
    const char *prompt_args[MAX_PROMPTS];
    uint32_t n_prompt_args;
} cfg;

/* Per position of the logits comparison. */
typedef struct pos_result {
    double cos, kl;
    int32_t top_a, top_b;
    double d_max, d_margin; /* max |cpu - B|; |d[top1] - d[top2]| of the CPU's two best */
} pos_result;

typedef struct greedy_result {
    ids prompt, a, b;
    int parts_at;          /* -1: identical */
    double gap_a, gap_b;   /* logit of a's pick minus b's pick, each side */
    double d_margin;       /* the steps up to the parting: max |d[top1] - d[top2]| (logit_error) */
} greedy_result;

static const char *prog = "rf_compare";

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "%s: %s%s%s\n", prog, what, detail ? ": " : "", detail ? detail : "");
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        fail("out of memory", NULL);
    return p;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- measures (as test_model_conformance.c computes them) -------------- */

static int32_t argmax(const float *x, uint32_t n) /* lowest id on ties, NaN never wins */
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best] || (isnan(x[best]) && !isnan(x[i])))
            best = i;
    return (int32_t)best;
}

/* Cosine in double; -1 when a row is not finite. */
static double cosine(const float *a, const float *b, uint32_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (uint32_t i = 0; i < n; i++)
        ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return isfinite(ab) && isfinite(aa) && isfinite(bb) ? ab / sqrt(aa * bb + 1e-30) : -1;
}

/* KL(softmax(lp) || softmax(lq)) in nats, INFINITY when not finite. */
static double kl_div(const float *lp, const float *lq, uint32_t n)
{
    int32_t ip = argmax(lp, n), iq = argmax(lq, n);
    double zp = 0, zq = 0, kl = 0;
    for (uint32_t i = 0; i < n; i++)
        zp += exp((double)lp[i] - lp[ip]), zq += exp((double)lq[i] - lq[iq]);
    double log_zp = log(zp), log_zq = log(zq);
    for (uint32_t i = 0; i < n; i++) {
        double log_p = lp[i] - lp[ip] - log_zp, log_q = lq[i] - lq[iq] - log_zq;
        kl += exp(log_p) * (log_p - log_q);
    }
    return isfinite(kl) ? fmax(kl, 0.0) : INFINITY;
}

/* The logit error d = a - b of one row: its largest |d| and the error of
 * the margin between a's two best tokens, |d[t1] - d[t2]| (NaN when not
 * finite). */
static void logit_error(const float *a, const float *b, uint32_t n, double *d_max, double *d_margin)
{
    uint32_t t1 = (uint32_t)argmax(a, n), t2 = t1 ? 0 : 1;
    double m = 0;
    for (uint32_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        m = d > m || isnan(d) ? d : m;
        if (i != t1 && a[i] > a[t2])
            t2 = i;
    }
    *d_max = m;
    *d_margin = n > 1 ? fabs(((double)a[t1] - b[t1]) - ((double)a[t2] - b[t2])) : 0;
}

/* ---- token ids ---------------------------------------------------------- */

static ids parse_ids(const char *s, const char *what)
{
    ids r = {xmalloc((strlen(s) / 2 + 1) * sizeof *r.v), 0};
    char *e;
    for (;;) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n')
            s++;
        if (!*s)
            break;
        long v = strtol(s, &e, 10);
        if (e == s || v < 0 || v > INT32_MAX)
            fail("bad token id in", what);
        r.v[r.n++] = (int32_t)v;
        s = e;
    }
    if (!r.n)
        fail("no token ids in", what);
    return r;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static ids random_ids(uint32_t n, uint64_t seed, uint32_t n_vocab)
{
    ids r = {xmalloc(n * sizeof *r.v), n};
    uint64_t s = seed;
    for (uint32_t i = 0; i < n; i++)
        r.v[i] = (int32_t)(3 + splitmix(&s) % (n_vocab - 3));
    return r;
}

static ids copy_ids(const int32_t *v, uint32_t n)
{
    ids r = {xmalloc(n * sizeof *r.v), n};
    memcpy(r.v, v, n * sizeof *v);
    return r;
}

/* ---- sessions --------------------------------------------------------- */

/* the runtime's notices ("gpu layers auto: ..."), once a session */
static void notice(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "rf_compare: %s\n", msg);
}

/* a session's options: the CPU's, or B's with its layers split as asked */
static rt_options options(const cfg *c, const char *backend, bool all_logits, uint32_t n_seq)
{
    bool other = backend == c->backend; /* B's sessions are opened with c->backend itself */
    return (rt_options){.backend = backend, .n_threads = c->n_threads, .n_ctx = c->n_ctx, .n_batch = c->n_batch,
                        .n_seq = n_seq, .all_logits = all_logits, .kv_f16 = c->kv_f16,
                        .gpu_layers = other ? c->gpu_layers : NULL, .gpu_mem_limit = other ? c->gpu_mem_limit : 0,
                        .tp = other ? c->tp : 0, .warn = notice};
}

static rt_session *open_session(const gguf_file *f, const cfg *c, const char *backend, bool all_logits)
{
    rt_options o = options(c, backend, all_logits, 1);
    rt_session *s;
    rf_error err = {0};
    if (rt_session_open(f, &o, &s, &err) != RF_OK) {
        char what[64];
        snprintf(what, sizeof what, "backend %s", backend);
        fail(what, err.msg);
    }
    return s;
}

static void eval(rt_session *s, const int32_t *tok, uint32_t n, float *logits)
{
    rf_error err = {0};
    if (rt_eval(s, tok, n, logits, &err) != RF_OK) {
        char what[64];
        snprintf(what, sizeof what, "eval on %s", rt_backend_name(s));
        fail(what, err.msg);
    }
}

/* Greedy: prompt, then n_gen picks, each fed back; the last step's logits
 * of both sides stay in la/lb, so where the two part the gap is at hand. */
static void greedy_pair(rt_session *sa, rt_session *sb, const cfg *c, uint32_t n_vocab, greedy_result *g,
                        float *la, float *lb)
{
    rt_reset(sa);
    rt_reset(sb);
    g->a = (ids){xmalloc(c->n_gen * sizeof(int32_t)), 0};
    g->b = (ids){xmalloc(c->n_gen * sizeof(int32_t)), 0};
    g->parts_at = -1;
    g->gap_a = g->gap_b = NAN;
    g->d_margin = 0;
    eval(sa, g->prompt.v, g->prompt.n, la);
    eval(sb, g->prompt.v, g->prompt.n, lb);
    for (uint32_t i = 0; i < c->n_gen; i++) {
        int32_t ta = argmax(la, n_vocab), tb = argmax(lb, n_vocab);
        if (g->parts_at < 0) { /* the decode steps' own margin error, where both still see the same tokens */
            double dm, dg;
            logit_error(la, lb, n_vocab, &dm, &dg);
            g->d_margin = !(dg <= g->d_margin) ? dg : g->d_margin;
        }
        g->a.v[g->a.n++] = ta;
        g->b.v[g->b.n++] = tb;
        if (ta != tb && g->parts_at < 0) {
            g->parts_at = (int)i;
            g->gap_a = (double)la[ta] - la[tb];
            g->gap_b = (double)lb[ta] - lb[tb];
        }
        if (i + 1 < c->n_gen) {
            eval(sa, &ta, 1, la);
            eval(sb, &tb, 1, lb);
        }
    }
}

/* The batched comparison (section 3): the S sequences' rows with logits
 * stepped together on backend b, each against its sequence alone on the
 * CPU; adds every row's cosine and top-1 agreement to *sum_cos, *min_cos
 * and *agree, and returns the rows compared. */
static uint32_t batched(const gguf_file *f, const cfg *c, const ids *prompt, uint32_t n_vocab, double *sum_cos,
                        double *min_cos, uint32_t *agree)
{
    uint32_t S = c->n_seqs, n_rows = 0, rows = 0;
    ids cont[MAX_PROMPTS];
    for (uint32_t k = 0; k < S; k++) {
        cont[k] = random_ids(c->n_gen, c->seed + 201 + k, n_vocab);
        n_rows += prompt[k].n;
    }
    /* the reference: each sequence alone, every position's logits */
    rt_session *sa = open_session(f, c, "cpu", true);
    float **ref = xmalloc(S * sizeof *ref);
    for (uint32_t k = 0; k < S; k++) {
        uint32_t n = prompt[k].n + c->n_gen;
        int32_t *tok = xmalloc(n * sizeof *tok);
        memcpy(tok, prompt[k].v, prompt[k].n * sizeof *tok);
        memcpy(tok + prompt[k].n, cont[k].v, c->n_gen * sizeof *tok);
        ref[k] = xmalloc((size_t)n * n_vocab * sizeof **ref);
        rt_reset(sa);
        eval(sa, tok, n, ref[k]);
        free(tok);
    }
    rt_session_close(sa);
    /* the S sequences together: the prompts in one step, then the tokens */
    rt_options o = options(c, c->backend, false, S);
    rt_session *sb;
    rf_error err = {0};
    if (rt_session_open(f, &o, &sb, &err) != RF_OK)
        fail("a session of several sequences", err.msg);
    uint32_t *seq = xmalloc(n_rows * sizeof *seq);
    int32_t *tok = xmalloc(n_rows * sizeof *tok);
    bool *want = xmalloc(n_rows * sizeof *want);
    float *lb = xmalloc((size_t)S * n_vocab * sizeof *lb);
    for (uint32_t k = 0, i = 0; k < S; k++)
        for (uint32_t j = 0; j < prompt[k].n; j++, i++) {
            seq[i] = k;
            tok[i] = prompt[k].v[j];
            want[i] = j + 1 == prompt[k].n;
        }
    for (uint32_t step = 0; step <= c->n_gen; step++) {
        rf_status st;
        if (step == 0) {
            st = rt_step(sb, n_rows, seq, tok, want, lb, &err);
        } else {
            for (uint32_t k = 0; k < S; k++) {
                seq[k] = k;
                tok[k] = cont[k].v[step - 1];
            }
            st = rt_decode_batch(sb, S, seq, tok, lb, &err);
        }
        if (st != RF_OK)
            fail(step ? "a batched decode step" : "the batched prompts' step", err.msg);
        for (uint32_t k = 0; k < S; k++) {
            const float *ra = ref[k] + (size_t)(prompt[k].n - 1 + step) * n_vocab, *rb = lb + (size_t)k * n_vocab;
            double cs = cosine(ra, rb, n_vocab);
            *sum_cos += cs;
            if (cs < *min_cos)
                *min_cos = cs;
            *agree += argmax(ra, n_vocab) == argmax(rb, n_vocab);
            rows++;
        }
    }
    rt_session_close(sb);
    for (uint32_t k = 0; k < S; k++) {
        free(ref[k]);
        free(cont[k].v);
    }
    free(ref);
    free(seq);
    free(tok);
    free(want);
    free(lb);
    return rows;
}

/* ---- report ----------------------------------------------------------- */

static void print_ids_json(const ids *x)
{
    putchar('[');
    for (uint32_t i = 0; i < x->n; i++)
        printf(i ? ",%d" : "%d", (int)x->v[i]);
    putchar(']');
}

static void print_ids_text(const ids *x)
{
    for (uint32_t i = 0; i < x->n; i++)
        printf(i ? " %d" : "%d", (int)x->v[i]);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_num(double v) /* JSON has no inf/nan */
{
    if (isfinite(v))
        printf("%.9g", v);
    else
        printf("null");
}

/* ---- command line ----------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr,
            "usage: rf_compare MODEL (--tokens \"ID ...\" | --random N [--seed S]) [--backend B]\n"
            "         [--gen N] [--prompts K] [--prompt \"ID ...\"]... [--prompt-len L]\n"
            "         [--threads N] [--ctx N] [--batch N] [--kv-f16] [--seqs S]\n"
            "         [--gpu-layers N|auto] [--gpu-mem-limit BYTES] [--tp N]\n"
            "         [--bounds random|trained] [--min-cos X] [--mean-cos X] [--top1 X]\n"
            "         [--kl-mean X] [--kl-max X] [--greedy-same M] [--tie X] [--json] [-q]\n");
    return 2;
}

static double parse_num(const char *s, const char *opt)
{
    char *e;
    double v = strtod(s, &e);
    if (e == s || *e || !isfinite(v) || v < 0)
        fail("bad value for", opt);
    return v;
}

static void set_bound(cfg *c, int k, double limit)
{
    c->b[k].set = true;
    c->b[k].limit = limit;
}

static void parse_args(int argc, char **argv, cfg *c)
{
    static const char *names[N_BOUNDS] = {"min-cos", "mean-cos", "top1", "kl-mean", "kl-max", "greedy-same"};
    static const bool upper[N_BOUNDS] = {false, false, false, true, true, false};
    for (int k = 0; k < N_BOUNDS; k++)
        c->b[k] = (bound){.name = names[k], .upper = upper[k]};
    bool trained = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            c->json = true;
            continue;
        } else if (!strcmp(a, "-q")) {
            c->quiet = true;
            continue;
        } else if (!strcmp(a, "--kv-f16")) {
            c->kv_f16 = true;
            continue;
        } else if (a[0] != '-') {
            if (c->model)
                exit(usage());
            c->model = a;
            continue;
        } else if (!v) {
            exit(usage());
        }
        i++;
        int k = -1;
        for (int j = 0; j < N_BOUNDS; j++)
            if (!strncmp(a, "--", 2) && !strcmp(a + 2, names[j]))
                k = j;
        if (k >= 0) {
            set_bound(c, k, parse_num(v, a));
            if (k == B_GREEDY_SAME)
                trained = false; /* an explicit count replaces the preset's */
        } else if (!strcmp(a, "--tokens")) {
            c->tokens_arg = v;
        } else if (!strcmp(a, "--random")) {
            c->n_random = (uint32_t)parse_num(v, a);
        } else if (!strcmp(a, "--seed")) {
            c->seed = strtoull(v, NULL, 10);
        } else if (!strcmp(a, "--backend")) {
            c->backend = v;
        } else if (!strcmp(a, "--gen")) {
            c->n_gen = (uint32_t)parse_num(v, a);
        } else if (!strcmp(a, "--prompts")) {
            c->n_prompts = (uint32_t)parse_num(v, a);
        } else if (!strcmp(a, "--prompt")) {
            if (c->n_prompt_args == MAX_PROMPTS)
                fail("too many --prompt", NULL);
            c->prompt_args[c->n_prompt_args++] = v;
        } else if (!strcmp(a, "--prompt-len")) {
            c->prompt_len = (uint32_t)parse_num(v, a);
        } else if (!strcmp(a, "--threads")) {
            c->n_threads = (int)parse_num(v, a);
        } else if (!strcmp(a, "--ctx")) {
            c->n_ctx = (uint32_t)parse_num(v, a);
        } else if (!strcmp(a, "--batch")) {
            c->n_batch = (uint32_t)parse_num(v, a);
        } else if (!strcmp(a, "--gpu-layers")) {
            c->gpu_layers = v;
        } else if (!strcmp(a, "--gpu-mem-limit")) {
            c->gpu_mem_limit = (uint64_t)parse_num(v, a);
        } else if (!strcmp(a, "--tp")) {
            c->tp = (uint32_t)parse_num(v, a);
        } else if (!strcmp(a, "--seqs")) {
            c->n_seqs = (uint32_t)parse_num(v, a);
        } else if (!strcmp(a, "--tie")) {
            c->tie = parse_num(v, a);
        } else if (!strcmp(a, "--bounds") && !strcmp(v, "random")) {
            set_bound(c, B_MIN_COS, 0.995);
            set_bound(c, B_MEAN_COS, 0.999);
            set_bound(c, B_TOP1, 0.80);
            set_bound(c, B_GREEDY_SAME, 0); /* any count, but every parting a near tie */
            c->tie = TIE_RANDOM;
        } else if (!strcmp(a, "--bounds") && !strcmp(v, "trained")) {
            set_bound(c, B_KL_MAX, 0.005);
            set_bound(c, B_KL_MEAN, 0.001);
            set_bound(c, B_TOP1, 0.90);
            trained = true;
        } else {
            exit(usage());
        }
    }
    if (!c->model || (!c->tokens_arg == !c->n_random) || c->n_prompts > MAX_PROMPTS || c->n_seqs == 1 ||
        c->n_seqs > MAX_PROMPTS)
        exit(usage());
    if (c->n_prompt_args)
        c->n_prompts = c->n_prompt_args;
    if (trained && c->n_gen && c->n_prompts)
        set_bound(c, B_GREEDY_SAME, ceil(0.75 * c->n_prompts));
}

int main(int argc, char **argv)
{
    cfg c = {.backend = "gpu", .n_gen = 16, .n_prompts = 4, .prompt_len = 8, .seed = 1, .tie = TIE_DEFAULT};
    parse_args(argc, argv, &c);

    gguf_file *f;
    rf_error err = {0};
    if (gguf_open(c.model, &f, &err) != RF_OK)
        fail(c.model, err.msg);
    const gguf_kv *toks;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STRING, &toks, &err) != RF_OK || toks->arr_n < 4)
        fail(c.model, "no tokenizer.ggml.tokens to draw ids from");
    uint32_t n_vocab = (uint32_t)toks->arr_n;

    ids seq = c.tokens_arg ? parse_ids(c.tokens_arg, "--tokens") : random_ids(c.n_random, c.seed, n_vocab);
    static greedy_result g[MAX_PROMPTS];
    uint32_t K = c.n_gen ? c.n_prompts : 0, max_prompt = 0;
    for (uint32_t k = 0; k < K; k++) {
        if (c.n_prompt_args)
            g[k].prompt = parse_ids(c.prompt_args[k], "--prompt");
        else if (c.n_random)
            g[k].prompt = random_ids(c.prompt_len, c.seed + 1 + k, n_vocab);
        else
            g[k].prompt = copy_ids(seq.v, seq.n * (k + 1) / K ? seq.n * (k + 1) / K : 1);
        if (g[k].prompt.n > max_prompt)
            max_prompt = g[k].prompt.n;
    }
    if (!c.n_ctx) {
        c.n_ctx = seq.n > 256 ? seq.n : 256; /* what llama_eval logits and the suite use */
        if (max_prompt + c.n_gen > c.n_ctx)
            c.n_ctx = max_prompt + c.n_gen;
    }

    /* 1. logits, every position */
    rt_session *sa = open_session(f, &c, "cpu", true), *sb = open_session(f, &c, c.backend, true);
    if (rt_n_vocab(sa) != rt_n_vocab(sb))
        fail("the two sessions disagree on n_vocab", NULL);
    n_vocab = rt_n_vocab(sa);
    const char *name_b = rt_backend_name(sb);
    float *la = xmalloc((size_t)seq.n * n_vocab * sizeof *la), *lb = xmalloc((size_t)seq.n * n_vocab * sizeof *lb);
    double t0 = now();
    eval(sa, seq.v, seq.n, la);
    double t1 = now();
    eval(sb, seq.v, seq.n, lb);
    double t2 = now();
    rt_session_close(sa);
    rt_session_close(sb);

    pos_result *pr = xmalloc(seq.n * sizeof *pr);
    double sum_cos = 0, sum_kl = 0, min_cos = 2, max_kl = 0, d_max = 0, d_margin = 0;
    uint32_t agree = 0, worst_cos = 0, worst_kl = 0;
    for (uint32_t p = 0; p < seq.n; p++) {
        const float *ra = la + (size_t)p * n_vocab, *rb = lb + (size_t)p * n_vocab;
        pr[p] = (pos_result){cosine(ra, rb, n_vocab), kl_div(ra, rb, n_vocab), argmax(ra, n_vocab), argmax(rb, n_vocab),
                             0, 0};
        logit_error(ra, rb, n_vocab, &pr[p].d_max, &pr[p].d_margin);
        d_max = !(pr[p].d_max <= d_max) ? pr[p].d_max : d_max;
        d_margin = !(pr[p].d_margin <= d_margin) ? pr[p].d_margin : d_margin;
        sum_cos += pr[p].cos;
        sum_kl += pr[p].kl;
        agree += pr[p].top_a == pr[p].top_b;
        if (pr[p].cos < min_cos)
            min_cos = pr[p].cos, worst_cos = p;
        if (!(pr[p].kl <= max_kl))
            max_kl = pr[p].kl, worst_kl = p;
    }
    free(la);
    free(lb);

    /* 2. greedy continuations, last-token sessions */
    uint32_t same = 0, bad_partings = 0;
    if (K) {
        sa = open_session(f, &c, "cpu", false);
        sb = open_session(f, &c, c.backend, false);
        la = xmalloc(n_vocab * sizeof *la);
        lb = xmalloc(n_vocab * sizeof *lb);
        for (uint32_t k = 0; k < K; k++) {
            greedy_pair(sa, sb, &c, n_vocab, &g[k], la, lb);
            same += g[k].parts_at < 0;
            bad_partings += g[k].parts_at >= 0 && !(fabs(g[k].gap_a) <= c.tie && fabs(g[k].gap_b) <= c.tie);
        }
        free(la);
        free(lb);
        rt_session_close(sa);
        rt_session_close(sb);
    }

    /* 3. batched: the greedy section's prompts, or random ones */
    double b_sum_cos = 0, b_min_cos = 2;
    uint32_t b_agree = 0, b_rows = 0;
    if (c.n_seqs) {
        ids bp[MAX_PROMPTS];
        for (uint32_t k = 0; k < c.n_seqs; k++)
            bp[k] = k < K ? copy_ids(g[k].prompt.v, g[k].prompt.n) : random_ids(c.prompt_len, c.seed + 101 + k, n_vocab);
        b_rows = batched(f, &c, bp, n_vocab, &b_sum_cos, &b_min_cos, &b_agree);
        for (uint32_t k = 0; k < c.n_seqs; k++)
            free(bp[k].v);
    }

    /* bounds */
    c.b[B_MIN_COS].value = min_cos;
    c.b[B_MEAN_COS].value = sum_cos / seq.n;
    c.b[B_TOP1].value = (double)agree / seq.n;
    c.b[B_KL_MEAN].value = sum_kl / seq.n;
    c.b[B_KL_MAX].value = max_kl;
    c.b[B_GREEDY_SAME].value = same;
    bool ok = true, ok_b[N_BOUNDS], ok_batch = true;
    if (b_rows) { /* the batched rows within the same cosine and top-1 bounds */
        const bound *mc = &c.b[B_MIN_COS], *me = &c.b[B_MEAN_COS], *t1 = &c.b[B_TOP1];
        ok_batch = (!mc->set || b_min_cos >= mc->limit) && (!me->set || b_sum_cos / b_rows >= me->limit) &&
                   (!t1->set || (double)b_agree / b_rows >= t1->limit);
        if (!ok_batch)
            fprintf(stderr, "%s: bound failed: the batched rows (%u sequences): cosine min %.6f, mean %.6f, top-1 %.3f\n",
                    prog, c.n_seqs, b_min_cos, b_sum_cos / b_rows, (double)b_agree / b_rows);
    }
    for (int k = 0; k < N_BOUNDS; k++) {
        const bound *b = &c.b[k];
        ok_b[k] = !b->set || (b->upper ? b->value <= b->limit : b->value >= b->limit);
        if (k == B_GREEDY_SAME && b->set && bad_partings)
            ok_b[k] = false; /* a parting that is no near tie fails it whatever the count */
        ok &= ok_b[k];
    }
    ok &= ok_batch;

    if (c.json) {
        printf("{\"model\":");
        json_str(c.model);
        printf(",\"backend_a\":\"cpu\",\"backend_b\":");
        json_str(name_b);
        printf(",\"n_vocab\":%u,\"n_ctx\":%u,", n_vocab, c.n_ctx);
        printf("\"seconds_a\":%.4f,\"seconds_b\":%.4f,\"tokens\":", t1 - t0, t2 - t1);
        print_ids_json(&seq);
        printf(",\"positions\":[");
        for (uint32_t p = 0; p < seq.n; p++) {
            printf("%s{\"cos\":", p ? "," : "");
            json_num(pr[p].cos);
            printf(",\"top1_a\":%d,\"top1_b\":%d,\"kl\":", (int)pr[p].top_a, (int)pr[p].top_b);
            json_num(pr[p].kl);
            printf(",\"d_max\":");
            json_num(pr[p].d_max);
            printf(",\"d_margin\":");
            json_num(pr[p].d_margin);
            printf("}");
        }
        printf("],\"min_cos\":");
        json_num(min_cos);
        printf(",\"worst_cos_pos\":%u,\"mean_cos\":", worst_cos);
        json_num(sum_cos / seq.n);
        printf(",\"top1\":");
        json_num((double)agree / seq.n);
        printf(",\"kl_mean\":");
        json_num(sum_kl / seq.n);
        printf(",\"kl_max\":");
        json_num(max_kl);
        printf(",\"worst_kl_pos\":%u,\"max_abs_d\":", worst_kl);
        json_num(d_max);
        printf(",\"max_margin_d\":");
        json_num(d_margin);
        printf(",\"greedy\":[");
        for (uint32_t k = 0; k < K; k++) {
            printf("%s{\"prompt\":", k ? "," : "");
            print_ids_json(&g[k].prompt);
            printf(",\"a\":");
            print_ids_json(&g[k].a);
            printf(",\"b\":");
            print_ids_json(&g[k].b);
            printf(",\"parts_at\":%d,\"gap_a\":", g[k].parts_at);
            json_num(g[k].gap_a);
            printf(",\"gap_b\":");
            json_num(g[k].gap_b);
            printf(",\"d_margin\":");
            json_num(g[k].d_margin);
            printf("}");
        }
        printf("],\"greedy_same\":%u,", same);
        if (b_rows) {
            printf("\"batch\":{\"seqs\":%u,\"rows\":%u,\"min_cos\":", c.n_seqs, b_rows);
            json_num(b_min_cos);
            printf(",\"mean_cos\":");
            json_num(b_sum_cos / b_rows);
            printf(",\"top1\":");
            json_num((double)b_agree / b_rows);
            printf(",\"ok\":%s},", ok_batch ? "true" : "false");
        }
        printf("\"bounds\":[");
        bool first = true;
        for (int k = 0; k < N_BOUNDS; k++) {
            if (!c.b[k].set)
                continue;
            printf("%s{\"name\":\"%s\",\"limit\":%.9g,\"value\":", first ? "" : ",", c.b[k].name, c.b[k].limit);
            json_num(c.b[k].value);
            printf(",\"ok\":%s}", ok_b[k] ? "true" : "false");
            first = false;
        }
        printf("],\"ok\":%s}\n", ok ? "true" : "false");
    } else {
        printf("%s: %u tokens, cpu vs %s (n_vocab %u, n_ctx %u); eval %.3f s / %.3f s\n", c.model, seq.n, name_b,
               n_vocab, c.n_ctx, t1 - t0, t2 - t1);
        if (!c.quiet) {
            printf("  pos  token   cosine     top-1 cpu / %-6s KL(cpu||%s)\n", name_b, name_b);
            for (uint32_t p = 0; p < seq.n; p++)
                printf("  %3u %7d  %.6f  %7d / %-7d%s %.3e\n", p, (int)seq.v[p], pr[p].cos, (int)pr[p].top_a,
                       (int)pr[p].top_b, pr[p].top_a == pr[p].top_b ? " " : "*", pr[p].kl);
        }
        printf("  cosine min %.6f (position %u), mean %.6f; top-1 %u/%u (%.1f%%); KL mean %.3e, max %.3e (position %u)\n",
               min_cos, worst_cos, sum_cos / seq.n, agree, seq.n, 100.0 * agree / seq.n, sum_kl / seq.n, max_kl,
               worst_kl);
        printf("  logit error cpu - %s: max |d| %.4g; the CPU's top-2 margin, max |d[top1] - d[top2]| %.4g\n", name_b,
               d_max, d_margin);
        if (K)
            printf("  greedy: %u of %u continuations of %u tokens identical\n", same, K, c.n_gen);
        if (b_rows)
            printf("  batched: %u sequences together, %u rows against each alone: cosine min %.6f, mean %.6f; "
                   "top-1 %u/%u%s\n", c.n_seqs, b_rows, b_min_cos, b_sum_cos / b_rows, b_agree, b_rows,
                   ok_batch ? "" : " FAILED");
        for (uint32_t k = 0; k < K; k++) {
            printf("    prompt %u (", k);
            print_ids_text(&g[k].prompt);
            if (g[k].parts_at < 0) {
                printf("): identical\n");
                if (!c.quiet) {
                    printf("      ");
                    print_ids_text(&g[k].a);
                    printf("\n");
                }
                continue;
            }
            printf("): part at generated token %d, logit of cpu's pick minus %s's: cpu %+.4f, %s %+.4f, swing %.4f "
                   "(top-2 margin error of the steps up to it: max %.4f)%s\n",
                   g[k].parts_at, name_b, g[k].gap_a, name_b, g[k].gap_b, g[k].gap_a - g[k].gap_b, g[k].d_margin,
                   fabs(g[k].gap_a) <= c.tie && fabs(g[k].gap_b) <= c.tie ? " (near tie)" : "");
            printf("      cpu: ");
            print_ids_text(&g[k].a);
            printf("\n      %s: ", name_b);
            print_ids_text(&g[k].b);
            printf("\n");
        }
        for (int k = 0; k < N_BOUNDS; k++) {
            const bound *b = &c.b[k];
            if (!b->set)
                continue;
            printf("  %s %s %g: %.6g %s", b->name, b->upper ? "<=" : ">=", b->limit, b->value, ok_b[k] ? "ok" : "FAILED");
            if (k == B_GREEDY_SAME && bad_partings)
                printf(" (%u parting%s not at a near tie within %g)", bad_partings, bad_partings > 1 ? "s" : "", c.tie);
            printf("\n");
        }
    }
    if (!ok)
        for (int k = 0; k < N_BOUNDS; k++)
            if (!ok_b[k])
                fprintf(stderr, "%s: bound failed: %s %s %g (got %.6g)\n", prog, c.b[k].name,
                        c.b[k].upper ? "<=" : ">=", c.b[k].limit, c.b[k].value);

    for (uint32_t k = 0; k < K; k++) {
        free(g[k].prompt.v);
        free(g[k].a.v);
        free(g[k].b.v);
    }
    free(pr);
    free(seq.v);
    gguf_close(f);
    return ok ? 0 : 1;
}
