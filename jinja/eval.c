/*
 * eval.c: rendering a template's tree.
 *
 * State is one jctx: the output buffer, the scopes, the loop control flag
 * and the first error. Scopes are a stack of dicts: the render's variables
 * at the bottom, then the template's own top level ({% set %} outside any
 * block lands there), then one dict per loop iteration and per macro call.
 * A name is looked up from the top down to the current barrier, then in the
 * top level and the variables: a macro sees its arguments, the template's
 * top level and the variables, never its caller's locals, and a loop's sets
 * stay in the loop; namespace() objects are how templates carry values out
 * of loops, as in jinja2. A for loop filters its items first ({% for x in y
 * if c %}), so loop.index and loop.length count the kept ones.
 *
 * Errors (raise_exception, an operand of the wrong type, a name used as a
 * function that is none) stop the render: the first is kept, and every
 * statement and loop returns as soon as one is set. Recursion (macros
 * calling macros) is bounded.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja/jinja.h"
#include "support/error.h"

/* bounds on what a template may make a render do: macro nesting, loop
 * iterations and macro calls in all, and the bytes of one string or the
 * output (a template is data from a model file: it must not hang or
 * exhaust the server) */
enum { MAX_DEPTH = 200, MAX_ARGS = 16, MAX_STEPS = 10 * 1000 * 1000, MAX_TEXT = JINJA_MAX_TEXT };

struct jctx {
    arena *a;
    const jinja_template *t;
    strbuf out;
    rf_error *err;
    rf_status st;
    int64_t now;
    jdict **frames;
    size_t n_frames, cap_frames, barrier; /* frames below barrier (but 0 and 1) are hidden */
    int ctl;                              /* 1: break, 2: continue */
    int depth;
    int64_t steps;                        /* loop iterations and macro calls so far */
};

static bool step(jctx *c, const jnode *at)
{
    if (++c->steps <= MAX_STEPS && c->out.n <= MAX_TEXT)
        return true;
    jctx_fail(c, at, c->out.n > MAX_TEXT ? "the output passed %d MiB" : "more than %d loop iterations and macro calls",
              c->out.n > MAX_TEXT ? MAX_TEXT >> 20 : MAX_STEPS);
    return false;
}

jv jctx_fail(jctx *c, const jnode *at, const char *fmt, ...)
{
    if (c->st != RF_OK)
        return JV_UNDEFINED;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = rf_fail(c->err, RF_E_FORMAT, "%s:%d: %s", c->t->name, at ? at->line : 0, msg);
    return JV_UNDEFINED;
}

arena *jctx_arena(jctx *c) { return c->a; }
int64_t jctx_now(const jctx *c) { return c->now; }

static jv nomem(jctx *c)
{
    if (c->st == RF_OK)
        c->st = rf_fail(c->err, RF_E_NOMEM, "out of memory rendering a template");
    return JV_UNDEFINED;
}

/* ---- scopes ---------------------------------------------------------------------- */

static bool push_frame(jctx *c)
{
    if (c->n_frames == c->cap_frames) {
        size_t cap = c->cap_frames ? 2 * c->cap_frames : 16;
        jdict **f = arena_alloc(c->a, cap * sizeof *f);
        if (!f)
            return false;
        if (c->n_frames)
            memcpy(f, c->frames, c->n_frames * sizeof *f);
        c->frames = f;
        c->cap_frames = cap;
    }
    jv d = jv_dict(c->a);
    if (d.kind != JV_DICT)
        return false;
    c->frames[c->n_frames++] = d.d;
    return true;
}

static jv lookup(jctx *c, const char *name)
{
    for (size_t i = c->n_frames; i-- > 0;) {
        if (i < c->barrier && i > 1)
            continue;
        jv v = jdict_get_s(c->frames[i], name);
        if (v.kind != JV_UNDEF)
            return v;
    }
    return jb_global(name);
}

