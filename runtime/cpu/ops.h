/*
 * ops.h: the CPU backend's kernels other than the quantized dot products
 * (quant.h), a thread pool, and the matmul driver that puts them together.
 *
 * Every kernel works on plain row-major f32 arrays (shapes outermost first,
 * as in the IR) and takes the thread index ith of nth so that the executor
 * can run it inside cpu_pool_run; a kernel splits its own work and never
 * allocates: scratch comes from the caller (sizes given by the *_scratch
 * functions). Numerics follow ggml's CPU backend where it matters for
 * matching llama.cpp (GELU's tanh form, RoPE's theta computation, softmax
 * with max subtraction in f32, f16 KV cache rounding).
 */
#ifndef RF_RUNTIME_CPU_OPS_H
#define RF_RUNTIME_CPU_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "support/types.h"
#include "ir/ir.h"

/* ---- thread pool ------------------------------------------------------- */
typedef struct cpu_pool cpu_pool;
/* n_threads <= 0: the number of physical cores */
cpu_pool *cpu_pool_new(int n_threads);
void cpu_pool_free(cpu_pool *p);
int cpu_pool_size(const cpu_pool *p);
/* fn(ctx, ith, nth) on every thread (the caller is thread 0); returns when
 * all have finished. Spinning workers between calls: the hot path does no
 * syscalls for short kernels. */
void cpu_pool_run(cpu_pool *p, void (*fn)(void *ctx, int ith, int nth), void *ctx);
int cpu_physical_cores(void);

/* ---- matmul -------------------------------------------------------------- */
/* y[M,N] = x[M,K] · W[N,K]^T for a weight of any supported type. x is first
 * quantized to the type's vec_dot_type into qx (cpu_matmul_qx_bytes), once,
 * shared by every W in the same call: n_w weights of one type and K with
 * outputs y[i] (that is how a fused Q/K/V or gate/up group runs). Threads
 * split the output columns (and rows for large M). Unsupported weight type:
 * returns -1 without touching y. */
typedef struct cpu_matmul_w {
    const void *w;       /* weight rows, GGUF block layout */
    int64_t n;           /* rows of W = output columns */
    float *y;            /* [M, n], row stride ldy */
    int64_t ldy;
} cpu_matmul_w;
int64_t cpu_matmul_qx_bytes(ggml_type wtype, int64_t M, int64_t K);
int cpu_matmul(cpu_pool *pool, ggml_type wtype, int64_t K, const float *x, int64_t ldx, int64_t M,
               const cpu_matmul_w *ws, int n_w, void *qx);

/* ---- mixture of experts (moe.c) -------------------------------------------- */
/* y[T,k,N] row (t,j) = x row · expert ids[t,j]'s W[N,K] (x[T,K] shared by a
 * token's slots, or x[T,k,K] one row a slot); the experts are n_expert
 * matrices of expert_bytes one after another. scratch:
 * cpu_matmul_id_scratch_bytes(T*k, K, N); qx: cpu_matmul_qx_bytes for T*k
 * rows. Unsupported weight type: -1. */
typedef struct cpu_matmul_id_args {
    ggml_type wtype;
    const void *w;
    int64_t n_expert, N, K, expert_bytes;
    const float *x;
    bool x_per_slot;
    const float *bias;  /* [n_expert, N] added to each expert's rows, or NULL */
    const int32_t *ids;
    int64_t T, k;
    float *y;
} cpu_matmul_id_args;
int64_t cpu_matmul_id_scratch_bytes(int64_t rows, int64_t K, int64_t N);
int cpu_matmul_id(cpu_pool *pool, const cpu_matmul_id_args *a, void *scratch, void *qx);
/* rows [r0, r1): softmax over n; the k largest of n (largest first);
 * p[.,ids] normalised (norm 1: by their sum, 2: their softmax) and scaled (moe_weights); Σ_j y[r,j,:]·w[r,j]; x[r,:]·s[r] */
void cpu_softmax_rows(const float *x, float *y, int64_t n, int64_t r0, int64_t r1);
void cpu_topk_rows(const float *x, int32_t *ids, int64_t n, int64_t k, int64_t r0, int64_t r1);
/* rows [r0, r1) of x[.,n] as `groups` runs of experts: the `used` runs
 * whose two largest sum highest copied, the others -inf (deepseek's
 * grouped routing, before the top-k) */
void cpu_group_mask(const float *x, float *y, int64_t n, int64_t groups, int64_t used, int64_t r0, int64_t r1);
void cpu_moe_weights(const float *p, const int32_t *ids, float *w, int64_t n, int64_t k, int norm, float scale,
                     int64_t r0, int64_t r1);
void cpu_moe_sum(const float *y, const float *w, float *out, int64_t k, int64_t N, int64_t r0, int64_t r1);
void cpu_scale_rows(const float *x, const float *s, float *y, int64_t N, int64_t r0, int64_t r1);

/* ---- row kernels: rows [r0, r1) of the caller's choice --------------------- */
void cpu_rms_norm(const float *x, const float *w /* NULL: no weight */, float *y, int64_t n, float eps,
                  int64_t r0, int64_t r1);
/* ggml_norm (the mean and the variance summed in double, as ggml does),
 * then times w and plus b where given (llama.cpp's build_norm, LLM_NORM) */
