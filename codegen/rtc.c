/*
 * rtc.c: the two run-time compilers, hipRTC for gfx targets and NVRTC for
 * sm targets, behind cg_compiler (target.h).
 *
 * Each compiler is a shared library found with dlopen the first time a
 * compiler for its vendor is opened, and kept loaded for the life of the
 * process (never dlclose'd: hipRTC lives inside the HIP runtime, which the
 * device layer may have loaded too). hipRTC is looked for as libhiprtc.so
 * (ROCm 6 and later split it out) and then inside libamdhip64.so.5 /
 * libamdhip64.so (ROCm 5, Debian's libamdhip64-dev); NVRTC as
 * libnvrtc.so.13 / .12 / libnvrtc.so, on the loader's path and then under
 * $CUDA_PATH/lib64 and /usr/local/cuda/lib64. The SDK headers give the
 * types and prototypes (each entry point is a __typeof__'d pointer); a side
 * whose headers were not found at configure time (ROCMFORGE_HAVE_HIP,
 * ROCMFORGE_HAVE_CUDA) is compiled out and says so when opened. Nothing is
 * linked: the binary starts on a machine with neither SDK.
 *
 * The compiler id names the compiler's version and the file it was loaded
 * from, resolved through its symlinks ("hiprtc 9.0 libamdhip64.so.5.2.21153",
 * "nvrtc 13.0 libnvrtc.so.13.0.88"), because hipRTC 5.2 reports the version
 * of the CUDA it imitates, not its own: another ROCm must give another
 * kernel key. The options are fixed per arch and are part of the key too:
 * hipRTC gets --offload-arch=<full target id> -O3 -std=c++17; NVRTC gets
 * -arch=sm_XY --std=c++17 (it refuses -O3 and optimises by default).
 *
 * hipRTC 5.2 is not safe to call from several threads at once. With 8
 * threads each compiling its own kernel, 4 rounds a run, 11 of 13 runs got
 * back at least one code object built as if options were lost: a 7.6 KB
 * unoptimised object, or a 22 KB one with the printf/hostcall device
 * library linked in, where a lone build gives the 4 KB -O3 one (test_rtc's
 * 4-thread check, run without the lock, failed 2 runs of 3). So every
 * hipRTC build holds one process-wide mutex, from program creation to its
 * destruction. It costs little: without the lock, 8 builds on 4 threads
 * took no less time than 8 in a row (on 2 cores). A separate libhiprtc
 * (ROCm 6+) is untested here and serialised the same way. NVRTC documents
 * its API as thread-safe and is called without a lock.
 *
 * A failed compile is RF_E_FORMAT with "<name>: compile failed for
 * <target>:" and the first lines of the compiler's log, as many as fit in
 * rf_error.msg; hipRTC 5.2 names its input ".../input/CompileSource", which
 * is replaced by the caller's name. What this file does not do: validate
 * arch names (cg_arch_parse does, and hipRTC 5.2 crashes on processors it
 * does not know), cache code objects (cache.c), or load them (the device
 * layer, runtime/gpu).
 */
#define _GNU_SOURCE /* dladdr */
#include "codegen/target.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/error.h"

#ifdef ROCMFORGE_HAVE_HIP
#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__
#endif
#include <hip/hiprtc.h>
#endif
#ifdef ROCMFORGE_HAVE_CUDA
#include <nvrtc.h>
#endif

enum { LOG_LINES = 10 };
#define LOG_MAX ((size_t)16 << 20)  /* a log size beyond this is garbage, not a log */
#define CODE_MAX ((size_t)1 << 30)

/* One loaded compiler library, shared by every cg_compiler of its vendor. */
typedef struct rtc_lib {
    pthread_mutex_t load_lock;
    bool loaded;
    char id[160];
} rtc_lib;

struct cg_compiler {
    cg_arch arch;
    const rtc_lib *lib;
    int n_opts;
    const char *opts[4];       /* point into opt_text */
    char opt_text[4][96];
    char options[400];         /* opts joined by spaces */
};

/* ---- loading ------------------------------------------------------------ */

#if defined(ROCMFORGE_HAVE_HIP) || defined(ROCMFORGE_HAVE_CUDA)

