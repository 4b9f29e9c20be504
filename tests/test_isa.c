/*
 * test_isa.c: arch names, and reading the code objects the compilers make.
 *
 * Arch names: what is accepted and with which wave size, and that every
 * refusal names the culprit (the "known:" list, the bad feature, what the
 * installed hipRTC builds). Code objects: a kernel with a known 1 KiB of
 * static shared memory is compiled by hipRTC (and by NVRTC where the CUDA
 * toolkit is installed), and its resources and disassembly are read back.
 * The compilers are called here directly through dlopen, each in a forked
 * child so that a compiler crash is a failed check and not a dead suite.
 * Every truncation of a real code object must be RF_E_FORMAT, and random
 * corruption anything but a crash. A hand-built CUBIN pins the .nv.info
 * record format without needing CUDA.
 *
 * Three parts, each a ctest test (tests/CMakeLists.txt), so that what this
 * build lacks skips only what needs it and nothing passes unchecked:
 *   (none)   names, hipRTC's code objects (hipRTC is required everywhere),
 *            metadata, hostile input, the hand-built CUBIN
 *   nvrtc    CUBINs from NVRTC: where the build found CUDA's headers,
 *            NVRTC missing at run time fails; where it did not, the part
 *            exits 77 and ctest reports it skipped
 *   llvm     LLVM's AMDGPU processor list and disassembly: likewise, by
 *            whether the build found LLVM-C (linked, so missing at run
 *            time the suite does not start, which fails too)
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codegen/isa.h"
#include "codegen/target.h"
#include "test_util.h"

/* ---- compiling through hipRTC / NVRTC in a child ------------------------- */

typedef struct rtc_lib {
    const char *libs[3]; /* tried in order */
    const char *create, *compile, *size, *get;
} rtc_lib;

static const rtc_lib hiprtc_lib = {
    {"libamdhip64.so.5", "libhiprtc.so", NULL},
    "hiprtcCreateProgram", "hiprtcCompileProgram", "hiprtcGetCodeSize", "hiprtcGetCode",
};
static const rtc_lib nvrtc_lib = {
    {"/usr/local/cuda/lib64/libnvrtc.so", "libnvrtc.so", NULL},
    "nvrtcCreateProgram", "nvrtcCompileProgram", "nvrtcGetCUBINSize", "nvrtcGetCUBIN",
};

static void *rtc_open(const rtc_lib *lib)
{
    for (int i = 0; i < 3 && lib->libs[i]; i++) {
        void *h = dlopen(lib->libs[i], RTLD_NOW | RTLD_LOCAL);
        if (h)
            return h;
    }
    return NULL;
}

static void *sym(void *h, const char *name)
{
    void *p = dlsym(h, name);
    if (!p)
        _exit(3);
    return p;
}

/* in the child: compile, write the code object to fd, exit */
static void rtc_child(const rtc_lib *lib, const char *src, const char *opt, int fd)
{
    void *h = rtc_open(lib);
    if (!h)
        _exit(2);
    int (*create)(void **, const char *, const char *, int, const char **, const char **);
    int (*compile)(void *, int, const char **);
    int (*get_size)(void *, size_t *);
    int (*get)(void *, char *);
    void *p = sym(h, lib->create);
    memcpy(&create, &p, sizeof p);
    p = sym(h, lib->compile);
    memcpy(&compile, &p, sizeof p);
    p = sym(h, lib->size);
    memcpy(&get_size, &p, sizeof p);
    p = sym(h, lib->get);
    memcpy(&get, &p, sizeof p);
    void *prog = NULL;
    size_t n = 0;
    const char *opts[] = {opt, "-O3"};
    if (create(&prog, src, "test.cu", 0, NULL, NULL) || compile(prog, lib == &hiprtc_lib ? 2 : 1, opts) ||
        get_size(prog, &n) || n == 0)
        _exit(4);
    char *code = malloc(n);
    if (!code || get(prog, code))
        _exit(5);
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, code + done, n - done);
        if (w <= 0)
            _exit(6);
        done += (size_t)w;
    }
    _exit(0); /* no atexit: the compiler's state is not ours to tear down */
}

/* The code object, malloc'd; NULL (and a note) when the compiler is absent
 * or fails. */
static uint8_t *rtc_build(const rtc_lib *lib, const char *src, const char *opt, size_t *size)
{
    int fds[2];
    if (pipe(fds) != 0)
        return NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        rtc_child(lib, src, opt, fds[1]);
    }
    close(fds[1]);
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (ssize_t r; buf && (r = read(fds[0], buf + n, cap - n)) > 0;) {
        n += (size_t)r;
        if (n == cap) {
            uint8_t *grown = realloc(buf, cap *= 2);
            if (!grown)
                free(buf);
            buf = grown;
        }
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!buf || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "\n  %s %s: %s %d\n", lib->compile, opt, WIFEXITED(status) ? "exit" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        free(buf);
        return NULL;
    }
    *size = n;
    return buf;
}

