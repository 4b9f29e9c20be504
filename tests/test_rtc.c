/*
 * test_rtc.c: the run-time compilers (codegen/rtc.c), fact by fact.
 *
 * hipRTC builds a plain kernel for gfx90a:sramecc+:xnack- into an AMDGPU
 * ELF (e_machine 224) whose e_flags say gfx90a, sramecc on, xnack off, so
 * the full target id reached the compiler; NVRTC builds it for sm_90 into a
 * CUBIN (ELF, e_machine 190). A syntax error is RF_E_FORMAT naming the file
 * and carrying the log's error line (hipRTC's temporary file name replaced
 * by ours). The compiler id and options are non-empty, say which compiler
 * and arch, and do not change between opens. Eight kernels built on four
 * threads at once all succeed and each comes out the same size as when
 * built alone (hipRTC 5.2 loses options under concurrency; rtc.c serialises
 * it, and this is the check that caught it).
 *
 * Both compilers are required: CI has CUDA 13 at /usr/local/cuda and
 * hipRTC from Debian's libamdhip64-dev, so a missing one fails the suite
 * instead of skipping it. No GPU is needed.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/target.h"
#include "test_util.h"

enum { EM_AMDGPU_ = 224, EM_CUDA_ = 190 };
enum { N_THREADS = 4, N_KERNELS = 8 };

static const cg_arch gfx90a = {
    .vendor = CG_AMD, .name = "gfx90a", .target = "gfx90a:sramecc+:xnack-", .wave = 64, .dot4 = true, .mma = true};
static const cg_arch sm_90 = {.vendor = CG_NVIDIA, .name = "sm_90", .target = "sm_90", .wave = 32, .dot4 = true, .mma = true};

/* kernel i of the concurrent build: each has its own name and constant */
static char *kernel_source(int i)
{
    char *s = malloc(512);
    if (s)
        snprintf(s, 512,
                 "extern \"C\" __global__ void axpy_%d(float *x, const float *y, int n)\n"
                 "{\n"
                 "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
                 "    if (i < n)\n"
                 "        x[i] = x[i] * %d.0f + y[i];\n"
                 "}\n",
                 i, i + 1);
    return s;
}

static const char bad_source[] = "extern \"C\" __global__ void broken(float *x)\n"
                                 "{\n"
                                 "    x[threadIdx.x] = 1.0f + ;\n"
                                 "}\n";

static cg_compiler *open_or_fail(const cg_arch *a)
{
    rf_error err = {0};
    cg_compiler *c = NULL;
    rf_status st = cg_compiler_open(a, &c, &err);
    if (st != RF_OK)
        fprintf(stderr, "\n  cg_compiler_open(%s): %s\n", a->target, err.msg);
    CU_ASSERT_EQUAL_FATAL(st, RF_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    return c;
}

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool contains(const void *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp((const char *)hay + i, needle, k))
            return true;
    return false;
}

