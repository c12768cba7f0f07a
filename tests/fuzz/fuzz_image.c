/* libFuzzer target for the image-input path of the tools (tools/image.c):
 * JPEG and PNG decoding through libjpeg and libpng, then the resize /
 * crop / normalise step into an NCHW tensor. Any bytes must give a status,
 * never a crash, a leak or a longjmp that leaves memory behind; a decoded
 * image must give finite tensor values under every preprocessing mode.
 *
 * image.c is included whole so that its decoders, which take a FILE *, can
 * read the input from memory (fmemopen) rather than from a file per run.
 * Inputs whose header declares more than FUZZ_MAX_PIXELS are skipped: a
 * few bytes of PNG or JPEG can declare 64 megapixels (the tool's own limit,
 * covered by tests/bad_inputs), and decoding those would make every such
 * run take seconds. Build and run from the repo root (tests/suites/fuzz.sh
 * does both):
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
 *     -Iinclude -Itools tests/fuzz/fuzz_image.c -ljpeg -lpng -lm
 *     -o fuzz_image
 *   mkdir -p corpus && ./fuzz_image -max_total_time=60 corpus
 *     tests/fuzz/corpus/image */
#include "image.c"

#include <math.h>

#define FUZZ_MAX_PIXELS ((size_t)1 << 20)

static void silent_emit(j_common_ptr cinfo, int level) {
  (void)cinfo;
  (void)level;
}

/* Width x height a JPEG header declares, 0 if the header does not parse. */
static size_t jpeg_declared_pixels(const uint8_t *data, size_t size) {
  struct jpeg_decompress_struct cinfo;
  jpeg_guard guard;
  cinfo.err = jpeg_std_error(&guard.mgr);
  guard.mgr.error_exit = jpeg_on_error;
  guard.mgr.emit_message = silent_emit;
  if (setjmp(guard.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return 0;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, (unsigned long)size);
  jpeg_read_header(&cinfo, TRUE);
  size_t px = (size_t)cinfo.image_width * cinfo.image_height;
  jpeg_destroy_decompress(&cinfo);
  return px;
}

/* libpng insists on IHDR as the first chunk: width and height are the
 * big-endian words at bytes 16 and 20. */
static size_t png_declared_pixels(const uint8_t *data, size_t size) {
  if (size < 24) return 0;
  size_t w = (size_t)data[16] << 24 | (size_t)data[17] << 16 |
             (size_t)data[18] << 8 | data[19];
  size_t h = (size_t)data[20] << 24 | (size_t)data[21] << 16 |
             (size_t)data[22] << 8 | data[23];
  return w * h;
}

static void check_tensor(const qi_image *img, qi_preprocess p) {
  size_t n = 3 * (size_t)p.out_w * (size_t)p.out_h;
  float *chw = malloc(n * sizeof *chw);
  if (!chw) return;
  qi_image_to_tensor(img, &p, chw);
  for (size_t i = 0; i < n; i++)
    if (!isfinite(chw[i])) __builtin_trap();
  free(chw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  int is_jpeg = data[0] == 0xFF && data[1] == 0xD8;
  size_t px = is_jpeg ? jpeg_declared_pixels(data, size)
                      : png_declared_pixels(data, size);
  if (px > FUZZ_MAX_PIXELS) return 0;
  FILE *fp = fmemopen((void *)data, size, "rb");
  if (!fp) return 0;
  qi_image img;
  memset(&img, 0, sizeof img);
  qi_error err;
  err.message[0] = '\0';
  qi_status st;
  if (is_jpeg)
    st = load_jpeg(fp, "fuzz.jpg", &img, &err);
  else if (size >= 8 && !png_sig_cmp(data, 0, 8))
    st = load_png(fp, "fuzz.png", &img, &err);
  else
    st = QI_ERR_UNSUPPORTED;
  fclose(fp);
  if (st != QI_OK) {
    if (img.rgb) __builtin_trap();
    return 0;
  }
  if (!img.rgb || img.width < 1 || img.height < 1 ||
      (size_t)img.width * (size_t)img.height > MAX_PIXELS)
    __builtin_trap();
  /* Every resize mode, odd output sizes, both channel orders; the ImageNet
   * recipe's arithmetic at a tenth of its size. */
  qi_preprocess p = qi_preprocess_imagenet();
  p.resize = 26;
  p.out_w = p.out_h = 22;
  check_tensor(&img, p);
  p = (qi_preprocess){.mode = QI_RESIZE_EXACT, .out_w = 7, .out_h = 5,
                     .bgr = 1, .scale = 1.0f, .mean = {0, 0, 0},
                     .std = {1, 1, 1}};
  check_tensor(&img, p);
  p.mode = QI_RESIZE_LETTERBOX;
  p.out_w = 9;
  p.out_h = 13;
  p.pad_value = 114.0f;
  check_tensor(&img, p);
  p.mode = QI_RESIZE_SHORTER;
  p.resize = 3;
  p.out_w = 3;
  p.out_h = 2;
  check_tensor(&img, p);
  qi_image_free(&img);
  return 0;
}