static int have_lib(const rtc_lib *lib)
{
    void *h = rtc_open(lib);
    return h != NULL; /* left open, as arch.c leaves it */
}

/* Is the hipRTC here ROCm 5.2's (the library file libamdhip64.so.5.2.*)? */
static int hiprtc_is_5_2(void)
{
    void *h = dlopen("libamdhip64.so.5", RTLD_NOW | RTLD_LOCAL);
    void *p = h ? dlsym(h, "hiprtcVersion") : NULL;
    Dl_info info;
    char real[PATH_MAX];
    return p && dladdr(p, &info) && info.dli_fname && realpath(info.dli_fname, real) &&
           strstr(real, "libamdhip64.so.5.2.");
}

static const char shared_kernel[] =
    "extern \"C\" __global__ void k(float *x, int i) {\n"
    "    __shared__ float s[256];\n"
    "    s[threadIdx.x] = x[threadIdx.x];\n"
    "    __syncthreads();\n"
    "    x[threadIdx.x] = s[255 - threadIdx.x] * 2.0f + (float)i;\n"
    "}\n";
static const char two_kernels[] =
    "extern \"C\" __global__ void a(float *x) { x[threadIdx.x] += 1.0f; }\n"
    "extern \"C\" __global__ void b(float *x) { x[threadIdx.x] *= 3.0f; }\n";

static cg_arch arch_of(const char *name)
{
    cg_arch a;
    rf_error err = {0};
    memset(&a, 0, sizeof a);
    CU_ASSERT_EQUAL(cg_arch_parse(name, &a, &err), RF_OK);
    return a;
}

/* ---- arch names ----------------------------------------------------------- */

static void test_arch_accepts(void)
{
    cg_arch a = arch_of("gfx90a");
    CU_ASSERT_EQUAL(a.vendor, CG_AMD);
    CU_ASSERT_STRING_EQUAL(a.name, "gfx90a");
    CU_ASSERT_STRING_EQUAL(a.target, "gfx90a");
    CU_ASSERT_EQUAL(a.wave, 64);

    a = arch_of("gfx90a:sramecc+:xnack-");
    CU_ASSERT_STRING_EQUAL(a.name, "gfx90a");
    CU_ASSERT_STRING_EQUAL(a.target, "gfx90a:sramecc+:xnack-");
    CU_ASSERT_EQUAL(a.wave, 64);

    CU_ASSERT_EQUAL(arch_of("gfx908:xnack+").wave, 64);
    CU_ASSERT_EQUAL(arch_of("gfx803").wave, 64);
    CU_ASSERT_EQUAL(arch_of("gfx1030").wave, 32);
    CU_ASSERT_EQUAL(arch_of("gfx1010:xnack-").wave, 32);

    a = arch_of("sm_90");
    CU_ASSERT_EQUAL(a.vendor, CG_NVIDIA);
    CU_ASSERT_STRING_EQUAL(a.name, "sm_90");
    CU_ASSERT_EQUAL(a.wave, 32);
    CU_ASSERT_EQUAL(arch_of("sm_90a").vendor, CG_NVIDIA);
    CU_ASSERT_EQUAL(arch_of("sm_50").wave, 32);
    CU_ASSERT_EQUAL(arch_of("sm_120").wave, 32);
}

static rf_status parse(const char *name, rf_error *err)
{
    cg_arch a;
    memset(err, 0, sizeof *err);
    return cg_arch_parse(name, &a, err);
}

