/*
 * parse.c: the IR's text form, read back (the inverse of print.c).
 *
 * Line oriented: blank lines and lines starting with '#' are skipped. Every
 * error names line:column and what was expected. Operands must be defined
 * before use, ids are unique, group blocks are numbered 1, 2, ... in order
 * and may not nest. Hostile text cannot make us allocate without bound: ids
 * are limited to 2^24 and the node table grows with the input.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "support/error.h"

#define MAX_ID (1u << 24)

typedef struct parser {
    const char *s, *end;   /* current line [s, end) */
    const char *line_start;
    uint32_t line;
    ir_graph *g;
    ir_node **by_id;       /* (cap_id) */
    uint32_t cap_id;
    rf_error *err;
} parser;

static rf_status perr(parser *p, const char *fmt, const char *what)
{
    return rf_fail(p->err, RF_E_FORMAT, "%" PRIu32 ":%d: %s%s", p->line, (int)(p->s - p->line_start) + 1, fmt, what);
}

static void skip_ws(parser *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\r'))
        p->s++;
}

static bool eat(parser *p, char c)
{
    skip_ws(p);
    if (p->s < p->end && *p->s == c) {
        p->s++;
        return true;
    }
    return false;
}

static bool eat_word(parser *p, const char *w)
{
    skip_ws(p);
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) >= n && !memcmp(p->s, w, n)) {
        p->s += n;
        return true;
    }
    return false;
}

static bool is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

/* an identifier: [A-Za-z0-9_.-]+ */
static size_t ident(parser *p, const char **start)
{
    skip_ws(p);
    *start = p->s;
    while (p->s < p->end && is_ident(*p->s))
        p->s++;
    return (size_t)(p->s - *start);
}

static rf_status integer(parser *p, int64_t *v)
{
    skip_ws(p);
    char buf[32];
    size_t n = 0;
    while (p->s + n < p->end && n < sizeof buf - 1 && (p->s[n] == '-' || (p->s[n] >= '0' && p->s[n] <= '9')))
        n++;
    memcpy(buf, p->s, n);
    buf[n] = 0;
    char *e;
    errno = 0;
    long long x = strtoll(buf, &e, 10);
    if (!n || *e || errno)
        return perr(p, "expected an integer", "");
    p->s += n;
    *v = x;
    return RF_OK;
}

static rf_status real(parser *p, float *v)
{
    skip_ws(p);
    char buf[48];
    size_t n = 0;
    while (p->s + n < p->end && n < sizeof buf - 1 && strchr("0123456789+-.eEinfatyINFATY", p->s[n]))
        n++;
    memcpy(buf, p->s, n);
    buf[n] = 0;
    char *e;
    float x = strtof(buf, &e);
    if (!n || *e)
        return perr(p, "expected a number", "");
    p->s += n;
    *v = x;
    return RF_OK;
}

static rf_status parse_type(parser *p, ir_type *t)
{
    const char *w;
    size_t n = ident(p, &w);
    char name[16];
    if (!n || n >= sizeof name)
        return perr(p, "expected a type such as f32[T,384]", "");
    memcpy(name, w, n);
    name[n] = 0;
    int e = ggml_type_from_name(name);
    if (e < 0)
        return perr(p, "unknown element type ", name);
    t->elem = (ir_elem)e;
    t->rank = 0;
    if (!eat(p, '['))
        return perr(p, "expected '['", "");
    if (eat(p, ']'))
        return RF_OK;
    do {
        if (t->rank == IR_MAX_RANK)
            return perr(p, "more than 4 dimensions", "");
        int64_t d;
        skip_ws(p);
        if (eat_word(p, "P+T")) {
            d = IR_DIM_PT;
        } else if (eat(p, 'T')) {
            d = IR_DIM_T;
        } else if (eat(p, 'P')) {
            d = IR_DIM_P;
        } else if (eat(p, 'O')) {
            d = IR_DIM_O;
        } else {
            rf_status s = integer(p, &d);
            if (s != RF_OK)
                return s;
            if (d < 0)
                return perr(p, "negative dimension", "");
        }
        t->dim[t->rank++] = d;
    } while (eat(p, ','));
    if (!eat(p, ']'))
        return perr(p, "expected ']'", "");
    return RF_OK;
}

static rf_status parse_ref(parser *p, ir_node **out)
{
    int64_t id;
    if (!eat(p, '%'))
        return perr(p, "expected an operand %N", "");
    rf_status s = integer(p, &id);
    if (s != RF_OK)
        return s;
    if (id < 0 || (uint64_t)id >= p->cap_id || !p->by_id[id])
        return perr(p, "operand used before its definition", "");
    *out = p->by_id[id];
    return RF_OK;
}

