/*
 * test_tokenizer_conformance.c: our tokenizer against llama.cpp's, on every
 * vocabulary llama.cpp ships (models/ggml-vocab-*.gguf of the fetched
 * reference, found by scanning the directory; none found is a failure).
 *
 * Four suites, one CUnit test per vocab file in each:
 *   golden        the .inp/.out vectors: each text, encoded without BOS/EOS
 *                 and without special-token parsing (as test-tokenizer-0
 *                 does), gives exactly the listed ids.
 *   roundtrip     for SPM and BPE vocabs, the checks of llama.cpp's
 *                 test-tokenizer-1-{spm,bpe}: every token's text re-encodes to
 *                 ids that decode to the same text, and so does every code
 *                 point (all of them for two vocabs, a sample for the rest).
 *                 llama.cpp itself fails some of these (its BPE variants are
 *                 disabled upstream), so an item that fails here counts only
 *                 when llama.cpp, asked through llama_ref, does differently.
 *   differential seeded random texts nobody wrote down (scripts of many
 *                 kinds, whitespace and digit runs, contractions, emoji, the
 *                 vocab's own special-token texts, code) encoded under all
 *                 four flag combinations and compared with llama_ref, and
 *                 texts with invalid UTF-8 without and with parse_special; then
 *                 llama.cpp's ids decoded by both, and every single token id
 *                 decoded by both.
 *   cli           `rocmforge info/tokenize/detokenize` agree with the library.
 *
 * A part that does not apply to a vocab (golden without vectors, roundtrip
 * of a WPM or UGM vocab) is registered inactive and listed as skipped; a
 * comparison with llama.cpp that cannot be made (llama_ref failing) fails.
 *
 * Each test runs in a forked child with a time limit, so a crash or a hang in
 * the tokenizer under test fails that vocab only, and the other vocabs still
 * report. Children write their findings to a report file; the parent prints
 * it and appends it to $BUILD/mismatches.txt, which holds the per-vocab
 * summaries of the whole run for the tokenizer's authors to read.
 *
 * This file is over the usual length because the four suites share the
 * vocab discovery, the child harness and the llama_ref plumbing.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frontend/gguf.h"
#include "frontend/tokenizer.h"

#define MAX_VOCABS 64
#define N_RANDOM_TEXTS 400
#define N_BAD_TEXTS 100    /* with invalid UTF-8 */
#define SHOW_FIRST 5       /* mismatches printed in full per test */
#define CHILD_TIME_LIMIT 240 /* seconds per vocab and suite */

static const char SEP[] = "\n__ggml_vocab_test__\n";

typedef struct vocab_file {
    char path[4400];
    char name[256];    /* "llama-spm" */
    bool golden;       /* has .inp and .out */
    char model[16];    /* tokenizer.ggml.model: "llama", "gpt2", "bert", ... */
} vocab_file;

static vocab_file g_vocabs[MAX_VOCABS];
static int g_n_vocabs;
static FILE *g_report; /* the child's report */

/* ---- small helpers ------------------------------------------------------ */

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(g_report ? g_report : stdout, fmt, ap);
    va_end(ap);
}

/* Escapes control bytes, quote and backslash; UTF-8 passes through. */
static void report_text(const char *s, size_t n)
{
    report("\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') report("\\n");
        else if (c == '\t') report("\\t");
        else if (c == '\r') report("\\r");
        else if (c == '"' || c == '\\') report("\\%c", c);
        else if (c < 0x20 || c == 0x7f) report("\\x%02x", c);
        else report("%c", c);
    }
    report("\"");
}

static void report_ids(const int32_t *ids, size_t n)
{
    report("[");
    for (size_t i = 0; i < n; i++)
        report(i ? " %d" : "%d", (int)ids[i]);
    report("]");
}

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void buf_put(buf *b, const void *data, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->n + n + 1 > cap)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            abort();
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void buf_puts(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_putf(buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void put_utf8(buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    buf_put(b, u, n);
}

static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* Splits s[0..n) into texts separated by SEP the way test-tokenizer-0 reads
 * .inp files: a separator at the very end does not start another text. */
static size_t split_texts(char *s, size_t n, char ***texts, size_t **lens)
{
    size_t cap = 64, count = 0, pos = 0, seplen = sizeof SEP - 1;
    *texts = malloc(cap * sizeof **texts);
    *lens = malloc(cap * sizeof **lens);
    while (pos < n) {
        char *next = memmem(s + pos, n - pos, SEP, seplen);
        size_t end = next ? (size_t)(next - s) : n;
        if (count == cap) {
            cap *= 2;
            *texts = realloc(*texts, cap * sizeof **texts);
            *lens = realloc(*lens, cap * sizeof **lens);
        }
        (*texts)[count] = s + pos;
        (*lens)[count] = end - pos;
        count++;
        if (!next)
            break;
        pos = end + seplen;
    }
    return count;
}

/* Lines of space-separated ids (llama_ref tokenize's output, .out files). */
typedef struct id_lines {
    tok_ids *lines;
    size_t n;
} id_lines;

static void id_lines_free(id_lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        tok_ids_free(&l->lines[i]);
    free(l->lines);
    l->lines = NULL;
    l->n = 0;
}

static bool parse_id_lines(const char *s, id_lines *out)
{
    size_t cap = 64;
    out->n = 0;
    out->lines = calloc(cap, sizeof *out->lines);
    while (*s) {
        const char *eol = strchr(s, '\n');
        if (!eol)
            eol = s + strlen(s);
        if (out->n == cap) {
            out->lines = realloc(out->lines, 2 * cap * sizeof *out->lines);
            memset(out->lines + cap, 0, cap * sizeof *out->lines);
            cap *= 2;
        }
        tok_ids *ids = &out->lines[out->n++];
        const char *p = s;
        while (p < eol) {
            if (*p == ' ' || *p == '\t' || *p == '\r') { p++; continue; }
            char *e;
            long v = strtol(p, &e, 10);
            if (e == p || e > eol)
                return false;
            if (tok_ids_push(ids, (int32_t)v) != RF_OK)
                return false;
            p = e;
        }
        s = *eol ? eol + 1 : eol;
    }
    return true;
}

static bool ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || !memcmp(a, b, na * sizeof *a));
}

/* ---- loading a vocab ---------------------------------------------------- */

typedef struct loaded {
    gguf_file *f;
    tok_vocab *v;
} loaded;

static bool load(const vocab_file *vf, loaded *l)
{
    rf_error err = {0};
    l->f = NULL;
    l->v = NULL;
    if (gguf_open(vf->path, &l->f, &err) != RF_OK) {
        report("%s: gguf_open failed: %s\n", vf->name, err.msg);
        return false;
    }
    if (tok_vocab_load(l->f, &l->v, &err) != RF_OK) {
        report("%s: tok_vocab_load failed: %s\n", vf->name, err.msg);
        gguf_close(l->f);
        return false;
    }
    return true;
}

