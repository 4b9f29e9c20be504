/*
 * codegen.c: lowering the fused graph's groups to kernel source.
 *
 * Three templates cover every group the passes form (docs/ir.md):
 *
 *   matmul     a matmul group: optional RMS-norm prologue, one or more
 *              products of the same input (concatenated output columns, or
 *              a gate/up pair for SwiGLU/GeGLU), and the epilogue nodes
 *              (bias, residual, GLU, softcap, scale) evaluated per output
 *              value. Rendered twice: T = 1 for decode, a batched tile for
 *              prefill. Quantized weights read int8 rows that an actq
 *              launch makes, or in a decode step the producing kernel's
 *              quantize-out tail (the decode plan, qplan below).
 *   attention  an attention group; the decode variant splits the keys.
 *   rowwise    everything else (embed, norm, rope_kv, elementwise groups):
 *              one block per row, one phase per node; a decode step runs
 *              consecutive row-wise groups as one kernel.
 *
 * The file is over the ~800-line guide: the three generators share the
 * kernel under construction (kbuild), its parameter numbering and the
 * decode plan, which split across files would become an internal API of a
 * dozen functions for one caller. Splitting by template is the next step if
 * it grows further.
 *
 * A template's holes ({{NAME}}) receive constants and generated code. What
 * is generated never names a layer, a tensor or a node id: parameters and
 * temporaries are numbered within the kernel, so every layer with the same
 * shapes renders the same text and shares one compiled kernel. Floats are
 * written with nine significant digits, which round-trip an f32 exactly.
 *
 * The rendered translation unit is: the prelude (vendor, wavefront size),
 * the sections of templates/quant.hip (and quant_iq.hip) for the weight
 * types used, then the template. Nothing here needs a GPU or a compiler; cg_build_program
 * (cache.c) compiles what this produces.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "codegen/templates.h"
#include "ir/passes/passes.h"
#include "support/error.h"
#include "support/strbuf.h"

enum {
    WAVES_MATMUL = 4,  /* wavefronts per matmul block */
    MT_PREFILL = 8,    /* tokens per block of the batched matmul */
    ROWS_DECODE = 1,   /* output columns per wavefront of the decode matmul, at most */
    UNROLL_DECODE = 4, /* quad iterations of the decode matmul unrolled: loads in flight per lane */
    OCC_DECODE = 32,   /* decode matmul wavefronts a multiprocessor holds at once, at least (NVIDIA): registers <= 64 */
    THREADS_ROW = 256, /* threads of a rowwise block */
    SLICE_ACTQ = 2048, /* elements of a row an actq block converts */
    WAVES_ATTENTION = 8, /* wavefronts of an attention block */
    WAVES_ATTENTION_MMA = 4, /* wavefronts of a prefill attention block on the matrix units, 16 query rows each */
    BLOCKS_DECODE_ATTN = 1024, /* a decode step's attention blocks at a long context: heads x key ranges */
    SPLIT_MAX = 64,           /* key ranges of a decode step's attention row and head, at most */
    QTAIL_MAX_SEG = 1024,     /* 256-column segments a quantize-out tail converts, at most (K <= 262144) */
};

/* an f32 constant as C++ source that reads back to the same float */
static const char *flit(char buf[32], float v)
{
    if (isinf(v))
        snprintf(buf, 32, "%sRF_INF", v < 0 ? "-" : "");
    else
        snprintf(buf, 32, "%.9gf", (double)v);
    if (!strchr(buf, '.') && !strchr(buf, 'e') && !strchr(buf, 'I')) { /* "1f" is not a literal */
        size_t n = strlen(buf);
        memmove(buf + n - 1, ".0f", 4);
    }
    return buf;
}

/* ---- template rendering --------------------------------------------------- */

typedef struct hole {
    const char *name;
    const char *value;
} hole;

/* Copies tmpl to out with every {{NAME}} replaced; a hole without a value
 * is a bug in this file. */
static void render(strbuf *out, const char *tmpl, const hole *holes, size_t n_holes)
{
    const char *p = tmpl;
    for (const char *q; (q = strstr(p, "{{"));) {
        strbuf_put(out, p, (size_t)(q - p));
        const char *e = strstr(q, "}}");
        RF_ASSERT(e);
        size_t len = (size_t)(e - q - 2);
        const char *v = NULL;
        for (size_t i = 0; i < n_holes && !v; i++)
            if (strlen(holes[i].name) == len && !memcmp(holes[i].name, q + 2, len))
                v = holes[i].value;
        RF_ASSERT(v);
        strbuf_put(out, v, strlen(v));
        p = e + 2;
    }
    strbuf_put(out, p, strlen(p));
}

/* The part of the weight-format template lib (templates/quant.hip, or
 * quant_iq.hip: the lattice, ternary and NVFP4 types) from the line
 * "// @<tag>" to the next "// @" line; NULL when lib has no such line. */
static const char *quant_find(const char *lib, const char *tag)
{
    const char *text = cg_template_text(lib);
    RF_ASSERT(text);
    char marker[48];
    snprintf(marker, sizeof marker, "// @%s\n", tag);
    return strstr(text, marker);
}

static void quant_section(strbuf *out, const char *lib, const char *tag)
{
    const char *s = quant_find(lib, tag);
    RF_ASSERT(s);
    char marker[48];
    snprintf(marker, sizeof marker, "// @%s\n", tag);
    const char *e = strstr(s + strlen(marker), "\n// @");
    strbuf_put(out, s, e ? (size_t)(e - s) + 1 : strlen(s));
}

/* ---- weight types ---------------------------------------------------------------- */

static const ggml_type gpu_types[] = {
    GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0,   GGML_TYPE_Q4_1,   GGML_TYPE_Q5_0,
    GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,   GGML_TYPE_Q4_K,   GGML_TYPE_Q5_K,
    GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS, GGML_TYPE_MXFP4,
    /* from here on templates/quant_iq.hip's: checked bit for bit on the
     * host, not yet run on a GPU, so behind ROCMFORGE_UNVERIFIED */
    GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS, GGML_TYPE_IQ2_S, GGML_TYPE_IQ3_XXS, GGML_TYPE_IQ3_S,
    GGML_TYPE_IQ1_S, GGML_TYPE_IQ1_M, GGML_TYPE_TQ1_0, GGML_TYPE_TQ2_0, GGML_TYPE_NVFP4,
};
#define GPU_TYPES_RUN 16 /* the first 16 have run on a GPU */
_Static_assert(sizeof gpu_types / sizeof gpu_types[0] <= 32, "kbuild.types is a 32-bit mask");

static bool unverified(void);

/* NULL when the GPU kernels read weights of type t, else why not (after
 * "weight 'W' has type T, ") */
static const char *gpu_type_refusal(ggml_type t)
{
    for (size_t i = 0; i < sizeof gpu_types / sizeof gpu_types[0]; i++)
        if (gpu_types[i] == t)
            return i < GPU_TYPES_RUN || unverified()
                       ? NULL
                       : "whose GPU kernels have not run on a GPU yet (ROCMFORGE_UNVERIFIED=1 renders them)";
    return "which the GPU kernels do not support";
}

