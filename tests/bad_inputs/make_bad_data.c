/* The .npy and image files of the hostile-inputs catalog (tools/npy.c and
 * tools/image.c read them): each a small valid file with one thing wrong.
 * PNGs are written chunk by chunk (zlib for IDAT and CRCs) so that a CRC is
 * right where only the content should be wrong; JPEGs come from libjpeg
 * and are then patched. Part of the make_bad_models program. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* jpeglib.h needs FILE declared first. */
#include <jpeglib.h>
#include <zlib.h>

#include "bad_build.h"

void make_bad_data(const char *dir);

/* ---- .npy ---------------------------------------------------------------- */

/* A version 1.0 .npy with header dict `dict` and `data_bytes` zero bytes. */
static void npy(const char *dir, const char *name, int major, const char *dict,
                size_t data_bytes) {
  size_t hlen = strlen(dict) + 1, pre = major == 1 ? 10 : 12;
  size_t total = pre + hlen + data_bytes;
  uint8_t *b = calloc(total, 1);
  if (!b) abort();
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (uint8_t)major;
  b[8] = (uint8_t)hlen;
  b[9] = (uint8_t)(hlen >> 8);
  memcpy(b + pre, dict, hlen - 1);
  b[pre + hlen - 1] = '\n';
  bad_write(dir, name, b, total);
  free(b);
}

