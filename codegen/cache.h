/*
 * cache.h: the on-disk kernel cache, and building a program through it.
 *
 * One file per code object under the cache directory ($ROCMFORGE_CACHE,
 * else $XDG_CACHE_HOME/rocmforge, else ~/.cache/rocmforge), named by its
 * key: the hex SHA-256 of the rendered source, the arch target id, the
 * compiler id and the compile options. A file starts with a header (magic,
 * format version, key, arch, compiler id, kernel name, payload size and the
 * payload's SHA-256) that is checked on every load; a short, corrupt or
 * foreign file is reported through the warning callback and recompiled,
 * never trusted. Files are written to a temporary name in the same
 * directory and renamed into place, so a reader sees a whole file or none
 * and two processes compiling the same model both succeed.
 */
#ifndef RF_CODEGEN_CACHE_H
#define RF_CODEGEN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "codegen/codegen.h"
#include "codegen/target.h"

typedef struct cg_cache cg_cache;

/* dir NULL: the default above. Creates the directory (and parents). */
rf_status cg_cache_open(const char *dir, cg_cache **out, rf_error *err);
void cg_cache_close(cg_cache *c);
const char *cg_cache_dir(const cg_cache *c);

/* SHA-256 (sha256.c). out: 64 hex digits and a NUL */
void cg_sha256_hex(const void *data, size_t n, char out[65]);
/* incremental: init, update any number of times, final once */
typedef struct cg_sha256 {
    uint32_t h[8];
    uint64_t n_bytes;
    uint8_t buf[64];
} cg_sha256;
void cg_sha256_init(cg_sha256 *s);
void cg_sha256_update(cg_sha256 *s, const void *data, size_t n);
void cg_sha256_final(cg_sha256 *s, uint8_t out[32]);
void cg_sha256_final_hex(cg_sha256 *s, char out[65]);
/* n bytes as 2n lowercase hex digits and a NUL */
void cg_hex(const uint8_t *bytes, size_t n, char *out);

/* The key: SHA-256 over the four strings, each length-prefixed, so no two
 * different tuples hash the same bytes. */
void cg_kernel_key(const char *source, const char *target, const char *compiler_id, const char *options,
                   char out[65]);

typedef void (*cg_progress_fn)(void *ctx, uint32_t done, uint32_t total);
typedef void (*cg_warn_fn)(void *ctx, const char *msg);

typedef struct cg_build_stats {
    uint32_t compiled;     /* compiled now (corrupt entries included) */
    uint32_t cached;       /* loaded from the cache */
    uint32_t corrupt;      /* cache files rejected and recompiled */
    double seconds;
} cg_build_stats;

/* Fills key, code, code_size and cached of every kernel of p: loads each
 * valid cache entry, compiles the rest on n_threads threads (<= 0: the
 * machine's cores) and stores them. progress is called after each kernel
 * (from any thread, serialised); warn for every rejected cache file. */
rf_status cg_build_program(cg_program *p, cg_compiler *cc, cg_cache *cache, int n_threads, cg_progress_fn progress,
                           cg_warn_fn warn, void *ctx, cg_build_stats *stats, rf_error *err);

/* One entry by hand (cg_build_program uses these). load: RF_OK with *code
 * malloc'd when a valid file for key exists whose header names this target,
 * compiler and kernel; RF_E_NOTFOUND when there is none or it was rejected
 * (then warn, if given, was called with "kernel cache: PATH: WHAT; recompiling"
 * and *rejected, if given, set); RF_E_IO/RF_E_NOMEM for a file that exists
 * but cannot be read. store: writes "KEY.rfko.tmp.PID.N" and renames it to
 * "KEY.rfko"; on failure the temporary file is gone and err names the path. */
rf_status cg_cache_load(cg_cache *c, const char *key, const char *target, const char *compiler_id,
                        const char *kernel_name, void **code, size_t *size, cg_warn_fn warn, void *ctx,
                        bool *rejected, rf_error *err);
rf_status cg_cache_store(cg_cache *c, const char *key, const char *target, const char *compiler_id,
                         const char *kernel_name, const void *code, size_t size, rf_error *err);
/* the path of key's file (malloc'd; NULL when out of memory) */
char *cg_cache_path(const cg_cache *c, const char *key);

/* `rocmforge cache ls|verify|clear`: one line per entry to out (key, size,
 * arch, compiler, kernel name); verify checks every header and payload hash
 * and counts the bad ones (it removes none); clear removes our files only. */
rf_status cg_cache_list(cg_cache *c, FILE *out, uint32_t *n_entries, uint64_t *bytes, rf_error *err);
rf_status cg_cache_verify(cg_cache *c, FILE *out, uint32_t *n_ok, uint32_t *n_bad, rf_error *err);
rf_status cg_cache_clear(cg_cache *c, uint32_t *n_removed, rf_error *err);

#endif
