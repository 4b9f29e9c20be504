/*
 * cache.c: the on-disk kernel cache, and building a program through it.
 * (A little over 800 lines: the file format, its checks, the store and the
 * parallel build that uses them read best together.)
 *
 * One file per code object, DIR/KEY.rfko, KEY the kernel key in hex. The
 * file is a header and the payload (the code object), integers
 * little-endian:
 *
 *     0  char[4]   magic "RFKO"
 *     4  u32       format version (1)
 *     8  u32       header size = 128 + the three string lengths; the payload starts here
 *    12  u32       0 (reserved)
 *    16  u64       payload size; header size + payload size = the file's size
 *    24  char[64]  the key, lowercase hex: the same as the file's name
 *    88  u8[32]    SHA-256 of the payload
 *   120  u16 x 3   lengths of the arch target, compiler id, kernel name
 *   126  u16       0 (reserved)
 *   128            arch target, compiler id, kernel name (not NUL-terminated)
 *
 * Every load checks all of it: magic, version, that the sizes add up to the
 * file's size exactly, that the key is the one asked for and the one the
 * file is named by (a file copied or renamed onto another key is foreign),
 * that the strings name the target, compiler and kernel being built, and
 * the payload's hash. A file that fails any check is reported through the
 * warning callback and treated as a miss; the store that follows replaces
 * it. Nothing in the header is trusted before it is checked, and a count
 * never sizes an allocation: the file's own size does.
 *
 * A store writes KEY.rfko.tmp.PID.N (N counts this process's stores) with
 * O_EXCL and renames it over KEY.rfko, so a reader sees a whole file or
 * none, and two processes storing the same key both succeed: the last
 * rename wins and both files are the same. There is no fsync: a file torn
 * by a power cut fails its hash on the next load and is recompiled.
 * `clear` removes KEY.rfko files and the temporary files of writers that
 * are gone (no such process, or an hour old); no other file is touched.
 *
 * cg_build_program loads what it can on the calling thread, then compiles
 * the misses on worker threads that take kernels from one shared index.
 * The first compile error stops the others from taking more; once they
 * have joined, the program is left as it came (no code attached) and the
 * error names the kernel.
 */
#include "codegen/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "support/error.h"

#define RFKO_MAGIC "RFKO"
#define RFKO_VERSION 1u
#define RFKO_FIXED 128u        /* header bytes before the strings */
#define RFKO_MAX_STRING 4096u  /* per string; real ones are under a hundred */
#define RFKO_MAX_FILE (1ull << 31)
#define TMP_STALE_SECONDS 3600

struct cg_cache {
    char *dir;
};

static atomic_uint tmp_counter;

/* ---- keys ----------------------------------------------------------------- */

static void put_field(cg_sha256 *s, const char *str)
{
    uint64_t n = strlen(str);
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(n >> (8 * i));
    cg_sha256_update(s, len, sizeof len);
    cg_sha256_update(s, str, (size_t)n);
}

void cg_kernel_key(const char *source, const char *target, const char *compiler_id, const char *options, char out[65])
{
    cg_sha256 s;
    cg_sha256_init(&s);
    put_field(&s, "rocmforge kernel key 1");
    put_field(&s, source);
    put_field(&s, target);
    put_field(&s, compiler_id);
    put_field(&s, options);
    cg_sha256_final_hex(&s, out);
}

static bool is_key(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* "KEY.rfko" */
static bool is_entry_name(const char *name)
{
    return strlen(name) == 64 + 5 && is_key(name, 64) && !strcmp(name + 64, ".rfko");
}

/* "KEY.rfko.tmp.PID.N": the pid, or 0 when name is not one */
static long tmp_entry_pid(const char *name)
{
    if (strlen(name) < 64 + 13 || !is_key(name, 64) || strncmp(name + 64, ".rfko.tmp.", 10))
        return 0;
    const char *p = name + 74;
    long pid = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((pid = pid * 10 + (*p - '0')) > 1L << 30)
            return 0;
    if (*p != '.' || !p[1])
        return 0;
    for (p++; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return pid;
}

/* ---- the directory -------------------------------------------------------- */

static char *path_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = malloc(na + nb + 2);
    if (p) {
        memcpy(p, a, na);
        p[na] = '/';
        memcpy(p + na + 1, b, nb + 1);
    }
    return p;
}

static rf_status mkdirs(char *path, rf_error *err)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        int r = mkdir(path, 0755);
        int e = errno;
        *p = c;
        if (r != 0 && e != EEXIST)
            return rf_fail(err, RF_E_IO, "kernel cache: cannot create directory %.*s: %s", (int)(p - path), path,
                           strerror(e));
        if (!c)
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return rf_fail(err, RF_E_IO, "kernel cache: %s is not a directory", path);
    return RF_OK;
}

