/*
 * target.h: what codegen compiles for, and the compilers that do it.
 *
 * A target is a GPU architecture named the way its vendor's compiler names
 * it: an AMDGPU target id ("gfx90a", "gfx90a:sramecc+:xnack-", "gfx1030")
 * compiled by hipRTC, or an NVIDIA compute capability ("sm_90") compiled by
 * NVRTC. cg_arch_parse() validates a name before any compiler sees it: gfx
 * names against LLVM's AMDGPU processor list (LLVM-C, amdgpu.c) and against
 * what the installed hipRTC can build (ROCm 5.2's crashes on processors newer
 * than it knows, so those are refused with a message instead).
 *
 * Both compilers are loaded at run time (dlopen): the binary builds and runs
 * on a machine with neither SDK, and says so when asked to compile.
 */
#ifndef RF_CODEGEN_TARGET_H
#define RF_CODEGEN_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "rocmforge/rocmforge.h"

typedef enum cg_vendor { CG_AMD, CG_NVIDIA } cg_vendor;

typedef struct cg_arch {
    cg_vendor vendor;
    char name[32];     /* processor: "gfx90a", "sm_90" */
    char target[64];   /* full target id as given: "gfx90a:sramecc+:xnack-", "sm_90" */
    int wave;          /* wavefront / warp size: 64 on GCN and CDNA (gfx6..gfx9), 32 on RDNA (gfx10+) and NVIDIA */
    bool dot4;         /* a 4-way int8 dot product instruction: v_dot4_i32_i8 (LLVM's dot1-insts), dp4a (sm_61+) */
    bool mma;          /* the f16 and int8 matrix units the prefill products use: MFMA 16x16x16 (CDNA 1-2), mma.sync (sm_80+) */
} cg_arch;

/* Parses and validates an arch name. Errors name it:
 *   unknown AMDGPU arch 'gfx4242'; known: gfx600, gfx601, ...
 *   arch 'gfx942': the installed hipRTC (ROCm 5.2) cannot build it; it builds gfx803 ... gfx1031
 *   unknown NVIDIA arch 'sm_1': expected sm_XY with XY >= 50 */
rf_status cg_arch_parse(const char *name, cg_arch *out, rf_error *err);

/* ---- compilers (rtc.c) --------------------------------------------------- */

typedef struct cg_compiler cg_compiler;

/* Loads hipRTC (gfx) or NVRTC (sm) for arch; RF_E_UNSUPPORTED with a message
 * saying which library was looked for where when it is missing. */
rf_status cg_compiler_open(const cg_arch *arch, cg_compiler **out, rf_error *err);
void cg_compiler_close(cg_compiler *c);
const cg_arch *cg_compiler_arch(const cg_compiler *c);
/* "hiprtc 5.2.21153" / "nvrtc 13.0": goes into every kernel key */
const char *cg_compiler_id(const cg_compiler *c);
/* the options every build passes, space-separated (also in the key) */
const char *cg_compiler_options(const cg_compiler *c);
/* Compiles one source to a code object (AMDGPU ELF for gfx, CUBIN for sm);
 * *code is malloc'd. name is the source's file name in diagnostics. On
 * failure err holds the first lines of the compiler's log. Several threads
 * may build with one compiler at once. */
rf_status cg_compiler_build(cg_compiler *c, const char *source, const char *name, void **code, size_t *size,
                            rf_error *err);

#endif
