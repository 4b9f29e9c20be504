/*
 * plan.c: the compiled plan file (.rfplan): writing it, and checking one
 * against what this model, compiler and program would produce.
 *
 * The format is text, one record a line, fields separated by one space:
 *
 *     rocmforge-plan 2
 *     model <file size> <fingerprint: 64 hex>
 *     arch <target id>
 *     compiler <compiler id: the rest of the line>
 *     options <compile options: the rest of the line, maybe empty>
 *     workspace <bytes> tokens <planned tokens>
 *     kernel <index> <key: 64 hex> <name>            one per kernel, index 0, 1, ...
 *     launch <kernel> <group> <only_T> <grid_x> <rows> <row_tile> <min_T> <max_T> <arg id>...
 *     end
 *
 * in that order. rows is `T` for the step's token count or a constant;
 * only_T is 0 (any step), 1 (decode steps only) or -1 (prefill only);
 * min_T and max_T bound the step's tokens further (0: no bound; format 2
 * added them, for the products that run on the matrix units only from
 * CG_MMQ_MIN_T rows). The
 * `end` line marks a whole file, so a truncated plan is malformed, not a
 * plan with fewer launches.
 *
 * Reading is strict: any deviation is RF_E_FORMAT naming PATH:LINE. The
 * check then compares in the order a user can act on: the model (a
 * different file needs a new compile), the arch, the compiler and its
 * options, then kernels and launches (a changed ROCmForge); the first
 * difference is the message, with the command that makes a fresh plan.
 * It is written under a temporary name and renamed, like the cache.
 */
#include "codegen/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen/cache.h"
#include "support/arena.h"
#include "support/error.h"

#define PLAN_MAGIC "rocmforge-plan 2"
#define PLAN_MAX_BYTES (64u << 20)

/* ---- the model's fingerprint ------------------------------------------- */

void cg_model_fingerprint(const gguf_file *f, char out[65])
{
    uint64_t size = gguf_file_size(f), end = gguf_data_offset(f);
    if (end > size)
        end = size;
    /* The mapping's start, from the first record that points into it: a key
     * sits 8 bytes (its length) after its record's offset, a tensor's name
     * likewise. gguf.h hands out pointers into the mapping, not the base. */
    const uint8_t *base = NULL;
    const gguf_kv *kv = gguf_kv_at(f, 0);
    const gguf_tensor *t = gguf_tensor_at(f, 0);
    if (kv)
        base = (const uint8_t *)kv->key.ptr - 8 - kv->offset;
    else if (t)
        base = (const uint8_t *)t->name.ptr - 8 - t->info_offset;
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(size >> (8 * i));
    cg_sha256 s;
    cg_sha256_init(&s);
    cg_sha256_update(&s, le, sizeof le);
    if (base) {
        cg_sha256_update(&s, base, (size_t)end);
    } else { /* no keys, no tensors: the header is magic, version and two zero counts */
        uint8_t h[24] = {'G', 'G', 'U', 'F'};
        uint32_t v = gguf_version(f);
        for (int i = 0; i < 4; i++)
            h[4 + i] = (uint8_t)(v >> (8 * i));
        cg_sha256_update(&s, h, sizeof h);
    }
    cg_sha256_final_hex(&s, out);
}

/* ---- writing ----------------------------------------------------------- */

static bool one_line(const char *s)
{
    return !strpbrk(s, "\n\r");
}

static bool one_word(const char *s)
{
    return *s && !strpbrk(s, " \t\n\r");
}

static void key_of(const cg_kernel *k, const cg_compiler *cc, char out[65])
{
    if (k->key[0])
        memcpy(out, k->key, 65);
    else
        cg_kernel_key(k->source, cg_compiler_arch(cc)->target, cg_compiler_id(cc), cg_compiler_options(cc), out);
}

