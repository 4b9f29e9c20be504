/*
 * tok_internal.h: what the tokenizer files share.
 *
 * tok_vocab.c owns loading of the common metadata, the token→id map and the
 * special ids and attributes; tok_codec.c the special token handling
 * (partitioning the text around special tokens, BOS/EOS/SEP) and decoding.
 * Each algorithm lives in its own file and encodes one fragment of raw text
 * that holds no special token:
 *   tok_spm.c  SentencePiece BPE with byte fallback (model "llama")
 *   tok_bpe.c  byte-level BPE (models "gpt2", "gemma4"); its pre-tokenizer
 *              tables and regex engine are in tok_bpe_pre.c, llama.cpp's
 *              hand-written splitters in tok_bpe_split.c
 *   tok_wpm.c  WordPiece (model "bert")
 *   tok_ugm.c  Unigram with the precompiled normalizer charsmap (model "t5")
 * SPM and BPE share the pairwise merge loop, in tok_merge.c.
 * tok_unicode.c has the UTF-8 and character-class helpers (libunistring for
 * properties and normalisation, PCRE2 for regexes; no hand-written tables).
 *
 * The behaviour to match is llama.cpp's (src/llama-vocab.cpp) on the same
 * file: the conformance tests compare token ids with it.
 */
#ifndef RF_FRONTEND_TOK_INTERNAL_H
#define RF_FRONTEND_TOK_INTERNAL_H

#include "frontend/tokenizer.h"
#include "support/arena.h"
#include "support/error.h"

/* tokenizer.ggml.token_type values */
enum tok_type {
    TOK_TYPE_UNDEFINED = 0,
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6,
};

/* Token attributes, as llama.cpp derives them from the type and the model. */
enum tok_attr {
    TOK_ATTR_UNDEFINED = 0,
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_NORMALIZED = 1 << 6,
    TOK_ATTR_LSTRIP = 1 << 7,
    TOK_ATTR_RSTRIP = 1 << 8,
    TOK_ATTR_SINGLE_WORD = 1 << 9,
};

typedef struct tok_token {
    const char *text;   /* NUL-terminated copy in the vocab's arena */
    uint32_t len;
    float score;
    uint32_t attr;      /* enum tok_attr bits */
} tok_token;

/* Which pre-tokenizer (tokenizer.ggml.pre) a BPE vocab uses; tok_bpe.c maps
 * the names and holds the regexes. */
typedef int tok_pre;

struct tok_bpe_data;   /* tok_bpe.c */
struct tok_wpm_data;   /* tok_wpm.c */
struct tok_ugm_data;   /* tok_ugm.c */
struct tok_spm_data;   /* tok_spm.c */

struct tok_vocab {
    arena arena;
    tok_kind kind;
    const char *model;          /* tokenizer.ggml.model */
    const char *pre_name;       /* tokenizer.ggml.pre, "default" when absent */
    tok_pre pre;

    uint32_t n_tokens;
    tok_token *tokens;          /* (n_tokens) */
    uint32_t max_token_len;

    /* token text → id: open addressing, power-of-two size */
    int32_t *map;               /* (map_cap), -1 = empty */
    uint32_t map_cap;

    /* special ids, -1 when none */
    int32_t bos, eos, eot, eom, unk, sep, pad, mask, nl;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    int32_t *eog;               /* end-of-generation ids (n_eog) */
    uint32_t n_eog;

    /* flags from metadata and the model type's defaults */
    bool add_bos, add_eos, add_sep;
    bool add_space_prefix;
    bool ignore_merges;
    bool clean_spaces;
    bool remove_extra_whitespaces;
    bool escape_whitespaces;
    bool treat_whitespace_as_suffix;

    /* ids of control / user-defined tokens, longest text first: the order in
     * which text is partitioned around special tokens */
    int32_t *special;           /* (n_special) */
    uint32_t n_special;