static void unload(loaded *l)
{
    tok_vocab_free(l->v);
    gguf_close(l->f);
}

/* ---- llama_ref ---------------------------------------------------------- */

static const char *llama_ref_bin(void) { return RF_BINARY_DIR "/tests/llama_ref"; }

/* One `llama_ref batch` job: OP reads file IN and writes file OUT. */
typedef struct ref_job {
    const char *op, *in, *out;
} ref_job;

/* Runs the jobs on one load of the vocab (loading is most of llama.cpp's
 * time on a few hundred texts). */
static bool llama_ref_batch(const vocab_file *vf, const ref_job *jobs, size_t n)
{
    buf cmd = {0};
    buf_putf(&cmd, "'%s' batch ", llama_ref_bin());
    buf_puts(&cmd, "'");
    buf_puts(&cmd, vf->path);
    buf_puts(&cmd, "'");
    for (size_t i = 0; i < n; i++) {
        buf_putf(&cmd, " %s '", jobs[i].op);
        buf_puts(&cmd, jobs[i].in);
        buf_puts(&cmd, "' '");
        buf_puts(&cmd, jobs[i].out);
        buf_puts(&cmd, "'");
    }
    int status, signo;
    free(test_run(cmd.p, &status, &signo));
    if (status != 0) /* its stderr went to ours */
        report("%s: llama_ref batch failed (status %d, signal %d)\n", vf->name, status, signo);
    free(cmd.p);
    return status == 0;
}

/* llama_ref's tokenize output: one id line per text. */
static bool read_ref_ids(const vocab_file *vf, const char *path, size_t n_expected, id_lines *out)
{
    char *s = test_read_file(path, NULL);
    bool ok = s && parse_id_lines(s, out);
    free(s);
    if (!ok || out->n != n_expected) {
        report("%s: llama_ref wrote %zu id lines to %s for %zu texts\n", vf->name, out->n, path,
               n_expected);
        return false;
    }
    return true;
}

/* llama_ref's detokenize output: texts (into *store) and their lengths. */
static bool read_ref_texts(const vocab_file *vf, const char *path, size_t n_expected, char **store,
                           char ***texts, size_t **lens)
{
    size_t len = 0;
    *texts = NULL;
    *lens = NULL;
    *store = test_read_file(path, &len);
    if (!*store) {
        report("%s: cannot read %s\n", vf->name, path);
        return false;
    }
    size_t n = split_texts(*store, len, texts, lens);
    if (n != n_expected) {
        report("%s: llama_ref wrote %zu texts to %s for %zu id lines\n", vf->name, n, path,
               n_expected);
        return false;
    }
    return true;
}

static void write_id_lines(const char *path, tok_ids *lines, size_t n)
{
    buf b = {0};
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < lines[i].n; k++)
            buf_putf(&b, k ? " %d" : "%d", (int)lines[i].ids[k]);
        buf_puts(&b, "\n");
    }
    test_write_file(path, b.p ? b.p : "", b.n);
    free(b.p);
}

/* ---- the child harness -------------------------------------------------- */

typedef int (*vocab_test_fn)(const vocab_file *vf); /* returns the failure count */

static void run_isolated(const char *suite, vocab_test_fn fn, int vi)
{
    const vocab_file *vf = &g_vocabs[vi];
    char name[512];
    snprintf(name, sizeof name, "report-%s-%s.txt", suite, vf->name);
    const char *rpath = test_tmp_path(name);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        g_report = fopen(rpath, "w");
        if (!g_report)
            _exit(99);
        setvbuf(g_report, NULL, _IOLBF, 0);
        alarm(CHILD_TIME_LIMIT);
        int failures = fn(vf);
        fclose(g_report);
        _exit(failures ? 1 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    size_t len = 0;
    char *text = test_read_file(rpath, &len);
    char verdict[256];
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        snprintf(verdict, sizeof verdict, "PASS");
    else if (WIFEXITED(st))
        snprintf(verdict, sizeof verdict, "FAIL");
    else
        snprintf(verdict, sizeof verdict, "FAIL: %s (signal %d)%s",
                 WTERMSIG(st) == SIGALRM ? "timed out" : "crashed", WTERMSIG(st),
                 WTERMSIG(st) == SIGALRM ? "" : ", report cut short");
    printf("\n%s", text ? text : "");
    printf("== %s %s: %s\n", suite, vf->name, verdict);
    FILE *mf = fopen(RF_BINARY_DIR "/mismatches.txt", "a");
    if (mf) {
        fprintf(mf, "%s== %s %s: %s\n\n", text ? text : "", suite, vf->name, verdict);
        fclose(mf);
    }
    free(text);
    CU_ASSERT_TRUE_FATAL(WIFEXITED(st));
    CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
}

/* ---- a. the golden .inp/.out vectors ------------------------------------ */

static int test_golden(const vocab_file *vf)
{
    char p[4500];
    snprintf(p, sizeof p, "%s.inp", vf->path);
    size_t inp_len, out_len;
    char *inp = test_read_file(p, &inp_len);
    snprintf(p, sizeof p, "%s.out", vf->path);
    char *out = test_read_file(p, &out_len);
    if (!inp || !out) {
        report("%s: cannot read .inp/.out\n", vf->name);
        return 1;
    }
    char **texts;
    size_t *lens;
    size_t n = split_texts(inp, inp_len, &texts, &lens);
    id_lines want;
    if (!parse_id_lines(out, &want) || want.n != n) {
        report("%s: %zu texts in .inp but %zu lines in .out\n", vf->name, n, want.n);
        return 1;
    }
    loaded l;
    if (!load(vf, &l))
        return 1;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        tok_ids got = {0};
        rf_error err = {0};
        rf_status s = tok_encode(l.v, texts[i], lens[i], 0, &got, &err);
        if (s != RF_OK || !ids_equal(got.ids, got.n, want.lines[i].ids, want.lines[i].n)) {
            if (bad++ < 3 * SHOW_FIRST) {
                report("%s: input %zu ", vf->name, i);
                report_text(texts[i], lens[i]);
                report("\n  want ");
                report_ids(want.lines[i].ids, want.lines[i].n);
                if (s != RF_OK)
                    report("\n  got  error: %s\n", err.msg);
                else {
                    report("\n  got  ");
                    report_ids(got.ids, got.n);
                    report("\n");
                }
            }
        }
        tok_ids_free(&got);
    }
    report("golden %s: %zu inputs, %d mismatches\n", vf->name, n, bad);
    unload(&l);
    id_lines_free(&want);
    free(texts);
    free(lens);
    free(inp);
    free(out);
    return bad;
}

