/*
 * parse.c: tokens → the tree of a template.
 *
 * Recursive descent in jinja2's own order of precedence, lowest first:
 *   cond      x if c else y
 *   or, and, not
 *   compare   == != < <= > >= in, not in (chained as Python chains them)
 *   + -, then ~, then * / // %, then **
 *   unary     - +, then a primary with its postfixes (.name, [i], [a:b:c],
 *             (args)), then filters (| f(args)) and tests (is [not] t arg)
 * so `x|length > 1` compares a filtered value and `not x is defined` is
 * not (x is defined), as in jinja2. Statements: if/elif/else, for (with an
 * if filter and an else), set (names, a namespace attribute, or a block),
 * macro, call, filter, break, continue, and transformers' generation block
 * (its body only). Errors carry the template's name and line:column.
 * Over 800 lines: one grammar, read top to bottom, precedence level by
 * level; split, a reader would chase it across files.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja/jinja.h"
#include "support/error.h"

enum { MAX_NESTING = 200 }; /* expressions and statements: the recursion stays off the stack's end */

typedef struct parser {
    jinja_template *t;
    const jtok *tok;
    size_t n, i;
    int depth;
    rf_error *err;
    rf_status st;
} parser;

static const jtok *cur(const parser *P) { return &P->tok[P->i < P->n ? P->i : P->n - 1]; }

static void *pfail(parser *P, const jtok *at, const char *fmt, ...) RF_PRINTF(3, 4);
static void *pfail(parser *P, const jtok *at, const char *fmt, ...)
{
    if (P->st != RF_OK)
        return NULL;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    P->st = rf_fail(P->err, RF_E_FORMAT, "%s:%d:%d: %s", P->t->name, at->line, at->col, msg);
    return NULL;
}

static void *oom(parser *P)
{
    if (P->st == RF_OK)
        P->st = rf_fail(P->err, RF_E_NOMEM, "out of memory");
    return NULL;
}

static bool is_op(const jtok *t, const char *op)
{
    return t->kind == JT_OP && t->n == strlen(op) && !memcmp(t->p, op, t->n);
}

static bool is_name(const jtok *t, const char *w)
{
    return t->kind == JT_NAME && t->n == strlen(w) && !memcmp(t->p, w, t->n);
}

static bool eat_op(parser *P, const char *op)
{
    if (!is_op(cur(P), op))
        return false;
    P->i++;
    return true;
}

static bool eat_name(parser *P, const char *w)
{
    if (!is_name(cur(P), w))
        return false;
    P->i++;
    return true;
}

static bool expect_op(parser *P, const char *op)
{
    if (eat_op(P, op))
        return true;
    pfail(P, cur(P), "expected '%s'", op);
    return false;
}

static const char *tok_text(parser *P, const jtok *t)
{
    char *s = arena_strndup(&P->t->arena, t->p, t->n);
    return s ? s : oom(P);
}

static jnode *node(parser *P, jn_kind k, const jtok *at)
{
    jnode *n = arena_calloc(&P->t->arena, 1, sizeof *n);
    if (!n)
        return oom(P);
    n->kind = k;
    n->line = at->line;
    n->col = at->col;
    return n;
}

/* appends kid (and its keyword name) to n */
static void add_kid(parser *P, jnode *n, jnode *kid, const char *kw)
{
    if (P->st != RF_OK)
        return;
    if ((n->n_kids & (n->n_kids - 1)) == 0) { /* 0, 1, 2, 4, ...: grow to the next power of two */
        size_t cap = n->n_kids ? 2 * n->n_kids : 1;
        jnode **k = arena_alloc(&P->t->arena, cap * sizeof *k);
        const char **nm = arena_alloc(&P->t->arena, cap * sizeof *nm);
        if (!k || !nm) {
            oom(P);
            return;
        }
        if (n->n_kids) {
            memcpy(k, n->kids, n->n_kids * sizeof *k);
            memcpy(nm, n->names, n->n_kids * sizeof *nm);
        }
        n->kids = k;
        n->names = nm;
    }
    n->names[n->n_kids] = kw;
    n->kids[n->n_kids++] = kid;
    n->n_names = n->n_kids;
}

