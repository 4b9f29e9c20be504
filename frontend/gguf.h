/*
 * gguf.h: the GGUF reader and writer.
 *
 * The reader maps the file read-only and never copies it whole: keys, string
 * values and tensor data are pointers into the mapping. Everything in the
 * header is validated before anything is trusted (see gguf.c for the list);
 * a rejected file yields RF_E_FORMAT (or RF_E_UNSUPPORTED) with a message
 * naming the byte offset and the key or tensor at fault.
 *
 * Strings in GGUF are length-prefixed and not NUL-terminated, so they are
 * gguf_str views. Keys are additionally guaranteed to hold no NUL byte, so
 * lookups by C string are exact.
 */
#ifndef RF_FRONTEND_GGUF_H
#define RF_FRONTEND_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rocmforge/rocmforge.h"
#include "support/types.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

/* ---- metadata value types (GGUF spec numbering) ----------------------- */
typedef enum gguf_vtype {
    GGUF_VT_UINT8 = 0,
    GGUF_VT_INT8 = 1,
    GGUF_VT_UINT16 = 2,
    GGUF_VT_INT16 = 3,
    GGUF_VT_UINT32 = 4,
    GGUF_VT_INT32 = 5,
    GGUF_VT_FLOAT32 = 6,
    GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8,
    GGUF_VT_ARRAY = 9,
    GGUF_VT_UINT64 = 10,
    GGUF_VT_INT64 = 11,
    GGUF_VT_FLOAT64 = 12,
    GGUF_VT_COUNT
} gguf_vtype;

const char *gguf_vtype_name(gguf_vtype t);  /* "u32", "string", ... "?" if invalid */
size_t gguf_vtype_size(gguf_vtype t);       /* bytes of a scalar; 0 for string/array/invalid */

/* ---- reader ------------------------------------------------------------ */
typedef struct gguf_str {
    const char *ptr;   /* into the mapping; not NUL-terminated */
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    gguf_str key;
    gguf_vtype type;
    uint64_t offset;        /* file offset of the key's length prefix */
    /* scalars */
    union {
        uint64_t u64;       /* UINT8..UINT64, BOOL (0/1) */
        int64_t i64;        /* INT8..INT64 */
        double f64;         /* FLOAT32, FLOAT64 */
        gguf_str str;       /* STRING */
    } val;
    /* arrays (type == GGUF_VT_ARRAY) */
    gguf_vtype arr_type;    /* element type; never ARRAY (nested arrays are rejected) */
    uint64_t arr_n;
    const void *arr_data;   /* scalar elements, packed little-endian, maybe unaligned */
    gguf_str *arr_strs;     /* string elements, arr_n of them */
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];  /* ne[0] innermost; unused dims are 1 */
    ggml_type type;
    uint64_t offset;             /* relative to the data section */
    uint64_t n_elements;
    uint64_t n_bytes;
    const uint8_t *data;         /* into the mapping */
    uint64_t info_offset;        /* file offset of this tensor's info record */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Open and validate. The path is used in messages. */
rf_status gguf_open(const char *path, gguf_file **out, rf_error *err);
/* Validate a buffer the caller owns (fuzzing, tests); buf must outlive the file. */
rf_status gguf_open_memory(const void *buf, size_t size, const char *name,
                           gguf_file **out, rf_error *err);
void gguf_close(gguf_file *f);

const char *gguf_path(const gguf_file *f);
uint32_t gguf_version(const gguf_file *f);
uint64_t gguf_file_size(const gguf_file *f);
uint32_t gguf_alignment(const gguf_file *f);
uint64_t gguf_data_offset(const gguf_file *f);

uint64_t gguf_n_kv(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i);
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key); /* NULL if absent */

uint64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters. RF_E_NOTFOUND when the key is absent, RF_E_TYPE when it
 * holds another type; the message names the key and both types. Strings are
 * returned as views (gguf_get_str) or NUL-terminated copies kept by the file
 * (gguf_get_cstr, valid until gguf_close). */
rf_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, rf_error *err);
rf_status gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, rf_error *err);
rf_status gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, rf_error *err);
rf_status gguf_get_f32(const gguf_file *f, const char *key, float *out, rf_error *err);
rf_status gguf_get_bool(const gguf_file *f, const char *key, bool *out, rf_error *err);
rf_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, rf_error *err);
rf_status gguf_get_cstr(const gguf_file *f, const char *key, const char **out, rf_error *err);
/* An array whose elements are of type elem (GGUF_VT_STRING for string arrays). */
rf_status gguf_get_arr(const gguf_file *f, const char *key, gguf_vtype elem,
                       const gguf_kv **out, rf_error *err);

/* Element i of a scalar array, converted (the element type must be of the
 * named family: any integer type for _int, FLOAT32/FLOAT64 for _float). */
int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i);
double gguf_arr_float(const gguf_kv *kv, uint64_t i);

/* ---- writer ------------------------------------------------------------ */
/* Builds a GGUF in memory, then writes it to a temporary name beside the
 * target and renames it into place. Keys and tensors keep insertion order;
 * setting a key twice replaces its value in place. Values are copied. */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(uint32_t version); /* 2 or 3 */
void gguf_writer_free(gguf_writer *w);
/* All setters return RF_E_NOMEM / RF_E_ARG on failure (sticky: later calls and
 * the final write report the first failure). */
rf_status gguf_writer_set_scalar(gguf_writer *w, const char *key, gguf_vtype type, const void *val);
rf_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
rf_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
rf_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
rf_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
rf_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *s, size_t len);
rf_status gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_vtype elem,
                              const void *data, uint64_t n);
rf_status gguf_writer_set_arr_str(gguf_writer *w, const char *key,
                                  const gguf_str *strs, uint64_t n);
/* Copies every key/value of f (used to re-write or edit a model). */
rf_status gguf_writer_copy_kvs(gguf_writer *w, const gguf_file *f);
/* Drops key if it is set (a later set then appends it at the end, which is
 * where llama.cpp's gguf_set_val_* puts a key it replaces). */
rf_status gguf_writer_remove(gguf_writer *w, const char *key);
/* data holds the tensor's bytes (ggml row layout); it is copied. */
rf_status gguf_writer_add_tensor(gguf_writer *w, const char *name, ggml_type type,
                                 uint32_t n_dims, const uint64_t *ne, const void *data);
/* The whole file as bytes (malloc'd), or written atomically to path. */
rf_status gguf_writer_to_memory(gguf_writer *w, void **buf, size_t *size, rf_error *err);
rf_status gguf_writer_write(gguf_writer *w, const char *path, rf_error *err);
/* Streaming: a deferred tensor's bytes are not held by the writer; when
 * gguf_writer_write_stream reaches it (tensors in insertion order), fill
 * writes its n_bytes into buf (index: its position among all tensors) and
 * returns true, or false to fail the write. Only write_stream writes a file
 * with deferred tensors. */
typedef bool (*gguf_writer_fill_fn)(void *ctx, size_t index, void *buf, uint64_t n_bytes);
rf_status gguf_writer_add_tensor_deferred(gguf_writer *w, const char *name, ggml_type type,
                                          uint32_t n_dims, const uint64_t *ne);
rf_status gguf_writer_write_stream(gguf_writer *w, const char *path, gguf_writer_fill_fn fill,
                                   void *ctx, rf_error *err);

#endif
