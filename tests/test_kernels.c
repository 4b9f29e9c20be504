/*
 * test_kernels.c: every kernel the conformance models need compiles for
 * gfx90a and gfx1030 with hipRTC and for sm_90 with NVRTC, without a GPU.
 *
 * The models are those of test_model_conformance.c (every arch of
 * conformance_models.h, dense and MoE; n_embd 256, 2 layers, 4 heads over 2
 * KV heads, n_ff 512, the llama-spm vocabulary), each in the 16 weight types
 * of quant.hip, the q4_k_m and q5_k_m mixes and the 10 of quant_iq.hip for
 * llama, the other archs in the types that span their epilogues
 * (DENSE_TYPES, MOE_TYPES), written by rf_gen_model straight in their
 * type (--row-pool-all 64: nothing here reads a weight's value, and
 * quantizing the 32000-row embedding and head of every model had been a
 * third of the suite). Each model goes through import, the passes and codegen for every
 * target; the distinct kernels of all of
 * them (about 1,150 a wave64 target: the products specialise on shapes and
 * types, everything else is shared) are then compiled, 16 to a compiler
 * invocation (BUNDLE), so a template that one arch or type breaks fails
 * here with the kernel's name and the compiler's message; the first of
 * them also go through a fresh kernel cache by cg_build_program, the way
 * `rocmforge compile` builds them, and a second build must find them in
 * the cache. On
 * gfx90a every prefill product runs on the matrix units, and its disassembly
 * shows the MFMA (int8 for quantized weights, f16 for f16 ones). Each
 * model's memory plan, for the last row and for every row's logits, is
 * checked too (plan_check.c): values live at once never share workspace
 * bytes. The llama Q4_K_M model is also rendered as the GPU's part of a
 * model split by layers (its first layer, ending in the residual rows).
 *
 * Both compilers are required: CI installs hipRTC (libamdhip64-dev) and has
 * CUDA's NVRTC; a missing one fails the suite.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codegen/cache.h"
#include "codegen/codegen.h"
#include "codegen/isa.h"
#include "support/types.h"
#include "frontend/import.h"
#include "ir/passes/passes.h"
#include "fixtures/conformance_models.h"
#include "plan_check.h"
#include "test_util.h"

static const char *const TYPES[] = {"f32",     "f16",    "bf16",  "q4_0",    "q4_1",   "q5_0",   "q5_1",
                                    "q8_0",    "q2_k",   "q3_k",  "q4_k",    "q5_k",   "q6_k",   "iq4_nl",
                                    "iq4_xs",  "mxfp4",  "q4_k_m", "q5_k_m", "iq2_xxs", "iq2_xs", "iq2_s",
                                    "iq3_xxs", "iq3_s",  "iq1_s", "iq1_m",   "tq1_0",  "tq2_0",  "nvfp4"};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])

/* the distinct kernels of one target, collected over every model */
typedef struct target_kernels {
    const char *name;
    const char *const *types; /* the weight types whose models it builds (NULL: all) */
    const char *const *archs; /* the archs whose models it builds (NULL: all) */
    cg_arch arch;
    cg_program *all;
    uint32_t cap;
    uint32_t models;
} target_kernels;

/* gfx90a (CDNA, wave64) and gfx1030 (RDNA2, wave32) both have the int8 dot
 * instructions the products use. gfx1030 builds the kernels of a few types
 * only, which between them render every template variant (integer and float
 * products, table lookups, the quantize-out tails, split attention), for
 * the archs whose kernels reduce across a wavefront differently: plain
 * GQA, head dim 128, softcap and window, sinks, and the routers' top-k.
 * What wave32 changes is the reductions, not the epilogues; its hipRTC
 * build of every arch would add two minutes to make check. */
static const char *const GFX1030_TYPES[] = {"f16", "q4_0", "q8_0", "iq4_xs", "q4_k_m", NULL};
static const char *const GFX1030_ARCHS[] = {"llama", "qwen3", "gemma2", "qwen3moe", "gpt-oss", NULL};
static target_kernels TARGETS[] = {
    {.name = "gfx90a"}, {.name = "sm_90"}, {.name = "gfx1030", .types = GFX1030_TYPES, .archs = GFX1030_ARCHS}};
#define N_TARGETS (sizeof TARGETS / sizeof TARGETS[0])

/* The MoE archs build the kernels of these types only: their dense
 * products are the dense archs' (every type), and matmul_id's dots are
 * instantiated per type from the same quant sections, so these cover its
 * every activation kind and weight-reading form (float dots, f16/bf16
 * rounding, Q8 and Q8_K int8 rows, a min term, tables, E8M0 scales) at
 * less than half the build time. */
static const char *const MOE_TYPES[] = {"f32", "bf16", "q4_1", "q8_0", "q6_k", "iq4_xs", "mxfp4", "q4_k_m", NULL};

/* The types of templates/quant_iq.hip are built for the llama case only:
 * their sections are read by the same templates as every other type's
 * (one model renders each product form: decode, eight rows, int8 tiles,
 * the quantize-out tails, the embedding), and each arch more would add a
 * minute to a suite of ten. Not for gfx1030 either (GFX1030_TYPES). */
static const char *const LLAMA_ONLY_TYPES[] = {"iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s",
                                               "iq1_s",   "iq1_m",  "tq1_0", "tq2_0",   "nvfp4", NULL};

