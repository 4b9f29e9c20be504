/*
 * gguf.c: the GGUF reader.
 *
 * A GGUF file is: magic "GGUF", u32 version, u64 tensor count, u64 key/value
 * count, the key/values, the tensor infos, padding to general.alignment, and
 * the tensor data. We map it read-only and build an index (an array of kv,
 * an array of tensor infos, two hash tables) in an arena; values and tensor
 * data stay in the mapping.
 *
 * The file is hostile until proven otherwise. Before anything is allocated
 * or dereferenced we check: magic and version (2 or 3, little-endian);
 * every count against the bytes left in the file (so a huge count cannot
 * make us allocate); every length and size product for overflow; value types
 * known, arrays not nested, bools 0 or 1; keys non-empty, without NUL bytes,
 * unique; general.alignment a u32 power of two; tensor names non-empty and
 * unique, 1..4 dims each > 0, element count without overflow, ne[0] a
 * multiple of the type's block size, the type id known (removed ids are named
 * as such); tensor data aligned, inside the file and not overlapping another
 * tensor. Each failure reports the byte offset and the key or tensor.
 *
 * It deliberately does not interpret metadata (that is import's job) and
 * never copies tensor data.
 */
#include "frontend/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/arena.h"
#include "support/error.h"

struct gguf_file {
    arena arena;
    const char *path;
    const uint8_t *base;    /* the mapping, or the caller's buffer */
    uint64_t size;
    bool mapped;

    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;

    uint64_t n_kv;
    gguf_kv *kvs;           /* (n_kv) */
    const char **kv_cstr;   /* (n_kv) NUL-terminated copies of STRING values */
    uint64_t n_tensors;
    gguf_tensor *tensors;   /* (n_tensors) */

    uint32_t *kv_hash;      /* (hash_cap) index+1, 0 = empty */
    uint32_t *tensor_hash;  /* (hash_cap) */
    uint64_t kv_hash_cap, tensor_hash_cap;
};

/* ---- parsing cursor ------------------------------------------------------ */

typedef struct cursor {
    const uint8_t *p;
    uint64_t size, off;
    const char *path;
    rf_error *err;
    /* the record being read, so low-level errors name it */
    const char *rec_kind;   /* "key", "tensor" or NULL */
    gguf_str rec_name;
} cursor;

/* "key 'K': " / "tensor 'T': " for the record being read, else "" */
static const char *culprit(const cursor *c, char *buf, size_t cap)
{
    if (!c->rec_kind)
        return "";
    int n = (int)strnlen(c->rec_name.ptr, c->rec_name.len > 200 ? 200 : c->rec_name.len);
    snprintf(buf, cap, "%s '%.*s': ", c->rec_kind, n, c->rec_name.ptr);
    return buf;
}

static rf_status truncated(cursor *c, uint64_t need, const char *what)
{
    char who[256];
    return rf_fail(c->err, RF_E_FORMAT,
                   "%s: offset %" PRIu64 ": %struncated file: %s needs %" PRIu64
                   " bytes but only %" PRIu64 " remain",
                   c->path, c->off, culprit(c, who, sizeof who), what, need, c->size - c->off);
}

static rf_status take(cursor *c, uint64_t n, const char *what, const uint8_t **out)
{
    *out = NULL; /* also on failure: -O3 cannot see that callers check the status */
    if (n > c->size - c->off)
        return truncated(c, n, what);
    *out = c->p + c->off;
    c->off += n;
    return RF_OK;
}

