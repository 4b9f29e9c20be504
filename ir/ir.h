/*
 * ir.h: ROCmForge's intermediate representation.
 *
 * A graph is a list of nodes in SSA form, in topological order (a node's
 * operands always come earlier). Each node has an op, up to IR_MAX_IN
 * operands, a few typed attributes and a result type: an element type
 * (f32, f16, bf16, i32, or a GGUF quant type for weights) and a shape of up
 * to four dimensions, outermost first, each a constant or a symbol:
 *     T   tokens in this step        P   past positions in the KV cache
 * (and the sum P+T, the KV length attention reads). Weights are leaves that
 * name their GGUF tensor and carry its type and shape but no data.
 *
 * Nodes live in the graph's arena and are never freed one by one. Passes are
 * functions graph → graph that rewrite in place (ir/passes/); the verifier
 * runs after each. Fusion groups are ranges of nodes tagged with a group id;
 * each group records the kernel kind that executes it and its
 * specialisation constants, and the memory planner gives every value that
 * outlives its group a byte offset in one workspace.
 *
 * The text form (ir_print / ir_parse) is one line a node:
 *     %7 = matmul %6, @blk.0.attn_q.weight : f32[T,384]
 *     %9 = rope %8, %pos {n_rot=64, mode=0, base=10000} : f32[T,6,64]
 * See docs/ir.md.
 */
#ifndef RF_IR_IR_H
#define RF_IR_IR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rocmforge/rocmforge.h"
#include "support/arena.h"
#include "support/types.h"

/* element types: the ggml type ids, plus I32 (ggml's own id 26) */
typedef ggml_type ir_elem;

/* a dimension: >= 0 a constant, < 0 a symbol */
enum {
    IR_DIM_T = -1,   /* tokens in the step */
    IR_DIM_P = -2,   /* past positions */
    IR_DIM_PT = -3,  /* P + T: the KV length */
    IR_DIM_O = -4,   /* rows whose logits a batch step returns: the last O of its T (a batch graph's
                        last_rows {n = O}; O <= T, and the plan sizes O for at most plan_out rows) */
};
#define IR_MAX_RANK 4

typedef struct ir_type {
    ir_elem elem;
    uint8_t rank;
    int64_t dim[IR_MAX_RANK]; /* outermost first */
} ir_type;

