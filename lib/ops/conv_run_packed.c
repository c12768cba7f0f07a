/*
 * Conv as an implicit GEMM on packed weights with our own microkernel
 * (kernels/fp32/conv_gemm.h), every thread of the pool busy on its own
 * output tiles and no BLAS call (so no second thread team).
 *
 * Per (batch, group): C [M_g x P] = W_g [M_g x K] * B [K x P] with
 * K = C_g * kh * kw and P = OH * OW. For 1-D and 2-D convolutions B is
 * never formed: the input is zero-padded once (if padded at all) and the
 * packing reads row k of B as that image at the tap's offset, column j at
 * output pixel (j / OW, j % OW) times the strides; 1x1 stride-1 unpadded
 * convolutions skip packing and read input rows directly. 3-D
 * convolutions im2col each block into per-thread scratch first.
 *
 * Tasks are (group, column block, block of 6-row weight panels). Per K
 * block of up to PK_KC rows a task packs its B columns into 16-wide panels
 * (so the microkernel streams contiguous, cache-friendly memory) and runs
 * every weight panel over them, accumulating straight into the output
 * (or, when the residual shares the output buffer or rows would end in
 * masked stores, into a per-thread tile). The last K block's microkernel
 * call adds those partial sums, the bias and the residual and applies the
 * activation (ReLU / Clip / none) in its one store to the output; other
 * activations run as a separate pass over the finished tile while it is
 * in cache. When
 * the output is small and tasks split the weight panels, B is packed once
 * up front instead of by every task. Weights are packed
 * [group][K block][panel][kc][6] so one K block of all panels streams
 * contiguously.
 */
#include <stdlib.h>
#include <string.h>

#include "fp32/im2col.h"
#include "ops/conv_plan.h"

#define PK_KC 256            /* K block: A panel 6 KB, B panel 16 KB */
#define PK_NC_MAX 128        /* columns per task */
#define PK_MIN_TASKS 8       /* split weight panels below this many blocks */
#define PK_PREPACK_MAX ((int64_t)1 << 22) /* floats of B packed up front */
#define PK_ALIGN 64

