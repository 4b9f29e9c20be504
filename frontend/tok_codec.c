/*
 * tok_codec.c: text → ids and ids → text for every tokenizer kind.
 *
 * Encoding (llama.cpp's llama_vocab::impl::tokenize):
 *   1. partition() cuts the text into fragments: raw text, or a special token.
 *      Special tokens are tried longest first; each one is searched in every
 *      raw fragment left by the longer ones, and each occurrence becomes its
 *      own fragment. A token with lstrip eats the ASCII white space before it,
 *      one with rstrip the white space after it. Without TOK_PARSE_SPECIAL the
 *      control and unknown tokens are left in the text; user-defined tokens
 *      are always split out (Hugging Face's "added tokens" behave so).
 *   2. Each raw fragment goes to the kind's encoder. For SPM this file adds
 *      the space prefix (at the start and after every special token, when the
 *      vocab wants one) and escapes spaces to U+2581 first; for BPE it escapes
 *      spaces when the pre-tokenizer asks for it (gemma4). WPM and UGM get the
 *      fragment as it is and normalise it themselves.
 *   3. BOS / EOS / SEP are added per kind exactly where llama.cpp adds them:
 *      SPM, UGM and BPE honour add_bos/add_eos; WPM always adds BOS and SEP.
 *
 * Decoding (token_to_piece + detokenize): control and unknown tokens render
 * only with TOK_DECODE_SPECIAL; user-defined tokens always render as their
 * text; normal tokens unescape U+2581 (SPM, WPM, UGM, SPM-style BPE) or map
 * byte-level characters back to bytes (BPE); byte tokens <0xXX> give their
 * byte. The first piece loses one leading space when the vocab adds a space
 * prefix (unless a removed BOS came first), and clean_spaces applies
 * llama.cpp's three clean-up passes over the whole text.
 */
#include "frontend/tok_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct frag {
    int32_t tok;      /* -1: raw text [off, off+len) */
    size_t off, len;
} frag;

typedef struct frags {
    frag *v;
    size_t n, cap;
} frags;

static bool frags_push(frags *f, int32_t tok, size_t off, size_t len)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        frag *p = realloc(f->v, cap * sizeof *p);
        if (!p)
            return false;
        f->v = p;
        f->cap = cap;
    }
    f->v[f->n++] = (frag){tok, off, len};
    return true;
}

static bool ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || m > n)
        return NULL;
    const char *end = hay + n - m;
    for (const char *p = hay; p <= end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p)
            return NULL;
        if (memcmp(p, needle, m) == 0)
            return p;
    }
    return NULL;
}

/* Split every raw fragment of *cur around special token id into *next. */
static bool split_on(const tok_vocab *v, const char *text, int32_t id, const frags *cur, frags *next)
{
    const tok_token *t = &v->tokens[id];
    next->n = 0;
    for (size_t i = 0; i < cur->n; i++) {
        frag fr = cur->v[i];
        if (fr.tok >= 0 || fr.len < t->len) {
            if (!frags_push(next, fr.tok, fr.off, fr.len))
                return false;
            continue;
        }
        size_t off = fr.off, len = fr.len;
        for (;;) {
            const char *m = find_bytes(text + off, len, t->text, t->len);
            if (!m) {
                if (len > 0 && !frags_push(next, -1, off, len))
                    return false;
                break;
            }
            size_t mpos = (size_t)(m - text);
            if (mpos > off) {
                size_t llen = mpos - off;
                if (t->attr & TOK_ATTR_LSTRIP)
                    while (llen > 0 && ascii_space(text[off + llen - 1]))
                        llen--;
                if (llen > 0 && !frags_push(next, -1, off, llen))
                    return false;
            }
            if (!frags_push(next, id, 0, 0))
                return false;
            size_t rend = off + len, roff = mpos + t->len;
            if (roff >= rend)
                break;
            if (t->attr & TOK_ATTR_RSTRIP)
                while (roff < rend && ascii_space(text[roff]))
                    roff++;
            off = roff;
            len = rend - roff;
        }
    }
    return true;
}

static rf_status partition(const tok_vocab *v, const char *text, size_t len, bool parse_special, frags *out)
{
    frags tmp = {0};
    out->n = 0;
    if (len == 0)
        return RF_OK;
    if (!frags_push(out, -1, 0, len))
        return RF_E_NOMEM;
    for (uint32_t k = 0; k < v->n_special; k++) {
        int32_t id = v->special[k];
        const tok_token *t = &v->tokens[id];
        if (!parse_special && (t->attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)))
            continue;
        if (t->len > len)
            continue;
        if (!split_on(v, text, id, out, &tmp)) {
            free(tmp.v);
            return RF_E_NOMEM;
        }
        frags x = *out;
        *out = tmp;
        tmp = x;
    }
    free(tmp.v);
    return RF_OK;
}

