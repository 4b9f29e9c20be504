/*
 * isa.h: reading code objects: disassembly and resource use.
 *
 * AMDGPU code objects (ELF) are disassembled with LLVM-C's AMDGPU target
 * (amdgpu.c, built when llvm-19-dev is found) and their resources read from
 * the kernel's metadata note (.vgpr_count, .sgpr_count, .agpr_count,
 * .group_segment_fixed_size, .private_segment_fixed_size, wavefront size),
 * from which the waves per SIMD the register use allows follow. NVIDIA
 * CUBINs give registers, shared and local memory from their .nv.info
 * attributes; their SASS needs nvdisasm, which is not ours to ship.
 * LLVM-C also gives the list of AMDGPU processors that cg_arch_parse()
 * validates names against.
 */
#ifndef RF_CODEGEN_ISA_H
#define RF_CODEGEN_ISA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "codegen/target.h"

typedef struct cg_resources {
    int vgpr, agpr, sgpr;  /* registers per lane / per wave (-1: not known for this vendor) */
    int lds_bytes;         /* LDS / shared memory, static */
    int scratch_bytes;     /* private / local memory per lane */
    int wave;              /* wavefront size the code was built for */
    int waves_per_simd;    /* occupancy the registers allow (AMD), blocks... (-1 NVIDIA) */
} cg_resources;

/* true when this build has LLVM-C with the AMDGPU target */
bool cg_amdgpu_available(void);
/* LLVM's AMDGPU processor names (static storage, sorted); NULL when LLVM is
 * not built in */
const char *const *cg_amdgpu_processors(size_t *n);

rf_status cg_code_resources(const cg_arch *arch, const void *code, size_t size, const char *kernel,
                            cg_resources *out, rf_error *err);
/* Prints kernel's disassembly (AMD; NVIDIA: a note that SASS needs
 * nvdisasm) to out. */
rf_status cg_code_disassemble(const cg_arch *arch, const void *code, size_t size, const char *kernel, FILE *out,
                              rf_error *err);

#endif
