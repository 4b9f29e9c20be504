/*
 * tok_bpe_pre.c: the BPE pre-tokenizers: which regexes a tokenizer.ggml.pre
 * name means, and splitting text into words with them exactly as llama.cpp's
 * unicode_regex_split does.
 *
 * The tables below are llama.cpp's: names → LLAMA_VOCAB_PRE_TYPE_* (with the
 * flags each name overrides in llama_vocab::impl::load), and each type's list
 * of regexes. The regexes are applied in turn, each one re-splitting the words
 * the previous ones produced. A regex llama.cpp has a hand-written splitter
 * for (GPT-2, Llama 3, Qwen2, Qwen3.5, Kimi-K2, AFMoE digits, newline runs) is
 * executed by our port of that splitter, recognised by the same exact pattern
 * text. Every other regex ran through std::regex there, in one of two forms
 * we reproduce with PCRE2:
 *   - A pattern using \p{L}/\p{N}/\p{P}/\p{S}/\p{M} (or \p{Lu}...) runs on a
 *     "collapsed" text of one byte per code point: ASCII stays itself,
 *     white space becomes \v, a letter 0xD2, a number 0xD1, punctuation 0xD3,
 *     a mark 0xD4, a symbol 0xD5, anything else 0xD0; each \p{X} in the
 *     pattern becomes a class of that byte plus X's ASCII members. We compile
 *     the rewritten pattern in PCRE2's byte mode.
 *   - Any other pattern runs over the code points with non-ASCII white space
 *     replaced by \v (std::wregex's \s is ASCII-only); we compile it in UTF
 *     mode without UCP, so \s, \d stay ASCII as in ECMAScript.
 * '$' matches only at the end (PCRE2_DOLLAR_ENDONLY, as in ECMAScript), and
 * empty matches advance the way std::regex_iterator does.
 */
#include "frontend/tok_internal.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

enum {
    F_IGNORE_MERGES = 1u << 0,
    F_ADD_BOS = 1u << 1,
    F_ADD_SEP = 1u << 2,
    F_ESCAPE_WS = 1u << 3,
    F_NO_CLEAN = 1u << 4,
    F_NO_BOS_ID = 1u << 5,
};

/* llama.cpp's LLAMA_VOCAB_PRE_TYPE_* numbering */
enum tok_pre_type {
    PRE_DEFAULT = 0,
    PRE_LLAMA3 = 1,
    PRE_DEEPSEEK_LLM = 2,
    PRE_DEEPSEEK_CODER = 3,
    PRE_FALCON = 4,
    PRE_MPT = 5,
    PRE_STARCODER = 6,
    PRE_GPT2 = 7,
    PRE_REFACT = 8,
    PRE_COMMAND_R = 9,
    PRE_STABLELM2 = 10,
    PRE_QWEN2 = 11,
    PRE_OLMO = 12,
    PRE_DBRX = 13,
    PRE_SMAUG = 14,
    PRE_PORO = 15,
    PRE_CHATGLM3 = 16,
    PRE_CHATGLM4 = 17,
    PRE_VIKING = 18,
    PRE_JAIS = 19,
    PRE_TEKKEN = 20,
    PRE_SMOLLM = 21,
    PRE_CODESHELL = 22,
    PRE_BLOOM = 23,
    PRE_GPT3_FINNISH = 24,
    PRE_EXAONE = 25,
    PRE_CHAMELEON = 26,
    PRE_MINERVA = 27,
    PRE_DEEPSEEK3_LLM = 28,
    PRE_GPT4O = 29,
    PRE_SUPERBPE = 30,
    PRE_TRILLION = 31,
    PRE_BAILINGMOE = 32,
    PRE_LLAMA4 = 33,
    PRE_PIXTRAL = 34,
    PRE_SEED_CODER = 35,
    PRE_HUNYUAN = 36,
    PRE_KIMI_K2 = 37,
    PRE_HUNYUAN_DENSE = 38,
    PRE_GROK_2 = 39,
    PRE_GRANITE_DOCLING = 40,
    PRE_MINIMAX_M2 = 41,
    PRE_AFMOE = 42,
    PRE_SOLAR_OPEN = 43,
    PRE_YOUTU = 44,
    PRE_EXAONE_MOE = 45,
    PRE_QWEN35 = 46,
    PRE_TINY_AYA = 47,
    PRE_JOYAI_LLM = 48,
    PRE_JAIS2 = 49,
    PRE_GEMMA4 = 50,
    PRE_SARVAM_MOE = 51,
    PRE_MINICPM5 = 52,
    PRE_WHITESPACE = 53,
    PRE_GRANITE_EMB_MULTI = 54,
    PRE_MELLUM2 = 55,
    PRE_LAGUNA = 56,
    PRE_HY_V4 = 57,
    PRE_SPARK2_5 = 58,
    PRE_UFAKZEKA = 59,
};

