/*
 * tokenize.c: `rocmforge tokenize MODEL TEXT [--special] [--no-bos]` and
 * `rocmforge detokenize MODEL ID... [--special]`.
 *
 * tokenize prints the ids on one line separated by single spaces. BOS/EOS
 * are added as the model's metadata says unless --no-bos; special-token text
 * in TEXT ("<s>", "<|im_start|>") is plain text unless --special.
 * detokenize prints the text (control tokens only with --special).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL, *text = NULL;
    unsigned flags = RF_TOK_ADD_SPECIAL;
    int options = 1; /* after "--" every argument is positional */
    for (int i = 1; i < argc; i++) {
        if (options && !strcmp(argv[i], "--special"))
            flags |= RF_TOK_PARSE_SPECIAL;
        else if (options && !strcmp(argv[i], "--no-bos"))
            flags &= ~(unsigned)RF_TOK_ADD_SPECIAL;
        else if (options && !strcmp(argv[i], "--"))
            options = 0;
        else if (options && argv[i][0] == '-' && argv[i][1] == '-')
            return cli_usage_error("tokenize: unknown option '%s'", argv[i]);
        else if (!path)
            path = argv[i];
        else if (!text)
            text = argv[i];
        else
            return cli_usage_error("tokenize: unexpected argument '%s' (quote the text)", argv[i]);
    }
    if (!path || !text)
        return cli_usage_error("usage: rocmforge tokenize MODEL TEXT [--special] [--no-bos]");
    rf_error err = {0};
    rf_model *m;
    if (rf_model_open(path, &m, &err) != RF_OK)
        return cli_error(&err);
    int32_t *ids;
    size_t n;
    if (rf_tokenize(m, text, strlen(text), flags, &ids, &n, &err) != RF_OK) {
        rf_model_close(m);
        return cli_error(&err);
    }
    for (size_t i = 0; i < n; i++)
        printf(i ? " %" PRId32 : "%" PRId32, ids[i]);
    putchar('\n');
    free(ids);
    rf_model_close(m);
    return 0;
}

int cmd_detokenize(int argc, char **argv)
{
    const char *path = NULL;
    unsigned flags = 0;
    int32_t *ids = calloc((size_t)argc, sizeof *ids);
    size_t n = 0;
    if (!ids)
        return cli_usage_error("detokenize: out of memory");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--special")) {
            flags |= RF_DETOK_SPECIAL;
        } else if (!path) {
            path = argv[i];
        } else {
            char *end;
            errno = 0;
            long long v = strtoll(argv[i], &end, 10);
            if (errno || end == argv[i] || *end || v < 0 || v > INT32_MAX) {
                free(ids);
                return cli_usage_error("detokenize: '%s' (argument %d) is not a token id", argv[i], i);
            }
            ids[n++] = (int32_t)v;
        }
    }
    if (!path) {
        free(ids);
        return cli_usage_error("usage: rocmforge detokenize MODEL ID... [--special]");
    }
    rf_error err = {0};
    rf_model *m;
    if (rf_model_open(path, &m, &err) != RF_OK) {
        free(ids);
        return cli_error(&err);
    }
    char *text;
    size_t len;
    rf_status s = rf_detokenize(m, ids, n, flags, &text, &len, &err);
    free(ids);
    if (s != RF_OK) {
        rf_model_close(m);
        return cli_error(&err);
    }
    fwrite(text, 1, len, stdout);
    putchar('\n');
    free(text);
    rf_model_close(m);
    return 0;
}
