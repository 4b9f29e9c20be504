/*
 * chat.c: `rocmforge chat MODEL [--system TEXT] [-n N] [--temp T] [--seed S]
 *         [--ctx N] [--threads N] [--backend B] [--kv-f16]
 *         [--chat-template-file F]`: a conversation in the terminal.
 *
 * Each line read is a user message; the whole conversation goes through the
 * model's chat template, and only the tokens after what the session already
 * holds are evaluated (the template re-renders the past the same way, so the
 * common prefix is kept); the reply streams as it is sampled and joins the
 * conversation. /reset starts over, /exit (or end of input) ends. All
 * through the public API.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define CHAT_USAGE                                                                                                  \
    "usage: rocmforge chat MODEL [--system TEXT] [-n N] [--temp T] [--seed S] [--ctx N] [--threads N] "             \
    "[--backend cpu|gpu|auto] [--gpu-layers N|auto] [--kv-f16] [--chat-template-file F]"

typedef struct chat {
    rf_model *m;
    rf_session *s;
    rf_sampler *smp;
    rf_chat_options co;
    json_t *msgs;
    int32_t *held;   /* the tokens the session holds, in order */
    size_t n_held, cap_held;
    long long n_max;
    float *logits;
} chat;

static bool hold(chat *c, int32_t id)
{
    if (c->n_held == c->cap_held) {
        size_t cap = c->cap_held ? 2 * c->cap_held : 1024;
        int32_t *h = realloc(c->held, cap * sizeof *h);
        if (!h)
            return false;
        c->held = h, c->cap_held = cap;
    }
    c->held[c->n_held++] = id;
    return true;
}

/* the conversation's prompt: evaluated past what the session holds */
static rf_status prompt(chat *c, rf_error *err)
{
    char *conv = json_dumps(c->msgs, JSON_COMPACT), *text = NULL;
    size_t len = 0, n = 0;
    int32_t *ids = NULL;
    rf_status st = conv ? rf_chat_render(c->m, conv, strlen(conv), &c->co, &text, &len, err) : RF_E_NOMEM;
    free(conv);
    if (st == RF_OK)
        st = rf_tokenize(c->m, text, len, RF_TOK_ADD_SPECIAL | RF_TOK_PARSE_SPECIAL, &ids, &n, err);
    free(text);
    if (st == RF_OK && n >= 2 && ids[0] == ids[1]) /* the template wrote BOS itself */
        memmove(ids, ids + 1, --n * sizeof *ids);
    size_t same = 0;
    while (st == RF_OK && same < n && same < c->n_held && ids[same] == c->held[same])
        same++;
    if (st == RF_OK && same == n && n) /* nothing new: evaluate the last token again */
        same--;
    if (st == RF_OK && same < c->n_held) { /* the past differs from what is held: from there on again */
        rf_session_truncate(c->s, 0, (uint32_t)same);
        c->n_held = same;
    }
    for (size_t i = same; st == RF_OK && i < n; i++)
        if (!hold(c, ids[i]))
            st = RF_E_NOMEM;
    if (st == RF_OK)
        st = rf_session_eval(c->s, 0, ids + same, n - same, c->logits, err);
    for (size_t i = same; st == RF_OK && i < n; i++) /* the new tokens count for the penalties */
        rf_sampler_accept(c->smp, ids[i]);
    free(ids);
    return st;
}

/* samples and prints the reply; *reply is its text (malloc'd) */
static rf_status reply(chat *c, char **out, rf_error *err)
{
    int32_t *gen = malloc((size_t)(c->n_max > 0 ? c->n_max : 1) * sizeof *gen);
    size_t n_gen = 0, shown = 0;
    char *text = NULL;
    size_t len = 0;
    rf_status st = gen ? RF_OK : RF_E_NOMEM;
    while (st == RF_OK && (long long)n_gen < c->n_max &&
           rf_session_n_past(c->s, 0) < rf_session_n_ctx(c->s)) {
        int32_t id = rf_sampler_sample(c->smp, c->logits);
        if (rf_token_is_eog(c->m, id))
            break;
        gen[n_gen++] = id;
        free(text);
        text = NULL;
        if ((st = rf_detokenize(c->m, gen, n_gen, 0, &text, &len, err)) != RF_OK)
            break;
        /* whole characters only: a byte of one may come in the next token */
        size_t upto = len;
        while (upto > shown && ((unsigned char)text[upto - 1] & 0xc0) == 0x80)
            upto--;
        if (upto > shown && (unsigned char)text[upto - 1] >= 0xc0)
            upto--;
        fwrite(text + shown, 1, upto - shown, stdout);
        fflush(stdout);
        shown = upto;
        if (hold(c, id))
            st = rf_session_eval(c->s, 0, &id, 1, c->logits, err);
        else
            st = RF_E_NOMEM;
    }
    if (text && shown < len)
        fwrite(text + shown, 1, len - shown, stdout);
    putchar('\n');
    fflush(stdout);
    free(gen);
    *out = text ? text : strdup("");
    return st;
}

