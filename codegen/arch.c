/*
 * arch.c: cg_arch_parse(), the one gate every arch name passes before a
 * compiler sees it.
 *
 * An AMDGPU target id is a processor and up to two target features,
 * "gfx90a:sramecc+:xnack-". The processor must be one LLVM knows
 * (cg_amdgpu_processors(), read from LLVM-C; without LLVM the list LLVM 19
 * printed when this file was written), and a feature must be sramecc or
 * xnack, signed, at most once each, and one the processor has (AMDGPUUsage's
 * processor table; a processor without the mode crashes hipRTC 5.2 just as an
 * unknown processor does). The wavefront size follows the generation: 64 on
 * GCN and CDNA (gfx6..gfx9, gfx940..gfx942 included), 32 on RDNA (gfx10+),
 * which is what hipRTC builds by default.
 *
 * Then the name must be one the installed hipRTC can build. Debian's hipRTC
 * (ROCm 5.2) does not reject a processor newer than its LLVM: it aborts the
 * process (munmap_chunk) inside hiprtcCompileProgram. So the processors it
 * builds were measured once (the table below) and anything else is refused
 * here with a message. hipRTC is identified without compiling anything: the
 * library is dlopen'ed and the file behind hiprtcVersion named by dladdr.
 * A hipRTC we have no table for is not second-guessed, and without any
 * hipRTC the check is skipped (cg_compiler_open says what is missing).
 *
 * NVIDIA names are "sm_XY" (XY >= 50) with an optional "a" (sm_90a); warp 32.
 * Which sm_ the installed NVRTC builds is NVRTC's to say: it fails cleanly.
 */
#define _GNU_SOURCE /* dladdr */
#include "codegen/target.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/isa.h"
#include "support/error.h"

/* The gfx processors LLVM 19.1 lists for amdgcn-amd-amdhsa ("llc
 * -mtriple=amdgcn-amd-amdhsa -mcpu=help", the same list amdgpu.c reads),
 * in amdgpu.c's order: by generation, generic targets last in theirs. */
static const char *const llvm19_gfx[] = {
    "gfx600",  "gfx601",  "gfx602",  "gfx700",  "gfx701",  "gfx702",  "gfx703",
    "gfx704",  "gfx705",  "gfx801",  "gfx802",  "gfx803",  "gfx805",  "gfx810",
    "gfx900",  "gfx902",  "gfx904",  "gfx906",  "gfx908",  "gfx909",  "gfx90a",
    "gfx90c",  "gfx940",  "gfx941",  "gfx942",  "gfx9-generic",
    "gfx1010", "gfx1011", "gfx1012", "gfx1013", "gfx1030", "gfx1031", "gfx1032",
    "gfx1033", "gfx1034", "gfx1035", "gfx1036", "gfx10-1-generic", "gfx10-3-generic",
    "gfx1100", "gfx1101", "gfx1102", "gfx1103", "gfx1150", "gfx1151", "gfx1152",
    "gfx11-generic", "gfx1200", "gfx1201", "gfx12-generic",
};

/* What hipRTC 5.2 (Debian 12's libamdhip64.so.5.2.21153, comgr 2.4) builds.
 * Measured, not read from docs: for every gfx processor LLVM 19 lists, a
 * forked child compiled `extern "C" __global__ void k(float *x) {
 * x[threadIdx.x] *= 2.0f; }` with --offload-arch=<processor> -O3 and the
 * exit status was recorded. These 33 returned a code object; the other 17
 * (gfx940, gfx941, gfx942, gfx1100..gfx1103, gfx1150..gfx1152, gfx1200,
 * gfx1201 and the five generic targets) died with SIGABRT. Every
 * processor/feature pair was measured the same way: a feature builds exactly
 * where processor_has() below says the processor has the mode, and aborts
 * elsewhere (gfx1030:xnack+, gfx803:xnack-, gfx900:sramecc+). */