static jnode *expr(parser *P);
static jnode *unary(parser *P, bool with_filter);
static jnode *or_expr(parser *P);

/* (args): positional, then name=value */
static void call_args(parser *P, jnode *n)
{
    if (eat_op(P, ")"))
        return;
    do {
        if (is_op(cur(P), ")"))
            break;
        const char *kw = NULL;
        if (cur(P)->kind == JT_NAME && P->i + 1 < P->n && is_op(&P->tok[P->i + 1], "=")) {
            kw = tok_text(P, cur(P));
            P->i += 2;
        }
        add_kid(P, n, expr(P), kw);
    } while (P->st == RF_OK && eat_op(P, ","));
    expect_op(P, ")");
}

static jnode *primary(parser *P)
{
    const jtok *t = cur(P);
    jnode *n = NULL;
    switch (t->kind) {
    case JT_NAME:
        P->i++;
        if (is_name(t, "true") || is_name(t, "True") || is_name(t, "false") || is_name(t, "False")) {
            if ((n = node(P, JN_LIT, t)))
                n->lit = jv_bool(t->p[0] == 't' || t->p[0] == 'T');
        } else if (is_name(t, "none") || is_name(t, "None")) {
            if ((n = node(P, JN_LIT, t)))
                n->lit = JV_NULL;
        } else if ((n = node(P, JN_NAME, t))) {
            n->name = tok_text(P, t);
        }
        return n;
    case JT_STRING: { /* adjacent literals are one */
        size_t len = 0, j = P->i;
        for (; j < P->n && P->tok[j].kind == JT_STRING; j++)
            len += P->tok[j].n;
        char *s = arena_alloc(&P->t->arena, len + 1);
        if (!s || !(n = node(P, JN_LIT, t)))
            return oom(P);
        len = 0;
        for (; P->i < j; P->i++) {
            memcpy(s + len, P->tok[P->i].p, P->tok[P->i].n);
            len += P->tok[P->i].n;
        }
        n->lit = jv_str(&P->t->arena, s, len);
        return n;
    }
    case JT_INT:
    case JT_FLOAT:
        P->i++;
        if ((n = node(P, JN_LIT, t)))
            n->lit = t->kind == JT_INT ? jv_int(t->i) : jv_float(t->f);
        return n;
    case JT_OP:
        if (eat_op(P, "(")) {
            if (eat_op(P, ")"))
                return node(P, JN_TUPLE, t);
            jnode *e = expr(P);
            if (!is_op(cur(P), ","))
                return expect_op(P, ")") ? e : NULL;
            n = node(P, JN_TUPLE, t);
            add_kid(P, n, e, NULL);
            while (P->st == RF_OK && eat_op(P, ",") && !is_op(cur(P), ")"))
                add_kid(P, n, expr(P), NULL);
            expect_op(P, ")");
            return n;
        }
        if (eat_op(P, "[")) {
            n = node(P, JN_LIST, t);
            while (P->st == RF_OK && !is_op(cur(P), "]")) {
                add_kid(P, n, expr(P), NULL);
                if (!eat_op(P, ","))
                    break;
            }
            expect_op(P, "]");
            return n;
        }
        if (eat_op(P, "{")) {
            n = node(P, JN_DICT, t);
            while (P->st == RF_OK && !is_op(cur(P), "}")) {
                add_kid(P, n, expr(P), NULL);
                expect_op(P, ":");
                add_kid(P, n, expr(P), NULL);
                if (!eat_op(P, ","))
                    break;
            }
            expect_op(P, "}");
            return n;
        }
        break;
    default:
        break;
    }
    return pfail(P, t, "unexpected %s", t->kind == JT_EOF ? "end of template" : t->kind == JT_VAR_END ||
                 t->kind == JT_BLOCK_END ? "end of tag" : "token");
}