/* text with ' ' replaced by U+2581, optionally prefixed by one (escaped) space */
static char *escape_spaces(const char *s, size_t len, bool prefix, size_t *out_len)
{
    size_t n = prefix ? 3 : 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == ' ' ? 3 : 1;
    char *r = malloc(n + 1);
    if (!r)
        return NULL;
    size_t j = 0;
    if (prefix) {
        memcpy(r, "\xe2\x96\x81", 3);
        j = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            memcpy(r + j, "\xe2\x96\x81", 3);
            j += 3;
        } else {
            r[j++] = s[i];
        }
    }
    r[j] = 0;
    *out_len = j;
    return r;
}

rf_status tok_encode(const tok_vocab *v, const char *text, size_t len, unsigned flags,
                     tok_ids *out, rf_error *err)
{
    bool add_special = flags & TOK_ADD_SPECIAL;
    frags fr = {0};
    rf_status s = partition(v, text, len, flags & TOK_PARSE_SPECIAL, &fr);
    if (s) {
        free(fr.v);
        return rf_fail(err, s, "tokenize: out of memory");
    }

    bool add_bos = false, add_eos = false, add_sep = false;
    switch (v->kind) {
    case TOK_KIND_SPM:
    case TOK_KIND_UGM:
    case TOK_KIND_BPE:
        add_bos = add_special && v->add_bos;
        add_eos = add_special && v->add_eos;
        break;
    case TOK_KIND_WPM:
        add_bos = add_special;
        add_sep = add_special;
        break;
    }
    if (add_bos) {
        if (v->bos < 0) {
            s = rf_fail(err, RF_E_FORMAT, "tokenize: the vocab asks for a BOS token but has none "
                                          "(tokenizer.ggml.bos_token_id)");
            goto done;
        }
        if ((s = tok_ids_push(out, v->bos)))
            goto nomem;
    }

    bool prev_special = true; /* SPM: a space prefix goes at the start too */
    for (size_t i = 0; i < fr.n; i++) {
        const frag *f = &fr.v[i];
        if (f->tok >= 0) {
            if ((s = tok_ids_push(out, f->tok)))
                goto nomem;
            prev_special = true;
            continue;
        }
        const char *p = text + f->off;
        switch (v->kind) {
        case TOK_KIND_SPM: {
            size_t n;
            char *esc = escape_spaces(p, f->len, v->add_space_prefix && prev_special, &n);
            if (!esc)
                goto nomem;
            s = tok_spm_encode(v, esc, n, out, err);
            free(esc);
            break;
        }
        case TOK_KIND_BPE:
            if (v->escape_whitespaces) {
                size_t n;
                char *esc = escape_spaces(p, f->len, false, &n);
                if (!esc)
                    goto nomem;
                s = tok_bpe_encode(v, esc, n, out, err);
                free(esc);
            } else {
                s = tok_bpe_encode(v, p, f->len, out, err);
            }
            break;
        case TOK_KIND_WPM:
            s = tok_wpm_encode(v, p, f->len, out, err);
            break;
        case TOK_KIND_UGM:
            s = tok_ugm_encode(v, p, f->len, out, err);
            break;
        }
        if (s)
            goto done;
        prev_special = false;
    }

    if (add_eos) {
        if (v->eos < 0) {
            s = rf_fail(err, RF_E_FORMAT, "tokenize: the vocab asks for an EOS token but has none "
                                          "(tokenizer.ggml.eos_token_id)");
            goto done;
        }
        if ((s = tok_ids_push(out, v->eos)))
            goto nomem;
    }
    if (add_sep) {
        if (v->sep < 0) {
            s = rf_fail(err, RF_E_FORMAT, "tokenize: the vocab asks for a SEP token but has none "
                                          "(tokenizer.ggml.seperator_token_id)");
            goto done;
        }
        if ((s = tok_ids_push(out, v->sep)))
            goto nomem;
    }
    goto done;
nomem:
    s = rf_fail(err, RF_E_NOMEM, "tokenize: out of memory");
done:
    free(fr.v);
    return s;
}

/* ---- decoding ------------------------------------------------------------ */

