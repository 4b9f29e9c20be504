/*
 * tok_unicode.c: UTF-8 and character classes, the way llama.cpp sees them.
 *
 * The tokenizers must classify code points exactly as llama.cpp's unicode.cpp
 * does, because the pre-tokenizer splits (and so the token ids) depend on it.
 * llama.cpp derives its tables from UnicodeData.txt: one category flag per code
 * point (Cn → "undefined", Cc/Cf/Co/Cs → control, L* letter, M* mark, N*
 * number, P* punctuation, S* symbol, Z* separator), a separate white-space set
 * (the PropList White_Space list, which includes U+0085 and the ASCII controls
 * \t..\r but not U+180E or U+200B), the simple lowercase mapping and the first
 * code point of the NFD form. We compute the same facts from libunistring
 * instead of carrying tables; the only differences are those of the Unicode
 * version each side was built from.
 *
 * UTF-8 decoding mirrors unicode_cpts_from_utf8: the length comes from the
 * lead byte's high nibble only (so overlong forms and surrogates decode as
 * they are), and a sequence that is truncated or has a bad continuation byte
 * yields U+FFFD and consumes one byte.
 *
 * The GPT-2 byte↔unicode map (bytes_to_unicode) lives here too: printable
 * Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order.
 */
#include "frontend/tok_internal.h"

#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>

size_t tok_utf8_len(unsigned char c)
{
    static const unsigned char len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[c >> 4];
}

static bool is_cont(unsigned char c) { return (c & 0xc0) == 0x80; }

uint32_t tok_utf8_next(const char *str, size_t len, size_t *i)
{
    const unsigned char *s = (const unsigned char *)str + *i;
    size_t left = len - *i;
    unsigned char c = s[0];
    if (!(c & 0x80)) {
        *i += 1;
        return c;
    }
    if ((c & 0xe0) == 0xc0 && left >= 2 && is_cont(s[1])) {
        *i += 2;
        return ((uint32_t)(c & 0x1f) << 6) | (s[1] & 0x3f);
    }
    if ((c & 0xf0) == 0xe0 && left >= 3 && is_cont(s[1]) && is_cont(s[2])) {
        *i += 3;
        return ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    }
    if ((c & 0xf8) == 0xf0 && left >= 4 && is_cont(s[1]) && is_cont(s[2]) && is_cont(s[3])) {
        *i += 4;
        return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
               ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
    }
    *i += 1;
    return 0xFFFD;
}

size_t tok_utf8_put(uint32_t cp, char *buf)
{
    unsigned char *b = (unsigned char *)buf;
    if (cp <= 0x7f) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp <= 0x7ff) {
        b[0] = (unsigned char)(0xc0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp <= 0xffff) {
        b[0] = (unsigned char)(0xe0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    if (cp <= 0x10ffff) {
        b[0] = (unsigned char)(0xf0 | (cp >> 18));
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        return 4;
    }
    return tok_utf8_put(0xFFFD, buf);
}

bool tok_cp_is_whitespace(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0d);
    switch (cp) {
    case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202f: case 0x205f: case 0x3000:
        return true;
    }
    return cp >= 0x2000 && cp <= 0x200a;
}

static uint32_t category_flag(uint32_t cp)
{
    if (cp >= 0x110000)
        return TOK_CPF_UNDEFINED;
    uint32_t m = uc_general_category(cp).bitmask;
    if (m & UC_CATEGORY_MASK_L) return TOK_CPF_LETTER;
    if (m & UC_CATEGORY_MASK_N) return TOK_CPF_NUMBER;
    if (m & UC_CATEGORY_MASK_P) return TOK_CPF_PUNCTUATION;
    if (m & UC_CATEGORY_MASK_S) return TOK_CPF_SYMBOL;
    if (m & UC_CATEGORY_MASK_M) return TOK_CPF_ACCENT_MARK;
    if (m & UC_CATEGORY_MASK_Z) return TOK_CPF_SEPARATOR;
    if (m & UC_CATEGORY_MASK_Cn) return TOK_CPF_UNDEFINED;
    if (m & UC_CATEGORY_MASK_C) return TOK_CPF_CONTROL;
    return TOK_CPF_UNDEFINED;
}

static uint32_t ascii_flag(uint32_t c)
{
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
        return TOK_CPF_LETTER;
    if (c >= '0' && c <= '9')
        return TOK_CPF_NUMBER;
    if (c < 0x20 || c == 0x7f)
        return TOK_CPF_CONTROL;
    if (c == ' ')
        return TOK_CPF_SEPARATOR;
    switch (c) {
    case '$': case '+': case '<': case '=': case '>': case '^': case '`': case '|': case '~':
        return TOK_CPF_SYMBOL;
    }
    return TOK_CPF_PUNCTUATION;
}

uint32_t tok_cp_flags(uint32_t cp)
{
    uint32_t f = cp < 128 ? ascii_flag(cp) : category_flag(cp);
    return f | (tok_cp_is_whitespace(cp) ? TOK_CPF_WHITESPACE : 0);
}

bool tok_cp_is_letter(uint32_t cp) { return tok_cp_flags(cp) & TOK_CPF_LETTER; }
bool tok_cp_is_number(uint32_t cp) { return tok_cp_flags(cp) & TOK_CPF_NUMBER; }
bool tok_cp_is_punctuation(uint32_t cp) { return tok_cp_flags(cp) & TOK_CPF_PUNCTUATION; }
bool tok_cp_is_symbol(uint32_t cp) { return tok_cp_flags(cp) & TOK_CPF_SYMBOL; }
bool tok_cp_is_control(uint32_t cp) { return tok_cp_flags(cp) & TOK_CPF_CONTROL; }
bool tok_cp_is_accent_mark(uint32_t cp) { return tok_cp_flags(cp) & TOK_CPF_ACCENT_MARK; }

uint32_t tok_cp_tolower(uint32_t cp)
{
    if (cp < 128)
        return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    if (cp >= 0x110000)
        return cp;
    return uc_tolower(cp);
}

uint32_t tok_cp_nfd_base(uint32_t cp)
{
    if (cp < 0xc0 || cp >= 0x110000)
        return cp;
    ucs4_t d[UC_DECOMPOSITION_MAX_LENGTH];
    /* the canonical decomposition is one level deep; follow the first
     * code point down to the end of the chain */
    for (int depth = 0; depth < 8; depth++) {
        if (uc_canonical_decomposition(cp, d) <= 0)
            break;
        cp = d[0];
    }
    return cp;
}

bool tok_cp_is_han(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2EBEF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* GPT-2 bytes_to_unicode: bytes that are printable Latin-1 keep their code
 * point; the rest are numbered from U+0100 in byte order. */
static bool byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

uint32_t tok_byte_to_cp(uint8_t b)
{
    if (byte_is_printable(b))
        return b;
    uint32_t n = 0;
    for (unsigned c = 0; c < b; c++)
        n += !byte_is_printable(c);
    return 256 + n;
}

int tok_cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68)
        return -1;
    uint32_t n = cp - 256;
    for (unsigned c = 0; c < 256; c++)
        if (!byte_is_printable(c) && n-- == 0)
            return (int)c;
    return -1;
}