rf_status cg_cache_open(const char *dir, cg_cache **out, rf_error *err)
{
    *out = NULL;
    char *path;
    const char *env;
    if (dir && *dir)
        path = strdup(dir);
    else if ((env = getenv("ROCMFORGE_CACHE")) && *env)
        path = strdup(env);
    else if ((env = getenv("XDG_CACHE_HOME")) && *env)
        path = path_join(env, "rocmforge");
    else if ((env = getenv("HOME")) && *env)
        path = path_join(env, ".cache/rocmforge");
    else
        return rf_fail(err, RF_E_ARG, "kernel cache: no directory: set ROCMFORGE_CACHE, XDG_CACHE_HOME or HOME");
    if (!path)
        return rf_fail(err, RF_E_NOMEM, "kernel cache: out of memory");
    for (size_t n = strlen(path); n > 1 && path[n - 1] == '/'; n--)
        path[n - 1] = 0;
    cg_cache *c = malloc(sizeof *c);
    rf_status s = c ? mkdirs(path, err) : rf_fail(err, RF_E_NOMEM, "kernel cache: out of memory");
    if (s != RF_OK) {
        free(path);
        free(c);
        return s;
    }
    c->dir = path;
    *out = c;
    return RF_OK;
}

void cg_cache_close(cg_cache *c)
{
    if (c) {
        free(c->dir);
        free(c);
    }
}

const char *cg_cache_dir(const cg_cache *c) { return c->dir; }

char *cg_cache_path(const cg_cache *c, const char *key)
{
    char name[64 + 6];
    snprintf(name, sizeof name, "%.64s.rfko", key);
    return path_join(c->dir, name);
}

/* ---- reading and checking one file ---------------------------------------- */

