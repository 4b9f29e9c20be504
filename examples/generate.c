/*
 * generate.c: text from a prompt through the public C API: a model, a
 * session, a sampler, the loop.
 *
 *   build/examples/rf_example_generate MODEL "In the beginning" [N [TEMP]]
 *
 * Prints the N tokens (64) that follow the prompt, greedy unless TEMP > 0,
 * stopping early at an end-of-generation token. `rocmforge run -p PROMPT
 * -n N --temp 0` prints the same text (make check compares them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocmforge/rocmforge.h>

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s MODEL PROMPT [N [TEMP]]\n", argv[0]);
        return 2;
    }
    int n_gen = argc > 3 ? atoi(argv[3]) : 64;
    rf_error err = {0};
    rf_model *m = NULL;
    rf_session *s = NULL;
    rf_sampler *smp = NULL;
    int32_t *ids = NULL, *out = NULL;
    size_t n_ids = 0, n_out = 0, len = 0, plen = 0;
    float *logits = NULL;
    char *text = NULL, *ptext = NULL;
    int rc = 1;
    rf_sampler_params sp = rf_sampler_defaults();
    sp.temperature = argc > 4 ? (float)atof(argv[4]) : 0.0f;
    rf_session_options so = {.backend = "auto"};
    if (rf_model_open(argv[1], &m, &err) != RF_OK ||
        rf_tokenize(m, argv[2], strlen(argv[2]), RF_TOK_ADD_SPECIAL, &ids, &n_ids, &err) != RF_OK ||
        !(out = malloc((n_ids + (size_t)(n_gen > 0 ? n_gen : 0)) * sizeof *out)) ||
        rf_session_open(m, &so, &s, &err) != RF_OK ||
        rf_sampler_new(&sp, rf_session_n_vocab(s), &smp, &err) != RF_OK ||
        !(logits = malloc(rf_session_n_vocab(s) * sizeof *logits)))
        goto fail;
    for (size_t i = 0; i < n_ids; i++)
        rf_sampler_accept(smp, ids[i]); /* the prompt counts for the penalties */
    if (rf_session_eval(s, 0, ids, n_ids, logits, &err) != RF_OK)
        goto fail;
    /* out: the prompt, then what follows it (decoded together, the text of
     * the first new token is as the prompt makes it: "▁in" after "light" is
     * " in") */
    memcpy(out, ids, n_ids * sizeof *ids);
    for (n_out = n_ids; n_out < n_ids + (size_t)n_gen;) {
        int32_t id = rf_sampler_sample(smp, logits);
        if (rf_token_is_eog(m, id))
            break;
        out[n_out++] = id;
        if (n_out < n_ids + (size_t)n_gen && rf_session_eval(s, 0, &id, 1, logits, &err) != RF_OK)
            goto fail;
    }
    if (rf_detokenize(m, ids, n_ids, 0, &ptext, &plen, &err) != RF_OK ||
        rf_detokenize(m, out, n_out, 0, &text, &len, &err) != RF_OK)
        goto fail;
    printf("%s\n", text + (plen <= len && !memcmp(text, ptext, plen) ? plen : 0));
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "%s\n", err.msg[0] ? err.msg : "out of memory");
done:
    free(text);
    free(ptext);
    free(logits);
    free(ids);
    free(out);
    rf_sampler_free(smp);
    rf_session_close(s);
    rf_model_close(m);
    return rc;
}