/* The launch record without its word and newline: "0 1 0 1 T 64 0 0 3" */
static void format_launch(char *buf, size_t cap, const cg_launch *l)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "%" PRIu32 " %" PRIu32 " %d %" PRIu32 " ", l->kernel, l->group,
                          (int)l->only_T, l->grid_x);
    if (l->rows == IR_DIM_T)
        n += (size_t)snprintf(buf + n, cap - n, "T");
    else
        n += (size_t)snprintf(buf + n, cap - n, "%" PRId64, l->rows);
    n += (size_t)snprintf(buf + n, cap - n, " %" PRIu32 " %" PRIu32 " %" PRIu32, l->row_tile, l->min_T, l->max_T);
    for (uint32_t a = 0; a < l->n_args && n < cap; a++)
        n += (size_t)snprintf(buf + n, cap - n, " %" PRIu32, l->arg[a]);
}

enum { LAUNCH_TEXT = 16 * 11 + 80 }; /* 16 args of 10 digits, 6 fields of at most 20, spaces */

rf_status cg_plan_write(const char *path, const cg_program *p, const cg_compiler *cc, const gguf_file *model,
                        const ir_graph *g, rf_error *err)
{
    const char *target = cg_compiler_arch(cc)->target, *cid = cg_compiler_id(cc), *opts = cg_compiler_options(cc);
    if (!one_word(target) || !one_line(cid) || !*cid || !one_line(opts))
        return rf_fail(err, RF_E_ARG, "plan %s: the arch, compiler id or options hold a line break", path);
    for (uint32_t i = 0; i < p->n_kernels; i++)
        if (!one_word(p->kernels[i].name))
            return rf_fail(err, RF_E_ARG, "plan %s: kernel %" PRIu32 "'s name '%s' is not one word", path, i,
                           p->kernels[i].name);
    for (uint32_t i = 0; i < p->n_launches; i++)
        if (p->launches[i].kernel >= p->n_kernels || p->launches[i].n_args > CG_MAX_ARGS)
            return rf_fail(err, RF_E_ARG, "plan %s: launch %" PRIu32 " names kernel %" PRIu32 " of %" PRIu32, path, i,
                           p->launches[i].kernel, p->n_kernels);

    size_t n = strlen(path);
    char *tmp = malloc(n + 32);
    if (!tmp)
        return rf_fail(err, RF_E_NOMEM, "plan %s: out of memory", path);
    snprintf(tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        rf_status s = rf_fail(err, RF_E_IO, "plan %s: cannot create %s: %s", path, tmp, strerror(e));
        free(tmp);
        return s;
    }

    char fp[65], key[65];
    cg_model_fingerprint(model, fp);
    fprintf(out, PLAN_MAGIC "\n");
    fprintf(out, "model %" PRIu64 " %s\n", gguf_file_size(model), fp);
    fprintf(out, "arch %s\n", target);
    fprintf(out, "compiler %s\n", cid);
    fprintf(out, "options %s\n", opts);
    fprintf(out, "workspace %" PRId64 " tokens %" PRId64 "\n", g->workspace_bytes, g->plan_tokens);
    for (uint32_t i = 0; i < p->n_kernels; i++) {
        key_of(&p->kernels[i], cc, key);
        fprintf(out, "kernel %" PRIu32 " %s %s\n", i, key, p->kernels[i].name);
    }
    for (uint32_t i = 0; i < p->n_launches; i++) {
        char text[LAUNCH_TEXT];
        format_launch(text, sizeof text, &p->launches[i]);
        fprintf(out, "launch %s\n", text);
    }
    fprintf(out, "end\n");

    bool ok = fflush(out) == 0 && !ferror(out);
    int e = errno;
    if (fclose(out) != 0 && ok)
        ok = false, e = errno;
    rf_status s = RF_OK;
    if (!ok)
        s = rf_fail(err, RF_E_IO, "plan %s: cannot write %s: %s", path, tmp, strerror(e));
    else if (rename(tmp, path) != 0)
        s = rf_fail(err, RF_E_IO, "plan %s: cannot rename %s to it: %s", path, tmp, strerror(errno));
    if (s != RF_OK)
        unlink(tmp);
    free(tmp);
    return s;
}

/* ---- reading ----------------------------------------------------------- */

