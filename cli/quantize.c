/*
 * quantize.c: `rocmforge quantize IN.gguf OUT.gguf TYPE [--imatrix FILE]
 * [--pure] [--threads N]`, a model written in another file type, the file
 * llama.cpp's quantize tool writes (runtime/quantize.h), with the weights
 * of an importance matrix where one is given. One progress line per tensor on stderr,
 * a note when the input is already quantized (requantizing loses more than
 * quantizing from f32/f16 does; llama.cpp asks for --allow-requantize, we
 * only say so), and a summary.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "frontend/quant_mix.h"
#include "runtime/quantize.h"

typedef struct ui {
    bool noted_requant;
    bool imatrix; /* one was given */
} ui;

static const char *tname(ggml_type t)
{
    const ggml_type_traits *tt = ggml_type_get((uint32_t)t);
    return tt ? tt->name : "?";
}

static void on_progress(void *ctx, const rt_quantize_progress *p)
{
    ui *u = ctx;
    if (p->requantized && !u->noted_requant) {
        fprintf(stderr, "rocmforge: note: requantizing from %s (already quantized): expect more error "
                "than quantizing from f32/f16/bf16\n", tname(p->from));
        u->noted_requant = true;
    }
    fprintf(stderr, "[%4" PRIu64 "/%4" PRIu64 "] %-40s %7s -> %-7s%s%s\n", p->index, p->n_tensors, p->name,
            tname(p->from), tname(p->to), p->fallback ? " (fallback: row length)" : p->converted ? "" : " (copied)",
            p->converted && u->imatrix && !p->weighted ? " (no importance data)" : "");
}

static int usage(FILE *out)
{
    fprintf(out, "usage: rocmforge quantize IN.gguf OUT.gguf TYPE [--imatrix FILE] [--pure] [--threads N]\n"
                 "  TYPE: %s\n"
                 "        (q3_k, q4_k, q5_k: the _m mixes; mxfp4: mxfp4_moe; the iq1, iq2 and iq3_xxs\n"
                 "        types and q2_k_s need --imatrix)\n"
                 "  --imatrix FILE  importance matrix (llama-imatrix's GGUF or legacy .dat)\n"
                 "  --pure          every quantizable tensor TYPE itself, no mix rules\n"
                 "  --threads N     conversion threads (default: the online CPUs)\n",
            qmix_ftype_names());
    return out == stdout ? 0 : 2;
}

int cmd_quantize(int argc, char **argv)
{
    const char *pos[3];
    int n_pos = 0, rc;
    rt_quantize_options o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            return usage(stdout);
        } else if (!strcmp(a, "--pure")) {
            o.pure = true;
        } else if (!strcmp(a, "--imatrix")) {
            if ((rc = cli_value("quantize", argc, argv, &i, &o.imatrix)))
                return rc;
        } else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
            const char *v;
            long long n;
            if ((rc = cli_value("quantize", argc, argv, &i, &v)) || (rc = cli_int("quantize", a, v, 1, 4096, &n)))
                return rc;
            o.n_threads = (int)n;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("quantize: unknown option '%s' (run 'rocmforge quantize --help')", a);
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            return cli_usage_error("quantize: unexpected argument '%s'", a);
        }
    }
    if (n_pos != 3)
        return usage(stderr);
    /* before any work, so a mistyped TYPE costs nothing */
    rf_error err = {0};
    const qmix_ftype *ft;
    if (qmix_ftype_find(pos[2], &ft, &err) != RF_OK)
        return cli_error(&err);

    ui u = {.imatrix = o.imatrix != NULL};
    o.type = pos[2];
    o.progress = on_progress;
    o.ctx = &u;
    rt_quantize_stats st;
    double t0 = cli_now();
    if (rt_quantize(pos[0], pos[1], &o, &st, &err) != RF_OK)
        return cli_error(&err);
    fprintf(stderr, "rocmforge: %s: %" PRIu64 " tensors (%" PRIu64 " converted), %.2f MiB -> %.2f MiB in %.1f s\n",
            pos[1], st.n_tensors, st.n_converted, (double)st.bytes_in / (1024.0 * 1024.0),
            (double)st.bytes_out / (1024.0 * 1024.0), cli_now() - t0);
    if (o.imatrix)
        fprintf(stderr, "rocmforge: importance matrix %s: %" PRIu64 " entries, %" PRIu64 " of %" PRIu64
                " converted tensors weighted by it\n", o.imatrix, st.n_imatrix_entries, st.n_weighted, st.n_converted);
    if (st.n_fallback)
        fprintf(stderr, "rocmforge: %" PRIu64 " tensor(s) took a fallback type: their row length is not "
                "a multiple of the mix's block size\n", st.n_fallback);
    return 0;
}