bool tok_buf_put(tok_buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

/* U+2581 → ' ' */
static bool put_unescaped(tok_buf *b, const char *s, size_t n)
{
    size_t i = 0, start = 0;
    while (i < n) {
        if (i + 3 <= n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
            if (!tok_buf_put(b, s + start, i - start) || !tok_buf_put(b, " ", 1))
                return false;
            i += 3;
            start = i;
        } else {
            i++;
        }
    }
    return tok_buf_put(b, s + start, n - start);
}

/* byte-level characters → bytes (llama_decode_text) */
static bool put_byte_decoded(tok_buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp = tok_utf8_next(s, n, &i);
        int byte = tok_cp_to_byte(cp);
        if (byte >= 0) {
            char c = (char)byte;
            if (!tok_buf_put(b, &c, 1))
                return false;
            continue;
        }
        char enc[4], hex[3];
        size_t el = tok_utf8_put(cp, enc);
        if (!tok_buf_put(b, "[UNK_BYTE_0x", 12))
            return false;
        for (size_t k = 0; k < el; k++) {
            static const char digits[] = "0123456789abcdef";
            hex[0] = digits[(unsigned char)enc[k] >> 4];
            hex[1] = digits[(unsigned char)enc[k] & 15];
            if (!tok_buf_put(b, hex, 2))
                return false;
        }
        if (!tok_buf_put(b, s, n) || !tok_buf_put(b, "]", 1))
            return false;
    }
    return true;
}

/* Appends the piece of id; lstrip: drop one leading space of it. */
static bool put_piece(const tok_vocab *v, tok_buf *b, int32_t id, bool special, bool lstrip)
{
    const tok_token *t = &v->tokens[id];
    const uint32_t attr_special = TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL;
    if (!special && (t->attr & attr_special))
        return true;
    size_t start = b->n;
    bool ok = true;
    if (t->attr & (attr_special | TOK_ATTR_USER_DEFINED)) {
        ok = tok_buf_put(b, t->text, t->len);
    } else if (t->attr & TOK_ATTR_NORMAL) {
        if (v->kind == TOK_KIND_BPE && !v->escape_whitespaces)
            ok = put_byte_decoded(b, t->text, t->len);
        else
            ok = put_unescaped(b, t->text, t->len);
    } else if (t->attr & TOK_ATTR_BYTE) {
        if (v->kind == TOK_KIND_WPM)
            return true;
        char c = (char)tok_token_to_byte(v, id);
        ok = tok_buf_put(b, &c, 1);
    }
    if (ok && lstrip && b->n > start && b->p[start] == ' ') {
        memmove(b->p + start, b->p + start + 1, b->n - start - 1);
        b->n--;
        b->p[b->n] = 0;
    }
    return ok;
}

/* llama.cpp's clean_up_tokenization passes, in place; returns the new length */
static size_t clean_spaces(char *text, size_t total)
{
    /* " ?", " !", " .", " ," lose their space */
    size_t n = total ? 1 : 0;
    for (size_t i = 1; i < total; i++) {
        char x = text[i];
        if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
            n--;
        text[n++] = x;
    }
    /* " ' " → "'" */
    total = n;
    n = total ? 1 : 0;
    for (size_t i = 1; i < total; i++) {
        char x = text[i];
        if (x == '\'' && i + 1 < total && text[i - 1] == ' ' && text[i + 1] == ' ') {
            n--;
            text[++i] = 0;
        }
        text[n++] = x;
    }
    /* " 's", " 'm", " 're", " 've" lose their space */
    total = n;
    n = total ? 1 : 0;
    for (size_t i = 1; i < total; i++) {
        char x = text[i];
        if (text[i - 1] == ' ' && x == '\'' && i + 1 < total) {
            char x1 = text[i + 1];
            if (x1 == 's' || x1 == 'm')
                n--;
            else if (x1 != 't' && x1 != 'd' && i + 2 < total) {
                char x2 = text[i + 2];
                if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e'))
                    n--;
            }
        }
        text[n++] = x;
    }
    return n;
}

rf_status tok_decode(const tok_vocab *v, const int32_t *ids, size_t n, unsigned flags,
                     char **text, size_t *len, rf_error *err)
{
    *text = NULL;
    if (len)
        *len = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= v->n_tokens)
            return rf_fail(err, RF_E_ARG, "detokenize: token id %d at position %zu is out of range "
                                          "(vocab has %u tokens)", ids[i], i, v->n_tokens);
    bool remove_space = v->add_space_prefix;
    if ((flags & TOK_DECODE_REMOVE_SPECIAL) && v->add_bos && n > 0 && ids[0] == v->bos) {
        remove_space = false;
        ids++;
        n--;
    }
    if ((flags & TOK_DECODE_REMOVE_SPECIAL) && v->add_eos && n > 0 && ids[n - 1] == v->eos)
        n--;

    tok_buf b = {0};
    if (!tok_buf_put(&b, "", 0))
        return rf_fail(err, RF_E_NOMEM, "detokenize: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!put_piece(v, &b, ids[i], flags & TOK_DECODE_SPECIAL, remove_space)) {
            free(b.p);
            return rf_fail(err, RF_E_NOMEM, "detokenize: out of memory");
        }
        remove_space = false;
    }
    if (v->clean_spaces) {
        b.n = clean_spaces(b.p, b.n);
        b.p[b.n] = 0;
    }
    *text = b.p;
    if (len)
        *len = b.n;
    return RF_OK;
}
