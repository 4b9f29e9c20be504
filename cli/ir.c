/*
 * ir.c: `rocmforge ir MODEL [--stage import|fused|plan] [--print-after PASS]
 *        [--disable-pass PASS] [--all-logits] [--ctx N] [--max-tokens T]`.
 *
 * Prints the IR of one forward step of MODEL in the text form of docs/ir.md
 * at one of three stages:
 *
 *   import  the graph import_model() builds: no passes, no groups.
 *   fused   after the whole pass pipeline (fusion groups, schedule), with
 *           the memory plan left out: no `workspace` line, no `@ws+` offsets.
 *           The plan is still computed (memplan is a required pass); only
 *           the printing hides it, so the text diffs cleanly against plan.
 *   plan    the same graph with its workspace offsets and size: what the
 *           runtime executes. The default.
 *
 * --print-after and --disable-pass go to ir_run_pipeline as they are (names
 * comma-separated, "all"); their dumps go to stdout before the final graph.
 * They make no sense with --stage import and are refused there.
 *
 * --gpu-layers N prints the two graphs of a model split across the GPU and
 * the CPU (runtime.h): the embedding and layers 0..N-1 ending in their
 * residual rows, then the rest starting from them (`hidden`), each headed
 * by a `# part` line.
 *
 * --tp N [--tp-rank R] prints the graphs of a model split N ways by tensor
 * parallelism (frontend/arch_tp.c): rank R's, or every rank's one after
 * another, each headed by a `# rank` line; the model line says which
 * (tp_rank, tp_world), and all_reduce / all_gather where the ranks meet.
 *
 * --isa [--arch ARCH] [--name SUBSTR] [--cache DIR] compiles the plan's
 * kernels (through the kernel cache) and prints, per kernel, its resources
 * read from the code object (VGPRs, AGPRs, SGPRs, LDS bytes, scratch,
 * wavefront size, waves per SIMD; registers and shared memory on NVIDIA)
 * and its disassembly (AMDGPU, through LLVM). Without --arch the GPU's own.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "frontend/gguf.h"
#include "frontend/import.h"
#include "ir/ir.h"
#include "codegen/cache.h"
#include "codegen/isa.h"
#include "ir/passes/passes.h"

#define IR_USAGE                                                                                                    \
    "usage: rocmforge ir MODEL [--stage import|fused|plan] [--print-after PASS] [--disable-pass PASS] "            \
    "[--all-logits] [--ctx N] [--max-tokens T] [--gpu-layers N] [--tp N [--tp-rank R]] [--isa [--arch ARCH] [--name SUBSTR] [--cache DIR]]"

static int print_isa(const char *path, const char *arch, const char *name, const char *cache_dir, uint32_t n_ctx,
                     int64_t max_tokens)
{
    rf_error err = {0};
    cli_program p;
    cg_compiler *cc = NULL;
    cg_cache *cache = NULL;
    cg_build_stats bs;
    cli_ui ui;
    cli_ui_init(&ui);
    if (cli_program_open(path, arch, &(import_options){.n_ctx = n_ctx}, max_tokens, NULL, &p, &err) != RF_OK)
        return cli_error(&err);
    int rc = 0;
    if (cg_compiler_open(&p.arch, &cc, &err) != RF_OK || cg_cache_open(cache_dir, &cache, &err) != RF_OK ||
        cg_build_program(p.prog, cc, cache, 0, cli_progress, cli_warn, &ui, &bs, &err) != RF_OK) {
        rc = cli_error(&err);
        goto out;
    }
    for (uint32_t i = 0; i < p.prog->n_kernels; i++) {
        const cg_kernel *k = &p.prog->kernels[i];
        if (name && !strstr(k->name, name))
            continue;
        cg_resources r;
        printf("// ==== kernel %s: %s, %zu bytes of code object, %u launch%s a step ====\n", k->name, p.arch.target,
               k->code_size, k->n_launches, k->n_launches == 1 ? "" : "es");
        if (cg_code_resources(&p.arch, k->code, k->code_size, k->name, &r, &err) != RF_OK) {
            rc = cli_error(&err);
            goto out;
        }
        if (p.arch.vendor == CG_AMD)
            printf("// vgpr %d, agpr %d, sgpr %d, lds %d bytes, scratch %d bytes, wave%d, %d waves per SIMD\n", r.vgpr,
                   r.agpr, r.sgpr, r.lds_bytes, r.scratch_bytes, r.wave, r.waves_per_simd);
        else
            printf("// registers %d, shared %d bytes, local %d bytes, warp %d\n", r.vgpr, r.lds_bytes, r.scratch_bytes,
                   r.wave);
        if (cg_code_disassemble(&p.arch, k->code, k->code_size, k->name, stdout, &err) != RF_OK) {
            rc = cli_error(&err);
            goto out;
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        rc = cli_usage_error("ir: writing to stdout failed");
out:
    cg_cache_close(cache);
    cg_compiler_close(cc);
    cli_program_close(&p);
    return rc;
}

/* import (one part of) the model, run the passes up to stage, print it
 * after its header line (NULL: none) */
