/*
 * model.h: what the rest of the library sees of a public rf_model (api.c):
 * its mapped file, and its tokenizer, built on first use.
 */
#ifndef RF_FRONTEND_MODEL_H
#define RF_FRONTEND_MODEL_H

#include "frontend/gguf.h"
#include "frontend/tokenizer.h"

const gguf_file *rf_model_file(const rf_model *m);
rf_status rf_model_vocab(rf_model *m, const tok_vocab **out, rf_error *err);

#endif
