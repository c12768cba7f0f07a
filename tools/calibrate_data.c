#include "calibrate_data.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate_files.h"
#include "calibrate_npy.h"
#include "image.h"

/* How one model input gets its tensor from an image. */
typedef struct image_plan {
  qi_preprocess pre;  /* out_w/out_h: what qi_image_to_tensor writes */
  int native_crop;    /* --crop alone: resize = the image's shorter side */
  int crop_x, crop_y; /* exact resize then center crop: offset in pre.out */
  int w, h;           /* the model's H, W */
  int nhwc;
} image_plan;

typedef struct source {
  qi_tensor_info info; /* the model input; strings owned by the model */
  calib_file_list files;
  int images;            /* 1: JPEG/PNG files; 0: .npy */
  int64_t *file_samples; /* .npy: samples in each file */
  int64_t batch;         /* images: images per sample (the input's dim 0) */
  int64_t total;
  size_t sample_bytes;
  void *buf;  /* one sample */
  float *tmp; /* images: one preprocessed image before layout/crop */
  image_plan plan;
  /* cursor */
  int file;      /* .npy: current file; images: next file */
  int64_t index; /* .npy: next sample within the current file */
  calib_npy_file npy;
} source;

struct calib_data {
  source *src;
  int nsrc;
  int64_t count, delivered;
  qi_binding *bindings;
  char origin[1024];
  char describe[512];
};

static qi_status fail(qi_error *err, qi_status st, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->status = st;
  }
  return st;
}

calib_image_opts calib_image_opts_default(void) {
  calib_image_opts o;
  memset(&o, 0, sizeof o);
  o.scale = 1.0f;
  for (int c = 0; c < 3; c++) o.std[c] = 1.0f;
  return o;
}

const char *calib_dtype_name(qi_dtype dt) {
  switch (dt) {
    case QI_FLOAT32:
      return "float32";
    case QI_UINT8:
      return "uint8";
    case QI_INT8:
      return "int8";
    case QI_INT32:
      return "int32";
    case QI_INT64:
      return "int64";
    case QI_BOOL:
      return "bool";
    case QI_FLOAT16:
      return "float16";
    case QI_FLOAT64:
      return "float64";
    default:
      return "undefined";
  }
}

size_t calib_dtype_size(qi_dtype dt) {
  switch (dt) {
    case QI_FLOAT32:
    case QI_INT32:
      return 4;
    case QI_UINT8:
    case QI_INT8:
    case QI_BOOL:
      return 1;
    case QI_INT64:
    case QI_FLOAT64:
      return 8;
    case QI_FLOAT16:
      return 2;
    default:
      return 0;
  }
}

const char *calib_shape_str(const int64_t *shape, int rank, char *buf, size_t len) {
  size_t o = 0;
  o += (size_t)snprintf(buf, len, "[");
  for (int d = 0; d < rank && o < len; d++)
    o += (size_t)snprintf(buf + o, len - o, d ? ",%lld" : "%lld", (long long)shape[d]);
  if (o < len) snprintf(buf + o, len - o, "]");
  return buf;
}

/* ---- .npy sources -------------------------------------------------------- */

/* How many samples of `in` the array `shape` holds, or -1 if it does not
 * fit: the input's own shape (1), the input without its batch-1 dim (1), or
 * N * batch rows of the input's row shape (N). */
static int64_t npy_samples(const calib_npy_file *f, const qi_tensor_info *in) {
  int r = in->rank;
  if (f->rank == r && r > 0) {
    for (int d = 1; d < r; d++)
      if (f->shape[d] != in->shape[d]) return -1;
    if (f->shape[0] == 0 || in->shape[0] < 1 || f->shape[0] % in->shape[0]) return -1;
    return f->shape[0] / in->shape[0];
  }
  if (f->rank == r - 1 && r > 0 && in->shape[0] == 1) {
    for (int d = 1; d < r; d++)
      if (f->shape[d - 1] != in->shape[d]) return -1;
    return 1;
  }
  if (f->rank == 0 && r == 0) return 1;
  return -1;
}