/* The dense archs other than llama build the kernels of these types only.
 * What an arch changes is its products' epilogues and prologues (biases,
 * gating, norms, softcaps, residuals) and the row-wise and attention
 * kernels; how a product reads its weights is the type's section and the
 * same for every arch, and llama builds it for every type. An epilogue
 * differs only by the product's activation kind, which these span: f32
 * weights (the norm as a prologue, no tail), f16 (rounded float rows),
 * q8_0 (int8 rows, the quantize-out tails, and the f16 cache rendering)
 * and the q4_k_m mix (K-quant rows beside q6_k ones). Every arch in all 18
 * types took twice the kernels for no template the llama models miss. */
static const char *const DENSE_TYPES[] = {"f32", "f16", "q8_0", "q4_k_m", NULL};

static bool listed(const char *const *types, const char *type)
{
    for (const char *const *ty = types; *ty; ty++)
        if (!strcmp(*ty, type))
            return true;
    return false;
}

static bool case_takes(const arch_case *c, const char *type)
{
    if (c->cpu_only)
        return false;
    if (!strcmp(c->arch, "llama"))
        return true;
    return !listed(LLAMA_ONLY_TYPES, type) && listed(c->moe ? MOE_TYPES : DENSE_TYPES, type);
}

static bool target_takes(const target_kernels *t, const char *arch, const char *type)
{
    return (!t->types || listed(t->types, type)) && (!t->archs || listed(t->archs, arch));
}

static int add_kernels(target_kernels *t, const cg_program *p)
{
    for (uint32_t i = 0; i < p->n_kernels; i++) {
        const cg_kernel *k = &p->kernels[i];
        uint32_t j = 0;
        while (j < t->all->n_kernels && strcmp(t->all->kernels[j].name, k->name))
            j++;
        if (j < t->all->n_kernels)
            continue; /* the name carries a hash of the source */
        if (t->all->n_kernels == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 256;
            cg_kernel *nk = realloc(t->all->kernels, t->cap * sizeof *nk);
            if (!nk)
                return -1;
            t->all->kernels = nk;
        }
        cg_kernel *d = &t->all->kernels[t->all->n_kernels++];
        memset(d, 0, sizeof *d);
        d->name = arena_strndup(&t->all->arena, k->name, strlen(k->name));
        d->source = arena_strndup(&t->all->arena, k->source, strlen(k->source));
        d->tmpl = k->tmpl;
        d->block = k->block;
    }
    return 0;
}

static bool has_arg(const cg_launch *l, uint32_t id)
{
    for (uint32_t a = 0; a < l->n_args; a++)
        if (l->arg[a] == id)
            return true;
    return false;
}

/* the template a launch's partner has: the decode attention's is prefill's
 * (on the matrix units or not), the matrix units' prefill product's is the
 * decode matmul's */
static const char *partner_tmpl(const char *tmpl)
{
    return !strcmp(tmpl, "attention_decode") || !strcmp(tmpl, "attention_mma") ? "attention"
           : !strcmp(tmpl, "mmq")                                              ? "matmul"
                                                                               : tmpl;
}

/* A launch of the same group and template for the other kind of step. */
static bool partner(const cg_program *p, uint32_t i)
{
    const cg_launch *l = &p->launches[i];
    const char *mine = partner_tmpl(p->kernels[l->kernel].tmpl);
    for (uint32_t j = 0; j < p->n_launches; j++)
        if (j != i && p->launches[j].group == l->group && p->launches[j].only_T == -l->only_T &&
            !strcmp(partner_tmpl(p->kernels[p->launches[j].kernel].tmpl), mine))
            return true;
    return false;
}

/* Does exactly one launch run a group's products for each prefill step of
 * T rows (2 to twice CG_MMQ_MIN_T): the eight-row kernel for the fewest,
 * the few-row tiles with split-K between (codegen.c few_min_t), the full
 * tiles on the matrix units (mmq) from CG_MMQ_MIN_T? */
static bool one_per_T(const cg_program *p, uint32_t group)
{
    for (uint32_t T = 2; T <= 2 * CG_MMQ_MIN_T; T++) {
        uint32_t n = 0;
        const cg_launch *the = NULL;
        for (uint32_t j = 0; j < p->n_launches; j++) {
            const cg_launch *o = &p->launches[j];
            const char *tmpl = p->kernels[o->kernel].tmpl;
            if (o->group == group && o->only_T == -1 && (!strcmp(tmpl, "matmul") || !strcmp(tmpl, "mmq")) &&
                T >= o->min_T && (!o->max_T || T <= o->max_T)) {
                n++;
                the = o;
            }
        }
        if (n != 1)
            return false;
        const char *tmpl = p->kernels[the->kernel].tmpl;
        if (T < 8 && !(!strcmp(tmpl, "matmul") && the->row_tile == 8)) /* the fewest: the eight-row kernel */
            return false;
        if (T >= CG_MMQ_MIN_T && !(!strcmp(tmpl, "mmq") && !the->max_T)) /* the most: the full tiles */
            return false;
    }
    return true;
}

/* A matmul_id kernel strides through its expert stack W[n_expert, N, K] by
 * rows of K (the last dimension) and experts of N such rows: its
 * ROW_BYTES and EXPERT_BYTES are W's (a row of dim[1] = N bytes was right
 * only where N == K, and the GPU read the wrong weights for Mixtral-shaped
 * experts). */
