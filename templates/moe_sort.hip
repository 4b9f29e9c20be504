// moe_sort.hip: a prefill step's (token, slot) pairs grouped by the expert
// they chose, for the grouped expert products (matmul_id.hip, GROUPED).
//
//   ex[0]                      the tiles' count
//   ex[1 + i], i < T * SLOTS   the pairs p = t * SLOTS + slot, by expert
//   ex[1 + MAXP + 3 * n]       tile n: its expert, its first pair, its pairs (<= MT)
//
// One block: the experts' counts in shared memory, their offsets and tiles
// by one thread (E experts, a few hundred tiles), then every pair takes
// its place by an atomic ticket of its expert. The order of an expert's
// pairs is whichever the tickets give, which changes nothing the products
// compute: each pair's sums are its own, in the same order in any tile.
// An id outside [0, E) (never from the router) is left out, as the per
// pair kernel would read out of bounds.
#define SLOTS {{SLOTS}} // experts a token uses
#define E {{E}}         // experts
#define MT {{MT}}       // pairs a tile, at most
#define MAXP {{MAXP}}   // pairs the scratch holds: the most rows a step has, times SLOTS

extern "C" __global__ void __launch_bounds__(1024)
{{NAME}}({{PARAMS}}int T, const int *__restrict__ past)
{
    (void)past;
{{SETUP}}    __shared__ int cnt[E], off[E];
    const int np = min(T * SLOTS, MAXP);
    for (int e = threadIdx.x; e < E; e += blockDim.x)
        cnt[e] = 0;
    __syncthreads();
    for (int p = threadIdx.x; p < np; p += blockDim.x) {
        const int e = ids[p];
        if (e >= 0 && e < E)
            atomicAdd(&cnt[e], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int o = 0, n = 0;
        for (int e = 0; e < E; e++) {
            off[e] = o;
            for (int s = 0; s < cnt[e]; s += MT, n++) {
                ex[1 + MAXP + 3 * n] = e;
                ex[1 + MAXP + 3 * n + 1] = o + s;
                ex[1 + MAXP + 3 * n + 2] = min(MT, cnt[e] - s);
            }
            o += cnt[e];
        }
        ex[0] = n;
    }
    __syncthreads();
    for (int p = threadIdx.x; p < np; p += blockDim.x) {
        const int e = ids[p];
        if (e >= 0 && e < E)
            ex[1 + atomicAdd(&off[e], 1)] = p;
    }
}
