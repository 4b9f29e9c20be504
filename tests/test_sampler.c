/*
 * test_sampler.c: the sampler chain, fact by fact.
 *
 * Greedy is the argmax (lowest id on ties); top-k = 1 is greedy at any
 * temperature; a seed repeats a sequence and another seed does not; 20k
 * draws follow softmax(logits / T) (a chi-square bound far in the tail, so
 * the fixed seed is not what makes it pass); top-k, top-p and min-p never
 * let out what they cut; the penalties change exactly the logits llama.cpp
 * changes, by exactly its formula, over exactly the last N tokens.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/sampler.h"
#include "test_util.h"

static sampler_params plain(float temp, uint64_t seed)
{
    sampler_params p = sampler_default_params();
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

static sampler *make(const sampler_params *p, uint32_t n_vocab)
{
    rf_error err = {0};
    sampler *s = NULL;
    CU_ASSERT_EQUAL_FATAL(sampler_new(p, n_vocab, &s, &err), RF_OK);
    return s;
}

static void random_logits(float *l, uint32_t n, uint64_t *st)
{
    for (uint32_t i = 0; i < n; i++)
        l[i] = (float)((double)(test_rand(st) >> 11) / 9007199254740992.0 * 8.0 - 4.0);
}

static void test_greedy(void)
{
    sampler_params p = plain(0.0f, 1);
    sampler *s = make(&p, 6);
    float l[6] = {0.5f, -1.0f, 3.0f, 2.9f, 3.0f, -7.0f};
    CU_ASSERT_EQUAL(sampler_sample(s, l), 2); /* 2 and 4 tie: the lower id */
    float m[6] = {-5.0f, -4.0f, -3.0f, -2.5f, -9.0f, -2.6f};
    CU_ASSERT_EQUAL(sampler_sample(s, m), 3);
    float nan[6] = {NAN, 1.0f, NAN, 0.0f, 0.0f, 0.0f};
    CU_ASSERT_EQUAL(sampler_sample(s, nan), 1);
    sampler_free(s);

    /* random vocabularies: greedy = argmax, also with the other filters on */
    uint64_t st = 7;
    enum { N = 5000 };
    float *r = malloc(N * sizeof *r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    sampler_params q = sampler_default_params();
    q.temperature = -1.0f;
    s = make(&q, N);
    for (int rep = 0; rep < 20; rep++) {
        random_logits(r, N, &st);
        int32_t best = 0;
        for (int i = 1; i < N; i++)
            if (r[i] > r[best])
                best = i;
        CU_ASSERT_EQUAL(sampler_sample(s, r), best);
        sampler_reset(s);
    }
    sampler_free(s);
    free(r);
}

static void test_top_k_one_is_greedy(void)
{
    enum { N = 3000 };
    float *l = malloc(N * sizeof *l), *g = malloc(N * sizeof *g);
    CU_ASSERT_FATAL(l && g);
    uint64_t st = 11;
    const float temps[] = {0.1f, 0.8f, 1.0f, 2.0f, 10.0f};
    for (size_t t = 0; t < sizeof temps / sizeof temps[0]; t++) {
        sampler_params p = plain(temps[t], 1234 + t);
        p.top_k = 1;
        sampler *s = make(&p, N);
        sampler_params gp = plain(0.0f, 1);
        sampler *gs = make(&gp, N);
        for (int rep = 0; rep < 25; rep++) {
            random_logits(l, N, &st);
            memcpy(g, l, N * sizeof *l);
            CU_ASSERT_EQUAL(sampler_sample(s, l), sampler_sample(gs, g));
        }
        sampler_free(s);
        sampler_free(gs);
    }
    free(l);
    free(g);
}

static void draw_seq(uint64_t seed, int32_t *out, int n, int reset_half)
{
    enum { V = 1000 };
    static float base[V], l[V];
    uint64_t st = 99;
    random_logits(base, V, &st);
    sampler_params p = sampler_default_params(); /* the whole chain on */
    p.seed = seed;
    p.repeat_penalty = 1.1f;
    p.top_k = 0;
    sampler *s = make(&p, V);
    for (int i = 0; i < n; i++) {
        if (reset_half && i == n / 2)
            sampler_reset(s);
        memcpy(l, base, sizeof l);
        out[i] = sampler_sample(s, l);
    }
    CU_ASSERT_EQUAL(sampler_seed(s), seed);
    sampler_free(s);
}