/* ---- b. round trips (test-tokenizer-1-spm / -bpe) ------------------------ */

/* One round-trip item: the text, and our decode(encode(text)) when it differs. */
typedef struct rt_fail {
    char *text;
    size_t len;
    char *ours;
    size_t ours_len;
    const char *what; /* "token 123" / "code point U+1234" */
    char label[64];
    bool parse_special;
} rt_fail;

/* decode(encode(text)) with our tokenizer; returns false on an error. */
static bool our_roundtrip(const tok_vocab *v, const char *text, size_t len, unsigned enc_flags,
                          char **out, size_t *out_len)
{
    tok_ids ids = {0};
    rf_error err = {0};
    bool ok = tok_encode(v, text, len, enc_flags, &ids, &err) == RF_OK &&
              tok_decode(v, ids.ids, ids.n, TOK_DECODE_SPECIAL, out, out_len, &err) == RF_OK;
    tok_ids_free(&ids);
    return ok;
}

static void rt_record(rt_fail **fails, size_t *n, size_t *cap, const char *text, size_t len,
                      char *ours, size_t ours_len, bool parse_special, const char *label)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *fails = realloc(*fails, *cap * sizeof **fails);
    }
    rt_fail *f = &(*fails)[(*n)++];
    f->text = malloc(len + 1);
    memcpy(f->text, text, len);
    f->text[len] = 0;
    f->len = len;
    f->ours = ours;
    f->ours_len = ours ? ours_len : 0;
    f->parse_special = parse_special;
    snprintf(f->label, sizeof f->label, "%s", label);
}

#define RT_VERIFY_MAX 4000 /* failures checked against llama.cpp per vocab */

/* Asks llama.cpp for its decode(encode(text)) of our failures, in two
 * batches (with and without parse_special); returns how many of our failures
 * llama.cpp does not share. */
static int rt_verify(const vocab_file *vf, rt_fail *fails, size_t n)
{
    int bad = 0, shown = 0;
    size_t shared = 0;
    /* two batches, with and without parse_special, in one llama_ref run */
    size_t *idx[2], m[2] = {0, 0};
    ref_job jobs[4];
    size_t n_jobs = 0;
    char inp[2][4400], ids[2][4400], txt[2][4400];
    for (int ps = 0; ps < 2; ps++) {
        buf in = {0};
        idx[ps] = malloc((n + 1) * sizeof *idx[ps]);
        for (size_t i = 0; i < n && i < RT_VERIFY_MAX; i++) {
            if (fails[i].parse_special != (ps == 1))
                continue;
            buf_put(&in, fails[i].text, fails[i].len);
            buf_puts(&in, SEP);
            idx[ps][m[ps]++] = i;
        }
        snprintf(inp[ps], sizeof inp[ps], "%s", test_tmp_path(ps ? "rt1.inp" : "rt0.inp"));
        snprintf(ids[ps], sizeof ids[ps], "%s", test_tmp_path(ps ? "rt1.ids" : "rt0.ids"));
        snprintf(txt[ps], sizeof txt[ps], "%s", test_tmp_path(ps ? "rt1.txt" : "rt0.txt"));
        if (m[ps]) {
            test_write_file(inp[ps], in.p, in.n);
            jobs[n_jobs++] = (ref_job){ps ? "tokenize+parse-special" : "tokenize", inp[ps], ids[ps]};
            jobs[n_jobs++] = (ref_job){"detokenize+special", ids[ps], txt[ps]};
        }
        free(in.p);
    }
    bool ran = llama_ref_batch(vf, jobs, n_jobs);
    for (int ps = 0; ps < 2; ps++) {
        if (!m[ps]) {
            free(idx[ps]);
            continue;
        }
        char *store = NULL, **texts = NULL;
        size_t *lens = NULL;
        bool ok = ran && read_ref_texts(vf, txt[ps], m[ps], &store, &texts, &lens);
        for (size_t k = 0; k < m[ps]; k++) {
            rt_fail *f = &fails[idx[ps][k]];
            if (ok && f->ours && lens[k] == f->ours_len && !memcmp(texts[k], f->ours, f->ours_len)) {
                if (shared++ < 2) {
                    report("%s: %s: ", vf->name, f->label);
                    report_text(f->text, f->len);
                    report(" round-trips to ");
                    report_text(f->ours, f->ours_len);
                    report(" here and in llama.cpp\n");
                }
                continue;
            }
            bad++;
            if (shown++ < SHOW_FIRST) {
                report("%s: %s: ", vf->name, f->label);
                report_text(f->text, f->len);
                report(" round-trips to ");
                if (f->ours)
                    report_text(f->ours, f->ours_len);
                else
                    report("(error)");
                if (ok) {
                    report(", llama.cpp gives ");
                    report_text(texts[k], lens[k]);
                }
                report("\n");
            }
        }
        free(store);
        free(texts);
        free(lens);
        free(idx[ps]);
    }
    if (n > RT_VERIFY_MAX) {
        report("%s: %zu more round-trip failures not checked against llama.cpp\n", vf->name,
               n - RT_VERIFY_MAX);
        bad += (int)(n - RT_VERIFY_MAX);
    }
    if (shared)
        report("%s: %zu round-trip failures that llama.cpp shares (ignored)\n", vf->name, shared);
    return bad;
}

/* Vocabs whose code points are all checked; the rest get every 13th. */
static bool rt_full_codepoints(const char *name)
{
    return !strcmp(name, "llama-spm") || !strcmp(name, "llama-bpe");
}

/* Is the roundtrip part registered for vf? llama.cpp's test-tokenizer-1
 * has checks for SPM ("llama") and BPE ("gpt2", "gemma4": tok_vocab.c's
 * mapping) vocabs only; WPM and UGM normalize text (case, accents), so their
 * round trips are not the identity and the part is reported skipped. */
static bool roundtrip_applies(const vocab_file *vf)
{
    return !strcmp(vf->model, "llama") || !strcmp(vf->model, "gpt2") || !strcmp(vf->model, "gemma4");
}

