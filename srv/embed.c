/*
 * embed.c: POST /v1/embeddings, for a server whose model is an embedding
 * model (bert, nomic-bert).
 *
 * The request is OpenAI's: "input" is a string, an array of strings, an
 * array of token ids or an array of such arrays; "encoding_format" is
 * "float" (default) or "base64" (the vectors' little-endian float32 bytes,
 * what OpenAI's clients ask for by default); "model" and "user" are
 * accepted and ignored, as the completion endpoints ignore "model";
 * "dimensions" only as the model's own. Texts are tokenized as llama.cpp's
 * server tokenizes them for embeddings (CLS/SEP as the vocabulary says,
 * special-token text parsed); token arrays are taken as given. The reply is
 * {"object":"list","data":[{"object":"embedding","index":i,"embedding":
 * [...]}...],"model":...,"usage":{"prompt_tokens":n,"total_tokens":n}}, each
 * vector pooled as the model's pooling_type says and normalised to unit
 * length (llama.cpp's default, what OpenAI's vectors are). A model whose
 * pooling is none has no one vector a text: refused, as llama.cpp does.
 *
 * The connection thread parses and tokenizes (srv_embed_parse); the step
 * loop (srv_embed_loop, which replaces srv_loop for such a model) owns the
 * session and evaluates the texts of one request after another, each text
 * alone in one step; the reply is built back on the connection thread
 * (srv_embed_json).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv/server.h"
#include "support/error.h"

enum { MAX_INPUTS = 2048 };

/* appends ids to r->prompt and ends input r->n_inputs there */
static bool add_input(srv_req *r, const int32_t *ids, size_t n)
{
    int32_t *p = realloc(r->prompt, (r->n_prompt + n + 1) * sizeof *p);
    if (!p)
        return false;
    r->prompt = p;
    memcpy(p + r->n_prompt, ids, n * sizeof *ids);
    r->n_prompt += n;
    r->input_end[r->n_inputs++] = r->n_prompt;
    return true;
}

/* a JSON array of token ids of this model into a malloc'd array */
static bool token_array(srv *s, const json_t *a, int32_t **ids, size_t *n)
{
    *n = json_array_size(a);
    if (!(*ids = malloc((*n ? *n : 1) * sizeof **ids)))
        return false;
    for (size_t i = 0; i < *n; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= rf_vocab_size(s->model)) {
            free(*ids);
            *ids = NULL;
            return false;
        }
        (*ids)[i] = (int32_t)json_integer_value(v);
    }
    return true;
}

bool srv_embed_parse(srv *s, const json_t *j, srv_req *r, char *msg)
{
    if (rf_session_pooling(s->session) == RF_POOLING_NONE) {
        snprintf(msg, 256, "'input': the model's pooling is none (a vector per token), which /v1/embeddings cannot "
                 "return; its pooling_type must be mean, cls or last");
        return false;
    }
    const json_t *fmt = json_object_get(j, "encoding_format"), *dims = json_object_get(j, "dimensions");
    const char *f = fmt && !json_is_null(fmt) ? json_string_value(fmt) : "float";
    if (!f || (strcmp(f, "float") && strcmp(f, "base64"))) {
        snprintf(msg, 256, "'encoding_format' must be \"float\" or \"base64\"");
        return false;
    }
    r->embd_base64 = !strcmp(f, "base64");
    if (dims && !json_is_null(dims) &&
        (!json_is_integer(dims) || json_integer_value(dims) != (json_int_t)rf_session_n_embd(s->session))) {
        snprintf(msg, 256, "'dimensions' must be the model's %u (vectors are not shortened)",
                 rf_session_n_embd(s->session));
        return false;
    }
    const json_t *in = json_object_get(j, "input");
    /* one input (a string, or an array of ids), or an array of them */
    bool one = json_is_string(in) || (json_is_array(in) && json_array_size(in) && json_is_integer(json_array_get(in, 0)));
    size_t n = one ? 1 : json_is_array(in) ? json_array_size(in) : 0;
    if (!in || (!one && !json_is_array(in)) || n == 0 || n > MAX_INPUTS) {
        snprintf(msg, 256, "'input' must be a string, an array of token ids, or a non-empty array (at most %d) of "
                 "them", MAX_INPUTS);
        return false;
    }
    if (!(r->input_end = malloc(n * sizeof *r->input_end))) {
        snprintf(msg, 256, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = one ? in : json_array_get(in, i);
        int32_t *ids = NULL;
        size_t k = 0;
        rf_error err = {0};
        if (json_is_string(v)) {
            if (rf_tokenize(s->model, json_string_value(v), json_string_length(v),
                            RF_TOK_ADD_SPECIAL | RF_TOK_PARSE_SPECIAL, &ids, &k, &err) != RF_OK) {
                snprintf(msg, 256, "'input' %zu: %.200s", i, err.msg);
                return false;
            }
        } else if (!json_is_array(v) || !token_array(s, v, &ids, &k)) {
            snprintf(msg, 256, "'input' %zu must be a string or an array of token ids of this model (0..%u)", i,
                     rf_vocab_size(s->model) - 1);
            return false;
        }
        bool ok = k > 0 && add_input(r, ids, k);
        free(ids);
        if (!ok) {
            snprintf(msg, 256, k ? "out of memory" : "'input' %zu has no tokens", i);
            return false;
        }
    }
    return true;
}

/* the RFC 4648 base64 of n bytes, NUL-terminated, malloc'd */
static char *base64(const unsigned char *p, size_t n)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; out && i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = A[v >> 18 & 63];
        *o++ = A[v >> 12 & 63];
        *o++ = i + 1 < n ? A[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? A[v & 63] : '=';
    }
    if (out)
        *o = 0;
    return out;
}

