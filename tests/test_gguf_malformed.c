/*
 * test_gguf_malformed.c: the GGUF reader against hostile files.
 *
 * Every malformed file is generated here: the writer makes one valid file,
 * a small walker (independent of the reader) records where each field of it
 * lies, and each case corrupts one fact: the magic, the version, a count, a
 * length, a value type, a bool, a tensor's rank, dims, type id or offset,
 * general.alignment, a duplicate or NUL-holding name, or the file's length
 * at every byte. Cases that change a field's size are rebuilt (header bytes
 * spliced, then re-padded and the data appended) so that exactly one thing is
 * wrong.
 *
 * Each case must be rejected by gguf_open_memory (on an exact-size heap copy,
 * so ASan sees any over-read) and by gguf_open (on disk), with a message that
 * names a byte offset ("offset N") and, where one applies, the key or tensor;
 * and `rocmforge info FILE` must exit non-zero, not by a signal, with one
 * line on stderr. A seeded random-corruption loop then checks that whatever
 * the reader accepts has every tensor inside the buffer.
 * Over 800 lines because the corpus is one long list of cases, kept in one
 * place so that a reader of it sees every rule the reader enforces.
 */
#include "test_util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/gguf.h"

/* ---- the valid base file and where its fields are ------------------------ */

typedef struct kv_loc {
    char key[32];
    uint64_t at;     /* key length prefix */
    uint64_t type;   /* value type field */
    uint64_t val;    /* value (after the type) */
    uint64_t end;
    uint32_t vtype, arr_type;
    uint64_t arr_n;
    uint64_t elem[8];   /* string array: each element's length prefix */
} kv_loc;

typedef struct ti_loc {
    char name[32];
    uint64_t at, ndims, ne, type, offset, end;
    uint32_t n_dims;
    uint64_t data_off, n_bytes;   /* relative to the data section */
} ti_loc;

enum { N_KV = 10, N_TI = 3, ALIGN = 32 };

static uint8_t *base;
static size_t base_size;
static kv_loc kvl[N_KV];
static ti_loc til[N_TI];
static uint64_t hdr_end, data_start;

static uint64_t rd(const uint8_t *p, uint64_t off, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[off + i] << (8 * i);
    return v;
}

static void wr(uint8_t *p, uint64_t off, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[off + i] = (uint8_t)(v >> (8 * i));
}

static size_t vsize(uint32_t t)
{
    return gguf_vtype_size((gguf_vtype)t);
}

/* Records the layout of a file the writer made (trusted: no checks). */
static void walk(const uint8_t *p)
{
    uint64_t o = 24;
    for (int i = 0; i < N_KV; i++) {
        kv_loc *k = &kvl[i];
        k->at = o;
        uint64_t len = rd(p, o, 8);
        memcpy(k->key, p + o + 8, len);
        k->key[len] = 0;
        o += 8 + len;
        k->type = o;
        k->vtype = (uint32_t)rd(p, o, 4);
        o += 4;
        k->val = o;
        if (k->vtype == GGUF_VT_STRING) {
            o += 8 + rd(p, o, 8);
        } else if (k->vtype == GGUF_VT_ARRAY) {
            k->arr_type = (uint32_t)rd(p, o, 4);
            k->arr_n = rd(p, o + 4, 8);
            o += 12;
            for (uint64_t e = 0; e < k->arr_n; e++) {
                if (k->arr_type == GGUF_VT_STRING) {
                    k->elem[e] = o;
                    o += 8 + rd(p, o, 8);
                } else {
                    o += vsize(k->arr_type);
                }
            }
        } else {
            o += vsize(k->vtype);
        }
        k->end = o;
    }
    for (int i = 0; i < N_TI; i++) {
        ti_loc *t = &til[i];
        t->at = o;
        uint64_t len = rd(p, o, 8);
        memcpy(t->name, p + o + 8, len);
        t->name[len] = 0;
        o += 8 + len;
        t->ndims = o;
        t->n_dims = (uint32_t)rd(p, o, 4);
        o += 4;
        t->ne = o;
        o += 8 * (uint64_t)t->n_dims;
        t->type = o;
        o += 4;
        t->offset = o;
        t->data_off = rd(p, o, 8);
        o += 8;
        t->end = o;
    }
    hdr_end = o;
    data_start = (o + ALIGN - 1) / ALIGN * ALIGN;
}

