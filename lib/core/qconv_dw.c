/* The depthwise path of the convolution driver. A task is a run of output
 * pixels of one output row: it writes the run's indirection pointers (the
 * input pixel under each tap, or the packed row of za for a tap in the
 * padding) into its thread's scratch and calls the depthwise microkernel,
 * which reads the caller's tensor in place whatever the stride, dilation
 * and padding.
 *
 * Taps are ordered column by column (t = kx * kh + ky; the weights are
 * packed in that order), so without dilation across columns the pointers
 * are written once per input column (kh each) and shared: pixel i's taps
 * start stride_w columns after pixel i-1's (kernel step stride_w * kh).
 * That is (run - 1) * stride_w + kw columns per run instead of run * kw:
 * 3x fewer pointers for 3x3, 7x fewer for 7x7. With dilation across
 * columns every pixel gets its own kh * kw pointers (step = taps). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/qconv_internal.h"

enum { DW_TASKS_PER_THREAD = 4, DW_MAX_POINTERS = 4096 };

qi_status qi_qconv_pack_dw(qi_qconv_packed *w, const int8_t *wts,
                        const int32_t *bias, const float *mult,
                        qi_error *err) {
  const qi_dwconv_config *cfg = w->dw_cfg;
  const size_t c = (size_t)w->p.c_in, kh = (size_t)w->p.kh;
  const size_t kw = (size_t)w->p.kw, taps = kh * kw;
  if (taps > QI_U8S8_DWCONV_MAX_TAPS)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "qconv pack: depthwise kernel of %zu taps (at most %d)",
                   taps, QI_U8S8_DWCONV_MAX_TAPS);
  size_t wbytes = qconv_round(
      qi_u8s8_dwconv_packed_bytes(c, taps, (size_t)cfg->w_bytes), QCONV_ALIGN);
  w->buf = aligned_alloc(QCONV_ALIGN, wbytes + qconv_round(c, QCONV_ALIGN));
  int8_t *cols = malloc(c * taps);
  if (!w->buf || !cols) {
    free(cols);
    return qi_fail(err, QI_ERR_NOMEM, "qconv pack: out of memory");
  }
  /* ONNX [c][1][kh][kw] to the column order [c][kx][ky]. */
  for (size_t ch = 0; ch < c; ch++)
    for (size_t ky = 0; ky < kh; ky++)
      for (size_t kx = 0; kx < kw; kx++)
        cols[ch * taps + kx * kh + ky] = wts[ch * taps + ky * kw + kx];
  int64_t bad = cfg->pack(c, taps, cols, bias, w->p.za, mult, w->buf);
  free(cols);
  if (bad >= 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "qconv pack: output channel %lld: bias and weights can "
                   "overflow the int32 accumulator",
                   (long long)bad);
  uint8_t *zero_row = (uint8_t *)w->buf + wbytes;
  memset(zero_row, (int)w->p.za, c);
  w->dw_weights = w->buf;
  w->zero_row = zero_row;
  return QI_OK;
}

typedef struct dw_plan {
  size_t taps, rows, chunks, cw;
  int shared;         /* pointers per column, shared by neighbours */
  size_t slice_bytes; /* per thread */
} dw_plan;

static size_t dw_pointers(const qi_u8s8_conv_params *p, int shared,
                          size_t run) {
  return shared ? ((run - 1) * (size_t)p->stride_w + (size_t)p->kw) *
                      (size_t)p->kh
                : run * (size_t)(p->kh * p->kw);
}

/* Tasks are output rows, split into runs of cw pixels when there are few
 * rows for the threads or a run's pointers would pass DW_MAX_POINTERS. */