/* quant.hip's name of a type: ggml's, lower case ("q4_k") */
static const char *qname(ggml_type t, char buf[16])
{
    const char *s = ggml_type_get((uint32_t)t)->name;
    size_t i = 0;
    for (; s[i] && i < 15; i++)
        buf[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    buf[i] = 0;
    return buf;
}

/* ---- one kernel under construction --------------------------------------------- */

typedef struct kbuild {
    const ir_graph *g;
    const ir_uses *uses;
    const cg_arch *arch;
    uint32_t n_args;
    uint32_t arg[CG_MAX_ARGS];   /* node ids */
    strbuf params;                 /* the parameter list, each followed by ", " */
    strbuf setup;                  /* matmul: naming the input and norm weight */
    strbuf body;
    strbuf tail;                   /* after the body: a decode kernel's quantize-out tail */
    bool kvh;                    /* the KV cache holds f16 */
    const cg_paging *pg;         /* the cache in blocks (several sequences), or NULL */
    uint32_t types;              /* bit i: gpu_types[i] is used */
    uint32_t group;
    rf_error *err;
    rf_status st;
} kbuild;

static void use_type(kbuild *k, ggml_type t)
{
    for (size_t i = 0; i < sizeof gpu_types / sizeof gpu_types[0]; i++)
        if (gpu_types[i] == t)
            k->types |= 1u << i;
}

/* The parameter number of node n, adding it (with C++ type ctype) on first
 * use. Views (reshape, output) pass their operand's address. */
static int param_id(kbuild *k, uint32_t id, const char *ctype, const char *role)
{
    for (uint32_t i = 0; i < k->n_args; i++)
        if (k->arg[i] == id)
            return (int)i;
    if (k->n_args == CG_MAX_ARGS) {
        if (k->st == RF_OK)
            k->st = rf_fail(k->err, RF_E_UNSUPPORTED, "group %u: more than %d buffers in one kernel", k->group,
                            CG_MAX_ARGS);
        return 0;
    }
    k->arg[k->n_args] = id;
    strbuf_printf(&k->params, "%sp%u /* %s */, ", ctype, k->n_args, role);
    return (int)k->n_args++;
}

static int param(kbuild *k, const ir_node *n, const char *ctype, const char *role)
{
    return param_id(k, n->id, ctype, role);
}

/* ---- how a weight type sees its activations (templates/actq.hip) ---------- */

enum { AQ_F32, AQ_F16, AQ_BF16, AQ_Q8, AQ_Q8K, AQ_COUNT };
static const char *const aq_names[] = {"f32", "f16", "bf16", "q8 blocks of 32", "q8_K blocks of 256"};

/* the integer kinds: int8 rows with scales (templates/actq.hip, XROW) */
static bool aq_int8(int kind) { return kind == AQ_Q8 || kind == AQ_Q8K; }

static int aq_kind(ggml_type t)
{
    switch (t) {
    case GGML_TYPE_F32: return AQ_F32;
    case GGML_TYPE_F16: return AQ_F16;
    case GGML_TYPE_BF16: return AQ_BF16;
    case GGML_TYPE_Q2_K:
    case GGML_TYPE_Q3_K:
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K:
    case GGML_TYPE_Q6_K:
    case GGML_TYPE_IQ4_XS:
    case GGML_TYPE_IQ2_XXS:
    case GGML_TYPE_IQ2_XS:
    case GGML_TYPE_IQ2_S:
    case GGML_TYPE_IQ3_XXS:
    case GGML_TYPE_IQ3_S:
    case GGML_TYPE_IQ1_S:
    case GGML_TYPE_IQ1_M:
    case GGML_TYPE_TQ1_0:
    case GGML_TYPE_TQ2_0: return AQ_Q8K;
    default: return AQ_Q8; /* q4_0 q4_1 q5_0 q5_1 q8_0 iq4_nl mxfp4 nvfp4: Q8_0 or Q8_1, the same values */
    }
}

static int64_t numel_row(const ir_type *t)
{
    int64_t n = 1;
    for (uint8_t i = 1; i < t->rank; i++)
        n *= t->dim[i];
    return n;
}

/* Is n used by a node outside its group (or is it the graph's result)? */
static bool live_out(const kbuild *k, const ir_node *n)
{
    for (uint32_t u = 0; u < k->uses->count[n->id]; u++) {
        const ir_node *user = k->uses->users[n->id][u];
        if (user->group != n->group)
            return true;
    }
    return false;
}

static bool unsupported(kbuild *k, const char *fmt, ...) RF_PRINTF(2, 3);
static bool unsupported(kbuild *k, const char *fmt, ...)
{
    if (k->st != RF_OK)
        return false;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    k->st = rf_fail(k->err, RF_E_UNSUPPORTED, "group %u (%s): %s", k->group,
                    ir_kernel_name(k->g->groups[k->group - 1].kernel), msg);
    return false;
}

/* ---- matmul groups ------------------------------------------------------------------ */

typedef struct mm_group {
    const ir_node *norm;
    const ir_node *mm[IR_MAX_SPEC];
    int n_mm;
    const ir_node *epi[32];
    int n_epi;
    const ir_node *glu;     /* a SwiGLU/GeGLU of the two products, or NULL */
    const ir_node *x;       /* the products' input (the norm's when normed) */
    int64_t K, ncols;
    unsigned kinds;         /* bit AQ_*: the activation kinds the weights need */
    int slot[AQ_COUNT];     /* scratch slot of each kind, when converted (-1: none); the decode plan sets them */
    int n_slots;            /* 0: the products read x itself (all f32 weights) */
} mm_group;

static bool mm_collect(kbuild *k, const ir_node *const *nodes, uint32_t n, mm_group *m)
{
    memset(m, 0, sizeof *m);
    for (uint32_t i = 0; i < n; i++) {
        const ir_node *nd = nodes[i];
        if (nd->op == IR_OP_RMS_NORM && !m->norm && !m->n_mm)
            m->norm = nd;
        else if (nd->op == IR_OP_MATMUL && m->n_mm < IR_MAX_SPEC && !m->n_epi)
            m->mm[m->n_mm++] = nd;
        else if ((nd->op == IR_OP_ADD || nd->op == IR_OP_MUL || nd->op == IR_OP_SCALE || nd->op == IR_OP_SOFTCAP ||
                  nd->op == IR_OP_SWIGLU || nd->op == IR_OP_GEGLU || nd->op == IR_OP_SILU || nd->op == IR_OP_GELU) &&
                 m->n_epi < 32 && m->n_mm)
            m->epi[m->n_epi++] = nd;
        else
            return unsupported(k, "node %%%u (%s) has no place in a matmul kernel", nd->id, ir_op_name(nd->op));
    }
    if (!m->n_mm)
        return unsupported(k, "no matmul");
    m->x = m->norm ? m->norm->in[0] : m->mm[0]->in[0];
    m->K = m->mm[0]->in[1]->type.dim[1];
    if (m->norm && live_out(k, m->norm))
        return unsupported(k, "the norm %%%u is used outside the group", m->norm->id);
    for (int i = 0; i < m->n_mm; i++) {
        const ir_node *w = m->mm[i]->in[1];
        const ggml_type_traits *tt = ggml_type_get(w->type.elem);
        if (m->mm[i]->in[0] != m->mm[0]->in[0] || w->type.dim[1] != m->K)
            return unsupported(k, "the products do not share one input");
        if (gpu_type_refusal(w->type.elem))
            return unsupported(k, "weight '%s' has type %s, %s", w->name, tt->name, gpu_type_refusal(w->type.elem));
        if (m->K % 8 || m->K % tt->block_size)
            return unsupported(k, "weight '%s': row length %lld is not a multiple of 8 and of its block", w->name,
                               (long long)m->K);
        m->ncols += w->type.dim[0];
        m->kinds |= 1u << aq_kind(w->type.elem);
    }
    for (int q = 0; q < AQ_COUNT; q++) {
        m->slot[q] = -1;
        m->n_slots += m->kinds != 1u << AQ_F32 && (m->kinds & (1u << q));
    }
    if (m->x->type.elem != GGML_TYPE_F32 || numel_row(&m->x->type) != m->K)
        return unsupported(k, "the input is not f32 rows of %lld", (long long)m->K);
    for (int i = 0; i < m->n_epi; i++)
        if ((m->epi[i]->op == IR_OP_SWIGLU || m->epi[i]->op == IR_OP_GEGLU) && m->epi[i]->in[0]->op == IR_OP_MATMUL &&
            m->epi[i]->in[1]->op == IR_OP_MATMUL) {
            if (m->glu || m->n_mm != 2 || m->mm[0]->type.dim[1] != m->mm[1]->type.dim[1])
                return unsupported(k, "a GLU needs exactly two products of one width");
            m->glu = m->epi[i];
            m->ncols = m->mm[0]->in[1]->type.dim[0];
        }
    return true;
}

/* Does node e (an epilogue node) depend on product mm within the group? */
static bool depends_on(const ir_node *e, const ir_node *mm)
{
    if (e == mm)
        return true;
    if (e->group != mm->group)
        return false;
    for (uint8_t i = 0; i < e->n_in; i++)
        if (depends_on(e->in[i], mm))
            return true;
    return false;
}

/* The C++ expression of operand o of an epilogue node for token t, column jj. */
static void epi_operand(kbuild *k, strbuf *b, const mm_group *m, const ir_node *o, int64_t N)
{
    if (o->op == IR_OP_MATMUL && o->group == m->mm[0]->group) {
        if (m->glu)
            strbuf_printf(b, "%s", o == m->glu->in[0] ? "vg" : "vu");
        else
            strbuf_printf(b, "v");
        return;
    }
    if (o->group == m->mm[0]->group) {
        for (int i = 0; i < m->n_epi; i++)
            if (m->epi[i] == o)
                strbuf_printf(b, "e%d", i);
        return;
    }
    /* from outside: a bias / factor vector [N], or an activation [rows, N] */
    int p = param(k, o, "const float *__restrict__ ", o->op == IR_OP_WEIGHT ? "bias" : "residual");
    int64_t n = 1;
    for (uint8_t d = 0; d < o->type.rank; d++)
        n = o->type.dim[d] < 0 ? -1 : n * o->type.dim[d];
    if (o->type.elem != GGML_TYPE_F32)
        unsupported(k, "operand %%%u is %s, not f32", o->id, ggml_type_get(o->type.elem)->name);
    if (n == N)
        strbuf_printf(b, "p%d[jj]", p);
    else if (numel_row(&o->type) == N)
        strbuf_printf(b, "p%d[(size_t)t * %lld + jj]", p, (long long)N);
    else
        unsupported(k, "operand %%%u does not broadcast over %lld columns", o->id, (long long)N);
}

/* Epilogue code of the nodes that depend on mm (all of them with a GLU),
 * with the stores of every live-out value. */
static void epilogue(kbuild *k, strbuf *b, const mm_group *m, const ir_node *mm, int64_t N)
{
    char f[32];
    if (live_out(k, mm) && !m->glu) {
        int p = param(k, mm, "float *__restrict__ ", "product");
        strbuf_printf(b, "            p%d[(size_t)t * %lld + jj] = v;\n", p, (long long)N);
    }
    for (int i = 0; i < m->n_epi; i++) {
        const ir_node *e = m->epi[i];
        if (!m->glu && !depends_on(e, mm))
            continue;
        if (numel_row(&e->type) != N)
            unsupported(k, "epilogue %%%u is not %lld wide", e->id, (long long)N);
        strbuf_printf(b, "            const float e%d = ", i);
        switch (e->op) {
        case IR_OP_ADD:
        case IR_OP_MUL:
            epi_operand(k, b, m, e->in[0], N);
            strbuf_printf(b, e->op == IR_OP_ADD ? " + " : " * ");
            epi_operand(k, b, m, e->in[1], N);
            break;
        case IR_OP_SCALE:
            epi_operand(k, b, m, e->in[0], N);
            strbuf_printf(b, " * %s", flit(f, e->fa[0]));
            break;
        case IR_OP_SOFTCAP:
            strbuf_printf(b, "rf_softcap(");
            epi_operand(k, b, m, e->in[0], N);
            strbuf_printf(b, ", %s)", flit(f, e->fa[0]));
            break;
        case IR_OP_SILU:
        case IR_OP_GELU:
            strbuf_printf(b, e->op == IR_OP_SILU ? "rf_silu(" : "rf_gelu(");
            epi_operand(k, b, m, e->in[0], N);
            strbuf_printf(b, ")");
            break;
        case IR_OP_SWIGLU:
        case IR_OP_GEGLU:
            strbuf_printf(b, e->op == IR_OP_SWIGLU ? "rf_silu(" : "rf_gelu(");
            epi_operand(k, b, m, e->in[0], N);
            strbuf_printf(b, ") * ");
            epi_operand(k, b, m, e->in[1], N);
            break;
        default:
            RF_ASSERT(0);
        }
        strbuf_printf(b, "; // %s\n", ir_op_name(e->op));
        if (live_out(k, e)) {
            int p = param(k, e, "float *__restrict__ ", ir_op_name(e->op));
            strbuf_printf(b, "            p%d[(size_t)t * %lld + jj] = e%d;\n", p, (long long)N, i);
        }
    }
}

/* bytes of a row of weight w in its GGUF blocks: its last dimension (K of
 * a matrix [N, K] and of an expert stack [n_expert, N, K]) */
static int64_t row_bytes_of(const ir_node *w)
{
    const ggml_type_traits *tt = ggml_type_get(w->type.elem);
    return w->type.dim[w->type.rank - 1] / tt->block_size * (int64_t)tt->type_size;
}

/* the parameter of m's converted input rows of activation kind `kind` */
static int aq_rows_param(kbuild *k, const mm_group *m, int kind)
{
    return param_id(k, CG_ARG_SCRATCH + (uint32_t)m->slot[kind],
                    aq_int8(kind) ? "const unsigned char *__restrict__ " : "const float *__restrict__ ", aq_names[kind]);
}

/* xq0, the first int8 rows of m (which end with the products' 1/rms), in
 * the kernel's setup; returns their kind, -1 when m converts none */
static int setup_xq0(kbuild *k, const mm_group *m)
{
    int qinv = m->slot[AQ_Q8] >= 0 ? AQ_Q8 : m->slot[AQ_Q8K] >= 0 ? AQ_Q8K : -1;
    if (qinv >= 0)
        strbuf_printf(&k->setup, "    const unsigned char *xq0 = p%d; // its rows end with the products' 1/rms\n",
                      aq_rows_param(k, m, qinv));
    return qinv;
}

static void mm_dot(kbuild *k, strbuf *b, const mm_group *m, const ir_node *mm, const char *acc, const char *col)
{
    char tn[16];
    const ir_node *w = mm->in[1];
    int64_t row_bytes = row_bytes_of(w);
    int p = param(k, w, "const unsigned char *__restrict__ ", "weight");
    use_type(k, w->type.elem);
    char xs[16] = "x";
    int kind = aq_kind(w->type.elem);
    if (m->n_slots)
        snprintf(xs, sizeof xs, "p%d", aq_rows_param(k, m, kind));
    strbuf_printf(b, "        float %s[ROWS][MT] = {};\n", acc);
    strbuf_printf(b, "        %s(%s, p%d + (size_t)%s * %lld, %lld, %s, %s);\n", aq_int8(kind) ? "RF_QDOT" : "RF_DOT",
              qname(w->type.elem, tn), p, col, (long long)row_bytes, (long long)row_bytes, acc, xs);
}

/* Decode products' shape knobs until `rocmforge tune` chooses them per
 * kernel: ROCMFORGE_TUNE_ROWS (output columns a wavefront, 1, 2 or 4;
 * default ROWS_DECODE), ROCMFORGE_TUNE_WAVES (wavefronts a block, 2, 4
 * or 8; default WAVES_MATMUL), ROCMFORGE_TUNE_UNROLL (quad iterations
 * unrolled, 1 to 16; default UNROLL_DECODE) and ROCMFORGE_TUNE_OCC
 * (wavefronts a multiprocessor must hold at once, which caps registers:
 * NVIDIA's __launch_bounds__ blocks argument is OCC / WAVES; 0 leaves it to
 * the compiler; default OCC_DECODE). A value out of range, or not a power
 * of two, is the default. */
static int tune_knob(const char *name, int def, int min, int max)
{
    const char *v = getenv(name);
    int n = v ? atoi(v) : def;
    return n >= min && n <= max && !(n & (n - 1)) ? n : def;
}

static int decode_waves(void) { return tune_knob("ROCMFORGE_TUNE_WAVES", WAVES_MATMUL, 1, 8); }
static int decode_unroll(void) { return tune_knob("ROCMFORGE_TUNE_UNROLL", UNROLL_DECODE, 1, 16); }
static int decode_occ(void) { return tune_knob("ROCMFORGE_TUNE_OCC", OCC_DECODE, 0, 64); }

/* the decode columns a wavefront: as many as every product's width allows
 * (a wavefront's columns stay in one product) */
static int decode_cols(const mm_group *m)
{
    for (int r = tune_knob("ROCMFORGE_TUNE_ROWS", ROWS_DECODE, 1, 4); r > 1; r /= 2) {
        bool fits = true;
        for (int i = 0; i < m->n_mm; i++)
            fits = fits && m->mm[i]->in[1]->type.dim[0] % r == 0;
        if (fits)
            return r;
    }
    return 1;
}

static void gen_matmul(kbuild *k, const mm_group *m, int mt, int rows, int waves, hole *holes, size_t *n_holes,
                       char vals[][32])
{
    strbuf *b = &k->body;
    char f[32];
    bool norm = m->norm && !m->n_slots; /* else the actq kernel normalised */
    int px = m->n_slots ? -1 : param(k, m->x, "const float *__restrict__ ", "x");
    int pn = norm && m->norm->n_in > 1 ? param(k, m->norm->in[1], "const float *__restrict__ ", "norm weight") : -1;
    if (m->norm && m->norm->in[1] && m->norm->in[1]->type.elem != GGML_TYPE_F32)
        unsupported(k, "norm weight '%s' is not f32", m->norm->in[1]->name);
    strbuf *setup = &k->setup;
    if (px >= 0)
        strbuf_printf(setup, "    const float *x = p%d;\n", px);
    else
        strbuf_printf(setup, "    const float *x = 0; // the products read the actq kernel's rows\n");
    if (pn >= 0)
        strbuf_printf(setup, "    const float *nw = p%d;\n", pn);
    else
        strbuf_printf(setup, "    const float *nw = 0; // no norm weight\n");
    int qinv = setup_xq0(k, m);
    if (m->glu) {
        strbuf_printf(b, "    {\n        const int j0 = j; // %s of two products\n", ir_op_name(m->glu->op));
        mm_dot(k, b, m, m->mm[0], "accg", "j0");
        mm_dot(k, b, m, m->mm[1], "accu", "j0");
        strbuf_printf(b, "        RF_REDUCE(accg, vg);\n        RF_REDUCE(accu, vu);\n"
                     "        const int jj = j0 + lane / MT;\n        if (store) {\n");
        epilogue(k, b, m, m->mm[0], m->ncols);
        strbuf_printf(b, "        }\n    }\n");
    } else {
        int64_t base = 0;
        for (int i = 0; i < m->n_mm; i++) {
            int64_t N = m->mm[i]->in[1]->type.dim[0];
            if (m->n_mm == 1)
                strbuf_printf(b, "    {\n");
            else
                strbuf_printf(b, "    %sif (j < %lld) {\n", i ? "else " : "", (long long)(base + N));
            strbuf_printf(b, "        const int j0 = j - %lld; // product %d: %lld columns\n", (long long)base, i,
                      (long long)N);
            mm_dot(k, b, m, m->mm[i], "acc", "j0");
            strbuf_printf(b, "        RF_REDUCE(acc, v);\n        const int jj = j0 + lane / MT;\n        if (store) {\n");
            epilogue(k, b, m, m->mm[i], N);
            strbuf_printf(b, "        }\n    }\n");
            base += N;
        }
    }
    size_t h = 0;
    snprintf(vals[0], 32, "%lld", (long long)m->K);
    snprintf(vals[1], 32, "%lld", (long long)m->ncols);
    snprintf(vals[2], 32, "%d", mt);
    snprintf(vals[3], 32, "%d", waves);
    snprintf(vals[4], 32, "%d", norm ? 1 : 0);
    snprintf(vals[5], 32, "%s", flit(f, norm ? m->norm->fa[0] : 0.0f));
    snprintf(vals[6], 32, "%d", pn >= 0);
    snprintf(vals[7], 32, "%d", rows);
    snprintf(vals[8], 32, "%d", mt == 1 ? decode_unroll() : 1);
    snprintf(vals[9], 32, "%d", qinv >= 0);
    snprintf(vals[10], 32, "%d", mt == 1 ? decode_occ() : 0);
    const char *names[] = {"K", "NCOLS", "MT", "WAVES", "NORM", "EPS", "NORM_W", "ROWS", "UNROLL", "QINV", "OCC"};
    for (; h < 11; h++)
        holes[h] = (hole){names[h], vals[h]};
    *n_holes = h;
}

/* ---- matmul groups on the matrix units (templates/mmq.hip) ------------------------ */

/* The prefill products' tiles: BM tokens by BN columns a block (of each
 * product of a GLU pair), WM by WN a wavefront. ROCMFORGE_TUNE_MMQ_BM (32,
 * 64 or 128 tokens a block, each wavefront taking half),
 * ROCMFORGE_TUNE_MMQ_BN (64 or 128 columns a block, a GLU pair's half
 * that: more blocks for few rows), ROCMFORGE_TUNE_MMQ_QUADS (1 or 2: the
 * int8 tiles' quads a K step) and ROCMFORGE_TUNE_MMQ_MIN_T (8 to 128: the
 * fewest rows the tiles take, mmq_min_t) until `rocmforge tune` chooses
 * them. */
enum { MMQ_BK = 32, MMQ_BN = 128, MMQ_WN = 64, MMQ_BN_GLU = 64, MMQ_WN_GLU = 32, MMQ_BM = 64, MMQ_QUADS = 2 };

/* the fewest rows a step's products run on the tiles (CG_MMQ_MIN_T unless
 * ROCMFORGE_TUNE_MMQ_MIN_T says otherwise); fewer run the eight-row kernel */
static uint32_t mmq_min_t(void) { return (uint32_t)tune_knob("ROCMFORGE_TUNE_MMQ_MIN_T", CG_MMQ_MIN_T, 8, 128); }

static bool env_on(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0");
}

static bool env_off(const char *name)
{
    const char *v = getenv(name);
    return v && !strcmp(v, "0");
}

/* ROCMFORGE_UNVERIFIED=1: the kernels written in sessions that had no GPU
 * and have not run on one yet (docs/gpu.md lists them; quant_iq.hip's
 * weight types among them: gpu_type_refusal). They build for
 * sm_90, gfx90a and gfx1030 (test_kernels renders them); the first GPU
 * session checks their conformance and speed, and makes them the default
 * or fixes them. */
static bool unverified(void) { return env_on("ROCMFORGE_UNVERIFIED"); }

/* ROCMFORGE_MOE_TAIL=1: the expert sums' decode kernel converts the next
 * group's input in its tail (rf_qtail), so no actq launch starts the next
 * layer; within conformance bounds on an H100 (2026-12-06) but no faster
 * (Qwen3-30B-A3B's shape 269 against 272 tok/s), so off. A prefill step's
 * expert products are grouped by expert (moe_sort.hip) unless
 * ROCMFORGE_MOE_GROUPED=0: within bounds there, prefill 5% (Qwen3-30B-A3B)
 * and 20% (gpt-oss-20b) faster. */
static bool moe_tail(void) { return env_on("ROCMFORGE_MOE_TAIL"); }
static bool moe_grouped(void) { return !env_off("ROCMFORGE_MOE_GROUPED"); }

/* Does the decode attention convert the O product's input in its tail
 * (rf_qtail), or an actq launch after it? The tail runs in the block that
 * merges a kv head's ranges, after its merge, a 256-column segment after
 * another, each behind a fence and a ticket: on an H100 (ncu, 2026-12-06)
 * it made the Qwen3-30B-A3B shape's attention 36 us against 25 without it,
 * and the step with the extra actq launch decoded 302 tok/s against 267
 * (Llama-3.2-1B's shape 1065 against 1037). ROCMFORGE_TUNE_ATTN_QTAIL=1
 * renders the tail. */
static bool attn_qtail(void) { return tune_knob("ROCMFORGE_TUNE_ATTN_QTAIL", 0, 0, 1) == 1; }

/* Does the prefill of m run on the matrix units: the arch has them and its
 * products are all f16 (f16 tiles) or all quantized (int8 tiles, the CPU's
 * integer products; on an H100 every weight type and arch within the
 * conformance bounds, bench/results-gpu.md)? f32 and bf16 keep the
 * integer-dot kernel's exact f32 products; ROCMFORGE_NO_MMQ=1 turns the
 * matrix units off. */
static bool mmq_fits(const kbuild *k, const mm_group *m)
{
    if (!k->arch->mma || env_on("ROCMFORGE_NO_MMQ") || !m->n_slots || m->K % MMQ_BK)
        return false;
    unsigned int8 = (1u << AQ_Q8) | (1u << AQ_Q8K);
    return m->kinds == 1u << AQ_F16 || !(m->kinds & ~int8);
}

/* int8 tiles for quantized weights (the CPU's integer products), unless
 * ROCMFORGE_MMQ_F16=1 stages them as f16 (to compare) */
static bool mmq_int8(const mm_group *m)
{
    return m->kinds != 1u << AQ_F16 && !env_on("ROCMFORGE_MMQ_F16");
}

/* The staging of product mm's tiles at k position kp into buffer buf:
 * activation tile ai (unless with_a is false: it shares another product's),
 * weight tile bi */
static void mmq_stage(kbuild *k, strbuf *b, const mm_group *m, const ir_node *mm, int ai, int bi, bool with_a)
{
    char tn[16];
    const ir_node *w = mm->in[1];
    int64_t row_bytes = row_bytes_of(w);
    int kind = aq_kind(w->type.elem);
    int pw = param(k, w, "const unsigned char *__restrict__ ", "weight");
    int px = aq_rows_param(k, m, kind);
    use_type(k, w->type.elem);
    qname(w->type.elem, tn);
    if (mmq_int8(m)) {
        if (with_a)
            strbuf_printf(b, "RF_STAGE_AI(%s, p%d, kp, %d); ", tn, px, ai);
        strbuf_printf(b, "RF_STAGE_BI(%s, p%d, %lld, %lld, kp, %d); ", tn, pw, (long long)row_bytes,
                      (long long)w->type.dim[0], bi);
        return;
    }
    if (with_a)
        strbuf_printf(b, "RF_STAGE_A%s(%s, p%d, kp, s_a[buf][%d]); ", aq_int8(kind) ? "Q" : "F", tn, px, ai);
    strbuf_printf(b, "RF_STAGE_B(%s, p%d, %lld, %lld, kp, s_b[buf][%d]); ", tn, pw, (long long)row_bytes,
                  (long long)w->type.dim[0], bi);
}

/* the loops over a wavefront's sums, t and jj naming each one's token and column */
static void mmq_each(strbuf *b, int64_t N)
{
    strbuf_printf(b, "        _Pragma(\"unroll\") for (int mi = 0; mi < MI; mi++)\n"
                     "        _Pragma(\"unroll\") for (int ni = 0; ni < NI; ni++)\n"
                     "        _Pragma(\"unroll\") for (int q = 0; q < RF_MMA_NC; q++) {\n"
                     "            const int t = m0 + wm * WM + mi * 16 + rf_mma_row(q);\n"
                     "            const int jj = j0 + wn * WN + ni * 16 + rf_mma_col(q);\n"
                     "            if (t >= T || jj >= %lld)\n                continue;\n",
                  (long long)N);
}

/* RF_MMA8_STEP's QMIN and SAME for product mm's weight type: whether it
 * has mins, and whether a quad's two halves share their scales (summed as
 * int32 before scaling: ROCMFORGE_UNVERIFIED, not yet run on a GPU) */
static const char *mma8_kind(const ir_node *mm, char buf[64])
{
    char tn[16];
    qname(mm->in[1]->type.elem, tn);
    if (unverified())
        snprintf(buf, 64, "RF_QMIN_%s, RF_QSAME_%s", tn, tn);
    else
        snprintf(buf, 64, "RF_QMIN_%s, 0", tn);
    return buf;
}

/* Steps of few rows, from ROCMFORGE_TUNE_FEW_T (16) up to the full tiles'
 * mmq_min_t, run tiles of their own: 32 tokens a block, or 64 from
 * ROCMFORGE_TUNE_FEW_T64 rows (64), by ROCMFORGE_TUNE_FEW_BN columns (128,
 * a GLU pair's half that), each column tile's K loop cut into up to
 * ROCMFORGE_TUNE_FEW_SPLIT ranges (8) so that a product has about
 * KSPLIT_BLOCKS blocks of a token tile, a range at least KSPLIT_MIN_STEPS
 * K steps. On an H100 (bench/results-batch-gpu.md) an 8B Q4_K_M's batched
 * decode of 16 / 32 / 64 sequences went from 1121 / 1189 / 1223 tok/s on
 * the eight-row products to 1328 / 2403 / 3266 (the last with 64 tokens a
 * block: 2909 with 32; 32 at 32 rows ran 2403 against 1829 with 64); the
 * same tiles without split-K ran 602 / 1148 / 1957. FEW_T 128 turns them
 * off. */
enum { KSPLIT_BLOCKS = 256, KSPLIT_MIN_STEPS = 4, FEW_BM = 32, FEW_BM64 = 64 };

static uint32_t few_min_t(void)
{
    uint32_t t = (uint32_t)tune_knob("ROCMFORGE_TUNE_FEW_T", 16, 8, 128);
    return t < mmq_min_t() ? t : 0;
}

/* the first rows of the few-row tiles of 64 tokens a block (0: none) */
static uint32_t few64_min_t(void)
{
    uint32_t t = (uint32_t)tune_knob("ROCMFORGE_TUNE_FEW_T64", 64, 16, 128);
    return few_min_t() && t > few_min_t() && t < mmq_min_t() ? t : 0;
}

/* The prefill kernel of matmul group m on the matrix units: the full
 * tiles (few 0) or the few-row tiles of up to max_T rows, few tokens a
 * block; *tiles: its blocks a token tile (column tiles times K ranges: the
 * launch's grid_x), *bm: the tokens of a token tile. */
static void gen_mmq(cg_program *prog, kbuild *k, const mm_group *m, int few, uint32_t max_T, hole *holes,
                    size_t *n_holes, char vals[][32], int64_t *tiles, int *bm)
{
    strbuf *b = &k->body;
    int qinv = setup_xq0(k, m);
    int tm = few ? few : tune_knob("ROCMFORGE_TUNE_MMQ_BM", MMQ_BM, 32, 128);
    int bn = few ? tune_knob("ROCMFORGE_TUNE_FEW_BN", 128, 64, 128) : tune_knob("ROCMFORGE_TUNE_MMQ_BN", MMQ_BN, 64, 128);
    int na = 1, np = 1, BN = bn, WN = MMQ_WN * bn / MMQ_BN;
    bool i8 = mmq_int8(m);
    int qs = tune_knob("ROCMFORGE_TUNE_MMQ_QUADS", MMQ_QUADS, 1, 2);
    while (m->K % (32 * qs))
        qs /= 2;
    if (m->glu) {
        np = 2;
        BN = MMQ_BN_GLU * bn / MMQ_BN;
        WN = MMQ_WN_GLU * bn / MMQ_BN;
    }
    int64_t ntiles = 0; /* column tiles */
    if (m->glu)
        ntiles = (m->ncols + BN - 1) / BN;
    else
        for (int i = 0; i < m->n_mm; i++)
            ntiles += (m->mm[i]->in[1]->type.dim[0] + BN - 1) / BN;
    /* split-K: ranges enough for KSPLIT_BLOCKS blocks of one token tile,
     * if the counters of the most token tiles such a step has fit */
    int64_t split = 1, steps = m->K / (i8 ? 32 * qs : MMQ_BK);
    int64_t ty = ((int64_t)max_T + tm - 1) / tm;
    if (few) {
        split = (KSPLIT_BLOCKS + ntiles - 1) / ntiles;
        int64_t most = tune_knob("ROCMFORGE_TUNE_FEW_SPLIT", 8, 1, 64);
        split = split > most ? most : split;
        split = split > steps / KSPLIT_MIN_STEPS ? steps / KSPLIT_MIN_STEPS : split;
        if (split < 1 || ntiles * ty > CG_KSPLIT_TILES)
            split = 1;
    }
    int pk = split > 1 ? param_id(k, CG_ARG_KSPLIT, "float *__restrict__ ", "split-K partials") : -1;
    if (split > 1) {
        uint64_t bytes = (uint64_t)CG_KSPLIT_TILES * 4 + (uint64_t)(ntiles * ty * split * tm * BN * np) * 4;
        if (bytes > prog->ksplit_bytes)
            prog->ksplit_bytes = bytes;
    }
    if (m->glu) {
        na = m->mm[0]->in[1]->type.elem == m->mm[1]->in[1]->type.elem ? 1 : 2;
        strbuf_printf(b, "    { // %s of two products\n        const int j0 = nt * BN;\n"
                         "        float accg[MI][NI][RF_MMA_NC] = {}, accu[MI][NI][RF_MMA_NC] = {};\n"
                         "        RF_MMQ_LOOP(",
                      ir_op_name(m->glu->op));
        mmq_stage(k, b, m, m->mm[0], 0, 0, true);
        mmq_stage(k, b, m, m->mm[1], na - 1, 1, na == 2);
        if (i8) {
            char sg[64], su[64];
            strbuf_printf(b, ",\n                    RF_MMA8_STEP(0, 0, accg, %s); RF_MMA8_STEP(%d, 1, accu, %s));\n",
                          mma8_kind(m->mm[0], sg), na - 1, mma8_kind(m->mm[1], su));
        }
        else if (na == 1)
            strbuf_printf(b, ",\n                    RF_MMA_STEP2(s_a[buf][0], s_b[buf][0], accg, s_b[buf][1], accu));\n");
        else
            strbuf_printf(b, ",\n                    RF_MMA_STEP(s_a[buf][0], s_b[buf][0], accg); "
                             "RF_MMA_STEP(s_a[buf][1], s_b[buf][1], accu));\n");
        if (split > 1)
            strbuf_printf(b, "        if (!rf_ksplit_merge<MI * NI * RF_MMA_NC, 2>(&accg[0][0][0], &accu[0][0][0], p%d, "
                             "tile, kz))\n            return;\n",
                          pk);
        mmq_each(b, m->ncols);
        strbuf_printf(b, "            const float vg = accg[mi][ni][q] * RF_INV(t), vu = accu[mi][ni][q] * RF_INV(t);\n");
        epilogue(k, b, m, m->mm[0], m->ncols);
        strbuf_printf(b, "        }\n    }\n");
    } else {
        int64_t t0 = 0;
        for (int i = 0; i < m->n_mm; i++) {
            int64_t N = m->mm[i]->in[1]->type.dim[0], nt = (N + BN - 1) / BN;
            strbuf_printf(b, "    %sif (nt < %lld) { // product %d: %lld columns\n", i ? "else " : "",
                          (long long)(t0 + nt), i, (long long)N);
            strbuf_printf(b, "        const int j0 = (nt - %lld) * BN;\n"
                             "        float acc[MI][NI][RF_MMA_NC] = {};\n        RF_MMQ_LOOP(",
                          (long long)t0);
            mmq_stage(k, b, m, m->mm[i], 0, 0, true);
            char sw[64];
            if (i8)
                strbuf_printf(b, ", RF_MMA8_STEP(0, 0, acc, %s));\n", mma8_kind(m->mm[i], sw));
            else
                strbuf_printf(b, ", RF_MMA_STEP(s_a[buf][0], s_b[buf][0], acc));\n");
            if (split > 1)
                strbuf_printf(b, "        if (!rf_ksplit_merge<MI * NI * RF_MMA_NC, 1>(&acc[0][0][0], nullptr, p%d, "
                                 "tile, kz))\n            return;\n",
                              pk);
            mmq_each(b, N);
            strbuf_printf(b, "            const float v = acc[mi][ni][q] * RF_INV(t);\n");
            epilogue(k, b, m, m->mm[i], N);
            strbuf_printf(b, "        }\n    }\n");
            t0 += nt;
        }
    }
    static const char *const names[] = {"K", "BM", "BN", "WM", "WN", "NA", "NP", "QINV", "I8", "QS", "SPLIT",
                                        "KSPLIT_TILES"};
    const long long v[] = {(long long)m->K, tm, BN, tm / 2, WN, na, np, qinv >= 0, i8, qs, (long long)split,
                           CG_KSPLIT_TILES};
    for (size_t h = 0; h < 12; h++) {
        snprintf(vals[h], 32, "%lld", v[h]);
        holes[h].name = names[h];
        holes[h].value = vals[h];
    }
    *n_holes = 12;
    *tiles = ntiles * split;
    *bm = tm;
}

/* ---- rowwise groups -------------------------------------------------------------- */

/* the row count of a node: its outer dimension (a cache store: its input's) */
static int64_t rows_of(const ir_node *n)
{
    const ir_node *r = n->op == IR_OP_KV_STORE ? n->in[0] : n;
    return r->type.rank ? r->type.dim[0] : 1;
}

static const char *rw_ctype(const ir_node *n, bool written)
{
    if (n->op == IR_OP_TOPK)
        return written ? "int *" : "const int *";
    if (n->op == IR_OP_INPUT_TOKENS || n->op == IR_OP_INPUT_POS)
        return "const int *";
    if (n->op == IR_OP_WEIGHT && n->type.elem != GGML_TYPE_F32)
        return "const unsigned char *";
    return written ? "float *" : "const float *";
}

/* pointer expression to row r of n's value */
static void rw_row(kbuild *k, strbuf *b, const ir_node *n, bool written)
{
    int p = param(k, n, rw_ctype(n, written), written ? ir_op_name(n->op) : "input");
    if (n->op == IR_OP_WEIGHT || rows_of(n) == 1)
        strbuf_printf(b, "p%d", p);
    else
        strbuf_printf(b, "(p%d + (size_t)r * %lld)", p, (long long)numel_row(&n->type));
}

/* the rotation's constants as rf_rope_row takes them: theta_scale,
 * freq_scale, ext_factor, attn_factor, corr0, corr1 */
static void rope_consts(const kbuild *k, const ir_node *n, char f[6][32])
{
    int n_rot = (int)n->ia[0];
    float base = n->fa[0], corr[2] = {0, 0};
    if (n->fa[2] != 0.0f)
        ir_rope_yarn_corr(n_rot, (int)k->g->model.rope_n_ctx_orig, n->fa[4], n->fa[5], base, corr);
    flit(f[0], powf(base, -2.0f / (float)n_rot));
    flit(f[1], n->fa[1]);
    flit(f[2], n->fa[2]);
    flit(f[3], n->fa[3]);
    flit(f[4], corr[0]);
    flit(f[5], corr[1]);
}

/* "    fn(in0, .., in(n_in-1), out" of node n's first n_in operands' rows and its own */
static void rw_call(kbuild *k, strbuf *b, const char *fn, const ir_node *n, int n_in)
{
    strbuf_printf(b, "    %s(", fn);
    for (int i = 0; i < n_in; i++) {
        rw_row(k, b, n->in[i], false);
        strbuf_printf(b, ", ");
    }
    rw_row(k, b, n, true);
}

static bool gen_row_node(kbuild *k, const ir_node *n)
{
    strbuf *b = &k->body;
    char f[8][32];
    int64_t row = numel_row(&n->type);
    switch (n->op) {
    case IR_OP_EMBED: {
        const ir_node *tab = n->in[0];
        char tn[16];
        if (gpu_type_refusal(tab->type.elem))
            return unsupported(k, "embedding '%s' has type %s, %s", tab->name, ggml_type_get(tab->type.elem)->name,
                               gpu_type_refusal(tab->type.elem));
        if (row % 8 || row % ggml_type_get(tab->type.elem)->block_size)
            return unsupported(k, "embedding width %lld is not a multiple of 8 and of its block", (long long)row);
        use_type(k, tab->type.elem);
        int pt = param(k, tab, "const unsigned char *", "table");
        int pi = param(k, n->in[1], "const int *", "token ids");
        strbuf_printf(b, "    RF_EMBED_ROW(%s, p%d, p%d[r], ", qname(tab->type.elem, tn), pt, pi);
        rw_row(k, b, n, true);
        strbuf_printf(b, ", %lld);\n", (long long)row);
        return true;
    }
    case IR_OP_RMS_NORM: {
        int64_t nlast = n->type.dim[n->type.rank - 1];
        strbuf_printf(b, "    rf_rms_norm_row(");
        rw_row(k, b, n->in[0], false);
        strbuf_printf(b, ", ");
        if (n->n_in > 1) {
            if (n->in[1]->type.elem != GGML_TYPE_F32)
                return unsupported(k, "norm weight '%s' is not f32", n->in[1]->name);
            rw_row(k, b, n->in[1], false);
        } else {
            strbuf_printf(b, "0");
        }
        strbuf_printf(b, ", ");
        rw_row(k, b, n, true);
        strbuf_printf(b, ", %lld, %lld, %s, scratch);\n", (long long)(row / nlast), (long long)nlast, flit(f[0], n->fa[0]));
        return true;
    }
    case IR_OP_LAYER_NORM: {
        int64_t nlast = n->type.dim[n->type.rank - 1];
        if (nlast != row)
            return unsupported(k, "layer norm over sub-rows of %lld", (long long)nlast);
        strbuf_printf(b, "    rf_layer_norm_row(");
        rw_row(k, b, n->in[0], false);
        for (uint8_t i = 1; i < 3; i++) {
            strbuf_printf(b, ", ");
            if (i < n->n_in) {
                if (n->in[i]->type.elem != GGML_TYPE_F32)
                    return unsupported(k, "norm weight '%s' is not f32", n->in[i]->name);
                rw_row(k, b, n->in[i], false);
            } else {
                strbuf_printf(b, "0");
            }
        }
        strbuf_printf(b, ", ");
        rw_row(k, b, n, true);
        strbuf_printf(b, ", %lld, %s, scratch);\n", (long long)nlast, flit(f[0], n->fa[0]));
        return true;
    }
    case IR_OP_ROPE: {
        if (n->type.rank != 3)
            return unsupported(k, "rope of rank %d", n->type.rank);
        int n_rot = (int)n->ia[0], mode = (int)n->ia[1];
        if (mode != 0 && mode != 2)
            return unsupported(k, "rope mode %d", mode);
        if (n_rot < 2 || n_rot > 512)
            return unsupported(k, "rope of %d dimensions (the GPU's table holds 512)", n_rot);
        char rc[6][32];
        rope_consts(k, n, rc);
        strbuf_printf(b, "    rf_rope_row(");
        rw_row(k, b, n->in[0], false);
        strbuf_printf(b, ", ");
        rw_row(k, b, n, true);
        int pp = param(k, n->in[1], "const int *", "positions");
        strbuf_printf(b, ", %lld, %lld, %d, %d, (float)p%d[r], %s, %s, %s, %s, %s, %s, ", (long long)n->type.dim[1],
                  (long long)n->type.dim[2], n_rot, mode, pp, rc[0], rc[1], rc[2], rc[3], rc[4], rc[5]);
        if (n->n_in > 2)
            rw_row(k, b, n->in[2], false);
        else
            strbuf_printf(b, "0");
        strbuf_printf(b, ");\n");
        return true;
    }
    case IR_OP_KV_STORE: {
        int64_t xrow = numel_row(&n->in[0]->type);
        int pc = param(k, n, k->kvh ? "unsigned short *" : "float *", "kv cache");
        /* the cache row: P + r, or paged, row r's own position of its own
         * sequence in the block the table names */
        const char *at = k->pg ? "row r's position" : "P + r";
        const char *row = k->pg ? "rf_kv_row(past, past[RF_PG_SEQ + r], past[RF_PG_POS + r])" : "((size_t)P + r)";
        strbuf_printf(b, "    for (int i = threadIdx.x; i < %lld; i += THREADS) // store in the cache at %s\n",
                      (long long)xrow, at);
        strbuf_printf(b, "        p%d[%s * %lld + i] = %s", pc, row, (long long)xrow, k->kvh ? "rf_f16_bits(" : "");
        rw_row(k, b, n->in[0], false);
        strbuf_printf(b, "[i]%s;\n", k->kvh ? ")" : "");
        return true;
    }
    case IR_OP_SOFTMAX:
        rw_call(k, b, "rf_softmax_row", n, 1);
        strbuf_printf(b, ", %lld, scratch);\n", (long long)row);
        return true;
    case IR_OP_TOPK: /* by the first wavefront: k rounds of its argmax */
        strbuf_printf(b, "    if (threadIdx.x < RF_WAVE)\n        rf_topk_row_wave(");
        rw_row(k, b, n->in[0], false);
        strbuf_printf(b, ", %lld, ", (long long)numel_row(&n->in[0]->type));
        rw_row(k, b, n, true);
        strbuf_printf(b, ", %lld);\n", (long long)n->ia[0]);
        return true;
    case IR_OP_MOE_WEIGHTS:
        strbuf_printf(b, "    if (threadIdx.x == 0)\n    ");
        rw_call(k, b, "rf_moe_weights_row", n, 2);
        strbuf_printf(b, ", %lld, %d, %s);\n", (long long)row, (int)n->ia[0], flit(f[0], n->fa[0]));
        return true;
    case IR_OP_MOE_SUM:
        rw_call(k, b, "rf_moe_sum_row", n, 2);
        strbuf_printf(b, ", %lld, %lld);\n", (long long)n->in[0]->type.dim[1], (long long)row);
        return true;
    case IR_OP_SCALE_ROWS:
        strbuf_printf(b, "    for (int i = threadIdx.x; i < %lld; i += THREADS) // scale_rows\n        ", (long long)row);
        rw_row(k, b, n, true);
        strbuf_printf(b, "[i] = ");
        rw_row(k, b, n->in[0], false);
        strbuf_printf(b, "[i] * ");
        rw_row(k, b, n->in[1], false);
        strbuf_printf(b, "[0];\n");
        return true;
    case IR_OP_SLICE: {
        const ir_type *it = &n->in[0]->type;
        int axis = (int)n->ia[0];
        if (axis < 1)
            return unsupported(k, "slice of the row axis");
        int64_t inner = 1;
        for (int d = axis + 1; d < it->rank; d++)
            inner *= it->dim[d];
        int64_t len = n->ia[2] * inner, in_block = it->dim[axis] * inner;
        strbuf_printf(b, "    for (int i = threadIdx.x; i < %lld; i += THREADS) // slice\n        ", (long long)row);
        rw_row(k, b, n, true);
        strbuf_printf(b, "[i] = ");
        rw_row(k, b, n->in[0], false);
        strbuf_printf(b, "[(i / %lld) * %lld + %lld + i %% %lld];\n", (long long)len, (long long)in_block,
                  (long long)(n->ia[1] * inner), (long long)len);
        return true;
    }
    default:
        break;
    }
    /* elementwise: y[i] = f(a[i] [, b[...]]) */
    strbuf_printf(b, "    for (int i = threadIdx.x; i < %lld; i += THREADS) { // %s\n        const float a = ", (long long)row,
              ir_op_name(n->op));
    rw_row(k, b, n->in[0], false);
    strbuf_printf(b, "[i];\n");
    if (n->n_in > 1) { /* b: a row like a's, or a vector broadcast over the rows */
        const ir_node *o = n->in[1];
        int64_t ob = 1;
        for (uint8_t d = 0; d < o->type.rank; d++)
            ob = o->type.dim[d] < 0 || ob < 0 ? -1 : ob * o->type.dim[d];
        strbuf_printf(b, "        const float bv = ");
        if (ob < 0 && rows_of(o) == rows_of(n) && numel_row(&o->type) == row) {
            rw_row(k, b, o, false);
            strbuf_printf(b, "[i];\n");
        } else if (ob > 0 && (ob == row || row % ob == 0)) {
            int p = param(k, o, "const float *", "operand");
            strbuf_printf(b, ob == row ? "p%d[i];\n" : "p%d[i %% %lld];\n", p, (long long)ob);
        } else if (ob > 0 && rows_of(n) > 0 && ob == row * rows_of(n)) {
            int p = param(k, o, "const float *", "operand");
            strbuf_printf(b, "p%d[(size_t)r * %lld + i];\n", p, (long long)row);
        } else {
            return unsupported(k, "operand %%%u does not broadcast over %%%u", o->id, n->id);
        }
        if (o->type.elem != GGML_TYPE_F32)
            return unsupported(k, "operand %%%u is %s, not f32", o->id, ggml_type_get(o->type.elem)->name);
    }
    const char *expr;
    switch (n->op) {
    case IR_OP_ADD: expr = "a + bv"; break;
    case IR_OP_MUL: expr = "a * bv"; break;
    case IR_OP_SCALE: expr = NULL; break;
    case IR_OP_SILU: expr = "rf_silu(a)"; break;
    case IR_OP_SIGMOID: expr = "1.0f / (1.0f + expf(-a))"; break;
    case IR_OP_GELU: expr = "rf_gelu(a)"; break;
    case IR_OP_SOFTCAP: expr = NULL; break;
    case IR_OP_SWIGLU: expr = "rf_silu(a) * bv"; break;
    case IR_OP_SWIGLU_OAI: expr = NULL; break;
    case IR_OP_GEGLU: expr = "rf_gelu(a) * bv"; break;
    default: return unsupported(k, "op %s has no GPU kernel", ir_op_name(n->op));
    }
    strbuf_printf(b, "        ");
    rw_row(k, b, n, true);
    if (n->op == IR_OP_SCALE)
        strbuf_printf(b, "[i] = a * %s;\n    }\n", flit(f[0], n->fa[0]));
    else if (n->op == IR_OP_SOFTCAP)
        strbuf_printf(b, "[i] = rf_softcap(a, %s);\n    }\n", flit(f[0], n->fa[0]));
    else if (n->op == IR_OP_SWIGLU_OAI)
        strbuf_printf(b, "[i] = rf_swiglu_oai(a, bv, %s, %s);\n    }\n", flit(f[0], n->fa[0]), flit(f[1], n->fa[1]));
    else
        strbuf_printf(b, "[i] = %s;\n    }\n", expr);
    return true;
}

/* ---- kernels and launches ---------------------------------------------------------- */

/* The decode step's conversions (the quantize-out tails, prelude.hip): a
 * matmul group whose products are all quantized (int8 kinds), whose input is
 * the step's rows of K % 256 == 0 features and the stored output of exactly
 * one earlier matmul group (its one product or GLU, K columns) or attention
 * group (heads of D | 256), gets that input converted by the producer's
 * decode kernel; its actq kernel then runs for prefill only. A matmul group's
 * int8 rows live in one of two banks of scratch slots, alternating from one
 * such group to the next, so a producer never writes the rows its own
 * products are reading. */
typedef struct qplan {
    mm_group *mm;          /* by group id: the collected matmul group */
    bool *is_mm;           /* by group id: mm[] is valid */
    uint32_t *consumer;    /* by producer group id: the group it converts for (0: none) */
    uint32_t *producer;    /* by consumer group id: the group that converts its decode input (0: actq) */
    int *bank;             /* by group id */
    bool *every_step;      /* by consumer group id: its producer's tail converts at every T (one row both) */
    const ir_node **post;  /* by consumer group id: the post-norm its producer's tail applies first (row tail) */
    bool *row_tail;        /* by row-wise group id: a row tail does its work at decode (every T: one row) */
    bool *rope_fused;      /* by rope_kv group id: run by the attention's decode kernel, so prefill only */
    int kind_index[AQ_COUNT]; /* slot of each kind within a bank, -1: no group uses it */
    int n_kinds;
} qplan;

typedef struct gen {
    cg_program *p;
    uint32_t cap_kernels, cap_launches;
    rf_error *err;
    qplan q;
} gen;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Assembles prelude + quant sections + template, dedups by source, and
 * appends a launch. summary names the kernel ("matmul_q4_k_k2048_n3072_t1"). */
static rf_status emit(gen *G, kbuild *k, const char *tmpl_name, const hole *extra, size_t n_extra, const char *summary,
                      uint32_t block, uint32_t grid_x, int64_t rows, uint32_t row_tile, int8_t only_T)
{
    if (k->st != RF_OK)
        return k->st;
    strbuf src = {0};
    char wave[8];
    snprintf(wave, sizeof wave, "%d", k->arch->wave);
    hole pre[] = {{"VENDOR", k->arch->vendor == CG_AMD ? "AMD" : "NVIDIA"},
                  {"ARCH", k->arch->target},
                  {"WAVE", wave},
                  {"DOT4", k->arch->dot4 ? "1" : "0"},
                  {"MMA", k->arch->mma ? "1" : "0"}};
    render(&src, cg_template_text("prelude"), pre, 5);
    if (k->pg) /* the step's rows in a cache of blocks (cg_paging): where a row's position is kept */
        strbuf_printf(&src,
                      "\n#define RF_PAGED 1\n"
                      "#define RF_PG_POS %u // words from P: the rows' positions\n"
                      "#define RF_PG_SEQ %u // their sequences\n"
                      "#define RF_PG_TAB %u // the block table, RF_PG_STRIDE entries a sequence\n"
                      "#define RF_PG_STRIDE %u\n"
                      "#define RF_PG_SHIFT %u // log2 of a block's positions\n"
                      "// the cache row of position p of sequence q\n"
                      "RF_DEV size_t rf_kv_row(const int *past, int q, int p)\n"
                      "{\n"
                      "    const unsigned int b = ((const unsigned int *)past)[RF_PG_TAB + q * RF_PG_STRIDE + "
                      "(p >> RF_PG_SHIFT)];\n"
                      "    return (size_t)b << RF_PG_SHIFT | (size_t)(p & ((1 << RF_PG_SHIFT) - 1));\n"
                      "}\n",
                      k->pg->pos, k->pg->seq, k->pg->table, k->pg->stride, k->pg->shift);
    if (k->types) {
        strbuf_put(&src, "\n", 1);
        quant_section(&src, "quant", "common");
        bool iq_common = false; /* quant_iq.hip's common section, before its first type */
        for (size_t i = 0; i < sizeof gpu_types / sizeof gpu_types[0]; i++)
            if (k->types & (1u << i)) {
                char tn[16], tag[24];
                snprintf(tag, sizeof tag, "type %s", qname(gpu_types[i], tn));
                const char *lib = quant_find("quant", tag) ? "quant" : "quant_iq";
                if (!strcmp(lib, "quant_iq") && !iq_common) {
                    quant_section(&src, lib, "common");
                    iq_common = true;
                }
                quant_section(&src, lib, tag);
            }
    }
    strbuf_put(&src, "\n", 1);
    hole holes[32];
    size_t nh = 0;
    for (size_t i = 0; i < n_extra && nh < 27; i++)
        holes[nh++] = extra[i];
    holes[nh++] = (hole){"NAME", "__RF_KERNEL__"};
    holes[nh++] = (hole){"PARAMS", k->params.p ? k->params.p : ""};
    holes[nh++] = (hole){"BODY", k->body.p ? k->body.p : ""};
    holes[nh++] = (hole){"SETUP", k->setup.p ? k->setup.p : ""};
    holes[nh++] = (hole){"TAIL", k->tail.p ? k->tail.p : ""};
    render(&src, cg_template_text(tmpl_name), holes, nh);
    if (src.oom || k->params.oom || k->setup.oom || k->body.oom || k->tail.oom) {
        free(src.p);
        return rf_fail(G->err, RF_E_NOMEM, "out of memory rendering kernels");
    }
    /* the name carries a hash of the source, so equal names mean equal kernels */
    char name[128];
    snprintf(name, sizeof name, "%s_%08x", summary, (unsigned)(fnv1a(src.p) & 0xffffffffu));
    strbuf fin = {0};
    for (const char *p = src.p, *q; ; p = q + strlen("__RF_KERNEL__")) {
        q = strstr(p, "__RF_KERNEL__");
        if (!q) {
            strbuf_put(&fin, p, strlen(p));
            break;
        }
        strbuf_put(&fin, p, (size_t)(q - p));
        strbuf_put(&fin, name, strlen(name));
    }
    free(src.p);
    if (fin.oom)
        return rf_fail(G->err, RF_E_NOMEM, "out of memory rendering kernels");
    cg_program *P = G->p;
    uint32_t ki = 0;
    for (; ki < P->n_kernels; ki++)
        if (!strcmp(P->kernels[ki].name, name) && !strcmp(P->kernels[ki].source, fin.p))
            break;
    if (ki == P->n_kernels) {
        if (P->n_kernels == G->cap_kernels) {
            uint32_t cap = G->cap_kernels ? 2 * G->cap_kernels : 32;
            cg_kernel *nk = realloc(P->kernels, cap * sizeof *nk);
            if (!nk) {
                free(fin.p);
                return rf_fail(G->err, RF_E_NOMEM, "out of memory");
            }
            P->kernels = nk;
            G->cap_kernels = cap;
        }
        cg_kernel *kn = &P->kernels[P->n_kernels++];
        memset(kn, 0, sizeof *kn);
        kn->name = arena_strndup(&P->arena, name, strlen(name));
        kn->tmpl = tmpl_name;
        kn->source = arena_strndup(&P->arena, fin.p, fin.n);
        kn->block = block;
        if (!kn->name || !kn->source) {
            free(fin.p);
            return rf_fail(G->err, RF_E_NOMEM, "out of memory");
        }
    }
    free(fin.p);
    if (P->n_launches == G->cap_launches) {
        uint32_t cap = G->cap_launches ? 2 * G->cap_launches : 128;
        cg_launch *nl = realloc(P->launches, cap * sizeof *nl);
        if (!nl)
            return rf_fail(G->err, RF_E_NOMEM, "out of memory");
        P->launches = nl;
        G->cap_launches = cap;
    }
    cg_launch *l = &P->launches[P->n_launches++];
    memset(l, 0, sizeof *l);
    l->kernel = ki;
    l->group = k->group;
    l->only_T = only_T;
    l->grid_x = grid_x;
    l->rows = rows;
    l->row_tile = row_tile;
    l->n_args = k->n_args;
    memcpy(l->arg, k->arg, k->n_args * sizeof *l->arg);
    P->kernels[ki].n_launches++;
    return RF_OK;
}

static void kb_reset(kbuild *k)
{
    free(k->params.p);
    free(k->setup.p);
    free(k->body.p);
    free(k->tail.p);
    memset(&k->params, 0, sizeof k->params);
    memset(&k->setup, 0, sizeof k->setup);
    memset(&k->body, 0, sizeof k->body);
    memset(&k->tail, 0, sizeof k->tail);
    k->n_args = 0;
    k->types = 0;
}

/* the scratch slots hold m's converted input rows (an actq launch's or a tail's) */
static void scratch_fit(gen *G, const mm_group *m)
{
    if (m->K > G->p->scratch_k)
        G->p->scratch_k = m->K;
    if ((uint32_t)(2 * G->q.n_kinds) > G->p->scratch_slots)
        G->p->scratch_slots = (uint32_t)(2 * G->q.n_kinds);
}

/* The launch before a matmul group's products whose weights are not all
 * f32: the input, normalised when the group has the norm, converted once per
 * kind the weights need into scratch slots. */
static rf_status emit_actq(gen *G, kbuild *k, const mm_group *m, int64_t rows, int8_t only_T)
{
    static const char *const call[] = {"rf_actq_round<0>", "rf_actq_round<1>", "rf_actq_round<2>",
                                       "rf_actq_q8<32, false>", "rf_actq_q8<256, true>"};
    char vals[5][32], f[32], summary[64];
    kb_reset(k);
    int px = param(k, m->x, "const float *__restrict__ ", "x");
    bool nw = m->norm && m->norm->n_in > 1;
    int pn = nw ? param(k, m->norm->in[1], "const float *__restrict__ ", "norm weight") : -1;
    strbuf_printf(&k->setup, "    const float *x = p%d + (size_t)r * K;\n", px);
    if (pn >= 0)
        strbuf_printf(&k->setup, "    const float *nw = p%d;\n", pn);
    else
        strbuf_printf(&k->setup, "    const float *nw = 0;\n");
    for (int q = 0; q < AQ_COUNT; q++) {
        if (m->slot[q] < 0)
            continue;
        if (m->K % 256 && q == AQ_Q8K)
            return unsupported(k, "row length %lld is not a multiple of 256", (long long)m->K), k->st;
        int ps = param_id(k, CG_ARG_SCRATCH + (uint32_t)m->slot[q],
                          aq_int8(q) ? "unsigned char *__restrict__ " : "float *__restrict__ ", aq_names[q]);
        strbuf_printf(&k->body, "    %s(x, nw, inv, p%d + (size_t)r * %s); // %s\n", call[q], ps,
                  aq_int8(q) ? "XROW" : "K", aq_names[q]);
    }
    snprintf(vals[0], 32, "%lld", (long long)m->K);
    snprintf(vals[1], 32, "%d", m->norm ? 1 : 0);
    snprintf(vals[2], 32, "%d", nw ? 1 : 0);
    snprintf(vals[3], 32, "%d", SLICE_ACTQ);
    hole holes[] = {{"K", vals[0]}, {"NORM", vals[1]}, {"NORM_W", vals[2]},
                    {"EPS", flit(f, m->norm ? m->norm->fa[0] : 0.0f)}, {"SLICE", vals[3]}};
    snprintf(summary, sizeof summary, "actq_k%lld_%s%x", (long long)m->K, m->norm ? "norm_" : "", m->kinds);
    scratch_fit(G, m);
    return emit(G, k, "actq", holes, 5, summary, 256, (uint32_t)((m->K + SLICE_ACTQ - 1) / SLICE_ACTQ), rows, 1,
                only_T);
}

/* The quantize-out tail of a decode kernel that stores y, the input of
 * matmul group c: yexpr names y's pointer in the kernel (NULL: its
 * parameter), seg and cols are C++ expressions (the block's 256-column
 * segment, the columns it stored), nt its threads. */
/* what a tail writes for matmul group m: its input's int8 rows (the
 * parameters of up to two kinds: dst, kinds 1 Q8_0, 2 Q8_K) and the norm
 * weight they are scaled by (nw, "0" for none) */
typedef struct next_input {
    char dst[2][16], nw[16];
    int kinds[2];
} next_input;

static next_input next_input_params(kbuild *k, const mm_group *m)
{
    next_input o = {.dst = {"0", "0"}, .nw = "0"};
    int n = 0;
    for (int q = AQ_Q8; q <= AQ_Q8K; q++)
        if (m->slot[q] >= 0) {
            snprintf(o.dst[n], sizeof o.dst[n], "p%d",
                     param_id(k, CG_ARG_SCRATCH + (uint32_t)m->slot[q], "unsigned char *__restrict__ ", "next input"));
            o.kinds[n++] = q == AQ_Q8 ? 1 : 2;
        }
    if (m->norm && m->norm->n_in > 1)
        snprintf(o.nw, sizeof o.nw, "p%d", param(k, m->norm->in[1], "const float *__restrict__ ", "next norm weight"));
    return o;
}

static void qtail(gen *G, kbuild *k, uint32_t c, const ir_node *y, const char *yexpr, int nt, const char *seg,
                  const char *cols)
{
    const mm_group *m = &G->q.mm[c];
    char f[32];
    next_input ni = next_input_params(k, m);
    char ys[16];
    if (yexpr)
        snprintf(ys, sizeof ys, "%s", yexpr);
    else
        snprintf(ys, sizeof ys, "p%d", param(k, y, "float *__restrict__ ", "output"));
    int pc = param_id(k, CG_ARG_QTAIL, "unsigned int *__restrict__ ", "tail counters");
    strbuf_printf(&k->tail, "    // the next group's input: converted here for its %s products\n",
                  aq_names[ni.kinds[0] == 1 ? AQ_Q8 : AQ_Q8K]);
    strbuf_printf(&k->tail, "    rf_qtail<%lld, %d, %d, %d, %s>(%s, %s, %s, %s, %s, p%d, (float *)(p%d + %d), %s, %s);\n",
                  (long long)m->K, nt, ni.kinds[0], ni.kinds[1], m->norm ? "true" : "false", ys, ni.nw,
                  flit(f, m->norm ? m->norm->fa[0] : 0.0f), ni.dst[0], ni.dst[1], pc, pc, QTAIL_MAX_SEG + 1, seg,
                  cols);
    /* one layout for every tail (the row's ticket, then the segments'; the
     * sums after all of them), so no tail's sums land on another's counter */
    uint64_t bytes = (uint64_t)(2 * QTAIL_MAX_SEG + 1) * 4;
    if (bytes > G->p->qtail_bytes)
        G->p->qtail_bytes = bytes;
}

/* The post-norm tail (rf_rowtail) of a decode matmul kernel of nt threads
 * whose output a feeds x = xres + rms_norm(a) * wpost, the input of matmul
 * group c: the last block makes x and converts it for c. */
static void rowtail(gen *G, kbuild *k, uint32_t c, int nt)
{
    const mm_group *m = &G->q.mm[c];
    const ir_node *pn = G->q.post[c], *x = m->x->op == IR_OP_LAST_ROWS ? m->x->in[0] : m->x;
    const ir_node *xres = x->in[0] == pn ? x->in[1] : x->in[0];
    char f[2][32];
    next_input ni = next_input_params(k, m);
    int pa = param(k, pn->in[0], "float *__restrict__ ", "output");
    int pw = param(k, pn->in[1], "const float *__restrict__ ", "post-norm weight");
    int pr = param(k, xres, "const float *__restrict__ ", "residual");
    int px = param(k, x, "float *__restrict__ ", "post-norm + residual");
    int pc = param_id(k, CG_ARG_QTAIL, "unsigned int *__restrict__ ", "tail counters");
    strbuf_printf(&k->tail, "    // the post-norm and residual, then the next group's input, made by the last block\n");
    strbuf_printf(&k->tail, "    rf_rowtail<%lld, %d, %d, %d, %s>(p%d, p%d, %s, p%d, p%d, %s, %s, %s, %s, p%d);\n",
                  (long long)m->K, nt, ni.kinds[0], ni.kinds[1], m->norm ? "true" : "false", pa, pw,
                  flit(f[0], pn->fa[0]), pr, px, ni.nw, flit(f[1], m->norm ? m->norm->fa[0] : 0.0f), ni.dst[0],
                  ni.dst[1], pc);
    if (G->p->qtail_bytes < 4)
        G->p->qtail_bytes = 4;
}

static rf_status group_matmul(gen *G, kbuild *k, const ir_node *const *nodes, uint32_t n)
{
    if (!G->q.is_mm[k->group]) { /* the decode plan could not collect it: say why */
        mm_group bad;
        bool ok = mm_collect(k, nodes, n, &bad);
        RF_ASSERT(!ok);
        return k->st;
    }
    const mm_group *m = &G->q.mm[k->group];
    char tn[16], summary[96];
    hole holes[12];
    char vals[12][32];
    int64_t rows = m->x->type.dim[0];
    /* the producer converts a decode step's row, so then actq runs for
     * prefill only, or not at all where the producer's one row is the
     * input's at every T */
    if (m->n_slots && G->q.every_step[k->group]) {
        scratch_fit(G, m);
    } else if (m->n_slots) {
        rf_status st = emit_actq(G, k, m, rows, G->q.producer[k->group] ? -1 : 0);
        if (st != RF_OK)
            return st;
    }
    /* decode (one row) and, when the rows are the step's tokens, prefill;
     * a batch step's rows with logits (O of them, 1 in a decode step of one
     * sequence) the same, so many rows read the weights once */
    bool two = rows == IR_DIM_T || rows == IR_DIM_O;
    /* variant 2: the eight-row kernel for the prefill steps too few for the
     * matrix units' tiles (CG_MMQ_MIN_T), where they take the rest */
    bool mmq = two && mmq_fits(k, m);
    /* variants 3 and 4: the few-row tiles, of 32 and of 64 tokens a block,
     * between the eight-row kernel and the full tiles */
    uint32_t few = mmq ? few_min_t() : 0, few64 = mmq ? few64_min_t() : 0;
    uint32_t lo[5] = {0, mmq_min_t(), 0, few, few64};
    uint32_t hi[5] = {0, 0, (few ? few : mmq_min_t()) - 1, (few64 ? few64 : mmq_min_t()) - 1, mmq_min_t() - 1};
    for (int variant = 0; variant < (two ? 2 + mmq + (few > 0) + (few64 > 0) : 1); variant++) {
        int mt = variant == 0 ? 1 : MT_PREFILL;
        int cols = mt == 1 ? decode_cols(m) : 1, waves = mt == 1 ? decode_waves() : WAVES_MATMUL;
        size_t nh;
        kb_reset(k);
        if ((variant == 1 && mmq) || variant >= 3) {
            int64_t tiles;
            int bm, fbm = variant == 3 ? FEW_BM : variant == 4 ? FEW_BM64 : 0;
            gen_mmq(G->p, k, m, fbm, hi[variant], holes, &nh, vals, &tiles, &bm);
            snprintf(summary, sizeof summary, "mmq_%s_k%lld_n%lld%s", qname(m->mm[0]->in[1]->type.elem, tn),
                     (long long)m->K, (long long)m->ncols, variant == 3 ? "_few" : variant == 4 ? "_few64" : "");
            rf_status st = emit(G, k, "mmq", holes, nh, summary, (uint32_t)(4 * k->arch->wave), (uint32_t)tiles,
                                rows, (uint32_t)bm, -1);
            if (st != RF_OK)
                return st;
            G->p->launches[G->p->n_launches - 1].min_T = lo[variant];
            G->p->launches[G->p->n_launches - 1].max_T = hi[variant];
            continue;
        }
        gen_matmul(k, m, mt, cols, waves, holes, &nh, vals);
        uint32_t c = G->q.consumer[k->group];
        if (mt == 1 && c && G->q.post[c]) {
            rowtail(G, k, c, waves * k->arch->wave);
        } else if (mt == 1 && c) { /* y: what this group stores, which c reads (maybe its last row) */
            char cols_s[32];
            const ir_node *y = G->q.mm[c].x->op == IR_OP_LAST_ROWS ? G->q.mm[c].x->in[0] : G->q.mm[c].x;
            snprintf(cols_s, sizeof cols_s, "%d", waves * cols);
            qtail(G, k, c, y, NULL, waves * k->arch->wave, "(int)(blockIdx.x * WAVES * ROWS) / 256", cols_s);
        }
        snprintf(summary, sizeof summary, "matmul_%s_k%lld_n%lld_t%d%s", qname(m->mm[0]->in[1]->type.elem, tn),
                 (long long)m->K, (long long)m->ncols, mt, k->tail.n ? "_q" : "");
        uint32_t grid_x = (uint32_t)((m->ncols + waves * cols - 1) / (waves * cols));
        int8_t only = two ? (variant == 0 ? 1 : -1) : 0;
        rf_status st = emit(G, k, "matmul", holes, nh, summary, (uint32_t)(waves * k->arch->wave), grid_x, rows,
                            (uint32_t)mt, only);
        if (st != RF_OK)
            return st;
        if (variant == 2)
            G->p->launches[G->p->n_launches - 1].max_T = hi[2];
    }
    return RF_OK;
}

/* A tensor-parallel rank's collective group (one all_reduce or
 * all_gather): a stop in the plan before the next launch (cg_coll), which
 * the executor serves; no kernel. */
static rf_status group_collective(gen *G, const ir_node *const *nodes, uint32_t cnt)
{
    cg_program *p = G->p;
    if (cnt != 1 || (nodes[0]->op != IR_OP_ALL_REDUCE && nodes[0]->op != IR_OP_ALL_GATHER))
        return rf_fail(G->err, RF_E_UNSUPPORTED, "group %u: a collective group of %u nodes", nodes[0]->group, cnt);
    cg_coll *c = realloc(p->colls, (p->n_colls + 1) * sizeof *c);
    if (!c)
        return rf_fail(G->err, RF_E_NOMEM, "out of memory");
    p->colls = c;
    p->colls[p->n_colls++] = (cg_coll){.at = p->n_launches, .node = nodes[0]->id};
    return RF_OK;
}

/* A matmul_id group's nodes: the products n (an expert GLU's gate), and
 * the up product and GLU, or the weighted sum and the add after it */
typedef struct id_group {
    const ir_node *n, *up, *glu, *sum, *add;
} id_group;

/* The shared memory a matmul_id block converts its int8 activation rows
 * into: K int8 values and a scale per 32 a row */
enum { ID_SHARED = 40 * 1024 };
static int64_t id_xrow_bytes(int64_t K) { return K + K / 32 * 4; }

/* Grouped expert products for prefill (templates/moe_sort.hip and
 * matmul_id.hip's GROUPED; ROCMFORGE_MOE_GROUPED=0: the per-pair kernel):
 * the most pairs a tile, MT_ID halved until MT_ID rows fit ID_SHARED
 * (1: none) */
enum { MT_ID = 16 };

static int id_tile_pairs(int64_t K)
{
    int mt = MT_ID;
    while (mt > 1 && mt * id_xrow_bytes(K) > ID_SHARED)
        mt /= 2;
    return mt;
}

/* the scratch moe_sort.hip fills for `maxp` pairs of E experts in tiles of mt: the tiles' count, the pairs, the tiles */
static uint64_t id_sort_bytes(int64_t maxp, int64_t E, int mt)
{
    return 4 * (uint64_t)(1 + maxp + 3 * (maxp / mt + E + 1));
}

/* the columns a wavefront of a matmul_id kernel takes of N: ROWS, which
 * must divide N */
static int id_cols(int64_t N) { return N % 2 ? 1 : 2; }

/* One kernel of an expert group f: per pair (grouped 0: grid slots x
 * column blocks, rows), or grouped by expert (grid column blocks, rows:
 * each block y takes tiles y, y + rows, ... of moe_sort's). */
static rf_status id_kernel(gen *G, kbuild *k, const id_group *f, int grouped, int mt, int8_t only_T)
{
    const ir_node *n = f->n, *up = f->up, *glu = f->glu, *sum = f->sum, *add = f->add;
    const ir_node *x = n->in[0], *w = n->in[1], *ids = n->in[2];
    int64_t E = w->type.dim[0], N = w->type.dim[1], K = w->type.dim[2], slots = ids->type.dim[1];
    char tn[16], summary[96], v[17][32];
    int kind = aq_kind(w->type.elem);
    kb_reset(k);
    qname(w->type.elem, tn);
    use_type(k, w->type.elem);
    int px = param(k, x, "const float *__restrict__ ", "x");
    int pw = param(k, w, "const unsigned char *__restrict__ ", "experts");
    int pi = param(k, ids, "const int *__restrict__ ", "expert ids");
    int py = param(k, glu ? glu : n, "float *__restrict__ ", glu ? ir_op_name(glu->op) : "products");
    strbuf_printf(&k->setup, "    const float *x = p%d;\n    const unsigned char *W = p%d;\n"
                             "    const int *ids = p%d;\n    float *y = p%d;\n", px, pw, pi, py);
    /* the most rows a step has: the plan's tokens for T (and O, the rows
     * with logits, at most T), or the constant */
    int64_t T_most = rows_of(n) < 0 ? k->g->plan_tokens : rows_of(n);
    if (sum) {
        const ir_node *r = add ? add->in[add->in[0] == sum] : NULL;
        strbuf_printf(&k->setup, "    const float *wts = p%d;\n    float *out = p%d;\n",
                      param(k, sum->in[1], "const float *__restrict__ ", "routing weights"),
                      param(k, add ? add : sum, "float *__restrict__ ", add ? "add" : "moe_sum"));
        if (r)
            strbuf_printf(&k->setup, "    const float *resid = p%d;\n", param(k, r, "const float *__restrict__ ", "residual"));
        strbuf_printf(&k->setup, "    unsigned int *sum_cnt = p%d;\n",
                      param_id(k, CG_ARG_MOESUM, "unsigned int *__restrict__ ", "sum counters"));
        if (rows_of(sum) != rows_of(n))
            unsupported(k, "the weighted sum %%%u has other rows than its products", sum->id);
    }
    if (grouped)
        strbuf_printf(&k->setup, "    const int *ex = p%d;\n",
                      param_id(k, CG_ARG_EXPERTS, "const int *__restrict__ ", "pairs by expert"));
    if (n->n_in > 3)
        strbuf_printf(&k->setup, "    const float *bias = p%d; // [n_expert, N]\n",
                      param(k, n->in[3], "const float *__restrict__ ", "expert biases"));
    else
        strbuf_printf(&k->setup, "    const float *bias = 0;\n");
    const char *dot = grouped ? "RF_ID_QDOT_MT" : aq_int8(kind) ? "RF_ID_QDOT" : "RF_ID_DOT";
    strbuf_printf(&k->body, "    %s(%s, we, acc);\n", dot, tn);
    if (glu) { /* the up product: the same type and shape (fuse-moe) */
        strbuf_printf(&k->setup, "    const unsigned char *W1 = p%d;\n",
                      param(k, up->in[1], "const unsigned char *__restrict__ ", "up experts"));
        if (up->n_in > 3)
            strbuf_printf(&k->setup, "    const float *bias1 = p%d;\n",
                          param(k, up->in[3], "const float *__restrict__ ", "up expert biases"));
        else
            strbuf_printf(&k->setup, "    const float *bias1 = 0;\n");
        strbuf_printf(&k->body, "    %s(%s, we1, acc1);\n", dot, tn);
    } else {
        strbuf_printf(&k->setup, "    const float *bias1 = 0; // no up product\n");
    }
    int waves = decode_waves(), rows = id_cols(N);
    int64_t row_bytes = row_bytes_of(w), maxp = T_most * slots;
    int gk = glu ? ir_glu_kind(glu->op) : 0;
    const long long vals[] = {(long long)K, (long long)N, (long long)slots, x->type.rank == 3, waves, rows, kind,
                              (long long)row_bytes, (long long)(row_bytes * N), gk, sum != NULL, add != NULL,
                              grouped, mt, grouped ? (long long)maxp : 0};
    static const char *const names[] = {"K",   "N",   "SLOTS", "PER_SLOT", "WAVES", "ROWS", "KIND",  "ROW_BYTES",
                                        "EXPERT_BYTES", "GLU", "SUM", "RESID", "GROUPED", "MT", "MAXP", "ALPHA",
                                        "LIMIT"};
    hole holes[17];
    for (int i = 0; i < 15; i++) {
        snprintf(v[i], sizeof v[i], "%lld", vals[i]);
        holes[i] = (hole){names[i], v[i]};
    }
    holes[15] = (hole){names[15], flit(v[15], gk == 3 ? glu->fa[0] : 0.0f)};
    holes[16] = (hole){names[16], flit(v[16], gk == 3 ? glu->fa[1] : 0.0f)};
    const char *form = glu ? ir_op_name(glu->op) : sum ? "sum" : "";
    int64_t cb = (N + waves * rows - 1) / (waves * rows);
    uint32_t c = G->q.consumer[k->group];
    if (c && sum && !grouped && only_T != -1) /* a decode step's (or one row's): the next group's input */
        qtail(G, k, c, NULL, "out", waves * k->arch->wave, "(int)(cb * WAVES * ROWS) / 256", "WAVES * ROWS");
    if (sum && (uint64_t)(T_most * cb) * 4 > G->p->moesum_bytes)
        G->p->moesum_bytes = (uint64_t)(T_most * cb) * 4;
    snprintf(summary, sizeof summary, "matmul_id_%s%s%s_k%lld_n%lld_e%lld%s%s", form, *form ? "_" : "", tn,
             (long long)K, (long long)N, (long long)E, grouped ? "_grouped" : "", k->tail.n ? "_q" : "");
    return emit(G, k, "matmul_id", holes, 17, summary, (uint32_t)(waves * k->arch->wave),
                (uint32_t)(grouped ? cb : slots * cb), rows_of(n), 1, only_T);
}

/* moe_sort.hip for the grouped products of f: one block, its T the step's rows */
static rf_status id_sort_kernel(gen *G, kbuild *k, const id_group *f, int mt)
{
    const ir_node *w = f->n->in[1], *ids = f->n->in[2];
    int64_t E = w->type.dim[0], slots = ids->type.dim[1], maxp = k->g->plan_tokens * slots;
    char v[4][32], summary[64];
    kb_reset(k);
    strbuf_printf(&k->setup, "    const int *ids = p%d;\n    int *ex = p%d;\n",
                  param(k, ids, "const int *__restrict__ ", "expert ids"),
                  param_id(k, CG_ARG_EXPERTS, "int *__restrict__ ", "pairs by expert"));
    snprintf(v[0], 32, "%lld", (long long)slots);
    snprintf(v[1], 32, "%lld", (long long)E);
    snprintf(v[2], 32, "%d", mt);
    snprintf(v[3], 32, "%lld", (long long)maxp);
    hole holes[] = {{"SLOTS", v[0]}, {"E", v[1]}, {"MT", v[2]}, {"MAXP", v[3]}};
    uint64_t bytes = id_sort_bytes(maxp, E, mt);
    if (bytes > G->p->experts_bytes)
        G->p->experts_bytes = bytes;
    snprintf(summary, sizeof summary, "moe_sort_e%lld_k%lld_mt%d", (long long)E, (long long)slots, mt);
    /* grid 1 x 1: the rows are the step's, in one block */
    return emit(G, k, "moe_sort", holes, 4, summary, 1024, 1, rows_of(f->n), 1u << 30, -1);
}

/* The chosen experts' products (templates/matmul_id.hip): grid (slots x
 * column blocks, T), the activations converted in each block as the
 * weights' type needs them. The ir fuse-moe groups: the gate product n,
 * the up product and their GLU, which is what the kernel writes; or the
 * down products n, their weighted sum (moe_sum) and maybe the add after
 * it, which the last slot of a column block makes (CG_ARG_MOESUM's
 * counters). A prefill step of int8 products sorts its pairs by expert
 * and runs the grouped kernel instead (unless ROCMFORGE_MOE_GROUPED=0). */
static rf_status group_matmul_id(gen *G, kbuild *k, const ir_node *const *nodes, uint32_t cnt)
{
    id_group f = {.n = nodes[0]};
    if (cnt == 3 && nodes[1]->op == IR_OP_MATMUL_ID && ir_glu_kind(nodes[2]->op)) {
        f.glu = nodes[2];
        f.n = f.glu->in[0]; /* the gate product is the GLU's first operand */
        f.up = f.glu->in[1];
    } else if ((cnt == 2 || cnt == 3) && nodes[1]->op == IR_OP_MOE_SUM && nodes[1]->in[0] == f.n &&
               (cnt == 2 || nodes[2]->op == IR_OP_ADD)) {
        f.sum = nodes[1];
        f.add = cnt == 3 ? nodes[2] : NULL;
    } else if (cnt != 1 || f.n->op != IR_OP_MATMUL_ID) {
        return unsupported(k, "a matmul_id group of %u nodes that is neither an expert GLU nor a weighted sum", cnt),
               k->st;
    }
    const ir_node *w = f.n->in[1];
    const ggml_type_traits *tt = ggml_type_get(w->type.elem);
    int64_t K = w->type.dim[2];
    if (gpu_type_refusal(w->type.elem))
        return unsupported(k, "weight '%s' has type %s, %s", w->name, tt->name, gpu_type_refusal(w->type.elem)),
               k->st;
    int kind = aq_kind(w->type.elem);
    if (K % 32 || K % tt->block_size || (kind == AQ_Q8K && K % 256))
        return unsupported(k, "weight '%s': row length %lld is not a multiple of 32 and of its block", w->name,
                           (long long)K),
               k->st;
    if (aq_int8(kind) && id_xrow_bytes(K) > ID_SHARED)
        return unsupported(k, "weight '%s': a row of %lld int8 activations does not fit shared memory", w->name,
                           (long long)K),
               k->st;
    int mt = id_tile_pairs(K);
    bool grouped = moe_grouped() && aq_int8(kind) && rows_of(f.n) < 0 && mt >= 2;
    bool tail = G->q.consumer[k->group] && rows_of(f.n) < 0; /* the decode step's row only */
    if (!grouped && !tail)
        return id_kernel(G, k, &f, 0, 1, 0);
    rf_status st = id_kernel(G, k, &f, 0, 1, 1);
    if (st == RF_OK && grouped)
        st = id_sort_kernel(G, k, &f, mt);
    if (st == RF_OK)
        st = id_kernel(G, k, &f, grouped, grouped ? mt : 1, -1);
    return st;
}

/* The decode attention (templates/attention_decode.hip): one block per kv
 * head takes its G query heads, lanes over DL = D / wave consecutive
 * elements; its shared memory (the G query rows, the wavefronts' partials,
 * the merge's weights, the new row and the rotation) must fit 48 KiB, with
 * as many of WAVES_ATTENTION wavefronts as allow. 0: the prefill template's
 * split serves decode too. */
static int attn_decode_waves(const cg_arch *arch, const ir_node *a)
{
    const ir_node *q = a->in[0], *kc = a->in[1];
    int64_t D = q->type.dim[2], HQ = q->type.dim[1], HKV = kc->type.dim[1];
    if (q->type.rank != 3 || kc->type.rank != 3 || HKV <= 0 || HQ % HKV || D % arch->wave || D > 512)
        return 0;
    for (int w = WAVES_ATTENTION; w >= 1; w /= 2)
        if ((HQ / HKV) * (D + (int64_t)w * (D + 2) + 2 * SPLIT_MAX) * 4 + 4 * D * 4 <= 48 * 1024)
            return w;
    return 0;
}

/* The rope_kv group an attention's decode kernel runs itself: exactly the
 * RoPE of q (and the scale after it, prescale_q's), the RoPE of k (and the
 * per-head norms of both before them, qwen3's), and the
 * cache stores of k and v, with the same
 * rotation (ir_pass_memplan keeps their inputs live through the attention,
 * the same test). 0: none. */
static uint32_t attn_rope_group(const ir_graph *g, const cg_arch *arch, const ir_node *a)
{
    float prescale;
    const ir_node *q = ir_attn_rope_q(a, &prescale);
    if (!attn_decode_waves(arch, a) || !ir_rope_kv_fusable(g, a) || q->type.dim[0] != IR_DIM_T)
        return 0;
    uint32_t gid = q->group, n = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++)
        n += g->nodes[i]->group == gid;
    return n == 4u + (q != a->in[0]) + 2u * (ir_rope_norm(q) != NULL) && q->in[0]->type.dim[2] == q->type.dim[2] &&
                   q->ia[0] >= 2 && q->ia[0] <= q->type.dim[2]
               ? gid
               : 0;
}

