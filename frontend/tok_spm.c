/*
 * tok_spm.c: SentencePiece BPE with byte fallback (tokenizer.ggml.model
 * "llama"), as llama.cpp's llm_tokenizer_spm does it.
 *
 * The fragment arrives with spaces already escaped to U+2581 and the space
 * prefix added (tok_codec.c). It is cut into UTF-8 characters (a bad lead byte
 * is a one-byte character) and merged pairwise by tok_merge.c: a pair
 * merges when its concatenation is a token, the best score of that token
 * first, ties broken by the leftmost pair. Each remaining symbol is a token,
 * or, if it is a single character the vocab lacks, its UTF-8 bytes as
 * <0xXX> byte tokens.
 *
 * llama.cpp also keeps a "reverse merge" map to re-split symbols that are
 * not tokens; since a pair is only ever merged when the merged text is a
 * token, only unmerged characters can miss the vocab, and they go straight to
 * bytes here. There is no per-vocab state: init and fini do nothing.
 */
#include "frontend/tok_internal.h"

rf_status tok_spm_init(tok_vocab *v, const gguf_file *f, rf_error *err)
{
    (void)v;
    (void)f;
    (void)err;
    return RF_OK;
}

void tok_spm_fini(tok_vocab *v) { (void)v; }

/* a pair merges when its text is a token; the best score comes first */
static bool pair_key(const void *ctx, const char *left, size_t left_len, const char *right, size_t right_len,
                     double *key)
{
    const tok_vocab *v = ctx;
    (void)right; /* right starts where left ends */
    int32_t id = tok_lookup(v, left, left_len + right_len);
    if (id < 0)
        return false;
    *key = -(double)v->tokens[id].score;
    return true;
}

rf_status tok_spm_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, rf_error *err)
{
    if (len == 0)
        return RF_OK;
    if (len > (size_t)INT32_MAX)
        return rf_fail(err, RF_E_ARG, "tokenize: text of %zu bytes is too long", len);
    tok_merge m = {0};
    rf_status s = RF_OK;
    if (!tok_merge_run(&m, text, len, pair_key, v))
        goto nomem;
    for (int i = 0; i != -1; i = m.sym[i].next) {
        const tok_sym *sym = &m.sym[i];
        int32_t id = tok_lookup(v, text + sym->off, sym->n);
        if (id >= 0) {
            if (tok_ids_push(out, id))
                goto nomem;
            continue;
        }
        for (size_t k = 0; k < sym->n; k++) {
            int32_t b = tok_byte_to_token(v, (uint8_t)text[sym->off + k]);
            if (b < 0) {
                s = rf_fail(err, RF_E_FORMAT, "tokenize: the vocab has no byte token for 0x%02X "
                            "(tokenizer.ggml.tokens)", (unsigned char)text[sym->off + k]);
                goto done;
            }
            if (tok_ids_push(out, b))
                goto nomem;
        }
    }
    goto done;
nomem:
    s = rf_fail(err, RF_E_NOMEM, "tokenize: out of memory");
done:
    tok_merge_free(&m);
    return s;
}
