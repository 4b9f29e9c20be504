/*
 * rocmforge.h: the public C API of ROCmForge.
 *
 * Small on purpose: opaque handles, plain structs for facts and options,
 * and one error convention. A program opens a model (its facts and its
 * tokenizer), a session on it (evaluation on the CPU or a GPU, one or more
 * sequences) and a sampler; examples/generate.c is one in fifty lines. Every call that can fail returns an rf_status and, when given a
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
    uint32_t n_expert;         /* {arch}.expert_count, 0 when absent (a dense model) */
    uint32_t n_expert_used;    /* {arch}.expert_used_count: experts a token goes to */
    uint32_t n_ff_exp;         /* {arch}.expert_feed_forward_length, else n_ff where there are experts */
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

/* Does the model give embeddings (bert, nomic-bert: rf_embed) rather than
 * logits? false also for a file its session would refuse. */
bool rf_model_is_embedding(const rf_model *m);

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

uint32_t rf_vocab_size(rf_model *m); /* 0 when the tokenizer cannot be built */

/* Builds the tokenizer now (the calls above build it on first use); the
 * error says why it cannot be (a missing or malformed tokenizer key). */
rf_status rf_model_load_tokenizer(rf_model *m, rf_error *err);

/* Is id an end-of-generation token (EOS, EOT, EOM and their kin)? */
bool rf_token_is_eog(rf_model *m, int32_t id);

/* ---- chat templates ------------------------------------------------------ */

typedef struct rf_chat_options {
    const char *template_text; /* a Jinja template instead of the model's (NULL: the model's) */
    const char *template_name; /* the model's tokenizer.chat_template.NAME instead of its default */
    bool no_generation_prompt; /* false: the text ends by opening the assistant's turn */
} rf_chat_options;

/* The prompt for a conversation, rendered by the model's chat template as
 * transformers renders it (Jinja, with messages, add_generation_prompt,
 * bos_token and eos_token). conversation is JSON: an OpenAI messages array,
 * or an object whose "messages" and other keys (tools, ...) become the
 * template's variables. A model without a template gets "role: content"
 * lines and "assistant:". *out is malloc'd and NUL-terminated. A template
 * that fails (raise_exception: "roles must alternate") is RF_E_FORMAT with
 * its message. */
rf_status rf_chat_render(rf_model *m, const char *conversation, size_t len, const rf_chat_options *opt,
                         char **out, size_t *out_len, rf_error *err);

/* ---- embeddings ---------------------------------------------------------- */

/* How an embedding model (bert, nomic-bert) makes one vector of a text's
 * token vectors. */
typedef enum rf_pooling {
    RF_POOLING_MODEL = 0, /* as the model's {arch}.pooling_type says (absent: none) */
    RF_POOLING_NONE,      /* no pooling: a vector per token */
    RF_POOLING_MEAN,      /* the mean of the token vectors */
    RF_POOLING_CLS,       /* the first token's (the CLS token) */
    RF_POOLING_LAST,      /* the last token's */
} rf_pooling;

/* ---- sessions: evaluating tokens --------------------------------------- */

/* A session is the model compiled for a backend, with its KV cache: n_seq
 * sequences (conversations), each with its own positions, evaluated one
 * prompt at a time or several together, one token each, in one step. */
typedef struct rf_session rf_session;

