/*
 * gpu_cuda.c: the device layer (gpu.h) on the CUDA driver API, libcuda.
 *
 * The driver's library (libcuda.so.1, then libcuda.so) is found with dlopen
 * and kept loaded for the life of the process; cuda.h gives each entry
 * point's type. cuda.h #defines many calls to versioned symbols (cuMemAlloc
 * is cuMemAlloc_v2, cuStreamDestroy is cuStreamDestroy_v2), and dlsym sees
 * only symbols, so the name looked up is the one the header maps the call
 * to: the signature and the symbol cannot disagree.
 *
 * Each device is run in its primary context (the one the CUDA runtime
 * would use too), retained at its first open and never released. A thread
 * works on the device it last opened, or, before it opens one, on the
 * first device the process opened: one thread a GPU for a tensor-parallel
 * process's ranks, any thread on the one device otherwise. A context is
 * current per thread, so every call first makes the thread's current on
 * it (once per thread and device; a thread-local remembers it). The arch
 * is "sm_XY" from the compute capability, exactly what NVRTC's -arch takes.
 * Device memory is gpu_ptr (CUdeviceptr is already an integer address);
 * modules, functions and streams are the driver's handles cast to the
 * opaque types, and a NULL stream is the legacy default stream. A launch
 * asking for more than 48 KiB of dynamic shared memory first raises the
 * function's limit (cuFuncSetAttribute), as CUDA requires.
 *
 * Errors are "call: CUDA_ERROR_NAME", allocations with their size
 * ("cuMemAlloc(1.5 GiB): CUDA_ERROR_OUT_OF_MEMORY"). No libcuda, a failing
 * cuInit or no device is RF_E_UNSUPPORTED; out of memory is RF_E_NOMEM, a
 * code object the device cannot run RF_E_FORMAT, an unknown kernel name
 * RF_E_NOTFOUND, anything else RF_E_IO. Graphs are captured from the stream
 * in relaxed mode and instantiated at once. What it does not do: pinned
 * host memory, contexts of its own; a device-to-host copy into pageable memory
 * is complete only after stream_sync.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>

#include "runtime/gpu/gpu.h"
#include "support/error.h"

rf_status gpu_cuda_open(int ordinal, const gpu_api **api, gpu_device_info *info, rf_error *err); /* gpu.c */

#define X(f) static __typeof__(f) *p_##f;
#define CUDA_CALLS                                                                                                 \
    X(cuInit) X(cuDeviceGetCount) X(cuDeviceGet) X(cuDeviceGetName) X(cuDeviceGetAttribute) X(cuDeviceTotalMem)    \
    X(cuDevicePrimaryCtxRetain) X(cuCtxSetCurrent) X(cuGetErrorName) X(cuMemAlloc) X(cuMemFree) X(cuMemGetInfo)                   \
    X(cuMemcpyHtoDAsync) X(cuMemcpyDtoHAsync) X(cuMemcpyDtoDAsync) X(cuMemsetD8Async) X(cuModuleLoadData) X(cuModuleUnload)            \
    X(cuModuleGetFunction) X(cuFuncSetAttribute) X(cuLaunchKernel) X(cuStreamCreate) X(cuStreamDestroy)           \
    X(cuStreamSynchronize) X(cuStreamBeginCapture) X(cuStreamEndCapture) X(cuGraphInstantiate)                  \
    X(cuGraphDestroy) X(cuGraphLaunch) X(cuGraphExecDestroy) X(cuEventCreate) X(cuEventDestroy) X(cuEventRecord)  \
    X(cuEventElapsedTime)
CUDA_CALLS
#undef X

#define STR(x) #x
#define XSTR(x) STR(x) /* the name after cuda.h's own #defines: cuMemAlloc_v2 */

enum { SHARED_DEFAULT_MAX = 48 << 10 };

enum { MAX_DEVICES = 64 };

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static bool loaded;
static CUcontext contexts[MAX_DEVICES]; /* each opened device's primary context, by ordinal */
static _Atomic(CUcontext) first;       /* the first one opened: a thread's before it opens one */
static _Thread_local CUcontext mine;    /* what this thread opened last */
static _Thread_local CUcontext current; /* what this thread last made current */

