/*
 * http.c: the HTTP side of `rocmforge serve` (libmicrohttpd, a thread per
 * connection; JSON through jansson).
 *
 * A connection thread reads the body, checks the API key, parses and
 * validates the request (a bad one is a 400 whose message names the
 * field), renders the chat template and tokenizes, enqueues the request for
 * the step loop and waits: for the whole text, or, streaming, for each new
 * piece, which it sends as a server-sent event. Streamed text is held back
 * while it could still be the start of a stop string or ends inside a UTF-8
 * character, so what was sent is never taken back. A client that leaves
 * mid-stream cancels its request; the loop frees the slot.
 *
 * Endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings
 * (embed.c; only for an embedding model, which the completion endpoints
 * refuse, each with a 400 saying so), /tokenize,
 * /detokenize, /apply-template; GET /v1/models, /health (503 while the
 * model loads), /metrics (Prometheus text). response_format json_object
 * and json_schema constrain sampling (grammar.c). Refused with a 400
 * saying so: tools, n > 1, schema keywords grammar.c lacks.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv/server.h"
#include "support/error.h"

typedef struct conn {
    strbuf body;
    bool too_big;
    double t0; /* when its headers came */
} conn;

enum { MAX_BODY = 32 << 20, QUEUE_PER_SLOT = 4 };

static unsigned long next_id;

/* The request this connection thread is answering (a thread a connection):
 * what its log line says. */
static _Thread_local struct {
    const char *method, *path;
    double t0;
    const srv_req *r; /* a completion's, for its tokens and first-token time */
} here;

static void log_request(srv *s, unsigned code, const char *method, const char *path, double t0, const srv_req *r)
{
    if (!s->opt.log)
        return;
    char line[512];
    double now = srv_now();
    if (r)
        snprintf(line, sizeof line, "%s %s %u prompt=%zu generated=%zu first_token=%.3fs total=%.3fs", method, path,
                 code, r->n_prompt, r->n_gen, r->t_first > 0 ? r->t_first - r->t_queued : 0.0, now - t0);
    else
        snprintf(line, sizeof line, "%s %s %u total=%.3fs", method, path, code, now - t0);
    s->opt.log(s->opt.log_ctx, line);
}

static int status_class(unsigned code)
{
    return code == 200 ? 0 : code == 400 || code == 413 ? 1 : code == 401 ? 2 : code == 404 ? 3 : code == 503 ? 5 : 4;
}

static enum MHD_Result reply(srv *s, struct MHD_Connection *c, unsigned code, const char *type, char *text)
{
    pthread_mutex_lock(&s->mu);
    s->m.requests[status_class(code)]++;
    pthread_mutex_unlock(&s->mu);
    log_request(s, code, here.method, here.path, here.t0, here.r);
    struct MHD_Response *r = MHD_create_response_from_buffer(text ? strlen(text) : 0, text ? text : (char *)"",
                                                             text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    if (code == 503) /* loading, or every slot and the queue taken: soon it may not be */
        MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_json(srv *s, struct MHD_Connection *c, unsigned code, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!text)
        return reply(s, c, 500, "text/plain", strdup("out of memory"));
    return reply(s, c, code, "application/json", text);
}

/* OpenAI's error object; its param is the field a message starts by
 * quoting ("'temperature' must be ...") */
static enum MHD_Result reply_error(srv *s, struct MHD_Connection *c, unsigned code, const char *msg)
{
    const char *type = code == 401 ? "authentication_error" : code == 404 ? "not_found_error"
                     : code == 503 ? "unavailable_error" : code >= 500 ? "server_error" : "invalid_request_error";
    const char *q = msg[0] == '\'' ? strchr(msg + 1, '\'') : NULL;
    json_t *param = q ? json_stringn(msg + 1, (size_t)(q - msg - 1)) : json_null();
    return reply_json(s, c, code, json_pack("{s:{s:s,s:s,s:o,s:i}}", "error", "message", msg, "type", type, "param",
                                            param, "code", code));
}

/* ---- parsing a completion request ------------------------------------------------------------- */

/* a number field, or def when absent; false (msg set) when of the wrong type */
static bool num_field(const json_t *j, const char *key, double lo, double hi, double def, double *out, char *msg)
{
    const json_t *v = json_object_get(j, key);
    *out = def;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
        snprintf(msg, 256, "'%s' must be a number in [%g, %g]", key, lo, hi);
        return false;
    }
    *out = json_number_value(v);
    return true;
}

