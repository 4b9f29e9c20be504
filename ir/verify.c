/*
 * verify.c: the IR verifier, run after import and after every pass.
 *
 * It checks what every later stage assumes: operands defined before use,
 * unique ids, arities and attributes within the op's rules, result types
 * consistent with the operands (shapes compared symbol by symbol), one
 * output at the end, fusion groups contiguous and non-empty, workspace
 * offsets inside the workspace. It reports the first violation, naming the
 * node as %id and its op. A verifier failure after a pass is a compiler
 * bug, but it is reported as an error (with the pass named by the caller),
 * not an abort, so `rocmforge ir` can still show the broken IR.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "support/error.h"

#define FAIL(...) return rf_fail(err, RF_E_FORMAT, __VA_ARGS__)

static int64_t last(const ir_type *t) { return t->rank ? t->dim[t->rank - 1] : 1; }

/* constant part and symbol counts of the element count, for reshape */
static void count(const ir_type *t, int64_t *c, int *sym)
{
    *c = 1;
    sym[0] = sym[1] = sym[2] = 0;
    for (uint8_t i = 0; i < t->rank; i++) {
        if (t->dim[i] >= 0)
            *c *= t->dim[i];
        else
            sym[-t->dim[i] - 1]++;
    }
}

static rf_status check_node(const ir_graph *g, const ir_node *n, rf_error *err)
{
    const ir_type *t = &n->type;
    const ir_type *a = n->n_in > 0 ? &n->in[0]->type : NULL;
    const ir_type *b = n->n_in > 1 ? &n->in[1]->type : NULL;
    const char *op = ir_op_name(n->op);
    uint32_t id = n->id;
    if (!ggml_type_get(t->elem))
        FAIL("%%%" PRIu32 " (%s): invalid element type", id, op);
    for (uint8_t i = 0; i < t->rank; i++)
        if (t->dim[i] < IR_DIM_O || t->dim[i] == 0)
            FAIL("%%%" PRIu32 " (%s): dimension %u is invalid", id, op, i);
    bool ids = n->op == IR_OP_INPUT_TOKENS || n->op == IR_OP_INPUT_POS || n->op == IR_OP_TOPK;
    if (n->op != IR_OP_WEIGHT && !ids && t->elem != GGML_TYPE_F32)
        FAIL("%%%" PRIu32 " (%s): computed values are f32", id, op);
    if (ids && t->elem != GGML_TYPE_I32)
        FAIL("%%%" PRIu32 " (%s): computed values are i32", id, op);

    switch (n->op) {
    case IR_OP_INPUT_TOKENS:
    case IR_OP_INPUT_POS:
        if (t->elem != GGML_TYPE_I32 || t->rank != 1 || t->dim[0] != IR_DIM_T)
            FAIL("%%%" PRIu32 " (%s): must be i32[T]", id, op);
        break;
    case IR_OP_INPUT_HIDDEN:
        if (t->rank != 2 || t->dim[0] != IR_DIM_T || (g->model.n_embd && t->dim[1] != (int64_t)g->model.n_embd))
            FAIL("%%%" PRIu32 " (hidden): must be f32[T,n_embd]", id);
        break;
    case IR_OP_WEIGHT:
        if (!n->name || !n->name[0])
            FAIL("%%%" PRIu32 " (weight): no tensor name", id);
        if (t->rank < 1)
            FAIL("%%%" PRIu32 " (weight @%s): rank 0", id, n->name);
        for (uint8_t i = 0; i < t->rank; i++)
            if (t->dim[i] < 0)
                FAIL("%%%" PRIu32 " (weight @%s): symbolic dimension", id, n->name);
        if (n->ia[0] < 0 || n->ia[1] < 0 || n->ia[2] < 0)
            FAIL("%%%" PRIu32 " (weight @%s): negative row0, col0 or mid0", id, n->name);
        if (n->ia[2] && t->rank != 3)
            FAIL("%%%" PRIu32 " (weight @%s): mid0 of a tensor of rank %u (3 only)", id, n->name, t->rank);
        break;
    case IR_OP_ALL_REDUCE:
    case IR_OP_ALL_GATHER: {
        int64_t w = n->op == IR_OP_ALL_GATHER ? g->model.tp_world : 1;
        if (g->model.tp_world < 2 || g->model.tp_rank >= g->model.tp_world)
            FAIL("%%%" PRIu32 " (%s): only in a tensor-parallel rank's graph (model tp_world > 1)", id, op);
        bool same = t->rank == a->rank && last(a) >= 0 && last(t) == last(a) * w;
        for (uint8_t i = 0; same && i + 1 < t->rank; i++)
            same = t->dim[i] == a->dim[i];
        if (!same)
            FAIL("%%%" PRIu32 " (%s): result must be x's shape%s", id, op, w > 1 ? " with the last axis tp_world times" : "");
        break;
    }
    case IR_OP_EMBED:
        if (n->in[0]->op != IR_OP_WEIGHT || a->rank != 2 || b->elem != GGML_TYPE_I32 || t->rank != 2 ||
            t->dim[0] != b->dim[0] || t->dim[1] != a->dim[1])
            FAIL("%%%" PRIu32 " (embed): expects a [V,E] weight and i32[T] ids giving f32[T,E]", id);
        break;
    case IR_OP_RMS_NORM:
        if (!ir_type_same_dims(t, a))
            FAIL("%%%" PRIu32 " (rms_norm): result shape differs from its input", id);
        if (b && (b->rank != 1 || b->dim[0] != last(a)))
            FAIL("%%%" PRIu32 " (rms_norm): weight must be [%" PRId64 "]", id, last(a));
        if (!(n->fa[0] > 0))
            FAIL("%%%" PRIu32 " (rms_norm): eps must be > 0", id);
        break;
    case IR_OP_LAYER_NORM:
        if (!ir_type_same_dims(t, a))
            FAIL("%%%" PRIu32 " (layer_norm): result shape differs from its input", id);
        for (uint8_t k = 1; k < n->n_in; k++)
            if (n->in[k]->type.rank != 1 || n->in[k]->type.dim[0] != last(a))
                FAIL("%%%" PRIu32 " (layer_norm): weight and bias must be [%" PRId64 "]", id, last(a));
        if (!(n->fa[0] > 0))
            FAIL("%%%" PRIu32 " (layer_norm): eps must be > 0", id);
        break;
    case IR_OP_MATMUL:
        if (b->rank != 2 || a->rank < 1 || last(a) != b->dim[1])
            FAIL("%%%" PRIu32 " (matmul): x[...,%" PRId64 "] does not match W[N,K] with K = %" PRId64, id, last(a),
                 b->rank == 2 ? b->dim[1] : -1);
        if (t->rank != a->rank || last(t) != b->dim[0])
            FAIL("%%%" PRIu32 " (matmul): result must be [...,%" PRId64 "]", id, b->dim[0]);
        for (uint8_t i = 0; i + 1 < a->rank; i++)
            if (t->dim[i] != a->dim[i])
                FAIL("%%%" PRIu32 " (matmul): leading dimensions differ from x", id);
        break;
    case IR_OP_MATMUL_HEADS:
        if (n->in[1]->op != IR_OP_WEIGHT || b->rank != 3 || a->rank != 3 || a->dim[1] != b->dim[0] ||
            a->dim[2] != b->dim[2])
            FAIL("%%%" PRIu32 " (matmul_heads): expects x[T,H,K] and W[H,N,K]", id);
        if (t->rank != 3 || t->dim[0] != a->dim[0] || t->dim[1] != a->dim[1] || t->dim[2] != b->dim[1])
            FAIL("%%%" PRIu32 " (matmul_heads): result must be [T,H,%" PRId64 "]", id, b->dim[1]);
        break;
    case IR_OP_CONCAT:
        if (a->rank < 1 || b->rank != a->rank || t->rank != a->rank || last(t) != last(a) + last(b) ||
            last(a) < 0 || last(b) < 0)
            FAIL("%%%" PRIu32 " (concat): expects a[...,n] and b[...,m] giving [...,n+m]", id);
        for (uint8_t i = 0; i + 1 < a->rank; i++) /* b's heads may be one, repeated */
            if (t->dim[i] != a->dim[i] || (b->dim[i] != a->dim[i] && (a->rank < 3 || i + 2 != a->rank || b->dim[i] != 1)))
                FAIL("%%%" PRIu32 " (concat): leading dimensions differ", id);
        break;
    case IR_OP_GROUP_MASK:
        if (!ir_type_same_dims(t, a) || n->ia[0] < 2 || last(a) % n->ia[0] || last(a) / n->ia[0] < 2 ||
            n->ia[1] < 1 || n->ia[1] >= n->ia[0])
            FAIL("%%%" PRIu32 " (group_mask): groups of at least 2 must divide the last axis, 0 < used < groups", id);
        break;
    case IR_OP_ADD:
    case IR_OP_MUL:
        if (!ir_type_same_dims(t, a))
            FAIL("%%%" PRIu32 " (%s): result shape differs from its first operand", id, op);
        if (b->rank > a->rank)
            FAIL("%%%" PRIu32 " (%s): second operand has higher rank", id, op);
        for (uint8_t i = 0; i < b->rank; i++)
            if (b->dim[b->rank - 1 - i] != a->dim[a->rank - 1 - i])
                FAIL("%%%" PRIu32 " (%s): operands do not broadcast", id, op);
        break;
    case IR_OP_SOFTMAX:
    case IR_OP_SIGMOID:
    case IR_OP_SCALE:
    case IR_OP_SILU:
    case IR_OP_GELU:
    case IR_OP_SOFTCAP:
    case IR_OP_OUTPUT:
        if (!ir_type_same_dims(t, a))
            FAIL("%%%" PRIu32 " (%s): result shape differs from its input", id, op);
        if (n->op == IR_OP_SOFTCAP && !(n->fa[0] > 0))
            FAIL("%%%" PRIu32 " (softcap): cap must be > 0", id);
        break;
    case IR_OP_SWIGLU:
    case IR_OP_GEGLU:
    case IR_OP_SWIGLU_OAI:
        if (!ir_type_same_dims(t, a) || !ir_type_same_dims(a, b))
            FAIL("%%%" PRIu32 " (%s): gate, up and result must have one shape", id, op);
        break;
    case IR_OP_SLICE: {
        int64_t ax = n->ia[0], st = n->ia[1], len = n->ia[2];
        if (ax < 0 || ax >= a->rank || a->dim[ax] < 0 || st < 0 || len <= 0 || st + len > a->dim[ax])
            FAIL("%%%" PRIu32 " (slice): axis/start/len out of range", id);
        if (t->rank != a->rank)
            FAIL("%%%" PRIu32 " (slice): rank changed", id);
        for (uint8_t i = 0; i < a->rank; i++)
            if (t->dim[i] != (i == ax ? len : a->dim[i]))
                FAIL("%%%" PRIu32 " (slice): result shape is wrong", id);
        break;
    }
    case IR_OP_RESHAPE: {
        int64_t ca, ct;
        int sa[3], st[3];
        count(a, &ca, sa);
        count(t, &ct, st);
        if (ca != ct || memcmp(sa, st, sizeof sa))
            FAIL("%%%" PRIu32 " (reshape): element count changes", id);
        break;
    }
    case IR_OP_ROPE:
        if (a->rank != 3 || !ir_type_same_dims(t, a) || b->elem != GGML_TYPE_I32 || b->dim[0] != a->dim[0])
            FAIL("%%%" PRIu32 " (rope): expects x[T,H,D] and i32[T] positions", id);
        if (n->ia[0] <= 0 || n->ia[0] % 2 || n->ia[0] > a->dim[2] || (n->ia[1] != 0 && n->ia[1] != 2))
            FAIL("%%%" PRIu32 " (rope): n_rot must be even and <= head_dim, mode 0 or 2", id);
        if (n->n_in == 3 && (n->in[2]->type.rank != 1 || n->in[2]->type.dim[0] != n->ia[0] / 2))
            FAIL("%%%" PRIu32 " (rope): frequency factors must be [n_rot/2]", id);
        break;
    case IR_OP_KV_STORE:
        if (a->rank != 3 || a->dim[0] != IR_DIM_T || t->rank != 3 || t->dim[0] != IR_DIM_PT ||
            t->dim[1] != a->dim[1] || t->dim[2] != a->dim[2])
            FAIL("%%%" PRIu32 " (kv_store): expects x[T,H,D] giving the cache view [P+T,H,D]", id);
        if (n->ia[0] < 0 || (g->model.n_layer && n->ia[0] >= g->model.n_layer) || (n->ia[1] != 0 && n->ia[1] != 1))
            FAIL("%%%" PRIu32 " (kv_store): layer or kv out of range", id);
        break;
    case IR_OP_ATTENTION: {
        const ir_node *k = n->in[1], *v = n->in[2];
        if (k->op != IR_OP_KV_STORE || v->op != IR_OP_KV_STORE || k->ia[1] != 0 || v->ia[1] != 1 ||
            k->ia[0] != n->ia[0] || v->ia[0] != n->ia[0])
            FAIL("%%%" PRIu32 " (attention): k and v must be this layer's kv_store results", id);
        if (a->rank != 3 || a->dim[2] != k->type.dim[2] || k->type.dim[1] <= 0 || a->dim[1] % k->type.dim[1])
            FAIL("%%%" PRIu32 " (attention): q[T,Hq,D] does not match k (GQA needs Hq %% Hkv == 0)", id);
        if (t->rank != 2 || t->dim[0] != a->dim[0] || t->dim[1] != a->dim[1] * v->type.dim[2])
            FAIL("%%%" PRIu32 " (attention): result must be [T,Hq*Dv]", id);
        if (!(n->fa[0] > 0) || n->ia[1] < 0)
            FAIL("%%%" PRIu32 " (attention): scale must be > 0 and window >= 0", id);
        if (n->ia[2] != 0 && n->ia[2] != 1)
            FAIL("%%%" PRIu32 " (attention): noncausal must be 0 or 1", id);
        if (n->n_in > 3 && (n->in[3]->type.rank != 1 || n->in[3]->type.dim[0] != a->dim[1]))
            FAIL("%%%" PRIu32 " (attention): sinks must be [Hq] = [%" PRId64 "]", id, a->dim[1]);
        break;
    }
    case IR_OP_POOL:
        if (a->rank != 2 || a->dim[0] != IR_DIM_T || t->rank != 2 || t->dim[0] != 1 || t->dim[1] != a->dim[1])
            FAIL("%%%" PRIu32 " (pool): expects x[T,E] giving [1,E]", id);
        if (n->ia[0] < 1 || n->ia[0] > 3)
            FAIL("%%%" PRIu32 " (pool): type must be 1 (mean), 2 (cls) or 3 (last)", id);
        break;
    case IR_OP_LAST_ROWS:
        if (a->rank < 1 || t->rank != a->rank || t->dim[0] != n->ia[0] || (n->ia[0] <= 0 && n->ia[0] != IR_DIM_O) ||
            a->dim[0] != IR_DIM_T)
            FAIL("%%%" PRIu32 " (last_rows): result must have n rows (a count, or O) of T", id);
        break;
    case IR_OP_TOPK:
        if (a->rank < 1 || t->rank != a->rank || n->ia[0] <= 0 || a->dim[a->rank - 1] < n->ia[0] ||
            last(t) != n->ia[0])
            FAIL("%%%" PRIu32 " (topk): k must be in 1..%" PRId64 " and the result [...,k]", id, last(a));
        for (uint8_t i = 0; i + 1 < a->rank; i++)
            if (t->dim[i] != a->dim[i])
                FAIL("%%%" PRIu32 " (topk): leading dimensions differ from x", id);
        break;
    case IR_OP_MOE_WEIGHTS:
        if (n->ia[0] < 0 || n->ia[0] > 2)
            FAIL("%%%" PRIu32 " (moe_weights): norm must be 0, 1 (by the sum) or 2 (softmax)", id);
        if (b->elem != GGML_TYPE_I32 || b->rank != a->rank || !ir_type_same_dims(t, b))
            FAIL("%%%" PRIu32 " (moe_weights): expects p[...,n_expert] and i32 ids[...,k] giving f32[...,k]", id);
        for (uint8_t i = 0; i + 1 < a->rank; i++)
            if (a->dim[i] != b->dim[i])
                FAIL("%%%" PRIu32 " (moe_weights): p and ids have different leading dimensions", id);
        break;
    case IR_OP_MATMUL_ID: {
        const ir_type *ix = &n->in[2]->type;
        if (b->rank != 3 || n->in[1]->op != IR_OP_WEIGHT || ix->elem != GGML_TYPE_I32 || ix->rank != 2)
            FAIL("%%%" PRIu32 " (matmul_id): expects x, W[n_expert,N,K] and i32 ids[T,k]", id);
        if (last(a) != b->dim[2] || (a->rank != 2 && a->rank != 3) || a->dim[0] != ix->dim[0] ||
            (a->rank == 3 && a->dim[1] != ix->dim[1]))
            FAIL("%%%" PRIu32 " (matmul_id): x must be [T,K] or [T,k,K] with K = %" PRId64, id, b->dim[2]);
        if (t->rank != 3 || t->dim[0] != ix->dim[0] || t->dim[1] != ix->dim[1] || t->dim[2] != b->dim[1])
            FAIL("%%%" PRIu32 " (matmul_id): result must be [T,k,%" PRId64 "]", id, b->dim[1]);
        if (n->n_in > 3 && (n->in[3]->type.rank != 2 || n->in[3]->type.dim[0] != b->dim[0] ||
                            n->in[3]->type.dim[1] != b->dim[1]))
            FAIL("%%%" PRIu32 " (matmul_id): the bias must be [n_expert,N]", id);
        break;
    }
    case IR_OP_MOE_SUM:
        if (a->rank != 3 || b->rank != 2 || b->dim[0] != a->dim[0] || b->dim[1] != a->dim[1] || t->rank != 2 ||
            t->dim[0] != a->dim[0] || t->dim[1] != a->dim[2])
            FAIL("%%%" PRIu32 " (moe_sum): expects y[T,k,N] and w[T,k] giving [T,N]", id);
        break;
    case IR_OP_SCALE_ROWS:
        if (!ir_type_same_dims(t, a) || a->rank != 2 || b->rank != 2 || b->dim[0] != a->dim[0] || b->dim[1] != 1)
            FAIL("%%%" PRIu32 " (scale_rows): expects x[T,N] and s[T,1]", id);
        break;
    default:
        break;
    }
    return RF_OK;
}