static rf_status load(rf_error *err)
{
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        h = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return rf_fail(err, RF_E_UNSUPPORTED, "cuda: libcuda.so.1 not found");
    void *s;
#define X(f)                                                                                                       \
    if (!(s = dlsym(h, XSTR(f))))                                                                                  \
        return rf_fail(err, RF_E_UNSUPPORTED, "cuda: %s is missing from libcuda", XSTR(f));                       \
    memcpy(&p_##f, &s, sizeof s);
    CUDA_CALLS
#undef X
    return RF_OK;
}

static const char *error_name(CUresult r)
{
    const char *name = NULL;
    if (p_cuGetErrorName(r, &name) != CUDA_SUCCESS || !name)
        return "CUDA_ERROR_UNKNOWN";
    return name;
}

static rf_status status_of(CUresult r)
{
    switch (r) {
    case CUDA_ERROR_OUT_OF_MEMORY: return RF_E_NOMEM;
    case CUDA_ERROR_INVALID_IMAGE:
    case CUDA_ERROR_NO_BINARY_FOR_GPU:
    case CUDA_ERROR_INVALID_PTX:
    case CUDA_ERROR_UNSUPPORTED_PTX_VERSION: return RF_E_FORMAT;
    case CUDA_ERROR_NOT_FOUND: return RF_E_NOTFOUND;
    default: return RF_E_IO;
    }
}

static rf_status fail(rf_error *err, CUresult r, const char *call)
{
    return rf_fail(err, status_of(r), "%s: %s", call, error_name(r));
}

static void format_size(char *out, size_t cap, size_t n)
{
    if (n >= (size_t)1 << 30)
        snprintf(out, cap, "%.1f GiB", (double)n / (double)(1u << 30));
    else
        snprintf(out, cap, "%.1f MiB", (double)n / (double)(1u << 20));
}

/* Makes this thread's device's primary context current on it. */
static CUresult bind(void)
{
    CUcontext context = mine ? mine : first;
    if (current == context)
        return CUDA_SUCCESS;
    CUresult r = p_cuCtxSetCurrent(context);
    if (r == CUDA_SUCCESS)
        current = context;
    return r;
}

#define BIND(err)                                                                                                  \
    do {                                                                                                           \
        CUresult b_ = bind();                                                                                      \
        if (b_ != CUDA_SUCCESS)                                                                                    \
            return fail(err, b_, "cuCtxSetCurrent");                                                               \
    } while (0)

static rf_status cuda_mem_free(size_t *bytes, rf_error *err)
{
    BIND(err);
    size_t total = 0;
    CUresult r = p_cuMemGetInfo(bytes, &total);
    return r == CUDA_SUCCESS ? RF_OK : fail(err, r, "cuMemGetInfo");
}

static rf_status cuda_malloc(gpu_ptr *p, size_t bytes, rf_error *err)
{
    BIND(err);
    CUdeviceptr d = 0;
    CUresult r = p_cuMemAlloc(&d, bytes);
    if (r != CUDA_SUCCESS) {
        char size[32], call[64];
        format_size(size, sizeof size, bytes);
        snprintf(call, sizeof call, "cuMemAlloc(%s)", size);
        *p = 0;
        return fail(err, r, call);
    }
    *p = (gpu_ptr)d;
    return RF_OK;
}

static void cuda_free(gpu_ptr p)
{
    if (p && bind() == CUDA_SUCCESS)
        p_cuMemFree((CUdeviceptr)p);
}

static rf_status cuda_memcpy_htod(gpu_ptr dst, const void *src, size_t n, gpu_stream *s, rf_error *err)
{
    BIND(err);
    CUresult r = p_cuMemcpyHtoDAsync((CUdeviceptr)dst, src, n, (CUstream)s);
    return r == CUDA_SUCCESS ? RF_OK : fail(err, r, "cuMemcpyHtoDAsync");
}

static rf_status cuda_memcpy_dtoh(void *dst, gpu_ptr src, size_t n, gpu_stream *s, rf_error *err)
{
    BIND(err);
    CUresult r = p_cuMemcpyDtoHAsync(dst, (CUdeviceptr)src, n, (CUstream)s);
    return r == CUDA_SUCCESS ? RF_OK : fail(err, r, "cuMemcpyDtoHAsync");
}

static rf_status cuda_memcpy_dtod(gpu_ptr dst, gpu_ptr src, size_t n, gpu_stream *s, rf_error *err)
{
    BIND(err);
    CUresult r = p_cuMemcpyDtoDAsync((CUdeviceptr)dst, (CUdeviceptr)src, n, (CUstream)s);
    return r == CUDA_SUCCESS ? RF_OK : fail(err, r, "cuMemcpyDtoDAsync");
}

static rf_status cuda_memset(gpu_ptr dst, int byte, size_t n, gpu_stream *s, rf_error *err)
{
    BIND(err);
    CUresult r = p_cuMemsetD8Async((CUdeviceptr)dst, (unsigned char)byte, n, (CUstream)s);
    return r == CUDA_SUCCESS ? RF_OK : fail(err, r, "cuMemsetD8Async");
}

static rf_status cuda_module_load(const void *code, size_t size, gpu_module **m, rf_error *err)
{
    BIND(err);
    CUmodule mod = NULL;
    CUresult r = p_cuModuleLoadData(&mod, code);
    if (r != CUDA_SUCCESS) {
        char call[64];
        snprintf(call, sizeof call, "cuModuleLoadData(%zu bytes)", size);
        return fail(err, r, call);
    }
    *m = (gpu_module *)mod;
    return RF_OK;
}

static void cuda_module_unload(gpu_module *m)
{
    if (m && bind() == CUDA_SUCCESS)
        p_cuModuleUnload((CUmodule)m);
}

static rf_status cuda_function(gpu_module *m, const char *name, gpu_function **f, rf_error *err)
{
    BIND(err);
    CUfunction fn = NULL;
    CUresult r = p_cuModuleGetFunction(&fn, (CUmodule)m, name);
    if (r != CUDA_SUCCESS) {
        char call[160];
        snprintf(call, sizeof call, "cuModuleGetFunction(%.120s)", name);
        return fail(err, r, call);
    }
    *f = (gpu_function *)fn;
    return RF_OK;
}

static rf_status cuda_launch(gpu_function *f, const uint32_t grid[3], const uint32_t block[3], uint32_t shared_bytes,
                             gpu_stream *s, void **args, rf_error *err)
{
    BIND(err);
    char call[128];
    snprintf(call, sizeof call, "cuLaunchKernel(grid %ux%ux%u, block %ux%ux%u, %u B shared)", grid[0], grid[1],
             grid[2], block[0], block[1], block[2], shared_bytes);
    CUresult r;
    if (shared_bytes > SHARED_DEFAULT_MAX) {
        r = p_cuFuncSetAttribute((CUfunction)f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)shared_bytes);
        if (r != CUDA_SUCCESS)
            return fail(err, r, call);
    }
    r = p_cuLaunchKernel((CUfunction)f, grid[0], grid[1], grid[2], block[0], block[1], block[2], shared_bytes,
                         (CUstream)s, args, NULL);
    return r == CUDA_SUCCESS ? RF_OK : fail(err, r, call);
}

