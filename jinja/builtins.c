/*
 * builtins.c: what a chat template calls: jinja2's filters and tests, the
 * methods of Python's str, dict and list that templates use, the fields of
 * `loop`, and the globals transformers adds (raise_exception,
 * strftime_now) next to jinja2's (range, dict, namespace).
 *
 * Each behaves as its Python original in the environment transformers
 * renders with (ImmutableSandboxedEnvironment): tojson is json.dumps with
 * ensure_ascii off (not jinja2's HTML-safe one); methods that change a list
 * or dict are refused, as that sandbox refuses them; strings are handled by
 * code point. Whitespace for strip and split is ASCII's plus U+0085 and
 * U+00A0, not every Unicode space. A name we do not have is an error that
 * says so, never a silent empty string.
 *
 * Over 800 lines on purpose: a list of small independent functions, each
 * one Python's, sharing the string helpers at the top; split, the filters
 * and the str methods that are the same operation would drift apart.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jinja/jinja.h"

static const jfunc G_RANGE = {"range"}, G_DICT = {"dict"}, G_NAMESPACE = {"namespace"},
                   G_RAISE = {"raise_exception"}, G_STRFTIME = {"strftime_now"};

jv jb_global(const char *name)
{
    static const jfunc *const all[] = {&G_RANGE, &G_DICT, &G_NAMESPACE, &G_RAISE, &G_STRFTIME};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(name, all[i]->name))
            return (jv){.kind = JV_FUNC, .fn = all[i]};
    return JV_UNDEFINED;
}

/* ---- helpers ---------------------------------------------------------------------- */

static jv str_of(jctx *c, jv v)
{
    if (v.kind == JV_STR)
        return v;
    strbuf b = {0};
    jv_str_to(&b, v);
    jv r = b.oom ? jctx_fail(c, NULL, "out of memory") : jv_str(jctx_arena(c), b.p ? b.p : "", b.n);
    free(b.p);
    return r;
}

static jv buf_str(jctx *c, strbuf *b)
{
    jv r = b->oom                    ? jctx_fail(c, NULL, "out of memory")
           : b->n > JINJA_MAX_TEXT ? jctx_fail(c, NULL, "a string of more than %d MiB", JINJA_MAX_TEXT >> 20)
                                     : jv_str(jctx_arena(c), b->p ? b->p : "", b->n);
    free(b->p);
    *b = (strbuf){0};
    return r;
}

static jv kwarg(const char *const *kw, const jv *kwv, size_t n_kw, const char *name)
{
    for (size_t i = 0; i < n_kw; i++)
        if (!strcmp(kw[i], name))
            return kwv[i];
    return JV_UNDEFINED;
}

/* positional i, else keyword name, else undefined */
static jv arg(const jv *a, size_t n, size_t i, const char *const *kw, const jv *kwv, size_t n_kw, const char *name)
{
    if (i < n)
        return a[i];
    return name ? kwarg(kw, kwv, n_kw, name) : JV_UNDEFINED;
}

static bool is_ws(const char *p, size_t n, size_t *len)
{
    unsigned char c = (unsigned char)p[0];
    if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f)) {
        *len = 1;
        return true;
    }
    if (n >= 2 && c == 0xc2 && ((unsigned char)p[1] == 0x85 || (unsigned char)p[1] == 0xa0)) {
        *len = 2;
        return true;
    }
    return false;
}

/* str.strip: which = 1 left, 2 right, 3 both; chars NULL: whitespace */
static jv strip(jctx *c, const jstr *s, const jstr *chars, int which)
{
    size_t b = 0, e = s->n, k;
    if (which & 1)
        while (b < e) {
            if (chars ? (memchr(chars->p, s->p[b], chars->n) != NULL && (k = 1)) : is_ws(s->p + b, e - b, &k))
                b += k;
            else
                break;
        }
    if (which & 2)
        while (e > b) {
            size_t st = e - 1;
            while (st > b && ((unsigned char)s->p[st] & 0xc0) == 0x80)
                st--;
            if (chars ? memchr(chars->p, s->p[e - 1], chars->n) != NULL && e - 1 == st
                      : is_ws(s->p + st, e - st, &k) && st + k == e)
                e = st;
            else
                break;
        }
    return jv_str(jctx_arena(c), s->p + b, e - b);
}

static jv map_case(jctx *c, const jstr *s, int mode) /* 0 upper, 1 lower, 2 capitalize, 3 title */
{
    jv r = jv_str(jctx_arena(c), s->p, s->n);
    if (r.kind != JV_STR)
        return r;
    char *p = (char *)r.s->p;
    bool start = true;
    for (size_t i = 0; i < s->n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x80) {
            start = false;
            continue;
        }
        bool up = mode == 0 || (mode == 2 && i == 0) || (mode == 3 && start);
        p[i] = (char)(up ? toupper(ch) : tolower(ch));
        start = !isalpha(ch);
    }
    return r;
}

static bool starts_with(const jstr *s, const jstr *p) { return p->n <= s->n && !memcmp(s->p, p->p, p->n); }
static bool ends_with(const jstr *s, const jstr *p) { return p->n <= s->n && !memcmp(s->p + s->n - p->n, p->p, p->n); }

static jv replace(jctx *c, const jstr *s, const jstr *old, const jstr *new, int64_t count)
{
    strbuf b = {0};
    size_t i = 0;
    int64_t done = 0;
    if (!old->n) { /* Python inserts new between every code point */
        for (size_t ob = 0;; ob = jstr_cp_next(s, ob)) {
            if (count < 0 || done < count) {
                strbuf_put(&b, new->p, new->n);
                done++;
            }
            if (ob >= s->n)
                break;
            strbuf_put(&b, s->p + ob, jstr_cp_next(s, ob) - ob);
        }
        return buf_str(c, &b);
    }
    while (i < s->n) {
        if ((count < 0 || done < count) && i + old->n <= s->n && !memcmp(s->p + i, old->p, old->n)) {
            strbuf_put(&b, new->p, new->n);
            i += old->n;
            done++;
        } else {
            strbuf_put(&b, s->p + i, 1);
            i++;
        }
    }
    return buf_str(c, &b);
}

