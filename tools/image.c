#include "image.h"

#include <stdio.h>
/* jpeglib.h needs FILE declared first. */
#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PIXELS ((size_t)64 << 20)

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

typedef struct jpeg_guard {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX];
} jpeg_guard;

/* libjpeg reports fatal errors through a callback that must not return. */
static void jpeg_on_error(j_common_ptr cinfo) {
  jpeg_guard *g = (jpeg_guard *)cinfo->err;
  g->mgr.format_message(cinfo, g->msg);
  longjmp(g->jump, 1);
}

static qi_status load_jpeg(FILE *fp, const char *path, qi_image *img,
                           qi_error *err) {
  struct jpeg_decompress_struct cinfo;
  jpeg_guard guard;
  /* volatile: modified between setjmp and longjmp. */
  uint8_t *volatile rgb = NULL;
  cinfo.err = jpeg_std_error(&guard.mgr);
  guard.mgr.error_exit = jpeg_on_error;
  if (setjmp(guard.jump)) {
    jpeg_destroy_decompress(&cinfo);
    free(rgb);
    return fail(err, QI_ERR_PARSE, "%s: JPEG error: %s", path, guard.msg);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, fp);
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  size_t w = cinfo.output_width, h = cinfo.output_height;
  if (!w || !h || w * h > MAX_PIXELS || cinfo.output_components != 3) {
    jpeg_destroy_decompress(&cinfo);
    return fail(err, QI_ERR_UNSUPPORTED, "%s: %zux%zu JPEG not supported", path, w, h);
  }
  rgb = malloc(w * h * 3);
  if (!rgb) {
    jpeg_destroy_decompress(&cinfo);
    return fail(err, QI_ERR_NOMEM, "%s: out of memory", path);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = rgb + (size_t)cinfo.output_scanline * w * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  img->width = (int)w;
  img->height = (int)h;
  img->rgb = rgb;
  return QI_OK;
}

static qi_status load_png(FILE *fp, const char *path, qi_image *img,
                          qi_error *err) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  uint8_t *volatile rgb = NULL;
  png_bytep *volatile rows = NULL;
  if (!png || !info) {
    png_destroy_read_struct(&png, &info, NULL);
    return fail(err, QI_ERR_NOMEM, "%s: out of memory", path);
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    free(rgb);
    free(rows);
    return fail(err, QI_ERR_PARSE, "%s: malformed PNG", path);
  }
  png_init_io(png, fp);
  png_read_info(png, info);
  size_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  if (!w || !h || w * h > MAX_PIXELS) {
    png_destroy_read_struct(&png, &info, NULL);
    return fail(err, QI_ERR_UNSUPPORTED, "%s: %zux%zu PNG not supported", path, w, h);
  }
  /* Normalise every PNG flavour to 8-bit RGB. */
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_palette_to_rgb(png);
  png_set_expand_gray_1_2_4_to_8(png);
  png_set_gray_to_rgb(png);
  png_read_update_info(png, info);
  rgb = malloc(w * h * 3);
  rows = malloc(sizeof(png_bytep) * h);
  if (!rgb || !rows || png_get_rowbytes(png, info) != w * 3) {
    png_destroy_read_struct(&png, &info, NULL);
    free(rgb);
    free(rows);
    return fail(err, QI_ERR_UNSUPPORTED, "%s: PNG layout not supported", path);
  }
  for (size_t y = 0; y < h; y++) rows[y] = rgb + y * w * 3;
  png_read_image(png, rows);
  png_destroy_read_struct(&png, &info, NULL);
  free(rows);
  img->width = (int)w;
  img->height = (int)h;
  img->rgb = rgb;
  return QI_OK;
}

qi_status qi_image_load(const char *path, qi_image *img, qi_error *err) {
  memset(img, 0, sizeof *img);
  FILE *fp = fopen(path, "rb");
  if (!fp) return fail(err, QI_ERR_IO, "cannot open '%s'", path);
  uint8_t magic[8] = {0};
  size_t got = fread(magic, 1, 8, fp);
  rewind(fp);
  qi_status st;
  if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8)
    st = load_jpeg(fp, path, img, err);
  else if (got == 8 && !png_sig_cmp(magic, 0, 8))
    st = load_png(fp, path, img, err);
  else
    st = fail(err, QI_ERR_UNSUPPORTED, "%s: neither JPEG nor PNG", path);
  fclose(fp);
  return st;
}

