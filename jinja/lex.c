/*
 * lex.c: Jinja source → tokens.
 *
 * The template alternates text with {{ expression }}, {% statement %} and
 * {# comment #}. Whitespace is settled here, as jinja2's lexer settles it,
 * so the parser sees the text that will be output:
 *   - a '-' inside a delimiter ({%- -%}, {{- -}}, {#- -#}) strips all the
 *     whitespace before or after it;
 *   - trim_blocks: the first newline after a statement or comment goes;
 *   - lstrip_blocks: spaces and tabs between the start of a line and a
 *     statement or comment go, unless it opens with {%+ .
 * {% raw %}...{% endraw %} is text. Inside a tag: names, numbers, strings
 * (quotes ' or ", Python's escapes) and operators; every token keeps its
 * line and column for messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja/jinja.h"
#include "support/error.h"

typedef struct lexer {
    arena *a;
    const char *src, *end, *p, *name;
    int line;
    const char *line_start;
    jtok *t;
    size_t n, cap;
    rf_error *err;
} lexer;

static rf_status lfail(lexer *L, const char *at, const char *fmt, const char *what)
{
    int line = 1;
    const char *ls = L->src;
    for (const char *q = L->src; q < at; q++)
        if (*q == '\n')
            line++, ls = q + 1;
    return rf_fail(L->err, RF_E_FORMAT, "%s:%d:%d: %s%s", L->name, line, (int)(at - ls) + 1, fmt, what);
}

static jtok *push(lexer *L, jtok_kind k, const char *at)
{
    if (L->n == L->cap) {
        size_t cap = L->cap ? 2 * L->cap : 256;
        jtok *nt = arena_alloc(L->a, cap * sizeof *nt);
        if (!nt)
            return NULL;
        if (L->n)
            memcpy(nt, L->t, L->n * sizeof *nt);
        L->t = nt;
        L->cap = cap;
    }
    int line = 1;
    const char *ls = L->src;
    /* positions: counted from the last token's line (tokens come in order) */
    if (L->n) {
        line = L->line;
        ls = L->line_start;
    }
    for (const char *q = ls; q < at; q++)
        if (*q == '\n')
            line++, ls = q + 1;
    L->line = line;
    L->line_start = ls;
    jtok *t = &L->t[L->n++];
    memset(t, 0, sizeof *t);
    t->kind = k;
    t->line = line;
    t->col = (int)(at - ls) + 1;
    t->p = at;
    return t;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static bool is_name0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* the next tag opening at or after p: its start, or end */
static const char *next_tag(const char *p, const char *end)
{
    for (; p + 1 < end; p++)
        if (p[0] == '{' && (p[1] == '{' || p[1] == '%' || p[1] == '#'))
            return p;
    return end;
}

/* appends text [s, e) unless empty */
static rf_status text(lexer *L, const char *s, const char *e)
{
    if (e <= s)
        return RF_OK;
    jtok *t = push(L, JT_TEXT, s);
    if (!t)
        return rf_fail(L->err, RF_E_NOMEM, "out of memory");
    t->n = (size_t)(e - s);
    return RF_OK;
}

static void utf8_put(char *out, size_t *o, unsigned cp)
{
    if (cp < 0x80) {
        out[(*o)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*o)++] = (char)(0xc0 | cp >> 6);
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*o)++] = (char)(0xe0 | cp >> 12);
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*o)++] = (char)(0xf0 | cp >> 18);
        out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    }
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* a string literal at L->p (its quote); Python's escapes */
static rf_status string(lexer *L)
{
    const char *s = L->p;
    char q = *L->p++;
    const char *b = L->p;
    while (L->p < L->end && *L->p != q)
        L->p += *L->p == '\\' && L->p + 1 < L->end ? 2 : 1;
    if (L->p >= L->end)
        return lfail(L, s, "unterminated string", "");
    size_t n = (size_t)(L->p - b), o = 0;
    char *out = arena_alloc(L->a, n + 1);
    if (!out)
        return rf_fail(L->err, RF_E_NOMEM, "out of memory");
    for (const char *c = b; c < L->p; c++) {
        if (*c != '\\') {
            out[o++] = *c;
            continue;
        }
        c++;
        int digits = *c == 'x' ? 2 : *c == 'u' ? 4 : *c == 'U' ? 8 : 0;
        if (digits) {
            unsigned cp = 0;
            int k = 0;
            for (; k < digits && c + 1 + k < L->p && hexval(c[1 + k]) >= 0; k++)
                cp = cp * 16 + (unsigned)hexval(c[1 + k]);
            if (k == digits && cp <= 0x10ffff) { /* its UTF-8 is shorter than the escape */
                utf8_put(out, &o, cp);
                c += digits;
                continue;
            }
            out[o++] = '\\';
            out[o++] = *c;
            continue;
        }
        switch (*c) {
        case 'n': out[o++] = '\n'; break;
        case 't': out[o++] = '\t'; break;
        case 'r': out[o++] = '\r'; break;
        case '\\': out[o++] = '\\'; break;
        case '\'': out[o++] = '\''; break;
        case '"': out[o++] = '"'; break;
        case '\n': break; /* a line continuation */
        default:
            out[o++] = '\\';
            out[o++] = *c;
        }
    }
    out[o] = 0;
    jtok *t = push(L, JT_STRING, s);
    if (!t)
        return rf_fail(L->err, RF_E_NOMEM, "out of memory");
    t->p = out;
    t->n = o;
    L->p++;
    return RF_OK;
}

