/*
 * loop.c: the step loop, the one thread that evaluates.
 *
 * Slots are the session's sequences. Each turn: take queued requests into
 * free slots; then one step (rf_session_step) that holds a token for every
 * slot generating and, after them, chunks of the prompts still being read,
 * oldest request first, up to the ubatch in all; sample every slot that
 * generates and every prompt that ended in the step (its reply's first
 * token). The weights are read once for the replies and the prompts
 * together, and a long prompt is read over several turns, so the streams
 * already running keep getting tokens meanwhile. A request leaves its slot when it
 * ends (an end-of-generation token, a stop string, max_tokens, a full
 * context) or its client goes away, and a queued one takes it at the
 * following turn: continuous batching. The slot's sequence stays in the
 * cache: a queued request goes to the free slot holding the longest
 * prefix of its prompt, cut back to that prefix, and only the rest of the
 * prompt is evaluated.
 *
 * The text of a request is the detokenization of its tokens after the last
 * few prompt tokens (so the first word gets its leading space as in
 * context) minus that of those prompt tokens; stop strings are searched in
 * it, so one split over several tokens is found, and the text is cut
 * before it. Recomputing the text each token costs O(n) a token; fine for
 * the lengths chat replies have.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv/server.h"
#include "support/error.h"

enum { CONTEXT_IDS = 4 };

typedef struct slot {
    uint32_t seq;      /* its sequence in the session */
    srv_req *r;
    rf_sampler *smp;
    int32_t *ids;      /* the last prompt tokens, then the generated ones */
    size_t n_ctx_ids, n_ids, cap;
    size_t ctx_text;   /* bytes of the context tokens' own text */
    int32_t last;
    size_t prefilled;  /* prompt tokens evaluated so far (chunks, in steps beside the decode rows) */
    uint64_t order;    /* when its request was admitted: older prompts are read first */
    size_t chunk;      /* prompt tokens in the step being built */
    /* the tokens the slot's sequence holds in the session, in order: kept
     * after a request ends, so a next one sharing a prefix (a system
     * prompt, a conversation's earlier turns) evaluates only the rest */
    int32_t *held;
    size_t n_held, cap_held;
    bool generating;
    double t_last;
} slot;

double srv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void srv_enqueue(srv *s, srv_req *r)
{
    pthread_mutex_lock(&s->mu);
    r->refs++;
    r->t_queued = srv_now();
    if (s->queue_tail)
        s->queue_tail->next = r;
    else
        s->queue = r;
    s->queue_tail = r;
    s->queued++;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}