static void test_arch_rejects(void)
{
    rf_error err;
    CU_ASSERT_EQUAL(parse("gfx4242", &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unknown AMDGPU arch 'gfx4242'; known: gfx600, gfx601, "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, ", gfx90a, "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, ", gfx1030, "));

    CU_ASSERT_EQUAL(parse("gfx90a:bogus+", &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'bogus+'"));
    CU_ASSERT_EQUAL(parse("gfx90a:xnack", &err), RF_E_ARG);      /* no sign */
    CU_ASSERT_EQUAL(parse("gfx90a:", &err), RF_E_ARG);
    CU_ASSERT_EQUAL(parse("gfx90a:xnack+:xnack-", &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "twice"));
    CU_ASSERT_EQUAL(parse("gfx1030:xnack+", &err), RF_E_ARG);    /* no xnack mode on RDNA2 */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "gfx1030 has no xnack"));
    CU_ASSERT_EQUAL(parse("gfx900:sramecc+", &err), RF_E_ARG);
    CU_ASSERT_EQUAL(parse("gfx", &err), RF_E_ARG);
    CU_ASSERT_EQUAL(parse("GFX90A", &err), RF_E_ARG);

    CU_ASSERT_EQUAL(parse("sm_1", &err), RF_E_ARG);
    CU_ASSERT_STRING_EQUAL(err.msg, "unknown NVIDIA arch 'sm_1': expected sm_XY with XY >= 50");
    CU_ASSERT_EQUAL(parse("sm_49", &err), RF_E_ARG);
    CU_ASSERT_EQUAL(parse("sm_90b", &err), RF_E_ARG);
    CU_ASSERT_EQUAL(parse("sm_", &err), RF_E_ARG);
    CU_ASSERT_EQUAL(parse("rdna3", &err), RF_E_ARG);
    CU_ASSERT_EQUAL(parse("", &err), RF_E_ARG);
    CU_ASSERT_EQUAL(parse(NULL, &err), RF_E_ARG);
    char long_name[100];
    memset(long_name, 'a', sizeof long_name - 1);
    memcpy(long_name, "gfx", 3);
    long_name[sizeof long_name - 1] = 0;
    CU_ASSERT_EQUAL(parse(long_name, &err), RF_E_ARG);
}

static void test_arch_hiprtc(void)
{
    rf_error err;
    if (!hiprtc_is_5_2()) {
        /* another hipRTC, or none: nothing is refused on its account */
        CU_ASSERT_NOT_EQUAL(parse("gfx942", &err), RF_E_ARG);
        return;
    }
    CU_ASSERT_EQUAL(parse("gfx942", &err), RF_E_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "arch 'gfx942': the installed hipRTC (ROCm 5.2) cannot build it; it builds "
                                           "gfx600, "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "gfx90a"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "gfx1036"));
    CU_ASSERT_EQUAL(parse("gfx1100", &err), RF_E_UNSUPPORTED);
    CU_ASSERT_EQUAL(parse("gfx940:xnack+", &err), RF_E_UNSUPPORTED);
    CU_ASSERT_EQUAL(parse("gfx11-generic", &err), RF_E_UNSUPPORTED);
    CU_ASSERT_EQUAL(parse("gfx1036", &err), RF_OK);
}

static void test_processors(void)
{
    size_t n = 0;
    CU_ASSERT_TRUE_FATAL(cg_amdgpu_available());
    const char *const *p = cg_amdgpu_processors(&n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT(n >= 40);
    CU_ASSERT_STRING_EQUAL(p[0], "gfx600");
    int has_90a = 0, has_1030 = 0;
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(strncmp(p[i], "gfx", 3), 0);
        has_90a |= strcmp(p[i], "gfx90a") == 0;
        has_1030 |= strcmp(p[i], "gfx1030") == 0;
    }
    CU_ASSERT(has_90a && has_1030);
    CU_ASSERT_PTR_EQUAL(cg_amdgpu_processors(NULL), p); /* read once */
}

/* ---- AMDGPU code objects --------------------------------------------------- */

static uint8_t *hip_build(const char *src, const char *arch, size_t *size)
{
    char opt[64];
    snprintf(opt, sizeof opt, "--offload-arch=%s", arch);
    uint8_t *code = rtc_build(&hiprtc_lib, src, opt, size);
    CU_ASSERT_PTR_NOT_NULL(code); /* CI installs hipRTC (libamdhip64-dev): its absence is a failure */
    return code;
}

static char *disassemble(const cg_arch *a, const void *code, size_t size, const char *kernel, rf_status *st)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    rf_error err = {0};
    *st = cg_code_disassemble(a, code, size, kernel, f, &err);
    fclose(f);
    return text;
}

static void test_amd_resources(void)
{
    size_t size = 0;
    uint8_t *code = hip_build(shared_kernel, "gfx90a", &size);
    if (!code)
        return;
    cg_arch a = arch_of("gfx90a");
    cg_resources r;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(cg_code_resources(&a, code, size, "k", &r, &err), RF_OK);
    CU_ASSERT_EQUAL(r.lds_bytes, 1024);
    CU_ASSERT(r.vgpr > 0 && r.vgpr <= 512);
    CU_ASSERT(r.sgpr > 0 && r.sgpr <= 112);
    CU_ASSERT_EQUAL(r.agpr, 0);
    CU_ASSERT_EQUAL(r.scratch_bytes, 0);
    CU_ASSERT_EQUAL(r.wave, 64);
    CU_ASSERT(r.waves_per_simd >= 1 && r.waves_per_simd <= 8); /* gfx90a: at most 8 */
    cg_resources only;
    CU_ASSERT_EQUAL(cg_code_resources(&a, code, size, NULL, &only, &err), RF_OK); /* the only kernel */
    CU_ASSERT_EQUAL(memcmp(&only, &r, sizeof r), 0);
    CU_ASSERT_EQUAL(cg_code_resources(&a, code, size, "nope", &r, &err), RF_E_NOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'nope'"));
    cg_arch nv = arch_of("sm_90");
    CU_ASSERT_EQUAL(cg_code_resources(&nv, code, size, "k", &r, &err), RF_E_FORMAT); /* not a CUBIN */
    free(code);

    code = hip_build(shared_kernel, "gfx1030", &size);
    if (code) {
        a = arch_of("gfx1030");
        CU_ASSERT_EQUAL(cg_code_resources(&a, code, size, "k", &r, &err), RF_OK);
        CU_ASSERT_EQUAL(r.wave, 32);
        CU_ASSERT_EQUAL(r.lds_bytes, 1024);
        CU_ASSERT(r.waves_per_simd >= 1 && r.waves_per_simd <= 16);
        free(code);
    }

    code = hip_build(two_kernels, "gfx908", &size);
    if (code) {
        a = arch_of("gfx908");
        CU_ASSERT_EQUAL(cg_code_resources(&a, code, size, NULL, &r, &err), RF_E_ARG); /* which one? */
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "2 kernels"));
        CU_ASSERT_EQUAL(cg_code_resources(&a, code, size, "b", &r, &err), RF_OK);
        CU_ASSERT_EQUAL(r.lds_bytes, 0);
        CU_ASSERT(r.waves_per_simd >= 1 && r.waves_per_simd <= 10);
        free(code);
    }
}