static jnode *postfix(parser *P, jnode *n)
{
    while (P->st == RF_OK) {
        const jtok *t = cur(P);
        if (eat_op(P, ".")) {
            const jtok *nm = cur(P);
            if (nm->kind != JT_NAME && nm->kind != JT_INT)
                return pfail(P, nm, "expected an attribute name after '.'");
            P->i++;
            jnode *a = node(P, nm->kind == JT_NAME ? JN_ATTR : JN_ITEM, t);
            if (!a)
                return NULL;
            a->a = n;
            if (nm->kind == JT_NAME) {
                a->name = tok_text(P, nm);
            } else if ((a->b = node(P, JN_LIT, nm))) {
                a->b->lit = jv_int(nm->i);
            }
            n = a;
        } else if (eat_op(P, "[")) {
            jnode *parts[3] = {NULL, NULL, NULL};
            int k = 0;
            bool slice = false;
            for (;;) {
                if (!is_op(cur(P), ":") && !is_op(cur(P), "]"))
                    parts[k] = expr(P);
                if (k < 2 && eat_op(P, ":")) {
                    slice = true;
                    k++;
                    continue;
                }
                break;
            }
            expect_op(P, "]");
            jnode *s = node(P, slice ? JN_SLICE : JN_ITEM, t);
            if (!s)
                return NULL;
            s->a = n;
            s->b = parts[0], s->c = parts[1], s->d = parts[2];
            if (!slice && !parts[0])
                return pfail(P, t, "empty subscript");
            n = s;
        } else if (eat_op(P, "(")) {
            jnode *c = node(P, JN_CALL, t);
            if (!c)
                return NULL;
            c->a = n;
            call_args(P, c);
            n = c;
        } else {
            break;
        }
    }
    return n;
}

/* a dotted filter or test name */
static const char *dotted(parser *P)
{
    const jtok *t = cur(P);
    if (t->kind != JT_NAME)
        return pfail(P, t, "expected a filter or test name");
    P->i++;
    const char *s = t->p;
    size_t n = t->n;
    while (is_op(cur(P), ".") && P->i + 1 < P->n && P->tok[P->i + 1].kind == JT_NAME) {
        n = (size_t)(P->tok[P->i + 1].p + P->tok[P->i + 1].n - s);
        P->i += 2;
    }
    char *r = arena_strndup(&P->t->arena, s, n);
    return r ? r : oom(P);
}

static jnode *filter_expr(parser *P, jnode *n)
{
    while (P->st == RF_OK) {
        const jtok *t = cur(P);
        if (eat_op(P, "|")) {
            jnode *f = node(P, JN_FILTER, t);
            if (!f)
                return NULL;
            f->a = n;
            f->name = dotted(P);
            if (eat_op(P, "("))
                call_args(P, f);
            n = f;
        } else if (eat_name(P, "is")) {
            jnode *x = node(P, JN_TEST, t);
            if (!x)
                return NULL;
            x->a = n;
            x->op = eat_name(P, "not");
            x->name = dotted(P);
            const jtok *c = cur(P);
            if (eat_op(P, "(")) {
                call_args(P, x);
            } else if ((c->kind == JT_NAME || c->kind == JT_STRING || c->kind == JT_INT || c->kind == JT_FLOAT ||
                        is_op(c, "(") || is_op(c, "[") || is_op(c, "{")) &&
                       !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
                add_kid(P, x, postfix(P, primary(P)), NULL); /* `is divisibleby 3` */
            }
            n = x;
        } else if (is_op(t, "(")) {
            n = postfix(P, n);
        } else {
            break;
        }
    }
    return n;
}

