/*
 * gguf_write.c: builds a GGUF file (version 2 or 3) from keys and tensors.
 *
 * The writer is the reader's mirror and the test suites' fixture factory, so
 * it only ever produces files the reader must accept:
 *   - keys and tensor names are non-empty, at most 65535 bytes, hold no NUL
 *     byte and are unique;
 *     setting a key twice replaces its value where it stands, so insertion
 *     order is the file order;
 *   - every value is serialised little-endian at set time, which fixes its
 *     size and lets a replace be a swap of one byte string;
 *   - general.alignment, when set, must be a u32 power of two; it places the
 *     data section and every tensor (default GGUF_DEFAULT_ALIGNMENT), and each
 *     tensor's bytes are zero-padded up to it, the last one included;
 *   - tensors have 1..4 dims, each >= 1, ne[0] a multiple of the type's block
 *     size, and a byte size that does not overflow 64 bits.
 * Versions 2 and 3 share one little-endian layout (u64 counts); a version-1
 * file (u32 counts) is never written.
 *
 * Errors are sticky: the first failing call records a status and a message,
 * every later call returns that status, and gguf_writer_to_memory/_write
 * report the message. gguf_writer_write renders the file into a temporary
 * name beside the target (same directory, so rename is atomic) and renames
 * it into place; a failed write leaves the target untouched.
 *
 * Tensor data is copied at add time, except for a deferred tensor
 * (gguf_writer_add_tensor_deferred), whose bytes the caller produces when
 * gguf_writer_write_stream reaches it, one tensor at a time into one buffer
 * the size of the largest: a model larger than memory can be written.
 *
 * It deliberately does not write big-endian files, and prints nothing.
 */
#include "frontend/gguf.h"
#include "support/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reader's bound on keys and tensor names (the spec's on keys). */
#define GGUF_MAX_NAME_LEN 65535

typedef struct wkv {
    char *key;            /* NUL-terminated, no embedded NUL */
    size_t key_len;
    gguf_vtype type;
    uint8_t *payload;     /* the value as it appears after the type tag */
    size_t payload_len;
} wkv;

typedef struct wtensor {
    char *name;
    size_t name_len;
    ggml_type type;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t n_bytes;
    uint8_t *data;        /* NULL when deferred */
    bool deferred;
} wtensor;

struct gguf_writer {
    uint32_t version;
    rf_status status;     /* first failure, sticky */
    char msg[sizeof(((rf_error *)0)->msg)];
    wkv *kvs;
    size_t n_kv, cap_kv;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
};

/* ---- failure ----------------------------------------------------------- */

static rf_status wfail(gguf_writer *w, rf_status s, const char *fmt, ...) RF_PRINTF(3, 4);

static rf_status wfail(gguf_writer *w, rf_status s, const char *fmt, ...)
{
    if (w->status == RF_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->msg, sizeof w->msg, fmt, ap);
        va_end(ap);
        w->status = s;
    }
    return w->status;
}

/* ---- little-endian byte strings ---------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Reads a native scalar of `size` bytes as raw bits. */
static uint64_t native_bits(const void *p, size_t size)
{
    uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64;
    switch (size) {
    case 1: memcpy(&u8, p, 1); return u8;
    case 2: memcpy(&u16, p, 2); return u16;
    case 4: memcpy(&u32, p, 4); return u32;
    default: memcpy(&u64, p, 8); return u64;
    }
}

static bool is_scalar(gguf_vtype t)
{
    return gguf_vtype_size(t) != 0;
}

static uint64_t scalar_bits(gguf_vtype t, const void *val)
{
    if (t == GGUF_VT_BOOL)
        return *(const bool *)val ? 1 : 0;
    return native_bits(val, gguf_vtype_size(t));
}

/* ---- lifetime ---------------------------------------------------------- */

gguf_writer *gguf_writer_new(uint32_t version)
{
    gguf_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->version = version;
    if (version != 2 && version != 3)
        wfail(w, RF_E_ARG, "gguf writer: version %u is not writable (2 or 3)", (unsigned)version);
    return w;
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].payload);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    free(w->kvs);
    free(w->tensors);
    free(w);
}

