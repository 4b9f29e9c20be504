/*
 * codegen.h: from the fused IR to kernel source, and the launches that run it.
 *
 * cg_generate() walks the planned graph's groups in order and, for each,
 * renders one kernel from a template in templates/ with the group's
 * specialisation constants (dimensions, weight types, epilogue, wavefront
 * size) written in as constants, and records the launches that run it:
 * which kernel, the grid, and which IR values its pointer parameters are.
 * Layers with the same shapes render the same source, so a 32-layer model
 * has a dozen or two distinct kernels, each compiled once (cg_kernel is
 * deduplicated by source); a matmul group gets two kernels, one for decode
 * steps (T = 1) and one batched for prefill, and, when its weights are not
 * all f32, an actq kernel before them that converts the input the way the
 * CPU's products see it (templates/actq.hip).
 *
 * Every kernel has the signature
 *     extern "C" __global__ void NAME(<one pointer per arg node>, int T, int P)
 * so the executor passes the device addresses of arg[] and then the step's
 * token count and past length. Nothing here touches a GPU or a compiler.
 */
#ifndef RF_CODEGEN_CODEGEN_H
#define RF_CODEGEN_CODEGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codegen/target.h"
#include "ir/ir.h"
#include "support/arena.h"

#define CG_MAX_ARGS 16
/* The fewest rows a prefill step's products run on the full tiles of the
 * matrix units (mmq): below, a tile's blocks are too few (32 for 2048
 * columns) and each loops over all of K: on the H100, a 1B Q4_K_M's
 * prefill of 8 / 32 / 128 tokens ran 756 / 2937 / 10941 tok/s on the tiles
 * and 5078 / 8285 / 9900 on the eight-row kernel. Steps of 16 to 127 rows
 * run smaller tiles with split-K (codegen.c few_min_t), fewer the
 * eight-row kernel. */
#define CG_MMQ_MIN_T 128
/* An argument id from CG_ARG_SCRATCH up is not a node: slot (id -
 * CG_ARG_SCRATCH) of the activation scratch, rows of scratch_k floats, where
 * the actq kernel leaves a matmul group's input converted for its weights. */
#define CG_ARG_SCRATCH 0xffffff00u
#define CG_MAX_SCRATCH 4
/* The attention kernels' split scratch (split_bytes): the partial results of
 * a decode step's key ranges and the ticket counters that find the last. */
#define CG_ARG_SPLIT 0xfffffff0u
/* The quantize-out tails' counters and partial sums (qtail_bytes, zeroed
 * once; each launch leaves them zero). */
#define CG_ARG_QTAIL 0xfffffff1u
/* The split-K tiles' scratch (ksplit_bytes): CG_KSPLIT_TILES counters,
 * zeroed once (each launch leaves them zero), then the K ranges' partial
 * sums (templates/mmq.hip, rf_ksplit_merge). */
#define CG_ARG_KSPLIT 0xfffffff2u
#define CG_KSPLIT_TILES 8192
/* The expert sums' counters (moesum_bytes: a token's column blocks of the
 * down products, zeroed once; each launch leaves them zero). */
#define CG_ARG_MOESUM 0xfffffff3u
/* The grouped expert products' pairs by expert (experts_bytes, written by
 * templates/moe_sort.hip each prefill step). */
#define CG_ARG_EXPERTS 0xfffffff4u

typedef struct cg_kernel {
    const char *name;     /* entry point and file name, e.g. "matmul_q4_k_k2048_n5632_t1" */
    const char *tmpl;     /* template it was rendered from: "matmul", "rowwise", "attention", "argmax" */
    const char *source;   /* the whole rendered translation unit (prelude included) */
    uint32_t block;       /* threads per block */
    uint32_t n_launches;  /* how many launches of the plan use it */
    /* filled by cg_build_program (cache.h): */
    char key[65];         /* hex SHA-256 of source, arch, compiler id, options */
    void *code;           /* the code object (malloc'd), NULL until built */
    size_t code_size;
    bool cached;          /* came from the cache rather than the compiler */
} cg_kernel;

