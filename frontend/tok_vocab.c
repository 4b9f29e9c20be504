/*
 * tok_vocab.c: loading the vocabulary: tokens, special ids, flags, attributes.
 *
 * tok_vocab_load() follows the order of llama.cpp's llama_vocab::impl::load,
 * because later steps see the results of earlier ones:
 *   1. tokenizer.ggml.model picks the kind and its default special ids and
 *      flags; for BPE the pre-tokenizer name (tok_bpe_pre.c) may override
 *      flags; then tokenizer.ggml.add_space_prefix / remove_extra_whitespaces.
 *   2. tokens, scores, token types → texts and attributes; the text→id map
 *      (open addressing, FNV-1a, later duplicates win as in llama.cpp).
 *   3. the algorithm's own set-up (merges, regexes, charsmap).
 *   4. special ids from *_token_id keys (out-of-range values are ignored),
 *      add_bos/add_eos/add_sep keys, eot/eom/fim ids guessed from token
 *      texts, the "unused" and end-of-generation sets with their workarounds,
 *      and the model-name based lstrip/rstrip attributes.
 * Where llama.cpp walks its unordered token map (guessing eot/fim ids) we try
 * the candidate texts in the order listed; this only differs for
 * vocabularies holding two candidate texts for the same role. Special tokens
 * are kept sorted longest first, ties by id (the partition order; llama.cpp's
 * std::sort leaves ties unspecified).
 *
 * Encoding and decoding are in tok_codec.c.
 *
 * The vocab is immutable after loading; nothing here keeps per-call state in
 * it, so encoding and decoding may run concurrently.
 */
#include "frontend/tok_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- ids ----------------------------------------------------------------- */

rf_status tok_ids_push(tok_ids *b, int32_t id)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *p = realloc(b->ids, cap * sizeof *p);
        if (!p)
            return RF_E_NOMEM;
        b->ids = p;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
    return RF_OK;
}

void tok_ids_free(tok_ids *b)
{
    free(b->ids);
    b->ids = NULL;
    b->n = b->cap = 0;
}

/* ---- accessors ----------------------------------------------------------- */

tok_kind tok_vocab_kind(const tok_vocab *v) { return v->kind; }
uint32_t tok_vocab_n_tokens(const tok_vocab *v) { return v->n_tokens; }
int32_t tok_vocab_bos(const tok_vocab *v) { return v->bos; }
int32_t tok_vocab_eos(const tok_vocab *v) { return v->eos; }

bool tok_vocab_is_eog(const tok_vocab *v, int32_t id)
{
    for (uint32_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id)
            return true;
    return false;
}

/* ---- token → id map ------------------------------------------------------ */

uint64_t tok_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

int32_t tok_lookup(const tok_vocab *v, const char *s, size_t len)
{
    uint32_t mask = v->map_cap - 1;
    for (uint32_t i = (uint32_t)tok_hash(s, len) & mask;; i = (i + 1) & mask) {
        int32_t id = v->map[i];
        if (id < 0)
            return -1;
        const tok_token *t = &v->tokens[id];
        if (t->len == len && memcmp(t->text, s, len) == 0)
            return id;
    }
}

static void map_insert(tok_vocab *v, int32_t id)
{
    const tok_token *t = &v->tokens[id];
    uint32_t mask = v->map_cap - 1;
    for (uint32_t i = (uint32_t)tok_hash(t->text, t->len) & mask;; i = (i + 1) & mask) {
        int32_t o = v->map[i];
        if (o < 0 || (v->tokens[o].len == t->len && memcmp(v->tokens[o].text, t->text, t->len) == 0)) {
            v->map[i] = id; /* a later duplicate replaces the earlier id */
            return;
        }
    }
}

static int32_t lookup_cstr(const tok_vocab *v, const char *s) { return tok_lookup(v, s, strlen(s)); }

uint8_t tok_token_to_byte(const tok_vocab *v, int32_t id)
{
    RF_ASSERT(id >= 0 && (uint32_t)id < v->n_tokens && (v->tokens[id].attr & TOK_ATTR_BYTE));
    const tok_token *t = &v->tokens[id];
    char hex[3] = {0, 0, 0};
    if (t->len >= 5) {
        hex[0] = t->text[3];
        hex[1] = t->text[4];
    }
    return (uint8_t)strtol(hex, NULL, 16);
}

