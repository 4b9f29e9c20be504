/*
 * gpu_smoke.c: the shortest path through the GPU stack, as a program.
 *
 * Opens device 0 with gpu_open (HIP, then CUDA; `rf_gpu_smoke cuda` or
 * `rf_gpu_smoke hip` picks one), prints what it is, compiles a vector add
 * for the device's own arch with cg_compiler_build (hipRTC or NVRTC), loads
 * it, adds two vectors of 1M floats on the device and compares every sum
 * with the host's. Prints "gpu_smoke: ok <ms>" (the kernel, launch to
 * sync) and exits 0, or one line saying what failed and exits 1.
 *
 * Not a test: CI has no GPU. It is what to run first on a machine that has
 * one. The cg_arch is built by hand from the device's target id; it does
 * not go through cg_arch_parse, so a device newer than the parser's tables
 * still gets this far.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/target.h"
#include "runtime/gpu/gpu.h"

enum { N = 1 << 20, BLOCK = 256 };

static const char vadd_source[] = "extern \"C\" __global__ void vadd(const float *a, const float *b, float *c, int n)\n"
                                  "{\n"
                                  "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
                                  "    if (i < n)\n"
                                  "        c[i] = a[i] + b[i];\n"
                                  "}\n";

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int die(const char *what, const rf_error *err)
{
    fprintf(stderr, "gpu_smoke: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    rf_error err = {0};
    const gpu_api *gpu;
    gpu_device_info info;
    if (gpu_open(argc > 1 ? argv[1] : NULL, 0, &gpu, &info, &err) != RF_OK)
        return die("gpu_open", &err);
    printf("gpu_smoke: %s device 0: %s, %s, %.1f GiB, %d CUs, wave %d\n", gpu->name, info.name, info.arch,
           (double)info.total_mem / (double)(1u << 30), info.n_cu, info.wave);

    cg_arch arch = {.vendor = strcmp(gpu->name, "hip") ? CG_NVIDIA : CG_AMD, .wave = info.wave};
    snprintf(arch.target, sizeof arch.target, "%s", info.arch);
    snprintf(arch.name, sizeof arch.name, "%.*s", (int)strcspn(info.arch, ":"), info.arch);
    cg_compiler *cc;
    if (cg_compiler_open(&arch, &cc, &err) != RF_OK)
        return die("cg_compiler_open", &err);
    void *code;
    size_t size;
    double t0 = now_ms();
    if (cg_compiler_build(cc, vadd_source, "vadd.cu", &code, &size, &err) != RF_OK)
        return die("cg_compiler_build", &err);
    printf("gpu_smoke: compiled vadd with %s [%s] in %.0f ms, %zu bytes\n", cg_compiler_id(cc),
           cg_compiler_options(cc), now_ms() - t0, size);

    gpu_module *mod;
    gpu_function *fn;
    gpu_stream *stream;
    if (gpu->module_load(code, size, &mod, &err) != RF_OK)
        return die("module_load", &err);
    if (gpu->function(mod, "vadd", &fn, &err) != RF_OK)
        return die("function", &err);
    if (gpu->stream_create(&stream, &err) != RF_OK)
        return die("stream_create", &err);

    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *c = malloc(N * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "gpu_smoke: out of host memory\n");
        return 1;
    }
    for (int i = 0; i < N; i++) {
        a[i] = (float)i * 0.5f;
        b[i] = 1.0f / (float)(i + 1);
    }
    gpu_ptr da, db, dc;
    if (gpu->malloc(&da, N * sizeof(float), &err) != RF_OK || gpu->malloc(&db, N * sizeof(float), &err) != RF_OK ||
        gpu->malloc(&dc, N * sizeof(float), &err) != RF_OK)
        return die("malloc", &err);
    if (gpu->memcpy_htod(da, a, N * sizeof(float), stream, &err) != RF_OK ||
        gpu->memcpy_htod(db, b, N * sizeof(float), stream, &err) != RF_OK ||
        gpu->memset(dc, 0xff, N * sizeof(float), stream, &err) != RF_OK || /* NaN where the kernel did not write */
        gpu->stream_sync(stream, &err) != RF_OK)
        return die("upload", &err);

    int n = N;
    void *args[] = {&da, &db, &dc, &n};
    const uint32_t grid[3] = {(N + BLOCK - 1) / BLOCK, 1, 1}, block[3] = {BLOCK, 1, 1};
    t0 = now_ms();
    if (gpu->launch(fn, grid, block, 0, stream, args, &err) != RF_OK || gpu->stream_sync(stream, &err) != RF_OK)
        return die("launch", &err);
    double ms = now_ms() - t0;
    if (gpu->memcpy_dtoh(c, dc, N * sizeof(float), stream, &err) != RF_OK || gpu->stream_sync(stream, &err) != RF_OK)
        return die("download", &err);

    int bad = 0;
    for (int i = 0; i < N; i++)
        if (c[i] != a[i] + b[i] && bad++ < 3)
            fprintf(stderr, "gpu_smoke: c[%d] = %g, expected %g\n", i, (double)c[i], (double)(a[i] + b[i]));
    gpu->free(da);
    gpu->free(db);
    gpu->free(dc);
    gpu->stream_destroy(stream);
    gpu->module_unload(mod);
    cg_compiler_close(cc);
    free(code);
    free(a);
    free(b);
    free(c);
    if (bad) {
        fprintf(stderr, "gpu_smoke: %d of %d sums wrong\n", bad, N);
        return 1;
    }
    printf("gpu_smoke: ok %.3f\n", ms);
    return 0;
}