static jv split(jctx *c, const jstr *s, const jstr *sep, int64_t maxsplit)
{
    arena *a = jctx_arena(c);
    jv l = jv_list(a);
    if (l.kind != JV_LIST)
        return l;
    size_t i = 0, k;
    int64_t done = 0;
    if (!sep) { /* runs of whitespace, none empty */
        while (i < s->n) {
            while (i < s->n && is_ws(s->p + i, s->n - i, &k))
                i += k;
            if (i >= s->n)
                break;
            size_t b = i;
            if (maxsplit >= 0 && done >= maxsplit) {
                size_t e = s->n;
                while (e > b && is_ws(s->p + e - 1, 1, &k))
                    e--;
                jlist_push(a, l.l, jv_str(a, s->p + b, e - b));
                break;
            }
            while (i < s->n && !is_ws(s->p + i, s->n - i, &k))
                i++;
            jlist_push(a, l.l, jv_str(a, s->p + b, i - b));
            done++;
        }
        return l;
    }
    if (!sep->n)
        return jctx_fail(c, NULL, "empty separator");
    size_t b = 0;
    for (i = 0; i + sep->n <= s->n;) {
        if ((maxsplit < 0 || done < maxsplit) && !memcmp(s->p + i, sep->p, sep->n)) {
            jlist_push(a, l.l, jv_str(a, s->p + b, i - b));
            i += sep->n;
            b = i;
            done++;
        } else {
            i++;
        }
    }
    jlist_push(a, l.l, jv_str(a, s->p + b, s->n - b));
    return l;
}

static int64_t find(const jstr *s, const jstr *sub, bool last)
{
    if (sub->n > s->n)
        return -1;
    int64_t hit = -1;
    for (size_t i = 0; i + sub->n <= s->n; i++)
        if (!memcmp(s->p + i, sub->p, sub->n)) {
            hit = (int64_t)i;
            if (!last)
                break;
        }
    if (hit < 0)
        return -1;
    int64_t cp = 0; /* the byte offset as a code point index */
    for (int64_t i = 0; i < hit; i++)
        cp += ((unsigned char)s->p[i] & 0xc0) != 0x80;
    return cp;
}

static jv as_list(jctx *c, const jnode *at, jv v)
{
    arena *a = jctx_arena(c);
    if (v.kind == JV_LIST)
        return v;
    if (v.kind == JV_STR)
        return jctx_chars(c, at, v.s);
    jv l = jv_list(a);
    if (v.kind == JV_DICT || v.kind == JV_NS) {
        for (size_t i = 0; i < v.d->n; i++)
            jlist_push(a, l.l, v.d->k[i]);
    } else if (v.kind != JV_UNDEF) {
        return jctx_fail(c, at, "'%s' object is not iterable", jv_type_name(v));
    }
    return l;
}

/* an attribute path "a.b" of v, as map(attribute=) and friends take it */
static jv attr_path(jctx *c, jv v, const jstr *path)
{
    const char *p = path->p, *end = path->p + path->n;
    while (p < end && v.kind != JV_UNDEF) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(n < 127 ? n : 127), p);
        char *num_end;
        long idx = strtol(name, &num_end, 10);
        if (*name && !*num_end && v.kind == JV_LIST)
            v = idx >= 0 && (size_t)idx < v.l->n ? v.l->v[idx] : JV_UNDEFINED;
        else
            v = jb_attr(c, v, name);
        p = dot ? dot + 1 : end;
    }
    return v;
}

/* ---- attributes ------------------------------------------------------------------------------- */

jv jb_attr(jctx *c, jv v, const char *name)
{
    (void)c;
    switch (v.kind) {
    case JV_DICT:
    case JV_NS: return jdict_get_s(v.d, name);
    case JV_LOOP: {
        const jloop *l = v.loop;
        size_t i = l->index0, n = l->items->n;
        if (!strcmp(name, "index"))
            return jv_int((int64_t)i + 1);
        if (!strcmp(name, "index0"))
            return jv_int((int64_t)i);
        if (!strcmp(name, "revindex"))
            return jv_int((int64_t)(n - i));
        if (!strcmp(name, "revindex0"))
            return jv_int((int64_t)(n - i - 1));
        if (!strcmp(name, "first"))
            return jv_bool(i == 0);
        if (!strcmp(name, "last"))
            return jv_bool(i + 1 == n);
        if (!strcmp(name, "length"))
            return jv_int((int64_t)n);
        if (!strcmp(name, "previtem"))
            return i ? l->items->v[i - 1] : JV_UNDEFINED;
        if (!strcmp(name, "nextitem"))
            return i + 1 < n ? l->items->v[i + 1] : JV_UNDEFINED;
        if (!strcmp(name, "depth"))
            return jv_int(1);
        if (!strcmp(name, "depth0"))
            return jv_int(0);
        return JV_UNDEFINED;
    }
    default: return JV_UNDEFINED;
    }
}

/* ---- tests ---------------------------------------------------------------------------------- */

