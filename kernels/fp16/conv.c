/* FP16 convolution: plan, weight packing, padded widening and the GEMM
 * tasks; depthwise planes. See conv.h. */
#include "fp16/conv.h"

#include <string.h>

#define CONV_ALIGN 64

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static size_t align_up(size_t n) {
  return (n + CONV_ALIGN - 1) & ~(size_t)(CONV_ALIGN - 1);
}

static int64_t out_extent(int64_t in, int64_t pb, int64_t pe, int64_t k,
                          int64_t d, int64_t s) {
  int64_t e = (k - 1) * d + 1, span = in + pb + pe - e;
  return span < 0 ? 0 : span / s + 1;
}

int qi_f16_conv_plan_make(const qi_f16_conv_shape *s, int64_t min_tasks,
                          qi_f16_conv_plan *p) {
  memset(p, 0, sizeof *p);
  const int64_t pos[] = {s->cin,      s->cout,  s->group, s->in_h, s->in_w,
                         s->out_h,    s->out_w, s->k_h,   s->k_w,  s->stride_h,
                         s->stride_w, s->dil_h, s->dil_w};
  for (size_t i = 0; i < sizeof pos / sizeof *pos; i++)
    if (pos[i] < 1 || pos[i] > INT32_MAX) return 0;
  if (s->pad_t < 0 || s->pad_l < 0 || s->pad_b < 0 || s->pad_r < 0 ||
      s->pad_t > INT32_MAX || s->pad_l > INT32_MAX || s->pad_b > INT32_MAX ||
      s->pad_r > INT32_MAX)
    return 0;
  if (s->cin % s->group || s->cout % s->group) return 0;
  if (s->out_h != out_extent(s->in_h, s->pad_t, s->pad_b, s->k_h, s->dil_h,
                             s->stride_h) ||
      s->out_w != out_extent(s->in_w, s->pad_l, s->pad_r, s->k_w, s->dil_w,
                             s->stride_w))
    return 0;
  p->s = *s;
  p->cg = s->cin / s->group;
  p->mg = s->cout / s->group;
  p->hp = s->in_h + s->pad_t + s->pad_b;
  p->wp = s->in_w + s->pad_l + s->pad_r;
  /* The FP32 packer indexes a padded image with int32-sized offsets, and
   * every size below must stay far from overflow. */
  if (p->hp > INT32_MAX / p->wp || p->cg > INT32_MAX / (s->k_h * s->k_w) ||
      p->hp * p->wp > INT32_MAX / s->cin || s->out_h > INT32_MAX / s->out_w)
    return 0;
  p->kk = p->cg * s->k_h * s->k_w;
  p->ncols = s->out_h * s->out_w;
  p->nc = QI_F16_CONV_NC;
  if (p->nc > ceil_div(p->ncols, 16) * 16) p->nc = ceil_div(p->ncols, 16) * 16;
  p->ncb = ceil_div(p->ncols, p->nc);
  p->npanels = ceil_div(p->mg, QI_F32_GEMM_MR);
  int64_t blocks = s->group * p->ncb;
  if (min_tasks < 1) min_tasks = 1;
  int64_t split = blocks >= min_tasks ? 1 : ceil_div(min_tasks, blocks);
  if (split > p->npanels) split = p->npanels;
  p->panels_per_task = ceil_div(p->npanels, split);
  p->nmb = ceil_div(p->npanels, p->panels_per_task);
  p->kc = p->kk < QI_F16_CONV_KC ? p->kk : QI_F16_CONV_KC;
  p->nkb = ceil_div(p->kk, p->kc);
  p->prepack = p->nmb > 1 &&
               s->group * p->ncb * p->kk * p->nc <= QI_F16_CONV_PREPACK_MAX;
  return 1;
}

size_t qi_f16_conv_packed_halves(const qi_f16_conv_plan *p) {
  return (size_t)(p->s.group * p->npanels * p->kk * QI_F32_GEMM_MR);
}

/* Weight panel q of K block [kb, kb + kc) of group gi. */
static size_t apanel_at(const qi_f16_conv_plan *p, int64_t gi, int64_t kb,
                        int64_t kc, int64_t q) {
  return (size_t)(((gi * p->kk + kb) * p->npanels + q * kc) * QI_F32_GEMM_MR);
}

