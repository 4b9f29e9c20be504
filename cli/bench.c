/*
 * bench.c: `rocmforge bench MODEL [-p N] [-n N] [--reps R] [--threads N]
 *           [--backend B] [--ctx N] [--no-warmup] [--json]`.
 *
 * Prefill and decode speed, measured the way llama-bench measures them: a
 * prompt of p token ids (random but valid, from a fixed seed, so every run
 * and every build sees the same ids) evaluated in one rf_session_eval call, then n
 * single-token steps, each feeding back the argmax of the last logits. The
 * two phases are timed separately; a run of R repetitions (every sequence forgotten between)
 * reports the best of each, which is the least disturbed by whatever else
 * the machine was doing. Only the evaluations are inside the timers; the argmax and
 * bookkeeping are not. One untimed pass (the prefill and one decode step)
 * comes first, as llama-bench's warm-up, unless --no-warmup.
 *
 * The context is p + n (at least 256) unless --ctx sets it. Output is a
 * one-row table, or with --json one object:
 *   {"model":PATH,"backend":"cpu","threads":N,"n_prompt":p,"n_gen":n,
 *    "reps":R,"prefill_tok_s":X,"decode_tok_s":Y,"prefill_s":..,"decode_s":..,
 *    "open_s":S, "device":NAME,"kernels_compiled":C,"kernels_cached":H}
 * threads is the number asked for; 0 means the runtime's default. open_s is
 * the session's start (import, passes, and on a GPU: kernel build through
 * the cache, weight upload); the last three are for the GPU backend only.
 * Decode steps take the greedy path (rf_session_eval_greedy), so a GPU returns one
 * token id a step rather than the logits.
 *
 * --batch B (B > 1) measures B sequences in one session, as
 * llama-batched-bench does: each gets its own prompt of p ids, read
 * together in steps of up to B + ubatch rows (rf_session_step; prefill: all B
 * prompts' tokens over their time), then n batched decode steps advance
 * all B by one token each (decode: B * n tokens over their time; the
 * argmax of each row feeds it back, outside the timer). --ubatch N plans
 * steps of N tokens (512): longer prompts run in chunks of N.
 *
 * With --profile (ROCMFORGE_PROFILE=1) it also prints to stderr, after the
 * result, the session's profile (rf_session_profile) over the timed
 * repetitions (the untimed warm-up is left out), prefill and decode apart:
 * the time per kind of kernel on the CPU, per kernel with the bytes moved
 * on a GPU; where a step's time goes, for performance work. Built on the
 * public API (rocmforge.h) alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rocmforge/rocmforge.h"

#define BENCH_USAGE                                                                                                 \
    "usage: rocmforge bench MODEL [-p N] [-n N] [-d DEPTH] [--reps R] [--threads N] [--backend cpu|gpu|auto] "     \
    "[--ctx N] [--batch B] [--ubatch N] [--no-warmup] [--no-graph] [--kv-f16] [--profile] [--cache DIR] [--json] "  \
    "[--gpu-layers N|auto] [--gpu-mem-limit BYTES] [--tp N]"

/* The session's profile (the timed repetitions: it is reset after the
 * warm-up), prefill then decode, the largest entries first; a GPU's with
 * the bytes each kernel moved a second against the device's copy
 * bandwidth. wall: the timed seconds of each phase ([0] decode), or < 0. */
