#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

qi_status qi_fail(qi_error *err, qi_status status, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->status = status;
  }
  return status;
}

void qi_error_prefix(qi_error *err, const char *fmt, ...) {
  if (!err) return;
  char prefix[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  char old[sizeof err->message];
  memcpy(old, err->message, sizeof old);
  /* Truncation of a long message is acceptable: the prefix matters most. */
  size_t n = strlen(prefix);
  if (n > sizeof err->message - 3) n = sizeof err->message - 3;
  memcpy(err->message, prefix, n);
  memcpy(err->message + n, ": ", 2);
  size_t room = sizeof err->message - n - 3;
  size_t m = strnlen(old, sizeof old);
  if (m > room) m = room;
  memcpy(err->message + n + 2, old, m);
  err->message[n + 2 + m] = '\0';
}

const char *qi_status_string(qi_status s) {
  switch (s) {
    case QI_OK: return "ok";
    case QI_ERR_INVALID_ARG: return "invalid argument";
    case QI_ERR_IO: return "i/o error";
    case QI_ERR_PARSE: return "parse error";
    case QI_ERR_UNSUPPORTED: return "unsupported";
    case QI_ERR_SHAPE: return "shape error";
    case QI_ERR_NOMEM: return "out of memory or beyond limits";
    case QI_ERR_DEVICE: return "device error";
    case QI_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}