/* tokenizer.ggml.pre names and the flags each one overrides */
static const struct pre_name {
    const char *name;
    int pre;
    unsigned flags;
} PRE_NAMES[] = {
    {"default", PRE_DEFAULT, 0},
    {"minicpm5", PRE_MINICPM5, F_IGNORE_MERGES},
    {"llama3", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"llama-v3", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"llama-bpe", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"falcon3", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"falcon-h1", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"pixtral", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"midm-2.0", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"lfm2", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"jina-v5-nano", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"deepseek-llm", PRE_DEEPSEEK_LLM, F_NO_CLEAN},
    {"deepseek-coder", PRE_DEEPSEEK_CODER, F_NO_CLEAN},
    {"deepseek-v3", PRE_DEEPSEEK3_LLM, F_NO_CLEAN},
    {"spark2_5", PRE_SPARK2_5, F_NO_CLEAN},
    {"youtu", PRE_YOUTU, F_NO_CLEAN | F_IGNORE_MERGES},
    {"falcon", PRE_FALCON, 0},
    {"mpt", PRE_MPT, 0},
    {"starcoder", PRE_STARCODER, 0},
    {"gpt-2", PRE_GPT2, 0},
    {"phi-2", PRE_GPT2, 0},
    {"jina-es", PRE_GPT2, 0},
    {"jina-de", PRE_GPT2, 0},
    {"gigachat", PRE_GPT2, 0},
    {"jina-v2-es", PRE_GPT2, 0},
    {"jina-v2-de", PRE_GPT2, 0},
    {"a.x-4.0", PRE_GPT2, 0},
    {"mellum", PRE_GPT2, 0},
    {"modern-bert", PRE_GPT2, 0},
    {"jais-2", PRE_JAIS2, 0},
    {"gemma4", PRE_GEMMA4, F_ESCAPE_WS},
    {"granite-embed-multi-311m", PRE_GEMMA4, F_ESCAPE_WS},
    {"sarvam-moe", PRE_SARVAM_MOE, F_ESCAPE_WS | F_NO_CLEAN},
    {"jina-v1-en", PRE_GPT2, F_ADD_SEP},
    {"jina-v2-code", PRE_GPT2, F_ADD_SEP},
    {"roberta-bpe", PRE_GPT2, F_ADD_SEP},
    {"whitespace", PRE_WHITESPACE, 0},
    {"refact", PRE_REFACT, 0},
    {"command-r", PRE_COMMAND_R, F_NO_CLEAN},
    {"qwen2", PRE_QWEN2, F_NO_CLEAN},
    {"deepseek-r1-qwen", PRE_QWEN2, F_NO_CLEAN},
    {"kormo", PRE_QWEN2, F_NO_CLEAN},
    {"f2llmv2", PRE_QWEN2, F_NO_CLEAN},
    {"qwen35", PRE_QWEN35, F_NO_CLEAN},
    {"stablelm2", PRE_STABLELM2, 0},
    {"olmo", PRE_OLMO, 0},
    {"dbrx", PRE_DBRX, 0},
    {"smaug-bpe", PRE_SMAUG, 0},
    {"poro-chat", PRE_PORO, F_NO_CLEAN},
    {"glm4", PRE_CHATGLM4, F_NO_BOS_ID},
    {"chatglm-bpe", PRE_CHATGLM4, F_NO_BOS_ID},
    {"viking", PRE_VIKING, F_NO_CLEAN},
    {"jais", PRE_JAIS, 0},
    {"tekken", PRE_TEKKEN, F_NO_CLEAN | F_IGNORE_MERGES | F_ADD_BOS},
    {"smollm", PRE_SMOLLM, F_NO_CLEAN},
    {"codeshell", PRE_CODESHELL, 0},
    {"bloom", PRE_BLOOM, 0},
    {"gpt3-finnish", PRE_GPT3_FINNISH, 0},
    {"exaone", PRE_EXAONE, 0},
    {"exaone4", PRE_GPT2, 0},
    {"exaone-moe", PRE_EXAONE_MOE, 0},
    {"chameleon", PRE_CHAMELEON, F_ADD_BOS | F_NO_CLEAN},
    {"minerva-7b", PRE_MINERVA, 0},
    {"megrez", PRE_QWEN2, 0},
    {"gpt-4o", PRE_GPT4O, F_NO_CLEAN},
    {"llama4", PRE_GPT4O, F_NO_CLEAN},
    {"kanana2", PRE_GPT4O, F_NO_CLEAN},
    {"talkie", PRE_GPT4O, F_NO_CLEAN},
    {"granite-embed-multi-97m", PRE_GRANITE_EMB_MULTI, F_NO_CLEAN | F_IGNORE_MERGES},
    {"tiny_aya", PRE_TINY_AYA, F_NO_CLEAN},
    {"cohere2moe", PRE_TINY_AYA, F_NO_CLEAN},
    {"superbpe", PRE_SUPERBPE, F_NO_CLEAN},
    {"trillion", PRE_TRILLION, F_NO_CLEAN},
    {"granite-docling", PRE_GRANITE_DOCLING, F_NO_CLEAN},
    {"bailingmoe", PRE_BAILINGMOE, F_NO_CLEAN},
    {"bailingmoe2", PRE_BAILINGMOE, F_NO_CLEAN},
    {"llada-moe", PRE_BAILINGMOE, F_NO_CLEAN},
    {"seed-coder", PRE_SEED_CODER, F_NO_CLEAN},
    {"hunyuan", PRE_HUNYUAN, F_NO_CLEAN},
    {"hunyuan-dense", PRE_HUNYUAN_DENSE, F_NO_CLEAN},
    {"hy_v4", PRE_HY_V4, F_NO_CLEAN},
    {"joyai-llm", PRE_JOYAI_LLM, F_NO_CLEAN},
    {"kimi-k2", PRE_KIMI_K2, F_NO_CLEAN},
    {"ufakzeka", PRE_UFAKZEKA, F_NO_CLEAN},
    {"grok-2", PRE_GROK_2, F_NO_CLEAN},
    {"afmoe", PRE_AFMOE, F_NO_CLEAN},
    {"laguna", PRE_LAGUNA, F_NO_CLEAN},
    {"minimax-m2", PRE_MINIMAX_M2, F_NO_CLEAN},
    {"solar-open", PRE_SOLAR_OPEN, F_NO_CLEAN},
    {"mellum2", PRE_MELLUM2, 0},
};