static void profile_print(const rf_profile *p, const double wall[2])
{
    if (p->copy_gbs > 0)
        fprintf(stderr, "profile gpu: device copy bandwidth %.0f GB/s (read + write); times between events around "
                        "each launch, none synchronised, decode launch by launch\n", p->copy_gbs);
    bool *shown = calloc(p->n ? p->n : 1, 1);
    for (int f = 1; shown && f >= 0; f--) {
        double total = 0;
        for (uint32_t i = 0; i < p->n; i++)
            total += p->seconds[f][i];
        fprintf(stderr, "profile %s: %.3f s in kernels", f ? "prefill" : "decode", total);
        fprintf(stderr, wall[f] >= 0 ? ", %.3f s timed\n" : "\n", wall[f]);
        fprintf(stderr, "  %-48s %10s %6s %8s %9s", "kernel", "time ms", "%", "calls", "us/call");
        fprintf(stderr, p->bytes[f] ? " %10s %7s %6s\n" : "\n", "MB/call", "GB/s", "% copy");
        memset(shown, 0, p->n);
        for (uint32_t r = 0; r < p->n; r++) {
            uint32_t best = UINT32_MAX;
            for (uint32_t i = 0; i < p->n; i++)
                if (!shown[i] && p->calls[f][i] && (best == UINT32_MAX || p->seconds[f][i] > p->seconds[f][best]))
                    best = i;
            if (best == UINT32_MAX)
                break;
            shown[best] = true;
            double sec = p->seconds[f][best], calls = (double)p->calls[f][best];
            fprintf(stderr, "  %-48s %10.3f %5.1f%% %8llu %9.1f", p->name[best], 1e3 * sec,
                    total > 0 ? 100 * sec / total : 0, (unsigned long long)p->calls[f][best], 1e6 * sec / calls);
            if (p->bytes[f]) {
                double gbs = p->bytes[f][best] / sec / 1e9;
                fprintf(stderr, " %10.2f %7.0f %5.0f%%", p->bytes[f][best] / calls / 1e6, gbs,
                        p->copy_gbs > 0 ? 100 * gbs / p->copy_gbs : 0);
            }
            fputc('\n', stderr);
        }
    }
    free(shown);
}

/* every sequence starts over */
static void forget_all(rf_session *rt)
{
    for (uint32_t q = 0; q < rf_session_n_seq(rt); q++)
        rf_session_forget(rt, q);
}

static int32_t argmax(const float *x, uint32_t n)
{
    int32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = (int32_t)i;
    return best;
}

/* All B prompts (sequence b's: the n ids from b on), in steps of up to
 * cap rows as llama-batched-bench decodes them: the sequences one after
 * another, each prompt's last row with logits (row b of logits). */
static rf_status prefill_all(rf_session *rt, uint32_t B, const int32_t *ids, uint32_t n, uint32_t cap, float *logits,
                             uint32_t *rs, int32_t *rt_ids, bool *want, rf_error *err)
{
    uint32_t nv = rf_session_n_vocab(rt), rows = 0, outs = 0, done = 0; /* done: sequences whose logits are in */
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t i = 0; i < n; i++) {
            rs[rows] = b, rt_ids[rows] = ids[b + i], want[rows++] = i + 1 == n;
            outs += i + 1 == n;
            if (rows == cap || (b + 1 == B && i + 1 == n)) {
                rf_status st = rf_session_step(rt, rows, rs, rt_ids, want, logits + (size_t)done * nv, err);
                if (st != RF_OK)
                    return st;
                done += outs;
                rows = outs = 0;
            }
        }
    return RF_OK;
}

/* --batch B: B prompts, one a sequence (the ids from b on), read together
 * in steps of the sequences and the ubatch, then n_gen steps of all B; rates
 * are tokens of all sequences a second. Returns 0, or 1 with err set. */