bool jb_test(jctx *c, const jnode *at, const char *name, jv v, const jv *a, size_t n)
{
    jv x = n ? a[0] : JV_UNDEFINED;
    if (!strcmp(name, "defined"))
        return v.kind != JV_UNDEF;
    if (!strcmp(name, "undefined"))
        return v.kind == JV_UNDEF;
    if (!strcmp(name, "none"))
        return v.kind == JV_NONE;
    if (!strcmp(name, "boolean"))
        return v.kind == JV_BOOL;
    if (!strcmp(name, "true"))
        return v.kind == JV_BOOL && v.b;
    if (!strcmp(name, "false"))
        return v.kind == JV_BOOL && !v.b;
    if (!strcmp(name, "integer"))
        return v.kind == JV_INT;
    if (!strcmp(name, "float"))
        return v.kind == JV_FLOAT;
    if (!strcmp(name, "number"))
        return jv_is_number(v);
    if (!strcmp(name, "string"))
        return v.kind == JV_STR;
    if (!strcmp(name, "mapping"))
        return v.kind == JV_DICT || v.kind == JV_NS;
    if (!strcmp(name, "iterable"))
        return v.kind == JV_LIST || v.kind == JV_DICT || v.kind == JV_STR || v.kind == JV_NS;
    if (!strcmp(name, "sequence"))
        return v.kind == JV_LIST || v.kind == JV_DICT || v.kind == JV_STR;
    if (!strcmp(name, "callable"))
        return v.kind == JV_MACRO || v.kind == JV_FUNC;
    if (!strcmp(name, "odd") || !strcmp(name, "even")) {
        if (v.kind != JV_INT) {
            jctx_fail(c, at, "the %s test needs an integer", name);
            return false;
        }
        return ((v.i & 1) != 0) == (name[0] == 'o');
    }
    if (!strcmp(name, "divisibleby")) {
        if (v.kind != JV_INT || x.kind != JV_INT || !x.i) {
            jctx_fail(c, at, "divisibleby needs integers");
            return false;
        }
        return x.i == -1 || v.i % x.i == 0;
    }
    if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "=="))
        return jv_equal(v, x);
    if (!strcmp(name, "ne") || !strcmp(name, "!="))
        return !jv_equal(v, x);
    if (!strcmp(name, "sameas"))
        return v.kind == x.kind && ((v.kind != JV_STR && v.kind != JV_LIST && v.kind != JV_DICT && jv_equal(v, x)) ||
                                    (v.kind == JV_STR && v.s == x.s) || (v.kind == JV_LIST && v.l == x.l) ||
                                    (v.kind == JV_DICT && v.d == x.d));
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        if (v.kind != JV_STR)
            return false;
        for (size_t i = 0; i < v.s->n; i++)
            if (name[0] == 'l' ? isupper((unsigned char)v.s->p[i]) : islower((unsigned char)v.s->p[i]))
                return false;
        return true;
    }
    static const char *const cmp[][2] = {{"lt", "<"}, {"le", "<="}, {"gt", ">"}, {"ge", ">="},
                                          {"lessthan", "<"}, {"greaterthan", ">"}};
    for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++)
        if (!strcmp(name, cmp[i][0]) || !strcmp(name, cmp[i][1])) {
            bool ok;
            int r = jv_compare(v, x, &ok);
            if (!ok) {
                jctx_fail(c, at, "'%s' not supported between '%s' and '%s'", cmp[i][1], jv_type_name(v),
                          jv_type_name(x));
                return false;
            }
            const char *o = cmp[i][1];
            return o[0] == '<' ? (o[1] ? r <= 0 : r < 0) : (o[1] ? r >= 0 : r > 0);
        }
    if (!strcmp(name, "in")) {
        if (x.kind == JV_LIST) {
            for (size_t i = 0; i < x.l->n; i++)
                if (jv_equal(x.l->v[i], v))
                    return true;
            return false;
        }
        if (x.kind == JV_DICT)
            return jdict_get(x.d, v).kind != JV_UNDEF;
        if (x.kind == JV_STR && v.kind == JV_STR)
            return find(x.s, v.s, false) >= 0;
        jctx_fail(c, at, "the in test needs a container");
        return false;
    }
    jctx_fail(c, at, "no test named '%s'", name);
    return false;
}

/* ---- filters ---------------------------------------------------------------------------------- */

static jv do_tojson(jctx *c, const jnode *at, jv v, jv indent, jv seps, jv sort)
{
    strbuf b = {0};
    const char *isep = NULL, *ksep = NULL;
    if (seps.kind == JV_LIST && seps.l->n == 2 && seps.l->v[0].kind == JV_STR && seps.l->v[1].kind == JV_STR)
        isep = seps.l->v[0].s->p, ksep = seps.l->v[1].s->p;
    if (!jv_json_to(&b, v, indent.kind == JV_INT ? (int)indent.i : -1, isep, ksep, jv_truthy(sort))) {
        free(b.p);
        return jctx_fail(c, at, "Object of type %s is not JSON serializable",
                         v.kind == JV_LIST && !v.l->gen ? "a value inside" : jv_type_name(v));
    }
    return buf_str(c, &b);
}

static jv sort_list(jctx *c, const jnode *at, jv l, bool reverse, const jstr *attribute)
{
    arena *a = jctx_arena(c);
    jv r = jv_list(a);
    for (size_t i = 0; r.kind == JV_LIST && i < l.l->n; i++)
        jlist_push(a, r.l, l.l->v[i]);
    /* insertion sort: stable, as Python's */
    for (size_t i = 1; i < r.l->n; i++)
        for (size_t j = i; j > 0; j--) {
            jv x = r.l->v[j - 1], y = r.l->v[j];
            if (attribute)
                x = attr_path(c, x, attribute), y = attr_path(c, y, attribute);
            bool ok;
            int cmp = jv_compare(x, y, &ok);
            if (!ok)
                return jctx_fail(c, at, "cannot sort '%s' and '%s'", jv_type_name(x), jv_type_name(y));
            if (reverse ? cmp >= 0 : cmp <= 0)
                break;
            jv t = r.l->v[j];
            r.l->v[j] = r.l->v[j - 1];
            r.l->v[j - 1] = t;
        }
    return r;
}