typedef struct plan_kernel {
    char key[65];
    const char *name;
} plan_kernel;

typedef struct plan {
    arena arena;
    uint64_t model_size;
    char fingerprint[65];
    const char *arch, *compiler, *options;
    int64_t workspace, tokens;
    plan_kernel *kernels;
    uint32_t n_kernels, cap_kernels;
    cg_launch *launches;
    uint32_t n_launches, cap_launches;
} plan;

typedef struct reader {
    const char *path;
    char *line;           /* the current line, NUL-terminated in place */
    uint32_t lineno;
    char *next;           /* the rest of the file */
    char *end;
    rf_error *err;
} reader;

static rf_status bad(reader *r, const char *what)
{
    return rf_fail(r->err, RF_E_FORMAT, "%s:%" PRIu32 ": %s", r->path, r->lineno, what);
}

/* The next line into r->line; false at the end of the file. */
static bool next_line(reader *r)
{
    if (r->next >= r->end)
        return false;
    char *nl = memchr(r->next, '\n', (size_t)(r->end - r->next));
    r->line = r->next;
    r->lineno++;
    if (nl) {
        *nl = 0;
        r->next = nl + 1;
    } else {
        r->next = r->end; /* the buffer has a NUL after the end */
    }
    return true;
}

/* The record's word: s starts with word and a space (or ends there). */
static const char *after_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(s, word, n))
        return NULL;
    if (s[n] == 0)
        return s + n;
    return s[n] == ' ' ? s + n + 1 : NULL;
}

/* One space-separated field, moved past; NULL at the end of the line.
 * Records with fields are checked by tidy() first, so no field is empty. */
static char *field(char **s)
{
    char *p = *s;
    if (!*p)
        return NULL;
    char *sp = strchr(p, ' ');
    if (sp) {
        *sp = 0;
        *s = sp + 1;
    } else {
        *s = p + strlen(p);
    }
    return p;
}

/* fields separated by single spaces: none empty, no space at either end */
static rf_status tidy(reader *r)
{
    size_t n = strlen(r->line);
    if (n && (r->line[0] == ' ' || r->line[n - 1] == ' ' || strstr(r->line, "  ")))
        return bad(r, "fields are separated by one space, with none at the ends");
    if (strpbrk(r->line, "\t\r\v\f"))
        return bad(r, "a tab or carriage return in a record");
    return RF_OK;
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!s || !*s)
        return false;
    const char *p = s;
    bool neg = *p == '-';
    if (neg)
        p++;
    if (!*p || (*p == '0' && p[1]))
        return false;
    uint64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    int64_t x = neg ? -(int64_t)v : (int64_t)v;
    if (x < lo || x > hi)
        return false;
    *out = x;
    return true;
}