/* the regexes of each pre-tokenizer type, applied in order (PRE_DEFAULT
 * last: it also serves the types without an entry) */
static const struct pre_regexes {
    int pre[9];          /* terminated by -1 */
    bool byte_encode;
    const char *rx[7];   /* terminated by NULL */
} PRE_REGEXES[] = {
    {{PRE_LLAMA3, -1}, true, {
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_JAIS2, -1}, true, {
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
        NULL}},
    {{PRE_DBRX, PRE_SMAUG, -1}, true, {
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_DEEPSEEK_LLM, -1}, true, {
        "[\r\n]",
        "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
        "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
        "\\s+$",
        "[一-龥ࠀ-一가-퟿]+",
        "\\p{N}+",
        NULL}},
    {{PRE_DEEPSEEK3_LLM, PRE_HUNYUAN_DENSE, PRE_JOYAI_LLM, PRE_HY_V4, -1}, true, {
        "\\p{N}{1,3}",
        "[一-龥぀-ゟ゠-ヿ]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_SPARK2_5, -1}, true, {
        "\\p{N}{1,3}",
        "[一-龥぀-ゟ゠-ヿ]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
        "\\p{N}",
        NULL}},
    {{PRE_YOUTU, -1}, true, {
        "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_DEEPSEEK_CODER, -1}, true, {
        "[\r\n]",
        "\\s?\\p{L}+",
        "\\s?\\p{P}+",
        "[一-龥ࠀ-一가-퟿]+",
        "\\p{N}",
        NULL}},
    {{PRE_FALCON, -1}, true, {
        "[\\p{P}\\$\\+<=>\\^~\\|`]+",
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        "[0-9][0-9][0-9]",
        NULL}},
    {{PRE_STARCODER, PRE_REFACT, PRE_COMMAND_R, PRE_SMOLLM, PRE_CODESHELL, PRE_EXAONE, PRE_MINERVA, PRE_MELLUM2, -1}, true, {
        "\\p{N}",
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        NULL}},
    {{PRE_GPT2, PRE_MPT, PRE_OLMO, PRE_JAIS, PRE_TRILLION, PRE_GRANITE_DOCLING, -1}, true, {
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        NULL}},
    {{PRE_STABLELM2, PRE_QWEN2, PRE_HUNYUAN, PRE_SOLAR_OPEN, -1}, true, {
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_QWEN35, -1}, true, {
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_PORO, PRE_BLOOM, PRE_GPT3_FINNISH, -1}, true, {
        " ?[^(\\s|.,!?…。，、।۔،)]+",
        NULL}},
    {{PRE_CHATGLM4, -1}, true, {
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_VIKING, -1}, true, {
        " ?[^(\\s|.,!?…。，、।۔،)]+",
        "\\p{N}",
        NULL}},
    {{PRE_TEKKEN, -1}, true, {
        "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_CHAMELEON, -1}, true, {
        "<sentinel:[0-9]+>",
        "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
        "([\\t\\n]|    |  )",
        "\\p{N}",
        "[\\p{P}!-/:-@\\[-`{-~]",
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        NULL}},
    {{PRE_GPT4O, PRE_MINIMAX_M2, -1}, true, {
        "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_GRANITE_EMB_MULTI, -1}, true, {
        "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_TINY_AYA, -1}, true, {
        "\\d{1,3}(?=(?:\\d{3})*\\b)",
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_KIMI_K2, -1}, true, {
        "\\p{Han}+",
        NULL}},
    {{PRE_SUPERBPE, -1}, true, {
        "\\p{N}+",
        "(?=(\\d{3})+(?!\\d))",
        NULL}},
    {{PRE_BAILINGMOE, -1}, true, {
        "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_SEED_CODER, -1}, true, {
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_UFAKZEKA, -1}, true, {
        "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_GROK_2, -1}, true, {
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_AFMOE, -1}, true, {
        "\\p{AFMoE_digits}",
        "[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_LAGUNA, -1}, true, {
        "[^\\n]+|[\\n]+",
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_EXAONE_MOE, -1}, true, {
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_GEMMA4, -1}, false, {
        "[^\\n]+|[\\n]+",
        NULL}},
    {{PRE_SARVAM_MOE, -1}, false, {
        "[^\\n]+|[\\n]+",
        NULL}},
    {{PRE_MINICPM5, -1}, true, {
        "\\p{N}{1,3}",
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL}},
    {{PRE_WHITESPACE, -1}, false, {
        "\\S+",
        NULL}},
    {{PRE_DEFAULT, -1}, true, {
        "[\\p{P}\\$\\+<=>\\^~\\|]+",
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        "\\p{N}+",
        "[0-9][0-9][0-9]",
        NULL}},
};