static void check_matmul_id(const ir_graph *g, const cg_program *p, const cg_launch *l)
{
    const ir_node *w = NULL;
    for (uint32_t i = 0; i < g->n_nodes && !w; i++)
        if (g->nodes[i]->id == l->arg[1])
            w = g->nodes[i];
    CU_ASSERT_TRUE_FATAL(w && w->op == IR_OP_WEIGHT && w->type.rank == 3);
    const ggml_type_traits *tt = ggml_type_get(w->type.elem);
    long long row = (long long)(w->type.dim[2] / tt->block_size * (int64_t)tt->type_size);
    char want[96];
    snprintf(want, sizeof want, "#define ROW_BYTES %lld ", row);
    CU_ASSERT_PTR_NOT_NULL(strstr(p->kernels[l->kernel].source, want));
    snprintf(want, sizeof want, "#define EXPERT_BYTES %lld ", row * (long long)w->type.dim[1]);
    CU_ASSERT_PTR_NOT_NULL(strstr(p->kernels[l->kernel].source, want));
}

/* The plan's launch rules (codegen.c): every matmul or attention group
 * whose rows are the step's tokens has a decode launch (T = 1 only; a
 * matmul's one row a block) and a prefill launch (T > 1 only); an actq
 * launch runs at every T, or for prefill only when a decode launch's
 * quantize-out tail converts the decode row instead (a launch that carries
 * the tail counters); a row-wise launch runs at every T, or is the decode
 * step's merge of several groups, the first of which has its own prefill
 * launch (a rope_kv group that the decode attention runs has its prefill
 * launch only, and so has a pair of row-wise groups that a product's row
 * tail does at decode: gemma's post-norm and residual; at one row they have
 * no launch); grids cover the rows. A decode step never needs more launches
 * than a prefill step, and every arch needs at most 5 a layer (Q/K/V; the
 * decode attention, which runs the q/k norms, RoPE, the query scale and the
 * cache stores; the output product; gate/up; down, each product converting
 * the next one's input in its tail, post-norms included) and 3 more (the
 * embedding, its conversion, the output product), except with f16 / bf16
 * weights, whose rounded inputs no tail makes yet, and gemma's with f32
 * weights, which need no conversion and so have no tail to do the norms. */
static void check_launches(const ir_graph *g, const cg_program *p, const char *arch, const char *type, int per_layer)
{
    /* the scratch a program asks for is sized by its rows, never a
     * symbolic dimension's negative value (a batch graph's O rows once made
     * the expert sums' counters wrap the workspace's size) */
    CU_ASSERT_TRUE(p->split_bytes < (1ull << 30) && p->qtail_bytes < (1ull << 30) && p->ksplit_bytes < (1ull << 30) &&
                   p->moesum_bytes < (1ull << 30));
    bool sums = false;
    for (uint32_t i = 0; i < p->n_launches; i++)
        sums |= has_arg(&p->launches[i], CG_ARG_MOESUM);
    CU_ASSERT_EQUAL(sums, p->moesum_bytes > 0);
    bool tail = false;
    for (uint32_t i = 0; i < p->n_launches; i++)
        tail |= has_arg(&p->launches[i], CG_ARG_QTAIL) && p->launches[i].only_T != -1;
    for (uint32_t i = 0; i < p->n_launches; i++) {
        const cg_launch *l = &p->launches[i];
        const char *tmpl = p->kernels[l->kernel].tmpl;
        CU_ASSERT_TRUE(l->grid_x > 0 && l->row_tile > 0 && l->n_args > 0);
        /* bounds on T: the full tiles from CG_MMQ_MIN_T rows, the few-row tiles and the eight-row products below */
        CU_ASSERT_TRUE(!l->min_T || !strcmp(tmpl, "mmq"));
        CU_ASSERT_TRUE(!l->max_T || ((!strcmp(tmpl, "matmul") || !strcmp(tmpl, "mmq")) && l->only_T == -1));
        CU_ASSERT_TRUE(l->group > 0 && l->group <= g->n_groups);
        if (!strcmp(tmpl, "attention_decode")) { /* a decode step's only */
            CU_ASSERT_TRUE(l->only_T == 1 && l->rows == IR_DIM_T && partner(p, i));
        } else if (!strcmp(tmpl, "mmq")) { /* a prefill step's only, of many rows, on the arch's matrix units */
            CU_ASSERT_TRUE(l->only_T == -1 && l->rows == IR_DIM_T && partner(p, i) && l->row_tile >= 32);
            CU_ASSERT_TRUE(l->min_T >= 8 && one_per_T(p, l->group));
        } else if (!strcmp(tmpl, "attention_mma")) { /* the same, 16 query rows a wavefront */
            CU_ASSERT_TRUE(l->only_T == -1 && l->rows == IR_DIM_T && partner(p, i) && l->row_tile % 16 == 0);
        } else if ((!strcmp(tmpl, "matmul") || !strcmp(tmpl, "attention")) && l->rows == IR_DIM_T) {
            CU_ASSERT_TRUE(l->only_T == 1 || l->only_T == -1);
            if (!strcmp(tmpl, "matmul"))
                CU_ASSERT_EQUAL(l->row_tile == 1, l->only_T == 1);
            CU_ASSERT_TRUE(partner(p, i));
        } else if (!strcmp(tmpl, "matmul_id")) { /* every step, or (grouped by expert) decode and prefill apart */
            CU_ASSERT_TRUE(l->only_T == 0 || partner(p, i));
            check_matmul_id(g, p, l);
        } else if (!strcmp(tmpl, "moe_sort")) { /* a prefill step's, right before its group's grouped products */
            const cg_launch *next = i + 1 < p->n_launches ? &p->launches[i + 1] : NULL;
            CU_ASSERT_TRUE(l->only_T == -1 && next && next->group == l->group && next->only_T == -1 &&
                           !strcmp(p->kernels[next->kernel].tmpl, "matmul_id") &&
                           strstr(p->kernels[next->kernel].source, "#define GROUPED 1 ") != NULL);
        } else if (!strcmp(tmpl, "actq")) {
            CU_ASSERT_TRUE(l->only_T == 0 || (l->only_T == -1 && tail));
        } else if (!strcmp(tmpl, "rowwise") && l->only_T != 0) {
            CU_ASSERT_TRUE(l->rows == IR_DIM_T && (l->only_T == -1 || partner(p, i)));
        } else {
            CU_ASSERT_EQUAL(l->only_T, 0);
        }
    }
    uint32_t decode = cg_step_launches(p, true), prefill = cg_step_launches(p, false);
    CU_ASSERT_TRUE(decode <= prefill);
    /* f32 products read their input as it is: no tail, so the post-norms (gemma's, glm4's) keep their kernels */
    bool post_norms = !strncmp(arch, "gemma", 5) || !strcmp(arch, "glm4");
    bool exempt = !strcmp(type, "f16") || !strcmp(type, "bf16") || (!strcmp(type, "f32") && post_norms);
    /* + 1: the decode attention's output is converted for the O product by
     * an actq launch of its own, faster than the attention's tail
     * (codegen.c attn_qtail) */
    uint32_t most = (uint32_t)((per_layer ? per_layer : 5) + 1) * g->model.n_layer + 3;
    if (!exempt && decode > most)
        printf("\n  %s %s: %u decode launches for %u layers", arch, type, decode, g->model.n_layer);
    CU_ASSERT_TRUE(exempt || decode <= most);
}

