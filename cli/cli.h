/*
 * cli.h: the rocmforge command. One file per subcommand; each is
 * `int cmd_NAME(int argc, char **argv)` with argv[0] the subcommand name,
 * returning the process exit status. Only cli/ prints and exits.
 */
#ifndef RF_CLI_H
#define RF_CLI_H

#include "rocmforge/rocmforge.h"

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);

/* "rocmforge: <msg>" on stderr, one line; returns 1 */
int cli_error(const rf_error *err);
int cli_usage_error(const char *fmt, ...);

#endif