static uint64_t rd_le(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static rf_status rd_u32(cursor *c, const char *what, uint32_t *v)
{
    const uint8_t *b;
    rf_status s = take(c, 4, what, &b);
    if (s == RF_OK)
        *v = (uint32_t)rd_le(b, 4);
    return s;
}

static rf_status rd_u64(cursor *c, const char *what, uint64_t *v)
{
    const uint8_t *b;
    rf_status s = take(c, 8, what, &b);
    if (s == RF_OK)
        *v = rd_le(b, 8);
    return s;
}

static rf_status rd_str(cursor *c, const char *what, gguf_str *out)
{
    uint64_t n;
    rf_status s = rd_u64(c, what, &n);
    if (s != RF_OK)
        return s;
    if (n > c->size - c->off) {
        char who[256];
        c->off -= 8;
        return rf_fail(c->err, RF_E_FORMAT,
                       "%s: offset %" PRIu64 ": %s%s: string length %" PRIu64
                       " exceeds the %" PRIu64 " bytes left in the file",
                       c->path, c->off, culprit(c, who, sizeof who), what, n, c->size - c->off - 8);
    }
    out->ptr = (const char *)c->p + c->off;
    out->len = n;
    c->off += n;
    return RF_OK;
}

/* Keys and tensor names: non-empty, no NUL, at most 64 KiB (the spec's bound
 * on keys; no real tensor name comes close). */
static rf_status check_name(cursor *c, uint64_t at, gguf_str s, const char *what)
{
    if (s.len == 0)
        return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": empty %s", c->path, at, what);
    if (s.len > 65535)
        return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": %s of %" PRIu64 " bytes (at most 65535)",
                       c->path, at, what, s.len);
    if (memchr(s.ptr, 0, s.len))
        return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": %s '%.*s' contains a NUL byte",
                       c->path, at, what, (int)strnlen(s.ptr, s.len), s.ptr);
    return RF_OK;
}

/* ---- hashing (FNV-1a over the name; index+1 stored, 0 empty) ------------ */

static uint64_t hash_bytes(const char *s, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t hash_cap_for(uint64_t n)
{
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    return cap;
}

static bool str_eq(gguf_str a, const char *b, uint64_t blen)
{
    return a.len == blen && memcmp(a.ptr, b, blen) == 0;
}

/* Returns the slot index where name is, or the empty slot where it belongs. */
static uint64_t hash_probe(const uint32_t *table, uint64_t cap, const char *name, uint64_t len,
                           const void *items, size_t stride, size_t name_off)
{
    uint64_t i = hash_bytes(name, len) & (cap - 1);
    while (table[i]) {
        const gguf_str *s = (const gguf_str *)((const char *)items + (table[i] - 1) * stride + name_off);
        if (str_eq(*s, name, len))
            return i;
        i = (i + 1) & (cap - 1);
    }
    return i;
}

/* ---- key/values -------------------------------------------------------- */

static rf_status parse_array(gguf_file *f, cursor *c, gguf_kv *kv)
{
    uint32_t et;
    uint64_t n;
    rf_status s;
    uint64_t at = c->off;
    if ((s = rd_u32(c, "array element type", &et)) != RF_OK)
        return s;
    if (et >= GGUF_VT_COUNT)
        return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": key '%.*s': unknown array element type %" PRIu32,
                       c->path, at, (int)kv->key.len, kv->key.ptr, et);
    if (et == GGUF_VT_ARRAY)
        return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": key '%.*s': nested arrays are not allowed",
                       c->path, at, (int)kv->key.len, kv->key.ptr);
    at = c->off;
    if ((s = rd_u64(c, "array length", &n)) != RF_OK)
        return s;
    kv->arr_type = (gguf_vtype)et;
    kv->arr_n = n;
    uint64_t left = c->size - c->off;
    if (et == GGUF_VT_STRING) {
        if (n > left / 8)
            return rf_fail(c->err, RF_E_FORMAT,
                           "%s: offset %" PRIu64 ": key '%.*s': array of %" PRIu64
                           " strings cannot fit in the %" PRIu64 " bytes left",
                           c->path, at, (int)kv->key.len, kv->key.ptr, n, left);
        kv->arr_strs = n ? arena_alloc(&f->arena, n * sizeof *kv->arr_strs) : NULL;
        if (n && !kv->arr_strs)
            return rf_fail(c->err, RF_E_NOMEM, "%s: out of memory for key '%.*s'", c->path,
                           (int)kv->key.len, kv->key.ptr);
        for (uint64_t i = 0; i < n; i++) {
            if ((s = rd_str(c, "array string", &kv->arr_strs[i])) != RF_OK)
                return s;
        }
        return RF_OK;
    }
    size_t es = gguf_vtype_size((gguf_vtype)et);
    if (n > left / es)
        return rf_fail(c->err, RF_E_FORMAT,
                       "%s: offset %" PRIu64 ": key '%.*s': array of %" PRIu64 " %s values (%" PRIu64
                       " bytes each) exceeds the %" PRIu64 " bytes left",
                       c->path, at, (int)kv->key.len, kv->key.ptr, n, gguf_vtype_name((gguf_vtype)et),
                       (uint64_t)es, left);
    const uint8_t *b;
    if ((s = take(c, n * es, "array data", &b)) != RF_OK)
        return s;
    kv->arr_data = b;
    if (et == GGUF_VT_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (b[i] > 1)
                return rf_fail(c->err, RF_E_FORMAT,
                               "%s: offset %" PRIu64 ": key '%.*s': bool element %" PRIu64 " has value %u (not 0 or 1)",
                               c->path, (uint64_t)(b + i - c->p), (int)kv->key.len, kv->key.ptr, i, b[i]);
    return RF_OK;
}

