/*
 * api.c: the public rf_model handle over the front end.
 *
 * A model owns its mapped GGUF and, once asked for, its tokenizer. The
 * tokenizer is built lazily because `info` must not pay for a 262k-token
 * vocabulary it does not use.
 */
#include <stdlib.h>
#include <string.h>

#include "frontend/gguf.h"
#include "frontend/import.h"
#include "frontend/info.h"
#include "frontend/model.h"
#include "frontend/tokenizer.h"
#include "support/error.h"

struct rf_model {
    gguf_file *gguf;
    tok_vocab *vocab; /* NULL until first use */
};

rf_status rf_model_open(const char *path, rf_model **out, rf_error *err)
{
    *out = NULL;
    rf_model *m = calloc(1, sizeof *m);
    if (!m)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    rf_status s = gguf_open(path, &m->gguf, err);
    if (s != RF_OK) {
        free(m);
        return s;
    }
    *out = m;
    return RF_OK;
}

void rf_model_close(rf_model *m)
{
    if (!m)
        return;
    tok_vocab_free(m->vocab);
    gguf_close(m->gguf);
    free(m);
}

rf_status rf_model_get_info(const rf_model *m, rf_model_info *out, rf_error *err)
{
    return info_describe(m->gguf, out, err);
}

static rf_status need_vocab(rf_model *m, rf_error *err)
{
    if (m->vocab)
        return RF_OK;
    return tok_vocab_load(m->gguf, &m->vocab, err);
}

rf_status rf_model_load_tokenizer(rf_model *m, rf_error *err) { return need_vocab(m, err); }

const gguf_file *rf_model_file(const rf_model *m) { return m->gguf; }

bool rf_model_is_embedding(const rf_model *m)
{
    /* import reads metadata and tensor infos only: cheap, and the one
     * place that knows which architectures are encoders */
    ir_graph *g = NULL;
    bool yes = import_model(m->gguf, NULL, &g, NULL) == RF_OK && g->model.embedding;
    ir_graph_free(g);
    return yes;
}

rf_status rf_model_vocab(rf_model *m, const tok_vocab **out, rf_error *err)
{
    rf_status s = need_vocab(m, err);
    *out = s == RF_OK ? m->vocab : NULL;
    return s;
}

bool rf_token_is_eog(rf_model *m, int32_t id)
{
    return need_vocab(m, NULL) == RF_OK && tok_vocab_is_eog(m->vocab, id);
}

uint32_t rf_vocab_size(rf_model *m)
{
    return need_vocab(m, NULL) == RF_OK ? tok_vocab_n_tokens(m->vocab) : 0;
}

rf_status rf_tokenize(rf_model *m, const char *text, size_t len, unsigned flags, int32_t **ids, size_t *n_ids,
                      rf_error *err)
{
    *ids = NULL;
    *n_ids = 0;
    rf_status s = need_vocab(m, err);
    if (s != RF_OK)
        return s;
    unsigned tf = ((flags & RF_TOK_ADD_SPECIAL) ? TOK_ADD_SPECIAL : 0) |
                  ((flags & RF_TOK_PARSE_SPECIAL) ? TOK_PARSE_SPECIAL : 0);
    tok_ids out = {0};
    s = tok_encode(m->vocab, text, len, tf, &out, err);
    if (s != RF_OK) {
        tok_ids_free(&out);
        return s;
    }
    *ids = out.ids;
    *n_ids = out.n;
    return RF_OK;
}

rf_status rf_detokenize(rf_model *m, const int32_t *ids, size_t n_ids, unsigned flags, char **text, size_t *len,
                        rf_error *err)
{
    *text = NULL;
    *len = 0;
    rf_status s = need_vocab(m, err);
    if (s != RF_OK)
        return s;
    return tok_decode(m->vocab, ids, n_ids, (flags & RF_DETOK_SPECIAL) ? TOK_DECODE_SPECIAL : 0, text, len, err);
}
