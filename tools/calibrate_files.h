/* The calibration files of one model input: folders walked recursively in
 * sorted name order (hidden entries skipped), files kept in the order given.
 * In folders, only .npy, .jpg, .jpeg and .png files (any case) are taken; a
 * file named on the command line is told apart by its first bytes. */
#ifndef QI_TOOLS_CALIBRATE_FILES_H
#define QI_TOOLS_CALIBRATE_FILES_H

#include "qinfer.h"

typedef struct calib_file_list {
  char **paths; /* owned */
  int count, cap;
  int images; /* 1: all JPEG/PNG; 0: all .npy (mixing is refused) */
} calib_file_list;

/* Fails naming the path when one is missing or unreadable, when a folder
 * holds no usable file, or when .npy files and images are mixed. */
qi_status calib_files_collect(const char *const *paths, int npaths, calib_file_list *out,
                              qi_error *err);
/* Deterministic permutation (Fisher-Yates on a xorshift32 of `seed`). */
void calib_files_shuffle(calib_file_list *l, unsigned seed);
void calib_files_free(calib_file_list *l);

#endif
