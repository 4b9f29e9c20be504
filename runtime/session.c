/*
 * session.c: from a mapped GGUF to a session that evaluates tokens.
 *
 * The whole pipeline in one place: import → passes (verified after each) →
 * bind weights → backend prepare. Binding checks that each WEIGHT node's
 * tensor exists with the type and shape import recorded, so a backend never
 * has to revalidate the file. rt_eval splits a long prompt into steps of at
 * most the planned size and keeps the position bookkeeping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/import.h"
#include "ir/passes/passes.h"
#include "runtime/backend.h"
#include "support/error.h"

static rf_status bind_weights(rt_session *s, rf_error *err)
{
    ir_graph *g = s->graph;
    s->weights = calloc(g->next_id ? g->next_id : 1, sizeof *s->weights);
    if (!s->weights)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->op != IR_OP_WEIGHT)
            continue;
        const gguf_tensor *t = gguf_find_tensor(s->gguf, n->name);
        if (!t)
            return rf_fail(err, RF_E_NOTFOUND, "%s: tensor '%s' not found", gguf_path(s->gguf), n->name);
        /* the node is the tensor, or rows row0 .. of its outermost dimension */
        uint8_t r = n->type.rank;
        int64_t row0 = n->ia[0];
        bool same = t->type == n->type.elem && t->n_dims <= r + 1u && r >= 1 && row0 >= 0 &&
                    (uint64_t)row0 + (uint64_t)n->type.dim[0] <= t->ne[r - 1];
        for (uint8_t d = 1; same && d < r; d++)
            same = (int64_t)t->ne[r - 1 - d] == n->type.dim[d];
        if (!same)
            return rf_fail(err, RF_E_FORMAT, "%s: tensor '%s' does not match the imported graph's type or shape",
                           gguf_path(s->gguf), n->name);
        s->weights[n->id] = (const unsigned char *)t->data + (uint64_t)row0 * (t->n_bytes / t->ne[r - 1]);
    }
    return RF_OK;
}

/* The backend the name asks for; "auto" (or none) is the GPU when one can
 * be opened, else the CPU (rt_session_open tries in that order). */
static rf_status choose_backend(const char *name, const rt_backend **out, bool *fallback, rf_error *err)
{
    *fallback = false;
    if (!name || !strcmp(name, "auto")) {
        *out = &rt_backend_gpu;
        *fallback = true;
    } else if (!strcmp(name, "cpu")) {
        *out = &rt_backend_cpu;
    } else if (!strcmp(name, "gpu")) {
        *out = &rt_backend_gpu;
    } else {
        return rf_fail(err, RF_E_ARG, "unknown backend '%s' (cpu, gpu, auto)", name);
    }
    return RF_OK;
}

static rf_status prepare_backend(rt_session *s, const rt_backend *b, rf_error *err)
{
    s->backend = b;
    rf_status st = b->available(err);
    if (st == RF_OK)
        st = b->prepare(s, err);
    if (st != RF_OK && s->state) {
        b->release(s);
        s->state = NULL;
    }
    return st;
}

rf_status rt_session_open(const gguf_file *f, const rt_options *opt, rt_session **out, rf_error *err)
{
    *out = NULL;
    rt_session *s = calloc(1, sizeof *s);
    if (!s)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    s->gguf = f;
    s->opt = opt ? *opt : (rt_options){0};
    rf_status st;
    import_options io = {.all_logits = s->opt.all_logits, .n_ctx = s->opt.n_ctx};
    if ((st = import_model(f, &io, &s->graph, err)) != RF_OK)
        goto fail;
    ir_pipeline_options po = {.print_after = s->opt.print_after,
                              .disable = s->opt.disable_pass,
                              .print_to = stderr,
                              .max_tokens = s->opt.n_batch ? s->opt.n_batch : 512};
    if ((st = ir_run_pipeline(s->graph, &po, err)) != RF_OK)
        goto fail;
    s->n_vocab = s->graph->model.n_vocab;
    s->n_ctx = s->opt.n_ctx ? s->opt.n_ctx : s->graph->model.n_ctx;
    if (!s->n_ctx) {
        st = rf_fail(err, RF_E_FORMAT, "%s: the model states no context length; pass --ctx", gguf_path(f));
        goto fail;
    }
    uint32_t T = (uint32_t)s->graph->plan_tokens;
    s->tokens = malloc(T * sizeof *s->tokens);
    s->pos = malloc(T * sizeof *s->pos);
    if (!s->tokens || !s->pos) {
        st = rf_fail(err, RF_E_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = bind_weights(s, err)) != RF_OK)
        goto fail;
    /* the rows one step writes: T with all_logits, else the last one */
    s->n_out_rows_max = s->opt.all_logits ? T : 1;
    s->scratch_logits = malloc((size_t)s->n_out_rows_max * s->n_vocab * sizeof(float));
    if (!s->scratch_logits) {
        st = rf_fail(err, RF_E_NOMEM, "out of memory");
        goto fail;
    }
    const rt_backend *b = NULL;
    bool fallback = false;
    if ((st = choose_backend(s->opt.backend, &b, &fallback, err)) != RF_OK)
        goto fail;
    if ((st = prepare_backend(s, b, err)) != RF_OK && fallback && (st == RF_E_UNSUPPORTED || st == RF_E_NOMEM)) {
        /* no usable GPU (none, no driver or compiler for it, an arch the
         * compiler cannot build, too little memory): say why once, run on the
         * CPU. A kernel that fails to build is a bug and is reported. */
        snprintf(s->fallback, sizeof s->fallback, "%.250s; running on the CPU", err && err->msg[0] ? err->msg : "no GPU");
        if (s->opt.warn)
            s->opt.warn(s->opt.cb_ctx, s->fallback);
        if (err)
            *err = (rf_error){0};
        st = prepare_backend(s, &rt_backend_cpu, err);
    }
    if (st != RF_OK) {
        s->backend = NULL;
        goto fail;
    }
    *out = s;
    return RF_OK;
fail:
    rt_session_close(s);
    return st;
}