/* The batch graph of a session of several sequences (rows of any
 * sequences, the logits of the last O) rendered for a cache in blocks
 * (codegen.h's cg_paging): every kernel that stores or reads the cache
 * finds a row's block through the table (rf_kv_row), the attention is the
 * one-row-a-block kernel that takes each row's own position (neither the
 * decode kernel, which assumes the step's one row is at P, nor the tiles,
 * which assume consecutive rows of one sequence), and the products of the
 * O rows have a decode and a many-row launch as the T rows' do, so O rows
 * read the weights once. */
static void check_paged(const ir_graph *g, const cg_program *p, const char *what)
{
    CU_ASSERT_TRUE(p->paged);
    for (uint32_t i = 0; i < p->n_launches; i++) {
        const cg_launch *l = &p->launches[i];
        const cg_kernel *k = &p->kernels[l->kernel];
        CU_ASSERT_TRUE(strcmp(k->tmpl, "attention_decode") && strcmp(k->tmpl, "attention_mma"));
        CU_ASSERT_PTR_NOT_NULL(strstr(k->source, "#define RF_PAGED 1"));
        bool cache = false;
        for (uint32_t a = 0; a < l->n_args; a++)
            for (uint32_t j = 0; j < g->n_nodes && l->arg[a] < CG_ARG_SCRATCH; j++)
                cache |= g->nodes[j]->id == l->arg[a] && g->nodes[j]->op == IR_OP_KV_STORE;
        if (cache && !strstr(k->source, "rf_kv_row(past"))
            printf("\n  %s: kernel %s touches the cache without the block table", what, k->name);
        CU_ASSERT_TRUE(!cache || strstr(k->source, "rf_kv_row(past") != NULL);
        if (l->rows == IR_DIM_O && (!strcmp(k->tmpl, "matmul") || !strcmp(k->tmpl, "mmq")))
            CU_ASSERT_TRUE(l->only_T != 0 && partner(p, i));
    }
    CU_ASSERT_TRUE(cg_step_launches(p, true) <= cg_step_launches(p, false));
}

static bool paged_arch(const char *arch)
{
    static const char *const archs[] = {"llama", "gemma2", "qwen3", "cohere2", "qwen3moe", "gpt-oss"};
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(arch, archs[i]))
            return true;
    return false;
}

static const cg_paging PAGING = {.pos = 576, .seq = 1152, .table = 1728, .stride = 8, .shift = 5};

/* model f's graph as io imports it, planned for steps of max_tokens rows
 * (paged: 4 sequences' batch graph, rendered for an f16 cache in blocks)
 * and rendered for every target that takes arch and type; its kernels join the
 * targets' builds */
static void check_colls(const ir_graph *g, const cg_program *p, const char *what);