/* an attention kernel's first parameters, which both templates declare (a
 * tail or the rope prologue adds to them): q, the caches, the output, the
 * split scratch; an f16 cache brings the f16 helpers */
static void attn_args(kbuild *k, const ir_node *a)
{
    kb_reset(k);
    k->n_args = 5;
    k->arg[0] = a->in[0]->id;
    k->arg[1] = a->in[1]->id;
    k->arg[2] = a->in[2]->id;
    k->arg[3] = a->id;
    k->arg[4] = CG_ARG_SPLIT;
    if (k->kvh)
        use_type(k, GGML_TYPE_F16);
    if (a->n_in > 3)
        strbuf_printf(&k->setup, "    const float *sinks = p%d; // a logit a head\n",
                      param(k, a->in[3], "const float *__restrict__ ", "sinks"));
    else
        strbuf_printf(&k->setup, "    const float *sinks = 0; // no sinks\n");
}

/* the holes both attention templates share: D, HQ, HKV, WINDOW, WAVES, NSPLIT */
static void attn_shape(char v[][24], const ir_node *a, int waves, int64_t nsplit)
{
    snprintf(v[0], 24, "%lld", (long long)a->in[0]->type.dim[2]);
    snprintf(v[1], 24, "%lld", (long long)a->in[0]->type.dim[1]);
    snprintf(v[2], 24, "%lld", (long long)a->in[1]->type.dim[1]);
    snprintf(v[3], 24, "%lld", (long long)a->ia[1]);
    snprintf(v[4], 24, "%d", waves);
    snprintf(v[5], 24, "%lld", (long long)nsplit);
}