static rf_status cuda_stream_create(gpu_stream **s, rf_error *err)
{
    BIND(err);
    CUstream st = NULL;
    CUresult r = p_cuStreamCreate(&st, CU_STREAM_DEFAULT);
    if (r != CUDA_SUCCESS)
        return fail(err, r, "cuStreamCreate");
    *s = (gpu_stream *)st;
    return RF_OK;
}

static void cuda_stream_destroy(gpu_stream *s)
{
    if (s && bind() == CUDA_SUCCESS)
        p_cuStreamDestroy((CUstream)s);
}

static rf_status cuda_stream_sync(gpu_stream *s, rf_error *err)
{
    BIND(err);
    CUresult r = p_cuStreamSynchronize((CUstream)s);
    return r == CUDA_SUCCESS ? RF_OK : fail(err, r, "cuStreamSynchronize");
}

static rf_status cuda_capture_begin(gpu_stream *s, rf_error *err)
{
    BIND(err);
    CUresult r = p_cuStreamBeginCapture((CUstream)s, CU_STREAM_CAPTURE_MODE_RELAXED);
    return r == CUDA_SUCCESS ? RF_OK : fail(err, r, "cuStreamBeginCapture");
}

static rf_status cuda_capture_end(gpu_stream *s, gpu_graph **g, rf_error *err)
{
    BIND(err);
    CUgraph graph = NULL;
    CUgraphExec exec = NULL;
    CUresult r = p_cuStreamEndCapture((CUstream)s, &graph);
    if (r != CUDA_SUCCESS)
        return fail(err, r, "cuStreamEndCapture");
    r = p_cuGraphInstantiate(&exec, graph, 0);
    p_cuGraphDestroy(graph);
    if (r != CUDA_SUCCESS)
        return fail(err, r, "cuGraphInstantiate");
    *g = (gpu_graph *)exec;
    return RF_OK;
}

static rf_status cuda_graph_launch(gpu_graph *g, gpu_stream *s, rf_error *err)
{
    BIND(err);
    CUresult r = p_cuGraphLaunch((CUgraphExec)g, (CUstream)s);
    return r == CUDA_SUCCESS ? RF_OK : fail(err, r, "cuGraphLaunch");
}

static void cuda_graph_destroy(gpu_graph *g)
{
    if (g && bind() == CUDA_SUCCESS)
        p_cuGraphExecDestroy((CUgraphExec)g);
}

static rf_status cuda_event_create(gpu_event **e, rf_error *err)
{
    BIND(err);
    CUevent ev = NULL;
    CUresult r = p_cuEventCreate(&ev, CU_EVENT_DEFAULT);
    if (r != CUDA_SUCCESS)
        return fail(err, r, "cuEventCreate");
    *e = (gpu_event *)ev;
    return RF_OK;
}

static void cuda_event_destroy(gpu_event *e)
{
    if (e && bind() == CUDA_SUCCESS)
        p_cuEventDestroy((CUevent)e);
}

