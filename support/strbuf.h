/*
 * strbuf.h: a growable byte string (rendered kernel source, template
 * output, str() of values). Always NUL-terminated once anything is put;
 * running out of memory sets oom, which sticks: later puts do nothing, and
 * the owner checks once at the end. free(b.p) releases it.
 */
#ifndef RF_SUPPORT_STRBUF_H
#define RF_SUPPORT_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strbuf {
    char *p;
    size_t n, cap;
    bool oom;
} strbuf;

void strbuf_put(strbuf *b, const char *s, size_t n);
void strbuf_puts(strbuf *b, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void strbuf_printf(strbuf *b, const char *fmt, ...);

#endif
