/*
 * llama_ref.c: tokenize and detokenize with llama.cpp itself, the reference.
 *
 *   llama_ref tokenize   VOCAB.gguf [--special] [--parse-special] < texts
 *   llama_ref detokenize VOCAB.gguf [--special]                   < id lines
 *   llama_ref info       VOCAB.gguf
 *   llama_ref batch      VOCAB.gguf [OP INPUT OUTPUT]...
 *
 * tokenize reads texts separated by "\n__ggml_vocab_test__\n", the format of
 * llama.cpp's models/ggml-vocab-*.gguf.inp files, split the way its
 * test-tokenizer-0 splits them (a trailing separator ends the last text; it
 * does not start an empty one), and prints one line of space-separated ids per
 * text. --special is llama_tokenize's add_special, --parse-special its
 * parse_special. detokenize reads one line of ids per text and prints each
 * text followed by the line "__ggml_vocab_test__", so that tokenize's output
 * fed back through detokenize reads like an .inp file again; --special renders
 * control tokens (unparse_special), remove_special is always off.
 *
 * batch runs several of those on one load of the vocab (loading a large
 * vocab costs llama.cpp a second or two): OP is tokenize or detokenize, with
 * "+special" and (tokenize only) "+parse-special" appended for the options,
 * and each job reads INPUT and writes OUTPUT, in order, so a later job may
 * read what an earlier one wrote.
 *
 * The library is the prebuilt libllama from scripts/fetch-reference.sh,
 * dlopen()ed by full path from $REF/lib (its RUNPATH finds ggml beside it),
 * so this tool neither links against nor includes anything of llama.cpp: the
 * few prototypes it calls are declared below (and in llama_dl.h, shared with
 * llama_eval) from include/llama.h of the same release. llama_model_params
 * is passed by value, so its layout is mirrored field by field and checked
 * at run time against the documented defaults;
 * a mismatch (a new release reordering fields) stops the tool rather than
 * load with garbage flags.
 *
 * Exit status: 0 ok, 1 usage or I/O, 2 the library or vocab failed to load.
 */
#define _GNU_SOURCE
#include "llama_dl.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the slice of llama.h we use beyond llama_dl.h ---------------------- */

/* Returned and passed in memory (it is over 16 bytes); the slack keeps a
 * slightly larger struct in a future release from writing past our buffer
 * before the run-time check below notices. */
struct params_slot {
    struct llama_model_params p;
    unsigned char slack[256];
};

typedef void (*ggml_log_callback)(int level, const char *text, void *user_data);

static struct {
    void (*backend_init)(void);
    struct params_slot (*model_default_params)(void);
    struct llama_model *(*model_load_from_file)(const char *path, struct params_slot params);
    void (*model_free)(struct llama_model *model);
    const struct llama_vocab *(*model_get_vocab)(const struct llama_model *model);
    int32_t (*vocab_n_tokens)(const struct llama_vocab *vocab);
    int32_t (*tokenize)(const struct llama_vocab *vocab, const char *text, int32_t text_len,
                        llama_token *tokens, int32_t n_tokens_max, bool add_special,
                        bool parse_special);
    int32_t (*detokenize)(const struct llama_vocab *vocab, const llama_token *tokens,
                          int32_t n_tokens, char *text, int32_t text_len_max,
                          bool remove_special, bool unparse_special);
    void (*log_set)(ggml_log_callback cb, void *user_data);
} L;

static const char SEP[] = "\n__ggml_vocab_test__\n";

static int usage(void);

static void quiet_log(int level, const char *text, void *user_data)
{
    (void)level, (void)text, (void)user_data;
}

static void load_library(void)
{
    void *lib = llama_dl_open("libllama.v0.5.0.so");
    /* Object and function pointers share a representation on every platform
     * dlsym exists on; POSIX requires it. */
#define BIND(field, name) *(void **)&L.field = llama_dl_sym(lib, name)
    BIND(backend_init, "llama_backend_init");
    BIND(model_default_params, "llama_model_default_params");
    BIND(model_load_from_file, "llama_model_load_from_file");
    BIND(model_free, "llama_model_free");
    BIND(model_get_vocab, "llama_model_get_vocab");
    BIND(vocab_n_tokens, "llama_vocab_n_tokens");
    BIND(tokenize, "llama_tokenize");
    BIND(detokenize, "llama_detokenize");
    BIND(log_set, "llama_log_set");
#undef BIND
}