void qi_f16_conv_pack(const qi_f16_conv_plan *p, const uint16_t *w,
                      uint16_t *packed) {
  for (int64_t gi = 0; gi < p->s.group; gi++)
    for (int64_t kb = 0; kb < p->kk; kb += p->kc) {
      int64_t kc = p->kk - kb < p->kc ? p->kk - kb : p->kc;
      for (int64_t q = 0; q < p->npanels; q++) {
        uint16_t *d = packed + apanel_at(p, gi, kb, kc, q);
        for (int64_t k = 0; k < kc; k++)
          for (int64_t i = 0; i < QI_F32_GEMM_MR; i++) {
            int64_t m = q * QI_F32_GEMM_MR + i;
            d[k * QI_F32_GEMM_MR + i] =
                m < p->mg ? w[(gi * p->mg + m) * p->kk + kb + k] : 0;
          }
      }
    }
}

void qi_f16_conv_boff(const qi_f16_conv_plan *p, int64_t *boff) {
  const int64_t ks = p->s.k_h * p->s.k_w;
  for (int64_t k = 0; k < p->kk; k++) {
    int64_t c = k / ks, kh = k % ks / p->s.k_w, kw = k % p->s.k_w;
    boff[k] = c * p->hp * p->wp + kh * p->s.dil_h * p->wp + kw * p->s.dil_w;
  }
}

size_t qi_f16_conv_image_floats(const qi_f16_conv_plan *p) {
  return (size_t)(p->s.cin * p->hp * p->wp);
}

void qi_f16_conv_pad(const qi_f16_kernels *k, const qi_f16_conv_plan *p,
                     const uint16_t *x, int64_t c, float *xp) {
  const qi_f16_conv_shape *s = &p->s;
  const uint16_t *src = x + c * s->in_h * s->in_w;
  float *dst = xp + c * p->hp * p->wp;
  memset(dst, 0, sizeof(float) * (size_t)(s->pad_t * p->wp));
  for (int64_t r = 0; r < s->in_h; r++) {
    float *d = dst + (s->pad_t + r) * p->wp;
    memset(d, 0, sizeof(float) * (size_t)s->pad_l);
    k->to_f32(src + r * s->in_w, d + s->pad_l, (size_t)s->in_w);
    memset(d + s->pad_l + s->in_w, 0, sizeof(float) * (size_t)s->pad_r);
  }
  memset(dst + (s->pad_t + s->in_h) * p->wp, 0,
         sizeof(float) * (size_t)(s->pad_b * p->wp));
}

size_t qi_f16_conv_prepack_floats(const qi_f16_conv_plan *p) {
  return p->prepack ? (size_t)(p->s.group * p->ncb * p->kk * p->nc) : 0;
}

int64_t qi_f16_conv_num_prepack_tasks(const qi_f16_conv_plan *p) {
  return p->prepack ? p->s.group * p->ncb * p->nkb : 0;
}

/* B of group gi, pixel block cb, K block [kb, kb + kc): packed in place,
 * or where the prepack put it. */
static float *prepacked_at(const qi_f16_conv_plan *p, float *bpack, int64_t gi,
                           int64_t cb, int64_t kb) {
  return bpack + ((gi * p->ncb + cb) * p->kk + kb) * p->nc;
}

static void pack_b(const qi_f16_kernels *k, const qi_f16_conv_plan *p,
                   const qi_f16_conv_io *io, int64_t gi, int64_t kb, int64_t kc,
                   int64_t j0, int64_t j1, float *dst) {
  qi_f32_pack_src src = {io->xp + gi * p->cg * p->hp * p->wp, io->boff + kb,
                         p->s.out_w, p->s.stride_h * p->wp, p->s.stride_w};
  k->f32_pack_b(&src, (size_t)kc, j0, (size_t)(j1 - j0), dst);
}

static void block_cols(const qi_f16_conv_plan *p, int64_t cb, int64_t *j0,
                       int64_t *j1) {
  *j0 = cb * p->nc;
  *j1 = *j0 + p->nc < p->ncols ? *j0 + p->nc : p->ncols;
}

void qi_f16_conv_prepack(const qi_f16_kernels *k, const qi_f16_conv_plan *p,
                         const qi_f16_conv_io *io, int64_t t) {
  int64_t kbi = t % p->nkb, rest = t / p->nkb;
  int64_t cb = rest % p->ncb, gi = rest / p->ncb;
  int64_t kb = kbi * p->kc, kc = p->kk - kb < p->kc ? p->kk - kb : p->kc;
  int64_t j0, j1;
  block_cols(p, cb, &j0, &j1);
  pack_b(k, p, io, gi, kb, kc, j0, j1, prepacked_at(p, io->bpack, gi, cb, kb));
}

int64_t qi_f16_conv_num_tasks(const qi_f16_conv_plan *p) {
  return p->s.group * p->nmb * p->ncb;
}

/* Scratch of a task: the float tile [panels_per_task * 6][nc], the packed
 * B panels [kc][nc] and one widened weight panel [kc][6]. */
