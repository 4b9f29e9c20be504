/*
 * tokenize.c: the public C API in a dozen lines: open a GGUF, print its
 * architecture, tokenize a text and turn the ids back into text.
 *
 *   build/examples/rf_example_tokenize models/kjv-tiny-llama-q8_0.gguf "Hello"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocmforge/rocmforge.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL TEXT\n", argv[0]);
        return 2;
    }
    rf_error err = {0};
    rf_model *m;
    if (rf_model_open(argv[1], &m, &err) != RF_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    rf_model_info info;
    int32_t *ids = NULL;
    size_t n = 0, len = 0;
    char *text = NULL;
    if (rf_model_get_info(m, &info, &err) != RF_OK ||
        rf_tokenize(m, argv[2], strlen(argv[2]), RF_TOK_ADD_SPECIAL, &ids, &n, &err) != RF_OK ||
        rf_detokenize(m, ids, n, 0, &text, &len, &err) != RF_OK) {
        fprintf(stderr, "%s\n", err.msg);
        rf_model_close(m);
        return 1;
    }
    printf("%s model, %zu tokens:", info.arch, n);
    for (size_t i = 0; i < n; i++)
        printf(" %d", (int)ids[i]);
    printf("\nback to text: %s\n", text);
    free(ids);
    free(text);
    rf_model_close(m);
    return 0;
}
