/*
 * import.c: GGUF → IR, the whole stage in one function.
 *
 * import_model() finds the file's architecture in the table (arch.c),
 * reads the hyperparameters every decoder shares, lets the architecture's
 * builder emit the graph, records the model-level facts the runtime needs
 * in ir_graph.model, and runs the verifier: a graph that leaves import
 * has passed ir_verify, so a verifier failure later is a pass's bug.
 *
 * It reads metadata and tensor infos only; tensor bytes stay in the
 * mapping until the runtime uploads them. Strings the graph keeps (the
 * architecture name, weight names) are copied into the graph's arena, so
 * the graph outlives the gguf_file.
 */
#include "frontend/import.h"

#include <string.h>

#include "frontend/arch.h"
#include "support/error.h"

/* tokenizer.ggml.{bos,eos}_token_id, UINT32_MAX when absent */
static rf_status special_id(arch_ctx *c, const char *key, uint32_t *id)
{
    *id = UINT32_MAX;
    return arch_opt_u32(c, key, id);
}

static void fill_model(arch_ctx *c)
{
    ir_model *m = &c->g->model;
    const arch_hparams *hp = &c->hp;
    m->arch = arena_strndup(&c->g->arena, c->arch, strlen(c->arch));
    if (!m->arch)
        arch_fail(c, RF_E_NOMEM, "out of memory");
    m->n_vocab = hp->n_vocab;
    m->n_embd = hp->n_embd;
    m->n_layer = hp->n_layer;
    m->n_ctx = hp->n_ctx_train;
    m->n_head = hp->n_head;
    m->n_head_kv = hp->n_head_kv;
    m->head_dim = hp->head_dim;
    m->rope_n_ctx_orig = hp->rope_n_ctx_orig;
    special_id(c, "tokenizer.ggml.bos_token_id", &m->bos);
    special_id(c, "tokenizer.ggml.eos_token_id", &m->eos);
}

rf_status import_model(const gguf_file *f, const import_options *opt, ir_graph **out, rf_error *err)
{
    *out = NULL;
    const char *path = gguf_path(f);
    gguf_str name;
    rf_error e = {0};
    if (gguf_get_str(f, "general.architecture", &name, &e) != RF_OK) {
        if (err)
            *err = e;
        return e.status;
    }
    const arch_def *def = arch_find(name.ptr, (size_t)name.len);
    if (!def) {
        char list[256];
        arch_list(list, sizeof list);
        int len = name.len > 64 ? 64 : (int)name.len;
        return rf_fail(err, RF_E_UNSUPPORTED, "%s: architecture '%.*s' is not supported (supported: %s)", path, len,
                       name.ptr, list);
    }

    arch_ctx c;
    memset(&c, 0, sizeof c);
    c.f = f;
    c.arch = def->name;
    if (opt)
        c.opt = *opt;
    c.err = err;
    c.g = ir_graph_new();
    if (!c.g)
        return rf_fail(err, RF_E_NOMEM, "out of memory");

    /* the verifier range-checks kv_store layers against model.n_layer, so
     * the model facts go in before the nodes */
    if (arch_load_hparams(&c, def) == RF_OK)
        fill_model(&c);
    arch_tp_whole(&c);
    uint32_t end = c.opt.layer_end ? c.opt.layer_end : c.hp.n_layer;
    bool part = c.opt.layer_begin || c.opt.layer_end;
    if (c.status == RF_OK && part && (c.opt.layer_begin >= end || end > c.hp.n_layer))
        arch_fail(&c, RF_E_ARG, "%s: layers %u..%u: the model has %u", path, c.opt.layer_begin, end, c.hp.n_layer);
    if (c.status == RF_OK && part && c.opt.tp_world > 1)
        arch_fail(&c, RF_E_UNSUPPORTED, "%s: a model split by layers and by tensor parallelism at once is not supported",
                  path);
    if (c.status == RF_OK)
        def->build(&c);
    if (c.status == RF_OK && c.opt.tp_world > 1 && c.tp.world == 1) /* a builder without a tensor-parallel form */
        arch_fail(&c, RF_E_UNSUPPORTED, "%s: tensor parallelism of %s%s is not supported", path, def->name,
                  c.g->model.embedding ? ", an embedding model," : "");
    if (c.status == RF_OK && part && c.g->model.embedding)
        arch_fail(&c, RF_E_UNSUPPORTED, "%s: an embedding model (%s) runs whole on one backend, not split by layers",
                  path, def->name);
    if (c.status == RF_OK && (c.status = ir_verify(c.g, err)) != RF_OK)
        rf_error_prefix(err, "%s: imported graph of architecture %s fails verification", path, def->name);
    if (c.status != RF_OK) {
        ir_graph_free(c.g);
        return c.status;
    }
    *out = c.g;
    return RF_OK;
}
