/*
 * pool.c: a fixed thread pool for the CPU backend's kernels.
 *
 * cpu_pool_run(fn, ctx) calls fn(ctx, ith, nth) once on each of nth threads,
 * the calling thread being thread 0, and returns when every call has
 * returned. A decode step issues hundreds of runs of a few microseconds each,
 * so the hot path is lock-free: the caller publishes the job and bumps a
 * generation counter; workers that are spinning on that counter see it
 * without any syscall. A worker that has seen no new generation for a while
 * goes to sleep on a condition variable, so an idle pool costs no CPU. The
 * caller waits for completion the same way (spin, then sleep).
 *
 * Sleeping is made race-free Dekker style: a sleeper announces itself
 * (n_sleeping++) and re-checks the generation under the mutex; the caller
 * bumps the generation and then reads n_sleeping, both sequentially
 * consistent, so at least one of them sees the other, and the caller takes
 * the mutex before broadcasting so the wakeup cannot fall between the
 * sleeper's check and its wait. Completion: each worker writes the
 * generation it finished into its own cache line (no contended counter),
 * and the caller waits on each in turn with the same spin-then-sleep scheme,
 * being the only possible sleeper.
 *
 * Not supported: runs issued from two threads at once, or a run from inside
 * a job (asserted).
 */
#include <assert.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/cpu/ops.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Spin iterations before sleeping: about 20-50 us of pause instructions,
 * longer than the gap between two kernels of a decode step. */
enum { SPIN_ITERS = 1 << 14, SPIN_YIELD_AFTER = 1 << 10, SPIN_YIELD_EVERY = 64 };

/* One spin of a wait. After the first SPIN_YIELD_AFTER spins, every
 * SPIN_YIELD_EVERY-th is a sched_yield: on an idle machine it returns at
 * once, on a busy one it hands the core to whoever is runnable, which is
 * often the very thread being waited for. */
static inline void spin_pause(int i)
{
    if (i >= SPIN_YIELD_AFTER && i % SPIN_YIELD_EVERY == 0)
        sched_yield();
    else
        cpu_relax();
}

/* one cache line per worker: finishing a job writes only its own line */
typedef struct worker {
    _Alignas(64) _Atomic unsigned done_gen; /* generation of the last job finished */
    cpu_pool *pool;
    int ith;
} worker;

struct cpu_pool {
    int n;
    pthread_t *threads;
    worker *workers;
    void (*fn)(void *ctx, int ith, int nth);
    void *ctx;
    _Atomic unsigned gen;   /* bumped once per run */
    atomic_int n_sleeping;  /* workers waiting on work_cv */
    atomic_int caller_sleeping;
    atomic_bool stop;
    atomic_bool busy;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
};

static void *worker_main(void *arg)
{
    worker *w = arg;
    cpu_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int i = 0; g == seen && i < SPIN_ITERS; i++) {
            spin_pause(i);
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->n_sleeping, 1);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->work_cv, &p->mu);
            atomic_fetch_sub(&p->n_sleeping, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = g;
        p->fn(p->ctx, w->ith, p->n);
        atomic_store(&w->done_gen, g);
        if (atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

cpu_pool *cpu_pool_new(int n_threads)
{
    if (n_threads <= 0)
        n_threads = cpu_physical_cores();
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    p->workers = aligned_alloc(64, (size_t)n_threads * sizeof *p->workers);
    if (p->workers)
        memset(p->workers, 0, (size_t)n_threads * sizeof *p->workers);
    if (!p->threads || !p->workers) {
        free(p->threads);
        free(p->workers);
        free(p);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        p->workers[i].pool = p;
        p->workers[i].ith = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]) != 0) {
            /* run with the threads we got */
            p->n = i;
            break;
        }
    }
    return p;
}

void cpu_pool_free(cpu_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->workers);
    free(p);
}

int cpu_pool_size(const cpu_pool *p)
{
    return p ? p->n : 1;
}

void cpu_pool_run(cpu_pool *p, void (*fn)(void *ctx, int ith, int nth), void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    bool was_busy = atomic_exchange(&p->busy, 1);
    assert(!was_busy && "cpu_pool_run: concurrent or nested run");
    (void)was_busy;
    p->fn = fn;
    p->ctx = ctx;
    const unsigned g = atomic_fetch_add(&p->gen, 1) + 1; /* seq_cst: publishes fn, ctx */
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->work_cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    for (int w = 1; w < p->n; w++) {
        for (int i = 0; atomic_load_explicit(&p->workers[w].done_gen, memory_order_acquire) != g; i++) {
            if (i < SPIN_ITERS) {
                spin_pause(i);
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_store(&p->caller_sleeping, 1);
            while (atomic_load(&p->workers[w].done_gen) != g)
                pthread_cond_wait(&p->done_cv, &p->mu);
            atomic_store(&p->caller_sleeping, 0);
            pthread_mutex_unlock(&p->mu);
        }
    }
    atomic_store(&p->busy, 0);
}

/* ---- physical cores ------------------------------------------------------ */

static long read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

/* Distinct (package, core) pairs among the CPUs that have a topology
 * directory (offline CPUs have none); sysconf's count when sysfs says
 * nothing. */
int cpu_physical_cores(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1)
        online = 1;
    DIR *d = opendir("/sys/devices/system/cpu");
    if (!d)
        return (int)online;
    long *pairs = NULL;
    int n_pairs = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        if (strncmp(e->d_name, "cpu", 3) != 0 || e->d_name[3] < '0' || e->d_name[3] > '9')
            continue;
        long cpu = strtol(e->d_name + 3, &end, 10);
        if (*end)
            continue;
        char path[128];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/core_id", cpu);
        long core = read_long(path);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/physical_package_id", cpu);
        long pkg = read_long(path);
        if (core < 0)
            continue;
        long key = (pkg < 0 ? 0 : pkg) << 20 | core;
        int seen = 0;
        for (int i = 0; i < n_pairs && !seen; i++)
            seen = pairs[i] == key;
        if (seen)
            continue;
        if (n_pairs == cap) {
            cap = cap ? 2 * cap : 64;
            long *np = realloc(pairs, (size_t)cap * sizeof *np);
            if (!np)
                break;
            pairs = np;
        }
        pairs[n_pairs++] = key;
    }
    closedir(d);
    free(pairs);
    if (n_pairs < 1 || n_pairs > online)
        return (int)online;
    return n_pairs;
}
