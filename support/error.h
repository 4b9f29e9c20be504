/*
 * error.h: filling rf_error, and the assert for broken internal invariants.
 *
 * Bad input is reported with rf_fail(), which records a status and a
 * printf-style message in a caller's rf_error (which may be NULL) and returns
 * the status, so a check reads `return rf_fail(err, RF_E_FORMAT, "...")`.
 * A broken invariant of our own is RF_ASSERT: it aborts with file:line.
 */
#ifndef RF_SUPPORT_ERROR_H
#define RF_SUPPORT_ERROR_H

#include "rocmforge/rocmforge.h"

#if defined(__GNUC__)
#define RF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RF_PRINTF(a, b)
#endif

rf_status rf_fail(rf_error *err, rf_status s, const char *fmt, ...) RF_PRINTF(3, 4);
/* Prepends "prefix: " to an error already set (no-op on NULL or RF_OK). */
void rf_error_prefix(rf_error *err, const char *fmt, ...) RF_PRINTF(2, 3);

void rf_assert_fail(const char *expr, const char *file, int line);
#define RF_ASSERT(x) ((x) ? (void)0 : rf_assert_fail(#x, __FILE__, __LINE__))

#endif