/* One launch, in plan order. The grid is (grid_x, ceil(rows / row_tile), 1)
 * where rows is a dimension (a constant, or IR_DIM_T for the step's tokens). */
typedef struct cg_launch {
    uint32_t kernel;       /* index into program->kernels */
    uint32_t group;        /* the IR group it executes */
    int8_t only_T;         /* 0: any T; 1: only when T == 1; -1: only when T > 1 */
    /* and within [min_T, max_T] (0: no bound): a group's products run the
     * full tiles on the matrix units from CG_MMQ_MIN_T rows, smaller tiles
     * with split-K below, and the eight-row kernel for the fewest */
    uint32_t min_T, max_T;
    uint32_t grid_x;
    int64_t rows;          /* constant or IR_DIM_T */
    uint32_t row_tile;
    uint32_t n_args;
    uint32_t arg[CG_MAX_ARGS]; /* IR node ids whose device addresses are the pointer parameters */
} cg_launch;

/* A tensor-parallel rank's collective (ir all_reduce / all_gather): not a
 * kernel but a stop in the plan, before launch `at`, where the executor
 * hands the node's operand to the other ranks and takes its result. */
typedef struct cg_coll {
    uint32_t at;           /* the launches before it: indices below at */
    uint32_t node;         /* the collective's IR node id */
} cg_coll;

typedef struct cg_program {
    arena arena;           /* owns every string above */
    cg_arch arch;
    cg_kernel *kernels;    /* (n_kernels) distinct sources */
    uint32_t n_kernels;
    cg_launch *launches;   /* (n_launches) plan order */
    uint32_t n_launches;
    cg_coll *colls;        /* (n_colls) plan order: a rank's collectives */
    uint32_t n_colls;
    uint32_t argmax_kernel; /* greedy sampling on the device: argmax over n_vocab logits */
    int64_t scratch_k;     /* the widest row an actq kernel writes (0: none) */
    uint32_t scratch_slots; /* the most slots one group uses */
    uint64_t split_bytes;  /* the attention split scratch, zeroed before the first step (0: none) */
    uint64_t qtail_bytes;  /* the quantize-out tails' counters (0: none) */
    uint64_t ksplit_bytes; /* the split-K tiles' counters and partials (0: none) */
    uint64_t moesum_bytes; /* the expert sums' counters (0: none) */
    uint64_t experts_bytes; /* the grouped expert products' pairs by expert (0: none) */
    bool kv_f16;           /* the KV cache holds f16 ([n_ctx, Hkv, D] per layer and K/V), else f32 */
    bool paged;            /* rendered for a cache in blocks (cg_options.paged) */
} cg_program;

/* A session of several sequences keeps each layer's KV cache in blocks
 * (runtime/backend.h): position p of sequence q is the cache's row
 * table[q * stride + (p >> shift)] << shift | p % 2^shift. A step's rows are
 * then any sequences' at their own positions, so every kernel that stores or
 * reads the cache takes a row's position, sequence and the table from
 * device memory beside P, at these offsets (in 32-bit words) from the P
 * address every kernel receives. */
typedef struct cg_paging {
    uint32_t pos, seq, table; /* words from P: the rows' positions, their sequences, the block table */
    uint32_t stride, shift;   /* the table's entries a sequence; log2 of a block's positions */
} cg_paging;

/* What the kernels are rendered for besides the target. */
typedef struct cg_options {
    bool kv_f16;              /* an f16 KV cache (rt_options.kv_f16), as llama.cpp's default */
    const cg_paging *paged;   /* several sequences (NULL: one, its cache rows are its positions) */
} cg_options;

/* Renders g (after the pass pipeline) for arch (opt: NULL for the
 * defaults). Errors name the group and what has no kernel (a weight type, an
 * op in a group). */
rf_status cg_generate(const ir_graph *g, const cg_arch *arch, const cg_options *opt, cg_program **out,
                      rf_error *err);
void cg_program_free(cg_program *p);

/* The launches of one step: a decode step's (T = 1) or a prefill step's
 * (T > 1); greedy decoding adds the argmax launch to a decode step. */
uint32_t cg_step_launches(const cg_program *p, bool decode);

#endif