/* Fills r from a completion request's body (chat or not); false with msg. */
static bool parse_request(srv *s, const json_t *j, bool chat, srv_req *r, bool *stream, bool *usage, char *msg)
{
    static const char *const refused[] = {"tools", "functions", "tool_choice"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (json_object_get(j, refused[i]) && !json_is_null(json_object_get(j, refused[i]))) {
            snprintf(msg, 256, "'%s' is not supported yet", refused[i]);
            return false;
        }
    const json_t *lp = json_object_get(j, "logprobs"), *rf = json_object_get(j, "response_format");
    const json_t *tlp = json_object_get(j, "top_logprobs"), *lb = json_object_get(j, "logit_bias");
    r->logprobs = -1;
    if (lp && !json_is_null(lp) && !json_is_false(lp)) { /* chat: true; completions: how many alternatives */
        if (chat ? !json_is_true(lp)
                 : !json_is_integer(lp) || json_integer_value(lp) < 0 || json_integer_value(lp) > SRV_MAX_TOP) {
            snprintf(msg, 256, chat ? "'logprobs' must be true or false"
                                    : "'logprobs' must be an integer in [0, %d]", SRV_MAX_TOP);
            return false;
        }
        r->logprobs = chat ? 0 : (int)json_integer_value(lp);
    }
    if (tlp && !json_is_null(tlp)) {
        if (!json_is_integer(tlp) || json_integer_value(tlp) < 0 || json_integer_value(tlp) > SRV_MAX_TOP ||
            r->logprobs < 0) {
            snprintf(msg, 256, "'top_logprobs' must be an integer in [0, %d], with 'logprobs' true", SRV_MAX_TOP);
            return false;
        }
        r->logprobs = (int)json_integer_value(tlp);
    }
    if (lb && !json_is_null(lb)) {
        size_t n = json_is_object(lb) ? json_object_size(lb) : 0;
        r->bias_id = malloc((n ? n : 1) * sizeof *r->bias_id);
        r->bias = malloc((n ? n : 1) * sizeof *r->bias);
        if (!json_is_object(lb) || !r->bias_id || !r->bias) {
            snprintf(msg, 256, "'logit_bias' must be an object of token ids to numbers");
            return false;
        }
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)lb, k, v) {
            char *end;
            long id = strtol(k, &end, 10);
            if (!*k || *end || id < 0 || id >= (long)rf_vocab_size(s->model) || !json_is_number(v) ||
                json_number_value(v) < -100 || json_number_value(v) > 100) {
                snprintf(msg, 256, "'logit_bias': \"%.40s\" must be a token id of this model with a number in "
                         "[-100, 100]", k);
                return false;
            }
            r->bias_id[r->n_bias] = (int32_t)id;
            r->bias[r->n_bias++] = (float)json_number_value(v);
        }
    }
    /* ignore_eos (llama-server's extension, for benchmarks): the end-of-
     * generation tokens get a bias of -inf, so a reply runs to max_tokens */
    const json_t *ie = json_object_get(j, "ignore_eos");
    if (ie && !json_is_null(ie) && !json_is_boolean(ie)) {
        snprintf(msg, 256, "'ignore_eos' must be true or false");
        return false;
    }
    if (json_is_true(ie)) {
        int32_t *ids = realloc(r->bias_id, (r->n_bias + s->n_eog + 1) * sizeof *ids);
        r->bias_id = ids ? ids : r->bias_id;
        float *b = ids ? realloc(r->bias, (r->n_bias + s->n_eog + 1) * sizeof *b) : NULL;
        r->bias = b ? b : r->bias;
        if (!b) {
            snprintf(msg, 256, "out of memory");
            return false;
        }
        for (size_t k = 0; k < s->n_eog; k++) {
            r->bias_id[r->n_bias] = s->eog_ids[k];
            r->bias[r->n_bias++] = -INFINITY;
        }
    }
    if (rf && !json_is_null(rf)) { /* text, json_object, or json_schema: {"json_schema": {"schema": ...}} */
        const char *ty = json_is_object(rf) ? json_string_value(json_object_get(rf, "type")) : NULL;
        const json_t *js = json_object_get(json_object_get(rf, "json_schema"), "schema");
        if (!ty || (strcmp(ty, "text") && strcmp(ty, "json_object") && strcmp(ty, "json_schema"))) {
            snprintf(msg, 256, "'response_format' must be {\"type\": \"text\", \"json_object\" or \"json_schema\"}");
            return false;
        }
        if (!strcmp(ty, "json_schema") && !js) {
            snprintf(msg, 256, "'response_format': json_schema needs {\"json_schema\": {\"schema\": {...}}}");
            return false;
        }
        if (strcmp(ty, "text")) {
            if (!(r->grammar = !strcmp(ty, "json_object") ? srv_grammar_json_object() : srv_grammar_compile(js, msg))) {
                if (!msg[0])
                    snprintf(msg, 256, "out of memory");
                return false;
            }
            srv_grammar_start(&r->gs, r->grammar);
        }
    }
    double n, t, tp, tk, mp, seed, pp, fp, rp, mt, mct;
    if (!num_field(j, "n", 1, 1, 1, &n, msg) || !num_field(j, "temperature", 0, 2, 1, &t, msg) ||
        !num_field(j, "top_p", 0, 1, 1, &tp, msg) || !num_field(j, "top_k", 0, 1e9, 0, &tk, msg) ||
        !num_field(j, "min_p", 0, 1, 0, &mp, msg) || !num_field(j, "seed", -9e18, 9e18, -1, &seed, msg) ||
        !num_field(j, "presence_penalty", -2, 2, 0, &pp, msg) ||
        !num_field(j, "frequency_penalty", -2, 2, 0, &fp, msg) ||
        !num_field(j, "repeat_penalty", 0, 10, 1, &rp, msg) || !num_field(j, "max_tokens", 0, 1e9, -1, &mt, msg) ||
        !num_field(j, "max_completion_tokens", 0, 1e9, -1, &mct, msg))
        return false;
    r->sp = rf_sampler_defaults();
    r->sp.temperature = (float)t;
    r->sp.top_p = (float)tp;
    r->sp.top_k = (int32_t)tk;
    r->sp.min_p = (float)mp;
    r->sp.presence_penalty = (float)pp;
    r->sp.frequency_penalty = (float)fp;
    r->sp.repeat_penalty = (float)rp;
    r->sp.seed = seed < 0 ? RF_SEED_RANDOM : (uint64_t)seed;
    r->max_tokens = mct >= 0 ? (int)mct : mt >= 0 ? (int)mt : -1;
    const json_t *st = json_object_get(j, "stop");
    if (json_is_string(st)) {
        if (!(r->stop[r->n_stop++] = strdup(json_string_value(st))))
            return snprintf(msg, 256, "out of memory"), false;
    } else if (json_is_array(st)) {
        size_t i;
        const json_t *e;
        json_array_foreach(st, i, e) {
            if (!json_is_string(e) || r->n_stop == SRV_MAX_STOP) {
                snprintf(msg, 256, "'stop' must be a string or a list of at most %d strings", SRV_MAX_STOP);
                return false;
            }
            if (!(r->stop[r->n_stop++] = strdup(json_string_value(e))))
                return snprintf(msg, 256, "out of memory"), false;
        }
    } else if (st && !json_is_null(st)) {
        snprintf(msg, 256, "'stop' must be a string or a list of strings");
        return false;
    }
    for (size_t i = 0; i < r->n_stop; i++)
        if (strlen(r->stop[i]) > r->max_stop_len)
            r->max_stop_len = strlen(r->stop[i]);
    const json_t *sv = json_object_get(j, "stream"), *so = json_object_get(j, "stream_options");
    *stream = json_is_true(sv);
    *usage = so && json_is_true(json_object_get(so, "include_usage"));
    /* the prompt: the chat template's text, or the prompt itself */
    char *text = NULL;
    size_t len = 0;
    rf_error err = {0};
    if (chat) {
        const json_t *msgs = json_object_get(j, "messages");
        if (!json_is_array(msgs) || !json_array_size(msgs)) {
            snprintf(msg, 256, "'messages' must be a non-empty array");
            return false;
        }
        char *conv = json_dumps(j, JSON_COMPACT);
        rf_chat_options co = {.template_text = s->opt.chat_template};
        rf_status rs = conv ? rf_chat_render(s->model, conv, strlen(conv), &co, &text, &len, &err) : RF_E_NOMEM;
        free(conv);
        if (rs != RF_OK) {
            snprintf(msg, 256, "%.250s", err.msg[0] ? err.msg : "out of memory");
            return false;
        }
    } else {
        const json_t *p = json_object_get(j, "prompt");
        if (json_is_array(p) && json_array_size(p) == 1)
            p = json_array_get(p, 0);
        if (!json_is_string(p)) {
            snprintf(msg, 256, "'prompt' must be a string");
            return false;
        }
        text = strdup(json_string_value(p));
        len = text ? strlen(text) : 0;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    rf_status rs = text ? rf_tokenize(s->model, text, len, RF_TOK_ADD_SPECIAL | (chat ? RF_TOK_PARSE_SPECIAL : 0), &ids,
                                      &n_ids, &err)
                        : RF_E_NOMEM;
    free(text);
    if (rs != RF_OK) {
        snprintf(msg, 256, "%.250s", err.msg[0] ? err.msg : "out of memory");
        return false;
    }
    /* a template that writes bos_token itself: the tokenizer's BOS would be a second one */
    if (n_ids >= 2 && ids[0] == ids[1]) {
        char *t0 = NULL;
        size_t l0 = 0;
        if (rf_detokenize(s->model, ids, 1, RF_DETOK_SPECIAL, &t0, &l0, NULL) == RF_OK && l0 && chat)
            memmove(ids, ids + 1, --n_ids * sizeof *ids);
        free(t0);
    }
    if (!n_ids) {
        free(ids);
        snprintf(msg, 256, "the prompt is empty");
        return false;
    }
    r->prompt = ids;
    r->n_prompt = n_ids;
    return true;
}

