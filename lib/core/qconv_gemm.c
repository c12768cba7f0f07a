/* The GEMM paths of the convolution driver: weight packing (OIHW to the
 * GEMM's [c_out][ky][kx][ci] rows, one packed GEMM per group) and the
 * im2col path.
 *
 * im2col path: a task is (group, tile of mc output pixels, range of
 * weight strips). It writes the tile's im2col rows (K bytes each) into its
 * thread's scratch, widens them if the kernel reads A widened (AVX2), and
 * runs the microkernel strip by strip over the tile: the strip of NR
 * channels (NR x K weights) stays in L1/L2 while the MR-row blocks of the
 * tile, sized to stay in L2, stream past it. With several threads and few
 * tiles (deep layers: 7x7 pixels), the strips are split across tasks
 * first, which costs a repeated im2col of the tile but no extra weight
 * traffic, then the tiles are made smaller. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/qconv_internal.h"

/* The tile the microkernel reads (the widened one when the kernel widens
 * A) is re-read once per strip, so it should stay in L2 beside a strip: the
 * budget of the GEMM driver's A tile. */
enum { IM2COL_TILE_BYTES = 192 << 10, IM2COL_TASKS_PER_THREAD = 4 };

qi_status qi_qconv_pack_gemm(qi_qconv_packed *w, const int8_t *wts,
                          const int32_t *bias, const float *mult,
                          qi_error *err) {
  const qi_u8s8_conv_params *p = &w->p;
  const int64_t cg_in = p->c_in / p->groups, cg_out = p->c_out / p->groups;
  const int64_t k = qi_u8s8_conv_k(p), taps = p->kh * p->kw;
  size_t one = qi_qgemm_packed_size(w->gemm_cfg, cg_out, k);
  if (!one)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "qconv pack: K = kh*kw*c_in/groups = %lld exceeds %d",
                   (long long)k, QI_U8S8_GEMM_MAX_K);
  one = qconv_round(one, QCONV_ALIGN);
  size_t total;
  if (__builtin_mul_overflow(one, (size_t)p->groups, &total))
    return qi_fail(err, QI_ERR_NOMEM, "qconv pack: weights too large");
  w->buf = qi_alloc_large(total);
  w->gemm = calloc((size_t)p->groups, sizeof *w->gemm);
  int8_t *rows = malloc((size_t)(cg_out * k));
  if (!w->buf || !w->gemm || !rows) {
    free(rows);
    return qi_fail(err, QI_ERR_NOMEM, "qconv pack: out of memory");
  }
  for (int64_t g = 0; g < p->groups; g++) {
    /* rows[co][t*cg_in + ci] = w[g*cg_out + co][ci][t], t = ky*kw + kx:
     * a copy for 1x1 kernels, else written in order (reads stride taps). */
    const int8_t *wg = wts + g * cg_out * k;
    if (taps == 1) {
      memcpy(rows, wg, (size_t)(cg_out * k));
    } else {
      for (int64_t co = 0; co < cg_out; co++) {
        int8_t *dst = rows + co * k;
        const int8_t *src = wg + co * k;
        for (int64_t t = 0; t < taps; t++, dst += cg_in)
          for (int64_t ci = 0; ci < cg_in; ci++) dst[ci] = src[ci * taps + t];
      }
    }
    const int32_t *bias_g = bias ? bias + g * cg_out : NULL;
    qi_status s = qi_qgemm_pack(
        w->gemm_cfg, cg_out, k, rows, (size_t)k, bias_g, p->za,
        mult + g * cg_out, (unsigned char *)w->buf + (size_t)g * one, one,
        &w->gemm[g], err);
    if (s != QI_OK) {
      free(rows);
      qi_error_prefix(err, "qconv pack: group %lld (output channels from %lld)",
                      (long long)g, (long long)(g * cg_out));
      return s;
    }
  }
  free(rows);
  return QI_OK;
}

typedef struct im2col_plan {
  size_t m, k, cg_out;
  size_t mc, mt;         /* tile rows (multiple of MR), number of tiles */
  size_t strips, spt, nt; /* NR strips, strips per task, tasks per tile */
  size_t tile_bytes, slice_bytes; /* per thread: u8 tile, tile + widened */
} im2col_plan;

