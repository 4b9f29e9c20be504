/*
 * gen_gguf_corpus.c: writes the GGUF fuzzer's seed corpus with the writer.
 *
 * Small files (a few KiB at most) that between them hold every metadata
 * value type, arrays of every scalar type and of strings, tensors of every
 * block size in the type table, both versions and several alignments, so
 * that the fuzzer starts from structure rather than from nothing.
 *   gen_gguf_corpus DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/gguf.h"

static int emit(gguf_writer *w, const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    rf_error err = {0};
    rf_status s = gguf_writer_write(w, path, &err);
    gguf_writer_free(w);
    if (s != RF_OK) {
        fprintf(stderr, "gen_gguf_corpus: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_gguf_corpus DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    int bad = 0;

    bad |= emit(gguf_writer_new(2), dir, "empty-v2");
    bad |= emit(gguf_writer_new(3), dir, "empty-v3");

    /* one key of every scalar type, strings, arrays */
    gguf_writer *w = gguf_writer_new(3);
    uint8_t u8 = 200; int8_t i8 = -100; uint16_t u16 = 60000; int16_t i16 = -30000;
    uint64_t u64 = 1ull << 40; int64_t i64 = -(1ll << 40); double f64 = 2.5; bool b = true;
    gguf_writer_set_str(w, "general.architecture", "llama", 5);
    gguf_writer_set_scalar(w, "k.u8", GGUF_VT_UINT8, &u8);
    gguf_writer_set_scalar(w, "k.i8", GGUF_VT_INT8, &i8);
    gguf_writer_set_scalar(w, "k.u16", GGUF_VT_UINT16, &u16);
    gguf_writer_set_scalar(w, "k.i16", GGUF_VT_INT16, &i16);
    gguf_writer_set_u32(w, "k.u32", 4000000000u);
    gguf_writer_set_i32(w, "k.i32", -2000000000);
    gguf_writer_set_f32(w, "k.f32", 0.125f);
    gguf_writer_set_bool(w, "k.bool", b);
    gguf_writer_set_scalar(w, "k.u64", GGUF_VT_UINT64, &u64);
    gguf_writer_set_scalar(w, "k.i64", GGUF_VT_INT64, &i64);
    gguf_writer_set_scalar(w, "k.f64", GGUF_VT_FLOAT64, &f64);
    gguf_writer_set_str(w, "k.utf8", "h\xc3\xa9llo \xe2\x9c\x93", 10);
    gguf_writer_set_str(w, "k.empty", "", 0);
    static const gguf_vtype elems[] = {
        GGUF_VT_UINT8, GGUF_VT_INT8, GGUF_VT_UINT16, GGUF_VT_INT16, GGUF_VT_UINT32, GGUF_VT_INT32,
        GGUF_VT_FLOAT32, GGUF_VT_BOOL, GGUF_VT_UINT64, GGUF_VT_INT64, GGUF_VT_FLOAT64,
    };
    uint8_t raw[8 * 4] = {1, 0, 1, 0, 1, 1, 0, 0, 3, 0, 0, 0, 0, 0, 128, 63,
                          0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 240, 63};
    for (size_t i = 0; i < sizeof elems / sizeof elems[0]; i++) {
        char key[32];
        snprintf(key, sizeof key, "a.%s", gguf_vtype_name(elems[i]));
        gguf_writer_set_arr(w, key, elems[i], raw, 4);
    }
    gguf_writer_set_arr(w, "a.empty", GGUF_VT_INT32, NULL, 0);
    const gguf_str toks[] = {{"<unk>", 5}, {"<s>", 3}, {"</s>", 4}, {"", 0}, {"\xe2\x96\x81the", 6}};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 5);
    gguf_writer_set_arr_str(w, "a.strs.empty", NULL, 0);
    bad |= emit(w, dir, "kv-all-types");

    /* tensors: one per distinct block size, two versions, a few alignments */
    static const uint32_t aligns[] = {0, 1, 64};
    for (int v = 2; v <= 3; v++) {
        for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
            w = gguf_writer_new((uint32_t)v);
            gguf_writer_set_str(w, "general.architecture", "llama", 5);
            if (aligns[a])
                gguf_writer_set_u32(w, "general.alignment", aligns[a]);
            static const ggml_type types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0,
                                              GGML_TYPE_Q4_K, GGML_TYPE_NVFP4, GGML_TYPE_Q1_0};
            for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
                const ggml_type_traits *tr = ggml_type_get(types[t]);
                uint64_t ne[4] = {tr->block_size, 1 + t % 2, 1, 1 + (t % 3 == 0)};
                uint32_t nd = 1 + (uint32_t)(t % 4);
                uint8_t *d = calloc(1, (size_t)(ne[0] * ne[1] * ne[2] * ne[3] / tr->block_size * tr->type_size));
                char name[32];
                snprintf(name, sizeof name, "blk.0.%s", tr->name);
                gguf_writer_add_tensor(w, name, types[t], nd, ne, d);
                free(d);
            }
            char name[32];
            snprintf(name, sizeof name, "tensors-v%d-a%u", v, (unsigned)aligns[a]);
            bad |= emit(w, dir, name);
        }
    }
    return bad;
}