/* ---- answers ----------------------------------------------------------------------------------- */

static json_t *usage_json(const srv_req *r)
{
    return json_pack("{s:I,s:I,s:I,s:{s:I}}", "prompt_tokens", (json_int_t)r->n_prompt, "completion_tokens",
                     (json_int_t)r->n_gen, "total_tokens", (json_int_t)(r->n_prompt + r->n_gen),
                     "prompt_tokens_details", "cached_tokens", (json_int_t)r->n_cached);
}

/* a token's text and bytes as OpenAI's logprobs give them: as it reads
 * after another token (a leading space kept, which decoding from the start
 * of a text drops) */
static json_t *token_json(srv *s, int32_t id, float logprob)
{
    char *t = NULL;
    size_t len = 0;
    if (!srv_token_piece(s->model, id, RF_DETOK_SPECIAL, &t, &len))
        return NULL;
    json_t *bytes = json_array();
    for (size_t i = 0; i < len; i++)
        json_array_append_new(bytes, json_integer((unsigned char)t[i]));
    /* invalid UTF-8 (a byte of a character) as its bytes only, as OpenAI does */
    json_t *tok = json_stringn(t, len);
    json_t *j = json_pack("{s:o,s:f,s:o}", "token", tok ? tok : json_string(""), "logprob", (double)logprob, "bytes",
                          bytes);
    free(t);
    return j;
}