static int generate_variant(gguf_file *f, const char *what, const char *arch, const char *type, const import_options *io,
                            bool paged)
{
    rf_error err = {0};
    ir_graph *g = NULL;
    ir_pipeline_options po = {.max_tokens = paged ? 4 + 512 : 512, .max_out = paged ? 4 : 0};
    int ok = import_model(f, io, &g, &err) == RF_OK && ir_run_pipeline(g, &po, &err) == RF_OK;
    for (size_t t = 0; ok && t < N_TARGETS; t++) {
        if (!target_takes(&TARGETS[t], arch, type))
            continue;
        cg_program *p = NULL;
        cg_options copt = {.kv_f16 = paged, .paged = paged ? &PAGING : NULL};
        ok = cg_generate(g, &TARGETS[t].arch, &copt, &p, &err) == RF_OK && add_kernels(&TARGETS[t], p) == 0;
        if (ok && paged)
            check_paged(g, p, what);
        if (ok && io->tp_world > 1)
            check_colls(g, p, what);
        cg_program_free(p);
    }
    if (!ok)
        printf("\n  %s: %s", what, err.msg);
    if (ok)
        CU_ASSERT_EQUAL(test_check_memplan(g, what), 0);
    ir_graph_free(g);
    return ok;
}

/* A tensor-parallel rank's plan (runtime/tp.c, codegen's cg_coll): a stop
 * at each of its collectives, in graph order (an all_reduce after each
 * layer's attention and FFN (or experts') outputs, the logits' all_gather
 * last), each where the launches before it are exactly those of the groups
 * before its node, and a launch after it reading the node. */
static void check_colls(const ir_graph *g, const cg_program *p, const char *what)
{
    uint32_t want = 2 * g->model.n_layer + 1;
    if (p->n_colls != want)
        printf("\n  %s: %u collectives in the plan, %u in the graph", what, p->n_colls, want);
    CU_ASSERT_EQUAL_FATAL(p->n_colls, want);
    for (uint32_t c = 0; c < p->n_colls; c++) {
        const cg_coll *k = &p->colls[c];
        const ir_node *n = NULL;
        for (uint32_t i = 0; i < g->n_nodes && !n; i++)
            n = g->nodes[i]->id == k->node ? g->nodes[i] : NULL;
        CU_ASSERT_TRUE_FATAL(n != NULL);
        CU_ASSERT_EQUAL(n->op, c + 1 < p->n_colls ? IR_OP_ALL_REDUCE : IR_OP_ALL_GATHER);
        CU_ASSERT_TRUE(k->at <= p->n_launches && (!c || p->colls[c - 1].at <= k->at));
        for (uint32_t i = 0; i < p->n_launches; i++) /* before it: earlier groups' launches; after: later ones' */
            CU_ASSERT_EQUAL(i < k->at, p->launches[i].group < n->group);
        bool read = k->at == p->n_launches; /* the last: the output the executor copies */
        for (uint32_t i = k->at; i < p->n_launches && !read; i++)
            read = has_arg(&p->launches[i], n->id);
        CU_ASSERT_TRUE(read);
    }
}

/* rank 0 of a model split in two by tensor parallelism */
static int generate_tp(gguf_file *f, const char *arch, const char *type)
{
    char what[64];
    snprintf(what, sizeof what, "%s %s, tensor-parallel rank 0 of 2", arch, type);
    return generate_variant(f, what, arch, type, &(import_options){.n_ctx = 256, .tp_rank = 0, .tp_world = 2}, false);
}

/* the batch graph of 4 sequences, rendered paged */
static int generate_paged(gguf_file *f, const char *arch, const char *type)
{
    char what[64];
    snprintf(what, sizeof what, "%s %s, batch graph", arch, type);
    return generate_variant(f, what, arch, type, &(import_options){.n_ctx = 256, .out_rows = true}, true);
}

/* The GPU's part of a model split across the GPU and the CPU
 * (runtime.h, gpu_layers): the embedding and the first of the two layers,
 * ending in their residual rows, for one sequence and (paged) several */
static int generate_front(gguf_file *f, const char *arch, const char *type)
{
    char what[64];
    snprintf(what, sizeof what, "%s %s, layer 0 of 2", arch, type);
    return generate_variant(f, what, arch, type, &(import_options){.n_ctx = 256, .layer_end = 1}, false) &&
           generate_variant(f, what, arch, type, &(import_options){.n_ctx = 256, .layer_end = 1}, true);
}