/* select, reject, selectattr, rejectattr */
static jv select_items(jctx *c, const jnode *at, jv in, bool keep, bool by_attr, const jv *a, size_t n)
{
    arena *ar = jctx_arena(c);
    jv l = jv_truthy(in) ? as_list(c, at, in) : jv_list(ar), r = jv_list(ar); /* jinja2: `if value:` */
    size_t t0 = by_attr ? 1 : 0;
    if (by_attr && (!n || a[0].kind != JV_STR))
        return jctx_fail(c, at, "selectattr needs an attribute name");
    if (n > t0 && a[t0].kind != JV_STR)
        return jctx_fail(c, at, "the test's name must be a string");
    for (size_t i = 0; l.kind == JV_LIST && r.kind == JV_LIST && i < l.l->n; i++) {
        jv v = by_attr ? attr_path(c, l.l->v[i], a[0].s) : l.l->v[i];
        bool t = n > t0 ? jb_test(c, at, a[t0].s->p, v, a + t0 + 1, n - t0 - 1) : jv_truthy(v);
        if (t == keep)
            jlist_push(ar, r.l, l.l->v[i]);
    }
    if (r.kind == JV_LIST)
        r.l->gen = true; /* jinja2's select and friends are generators */
    return r;
}

jv jb_filter(jctx *c, const jnode *at, const char *name, jv in, const jv *a, size_t n, const char *const *kw,
             const jv *kwv, size_t n_kw)
{
    arena *ar = jctx_arena(c);
#define ARG(i, kwname) arg(a, n, (i), kw, kwv, n_kw, (kwname))
    if (!strcmp(name, "safe")) {
        jv s = str_of(c, in);
        s.safe = s.kind == JV_STR;
        return s;
    }
    if (!strcmp(name, "string"))
        return in.kind == JV_UNDEF ? jv_str(ar, "", 0) : str_of(c, in);
    if (!strcmp(name, "tojson"))
        return do_tojson(c, at, in, ARG(1, "indent"), ARG(99, "separators"), ARG(99, "sort_keys"));
    if (!strcmp(name, "length") || !strcmp(name, "count")) {
        switch (in.kind) {
        case JV_STR: return jv_int((int64_t)jstr_cps(in.s));
        case JV_LIST:
            if (in.l->gen)
                return jctx_fail(c, at, "object of type 'generator' has no len()");
            return jv_int((int64_t)in.l->n);
        case JV_DICT:
        case JV_NS: return jv_int((int64_t)in.d->n);
        case JV_UNDEF: return jv_int(0);
        default: return jctx_fail(c, at, "object of type '%s' has no len()", jv_type_name(in));
        }
    }
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        jv dflt = ARG(0, "default_value"), boolean = ARG(1, "boolean");
        if (in.kind == JV_UNDEF || (jv_truthy(boolean) && !jv_truthy(in)))
            return dflt.kind == JV_UNDEF ? jv_str(ar, "", 0) : dflt;
        return in;
    }
    if (!strcmp(name, "trim")) {
        jv s = str_of(c, in), chars = ARG(0, "chars");
        return s.kind == JV_STR ? strip(c, s.s, chars.kind == JV_STR ? chars.s : NULL, 3) : s;
    }
    if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "capitalize") || !strcmp(name, "title")) {
        jv s = str_of(c, in);
        int mode = name[0] == 'u' ? 0 : name[0] == 'l' ? 1 : name[0] == 'c' ? 2 : 3;
        return s.kind == JV_STR ? map_case(c, s.s, mode) : s;
    }
    if (!strcmp(name, "replace")) {
        jv s = str_of(c, in), o = str_of(c, ARG(0, "old")), nw = str_of(c, ARG(1, "new")), cnt = ARG(2, "count");
        if (s.kind != JV_STR || o.kind != JV_STR || nw.kind != JV_STR)
            return JV_UNDEFINED;
        return replace(c, s.s, o.s, nw.s, cnt.kind == JV_INT ? cnt.i : -1);
    }
    if (!strcmp(name, "join")) {
        jv l = as_list(c, at, in), sep = ARG(0, "d"), attr = ARG(1, "attribute");
        strbuf b = {0};
        for (size_t i = 0; l.kind == JV_LIST && i < l.l->n && b.n <= JINJA_MAX_TEXT; i++) {
            if (i && sep.kind == JV_STR)
                strbuf_put(&b, sep.s->p, sep.s->n);
            jv_str_to(&b, attr.kind == JV_STR ? attr_path(c, l.l->v[i], attr.s) : l.l->v[i]);
        }
        return buf_str(c, &b);
    }
    if (!strcmp(name, "first") || !strcmp(name, "last")) {
        if (name[0] == 'l' && in.kind == JV_LIST && in.l->gen)
            return jctx_fail(c, at, "'generator' object is not reversible");
        jv l = as_list(c, at, in);
        if (l.kind != JV_LIST || !l.l->n)
            return JV_UNDEFINED;
        return name[0] == 'f' ? l.l->v[0] : l.l->v[l.l->n - 1];
    }
    if (!strcmp(name, "list")) { /* a list of its own (a generator's items, materialised) */
        jv l = as_list(c, at, in), r = jv_list(ar);
        for (size_t i = 0; l.kind == JV_LIST && r.kind == JV_LIST && i < l.l->n; i++)
            jlist_push(ar, r.l, l.l->v[i]);
        return r;
    }
    if (!strcmp(name, "reverse")) {
        if (in.kind == JV_STR) {
            jv l = as_list(c, at, in);
            strbuf b = {0};
            for (size_t i = l.l->n; i-- > 0;)
                strbuf_put(&b, l.l->v[i].s->p, l.l->v[i].s->n);
            return buf_str(c, &b);
        }
        jv l = as_list(c, at, in), r = jv_list(ar);
        for (size_t i = l.kind == JV_LIST ? l.l->n : 0; i-- > 0;)
            jlist_push(ar, r.l, l.l->v[i]);
        if (r.kind == JV_LIST)
            r.l->gen = true; /* reversed(): an iterator */
        return r;
    }
    if (!strcmp(name, "items")) {
        if (in.kind == JV_UNDEF)
            return jv_list(ar);
        if (in.kind != JV_DICT && in.kind != JV_NS)
            return jctx_fail(c, at, "items needs a mapping");
        return jb_method(c, at, in, "items", NULL, 0, NULL, NULL, 0);
    }
    if (!strcmp(name, "map")) {
        jv l = jv_truthy(in) ? as_list(c, at, in) : jv_list(ar), r = jv_list(ar); /* jinja2: `if value:` */
        jv attr = kwarg(kw, kwv, n_kw, "attribute");
        jv dflt = kwarg(kw, kwv, n_kw, "default");
        for (size_t i = 0; l.kind == JV_LIST && i < l.l->n; i++) {
            jv v;
            if (attr.kind == JV_STR) {
                v = attr_path(c, l.l->v[i], attr.s);
                if (v.kind == JV_UNDEF && dflt.kind != JV_UNDEF)
                    v = dflt;
            } else if (n && a[0].kind == JV_STR) {
                v = jb_filter(c, at, a[0].s->p, l.l->v[i], a + 1, n - 1, kw, kwv, n_kw);
            } else {
                return jctx_fail(c, at, "map needs a filter name or attribute=");
            }
            jlist_push(ar, r.l, v);
        }
        if (r.kind == JV_LIST)
            r.l->gen = true;
        return r;
    }
    if (!strcmp(name, "select") || !strcmp(name, "reject"))
        return select_items(c, at, in, name[0] == 's', false, a, n);
    if (!strcmp(name, "selectattr") || !strcmp(name, "rejectattr"))
        return select_items(c, at, in, name[0] == 's', true, a, n);
    if (!strcmp(name, "sort")) {
        jv l = as_list(c, at, in), attr = ARG(2, "attribute");
        return l.kind == JV_LIST ? sort_list(c, at, l, jv_truthy(ARG(0, "reverse")), attr.kind == JV_STR ? attr.s : NULL)
                                 : l;
    }
    if (!strcmp(name, "unique")) {
        jv l = as_list(c, at, in), r = jv_list(ar);
        for (size_t i = 0; l.kind == JV_LIST && i < l.l->n; i++) {
            bool seen = false;
            for (size_t j = 0; j < r.l->n && !seen; j++)
                seen = jv_equal(r.l->v[j], l.l->v[i]);
            if (!seen)
                jlist_push(ar, r.l, l.l->v[i]);
        }
        if (r.kind == JV_LIST)
            r.l->gen = true;
        return r;
    }
    if (!strcmp(name, "int")) {
        if (in.kind == JV_INT)
            return in;
        if (in.kind == JV_FLOAT)
            return jv_int(in.f > -9.2e18 && in.f < 9.2e18 ? (int64_t)in.f : 0);
        if (in.kind == JV_BOOL)
            return jv_int(in.b);
        if (in.kind == JV_STR) {
            char *e;
            long long v = strtoll(in.s->p, &e, 10);
            if (e != in.s->p && !*e)
                return jv_int(v);
            double f = strtod(in.s->p, &e);
            if (e != in.s->p && !*e && f > -9.2e18 && f < 9.2e18)
                return jv_int((int64_t)f);
        }
        jv d = ARG(0, "default");
        return d.kind == JV_UNDEF ? jv_int(0) : d;
    }
    if (!strcmp(name, "float")) {
        if (jv_is_number(in))
            return jv_float(jv_num(in));
        if (in.kind == JV_STR) {
            char *e;
            double f = strtod(in.s->p, &e);
            if (e != in.s->p && !*e)
                return jv_float(f);
        }
        jv d = ARG(0, "default");
        return d.kind == JV_UNDEF ? jv_float(0) : d;
    }
    if (!strcmp(name, "abs")) {
        if (in.kind == JV_INT)
            return jv_int(in.i < 0 ? (int64_t)(0 - (uint64_t)in.i) : in.i);
        if (jv_is_number(in))
            return jv_float(fabs(jv_num(in)));
        return jctx_fail(c, at, "bad operand type for abs(): '%s'", jv_type_name(in));
    }
    if (!strcmp(name, "round")) {
        jv prec = ARG(0, "precision"), method = ARG(1, "method");
        int digits = prec.kind == JV_INT ? (int)prec.i : 0;
        if (!jv_is_number(in))
            return jctx_fail(c, at, "round needs a number, not %s", jv_type_name(in));
        if (method.kind == JV_STR && strcmp(method.s->p, "common")) { /* floor, ceil */
            double p = pow(10, digits), x = jv_num(in) * p;
            return jv_float((method.s->p[0] == 'f' ? floor(x) : ceil(x)) / p);
        }
        /* 'common' is Python's round(): the exact binary value rounded to
         * decimal digits, ties to even, as printf rounds it */
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", digits < 0 ? 0 : digits > 300 ? 300 : digits, jv_num(in));
        return jv_float(strtod(buf, NULL));
    }
    if (!strcmp(name, "dictsort")) { /* (key, value) tuples by key, or by value; case-insensitive */
        if (in.kind != JV_DICT && in.kind != JV_NS)
            return jctx_fail(c, at, "dictsort needs a mapping");
        jv cs = ARG(0, "case_sensitive"), by = ARG(1, "by"), rev = ARG(2, "reverse");
        bool by_value = by.kind == JV_STR && !strcmp(by.s->p, "value");
        jv items = jb_method(c, at, in, "items", NULL, 0, NULL, NULL, 0);
        for (size_t i = 1; items.kind == JV_LIST && i < items.l->n; i++)
            for (size_t j = i; j > 0; j--) {
                jv x = items.l->v[j - 1].l->v[by_value], y = items.l->v[j].l->v[by_value];
                if (!jv_truthy(cs) && x.kind == JV_STR && y.kind == JV_STR)
                    x = map_case(c, x.s, 1), y = map_case(c, y.s, 1);
                bool ok;
                int r = jv_compare(x, y, &ok);
                if (!ok)
                    return jctx_fail(c, at, "dictsort cannot order '%s' and '%s'", jv_type_name(x), jv_type_name(y));
                if (jv_truthy(rev) ? r >= 0 : r <= 0)
                    break;
                jv t = items.l->v[j];
                items.l->v[j] = items.l->v[j - 1];
                items.l->v[j - 1] = t;
            }
        return items;
    }
    if (!strcmp(name, "indent")) {
        jv s = str_of(c, in), w = ARG(0, "width"), first = ARG(1, "first"), blank = ARG(2, "blank");
        if (s.kind != JV_STR)
            return s;
        strbuf pad = {0}, b = {0};
        if (w.kind == JV_INT && (w.i < 0 || w.i > 4096))
            return jctx_fail(c, at, "indent width %lld", (long long)w.i);
        if (w.kind == JV_STR)
            strbuf_put(&pad, w.s->p, w.s->n);
        else
            for (int64_t i = 0; i < (w.kind == JV_INT ? w.i : 4); i++)
                strbuf_put(&pad, " ", 1);
        const char *p = s.s->p, *end = s.s->p + s.s->n;
        bool line0 = true;
        while (p <= end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            bool empty = le == p;
            if ((!line0 || jv_truthy(first)) && (!empty || jv_truthy(blank)) && pad.p)
                strbuf_put(&b, pad.p, pad.n);
            strbuf_put(&b, p, (size_t)(le - p));
            if (!nl)
                break;
            strbuf_put(&b, "\n", 1);
            p = nl + 1;
            line0 = false;
        }
        free(pad.p);
        return buf_str(c, &b);
    }
    if (!strcmp(name, "escape") || !strcmp(name, "e")) {
        if (in.kind == JV_STR && in.safe) /* Markup is not escaped twice */
            return in;
        jv s = str_of(c, in);
        strbuf b = {0};
        for (size_t i = 0; s.kind == JV_STR && i < s.s->n; i++) {
            char ch = s.s->p[i];
            const char *rep = ch == '&' ? "&amp;" : ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '"' ? "&#34;"
                            : ch == '\'' ? "&#39;" : NULL;
            if (rep)
                strbuf_puts(&b, rep);
            else
                strbuf_put(&b, &ch, 1);
        }
        jv r = buf_str(c, &b);
        r.safe = r.kind == JV_STR; /* markupsafe's Markup */
        return r;
    }
    if (!strcmp(name, "wordcount")) {
        jv s = str_of(c, in);
        return s.kind == JV_STR ? jv_int((int64_t)split(c, s.s, NULL, -1).l->n) : s;
    }
    if (!strcmp(name, "sum")) {
        jv l = as_list(c, at, in), attr = ARG(0, "attribute"), acc = ARG(1, "start");
        if (acc.kind == JV_UNDEF)
            acc = jv_int(0);
        for (size_t i = 0; l.kind == JV_LIST && i < l.l->n; i++) {
            jv v = attr.kind == JV_STR ? attr_path(c, l.l->v[i], attr.s) : l.l->v[i];
            if (!jv_is_number(v) || !jv_is_number(acc))
                return jctx_fail(c, at, "sum needs numbers");
            acc = acc.kind == JV_FLOAT || v.kind == JV_FLOAT
                      ? jv_float(jv_num(acc) + jv_num(v))
                      : jv_int((int64_t)((uint64_t)(acc.kind == JV_INT ? acc.i : acc.b) +
                                         (uint64_t)(v.kind == JV_INT ? v.i : v.b)));
        }
        return acc;
    }
    if (!strcmp(name, "min") || !strcmp(name, "max")) {
        jv l = as_list(c, at, in);
        if (l.kind != JV_LIST || !l.l->n)
            return JV_UNDEFINED;
        jv best = l.l->v[0];
        for (size_t i = 1; i < l.l->n; i++) {
            bool ok;
            int r = jv_compare(l.l->v[i], best, &ok);
            if (ok && (name[1] == 'i' ? r < 0 : r > 0))
                best = l.l->v[i];
        }
        return best;
    }
    return jctx_fail(c, at, "no filter named '%s'", name);