static const char *const hiprtc_5_2_builds[] = {
    "gfx600",  "gfx601",  "gfx602",  "gfx700",  "gfx701",  "gfx702",  "gfx703",
    "gfx704",  "gfx705",  "gfx801",  "gfx802",  "gfx803",  "gfx805",  "gfx810",
    "gfx900",  "gfx902",  "gfx904",  "gfx906",  "gfx908",  "gfx909",  "gfx90a",
    "gfx90c",  "gfx1010", "gfx1011", "gfx1012", "gfx1013", "gfx1030", "gfx1031",
    "gfx1032", "gfx1033", "gfx1034", "gfx1035", "gfx1036",
};

static const struct hiprtc_table {
    int major, minor;
    const char *const *builds;
    size_t n_builds;
} hiprtc_tables[] = {
    {5, 2, hiprtc_5_2_builds, sizeof hiprtc_5_2_builds / sizeof hiprtc_5_2_builds[0]},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the installed hipRTC ------------------------------------------------ */

static struct {
    bool found;
    int major, minor;
} hiprtc;
static pthread_once_t hiprtc_once = PTHREAD_ONCE_INIT;

/* "libamdhip64.so.5.2.21153" -> 5, 2 */
static bool version_from_file(const char *path, int *major, int *minor)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *so = strstr(base, ".so.");
    if (!so)
        return false;
    return sscanf(so + 4, "%d.%d", major, minor) == 2;
}

static void hiprtc_detect(void)
{
    /* ROCm 6 ships hipRTC as libhiprtc; ROCm 5 has it inside libamdhip64. */
    static const char *const libs[] = {"libhiprtc.so", "libhiprtc.so.6", "libamdhip64.so.5", "libamdhip64.so"};
    for (size_t i = 0; i < N_ELEMS(libs); i++) {
        void *h = dlopen(libs[i], RTLD_LAZY | RTLD_LOCAL);
        if (!h)
            continue;
        /* Left open: the HIP runtime does not unload cleanly, and
         * cg_compiler_open loads it again anyway. */
        void *sym = dlsym(h, "hiprtcVersion");
        if (!sym)
            continue;
        hiprtc.found = true;
        Dl_info info;
        char real[PATH_MAX];
        if (dladdr(sym, &info) && info.dli_fname && realpath(info.dli_fname, real) &&
            version_from_file(real, &hiprtc.major, &hiprtc.minor))
            return;
        /* No version in the file name: ask. ROCm 5's hiprtcVersion answers a
         * constant 9.0 (its clang's), which names no table and so checks
         * nothing; ROCm 6's answers the HIP version. */
        int (*version)(int *, int *);
        memcpy(&version, &sym, sizeof version);
        if (version(&hiprtc.major, &hiprtc.minor) != 0)
            hiprtc.major = hiprtc.minor = 0;
        return;
    }
}

static const struct hiprtc_table *hiprtc_installed(void)
{
    pthread_once(&hiprtc_once, hiprtc_detect);
    if (!hiprtc.found)
        return NULL;
    for (size_t i = 0; i < N_ELEMS(hiprtc_tables); i++)
        if (hiprtc_tables[i].major == hiprtc.major && hiprtc_tables[i].minor == hiprtc.minor)
            return &hiprtc_tables[i];
    return NULL;
}

/* ---- AMDGPU ------------------------------------------------------------- */

/* "gfx1030" -> 10, "gfx90a" -> 9, "gfx10-3-generic" -> 10: the digits after
 * "gfx" less the minor and stepping characters. */
static int gfx_major(const char *proc)
{
    const char *s = proc + 3;
    size_t digits = strspn(s, "0123456789");
    if (s[digits] == '-')
        return atoi(s);
    size_t len = strlen(s);
    if (len < 3)
        return 0;
    int major = 0;
    for (size_t i = 0; i < len - 2; i++)
        major = major * 10 + (s[i] - '0');
    return major;
}