static int test_roundtrip(const vocab_file *vf)
{
    loaded l;
    if (!load(vf, &l))
        return 1;
    tok_kind kind = tok_vocab_kind(l.v);
    if (kind != TOK_KIND_SPM && kind != TOK_KIND_BPE) { /* roundtrip_applies() disagrees */
        report("roundtrip %s: tokenizer.ggml.model '%s' is not an SPM or BPE vocab to our tokenizer\n",
               vf->name, vf->model);
        unload(&l);
        return 1;
    }
    bool spm = kind == TOK_KIND_SPM;
    rt_fail *fails = NULL;
    size_t n_fail = 0, cap = 0, n_tokens_checked = 0, n_cps = 0;
    char label[64];

    /* every token's text, encoded with parse_special, decodes to itself */
    uint32_t n_vocab = tok_vocab_n_tokens(l.v);
    for (uint32_t id = 0; id < n_vocab; id++) {
        int32_t one = (int32_t)id;
        char *str = NULL, *check = NULL;
        size_t len = 0, clen = 0;
        rf_error err = {0};
        if (tok_decode(l.v, &one, 1, TOK_DECODE_SPECIAL, &str, &len, &err) != RF_OK) {
            snprintf(label, sizeof label, "token %u", id);
            rt_record(&fails, &n_fail, &cap, "", 0, NULL, 0, true, label);
            continue;
        }
        if (!spm && !utf8_valid(str, len)) { /* test-tokenizer-1-bpe skips these */
            free(str);
            continue;
        }
        n_tokens_checked++;
        bool ok = our_roundtrip(l.v, str, len, TOK_PARSE_SPECIAL, &check, &clen);
        if (!ok || clen != len || memcmp(check, str, len)) {
            snprintf(label, sizeof label, "token %u", id);
            rt_record(&fails, &n_fail, &cap, str, len, ok ? check : NULL, clen, true, label);
            if (!ok)
                free(check);
        } else {
            free(check);
        }
        free(str);
    }

    /* every code point (but surrogates and the unassigned planes 4..14) */
    uint32_t step = rt_full_codepoints(vf->name) ? 1 : 13;
    for (uint32_t cp = 1 + (uint32_t)(strlen(vf->name) % step); cp < 0x110000; cp += step) {
        if ((cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x40000 && cp <= 0xE0000) || cp == 0x2581)
            continue; /* U+2581 is SentencePiece's space marker; llama.cpp skips it too */
        buf b = {0};
        put_utf8(&b, cp);
        n_cps++;
        unsigned flags = spm ? TOK_PARSE_SPECIAL : 0;
        char *check = NULL;
        size_t clen = 0;
        bool ok = our_roundtrip(l.v, b.p, b.n, flags, &check, &clen);
        if (!ok || clen != b.n || memcmp(check, b.p, b.n)) {
            snprintf(label, sizeof label, "code point U+%04X", cp);
            rt_record(&fails, &n_fail, &cap, b.p, b.n, ok ? check : NULL, clen, spm, label);
            if (!ok)
                free(check);
        } else {
            free(check);
        }
        free(b.p);
    }

    int bad = n_fail ? rt_verify(vf, fails, n_fail) : 0;
    report("roundtrip %s (%s): %zu tokens, %zu code points (every %u), %zu local failures, "
           "%d mismatches with llama.cpp\n",
           vf->name, spm ? "spm" : "bpe", n_tokens_checked, n_cps, step, n_fail, bad);
    for (size_t i = 0; i < n_fail; i++) {
        free(fails[i].text);
        free(fails[i].ours);
    }
    free(fails);
    unload(&l);
    return bad;
}

/* ---- c. differential testing on random text ------------------------------ */

static const char *const WORDS[] = {
    "the", "The", "THE", "hello", "Hello", "world", "World", "a", "I", "is", "don", "won",
    "tokenizer", "llama", "GGUF", "inference", "x", "y", "foo", "bar", "baz", "Qwen", "HTTP",
    "camelCase", "snake_case", "UPPER", "lower", "MixedCASE", "ab", "xyzzy", "ok", "OK",
};
static const char *const CONTRACTIONS[] = {
    "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D",
    "n't", "'", "''", "' ",
};
static const char *const PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
static const char *const SCRIPTS[] = {
    /* accented Latin, precomposed and decomposed */
    "café", "naïve", "Ångström", "über", "señor", "façade", "Øresund", "Łódź", "e\xCC\x81",
    "A\xCC\x8A", "ǅemal", "ﬁne",
    /* Cyrillic, Greek */
    "Привет", "мир", "Български", "ёжик", "Ελληνικά", "λόγος", "ΣΊΣΥΦΟΣ", "ς",
    /* CJK, kana, Hangul */
    "我想在", "工作", "漢字", "中文测试", "ひらがな", "カタカナ", "日本語", "한국어", "안녕하세요",
    "～", "１２３", "ＡＢＣ",
    /* Arabic, Hebrew, Devanagari, Thai, Khmer */
    "مرحبا", "العربية", "שלום", "नमस्ते", "हिन्दी", "ภาษาไทย", "កាន់តែពិសេស",
    /* emoji, with ZWJ sequences, modifiers and variation selectors */
    "🦙", "😀", "🚀", "✅", "❤️", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "😶‍🌫️", "🇩🇪", "©", "™", "∑", "→",
    /* odd spaces and format characters */
    "\xC2\xA0", "\xE2\x80\x8B", "\xE3\x80\x80", "\xE2\x80\xAF", "\xEF\xBB\xBF", "\xC2\xAD",
};
static const char *const CODE[] = {
    "int main(void) {\n\treturn 0;\n}\n", "def f(x):\n    return x ** 2\n",
    "for (i = 0; i < n; i++) a[i] += b[i];", "if x == 1:\n        pass", "#include <stdio.h>",
    "    \n    ", "x=>x*2", "<div class=\"a\">&amp;</div>", "SELECT * FROM t WHERE id=42;",
    "printf(\"%d\\n\", 3);", "```python\nprint('hi')\n```", "a && b || !c", "0x1F3A9",
    "3.14159e-10", "1,000,000", "$1.99", "12:30pm", "2024-01-02T03:04:05Z",
};

typedef struct special_texts {
    const char **s;
    size_t *len;
    size_t n;
} special_texts;

/* Texts of control and user-defined tokens, from the GGUF metadata. */
static special_texts get_special_texts(const gguf_file *f, uint64_t *rng)
{
    special_texts st = {0};
    const gguf_kv *tokens = NULL, *types = NULL;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STRING, &tokens, NULL) != RF_OK)
        return st;
    (void)gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_VT_INT32, &types, NULL);
    size_t cap = 0;
    uint64_t *cand = NULL, nc = 0;
    for (uint64_t i = 0; types && i < types->arr_n && i < tokens->arr_n; i++) {
        int64_t t = gguf_arr_int(types, i);
        if (t == 3 || t == 4) {
            if (nc == cap) {
                cap = cap ? 2 * cap : 64;
                cand = realloc(cand, cap * sizeof *cand);
            }
            cand[nc++] = i;
        }
    }
    size_t take = nc < 48 ? nc : 48;
    st.s = calloc(take + 1, sizeof *st.s);
    st.len = calloc(take + 1, sizeof *st.len);
    for (size_t k = 0; k < take; k++) {
        uint64_t i = nc <= 48 ? cand[k] : cand[test_rand(rng) % nc];
        st.s[st.n] = tokens->arr_strs[i].ptr;
        st.len[st.n] = tokens->arr_strs[i].len;
        if (st.len[st.n] && !memchr(st.s[st.n], 0, st.len[st.n]))
            st.n++;
    }
    free(cand);
    return st;
}

