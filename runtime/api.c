/*
 * api.c: the public rf_session (rocmforge.h) over a runtime session.
 *
 * A thin layer: the options become rt_options, the calls rt_eval_seq,
 * rt_step and rt_decode_batch. rf_session_eval wants only the last token's logits, so
 * it asks the runtime for exactly those (a graph with the last-row cut).
 */
#include <math.h>
#include <stdlib.h>

#include "codegen/cache.h"
#include "frontend/model.h"
#include "runtime/runtime.h"
#include "support/error.h"

struct rf_session {
    rt_session *rt;
    float *scratch; /* (scratch_rows x n_vocab) logits nobody asked for */
    uint32_t scratch_rows;
};

rf_status rf_session_open(rf_model *m, const rf_session_options *opt, rf_session **out, rf_error *err)
{
    *out = NULL;
    rf_session_options o = opt ? *opt : (rf_session_options){0};
    rt_options ro = {.backend = o.backend,
                     .n_threads = o.n_threads,
                     .n_ctx = o.n_ctx,
                     .n_seq = o.n_seq,
                     .kv_positions = o.kv_positions,
                     .n_batch = o.n_ubatch,
                     .kv_f16 = o.kv_f16,
                     .cache_dir = o.cache_dir,
                     .plan = o.plan,
                     .no_graph = o.no_graph,
                     .gpu_layers = o.gpu_layers,
                     .gpu_mem_limit = o.gpu_mem_limit,
                     .tp = o.tp,
                     .tp_rank = o.tp_rank,
                     .tp_world = o.tp_world,
                     .tp_addr = o.tp_addr,
                     .all_logits = o.all_logits,
                     .pooling = o.pooling,
                     .progress = o.progress,
                     .warn = o.warn,
                     .cb_ctx = o.cb_ctx};
    rf_session *s = calloc(1, sizeof *s);
    if (!s)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    rf_status st = rt_session_open(rf_model_file(m), &ro, &s->rt, err);
    s->scratch_rows = o.all_logits ? (o.n_ubatch ? o.n_ubatch : 512) : 1; /* what a step writes, at most */
    if (st == RF_OK && !(s->scratch = malloc((size_t)s->scratch_rows * rt_n_vocab(s->rt) * sizeof *s->scratch)))
        st = rf_fail(err, RF_E_NOMEM, "out of memory");
    if (st != RF_OK) {
        rf_session_close(s);
        return st;
    }
    *out = s;
    return RF_OK;
}

void rf_session_close(rf_session *s)
{
    if (!s)
        return;
    rt_session_close(s->rt);
    free(s->scratch);
    free(s);
}

rf_status rf_session_eval(rf_session *s, uint32_t seq, const int32_t *ids, size_t n, float *logits,
                          rf_error *err)
{
    if (n > UINT32_MAX)
        return rf_fail(err, RF_E_ARG, "%zu tokens in one call", n);
    if (logits || n <= s->scratch_rows)
        return rt_eval_seq(s->rt, seq, ids, (uint32_t)n, logits ? logits : s->scratch, err);
    /* every row's logits, and nowhere to put them: in pieces the scratch holds */
    rf_status st = RF_OK;
    for (size_t done = 0; done < n && st == RF_OK; done += s->scratch_rows)
        st = rt_eval_seq(s->rt, seq, ids + done, (uint32_t)(n - done < s->scratch_rows ? n - done : s->scratch_rows),
                         s->scratch, err);
    return st;
}

rf_status rf_session_eval_greedy(rf_session *s, uint32_t seq, const int32_t *ids, size_t n, int32_t *next,
                                 rf_error *err)
{
    if (n > UINT32_MAX)
        return rf_fail(err, RF_E_ARG, "%zu tokens in one call", n);
    return rt_eval_seq_greedy(s->rt, seq, ids, (uint32_t)n, next, err);
}

rf_status rf_session_decode_batch(rf_session *s, size_t n, const uint32_t *seq, const int32_t *ids,
                                  float *logits, rf_error *err)
{
    if (n > UINT32_MAX)
        return rf_fail(err, RF_E_ARG, "a batch of %zu", n);
    return rt_decode_batch(s->rt, (uint32_t)n, seq, ids, logits, err);
}

rf_status rf_session_step(rf_session *s, size_t n, const uint32_t *seq, const int32_t *ids, const bool *want,
                          float *logits, rf_error *err)
{
    if (n > UINT32_MAX)
        return rf_fail(err, RF_E_ARG, "a step of %zu rows", n);
    return rt_step(s->rt, (uint32_t)n, seq, ids, want, logits, err);
}

