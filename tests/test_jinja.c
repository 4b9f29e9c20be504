/*
 * test_jinja.c: our Jinja interpreter against Python's jinja2.
 *
 * Differential: every case is rendered by Python's jinja2 in transformers'
 * environment (tests/tools/jinja_ref.py, run with Debian's python3 and its
 * python3-jinja2) and by jinja/, and the two must be byte for byte equal,
 * or both fail. The cases:
 *   - feature snippets (tests/fixtures/jinja_snippets.json), each with a
 *     system + user conversation: literals and str() of values, arithmetic,
 *     comparisons, logic, string methods, filters, tojson, map/select,
 *     tests, loops, scopes and namespaces, macros, whitespace control,
 *     dicts, slices, errors, strftime_now, filter and generation blocks;
 *   - every chat template (.jinja) of llama.cpp's models/templates with each
 *     conversation of tests/fixtures/chat_conversations.json (system + user,
 *     a user message with quotes, non-ASCII and a newline, multi-turn,
 *     assistant last without a generation prompt, system multi-turn,
 *     content as a list of parts, a tool call with its answer and tools).
 * Templates we do not render right yet are listed in
 * tests/fixtures/jinja_pending.txt: they are reported (with their first
 * difference) as pending, never as passed, and one that starts to match
 * fails the suite until it is taken off the list.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frontend/gguf.h"
#include "jinja/jinja.h"
#include "test_util.h"

#define FIXTURES RF_SOURCE_DIR "/tests/fixtures"

static json_t *load_json(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, JSON_PRESERVE_ORDER, &e);
    if (!j)
        fprintf(stderr, "%s:%d: %s\n", path, e.line, e.text);
    return j;
}

static bool pending(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !memcmp(p, name, n))
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

/* the byte where two texts first differ, with a little context */
static void show_diff(const char *what, const char *want, const char *got)
{
    size_t i = 0;
    while (want[i] && want[i] == got[i])
        i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  %s: differs at byte %zu\n    jinja2: %.80s\n    ours:   %.80s\n", what, i, want + from,
            got + from);
}

