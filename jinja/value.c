/*
 * value.c: Jinja values as Python has them.
 *
 * A template's output is Python's str() of its values, so this file is the
 * Python object model in miniature: equality where 1 == 1.0 == True, the
 * ordering of numbers and of strings (UTF-8 bytes compare in code-point
 * order), truthiness, str() and repr() (a float's shortest round-trip
 * digits, a string's quotes chosen as Python chooses them), and
 * json.dumps(ensure_ascii=False) for tojson. Lists and dicts grow inside the
 * render's arena (a grown array is copied; the old one is left to the
 * arena), dicts keep insertion order and find keys by a linear scan: chat
 * messages have a handful of keys.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja/jinja.h"

/* ---- strings ------------------------------------------------------------------- */

jv jv_str(arena *a, const char *s, size_t n)
{
    jstr *js = arena_alloc(a, sizeof *js + n + 1);
    if (!js)
        return JV_UNDEFINED;
    js->n = n;
    if (n)
        memcpy(js->p, s, n);
    js->p[n] = 0;
    return (jv){.kind = JV_STR, .s = js};
}

size_t jstr_cps(const jstr *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += ((unsigned char)s->p[i] & 0xc0) != 0x80;
    return n;
}

size_t jstr_cp_next(const jstr *s, size_t off)
{
    for (off++; off < s->n && ((unsigned char)s->p[off] & 0xc0) == 0x80; off++)
        ;
    return off < s->n ? off : s->n;
}

size_t jstr_cp_offset(const jstr *s, size_t i)
{
    size_t off = 0;
    for (size_t cp = 0; off < s->n; off++)
        if (((unsigned char)s->p[off] & 0xc0) != 0x80 && cp++ == i)
            return off;
    return s->n;
}

/* ---- lists and dicts ------------------------------------------------------------ */

jv jv_list(arena *a)
{
    jlist *l = arena_calloc(a, 1, sizeof *l);
    return l ? (jv){.kind = JV_LIST, .l = l} : JV_UNDEFINED;
}

jv jv_dict(arena *a)
{
    jdict *d = arena_calloc(a, 1, sizeof *d);
    return d ? (jv){.kind = JV_DICT, .d = d} : JV_UNDEFINED;
}

bool jlist_push(arena *a, jlist *l, jv v)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        jv *nv = arena_alloc(a, cap * sizeof *nv);
        if (!nv)
            return false;
        if (l->n)
            memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return true;
}

static size_t dict_find(const jdict *d, jv k)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].kind == k.kind || (jv_is_number(d->k[i]) && jv_is_number(k)))
            if (jv_equal(d->k[i], k))
                return i;
    return d->n;
}

bool jdict_set(arena *a, jdict *d, jv k, jv v)
{
    size_t i = dict_find(d, k);
    if (i < d->n) {
        d->v[i] = v;
        return true;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        jv *nk = arena_alloc(a, cap * sizeof *nk), *nv = arena_alloc(a, cap * sizeof *nv);
        if (!nk || !nv)
            return false;
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk, d->v = nv, d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n++] = v;
    return true;
}

jv jdict_get(const jdict *d, jv k)
{
    size_t i = dict_find(d, k);
    return i < d->n ? d->v[i] : JV_UNDEFINED;
}

jv jdict_get_s(const jdict *d, const char *k)
{
    size_t n = strlen(k);
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].kind == JV_STR && d->k[i].s->n == n && !memcmp(d->k[i].s->p, k, n))
            return d->v[i];
    return JV_UNDEFINED;
}

/* ---- Python semantics ------------------------------------------------------------ */

bool jv_is_number(jv v) { return v.kind == JV_INT || v.kind == JV_FLOAT || v.kind == JV_BOOL; }

double jv_num(jv v)
{
    return v.kind == JV_INT ? (double)v.i : v.kind == JV_FLOAT ? v.f : v.kind == JV_BOOL ? (double)v.b : 0.0;
}