static size_t align_up(size_t n) {
  return (n + PK_ALIGN - 1) & ~(size_t)(PK_ALIGN - 1);
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int conv_packed_layout(conv_plan *p) {
  const qi_conv_geom *g = &p->geo;
  conv_packed *pk = &p->pk;
  memset(pk, 0, sizeof *pk);
  const int64_t cg = g->cin / g->group, mg = g->cout / g->group;
  const int64_t kk = cg * qi_conv_geom_ksize(g);
  pk->direct = g->nsp <= 2;
  if (pk->direct) {
    pk->pad_copy = g->pad_b[1] || g->pad_e[1] || g->pad_b[2] || g->pad_e[2];
    pk->hp = g->in[1] + g->pad_b[1] + g->pad_e[1];
    pk->wp = g->in[2] + g->pad_b[2] + g->pad_e[2];
    /* The packer indexes a padded plane with int32 offsets. */
    if (pk->hp * pk->wp > INT32_MAX) return 0;
    pk->b_rows = !pk->pad_copy && g->k[1] == 1 && g->k[2] == 1 &&
                 g->stride[1] == 1 && g->stride[2] == 1;
  }
  pk->ncols = qi_conv_geom_out_plane(g);
  pk->nc = PK_NC_MAX;
  if (pk->nc > ceil_div(pk->ncols, 16) * 16) pk->nc = ceil_div(pk->ncols, 16) * 16;
  pk->npanels = ceil_div(mg, QI_F32_GEMM_MR);
  int64_t blocks = g->group * ceil_div(pk->ncols, pk->nc);
  int64_t split = blocks >= PK_MIN_TASKS ? 1 : ceil_div(PK_MIN_TASKS, blocks);
  if (split > pk->npanels) split = pk->npanels;
  pk->panels_per_task = ceil_div(pk->npanels, split);
  /* K blocks of equal size (a multiple of 8 up to PK_KC) rather than
   * PK_KC-sized ones and a short tail: 576 = 3 x 192, not 256 + 256 + 64,
   * whose last block pays the tile's C traffic for a quarter of the work. */
  const int64_t nkb = ceil_div(kk, PK_KC);
  pk->kc = ceil_div(ceil_div(kk, nkb), 8) * 8;
  if (pk->kc > kk) pk->kc = kk;
  /* Few columns (tasks split the weight panels): B read straight from the
   * input rows would be read ldb apart, a cache line or two per k, by
   * every panel of every task; packed once up front it streams
   * contiguously instead (r50 1x1 convolutions on 7x7: 1.2x). */
  if (split > 1 && pk->panels_per_task >= 4) pk->b_rows = 0;
  /* Panel-outer tile order where the output side weighs more than the
   * weight side: K no larger than the task's output channels (twice that
   * with a residual to read). Six output rows per microkernel call, each
   * call on other rows, defeat the prefetchers; small K leaves them
   * little compute to hide behind (r50 1x1 + residual, 1 thread on the
   * Zen 3 dev VM: 64->256 on 56x56 1.07-1.13x, 128->512 and 256->1024
   * 1.03-1.07x; 3x3 and K > M layers: no change or slower, so they keep
   * the B-tile-outer order). */
  const int64_t mtask = pk->panels_per_task * QI_F32_GEMM_MR;
  pk->panel_outer = kk <= (p->has_sum ? 2 : 1) * mtask;
  pk->prepack = !pk->b_rows && split > 1 &&
                g->group * ceil_div(pk->ncols, pk->nc) * kk * pk->nc <=
                    PK_PREPACK_MAX;
  return 1;
}

/* Per-thread scratch: the C tile, the packed B panels and, for im2col,
 * the im2col block; each 64-byte aligned. */
static size_t pk_cbuf_bytes(const conv_packed *pk) {
  return align_up(sizeof(float) *
                  (size_t)(pk->panels_per_task * QI_F32_GEMM_MR * pk->nc));
}
static size_t pk_block_bytes(const conv_packed *pk) {
  return align_up(sizeof(float) * (size_t)(pk->kc * pk->nc));
}
static size_t pk_per_thread(const conv_packed *pk) {
  return pk_cbuf_bytes(pk) + pk_block_bytes(pk) * (pk->direct ? 1 : 2);
}

static size_t pk_prepack_bytes(const conv_plan *p) {
  const conv_packed *pk = &p->pk;
  if (!pk->prepack) return 0;
  int64_t kk = p->geo.cin / p->geo.group * qi_conv_geom_ksize(&p->geo);
  return align_up(sizeof(float) *
                  (size_t)(p->geo.group * ceil_div(pk->ncols, pk->nc) * kk * pk->nc));
}

size_t conv_packed_scratch(const conv_plan *p, int nthreads) {
  const conv_packed *pk = &p->pk;
  const qi_conv_geom *g = &p->geo;
  size_t shared = pk->pad_copy
                      ? align_up(sizeof(float) * (size_t)(g->cin * pk->hp * pk->wp))
                      : 0;
  return shared + pk_prepack_bytes(p) +
         pk_per_thread(pk) * (size_t)(nthreads > 0 ? nthreads : 1);
}

void conv_packed_free(conv_packed *pk) {
  free(pk->wpack);
  free(pk->boff);
  pk->wpack = NULL;
  pk->boff = NULL;
}

/* Weight panel q of K block [kb, kb + kc) of group gi. */
static float *pk_apanel(const conv_packed *pk, int64_t kk, int64_t gi,
                        int64_t kb, int64_t kc, int64_t q) {
  return pk->wpack +
         ((gi * kk + kb) * pk->npanels + q * kc) * QI_F32_GEMM_MR;
}

qi_status conv_packed_build(conv_plan *p, const float *w, const char *node,
                            qi_error *err) {
  const qi_conv_geom *g = &p->geo;
  conv_packed *pk = &p->pk;
  const int64_t cg = g->cin / g->group, mg = g->cout / g->group;
  const int64_t ks = qi_conv_geom_ksize(g), kk = cg * ks;
  size_t nw = (size_t)(g->group * pk->npanels * kk * QI_F32_GEMM_MR);
  pk->wpack = aligned_alloc(PK_ALIGN, align_up(sizeof(float) * nw));
  pk->boff = malloc(sizeof(int64_t) * (size_t)kk);
  if (!pk->wpack || !pk->boff) {
    conv_packed_free(pk);
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (Conv): out of memory "
                   "packing %zu weights", node, nw);
  }
  for (int64_t gi = 0; gi < g->group; gi++)
    for (int64_t kb = 0; kb < kk; kb += pk->kc) {
      int64_t kc = kk - kb < pk->kc ? kk - kb : pk->kc;
      for (int64_t q = 0; q < pk->npanels; q++)
        qi_f32_gemm_pack_a_6(w + gi * mg * kk + kb, mg, kc, kk,
                             q * QI_F32_GEMM_MR, pk_apanel(pk, kk, gi, kb, kc, q));
    }
  pk->ukernel_epi = NULL;
  if (qi_f32_gemm_epi_fusable(p->epi.act.kind)) {
    if (pk->ukernel == qi_f32_gemm_ukernel_6x16__avx2)
      pk->ukernel_epi = qi_f32_gemm_ukernel_6x16_epi__avx2;
    else if (pk->ukernel == qi_f32_gemm_ukernel_6x16__scalar)
      pk->ukernel_epi = qi_f32_gemm_ukernel_6x16_epi__scalar;
  }
  for (int64_t k = 0; k < kk; k++) {
    if (!pk->direct) { /* rows of the im2col block */
      pk->boff[k] = k * pk->nc;
      continue;
    }
    int64_t c = k / ks, kh = k % ks / g->k[2], kw = k % g->k[2];
    pk->boff[k] = c * pk->hp * pk->wp + kh * g->dil[1] * pk->wp + kw * g->dil[2];
  }
  return QI_OK;
}

