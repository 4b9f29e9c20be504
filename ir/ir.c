/*
 * ir.c: building IR graphs, and the op and kernel tables.
 *
 * Nodes are appended in order, so a graph built front to back is
 * topologically sorted by construction; passes that remove nodes mark them
 * dead and ir_compact() drops them. Everything lives in the graph's arena
 * except the two growable arrays (nodes, groups), which are realloc'd and
 * freed with the graph.
 */
#include "ir/ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support/error.h"

static const struct {
    const char *name;
    int min_in, max_in;
    const char *iattr, *fattr;
} op_table[IR_OP_COUNT] = {
#define X(NAME, STR, MIN_IN, MAX_IN, IATTR, FATTR) [IR_OP_##NAME] = {STR, MIN_IN, MAX_IN, IATTR, FATTR},
    IR_OP_LIST(X)
#undef X
};

static const struct {
    const char *name;
    const char *spec;
} kernel_table[IR_K_COUNT] = {
#define X(NAME, STR, SPEC) [IR_K_##NAME] = {STR, SPEC},
    IR_KERNEL_LIST(X)
#undef X
};

const char *ir_op_name(ir_op op) { return (unsigned)op < IR_OP_COUNT ? op_table[op].name : "?"; }
int ir_op_min_in(ir_op op) { return op_table[op].min_in; }
int ir_op_max_in(ir_op op) { return op_table[op].max_in; }

bool ir_op_is_leaf(ir_op op)
{
    return op == IR_OP_WEIGHT || op == IR_OP_INPUT_TOKENS || op == IR_OP_INPUT_POS || op == IR_OP_INPUT_HIDDEN;
}

int ir_op_from_name(const char *s, size_t len)
{
    for (int i = 0; i < IR_OP_COUNT; i++)
        if (strlen(op_table[i].name) == len && !memcmp(op_table[i].name, s, len))
            return i;
    return -1;
}

/* Index of name in a comma-separated list, or -1. */
static int list_index(const char *list, const char *name, size_t len)
{
    int idx = 0;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == len && !memcmp(p, name, len))
            return idx;
        idx++;
        if (!e)
            break;
        p = e + 1;
    }
    return -1;
}

static int list_count(const char *list)
{
    if (!*list)
        return 0;
    int n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    return n;
}

int ir_op_iattr(ir_op op, const char *name) { return list_index(op_table[op].iattr, name, strlen(name)); }
int ir_op_fattr(ir_op op, const char *name) { return list_index(op_table[op].fattr, name, strlen(name)); }