static bool assign(jctx *c, const char *name, jv v)
{
    jv k = jv_str(c->a, name, strlen(name));
    return k.kind == JV_STR && jdict_set(c->a, c->frames[c->n_frames - 1], k, v);
}

/* ---- expressions --------------------------------------------------------------------- */

static jv eval(jctx *c, const jnode *n);
static void exec(jctx *c, const jnode *n);

static jv arith(jctx *c, const jnode *n, int op, jv a, jv b)
{
    if (op == '~') {
        strbuf s = {0};
        jv_str_to(&s, a);
        jv_str_to(&s, b);
        jv r = s.oom ? nomem(c) : jv_str(c->a, s.p ? s.p : "", s.n);
        free(s.p);
        return r;
    }
    if (op == '+' && a.kind == JV_STR && b.kind == JV_STR && a.safe != b.safe) {
        /* markupsafe: Markup + str (or str + Markup) escapes the str, and is Markup */
        jv e = jb_filter(c, n, "escape", a.safe ? b : a, NULL, 0, NULL, NULL, 0);
        if (e.kind != JV_STR)
            return e;
        jv r = arith(c, n, '+', a.safe ? a : e, a.safe ? e : b);
        r.safe = true;
        return r;
    }
    if (op == '+' && a.kind == JV_STR && b.kind == JV_STR) {
        jstr *s = arena_alloc(c->a, sizeof *s + a.s->n + b.s->n + 1);
        if (!s)
            return nomem(c);
        s->n = a.s->n + b.s->n;
        memcpy(s->p, a.s->p, a.s->n);
        memcpy(s->p + a.s->n, b.s->p, b.s->n);
        s->p[s->n] = 0;
        return (jv){.kind = JV_STR, .s = s, .safe = a.safe && b.safe};
    }
    if (op == '+' && a.kind == JV_LIST && b.kind == JV_LIST) {
        jv r = jv_list(c->a);
        for (size_t i = 0; r.kind == JV_LIST && i < a.l->n + b.l->n; i++)
            if (!jlist_push(c->a, r.l, i < a.l->n ? a.l->v[i] : b.l->v[i - a.l->n]))
                return nomem(c);
        return r;
    }
    if (op == '*' && ((a.kind == JV_STR && b.kind == JV_INT) || (a.kind == JV_INT && b.kind == JV_STR))) {
        const jstr *s = a.kind == JV_STR ? a.s : b.s;
        int64_t k = a.kind == JV_INT ? a.i : b.i;
        if (k > 0 && s->n && (uint64_t)k > (uint64_t)MAX_TEXT / s->n)
            return jctx_fail(c, n, "a string of more than %d MiB", MAX_TEXT >> 20);
        strbuf r = {0};
        for (int64_t i = 0; i < k; i++)
            strbuf_put(&r, s->p, s->n);
        jv v = r.oom ? nomem(c) : jv_str(c->a, r.p ? r.p : "", r.n);
        free(r.p);
        return v;
    }
    if (!jv_is_number(a) || !jv_is_number(b))
        return jctx_fail(c, n, "unsupported operand types for %c: '%s' and '%s'", op == 'f' ? '/' : op == 'p' ? '*' : op,
                         jv_type_name(a), jv_type_name(b));
    bool ints = a.kind != JV_FLOAT && b.kind != JV_FLOAT;
    int64_t x = a.kind == JV_INT ? a.i : a.kind == JV_BOOL ? a.b : 0, y = b.kind == JV_INT ? b.i : b.kind == JV_BOOL ? b.b : 0;
    double fx = jv_num(a), fy = jv_num(b);
    switch (op) {
    /* integers wrap past int64 (two's complement), where Python's would grow */
    case '+': return ints ? jv_int((int64_t)((uint64_t)x + (uint64_t)y)) : jv_float(fx + fy);
    case '-': return ints ? jv_int((int64_t)((uint64_t)x - (uint64_t)y)) : jv_float(fx - fy);
    case '*': return ints ? jv_int((int64_t)((uint64_t)x * (uint64_t)y)) : jv_float(fx * fy);
    case '/':
        if (fy == 0)
            return jctx_fail(c, n, "division by zero");
        return jv_float(fx / fy);
    case 'f':
    case '%':
        if (fy == 0)
            return jctx_fail(c, n, "%s by zero", op == '%' ? "modulo" : "division");
        if (ints) { /* Python's floor division and modulo: the sign of the divisor */
            if (y == -1)
                return jv_int(op == 'f' ? (int64_t)(0 - (uint64_t)x) : 0);
            int64_t q = x / y, r = x % y;
            if (r && ((r < 0) != (y < 0)))
                q--, r += y;
            return jv_int(op == 'f' ? q : r);
        }
        return op == 'f' ? jv_float(floor(fx / fy)) : jv_float(fx - fy * floor(fx / fy));
    case 'p':
        if (ints && y >= 0) { /* by squaring; past int64 it wraps, where Python would grow */
            uint64_t r = 1, base = (uint64_t)x;
            for (uint64_t e = (uint64_t)y; e; e >>= 1, base *= base)
                if (e & 1)
                    r *= base;
            return jv_int((int64_t)r);
        }
        return jv_float(pow(fx, fy));
    default: return jctx_fail(c, n, "unknown operator");
    }
}

