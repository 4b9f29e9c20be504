/*
 * jinja.h: a Jinja interpreter for chat templates (the subsystem's one
 * internal header).
 *
 * Chat templates (tokenizer.chat_template in a GGUF) are Jinja2 as Hugging
 * Face's transformers renders them: trim_blocks and lstrip_blocks on, the
 * loop controls (break, continue), the globals raise_exception, namespace,
 * range, dict and strftime_now, a tojson that is Python's json.dumps with
 * ensure_ascii off, and a {% generation %} block that only renders its body.
 * The output must be exactly what Python's jinja2 gives in that
 * environment, so values behave as Python's do: str() of a list or a float
 * is Python's, strings are compared and sliced by code point, dicts keep
 * insertion order, an undefined value prints as nothing and is false; a
 * string from |safe or |escape is markupsafe's Markup (adding a plain
 * string to it escapes that string), and what map, select, reject, unique
 * and reverse give is a generator (no length, not JSON) until |list.
 *
 * Stages, one file each: lex.c (source → tokens, with the whitespace
 * control of {%- -%}, trim_blocks and lstrip_blocks applied to the text),
 * parse.c (tokens → a tree of statements and expressions, errors with
 * line:column), eval.c (the tree → text; scopes, loops, macros) with
 * builtins.c (filters, tests, string/dict/list methods, globals) over the
 * values of value.c. A template is parsed once and rendered many times; a
 * render owns an arena freed when it returns.
 *
 * Not here: template inheritance, includes and imports (a chat template is
 * one string), autoescaping, the sandbox's attribute checks (there is no
 * Python object to reach), async.
 */
#ifndef RF_JINJA_JINJA_H
#define RF_JINJA_JINJA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rocmforge/rocmforge.h"
#include "support/arena.h"
#include "support/strbuf.h"

/* ---- values (value.c) ---------------------------------------------------- */

typedef enum jv_kind {
    JV_UNDEF,  /* a name or key that is not there: prints as "", false, iterates as empty */
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST,   /* lists and tuples alike */
    JV_DICT,   /* insertion-ordered */
    JV_NS,     /* namespace(): a dict whose attributes can be set */
    JV_MACRO,
    JV_FUNC,   /* a global function (range, dict, namespace, ...) */
    JV_LOOP,   /* the loop variable of a for */
} jv_kind;

typedef struct jstr {
    size_t n;       /* bytes, UTF-8 */
    char p[];       /* NUL-terminated */
} jstr;

typedef struct jv jv;
typedef struct jlist jlist;
typedef struct jdict jdict;
struct jnode;
struct jloop;

typedef struct jfunc {
    const char *name;
} jfunc;

/* the state behind a for loop's `loop` */
typedef struct jloop {
    jlist *items;
    size_t index0;
} jloop;

struct jv {
    jv_kind kind;
    bool safe;      /* JV_STR: markupsafe's Markup (from |safe, |escape): + escapes the other operand */
    union {
        bool b;
        int64_t i;
        double f;
        const jstr *s;
        jlist *l;
        jdict *d;
        const struct jnode *m; /* JV_MACRO: its definition */
        const jfunc *fn;
        struct jloop *loop;
    };
};

struct jlist {
    size_t n, cap;
    jv *v;
    bool tuple;     /* prints as (a, b): a tuple literal, dict items */
    bool gen;       /* a generator in Python (map, select, reject, unique, reverse): no len(),
                       not reversible, not JSON */
};

struct jdict {
    size_t n, cap;
    jv *k, *v;
};

#define JV_UNDEFINED ((jv){.kind = JV_UNDEF})
#define JV_NULL ((jv){.kind = JV_NONE})
static inline jv jv_bool(bool b) { return (jv){.kind = JV_BOOL, .b = b}; }
static inline jv jv_int(int64_t i) { return (jv){.kind = JV_INT, .i = i}; }
static inline jv jv_float(double f) { return (jv){.kind = JV_FLOAT, .f = f}; }

/* Values are allocated in the render's arena; NULL/JV_UNDEF on no memory is
 * the caller's to notice through jv_oom. */