typedef struct pk_job {
  const conv_plan *p;
  const conv_io *io;
  const float *img;     /* direct: the image B reads, all channels */
  int64_t b;            /* batch index */
  int64_t ncb, nmb, nkb; /* column blocks, panel blocks, K blocks */
  float *prepacked;     /* B packed up front, or NULL */
  char *scratch;        /* per-thread areas */
  size_t per_thread;
} pk_job;

/* Writes rows of the finished tile through the epilogue. */
static void tile_out(const pk_job *j, int64_t gi, int64_t q0, int64_t q1,
                     int64_t j0, int64_t j1, const float *cbuf) {
  const conv_plan *p = j->p;
  const conv_packed *pk = &p->pk;
  const qi_conv_geom *g = &p->geo;
  const int64_t mg = g->cout / g->group, ohw = qi_conv_geom_out_plane(g);
  const int64_t mend = (q1 * QI_F32_GEMM_MR < mg ? q1 * QI_F32_GEMM_MR : mg);
  for (int64_t ml = q0 * QI_F32_GEMM_MR; ml < mend; ml++) {
    int64_t m = gi * mg + ml;
    const float *src = cbuf + (ml - q0 * QI_F32_GEMM_MR) * pk->nc;
    int64_t plane = (j->b * g->cout + m) * ohw;
    float *y = j->io->y + plane;
    const float *res = j->io->res ? j->io->res + plane : NULL;
    float bias = j->io->bias ? j->io->bias[m] : 0.0f;
    p->epi.fn(&p->epi.act, bias, src, res ? res + j0 : NULL, y + j0,
              (size_t)(j1 - j0));
  }
}

/* The epilogue in place on output rows the microkernel wrote. */
static void out_in_place(const pk_job *j, int64_t gi, int64_t q0, int64_t q1,
                         int64_t j0, int64_t j1) {
  const conv_plan *p = j->p;
  const qi_conv_geom *g = &p->geo;
  const int64_t mg = g->cout / g->group, ohw = qi_conv_geom_out_plane(g);
  const int64_t mend = (q1 * QI_F32_GEMM_MR < mg ? q1 * QI_F32_GEMM_MR : mg);
  for (int64_t ml = q0 * QI_F32_GEMM_MR; ml < mend; ml++) {
    int64_t m = gi * mg + ml;
    int64_t plane = (j->b * g->cout + m) * ohw;
    float *y = j->io->y + plane + j0;
    const float *res = j->io->res ? j->io->res + plane + j0 : NULL;
    float bias = j->io->bias ? j->io->bias[m] : 0.0f;
    qi_epilogue_span(&p->epi, bias, res, y, y, (size_t)(j1 - j0));
  }
}