static jnode *unary(parser *P, bool with_filter)
{
    const jtok *t = cur(P);
    jnode *n;
    if (++P->depth > MAX_NESTING) {
        P->depth--;
        return pfail(P, t, "nested more than %d deep", MAX_NESTING);
    }
    if (is_op(t, "-") || is_op(t, "+")) {
        P->i++;
        if ((n = node(P, JN_UNARY, t))) {
            n->op = t->p[0];
            n->a = unary(P, false);
        }
    } else {
        n = primary(P);
    }
    n = postfix(P, n);
    n = with_filter ? filter_expr(P, n) : n;
    P->depth--;
    return n;
}

static jnode *binary(parser *P, const jtok *at, int op, jnode *a, jnode *b)
{
    jnode *n = node(P, JN_BINARY, at);
    if (n) {
        n->op = op;
        n->a = a;
        n->b = b;
    }
    return n;
}

static jnode *pow_expr(parser *P)
{
    jnode *n = unary(P, true);
    while (P->st == RF_OK && is_op(cur(P), "**")) {
        const jtok *t = cur(P);
        P->i++;
        n = binary(P, t, 'p', n, unary(P, true));
    }
    return n;
}

static jnode *mul_expr(parser *P)
{
    jnode *n = pow_expr(P);
    while (P->st == RF_OK) {
        const jtok *t = cur(P);
        int op = is_op(t, "*") ? '*' : is_op(t, "/") ? '/' : is_op(t, "//") ? 'f' : is_op(t, "%") ? '%' : 0;
        if (!op)
            break;
        P->i++;
        n = binary(P, t, op, n, pow_expr(P));
    }
    return n;
}

static jnode *concat_expr(parser *P)
{
    jnode *n = mul_expr(P);
    while (P->st == RF_OK && is_op(cur(P), "~")) {
        const jtok *t = cur(P);
        P->i++;
        n = binary(P, t, '~', n, mul_expr(P));
    }
    return n;
}

static jnode *add_expr(parser *P)
{
    jnode *n = concat_expr(P);
    while (P->st == RF_OK && (is_op(cur(P), "+") || is_op(cur(P), "-"))) {
        const jtok *t = cur(P);
        P->i++;
        n = binary(P, t, t->p[0], n, concat_expr(P));
    }
    return n;
}

/* a < b < c is (a < b) and (b < c), b once: a JN_BINARY chain whose
 * right-hand sides the evaluator walks (op 'c' links) */
static jnode *compare(parser *P)
{
    jnode *n = add_expr(P), *chain = NULL, **tail = &chain;
    while (P->st == RF_OK) {
        const jtok *t = cur(P);
        int op = is_op(t, "==") ? JOP_EQ : is_op(t, "!=") ? JOP_NE : is_op(t, "<") ? JOP_LT : is_op(t, "<=") ? JOP_LE
               : is_op(t, ">") ? JOP_GT : is_op(t, ">=") ? JOP_GE : is_name(t, "in") ? JOP_IN : 0;
        if (!op && is_name(t, "not") && P->i + 1 < P->n && is_name(&P->tok[P->i + 1], "in")) {
            op = JOP_NOTIN;
            P->i++;
        }
        if (!op)
            break;
        P->i++;
        jnode *c = binary(P, t, op, NULL, add_expr(P));
        if (!c)
            return NULL;
        *tail = c;
        tail = &c->c;
    }
    if (!chain)
        return n;
    chain->a = n; /* the first operand; each link's b the next, c the next link */
    return chain;
}

static jnode *not_expr(parser *P)
{
    const jtok *t = cur(P);
    if (eat_name(P, "not")) {
        jnode *n = node(P, JN_UNARY, t);
        if (n) {
            n->op = 'n';
            n->a = not_expr(P);
        }
        return n;
    }
    return compare(P);
}

static jnode *and_expr(parser *P)
{
    jnode *n = not_expr(P);
    while (P->st == RF_OK && is_name(cur(P), "and")) {
        const jtok *t = cur(P);
        P->i++;
        n = binary(P, t, 'a', n, not_expr(P));
    }
    return n;
}