bool tok_bpe_pre_apply(tok_vocab *v, const char *name)
{
    for (size_t i = 0; i < sizeof PRE_NAMES / sizeof PRE_NAMES[0]; i++) {
        const struct pre_name *p = &PRE_NAMES[i];
        if (strcmp(p->name, name) != 0)
            continue;
        v->pre = p->pre;
        if (p->flags & F_IGNORE_MERGES) v->ignore_merges = true;
        if (p->flags & F_ADD_BOS) v->add_bos = true;
        if (p->flags & F_ADD_SEP) v->add_sep = true;
        if (p->flags & F_ESCAPE_WS) v->escape_whitespaces = true;
        if (p->flags & F_NO_CLEAN) v->clean_spaces = false;
        if (p->flags & F_NO_BOS_ID) v->bos = -1;
        return true;
    }
    return false;
}

bool tok_pre_is_gemma4(tok_pre pre) { return pre == PRE_GEMMA4; }

/* ---- compiled pre-tokenizer ---------------------------------------------- */

typedef struct pre_step {
    enum tok_split_kind custom; /* 0: a regex */
    bool collapsed;             /* runs on the collapsed text */
    pcre2_code *code;
} pre_step;

struct tok_pretok {
    const char *name;           /* a regex of the set, for messages */
    bool byte_encode;
    bool need_collapse;
    size_t n_steps;
    pre_step steps[7];
};