jv jv_str(arena *a, const char *s, size_t n);
jv jv_list(arena *a);
jv jv_dict(arena *a);
bool jlist_push(arena *a, jlist *l, jv v);
bool jdict_set(arena *a, jdict *d, jv k, jv v);
jv jdict_get(const jdict *d, jv k);            /* JV_UNDEF when absent */
jv jdict_get_s(const jdict *d, const char *k); /* by a string key */

bool jv_truthy(jv v);
bool jv_equal(jv a, jv b);      /* Python ==: 1 == 1.0 == True */
/* Python ordering of numbers or of strings (by code point); false with
 * *ok false when the two do not compare */
int jv_compare(jv a, jv b, bool *ok);
bool jv_is_number(jv v);        /* int, float or bool */
double jv_num(jv v);
const char *jv_type_name(jv v); /* Python's: "str", "int", "list", ... */
/* str(v) and repr(v) as Python writes them */
void jv_str_to(strbuf *b, jv v);
void jv_repr_to(strbuf *b, jv v);
/* json.dumps(v, ensure_ascii=False, indent=indent (< 0: none),
 * separators=(item_sep, key_sep) (NULL: the default for the indent),
 * sort_keys); false when v holds something JSON cannot (a macro, ...) */
bool jv_json_to(strbuf *b, jv v, int indent, const char *item_sep, const char *key_sep, bool sort_keys);
/* UTF-8 code points of s; cp_at gives the byte offset of code point i */
size_t jstr_cps(const jstr *s);
size_t jstr_cp_offset(const jstr *s, size_t i);
/* the byte offset of the code point after the one at off (s->n past the last): one pass over a string */
size_t jstr_cp_next(const jstr *s, size_t off);

/* ---- the tree (parse.c) -------------------------------------------------- */

typedef enum jn_kind {
    /* expressions */
    JN_LIT,     /* lit */
    JN_NAME,    /* name */
    JN_LIST,    /* kids */
    JN_TUPLE,   /* kids */
    JN_DICT,    /* kids: key, value, key, value ... */
    JN_ATTR,    /* a.name */
    JN_ITEM,    /* a[b] */
    JN_SLICE,   /* a[b:c:d], each of b, c, d may be NULL */
    JN_CALL,    /* a(kids), names[i] the keyword of kids[i] or NULL */
    JN_FILTER,  /* a|name(kids) (a NULL: a {% filter %} block's input) */
    JN_TEST,    /* a is [not] name(kids); op 1: not */
    JN_UNARY,   /* op a: '-', '+', 'n' (not) */
    JN_BINARY,  /* a op b: + - * / 'f' (//) % 'p' (**) ~ 'a' (and) 'o' (or) and comparisons */
    JN_COND,    /* b if a else c (c NULL: undefined) */
    /* statements */
    JN_BODY,    /* kids in order */
    JN_TEXT,    /* lit: the text */
    JN_OUT,     /* {{ a }} */
    JN_IF,      /* if a: b else c */
    JN_FOR,     /* for names in a [if d]: b else c */
    JN_SET,     /* set names = a; or name = the text of b (a NULL) */
    JN_SETATTR, /* set name.attr = a (attr in names[0]) */
    JN_MACRO,   /* macro name(names = kids defaults, NULL for none): b */
    JN_CALLBLK, /* call a (a JN_CALL) with caller() rendering b */
    JN_FILTBLK, /* filter a (a JN_FILTER chain on NULL): b */
    JN_BREAK,
    JN_CONTINUE,
} jn_kind;

enum {
    JOP_EQ = 256, JOP_NE, JOP_LT, JOP_LE, JOP_GT, JOP_GE, JOP_IN, JOP_NOTIN,
};

typedef struct jnode {
    jn_kind kind;
    int op;
    int line, col;
    struct jnode *a, *b, *c, *d;
    struct jnode **kids;
    const char **names;
    size_t n_kids, n_names;
    const char *name;
    jv lit;
} jnode;

