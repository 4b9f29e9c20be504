/*
 * runtime.h: executing a compiled plan.
 *
 * rt_session_open() imports the GGUF into IR, runs the pass pipeline, binds
 * every WEIGHT node to its tensor in the mapped file (checking type and
 * shape), allocates the workspace the memory planner sized and the KV cache,
 * and picks a backend ("cpu", "gpu", or "auto": the GPU when one is usable,
 * else the CPU). rt_eval() runs one step over n
 * tokens at the session's current position, appending their K/V to the
 * cache; prompts longer than the planned step size are split into steps.
 * Nothing on this path allocates after open.
 *
 * A session holds n_seq sequences (rt_options.n_seq; 1 by default), each
 * its own positions, up to n_ctx; their KV cache is a pool of blocks that a
 * sequence takes as it grows and gives back when reset (a paged cache: the
 * pool may hold fewer positions than n_seq * n_ctx, and a step that needs
 * a block when none is free fails, changing nothing). rt_eval_seq feeds one
 * of them, rt_step runs rows of several in one step (prompt chunks and
 * decode tokens together), rt_decode_batch advances several by one token
 * each (every row its own sequence and position). rt_eval and
 * rt_eval_greedy work on sequence 0.
 *
 * A model larger than the GPU runs split (rt_options.gpu_layers): the
 * embedding and the first N layers, with their KV cache, on the GPU, the
 * other layers, theirs and the output head on the CPU, in one session.
 * Each part is a graph of its own, imported for its layers
 * (import_options.layer_begin/end), planned, fused and compiled as a
 * model is; the first ends in the residual rows of the step, which cross
 * to the host once a step (T x n_embd floats) and start the second
 * (`hidden`). Every entry point below works the same on a split session,
 * and N = every layer is the GPU session, N = 0 the CPU one.
 *
 * A model split by tensor parallelism (rt_options.tp = N) runs as N rank
 * sessions, each its share of every layer's heads and FFN columns and of
 * the vocabulary, stepped one after another on the CPU between the
 * collectives where their results meet (runtime/tp.c); every entry point
 * works the same on it too, its logits the unsplit ones up to rounding.
 */
#ifndef RF_RUNTIME_RUNTIME_H
#define RF_RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include "frontend/gguf.h"
#include "ir/ir.h"

typedef struct rt_options {
    const char *backend;      /* "cpu", "gpu", "auto" (NULL: auto) */
    int n_threads;            /* <= 0: physical cores */
    uint32_t n_ctx;           /* KV cache positions; 0: the model's context length */
    uint32_t n_batch;         /* tokens per step the plan is sized for; 0: 512 */
    uint32_t n_seq;           /* sequences, each up to n_ctx positions; 0: 1 */
    uint32_t kv_positions;    /* the KV cache's positions, which the sequences share in blocks
                                 (RT_KV_BLOCK each) as they grow; 0: n_seq * n_ctx */
    bool all_logits;          /* rt_eval returns logits for every token, not the last */
    const char *print_after;  /* pipeline options, as `rocmforge ir` */
    const char *disable_pass;
    bool kv_f16;              /* KV cache in f16 (as llama.cpp's default) instead of f32 */
    rf_pooling pooling;       /* embedding models: the pooling instead of the model's */
    /* GPU backend: kernel cache directory (NULL: the default, codegen/cache.h),
     * a plan file that must match (NULL: none), and callbacks for the compile
     * progress, cache warnings and notices (auto falling back to the CPU) */
    const char *cache_dir;
    const char *plan;
    bool no_graph;            /* GPU: launch a decode step kernel by kernel instead of replaying its graph */
    /* the layers the GPU runs, the first ones (the CPU runs the rest): NULL
     * every one, "N" a count from 0 (the CPU alone) to the model's layers,
     * "auto" as many as the GPU's free memory holds (rt_fit_layers; what it
     * chose is said through warn) */
    const char *gpu_layers;
    /* tests: what "auto" may take of the GPU's memory at most, and what its
     * allocations may total, in bytes (0: no limit) */
    uint64_t gpu_mem_limit;
    /* tests, not a user's option: the backend of a split session's first
     * part ("cpu": the same split, hand-over and KV ownership run on one
     * host; NULL: the GPU) */
    const char *front_backend;
    /* tensor parallelism: the model split over this many ranks (heads, FFN
     * columns, vocabulary: frontend/arch_tp.c), run on the CPU backend one
     * rank after another between the collectives (runtime/tp.c); 0 or 1:
     * none */
    uint32_t tp;
    /* one process a GPU (rf_session_options): rank tp_rank of tp_world,
     * meeting at tp_addr; the bootstrap only (runtime/tp.c, rt_tp_join) */
    uint32_t tp_rank, tp_world;
    const char *tp_addr;
    void (*progress)(void *ctx, uint32_t done, uint32_t total);
    void (*warn)(void *ctx, const char *msg);
    void *cb_ctx;
} rt_options;