static void npy_files(const char *dir) {
  const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  npy(dir, "npy_ok_2x3.npy", 1, ok, 24);
  bad_write(dir, "npy_empty.npy", "", 0);
  bad_write(dir, "npy_bad_magic.npy", "\x93NUMPZ\x01\x00\x10\x00{}", 12);
  bad_write(dir, "npy_truncated_prefix.npy", "\x93NUMPY\x01", 7);
  npy(dir, "npy_version_9.npy", 9, ok, 24);
  /* header length 0xFFFF with a 60-byte file */
  uint8_t hl[60] = "\x93NUMPY\x01\x00\xff\xff";
  bad_write(dir, "npy_header_len_beyond_file.npy", hl, sizeof hl);
  npy(dir, "npy_shape_2_40_squared.npy", 1,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", 0);
  npy(dir, "npy_shape_2_41.npy", 1,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2199023255552,), }", 0);
  npy(dir, "npy_complex64.npy", 1,
      "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16);
  npy(dir, "npy_big_endian.npy", 1,
      "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8);
  npy(dir, "npy_fortran_order.npy", 1,
      "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24);
  npy(dir, "npy_data_short.npy", 1, ok, 23);
  npy(dir, "npy_rank9.npy", 1,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 2), }", 8);
  npy(dir, "npy_negative_dim.npy", 1,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }", 24);
  npy(dir, "npy_no_shape_key.npy", 1, "{'descr': '<f4', 'fortran_order': False, }", 4);
}

/* ---- PNG ----------------------------------------------------------------- */

typedef struct buf {
  uint8_t *b;
  size_t n;
} buf;

static void put(buf *o, const void *p, size_t n) {
  o->b = realloc(o->b, o->n + n);
  if (!o->b) abort();
  memcpy(o->b + o->n, p, n);
  o->n += n;
}

static void be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void chunk(buf *o, const char *type, const uint8_t *data, uint32_t n) {
  uint8_t len[4], crc[4];
  be32(len, n);
  put(o, len, 4);
  size_t start = o->n;
  put(o, type, 4);
  if (n) put(o, data, n);
  be32(crc, (uint32_t)crc32(0, o->b + start, (uInt)(n + 4)));
  put(o, crc, 4);
}

/* An 8-bit RGB PNG of w x h whose IHDR says decl_w x decl_h. */
static buf png(uint32_t w, uint32_t h, uint32_t decl_w, uint32_t decl_h) {
  buf o = {0};
  put(&o, "\x89PNG\r\n\x1a\n", 8);
  uint8_t ihdr[13] = {0};
  be32(ihdr, decl_w);
  be32(ihdr + 4, decl_h);
  ihdr[8] = 8; /* bit depth */
  ihdr[9] = 2; /* RGB */
  chunk(&o, "IHDR", ihdr, 13);
  size_t raw_n = (size_t)h * (1 + 3 * (size_t)w);
  uint8_t *raw = calloc(raw_n, 1);
  for (size_t i = 0; i < raw_n; i++) raw[i] = i % (1 + 3 * w) ? (uint8_t)(i * 7) : 0;
  uLongf zn = compressBound((uLong)raw_n);
  uint8_t *z = malloc(zn);
  if (!raw || !z || compress(z, &zn, raw, (uLong)raw_n) != Z_OK) abort();
  chunk(&o, "IDAT", z, (uint32_t)zn);
  chunk(&o, "IEND", NULL, 0);
  free(raw);
  free(z);
  return o;
}

static void png_files(const char *dir) {
  buf p = png(5, 4, 5, 4);
  bad_write(dir, "png_ok_5x4.png", p.b, p.n);
  bad_write(dir, "png_truncated_in_ihdr.png", p.b, 20);
  bad_write(dir, "png_truncated_in_idat.png", p.b, p.n - 20);
  p.b[p.n - 16] ^= 0xFF; /* inside IDAT's CRC */
  bad_write(dir, "png_idat_crc.png", p.b, p.n);
  free(p.b);
  /* Declared sizes, correct CRCs, a 5x4 image's data. */
  p = png(5, 4, 100000, 100000);
  bad_write(dir, "png_100000x100000.png", p.b, p.n);
  free(p.b);
  p = png(5, 4, 0, 4);
  bad_write(dir, "png_width_0.png", p.b, p.n);
  free(p.b);
  p = png(5, 4, 5, 400);
  bad_write(dir, "png_rows_missing.png", p.b, p.n);
  free(p.b);
  const char *text = "GIF89a: neither JPEG nor PNG";
  bad_write(dir, "image_gif_magic.png", text, strlen(text));
  bad_write(dir, "image_empty.jpg", "", 0);
}

/* ---- JPEG ---------------------------------------------------------------- */

static buf jpeg_8x8(void) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr jerr;
  c.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&c);
  unsigned char *mem = NULL;
  unsigned long n = 0;
  jpeg_mem_dest(&c, &mem, &n);
  c.image_width = 8;
  c.image_height = 8;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_start_compress(&c, TRUE);
  uint8_t row[24];
  for (int y = 0; y < 8; y++) {
    for (int i = 0; i < 24; i++) row[i] = (uint8_t)(y * 30 + i * 10);
    JSAMPROW r = row;
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  buf o = {0};
  put(&o, mem, n);
  free(mem);
  return o;
}

/* Offset of the first marker `m` (0xFF m), or 0. */
static size_t marker(const buf *j, uint8_t m) {
  for (size_t i = 2; i + 1 < j->n; i++)
    if (j->b[i] == 0xFF && j->b[i + 1] == m) return i;
  return 0;
}

static void jpeg_files(const char *dir) {
  buf j = jpeg_8x8();
  bad_write(dir, "jpeg_ok_8x8.jpg", j.b, j.n);
  bad_write(dir, "jpeg_truncated_in_header.jpg", j.b, 40);
  size_t sos = marker(&j, 0xDA);
  /* The scan cut in half: libjpeg warns and fills the rest with grey. */
  bad_write(dir, "jpeg_truncated_scan.jpg", j.b, sos + (j.n - sos) / 2);
  size_t sof = marker(&j, 0xC0);
  if (!sos || !sof) abort();
  /* SOF0: FF C0, length (2), precision (1), height (2), width (2). */
  uint8_t keep[4];
  memcpy(keep, j.b + sof + 5, 4);
  j.b[sof + 5] = 0xFD, j.b[sof + 6] = 0xE8; /* 65000 */
  j.b[sof + 7] = 0xFD, j.b[sof + 8] = 0xE8;
  bad_write(dir, "jpeg_65000x65000.jpg", j.b, j.n);
  j.b[sof + 5] = 0, j.b[sof + 6] = 0; /* height 0 */
  memcpy(j.b + sof + 7, keep + 2, 2);
  bad_write(dir, "jpeg_height_0.jpg", j.b, j.n);
  memcpy(j.b + sof + 5, keep, 4);
  j.b[sof + 9] = 4; /* 4 components, 3 described */
  bad_write(dir, "jpeg_4_components_3_described.jpg", j.b, j.n);
  free(j.b);
}

void make_bad_data(const char *dir) {
  npy_files(dir);
  png_files(dir);
  jpeg_files(dir);
}