bool jv_truthy(jv v)
{
    switch (v.kind) {
    case JV_UNDEF:
    case JV_NONE: return false;
    case JV_BOOL: return v.b;
    case JV_INT: return v.i != 0;
    case JV_FLOAT: return v.f != 0.0;
    case JV_STR: return v.s->n > 0;
    case JV_LIST: return v.l->n > 0;
    case JV_DICT: return v.d->n > 0;
    default: return true;
    }
}

bool jv_equal(jv a, jv b)
{
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a.kind != JV_FLOAT && b.kind != JV_FLOAT)
            return (a.kind == JV_INT ? a.i : a.b) == (b.kind == JV_INT ? b.i : b.b);
        return jv_num(a) == jv_num(b);
    }
    if (a.kind != b.kind)
        return false;
    switch (a.kind) {
    case JV_UNDEF:
    case JV_NONE: return true;
    case JV_STR: return a.s->n == b.s->n && !memcmp(a.s->p, b.s->p, a.s->n);
    case JV_LIST:
        if (a.l->n != b.l->n)
            return false;
        for (size_t i = 0; i < a.l->n; i++)
            if (!jv_equal(a.l->v[i], b.l->v[i]))
                return false;
        return true;
    case JV_DICT:
    case JV_NS:
        if (a.d->n != b.d->n)
            return false;
        for (size_t i = 0; i < a.d->n; i++) {
            jv o = jdict_get(b.d, a.d->k[i]);
            if (o.kind == JV_UNDEF || !jv_equal(a.d->v[i], o))
                return false;
        }
        return true;
    case JV_MACRO: return a.m == b.m;
    case JV_FUNC: return a.fn == b.fn;
    case JV_LOOP: return a.loop == b.loop;
    default: return false;
    }
}

int jv_compare(jv a, jv b, bool *ok)
{
    *ok = true;
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a.kind != JV_FLOAT && b.kind != JV_FLOAT) {
            int64_t x = a.kind == JV_INT ? a.i : a.b, y = b.kind == JV_INT ? b.i : b.b;
            return (x > y) - (x < y);
        }
        double x = jv_num(a), y = jv_num(b);
        return (x > y) - (x < y);
    }
    if (a.kind == JV_STR && b.kind == JV_STR) { /* UTF-8 bytes order as code points */
        size_t n = a.s->n < b.s->n ? a.s->n : b.s->n;
        int c = memcmp(a.s->p, b.s->p, n);
        return c ? (c > 0) - (c < 0) : (a.s->n > b.s->n) - (a.s->n < b.s->n);
    }
    if (a.kind == JV_LIST && b.kind == JV_LIST) {
        for (size_t i = 0; i < a.l->n && i < b.l->n; i++) {
            if (jv_equal(a.l->v[i], b.l->v[i]))
                continue;
            return jv_compare(a.l->v[i], b.l->v[i], ok);
        }
        return (a.l->n > b.l->n) - (a.l->n < b.l->n);
    }
    *ok = false;
    return 0;
}

const char *jv_type_name(jv v)
{
    if (v.kind == JV_LIST && v.l->gen)
        return "generator";
    static const char *const names[] = {"Undefined", "NoneType", "bool", "int",   "float", "str",
                                        "list",      "dict",     "Namespace", "Macro", "function", "LoopContext"};
    return names[v.kind];
}

/* ---- str, repr, json ---------------------------------------------------------------- */

/* Python's repr of a float: the shortest digits that read back as f, fixed
 * notation for exponents -4..15, else d.ddde+XX */
static void float_to(strbuf *b, double f)
{
    if (isnan(f)) {
        strbuf_puts(b, "nan");
        return;
    }
    if (isinf(f)) {
        strbuf_puts(b, f < 0 ? "-inf" : "inf");
        return;
    }
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, f);
        if (strtod(e, NULL) == f)
            break;
    }
    /* e: [-]d[.ddd]e[+-]XX */
    const char *p = e;
    char sign = 0;
    if (*p == '-')
        sign = '-', p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int exp = atoi(p + 1);
    char out[64];
    size_t o = 0;
    if (sign)
        out[o++] = sign;
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            out[o++] = '0', out[o++] = '.';
            for (int i = -1; i > exp; i--)
                out[o++] = '0';
            for (size_t i = 0; i < nd; i++)
                out[o++] = digits[i];
        } else {
            for (int i = 0; i <= exp; i++)
                out[o++] = (size_t)i < nd ? digits[i] : '0';
            out[o++] = '.';
            if ((size_t)exp + 1 < nd)
                for (size_t i = (size_t)exp + 1; i < nd; i++)
                    out[o++] = digits[i];
            else
                out[o++] = '0';
        }
        out[o] = 0;
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (size_t i = 1; i < nd; i++)
                out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    strbuf_puts(b, out);
}

