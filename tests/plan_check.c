/*
 * plan_check.c: a second opinion on the memory planner (ir/passes/memplan.c).
 *
 * The liveness is worked out again here from what a graph means, not from
 * the planner's code: the executor runs the schedule unit by unit, a unit
 * being a fusion group (one kernel, which may write and read any of its
 * values at any point) or an ungrouped node; inputs, weights and KV cache
 * stores are not in the workspace; reshape, last_rows and output are views
 * that share their root's bytes. A value is live from the unit that writes
 * it to the last unit that reads it directly or through views, and to the
 * end of the step if the output is one of its views. Two values live in a
 * common unit must not share a byte: that is the invariant the planner's
 * reuse must keep, checked on every pair.
 */
#include "plan_check.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ALIGN = 64, SHOW = 5 };

static bool is_view(const ir_node *n)
{
    return n->op == IR_OP_RESHAPE || n->op == IR_OP_LAST_ROWS || n->op == IR_OP_OUTPUT;
}

static bool is_outside(const ir_node *n) /* lives outside the workspace */
{
    return ir_op_is_leaf(n->op) || n->op == IR_OP_KV_STORE;
}

static const ir_node *root(const ir_node *n)
{
    while (is_view(n))
        n = n->in[0];
    return n;
}

typedef struct live {
    uint32_t def, last;   /* units */
    int64_t off, bytes;
    const ir_node *n;
} live;

int test_check_memplan(const ir_graph *g, const char *what)
{
    int bad = 0;
#define VIOLATION(...)                                        \
    do {                                                      \
        if (bad++ < SHOW) {                                   \
            fprintf(stderr, "\n  memory plan of %s: ", what); \
            fprintf(stderr, __VA_ARGS__);                     \
        }                                                     \
    } while (0)
    uint32_t n = g->n_nodes;
    uint32_t *unit = calloc(g->next_id ? g->next_id : 1, sizeof *unit); /* by id */
    uint32_t *last = calloc(g->next_id ? g->next_id : 1, sizeof *last); /* by id of a root */
    live *vals = calloc(n ? n : 1, sizeof *vals);
    if (!unit || !last || !vals) {
        free(unit), free(last), free(vals);
        VIOLATION("out of memory");
        return bad;
    }
    /* units: consecutive members of one group are one; leaves, which the
     * schedule may place among a group's members, neither run nor split */
    uint32_t u = 0, open = 0;
    bool first = true;
    for (uint32_t i = 0; i < n; i++) {
        const ir_node *nd = g->nodes[i];
        if (ir_op_is_leaf(nd->op))
            continue;
        if (!first && (!nd->group || nd->group != open))
            u++;
        first = false;
        open = nd->group;
        unit[nd->id] = u;
        last[nd->id] = u;
    }
    for (uint32_t i = 0; i < n; i++) {
        const ir_node *nd = g->nodes[i];
        for (uint8_t k = 0; k < nd->n_in; k++) {
            const ir_node *r = root(nd->in[k]);
            if (last[r->id] < unit[nd->id])
                last[r->id] = unit[nd->id];
        }
        if (nd->op == IR_OP_OUTPUT)
            last[root(nd)->id] = UINT32_MAX;
    }
    uint32_t n_vals = 0;
    for (uint32_t i = 0; i < n; i++) {
        const ir_node *nd = g->nodes[i];
        if (is_outside(nd)) {
            if (nd->offset != -1)
                VIOLATION("%%%" PRIu32 " (%s) is not in the workspace but has offset %" PRId64, nd->id,
                          ir_op_name(nd->op), nd->offset);
            continue;
        }
        if (is_view(nd)) {
            if (nd->offset != root(nd)->offset)
                VIOLATION("view %%%" PRIu32 " (%s) has offset %" PRId64 ", its root %%%" PRIu32 " %" PRId64,
                          nd->id, ir_op_name(nd->op), nd->offset, root(nd)->id, root(nd)->offset);
            continue;
        }
        int64_t bytes = ir_type_bytes(&nd->type, g->plan_tokens, 0, g->plan_out);
        if (nd->offset < 0 || nd->offset % ALIGN || bytes <= 0 || nd->offset + bytes > g->workspace_bytes) {
            VIOLATION("%%%" PRIu32 " (%s): offset %" PRId64 ", %" PRId64 " bytes, workspace %" PRId64, nd->id,
                      ir_op_name(nd->op), nd->offset, bytes, g->workspace_bytes);
            continue;
        }
        vals[n_vals++] = (live){unit[nd->id], last[nd->id], nd->offset, bytes, nd};
    }
    for (uint32_t i = 0; i < n_vals; i++)
        for (uint32_t j = i + 1; j < n_vals; j++) {
            const live *a = &vals[i], *b = &vals[j];
            bool together = a->def <= b->last && b->def <= a->last;
            bool apart = a->off + a->bytes <= b->off || b->off + b->bytes <= a->off;
            if (together && !apart)
                VIOLATION("%%%" PRIu32 " (%s, units %" PRIu32 "..%" PRIu32 ", bytes %" PRId64 "..%" PRId64
                          ") and %%%" PRIu32 " (%s, units %" PRIu32 "..%" PRIu32 ", bytes %" PRId64 "..%" PRId64
                          ") are live together and overlap",
                          a->n->id, ir_op_name(a->n->op), a->def, a->last, a->off, a->off + a->bytes, b->n->id,
                          ir_op_name(b->n->op), b->def, b->last, b->off, b->off + b->bytes);
        }
    if (bad > SHOW)
        fprintf(stderr, "\n  memory plan of %s: %d violations in all", what, bad);
    free(unit), free(last), free(vals);
    return bad;
#undef VIOLATION
}

/* ---- the text form ---------------------------------------------------------- */

static char *print_text(const ir_graph *g, size_t *len)
{
    char *text = NULL;
    FILE *m = open_memstream(&text, len);
    if (!m)
        return NULL;
    ir_print(g, m);
    fclose(m);
    return text;
}

int test_check_round_trip(const ir_graph *g, const char *what)
{
    size_t len = 0, blen = 0;
    char *text = print_text(g, &len), *back = NULL;
    ir_graph *p = NULL;
    rf_error err = {0};
    int ok = text && ir_parse(text, len, &p, &err) == RF_OK;
    if (!ok)
        fprintf(stderr, "%s: ir_parse: %s\n", what, err.msg);
    else if (!(back = print_text(p, &blen)) || strcmp(text, back)) {
        size_t i = 0, line = 1;
        while (back && text[i] && text[i] == back[i])
            line += text[i++] == '\n';
        fprintf(stderr, "%s: the text form differs after a round trip, at line %zu\n", what, line);
        ok = 0;
    }
    free(text);
    free(back);
    ir_graph_free(p);
    return ok;
}
