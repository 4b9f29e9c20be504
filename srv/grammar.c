/*
 * grammar.c: sampling constrained to JSON that follows a schema
 * (response_format json_object and json_schema).
 *
 * A schema compiles to a tree of nodes: object (properties, required, or
 * any keys), array (items), string, number, integer, boolean, null, enum
 * (literal JSON texts), any value. A recognizer reads the reply byte by
 * byte with a stack of frames, one a value being read; its whole state is
 * a small struct, so before each token the loop can try every vocabulary
 * token's bytes on a copy and mask those that would break the JSON or the
 * schema: object keys must be one of the properties not yet given (a
 * prefix while being written), an object closes only when its required
 * keys are there, numbers follow JSON's grammar (integers take no fraction
 * or exponent), enums match one of their texts. End of generation is
 * allowed only once the value is complete, and nothing but it after.
 * Whitespace between tokens is allowed (16 bytes in a row at most, one line
 * break among them, none before the value), so a model cannot pad forever.
 *
 * Not here: $ref, anyOf/oneOf/allOf, patterns, formats, lengths and ranges
 * (a schema using them is refused, not half obeyed).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv/grammar.h"

enum { MAX_PROPS = 64, MAX_ENUM = 64, MAX_WS = 16 };

typedef enum gk { G_ANY, G_OBJECT, G_ARRAY, G_STRING, G_NUMBER, G_INTEGER, G_BOOLEAN, G_NULL, G_ENUM } gk;

struct gnode {
    gk kind;
    bool any_keys;                 /* an object with no properties: any keys, any values */
    size_t n_props;
    char *prop[MAX_PROPS];
    struct gnode *prop_node[MAX_PROPS];
    uint64_t required;             /* a bit a property */
    struct gnode *items;           /* an array's */
    size_t n_enum;
    char *lit[MAX_ENUM];           /* enum texts (JSON), and true/false/null */
};

/* ---- compiling a schema ------------------------------------------------------------------- */

static gnode *node_new(gk k)
{
    gnode *n = calloc(1, sizeof *n);
    if (n)
        n->kind = k;
    return n;
}

void srv_grammar_free(gnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_props; i++) {
        free(n->prop[i]);
        srv_grammar_free(n->prop_node[i]);
    }
    for (size_t i = 0; i < n->n_enum; i++)
        free(n->lit[i]);
    srv_grammar_free(n->items);
    free(n);
}

static gnode *fail_at(char *msg, const char *what, gnode *n)
{
    snprintf(msg, 256, "'response_format': %s", what);
    srv_grammar_free(n);
    return NULL;
}

static gnode *compile(const json_t *s, int depth, char *msg)
{
    static const char *const refused[] = {"$ref", "anyOf", "oneOf", "allOf", "not", "pattern", "format",
                                          "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems",
                                          "patternProperties", "if", "const"};
    if (depth > 16)
        return fail_at(msg, "the schema nests deeper than 16", NULL);
    if (!json_is_object(s))
        return fail_at(msg, "a schema must be an object", NULL);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (json_object_get(s, refused[i])) {
            char w[96];
            snprintf(w, sizeof w, "the schema keyword '%s' is not supported yet", refused[i]);
            return fail_at(msg, w, NULL);
        }
    const json_t *en = json_object_get(s, "enum");
    if (en) {
        gnode *n = node_new(G_ENUM);
        if (!n || !json_is_array(en) || !json_array_size(en) || json_array_size(en) > MAX_ENUM)
            return fail_at(msg, "'enum' must be a list of 1 to 64 values", n);
        size_t i;
        const json_t *v;
        json_array_foreach(en, i, v) {
            if (!(n->lit[n->n_enum++] = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
                return fail_at(msg, "out of memory", n);
        }
        return n;
    }
    const json_t *ty = json_object_get(s, "type");
    const char *t = json_string_value(ty);
    if (!ty)
        return node_new(G_ANY);
    if (!t)
        return fail_at(msg, "'type' must be one string (type lists are not supported yet)", NULL);
    static const struct {
        const char *name;
        gk kind;
    } types[] = {{"object", G_OBJECT}, {"array", G_ARRAY},     {"string", G_STRING}, {"number", G_NUMBER},
                 {"integer", G_INTEGER}, {"boolean", G_BOOLEAN}, {"null", G_NULL}};
    gnode *n = NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(t, types[i].name))
            n = node_new(types[i].kind);
    if (!n)
        return fail_at(msg, "'type' must be object, array, string, number, integer, boolean or null", NULL);
    if (n->kind == G_BOOLEAN || n->kind == G_NULL) {
        const char *lits[2] = {n->kind == G_NULL ? "null" : "true", n->kind == G_NULL ? NULL : "false"};
        for (int i = 0; i < 2 && lits[i]; i++)
            if (!(n->lit[n->n_enum++] = strdup(lits[i])))
                return fail_at(msg, "out of memory", n);
    } else if (n->kind == G_ARRAY) {
        const json_t *it = json_object_get(s, "items");
        if (!(n->items = it ? compile(it, depth + 1, msg) : node_new(G_ANY))) {
            srv_grammar_free(n);
            return NULL;
        }
    } else if (n->kind == G_OBJECT) {
        const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
        n->any_keys = !props || !json_object_size(props);
        if (props && (!json_is_object(props) || json_object_size(props) > MAX_PROPS))
            return fail_at(msg, "'properties' must be an object of at most 64", n);
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)props, k, v) {
            size_t i = n->n_props;
            if (!(n->prop[i] = strdup(k)) || (n->n_props++, !(n->prop_node[i] = compile(v, depth + 1, msg)))) {
                srv_grammar_free(n);
                return NULL;
            }
        }
        size_t i;
        json_array_foreach(req, i, v) {
            size_t p = 0;
            while (p < n->n_props && (!json_is_string(v) || strcmp(n->prop[p], json_string_value(v))))
                p++;
            if (p == n->n_props)
                return fail_at(msg, "'required' names a property the schema does not define", n);
            n->required |= 1ull << p;
        }
    }
    return n;
}