static rf_status attention_decode(gen *G, kbuild *k, const ir_node *a, int waves)
{
    const ir_node *q = a->in[0], *kc = a->in[1], *vc = a->in[2];
    int64_t D = q->type.dim[2], HQ = q->type.dim[1], HKV = kc->type.dim[1], GQ = HQ / HKV;
    int64_t nsplit = (tune_knob("ROCMFORGE_TUNE_ATTN_BLOCKS", BLOCKS_DECODE_ATTN, 16, 4096) + HKV - 1) / HKV;
    nsplit = nsplit > SPLIT_MAX ? SPLIT_MAX : nsplit;
    bool rope = G->q.rope_fused[q->group]; /* then q is its rope_kv group's RoPE (maybe scaled) */
    float prescale = 1.0f;
    if (rope)
        q = ir_attn_rope_q(a, &prescale);
    const ir_node *nq = rope ? ir_rope_norm(q) : NULL, *nk = rope ? ir_rope_norm(kc->in[0]) : NULL;
    char f[5][32], rc[6][32], v[9][24], summary[96];
    attn_args(k, a);
    for (int i = 0; i < 6; i++)
        strcpy(rc[i], "0.0f");
    if (rope) {
        const ir_node *rk = kc->in[0];
        rope_consts(k, q, rc);
        int px = param(k, nq ? nq->in[0] : q->in[0], "const float *__restrict__ ", "q before rope");
        int pk = param(k, nk ? nk->in[0] : rk->in[0], "const float *__restrict__ ", "k before rope");
        int pv = param(k, vc->in[0], "const float *__restrict__ ", "v");
        int pp = param(k, q->in[1], "const int *__restrict__ ", "positions");
        int pf = q->n_in > 2 ? param(k, q->in[2], "const float *__restrict__ ", "freq factors") : -1;
        strbuf_printf(&k->setup, "    const float *xq = p%d, *xk = p%d, *xv = p%d; // this step's rows, before rope\n", px,
                  pk, pv);
        strbuf_printf(&k->setup, "    const int *rpos = p%d;\n", pp);
        if (pf >= 0)
            strbuf_printf(&k->setup, "    const float *rff = p%d;\n", pf);
        else
            strbuf_printf(&k->setup, "    const float *rff = 0; // no frequency factors\n");
        if (nq) {
            int pqn = param(k, nq->in[1], "const float *__restrict__ ", "q norm weight");
            int pkn = param(k, nk->in[1], "const float *__restrict__ ", "k norm weight");
            strbuf_printf(&k->setup, "    const float *qnw = p%d, *knw = p%d; // per-head norms before rope\n", pqn, pkn);
        }
    }
    uint32_t c = G->q.consumer[k->group];
    if (c) { /* the block's G * D columns: one 256-column segment, or whole segments */
        char seg[64], cols[24];
        int64_t w = GQ * D;
        snprintf(seg, sizeof seg, "(int)(hk * %lld) / 256 + s_", (long long)w);
        snprintf(cols, sizeof cols, "%lld", (long long)(w < 256 ? w : 256));
        strbuf_printf(&k->tail, "    for (int s_ = 0; s_ < %lld; s_++) {\n", (long long)(w > 256 ? w / 256 : 1));
        qtail(G, k, c, a, "out", waves * k->arch->wave, seg, cols);
        strbuf_printf(&k->tail, "    }\n");
    }
    attn_shape(v, a, waves, nsplit);
    char passes[8];
    snprintf(passes, sizeof passes, "%d", tune_knob("ROCMFORGE_TUNE_ATTN_PASSES", 1, 1, 8));
    snprintf(v[6], 24, "%d", k->kvh ? 1 : 0); /* the cache's type */
    snprintf(v[7], 24, "%d", rope ? 1 : 0);
    snprintf(v[8], 24, "%lld", rope ? (long long)q->ia[0] : 2);
    char mode[8];
    snprintf(mode, sizeof mode, "%lld", rope ? (long long)q->ia[1] : 0);
    hole holes[] = {{"D", v[0]},           {"HQ", v[1]},          {"HKV", v[2]},         {"WINDOW", v[3]},
                    {"WAVES", v[4]},       {"SCALE", flit(f[0], a->fa[0])}, {"SOFTCAP", flit(f[1], a->fa[1])},
                    {"NSPLIT", v[5]},      {"KVH", v[6]},         {"ROPE", v[7]},        {"N_ROT", v[8]},
                    {"MODE", mode},        {"THETA_SCALE", rc[0]}, {"FREQ_SCALE", rc[1]}, {"EXT_FACTOR", rc[2]},
                    {"ATTN_FACTOR", rc[3]}, {"CORR0", rc[4]},      {"CORR1", rc[5]},
                    {"QSCALE", flit(f[2], prescale)}, {"QNORM", nq ? "1" : "0"},
                    {"QEPS", flit(f[3], nq ? nq->fa[0] : 0.0f)}, {"KEPS", flit(f[4], nk ? nk->fa[0] : 0.0f)},
                    /* a range's keys, at least: one pass of the block (32 keys with 8 wavefronts),
                       so a short context of a model of few kv heads still spreads over blocks (on an
                       H100 8 passes ran a Qwen3-30B-A3B shape's 4 kv heads in 4 blocks, 35 us a layer;
                       decode 5% faster for it and Llama-3-8B's); ROCMFORGE_TUNE_ATTN_PASSES: 2 to 8 */
                    {"MINK_PASSES", passes}};
    uint64_t bytes = (uint64_t)(HQ * nsplit * (D + 2) + HQ) * sizeof(float);
    if (bytes > G->p->split_bytes)
        G->p->split_bytes = bytes;
    snprintf(summary, sizeof summary, "attention_decode_d%lld_h%lld_kv%lld%s_s%lld%s%s", (long long)D, (long long)HQ,
             (long long)HKV, a->ia[1] > 0 ? "_swa" : "", (long long)nsplit, rope ? "_rope" : "",
             k->tail.n ? "_q" : "");
    return emit(G, k, "attention_decode", holes, sizeof holes / sizeof holes[0], summary,
                (uint32_t)(waves * k->arch->wave), (uint32_t)(HKV * nsplit), IR_DIM_T, 1, 1);
}

