/*
 * compile.c: `rocmforge compile MODEL [--arch ARCH] [-o PLAN] [--cache DIR]
 *             [--threads N] [--ctx N] [--max-tokens T] [--gpu-layers N]`.
 *
 * Compiles every kernel of MODEL's plan into the kernel cache and writes
 * the plan file: cli_program_open (gguf_open → import_model → the pass
 * pipeline → cg_generate for the arch, target.c) → cg_build_program through
 * the cache (hits are loaded, misses compiled on --threads threads) →
 * cg_plan_write.
 * Without --arch the first GPU's own arch is used, so a compile on the
 * machine that runs the model needs no flags; with --arch it works offline,
 * on a machine with no GPU at all.
 *
 * Output (docs/cli.md): stderr carries the progress bar (only when stderr
 * is a terminal), one `rocmforge: warning: ...` line for each cache file
 * that was rejected, and then exactly one summary line
 *     N kernels: C compiled, H cached (S s)
 * stdout carries exactly one line, the plan's path, so a script can take
 * it: plan=$(rocmforge compile model.gguf); with --json, one JSON object
 * instead: plan, arch, kernels (compiled, cached, seconds), the model's
 * layers, and the launches of a decode step (T = 1, without the argmax of
 * greedy sampling) and of a prefill step. The plan goes to -o PLAN, or
 * by default beside the cache entries as <cache dir>/<model>.<arch>.rfplan
 * (<model> the file name without .gguf; ':' of a target id as '_').
 * --gpu-layers N compiles the GPU's part of a model split by layers
 * (runtime.h): the embedding and layers 0..N-1; its default plan is
 * <model>.<arch>.gpu-layers-N.rfplan, which `run --gpu-layers N --plan`
 * checks. --tp N compiles the plans of a model split N ways by tensor
 * parallelism (frontend/arch_tp.c), every rank's one after another, or
 * --tp-rank R's alone: a plan (default <model>.<arch>.tp-N-rank-R.rfplan)
 * and a stdout line (or JSON object) a rank; their kernels are in the
 * cache when the ranks run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "codegen/cache.h"
#include "codegen/plan.h"
#include "support/error.h"

#define COMPILE_USAGE                                                                                               \
    "usage: rocmforge compile MODEL [--arch ARCH] [-o PLAN] [--cache DIR] [--threads N] [--ctx N] "                  \
    "[--max-tokens T] [--kv-f16] [--gpu-layers N] [--tp N [--tp-rank R]] [--json]"

/* <cache dir>/<model basename without .gguf>.<target, ':' as '_'>.rfplan */
static char *default_plan_path(const char *dir, const char *model, const char *target, long long gpu_layers,
                               const import_options *io)
{
    const char *base = strrchr(model, '/');
    base = base ? base + 1 : model;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".gguf"))
        n -= 5;
    size_t cap = strlen(dir) + n + strlen(target) + 48;
    char *p = malloc(cap);
    if (!p)
        return NULL;
    int k = snprintf(p, cap, "%s/%.*s.", dir, (int)n, base);
    for (const char *t = target; *t; t++)
        p[k++] = *t == ':' ? '_' : *t;
    if (gpu_layers)
        k += snprintf(p + k, cap - (size_t)k, ".gpu-layers-%lld", gpu_layers);
    if (io->tp_world > 1)
        k += snprintf(p + k, cap - (size_t)k, ".tp-%u-rank-%u", io->tp_world, io->tp_rank);
    snprintf(p + k, cap - (size_t)k, ".rfplan");
    return p;
}

/* what one plan's compile needs from the command line */
typedef struct compile_job {
    const char *path, *arch, *plan, *cache;
    long long threads, max_tokens, gpu_layers;
    bool json;
    cg_options copt;
} compile_job;

/* every kernel of the plan io names built through the cache, the plan
 * written, its path (or JSON object) on stdout; 0 or the exit status */
