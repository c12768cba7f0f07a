/* Per-axis Resize plans (qpool/resize.h): the ONNX coordinate transform in
 * double, once per node, shared by every ISA. */
#include <math.h>

#include "qpool/resize.h"

double qi_resize_src_coord(qi_resize_coord mode, size_t i, size_t in,
                           size_t out, double scale) {
  double di = (double)i;
  switch (mode) {
    case QI_RESIZE_HALF_PIXEL:
      return (di + 0.5) / scale - 0.5;
    case QI_RESIZE_PYTORCH_HALF_PIXEL:
      return out > 1 ? (di + 0.5) / scale - 0.5 : 0.0;
    case QI_RESIZE_ALIGN_CORNERS:
      return out > 1 ? di * (double)(in - 1) / (double)(out - 1) : 0.0;
    case QI_RESIZE_ASYMMETRIC:
    default:
      return di / scale;
  }
}

static size_t clamp_index(double s, size_t in) {
  if (!(s > 0.0)) return 0; /* also NaN */
  if (s >= (double)(in - 1)) return in - 1;
  return (size_t)s;
}

void qi_resize_nearest_plan(qi_resize_coord mode,
                            qi_resize_nearest_mode nearest, size_t in,
                            size_t out, double scale, size_t *idx) {
  for (size_t i = 0; i < out; i++) {
    double s = qi_resize_src_coord(mode, i, in, out, scale);
    switch (nearest) {
      case QI_RESIZE_ROUND_PREFER_FLOOR:
        s = ceil(s - 0.5);
        break;
      case QI_RESIZE_ROUND_PREFER_CEIL:
        s = floor(s + 0.5);
        break;
      case QI_RESIZE_FLOOR:
        s = floor(s);
        break;
      case QI_RESIZE_CEIL:
      default:
        s = ceil(s);
        break;
    }
    idx[i] = clamp_index(s, in);
  }
}

void qi_resize_linear_plan(qi_resize_coord mode, size_t in, size_t out,
                           double scale, size_t *i0, size_t *i1, int32_t *w) {
  double last = (double)(in - 1);
  for (size_t i = 0; i < out; i++) {
    double s = qi_resize_src_coord(mode, i, in, out, scale);
    s = s > 0.0 ? s : 0.0; /* NaN too */
    s = s < last ? s : last;
    double f = floor(s);
    size_t a = (size_t)f;
    i0[i] = a;
    i1[i] = a + 1 < in ? a + 1 : in - 1;
    w[i] = (int32_t)rint((s - f) * (double)QI_RESIZE_WONE);
  }
}