static const struct { const char *rx; enum tok_split_kind kind; } CUSTOM[] = {
    {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", TOK_SPLIT_GPT2},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     TOK_SPLIT_LLAMA3},
    {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     TOK_SPLIT_LLAMA3},
    {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     TOK_SPLIT_QWEN2},
    {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     TOK_SPLIT_QWEN35},
    {"\\p{Han}+", TOK_SPLIT_KIMI_K2},
    {"\\p{AFMoE_digits}", TOK_SPLIT_AFMOE},
    {"[^\\n]+|[\\n]+", TOK_SPLIT_NEWLINES},
    {"\\d{1,3}(?=(?:\\d{3})*\\b)", TOK_SPLIT_AFMOE},
};

/* \p{X} names replaced in collapsed patterns: the collapsed byte and the
 * ASCII members of the class */
static const struct { const char *name; char byte; const char *ascii; } UCAT[] = {
    {"\\p{N}", '\xD1', "0-9"},
    {"\\p{L}", '\xD2', "A-Za-z"},
    {"\\p{P}", '\xD3', "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"},
    {"\\p{M}", '\xD4', ""},
    {"\\p{S}", '\xD5', "\\$\\+<->^`\\|\\~"},
    {"\\p{Lu}", '\xD2', "A-Za-z"},
    {"\\p{Ll}", '\xD2', "A-Za-z"},
    {"\\p{Lt}", '\xD2', "A-Za-z"},
    {"\\p{Lm}", '\xD2', "A-Za-z"},
    {"\\p{Lo}", '\xD2', "A-Za-z"},
};
enum { N_UCAT = sizeof UCAT / sizeof UCAT[0] };

static bool uses_categories(const char *rx)
{
    for (size_t i = 0; i < N_UCAT; i++)
        if (strstr(rx, UCAT[i].name))
            return true;
    return false;
}

/* The collapsed form of a pattern (llama.cpp's rewrite, bracket tracking
 * included); malloc'd, NULL when out of memory. */
static char *collapse_regex(const char *rx)
{
    size_t len = strlen(rx);
    char *out = malloc(len * 24 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    bool inside = false;
    for (size_t i = 0; i < len; i++) {
        if (rx[i] == '[' && (i == 0 || rx[i - 1] != '\\')) {
            out[o++] = '[';
            inside = true;
            continue;
        }
        if (inside && rx[i] == ']' && rx[i - 1] != '\\') {
            out[o++] = ']';
            inside = false;
            continue;
        }
        if (rx[i] == '\\' && i + 3 < len && rx[i + 1] == 'p' && rx[i + 2] == '{') {
            const char *close = strchr(rx + i + 3, '}');
            if (close && (size_t)(close - rx) <= i + 10) {
                size_t plen = (size_t)(close - rx) - i + 1;
                size_t k;
                for (k = 0; k < N_UCAT; k++)
                    if (strlen(UCAT[k].name) == plen && memcmp(UCAT[k].name, rx + i, plen) == 0)
                        break;
                if (k < N_UCAT) {
                    if (!inside)
                        out[o++] = '[';
                    out[o++] = UCAT[k].byte;
                    size_t al = strlen(UCAT[k].ascii);
                    memcpy(out + o, UCAT[k].ascii, al);
                    o += al;
                    if (!inside)
                        out[o++] = ']';
                    i += plen - 1;
                    continue;
                }
            }
        }
        out[o++] = rx[i];
    }
    out[o] = 0;
    return out;
}

void tok_pretok_free(tok_pretok *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_steps; i++)
        pcre2_code_free(p->steps[i].code);
    free(p);
}

bool tok_pretok_byte_encode(const tok_pretok *p) { return p->byte_encode; }

rf_status tok_pretok_new(tok_pre pre, tok_pretok **out, rf_error *err)
{
    const struct pre_regexes *set = NULL, *dflt = NULL;
    for (size_t i = 0; i < sizeof PRE_REGEXES / sizeof PRE_REGEXES[0]; i++)
        for (const int *q = PRE_REGEXES[i].pre; *q >= 0; q++) {
            if (*q == pre && !set)
                set = &PRE_REGEXES[i];
            if (*q == PRE_DEFAULT)
                dflt = &PRE_REGEXES[i];
        }
    if (!set)
        set = dflt;
    tok_pretok *p = calloc(1, sizeof *p);
    if (!p)
        return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
    p->byte_encode = set->byte_encode;
    p->name = set->rx[0];
    for (const char *const *rx = set->rx; *rx; rx++) {
        pre_step *st = &p->steps[p->n_steps++];
        for (size_t k = 0; k < sizeof CUSTOM / sizeof CUSTOM[0]; k++)
            if (strcmp(CUSTOM[k].rx, *rx) == 0)
                st->custom = CUSTOM[k].kind;
        if (st->custom)
            continue;
        char *pat = NULL;
        uint32_t opts = PCRE2_DOLLAR_ENDONLY;
        if (uses_categories(*rx)) {
            for (const unsigned char *c = (const unsigned char *)*rx; *c; c++)
                if (*c >= 0x80) {
                    tok_pretok_free(p);
                    return rf_fail(err, RF_E_UNSUPPORTED, "tokenizer.ggml.pre: regex '%s' mixes unicode "
                                   "categories and non-ASCII characters", *rx);
                }
            pat = collapse_regex(*rx);
            st->collapsed = true;
            p->need_collapse = true;
        } else {
            pat = malloc(strlen(*rx) + 1);
            if (pat)
                strcpy(pat, *rx);
            opts |= PCRE2_UTF | PCRE2_NO_UTF_CHECK;
        }
        if (!pat) {
            tok_pretok_free(p);
            return rf_fail(err, RF_E_NOMEM, "tokenizer: out of memory");
        }
        int ec;
        PCRE2_SIZE eo;
        st->code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &ec, &eo, NULL);
        free(pat);
        if (!st->code) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            tok_pretok_free(p);
            return rf_fail(err, RF_E_UNSUPPORTED, "tokenizer.ggml.pre: regex '%s' does not compile at %zu: %s",
                           *rx, (size_t)eo, (const char *)msg);
        }
        pcre2_jit_compile(st->code, PCRE2_JIT_COMPLETE);
    }
    *out = p;
    return RF_OK;
}

