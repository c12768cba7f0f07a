/* Minimal test harness: each tests/unit/test_*.c is one program whose main
 * calls QT_RUN for every case and returns qt_summary(). The closing line is
 * "N passed, N failed" so CI counts it. */
#ifndef QTEST_H
#define QTEST_H

#include <stdio.h>
#include <stdlib.h>

typedef struct qt_state {
  int passed, failed, case_failed;
  const char *current;
} qt_state;

#define QT_CHECK(st, cond)                                                  \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "FAIL %s: %s:%d: %s\n", (st)->current, __FILE__,      \
              __LINE__, #cond);                                             \
      (st)->case_failed = 1;                                                \
    }                                                                       \
  } while (0)

#define QT_CHECKF(st, cond, ...)                                            \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "FAIL %s: %s:%d: %s: ", (st)->current, __FILE__,      \
              __LINE__, #cond);                                             \
      fprintf(stderr, __VA_ARGS__);                                         \
      fputc('\n', stderr);                                                  \
      (st)->case_failed = 1;                                                \
    }                                                                       \
  } while (0)

#define QT_RUN(st, fn)                                                      \
  do {                                                                      \
    (st)->current = #fn;                                                    \
    (st)->case_failed = 0;                                                  \
    fn(st);                                                                 \
    if ((st)->case_failed) (st)->failed++; else (st)->passed++;             \
    printf("%s %s\n", (st)->case_failed ? "FAIL" : "ok  ", #fn);            \
  } while (0)

static inline int qt_summary(const qt_state *st) {
  printf("%d passed, %d failed\n", st->passed, st->failed);
  return st->failed ? 1 : 0;
}

#endif