static rf_status parse_header(reader *r, plan *pl)
{
    static const char *const what[] = {"'" PLAN_MAGIC "'", "'model SIZE FINGERPRINT'", "'arch TARGET'",
                                       "'compiler ID'", "'options OPTIONS'", "'workspace BYTES tokens T'"};
    char *f;
    for (int i = 0; i < 6; i++) {
        if (!next_line(r)) {
            r->lineno++; /* the line that is missing */
            char msg[128];
            snprintf(msg, sizeof msg, "the file ends where %s was expected", what[i]);
            return bad(r, msg);
        }
        char *s = r->line;
        int64_t x;
        rf_status st;
        if (i != 3 && i != 4 && (st = tidy(r)) != RF_OK)
            return st;
        switch (i) {
        case 0:
            if (strcmp(s, PLAN_MAGIC))
                return bad(r, strncmp(s, "rocmforge-plan ", 15) ? "not a plan (the first line is not '" PLAN_MAGIC "')"
                                                                : "a plan of another format version (this build reads 2)");
            break;
        case 1:
            if (!(s = (char *)after_word(s, "model")) || !(f = field(&s)) || !parse_i64(f, 0, INT64_MAX, &x))
                return bad(r, "expected 'model SIZE FINGERPRINT'");
            pl->model_size = (uint64_t)x;
            if (!(f = field(&s)) || strlen(f) != 64 || strspn(f, "0123456789abcdef") != 64 || *s)
                return bad(r, "the model's fingerprint is not 64 hex digits");
            memcpy(pl->fingerprint, f, 65);
            break;
        case 2:
            if (!(s = (char *)after_word(s, "arch")) || !(f = field(&s)) || *s)
                return bad(r, "expected 'arch TARGET'");
            pl->arch = f;
            break;
        case 3:
            if (!(s = (char *)after_word(s, "compiler")) || !*s)
                return bad(r, "expected 'compiler ID'");
            pl->compiler = s;
            break;
        case 4:
            if (!(s = (char *)after_word(s, "options")))
                return bad(r, "expected 'options OPTIONS'");
            pl->options = s;
            break;
        case 5:
            if (!(s = (char *)after_word(s, "workspace")) || !(f = field(&s)) ||
                !parse_i64(f, 0, INT64_MAX, &pl->workspace) || !(f = field(&s)) || strcmp(f, "tokens") ||
                !(f = field(&s)) || !parse_i64(f, 0, INT64_MAX, &pl->tokens) || *s)
                return bad(r, "expected 'workspace BYTES tokens T'");
            break;
        }
    }
    return RF_OK;
}

static bool grow(arena *a, void **items, uint32_t *cap, uint32_t n, size_t size)
{
    if (n < *cap)
        return true;
    uint32_t c = *cap ? *cap * 2 : 64;
    void *grown = arena_alloc(a, (size_t)c * size);
    if (!grown)
        return false;
    if (n)
        memcpy(grown, *items, (size_t)n * size);
    *items = grown;
    *cap = c;
    return true;
}

static rf_status parse_kernel(reader *r, plan *pl, char *s)
{
    char *f;
    int64_t idx;
    if (!(f = field(&s)) || !parse_i64(f, 0, UINT32_MAX, &idx))
        return bad(r, "expected 'kernel INDEX KEY NAME'");
    if ((uint64_t)idx != pl->n_kernels) {
        char msg[96];
        snprintf(msg, sizeof msg, "kernel %" PRId64 " where kernel %" PRIu32 " was expected", idx, pl->n_kernels);
        return bad(r, msg);
    }
    if (!(f = field(&s)) || strlen(f) != 64 || strspn(f, "0123456789abcdef") != 64)
        return bad(r, "the kernel's key is not 64 hex digits");
    char *key = f;
    if (!(f = field(&s)) || *s)
        return bad(r, "expected 'kernel INDEX KEY NAME'");
    if (!grow(&pl->arena, (void **)&pl->kernels, &pl->cap_kernels, pl->n_kernels, sizeof *pl->kernels))
        return rf_fail(r->err, RF_E_NOMEM, "%s: out of memory", r->path);
    plan_kernel *k = &pl->kernels[pl->n_kernels++];
    memcpy(k->key, key, 65);
    k->name = f;
    return RF_OK;
}