/* ---- keys -------------------------------------------------------------- */

static bool is_alignment_key(const char *key, size_t len)
{
    return len == 17 && memcmp(key, "general.alignment", 17) == 0;
}

/* Stores payload (ownership passes) under key, replacing an existing value. */
static rf_status set_payload(gguf_writer *w, const char *key, size_t key_len, gguf_vtype type,
                             uint8_t *payload, size_t payload_len)
{
    for (size_t i = 0; i < w->n_kv; i++) {
        wkv *kv = &w->kvs[i];
        if (kv->key_len == key_len && memcmp(kv->key, key, key_len) == 0) {
            free(kv->payload);
            kv->type = type;
            kv->payload = payload;
            kv->payload_len = payload_len;
            return RF_OK;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *kvs = realloc(w->kvs, cap * sizeof *kvs);
        if (!kvs) {
            free(payload);
            return wfail(w, RF_E_NOMEM, "gguf writer: out of memory adding key '%.*s'",
                         (int)key_len, key);
        }
        w->kvs = kvs;
        w->cap_kv = cap;
    }
    char *k = malloc(key_len + 1);
    if (!k) {
        free(payload);
        return wfail(w, RF_E_NOMEM, "gguf writer: out of memory adding key '%.*s'", (int)key_len, key);
    }
    memcpy(k, key, key_len);
    k[key_len] = 0;
    w->kvs[w->n_kv++] = (wkv){k, key_len, type, payload, payload_len};
    return RF_OK;
}

/* The checks every setter shares; returns RF_OK when the call may proceed. */
static rf_status check_key(gguf_writer *w, const char *key, size_t key_len)
{
    if (w->status != RF_OK)
        return w->status;
    if (!key || key_len == 0)
        return wfail(w, RF_E_ARG, "gguf writer: empty key");
    if (key_len > GGUF_MAX_NAME_LEN)
        return wfail(w, RF_E_ARG, "gguf writer: key '%.40s...' of %zu bytes (at most %d)", key,
                     key_len, GGUF_MAX_NAME_LEN);
    if (memchr(key, 0, key_len))
        return wfail(w, RF_E_ARG, "gguf writer: key '%.*s' holds a NUL byte", (int)key_len, key);
    return RF_OK;
}

static rf_status set_scalar_n(gguf_writer *w, const char *key, size_t key_len, gguf_vtype type,
                              const void *val)
{
    rf_status s = check_key(w, key, key_len);
    if (s != RF_OK)
        return s;
    if (!is_scalar(type) || !val)
        return wfail(w, RF_E_ARG, "gguf writer: key '%.*s': %s is not a scalar type",
                     (int)key_len, key, gguf_vtype_name(type));
    size_t n = gguf_vtype_size(type);
    uint64_t bits = scalar_bits(type, val);
    if (is_alignment_key(key, key_len)) {
        if (type != GGUF_VT_UINT32)
            return wfail(w, RF_E_ARG, "gguf writer: key 'general.alignment' must be u32, not %s",
                         gguf_vtype_name(type));
        if (bits == 0 || (bits & (bits - 1)) != 0)
            return wfail(w, RF_E_ARG,
                         "gguf writer: key 'general.alignment' = %llu is not a power of two",
                         (unsigned long long)bits);
    }
    uint8_t *p = malloc(n);
    if (!p)
        return wfail(w, RF_E_NOMEM, "gguf writer: out of memory setting key '%.*s'", (int)key_len, key);
    put_le(p, bits, n);
    return set_payload(w, key, key_len, type, p, n);
}

static rf_status set_str_n(gguf_writer *w, const char *key, size_t key_len, const char *s, size_t len)
{
    rf_status st = check_key(w, key, key_len);
    if (st != RF_OK)
        return st;
    if (!s && len)
        return wfail(w, RF_E_ARG, "gguf writer: key '%.*s': NULL string", (int)key_len, key);
    if (is_alignment_key(key, key_len))
        return wfail(w, RF_E_ARG, "gguf writer: key 'general.alignment' must be u32, not string");
    if (len > SIZE_MAX - 8)
        return wfail(w, RF_E_NOMEM, "gguf writer: key '%.*s': string too long", (int)key_len, key);
    uint8_t *p = malloc(8 + len);
    if (!p)
        return wfail(w, RF_E_NOMEM, "gguf writer: out of memory setting key '%.*s'", (int)key_len, key);
    put_le(p, len, 8);
    if (len)
        memcpy(p + 8, s, len);
    return set_payload(w, key, key_len, GGUF_VT_STRING, p, 8 + len);
}

static rf_status set_arr_n(gguf_writer *w, const char *key, size_t key_len, gguf_vtype elem,
                           const void *data, uint64_t n)
{
    rf_status st = check_key(w, key, key_len);
    if (st != RF_OK)
        return st;
    if (!is_scalar(elem))
        return wfail(w, RF_E_ARG, "gguf writer: key '%.*s': array of %s is not a scalar array",
                     (int)key_len, key, gguf_vtype_name(elem));
    if (!data && n)
        return wfail(w, RF_E_ARG, "gguf writer: key '%.*s': NULL array data", (int)key_len, key);
    if (is_alignment_key(key, key_len))
        return wfail(w, RF_E_ARG, "gguf writer: key 'general.alignment' must be u32, not array");
    size_t es = gguf_vtype_size(elem);
    if (n > (SIZE_MAX - 12) / es)
        return wfail(w, RF_E_NOMEM, "gguf writer: key '%.*s': array too long", (int)key_len, key);
    size_t len = 12 + (size_t)n * es;
    uint8_t *p = malloc(len);
    if (!p)
        return wfail(w, RF_E_NOMEM, "gguf writer: out of memory setting key '%.*s'", (int)key_len, key);
    put_le(p, (uint64_t)elem, 4);
    put_le(p + 4, n, 8);
    const uint8_t *src = data;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t bits = elem == GGUF_VT_BOOL ? (src[i] != 0) : native_bits(src + i * es, es);
        put_le(p + 12 + i * es, bits, es);
    }
    return set_payload(w, key, key_len, GGUF_VT_ARRAY, p, len);
}