static int print_graph(const gguf_file *f, const import_options *io, const char *header, const char *stage,
                       const char *print_after, const char *disable, int64_t max_tokens, rf_error *err)
{
    ir_graph *g;
    if (import_model(f, io, &g, err) != RF_OK)
        return cli_error(err);
    if (io->layer_end && io->layer_end >= g->model.n_layer) {
        ir_graph_free(g);
        return cli_usage_error("ir: --gpu-layers %u: the model has %u layers; a split leaves one or more to the CPU",
                               io->layer_end, g->model.n_layer);
    }
    if (header)
        puts(header);
    if (strcmp(stage, "import")) {
        ir_pipeline_options po = {
            .print_after = print_after, .disable = disable, .print_to = stdout, .max_tokens = max_tokens};
        if (ir_run_pipeline(g, &po, err) != RF_OK) {
            fflush(stdout);
            ir_graph_free(g);
            return cli_error(err);
        }
        if (!strcmp(stage, "fused")) { /* hide the plan; the graph is ours to throw away */
            for (uint32_t i = 0; i < g->n_nodes; i++)
                g->nodes[i]->offset = -1;
            g->workspace_bytes = 0;
        }
    }
    if (print_after)
        printf("# %s\n", stage);
    ir_print(g, stdout);
    ir_graph_free(g);
    return 0;
}