static rf_status parse_launch(reader *r, plan *pl, char *s)
{
    static const char usage[] = "expected 'launch KERNEL GROUP ONLY_T GRID_X ROWS ROW_TILE MIN_T MAX_T ARG...'";
    cg_launch l = {0};
    int64_t v[4], rows = 0, tile, tmin, tmax;
    char *f;
    for (int i = 0; i < 4; i++)
        if (!(f = field(&s)) || !parse_i64(f, i == 2 ? -1 : 0, i == 2 ? 1 : UINT32_MAX, &v[i]))
            return bad(r, usage);
    if (!(f = field(&s)) || (strcmp(f, "T") && !parse_i64(f, 0, INT64_MAX, &rows)))
        return bad(r, "a launch's rows are not T or a count");
    if (!strcmp(f, "T"))
        rows = IR_DIM_T;
    if (!(f = field(&s)) || !parse_i64(f, 1, UINT32_MAX, &tile))
        return bad(r, usage);
    if (!(f = field(&s)) || !parse_i64(f, 0, UINT32_MAX, &tmin) || !(f = field(&s)) ||
        !parse_i64(f, 0, UINT32_MAX, &tmax))
        return bad(r, usage);
    while ((f = field(&s))) {
        int64_t a;
        if (l.n_args == CG_MAX_ARGS)
            return bad(r, "a launch has more than 16 arguments");
        if (!parse_i64(f, 0, UINT32_MAX, &a))
            return bad(r, "a launch's argument is not a node id");
        l.arg[l.n_args++] = (uint32_t)a;
    }
    if (*s)
        return bad(r, usage);
    if ((uint64_t)v[0] >= pl->n_kernels)
        return bad(r, "the launch names a kernel the plan does not list");
    l.kernel = (uint32_t)v[0];
    l.group = (uint32_t)v[1];
    l.only_T = (int8_t)v[2];
    l.grid_x = (uint32_t)v[3];
    l.rows = rows;
    l.row_tile = (uint32_t)tile;
    l.min_T = (uint32_t)tmin;
    l.max_T = (uint32_t)tmax;
    if (!grow(&pl->arena, (void **)&pl->launches, &pl->cap_launches, pl->n_launches, sizeof *pl->launches))
        return rf_fail(r->err, RF_E_NOMEM, "%s: out of memory", r->path);
    pl->launches[pl->n_launches++] = l;
    return RF_OK;
}

static rf_status parse(reader *r, plan *pl)
{
    rf_status s = parse_header(r, pl);
    if (s != RF_OK)
        return s;
    for (;;) {
        if (!next_line(r)) {
            r->lineno++;
            return bad(r, "the file ends before its 'end' line (truncated?)");
        }
        const char *rest;
        if ((s = tidy(r)) != RF_OK)
            return s;
        if ((rest = after_word(r->line, "kernel"))) {
            if (pl->n_launches)
                return bad(r, "a kernel after the launches");
            s = parse_kernel(r, pl, (char *)rest);
        } else if ((rest = after_word(r->line, "launch"))) {
            s = parse_launch(r, pl, (char *)rest);
        } else if (!strcmp(r->line, "end")) {
            if (next_line(r))
                return bad(r, "a line after 'end'");
            return RF_OK;
        } else {
            return bad(r, "expected a 'kernel', 'launch' or 'end' record");
        }
        if (s != RF_OK)
            return s;
    }
}

static rf_status read_plan(const char *path, char **text, rf_error *err)
{
    *text = NULL;
    FILE *in = fopen(path, "rb");
    if (!in)
        return rf_fail(err, RF_E_IO, "plan %s: cannot open: %s", path, strerror(errno));
    char *buf = malloc(PLAN_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, PLAN_MAX_BYTES + 1, in) : 0;
    bool failed = buf && ferror(in);
    fclose(in);
    if (!buf)
        return rf_fail(err, RF_E_NOMEM, "plan %s: out of memory", path);
    if (failed) {
        free(buf);
        return rf_fail(err, RF_E_IO, "plan %s: cannot read", path);
    }
    if (n > PLAN_MAX_BYTES) {
        free(buf);
        return rf_fail(err, RF_E_FORMAT, "%s: more than %u MiB: not a plan", path, PLAN_MAX_BYTES >> 20);
    }
    if (memchr(buf, 0, n)) {
        free(buf);
        return rf_fail(err, RF_E_FORMAT, "%s: holds a NUL byte: not a plan", path);
    }
    buf[n] = 0;
    *text = buf;
    return RF_OK;
}

/* ---- checking ---------------------------------------------------------- */

#define RECOMPILE "; recompile with 'rocmforge compile %s -o %s'"

static bool same_launch(const cg_launch *a, const cg_launch *b)
{
    return a->kernel == b->kernel && a->group == b->group && a->only_T == b->only_T && a->grid_x == b->grid_x &&
           a->rows == b->rows && a->row_tile == b->row_tile && a->min_T == b->min_T && a->max_T == b->max_T &&
           a->n_args == b->n_args &&
           !memcmp(a->arg, b->arg, a->n_args * sizeof a->arg[0]);
}

