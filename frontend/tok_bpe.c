/*
 * tok_bpe.c: byte-level BPE (tokenizer.ggml.model "gpt2", and "gemma4",
 * which is BPE over raw UTF-8 with <0xXX> byte fallback), as llama.cpp's
 * llm_tokenizer_bpe does it.
 *
 * A fragment is decoded to code points (invalid bytes become U+FFFD, as
 * everywhere in llama.cpp) and split into words by the pre-tokenizer
 * (tok_bpe_pre.c). Each word is re-encoded: with byte_encode every UTF-8
 * byte becomes its GPT-2 stand-in character, otherwise the word stays UTF-8.
 * Then, per word:
 *   - with ignore_merges, a word that is a token is that token;
 *   - for gemma4 a word of newlines only that is a token is that token;
 *   - otherwise the word's characters are merged pairwise (tok_merge.c),
 *     lowest merge rank first (ties: leftmost).
 * Each final symbol is a token; a symbol that is not becomes one token per
 * byte (the byte's stand-in character, or <0xXX> without byte_encode), and
 * bytes the vocab lacks are dropped, as llama.cpp does.
 *
 * Merge ranks live in an open-addressing table keyed by the pair of strings
 * (copied into the vocab's arena); the merge "a b" is split at the first
 * space after its first byte.
 */
#include "frontend/tok_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct bpe_merge {
    const char *left, *right;
    uint32_t left_len, right_len;
} bpe_merge;

struct tok_bpe_data {
    bpe_merge *merges;   /* (n_merges), index = rank */
    uint32_t n_merges;
    int32_t *table;      /* (table_cap) ranks, -1 = empty */
    uint32_t table_cap;
    tok_pretok *pretok;
};

static uint64_t pair_hash(const char *l, size_t ll, const char *r, size_t rl)
{
    return tok_hash(l, ll) * 0x9E3779B97F4A7C15ull ^ tok_hash(r, rl);
}

static int32_t find_rank(const struct tok_bpe_data *d, const char *l, size_t ll, const char *r, size_t rl)
{
    if (!d->table_cap)
        return -1;
    uint32_t mask = d->table_cap - 1;
    for (uint32_t i = (uint32_t)pair_hash(l, ll, r, rl) & mask;; i = (i + 1) & mask) {
        int32_t rank = d->table[i];
        if (rank < 0)
            return -1;
        const bpe_merge *m = &d->merges[rank];
        if (m->left_len == ll && m->right_len == rl && memcmp(m->left, l, ll) == 0 && memcmp(m->right, r, rl) == 0)
            return rank;
    }
}

rf_status tok_bpe_init(tok_vocab *v, const gguf_file *f, rf_error *err)
{
    struct tok_bpe_data *d = arena_calloc(&v->arena, 1, sizeof *d);
    if (!d)
        return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
    v->bpe = d;
    const gguf_kv *mk = gguf_find_kv(f, "tokenizer.ggml.merges");
    if (!mk)
        return rf_fail(err, RF_E_NOTFOUND, "tokenizer.ggml.merges: key not found (cannot find tokenizer merges)");
    if (mk->type != GGUF_VT_ARRAY || mk->arr_type != GGUF_VT_STRING)
        return rf_fail(err, RF_E_TYPE, "tokenizer.ggml.merges: expected array of string");
    if (mk->arr_n > INT32_MAX / 4)
        return rf_fail(err, RF_E_FORMAT, "tokenizer.ggml.merges: too many merges (%llu)",
                       (unsigned long long)mk->arr_n);
    d->n_merges = (uint32_t)mk->arr_n;
    d->merges = arena_alloc(&v->arena, (d->n_merges ? d->n_merges : 1) * sizeof *d->merges);
    d->table_cap = 16;
    while (d->table_cap < 2ull * d->n_merges)
        d->table_cap *= 2;
    d->table = arena_alloc(&v->arena, (size_t)d->table_cap * sizeof *d->table);
    if (!d->merges || !d->table)
        return rf_fail(err, RF_E_NOMEM, "tokenizer.ggml.merges: out of memory for %u merges", d->n_merges);
    memset(d->table, 0xff, (size_t)d->table_cap * sizeof *d->table);
    uint32_t mask = d->table_cap - 1;
    for (uint32_t i = 0; i < d->n_merges; i++) {
        gguf_str s = mk->arr_strs[i];
        if (s.len > UINT32_MAX / 2)
            return rf_fail(err, RF_E_FORMAT, "tokenizer.ggml.merges[%u]: merge too long", i);
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', (size_t)s.len - 1) : NULL;
        bpe_merge *m = &d->merges[i];
        if (sp) {
            char *copy = arena_strndup(&v->arena, s.ptr, (size_t)s.len);
            if (!copy)
                return rf_fail(err, RF_E_NOMEM, "tokenizer.ggml.merges: out of memory");
            size_t at = (size_t)(sp - s.ptr);
            m->left = copy;
            m->left_len = (uint32_t)at;
            m->right = copy + at + 1;
            m->right_len = (uint32_t)(s.len - at - 1);
        } else {
            m->left = m->right = ""; /* llama.cpp files it under ("", "") */
        }
        /* the first rank of a pair wins (std::map::emplace keeps it) */
        for (uint32_t h = (uint32_t)pair_hash(m->left, m->left_len, m->right, m->right_len) & mask;;
             h = (h + 1) & mask) {
            int32_t o = d->table[h];
            if (o < 0) {
                d->table[h] = (int32_t)i;
                break;
            }
            const bpe_merge *q = &d->merges[o];
            if (q->left_len == m->left_len && q->right_len == m->right_len &&
                memcmp(q->left, m->left, m->left_len) == 0 && memcmp(q->right, m->right, m->right_len) == 0)
                break;
        }
    }
    return tok_pretok_new(v->pre, &d->pretok, err);
}