/* drops a reference; under the mutex or not, as the caller says */
static void release_locked(srv_req *r)
{
    if (!r || --r->refs > 0)
        return;
    free(r->prompt);
    free(r->input_end);
    free(r->embd);
    srv_grammar_free(r->grammar);
    free(r->bias_id);
    free(r->bias);
    free(r->lp);
    for (size_t i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    free(r->text.p);
    free(r);
}

void srv_req_release_locked(srv_req *r) { release_locked(r); }

void srv_req_release(srv *s, srv_req *r)
{
    pthread_mutex_lock(&s->mu);
    release_locked(r);
    pthread_mutex_unlock(&s->mu);
}

static void histogram(uint64_t *buckets, uint64_t *count, double *sum, double v)
{
    static const double le[7] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
    for (int i = 0; i < 7; i++)
        buckets[i] += v <= le[i];
    buckets[7]++;
    (*count)++;
    *sum += v;
}

static bool held_push(slot *sl, const int32_t *ids, size_t n)
{
    if (sl->n_held + n > sl->cap_held) {
        size_t cap = sl->cap_held ? sl->cap_held : 256;
        while (cap < sl->n_held + n)
            cap *= 2;
        int32_t *h = realloc(sl->held, cap * sizeof *h);
        if (!h)
            return false;
        sl->held = h, sl->cap_held = cap;
    }
    memcpy(sl->held + sl->n_held, ids, n * sizeof *ids);
    sl->n_held += n;
    return true;
}

/* ends slot sl's request (under the mutex; the loop's thread, the only one
 * that touches the session). The slot's sequence stays in the cache for
 * the next request that shares its prefix; a request that failed leaves
 * nothing to trust, so its slot starts empty. */
static void finish(srv *s, slot *sl, const char *why)
{
    srv_req *r = sl->r;
    if (r->err.status != RF_OK) {
        rf_session_forget(s->session, sl->seq);
        sl->n_held = 0;
    }
    rf_session_kv_blocks(s->session, &s->kv_used, &s->kv_total, &s->kv_block);
    if (!r->finish && r->err.status == RF_OK)
        r->finish = why;
    r->done = true;
    s->busy--;
    pthread_cond_broadcast(&s->progress);
    release_locked(r);
    rf_sampler_free(sl->smp);
    sl->smp = NULL;
    sl->r = NULL;
    sl->generating = false;
}

static void fail(srv *s, slot *sl, rf_error *err)
{
    pthread_mutex_lock(&s->mu);
    sl->r->err = *err;
    if (sl->r->err.status == RF_OK)
        sl->r->err.status = RF_E_NOMEM;
    finish(s, sl, NULL);
    pthread_mutex_unlock(&s->mu);
}

/* the request's text from its tokens; false on no memory */
static bool retext(srv *s, slot *sl, strbuf *out)
{
    char *t = NULL;
    size_t len = 0;
    if (rf_detokenize(s->model, sl->ids, sl->n_ids, 0, &t, &len, NULL) != RF_OK)
        return false;
    size_t skip = sl->ctx_text <= len ? sl->ctx_text : len;
    out->n = 0;
    strbuf_put(out, t + skip, len - skip);
    free(t);
    return !out->oom;
}

bool srv_token_piece(rf_model *m, int32_t id, unsigned flags, char **out, size_t *len)
{
    char *t1 = NULL, *t2 = NULL;
    size_t l1 = 0, l2 = 0;
    int32_t two[2] = {id, id};
    bool ok = rf_detokenize(m, two, 1, flags, &t1, &l1, NULL) == RF_OK &&
              rf_detokenize(m, two, 2, flags, &t2, &l2, NULL) == RF_OK && l2 >= l1;
    free(t1);
    if (!ok) {
        free(t2);
        return false;
    }
    memmove(t2, t2 + l1, l2 - l1);
    t2[l2 - l1] = 0;
    *out = t2;
    *len = l2 - l1;
    return true;
}

/* every token's bytes (srv_token_piece) and the end-of-generation tokens;
 * false on no memory */
static bool pieces(srv *s)
{
    if (s->piece)
        return true;
    size_t nv = rf_session_n_vocab(s->session);
    char **piece = calloc(nv, sizeof *piece);
    uint32_t *len = calloc(nv, sizeof *len);
    uint8_t *eog = calloc(nv, 1);
    for (size_t k = 0; eog && k < s->n_eog; k++)
        eog[s->eog_ids[k]] = 1;
    for (size_t v = 0; piece && len && eog && v < nv; v++) {
        size_t n = 0;
        if (srv_token_piece(s->model, (int32_t)v, 0, &piece[v], &n))
            len[v] = (uint32_t)n;
    }
    if (!piece || !len || !eog) {
        free(piece);
        free(len);
        free(eog);
        return false;
    }
    s->piece = piece, s->piece_len = len, s->eog = eog;
    return true;
}

/* masks the tokens the request's grammar does not allow next; false when
 * none is left (or no memory) */
static bool grammar_mask(srv *s, srv_req *r, float *row)
{
    size_t nv = rf_session_n_vocab(s->session), allowed = 0;
    if (!pieces(s))
        return false;
    bool can_end = srv_grammar_can_end(&r->gs);
    gstate t;
    for (size_t v = 0; v < nv; v++) {
        bool ok = s->eog[v] ? can_end : false;
        if (!s->eog[v] && s->piece_len[v]) {
            srv_grammar_copy(&t, &r->gs);
            ok = true;
            for (uint32_t k = 0; k < s->piece_len[v] && ok; k++)
                ok = srv_grammar_feed(&t, (unsigned char)s->piece[v][k]);
        }
        if (!ok)
            row[v] = -INFINITY;
        allowed += ok;
    }
    return allowed > 0;
}

/* Samples a token from row (n_vocab logits) for slot sl: logit_bias first;
 * with logprobs, *lp gets the log-softmax of the biased logits (before the
 * sampler's penalties and temperature) at the token and its best
 * alternatives. scratch: n_vocab floats. */
static int32_t sample(srv *s, slot *sl, float *row, float *scratch, srv_lp *lp)
{
    srv_req *r = sl->r;
    size_t nv = rf_session_n_vocab(s->session);
    for (size_t i = 0; i < r->n_bias; i++)
        row[r->bias_id[i]] += r->bias[i];
    if (r->grammar && !grammar_mask(s, r, row))
        return -1; /* the caller fails the request */
    if (r->logprobs >= 0) {
        memcpy(scratch, row, nv * sizeof *row);
        lp->n_top = 0;
    }
    int32_t id = rf_sampler_sample(sl->smp, row);
    if (r->grammar && !s->eog[id]) /* the reply so far, as the grammar reads it */
        for (uint32_t k = 0; k < s->piece_len[id]; k++)
            srv_grammar_feed(&r->gs, (unsigned char)s->piece[id][k]);
    if (r->logprobs < 0)
        return id;
    double mx = scratch[0], sum = 0;
    for (size_t v = 1; v < nv; v++)
        mx = scratch[v] > mx ? scratch[v] : mx;
    for (size_t v = 0; v < nv; v++)
        sum += exp((double)scratch[v] - mx);
    double lse = mx + log(sum);
    lp->id = id;
    lp->logprob = (float)(scratch[id] - lse);
    for (int k = 0; k < r->logprobs; k++) { /* the k best, by selection: k is at most 20 */
        int32_t best = -1;
        for (size_t v = 0; v < nv; v++) {
            bool taken = false;
            for (int j = 0; j < k && !taken; j++)
                taken = lp->top_id[j] == (int32_t)v;
            if (!taken && (best < 0 || scratch[v] > scratch[best]))
                best = (int32_t)v;
        }
        lp->top_id[k] = best;
        lp->top_lp[k] = (float)(scratch[best] - lse);
        lp->n_top = k + 1;
    }
    return id;
}

/* token id was sampled for slot sl: append it, or end the request (id < 0:
 * its grammar left no token) */
static void emit(srv *s, slot *sl, int32_t id, const srv_lp *lp)
{
    srv_req *r = sl->r;
    if (id < 0) {
        rf_error err;
        rf_fail(&err, RF_E_NOMEM, "the response_format left no token to sample (or no memory)");
        fail(s, sl, &err);
        return;
    }
    double now = srv_now();
    strbuf text = {0};
    bool eog = rf_token_is_eog(s->model, id), ok = true;
    if (!eog) {
        if (sl->n_ids == sl->cap) {
            size_t cap = sl->cap * 2;
            int32_t *ids = realloc(sl->ids, cap * sizeof *ids);
            ok = ids != NULL;
            if (ok)
                sl->ids = ids, sl->cap = cap;
        }
        if (ok) {
            sl->ids[sl->n_ids++] = id;
            ok = retext(s, sl, &text);
        }
    }
    pthread_mutex_lock(&s->mu);
    rf_session_kv_blocks(s->session, &s->kv_used, &s->kv_total, &s->kv_block);
    if (!r->n_gen && !eog) {
        r->t_first = now;
        histogram(s->m.ttft_buckets, &s->m.ttft_count, &s->m.ttft_sum, now - r->t_queued);
    } else if (!eog) {
        histogram(s->m.itl_buckets, &s->m.itl_count, &s->m.itl_sum, now - sl->t_last);
    }
    sl->t_last = now;
    if (!ok) {
        r->err = (rf_error){.status = RF_E_NOMEM};
        strcpy(r->err.msg, "out of memory generating text");
        finish(s, sl, NULL);
    } else if (r->cancelled || eog) {
        finish(s, sl, "stop");
    } else {
        r->n_gen++;
        s->m.gen_tokens++;
        if (r->logprobs >= 0 && r->n_lp == r->cap_lp) {
            size_t cap = r->cap_lp ? 2 * r->cap_lp : 64;
            srv_lp *nl = realloc(r->lp, cap * sizeof *nl);
            if (nl)
                r->lp = nl, r->cap_lp = cap;
        }
        size_t lp_at = r->n_lp;
        if (r->logprobs >= 0 && r->n_lp < r->cap_lp)
            r->lp[r->n_lp++] = *lp;
        /* a stop string anywhere the new text could complete one */
        size_t from = r->text.n > r->max_stop_len ? r->text.n - r->max_stop_len : 0, cut = text.n;
        for (size_t k = 0; k < r->n_stop; k++) {
            size_t n = strlen(r->stop[k]);
            for (size_t i = from; n && i + n <= text.n && i < cut; i++)
                if (!memcmp(text.p + i, r->stop[k], n)) {
                    cut = i;
                    break;
                }
        }
        r->text.n = 0;
        strbuf_put(&r->text, text.p ? text.p : "", cut);
        if (lp_at < r->n_lp)
            r->lp[lp_at].text_end = r->text.n;
        if (r->text.oom) {
            r->err = (rf_error){.status = RF_E_NOMEM};
            strcpy(r->err.msg, "out of memory generating text");
            finish(s, sl, NULL);
        } else if (cut < text.n) {
            finish(s, sl, "stop");
        } else if ((r->max_tokens >= 0 && r->n_gen >= (size_t)r->max_tokens) ||
                   rf_session_n_past(s->session, sl->seq) >= rf_session_n_ctx(s->session)) {
            finish(s, sl, "length");
        } else {
            sl->last = id;
            pthread_cond_broadcast(&s->progress);
        }
    }
    pthread_mutex_unlock(&s->mu);
    free(text.p);
}

/* how many of the prompt's first tokens slot sl holds already */
static size_t held_prefix(const slot *sl, const srv_req *r)
{
    size_t same = 0;
    while (same < sl->n_held && same < r->n_prompt && sl->held[same] == r->prompt[same])
        same++;
    return same;
}

/* a new request in slot sl: its sampler and text context; false: it failed */
static bool admit(srv *s, slot *sl)
{
    srv_req *r = sl->r;
    rf_error err = {0};
    uint32_t n_ctx = rf_session_n_ctx(s->session);
    /* the prefix the slot already holds, but the prompt's last token, whose logits start the reply */
    size_t same = held_prefix(sl, r);
    if (same + 1 > r->n_prompt)
        same = r->n_prompt ? r->n_prompt - 1 : 0;
    rf_session_truncate(s->session, sl->seq, (uint32_t)same);
    sl->n_held = same;
    pthread_mutex_lock(&s->mu);
    r->n_cached = same;
    pthread_mutex_unlock(&s->mu);
    if (r->n_prompt + 1 > n_ctx) {
        rf_fail(&err, RF_E_ARG, "the prompt has %zu tokens; the context holds %u", r->n_prompt, n_ctx);
        fail(s, sl, &err);
        return false;
    }
    sl->n_ctx_ids = r->n_prompt < CONTEXT_IDS ? r->n_prompt : CONTEXT_IDS;
    sl->cap = sl->n_ctx_ids + 64;
    sl->prefilled = same;
    free(sl->ids);
    sl->ids = malloc(sl->cap * sizeof *sl->ids);
    char *ct = NULL;
    size_t ct_len = 0;
    if (!sl->ids || rf_sampler_new(&r->sp, rf_session_n_vocab(s->session), &sl->smp, &err) != RF_OK ||
        rf_detokenize(s->model, r->prompt + r->n_prompt - sl->n_ctx_ids, sl->n_ctx_ids, 0, &ct, &ct_len, &err) !=
            RF_OK) {
        free(ct);
        fail(s, sl, &err);
        return false;
    }
    free(ct);
    memcpy(sl->ids, r->prompt + r->n_prompt - sl->n_ctx_ids, sl->n_ctx_ids * sizeof *sl->ids);
    sl->n_ids = sl->n_ctx_ids;
    sl->ctx_text = ct_len;
    for (size_t k = 0; k < r->n_prompt; k++)
        rf_sampler_accept(sl->smp, r->prompt[k]);
    return true;
}

/* Frees the cache blocks idle slots hold, least recently used first, until
 * need blocks are free; false when even all of them are not enough. */
static bool make_room(srv *s, slot *slots, int P, uint32_t need)
{
    for (;;) {
        uint32_t used, total, block;
        rf_session_kv_blocks(s->session, &used, &total, &block);
        if (total - used >= need)
            return true;
        int victim = -1;
        for (int k = 0; k < P; k++)
            if (!slots[k].r && slots[k].n_held && (victim < 0 || slots[k].t_last < slots[victim].t_last))
                victim = k;
        if (victim < 0)
            return false;
        rf_session_forget(s->session, slots[victim].seq);
        slots[victim].n_held = 0;
    }
}

/* blocks a sequence of n positions needs to take to hold n + add */
static uint32_t blocks_for(srv *s, uint32_t n, uint32_t add)
{
    uint32_t b = s->kv_block ? s->kv_block : 1;
    return (n + add + b - 1) / b - (n + b - 1) / b;
}

void *srv_loop(void *arg)
{
    srv *s = arg;
    int P = s->opt.parallel;
    size_t nv = rf_session_n_vocab(s->session);
    slot *slots = calloc((size_t)P, sizeof *slots);
    float *logits = malloc((size_t)P * nv * sizeof *logits), *scratch = malloc(nv * sizeof *scratch);
    /* a step's rows: a token for each slot, and up to the ubatch of prompts */
    size_t rows = (size_t)P + (s->opt.n_ubatch ? s->opt.n_ubatch : 512);
    uint32_t *seqs = malloc(rows * sizeof *seqs);
    int32_t *toks = malloc(rows * sizeof *toks);
    bool *want = malloc(rows * sizeof *want);
    int *outs = malloc((size_t)P * sizeof *outs), *chunked = malloc((size_t)P * sizeof *chunked);
    uint64_t admitted = 0;
    for (int i = 0; slots && i < P; i++)
        slots[i].seq = (uint32_t)i;
    if (!slots || !logits || !scratch || !seqs || !toks || !want || !outs || !chunked) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true; /* http.c answers 503 */
        pthread_mutex_unlock(&s->mu);
    }
    for (;;) {
        pthread_mutex_lock(&s->mu);
        for (;;) {
            int active = 0;
            for (int i = 0; slots && i < P; i++) {
                if (slots[i].r && slots[i].r->cancelled)
                    finish(s, &slots[i], "stop");
                active += slots[i].r != NULL;
            }
            if (active || (s->queue && !s->stopping) || s->stopping || !slots)
                break;
            pthread_cond_wait(&s->work, &s->mu);
        }
        if (s->stopping || !slots) { /* every request ends now, with an error saying why */
            for (int i = 0; slots && i < P; i++)
                if (slots[i].r) {
                    rf_fail(&slots[i].r->err, RF_E_IO, "the server is shutting down");
                    finish(s, &slots[i], NULL);
                }
            for (srv_req *r = s->queue, *next; r; r = next) {
                next = r->next;
                rf_fail(&r->err, RF_E_IO, "the server is shutting down");
                r->done = true;
                release_locked(r);
            }
            s->queue = s->queue_tail = NULL;
            s->queued = 0;
            pthread_cond_broadcast(&s->progress);
            pthread_mutex_unlock(&s->mu);
            break;
        }
        int fresh[64], n_fresh = 0; /* admitted this turn */
        while (s->queue && !s->stopping && n_fresh < 64) {
            /* the free slot that holds the longest prefix of the prompt (then the one holding least) */
            int i = -1;
            size_t best = 0;
            for (int k = 0; k < P; k++) {
                if (slots[k].r)
                    continue;
                size_t same = held_prefix(&slots[k], s->queue);
                if (i < 0 || same > best || (same == best && slots[k].n_held < slots[i].n_held))
                    i = k, best = same;
            }
            if (i < 0)
                break;
            srv_req *r = s->queue;
            s->queue = r->next;
            if (!s->queue)
                s->queue_tail = NULL;
            s->queued--;
            r->next = NULL;
            slots[i].r = r;
            s->busy++;
            fresh[n_fresh++] = i;
        }
        pthread_mutex_unlock(&s->mu);
        for (int k = 0; k < n_fresh; k++) {
            slots[fresh[k]].order = admitted++;
            admit(s, &slots[fresh[k]]);
        }
        /* the cache blocks this step's decode rows need (a row at a block's end takes a new one): idle
         * slots give theirs; a row that still finds none ends its request, as a full context would */
        uint32_t need = 0;
        for (int i = 0; i < P; i++)
            if (slots[i].r && slots[i].generating)
                need += blocks_for(s, rf_session_n_past(s->session, slots[i].seq), 1);
        if (need && !make_room(s, slots, P, need)) {
            uint32_t used, total, block;
            rf_session_kv_blocks(s->session, &used, &total, &block);
            uint32_t left = total - used;
            pthread_mutex_lock(&s->mu);
            for (int i = 0; i < P; i++) {
                if (!slots[i].r || !slots[i].generating)
                    continue;
                if (!blocks_for(s, rf_session_n_past(s->session, slots[i].seq), 1))
                    continue;
                if (left)
                    left--;
                else
                    finish(s, &slots[i], "length");
            }
            pthread_mutex_unlock(&s->mu);
            need = total - used - left;
        }
        /* the step: a token for every slot generating, then prompt chunks, oldest first, up to the
         * ubatch; each prompt's last row and every decode row want logits (n_out of them, in row order) */
        int n = 0, n_out = 0, n_chunks = 0;
        for (int i = 0; i < P; i++)
            if (slots[i].r && slots[i].generating) {
                seqs[n] = (uint32_t)i;
                toks[n] = slots[i].last;
                want[n++] = true;
                outs[n_out++] = i;
            }
        size_t budget = s->opt.n_ubatch ? s->opt.n_ubatch : 512;
        for (;;) {
            int i = -1;
            for (int k = 0; k < P; k++)
                if (slots[k].r && !slots[k].generating && !slots[k].chunk &&
                    (i < 0 || slots[k].order < slots[i].order))
                    i = k;
            if (i < 0 || !budget || (n && P == 1))
                break;
            slot *sl = &slots[i];
            srv_req *r = sl->r;
            size_t take = r->n_prompt - sl->prefilled < budget ? r->n_prompt - sl->prefilled : budget;
            uint32_t b = blocks_for(s, rf_session_n_past(s->session, sl->seq), (uint32_t)take);
            if (!make_room(s, slots, P, need + b)) {
                rf_error err;
                rf_fail(&err, RF_E_NOMEM, "the KV cache is full: the prompt does not fit beside the replies being made");
                fail(s, sl, &err);
                continue;
            }
            need += b;
            budget -= take;
            sl->chunk = take;
            chunked[n_chunks++] = i;
            for (size_t k = 0; k < take; k++) {
                seqs[n] = (uint32_t)i;
                toks[n] = r->prompt[sl->prefilled + k];
                want[n++] = false;
            }
            if (sl->prefilled + take == r->n_prompt) {
                want[n - 1] = true;
                outs[n_out++] = i;
            }
        }
        if (!n)
            continue;
        rf_error err = {0};
        rf_status st = rf_session_step(s->session, (size_t)n, seqs, toks, want, logits, &err);
        for (int k = 0; k < n_chunks; k++) { /* the prompts read */
            slot *sl = &slots[chunked[k]];
            size_t take = sl->chunk;
            sl->chunk = 0;
            if (st != RF_OK)
                continue;
            if (!held_push(sl, sl->r->prompt + sl->prefilled, take)) {
                rf_fail(&err, RF_E_NOMEM, "out of memory");
                fail(s, sl, &err);
                continue;
            }
            sl->prefilled += take;
            pthread_mutex_lock(&s->mu);
            s->m.prompt_tokens += take;
            pthread_mutex_unlock(&s->mu);
        }
        for (int k = 0; k < n_out; k++) {
            slot *sl = &slots[outs[k]];
            if (!sl->r)
                continue;
            if (st != RF_OK) {
                fail(s, sl, &err);
                continue;
            }
            if (sl->generating && !held_push(sl, &sl->last, 1)) {
                /* the cache would no longer be what the slot says it holds */
                rf_session_forget(s->session, sl->seq);
                sl->n_held = 0;
            }
            sl->generating = true;
            srv_lp lp;
            int32_t id = sample(s, sl, logits + (size_t)k * nv, scratch, &lp);
            emit(s, sl, id, &lp);
        }
        if (st != RF_OK) /* prompts that did not end in the step */
            for (int k = 0; k < n_chunks; k++)
                if (slots[chunked[k]].r && !slots[chunked[k]].generating)
                    fail(s, &slots[chunked[k]], &err);
    }
    for (int i = 0; slots && i < P; i++) {
        free(slots[i].ids);
        free(slots[i].held);
    }
    for (size_t v = 0; s->piece && v < nv; v++)
        free(s->piece[v]);
    free(s->piece);
    free(s->piece_len);
    free(s->eog);
    free(slots);
    free(logits);
    free(scratch);
    free(seqs);
    free(toks);
    free(want);
    free(outs);
    free(chunked);
    return NULL;
}
