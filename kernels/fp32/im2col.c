/* im2col / col2im over a 3-D window; see im2col.h for the index map. Each
 * run of grid points along W is split once into a leading zero part, an
 * in-image part and a trailing zero part, so the copy loop has no bounds
 * checks. */
#include "fp32/im2col.h"

#include <string.h>

/* Range [*lo, *hi) of x in [0, n) with 0 <= base + x * step < limit. */
static void valid_range(int64_t base, int64_t step, int64_t limit, int64_t n,
                        int64_t *lo, int64_t *hi) {
  int64_t a = base >= 0 ? 0 : (-base + step - 1) / step;
  int64_t b = base > limit - 1 ? 0 : (limit - 1 - base) / step + 1;
  if (a > n) a = n;
  if (b > n) b = n;
  if (b < a) b = a;
  *lo = a;
  *hi = b;
}

typedef struct tap {
  int64_t c, z[3];
} tap;

static tap decode_row(const qi_f32_window *w, int64_t r) {
  int64_t ksp = w->k[0] * w->k[1] * w->k[2];
  tap t;
  t.c = r / ksp;
  int64_t rem = r % ksp;
  t.z[2] = rem % w->k[2];
  t.z[1] = (rem / w->k[2]) % w->k[1];
  t.z[0] = rem / (w->k[2] * w->k[1]);
  return t;
}

/* Walk position over the grid in raster order. */
typedef struct run_walk {
  int64_t gd, gh, gw;  /* grid position of column j */
} run_walk;

void qi_f32_im2col(const qi_f32_window *w, const float *img, int64_t row0,
                   int64_t row1, int64_t col0, int64_t col1, float *col,
                   int64_t ldcol) {
  const int64_t gw_n = w->grid[2], gh_n = w->grid[1];
  const int64_t plane = w->img[0] * w->img[1] * w->img[2];
  for (int64_t r = row0; r < row1; r++) {
    tap t = decode_row(w, r);
    const float *src_plane = img + t.c * plane;
    float *dst = col + (r - row0) * ldcol;
    int64_t j = col0;
    run_walk p = {j / (gw_n * gh_n), (j / gw_n) % gh_n, j % gw_n};
    while (j < col1) {
      int64_t run = gw_n - p.gw;
      if (run > col1 - j) run = col1 - j;
      int64_t id = p.gd * w->stride[0] - w->pad[0] + t.z[0] * w->dil[0];
      int64_t ih = p.gh * w->stride[1] - w->pad[1] + t.z[1] * w->dil[1];
      if (id < 0 || id >= w->img[0] || ih < 0 || ih >= w->img[1]) {
        memset(dst, 0, sizeof(float) * (size_t)run);
      } else {
        const float *src = src_plane + (id * w->img[1] + ih) * w->img[2];
        int64_t sw = w->stride[2];
        int64_t iw0 = p.gw * sw - w->pad[2] + t.z[2] * w->dil[2];
        int64_t lo, hi;
        valid_range(iw0, sw, w->img[2], run, &lo, &hi);
        if (lo > 0) memset(dst, 0, sizeof(float) * (size_t)lo);
        if (sw == 1) {
          if (hi > lo)
            memcpy(dst + lo, src + iw0 + lo, sizeof(float) * (size_t)(hi - lo));
        } else {
          for (int64_t x = lo; x < hi; x++) dst[x] = src[iw0 + x * sw];
        }
        if (hi < run) memset(dst + hi, 0, sizeof(float) * (size_t)(run - hi));
      }
      dst += run;
      j += run;
      p.gw = 0;
      if (++p.gh == gh_n) {
        p.gh = 0;
        p.gd++;
      }
    }
  }
}

void qi_f32_col2im_add(const qi_f32_window *w, const float *col,
                       int64_t row0, int64_t row1, int64_t col0, int64_t col1,
                       int64_t ldcol, float *img) {
  const int64_t gw_n = w->grid[2], gh_n = w->grid[1];
  const int64_t plane = w->img[0] * w->img[1] * w->img[2];
  for (int64_t r = row0; r < row1; r++) {
    tap t = decode_row(w, r);
    float *dst_plane = img + t.c * plane;
    const float *src = col + (r - row0) * ldcol;
    int64_t j = col0;
    run_walk p = {j / (gw_n * gh_n), (j / gw_n) % gh_n, j % gw_n};
    while (j < col1) {
      int64_t run = gw_n - p.gw;
      if (run > col1 - j) run = col1 - j;
      int64_t id = p.gd * w->stride[0] - w->pad[0] + t.z[0] * w->dil[0];
      int64_t ih = p.gh * w->stride[1] - w->pad[1] + t.z[1] * w->dil[1];
      if (id >= 0 && id < w->img[0] && ih >= 0 && ih < w->img[1]) {
        float *d = dst_plane + (id * w->img[1] + ih) * w->img[2];
        int64_t sw = w->stride[2];
        int64_t iw0 = p.gw * sw - w->pad[2] + t.z[2] * w->dil[2];
        int64_t lo, hi;
        valid_range(iw0, sw, w->img[2], run, &lo, &hi);
        if (sw == 1)
          for (int64_t x = lo; x < hi; x++) d[iw0 + x] += src[x];
        else
          for (int64_t x = lo; x < hi; x++) d[iw0 + x * sw] += src[x];
      }
      src += run;
      j += run;
      p.gw = 0;
      if (++p.gh == gh_n) {
        p.gh = 0;
        p.gd++;
      }
    }
  }
}