static rf_status set_arr_str_n(gguf_writer *w, const char *key, size_t key_len,
                               const gguf_str *strs, uint64_t n)
{
    rf_status st = check_key(w, key, key_len);
    if (st != RF_OK)
        return st;
    if (!strs && n)
        return wfail(w, RF_E_ARG, "gguf writer: key '%.*s': NULL string array", (int)key_len, key);
    if (is_alignment_key(key, key_len))
        return wfail(w, RF_E_ARG, "gguf writer: key 'general.alignment' must be u32, not array");
    size_t len = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i].ptr && strs[i].len)
            return wfail(w, RF_E_ARG, "gguf writer: key '%.*s': element %llu is a NULL string",
                         (int)key_len, key, (unsigned long long)i);
        if (strs[i].len > SIZE_MAX - 8 - len)
            return wfail(w, RF_E_NOMEM, "gguf writer: key '%.*s': string array too long",
                         (int)key_len, key);
        len += 8 + (size_t)strs[i].len;
    }
    uint8_t *p = malloc(len);
    if (!p)
        return wfail(w, RF_E_NOMEM, "gguf writer: out of memory setting key '%.*s'", (int)key_len, key);
    put_le(p, GGUF_VT_STRING, 4);
    put_le(p + 4, n, 8);
    size_t off = 12;
    for (uint64_t i = 0; i < n; i++) {
        put_le(p + off, strs[i].len, 8);
        if (strs[i].len)
            memcpy(p + off + 8, strs[i].ptr, (size_t)strs[i].len);
        off += 8 + (size_t)strs[i].len;
    }
    return set_payload(w, key, key_len, GGUF_VT_ARRAY, p, len);
}

rf_status gguf_writer_set_scalar(gguf_writer *w, const char *key, gguf_vtype type, const void *val)
{
    if (!w)
        return RF_E_ARG;
    return set_scalar_n(w, key, key ? strlen(key) : 0, type, val);
}

rf_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v)
{
    return gguf_writer_set_scalar(w, key, GGUF_VT_UINT32, &v);
}

