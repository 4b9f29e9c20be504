/*
 * simplify.c: the cleanup passes. dce drops every node the output does not
 * depend on (import builds whole layers; a last-token-only graph does not
 * need the final norm of the other rows, say); fold removes no-op nodes:
 * a scale by 1, a reshape to the same shape, a reshape of a reshape.
 */
#include <stdlib.h>
#include <string.h>

#include "ir/passes/passes.h"
#include "support/error.h"

rf_status ir_pass_dce(ir_graph *g, rf_error *err)
{
    bool *live = calloc(g->next_id ? g->next_id : 1, sizeof *live);
    if (!live)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    for (uint32_t i = g->n_nodes; i-- > 0;) {
        ir_node *n = g->nodes[i];
        if (n->op == IR_OP_OUTPUT || n->op == IR_OP_KV_STORE)
            live[n->id] = true; /* cache stores are effects */
        if (!live[n->id]) {
            n->dead = true;
            continue;
        }
        for (uint8_t k = 0; k < n->n_in; k++)
            live[n->in[k]->id] = true;
    }
    free(live);
    ir_compact(g);
    return RF_OK;
}

rf_status ir_pass_fold(ir_graph *g, rf_error *err)
{
    (void)err;
    /* replacement of a removed node, by id; nodes point to earlier nodes only,
     * so one forward sweep resolves chains */
    ir_node **repl = calloc(g->next_id ? g->next_id : 1, sizeof *repl);
    if (!repl)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        for (uint8_t k = 0; k < n->n_in; k++)
            if (repl[n->in[k]->id])
                n->in[k] = repl[n->in[k]->id];
        if ((n->op == IR_OP_SCALE && n->fa[0] == 1.0f) ||
            (n->op == IR_OP_RESHAPE && ir_type_same_dims(&n->type, &n->in[0]->type))) {
            repl[n->id] = n->in[0];
            n->dead = true;
        } else if (n->op == IR_OP_RESHAPE && n->in[0]->op == IR_OP_RESHAPE) {
            n->in[0] = n->in[0]->in[0];
        }
    }
    free(repl);
    ir_compact(g);
    return ir_pass_dce(g, err); /* a reshape bypassed above may now be unused */
}