static void plan_im2col(const qi_qconv_packed *w, int nthreads,
                        im2col_plan *pl) {
  const qi_qgemm_config *cfg = w->gemm_cfg;
  const size_t mr = (size_t)cfg->mr, nr = (size_t)cfg->nr;
  const size_t groups = (size_t)w->p.groups;
  pl->m = (size_t)(w->p.n * w->p.out_h * w->p.out_w);
  pl->k = (size_t)qi_u8s8_conv_k(&w->p);
  pl->cg_out = (size_t)(w->p.c_out / w->p.groups);
  const size_t widened = cfg->apack ? qi_u8s8_gemm_apack_stride(pl->k) : 0;
  size_t mc = IM2COL_TILE_BYTES / (widened ? widened : pl->k) / mr * mr;
  size_t m_all = qconv_round(pl->m, mr);
  mc = mc < mr ? mr : mc > m_all ? m_all : mc;
  size_t mt = qconv_div_up(pl->m, mc), nt = 1;
  pl->strips = qconv_div_up(pl->cg_out, nr);
  size_t target =
      nthreads > 1 ? (size_t)nthreads * IM2COL_TASKS_PER_THREAD : 1;
  if (mt * groups < target) {
    nt = qconv_div_up(target, mt * groups);
    if (nt > pl->strips) nt = pl->strips;
  }
  if (mt * groups * nt < target) {
    size_t want = qconv_div_up(target, groups * nt);
    mc = qconv_round(qconv_div_up(pl->m, want), mr);
  }
  /* Even out the tiles and strip ranges for the counts chosen. */
  mt = qconv_div_up(pl->m, mc);
  pl->mc = qconv_round(qconv_div_up(pl->m, mt), mr);
  pl->mt = qconv_div_up(pl->m, pl->mc);
  pl->spt = qconv_div_up(pl->strips, nt);
  pl->nt = qconv_div_up(pl->strips, pl->spt);
  pl->tile_bytes = qconv_round(pl->mc * pl->k, QCONV_ALIGN);
  /* The widened tile keeps slack for the fused im2col's last stores. */
  pl->slice_bytes =
      pl->tile_bytes + qconv_round(pl->mc * widened, QCONV_ALIGN) +
      (widened ? QI_QCONV_U16_SLACK : 0);
}

size_t qi_qconv_im2col_workspace(const qi_qconv_packed *w, int nthreads) {
  im2col_plan pl;
  plan_im2col(w, nthreads, &pl);
  return (size_t)nthreads * pl.slice_bytes;
}

typedef struct im2col_job {
  const qi_qconv_packed *w;
  const qconv_io *io;
  im2col_plan pl;
  unsigned char *scratch;
  int fused_u16; /* im2col writes the AVX2 kernel's widened rows itself */
} im2col_job;

static void im2col_task(void *arg, size_t task, int thread) {
  const im2col_job *j = arg;
  const im2col_plan *pl = &j->pl;
  const qconv_io *io = j->io;
  const qi_qgemm_config *cfg = j->w->gemm_cfg;
  const size_t nr = (size_t)cfg->nr, k = pl->k;
  const size_t ni = task % pl->nt, mi = task / pl->nt % pl->mt;
  const size_t g = task / pl->nt / pl->mt;
  const size_t m0 = mi * pl->mc;
  const size_t rows = pl->m - m0 < pl->mc ? pl->m - m0 : pl->mc;

  unsigned char *tile = j->scratch + (size_t)thread * pl->slice_bytes;
  const unsigned char *a = tile;
  size_t lda = k;
  if (j->fused_u16) {
    a = tile + pl->tile_bytes;
    lda = qi_u8s8_gemm_apack_stride(k);
    qi_qconv_im2col_rows_u16__avx2(&j->w->p, io->x, io->x_stride, (int64_t)g,
                                   (int64_t)m0, rows,
                                   (uint16_t *)(tile + pl->tile_bytes),
                                   lda / sizeof(uint16_t));
  } else {
    qi_qconv_im2col_rows(&j->w->p, io->x, io->x_stride, (int64_t)g,
                         (int64_t)m0, rows, tile, k);
    if (cfg->apack) {
      cfg->apack(rows, k, tile, k, tile + pl->tile_bytes);
      a = tile + pl->tile_bytes;
      lda = qi_u8s8_gemm_apack_stride(k);
    }
  }

  const qi_qgemm_packed *gw = &j->w->gemm[g];
  const size_t s0 = ni * pl->spt;
  const size_t s1 = s0 + pl->spt < pl->strips ? s0 + pl->spt : pl->strips;
  const size_t c0 = g * pl->cg_out; /* the group's first output channel */
  for (size_t s = s0; s < s1; s++) {
    const size_t n0 = s * nr;
    const size_t nc = pl->cg_out - n0 < nr ? pl->cg_out - n0 : nr;
    const unsigned char *strip =
        (const unsigned char *)gw->data + s * gw->strip_bytes;
    /* The kernel walks the tile's rows MR at a time itself. */
    cfg->ukernel(rows, nc, k, a, lda, strip,
                 (char *)io->y + (m0 * io->y_stride + c0 + n0) * io->esize,
                 io->y_stride,
                 io->r ? io->r + m0 * io->r_stride + c0 + n0 : NULL,
                 io->r_stride, &io->params);
  }
}

void qi_qconv_run_im2col(const qi_qconv_packed *w, const qconv_io *io,
                      qi_pool *pool, unsigned char *scratch) {
  im2col_job j;
  j.w = w;
  j.io = io;
  plan_im2col(w, qi_pool_size(pool), &j.pl);
  j.scratch = scratch;
  j.fused_u16 = w->gemm_cfg->apack == qi_u8s8_gemm_apack_u16__avx2 &&
                qi_qconv_im2col_u16_ok(&w->p, io->x_stride);
  qi_pool_run(pool, im2col_task, &j,
              (size_t)w->p.groups * j.pl.mt * j.pl.nt);
}
