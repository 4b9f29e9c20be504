/*
 * plan.h: the compiled plan file (.rfplan).
 *
 * A plan records what a compile produced so a later run starts without
 * compiling or guessing: the model's fingerprint (SHA-256 of the file's
 * size and its header up to the tensor data: metadata and tensor
 * directory), the arch target id, the compiler id and options, the kernels
 * (key and name), the launch order (kernel, group, grid, arguments) and the
 * memory plan (workspace bytes, planned tokens, each launch's argument
 * offsets come from the graph). It is a text file, one record a line, that
 * a user can read.
 *
 * cg_plan_check() compares a plan with what the current model, compiler
 * and program would produce and says what differs; a mismatch is never run.
 */
#ifndef RF_CODEGEN_PLAN_H
#define RF_CODEGEN_PLAN_H

#include "codegen/codegen.h"
#include "frontend/gguf.h"

void cg_model_fingerprint(const gguf_file *f, char out[65]);

/* p must be built (every kernel has its key). Written to a temporary name
 * and renamed. */
rf_status cg_plan_write(const char *path, const cg_program *p, const cg_compiler *cc, const gguf_file *model,
                        const ir_graph *g, rf_error *err);
/* RF_OK when the plan at path matches; RF_E_IO when it cannot be read,
 * RF_E_FORMAT for a file that is not a plan, RF_E_ARG with "plan X was made
 * for ..., not ..." naming the first thing that differs (model, arch,
 * compiler, kernels). */
rf_status cg_plan_check(const char *path, const cg_program *p, const cg_compiler *cc, const gguf_file *model,
                        rf_error *err);

#endif
