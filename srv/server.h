/*
 * server.h: `rocmforge serve`, an OpenAI-compatible HTTP server (the
 * subsystem's one internal header).
 *
 * Two kinds of thread, as Redis and nginx split the work: libmicrohttpd's
 * connection threads (http.c) only parse, validate, render the chat
 * template, tokenize and enqueue a request, then wait for its text; one step
 * loop thread (loop.c) owns the session and does all evaluation: it admits
 * queued requests into free sequence slots (their prompts one by one), then
 * advances every generating slot by one token in one batched decode step
 * (continuous batching: a request joins or leaves between steps), samples
 * each row, and appends the text. A slow or vanished client never blocks
 * the loop: the loop only appends to a request's buffer and signals; a
 * streaming connection thread copies out what is new. Everything shared is
 * under one mutex.
 *
 * Built on the public API (rocmforge.h) alone: model, session, sampler,
 * chat templates.
 */
#ifndef RF_SRV_SERVER_H
#define RF_SRV_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "rocmforge/rocmforge.h"
#include "srv/grammar.h"
#include "support/strbuf.h"

typedef struct srv_options {
    const char *host;          /* "127.0.0.1" */
    int port;                  /* 8080; 0: any free port (the log line says which) */
    int parallel;              /* sequences generating at once (slots) */
    uint32_t n_ctx;            /* the KV cache's positions, shared by the slots (0: slots x what one may
                                  hold: the model's context, at most 4096) */
    uint32_t n_ubatch;         /* tokens a prefill step (0: 512) */
    const char *backend;       /* "cpu", "gpu", "auto" */
    /* where the session runs: rf_session_options' gpu_layers,
     * gpu_mem_limit and tp* fields (the others are set from the above) */
    rf_session_options place;
    int n_threads;
    bool kv_f16;
    const char *api_key;       /* NULL: none required */
    const char *chat_template; /* a template's text instead of the model's (NULL) */
    /* one line for the operator ("listening on ...", request lines); the
     * library never prints */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} srv_options;

/* Opens the model, starts listening, serves until srv_stop (or SIGINT /
 * SIGTERM through the CLI), then drains and returns. */
rf_status srv_run(const char *model_path, const srv_options *o, rf_error *err);
void srv_stop(void);

/* ---- requests (shared by http.c and loop.c) ------------------------------------- */

enum { SRV_MAX_STOP = 8, SRV_MAX_TOP = 20 };

/* one generated token's log-probability, and its best alternatives' */
typedef struct srv_lp {
    int32_t id;
    size_t text_end;   /* the reply's bytes up to and with this token (a stream sends it with them) */
    float logprob;
    int n_top;
    int32_t top_id[SRV_MAX_TOP];
    float top_lp[SRV_MAX_TOP];
} srv_lp;

typedef struct srv_req {
    /* what to do (set by http.c before enqueueing, then read-only) */
    int32_t *prompt;
    size_t n_prompt;
    rf_sampler_params sp;
    int max_tokens;            /* < 0: until the context is full */
    char *stop[SRV_MAX_STOP];  /* matched on the text, across token boundaries */
    size_t n_stop, max_stop_len;
    int32_t *bias_id;          /* logit_bias: added to these tokens' logits before sampling */
    float *bias;
    size_t n_bias;
    int logprobs;              /* < 0: none; else the sampled token's and this many alternatives */
    gnode *grammar;            /* response_format: the JSON (schema) the reply must be, or NULL */
    gstate gs;                 /* its recognizer (the step loop's) */
    /* progress (under the server's mutex) */
    strbuf text;               /* the text generated so far (a stop string cut off) */
    size_t n_gen;
    size_t n_cached;           /* prompt tokens its slot held already (not evaluated again) */
    srv_lp *lp;                /* (n_lp) with logprobs: one a generated token */
    size_t n_lp, cap_lp;
    const char *finish;        /* NULL while running: "stop", "length" */
    bool done, cancelled;      /* cancelled: the client left; the loop frees the slot */
    rf_error err;              /* err.status != RF_OK: failed */
    double t_queued, t_first;  /* monotonic seconds: enqueue, first token */
    /* /v1/embeddings: prompt holds n_inputs texts, text i ending at
     * input_end[i]; the loop fills embd (n_inputs x n_embd, unit length) */
    size_t n_inputs, *input_end;
    float *embd;
    bool embd_base64;          /* encoding_format "base64" */
    int refs;                  /* the connection and the loop each hold one */
    struct srv_req *next;      /* the queue */
} srv_req;

typedef struct srv_metrics {
    uint64_t requests[6];      /* by status class: 200, 400, 401, 404, 500, 503 */
    uint64_t prompt_tokens, gen_tokens;
    uint64_t ttft_buckets[8], ttft_count; /* time to first token, seconds: le 0.05 .. 10, +Inf */
    double ttft_sum;
    uint64_t itl_buckets[8], itl_count;   /* inter-token latency */
    double itl_sum;
} srv_metrics;

typedef struct srv {
    srv_options opt;
    rf_model *model;
    rf_session *session;
    const char *model_name;
    pthread_mutex_t mu;
    pthread_cond_t work;       /* the loop waits for requests */
    pthread_cond_t progress;   /* connections wait for text */
    srv_req *queue, *queue_tail;
    size_t queued;
    int busy;                  /* slots generating */
    uint32_t kv_used, kv_total, kv_block; /* the session's cache blocks, as the loop last saw them */
    /* each token's bytes as they read after another token, and which end
     * generation: built by the loop for the first request with a grammar */
    char **piece;
    uint32_t *piece_len;
    uint8_t *eog;
    int32_t *eog_ids;          /* the end-of-generation tokens (n_eog), found once at start */
    size_t n_eog;
    bool ready, stopping;
    bool embedding;            /* the model gives embeddings: /v1/embeddings, srv_embed_loop, one slot */
    srv_metrics m;
    pthread_t loop;
} srv;

/* loop.c */
void *srv_loop(void *arg);
/* token id's text as it reads after another token (decoding [id, id] and
 * dropping [id]'s text keeps the leading space that decoding from the start
 * drops); *out malloc'd, NUL-terminated; false on no memory */
bool srv_token_piece(rf_model *m, int32_t id, unsigned flags, char **out, size_t *len);
/* enqueue (takes a reference); NULL-safe release */
void srv_enqueue(srv *s, srv_req *r);
void srv_req_release(srv *s, srv_req *r);
void srv_req_release_locked(srv_req *r); /* the same, under the mutex */
double srv_now(void);

/* embed.c: /v1/embeddings; false with msg (a 400's) when the body is bad */
struct json_t;
bool srv_embed_parse(srv *s, const struct json_t *j, srv_req *r, char *msg);
struct json_t *srv_embed_json(srv *s, const srv_req *r); /* NULL: no memory */
void *srv_embed_loop(void *arg);                  /* srv_loop for an embedding model */

/* http.c */
struct MHD_Daemon;
rf_status srv_http_start(srv *s, struct MHD_Daemon **out, int *port, rf_error *err);

#endif