/* Builds kernel 0 and checks the ELF header: 64-bit, little-endian, machine. */
static void check_build(const cg_arch *a, uint16_t machine, unsigned char **elf, size_t *size)
{
    cg_compiler *c = open_or_fail(a);
    char *src = kernel_source(0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    rf_error err = {0};
    void *code = NULL;
    size_t n = 0;
    rf_status st = cg_compiler_build(c, src, "axpy_0.cu", &code, &n, &err);
    if (st != RF_OK)
        fprintf(stderr, "\n  build for %s: %s\n", a->target, err.msg);
    CU_ASSERT_EQUAL_FATAL(st, RF_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(code);
    CU_ASSERT_FATAL(n >= 64);
    const unsigned char *e = code;
    CU_ASSERT(!memcmp(e, "\x7f" "ELF", 4));
    CU_ASSERT_EQUAL(e[4], 2); /* ELFCLASS64 */
    CU_ASSERT_EQUAL(e[5], 1); /* little-endian */
    CU_ASSERT_EQUAL(le16(e + 18), machine);
    CU_ASSERT(contains(code, n, "axpy_0"));
    free(src);
    cg_compiler_close(c);
    *elf = code;
    *size = n;
}

static void test_hip_build(void)
{
    unsigned char *e;
    size_t n;
    check_build(&gfx90a, EM_AMDGPU_, &e, &n);
    uint32_t flags = le32(e + 48);
    CU_ASSERT_EQUAL(flags & 0xff, 0x3f);   /* EF_AMDGPU_MACH_AMDGCN_GFX90A */
    CU_ASSERT_EQUAL(flags & 0x300, 0x200); /* EF_AMDGPU_FEATURE_XNACK_OFF_V4 */
    CU_ASSERT_EQUAL(flags & 0xc00, 0xc00); /* EF_AMDGPU_FEATURE_SRAMECC_ON_V4 */
    free(e);
}

static void test_nv_build(void)
{
    unsigned char *e;
    size_t n;
    check_build(&sm_90, EM_CUDA_, &e, &n);
    free(e);
}

static void check_syntax_error(const cg_arch *a, const char *name, const char *log_line)
{
    cg_compiler *c = open_or_fail(a);
    rf_error err = {0};
    void *code = (void *)&err;
    size_t n = 1;
    CU_ASSERT_EQUAL(cg_compiler_build(c, bad_source, name, &code, &n, &err), RF_E_FORMAT);
    CU_ASSERT_EQUAL(err.status, RF_E_FORMAT);
    CU_ASSERT_PTR_NULL(code);
    CU_ASSERT_EQUAL(n, 0);
    char head[128];
    snprintf(head, sizeof head, "%s: compile failed for %s:\n", name, a->target);
    CU_ASSERT(!strncmp(err.msg, head, strlen(head)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, log_line));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "1.0f + ;")); /* the offending source line */
    CU_ASSERT_PTR_NULL(strstr(err.msg, "CompileSource"));
    if (!strstr(err.msg, log_line))
        fprintf(stderr, "\n  message: %s\n", err.msg);
    cg_compiler_close(c);
}

static void test_hip_syntax_error(void)
{
    check_syntax_error(&gfx90a, "bad.hip", "bad.hip:3:29: error: expected expression");
}

static void test_nv_syntax_error(void)
{
    check_syntax_error(&sm_90, "bad.cu", "bad.cu(3): error: expected an expression");
}