/* the logprobs of tokens [from, to) */
static json_t *logprobs_json(srv *s, const srv_req *r, size_t from, size_t to)
{
    json_t *content = json_array();
    for (size_t i = from; i < to; i++) {
        const srv_lp *lp = &r->lp[i];
        json_t *e = token_json(s, lp->id, lp->logprob), *top = json_array();
        for (int k = 0; k < lp->n_top; k++)
            json_array_append_new(top, token_json(s, lp->top_id[k], lp->top_lp[k]));
        json_object_set_new(e, "top_logprobs", top);
        json_array_append_new(content, e);
    }
    return json_pack("{s:o}", "content", content);
}

/* /v1/completions' (legacy) logprobs of tokens [from, to): their texts,
 * log-probabilities, alternatives as {text: logprob}, and where each
 * token's text starts in the reply */
static json_t *legacy_logprobs_json(srv *s, const srv_req *r, size_t from, size_t to)
{
    json_t *toks = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    for (size_t i = from; i < to; i++) {
        const srv_lp *lp = &r->lp[i];
        json_t *t = token_json(s, lp->id, lp->logprob), *top = json_object();
        json_array_append(toks, json_object_get(t, "token"));
        json_array_append_new(lps, json_real(lp->logprob));
        for (int k = 0; k < lp->n_top; k++) {
            json_t *a = token_json(s, lp->top_id[k], lp->top_lp[k]);
            json_object_set(top, json_string_value(json_object_get(a, "token")), json_object_get(a, "logprob"));
            json_decref(a);
        }
        json_array_append_new(tops, top);
        json_array_append_new(offs, json_integer(i ? (json_int_t)r->lp[i - 1].text_end : 0));
        json_decref(t);
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "tokens", toks, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offs);
}

static json_t *completion_json(srv *s, const srv_req *r, bool chat, unsigned long id, const char *text, size_t len)
{
    char ids[48];
    snprintf(ids, sizeof ids, "%s-%lu", chat ? "chatcmpl" : "cmpl", id);
    json_t *choice = chat ? json_pack("{s:i,s:{s:s,s:s%},s:o,s:s}", "index", 0, "message", "role", "assistant",
                                      "content", text, len, "logprobs",
                                      r->logprobs >= 0 ? logprobs_json(s, r, 0, r->n_lp) : json_null(),
                                      "finish_reason",
                                      r->finish ? r->finish : "stop")
                          : json_pack("{s:i,s:s%,s:o,s:s}", "index", 0, "text", text, len, "logprobs",
                                      r->logprobs >= 0 ? legacy_logprobs_json(s, r, 0, r->n_lp) : json_null(),
                                      "finish_reason", r->finish ? r->finish : "stop");
    return json_pack("{s:s,s:s,s:I,s:s,s:[o],s:o}", "id", ids, "object", chat ? "chat.completion" : "text_completion",
                     "created", (json_int_t)time(NULL), "model", s->model_name, "choices", choice, "usage",
                     usage_json(r));
}

/* the streaming state of one connection */
typedef struct stream {
    srv *s;
    srv_req *r;
    const char *path;
    double t0;
    bool chat, usage;
    unsigned long id;
    int phase;         /* 0 first chunk, 1 text, 2 the final chunk, 3 usage, 4 [DONE], 5 end */
    size_t sent;       /* bytes of r->text sent */
    size_t lp_sent;    /* logprobs entries sent (with their tokens' text) */
    strbuf out;        /* formatted, not yet handed to MHD */
    size_t out_off;
} stream;

/* how much of text may go out: not a possible stop string's start, not a
 * partial UTF-8 character */