static void test_seeds(void)
{
    enum { N = 200 };
    int32_t a[N], b[N], c[N], d[N];
    draw_seq(42, a, N, 0);
    draw_seq(42, b, N, 0);
    draw_seq(43, c, N, 0);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a, c, sizeof a), 0);
    /* a reset sampler starts over: the second half repeats the first */
    draw_seq(42, d, N, 1);
    CU_ASSERT_EQUAL(memcmp(d, a, sizeof(int32_t) * (N / 2)), 0);
    CU_ASSERT_EQUAL(memcmp(d + N / 2, a, sizeof(int32_t) * (N / 2)), 0);

    /* the random seed is resolved to something else */
    sampler_params p = plain(1.0f, SAMPLER_SEED_RANDOM);
    sampler *s = make(&p, 4);
    CU_ASSERT_NOT_EQUAL(sampler_seed(s), SAMPLER_SEED_RANDOM);
    sampler_free(s);
}

/* Draws `draws` tokens from fixed logits and returns the counts. */
static void histogram(const sampler_params *p, const float *logits, uint32_t n, int draws, int *count)
{
    sampler *s = make(p, n);
    float *l = malloc(n * sizeof *l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    memset(count, 0, n * sizeof *count);
    for (int i = 0; i < draws; i++) {
        memcpy(l, logits, n * sizeof *l);
        int32_t t = sampler_sample(s, l);
        CU_ASSERT_FATAL(t >= 0 && (uint32_t)t < n);
        count[t]++;
    }
    free(l);
    sampler_free(s);
}

static void test_distribution(void)
{
    enum { V = 8, DRAWS = 20000 };
    const float logits[V] = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, 1.5f, -1.0f, 0.25f};
    const float temps[] = {0.7f, 1.0f, 1.8f};
    const uint64_t seeds[] = {1, 2, 3};
    for (size_t t = 0; t < 3; t++) {
        sampler_params p = plain(temps[t], seeds[t]);
        int count[V];
        histogram(&p, logits, V, DRAWS, count);
        double prob[V], sum = 0.0;
        for (int i = 0; i < V; i++)
            sum += prob[i] = exp((double)logits[i] / (double)temps[t]);
        double chi2 = 0.0;
        for (int i = 0; i < V; i++) {
            double e = prob[i] / sum * DRAWS;
            chi2 += (count[i] - e) * (count[i] - e) / e;
        }
        /* 7 degrees of freedom: P(chi2 > 30) ~ 1e-4 */
        CU_ASSERT(chi2 < 30.0);
        if (chi2 >= 30.0)
            fprintf(stderr, "T=%g chi2=%g\n", (double)temps[t], chi2);
    }
}

static void test_filters(void)
{
    enum { V = 5, DRAWS = 4000 };
    /* probabilities 0.5, 0.3, 0.15, 0.04, 0.01 */
    const float logits[V] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.04f), logf(0.01f)};
    int count[V];

    /* top-p 0.75: the first two reach it */
    sampler_params p = plain(1.0f, 5);
    p.top_p = 0.75f;
    histogram(&p, logits, V, DRAWS, count);
    CU_ASSERT(count[0] > 0 && count[1] > 0);
    CU_ASSERT_EQUAL(count[2] + count[3] + count[4], 0);
    /* within the kept set the mass is renormalized: 0.5 / 0.8 */
    CU_ASSERT(fabs(count[0] / (double)DRAWS - 0.625) < 0.04);

    p.top_p = 0.9f;
    histogram(&p, logits, V, DRAWS, count);
    CU_ASSERT(count[2] > 0);
    CU_ASSERT_EQUAL(count[3] + count[4], 0);

    p.top_p = 0.0f; /* the first alone reaches 0 */
    histogram(&p, logits, V, 200, count);
    CU_ASSERT_EQUAL(count[0], 200);

    /* min-p 0.2: p_i >= 0.1 keeps 0, 1, 2 */
    p = plain(1.0f, 6);
    p.min_p = 0.2f;
    histogram(&p, logits, V, DRAWS, count);
    CU_ASSERT(count[2] > 0);
    CU_ASSERT_EQUAL(count[3] + count[4], 0);
    /* min-p 0.5: p_i >= 0.25 keeps 0, 1 */
    p.min_p = 0.5f;
    histogram(&p, logits, V, DRAWS, count);
    CU_ASSERT(count[1] > 0);
    CU_ASSERT_EQUAL(count[2] + count[3] + count[4], 0);

    /* top-k 3 cuts 3 and 4; a high temperature makes them likely otherwise */
    p = plain(5.0f, 7);
    p.top_k = 3;
    histogram(&p, logits, V, DRAWS, count);
    CU_ASSERT(count[0] > 0 && count[1] > 0 && count[2] > 0);
    CU_ASSERT_EQUAL(count[3] + count[4], 0);

    /* top-p runs on the top-k survivors: k=2 then p=0.6 of (0.625, 0.375)
     * needs only the first */
    p = plain(1.0f, 8);
    p.top_k = 2;
    p.top_p = 0.6f;
    histogram(&p, logits, V, 500, count);
    CU_ASSERT_EQUAL(count[0], 500);
}

