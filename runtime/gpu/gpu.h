/*
 * gpu.h: the device layer, the HIP calls the GPU backend makes.
 *
 * The backend's logic (runtime/gpu/exec.c) is written once against this
 * table. On AMD it is the HIP runtime (libamdhip64); on NVIDIA the same
 * calls map thinly onto the CUDA driver API (libcuda), the way HIP itself
 * maps to CUDA (HIP 5.2's own nvidia headers do not build against CUDA 13).
 * Both libraries are loaded at run time, so the binary starts on a machine
 * with no GPU and reports one clear error when asked to use it.
 *
 * A thread works on the device it opened last (gpu_open), or, before it
 * opens one, on the first device the process opened: a tensor-parallel
 * session's ranks each open their GPU on a thread of their own
 * (runtime/tp.c); everything else opens device 0 and may call from any
 * thread.
 *
 * Every call returns a status and fills err with the call and the driver's
 * own error name ("cuMemAlloc(1.2 GiB): CUDA_ERROR_OUT_OF_MEMORY").
 * A session's work goes through one stream, in order.
 */
#ifndef RF_RUNTIME_GPU_GPU_H
#define RF_RUNTIME_GPU_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "rocmforge/rocmforge.h"

typedef uint64_t gpu_ptr;                /* a device address; 0 is none */
typedef struct gpu_module gpu_module;     /* hipModule_t / CUmodule */
typedef struct gpu_function gpu_function; /* hipFunction_t / CUfunction */
typedef struct gpu_stream gpu_stream;     /* hipStream_t / CUstream */
typedef struct gpu_graph gpu_graph;       /* an instantiated graph: hipGraphExec_t / CUgraphExec */
typedef struct gpu_event gpu_event;       /* hipEvent_t / CUevent */

typedef struct gpu_device_info {
    char name[128];        /* "AMD Instinct MI210", "NVIDIA H100 80GB HBM3" */
    char arch[64];         /* full target id: "gfx90a:sramecc+:xnack-", "sm_90" */
    uint64_t total_mem;    /* bytes */
    int n_cu;              /* compute units / multiprocessors */
    int wave;              /* wavefront / warp size */
    int ordinal;           /* which device this is */
    int count;             /* how many devices the driver sees */
} gpu_device_info;

typedef struct gpu_api {
    const char *name;      /* "hip" or "cuda" */
    rf_status (*malloc)(gpu_ptr *p, size_t bytes, rf_error *err);
    rf_status (*mem_free)(size_t *bytes, rf_error *err); /* the device's free memory now */
    void (*free)(gpu_ptr p);
    /* copies are ordered on the stream; *_sync variants wait for them */
    rf_status (*memcpy_htod)(gpu_ptr dst, const void *src, size_t n, gpu_stream *s, rf_error *err);
    rf_status (*memcpy_dtoh)(void *dst, gpu_ptr src, size_t n, gpu_stream *s, rf_error *err);
    rf_status (*memcpy_dtod)(gpu_ptr dst, gpu_ptr src, size_t n, gpu_stream *s, rf_error *err);
    rf_status (*memset)(gpu_ptr dst, int byte, size_t n, gpu_stream *s, rf_error *err);
    rf_status (*module_load)(const void *code, size_t size, gpu_module **m, rf_error *err);
    void (*module_unload)(gpu_module *m);
    rf_status (*function)(gpu_module *m, const char *name, gpu_function **f, rf_error *err);
    /* args[i] points at the i-th kernel parameter's value */
    rf_status (*launch)(gpu_function *f, const uint32_t grid[3], const uint32_t block[3], uint32_t shared_bytes,
                        gpu_stream *s, void **args, rf_error *err);
    rf_status (*stream_create)(gpu_stream **s, rf_error *err);
    void (*stream_destroy)(gpu_stream *s);
    rf_status (*stream_sync)(gpu_stream *s, rf_error *err);
    /* Graphs: between capture_begin and capture_end the stream's work is
     * recorded, not run; capture_end instantiates it, and graph_launch runs
     * the whole of it again on a stream. A failed capture_end leaves the
     * stream out of capture. */
    rf_status (*capture_begin)(gpu_stream *s, rf_error *err);
    rf_status (*capture_end)(gpu_stream *s, gpu_graph **g, rf_error *err);
    rf_status (*graph_launch)(gpu_graph *g, gpu_stream *s, rf_error *err);
    void (*graph_destroy)(gpu_graph *g);
    /* Events, for timing kernels without synchronising each launch: the
     * milliseconds between two recorded events, once the second is done. */
    rf_status (*event_create)(gpu_event **e, rf_error *err);
    void (*event_destroy)(gpu_event *e);
    rf_status (*event_record)(gpu_event *e, gpu_stream *s, rf_error *err);
    rf_status (*event_elapsed)(gpu_event *start, gpu_event *stop, float *ms, rf_error *err);
} gpu_api;

/* Opens device `ordinal` through the first driver that has one: which is
 * "hip", "cuda" or NULL (try HIP, then CUDA). Loads the library, initialises
 * it, makes the device the calling thread's and fills info. RF_E_UNSUPPORTED with one
 * line saying what was missing (no library, no device) when nothing works.
 * GPU_NTH(k) is device k modulo the devices the process sees: a
 * tensor-parallel process's rank on a host of several GPUs. */
#define GPU_NTH(k) (-1 - (k))
/* the device an ordinal names among n (GPU_NTH's modulo n); what the
 * drivers open */
static inline int gpu_ordinal(int ordinal, int n) { return ordinal < 0 ? (-1 - ordinal) % n : ordinal; }
rf_status gpu_open(const char *which, int ordinal, const gpu_api **api, gpu_device_info *info, rf_error *err);

#endif