static int bench_batch(rf_session *rt, uint32_t B, uint32_t cap, const int32_t *ids, long long n_prompt,
                       long long n_gen, long long depth, long long reps, bool warmup, float *logits, uint32_t *seqs,
                       int32_t *toks, rf_error *err, double *best_pp, double *best_tg, double *mean_pp,
                       double *mean_tg, double *pp_s, double *tg_s)
{
    uint32_t nv = rf_session_n_vocab(rt);
    uint32_t *rs = malloc(cap * sizeof *rs);
    int32_t *rt_ids = malloc(cap * sizeof *rt_ids);
    bool *want = malloc(cap * sizeof *want);
    int rc = !rs || !rt_ids || !want;
    if (rc)
        *err = (rf_error){.status = RF_E_NOMEM, .msg = "bench: out of memory"};
    for (uint32_t b = 0; b < B; b++)
        seqs[b] = b;
    for (long long r = -(long long)warmup; r < reps && !rc; r++) { /* r = -1: the untimed warm-up */
        forget_all(rt);
        if (r == 0)
            rf_session_profile_reset(rt); /* the timed repetitions only */
        if (depth > 0 && (rc = prefill_all(rt, B, ids, (uint32_t)depth, cap, logits, rs, rt_ids, want, err) != RF_OK))
            break;
        double t0 = cli_now();
        if (n_prompt > 0 &&
            (rc = prefill_all(rt, B, ids, (uint32_t)n_prompt, cap, logits, rs, rt_ids, want, err) != RF_OK))
            break;
        double tp = cli_now() - t0, tg = 0;
        for (uint32_t b = 0; b < B; b++)
            toks[b] = argmax(logits + (size_t)b * nv, nv);
        for (long long i = 0; i < (r < 0 ? 1 : n_gen) && !rc; i++) {
            t0 = cli_now();
            if ((rc = rf_session_decode_batch(rt, B, seqs, toks, logits, err) != RF_OK))
                break;
            tg += cli_now() - t0;
            for (uint32_t b = 0; b < B; b++)
                toks[b] = argmax(logits + (size_t)b * nv, nv);
        }
        if (r < 0 || rc)
            continue;
        double rp = (double)B * (double)n_prompt / tp, rg = (double)B * (double)n_gen / tg;
        if (n_prompt > 0) {
            *mean_pp += rp / (double)reps;
            if (rp > *best_pp)
                *best_pp = rp, *pp_s = tp;
        }
        if (n_gen > 0) {
            *mean_tg += rg / (double)reps;
            if (rg > *best_tg)
                *best_tg = rg, *tg_s = tg;
        }
    }
    free(rs);
    free(rt_ids);
    free(want);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    const char *path = NULL, *backend = NULL, *cache_dir = NULL, *v;
    rf_session_options place = {0};
    long long n_prompt = 512, n_gen = 128, reps = 1, threads = 0, ctx = 0, depth = 0, batch = 1, ubatch = 0;
    bool json = false, warmup = true, no_graph = false, kv_f16 = false;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            puts(BENCH_USAGE "\n(options: docs/cli.md)");
            return 0;
        } else if (!strcmp(o, "-p") || !strcmp(o, "--n-prompt")) {
            if ((rc = cli_value("bench", argc, argv, &i, &v)) || (rc = cli_int("bench", o, v, 0, 1 << 20, &n_prompt)))
                return rc;
        } else if (!strcmp(o, "-n") || !strcmp(o, "--n-gen")) {
            if ((rc = cli_value("bench", argc, argv, &i, &v)) || (rc = cli_int("bench", o, v, 0, 1 << 20, &n_gen)))
                return rc;
        } else if (!strcmp(o, "-d") || !strcmp(o, "--depth")) {
            if ((rc = cli_value("bench", argc, argv, &i, &v)) || (rc = cli_int("bench", o, v, 0, 1 << 24, &depth)))
                return rc;
        } else if (!strcmp(o, "--batch") || !strcmp(o, "-b")) {
            if ((rc = cli_value("bench", argc, argv, &i, &v)) || (rc = cli_int("bench", o, v, 1, 4096, &batch)))
                return rc;
        } else if (!strcmp(o, "--ubatch") || !strcmp(o, "-ub")) {
            if ((rc = cli_value("bench", argc, argv, &i, &v)) || (rc = cli_int("bench", o, v, 1, 1 << 16, &ubatch)))
                return rc;
        } else if (!strcmp(o, "--no-graph")) {
            no_graph = true;
        } else if (!strcmp(o, "--kv-f16")) {
            kv_f16 = true;
        } else if (!strcmp(o, "--profile")) {
            setenv("ROCMFORGE_PROFILE", "1", 1); /* read when the session opens */
        } else if (!strcmp(o, "--reps") || !strcmp(o, "-r")) {
            if ((rc = cli_value("bench", argc, argv, &i, &v)) || (rc = cli_int("bench", o, v, 1, 1000, &reps)))
                return rc;
        } else if (!strcmp(o, "--threads") || !strcmp(o, "-t")) {
            if ((rc = cli_value("bench", argc, argv, &i, &v)) || (rc = cli_int("bench", o, v, 0, 4096, &threads)))
                return rc;
        } else if (!strcmp(o, "--ctx") || !strcmp(o, "-c")) {
            if ((rc = cli_value("bench", argc, argv, &i, &v)) || (rc = cli_int("bench", o, v, 1, UINT32_MAX, &ctx)))
                return rc;
        } else if (!strcmp(o, "--cache")) {
            if ((rc = cli_value("bench", argc, argv, &i, &cache_dir)))
                return rc;
        } else if (!strcmp(o, "--backend")) {
            if ((rc = cli_value("bench", argc, argv, &i, &backend)))
                return rc;
            if (strcmp(backend, "cpu") && strcmp(backend, "gpu") && strcmp(backend, "auto"))
                return cli_usage_error("bench: --backend: '%s' is not one of cpu, gpu, auto", backend);
        } else if (!strcmp(o, "--no-warmup")) {
            warmup = false;
        } else if (!strcmp(o, "--json")) {
            json = true;
        } else if ((rc = cli_gpu_option("bench", argc, argv, &i, &place)) >= 0) {
            if (rc)
                return rc;
        } else if (o[0] == '-' && o[1]) {
            return cli_usage_error("bench: unknown option '%s'", o);
        } else if (!path) {
            path = o;
        } else {
            return cli_usage_error("bench: unexpected argument '%s'", o);
        }
    }
    if (!path)
        return cli_usage_error(BENCH_USAGE);
    if (n_prompt == 0 && n_gen > 0)
        return cli_usage_error("bench: -n needs a prompt to continue (-p 1 or more)");
    long long need = depth + n_prompt + n_gen;
    if (ctx && need > ctx)
        return cli_usage_error("bench: -d %lld + -p %lld + -n %lld exceed the context of %lld (--ctx)", depth, n_prompt,
                               n_gen, ctx);

    rf_error err = {0};
    rf_model *m = NULL;
    rf_session *rt = NULL;
    int32_t *ids = NULL, *toks = NULL;
    uint32_t *seqs = NULL;
    float *logits = NULL;
    cli_ui ui;
    rf_session_options so = {.backend = backend,
                             .n_threads = (int)threads,
                             .n_ctx = ctx ? (uint32_t)ctx : need < 256 ? 256 : (uint32_t)need,
                             .n_ubatch = (uint32_t)ubatch,
                             .n_seq = (uint32_t)batch,
                             .cache_dir = cache_dir,
                             .no_graph = no_graph,
                             .kv_f16 = kv_f16};
    cli_placement(&so, &place);
    cli_session_callbacks(&so, &ui);
    double t_open = cli_now();
    if (rf_model_open(path, &m, &err) != RF_OK || rf_session_open(m, &so, &rt, &err) != RF_OK)
        goto fail;
    t_open = cli_now() - t_open;
    uint32_t n_vocab = rf_session_n_vocab(rt);
    /* sequence b's prompt: the ids from b on */
    long long n_ids = (depth > n_prompt ? depth : n_prompt) + batch;
    ids = malloc((size_t)n_ids * sizeof *ids);
    logits = malloc((size_t)n_vocab * (size_t)batch * sizeof *logits);
    seqs = malloc((size_t)batch * sizeof *seqs);
    toks = malloc((size_t)batch * sizeof *toks);
    if (!ids || !logits || !seqs || !toks) {
        fprintf(stderr, "rocmforge: bench: out of memory\n");
        rc = 1;
        goto out;
    }
    /* best and mean (llama-bench's avg_ts: the mean of each repetition's rate) */
    double best_pp = 0, best_tg = 0, pp_s = 0, tg_s = 0, sum_pp = 0, sum_tg = 0, mean_pp = 0, mean_tg = 0;
    uint64_t st = UINT64_C(0x5eed5eed5eed5eed);
    for (long long i = 0; i < n_ids; i++) { /* xorshift64*: fixed ids, any platform */
        st ^= st >> 12, st ^= st << 25, st ^= st >> 27;
        ids[i] = (int32_t)((st * UINT64_C(2685821657736338717)) >> 33) % (int32_t)n_vocab;
    }

    if (batch > 1) {
        uint32_t cap = (uint32_t)batch + (ubatch ? (uint32_t)ubatch : 512); /* a step's rows */
        rc = bench_batch(rt, (uint32_t)batch, cap, ids, n_prompt, n_gen, depth, reps, warmup, logits, seqs, toks, &err,
                         &best_pp, &best_tg, &mean_pp, &mean_tg, &pp_s, &tg_s);
        if (rc)
            goto fail;
        goto report;
    }
    if (warmup && n_prompt > 0) { /* fault the weights in, spin the threads up */
        int32_t tok = ids[0];
        if (rf_session_eval(rt, 0, ids, (size_t)n_prompt, logits, &err) != RF_OK ||
            (n_gen > 0 && rf_session_eval(rt, 0, &tok, 1, logits, &err) != RF_OK))
            goto fail;
    }
    rf_session_profile_reset(rt); /* the timed repetitions only */
    for (long long r = 0; r < reps; r++) {
        forget_all(rt);
        if (depth > 0) { /* context before the timed part, untimed (llama-bench -d) */
            if (rf_session_eval(rt, 0, ids, (size_t)depth, logits, &err) != RF_OK)
                goto fail;
        }
        if (n_prompt > 0) {
            double t0 = cli_now();
            if (rf_session_eval(rt, 0, ids, (size_t)n_prompt, logits, &err) != RF_OK)
                goto fail;
            double t = cli_now() - t0;
            sum_pp += t;
            mean_pp += (double)n_prompt / t / (double)reps;
            if (!best_pp || (double)n_prompt / t > best_pp) {
                best_pp = (double)n_prompt / t;
                pp_s = t;
            }
        }
        double t = 0;
        int32_t tok = argmax(logits, n_vocab);
        for (long long i = 0; i < n_gen; i++) {
            double t0 = cli_now();
            if (rf_session_eval_greedy(rt, 0, &tok, 1, &tok, &err) != RF_OK)
                goto fail;
            t += cli_now() - t0;
        }
        sum_tg += t;
        if (n_gen > 0)
            mean_tg += (double)n_gen / t / (double)reps;
        if (n_gen > 0 && (!best_tg || (double)n_gen / t > best_tg)) {
            best_tg = (double)n_gen / t;
            tg_s = t;
        }
    }