static rf_status parse_value(gguf_file *f, cursor *c, gguf_kv *kv)
{
    const uint8_t *b;
    rf_status s;
    uint64_t at = c->off;
    switch (kv->type) {
    case GGUF_VT_UINT8: case GGUF_VT_UINT16: case GGUF_VT_UINT32: case GGUF_VT_UINT64:
        if ((s = take(c, gguf_vtype_size(kv->type), "value", &b)) != RF_OK)
            return s;
        kv->val.u64 = rd_le(b, (unsigned)gguf_vtype_size(kv->type));
        return RF_OK;
    case GGUF_VT_INT8: case GGUF_VT_INT16: case GGUF_VT_INT32: case GGUF_VT_INT64: {
        unsigned n = (unsigned)gguf_vtype_size(kv->type);
        if ((s = take(c, n, "value", &b)) != RF_OK)
            return s;
        uint64_t u = rd_le(b, n);
        if (n < 8 && (u >> (8 * n - 1)) & 1)
            u |= ~(uint64_t)0 << (8 * n);  /* sign-extend */
        memcpy(&kv->val.i64, &u, 8);
        return RF_OK;
    }
    case GGUF_VT_FLOAT32: {
        if ((s = take(c, 4, "value", &b)) != RF_OK)
            return s;
        uint32_t u = (uint32_t)rd_le(b, 4);
        float x;
        memcpy(&x, &u, 4);
        kv->val.f64 = x;
        return RF_OK;
    }
    case GGUF_VT_FLOAT64: {
        if ((s = take(c, 8, "value", &b)) != RF_OK)
            return s;
        uint64_t u = rd_le(b, 8);
        memcpy(&kv->val.f64, &u, 8);
        return RF_OK;
    }
    case GGUF_VT_BOOL:
        if ((s = take(c, 1, "value", &b)) != RF_OK)
            return s;
        if (*b > 1)
            return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": key '%.*s': bool value %u (not 0 or 1)",
                           c->path, at, (int)kv->key.len, kv->key.ptr, *b);
        kv->val.u64 = *b;
        return RF_OK;
    case GGUF_VT_STRING:
        return rd_str(c, "string value", &kv->val.str);
    case GGUF_VT_ARRAY:
        return parse_array(f, c, kv);
    default:
        break;
    }
    return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": key '%.*s': unknown value type %u",
                   c->path, at - 4, (int)kv->key.len, kv->key.ptr, (unsigned)kv->type);
}

