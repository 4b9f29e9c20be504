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
    return n->op == IR_OP_WEIGHT || n->op == IR_OP_INPUT_TOKENS || n->op == IR_OP_INPUT_POS;
}

bool ir_is_alias(const ir_node *n)
{
    return n->op == IR_OP_RESHAPE || n->op == IR_OP_LAST_ROWS || n->op == IR_OP_OUTPUT;
}

bool ir_rope_kv_fusable(const ir_graph *g, const ir_node *a)
{
    if (a->op != IR_OP_ATTENTION || a->n_in < 3)
        return false;
    const ir_node *q = a->in[0], *sk = a->in[1], *sv = a->in[2];
    if (q->op != IR_OP_ROPE || sk->op != IR_OP_KV_STORE || sv->op != IR_OP_KV_STORE || sk->in[0]->op != IR_OP_ROPE)
        return false;
    const ir_node *rk = sk->in[0];
    uint32_t gid = q->group;
    if (!gid || gid > g->n_groups || g->groups[gid - 1].kernel != IR_K_ROPE_KV || rk->group != gid ||
        sk->group != gid || sv->group != gid)
        return false;
    if (q->n_in != rk->n_in || q->in[1] != rk->in[1] || (q->n_in > 2 && q->in[2] != rk->in[2]) ||
        memcmp(q->ia, rk->ia, sizeof q->ia) || memcmp(q->fa, rk->fa, sizeof q->fa))
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