static void plan_dw(const qi_qconv_packed *w, int nthreads, dw_plan *pl) {
  const qi_u8s8_conv_params *p = &w->p;
  const size_t ow = (size_t)p->out_w;
  pl->taps = (size_t)(p->kh * p->kw);
  pl->rows = (size_t)(p->n * p->out_h);
  pl->shared = p->dil_w == 1;
  size_t target = nthreads > 1 ? (size_t)nthreads * DW_TASKS_PER_THREAD : 1;
  size_t chunks = pl->rows >= target ? 1 : qconv_div_up(target, pl->rows);
  if (chunks > ow) chunks = ow;
  size_t cw = qconv_div_up(ow, chunks);
  while (cw > 1 && dw_pointers(p, pl->shared, cw) > DW_MAX_POINTERS)
    cw = qconv_div_up(cw, 2);
  pl->cw = cw;
  pl->chunks = qconv_div_up(ow, cw);
  pl->slice_bytes = qconv_round(
      dw_pointers(p, pl->shared, cw) * sizeof(const uint8_t *), QCONV_ALIGN);
}

size_t qi_qconv_dw_workspace(const qi_qconv_packed *w, int nthreads) {
  dw_plan pl;
  plan_dw(w, nthreads, &pl);
  return (size_t)nthreads * pl.slice_bytes;
}

typedef struct dw_job {
  const qi_qconv_packed *w;
  const qconv_io *io;
  dw_plan pl;
  unsigned char *scratch;
} dw_job;

/* Pointer to input column ix of row iy (b's image), or the za row. */
static inline const uint8_t *tap_ptr(const qi_qconv_packed *w,
                                     const qconv_io *io, int64_t b,
                                     int64_t iy, int64_t ix) {
  const qi_u8s8_conv_params *p = &w->p;
  if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) return w->zero_row;
  return io->x + (size_t)((b * p->h + iy) * p->w + ix) * io->x_stride;
}

static void dw_task(void *arg, size_t task, int thread) {
  const dw_job *j = arg;
  const qi_qconv_packed *w = j->w;
  const qi_u8s8_conv_params *p = &w->p;
  const qconv_io *io = j->io;
  const size_t taps = j->pl.taps, row = task / j->pl.chunks;
  const int64_t b = (int64_t)row / p->out_h, oy = (int64_t)row % p->out_h;
  const size_t ox0 = task % j->pl.chunks * j->pl.cw;
  const size_t cnt = (size_t)p->out_w - ox0 < j->pl.cw
                         ? (size_t)p->out_w - ox0
                         : j->pl.cw;
  const uint8_t **ptrs = (const uint8_t **)(void *)(j->scratch +
                                                    (size_t)thread *
                                                        j->pl.slice_bytes);
  const int64_t iy0 = oy * p->stride_h - p->pad_t;
  const int64_t ix0 = (int64_t)ox0 * p->stride_w - p->pad_l;
  size_t step;
  if (j->pl.shared) {
    /* Column c is input column ix0 + c; its kh pointers are consecutive. */
    const size_t ncols = (cnt - 1) * (size_t)p->stride_w + (size_t)p->kw;
    for (size_t c = 0; c < ncols; c++)
      for (int64_t ky = 0; ky < p->kh; ky++)
        ptrs[c * (size_t)p->kh + (size_t)ky] =
            tap_ptr(w, io, b, iy0 + ky * p->dil_h, ix0 + (int64_t)c);
    step = (size_t)(p->stride_w * p->kh);
  } else {
    for (size_t i = 0; i < cnt; i++)
      for (int64_t kx = 0; kx < p->kw; kx++)
        for (int64_t ky = 0; ky < p->kh; ky++)
          ptrs[i * taps + (size_t)(kx * p->kh + ky)] = tap_ptr(
              w, io, b, iy0 + ky * p->dil_h,
              ix0 + (int64_t)i * p->stride_w + kx * p->dil_w);
    step = taps;
  }
  const size_t px = row * (size_t)p->out_w + ox0;
  w->dw_cfg->ukernel((size_t)p->c_in, cnt, taps, ptrs, step, w->dw_weights,
                     (char *)io->y + px * io->y_stride * io->esize,
                     io->y_stride, io->r ? io->r + px * io->r_stride : NULL,
                     io->r_stride, &io->params);
}

void qi_qconv_run_dw(const qi_qconv_packed *w, const qconv_io *io,
                  qi_pool *pool, unsigned char *scratch) {
  dw_job j;
  j.w = w;
  j.io = io;
  plan_dw(w, qi_pool_size(pool), &j.pl);
  j.scratch = scratch;
  qi_pool_run(pool, dw_task, &j, j.pl.rows * j.pl.chunks);
}
