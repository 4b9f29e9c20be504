/*
 * pipeline.c: the pass table and the driver that runs it.
 *
 * The whole compiler middle end reads in this one function: each pass in
 * order, unless disabled, then the verifier; print the graph after the
 * passes the user asked to see.
 */
#include <string.h>

#include "ir/passes/passes.h"
#include "support/error.h"

static const ir_pass pass_table[] = {
    {"dce", ir_pass_dce, false},
    {"fold", ir_pass_fold, false},
    {"fuse-qkv", ir_pass_fuse_qkv, false},
    {"fuse-norm", ir_pass_fuse_norm, false},
    {"fuse-epilogue", ir_pass_fuse_epilogue, false},
    {"fuse-rope-kv", ir_pass_fuse_rope_kv, false},
    {"fuse-moe", ir_pass_fuse_moe, false},
    {"group", ir_pass_group, true},
    {"schedule", ir_pass_schedule, true},
    {"memplan", ir_pass_memplan, true},
};

const ir_pass *ir_passes(size_t *n)
{
    *n = sizeof pass_table / sizeof pass_table[0];
    return pass_table;
}

/* is name in the comma-separated list? */
static bool in_list(const char *list, const char *name)
{
    if (!list)
        return false;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if ((len == n && !memcmp(p, name, n)) || (len == 3 && !memcmp(p, "all", 3)))
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

/* every name in list must be a pass (or "all" where allowed) */
static rf_status check_names(const char *list, const char *option, bool allow_all, rf_error *err)
{
    if (!list)
        return RF_OK;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bool ok = allow_all && len == 3 && !memcmp(p, "all", 3);
        for (size_t i = 0; !ok && i < sizeof pass_table / sizeof pass_table[0]; i++)
            ok = strlen(pass_table[i].name) == len && !memcmp(pass_table[i].name, p, len);
        if (!ok) {
            char known[256] = "";
            for (size_t i = 0; i < sizeof pass_table / sizeof pass_table[0]; i++) {
                strcat(known, i ? ", " : "");
                strcat(known, pass_table[i].name);
            }
            return rf_fail(err, RF_E_ARG, "%s: unknown pass '%.*s' (passes: %s)", option, (int)len, p, known);
        }
        if (!e)
            break;
        p = e + 1;
    }
    return RF_OK;
}

rf_status ir_run_pipeline(ir_graph *g, const ir_pipeline_options *opt, rf_error *err)
{
    ir_pipeline_options o = opt ? *opt : (ir_pipeline_options){0};
    rf_status s;
    if ((s = check_names(o.print_after, "--print-after", true, err)) != RF_OK ||
        (s = check_names(o.disable, "--disable-pass", false, err)) != RF_OK)
        return s;
    g->plan_tokens = o.max_tokens > 0 ? o.max_tokens : 512;
    g->plan_out = o.max_out > 0 && o.max_out < g->plan_tokens ? o.max_out : g->plan_tokens;
    if ((s = ir_verify(g, err)) != RF_OK) {
        rf_error_prefix(err, "IR from import");
        return s;
    }
    for (size_t i = 0; i < sizeof pass_table / sizeof pass_table[0]; i++) {
        const ir_pass *p = &pass_table[i];
        if (in_list(o.disable, p->name)) {
            if (p->required)
                return rf_fail(err, RF_E_ARG, "--disable-pass: pass '%s' is required", p->name);
            continue;
        }
        if ((s = p->run(g, err)) != RF_OK) {
            rf_error_prefix(err, "pass %s", p->name);
            return s;
        }
        /* a fusion pass may leave a group's nodes apart (a bias add between
         * Q and K); re-schedule so every pass hands on contiguous groups and
         * the verifier and printer always see a well-formed graph */
        if (g->n_groups && (s = ir_pass_schedule(g, err)) != RF_OK) {
            rf_error_prefix(err, "scheduling after pass %s", p->name);
            return s;
        }
        if ((s = ir_verify(g, err)) != RF_OK) {
            rf_error_prefix(err, "IR after pass %s does not verify", p->name);
            return s;
        }
        if (in_list(o.print_after, p->name)) {
            FILE *out = o.print_to ? o.print_to : stdout;
            fprintf(out, "# after %s\n", p->name);
            ir_print(g, out);
        }
    }
    return RF_OK;
}
