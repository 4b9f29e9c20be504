/*
 * gpu_hip.c: the device layer (gpu.h) on the HIP runtime, libamdhip64.
 *
 * The library is found with dlopen (libamdhip64.so.N for the N of the
 * headers this was built with, then libamdhip64.so, .so.6, .so.5, on the
 * loader's path and under $ROCM_PATH/lib and /opt/rocm/lib) and kept loaded
 * for the life of the process. The HIP headers give each entry point's
 * type, and the symbol looked up is the name the header maps the call to:
 * ROCm 6's headers turn hipGetDeviceProperties into
 * hipGetDevicePropertiesR0600, whose struct layout differs from the plain
 * symbol's (which every libamdhip64 keeps with the old layout), so the
 * struct this file reads always matches the function that fills it.
 *
 * A thread works on the device it last opened (gpu_hip_open), or, before
 * it opens one, on the first device the process opened: one thread a GPU
 * for a tensor-parallel process's ranks, any thread on the one device
 * otherwise. HIP's current device belongs to a thread, so every call first
 * makes the thread's device current on it (once per thread and device; a
 * thread-local remembers it). Device memory is gpu_ptr, the device address
 * as an integer; modules, functions and streams are HIP's own handles cast
 * to the opaque types, and a NULL stream is HIP's null stream.
 *
 * Errors are "call: hipErrorName", allocations with their size
 * ("hipMalloc(1.5 GiB): hipErrorOutOfMemory"). A missing library, a
 * failing hipInit or no device is RF_E_UNSUPPORTED so that gpu_open tries
 * CUDA next; out of memory is RF_E_NOMEM, a code object the device cannot
 * run RF_E_FORMAT, an unknown kernel name RF_E_NOTFOUND, anything else
 * RF_E_IO. What it does not do: pinned host memory, events, several
 * streams' ordering, peer access; a device-to-host copy into pageable memory
 * is complete only after stream_sync.
 */
#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__
#endif
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hip/hip_runtime_api.h>
#include <hip/hip_version.h>

#include "runtime/gpu/gpu.h"
#include "support/error.h"

rf_status gpu_hip_open(int ordinal, const gpu_api **api, gpu_device_info *info, rf_error *err); /* gpu.c */

#define X(f) static __typeof__(f) *p_##f;
#define HIP_CALLS                                                                                                  \
    X(hipInit) X(hipGetDeviceCount) X(hipSetDevice) X(hipGetDeviceProperties) X(hipGetErrorName) X(hipMalloc) X(hipMemGetInfo)     \
    X(hipFree) X(hipMemcpyHtoDAsync) X(hipMemcpyDtoHAsync) X(hipMemcpyDtoDAsync) X(hipMemsetD8Async) X(hipModuleLoadData)               \
    X(hipModuleUnload) X(hipModuleGetFunction) X(hipModuleLaunchKernel) X(hipStreamCreate) X(hipStreamDestroy)    \
    X(hipStreamSynchronize) X(hipStreamBeginCapture) X(hipStreamEndCapture) X(hipGraphInstantiate)              \
    X(hipGraphDestroy) X(hipGraphLaunch) X(hipGraphExecDestroy) X(hipEventCreate) X(hipEventDestroy)              \
    X(hipEventRecord) X(hipEventElapsedTime)
HIP_CALLS
#undef X

#define STR(x) #x
#define XSTR(x) STR(x) /* the name after the header's own #defines */

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static bool loaded;
static _Atomic int first = -1;         /* the first device opened: a thread's before it opens one */
static _Thread_local int mine = -1;    /* the device this thread opened last */
static _Thread_local int current = -1; /* the device this thread last made current */

