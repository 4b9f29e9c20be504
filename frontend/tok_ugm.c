/*
 * tok_ugm.c: Unigram (tokenizer.ggml.model = "t5"), as llama.cpp's
 * llm_tokenizer_ugm does it, which follows SentencePiece.
 *
 * Encoding a fragment is normalisation, then a best path.
 *
 * Normalisation walks the text by longest prefix. A prefix that is a prefix
 * of some user-defined token's text (however far the user-defined trie can
 * be walked, whether or not a token ends there: llama.cpp's quirk) passes
 * through unchanged. Otherwise the precompiled charsmap is asked for the
 * longest prefix it has a replacement for; failing that, one UTF-8 sequence
 * passes through, or one invalid byte becomes U+FFFD. Spaces in the result
 * are then rewritten per the vocab flags: with remove_extra_whitespaces every
 * run of spaces collapses and every word is preceded by one space (the first
 * one too); add_space_prefix adds one before the first word (or, with
 * treat_whitespace_as_suffix, after the text); escape_whitespaces writes each
 * space as "▁".
 *
 * The best path is SentencePiece's Viterbi: for every code-point boundary of
 * the normalised text, the best-scoring tokenization that ends there. From
 * each boundary the token trie (normal, user-defined and unused tokens;
 * user-defined ones score 0) is walked to relax later positions; a code point
 * that no token covers on its own is covered by the unknown token, scored
 * min(normal scores) - 10. Backtracking from the end yields the ids, with runs
 * of unknown tokens merged into one. Scores are summed in double and ties
 * keep the first candidate, in llama.cpp's order, so the ids match.
 *
 * The charsmap (tokenizer.ggml.precompiled_charsmap) is a u32 blob size, an
 * XOR-compressed compact double array (XCDA) of u32 units, then a blob of
 * NUL-terminated replacement strings. It is hostile input: tok_ugm_init walks
 * every state reachable from the root and rejects the file unless every unit
 * index, value index and replacement string it can reach is in bounds and
 * terminated, so the encoder can walk it without further checks (it asserts).
 *
 * Invariants: everything here is built once in init and only read by the
 * encoder; the encoder's scratch memory is malloc'd per call and freed.
 * The token trie is a flat array of nodes whose children are contiguous and
 * sorted by byte, built breadth-first from the token texts sorted bytewise
 * (no recursion, so a hostile token length cannot overflow the stack).
 */
#include "frontend/tok_internal.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#define UGM_KEY_CHARSMAP "tokenizer.ggml.precompiled_charsmap"
#define UGM_SPACE "\xe2\x96\x81" /* U+2581, the escaped space */
#define UGM_UNK_PENALTY 10.0f

typedef struct ugm_node {
    uint32_t first;   /* index of the first child; children are contiguous */
    int32_t value;    /* token id ending here, or -1 */
    uint16_t n_child;
    uint8_t label;    /* the byte on the edge from the parent */
} ugm_node;

typedef struct ugm_trie {
    ugm_node *nodes;  /* (n_nodes), nodes[0] is the root */
    uint32_t n_nodes;
} ugm_trie;

struct tok_ugm_data {
    ugm_trie tokens;        /* normal, user-defined and unused tokens */
    ugm_trie user_defined;  /* user-defined tokens (values unused) */
    uint32_t *xcda;         /* (n_xcda) charsmap units, host order */
    uint32_t n_xcda;
    char *repl;             /* (n_repl) NUL-terminated replacement strings */
    uint32_t n_repl;
    float unk_score;        /* min normal score - 10, in float as llama.cpp */
};

/* ---- the byte trie -------------------------------------------------------- */