/* snprintf at buf + *used, advancing *used but never past cap - 1 */
static void appendf(char *buf, size_t cap, size_t *used, const char *fmt, ...) RF_PRINTF(4, 5);
static void appendf(char *buf, size_t cap, size_t *used, const char *fmt, ...)
{
    if (*used + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t)n < cap ? *used + (size_t)n : cap - 1;
}

/* dlopen's the first of names that exports probe: each name on the loader's
 * path, then in each non-empty dir. A library without probe stays loaded
 * (unloading a half-used HIP runtime is riskier than keeping it). On
 * failure `tried` says what was looked for where. */
static void *open_first(const char *const *names, const char *const *dirs, const char *probe, char *tried,
                        size_t cap)
{
    for (int d = -1; d < 0 || dirs[d]; d++) {
        if (d >= 0 && !dirs[d][0])
            continue;
        for (int i = 0; names[i]; i++) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s%s%s", d < 0 ? "" : dirs[d], d < 0 ? "" : "/", names[i]);
            void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (h && dlsym(h, probe))
                return h;
        }
    }
    size_t used = 0;
    tried[0] = 0;
    for (int i = 0; names[i]; i++)
        appendf(tried, cap, &used, "%s%s", i ? ", " : "", names[i]);
    appendf(tried, cap, &used, " on the loader's path");
    for (int d = 0; dirs[d]; d++)
        if (dirs[d][0])
            appendf(tried, cap, &used, ", in %s", dirs[d]);
    return NULL;
}

/* The resolved file name (symlinks followed, directory dropped) of the
 * library that defines sym. */
static void lib_file(void *sym, char *out, size_t cap)
{
    Dl_info di;
    char real[PATH_MAX];
    const char *p = "?";
    if (dladdr(sym, &di) && di.dli_fname) {
        p = realpath(di.dli_fname, real) ? real : di.dli_fname;
        const char *slash = strrchr(p, '/');
        p = slash ? slash + 1 : p;
    }
    size_t n = strlen(p) < cap ? strlen(p) : cap - 1;
    memcpy(out, p, n);
    out[n] = 0;
}

/* *fp = the symbol's address (a data pointer copied into a function pointer,
 * the POSIX way) */
static bool load_sym(void *h, const char *name, void *fp, size_t fp_size, const char *lib, rf_error *err)
{
    void *s = dlsym(h, name);
    if (!s) {
        rf_fail(err, RF_E_UNSUPPORTED, "%s: %s is missing", lib, name);
        return false;
    }
    memcpy(fp, &s, fp_size);
    return true;
}
#define LOAD(h, f, lib, err) load_sym(h, #f, &p_##f, sizeof p_##f, lib, err)

/* One log line into out, with hipRTC 5.2's name for the source, a path
 * ending in /input/CompileSource (a temporary directory of comgr's), made
 * the caller's name. */
static size_t copy_line(char *out, size_t cap, const char *line, const char *name)
{
    static const char tail[] = "/input/CompileSource";
    size_t k = 0;
    const char *p = line;
    for (const char *hit; (hit = strstr(p, tail));) {
        const char *start = hit;
        while (start > p && start[-1] != ' ' && start[-1] != '\'' && start[-1] != '"')
            start--;
        appendf(out, cap, &k, "%.*s%s", (int)(start - p), p, name);
        p = hit + sizeof tail - 1;
    }
    appendf(out, cap, &k, "%s", p);
    return k;
}

/* head, then the first lines of a compiler log into msg: blank lines
 * skipped, whole lines while they fit, a cut first line ending in "...". */
static void format_failure(char *msg, size_t cap, const char *head, const char *log, const char *name)
{
    size_t len = 0;
    appendf(msg, cap, &len, "%s", head);
    int lines = 0;
    for (const char *p = log; p && *p && lines < LOG_LINES;) {
        size_t n = strcspn(p, "\n");
        char raw[1024], line[1024];
        snprintf(raw, sizeof raw, "%.*s", (int)n, p);
        p += n + (p[n] == '\n');
        size_t k = copy_line(line, sizeof line, raw, name);
        if (strspn(line, " \t\r") == k)
            continue;
        if (len + 1 + k >= cap) {
            if (lines == 0)
                appendf(msg, cap, &len, "\n%.*s...", (int)(cap - len > 6 ? cap - len - 6 : 0), line);
            break;
        }
        appendf(msg, cap, &len, "\n%s", line);
        lines++;
    }
}