void rt_session_close(rt_session *s)
{
    if (!s)
        return;
    if (s->backend && s->state)
        s->backend->release(s);
    ir_graph_free(s->graph);
    free(s->weights);
    free(s->tokens);
    free(s->pos);
    free(s->scratch_logits);
    free(s);
}

/* rt_eval and rt_eval_greedy: logits receives the rows, or, with next set,
 * only the last row's argmax is wanted */
static rf_status eval_steps(rt_session *s, const int32_t *tokens, uint32_t n, float *logits, int32_t *next,
                            rf_error *err)
{
    if (n == 0)
        return rf_fail(err, RF_E_ARG, "no tokens to evaluate");
    if ((uint64_t)s->n_past + n > s->n_ctx)
        return rf_fail(err, RF_E_ARG, "context full: %u past + %u new tokens exceed the context of %u", s->n_past, n,
                       s->n_ctx);
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= s->n_vocab)
            return rf_fail(err, RF_E_ARG, "token %u: id %d is outside the vocabulary (0..%u)", i, tokens[i],
                           s->n_vocab - 1);
    uint32_t step = (uint32_t)s->graph->plan_tokens, start = s->n_past;
    for (uint32_t done = 0; done < n;) {
        uint32_t T = n - done < step ? n - done : step;
        for (uint32_t i = 0; i < T; i++) {
            s->tokens[i] = tokens[done + i];
            s->pos[i] = (int32_t)(s->n_past + i);
        }
        rf_status st;
        bool last = done + T == n;
        if (next && last && s->backend->eval_argmax) {
            st = s->backend->eval_argmax(s, T, next, err);
        } else if (next) {
            /* greedy: only the last step's last row matters */
            st = s->backend->eval(s, T, s->scratch_logits, err);
            if (st == RF_OK && last) {
                const float *l = s->scratch_logits + (s->opt.all_logits ? (size_t)(T - 1) * s->n_vocab : 0);
                int32_t best = 0;
                for (uint32_t v = 1; v < s->n_vocab; v++)
                    if (l[v] > l[best])
                        best = (int32_t)v;
                *next = best;
            }
        } else {
            /* all_logits: each step writes its rows; otherwise only the last
             * step matters and every step may write the one row */
            float *out = s->opt.all_logits ? logits + (size_t)done * s->n_vocab : logits;
            st = s->backend->eval(s, T, out, err);
        }
        if (st != RF_OK) {
            s->n_past = start; /* the cache beyond start is garbage now: forget it */
            return st;
        }
        s->n_past += T;
        done += T;
    }
    return RF_OK;
}

rf_status rt_eval(rt_session *s, const int32_t *tokens, uint32_t n, float *logits, rf_error *err)
{
    return eval_steps(s, tokens, n, logits, NULL, err);
}

rf_status rt_eval_greedy(rt_session *s, const int32_t *tokens, uint32_t n, int32_t *next, rf_error *err)
{
    return eval_steps(s, tokens, n, NULL, next, err);
}

const char *rt_fallback_reason(const rt_session *s) { return s->fallback[0] ? s->fallback : NULL; }

uint32_t rt_n_past(const rt_session *s) { return s->n_past; }
uint32_t rt_n_vocab(const rt_session *s) { return s->n_vocab; }
uint32_t rt_n_ctx(const rt_session *s) { return s->n_ctx; }
const ir_graph *rt_graph(const rt_session *s) { return s->graph; }
const char *rt_backend_name(const rt_session *s) { return s->backend->name; }

void rt_reset(rt_session *s)
{
    s->n_past = 0;
    if (s->backend->reset)
        s->backend->reset(s);
}