static bool in_list(const char *name, size_t len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && memcmp(list[i], name, len) == 0)
            return true;
    return false;
}

/* Which processors have the xnack and sramecc modes (AMDGPUUsage, "AMDGPU
 * Processors": the Target Features column of LLVM 19). */
static bool processor_has(const char *proc, const char *feature)
{
    static const char *const xnack[] = {
        "gfx801", "gfx810", "gfx900", "gfx902", "gfx904", "gfx906", "gfx908", "gfx909", "gfx90a", "gfx90c",
        "gfx940", "gfx941", "gfx942", "gfx9-generic", "gfx1010", "gfx1011", "gfx1012", "gfx1013", "gfx10-1-generic",
    };
    static const char *const sramecc[] = {"gfx906", "gfx908", "gfx90a", "gfx940", "gfx941", "gfx942"};
    if (strcmp(feature, "xnack") == 0)
        return in_list(proc, strlen(proc), xnack, N_ELEMS(xnack));
    return in_list(proc, strlen(proc), sramecc, N_ELEMS(sramecc));
}

/* msg = prefix + "a, b, c", ending ", ..." where the names do not fit. */
static void format_list(char *msg, size_t cap, const char *prefix, const char *const *names, size_t n)
{
    static const char more[] = ", ...";
    int w = snprintf(msg, cap, "%s", prefix);
    size_t used = w < 0 ? 0 : (size_t)w < cap ? (size_t)w : cap - 1;
    for (size_t i = 0; i < n; i++) {
        const char *sep = i ? ", " : "";
        size_t need = strlen(sep) + strlen(names[i]);
        /* room for this name, and for ", ..." after it unless it is the last */
        size_t tail = i + 1 < n ? sizeof more - 1 : 0;
        if (used + need + tail >= cap) {
            if (used + sizeof more - 1 < cap)
                memcpy(msg + used, more, sizeof more);
            return;
        }
        used += (size_t)snprintf(msg + used, cap - used, "%s%s", sep, names[i]);
    }
}