/* Child of node by byte c, or 0 (the root is nobody's child). */
static uint32_t trie_child(const ugm_trie *t, uint32_t node, uint8_t c)
{
    const ugm_node *p = &t->nodes[node];
    uint32_t lo = p->first, hi = p->first + p->n_child;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint8_t l = t->nodes[mid].label;
        if (l == c)
            return mid;
        if (l < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

typedef struct trie_key {
    uint64_t head;    /* the first 8 bytes, big-endian, zero-padded: a fast first compare */
    const char *text;
    uint32_t len;
    int32_t id;
} trie_key;

/* Token texts bytewise (a prefix sorts first), equal texts by id. Unequal
 * heads order like the texts: zero padding sorts a prefix first. */
static int trie_cmp(const void *a, const void *b)
{
    const trie_key *x = a, *y = b;
    if (x->head != y->head)
        return x->head < y->head ? -1 : 1;
    int c = memcmp(x->text, y->text, x->len < y->len ? x->len : y->len);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

typedef struct trie_span {
    uint32_t lo, hi, depth; /* the node's tokens: keys[lo..hi), sharing depth bytes */
} trie_span;

/* Builds the trie of the tokens keys[0..n), which are sorted by trie_cmp.
 * A text held by several ids maps to the last (largest) one, as inserting in
 * id order into llama.cpp's naive_trie does. */
static rf_status trie_build(ugm_trie *t, const trie_key *keys, uint32_t n)
{
    uint32_t cap = 1024;
    ugm_node *nodes = malloc(cap * sizeof *nodes);
    trie_span *span = malloc(cap * sizeof *span);
    if (!nodes || !span)
        goto nomem;
    nodes[0] = (ugm_node){0, -1, 0, 0};
    span[0] = (trie_span){0, n, 0};
    uint32_t n_nodes = 1;
    for (uint32_t k = 0; k < n_nodes; k++) {
        uint32_t lo = span[k].lo, hi = span[k].hi, d = span[k].depth;
        while (lo < hi && keys[lo].len == d)
            nodes[k].value = keys[lo++].id;
        /* count the distinct next bytes, then give the children one run */
        uint32_t n_child = 0;
        for (uint32_t i = lo; i < hi; i++)
            if (i == lo || keys[i].text[d] != keys[i - 1].text[d])
                n_child++;
        if (n_child == 0)
            continue;
        if (n_nodes + n_child > cap) {
            if (cap > UINT32_MAX / 2)
                goto nomem;
            while (n_nodes + n_child > cap)
                cap *= 2;
            ugm_node *pn = realloc(nodes, cap * sizeof *nodes);
            if (pn)
                nodes = pn;
            trie_span *ps = realloc(span, cap * sizeof *span);
            if (ps)
                span = ps;
            if (!pn || !ps)
                goto nomem;
        }
        nodes[k].first = n_nodes;
        nodes[k].n_child = (uint16_t)n_child;
        for (uint32_t i = lo; i < hi;) {
            uint8_t c = (uint8_t)keys[i].text[d];
            uint32_t j = i + 1;
            while (j < hi && (uint8_t)keys[j].text[d] == c)
                j++;
            nodes[n_nodes] = (ugm_node){0, -1, 0, c};
            span[n_nodes] = (trie_span){i, j, d + 1};
            n_nodes++;
            i = j;
        }
    }
    free(span);
    ugm_node *shrunk = realloc(nodes, n_nodes * sizeof *nodes);
    t->nodes = shrunk ? shrunk : nodes;
    t->n_nodes = n_nodes;
    return RF_OK;
nomem:
    free(nodes);
    free(span);
    return RF_E_NOMEM;
}

/* Trie of the tokens whose attributes intersect mask. */
static rf_status trie_build_mask(ugm_trie *t, const tok_vocab *v, uint32_t mask)
{
    trie_key *keys = malloc(((size_t)v->n_tokens + 1) * sizeof *keys);
    if (!keys)
        return RF_E_NOMEM;
    uint32_t n = 0;
    for (uint32_t id = 0; id < v->n_tokens; id++)
        if (v->tokens[id].attr & mask) {
            const tok_token *tk = &v->tokens[id];
            uint64_t head = 0;
            for (uint32_t i = 0; i < 8; i++)
                head = head << 8 | (i < tk->len ? (uint8_t)tk->text[i] : 0);
            keys[n++] = (trie_key){head, tk->text, tk->len, (int32_t)id};
        }
    qsort(keys, n, sizeof *keys, trie_cmp);
    rf_status s = trie_build(t, keys, n);
    free(keys);
    return s;
}

/* ---- the precompiled charsmap ------------------------------------------ */

/* A unit packs BASE in bits 10..30 (shifted left 8 more when bit 9 is set),
 * LEAF in bit 8 and LCHECK (the edge label) in bits 0..7; a value unit (the
 * child of a leaf) holds a replacement offset in bits 0..30 and has bit 31
 * set, which keeps it from matching any label. */
static uint32_t xcda_base(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static uint32_t xcda_lcheck(uint32_t u) { return u & ((1u << 31) | 0xffu); }
static bool xcda_leaf(uint32_t u) { return (u >> 8) & 1u; }
static uint32_t xcda_value(uint32_t u) { return u & ((1u << 31) - 1); }

/* Every state reachable from the root, its children (labels 1..255: the walk
 * stops at NUL), the value unit of each leaf and the replacement it names
 * must be in bounds. Each unit is expanded once, so this terminates on
 * cyclic input and costs at most n_xcda * 255 probes. */
static rf_status xcda_validate(const struct tok_ugm_data *d, unsigned long long at, rf_error *err)
{
    const uint32_t n = d->n_xcda;
    uint8_t *seen = calloc(n, 1);
    uint32_t *stack = malloc(((size_t)n + 1) * sizeof *stack); /* root + each unit once */
    rf_status s = RF_OK;
    if (!seen || !stack) {
        s = rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
        goto done;
    }
    uint32_t top = 0;
    stack[top++] = xcda_base(d->xcda[0]);
    while (top > 0 && s == RF_OK) {
        uint32_t node = stack[--top];
        for (uint32_t c = 1; c < 256; c++) {
            uint32_t idx = node ^ c;
            if (idx >= n) {
                s = rf_fail(err, RF_E_FORMAT, "%s (offset %llu): trie unit %u is past the end of "
                            "the %u-unit array", UGM_KEY_CHARSMAP, at, idx, n);
                break;
            }
            uint32_t u = d->xcda[idx];
            if (xcda_lcheck(u) != c || seen[idx])
                continue;
            seen[idx] = 1;
            uint32_t next = idx ^ xcda_base(u);
            if (xcda_leaf(u)) {
                if (next >= n) {
                    s = rf_fail(err, RF_E_FORMAT, "%s (offset %llu): value unit %u of trie unit %u "
                                "is past the end of the %u-unit array", UGM_KEY_CHARSMAP, at, next,
                                idx, n);
                    break;
                }
                uint32_t off = xcda_value(d->xcda[next]);
                if (off >= d->n_repl || !memchr(d->repl + off, 0, d->n_repl - off)) {
                    s = rf_fail(err, RF_E_FORMAT, "%s (offset %llu): replacement string %u (trie "
                                "unit %u) is not NUL-terminated inside the %u-byte blob",
                                UGM_KEY_CHARSMAP, at, off, idx, d->n_repl);
                    break;
                }
            }
            stack[top++] = next;
        }
    }
done:
    free(seen);
    free(stack);
    return s;
}

static rf_status charsmap_load(struct tok_ugm_data *d, const gguf_file *f, rf_error *err)
{
    const gguf_kv *kv = gguf_find_kv(f, UGM_KEY_CHARSMAP);
    if (!kv)
        return RF_OK; /* no normalisation beyond the space rules */
    unsigned long long at = (unsigned long long)kv->offset;
    if (kv->type != GGUF_VT_ARRAY || (kv->arr_type != GGUF_VT_UINT8 && kv->arr_type != GGUF_VT_INT8))
        return rf_fail(err, RF_E_FORMAT, "%s (offset %llu): expected an array of u8 or i8, found %s",
                       UGM_KEY_CHARSMAP, at,
                       kv->type == GGUF_VT_ARRAY ? gguf_vtype_name(kv->arr_type)
                                                 : gguf_vtype_name(kv->type));
    const uint8_t *p = kv->arr_data;
    uint64_t size = kv->arr_n;
    if (size == 0)
        return RF_OK; /* llama.cpp treats an empty charsmap as none */
    if (size < 4)
        return rf_fail(err, RF_E_FORMAT, "%s (offset %llu): %llu bytes, too short for the "
                       "XCDA size header", UGM_KEY_CHARSMAP, at, (unsigned long long)size);
    if (size > UINT32_MAX)
        return rf_fail(err, RF_E_FORMAT, "%s (offset %llu): %llu bytes is too large",
                       UGM_KEY_CHARSMAP, at, (unsigned long long)size);
    uint32_t blob = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if ((uint64_t)blob + 4 >= size)
        return rf_fail(err, RF_E_FORMAT, "%s (offset %llu): XCDA size %u leaves no replacement "
                       "strings in the %llu-byte blob", UGM_KEY_CHARSMAP, at, blob,
                       (unsigned long long)size);
    if (blob % 4 != 0)
        return rf_fail(err, RF_E_FORMAT, "%s (offset %llu): XCDA size %u is not a multiple of 4",
                       UGM_KEY_CHARSMAP, at, blob);
    d->n_xcda = blob / 4;
    d->n_repl = (uint32_t)(size - 4 - blob);
    d->xcda = malloc(((size_t)d->n_xcda + 1) * sizeof *d->xcda);
    d->repl = malloc(d->n_repl);
    if (!d->xcda || !d->repl)
        return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
    for (uint32_t i = 0; i < d->n_xcda; i++) {
        const uint8_t *q = p + 4 + (size_t)i * 4;
        d->xcda[i] = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
    }
    memcpy(d->repl, p + 4 + blob, d->n_repl);
    if (d->n_xcda == 0)
        return RF_OK;
    return xcda_validate(d, at, err);
}

rf_status tok_ugm_init(tok_vocab *v, const gguf_file *f, rf_error *err)
{
    struct tok_ugm_data *d = calloc(1, sizeof *d);
    if (!d)
        return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
    v->ugm = d;  /* tok_ugm_fini frees what init got to */
    rf_status s = charsmap_load(d, f, err);
    if (s != RF_OK)
        return s;
    if (trie_build_mask(&d->tokens, v, TOK_ATTR_NORMAL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNUSED) != RF_OK ||
        trie_build_mask(&d->user_defined, v, TOK_ATTR_USER_DEFINED) != RF_OK)
        return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
    float min_score = FLT_MAX;
    for (uint32_t id = 0; id < v->n_tokens; id++)
        if ((v->tokens[id].attr & TOK_ATTR_NORMAL) && v->tokens[id].score < min_score)
            min_score = v->tokens[id].score;
    d->unk_score = min_score - UGM_UNK_PENALTY;
    return RF_OK;
}

void tok_ugm_fini(tok_vocab *v)
{
    struct tok_ugm_data *d = v->ugm;
    if (!d)
        return;
    free(d->tokens.nodes);
    free(d->user_defined.nodes);
    free(d->xcda);
    free(d->repl);
    free(d);
    v->ugm = NULL;
}

/* ---- normalisation ------------------------------------------------------ */

/* Length of the well-formed-looking UTF-8 sequence at s[i] (lead byte and
 * continuation bytes only, as llama.cpp's unicode_cpt_from_utf8 checks), or 0. */
static size_t utf8_seq_len(const char *s, size_t len, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    size_t n = c < 0x80 ? 1 : c < 0xC0 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF8 ? 4 : 0;
    if (n == 0 || len - i < n)
        return 0;
    for (size_t k = 1; k < n; k++)
        if (((unsigned char)s[i + k] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* The normalisation of the longest handled prefix of s[i..len): sets *out,
 * *out_len and returns how many input bytes it consumed (at least 1). */
static size_t normalize_prefix(const struct tok_ugm_data *d, const char *s, size_t len, size_t i,
                               const char **out, size_t *out_len)
{
    /* how far the user-defined trie can be walked: passes through as is */
    size_t k = i;
    for (uint32_t node = 0; k < len; k++) {
        node = trie_child(&d->user_defined, node, (uint8_t)s[k]);
        if (!node)
            break;
    }
    if (k > i) {
        *out = s + i;
        *out_len = k - i;
        return k - i;
    }

    size_t best_len = 0;
    uint32_t best_off = 0;
    if (d->n_xcda > 0) {
        uint32_t node = xcda_base(d->xcda[0]);
        for (size_t j = i; j < len; j++) {
            uint32_t c = (unsigned char)s[j];
            if (c == 0)
                break;
            uint32_t idx = node ^ c;
            RF_ASSERT(idx < d->n_xcda); /* xcda_validate */
            uint32_t u = d->xcda[idx];
            if (xcda_lcheck(u) != c)
                break;
            node = idx ^ xcda_base(u);
            if (xcda_leaf(u)) {
                RF_ASSERT(node < d->n_xcda);
                best_len = j - i + 1;
                best_off = xcda_value(d->xcda[node]);
            }
        }
    }
    if (best_len > 0) {
        RF_ASSERT(best_off < d->n_repl);
        *out = d->repl + best_off;
        *out_len = strlen(*out); /* terminated inside the blob: xcda_validate */
        return best_len;
    }

    size_t n = utf8_seq_len(s, len, i);
    if (n > 0) {
        *out = s + i;
        *out_len = n;
        return n;
    }
    *out = "\xef\xbf\xbd"; /* U+FFFD for one invalid byte */
    *out_len = 3;
    return 1;
}

static bool normalize(const tok_vocab *v, const struct tok_ugm_data *d, const char *text, size_t len,
                      tok_buf *b)
{
    const char *space = v->escape_whitespaces ? UGM_SPACE : " ";
    const size_t space_len = strlen(space);
    const bool prepend = !v->treat_whitespace_as_suffix && v->add_space_prefix;
    const bool append = v->treat_whitespace_as_suffix && v->add_space_prefix;
    const bool merge = v->remove_extra_whitespaces;
    bool prepended = false, in_word = false;

    for (size_t i = 0; i < len;) {
        const char *r;
        size_t r_len;
        i += normalize_prefix(d, text, len, i, &r, &r_len);
        for (size_t k = 0; k < r_len; k++) {
            if (r[k] != ' ') {
                if (!in_word) {
                    in_word = true;
                    if ((prepend && !prepended) || merge) {
                        if (!tok_buf_put(b, space, space_len))
                            return false;
                        prepended = true;
                    }
                }
                if (!tok_buf_put(b, &r[k], 1))
                    return false;
            } else {
                in_word = false;
                if (!merge && !tok_buf_put(b, space, space_len))
                    return false;
            }
        }
    }
    return !append || tok_buf_put(b, space, space_len);
}

/* ---- the best path ------------------------------------------------------ */

typedef struct ugm_best {
    int32_t id;       /* last token of the best path ending here */
    uint32_t pad;
    size_t from;      /* where that token starts */
    double score;     /* path score, -DBL_MAX while unreached */
} ugm_best;

static size_t utf8_lead_len(unsigned char c)
{
    static const uint8_t n[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return n[c >> 4];
}

static rf_status viterbi(const tok_vocab *v, const struct tok_ugm_data *d, const char *text, size_t n,
                         tok_ids *out, rf_error *err)
{
    ugm_best *best = n < SIZE_MAX / sizeof *best - 1 ? malloc((n + 1) * sizeof *best) : NULL;
    if (!best)
        return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i <= n; i++)
        best[i] = (ugm_best){v->unk, 0, 0, -DBL_MAX};
    best[0].score = 0;

    const ugm_trie *t = &d->tokens;
    for (size_t i = 0; i < n;) {
        size_t cp_len = utf8_lead_len((unsigned char)text[i]);
        if (cp_len > n - i)
            cp_len = n - i;
        const double base = best[i].score;
        bool cp_covered = false;
        uint32_t node = 0;
        for (size_t j = i; j < n; j++) {
            node = trie_child(t, node, (uint8_t)text[j]);
            if (!node)
                break;
            int32_t id = t->nodes[node].value;
            if (id < 0)
                continue;
            if (j + 1 - i == cp_len)
                cp_covered = true;
            const tok_token *tk = &v->tokens[id];
            double score = base + ((tk->attr & TOK_ATTR_USER_DEFINED) ? 0.0 : (double)tk->score);
            if (score > best[j + 1].score)
                best[j + 1] = (ugm_best){id, 0, i, score};
        }
        if (!cp_covered) {
            double score = base + (double)d->unk_score;
            if (score > best[i + cp_len].score)
                best[i + cp_len] = (ugm_best){v->unk, 0, i, score};
        }
        i += cp_len;
    }

    /* backtrack, merging runs of unknown tokens, then reverse in place */
    const size_t start = out->n;
    bool prev_unk = false;
    rf_status s = RF_OK;
    for (size_t at = n;;) {
        const ugm_best *b = &best[at];
        bool is_unk = b->id == v->unk;
        if (!(prev_unk && is_unk)) {
            if (b->id < 0) {
                s = rf_fail(err, RF_E_FORMAT, "tokenizer.ggml.unknown_token_id: the text needs the "
                            "unknown token but the vocab has none");
                break;
            }
            if (tok_ids_push(out, b->id) != RF_OK) {
                s = rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
                break;
            }
        }
        if (b->from == 0)
            break;
        prev_unk = is_unk;
        at = b->from;
    }
    free(best);
    if (s != RF_OK) {
        out->n = start;
        return s;
    }
    for (size_t a = start, z = out->n; a + 1 < z; a++, z--) {
        int32_t tmp = out->ids[a];
        out->ids[a] = out->ids[z - 1];
        out->ids[z - 1] = tmp;
    }
    return RF_OK;
}

rf_status tok_ugm_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out,
                         rf_error *err)
{
    const struct tok_ugm_data *d = v->ugm;
    RF_ASSERT(d != NULL);
    tok_buf b = {0};
    if (!normalize(v, d, text, len, &b)) {
        free(b.p);
        return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
    }
    rf_status s = RF_OK;
    if (b.n > 0)
        s = viterbi(v, d, b.p, b.n, out, err);
    free(b.p);
    return s;
}