/* Does a prefill attention run on the matrix units (templates/
 * attention_mma.hip): the arch has them, the head dimension is a multiple
 * of 16 and at most 128 (the query fragments and the accumulator stay in
 * registers), ROCMFORGE_UNVERIFIED=1 asks for it (it has not run on a GPU)
 * and ROCMFORGE_NO_FA=1 does not turn it off? */
static bool attn_mma_fits(const kbuild *k, const ir_node *a)
{
    int64_t D = a->in[0]->type.dim[2];
    return k->arch->mma && D % 16 == 0 && D <= 128 && unverified() && !env_on("ROCMFORGE_NO_FA");
}

/* many query rows of a head a block, on the matrix units: grid (HQ, T / BQ) */
static rf_status attention_mma(gen *G, kbuild *k, const ir_node *a)
{
    char f[2][32], v[6][24], summary[96];
    attn_shape(v, a, WAVES_ATTENTION_MMA, 1);
    hole holes[] = {{"D", v[0]},      {"HQ", v[1]},     {"HKV", v[2]},  {"WINDOW", v[3]},
                    {"WAVES", v[4]},  {"SCALE", flit(f[0], a->fa[0])}, {"SOFTCAP", flit(f[1], a->fa[1])},
                    {"KVH", k->kvh ? "1" : "0"}};
    attn_args(k, a);
    snprintf(summary, sizeof summary, "attention_mma_d%s_h%s_kv%s%s", v[0], v[1], v[2], a->ia[1] > 0 ? "_swa" : "");
    return emit(G, k, "attention_mma", holes, sizeof holes / sizeof holes[0], summary,
                (uint32_t)(WAVES_ATTENTION_MMA * k->arch->wave), (uint32_t)a->in[0]->type.dim[1], rows_of(a),
                16 * WAVES_ATTENTION_MMA, -1);
}

