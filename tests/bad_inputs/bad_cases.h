/* The named cases of the hostile-inputs catalog that are not a file given
 * to a loader: run-time misuse of a session ("run"), NULL pointers and
 * other API misuse ("api") and calibration ("calib"). Each returns the
 * status the library gave and leaves its message in *err. */
#ifndef BAD_CASES_H
#define BAD_CASES_H

#include "qinfer.h"

/* What a case returns when it cannot run in this build (reported as
 * skipped, with its message saying why). */
#define BAD_SKIPPED ((qi_status)100)

typedef struct bad_case {
  const char *name;
  /* dir: the directory of the generated files (models used by the case). */
  qi_status (*fn)(const char *dir, qi_error *err);
} bad_case;

/* NULL when `kind` has no case `name`. */
const bad_case *bad_find_case(const char *kind, const char *name);
/* 1 when the calibration cases are compiled in (lib/calib/calibrator.c
 * exists). */
int bad_have_calibrator(void);
/* Runs scenario `scenario` of run-time misuse on the model file at `path`. */
qi_status bad_run_scenario(const char *path, const char *scenario,
                           qi_error *err);

#endif
