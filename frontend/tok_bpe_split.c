/*
 * tok_bpe_split.c: llama.cpp's hand-written pre-tokenizer splitters.
 *
 * llama.cpp does not run the most common pre-tokenizer regexes through a
 * regex engine: it walks the code points with a hand-written matcher for
 * each. Those matchers are not always identical to the regexes they stand
 * for (for example, the "punctuation" branch of the Llama 3 matcher tests
 * the flags of the current code point where the regex would test the next
 * one, and every code point, even an unassigned one, has nonzero flags), and
 * what counts is llama.cpp's behaviour, so these are faithful ports of the
 * matchers, not regex implementations.
 *
 * Each splitter handles the runs it is given independently: positions
 * outside the current run read as "no code point" (cpt OOR, flags 0), which
 * is what makes look-aheads such as \s+(?!\S) stop at a run's end.
 */
#include "frontend/tok_internal.h"

#include <stdlib.h>

bool tok_sizes_push(tok_sizes *s, size_t x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        size_t *p = realloc(s->v, cap * sizeof *p);
        if (!p)
            return false;
        s->v = p;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return true;
}

#define OOR 0xFFFFFFFFu

/* the state of one run [ini, end) */
typedef struct run {
    const uint32_t *c;
    const uint16_t *f;
    size_t ini, end, prev_end;
    tok_sizes *out;
    bool ok;
} run;

static uint32_t C(const run *r, size_t pos) { return pos >= r->ini && pos < r->end ? r->c[pos] : OOR; }
static uint32_t F(const run *r, size_t pos) { return pos >= r->ini && pos < r->end ? r->f[pos] : 0; }

/* end the current word at end; returns its length */
static size_t add(run *r, size_t end)
{
    size_t len = end - r->prev_end;
    if (len > 0 && !tok_sizes_push(r->out, len))
        r->ok = false;
    r->prev_end = end;
    return len;
}

static bool is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