int32_t tok_byte_to_token(const tok_vocab *v, uint8_t b)
{
    if (v->kind == TOK_KIND_SPM || v->kind == TOK_KIND_UGM) {
        char buf[8];
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        int32_t id = lookup_cstr(v, buf);
        if (id >= 0)
            return id;
        char c = (char)b;
        return tok_lookup(v, &c, 1);
    }
    char buf[4];
    size_t n = tok_utf8_put(tok_byte_to_cp(b), buf);
    return tok_lookup(v, buf, n);
}

/* ---- loading ------------------------------------------------------------- */

/* Optional bool key: leaves *out alone when absent; RF_E_TYPE otherwise. */
static rf_status get_opt_bool(const gguf_file *f, const char *key, bool *out, rf_error *err)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return RF_OK;
    if (kv->type != GGUF_VT_BOOL)
        return rf_fail(err, RF_E_TYPE, "%s: expected bool, found %s", key, gguf_vtype_name(kv->type));
    *out = kv->val.u64 != 0;
    return RF_OK;
}

/* Optional integer key as a u32 (get_key<uint32_t> in llama.cpp). */
static bool get_opt_u32(const gguf_file *f, const char *key, uint32_t *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return false;
    switch (kv->type) {
    case GGUF_VT_UINT8: case GGUF_VT_UINT16: case GGUF_VT_UINT32: case GGUF_VT_UINT64:
        *out = (uint32_t)kv->val.u64;
        return true;
    case GGUF_VT_INT8: case GGUF_VT_INT16: case GGUF_VT_INT32: case GGUF_VT_INT64:
        *out = (uint32_t)kv->val.i64;
        return true;
    default:
        return false;
    }
}

static bool str_is(const tok_token *t, const char *s)
{
    size_t n = strlen(s);
    return t->len == n && memcmp(t->text, s, n) == 0;
}

static bool eog_has(const tok_vocab *v, int32_t id) { return tok_vocab_is_eog(v, id); }

/* fim pad/rep/sep, the EOG texts, eos, eot, eom: never more than this */
enum { TOK_MAX_EOG = 64 };

static void eog_add(tok_vocab *v, int32_t id)
{
    if (id >= 0 && !eog_has(v, id) && v->n_eog < TOK_MAX_EOG)
        v->eog[v->n_eog++] = id;
}

static void eog_remove(tok_vocab *v, int32_t id)
{
    for (uint32_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) {
            memmove(&v->eog[i], &v->eog[i + 1], (v->n_eog - i - 1) * sizeof *v->eog);
            v->n_eog--;
            return;
        }
}

/* Guess a special id from token texts when the metadata gave none; the token
 * becomes a control token if it was not one. Candidates are tried in list
 * order (llama.cpp takes whichever its hash map yields first). */
static void guess_special(tok_vocab *v, int32_t *id, const char *const *texts)
{
    if (*id >= 0)
        return;
    for (; *texts; texts++) {
        int32_t t = lookup_cstr(v, *texts);
        if (t >= 0) {
            *id = t;
            v->tokens[t].attr |= TOK_ATTR_CONTROL;
            return;
        }
    }
}

static const char *const EOT_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>",
    "<end_of_utterance>", NULL};
