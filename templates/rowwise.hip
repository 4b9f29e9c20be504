// rowwise.hip: a group of row-wise ops in one kernel: embedding lookups,
// RMS norms, elementwise arithmetic, slices, RoPE and KV-cache stores, and
// a mixture of experts' routing and weighted sum.
//
// One block per row (a token, or the single row after last_rows). The
// group's nodes run one after another as phases, each over the whole row,
// with a barrier between phases, so a phase may read what an earlier one
// wrote (rope then store the same row). Every op here treats rows
// independently, so rows never wait for each other. The phases are
// generated from the group's nodes; the helpers below are what they call.
#define THREADS {{THREADS}}
#define NWAVES (THREADS / RF_WAVE)

// y[i] = x[i] / rms * w[i] over n_sub sub-rows of n (per-head norms have
// n_sub = heads); one block-wide sum for a single sub-row, else one
// wavefront per sub-row
RF_DEV void rf_rms_norm_row(const float *x, const float *w, float *y, int n_sub, int n, float eps, float *scratch)
{
    if (n_sub == 1) {
        float ss = 0.0f;
        for (int i = threadIdx.x; i < n; i += THREADS)
            ss += x[i] * x[i];
        ss = rf_block_sum(ss, scratch, NWAVES);
        const float inv = 1.0f / sqrtf(ss / (float)n + eps);
        for (int i = threadIdx.x; i < n; i += THREADS)
            y[i] = x[i] * inv * (w ? w[i] : 1.0f);
        return;
    }
    const int lane = threadIdx.x % RF_WAVE, wave = threadIdx.x / RF_WAVE;
    for (int s = wave; s < n_sub; s += NWAVES) {
        const float *xs = x + (size_t)s * n;
        float ss = 0.0f;
        for (int i = lane; i < n; i += RF_WAVE)
            ss += xs[i] * xs[i];
        ss = rf_wave_sum(ss);
        const float inv = 1.0f / sqrtf(ss / (float)n + eps);
        for (int i = lane; i < n; i += RF_WAVE)
            y[(size_t)s * n + i] = xs[i] * inv * (w ? w[i] : 1.0f);
    }
}

// y[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i] over one row of n
// (ggml_norm, then build_norm's weight and bias), x and y may be one; the
// block-wide sums in float
RF_DEV void rf_layer_norm_row(const float *x, const float *w, const float *b, float *y, int n, float eps,
                              float *scratch)
{
    float s = 0.0f;
    for (int i = threadIdx.x; i < n; i += THREADS)
        s += x[i];
    const float mean = rf_block_sum(s, scratch, NWAVES) / (float)n;
    float s2 = 0.0f;
    for (int i = threadIdx.x; i < n; i += THREADS)
        s2 += (x[i] - mean) * (x[i] - mean);
    const float inv = 1.0f / sqrtf(rf_block_sum(s2, scratch, NWAVES) / (float)n + eps);
    for (int i = threadIdx.x; i < n; i += THREADS)
        y[i] = (x[i] - mean) * inv * (w ? w[i] : 1.0f) + (b ? b[i] : 0.0f);
}

// RoPE of one token's heads [H, D] at position pos, out of place allowed.
// mode 0 rotates adjacent pairs (llama), mode 2 the two halves (neox). The
// frequencies follow ggml_rope_ext: theta_i = pos * theta_scale^i /
// freq_factor_i, then linear scaling and YaRN's ramp between corr0 and corr1.
// The n_rot / 2 (cos, sin) pairs are made once, thread i making pair i, in
// shared memory, and every head rotates with them: the power is a chain of
// i products (as ggml multiplies it out, rounding for rounding), which
// per element would be a chain of up to n_rot / 2 per lane.
#define RF_ROPE_MAX 512 // n_rot, at most (codegen checks)
RF_DEV void rf_rope_row(const float *x, float *y, int H, int D, int n_rot, int mode, float pos, float theta_scale,
                        float freq_scale, float ext_factor, float attn_factor, float corr0, float corr1,
                        const float *freq_factors)
{
    __shared__ float s_cos[RF_ROPE_MAX / 2], s_sin[RF_ROPE_MAX / 2];
    const int half = n_rot / 2;
    for (int i = threadIdx.x; i < half; i += THREADS)
        rf_rope_cs(i, pos, theta_scale, freq_scale, ext_factor, attn_factor, corr0, corr1,
                   freq_factors ? freq_factors[i] : 1.0f, &s_cos[i], &s_sin[i]);
    __syncthreads();
    for (int e = threadIdx.x; e < H * half; e += THREADS) {
        const int h = e / half, i = e % half;
        const float c = s_cos[i], s = s_sin[i];
        const int ia = mode == 2 ? i : 2 * i, ib = mode == 2 ? i + half : 2 * i + 1;
        const float *xv = x + (size_t)h * D;
        float *yv = y + (size_t)h * D;
        const float x0 = xv[ia], x1 = xv[ib];
        yv[ia] = x0 * c - x1 * s;
        yv[ib] = x0 * s + x1 * c;
    }
    if (x != y) // the dimensions past n_rot pass through
        for (int e = threadIdx.x; e < H * (D - n_rot); e += THREADS) {
            const int h = e / (D - n_rot), d = n_rot + e % (D - n_rot);
            y[(size_t)h * D + d] = x[(size_t)h * D + d];
        }
    __syncthreads(); // the table is rewritten by the next call
}

