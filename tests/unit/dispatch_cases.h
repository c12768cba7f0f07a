/*
 * The QINFER_ISA rule (qi_isa_choose) as a kernel family's dispatcher
 * applies it, for families whose configs have `isa` and `kernel_isa` and
 * whose best table on an AVX-512 VNNI CPU runs AVX2 kernels (qelt, qattn).
 * Macros, because each family has its own config type and functions.
 */
#ifndef TEST_DISPATCH_CASES_H
#define TEST_DISPATCH_CASES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "qtest.h"

/* choose(features, QINFER_ISA value, &cfg, &err): no override picks the
 * best the CPU has; "scalar" is always allowed; an ISA the CPU lacks fails
 * naming it, leaving the best config; an unknown name fails too. */
#define DISPATCH_CHOOSE_CHECKS(st, cfg_t, choose)                              \
  do {                                                                         \
    qi_cpu_features none_, all_;                                               \
    memset(&none_, 0, sizeof none_);                                           \
    memset(&all_, 1, sizeof all_);                                             \
    const cfg_t *cfg_ = NULL;                                                  \
    qi_error err_ = {0};                                                       \
    QT_CHECK(st, choose(&none_, NULL, &cfg_, &err_) == QI_OK);                 \
    QT_CHECK(st, cfg_ && cfg_->isa == QI_ISA_SCALAR);                          \
    QT_CHECK(st, choose(&all_, "scalar", &cfg_, &err_) == QI_OK);              \
    QT_CHECK(st, cfg_ && cfg_->kernel_isa == QI_ISA_SCALAR);                   \
    QT_CHECK(st, choose(&none_, "avx2", &cfg_, &err_) == QI_ERR_UNSUPPORTED);  \
    QT_CHECK(st, cfg_ && cfg_->isa == QI_ISA_SCALAR);                          \
    QT_CHECK(st, strstr(err_.message, "avx2") != NULL);                        \
    QT_CHECK(st, choose(&all_, "sse9", &cfg_, &err_) == QI_ERR_INVALID_ARG);   \
    QT_CHECK(st, cfg_ && cfg_->isa == QI_ISA_AVX512VNNI &&                     \
                     cfg_->kernel_isa == QI_ISA_AVX2);                         \
  } while (0)

/* dflt(&cfg, &err) under QINFER_ISA=scalar gives a config for which
 * `scalar_ok` (an expression over `cfg`) holds; unset, the best ISA of
 * this CPU. The caller's QINFER_ISA is restored. */
#define DISPATCH_DEFAULT_CHECKS(st, cfg_t, dflt, scalar_ok)                    \
  do {                                                                         \
    const cfg_t *cfg = NULL;                                                   \
    qi_error err_ = {0};                                                       \
    const char *saved_ = getenv("QINFER_ISA");                                 \
    char saved_copy_[64] = "";                                                 \
    if (saved_) snprintf(saved_copy_, sizeof saved_copy_, "%s", saved_);       \
    setenv("QINFER_ISA", "scalar", 1);                                         \
    QT_CHECK(st, dflt(&cfg, &err_) == QI_OK);                                  \
    QT_CHECK(st, cfg && (scalar_ok));                                          \
    unsetenv("QINFER_ISA");                                                    \
    QT_CHECK(st, dflt(&cfg, &err_) == QI_OK);                                  \
    QT_CHECK(st, cfg && cfg->isa == qi_cpu_features_best(qi_cpu_features_get())); \
    if (saved_)                                                                \
      setenv("QINFER_ISA", saved_copy_, 1);                                    \
    else                                                                       \
      unsetenv("QINFER_ISA");                                                  \
  } while (0)

#endif
