/*
 * quantize.c: a model re-written in another file type (quantize.h).
 *
 * Three steps. Plan: every tensor's output type (quant_mix.c, called in the
 * output order, since its rules count), and a check that each tensor that
 * changes type can be read as f32 (F32, F16, BF16, or a type the CPU
 * dequantizes) and written in its new type; any failure is reported before
 * a byte is written. Header: IN's keys in IN's order, less the split keys
 * and general.quantization_version / general.file_type, which follow at the
 * end (llama.cpp's gguf_set_val_* removes a key and appends it), and the
 * tensors, deferred. Data: the writer asks for each tensor in turn; a kept
 * one is copied from the mapping, a converted one is made row by row, each
 * thread taking a contiguous run of rows and each row going through f32 in
 * that thread's own row buffer. Rows are independent in every type, so the
 * bytes do not depend on the number of threads.
 *
 * Memory: the mapping (paged in and out by the kernel), one output tensor
 * (the writer's buffer) and one f32 row per thread. The largest tensor
 * must fit in memory; the model need not.
 *
 * The converters are the CPU's scalar references: dequantizers bit for bit
 * ggml's to_float, quantizers bit for bit what ggml_quantize_chunk writes
 * with or without importance weights (cpu_quantize_file_fn). A row of
 * expert e of a 3-D weight takes the e-th slice of its tensor's entry in
 * the importance matrix. Unlike llama.cpp we do not validate the quantized
 * rows for NaN or infinity afterwards: a non-finite input weight goes
 * through as the quantizer makes it.
 *
 * The importance matrix is checked in the plan, not half way through the
 * data as llama.cpp does: an entry of the wrong size (but for token_embd,
 * which llama.cpp quantizes without weights then) or a tensor whose type
 * needs weights and has none fails the run before the output exists.
 *
 * Where the output differs from llama.cpp's on purpose: an IN with
 * general.alignment other than 32 keeps its alignment (llama.cpp copies the
 * key but lays out at 32, a file that contradicts itself).
 */
#include "runtime/quantize.h"

#include "frontend/gguf.h"
#include "frontend/imatrix.h"
#include "frontend/quant_mix.h"
#include "runtime/cpu/ops.h"
#include "runtime/cpu/quant.h"
#include "support/error.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GGML_QNT_VERSION 2 /* ggml's quantization format version, written by its quantizer */

/* Keys llama.cpp's quantizer drops: the output is one file. */
static const char *const DROPPED_KEYS[] = {"split.no", "split.count", "split.tensors.count"};

typedef struct planned {
    const gguf_tensor *t;
    char *name;
    ggml_type to;
    bool fallback;
    const float *qw;    /* importance weights: ne[2] slices of ne[0], or NULL */
} planned;

typedef struct qrun {
    const gguf_file *f;
    const rt_quantize_options *opt;
    const imatrix *imx;     /* NULL: none given */
    planned *plan;          /* in output order */
    size_t n;
    cpu_pool *pool;
    int n_threads;
    float *rows;            /* n_threads rows of the widest tensor */
    uint64_t row_cap;
    rt_quantize_stats stats;
} qrun;

/* One tensor's conversion, split over the pool. */
typedef struct conv_job {
    const uint8_t *src;
    uint8_t *dst;
    int64_t ne0, n_rows;
    size_t src_row, dst_row;
    cpu_to_float_fn to_float; /* NULL: the source rows are f32 already */
    cpu_quantize_row_fn quantize;
    const float *qw;        /* NULL, or one slice of ne0 per rows_per_mat rows */
    int64_t rows_per_mat;
    float *rows;
} conv_job;

static void convert_rows(void *ctx, int ith, int nth)
{
    const conv_job *j = ctx;
    int64_t r0 = j->n_rows * ith / nth, r1 = j->n_rows * (ith + 1) / nth;
    float *row = j->rows + (size_t)ith * (size_t)j->ne0;
    for (int64_t r = r0; r < r1; r++) {
        const float *x;
        if (j->to_float) {
            j->to_float(j->src + (size_t)r * j->src_row, row, j->ne0);
            x = row;
        } else {
            /* the data section and every tensor are aligned to >= 32 bytes */
            x = (const float *)(const void *)(j->src + (size_t)r * j->src_row);
        }
        const float *qw = j->qw ? j->qw + (size_t)(r / j->rows_per_mat) * (size_t)j->ne0 : NULL;
        j->quantize(x, j->dst + (size_t)r * j->dst_row, j->ne0, qw);
    }
}