typedef struct jinja_template {
    arena arena;
    jnode *root;
    const char *name;
} jinja_template;

/* ---- lexing and parsing (lex.c, parse.c) ----------------------------------- */

typedef enum jtok_kind {
    JT_TEXT, JT_VAR_BEGIN, JT_VAR_END, JT_BLOCK_BEGIN, JT_BLOCK_END,
    JT_NAME, JT_STRING, JT_INT, JT_FLOAT, JT_OP, JT_EOF,
} jtok_kind;

typedef struct jtok {
    jtok_kind kind;
    int line, col;
    const char *p;  /* JT_TEXT, JT_NAME, JT_STRING (unescaped), JT_OP: the text */
    size_t n;
    int64_t i;      /* JT_INT */
    double f;       /* JT_FLOAT */
} jtok;

typedef struct jtoks {
    jtok *t;
    size_t n;
} jtoks;

rf_status jinja_lex(arena *a, const char *src, size_t len, const char *name, jtoks *out, rf_error *err);

/* Parses a template; errors name it (name) and the line:column. */
rf_status jinja_parse(const char *src, size_t len, const char *name, jinja_template **out, rf_error *err);
void jinja_free(jinja_template *t);

/* ---- rendering (eval.c, builtins.c) --------------------------------------- */

/* What a render sees besides the template: the variables (a dict of the
 * render's arena, e.g. from jinja_from_json) and the time strftime_now
 * formats (seconds since the epoch, UTC). */
typedef struct jinja_vars {
    jv vars;
    int64_t now;
} jinja_vars;

typedef struct jctx jctx; /* eval.c's render state */

/* A render's limits (a chat template comes with a model file, so it is
 * untrusted input): the output and any string made on the way at most
 * JINJA_MAX_TEXT bytes, a string walked as characters (jctx_chars) at most
 * JINJA_MAX_ITEMS of them; past them the render fails naming the limit. */
enum { JINJA_MAX_TEXT = 64 << 20, JINJA_MAX_ITEMS = 1 << 20 };

/* jansson's json (a json_t) as a Jinja value of a's (json.c): an object
 * becomes the dict of a render's variables */
rf_status jinja_from_json(arena *a, const void *json, jv *out, rf_error *err);

/* Renders t; *out is malloc'd and NUL-terminated. A template error
 * (raise_exception, a bad operand) is RF_E_FORMAT naming the line. */
rf_status jinja_render(const jinja_template *t, arena *a, const jinja_vars *v, char **out, size_t *len,
                       rf_error *err);

/* for builtins.c: fail the render with a message (returns JV_UNDEF) */
jv jctx_fail(jctx *c, const jnode *at, const char *fmt, ...);
arena *jctx_arena(jctx *c);
/* a string's characters (code points) as a list, at most JINJA_MAX_ITEMS:
 * what a for loop, |list, |join and friends walk */
jv jctx_chars(jctx *c, const jnode *at, const jstr *s);
int64_t jctx_now(const jctx *c);
/* calls a macro or global function with positional and keyword arguments */
jv jctx_call(jctx *c, const jnode *at, jv fn, const jv *args, size_t n, const char *const *kw, const jv *kwv,
             size_t n_kw);

/* builtins: a filter, a test, a method of a value, an attribute of a
 * value (dict key, loop field), a global; each reports errors through c */
jv jb_filter(jctx *c, const jnode *at, const char *name, jv in, const jv *args, size_t n, const char *const *kw,
             const jv *kwv, size_t n_kw);
bool jb_test(jctx *c, const jnode *at, const char *name, jv v, const jv *args, size_t n);
jv jb_method(jctx *c, const jnode *at, jv self, const char *name, const jv *args, size_t n, const char *const *kw,
             const jv *kwv, size_t n_kw);
jv jb_attr(jctx *c, jv v, const char *name);
jv jb_global(const char *name);
jv jb_call_global(jctx *c, const jnode *at, const jfunc *fn, const jv *args, size_t n, const char *const *kw,
                  const jv *kwv, size_t n_kw);

#endif