static rf_status parse_kvs(gguf_file *f, cursor *c)
{
    rf_status s;
    f->kvs = f->n_kv ? arena_calloc(&f->arena, f->n_kv, sizeof *f->kvs) : NULL;
    f->kv_cstr = f->n_kv ? arena_calloc(&f->arena, f->n_kv, sizeof *f->kv_cstr) : NULL;
    f->kv_hash_cap = hash_cap_for(f->n_kv);
    f->kv_hash = arena_calloc(&f->arena, f->kv_hash_cap, sizeof *f->kv_hash);
    if ((f->n_kv && (!f->kvs || !f->kv_cstr)) || !f->kv_hash)
        return rf_fail(c->err, RF_E_NOMEM, "%s: out of memory for %" PRIu64 " keys", c->path, f->n_kv);

    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kvs[i];
        uint32_t t;
        kv->offset = c->off;
        c->rec_kind = NULL;
        if ((s = rd_str(c, "key", &kv->key)) != RF_OK ||
            (s = check_name(c, kv->offset, kv->key, "key")) != RF_OK)
            return s;
        c->rec_kind = "key";
        c->rec_name = kv->key;
        uint64_t slot = hash_probe(f->kv_hash, f->kv_hash_cap, kv->key.ptr, kv->key.len, f->kvs,
                                   sizeof *f->kvs, offsetof(gguf_kv, key));
        if (f->kv_hash[slot])
            return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": duplicate key '%.*s'", c->path,
                           kv->offset, (int)kv->key.len, kv->key.ptr);
        f->kv_hash[slot] = (uint32_t)(i + 1);
        uint64_t at = c->off;
        if ((s = rd_u32(c, "value type", &t)) != RF_OK) {
            return s;
        }
        if (t >= GGUF_VT_COUNT)
            return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": key '%.*s': unknown value type %" PRIu32,
                           c->path, at, (int)kv->key.len, kv->key.ptr, t);
        kv->type = (gguf_vtype)t;
        if ((s = parse_value(f, c, kv)) != RF_OK) {
            return s;
        }
        if (kv->type == GGUF_VT_STRING) {
            f->kv_cstr[i] = arena_strndup(&f->arena, kv->val.str.ptr, kv->val.str.len);
            if (!f->kv_cstr[i])
                return rf_fail(c->err, RF_E_NOMEM, "%s: out of memory", c->path);
        }
    }
    return RF_OK;
}

/* ---- tensor infos -------------------------------------------------------- */

static rf_status parse_tensor_info(gguf_file *f, cursor *c, uint64_t i)
{
    gguf_tensor *t = &f->tensors[i];
    rf_status s;
    uint32_t nd, type;
    t->info_offset = c->off;
    c->rec_kind = NULL;
    if ((s = rd_str(c, "tensor name", &t->name)) != RF_OK ||
        (s = check_name(c, t->info_offset, t->name, "tensor name")) != RF_OK)
        return s;
    c->rec_kind = "tensor";
    c->rec_name = t->name;
    const int nl = (int)(t->name.len > 200 ? 200 : t->name.len);
    uint64_t slot = hash_probe(f->tensor_hash, f->tensor_hash_cap, t->name.ptr, t->name.len, f->tensors,
                               sizeof *f->tensors, offsetof(gguf_tensor, name));
    if (f->tensor_hash[slot])
        return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": duplicate tensor name '%.*s'", c->path,
                       t->info_offset, nl, t->name.ptr);
    f->tensor_hash[slot] = (uint32_t)(i + 1);

    uint64_t at = c->off;
    if ((s = rd_u32(c, "tensor n_dims", &nd)) != RF_OK)
        return s;
    if (nd < 1 || nd > GGUF_MAX_DIMS)
        return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": tensor '%.*s': %" PRIu32
                       " dimensions (must be 1..%d)", c->path, at, nl, t->name.ptr, nd, GGUF_MAX_DIMS);
    t->n_dims = nd;
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        at = c->off;
        if ((s = rd_u64(c, "tensor dimension", &t->ne[d])) != RF_OK)
            return s;
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": tensor '%.*s': dimension %" PRIu32
                           " is %" PRIu64 " (must be 1..2^63-1)", c->path, at, nl, t->name.ptr, d, t->ne[d]);
        if (n_el > (uint64_t)INT64_MAX / t->ne[d])
            return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": tensor '%.*s': element count overflows",
                           c->path, at, nl, t->name.ptr);
        n_el *= t->ne[d];
    }
    t->n_elements = n_el;
    at = c->off;
    if ((s = rd_u32(c, "tensor type", &type)) != RF_OK)
        return s;
    const ggml_type_traits *tr = ggml_type_get(type);
    if (!tr) {
        const char *old = ggml_type_removed_name(type);
        if (old)
            return rf_fail(c->err, RF_E_UNSUPPORTED, "%s: offset %" PRIu64 ": tensor '%.*s': type %" PRIu32
                           " (%s) was removed from GGUF; re-quantize the model",
                           c->path, at, nl, t->name.ptr, type, old);
        return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": tensor '%.*s': unknown type id %" PRIu32,
                       c->path, at, nl, t->name.ptr, type);
    }
    t->type = (ggml_type)type;
    if (t->ne[0] % tr->block_size)
        return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": tensor '%.*s': ne[0] = %" PRIu64
                       " is not a multiple of the %s block size %" PRIu32,
                       c->path, t->info_offset, nl, t->name.ptr, t->ne[0], tr->name, tr->block_size);
    uint64_t blocks = n_el / tr->block_size;
    if (blocks > UINT64_MAX / tr->type_size)
        return rf_fail(c->err, RF_E_FORMAT, "%s: offset %" PRIu64 ": tensor '%.*s': byte size overflows",
                       c->path, t->info_offset, nl, t->name.ptr);
    t->n_bytes = blocks * tr->type_size;
    return rd_u64(c, "tensor data offset", &t->offset);
}

