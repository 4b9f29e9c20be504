/*
 * imatrix.c: reading importance-matrix files (imatrix.h).
 *
 * A file that starts with the GGUF magic is read as GGUF through our own
 * reader (gguf.c validates the container); anything else as the legacy
 * form, which is read whole (it is small) and parsed with every length
 * checked against the bytes left. Then the entries are sorted by name for
 * lookup, and every value is checked to be finite (llama.cpp's quantizer
 * refuses a matrix with a NaN or infinity anywhere in it).
 *
 * Where llama.cpp's loader is lenient we are strict and say why: a legacy
 * file that ends inside its optional trailer, or GGUF sums that do not
 * divide into their counts, are errors here (llama.cpp would read garbage
 * or zeros). Two entries of one name keep the later one, as llama.cpp's
 * map does. The GGUF form must carry all three imatrix.* keys, as
 * llama.cpp's quantize tool demands.
 */
#include "frontend/imatrix.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/gguf.h"
#include "support/error.h"

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

void imatrix_free(imatrix *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_entries; i++) {
        free(m->entries[i].name);
        free(m->entries[i].values);
    }
    free(m->entries);
    free(m->dataset);
    free(m->path);
    free(m);
}

/* A new entry at the end of m's array (grown as needed), or NULL. */
static imatrix_entry *add_entry(imatrix *m, size_t *cap)
{
    if (m->n_entries == *cap) {
        size_t n = *cap ? 2 * *cap : 64;
        imatrix_entry *e = realloc(m->entries, n * sizeof *e);
        if (!e)
            return NULL;
        m->entries = e;
        *cap = n;
    }
    imatrix_entry *e = &m->entries[m->n_entries++];
    memset(e, 0, sizeof *e);
    return e;
}

/* ---- the legacy form ----------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t size, off;
} reader;

static bool read_i32(reader *r, int32_t *v)
{
    if (r->size - r->off < 4)
        return false;
    memcpy(v, r->p + r->off, 4);
    r->off += 4;
    return true;
}

static rf_status load_legacy(imatrix *m, const uint8_t *buf, size_t size, rf_error *err)
{
    reader r = {buf, size, 0};
    const char *path = m->path;
    int32_t n_entries;
    size_t cap = 0;
    if (!read_i32(&r, &n_entries) || n_entries < 1)
        return rf_fail(err, RF_E_FORMAT, "%s: not an importance matrix (no GGUF magic, and as a legacy .dat "
                       "it holds no entries)", path);
    for (int32_t i = 0; i < n_entries; i++) {
        int32_t len, ncall, nval;
        size_t at = r.off;
        if (!read_i32(&r, &len) || len < 0 || (size_t)len > r.size - r.off)
            return rf_fail(err, RF_E_FORMAT, "%s: offset %zu: entry %d of %d: name cut short (truncated file?)",
                           path, at, i + 1, n_entries);
        const char *name = (const char *)r.p + r.off;
        size_t name_len = strnlen(name, (size_t)len); /* llama.cpp reads it as a C string */
        r.off += (size_t)len;
        if (!read_i32(&r, &ncall) || !read_i32(&r, &nval))
            return rf_fail(err, RF_E_FORMAT, "%s: offset %zu: entry '%.*s': counts cut short (truncated file?)",
                           path, r.off, (int)name_len, name);
        if (nval < 1)
            return rf_fail(err, RF_E_FORMAT, "%s: entry '%.*s': %d values", path, (int)name_len, name, nval);
        if ((size_t)nval > (r.size - r.off) / sizeof(float))
            return rf_fail(err, RF_E_FORMAT, "%s: offset %zu: entry '%.*s': %d values, %zu bytes left "
                           "(truncated file?)", path, r.off, (int)name_len, name, nval, r.size - r.off);
        /* a name seen before: the later entry wins (llama.cpp's map) */
        imatrix_entry *e = NULL;
        for (size_t k = 0; k < m->n_entries && !e; k++)
            if (strlen(m->entries[k].name) == name_len && !memcmp(m->entries[k].name, name, name_len))
                e = &m->entries[k];
        if (e) {
            free(e->values);
            e->values = NULL;
        } else if ((e = add_entry(m, &cap)) != NULL && !(e->name = dup_n(name, name_len))) {
            e = NULL;
        }
        if (!e || !(e->values = malloc((size_t)nval * sizeof(float))))
            return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
        e->n_values = (uint64_t)nval;
        /* the sums are means times the calls: back to means */
        const float *sums = (const float *)(const void *)(r.p + r.off);
        for (int32_t j = 0; j < nval; j++) {
            float s;
            memcpy(&s, sums + j, sizeof s);
            e->values[j] = ncall > 0 ? s / (float)ncall : s;
        }
        r.off += (size_t)nval * sizeof(float);
    }
    if (r.off < r.size) {
        int32_t n_chunks, len;
        if (!read_i32(&r, &n_chunks) || !read_i32(&r, &len) || (len > 0 && (size_t)len > r.size - r.off))
            return rf_fail(err, RF_E_FORMAT, "%s: offset %zu: the trailer (chunk count, dataset) is cut short "
                           "(truncated file?)", path, r.off);
        m->chunk_count = n_chunks;
        if (len > 0) {
            const char *ds = (const char *)r.p + r.off;
            if (!(m->dataset = dup_n(ds, strnlen(ds, (size_t)len))))
                return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
        }
    }
    m->legacy = true;
    return RF_OK;
}