rf_status ir_verify(const ir_graph *g, rf_error *err)
{
    rf_status s = RF_OK;
    /* position of each id in the node order; -1 while not yet defined */
    int64_t *pos = malloc((g->next_id ? g->next_id : 1) * sizeof *pos);
    uint32_t *group_last = calloc(g->n_groups + 1, sizeof *group_last);
    bool *group_closed = calloc(g->n_groups + 1, sizeof *group_closed);
    if (!pos || !group_last || !group_closed) {
        free(pos), free(group_last), free(group_closed);
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < g->next_id; i++)
        pos[i] = -1;
    uint32_t n_out = 0, open = 0;
    for (uint32_t i = 0; i < g->n_nodes && s == RF_OK; i++) {
        const ir_node *n = g->nodes[i];
        if (n->dead) {
            s = rf_fail(err, RF_E_FORMAT, "%%%" PRIu32 " (%s): dead node still in the graph", n->id, ir_op_name(n->op));
            break;
        }
        if (n->id >= g->next_id || pos[n->id] >= 0) {
            s = rf_fail(err, RF_E_FORMAT, "%%%" PRIu32 ": id reused or out of range", n->id);
            break;
        }
        if (n->n_in < ir_op_min_in(n->op) || n->n_in > ir_op_max_in(n->op)) {
            s = rf_fail(err, RF_E_FORMAT, "%%%" PRIu32 " (%s): %u operands", n->id, ir_op_name(n->op), n->n_in);
            break;
        }
        for (uint8_t k = 0; k < n->n_in && s == RF_OK; k++)
            if (!n->in[k] || n->in[k]->id >= g->next_id || pos[n->in[k]->id] < 0 || g->nodes[pos[n->in[k]->id]] != n->in[k])
                s = rf_fail(err, RF_E_FORMAT, "%%%" PRIu32 " (%s): operand %u is not defined before it", n->id,
                            ir_op_name(n->op), k);
        if (s != RF_OK)
            break;
        pos[n->id] = i;
        if ((s = check_node(g, n, err)) != RF_OK)
            break;
        if (n->op == IR_OP_OUTPUT && (++n_out > 1 || i + 1 != g->n_nodes))
            s = rf_fail(err, RF_E_FORMAT, "%%%" PRIu32 " (output): there must be one output, the last node", n->id);
        bool leaf = ir_op_is_leaf(n->op);
        if (leaf && n->group)
            s = rf_fail(err, RF_E_FORMAT, "%%%" PRIu32 " (%s): leaves belong to no group", n->id, ir_op_name(n->op));
        else if (n->group > g->n_groups)
            s = rf_fail(err, RF_E_FORMAT, "%%%" PRIu32 ": group %" PRIu32 " does not exist", n->id, n->group);
        else if (!leaf) {
            if (n->group != open) {
                if (open)
                    group_closed[open] = true;
                if (n->group && group_closed[n->group])
                    s = rf_fail(err, RF_E_FORMAT, "%%%" PRIu32 ": group %" PRIu32 " is not contiguous", n->id, n->group);
                open = n->group;
            }
            if (n->group)
                group_last[n->group] = i + 1;
        }
        if (s == RF_OK && n->offset >= 0 && g->workspace_bytes && n->offset >= g->workspace_bytes)
            s = rf_fail(err, RF_E_FORMAT, "%%%" PRIu32 ": workspace offset %" PRId64 " is past the workspace", n->id,
                        n->offset);
    }
    if (s == RF_OK && n_out != 1)
        s = rf_fail(err, RF_E_FORMAT, "the graph has no output node");
    for (uint32_t gi = 1; s == RF_OK && gi <= g->n_groups; gi++)
        if (!group_last[gi])
            s = rf_fail(err, RF_E_FORMAT, "group %" PRIu32 " is empty", gi);
    free(pos);
    free(group_last);
    free(group_closed);
    return s;
}