static rf_status check_tensor_data(gguf_file *f, rf_error *err)
{
    if (f->n_tensors == 0)
        return RF_OK;
    if (f->data_offset > f->size)
        return rf_fail(err, RF_E_FORMAT, "%s: offset %" PRIu64 ": truncated file: the tensor data section starts "
                       "past the end of the file (%" PRIu64 " bytes)", f->path, f->data_offset, f->size);
    uint64_t avail = f->size - f->data_offset;
    uint64_t *order = malloc(f->n_tensors * sizeof *order);
    if (!order)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", f->path);
    rf_status s = RF_OK;
    for (uint64_t i = 0; i < f->n_tensors && s == RF_OK; i++) {
        gguf_tensor *t = &f->tensors[i];
        const int nl = (int)(t->name.len > 200 ? 200 : t->name.len);
        order[i] = i;
        if (t->offset % f->alignment)
            s = rf_fail(err, RF_E_FORMAT, "%s: offset %" PRIu64 ": tensor '%.*s': data offset %" PRIu64
                        " is not a multiple of the alignment %" PRIu32,
                        f->path, t->info_offset, nl, t->name.ptr, t->offset, f->alignment);
        else if (t->offset > avail || t->n_bytes > avail - t->offset)
            s = rf_fail(err, RF_E_FORMAT, "%s: offset %" PRIu64 ": tensor '%.*s': data [%" PRIu64 ", +%" PRIu64
                        ") lies outside the %" PRIu64 "-byte data section",
                        f->path, t->info_offset, nl, t->name.ptr, t->offset, t->n_bytes, avail);
        else
            t->data = f->base + f->data_offset + t->offset;
    }
    if (s == RF_OK) {
        /* order by data offset (a shell sort: no allocation beyond `order`,
         * and no quadratic blow-up on a hostile tensor count) */
        for (uint64_t gap = f->n_tensors / 2; gap > 0; gap /= 2)
            for (uint64_t i = gap; i < f->n_tensors; i++)
                for (uint64_t j = i; j >= gap && f->tensors[order[j - gap]].offset > f->tensors[order[j]].offset; j -= gap) {
                    uint64_t tmp = order[j];
                    order[j] = order[j - gap];
                    order[j - gap] = tmp;
                }
        for (uint64_t k = 1; k < f->n_tensors && s == RF_OK; k++) {
            const gguf_tensor *a = &f->tensors[order[k - 1]], *b = &f->tensors[order[k]];
            if (a->offset + a->n_bytes > b->offset)
                s = rf_fail(err, RF_E_FORMAT, "%s: offset %" PRIu64 ": tensor '%.*s': data overlaps tensor '%.*s'",
                            f->path, b->info_offset, (int)(b->name.len > 200 ? 200 : b->name.len), b->name.ptr,
                            (int)(a->name.len > 200 ? 200 : a->name.len), a->name.ptr);
        }
    }
    free(order);
    return s;
}

