/*
 * quantize.h: writing a model quantized to another file type, as
 * llama.cpp's quantizer does it (`rocmforge quantize`).
 *
 * rt_quantize reads IN (mapped, never read whole), decides each tensor's
 * type with frontend/quant_mix.h, converts the tensors that change type
 * (dequantizing quantized or half-precision ones to f32 first) with the CPU
 * reference quantizers on n_threads threads, and streams OUT one tensor at
 * a time through the GGUF writer: to a temporary name, renamed into place
 * only when complete, so a failure leaves no OUT behind. For the same IN,
 * type, --pure and importance matrix the file is byte for byte what
 * llama.cpp's quantize tool writes: keys in the same order
 * (general.quantization_version and general.file_type moved to the end,
 * split keys dropped, then the quantize.imatrix.* keys when a matrix is
 * given), tensors in its order, the same data.
 *
 * With an importance matrix (frontend/imatrix.h) each converted tensor
 * that has an entry of its size (ne[0] per expert) is quantized with those
 * weights; one without an entry without them, unless its type cannot do
 * without (the IQ1/IQ2/IQ3_XXS types, Q2_K in q2_k_s): then, and for an
 * entry of the wrong size, the run fails before a byte is written.
 *
 * It prints nothing: progress goes to a callback, one call per tensor
 * before its data is made.
 */
#ifndef RF_RUNTIME_QUANTIZE_H
#define RF_RUNTIME_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "rocmforge/rocmforge.h"
#include "support/types.h"

typedef struct rt_quantize_progress {
    uint64_t index;      /* 1-based, in output order */
    uint64_t n_tensors;
    const char *name;
    ggml_type from, to;
    bool converted;      /* data converted (else copied as it is) */
    bool requantized;    /* converted from a quantized type */
    bool fallback;       /* the mix's type did not divide the row length */
    bool weighted;       /* converted with importance weights */
} rt_quantize_progress;

typedef struct rt_quantize_options {
    const char *type;    /* a file type: "q4_k_m", "q8_0", "f16", ... */
    bool pure;           /* every quantizable tensor the type itself */
    const char *imatrix; /* an importance-matrix file (GGUF or legacy .dat), or NULL */
    int n_threads;       /* <= 0: the online CPUs */
    void (*progress)(void *ctx, const rt_quantize_progress *p); /* may be NULL */
    void *ctx;
} rt_quantize_options;

typedef struct rt_quantize_stats {
    uint64_t n_tensors, n_converted, n_requantized, n_fallback, n_weighted;
    uint64_t n_imatrix_entries; /* in the importance matrix given */
    uint64_t bytes_in, bytes_out;   /* tensor data, unpadded */
} rt_quantize_stats;

/* stats may be NULL. */
rf_status rt_quantize(const char *in, const char *out, const rt_quantize_options *opt,
                      rt_quantize_stats *stats, rf_error *err);

#endif
