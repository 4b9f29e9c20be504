/*
 * coll.c: NCCL or RCCL through dlopen (coll.h).
 *
 * The two libraries have one C API; the few calls a tensor-parallel step
 * needs are declared here with the types of nccl.h (which is not needed to
 * build): a communicator is an opaque pointer, the id 128 bytes passed by
 * value, results an int whose 0 is ncclSuccess, and the data type and
 * reduction are nccl.h's numbers (ncclFloat32 7, ncclSum 0). The library
 * stays loaded for the life of the process. Errors are "call: the
 * library's ncclGetErrorString", RF_E_IO.
 */
#include "runtime/gpu/coll.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/error.h"

typedef struct nccl_comm *nccl_comm_t;
typedef struct {
    char internal[RT_COLL_ID_BYTES];
} nccl_unique_id;
enum { NCCL_SUCCESS = 0, NCCL_FLOAT32 = 7, NCCL_SUM = 0 };

static struct {
    const char *name;
    int (*get_unique_id)(nccl_unique_id *id);
    int (*comm_init_rank)(nccl_comm_t *comm, int nranks, nccl_unique_id id, int rank);
    int (*all_reduce)(const void *send, void *recv, size_t count, int type, int op, nccl_comm_t comm, void *stream);
    int (*all_gather)(const void *send, void *recv, size_t count, int type, nccl_comm_t comm, void *stream);
    int (*comm_destroy)(nccl_comm_t comm);
    const char *(*error_string)(int result);
} lib;
static pthread_mutex_t lib_mu = PTHREAD_MUTEX_INITIALIZER;

struct rt_coll {
    nccl_comm_t comm;
};

/* the symbol name of h into the function pointer at slot (memcpy: dlsym's
 * void * into a function pointer, as POSIX allows); false when missing */
static bool sym(void *h, const char *name, void *slot)
{
    void *s = dlsym(h, name);
    memcpy(slot, &s, sizeof s);
    return s != NULL;
}

/* The first library of the list that loads with every call; the list is
 * $ROCMFORGE_COLL_LIB (one name or path: the tests' way to a missing
 * library), else RCCL's names, then NCCL's. A failure is not kept: a later
 * call tries again. */
static rf_status load(rf_error *err)
{
    static const char *const names[] = {"librccl.so.1", "librccl.so", "libnccl.so.2", "libnccl.so"};
    const char *env = getenv("ROCMFORGE_COLL_LIB");
    const char *const *list = env && *env ? &env : names;
    size_t n = env && *env ? 1 : sizeof names / sizeof names[0];
    char tried[512] = "";
    for (size_t i = 0; i < n; i++) {
        void *h = dlopen(list[i], RTLD_NOW | RTLD_LOCAL);
        snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s%.200s", i ? ", " : "", list[i]);
        if (!h)
            continue;
        /* the same API in both */
        bool all = sym(h, "ncclGetUniqueId", &lib.get_unique_id) && sym(h, "ncclCommInitRank", &lib.comm_init_rank) &&
                   sym(h, "ncclAllReduce", &lib.all_reduce) && sym(h, "ncclAllGather", &lib.all_gather) &&
                   sym(h, "ncclCommDestroy", &lib.comm_destroy) && sym(h, "ncclGetErrorString", &lib.error_string);
        if (all) {
            lib.name = list[i];
            return RF_OK;
        }
        dlclose(h);
        return rf_fail(err, RF_E_UNSUPPORTED, "%.200s lacks one of ncclGetUniqueId, ncclCommInitRank, ncclAllReduce, "
                       "ncclAllGather, ncclCommDestroy, ncclGetErrorString", list[i]);
    }
    return rf_fail(err, RF_E_UNSUPPORTED, "tensor parallelism on GPUs needs RCCL or NCCL, and neither library loads "
                   "(tried %s): install RCCL (AMD) or NCCL (NVIDIA), or run the ranks on the CPU (--tp N --backend "
                   "cpu)", tried);
}

rf_status rt_coll_load(const char **name, rf_error *err)
{
    pthread_mutex_lock(&lib_mu);
    /* NVLink multicast stays off (coll.h): set before the library makes
     * anything, once, under the lock (the ranks' threads join at once, and
     * setenv is not safe beside another) */
    rf_status st = lib.name ? RF_OK
                   : setenv("NCCL_NVLS_ENABLE", "0", 1) ? rf_fail(err, RF_E_NOMEM, "setenv NCCL_NVLS_ENABLE: out of memory")
                                                         : load(err);
    pthread_mutex_unlock(&lib_mu);
    if (name)
        *name = lib.name;
    return st;
}

bool rt_coll_host(void)
{
    const char *host = getenv("ROCMFORGE_COLL_HOST");
    return host && !strcmp(host, "1");
}

static rf_status check(int rc, const char *call, rf_error *err)
{
    return rc == NCCL_SUCCESS ? RF_OK : rf_fail(err, RF_E_IO, "%s: %s", call, lib.error_string(rc));
}

rf_status rt_coll_unique_id(rt_coll_id *id, rf_error *err)
{
    rf_status st = rt_coll_load(NULL, err);
    nccl_unique_id u;
    if (st == RF_OK && (st = check(lib.get_unique_id(&u), "ncclGetUniqueId", err)) == RF_OK)
        memcpy(id->bytes, u.internal, sizeof id->bytes);
    return st;
}

rf_status rt_coll_join(const rt_coll_id *id, int world, int rank, rt_coll **out, rf_error *err)
{
    *out = NULL;
    rf_status st = rt_coll_load(NULL, err);
    if (st != RF_OK)
        return st;
    rt_coll *c = calloc(1, sizeof *c);
    if (!c)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    nccl_unique_id u;
    memcpy(u.internal, id->bytes, sizeof u.internal);
    if ((st = check(lib.comm_init_rank(&c->comm, world, u, rank), "ncclCommInitRank", err)) != RF_OK) {
        free(c);
        return st;
    }
    *out = c;
    return RF_OK;
}

rf_status rt_coll_all_reduce(rt_coll *c, const void *send, void *recv, size_t n, void *stream, rf_error *err)
{
    return check(lib.all_reduce(send, recv, n, NCCL_FLOAT32, NCCL_SUM, c->comm, stream), "ncclAllReduce", err);
}

rf_status rt_coll_all_gather(rt_coll *c, const void *send, void *recv, size_t n, void *stream, rf_error *err)
{
    return check(lib.all_gather(send, recv, n, NCCL_FLOAT32, c->comm, stream), "ncclAllGather", err);
}

void rt_coll_leave(rt_coll *c)
{
    if (!c)
        return;
    lib.comm_destroy(c->comm);
    free(c);
}
