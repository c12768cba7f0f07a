/* GEMM driver: weight packing checks, cache blocking and threading.
 *
 * The microkernel always runs over the whole of K: the int32 accumulator
 * must be complete before the epilogue, and K <= 65536 keeps the packed
 * strip of one register tile (NR x K bytes) in L1/L2. Blocking is over M
 * and N instead: a task is an mc x nc tile, walked strip by strip (the
 * strip of NR channels stays hot in L1 while the MR-row blocks of the A
 * tile, sized to stay in L2, stream past it). With several threads the
 * tiles are split until there are a few per thread, splitting whichever
 * dimension has more register tiles, so small-M shapes (M = 1..197) divide
 * over N and large-M shapes over M. Kernels that read A widened (AVX2)
 * get each task's A tile packed into the thread's slice of the scratch
 * first; it is reused by every strip of the tile, and by the thread's next
 * task when that is on the same M tile (tasks are M-major): the repacking
 * per N tile cost up to a fifth of the time (49x512x4608: 32 N tiles). */
#include "core/qgemm.h"

#include <string.h>

#include "core/error.h"

/* Working-set budgets per core: the A tile (re-read once per strip) and
 * the B tile (re-read once per M tile). */
enum { QGEMM_A_TILE_BYTES = 192 << 10, QGEMM_B_TILE_BYTES = 256 << 10 };
enum { QGEMM_TASKS_PER_THREAD = 4 };
/* Bytes before each thread's packed A tile in the scratch: its tag. */
enum { QGEMM_SLICE_TAG = 64 };

static size_t round_up(size_t x, size_t q) { return (x + q - 1) / q * q; }
static size_t div_up(size_t x, size_t q) { return (x + q - 1) / q; }

size_t qi_qgemm_packed_size(const qi_qgemm_config *cfg, int64_t n,
                            int64_t k) {
  if (!cfg || n < 1 || k < 1 || k > QI_U8S8_GEMM_MAX_K || n > INT32_MAX)
    return 0;
  /* <= 2^31 strips of <= 32 * (8 + 2 * 65536) bytes: fits 64-bit size_t. */
  return qi_u8s8_gemm_packed_bytes((size_t)n, (size_t)k, (size_t)cfg->nr,
                                   (size_t)cfg->w_bytes);
}

qi_status qi_qgemm_pack(const qi_qgemm_config *cfg, int64_t n, int64_t k,
                        const int8_t *b, size_t ldb, const int32_t *bias,
                        int32_t za, const float *mult, void *buf,
                        size_t buf_size, qi_qgemm_packed *out,
                        qi_error *err) {
  if (!cfg || !b || !mult || !buf || !out)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qgemm pack: NULL argument");
  size_t need = qi_qgemm_packed_size(cfg, n, k);
  if (!need)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "qgemm pack: weights %lld x %lld out of range (K <= %d)",
                   (long long)n, (long long)k, QI_U8S8_GEMM_MAX_K);
  if (ldb < (size_t)k)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qgemm pack: ldb %zu < K %lld", ldb, (long long)k);
  if (za < 0 || za > 255)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qgemm pack: activation zero point %d not in 0..255",
                   (int)za);
  if (buf_size < need)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qgemm pack: buffer of %zu bytes, %zu needed", buf_size,
                   need);
  int64_t bad = cfg->pack((size_t)n, (size_t)k, (size_t)cfg->nr, b, ldb,
                          bias, za, mult, buf);
  if (bad >= 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "qgemm pack: output channel %lld: bias and weights can "
                   "overflow the int32 accumulator",
                   (long long)bad);
  out->cfg = cfg;
  out->n = n;
  out->k = k;
  out->strip_bytes = qi_u8s8_gemm_strip_bytes((size_t)k, (size_t)cfg->nr,
                                              (size_t)cfg->w_bytes);
  out->data = buf;
  return QI_OK;
}

