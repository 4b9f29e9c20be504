/*
 * template.c: `rocmforge template MODEL --messages FILE.json
 *             [--chat-template-file F] [--chat-template-name NAME]
 *             [--no-generation-prompt]`.
 *
 * Prints the prompt the model's chat template makes of a conversation,
 * exactly (no newline added): for people debugging a template. FILE.json is
 * an OpenAI messages array, or an object whose "messages" and other keys
 * (tools, ...) are the template's variables; "-" reads standard input.
 * All through the public rf_chat_render.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define TEMPLATE_USAGE                                                                                              \
    "usage: rocmforge template MODEL --messages FILE.json [--chat-template-file F] [--chat-template-name NAME] "   \
    "[--no-generation-prompt]"

int cmd_template(int argc, char **argv)
{
    const char *path = NULL, *messages = NULL, *tfile = NULL;
    rf_chat_options o = {0};
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts(TEMPLATE_USAGE);
            return 0;
        } else if (!strcmp(a, "--messages")) {
            if ((rc = cli_value("template", argc, argv, &i, &messages)))
                return rc;
        } else if (!strcmp(a, "--chat-template-file")) {
            if ((rc = cli_value("template", argc, argv, &i, &tfile)))
                return rc;
        } else if (!strcmp(a, "--chat-template-name")) {
            if ((rc = cli_value("template", argc, argv, &i, &o.template_name)))
                return rc;
        } else if (!strcmp(a, "--no-generation-prompt")) {
            o.no_generation_prompt = true;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("template: unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_usage_error("template: unexpected argument '%s'", a);
        }
    }
    if (!path || !messages)
        return cli_usage_error(TEMPLATE_USAGE);
    if (tfile && o.template_name)
        return cli_usage_error("template: --chat-template-file and --chat-template-name exclude each other");
    size_t conv_len = 0, tlen = 0;
    const char *why = NULL;
    char *conv = cli_read_file(messages, &conv_len, &why), *ttext = NULL, *out = NULL;
    if (!conv)
        return cli_usage_error("template: --messages %s: %s", messages, why);
    if (tfile && !(ttext = cli_read_file(tfile, &tlen, &why))) {
        free(conv);
        return cli_usage_error("template: --chat-template-file %s: %s", tfile, why);
    }
    o.template_text = ttext;
    rf_error err = {0};
    rf_model *m = NULL;
    size_t len = 0;
    rc = rf_model_open(path, &m, &err) != RF_OK || rf_chat_render(m, conv, conv_len, &o, &out, &len, &err) != RF_OK
             ? cli_error(&err)
             : 0;
    if (!rc && (fwrite(out, 1, len, stdout) != len || fflush(stdout) != 0))
        rc = cli_usage_error("template: writing to stdout failed");
    free(out);
    free(conv);
    free(ttext);
    rf_model_close(m);
    return rc;
}