static qi_status open_npy_source(source *s, qi_error *err) {
  s->file_samples = calloc((size_t)s->files.count, sizeof *s->file_samples);
  if (!s->file_samples) return fail(err, QI_ERR_NOMEM, "out of memory");
  char want[160], got[160];
  calib_shape_str(s->info.shape, s->info.rank, want, sizeof want);
  for (int i = 0; i < s->files.count; i++) {
    const char *path = s->files.paths[i];
    calib_npy_file f;
    CALIB_TRY(calib_npy_open(path, &f, err));
    int64_t n = npy_samples(&f, &s->info);
    qi_dtype dt = f.dtype;
    calib_shape_str(f.shape, f.rank, got, sizeof got);
    calib_npy_close(&f);
    if (dt != s->info.dtype)
      return fail(err, QI_ERR_INVALID_ARG,
                  "%s: dtype %s, but input '%s' is %s (convert with "
                  ".astype(np.%s))",
                  path, calib_dtype_name(dt), s->info.name, calib_dtype_name(s->info.dtype),
                  calib_dtype_name(s->info.dtype));
    if (n < 1)
      return fail(err, QI_ERR_SHAPE,
                  "%s: shape %s does not fit input '%s' %s (expected that "
                  "shape, or N samples stacked along the first dim)",
                  path, got, s->info.name, want);
    s->file_samples[i] = n;
    s->total += n;
  }
  return QI_OK;
}

/* ---- image sources ------------------------------------------------------- */