#undef ARG
}

/* ---- methods ---------------------------------------------------------------------------------- */

static jv str_method(jctx *c, const jnode *at, const jstr *s, const char *name, const jv *a, size_t n,
                     const char *const *kw, const jv *kwv, size_t n_kw)
{
    jv x = arg(a, n, 0, kw, kwv, n_kw, NULL), y = arg(a, n, 1, kw, kwv, n_kw, NULL);
    if (!strcmp(name, "strip") || !strcmp(name, "lstrip") || !strcmp(name, "rstrip"))
        return strip(c, s, x.kind == JV_STR ? x.s : NULL, name[0] == 'l' ? 1 : name[0] == 'r' ? 2 : 3);
    if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "capitalize") || !strcmp(name, "title"))
        return map_case(c, s, name[0] == 'u' ? 0 : name[0] == 'l' ? 1 : name[0] == 'c' ? 2 : 3);
    if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
        bool (*f)(const jstr *, const jstr *) = name[0] == 's' ? starts_with : ends_with;
        if (x.kind == JV_STR)
            return jv_bool(f(s, x.s));
        if (x.kind == JV_LIST) {
            for (size_t i = 0; i < x.l->n; i++)
                if (x.l->v[i].kind == JV_STR && f(s, x.l->v[i].s))
                    return jv_bool(true);
            return jv_bool(false);
        }
        return jctx_fail(c, at, "%s needs a string or a tuple of strings", name);
    }
    if (!strcmp(name, "split") || !strcmp(name, "rsplit")) {
        jv sep = arg(a, n, 0, kw, kwv, n_kw, "sep"), mx = arg(a, n, 1, kw, kwv, n_kw, "maxsplit");
        if (name[0] == 'r' && mx.kind == JV_INT && mx.i >= 0)
            return jctx_fail(c, at, "rsplit with maxsplit is not supported");
        return split(c, s, sep.kind == JV_STR ? sep.s : NULL, mx.kind == JV_INT ? mx.i : -1);
    }
    if (!strcmp(name, "splitlines")) {
        jv l = jv_list(jctx_arena(c));
        size_t b = 0;
        for (size_t i = 0; i < s->n; i++)
            if (s->p[i] == '\n' || s->p[i] == '\r') {
                jlist_push(jctx_arena(c), l.l, jv_str(jctx_arena(c), s->p + b, i - b));
                if (s->p[i] == '\r' && i + 1 < s->n && s->p[i + 1] == '\n')
                    i++;
                b = i + 1;
            }
        if (b < s->n)
            jlist_push(jctx_arena(c), l.l, jv_str(jctx_arena(c), s->p + b, s->n - b));
        return l;
    }
    if (!strcmp(name, "replace")) {
        jv cnt = arg(a, n, 2, kw, kwv, n_kw, NULL);
        if (x.kind != JV_STR || y.kind != JV_STR)
            return jctx_fail(c, at, "replace needs two strings");
        return replace(c, s, x.s, y.s, cnt.kind == JV_INT ? cnt.i : -1);
    }
    if (!strcmp(name, "find") || !strcmp(name, "rfind") || !strcmp(name, "index") || !strcmp(name, "count")) {
        if (x.kind != JV_STR)
            return jctx_fail(c, at, "%s needs a string", name);
        if (name[0] == 'c') {
            int64_t k = 0;
            for (size_t i = 0; x.s->n && i + x.s->n <= s->n;)
                if (!memcmp(s->p + i, x.s->p, x.s->n))
                    k++, i += x.s->n;
                else
                    i++;
            return jv_int(x.s->n ? k : (int64_t)jstr_cps(s) + 1);
        }
        int64_t r = find(s, x.s, name[0] == 'r');
        if (r < 0 && name[0] == 'i')
            return jctx_fail(c, at, "substring not found");
        return jv_int(r);
    }
    if (!strcmp(name, "join")) {
        jv l = as_list(c, at, x);
        strbuf b = {0};
        for (size_t i = 0; l.kind == JV_LIST && i < l.l->n && b.n <= JINJA_MAX_TEXT; i++) {
            if (l.l->v[i].kind != JV_STR) {
                free(b.p);
                return jctx_fail(c, at, "sequence item %zu: expected str instance, %s found", i,
                                 jv_type_name(l.l->v[i]));
            }
            if (i)
                strbuf_put(&b, s->p, s->n);
            strbuf_put(&b, l.l->v[i].s->p, l.l->v[i].s->n);
        }
        return buf_str(c, &b);
    }
    if (!strcmp(name, "isdigit") || !strcmp(name, "isalpha") || !strcmp(name, "isalnum") || !strcmp(name, "isspace") ||
        !strcmp(name, "isupper") || !strcmp(name, "islower")) {
        if (!s->n)
            return jv_bool(false);
        bool cased = false;
        for (size_t i = 0; i < s->n; i++) {
            unsigned char ch = (unsigned char)s->p[i];
            bool ok = !strcmp(name, "isdigit")   ? isdigit(ch)
                      : !strcmp(name, "isalpha") ? isalpha(ch) || ch >= 0x80
                      : !strcmp(name, "isalnum") ? isalnum(ch) || ch >= 0x80
                      : !strcmp(name, "isspace") ? isspace(ch)
                      : !strcmp(name, "isupper") ? !islower(ch)
                                                 : !isupper(ch);
            cased |= isalpha(ch);
            if (!ok)
                return jv_bool(false);
        }
        return jv_bool(name[2] == 'u' || name[2] == 'l' ? cased : true);
    }
    if (!strcmp(name, "format")) { /* {} and {N}, and {name} from keywords */
        strbuf b = {0};
        size_t next = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (s->p[i] == '{' && i + 1 < s->n && s->p[i + 1] == '{') {
                strbuf_put(&b, "{", 1), i++;
            } else if (s->p[i] == '}' && i + 1 < s->n && s->p[i + 1] == '}') {
                strbuf_put(&b, "}", 1), i++;
            } else if (s->p[i] == '{') {
                const char *e = memchr(s->p + i, '}', s->n - i);
                if (!e) {
                    free(b.p);
                    return jctx_fail(c, at, "format: unmatched '{'");
                }
                size_t len = (size_t)(e - (s->p + i + 1));
                char field[64];
                snprintf(field, sizeof field, "%.*s", (int)(len < 63 ? len : 63), s->p + i + 1);
                jv v = !*field ? (next < n ? a[next++] : JV_UNDEFINED)
                       : isdigit((unsigned char)*field) ? ((size_t)atoi(field) < n ? a[atoi(field)] : JV_UNDEFINED)
                                                        : kwarg(kw, kwv, n_kw, field);
                if (v.kind == JV_UNDEF) {
                    free(b.p);
                    return jctx_fail(c, at, "format: no value for {%s}", field);
                }
                jv_str_to(&b, v);
                i += len + 1;
            } else {
                strbuf_put(&b, s->p + i, 1);
            }
        }
        return buf_str(c, &b);
    }
    return jctx_fail(c, at, "'str' object has no attribute '%s'", name);
}

