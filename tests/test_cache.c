/*
 * test_cache.c: SHA-256, kernel keys, the on-disk kernel cache and the plan
 * file, fact by fact.
 *
 * SHA-256 against FIPS 180-4's vectors; a key changes with each of its four
 * inputs and cannot be forged by moving bytes between them; a stored entry
 * loads back byte for byte; every way a file can be damaged or be foreign
 * (truncated anywhere, a flipped payload byte, a wrong magic or version, a
 * header naming another key, a file renamed onto another key, another
 * target, compiler or kernel) is refused with one warning and never
 * returned, and the next store repairs it; two processes storing the same
 * key 50 times each both succeed and leave a valid file; clear removes our
 * files and dead writers' temporaries and nothing else.
 *
 * The tests that need a compiler use the real one (hipRTC for gfx90a, no
 * GPU needed): a 3-kernel program builds as 3 compiled, then 3 cached, then
 * with one file corrupted 1 compiled, 2 cached and one warning; a kernel
 * that does not compile fails the build by name and leaves no code. The
 * plan is written and checked against a changed model, arch, compiler and
 * kernel, each failing with a message that names the difference, and
 * malformed plans fail with their line number.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codegen/cache.h"
#include "codegen/plan.h"
#include "frontend/gguf.h"
#include "test_util.h"

/* ---- helpers ------------------------------------------------------------ */

typedef struct warnings {
    int n;
    char last[1024];
} warnings;

static void on_warn(void *ctx, const char *msg)
{
    warnings *w = ctx;
    w->n++;
    snprintf(w->last, sizeof w->last, "%s", msg);
}

static const char *fresh_dir(const char *name)
{
    static char buf[4][4352];
    static int slot;
    char *b = buf[slot++ & 3];
    snprintf(b, sizeof buf[0], "%s", test_tmp_path(name));
    mkdir(b, 0755);
    return b;
}

static cg_cache *open_cache(const char *dir)
{
    rf_error err = {0};
    cg_cache *c = NULL;
    CU_ASSERT_EQUAL_FATAL(cg_cache_open(dir, &c, &err), RF_OK);
    return c;
}

static int count_files(const char *dir, const char *suffix_part)
{
    char cmd[4600];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c -- '%s'", dir, suffix_part);
    int st, sig;
    char *out = test_run(cmd, &st, &sig);
    int n = out ? atoi(out) : -1;
    free(out);
    return n;
}

/* ---- SHA-256 and keys --------------------------------------------------- */

