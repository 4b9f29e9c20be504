/*
 * fuse.c: the fusion passes, which tag nodes with group ids.
 *
 * A group executes as one kernel, so it must be convex: no path may leave
 * the group and come back into it (otherwise no order of kernels could run
 * it). Every fusion below is checked with convex_with(), which walks the
 * nodes between the group's first member and the candidate and looks for
 * an operand that depends on the group through an outside node.
 *
 * Patterns (matching llama.cpp's graphs after import):
 *   fuse-qkv       matmuls reading the same activation: Q/K/V, gate/up
 *   fuse-norm      rms_norm whose users are all matmuls of one group
 *   fuse-epilogue  add (bias or residual), swiglu/geglu (of a group of two
 *                  products), softcap and scale applied to a group's result
 *                  that nothing else uses
 *   fuse-rope-kv   rope(q), rope(k) ⊕ kv_store(k), kv_store(v) of one layer
 *   fuse-moe       an expert GLU: the chosen experts' gate and up products
 *                  (matmul_id of one input, ids and weight type) ⊕ the
 *                  swiglu / geglu / swiglu_oai of them, when nothing else
 *                  reads the products; and the down products ⊕ their
 *                  weighted sum (moe_sum) ⊕ the add that takes it
 *   group          the rest: one group per computing node
 */
#include <stdlib.h>
#include <string.h>

#include "ir/passes/passes.h"
#include "support/error.h"

typedef struct fuse_ctx {
    ir_graph *g;
    ir_uses uses;
    uint32_t *pos;   /* by id: index in g->nodes */
    uint8_t *mark;   /* by id: scratch for convexity */
} fuse_ctx;

static rf_status ctx_init(fuse_ctx *c, ir_graph *g, rf_error *err)
{
    memset(c, 0, sizeof *c);
    c->g = g;
    rf_status s = ir_uses_build(g, &c->uses, err);
    if (s != RF_OK)
        return s;
    c->pos = calloc(g->next_id ? g->next_id : 1, sizeof *c->pos);
    c->mark = calloc(g->next_id ? g->next_id : 1, 1);
    if (!c->pos || !c->mark) {
        ir_uses_free(&c->uses);
        free(c->pos);
        free(c->mark);
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < g->n_nodes; i++)
        c->pos[g->nodes[i]->id] = i;
    return RF_OK;
}

static void ctx_free(fuse_ctx *c)
{
    ir_uses_free(&c->uses);
    free(c->pos);
    free(c->mark);
}

/* Would group gid stay convex with node n added? Nodes after the group's
 * first member that depend on the group from outside are "tainted"; n may
 * not read a tainted node. */
static bool convex_with(fuse_ctx *c, uint32_t gid, const ir_node *n)
{
    ir_graph *g = c->g;
    uint32_t first = UINT32_MAX, end = c->pos[n->id];
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->group == gid) {
            first = i;
            break;
        }
    if (first == UINT32_MAX || first > end)
        return true;
    bool ok = true;
    for (uint32_t i = first; i < end; i++) {
        ir_node *m = g->nodes[i];
        c->mark[m->id] = 0;
        if (m->group == gid)
            continue;
        for (uint8_t k = 0; k < m->n_in; k++)
            if (m->in[k]->group == gid || c->mark[m->in[k]->id])
                c->mark[m->id] = 1;
    }
    for (uint8_t k = 0; k < n->n_in; k++)
        if (n->in[k]->group != gid && c->mark[n->in[k]->id] && c->pos[n->in[k]->id] >= first)
            ok = false;
    for (uint32_t i = first; i < end; i++)
        c->mark[g->nodes[i]->id] = 0;
    return ok;
}

static uint32_t new_group(ir_graph *g, ir_kernel k, rf_error *err)
{
    ir_group *gr = ir_group_new(g, k);
    if (!gr) {
        rf_fail(err, RF_E_NOMEM, "out of memory");
        return 0;
    }
    return gr->id;
}

/* the matmul group of a matmul node, creating a singleton if it has none */
static uint32_t matmul_group(ir_graph *g, ir_node *m, rf_error *err)
{
    if (!m->group)
        m->group = new_group(g, IR_K_MATMUL, err);
    return m->group;
}