typedef struct rf_session_options {
    const char *backend;   /* "cpu", "gpu" or "auto" (NULL: auto, the GPU when one is usable) */
    int n_threads;         /* CPU threads; <= 0: the physical cores */
    uint32_t n_ctx;        /* positions a sequence holds; 0: the model's context length */
    uint32_t n_seq;        /* sequences; 0: 1 (the GPU holds one for now) */
    uint32_t kv_positions; /* the KV cache's positions, shared by the sequences in blocks as they
                              grow (a paged cache); 0: n_seq * n_ctx */
    uint32_t n_ubatch;     /* tokens a step: a longer prompt runs in chunks; 0: 512 */
    bool kv_f16;           /* the KV cache in f16 (as llama.cpp's default), else f32 */
    const char *cache_dir; /* the GPU's kernel cache; NULL: ~/.cache/rocmforge */
    const char *plan;      /* GPU: a plan file (`rocmforge compile`) the build must match; NULL: none */
    bool no_graph;         /* GPU: launch decode steps kernel by kernel, not as a captured graph */
    /* a model larger than the GPU: the layers the GPU runs, the first ones
     * with their KV cache, the CPU the rest (and the output head), in one
     * session. NULL: every layer; "N": N of them (0: the CPU alone);
     * "auto": as many as the GPU's free memory holds, said through warn */
    const char *gpu_layers;
    uint64_t gpu_mem_limit; /* for tests: the GPU memory "auto" may count on and the session may take, bytes; 0: all */
    /* tensor parallelism: the model split over this many ranks (attention
     * heads, FFN columns, vocabulary), on the CPU backend the ranks one
     * after another (the reference for the GPUs' ranks, not yet done); 0
     * or 1: none */
    uint32_t tp;
    /* tensor parallelism on GPUs, one process a GPU: this process is rank
     * tp_rank of tp_world (> 1), and the ranks meet at tp_addr
     * ("HOST:PORT", rank 0's) to share RCCL's / NCCL's id. Only the
     * bootstrap is done: the GPU's plans do not run collectives yet, and
     * the session is then refused saying so */
    uint32_t tp_rank, tp_world;
    const char *tp_addr;
    bool all_logits;       /* rf_session_eval's logits get a row for every token fed, not the last one's */
    rf_pooling pooling;    /* an embedding model's pooling (RF_POOLING_MODEL: as its metadata says) */
    /* called while a GPU session builds its kernels (done of total), and
     * with a notice the caller may show (a cache it could not use, "auto"
     * running on the CPU); either may be NULL */
    void (*progress)(void *ctx, uint32_t done, uint32_t total);
    void (*warn)(void *ctx, const char *msg);
    void *cb_ctx;
} rf_session_options;

/* Plans the model for the backend (a GPU builds its kernels through the
 * cache) and allocates the cache. m must outlive the session. */
rf_status rf_session_open(rf_model *m, const rf_session_options *opt, rf_session **out, rf_error *err);
void rf_session_close(rf_session *s);

/* Feeds ids[0..n) to sequence seq at its next positions; logits, unless
 * NULL, receives the last token's n_vocab logits (all_logits: n rows). An error changes nothing
 * the session knows (the sequence keeps its positions). */
rf_status rf_session_eval(rf_session *s, uint32_t seq, const int32_t *ids, size_t n, float *logits,
                          rf_error *err);
/* As rf_session_eval, but only the id of the last token's largest logit
 * comes back (the lowest id among equals): greedy decoding, and a GPU
 * picks it on the device instead of copying the logits back. */
rf_status rf_session_eval_greedy(rf_session *s, uint32_t seq, const int32_t *ids, size_t n, int32_t *next,
                                 rf_error *err);
/* One step that feeds ids[i] to sequence seq[i] for n distinct sequences;
 * logits receives n rows of n_vocab, row i sequence seq[i]'s. */
rf_status rf_session_decode_batch(rf_session *s, size_t n, const uint32_t *seq, const int32_t *ids,
                                  float *logits, rf_error *err);
/* One step over n rows of any sequences, the weights read once for all:
 * ids[i] goes to sequence seq[i] at its next position (a sequence's rows in
 * order: a prompt's chunk, or a reply's next token). Rows with want[i] set
 * (each a sequence's last row in the step) return their logits, in row
 * order, n_vocab each. At most n_seq + n_ubatch rows; one sequence: any.
 * An error changes nothing. A server mixes the prompts it is reading with
 * the replies it is making this way, so no reply waits for a prompt. */
rf_status rf_session_step(rf_session *s, size_t n, const uint32_t *seq, const int32_t *ids, const bool *want,
                          float *logits, rf_error *err);
uint32_t rf_session_n_past(const rf_session *s, uint32_t seq); /* positions sequence seq holds */
/* the KV cache's blocks (of *block positions): in use, and in all; a step
 * that needs one when none is free fails with RF_E_NOMEM, changing nothing */
void rf_session_kv_blocks(const rf_session *s, uint32_t *used, uint32_t *total, uint32_t *block);
void rf_session_forget(rf_session *s, uint32_t seq);           /* the sequence starts over */
/* sequence seq keeps its first n positions (a conversation's common prefix)
 * and forgets the rest */
void rf_session_truncate(rf_session *s, uint32_t seq, uint32_t n);
uint32_t rf_session_n_ctx(const rf_session *s);
uint32_t rf_session_n_seq(const rf_session *s);
uint32_t rf_session_n_vocab(const rf_session *s);
const char *rf_session_backend(const rf_session *s);  /* "cpu", "gpu", or split by layers "gpu+cpu" */
uint32_t rf_session_gpu_layers(const rf_session *s);  /* the layers the GPU runs (0 on the CPU) */
const char *rf_session_fallback(const rf_session *s); /* why "auto" runs on the CPU, or NULL */
const char *rf_session_device(const rf_session *s);   /* the GPU's name, or NULL on the CPU */