static jnode *or_expr(parser *P)
{
    jnode *n = and_expr(P);
    while (P->st == RF_OK && is_name(cur(P), "or")) {
        const jtok *t = cur(P);
        P->i++;
        n = binary(P, t, 'o', n, and_expr(P));
    }
    return n;
}

static jnode *expr(parser *P)
{
    jnode *n = or_expr(P);
    while (P->st == RF_OK && is_name(cur(P), "if")) {
        const jtok *t = cur(P);
        P->i++;
        jnode *c = node(P, JN_COND, t);
        if (!c)
            return NULL;
        c->a = or_expr(P);
        c->b = n;
        if (eat_name(P, "else"))
            c->c = expr(P);
        n = c;
    }
    return n;
}

/* ---- statements ------------------------------------------------------------- */

static jnode *body(parser *P, const char *const *ends);

static bool block_end(parser *P)
{
    if (cur(P)->kind == JT_BLOCK_END) {
        P->i++;
        return true;
    }
    pfail(P, cur(P), "expected the end of the statement");
    return false;
}

/* after a body: "{% word" where word is one of ends; consumes the word */
static const char *end_word(parser *P, const char *const *ends, const jtok *opener, const char *what)
{
    const jtok *t = cur(P);
    for (size_t k = 0; ends[k]; k++)
        if (is_name(t, ends[k])) {
            P->i++;
            return ends[k];
        }
    pfail(P, opener, "%s without %s", what, ends[0]);
    return NULL;
}

/* target names of for and set: a, b, c */
static void targets(parser *P, jnode *n)
{
    do {
        const jtok *t = cur(P);
        if (t->kind != JT_NAME) {
            pfail(P, t, "expected a name");
            return;
        }
        P->i++;
        add_kid(P, n, NULL, tok_text(P, t));
    } while (P->st == RF_OK && eat_op(P, ","));
}

static jnode *stmt_if(parser *P, const jtok *at)
{
    static const char *const ends[] = {"endif", "elif", "else", NULL};
    jnode *n = node(P, JN_IF, at);
    if (!n)
        return NULL;
    n->a = expr(P);
    block_end(P);
    n->b = body(P, ends);
    const char *w = end_word(P, ends, at, "if");
    if (w && !strcmp(w, "elif")) {
        n->c = stmt_if(P, &P->tok[P->i - 1]);
    } else if (w && !strcmp(w, "else")) {
        static const char *const endif[] = {"endif", NULL};
        block_end(P);
        n->c = body(P, endif);
        end_word(P, endif, at, "if");
        block_end(P);
    } else {
        block_end(P);
    }
    return n;
}

static jnode *stmt_for(parser *P, const jtok *at)
{
    static const char *const ends[] = {"endfor", "else", NULL};
    jnode *n = node(P, JN_FOR, at);
    if (!n)
        return NULL;
    targets(P, n);
    if (!eat_name(P, "in"))
        return pfail(P, cur(P), "expected 'in'");
    n->a = or_expr(P);
    if (eat_name(P, "if"))
        n->d = or_expr(P);
    if (eat_name(P, "recursive"))
        return pfail(P, at, "recursive loops are not supported");
    block_end(P);
    n->b = body(P, ends);
    const char *w = end_word(P, ends, at, "for");
    if (w && !strcmp(w, "else")) {
        static const char *const endfor[] = {"endfor", NULL};
        block_end(P);
        n->c = body(P, endfor);
        end_word(P, endfor, at, "for");
    }
    block_end(P);
    return n;
}