static uint32_t random_codepoint(uint64_t *rng)
{
    for (;;) {
        uint64_t r = test_rand(rng);
        uint32_t cp;
        switch (r % 8) {
        case 0: cp = 0x20 + (uint32_t)(r >> 8) % 0x5F; break;      /* ASCII */
        case 1: cp = 0x80 + (uint32_t)(r >> 8) % 0x780; break;     /* two-byte */
        case 2: cp = 0x300 + (uint32_t)(r >> 8) % 0x70; break;     /* combining marks */
        case 3: case 4: cp = 0x800 + (uint32_t)(r >> 8) % 0xF800; break; /* BMP */
        case 5: cp = 0x1F300 + (uint32_t)(r >> 8) % 0x700; break;  /* emoji */
        case 6: cp = 0x10000 + (uint32_t)(r >> 8) % 0x100000; break; /* anything */
        default: cp = 1 + (uint32_t)(r >> 8) % 0x7F; break;        /* incl. controls */
        }
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        return cp;
    }
}

static void random_text(buf *b, uint64_t *rng, const special_texts *sp)
{
#define R(n) ((size_t)(test_rand(rng) % (n)))
#define PICK(arr) arr[R(sizeof arr / sizeof arr[0])]
    size_t pieces = 1 + R(12);
    for (size_t p = 0; p < pieces; p++) {
        switch (R(16)) {
        case 0: case 1: buf_puts(b, PICK(WORDS)); break;
        case 2: { /* digits of many lengths */
            size_t n = 1 + R(R(4) ? 6 : 24);
            for (size_t i = 0; i < n; i++) buf_putf(b, "%c", (char)('0' + R(10)));
            break;
        }
        case 3: { /* whitespace runs */
            static const char *const ws[] = {" ", " ", " ", "\t", "\n", "\r", "\r\n", "\n\n"};
            size_t n = 1 + R(R(3) ? 3 : 9);
            for (size_t i = 0; i < n; i++) buf_puts(b, PICK(ws));
            break;
        }
        case 4: { /* punctuation runs */
            size_t n = 1 + R(4);
            for (size_t i = 0; i < n; i++) buf_putf(b, "%c", PUNCT[R(strlen(PUNCT))]);
            break;
        }
        case 5: buf_puts(b, PICK(WORDS)); buf_puts(b, PICK(CONTRACTIONS)); break;
        case 6: case 7: buf_puts(b, PICK(SCRIPTS)); break;
        case 8: { /* combining marks on a base */
            put_utf8(b, R(2) ? 'a' + (uint32_t)R(26) : 0x3B1 + (uint32_t)R(20));
            size_t n = 1 + R(3);
            for (size_t i = 0; i < n; i++) put_utf8(b, 0x300 + (uint32_t)R(0x70));
            break;
        }
        case 9: case 10: /* the vocab's own special tokens, maybe spaced */
            if (sp->n) {
                size_t k = R(sp->n);
                if (R(3) == 0) buf_puts(b, " ");
                buf_put(b, sp->s[k], sp->len[k]);
                if (R(3) == 0) buf_puts(b, R(2) ? " " : "\n");
            } else {
                buf_puts(b, "<s>");
            }
            break;
        case 11: buf_puts(b, PICK(CODE)); break;
        case 12: { /* random valid code points */
            size_t n = 1 + R(6);
            for (size_t i = 0; i < n; i++) put_utf8(b, random_codepoint(rng));
            break;
        }
        case 13: { /* random letters */
            size_t n = 1 + R(10);
            for (size_t i = 0; i < n; i++) buf_putf(b, "%c", (char)((R(4) ? 'a' : 'A') + R(26)));
            break;
        }
        default: buf_puts(b, " "); break;
        }
        if (R(3) == 0)
            buf_puts(b, " ");
    }
#undef PICK
#undef R
}

static uint64_t seed_of(const char *name)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h ? h : 1;
}

static const struct {
    unsigned flags;
    const char *op, *name, *file;
} ENCODE_CONFIGS[] = {
    {0, "tokenize", "no flags", "tok0.ids"},
    {TOK_PARSE_SPECIAL, "tokenize+parse-special", "parse-special", "tok1.ids"},
    {TOK_ADD_SPECIAL, "tokenize+special", "add-special", "tok2.ids"},
    {TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, "tokenize+special+parse-special",
     "add-special parse-special", "tok3.ids"},
};
#define N_CONFIGS (sizeof ENCODE_CONFIGS / sizeof ENCODE_CONFIGS[0])

/* Our decoding of each id line against llama.cpp's (in ref_path). */
static int compare_decodes(const vocab_file *vf, const loaded *l, const char *what,
                           const tok_ids *lines, size_t n, bool special, const char *ref_path,
                           const char *const *inputs, const size_t *input_lens)
{
    char *store, **texts;
    size_t *lens;
    int bad = 0;
    if (!read_ref_texts(vf, ref_path, n, &store, &texts, &lens)) {
        free(store);
        free(texts);
        free(lens);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        char *ours = NULL;
        size_t olen = 0;
        rf_error err = {0};
        rf_status s = tok_decode(l->v, lines[i].ids, lines[i].n, special ? TOK_DECODE_SPECIAL : 0,
                                 &ours, &olen, &err);
        if (s != RF_OK || olen != lens[i] || memcmp(ours, texts[i], olen)) {
            if (bad++ < SHOW_FIRST) {
                report("%s: decode%s of %s ", vf->name, special ? " [special]" : "", what);
                report_ids(lines[i].ids, lines[i].n);
                if (inputs) {
                    report(" (encoding ");
                    report_text(inputs[i], input_lens[i]);
                    report(")");
                }
                report("\n  llama.cpp ");
                report_text(texts[i], lens[i]);
                if (s != RF_OK)
                    report("\n  ours      error: %s\n", err.msg);
                else {
                    report("\n  ours      ");
                    report_text(ours, olen);
                    report("\n");
                }
            }
        }
        free(ours);
    }
    free(store);
    free(texts);
    free(lens);
    return bad;
}

/* Our encoding of each text against llama.cpp's ids (in ref_path). When
 * keep is not NULL, llama.cpp's ids are handed back through it. */