void cpu_layer_norm(const float *x, const float *w, const float *b, float *y, int64_t n, float eps, int64_t r0,
                    int64_t r1);
/* y[r] = a[r] (na values) then b[r / b_every] (nb values: a row of b
 * for every b_every rows of a) */
void cpu_concat_rows(const float *a, int64_t na, const float *b, int64_t nb, int64_t b_every, float *y, int64_t r0,
                     int64_t r1);
void cpu_get_rows(const void *table, ggml_type type, int64_t n_cols, const int32_t *ids, float *y,
                  int64_t r0, int64_t r1);

/* ---- elementwise over [i0, i1) -------------------------------------------- */
typedef enum cpu_unary { CPU_SILU, CPU_GELU, CPU_SCALE, CPU_SOFTCAP, CPU_SIGMOID } cpu_unary;
void cpu_unary_f32(cpu_unary op, float param, const float *x, float *y, int64_t i0, int64_t i1);
/* y = silu(g) * u or gelu(g) * u */
void cpu_glu(int gelu, const float *g, const float *u, float *y, int64_t i0, int64_t i1);
/* gpt-oss's: x = min(g, limit), y = x * sigmoid(alpha x) * (clamp(u, ±limit) + 1), as ggml's swiglu_oai */
void cpu_glu_oai(float alpha, float limit, const float *g, const float *u, float *y, int64_t i0, int64_t i1);
/* y[i] = a[i] + b[i % nb] (nb divides the length: broadcast over rows) */
void cpu_add(const float *a, const float *b, int64_t nb, float *y, int64_t i0, int64_t i1);
void cpu_mul(const float *a, const float *b, int64_t nb, float *y, int64_t i0, int64_t i1);

/* ---- RoPE on x[T,H,D] in place, rows t in [t0, t1) ---------------------------
 * mode 0: adjacent pairs (x[2i], x[2i+1]); mode 2 (neox): halves (x[i],
 * x[i+n_rot/2]). theta_i = pos * freq_scale * base^(-2i/n_rot) / ff[i] with
 * YaRN's ext_factor/beta corrections as ggml_rope_ext (n_ctx_orig needed
 * only when ext_factor != 0). */
typedef struct cpu_rope_params {
    int n_rot, mode, n_ctx_orig;
    float base, freq_scale, ext_factor, attn_factor, beta_fast, beta_slow;
    const float *freq_factors; /* [n_rot/2] or NULL */
} cpu_rope_params;
void cpu_rope(float *x, const int32_t *pos, int64_t H, int64_t D, const cpu_rope_params *p, int64_t t0, int64_t t1);

/* ---- KV cache and attention ----------------------------------------------- */
/* Where the rows of a step go in the cache: row t is position pos[t] of
 * sequence seq[t]. The cache is paged: position p of sequence s is row
 * blocks[s * stride + p / 2^shift] * 2^shift + p % 2^shift (blocks NULL: row
 * p, one sequence in order). */
typedef struct cpu_kv_rows {
    const int32_t *pos, *seq;
    const uint32_t *blocks; /* (n_seq * stride) each sequence's blocks, in position order */
    uint32_t stride, shift;
} cpu_kv_rows;
static inline int64_t cpu_kv_row(const cpu_kv_rows *r, int32_t seq, int64_t pos)
{
    if (!r->blocks)
        return pos;
    return (int64_t)r->blocks[(size_t)seq * r->stride + (size_t)(pos >> r->shift)] << r->shift |
           (pos & ((1 << r->shift) - 1));
}
/* A layer's K or V cache: rows of [H, D] f32 or f16 (cache_type); rows t
 * in [t0, t1) of x[T, H, D] stored where r says. */
void cpu_kv_store(void *cache, ggml_type cache_type, const float *x, int64_t H, int64_t D, const cpu_kv_rows *r,
                  int64_t t0, int64_t t1);
/* out[T, Hq*Dv] = softmax(scale * q·k^T [softcapped], causal, window) · v for
 * query rows and heads split by (ith, nth); q[T,Hq,D], the cache's K rows
 * [Hkv,D] and V rows [Hkv,Dv] (Dv = D but for deepseek2's latent
 * attention); row t sees keys
 * 0..pos[t] of its sequence, where rows says the cache holds them (noncausal:
 * keys 0..kv_len-1, every row of a step of one sequence alike). window
 * > 0: a query at position p sees keys in (p - window, p]. scratch:
 * cpu_attention_scratch(the longest sequence) floats per thread. */
typedef struct cpu_attn_params {
    int64_t T;
    cpu_kv_rows rows;
    int Hq, Hkv, D, Dv;
    float scale, softcap;
    int window;
    bool noncausal;     /* an encoder's attention: every row sees all kv_len keys */
    int64_t kv_len;     /* with noncausal: P + T */
    ggml_type cache_type;
    const float *sinks; /* [Hq] logits that join each softmax's max and sum (gpt-oss), or NULL */
} cpu_attn_params;
int64_t cpu_attention_scratch(int64_t kv_len, int D);

/* y[E] = x[T,E] pooled over its rows: type 1 the mean, 2 the first row
 * (CLS), 3 the last (llama.cpp's pooling types) */
void cpu_pool_rows(const float *x, int64_t T, int64_t E, int type, float *y);
void cpu_attention(const float *q, const void *kcache, const void *vcache, float *out, const cpu_attn_params *p,
                   float *scratch, int ith, int nth);

#endif