static uint64_t rd_le(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void wr_le(uint8_t *b, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

typedef struct entry {
    char key[65];
    char target[RFKO_MAX_STRING + 1], compiler[RFKO_MAX_STRING + 1], name[RFKO_MAX_STRING + 1];
    uint64_t file_size, header_size, payload_size;
    uint8_t *file;        /* the whole file (malloc'd) */
} entry;

/* Whole file into e->file. RF_E_NOTFOUND when absent, RF_E_IO when it cannot
 * be read, RF_E_FORMAT (why in err) when too large to be ours. */
static rf_status read_whole(const char *path, entry *e, rf_error *err)
{
    e->file = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? RF_E_NOTFOUND : rf_fail(err, RF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    rf_status s = RF_OK;
    if (fstat(fd, &st) != 0)
        s = rf_fail(err, RF_E_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        s = rf_fail(err, RF_E_FORMAT, "not a regular file");
    else if ((uint64_t)st.st_size > RFKO_MAX_FILE)
        s = rf_fail(err, RF_E_FORMAT, "%" PRIu64 " bytes, more than a code object can be", (uint64_t)st.st_size);
    else if (!(e->file = malloc(st.st_size ? (size_t)st.st_size : 1)))
        s = rf_fail(err, RF_E_NOMEM, "%s: out of memory for %" PRIu64 " bytes", path, (uint64_t)st.st_size);
    size_t got = 0;
    while (s == RF_OK && got < (size_t)st.st_size) {
        ssize_t r = read(fd, e->file + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            s = rf_fail(err, RF_E_IO, "%s: cannot read: %s", path, strerror(errno));
        if (r <= 0) /* at 0 it shrank under us: what we have is what is checked */
            break;
        got += (size_t)r;
    }
    close(fd);
    e->file_size = got;
    if (s != RF_OK) {
        free(e->file);
        e->file = NULL;
    }
    return s;
}

static bool take_string(const uint8_t *p, uint64_t n, char *out)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] == 0x7f)
            return false;
    memcpy(out, p, (size_t)n);
    out[n] = 0;
    return true;
}

/* Checks e->file as the file named file_key; RF_E_FORMAT with what is wrong. */
static rf_status check_entry(entry *e, const char *file_key, rf_error *err)
{
    const uint8_t *b = e->file;
    uint64_t n = e->file_size;
    if (n < RFKO_FIXED)
        return rf_fail(err, RF_E_FORMAT, "truncated: %" PRIu64 " bytes, shorter than the %u-byte header", n,
                       RFKO_FIXED);
    if (memcmp(b, RFKO_MAGIC, 4))
        return rf_fail(err, RF_E_FORMAT, "not a kernel cache file (magic %02x %02x %02x %02x, not \"RFKO\")", b[0],
                       b[1], b[2], b[3]);
    uint32_t version = (uint32_t)rd_le(b + 4, 4);
    if (version != RFKO_VERSION)
        return rf_fail(err, RF_E_FORMAT, "format version %" PRIu32 ", this build reads %u", version, RFKO_VERSION);
    e->header_size = rd_le(b + 8, 4);
    e->payload_size = rd_le(b + 16, 8);
    uint64_t lt = rd_le(b + 120, 2), lc = rd_le(b + 122, 2), ln = rd_le(b + 124, 2);
    if (rd_le(b + 12, 4) || rd_le(b + 126, 2))
        return rf_fail(err, RF_E_FORMAT, "reserved header fields are not zero");
    if (lt > RFKO_MAX_STRING || lc > RFKO_MAX_STRING || ln > RFKO_MAX_STRING)
        return rf_fail(err, RF_E_FORMAT, "header strings of %" PRIu64 ", %" PRIu64 ", %" PRIu64
                       " bytes (at most %u each)", lt, lc, ln, RFKO_MAX_STRING);
    if (e->header_size != RFKO_FIXED + lt + lc + ln)
        return rf_fail(err, RF_E_FORMAT, "header size %" PRIu64 " does not match its strings (%" PRIu64 ")",
                       e->header_size, RFKO_FIXED + lt + lc + ln);
    if (e->header_size > n)
        return rf_fail(err, RF_E_FORMAT, "truncated: %" PRIu64 " bytes, the header alone is %" PRIu64, n,
                       e->header_size);
    if (e->payload_size != n - e->header_size)
        return rf_fail(err, RF_E_FORMAT, "%s: the header says %" PRIu64 " payload bytes, the file holds %" PRIu64,
                       e->payload_size > n - e->header_size ? "truncated" : "trailing bytes", e->payload_size,
                       n - e->header_size);
    if (!is_key((const char *)b + 24, 64))
        return rf_fail(err, RF_E_FORMAT, "the header's key is not 64 hex digits");
    memcpy(e->key, b + 24, 64);
    e->key[64] = 0;
    if (strcmp(e->key, file_key))
        return rf_fail(err, RF_E_FORMAT, "the header is for key %.16s..., the file is named %.16s...", e->key,
                       file_key);
    const uint8_t *str = b + RFKO_FIXED;
    if (!take_string(str, lt, e->target) || !take_string(str + lt, lc, e->compiler) ||
        !take_string(str + lt + lc, ln, e->name))
        return rf_fail(err, RF_E_FORMAT, "a header string holds a control byte");
    uint8_t h[32];
    cg_sha256 s;
    cg_sha256_init(&s);
    cg_sha256_update(&s, b + e->header_size, (size_t)e->payload_size);
    cg_sha256_final(&s, h);
    if (memcmp(h, b + 88, 32))
        return rf_fail(err, RF_E_FORMAT, "the payload's SHA-256 does not match the header (corrupt)");
    return RF_OK;
}

rf_status cg_cache_load(cg_cache *c, const char *key, const char *target, const char *compiler_id,
                        const char *kernel_name, void **code, size_t *size, cg_warn_fn warn, void *ctx,
                        bool *rejected, rf_error *err)
{
    *code = NULL;
    *size = 0;
    if (rejected)
        *rejected = false;
    if (strlen(key) != 64 || !is_key(key, 64))
        return rf_fail(err, RF_E_ARG, "kernel cache: '%s' is not a key", key);
    char *path = cg_cache_path(c, key);
    entry *e = malloc(sizeof *e);
    if (!path || !e) {
        free(path);
        free(e);
        return rf_fail(err, RF_E_NOMEM, "kernel cache: out of memory");
    }
    rf_error why = {0};
    rf_status s = read_whole(path, e, &why);
    if (s == RF_OK && (s = check_entry(e, key, &why)) == RF_OK) {
        if (strcmp(e->target, target))
            s = rf_fail(&why, RF_E_FORMAT, "made for arch '%s', not '%s'", e->target, target);
        else if (strcmp(e->compiler, compiler_id))
            s = rf_fail(&why, RF_E_FORMAT, "made by compiler '%s', not '%s'", e->compiler, compiler_id);
        else if (strcmp(e->name, kernel_name))
            s = rf_fail(&why, RF_E_FORMAT, "holds kernel '%s', not '%s'", e->name, kernel_name);
    }
    if (s == RF_OK) {
        void *p = malloc(e->payload_size ? (size_t)e->payload_size : 1);
        if (p) {
            memcpy(p, e->file + e->header_size, (size_t)e->payload_size);
            *code = p;
            *size = (size_t)e->payload_size;
        } else {
            s = rf_fail(err, RF_E_NOMEM, "kernel cache: %s: out of memory", path);
        }
    } else if (s == RF_E_FORMAT) {
        if (warn) {
            char msg[sizeof why.msg + 4200];
            snprintf(msg, sizeof msg, "kernel cache: %s: %s; recompiling", path, why.msg);
            warn(ctx, msg);
        }
        if (rejected)
            *rejected = true;
        s = RF_E_NOTFOUND;
    } else if (s == RF_E_NOTFOUND) {
        rf_fail(err, RF_E_NOTFOUND, "kernel cache: %s: not there", path);
    } else if (err) {
        *err = why;
    }
    free(e->file);
    free(e);
    free(path);
    return s;
}

/* ---- storing ---------------------------------------------------------------- */

static bool write_all(int fd, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return false;
        }
        p += w, n -= (size_t)w;
    }
    return true;
}