/*
 * X(NAME, "name", min operands, max operands, int attribute names, float attribute names)
 * Attribute names are a comma-separated list in slot order; the printer and
 * parser use them, so adding an op is adding a line. Semantics (shapes are
 * outermost first; E = n_embd, H = heads, D = head_dim):
 *
 *  tokens            → i32[T]                the step's token ids
 *  positions         → i32[T]                their positions (P, P+1, ...)
 *  hidden            → f32[T,E]              the residual rows a part of a split model
 *                                            starts from: the output of the part that
 *                                            ran the layers before (runtime.h, gpu_layers)
 *  weight @name      → the GGUF tensor, shape [ne1, ne0] for a matrix
 *         {row0}       or its rows row0 .. row0 + dim[0] - 1 (one tensor
 *                      holding several matrices: attn_qkv, fused gate/up;
 *                      a tensor-parallel rank's rows)
 *         {col0}       and of each row the columns col0 .. col0 + dim[last] - 1
 *                      (a rank's share of a product split along K; on
 *                      block boundaries of a quantized type)
 *         {mid0}       and of each matrix of a 3-D tensor (an expert) the
 *                      rows mid0 .. mid0 + dim[1] - 1 (a rank's share of
 *                      every expert's gate and up)
 *  embed tab, tok    → f32[T,E]              rows of the table (dequantized)
 *  rms_norm x [,w]   → like x                x / sqrt(mean(x^2) + eps) over the
 *                                            last axis, times w (broadcast) if given
 *  layer_norm x [,w [,b]] → like x           (x - mean(x)) / sqrt(var(x) + eps) over
 *                                            the last axis, times w, plus b, if given
 *  matmul x, W       → f32[...,N]            x[...,K] · W[N,K]^T (W any weight type)
 *  matmul_heads x, W → f32[T,H,N]            head h of x[T,H,K] times W[H,N,K]'s h-th
 *                                            matrix (a product per head: deepseek2's
 *                                            latent attention)
 *  concat a, b       → f32[...,n+m]          a[...,n] then b[...,m] along the last axis
 *                                            (b[...,1,m] repeats over a[...,H,n]'s H)
 *  add / mul a, b    → like a                b broadcasts over a's leading axes
 *  scale x {s}       → x * s
 *  silu / gelu x     → elementwise (gelu: the tanh approximation, as ggml_gelu)
 *  swiglu g, u       → silu(g) * u           geglu g, u → gelu(g) * u
 *  softcap x {cap}   → cap * tanh(x / cap)
 *  slice x {axis,start,len}                  a sub-range of one axis
 *  reshape x         → the node's type       same elements, new shape
 *  rope x, pos [,f]  {n_rot, mode, base, freq_scale, ext_factor, attn_factor,
 *                     beta_fast, beta_slow}  x[T,H,D]; rotates the first n_rot of
 *                                            D; mode 0 = adjacent pairs (llama),
 *                                            2 = halves (neox); f: optional
 *                                            per-frequency factors (llama3 scaling)
 *  kv_store x {layer, kv}                    stores x[T,Hkv,D] into the layer's K
 *                                            (kv=0) or V (kv=1) cache at positions
 *                                            P..P+T; the result is the cache view
 *                                            f32[PT,Hkv,D] (it is not workspace)
 *  attention q, k, v [, sinks] {layer, window, noncausal, scale, softcap}
 *                                            q[T,Hq,D] against the cache views k, v
 *                                            [PT,Hkv,D] (v's D may differ from q's and
 *                                            k's) (GQA: Hq/Hkv queries share a
 *                                            kv head), causal (noncausal 1: every
 *                                            query sees all P+T keys, an encoder's
 *                                            attention), only the last
 *                                            `window` positions if window > 0,
 *                                            softcap on the scores if > 0; sinks
 *                                            [Hq]: a logit per head that joins each
 *                                            softmax's max and sum but weighs no value
 *                                            → f32[T,Hq*Dv]
 *  last_rows x {n}   → the last n rows of x (logits of the last token only)
 *  output x          → marks the graph's result (the logits, or an
 *                                            embedding model's vectors)
 *  pool x {type}     → f32[1,E]              x[T,E] pooled over its rows: type 1 the
 *                                            mean, 2 the first row (CLS), 3 the last
 *                                            (llama.cpp's pooling type numbers; an
 *                                            embedding model's sentence vector)
 *
 * Mixture of experts (the router, then the chosen experts' products):
 *  softmax x         → like x                softmax over the last axis
 *  sigmoid x         → elementwise 1 / (1 + e^-x)
 *  topk x {k}        → i32[...,k]            indices of the k largest of the last
 *                                            axis, largest first (ties: lower index)
 *  group_mask x {groups, used} → like x      the last axis as `groups` runs of
 *                                            experts; the `used` runs whose two largest
 *                                            sum highest (ties: lower run) kept, the
 *                                            rest -inf (deepseek's grouped routing)
 *  moe_weights p, ids {norm} {scale}          p[...,n_expert] gathered at ids[...,k]
 *                    → f32[...,k]            (norm 1: / their sum, at least 2^-14;
 *                                            norm 2: their softmax; times scale if
 *                                            not 0)
 *  matmul_id x, W, ids [, b] → f32[T,k,N]     row (t,j) = x[t] (x[T,K]) or x[t,j]
 *                                            (x[T,k,K]) times expert ids[t,j]'s
 *                                            matrix of W[n_expert,N,K], plus that
 *                                            expert's row of b[n_expert,N]
 *  swiglu_oai g, u {alpha, limit}            gpt-oss's clamped GLU: with x = min(g,
 *                                            limit), y = clamp(u, ±limit),
 *                                            x·sigmoid(alpha·x)·(y + 1)
 *  moe_sum y, w      → f32[T,N]              Σ_j y[t,j,:]·w[t,j], j in order
 *  scale_rows x, s   → like x                x[t,:]·s[t,0] (s: f32[T,1])
 *
 * Tensor parallelism (model.tp_world ranks, each this graph for its rank):
 *  all_reduce x      → like x                the sum of every rank's x, in rank order
 *  all_gather x      → [..., n·tp_world]     every rank's x[...,n] side by side along
 *                                            the last axis, rank 0's first
 */