static size_t sendable(const srv_req *r)
{
    size_t n = r->text.n;
    if (r->done)
        return n;
    n = r->max_stop_len && n >= r->max_stop_len - 1 ? n - (r->max_stop_len - 1) : r->max_stop_len ? 0 : n;
    size_t k = n; /* back to a character boundary */
    while (k > 0 && ((unsigned char)r->text.p[k - 1] & 0xc0) == 0x80)
        k--;
    if (k > 0) {
        unsigned char lead = (unsigned char)r->text.p[k - 1];
        size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
        if (n - (k - 1) < need)
            n = k - 1;
    }
    return n;
}

static void chunk(stream *st, json_t *delta, const char *finish, json_t *usage, json_t *logprobs)
{
    char ids[48];
    snprintf(ids, sizeof ids, "%s-%lu", st->chat ? "chatcmpl" : "cmpl", st->id);
    json_t *choices = json_array();
    if (delta && st->chat)
        json_array_append_new(choices, json_pack("{s:i,s:o,s:o,s:o}", "index", 0, "delta", delta, "logprobs",
                                                 logprobs ? logprobs : json_null(), "finish_reason",
                                                 finish ? json_string(finish) : json_null()));
    else if (delta) /* a completion's text piece */
        json_array_append_new(choices, json_pack("{s:i,s:o,s:o,s:o}", "index", 0, "text", delta, "logprobs",
                                                 logprobs ? logprobs : json_null(), "finish_reason",
                                                 finish ? json_string(finish) : json_null()));
    json_t *j = json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", ids, "object",
                          st->chat ? "chat.completion.chunk" : "text_completion", "created", (json_int_t)time(NULL),
                          "model", st->s->model_name, "choices", choices);
    if (usage)
        json_object_set_new(j, "usage", usage);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    strbuf_puts(&st->out, "data: ");
    strbuf_puts(&st->out, text ? text : "{}");
    strbuf_puts(&st->out, "\n\n");
    free(text);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *st = cls;
    srv *s = st->s;
    while (st->out_off == st->out.n) {
        st->out.n = st->out_off = 0;
        if (st->phase == 5)
            return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&s->mu);
        size_t can;
        while (st->phase == 1 && (can = sendable(st->r)) <= st->sent && !st->r->done && !s->stopping)
            pthread_cond_wait(&s->progress, &s->mu);
        if (st->phase == 1 && !st->r->done && s->stopping)
            st->phase = 4;
        srv_req *r = st->r;
        if (st->phase == 0) {
            if (st->chat)
                chunk(st, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL, NULL, NULL);
            st->phase = 1;
        } else if (st->phase == 1) {
            can = sendable(r);
            if (r->err.status != RF_OK) { /* an error event, then the end */
                json_t *e = json_pack("{s:{s:s,s:s}}", "error", "message", r->err.msg, "type", "server_error");
                char *t = json_dumps(e, JSON_COMPACT);
                json_decref(e);
                strbuf_puts(&st->out, "data: ");
                strbuf_puts(&st->out, t ? t : "{}");
                strbuf_puts(&st->out, "\n\n");
                free(t);
                st->phase = 4;
            } else if (can > st->sent) {
                json_t *piece = json_stringn(r->text.p + st->sent, can - st->sent), *lp = NULL;
                size_t upto = st->lp_sent; /* the tokens whose text goes out with this piece */
                while (upto < r->n_lp && r->lp[upto].text_end <= can)
                    upto++;
                if (r->logprobs >= 0)
                    lp = st->chat ? logprobs_json(s, r, st->lp_sent, upto)
                                  : legacy_logprobs_json(s, r, st->lp_sent, upto);
                st->lp_sent = upto;
                chunk(st, st->chat ? json_pack("{s:o}", "content", piece) : piece, NULL, NULL, lp);
                st->sent = can;
            } else if (r->done) {
                st->phase = 2;
            }
        } else if (st->phase == 2) {
            json_t *lp = r->logprobs < 0 || st->lp_sent >= r->n_lp ? NULL
                         : st->chat ? logprobs_json(s, r, st->lp_sent, r->n_lp)
                                    : legacy_logprobs_json(s, r, st->lp_sent, r->n_lp);
            st->lp_sent = r->n_lp;
            chunk(st, st->chat ? json_object() : json_string(""), r->finish ? r->finish : "stop", NULL, lp);
            st->phase = st->usage ? 3 : 4;
        } else if (st->phase == 3) {
            chunk(st, NULL, NULL, usage_json(r), NULL);
            st->phase = 4;
        } else if (st->phase == 4) {
            strbuf_puts(&st->out, "data: [DONE]\n\n");
            st->phase = 5;
        }
        pthread_mutex_unlock(&s->mu);
        if (st->out.oom)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = st->out.n - st->out_off < max ? st->out.n - st->out_off : max;
    memcpy(buf, st->out.p + st->out_off, n);
    st->out_off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream *st = cls;
    pthread_mutex_lock(&st->s->mu);
    bool left = !st->r->done;
    if (left)
        st->r->cancelled = true; /* the client left: the loop frees the slot */
    pthread_cond_signal(&st->s->work);
    pthread_mutex_unlock(&st->s->mu);
    log_request(st->s, left ? 499 : 200, "POST", st->path, st->t0, st->r);
    srv_req_release(st->s, st->r);
    free(st->out.p);
    free(st);
}