qi_requant_params qi_requant_params_default(void) {
  qi_requant_params p;
  memset(&p, 0, sizeof p);
  p.qmax = 255;
  return p;
}

typedef struct qgemm_job {
  const qi_qgemm_packed *w;
  const uint8_t *a;
  size_t lda;
  size_t m;
  char *c;
  size_t ldc, esize;
  const uint8_t *r;
  size_t ldr;
  qi_u8s8_gemm_params params;
  size_t mc, nc, mt, nt; /* tile sizes, numbers of M and N tiles */
  unsigned char *scratch;
  size_t slice_bytes; /* per thread, for the packed A tile */
} qgemm_job;

static void qgemm_task(void *arg, size_t task, int thread) {
  const qgemm_job *j = arg;
  const qi_qgemm_config *cfg = j->w->cfg;
  const size_t nr = (size_t)cfg->nr;
  const size_t n = (size_t)j->w->n, k = (size_t)j->w->k;
  /* M-major: the tasks of one M tile follow each other, so a thread that
   * takes several of them packs the A tile once (see the tag below). */
  size_t m0 = task / j->nt * j->mc, n0 = task % j->nt * j->nc;
  size_t m1 = m0 + j->mc < j->m ? m0 + j->mc : j->m;
  size_t n1 = n0 + j->nc < n ? n0 + j->nc : n;
  const uint8_t *a = j->a + m0 * j->lda;
  size_t lda = j->lda;
  if (cfg->apack) {
    /* The slice starts with a tag: 1 + the first row of the tile packed in
     * it during this call (0: none; qi_qgemm clears the tags first). */
    unsigned char *slice = j->scratch + (size_t)thread * j->slice_bytes;
    unsigned char *packed = slice + QGEMM_SLICE_TAG;
    size_t tag;
    memcpy(&tag, slice, sizeof tag);
    if (tag != m0 + 1) {
      cfg->apack(m1 - m0, k, a, lda, packed);
      tag = m0 + 1;
      memcpy(slice, &tag, sizeof tag);
    }
    a = packed;
    lda = qi_u8s8_gemm_apack_stride(k);
  }
  const char *strip = (const char *)j->w->data + n0 / nr * j->w->strip_bytes;
  for (size_t nn = n0; nn < n1; nn += nr, strip += j->w->strip_bytes) {
    size_t ncur = n1 - nn < nr ? n1 - nn : nr;
    /* The kernel walks the tile's rows MR at a time itself. */
    cfg->ukernel(m1 - m0, ncur, k, a, lda, strip,
                 j->c + (m0 * j->ldc + nn) * j->esize, j->ldc,
                 j->r ? j->r + m0 * j->ldr + nn : NULL, j->ldr, &j->params);
  }
}

/* Chooses mc (multiple of MR) and nc (multiple of NR); see the top. */
static void plan_tiles(qgemm_job *j, int nthreads) {
  const qi_qgemm_config *cfg = j->w->cfg;
  const size_t mr = (size_t)cfg->mr, nr = (size_t)cfg->nr;
  const size_t n = (size_t)j->w->n, kpad = round_up((size_t)j->w->k, 4);
  const size_t a_row = cfg->apack ? qi_u8s8_gemm_apack_stride(kpad) : kpad;
  size_t m_all = round_up(j->m, mr), n_all = round_up(n, nr);
  size_t mc = QGEMM_A_TILE_BYTES / a_row / mr * mr;
  size_t nc = QGEMM_B_TILE_BYTES / (kpad * (size_t)cfg->w_bytes) / nr * nr;
  mc = mc < mr ? mr : mc > m_all ? m_all : mc;
  nc = nc < nr ? nr : nc > n_all ? n_all : nc;
  size_t target = nthreads > 1 ? (size_t)nthreads * QGEMM_TASKS_PER_THREAD : 1;
  while (div_up(j->m, mc) * div_up(n, nc) < target) {
    size_t mblocks = mc / mr, nblocks = nc / nr;
    if (mblocks <= 1 && nblocks <= 1) break;
    if (mblocks >= nblocks)
      mc = round_up(div_up(mc, 2), mr);
    else
      nc = round_up(div_up(nc, 2), nr);
  }
  /* Even out the tiles for the counts chosen. */
  size_t mt = div_up(j->m, mc), nt = div_up(n, nc);
  j->mc = round_up(div_up(j->m, mt), mr);
  j->nc = round_up(div_up(n, nt), nr);
  j->mt = div_up(j->m, j->mc);
  j->nt = div_up(n, j->nc);
  const size_t tile = round_up(j->mc * qi_u8s8_gemm_apack_stride(kpad), 64);
  j->slice_bytes = cfg->apack ? QGEMM_SLICE_TAG + tile : 0;
}