// the mixture-of-experts router's row phases (runtime/cpu/moe.c has the
// reference): softmax over n (max subtracted), the k largest of n (largest
// first, ties to the lower index; by the first wavefront), the chosen
// ones' weights (norm 1: by their sum, at least 2^-14; 2: their softmax;
// then scaled), and the weighted sum of a token's k expert rows of n
RF_DEV void rf_softmax_row(const float *x, float *y, int n, float *scratch)
{
    float mx = -RF_INF;
    for (int i = threadIdx.x; i < n; i += THREADS)
        mx = fmaxf(mx, x[i]);
    mx = rf_block_max(mx, scratch, NWAVES);
    float s = 0.0f;
    for (int i = threadIdx.x; i < n; i += THREADS)
        s += expf(x[i] - mx);
    const float inv = 1.0f / rf_block_sum(s, scratch, NWAVES);
    for (int i = threadIdx.x; i < n; i += THREADS)
        y[i] = expf(x[i] - mx) * inv;
}

// the top-k: k rounds of a wavefront argmax over the values after the last
// pick in (value desc, index asc) order, so the ids are those of the serial
// insertion the CPU makes (one thread doing that took 28 us over 128 experts
// on an H100, a fifth of a Qwen3-30B-A3B decode layer)
RF_DEV void rf_topk_row_wave(const float *x, int n, int *ids, int k)
{
    const int lane = threadIdx.x % RF_WAVE;
    float pv = RF_INF;
    int pi = -1;
    for (int j = 0; j < k; j++) {
        float bv = -RF_INF;
        int bi = n;
        for (int i = lane; i < n; i += RF_WAVE) {
            const float v = x[i];
            if ((v < pv || (v == pv && i > pi)) && (v > bv || (v == bv && i < bi))) {
                bv = v;
                bi = i;
            }
        }
#pragma unroll
        for (int m = RF_WAVE / 2; m > 0; m >>= 1) {
            const float ov = rf_shfl_xor(bv, m);
            const int oi = rf_shfl_xor(bi, m);
            if (ov > bv || (ov == bv && oi < bi)) {
                bv = ov;
                bi = oi;
            }
        }
        if (lane == 0)
            ids[j] = bi;
        pv = bv;
        pi = bi;
    }
}

RF_DEV void rf_moe_weights_row(const float *p, const int *ids, float *w, int k, int norm, float scale)
{
    float sum = 0.0f, mx = -RF_INF;
    for (int j = 0; j < k; j++) {
        w[j] = p[ids[j]];
        sum += w[j];
        mx = fmaxf(mx, w[j]);
    }
    if (norm == 1)
        for (int j = 0; j < k; j++)
            w[j] /= fmaxf(sum, 6.103515625e-5f);
    if (norm == 2) { // the softmax of the chosen (gpt-oss)
        float se = 0.0f;
        for (int j = 0; j < k; j++)
            se += (w[j] = expf(w[j] - mx));
        for (int j = 0; j < k; j++)
            w[j] *= 1.0f / se;
    }
    if (scale != 0.0f && scale != 1.0f)
        for (int j = 0; j < k; j++)
            w[j] *= scale;
}

RF_DEV void rf_moe_sum_row(const float *y, const float *w, float *o, int k, int n)
{
    for (int i = threadIdx.x; i < n; i += THREADS) {
        float v = y[i] * w[0];
        for (int j = 1; j < k; j++)
            v += y[(size_t)j * n + i] * w[j];
        o[i] = v;
    }
}

// one row of an embedding table of type TYPE, n elements, dequantized
#define RF_EMBED_ROW(TYPE, table, id, y, n)                                                        \
    do {                                                                                           \
        const unsigned char *row_ = (table) + (size_t)(id) * ((n) / RF_QK_##TYPE * RF_QB_##TYPE); \
        for (int ch = threadIdx.x; ch < (n) / 8; ch += THREADS) {                                  \
            const int blk = ch / (RF_QK_##TYPE / 8), c = ch % (RF_QK_##TYPE / 8);                  \
            float w[8];                                                                            \
            rf_deq_##TYPE(row_ + (size_t)blk * RF_QB_##TYPE, c, w);                                \
            float *yb = (y) + blk * RF_QK_##TYPE;                                                  \
            const int a = rf_a_##TYPE(c), b = rf_b_##TYPE(c);                                      \
            yb[a] = w[0]; yb[a + 1] = w[1]; yb[a + 2] = w[2]; yb[a + 3] = w[3];                    \
            yb[b] = w[4]; yb[b + 1] = w[5]; yb[b + 2] = w[6]; yb[b + 3] = w[7];                    \
        }                                                                                          \
    } while (0)

extern "C" __global__ void __launch_bounds__(THREADS)
{{NAME}}({{PARAMS}}int T, const int *__restrict__ past)
{
    const int P = *past; // positions already in the cache: read here, so a captured step serves every P
    const int r = blockIdx.y; // the row
    __shared__ float scratch[NWAVES];
    (void)T; (void)P; (void)scratch;
{{BODY}}
}