/* A compile error with the log, or with what the library said when there is
 * no log (an option it refused, say). */
static rf_status compile_failed(rf_error *err, const cg_compiler *c, const char *name, const char *result,
                                const char *log)
{
    char head[256], msg[sizeof err->msg];
    snprintf(head, sizeof head, "%s: compile failed for %s:%s%s", name, c->arch.target, log && *log ? "" : " ",
             log && *log ? "" : result);
    format_failure(msg, sizeof msg, head, log, name);
    return rf_fail(err, RF_E_FORMAT, "%s", msg);
}

/* A log of n bytes as reported by the library: none when the size is 0 or
 * absurd (hipRTC may report either when there is nothing to say). */
static char *log_alloc(size_t n)
{
    if (n == 0 || n > LOG_MAX)
        return NULL;
    return calloc(1, n + 1);
}

#endif

/* ---- hipRTC --------------------------------------------------------------- */

#ifdef ROCMFORGE_HAVE_HIP
static __typeof__(hiprtcVersion) *p_hiprtcVersion;
static __typeof__(hiprtcGetErrorString) *p_hiprtcGetErrorString;
static __typeof__(hiprtcCreateProgram) *p_hiprtcCreateProgram;
static __typeof__(hiprtcCompileProgram) *p_hiprtcCompileProgram;
static __typeof__(hiprtcGetProgramLogSize) *p_hiprtcGetProgramLogSize;
static __typeof__(hiprtcGetProgramLog) *p_hiprtcGetProgramLog;
static __typeof__(hiprtcGetCodeSize) *p_hiprtcGetCodeSize;
static __typeof__(hiprtcGetCode) *p_hiprtcGetCode;
static __typeof__(hiprtcDestroyProgram) *p_hiprtcDestroyProgram;

static rtc_lib hip_lib = {.load_lock = PTHREAD_MUTEX_INITIALIZER};
static pthread_mutex_t hip_build_lock = PTHREAD_MUTEX_INITIALIZER;

static rf_status hip_load(rf_error *err)
{
    static const char *const names[] = {"libhiprtc.so", "libhiprtc.so.7", "libhiprtc.so.6", "libamdhip64.so.5",
                                        "libamdhip64.so", NULL};
    const char *rocm = getenv("ROCM_PATH");
    char rocm_lib[PATH_MAX] = "";
    if (rocm && *rocm)
        snprintf(rocm_lib, sizeof rocm_lib, "%s/lib", rocm);
    const char *const dirs[] = {rocm_lib, "/opt/rocm/lib", NULL};
    char tried[256];
    void *h = open_first(names, dirs, "hiprtcCompileProgram", tried, sizeof tried);
    if (!h)
        return rf_fail(err, RF_E_UNSUPPORTED, "hipRTC not found (looked for %s): install libamdhip64-dev", tried);
    const char *lib = "hipRTC";
    if (!LOAD(h, hiprtcVersion, lib, err) || !LOAD(h, hiprtcGetErrorString, lib, err) ||
        !LOAD(h, hiprtcCreateProgram, lib, err) || !LOAD(h, hiprtcCompileProgram, lib, err) ||
        !LOAD(h, hiprtcGetProgramLogSize, lib, err) || !LOAD(h, hiprtcGetProgramLog, lib, err) ||
        !LOAD(h, hiprtcGetCodeSize, lib, err) || !LOAD(h, hiprtcGetCode, lib, err) ||
        !LOAD(h, hiprtcDestroyProgram, lib, err))
        return err ? err->status : RF_E_UNSUPPORTED;
    int major = 0, minor = 0;
    char file[128];
    void *sym;
    memcpy(&sym, &p_hiprtcCompileProgram, sizeof sym);
    lib_file(sym, file, sizeof file);
    if (p_hiprtcVersion(&major, &minor) == HIPRTC_SUCCESS)
        snprintf(hip_lib.id, sizeof hip_lib.id, "hiprtc %d.%d %s", major, minor, file);
    else
        snprintf(hip_lib.id, sizeof hip_lib.id, "hiprtc ? %s", file);
    return RF_OK;
}