/* Run one regex over each run like std::regex_iterator; subject units are
 * bytes of subj, unit_of[] maps a unit offset to a code point index (NULL:
 * one unit per code point). */
static bool regex_split(const pre_step *st, const char *subj, const size_t *cp_byte, const size_t *in,
                        size_t n_in, tok_sizes *out)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(st->code, NULL);
    if (!md)
        return false;
    bool ok = true;
    size_t start = 0;
    for (size_t r = 0; r < n_in && ok; r++) {
        size_t cs = start, ce = start + in[r];
        start = ce;
        size_t b0 = cp_byte ? cp_byte[cs] : cs, b1 = cp_byte ? cp_byte[ce] : ce;
        const char *s = subj + b0;
        size_t slen = b1 - b0, pos = 0, last = 0; /* last: code points consumed */
        bool retry_nonempty = false;
        while (pos <= slen) {
            uint32_t mo = retry_nonempty ? (PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED) : 0;
            int rc = pcre2_match(st->code, (PCRE2_SPTR)s, slen, pos, mo | (cp_byte ? PCRE2_NO_UTF_CHECK : 0), md,
                                 NULL);
            if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
                rc = pcre2_match(st->code, (PCRE2_SPTR)s, slen, pos,
                                 mo | PCRE2_NO_JIT | (cp_byte ? PCRE2_NO_UTF_CHECK : 0), md, NULL);
            if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
                ok = false; /* a resource limit: report rather than mis-split */
                break;
            }
            if (rc < 0) {
                if (!retry_nonempty || pos >= slen)
                    break;
                retry_nonempty = false;
                pos += cp_byte ? tok_utf8_len((unsigned char)s[pos]) : 1;
                continue;
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t ms = ov[0], me = ov[1], mcs = ms, mce = me;
            if (cp_byte) { /* byte offsets → code point offsets within the run */
                size_t lo = cs, hi = ce;
                while (lo < hi) { size_t m = (lo + hi) / 2; if (cp_byte[m] - b0 < ms) lo = m + 1; else hi = m; }
                mcs = lo - cs;
                hi = ce;
                while (lo < hi) { size_t m = (lo + hi) / 2; if (cp_byte[m] - b0 < me) lo = m + 1; else hi = m; }
                mce = lo - cs;
            }
            if (mcs > last)
                ok = ok && tok_sizes_push(out, mcs - last);
            ok = ok && tok_sizes_push(out, mce - mcs);
            last = mce;
            pos = me;
            retry_nonempty = ms == me;
        }
        if (last < in[r])
            ok = ok && tok_sizes_push(out, in[r] - last);
    }
    pcre2_match_data_free(md);
    return ok;
}