static const char *const EOM_TEXTS[] = {"<|eom_id|>", NULL};
static const char *const FIM_PRE_TEXTS[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
    "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const FIM_SUF_TEXTS[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>",
    "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const FIM_MID_TEXTS[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
    "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL};
static const char *const FIM_PAD_TEXTS[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const FIM_REP_TEXTS[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL};
static const char *const FIM_SEP_TEXTS[] = {"<|file_sep|>", NULL};
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", "[e~[", NULL};

static void set_eog(tok_vocab *v)
{
    v->n_eog = 0;
    eog_add(v, v->fim_pad);
    eog_add(v, v->fim_rep);
    eog_add(v, v->fim_sep);
    for (const char *const *e = EOG_TEXTS; *e; e++) {
        int32_t id = lookup_cstr(v, *e);
        if (id >= 0) {
            eog_add(v, id);
            v->tokens[id].attr |= TOK_ATTR_CONTROL;
        }
    }
    /* gpt-oss: always render these */
    static const char *const RENDER[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};
    for (const char *const *e = RENDER; *e; e++) {
        int32_t id = lookup_cstr(v, *e);
        if (id >= 0)
            v->tokens[id].attr = TOK_ATTR_USER_DEFINED;
    }
    eog_add(v, v->eos);
    eog_add(v, v->eot);
    eog_add(v, v->eom);

    /* o200k_harmony / solar-open: <|end|> is no end of generation there */
    bool has_return = false, has_call = false, has_flush = false;
    int32_t end_id = -1;
    for (uint32_t i = 0; i < v->n_eog; i++) {
        int32_t id = v->eog[i];
        if (id < 0 || (uint32_t)id >= v->n_tokens)
            continue;
        const tok_token *t = &v->tokens[id];
        if (str_is(t, "<|return|>")) has_return = true;
        else if (str_is(t, "<|call|>") || str_is(t, "<|calls|>")) has_call = true;
        else if (str_is(t, "<|flush|>")) has_flush = true;
        else if (str_is(t, "<|end|>")) end_id = id;
    }
    if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush))) {
        eog_remove(v, end_id);
        v->tokens[end_id].attr = TOK_ATTR_USER_DEFINED;
    }
    /* gemma4 / paddleocr: </s> is no end of generation beside <|tool_response> */
    bool has_tool_response = false;
    int32_t s_id = -1;
    for (uint32_t i = 0; i < v->n_eog; i++) {
        int32_t id = v->eog[i];
        if (id < 0 || (uint32_t)id >= v->n_tokens)
            continue;
        if (str_is(&v->tokens[id], "<|tool_response>")) has_tool_response = true;
        else if (str_is(&v->tokens[id], "</s>")) s_id = id;
    }
    if (has_tool_response && s_id >= 0) {
        eog_remove(v, s_id);
        v->tokens[s_id].attr = TOK_ATTR_NORMAL;
    }
}

static bool contains(const char *s, const char *sub) { return s && strstr(s, sub) != NULL; }

static void set_attr_by_text(tok_vocab *v, const char *text, uint32_t attr, bool on)
{
    int32_t id = lookup_cstr(v, text);
    if (id < 0)
        return;
    if (on)
        v->tokens[id].attr |= attr;
    else
        v->tokens[id].attr &= ~attr;
}

/* Per-model lstrip/rstrip attributes, keyed by names as llama.cpp does. */
static void set_model_attrs(tok_vocab *v, const gguf_file *f)
{
    const char *name = NULL, *pre = NULL, *arch = NULL;
    const gguf_kv *kv;
    char lname[256] = "";
    if ((kv = gguf_find_kv(f, "general.name")) && kv->type == GGUF_VT_STRING) {
        size_t n = kv->val.str.len < sizeof lname - 1 ? kv->val.str.len : sizeof lname - 1;
        for (size_t i = 0; i < n; i++)
            lname[i] = (char)tolower((unsigned char)kv->val.str.ptr[i]);
        lname[n] = 0;
        name = lname;
    }
    char pbuf[128] = "", abuf[128] = "";
    if ((kv = gguf_find_kv(f, "tokenizer.ggml.pre")) && kv->type == GGUF_VT_STRING) {
        snprintf(pbuf, sizeof pbuf, "%.*s", (int)(kv->val.str.len < 127 ? kv->val.str.len : 127), kv->val.str.ptr);
        pre = pbuf;
    }
    if ((kv = gguf_find_kv(f, "general.architecture")) && kv->type == GGUF_VT_STRING) {
        snprintf(abuf, sizeof abuf, "%.*s", (int)(kv->val.str.len < 127 ? kv->val.str.len : 127), kv->val.str.ptr);
        arch = abuf;
    }
    if (contains(pre, "jina-v2-de") || contains(pre, "jina-v2-es") || contains(pre, "jina-v2-code") ||
        contains(arch, "nomic-bert-moe") || contains(arch, "jina-bert-v3")) {
        set_attr_by_text(v, "<mask>", TOK_ATTR_LSTRIP, true);
    } else if (contains(name, "phi-3") || contains(name, "phi3")) {
        for (uint32_t i = 0; i < v->n_special; i++)
            v->tokens[v->special[i]].attr |= TOK_ATTR_RSTRIP;
        set_attr_by_text(v, "</s>", TOK_ATTR_RSTRIP, true);
        set_attr_by_text(v, "<unk>", TOK_ATTR_RSTRIP, false);
        set_attr_by_text(v, "<s>", TOK_ATTR_RSTRIP, false);
        set_attr_by_text(v, "<|endoftext|>", TOK_ATTR_RSTRIP, false);
    } else if (contains(name, "modern-bert")) {
        set_attr_by_text(v, "[MASK]", TOK_ATTR_LSTRIP, true);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static rf_status build_special_cache(tok_vocab *v)
{
    uint32_t n = 0;
    const uint32_t want = TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN;
    for (uint32_t i = 0; i < v->n_tokens; i++)
        n += (v->tokens[i].attr & want) != 0;
    v->special = arena_calloc(&v->arena, n ? n : 1, sizeof *v->special);
    if (!v->special)
        return RF_E_NOMEM;
    /* sort by length, longest first; ties by id (llama.cpp's std::sort leaves
     * the order of equal lengths unspecified): key = (~len, id) */
    uint64_t *keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys)
        return RF_E_NOMEM;
    v->n_special = 0;
    for (uint32_t i = 0; i < v->n_tokens; i++)
        if (v->tokens[i].attr & want)
            keys[v->n_special++] = ((uint64_t)(UINT32_MAX - v->tokens[i].len) << 32) | i;
    qsort(keys, v->n_special, sizeof *keys, cmp_u64);
    for (uint32_t i = 0; i < v->n_special; i++)
        v->special[i] = (int32_t)(uint32_t)keys[i];
    free(keys);
    return RF_OK;
}

static rf_status load_tokens(tok_vocab *v, const gguf_file *f, rf_error *err)
{
    const gguf_kv *tk = gguf_find_kv(f, "tokenizer.ggml.tokens");
    if (!tk)
        return rf_fail(err, RF_E_NOTFOUND, "tokenizer.ggml.tokens: key not found (cannot find tokenizer vocab)");
    if (tk->type != GGUF_VT_ARRAY || tk->arr_type != GGUF_VT_STRING)
        return rf_fail(err, RF_E_TYPE, "tokenizer.ggml.tokens: expected array of string");
    if (tk->arr_n == 0 || tk->arr_n > INT32_MAX / 4)
        return rf_fail(err, RF_E_FORMAT, "tokenizer.ggml.tokens: bad token count %llu",
                       (unsigned long long)tk->arr_n);
    uint32_t n = (uint32_t)tk->arr_n;

    const gguf_kv *sc = gguf_find_kv(f, "tokenizer.ggml.scores");
    if (sc) {
        if (sc->type != GGUF_VT_ARRAY || (sc->arr_type != GGUF_VT_FLOAT32 && sc->arr_type != GGUF_VT_INT32))
            return rf_fail(err, RF_E_TYPE, "tokenizer.ggml.scores: expected array of f32 or i32");
        if (sc->arr_n < n)
            return rf_fail(err, RF_E_FORMAT, "tokenizer.ggml.scores: %llu scores for %u tokens",
                           (unsigned long long)sc->arr_n, n);
    }
    const gguf_kv *tt = gguf_find_kv(f, "tokenizer.ggml.token_type");
    if (tt) {
        if (tt->type != GGUF_VT_ARRAY || tt->arr_type != GGUF_VT_INT32)
            return rf_fail(err, RF_E_TYPE, "tokenizer.ggml.token_type: expected array of i32");
        if (tt->arr_n < n)
            return rf_fail(err, RF_E_FORMAT, "tokenizer.ggml.token_type: %llu types for %u tokens",
                           (unsigned long long)tt->arr_n, n);
    }

    v->n_tokens = n;
    v->tokens = arena_alloc(&v->arena, (size_t)n * sizeof *v->tokens); /* every field set below */
    v->map_cap = 16;
    while (v->map_cap < 2ull * n)
        v->map_cap *= 2;
    v->map = arena_alloc(&v->arena, (size_t)v->map_cap * sizeof *v->map);
    if (!v->tokens || !v->map)
        return rf_fail(err, RF_E_NOMEM, "tokenizer.ggml.tokens: out of memory for %u tokens", n);
    memset(v->map, 0xff, (size_t)v->map_cap * sizeof *v->map);

    for (uint32_t i = 0; i < n; i++) {
        tok_token *t = &v->tokens[i];
        gguf_str s = tk->arr_strs[i];
        char empty[32];
        if (s.len == 0) {
            snprintf(empty, sizeof empty, "[EMPTY_%u]", i);
            s.ptr = empty;
            s.len = strlen(empty);
        }
        if (s.len > UINT32_MAX / 2)
            return rf_fail(err, RF_E_FORMAT, "tokenizer.ggml.tokens[%u]: token too long", i);
        t->text = arena_strndup(&v->arena, s.ptr, (size_t)s.len);
        if (!t->text)
            return rf_fail(err, RF_E_NOMEM, "tokenizer.ggml.tokens: out of memory");
        t->len = (uint32_t)s.len;
        if (t->len > v->max_token_len)
            v->max_token_len = t->len;
        t->score = sc ? (sc->arr_type == GGUF_VT_FLOAT32 ? (float)gguf_arr_float(sc, i)
                                                        : (float)gguf_arr_int(sc, i))
                      : 0.0f;
        t->attr = TOK_ATTR_NORMAL;
        if (tt) {
            switch (gguf_arr_int(tt, i)) {
            case TOK_TYPE_UNKNOWN: t->attr = TOK_ATTR_UNKNOWN; break;
            case TOK_TYPE_UNUSED: t->attr = TOK_ATTR_UNUSED; break;
            case TOK_TYPE_NORMAL: t->attr = TOK_ATTR_NORMAL; break;
            case TOK_TYPE_CONTROL: t->attr = TOK_ATTR_CONTROL; break;
            case TOK_TYPE_USER_DEFINED: t->attr = TOK_ATTR_USER_DEFINED; break;
            case TOK_TYPE_BYTE: t->attr = TOK_ATTR_BYTE; break;
            default: t->attr = TOK_ATTR_UNDEFINED; break;
            }
        }
        map_insert(v, (int32_t)i);
    }
    return RF_OK;
}

static rf_status load_special_ids(tok_vocab *v, const gguf_file *f, rf_error *err)
{
    static const struct { const char *key; size_t off; } keys[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(tok_vocab, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(tok_vocab, eos)},
        {"tokenizer.ggml.eot_token_id", offsetof(tok_vocab, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(tok_vocab, eom)},
        {"tokenizer.ggml.unknown_token_id", offsetof(tok_vocab, unk)},
        {"tokenizer.ggml.seperator_token_id", offsetof(tok_vocab, sep)},
        {"tokenizer.ggml.padding_token_id", offsetof(tok_vocab, pad)},
        {"tokenizer.ggml.mask_token_id", offsetof(tok_vocab, mask)},
        {"tokenizer.ggml.fim_pre_token_id", offsetof(tok_vocab, fim_pre)},
        {"tokenizer.ggml.fim_suf_token_id", offsetof(tok_vocab, fim_suf)},
        {"tokenizer.ggml.fim_mid_token_id", offsetof(tok_vocab, fim_mid)},
        {"tokenizer.ggml.fim_pad_token_id", offsetof(tok_vocab, fim_pad)},
        {"tokenizer.ggml.fim_rep_token_id", offsetof(tok_vocab, fim_rep)},
        {"tokenizer.ggml.fim_sep_token_id", offsetof(tok_vocab, fim_sep)},
        {"tokenizer.ggml.prefix_token_id", offsetof(tok_vocab, fim_pre)},
        {"tokenizer.ggml.suffix_token_id", offsetof(tok_vocab, fim_suf)},
        {"tokenizer.ggml.middle_token_id", offsetof(tok_vocab, fim_mid)},
    };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        int32_t *id = (int32_t *)((char *)v + keys[k].off);
        if (*id >= 0 && (uint32_t)*id >= v->n_tokens)
            *id = -1;
        uint32_t nid;
        if (get_opt_u32(f, keys[k].key, &nid) && nid < v->n_tokens)
            *id = (int32_t)nid;
    }
    rf_status s;
    if ((s = get_opt_bool(f, "tokenizer.ggml.add_bos_token", &v->add_bos, err)) ||
        (s = get_opt_bool(f, "tokenizer.ggml.add_eos_token", &v->add_eos, err)) ||
        (s = get_opt_bool(f, "tokenizer.ggml.add_sep_token", &v->add_sep, err)))
        return s;
    if (v->kind == TOK_KIND_BPE && tok_pre_is_gemma4(v->pre))
        v->add_bos = true; /* llama.cpp forces BOS for the gemma4 pre-tokenizer */

    guess_special(v, &v->eot, EOT_TEXTS);
    guess_special(v, &v->eom, EOM_TEXTS);
    guess_special(v, &v->fim_pre, FIM_PRE_TEXTS);
    guess_special(v, &v->fim_suf, FIM_SUF_TEXTS);
    guess_special(v, &v->fim_mid, FIM_MID_TEXTS);
    guess_special(v, &v->fim_pad, FIM_PAD_TEXTS);
    guess_special(v, &v->fim_rep, FIM_REP_TEXTS);
    guess_special(v, &v->fim_sep, FIM_SEP_TEXTS);

    /* control tokens whose text says "unused" are unused */
    for (uint32_t i = 0; i < v->n_tokens; i++) {
        tok_token *t = &v->tokens[i];
        if ((t->attr & TOK_ATTR_CONTROL) && strstr(t->text, "unused"))
            t->attr |= TOK_ATTR_UNUSED;
    }

    v->eog = arena_calloc(&v->arena, TOK_MAX_EOG, sizeof *v->eog);
    if (!v->eog)
        return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
    set_eog(v);
    return RF_OK;
}

rf_status tok_vocab_load(const gguf_file *f, tok_vocab **out, rf_error *err)
{
    *out = NULL;
    tok_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
    arena_init(&v->arena);
    rf_status s = RF_OK;
    bool inited = false;

    const gguf_kv *mk = gguf_find_kv(f, "tokenizer.ggml.model");
    if (!mk) {
        s = rf_fail(err, RF_E_NOTFOUND, "tokenizer.ggml.model: key not found");
        goto fail;
    }
    if (mk->type != GGUF_VT_STRING) {
        s = rf_fail(err, RF_E_TYPE, "tokenizer.ggml.model: expected string, found %s", gguf_vtype_name(mk->type));
        goto fail;
    }
    v->model = arena_strndup(&v->arena, mk->val.str.ptr, (size_t)mk->val.str.len);
    const gguf_kv *pk = gguf_find_kv(f, "tokenizer.ggml.pre");
    if (pk && pk->type != GGUF_VT_STRING) {
        s = rf_fail(err, RF_E_TYPE, "tokenizer.ggml.pre: expected string, found %s", gguf_vtype_name(pk->type));
        goto fail;
    }
    v->pre_name = pk ? arena_strndup(&v->arena, pk->val.str.ptr, (size_t)pk->val.str.len) : "default";
    if (!v->model || !v->pre_name) {
        s = rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
        goto fail;
    }

    /* llama.cpp's member defaults, then the model type's */
    v->bos = 1; v->eos = 2; v->unk = 0;
    v->eot = v->eom = v->sep = v->pad = v->mask = v->nl = -1;
    v->fim_pre = v->fim_suf = v->fim_mid = v->fim_pad = v->fim_rep = v->fim_sep = -1;
    v->escape_whitespaces = true;

    if (strcmp(v->model, "llama") == 0) {
        v->kind = TOK_KIND_SPM;
        v->add_space_prefix = true;
        v->clean_spaces = false;
        v->add_bos = true;
        v->add_eos = false;
    } else if (strcmp(v->model, "bert") == 0) {
        v->kind = TOK_KIND_WPM;
        v->bos = 101; v->eos = -1; v->unk = 100; v->sep = 102; v->pad = 0; v->mask = 103;
        v->add_space_prefix = false;
        v->clean_spaces = true;
        v->add_bos = true;
        v->add_eos = false;
        v->add_sep = true;
    } else if (strcmp(v->model, "gpt2") == 0 || strcmp(v->model, "gemma4") == 0) {
        v->kind = TOK_KIND_BPE;
        if (strcmp(v->model, "gpt2") == 0) {
            v->bos = 11; v->eos = 11;
        } else {
            v->bos = v->eos = -1;
            v->pre_name = "gemma4";
        }
        v->unk = -1;
        v->add_space_prefix = false;
        v->escape_whitespaces = false;
        v->clean_spaces = true;
        if (!pk && strcmp(v->model, "gpt2") == 0)
            v->pre_name = "default";
        if (!tok_bpe_pre_apply(v, v->pre_name)) {
            s = rf_fail(err, RF_E_UNSUPPORTED, "tokenizer.ggml.pre: unknown pre-tokenizer type '%s'", v->pre_name);
            goto fail;
        }
    } else if (strcmp(v->model, "t5") == 0) {
        v->kind = TOK_KIND_UGM;
        v->bos = -1; v->eos = 1; v->unk = 2; v->pad = 0;
        v->add_bos = false;
        v->add_eos = true;
    } else {
        s = rf_fail(err, RF_E_UNSUPPORTED, "tokenizer.ggml.model: unknown tokenizer '%s'", v->model);
        goto fail;
    }
    if ((s = get_opt_bool(f, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, err)) ||
        (s = get_opt_bool(f, "tokenizer.ggml.remove_extra_whitespaces", &v->remove_extra_whitespaces, err)))
        goto fail;

    if ((s = load_tokens(v, f, err)))
        goto fail;

    inited = true;
    switch (v->kind) {
    case TOK_KIND_SPM: s = tok_spm_init(v, f, err); break;
    case TOK_KIND_BPE: s = tok_bpe_init(v, f, err); break;
    case TOK_KIND_WPM: s = tok_wpm_init(v, f, err); break;
    case TOK_KIND_UGM: s = tok_ugm_init(v, f, err); break;
    }
    if (s)
        goto fail;

    if (v->kind == TOK_KIND_SPM) {
        v->nl = tok_byte_to_token(v, '\n');
        if (v->nl < 0)
            v->nl = v->pad;
    } else if (v->kind == TOK_KIND_WPM) {
        v->nl = v->pad;
    }

    if ((s = load_special_ids(v, f, err)))
        goto fail;
    if ((s = build_special_cache(v))) {
        rf_fail(err, s, "tokenizer: out of memory");
        goto fail;
    }
    set_model_attrs(v, f);

    if (v->kind != TOK_KIND_SPM && v->kind != TOK_KIND_WPM) {
        tok_ids nl = {0};
        if (tok_encode(v, "\n", 1, 0, &nl, NULL) == RF_OK)
            v->nl = nl.n ? nl.ids[0] : v->pad;
        tok_ids_free(&nl);
    }
    *out = v;
    return RF_OK;
fail:
    if (inited) {
        tok_vocab_free(v);
    } else {
        arena_free(&v->arena);
        free(v);
    }
    return s;
}

/* Each algorithm's fini runs once its init has run (even a failed one). */
void tok_vocab_free(tok_vocab *v)
{
    if (!v)
        return;
    switch (v->kind) {
    case TOK_KIND_SPM: tok_spm_fini(v); break;
    case TOK_KIND_BPE: tok_bpe_fini(v); break;
    case TOK_KIND_WPM: tok_wpm_fini(v); break;
    case TOK_KIND_UGM: tok_ugm_fini(v); break;
    }
    arena_free(&v->arena);
    free(v);
}