static size_t row_bytes(ggml_type t, uint64_t ne0)
{
    const ggml_type_traits *tt = ggml_type_get((uint32_t)t);
    return (size_t)(ne0 / tt->block_size * tt->type_size);
}

static const char *type_name(ggml_type t)
{
    const ggml_type_traits *tt = ggml_type_get((uint32_t)t);
    return tt ? tt->name : "?";
}

static bool is_float(ggml_type t)
{
    return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16;
}

/* The writer's request for tensor index's bytes. It cannot fail: make_plan
 * checked every conversion. */
static bool fill_tensor(void *ctx, size_t index, void *buf, uint64_t n_bytes)
{
    qrun *q = ctx;
    const planned *p = &q->plan[index];
    const gguf_tensor *t = p->t;
    bool convert = p->to != t->type;
    if (q->opt->progress) {
        rt_quantize_progress pr = {
            .index = index + 1, .n_tensors = q->n, .name = p->name, .from = t->type, .to = p->to,
            .converted = convert, .requantized = convert && !is_float(t->type), .fallback = p->fallback,
            .weighted = convert && p->qw,
        };
        q->opt->progress(q->opt->ctx, &pr);
    }
    q->stats.bytes_in += t->n_bytes;
    q->stats.bytes_out += n_bytes;
    if (!convert) {
        RF_ASSERT(n_bytes == t->n_bytes);
        memcpy(buf, t->data, (size_t)n_bytes);
        return true;
    }
    conv_job j = {
        .src = t->data,
        .dst = buf,
        .ne0 = (int64_t)t->ne[0],
        .n_rows = (int64_t)(t->n_elements / t->ne[0]),
        .src_row = row_bytes(t->type, t->ne[0]),
        .dst_row = row_bytes(p->to, t->ne[0]),
        .to_float = t->type == GGML_TYPE_F32 ? NULL : cpu_quant_ref(t->type)->to_float,
        .quantize = cpu_quantize_file_fn(p->to),
        .qw = p->qw,
        .rows_per_mat = (int64_t)t->ne[1],
        .rows = q->rows,
    };
    RF_ASSERT(j.quantize && (uint64_t)j.n_rows * j.dst_row == n_bytes && t->ne[0] <= q->row_cap);
    cpu_pool_run(q->pool, convert_rows, &j);
    q->stats.n_converted++;
    q->stats.n_weighted += p->qw != NULL;
    if (!is_float(t->type))
        q->stats.n_requantized++;
    return true;
}

/* The importance weights of a tensor that changes type, and the checks
 * on them (llama.cpp's, in its order): an entry must have ne[0] values per
 * expert (token_embd's may not, and is then quantized without), and a type
 * that needs weights must get them (without an imatrix at all make_plan
 * has refused it already). */
static rf_status plan_weights(qrun *q, const qmix *mix, planned *p, rf_error *err)
{
    const gguf_tensor *t = p->t;
    const imatrix_entry *e = q->imx ? imatrix_find(q->imx, p->name) : NULL;
    if (e && t->ne[3] > 1)
        return rf_fail(err, RF_E_UNSUPPORTED, "%s: tensor '%s' is 4-D: importance data for it is not supported "
                       "(llama.cpp's quantizer reads it for 3-D weights only)", gguf_path(q->f), p->name);
    if (e) {
        const uint64_t want = t->ne[0] * t->ne[2];
        if (e->n_values == want)
            p->qw = e->values;
        else if (!qmix_imatrix_optional(p->name))
            return rf_fail(err, RF_E_FORMAT, "%s: entry '%s' has %llu values, tensor '%s' of %s needs %llu "
                           "(%llu columns x %llu experts)", q->imx->path, e->name, (unsigned long long)e->n_values,
                           p->name, gguf_path(q->f), (unsigned long long)want, (unsigned long long)t->ne[0],
                           (unsigned long long)t->ne[2]);
    }
    if (!q->imx || p->qw || !qmix_requires_imatrix(mix, p->name, p->to))
        return RF_OK;
    return rf_fail(err, RF_E_NOTFOUND, "%s: no entry for tensor '%s', which becomes %s and cannot be quantized "
                   "without one", q->imx->path, p->name, type_name(p->to));
}

