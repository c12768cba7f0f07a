/* A bar chart as an RGB PNG (libpng), for the per-layer error of --report:
 * one bar per layer, gridlines with numeric labels drawn from a 3x5 digit
 * font, an optional budget line. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"

#define PLOT_H 260
#define MARGIN_L 34
#define MARGIN_R 10
#define MARGIN_T 10
#define MARGIN_B 10
#define FONT_SCALE 2

typedef struct canvas {
  int w, h;
  uint8_t *px; /* RGB rows */
} canvas;

static void put(canvas *c, int x, int y, const uint8_t rgb[3]) {
  if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
  memcpy(c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3, rgb, 3);
}

static void rect(canvas *c, int x0, int y0, int x1, int y1, const uint8_t rgb[3]) {
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) put(c, x, y, rgb);
}

/* Rows of '0'..'9' and '-', 3 bits each, most significant = left. */
static const uint8_t font[11][5] = {{7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7},
                                    {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1}, {7, 4, 7, 1, 7},
                                    {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7},
                                    {7, 5, 7, 1, 7}, {0, 0, 7, 0, 0}};

static void text(canvas *c, int x, int y, const char *s, const uint8_t rgb[3]) {
  for (; *s; s++, x += 4 * FONT_SCALE) {
    int g = *s == '-' ? 10 : *s >= '0' && *s <= '9' ? *s - '0' : -1;
    if (g < 0) continue;
    for (int r = 0; r < 5; r++)
      for (int b = 0; b < 3; b++)
        if (font[g][r] >> (2 - b) & 1)
          rect(c, x + b * FONT_SCALE, y + r * FONT_SCALE, x + (b + 1) * FONT_SCALE,
               y + (r + 1) * FONT_SCALE, rgb);
  }
}

static qi_status write_png(const char *path, const canvas *c, qi_error *err) {
  FILE *fp = fopen(path, "wb");
  if (!fp) {
    err->status = QI_ERR_IO;
    snprintf(err->message, sizeof err->message, "cannot create '%s'", path);
    return QI_ERR_IO;
  }
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  png_bytep *volatile rows = NULL;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(fp);
    err->status = QI_ERR_IO;
    snprintf(err->message, sizeof err->message, "cannot write PNG '%s'", path);
    return QI_ERR_IO;
  }
  rows = malloc(sizeof(png_bytep) * (size_t)c->h);
  if (!rows) png_error(png, "out of memory");
  for (int y = 0; y < c->h; y++) rows[y] = c->px + (size_t)y * (size_t)c->w * 3;
  png_init_io(png, fp);
  png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  free(rows);
  if (fclose(fp) != 0) {
    err->status = QI_ERR_IO;
    snprintf(err->message, sizeof err->message, "write error on '%s'", path);
    return QI_ERR_IO;
  }
  return QI_OK;
}

qi_status calib_png_bars(const char *path, const double *values, const int *classes, int n,
                         double vmax, double grid, double label0, double line, qi_error *err) {
  static const uint8_t white[3] = {255, 255, 255}, gridc[3] = {220, 220, 220},
                       ink[3] = {60, 60, 60}, orange[3] = {240, 140, 0},
                       colors[3][3] = {{50, 100, 200}, {210, 50, 50}, {160, 160, 160}};
  int barw = n > 0 ? 1200 / n : 8;
  if (barw > 24) barw = 24;
  if (barw < 2) barw = 2;
  canvas c;
  c.w = MARGIN_L + (n > 0 ? n : 1) * barw + MARGIN_R;
  c.h = MARGIN_T + PLOT_H + MARGIN_B;
  c.px = malloc((size_t)c.w * (size_t)c.h * 3);
  if (!c.px) {
    err->status = QI_ERR_NOMEM;
    snprintf(err->message, sizeof err->message, "out of memory");
    return QI_ERR_NOMEM;
  }
  rect(&c, 0, 0, c.w, c.h, white);
  int base = MARGIN_T + PLOT_H;
  for (int k = 0; grid > 0 && k * grid <= vmax + 1e-9; k++) {
    int y = base - (int)(k * grid / vmax * PLOT_H + 0.5);
    rect(&c, MARGIN_L, y, c.w - MARGIN_R, y + 1, gridc);
    char lab[16];
    snprintf(lab, sizeof lab, "%d", (int)(label0 - k * grid));
    text(&c, 2, y - 5 * FONT_SCALE / 2, lab, ink);
  }
  for (int i = 0; i < n; i++) {
    double v = values[i] < 0 ? 0 : values[i] > vmax ? vmax : values[i];
    int hgt = (int)(v / vmax * PLOT_H + 0.5);
    int x0 = MARGIN_L + i * barw;
    int cls = classes[i] >= 0 && classes[i] < 3 ? classes[i] : 2;
    rect(&c, x0, base - hgt, x0 + barw - (barw > 3), base, colors[cls]);
  }
  rect(&c, MARGIN_L, base, c.w - MARGIN_R, base + 1, ink);
  if (line >= 0 && line <= vmax) {
    int y = base - (int)(line / vmax * PLOT_H + 0.5);
    rect(&c, MARGIN_L, y, c.w - MARGIN_R, y + 2, orange);
  }
  qi_status st = write_png(path, &c, err);
  free(c.px);
  return st;
}