static int compile_one(const compile_job *job, const import_options *io)
{
    rf_error err = {0};
    cli_program cp;
    const char *plan_path = job->plan;
    int rc;
    if (cli_program_open(job->path, job->arch, io, job->max_tokens, &job->copt, &cp, &err) != RF_OK)
        return cli_error(&err);
    cg_compiler *cc = NULL;
    cg_cache *cache = NULL;
    char *default_plan = NULL;
    cg_build_stats st;
    cli_ui u;
    cli_ui_init(&u);
    rc = 1;
    if (cg_compiler_open(&cp.arch, &cc, &err) != RF_OK || cg_cache_open(job->cache, &cache, &err) != RF_OK)
        goto done;
    if (!plan_path && !(plan_path = default_plan =
                            default_plan_path(cg_cache_dir(cache), job->path, cp.arch.target, job->gpu_layers, io))) {
        rf_fail(&err, RF_E_NOMEM, "out of memory");
        goto done;
    }
    rf_status s = cg_build_program(cp.prog, cc, cache, (int)job->threads, cli_progress, cli_warn, &u, &st, &err);
    cli_ui_clear(&u);
    if (s != RF_OK || cg_plan_write(plan_path, cp.prog, cc, cp.gguf, cp.graph, &err) != RF_OK)
        goto done;
    fprintf(stderr, "%u kernels: %u compiled, %u cached (%.2f s)\n", cp.prog->n_kernels, st.compiled, st.cached,
            st.seconds);
    if (job->json) {
        printf("{\"plan\":");
        cli_json_string(plan_path, stdout);
        printf(",\"arch\":");
        cli_json_string(cp.arch.target, stdout);
        printf(",\"kernels\":%u,\"compiled\":%u,\"cached\":%u,\"seconds\":%.3f,\"layers\":%u,"
               "\"decode_launches\":%u,\"prefill_launches\":%u",
               cp.prog->n_kernels, st.compiled, st.cached, st.seconds, cp.graph->model.n_layer,
               cg_step_launches(cp.prog, true), cg_step_launches(cp.prog, false));
        if (io->tp_world > 1)
            printf(",\"tp_rank\":%u,\"tp_world\":%u", io->tp_rank, io->tp_world);
        printf("}\n");
    } else {
        printf("%s\n", plan_path);
    }
    rc = fflush(stdout) != 0 || ferror(stdout) ? cli_usage_error("compile: writing to stdout failed") : 0;
done:
    if (rc && err.status != RF_OK)
        cli_error(&err);
    free(default_plan);
    cg_cache_close(cache);
    cg_compiler_close(cc);
    cli_program_close(&cp);
    return rc;
}

int cmd_compile(int argc, char **argv)
{
    const char *path = NULL, *arch_name = NULL, *plan_path = NULL, *cache_dir = NULL, *v;
    long long threads = 0, ctx = 0, max_tokens = 512, gpu_layers = 0, tp = 0, tp_rank = -1;
    bool json = false;
    cg_options copt = {0};
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts(COMPILE_USAGE "\n(options: docs/cli.md)");
            return 0;
        } else if (!strcmp(a, "--arch")) {
            if ((rc = cli_value("compile", argc, argv, &i, &arch_name)))
                return rc;
        } else if (!strcmp(a, "--kv-f16")) {
            copt.kv_f16 = true;
        } else if (!strcmp(a, "-o")) {
            if ((rc = cli_value("compile", argc, argv, &i, &plan_path)))
                return rc;
        } else if (!strcmp(a, "--cache")) {
            if ((rc = cli_value("compile", argc, argv, &i, &cache_dir)))
                return rc;
        } else if (!strcmp(a, "--threads")) {
            if ((rc = cli_value("compile", argc, argv, &i, &v)) || (rc = cli_int("compile", a, v, 0, 1024, &threads)))
                return rc;
        } else if (!strcmp(a, "--ctx")) {
            if ((rc = cli_value("compile", argc, argv, &i, &v)) || (rc = cli_int("compile", a, v, 0, UINT32_MAX, &ctx)))
                return rc;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--gpu-layers")) {
            if ((rc = cli_value("compile", argc, argv, &i, &v)) ||
                (rc = cli_int("compile", a, v, 1, UINT32_MAX, &gpu_layers)))
                return rc;
        } else if ((rc = cli_rank_option("compile", argc, argv, &i, &tp, &tp_rank)) >= 0) {
            if (rc)
                return rc;
        } else if (!strcmp(a, "--max-tokens")) {
            if ((rc = cli_value("compile", argc, argv, &i, &v)) ||
                (rc = cli_int("compile", a, v, 1, 1 << 20, &max_tokens)))
                return rc;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("compile: unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_usage_error("compile: unexpected argument '%s'", a);
        }
    }
    if (!path)
        return cli_usage_error(COMPILE_USAGE);

    if ((rc = cli_rank_check("compile", tp, tp_rank, gpu_layers > 0)))
        return rc;
    compile_job job = {.path = path, .arch = arch_name, .plan = plan_path, .cache = cache_dir, .threads = threads,
                       .max_tokens = max_tokens, .gpu_layers = gpu_layers, .json = json, .copt = copt};
    import_options io = {.n_ctx = (uint32_t)ctx, .layer_end = (uint32_t)gpu_layers};
    if (tp <= 1)
        return compile_one(&job, &io);
    if (plan_path && tp_rank < 0)
        return cli_usage_error("compile: -o names one plan: with --tp %lld, name the rank (--tp-rank)", tp);
    io.tp_world = (uint32_t)tp;
    for (long long r = tp_rank < 0 ? 0 : tp_rank; r < (tp_rank < 0 ? tp : tp_rank + 1); r++) {
        io.tp_rank = (uint32_t)r;
        if ((rc = compile_one(&job, &io)))
            return rc;
    }
    return 0;
}
