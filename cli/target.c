/*
 * target.c: what `kernels`, `compile` and `ir --isa` share: a model opened,
 * imported (whole, or a split model's GPU part) and run through the passes, the target arch (--arch, or the
 * GPU's own), and the program codegen makes of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "frontend/import.h"
#include "ir/passes/passes.h"
#include "runtime/gpu/gpu.h"
#include "support/error.h"

rf_status cli_program_open(const char *path, const char *arch_name, const import_options *io, int64_t max_tokens,
                           const cg_options *copt, cli_program *out, rf_error *err)
{
    memset(out, 0, sizeof *out);
    rf_status st;
    if ((st = gguf_open(path, &out->gguf, err)) != RF_OK)
        return st;
    if ((st = import_model(out->gguf, io, &out->graph, err)) != RF_OK)
        goto fail;
    ir_pipeline_options po = {.print_to = stderr, .max_tokens = max_tokens > 0 ? max_tokens : 512};
    if ((st = ir_run_pipeline(out->graph, &po, err)) != RF_OK)
        goto fail;
    if (!arch_name) { /* the GPU's own */
        const gpu_api *api;
        gpu_device_info info;
        if ((st = gpu_open(NULL, 0, &api, &info, err)) != RF_OK) {
            rf_error_prefix(err, "no GPU to take the arch from; pass --arch (gfx90a, gfx1030, sm_90, ...)");
            goto fail;
        }
        snprintf(out->arch_buf, sizeof out->arch_buf, "%s", info.arch);
        arch_name = out->arch_buf;
    }
    if ((st = cg_arch_parse(arch_name, &out->arch, err)) != RF_OK ||
        (st = cg_generate(out->graph, &out->arch, copt, &out->prog, err)) != RF_OK)
        goto fail;
    return RF_OK;
fail:
    cli_program_close(out);
    return st;
}

void cli_program_close(cli_program *p)
{
    cg_program_free(p->prog);
    ir_graph_free(p->graph);
    gguf_close(p->gguf);
    memset(p, 0, sizeof *p);
}

/* The kernel-build progress bar: on stderr, only when it is a terminal,
 * erased when the build is done or a warning is printed. */
enum { BAR_WIDTH = 30 };

void cli_ui_init(cli_ui *u)
{
    u->bar = isatty(fileno(stderr)) == 1;
    u->drawn = false;
}

void cli_ui_clear(cli_ui *u)
{
    if (u->drawn)
        fputs("\r\033[K", stderr);
    u->drawn = false;
}

void cli_progress(void *ctx, uint32_t done, uint32_t total)
{
    cli_ui *u = ctx;
    if (!u->bar || !total)
        return;
    char bar[BAR_WIDTH + 1];
    uint32_t fill = (uint32_t)((uint64_t)done * BAR_WIDTH / total);
    for (uint32_t i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : ' ';
    bar[BAR_WIDTH] = 0;
    fprintf(stderr, "\r[%s] %u/%u kernels", bar, done, total);
    u->drawn = true;
    if (done == total)
        cli_ui_clear(u);
    fflush(stderr);
}

void cli_warn(void *ctx, const char *msg)
{
    cli_ui_clear(ctx);
    fprintf(stderr, "rocmforge: warning: %s\n", msg);
}

void cli_session_callbacks(rf_session_options *o, cli_ui *u)
{
    cli_ui_init(u);
    o->progress = cli_progress;
    o->warn = cli_warn;
    o->cb_ctx = u;
}
