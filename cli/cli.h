/*
 * cli.h: the rocmforge command. One file per subcommand; each is
 * `int cmd_NAME(int argc, char **argv)` with argv[0] the subcommand name,
 * returning the process exit status. Only cli/ prints and exits.
 */
#ifndef RF_CLI_H
#define RF_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "codegen/codegen.h"
#include "frontend/gguf.h"
#include "frontend/import.h"
#include "ir/ir.h"
#include "rocmforge/rocmforge.h"
#include "runtime/runtime.h"

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_ir(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_kernels(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_embed(int argc, char **argv);

/* "rocmforge: <msg>" on stderr, one line; returns 1 */
int cli_error(const rf_error *err);
int cli_usage_error(const char *fmt, ...);

/* Argument helpers (args.c): 0 on success, else the exit status to return
 * after a one-line usage error naming cmd and opt. */
int cli_value(const char *cmd, int argc, char **argv, int *i, const char **out); /* argv[*i]'s value */
int cli_int(const char *cmd, const char *opt, const char *v, long long lo, long long hi, long long *out);
int cli_u64(const char *cmd, const char *opt, const char *v, uint64_t *out);
/* Where a session runs, which every command that opens one takes:
 * --gpu-layers N|auto, --gpu-mem-limit BYTES, --tp N, and --tp-rank R
 * --tp-world N --tp-addr HOST:PORT, into those fields of o: -1 when
 * argv[*i] is none of them, else 0 or the exit status of a usage error.
 * cli_placement copies them from one options struct to another. */
int cli_gpu_option(const char *cmd, int argc, char **argv, int *i, rf_session_options *o);
void cli_placement(rf_session_options *to, const rf_session_options *from);
/* The commands that render one rank's graph (ir, kernels, compile): --tp N and
 * --tp-rank R into tp and tp_rank, -1 when argv[*i] is neither, else 0 or
 * a usage error's exit status; cli_rank_check then wants a rank below N
 * (tp_rank -1: none given) and no split by layers (by_layers) beside. */
int cli_rank_option(const char *cmd, int argc, char **argv, int *i, long long *tp, long long *tp_rank);
int cli_rank_check(const char *cmd, long long tp, long long tp_rank, bool by_layers);
int cli_float(const char *cmd, const char *opt, const char *v, double lo, double hi, float *out);
int cli_ids(const char *cmd, const char *opt, const char *v, int32_t **ids, size_t *n); /* "1 2,3"; free() */
double cli_now(void);                               /* monotonic seconds */
/* a whole file ("-": standard input), NUL-terminated, malloc'd; NULL with
 * *why ("cannot open it", ...) */
char *cli_read_file(const char *path, size_t *len, const char **why);
void cli_json_string(const char *s, FILE *out);     /* quoted and escaped */

/* A model (the part io says) through the passes and codegen for an arch
 * (target.c): arch_name NULL takes the GPU's own. */
typedef struct cli_program {
    gguf_file *gguf;
    ir_graph *graph;
    cg_arch arch;
    cg_program *prog;
    char arch_buf[64];
} cli_program;
rf_status cli_program_open(const char *path, const char *arch_name, const import_options *io, int64_t max_tokens,
                           const cg_options *copt, cli_program *out, rf_error *err);
void cli_program_close(cli_program *p);
/* The kernel-build progress bar (a terminal only) and warnings, on stderr;
 * the callbacks' ctx is a cli_ui. */
typedef struct cli_ui {
    bool bar;        /* stderr is a terminal: draw the bar */
    bool drawn;      /* a bar is on the current line */
} cli_ui;
void cli_ui_init(cli_ui *u);
void cli_ui_clear(cli_ui *u);
void cli_progress(void *ctx, uint32_t done, uint32_t total);
void cli_warn(void *ctx, const char *msg);
void cli_session_callbacks(rf_session_options *o, cli_ui *u); /* u must outlive rf_session_open */

#endif
