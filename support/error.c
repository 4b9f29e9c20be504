/*
 * error.c: rf_error helpers. Messages are truncated to fit rf_error.msg,
 * never overflowed.
 */
#include "support/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rf_status_name(rf_status s)
{
    switch (s) {
    case RF_OK: return "ok";
    case RF_E_IO: return "i/o error";
    case RF_E_FORMAT: return "malformed input";
    case RF_E_UNSUPPORTED: return "unsupported";
    case RF_E_NOTFOUND: return "not found";
    case RF_E_TYPE: return "wrong type";
    case RF_E_NOMEM: return "out of memory";
    case RF_E_ARG: return "bad argument";
    }
    return "unknown status";
}

rf_status rf_fail(rf_error *err, rf_status s, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = s;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

void rf_error_prefix(rf_error *err, const char *fmt, ...)
{
    if (!err || err->status == RF_OK)
        return;
    char buf[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    size_t p = n < 0 ? 0 : (size_t)n < sizeof buf - 3 ? (size_t)n : sizeof buf - 3;
    memcpy(buf + p, ": ", 2);
    p += 2;
    size_t old = strnlen(err->msg, sizeof err->msg - 1);
    if (old > sizeof buf - 1 - p)
        old = sizeof buf - 1 - p;
    memcpy(buf + p, err->msg, old);
    buf[p + old] = 0;
    memcpy(err->msg, buf, sizeof buf);
}

void rf_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "rocmforge: internal error: %s:%d: assertion '%s' failed\n", file, line, expr);
    abort();
}
