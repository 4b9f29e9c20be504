/*
 * quant_mix.h: which type each tensor of a model gets when the model is
 * quantized to a file type such as Q4_K_M: llama.cpp's rules, so that
 * `rocmforge quantize` writes the files llama.cpp's quantizer writes.
 *
 * A file type (llama_ftype, stored as general.file_type) names a default
 * tensor type and, for the k-quant mixes, a recipe around it: the output
 * head gets Q6_K, attn_v and ffn_down get more bits in some layers, and so
 * on (quant_mix.c lists them). The rules count attn_v, ffn_down, ffn_gate
 * and ffn_up tensors as they go, so qmix_tensor_type must be called once for
 * each tensor, in the order the output file holds them (qmix_order).
 *
 * This module only decides; it reads names, shapes and hyper-parameters and
 * never tensor data. runtime/quantize.c does the converting and writing.
 */
#ifndef RF_FRONTEND_QUANT_MIX_H
#define RF_FRONTEND_QUANT_MIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frontend/gguf.h"

typedef struct qmix_ftype {
    const char *name;     /* "q4_k_m", as the command line spells it */
    uint32_t ftype;       /* llama_ftype: general.file_type of the output */
    ggml_type type;       /* the default tensor type */
} qmix_ftype;

/* The file type for a name (case-insensitive; q3_k, q4_k, q5_k are the _M
 * mixes and mxfp4 is mxfp4_moe, as in llama.cpp's tool). RF_E_ARG for an
 * unknown name, RF_E_UNSUPPORTED for one of llama.cpp's types that needs
 * what we do not have yet (an importance matrix, a quantizer for its
 * types); the message names the type. */
rf_status qmix_ftype_find(const char *name, const qmix_ftype **out, rf_error *err);
/* The supported names, space-separated, for usage text. */
const char *qmix_ftype_names(void);

/* The rules' state for one model. */
typedef struct qmix {
    const qmix_ftype *ft;
    bool pure;              /* every quantizable tensor the default type */
    bool has_imatrix;       /* an importance matrix is given (some rules differ) */
    bool falcon;            /* arch rules */
    bool bailingmoe3;
    bool is_70b;            /* llama.cpp's LLM_TYPE_70B: attn_v gets Q5_K */
    bool tied;              /* no output.weight: token_embd is the head */
    int n_layer, n_expert, n_gqa;
    int n_attn_v, i_attn_v; /* attn_v-like tensors, and how many were typed */
    int i_ffn_down, i_ffn_gate, i_ffn_up;
    int n_fallback;         /* tensors whose row length did not fit the type */
} qmix;

/* Reads the hyper-parameters the rules use from f and counts over the
 * tensor names (all of them, in any order). */
rf_status qmix_init(qmix *m, const gguf_file *f, const qmix_ftype *ft, bool pure, bool has_imatrix,
                    const char *const *names, size_t n_names, rf_error *err);

/* The output type of one tensor (cur: its type in the input; ne: its shape,
 * unused dims 1). *fallback tells that the mix's choice did not divide the
 * row length and a smaller block type (or F16) was taken. */
rf_status qmix_tensor_type(qmix *m, const char *name, const uint64_t ne[GGUF_MAX_DIMS], ggml_type cur,
                           ggml_type *out, bool *fallback, rf_error *err);

/* Whether a tensor quantized to type `to` needs an importance matrix
 * (llama.cpp's tensor_requires_imatrix): the IQ1, IQ2 and IQ3_XXS types,
 * and Q2_K in a Q2_K_S file; never token_embd or the output head. */
bool qmix_requires_imatrix(const qmix *m, const char *name, ggml_type to);

/* Whether an importance-matrix entry of the wrong size is ignored rather
 * than an error for this tensor (llama.cpp: token_embd, which a
 * calibration run sees as a lookup, not a matrix product). */
bool qmix_imatrix_optional(const char *name);

/* The order of tensors in llama.cpp's output (its loader's map): tensors
 * outside the blocks first, then block by block, by name (bytes) within
 * each. Fills idx[0..n) with 0..n-1 in that order of names[]. */
rf_status qmix_order(const char *const *names, size_t *idx, size_t n, rf_error *err);

/* Dimensions that count: ne up to its last entry above 1, at least 1 (a
 * {256, 1} tensor is 1-D, for the rules and in the written header). */
uint32_t qmix_n_dims(const uint64_t ne[GGUF_MAX_DIMS]);

#endif