/* Does a new request find no room? The room is QUEUE_PER_SLOT waiting
 * requests a slot, plus the slots no request holds yet: a request the loop
 * has not taken into an idle slot still counts as queued, so counting the
 * queue alone would turn one away or not depending on how soon the loop
 * ran. */
static bool queue_full(srv *s)
{
    pthread_mutex_lock(&s->mu);
    size_t idle = s->busy < s->opt.parallel ? (size_t)(s->opt.parallel - s->busy) : 0;
    bool full = s->queued >= (size_t)(QUEUE_PER_SLOT * s->opt.parallel) + idle;
    pthread_mutex_unlock(&s->mu);
    return full;
}

/* waits for the loop to finish r (or the server to stop) */
static void wait_done(srv *s, srv_req *r)
{
    pthread_mutex_lock(&s->mu);
    while (!r->done && !s->stopping)
        pthread_cond_wait(&s->progress, &s->mu);
    if (!r->done)
        rf_fail(&r->err, RF_E_IO, "the server is shutting down");
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result embeddings(srv *s, struct MHD_Connection *c, const json_t *j)
{
    if (!s->embedding)
        return reply_error(s, c, 400, "'model': this server's model gives logits, not embeddings (/v1/embeddings "
                           "needs an embedding model: bert, nomic-bert)");
    srv_req *r = calloc(1, sizeof *r);
    char msg[256] = "";
    if (!r)
        return reply_error(s, c, 500, "out of memory");
    r->refs = 1;
    if (!srv_embed_parse(s, j, r, msg)) {
        srv_req_release(s, r);
        return reply_error(s, c, strcmp(msg, "out of memory") ? 400 : 500, msg);
    }
    if (queue_full(s)) {
        srv_req_release(s, r);
        return reply_error(s, c, 503, "the server is busy: the queue is full; retry soon");
    }
    srv_enqueue(s, r);
    wait_done(s, r);
    enum MHD_Result ret;
    if (r->err.status != RF_OK) {
        ret = reply_error(s, c, r->err.status == RF_E_ARG ? 400 : 500, r->err.msg);
    } else {
        json_t *body = srv_embed_json(s, r);
        ret = body ? reply_json(s, c, 200, body) : reply_error(s, c, 500, "out of memory");
    }
    srv_req_release(s, r);
    return ret;
}

static enum MHD_Result completion(srv *s, struct MHD_Connection *c, const json_t *j, bool chat)
{
    if (s->embedding)
        return reply_error(s, c, 400, "'model': this server's model is an embedding model: it gives embeddings "
                           "(/v1/embeddings), not completions");
    srv_req *r = calloc(1, sizeof *r);
    char msg[256] = "";
    bool stream_on = false, usage = false;
    if (!r)
        return reply_error(s, c, 500, "out of memory");
    r->refs = 1;
    if (!parse_request(s, j, chat, r, &stream_on, &usage, msg)) {
        srv_req_release(s, r);
        return reply_error(s, c, 400, msg);
    }
    if (queue_full(s)) {
        srv_req_release(s, r);
        return reply_error(s, c, 503, "the server is busy: every slot is taken and the queue is full; retry soon");
    }
    unsigned long id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    srv_enqueue(s, r);
    if (stream_on) {
        stream *st = calloc(1, sizeof *st);
        struct MHD_Response *resp = st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st,
                                                                           stream_free)
                                       : NULL;
        if (!resp) {
            pthread_mutex_lock(&s->mu);
            r->cancelled = true;
            pthread_mutex_unlock(&s->mu);
            srv_req_release(s, r);
            free(st);
            return reply_error(s, c, 500, "out of memory");
        }
        *st = (stream){.s = s, .r = r, .path = chat ? "/v1/chat/completions" : "/v1/completions", .t0 = here.t0,
                       .chat = chat, .usage = usage, .id = id};
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        pthread_mutex_lock(&s->mu);
        s->m.requests[0]++;
        pthread_mutex_unlock(&s->mu);
        enum MHD_Result ret = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    wait_done(s, r);
    enum MHD_Result ret;
    here.r = r;
    if (r->err.status != RF_OK)
        ret = reply_error(s, c, r->err.status == RF_E_ARG ? 400 : 500, r->err.msg);
    else
        ret = reply_json(s, c, 200, completion_json(s, r, chat, id, r->text.p ? r->text.p : "", r->text.n));
    here.r = NULL;
    srv_req_release(s, r);
    return ret;
}

/* ---- the small endpoints ------------------------------------------------------------------------ */

static enum MHD_Result tokenize(srv *s, struct MHD_Connection *c, const json_t *j)
{
    const json_t *content = json_object_get(j, "content");
    if (!json_is_string(content))
        return reply_error(s, c, 400, "'content' must be a string");
    unsigned flags = (json_is_true(json_object_get(j, "add_special")) ? RF_TOK_ADD_SPECIAL : 0) |
                     (json_is_false(json_object_get(j, "parse_special")) ? 0 : RF_TOK_PARSE_SPECIAL);
    int32_t *ids = NULL;
    size_t n = 0;
    rf_error err = {0};
    if (rf_tokenize(s->model, json_string_value(content), json_string_length(content), flags, &ids, &n, &err) != RF_OK)
        return reply_error(s, c, 400, err.msg);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(ids[i]));
    free(ids);
    return reply_json(s, c, 200, json_pack("{s:o}", "tokens", a));
}

