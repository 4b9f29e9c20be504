/*
 * sampler.c: logits → one token id, as llama.cpp's default sampler chain.
 *
 * The chain runs in llama.cpp's order, each stage a no-op when its parameter
 * says "off":
 *
 *   penalties    over the distinct tokens among the last penalty_last_n
 *                accepted ones, with c the token's count there:
 *                  logit <= 0 ? logit *= repeat_penalty : logit /= repeat_penalty
 *                  logit -= c * frequency_penalty + presence_penalty
 *                (applied to the caller's logits array, in place)
 *   top-k        keep the k highest
 *   top-p        keep the shortest prefix (by falling logit) whose softmax
 *                mass, over the candidates still kept, reaches p
 *   min-p        keep those with p_i >= min_p * p_max, i.e.
 *                logit_i >= logit_max + log(min_p)
 *   temperature  logit /= T, then softmax and one draw; T <= 0 is greedy:
 *                the argmax of the penalized logits
 *
 * Candidates are ordered by logit, falling, and by id, rising, among equal
 * logits: a total order, so results never depend on the sort's stability and
 * greedy picks the lowest id on ties. NaN logits count as -inf.
 *
 * Invariants: everything sampler_sample touches is allocated in sampler_new
 * (candidate array of n_vocab, penalty ring of penalty_last_n, per-token
 * counts kept up to date on accept/evict); the hot path never allocates and
 * never prints. Top-k selects with a quickselect; the candidates are sorted
 * only for top-p (all n_vocab of them only when top-k is off).
 *
 * Randomness is our own xoshiro256** seeded by splitmix64 from the seed, so
 * a seed means the same tokens on every platform and libc. The seed
 * SAMPLER_SEED_RANDOM (llama.cpp's LLAMA_DEFAULT_SEED) is replaced by one
 * drawn from the clock at sampler_new; sampler_seed() tells which.
 * sampler_reset() forgets the history and restarts the generator from that
 * same seed, so a reset sampler repeats itself.
 *
 * Not done here: typical-p, XTC, DRY, mirostat, grammars, logit bias, and
 * penalty_last_n = -1 ("the whole context"): the sampler does not know the
 * context; a negative value is rejected.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/sampler.h"
#include "support/error.h"

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct rf_sampler {
    sampler_params p;
    uint32_t n_vocab;
    uint64_t seed;          /* resolved (never SAMPLER_SEED_RANDOM) */
    uint64_t rng[4];        /* xoshiro256** state */
    cand *cands;            /* (n_vocab) */
    int32_t *ring;          /* (penalty_last_n) the last accepted tokens */
    uint32_t ring_len, ring_head;
    int32_t *counts;        /* (n_vocab) occurrences of each id in ring */
    uint32_t *mark;         /* (n_vocab) stamp: penalized in this call already */
    uint32_t stamp;
};

sampler_params sampler_default_params(void)
{
    return (sampler_params){
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
        .penalty_last_n = 64,
        .seed = SAMPLER_SEED_RANDOM,
    };
}