static rf_status compare(const char *path, const plan *pl, const cg_program *p, const cg_compiler *cc,
                         const gguf_file *model, rf_error *err)
{
    const char *mpath = gguf_path(model);
    char fp[65];
    cg_model_fingerprint(model, fp);
    if (pl->model_size != gguf_file_size(model) || strcmp(pl->fingerprint, fp))
        return rf_fail(err, RF_E_ARG,
                       "plan %s was made for another model (fingerprint %.8s\u2026, this file %.8s\u2026)" RECOMPILE,
                       path, pl->fingerprint, fp, mpath, path);
    const char *target = p->arch.target[0] ? p->arch.target : cg_compiler_arch(cc)->target;
    if (strcmp(pl->arch, target))
        return rf_fail(err, RF_E_ARG, "plan %s was made for arch %s, this GPU is %s" RECOMPILE, path, pl->arch,
                       target, mpath, path);
    if (strcmp(pl->compiler, cg_compiler_id(cc)))
        return rf_fail(err, RF_E_ARG, "plan %s was made with compiler '%s', now '%s'" RECOMPILE, path, pl->compiler,
                       cg_compiler_id(cc), mpath, path);
    if (strcmp(pl->options, cg_compiler_options(cc)))
        return rf_fail(err, RF_E_ARG, "plan %s was made with compiler options '%s', now '%s'" RECOMPILE, path,
                       pl->options, cg_compiler_options(cc), mpath, path);
    if (pl->n_kernels != p->n_kernels)
        return rf_fail(err, RF_E_ARG, "plan %s has %" PRIu32 " kernels, this build generates %" PRIu32 RECOMPILE,
                       path, pl->n_kernels, p->n_kernels, mpath, path);
    for (uint32_t i = 0; i < p->n_kernels; i++) {
        char key[65];
        key_of(&p->kernels[i], cc, key);
        if (strcmp(pl->kernels[i].name, p->kernels[i].name))
            return rf_fail(err, RF_E_ARG, "plan %s: kernel %" PRIu32 " is '%s', this build generates '%s'" RECOMPILE,
                           path, i, pl->kernels[i].name, p->kernels[i].name, mpath, path);
        if (strcmp(pl->kernels[i].key, key))
            return rf_fail(err, RF_E_ARG,
                           "plan %s: kernel %" PRIu32 " '%s' has key %.8s\u2026, this build's source gives %.8s\u2026"
                           RECOMPILE, path, i, p->kernels[i].name, pl->kernels[i].key, key, mpath, path);
    }
    if (pl->n_launches != p->n_launches)
        return rf_fail(err, RF_E_ARG, "plan %s has %" PRIu32 " launches, this build makes %" PRIu32 RECOMPILE, path,
                       pl->n_launches, p->n_launches, mpath, path);
    for (uint32_t i = 0; i < p->n_launches; i++) {
        if (same_launch(&pl->launches[i], &p->launches[i]))
            continue;
        char was[LAUNCH_TEXT], now[LAUNCH_TEXT];
        format_launch(was, sizeof was, &pl->launches[i]);
        format_launch(now, sizeof now, &p->launches[i]);
        return rf_fail(err, RF_E_ARG, "plan %s: launch %" PRIu32 " is '%s', this build's is '%s'" RECOMPILE, path, i,
                       was, now, mpath, path);
    }
    return RF_OK;
}

rf_status cg_plan_check(const char *path, const cg_program *p, const cg_compiler *cc, const gguf_file *model,
                        rf_error *err)
{
    char *text;
    rf_status s = read_plan(path, &text, err);
    if (s != RF_OK)
        return s;
    plan pl = {0};
    arena_init(&pl.arena);
    reader r = {.path = path, .next = text, .end = text + strlen(text), .err = err};
    s = parse(&r, &pl);
    if (s == RF_OK)
        s = compare(path, &pl, p, cc, model, err);
    arena_free(&pl.arena);
    free(text);
    return s;
}
