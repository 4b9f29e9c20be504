/*
 * memplan.c: one workspace for every activation, offsets by liveness.
 *
 * After scheduling, each unit (group, or ungrouped node) is one step in
 * time. A value lives from the step that defines it to the last step that
 * reads it, looking through views (reshape, last_rows, output share their
 * root's storage, and the output's root lives to the end). Values are sized
 * for a step of g->plan_tokens tokens and placed first-fit, lowest offset
 * first, among the blocks live at the same time, 64-byte aligned. Inputs,
 * weights and the KV cache are not in the workspace. The inputs of a rope_kv
 * group that a decode kernel runs with its attention (ir_rope_kv_fusable)
 * live through the attention's step too: that kernel reads them; so does the
 * product row a of a post-norm x = xres + rms_norm(a) (ir_post_norm) through
 * x's step, since the product's tail may make x.
 */
#include <stdlib.h>
#include <string.h>

#include "ir/passes/passes.h"
#include "support/error.h"

enum { ALIGN = 64 };

typedef struct block {
    int64_t off, size;
    uint32_t until;   /* last step that reads it */
} block;

static const ir_node *root_of(const ir_node *n)
{
    while (ir_is_alias(n))
        n = n->in[0];
    return n;
}

static bool needs_storage(const ir_node *n)
{
    return !ir_is_leaf(n) && !ir_is_alias(n) && n->op != IR_OP_KV_STORE;
}

rf_status ir_pass_memplan(ir_graph *g, rf_error *err)
{
    uint32_t n = g->n_nodes;
    uint32_t *step = malloc((g->next_id ? g->next_id : 1) * sizeof *step);
    uint32_t *until = calloc(g->next_id ? g->next_id : 1, sizeof *until);
    block *live = malloc((n ? n : 1) * sizeof *live);
    if (!step || !until || !live) {
        free(step), free(until), free(live);
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    }
    /* steps: a new one at each group change or ungrouped node */
    uint32_t t = 0, prev_group = 0;
    for (uint32_t i = 0; i < n; i++) {
        ir_node *nd = g->nodes[i];
        if (i && (!nd->group || nd->group != prev_group))
            t++;
        prev_group = nd->group;
        step[nd->id] = t;
    }
    for (uint32_t i = 0; i < n; i++) {
        ir_node *nd = g->nodes[i];
        for (uint8_t k = 0; k < nd->n_in; k++) {
            const ir_node *r = root_of(nd->in[k]);
            if (until[r->id] < step[nd->id])
                until[r->id] = step[nd->id];
        }
        if (nd->op == IR_OP_OUTPUT)
            until[root_of(nd)->id] = UINT32_MAX;
        const ir_node *pn = ir_post_norm(g, nd);
        if (pn && until[root_of(pn->in[0])->id] < step[nd->id])
            until[root_of(pn->in[0])->id] = step[nd->id];
        if (ir_rope_kv_fusable(g, nd)) {
            float prescale;
            const ir_node *rq = ir_attn_rope_q(nd, &prescale), *rk = nd->in[1]->in[0];
            const ir_node *members[6] = {rq, nd->in[1], rk, nd->in[2], ir_rope_norm(rq), ir_rope_norm(rk)};
            for (int m = 0; m < 6 && members[m]; m++)
                for (uint8_t k = 0; k < members[m]->n_in; k++) {
                    const ir_node *r = root_of(members[m]->in[k]);
                    if (until[r->id] < step[nd->id])
                        until[r->id] = step[nd->id];
                }
        }
    }
    uint32_t n_live = 0;
    int64_t top = 0;
    for (uint32_t i = 0; i < n; i++) {
        ir_node *nd = g->nodes[i];
        nd->offset = -1;
        if (!needs_storage(nd))
            continue;
        uint32_t now = step[nd->id];
        /* retire blocks whose last reader ran before this step */
        uint32_t k = 0;
        for (uint32_t j = 0; j < n_live; j++)
            if (live[j].until >= now)
                live[k++] = live[j];
        n_live = k;
        int64_t size = ir_type_bytes(&nd->type, g->plan_tokens, 0, g->plan_out);
        size = (size + ALIGN - 1) / ALIGN * ALIGN;
        /* first fit over the live blocks sorted by offset */
        int64_t off = 0;
        for (uint32_t j = 0; j < n_live; j++) {
            if (live[j].off - off >= size)
                break;
            if (live[j].off + live[j].size > off)
                off = live[j].off + live[j].size;
        }
        nd->offset = off;
        uint32_t last = until[nd->id] < now ? now : until[nd->id];
        uint32_t at = 0;
        while (at < n_live && live[at].off < off)
            at++;
        memmove(live + at + 1, live + at, (n_live - at) * sizeof *live);
        live[at] = (block){off, size, last};
        n_live++;
        if (off + size > top)
            top = off + size;
    }
    /* views report their root's offset (last_rows: the root's; the row shift
     * depends on T and is applied at run time) */
    for (uint32_t i = 0; i < n; i++)
        if (ir_is_alias(g->nodes[i]))
            g->nodes[i]->offset = root_of(g->nodes[i])->offset;
    g->workspace_bytes = top;
    free(step);
    free(until);
    free(live);
    return RF_OK;
}