static void test_against_jinja2(void)
{
    json_t *snippets = load_json(FIXTURES "/jinja_snippets.json");
    json_t *convs = load_json(FIXTURES "/chat_conversations.json");
    CU_ASSERT_PTR_NOT_NULL_FATAL(snippets);
    CU_ASSERT_PTR_NOT_NULL_FATAL(convs);
    char *pend = test_read_file(FIXTURES "/jinja_pending.txt", NULL);

    /* the cases: snippets with one conversation, templates with each */
    json_t *cases = json_object(), *templates = json_object(), *pairs = json_array();
    const char *name;
    json_t *v;
    json_object_foreach(snippets, name, v) {
        char key[256];
        snprintf(key, sizeof key, "snippet:%s", name);
        json_object_set(templates, key, v);
        json_array_append_new(pairs, json_pack("[ss]", key, "system_user"));
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/templates", test_ref_models_dir());
    struct dirent **ents = NULL;
    int n_ents = scandir(dir, &ents, NULL, alphasort);
    CU_ASSERT_TRUE_FATAL(n_ents > 0);
    size_t n_templates = 0;
    for (int i = 0; i < n_ents; i++) {
        const char *f = ents[i]->d_name;
        size_t len = strlen(f);
        if (len > 6 && !strcmp(f + len - 6, ".jinja")) {
            char path[8400];
            snprintf(path, sizeof path, "%s/%s", dir, f);
            size_t n = 0;
            char *src = test_read_file(path, &n);
            CU_ASSERT_PTR_NOT_NULL_FATAL(src);
            json_object_set_new(templates, f, json_stringn(src, n));
            free(src);
            const char *cname;
            json_t *cv;
            json_object_foreach(convs, cname, cv)
                json_array_append_new(pairs, json_pack("[ss]", f, cname));
            n_templates++;
        }
        free(ents[i]);
    }
    free(ents);
    json_object_set_new(cases, "templates", templates);
    json_object_set(cases, "contexts", convs);
    json_object_set_new(cases, "pairs", pairs);
    const char *cases_path = test_tmp_path("jinja_cases.json"), *out_path = test_tmp_path("jinja_out.json");
    CU_ASSERT_EQUAL_FATAL(json_dump_file(cases, cases_path, JSON_PRESERVE_ORDER), 0);
    char cmd[12000];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/tools/jinja_ref.py %s %s 2>&1", RF_SOURCE_DIR, cases_path,
             out_path);
    int status = 0, sig = 0;
    char *o = test_run(cmd, &status, &sig);
    if (status)
        fprintf(stderr, "jinja_ref.py: %s\n", o ? o : "");
    free(o);
    CU_ASSERT_EQUAL_FATAL(status, 0);
    json_t *results = load_json(out_path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(results);

    /* 2026-01-15 10:30:00 UTC, the instant jinja_ref.py's strftime_now formats */
    struct tm tm = {.tm_year = 126, .tm_mon = 0, .tm_mday = 15, .tm_hour = 10, .tm_min = 30};
    int64_t now = (int64_t)timegm(&tm);
    size_t n_ok = 0, n_bad = 0, n_pending = 0, n_newly = 0;
    const char *last_t = NULL;
    jinja_template *t = NULL;
    rf_error perr = {0};
    rf_status pst = RF_OK;
    bool t_ok = true, t_pending = false;
    size_t idx;
    json_t *r;
    /* results come grouped by template: judge each template as a whole */
    for (idx = 0; idx <= json_array_size(results); idx++) {
        r = idx < json_array_size(results) ? json_array_get(results, idx) : NULL;
        const char *tn = r ? json_string_value(json_object_get(r, "template")) : NULL;
        if (last_t && (!tn || strcmp(tn, last_t))) { /* the previous template is done */
            bool is_snippet = !strncmp(last_t, "snippet:", 8);
            if (t_ok && t_pending)
                n_newly++, fprintf(stderr, "  %s now matches jinja2: take it off jinja_pending.txt\n", last_t);
            else if (t_ok)
                n_ok++;
            else if (t_pending && !is_snippet)
                n_pending++;
            else
                n_bad++;
            jinja_free(t);
            t = NULL;
        }
        if (!r)
            break;
        if (!last_t || strcmp(tn, last_t)) {
            last_t = tn;
            t_ok = true;
            t_pending = pending(pend, tn);
            const char *src = json_string_value(json_object_get(json_object_get(cases, "templates"), tn));
            pst = jinja_parse(src, strlen(src), tn, &t, &perr);
        }
        const char *cn = json_string_value(json_object_get(r, "context"));
        json_t *want = json_object_get(r, "output");
        char what[512];
        snprintf(what, sizeof what, "%s with %s", tn, cn);
        if (pst != RF_OK) {
            if (want) {
                if (t_ok && !t_pending)
                    fprintf(stderr, "  %s: our parse failed: %s\n", what, perr.msg);
                t_ok = false;
            }
            continue;
        }
        arena a;
        arena_init(&a);
        jinja_vars vars = {.now = now};
        rf_error err = {0};
        char *got = NULL;
        size_t len = 0;
        rf_status st = jinja_from_json(&a, json_object_get(json_object_get(cases, "contexts"), cn), &vars.vars, &err);
        if (st == RF_OK)
            st = jinja_render(t, &a, &vars, &got, &len, &err);
        if (want && st != RF_OK) {
            if (t_ok && !t_pending)
                fprintf(stderr, "  %s: we failed: %s\n", what, err.msg);
            t_ok = false;
        } else if (!want && st == RF_OK) {
            if (t_ok && !t_pending)
                fprintf(stderr, "  %s: jinja2 failed (%s), we did not\n", what,
                        json_string_value(json_object_get(r, "error")));
            t_ok = false;
        } else if (want && (len != json_string_length(want) || memcmp(got, json_string_value(want), len))) {
            if (t_ok && !t_pending)
                show_diff(what, json_string_value(want), got);
            t_ok = false;
        }
        free(got);
        arena_free(&a);
    }
    printf("\n  jinja2 agrees on %zu templates and snippets (%zu llama.cpp templates in all); %zu pending, "
           "%zu wrong\n  ",
           n_ok, n_templates, n_pending, n_bad);
    CU_ASSERT_EQUAL(n_bad, 0);
    CU_ASSERT_EQUAL(n_newly, 0);
    CU_ASSERT_TRUE(n_ok > 0);
    json_decref(results);
    json_decref(cases);
    json_decref(snippets);
    json_decref(convs);
    free(pend);
}

/* rf_chat_render: the model's template (or a named one, or the plain
 * format of a model without any), the BOS and EOS texts of its vocabulary,
 * add_generation_prompt, extra variables from a conversation object, and
 * errors: a template's raise_exception, bad JSON, a missing name. */
static void test_chat_render(void)
{
    static const char tmpl[] = "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
                               "{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}";
    static const char named[] = "{{ tools|length }} tools, {{ messages|length }} message";
    static const char strict[] = "{% if messages[0].role != 'system' %}{{ raise_exception('a system message first') "
                                 "}}{% endif %}ok";
    char vocab[4200];
    snprintf(vocab, sizeof vocab, "%s/ggml-vocab-llama-spm.gguf", test_ref_models_dir());
    rf_error err = {0};
    gguf_file *f = NULL;
    CU_ASSERT_EQUAL_FATAL(gguf_open(vocab, &f, &err), RF_OK);
    const char *paths[2] = {test_tmp_path("chat.gguf"), test_tmp_path("plain.gguf")};
    for (int k = 0; k < 2; k++) {
        gguf_writer *w = gguf_writer_new(3);
        CU_ASSERT_EQUAL(gguf_writer_copy_kvs(w, f), RF_OK);
        if (k == 0) {
            CU_ASSERT_EQUAL(gguf_writer_set_str(w, "tokenizer.chat_template", tmpl, strlen(tmpl)), RF_OK);
            CU_ASSERT_EQUAL(gguf_writer_set_str(w, "tokenizer.chat_template.tool_use", named, strlen(named)), RF_OK);
        }
        CU_ASSERT_EQUAL_FATAL(gguf_writer_write(w, paths[k], &err), RF_OK);
        gguf_writer_free(w);
    }
    gguf_close(f);
    static const char conv[] = "[{\"role\": \"user\", \"content\": \"Hi\"}]";
    static const char obj[] = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"tools\": [1, 2]}";
    struct {
        int model;
        const char *conv;
        rf_chat_options o;
        const char *want; /* or, with st != RF_OK, a piece of the message */
        rf_status st;
    } cases[] = {
        {0, conv, {0}, "<s>[user]Hi[assistant]</s>", RF_OK},
        {0, conv, {.no_generation_prompt = true}, "<s>[user]Hi</s>", RF_OK},
        {0, obj, {.template_name = "tool_use"}, "2 tools, 1 message", RF_OK},
        {0, conv, {.template_text = strict}, "raise_exception: a system message first", RF_E_FORMAT},
        {0, conv, {.template_name = "missing"}, "no chat template named 'missing'", RF_E_NOTFOUND},
        {0, "[{\"role\": 1}]", {0}, "message 0 is not an object with a string \"role\"", RF_E_FORMAT},
        {0, "[{", {0}, "conversation: line 1", RF_E_FORMAT},
        {1, conv, {0}, "user: Hi\nassistant:", RF_OK},
        {1, conv, {.no_generation_prompt = true}, "user: Hi\n", RF_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rf_model *m = NULL;
        CU_ASSERT_EQUAL_FATAL(rf_model_open(paths[cases[i].model], &m, &err), RF_OK);
        char *out = NULL;
        size_t len = 0;
        rf_status st = rf_chat_render(m, cases[i].conv, strlen(cases[i].conv), &cases[i].o, &out, &len, &err);
        CU_ASSERT_EQUAL(st, cases[i].st);
        if (st == RF_OK && cases[i].st == RF_OK) {
            CU_ASSERT_TRUE(len == strlen(cases[i].want) && !strcmp(out, cases[i].want));
            if (strcmp(out, cases[i].want))
                fprintf(stderr, "case %zu: [%s], want [%s]\n", i, out, cases[i].want);
        } else if (st != RF_OK) {
            CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cases[i].want));
            if (!strstr(err.msg, cases[i].want))
                fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, err.msg, cases[i].want);
        }
        free(out);
        rf_model_close(m);
    }
}

