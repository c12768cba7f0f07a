/* Convolution driver: packing (path choice), argument checks, the
 * pointwise path, and the dispatch of a run to its path (qconv_gemm.c,
 * qconv_dw.c). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/qconv_internal.h"

qi_status qi_qconv_pack(const qi_u8s8_conv_params *p, const int8_t *w,
                        const int32_t *bias, const float *mult,
                        const qi_qgemm_config *gemm_cfg,
                        const qi_dwconv_config *dw_cfg, qi_qconv_packed **out,
                        qi_error *err) {
  if (!out) return qi_fail(err, QI_ERR_INVALID_ARG, "qconv pack: NULL out");
  *out = NULL;
  if (!p || !w || !mult)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qconv pack: NULL argument");
  qi_qconv_packed *pk = calloc(1, sizeof *pk);
  if (!pk) return qi_fail(err, QI_ERR_NOMEM, "qconv pack: out of memory");
  pk->p = *p;
  const char *why = qi_u8s8_conv_derive(&pk->p);
  if (why) {
    free(pk);
    return qi_fail(err, QI_ERR_SHAPE,
                   "qconv pack: %s (input %lldx%lldx%lldx%lld, %lld outputs, "
                   "kernel %lldx%lld, groups %lld)",
                   why, (long long)p->n, (long long)p->h, (long long)p->w,
                   (long long)p->c_in, (long long)p->c_out, (long long)p->kh,
                   (long long)p->kw, (long long)p->groups);
  }
  qi_status s;
  /* A bad QINFER_ISA leaves the CPU's best kernel in the config: run it. */
  if (qi_u8s8_conv_is_depthwise(&pk->p)) {
    pk->path = QI_QCONV_DEPTHWISE;
    if (!dw_cfg) qi_dwconv_config_default(&dw_cfg, NULL);
    pk->dw_cfg = dw_cfg;
    s = qi_qconv_pack_dw(pk, w, bias, mult, err);
  } else {
    pk->path = qi_u8s8_conv_is_pointwise(&pk->p) ? QI_QCONV_POINTWISE
                                                  : QI_QCONV_IM2COL;
    if (!gemm_cfg) qi_qgemm_config_default(&gemm_cfg, NULL);
    pk->gemm_cfg = gemm_cfg;
    s = qi_qconv_pack_gemm(pk, w, bias, mult, err);
  }
  if (s != QI_OK) {
    qi_qconv_free(pk);
    return s;
  }
  *out = pk;
  return QI_OK;
}

void qi_qconv_free(qi_qconv_packed *w) {
  if (!w) return;
  free(w->gemm);
  free(w->buf);
  free(w);
}

const qi_u8s8_conv_params *qi_qconv_params(const qi_qconv_packed *w) {
  return &w->p;
}

qi_qconv_path qi_qconv_path_of(const qi_qconv_packed *w) { return w->path; }

const char *qi_qconv_kernel_name(const qi_qconv_packed *w) {
  return w->path == QI_QCONV_DEPTHWISE ? w->dw_cfg->kernel_name
                                       : w->gemm_cfg->kernel_name;
}

static int64_t out_pixels(const qi_u8s8_conv_params *p) {
  return p->n * p->out_h * p->out_w;
}

size_t qi_qconv_workspace_size(const qi_qconv_packed *w, int nthreads) {
  if (!w) return 0;
  if (nthreads < 1) nthreads = 1;
  size_t bytes = 0;
  switch (w->path) {
    case QI_QCONV_POINTWISE:
      bytes = qi_qgemm_workspace_size(&w->gemm[0], out_pixels(&w->p),
                                      nthreads);
      break;
    case QI_QCONV_IM2COL: bytes = qi_qconv_im2col_workspace(w, nthreads); break;
    case QI_QCONV_DEPTHWISE: bytes = qi_qconv_dw_workspace(w, nthreads); break;
  }
  return bytes ? bytes + QCONV_ALIGN - 1 : 0;
}

