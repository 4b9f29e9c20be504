/*
 * args.c: what the commands share for reading their arguments.
 *
 * Every numeric option goes through cli_int / cli_u64 / cli_float, which
 * accept the whole string or nothing (no trailing junk, no overflow, no NaN)
 * and check a range; a bad value is a usage error that names the command and
 * the option. Each helper returns 0 on success and otherwise the exit status
 * the command should return, so a call site reads
 *     if ((rc = cli_int("run", "-n", v, 0, INT32_MAX, &n))) return rc;
 * Token id lists ("1 2 3", commas allowed) are parsed by cli_ids.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

int cli_value(const char *cmd, int argc, char **argv, int *i, const char **out)
{
    if (*i + 1 >= argc)
        return cli_usage_error("%s: option '%s' needs a value", cmd, argv[*i]);
    *out = argv[++*i];
    return 0;
}

int cli_int(const char *cmd, const char *opt, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        return cli_usage_error("%s: %s: '%s' is not an integer", cmd, opt, v);
    if (x < lo || x > hi)
        return cli_usage_error("%s: %s: %lld is out of range %lld..%lld", cmd, opt, x, lo, hi);
    *out = x;
    return 0;
}

int cli_u64(const char *cmd, const char *opt, const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    if (v[0] == '-')
        return cli_usage_error("%s: %s: '%s' is not a non-negative integer", cmd, opt, v);
    unsigned long long x = strtoull(v, &end, 0);
    if (errno || end == v || *end)
        return cli_usage_error("%s: %s: '%s' is not a non-negative integer", cmd, opt, v);
    *out = (uint64_t)x;
    return 0;
}

int cli_gpu_option(const char *cmd, int argc, char **argv, int *i, rf_session_options *so)
{
    static const char *const opts[] = {"--gpu-layers", "--gpu-mem-limit", "--tp", "--tp-rank", "--tp-world",
                                       "--tp-addr"};
    const char *o = argv[*i], *v = NULL;
    size_t k = 0;
    while (k < sizeof opts / sizeof opts[0] && strcmp(o, opts[k]))
        k++;
    if (k == sizeof opts / sizeof opts[0])
        return -1;
    int rc;
    long long n = 0;
    if ((rc = cli_value(cmd, argc, argv, i, &v)))
        return rc;
    /* counts against the model (layers, heads) are the session's to check */
    switch (k) {
    case 0:
        if (strcmp(v, "auto") && (!*v || strspn(v, "0123456789") != strlen(v)))
            return cli_usage_error("%s: --gpu-layers: '%s' is neither a count of layers (0 or more) nor auto", cmd, v);
        so->gpu_layers = v;
        return 0;
    case 1: return cli_u64(cmd, o, v, &so->gpu_mem_limit);
    case 5: so->tp_addr = v; return 0;
    default: break;
    }
    if ((rc = cli_int(cmd, o, v, k == 3 ? 0 : k == 4 ? 2 : 1, 1024, &n)))
        return rc;
    *(k == 2 ? &so->tp : k == 3 ? &so->tp_rank : &so->tp_world) = (uint32_t)n;
    return 0;
}

int cli_rank_option(const char *cmd, int argc, char **argv, int *i, long long *tp, long long *tp_rank)
{
    bool rank = !strcmp(argv[*i], "--tp-rank");
    if (!rank && strcmp(argv[*i], "--tp"))
        return -1;
    const char *v = NULL;
    int rc = cli_value(cmd, argc, argv, i, &v);
    if (rc)
        return rc;
    return rank ? cli_int(cmd, "--tp-rank", v, 0, 1023, tp_rank) : cli_int(cmd, "--tp", v, 1, 1024, tp);
}

int cli_rank_check(const char *cmd, long long tp, long long tp_rank, bool by_layers)
{
    if (tp_rank >= 0 && tp_rank >= tp)
        return cli_usage_error("%s: --tp-rank %lld: the ranks of --tp %lld are 0..%lld", cmd, tp_rank, tp, tp - 1);
    if (tp && by_layers)
        return cli_usage_error("%s: --tp and --gpu-layers: a model is split one way or the other, not both", cmd);
    return 0;
}

void cli_placement(rf_session_options *to, const rf_session_options *from)
{
    to->gpu_layers = from->gpu_layers;
    to->gpu_mem_limit = from->gpu_mem_limit;
    to->tp = from->tp;
    to->tp_rank = from->tp_rank;
    to->tp_world = from->tp_world;
    to->tp_addr = from->tp_addr;
}

int cli_float(const char *cmd, const char *opt, const char *v, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x))
        return cli_usage_error("%s: %s: '%s' is not a number", cmd, opt, v);
    if (x < lo || x > hi)
        return cli_usage_error("%s: %s: %g is out of range %g..%g", cmd, opt, x, lo, hi);
    *out = (float)x;
    return 0;
}

int cli_ids(const char *cmd, const char *opt, const char *v, int32_t **ids, size_t *n)
{
    size_t cap = strlen(v) / 2 + 1, k = 0; /* every id takes a digit and a separator */
    int32_t *out = malloc(cap * sizeof *out);
    if (!out)
        return cli_usage_error("%s: out of memory", cmd);
    const char *p = v;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (errno || end == p || x < 0 || x > INT32_MAX ||
            (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n')) {
            free(out);
            return cli_usage_error("%s: %s: '%.*s' (at offset %zu) is not a token id", cmd, opt,
                                   (int)strcspn(p, " ,\t\n"), p, (size_t)(p - v));
        }
        out[k++] = (int32_t)x;
        p = end;
    }
    *ids = out;
    *n = k;
    return 0;
}

char *cli_read_file(const char *path, size_t *len, const char **why)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        *why = "cannot open it";
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    bool oom = !buf;
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                oom = true;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (oom || bad) {
        free(buf);
        *why = oom ? "out of memory" : "reading it failed";
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_json_string(const char *s, FILE *out)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}
