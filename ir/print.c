/*
 * print.c: the IR's text form, written.
 *
 *   model llama {n_vocab=32000, n_embd=384, ...}
 *   %0 = tokens : i32[T]
 *   %2 = weight @token_embd.weight : q8_0[32000,384]
 *   %3 = embed %2, %0 : f32[T,384]
 *   group 1 norm {n=384} {
 *     %5 = rms_norm %3, %4 {eps=9.99999975e-06} : f32[T,384] @ws+0
 *   }
 *
 * One line a node: result, op, operands, the weight's GGUF name, every
 * attribute of the op (floats with 9 significant digits, which is exact for
 * f32), the type, and the workspace offset once memory is planned. Leaves
 * (tokens, positions, weights) belong to no group and print outside the
 * blocks; a group's other nodes are contiguous (the verifier checks it) and
 * print as a block. ir_parse() reads exactly this back.
 */
#include <inttypes.h>

#include "ir/ir.h"

static void print_dim(int64_t d, FILE *out)
{
    if (d == IR_DIM_T)
        fputs("T", out);
    else if (d == IR_DIM_P)
        fputs("P", out);
    else if (d == IR_DIM_PT)
        fputs("P+T", out);
    else if (d == IR_DIM_O)
        fputs("O", out);
    else
        fprintf(out, "%" PRId64, d);
}

void ir_print_type(const ir_type *t, FILE *out)
{
    const ggml_type_traits *tr = ggml_type_get(t->elem);
    fprintf(out, "%s[", tr ? tr->name : "?");
    for (uint8_t i = 0; i < t->rank; i++) {
        if (i)
            fputc(',', out);
        print_dim(t->dim[i], out);
    }
    fputc(']', out);
}

static void print_node(const ir_node *n, const char *indent, FILE *out)
{
    char name[64];
    fprintf(out, "%s%%%" PRIu32 " = %s", indent, n->id, ir_op_name(n->op));
    for (uint8_t i = 0; i < n->n_in; i++)
        fprintf(out, "%s%%%" PRIu32, i ? ", " : " ", n->in[i]->id);
    if (n->op == IR_OP_WEIGHT)
        fprintf(out, " @%s", n->name);
    const char *ia = ir_op_iattrs(n->op), *fa = ir_op_fattrs(n->op);
    int k = 0;
    for (int i = 0; ir_list_name(ia, i, name, sizeof name); i++, k++) {
        if (n->op == IR_OP_WEIGHT && !n->ia[i]) { /* a whole tensor: the common case, unmarked */
            k--;
            continue;
        }
        if (n->op == IR_OP_LAST_ROWS && n->ia[i] == IR_DIM_O)
            fprintf(out, "%s%s=O", k ? ", " : " {", name);
        else
            fprintf(out, "%s%s=%" PRId64, k ? ", " : " {", name, n->ia[i]);
    }
    for (int i = 0; ir_list_name(fa, i, name, sizeof name); i++, k++)
        fprintf(out, "%s%s=%.9g", k ? ", " : " {", name, (double)n->fa[i]);
    if (k)
        fputc('}', out);
    fputs(" : ", out);
    ir_print_type(&n->type, out);
    if (n->offset >= 0)
        fprintf(out, " @ws+%" PRId64, n->offset);
    fputc('\n', out);
}

static void print_group_head(const ir_group *gr, FILE *out)
{
    char name[64];
    const char *spec = ir_kernel_specs(gr->kernel);
    fprintf(out, "group %" PRIu32 " %s {", gr->id, ir_kernel_name(gr->kernel));
    for (int i = 0; ir_list_name(spec, i, name, sizeof name); i++)
        fprintf(out, "%s%s=%" PRId64, i ? ", " : "", name, gr->spec[i]);
    fputs("} {\n", out);
}

void ir_print(const ir_graph *g, FILE *out)
{
    const ir_model *m = &g->model;
    fprintf(out, "model %s {n_vocab=%" PRIu32 ", n_embd=%" PRIu32 ", n_layer=%" PRIu32 ", n_ctx=%" PRIu32
                 ", n_head=%" PRIu32 ", n_head_kv=%" PRIu32 ", head_dim=%" PRIu32 ", bos=%" PRIu32
                 ", eos=%" PRIu32 ", rope_n_ctx_orig=%" PRIu32 ", embedding=%" PRIu32 ", pooling=%" PRIu32,
            m->arch ? m->arch : "?", m->n_vocab, m->n_embd, m->n_layer, m->n_ctx, m->n_head, m->n_head_kv,
            m->head_dim, m->bos, m->eos, m->rope_n_ctx_orig, m->embedding, m->pooling);
    if (m->tp_world) /* a tensor-parallel rank's graph */
        fprintf(out, ", tp_rank=%" PRIu32 ", tp_world=%" PRIu32, m->tp_rank, m->tp_world);
    fputs("}\n", out);
    if (g->workspace_bytes && g->plan_out && g->plan_out < g->plan_tokens)
        fprintf(out, "workspace %" PRId64 " tokens %" PRId64 " out %" PRId64 "\n", g->workspace_bytes, g->plan_tokens,
                g->plan_out);
    else if (g->workspace_bytes)
        fprintf(out, "workspace %" PRId64 " tokens %" PRId64 "\n", g->workspace_bytes, g->plan_tokens);
    uint32_t open = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (ir_op_is_leaf(n->op)) { /* scheduled before the unit that reads them */
            if (open)
                fputs("}\n", out);
            open = 0;
            print_node(n, "", out);
            continue;
        }
        if (n->group != open) {
            if (open)
                fputs("}\n", out);
            open = n->group;
            if (open)
                print_group_head(&g->groups[open - 1], out);
        }
        print_node(n, open ? "  " : "", out);
    }
    if (open)
        fputs("}\n", out);
}
