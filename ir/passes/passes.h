/*
 * passes.h: the pass pipeline, graph → graph.
 *
 * Every pass rewrites the graph in place and the verifier runs after each.
 * The pipeline is one table (pipeline.c), in order:
 *
 *   dce           drop nodes the output does not depend on
 *   fold          simplify: scale by 1, reshape of reshape, no-op reshapes
 *   fuse-qkv      matmuls that share an input (Q/K/V, gate/up) → one group
 *   fuse-norm     an RMSNorm feeding only a matmul group joins it as prologue
 *   fuse-epilogue bias add, SwiGLU/GEGLU gating, softcap, residual add join
 *                 the matmul group that produces their operand
 *   fuse-rope-kv  RoPE of q and k, and the K/V cache stores → one group
 *   fuse-moe      an expert GLU's gate/up matmul_ids ⊕ the GLU; the down
 *                 matmul_id ⊕ its weighted sum ⊕ the add after it
 *   group         every other computing node becomes a group of its own kind
 *   schedule      reorder so each group's nodes are contiguous
 *   memplan       workspace offsets for every activation, by liveness
 *
 * --disable-pass=NAME skips a pass (the fusion passes are optional: the
 * graph is still executable without them; group, schedule and memplan are
 * required and cannot be disabled). --print-after=NAME prints the graph after
 * a pass ("all" after every pass).
 */
#ifndef RF_IR_PASSES_H
#define RF_IR_PASSES_H

#include <stdio.h>

#include "ir/ir.h"

typedef rf_status (*ir_pass_fn)(ir_graph *g, rf_error *err);

typedef struct ir_pass {
    const char *name;
    ir_pass_fn run;
    bool required;
} ir_pass;

typedef struct ir_pipeline_options {
    const char *print_after;   /* comma-separated pass names, "all", or NULL */
    const char *disable;       /* comma-separated pass names or NULL */
    FILE *print_to;            /* where --print-after goes (stdout if NULL) */
    int64_t max_tokens;        /* T the workspace is planned for (default 512) */
    int64_t max_out;           /* O (rows with logits) it is planned for (default max_tokens) */
} ir_pipeline_options;

/* The passes in pipeline order; *n receives the count. */
const ir_pass *ir_passes(size_t *n);
rf_status ir_run_pipeline(ir_graph *g, const ir_pipeline_options *opt, rf_error *err);

/* the passes */
rf_status ir_pass_dce(ir_graph *g, rf_error *err);
rf_status ir_pass_fold(ir_graph *g, rf_error *err);
rf_status ir_pass_fuse_qkv(ir_graph *g, rf_error *err);
rf_status ir_pass_fuse_norm(ir_graph *g, rf_error *err);
rf_status ir_pass_fuse_epilogue(ir_graph *g, rf_error *err);
rf_status ir_pass_fuse_rope_kv(ir_graph *g, rf_error *err);
rf_status ir_pass_fuse_moe(ir_graph *g, rf_error *err);
rf_status ir_pass_group(ir_graph *g, rf_error *err);
rf_status ir_pass_schedule(ir_graph *g, rf_error *err);
rf_status ir_pass_memplan(ir_graph *g, rf_error *err);

/* helpers the passes share (ir/passes/util.c) */
typedef struct ir_uses {
    uint32_t *count;     /* by node id: number of uses */
    ir_node ***users;    /* by node id: the using nodes */
    uint32_t n_ids;
} ir_uses;
rf_status ir_uses_build(const ir_graph *g, ir_uses *u, rf_error *err);
void ir_uses_free(ir_uses *u);
bool ir_is_leaf(const ir_node *n);
/* is n a pure view of its first operand (no kernel, shares its storage)? */
bool ir_is_alias(const ir_node *n);
/* Is attention a's rope_kv group one that a decode kernel can run with the
 * attention: q the RoPE of one value (maybe per-head normed before it and
 * scaled after it; k normed then too), k's cache
 * store that of another with the same rotation (positions, frequency
 * factors, constants), v's cache store, all in one rope_kv group? memplan
 * then keeps that group's inputs live through the attention's step, so the
 * attention kernel may read them (codegen.c's decode attention does). */
bool ir_rope_kv_fusable(const ir_graph *g, const ir_node *a);

/* The norm of x = xres + rms_norm(a, w) (gemma's post-norms, then the
 * residual), where the add and the norm are each a group of their own, the
 * norm's output is read by the add alone and a is a matmul group's: a
 * decode kernel's tail may make x from the product's row (codegen.c's row
 * tail), and memplan keeps a live through x's step so that it can. NULL:
 * x is not that. */
const ir_node *ir_post_norm(const ir_graph *g, const ir_node *x);

/* The per-head RMS norm (q/k norm) whose output a RoPE node rotates, when
 * it is in the RoPE's group; else NULL. */
const ir_node *ir_rope_norm(const ir_node *rope);

/* The RoPE node of attention a's queries: a->in[0], or the one it scales
 * when a scale in the same group follows it (*prescale: its factor, else
 * 1). NULL: the queries are no RoPE's. */
const ir_node *ir_attn_rope_q(const ir_node *a, float *prescale);

#endif