static void make_base(void)
{
    if (base)
        return;
    gguf_writer *w = gguf_writer_new(3);
    gguf_writer_set_str(w, "general.architecture", "llama", 5);
    gguf_writer_set_u32(w, "general.alignment", ALIGN);
    gguf_writer_set_u32(w, "t.u32", 7);
    gguf_writer_set_bool(w, "t.bool", true);
    double d = 1.5;
    gguf_writer_set_scalar(w, "t.f64", GGUF_VT_FLOAT64, &d);
    const int32_t ia[3] = {1, 2, 3};
    gguf_writer_set_arr(w, "t.i32arr", GGUF_VT_INT32, ia, 3);
    const bool ba[3] = {false, true, false};
    gguf_writer_set_arr(w, "t.boolarr", GGUF_VT_BOOL, ba, 3);
    const gguf_str sa[3] = {{"a", 1}, {"", 0}, {"bc", 2}};
    gguf_writer_set_arr_str(w, "t.strarr", sa, 3);
    gguf_writer_set_u32(w, "t.dupa", 1);
    gguf_writer_set_u32(w, "t.dupb", 2);
    float a[16], c[32];
    uint8_t b[68];
    for (int i = 0; i < 16; i++) a[i] = (float)i;
    for (int i = 0; i < 32; i++) c[i] = (float)-i;
    for (int i = 0; i < 68; i++) b[i] = (uint8_t)(i * 7);
    const uint64_t nea[2] = {8, 2}, neb[2] = {32, 2}, nec[4] = {2, 2, 2, 4};
    gguf_writer_add_tensor(w, "tensor.a", GGML_TYPE_F32, 2, nea, a);   /* 64 bytes at 0 */
    gguf_writer_add_tensor(w, "tensor.b", GGML_TYPE_Q8_0, 2, neb, b);  /* 68 bytes at 64 */
    gguf_writer_add_tensor(w, "tensor.c", GGML_TYPE_F32, 4, nec, c);   /* 128 bytes at 160 */
    void *buf;
    rf_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gguf_writer_to_memory(w, &buf, &base_size, &err), RF_OK);
    gguf_writer_free(w);
    base = buf;
    walk(base);
    for (int i = 0; i < N_TI; i++)
        til[i].n_bytes = i == 0 ? 64 : i == 1 ? 68 : 128;
    /* the last tensor ends the file with no padding, so any cut loses data */
    CU_ASSERT_EQUAL_FATAL(base_size, data_start + 288);
}

/* ---- the corpus ----------------------------------------------------------- */

typedef struct bad_case {
    char what[128];
    uint8_t *buf;
    size_t size;
    char needle[40];   /* key or tensor the message must name; "" for none */
    bool exact;        /* and no other; with needle "", none at all */
} bad_case;

static bad_case *cases;
static size_t n_cases, cap_cases;

static uint8_t *clone(void)
{
    uint8_t *p = malloc(base_size);
    memcpy(p, base, base_size);
    return p;
}

static void add(uint8_t *buf, size_t size, const char *needle, const char *fmt, ...)
{
    if (n_cases == cap_cases) {
        cap_cases = cap_cases ? 2 * cap_cases : 256;
        cases = realloc(cases, cap_cases * sizeof *cases);
    }
    bad_case *c = &cases[n_cases++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->what, sizeof c->what, fmt, ap);
    va_end(ap);
    c->buf = buf;
    c->size = size;
    snprintf(c->needle, sizeof c->needle, "%s", needle ? needle : "");
    c->exact = false;
}