rf_status ir_pass_fuse_qkv(ir_graph *g, rf_error *err)
{
    fuse_ctx c;
    rf_status s = ctx_init(&c, g, err);
    if (s != RF_OK)
        return s;
    for (uint32_t i = 0; i < g->n_nodes && s == RF_OK; i++) {
        ir_node *x = g->nodes[i];
        if (x->op == IR_OP_WEIGHT)
            continue;
        uint32_t gid = 0;
        for (uint32_t u = 0; u < c.uses.count[x->id]; u++) {
            ir_node *m = c.uses.users[x->id][u];
            if (m->op != IR_OP_MATMUL || m->in[0] != x || m->group)
                continue;
            if (!gid) {
                if (!(gid = matmul_group(g, m, err)))
                    s = RF_E_NOMEM;
            } else if (convex_with(&c, gid, m)) {
                m->group = gid;
            }
        }
    }
    ctx_free(&c);
    return s;
}

rf_status ir_pass_fuse_norm(ir_graph *g, rf_error *err)
{
    fuse_ctx c;
    rf_status s = ctx_init(&c, g, err);
    if (s != RF_OK)
        return s;
    for (uint32_t i = 0; i < g->n_nodes && s == RF_OK; i++) {
        ir_node *r = g->nodes[i];
        if (r->op != IR_OP_RMS_NORM || r->group || !c.uses.count[r->id])
            continue;
        uint32_t gid = 0;
        bool ok = true;
        for (uint32_t u = 0; u < c.uses.count[r->id] && ok; u++) {
            ir_node *m = c.uses.users[r->id][u];
            if (m->op != IR_OP_MATMUL || m->in[0] != r || (gid && m->group != gid))
                ok = false;
            else if (!gid && !(gid = matmul_group(g, m, err)))
                s = RF_E_NOMEM, ok = false;
        }
        if (ok)
            r->group = gid; /* the norm precedes its users: convex */
    }
    ctx_free(&c);
    return s;
}

/* the matmuls of group gid */
static int group_matmuls(const ir_graph *g, uint32_t gid)
{
    int n = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++)
        n += g->nodes[i]->group == gid && g->nodes[i]->op == IR_OP_MATMUL;
    return n;
}

/* Is operand o of epilogue node e produced by group gid, used by e alone? */
static bool from_group(fuse_ctx *c, const ir_node *o, uint32_t gid)
{
    return o->group == gid && c->uses.count[o->id] == 1;
}

rf_status ir_pass_fuse_epilogue(ir_graph *g, rf_error *err)
{
    fuse_ctx c;
    rf_status s = ctx_init(&c, g, err);
    if (s != RF_OK)
        return s;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        ir_node *e = g->nodes[i];
        if (e->group)
            continue;
        uint32_t gid = 0;
        switch (e->op) {
        case IR_OP_ADD:
            for (int k = 0; k < 2 && !gid; k++) {
                ir_node *o = e->in[k];
                if (o->group && g->groups[o->group - 1].kernel == IR_K_MATMUL && from_group(&c, o, o->group))
                    gid = o->group;
            }
            break;
        case IR_OP_SWIGLU:
        case IR_OP_GEGLU: /* of the group's only two products (not when others share their input: qwen2moe) */
            if (e->in[0]->group && e->in[0]->group == e->in[1]->group &&
                g->groups[e->in[0]->group - 1].kernel == IR_K_MATMUL && from_group(&c, e->in[0], e->in[0]->group) &&
                from_group(&c, e->in[1], e->in[0]->group) && group_matmuls(g, e->in[0]->group) == 2)
                gid = e->in[0]->group;
            break;
        case IR_OP_SOFTCAP:
        case IR_OP_SCALE:
            if (e->in[0]->group && g->groups[e->in[0]->group - 1].kernel == IR_K_MATMUL &&
                from_group(&c, e->in[0], e->in[0]->group))
                gid = e->in[0]->group;
            break;
        default:
            break;
        }
        if (gid && convex_with(&c, gid, e))
            e->group = gid;
    }
    ctx_free(&c);
    return s;
}

