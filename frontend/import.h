/*
 * import.h: GGUF → IR. The first stage of the pipeline.
 *
 * import_model() reads a mapped GGUF's architecture and hyperparameters,
 * checks every weight it will use against the shape the architecture
 * implies, and builds the IR graph of one forward step: T new tokens at
 * positions P..P+T-1, attending to a KV cache that holds positions 0..P-1.
 * The graph refers to weights by their GGUF names and never touches their
 * bytes, so import is cheap and needs no backend. Whether a weight's type
 * can be executed is the backend's question, not import's.
 *
 * The supported architectures and their builders live in the table of
 * frontend/arch.c; an unknown one is an error that lists them.
 */
#ifndef RF_FRONTEND_IMPORT_H
#define RF_FRONTEND_IMPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "frontend/gguf.h"
#include "ir/ir.h"

typedef struct import_options {
    /* true: the output is every position's logits f32[T,n_vocab]; false: only
     * the last position's, f32[1,n_vocab] (the graph then carries last_rows
     * and skips the last layer's FFN for the other rows). */
    bool all_logits;
    /* with all_logits false: the output is the logits of the step's last O
     * rows, O chosen each step (last_rows {n = O}: a batch step whose rows
     * with logits come last), instead of the last row's */
    bool out_rows;
    /* The context the runtime will run with; 0 means the model's
     * {arch}.context_length. Only phi3's long/short rope factors depend on
     * it (long when n_ctx exceeds the original training context), as in
     * llama.cpp. */
    uint32_t n_ctx;
    /* embedding models: the pooling instead of the model's (RF_POOLING_MODEL:
     * {arch}.pooling_type) */
    rf_pooling pooling;
    /* A part of the model, for a session split across two backends
     * (runtime.h, gpu_layers): layers [layer_begin, layer_end) only
     * (layer_end 0: to the last). A part that begins after layer 0 starts
     * from the residual rows (`hidden`, f32[T,n_embd]) instead of the
     * embedding; one that ends before the last layer outputs those rows
     * (every one of the step's) instead of the logits. A decoder's graph
     * only. */
    uint32_t layer_begin, layer_end;
    /* Tensor parallelism: rank tp_rank's graph of tp_world (> 1; 0 or 1:
     * the whole model): its heads, FFN columns and vocabulary rows, with
     * all_reduce and all_gather where the ranks' results meet
     * (frontend/arch_tp.c). Decoders without experts only. */
    uint32_t tp_rank, tp_world;
} import_options;

/* Builds the step graph of f. opt may be NULL (defaults: last row only,
 * n_ctx = context_length). On success *out owns a graph that has passed
 * ir_verify; free it with ir_graph_free. On failure *out is NULL and err
 * names the key, tensor or value at fault and what was expected. */
rf_status import_model(const gguf_file *f, const import_options *opt, ir_graph **out, rf_error *err);

#endif
