/*
 * test_util.c: shared helpers for the CUnit suites.
 */
#include "test_util.h"

#include "ir/ir.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "runtime/cpu/quant_impl.h"

const char *test_ref_dir(void)
{
    static char buf[4096];
    const char *e = getenv("ROCMFORGE_REF_DIR");
    if (e && *e)
        return e;
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg)
        snprintf(buf, sizeof buf, "%s/rocmforge-ref", xdg);
    else
        snprintf(buf, sizeof buf, "%s/.cache/rocmforge-ref", getenv("HOME") ? getenv("HOME") : "/tmp");
    return buf;
}

const char *test_ref_models_dir(void)
{
    static char buf[4200];
    snprintf(buf, sizeof buf, "%s/llama.cpp/models", test_ref_dir());
    return buf;
}

const char *test_tmp_dir(void)
{
    static char buf[4096];
    if (!buf[0]) {
        snprintf(buf, sizeof buf, "%s/test-tmp", RF_BINARY_DIR);
        mkdir(buf, 0777);
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof buf - n, "/%ld", (long)getpid());
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "cannot create %s: %s\n", buf, strerror(errno));
            abort();
        }
    }
    return buf;
}

const char *test_tmp_path(const char *name)
{
    static char bufs[8][4352];
    static int slot;
    char *b = bufs[slot++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", test_tmp_dir(), name);
    return b;
}

char *test_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(fp);
    if (!buf)
        return NULL;
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

int test_write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t w = fwrite(data, 1, len, fp);
    return (fclose(fp) == 0 && w == len) ? 0 : -1;
}

uint64_t test_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

float test_urand(uint64_t *s) { return (float)(test_rand(s) >> 40) * 0x1p-24f; }

float test_grand(uint64_t *s)
{
    float u = test_urand(s) + 0x1p-25f, v = test_urand(s);
    return sqrtf(-2 * logf(u)) * cosf(6.2831853f * v);
}

char *test_run(const char *cmd, int *status, int *signo)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 4096, n = 0;
    char *out = malloc(cap);
    int c;
    while (out && (c = fgetc(p)) != EOF) {
        if (n + 1 >= cap) {
            char *no = realloc(out, cap *= 2);
            if (!no) { free(out); out = NULL; break; }
            out = no;
        }
        out[n++] = (char)c;
    }
    if (out)
        out[n] = 0;
    int st = pclose(p);
    if (signo)
        *signo = 0;
    if (WIFEXITED(st)) {
        if (status) *status = WEXITSTATUS(st);
    } else {
        if (status) *status = -1;
        if (signo && WIFSIGNALED(st)) *signo = WTERMSIG(st);
    }
    return out;
}

const char *test_rocmforge_bin(void)
{
    return RF_BINARY_DIR "/rocmforge";
}

const char *test_tool_bin(const char *name)
{
    static char buf[4][4352];
    static unsigned slot;
    char *b = buf[slot++ % 4];
    snprintf(b, sizeof buf[0], "%s/tests/%s", RF_BINARY_DIR, name);
    return b;
}

int test_main(void)
{
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned err = CU_get_error();
    CU_cleanup_registry();
    return (failed || err) ? 1 : 0;
}

/* What this CPU runs, probed here rather than through cpu_isa_detect(), so
 * that a level the library wrongly claims is not also the test's belief:
 * AVX2 with FMA and F16C, AVX-512 adding F, BW and VL. */
static int cpu_isa_present(void)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    __builtin_cpu_init();
    bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !f16c)
        return CPU_ISA_SCALAR;
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl"))
        return CPU_ISA_AVX2;
    return CPU_ISA_AVX512;
#else
    return CPU_ISA_SCALAR;
#endif
}

int test_cpu_isa(const char **name)
{
    static const char *const names[] = {"scalar", "avx2", "avx512"};
    int present = cpu_isa_present(), want = present;
    const char *env = getenv("ROCMFORGE_CPU_ISA");
    if (env && *env) {
        want = -1;
        for (int i = 0; i < 3; i++)
            if (!strcmp(env, names[i]))
                want = i;
        if (want < 0) {
            printf("ROCMFORGE_CPU_ISA=%s is not a level (scalar, avx2, avx512)\n", env);
            exit(1);
        }
    }
    if (want > present) {
        printf("skipped: this CPU has no %s (ROCMFORGE_CPU_ISA=%s; it runs %s at best)\n", names[want],
               names[want], names[present]);
        fflush(stdout);
        exit(TEST_SKIP);
    }
    if ((int)cpu_isa_detect() != want) {
        printf("the CPU kernel tables run at %s, not at the %s asked for\n", names[cpu_isa_detect()],
               names[want]);
        exit(1);
    }
    printf("CPU ISA level under test: %s\n", names[want]);
    if (name)
        *name = names[want];
    return want;
}

void test_gen_model(const char *args, const char *out)
{
    char vocab[4300], cmd[20000];
    snprintf(vocab, sizeof vocab, "%s/ggml-vocab-llama-spm.gguf", test_ref_models_dir());
    CU_ASSERT_EQUAL_FATAL(access(vocab, R_OK), 0);
    snprintf(cmd, sizeof cmd, "%s --vocab %s %s -o %s 2>&1", test_tool_bin("rf_gen_model"), vocab, args, out);
    int status, sig;
    char *said = test_run(cmd, &status, &sig);
    if (status)
        printf("\n  %s: %s", cmd, said ? said : "");
    free(said);
    CU_ASSERT_EQUAL_FATAL(status, 0);
}

void test_cli_expect(const test_cli_case *cases, size_t n)
{
    char cmd[8192];
    for (size_t i = 0; i < n; i++) {
        snprintf(cmd, sizeof cmd, "%s %s 2>&1 </dev/null", test_rocmforge_bin(), cases[i].args);
        int status, sig;
        char *out = test_run(cmd, &status, &sig);
        bool ok = status == cases[i].status && out && strstr(out, cases[i].says);
        CU_ASSERT_TRUE(ok);
        if (!ok)
            printf("\n  %s: status %d, said %.300s", cases[i].args, status, out ? out : "nothing");
        free(out);
    }
}

/* g's text form, malloc'd */
static char *graph_text(const ir_graph *g)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    ir_print(g, out);
    fclose(out);
    return text;
}

void test_ir_round_trip(const ir_graph *g)
{
    ir_graph *back = NULL;
    rf_error err = {0};
    char *text = graph_text(g);
    rf_status st = ir_parse(text, strlen(text), &back, &err);
    CU_ASSERT_EQUAL(st, RF_OK);
    if (st != RF_OK)
        printf("\n  the graph's text does not parse: %s", err.msg);
    char *again = back ? graph_text(back) : NULL;
    bool same = again && !strcmp(text, again);
    CU_ASSERT_TRUE(same);
    for (size_t i = 0; again && !same; i++)
        if (text[i] != again[i]) {
            printf("\n  the text parsed back differs at byte %zu: '%.80s' against '%.80s'", i, text + i, again + i);
            break;
        }
    free(text);
    free(again);
    ir_graph_free(back);
}