void qi_image_free(qi_image *img) {
  if (!img) return;
  free(img->rgb);
  img->rgb = NULL;
}

qi_preprocess qi_preprocess_imagenet(void) {
  qi_preprocess p = {.mode = QI_RESIZE_SHORTER, .resize = 256, .out_w = 224,
                     .out_h = 224, .bgr = 0, .scale = 1.0f / 255.0f,
                     .mean = {0.485f, 0.456f, 0.406f},
                     .std = {0.229f, 0.224f, 0.225f}};
  return p;
}

/* Bilinear sample with half-pixel centres (as PIL and OpenCV resize). */
static float sample(const qi_image *img, float sx, float sy, int c) {
  float fx = sx - 0.5f, fy = sy - 0.5f;
  if (fx < 0) fx = 0;
  if (fy < 0) fy = 0;
  int x0 = (int)fx, y0 = (int)fy;
  if (x0 > img->width - 1) x0 = img->width - 1;
  if (y0 > img->height - 1) y0 = img->height - 1;
  int x1 = x0 + 1 < img->width ? x0 + 1 : x0;
  int y1 = y0 + 1 < img->height ? y0 + 1 : y0;
  float ax = fx - (float)x0, ay = fy - (float)y0;
  if (ax > 1) ax = 1;
  if (ay > 1) ay = 1;
  const uint8_t *p = img->rgb;
  size_t w = (size_t)img->width;
  float v00 = p[((size_t)y0 * w + (size_t)x0) * 3 + (size_t)c];
  float v01 = p[((size_t)y0 * w + (size_t)x1) * 3 + (size_t)c];
  float v10 = p[((size_t)y1 * w + (size_t)x0) * 3 + (size_t)c];
  float v11 = p[((size_t)y1 * w + (size_t)x1) * 3 + (size_t)c];
  return (v00 * (1 - ax) + v01 * ax) * (1 - ay) + (v10 * (1 - ax) + v11 * ax) * ay;
}

void qi_image_to_tensor(const qi_image *img, const qi_preprocess *p, float *chw) {
  /* Map output pixel (x, y) to source coordinates: ratio rx, offset ox. */
  float rx, ry, ox = 0, oy = 0;
  int valid_w = p->out_w, valid_h = p->out_h;
  if (p->mode == QI_RESIZE_SHORTER) {
    int shorter = img->width < img->height ? img->width : img->height;
    float r = (float)shorter / (float)p->resize;
    rx = ry = r;
    float rw = (float)img->width / r, rh = (float)img->height / r;
    ox = (float)(int)((rw - (float)p->out_w) / 2.0f + 0.5f) * r;
    oy = (float)(int)((rh - (float)p->out_h) / 2.0f + 0.5f) * r;
  } else if (p->mode == QI_RESIZE_EXACT) {
    rx = (float)img->width / (float)p->out_w;
    ry = (float)img->height / (float)p->out_h;
  } else {
    float r = (float)img->width / (float)p->out_w;
    if ((float)img->height / (float)p->out_h > r) r = (float)img->height / (float)p->out_h;
    rx = ry = r;
    valid_w = (int)((float)img->width / r + 0.5f);
    valid_h = (int)((float)img->height / r + 0.5f);
  }
  size_t plane = (size_t)p->out_w * (size_t)p->out_h;
  for (int c = 0; c < 3; c++) {
    int src_c = p->bgr ? 2 - c : c;
    float *dst = chw + (size_t)c * plane;
    for (int y = 0; y < p->out_h; y++)
      for (int x = 0; x < p->out_w; x++) {
        float v = p->pad_value;
        if (x < valid_w && y < valid_h)
          v = sample(img, ox + ((float)x + 0.5f) * rx, oy + ((float)y + 0.5f) * ry, src_c);
        dst[(size_t)y * (size_t)p->out_w + (size_t)x] = (v * p->scale - p->mean[c]) / p->std[c];
      }
  }
}
