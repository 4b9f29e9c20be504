/*
 * fake_coll.c: a stand-in for NCCL that test_tp loads through
 * ROCMFORGE_COLL_LIB (with ROCMFORGE_COLL_HOST=1), so that a world of
 * rocmforge processes, each running one tensor-parallel rank on the CPU,
 * meets through runtime/gpu/coll.c as GPU ranks would meet through NCCL.
 *
 * The six calls coll.c loads, on host memory: the unique id names a file
 * in the temporary directory, mapped shared (no /dev/shm needed); rank 0
 * makes it (a process-shared barrier, then a slot of MAX_FLOATS a rank),
 * the others open it once it is ready. An
 * all_reduce puts each rank's operand in its slot and, after a barrier,
 * every rank sums the slots in rank order (rank 0's plus rank 1's plus
 * ...: the order of tp.c's own reference, so the logits are the same bit
 * for bit); an all_gather concatenates the slots. A test double, never
 * part of the product.
 *
 * FAKE_COLL_CUDA=1: the operands are CUDA device memory (a GPU rank's
 * run_world, several threads on one GPU, which NCCL refuses): each rank
 * waits for its stream, copies its operand to its slot and the sum back
 * through libcuda, loaded here, on the context current on the calling
 * thread. That cannot be recorded into a graph, so a call on a capturing
 * stream fails (ERR_CAPTURE) and the caller runs the step launch by launch.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { ID_BYTES = 128, MAX_RANKS = 8, MAX_FLOATS = 1 << 24, FLOAT32 = 7, SUM = 0 };
enum { OK = 0, ERR_SYSTEM = 2, ERR_INVALID = 4, ERR_USAGE = 5, ERR_CAPTURE = 6 };

typedef struct {
    char internal[ID_BYTES];
} unique_id;

typedef struct {
    atomic_int ready;
    int nranks;
    pthread_barrier_t barrier;
} header;

typedef struct comm {
    header *h;
    float *slots;
    size_t bytes;
    int nranks, rank;
    char name[ID_BYTES];
} comm;

static void nap(void) /* a millisecond */
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

static size_t segment_bytes(int nranks) { return 4096 + (size_t)nranks * MAX_FLOATS * sizeof(float); }

int ncclGetUniqueId(unique_id *id)
{
    static atomic_int counter;
    memset(id, 0, sizeof *id);
    const char *tmp = getenv("TMPDIR");
    snprintf(id->internal, sizeof id->internal, "%.80s/rf-fake-coll-%d-%d-%ld", tmp && *tmp ? tmp : "/tmp", (int)getpid(),
             atomic_fetch_add(&counter, 1), (long)time(NULL));
    return OK;
}

int ncclCommInitRank(comm **out, int nranks, unique_id id, int rank)
{
    if (nranks < 1 || nranks > MAX_RANKS || rank < 0 || rank >= nranks)
        return ERR_INVALID;
    comm *c = calloc(1, sizeof *c);
    if (!c)
        return ERR_SYSTEM;
    memcpy(c->name, id.internal, sizeof c->name);
    c->name[sizeof c->name - 1] = 0;
    c->nranks = nranks;
    c->rank = rank;
    c->bytes = segment_bytes(nranks);
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 10000; tries++) { /* the others wait for rank 0's segment, 10 s at most */
        fd = rank == 0 ? open(c->name, O_CREAT | O_EXCL | O_RDWR, 0600) : open(c->name, O_RDWR);
        if (fd < 0 && rank == 0)
            break;
        if (fd < 0)
            nap();
    }
    if (fd < 0 || (rank == 0 && ftruncate(fd, (off_t)c->bytes) != 0)) {
        if (fd >= 0)
            close(fd);
        free(c);
        return ERR_SYSTEM;
    }
    void *m = MAP_FAILED;
    for (int tries = 0; m == MAP_FAILED && tries < 10000; tries++) { /* until rank 0 has sized it */
        off_t end = lseek(fd, 0, SEEK_END);
        if (end >= (off_t)c->bytes)
            m = mmap(NULL, c->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        else
            nap();
    }
    close(fd);
    if (m == MAP_FAILED) {
        free(c);
        return ERR_SYSTEM;
    }
    c->h = m;
    c->slots = (float *)((char *)m + 4096);
    if (rank == 0) {
        pthread_barrierattr_t a;
        pthread_barrierattr_init(&a);
        pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        pthread_barrier_init(&c->h->barrier, &a, (unsigned)nranks);
        pthread_barrierattr_destroy(&a);
        c->h->nranks = nranks;
        atomic_store(&c->h->ready, 1);
    } else {
        for (int tries = 0; !atomic_load(&c->h->ready) && tries < 10000; tries++)
            nap();
        if (!atomic_load(&c->h->ready) || c->h->nranks != nranks) {
            munmap(m, c->bytes);
            free(c);
            return ERR_USAGE;
        }
    }
    pthread_barrier_wait(&c->h->barrier); /* every rank is in */
    *out = c;
    return OK;
}