static void str_repr_to(strbuf *b, const jstr *s)
{
    bool sq = memchr(s->p, '\'', s->n) != NULL, dq = memchr(s->p, '"', s->n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    strbuf_put(b, &q, 1);
    for (size_t i = 0; i < s->n; i++) {
        unsigned char c = (unsigned char)s->p[i];
        char esc[8];
        if (c == '\\' || c == (unsigned char)q) {
            esc[0] = '\\', esc[1] = (char)c;
            strbuf_put(b, esc, 2);
        } else if (c == '\n') {
            strbuf_puts(b, "\\n");
        } else if (c == '\r') {
            strbuf_puts(b, "\\r");
        } else if (c == '\t') {
            strbuf_puts(b, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            strbuf_puts(b, esc);
        } else {
            strbuf_put(b, (const char *)&s->p[i], 1);
        }
    }
    strbuf_put(b, &q, 1);
}

void jv_repr_to(strbuf *b, jv v)
{
    switch (v.kind) {
    case JV_STR: str_repr_to(b, v.s); return;
    case JV_LIST:
        strbuf_puts(b, v.l->tuple ? "(" : "[");
        for (size_t i = 0; i < v.l->n; i++) {
            if (i)
                strbuf_puts(b, ", ");
            jv_repr_to(b, v.l->v[i]);
        }
        strbuf_puts(b, v.l->tuple ? (v.l->n == 1 ? ",)" : ")") : "]");
        return;
    case JV_DICT:
        strbuf_puts(b, "{");
        for (size_t i = 0; i < v.d->n; i++) {
            if (i)
                strbuf_puts(b, ", ");
            jv_repr_to(b, v.d->k[i]);
            strbuf_puts(b, ": ");
            jv_repr_to(b, v.d->v[i]);
        }
        strbuf_puts(b, "}");
        return;
    default: jv_str_to(b, v); return;
    }
}

void jv_str_to(strbuf *b, jv v)
{
    char num[32];
    switch (v.kind) {
    case JV_UNDEF: return;
    case JV_NONE: strbuf_puts(b, "None"); return;
    case JV_BOOL: strbuf_puts(b, v.b ? "True" : "False"); return;
    case JV_INT:
        snprintf(num, sizeof num, "%lld", (long long)v.i);
        strbuf_puts(b, num);
        return;
    case JV_FLOAT: float_to(b, v.f); return;
    case JV_STR: strbuf_put(b, v.s->p, v.s->n); return;
    case JV_LIST:
    case JV_DICT: jv_repr_to(b, v); return;
    case JV_NS: strbuf_puts(b, "<Namespace>"); return;
    case JV_MACRO: strbuf_puts(b, "<Macro>"); return;
    case JV_FUNC: strbuf_puts(b, "<function>"); return;
    case JV_LOOP: strbuf_puts(b, "<LoopContext>"); return;
    }
}

static void json_str_to(strbuf *b, const char *p, size_t n)
{
    strbuf_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        char esc[8];
        switch (c) {
        case '"': strbuf_puts(b, "\\\""); break;
        case '\\': strbuf_puts(b, "\\\\"); break;
        case '\n': strbuf_puts(b, "\\n"); break;
        case '\r': strbuf_puts(b, "\\r"); break;
        case '\t': strbuf_puts(b, "\\t"); break;
        case '\b': strbuf_puts(b, "\\b"); break;
        case '\f': strbuf_puts(b, "\\f"); break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                strbuf_puts(b, esc);
            } else {
                strbuf_put(b, (const char *)&p[i], 1);
            }
        }
    }
    strbuf_puts(b, "\"");
}