/* Bad templates are errors that name the line and column. */
static void test_parse_errors(void)
{
    static const struct {
        const char *src, *msg;
    } cases[] = {
        {"{% if x %}never closed", "'endif' is missing"},
        {"line one\n{{ 1 + }}", "t:2:"},
        {"{% frobnicate %}", "unknown statement 'frobnicate'"},
        {"{{ 'unterminated }}", "unterminated string"},
        {"{# open comment", "unclosed comment"},
        {"{% for x in y %}{% endif %}", "t:1:20: unexpected 'endif', expected 'endfor'"},
        {"text {% endfor %}", "'endfor' closes nothing"},
        {"{{ x | }}", "expected a filter or test name"},
        {"{% set %}", "expected a name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jinja_template *t = NULL;
        rf_error err = {0};
        CU_ASSERT_EQUAL(jinja_parse(cases[i].src, strlen(cases[i].src), "t", &t, &err), RF_E_FORMAT);
        CU_ASSERT_PTR_NULL(t);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cases[i].msg));
        if (!strstr(err.msg, cases[i].msg))
            fprintf(stderr, "expected '%s' in '%s'\n", cases[i].msg, err.msg);
    }
}

/* A template that grows without bound (the fuzzer's: joins of joins, then
 * the result as a list of characters, took 8 GiB) fails naming the limit,
 * and one just inside the limits renders. */
