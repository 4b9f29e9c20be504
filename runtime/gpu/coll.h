/*
 * coll.h: collectives between GPUs, through NCCL (NVIDIA) or RCCL (AMD),
 * loaded at run time as the device layer and the compilers are; and the
 * rendezvous that gives every rank of a tensor-parallel world the same
 * NCCL unique id over TCP.
 *
 * A world is N processes (or threads), one a GPU, each rank r running its
 * share of the model (frontend/arch_tp.c). Rank 0 asks the library for a
 * unique id (128 bytes), serves it on HOST:PORT, and each other rank
 * fetches it from there (rt_rendezvous_*; plain TCP, no GPU, tested on
 * loopback); then every rank joins the communicator with the id
 * (rt_coll_join) and the plan's all_reduce and all_gather become
 * ncclAllReduce on the rank's stream (runtime/tp.c). We never write a
 * collective of our own for the GPU. A world's ranks are threads of one
 * process (--tp N, the id taken there) or processes (--tp-world N, the id
 * over the rendezvous below).
 *
 * NCCL_NVLS_ENABLE=0 is set in the environment before any communicator is
 * made: NVLink multicast (NVLS) must stay off on the machines this runs on.
 */
#ifndef RF_RUNTIME_GPU_COLL_H
#define RF_RUNTIME_GPU_COLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rocmforge/rocmforge.h"

#define RT_COLL_ID_BYTES 128 /* NCCL_UNIQUE_ID_BYTES, RCCL's too */

typedef struct rt_coll_id {
    unsigned char bytes[RT_COLL_ID_BYTES];
} rt_coll_id;

typedef struct rt_coll rt_coll; /* one rank's communicator */

/* The library, once a process: librccl.so.1 (then librccl.so), else
 * libnccl.so.2 (then libnccl.so), with every symbol below, or the one
 * $ROCMFORGE_COLL_LIB names; RF_E_UNSUPPORTED naming what was tried when
 * none is there (and the next call tries again). *name (may be NULL) gets
 * the one loaded. */
rf_status rt_coll_load(const char **name, rf_error *err);
/* Whether the library sums host memory: ROCMFORGE_COLL_HOST=1, with
 * ROCMFORGE_COLL_LIB naming a stand-in for NCCL (the tests'), so that the
 * CPU can run a rank and a device's operands go through the host */
bool rt_coll_host(void);
/* Rank 0's new unique id (the library loaded first). */
rf_status rt_coll_unique_id(rt_coll_id *id, rf_error *err);
/* This rank's communicator of world ranks, on the device current on the
 * calling thread; every rank calls it with the same id, and it returns
 * when all have. */
rf_status rt_coll_join(const rt_coll_id *id, int world, int rank, rt_coll **out, rf_error *err);
/* On stream (a hipStream_t / cudaStream_t; NULL the default): recv = the
 * sum over the ranks of send, n floats; recv = the ranks' n floats of send
 * one after another, rank 0's first. */
rf_status rt_coll_all_reduce(rt_coll *c, const void *send, void *recv, size_t n, void *stream, rf_error *err);
rf_status rt_coll_all_gather(rt_coll *c, const void *send, void *recv, size_t n, void *stream, rf_error *err);
void rt_coll_leave(rt_coll *c); /* NULL: nothing */

/* ---- the rendezvous (rendezvous.c) ------------------------------------------- */

typedef struct rt_rendezvous rt_rendezvous; /* rank 0's listening socket */

/* Rank 0: listens on addr "HOST:PORT" (PORT 0: any free port, *port says
 * which; port may be NULL). */
rf_status rt_rendezvous_listen(const char *addr, rt_rendezvous **out, uint16_t *port, rf_error *err);
/* Rank 0: gives id to each of the other world - 1 ranks as it connects
 * (each says its rank; a rank out of range or twice is refused), waiting
 * at most timeout_ms for them all. */
rf_status rt_rendezvous_serve(rt_rendezvous *r, uint32_t world, const rt_coll_id *id, int timeout_ms, rf_error *err);
void rt_rendezvous_close(rt_rendezvous *r); /* NULL: nothing */
/* Rank 1..world-1: fetches the id from addr, retrying the connection
 * until rank 0 listens or timeout_ms has passed. */
rf_status rt_rendezvous_fetch(const char *addr, uint32_t rank, uint32_t world, rt_coll_id *id, int timeout_ms,
                              rf_error *err);

#endif
