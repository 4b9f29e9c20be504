/*
 * test_imatrix.c: the importance-matrix reader (frontend/imatrix.c) on
 * files written here, without llama.cpp.
 *
 * Facts: a GGUF matrix's values are in_sum2 over the rounded counts per
 * matrix, 1 where the count is 0; its first dataset and chunk count are
 * read; a legacy .dat's values are sums over calls (sums as they are for
 * zero calls), its trailer read, a repeated name keeps the later entry;
 * lookups find every entry and nothing else. Then hostile files: every
 * prefix of a valid legacy file and of a valid GGUF one is an error (or,
 * for the legacy file cut exactly after its entries, valid; a GGUF cut
 * only in its trailing padding is valid too), never a crash (the suite runs under ASan too); sums without counts, counts
 * without sums, non-F32 sums, sums that do not divide into the counts, a
 * GGUF without the imatrix keys, a NaN: errors naming the file and entry.
 */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend/gguf.h"
#include "frontend/imatrix.h"

static const char *path_of(const char *name)
{
    static char buf[4][4200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s", test_tmp_path(name));
    return buf[k];
}

/* A GGUF matrix with a.weight {4 columns, 2 experts} and b.weight {3, 1}. */
static gguf_writer *gguf_matrix(bool keys)
{
    gguf_writer *w = gguf_writer_new(3);
    if (keys) {
        gguf_str ds[2] = {{"first.txt", 9}, {"second.txt", 10}};
        gguf_writer_set_arr_str(w, "imatrix.datasets", ds, 2);
        gguf_writer_set_u32(w, "imatrix.chunk_count", 7);
        gguf_writer_set_u32(w, "imatrix.chunk_size", 512);
    }
    const float a_sums[8] = {2, 4, 6, 8, 10, 20, 30, 40}, a_counts[2] = {2.4f, 0.4f};
    const float b_sums[3] = {3, 6, 9}, b_counts[1] = {3};
    gguf_writer_add_tensor(w, "a.weight.in_sum2", GGML_TYPE_F32, 2, (const uint64_t[]){4, 2}, a_sums);
    gguf_writer_add_tensor(w, "a.weight.counts", GGML_TYPE_F32, 2, (const uint64_t[]){1, 2}, a_counts);
    gguf_writer_add_tensor(w, "b.weight.in_sum2", GGML_TYPE_F32, 2, (const uint64_t[]){3, 1}, b_sums);
    gguf_writer_add_tensor(w, "b.weight.counts", GGML_TYPE_F32, 2, (const uint64_t[]){1, 1}, b_counts);
    return w;
}

static void test_gguf_form(void)
{
    const char *p = path_of("m.gguf");
    gguf_writer *w = gguf_matrix(true);
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_writer_write(w, p, &err), RF_OK);
    gguf_writer_free(w);
    imatrix *m;
    CU_ASSERT_EQUAL_FATAL(imatrix_load(p, &m, &err), RF_OK);
    CU_ASSERT(!m->legacy);
    CU_ASSERT_EQUAL(m->n_entries, 2);
    CU_ASSERT_EQUAL(m->chunk_count, 7);
    CU_ASSERT_STRING_EQUAL(m->dataset, "first.txt");
    const imatrix_entry *a = imatrix_find(m, "a.weight"), *b = imatrix_find(m, "b.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(a->n_values, 8);
    /* expert 0: count 2.4 rounds to 2; expert 1: 0.4 rounds to 0, so 1 */
    const float want_a[8] = {1, 2, 3, 4, 1, 1, 1, 1};
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(a->values[i], want_a[i]);
    CU_ASSERT(b->n_values == 3 && b->values[0] == 1 && b->values[2] == 3);
    CU_ASSERT_PTR_NULL(imatrix_find(m, "c.weight"));
    CU_ASSERT_PTR_NULL(imatrix_find(m, "a.weight.in_sum2"));
    imatrix_free(m);
    unlink(p);
}

/* The legacy form: count, then name, calls, values per entry, a trailer. */
static size_t legacy_matrix(uint8_t *buf, bool trailer)
{
    size_t n = 0;
#define PUT(v) (memcpy(buf + n, &(v), sizeof(v)), n += sizeof(v))
    int32_t n_entries = 3;
    PUT(n_entries);
    static const struct { const char *name; int32_t ncall, nval; float v[3]; } E[] = {
        {"x.weight", 4, 2, {8, 12}}, {"y.weight", 0, 3, {1, 2, 3}}, {"x.weight", 2, 2, {6, 2}},
    };
    for (int e = 0; e < 3; e++) {
        int32_t len = (int32_t)strlen(E[e].name);
        PUT(len);
        memcpy(buf + n, E[e].name, (size_t)len);
        n += (size_t)len;
        PUT(E[e].ncall);
        PUT(E[e].nval);
        memcpy(buf + n, E[e].v, 4 * (size_t)E[e].nval);
        n += 4 * (size_t)E[e].nval;
    }
    if (trailer) {
        int32_t chunks = 11, len = 6;
        PUT(chunks);
        PUT(len);
        memcpy(buf + n, "wiki.x", 6);
        n += 6;
    }
#undef PUT
    return n;
}

static void test_legacy_form(void)
{
    const char *p = path_of("m.dat");
    uint8_t buf[512];
    size_t n = legacy_matrix(buf, true);
    CU_ASSERT_FATAL(test_write_file(p, buf, n) == 0);
    imatrix *m;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(imatrix_load(p, &m, &err), RF_OK);
    CU_ASSERT(m->legacy);
    CU_ASSERT_EQUAL(m->n_entries, 2); /* x.weight twice: the later wins */
    CU_ASSERT_EQUAL(m->chunk_count, 11);
    CU_ASSERT_STRING_EQUAL(m->dataset, "wiki.x");
    const imatrix_entry *x = imatrix_find(m, "x.weight"), *y = imatrix_find(m, "y.weight");
    CU_ASSERT_FATAL(x && y);
    CU_ASSERT(x->n_values == 2 && x->values[0] == 3 && x->values[1] == 1);
    CU_ASSERT(y->n_values == 3 && y->values[0] == 1 && y->values[2] == 3); /* 0 calls: as stored */
    imatrix_free(m);
    /* without the trailer */
    n = legacy_matrix(buf, false);
    CU_ASSERT_FATAL(test_write_file(p, buf, n) == 0);
    CU_ASSERT_EQUAL_FATAL(imatrix_load(p, &m, &err), RF_OK);
    CU_ASSERT(m->chunk_count == 0 && m->dataset == NULL);
    imatrix_free(m);
    unlink(p);
}

/* Every prefix of a valid file: an error naming the file, or (a legacy
 * file cut exactly where its optional trailer starts) the same matrix. */
static void test_truncated(void)
{
    const char *p = path_of("cut.bin");
    uint8_t buf[512];
    const size_t ok_at = legacy_matrix(buf, false); /* where the trailer starts */
    const size_t n = legacy_matrix(buf, true);
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        CU_ASSERT_FATAL(test_write_file(p, buf, k) == 0);
        imatrix *m = NULL;
        rf_error err = {0};
        rf_status s = imatrix_load(p, &m, &err);
        bool ok = k == ok_at ? s == RF_OK : s == RF_E_FORMAT && strstr(err.msg, "cut.bin");
        if (!ok && bad++ < 3)
            fprintf(stderr, "\n  legacy cut at %zu: status %d, %s", k, (int)s, err.msg);
        imatrix_free(m);
    }
    gguf_writer *w = gguf_matrix(true);
    void *g;
    size_t gn;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_writer_to_memory(w, &g, &gn, &err), RF_OK);
    gguf_writer_free(w);
    /* the end of the last tensor's data: only padding follows */
    gguf_file *f;
    CU_ASSERT_EQUAL_FATAL(gguf_open_memory(g, gn, "whole", &f, &err), RF_OK);
    size_t data_end = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        size_t e = (size_t)(gguf_data_offset(f) + t->offset + t->n_bytes);
        data_end = e > data_end ? e : data_end;
    }
    gguf_close(f);
    for (size_t k = 0; k < data_end; k++) {
        CU_ASSERT_FATAL(test_write_file(p, g, k) == 0);
        imatrix *m = NULL;
        err = (rf_error){0};
        rf_status s = imatrix_load(p, &m, &err);
        if ((s == RF_OK || !strstr(err.msg, "cut.bin")) && bad++ < 3)
            fprintf(stderr, "\n  GGUF cut at %zu of %zu: status %d, %s", k, gn, (int)s, err.msg);
        imatrix_free(m);
    }
    free(g);
    CU_ASSERT_EQUAL(bad, 0);
    unlink(p);
}

