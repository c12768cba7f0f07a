/* Image input for the tools and examples: decode JPEG/PNG (libjpeg, libpng)
 * to 8-bit RGB and turn it into a normalised NCHW float tensor with the
 * preprocessing recipes vision models are exported with. */
#ifndef QI_TOOLS_IMAGE_H
#define QI_TOOLS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "qinfer.h"

typedef struct qi_image {
  int width, height;   /* pixels; 3 channels RGB, row-major */
  uint8_t *rgb;        /* owned; free with qi_image_free */
} qi_image;

typedef enum qi_resize_mode {
  QI_RESIZE_SHORTER = 0,   /* shorter side to `resize`, then center crop */
  QI_RESIZE_EXACT = 1,     /* stretch to out_w x out_h */
  QI_RESIZE_LETTERBOX = 2  /* keep aspect, top-left, pad with pad_value */
} qi_resize_mode;

typedef struct qi_preprocess {
  qi_resize_mode mode;
  int resize;              /* QI_RESIZE_SHORTER: target of the shorter side */
  int out_w, out_h;        /* final tensor width and height */
  int bgr;                 /* 1: channel order B,G,R */
  float scale;             /* pixel * scale, before mean/std (e.g. 1/255) */
  float mean[3], std[3];   /* per output channel: (x*scale - mean) / std */
  float pad_value;         /* letterbox fill, in raw pixel units (e.g. 114) */
} qi_preprocess;

/* Decodes a JPEG or PNG file (told apart by magic bytes). Images over 64
 * megapixels are refused. */
qi_status qi_image_load(const char *path, qi_image *img, qi_error *err);
void qi_image_free(qi_image *img);
/* Writes 3 * out_h * out_w floats (CHW) into `chw`. */
void qi_image_to_tensor(const qi_image *img, const qi_preprocess *p,
                        float *chw);
/* ImageNet recipe: shorter side 256, crop 224, /255, mean/std. */
qi_preprocess qi_preprocess_imagenet(void);

#endif