static void test_amd_disassembly(void)
{
    size_t size = 0;
    uint8_t *code = hip_build(shared_kernel, "gfx90a", &size);
    if (!code)
        return;
    CU_ASSERT_TRUE(cg_amdgpu_available());
    cg_arch a = arch_of("gfx90a");
    rf_status st;
    char *text = disassemble(&a, code, size, "k", &st);
    CU_ASSERT_EQUAL(st, RF_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "s_endpgm"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "ds_write")); /* the store to s[] */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "s_barrier"));
    free(text);
    cg_arch old = arch_of("gfx803");
    memcpy(old.name, "gfx700", 7); /* LLVM cannot decode gfx6/gfx7: refused, not aborted */
    text = disassemble(&old, code, size, "k", &st);
    CU_ASSERT_EQUAL(st, RF_E_UNSUPPORTED);
    free(text);
    memcpy(old.name, "gfx4242", 8);
    text = disassemble(&old, code, size, "k", &st);
    CU_ASSERT_EQUAL(st, RF_E_ARG);
    free(text);
    free(code);
}

#ifndef ROCMFORGE_HAVE_LLVM
/* A build without LLVM-C names no processors and refuses to disassemble. */
static void test_without_llvm(void)
{
    CU_ASSERT_FALSE(cg_amdgpu_available());
    CU_ASSERT_PTR_NULL(cg_amdgpu_processors(NULL));
    size_t size = 0;
    uint8_t *code = hip_build(shared_kernel, "gfx90a", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(code);
    cg_arch a = arch_of("gfx90a");
    rf_status st;
    free(disassemble(&a, code, size, "k", &st));
    CU_ASSERT_EQUAL(st, RF_E_UNSUPPORTED);
    free(code);
}
#endif

/* Every truncation is RF_E_FORMAT; random corruption (half of it in the
 * metadata note) returns some status and never crashes. */
static void check_hostile(const cg_arch *a, const uint8_t *code, size_t size, const char *kernel)
{
    FILE *null = fopen("/dev/null", "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(null);
    rf_error err;
    cg_resources r;
    int bad_trunc = 0;
    for (size_t n = 0; n < size; n++) {
        uint8_t *cut = malloc(n ? n : 1); /* its own allocation: ASan sees any read past n */
        memcpy(cut, code, n);
        bad_trunc += cg_code_resources(a, cut, n, kernel, &r, &err) != RF_E_FORMAT;
        if (a->vendor == CG_AMD)
            bad_trunc += cg_code_disassemble(a, cut, n, kernel, null, &err) != RF_E_FORMAT;
        free(cut);
    }
    CU_ASSERT_EQUAL(bad_trunc, 0);

    size_t note = 0; /* where the metadata is, roughly */
    for (size_t i = 0; i + 14 <= size; i++)
        if (memcmp(code + i, "amdhsa.kernels", 14) == 0)
            note = i;
    uint64_t rng = 0x1234567;
    uint8_t *bad = malloc(size);
    int ok = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(bad, code, size);
        int flips = 1 + (int)(test_rand(&rng) % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)(test_rand(&rng) % size);
            if (note && iter % 2)
                at = (note + size - 256 + (size_t)(test_rand(&rng) % 768)) % size;
            bad[at] = (uint8_t)test_rand(&rng);
        }
        rf_status st = cg_code_resources(a, bad, size, kernel, &r, &err);
        ok += st == RF_OK;
        CU_ASSERT(st == RF_OK || st == RF_E_FORMAT || st == RF_E_NOTFOUND || st == RF_E_ARG);
        if (a->vendor == CG_AMD)
            cg_code_disassemble(a, bad, size, kernel, null, &err);
    }
    CU_ASSERT(ok > 0); /* most flips land where nothing is read */
    free(bad);
    fclose(null);
}

static void test_amd_hostile(void)
{
    size_t size = 0;
    uint8_t *code = hip_build(shared_kernel, "gfx90a", &size);
    if (!code)
        return;
    cg_arch a = arch_of("gfx90a");
    check_hostile(&a, code, size, "k");
    check_hostile(&a, code, size, NULL);
    free(code);
}