jv jb_method(jctx *c, const jnode *at, jv self, const char *name, const jv *a, size_t n, const char *const *kw,
             const jv *kwv, size_t n_kw)
{
    arena *ar = jctx_arena(c);
    switch (self.kind) {
    case JV_STR: return str_method(c, at, self.s, name, a, n, kw, kwv, n_kw);
    case JV_DICT:
    case JV_NS:
        if (!strcmp(name, "items") || !strcmp(name, "keys") || !strcmp(name, "values")) {
            jv l = jv_list(ar);
            for (size_t i = 0; l.kind == JV_LIST && i < self.d->n; i++) {
                jv v = name[0] == 'k' ? self.d->k[i] : self.d->v[i];
                if (name[0] == 'i') {
                    v = jv_list(ar);
                    if (v.kind == JV_LIST) {
                        v.l->tuple = true;
                        jlist_push(ar, v.l, self.d->k[i]);
                        jlist_push(ar, v.l, self.d->v[i]);
                    }
                }
                jlist_push(ar, l.l, v);
            }
            return l;
        }
        if (!strcmp(name, "get")) {
            jv v = n ? jdict_get(self.d, a[0]) : JV_UNDEFINED;
            return v.kind != JV_UNDEF ? v : n > 1 ? a[1] : JV_NULL;
        }
        if (!strcmp(name, "update") || !strcmp(name, "pop") || !strcmp(name, "setdefault") || !strcmp(name, "clear"))
            return jctx_fail(c, at, "access to attribute '%s' of 'dict' object is unsafe", name);
        break;
    case JV_LIST:
        if (!strcmp(name, "index") || !strcmp(name, "count")) {
            int64_t k = 0;
            for (size_t i = 0; n && i < self.l->n; i++)
                if (jv_equal(self.l->v[i], a[0])) {
                    if (name[0] == 'i')
                        return jv_int((int64_t)i);
                    k++;
                }
            if (name[0] == 'i')
                return jctx_fail(c, at, "value is not in list");
            return jv_int(k);
        }
        if (!strcmp(name, "append") || !strcmp(name, "extend") || !strcmp(name, "pop") || !strcmp(name, "insert") ||
            !strcmp(name, "remove") || !strcmp(name, "sort") || !strcmp(name, "reverse") || !strcmp(name, "clear"))
            return jctx_fail(c, at, "access to attribute '%s' of 'list' object is unsafe", name);
        break;
    case JV_LOOP:
        if (!strcmp(name, "cycle")) {
            if (!n)
                return jctx_fail(c, at, "no items for cycling given");
            return a[self.loop->index0 % n];
        }
        break;
    case JV_UNDEF: return jctx_fail(c, at, "'%s' of an undefined value", name);
    default: break;
    }
    return jctx_fail(c, at, "'%s' object has no attribute '%s'", jv_type_name(self), name);
}