rf_status cg_cache_store(cg_cache *c, const char *key, const char *target, const char *compiler_id,
                         const char *kernel_name, const void *code, size_t size, rf_error *err)
{
    size_t lt = strlen(target), lc = strlen(compiler_id), ln = strlen(kernel_name);
    if (strlen(key) != 64 || !is_key(key, 64))
        return rf_fail(err, RF_E_ARG, "kernel cache: '%s' is not a key", key);
    if (lt > RFKO_MAX_STRING || lc > RFKO_MAX_STRING || ln > RFKO_MAX_STRING || (uint64_t)size > RFKO_MAX_FILE)
        return rf_fail(err, RF_E_ARG, "kernel cache: kernel '%.64s': a name or the code object is too large",
                       kernel_name);
    size_t hsize = RFKO_FIXED + lt + lc + ln;
    uint8_t *h = calloc(1, hsize);
    char *path = cg_cache_path(c, key);
    char *tmp = path ? malloc(strlen(path) + 48) : NULL;
    if (!h || !tmp) {
        free(h);
        free(path);
        free(tmp);
        return rf_fail(err, RF_E_NOMEM, "kernel cache: out of memory");
    }
    memcpy(h, RFKO_MAGIC, 4);
    wr_le(h + 4, RFKO_VERSION, 4);
    wr_le(h + 8, hsize, 4);
    wr_le(h + 16, size, 8);
    memcpy(h + 24, key, 64);
    cg_sha256 s;
    cg_sha256_init(&s);
    cg_sha256_update(&s, code, size);
    cg_sha256_final(&s, h + 88);
    wr_le(h + 120, lt, 2);
    wr_le(h + 122, lc, 2);
    wr_le(h + 124, ln, 2);
    memcpy(h + RFKO_FIXED, target, lt);
    memcpy(h + RFKO_FIXED + lt, compiler_id, lc);
    memcpy(h + RFKO_FIXED + lt + lc, kernel_name, ln);

    sprintf(tmp, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
    rf_status st = RF_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = rf_fail(err, RF_E_IO, "kernel cache: cannot create %s: %s", tmp, strerror(errno));
    } else {
        bool ok = write_all(fd, h, hsize) && write_all(fd, code, size);
        int e = errno;
        if (close(fd) != 0 && ok)
            ok = false, e = errno;
        if (!ok)
            st = rf_fail(err, RF_E_IO, "kernel cache: cannot write %s: %s", tmp, strerror(e));
        else if (rename(tmp, path) != 0)
            st = rf_fail(err, RF_E_IO, "kernel cache: cannot rename %s to %s: %s", tmp, path, strerror(errno));
        if (st != RF_OK)
            unlink(tmp);
    }
    free(h);
    free(path);
    free(tmp);
    return st;
}

