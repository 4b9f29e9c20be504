/*
 * server.c: srv_run, the server's life: open the model and its session
 * (one sequence a slot), start the step loop and the HTTP daemon, wait for
 * srv_stop, then end every request with an error, join the loop and close.
 * An embedding model gets one sequence and srv_embed_loop instead.
 * /health answers 503 until the model is open.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>

#include "srv/server.h"
#include "support/error.h"

static volatile sig_atomic_t stop_flag;

void srv_stop(void) { stop_flag = 1; }

static void say(const srv *s, const char *line)
{
    if (s->opt.log)
        s->opt.log(s->opt.log_ctx, line);
}

/* s->eog_ids: every token that ends generation */
static rf_status find_eog(srv *s, rf_error *err)
{
    size_t nv = rf_vocab_size(s->model);
    for (size_t v = 0; v < nv; v++)
        s->n_eog += rf_token_is_eog(s->model, (int32_t)v);
    if (!(s->eog_ids = malloc((s->n_eog ? s->n_eog : 1) * sizeof *s->eog_ids)))
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    s->n_eog = 0;
    for (size_t v = 0; v < nv; v++)
        if (rf_token_is_eog(s->model, (int32_t)v))
            s->eog_ids[s->n_eog++] = (int32_t)v;
    return RF_OK;
}

rf_status srv_run(const char *model_path, const srv_options *o, rf_error *err)
{
    srv *s = calloc(1, sizeof *s);
    if (!s)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    s->opt = *o;
    if (s->opt.parallel < 1)
        s->opt.parallel = 1;
    const char *base = strrchr(model_path, '/');
    s->model_name = base ? base + 1 : model_path;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->progress, NULL);
    struct MHD_Daemon *d = NULL;
    int port = 0;
    bool loop_started = false;
    rf_status st = srv_http_start(s, &d, &port, err);
    char line[512];
    if (st == RF_OK) {
        snprintf(line, sizeof line, "listening on http://%s:%d (loading %s)", s->opt.host, port, model_path);
        say(s, line);
        rf_model_info info;
        /* --ctx is the cache's positions in all, which the slots share; a
         * slot may grow to the model's context (4096 at most by default) */
        rf_session_options so = s->opt.place;
        so.backend = s->opt.backend;
        so.n_threads = s->opt.n_threads;
        so.kv_positions = s->opt.n_ctx;
        so.n_seq = (uint32_t)s->opt.parallel;
        so.n_ubatch = s->opt.n_ubatch;
        so.kv_f16 = s->opt.kv_f16;
        st = rf_model_open(model_path, &s->model, err);
        if (st == RF_OK && (st = rf_model_get_info(s->model, &info, err)) == RF_OK) {
            so.n_ctx = info.context_length && info.context_length < 4096 ? info.context_length : 4096;
            if (s->opt.n_ctx && s->opt.n_ctx > so.n_ctx && info.context_length)
                so.n_ctx = s->opt.n_ctx < info.context_length ? s->opt.n_ctx : info.context_length;
            if (s->opt.n_ctx && so.n_ctx > s->opt.n_ctx)
                so.n_ctx = s->opt.n_ctx;
        }
        if (st == RF_OK && (s->embedding = rf_model_is_embedding(s->model))) {
            /* a text is one step of its own, in one sequence (rf_embed) */
            s->opt.parallel = 1;
            so.n_seq = 1;
            so.kv_positions = 0;
        }
        if (st == RF_OK) /* built now, before threads share it */
            st = rf_model_load_tokenizer(s->model, err);
        if (st == RF_OK)
            st = find_eog(s, err);
        if (st == RF_OK)
            st = rf_session_open(s->model, &so, &s->session, err);
    }
    if (st == RF_OK) {
        if (rf_session_fallback(s->session)) {
            snprintf(line, sizeof line, "%s", rf_session_fallback(s->session));
            say(s, line);
        }
        rf_session_kv_blocks(s->session, &s->kv_used, &s->kv_total, &s->kv_block);
        loop_started = pthread_create(&s->loop, NULL, s->embedding ? srv_embed_loop : srv_loop, s) == 0;
        if (!loop_started)
            st = rf_fail(err, RF_E_NOMEM, "cannot start the step loop");
    }
    if (st == RF_OK) {
        pthread_mutex_lock(&s->mu);
        s->ready = true;
        pthread_mutex_unlock(&s->mu);
        char split[48] = ""; /* a model split by layers (--gpu-layers): how many the GPU runs */
        if (strchr(rf_session_backend(s->session), '+'))
            snprintf(split, sizeof split, " (%u layers on the GPU)", rf_session_gpu_layers(s->session));
        if (s->embedding)
            snprintf(line, sizeof line, "ready: %s on %s, an embedding model (/v1/embeddings) of texts up to %u "
                     "tokens", s->model_name, rf_session_backend(s->session), rf_session_n_ctx(s->session));
        else
            snprintf(line, sizeof line, "ready: %s on %s%s, %d slot%s of up to %u positions, a cache of %u",
                     s->model_name, rf_session_backend(s->session), split, s->opt.parallel,
                     s->opt.parallel == 1 ? "" : "s", rf_session_n_ctx(s->session), s->kv_total * s->kv_block);
        say(s, line);
        while (!stop_flag) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        say(s, "stopping");
    }
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->work);
    pthread_cond_broadcast(&s->progress);
    pthread_mutex_unlock(&s->mu);
    if (loop_started)
        pthread_join(s->loop, NULL);
    if (d)
        MHD_stop_daemon(d);
    rf_session_close(s->session);
    rf_model_close(s->model);
    pthread_cond_destroy(&s->progress);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->mu);
    free(s->eog_ids);
    free(s);
    return st;
}