rf_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v)
{
    return gguf_writer_set_scalar(w, key, GGUF_VT_INT32, &v);
}

rf_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v)
{
    return gguf_writer_set_scalar(w, key, GGUF_VT_FLOAT32, &v);
}

rf_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v)
{
    return gguf_writer_set_scalar(w, key, GGUF_VT_BOOL, &v);
}

rf_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *s, size_t len)
{
    if (!w)
        return RF_E_ARG;
    return set_str_n(w, key, key ? strlen(key) : 0, s, len);
}

rf_status gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_vtype elem,
                              const void *data, uint64_t n)
{
    if (!w)
        return RF_E_ARG;
    return set_arr_n(w, key, key ? strlen(key) : 0, elem, data, n);
}

rf_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const gguf_str *strs, uint64_t n)
{
    if (!w)
        return RF_E_ARG;
    return set_arr_str_n(w, key, key ? strlen(key) : 0, strs, n);
}

rf_status gguf_writer_copy_kvs(gguf_writer *w, const gguf_file *f)
{
    if (!w)
        return RF_E_ARG;
    if (w->status != RF_OK)
        return w->status;
    if (!f)
        return wfail(w, RF_E_ARG, "gguf writer: copy from a NULL file");
    uint64_t n = gguf_n_kv(f);
    for (uint64_t i = 0; i < n; i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        const char *key = kv->key.ptr;
        size_t key_len = (size_t)kv->key.len;
        rf_status s;
        if (kv->type == GGUF_VT_STRING) {
            s = set_str_n(w, key, key_len, kv->val.str.ptr, (size_t)kv->val.str.len);
        } else if (kv->type == GGUF_VT_ARRAY && kv->arr_type == GGUF_VT_STRING) {
            s = set_arr_str_n(w, key, key_len, kv->arr_strs, kv->arr_n);
        } else if (kv->type == GGUF_VT_ARRAY) {
            /* arr_data is little-endian, which set_arr_n reads as native:
             * the writer, like the reader, assumes a little-endian host. */
            s = set_arr_n(w, key, key_len, kv->arr_type, kv->arr_data, kv->arr_n);
        } else {
            /* Re-narrow the widened scalar to its own type. */
            uint8_t b[8];
            size_t sz = gguf_vtype_size(kv->type);
            if (kv->type == GGUF_VT_FLOAT32) {
                float x = (float)kv->val.f64;
                memcpy(b, &x, 4);
            } else if (kv->type == GGUF_VT_FLOAT64) {
                memcpy(b, &kv->val.f64, 8);
            } else if (kv->type == GGUF_VT_BOOL) {
                bool x = kv->val.u64 != 0;
                memcpy(b, &x, sizeof x);
            } else {
                uint64_t bits = kv->val.u64; /* i64 and u64 share the bits */
                uint8_t u8 = (uint8_t)bits; uint16_t u16 = (uint16_t)bits; uint32_t u32 = (uint32_t)bits;
                if (sz == 1) memcpy(b, &u8, 1);
                else if (sz == 2) memcpy(b, &u16, 2);
                else if (sz == 4) memcpy(b, &u32, 4);
                else memcpy(b, &bits, 8);
            }
            s = set_scalar_n(w, key, key_len, kv->type, b);
        }
        if (s != RF_OK)
            return s;
    }
    return RF_OK;
}

rf_status gguf_writer_remove(gguf_writer *w, const char *key)
{
    if (!w)
        return RF_E_ARG;
    if (w->status != RF_OK)
        return w->status;
    if (!key)
        return wfail(w, RF_E_ARG, "gguf writer: remove of a NULL key");
    size_t len = strlen(key);
    for (size_t i = 0; i < w->n_kv; i++) {
        wkv *kv = &w->kvs[i];
        if (kv->key_len == len && memcmp(kv->key, key, len) == 0) {
            free(kv->key);
            free(kv->payload);
            memmove(kv, kv + 1, (w->n_kv - i - 1) * sizeof *kv);
            w->n_kv--;
            break;
        }
    }
    return RF_OK;
}

/* ---- tensors ----------------------------------------------------------- */