json_t *srv_embed_json(srv *s, const srv_req *r)
{
    uint32_t E = rf_session_n_embd(s->session);
    json_t *data = json_array();
    for (size_t i = 0; data && i < r->n_inputs; i++) {
        const float *v = r->embd + i * E;
        json_t *e;
        if (r->embd_base64) { /* x86-64 and the GPUs' hosts are little-endian, as the format is */
            char *b = base64((const unsigned char *)v, E * sizeof *v);
            e = b ? json_string(b) : NULL;
            free(b);
        } else {
            e = json_array();
            for (uint32_t k = 0; e && k < E; k++)
                json_array_append_new(e, json_real(v[k]));
        }
        if (!e || json_array_append_new(data, json_pack("{s:s,s:I,s:o}", "object", "embedding", "index",
                                                        (json_int_t)i, "embedding", e))) {
            json_decref(data);
            return NULL;
        }
    }
    return data ? json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model", s->model_name,
                            "usage", "prompt_tokens", (json_int_t)r->n_prompt, "total_tokens",
                            (json_int_t)r->n_prompt)
                : NULL;
}

/* the texts of r, each alone (its own step from position 0), into r->embd */
static void embed_request(srv *s, srv_req *r)
{
    uint32_t E = rf_session_n_embd(s->session);
    float *out = malloc(r->n_inputs * E * sizeof *out);
    rf_error err = {0};
    rf_status st = out ? RF_OK : rf_fail(&err, RF_E_NOMEM, "out of memory");
    for (size_t i = 0, start = 0; st == RF_OK && i < r->n_inputs; start = r->input_end[i++])
        if ((st = rf_embed(s->session, r->prompt + start, r->input_end[i] - start, 2, out + i * E, &err)) != RF_OK)
            rf_error_prefix(&err, "'input' %zu", i);
    pthread_mutex_lock(&s->mu);
    r->embd = out;
    r->err = err;
    r->done = true;
    s->m.prompt_tokens += r->n_prompt;
    pthread_cond_broadcast(&s->progress);
    pthread_mutex_unlock(&s->mu);
}

void *srv_embed_loop(void *arg)
{
    srv *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->queue && !s->stopping)
            pthread_cond_wait(&s->work, &s->mu);
        if (s->stopping) { /* every request ends now, with an error saying why */
            for (srv_req *r = s->queue, *next; r; r = next) {
                next = r->next;
                rf_fail(&r->err, RF_E_IO, "the server is shutting down");
                r->done = true;
                srv_req_release_locked(r);
            }
            s->queue = s->queue_tail = NULL;
            s->queued = 0;
            pthread_cond_broadcast(&s->progress);
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        srv_req *r = s->queue;
        s->queue = r->next;
        if (!s->queue)
            s->queue_tail = NULL;
        s->queued--;
        s->busy = 1;
        bool cancelled = r->cancelled;
        pthread_mutex_unlock(&s->mu);
        if (!cancelled)
            embed_request(s, r);
        pthread_mutex_lock(&s->mu);
        s->busy = 0;
        srv_req_release_locked(r);
        pthread_mutex_unlock(&s->mu);
    }
}
