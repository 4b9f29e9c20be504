/*
 * test_grammar.c: the server's JSON recognizer (srv/grammar.c), byte by
 * byte, against hand-checked texts: what a schema accepts in full, and for
 * what it refuses, the byte where it stops, which is where sampling would
 * have masked the token. Every dead end must be refused at the byte that
 * enters it (a comma after the last property), since the loop only checks
 * that a token's bytes can be read.
 */
#include <jansson.h>
#include <string.h>

#include "srv/grammar.h"
#include "test_util.h"

/* 1: accepted and complete, 0: accepted so far, -k: refused at byte k-1 */
static int run(const gnode *g, const char *s)
{
    gstate st;
    srv_grammar_start(&st, g);
    for (const char *p = s; *p; p++)
        if (!srv_grammar_feed(&st, (unsigned char)*p))
            return -(int)(p - s) - 1;
    return srv_grammar_can_end(&st);
}

static void test_schema(void)
{
    static const char schema[] =
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"},"
        "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"bb\",3]}},\"ok\":{\"type\":\"boolean\"},"
        "\"x\":{\"type\":\"number\"},\"n\":{\"type\":\"null\"}},\"required\":[\"name\",\"age\"]}";
    static const struct {
        const char *text;
        int want;
    } cases[] = {
        {"{\"name\":\"Bo\\\"b\\u00e9\",\"age\":42}", 1},
        {"{\"age\": 4, \"name\": \"x\", \"tags\": [\"a\", 3, \"bb\"], \"ok\": true, \"x\": -1.5e3, \"n\": null}", 1},
        {"{\n  \"name\": \"x\",\n  \"age\": -0\n}", 1},
        {"{\"name\":\"x\"", 0},             /* so far so good */
        {"{\"name\":\"x\"}", -12},          /* age is required */
        {"{\"name\":\"x\",\"age\":4.5}", -20}, /* an integer */
        {"{\"nam\":1}", -6},               /* no such property */
        {"{\"name\":\"x\",\"age\":4,\"tags\":[\"c\"]}", -30}, /* not in the enum */
        {"{\"name\":\"x\",\"age\":4,}", -21},   /* a trailing comma */
        {"{\"name\":\"x\",\"name\":\"y\",\"age\":1}", -15}, /* a property twice */
        {"{\"name\":\"x\",\"age\":01}", -20},  /* JSON numbers have no leading zeros */
        {" {\"name\":\"x\",\"age\":1}", -1},   /* the reply starts with its value */
        {"{\"name\":\"x\",\"age\":1} ", -21},  /* and ends with it */
        {"{\n\n\"name\":\"x\",\"age\":1}", -3}, /* one line break a run of whitespace */
        {"{\"name\":\"x\",\"age\":1,\"tags\":[],\"ok\":false,\"x\":0,\"n\":null,", -56}, /* no key left: no comma */
    };
    char msg[256] = "";
    json_t *sc = json_loads(schema, 0, NULL);
    gnode *g = srv_grammar_compile(sc, msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = run(g, cases[i].text);
        CU_ASSERT_EQUAL(got, cases[i].want);
        if (got != cases[i].want)
            fprintf(stderr, "%s: %d, want %d\n", cases[i].text, got, cases[i].want);
    }
    srv_grammar_free(g);
    json_decref(sc);
}

static void test_json_object_and_refusals(void)
{
    gnode *o = srv_grammar_json_object();
    CU_ASSERT_EQUAL(run(o, "{}"), 1);
    CU_ASSERT_EQUAL(run(o, "{\"a\":[1,{\"b\":null},\"x\",true,false,-2.5e-3]}"), 1);
    CU_ASSERT_EQUAL(run(o, "[1]"), -1);       /* an object */
    CU_ASSERT_EQUAL(run(o, "{\"a\":tru}"), -9);
    CU_ASSERT_EQUAL(run(o, "{\"a\":\"\x01\"}"), -7); /* control characters are escaped in JSON */
    srv_grammar_free(o);
    static const char *const bad[][2] = {
        {"{\"anyOf\":[{\"type\":\"string\"}]}", "'anyOf' is not supported yet"},
        {"{\"type\":[\"string\",\"null\"]}", "type lists are not supported yet"},
        {"{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[\"b\"]}", "'required' names a property"},
        {"{\"enum\":[]}", "'enum' must be a list"},
        {"{\"type\":\"date\"}", "'type' must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char msg[256] = "";
        json_t *sc = json_loads(bad[i][0], 0, NULL);
        CU_ASSERT_PTR_NULL(srv_grammar_compile(sc, msg));
        CU_ASSERT_PTR_NOT_NULL(strstr(msg, bad[i][1]));
        if (!strstr(msg, bad[i][1]))
            fprintf(stderr, "%s: '%s'\n", bad[i][0], msg);
        json_decref(sc);
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("grammar", NULL, NULL);
    CU_add_test(s, "a schema: accepted texts, and where refused ones stop", test_schema);
    CU_add_test(s, "json_object, and schemas refused", test_json_object_and_refusals);
    return test_main();
}