static rf_status number(lexer *L)
{
    const char *s = L->p;
    char buf[64];
    size_t o = 0;
    bool flt = false;
    while (L->p < L->end && (is_digit(*L->p) || *L->p == '_' ||
                             (*L->p == '.' && L->p + 1 < L->end && is_digit(L->p[1]) && !flt) ||
                             ((*L->p == 'e' || *L->p == 'E') && o))) {
        if (*L->p == 'e' || *L->p == 'E') {
            flt = true;
            if (o < sizeof buf - 2)
                buf[o++] = *L->p;
            L->p++;
            if (L->p < L->end && (*L->p == '+' || *L->p == '-') && o < sizeof buf - 1)
                buf[o++] = *L->p++;
            continue;
        }
        if (*L->p == '.')
            flt = true;
        if (*L->p != '_' && o < sizeof buf - 1)
            buf[o++] = *L->p;
        L->p++;
    }
    buf[o] = 0;
    jtok *t = push(L, flt ? JT_FLOAT : JT_INT, s);
    if (!t)
        return rf_fail(L->err, RF_E_NOMEM, "out of memory");
    if (flt)
        t->f = strtod(buf, NULL);
    else
        t->i = strtoll(buf, NULL, 10);
    t->n = (size_t)(L->p - s);
    return RF_OK;
}

/* The tokens of one tag's inside, up to its closing delimiter close ("}}",
 * "%}", "#}"); *trim: the close had a '-', *plus: it had a '+'. */
static rf_status tag(lexer *L, const char *close, bool *trim, bool *plus)
{
    static const char *const ops2[] = {"//", "**", "==", "!=", "<=", ">="};
    const char *open = L->p - 2;
    int depth = 0; /* open braces of dict literals: their "}}" does not close */
    *trim = *plus = false;
    for (;;) {
        while (L->p < L->end && is_space(*L->p))
            L->p++;
        if (L->p >= L->end)
            return lfail(L, open, "unclosed tag, expected ", close);
        if (!depth && (*L->p == '-' || *L->p == '+') && L->p + 2 < L->end && L->p[1] == close[0] &&
            L->p[2] == close[1]) {
            *trim = *L->p == '-';
            *plus = *L->p == '+';
            L->p += 3;
            return RF_OK;
        }
        if (!depth && L->p + 1 < L->end && L->p[0] == close[0] && L->p[1] == close[1]) {
            L->p += 2;
            return RF_OK;
        }
        rf_status s = RF_OK;
        if (*L->p == '\'' || *L->p == '"') {
            s = string(L);
        } else if (is_digit(*L->p)) {
            s = number(L);
        } else if (is_name0(*L->p)) {
            const char *b = L->p;
            while (L->p < L->end && (is_name0(*L->p) || is_digit(*L->p)))
                L->p++;
            jtok *t = push(L, JT_NAME, b);
            if (!t)
                return rf_fail(L->err, RF_E_NOMEM, "out of memory");
            t->n = (size_t)(L->p - b);
        } else {
            size_t n = 1;
            for (size_t i = 0; i < sizeof ops2 / sizeof ops2[0]; i++)
                if (L->p + 1 < L->end && L->p[0] == ops2[i][0] && L->p[1] == ops2[i][1])
                    n = 2;
            if (n == 1 && !strchr("+-*/%~<>=.,:|()[]{}!", *L->p)) {
                char what[8];
                snprintf(what, sizeof what, "'%c'", *L->p);
                return lfail(L, L->p, "unexpected character ", what);
            }
            jtok *t = push(L, JT_OP, L->p);
            if (!t)
                return rf_fail(L->err, RF_E_NOMEM, "out of memory");
            t->n = n;
            depth += *L->p == '{' ? 1 : *L->p == '}' && depth ? -1 : 0;
            L->p += n;
        }
        if (s != RF_OK)
            return s;
    }
}