static size_t cbuf_bytes(const qi_f16_conv_plan *p) {
  return align_up(sizeof(float) *
                  (size_t)(p->panels_per_task * QI_F32_GEMM_MR * p->nc));
}
static size_t bpack_bytes(const qi_f16_conv_plan *p) {
  return align_up(sizeof(float) * (size_t)(p->kc * p->nc));
}

size_t qi_f16_conv_task_scratch(const qi_f16_conv_plan *p) {
  return cbuf_bytes(p) + bpack_bytes(p) +
         align_up(sizeof(float) * (size_t)(p->kc * QI_F32_GEMM_MR));
}

void qi_f16_conv_task(const qi_f16_kernels *k, const qi_f16_conv_plan *p,
                      const qi_f16_conv_io *io, int64_t t, void *scratch) {
  const int64_t cb = t % p->ncb, rest = t / p->ncb;
  const int64_t mb = rest % p->nmb, gi = rest / p->nmb;
  int64_t j0, j1;
  block_cols(p, cb, &j0, &j1);
  const int64_t q0 = mb * p->panels_per_task;
  const int64_t q1 = q0 + p->panels_per_task < p->npanels
                         ? q0 + p->panels_per_task
                         : p->npanels;
  if (q0 >= q1) return;
  float *cbuf = scratch;
  float *bpack = (float *)((char *)scratch + cbuf_bytes(p));
  float *apanel = (float *)((char *)bpack + bpack_bytes(p));
  const int64_t nj = j1 - j0;
  for (int64_t kb = 0; kb < p->kk; kb += p->kc) {
    int64_t kc = p->kk - kb < p->kc ? p->kk - kb : p->kc;
    const float *bp = bpack;
    if (p->prepack)
      bp = prepacked_at(p, io->bpack, gi, cb, kb);
    else
      pack_b(k, p, io, gi, kb, kc, j0, j1, bpack);
    for (int64_t q = q0; q < q1; q++) {
      k->to_f32(io->wpack + apanel_at(p, gi, kb, kc, q), apanel,
                (size_t)(kc * QI_F32_GEMM_MR));
      int64_t mr = p->mg - q * QI_F32_GEMM_MR;
      if (mr > QI_F32_GEMM_MR) mr = QI_F32_GEMM_MR;
      float *crow = cbuf + (q - q0) * QI_F32_GEMM_MR * p->nc;
      /* B is zero past nj and the tile has nc >= 16-rounded columns: full
       * 16-wide tiles, no masked stores. */
      for (int64_t c = 0; c < nj; c += QI_F32_GEMM_NR)
        k->f32_gemm((size_t)kc, apanel, bp + c * kc, QI_F32_GEMM_NR, crow + c,
                    (size_t)p->nc, (size_t)mr, QI_F32_GEMM_NR, kb > 0);
    }
  }
  const int64_t mend =
      q1 * QI_F32_GEMM_MR < p->mg ? q1 * QI_F32_GEMM_MR : p->mg;
  for (int64_t ml = q0 * QI_F32_GEMM_MR; ml < mend; ml++) {
    int64_t m = gi * p->mg + ml, at = m * p->ncols + j0;
    void *y = io->y_f32 ? (void *)((float *)io->y + at)
                        : (void *)((uint16_t *)io->y + at);
    k->epilogue(&io->act, cbuf + (ml - q0 * QI_F32_GEMM_MR) * p->nc, NULL,
                io->bias ? io->bias[m] : 0.0f, io->res ? io->res + at : NULL, y,
                io->y_f32, (size_t)nj);
  }
}

/* ---- depthwise ----------------------------------------------------------- */

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

size_t qi_f16_dwconv_scratch_floats(const qi_f32_dw2d *d) {
  return round16((size_t)(d->in_h * d->in_w)) +
         round16((size_t)(d->out_h * d->out_w)) +
         round16((size_t)(d->k_h * d->k_w)) +
         round16(qi_f32_dwconv2d_scratch(d));
}

void qi_f16_dwconv_plane(const qi_f16_kernels *k, const qi_f32_dw2d *d,
                         const uint16_t *x, const uint16_t *w, float bias,
                         const qi_f16_act *act, const uint16_t *res, void *y,
                         int y_f32, float *scratch) {
  size_t in = (size_t)(d->in_h * d->in_w), out = (size_t)(d->out_h * d->out_w);
  size_t ks = (size_t)(d->k_h * d->k_w);
  float *xf = scratch, *yf = xf + round16(in), *wf = yf + round16(out);
  float *ws = wf + round16(ks);
  k->to_f32(x, xf, in);
  k->to_f32(w, wf, ks);
  k->f32_dw(d, xf, wf, 0.0f, yf, ws);
  k->epilogue(act, yf, NULL, bias, res, y, y_f32, out);
}