/* The metadata note of a real code object with its MessagePack replaced:
 * fields and the waves-per-SIMD rule as data, then hostile nesting and
 * counts. */
typedef struct mp_out {
    uint8_t b[512];
    size_t n;
} mp_out;

static void mp_byte(mp_out *o, uint8_t c) { o->b[o->n++] = c; }
static void mp_str(mp_out *o, const char *s)
{
    size_t len = strlen(s);
    mp_byte(o, (uint8_t)(0xa0 | len));
    memcpy(o->b + o->n, s, len);
    o->n += len;
}
static void mp_u32(mp_out *o, uint32_t v)
{
    mp_byte(o, 0xce);
    for (int i = 3; i >= 0; i--)
        mp_byte(o, (uint8_t)(v >> (8 * i)));
}

/* desc of the NT_AMDGPU_METADATA note: namesz 7, descsz, type 32, "AMDGPU" */
static uint8_t *metadata_desc(uint8_t *code, size_t size, size_t *len)
{
    for (size_t i = 0; i + 20 <= size; i++)
        if (memcmp(code + i, "\7\0\0\0", 4) == 0 && memcmp(code + i + 8, "\x20\0\0\0AMDGPU\0", 11) == 0) {
            *len = code[i + 4] | (size_t)code[i + 5] << 8;
            return code + i + 20;
        }
    return NULL;
}

static rf_status with_metadata(const char *proc, const uint8_t *code, size_t size, const mp_out *m,
                               cg_resources *r)
{
    uint8_t *copy = malloc(size);
    memcpy(copy, code, size);
    size_t len = 0;
    uint8_t *desc = metadata_desc(copy, size, &len);
    CU_ASSERT_FATAL(desc && len >= m->n);
    memset(desc, 0xc0, len); /* nil after the map: never read */
    memcpy(desc, m->b, m->n);
    cg_arch a;
    memset(&a, 0, sizeof a);
    a.vendor = CG_AMD;
    snprintf(a.name, sizeof a.name, "%s", proc);
    snprintf(a.target, sizeof a.target, "%s", proc);
    a.wave = 64;
    rf_error err = {0};
    rf_status st = cg_code_resources(&a, copy, size, "k", r, &err);
    free(copy);
    return st;
}

static void kernel_metadata(mp_out *o, uint32_t vgpr, uint32_t sgpr, uint32_t wave)
{
    o->n = 0;
    mp_byte(o, 0x82);
    mp_str(o, "amdhsa.version");
    mp_byte(o, 0x92), mp_byte(o, 1), mp_byte(o, 2);
    mp_str(o, "amdhsa.kernels");
    mp_byte(o, 0x91);
    mp_byte(o, 0x89);
    mp_str(o, ".args"), mp_byte(o, 0x91), mp_byte(o, 0x81), mp_str(o, ".size"), mp_byte(o, 8);
    mp_str(o, ".name"), mp_str(o, "k");
    mp_str(o, ".symbol"), mp_str(o, "k.kd");
    mp_str(o, ".vgpr_count"), mp_u32(o, vgpr);
    mp_str(o, ".sgpr_count"), mp_u32(o, sgpr);
    mp_str(o, ".agpr_count"), mp_byte(o, 4);
    mp_str(o, ".group_segment_fixed_size"), mp_byte(o, 0xcd), mp_byte(o, 0x10), mp_byte(o, 0x00);
    mp_str(o, ".private_segment_fixed_size"), mp_byte(o, 16);
    mp_str(o, ".wavefront_size"), mp_byte(o, (uint8_t)wave);
}