static enum MHD_Result detokenize(srv *s, struct MHD_Connection *c, const json_t *j)
{
    const json_t *toks = json_object_get(j, "tokens");
    if (!json_is_array(toks))
        return reply_error(s, c, 400, "'tokens' must be an array of token ids");
    size_t n = json_array_size(toks), i;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    const json_t *e;
    if (!ids)
        return reply_error(s, c, 500, "out of memory");
    json_array_foreach(toks, i, e) {
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= rf_vocab_size(s->model)) {
            free(ids);
            char msg[128];
            snprintf(msg, sizeof msg, "'tokens'[%zu] is not a token id of this model (0..%u)", i,
                     rf_vocab_size(s->model) - 1);
            return reply_error(s, c, 400, msg);
        }
        ids[i] = (int32_t)json_integer_value(e);
    }
    char *text = NULL;
    size_t len = 0;
    rf_error err = {0};
    rf_status st = rf_detokenize(s->model, ids, n, RF_DETOK_SPECIAL, &text, &len, &err);
    free(ids);
    if (st != RF_OK)
        return reply_error(s, c, 400, err.msg);
    json_t *out = json_pack("{s:s%}", "content", text, len);
    free(text);
    return reply_json(s, c, 200, out);
}

static enum MHD_Result apply_template(srv *s, struct MHD_Connection *c, const json_t *j)
{
    char *conv = json_dumps(j, JSON_COMPACT), *text = NULL;
    size_t len = 0;
    rf_error err = {0};
    rf_chat_options co = {.template_text = s->opt.chat_template};
    rf_status st = conv ? rf_chat_render(s->model, conv, strlen(conv), &co, &text, &len, &err) : RF_E_NOMEM;
    free(conv);
    if (st != RF_OK)
        return reply_error(s, c, st == RF_E_NOMEM ? 500 : 400, err.msg[0] ? err.msg : "out of memory");
    json_t *out = json_pack("{s:s%}", "prompt", text, len);
    free(text);
    return reply_json(s, c, 200, out);
}

static void hist_text(strbuf *b, const char *name, const char *help, const uint64_t *bk, uint64_t count, double sum)
{
    static const char *const le[8] = {"0.05", "0.1", "0.25", "0.5", "1", "2.5", "10", "+Inf"};
    strbuf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < 8; i++)
        strbuf_printf(b, "%s_bucket{le=\"%s\"} %llu\n", name, le[i], (unsigned long long)bk[i]);
    strbuf_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, sum, name, (unsigned long long)count);
}

static enum MHD_Result metrics(srv *s, struct MHD_Connection *c)
{
    static const char *const codes[6] = {"200", "400", "401", "404", "500", "503"};
    strbuf b = {0};
    pthread_mutex_lock(&s->mu);
    srv_metrics m = s->m;
    size_t queued = s->queued;
    int busy = s->busy;
    uint32_t used = s->kv_used, total = s->kv_total, block = s->kv_block;
    pthread_mutex_unlock(&s->mu);
    strbuf_puts(&b, "# HELP rocmforge_requests_total HTTP requests answered, by status\n"
                    "# TYPE rocmforge_requests_total counter\n");
    for (int i = 0; i < 6; i++)
        strbuf_printf(&b, "rocmforge_requests_total{status=\"%s\"} %llu\n", codes[i],
                      (unsigned long long)m.requests[i]);
    strbuf_printf(&b, "# HELP rocmforge_prompt_tokens_total Prompt tokens evaluated\n"
                      "# TYPE rocmforge_prompt_tokens_total counter\nrocmforge_prompt_tokens_total %llu\n"
                      "# HELP rocmforge_generated_tokens_total Tokens generated\n"
                      "# TYPE rocmforge_generated_tokens_total counter\nrocmforge_generated_tokens_total %llu\n",
                  (unsigned long long)m.prompt_tokens, (unsigned long long)m.gen_tokens);
    hist_text(&b, "rocmforge_time_to_first_token_seconds", "From the request's arrival to its first token",
              m.ttft_buckets, m.ttft_count, m.ttft_sum);
    hist_text(&b, "rocmforge_inter_token_latency_seconds", "Between two tokens of a request", m.itl_buckets,
              m.itl_count, m.itl_sum);
    strbuf_printf(&b, "# HELP rocmforge_queue_length Requests waiting for a slot\n# TYPE rocmforge_queue_length gauge\n"
                      "rocmforge_queue_length %zu\n"
                      "# HELP rocmforge_busy_slots Slots generating\n# TYPE rocmforge_busy_slots gauge\n"
                      "rocmforge_busy_slots %d\n"
                      "# HELP rocmforge_kv_blocks_used KV cache blocks held by sequences (%u positions each)\n"
                      "# TYPE rocmforge_kv_blocks_used gauge\nrocmforge_kv_blocks_used %u\n"
                      "# HELP rocmforge_kv_blocks_free KV cache blocks free\n"
                      "# TYPE rocmforge_kv_blocks_free gauge\nrocmforge_kv_blocks_free %u\n",
                  queued, busy, block, used, total - used);
    if (b.oom) {
        free(b.p);
        return reply_error(s, c, 500, "out of memory");
    }
    return reply(s, c, 200, "text/plain; version=0.0.4", b.p);
}