/* {name=value, ...} where names come from a list; ints or floats by list */
static rf_status parse_attrs(parser *p, const char *ilist, const char *flist, int64_t *ia, float *fa)
{
    if (!eat(p, '{'))
        return RF_OK;
    if (eat(p, '}'))
        return RF_OK;
    do {
        const char *w;
        size_t n = ident(p, &w);
        char name[64];
        if (!n || n >= sizeof name)
            return perr(p, "expected an attribute name", "");
        memcpy(name, w, n);
        name[n] = 0;
        if (!eat(p, '='))
            return perr(p, "expected '=' after ", name);
        char buf[64];
        int slot = -1;
        for (int i = 0; ir_list_name(ilist, i, buf, sizeof buf); i++)
            if (!strcmp(buf, name))
                slot = i;
        if (slot >= 0) {
            if (eat(p, 'O')) { /* last_rows {n=O}: a batch step's rows with logits */
                ia[slot] = IR_DIM_O;
                continue;
            }
            rf_status s = integer(p, &ia[slot]);
            if (s != RF_OK)
                return s;
            continue;
        }
        for (int i = 0; flist && ir_list_name(flist, i, buf, sizeof buf); i++)
            if (!strcmp(buf, name))
                slot = i;
        if (slot < 0)
            return perr(p, "unknown attribute ", name);
        rf_status s = real(p, &fa[slot]);
        if (s != RF_OK)
            return s;
    } while (eat(p, ','));
    if (!eat(p, '}'))
        return perr(p, "expected '}'", "");
    return RF_OK;
}

static rf_status parse_node(parser *p, uint32_t group)
{
    int64_t id;
    rf_status s;
    const char *start = p->s;
    p->s++; /* '%' */
    if ((s = integer(p, &id)) != RF_OK)
        return s;
    if (id < 0 || (uint64_t)id >= MAX_ID)
        return perr(p, "node id out of range", "");
    if ((uint64_t)id < p->cap_id && p->by_id[id]) {
        p->s = start;
        return perr(p, "node id defined twice", "");
    }
    if (!eat(p, '='))
        return perr(p, "expected '='", "");
    const char *w;
    size_t n = ident(p, &w);
    int op = ir_op_from_name(w, n);
    if (op < 0)
        return perr(p, "unknown op", "");
    ir_node *in[IR_MAX_IN];
    uint8_t n_in = 0;
    skip_ws(p);
    if (p->s < p->end && *p->s == '%') {
        do {
            if (n_in == IR_MAX_IN)
                return perr(p, "too many operands", "");
            if ((s = parse_ref(p, &in[n_in++])) != RF_OK)
                return s;
        } while (eat(p, ','));
    }
    if (n_in < ir_op_min_in((ir_op)op) || n_in > ir_op_max_in((ir_op)op))
        return perr(p, "wrong number of operands for ", ir_op_name((ir_op)op));
    const char *wname = NULL;
    size_t wlen = 0;
    if (eat(p, '@')) {
        wname = p->s;
        while (p->s < p->end && *p->s != ' ' && *p->s != '\t')
            p->s++;
        wlen = (size_t)(p->s - wname);
    }
    if ((op == IR_OP_WEIGHT) != (wname != NULL) || (wname && !wlen))
        return perr(p, op == IR_OP_WEIGHT ? "a weight needs @name" : "only weights have @name", "");
    int64_t ia[IR_MAX_IATTR] = {0};
    float fa[IR_MAX_FATTR] = {0};
    if ((s = parse_attrs(p, ir_op_iattrs((ir_op)op), ir_op_fattrs((ir_op)op), ia, fa)) != RF_OK)
        return s;
    if (!eat(p, ':'))
        return perr(p, "expected ': TYPE'", "");
    ir_type t;
    if ((s = parse_type(p, &t)) != RF_OK)
        return s;
    int64_t offset = -1;
    if (eat_word(p, "@ws+")) {
        if ((s = integer(p, &offset)) != RF_OK)
            return s;
        if (offset < 0)
            return perr(p, "negative workspace offset", "");
    }
    skip_ws(p);
    if (p->s != p->end)
        return perr(p, "unexpected text after the node", "");

    ir_node *node = ir_add(p->g, (ir_op)op, &t, in, n_in);
    if (!node || (wname && !(node->name = arena_strndup(&p->g->arena, wname, wlen))))
        return rf_fail(p->err, RF_E_NOMEM, "out of memory");
    node->id = (uint32_t)id;
    memcpy(node->ia, ia, sizeof ia);
    memcpy(node->fa, fa, sizeof fa);
    node->offset = offset;
    node->group = ir_op_is_leaf(op) ? 0 : group;
    if ((uint64_t)id >= p->cap_id) {
        uint32_t cap = p->cap_id ? p->cap_id : 256;
        while (cap <= (uint64_t)id)
            cap *= 2;
        ir_node **nb = realloc(p->by_id, cap * sizeof *nb);
        if (!nb)
            return rf_fail(p->err, RF_E_NOMEM, "out of memory");
        memset(nb + p->cap_id, 0, (cap - p->cap_id) * sizeof *nb);
        p->by_id = nb;
        p->cap_id = cap;
    }
    p->by_id[id] = node;
    if ((uint32_t)id >= p->g->next_id)
        p->g->next_id = (uint32_t)id + 1;
    return RF_OK;
}