static jnode *stmt_set(parser *P, const jtok *at)
{
    const jtok *t = cur(P);
    if (t->kind == JT_NAME && P->i + 2 < P->n && is_op(&P->tok[P->i + 1], ".") && P->tok[P->i + 2].kind == JT_NAME) {
        jnode *n = node(P, JN_SETATTR, at);
        if (!n)
            return NULL;
        n->name = tok_text(P, t);
        P->i += 2;
        targets(P, n); /* the attribute */
        if (!expect_op(P, "="))
            return NULL;
        n->a = expr(P);
        block_end(P);
        return n;
    }
    jnode *n = node(P, JN_SET, at);
    if (!n)
        return NULL;
    targets(P, n);
    if (eat_op(P, "=")) {
        n->a = expr(P);
        if (is_op(cur(P), ",")) { /* set a = x, y: a tuple */
            jnode *tup = node(P, JN_TUPLE, cur(P));
            add_kid(P, tup, n->a, NULL);
            while (P->st == RF_OK && eat_op(P, ","))
                add_kid(P, tup, expr(P), NULL);
            n->a = tup;
        }
        block_end(P);
        return n;
    }
    static const char *const ends[] = {"endset", NULL};
    if (n->n_kids != 1)
        return pfail(P, at, "a block set takes one name");
    block_end(P);
    n->b = body(P, ends);
    end_word(P, ends, at, "set");
    block_end(P);
    return n;
}

static jnode *stmt_macro(parser *P, const jtok *at)
{
    static const char *const ends[] = {"endmacro", NULL};
    jnode *n = node(P, JN_MACRO, at);
    if (!n)
        return NULL;
    const jtok *t = cur(P);
    if (t->kind != JT_NAME)
        return pfail(P, t, "expected the macro's name");
    P->i++;
    n->name = tok_text(P, t);
    if (!expect_op(P, "("))
        return NULL;
    while (P->st == RF_OK && !is_op(cur(P), ")")) {
        const jtok *pt = cur(P);
        if (pt->kind != JT_NAME)
            return pfail(P, pt, "expected a parameter name");
        P->i++;
        add_kid(P, n, eat_op(P, "=") ? expr(P) : NULL, tok_text(P, pt));
        if (!eat_op(P, ","))
            break;
    }
    expect_op(P, ")");
    block_end(P);
    n->b = body(P, ends);
    end_word(P, ends, at, "macro");
    block_end(P);
    return n;
}

static jnode *stmt_inner(parser *P);

static jnode *stmt(parser *P)
{
    if (++P->depth > MAX_NESTING) {
        P->depth--;
        return pfail(P, cur(P), "statements nested more than %d deep", MAX_NESTING);
    }
    jnode *n = stmt_inner(P);
    P->depth--;
    return n;
}

static jnode *stmt_inner(parser *P)
{
    const jtok *at = cur(P);
    if (at->kind != JT_NAME)
        return pfail(P, at, "expected a statement name");
    P->i++;
    if (is_name(at, "if"))
        return stmt_if(P, at);
    if (is_name(at, "for"))
        return stmt_for(P, at);
    if (is_name(at, "set"))
        return stmt_set(P, at);
    if (is_name(at, "macro"))
        return stmt_macro(P, at);
    if (is_name(at, "break") || is_name(at, "continue")) {
        jnode *n = node(P, at->p[0] == 'b' ? JN_BREAK : JN_CONTINUE, at);
        block_end(P);
        return n;
    }
    if (is_name(at, "generation")) { /* transformers' assistant-mask marker: its body, as it is */
        static const char *const ends[] = {"endgeneration", NULL};
        block_end(P);
        jnode *n = body(P, ends);
        end_word(P, ends, at, "generation");
        block_end(P);
        return n;
    }
    if (is_name(at, "filter")) {
        static const char *const ends[] = {"endfilter", NULL};
        jnode *n = node(P, JN_FILTBLK, at);
        if (!n)
            return NULL;
        jnode *f = node(P, JN_FILTER, cur(P)); /* the first filter has no '|' */
        if (!f)
            return NULL;
        f->name = dotted(P);
        if (eat_op(P, "("))
            call_args(P, f);
        n->a = filter_expr(P, f);
        block_end(P);
        n->b = body(P, ends);
        end_word(P, ends, at, "filter");
        block_end(P);
        return n;
    }
    if (is_name(at, "call")) {
        static const char *const ends[] = {"endcall", NULL};
        jnode *n = node(P, JN_CALLBLK, at);
        if (!n)
            return NULL;
        if (eat_op(P, "(")) /* caller's parameters */
            while (P->st == RF_OK && !eat_op(P, ")")) {
                const jtok *pt = cur(P);
                if (pt->kind != JT_NAME)
                    return pfail(P, pt, "expected a parameter name");
                P->i++;
                add_kid(P, n, NULL, tok_text(P, pt));
                eat_op(P, ",");
            }
        n->a = expr(P);
        if (P->st == RF_OK && (!n->a || n->a->kind != JN_CALL))
            return pfail(P, at, "call needs a macro call");
        block_end(P);
        n->b = body(P, ends);
        end_word(P, ends, at, "call");
        block_end(P);
        return n;
    }
    char w[40];
    snprintf(w, sizeof w, "%.*s", (int)(at->n < 32 ? at->n : 32), at->p);
    return pfail(P, at, "unknown statement '%s'", w);
}