static void generate_all(void)
{
    for (size_t t = 0; t < N_TARGETS; t++) {
        rf_error err = {0};
        CU_ASSERT_EQUAL_FATAL(cg_arch_parse(TARGETS[t].name, &TARGETS[t].arch, &err), RF_OK);
        TARGETS[t].all = calloc(1, sizeof *TARGETS[t].all);
        CU_ASSERT_PTR_NOT_NULL_FATAL(TARGETS[t].all);
        arena_init(&TARGETS[t].all->arena);
        TARGETS[t].all->arch = TARGETS[t].arch;
    }
    char vocab[4200], model[4200], cmd[12000];
    snprintf(vocab, sizeof vocab, "%s/ggml-vocab-llama-spm.gguf", test_ref_models_dir());
    CU_ASSERT_EQUAL_FATAL(access(vocab, R_OK), 0);
    for (size_t a = 0; a < N_CASES; a++)
        for (size_t ty = 0; ty < N_TYPES; ty++) {
            if (!case_takes(&CASES[a], TYPES[ty]))
                continue;
            snprintf(model, sizeof model, "%s/%s-%s.gguf", test_tmp_dir(), CASES[a].arch, TYPES[ty]);
            snprintf(cmd, sizeof cmd,
                     "%s/tests/rf_gen_model --arch %s --vocab %s " CONFORMANCE_SHAPE " --seed %zu %s --type %s -t 2 "
                     "--row-pool-all 64 -o %s 2>&1",
                     RF_BINARY_DIR, case_gen_arch(&CASES[a]), vocab, a + 1, CASES[a].extra, TYPES[ty], model);
            int status, sig;
            free(test_run(cmd, &status, &sig));
            CU_ASSERT_EQUAL(status, 0);
            if (status)
                continue;
            rf_error err = {0};
            gguf_file *f = NULL;
            ir_graph *g = NULL;
            ir_pipeline_options po = {.max_tokens = 512};
            int ok = gguf_open(model, &f, &err) == RF_OK &&
                     import_model(f, &(import_options){.n_ctx = 256}, &g, &err) == RF_OK &&
                     ir_run_pipeline(g, &po, &err) == RF_OK;
            /* the few-row tiles (codegen.c few_min_t) differ from the full
             * ones in their shape constants only: rendered and built for
             * llama in types of every staging form (f16 tiles; int8 tiles
             * of 32-element blocks, of K-quants, of the Q4_K_M mix, of
             * MXFP4 and IQ4_XS), the rest without them
             * (ROCMFORGE_TUNE_FEW_T 128: the eight-row kernel up to the
             * full tiles), which keeps the build time in bounds and checks
             * both plans' launch rules */
            static const char *const few_types[] = {"f16", "q4_0", "q8_0", "q6_k", "mxfp4", "q4_k_m", "iq4_xs"};
            bool few = false;
            for (size_t i = 0; i < sizeof few_types / sizeof few_types[0]; i++)
                few |= !strcmp(CASES[a].arch, "llama") && !strcmp(TYPES[ty], few_types[i]);
            setenv("ROCMFORGE_TUNE_FEW_T", few ? "16" : "128", 1);
            /* the MoE kernels not yet run on a GPU (codegen.c moe_grouped,
             * moe_tail), like the few-row tiles, for two types of each MoE
             * arch: Q8_0's 32-element blocks and the Q4_K_M mix's 256 */
            bool moe = !strcmp(TYPES[ty], "q8_0") || !strcmp(TYPES[ty], "q4_k_m");
            setenv("ROCMFORGE_MOE_GROUPED", moe ? "1" : "0", 1);
            setenv("ROCMFORGE_MOE_TAIL", moe ? "1" : "0", 1);
            for (size_t t = 0; ok && t < N_TARGETS; t++) {
                if (!target_takes(&TARGETS[t], CASES[a].arch, TYPES[ty]))
                    continue;
                /* an f16 KV cache changes the cache store and the attention
                 * kernels only: rendered for one weight type a model */
                for (int kvh = 0; ok && kvh < (strcmp(TYPES[ty], "q8_0") ? 1 : 2); kvh++) {
                    cg_program *p = NULL;
                    cg_options copt = {.kv_f16 = kvh == 1};
                    ok = cg_generate(g, &TARGETS[t].arch, &copt, &p, &err) == RF_OK && add_kernels(&TARGETS[t], p) == 0;
                    if (ok)
                        check_launches(g, p, CASES[a].arch, TYPES[ty], CASES[a].launches_per_layer);
                    TARGETS[t].models += ok && !kvh;
                    cg_program_free(p);
                }
            }
            unsetenv("ROCMFORGE_TUNE_FEW_T");
            unsetenv("ROCMFORGE_MOE_GROUPED");
            unsetenv("ROCMFORGE_MOE_TAIL");
            if (!ok)
                printf("\n  %s %s: %s", CASES[a].arch, TYPES[ty], err.msg);
            CU_ASSERT_TRUE(ok);
            /* the cache's kernels depend on the attention's shape, not the
             * weights' type: one type, the archs whose attention differs
             * (plain GQA, window and softcap, sinks, head dim 128, MoE) */
            if (ok && !strcmp(TYPES[ty], "q8_0") && paged_arch(CASES[a].arch))
                CU_ASSERT_TRUE(generate_paged(f, CASES[a].arch, TYPES[ty]));
            if (ok && !strcmp(TYPES[ty], "q4_k_m") && !strcmp(CASES[a].arch, "llama"))
                CU_ASSERT_TRUE(generate_front(f, CASES[a].arch, TYPES[ty]));
            /* a rank's plan: llama's, and gpt-oss's (every expert's columns,
             * their bias rows, the experts' sum before its all_reduce) */
            if (ok && !strcmp(TYPES[ty], "q8_0") && (!strcmp(CASES[a].arch, "llama") || !strcmp(CASES[a].arch, "gpt-oss")))
                CU_ASSERT_TRUE(generate_tp(f, CASES[a].arch, TYPES[ty]));
            char what[64];
            snprintf(what, sizeof what, "%s %s", CASES[a].arch, TYPES[ty]);
            if (ok)
                CU_ASSERT_EQUAL(test_check_memplan(g, what), 0);
            ir_graph_free(g);
            /* the graph the CPU conformance suite runs: every row's logits */
            g = NULL;
            snprintf(what, sizeof what, "%s %s, all logits", CASES[a].arch, TYPES[ty]);
            ok = import_model(f, &(import_options){.n_ctx = 256, .all_logits = true}, &g, &err) == RF_OK &&
                 ir_run_pipeline(g, &po, &err) == RF_OK;
            if (!ok)
                printf("\n  %s: %s", what, err.msg);
            CU_ASSERT_TRUE(ok);
            if (ok)
                CU_ASSERT_EQUAL(test_check_memplan(g, what), 0);
            ir_graph_free(g);
            gguf_close(f);
            unlink(model);
        }
}