/* ---- the GGUF form -------------------------------------------------------- */

static const char SUM_SUFFIX[] = ".in_sum2", COUNT_SUFFIX[] = ".counts";

/* Whether t's name is BASE+suffix; *base_len gets the length of BASE. */
static bool has_suffix(const gguf_tensor *t, const char *suffix, size_t *base_len)
{
    size_t n = strlen(suffix);
    if (t->name.len <= n || memcmp(t->name.ptr + t->name.len - n, suffix, n) != 0)
        return false;
    *base_len = (size_t)t->name.len - n;
    return true;
}

/* The .counts tensor of base, or NULL. */
static const gguf_tensor *find_counts(const gguf_file *f, const char *base, size_t base_len)
{
    char name[1024];
    if (base_len + sizeof COUNT_SUFFIX > sizeof name)
        return NULL;
    memcpy(name, base, base_len);
    memcpy(name + base_len, COUNT_SUFFIX, sizeof COUNT_SUFFIX);
    return gguf_find_tensor(f, name);
}

/* One NAME.in_sum2 with its NAME.counts into e: sums over counts, per
 * matrix, 1 where the count rounds to 0. */
static rf_status read_pair(const gguf_file *f, const gguf_tensor *sums, size_t base_len, imatrix_entry *e,
                           rf_error *err)
{
    const char *path = gguf_path(f);
    const int n = (int)base_len;
    const char *base = sums->name.ptr;
    const gguf_tensor *counts = find_counts(f, base, base_len);
    if (!counts)
        return rf_fail(err, RF_E_FORMAT, "%s: tensor '%.*s%s' has no '%.*s%s' beside it", path, n, base, SUM_SUFFIX,
                       n, base, COUNT_SUFFIX);
    if (sums->type != GGML_TYPE_F32 || counts->type != GGML_TYPE_F32)
        return rf_fail(err, RF_E_FORMAT, "%s: tensors '%.*s%s' and '%s' must be f32", path, n, base, SUM_SUFFIX,
                       COUNT_SUFFIX);
    const uint64_t n_mat = counts->n_elements, nval = sums->n_elements;
    if (n_mat == 0 || nval % n_mat != 0)
        return rf_fail(err, RF_E_FORMAT, "%s: tensor '%.*s%s': %llu values do not divide into %llu matrices", path,
                       n, base, SUM_SUFFIX, (unsigned long long)nval, (unsigned long long)n_mat);
    if (!(e->name = dup_n(base, base_len)) || !(e->values = malloc(nval * sizeof(float))))
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    e->n_values = nval;
    const uint64_t ne0 = nval / n_mat;
    for (uint64_t j = 0; j < n_mat; j++) {
        float c;
        memcpy(&c, counts->data + 4 * j, 4);
        const float count = (float)lroundf(c);
        for (uint64_t i = 0; i < ne0; i++) {
            float s;
            memcpy(&s, sums->data + 4 * (j * ne0 + i), 4);
            e->values[j * ne0 + i] = count > 0.0f ? s / count : 1.0f;
        }
    }
    return RF_OK;
}