/* (rows - 1) * stride + cols elements of `esize` bytes fit a size_t. */
static int span_ok(int64_t rows, size_t stride, int64_t cols, size_t esize) {
  size_t a, b;
  return !__builtin_mul_overflow((size_t)(rows - 1), stride, &a) &&
         !__builtin_add_overflow(a, (size_t)cols, &b) &&
         !__builtin_mul_overflow(b, esize, &a);
}

static void run_pointwise(const qi_qconv_packed *w, const qconv_io *io,
                          const qi_requant_params *rp, qi_pool *pool,
                          unsigned char *scratch, size_t scratch_size) {
  const int64_t cg_in = w->p.c_in / w->p.groups;
  const int64_t cg_out = w->p.c_out / w->p.groups;
  for (int64_t g = 0; g < w->p.groups; g++) {
    qi_requant_params rg = *rp;
    if (rg.residual) rg.residual += g * cg_out;
    /* Every argument was checked by qi_qconv_run: this cannot fail. */
    (void)qi_qgemm(&w->gemm[g], io->x + g * cg_in, io->x_stride,
                   out_pixels(&w->p), &rg,
                   (char *)io->y + (size_t)(g * cg_out) * io->esize,
                   io->y_stride, pool, scratch, scratch_size, NULL);
  }
}

qi_status qi_qconv_run(const qi_qconv_packed *w, const uint8_t *x,
                       size_t x_stride, const qi_requant_params *rp, void *y,
                       size_t y_stride, qi_pool *pool, void *scratch,
                       size_t scratch_size, qi_error *err) {
  if (!w || !rp || !x || !y)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qconv: NULL argument");
  const qi_u8s8_conv_params *p = &w->p;
  const int64_t in_px = p->n * p->h * p->w, out_px = out_pixels(p);
  if (x_stride < (size_t)p->c_in || y_stride < (size_t)p->c_out)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qconv: pixel stride of x %zu < %lld channels or of y %zu "
                   "< %lld channels",
                   x_stride, (long long)p->c_in, y_stride,
                   (long long)p->c_out);
  if (!rp->out_f32 && (rp->zy < 0 || rp->zy > 255 || rp->qmin < 0 ||
                       rp->qmax > 255 || rp->qmin > rp->qmax))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qconv: zero point %d / clamp [%d, %d] outside 0..255",
                   (int)rp->zy, (int)rp->qmin, (int)rp->qmax);
  if (rp->residual && (rp->out_f32 || rp->ldr < (size_t)p->c_out ||
                       rp->zr < 0 || rp->zr > 255))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qconv: residual needs uint8 output, a pixel stride >= "
                   "%lld and a zero point in 0..255",
                   (long long)p->c_out);
  size_t esize = rp->out_f32 ? sizeof(float) : 1;
  if (!span_ok(in_px, x_stride, p->c_in, 1) ||
      !span_ok(out_px, y_stride, p->c_out, esize) ||
      (rp->residual && !span_ok(out_px, rp->ldr, p->c_out, 1)))
    return qi_fail(err, QI_ERR_NOMEM, "qconv: tensor strides overflow");
  int nthreads = qi_pool_size(pool);
  size_t need = qi_qconv_workspace_size(w, nthreads);
  if (need && (!scratch || scratch_size < need))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qconv: scratch of %zu bytes, %zu needed (see "
                   "qi_qconv_workspace_size)",
                   scratch ? scratch_size : 0, need);

  qconv_io io;
  io.x = x;
  io.x_stride = x_stride;
  io.y = y;
  io.y_stride = y_stride;
  io.esize = esize;
  io.r = rp->residual;
  io.r_stride = rp->ldr;
  io.params = qi_u8s8_gemm_params_make(rp->out_f32, rp->zy, rp->qmin,
                                       rp->qmax, rp->zr, rp->rmult);
  unsigned char *aligned = need ? qconv_align(scratch) : NULL;
  switch (w->path) {
    case QI_QCONV_POINTWISE:
      run_pointwise(w, &io, rp, pool, aligned,
                    need ? need - (QCONV_ALIGN - 1) : 0);
      break;
    case QI_QCONV_IM2COL: qi_qconv_run_im2col(w, &io, pool, aligned); break;
    case QI_QCONV_DEPTHWISE: qi_qconv_run_dw(w, &io, pool, aligned); break;
  }
  return QI_OK;
}