/* statements until a "{% word" with word in ends (left for the caller), or
 * the end of the template when ends is NULL */
static jnode *body(parser *P, const char *const *ends)
{
    jnode *b = node(P, JN_BODY, cur(P));
    while (P->st == RF_OK) {
        const jtok *t = cur(P);
        if (t->kind == JT_EOF) {
            if (ends)
                return pfail(P, t, "unexpected end of template: '%s' is missing", ends[0]);
            break;
        }
        if (t->kind == JT_TEXT) {
            jnode *x = node(P, JN_TEXT, t);
            if (x)
                x->lit = jv_str(&P->t->arena, t->p, t->n);
            add_kid(P, b, x, NULL);
            P->i++;
        } else if (t->kind == JT_VAR_BEGIN) {
            P->i++;
            jnode *x = node(P, JN_OUT, t);
            if (x)
                x->a = expr(P);
            if (P->st == RF_OK && cur(P)->kind != JT_VAR_END)
                return pfail(P, cur(P), "expected '}}'");
            P->i++;
            add_kid(P, b, x, NULL);
        } else if (t->kind == JT_BLOCK_BEGIN) {
            static const char *const closers[] = {"endif", "elif", "else", "endfor", "endset", "endmacro",
                                                  "endcall", "endfilter", "endgeneration", NULL};
            const jtok *w = &P->tok[P->i + 1];
            for (size_t k = 0; ends && ends[k]; k++)
                if (is_name(w, ends[k])) {
                    P->i++;
                    return b;
                }
            for (size_t k = 0; closers[k]; k++)
                if (is_name(w, closers[k]))
                    return ends ? pfail(P, w, "unexpected '%s', expected '%s'", closers[k], ends[0])
                                : pfail(P, w, "'%s' closes nothing", closers[k]);
            P->i++;
            add_kid(P, b, stmt(P), NULL);
        } else {
            return pfail(P, t, "unexpected token");
        }
    }
    return b;
}

rf_status jinja_parse(const char *src, size_t len, const char *name, jinja_template **out, rf_error *err)
{
    *out = NULL;
    jinja_template *t = calloc(1, sizeof *t);
    if (!t)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    arena_init(&t->arena);
    t->name = arena_strndup(&t->arena, name ? name : "template", strlen(name ? name : "template"));
    jtoks toks;
    rf_status st = t->name ? jinja_lex(&t->arena, src, len, t->name, &toks, err)
                           : rf_fail(err, RF_E_NOMEM, "out of memory");
    if (st == RF_OK) {
        parser P = {.t = t, .tok = toks.t, .n = toks.n, .err = err};
        t->root = body(&P, NULL);
        st = P.st;
    }
    if (st != RF_OK) {
        jinja_free(t);
        return st;
    }
    *out = t;
    return RF_OK;
}

void jinja_free(jinja_template *t)
{
    if (!t)
        return;
    arena_free(&t->arena);
    free(t);
}