static rf_status group_attention(gen *G, kbuild *k, const ir_node *a)
{
    const ir_node *q = a->in[0], *kc = a->in[1], *vc = a->in[2];
    char f[2][32], v[6][24], summary[96];
    if (q->type.rank != 3 || kc->type.rank != 3 || kc->op != IR_OP_KV_STORE || vc->op != IR_OP_KV_STORE)
        return unsupported(k, "attention operands are not q[T,H,D] and cache stores"), k->st;
    int64_t D = q->type.dim[2], HQ = q->type.dim[1], HKV = kc->type.dim[1], rows = q->type.dim[0];
    if (HKV <= 0 || HQ % HKV)
        return unsupported(k, "%lld query heads over %lld kv heads", (long long)HQ, (long long)HKV), k->st;
    /* decode: the keys split over enough blocks to fill the device; prefill
     * (many query rows) one block per row and head */
    /* a cache in blocks: the one-row-a-block kernel, which takes each row's
     * own sequence and position */
    int dwaves = rows == IR_DIM_T && !k->pg ? attn_decode_waves(k->arch, a) : 0;
    for (int variant = 0; variant < (rows == IR_DIM_T ? 2 : 1); variant++) {
        if (variant == 0 && dwaves) {
            rf_status st = attention_decode(G, k, a, dwaves);
            if (st != RF_OK)
                return st;
            continue;
        }
        if (variant == 1 && !k->pg && attn_mma_fits(k, a)) {
            rf_status st = attention_mma(G, k, a);
            if (st != RF_OK)
                return st;
            continue;
        }
        int64_t nsplit = variant == 0 && rows == IR_DIM_T ? (BLOCKS_DECODE_ATTN + HQ - 1) / HQ : 1;
        nsplit = nsplit > SPLIT_MAX ? SPLIT_MAX : nsplit;
        attn_shape(v, a, WAVES_ATTENTION, nsplit);
        hole holes[] = {{"D", v[0]},        {"HQ", v[1]},      {"HKV", v[2]},
                        {"WINDOW", v[3]},   {"WAVES", v[4]},   {"SCALE", flit(f[0], a->fa[0])},
                        {"SOFTCAP", flit(f[1], a->fa[1])}, {"NSPLIT", v[5]}, {"KVH", k->kvh ? "1" : "0"}};
        attn_args(k, a);
        uint32_t c = G->q.consumer[k->group];
        if (variant == 0 && rows == IR_DIM_T && c) {
            char cols_s[24];
            snprintf(cols_s, sizeof cols_s, "%lld", (long long)D);
            qtail(G, k, c, a, "out", WAVES_ATTENTION * k->arch->wave, "(int)(h * D) / 256", cols_s);
        }
        if (nsplit > 1) { /* one query row: partials, then one counter per head */
            uint64_t bytes = (uint64_t)(HQ * nsplit * (D + 2) + HQ) * sizeof(float);
            if (bytes > G->p->split_bytes)
                G->p->split_bytes = bytes;
        }
        snprintf(summary, sizeof summary, "attention_d%lld_h%lld_kv%lld%s_s%lld%s", (long long)D, (long long)HQ,
                 (long long)HKV, a->ia[1] > 0 ? "_swa" : "", (long long)nsplit, k->tail.n ? "_q" : "");
        int8_t only = rows == IR_DIM_T ? (variant == 0 ? 1 : -1) : 0;
        rf_status st = emit(G, k, "attention", holes, 9, summary, (uint32_t)(WAVES_ATTENTION * k->arch->wave),
                            (uint32_t)(HQ * nsplit), rows, 1, only);
        if (st != RF_OK)
            return st;
    }
    return RF_OK;
}