typedef struct rt_session rt_session;

/* positions a KV cache block holds (a power of two) */
#define RT_KV_BLOCK 32

rf_status rt_session_open(const gguf_file *f, const rt_options *opt, rt_session **out, rf_error *err);
void rt_session_close(rt_session *s);

/* Evaluates tokens[0..n) at positions pos..pos+n-1 (pos = rt_n_past) and
 * advances. logits receives n_vocab floats per output row: n rows with
 * all_logits, else 1 (the last token's). Errors: n == 0, a token id out of
 * range, or the context full — the cache is left as it was. */
rf_status rt_eval(rt_session *s, const int32_t *tokens, uint32_t n, float *logits, rf_error *err);

/* As rt_eval, but returns only the id of the last token's largest logit
 * (the lowest id among equals); a GPU computes it on the device. */
rf_status rt_eval_greedy(rt_session *s, const int32_t *tokens, uint32_t n, int32_t *next, rf_error *err);

/* As rt_eval_greedy, for sequence seq (< rt_n_seq). */
rf_status rt_eval_seq_greedy(rt_session *s, uint32_t seq, const int32_t *tokens, uint32_t n, int32_t *next,
                             rf_error *err);

/* As rt_eval, for sequence seq (< rt_n_seq). */
rf_status rt_eval_seq(rt_session *s, uint32_t seq, const int32_t *tokens, uint32_t n, float *logits,
                      rf_error *err);

/* One step over n rows of any of the session's sequences: row i is token
 * tokens[i] at sequence seq[i]'s next position (a sequence's rows take its
 * next positions in the order they come: a prompt's chunk, a decode
 * token). Rows with want[i] set return their logits, in row order, into
 * logits (a row of n_vocab each); only a sequence's last row in the step
 * may want them. A step that mixes the chunks of prompts being read with
 * the tokens of replies being made reads the weights once for all of
 * them. Each wanted row is what rt_eval_seq gives (up to the rounding of
 * other row counts). At most n_seq + n_batch rows (one sequence: any
 * number, in steps). Errors (no rows, too many, a sequence out of range or
 * full, logits wanted before a sequence's last row, a token out of the
 * vocabulary, a dry KV pool) change nothing. */
rf_status rt_step(rt_session *s, uint32_t n, const uint32_t *seq, const int32_t *tokens, const bool *want,
                  float *logits, rf_error *err);

/* One step that advances n distinct sequences seq[0..n) by one token each,
 * tokens[i] at sequence seq[i]'s next position; logits receives n rows of
 * n_vocab, row i sequence seq[i]'s. Each row is what rt_eval_seq of that
 * token alone gives (up to the rounding of other row counts). Errors (n of
 * 0 or more than rt_n_seq, a sequence out of range or given twice, a token
 * out of the vocabulary, a full sequence) change nothing. */
rf_status rt_decode_batch(rt_session *s, uint32_t n, const uint32_t *seq, const int32_t *tokens, float *logits,
                          rf_error *err);