size_t qi_qgemm_workspace_size(const qi_qgemm_packed *w, int64_t m,
                               int nthreads) {
  if (!w || !w->cfg || !w->cfg->apack || m <= 0) return 0;
  qgemm_job j;
  memset(&j, 0, sizeof j);
  j.w = w;
  j.m = (size_t)m;
  plan_tiles(&j, nthreads < 1 ? 1 : nthreads);
  return (size_t)(nthreads < 1 ? 1 : nthreads) * j.slice_bytes;
}

qi_status qi_qgemm(const qi_qgemm_packed *w, const uint8_t *a, size_t lda,
                   int64_t m, const qi_requant_params *rp, void *c,
                   size_t ldc, qi_pool *pool, void *scratch,
                   size_t scratch_size, qi_error *err) {
  if (!w || !w->cfg || !w->data || !rp)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qgemm: NULL weights or params");
  if (m < 0)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qgemm: M = %lld", (long long)m);
  if (m == 0) return QI_OK;
  if (!a || !c)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qgemm: NULL A or C");
  if (lda < (size_t)w->k || ldc < (size_t)w->n)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qgemm: lda %zu < K %lld or ldc %zu < N %lld", lda,
                   (long long)w->k, ldc, (long long)w->n);
  if (!rp->out_f32 && (rp->zy < 0 || rp->zy > 255 || rp->qmin < 0 ||
                       rp->qmax > 255 || rp->qmin > rp->qmax))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qgemm: zero point %d / clamp [%d, %d] outside 0..255",
                   (int)rp->zy, (int)rp->qmin, (int)rp->qmax);
  if (rp->residual && (rp->out_f32 || rp->ldr < (size_t)w->n ||
                       rp->zr < 0 || rp->zr > 255))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qgemm: residual needs uint8 output, ldr >= N and a "
                   "zero point in 0..255");

  qgemm_job j;
  j.w = w;
  j.a = a;
  j.lda = lda;
  j.m = (size_t)m;
  j.c = c;
  j.ldc = ldc;
  j.esize = rp->out_f32 ? sizeof(float) : 1;
  j.r = rp->residual;
  j.ldr = rp->ldr;
  j.params = qi_u8s8_gemm_params_make(rp->out_f32, rp->zy, rp->qmin,
                                      rp->qmax, rp->zr, rp->rmult);
  int nthreads = qi_pool_size(pool);
  plan_tiles(&j, nthreads);
  j.scratch = scratch;
  if (j.slice_bytes && (!scratch || scratch_size < (size_t)nthreads *
                                                        j.slice_bytes))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qgemm: scratch of %zu bytes, %zu needed (see "
                   "qi_qgemm_workspace_size)",
                   scratch ? scratch_size : 0,
                   (size_t)nthreads * j.slice_bytes);
  for (int t = 0; j.slice_bytes && t < nthreads; t++)
    memset(j.scratch + (size_t)t * j.slice_bytes, 0, sizeof(size_t));
  qi_pool_run(pool, qgemm_task, &j, j.mt * j.nt);
  return QI_OK;
}
