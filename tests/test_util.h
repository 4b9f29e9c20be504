/*
 * test_util.h: what the CUnit suites share: where the llama.cpp reference
 * is, scratch files, a seeded RNG, and a main() that runs the registered
 * suites and exits non-zero on any failure.
 */
#ifndef RF_TEST_UTIL_H
#define RF_TEST_UTIL_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>

/* The fetched reference (scripts/fetch-reference.sh): $ROCMFORGE_REF_DIR,
 * else $XDG_CACHE_HOME/rocmforge-ref, else ~/.cache/rocmforge-ref. A suite
 * that needs it and cannot find it fails (never skips). */
const char *test_ref_dir(void);
/* $REF/llama.cpp/models, for the ggml-vocab-*.gguf files */
const char *test_ref_models_dir(void);

/* A fresh scratch directory under the build tree, unique per process. */
const char *test_tmp_dir(void);
/* path = tmp_dir/name in a static buffer rotated over 8 slots */
const char *test_tmp_path(const char *name);

/* Whole file into a malloc'd buffer (NUL-terminated), NULL on failure. */
char *test_read_file(const char *path, size_t *len);
int test_write_file(const char *path, const void *data, size_t len);

/* xorshift64* */
uint64_t test_rand(uint64_t *state);
/* from the same state: uniform in [0,1) (24 bits), and N(0,1) (Box-Muller
 * on two uniforms) */
float test_urand(uint64_t *state);
float test_grand(uint64_t *state);

/* Run `cmd` with /bin/sh, capturing stdout (malloc'd) and the exit status
 * (-1 if it died by a signal, with *signo set). */
char *test_run(const char *cmd, int *status, int *signo);

/* Path of the rocmforge binary in the build tree. */
const char *test_rocmforge_bin(void);
/* Path of a test tool (rf_gen_model, llama_eval, rf_compare) in the build
 * tree's tests/, in a static buffer rotated over 4 slots. */
const char *test_tool_bin(const char *name);

/* rf_gen_model with the llama-spm vocabulary of the reference and args
 * (--arch ... and the shape), writing out; a failure is fatal to the test
 * and prints the command and what it said. */
void test_gen_model(const char *args, const char *out);

/* A rocmforge command line (its arguments after the binary) and what it
 * must do: exit with status, saying (stdout and stderr) a text that holds
 * says. test_cli_expect runs each (stdin from /dev/null) and prints the
 * ones that do otherwise. */
typedef struct test_cli_case {
    const char *args;
    int status;
    const char *says;
} test_cli_case;
void test_cli_expect(const test_cli_case *cases, size_t n);

/* g printed, parsed back and printed again gives the same text (asserted;
 * a difference prints where the texts part) */
struct ir_graph;
void test_ir_round_trip(const struct ir_graph *g);

/* Runs all registered suites in basic mode; returns the process exit code. */
int test_main(void);

/* The exit status that ctest reports as skipped (SKIP_RETURN_CODE in
 * tests/CMakeLists.txt): a suite that cannot run here says why on stdout
 * and exits with it, never with 0. */
#define TEST_SKIP 77

/* The CPU ISA level a CPU suite tests in this run, as enum cpu_isa
 * (runtime/cpu/quant_impl.h: 0 scalar, 1 avx2, 2 avx512), its name into
 * *name. ctest runs each CPU suite once per level with ROCMFORGE_CPU_ISA
 * set; unset, the level is the best this CPU has. A level this CPU lacks
 * exits TEST_SKIP; an unknown name, or kernel tables that do not run at the
 * level asked for, exit 1. Call it first in main(). */
int test_cpu_isa(const char **name);

#endif
