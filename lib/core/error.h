/* Error reporting helpers shared by all of lib/. */
#ifndef QI_CORE_ERROR_H
#define QI_CORE_ERROR_H

#include "qinfer.h"

/* Writes a formatted message into `err` (if non-NULL) and returns `status`,
 * so that failures read `return qi_fail(err, QI_ERR_PARSE, "...", ...);`. */
qi_status qi_fail(qi_error *err, qi_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to an existing message, for callers that add where. */
void qi_error_prefix(qi_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define QI_TRY(expr)                  \
  do {                                \
    qi_status qi_try_s_ = (expr);     \
    if (qi_try_s_ != QI_OK) return qi_try_s_; \
  } while (0)

#endif
