/*
 * tokenizer.h: the model's own tokenizer, built from GGUF metadata.
 *
 * tok_vocab_load() reads tokenizer.ggml.* (model, pre, tokens, scores,
 * token_type, merges, special ids and add_* flags, precompiled_charsmap) and
 * builds the tokenizer llama.cpp would build for the same file: SentencePiece
 * BPE with byte fallback ("llama"), byte-level BPE with a pre-tokenizer regex
 * chosen by tokenizer.ggml.pre ("gpt2", "gemma4"), WordPiece ("bert") and
 * Unigram ("t5"). Encoding and decoding are pure functions of the vocab, which
 * is immutable after loading, so one vocab serves many threads.
 */
#ifndef RF_FRONTEND_TOKENIZER_H
#define RF_FRONTEND_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "frontend/gguf.h"

typedef struct tok_vocab tok_vocab;

typedef enum tok_kind {
    TOK_KIND_SPM,   /* tokenizer.ggml.model = "llama" */
    TOK_KIND_BPE,   /* "gpt2", "gemma4" */
    TOK_KIND_WPM,   /* "bert" */
    TOK_KIND_UGM,   /* "t5" */
} tok_kind;

rf_status tok_vocab_load(const gguf_file *f, tok_vocab **out, rf_error *err);
void tok_vocab_free(tok_vocab *v);

tok_kind tok_vocab_kind(const tok_vocab *v);
uint32_t tok_vocab_n_tokens(const tok_vocab *v);
int32_t tok_vocab_bos(const tok_vocab *v); /* -1 when none */
int32_t tok_vocab_eos(const tok_vocab *v);
/* Is id an end-of-generation token (eos, eot, eom and their kin)? */
bool tok_vocab_is_eog(const tok_vocab *v, int32_t id);

/* A growable id buffer. */
typedef struct tok_ids {
    int32_t *ids;
    size_t n, cap;
} tok_ids;
rf_status tok_ids_push(tok_ids *b, int32_t id);
void tok_ids_free(tok_ids *b);

enum {
    TOK_ADD_SPECIAL = 1u << 0,   /* BOS/EOS/SEP per metadata and model defaults */
    TOK_PARSE_SPECIAL = 1u << 1, /* special-token text becomes the special token */
};
/* Appends the ids of text[0..len) to out. Invalid UTF-8 is tokenized the way
 * llama.cpp does (bytes replaced or byte-fallback), never rejected. */
rf_status tok_encode(const tok_vocab *v, const char *text, size_t len, unsigned flags,
                     tok_ids *out, rf_error *err);

enum {
    TOK_DECODE_SPECIAL = 1u << 0,      /* render control tokens */
    TOK_DECODE_REMOVE_SPECIAL = 1u << 1, /* drop a leading BOS / trailing EOS */
};
/* Text of ids, malloc'd and NUL-terminated. An id out of range is RF_E_ARG. */
rf_status tok_decode(const tok_vocab *v, const int32_t *ids, size_t n, unsigned flags,
                     char **text, size_t *len, rf_error *err);

#endif