static int compare_encodes(const vocab_file *vf, const loaded *l, const char *what,
                           unsigned flags, const char *ref_path, const char *const *texts,
                           const size_t *lens, size_t n, id_lines *keep)
{
    id_lines ref = {0};
    if (!read_ref_ids(vf, ref_path, n, &ref)) {
        id_lines_free(&ref);
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        tok_ids got = {0};
        rf_error err = {0};
        rf_status s = tok_encode(l->v, texts[i], lens[i], flags, &got, &err);
        if (s != RF_OK || !ids_equal(got.ids, got.n, ref.lines[i].ids, ref.lines[i].n)) {
            if (bad++ < SHOW_FIRST) {
                report("%s: encode [%s] of text %zu ", vf->name, what, i);
                report_text(texts[i], lens[i]);
                report("\n  llama.cpp ");
                report_ids(ref.lines[i].ids, ref.lines[i].n);
                if (s != RF_OK)
                    report("\n  ours      error: %s\n", err.msg);
                else {
                    report("\n  ours      ");
                    report_ids(got.ids, got.n);
                    report("\n");
                }
            }
        }
        tok_ids_free(&got);
    }
    report("differential %s: encode [%s]: %d of %zu texts differ\n", vf->name, what, bad, n);
    if (keep)
        *keep = ref;
    else
        id_lines_free(&ref);
    return bad;
}

/* Byte sequences that are not UTF-8: stray continuation and lead bytes,
 * truncated sequences, a surrogate, overlong forms, a five-byte form. Not
 * "\xf4\x90\x80\x80" (above U+10FFFF): llama.cpp aborts on it in every
 * vocab but SPM ones ("invalid codepoint"), so there is nothing to match. */
static const char *const BAD_UTF8[] = {
    "\xff", "\xfe", "\x80", "\xbf", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xed\xa0\x80",
    "\xc0\xaf", "\xe0\x80\xaf", "\xf8\x88\x80\x80\x80", "\xc3\x28",
};

static void random_bad_text(buf *b, uint64_t *rng, const special_texts *sp)
{
    size_t k = 1 + test_rand(rng) % 3;
    for (size_t i = 0; i < k; i++) {
        if (test_rand(rng) % 2)
            random_text(b, rng, sp);
        buf_puts(b, BAD_UTF8[test_rand(rng) % (sizeof BAD_UTF8 / sizeof BAD_UTF8[0])]);
    }
    if (test_rand(rng) % 2)
        random_text(b, rng, sp);
}

static int test_differential(const vocab_file *vf)
{
    loaded l;
    if (!load(vf, &l))
        return 1;
    uint64_t rng = seed_of(vf->name);
    special_texts sp = get_special_texts(l.f, &rng);

    /* the random texts, as an .inp file */
    buf all = {0};
    const char **texts = calloc(N_RANDOM_TEXTS, sizeof *texts);
    size_t *lens = calloc(N_RANDOM_TEXTS, sizeof *lens);
    buf *bufs = calloc(N_RANDOM_TEXTS, sizeof *bufs);
    for (size_t i = 0; i < N_RANDOM_TEXTS; i++) {
        do {
            bufs[i].n = 0;
            random_text(&bufs[i], &rng, &sp);
        } while (memmem(bufs[i].p, bufs[i].n, "__ggml_vocab_test__", 19));
        texts[i] = bufs[i].p;
        lens[i] = bufs[i].n;
        buf_put(&all, bufs[i].p, bufs[i].n);
        buf_puts(&all, SEP);
    }
    char inp[4400], singles_path[4400], paths[N_CONFIGS][4400], dec[4][4400];
    snprintf(inp, sizeof inp, "%s", test_tmp_path("diff.inp"));
    test_write_file(inp, all.p, all.n);

    /* texts with invalid UTF-8, which llama.cpp tokenizes rather than rejects */
    all.n = 0;
    const char **bad_texts = calloc(N_BAD_TEXTS, sizeof *bad_texts);
    size_t *bad_lens = calloc(N_BAD_TEXTS, sizeof *bad_lens);
    buf *bad_bufs = calloc(N_BAD_TEXTS, sizeof *bad_bufs);
    for (size_t i = 0; i < N_BAD_TEXTS; i++) {
        do {
            bad_bufs[i].n = 0;
            random_bad_text(&bad_bufs[i], &rng, &sp);
        } while (memmem(bad_bufs[i].p, bad_bufs[i].n, "__ggml_vocab_test__", 19));
        bad_texts[i] = bad_bufs[i].p;
        bad_lens[i] = bad_bufs[i].n;
        buf_put(&all, bad_bufs[i].p, bad_bufs[i].n);
        buf_puts(&all, SEP);
    }
    char bad_inp[4400], bad_paths[2][4400];
    snprintf(bad_inp, sizeof bad_inp, "%s", test_tmp_path("bad.inp"));
    test_write_file(bad_inp, all.p, all.n);
    free(all.p);

    /* every single token id, one per line */
    uint32_t n_vocab = tok_vocab_n_tokens(l.v);
    tok_ids *singles = calloc(n_vocab ? n_vocab : 1, sizeof *singles);
    for (uint32_t id = 0; id < n_vocab; id++)
        tok_ids_push(&singles[id], (int32_t)id);
    snprintf(singles_path, sizeof singles_path, "%s", test_tmp_path("singles.ids"));
    write_id_lines(singles_path, singles, n_vocab);

    /* llama.cpp: encode under every configuration, decode the ids of the
     * last (add_special + parse_special) and every single token */
    ref_job jobs[N_CONFIGS + 4];
    size_t n_jobs = 0;
    for (size_t c = 0; c < N_CONFIGS; c++) {
        snprintf(paths[c], sizeof paths[c], "%s", test_tmp_path(ENCODE_CONFIGS[c].file));
        jobs[n_jobs++] = (ref_job){ENCODE_CONFIGS[c].op, inp, paths[c]};
    }
    static const char *const dec_names[4] = {"dec.txt", "dec-special.txt", "singles.txt",
                                             "singles-special.txt"};
    for (int k = 0; k < 4; k++) {
        snprintf(dec[k], sizeof dec[k], "%s", test_tmp_path(dec_names[k]));
        jobs[n_jobs++] = (ref_job){k & 1 ? "detokenize+special" : "detokenize",
                                   k < 2 ? paths[N_CONFIGS - 1] : singles_path, dec[k]};
    }
    int bad_total = 0;
    bool ran = llama_ref_batch(vf, jobs, n_jobs);
    /* apart, so that llama.cpp aborting on some invalid text costs only these */
    ref_job bad_jobs[2];
    for (int k = 0; k < 2; k++) {
        snprintf(bad_paths[k], sizeof bad_paths[k], "%s", test_tmp_path(k ? "bad1.ids" : "bad0.ids"));
        bad_jobs[k] = (ref_job){k ? "tokenize+parse-special" : "tokenize", bad_inp, bad_paths[k]};
    }
    bool bad_ran = llama_ref_batch(vf, bad_jobs, 2);
    if (!bad_ran)
        report("%s: llama.cpp failed on the invalid UTF-8 texts (%s); not compared: a failure\n", vf->name,
               bad_inp);
    bad_total += !ran + !bad_ran; /* a comparison that could not be made fails */

    id_lines ref_full = {0}; /* llama.cpp's ids with add_special and parse_special */
    for (size_t c = 0; c < N_CONFIGS && ran; c++)
        bad_total += compare_encodes(vf, &l, ENCODE_CONFIGS[c].name, ENCODE_CONFIGS[c].flags,
                                     paths[c], texts, lens, N_RANDOM_TEXTS,
                                     c == N_CONFIGS - 1 ? &ref_full : NULL);
    for (int k = 0; k < 2 && bad_ran; k++)
        bad_total += compare_encodes(vf, &l, k ? "invalid utf-8, parse-special" : "invalid utf-8",
                                     k ? TOK_PARSE_SPECIAL : 0, bad_paths[k], bad_texts, bad_lens,
                                     N_BAD_TEXTS, NULL);

    /* decoding: llama.cpp's ids of the random texts, then every single token */
    if (ref_full.n) {
        for (int special = 0; special < 2; special++) {
            int bad = compare_decodes(vf, &l, "llama.cpp's ids", ref_full.lines, ref_full.n,
                                      special, dec[special], texts, lens);
            report("differential %s: decode%s: %d of %zu id lists differ\n", vf->name,
                   special ? " [special]" : "", bad, ref_full.n);
            bad_total += bad;
        }
        for (int special = 0; special < 2; special++) {
            int bad = compare_decodes(vf, &l, "token", singles, n_vocab, special, dec[2 + special],
                                      NULL, NULL);
            report("differential %s: single-token decode%s: %d of %u tokens differ\n", vf->name,
                   special ? " [special]" : "", bad, n_vocab);
            bad_total += bad;
        }
    }
    id_lines_free(&ref_full);

    for (uint32_t id = 0; id < n_vocab; id++)
        tok_ids_free(&singles[id]);
    free(singles);
    for (size_t i = 0; i < N_RANDOM_TEXTS; i++)
        free(bufs[i].p);
    free(bufs);
    for (size_t i = 0; i < N_BAD_TEXTS; i++)
        free(bad_bufs[i].p);
    free(bad_bufs);
    free(bad_texts);
    free(bad_lens);
    free(texts);
    free(lens);
    free(sp.s);
    free(sp.len);
    unload(&l);
    return bad_total;
}