/* ---- open ---------------------------------------------------------------- */

static rf_status parse(gguf_file *f, rf_error *err)
{
    cursor c = {.p = f->base, .size = f->size, .path = f->path, .err = err};
    const uint8_t *magic = NULL; /* initialised for gcc -Wmaybe-uninitialized */
    rf_status s;
    if ((s = take(&c, 4, "magic", &magic)) != RF_OK)
        return s;
    if (memcmp(magic, GGUF_MAGIC, 4) != 0)
        return rf_fail(err, RF_E_FORMAT, "%s: offset 0: not a GGUF file (magic %02x %02x %02x %02x, expected \"GGUF\")",
                       f->path, magic[0], magic[1], magic[2], magic[3]);
    if ((s = rd_u32(&c, "version", &f->version)) != RF_OK)
        return s;
    if (f->version == 1)
        return rf_fail(err, RF_E_UNSUPPORTED, "%s: offset 4: GGUF version 1 is not supported (only 2 and 3)", f->path);
    if ((f->version & 0xffff) == 0 && f->version != 0)
        return rf_fail(err, RF_E_UNSUPPORTED, "%s: offset 4: big-endian GGUF (version field %08" PRIx32 ") is not supported",
                       f->path, f->version);
    if (f->version != 2 && f->version != 3)
        return rf_fail(err, RF_E_FORMAT, "%s: offset 4: unknown GGUF version %" PRIu32 " (supported: 2, 3)",
                       f->path, f->version);
    if ((s = rd_u64(&c, "tensor count", &f->n_tensors)) != RF_OK ||
        (s = rd_u64(&c, "metadata key/value count", &f->n_kv)) != RF_OK)
        return s;
    /* smallest possible records: a kv is key len 8 + 1 byte key + type 4 +
     * 1-byte value; a tensor info is 8 + 1 + 4 + 8 + 4 + 8 */
    uint64_t left = c.size - c.off;
    if (f->n_kv > left / 14 || f->n_kv >= UINT32_MAX)
        return rf_fail(err, RF_E_FORMAT, "%s: offset 16: metadata count %" PRIu64 " cannot fit in the %" PRIu64
                       " bytes left", f->path, f->n_kv, left);
    if (f->n_tensors > left / 33 || f->n_tensors >= UINT32_MAX)
        return rf_fail(err, RF_E_FORMAT, "%s: offset 8: tensor count %" PRIu64 " cannot fit in the %" PRIu64
                       " bytes left", f->path, f->n_tensors, left);
    if ((s = parse_kvs(f, &c)) != RF_OK)
        return s;

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *al = gguf_find_kv(f, "general.alignment");
    if (al) {
        if (al->type != GGUF_VT_UINT32)
            return rf_fail(err, RF_E_FORMAT, "%s: offset %" PRIu64 ": key 'general.alignment' has type %s, expected u32",
                           f->path, al->offset, gguf_vtype_name(al->type));
        if (al->val.u64 == 0 || (al->val.u64 & (al->val.u64 - 1)))
            return rf_fail(err, RF_E_FORMAT, "%s: offset %" PRIu64 ": key 'general.alignment' = %" PRIu64
                           " is not a power of two", f->path, al->offset, al->val.u64);
        f->alignment = (uint32_t)al->val.u64;
    }

    if (f->n_tensors > (uint64_t)(c.size - c.off) / 33)
        return rf_fail(err, RF_E_FORMAT, "%s: offset %" PRIu64 ": %" PRIu64 " tensor infos cannot fit in the %" PRIu64
                       " bytes left", f->path, c.off, f->n_tensors, c.size - c.off);
    f->tensors = f->n_tensors ? arena_calloc(&f->arena, f->n_tensors, sizeof *f->tensors) : NULL;
    f->tensor_hash_cap = hash_cap_for(f->n_tensors);
    f->tensor_hash = arena_calloc(&f->arena, f->tensor_hash_cap, sizeof *f->tensor_hash);
    if ((f->n_tensors && !f->tensors) || !f->tensor_hash)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory for %" PRIu64 " tensors", f->path, f->n_tensors);
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if ((s = parse_tensor_info(f, &c, i)) != RF_OK) {
            return s;
        }
    uint64_t pad = (f->alignment - c.off % f->alignment) % f->alignment;
    f->data_offset = c.off + pad;
    return check_tensor_data(f, err);
}

