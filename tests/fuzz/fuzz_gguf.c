/*
 * fuzz_gguf.c: libFuzzer target for the GGUF reader.
 *
 * Each input is handed to gguf_open_memory as an exact-size heap copy (so
 * ASan sees a read one byte past the end); when the reader accepts it, every
 * key, value, array element and tensor byte it points at is read, and the
 * facts the reader promises are checked with __builtin_trap so a broken
 * promise is a crash libFuzzer reports: pointers inside the buffer, tensor
 * byte counts that match shape and type, aligned non-overlapping data.
 * The seed corpus is tests/fuzz/corpus/gguf (made by gen_gguf_corpus).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/gguf.h"

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

static volatile uint8_t sink;

static void touch(const uint8_t *p, uint64_t n, const uint8_t *buf, size_t size)
{
    if (n == 0)
        return;
    CHECK(p >= buf && p <= buf + size && n <= (uint64_t)(buf + size - p));
    uint8_t x = 0;
    for (uint64_t i = 0; i < n; i++)
        x ^= p[i];
    sink = x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    gguf_file *f = NULL;
    rf_error err = {0};
    rf_status s = gguf_open_memory(buf, size, "fuzz.gguf", &f, &err);
    if (s != RF_OK) {
        CHECK(f == NULL && err.status == s && err.msg[0] != 0);
        free(buf);
        return 0;
    }
    CHECK(gguf_version(f) == 2 || gguf_version(f) == 3);
    uint32_t al = gguf_alignment(f);
    CHECK(al != 0 && (al & (al - 1)) == 0);
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        CHECK(kv != NULL && kv->key.len > 0);
        touch((const uint8_t *)kv->key.ptr, kv->key.len, buf, size);
        CHECK(memchr(kv->key.ptr, 0, kv->key.len) == NULL);
        CHECK(kv->type < GGUF_VT_COUNT);
        /* lookups by name find this very key (keys are unique, NUL-free) */
        char *name = malloc(kv->key.len + 1);
        if (name) {
            memcpy(name, kv->key.ptr, kv->key.len);
            name[kv->key.len] = 0;
            CHECK(gguf_find_kv(f, name) == kv);
            if (kv->type == GGUF_VT_STRING) {
                const char *cs = NULL;
                CHECK(gguf_get_cstr(f, name, &cs, NULL) == RF_OK && cs != NULL);
                sink = (uint8_t)strlen(cs);
            }
            uint32_t u;
            rf_status g = gguf_get_u32(f, name, &u, &err);
            CHECK(g == (kv->type == GGUF_VT_UINT32 ? RF_OK : RF_E_TYPE));
            free(name);
        }
        if (kv->type == GGUF_VT_STRING)
            touch((const uint8_t *)kv->val.str.ptr, kv->val.str.len, buf, size);
        if (kv->type == GGUF_VT_BOOL)
            CHECK(kv->val.u64 <= 1);
        if (kv->type != GGUF_VT_ARRAY)
            continue;
        CHECK(kv->arr_type < GGUF_VT_COUNT && kv->arr_type != GGUF_VT_ARRAY);
        if (kv->arr_type == GGUF_VT_STRING) {
            for (uint64_t e = 0; e < kv->arr_n; e++)
                touch((const uint8_t *)kv->arr_strs[e].ptr, kv->arr_strs[e].len, buf, size);
            continue;
        }
        size_t es = gguf_vtype_size(kv->arr_type);
        CHECK(es > 0 && kv->arr_n <= size / es);
        touch(kv->arr_data, kv->arr_n * es, buf, size);
        for (uint64_t e = 0; e < kv->arr_n && e < 64; e++) {
            if (kv->arr_type == GGUF_VT_FLOAT32 || kv->arr_type == GGUF_VT_FLOAT64)
                sink = (uint8_t)(gguf_arr_float(kv, e) != 0);
            else if (kv->arr_type == GGUF_VT_BOOL)
                CHECK(((const uint8_t *)kv->arr_data)[e] <= 1);
            else
                sink = (uint8_t)gguf_arr_int(kv, e);
        }
    }
    CHECK(gguf_kv_at(f, gguf_n_kv(f)) == NULL);
    uint64_t data_off = gguf_data_offset(f);
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        CHECK(t != NULL && t->name.len > 0);
        touch((const uint8_t *)t->name.ptr, t->name.len, buf, size);
        const ggml_type_traits *tr = ggml_type_get(t->type);
        CHECK(tr != NULL);
        CHECK(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS);
        uint64_t n = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            CHECK(t->ne[d] >= 1);
            CHECK(!__builtin_mul_overflow(n, t->ne[d], &n));
        }
        CHECK(n == t->n_elements && t->ne[0] % tr->block_size == 0);
        CHECK(t->n_bytes == n / tr->block_size * tr->type_size);
        CHECK(t->offset % al == 0);
        CHECK(t->data == buf + data_off + t->offset);
        touch(t->data, t->n_bytes, buf, size);
        for (uint64_t j = 0; j < i && i < 512; j++) {   /* pairwise: bounded */
            const gguf_tensor *u = gguf_tensor_at(f, j);
            CHECK(u->offset + u->n_bytes <= t->offset || t->offset + t->n_bytes <= u->offset ||
                  t->n_bytes == 0 || u->n_bytes == 0);
        }
    }
    CHECK(gguf_tensor_at(f, gguf_n_tensors(f)) == NULL);
    gguf_close(f);
    free(buf);
    return 0;
}