static rf_status cuda_event_record(gpu_event *e, gpu_stream *s, rf_error *err)
{
    BIND(err);
    CUresult r = p_cuEventRecord((CUevent)e, (CUstream)s);
    return r == CUDA_SUCCESS ? RF_OK : fail(err, r, "cuEventRecord");
}

static rf_status cuda_event_elapsed(gpu_event *start, gpu_event *stop, float *ms, rf_error *err)
{
    BIND(err);
    CUresult r = p_cuEventElapsedTime(ms, (CUevent)start, (CUevent)stop);
    return r == CUDA_SUCCESS ? RF_OK : fail(err, r, "cuEventElapsedTime");
}

static const gpu_api cuda_api = {
    .name = "cuda",
    .malloc = cuda_malloc,
    .mem_free = cuda_mem_free,
    .free = cuda_free,
    .memcpy_htod = cuda_memcpy_htod,
    .memcpy_dtoh = cuda_memcpy_dtoh,
    .memcpy_dtod = cuda_memcpy_dtod,
    .memset = cuda_memset,
    .module_load = cuda_module_load,
    .module_unload = cuda_module_unload,
    .function = cuda_function,
    .launch = cuda_launch,
    .stream_create = cuda_stream_create,
    .stream_destroy = cuda_stream_destroy,
    .stream_sync = cuda_stream_sync,
    .capture_begin = cuda_capture_begin,
    .capture_end = cuda_capture_end,
    .graph_launch = cuda_graph_launch,
    .graph_destroy = cuda_graph_destroy,
    .event_create = cuda_event_create,
    .event_destroy = cuda_event_destroy,
    .event_record = cuda_event_record,
    .event_elapsed = cuda_event_elapsed,
};

static rf_status open_device(int ordinal, gpu_device_info *info, rf_error *err)
{
    if (!loaded) {
        rf_status st = load(err);
        if (st != RF_OK)
            return st;
        loaded = true;
    }
    CUresult r = p_cuInit(0);
    if (r != CUDA_SUCCESS)
        return rf_fail(err, RF_E_UNSUPPORTED, "cuda: no device (cuInit: %s)", error_name(r));
    int n = 0;
    r = p_cuDeviceGetCount(&n);
    if (r != CUDA_SUCCESS)
        return rf_fail(err, RF_E_UNSUPPORTED, "cuda: no device (cuDeviceGetCount: %s)", error_name(r));
    if (n <= 0)
        return rf_fail(err, RF_E_UNSUPPORTED, "cuda: no device (cuDeviceGetCount returned 0)");
    ordinal = gpu_ordinal(ordinal, n);
    if (ordinal >= n || ordinal >= MAX_DEVICES)
        return rf_fail(err, RF_E_ARG, "cuda: no device %d (%d found)", ordinal, n);

    CUdevice dev;
    if ((r = p_cuDeviceGet(&dev, ordinal)) != CUDA_SUCCESS)
        return fail(err, r, "cuDeviceGet");
    if (!contexts[ordinal] && (r = p_cuDevicePrimaryCtxRetain(&contexts[ordinal], dev)) != CUDA_SUCCESS)
        return fail(err, r, "cuDevicePrimaryCtxRetain");
    if (!first)
        first = contexts[ordinal];
    mine = contexts[ordinal];
    if ((r = bind()) != CUDA_SUCCESS)
        return fail(err, r, "cuCtxSetCurrent");

    int major = 0, minor = 0, sms = 0, warp = 0;
    size_t total = 0;
    if ((r = p_cuDeviceGetName(info->name, (int)sizeof info->name, dev)) != CUDA_SUCCESS)
        return fail(err, r, "cuDeviceGetName");
    if ((r = p_cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev)) != CUDA_SUCCESS ||
        (r = p_cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev)) != CUDA_SUCCESS ||
        (r = p_cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev)) != CUDA_SUCCESS ||
        (r = p_cuDeviceGetAttribute(&warp, CU_DEVICE_ATTRIBUTE_WARP_SIZE, dev)) != CUDA_SUCCESS)
        return fail(err, r, "cuDeviceGetAttribute");
    if ((r = p_cuDeviceTotalMem(&total, dev)) != CUDA_SUCCESS)
        return fail(err, r, "cuDeviceTotalMem");
    snprintf(info->arch, sizeof info->arch, "sm_%d%d", major, minor);
    info->total_mem = total;
    info->n_cu = sms;
    info->wave = warp;
    info->ordinal = ordinal;
    info->count = n;
    return RF_OK;
}

rf_status gpu_cuda_open(int ordinal, const gpu_api **api, gpu_device_info *info, rf_error *err)
{
    pthread_mutex_lock(&open_lock);
    rf_status st = open_device(ordinal, info, err);
    pthread_mutex_unlock(&open_lock);
    if (st == RF_OK)
        *api = &cuda_api;
    return st;
}
