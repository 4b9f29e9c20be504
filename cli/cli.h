/*
 * cli.h: the rocmforge command. One file per subcommand; each is
 * `int cmd_NAME(int argc, char **argv)` with argv[0] the subcommand name,
 * returning the process exit status. Only cli/ prints and exits.
 */
#ifndef RF_CLI_H
#define RF_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "rocmforge/rocmforge.h"

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_ir(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* "rocmforge: <msg>" on stderr, one line; returns 1 */
int cli_error(const rf_error *err);
int cli_usage_error(const char *fmt, ...);

/* Argument helpers (args.c): 0 on success, else the exit status to return
 * after a one-line usage error naming cmd and opt. */
int cli_value(const char *cmd, int argc, char **argv, int *i, const char **out); /* argv[*i]'s value */
int cli_int(const char *cmd, const char *opt, const char *v, long long lo, long long hi, long long *out);
int cli_u64(const char *cmd, const char *opt, const char *v, uint64_t *out);
int cli_float(const char *cmd, const char *opt, const char *v, double lo, double hi, float *out);
int cli_ids(const char *cmd, const char *opt, const char *v, int32_t **ids, size_t *n); /* "1 2,3"; free() */
double cli_now(void);                               /* monotonic seconds */
void cli_json_string(const char *s, FILE *out);     /* quoted and escaped */

#endif
