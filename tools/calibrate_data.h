/* Calibration samples for `calibrate`, streamed one at a time: .npy files
 * (one sample, or a batch file whose first dim holds several) and JPEG/PNG
 * images preprocessed into the model's input tensor. Directories are walked
 * recursively in sorted order. Nothing but the current sample is held in
 * memory. */
#ifndef QI_TOOLS_CALIBRATE_DATA_H
#define QI_TOOLS_CALIBRATE_DATA_H

#include <stdint.h>

#include "qinfer.h"

/* Returns the status of `expr` when it is not QI_OK. */
#define CALIB_TRY(expr)                               \
  do {                                                \
    qi_status calib_try_st_ = (expr);                 \
    if (calib_try_st_ != QI_OK) return calib_try_st_; \
  } while (0)

/* Image preprocessing as given on the command line (0 = not given). */
typedef struct calib_image_opts {
  int resize;                   /* --resize N: shorter side to N */
  int resize_w, resize_h;       /* --resize WxH: exact (stretch) */
  int crop_w, crop_h;           /* --crop WxH: center crop */
  int letterbox_w, letterbox_h; /* --letterbox WxH: keep aspect, top-left */
  float pad_value;              /* letterbox fill, raw pixel units */
  int bgr;                      /* channel order B,G,R */
  float scale;                  /* x * scale, then (x - mean) / std */
  float mean[3], std[3];
  int nhwc; /* the model input is [N,H,W,3] */
} calib_image_opts;

calib_image_opts calib_image_opts_default(void);

/* The files of one model input. */
typedef struct calib_input_spec {
  const char *name;         /* model input name; NULL: the only input */
  const char *const *paths; /* files and folders, borrowed */
  int npaths;
} calib_input_spec;

typedef struct calib_data calib_data;

/* Lists the files of every spec, reads every .npy header (so shape and
 * dtype errors come before the first sample) and checks that all inputs
 * get the same number of samples. `shuffle` != 0 permutes the file order
 * with that seed. `limit` > 0 caps the sample count. */
qi_status calib_data_open(const calib_input_spec *specs, int nspecs, const qi_model *model,
                          const calib_image_opts *img, int64_t limit, unsigned shuffle,
                          calib_data **out, qi_error *err);
void calib_data_free(calib_data *d);

/* Samples that calib_data_next will deliver in all. */
int64_t calib_data_count(const calib_data *d);
/* Loads the next sample into buffers owned by `d`. *bindings gets one
 * binding per model input (model order), valid until the next call; sets
 * *bindings = NULL at the end. Rejects NaN/Inf naming the file. */
qi_status calib_data_next(calib_data *d, const qi_binding **bindings, qi_error *err);
/* Where the last sample came from ("dir/a.npy[3]"), for messages. */
const char *calib_data_origin(const calib_data *d);
/* One line describing the image preprocessing in use, or "" if no input
 * reads images. */
const char *calib_data_describe(const calib_data *d);

/* Shared helpers. */
const char *calib_dtype_name(qi_dtype dt);
size_t calib_dtype_size(qi_dtype dt);
/* "[1,3,224,224]" into buf. */
const char *calib_shape_str(const int64_t *shape, int rank, char *buf, size_t len);

#endif