#define IR_OP_LIST(X)                                                                                      \
    X(INPUT_TOKENS, "tokens", 0, 0, "", "")                                                                \
    X(INPUT_POS, "positions", 0, 0, "", "")                                                                \
    X(INPUT_HIDDEN, "hidden", 0, 0, "", "")                                                                \
    X(WEIGHT, "weight", 0, 0, "row0,col0,mid0", "")                                                             \
    X(EMBED, "embed", 2, 2, "", "")                                                                        \
    X(RMS_NORM, "rms_norm", 1, 2, "", "eps")                                                               \
    X(LAYER_NORM, "layer_norm", 1, 3, "", "eps")                                                           \
    X(MATMUL, "matmul", 2, 2, "", "")                                                                      \
    X(ADD, "add", 2, 2, "", "")                                                                            \
    X(MUL, "mul", 2, 2, "", "")                                                                            \
    X(SCALE, "scale", 1, 1, "", "s")                                                                       \
    X(SILU, "silu", 1, 1, "", "")                                                                          \
    X(GELU, "gelu", 1, 1, "", "")                                                                          \
    X(SWIGLU, "swiglu", 2, 2, "", "")                                                                      \
    X(GEGLU, "geglu", 2, 2, "", "")                                                                        \
    X(SOFTCAP, "softcap", 1, 1, "", "cap")                                                                 \
    X(SLICE, "slice", 1, 1, "axis,start,len", "")                                                          \
    X(RESHAPE, "reshape", 1, 1, "", "")                                                                    \
    X(ROPE, "rope", 2, 3, "n_rot,mode", "base,freq_scale,ext_factor,attn_factor,beta_fast,beta_slow")      \
    X(KV_STORE, "kv_store", 1, 1, "layer,kv", "")                                                          \
    X(ATTENTION, "attention", 3, 4, "layer,window,noncausal", "scale,softcap")                             \
    X(LAST_ROWS, "last_rows", 1, 1, "n", "")                                                               \
    X(OUTPUT, "output", 1, 1, "", "")                                                                      \
    X(SOFTMAX, "softmax", 1, 1, "", "")                                                                    \
    X(SIGMOID, "sigmoid", 1, 1, "", "")                                                                    \
    X(TOPK, "topk", 1, 1, "k", "")                                                                         \
    X(MOE_WEIGHTS, "moe_weights", 2, 2, "norm", "scale")                                                   \
    X(MATMUL_ID, "matmul_id", 3, 4, "", "")                                                                \
    X(MOE_SUM, "moe_sum", 2, 2, "", "")                                                                    \
    X(SCALE_ROWS, "scale_rows", 2, 2, "", "")                                                              \
    X(SWIGLU_OAI, "swiglu_oai", 2, 2, "", "alpha,limit")                                                   \
    X(POOL, "pool", 1, 1, "type", "")                                                                      \
    X(ALL_REDUCE, "all_reduce", 1, 1, "", "")                                                              \
    X(ALL_GATHER, "all_gather", 1, 1, "", "")                                                              \
    X(MATMUL_HEADS, "matmul_heads", 2, 2, "", "")                                                          \
    X(CONCAT, "concat", 2, 2, "", "")                                                                      \
    X(GROUP_MASK, "group_mask", 1, 1, "groups,used", "")