    struct tok_spm_data *spm;
    struct tok_bpe_data *bpe;
    struct tok_wpm_data *wpm;
    struct tok_ugm_data *ugm;
};

/* FNV-1a based string hash shared by the tokenizer's tables */
uint64_t tok_hash(const char *s, size_t len);
/* Map a tokenizer.ggml.pre name to v->pre and apply that pre-tokenizer's flag
 * overrides (clean_spaces, ignore_merges, add_bos, ...) as llama.cpp's load
 * does; false when the name is unknown (tok_bpe_pre.c). */
bool tok_bpe_pre_apply(tok_vocab *v, const char *name);

/* The pre-tokenizer of a BPE vocab (tok_bpe_pre.c): the regex list of v->pre,
 * compiled. Splitting works on code points, as llama.cpp's
 * unicode_regex_split does: *lens receives the length in code points of each
 * word (malloc'd; a length may be 0). */
typedef struct tok_pretok tok_pretok;
rf_status tok_pretok_new(tok_pre pre, tok_pretok **out, rf_error *err);
void tok_pretok_free(tok_pretok *p);
bool tok_pretok_byte_encode(const tok_pretok *p);
rf_status tok_pretok_split(const tok_pretok *p, const uint32_t *cpts, size_t n,
                           size_t **lens, size_t *n_lens, rf_error *err);
/* llama.cpp's hand-written splitters (tok_bpe_split.c). Each re-splits the
 * runs given by lengths in[0..n_in) (code points of cpts, whose llama.cpp
 * flags are flags[]) and appends the new lengths to out; false: no memory. */
typedef struct tok_sizes {
    size_t *v;
    size_t n, cap;
} tok_sizes;
bool tok_sizes_push(tok_sizes *s, size_t x);
/* A growable byte string (tok_codec.c): appending keeps p[n] == 0, so after
 * the first put, even of "", p is a C string; false: no memory. */
typedef struct tok_buf {
    char *p;              /* (cap) */
    size_t n, cap;
} tok_buf;
bool tok_buf_put(tok_buf *b, const char *s, size_t n);
enum tok_split_kind {
    TOK_SPLIT_GPT2 = 1,
    TOK_SPLIT_LLAMA3,
    TOK_SPLIT_QWEN2,
    TOK_SPLIT_QWEN35,
    TOK_SPLIT_KIMI_K2,
    TOK_SPLIT_AFMOE,
    TOK_SPLIT_NEWLINES,
};
bool tok_split_custom(enum tok_split_kind kind, const uint32_t *cpts, const uint16_t *flags,
                      const size_t *in, size_t n_in, tok_sizes *out);
/* true for pre-tokenizer types whose newline-only words are looked up whole
 * before merging (gemma4) */
bool tok_pre_is_gemma4(tok_pre pre);

/* The pairwise merge loop of SPM and BPE (tok_merge.c). tok_merge_run cuts
 * text[0..len) into UTF-8 characters and merges adjacent symbols, lowest key
 * first (ties: leftmost), while key_of accepts a pair; afterwards the
 * symbols left are sym[0], sym[sym[0].next], ... until next == -1. A
 * zero-initialised tok_merge is ready; it keeps its buffers between runs. */
typedef struct tok_sym {
    int prev, next;
    size_t off, n;        /* text[off, off+n); n == 0: merged away */
} tok_sym;
typedef struct tok_pair {
    int left, right;
    double key;
    size_t lsize, rsize;  /* the sides' sizes when queued: stale check */
} tok_pair;
typedef struct tok_merge {
    tok_sym *sym;         /* (cap) */
    size_t cap;
    tok_pair *heap;       /* (heap_cap), heap_n in use */
    size_t heap_n, heap_cap;
} tok_merge;
/* false: the pair left+right is no merge; else its key in *key */
typedef bool (*tok_pair_key_fn)(const void *ctx, const char *left, size_t left_len, const char *right,
                                size_t right_len, double *key);
