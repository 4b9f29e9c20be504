/*
 * sampler.h: choosing the next token from logits.
 *
 * The chain, in llama.cpp's default order: repetition / presence / frequency
 * penalties over the last penalty_last_n tokens, top-k, top-p, min-p,
 * temperature, then a draw from the distribution (or the argmax when
 * temperature <= 0: greedy). A seed makes runs repeatable: same seed, same
 * logits, same tokens. The sampler owns its scratch; sampling allocates
 * nothing.
 */
#ifndef RF_RUNTIME_SAMPLER_H
#define RF_RUNTIME_SAMPLER_H

#include <stdint.h>

#include "rocmforge/rocmforge.h"

/* the public rf_sampler_params and rf_sampler (rocmforge.h), by their
 * internal names */
typedef rf_sampler_params sampler_params;

/* llama.cpp's LLAMA_DEFAULT_SEED: "pick one for me". */
#define SAMPLER_SEED_RANDOM RF_SEED_RANDOM

sampler_params sampler_default_params(void); /* llama.cpp's CLI defaults */

typedef struct rf_sampler sampler;
rf_status sampler_new(const sampler_params *p, uint32_t n_vocab, sampler **out, rf_error *err);
void sampler_free(sampler *s);
/* Picks a token from logits (modified in place) and records it in the
 * penalty history. */
int32_t sampler_sample(sampler *s, float *logits);
/* Records a token without sampling it (the prompt, for penalties). */
void sampler_accept(sampler *s, int32_t token);
void sampler_reset(sampler *s);
/* The seed in use (the drawn one when SAMPLER_SEED_RANDOM was asked for). */
uint64_t sampler_seed(const sampler *s);

#endif