static rf_status add_tensor(gguf_writer *w, const char *name, ggml_type type, uint32_t n_dims,
                            const uint64_t *ne, const void *data, bool deferred)
{
    if (!w)
        return RF_E_ARG;
    if (w->status != RF_OK)
        return w->status;
    if (!name || !*name)
        return wfail(w, RF_E_ARG, "gguf writer: tensor with an empty name");
    const ggml_type_traits *tt = ggml_type_get((uint32_t)type);
    if (!tt)
        return wfail(w, RF_E_ARG, "gguf writer: tensor '%s': unknown type id %u", name, (unsigned)type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne)
        return wfail(w, RF_E_ARG, "gguf writer: tensor '%s': %u dims (1..%d)", name,
                     (unsigned)n_dims, GGUF_MAX_DIMS);
    size_t name_len = strlen(name);
    if (name_len > GGUF_MAX_NAME_LEN)
        return wfail(w, RF_E_ARG, "gguf writer: tensor '%.40s...': name of %zu bytes (at most %d)",
                     name, name_len, GGUF_MAX_NAME_LEN);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (w->tensors[i].name_len == name_len && memcmp(w->tensors[i].name, name, name_len) == 0)
            return wfail(w, RF_E_ARG, "gguf writer: tensor '%s' added twice", name);
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0 || ne[d] > INT64_MAX)
            return wfail(w, RF_E_ARG, "gguf writer: tensor '%s': ne[%u] = %llu", name,
                         (unsigned)d, (unsigned long long)ne[d]);
        if (n_el > INT64_MAX / ne[d])
            return wfail(w, RF_E_ARG, "gguf writer: tensor '%s': element count overflows", name);
        n_el *= ne[d];
    }
    if (ne[0] % tt->block_size != 0)
        return wfail(w, RF_E_ARG, "gguf writer: tensor '%s': ne[0] = %llu is not a multiple of "
                     "the %s block size %u", name, (unsigned long long)ne[0], tt->name,
                     (unsigned)tt->block_size);
    uint64_t n_bytes = n_el / tt->block_size * tt->type_size;
    if (n_bytes / tt->type_size != n_el / tt->block_size || n_bytes > SIZE_MAX)
        return wfail(w, RF_E_ARG, "gguf writer: tensor '%s': byte size overflows", name);

    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
        wtensor *t = realloc(w->tensors, cap * sizeof *t);
        if (!t)
            return wfail(w, RF_E_NOMEM, "gguf writer: out of memory adding tensor '%s'", name);
        w->tensors = t;
        w->cap_tensors = cap;
    }
    wtensor t = {0};
    t.name = malloc(name_len + 1);
    t.data = deferred ? NULL : malloc(n_bytes ? (size_t)n_bytes : 1);
    if (!t.name || (!deferred && !t.data)) {
        free(t.name);
        free(t.data);
        return wfail(w, RF_E_NOMEM, "gguf writer: out of memory adding tensor '%s' (%llu bytes)",
                     name, (unsigned long long)n_bytes);
    }
    memcpy(t.name, name, name_len + 1);
    t.name_len = name_len;
    t.type = type;
    t.n_dims = n_dims;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t.ne[d] = d < n_dims ? ne[d] : 1;
    t.n_bytes = n_bytes;
    t.deferred = deferred;
    if (data && !deferred)
        memcpy(t.data, data, (size_t)n_bytes);
    else if (!deferred)
        memset(t.data, 0, (size_t)n_bytes);
    w->tensors[w->n_tensors++] = t;
    return RF_OK;
}

rf_status gguf_writer_add_tensor(gguf_writer *w, const char *name, ggml_type type,
                                 uint32_t n_dims, const uint64_t *ne, const void *data)
{
    return add_tensor(w, name, type, n_dims, ne, data, false);
}

rf_status gguf_writer_add_tensor_deferred(gguf_writer *w, const char *name, ggml_type type,
                                          uint32_t n_dims, const uint64_t *ne)
{
    return add_tensor(w, name, type, n_dims, ne, NULL, true);
}

/* ---- layout and serialisation ----------------------------------------- */

