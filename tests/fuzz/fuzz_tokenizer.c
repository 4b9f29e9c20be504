/*
 * fuzz_tokenizer.c: libFuzzer target for the tokenizer.
 *
 * The vocabulary is a real GGUF named by $ROCMFORGE_FUZZ_VOCAB (for example
 * llama.cpp's models/ggml-vocab-llama-spm.gguf), loaded once. Each input is
 * arbitrary bytes (valid UTF-8 or not) that are tokenized with and without
 * TOK_PARSE_SPECIAL (and with TOK_ADD_SPECIAL), every id checked to be in
 * range, and decoded back with and without TOK_DECODE_SPECIAL. The input's
 * bytes are also read as token ids and decoded, and an id past the end must
 * be refused with RF_E_ARG. run-fuzzers.sh runs it once per vocabulary type.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/gguf.h"
#include "frontend/tokenizer.h"

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

static gguf_file *vocab_file;
static tok_vocab *vocab;
static uint32_t n_tokens;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *path = getenv("ROCMFORGE_FUZZ_VOCAB");
    if (!path || !*path) {
        fprintf(stderr, "fuzz_tokenizer: set ROCMFORGE_FUZZ_VOCAB to a vocab GGUF\n");
        exit(2);
    }
    rf_error err = {0};
    if (gguf_open(path, &vocab_file, &err) != RF_OK || tok_vocab_load(vocab_file, &vocab, &err) != RF_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
        exit(2);
    }
    n_tokens = tok_vocab_n_tokens(vocab);
    return 0;
}

static void decode_check(const int32_t *ids, size_t n)
{
    static const unsigned flags[] = {0, TOK_DECODE_SPECIAL, TOK_DECODE_REMOVE_SPECIAL};
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        char *text = NULL;
        size_t len = 0;
        rf_error err = {0};
        rf_status s = tok_decode(vocab, ids, n, flags[k], &text, &len, &err);
        CHECK(s == RF_OK);
        CHECK(text != NULL && text[len] == 0);
        free(text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so a read past the text is an ASan report */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    static const unsigned flags[] = {0, TOK_PARSE_SPECIAL, TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL};
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        tok_ids ids = {0};
        rf_error err = {0};
        rf_status s = tok_encode(vocab, text, size, flags[k], &ids, &err);
        CHECK(s == RF_OK);   /* any bytes are tokenizable */
        for (size_t i = 0; i < ids.n; i++)
            CHECK(ids.ids[i] >= 0 && (uint32_t)ids.ids[i] < n_tokens);
        decode_check(ids.ids, ids.n);
        tok_ids_free(&ids);
    }
    free(text);

    /* the input as ids */
    size_t n = size / 4;
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    if (!ids)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, data + 4 * i, 4);
        ids[i] = (int32_t)(u % n_tokens);
    }
    decode_check(ids, n);
    ids[n] = (int32_t)n_tokens;   /* one past the end */
    char *out = NULL;
    size_t len = 0;
    rf_error err = {0};
    CHECK(tok_decode(vocab, ids, n + 1, 0, &out, &len, &err) == RF_E_ARG);
    free(out);
    ids[n] = -1;
    CHECK(tok_decode(vocab, ids, n + 1, 0, &out, &len, &err) == RF_E_ARG);
    free(ids);
    return 0;
}