static gguf_file *file_new(const char *name)
{
    gguf_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    arena_init(&f->arena);
    f->path = arena_strndup(&f->arena, name, strlen(name));
    if (!f->path) {
        free(f);
        return NULL;
    }
    return f;
}

rf_status gguf_open_memory(const void *buf, size_t size, const char *name, gguf_file **out, rf_error *err)
{
    *out = NULL;
    gguf_file *f = file_new(name ? name : "<memory>");
    if (!f)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", name ? name : "<memory>");
    f->base = buf;
    f->size = size;
    rf_status s = parse(f, err);
    if (s != RF_OK) {
        gguf_close(f);
        return s;
    }
    *out = f;
    return RF_OK;
}

rf_status gguf_open(const char *path, gguf_file **out, rf_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return rf_fail(err, RF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rf_fail(err, RF_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return rf_fail(err, RF_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return rf_fail(err, RF_E_FORMAT, "%s: offset 0: file of %lld bytes is too small for a GGUF header (24 bytes)",
                       path, (long long)st.st_size);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return rf_fail(err, RF_E_IO, "%s: cannot map: %s", path, strerror(e));
    gguf_file *f = file_new(path);
    if (!f) {
        munmap(map, (size_t)st.st_size);
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    }
    f->base = map;
    f->size = (uint64_t)st.st_size;
    f->mapped = true;
    rf_status s = parse(f, err);
    if (s != RF_OK) {
        gguf_close(f);
        return s;
    }
    *out = f;
    return RF_OK;
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    if (f->mapped)
        munmap((void *)f->base, f->size);
    arena_free(&f->arena);
    free(f);
}

/* ---- accessors ----------------------------------------------------------- */

const char *gguf_path(const gguf_file *f) { return f->path; }
uint32_t gguf_version(const gguf_file *f) { return f->version; }
uint64_t gguf_file_size(const gguf_file *f) { return f->size; }
uint32_t gguf_alignment(const gguf_file *f) { return f->alignment; }
uint64_t gguf_data_offset(const gguf_file *f) { return f->data_offset; }
uint64_t gguf_n_kv(const gguf_file *f) { return f->n_kv; }
uint64_t gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }

const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i) { return i < f->n_kv ? &f->kvs[i] : NULL; }
const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i) { return i < f->n_tensors ? &f->tensors[i] : NULL; }

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key)
{
    uint64_t slot = hash_probe(f->kv_hash, f->kv_hash_cap, key, strlen(key), f->kvs, sizeof *f->kvs,
                               offsetof(gguf_kv, key));
    return f->kv_hash[slot] ? &f->kvs[f->kv_hash[slot] - 1] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    uint64_t slot = hash_probe(f->tensor_hash, f->tensor_hash_cap, name, strlen(name), f->tensors,
                               sizeof *f->tensors, offsetof(gguf_tensor, name));
    return f->tensor_hash[slot] ? &f->tensors[f->tensor_hash[slot] - 1] : NULL;
}

static rf_status get_typed(const gguf_file *f, const char *key, gguf_vtype want, const gguf_kv **kv, rf_error *err)
{
    *kv = gguf_find_kv(f, key);
    if (!*kv)
        return rf_fail(err, RF_E_NOTFOUND, "%s: key '%s' not found", f->path, key);
    if ((*kv)->type != want)
        return rf_fail(err, RF_E_TYPE, "%s: offset %" PRIu64 ": key '%s' has type %s, expected %s", f->path,
                       (*kv)->offset, key, gguf_vtype_name((*kv)->type), gguf_vtype_name(want));
    return RF_OK;
}