static void test_sha256(void)
{
    char hex[65];
    cg_sha256_hex("", 0, hex);
    CU_ASSERT_STRING_EQUAL(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cg_sha256_hex("abc", 3, hex);
    CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: padding spills */
    cg_sha256_hex(two, strlen(two), hex);
    CU_ASSERT_STRING_EQUAL(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    char *a = malloc(1000000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    memset(a, 'a', 1000000);
    cg_sha256_hex(a, 1000000, hex);
    CU_ASSERT_STRING_EQUAL(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* incrementally, in uneven pieces that straddle block boundaries */
    cg_sha256 s;
    cg_sha256_init(&s);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step < 1000000 - off ? step : 1000000 - off;
        cg_sha256_update(&s, a + off, n);
        off += n;
        step = step * 7 % 131 + 1;
    }
    cg_sha256_final_hex(&s, hex);
    CU_ASSERT_STRING_EQUAL(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

static void test_kernel_key(void)
{
    char base[65], k[65];
    cg_kernel_key("src", "gfx90a", "hiprtc 5.2", "-O3", base);
    CU_ASSERT_EQUAL(strlen(base), 64);
    cg_kernel_key("src", "gfx90a", "hiprtc 5.2", "-O3", k);
    CU_ASSERT_STRING_EQUAL(k, base);
    cg_kernel_key("src ", "gfx90a", "hiprtc 5.2", "-O3", k);
    CU_ASSERT_STRING_NOT_EQUAL(k, base);
    cg_kernel_key("src", "gfx90a:xnack-", "hiprtc 5.2", "-O3", k);
    CU_ASSERT_STRING_NOT_EQUAL(k, base);
    cg_kernel_key("src", "gfx90a", "hiprtc 5.3", "-O3", k);
    CU_ASSERT_STRING_NOT_EQUAL(k, base);
    cg_kernel_key("src", "gfx90a", "hiprtc 5.2", "-O2", k);
    CU_ASSERT_STRING_NOT_EQUAL(k, base);
    /* the same bytes split differently between fields are another key */
    char k1[65], k2[65];
    cg_kernel_key("ab", "c", "d", "e", k1);
    cg_kernel_key("a", "bc", "d", "e", k2);
    CU_ASSERT_STRING_NOT_EQUAL(k1, k2);
    cg_kernel_key("a", "b", "", "cd", k1);
    cg_kernel_key("a", "b", "c", "d", k2);
    CU_ASSERT_STRING_NOT_EQUAL(k1, k2);
}

/* ---- store, load, corruption -------------------------------------------- */

#define TARGET "gfx90a"
#define CID "hiprtc 5.2.21153"

static void key_for(const char *source, char key[65]) { cg_kernel_key(source, TARGET, CID, "-O3", key); }

static void make_payload(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(test_rand(&seed) >> 56);
}

static void test_round_trip(void)
{
    cg_cache *c = open_cache(fresh_dir("rt/a/b")); /* parents are created */
    char key[65];
    key_for("kernel one", key);
    uint8_t payload[3001];
    make_payload(payload, sizeof payload, 1);
    rf_error err = {0};
    warnings w = {0};
    void *code;
    size_t size;
    bool rejected;
    CU_ASSERT_EQUAL(cg_cache_load(c, key, TARGET, CID, "one", &code, &size, on_warn, &w, &rejected, &err),
                    RF_E_NOTFOUND);
    CU_ASSERT_PTR_NULL(code);
    CU_ASSERT_FALSE(rejected);
    CU_ASSERT_EQUAL(w.n, 0);

    CU_ASSERT_EQUAL_FATAL(cg_cache_store(c, key, TARGET, CID, "one", payload, sizeof payload, &err), RF_OK);
    CU_ASSERT_EQUAL_FATAL(cg_cache_load(c, key, TARGET, CID, "one", &code, &size, on_warn, &w, &rejected, &err),
                          RF_OK);
    CU_ASSERT_EQUAL(size, sizeof payload);
    CU_ASSERT_EQUAL(memcmp(code, payload, sizeof payload), 0);
    CU_ASSERT_FALSE(rejected);
    CU_ASSERT_EQUAL(w.n, 0);
    free(code);

    /* an empty code object is still an entry */
    char k0[65];
    key_for("empty", k0);
    CU_ASSERT_EQUAL(cg_cache_store(c, k0, TARGET, CID, "empty", "", 0, &err), RF_OK);
    CU_ASSERT_EQUAL(cg_cache_load(c, k0, TARGET, CID, "empty", &code, &size, on_warn, &w, NULL, &err), RF_OK);
    CU_ASSERT_EQUAL(size, 0);
    free(code);

    /* no temporary file is left behind */
    CU_ASSERT_EQUAL(count_files(cg_cache_dir(c), ".tmp."), 0);
    /* a bad key is the caller's error */
    CU_ASSERT_EQUAL(cg_cache_store(c, "xyz", TARGET, CID, "one", payload, 1, &err), RF_E_ARG);
    cg_cache_close(c);
}

/* Writes bytes over key's file, loads it and expects one warning naming
 * the file and containing `why`; then a store repairs it. */
static void expect_rejected(cg_cache *c, const char *key, const char *load_key, const void *bytes, size_t n,
                            const char *why, const char *target, const char *cid, const char *name)
{
    char *path = cg_cache_path(c, key);
    CU_ASSERT_EQUAL_FATAL(test_write_file(path, bytes, n), 0);
    rf_error err = {0};
    warnings w = {0};
    void *code = (void *)1;
    size_t size = 1;
    bool rejected = false;
    rf_status s = cg_cache_load(c, load_key, target, cid, name, &code, &size, on_warn, &w, &rejected, &err);
    CU_ASSERT_EQUAL(s, RF_E_NOTFOUND);
    CU_ASSERT_PTR_NULL(code);
    CU_ASSERT_EQUAL(size, 0);
    CU_ASSERT_TRUE(rejected);
    CU_ASSERT_EQUAL(w.n, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.last, "kernel cache: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(w.last, "; recompiling"));
    char *lpath = cg_cache_path(c, load_key);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.last, lpath));
    if (!strstr(w.last, why))
        fprintf(stderr, "\n  expected '%s' in: %s\n", why, w.last);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.last, why));
    free(lpath);
    free(path);
}

static void test_corruption(void)
{
    cg_cache *c = open_cache(fresh_dir("corrupt"));
    char key[65], other[65];
    key_for("kernel a", key);
    key_for("kernel b", other);
    uint8_t payload[1000];
    make_payload(payload, sizeof payload, 2);
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(cg_cache_store(c, key, TARGET, CID, "a", payload, sizeof payload, &err), RF_OK);
    char *path = cg_cache_path(c, key);
    size_t n;
    uint8_t *good = (uint8_t *)test_read_file(path, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(good);
    size_t header = n - sizeof payload;
    CU_ASSERT_EQUAL(header, 128 + strlen(TARGET) + strlen(CID) + 1);
    uint8_t *bad = malloc(n + 16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bad);

    /* truncated anywhere */
    size_t cuts[] = {0, 3, 4, 64, 127, 128, header - 1, header, header + 1, header + 500, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        expect_rejected(c, key, key, good, cuts[i], "truncated", TARGET, CID, "a");
    /* trailing bytes */
    memcpy(bad, good, n);
    memset(bad + n, 0, 16);
    expect_rejected(c, key, key, bad, n + 16, "trailing", TARGET, CID, "a");
    /* each payload byte is covered: first, middle, last */
    size_t flips[] = {header, header + 500, n - 1};
    for (size_t i = 0; i < 3; i++) {
        memcpy(bad, good, n);
        bad[flips[i]] ^= 0x01;
        expect_rejected(c, key, key, bad, n, "SHA-256", TARGET, CID, "a");
    }
    /* a wrong magic, a wrong version, a header size that lies */
    memcpy(bad, good, n);
    bad[0] = 'X';
    expect_rejected(c, key, key, bad, n, "magic", TARGET, CID, "a");
    memcpy(bad, good, n);
    bad[4] = 2;
    expect_rejected(c, key, key, bad, n, "version 2", TARGET, CID, "a");
    memcpy(bad, good, n);
    bad[8]++;
    expect_rejected(c, key, key, bad, n, "header size", TARGET, CID, "a");
    /* a payload size that overflows */
    memcpy(bad, good, n);
    memset(bad + 16, 0xff, 8);
    expect_rejected(c, key, key, bad, n, "truncated", TARGET, CID, "a");
    /* a header naming another key */
    memcpy(bad, good, n);
    memcpy(bad + 24, other, 64);
    expect_rejected(c, key, key, bad, n, "the header is for key", TARGET, CID, "a");
    /* the header's hash field itself damaged */
    memcpy(bad, good, n);
    bad[100] ^= 0x80;
    expect_rejected(c, key, key, bad, n, "SHA-256", TARGET, CID, "a");
    /* a valid file renamed onto another key's name */
    expect_rejected(c, other, other, good, n, "the header is for key", TARGET, CID, "b");
    /* valid, but for another target, compiler or kernel than asked */
    expect_rejected(c, key, key, good, n, "made for arch", "gfx1030", CID, "a");
    expect_rejected(c, key, key, good, n, "made by compiler", TARGET, "hiprtc 6.0", "a");
    expect_rejected(c, key, key, good, n, "holds kernel", TARGET, CID, "b");
    /* a control byte in a string */
    memcpy(bad, good, n);
    bad[128] = '\n';
    expect_rejected(c, key, key, bad, n, "control byte", TARGET, CID, "a");

    /* verify sees the bad ones and does not remove them */
    uint32_t ok_n, bad_n;
    char *vout = NULL;
    size_t vlen = 0;
    FILE *vf = open_memstream(&vout, &vlen);
    CU_ASSERT_EQUAL(cg_cache_verify(c, vf, &ok_n, &bad_n, &err), RF_OK);
    fclose(vf);
    CU_ASSERT_EQUAL(ok_n, 0);
    CU_ASSERT_EQUAL(bad_n, 2); /* key (control byte) and other (renamed) */
    CU_ASSERT_TRUE(vout && strstr(vout, "control byte") != NULL);
    free(vout);

    /* the store repairs the file */
    CU_ASSERT_EQUAL(cg_cache_store(c, key, TARGET, CID, "a", payload, sizeof payload, &err), RF_OK);
    void *code;
    size_t size;
    warnings w = {0};
    CU_ASSERT_EQUAL(cg_cache_load(c, key, TARGET, CID, "a", &code, &size, on_warn, &w, NULL, &err), RF_OK);
    CU_ASSERT_EQUAL(w.n, 0);
    CU_ASSERT_EQUAL(size, sizeof payload);
    free(code);
    vout = NULL;
    vf = open_memstream(&vout, &vlen);
    CU_ASSERT_EQUAL(cg_cache_verify(c, vf, &ok_n, &bad_n, &err), RF_OK);
    fclose(vf);
    CU_ASSERT_EQUAL(ok_n, 1);
    CU_ASSERT_EQUAL(bad_n, 1);
    free(vout);
    free(bad);
    free(good);
    free(path);
    cg_cache_close(c);
}

/* ---- two processes ------------------------------------------------------ */

static void test_concurrent_stores(void)
{
    const char *dir = fresh_dir("race");
    char key[65];
    key_for("kernel raced", key);
    uint8_t payload[20000];
    make_payload(payload, sizeof payload, 3);
    fflush(NULL);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        CU_ASSERT_FATAL(kids[k] >= 0);
        if (kids[k] == 0) {
            cg_cache *c;
            rf_error err = {0};
            if (cg_cache_open(dir, &c, &err) != RF_OK)
                _exit(10);
            for (int i = 0; i < 50; i++) {
                if (cg_cache_store(c, key, TARGET, CID, "raced", payload, sizeof payload, &err) != RF_OK) {
                    fprintf(stderr, "child %d: %s\n", k, err.msg);
                    _exit(11);
                }
                void *code;
                size_t size;
                warnings w = {0};
                /* a reader between the renames sees a whole file */
                if (cg_cache_load(c, key, TARGET, CID, "raced", &code, &size, on_warn, &w, NULL, &err) != RF_OK ||
                    size != sizeof payload || memcmp(code, payload, size))
                    _exit(12);
                free(code);
            }
            cg_cache_close(c);
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int st = -1;
        CU_ASSERT_EQUAL(waitpid(kids[k], &st, 0), kids[k]);
        CU_ASSERT_TRUE(WIFEXITED(st));
        CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
    }
    cg_cache *c = open_cache(dir);
    uint32_t ok_n, bad_n;
    rf_error err = {0};
    CU_ASSERT_EQUAL(cg_cache_verify(c, stderr, &ok_n, &bad_n, &err), RF_OK);
    CU_ASSERT_EQUAL(ok_n, 1);
    CU_ASSERT_EQUAL(bad_n, 0);
    CU_ASSERT_EQUAL(count_files(dir, ".tmp."), 0);
    cg_cache_close(c);
}

/* ---- ls and clear ------------------------------------------------------- */

static void test_list_and_clear(void)
{
    const char *dir = fresh_dir("clear");
    cg_cache *c = open_cache(dir);
    rf_error err = {0};
    char key[65];
    uint8_t payload[100] = {1, 2, 3};
    for (int i = 0; i < 3; i++) {
        char src[32];
        snprintf(src, sizeof src, "kernel %d", i);
        key_for(src, key);
        CU_ASSERT_EQUAL(cg_cache_store(c, key, TARGET, CID, src + 7, payload, sizeof payload, &err), RF_OK);
    }
    /* files that are not ours, or are a live writer's, and a dead writer's */
    char name[8192], foreign[5][200];
    snprintf(foreign[0], sizeof foreign[0], "notes.txt");
    snprintf(foreign[1], sizeof foreign[1], "abc.rfko");
    snprintf(foreign[2], sizeof foreign[2], "%s.rfko.bak", key);
    snprintf(foreign[3], sizeof foreign[3], "%s.rfko.tmp.%ld.7", key, (long)getpid());
    snprintf(foreign[4], sizeof foreign[4], "%.60s.rfko", key); /* 60 hex digits: not a key */
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "%s/%s", dir, foreign[i]);
        CU_ASSERT_EQUAL(test_write_file(name, "x", 1), 0);
    }
    snprintf(name, sizeof name, "%s/%s.rfko.tmp.1073741823.0", dir, key);
    CU_ASSERT_EQUAL(test_write_file(name, "x", 1), 0);

    uint32_t n_entries;
    uint64_t bytes;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    CU_ASSERT_EQUAL(cg_cache_list(c, f, &n_entries, &bytes, &err), RF_OK);
    fclose(f);
    CU_ASSERT_EQUAL(n_entries, 3);
    CU_ASSERT_EQUAL(bytes, 3 * (128 + strlen(TARGET) + strlen(CID) + 1 + sizeof payload));
    CU_ASSERT_TRUE(out && strstr(out, key) != NULL);
    CU_ASSERT_TRUE(out && strstr(out, " gfx90a ") != NULL);
    CU_ASSERT_TRUE(out && strstr(out, CID) != NULL);
    free(out);

    uint32_t removed;
    CU_ASSERT_EQUAL(cg_cache_clear(c, &removed, &err), RF_OK);
    CU_ASSERT_EQUAL(removed, 4); /* 3 entries and the dead writer's file */
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "%s/%s", dir, foreign[i]);
        CU_ASSERT_EQUAL(access(name, F_OK), 0);
    }
    CU_ASSERT_EQUAL(count_files(dir, "rfko$"), 2); /* abc.rfko and the 60-digit one */
    CU_ASSERT_EQUAL(cg_cache_list(c, stderr, &n_entries, &bytes, &err), RF_OK);
    CU_ASSERT_EQUAL(n_entries, 0);
    cg_cache_close(c);

    /* the default directory follows ROCMFORGE_CACHE, then XDG_CACHE_HOME */
    const char *old = getenv("ROCMFORGE_CACHE");
    char *saved = old ? strdup(old) : NULL;
    setenv("ROCMFORGE_CACHE", test_tmp_path("env-cache"), 1);
    c = open_cache(NULL);
    CU_ASSERT_STRING_EQUAL(cg_cache_dir(c), test_tmp_path("env-cache"));
    cg_cache_close(c);
    unsetenv("ROCMFORGE_CACHE");
    const char *oldx = getenv("XDG_CACHE_HOME");
    char *savedx = oldx ? strdup(oldx) : NULL;
    setenv("XDG_CACHE_HOME", test_tmp_path("xdg"), 1);
    c = open_cache(NULL);
    snprintf(name, sizeof name, "%s/rocmforge", test_tmp_path("xdg"));
    CU_ASSERT_STRING_EQUAL(cg_cache_dir(c), name);
    cg_cache_close(c);
    if (savedx)
        setenv("XDG_CACHE_HOME", savedx, 1);
    else
        unsetenv("XDG_CACHE_HOME");
    if (saved)
        setenv("ROCMFORGE_CACHE", saved, 1);
    free(saved);
    free(savedx);
    /* a path through a file is an error naming it */
    cg_cache *bad = NULL;
    snprintf(name, sizeof name, "%s/notes.txt/sub", dir);
    CU_ASSERT_EQUAL(cg_cache_open(name, &bad, &err), RF_E_IO);
    CU_ASSERT_PTR_NULL(bad);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "notes.txt"));
}