static rf_status parse_model(parser *p)
{
    const char *w;
    size_t n = ident(p, &w);
    if (!n)
        return perr(p, "expected the architecture name", "");
    ir_model *m = &p->g->model;
    if (!(m->arch = arena_strndup(&p->g->arena, w, n)))
        return rf_fail(p->err, RF_E_NOMEM, "out of memory");
    static const char *keys = "n_vocab,n_embd,n_layer,n_ctx,n_head,n_head_kv,head_dim,bos,eos,rope_n_ctx_orig,"
                              "embedding,pooling,tp_rank,tp_world";
    int64_t v[14] = {0};
    rf_status s = parse_attrs(p, keys, NULL, v, NULL);
    if (s != RF_OK)
        return s;
    for (int i = 0; i < 14; i++)
        if (v[i] < 0 || v[i] > UINT32_MAX)
            return perr(p, "model value out of range", "");
    m->n_vocab = (uint32_t)v[0], m->n_embd = (uint32_t)v[1], m->n_layer = (uint32_t)v[2];
    m->n_ctx = (uint32_t)v[3], m->n_head = (uint32_t)v[4], m->n_head_kv = (uint32_t)v[5];
    m->head_dim = (uint32_t)v[6], m->bos = (uint32_t)v[7], m->eos = (uint32_t)v[8];
    m->rope_n_ctx_orig = (uint32_t)v[9];
    m->embedding = (uint32_t)v[10], m->pooling = (uint32_t)v[11];
    m->tp_rank = (uint32_t)v[12], m->tp_world = (uint32_t)v[13];
    return RF_OK;
}

static rf_status parse_group(parser *p, uint32_t *open)
{
    int64_t id;
    rf_status s = integer(p, &id);
    if (s != RF_OK)
        return s;
    if (id != (int64_t)p->g->n_groups + 1)
        return perr(p, "groups must be numbered 1, 2, ... in order", "");
    const char *w;
    size_t n = ident(p, &w);
    int k = ir_kernel_from_name(w, n);
    if (k < 0)
        return perr(p, "unknown kernel kind", "");
    ir_group *gr = ir_group_new(p->g, (ir_kernel)k);
    if (!gr)
        return rf_fail(p->err, RF_E_NOMEM, "out of memory");
    if ((s = parse_attrs(p, ir_kernel_specs((ir_kernel)k), NULL, gr->spec, NULL)) != RF_OK)
        return s;
    if (!eat(p, '{'))
        return perr(p, "expected '{' opening the group", "");
    *open = gr->id;
    return RF_OK;
}

rf_status ir_parse(const char *text, size_t len, ir_graph **out, rf_error *err)
{
    *out = NULL;
    parser p = {.err = err, .g = ir_graph_new()};
    if (!p.g)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    rf_status s = RF_OK;
    uint32_t open = 0;
    bool have_model = false;
    const char *cur = text, *stop = text + len;
    while (s == RF_OK && cur < stop) {
        const char *nl = memchr(cur, '\n', (size_t)(stop - cur));
        p.line++;
        p.line_start = p.s = cur;
        p.end = nl ? nl : stop;
        cur = nl ? nl + 1 : stop;
        skip_ws(&p);
        if (p.s == p.end || *p.s == '#')
            continue;
        if (*p.s == '%') {
            if (!have_model)
                s = perr(&p, "expected 'model ARCH {...}' first", "");
            else
                s = parse_node(&p, open);
        } else if (*p.s == '}') {
            p.s++;
            skip_ws(&p);
            if (!open)
                s = perr(&p, "'}' without an open group", "");
            else if (p.s != p.end)
                s = perr(&p, "unexpected text after '}'", "");
            open = 0;
        } else if (eat_word(&p, "model ")) {
            s = have_model ? perr(&p, "second 'model' line", "") : parse_model(&p);
            have_model = true;
        } else if (eat_word(&p, "workspace ")) {
            s = integer(&p, &p.g->workspace_bytes);
            if (s == RF_OK && !eat_word(&p, "tokens"))
                s = perr(&p, "expected 'workspace BYTES tokens T'", "");
            if (s == RF_OK)
                s = integer(&p, &p.g->plan_tokens);
            p.g->plan_out = p.g->plan_tokens;
            if (s == RF_OK && eat_word(&p, "out"))
                s = integer(&p, &p.g->plan_out);
        } else if (eat_word(&p, "group ")) {
            s = open ? perr(&p, "groups do not nest", "") : parse_group(&p, &open);
        } else {
            s = perr(&p, "expected a node, 'group', '}' or 'model'", "");
        }
    }
    if (s == RF_OK && open)
        s = rf_fail(err, RF_E_FORMAT, "%" PRIu32 ":1: group %" PRIu32 " is not closed", p.line, open);
    if (s == RF_OK && !have_model)
        s = rf_fail(err, RF_E_FORMAT, "1:1: empty IR text (expected 'model ARCH {...}')");
    free(p.by_id);
    if (s != RF_OK) {
        ir_graph_free(p.g);
        return s;
    }
    *out = p.g;
    return RF_OK;
}