static float *thread_area(const pk_job *j, int thread) {
  return (float *)(j->scratch + (size_t)thread * j->per_thread);
}

/* Packs K rows [kb, kb + kc) of columns [j0, j1) of group gi into dst. */
static void pack_block(const pk_job *j, int thread, int64_t gi, int64_t kb,
                       int64_t kc, int64_t j0, int64_t j1, float *dst) {
  const conv_plan *p = j->p;
  const conv_packed *pk = &p->pk;
  const qi_conv_geom *g = &p->geo;
  const int64_t cg = g->cin / g->group;
  if (pk->direct) {
    qi_f32_pack_src src = {j->img + gi * cg * pk->hp * pk->wp, pk->boff + kb,
                           g->out[2], g->stride[1] * pk->wp, g->stride[2]};
    pk->pack_b(&src, (size_t)kc, j0, (size_t)(j1 - j0), dst);
    return;
  }
  float *block = (float *)((char *)thread_area(j, thread) + pk_cbuf_bytes(pk) +
                           pk_block_bytes(pk));
  const qi_f32_window win = qi_conv_geom_window(g);
  const float *xg =
      j->io->x + (j->b * g->cin + gi * cg) * qi_conv_geom_in_plane(g);
  qi_f32_im2col(&win, xg, kb, kb + kc, j0, j1, block, pk->nc);
  qi_f32_pack_src src = {block, pk->boff, pk->nc, 0, 1};
  pk->pack_b(&src, (size_t)kc, 0, (size_t)(j1 - j0), dst);
}

static void block_cols(const pk_job *j, int64_t cb, int64_t *j0, int64_t *j1) {
  const conv_packed *pk = &j->p->pk;
  *j0 = cb * pk->nc;
  *j1 = *j0 + pk->nc < pk->ncols ? *j0 + pk->nc : pk->ncols;
}

static float *prepacked_at(const pk_job *j, int64_t gi, int64_t cb,
                           int64_t kb) {
  const conv_packed *pk = &j->p->pk;
  int64_t kk = j->p->geo.cin / j->p->geo.group * qi_conv_geom_ksize(&j->p->geo);
  return j->prepacked + ((gi * j->ncb + cb) * kk + kb) * pk->nc;
}

/* Up-front packing task: (group, column block, K block). */
static void prepack_task(void *arg, size_t t, int thread) {
  const pk_job *j = arg;
  const conv_packed *pk = &j->p->pk;
  int64_t kk = j->p->geo.cin / j->p->geo.group * qi_conv_geom_ksize(&j->p->geo);
  int64_t kbi = (int64_t)t % j->nkb, rest = (int64_t)t / j->nkb;
  int64_t cb = rest % j->ncb, gi = rest / j->ncb;
  int64_t kb = kbi * pk->kc, kc = kk - kb < pk->kc ? kk - kb : pk->kc;
  int64_t j0, j1;
  block_cols(j, cb, &j0, &j1);
  pack_block(j, thread, gi, kb, kc, j0, j1, prepacked_at(j, gi, cb, kb));
}