typedef enum ir_op {
#define X(NAME, STR, MIN_IN, MAX_IN, IATTR, FATTR) IR_OP_##NAME,
    IR_OP_LIST(X)
#undef X
    IR_OP_COUNT
} ir_op;

#define IR_MAX_IN 4
#define IR_MAX_IATTR 4
#define IR_MAX_FATTR 6

typedef struct ir_node ir_node;
struct ir_node {
    ir_op op;
    uint32_t id;                 /* SSA number, %id; unique in the graph */
    uint8_t n_in;
    ir_node *in[IR_MAX_IN];
    ir_type type;
    int64_t ia[IR_MAX_IATTR];
    float fa[IR_MAX_FATTR];      /* floats are f32 so the text form round-trips exactly */
    const char *name;            /* WEIGHT: the GGUF tensor name */
    uint32_t group;              /* fusion group, 0 = none */
    int64_t offset;              /* memory plan: workspace byte offset, -1 = none */
    bool dead;                   /* removed by a pass; dropped by ir_compact */
};

/* A fused group: the nodes tagged with its id execute as one kernel.
 * X(NAME, "name", specialisation constant names) */
#define IR_KERNEL_LIST(X)                                                     \
    X(NONE, "none", "")                                                       \
    X(EMBED, "embed", "e,type")                                               \
    X(NORM, "norm", "n")                                                      \
    X(MATMUL, "matmul", "n,k,wtype,norm,bias,act,residual,softcap")           \
    X(ROPE_KV, "rope_kv", "heads,head_dim,n_rot,mode,store")                  \
    X(ATTENTION, "attention", "heads,kv_heads,head_dim,window,softcap")       \
    X(ELEMENTWISE, "elementwise", "n")                                        \
    X(OUTPUT, "output", "n")                                                  \
    X(ROUTE, "route", "n_expert,k")                                           \
    X(MATMUL_ID, "matmul_id", "n,k,wtype,n_expert,used,glu,sum")              \
    X(POOL, "pool", "n,type")                                                 \
    X(COLLECTIVE, "collective", "n")                                          \
    X(MATMUL_HEADS, "matmul_heads", "n,k,wtype,heads")

typedef enum ir_kernel {
#define X(NAME, STR, SPEC) IR_K_##NAME,
    IR_KERNEL_LIST(X)
#undef X
    IR_K_COUNT
} ir_kernel;

#define IR_MAX_SPEC 8
typedef struct ir_group {
    uint32_t id;
    ir_kernel kernel;
    int64_t spec[IR_MAX_SPEC];   /* specialisation constants, named by IR_KERNEL_LIST */
} ir_group;

/* Model-level facts the runtime needs and no node carries. */
typedef struct ir_model {
    const char *arch;
    uint32_t n_vocab, n_embd, n_layer, n_ctx;
    uint32_t n_head, n_head_kv, head_dim;   /* KV cache geometry */
    uint32_t bos, eos;
    uint32_t rope_n_ctx_orig;   /* rope's original training context (ggml_rope_ext n_ctx_orig; yarn needs it) */
    /* an embedding model (bert): the output is hidden states, n_embd wide,
     * not logits: one row per token (pooling 0) or one pooled row (pooling
     * 1 mean, 2 cls, 3 last, llama.cpp's numbers); the whole text is one
     * step from position 0, since its attention looks both ways */
    uint32_t embedding, pooling;
    /* a tensor-parallel rank's graph (import_options.tp_world > 1): rank
     * tp_rank of tp_world, n_head and n_head_kv its own heads; 0 and 0 for
     * a whole model */
    uint32_t tp_rank, tp_world;
} ir_model;