/* A copy of the base with n bytes at off set to v (little-endian). */
static void add_patch(uint64_t off, uint64_t v, unsigned n, const char *needle, const char *fmt, ...)
{
    uint8_t *p = clone();
    wr(p, off, v, n);
    char what[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    add(p, base_size, needle, "%s", what);
}

/* The base with header bytes [off, off+del) replaced by ins[0..n_ins), then
 * re-padded, with the tensor data appended unchanged. */
static void add_splice(uint64_t off, uint64_t del, const void *ins, size_t n_ins,
                       const char *needle, const char *what)
{
    uint64_t hlen = hdr_end - del + n_ins;
    uint64_t dstart = (hlen + ALIGN - 1) / ALIGN * ALIGN;
    uint64_t dlen = base_size - data_start;
    uint8_t *p = calloc(1, dstart + dlen);
    memcpy(p, base, off);
    memcpy(p + off, ins, n_ins);
    memcpy(p + off + n_ins, base + off + del, hdr_end - off - del);
    memcpy(p + dstart, base + data_start, dlen);
    add(p, dstart + dlen, needle, "%s", what);
}

static const uint64_t huge[] = {
    1ull << 32, (1ull << 32) - 1, 1ull << 61, 1ull << 62, 1ull << 63,
    UINT64_MAX, UINT64_MAX - 7, UINT64_MAX - 31,
};
enum { N_HUGE = sizeof huge / sizeof huge[0] };

static int kv_index(const char *key)
{
    for (int i = 0; i < N_KV; i++)
        if (!strcmp(kvl[i].key, key))
            return i;
    CU_FAIL_FATAL("no such key in the base file");
    return -1;
}

/* The key or tensor whose record the reader is in when the file ends at
 * len, which its message must name, and name alone; "" where it has read
 * no name yet. Before reading any key the reader checks that the counts can
 * fit in what is left (a key/value record takes at least 14 bytes, a tensor
 * info 33), and the tensor count again after the keys, so a cut that those
 * checks catch names no record. Otherwise the reader fails on the field
 * holding byte len: a key or tensor is named once its name has been read
 * (from its value type on, from its n_dims on). Past the tensor infos, the
 * first tensor whose data is cut short. */
static const char *truncation_culprit(uint64_t len)
{
    if (len < 24 + 14 * (uint64_t)N_KV || len < 24 + 33 * (uint64_t)N_TI)
        return "";
    for (int i = 0; i < N_KV; i++)
        if (len >= kvl[i].at && len < kvl[i].end)
            return len >= kvl[i].type ? kvl[i].key : "";
    if (len < til[0].at + 33 * (uint64_t)N_TI)
        return "";
    for (int i = 0; i < N_TI; i++)
        if (len >= til[i].at && len < til[i].end)
            return len >= til[i].ndims ? til[i].name : "";
    for (int i = 0; i < N_TI; i++) /* in file order, which is data order */
        if (data_start + til[i].data_off + til[i].n_bytes > len)
            return len < data_start ? "" : til[i].name;
    return "";
}

static void build_corpus(void)
{
    make_base();
    if (n_cases)
        return;

    /* header */
    static const char *magics[] = {"GGUX", "gguf", "FUGG", "\0\0\0\0", "GGML", "GGJT"};
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++) {
        uint8_t *p = clone();
        memcpy(p, magics[i], 4);
        add(p, base_size, NULL, "magic %zu", i);
    }
    static const uint32_t bad_versions[] = {0, 1, 4, 5, 0xffffffffu, 0x03000000u, 0x02000000u, 0x10003u};
    for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0]; i++)
        add_patch(4, bad_versions[i], 4, NULL, "version %#x", (unsigned)bad_versions[i]);
    for (int i = 0; i < N_HUGE; i++) {
        add_patch(8, huge[i], 8, NULL, "tensor count %#llx", (unsigned long long)huge[i]);
        add_patch(16, huge[i], 8, NULL, "kv count %#llx", (unsigned long long)huge[i]);
    }
    add_patch(8, N_TI + 1, 8, NULL, "tensor count one too many");
    add_patch(16, N_KV + 1, 8, NULL, "kv count one too many");

    /* truncation at every length: every section, every field; the message
     * names exactly the record being read, or none */
    for (size_t len = 0; len < base_size; len++) {
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, base, len);
        add(p, len, truncation_culprit(len), "truncated to %zu bytes", len);
        cases[n_cases - 1].exact = true;
    }

    /* huge key, string, array and name lengths */
    for (int h = 0; h < N_HUGE; h++) {
        unsigned long long v = (unsigned long long)huge[h];
        for (int i = 0; i < N_KV; i++)
            add_patch(kvl[i].at, huge[h], 8, NULL, "key %d length %#llx", i, v);
        int s = kv_index("general.architecture");
        add_patch(kvl[s].val, huge[h], 8, kvl[s].key, "string value length %#llx", v);
        int ia = kv_index("t.i32arr"), ba = kv_index("t.boolarr"), sa = kv_index("t.strarr");
        add_patch(kvl[ia].val + 4, huge[h], 8, kvl[ia].key, "i32 array count %#llx", v);
        add_patch(kvl[ba].val + 4, huge[h], 8, kvl[ba].key, "bool array count %#llx", v);
        add_patch(kvl[sa].val + 4, huge[h], 8, kvl[sa].key, "string array count %#llx", v);
        for (int e = 0; e < 3; e++)
            add_patch(kvl[sa].elem[e], huge[h], 8, kvl[sa].key, "string array element %d length %#llx", e, v);
        for (int t = 0; t < N_TI; t++)
            add_patch(til[t].at, huge[h], 8, NULL, "tensor %d name length %#llx", t, v);
    }
    /* lengths just past the end of the file */
    {
        int s = kv_index("general.architecture"), sa = kv_index("t.strarr");
        add_patch(kvl[s].val, base_size - kvl[s].val - 8 + 1, 8, kvl[s].key, "string value one byte past the end");
        add_patch(kvl[sa].val + 4, (base_size - kvl[sa].val) / 8 + 1, 8, kvl[sa].key, "string array count past the end");
        add_patch(kvl[0].at, base_size - kvl[0].at - 8 + 1, 8, NULL, "key length one byte past the end");
    }

    /* value types */
    static const uint32_t bad_vtypes[] = {13, 14, 255, 0x80000000u, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad_vtypes / sizeof bad_vtypes[0]; i++) {
        for (int k = 0; k < N_KV; k += 3)
            add_patch(kvl[k].type, bad_vtypes[i], 4, kvl[k].key, "key %d value type %u", k, (unsigned)bad_vtypes[i]);
        int ia = kv_index("t.i32arr"), sa = kv_index("t.strarr");
        add_patch(kvl[ia].val, bad_vtypes[i], 4, kvl[ia].key, "array element type %u", (unsigned)bad_vtypes[i]);
        add_patch(kvl[sa].val, bad_vtypes[i], 4, kvl[sa].key, "string array element type %u", (unsigned)bad_vtypes[i]);
    }
    {
        int ia = kv_index("t.i32arr");
        add_patch(kvl[ia].val, GGUF_VT_ARRAY, 4, kvl[ia].key, "nested array (element type patched)");
        /* a well-formed array of one array of three i32 */
        uint8_t outer[12];
        wr(outer, 0, GGUF_VT_ARRAY, 4);
        wr(outer, 4, 1, 8);
        add_splice(kvl[ia].val, 0, outer, sizeof outer, kvl[ia].key, "nested array (well-formed)");
    }

    /* bools */
    {
        int b = kv_index("t.bool"), ba = kv_index("t.boolarr");
        static const uint8_t bad_bools[] = {2, 0x80, 0xff};
        for (size_t i = 0; i < sizeof bad_bools; i++) {
            add_patch(kvl[b].val, bad_bools[i], 1, kvl[b].key, "bool value %u", bad_bools[i]);
            add_patch(kvl[ba].val + 12 + 1, bad_bools[i], 1, kvl[ba].key, "bool array element %u", bad_bools[i]);
        }
    }

    /* tensor type ids: removed and unknown */
    static const uint32_t bad_ttypes[] = {4, 5, 31, 32, 33, 36, 37, 38, 43, 44, 100, 0xffff, 0x80000000u, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad_ttypes / sizeof bad_ttypes[0]; i++)
        for (int t = 0; t < N_TI; t++)
            add_patch(til[t].type, bad_ttypes[i], 4, til[t].name, "tensor %d type id %u", t, (unsigned)bad_ttypes[i]);

    /* ranks */
    for (int t = 0; t < N_TI; t++) {
        static const uint32_t bad_nd[] = {0, 5, 8, 0xffffffffu};
        for (size_t i = 0; i < sizeof bad_nd / sizeof bad_nd[0]; i++)
            add_patch(til[t].ndims, bad_nd[i], 4, til[t].name, "tensor %d n_dims patched to %u", t, (unsigned)bad_nd[i]);
        /* well-formed records with 0 and 5 dims */
        uint8_t rec[4 + 8 * 5];
        wr(rec, 0, 0, 4);
        add_splice(til[t].ndims, 4 + 8 * (uint64_t)til[t].n_dims, rec, 4, til[t].name, "tensor with 0 dims");
        wr(rec, 0, 5, 4);
        memcpy(rec + 4, base + til[t].ne, 8 * til[t].n_dims);
        for (uint32_t d = til[t].n_dims; d < 5; d++)
            wr(rec, 4 + 8 * d, 1, 8);
        add_splice(til[t].ndims, 4 + 8 * (uint64_t)til[t].n_dims, rec, 4 + 8 * 5, til[t].name, "tensor with 5 dims");
    }

    /* dims: zero, overflowing, > INT64_MAX, not a multiple of the block */
    for (int t = 0; t < N_TI; t++)
        for (uint32_t d = 0; d < til[t].n_dims; d++)
            add_patch(til[t].ne + 8 * d, 0, 8, til[t].name, "tensor %d ne[%u] = 0", t, (unsigned)d);
    {
        uint8_t *p;
        p = clone(); wr(p, til[0].ne, 1ull << 32, 8); wr(p, til[0].ne + 8, 1ull << 32, 8);
        add(p, base_size, til[0].name, "ne 2^32 x 2^32");
        p = clone(); wr(p, til[0].ne, 1ull << 62, 8); wr(p, til[0].ne + 8, 4, 8);
        add(p, base_size, til[0].name, "ne 2^62 x 4");
        p = clone(); wr(p, til[0].ne, 1ull << 61, 8); wr(p, til[0].ne + 8, 2, 8);
        add(p, base_size, til[0].name, "f32 bytes 2^64 (element count fits)");
        p = clone(); wr(p, til[0].ne, 3, 8); wr(p, til[0].ne + 8, 0x5555555555555556ull, 8);
        add(p, base_size, til[0].name, "ne 3 x 0x5555555555555556 (wraps to 2)");
        p = clone();
        for (int d = 0; d < 4; d++) wr(p, til[2].ne + 8 * d, 1ull << 16, 8);
        add(p, base_size, til[2].name, "ne 2^16 in all 4 dims");
        p = clone();
        for (int d = 0; d < 4; d++) wr(p, til[2].ne + 8 * d, UINT64_MAX, 8);
        add(p, base_size, til[2].name, "ne all ones in all 4 dims");
        add_patch(til[0].ne, 1ull << 63, 8, til[0].name, "ne[0] = 2^63");
        add_patch(til[0].ne, UINT64_MAX, 8, til[0].name, "ne[0] = 2^64-1");
        add_patch(til[1].ne, 1ull << 62, 8, til[1].name, "q8_0 ne[0] = 2^62 (out of range)");
        static const uint64_t not_mult[] = {1, 16, 31, 33, 48};
        for (size_t i = 0; i < sizeof not_mult / sizeof not_mult[0]; i++)
            add_patch(til[1].ne, not_mult[i], 8, til[1].name, "q8_0 ne[0] = %llu", (unsigned long long)not_mult[i]);
    }

    /* general.alignment */
    {
        int a = kv_index("general.alignment");
        static const uint32_t bad_al[] = {0, 3, 24, 48, 33, 0x80000001u, 0xffffffffu};
        for (size_t i = 0; i < sizeof bad_al / sizeof bad_al[0]; i++)
            add_patch(kvl[a].val, bad_al[i], 4, "general.alignment", "alignment %u", (unsigned)bad_al[i]);
        add_patch(kvl[a].val, 0x80000000u, 4, NULL, "alignment 2^31 (data past the end)");
        add_patch(kvl[a].val, 1u << 20, 4, NULL, "alignment 2^20 (data past the end)");
        add_patch(kvl[a].val, 64, 4, "tensor.c", "alignment 64 (tensor.c offset 160 unaligned)");
        static const uint32_t same_size[] = {GGUF_VT_INT32, GGUF_VT_FLOAT32};
        for (size_t i = 0; i < 2; i++)
            add_patch(kvl[a].type, same_size[i], 4, "general.alignment", "alignment of type %u", (unsigned)same_size[i]);
        uint8_t v64[12];
        wr(v64, 0, GGUF_VT_UINT64, 4);
        wr(v64, 4, 32, 8);
        add_splice(kvl[a].type, 8, v64, 12, "general.alignment", "alignment as u64");
        uint8_t v16[6];
        wr(v16, 0, GGUF_VT_UINT16, 4);
        wr(v16, 4, 32, 2);
        add_splice(kvl[a].type, 8, v16, 6, "general.alignment", "alignment as u16");
        uint8_t vs[14];
        wr(vs, 0, GGUF_VT_STRING, 4);
        wr(vs, 4, 2, 8);
        memcpy(vs + 12, "32", 2);
        add_splice(kvl[a].type, 8, vs, 14, "general.alignment", "alignment as string");
        uint8_t va[16];
        wr(va, 0, GGUF_VT_ARRAY, 4);
        wr(va, 4, GGUF_VT_UINT32, 4);
        wr(va, 8, 1, 8);
        uint8_t vaa[20];
        memcpy(vaa, va, 16);
        wr(vaa, 16, 32, 4);
        add_splice(kvl[a].type, 8, vaa, 20, "general.alignment", "alignment as array");
    }

    /* tensor offsets */
    {
        uint64_t dsize = base_size - data_start;
        add_patch(til[2].offset, dsize, 8, "tensor.c", "offset = data size");
        add_patch(til[2].offset, dsize - 32, 8, "tensor.c", "offset: data runs past the end");
        add_patch(til[0].offset, dsize + 4096, 8, "tensor.a", "offset far past the end");
        for (int h = 0; h < N_HUGE; h++)
            add_patch(til[2].offset, huge[h] & ~(uint64_t)31, 8, "tensor.c", "aligned huge offset %#llx",
                      (unsigned long long)(huge[h] & ~(uint64_t)31));
        add_patch(til[2].offset, UINT64_MAX, 8, "tensor.c", "offset 2^64-1");
        add_patch(til[1].offset, 65, 8, "tensor.b", "offset 65 (unaligned)");
        add_patch(til[1].offset, 80, 8, "tensor.b", "offset 80 (16-aligned only)");
        add_patch(til[2].offset, 161, 8, "tensor.c", "offset 161 (unaligned)");
        add_patch(til[0].offset, 1, 8, "tensor.a", "offset 1 (unaligned)");
        add_patch(til[1].offset, 32, 8, "tensor.b", "tensor.b overlaps tensor.a");
        add_patch(til[1].offset, 0, 8, "tensor.b", "tensor.b at tensor.a's offset");
        add_patch(til[2].offset, 64, 8, "tensor.c", "tensor.c at tensor.b's offset");
        add_patch(til[2].offset, 128, 8, "tensor.c", "tensor.c overlaps tensor.b's tail");
        add_patch(til[0].offset, 160, 8, "tensor.a", "tensor.a at tensor.c's offset");
        add_patch(til[0].offset, 192, 8, "tensor.a", "tensor.a inside tensor.c");
    }

    /* names: duplicates, NUL bytes, empty */
    {
        int da = kv_index("t.dupa"), db = kv_index("t.dupb");
        add_patch(kvl[db].at + 8 + 5, 'a', 1, "t.dupa", "duplicate key");
        uint8_t *p = clone();
        memcpy(p + kvl[da].at + 8, "t.du\na", 6);
        memcpy(p + kvl[db].at + 8, "t.du\na", 6);
        add(p, base_size, NULL, "duplicate key holding a newline");
        int u = kv_index("t.u32");
        add_patch(til[1].at + 8 + 7, 'a', 1, "tensor.a", "duplicate tensor name");
        add_patch(til[2].at + 8 + 7, 'a', 1, "tensor.a", "duplicate tensor name (third = first)");
        for (int k = 0; k < N_KV; k += 2) {
            add_patch(kvl[k].at + 8, 0, 1, NULL, "key %d starts with NUL", k);
            add_patch(kvl[k].type - 1, 0, 1, NULL, "key %d ends with NUL", k);
        }
        add_patch(kvl[u].at + 8 + 2, 0, 1, NULL, "NUL inside a key");
        add_patch(til[1].at + 8 + 3, 0, 1, NULL, "NUL inside a tensor name");
        uint8_t zero[8] = {0};
        char what[64];
        for (int k = 0; k < N_KV; k += 4) {
            snprintf(what, sizeof what, "empty key %d", k);
            add_splice(kvl[k].at, 8 + strlen(kvl[k].key), zero, 8, NULL, what);
        }
        add_splice(til[0].at, 8 + strlen(til[0].name), zero, 8, NULL, "empty tensor name");
        /* names one byte over the 65535-byte bound */
        uint8_t *longname = malloc(8 + 65536);
        wr(longname, 0, 65536, 8);
        memset(longname + 8, 'k', 65536);
        add_splice(kvl[u].at, 8 + strlen(kvl[u].key), longname, 8 + 65536, NULL, "key of 65536 bytes");
        add_splice(til[1].at, 8 + strlen(til[1].name), longname, 8 + 65536, NULL, "tensor name of 65536 bytes");
        free(longname);
    }
}

