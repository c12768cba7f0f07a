/* FP32 GEMM driver; see gemm_f32.h.
 *
 * Tasks are (batch, block of rows, block of GM_NC columns). Per K block of
 * GM_KC a task packs its B columns into 16-wide panels once and each
 * 6-row panel of A (scaled by alpha) before running the microkernel over
 * the columns, accumulating in C. One-row problems (a classifier head)
 * are matrix-vector products instead: packing would cost more than it
 * saves. */
#include "ops/gemm_f32.h"

#include <limits.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "fp32/gemv.h"

#define GM_KC 256
#define GM_NC 256
#define GM_MC_MAX 288          /* rows per task, a multiple of 6 */
#define GM_MIN_TASKS 8
#define GM_GEMV_COLS 256       /* columns per matrix-vector task */
#define GM_ALIGN 64

static size_t align_up(size_t n) {
  return (n + GM_ALIGN - 1) & ~(size_t)(GM_ALIGN - 1);
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static size_t bpack_bytes(void) {
  return align_up(sizeof(float) * GM_KC * GM_NC);
}

/* The A panel has 8 floats of slack for the vector packer. */
static size_t per_thread(void) {
  return bpack_bytes() + align_up(sizeof(float) * (GM_KC * QI_F32_GEMM_MR + 8));
}

size_t qi_f32_gemm_scratch(int nthreads) {
  return per_thread() * (size_t)(nthreads > 0 ? nthreads : 1);
}

int qi_f32_gemm_supported(const qi_f32_conv_kernels *kern, int64_t m,
                          int64_t n, int64_t k, int64_t b_cs) {
  if (kern->gemm_ukernel == qi_f32_gemm_ukernel_6x16__scalar) return 0;
  /* The B packer indexes columns with int32 offsets. */
  return m > 0 && n > 0 && k > 0 && b_cs > 0 && n <= INT32_MAX / b_cs;
}

static int64_t panel_cols(int64_t n) {
  return ceil_div(n, QI_F32_GEMM_NR) * QI_F32_GEMM_NR;
}

qi_f32_gemm_bpack *qi_f32_gemm_bpack_make(const float *b, int64_t b_rs,
                                          int64_t b_cs, int64_t k, int64_t n) {
  qi_f32_conv_kernels kern = qi_f32_conv_kernels_get();
  if (k <= 0 || n <= 0 || b_cs <= 0 || n > INT32_MAX / b_cs ||
      k > (int64_t)(SIZE_MAX / sizeof(float)) / panel_cols(n))
    return NULL;
  qi_f32_gemm_bpack *bp = malloc(sizeof *bp);
  if (!bp) return NULL;
  bp->k = k;
  bp->n = n;
  bp->data = qi_alloc_large(sizeof(float) * (size_t)k * (size_t)panel_cols(n));
  if (!bp->data) {
    free(bp);
    return NULL;
  }
  int64_t boff[GM_KC];
  for (int64_t kb = 0; kb < k; kb += GM_KC) {
    int64_t kc = k - kb < GM_KC ? k - kb : GM_KC;
    for (int64_t p = 0; p < kc; p++) boff[p] = (kb + p) * b_rs;
    qi_f32_pack_src src = {b, boff, INT64_MAX / 4, 0, b_cs};
    kern.pack_b(&src, (size_t)kc, 0, (size_t)n, bp->data + kb * panel_cols(n));
  }
  return bp;
}

void qi_f32_gemm_bpack_free(qi_f32_gemm_bpack *bp) {
  if (!bp) return;
  free(bp->data);
  free(bp);
}

typedef struct gm_job {
  const qi_f32_gemm *g;
  const qi_f32_conv_kernels *kern;
  char *scratch;
  int64_t mc, nmb, nnb;
  qi_f32_gemv_fn gemv;   /* one-row path */
} gm_job;

static void batch_offsets(const qi_f32_gemm *g, int64_t t, int64_t *ao,
                          int64_t *bo) {
  *ao = *bo = 0;
  if (g->offsets) g->offsets(g->offsets_ctx, t, ao, bo);
}

/* act(C + col_bias) on rows [0, rows) of C, columns [j0, j1): the bias
 * goes in as the epilogue's residual operand, one vector for every row. */
static void epilogue_rows(const qi_f32_gemm *g, float *c, int64_t rows,
                          int64_t j0, int64_t j1) {
  if (!g->epi) return;
  const float *cb = g->col_bias ? g->col_bias + j0 : NULL;
  if (!qi_epilogue_needed(g->epi, NULL, cb)) return;
  for (int64_t i = 0; i < rows; i++)
    qi_epilogue_span(g->epi, 0.0f, cb, c + i * g->n + j0, c + i * g->n + j0,
                     (size_t)(j1 - j0));
}

static void gemm_task(void *arg, size_t task, int thread) {
  const gm_job *j = arg;
  const qi_f32_gemm *g = j->g;
  int64_t t = (int64_t)task;
  const int64_t ni = t % j->nnb, mi = t / j->nnb % j->nmb, bt = t / j->nnb / j->nmb;
  const int64_t i0 = mi * j->mc, i1 = i0 + j->mc < g->m ? i0 + j->mc : g->m;
  const int64_t j0 = ni * GM_NC, j1 = j0 + GM_NC < g->n ? j0 + GM_NC : g->n;
  const int64_t nj = j1 - j0;
  int64_t ao, bo;
  batch_offsets(g, bt, &ao, &bo);
  const float *a = g->a + ao, *b = g->b + bo;
  float *c = g->c + bt * g->m * g->n;
  float *bpack = (float *)(j->scratch + (size_t)thread * per_thread());
  float *apack = (float *)((char *)bpack + bpack_bytes());
  int64_t boff[GM_KC];
  for (int64_t kb = 0; kb < g->k; kb += GM_KC) {
    int64_t kc = g->k - kb < GM_KC ? g->k - kb : GM_KC;
    const float *bp;
    if (g->b_packed) {
      /* Block (kb, j0) of the prepacked panels (see qi_f32_gemm_bpack). */
      bp = g->b_packed->data + kb * panel_cols(g->n) + j0 * kc;
    } else {
      for (int64_t p = 0; p < kc; p++) boff[p] = (kb + p) * g->b_rs;
      /* Columns never wrap to a new "row": ow past any column index. */
      qi_f32_pack_src src = {b, boff, INT64_MAX / 4, 0, g->b_cs};
      j->kern->pack_b(&src, (size_t)kc, j0, (size_t)nj, bpack);
      bp = bpack;
    }
    const int acc = g->accumulate || kb > 0;
    for (int64_t q = i0; q < i1; q += QI_F32_GEMM_MR) {
      j->kern->pack_a(a + kb * g->a_cs, g->a_rs, g->a_cs, g->m, kc, q,
                      g->alpha, apack);
      int64_t mr = g->m - q < QI_F32_GEMM_MR ? g->m - q : QI_F32_GEMM_MR;
      for (int64_t col = 0; col < nj; col += QI_F32_GEMM_NR) {
        int64_t nr = nj - col < QI_F32_GEMM_NR ? nj - col : QI_F32_GEMM_NR;
        j->kern->gemm_ukernel((size_t)kc, apack, bp + col * kc,
                              QI_F32_GEMM_NR, c + q * g->n + j0 + col,
                              (size_t)g->n, (size_t)mr, (size_t)nr, acc);
      }
    }
  }
  epilogue_rows(g, c + i0 * g->n, i1 - i0, j0, j1);
}

static void gemv_task(void *arg, size_t task, int thread) {
  (void)thread;
  const gm_job *j = arg;
  const qi_f32_gemm *g = j->g;
  const int64_t ni = (int64_t)task % j->nnb, bt = (int64_t)task / j->nnb;
  const int64_t j0 = ni * GM_GEMV_COLS;
  const int64_t j1 = j0 + GM_GEMV_COLS < g->n ? j0 + GM_GEMV_COLS : g->n;
  int64_t ao, bo;
  batch_offsets(g, bt, &ao, &bo);
  float *c = g->c + bt * g->n;
  if (g->b_cs == 1) /* B rows contiguous: y += x[p] * B[p][:] */
    j->gemv(j1 - j0, g->k, g->alpha, g->a + ao, g->b + bo + j0, g->b_rs,
            c + j0, g->accumulate);
  else /* B columns contiguous: dot products */
    j->gemv(j1 - j0, g->k, g->alpha, g->a + ao, g->b + bo + j0 * g->b_cs,
            g->b_cs, c + j0, g->accumulate);
  epilogue_rows(g, c, 1, j0, j1);
}

void qi_f32_gemm_run(qi_pool *pool, const qi_f32_conv_kernels *kern,
                     const qi_f32_gemm *g, void *scratch) {
  gm_job j = {g, kern, scratch, 0, 1, 1, NULL};
  if (g->m == 1 && g->a_cs == 1 && (g->b_cs == 1 || g->b_rs == 1)) {
    j.gemv = g->b_cs == 1 ? qi_f32_gemv_cols__avx2 : qi_f32_gemv_rows__avx2;
    j.nnb = ceil_div(g->n, GM_GEMV_COLS);
    qi_pool_run(pool, gemv_task, &j, (size_t)(g->nbatch * j.nnb));
    return;
  }
  j.nnb = ceil_div(g->n, GM_NC);
  int64_t mc = GM_MC_MAX;
  int64_t blocks = g->nbatch * j.nnb;
  if (blocks < GM_MIN_TASKS && g->m > QI_F32_GEMM_MR) {
    int64_t want = ceil_div(GM_MIN_TASKS, blocks);
    int64_t rows = ceil_div(g->m, want);
    rows = ceil_div(rows, QI_F32_GEMM_MR) * QI_F32_GEMM_MR;
    if (rows < mc) mc = rows;
  }
  j.mc = mc;
  j.nmb = ceil_div(g->m, mc);
  qi_pool_run(pool, gemm_task, &j, (size_t)(g->nbatch * j.nmb * j.nnb));
}