/* llama.cpp's common_embd_normalize, the same sums in the same precision */
static void embd_normalize(float *v, uint32_t n, int norm)
{
    double sum = 0.0;
    if (norm == -1) {
        sum = 1.0;
    } else if (norm == 0) { /* max absolute, to the int16 range */
        for (uint32_t i = 0; i < n; i++)
            sum = fabsf(v[i]) > sum ? fabsf(v[i]) : sum;
        sum /= 32760.0;
    } else if (norm == 2) {
        for (uint32_t i = 0; i < n; i++)
            sum += v[i] * v[i];
        sum = sqrt(sum);
    } else { /* the p-norm (1: taxicab) */
        for (uint32_t i = 0; i < n; i++)
            sum += pow(fabsf(v[i]), norm);
        sum = pow(sum, 1.0 / norm);
    }
    const float scale = sum > 0.0 ? (float)(1.0 / sum) : 0.0f;
    for (uint32_t i = 0; i < n; i++)
        v[i] *= scale;
}

rf_status rf_embed(rf_session *s, const int32_t *ids, size_t n, int normalize, float *out, rf_error *err)
{
    if (n > UINT32_MAX)
        return rf_fail(err, RF_E_ARG, "%zu tokens in one call", n);
    if (normalize < -1)
        return rf_fail(err, RF_E_ARG, "normalize %d: -1 (none), 0 (max absolute), 1, 2 (euclidean) or a p-norm p > 2",
                       normalize);
    rf_status st = rt_embed(s->rt, ids, (uint32_t)n, out, err);
    if (st != RF_OK)
        return st;
    uint32_t E = rt_n_embd(s->rt);
    size_t rows = rf_session_pooling(s) == RF_POOLING_NONE ? n : 1;
    for (size_t r = 0; r < rows; r++)
        embd_normalize(out + r * E, E, normalize);
    return RF_OK;
}

bool rf_session_is_embedding(const rf_session *s) { return rt_is_embedding(s->rt); }
uint32_t rf_session_n_embd(const rf_session *s) { return rt_n_embd(s->rt); }

rf_pooling rf_session_pooling(const rf_session *s)
{
    return rt_is_embedding(s->rt) ? (rf_pooling)(rt_graph(s->rt)->model.pooling + 1) : RF_POOLING_MODEL;
}

uint32_t rf_session_n_past(const rf_session *s, uint32_t seq) { return rt_seq_n_past(s->rt, seq); }
void rf_session_forget(rf_session *s, uint32_t seq) { rt_seq_reset(s->rt, seq); }
void rf_session_truncate(rf_session *s, uint32_t seq, uint32_t n) { rt_seq_truncate(s->rt, seq, n); }
uint32_t rf_session_n_ctx(const rf_session *s) { return rt_n_ctx(s->rt); }

void rf_session_kv_blocks(const rf_session *s, uint32_t *used, uint32_t *total, uint32_t *block)
{
    rt_kv_blocks(s->rt, used, total);
    *block = RT_KV_BLOCK;
}
uint32_t rf_session_n_seq(const rf_session *s) { return rt_n_seq(s->rt); }
uint32_t rf_session_n_vocab(const rf_session *s) { return rt_n_vocab(s->rt); }
const char *rf_session_backend(const rf_session *s) { return rt_backend_name(s->rt); }
uint32_t rf_session_gpu_layers(const rf_session *s) { return rt_gpu_layers(s->rt); }
const char *rf_session_fallback(const rf_session *s) { return rt_fallback_reason(s->rt); }

const char *rf_session_device(const rf_session *s) { return rt_gpu_device_name(s->rt); }

bool rf_session_build_stats(const rf_session *s, rf_build_stats *out)
{
    const cg_build_stats *b = rt_gpu_build_stats(s->rt);
    if (b)
        *out = (rf_build_stats){.compiled = b->compiled, .cached = b->cached, .seconds = b->seconds};
    return b != NULL;
}

bool rf_session_profile(const rf_session *s, rf_profile *out)
{
    const rt_profile *p = rt_session_profile(s->rt);
    if (p)
        *out = (rf_profile){.n = p->n,
                            .name = p->name,
                            .seconds = {p->seconds[0], p->seconds[1]},
                            .calls = {p->calls[0], p->calls[1]},
                            .bytes = {p->bytes[0], p->bytes[1]},
                            .copy_gbs = p->copy_gbs};
    return p != NULL;
}

void rf_session_profile_reset(rf_session *s) { rt_profile_reset(s->rt); }
