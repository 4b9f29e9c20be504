/*
 * serve.c: `rocmforge serve MODEL [--host 127.0.0.1] [--port 8080]
 *          [--parallel N] [--ctx N] [--ubatch N] [--backend B] [--threads N]
 *          [--kv-f16] [--api-key KEY] [--chat-template-file F]`.
 *
 * An OpenAI-compatible server (srv/). Its log lines go to stderr; SIGINT or
 * SIGTERM stops it (requests in flight end with an error).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "srv/server.h"

#define SERVE_USAGE                                                                                                 \
    "usage: rocmforge serve MODEL [--host 127.0.0.1] [--port 8080] [--parallel N] [--ctx N] [--ubatch N] "          \
    "[--backend cpu|gpu|auto] [--gpu-layers N|auto] [--threads N] [--kv-f16] [--api-key KEY] [--chat-template-file F]"

static void on_signal(int sig)
{
    (void)sig;
    srv_stop();
}

static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "rocmforge: serve: %s\n", line);
}

int cmd_serve(int argc, char **argv)
{
    const char *path = NULL, *v, *tfile = NULL;
    long long port = 8080, parallel = 1, ctx = 0, ubatch = 0, threads = 0;
    srv_options o = {.host = "127.0.0.1", .log = log_line};
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts(SERVE_USAGE);
            return 0;
        } else if (!strcmp(a, "--host")) {
            if ((rc = cli_value("serve", argc, argv, &i, &o.host)))
                return rc;
        } else if (!strcmp(a, "--port")) {
            if ((rc = cli_value("serve", argc, argv, &i, &v)) || (rc = cli_int("serve", a, v, 0, 65535, &port)))
                return rc;
        } else if (!strcmp(a, "--parallel") || !strcmp(a, "-np")) {
            if ((rc = cli_value("serve", argc, argv, &i, &v)) || (rc = cli_int("serve", a, v, 1, 256, &parallel)))
                return rc;
        } else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) {
            if ((rc = cli_value("serve", argc, argv, &i, &v)) || (rc = cli_int("serve", a, v, 1, UINT32_MAX, &ctx)))
                return rc;
        } else if (!strcmp(a, "--ubatch") || !strcmp(a, "-ub")) {
            if ((rc = cli_value("serve", argc, argv, &i, &v)) || (rc = cli_int("serve", a, v, 1, 1 << 16, &ubatch)))
                return rc;
        } else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
            if ((rc = cli_value("serve", argc, argv, &i, &v)) || (rc = cli_int("serve", a, v, 0, 4096, &threads)))
                return rc;
        } else if (!strcmp(a, "--backend")) {
            if ((rc = cli_value("serve", argc, argv, &i, &o.backend)))
                return rc;
        } else if (!strcmp(a, "--kv-f16")) {
            o.kv_f16 = true;
        } else if (!strcmp(a, "--api-key")) {
            if ((rc = cli_value("serve", argc, argv, &i, &o.api_key)))
                return rc;
        } else if (!strcmp(a, "--chat-template-file")) {
            if ((rc = cli_value("serve", argc, argv, &i, &tfile)))
                return rc;
        } else if ((rc = cli_gpu_option("serve", argc, argv, &i, &o.place)) >= 0) {
            if (rc)
                return rc;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("serve: unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_usage_error("serve: unexpected argument '%s'", a);
        }
    }
    if (!path)
        return cli_usage_error(SERVE_USAGE);
    char *ttext = NULL;
    size_t tlen = 0;
    const char *why = NULL;
    if (tfile && !(ttext = cli_read_file(tfile, &tlen, &why)))
        return cli_usage_error("serve: --chat-template-file %s: %s", tfile, why);
    o.port = (int)port, o.parallel = (int)parallel, o.n_ctx = (uint32_t)ctx, o.n_ubatch = (uint32_t)ubatch;
    o.n_threads = (int)threads, o.chat_template = ttext;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up is a write error, not the end */
    rf_error err = {0};
    rc = srv_run(path, &o, &err) != RF_OK ? cli_error(&err) : 0;
    free(ttext);
    return rc;
}