/* ---- building: bundles of kernels, and the product's path -------------- */

/* Kernels a compiler invocation: hipRTC spends about 0.13 s on any program
 * (its front end and the device libraries) before the kernel's own work,
 * most of a product kernel's 0.2 s, so the suite compiles the distinct
 * kernels of all its models BUNDLE at a time, each in its own namespace
 * with the macros it defines undefined after it: the same text the
 * compiler would see alone. A bundle that fails is compiled again kernel by
 * kernel, which names the kernel and gives the compiler's message. */
#define BUNDLE 16
/* kernels the product's own path builds (cg_build_program through a fresh
 * cache; a second build must find them all there) */
#define PATH_KERNELS 24

typedef struct bundles {
    target_kernels *t;
    cg_compiler *cc;
    uint32_t n;                 /* bundles */
    void **code;                /* bundle b's code object */
    size_t *size;
    _Atomic uint32_t next;
    _Atomic uint32_t failed;    /* kernels that failed alone */
    pthread_mutex_t mu;         /* printing */
} bundles;

/* k's source as a bundle holds it */
static void append_kernel(FILE *f, const cg_kernel *k, uint32_t i)
{
    fprintf(f, "namespace rf_bundled_%u {\n%s\n}\n", i, k->source);
    for (const char *l = k->source; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *c = l + strspn(l, " \t");
        if (*c != '#')
            continue;
        c += 1 + strspn(c + 1, " \t");
        if (strncmp(c, "define", 6) || !strchr(" \t", c[6]))
            continue;
        c += 6 + strspn(c + 6, " \t");
        size_t n = strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789");
        if (n)
            fprintf(f, "#undef %.*s\n", (int)n, c);
    }
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *bundle_worker(void *arg)
{
    bundles *b = arg;
    const cg_program *all = b->t->all;
    for (uint32_t i; (i = atomic_fetch_add(&b->next, 1)) < b->n;) {
        uint32_t k0 = i * BUNDLE, k1 = k0 + BUNDLE < all->n_kernels ? k0 + BUNDLE : all->n_kernels;
        char *src = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&src, &len);
        if (!f) {
            atomic_fetch_add(&b->failed, 1);
            continue;
        }
        for (uint32_t k = k0; k < k1; k++)
            append_kernel(f, &all->kernels[k], k);
        fclose(f);
        char name[32];
        snprintf(name, sizeof name, "bundle_%u", i);
        rf_error err = {0};
        if (cg_compiler_build(b->cc, src, name, &b->code[i], &b->size[i], &err) != RF_OK) {
            uint32_t alone = 0;
            for (uint32_t k = k0; k < k1; k++) { /* which kernel, and why */
                void *code = NULL;
                size_t size = 0;
                rf_error e = {0};
                if (cg_compiler_build(b->cc, all->kernels[k].source, all->kernels[k].name, &code, &size, &e) != RF_OK) {
                    alone++;
                    pthread_mutex_lock(&b->mu);
                    printf("\n  %s: kernel %s: %s", b->t->name, all->kernels[k].name, e.msg);
                    pthread_mutex_unlock(&b->mu);
                }
                free(code);
            }
            atomic_fetch_add(&b->failed, alone ? alone : 1);
            if (!alone) { /* fails bundled only: the bundling is wrong */
                pthread_mutex_lock(&b->mu);
                printf("\n  %s: %s (every kernel of it builds alone)", b->t->name, err.msg);
                pthread_mutex_unlock(&b->mu);
            }
        }
        free(src);
    }
    return NULL;
}

/* the product's path for the first PATH_KERNELS kernels: cg_build_program
 * compiles each through a fresh cache, and a second build compiles none */
static void build_path(target_kernels *t, cg_compiler *cc)
{
    rf_error err = {0};
    cg_program *p = calloc(1, sizeof *p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    arena_init(&p->arena);
    p->arch = t->arch;
    p->n_kernels = t->all->n_kernels < PATH_KERNELS ? t->all->n_kernels : PATH_KERNELS;
    p->kernels = calloc(p->n_kernels, sizeof *p->kernels);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->kernels);
    for (uint32_t i = 0; i < p->n_kernels; i++) {
        const cg_kernel *k = &t->all->kernels[i];
        p->kernels[i] = (cg_kernel){.name = k->name, .tmpl = k->tmpl, .source = k->source, .block = k->block};
    }
    cg_cache *cache = NULL;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cache-%s", test_tmp_dir(), t->name);
    CU_ASSERT_EQUAL_FATAL(cg_cache_open(dir, &cache, &err), RF_OK);
    cg_build_stats st = {0}, again = {0};
    rf_status s = cg_build_program(p, cc, cache, 2, NULL, NULL, NULL, &st, &err);
    if (s != RF_OK)
        printf("\n  %s: %s", t->name, err.msg);
    CU_ASSERT_EQUAL(s, RF_OK);
    CU_ASSERT_EQUAL(st.compiled, p->n_kernels);
    for (uint32_t i = 0; i < p->n_kernels; i++)
        CU_ASSERT_PTR_NOT_NULL(p->kernels[i].code);
    /* a build drops every kernel's code first, then loads or compiles it */
    CU_ASSERT_EQUAL(cg_build_program(p, cc, cache, 2, NULL, NULL, NULL, &again, &err), RF_OK);
    CU_ASSERT_EQUAL(again.compiled, 0);
    CU_ASSERT_EQUAL(again.cached, p->n_kernels);
    cg_program_free(p); /* the code and the array; names and sources stay t->all's */
    cg_cache_close(cache);
}