static struct llama_model *load_vocab(const char *path)
{
    L.log_set(quiet_log, NULL);
    L.backend_init();
    struct params_slot ps;
    memset(&ps, 0, sizeof ps);
    ps = L.model_default_params();
    struct llama_model_params *p = &ps.p;
    /* The defaults documented in llama_model_default_params(); anything else
     * means the struct above no longer matches the library. */
    if (p->devices || p->tensor_buft_overrides || p->n_gpu_layers != -1 || p->split_mode != 1 ||
        p->main_gpu != 0 || p->tensor_split || p->progress_callback || p->kv_overrides ||
        p->vocab_only || p->check_tensors || !p->use_extra_bufts || p->no_host || p->no_alloc) {
        fprintf(stderr, "llama_ref: llama_model_params layout does not match this libllama\n");
        exit(2);
    }
    p->vocab_only = true;
    struct llama_model *m = L.model_load_from_file(path, ps);
    if (!m) {
        fprintf(stderr, "llama_ref: llama.cpp failed to load %s\n", path);
        exit(2);
    }
    return m;
}

static char *read_all(FILE *in, size_t *len)
{
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap + 1);
    while (buf && (r = fread(buf + n, 1, cap - n, in)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (!buf || ferror(in)) {
        fprintf(stderr, "llama_ref: cannot read the input\n");
        exit(1);
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static void tokenize_one(const struct llama_vocab *vocab, const char *text, size_t len,
                         bool add_special, bool parse_special, FILE *out)
{
    if (len > INT32_MAX / 2) {
        fprintf(stderr, "llama_ref: text too long\n");
        exit(1);
    }
    int32_t cap = (int32_t)len + 8;
    llama_token *ids = malloc((size_t)cap * sizeof *ids);
    int32_t n = ids ? L.tokenize(vocab, text, (int32_t)len, ids, cap, add_special, parse_special) : 0;
    if (ids && n < 0 && n != INT32_MIN) {
        cap = -n;
        free(ids);
        ids = malloc((size_t)cap * sizeof *ids);
        n = ids ? L.tokenize(vocab, text, (int32_t)len, ids, cap, add_special, parse_special) : 0;
    }
    if (!ids || n < 0) {
        fprintf(stderr, "llama_ref: llama_tokenize failed (%d)\n", (int)n);
        exit(1);
    }
    for (int32_t i = 0; i < n; i++)
        fprintf(out, i ? " %d" : "%d", (int)ids[i]);
    fputc('\n', out);
    free(ids);
}

static int cmd_tokenize(const struct llama_vocab *vocab, bool add_special, bool parse_special,
                        FILE *inf, FILE *out)
{
    size_t len;
    char *in = read_all(inf, &len);
    size_t pos = 0, seplen = sizeof SEP - 1;
    while (pos < len) {
        const char *next = memmem(in + pos, len - pos, SEP, seplen);
        size_t end = next ? (size_t)(next - in) : len;
        tokenize_one(vocab, in + pos, end - pos, add_special, parse_special, out);
        if (!next)
            break;
        pos = end + seplen;
    }
    free(in);
    return fflush(out) == 0 && !ferror(out) ? 0 : 1;
}

static int cmd_detokenize(const struct llama_vocab *vocab, bool special, FILE *inf, FILE *out)
{
    int32_t n_vocab = L.vocab_n_tokens(vocab);
    size_t len;
    char *in = read_all(inf, &len);
    llama_token *ids = malloc((len / 2 + 1) * sizeof *ids);
    size_t text_cap = 1 << 16;
    char *text = malloc(text_cap);
    if (!ids || !text) {
        fprintf(stderr, "llama_ref: out of memory\n");
        return 1;
    }
    char *line = in, *stop = in + len;
    int lineno = 0;
    while (line < stop) {
        char *eol = memchr(line, '\n', (size_t)(stop - line));
        if (!eol)
            eol = stop;
        *eol = 0;
        lineno++;
        int32_t n = 0;
        char *s = line, *e;
        for (;;) {
            while (*s == ' ' || *s == '\t' || *s == '\r')
                s++;
            if (!*s)
                break;
            errno = 0;
            long v = strtol(s, &e, 10);
            if (e == s || errno || v < 0 || v >= n_vocab) {
                fprintf(stderr, "llama_ref: line %d: bad token id near '%.20s'\n", lineno, s);
                return 1;
            }
            ids[n++] = (llama_token)v;
            s = e;
        }
        int32_t r = L.detokenize(vocab, ids, n, text, (int32_t)text_cap, false, special);
        if (r < 0) {
            text_cap = (size_t)-r + 1;
            free(text);
            text = malloc(text_cap);
            r = text ? L.detokenize(vocab, ids, n, text, (int32_t)text_cap, false, special) : -1;
        }
        if (r < 0) {
            fprintf(stderr, "llama_ref: llama_detokenize failed on line %d\n", lineno);
            return 1;
        }
        fwrite(text, 1, (size_t)r, out);
        fputs(SEP, out);
        line = eol + 1;
    }
    free(ids);
    free(text);
    free(in);
    return fflush(out) == 0 && !ferror(out) ? 0 : 1;
}

/* One batch job: "tokenize[+special][+parse-special]" or "detokenize[+special]". */
static int run_job(const struct llama_vocab *vocab, const char *op, const char *in_path,
                   const char *out_path)
{
    bool tokenize = !strncmp(op, "tokenize", 8), special = false, parse_special = false;
    const char *rest = op + (tokenize ? 8 : 10);
    if (!tokenize && strncmp(op, "detokenize", 10))
        return usage();
    while (*rest) {
        if (!strncmp(rest, "+special", 8) && !special) {
            special = true;
            rest += 8;
        } else if (tokenize && !strncmp(rest, "+parse-special", 14) && !parse_special) {
            parse_special = true;
            rest += 14;
        } else {
            return usage();
        }
    }
    FILE *in = fopen(in_path, "rb");
    if (!in) {
        fprintf(stderr, "llama_ref: cannot open %s: %s\n", in_path, strerror(errno));
        return 1;
    }
    FILE *out = fopen(out_path, "wb");
    if (!out) {
        fprintf(stderr, "llama_ref: cannot create %s: %s\n", out_path, strerror(errno));
        fclose(in);
        return 1;
    }
    int rc = tokenize ? cmd_tokenize(vocab, special, parse_special, in, out)
                      : cmd_detokenize(vocab, special, in, out);
    fclose(in);
    if (fclose(out) != 0)
        rc = 1;
    return rc;
}

static int usage(void)
{
    static bool shown;
    if (shown)
        return 1;
    shown = true;
    fprintf(stderr,
            "usage: llama_ref tokenize VOCAB.gguf [--special] [--parse-special] < texts\n"
            "       llama_ref detokenize VOCAB.gguf [--special] < id-lines\n"
            "       llama_ref info VOCAB.gguf\n"
            "       llama_ref batch VOCAB.gguf [OP INPUT OUTPUT]...\n"
            "         OP: tokenize[+special][+parse-special] | detokenize[+special]\n"
            "texts are separated by lines \"__ggml_vocab_test__\" as in llama.cpp's .inp files\n");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    const char *mode = argv[1], *path = argv[2];
    bool special = false, parse_special = false;
    bool batch = !strcmp(mode, "batch");
    if (batch && (argc - 3) % 3 != 0)
        return usage();
    for (int i = 3; i < argc && !batch; i++) {
        if (!strcmp(argv[i], "--special"))
            special = true;
        else if (!strcmp(argv[i], "--parse-special") && !strcmp(mode, "tokenize"))
            parse_special = true;
        else
            return usage();
    }
    if (strcmp(mode, "tokenize") && strcmp(mode, "detokenize") && strcmp(mode, "info") && !batch)
        return usage();

    load_library();
    struct llama_model *model = load_vocab(path);
    const struct llama_vocab *vocab = L.model_get_vocab(model);
    int rc = 0;
    if (batch) {
        for (int i = 3; i < argc && rc == 0; i += 3)
            rc = run_job(vocab, argv[i], argv[i + 1], argv[i + 2]);
    } else if (!strcmp(mode, "tokenize")) {
        rc = cmd_tokenize(vocab, special, parse_special, stdin, stdout);
    } else if (!strcmp(mode, "detokenize")) {
        rc = cmd_detokenize(vocab, special, stdin, stdout);
    } else {
        printf("n_tokens %d\n", (int)L.vocab_n_tokens(vocab));
        rc = 0;
    }
    L.model_free(model);
    return rc;
}