/* ---- d. the command-line tool -------------------------------------------- */

static void shell_quote(buf *b, const char *s, size_t n)
{
    buf_puts(b, "'");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'')
            buf_puts(b, "'\\''");
        else
            buf_put(b, &s[i], 1);
    }
    buf_puts(b, "'");
}

static int test_cli(const vocab_file *vf)
{
    int bad = 0, status, signo;
    buf cmd = {0};
    buf_putf(&cmd, "'%s' info '%s' >/dev/null", test_rocmforge_bin(), vf->path);
    free(test_run(cmd.p, &status, &signo));
    if (status != 0) {
        report("%s: `rocmforge info` exited with status %d (signal %d)\n", vf->name, status, signo);
        bad++;
    }
    loaded l;
    if (!load(vf, &l)) {
        free(cmd.p);
        return bad + 1;
    }
    /* Each run loads the vocab again, so few inputs: the CLI adds only
     * argument handling and printing to the library. */
    static const char *const inputs[] = {
        " Hello, y'all! How are you 😁 ?我想在apple工作1314151天～ <s></s> <|endoftext|> [CLS]",
        "\tline one\n  line two  \n",
    };
    static const struct {
        const char *opts;
        unsigned flags;
    } modes[] = {{"", TOK_ADD_SPECIAL}, {"--no-bos", 0}, {"--special", TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL}};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
            tok_ids want = {0};
            rf_error err = {0};
            if (tok_encode(l.v, inputs[i], strlen(inputs[i]), modes[m].flags, &want, &err) != RF_OK) {
                report("%s: tok_encode failed: %s\n", vf->name, err.msg);
                bad++;
                continue;
            }
            cmd.n = 0;
            buf_putf(&cmd, "'%s' tokenize %s '%s' -- ", test_rocmforge_bin(), modes[m].opts, vf->path);
            shell_quote(&cmd, inputs[i], strlen(inputs[i]));
            char *out = test_run(cmd.p, &status, &signo);
            id_lines got = {0};
            bool ok = out && status == 0 && parse_id_lines(out, &got) && got.n == 1 &&
                      ids_equal(got.lines[0].ids, got.lines[0].n, want.ids, want.n);
            if (!ok) {
                bad++;
                report("%s: `rocmforge tokenize %s` of ", vf->name, modes[m].opts);
                report_text(inputs[i], strlen(inputs[i]));
                report(" (status %d): library ", status);
                report_ids(want.ids, want.n);
                report(", cli printed ");
                report_text(out ? out : "", out ? strlen(out) : 0);
                report("\n");
            }
            id_lines_free(&got);
            free(out);

            /* and back, for the ids that hold special tokens */
            for (int special = 0; special < 2 && modes[m].flags & TOK_PARSE_SPECIAL; special++) {
                char *text = NULL;
                size_t len = 0;
                if (tok_decode(l.v, want.ids, want.n, special ? TOK_DECODE_SPECIAL : 0, &text, &len,
                               &err) != RF_OK) {
                    report("%s: tok_decode failed: %s\n", vf->name, err.msg);
                    bad++;
                    continue;
                }
                cmd.n = 0;
                buf_putf(&cmd, "'%s' detokenize '%s'%s", test_rocmforge_bin(), vf->path,
                         special ? " --special" : "");
                for (size_t k = 0; k < want.n; k++)
                    buf_putf(&cmd, " %d", (int)want.ids[k]);
                out = test_run(cmd.p, &status, &signo);
                size_t olen = out ? strlen(out) : 0;
                if (!out || status != 0 || olen != len + 1 || memcmp(out, text, len) ||
                    out[len] != '\n') {
                    bad++;
                    report("%s: `rocmforge detokenize%s` of ", vf->name, special ? " --special" : "");
                    report_ids(want.ids, want.n);
                    report(" (status %d): library ", status);
                    report_text(text, len);
                    report(" + newline, cli printed ");
                    report_text(out ? out : "", olen);
                    report("\n");
                }
                free(out);
                free(text);
            }
            tok_ids_free(&want);
        }
    }
    report("cli %s: %d problems\n", vf->name, bad);
    unload(&l);
    free(cmd.p);
    return bad;
}

