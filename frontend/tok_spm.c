/*
 * tok_spm.c: SentencePiece BPE with byte fallback (tokenizer.ggml.model
 * "llama"), as llama.cpp's llm_tokenizer_spm does it.
 *
 * The fragment arrives with spaces already escaped to U+2581 and the space
 * prefix added (tok_codec.c). It is cut into UTF-8 characters (a bad lead byte
 * is a one-byte character); every adjacent pair whose concatenation is a
 * token goes into a max-heap ordered by that token's score, ties broken by
 * the leftmost pair. The best pair is merged, stale entries (a side already
 * merged away, or a size that no longer matches) are skipped, and the new
 * neighbours are queued, until the heap is empty. Each remaining symbol is a
 * token, or, if it is a single character the vocab lacks, its UTF-8 bytes
 * as <0xXX> byte tokens.
 *
 * llama.cpp also keeps a "reverse merge" map to re-split symbols that are
 * not tokens; since a pair is only ever merged when the merged text is a
 * token, only unmerged characters can miss the vocab, and they go straight to
 * bytes here. There is no per-vocab state: init and fini do nothing.
 */
#include "frontend/tok_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct spm_sym {
    int prev, next;
    size_t off, n;    /* text[off, off+n); n == 0: merged away */
} spm_sym;

typedef struct spm_pair {
    int left, right;
    float score;
    size_t size;
} spm_pair;

/* does a come out of the heap before b? */
static bool pair_before(const spm_pair *a, const spm_pair *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct spm_heap {
    spm_pair *v;
    size_t n, cap;
} spm_heap;

static bool heap_push(spm_heap *h, spm_pair p)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        spm_pair *q = realloc(h->v, cap * sizeof *q);
        if (!q)
            return false;
        h->v = q;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = p;
    return true;
}

static spm_pair heap_pop(spm_heap *h)
{
    spm_pair top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && pair_before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!pair_before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return top;
}

rf_status tok_spm_init(tok_vocab *v, const gguf_file *f, rf_error *err)
{
    (void)v;
    (void)f;
    (void)err;
    return RF_OK;
}

void tok_spm_fini(tok_vocab *v) { (void)v; }

static bool try_pair(const tok_vocab *v, const char *text, const spm_sym *s, int left, int right, spm_heap *h)
{
    if (left < 0 || right < 0)
        return true;
    size_t size = s[left].n + s[right].n;
    int32_t id = tok_lookup(v, text + s[left].off, size);
    if (id < 0)
        return true;
    return heap_push(h, (spm_pair){left, right, v->tokens[id].score, size});
}

rf_status tok_spm_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, rf_error *err)
{
    if (len == 0)
        return RF_OK;
    if (len > (size_t)INT32_MAX)
        return rf_fail(err, RF_E_ARG, "tokenize: text of %zu bytes is too long", len);
    spm_sym *sym = malloc(len * sizeof *sym);
    spm_heap heap = {0};
    if (!sym)
        return rf_fail(err, RF_E_NOMEM, "tokenize: out of memory");
    int n = 0;
    for (size_t off = 0; off < len;) {
        size_t cl = tok_utf8_len((unsigned char)text[off]);
        if (cl > len - off)
            cl = len - off;
        sym[n] = (spm_sym){n - 1, off + cl == len ? -1 : n + 1, off, cl};
        off += cl;
        n++;
    }
    rf_status s = RF_OK;
    for (int i = 1; i < n; i++)
        if (!try_pair(v, text, sym, i - 1, i, &heap))
            goto nomem;
    while (heap.n > 0) {
        spm_pair p = heap_pop(&heap);
        spm_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = p.left;
        if (!try_pair(v, text, sym, l->prev, p.left, &heap) ||
            !try_pair(v, text, sym, p.left, l->next, &heap))
            goto nomem;
    }
    for (int i = 0; i != -1; i = sym[i].next) {
        int32_t id = tok_lookup(v, text + sym[i].off, sym[i].n);
        if (id >= 0) {
            if (tok_ids_push(out, id))
                goto nomem;
            continue;
        }
        for (size_t k = 0; k < sym[i].n; k++) {
            int32_t b = tok_byte_to_token(v, (uint8_t)text[sym[i].off + k]);
            if (b < 0) {
                s = rf_fail(err, RF_E_FORMAT, "tokenize: the vocab has no byte token for 0x%02X "
                            "(tokenizer.ggml.tokens)", (unsigned char)text[sym[i].off + k]);
                goto done;
            }
            if (tok_ids_push(out, b))
                goto nomem;
        }
    }
    goto done;
nomem:
    s = rf_fail(err, RF_E_NOMEM, "tokenize: out of memory");
done:
    free(sym);
    free(heap.v);
    return s;
}