/* ---- routing -------------------------------------------------------------------------------------- */

static enum MHD_Result route(srv *s, struct MHD_Connection *c, const char *url, const char *method, conn *cn)
{
    here.method = method, here.path = url, here.t0 = cn->t0, here.r = NULL;
    bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET");
    if (get && !strcmp(url, "/health"))
        return s->ready ? reply_json(s, c, 200, json_pack("{s:s}", "status", "ok"))
                        : reply_json(s, c, 503, json_pack("{s:s}", "status", "loading model"));
    if (s->opt.api_key) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        if (!auth || strncmp(auth, "Bearer ", 7) || strcmp(auth + 7, s->opt.api_key))
            return reply_error(s, c, 401, "invalid or missing API key (Authorization: Bearer KEY)");
    }
    if (!s->ready)
        return reply_error(s, c, 503, "the model is loading");
    if (get && !strcmp(url, "/v1/models"))
        return reply_json(s, c, 200, json_pack("{s:s,s:[{s:s,s:s,s:I,s:s}]}", "object", "list", "data", "id",
                                                s->model_name, "object", "model", "created", (json_int_t)time(NULL),
                                                "owned_by", "rocmforge"));
    if (get && !strcmp(url, "/metrics"))
        return metrics(s, c);
    static const char *const posts[] = {"/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize",
                                        "/apply-template", "/v1/embeddings"};
    int which = -1;
    for (int i = 0; i < 6; i++)
        if (!strcmp(url, posts[i]))
            which = i;
    if (which < 0)
        return reply_error(s, c, 404, "no such endpoint");
    if (!post)
        return reply_error(s, c, 404, "this endpoint takes POST");
    if (cn->too_big)
        return reply_error(s, c, 413, "the request body is over 32 MiB");
    json_error_t je;
    json_t *j = json_loadb(cn->body.p ? cn->body.p : "", cn->body.n, JSON_PRESERVE_ORDER, &je);
    if (!j || !json_is_object(j)) {
        char msg[256];
        snprintf(msg, sizeof msg, j ? "the body must be a JSON object" : "the body is not JSON: line %d: %s",
                 je.line, je.text);
        json_decref(j);
        return reply_error(s, c, 400, msg);
    }
    enum MHD_Result ret = which <= 1 ? completion(s, c, j, which == 0)
                        : which == 2 ? tokenize(s, c, j)
                        : which == 3 ? detokenize(s, c, j)
                        : which == 4 ? apply_template(s, c, j)
                                     : embeddings(s, c, j);
    json_decref(j);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    srv *s = cls;
    conn *cn = *con_cls;
    if (!cn) { /* the headers: the body comes in the next calls */
        if (!(cn = calloc(1, sizeof *cn)))
            return MHD_NO;
        cn->t0 = srv_now();
        *con_cls = cn;
        return MHD_YES;
    }
    if (*upload_size) {
        if (cn->body.n + *upload_size > MAX_BODY)
            cn->too_big = true;
        else
            strbuf_put(&cn->body, upload, *upload_size);
        *upload_size = 0;
        return cn->body.oom ? MHD_NO : MHD_YES;
    }
    return route(s, c, url, method, cn);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    conn *cn = *con_cls;
    if (cn) {
        free(cn->body.p);
        free(cn);
    }
    *con_cls = NULL;
}

rf_status srv_http_start(srv *s, struct MHD_Daemon **out, int *port, rf_error *err)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->opt.port)};
    if (inet_pton(AF_INET, s->opt.host, &addr.sin_addr) != 1)
        return rf_fail(err, RF_E_ARG, "--host %s: not an IPv4 address", s->opt.host);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, MHD_OPTION_END);
    if (!d)
        return rf_fail(err, RF_E_IO, "cannot listen on %s:%d (in use, or no permission)", s->opt.host, s->opt.port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? (int)info->port : s->opt.port;
    *out = d;
    return RF_OK;
}