static rf_status group_rowwise(gen *G, kbuild *k, const ir_node *const *nodes, uint32_t n, int8_t only_T)
{
    int64_t rows = rows_of(nodes[0]);
    char summary[64], threads[16];
    for (uint32_t i = 0; i < n; i++) {
        if (rows_of(nodes[i]) != rows)
            return unsupported(k, "nodes of different row counts"), k->st;
        for (uint8_t d = 1; d < nodes[i]->type.rank; d++)
            if (nodes[i]->type.dim[d] < 0)
                return unsupported(k, "node %%%u has a symbolic inner dimension", nodes[i]->id), k->st;
        if (i)
            strbuf_printf(&k->body, "    __syncthreads();\n");
        gen_row_node(k, nodes[i]);
    }
    snprintf(summary, sizeof summary, "%s_%s_n%lld", ir_kernel_name(k->g->groups[k->group - 1].kernel),
             ir_op_name(nodes[0]->op), (long long)numel_row(&nodes[0]->type));
    snprintf(threads, sizeof threads, "%d", THREADS_ROW);
    hole holes[] = {{"THREADS", threads}};
    return emit(G, k, "rowwise", holes, 1, summary, THREADS_ROW, 1, rows, 1, only_T);
}

/* A row-wise group, and the row-wise groups that follow it over the same
 * rows (*i: the node after the first group; on return, after the last one
 * taken). A decode step's one row runs them as one kernel, each group a
 * phase of it (templates/rowwise.hip): between two products, everything
 * the row needs (per-head norms, RoPE, cache stores, slices, scales) is one
 * launch. With many rows each group keeps its own kernel: the memory plan
 * lets a group's output take the bytes of a value an earlier group is done
 * with, which another row's block of a merged kernel could still be reading
 * (rows of different widths overlap other rows). */