const char *ir_list_name(const char *list, int i, char *buf, size_t cap)
{
    const char *p = list;
    while (i-- > 0 && p)
        p = (p = strchr(p, ',')) ? p + 1 : NULL;
    if (!p || !*p)
        return NULL;
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

const char *ir_op_iattrs(ir_op op) { return op_table[op].iattr; }
const char *ir_op_fattrs(ir_op op) { return op_table[op].fattr; }
const char *ir_kernel_specs(ir_kernel k) { return kernel_table[k].spec; }

const char *ir_kernel_name(ir_kernel k) { return (unsigned)k < IR_K_COUNT ? kernel_table[k].name : "?"; }

int ir_kernel_from_name(const char *s, size_t len)
{
    for (int i = 0; i < IR_K_COUNT; i++)
        if (strlen(kernel_table[i].name) == len && !memcmp(kernel_table[i].name, s, len))
            return i;
    return -1;
}

int ir_kernel_spec(ir_kernel k, const char *name) { return list_index(kernel_table[k].spec, name, strlen(name)); }
int ir_kernel_n_spec(ir_kernel k) { return list_count(kernel_table[k].spec); }

ir_graph *ir_graph_new(void)
{
    ir_graph *g = calloc(1, sizeof *g);
    if (g)
        arena_init(&g->arena);
    return g;
}

void ir_graph_free(ir_graph *g)
{
    if (!g)
        return;
    free(g->nodes);
    free(g->groups);
    arena_free(&g->arena);
    free(g);
}

ir_type ir_type_make(ir_elem elem, uint8_t rank, const int64_t *dim)
{
    ir_type t = {.elem = elem, .rank = rank};
    RF_ASSERT(rank <= IR_MAX_RANK);
    for (uint8_t i = 0; i < rank; i++)
        t.dim[i] = dim[i];
    return t;
}

int ir_glu_kind(ir_op op)
{
    return op == IR_OP_SWIGLU ? 1 : op == IR_OP_GEGLU ? 2 : op == IR_OP_SWIGLU_OAI ? 3 : 0;
}

bool ir_type_same_dims(const ir_type *a, const ir_type *b)
{
    if (a->rank != b->rank)
        return false;
    for (uint8_t i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return false;
    return true;
}

ir_node *ir_add(ir_graph *g, ir_op op, const ir_type *t, ir_node *const *in, uint8_t n_in)
{
    RF_ASSERT(n_in <= IR_MAX_IN);
    if (g->n_nodes == g->cap_nodes) {
        uint32_t cap = g->cap_nodes ? 2 * g->cap_nodes : 256;
        ir_node **nn = realloc(g->nodes, cap * sizeof *nn);
        if (!nn)
            return NULL;
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    ir_node *n = arena_calloc(&g->arena, 1, sizeof *n);
    if (!n)
        return NULL;
    n->op = op;
    n->id = g->next_id++;
    n->n_in = n_in;
    for (uint8_t i = 0; i < n_in; i++)
        n->in[i] = in[i];
    n->type = *t;
    n->offset = -1;
    g->nodes[g->n_nodes++] = n;
    return n;
}

ir_node *ir_weight(ir_graph *g, const char *name, ir_elem elem, uint8_t rank, const int64_t *dim)
{
    ir_type t = ir_type_make(elem, rank, dim);
    ir_node *n = ir_add(g, IR_OP_WEIGHT, &t, NULL, 0);
    if (n && !(n->name = arena_strndup(&g->arena, name, strlen(name))))
        return NULL;
    return n;
}

void ir_compact(ir_graph *g)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i]->dead)
            g->nodes[k++] = g->nodes[i];
    g->n_nodes = k;
}

ir_group *ir_group_new(ir_graph *g, ir_kernel kind)
{
    if (g->n_groups == g->cap_groups) {
        uint32_t cap = g->cap_groups ? 2 * g->cap_groups : 64;
        ir_group *ng = realloc(g->groups, cap * sizeof *ng);
        if (!ng)
            return NULL;
        g->groups = ng;
        g->cap_groups = cap;
    }
    ir_group *gr = &g->groups[g->n_groups++];
    memset(gr, 0, sizeof *gr);
    gr->id = g->n_groups;
    gr->kernel = kind;
    return gr;
}

int64_t ir_type_bytes(const ir_type *t, int64_t T, int64_t P, int64_t O)
{
    const ggml_type_traits *tr = ggml_type_get(t->elem);
    RF_ASSERT(tr);
    int64_t n = 1;
    for (uint8_t i = 0; i < t->rank; i++) {
        int64_t d = t->dim[i];
        d = d == IR_DIM_T ? T : d == IR_DIM_P ? P : d == IR_DIM_PT ? P + T : d == IR_DIM_O ? O : d;
        n *= d;
    }
    return n / tr->block_size * tr->type_size;
}

/* the dimension at which a frequency turns n_rotations times over n_ctx_orig */
static float yarn_corr_dim(int n_rot, int n_ctx_orig, float n_rotations, float base)
{
    const float pi = 3.14159265358979323846f; /* M_PI is not strict C11 */
    return (float)n_rot * logf((float)n_ctx_orig / (n_rotations * 2 * pi)) / (2 * logf(base));
}

void ir_rope_yarn_corr(int n_rot, int n_ctx_orig, float beta_fast, float beta_slow, float base, float corr[2])
{
    corr[0] = fmaxf(0.0f, floorf(yarn_corr_dim(n_rot, n_ctx_orig, beta_fast, base)));
    corr[1] = fminf((float)(n_rot - 1), ceilf(yarn_corr_dim(n_rot, n_ctx_orig, beta_slow, base)));
}