static void test_penalties(void)
{
    enum { V = 6 };
    sampler_params p = plain(0.0f, 1);
    p.repeat_penalty = 1.5f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    p.penalty_last_n = 4;
    sampler *s = make(&p, V);
    /* history 5, 1, 1, 2, 3: with N = 4 the 5 has left the window */
    const int32_t hist[] = {5, 1, 1, 2, 3};
    for (size_t i = 0; i < sizeof hist / sizeof hist[0]; i++)
        sampler_accept(s, hist[i]);
    float l[V] = {4.0f, 3.0f, -2.0f, 0.0f, 1.0f, 6.0f};
    int32_t t = sampler_sample(s, l);
    CU_ASSERT_DOUBLE_EQUAL(l[0], 4.0, 0.0);                       /* not in the window */
    CU_ASSERT_DOUBLE_EQUAL(l[1], 3.0f / 1.5f - 2 * 0.25f - 0.5f, 1e-6); /* positive: divided */
    CU_ASSERT_DOUBLE_EQUAL(l[2], -2.0f * 1.5f - 0.25f - 0.5f, 1e-6);  /* negative: multiplied */
    CU_ASSERT_DOUBLE_EQUAL(l[3], 0.0f - 0.25f - 0.5f, 1e-6);          /* zero stays, then subtracted */
    CU_ASSERT_DOUBLE_EQUAL(l[4], 1.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(l[5], 6.0, 0.0);                       /* evicted */
    CU_ASSERT_EQUAL(t, 5);

    /* the sampled 5 entered the window (1 left it): now 1, 2, 3, 5 */
    float m[V] = {4.0f, 3.0f, -2.0f, 0.0f, 1.0f, 6.0f};
    sampler_sample(s, m);
    CU_ASSERT_DOUBLE_EQUAL(m[1], 3.0f / 1.5f - 0.25f - 0.5f, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(m[5], 6.0f / 1.5f - 0.25f - 0.5f, 1e-6);

    /* reset forgets the history */
    sampler_reset(s);
    float r[V] = {4.0f, 3.0f, -2.0f, 0.0f, 1.0f, 6.0f};
    sampler_sample(s, r);
    CU_ASSERT_DOUBLE_EQUAL(r[1], 3.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(r[5], 6.0, 0.0);
    sampler_free(s);

    /* all off: logits untouched */
    p = plain(0.0f, 1);
    s = make(&p, V);
    sampler_accept(s, 1);
    float u[V] = {4.0f, 3.0f, -2.0f, 0.0f, 1.0f, 6.0f};
    sampler_sample(s, u);
    CU_ASSERT_DOUBLE_EQUAL(u[1], 3.0, 0.0);
    sampler_free(s);
}

static void test_bad_params(void)
{
    rf_error err = {0};
    sampler *s = (sampler *)&err;
    sampler_params p = sampler_default_params();
    CU_ASSERT_EQUAL(sampler_new(&p, 0, &s, &err), RF_E_ARG);
    CU_ASSERT_PTR_NULL(s);
    p.penalty_last_n = -1;
    CU_ASSERT_EQUAL(sampler_new(&p, 10, &s, &err), RF_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "penalty_last_n"));
    p = sampler_default_params();
    p.temperature = NAN;
    CU_ASSERT_EQUAL(sampler_new(&p, 10, &s, &err), RF_E_ARG);
    p = sampler_default_params();
    p.repeat_penalty = 0.0f;
    CU_ASSERT_EQUAL(sampler_new(&p, 10, &s, &err), RF_E_ARG);
    p = sampler_default_params();
    CU_ASSERT_EQUAL(p.top_k, 40);
    CU_ASSERT_EQUAL(p.penalty_last_n, 64);
    CU_ASSERT_EQUAL(p.seed, SAMPLER_SEED_RANDOM);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("sampler", NULL, NULL);
    CU_add_test(s, "greedy is the argmax, lowest id on ties", test_greedy);
    CU_add_test(s, "top-k 1 is greedy at any temperature", test_top_k_one_is_greedy);
    CU_add_test(s, "a seed repeats, another differs, reset restarts", test_seeds);
    CU_add_test(s, "20k draws follow softmax(logits / T)", test_distribution);
    CU_add_test(s, "top-k, top-p, min-p cut what they must", test_filters);
    CU_add_test(s, "penalties: formula and window", test_penalties);
    CU_add_test(s, "bad parameters are refused", test_bad_params);
    return test_main();
}
