/*
 * backend.h: what a backend implements, and the session state it sees.
 *
 * A backend is a struct of function pointers; adding one is adding a file
 * and a line in session.c's choice. The session owns the
 * graph, the weight bindings and the step's inputs; the backend owns its
 * memory (workspace, KV cache) and executes the graph's groups in order.
 */
#ifndef RF_RUNTIME_BACKEND_H
#define RF_RUNTIME_BACKEND_H

#include "runtime/runtime.h"

struct rt_session {
    const gguf_file *gguf;
    ir_graph *graph;
    rt_options opt;
    const void **weights;      /* by node id: WEIGHT data in the mapping, else NULL */
    void **copies;             /* (n_copies) weights of some columns of each row, copied (session.c) */
    uint32_t n_copies;
    uint32_t n_past, n_ctx, n_vocab, n_out_rows_max; /* rows of logits one step writes */
    uint32_t n_seq;            /* sequences, n_ctx cache positions each */
    uint32_t *seq_past;        /* (n_seq) each sequence's positions; n_past is the stepping one's */
    /* several sequences: the graph of a batch step (rt_step: rows of any
     * sequences, the last O of them with logits), sized for n_seq + n_batch
     * rows and n_seq rows with logits, and its weight bindings; NULL with
     * one sequence */
    ir_graph *batch_graph;
    const void **batch_weights;
    const struct rt_backend *backend;
    void *state;               /* the backend's */
    int32_t *tokens, *pos;     /* (n_rows) the step's inputs */
    int32_t *seqs;             /* and each row's sequence */
    uint32_t n_rows;           /* the most rows a step has: the graphs' plan_tokens */
    uint32_t *seq_rows;        /* (n_seq) rt_step's count of each sequence's rows */
    bool *want_all;            /* (n_seq) every one true: rt_decode_batch's rows all want logits */
    /* The paged KV cache: n_kv_blocks blocks of 2^kv_shift positions;
     * kv_table[q * kv_stride + i] is sequence q's i-th block, seq_blocks[q]
     * how many it holds; kv_free[0..n_free) the blocks nobody holds. A
     * backend stores position p of sequence q at row
     * kv_table[q * kv_stride + p >> kv_shift] << kv_shift | p % block. */
    uint32_t kv_shift, kv_stride, n_kv_blocks, n_free;
    uint32_t *kv_table, *seq_blocks, *kv_free;
    float *scratch_logits;     /* (n_out_rows_max * n_vocab) rt_eval_greedy's logits when the backend has no argmax */
    /* A split session (runtime.h, gpu_layers): this session runs the model's
     * last layers and its head on the CPU, from the rows its first part, a
     * session of its own on the GPU, hands over. The front borrows this
     * session's step inputs and block table (tokens, pos, seqs, kv_table:
     * the same arrays) and frees none of them; each part keeps the KV cache
     * of its own layers. */
    rt_session *front;         /* the first part, or NULL */
    /* A part that runs only between others' segments on the same thread
     * (a tensor-parallel rank) uses the CPU threads of this one: a pool of
     * its own would keep its workers spinning while the others run. */
    const rt_session *threads_of;
    float *hidden;             /* (n_rows x n_embd) the front's output rows: this graph's `hidden` */
    uint32_t gpu_layers;       /* layers the GPU runs: n_layer on the GPU alone, 0 on the CPU */
    uint32_t layer_begin;      /* the graphs' first layer: a split session's CPU part starts at gpu_layers */
    char backend_name[16];     /* "gpu+cpu" */
    char fallback[320];        /* why "auto" runs on the CPU, or empty */
    struct rt_coll *coll;      /* a GPU process's tensor-parallel communicator (rt_tp_join), or NULL */
    /* the GPU a device backend opens for this session: gpu_open's ordinal,
     * GPU_NTH(k) for a tensor-parallel rank k (runtime/gpu/gpu.h); 0 */
    int device;
    const struct rt_backend *tp_ranks; /* --tp N: the backend each rank runs on (the CPU, or one GPU for all) */
};

/* A rank's place in its world and the library's sum (rt_backend.run_world):
 * recv = the sum over the world of send, n floats, enqueued on stream. */
typedef struct rt_world {
    uint32_t world, rank;
    rf_status (*sum)(void *ctx, const void *send, void *recv, size_t n, void *stream, rf_error *err);
    void *ctx;
} rt_world;