bool tok_merge_run(tok_merge *m, const char *text, size_t len, tok_pair_key_fn key_of, const void *ctx);
void tok_merge_free(tok_merge *m);

/* id of the token whose text is s[0..len), or -1 */
int32_t tok_lookup(const tok_vocab *v, const char *s, size_t len);
/* byte value of a <0xXX> byte token (SPM/UGM); asserts it is one */
uint8_t tok_token_to_byte(const tok_vocab *v, int32_t id);
/* the id of byte b: <0xXX> for SPM/UGM, the byte-level unicode char for BPE */
int32_t tok_byte_to_token(const tok_vocab *v, uint8_t b);

/* Per-algorithm set-up after the common fields are loaded (may read more
 * metadata), tear-down, and fragment encoders. The encoders append to out. */
rf_status tok_spm_init(tok_vocab *v, const gguf_file *f, rf_error *err);
rf_status tok_bpe_init(tok_vocab *v, const gguf_file *f, rf_error *err);
rf_status tok_wpm_init(tok_vocab *v, const gguf_file *f, rf_error *err);
rf_status tok_ugm_init(tok_vocab *v, const gguf_file *f, rf_error *err);
void tok_spm_fini(tok_vocab *v);
void tok_bpe_fini(tok_vocab *v);
void tok_wpm_fini(tok_vocab *v);
void tok_ugm_fini(tok_vocab *v);
rf_status tok_spm_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, rf_error *err);
rf_status tok_bpe_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, rf_error *err);
rf_status tok_wpm_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, rf_error *err);
rf_status tok_ugm_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, rf_error *err);

/* ---- tok_unicode.c ----------------------------------------------------- */
/* Length of the UTF-8 sequence starting with byte c, 1 for an invalid lead
 * byte (llama.cpp's utf8_len). */
size_t tok_utf8_len(unsigned char c);
/* Decode one code point at s[*i] (advancing *i); invalid sequences decode to
 * U+FFFD and advance one byte, as llama.cpp's unicode_cpts_from_utf8 does. */
uint32_t tok_utf8_next(const char *s, size_t len, size_t *i);
/* Encode cp; returns bytes written to buf[4]. */
size_t tok_utf8_put(uint32_t cp, char *buf);

/* Unicode character classes (libunistring) */
bool tok_cp_is_whitespace(uint32_t cp);
bool tok_cp_is_letter(uint32_t cp);
bool tok_cp_is_number(uint32_t cp);
bool tok_cp_is_punctuation(uint32_t cp);
bool tok_cp_is_symbol(uint32_t cp);
bool tok_cp_is_control(uint32_t cp);   /* general category Cc/Cf/... as llama.cpp's flags */
bool tok_cp_is_accent_mark(uint32_t cp);
uint32_t tok_cp_tolower(uint32_t cp);
/* first code point of cp's canonical decomposition (llama.cpp's "nfd") */
uint32_t tok_cp_nfd_base(uint32_t cp);

/* llama.cpp's code point flags (unicode_cpt_flags): one category bit, plus
 * the white-space bit. Every code point has a nonzero value. */
enum tok_cp_flag {
    TOK_CPF_UNDEFINED = 0x0001,
    TOK_CPF_NUMBER = 0x0002,
    TOK_CPF_LETTER = 0x0004,
    TOK_CPF_SEPARATOR = 0x0008,
    TOK_CPF_ACCENT_MARK = 0x0010,
    TOK_CPF_PUNCTUATION = 0x0020,
    TOK_CPF_SYMBOL = 0x0040,
    TOK_CPF_CONTROL = 0x0080,
    TOK_CPF_CATEGORIES = 0x00ff,
    TOK_CPF_WHITESPACE = 0x0100,
};
uint32_t tok_cp_flags(uint32_t cp);
bool tok_cp_is_han(uint32_t cp);     /* CJK ideographs, as unicode_cpt_is_han */
/* GPT-2 bytes_to_unicode and its inverse (-1: cp is no byte's image) */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp);

#endif