/* ---- registration -------------------------------------------------------- */

static int cmp_vocab(const void *a, const void *b)
{
    return strcmp(((const vocab_file *)a)->name, ((const vocab_file *)b)->name);
}

static bool file_exists(const char *path) { return access(path, R_OK) == 0; }

static void find_vocabs(void)
{
    const char *dir = test_ref_models_dir();
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && g_n_vocabs < MAX_VOCABS) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "ggml-vocab-", 11) || n < 16 || strcmp(e->d_name + n - 5, ".gguf"))
            continue;
        vocab_file *vf = &g_vocabs[g_n_vocabs++];
        snprintf(vf->path, sizeof vf->path, "%s/%s", dir, e->d_name);
        snprintf(vf->name, sizeof vf->name, "%.*s", (int)(n - 16), e->d_name + 11);
        char p[4500];
        snprintf(p, sizeof p, "%s.inp", vf->path);
        bool inp = file_exists(p);
        snprintf(p, sizeof p, "%s.out", vf->path);
        vf->golden = inp && file_exists(p);
        /* the tokenizer model, by our reader alone (no tokenizer code runs
         * outside the children); unreadable, it stays "" and the vocab's
         * own tests fail in their children */
        gguf_file *f = NULL;
        gguf_str m;
        if (gguf_open(vf->path, &f, NULL) == RF_OK &&
            gguf_get_str(f, "tokenizer.ggml.model", &m, NULL) == RF_OK)
            snprintf(vf->model, sizeof vf->model, "%.*s", (int)(m.len < 15 ? m.len : 15), m.ptr);
        gguf_close(f);
    }
    closedir(d);
    qsort(g_vocabs, (size_t)g_n_vocabs, sizeof g_vocabs[0], cmp_vocab);
}

static void test_found_vocabs(void)
{
    if (g_n_vocabs == 0)
        printf("\nno ggml-vocab-*.gguf in %s (run scripts/fetch-reference.sh)\n",
               test_ref_models_dir());
    CU_ASSERT_TRUE_FATAL(g_n_vocabs > 0);
    int golden = 0;
    for (int i = 0; i < g_n_vocabs; i++)
        golden += g_vocabs[i].golden;
    CU_ASSERT_TRUE(golden > 0);
    CU_ASSERT_EQUAL(access(llama_ref_bin(), X_OK), 0);
}

/* CUnit tests take no argument, so each vocab index gets its own function. */
#define SLOT(i)                                                             \
    static void golden_##i(void) { run_isolated("golden", test_golden, i); } \
    static void roundtrip_##i(void) { run_isolated("roundtrip", test_roundtrip, i); } \
    static void differential_##i(void) { run_isolated("differential", test_differential, i); } \
    static void cli_##i(void) { run_isolated("cli", test_cli, i); }
#define SLOTS10(b) SLOT(b##0) SLOT(b##1) SLOT(b##2) SLOT(b##3) SLOT(b##4) \
    SLOT(b##5) SLOT(b##6) SLOT(b##7) SLOT(b##8) SLOT(b##9)
SLOT(0) SLOT(1) SLOT(2) SLOT(3) SLOT(4) SLOT(5) SLOT(6) SLOT(7) SLOT(8) SLOT(9)
SLOTS10(1) SLOTS10(2) SLOTS10(3) SLOTS10(4) SLOTS10(5)
SLOT(60) SLOT(61) SLOT(62) SLOT(63)
#undef SLOTS10
#undef SLOT

typedef void (*slot_fn)(void);
#define ROW(i) {golden_##i, roundtrip_##i, differential_##i, cli_##i}
#define ROWS10(b) ROW(b##0), ROW(b##1), ROW(b##2), ROW(b##3), ROW(b##4), \
    ROW(b##5), ROW(b##6), ROW(b##7), ROW(b##8), ROW(b##9)
static const slot_fn SLOTS[MAX_VOCABS][4] = {
    ROW(0), ROW(1), ROW(2), ROW(3), ROW(4), ROW(5), ROW(6), ROW(7), ROW(8), ROW(9),
    ROWS10(1), ROWS10(2), ROWS10(3), ROWS10(4), ROWS10(5),
    ROW(60), ROW(61), ROW(62), ROW(63),
};
#undef ROWS10
#undef ROW

int main(int argc, char **argv)
{
    /* `test_tokenizer_conformance SUITE [VOCAB]` runs a part, for debugging */
    const char *only_suite = argc > 1 ? argv[1] : NULL;
    const char *only_vocab = argc > 2 ? argv[2] : NULL;
    find_vocabs();
    FILE *mf = fopen(RF_BINARY_DIR "/mismatches.txt", "w");
    if (mf) {
        fprintf(mf, "tokenizer conformance against llama.cpp (%s)\n\n", test_ref_models_dir());
        fclose(mf);
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    /* a part that does not apply to a vocab (golden without .inp/.out,
     * roundtrip of a WPM or UGM vocab) is registered inactive: CUnit counts
     * it under "Inactive", the run lists it as skipped, and it is not a pass */
    CU_set_fail_on_inactive(CU_FALSE);
    CU_pSuite s = CU_add_suite("vocabs", NULL, NULL);
    CU_add_test(s, "reference vocabs and llama_ref are there", test_found_vocabs);
    static const char *const suites[4] = {"golden", "roundtrip", "differential", "cli"};
    int n_skipped = 0;
    for (int k = 0; k < 4; k++) {
        if (only_suite && strcmp(only_suite, suites[k]))
            continue;
        s = CU_add_suite(suites[k], NULL, NULL);
        for (int i = 0; i < g_n_vocabs; i++) {
            if (only_vocab && strcmp(only_vocab, g_vocabs[i].name))
                continue;
            CU_pTest t = CU_add_test(s, g_vocabs[i].name, SLOTS[i][k]);
            const char *why = k == 0 && !g_vocabs[i].golden          ? "no .inp/.out vectors"
                              : k == 1 && !roundtrip_applies(&g_vocabs[i]) ? "not an SPM or BPE vocab"
                                                                          : NULL;
            if (why) {
                printf("skipped: %s %s (%s%s%s)\n", suites[k], g_vocabs[i].name, why,
                       g_vocabs[i].model[0] ? ", tokenizer.ggml.model " : "", g_vocabs[i].model);
                CU_set_test_active(t, CU_FALSE);
                n_skipped++;
            }
        }
    }
    int rc = test_main();
    if (n_skipped)
        printf("%d vocab parts skipped (Inactive above), listed at the start\n", n_skipped);
    return rc;
}
