/*
 * logits.c: `rocmforge logits MODEL --tokens IDS --out FILE [--backend B]
 *            [--threads N] [--ctx N]`.
 *
 * Evaluates IDS as one sequence from position 0 (nothing added: no BOS)
 * with every position's logits kept, and writes them to FILE as raw
 * little-endian float32, n_tokens rows of n_vocab, row-major: the format the
 * conformance tests compare against llama.cpp's. The file appears whole or
 * not at all: it is written under a temporary name next to FILE and renamed.
 *
 * The KV cache is sized max(256, n_tokens) unless --ctx says otherwise, the
 * size the llama.cpp side of the comparison uses (tests/tools/llama_eval.c),
 * so the two runs see the same context length (phi3's rope factors depend
 * on it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rocmforge/rocmforge.h"

#define LOGITS_USAGE \
    "usage: rocmforge logits MODEL --tokens \"ID ID ...\" --out FILE [--backend cpu|gpu|auto] [--threads N] [--ctx N] " \
    "[--gpu-layers N|auto] [--tp N]"

/* Writes n floats little-endian whatever the host's byte order. */
static int write_f32le(FILE *out, const float *x, size_t n)
{
    unsigned char buf[4096];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        buf[k++] = (unsigned char)u;
        buf[k++] = (unsigned char)(u >> 8);
        buf[k++] = (unsigned char)(u >> 16);
        buf[k++] = (unsigned char)(u >> 24);
        if (k == sizeof buf) {
            if (fwrite(buf, 1, k, out) != k)
                return -1;
            k = 0;
        }
    }
    return fwrite(buf, 1, k, out) == k ? 0 : -1;
}

int cmd_logits(int argc, char **argv)
{
    const char *path = NULL, *tokens = NULL, *out_path = NULL, *backend = "cpu", *v;
    rf_session_options place = {0};
    long long threads = 0, ctx = 0;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            puts(LOGITS_USAGE "\n(options: docs/cli.md)");
            return 0;
        } else if (!strcmp(o, "--tokens")) {
            if ((rc = cli_value("logits", argc, argv, &i, &tokens)))
                return rc;
        } else if (!strcmp(o, "--out") || !strcmp(o, "-o")) {
            if ((rc = cli_value("logits", argc, argv, &i, &out_path)))
                return rc;
        } else if (!strcmp(o, "--backend")) {
            if ((rc = cli_value("logits", argc, argv, &i, &backend)))
                return rc;
            if (strcmp(backend, "cpu") && strcmp(backend, "gpu") && strcmp(backend, "auto"))
                return cli_usage_error("logits: --backend: '%s' is not one of cpu, gpu, auto", backend);
        } else if (!strcmp(o, "--threads") || !strcmp(o, "-t")) {
            if ((rc = cli_value("logits", argc, argv, &i, &v)) || (rc = cli_int("logits", o, v, 0, 4096, &threads)))
                return rc;
        } else if (!strcmp(o, "--ctx") || !strcmp(o, "-c")) {
            if ((rc = cli_value("logits", argc, argv, &i, &v)) ||
                (rc = cli_int("logits", o, v, 1, UINT32_MAX, &ctx)))
                return rc;
        } else if ((rc = cli_gpu_option("logits", argc, argv, &i, &place)) >= 0) {
            if (rc)
                return rc;
        } else if (o[0] == '-' && o[1]) {
            return cli_usage_error("logits: unknown option '%s'", o);
        } else if (!path) {
            path = o;
        } else {
            return cli_usage_error("logits: unexpected argument '%s'", o);
        }
    }
    if (!path || !tokens || !out_path)
        return cli_usage_error(LOGITS_USAGE);
    int32_t *ids;
    size_t n;
    if ((rc = cli_ids("logits", "--tokens", tokens, &ids, &n)))
        return rc;
    if (n == 0) {
        free(ids);
        return cli_usage_error("logits: --tokens: no token ids");
    }
    if (n > UINT32_MAX || (ctx && (size_t)ctx < n)) {
        free(ids);
        return cli_usage_error("logits: %zu tokens do not fit a context of %lld (--ctx)", n, ctx);
    }

    rf_error err = {0};
    rf_model *m = NULL;
    rf_session *rt = NULL;
    float *logits = NULL;
    char *tmp = NULL;
    FILE *out = NULL;
    rf_session_options so = {.backend = backend,
                             .n_threads = (int)threads,
                             .n_ctx = ctx ? (uint32_t)ctx : n < 256 ? 256 : (uint32_t)n,
                             .all_logits = true};
    cli_placement(&so, &place);
    cli_ui ui;
    cli_session_callbacks(&so, &ui);
    if (rf_model_open(path, &m, &err) != RF_OK || rf_session_open(m, &so, &rt, &err) != RF_OK)
        goto fail;
    size_t n_vocab = rf_session_n_vocab(rt);
    if (n_vocab && n > SIZE_MAX / sizeof(float) / n_vocab) {
        rc = cli_usage_error("logits: %zu x %zu logits are too many", n, n_vocab);
        goto out;
    }
    logits = malloc(n * n_vocab * sizeof *logits);
    if (!logits) {
        fprintf(stderr, "rocmforge: logits: out of memory for %zu x %zu logits\n", n, n_vocab);
        rc = 1;
        goto out;
    }
    if (rf_session_eval(rt, 0, ids, n, logits, &err) != RF_OK)
        goto fail;

    size_t tl = strlen(out_path) + 32;
    tmp = malloc(tl);
    if (!tmp) {
        rc = cli_usage_error("logits: out of memory");
        goto out;
    }
    snprintf(tmp, tl, "%s.tmp.%ld", out_path, (long)getpid());
    out = fopen(tmp, "wb");
    if (!out) {
        fprintf(stderr, "rocmforge: %s: cannot create: %s\n", tmp, strerror(errno));
        rc = 1;
        goto out;
    }
    int w = write_f32le(out, logits, n * n_vocab);
    if (fclose(out) != 0 || w != 0) {
        out = NULL;
        remove(tmp);
        fprintf(stderr, "rocmforge: %s: write failed\n", tmp);
        rc = 1;
        goto out;
    }
    out = NULL;
    if (rename(tmp, out_path) != 0) {
        remove(tmp);
        fprintf(stderr, "rocmforge: %s: cannot rename to %s\n", tmp, out_path);
        rc = 1;
        goto out;
    }
    rc = 0;
    goto out;
fail:
    rc = cli_error(&err);
out:
    free(tmp);
    free(logits);
    rf_session_close(rt);
    rf_model_close(m);
    free(ids);
    return rc;
}
