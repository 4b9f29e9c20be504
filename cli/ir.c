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
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "frontend/gguf.h"
#include "frontend/import.h"
#include "ir/ir.h"
#include "ir/passes/passes.h"

#define IR_USAGE                                                                                                    \
    "usage: rocmforge ir MODEL [--stage import|fused|plan] [--print-after PASS] [--disable-pass PASS] "            \
    "[--all-logits] [--ctx N] [--max-tokens T]"

int cmd_ir(int argc, char **argv)
{
    const char *path = NULL, *stage = "plan", *print_after = NULL, *disable = NULL, *v;
    import_options io = {0};
    long long ctx = 0, max_tokens = 512;
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
        } else if (!strcmp(a, "--all-logits")) {
            io.all_logits = true;
        } else if (!strcmp(a, "--ctx")) {
            if ((rc = cli_value("ir", argc, argv, &i, &v)) || (rc = cli_int("ir", a, v, 0, UINT32_MAX, &ctx)))
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
    bool import_only = !strcmp(stage, "import");
    if (import_only && (print_after || disable))
        return cli_usage_error("ir: --print-after and --disable-pass need passes; --stage import runs none");
    io.n_ctx = (uint32_t)ctx;

    rf_error err = {0};
    gguf_file *f;
    if (gguf_open(path, &f, &err) != RF_OK)
        return cli_error(&err);
    ir_graph *g;
    if (import_model(f, &io, &g, &err) != RF_OK) {
        gguf_close(f);
        return cli_error(&err);
    }
    if (!import_only) {
        ir_pipeline_options po = {
            .print_after = print_after, .disable = disable, .print_to = stdout, .max_tokens = max_tokens};
        if (ir_run_pipeline(g, &po, &err) != RF_OK) {
            fflush(stdout);
            ir_graph_free(g);
            gguf_close(f);
            return cli_error(&err);
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
    gguf_close(f);
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_usage_error("ir: writing the graph to stdout failed");
    return 0;
}