static void test_amd_metadata(void)
{
    size_t size = 0;
    uint8_t *code = hip_build(shared_kernel, "gfx90a", &size);
    if (!code)
        return;
    /* LLVM 19's getNumWavesPerEUWithNumVGPRs / getOccupancyWithNumSGPRs */
    static const struct {
        const char *proc;
        uint32_t vgpr, sgpr, wave;
        int waves;
    } occ[] = {
        {"gfx90a", 100, 20, 64, 4},   /* granule 8: 104 of 512 */
        {"gfx90a", 7, 20, 64, 8},     /* under a granule: the limit, 8 */
        {"gfx90a", 512, 20, 64, 1},
        {"gfx942", 130, 20, 64, 3},   /* 136 of 512 */
        {"gfx908", 100, 20, 64, 2},   /* granule 4: 100 of 256 */
        {"gfx908", 24, 20, 64, 10},
        {"gfx908", 24, 96, 64, 8},    /* SGPRs bound it on gfx9: <= 100 -> 8 */
        {"gfx803", 24, 104, 64, 7},
        {"gfx700", 24, 60, 64, 8},    /* gfx7: <= 64 SGPRs -> 8 */
        {"gfx1010", 100, 20, 32, 9},  /* wave32, granule 8: 104 of 1024 */
        {"gfx1010", 8, 20, 32, 20},
        {"gfx1030", 100, 200, 32, 9}, /* granule 16: 112 of 1024; SGPRs no bound */
        {"gfx1030", 100, 20, 64, 4},  /* wave64, granule 8: 104 of 512 */
        {"gfx1102", 100, 20, 32, 9},
        {"gfx1100", 100, 20, 32, 12}, /* 1.5x VGPRs, granule 24: 120 of 1536 */
        {"gfx1200", 256, 20, 32, 5},  /* 264 of 1536 */
    };
    mp_out m;
    cg_resources r;
    for (size_t i = 0; i < sizeof occ / sizeof occ[0]; i++) {
        kernel_metadata(&m, occ[i].vgpr, occ[i].sgpr, occ[i].wave);
        CU_ASSERT_EQUAL_FATAL(with_metadata(occ[i].proc, code, size, &m, &r), RF_OK);
        CU_ASSERT_EQUAL(r.vgpr, (int)occ[i].vgpr);
        CU_ASSERT_EQUAL(r.sgpr, (int)occ[i].sgpr);
        CU_ASSERT_EQUAL(r.agpr, 4);
        CU_ASSERT_EQUAL(r.lds_bytes, 4096);
        CU_ASSERT_EQUAL(r.scratch_bytes, 16);
        CU_ASSERT_EQUAL(r.wave, (int)occ[i].wave);
        if (r.waves_per_simd != occ[i].waves)
            fprintf(stderr, "\n  %s vgpr %u: %d waves, expected %d\n", occ[i].proc, occ[i].vgpr, r.waves_per_simd,
                    occ[i].waves);
        CU_ASSERT_EQUAL(r.waves_per_simd, occ[i].waves);
    }

    kernel_metadata(&m, 0x80000000u, 20, 64); /* does not fit an int */
    CU_ASSERT_EQUAL(with_metadata("gfx90a", code, size, &m, &r), RF_E_FORMAT);
    kernel_metadata(&m, 10, 20, 48); /* no such wave size */
    CU_ASSERT_EQUAL(with_metadata("gfx90a", code, size, &m, &r), RF_E_FORMAT);

    /* 300 nested arrays: refused at the depth limit, not by the stack */
    m.n = 0;
    mp_byte(&m, 0x81), mp_str(&m, "amdhsa.kernels"), mp_byte(&m, 0x91), mp_byte(&m, 0x81), mp_str(&m, ".args");
    for (int i = 0; i < 300; i++)
        mp_byte(&m, 0x91);
    CU_ASSERT_EQUAL(with_metadata("gfx90a", code, size, &m, &r), RF_E_FORMAT);
    /* counts no file could hold */
    static const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t huge_str[] = {0x81, 0xdb, 0x7f, 0xff, 0xff, 0xff};
    static const uint8_t huge_arr[] = {0x81, 0xae, 'a', 'm', 'd', 'h', 's', 'a', '.', 'k', 'e', 'r', 'n', 'e', 'l',
                                       's', 0xdd, 0xff, 0xff, 0xff, 0xf0};
    const uint8_t *hostile[] = {huge_map, huge_str, huge_arr};
    size_t hostile_len[] = {sizeof huge_map, sizeof huge_str, sizeof huge_arr};
    for (int i = 0; i < 3; i++) {
        memcpy(m.b, hostile[i], hostile_len[i]);
        m.n = hostile_len[i];
        CU_ASSERT_EQUAL(with_metadata("gfx90a", code, size, &m, &r), RF_E_FORMAT);
    }
    free(code);
}

/* ---- NVIDIA CUBINs ---------------------------------------------------------- */