static rf_status parse_gfx(const char *name, cg_arch *out, rf_error *err)
{
    size_t n_procs = 0;
    const char *const *procs = cg_amdgpu_processors(&n_procs);
    if (!procs) {
        procs = llvm19_gfx;
        n_procs = N_ELEMS(llvm19_gfx);
    }

    size_t proc_len = strcspn(name, ":");
    if (!in_list(name, proc_len, procs, n_procs)) {
        char prefix[128], msg[sizeof err->msg];
        snprintf(prefix, sizeof prefix, "unknown AMDGPU arch '%.*s'; known: ", (int)(proc_len < 64 ? proc_len : 64),
                 name);
        format_list(msg, sizeof msg, prefix, procs, n_procs);
        return rf_fail(err, RF_E_ARG, "%s", msg);
    }
    if (proc_len >= sizeof out->name)
        return rf_fail(err, RF_E_ARG, "arch '%s': processor name too long", name);
    memcpy(out->name, name, proc_len);
    out->name[proc_len] = 0;

    bool seen_xnack = false, seen_sramecc = false;
    for (const char *f = name + proc_len; *f == ':';) {
        f++;
        size_t len = strcspn(f, ":");
        char sign = len ? f[len - 1] : 0;
        size_t base = len ? len - 1 : 0;
        bool *seen = NULL;
        const char *feature = NULL;
        if (base == 5 && memcmp(f, "xnack", 5) == 0)
            seen = &seen_xnack, feature = "xnack";
        else if (base == 7 && memcmp(f, "sramecc", 7) == 0)
            seen = &seen_sramecc, feature = "sramecc";
        if (!feature || (sign != '+' && sign != '-'))
            return rf_fail(err, RF_E_ARG,
                           "arch '%s': bad target feature '%.*s'; AMDGPU target features are sramecc and xnack, "
                           "each followed by + or -",
                           name, (int)len, f);
        if (*seen)
            return rf_fail(err, RF_E_ARG, "arch '%s': target feature %s given twice", name, feature);
        *seen = true;
        if (!processor_has(out->name, feature))
            return rf_fail(err, RF_E_ARG, "arch '%s': %s has no %s mode", name, out->name, feature);
        f += len;
    }

    out->vendor = CG_AMD;
    out->wave = gfx_major(out->name) <= 9 ? 64 : 32;
    /* LLVM's dot1-insts: v_dot4_i32_i8, which __builtin_amdgcn_sdot4 emits;
     * gfx11 dropped it for v_dot4_i32_iu8 */
    static const char *const dot4[] = {"gfx906",  "gfx908",  "gfx90a",  "gfx1011", "gfx1012", "gfx1030",
                                       "gfx1031", "gfx1032", "gfx1033", "gfx1034", "gfx1035", "gfx1036"};
    out->dot4 = in_list(out->name, proc_len, dot4, sizeof dot4 / sizeof dot4[0]);
    /* v_mfma_f32_16x16x16f16 and v_mfma_i32_16x16x16i8: CDNA 1-2 (CDNA3's int8
     * form is 16x16x32, RDNA3's WMMA is for a later hipRTC than 5.2) */
    static const char *const mfma[] = {"gfx908", "gfx90a"};
    out->mma = in_list(out->name, proc_len, mfma, sizeof mfma / sizeof mfma[0]);

    const struct hiprtc_table *t = hiprtc_installed();
    if (t && !in_list(out->name, proc_len, t->builds, t->n_builds)) {
        char prefix[192], msg[sizeof err->msg];
        snprintf(prefix, sizeof prefix, "arch '%s': the installed hipRTC (ROCm %d.%d) cannot build it; it builds ", name,
                 t->major, t->minor);
        format_list(msg, sizeof msg, prefix, t->builds, t->n_builds);
        return rf_fail(err, RF_E_UNSUPPORTED, "%s", msg);
    }
    return RF_OK;
}

/* ---- NVIDIA ------------------------------------------------------------- */

static rf_status parse_sm(const char *name, cg_arch *out, rf_error *err)
{
    const char *d = name + 3;
    size_t digits = strspn(d, "0123456789");
    bool ok = digits >= 2 && digits <= 4 && d[0] != '0';
    const char *rest = d + digits;
    if (*rest == 'a')
        rest++;
    if (!ok || *rest || atoi(d) < 50)
        return rf_fail(err, RF_E_ARG, "unknown NVIDIA arch '%s': expected sm_XY with XY >= 50", name);
    out->vendor = CG_NVIDIA;
    out->wave = 32;
    out->dot4 = atoi(d) >= 61; /* dp4a */
    out->mma = atoi(d) >= 80;  /* mma.sync.m16n8k16 f16, ldmatrix */
    snprintf(out->name, sizeof out->name, "%s", name);
    return RF_OK;
}

rf_status cg_arch_parse(const char *name, cg_arch *out, rf_error *err)
{
    if (!name || !out)
        return rf_fail(err, RF_E_ARG, "cg_arch_parse: no arch name");
    cg_arch a;
    memset(&a, 0, sizeof a);
    size_t len = strlen(name);
    if (len >= sizeof a.target)
        return rf_fail(err, RF_E_ARG, "arch '%.40s...': longer than %zu characters", name, sizeof a.target - 1);
    memcpy(a.target, name, len + 1);

    rf_status s;
    if (strncmp(name, "gfx", 3) == 0)
        s = parse_gfx(name, &a, err);
    else if (strncmp(name, "sm_", 3) == 0)
        s = parse_sm(name, &a, err);
    else
        s = rf_fail(err, RF_E_ARG, "unknown arch '%s': expected an AMDGPU target (gfx90a, gfx1030:xnack-) or an "
                                   "NVIDIA one (sm_90)", name);
    if (s == RF_OK)
        *out = a;
    return s;
}