gnode *srv_grammar_compile(const json_t *schema, char *msg)
{
    return compile(schema, 0, msg);
}

gnode *srv_grammar_json_object(void)
{
    gnode *n = node_new(G_OBJECT);
    if (n)
        n->any_keys = true;
    return n;
}

/* ---- recognizing ------------------------------------------------------------------------------ */

enum { F_VALUE, F_OBJ_OPEN, F_OBJ_KEY, F_OBJ_COLON, F_OBJ_NEXT, F_OBJ_KEYSTART, F_ARR_OPEN, F_ARR_NEXT,
       F_STRING, F_NUMBER, F_LITERAL };

/* number states: after sign, zero, digits, dot, frac digits, e, e sign, exp digits */
enum { N_SIGN, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

static void push(gstate *s, const gnode *n, uint8_t mode)
{
    gframe *f = &s->f[s->depth++];
    f->node = n;
    f->mode = mode;
    f->seen = 0;
    f->key = -1;
}

/* the value of frame's node ended; back in the parent, which sees c next */
static bool pop(gstate *s)
{
    s->depth--;
    return true;
}

static bool is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* whitespace between tokens: a run of at most MAX_WS bytes holding at most
 * one line break (a model cannot pad the reply, or stall it, with blank
 * lines) */
static bool ws(gstate *s, unsigned char c)
{
    if (c == '\r' || (c == '\n' && s->nl))
        return false;
    s->nl |= c == '\n';
    return ++s->ws <= MAX_WS;
}

/* does some candidate of n (enum texts, or property names not yet seen)
 * start with buf[0..len)? exact: one equals it */
static bool lit_match(const gnode *n, const char *buf, size_t len, bool *exact)
{
    bool any = false;
    *exact = false;
    for (size_t i = 0; i < n->n_enum; i++)
        if (strlen(n->lit[i]) >= len && !memcmp(n->lit[i], buf, len)) {
            any = true;
            *exact |= strlen(n->lit[i]) == len;
        }
    return any;
}

static int key_match(const gnode *n, uint64_t seen, const char *buf, size_t len, bool *exact)
{
    int hit = -1;
    *exact = false;
    for (size_t i = 0; i < n->n_props; i++)
        if (!(seen >> i & 1) && strlen(n->prop[i]) >= len && !memcmp(n->prop[i], buf, len)) {
            if (strlen(n->prop[i]) == len) {
                *exact = true;
                hit = (int)i;
            } else if (hit < 0) {
                hit = -2; /* a prefix */
            }
        }
    return hit;
}

static bool number_ends_ok(uint8_t ns) { return ns == N_ZERO || ns == N_INT || ns == N_FRAC || ns == N_EXP; }

/* starts a value of node n at byte c (the frame is pushed) */
static bool value_start(gstate *s, const gnode *n, unsigned char c);

static bool feed_in(gstate *s, unsigned char c);

/* a value ended; its parent (object, array, or none: the reply) reads on
 * (kept as the one place a future check of a finished value would go) */
static bool value_done(gstate *s)
{
    (void)s;
    return true;
}

bool srv_grammar_feed(gstate *s, unsigned char c)
{
    if (s->failed)
        return false;
    if (!feed_in(s, c)) {
        s->failed = true;
        return false;
    }
    return true;
}

static bool value_start(gstate *s, const gnode *n, unsigned char c)
{
    if (s->depth >= GRAMMAR_DEPTH)
        return false;
    gk k = n->kind;
    if (k == G_ENUM || k == G_BOOLEAN || k == G_NULL) {
        bool exact;
        s->len = 0;
        s->buf[s->len++] = (char)c;
        if (!lit_match(n, s->buf, 1, &exact))
            return false;
        push(s, n, F_LITERAL);
        return true;
    }
    if (c == '{' && (k == G_OBJECT || k == G_ANY)) {
        push(s, k == G_ANY ? NULL : n, F_OBJ_OPEN);
        return true;
    }
    if (c == '[' && (k == G_ARRAY || k == G_ANY)) {
        push(s, k == G_ANY ? NULL : n, F_ARR_OPEN);
        return true;
    }
    if (c == '"' && (k == G_STRING || k == G_ANY)) {
        push(s, n, F_STRING);
        s->esc = 0;
        return true;
    }
    if ((c == '-' || (c >= '0' && c <= '9')) && (k == G_NUMBER || k == G_INTEGER || k == G_ANY)) {
        push(s, n, F_NUMBER);
        s->num = c == '-' ? N_SIGN : c == '0' ? N_ZERO : N_INT;
        return true;
    }
    if (k == G_ANY && (c == 't' || c == 'f' || c == 'n')) { /* true, false, null of an untyped value */
        static gnode lits = {.kind = G_ENUM, .n_enum = 3, .lit = {"true", "false", "null"}};
        return value_start(s, &lits, c);
    }
    return false;
}

/* the node a value inside frame f takes: an item's, a property's, or any */
static const gnode *child(const gframe *f)
{
    static const gnode any = {.kind = G_ANY};
    if (!f->node)
        return &any;
    if (f->node->kind == G_ARRAY)
        return f->node->items;
    if (f->node->kind == G_OBJECT && f->key >= 0)
        return f->node->prop_node[f->key];
    return &any;
}

static bool required_seen(const gframe *f)
{
    return !f->node || (f->seen & f->node->required) == f->node->required;
}

/* may another key follow: any keys, or a property not yet given */
static bool keys_left(const gframe *f)
{
    if (!f->node || f->node->any_keys)
        return true;
    for (size_t i = 0; i < f->node->n_props; i++)
        if (!(f->seen >> i & 1))
            return true;
    return false;
}

static bool feed_in(gstate *s, unsigned char c)
{
    if (!s->depth) { /* the reply starts with its value, and ends with it */
        if (s->started)
            return false;
        s->started = true;
        return value_start(s, s->root, c);
    }
    gframe *f = &s->f[s->depth - 1];
    bool exact;
    switch (f->mode) {
    case F_STRING:
        if (s->esc) {
            if (s->esc == 1) { /* after a backslash */
                if (c == 'u') {
                    s->esc = 5; /* four hex digits */
                    return true;
                }
                s->esc = 0;
                return strchr("\"\\/bfnrt", c) != NULL;
            }
            bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
            s->esc = s->esc == 2 ? 0 : s->esc - 1;
            return hex;
        }
        if (c == '\\') {
            s->esc = 1;
            return true;
        }
        if (c == '"') {
            pop(s);
            return value_done(s);
        }
        return c >= 0x20;
    case F_NUMBER: {
        bool integer = f->node && f->node->kind == G_INTEGER;
        uint8_t ns = s->num;
        if (c >= '0' && c <= '9') {
            if (ns == N_ZERO)
                return false;
            s->num = ns == N_SIGN                   ? (c == '0' ? N_ZERO : N_INT)
                     : ns == N_DOT                  ? N_FRAC
                     : ns == N_E || ns == N_ESIGN   ? N_EXP
                                                    : ns;
            return true;
        }
        if (c == '.' && !integer && (ns == N_ZERO || ns == N_INT)) {
            s->num = N_DOT;
            return true;
        }
        if ((c == 'e' || c == 'E') && !integer && (ns == N_ZERO || ns == N_INT || ns == N_FRAC)) {
            s->num = N_E;
            return true;
        }
        if ((c == '+' || c == '-') && ns == N_E) {
            s->num = N_ESIGN;
            return true;
        }
        if (!number_ends_ok(ns))
            return false;
        pop(s); /* the number ended: c belongs to what follows */
        value_done(s);
        return feed_in(s, c);
    }
    case F_LITERAL:
        if (s->len < GRAMMAR_BUF - 1) {
            s->buf[s->len] = (char)c;
            if (lit_match(f->node, s->buf, s->len + 1, &exact)) {
                s->len++;
                return true;
            }
        }
        lit_match(f->node, s->buf, s->len, &exact);
        if (!exact)
            return false;
        pop(s);
        value_done(s);
        return feed_in(s, c);
    case F_VALUE:
        if (is_ws(c))
            return ws(s, c);
        s->ws = s->nl = 0;
        {
            const gnode *n = f->node;
            s->depth--; /* the value's own frame replaces this placeholder */
            return value_start(s, n, c);
        }
    case F_OBJ_OPEN:
    case F_OBJ_KEYSTART:
        if (is_ws(c))
            return ws(s, c);
        s->ws = s->nl = 0;
        if (c == '}' && f->mode == F_OBJ_OPEN && required_seen(f)) {
            pop(s);
            return value_done(s);
        }
        if (c != '"' || !keys_left(f))
            return false;
        f->mode = F_OBJ_KEY;
        s->len = 0;
        s->esc = 0;
        return true;
    case F_OBJ_KEY:
        if (!f->node || f->node->any_keys) { /* any key: a string */
            if (s->esc) {
                s->esc = s->esc == 1 ? (c == 'u' ? 5 : 0) : s->esc == 2 ? 0 : s->esc - 1;
                return true;
            }
            if (c == '\\') {
                s->esc = 1;
                return true;
            }
            if (c == '"') {
                f->mode = F_OBJ_COLON;
                f->key = -1;
                return true;
            }
            return c >= 0x20;
        }
        if (c == '"') {
            int k = key_match(f->node, f->seen, s->buf, s->len, &exact);
            if (!exact || k < 0)
                return false;
            f->key = k;
            f->seen |= 1ull << k;
            f->mode = F_OBJ_COLON;
            return true;
        }
        if (c == '\\' || s->len >= GRAMMAR_BUF - 1)
            return false; /* property names are plain text here */
        s->buf[s->len] = (char)c;
        if (key_match(f->node, f->seen, s->buf, s->len + 1, &exact) == -1)
            return false;
        s->len++;
        return true;
    case F_OBJ_COLON:
        if (is_ws(c))
            return ws(s, c);
        s->ws = s->nl = 0;
        if (c != ':' || s->depth >= GRAMMAR_DEPTH)
            return false;
        f->mode = F_OBJ_NEXT;
        push(s, child(f), F_VALUE); /* the property's value */
        return true;
    case F_OBJ_NEXT:
        if (is_ws(c))
            return ws(s, c);
        s->ws = s->nl = 0;
        if (c == ',' && keys_left(f)) { /* a comma only where a key can follow: no dead end */
            f->mode = F_OBJ_KEYSTART;
            return true;
        }
        if (c == '}' && required_seen(f)) {
            pop(s);
            return value_done(s);
        }
        return false;
    case F_ARR_OPEN:
    case F_ARR_NEXT:
        if (is_ws(c))
            return ws(s, c);
        s->ws = s->nl = 0;
        if (c == ']') {
            pop(s);
            return value_done(s);
        }
        if (f->mode == F_ARR_NEXT) {
            if (c != ',' || s->depth >= GRAMMAR_DEPTH)
                return false;
            push(s, child(f), F_VALUE);
            return true;
        }
        f->mode = F_ARR_NEXT;
        if (s->depth >= GRAMMAR_DEPTH)
            return false;
        push(s, child(f), F_VALUE);
        return feed_in(s, c);
    }
    return false;
}

void srv_grammar_start(gstate *s, const gnode *root)
{
    memset(s, 0, sizeof *s);
    s->root = root;
}

bool srv_grammar_can_end(const gstate *s)
{
    if (s->failed || !s->started)
        return false;
    if (!s->depth)
        return true;
    /* a top-level number or literal ends with the text */
    const gframe *f = &s->f[s->depth - 1];
    bool exact = false;
    if (s->depth == 1 && f->mode == F_NUMBER)
        return number_ends_ok(s->num);
    if (s->depth == 1 && f->mode == F_LITERAL)
        return lit_match(f->node, s->buf, s->len, &exact) && exact;
    return false;
}