static rf_status hip_build(const cg_compiler *c, const char *source, const char *name, void **code,
                           size_t *size, rf_error *err)
{
    pthread_mutex_lock(&hip_build_lock);
    hiprtcProgram prog = NULL;
    char *log = NULL;
    rf_status st = RF_OK;
    hiprtcResult r = p_hiprtcCreateProgram(&prog, source, name, 0, NULL, NULL);
    if (r != HIPRTC_SUCCESS) {
        st = rf_fail(err, r == HIPRTC_ERROR_OUT_OF_MEMORY ? RF_E_NOMEM : RF_E_FORMAT,
                     "%s: hiprtcCreateProgram: %s", name, p_hiprtcGetErrorString(r));
        goto out;
    }
    r = p_hiprtcCompileProgram(prog, c->n_opts, (const char **)c->opts);
    if (r != HIPRTC_SUCCESS) {
        size_t n = 0;
        if (p_hiprtcGetProgramLogSize(prog, &n) == HIPRTC_SUCCESS && (log = log_alloc(n)) &&
            p_hiprtcGetProgramLog(prog, log) != HIPRTC_SUCCESS)
            log[0] = 0;
        st = compile_failed(err, c, name, p_hiprtcGetErrorString(r), log);
        goto out;
    }
    size_t n = 0;
    r = p_hiprtcGetCodeSize(prog, &n);
    if (r != HIPRTC_SUCCESS || n == 0 || n > CODE_MAX) {
        st = rf_fail(err, RF_E_FORMAT, "%s: hipRTC returned no code object for %s (%s, %zu bytes)", name,
                     c->arch.target, p_hiprtcGetErrorString(r), n);
        goto out;
    }
    *code = malloc(n);
    if (!*code) {
        st = rf_fail(err, RF_E_NOMEM, "%s: %zu bytes for the code object", name, n);
        goto out;
    }
    r = p_hiprtcGetCode(prog, *code);
    if (r != HIPRTC_SUCCESS) {
        free(*code);
        *code = NULL;
        st = rf_fail(err, RF_E_FORMAT, "%s: hiprtcGetCode: %s", name, p_hiprtcGetErrorString(r));
        goto out;
    }
    *size = n;
out:
    if (prog)
        p_hiprtcDestroyProgram(&prog);
    pthread_mutex_unlock(&hip_build_lock);
    free(log);
    return st;
}
#endif

/* ---- NVRTC ---------------------------------------------------------------- */

#ifdef ROCMFORGE_HAVE_CUDA
static __typeof__(nvrtcVersion) *p_nvrtcVersion;
static __typeof__(nvrtcGetErrorString) *p_nvrtcGetErrorString;
static __typeof__(nvrtcCreateProgram) *p_nvrtcCreateProgram;
static __typeof__(nvrtcCompileProgram) *p_nvrtcCompileProgram;
static __typeof__(nvrtcGetProgramLogSize) *p_nvrtcGetProgramLogSize;
static __typeof__(nvrtcGetProgramLog) *p_nvrtcGetProgramLog;
static __typeof__(nvrtcGetCUBINSize) *p_nvrtcGetCUBINSize;
static __typeof__(nvrtcGetCUBIN) *p_nvrtcGetCUBIN;
static __typeof__(nvrtcDestroyProgram) *p_nvrtcDestroyProgram;

static rtc_lib nv_lib = {.load_lock = PTHREAD_MUTEX_INITIALIZER};