/* ---- globals ----------------------------------------------------------------------------------- */

jv jb_call_global(jctx *c, const jnode *at, const jfunc *fn, const jv *a, size_t n, const char *const *kw,
                  const jv *kwv, size_t n_kw)
{
    arena *ar = jctx_arena(c);
    if (fn == &G_RAISE) {
        strbuf b = {0};
        if (n)
            jv_str_to(&b, a[0]);
        jv r = jctx_fail(c, at, "raise_exception: %s", b.p ? b.p : "");
        free(b.p);
        return r;
    }
    if (fn == &G_RANGE) {
        int64_t v[3] = {0, 0, 1};
        for (size_t i = 0; i < n; i++)
            if (a[i].kind != JV_INT)
                return jctx_fail(c, at, "range() takes integers");
        if (n == 1)
            v[1] = a[0].i;
        else if (n >= 2)
            v[0] = a[0].i, v[1] = a[1].i, v[2] = n > 2 ? a[2].i : 1;
        else
            return jctx_fail(c, at, "range expected at least 1 argument");
        if (!v[2])
            return jctx_fail(c, at, "range() arg 3 must not be zero");
        jv l = jv_list(ar);
        size_t count = 0;
        for (int64_t i = v[0]; l.kind == JV_LIST && (v[2] > 0 ? i < v[1] : i > v[1]); i += v[2]) {
            if (++count > 100000)
                return jctx_fail(c, at, "range too big");
            jlist_push(ar, l.l, jv_int(i));
            if (v[2] > 0 ? i > INT64_MAX - v[2] : i < INT64_MIN - v[2])
                break;
        }
        return l;
    }
    if (fn == &G_DICT || fn == &G_NAMESPACE) {
        jv d = jv_dict(ar);
        if (d.kind != JV_DICT)
            return d;
        for (size_t i = 0; i < n; i++) {
            if (a[i].kind != JV_DICT && a[i].kind != JV_NS)
                return jctx_fail(c, at, "%s() takes a mapping and keywords", fn->name);
            for (size_t k = 0; k < a[i].d->n; k++)
                jdict_set(ar, d.d, a[i].d->k[k], a[i].d->v[k]);
        }
        for (size_t k = 0; k < n_kw; k++)
            jdict_set(ar, d.d, jv_str(ar, kw[k], strlen(kw[k])), kwv[k]);
        if (fn == &G_NAMESPACE)
            d.kind = JV_NS;
        return d;
    }
    if (fn == &G_STRFTIME) {
        if (!n || a[0].kind != JV_STR)
            return jctx_fail(c, at, "strftime_now needs a format");
        time_t t = (time_t)jctx_now(c);
        struct tm tm;
        gmtime_r(&t, &tm);
        char out[256];
        size_t len = strftime(out, sizeof out, a[0].s->p, &tm);
        return jv_str(ar, out, len);
    }
    return jctx_fail(c, at, "'%s' is not callable", fn->name);
}