static void pk_task(void *arg, size_t t, int thread) {
  const pk_job *j = arg;
  const conv_plan *p = j->p;
  const conv_packed *pk = &p->pk;
  const qi_conv_geom *g = &p->geo;
  const int64_t mg = g->cout / g->group, cg = g->cin / g->group;
  const int64_t kk = cg * qi_conv_geom_ksize(g);
  int64_t cb = (int64_t)t % j->ncb, rest = (int64_t)t / j->ncb;
  int64_t mb = rest % j->nmb, gi = rest / j->nmb;
  int64_t j0, j1;
  block_cols(j, cb, &j0, &j1);
  int64_t q0 = mb * pk->panels_per_task;
  int64_t q1 = q0 + pk->panels_per_task < pk->npanels ? q0 + pk->panels_per_task
                                                      : pk->npanels;
  if (q0 >= q1) return;
  float *cbuf = thread_area(j, thread);
  /* Accumulate straight into the output unless the residual lives there
   * (it must be read before its place is written), or the row tails would
   * need masked stores (slow on some CPUs; the tile buffer avoids them).
   * With the fused epilogue only the partial sums of the K blocks before
   * the last go there; the last block's store writes the output itself. */
  const int direct_out =
      !(j->io->res && j->io->res == j->io->y) && pk->ncols % 8 == 0;
  const int64_t ohw = qi_conv_geom_out_plane(g);
  const int64_t m0 = gi * mg; /* first output channel of the group */
  float *yg = j->io->y + (j->b * g->cout + m0) * ohw;
  const float *rg =
      j->io->res ? j->io->res + (j->b * g->cout + m0) * ohw : NULL;
  const float *biasg = j->io->bias ? j->io->bias + m0 : NULL;
  const qi_f32_act *act = &p->epi.act;
  const int64_t ldc = direct_out ? ohw : pk->nc;
  float *bpack = (float *)((char *)cbuf + pk_cbuf_bytes(pk));
  const int64_t nj = j1 - j0;
  for (int64_t kb = 0; kb < kk; kb += pk->kc) {
    int64_t kc = kk - kb < pk->kc ? kk - kb : pk->kc;
    const float *bp = bpack;
    /* 1x1 stride-1 convolutions read whole 16-column tiles straight from
     * the input rows (no packing: each packed value would be used by few
     * output channels); a partial last tile is packed. */
    const int64_t full = pk->b_rows ? nj / QI_F32_GEMM_NR * QI_F32_GEMM_NR : 0;
    const float *brow = pk->b_rows ? j->img + gi * cg * pk->hp * pk->wp +
                                         kb * pk->hp * pk->wp + j0
                                   : NULL;
    if (pk->b_rows) {
      if (full < nj) pack_block(j, thread, gi, kb, kc, j0 + full, j1, bpack);
    } else if (j->prepacked) {
      bp = prepacked_at(j, gi, cb, kb);
    } else {
      pack_block(j, thread, gi, kb, kc, j0, j1, bpack);
    }
    /* Tile order (see conv_packed_layout): one B tile (kc x 16, L1-sized)
     * against every weight panel of the task, the panels streaming from L2
     * (24 bytes per k from L2 instead of 64), or, panel_outer, one weight
     * panel over every B tile, so the output (and residual) rows are
     * written left to right instead of six rows here, six rows there. */
    const int64_t nt = ceil_div(nj, QI_F32_GEMM_NR), nq = q1 - q0;
    const int last_kb = kb + kc == kk;
    for (int64_t it = 0; it < nt * nq; it++) {
      const int64_t c = (pk->panel_outer ? it % nt : it / nq) * QI_F32_GEMM_NR;
      const int64_t q = q0 + (pk->panel_outer ? it / nt : it % nq);
      /* The tile buffer has room for 16 columns and B is zero past nj:
       * there, round the width up to 8 or 16, which store without masks.
       * The output itself gets the exact width. */
      const size_t nr_out =
          nj - c < QI_F32_GEMM_NR ? (size_t)(nj - c) : QI_F32_GEMM_NR;
      size_t nr = nr_out;
      if (!direct_out) nr = nr <= 8 ? 8 : QI_F32_GEMM_NR;
      const float *b = c < full ? brow + c : bp + (c - full) * kc;
      const size_t ldb = c < full ? (size_t)(pk->hp * pk->wp) : QI_F32_GEMM_NR;
      const float *a = pk_apanel(pk, kk, gi, kb, kc, q);
      int64_t mr = mg - q * QI_F32_GEMM_MR;
      if (mr > QI_F32_GEMM_MR) mr = QI_F32_GEMM_MR;
      float *crow = direct_out ? yg + q * QI_F32_GEMM_MR * ohw + j0
                               : cbuf + (q - q0) * QI_F32_GEMM_MR * pk->nc;
      if (!pk->ukernel_epi || !last_kb) {
        pk->ukernel((size_t)kc, a, b, ldb, crow + c, (size_t)ldc, (size_t)mr,
                    nr, kb > 0);
        continue;
      }
      /* Last K block, epilogue fused: partial sums (if any) + this block,
       * bias, residual, activation, stored once into the output. */
      const int64_t yoff = q * QI_F32_GEMM_MR * ohw + j0 + c;
      const qi_f32_gemm_epi e = {kb > 0 ? crow + c : NULL, (size_t)ldc,
                                 biasg ? biasg + q * QI_F32_GEMM_MR : NULL,
                                 rg ? rg + yoff : NULL, (size_t)ohw,
                                 act->kind, act->alpha, act->beta};
      pk->ukernel_epi((size_t)kc, a, b, ldb, yg + yoff, (size_t)ohw,
                      (size_t)mr, nr_out, &e);
    }
  }
  if (pk->ukernel_epi) return;
  if (direct_out)
    out_in_place(j, gi, q0, q1, j0, j1);
  else
    tile_out(j, gi, q0, q1, j0, j1, cbuf);
}