/* ---- the model fingerprint ---------------------------------------------- */

static gguf_file *make_model(const char *name, uint32_t layers)
{
    gguf_writer *w = gguf_writer_new(3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    gguf_writer_set_str(w, "general.architecture", "llama", 5);
    gguf_writer_set_u32(w, "llama.block_count", layers);
    float data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (float)i;
    uint64_t ne[2] = {16, 4};
    gguf_writer_add_tensor(w, "token_embd.weight", GGML_TYPE_F32, 2, ne, data);
    rf_error err = {0};
    const char *path = test_tmp_path(name);
    CU_ASSERT_EQUAL_FATAL(gguf_writer_write(w, path, &err), RF_OK);
    gguf_writer_free(w);
    gguf_file *f = NULL;
    CU_ASSERT_EQUAL_FATAL(gguf_open(path, &f, &err), RF_OK);
    return f;
}

static void test_fingerprint(void)
{
    gguf_file *a = make_model("fp-a.gguf", 8), *b = make_model("fp-b.gguf", 9);
    char fa[65], fb[65], again[65];
    cg_model_fingerprint(a, fa);
    cg_model_fingerprint(b, fb);
    cg_model_fingerprint(a, again);
    CU_ASSERT_STRING_EQUAL(fa, again);
    CU_ASSERT_STRING_NOT_EQUAL(fa, fb);
    /* by definition: SHA-256 of the size (u64 LE) and the bytes before the data */
    size_t n;
    char *bytes = test_read_file(gguf_path(a), &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
    CU_ASSERT_EQUAL(n, gguf_file_size(a));
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)((uint64_t)n >> (8 * i));
    cg_sha256 s;
    cg_sha256_init(&s);
    cg_sha256_update(&s, le, 8);
    cg_sha256_update(&s, bytes, (size_t)gguf_data_offset(a));
    cg_sha256_final_hex(&s, again);
    CU_ASSERT_STRING_EQUAL(fa, again);
    /* tensor data is not part of it */
    CU_ASSERT_TRUE(gguf_data_offset(a) < n);
    bytes[n - 1] ^= 0x55;
    gguf_file *m = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_open_memory(bytes, n, "mem", &m, &err), RF_OK);
    cg_model_fingerprint(m, again);
    CU_ASSERT_STRING_EQUAL(fa, again);
    gguf_close(m);
    free(bytes);
    gguf_close(a);
    gguf_close(b);
}