report:
    if (json) {
        printf("{\"model\":");
        cli_json_string(path, stdout);
        printf(",\"backend\":");
        cli_json_string(rf_session_backend(rt), stdout);
        printf(",\"gpu_layers\":%u", rf_session_gpu_layers(rt));
        printf(",\"threads\":%lld,\"n_prompt\":%lld,\"n_gen\":%lld,\"depth\":%lld,\"reps\":%lld,\"n_ctx\":%u,"
               "\"prefill_tok_s\":%.3f,\"decode_tok_s\":%.3f,\"prefill_tok_s_mean\":%.3f,\"decode_tok_s_mean\":%.3f,"
               "\"prefill_s\":%.6f,\"decode_s\":%.6f,\"open_s\":%.3f,\"no_graph\":%s,\"batch\":%lld",
               threads, n_prompt, n_gen, depth, reps, rf_session_n_ctx(rt), best_pp, best_tg, mean_pp, mean_tg, pp_s, tg_s,
               t_open, no_graph ? "true" : "false", batch);
        rf_build_stats bs;
        if (rf_session_build_stats(rt, &bs)) {
            printf(",\"device\":");
            cli_json_string(rf_session_device(rt), stdout);
            printf(",\"kernels_compiled\":%u,\"kernels_cached\":%u,\"compile_s\":%.3f", bs.compiled, bs.cached,
                   bs.seconds);
        }
        printf("}\n");
    } else {
        printf("%-40s %-8s %7s %5s %8s %14s %6s %13s\n", "model", "backend", "threads", "batch", "n_prompt",
               "prefill tok/s", "n_gen", "decode tok/s");
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        char th[16];
        if (threads)
            snprintf(th, sizeof th, "%lld", threads);
        else
            strcpy(th, "auto");
        printf("%-40s %-8s %7s %5lld %8lld %14.2f %6lld %13.2f\n", name, rf_session_backend(rt), th, batch, n_prompt,
               best_pp, n_gen, best_tg);
    }
    rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
    rf_profile prof;
    if (rf_session_profile(rt, &prof))
        profile_print(&prof, (const double[2]){batch > 1 ? -1 : sum_tg, batch > 1 ? -1 : sum_pp});
    goto out;
fail:
    rc = cli_error(&err);
out:
    free(ids);
    free(toks);
    free(seqs);
    free(logits);
    rf_session_close(rt);
    rf_model_close(m);
    return rc;
}