rf_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, rf_error *err)
{
    const gguf_kv *kv;
    rf_status s = get_typed(f, key, GGUF_VT_UINT32, &kv, err);
    if (s == RF_OK)
        *out = (uint32_t)kv->val.u64;
    return s;
}

rf_status gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, rf_error *err)
{
    const gguf_kv *kv;
    rf_status s = get_typed(f, key, GGUF_VT_INT32, &kv, err);
    if (s == RF_OK)
        *out = (int32_t)kv->val.i64;
    return s;
}

rf_status gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, rf_error *err)
{
    const gguf_kv *kv;
    rf_status s = get_typed(f, key, GGUF_VT_UINT64, &kv, err);
    if (s == RF_OK)
        *out = kv->val.u64;
    return s;
}

rf_status gguf_get_f32(const gguf_file *f, const char *key, float *out, rf_error *err)
{
    const gguf_kv *kv;
    rf_status s = get_typed(f, key, GGUF_VT_FLOAT32, &kv, err);
    if (s == RF_OK)
        *out = (float)kv->val.f64;
    return s;
}

rf_status gguf_get_bool(const gguf_file *f, const char *key, bool *out, rf_error *err)
{
    const gguf_kv *kv;
    rf_status s = get_typed(f, key, GGUF_VT_BOOL, &kv, err);
    if (s == RF_OK)
        *out = kv->val.u64 != 0;
    return s;
}

rf_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, rf_error *err)
{
    const gguf_kv *kv;
    rf_status s = get_typed(f, key, GGUF_VT_STRING, &kv, err);
    if (s == RF_OK)
        *out = kv->val.str;
    return s;
}

rf_status gguf_get_cstr(const gguf_file *f, const char *key, const char **out, rf_error *err)
{
    const gguf_kv *kv;
    rf_status s = get_typed(f, key, GGUF_VT_STRING, &kv, err);
    if (s == RF_OK)
        *out = f->kv_cstr[kv - f->kvs];
    return s;
}

rf_status gguf_get_arr(const gguf_file *f, const char *key, gguf_vtype elem, const gguf_kv **out, rf_error *err)
{
    const gguf_kv *kv;
    rf_status s = get_typed(f, key, GGUF_VT_ARRAY, &kv, err);
    if (s != RF_OK)
        return s;
    if (kv->arr_type != elem)
        return rf_fail(err, RF_E_TYPE, "%s: offset %" PRIu64 ": key '%s' is an array of %s, expected an array of %s",
                       f->path, kv->offset, key, gguf_vtype_name(kv->arr_type), gguf_vtype_name(elem));
    *out = kv;
    return RF_OK;
}

int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i)
{
    RF_ASSERT(kv->type == GGUF_VT_ARRAY && i < kv->arr_n);
    const uint8_t *b = (const uint8_t *)kv->arr_data;
    unsigned n = (unsigned)gguf_vtype_size(kv->arr_type);
    RF_ASSERT(n > 0 && kv->arr_type != GGUF_VT_FLOAT32 && kv->arr_type != GGUF_VT_FLOAT64);
    uint64_t u = rd_le(b + i * n, n);
    bool is_signed = kv->arr_type == GGUF_VT_INT8 || kv->arr_type == GGUF_VT_INT16 ||
                     kv->arr_type == GGUF_VT_INT32 || kv->arr_type == GGUF_VT_INT64;
    if (is_signed && n < 8 && (u >> (8 * n - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * n);
    int64_t v;
    memcpy(&v, &u, 8);
    return v;
}

double gguf_arr_float(const gguf_kv *kv, uint64_t i)
{
    RF_ASSERT(kv->type == GGUF_VT_ARRAY && i < kv->arr_n);
    const uint8_t *b = (const uint8_t *)kv->arr_data;
    if (kv->arr_type == GGUF_VT_FLOAT32) {
        uint32_t u = (uint32_t)rd_le(b + i * 4, 4);
        float x;
        memcpy(&x, &u, 4);
        return x;
    }
    RF_ASSERT(kv->arr_type == GGUF_VT_FLOAT64);
    uint64_t u = rd_le(b + i * 8, 8);
    double x;
    memcpy(&x, &u, 8);
    return x;
}