/* Embedding models (bert, nomic-bert): the vector of one text, ids[0..n)
 * as rf_tokenize gives them with RF_TOK_ADD_SPECIAL (CLS ... SEP). The text
 * is read in one step (its attention looks both ways): at most n_ubatch
 * tokens. out receives rf_session_n_embd floats, the pooled vector, or
 * with pooling none n rows of them, one per token; each vector normalised
 * as llama.cpp's --embd-normalize: 2 euclidean (its default), -1 none, 0
 * max absolute scaled to the int16 range, 1 taxicab, p > 2 the p-norm.
 * A model that gives logits is RF_E_UNSUPPORTED, as is rf_session_eval on
 * an embedding model. */
rf_status rf_embed(rf_session *s, const int32_t *ids, size_t n, int normalize, float *out, rf_error *err);
bool rf_session_is_embedding(const rf_session *s);
uint32_t rf_session_n_embd(const rf_session *s);
/* the pooling an embedding model's session does (never RF_POOLING_MODEL);
 * RF_POOLING_MODEL for a model that gives logits */
rf_pooling rf_session_pooling(const rf_session *s);

/* A GPU session's kernel build: compiled now, or loaded from the cache. */
typedef struct rf_build_stats {
    uint32_t compiled, cached;
    double seconds;
} rf_build_stats;
bool rf_session_build_stats(const rf_session *s, rf_build_stats *out); /* false on the CPU */

/* With ROCMFORGE_PROFILE=1 in the environment when the session opens,
 * where its time goes: [0] in decode steps (one token, or one for each of
 * several sequences), [1] in the others. A GPU: per kernel, the time around its launches (none
 * synchronised; decode steps launch by launch) and the bytes they move; the
 * CPU: per kind of kernel (its group's first op, matmuls of one row and of
 * more apart), wall time, no bytes. Pointers into the session, valid until
 * it closes; the counts grow with every step. */
typedef struct rf_profile {
    uint32_t n;
    const char *const *name;    /* (n) */
    const double *seconds[2];   /* (n) */
    const uint64_t *calls[2];   /* (n) */
    const double *bytes[2];     /* (n), NULL on the CPU */
    double copy_gbs;            /* a GPU's copy bandwidth (read + write), measured at open; 0 on the CPU */
} rf_profile;
bool rf_session_profile(const rf_session *s, rf_profile *out); /* false: not profiling */
void rf_session_profile_reset(rf_session *s);                  /* the counts back to 0 */

/* ---- sampling ------------------------------------------------------------ */

/* llama.cpp's chain and order: penalties over the last penalty_last_n
 * accepted tokens, top-k, top-p, min-p, temperature, a draw (the argmax
 * when temperature <= 0). A seed repeats itself on every platform. */
typedef struct rf_sampler_params {
    float temperature;      /* <= 0: greedy */
    int32_t top_k;          /* <= 0: off */
    float top_p;            /* >= 1: off */
    float min_p;            /* <= 0: off */
    float repeat_penalty;   /* 1: off */
    float presence_penalty;
    float frequency_penalty;
    int32_t penalty_last_n; /* tokens the penalties look back over */
    uint64_t seed;          /* RF_SEED_RANDOM: drawn from the clock */
} rf_sampler_params;

#define RF_SEED_RANDOM UINT64_C(0xFFFFFFFF) /* llama.cpp's LLAMA_DEFAULT_SEED */

rf_sampler_params rf_sampler_defaults(void); /* llama.cpp's CLI defaults */

typedef struct rf_sampler rf_sampler;
rf_status rf_sampler_new(const rf_sampler_params *p, uint32_t n_vocab, rf_sampler **out, rf_error *err);
void rf_sampler_free(rf_sampler *s);
/* A token from logits (changed in place), recorded for the penalties. */
int32_t rf_sampler_sample(rf_sampler *s, float *logits);
void rf_sampler_accept(rf_sampler *s, int32_t id); /* record without sampling (the prompt) */
void rf_sampler_reset(rf_sampler *s);              /* no history, the seed from the start */
uint64_t rf_sampler_seed(const rf_sampler *s);     /* the seed it draws with (RF_SEED_RANDOM: the one drawn) */

#ifdef __cplusplus
}
#endif
#endif