typedef struct pad_job {
  const float *x;
  float *xp;
  const qi_conv_geom *g;
  int64_t hp, wp;
} pad_job;

static void pad_task(void *arg, size_t t, int thread) {
  (void)thread;
  const pad_job *j = arg;
  const qi_conv_geom *g = j->g;
  const int64_t h = g->in[1], w = g->in[2], pt = g->pad_b[1], pl = g->pad_b[2];
  const float *src = j->x + (int64_t)t * h * w;
  float *dst = j->xp + (int64_t)t * j->hp * j->wp;
  memset(dst, 0, sizeof(float) * (size_t)(pt * j->wp));
  for (int64_t r = 0; r < h; r++) {
    float *d = dst + (pt + r) * j->wp;
    memset(d, 0, sizeof(float) * (size_t)pl);
    memcpy(d + pl, src + r * w, sizeof(float) * (size_t)w);
    memset(d + pl + w, 0, sizeof(float) * (size_t)(j->wp - pl - w));
  }
  memset(dst + (pt + h) * j->wp, 0,
         sizeof(float) * (size_t)((j->hp - pt - h) * j->wp));
}

void conv_run_packed(const qi_run_ctx *ctx, const conv_plan *p,
                     const conv_io *io) {
  const conv_packed *pk = &p->pk;
  const qi_conv_geom *g = &p->geo;
  const int64_t kk = g->cin / g->group * qi_conv_geom_ksize(g);
  size_t shared = pk->pad_copy ? align_up(sizeof(float) *
                                          (size_t)(g->cin * pk->hp * pk->wp))
                               : 0;
  pk_job j;
  j.p = p;
  j.io = io;
  j.ncb = ceil_div(pk->ncols, pk->nc);
  j.nmb = ceil_div(pk->npanels, pk->panels_per_task);
  j.nkb = ceil_div(kk, pk->kc);
  j.prepacked = pk->prepack ? (float *)((char *)ctx->scratch + shared) : NULL;
  j.scratch = (char *)ctx->scratch + shared + pk_prepack_bytes(p);
  j.per_thread = pk_per_thread(pk);
  for (int64_t b = 0; b < g->batch; b++) {
    const float *xb = io->x + b * g->cin * qi_conv_geom_in_plane(g);
    j.b = b;
    j.img = xb;
    if (pk->pad_copy) {
      pad_job pj = {xb, ctx->scratch, g, pk->hp, pk->wp};
      qi_pool_run(ctx->pool, pad_task, &pj, (size_t)g->cin);
      j.img = ctx->scratch;
    }
    if (j.prepacked)
      qi_pool_run(ctx->pool, prepack_task, &j,
                  (size_t)(g->group * j.ncb * j.nkb));
    qi_pool_run(ctx->pool, pk_task, &j, (size_t)(g->group * j.nmb * j.ncb));
  }
}