static rf_status rowwise_run(gen *G, kbuild *k, const ir_graph *g, const ir_node **nodes, uint32_t cnt, uint32_t *i)
{
    uint32_t n_groups = 1, gid = k->group;
    int64_t rows = rows_of(nodes[0]);
    bool tailed = G->q.row_tail[gid]; /* a product's row tail does these at decode (at every T: one row) */
    while (rows == IR_DIM_T || rows == 1) {
        uint32_t j = *i;
        while (j < g->n_nodes && !g->nodes[j]->group && (ir_is_leaf(g->nodes[j]) || ir_is_alias(g->nodes[j])))
            j++;
        uint32_t g2 = j < g->n_nodes ? g->nodes[j]->group : 0;
        ir_kernel kind2 = g2 ? g->groups[g2 - 1].kernel : IR_K_NONE;
        if (!g2 || kind2 == IR_K_MATMUL || kind2 == IR_K_ATTENTION || kind2 == IR_K_MATMUL_ID ||
            rows_of(g->nodes[j]) != rows || G->q.rope_fused[g2] || G->q.rope_fused[gid] ||
            G->q.row_tail[g2] != tailed)
            break;
        for (*i = j; *i < g->n_nodes && g->nodes[*i]->group == g2; (*i)++)
            nodes[cnt++] = g->nodes[*i];
        n_groups++;
    }
    if (tailed && rows == 1) /* no launch at all */
        return RF_OK;
    if (n_groups == 1) /* a rope_kv group the decode attention runs, or a tailed group: prefill's only */
        return group_rowwise(G, k, nodes, cnt, G->q.rope_fused[gid] || tailed ? -1 : 0);
    /* merged: the decode step (a row tail's: none), or always */
    rf_status st = tailed ? RF_OK : group_rowwise(G, k, nodes, cnt, rows == 1 ? 0 : 1);
    /* many rows: each group alone */
    for (uint32_t a = 0, len = 0; a < cnt && st == RF_OK && rows == IR_DIM_T; a += len) {
        for (len = 1; a + len < cnt && nodes[a + len]->group == nodes[a]->group; len++)
            ;
        kb_reset(k);
        k->group = nodes[a]->group;
        k->st = RF_OK;
        st = group_rowwise(G, k, nodes + a, len, -1);
    }
    k->group = gid;
    return st;
}

/* The decode conversions (qplan above): which matmul group's decode input
 * which group converts, the banks, and the slot of each kind in a bank. */
static rf_status plan_qtails(gen *G, const ir_graph *g, const ir_uses *uses, const ir_node **nodes)
{
    qplan *q = &G->q;
    uint32_t n = g->n_groups + 1;
    q->mm = calloc(n, sizeof *q->mm);
    q->is_mm = calloc(n, sizeof *q->is_mm);
    q->consumer = calloc(n, sizeof *q->consumer);
    q->producer = calloc(n, sizeof *q->producer);
    q->bank = calloc(n, sizeof *q->bank);
    q->rope_fused = calloc(n, sizeof *q->rope_fused);
    q->every_step = calloc(n, sizeof *q->every_step);
    q->post = calloc(n, sizeof *q->post);
    q->row_tail = calloc(n, sizeof *q->row_tail);
    if (!q->mm || !q->is_mm || !q->consumer || !q->producer || !q->bank || !q->rope_fused || !q->every_step ||
        !q->post || !q->row_tail)
        return rf_fail(G->err, RF_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < g->n_nodes; i++) { /* decode attentions that run their rope_kv group */
        const ir_node *a = g->nodes[i];
        uint32_t r = a->op == IR_OP_ATTENTION && a->group && !G->p->paged ? attn_rope_group(g, &G->p->arch, a) : 0;
        if (r)
            q->rope_fused[r] = true;
    }
    unsigned kinds = 0;
    int n_conv = 0;
    for (uint32_t i = 0; i < g->n_nodes;) {
        uint32_t gid = g->nodes[i]->group, cnt = 0;
        if (!gid) {
            i++;
            continue;
        }
        for (; i < g->n_nodes && g->nodes[i]->group == gid; i++)
            nodes[cnt++] = g->nodes[i];
        if (g->groups[gid - 1].kernel != IR_K_MATMUL)
            continue;
        rf_error quiet = {0}; /* a group that does not collect is reported when it is generated */
        kbuild k = {.g = g, .uses = uses, .arch = &G->p->arch, .err = &quiet, .group = gid};
        if (!mm_collect(&k, nodes, cnt, &q->mm[gid]))
            continue;
        q->is_mm[gid] = true;
        if (q->mm[gid].n_slots) {
            kinds |= q->mm[gid].kinds;
            q->bank[gid] = n_conv++ % 2;
        }
    }
    q->n_kinds = 0;
    for (int a = 0; a < AQ_COUNT; a++)
        q->kind_index[a] = kinds & (1u << a) ? q->n_kinds++ : -1;
    for (uint32_t c = 1; c < n; c++) /* a converted group's slots: one per kind, in its bank */
        for (int a = 0; a < AQ_COUNT && q->is_mm[c]; a++)
            if (q->mm[c].n_slots && (q->mm[c].kinds & (1u << a)))
                q->mm[c].slot[a] = q->bank[c] * q->n_kinds + q->kind_index[a];
    /* consumers and their producers */
    for (uint32_t c = 1; c < n; c++) {
        const mm_group *m = &q->mm[c];
        if (!q->is_mm[c])
            continue;
        /* A tail converts row 0 of what its producer stores: at decode,
         * the step's row (the input's rows are the step's, or the last of
         * them); at every T, the one row of the last layer's FFN and the
         * output product (a producer of one row). */
        const ir_node *y = m->x->op == IR_OP_LAST_ROWS && m->x->ia[0] == 1 ? m->x->in[0] : m->x;
        int64_t rows = y->type.dim[0];
        if (!m->n_slots || (m->kinds & ~((1u << AQ_Q8) | (1u << AQ_Q8K))) || m->K % 256 ||
            (rows != IR_DIM_T && rows != 1) || m->K / 256 > QTAIL_MAX_SEG || !y->group)
            continue;
        /* y = xres + rms_norm(a): the producer is a's, its tail makes y */
        const ir_node *post = ir_post_norm(g, y);
        uint32_t pg = post ? post->in[0]->group : y->group, readers = 0;
        for (uint32_t u = 0; u < uses->count[m->x->id]; u++) {
            const ir_node *user = uses->users[m->x->id][u];
            readers += user->group && user->group != pg && q->is_mm[user->group] &&
                       (q->mm[user->group].x == m->x);
        }
        if (readers != 1 || q->consumer[pg])
            continue;
        bool ok = false;
        if (post) { /* a row tail: a is its one product's output, K wide, any block shape */
            const mm_group *pm = &q->mm[pg];
            ok = q->is_mm[pg] && pm->ncols == m->K && pm->n_mm == 1 && !pm->glu && pm->x->type.dim[0] == rows;
        } else if (q->is_mm[pg]) { /* its one product, or its GLU, is K wide and stored */
            const mm_group *pm = &q->mm[pg];
            int per_block = decode_waves() * decode_cols(pm); /* a block's columns: in one segment, none past */
            ok = pm->ncols == m->K && (pm->glu || pm->n_mm == 1) && pm->x->type.dim[0] == rows &&
                 256 % per_block == 0;
        } else if (g->groups[pg - 1].kernel == IR_K_MATMUL_ID && moe_tail()) {
            /* the expert sums' group that ends in y (the sum, or the add
             * after it: nothing of the group reads it): the block that
             * sums a column block stores its WAVES * ROWS columns, in one
             * segment */
            bool last = y->group == pg;
            for (uint32_t u = 0; u < uses->count[y->id]; u++)
                last &= uses->users[y->id][u]->group != pg;
            int per_block = decode_waves() * id_cols(m->K);
            ok = last && (y->op == IR_OP_MOE_SUM || y->op == IR_OP_ADD) && y->type.rank == 2 &&
                 y->type.dim[1] == m->K && y->type.dim[0] == rows && 256 % per_block == 0 && m->K % per_block == 0;
        } else if (g->groups[pg - 1].kernel == IR_K_ATTENTION && m->x->op == IR_OP_ATTENTION && attn_qtail()) {
            /* a block's columns: one head, or the G heads of a kv head (the decode template) */
            const ir_node *a = m->x;
            int64_t D = a->in[0]->type.dim[2], w = D;
            if (attn_decode_waves(&G->p->arch, a))
                w = D * (a->in[0]->type.dim[1] / a->in[1]->type.dim[1]);
            ok = w > 0 && (256 % w == 0 || w % 256 == 0) && a->in[0]->type.dim[1] * D == m->K && rows == IR_DIM_T;
        }
        if (ok) {
            q->consumer[pg] = c;
            q->producer[c] = pg;
            q->every_step[c] = rows == 1;
            if (post) {
                q->post[c] = post;
                q->row_tail[post->group] = q->row_tail[y->group] = true;
            }
        }
    }
    return RF_OK;
}

static void qplan_free(qplan *q)
{
    free(q->mm);
    free(q->is_mm);
    free(q->consumer);
    free(q->producer);
    free(q->bank);
    free(q->rope_fused);
    free(q->every_step);
    free(q->post);
    free(q->row_tail);
}

/* What the kernels cannot do yet: an encoder's attention that looks both
 * ways, and pooling (embedding models); deepseek2's latent attention (the
 * per-head products, the concatenated query and key, values narrower than
 * keys) and grouped routing. Named so that "auto" says why it runs on
 * the CPU. (A tensor-parallel rank's collectives are stops in the plan,
 * cg_coll, that the executor serves.) */
static rf_status check_supported(const ir_graph *g, rf_error *err)
{
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        const char *what = NULL;
        if (n->op == IR_OP_POOL || (n->op == IR_OP_ATTENTION && n->ia[2]))
            what = "an embedding model";
        else if (n->op == IR_OP_MATMUL_HEADS || n->op == IR_OP_CONCAT ||
                 (n->op == IR_OP_ATTENTION && n->in[1]->type.dim[2] != n->in[2]->type.dim[2]))
            what = "multi-head latent attention";
        else if (n->op == IR_OP_GROUP_MASK)
            what = "grouped expert routing";
        if (what)
            return rf_fail(err, RF_E_UNSUPPORTED, "node %%%u (%s%s) of %s, %s: the GPU backend has no kernel for it "
                           "(the CPU backend runs it)", n->id, ir_op_name(n->op),
                           n->op == IR_OP_ATTENTION && n->ia[2] ? " noncausal" : "",
                           g->model.arch ? g->model.arch : "?", what);
    }
    return RF_OK;
}

rf_status cg_generate(const ir_graph *g, const cg_arch *arch, const cg_options *opt, cg_program **out,
                      rf_error *err)
{
    *out = NULL;
    rf_status sup = check_supported(g, err);
    if (sup != RF_OK)
        return sup;
    cg_program *p = calloc(1, sizeof *p);
    if (!p)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    arena_init(&p->arena);
    p->arch = *arch;
    p->kv_f16 = opt && opt->kv_f16;
    p->paged = opt && opt->paged;
    gen G = {.p = p, .err = err};
    ir_uses uses;
    rf_status st = ir_uses_build(g, &uses, err);
    if (st != RF_OK) {
        cg_program_free(p);
        return st;
    }
    const ir_node **nodes = calloc(g->n_nodes ? g->n_nodes : 1, sizeof *nodes);
    kbuild k = {.g = g, .uses = &uses, .arch = arch, .err = err, .kvh = p->kv_f16, .pg = opt ? opt->paged : NULL};
    if (!nodes)
        st = rf_fail(err, RF_E_NOMEM, "out of memory");
    else
        st = plan_qtails(&G, g, &uses, nodes);
    /* groups are contiguous runs of nodes (the scheduler keeps them so) */
    for (uint32_t i = 0; i < g->n_nodes && st == RF_OK;) {
        const ir_node *n = g->nodes[i];
        if (!n->group) {
            if (!ir_is_leaf(n) && !ir_is_alias(n))
                st = rf_fail(err, RF_E_UNSUPPORTED, "node %%%u (%s) is in no group", n->id, ir_op_name(n->op));
            i++;
            continue;
        }
        uint32_t cnt = 0, gid = n->group;
        for (; i < g->n_nodes && g->nodes[i]->group == gid; i++)
            nodes[cnt++] = g->nodes[i];
        kb_reset(&k);
        k.group = gid;
        k.st = RF_OK;
        switch (g->groups[gid - 1].kernel) {
        case IR_K_MATMUL: st = group_matmul(&G, &k, nodes, cnt); break;
        case IR_K_ATTENTION:
            st = cnt == 1 ? group_attention(&G, &k, nodes[0])
                          : (unsupported(&k, "more than the attention node"), k.st);
            break;
        case IR_K_COLLECTIVE: st = group_collective(&G, nodes, cnt); break;
        case IR_K_MATMUL_ID:
            st = group_matmul_id(&G, &k, nodes, cnt);
            break;
        default: st = rowwise_run(&G, &k, g, nodes, cnt, &i); break;
        }
    }
    if (st == RF_OK) { /* greedy sampling */
        kb_reset(&k);
        k.group = 0;
        k.st = RF_OK;
        st = emit(&G, &k, "argmax", NULL, 0, "argmax", 1024, 1, 1, 1, 0);
        if (st == RF_OK) {
            p->n_launches--; /* not part of the step: the executor runs it on demand */
            p->argmax_kernel = p->launches[p->n_launches].kernel;
            p->kernels[p->argmax_kernel].n_launches--;
        }
    }
    kb_reset(&k);
    free(nodes);
    qplan_free(&G.q);
    ir_uses_free(&uses);
    if (st != RF_OK) {
        cg_program_free(p);
        return st;
    }
    *out = p;
    return RF_OK;
}

uint32_t cg_step_launches(const cg_program *p, bool decode)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->n_launches; i++) /* a prefill step of many rows: not the few-row launches */
        n += (p->launches[i].only_T == 0 || (p->launches[i].only_T == 1) == decode) && (decode || !p->launches[i].max_T);
    return n;
}

void cg_program_free(cg_program *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->n_kernels; i++)
        free(p->kernels[i].code);
    free(p->kernels);
    free(p->launches);
    free(p->colls);
    arena_free(&p->arena);
    free(p);
}