static void test_render_limits(void)
{
    static const struct {
        const char *src, *msg; /* msg NULL: renders */
    } cases[] = {
        {"{{ ('ab' * 600000)|list|length }}", "a list of more than 1048576 characters"},
        {"{% for ch in 'ab' * 600000 %}{% endfor %}", "a list of more than 1048576 characters"},
        {"{{ ('a' * 1000)|join('0123456789' * 8000)|length }}", "a string of more than 64 MiB"},
        {"{{ ('a' * 1000)|join('0123456789' * 6000)|length }}", NULL},
        {"{{ ('ab' * 500000)|list|length }}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jinja_template *t = NULL;
        rf_error err = {0};
        CU_ASSERT_EQUAL_FATAL(jinja_parse(cases[i].src, strlen(cases[i].src), "t", &t, &err), RF_OK);
        arena a;
        arena_init(&a);
        jinja_vars v = {.now = 0};
        char *out = NULL;
        size_t len = 0;
        rf_status st = jinja_render(t, &a, &v, &out, &len, &err);
        if (cases[i].msg) {
            CU_ASSERT_EQUAL(st, RF_E_FORMAT);
            CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cases[i].msg));
            if (!strstr(err.msg, cases[i].msg))
                fprintf(stderr, "expected '%s' in '%s'\n", cases[i].msg, err.msg);
        } else {
            CU_ASSERT_EQUAL(st, RF_OK);
            CU_ASSERT_PTR_NOT_NULL(out);
        }
        free(out);
        arena_free(&a);
        jinja_free(t);
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("jinja", NULL, NULL);
    CU_add_test(s, "snippets and llama.cpp's chat templates against jinja2", test_against_jinja2);
    CU_add_test(s, "bad templates are errors with line:column", test_parse_errors);
    CU_add_test(s, "rf_chat_render: the model's template, named ones, the plain format, errors", test_chat_render);
    CU_add_test(s, "renders past the text and list limits fail, naming them", test_render_limits);
    return test_main();
}