/* ---- building a program --------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct build {
    cg_program *p;
    cg_compiler *cc;
    cg_cache *cache;
    const char *target, *compiler_id;
    cg_progress_fn progress;
    cg_warn_fn warn;
    void *ctx;

    pthread_mutex_t mu;      /* guards everything below, and the callbacks */
    uint32_t *todo, n_todo, next;
    uint32_t done, compiled;
    bool failed;
    rf_error err;            /* the first compile error */
} build;

static void *build_worker(void *arg)
{
    build *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        if (b->failed || b->next == b->n_todo) {
            pthread_mutex_unlock(&b->mu);
            return NULL;
        }
        cg_kernel *k = &b->p->kernels[b->todo[b->next++]];
        pthread_mutex_unlock(&b->mu);

        rf_error e = {0}, se = {0};
        void *code = NULL;
        size_t size = 0;
        rf_status s = cg_compiler_build(b->cc, k->source, k->name, &code, &size, &e);
        bool stored = s == RF_OK &&
                      cg_cache_store(b->cache, k->key, b->target, b->compiler_id, k->name, code, size, &se) == RF_OK;

        pthread_mutex_lock(&b->mu);
        if (s != RF_OK) {
            free(code);
            if (!b->failed) {
                b->failed = true;
                b->err = e;
                if (b->err.status == RF_OK)
                    b->err.status = s;
                if (!strstr(b->err.msg, k->name)) /* rtc.c names it already */
                    rf_error_prefix(&b->err, "kernel %s", k->name);
            }
        } else {
            k->code = code;
            k->code_size = size;
            k->cached = false;
            b->compiled++;
            b->done++;
            if (!stored && b->warn) {
                char msg[sizeof se.msg + 32];
                snprintf(msg, sizeof msg, "%s; not cached", se.msg);
                b->warn(b->ctx, msg);
            }
            if (b->progress)
                b->progress(b->ctx, b->done, b->p->n_kernels);
        }
        pthread_mutex_unlock(&b->mu);
    }
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

