/*
 * fuzz_jinja.c: libFuzzer target for the Jinja interpreter (jinja/).
 *
 * Each input is a template's source: it is parsed, and when it parses it is
 * rendered with a small conversation (messages, add_generation_prompt,
 * bos/eos tokens, a tools list). Either may fail with a message; neither may
 * crash, hang (the render's step and size bounds) or leak.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jinja/jinja.h"

static const char VARS[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": "
    "\"Hi \\u00e9\\n\"}, {\"role\": \"assistant\", \"content\": \"Hello\", \"tool_calls\": [{\"name\": \"f\", "
    "\"arguments\": {\"x\": 1}}]}], \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": "
    "\"</s>\", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {}}}]}";

static json_t *vars;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vars && !(vars = json_loads(VARS, 0, NULL)))
        __builtin_trap();
    jinja_template *t = NULL;
    rf_error err = {0};
    if (jinja_parse((const char *)data, size, "fuzz", &t, &err) != RF_OK)
        return 0;
    arena a;
    arena_init(&a);
    jinja_vars v = {.now = 1768473000};
    char *out = NULL;
    size_t len = 0;
    if (jinja_from_json(&a, vars, &v.vars, &err) == RF_OK && jinja_render(t, &a, &v, &out, &len, &err) == RF_OK &&
        strlen(out) > len)
        __builtin_trap(); /* NUL-terminated at len (the text itself may hold NULs) */
    free(out);
    arena_free(&a);
    jinja_free(t);
    return 0;
}