static void newline_indent(strbuf *b, int indent, int level)
{
    strbuf_puts(b, "\n");
    for (int i = 0; i < indent * level; i++)
        strbuf_puts(b, " ");
}

static int key_cmp(const strbuf *a, const strbuf *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    int c = n ? memcmp(a->p, b->p, n) : 0;
    return c ? c : (a->n > b->n) - (a->n < b->n);
}

static bool json_to(strbuf *b, jv v, int indent, const char *isep, const char *ksep, bool sort, int level)
{
    switch (v.kind) {
    case JV_NONE: strbuf_puts(b, "null"); return true;
    case JV_BOOL: strbuf_puts(b, v.b ? "true" : "false"); return true;
    case JV_INT: jv_str_to(b, v); return true;
    case JV_FLOAT:
        if (isnan(v.f) || isinf(v.f))
            strbuf_puts(b, isnan(v.f) ? "NaN" : v.f < 0 ? "-Infinity" : "Infinity");
        else
            float_to(b, v.f);
        return true;
    case JV_STR: json_str_to(b, v.s->p, v.s->n); return true;
    case JV_LIST:
        if (v.l->gen) /* json.dumps cannot serialise a generator */
            return false;
        if (!v.l->n) {
            strbuf_puts(b, "[]");
            return true;
        }
        strbuf_puts(b, "[");
        for (size_t i = 0; i < v.l->n; i++) {
            if (i)
                strbuf_puts(b, isep);
            if (indent >= 0)
                newline_indent(b, indent, level + 1);
            if (!json_to(b, v.l->v[i], indent, isep, ksep, sort, level + 1))
                return false;
        }
        if (indent >= 0)
            newline_indent(b, indent, level);
        strbuf_puts(b, "]");
        return true;
    case JV_DICT:
    case JV_NS: {
        size_t n = v.d->n;
        if (!n) {
            strbuf_puts(b, "{}");
            return true;
        }
        /* keys as json.dumps writes them: strings, and numbers, booleans
         * and None as their JSON text */
        strbuf *kt = calloc(n, sizeof *kt);
        size_t *order = malloc(n * sizeof *order);
        bool ok = kt && order;
        for (size_t i = 0; ok && i < n; i++) {
            jv k = v.d->k[i];
            order[i] = i;
            if (k.kind == JV_STR)
                strbuf_put(&kt[i], k.s->p, k.s->n);
            else if (k.kind == JV_BOOL || k.kind == JV_NONE)
                strbuf_puts(&kt[i], k.kind == JV_NONE ? "null" : k.b ? "true" : "false");
            else if (k.kind == JV_INT || k.kind == JV_FLOAT)
                jv_str_to(&kt[i], k);
            else
                ok = false;
            ok = ok && !kt[i].oom;
        }
        if (ok && sort) /* by key text, stable */
            for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && key_cmp(&kt[order[j - 1]], &kt[order[j]]) > 0; j--) {
                    size_t t = order[j];
                    order[j] = order[j - 1];
                    order[j - 1] = t;
                }
        if (ok) {
            strbuf_puts(b, "{");
            for (size_t r = 0; ok && r < n; r++) {
                size_t i = order[r];
                if (r)
                    strbuf_puts(b, isep);
                if (indent >= 0)
                    newline_indent(b, indent, level + 1);
                json_str_to(b, kt[i].p ? kt[i].p : "", kt[i].n);
                strbuf_puts(b, ksep);
                ok = json_to(b, v.d->v[i], indent, isep, ksep, sort, level + 1);
            }
            if (indent >= 0)
                newline_indent(b, indent, level);
            strbuf_puts(b, "}");
        }
        for (size_t i = 0; kt && i < n; i++)
            free(kt[i].p);
        free(kt);
        free(order);
        return ok;
    }
    default: return false;
    }
}

bool jv_json_to(strbuf *b, jv v, int indent, const char *item_sep, const char *key_sep, bool sort_keys)
{
    if (!item_sep)
        item_sep = indent >= 0 ? "," : ", ";
    if (!key_sep)
        key_sep = ": ";
    return json_to(b, v, indent, item_sep, key_sep, sort_keys, 0);
}
