/*
 * tok_wpm.c: WordPiece (tokenizer.ggml.model = "bert"), as llama.cpp's
 * llm_tokenizer_wpm_session does it.
 *
 * A fragment goes through two stages.
 *
 * Pre-processing (BERT's BasicTokenizer, the way llama.cpp approximates it)
 * turns the text into words, one code point at a time:
 *   - with strip_accents, every code point is first replaced by the first
 *     code point of its canonical decomposition (llama.cpp's "NFD": é → e,
 *     not e + U+0301), and combining marks are dropped;
 *   - whitespace ends the current word;
 *   - U+0000, U+FFFD (which is also what invalid UTF-8 decodes to) and
 *     control / format / private-use code points are dropped;
 *   - with lowercase, the code point is lower-cased (simple mapping);
 *   - punctuation, ASCII symbols and CJK ideographs become one-character
 *     words of their own; everything else is appended to the current word.
 * Both options come from tokenizer.ggml.normalizer.lowercase (default true)
 * and tokenizer.ggml.normalizer.strip_accents (default: the lowercase value).
 *
 * Matching: the GGUF converter rewrote the BERT vocab so that a token that
 * may start a word carries a "▁" (U+2581) prefix and a "##" continuation
 * piece is stored bare. So each word is prefixed with "▁" and consumed
 * greedily, longest vocab match first, from left to right over bytes; if some
 * position has no match at all, the pieces already emitted for the word are
 * taken back and the whole word becomes the unknown token.
 *
 * Invariants: the encoder only reads the vocab (one vocab serves many
 * threads); it allocates one scratch buffer per call and frees it.
 * Deliberately not done: full Unicode NFD (llama.cpp keeps only the first
 * code point), and code points above U+10FFFF (which llama.cpp cannot encode
 * back to UTF-8 and throws on) are dropped rather than failing the call.
 */
#include "frontend/tok_internal.h"

#include <stdlib.h>
#include <string.h>

struct tok_wpm_data {
    bool lowercase;       /* tokenizer.ggml.normalizer.lowercase */
    bool strip_accents;   /* tokenizer.ggml.normalizer.strip_accents */
};

#define WPM_KEY_LOWERCASE "tokenizer.ggml.normalizer.lowercase"
#define WPM_KEY_STRIP_ACCENTS "tokenizer.ggml.normalizer.strip_accents"

/* An optional bool key: absent leaves *val alone; another type is an error,
 * as llama.cpp's loader rejects it. */
static rf_status wpm_get_opt_bool(const gguf_file *f, const char *key, bool *val, rf_error *err)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return RF_OK;
    if (kv->type != GGUF_VT_BOOL)
        return rf_fail(err, RF_E_FORMAT, "%s (offset %llu): expected bool, found %s", key,
                       (unsigned long long)kv->offset, gguf_vtype_name(kv->type));
    *val = kv->val.u64 != 0;
    return RF_OK;
}

rf_status tok_wpm_init(tok_vocab *v, const gguf_file *f, rf_error *err)
{
    struct tok_wpm_data *d = arena_calloc(&v->arena, 1, sizeof *d);
    if (!d)
        return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
    d->lowercase = true;
    rf_status s = wpm_get_opt_bool(f, WPM_KEY_LOWERCASE, &d->lowercase, err);
    if (s != RF_OK)
        return s;
    d->strip_accents = d->lowercase;
    s = wpm_get_opt_bool(f, WPM_KEY_STRIP_ACCENTS, &d->strip_accents, err);
    if (s != RF_OK)
        return s;
    v->wpm = d;
    return RF_OK;
}

void tok_wpm_fini(tok_vocab *v)
{
    v->wpm = NULL; /* lives in the vocab's arena */
}

/* The CJK ideograph blocks BERT splits on, including the HF tokenizers'
 * 0x2B920 lower bound for the Extension E/F range (llama.cpp copies it). */
static bool wpm_is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* "▁" + the current word; len counts the prefix too. */
typedef struct wpm_word {
    char *buf;
    size_t len, cap;
} wpm_word;

#define WPM_PREFIX "\xe2\x96\x81"
#define WPM_PREFIX_LEN 3

static bool wpm_word_put(wpm_word *w, uint32_t cp)
{
    if (w->cap - w->len < 4) {
        size_t cap = w->cap * 2;
        char *p = realloc(w->buf, cap);
        if (!p)
            return false;
        w->buf = p;
        w->cap = cap;
    }
    w->len += tok_utf8_put(cp, w->buf + w->len);
    return true;
}

/* Greedy longest-match-first over the bytes of w; the word is known to be
 * non-empty. */
static rf_status wpm_emit_word(const tok_vocab *v, const wpm_word *w, tok_ids *out, rf_error *err)
{
    const size_t n = w->len;
    const size_t start = out->n;
    for (size_t i = 0; i < n;) {
        size_t j = i + (size_t)v->max_token_len + 1;
        if (j > n)
            j = n;
        for (; j > i; j--) {
            int32_t id = tok_lookup(v, w->buf + i, j - i);
            if (id >= 0) {
                if (tok_ids_push(out, id) != RF_OK)
                    return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
                break;
            }
        }
        if (j == i) { /* no piece starts here: the whole word is unknown */
            out->n = start;
            break;
        }
        i = j;
    }
    if (out->n == start) {
        if (v->unk < 0)
            return rf_fail(err, RF_E_FORMAT,
                           "tokenizer.ggml.unknown_token_id: a word needs the unknown token "
                           "but the vocab has none");
        if (tok_ids_push(out, v->unk) != RF_OK)
            return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
    }
    return RF_OK;
}

/* Emit the pending word, if any, and start an empty one. */
static rf_status wpm_flush(const tok_vocab *v, wpm_word *w, tok_ids *out, rf_error *err)
{
    rf_status s = RF_OK;
    if (w->len > WPM_PREFIX_LEN)
        s = wpm_emit_word(v, w, out, err);
    w->len = WPM_PREFIX_LEN;
    return s;
}

rf_status tok_wpm_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out,
                         rf_error *err)
{
    const struct tok_wpm_data *d = v->wpm;
    RF_ASSERT(d != NULL);
    wpm_word w = {malloc(64), WPM_PREFIX_LEN, 64};
    if (!w.buf)
        return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
    memcpy(w.buf, WPM_PREFIX, WPM_PREFIX_LEN);

    rf_status s = RF_OK;
    for (size_t i = 0; i < len && s == RF_OK;) {
        uint32_t cp = tok_utf8_next(text, len, &i);
        if (d->strip_accents)
            cp = tok_cp_nfd_base(cp);
        if (tok_cp_is_whitespace(cp)) {
            s = wpm_flush(v, &w, out, err);
            continue;
        }
        if (cp == 0 || cp == 0xFFFD || cp > 0x10FFFF || tok_cp_is_control(cp))
            continue;
        if (d->strip_accents && tok_cp_is_accent_mark(cp))
            continue;
        uint32_t c = d->lowercase ? tok_cp_tolower(cp) : cp;
        bool alone = tok_cp_is_punctuation(cp) || (cp < 0x7F && tok_cp_is_symbol(cp)) ||
                     wpm_is_cjk(cp);
        if (alone) {
            s = wpm_flush(v, &w, out, err);
            if (s != RF_OK)
                break;
        }
        if (!wpm_word_put(&w, c)) {
            s = rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
            break;
        }
        if (alone)
            s = wpm_flush(v, &w, out, err);
    }
    if (s == RF_OK)
        s = wpm_flush(v, &w, out, err);
    free(w.buf);
    return s;
}