static void build_target(target_kernels *t)
{
    size_t models = 0;
    for (size_t a = 0; a < N_CASES; a++)
        for (size_t ty = 0; ty < N_TYPES; ty++)
            models += case_takes(&CASES[a], TYPES[ty]) && target_takes(t, CASES[a].arch, TYPES[ty]);
    CU_ASSERT_EQUAL_FATAL(t->models, models);
    rf_error err = {0};
    cg_compiler *cc = NULL;
    CU_ASSERT_EQUAL_FATAL(cg_compiler_open(&t->arch, &cc, &err), RF_OK);
    const cg_program *all = t->all;
    bundles b = {.t = t, .cc = cc, .n = (all->n_kernels + BUNDLE - 1) / BUNDLE};
    b.code = calloc(b.n ? b.n : 1, sizeof *b.code);
    b.size = calloc(b.n ? b.n : 1, sizeof *b.size);
    CU_ASSERT_FATAL(b.code && b.size);
    pthread_mutex_init(&b.mu, NULL);
    double t0 = seconds_now();
    pthread_t helper;
    bool two = pthread_create(&helper, NULL, bundle_worker, &b) == 0;
    bundle_worker(&b);
    if (two)
        pthread_join(helper, NULL);
    CU_ASSERT_EQUAL(atomic_load(&b.failed), 0);
    printf("\n  %s: %u kernels of %u models compiled by %s, %u at a time, in %.1f s\n  ", t->name, all->n_kernels,
           t->models, cg_compiler_id(cc), BUNDLE, seconds_now() - t0);
    /* the prefill products and attentions of a matrix-unit arch multiply
     * on it: int8 tiles for quantized weights, f16 tiles for f16 weights
     * and for attention (gfx90a's MFMA, in the disassembly where LLVM-C is
     * built in; sm_90's mma.sync has no disassembler here) */
    uint32_t mmq = 0, fa = 0, mfma = 0;
    for (uint32_t i = 0; i < all->n_kernels; i++) {
        const cg_kernel *k = &all->kernels[i];
        bool attn = !strcmp(k->tmpl, "attention_mma");
        if (strcmp(k->tmpl, "mmq") && !attn)
            continue;
        mmq += !attn;
        fa += attn;
        const void *code = b.code[i / BUNDLE];
        if (t->arch.vendor != CG_AMD || !cg_amdgpu_available() || !code)
            continue;
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        CU_ASSERT_EQUAL(cg_code_disassemble(&t->arch, code, b.size[i / BUNDLE], k->name, f, &err), RF_OK);
        fclose(f);
        bool f16 = attn || strstr(k->name, "mmq_f16_") == k->name;
        mfma += text && strstr(text, f16 ? "v_mfma_f32_16x16x16f16" : "v_mfma_i32_16x16x16i8");
        free(text);
    }
    CU_ASSERT_EQUAL(mmq > 0, t->arch.mma);
    CU_ASSERT_EQUAL(fa > 0, t->arch.mma);
    if (t->arch.vendor == CG_AMD && cg_amdgpu_available())
        CU_ASSERT_EQUAL(mfma, mmq + fa);
    printf("%u prefill products and %u prefill attentions on the matrix units%s\n  ", mmq, fa,
           t->arch.vendor == CG_AMD && mmq && cg_amdgpu_available() ? ", each with its MFMA" : "");
    for (uint32_t i = 0; i < b.n; i++)
        free(b.code[i]);
    free(b.code);
    free(b.size);
    pthread_mutex_destroy(&b.mu);
    build_path(t, cc);
    cg_compiler_close(cc);
}

static void test_gfx90a(void) { build_target(&TARGETS[0]); }
static void test_sm90(void) { build_target(&TARGETS[1]); }
static void test_gfx1030(void) { build_target(&TARGETS[2]); }

static int cleanup(void)
{
    for (size_t t = 0; t < N_TARGETS; t++)
        cg_program_free(TARGETS[t].all);
    return 0;
}

int main(void)
{
    /* the kernels not yet run on a GPU (codegen.c's unverified()) are opt-in
     * at run time; they are rendered, checked and built here */
    setenv("ROCMFORGE_UNVERIFIED", "1", 1);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("kernels", NULL, cleanup);
    CU_add_test(s, "codegen for every conformance model, both targets", generate_all);
    CU_add_test(s, "hipRTC builds every kernel for gfx90a", test_gfx90a);
    CU_add_test(s, "NVRTC builds every kernel for sm_90", test_sm90);
    CU_add_test(s, "hipRTC builds every kernel for gfx1030", test_gfx1030);
    return test_main();
}
