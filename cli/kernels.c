/*
 * kernels.c: `rocmforge kernels MODEL [--arch ARCH] [--list] [--name SUBSTR]
 *            [--ctx N] [--max-tokens T] [--gpu-layers N]`.
 *
 * Prints the generated source of every distinct kernel of the model's plan,
 * each after a header line naming it, its template, its block size and how
 * many launches of a step use it: exactly the text the compiler is given.
 * --list prints the header lines only; --name keeps kernels whose name
 * contains SUBSTR; --launches decode|prefill prints that step's launches in
 * order instead (kernel, grid, rows). --gpu-layers N renders the GPU's part
 * of a model split by layers (runtime.h): the embedding and layers 0..N-1.
 * --tp N [--tp-rank R] renders rank R's plan (0 unless given) of a model
 * split N ways by tensor parallelism, whose launches stop at each
 * all_reduce / all_gather (codegen's cg_coll: shown by --launches).
 * Nothing is compiled and no GPU is needed with --arch.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define KERNELS_USAGE                                                                                              \
    "usage: rocmforge kernels MODEL [--arch ARCH] [--list] [--name SUBSTR] [--ctx N] [--max-tokens T] [--kv-f16]\n"  \
    "       [--launches decode|prefill] [--gpu-layers N] [--tp N [--tp-rank R]]"

/* The launches of one step in plan order; rows "T" are the step's tokens;
 * a tensor-parallel rank's stops where they come (graph g's nodes) */
static void print_launches(const ir_graph *g, const cg_program *prog, bool decode, const char *name)
{
    uint32_t n = 0, c = 0;
    for (uint32_t i = 0; i <= prog->n_launches; i++) {
        for (; c < prog->n_colls && prog->colls[c].at == i; c++)
            for (uint32_t j = 0; j < g->n_nodes; j++)
                if (g->nodes[j]->id == prog->colls[c].node)
                    printf("     -- %s %%%u: the ranks meet (no kernel)\n", ir_op_name(g->nodes[j]->op),
                           prog->colls[c].node);
        if (i == prog->n_launches)
            break;
        const cg_launch *l = &prog->launches[i];
        if (l->only_T != 0 && (l->only_T == 1) != decode)
            continue;
        n++;
        const cg_kernel *k = &prog->kernels[l->kernel];
        if (name && !strstr(k->name, name))
            continue;
        printf("%3u  %-48s group %-4u grid %u x ", n, k->name, l->group, l->grid_x);
        if (l->rows == IR_DIM_T)
            printf("T/%u", l->row_tile);
        else
            printf("%lld/%u", (long long)l->rows, l->row_tile);
        if (l->min_T && l->max_T) /* a prefill product for some step sizes only */
            printf("  (%u <= T < %u)", l->min_T, l->max_T + 1);
        else if (l->min_T || l->max_T)
            printf(l->max_T ? "  (T < %u)" : "  (T >= %u)", l->max_T ? l->max_T + 1 : l->min_T);
        printf("\n");
    }
    printf("%u launches a %s step%s\n", cg_step_launches(prog, decode), decode ? "decode" : "prefill",
           decode ? " (greedy sampling adds the argmax)" : "");
}

int cmd_kernels(int argc, char **argv)
{
    const char *path = NULL, *arch = NULL, *name = NULL, *v;
    long long ctx = 0, max_tokens = 512, gpu_layers = 0, tp = 0, tp_rank = -1;
    bool list = false;
    int launches = 0; /* 1: the decode step's, -1: the prefill step's */
    cg_options copt = {0};
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts(KERNELS_USAGE);
            return 0;
        } else if (!strcmp(a, "--arch")) {
            if ((rc = cli_value("kernels", argc, argv, &i, &arch)))
                return rc;
        } else if (!strcmp(a, "--name")) {
            if ((rc = cli_value("kernels", argc, argv, &i, &name)))
                return rc;
        } else if (!strcmp(a, "--list")) {
            list = true;
        } else if (!strcmp(a, "--launches")) {
            if ((rc = cli_value("kernels", argc, argv, &i, &v)))
                return rc;
            if (strcmp(v, "decode") && strcmp(v, "prefill"))
                return cli_usage_error("kernels: --launches takes decode or prefill, not '%s'", v);
            launches = !strcmp(v, "decode") ? 1 : -1;
        } else if (!strcmp(a, "--kv-f16")) {
            copt.kv_f16 = true;
        } else if (!strcmp(a, "--ctx")) {
            if ((rc = cli_value("kernels", argc, argv, &i, &v)) || (rc = cli_int("kernels", a, v, 0, UINT32_MAX, &ctx)))
                return rc;
        } else if (!strcmp(a, "--gpu-layers")) {
            if ((rc = cli_value("kernels", argc, argv, &i, &v)) ||
                (rc = cli_int("kernels", a, v, 1, UINT32_MAX, &gpu_layers)))
                return rc;
        } else if ((rc = cli_rank_option("kernels", argc, argv, &i, &tp, &tp_rank)) >= 0) {
            if (rc)
                return rc;
        } else if (!strcmp(a, "--max-tokens")) {
            if ((rc = cli_value("kernels", argc, argv, &i, &v)) ||
                (rc = cli_int("kernels", a, v, 1, 1 << 20, &max_tokens)))
                return rc;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("kernels: unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_usage_error("kernels: unexpected argument '%s'", a);
        }
    }
    if (!path)
        return cli_usage_error(KERNELS_USAGE);
    if ((rc = cli_rank_check("kernels", tp, tp_rank, gpu_layers > 0)))
        return rc;
    rf_error err = {0};
    cli_program p;
    import_options io = {.n_ctx = (uint32_t)ctx, .layer_end = (uint32_t)gpu_layers};
    if (tp > 1) {
        io.tp_rank = tp_rank < 0 ? 0 : (uint32_t)tp_rank;
        io.tp_world = (uint32_t)tp;
    }
    if (cli_program_open(path, arch, &io, max_tokens, &copt, &p, &err) != RF_OK)
        return cli_error(&err);
    uint32_t shown = 0;
    if (launches) {
        print_launches(p.graph, p.prog, launches == 1, name);
        cli_program_close(&p);
        return fflush(stdout) != 0 || ferror(stdout) ? cli_usage_error("kernels: writing to stdout failed") : 0;
    }
    for (uint32_t i = 0; i < p.prog->n_kernels; i++) {
        const cg_kernel *k = &p.prog->kernels[i];
        if (name && !strstr(k->name, name))
            continue;
        printf("// ==== kernel %s: template %s, %u threads a block, %u launch%s a step, arch %s ====\n", k->name,
               k->tmpl, k->block, k->n_launches, k->n_launches == 1 ? "" : "es", p.arch.target);
        if (!list)
            printf("%s\n", k->source);
        shown++;
    }
    if (list)
        printf("%u kernels (%u shown) for %u launches a step\n", p.prog->n_kernels, shown, p.prog->n_launches);
    cli_program_close(&p);
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_usage_error("kernels: writing to stdout failed");
    return 0;
}