static void test_nv_nvrtc(void)
{
    if (!have_lib(&nvrtc_lib))
        fprintf(stderr, "\n  NVRTC (%s, %s) is not found at run time, though this build found CUDA's headers\n",
                nvrtc_lib.libs[0], nvrtc_lib.libs[1]);
    CU_ASSERT_TRUE_FATAL(have_lib(&nvrtc_lib));
    size_t size = 0;
    uint8_t *code = rtc_build(&nvrtc_lib, shared_kernel, "-arch=sm_90", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(code);
    cg_arch a = arch_of("sm_90");
    cg_resources r;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(cg_code_resources(&a, code, size, "k", &r, &err), RF_OK);
    CU_ASSERT(r.vgpr > 0 && r.vgpr <= 255);
    CU_ASSERT_EQUAL(r.lds_bytes, 1024); /* ptxas -v: "1024 bytes smem" (the 1 KiB reserve is not counted) */
    CU_ASSERT_EQUAL(r.scratch_bytes, 0);
    CU_ASSERT_EQUAL(r.wave, 32);
    CU_ASSERT_EQUAL(r.agpr, -1);
    CU_ASSERT_EQUAL(r.waves_per_simd, -1);
    CU_ASSERT_EQUAL(cg_code_resources(&a, code, size, NULL, &r, &err), RF_OK);
    CU_ASSERT_EQUAL(cg_code_resources(&a, code, size, "nope", &r, &err), RF_E_NOTFOUND);

    rf_status st;
    char *text = disassemble(&a, code, size, "k", &st);
    CU_ASSERT_EQUAL(st, RF_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "nvdisasm"));
    free(text);
    check_hostile(&a, code, size, "k");
    free(code);

    /* local memory: a dynamically indexed array lives on the stack */
    static const char local_kernel[] =
        "extern \"C\" __global__ void l(float *x, int i) {\n"
        "    float t[64];\n"
        "    for (int j = 0; j < 64; j++) t[(j * i) & 63] = x[j * i];\n"
        "    x[threadIdx.x] = t[x[5] > 0.0f ? i & 63 : 3];\n"
        "}\n";
    code = rtc_build(&nvrtc_lib, local_kernel, "-arch=sm_80", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(code);
    a = arch_of("sm_80");
    CU_ASSERT_EQUAL(cg_code_resources(&a, code, size, "l", &r, &err), RF_OK);
    CU_ASSERT_EQUAL(r.scratch_bytes, 256); /* ptxas -v: "256 bytes stack frame" */
    CU_ASSERT_EQUAL(r.lds_bytes, 0);
    free(code);
}

/* A minimal CUBIN as the CUDA 13 toolchain lays one out: kernel k (symbol 1)
 * with 37 registers and a 16-byte frame in .nv.info, 1 KiB of shared memory
 * after the 1 KiB sm_90 reserve. */
typedef struct blob {
    uint8_t b[2048];
    size_t n;
} blob;

static size_t put(blob *o, const void *p, size_t n)
{
    size_t at = (o->n + 7) & ~(size_t)7;
    memset(o->b + o->n, 0, at - o->n);
    memcpy(o->b + at, p, n);
    o->n = at + n;
    return at;
}

static void le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static size_t build_cubin(blob *o)
{
    static const char shstr[] = "\0.shstrtab\0.strtab\0.symtab\0.nv.info\0.nv.info.k\0.text.k\0.nv.shared.k\0"
                                ".nv.shared.reserved.0";
    enum { N_SHSTR = 1, N_STR = 11, N_SYMTAB = 19, N_INFO = 27, N_INFOK = 36, N_TEXT = 47, N_SHARED = 55,
           N_RESERVED = 68 };
    static const char str[] = "\0k";
    uint8_t symtab[48] = {0};
    le(symtab + 24, 1, 4);            /* name "k" */
    symtab[24 + 4] = 0x12;            /* GLOBAL FUNC */
    symtab[24 + 5] = 0x10;            /* STO_CUDA_ENTRY */
    le(symtab + 24 + 6, 6, 2);        /* in .text.k */
    le(symtab + 24 + 16, 16, 8);      /* 16 bytes */
    static const uint8_t info[] = {
        0x04, 0x2f, 0x08, 0x00, 1, 0, 0, 0, 37, 0, 0, 0,  /* EIATTR_REGCOUNT k 37 */
        0x04, 0x11, 0x08, 0x00, 1, 0, 0, 0, 16, 0, 0, 0,  /* EIATTR_FRAME_SIZE k 16 */
        0x04, 0x2f, 0x08, 0x00, 7, 0, 0, 0, 99, 0, 0, 0,  /* another function's */
        0x01, 0x35, 0x00, 0x00,                           /* an NVAL */
    };
    static const uint8_t info_k[] = {
        0x04, 0x37, 0x04, 0x00, 0x82, 0, 0, 0,           /* EIATTR_CUDA_API_VERSION */
        0x03, 0x1b, 0xff, 0x00,                          /* EIATTR_MAXREG_COUNT 255 (HVAL) */
        0x02, 0x4c, 0x01, 0x00,                          /* EIATTR_NUM_BARRIERS 1 (BVAL) */
    };
    static const uint8_t text[16] = {0};
    o->n = 64;
    memset(o->b, 0, 64);
    size_t at_shstr = put(o, shstr, sizeof shstr), at_str = put(o, str, sizeof str);
    size_t at_sym = put(o, symtab, sizeof symtab), at_info = put(o, info, sizeof info);
    size_t at_infok = put(o, info_k, sizeof info_k), at_text = put(o, text, sizeof text);
    struct { uint32_t name, type; uint64_t off, size; uint32_t link, info; uint64_t entsize; } sh[9] = {
        {0, 0, 0, 0, 0, 0, 0},
        {N_SHSTR, 3, at_shstr, sizeof shstr, 0, 0, 0},
        {N_STR, 3, at_str, sizeof str, 0, 0, 0},
        {N_SYMTAB, 2, at_sym, sizeof symtab, 2, 1, 24},
        {N_INFO, 0x70000000, at_info, sizeof info, 3, 0, 0},
        {N_INFOK, 0x70000000, at_infok, sizeof info_k, 3, 6, 0},
        {N_TEXT, 1, at_text, sizeof text, 3, 1, 0},
        {N_SHARED, 8, o->n, 2048, 0, 6, 0},
        {N_RESERVED, 8, o->n, 0, 0, 0, 0},
    };
    uint8_t hdr[9 * 64] = {0};
    for (int i = 0; i < 9; i++) {
        uint8_t *h = hdr + 64 * i;
        le(h, sh[i].name, 4);
        le(h + 4, sh[i].type, 4);
        le(h + 24, sh[i].off, 8);
        le(h + 32, sh[i].size, 8);
        le(h + 40, sh[i].link, 4);
        le(h + 44, sh[i].info, 4);
        le(h + 56, sh[i].entsize, 8);
    }
    size_t shoff = put(o, hdr, sizeof hdr);
    memcpy(o->b, "\177ELF\2\1\1\x41", 8);
    le(o->b + 16, 2, 2);   /* ET_EXEC */
    le(o->b + 18, 190, 2); /* EM_CUDA */
    le(o->b + 20, 1, 4);
    le(o->b + 40, shoff, 8);
    le(o->b + 52, 64, 2);
    le(o->b + 58, 64, 2);
    le(o->b + 60, 9, 2);
    le(o->b + 62, 1, 2);
    return o->n;
}

static void test_nv_handmade(void)
{
    blob o;
    size_t size = build_cubin(&o);
    cg_arch a = arch_of("sm_90");
    cg_resources r;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(cg_code_resources(&a, o.b, size, "k", &r, &err), RF_OK);
    CU_ASSERT_EQUAL(r.vgpr, 37);
    CU_ASSERT_EQUAL(r.lds_bytes, 1024);
    CU_ASSERT_EQUAL(r.scratch_bytes, 16);
    CU_ASSERT_EQUAL(r.sgpr, -1);
    CU_ASSERT_EQUAL(cg_code_resources(&a, o.b, size, NULL, &r, &err), RF_OK);
    CU_ASSERT_EQUAL(r.vgpr, 37);
    cg_arch amd = arch_of("gfx90a");
    CU_ASSERT_EQUAL(cg_code_resources(&amd, o.b, size, "k", &r, &err), RF_E_FORMAT); /* not AMDGPU */
    check_hostile(&a, o.b, size, "k");

    /* an SVAL whose size runs past its section */
    blob bad = o;
    size_t info_at = 0;
    for (size_t i = 0; i + 4 <= size; i++)
        if (memcmp(bad.b + i, "\x04\x2f\x08\x00", 4) == 0 && !info_at)
            info_at = i;
    CU_ASSERT_FATAL(info_at != 0);
    bad.b[info_at + 2] = 0xff;
    CU_ASSERT_EQUAL(cg_code_resources(&a, bad.b, size, "k", &r, &err), RF_E_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, ".nv.info"));
}