rf_status cg_build_program(cg_program *p, cg_compiler *cc, cg_cache *cache, int n_threads, cg_progress_fn progress,
                           cg_warn_fn warn, void *ctx, cg_build_stats *stats, rf_error *err)
{
    double t0 = now_seconds();
    cg_build_stats st = {0};
    if (stats)
        *stats = st;
    build b = {.p = p, .cc = cc, .cache = cache, .progress = progress, .warn = warn, .ctx = ctx};
    b.target = cg_compiler_arch(cc)->target;
    b.compiler_id = cg_compiler_id(cc);
    const char *options = cg_compiler_options(cc);
    b.todo = malloc((p->n_kernels ? p->n_kernels : 1) * sizeof *b.todo);
    if (!b.todo)
        return rf_fail(err, RF_E_NOMEM, "kernel cache: out of memory for %" PRIu32 " kernels", p->n_kernels);

    rf_status s = RF_OK;
    for (uint32_t i = 0; i < p->n_kernels; i++) {
        cg_kernel *k = &p->kernels[i];
        free(k->code);
        k->code = NULL;
        k->code_size = 0;
        k->cached = false;
        cg_kernel_key(k->source, b.target, b.compiler_id, options, k->key);
        bool rejected;
        rf_error le = {0};
        s = cg_cache_load(cache, k->key, b.target, b.compiler_id, k->name, &k->code, &k->code_size, warn, ctx,
                          &rejected, &le);
        st.corrupt += rejected;
        if (s == RF_OK) {
            k->cached = true;
            st.cached++;
            b.done++;
            if (progress)
                progress(ctx, b.done, p->n_kernels);
        } else if (s == RF_E_NOTFOUND) {
            b.todo[b.n_todo++] = i;
            s = RF_OK;
        } else {
            if (err)
                *err = le;
            break;
        }
    }

    if (s == RF_OK && b.n_todo) {
        if (n_threads <= 0)
            n_threads = default_threads();
        if ((uint32_t)n_threads > b.n_todo)
            n_threads = (int)b.n_todo;
        pthread_t *th = malloc((size_t)n_threads * sizeof *th);
        int started = 0;
        pthread_mutex_init(&b.mu, NULL);
        for (; th && started < n_threads; started++)
            if (pthread_create(&th[started], NULL, build_worker, &b) != 0)
                break;
        if (started == 0) /* no thread to be had: build here */
            build_worker(&b);
        for (int t = 0; t < started; t++)
            pthread_join(th[t], NULL);
        pthread_mutex_destroy(&b.mu);
        free(th);
        st.compiled = b.compiled;
        if (b.failed) {
            if (err)
                *err = b.err;
            s = b.err.status;
        }
    }
    free(b.todo);
    if (s != RF_OK) { /* leave the program as it came: no code attached */
        for (uint32_t i = 0; i < p->n_kernels; i++) {
            free(p->kernels[i].code);
            p->kernels[i].code = NULL;
            p->kernels[i].code_size = 0;
            p->kernels[i].cached = false;
        }
        return s;
    }
    st.seconds = now_seconds() - t0;
    if (stats)
        *stats = st;
    return RF_OK;
}

/* ---- ls, verify, clear ---------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names of our entries (KEY.rfko) in c's directory, sorted; with tmp,
 * the temporary files too. */
static rf_status list_names(cg_cache *c, bool tmp, char ***names, size_t *n, rf_error *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(c->dir);
    if (!d)
        return rf_fail(err, RF_E_IO, "kernel cache: cannot read directory %s: %s", c->dir, strerror(errno));
    size_t cap = 0;
    rf_status s = RF_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_entry_name(de->d_name) && !(tmp && tmp_entry_pid(de->d_name)))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(*names, cap * sizeof *grown);
            if (!grown) {
                s = rf_fail(err, RF_E_NOMEM, "kernel cache: out of memory");
                break;
            }
            *names = grown;
        }
        if (!((*names)[*n] = strdup(de->d_name))) {
            s = rf_fail(err, RF_E_NOMEM, "kernel cache: out of memory");
            break;
        }
        ++*n;
    }
    closedir(d);
    if (s != RF_OK) {
        for (size_t i = 0; i < *n; i++)
            free((*names)[i]);
        free(*names);
        *names = NULL;
        *n = 0;
        return s;
    }
    if (*n)
        qsort(*names, *n, sizeof **names, cmp_str);
    return RF_OK;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Reads and checks one entry: RF_OK, RF_E_FORMAT (why in err) or another
 * failure. e->file is freed. */
static rf_status inspect(cg_cache *c, const char *name, entry *e, rf_error *err)
{
    char *path = path_join(c->dir, name);
    if (!path)
        return rf_fail(err, RF_E_NOMEM, "kernel cache: out of memory");
    char key[65];
    memcpy(key, name, 64);
    key[64] = 0;
    e->file_size = 0;
    rf_status s = read_whole(path, e, err);
    if (s == RF_OK)
        s = check_entry(e, key, err);
    free(e->file);
    e->file = NULL;
    free(path);
    return s;
}