int cmd_chat(int argc, char **argv)
{
    const char *path = NULL, *system = NULL, *tfile = NULL, *v;
    long long n_max = 512, ctx = 0, threads = 0;
    rf_sampler_params sp = rf_sampler_defaults();
    rf_session_options so = {0};
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts(CHAT_USAGE);
            return 0;
        } else if (!strcmp(a, "--system")) {
            if ((rc = cli_value("chat", argc, argv, &i, &system)))
                return rc;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if ((rc = cli_value("chat", argc, argv, &i, &v)) || (rc = cli_int("chat", a, v, 1, 1 << 20, &n_max)))
                return rc;
        } else if (!strcmp(a, "--temp")) {
            if ((rc = cli_value("chat", argc, argv, &i, &v)) || (rc = cli_float("chat", a, v, 0, 100, &sp.temperature)))
                return rc;
        } else if (!strcmp(a, "--seed")) {
            if ((rc = cli_value("chat", argc, argv, &i, &v)) || (rc = cli_u64("chat", a, v, &sp.seed)))
                return rc;
        } else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) {
            if ((rc = cli_value("chat", argc, argv, &i, &v)) || (rc = cli_int("chat", a, v, 1, UINT32_MAX, &ctx)))
                return rc;
        } else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
            if ((rc = cli_value("chat", argc, argv, &i, &v)) || (rc = cli_int("chat", a, v, 0, 4096, &threads)))
                return rc;
        } else if (!strcmp(a, "--backend")) {
            if ((rc = cli_value("chat", argc, argv, &i, &so.backend)))
                return rc;
        } else if (!strcmp(a, "--kv-f16")) {
            so.kv_f16 = true;
        } else if (!strcmp(a, "--chat-template-file")) {
            if ((rc = cli_value("chat", argc, argv, &i, &tfile)))
                return rc;
        } else if ((rc = cli_gpu_option("chat", argc, argv, &i, &so)) >= 0) {
            if (rc)
                return rc;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("chat: unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_usage_error("chat: unexpected argument '%s'", a);
        }
    }
    if (!path)
        return cli_usage_error(CHAT_USAGE);
    chat c = {.n_max = n_max, .msgs = json_array()};
    rf_error err = {0};
    char *ttext = NULL;
    size_t tlen = 0;
    const char *why = NULL;
    if (tfile && !(ttext = cli_read_file(tfile, &tlen, &why)))
        return cli_usage_error("chat: --chat-template-file %s: %s", tfile, why);
    c.co.template_text = ttext;
    so.n_ctx = (uint32_t)ctx, so.n_threads = (int)threads;
    cli_ui ui; /* the kernel build's progress, and notices: "auto" on the CPU, the layers --gpu-layers auto chose */
    cli_session_callbacks(&so, &ui);
    rc = 1;
    if (rf_model_open(path, &c.m, &err) != RF_OK || rf_session_open(c.m, &so, &c.s, &err) != RF_OK ||
        rf_sampler_new(&sp, rf_session_n_vocab(c.s), &c.smp, &err) != RF_OK ||
        !(c.logits = malloc(rf_session_n_vocab(c.s) * sizeof *c.logits)) || !c.msgs) {
        cli_error(&err);
        goto done;
    }
    if (system)
        json_array_append_new(c.msgs, json_pack("{s:s,s:s}", "role", "system", "content", system));
    size_t base = json_array_size(c.msgs);
    char line[65536];
    for (;;) {
        fprintf(stderr, "> ");
        if (!fgets(line, sizeof line, stdin))
            break;
        line[strcspn(line, "\r\n")] = 0;
        if (!strcmp(line, "/exit"))
            break;
        if (!strcmp(line, "/reset")) {
            while (json_array_size(c.msgs) > base)
                json_array_remove(c.msgs, json_array_size(c.msgs) - 1);
            rf_session_forget(c.s, 0);
            rf_sampler_reset(c.smp);
            c.n_held = 0;
            fprintf(stderr, "(the conversation starts over)\n");
            continue;
        }
        if (!line[0])
            continue;
        json_array_append_new(c.msgs, json_pack("{s:s,s:s}", "role", "user", "content", line));
        char *text = NULL;
        if (prompt(&c, &err) != RF_OK || reply(&c, &text, &err) != RF_OK) {
            free(text);
            cli_error(&err);
            goto done;
        }
        json_array_append_new(c.msgs, json_pack("{s:s,s:s}", "role", "assistant", "content", text));
        free(text);
    }
    rc = 0;
done:
    json_decref(c.msgs);
    free(c.held);
    free(c.logits);
    free(ttext);
    rf_sampler_free(c.smp);
    rf_session_close(c.s);
    rf_model_close(c.m);
    return rc;
}
