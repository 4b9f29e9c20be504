/*
 * tok_merge.c: the pairwise merge loop that SentencePiece BPE (tok_spm.c)
 * and byte-level BPE (tok_bpe.c) share, as llama.cpp's llm_tokenizer_spm and
 * llm_tokenizer_bpe both run it.
 *
 * The text is cut into UTF-8 characters (a bad lead byte, or a sequence cut
 * short by the end, is a shorter character) held in a doubly linked list of
 * symbols. Every adjacent pair the caller's key function accepts goes into a
 * min-heap ordered by its key, ties broken by the leftmost pair. The first
 * pair is merged (the right symbol is absorbed into the left one and left
 * with n == 0), the pairs it forms with its new neighbours are queued, and
 * so on until the heap is empty.
 *
 * A queued pair goes stale when either side has since been merged: a symbol
 * only ever grows by absorbing its right neighbour and only ever vanishes by
 * being absorbed, so a pair whose sides still have their queued sizes and are
 * still neighbours still spells the text it was queued for.
 *
 * What the keys mean (a merge rank, a negated score) and what becomes of
 * the final symbols is the caller's business; nothing here allocates but the
 * work buffers, which a tok_merge keeps between runs.
 */
#include "frontend/tok_internal.h"

#include <stdlib.h>

/* does a come out of the heap before b? */
static bool pair_before(const tok_pair *a, const tok_pair *b)
{
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static bool heap_push(tok_merge *m, tok_pair p)
{
    if (m->heap_n == m->heap_cap) {
        size_t cap = m->heap_cap ? m->heap_cap * 2 : 64;
        tok_pair *q = realloc(m->heap, cap * sizeof *q);
        if (!q)
            return false;
        m->heap = q;
        m->heap_cap = cap;
    }
    size_t i = m->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &m->heap[parent]))
            break;
        m->heap[i] = m->heap[parent];
        i = parent;
    }
    m->heap[i] = p;
    return true;
}

static tok_pair heap_pop(tok_merge *m)
{
    tok_pair top = m->heap[0], last = m->heap[--m->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m->heap_n)
            break;
        if (c + 1 < m->heap_n && pair_before(&m->heap[c + 1], &m->heap[c]))
            c++;
        if (!pair_before(&m->heap[c], &last))
            break;
        m->heap[i] = m->heap[c];
        i = c;
    }
    if (m->heap_n > 0)
        m->heap[i] = last;
    return top;
}

static bool try_pair(tok_merge *m, const char *text, int l, int r, tok_pair_key_fn key_of, const void *ctx)
{
    if (l < 0 || r < 0)
        return true;
    const tok_sym *s = m->sym;
    double key;
    if (!key_of(ctx, text + s[l].off, s[l].n, text + s[r].off, s[r].n, &key))
        return true;
    return heap_push(m, (tok_pair){l, r, key, s[l].n, s[r].n});
}

bool tok_merge_run(tok_merge *m, const char *text, size_t len, tok_pair_key_fn key_of, const void *ctx)
{
    if (len == 0)
        return true;
    if (len > m->cap) {
        tok_sym *p = realloc(m->sym, len * sizeof *p);
        if (!p)
            return false;
        m->sym = p;
        m->cap = len;
    }
    tok_sym *s = m->sym;
    int n = 0;
    for (size_t off = 0; off < len;) {
        size_t cl = tok_utf8_len((unsigned char)text[off]);
        if (cl > len - off)
            cl = len - off;
        s[n] = (tok_sym){n - 1, off + cl == len ? -1 : n + 1, off, cl};
        off += cl;
        n++;
    }
    m->heap_n = 0;
    for (int i = 1; i < n; i++)
        if (!try_pair(m, text, i - 1, i, key_of, ctx))
            return false;
    while (m->heap_n > 0) {
        tok_pair p = heap_pop(m);
        tok_sym *l = &s[p.left], *r = &s[p.right];
        if (l->n == 0 || r->n == 0 || l->n != p.lsize || r->n != p.rsize || l->next != p.right)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s[r->next].prev = p.left;
        if (!try_pair(m, text, l->prev, p.left, key_of, ctx) || !try_pair(m, text, p.left, l->next, key_of, ctx))
            return false;
    }
    return true;
}

void tok_merge_free(tok_merge *m)
{
    free(m->sym);
    free(m->heap);
    *m = (tok_merge){0};
}