static char collapse_cp(uint32_t cp, uint16_t fl)
{
    if (cp < 128)
        return (char)cp;
    if (fl & TOK_CPF_WHITESPACE)
        return 0x0B;
    switch (fl & TOK_CPF_CATEGORIES) {
    case TOK_CPF_NUMBER: return '\xD1';
    case TOK_CPF_LETTER: return '\xD2';
    case TOK_CPF_PUNCTUATION: return '\xD3';
    case TOK_CPF_ACCENT_MARK: return '\xD4';
    case TOK_CPF_SYMBOL: return '\xD5';
    }
    return '\xD0';
}

rf_status tok_pretok_split(const tok_pretok *p, const uint32_t *cpts, size_t n, size_t **lens,
                           size_t *n_lens, rf_error *err)
{
    tok_sizes a = {0}, b = {0};
    uint16_t *flags = malloc((n + 1) * sizeof *flags);
    char *collapsed = NULL, *wide = NULL;
    size_t *cp_byte = NULL;
    bool ok = flags && tok_sizes_push(&a, n);
    for (size_t i = 0; ok && i < n; i++)
        flags[i] = (uint16_t)tok_cp_flags(cpts[i]);
    for (size_t s = 0; ok && s < p->n_steps; s++) {
        const pre_step *st = &p->steps[s];
        b.n = 0;
        if (st->custom) {
            ok = tok_split_custom(st->custom, cpts, flags, a.v, a.n, &b);
        } else if (st->collapsed) {
            if (!collapsed) {
                collapsed = malloc(n + 1);
                if (!(ok = collapsed != NULL))
                    break;
                for (size_t i = 0; i < n; i++)
                    collapsed[i] = collapse_cp(cpts[i], flags[i]);
            }
            ok = regex_split(st, collapsed, NULL, a.v, a.n, &b);
        } else {
            if (!wide) {
                wide = malloc(4 * n + 1);
                cp_byte = malloc((n + 1) * sizeof *cp_byte);
                if (!(ok = wide && cp_byte))
                    break;
                size_t o = 0;
                for (size_t i = 0; i < n; i++) {
                    uint32_t c = cpts[i];
                    if (c > 0x7f && (flags[i] & TOK_CPF_WHITESPACE))
                        c = 0x0B;
                    if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                        c = 0xFFFD;
                    cp_byte[i] = o;
                    o += tok_utf8_put(c, wide + o);
                }
                cp_byte[n] = o;
            }
            ok = regex_split(st, wide, cp_byte, a.v, a.n, &b);
        }
        tok_sizes t = a;
        a = b;
        b = t;
    }
    free(flags);
    free(collapsed);
    free(wide);
    free(cp_byte);
    free(b.v);
    if (!ok) {
        free(a.v);
        return rf_fail(err, RF_E_NOMEM, "tokenize: pre-tokenizer '%s' ran out of memory or "
                       "match resources on a text of %zu code points", p->name, n);
    }
    *lens = a.v;
    *n_lens = a.n;
    return RF_OK;
}
