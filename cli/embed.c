/*
 * embed.c: `rocmforge embed MODEL TEXT... [--pooling mean|cls|last|none]
 *           [--normalize N] [--json] [--tokens IDS]... [--backend B] [--threads N]`.
 *
 * An embedding model's (bert, nomic-bert) vector for each TEXT, tokenized
 * as llama.cpp's embedding tool does (its CLS/BOS and SEP/EOS added as the
 * vocabulary's flags say, special-token text parsed), or for each --tokens
 * list as given (nothing added). Pooling is the model's pooling_type unless
 * --pooling says otherwise; each vector is normalised as --normalize says,
 * llama.cpp's --embd-normalize: 2 euclidean (default), -1 none, 0 max
 * absolute to the int16 range, 1 taxicab, p > 2 the p-norm.
 *
 * Output: a line of n_embd numbers a text (pooling none: a line a token and
 * an empty line after each text); --json: one array with an element a text,
 * its vector, or (pooling none) the array of its token vectors. Numbers are
 * printed with 9 significant digits, exact for f32. Texts come first, then
 * the --tokens lists, each in the order given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rocmforge/rocmforge.h"

#define EMBED_USAGE                                                                                                   \
    "usage: rocmforge embed MODEL TEXT... [--pooling mean|cls|last|none] [--normalize N] [--json]\n"                 \
    "                       [--tokens \"ID ...\"]... [--backend cpu|gpu|auto] [--threads N] [--ubatch N]"

enum { MAX_INPUTS = 1024 };

static void print_vector(const float *v, uint32_t n, bool json)
{
    if (json)
        putchar('[');
    for (uint32_t i = 0; i < n; i++)
        printf(i ? (json ? ",%.9g" : " %.9g") : "%.9g", (double)v[i]);
    if (json)
        putchar(']');
    else
        putchar('\n');
}

int cmd_embed(int argc, char **argv)
{
    const char *path = NULL, *backend = "auto", *v;
    const char *texts[MAX_INPUTS], *token_lists[MAX_INPUTS];
    size_t n_texts = 0, n_lists = 0;
    long long threads = 0, norm = 2, ubatch = 0;
    rf_pooling pooling = RF_POOLING_MODEL;
    bool json = false, dashdash = false;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (dashdash || o[0] != '-' || !o[1]) {
            if (!path)
                path = o;
            else if (n_texts < MAX_INPUTS)
                texts[n_texts++] = o;
            else
                return cli_usage_error("embed: more than %d texts", MAX_INPUTS);
        } else if (!strcmp(o, "--")) {
            dashdash = true;
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            puts(EMBED_USAGE "\n(options: docs/cli.md)");
            return 0;
        } else if (!strcmp(o, "--json")) {
            json = true;
        } else if (!strcmp(o, "--pooling")) {
            static const char *const names[] = {"none", "mean", "cls", "last"};
            if ((rc = cli_value("embed", argc, argv, &i, &v)))
                return rc;
            pooling = RF_POOLING_MODEL;
            for (int k = 0; k < 4; k++)
                if (!strcmp(v, names[k]))
                    pooling = (rf_pooling)(RF_POOLING_NONE + k);
            if (pooling == RF_POOLING_MODEL)
                return cli_usage_error("embed: --pooling: '%s' is not one of mean, cls, last, none", v);
        } else if (!strcmp(o, "--normalize") || !strcmp(o, "--embd-normalize")) {
            if ((rc = cli_value("embed", argc, argv, &i, &v)) || (rc = cli_int("embed", o, v, -1, 1000, &norm)))
                return rc;
        } else if (!strcmp(o, "--tokens")) {
            if ((rc = cli_value("embed", argc, argv, &i, &v)))
                return rc;
            if (n_lists == MAX_INPUTS)
                return cli_usage_error("embed: more than %d --tokens lists", MAX_INPUTS);
            token_lists[n_lists++] = v;
        } else if (!strcmp(o, "--backend")) {
            if ((rc = cli_value("embed", argc, argv, &i, &backend)))
                return rc;
            if (strcmp(backend, "cpu") && strcmp(backend, "gpu") && strcmp(backend, "auto"))
                return cli_usage_error("embed: --backend: '%s' is not one of cpu, gpu, auto", backend);
        } else if (!strcmp(o, "--threads") || !strcmp(o, "-t")) {
            if ((rc = cli_value("embed", argc, argv, &i, &v)) || (rc = cli_int("embed", o, v, 0, 4096, &threads)))
                return rc;
        } else if (!strcmp(o, "--ubatch") || !strcmp(o, "-ub")) {
            if ((rc = cli_value("embed", argc, argv, &i, &v)) || (rc = cli_int("embed", o, v, 1, 1 << 20, &ubatch)))
                return rc;
        } else {
            return cli_usage_error("embed: unknown option '%s'", o);
        }
    }
    if (!path || n_texts + n_lists == 0)
        return cli_usage_error(EMBED_USAGE);

    rf_error err = {0};
    rf_model *m = NULL;
    rf_session *s = NULL;
    float *out = NULL;
    int32_t *ids = NULL;
    cli_ui ui;
    cli_ui_init(&ui);
    rf_session_options so = {.backend = backend, .n_threads = (int)threads, .n_ubatch = (uint32_t)ubatch,
                             .pooling = pooling};
    cli_session_callbacks(&so, &ui);
    if (rf_model_open(path, &m, &err) != RF_OK || rf_session_open(m, &so, &s, &err) != RF_OK)
        goto fail;
    cli_ui_clear(&ui);
    if (!rf_session_is_embedding(s)) {
        fprintf(stderr, "rocmforge: embed: %s is not an embedding model (it gives logits; bert and nomic-bert give "
                "embeddings)\n", path);
        rc = 1;
        goto out;
    }
    uint32_t E = rf_session_n_embd(s);
    bool per_token = rf_session_pooling(s) == RF_POOLING_NONE;
    if (json)
        putchar('[');
    for (size_t t = 0; t < n_texts + n_lists; t++) {
        size_t n = 0;
        free(ids);
        ids = NULL;
        if (t < n_texts) {
            if (rf_tokenize(m, texts[t], strlen(texts[t]), RF_TOK_ADD_SPECIAL | RF_TOK_PARSE_SPECIAL, &ids, &n,
                            &err) != RF_OK)
                goto fail;
        } else if ((rc = cli_ids("embed", "--tokens", token_lists[t - n_texts], &ids, &n))) {
            goto out;
        }
        if (n == 0) {
            rc = cli_usage_error("embed: input %zu has no tokens", t + 1);
            goto out;
        }
        free(out);
        if (!(out = malloc((per_token ? n : 1) * E * sizeof *out))) {
            fprintf(stderr, "rocmforge: embed: out of memory\n");
            rc = 1;
            goto out;
        }
        if (rf_embed(s, ids, n, (int)norm, out, &err) != RF_OK)
            goto fail;
        if (json && t)
            putchar(',');
        if (json && per_token)
            putchar('[');
        for (size_t r = 0; r < (per_token ? n : 1); r++) {
            if (json && r)
                putchar(',');
            print_vector(out + r * E, E, json);
        }
        if (json && per_token)
            putchar(']');
        else if (!json && per_token)
            putchar('\n');
    }
    if (json)
        puts("]");
    rc = fflush(stdout) == 0 ? 0 : 1;
    goto out;
fail:
    cli_ui_clear(&ui);
    rc = cli_error(&err);
out:
    free(ids);
    free(out);
    rf_session_close(s);
    rf_model_close(m);
    return rc;
}
