/*
 * chat.c: a conversation → the prompt text, through the model's chat
 * template (the public rf_chat_render).
 *
 * The template is tokenizer.chat_template of the GGUF, or the named
 * tokenizer.chat_template.NAME, or one the caller gives; a model with none
 * gets PLAIN below. Its variables are what transformers passes: messages,
 * add_generation_prompt, and bos_token / eos_token as the text of the
 * model's BOS and EOS tokens; a conversation given as a JSON object adds its
 * other keys (tools, documents, ...) as they are. strftime_now formats the
 * present time (UTC).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frontend/model.h"
#include "jinja/jinja.h"
#include "support/error.h"

/* for a model without a template: one "role: content" line a message, and
 * the assistant's turn opened when asked */
static const char PLAIN[] = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
                            "{% if add_generation_prompt %}assistant:{% endif %}";

/* the text of token id (special tokens as their text), "" when id < 0 */
static rf_status token_text(const tok_vocab *v, int32_t id, json_t **out, rf_error *err)
{
    char *text = NULL;
    size_t len = 0;
    rf_status s = id < 0 ? RF_OK : tok_decode(v, &id, 1, TOK_DECODE_SPECIAL, &text, &len, err);
    if (s == RF_OK && !(*out = json_stringn(text ? text : "", len)))
        s = rf_fail(err, RF_E_NOMEM, "out of memory");
    free(text);
    return s;
}

/* The variables: the conversation (an array: the messages; an object: its
 * keys, messages among them), then what the model and options say. */
static rf_status variables(rf_model *m, const char *conv, size_t len, const rf_chat_options *o, json_t **out,
                           rf_error *err)
{
    json_error_t je;
    json_t *c = json_loadb(conv, len, JSON_PRESERVE_ORDER, &je), *vars = NULL;
    if (!c)
        return rf_fail(err, RF_E_FORMAT, "conversation: line %d, column %d: %s", je.line, je.column, je.text);
    if (json_is_array(c)) {
        vars = json_object();
        if (vars)
            json_object_set(vars, "messages", c);
    } else if (json_is_object(c)) {
        vars = json_deep_copy(c);
    }
    json_decref(c);
    if (!vars)
        return rf_fail(err, RF_E_FORMAT, "conversation: expected a messages array or an object with \"messages\"");
    json_t *msgs = json_object_get(vars, "messages");
    size_t i;
    json_t *msg;
    rf_status s = RF_OK;
    if (!json_is_array(msgs))
        s = rf_fail(err, RF_E_FORMAT, "conversation: \"messages\" must be an array");
    json_array_foreach(msgs, i, msg) {
        if (s == RF_OK && (!json_is_object(msg) || !json_is_string(json_object_get(msg, "role"))))
            s = rf_fail(err, RF_E_FORMAT, "conversation: message %zu is not an object with a string \"role\"", i);
    }
    const tok_vocab *v = NULL;
    json_t *bos = NULL, *eos = NULL;
    if (s == RF_OK)
        s = rf_model_vocab(m, &v, err);
    if (s == RF_OK && (s = token_text(v, tok_vocab_bos(v), &bos, err)) == RF_OK &&
        (s = token_text(v, tok_vocab_eos(v), &eos, err)) == RF_OK) {
        json_object_set_new(vars, "bos_token", bos);
        json_object_set_new(vars, "eos_token", eos);
        json_object_set_new(vars, "add_generation_prompt", json_boolean(!(o && o->no_generation_prompt)));
    }
    if (s != RF_OK) {
        json_decref(vars);
        return s;
    }
    *out = vars;
    return RF_OK;
}

rf_status rf_chat_render(rf_model *m, const char *conversation, size_t len, const rf_chat_options *opt,
                         char **out, size_t *out_len, rf_error *err)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    rf_chat_options o = opt ? *opt : (rf_chat_options){0};
    const gguf_file *f = rf_model_file(m);
    const char *src = o.template_text, *name = "chat template";
    size_t n = src ? strlen(src) : 0;
    char key[256];
    if (!src) {
        gguf_str s;
        snprintf(key, sizeof key, o.template_name ? "tokenizer.chat_template.%s" : "tokenizer.chat_template",
                 o.template_name);
        rf_status st = gguf_get_str(f, key, &s, err);
        if (st == RF_OK) {
            src = s.ptr, n = (size_t)s.len, name = key;
        } else if (st == RF_E_NOTFOUND && !o.template_name) {
            src = PLAIN, n = sizeof PLAIN - 1, name = "the plain chat format";
            if (err)
                *err = (rf_error){0};
        } else {
            return st == RF_E_NOTFOUND
                       ? rf_fail(err, RF_E_NOTFOUND, "%s has no chat template named '%s' (no key %s)", gguf_path(f),
                                 o.template_name, key)
                       : st;
        }
    }
    jinja_template *t = NULL;
    json_t *vars = NULL;
    rf_status st = jinja_parse(src, n, name, &t, err);
    if (st == RF_OK)
        st = variables(m, conversation, len, &o, &vars, err);
    if (st == RF_OK) {
        arena a;
        arena_init(&a);
        jinja_vars jv = {.now = (int64_t)time(NULL)};
        st = jinja_from_json(&a, vars, &jv.vars, err);
        if (st == RF_OK)
            st = jinja_render(t, &a, &jv, out, out_len, err);
        arena_free(&a);
    }
    json_decref(vars);
    jinja_free(t);
    return st;
}