static qi_status plan_images(source *s, const calib_image_opts *o, qi_error *err) {
  const qi_tensor_info *in = &s->info;
  char want[160];
  calib_shape_str(in->shape, in->rank, want, sizeof want);
  int cdim = o->nhwc ? 3 : 1;
  if (in->rank != 4 || in->dtype != QI_FLOAT32 || in->shape[cdim] != 3)
    return fail(
        err, QI_ERR_SHAPE, "input '%s' is %s %s: images need a float32 %s input%s", in->name,
        calib_dtype_name(in->dtype), want, o->nhwc ? "[N,H,W,3]" : "[N,3,H,W]",
        !o->nhwc && in->rank == 4 && in->shape[3] == 3 ? " (an NHWC model? add --nhwc)" : "");
  int64_t h = in->shape[o->nhwc ? 1 : 2], w = in->shape[o->nhwc ? 2 : 3];
  if (h > 16384 || w > 16384)
    return fail(err, QI_ERR_SHAPE, "input '%s' %s is too large for images", in->name, want);
  image_plan *p = &s->plan;
  p->w = (int)w;
  p->h = (int)h;
  p->nhwc = o->nhwc;
  p->pre.bgr = o->bgr;
  p->pre.scale = o->scale;
  p->pre.pad_value = o->pad_value;
  memcpy(p->pre.mean, o->mean, sizeof o->mean);
  memcpy(p->pre.std, o->std, sizeof o->std);
  p->pre.out_w = p->w;
  p->pre.out_h = p->h;
  /* Every option that fixes the final size must agree with the model. */
  const struct {
    const char *opt;
    int w, h;
  } sizes[] = {{"--letterbox", o->letterbox_w, o->letterbox_h},
               {"--crop", o->crop_w, o->crop_h},
               {"--resize", o->crop_w || !o->resize_w ? 0 : o->resize_w,
                o->crop_w || !o->resize_w ? 0 : o->resize_h}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    if (sizes[i].w && (sizes[i].w != p->w || sizes[i].h != p->h))
      return fail(err, QI_ERR_SHAPE,
                  "%s %dx%d gives a %dx%d (WxH) tensor, but input '%s' %s "
                  "wants %dx%d",
                  sizes[i].opt, sizes[i].w, sizes[i].h, sizes[i].w, sizes[i].h, in->name, want,
                  p->w, p->h);
  if (o->letterbox_w) {
    p->pre.mode = QI_RESIZE_LETTERBOX;
  } else if (o->resize) {
    /* The center crop must fit in the resized image whatever its aspect. */
    if (o->resize < p->w || o->resize < p->h)
      return fail(err, QI_ERR_INVALID_ARG,
                  "--resize %d is smaller than the %dx%d crop that input '%s' wants", o->resize,
                  p->w, p->h, in->name);
    p->pre.mode = QI_RESIZE_SHORTER;
    p->pre.resize = o->resize;
  } else if (o->resize_w && o->crop_w) {
    if (o->crop_w > o->resize_w || o->crop_h > o->resize_h)
      return fail(err, QI_ERR_INVALID_ARG, "--crop %dx%d is larger than --resize %dx%d", o->crop_w,
                  o->crop_h, o->resize_w, o->resize_h);
    p->pre.mode = QI_RESIZE_EXACT;
    p->pre.out_w = o->resize_w;
    p->pre.out_h = o->resize_h;
    /* Same rounding as the shorter-side crop of tools/image.c. */
    p->crop_x = (int)((float)(o->resize_w - p->w) / 2.0f + 0.5f);
    p->crop_y = (int)((float)(o->resize_h - p->h) / 2.0f + 0.5f);
  } else if (o->crop_w) {
    p->pre.mode = QI_RESIZE_SHORTER;
    p->native_crop = 1;
  } else {
    p->pre.mode = QI_RESIZE_EXACT;
  }
  s->batch = in->shape[0];
  s->total = s->batch > 0 ? s->files.count / s->batch : 0;
  s->tmp = malloc((size_t)3 * (size_t)p->pre.out_w * (size_t)p->pre.out_h * sizeof(float));
  if (!s->tmp) return fail(err, QI_ERR_NOMEM, "out of memory");
  return QI_OK;
}

static void describe_images(const calib_image_opts *o, const image_plan *p, char *buf, size_t len) {
  char size[96];
  if (o->letterbox_w)
    snprintf(size, sizeof size, "letterbox %dx%d (pad %g)", p->w, p->h, (double)o->pad_value);
  else if (o->resize)
    snprintf(size, sizeof size, "resize shorter side %d, center crop %dx%d", o->resize, p->w, p->h);
  else if (o->resize_w && o->crop_w)
    snprintf(size, sizeof size, "resize %dx%d, center crop %dx%d", o->resize_w, o->resize_h, p->w,
             p->h);
  else if (o->crop_w)
    snprintf(size, sizeof size, "center crop %dx%d (no resize)", p->w, p->h);
  else
    snprintf(size, sizeof size, "resize %dx%d (stretch)", p->w, p->h);
  snprintf(buf, len, "images: %s, %s, x*%g, mean (%g,%g,%g), std (%g,%g,%g), %s", size,
           o->bgr ? "BGR" : "RGB", (double)o->scale, (double)o->mean[0], (double)o->mean[1],
           (double)o->mean[2], (double)o->std[0], (double)o->std[1], (double)o->std[2],
           o->nhwc ? "NHWC" : "NCHW");
}

/* One image into image slot `b` of the sample buffer. */
static qi_status load_image(source *s, const char *path, int64_t b, qi_error *err) {
  qi_image img;
  CALIB_TRY(qi_image_load(path, &img, err));
  image_plan *p = &s->plan;
  qi_preprocess pre = p->pre;
  if (p->native_crop) {
    pre.resize = img.width < img.height ? img.width : img.height;
    if (img.width < p->w || img.height < p->h) {
      qi_status st = fail(err, QI_ERR_SHAPE, "%s: %dx%d image is smaller than --crop %dx%d", path,
                          img.width, img.height, p->w, p->h);
      qi_image_free(&img);
      return st;
    }
  }
  qi_image_to_tensor(&img, &pre, s->tmp);
  qi_image_free(&img);
  size_t hw = (size_t)p->w * (size_t)p->h;
  float *dst = (float *)s->buf + (size_t)b * 3 * hw;
  size_t tw = (size_t)pre.out_w, tplane = tw * (size_t)pre.out_h;
  for (int c = 0; c < 3; c++)
    for (size_t y = 0; y < (size_t)p->h; y++)
      for (size_t x = 0; x < (size_t)p->w; x++) {
        float v = s->tmp[(size_t)c * tplane + (y + (size_t)p->crop_y) * tw + x + (size_t)p->crop_x];
        if (p->nhwc)
          dst[(y * (size_t)p->w + x) * 3 + (size_t)c] = v;
        else
          dst[(size_t)c * hw + y * (size_t)p->w + x] = v;
      }
  return QI_OK;
}

/* ---- assembling samples -------------------------------------------------- */

static qi_status open_source(source *s, const calib_input_spec *spec, const calib_image_opts *img,
                             unsigned shuffle, qi_error *err) {
  CALIB_TRY(calib_files_collect(spec->paths, spec->npaths, &s->files, err));
  if (shuffle) calib_files_shuffle(&s->files, shuffle);
  size_t es = calib_dtype_size(s->info.dtype);
  uint64_t n = 1;
  for (int d = 0; d < s->info.rank; d++) {
    if (s->info.shape[d] < 0 ||
        (s->info.shape[d] && n > ((uint64_t)1 << 40) / (uint64_t)s->info.shape[d]))
      return fail(err, QI_ERR_SHAPE, "input '%s' is too large", s->info.name);
    n *= (uint64_t)s->info.shape[d];
  }
  if (!es)
    return fail(err, QI_ERR_UNSUPPORTED, "input '%s' has type %s", s->info.name,
                calib_dtype_name(s->info.dtype));
  s->sample_bytes = (size_t)n * es;
  s->buf = malloc(s->sample_bytes ? s->sample_bytes : 1);
  if (!s->buf) return fail(err, QI_ERR_NOMEM, "out of memory");
  s->images = s->files.images;
  if (s->images) {
    CALIB_TRY(plan_images(s, img, err));
    if (s->total == 0)
      return fail(err, QI_ERR_INVALID_ARG, "input '%s' takes %lld images a sample, only %d given",
                  s->info.name, (long long)s->batch, s->files.count);
    return QI_OK;
  }
  return open_npy_source(s, err);
}

static int find_input(const qi_model *m, const char *name) {
  qi_tensor_info ti;
  for (int i = 0; i < qi_model_num_inputs(m); i++)
    if (qi_model_input_info(m, i, &ti, NULL) == QI_OK && !strcmp(ti.name, name)) return i;
  return -1;
}

static qi_status check_specs(const calib_input_spec *specs, int nspecs, const qi_model *m,
                             int *order, qi_error *err) {
  int nin = qi_model_num_inputs(m);
  char names[1024] = "";
  qi_tensor_info ti;
  for (int i = 0; i < nin; i++)
    if (qi_model_input_info(m, i, &ti, NULL) == QI_OK)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", ti.name);
  if (nin < 1) return fail(err, QI_ERR_INVALID_ARG, "the model has no inputs");
  if (nspecs == 1 && !specs[0].name) {
    if (nin != 1)
      return fail(err, QI_ERR_INVALID_ARG,
                  "the model has %d inputs (%s): give --data-input NAME=DIR "
                  "for each instead of --data",
                  nin, names);
    order[0] = 0;
    return QI_OK;
  }
  for (int i = 0; i < nin; i++) order[i] = -1;
  for (int k = 0; k < nspecs; k++) {
    int i = specs[k].name ? find_input(m, specs[k].name) : -1;
    if (i < 0)
      return fail(err, QI_ERR_INVALID_ARG,
                  "--data-input %s: the model has no input of that name "
                  "(inputs: %s)",
                  specs[k].name ? specs[k].name : "(none)", names);
    if (order[i] >= 0)
      return fail(err, QI_ERR_INVALID_ARG, "--data-input %s given twice", specs[k].name);
    order[i] = k;
  }
  for (int i = 0; i < nin; i++)
    if (order[i] < 0) {
      qi_model_input_info(m, i, &ti, NULL);
      return fail(err, QI_ERR_INVALID_ARG, "no --data-input for model input '%s' (inputs: %s)",
                  ti.name, names);
    }
  return QI_OK;
}

qi_status calib_data_open(const calib_input_spec *specs, int nspecs, const qi_model *model,
                          const calib_image_opts *img, int64_t limit, unsigned shuffle,
                          calib_data **out, qi_error *err) {
  *out = NULL;
  int nin = qi_model_num_inputs(model);
  if (nspecs < 1 || nin > 4096) return fail(err, QI_ERR_INVALID_ARG, "no calibration data given");
  int *order = calloc((size_t)(nin > 0 ? nin : 1), sizeof *order);
  calib_data *d = calloc(1, sizeof *d);
  if (!order || !d) {
    free(order);
    free(d);
    return fail(err, QI_ERR_NOMEM, "out of memory");
  }
  qi_status st = check_specs(specs, nspecs, model, order, err);
  if (st == QI_OK) {
    d->src = calloc((size_t)nin, sizeof *d->src);
    d->bindings = calloc((size_t)nin, sizeof *d->bindings);
    if (!d->src || !d->bindings) st = fail(err, QI_ERR_NOMEM, "out of memory");
  }
  for (int i = 0; st == QI_OK && i < nin; i++) {
    source *s = &d->src[i];
    d->nsrc = i + 1;
    st = qi_model_input_info(model, i, &s->info, err);
    if (st == QI_OK) st = open_source(s, &specs[order[i]], img, shuffle, err);
    if (st == QI_OK && s->images && !d->describe[0])
      describe_images(img, &s->plan, d->describe, sizeof d->describe);
  }
  /* Inputs are fed in lockstep: they must hold the same number. */
  for (int i = 1; st == QI_OK && i < nin; i++)
    if (d->src[i].total != d->src[0].total)
      st = fail(err, QI_ERR_INVALID_ARG, "input '%s' has %lld samples but input '%s' has %lld",
                d->src[0].info.name, (long long)d->src[0].total, d->src[i].info.name,
                (long long)d->src[i].total);
  free(order);
  if (st != QI_OK) {
    calib_data_free(d);
    return st;
  }
  d->count = d->src[0].total;
  if (limit > 0 && limit < d->count) d->count = limit;
  *out = d;
  return QI_OK;
}

void calib_data_free(calib_data *d) {
  if (!d) return;
  for (int i = 0; i < d->nsrc; i++) {
    source *s = &d->src[i];
    calib_npy_close(&s->npy);
    calib_files_free(&s->files);
    free(s->file_samples);
    free(s->buf);
    free(s->tmp);
  }
  free(d->src);
  free(d->bindings);
  free(d);
}

int64_t calib_data_count(const calib_data *d) {
  return d ? d->count : 0;
}

const char *calib_data_origin(const calib_data *d) {
  return d ? d->origin : "";
}

const char *calib_data_describe(const calib_data *d) {
  return d ? d->describe : "";
}

static uint16_t f16_bits(const void *p, size_t k) {
  uint16_t v;
  memcpy(&v, (const uint8_t *)p + 2 * k, 2);
  return v;
}

/* Index of the first NaN/Inf element, or -1. */
static int64_t first_non_finite(const void *buf, qi_dtype dt, size_t count) {
  for (size_t k = 0; k < count; k++) {
    int bad = dt == QI_FLOAT32   ? !isfinite(((const float *)buf)[k])
              : dt == QI_FLOAT64 ? !isfinite(((const double *)buf)[k])
              : dt == QI_FLOAT16 ? (f16_bits(buf, k) & 0x7C00) == 0x7C00
                                 : 0;
    if (bad) return (int64_t)k;
  }
  return -1;
}

static qi_status next_npy(source *s, char *origin, size_t olen, qi_error *err) {
  while (s->file < s->files.count && s->index >= s->file_samples[s->file]) {
    calib_npy_close(&s->npy);
    s->file++;
    s->index = 0;
  }
  if (s->file >= s->files.count)
    return fail(err, QI_ERR_INTERNAL, "input '%s' ran out of samples", s->info.name);
  const char *path = s->files.paths[s->file];
  if (!s->npy.fp) {
    CALIB_TRY(calib_npy_open(path, &s->npy, err));
    /* The file may have changed since its header was checked. */
    if (npy_samples(&s->npy, &s->info) != s->file_samples[s->file] || s->npy.dtype != s->info.dtype)
      return fail(err, QI_ERR_IO, "%s changed during calibration", path);
  }
  if (s->file_samples[s->file] > 1)
    snprintf(origin, olen, "%s[%lld]", path, (long long)s->index);
  else
    snprintf(origin, olen, "%s", path);
  CALIB_TRY(calib_npy_read(&s->npy, path, (uint64_t)s->index * (uint64_t)s->sample_bytes, s->buf,
                           s->sample_bytes, err));
  s->index++;
  return QI_OK;
}

static qi_status next_images(source *s, char *origin, size_t olen, qi_error *err) {
  if (s->file + s->batch > s->files.count)
    return fail(err, QI_ERR_INTERNAL, "input '%s' ran out of images", s->info.name);
  snprintf(origin, olen, "%s%s", s->files.paths[s->file],
           s->batch > 1 ? " (and the next images of its batch)" : "");
  for (int64_t b = 0; b < s->batch; b++) {
    const char *path = s->files.paths[s->file++];
    CALIB_TRY(load_image(s, path, b, err));
  }
  return QI_OK;
}

qi_status calib_data_next(calib_data *d, const qi_binding **bindings, qi_error *err) {
  *bindings = NULL;
  if (d->delivered >= d->count) return QI_OK;
  for (int i = 0; i < d->nsrc; i++) {
    source *s = &d->src[i];
    char origin[sizeof d->origin];
    CALIB_TRY(s->images ? next_images(s, origin, sizeof origin, err)
                        : next_npy(s, origin, sizeof origin, err));
    size_t count = s->sample_bytes / calib_dtype_size(s->info.dtype);
    int64_t bad = first_non_finite(s->buf, s->info.dtype, count);
    if (bad >= 0)
      return fail(err, QI_ERR_INVALID_ARG, "%s: NaN or Inf at element %lld of input '%s'", origin,
                  (long long)bad, s->info.name);
    if (i == 0) snprintf(d->origin, sizeof d->origin, "%s", origin);
    qi_binding *b = &d->bindings[i];
    b->name = s->info.name;
    b->dtype = s->info.dtype;
    b->rank = s->info.rank;
    b->shape = s->info.shape;
    b->data = s->buf;
    b->size_bytes = s->sample_bytes;
  }
  d->delivered++;
  *bindings = d->bindings;
  return QI_OK;
}