/* 's 't 're 've 'm 'll 'd at pos (pos holds '\''): length matched, or 0 */
static size_t contraction(const run *r, size_t pos, bool fold)
{
    if (pos + 1 >= r->end)
        return 0;
    uint32_t a = C(r, pos + 1);
    if (fold)
        a = tok_cp_tolower(a);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (pos + 2 >= r->end)
        return 0;
    uint32_t b = C(r, pos + 2);
    if (fold)
        b = tok_cp_tolower(b);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
static void split_gpt2(run *r)
{
    const uint32_t LNW = TOK_CPF_LETTER | TOK_CPF_NUMBER | TOK_CPF_WHITESPACE;
    for (size_t pos = r->ini; pos < r->end;) {
        uint32_t cpt = C(r, pos), fl = F(r, pos);
        if (cpt == '\'') {
            size_t n = contraction(r, pos, false);
            if (n) {
                pos += add(r, pos + n);
                continue;
            }
        }
        uint32_t f2 = cpt == ' ' ? F(r, pos + 1) : fl;
        if (f2 & TOK_CPF_LETTER) {
            pos += cpt == ' ';
            while (f2 & TOK_CPF_LETTER)
                f2 = F(r, ++pos);
            add(r, pos);
            continue;
        }
        if (f2 & TOK_CPF_NUMBER) {
            pos += cpt == ' ';
            while (f2 & TOK_CPF_NUMBER)
                f2 = F(r, ++pos);
            add(r, pos);
            continue;
        }
        if (!(f2 & LNW) && f2) {
            pos += cpt == ' ';
            while (!(f2 & LNW) && f2)
                f2 = F(r, ++pos);
            add(r, pos);
            continue;
        }
        size_t nws = 0;
        while (F(r, pos + nws) & TOK_CPF_WHITESPACE)
            nws++;
        if (nws > 1 && C(r, pos + nws) != OOR) {
            pos += nws - 1;
            add(r, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            add(r, pos);
            continue;
        }
        add(r, ++pos);
    }
}

/* \p{N}{1,3}: a digit run in pieces of at most three, from its start.
 * Returns the position after the run. */
static size_t split_digits3(run *r, size_t pos)
{
    size_t ini = pos;
    while (F(r, pos) & TOK_CPF_NUMBER) {
        if (++pos - ini >= 3) {
            add(r, pos);
            ini = pos;
        }
    }
    add(r, pos);
    return pos;
}

/* The tail the GPT-4-style patterns share: \s*[\r\n]+ | \s+(?!\S) | \s+,
 * or else one code point on its own. Returns the position after the piece. */
static size_t split_space_tail(run *r, size_t pos)
{
    size_t nws = 0, last_crlf_end = 0;
    while (F(r, pos + nws) & TOK_CPF_WHITESPACE) {
        if (is_crlf(C(r, pos + nws)))
            last_crlf_end = pos + nws + 1;
        nws++;
    }
    if (last_crlf_end > 0)
        pos = last_crlf_end;
    else if (nws > 1 && C(r, pos + nws) != OOR)
        pos += nws - 1;
    else if (nws > 0)
        pos += nws;
    else
        pos++;
    add(r, pos);
    return pos;
}

/* Llama 3 / Qwen2 / Qwen3.5:
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Qwen2 takes digits one at a time; Qwen3.5 also counts marks as letters. */
static void split_llama3(run *r, int max_digits, bool marks)
{
    const uint32_t L = TOK_CPF_LETTER | (marks ? TOK_CPF_ACCENT_MARK : 0);
    const uint32_t LNW = L | TOK_CPF_NUMBER | TOK_CPF_WHITESPACE;
    for (size_t pos = r->ini; pos < r->end;) {
        uint32_t cpt = C(r, pos), fl = F(r, pos);
        if (cpt == '\'') {
            size_t n = contraction(r, pos, true);
            if (n) {
                pos += add(r, pos + n);
                continue;
            }
        }
        if (!(is_crlf(cpt) || (fl & TOK_CPF_NUMBER))) {
            if ((fl & L) || (F(r, pos + 1) & L)) {
                pos++;
                while (F(r, pos) & L)
                    pos++;
                add(r, pos);
                continue;
            }
        }
        if (fl & TOK_CPF_NUMBER) {
            if (max_digits == 1) {
                add(r, ++pos);
                continue;
            }
            pos = split_digits3(r, pos);
            continue;
        }
        uint32_t f2 = cpt == ' ' ? F(r, pos + 1) : fl;
        if (!(f2 & LNW) && fl) {
            pos += cpt == ' ';
            while (!(f2 & LNW) && f2)
                f2 = F(r, ++pos);
            while (is_crlf(C(r, pos)))
                pos++;
            add(r, pos);
            continue;
        }
        pos = split_space_tail(r, pos);
    }
}

/* Kimi-K2: Han runs first, then the GPT-4o style pattern with Han excluded
 * from the letter classes. */
static void split_kimi_k2(run *r)
{
    const uint32_t LNW = TOK_CPF_LETTER | TOK_CPF_NUMBER | TOK_CPF_WHITESPACE;
    for (size_t pos = r->ini; pos < r->end;) {
        uint32_t cpt = C(r, pos), fl = F(r, pos);
        if (tok_cp_is_han(cpt)) {
            while (tok_cp_is_han(C(r, pos)))
                pos++;
            add(r, pos);
            continue;
        }
#define KLETTER(p) ((F(r, (p)) & TOK_CPF_LETTER) && !tok_cp_is_han(C(r, (p))))
        bool lead_ok = !(is_crlf(cpt) || (fl & (TOK_CPF_LETTER | TOK_CPF_NUMBER)));
        if (KLETTER(pos) || (lead_ok && KLETTER(pos + 1))) {
            bool has_lead = false, has_letters = false;
            if (lead_ok) {
                has_lead = true;
                pos++;
            }
            while (KLETTER(pos)) {
                has_letters = true;
                pos++;
            }
            if (has_letters || (!has_lead && KLETTER(pos))) {
                if (!has_letters)
                    pos++;
                while (KLETTER(pos))
                    pos++;
                if (C(r, pos) == '\'')
                    pos += contraction(r, pos, true);
                add(r, pos);
                continue;
            } else if (has_lead) {
                pos--;
            }
        }
#undef KLETTER
        if (fl & TOK_CPF_NUMBER) {
            pos = split_digits3(r, pos);
            continue;
        }
        uint32_t f2 = cpt == ' ' ? F(r, pos + 1) : fl;
        if (!(f2 & LNW) && f2) {
            pos += cpt == ' ';
            while (!(f2 & LNW) && f2)
                f2 = F(r, ++pos);
            while (is_crlf(C(r, pos)))
                pos++;
            add(r, pos);
            continue;
        }
        pos = split_space_tail(r, pos);
    }
}

/* AFMoE / tiny_aya digits: a digit run is cut into groups of three counted
 * from its end; the text before a run joins the run's first group. */
static void split_afmoe(run *r)
{
    for (size_t pos = r->ini; pos < r->end;) {
        if (!(F(r, pos) & TOK_CPF_NUMBER)) {
            pos++;
            continue;
        }
        size_t start = pos, count = 0;
        while (pos < r->end && (F(r, pos) & TOK_CPF_NUMBER)) {
            count++;
            pos++;
        }
        size_t cur = start, rem = count % 3;
        if (rem > 0) {
            add(r, cur + rem);
            cur += rem;
        }
        while (cur < start + count) {
            add(r, cur + 3);
            cur += 3;
        }
    }
    if (r->prev_end < r->end)
        add(r, r->end);
}

/* [^\n]+|[\n]+ */
static void split_newlines(run *r)
{
    for (size_t pos = r->ini; pos < r->end;) {
        bool nl = r->c[pos] == '\n';
        while (pos < r->end && (r->c[pos] == '\n') == nl)
            pos++;
        add(r, pos);
    }
}

bool tok_split_custom(enum tok_split_kind kind, const uint32_t *cpts, const uint16_t *flags,
                      const size_t *in, size_t n_in, tok_sizes *out)
{
    size_t start = 0;
    for (size_t i = 0; i < n_in; i++) {
        run r = {cpts, flags, start, start + in[i], start, out, true};
        start += in[i];
        switch (kind) {
        case TOK_SPLIT_GPT2: split_gpt2(&r); break;
        case TOK_SPLIT_LLAMA3: split_llama3(&r, 3, false); break;
        case TOK_SPLIT_QWEN2: split_llama3(&r, 1, false); break;
        case TOK_SPLIT_QWEN35: split_llama3(&r, 1, true); break;
        case TOK_SPLIT_KIMI_K2: split_kimi_k2(&r); break;
        case TOK_SPLIT_AFMOE: split_afmoe(&r); break;
        case TOK_SPLIT_NEWLINES: split_newlines(&r); break;
        }
        if (!r.ok)
            return false;
    }
    return true;
}