/* A matrix written with one change; its load must fail with msg in the
 * error. */
static void expect_bad(gguf_writer *w, const char *msg)
{
    const char *p = path_of("bad.gguf");
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_writer_write(w, p, &err), RF_OK);
    gguf_writer_free(w);
    imatrix *m = NULL;
    CU_ASSERT_EQUAL(imatrix_load(p, &m, &err), RF_E_FORMAT);
    if (!strstr(err.msg, msg) || !strstr(err.msg, "bad.gguf"))
        fprintf(stderr, "\n  expected '%s' in: %s", msg, err.msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, msg));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bad.gguf"));
    CU_ASSERT_PTR_NULL(m);
    unlink(p);
}

static void test_malformed(void)
{
    const float v[4] = {1, 2, 3, 4}, nan4[4] = {1, NAN, 3, 4}, one = 1;
    gguf_writer *w = gguf_matrix(true);
    gguf_writer_add_tensor(w, "c.weight.in_sum2", GGML_TYPE_F32, 1, (const uint64_t[]){4}, v);
    expect_bad(w, "c.weight.counts");
    w = gguf_matrix(true);
    gguf_writer_add_tensor(w, "d.weight.counts", GGML_TYPE_F32, 1, (const uint64_t[]){1}, &one);
    expect_bad(w, "d.weight.in_sum2");
    w = gguf_matrix(true);
    gguf_writer_add_tensor(w, "e.weight.in_sum2", GGML_TYPE_F32, 1, (const uint64_t[]){3}, v);
    gguf_writer_add_tensor(w, "e.weight.counts", GGML_TYPE_F32, 1, (const uint64_t[]){2}, v);
    expect_bad(w, "e.weight");
    w = gguf_matrix(true);
    gguf_writer_add_tensor(w, "f.weight.in_sum2", GGML_TYPE_I32, 1, (const uint64_t[]){4}, v);
    gguf_writer_add_tensor(w, "f.weight.counts", GGML_TYPE_F32, 1, (const uint64_t[]){1}, &one);
    expect_bad(w, "f32");
    w = gguf_matrix(true);
    gguf_writer_add_tensor(w, "g.weight.in_sum2", GGML_TYPE_F32, 1, (const uint64_t[]){4}, nan4);
    gguf_writer_add_tensor(w, "g.weight.counts", GGML_TYPE_F32, 1, (const uint64_t[]){1}, &one);
    expect_bad(w, "g.weight");
    expect_bad(gguf_matrix(false), "imatrix.datasets");
    w = gguf_writer_new(3);
    gguf_str ds = {"d", 1};
    gguf_writer_set_arr_str(w, "imatrix.datasets", &ds, 1);
    gguf_writer_set_u32(w, "imatrix.chunk_count", 1);
    gguf_writer_set_u32(w, "imatrix.chunk_size", 1);
    expect_bad(w, "no importance data");
    /* a legacy entry with a negative count of values, and a missing file */
    const char *p = path_of("neg.dat");
    uint8_t buf[64];
    size_t n = 0;
    int32_t one_entry = 1, len = 1, ncall = 1, nval = -5;
    memcpy(buf + n, &one_entry, 4), n += 4;
    memcpy(buf + n, &len, 4), n += 4;
    buf[n++] = 'z';
    memcpy(buf + n, &ncall, 4), n += 4;
    memcpy(buf + n, &nval, 4), n += 4;
    CU_ASSERT_FATAL(test_write_file(p, buf, n) == 0);
    imatrix *m = NULL;
    rf_error err = {0};
    CU_ASSERT_EQUAL(imatrix_load(p, &m, &err), RF_E_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'z'"));
    unlink(p);
    CU_ASSERT_EQUAL(imatrix_load(path_of("none.dat"), &m, &err), RF_E_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "none.dat"));
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("imatrix reader", NULL, NULL);
    CU_add_test(s, "GGUF: in_sum2 / counts per expert, metadata", test_gguf_form);
    CU_add_test(s, "legacy .dat: sums / calls, trailer, a repeated name", test_legacy_form);
    CU_add_test(s, "every truncation is an error naming the file", test_truncated);
    CU_add_test(s, "malformed files", test_malformed);
    return test_main();
}