/* ---- checks --------------------------------------------------------------- */

static bool names_offset(const char *msg)
{
    for (const char *p = msg; (p = strstr(p, "offset ")); p++)
        if (isdigit((unsigned char)p[7]))
            return true;
    return false;
}

/* The offset a message names, or UINT64_MAX. */
static uint64_t offset_in(const char *msg)
{
    const char *p = strstr(msg, "offset ");
    return p && isdigit((unsigned char)p[7]) ? strtoull(p + 7, NULL, 10) : UINT64_MAX;
}

/* For an exact case: the message names the needle ('quoted', and its offset
 * inside that record) and no other key or tensor of the file; for needle
 * "", none at all. Returns what is wrong, or NULL. */
static const char *names_exactly(const char *needle, const char *msg, char *buf, size_t cap)
{
    char q[48];
    for (int i = 0; i < N_KV + N_TI; i++) {
        const char *name = i < N_KV ? kvl[i].key : til[i - N_KV].name;
        uint64_t at = i < N_KV ? kvl[i].at : til[i - N_KV].at, end = i < N_KV ? kvl[i].end : til[i - N_KV].end;
        snprintf(q, sizeof q, "'%.40s'", name);
        bool named = strstr(msg, q) != NULL, want = !strcmp(name, needle);
        if (named && !want) {
            snprintf(buf, cap, "message names %s%s%s", q, needle[0] ? ", not " : " where it should name none",
                     needle);
            return buf;
        }
        if (want && !named) {
            snprintf(buf, cap, "message does not name %s", q);
            return buf;
        }
        uint64_t off = offset_in(msg);
        if (want && (off < at || off >= end)) {
            snprintf(buf, cap, "message names %s but an offset outside its record [%llu, %llu)", q,
                     (unsigned long long)at, (unsigned long long)end);
            return buf;
        }
    }
    if (!needle[0] && (strstr(msg, "key '") || strstr(msg, "tensor '"))) {
        snprintf(buf, cap, "message names a record where it should name none");
        return buf;
    }
    return NULL;
}

