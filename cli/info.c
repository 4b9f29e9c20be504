/*
 * info.c: `rocmforge info MODEL [--json]`, what a GGUF holds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (*p < 0x20)
                printf("\\u%04x", *p);
            else
                putchar(*p);
        }
    }
    putchar('"');
}

static void print_json(const rf_model_info *i)
{
    printf("{\"path\":");
    json_str(i->path);
    printf(",\"gguf_version\":%" PRIu32 ",\"file_size\":%" PRIu64 ",\"architecture\":", i->gguf_version, i->file_size);
    json_str(i->arch);
    printf(",\"name\":");
    json_str(i->name);
    printf(",\"file_type\":%" PRId32 ",\"file_type_name\":", i->file_type);
    json_str(i->file_type_name);
    printf(",\"n_params\":%" PRIu64 ",\"n_tensors\":%" PRIu64 ",\"n_kv\":%" PRIu64, i->n_params, i->n_tensors, i->n_kv);
    printf(",\"context_length\":%" PRIu32 ",\"n_layers\":%" PRIu32 ",\"n_embd\":%" PRIu32 ",\"n_heads\":%" PRIu32
           ",\"n_kv_heads\":%" PRIu32 ",\"head_dim\":%" PRIu32 ",\"n_ff\":%" PRIu32,
           i->context_length, i->n_layers, i->n_embd, i->n_heads, i->n_kv_heads, i->head_dim, i->n_ff);
    printf(",\"experts\":{\"count\":%" PRIu32 ",\"used\":%" PRIu32 ",\"n_ff\":%" PRIu32 "}", i->n_expert,
           i->n_expert_used, i->n_ff_exp);
    printf(",\"rope\":{\"dim\":%" PRIu32 ",\"freq_base\":%.9g,\"scaling_type\":", i->rope_dim, (double)i->rope_freq_base);
    json_str(i->rope_scaling);
    printf(",\"scaling_factor\":%.9g}", (double)i->rope_scaling_factor);
    printf(",\"vocab_size\":%" PRIu32 ",\"tokenizer_model\":", i->vocab_size);
    json_str(i->tokenizer_model);
    printf(",\"tokenizer_pre\":");
    json_str(i->tokenizer_pre);
    printf(",\"chat_template\":%s,\"tensor_types\":{", i->has_chat_template ? "true" : "false");
    for (uint32_t k = 0; k < i->n_types; k++) {
        if (k)
            putchar(',');
        json_str(i->by_type[k].type_name);
        printf(":%" PRIu32, i->by_type[k].n_tensors);
    }
    printf("}}\n");
}

static const char *or_dash(const char *s) { return s && *s ? s : "-"; }

static void print_u32(const char *label, uint32_t v)
{
    if (v)
        printf("%-18s %" PRIu32 "\n", label, v);
    else
        printf("%-18s -\n", label);
}

static void print_text(const rf_model_info *i)
{
    printf("%-18s %s\n", "file", i->path);
    printf("%-18s %" PRIu64 " bytes (%.2f MiB), GGUF v%" PRIu32 ", %" PRIu64 " keys, %" PRIu64 " tensors\n", "size",
           i->file_size, (double)i->file_size / (1024.0 * 1024.0), i->gguf_version, i->n_kv, i->n_tensors);
    printf("%-18s %s\n", "architecture", or_dash(i->arch));
    printf("%-18s %s\n", "name", or_dash(i->name));
    if (i->file_type >= 0)
        printf("%-18s %s (%" PRId32 ")\n", "file type", or_dash(i->file_type_name), i->file_type);
    else
        printf("%-18s -\n", "file type");
    if (i->n_params >= 1000000)
        printf("%-18s %" PRIu64 " (%.2f M)\n", "parameters", i->n_params, (double)i->n_params / 1e6);
    else
        printf("%-18s %" PRIu64 "\n", "parameters", i->n_params);
    print_u32("context length", i->context_length);
    print_u32("layers", i->n_layers);
    print_u32("embedding", i->n_embd);
    print_u32("heads", i->n_heads);
    print_u32("kv heads", i->n_kv_heads);
    print_u32("head dim", i->head_dim);
    print_u32("ffn", i->n_ff);
    if (i->n_expert)
        printf("%-18s %" PRIu32 ", %" PRIu32 " a token, ffn %" PRIu32 "\n", "experts", i->n_expert, i->n_expert_used,
               i->n_ff_exp);
    if (i->rope_freq_base > 0 || i->rope_dim) {
        printf("%-18s dim %" PRIu32 ", base %g", "rope", i->rope_dim, (double)i->rope_freq_base);
        if (i->rope_scaling[0])
            printf(", scaling %s x%g", i->rope_scaling, (double)i->rope_scaling_factor);
        putchar('\n');
    } else {
        printf("%-18s -\n", "rope");
    }
    print_u32("vocab size", i->vocab_size);
    printf("%-18s %s", "tokenizer", or_dash(i->tokenizer_model));
    if (i->tokenizer_pre[0])
        printf(" (pre: %s)", i->tokenizer_pre);
    putchar('\n');
    printf("%-18s %s\n", "chat template", i->has_chat_template ? "yes" : "no");
    printf("%-18s", "tensor types");
    if (!i->n_types)
        printf(" -");
    for (uint32_t k = 0; k < i->n_types; k++)
        printf(" %s:%" PRIu32, i->by_type[k].type_name, i->by_type[k].n_tensors);
    putchar('\n');
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error("info: unknown option '%s'", argv[i]);
        else if (!path)
            path = argv[i];
        else
            return cli_usage_error("info: unexpected argument '%s'", argv[i]);
    }
    if (!path)
        return cli_usage_error("usage: rocmforge info MODEL [--json]");
    rf_error err = {0};
    rf_model *m;
    if (rf_model_open(path, &m, &err) != RF_OK)
        return cli_error(&err);
    rf_model_info info;
    if (rf_model_get_info(m, &info, &err) != RF_OK) {
        rf_model_close(m);
        return cli_error(&err);
    }
    if (json)
        print_json(&info);
    else
        print_text(&info);
    rf_model_close(m);
    return 0;
}