typedef struct ir_graph {
    arena arena;
    ir_model model;
    ir_node **nodes;             /* (n_nodes) topological order */
    uint32_t n_nodes, cap_nodes;
    uint32_t next_id;
    ir_group *groups;            /* (n_groups), groups[g-1] has id g */
    uint32_t n_groups, cap_groups;
    int64_t workspace_bytes;     /* set by the memory planner, */
    int64_t plan_tokens;         /* for steps of at most this many tokens */
    int64_t plan_out;            /* and at most this many rows with logits (O), where it has them */
} ir_graph;

const char *ir_op_name(ir_op op);
int ir_op_from_name(const char *s, size_t len); /* -1 if unknown */
const char *ir_kernel_name(ir_kernel k);
int ir_kernel_from_name(const char *s, size_t len); /* -1 if unknown */
int ir_kernel_spec(ir_kernel k, const char *name); /* slot or -1 */
int ir_kernel_n_spec(ir_kernel k);

ir_graph *ir_graph_new(void);
void ir_graph_free(ir_graph *g);

/* Appends a node with operands in[0..n_in) and result type t; attributes
 * zeroed; returns NULL on allocation failure. */
ir_node *ir_add(ir_graph *g, ir_op op, const ir_type *t, ir_node *const *in, uint8_t n_in);
ir_node *ir_weight(ir_graph *g, const char *name, ir_elem elem, uint8_t rank, const int64_t *dim);
/* Operand and attribute metadata of an op (from IR_OP_LIST). */
int ir_op_min_in(ir_op op);
/* A leaf: a weight or one of the step's inputs (tokens, positions, hidden);
 * it belongs to no group and has no workspace offset. */
bool ir_op_is_leaf(ir_op op);
int ir_op_max_in(ir_op op);
/* Slot of the named int / float attribute of op, or -1. */
int ir_op_iattr(ir_op op, const char *name);
int ir_op_fattr(ir_op op, const char *name);
/* The comma-separated attribute / spec name lists, and the i-th name of
 * such a list copied into buf (NULL past the end). */
const char *ir_op_iattrs(ir_op op);
const char *ir_op_fattrs(ir_op op);
const char *ir_kernel_specs(ir_kernel k);
const char *ir_list_name(const char *list, int i, char *buf, size_t cap);
ir_type ir_type_make(ir_elem elem, uint8_t rank, const int64_t *dim);
/* Same rank and dims (a symbol equals only the same symbol); the element
 * types are not compared. */
bool ir_type_same_dims(const ir_type *a, const ir_type *b);
/* The GLU of two products an op is: 1 swiglu, 2 geglu, 3 swiglu_oai (0:
 * not one); a matmul_id group's spec "glu" (ir fuse-moe). */
int ir_glu_kind(ir_op op);
/* Drops dead nodes and renumbers nothing (ids stay stable). */
void ir_compact(ir_graph *g);
ir_group *ir_group_new(ir_graph *g, ir_kernel k);

/* Text form. ir_print writes the whole graph; ir_parse reads it back
 * (errors carry line:column in err). */
void ir_print(const ir_graph *g, FILE *out);
void ir_print_type(const ir_type *t, FILE *out);
rf_status ir_parse(const char *text, size_t len, ir_graph **out, rf_error *err);

/* Structural checks: operand order, arities, types and shapes agree with the
 * op, groups well formed, offsets within the workspace. A failure names the
 * node (%id) and what is wrong. */
rf_status ir_verify(const ir_graph *g, rf_error *err);

/* The dimension range [corr[0], corr[1]] over which a rope with YaRN
 * (ext_factor != 0) ramps from interpolation to extrapolation, as
 * ggml_rope_yarn_corr_dims computes it; every rope kernel uses this one. */
void ir_rope_yarn_corr(int n_rot, int n_ctx_orig, float beta_fast, float beta_slow, float base, float corr[2]);

/* Byte size of a value of type t with the symbols bound (for planning). */
int64_t ir_type_bytes(const ir_type *t, int64_t T, int64_t P, int64_t O);

#endif
