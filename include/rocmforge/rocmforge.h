/*
 * rocmforge.h: the public C API of ROCmForge.
 *
 * Small on purpose: opaque handles, plain structs for facts, and one error
 * convention. Every call that can fail returns an rf_status and, when given a
 * non-NULL rf_error, fills in a one-line message that names what failed and
 * where (file, byte offset, metadata key or tensor). Nothing here prints or
 * exits; the command-line tool (cli/) and the server decide what to do.
 */
#ifndef ROCMFORGE_H
#define ROCMFORGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rf_status {
    RF_OK = 0,
    RF_E_IO,          /* open/read/map/write failed */
    RF_E_FORMAT,      /* malformed input file or text */
    RF_E_UNSUPPORTED, /* well-formed, but not something we handle (yet) */
    RF_E_NOTFOUND,    /* a key, tensor or token that is not there */
    RF_E_TYPE,        /* a value of another type than asked for */
    RF_E_NOMEM,
    RF_E_ARG,         /* a bad argument from the caller */
} rf_status;

typedef struct rf_error {
    rf_status status;
    char msg[512];
} rf_error;

const char *rf_status_name(rf_status s);

/* ---- models ------------------------------------------------------------ */

typedef struct rf_model rf_model;

/* Maps the GGUF file and validates it; the tokenizer is built on first use. */
rf_status rf_model_open(const char *path, rf_model **out, rf_error *err);
void rf_model_close(rf_model *m);

/* What a GGUF holds, as `rocmforge info` shows it. Strings point into the
 * model (valid until rf_model_close) and are "" where the file says nothing;
 * numbers are 0 where absent. */
typedef struct rf_type_count {
    const char *type_name; /* "q8_0", "f32", ... */
    uint32_t n_tensors;
} rf_type_count;

typedef struct rf_model_info {
    const char *path;
    uint32_t gguf_version;
    uint64_t file_size;
    const char *arch;          /* general.architecture */
    const char *name;          /* general.name */
    int32_t file_type;         /* general.file_type, -1 when absent */
    const char *file_type_name;/* "MOSTLY_Q8_0", ... "" when absent/unknown */
    uint64_t n_params;         /* sum of tensor element counts */
    uint64_t n_tensors;
    uint64_t n_kv;
    uint32_t context_length;
    uint32_t n_layers;         /* {arch}.block_count */
    uint32_t n_embd;           /* {arch}.embedding_length */
    uint32_t n_heads;          /* {arch}.attention.head_count */
    uint32_t n_kv_heads;       /* {arch}.attention.head_count_kv, else n_heads */
    uint32_t head_dim;         /* {arch}.attention.key_length, else n_embd / n_heads */
    uint32_t n_ff;             /* {arch}.feed_forward_length */
    uint32_t rope_dim;         /* {arch}.rope.dimension_count, else head_dim */
    float rope_freq_base;      /* {arch}.rope.freq_base, 0 when absent */
    const char *rope_scaling;  /* {arch}.rope.scaling.type, "" when absent */
    float rope_scaling_factor;
    uint32_t vocab_size;       /* tokenizer.ggml.tokens length, else {arch}.vocab_size */
    const char *tokenizer_model; /* tokenizer.ggml.model */
    const char *tokenizer_pre;   /* tokenizer.ggml.pre */
    bool has_chat_template;
    uint32_t n_types;          /* entries used in by_type */
    rf_type_count by_type[64];
} rf_model_info;

rf_status rf_model_get_info(const rf_model *m, rf_model_info *out, rf_error *err);

/* ---- tokenizer --------------------------------------------------------- */

enum {
    RF_TOK_ADD_SPECIAL   = 1u << 0, /* BOS/EOS/SEP as the model's metadata says */
    RF_TOK_PARSE_SPECIAL = 1u << 1, /* "<s>" in the text becomes the control token */
};

/* Token ids for text[0..len). *ids is malloc'd; free() it. */
rf_status rf_tokenize(rf_model *m, const char *text, size_t len, unsigned flags,
                      int32_t **ids, size_t *n_ids, rf_error *err);

enum {
    RF_DETOK_SPECIAL = 1u << 0, /* render control tokens as their text */
};

/* Text for ids; *text is malloc'd and NUL-terminated (*len excludes it). */
rf_status rf_detokenize(rf_model *m, const int32_t *ids, size_t n_ids, unsigned flags,
                        char **text, size_t *len, rf_error *err);

uint32_t rf_vocab_size(rf_model *m);

#ifdef __cplusplus
}
#endif
#endif
