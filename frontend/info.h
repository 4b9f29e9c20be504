/*
 * info.h: the facts `rocmforge info` reports, read from GGUF metadata.
 */
#ifndef RF_FRONTEND_INFO_H
#define RF_FRONTEND_INFO_H

#include "frontend/gguf.h"

/* Fills out from f's metadata and tensor infos. Strings point into f.
 * A well-known key of an unusable type (a string block_count, a negative
 * head count) is an error naming the key; absent keys are left 0 / "". */
rf_status info_describe(const gguf_file *f, rf_model_info *out, rf_error *err);

/* llama.cpp's name for a general.file_type value ("MOSTLY_Q4_K_M"), or NULL */
const char *info_ftype_name(int32_t ftype);

#endif