int cmd_ir(int argc, char **argv)
{
    const char *path = NULL, *stage = "plan", *print_after = NULL, *disable = NULL, *v;
    const char *arch = NULL, *name = NULL, *cache_dir = NULL;
    bool isa = false;
    import_options io = {0};
    long long ctx = 0, max_tokens = 512, gpu_layers = -1, tp = 0, tp_rank = -1;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts(IR_USAGE "\n(options: docs/cli.md)");
            return 0;
        } else if (!strcmp(a, "--stage")) {
            if ((rc = cli_value("ir", argc, argv, &i, &stage)))
                return rc;
            if (strcmp(stage, "import") && strcmp(stage, "fused") && strcmp(stage, "plan"))
                return cli_usage_error("ir: --stage: '%s' is not one of import, fused, plan", stage);
        } else if (!strcmp(a, "--print-after")) {
            if ((rc = cli_value("ir", argc, argv, &i, &print_after)))
                return rc;
        } else if (!strcmp(a, "--disable-pass")) {
            if ((rc = cli_value("ir", argc, argv, &i, &disable)))
                return rc;
        } else if (!strcmp(a, "--isa")) {
            isa = true;
        } else if (!strcmp(a, "--arch")) {
            if ((rc = cli_value("ir", argc, argv, &i, &arch)))
                return rc;
        } else if (!strcmp(a, "--name")) {
            if ((rc = cli_value("ir", argc, argv, &i, &name)))
                return rc;
        } else if (!strcmp(a, "--cache")) {
            if ((rc = cli_value("ir", argc, argv, &i, &cache_dir)))
                return rc;
        } else if (!strcmp(a, "--all-logits")) {
            io.all_logits = true;
        } else if (!strcmp(a, "--ctx")) {
            if ((rc = cli_value("ir", argc, argv, &i, &v)) || (rc = cli_int("ir", a, v, 0, UINT32_MAX, &ctx)))
                return rc;
        } else if (!strcmp(a, "--gpu-layers")) {
            if ((rc = cli_value("ir", argc, argv, &i, &v)) || (rc = cli_int("ir", a, v, 1, UINT32_MAX, &gpu_layers)))
                return rc;
        } else if ((rc = cli_rank_option("ir", argc, argv, &i, &tp, &tp_rank)) >= 0) {
            if (rc)
                return rc;
        } else if (!strcmp(a, "--max-tokens")) {
            if ((rc = cli_value("ir", argc, argv, &i, &v)) || (rc = cli_int("ir", a, v, 1, 1 << 20, &max_tokens)))
                return rc;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("ir: unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_usage_error("ir: unexpected argument '%s'", a);
        }
    }
    if (!path)
        return cli_usage_error(IR_USAGE);
    if (isa && (gpu_layers >= 0 || tp))
        return cli_usage_error("ir: --isa shows the whole model's kernels; --gpu-layers and --tp go without it");
    if ((rc = cli_rank_check("ir", tp, tp_rank, gpu_layers >= 0)))
        return rc;
    if (isa)
        return print_isa(path, arch, name, cache_dir, (uint32_t)ctx, max_tokens);
    if (arch || name || cache_dir)
        return cli_usage_error("ir: --arch, --name and --cache go with --isa");
    if (!strcmp(stage, "import") && (print_after || disable))
        return cli_usage_error("ir: --print-after and --disable-pass need passes; --stage import runs none");
    io.n_ctx = (uint32_t)ctx;

    rf_error err = {0};
    gguf_file *f;
    if (gguf_open(path, &f, &err) != RF_OK)
        return cli_error(&err);
    rc = 0;
    if (tp) { /* rank R of a tensor-parallel split, or each rank in turn */
        io.tp_world = (uint32_t)tp;
        for (long long r = tp_rank < 0 ? 0 : tp_rank; !rc && r < (tp_rank < 0 ? tp : tp_rank + 1); r++) {
            char header[96];
            snprintf(header, sizeof header, "# rank %lld of %lld (tensor parallel)", r, tp);
            io.tp_rank = (uint32_t)r;
            rc = print_graph(f, &io, header, stage, print_after, disable, max_tokens, &err);
        }
    } else if (gpu_layers < 0) {
        rc = print_graph(f, &io, NULL, stage, print_after, disable, max_tokens, &err);
    } else { /* a split model: the GPU's layers [0, N), then the CPU's from there (runtime.h, gpu_layers) */
        char header[2][128];
        snprintf(header[0], sizeof header[0],
                 "# part 1 of 2 (gpu): the embedding and layers 0..%lld, ending in their residual rows", gpu_layers - 1);
        snprintf(header[1], sizeof header[1],
                 "# part 2 of 2 (cpu): from those rows (hidden), layers %lld.. and the output head", gpu_layers);
        io.layer_end = (uint32_t)gpu_layers;
        rc = print_graph(f, &io, header[0], stage, print_after, disable, max_tokens, &err);
        io.layer_begin = io.layer_end;
        io.layer_end = 0;
        if (!rc)
            rc = print_graph(f, &io, header[1], stage, print_after, disable, max_tokens, &err);
    }
    gguf_close(f);
    if (rc)
        return rc;
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_usage_error("ir: writing the graph to stdout failed");
    return 0;
}
