/*
 * fit.c: how many of a model's layers fit the GPU (`--gpu-layers auto`).
 *
 * A pure function of the sizes session.c measures: the first part of a
 * split session holds, on the device, the base (embedding, workspace,
 * scratch) and its layers' weights and KV cache; with every layer it also
 * holds the output head, and is then the whole model. The layers are
 * taken in order while they fit what is free less the margin; the
 * margin absorbs what the sums cannot see (the driver's own allocations,
 * alignment, another process growing). Nothing here asks a device.
 */
#include "runtime/runtime.h"

uint32_t rt_fit_layers(const rt_fit *f)
{
    if (f->free_bytes <= f->margin_bytes)
        return 0;
    uint64_t room = f->free_bytes - f->margin_bytes, used = f->base_bytes;
    uint32_t n = 0;
    while (n < f->n_layer && used <= room && f->layer_bytes[n] <= room - used)
        used += f->layer_bytes[n++];
    if (n && n == f->n_layer && (used > room || f->head_bytes > room - used))
        n--; /* every layer but no head: the last layer goes to the CPU, which holds the head */
    return n;
}
