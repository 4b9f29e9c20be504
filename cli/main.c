/*
 * main.c: subcommand dispatch for `rocmforge`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *usage;
} commands[] = {
    {"info", cmd_info, "info MODEL [--json]                     what the GGUF holds"},
    {"tokenize", cmd_tokenize, "tokenize MODEL TEXT [--special] [--no-bos]   the model's token ids for TEXT"},
    {"detokenize", cmd_detokenize, "detokenize MODEL ID... [--special]      the text of token ids"},
    {"ir", cmd_ir, "ir MODEL [--stage import|fused|plan] [--print-after PASS] [--disable-pass PASS]   the IR at a stage"},
    {"template", cmd_template, "template MODEL --messages FILE.json [--chat-template-file F]   the prompt its chat template makes"},
    {"run", cmd_run, "run MODEL -p TEXT [-n N] [sampling options] [--backend B]   generate text ('run --help')"},
    {"embed", cmd_embed, "embed MODEL TEXT... [--pooling mean|cls|last|none] [--normalize N] [--json]   an embedding model's vectors"},
    {"logits", cmd_logits, "logits MODEL --tokens IDS --out FILE [--backend B] [--threads N]   every position's logits"},
    {"chat", cmd_chat, "chat MODEL [--system TEXT] [-n N] [--temp T]   a conversation in the terminal (/reset, /exit)"},
    {"serve", cmd_serve, "serve MODEL [--host H] [--port P] [--parallel N] [--api-key KEY]   an OpenAI-compatible server"},
    {"kernels", cmd_kernels, "kernels MODEL [--arch ARCH] [--list] [--name SUBSTR]   the generated kernel source"},
    {"bench", cmd_bench, "bench MODEL [-p N] [-n N] [--reps R] [--threads N] [--backend B] [--json]   prefill and decode speed"},
    {"compile", cmd_compile, "compile MODEL [--arch ARCH] [-o PLAN] [--cache DIR] [--threads N]   build every kernel, write the plan"},
    {"cache", cmd_cache, "cache ls|verify|clear [--cache DIR]     the kernel cache"},
    {"quantize", cmd_quantize, "quantize IN.gguf OUT.gguf TYPE [--imatrix FILE] [--pure] [--threads N]   the model in another type, as llama.cpp writes it"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: rocmforge COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %s\n", commands[i].usage);
}

/* Messages quote names from the input file; a newline or escape sequence in
 * a hostile key must not break the one-line error or drive the terminal. */
static void put_escaped(const char *s, FILE *out)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
}

int cli_error(const rf_error *err)
{
    fputs("rocmforge: ", stderr);
    put_escaped(err->msg[0] ? err->msg : rf_status_name(err->status), stderr);
    fputc('\n', stderr);
    return 1;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rocmforge: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    cli_usage_error("unknown command '%s' (run 'rocmforge --help')", argv[1]);
    return 2;
}