static rf_status load(rf_error *err)
{
    char own[32];
    snprintf(own, sizeof own, "libamdhip64.so.%d", HIP_VERSION_MAJOR);
    const char *names[] = {own, "libamdhip64.so", "libamdhip64.so.6", "libamdhip64.so.5"};
    const char *rocm = getenv("ROCM_PATH");
    char rocm_lib[PATH_MAX] = "";
    if (rocm && *rocm)
        snprintf(rocm_lib, sizeof rocm_lib, "%s/lib", rocm);
    const char *dirs[] = {"", rocm_lib, "/opt/rocm/lib"};
    void *h = NULL;
    for (size_t d = 0; !h && d < sizeof dirs / sizeof dirs[0]; d++)
        for (size_t i = 0; !h && i < sizeof names / sizeof names[0]; i++) {
            if (d > 0 && !dirs[d][0])
                continue;
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s%s%s", dirs[d], d ? "/" : "", names[i]);
            h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        }
    if (!h)
        return rf_fail(err, RF_E_UNSUPPORTED, "hip: libamdhip64.so not found");
    void *s;
#define X(f)                                                                                                       \
    if (!(s = dlsym(h, XSTR(f))))                                                                                  \
        return rf_fail(err, RF_E_UNSUPPORTED, "hip: %s is missing from libamdhip64", XSTR(f));                    \
    memcpy(&p_##f, &s, sizeof s);
    HIP_CALLS
#undef X
    return RF_OK;
}

static rf_status status_of(hipError_t e)
{
    switch (e) {
    case hipErrorOutOfMemory: return RF_E_NOMEM;
    case hipErrorInvalidImage:
    case hipErrorNoBinaryForGpu:
    case hipErrorInvalidKernelFile: return RF_E_FORMAT;
    case hipErrorNotFound: return RF_E_NOTFOUND;
    default: return RF_E_IO;
    }
}

static rf_status fail(rf_error *err, hipError_t e, const char *call)
{
    return rf_fail(err, status_of(e), "%s: %s", call, p_hipGetErrorName(e));
}

static void format_size(char *out, size_t cap, size_t n)
{
    if (n >= (size_t)1 << 30)
        snprintf(out, cap, "%.1f GiB", (double)n / (double)(1u << 30));
    else
        snprintf(out, cap, "%.1f MiB", (double)n / (double)(1u << 20));
}

/* Makes this thread's device current on it: HIP keeps it per thread. */
static hipError_t bind(void)
{
    int device = mine >= 0 ? mine : first;
    if (current == device)
        return hipSuccess;
    hipError_t e = p_hipSetDevice(device);
    if (e == hipSuccess)
        current = device;
    return e;
}

#define BIND(err)                                                                                                  \
    do {                                                                                                           \
        hipError_t b_ = bind();                                                                                    \
        if (b_ != hipSuccess)                                                                                      \
            return fail(err, b_, "hipSetDevice");                                                                  \
    } while (0)

static void *dev(gpu_ptr p)
{
    return (void *)(uintptr_t)p;
}

static rf_status hip_mem_free(size_t *bytes, rf_error *err)
{
    BIND(err);
    size_t total = 0;
    hipError_t e = p_hipMemGetInfo(bytes, &total);
    return e == hipSuccess ? RF_OK : fail(err, e, "hipMemGetInfo");
}

static rf_status hip_malloc(gpu_ptr *p, size_t bytes, rf_error *err)
{
    BIND(err);
    void *d = NULL;
    hipError_t e = p_hipMalloc(&d, bytes);
    if (e != hipSuccess) {
        char size[32], call[64];
        format_size(size, sizeof size, bytes);
        snprintf(call, sizeof call, "hipMalloc(%s)", size);
        *p = 0;
        return fail(err, e, call);
    }
    *p = (gpu_ptr)(uintptr_t)d;
    return RF_OK;
}

static void hip_free(gpu_ptr p)
{
    if (p && bind() == hipSuccess)
        p_hipFree(dev(p));
}

static rf_status hip_memcpy_htod(gpu_ptr dst, const void *src, size_t n, gpu_stream *s, rf_error *err)
{
    BIND(err);
    hipError_t e = p_hipMemcpyHtoDAsync(dev(dst), (void *)src, n, (hipStream_t)s);
    return e == hipSuccess ? RF_OK : fail(err, e, "hipMemcpyHtoDAsync");
}

static rf_status hip_memcpy_dtoh(void *dst, gpu_ptr src, size_t n, gpu_stream *s, rf_error *err)
{
    BIND(err);
    hipError_t e = p_hipMemcpyDtoHAsync(dst, dev(src), n, (hipStream_t)s);
    return e == hipSuccess ? RF_OK : fail(err, e, "hipMemcpyDtoHAsync");
}

static rf_status hip_memcpy_dtod(gpu_ptr dst, gpu_ptr src, size_t n, gpu_stream *s, rf_error *err)
{
    BIND(err);
    hipError_t e = p_hipMemcpyDtoDAsync(dev(dst), dev(src), n, (hipStream_t)s);
    return e == hipSuccess ? RF_OK : fail(err, e, "hipMemcpyDtoDAsync");
}

static rf_status hip_memset(gpu_ptr dst, int byte, size_t n, gpu_stream *s, rf_error *err)
{
    BIND(err);
    hipError_t e = p_hipMemsetD8Async(dev(dst), (unsigned char)byte, n, (hipStream_t)s);
    return e == hipSuccess ? RF_OK : fail(err, e, "hipMemsetD8Async");
}

static rf_status hip_module_load(const void *code, size_t size, gpu_module **m, rf_error *err)
{
    BIND(err);
    hipModule_t mod = NULL;
    hipError_t e = p_hipModuleLoadData(&mod, code);
    if (e != hipSuccess) {
        char call[64];
        snprintf(call, sizeof call, "hipModuleLoadData(%zu bytes)", size);
        return fail(err, e, call);
    }
    *m = (gpu_module *)mod;
    return RF_OK;
}

static void hip_module_unload(gpu_module *m)
{
    if (m && bind() == hipSuccess)
        p_hipModuleUnload((hipModule_t)m);
}

static rf_status hip_function(gpu_module *m, const char *name, gpu_function **f, rf_error *err)
{
    BIND(err);
    hipFunction_t fn = NULL;
    hipError_t e = p_hipModuleGetFunction(&fn, (hipModule_t)m, name);
    if (e != hipSuccess) {
        char call[160];
        snprintf(call, sizeof call, "hipModuleGetFunction(%.120s)", name);
        return fail(err, e, call);
    }
    *f = (gpu_function *)fn;
    return RF_OK;
}

static rf_status hip_launch(gpu_function *f, const uint32_t grid[3], const uint32_t block[3], uint32_t shared_bytes,
                            gpu_stream *s, void **args, rf_error *err)
{
    BIND(err);
    hipError_t e = p_hipModuleLaunchKernel((hipFunction_t)f, grid[0], grid[1], grid[2], block[0], block[1], block[2],
                                           shared_bytes, (hipStream_t)s, args, NULL);
    if (e != hipSuccess) {
        char call[128];
        snprintf(call, sizeof call, "hipModuleLaunchKernel(grid %ux%ux%u, block %ux%ux%u, %u B shared)", grid[0],
                 grid[1], grid[2], block[0], block[1], block[2], shared_bytes);
        return fail(err, e, call);
    }
    return RF_OK;
}

static rf_status hip_stream_create(gpu_stream **s, rf_error *err)
{
    BIND(err);
    hipStream_t st = NULL;
    hipError_t e = p_hipStreamCreate(&st);
    if (e != hipSuccess)
        return fail(err, e, "hipStreamCreate");
    *s = (gpu_stream *)st;
    return RF_OK;
}

static void hip_stream_destroy(gpu_stream *s)
{
    if (s && bind() == hipSuccess)
        p_hipStreamDestroy((hipStream_t)s);
}

static rf_status hip_stream_sync(gpu_stream *s, rf_error *err)
{
    BIND(err);
    hipError_t e = p_hipStreamSynchronize((hipStream_t)s);
    return e == hipSuccess ? RF_OK : fail(err, e, "hipStreamSynchronize");
}

static rf_status hip_capture_begin(gpu_stream *s, rf_error *err)
{
    BIND(err);
    hipError_t e = p_hipStreamBeginCapture((hipStream_t)s, hipStreamCaptureModeRelaxed);
    return e == hipSuccess ? RF_OK : fail(err, e, "hipStreamBeginCapture");
}

static rf_status hip_capture_end(gpu_stream *s, gpu_graph **g, rf_error *err)
{
    BIND(err);
    hipGraph_t graph = NULL;
    hipGraphExec_t exec = NULL;
    hipError_t e = p_hipStreamEndCapture((hipStream_t)s, &graph);
    if (e != hipSuccess)
        return fail(err, e, "hipStreamEndCapture");
    e = p_hipGraphInstantiate(&exec, graph, NULL, NULL, 0);
    p_hipGraphDestroy(graph);
    if (e != hipSuccess)
        return fail(err, e, "hipGraphInstantiate");
    *g = (gpu_graph *)exec;
    return RF_OK;
}

static rf_status hip_graph_launch(gpu_graph *g, gpu_stream *s, rf_error *err)
{
    BIND(err);
    hipError_t e = p_hipGraphLaunch((hipGraphExec_t)g, (hipStream_t)s);
    return e == hipSuccess ? RF_OK : fail(err, e, "hipGraphLaunch");
}

static void hip_graph_destroy(gpu_graph *g)
{
    if (g && bind() == hipSuccess)
        p_hipGraphExecDestroy((hipGraphExec_t)g);
}

static rf_status hip_event_create(gpu_event **ev, rf_error *err)
{
    BIND(err);
    hipEvent_t h = NULL;
    hipError_t e = p_hipEventCreate(&h);
    if (e != hipSuccess)
        return fail(err, e, "hipEventCreate");
    *ev = (gpu_event *)h;
    return RF_OK;
}

static void hip_event_destroy(gpu_event *ev)
{
    if (ev && bind() == hipSuccess)
        p_hipEventDestroy((hipEvent_t)ev);
}

static rf_status hip_event_record(gpu_event *ev, gpu_stream *s, rf_error *err)
{
    BIND(err);
    hipError_t e = p_hipEventRecord((hipEvent_t)ev, (hipStream_t)s);
    return e == hipSuccess ? RF_OK : fail(err, e, "hipEventRecord");
}

static rf_status hip_event_elapsed(gpu_event *start, gpu_event *stop, float *ms, rf_error *err)
{
    BIND(err);
    hipError_t e = p_hipEventElapsedTime(ms, (hipEvent_t)start, (hipEvent_t)stop);
    return e == hipSuccess ? RF_OK : fail(err, e, "hipEventElapsedTime");
}

static const gpu_api hip_api = {
    .name = "hip",
    .malloc = hip_malloc,
    .mem_free = hip_mem_free,
    .free = hip_free,
    .memcpy_htod = hip_memcpy_htod,
    .memcpy_dtoh = hip_memcpy_dtoh,
    .memcpy_dtod = hip_memcpy_dtod,
    .memset = hip_memset,
    .module_load = hip_module_load,
    .module_unload = hip_module_unload,
    .function = hip_function,
    .launch = hip_launch,
    .stream_create = hip_stream_create,
    .stream_destroy = hip_stream_destroy,
    .stream_sync = hip_stream_sync,
    .capture_begin = hip_capture_begin,
    .capture_end = hip_capture_end,
    .graph_launch = hip_graph_launch,
    .graph_destroy = hip_graph_destroy,
    .event_create = hip_event_create,
    .event_destroy = hip_event_destroy,
    .event_record = hip_event_record,
    .event_elapsed = hip_event_elapsed,
};

/* a fixed-size, maybe unterminated field into a string, cut to fit */
static void copy_str(char *dst, size_t cap, const char *src, size_t src_size)
{
    size_t n = strnlen(src, src_size);
    n = n < cap ? n : cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

static rf_status open_device(int ordinal, gpu_device_info *info, rf_error *err)
{
    if (!loaded) {
        rf_status st = load(err);
        if (st != RF_OK)
            return st;
        loaded = true;
    }
    hipError_t e = p_hipInit(0);
    if (e != hipSuccess)
        return rf_fail(err, RF_E_UNSUPPORTED, "hip: no device (hipInit: %s)", p_hipGetErrorName(e));
    int n = 0;
    e = p_hipGetDeviceCount(&n);
    if (e != hipSuccess && e != hipErrorNoDevice)
        return rf_fail(err, RF_E_UNSUPPORTED, "hip: no device (hipGetDeviceCount: %s)", p_hipGetErrorName(e));
    if (n <= 0)
        return rf_fail(err, RF_E_UNSUPPORTED, "hip: no device (hipGetDeviceCount returned 0)");
    ordinal = gpu_ordinal(ordinal, n);
    if (ordinal >= n)
        return rf_fail(err, RF_E_ARG, "hip: no device %d (%d found)", ordinal, n);
    if (first < 0) /* under open_lock */
        first = ordinal;
    mine = ordinal;
    e = bind();
    if (e != hipSuccess)
        return fail(err, e, "hipSetDevice");
    hipDeviceProp_t prop;
    memset(&prop, 0, sizeof prop);
    e = p_hipGetDeviceProperties(&prop, ordinal);
    if (e != hipSuccess)
        return fail(err, e, "hipGetDeviceProperties");
    copy_str(info->name, sizeof info->name, prop.name, sizeof prop.name);
    copy_str(info->arch, sizeof info->arch, prop.gcnArchName, sizeof prop.gcnArchName);
    info->total_mem = prop.totalGlobalMem;
    info->n_cu = prop.multiProcessorCount;
    info->wave = prop.warpSize;
    info->ordinal = ordinal;
    info->count = n;
    return RF_OK;
}

rf_status gpu_hip_open(int ordinal, const gpu_api **api, gpu_device_info *info, rf_error *err)
{
    pthread_mutex_lock(&open_lock);
    rf_status st = open_device(ordinal, info, err);
    pthread_mutex_unlock(&open_lock);
    if (st == RF_OK)
        *api = &hip_api;
    return st;
}