static rf_status nv_load(rf_error *err)
{
    static const char *const names[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so", NULL};
    const char *cuda = getenv("CUDA_PATH");
    char cuda_lib[PATH_MAX] = "";
    if (cuda && *cuda)
        snprintf(cuda_lib, sizeof cuda_lib, "%s/lib64", cuda);
    const char *const dirs[] = {cuda_lib, "/usr/local/cuda/lib64", NULL};
    char tried[256];
    void *h = open_first(names, dirs, "nvrtcCompileProgram", tried, sizeof tried);
    if (!h)
        return rf_fail(err, RF_E_UNSUPPORTED, "NVRTC not found (looked for %s): install the CUDA toolkit's NVRTC",
                       tried);
    const char *lib = "NVRTC";
    if (!LOAD(h, nvrtcVersion, lib, err) || !LOAD(h, nvrtcGetErrorString, lib, err) ||
        !LOAD(h, nvrtcCreateProgram, lib, err) || !LOAD(h, nvrtcCompileProgram, lib, err) ||
        !LOAD(h, nvrtcGetProgramLogSize, lib, err) || !LOAD(h, nvrtcGetProgramLog, lib, err) ||
        !LOAD(h, nvrtcGetCUBINSize, lib, err) || !LOAD(h, nvrtcGetCUBIN, lib, err) ||
        !LOAD(h, nvrtcDestroyProgram, lib, err))
        return err ? err->status : RF_E_UNSUPPORTED;
    int major = 0, minor = 0;
    char file[128];
    void *sym;
    memcpy(&sym, &p_nvrtcCompileProgram, sizeof sym);
    lib_file(sym, file, sizeof file);
    if (p_nvrtcVersion(&major, &minor) == NVRTC_SUCCESS)
        snprintf(nv_lib.id, sizeof nv_lib.id, "nvrtc %d.%d %s", major, minor, file);
    else
        snprintf(nv_lib.id, sizeof nv_lib.id, "nvrtc ? %s", file);
    return RF_OK;
}

static rf_status nv_build(const cg_compiler *c, const char *source, const char *name, void **code,
                          size_t *size, rf_error *err)
{
    nvrtcProgram prog = NULL;
    char *log = NULL;
    rf_status st = RF_OK;
    nvrtcResult r = p_nvrtcCreateProgram(&prog, source, name, 0, NULL, NULL);
    if (r != NVRTC_SUCCESS) {
        st = rf_fail(err, r == NVRTC_ERROR_OUT_OF_MEMORY ? RF_E_NOMEM : RF_E_FORMAT,
                     "%s: nvrtcCreateProgram: %s", name, p_nvrtcGetErrorString(r));
        goto out;
    }
    r = p_nvrtcCompileProgram(prog, c->n_opts, c->opts);
    if (r != NVRTC_SUCCESS) {
        size_t n = 0;
        if (p_nvrtcGetProgramLogSize(prog, &n) == NVRTC_SUCCESS && (log = log_alloc(n)) &&
            p_nvrtcGetProgramLog(prog, log) != NVRTC_SUCCESS)
            log[0] = 0;
        st = compile_failed(err, c, name, p_nvrtcGetErrorString(r), log);
        goto out;
    }
    size_t n = 0;
    r = p_nvrtcGetCUBINSize(prog, &n);
    if (r != NVRTC_SUCCESS || n == 0 || n > CODE_MAX) {
        st = rf_fail(err, RF_E_FORMAT, "%s: NVRTC returned no CUBIN for %s (%s, %zu bytes)", name, c->arch.target,
                     p_nvrtcGetErrorString(r), n);
        goto out;
    }
    *code = malloc(n);
    if (!*code) {
        st = rf_fail(err, RF_E_NOMEM, "%s: %zu bytes for the CUBIN", name, n);
        goto out;
    }
    r = p_nvrtcGetCUBIN(prog, *code);
    if (r != NVRTC_SUCCESS) {
        free(*code);
        *code = NULL;
        st = rf_fail(err, RF_E_FORMAT, "%s: nvrtcGetCUBIN: %s", name, p_nvrtcGetErrorString(r));
        goto out;
    }
    *size = n;
out:
    if (prog)
        p_nvrtcDestroyProgram(&prog);
    free(log);
    return st;
}
#endif

/* ---- cg_compiler ---------------------------------------------------------- */

#if defined(ROCMFORGE_HAVE_HIP) || defined(ROCMFORGE_HAVE_CUDA)
/* Loads lib once per process; a failure is retried on the next open. */
static rf_status lib_open(rtc_lib *lib, rf_status (*load)(rf_error *), rf_error *err)
{
    pthread_mutex_lock(&lib->load_lock);
    rf_status st = RF_OK;
    if (!lib->loaded) {
        st = load(err);
        lib->loaded = st == RF_OK;
    }
    pthread_mutex_unlock(&lib->load_lock);
    return st;
}
#endif

static void add_opt(cg_compiler *c, const char *fmt, const char *arg)
{
    RF_ASSERT(c->n_opts < (int)(sizeof c->opts / sizeof c->opts[0]));
    char *o = c->opt_text[c->n_opts];
    snprintf(o, sizeof c->opt_text[0], fmt, arg);
    c->opts[c->n_opts++] = o;
    size_t used = strlen(c->options);
    snprintf(c->options + used, sizeof c->options - used, "%s%s", used ? " " : "", o);
}

rf_status cg_compiler_open(const cg_arch *arch, cg_compiler **out, rf_error *err)
{
    if (!arch || !out)
        return rf_fail(err, RF_E_ARG, "cg_compiler_open: no arch or no result pointer");
    *out = NULL;
    const char *t = arch->target;
    size_t tn = strnlen(t, sizeof arch->target);
    bool ok = tn > 0 && tn < sizeof arch->target;
    for (size_t i = 0; ok && i < tn; i++)
        ok = (t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || strchr("_:+-", t[i]);
    if (!ok || strncmp(t, arch->vendor == CG_AMD ? "gfx" : "sm_", 3) != 0)
        return rf_fail(err, RF_E_ARG, "cg_compiler_open: '%.*s' is not a %s target", (int)tn, t,
                       arch->vendor == CG_AMD ? "gfx" : "sm_XY");

    rtc_lib *lib = NULL;
    rf_status st;
    if (arch->vendor == CG_AMD) {
#ifdef ROCMFORGE_HAVE_HIP
        lib = &hip_lib;
        st = lib_open(lib, hip_load, err);
#else
        st = rf_fail(err, RF_E_UNSUPPORTED, "this build has no hipRTC support (configure with libamdhip64-dev installed)");
#endif
    } else {
#ifdef ROCMFORGE_HAVE_CUDA
        lib = &nv_lib;
        st = lib_open(lib, nv_load, err);
#else
        st = rf_fail(err, RF_E_UNSUPPORTED,
                     "this build has no NVRTC support (configure with the CUDA toolkit's headers installed)");
#endif
    }
    if (st != RF_OK)
        return st;

    cg_compiler *c = calloc(1, sizeof *c);
    if (!c)
        return rf_fail(err, RF_E_NOMEM, "cg_compiler_open: out of memory");
    c->arch = *arch;
    c->lib = lib;
    if (arch->vendor == CG_AMD) {
        add_opt(c, "--offload-arch=%s", t);
        add_opt(c, "%s", "-O3");
        add_opt(c, "%s", "-std=c++17");
    } else {
        add_opt(c, "-arch=%s", t);
        add_opt(c, "%s", "--std=c++17");
    }
    *out = c;
    return RF_OK;
}

void cg_compiler_close(cg_compiler *c)
{
    free(c);
}

const cg_arch *cg_compiler_arch(const cg_compiler *c)
{
    return &c->arch;
}

const char *cg_compiler_id(const cg_compiler *c)
{
    return c->lib->id;
}

const char *cg_compiler_options(const cg_compiler *c)
{
    return c->options;
}

rf_status cg_compiler_build(cg_compiler *c, const char *source, const char *name, void **code, size_t *size,
                            rf_error *err)
{
    if (!c || !source || !code || !size)
        return rf_fail(err, RF_E_ARG, "cg_compiler_build: missing compiler, source or result pointer");
    *code = NULL;
    *size = 0;
    if (!name || !*name)
        name = "kernel";
#if defined(ROCMFORGE_HAVE_HIP)
    if (c->arch.vendor == CG_AMD)
        return hip_build(c, source, name, code, size, err);
#endif
#if defined(ROCMFORGE_HAVE_CUDA)
    if (c->arch.vendor == CG_NVIDIA)
        return nv_build(c, source, name, code, size, err);
#endif
    RF_ASSERT(!"a compiler was opened for a vendor this build lacks");
    return RF_E_UNSUPPORTED;
}
