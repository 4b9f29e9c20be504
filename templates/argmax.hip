// argmax.hip: greedy sampling on the device. One block finds the index of
// the largest of n logits (the lowest index among equals, as the CPU
// sampler does), so a greedy decode step copies one int back, not the
// vocabulary's logits.
#define THREADS 1024

extern "C" __global__ void __launch_bounds__(THREADS)
{{NAME}}(const float *__restrict__ logits, int *__restrict__ out, int n)
{
    __shared__ float s_v[THREADS];
    __shared__ int s_i[THREADS];
    float best = -RF_INF;
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < n; i += THREADS) {
        const float v = logits[i];
        if (v > best) { // strided ascending: the first of equals stays
            best = v;
            bi = i;
        }
    }
    s_v[threadIdx.x] = best;
    s_i[threadIdx.x] = bi;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            const float v = s_v[threadIdx.x + s];
            const int i = s_i[threadIdx.x + s];
            if (v > s_v[threadIdx.x] || (v == s_v[threadIdx.x] && i < s_i[threadIdx.x])) {
                s_v[threadIdx.x] = v;
                s_i[threadIdx.x] = i;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0)
        *out = s_i[0] == 0x7fffffff ? 0 : s_i[0];
}