/* An embedding model's output for one text tokens[0..n), evaluated in one
 * step from position 0 (its attention looks both ways, so the text cannot
 * be split): out receives n_embd floats when the graph pools, else n rows
 * of n_embd. The cache is left empty. Errors: not an embedding model, n of
 * 0 or more than the planned step (n_batch) or the context, a token out of
 * the vocabulary. */
rf_status rt_embed(rt_session *s, const int32_t *tokens, uint32_t n, float *out, rf_error *err);
uint32_t rt_n_embd(const rt_session *s);
bool rt_is_embedding(const rt_session *s);

uint32_t rt_n_past(const rt_session *s); /* sequence 0's positions */
uint32_t rt_seq_n_past(const rt_session *s, uint32_t seq);
uint32_t rt_n_seq(const rt_session *s);
/* the KV cache's blocks (RT_KV_BLOCK positions each): in use, and in all */
void rt_kv_blocks(const rt_session *s, uint32_t *used, uint32_t *total);
void rt_reset(rt_session *s);            /* forget the cache: every sequence */
void rt_seq_reset(rt_session *s, uint32_t seq); /* forget one sequence */
/* sequence seq keeps its first n positions, forgets the rest (n above what
 * it holds: nothing changes) */
void rt_seq_truncate(rt_session *s, uint32_t seq, uint32_t n);
uint32_t rt_n_vocab(const rt_session *s);
uint32_t rt_n_ctx(const rt_session *s);
const ir_graph *rt_graph(const rt_session *s);
const char *rt_backend_name(const rt_session *s); /* "cpu", "gpu", a split session "gpu+cpu", --tp "cpu-tp" / "gpu-tp" */
uint32_t rt_gpu_layers(const rt_session *s);     /* the layers the GPU runs: all, none or the first part's */

/* What `gpu_layers` "auto" weighs: the device memory a model's first n
 * layers take, as a split session's first part holds them. */
typedef struct rt_fit {
    uint32_t n_layer;
    const uint64_t *layer_bytes; /* (n_layer) each layer's weights and its KV cache */
    uint64_t base_bytes;         /* held at any n > 0: the embedding, the workspace, the scratch */
    uint64_t head_bytes;         /* held with every layer only: the output norm and head */
    uint64_t free_bytes;         /* the device's free memory */
    uint64_t margin_bytes;       /* left free: what the sums miss (the driver's, rounding) */
} rt_fit;
/* The most layers n whose bytes fit free_bytes - margin_bytes: 0 when the
 * base and the first layer do not, n_layer only when the head fits too. */
uint32_t rt_fit_layers(const rt_fit *f);
/* Why "auto" runs on the CPU (the GPU's error), or NULL. */
const char *rt_fallback_reason(const rt_session *s);
/* GPU sessions: the kernel build's counts and the device's name (NULL otherwise) */
struct cg_build_stats;
const struct cg_build_stats *rt_gpu_build_stats(const rt_session *s);
const char *rt_gpu_device_name(const rt_session *s);
/* With ROCMFORGE_PROFILE set when a session opens, where its steps' time
 * goes, [0] in decode steps (one row, or a batch whose rows all want
 * logits) and [1] in the others. A GPU
 * session: per kernel, the time between the events recorded before its
 * launches and before the next launch (no launch is synchronised; decode
 * steps run launch by launch, not as a graph), and the bytes its launches
 * move: every weight, value and cache row it reads or writes counted once
 * (attention: the cache rows up to P + T). A CPU session: per kind of
 * kernel (a group's first op; matmuls of one row and of several apart),
 * the wall time of its launches, pool run included; no bytes. */
typedef struct rt_profile {
    uint32_t n;             /* kernels, or kinds */
    const char **name;      /* (n) */
    double *seconds[2];     /* (n) */
    uint64_t *calls[2];     /* (n) */
    double *bytes[2];       /* (n), NULL on the CPU */
    double copy_gbs;        /* a GPU's copy bandwidth, GB/s read + written, measured at open; 0 on the CPU */
} rt_profile;
const rt_profile *rt_session_profile(const rt_session *s); /* NULL: not profiling */
void rt_profile_reset(rt_session *s);                      /* every count back to 0 */

#endif
