/*
 * place.c: where a value of the graph lives during a step, the same rule for
 * every backend. A computed value has its workspace offset from the memory
 * planner; weights, the KV cache views and the step's inputs live in their
 * own storage (a split session's second part: its `hidden` rows, the
 * session's); views (reshape, output, last_rows) are the value they view,
 * last_rows at the byte offset of its last rows. A backend maps the home to
 * its base address (host pointer or device address) and adds the offset.
 */
#include "runtime/backend.h"

int64_t rt_dim(int64_t d, int64_t T, int64_t P, int64_t O)
{
    return d == IR_DIM_T ? T : d == IR_DIM_P ? P : d == IR_DIM_PT ? P + T : d == IR_DIM_O ? O : d;
}

int64_t rt_numel(const ir_type *t, int64_t T, int64_t P, int64_t O)
{
    int64_t n = 1;
    for (uint8_t i = 0; i < t->rank; i++)
        n *= rt_dim(t->dim[i], T, P, O);
    return n;
}

rt_place rt_place_of(const ir_node *n, int64_t T, int64_t P, int64_t O)
{
    switch (n->op) {
    case IR_OP_INPUT_TOKENS: return (rt_place){RT_IN_TOKENS, n, 0};
    case IR_OP_INPUT_POS: return (rt_place){RT_IN_POS, n, 0};
    case IR_OP_INPUT_HIDDEN: return (rt_place){RT_IN_HIDDEN, n, 0};
    case IR_OP_WEIGHT: return (rt_place){RT_IN_WEIGHT, n, 0};
    case IR_OP_KV_STORE: return (rt_place){RT_IN_KV, n, 0};
    case IR_OP_RESHAPE:
    case IR_OP_OUTPUT: return rt_place_of(n->in[0], T, P, O);
    case IR_OP_LAST_ROWS: {
        const ir_node *in = n->in[0];
        int64_t rows = rt_dim(in->type.dim[0], T, P, O), row = rt_numel(&in->type, T, P, O) / rows;
        rt_place p = rt_place_of(in, T, P, O);
        p.offset += (rows - rt_dim(n->ia[0], T, P, O)) * row * (int64_t)sizeof(float);
        return p;
    }
    default: return (rt_place){RT_IN_WORKSPACE, n, n->offset};
    }
}