rf_status ir_pass_fuse_rope_kv(ir_graph *g, rf_error *err)
{
    fuse_ctx c;
    rf_status s = ctx_init(&c, g, err);
    if (s != RF_OK)
        return s;
    for (uint32_t i = 0; i < g->n_nodes && s == RF_OK; i++) {
        ir_node *a = g->nodes[i];
        if (a->op != IR_OP_ATTENTION)
            continue;
        ir_node *q = a->in[0], *sk = a->in[1], *sv = a->in[2];
        ir_node *rk = sk->in[0];
        ir_node *members[7];
        int n = 0;
        /* queries scaled after RoPE (prescale_q: phi3, gemma) come along */
        if (q->op == IR_OP_SCALE && !q->group && c.uses.count[q->id] == 1 && q->in[0]->op == IR_OP_ROPE) {
            members[n++] = q;
            q = q->in[0];
        }
        if (q->op == IR_OP_ROPE && !q->group && c.uses.count[q->id] == 1)
            members[n++] = q;
        if (rk->op == IR_OP_ROPE && !rk->group && c.uses.count[rk->id] == 1)
            members[n++] = rk;
        /* and per-head q/k norms before RoPE (qwen3), both or neither */
        ir_node *nq = q->op == IR_OP_ROPE ? q->in[0] : NULL, *nk = rk->op == IR_OP_ROPE ? rk->in[0] : NULL;
        if (nq && nk && nq->op == IR_OP_RMS_NORM && nk->op == IR_OP_RMS_NORM && !nq->group && !nk->group &&
            c.uses.count[nq->id] == 1 && c.uses.count[nk->id] == 1) {
            members[n++] = nq;
            members[n++] = nk;
        }
        if (!sk->group)
            members[n++] = sk;
        if (!sv->group)
            members[n++] = sv;
        if (n < 2)
            continue;
        /* members in graph order, then add one by one while convex */
        for (int x = 1; x < n; x++)
            for (int y = x; y > 0 && c.pos[members[y]->id] < c.pos[members[y - 1]->id]; y--) {
                ir_node *t = members[y];
                members[y] = members[y - 1];
                members[y - 1] = t;
            }
        uint32_t gid = new_group(g, IR_K_ROPE_KV, err);
        if (!gid) {
            s = RF_E_NOMEM;
            break;
        }
        members[0]->group = gid;
        for (int x = 1; x < n; x++)
            if (convex_with(&c, gid, members[x]))
                members[x]->group = gid;
    }
    ctx_free(&c);
    return s;
}

/* Are a and b the gate and up products of one expert GLU: matmul_ids of
 * the same input and ids, weights of one type and shape, both with a bias
 * or neither, each read by the GLU alone? */
static bool expert_pair(fuse_ctx *c, const ir_node *a, const ir_node *b)
{
    if (a->op != IR_OP_MATMUL_ID || b->op != IR_OP_MATMUL_ID || a == b || a->group || b->group)
        return false;
    const ir_type *wa = &a->in[1]->type, *wb = &b->in[1]->type;
    return a->in[0] == b->in[0] && a->in[2] == b->in[2] && a->n_in == b->n_in && wa->elem == wb->elem &&
           ir_type_same_dims(wa, wb) && c->uses.count[a->id] == 1 && c->uses.count[b->id] == 1;
}

rf_status ir_pass_fuse_moe(ir_graph *g, rf_error *err)
{
    fuse_ctx c;
    rf_status s = ctx_init(&c, g, err);
    if (s != RF_OK)
        return s;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        ir_node *e = g->nodes[i];
        if (e->group || !ir_glu_kind(e->op) || !expert_pair(&c, e->in[0], e->in[1]))
            continue;
        /* convex by construction: the products read the same input and
         * ids (and leaves), so nothing between them depends on the first,
         * and the GLU reads only them */
        uint32_t gid = new_group(g, IR_K_MATMUL_ID, err);
        if (!gid) {
            s = RF_E_NOMEM;
            break;
        }
        e->in[0]->group = e->in[1]->group = e->group = gid;
    }
    for (uint32_t i = 0; i < g->n_nodes && s == RF_OK; i++) {
        ir_node *m = g->nodes[i], *d = m->n_in ? m->in[0] : NULL;
        if (m->op != IR_OP_MOE_SUM || m->group || d->op != IR_OP_MATMUL_ID || d->group || c.uses.count[d->id] != 1)
            continue;
        /* convex: the sum reads the products and the routing weights,
         * which do not depend on them */
        uint32_t gid = new_group(g, IR_K_MATMUL_ID, err);
        if (!gid) {
            s = RF_E_NOMEM;
            break;
        }
        d->group = m->group = gid;
        ir_node *a = c.uses.count[m->id] == 1 ? c.uses.users[m->id][0] : NULL;
        /* the add of another value of the sum's shape (a residual, qwen2moe's shared expert) */
        ir_node *o = a && a->op == IR_OP_ADD ? a->in[a->in[0] == m] : NULL;
        if (o && o != m && !a->group && ir_type_same_dims(&o->type, &m->type) && o->type.elem == GGML_TYPE_F32 &&
            convex_with(&c, gid, a))
            a->group = gid;
    }
    ctx_free(&c);
    return s;
}