static uint64_t writer_alignment(const gguf_writer *w)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (is_alignment_key(w->kvs[i].key, w->kvs[i].key_len) && w->kvs[i].type == GGUF_VT_UINT32) {
            const uint8_t *p = w->kvs[i].payload;
            return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
        }
    return GGUF_DEFAULT_ALIGNMENT;
}

static uint64_t pad_to(uint64_t x, uint64_t align)
{
    return (x + align - 1) & ~(align - 1);
}

/* Where the bytes go: a buffer (buf != NULL) or a file descriptor; where
 * deferred tensors' bytes come from. */
typedef struct sink {
    uint8_t *buf;
    size_t pos;
    int fd;
    int err;              /* errno of the first failed write */
    gguf_writer_fill_fn fill;
    void *fill_ctx;
    uint8_t *fill_buf;    /* the largest deferred tensor's size */
    size_t fill_failed;   /* index + 1 of the tensor fill failed on, or 0 */
} sink;

static void emit(sink *s, const void *p, size_t n)
{
    if (s->err)
        return;
    if (s->buf) {
        if (n)
            memcpy(s->buf + s->pos, p, n);
        s->pos += n;
        return;
    }
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t r = write(s->fd, b, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            s->err = errno;
            return;
        }
        b += r;
        n -= (size_t)r;
        s->pos += (size_t)r;
    }
}

static void emit_le(sink *s, uint64_t v, size_t n)
{
    uint8_t b[8];
    put_le(b, v, n);
    emit(s, b, n);
}

static void emit_zeros(sink *s, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        emit(s, zeros, k);
        n -= k;
    }
}

/* Size of everything before the data section, unpadded. */
static uint64_t header_size(const gguf_writer *w)
{
    uint64_t n = 4 + 4 + 8 + 8;
    for (size_t i = 0; i < w->n_kv; i++)
        n += 8 + w->kvs[i].key_len + 4 + w->kvs[i].payload_len;
    for (size_t i = 0; i < w->n_tensors; i++)
        n += 8 + w->tensors[i].name_len + 4 + 8 * (uint64_t)w->tensors[i].n_dims + 4 + 8;
    return n;
}

/* Offsets of each tensor within the data section (caller frees), and the
 * padded data size. */
static uint64_t *tensor_offsets(const gguf_writer *w, uint64_t align, uint64_t *data_size)
{
    uint64_t *offs = malloc((w->n_tensors ? w->n_tensors : 1) * sizeof *offs);
    if (!offs)
        return NULL;
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        offs[i] = off;
        off += pad_to(w->tensors[i].n_bytes, align);
    }
    *data_size = off;
    return offs;
}

static void emit_file(const gguf_writer *w, sink *s, uint64_t align, const uint64_t *offs,
                      uint64_t hdr)
{
    emit(s, GGUF_MAGIC, 4);
    emit_le(s, w->version, 4);
    emit_le(s, w->n_tensors, 8);
    emit_le(s, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        const wkv *kv = &w->kvs[i];
        emit_le(s, kv->key_len, 8);
        emit(s, kv->key, kv->key_len);
        emit_le(s, (uint64_t)kv->type, 4);
        emit(s, kv->payload, kv->payload_len);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        emit_le(s, t->name_len, 8);
        emit(s, t->name, t->name_len);
        emit_le(s, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++)
            emit_le(s, t->ne[d], 8);
        emit_le(s, (uint64_t)t->type, 4);
        emit_le(s, offs[i], 8);
    }
    emit_zeros(s, pad_to(hdr, align) - hdr);
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        const uint8_t *data = t->data;
        if (t->deferred && !s->err) {
            if (!s->fill(s->fill_ctx, i, s->fill_buf, t->n_bytes)) {
                s->err = ECANCELED;
                s->fill_failed = i + 1;
                return;
            }
            data = s->fill_buf;
        }
        emit(s, data, (size_t)t->n_bytes);
        emit_zeros(s, pad_to(t->n_bytes, align) - t->n_bytes);
    }
}

/* Common to both outputs: the total size and tensor offsets, or a failure
 * (a deferred tensor with nothing to fill it). */