static void report(const bad_case *c, const char *how, const char *msg)
{
    fprintf(stderr, "\n  [%s] %s: %s", c->what, how, msg);
}

static void check_rejected(const bad_case *c, rf_status s, const gguf_file *f, const rf_error *err,
                           const char *via)
{
    char how[96];
    snprintf(how, sizeof how, "%s accepted it", via);
    if (s == RF_OK) {
        report(c, how, "(no message)");
        CU_FAIL("malformed file accepted");
        return;
    }
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT_EQUAL(err->status, s);
    if (!err->msg[0]) {
        report(c, via, "empty message");
        CU_FAIL("empty message");
        return;
    }
    if (s == RF_E_FORMAT || s == RF_E_UNSUPPORTED) {
        if (!names_offset(err->msg)) {
            report(c, "message names no offset", err->msg);
            CU_FAIL("message names no byte offset");
        }
    }
    const char *needle = c->needle;
    char wrong[160];
    const char *why = c->exact ? names_exactly(needle, err->msg, wrong, sizeof wrong) : NULL;
    if (why) {
        report(c, why, err->msg);
        CU_FAIL("message does not name exactly the record being read");
    }
    if (!c->exact && needle[0] && !strstr(err->msg, needle)) {
        char h[96];
        snprintf(h, sizeof h, "message does not name '%s'", needle);
        report(c, h, err->msg);
        CU_FAIL("message does not name the key or tensor");
    }
}