int main(int argc, char **argv)
{
    const char *part = argc > 1 ? argv[1] : "";
    if (argc > 2 || (part[0] && strcmp(part, "nvrtc") && strcmp(part, "llvm"))) {
        fprintf(stderr, "usage: %s [nvrtc | llvm]\n", argv[0]);
        return 2;
    }
#ifndef RF_TEST_BUILD_HAS_CUDA
    if (!strcmp(part, "nvrtc")) {
        printf("skipped: this build found no CUDA headers (cuda.h, nvrtc.h), so it does not use NVRTC\n");
        return TEST_SKIP;
    }
#endif
#ifndef ROCMFORGE_HAVE_LLVM
    if (!strcmp(part, "llvm")) {
        printf("skipped: this build found no LLVM-C 19 with AMDGPU (llvm-19-dev): no processor list or "
               "disassembly to check\n");
        return TEST_SKIP;
    }
#endif
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite(part[0] ? part : "isa", NULL, NULL);
    if (!strcmp(part, "nvrtc")) {
        CU_add_test(s, "CUBIN resources from NVRTC", test_nv_nvrtc);
    } else if (!strcmp(part, "llvm")) {
        CU_add_test(s, "LLVM's AMDGPU processor list", test_processors);
        CU_add_test(s, "AMDGPU disassembly", test_amd_disassembly);
    } else {
        CU_add_test(s, "gfx and sm names accepted, with their wave size", test_arch_accepts);
        CU_add_test(s, "bad names refused, naming what is known", test_arch_rejects);
        CU_add_test(s, "what hipRTC 5.2 cannot build is refused", test_arch_hiprtc);
        CU_add_test(s, "AMDGPU resources from the metadata note", test_amd_resources);
        CU_add_test(s, "metadata fields, waves per SIMD, hostile MessagePack", test_amd_metadata);
        CU_add_test(s, "truncated and corrupted code objects", test_amd_hostile);
        CU_add_test(s, "CUBIN resources from a hand-built CUBIN", test_nv_handmade);
#ifndef ROCMFORGE_HAVE_LLVM
        CU_add_test(s, "without LLVM-C: no processor list, disassembly refused", test_without_llvm);
#endif
    }
    return test_main();
}