/* Is the block at p (after "{%" and whitespace control) "raw"? Returns the
 * end of the tag when so. */
static const char *raw_tag(const char *p, const char *end, const char *word)
{
    if (p < end && (*p == '-' || *p == '+'))
        p++;
    while (p < end && is_space(*p))
        p++;
    size_t n = strlen(word);
    if ((size_t)(end - p) < n || memcmp(p, word, n) || (p + n < end && (is_name0(p[n]) || is_digit(p[n]))))
        return NULL;
    p += n;
    while (p < end && is_space(*p))
        p++;
    if (p < end && *p == '-')
        p++;
    return p + 1 < end && p[0] == '%' && p[1] == '}' ? p + 2 : NULL;
}

rf_status jinja_lex(arena *a, const char *src, size_t len, const char *name, jtoks *out, rf_error *err)
{
    lexer L = {.a = a, .src = src, .end = src + len, .p = src, .name = name, .err = err};
    bool strip_next = false, trim_next = false;
    while (L.p < L.end) {
        const char *t0 = next_tag(L.p, L.end), *s = L.p, *e = t0;
        if (strip_next)
            while (s < e && is_space(*s))
                s++;
        else if (trim_next && s < e && (*s == '\n' || (*s == '\r' && s + 1 < e && s[1] == '\n')))
            s += *s == '\r' ? 2 : 1;
        if (t0 == L.end) {
            rf_status st = text(&L, s, e);
            if (st != RF_OK)
                return st;
            break;
        }
        char kind = t0[1];
        char ctl = t0 + 2 < L.end ? t0[2] : 0;
        if (ctl == '-') {
            while (e > s && is_space(e[-1]))
                e--;
        } else if (kind != '{' && ctl != '+') { /* lstrip_blocks: only blanks between the line start and the tag */
            const char *q = e;
            while (q > s && (q[-1] == ' ' || q[-1] == '\t'))
                q--;
            if (q == L.src || (q > L.src && q[-1] == '\n'))
                e = q;
        }
        rf_status st = text(&L, s, e);
        if (st != RF_OK)
            return st;
        L.p = t0 + 2 + (ctl == '-' || ctl == '+');
        bool trim = false, plus = false;
        if (kind == '#') {
            const char *c = L.p;
            while (c + 1 < L.end && !(c[0] == '#' && c[1] == '}'))
                c++;
            if (c + 1 >= L.end)
                return lfail(&L, t0, "unclosed comment", "");
            trim = c > L.p && c[-1] == '-';
            plus = c > L.p && c[-1] == '+';
            L.p = c + 2;
        } else if (kind == '%' && raw_tag(L.p, L.end, "raw")) {
            const char *body = raw_tag(L.p, L.end, "raw"), *c = body, *close = NULL;
            for (; c + 1 < L.end; c++)
                if (c[0] == '{' && c[1] == '%' && (close = raw_tag(c + 2, L.end, "endraw")))
                    break;
            if (!close)
                return lfail(&L, t0, "raw block without endraw", "");
            const char *be = c;
            if (c + 2 < L.end && c[2] == '-')
                while (be > body && is_space(be[-1]))
                    be--;
            if ((st = text(&L, body, be)) != RF_OK)
                return st;
            trim = close[-3] == '-';
            L.p = close;
        } else {
            jtok *open = push(&L, kind == '{' ? JT_VAR_BEGIN : JT_BLOCK_BEGIN, t0);
            if (!open)
                return rf_fail(err, RF_E_NOMEM, "out of memory");
            if ((st = tag(&L, kind == '{' ? "}}" : "%}", &trim, &plus)) != RF_OK)
                return st;
            if (!push(&L, kind == '{' ? JT_VAR_END : JT_BLOCK_END, L.p - 2))
                return rf_fail(err, RF_E_NOMEM, "out of memory");
        }
        strip_next = trim;
        trim_next = kind != '{' && !plus; /* trim_blocks */
    }
    if (!push(&L, JT_EOF, L.end))
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    out->t = L.t;
    out->n = L.n;
    return RF_OK;
}