static void test_corpus_memory(void)
{
    build_corpus();
    for (size_t i = 0; i < n_cases; i++) {
        const bad_case *c = &cases[i];
        /* an exact-size heap copy, so an over-read is an ASan report */
        uint8_t *p = malloc(c->size ? c->size : 1);
        memcpy(p, c->buf, c->size);
        gguf_file *f = (gguf_file *)1;
        rf_error err = {0};
        rf_status s = gguf_open_memory(p, c->size, "bad.gguf", &f, &err);
        check_rejected(c, s, f, &err, "gguf_open_memory");
        if (s == RF_OK)
            gguf_close(f);
        free(p);
    }
    fprintf(stderr, " (%zu cases) ", n_cases);
}

static void test_corpus_disk(void)
{
    build_corpus();
    const char *path = test_tmp_path("bad.gguf");
    for (size_t i = 0; i < n_cases; i++) {
        const bad_case *c = &cases[i];
        CU_ASSERT_EQUAL_FATAL(test_write_file(path, c->buf, c->size), 0);
        gguf_file *f = (gguf_file *)1;
        rf_error err = {0};
        rf_status s = gguf_open(path, &f, &err);
        check_rejected(c, s, f, &err, "gguf_open");
        if (s == RF_OK)
            gguf_close(f);
        else if (!strstr(err.msg, path)) {
            report(c, "message does not name the path", err.msg);
            CU_FAIL("message does not name the file");
        }
    }
}