static bool contains(jctx *c, const jnode *n, jv item, jv in)
{
    switch (in.kind) {
    case JV_STR:
        if (item.kind != JV_STR) {
            jctx_fail(c, n, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
            return false;
        }
        if (!item.s->n)
            return true;
        for (size_t i = 0; i + item.s->n <= in.s->n; i++)
            if (!memcmp(in.s->p + i, item.s->p, item.s->n))
                return true;
        return false;
    case JV_LIST:
        for (size_t i = 0; i < in.l->n; i++)
            if (jv_equal(in.l->v[i], item))
                return true;
        return false;
    case JV_DICT:
    case JV_NS: return jdict_get(in.d, item).kind != JV_UNDEF;
    case JV_UNDEF: return false; /* jinja2's Undefined iterates as empty */
    default: jctx_fail(c, n, "argument of type '%s' is not iterable", jv_type_name(in)); return false;
    }
}

static bool compare_op(jctx *c, const jnode *n, int op, jv a, jv b)
{
    switch (op) {
    case JOP_EQ: return jv_equal(a, b);
    case JOP_NE: return !jv_equal(a, b);
    case JOP_IN: return contains(c, n, a, b);
    case JOP_NOTIN: return !contains(c, n, a, b);
    default: {
        bool ok;
        int r = jv_compare(a, b, &ok);
        if (!ok) {
            jctx_fail(c, n, "'%s' not supported between instances of '%s' and '%s'",
                      op == JOP_LT ? "<" : op == JOP_LE ? "<=" : op == JOP_GT ? ">" : ">=", jv_type_name(a),
                      jv_type_name(b));
            return false;
        }
        return op == JOP_LT ? r < 0 : op == JOP_LE ? r <= 0 : op == JOP_GT ? r > 0 : r >= 0;
    }
    }
}

/* Python's index normalisation for v[i] and slices */
static jv item(jctx *c, const jnode *n, jv v, jv k)
{
    if ((v.kind == JV_LIST || v.kind == JV_STR) && (k.kind == JV_INT || k.kind == JV_BOOL)) {
        int64_t len = v.kind == JV_LIST ? (int64_t)v.l->n : (int64_t)jstr_cps(v.s), i = k.kind == JV_INT ? k.i : k.b;
        if (i < 0)
            i += len;
        if (i < 0 || i >= len)
            return JV_UNDEFINED;
        if (v.kind == JV_LIST)
            return v.l->v[i];
        size_t b = jstr_cp_offset(v.s, (size_t)i), e = jstr_cp_offset(v.s, (size_t)i + 1);
        return jv_str(c->a, v.s->p + b, e - b);
    }
    if (v.kind == JV_DICT || v.kind == JV_NS)
        return jdict_get(v.d, k);
    if (k.kind == JV_STR)
        return jb_attr(c, v, k.s->p);
    if (v.kind == JV_UNDEF)
        return jctx_fail(c, n, "cannot take an item of an undefined value");
    return JV_UNDEFINED;
}

static jv slice(jctx *c, const jnode *n, jv v, jv lo, jv hi, jv step)
{
    if (v.kind != JV_LIST && v.kind != JV_STR)
        return jctx_fail(c, n, "'%s' object is not subscriptable", jv_type_name(v));
    int64_t len = v.kind == JV_LIST ? (int64_t)v.l->n : (int64_t)jstr_cps(v.s);
    int64_t st = step.kind == JV_INT ? step.i : 1;
    if (st == 0)
        return jctx_fail(c, n, "slice step cannot be zero");
    int64_t b, e;
    if (lo.kind == JV_INT) {
        b = lo.i < 0 ? lo.i + len : lo.i;
        b = st > 0 ? (b < 0 ? 0 : b > len ? len : b) : (b < -1 ? -1 : b >= len ? len - 1 : b);
    } else {
        b = st > 0 ? 0 : len - 1;
    }
    if (hi.kind == JV_INT) {
        e = hi.i < 0 ? hi.i + len : hi.i;
        e = st > 0 ? (e < 0 ? 0 : e > len ? len : e) : (e < -1 ? -1 : e >= len ? len - 1 : e);
    } else {
        e = st > 0 ? len : -1;
    }
    if (v.kind == JV_LIST) {
        jv r = jv_list(c->a);
        for (int64_t i = b; r.kind == JV_LIST && (st > 0 ? i < e : i > e); i += st)
            if (!jlist_push(c->a, r.l, v.l->v[i]))
                return nomem(c);
        return r;
    }
    strbuf s = {0};
    for (int64_t i = b; st > 0 ? i < e : i > e; i += st) {
        size_t ob = jstr_cp_offset(v.s, (size_t)i), oe = jstr_cp_offset(v.s, (size_t)i + 1);
        strbuf_put(&s, v.s->p + ob, oe - ob);
    }
    jv r = s.oom ? nomem(c) : jv_str(c->a, s.p ? s.p : "", s.n);
    free(s.p);
    return r;
}

/* the values of n's kids, and their keywords apart */
typedef struct args {
    jv pos[MAX_ARGS], kwv[MAX_ARGS];
    const char *kw[MAX_ARGS];
    size_t n, n_kw;
} args;

static bool eval_args(jctx *c, const jnode *n, args *a)
{
    a->n = a->n_kw = 0;
    for (size_t i = 0; i < n->n_kids; i++) {
        if (a->n == MAX_ARGS || a->n_kw == MAX_ARGS) {
            jctx_fail(c, n, "more than %d arguments", MAX_ARGS);
            return false;
        }
        jv v = eval(c, n->kids[i]);
        if (n->names && n->names[i]) {
            a->kw[a->n_kw] = n->names[i];
            a->kwv[a->n_kw++] = v;
        } else {
            a->pos[a->n++] = v;
        }
    }
    return c->st == RF_OK;
}

static jv call_macro(jctx *c, const jnode *at, const jnode *m, const jv *pos, size_t n, const char *const *kw,
                     const jv *kwv, size_t n_kw, const jnode *caller)
{
    if (c->depth >= MAX_DEPTH)
        return jctx_fail(c, at, "macros nested more than %d deep", MAX_DEPTH);
    if (!step(c, at))
        return JV_UNDEFINED;
    size_t saved_barrier = c->barrier, saved_frames = c->n_frames;
    strbuf saved_out = c->out;
    c->out = (strbuf){0};
    if (!push_frame(c))
        return nomem(c);
    c->barrier = c->n_frames - 1;
    c->depth++;
    size_t n_params = m->kind == JN_MACRO ? m->n_kids : m->n_kids; /* a call block's caller: its parameters */
    if (n > n_params)
        jctx_fail(c, at, "macro '%s' takes %zu arguments, %zu given", m->name ? m->name : "caller", n_params, n);
    for (size_t i = 0; i < n_params && c->st == RF_OK; i++) {
        const char *p = m->names[i];
        jv v = i < n ? pos[i] : JV_UNDEFINED;
        for (size_t k = 0; k < n_kw; k++)
            if (!strcmp(kw[k], p))
                v = kwv[k];
        if (v.kind == JV_UNDEF && m->kind == JN_MACRO && m->kids[i])
            v = eval(c, m->kids[i]);
        assign(c, p, v);
    }
    if (caller)
        assign(c, "caller", (jv){.kind = JV_MACRO, .m = caller});
    exec(c, m->kind == JN_MACRO ? m->b : m->b);
    c->ctl = 0;
    strbuf body = c->out;
    c->out = saved_out;
    c->n_frames = saved_frames;
    c->barrier = saved_barrier;
    c->depth--;
    jv r = body.oom ? nomem(c) : jv_str(c->a, body.p ? body.p : "", body.n);
    free(body.p);
    return r;
}

jv jctx_call(jctx *c, const jnode *at, jv fn, const jv *pos, size_t n, const char *const *kw, const jv *kwv,
             size_t n_kw)
{
    if (fn.kind == JV_MACRO)
        return call_macro(c, at, fn.m, pos, n, kw, kwv, n_kw, NULL);
    if (fn.kind == JV_FUNC)
        return jb_call_global(c, at, fn.fn, pos, n, kw, kwv, n_kw);
    return jctx_fail(c, at, "'%s' object is not callable", jv_type_name(fn));
}

static jv eval_call(jctx *c, const jnode *n)
{
    args a;
    const jnode *f = n->a;
    if (f->kind == JN_ATTR) { /* obj.method(args), or a macro kept in a dict */
        jv self = eval(c, f->a);
        if (c->st != RF_OK || !eval_args(c, n, &a))
            return JV_UNDEFINED;
        if (self.kind == JV_DICT || self.kind == JV_NS) {
            jv m = jdict_get_s(self.d, f->name);
            if (m.kind == JV_MACRO || m.kind == JV_FUNC)
                return jctx_call(c, n, m, a.pos, a.n, a.kw, a.kwv, a.n_kw);
        }
        return jb_method(c, n, self, f->name, a.pos, a.n, a.kw, a.kwv, a.n_kw);
    }
    jv fn = eval(c, f);
    if (c->st != RF_OK || !eval_args(c, n, &a))
        return JV_UNDEFINED;
    if (fn.kind == JV_UNDEF)
        return jctx_fail(c, n, "'%s' is undefined", f->kind == JN_NAME ? f->name : "the callee");
    return jctx_call(c, n, fn, a.pos, a.n, a.kw, a.kwv, a.n_kw);
}

static jv eval(jctx *c, const jnode *n)
{
    if (c->st != RF_OK || !n)
        return JV_UNDEFINED;
    switch (n->kind) {
    case JN_LIT: return n->lit;
    case JN_NAME: return lookup(c, n->name);
    case JN_LIST:
    case JN_TUPLE: {
        jv l = jv_list(c->a);
        for (size_t i = 0; l.kind == JV_LIST && i < n->n_kids; i++)
            if (!jlist_push(c->a, l.l, eval(c, n->kids[i])))
                return nomem(c);
        if (l.kind != JV_LIST)
            return nomem(c);
        l.l->tuple = n->kind == JN_TUPLE;
        return l;
    }
    case JN_DICT: {
        jv d = jv_dict(c->a);
        for (size_t i = 0; d.kind == JV_DICT && i + 1 < n->n_kids; i += 2) {
            jv k = eval(c, n->kids[i]);
            if (!jdict_set(c->a, d.d, k, eval(c, n->kids[i + 1])))
                return nomem(c);
        }
        return d.kind == JV_DICT ? d : nomem(c);
    }
    case JN_ATTR: {
        jv v = eval(c, n->a);
        if (v.kind == JV_UNDEF && c->st == RF_OK)
            return jctx_fail(c, n, "'%s' is undefined", n->a->kind == JN_NAME ? n->a->name : "the value");
        return jb_attr(c, v, n->name);
    }
    case JN_ITEM: {
        jv v = eval(c, n->a), k = eval(c, n->b);
        if (v.kind == JV_UNDEF && c->st == RF_OK)
            return jctx_fail(c, n, "'%s' is undefined", n->a->kind == JN_NAME ? n->a->name : "the value");
        return item(c, n, v, k);
    }
    case JN_SLICE: {
        jv v = eval(c, n->a), lo = eval(c, n->b), hi = eval(c, n->c), st = eval(c, n->d);
        return slice(c, n, v, lo, hi, st);
    }
    case JN_CALL: return eval_call(c, n);
    case JN_FILTER: {
        jv in = eval(c, n->a);
        args a;
        if (c->st != RF_OK || !eval_args(c, n, &a))
            return JV_UNDEFINED;
        return jb_filter(c, n, n->name, in, a.pos, a.n, a.kw, a.kwv, a.n_kw);
    }
    case JN_TEST: {
        jv v = eval(c, n->a);
        args a;
        if (c->st != RF_OK || !eval_args(c, n, &a))
            return JV_UNDEFINED;
        bool r = jb_test(c, n, n->name, v, a.pos, a.n);
        return jv_bool(n->op ? !r : r);
    }
    case JN_UNARY: {
        jv v = eval(c, n->a);
        if (n->op == 'n')
            return jv_bool(!jv_truthy(v));
        if (!jv_is_number(v))
            return jctx_fail(c, n, "bad operand type for unary %c: '%s'", n->op, jv_type_name(v));
        if (n->op == '+')
            return v.kind == JV_BOOL ? jv_int(v.b) : v;
        return v.kind == JV_FLOAT ? jv_float(-v.f) : jv_int((int64_t)(0 - (uint64_t)(v.kind == JV_INT ? v.i : v.b)));
    }
    case JN_BINARY: {
        if (n->op == 'a' || n->op == 'o') { /* Python: the deciding operand itself */
            jv a = eval(c, n->a);
            if (jv_truthy(a) == (n->op == 'o'))
                return a;
            return eval(c, n->b);
        }
        if (n->op >= JOP_EQ) { /* a comparison chain */
            jv left = eval(c, n->a);
            for (const jnode *link = n; link && c->st == RF_OK; link = link->c) {
                jv right = eval(c, link->b);
                if (!compare_op(c, link, link->op, left, right))
                    return jv_bool(false);
                left = right;
            }
            return jv_bool(c->st == RF_OK);
        }
        jv a = eval(c, n->a), b = eval(c, n->b);
        return c->st == RF_OK ? arith(c, n, n->op, a, b) : JV_UNDEFINED;
    }
    case JN_COND: return jv_truthy(eval(c, n->a)) ? eval(c, n->b) : n->c ? eval(c, n->c) : JV_UNDEFINED;
    default: return jctx_fail(c, n, "not an expression");
    }
}

/* ---- statements --------------------------------------------------------------------------- */

jv jctx_chars(jctx *c, const jnode *at, const jstr *s)
{
    if (s->n > JINJA_MAX_ITEMS && jstr_cps(s) > JINJA_MAX_ITEMS)
        return jctx_fail(c, at, "a list of more than %d characters", JINJA_MAX_ITEMS);
    jv l = jv_list(c->a);
    for (size_t b = 0, e; l.kind == JV_LIST && b < s->n; b = e) {
        e = jstr_cp_next(s, b);
        if (!jlist_push(c->a, l.l, jv_str(c->a, s->p + b, e - b)))
            return nomem(c);
    }
    return l.kind == JV_LIST ? l : nomem(c);
}

/* the items a for loop walks: a list's, a dict's keys, a string's characters */
static jv iterable(jctx *c, const jnode *n, jv v)
{
    switch (v.kind) {
    case JV_LIST: return v;
    case JV_UNDEF: return jv_list(c->a); /* jinja2's Undefined iterates as empty */
    case JV_DICT:
    case JV_NS: {
        jv l = jv_list(c->a);
        for (size_t i = 0; l.kind == JV_LIST && i < v.d->n; i++)
            if (!jlist_push(c->a, l.l, v.d->k[i]))
                return nomem(c);
        return l;
    }
    case JV_STR: return jctx_chars(c, n, v.s);
    default: return jctx_fail(c, n, "'%s' object is not iterable", jv_type_name(v));
    }
}

/* binds the targets of a for or set to v (several: v unpacked) */
static void bind(jctx *c, const jnode *n, jv v)
{
    if (n->n_kids == 1) {
        if (!assign(c, n->names[0], v))
            nomem(c);
        return;
    }
    jv l = iterable(c, n, v);
    if (c->st != RF_OK)
        return;
    if (l.l->n != n->n_kids) {
        jctx_fail(c, n, "cannot unpack %zu values into %zu names", l.l->n, n->n_kids);
        return;
    }
    for (size_t i = 0; i < n->n_kids; i++)
        if (!assign(c, n->names[i], l.l->v[i]))
            nomem(c);
}

static void exec_for(jctx *c, const jnode *n)
{
    jv items = iterable(c, n, eval(c, n->a));
    if (c->st != RF_OK)
        return;
    size_t saved = c->n_frames;
    if (n->d) { /* the loop's filter first: loop.* count what it keeps */
        jv kept = jv_list(c->a);
        if (kept.kind != JV_LIST || !push_frame(c)) {
            nomem(c);
            return;
        }
        for (size_t i = 0; i < items.l->n && c->st == RF_OK; i++) {
            bind(c, n, items.l->v[i]);
            if (jv_truthy(eval(c, n->d)) && !jlist_push(c->a, kept.l, items.l->v[i]))
                nomem(c);
        }
        c->n_frames = saved;
        items = kept;
    }
    jloop *lp = arena_calloc(c->a, 1, sizeof *lp);
    if (!lp) {
        nomem(c);
        return;
    }
    lp->items = items.l;
    for (size_t i = 0; i < items.l->n && c->st == RF_OK && step(c, n); i++) {
        if (!push_frame(c)) {
            nomem(c);
            return;
        }
        lp->index0 = i;
        bind(c, n, items.l->v[i]);
        assign(c, "loop", (jv){.kind = JV_LOOP, .loop = lp});
        exec(c, n->b);
        c->n_frames = saved;
        if (c->ctl == 1) {
            c->ctl = 0;
            break;
        }
        c->ctl = 0;
    }
    if (!items.l->n && n->c)
        exec(c, n->c);
}

/* renders a body into a string (block set, filter block) */
static jv capture(jctx *c, const jnode *body)
{
    strbuf saved = c->out;
    c->out = (strbuf){0};
    exec(c, body);
    strbuf got = c->out;
    c->out = saved;
    jv r = got.oom ? nomem(c) : jv_str(c->a, got.p ? got.p : "", got.n);
    free(got.p);
    return r;
}

/* a {% filter %} chain applied to in: the chain's innermost input is NULL */
static jv filter_chain(jctx *c, const jnode *f, jv in)
{
    if (!f)
        return in;
    jv v = filter_chain(c, f->a, in);
    args a;
    if (c->st != RF_OK || !eval_args(c, f, &a))
        return JV_UNDEFINED;
    return jb_filter(c, f, f->name, v, a.pos, a.n, a.kw, a.kwv, a.n_kw);
}

static void exec(jctx *c, const jnode *n)
{
    if (c->st != RF_OK || !n)
        return;
    switch (n->kind) {
    case JN_BODY:
        for (size_t i = 0; i < n->n_kids && c->st == RF_OK && !c->ctl; i++)
            exec(c, n->kids[i]);
        return;
    case JN_TEXT: strbuf_put(&c->out, n->lit.s->p, n->lit.s->n); return;
    case JN_OUT: {
        jv v = eval(c, n->a);
        if (c->st == RF_OK)
            jv_str_to(&c->out, v);
        return;
    }
    case JN_IF: exec(c, jv_truthy(eval(c, n->a)) ? n->b : n->c); return;
    case JN_FOR: exec_for(c, n); return;
    case JN_SET: {
        jv v = n->a ? eval(c, n->a) : capture(c, n->b);
        if (c->st == RF_OK)
            bind(c, n, v);
        return;
    }
    case JN_SETATTR: {
        jv ns = lookup(c, n->name), v = eval(c, n->a);
        if (c->st != RF_OK)
            return;
        if (ns.kind != JV_NS) {
            jctx_fail(c, n, "cannot assign attribute on non-namespace object '%s'", n->name);
            return;
        }
        jv k = jv_str(c->a, n->names[0], strlen(n->names[0]));
        if (k.kind != JV_STR || !jdict_set(c->a, ns.d, k, v))
            nomem(c);
        return;
    }
    case JN_MACRO:
        if (!assign(c, n->name, (jv){.kind = JV_MACRO, .m = n}))
            nomem(c);
        return;
    case JN_CALLBLK: {
        const jnode *call = n->a;
        jv fn = eval(c, call->a);
        args a;
        if (c->st != RF_OK || !eval_args(c, call, &a))
            return;
        if (fn.kind != JV_MACRO) {
            jctx_fail(c, n, "call needs a macro");
            return;
        }
        jv r = call_macro(c, n, fn.m, a.pos, a.n, a.kw, a.kwv, a.n_kw, n);
        if (c->st == RF_OK)
            jv_str_to(&c->out, r);
        return;
    }
    case JN_FILTBLK: {
        jv v = filter_chain(c, n->a, capture(c, n->b));
        if (c->st == RF_OK)
            jv_str_to(&c->out, v);
        return;
    }
    case JN_BREAK: c->ctl = 1; return;
    case JN_CONTINUE: c->ctl = 2; return;
    default: jctx_fail(c, n, "not a statement"); return;
    }
}

rf_status jinja_render(const jinja_template *t, arena *a, const jinja_vars *v, char **out, size_t *len,
                       rf_error *err)
{
    *out = NULL;
    if (len)
        *len = 0;
    jctx c = {.a = a, .t = t, .err = err, .now = v ? v->now : 0};
    if (!push_frame(&c) || !push_frame(&c)) /* the variables, then the template's top level */
        return rf_fail(err, RF_E_NOMEM, "out of memory rendering a template");
    if (v && (v->vars.kind == JV_DICT || v->vars.kind == JV_NS))
        c.frames[0] = v->vars.d;
    c.barrier = 2;
    exec(&c, t->root);
    if (c.st == RF_OK && c.out.oom)
        c.st = rf_fail(err, RF_E_NOMEM, "out of memory rendering a template");
    if (c.st != RF_OK) {
        free(c.out.p);
        return c.st;
    }
    if (!c.out.p && !(c.out.p = calloc(1, 1)))
        return rf_fail(err, RF_E_NOMEM, "out of memory rendering a template");
    *out = c.out.p;
    if (len)
        *len = c.out.n;
    return RF_OK;
}