static ir_kernel kernel_for(ir_op op)
{
    switch (op) {
    case IR_OP_EMBED: return IR_K_EMBED;
    case IR_OP_RMS_NORM:
    case IR_OP_LAYER_NORM: return IR_K_NORM;
    case IR_OP_MATMUL: return IR_K_MATMUL;
    case IR_OP_ROPE:
    case IR_OP_KV_STORE: return IR_K_ROPE_KV;
    case IR_OP_ATTENTION: return IR_K_ATTENTION;
    case IR_OP_SOFTMAX:
    case IR_OP_TOPK:
    case IR_OP_GROUP_MASK:
    case IR_OP_MOE_WEIGHTS: return IR_K_ROUTE;
    case IR_OP_MATMUL_HEADS: return IR_K_MATMUL_HEADS;
    case IR_OP_MATMUL_ID: return IR_K_MATMUL_ID;
    case IR_OP_POOL: return IR_K_POOL;
    case IR_OP_ALL_REDUCE:
    case IR_OP_ALL_GATHER: return IR_K_COLLECTIVE;
    default: return IR_K_ELEMENTWISE;
    }
}

static int64_t spec_last(const ir_node *n) { return n->type.rank ? n->type.dim[n->type.rank - 1] : 1; }

/* Specialisation constants from the group's nodes (a readable summary the
 * kernels and `rocmforge ir` show; the nodes keep the exact values). */
static void fill_spec(ir_graph *g, ir_group *gr)
{
    memset(gr->spec, 0, sizeof gr->spec);
    int64_t *sp = gr->spec;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (n->group != gr->id)
            continue;
        switch (gr->kernel) {
        case IR_K_MATMUL:
            if (n->op == IR_OP_MATMUL) {
                if (!sp[0])
                    sp[2] = n->in[1]->type.elem;           /* wtype (of the first) */
                sp[0] += n->in[1]->type.dim[0];            /* n: total output columns */
                sp[1] = n->in[1]->type.dim[1];             /* k */
            } else if (n->op == IR_OP_RMS_NORM) {
                sp[3] = 1;
            } else if (n->op == IR_OP_ADD) {
                if (n->in[1]->op == IR_OP_WEIGHT)
                    sp[4]++;
                else
                    sp[6] = 1;
            } else if (n->op == IR_OP_SWIGLU || n->op == IR_OP_GEGLU) {
                sp[5] = n->op == IR_OP_SWIGLU ? 1 : 2;
            } else if (n->op == IR_OP_SOFTCAP) {
                sp[7] = 1;
            }
            break;
        case IR_K_ROPE_KV:
            if (n->op == IR_OP_ROPE) {
                sp[0] += n->type.dim[1];
                sp[1] = n->type.dim[2];
                sp[2] = n->ia[0];
                sp[3] = n->ia[1];
            } else {
                sp[4]++;
            }
            break;
        case IR_K_ATTENTION:
            sp[0] = n->in[0]->type.dim[1];
            sp[1] = n->in[1]->type.dim[1];
            sp[2] = n->in[0]->type.dim[2];
            sp[3] = n->ia[1];
            sp[4] = n->fa[1] > 0;
            break;
        case IR_K_EMBED:
            sp[0] = spec_last(n);
            sp[1] = n->in[0]->type.elem;
            break;
        case IR_K_ROUTE: /* the experts, and (top-k, weights) the chosen a token */
            sp[0] = spec_last(n->in[0]);
            if (n->op != IR_OP_SOFTMAX && n->op != IR_OP_GROUP_MASK)
                sp[1] = spec_last(n);
            break;
        case IR_K_POOL:
            sp[0] = spec_last(n);
            sp[1] = n->ia[0];
            break;
        case IR_K_MATMUL_HEADS:
            sp[0] = n->in[1]->type.dim[1];
            sp[1] = n->in[1]->type.dim[2];
            sp[2] = n->in[1]->type.elem;
            sp[3] = n->in[1]->type.dim[0];
            break;
        case IR_K_MATMUL_ID:
            if (n->op != IR_OP_MATMUL_ID) { /* the GLU of an expert pair; the sum of the down products */
                sp[5] = ir_glu_kind(n->op);
                sp[6] += n->op == IR_OP_MOE_SUM || n->op == IR_OP_ADD;
                break;
            }
            sp[0] = n->in[1]->type.dim[1];
            sp[1] = n->in[1]->type.dim[2];
            sp[2] = n->in[1]->type.elem;
            sp[3] = n->in[1]->type.dim[0];
            sp[4] = n->in[2]->type.dim[1];
            break;
        default:
            sp[0] = spec_last(n);
            break;
        }
    }
}

rf_status ir_pass_group(ir_graph *g, rf_error *err)
{
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (n->group || ir_is_leaf(n) || ir_is_alias(n))
            continue;
        if (!(n->group = new_group(g, kernel_for(n->op), err)))
            return RF_E_NOMEM;
    }
    for (uint32_t k = 0; k < g->n_groups; k++)
        fill_spec(g, &g->groups[k]);
    return RF_OK;
}