/* `rocmforge info BAD` exits non-zero, not by a signal, with one line on stderr. */
static void test_corpus_cli(void)
{
    build_corpus();
    const char *bin = test_rocmforge_bin();
    FILE *probe = fopen(bin, "rb");
    if (!probe) {
        fprintf(stderr, "\n  %s is not built\n", bin);
        CU_FAIL_FATAL("rocmforge binary missing");
    }
    fclose(probe);
    const char *path = test_tmp_path("cli-bad.gguf");
    const char *errpath = test_tmp_path("cli-bad.stderr");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' info '%s' 2>'%s'", bin, path, errpath);
    /* the valid base first: the command itself works */
    CU_ASSERT_EQUAL_FATAL(test_write_file(path, base, base_size), 0);
    int st, sig;
    char *out = test_run(cmd, &st, &sig);
    if (st != 0) {
        char *e = test_read_file(errpath, NULL);
        fprintf(stderr, "\n  rocmforge info on the valid base file: status %d: %s", st, e ? e : "");
        free(e);
    }
    CU_ASSERT_EQUAL(st, 0);
    free(out);
    for (size_t i = 0; i < n_cases; i++) {
        const bad_case *c = &cases[i];
        CU_ASSERT_EQUAL_FATAL(test_write_file(path, c->buf, c->size), 0);
        out = test_run(cmd, &st, &sig);
        free(out);
        size_t elen = 0;
        char *e = test_read_file(errpath, &elen);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        size_t lines = 0;
        for (size_t k = 0; k < elen; k++)
            lines += e[k] == '\n';
        bool ok = st > 0 && sig == 0 && lines == 1 && elen > 1 && e[elen - 1] == '\n';
        if (!ok) {
            char how[96];
            snprintf(how, sizeof how, "rocmforge info: status %d, signal %d, %zu stderr lines", st, sig, lines);
            report(c, how, e);
            CU_FAIL("rocmforge info: not a clean one-line failure");
        }
        free(e);
    }
}

/* Files that are not GGUF at all, and paths that are not files. */
static void test_not_files(void)
{
    gguf_file *f = (gguf_file *)1;
    rf_error err = {0};
    CU_ASSERT_EQUAL(gguf_open("/nonexistent/x.gguf", &f, &err), RF_E_IO);
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent/x.gguf"));
    memset(&err, 0, sizeof err);
    CU_ASSERT_NOT_EQUAL(gguf_open(test_tmp_dir(), &f, &err), RF_OK);
    CU_ASSERT_TRUE(err.msg[0] != 0);
    const char *path = test_tmp_path("empty.gguf");
    CU_ASSERT_EQUAL(test_write_file(path, "", 0), 0);
    memset(&err, 0, sizeof err);
    CU_ASSERT_NOT_EQUAL(gguf_open(path, &f, &err), RF_OK);
    CU_ASSERT_TRUE(names_offset(err.msg));
    memset(&err, 0, sizeof err);
    CU_ASSERT_NOT_EQUAL(gguf_open_memory("", 0, "empty", &f, &err), RF_OK);
    CU_ASSERT_TRUE(names_offset(err.msg));
    memset(&err, 0, sizeof err);
    static const char text[] = "this is a text file, not a model\n";
    CU_ASSERT_NOT_EQUAL(gguf_open_memory(text, sizeof text - 1, "text", &f, &err), RF_OK);
    CU_ASSERT_TRUE(err.msg[0] != 0);
}

/* ---- random corruption ---------------------------------------------------- */

/* Touches every byte the accepted file references; returns a checksum so
 * the reads are not optimised away. */
static uint64_t touch_all(const gguf_file *f, const uint8_t *buf, size_t size)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        CU_ASSERT_TRUE((const uint8_t *)kv->key.ptr >= buf &&
                       (const uint8_t *)kv->key.ptr + kv->key.len <= buf + size);
        for (uint64_t k = 0; k < kv->key.len; k++)
            sum += (uint8_t)kv->key.ptr[k];
        if (kv->type == GGUF_VT_STRING)
            for (uint64_t k = 0; k < kv->val.str.len; k++)
                sum += (uint8_t)kv->val.str.ptr[k];
        if (kv->type == GGUF_VT_ARRAY) {
            CU_ASSERT_TRUE(kv->arr_type != GGUF_VT_ARRAY && kv->arr_type < GGUF_VT_COUNT);
            if (kv->arr_type == GGUF_VT_STRING) {
                for (uint64_t e = 0; e < kv->arr_n; e++) {
                    const gguf_str *s = &kv->arr_strs[e];
                    CU_ASSERT_TRUE((const uint8_t *)s->ptr >= buf && (const uint8_t *)s->ptr + s->len <= buf + size);
                    for (uint64_t k = 0; k < s->len; k++)
                        sum += (uint8_t)s->ptr[k];
                }
            } else {
                uint64_t n = kv->arr_n * gguf_vtype_size(kv->arr_type);
                const uint8_t *d = kv->arr_data;
                CU_ASSERT_TRUE(n == 0 || (d >= buf && d + n <= buf + size));
                for (uint64_t k = 0; k < n; k++)
                    sum += d[k];
            }
        }
    }
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const ggml_type_traits *tr = ggml_type_get(t->type);
        CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
        CU_ASSERT_TRUE(t->n_dims >= 1 && t->n_dims <= 4);
        CU_ASSERT_EQUAL(t->ne[0] % tr->block_size, 0);
        CU_ASSERT_EQUAL(t->n_elements, t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        CU_ASSERT_EQUAL(t->n_bytes, t->n_elements / tr->block_size * tr->type_size);
        CU_ASSERT_EQUAL(t->offset % gguf_alignment(f), 0);
        bool inside = t->data >= buf && t->data <= buf + size && t->n_bytes <= (uint64_t)(buf + size - t->data);
        CU_ASSERT_TRUE_FATAL(inside);
        for (uint64_t k = 0; k < t->n_bytes; k++)
            sum += t->data[k];
    }
    return sum;
}

