/*
 * imatrix.h: llama.cpp's importance-matrix files, read for
 * `rocmforge quantize --imatrix` (frontend/imatrix.c).
 *
 * An importance matrix holds, for each weight matrix a calibration run
 * saw, the mean of the squared activations of each input column: which
 * columns matter. The quantizers weigh each element's error by it. Two
 * forms exist and both are read:
 *   - GGUF (llama-imatrix's default): tensors NAME.in_sum2 {ne0, n_mat}
 *     and NAME.counts {1, n_mat}, F32, and the keys imatrix.datasets,
 *     imatrix.chunk_count, imatrix.chunk_size; the importance of column i
 *     of matrix j (an expert of a 3-D weight) is in_sum2/counts, 1 where
 *     the count is 0;
 *   - the legacy .dat: entry count, then per entry a name, the call count
 *     and the sums (already means times the call count), then optionally
 *     the chunk count and the dataset's name; the importance is
 *     sums/calls.
 * The values are computed in float as llama.cpp's quantize tool computes
 * them, so they weigh the same errors the same way.
 *
 * Everything is validated: a malformed file is RF_E_FORMAT naming the
 * file and the entry or tensor. The whole matrix is held in memory (it is
 * small next to the model: one float per column of each matrix).
 */
#ifndef RF_FRONTEND_IMATRIX_H
#define RF_FRONTEND_IMATRIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rocmforge/rocmforge.h"

typedef struct imatrix_entry {
    char *name;       /* the weight's tensor name */
    float *values;    /* n_values: n_mat matrices of n_values / n_mat columns */
    uint64_t n_values;
} imatrix_entry;

typedef struct imatrix {
    char *path;
    bool legacy;           /* the .dat form */
    imatrix_entry *entries; /* sorted by name (bytes) */
    size_t n_entries;
    char *dataset;         /* the first dataset named, or NULL */
    int32_t chunk_count;   /* chunks the calibration ran (0: not recorded) */
} imatrix;

/* Reads and validates path (GGUF, else the legacy form). */
rf_status imatrix_load(const char *path, imatrix **out, rf_error *err);
void imatrix_free(imatrix *m);

/* The entry for a tensor name, or NULL. */
const imatrix_entry *imatrix_find(const imatrix *m, const char *name);

#endif