void tok_bpe_fini(tok_vocab *v)
{
    if (v->bpe)
        tok_pretok_free(v->bpe->pretok);
    v->bpe = NULL;
}

/* ---- encoding ------------------------------------------------------------ */

/* a pair merges when the merges list has it; the lowest rank comes first */
static bool pair_key(const void *ctx, const char *left, size_t left_len, const char *right, size_t right_len,
                     double *key)
{
    int32_t rank = find_rank(ctx, left, left_len, right, right_len);
    if (rank < 0)
        return false;
    *key = rank;
    return true;
}

static bool push_bytes(const tok_vocab *v, bool byte_encode, const char *s, size_t n, tok_ids *out)
{
    for (size_t j = 0; j < n; j++) {
        int32_t id;
        if (byte_encode) {
            id = tok_lookup(v, s + j, 1);
        } else {
            static const char hex[] = "0123456789ABCDEF";
            unsigned char c = (unsigned char)s[j];
            char buf[6] = {'<', '0', 'x', hex[c >> 4], hex[c & 15], '>'};
            id = tok_lookup(v, buf, 6);
        }
        if (id >= 0 && tok_ids_push(out, id))
            return false;
    }
    return true;
}

/* BPE over one word w[0..len) */
static bool encode_word(const tok_vocab *v, bool byte_encode, const char *w, size_t len, tok_merge *wk,
                        tok_ids *out)
{
    const struct tok_bpe_data *d = v->bpe;
    if (len == 0)
        return true;
    if (v->ignore_merges || (tok_pre_is_gemma4(v->pre) && strspn(w, "\n") >= len)) {
        int32_t id = tok_lookup(v, w, len);
        if (id >= 0)
            return tok_ids_push(out, id) == RF_OK;
    }
    if (!tok_merge_run(wk, w, len, pair_key, d))
        return false;
    const tok_sym *s = wk->sym;
    for (int i = 0; i != -1; i = s[i].next) {
        if (s[i].n == 0)
            continue;
        int32_t id = tok_lookup(v, w + s[i].off, s[i].n);
        if (id >= 0) {
            if (tok_ids_push(out, id))
                return false;
        } else if (!push_bytes(v, byte_encode, w + s[i].off, s[i].n, out)) {
            return false;
        }
    }
    return true;
}

rf_status tok_bpe_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, rf_error *err)
{
    const struct tok_bpe_data *d = v->bpe;
    if (len == 0)
        return RF_OK;
    bool byte_encode = tok_pretok_byte_encode(d->pretok);
    uint32_t *cpts = malloc(len * sizeof *cpts);
    size_t n = 0, *lens = NULL, n_lens = 0;
    char *word = NULL;
    tok_merge wk = {0};
    if (!cpts)
        return rf_fail(err, RF_E_NOMEM, "tokenize: out of memory");
    for (size_t i = 0; i < len;)
        cpts[n++] = tok_utf8_next(text, len, &i);
    rf_status s = tok_pretok_split(d->pretok, cpts, n, &lens, &n_lens, err);
    if (s)
        goto done;
    /* a word is at most 4 bytes per code point, each byte at most 2 bytes
     * once byte-encoded */
    word = malloc(8 * n + 1);
    if (!word)
        goto nomem;
    size_t at = 0;
    for (size_t k = 0; k < n_lens; k++) {
        size_t wl = 0;
        for (size_t i = at; i < at + lens[k]; i++) {
            char u[4];
            size_t ul = tok_utf8_put(cpts[i], u);
            if (!byte_encode) {
                memcpy(word + wl, u, ul);
                wl += ul;
                continue;
            }
            for (size_t j = 0; j < ul; j++)
                wl += tok_utf8_put(tok_byte_to_cp((uint8_t)u[j]), word + wl);
        }
        word[wl] = 0;
        at += lens[k];
        if (!encode_word(v, byte_encode, word, wl, &wk, out))
            goto nomem;
    }
    goto done;
nomem:
    s = rf_fail(err, RF_E_NOMEM, "tokenize: out of memory");
done:
    free(cpts);
    free(lens);
    free(word);
    tok_merge_free(&wk);
    return s;
}