/* ---- random numbers -------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t *s)
{
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* uniform in [0, 1) with 53 random bits */
static double uniform01(uint64_t *s)
{
    return (double)(xoshiro_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static void seed_rng(sampler *s)
{
    uint64_t x = s->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
}

static uint64_t clock_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
    uint64_t seed = splitmix64(&x) & UINT64_C(0xFFFFFFFF);
    return seed == SAMPLER_SEED_RANDOM ? 0 : seed;
}

/* ---- lifetime -------------------------------------------------------- */

rf_status sampler_new(const sampler_params *p, uint32_t n_vocab, sampler **out, rf_error *err)
{
    *out = NULL;
    if (n_vocab == 0 || n_vocab > INT32_MAX)
        return rf_fail(err, RF_E_ARG, "sampler: vocabulary size %u out of range", n_vocab);
    if (!isfinite(p->temperature))
        return rf_fail(err, RF_E_ARG, "sampler: temperature %g is not finite", (double)p->temperature);
    if (!(p->top_p >= 0.0f) || isnan(p->min_p) || p->min_p > 1.0f)
        return rf_fail(err, RF_E_ARG, "sampler: top_p %g / min_p %g out of range", (double)p->top_p,
                       (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty) || !isfinite(p->presence_penalty) ||
        !isfinite(p->frequency_penalty))
        return rf_fail(err, RF_E_ARG, "sampler: penalties must be finite and repeat_penalty > 0");
    if (p->penalty_last_n < 0 || p->penalty_last_n > (1 << 24))
        return rf_fail(err, RF_E_ARG, "sampler: penalty_last_n %d out of range 0..%d", (int)p->penalty_last_n,
                       1 << 24);
    sampler *s = calloc(1, sizeof *s);
    if (!s)
        return rf_fail(err, RF_E_NOMEM, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->cands = malloc((size_t)n_vocab * sizeof *s->cands);
    s->counts = calloc(n_vocab, sizeof *s->counts);
    s->mark = calloc(n_vocab, sizeof *s->mark);
    s->ring = malloc(((size_t)p->penalty_last_n + 1) * sizeof *s->ring);
    if (!s->cands || !s->counts || !s->mark || !s->ring) {
        sampler_free(s);
        return rf_fail(err, RF_E_NOMEM, "sampler: out of memory for a vocabulary of %u", n_vocab);
    }
    s->seed = p->seed == SAMPLER_SEED_RANDOM ? clock_seed() : p->seed;
    seed_rng(s);
    *out = s;
    return RF_OK;
}

void sampler_free(sampler *s)
{
    if (!s)
        return;
    free(s->cands);
    free(s->counts);
    free(s->mark);
    free(s->ring);
    free(s);
}

void sampler_reset(sampler *s)
{
    for (uint32_t i = 0; i < s->ring_len; i++) /* filled slots are 0..ring_len-1 */
        s->counts[s->ring[i]] = 0;
    s->ring_len = 0;
    s->ring_head = 0;
    seed_rng(s);
}

uint64_t sampler_seed(const sampler *s)
{
    return s->seed;
}

void sampler_accept(sampler *s, int32_t token)
{
    uint32_t n = (uint32_t)s->p.penalty_last_n;
    if (n == 0 || token < 0 || (uint32_t)token >= s->n_vocab)
        return;
    if (s->ring_len == n)
        s->counts[s->ring[s->ring_head]]--; /* the oldest, about to be overwritten */
    else
        s->ring_len++;
    s->ring[s->ring_head] = token;
    s->counts[token]++;
    s->ring_head = (s->ring_head + 1) % n;
}

/* ---- the chain ------------------------------------------------------- */

static void apply_penalties(sampler *s, float *logits)
{
    const sampler_params *p = &s->p;
    if (s->ring_len == 0 ||
        (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f))
        return;
    if (++s->stamp == 0) { /* wrapped: old stamps could collide */
        memset(s->mark, 0, (size_t)s->n_vocab * sizeof *s->mark);
        s->stamp = 1;
    }
    for (uint32_t i = 0; i < s->ring_len; i++) {
        int32_t t = s->ring[i];
        if (s->mark[t] == s->stamp)
            continue;
        s->mark[t] = s->stamp;
        float c = (float)s->counts[t];
        float l = logits[t];
        l = l <= 0.0f ? l * p->repeat_penalty : l / p->repeat_penalty;
        logits[t] = l - c * p->frequency_penalty - p->presence_penalty;
    }
}

/* falling logit, then rising id: a total order */
static int before(const cand *a, const cand *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static void swap(cand *a, cand *b)
{
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Rearranges c[0..n) so that c[0..k) are the k first in cand order. */
static void select_first(cand *c, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* the k-th lies in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        /* median of three to the end as pivot */
        if (before(&c[mid], &c[lo]))
            swap(&c[mid], &c[lo]);
        if (before(&c[hi - 1], &c[lo]))
            swap(&c[hi - 1], &c[lo]);
        if (before(&c[mid], &c[hi - 1]))
            swap(&c[mid], &c[hi - 1]);
        cand pivot = c[hi - 1];
        size_t store = lo;
        for (size_t i = lo; i < hi - 1; i++)
            if (before(&c[i], &pivot))
                swap(&c[i], &c[store++]);
        swap(&c[store], &c[hi - 1]);
        if (store == k || store + 1 == k)
            return;
        if (store > k)
            hi = store;
        else
            lo = store + 1;
    }
}

static int32_t argmax(const float *logits, uint32_t n)
{
    int32_t best = 0;
    float bl = isnan(logits[0]) ? -INFINITY : logits[0];
    for (uint32_t i = 1; i < n; i++)
        if (logits[i] > bl) { /* strict: the lowest id wins ties; NaN never wins */
            bl = logits[i];
            best = (int32_t)i;
        }
    return best;
}

int32_t sampler_sample(sampler *s, float *logits)
{
    const sampler_params *p = &s->p;
    apply_penalties(s, logits);

    int32_t tok;
    if (p->temperature <= 0.0f) {
        tok = argmax(logits, s->n_vocab); /* every filter keeps the argmax */
        sampler_accept(s, tok);
        return tok;
    }

    cand *c = s->cands;
    size_t n = s->n_vocab;
    for (size_t i = 0; i < n; i++)
        c[i] = (cand){isnan(logits[i]) ? -INFINITY : logits[i], (int32_t)i};
    bool sorted = false;

    if (p->top_k > 0 && (size_t)p->top_k < n) {
        select_first(c, n, (size_t)p->top_k);
        n = (size_t)p->top_k;
    }
    if (p->top_p < 1.0f) {
        qsort(c, n, sizeof *c, cand_cmp);
        sorted = true;
        double sum = 0.0;
        for (size_t i = 0; i < n; i++)
            sum += exp((double)c[i].logit - (double)c[0].logit);
        double cum = 0.0;
        for (size_t i = 0; i < n; i++) {
            cum += exp((double)c[i].logit - (double)c[0].logit) / sum;
            if (cum >= (double)p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        float max = -INFINITY;
        for (size_t i = 0; i < n; i++)
            max = c[i].logit > max ? c[i].logit : max;
        float min_logit = max + logf(p->min_p);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) /* order preserved */
            if (c[i].logit >= min_logit)
                c[kept++] = c[i];
        n = kept ? kept : 1;
    }

    /* temperature, softmax and the draw; the candidates' order (sorted or
     * not) only decides where a given u lands, and is itself a function of
     * the logits and parameters alone */
    double top = -INFINITY;
    for (size_t i = 0; i < n; i++)
        top = (double)c[i].logit > top ? (double)c[i].logit : top;
    if (!isfinite(top)) { /* all -inf: nothing to weigh, take the first */
        tok = sorted ? c[0].id : argmax(logits, s->n_vocab);
        sampler_accept(s, tok);
        return tok;
    }
    double inv_t = 1.0 / (double)p->temperature, sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += exp(((double)c[i].logit - top) * inv_t);
    double u = uniform01(s->rng) * sum, acc = 0.0;
    tok = c[n - 1].id; /* rounding left u past the end */
    for (size_t i = 0; i < n; i++) {
        acc += exp(((double)c[i].logit - top) * inv_t);
        if (u < acc) {
            tok = c[i].id;
            break;
        }
    }
    sampler_accept(s, tok);
    return tok;
}

/* ---- the public names (rocmforge.h) ----------------------------------------- */

rf_sampler_params rf_sampler_defaults(void) { return sampler_default_params(); }

rf_status rf_sampler_new(const rf_sampler_params *p, uint32_t n_vocab, rf_sampler **out, rf_error *err)
{
    return sampler_new(p, n_vocab, out, err);
}

void rf_sampler_free(rf_sampler *s) { sampler_free(s); }
int32_t rf_sampler_sample(rf_sampler *s, float *logits) { return sampler_sample(s, logits); }
void rf_sampler_accept(rf_sampler *s, int32_t id) { sampler_accept(s, id); }
void rf_sampler_reset(rf_sampler *s) { sampler_reset(s); }
uint64_t rf_sampler_seed(const rf_sampler *s) { return sampler_seed(s); }