static void test_random_corruption(void)
{
    make_base();
    uint64_t rng = 0x5eed;
    static const uint64_t interesting[] = {0, 1, 2, 4, 5, 31, 32, 33, 255, 0xffff, 0x7fffffff,
                                           0xffffffff, 1ull << 32, 1ull << 62, 1ull << 63, UINT64_MAX};
    unsigned accepted = 0, rejected = 0;
    uint64_t sum = 0;
    for (int iter = 0; iter < 4000; iter++) {
        size_t size = base_size;
        uint8_t *p = malloc(size + 4 * 64);   /* room for three grow steps */
        memcpy(p, base, size);
        int n_mut = 1 + (int)(test_rand(&rng) % 3);
        for (int m = 0; m < n_mut && size > 0; m++) {
            uint64_t r = test_rand(&rng);
            size_t at = (size_t)(test_rand(&rng) % size);
            switch (r % 6) {
            case 0: p[at] = (uint8_t)(r >> 8); break;                       /* random byte */
            case 1: p[at] ^= (uint8_t)(1u << ((r >> 8) & 7)); break;        /* bit flip */
            case 2: size = at; break;                                       /* truncate */
            case 3: {                                                       /* interesting word */
                uint64_t v = interesting[(r >> 8) % (sizeof interesting / sizeof interesting[0])];
                unsigned n = (r >> 16) & 1 ? 8 : 4;
                if (at + n <= size)
                    wr(p, at, v, n);
                break;
            }
            case 4: {                                                       /* on a field boundary */
                int k = (int)((r >> 8) % N_KV), t = (int)((r >> 16) % N_TI);
                uint64_t offs[] = {8, 16, kvl[k].at, kvl[k].type, kvl[k].val, kvl[k].val + 4,
                                   til[t].at, til[t].ndims, til[t].ne, til[t].type, til[t].offset};
                uint64_t o = offs[(r >> 24) % (sizeof offs / sizeof offs[0])];
                uint64_t v = interesting[(r >> 32) % (sizeof interesting / sizeof interesting[0])];
                if (o + 8 <= size)
                    wr(p, o, v, (r >> 40) & 1 ? 8 : 4);
                break;
            }
            default: {                                                      /* grow by a few bytes */
                size_t add = 1 + (size_t)((r >> 8) % 64);
                memset(p + size, (int)(r >> 16), add);
                size += add;
                break;
            }
            }
        }
        uint8_t *exact = malloc(size ? size : 1);
        memcpy(exact, p, size);
        free(p);
        gguf_file *f = NULL;
        rf_error err = {0};
        rf_status s = gguf_open_memory(exact, size, "random.gguf", &f, &err);
        if (s == RF_OK) {
            accepted++;
            sum += touch_all(f, exact, size);
            gguf_close(f);
        } else {
            rejected++;
            CU_ASSERT_TRUE(err.msg[0] != 0);
            CU_ASSERT_EQUAL(err.status, s);
        }
        free(exact);
    }
    fprintf(stderr, " (%u accepted, %u rejected, sum %llu) ", accepted, rejected, (unsigned long long)(sum & 0xff));
    CU_ASSERT_TRUE(rejected > 0);
}

/* The base file itself is valid (else every case above proves nothing). */
static void test_base_valid(void)
{
    make_base();
    gguf_file *f = NULL;
    rf_error err = {0};
    rf_status s = gguf_open_memory(base, base_size, "base.gguf", &f, &err);
    if (s != RF_OK)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(s, RF_OK);
    CU_ASSERT_EQUAL(gguf_n_kv(f), N_KV);
    CU_ASSERT_EQUAL(gguf_n_tensors(f), N_TI);
    CU_ASSERT_EQUAL(gguf_data_offset(f), data_start);
    for (int i = 0; i < N_TI; i++) {
        const gguf_tensor *t = gguf_find_tensor(f, til[i].name);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_EQUAL(t->info_offset, til[i].at);
        CU_ASSERT_EQUAL(t->offset, til[i].data_off);
        CU_ASSERT_EQUAL(t->n_bytes, til[i].n_bytes);
    }
    for (int i = 0; i < N_KV; i++) {
        const gguf_kv *kv = gguf_find_kv(f, kvl[i].key);
        CU_ASSERT_PTR_NOT_NULL_FATAL(kv);
        CU_ASSERT_EQUAL(kv->offset, kvl[i].at);
    }
    gguf_close(f);
    /* the files the name cases are built from differ only in the patched name */
    uint8_t *p = clone();
    memcpy(p + kvl[kv_index("t.u32")].at + 8, "t.u33", 5);
    s = gguf_open_memory(p, base_size, "renamed.gguf", &f, &err);
    CU_ASSERT_EQUAL(s, RF_OK);
    if (s == RF_OK)
        gguf_close(f);
    free(p);
}

static int cleanup(void)
{
    for (size_t i = 0; i < n_cases; i++)
        free(cases[i].buf);
    free(cases);
    free(base);
    return 0;
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("gguf_malformed", NULL, cleanup);
    CU_add_test(s, "the base file is valid", test_base_valid);
    CU_add_test(s, "corpus via gguf_open_memory", test_corpus_memory);
    CU_add_test(s, "corpus via gguf_open", test_corpus_disk);
    CU_add_test(s, "not files, empty files, text", test_not_files);
    CU_add_test(s, "random corruption", test_random_corruption);
    CU_add_test(s, "corpus via rocmforge info", test_corpus_cli);
    return test_main();
}