/* ---- with the real compiler: building and plans ---------------------------- */

static const char *const k_names[3] = {"k_add", "k_mul", "k_copy"};
static const char *const k_sources[3] = {
    "extern \"C\" __global__ void k_add(float *x, int T, int P)\n"
    "{ int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < T) x[i] += 1.0f + (float)P; }\n",
    "extern \"C\" __global__ void k_mul(float *x, const float *y, int T, int P)\n"
    "{ int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < T) x[i] *= y[i]; (void)P; }\n",
    "extern \"C\" __global__ void k_copy(float *x, const float *y, int T, int P)\n"
    "{ int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < T + P) x[i] = y[i]; }\n",
};

static cg_program *hand_program(const cg_arch *arch, const char *const *names, const char *const *sources)
{
    cg_program *p = calloc(1, sizeof *p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    arena_init(&p->arena);
    p->arch = *arch;
    p->n_kernels = 3;
    p->kernels = arena_calloc(&p->arena, 3, sizeof *p->kernels);
    p->n_launches = 4;
    p->launches = arena_calloc(&p->arena, 4, sizeof *p->launches);
    CU_ASSERT_FATAL(p->kernels && p->launches);
    for (uint32_t i = 0; i < 3; i++) {
        cg_kernel *k = &p->kernels[i];
        k->name = arena_strndup(&p->arena, names[i], strlen(names[i]));
        k->source = arena_strndup(&p->arena, sources[i], strlen(sources[i]));
        k->tmpl = "test";
        k->block = 64;
        k->n_launches = i == 0 ? 2 : 1;
    }
    const cg_launch l[4] = {
        {.kernel = 0, .group = 1, .only_T = 0, .grid_x = 1, .rows = IR_DIM_T, .row_tile = 64, .n_args = 1, .arg = {3}},
        {.kernel = 1, .group = 2, .only_T = 1, .grid_x = 2, .rows = 4096, .row_tile = 1, .n_args = 2, .arg = {3, 7}},
        {.kernel = 2, .group = 3, .only_T = -1, .grid_x = 8, .rows = IR_DIM_T, .row_tile = 4, .min_T = 128, .n_args = 2,
         .arg = {9, 3}},
        {.kernel = 0, .group = 4, .only_T = 0, .grid_x = 1, .rows = 32000, .row_tile = 64, .n_args = 1, .arg = {12}},
    };
    memcpy(p->launches, l, sizeof l);
    return p;
}

static void drop_code(cg_program *p)
{
    for (uint32_t i = 0; i < p->n_kernels; i++) {
        free(p->kernels[i].code);
        p->kernels[i].code = NULL;
        p->kernels[i].code_size = 0;
    }
}

static void hand_free(cg_program *p)
{
    drop_code(p);
    arena_free(&p->arena);
    free(p);
}

static cg_compiler *open_gfx90a(cg_arch *arch)
{
    rf_error err = {0};
    cg_compiler *cc = NULL;
    if (cg_arch_parse("gfx90a", arch, &err) != RF_OK || cg_compiler_open(arch, &cc, &err) != RF_OK)
        fprintf(stderr, "\n  gfx90a compiler: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cc);
    return cc;
}

typedef struct build_log {
    warnings w;          /* first: on_warn gets the same context */
    uint32_t calls, last, total;
    bool monotonic;
} build_log;

static void on_progress(void *ctx, uint32_t done, uint32_t total)
{
    build_log *log = ctx;
    log->monotonic &= done == log->last + 1;
    log->calls++;
    log->last = done;
    log->total = total;
}

static rf_status build(cg_program *p, cg_compiler *cc, cg_cache *c, int threads, build_log *log, cg_build_stats *st,
                       rf_error *err)
{
    memset(log, 0, sizeof *log);
    log->monotonic = true;
    return cg_build_program(p, cc, c, threads, on_progress, on_warn, log, st, err);
}

static void test_build_program(void)
{
    cg_arch arch;
    cg_compiler *cc = open_gfx90a(&arch);
    cg_cache *c = open_cache(fresh_dir("build"));
    cg_program *p = hand_program(&arch, k_names, k_sources);
    rf_error err = {0};
    build_log log;
    cg_build_stats st;

    rf_status s = build(p, cc, c, 0, &log, &st, &err);
    if (s != RF_OK)
        fprintf(stderr, "\n  build: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(s, RF_OK);
    CU_ASSERT_EQUAL(st.compiled, 3);
    CU_ASSERT_EQUAL(st.cached, 0);
    CU_ASSERT_EQUAL(st.corrupt, 0);
    CU_ASSERT_EQUAL(log.w.n, 0);
    CU_ASSERT_EQUAL(log.calls, 3);
    CU_ASSERT_EQUAL(log.total, 3);
    CU_ASSERT_TRUE(log.monotonic);
    void *first[3];
    size_t first_size[3];
    for (int i = 0; i < 3; i++) {
        cg_kernel *k = &p->kernels[i];
        char key[65];
        cg_kernel_key(k->source, arch.target, cg_compiler_id(cc), cg_compiler_options(cc), key);
        CU_ASSERT_STRING_EQUAL(k->key, key);
        CU_ASSERT_PTR_NOT_NULL_FATAL(k->code);
        CU_ASSERT_TRUE(k->code_size > 4 && !memcmp(k->code, "\177ELF", 4));
        CU_ASSERT_FALSE(k->cached);
        first[i] = k->code;
        first_size[i] = k->code_size;
        k->code = NULL; /* keep it to compare */
    }

    CU_ASSERT_EQUAL_FATAL(build(p, cc, c, 2, &log, &st, &err), RF_OK);
    CU_ASSERT_EQUAL(st.compiled, 0);
    CU_ASSERT_EQUAL(st.cached, 3);
    CU_ASSERT_EQUAL(log.calls, 3);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_TRUE(p->kernels[i].cached);
        CU_ASSERT_EQUAL(p->kernels[i].code_size, first_size[i]);
        CU_ASSERT_TRUE(p->kernels[i].code && !memcmp(p->kernels[i].code, first[i], first_size[i]));
    }

    /* one file corrupted: recompiled, with one warning */
    char *path = cg_cache_path(c, p->kernels[1].key);
    size_t n;
    char *bytes = test_read_file(path, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
    bytes[n / 2] ^= 0x10;
    CU_ASSERT_EQUAL(test_write_file(path, bytes, n), 0);
    free(bytes);
    CU_ASSERT_EQUAL_FATAL(build(p, cc, c, 2, &log, &st, &err), RF_OK);
    CU_ASSERT_EQUAL(st.compiled, 1);
    CU_ASSERT_EQUAL(st.cached, 2);
    CU_ASSERT_EQUAL(st.corrupt, 1);
    CU_ASSERT_EQUAL(log.w.n, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log.w.last, path));
    CU_ASSERT_FALSE(p->kernels[1].cached);
    CU_ASSERT_TRUE(p->kernels[0].cached && p->kernels[2].cached);
    /* and repaired: all cached again */
    CU_ASSERT_EQUAL_FATAL(build(p, cc, c, 2, &log, &st, &err), RF_OK);
    CU_ASSERT_EQUAL(st.cached, 3);
    CU_ASSERT_EQUAL(log.w.n, 0);
    free(path);
    for (int i = 0; i < 3; i++)
        free(first[i]);
    hand_free(p);

    /* a kernel that does not compile fails the build by name, leaving no code */
    const char *const bad_sources[3] = {k_sources[0], "extern \"C\" __global__ void k_mul(float *x) { x[0] = ; }\n",
                                        k_sources[2]};
    p = hand_program(&arch, k_names, bad_sources);
    s = build(p, cc, c, 3, &log, &st, &err);
    CU_ASSERT_NOT_EQUAL(s, RF_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "k_mul"));
    for (int i = 0; i < 3; i++)
        CU_ASSERT_PTR_NULL(p->kernels[i].code);
    hand_free(p);
    cg_cache_close(c);
    cg_compiler_close(cc);
}

/* Replaces line `lineno` (1-based) of the file at path by `text`, or drops it
 * when text is NULL. */
static void edit_line(const char *path, int lineno, const char *text)
{
    size_t n;
    char *s = test_read_file(path, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    char *out = malloc(n + strlen(text ? text : "") + 2), *o = out;
    int line = 1;
    for (char *p = s; *p;) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
        if (line == lineno) {
            if (text)
                o += sprintf(o, "%s\n", text);
        } else {
            memcpy(o, p, len);
            o += len;
        }
        p += len;
        line++;
    }
    CU_ASSERT_EQUAL(test_write_file(path, out, (size_t)(o - out)), 0);
    free(out);
    free(s);
}

static void expect_mismatch(const char *plan, const cg_program *p, const cg_compiler *cc, const gguf_file *m,
                            const char *a, const char *b)
{
    rf_error err = {0};
    CU_ASSERT_EQUAL(cg_plan_check(plan, p, cc, m, &err), RF_E_ARG);
    if (!strstr(err.msg, a) || (b && !strstr(err.msg, b)))
        fprintf(stderr, "\n  expected '%s' and '%s' in: %s\n", a, b ? b : "", err.msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, a));
    if (b)
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, b));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "recompile with 'rocmforge compile "));
}