typedef struct rt_backend {
    const char *name;
    /* Can this backend run here at all (a GPU present)? Sets err if not. */
    rf_status (*available)(rf_error *err);
    /* Optional: the free memory of the device it would run on (opening it);
     * RF_E_UNSUPPORTED when there is none. */
    rf_status (*free_memory)(const rt_session *s, uint64_t *bytes, rf_error *err);
    /* Optional: how many devices it sees (a device each for --tp N's
     * ranks, runtime/tp.c); RF_E_UNSUPPORTED when there is none. */
    rf_status (*devices)(uint32_t *n, rf_error *err);
    /* Check every weight's type, allocate workspace and KV cache. */
    rf_status (*prepare)(rt_session *s, rf_error *err);
    /* Execute the graph for T tokens (inputs in s->tokens / s->pos, all of
     * sequence s->seqs[0]) at position s->n_past; write the output rows to
     * logits. */
    rf_status (*eval)(rt_session *s, uint32_t T, float *logits, rf_error *err);
    /* Optional: as eval, but only the id of the last row's largest logit
     * comes back (greedy decoding without copying the vocabulary). */
    rf_status (*eval_argmax)(rt_session *s, uint32_t T, int32_t *token, rf_error *err);
    /* Optional (required for n_seq > 1): batch_graph for T rows, row i
     * token s->tokens[i] at position s->pos[i] of sequence s->seqs[i]; the
     * logits of the last O rows. */
    rf_status (*eval_batch)(rt_session *s, uint32_t T, uint32_t O, float *logits, rf_error *err);
    void (*reset)(rt_session *s);
    void (*release)(rt_session *s);
    /* the profile (ROCMFORGE_PROFILE), or NULL */
    rt_profile *(*profile)(const rt_session *s);
    /* Optional, a host backend that runs a tensor-parallel rank (tp.c): a
     * step in segments. begin starts the step graph for T rows at
     * s->n_past (batch: the batch graph, T rows, the last O with logits);
     * run executes from where the step stopped up to the next all_reduce
     * or all_gather and returns that node, its operand computed (the
     * caller writes its result and runs on), or to the end: NULL, the
     * output in logits (if not NULL) and *st the step's status; value is
     * where a node's data is this step, in host memory. */
    void (*begin)(rt_session *s, bool batch, uint32_t T, uint32_t O);
    const ir_node *(*run)(rt_session *s, float *logits, rf_status *st, rf_error *err);
    void *(*value)(const rt_session *s, const ir_node *n);
    /* A device backend's ranks (begin and run as above; no value): node
     * n's value this step copied to host memory, or from it. */
    rf_status (*get)(const rt_session *s, const ir_node *n, void *host, size_t bytes, rf_error *err);
    rf_status (*put)(const rt_session *s, const ir_node *n, const void *host, size_t bytes, rf_error *err);
    /* Optional, a device backend's rank whose collectives the library runs
     * on device memory (tp.c): the whole step (T rows, as begin says), all
     * of it on the rank's stream with no wait between the segments: each
     * all_reduce through w->sum from its operand's address into its
     * result's, each all_gather as its result zeroed, this rank's slices
     * copied to their places and w->sum in place. A decode step is
     * captured as a graph with the library's calls in it at its first run
     * and replayed after. The output rows to logits unless NULL. */
    rf_status (*run_world)(rt_session *s, bool batch, uint32_t T, uint32_t O, const rt_world *w,
                           float *logits, rf_error *err);
} rt_backend;

/* Sizes with the step's symbols bound: T tokens, P past positions, O rows
 * with logits (a batch step; 0 elsewhere). */
int64_t rt_dim(int64_t d, int64_t T, int64_t P, int64_t O);
int64_t rt_numel(const ir_type *t, int64_t T, int64_t P, int64_t O);

/* Where a value lives during a step (place.c), alike for every backend:
 * views resolve to the value they view plus a byte offset. */
typedef enum rt_home { RT_IN_WORKSPACE, RT_IN_WEIGHT, RT_IN_KV, RT_IN_TOKENS, RT_IN_POS, RT_IN_HIDDEN } rt_home;
typedef struct rt_place {
    rt_home home;
    const ir_node *node;  /* the WEIGHT or KV_STORE node whose storage it is */
    int64_t offset;       /* bytes into the workspace, or into that storage */
} rt_place;
rt_place rt_place_of(const ir_node *n, int64_t T, int64_t P, int64_t O);

/* A session of its own on b for the part of the model io names (a split
 * session's front, a tensor-parallel session's rank), borrowing s's step
 * inputs and block table (tokens, pos, seqs, kv_table) and, where
 * threads_of is another part (open until this one closes), its CPU
 * threads; on a device backend it opens GPU `device` (rt_session.device);
 * *out is set even on failure, for rt_part_close. */
struct import_options;
rf_status rt_part_open(const rt_session *s, const struct import_options *io, const rt_backend *b,
                       const rt_session *threads_of, int device, rt_session **out, rf_error *err);
void rt_part_close(rt_session *part); /* NULL: nothing */

extern const rt_backend rt_backend_cpu;
extern const rt_backend rt_backend_gpu;
extern const rt_backend rt_backend_tp;  /* tp.c: a session's tensor-parallel ranks, one after another (tp_ranks) */

/* tp.c: a GPU process's place in its tensor-parallel world (s->opt's
 * tp_rank of tp_world, meeting at tp_addr): RCCL/NCCL loaded, the device
 * of the backend gpu opened, the id shared, the communicator joined into
 * s->coll */
rf_status rt_tp_join(rt_session *s, const rt_backend *gpu, rf_error *err);

#endif