/* FAKE_COLL_CUDA=1: libcuda's calls, by the driver API's types (ints and
 * integer addresses; cuda.h is not needed) */
static struct {
    int (*sync)(void *stream);
    int (*dtoh)(void *dst, unsigned long long src, size_t n);
    int (*htod)(unsigned long long dst, const void *src, size_t n);
    int (*capturing)(void *stream, int *status);
} cu;

static int mode; /* 0 host memory, 1 CUDA's, 2 CUDA's asked for and libcuda missing: every call fails */
static pthread_once_t mode_once = PTHREAD_ONCE_INIT;

static void find_mode(void)
{
    const char *e = getenv("FAKE_COLL_CUDA");
    if (!e || strcmp(e, "1"))
        return;
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    void *f[4] = {h ? dlsym(h, "cuStreamSynchronize") : NULL, h ? dlsym(h, "cuMemcpyDtoH_v2") : NULL,
                  h ? dlsym(h, "cuMemcpyHtoD_v2") : NULL, h ? dlsym(h, "cuStreamIsCapturing") : NULL};
    mode = 2;
    if (!f[0] || !f[1] || !f[2] || !f[3])
        return;
    memcpy(&cu.sync, &f[0], sizeof f[0]);
    memcpy(&cu.dtoh, &f[1], sizeof f[1]);
    memcpy(&cu.htod, &f[2], sizeof f[2]);
    memcpy(&cu.capturing, &f[3], sizeof f[3]);
    mode = 1;
}

static int cuda_mode(void)
{
    pthread_once(&mode_once, find_mode);
    return mode;
}

int ncclAllReduce(const void *send, void *recv, size_t count, int type, int op, comm *c, void *stream)
{
    if (type != FLOAT32 || op != SUM || count > MAX_FLOATS)
        return ERR_INVALID;
    int mode = cuda_mode(), capturing = 0;
    if (mode == 2)
        return ERR_SYSTEM;
    if (mode == 1 && (cu.capturing(stream, &capturing) || capturing))
        return ERR_CAPTURE;
    float *slot = c->slots + (size_t)c->rank * MAX_FLOATS;
    if (mode == 1 && (cu.sync(stream) || cu.dtoh(slot, (unsigned long long)(uintptr_t)send, count * sizeof(float))))
        return ERR_SYSTEM; /* before the barrier: every rank fails alike or none */
    if (mode == 0)
        memcpy(slot, send, count * sizeof(float));
    pthread_barrier_wait(&c->h->barrier);
    float *out = mode == 1 ? malloc(count * sizeof *out) : recv;
    for (size_t j = 0; out && j < count; j++) {
        float v = c->slots[j];
        for (int r = 1; r < c->nranks; r++)
            v += c->slots[(size_t)r * MAX_FLOATS + j];
        out[j] = v;
    }
    pthread_barrier_wait(&c->h->barrier); /* the slots are read before anyone writes them again */
    int rc = out ? OK : ERR_SYSTEM;
    if (mode == 1 && out && cu.htod((unsigned long long)(uintptr_t)recv, out, count * sizeof(float)))
        rc = ERR_SYSTEM;
    if (mode == 1)
        free(out);
    return rc;
}

int ncclAllGather(const void *send, void *recv, size_t count, int type, comm *c, void *stream)
{
    (void)stream;
    if (type != FLOAT32 || count > MAX_FLOATS)
        return ERR_INVALID;
    memcpy(c->slots + (size_t)c->rank * MAX_FLOATS, send, count * sizeof(float));
    pthread_barrier_wait(&c->h->barrier);
    for (int r = 0; r < c->nranks; r++)
        memcpy((float *)recv + (size_t)r * count, c->slots + (size_t)r * MAX_FLOATS, count * sizeof(float));
    pthread_barrier_wait(&c->h->barrier);
    return OK;
}

int ncclCommDestroy(comm *c)
{
    if (!c)
        return OK;
    pthread_barrier_wait(&c->h->barrier); /* nobody uses the segment any more */
    if (c->rank == 0)
        unlink(c->name);
    munmap(c->h, c->bytes);
    free(c);
    return OK;
}

const char *ncclGetErrorString(int result)
{
    switch (result) {
    case OK: return "no error";
    case ERR_SYSTEM: return "fake_coll: a system call failed (the shared file)";
    case ERR_INVALID: return "fake_coll: invalid argument (float32 sums of at most 16M floats, up to 8 ranks)";
    case ERR_CAPTURE: return "fake_coll: a CUDA stream being captured (FAKE_COLL_CUDA copies synchronously)";
    default: return "fake_coll: the ranks do not agree";
    }
}
