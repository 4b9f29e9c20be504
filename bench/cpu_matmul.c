/*
 * cpu_matmul.c: throughput of cpu_matmul for the weight types and shapes
 * that dominate a small model's decode (M = 1) and prefill (M = 64) steps.
 *
 * For each case it reports the weight bytes streamed per second (the number
 * that bounds decode) and GFLOP/s counting 2·M·N·K. Weights are random
 * floats quantized by the reference quantizer; each case repeats until it
 * has run for at least 0.3 s. It first prints the cost of an empty
 * cpu_pool_run (the per-kernel overhead a decode step pays hundreds of
 * times). Usage: rf_bench_matmul [threads...] (default 1 2). Not a test: it
 * checks nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "runtime/cpu/ops.h"
#include "runtime/cpu/quant.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float frand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (float)((*s * 2685821657736338717ull) >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

static void empty_job(void *ctx, int ith, int nth)
{
    (void)ctx, (void)ith, (void)nth;
}

static void bench_pool(int n)
{
    cpu_pool *pool = cpu_pool_new(n);
    int reps = 0;
    double t0 = now(), el;
    do {
        for (int i = 0; i < 1000; i++)
            cpu_pool_run(pool, empty_job, NULL);
        reps += 1000;
        el = now() - t0;
    } while (el < 0.2);
    printf("empty cpu_pool_run, %d threads: %.2f us\n", cpu_pool_size(pool), el / reps * 1e6);
    cpu_pool_free(pool);
}

int main(int argc, char **argv)
{
    int threads[8] = {1, 2};
    int n_threads = 2;
    if (argc > 1) {
        n_threads = 0;
        for (int i = 1; i < argc && n_threads < 8; i++)
            threads[n_threads++] = atoi(argv[i]);
    }
    const ggml_type types[] = {GGML_TYPE_Q4_K, GGML_TYPE_Q8_0};
    const int64_t shapes[][2] = {{2048, 2048}, {8192, 2048}}; /* N, K */
    const int64_t Ms[] = {1, 64};
    uint64_t seed = 42;
    for (int th = 0; th < n_threads; th++)
        bench_pool(threads[th]);
    printf("%-5s %6s %6s %4s %3s %10s %9s %9s\n", "type", "N", "K", "M", "thr", "ms", "GB/s", "GFLOP/s");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const ggml_type t = types[ti];
        const cpu_quant_traits *ref = cpu_quant_ref(t);
        const ggml_type_traits *tt = ggml_type_get((uint32_t)t);
        if (!ref || !cpu_quant(t)) {
            printf("%s: not supported\n", tt ? tt->name : "?");
            continue;
        }
        for (size_t si = 0; si < 2; si++) {
            const int64_t N = shapes[si][0], K = shapes[si][1];
            const int64_t wbytes = N * (K / tt->block_size) * tt->type_size;
            float *wf = malloc((size_t)K * sizeof *wf);
            char *w = malloc((size_t)wbytes);
            for (int64_t r = 0; r < N; r++) {
                for (int64_t i = 0; i < K; i++)
                    wf[i] = frand(&seed);
                ref->from_float(wf, w + r * (wbytes / N), K);
            }
            free(wf);
            for (size_t mi = 0; mi < 2; mi++) {
                const int64_t M = Ms[mi];
                float *x = malloc((size_t)(M * K) * sizeof *x);
                float *y = malloc((size_t)(M * N) * sizeof *y);
                void *qx = malloc((size_t)cpu_matmul_qx_bytes(t, M, K));
                for (int64_t i = 0; i < M * K; i++)
                    x[i] = frand(&seed);
                cpu_matmul_w mw = {w, N, y, N};
                for (int th = 0; th < n_threads; th++) {
                    cpu_pool *pool = cpu_pool_new(threads[th]);
                    cpu_matmul(pool, t, K, x, K, M, &mw, 1, qx); /* warm up */
                    int reps = 0;
                    double t0 = now(), el;
                    do {
                        cpu_matmul(pool, t, K, x, K, M, &mw, 1, qx);
                        reps++;
                        el = now() - t0;
                    } while (el < 0.3);
                    const double per = el / reps;
                    printf("%-5s %6lld %6lld %4lld %3d %10.3f %9.2f %9.2f\n", tt->name, (long long)N, (long long)K,
                           (long long)M, cpu_pool_size(pool), per * 1e3, (double)wbytes / per * 1e-9,
                           2.0 * (double)(M * N * K) / per * 1e-9);
                    cpu_pool_free(pool);
                }
                free(x);
                free(y);
                free(qx);
            }
            free(w);
        }
    }
    return 0;
}
