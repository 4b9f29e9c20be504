/*
 * json.c: JSON (jansson's values) to Jinja values, for the variables of a
 * render: a conversation's messages, tools, add_generation_prompt.
 *
 * Integers that fit int64 stay integers and reals stay floats, as
 * json.loads would give them to Python; objects keep their key order.
 */
#include <jansson.h>
#include <string.h>

#include "jinja/jinja.h"
#include "support/error.h"

static jv from(arena *a, const json_t *j, int depth, bool *ok)
{
    if (depth > 64) {
        *ok = false;
        return JV_UNDEFINED;
    }
    switch (json_typeof(j)) {
    case JSON_NULL: return JV_NULL;
    case JSON_TRUE: return jv_bool(true);
    case JSON_FALSE: return jv_bool(false);
    case JSON_INTEGER: return jv_int((int64_t)json_integer_value(j));
    case JSON_REAL: return jv_float(json_real_value(j));
    case JSON_STRING: {
        jv s = jv_str(a, json_string_value(j), json_string_length(j));
        *ok = *ok && s.kind == JV_STR;
        return s;
    }
    case JSON_ARRAY: {
        jv l = jv_list(a);
        if (l.kind != JV_LIST) {
            *ok = false;
            return l;
        }
        for (size_t i = 0; i < json_array_size(j) && *ok; i++)
            *ok = jlist_push(a, l.l, from(a, json_array_get(j, i), depth + 1, ok));
        return l;
    }
    case JSON_OBJECT: {
        jv d = jv_dict(a);
        if (d.kind != JV_DICT) {
            *ok = false;
            return d;
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            jv key = jv_str(a, k, strlen(k));
            *ok = *ok && key.kind == JV_STR && jdict_set(a, d.d, key, from(a, v, depth + 1, ok));
            if (!*ok)
                break;
        }
        return d;
    }
    }
    *ok = false;
    return JV_UNDEFINED;
}

rf_status jinja_from_json(arena *a, const void *json, jv *out, rf_error *err)
{
    bool ok = true;
    *out = from(a, json, 0, &ok);
    return ok ? RF_OK : rf_fail(err, RF_E_NOMEM, "out of memory (or JSON nested deeper than 64)");
}