static rf_status plan_file(gguf_writer *w, bool can_fill, uint64_t *align, uint64_t **offs, uint64_t *hdr,
                           uint64_t *total, rf_error *err)
{
    if (w->status != RF_OK)
        return rf_fail(err, w->status, "%s", w->msg);
    for (size_t i = 0; i < w->n_tensors && !can_fill; i++)
        if (w->tensors[i].deferred)
            return rf_fail(err, RF_E_ARG, "gguf writer: tensor '%s' is deferred: only "
                           "gguf_writer_write_stream can write it", w->tensors[i].name);
    *align = writer_alignment(w);
    uint64_t data_size;
    *offs = tensor_offsets(w, *align, &data_size);
    if (!*offs)
        return rf_fail(err, wfail(w, RF_E_NOMEM, "gguf writer: out of memory"), "%s", w->msg);
    *hdr = header_size(w);
    *total = pad_to(*hdr, *align) + data_size;
    return RF_OK;
}

rf_status gguf_writer_to_memory(gguf_writer *w, void **buf, size_t *size, rf_error *err)
{
    if (!w || !buf || !size)
        return rf_fail(err, RF_E_ARG, "gguf writer: NULL argument");
    *buf = NULL;
    *size = 0;
    uint64_t align, hdr, total, *offs;
    rf_status s = plan_file(w, false, &align, &offs, &hdr, &total, err);
    if (s != RF_OK)
        return s;
    uint8_t *b = total <= SIZE_MAX ? malloc(total ? (size_t)total : 1) : NULL;
    if (!b) {
        free(offs);
        return rf_fail(err, RF_E_NOMEM, "gguf writer: out of memory for a %llu-byte file",
                       (unsigned long long)total);
    }
    sink sk = {.buf = b, .fd = -1};
    emit_file(w, &sk, align, offs, hdr);
    free(offs);
    RF_ASSERT(sk.pos == total);
    *buf = b;
    *size = (size_t)total;
    return RF_OK;
}

rf_status gguf_writer_write(gguf_writer *w, const char *path, rf_error *err)
{
    return gguf_writer_write_stream(w, path, NULL, NULL, err);
}

rf_status gguf_writer_write_stream(gguf_writer *w, const char *path, gguf_writer_fill_fn fill,
                                   void *ctx, rf_error *err)
{
    if (!w || !path || !*path)
        return rf_fail(err, RF_E_ARG, "gguf writer: NULL argument");
    uint64_t align, hdr, total, *offs;
    rf_status s = plan_file(w, fill != NULL, &align, &offs, &hdr, &total, err);
    if (s != RF_OK)
        return s;
    uint64_t fill_size = 0;
    for (size_t i = 0; i < w->n_tensors; i++)
        if (w->tensors[i].deferred && w->tensors[i].n_bytes > fill_size)
            fill_size = w->tensors[i].n_bytes;
    uint8_t *fill_buf = fill_size ? malloc((size_t)fill_size) : NULL;
    if (fill_size && !fill_buf) {
        free(offs);
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory for a %llu-byte tensor", path,
                       (unsigned long long)fill_size);
    }

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 64);
    if (!tmp) {
        free(offs);
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    }
    /* pid + a per-process counter: two writers (threads or processes) never
     * share a temporary; O_EXCL never clobbers a stranger's file. */
    static atomic_uint serial;
    int fd = -1;
    for (int tries = 0; tries < 16 && fd < 0; tries++) {
        snprintf(tmp, plen + 64, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&serial, 1));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        s = rf_fail(err, RF_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        free(offs);
        free(fill_buf);
        return s;
    }
    sink sk = {.fd = fd, .fill = fill, .fill_ctx = ctx, .fill_buf = fill_buf};
    emit_file(w, &sk, align, offs, hdr);
    free(offs);
    free(fill_buf);
    int e = sk.err;
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && sk.pos != total)
        e = EIO;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e) {
        unlink(tmp);
        if (sk.fill_failed)
            s = rf_fail(err, RF_E_IO, "%s: write failed: no data for tensor '%s'", path,
                        w->tensors[sk.fill_failed - 1].name);
        else
            s = rf_fail(err, RF_E_IO, "%s: write failed: %s", path, strerror(e));
    }
    free(tmp);
    return s;
}