/* Types for every tensor, in output order, and the checks that each
 * conversion can be done. */
static rf_status make_plan(qrun *q, const qmix_ftype *ft, rf_error *err)
{
    const gguf_file *f = q->f;
    size_t n = (size_t)gguf_n_tensors(f);
    q->n = n;
    q->plan = calloc(n ? n : 1, sizeof *q->plan);
    char **names = calloc(n ? n : 1, sizeof *names);
    size_t *order = calloc(n ? n : 1, sizeof *order);
    rf_status s = RF_OK;
    if (!q->plan || !names || !order) {
        s = rf_fail(err, RF_E_NOMEM, "quantize: out of memory for %zu tensors", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        names[i] = malloc((size_t)t->name.len + 1);
        if (!names[i]) {
            s = rf_fail(err, RF_E_NOMEM, "quantize: out of memory");
            goto done;
        }
        memcpy(names[i], t->name.ptr, (size_t)t->name.len);
        names[i][t->name.len] = 0;
    }
    qmix mix;
    if ((s = qmix_init(&mix, f, ft, q->opt->pure, q->imx != NULL, (const char *const *)names, n, err)) != RF_OK)
        goto done;
    if ((s = qmix_order((const char *const *)names, order, n, err)) != RF_OK)
        goto done;
    for (size_t k = 0; k < n; k++) {
        planned *p = &q->plan[k];
        p->t = gguf_tensor_at(f, order[k]);
        p->name = names[order[k]];
        names[order[k]] = NULL;
        s = qmix_tensor_type(&mix, p->name, p->t->ne, p->t->type, &p->to, &p->fallback, err);
        if (s != RF_OK) {
            rf_error_prefix(err, "%s", gguf_path(f));
            goto done;
        }
        q->stats.n_fallback += p->fallback;
        /* as llama.cpp, before any data and whether or not it converts */
        if (!q->imx && qmix_requires_imatrix(&mix, p->name, p->to)) {
            s = rf_fail(err, RF_E_ARG, "%s: tensor '%s': quantize type '%s' makes it %s, which needs an "
                        "importance matrix (--imatrix FILE)", gguf_path(f), p->name, q->opt->type, type_name(p->to));
            goto done;
        }
        if (p->to == p->t->type)
            continue;
        const cpu_quant_traits *in = cpu_quant_ref(p->t->type);
        if (p->t->type != GGML_TYPE_F32 && (!in || !in->to_float)) {
            s = rf_fail(err, RF_E_UNSUPPORTED, "%s: tensor '%s': cannot convert from %s to %s (no "
                        "dequantizer for %s)", gguf_path(f), p->name, type_name(p->t->type),
                        type_name(p->to), type_name(p->t->type));
            goto done;
        }
        if (!cpu_quantize_file_fn(p->to)) {
            s = rf_fail(err, RF_E_UNSUPPORTED, "%s: tensor '%s': no quantizer for %s", gguf_path(f),
                        p->name, type_name(p->to));
            goto done;
        }
        if ((s = plan_weights(q, &mix, p, err)) != RF_OK)
            goto done;
        if (p->t->ne[0] > q->row_cap)
            q->row_cap = p->t->ne[0];
    }
done:
    if (names)
        for (size_t i = 0; i < n; i++)
            free(names[i]);
    free(names);
    free(order);
    return s;
}

/* What llama.cpp's quantize tool records of the matrix, as its key
 * overrides after the file type: strings cut to 127 bytes (its override
 * buffer), the counts as u32; the dataset and chunk count when known. */
static void set_key(gguf_writer *w, const char *key, const char *str, uint32_t u)
{
    gguf_writer_remove(w, key);
    if (str)
        gguf_writer_set_str(w, key, str, strnlen(str, 127));
    else
        gguf_writer_set_u32(w, key, u);
}

static void write_imatrix_keys(gguf_writer *w, const char *path, const imatrix *m)
{
    set_key(w, "quantize.imatrix.file", path, 0);
    if (m->dataset)
        set_key(w, "quantize.imatrix.dataset", m->dataset, 0);
    set_key(w, "quantize.imatrix.entries_count", NULL, (uint32_t)m->n_entries);
    if (m->chunk_count > 0)
        set_key(w, "quantize.imatrix.chunks_count", NULL, (uint32_t)m->chunk_count);
}

/* Errors stick in the writer, which reports the first when it writes. */
static void write_header(qrun *q, gguf_writer *w, const qmix_ftype *ft)
{
    gguf_writer_copy_kvs(w, q->f);
    gguf_writer_remove(w, "general.quantization_version");
    gguf_writer_remove(w, "general.file_type");
    for (size_t i = 0; i < sizeof DROPPED_KEYS / sizeof DROPPED_KEYS[0]; i++)
        gguf_writer_remove(w, DROPPED_KEYS[i]);
    gguf_writer_set_u32(w, "general.quantization_version", GGML_QNT_VERSION);
    gguf_writer_set_u32(w, "general.file_type", ft->ftype);
    if (q->imx)
        write_imatrix_keys(w, q->opt->imatrix, q->imx);
    for (size_t k = 0; k < q->n; k++) {
        const planned *p = &q->plan[k];
        gguf_writer_add_tensor_deferred(w, p->name, p->to, qmix_n_dims(p->t->ne), p->t->ne);
    }
}

rf_status rt_quantize(const char *in, const char *out, const rt_quantize_options *opt,
                      rt_quantize_stats *stats, rf_error *err)
{
    if (!in || !out || !opt)
        return rf_fail(err, RF_E_ARG, "quantize: NULL argument");
    const qmix_ftype *ft;
    rf_status s = qmix_ftype_find(opt->type, &ft, err);
    if (s != RF_OK)
        return s;
    qrun q = {.opt = opt};
    gguf_file *f = NULL;
    gguf_writer *w = NULL;
    imatrix *imx = NULL;
    if (opt->imatrix && (s = imatrix_load(opt->imatrix, &imx, err)) != RF_OK)
        return s;
    q.imx = imx;
    q.stats.n_imatrix_entries = imx ? imx->n_entries : 0;
    if ((s = gguf_open(in, &f, err)) != RF_OK) {
        imatrix_free(imx);
        return s;
    }
    q.f = f;
    if ((s = make_plan(&q, ft, err)) != RF_OK)
        goto done;

    q.n_threads = opt->n_threads > 0 ? opt->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (q.n_threads < 1)
        q.n_threads = 1;
    q.pool = cpu_pool_new(q.n_threads);
    if (q.pool) {
        q.n_threads = cpu_pool_size(q.pool);
        q.rows = malloc((size_t)q.n_threads * (size_t)(q.row_cap ? q.row_cap : 1) * sizeof(float));
    }
    w = gguf_writer_new(3);
    if (!q.pool || !q.rows || !w) {
        s = rf_fail(err, RF_E_NOMEM, "quantize: out of memory starting %d threads", q.n_threads);
        goto done;
    }
    write_header(&q, w, ft);
    s = gguf_writer_write_stream(w, out, fill_tensor, &q, err);
    q.stats.n_tensors = q.n;
done:
    if (stats)
        *stats = q.stats;
    gguf_writer_free(w);
    free(q.rows);
    if (q.pool)
        cpu_pool_free(q.pool);
    if (q.plan)
        for (size_t i = 0; i < q.n; i++)
            free(q.plan[i].name);
    free(q.plan);
    gguf_close(f);
    imatrix_free(imx);
    return s;
}