static void check_id(const cg_arch *a, const char *prefix, const char *option)
{
    cg_compiler *c1 = open_or_fail(a);
    cg_compiler *c2 = open_or_fail(a);
    const char *id = cg_compiler_id(c1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    CU_ASSERT(!strncmp(id, prefix, strlen(prefix)));
    CU_ASSERT_PTR_NOT_NULL(strstr(id, " lib")); /* the resolved library file */
    CU_ASSERT_STRING_EQUAL(id, cg_compiler_id(c2));
    CU_ASSERT_PTR_NOT_NULL(strstr(cg_compiler_options(c1), option));
    CU_ASSERT_STRING_EQUAL(cg_compiler_options(c1), cg_compiler_options(c2));
    CU_ASSERT_STRING_EQUAL(cg_compiler_arch(c1)->target, a->target);
    printf("\n  %s: id \"%s\", options \"%s\"", a->target, id, cg_compiler_options(c1));
    cg_compiler_close(c1);
    cg_compiler_close(c2);
}

static void test_hip_id(void)
{
    check_id(&gfx90a, "hiprtc ", "--offload-arch=gfx90a:sramecc+:xnack-");
}

static void test_nv_id(void)
{
    check_id(&sm_90, "nvrtc ", "-arch=sm_90");
}

/* ---- several threads ---------------------------------------------------- */

typedef struct job {
    cg_compiler *c;
    int first;                  /* builds kernels first .. first + N_KERNELS / N_THREADS - 1 */
    rf_status st[N_KERNELS];
    size_t size[N_KERNELS];
    bool named[N_KERNELS];      /* the code object holds its own kernel's name */
    char msg[N_KERNELS][512];
} job;

static void build_one(cg_compiler *c, int i, rf_status *st, size_t *size, bool *named, char *msg)
{
    char *src = kernel_source(i), name[32], entry[32];
    snprintf(name, sizeof name, "axpy_%d.cu", i);
    snprintf(entry, sizeof entry, "axpy_%d", i);
    rf_error err = {0};
    void *code = NULL;
    *st = src ? cg_compiler_build(c, src, name, &code, size, &err) : RF_E_NOMEM;
    *named = code && contains(code, *size, entry);
    memcpy(msg, err.msg, sizeof err.msg);
    free(code);
    free(src);
}

static void *worker(void *arg)
{
    job *j = arg;
    for (int i = j->first; i < j->first + N_KERNELS / N_THREADS; i++)
        build_one(j->c, i, &j->st[i], &j->size[i], &j->named[i], j->msg[i]);
    return NULL;
}

static void check_threads(const cg_arch *a)
{
    cg_compiler *c = open_or_fail(a);
    size_t alone[N_KERNELS];
    for (int i = 0; i < N_KERNELS; i++) {
        rf_status st;
        bool named;
        char msg[512];
        build_one(c, i, &st, &alone[i], &named, msg);
        CU_ASSERT_EQUAL_FATAL(st, RF_OK);
    }
    for (int rep = 0; rep < 3; rep++) {
        job jobs[N_THREADS];
        pthread_t t[N_THREADS];
        for (int k = 0; k < N_THREADS; k++) {
            memset(&jobs[k], 0, sizeof jobs[k]);
            jobs[k].c = c;
            jobs[k].first = k * (N_KERNELS / N_THREADS);
            CU_ASSERT_EQUAL_FATAL(pthread_create(&t[k], NULL, worker, &jobs[k]), 0);
        }
        for (int k = 0; k < N_THREADS; k++)
            pthread_join(t[k], NULL);
        for (int k = 0; k < N_THREADS; k++)
            for (int i = jobs[k].first; i < jobs[k].first + N_KERNELS / N_THREADS; i++) {
                CU_ASSERT_EQUAL(jobs[k].st[i], RF_OK);
                CU_ASSERT(jobs[k].named[i]);
                CU_ASSERT_EQUAL(jobs[k].size[i], alone[i]);
                if (jobs[k].st[i] != RF_OK || jobs[k].size[i] != alone[i])
                    fprintf(stderr, "\n  %s kernel %d: %zu bytes (alone %zu) %s", a->target, i, jobs[k].size[i],
                            alone[i], jobs[k].msg[i]);
            }
    }
    cg_compiler_close(c);
}

static void test_hip_threads(void)
{
    check_threads(&gfx90a);
}

static void test_nv_threads(void)
{
    check_threads(&sm_90);
}

static void test_bad_args(void)
{
    rf_error err = {0};
    cg_compiler *c = (cg_compiler *)&err;
    cg_arch wrong = {.vendor = CG_AMD, .name = "sm_90", .target = "sm_90", .wave = 32};
    CU_ASSERT_EQUAL(cg_compiler_open(&wrong, &c, &err), RF_E_ARG);
    CU_ASSERT_PTR_NULL(c);
    cg_arch odd = {.vendor = CG_AMD, .name = "gfx90a", .target = "gfx90a -O0", .wave = 64, .dot4 = true};
    CU_ASSERT_EQUAL(cg_compiler_open(&odd, &c, &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "gfx90a -O0"));
    CU_ASSERT_EQUAL(cg_compiler_open(NULL, &c, &err), RF_E_ARG);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("rtc", NULL, NULL);
    CU_add_test(s, "hipRTC: gfx90a:sramecc+:xnack- code object", test_hip_build);
    CU_add_test(s, "NVRTC: sm_90 CUBIN", test_nv_build);
    CU_add_test(s, "hipRTC: a syntax error names file and line", test_hip_syntax_error);
    CU_add_test(s, "NVRTC: a syntax error names file and line", test_nv_syntax_error);
    CU_add_test(s, "hipRTC: id and options, stable", test_hip_id);
    CU_add_test(s, "NVRTC: id and options, stable", test_nv_id);
    CU_add_test(s, "hipRTC: 8 kernels on 4 threads, as built alone", test_hip_threads);
    CU_add_test(s, "NVRTC: 8 kernels on 4 threads, as built alone", test_nv_threads);
    CU_add_test(s, "bad arch targets are refused", test_bad_args);
    return test_main();
}