static void expect_malformed(const char *plan, const cg_program *p, const cg_compiler *cc, const gguf_file *m,
                             int line)
{
    rf_error err = {0};
    char where[4400];
    snprintf(where, sizeof where, "%s:%d: ", plan, line);
    CU_ASSERT_EQUAL(cg_plan_check(plan, p, cc, m, &err), RF_E_FORMAT);
    if (!strstr(err.msg, where))
        fprintf(stderr, "\n  expected '%s' in: %s\n", where, err.msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, where));
}

static void test_plan(void)
{
    cg_arch arch;
    cg_compiler *cc = open_gfx90a(&arch);
    gguf_file *m = make_model("plan-model.gguf", 8), *other = make_model("plan-other.gguf", 9);
    cg_program *p = hand_program(&arch, k_names, k_sources);
    ir_graph *g = ir_graph_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    g->workspace_bytes = 1 << 20;
    g->plan_tokens = 512;
    const char *plan = test_tmp_path("p.rfplan");
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(cg_plan_write(plan, p, cc, m, g, &err), RF_OK);
    CU_ASSERT_EQUAL(cg_plan_check(plan, p, cc, m, &err), RF_OK);

    /* what the file says */
    char *text = test_read_file(plan, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    char fp[65], line[256];
    cg_model_fingerprint(m, fp);
    CU_ASSERT_EQUAL(strncmp(text, "rocmforge-plan 2\n", 17), 0);
    snprintf(line, sizeof line, "\nmodel %llu %s\n", (unsigned long long)gguf_file_size(m), fp);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, line));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\narch gfx90a\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nworkspace 1048576 tokens 512\n"));
    char key[65];
    cg_kernel_key(k_sources[1], arch.target, cg_compiler_id(cc), cg_compiler_options(cc), key);
    snprintf(line, sizeof line, "\nkernel 1 %s k_mul\n", key);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, line));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nlaunch 0 1 0 1 T 64 0 0 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nlaunch 1 2 1 2 4096 1 0 0 3 7\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nlaunch 2 3 -1 8 T 4 128 0 9 3\nlaunch 0 4 0 1 32000 64 0 0 12\nend\n"));
    free(text);
    int n_lines = 6 + 3 + 4 + 1;

    /* the model, the arch, the compiler, a kernel, a launch */
    char ofp[65];
    cg_model_fingerprint(other, ofp);
    char a[64], b[64];
    snprintf(a, sizeof a, "fingerprint %.8s", fp);
    snprintf(b, sizeof b, "this file %.8s", ofp);
    expect_mismatch(plan, p, cc, other, "was made for another model", a);
    expect_mismatch(plan, p, cc, other, b, NULL);
    snprintf(p->arch.target, sizeof p->arch.target, "gfx1030");
    expect_mismatch(plan, p, cc, m, "was made for arch gfx90a, this GPU is gfx1030", NULL);
    p->arch = arch;
    p->kernels[1].key[0] = 0; /* unbuilt kernels get their key from the source */
    p->kernels[1].source = "extern \"C\" __global__ void k_mul(float *x, int T, int P) {}\n";
    expect_mismatch(plan, p, cc, m, "kernel 1 'k_mul' has key", NULL);
    p->kernels[1].source = k_sources[1];
    CU_ASSERT_EQUAL(cg_plan_check(plan, p, cc, m, &err), RF_OK);
    p->launches[2].grid_x = 9;
    expect_mismatch(plan, p, cc, m, "launch 2", NULL);
    p->launches[2].grid_x = 8;
    p->launches[2].min_T = 64; /* the rows it runs for */
    expect_mismatch(plan, p, cc, m, "launch 2", NULL);
    p->launches[2].min_T = 128;
    p->n_launches = 3;
    expect_mismatch(plan, p, cc, m, "has 4 launches, this build makes 3", NULL);
    p->n_launches = 4;
    CU_ASSERT_EQUAL(cg_plan_check(plan, p, cc, m, &err), RF_OK);
    edit_line(plan, 4, "compiler hiprtc 9.9.9");
    snprintf(line, sizeof line, "now '%s'", cg_compiler_id(cc));
    expect_mismatch(plan, p, cc, m, "was made with compiler 'hiprtc 9.9.9'", line);
    CU_ASSERT_EQUAL(cg_plan_write(plan, p, cc, m, g, &err), RF_OK);
    edit_line(plan, 5, "options -O0");
    expect_mismatch(plan, p, cc, m, "compiler options '-O0'", NULL);

    /* malformed plans: RF_E_FORMAT with the line */
    CU_ASSERT_EQUAL(test_write_file(plan, "hello\n", 6), 0);
    expect_malformed(plan, p, cc, m, 1);
    CU_ASSERT_EQUAL(test_write_file(plan, "", 0), 0);
    expect_malformed(plan, p, cc, m, 1);
    struct {
        int line;
        const char *text;
    } edits[] = {
        {2, "model 12 zz"},
        {3, "arch"},
        {3, "arch gfx90a extra"},
        {6, "workspace -1 tokens 512"},
        {6, "workspace 10 tokens"},
        {7, "kernel 1 0000 k_add"},
        {8, "kernel 1 zz k_mul"},
        {8, "kernel 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef k_mul"},
        {10, "launch 0 1 0 1 T"},
        {10, "launch 3 1 0 1 T 64 0 0 3"},
        {10, "launch 0 1 2 1 T 64 0 0 3"},
        {10, "launch 0 1 0 1 Q 64 0 0 3"},
        {10, "launch 0 1 0 1 T 0 0 0 3"},
        {10, "launch 0 1 0 1 T 64 0 0 3 "},
        {10, "launch 0 1 0 1 T 64 -1 0 3"},
        {10, "launch 0 1 0 1 T 64 0"},
        {10, "launch 0 1 0 1 T 64 3"}, /* format 1's record */
        {10, "launch 0 1 0 1 T 64 0 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17"},
        {11, "banana"},
        {14, NULL}, /* no `end`: truncated */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        CU_ASSERT_EQUAL(cg_plan_write(plan, p, cc, m, g, &err), RF_OK);
        edit_line(plan, edits[i].line, edits[i].text);
        expect_malformed(plan, p, cc, m, edits[i].text ? edits[i].line : n_lines);
    }
    CU_ASSERT_EQUAL(cg_plan_write(plan, p, cc, m, g, &err), RF_OK);
    FILE *f = fopen(plan, "a");
    fputs("launch 0 1 0 1 T 64 0 0 3\n", f);
    fclose(f);
    expect_malformed(plan, p, cc, m, n_lines + 1);
    CU_ASSERT_EQUAL(cg_plan_check(test_tmp_path("no-such.rfplan"), p, cc, m, &err), RF_E_IO);

    ir_graph_free(g);
    hand_free(p);
    gguf_close(m);
    gguf_close(other);
    cg_compiler_close(cc);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("cache", NULL, NULL);
    CU_add_test(s, "SHA-256: FIPS 180-4 vectors, one shot and in pieces", test_sha256);
    CU_add_test(s, "a key changes with source, target, compiler, options", test_kernel_key);
    CU_add_test(s, "store then load gives the bytes back", test_round_trip);
    CU_add_test(s, "damaged and foreign files are refused with a warning", test_corruption);
    CU_add_test(s, "two processes storing one key 50 times both succeed", test_concurrent_stores);
    CU_add_test(s, "ls counts entries; clear removes only ours", test_list_and_clear);
    CU_add_test(s, "the model fingerprint covers the header, not the data", test_fingerprint);
    CU_add_test(s, "building: 3 compiled, 3 cached, 1 recompiled after damage", test_build_program);
    CU_add_test(s, "plans: written, checked, each difference named", test_plan);
    return test_main();
}
