/*
 * util.c: what several passes need: the use lists of a graph, and which
 * nodes are leaves or views.
 */
#include <stdlib.h>
#include <string.h>

#include "ir/passes/passes.h"
#include "support/error.h"

bool ir_is_leaf(const ir_node *n)
{
    return ir_op_is_leaf(n->op);
}

bool ir_is_alias(const ir_node *n)
{
    return n->op == IR_OP_RESHAPE || n->op == IR_OP_LAST_ROWS || n->op == IR_OP_OUTPUT;
}

const ir_node *ir_attn_rope_q(const ir_node *a, float *prescale)
{
    const ir_node *q = a->in[0];
    *prescale = 1.0f;
    if (q->op == IR_OP_SCALE && q->in[0]->op == IR_OP_ROPE && q->group && q->group == q->in[0]->group) {
        *prescale = q->fa[0];
        q = q->in[0];
    }
    return q->op == IR_OP_ROPE ? q : NULL;
}

/* does group gid hold exactly node n, of kernel kind? */
static bool alone_in(const ir_graph *g, const ir_node *n, ir_kernel kind)
{
    if (!n->group || n->group > g->n_groups || g->groups[n->group - 1].kernel != kind)
        return false;
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->group == n->group && g->nodes[i] != n)
            return false;
    return true;
}

const ir_node *ir_post_norm(const ir_graph *g, const ir_node *x)
{
    if (x->op != IR_OP_ADD || !alone_in(g, x, IR_K_ELEMENTWISE))
        return NULL;
    for (int s = 0; s < 2; s++) {
        const ir_node *pn = x->in[s], *a = pn->in[0];
        if (pn->op != IR_OP_RMS_NORM || pn->n_in != 2 || pn->type.rank != 2 || pn->in[1]->type.elem != GGML_TYPE_F32 ||
            !alone_in(g, pn, IR_K_NORM) || !a->group || a->group > g->n_groups ||
            g->groups[a->group - 1].kernel != IR_K_MATMUL || x->in[1 - s]->type.dim[0] != pn->type.dim[0])
            continue;
        uint32_t readers = 0;
        for (uint32_t i = 0; i < g->n_nodes; i++)
            for (uint8_t k = 0; k < g->nodes[i]->n_in; k++)
                readers += g->nodes[i]->in[k] == pn;
        if (readers == 1)
            return pn;
    }
    return NULL;
}

const ir_node *ir_rope_norm(const ir_node *rope)
{
    const ir_node *x = rope->in[0];
    return x->op == IR_OP_RMS_NORM && x->group && x->group == rope->group ? x : NULL;
}

bool ir_rope_kv_fusable(const ir_graph *g, const ir_node *a)
{
    if (a->op != IR_OP_ATTENTION || a->n_in < 3)
        return false;
    float prescale;
    const ir_node *q = ir_attn_rope_q(a, &prescale), *sk = a->in[1], *sv = a->in[2];
    if (!q || sk->op != IR_OP_KV_STORE || sv->op != IR_OP_KV_STORE || sk->in[0]->op != IR_OP_ROPE)
        return false;
    const ir_node *rk = sk->in[0];
    uint32_t gid = q->group;
    if (!gid || gid > g->n_groups || g->groups[gid - 1].kernel != IR_K_ROPE_KV || rk->group != gid ||
        sk->group != gid || sv->group != gid)
        return false;
    if (q->n_in != rk->n_in || q->in[1] != rk->in[1] || (q->n_in > 2 && q->in[2] != rk->in[2]) ||
        memcmp(q->ia, rk->ia, sizeof q->ia) || memcmp(q->fa, rk->fa, sizeof q->fa))
        return false;
    /* per-head norms: both or neither, over the head dimension, weighted */
    const ir_node *nq = ir_rope_norm(q), *nk = ir_rope_norm(rk);
    if (!nq != !nk || (nq && (nq->n_in != 2 || nk->n_in != 2 || nq->type.rank != 3 || nk->type.rank != 3 ||
                               nq->in[1]->type.elem != GGML_TYPE_F32 || nk->in[1]->type.elem != GGML_TYPE_F32)))
        return false;
    return q->type.rank == 3 && rk->type.rank == 3 && q->type.dim[2] == rk->type.dim[2];
}

rf_status ir_uses_build(const ir_graph *g, ir_uses *u, rf_error *err)
{
    memset(u, 0, sizeof *u);
    u->n_ids = g->next_id;
    u->count = calloc(u->n_ids ? u->n_ids : 1, sizeof *u->count);
    u->users = calloc(u->n_ids ? u->n_ids : 1, sizeof *u->users);
    if (!u->count || !u->users) {
        ir_uses_free(u);
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < g->n_nodes; i++)
        for (uint8_t k = 0; k < g->nodes[i]->n_in; k++)
            u->count[g->nodes[i]->in[k]->id]++;
    for (uint32_t id = 0; id < u->n_ids; id++)
        if (u->count[id] && !(u->users[id] = calloc(u->count[id], sizeof **u->users))) {
            ir_uses_free(u);
            return rf_fail(err, RF_E_NOMEM, "out of memory");
        }
    uint32_t *fill = calloc(u->n_ids ? u->n_ids : 1, sizeof *fill);
    if (!fill) {
        ir_uses_free(u);
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < g->n_nodes; i++)
        for (uint8_t k = 0; k < g->nodes[i]->n_in; k++) {
            uint32_t id = g->nodes[i]->in[k]->id;
            u->users[id][fill[id]++] = g->nodes[i];
        }
    free(fill);
    return RF_OK;
}

void ir_uses_free(ir_uses *u)
{
    if (u->users)
        for (uint32_t i = 0; i < u->n_ids; i++)
            free(u->users[i]);
    free(u->users);
    free(u->count);
    memset(u, 0, sizeof *u);
}
