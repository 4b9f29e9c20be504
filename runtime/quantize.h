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
 * type and --pure the file is byte for byte llama.cpp's: keys in the same
 * order (general.quantization_version and general.file_type moved to the
 * end, split keys dropped), tensors in its order, the same data.
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
} rt_quantize_progress;

typedef struct rt_quantize_options {
    const char *type;    /* a file type: "q4_k_m", "q8_0", "f16", ... */
    bool pure;           /* every quantizable tensor the type itself */
    int n_threads;       /* <= 0: the online CPUs */
    void (*progress)(void *ctx, const rt_quantize_progress *p); /* may be NULL */
    void *ctx;
} rt_quantize_options;

typedef struct rt_quantize_stats {
    uint64_t n_tensors, n_converted, n_requantized, n_fallback;
    uint64_t bytes_in, bytes_out;   /* tensor data, unpadded */
} rt_quantize_stats;

/* stats may be NULL. */
rf_status rt_quantize(const char *in, const char *out, const rt_quantize_options *opt,
                      rt_quantize_stats *stats, rf_error *err);

#endif