static rf_status load_gguf(imatrix *m, rf_error *err)
{
    gguf_file *f;
    rf_status s = gguf_open(m->path, &f, err);
    if (s != RF_OK)
        return s;
    const char *path = gguf_path(f);
    const gguf_kv *datasets = gguf_find_kv(f, "imatrix.datasets");
    uint32_t chunk_count, chunk_size;
    size_t cap = 0;
    if (!datasets || !gguf_find_kv(f, "imatrix.chunk_count") || !gguf_find_kv(f, "imatrix.chunk_size")) {
        s = rf_fail(err, RF_E_FORMAT, "%s: not an importance matrix: keys imatrix.datasets, imatrix.chunk_count "
                    "and imatrix.chunk_size are required", path);
        goto done;
    }
    if ((s = gguf_get_u32(f, "imatrix.chunk_count", &chunk_count, err)) != RF_OK ||
        (s = gguf_get_u32(f, "imatrix.chunk_size", &chunk_size, err)) != RF_OK)
        goto done;
    m->chunk_count = (int32_t)chunk_count;
    if (datasets->type == GGUF_VT_ARRAY && datasets->arr_type == GGUF_VT_STRING && datasets->arr_n > 0 &&
        !(m->dataset = dup_n(datasets->arr_strs[0].ptr, strnlen(datasets->arr_strs[0].ptr,
                                                               (size_t)datasets->arr_strs[0].len)))) {
        s = rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        size_t base_len;
        if (has_suffix(t, COUNT_SUFFIX, &base_len)) {
            char sums_name[1024];
            snprintf(sums_name, sizeof sums_name, "%.*s%s", (int)base_len, t->name.ptr, SUM_SUFFIX);
            if (!gguf_find_tensor(f, sums_name)) {
                s = rf_fail(err, RF_E_FORMAT, "%s: tensor '%.*s' has no '%s' beside it", path, (int)t->name.len,
                            t->name.ptr, sums_name);
                goto done;
            }
        }
        if (!has_suffix(t, SUM_SUFFIX, &base_len))
            continue;
        imatrix_entry *e = add_entry(m, &cap);
        if (!e) {
            s = rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if ((s = read_pair(f, t, base_len, e, err)) != RF_OK)
            goto done;
    }
    if (m->n_entries == 0)
        s = rf_fail(err, RF_E_FORMAT, "%s: no importance data (no NAME.in_sum2 tensors)", path);
done:
    gguf_close(f);
    return s;
}

/* ---- loading -------------------------------------------------------------- */

/* GGUF names are unique, legacy ones made so as they are read: a plain
 * sort orders them for bsearch. */
static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const imatrix_entry *)a)->name, ((const imatrix_entry *)b)->name);
}

static bool has_gguf_magic(const char *path)
{
    char magic[4];
    FILE *fp = fopen(path, "rb");
    bool yes = fp && fread(magic, 1, 4, fp) == 4 && !memcmp(magic, GGUF_MAGIC, 4);
    if (fp)
        fclose(fp);
    return yes;
}

/* The legacy form, read whole: it is small. */
static rf_status read_whole(const char *path, uint8_t **buf, size_t *size, rf_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return rf_fail(err, RF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    for (size_t got = 1; b && got > 0;) {
        if (n == cap) {
            uint8_t *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
        }
        got = fread(b + n, 1, cap - n, fp);
        n += got;
    }
    bool failed = ferror(fp);
    fclose(fp);
    if (!b)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    if (failed) {
        free(b);
        return rf_fail(err, RF_E_IO, "%s: read error", path);
    }
    *buf = b;
    *size = n;
    return RF_OK;
}

rf_status imatrix_load(const char *path, imatrix **out, rf_error *err)
{
    *out = NULL;
    imatrix *m = calloc(1, sizeof *m);
    if (!m || !(m->path = dup_n(path, strlen(path)))) {
        free(m);
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    }
    uint8_t *buf = NULL;
    size_t size = 0;
    rf_status s;
    if (has_gguf_magic(path)) {
        s = load_gguf(m, err); /* mapped by the GGUF reader */
    } else if ((s = read_whole(path, &buf, &size, err)) == RF_OK) {
        s = load_legacy(m, buf, size, err);
        free(buf);
    }
    if (s == RF_OK) {
        qsort(m->entries, m->n_entries, sizeof *m->entries, cmp_entry);
        for (size_t i = 0; i < m->n_entries && s == RF_OK; i++)
            for (uint64_t j = 0; j < m->entries[i].n_values; j++)
                if (!isfinite(m->entries[i].values[j])) {
                    s = rf_fail(err, RF_E_FORMAT, "%s: entry '%s': value %llu is %g (llama.cpp refuses a "
                                "matrix with a non-finite value)", path, m->entries[i].name,
                                (unsigned long long)j, (double)m->entries[i].values[j]);
                    break;
                }
    }
    if (s != RF_OK) {
        imatrix_free(m);
        return s;
    }
    *out = m;
    return RF_OK;
}

const imatrix_entry *imatrix_find(const imatrix *m, const char *name)
{
    const imatrix_entry key = {.name = (char *)name};
    return bsearch(&key, m->entries, m->n_entries, sizeof key, cmp_entry);
}