/* Calls visit for every entry still there, with inspect()'s verdict (RF_OK,
 * or why it is bad); stops on running out of memory. */
typedef void (*visit_fn)(void *ctx, const cg_cache *c, const char *name, const entry *e, rf_status r,
                         const rf_error *why);

static rf_status walk_entries(cg_cache *c, visit_fn visit, void *ctx, rf_error *err)
{
    char **names;
    size_t n;
    rf_status s = list_names(c, false, &names, &n, err);
    entry *e = s == RF_OK ? malloc(sizeof *e) : NULL;
    if (s == RF_OK && !e)
        s = rf_fail(err, RF_E_NOMEM, "kernel cache: out of memory");
    for (size_t i = 0; s == RF_OK && i < n; i++) {
        rf_error why = {0};
        rf_status r = inspect(c, names[i], e, &why);
        if (r == RF_E_NOMEM)
            s = rf_fail(err, r, "%s", why.msg);
        else if (r != RF_E_NOTFOUND) /* else removed since we listed it */
            visit(ctx, c, names[i], e, r, &why);
    }
    free(e);
    free_names(names, n);
    return s;
}

typedef struct list_ctx {
    FILE *out;
    uint32_t n;
    uint64_t bytes;
} list_ctx;

static void list_one(void *ctx, const cg_cache *c, const char *name, const entry *e, rf_status r, const rf_error *why)
{
    list_ctx *l = ctx;
    (void)c;
    l->n++;
    l->bytes += e->file_size;
    if (r == RF_OK)
        fprintf(l->out, "%.64s %10" PRIu64 "  %s  %s  %s\n", name, e->file_size, e->target, e->name, e->compiler);
    else
        fprintf(l->out, "%.64s %10" PRIu64 "  bad: %s\n", name, e->file_size, why->msg);
}

rf_status cg_cache_list(cg_cache *c, FILE *out, uint32_t *n_entries, uint64_t *bytes, rf_error *err)
{
    list_ctx l = {out, 0, 0};
    rf_status s = walk_entries(c, list_one, &l, err);
    *n_entries = l.n;
    *bytes = l.bytes;
    return s;
}

typedef struct verify_ctx {
    FILE *out;
    uint32_t ok, bad;
} verify_ctx;

static void verify_one(void *ctx, const cg_cache *c, const char *name, const entry *e, rf_status r,
                       const rf_error *why)
{
    verify_ctx *v = ctx;
    (void)e;
    if (r == RF_OK) {
        v->ok++;
        return;
    }
    v->bad++;
    fprintf(v->out, "%s/%s: %s\n", c->dir, name, why->msg);
}

rf_status cg_cache_verify(cg_cache *c, FILE *out, uint32_t *n_ok, uint32_t *n_bad, rf_error *err)
{
    verify_ctx v = {out, 0, 0};
    rf_status s = walk_entries(c, verify_one, &v, err);
    *n_ok = v.ok;
    *n_bad = v.bad;
    return s;
}

/* A temporary file whose writer is gone: no such process, or it has been
 * there an hour (the pid may have been reused). */
static bool tmp_is_stale(const char *path, long pid)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    if (time(NULL) - st.st_mtime > TMP_STALE_SECONDS)
        return true;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

rf_status cg_cache_clear(cg_cache *c, uint32_t *n_removed, rf_error *err)
{
    *n_removed = 0;
    char **names;
    size_t n;
    rf_status s = list_names(c, true, &names, &n, err);
    for (size_t i = 0; s == RF_OK && i < n; i++) {
        char *path = path_join(c->dir, names[i]);
        if (!path) {
            s = rf_fail(err, RF_E_NOMEM, "kernel cache: out of memory");
            break;
        }
        long pid = tmp_entry_pid(names[i]);
        if (!pid || tmp_is_stale(path, pid)) {
            if (unlink(path) == 0)
                ++*n_removed;
            else if (errno != ENOENT)
                s = rf_fail(err, RF_E_IO, "kernel cache: cannot remove %s: %s", path, strerror(errno));
        }
        free(path);
    }
    free_names(names, n);
    return s;
}
