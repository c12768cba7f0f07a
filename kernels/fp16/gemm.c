/* FP16 GEMM: weight packing, the block driver and the scalar
 * microkernel; see gemm.h. */
#include "fp16/gemm.h"

#include <string.h>

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

size_t qi_f16_gemm_packed_halves(int64_t n, int64_t k) {
  return (size_t)(ceil_div(n, QI_F16_GEMM_NR) * QI_F16_GEMM_NR * k);
}

void qi_f16_gemm_pack(const uint16_t *w, int64_t n, int64_t k, int64_t rs,
                      int64_t cs, uint16_t *packed) {
  int64_t npanels = ceil_div(n, QI_F16_GEMM_NR);
  for (int64_t t = 0; t < npanels; t++)
    for (int64_t p = 0; p < k; p++) {
      uint16_t *d = packed + (t * k + p) * QI_F16_GEMM_NR;
      for (int64_t c = 0; c < QI_F16_GEMM_NR; c++) {
        int64_t j = t * QI_F16_GEMM_NR + c;
        d[c] = j < n ? w[j * rs + p * cs] : 0;
      }
    }
}

void qi_f16_gemm_ukernel_6x16__scalar(size_t kc, const float *a,
                                      const uint16_t *b, float *c, size_t ldc,
                                      size_t mr, int accumulate) {
  float acc[QI_F16_GEMM_MR][QI_F16_GEMM_NR] = {{0}};
  for (size_t p = 0; p < kc; p++) {
    float bf[QI_F16_GEMM_NR];
    for (size_t j = 0; j < QI_F16_GEMM_NR; j++)
      bf[j] = qi_f16_to_f32_one(b[p * QI_F16_GEMM_NR + j]);
    for (size_t i = 0; i < mr; i++)
      for (size_t j = 0; j < QI_F16_GEMM_NR; j++)
        acc[i][j] += a[p * QI_F16_GEMM_MR + i] * bf[j];
  }
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < QI_F16_GEMM_NR; j++)
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

int64_t qi_f16_gemm_num_blocks(const qi_f16_gemm_args *g) {
  return ceil_div(g->m, QI_F16_GEMM_MC) * ceil_div(g->n, QI_F16_GEMM_NC);
}

/* Scratch: the float tile [MC][NC], the A panel [KC][6] and one widened
 * row of A [KC]. */
size_t qi_f16_gemm_scratch_bytes(void) {
  return sizeof(float) *
         (size_t)(QI_F16_GEMM_MC * QI_F16_GEMM_NC +
                  QI_F16_GEMM_KC * QI_F16_GEMM_MR + QI_F16_GEMM_KC);
}

/* Rows [r0, r0 + mr) of A, columns [kb, kb + kc), widened into a k-major
 * panel of 6 rows (zero past mr). */
static void pack_a(const qi_f16_kernels *kern, const qi_f16_gemm_args *g,
                   int64_t r0, int64_t mr, int64_t kb, int64_t kc, float *panel,
                   float *row) {
  for (int64_t i = 0; i < QI_F16_GEMM_MR; i++) {
    if (i >= mr) {
      for (int64_t p = 0; p < kc; p++) panel[p * QI_F16_GEMM_MR + i] = 0.0f;
      continue;
    }
    kern->to_f32(g->a + (r0 + i) * g->lda + kb, row, (size_t)kc);
    for (int64_t p = 0; p < kc; p++) panel[p * QI_F16_GEMM_MR + i] = row[p];
  }
}

void qi_f16_gemm_block(const qi_f16_kernels *kern, const qi_f16_gemm_args *g,
                       int64_t block, void *scratch) {
  const int64_t ncb = ceil_div(g->n, QI_F16_GEMM_NC);
  const int64_t m0 = block / ncb * QI_F16_GEMM_MC,
                n0 = block % ncb * QI_F16_GEMM_NC;
  const int64_t m1 = m0 + QI_F16_GEMM_MC < g->m ? m0 + QI_F16_GEMM_MC : g->m;
  const int64_t n1 = n0 + QI_F16_GEMM_NC < g->n ? n0 + QI_F16_GEMM_NC : g->n;
  const int64_t npan = ceil_div(n1 - n0, QI_F16_GEMM_NR);
  float *cbuf = scratch;
  float *panel = cbuf + QI_F16_GEMM_MC * QI_F16_GEMM_NC;
  float *row = panel + QI_F16_GEMM_KC * QI_F16_GEMM_MR;
  if (g->k == 0)
    memset(cbuf, 0, sizeof(float) * QI_F16_GEMM_MC * QI_F16_GEMM_NC);
  for (int64_t kb = 0; kb < g->k; kb += QI_F16_GEMM_KC) {
    int64_t kc = g->k - kb < QI_F16_GEMM_KC ? g->k - kb : QI_F16_GEMM_KC;
    for (int64_t r0 = m0; r0 < m1; r0 += QI_F16_GEMM_MR) {
      int64_t mr = m1 - r0 < QI_F16_GEMM_MR ? m1 - r0 : QI_F16_GEMM_MR;
      pack_a(kern, g, r0, mr, kb, kc, panel, row);
      for (int64_t t = 0; t < npan; t++) {
        const uint16_t *b =
            g->wpack + ((n0 / QI_F16_GEMM_NR + t) * g->k + kb) * QI_F16_GEMM_NR;
        kern->gemm((size_t)kc, panel, b,
                   cbuf + (r0 - m0) * QI_F16_GEMM_NC + t * QI_F16_GEMM_NR,
                   QI_F16_GEMM_NC, (size_t)mr, kb > 0);
      }
    }
  }
  for (int64_t r = m0; r < m1; r++) {
    void *y = g->y_f32 ? (void *)((float *)g->y + r * g->ldy + n0)
                       : (void *)((uint16_t *)g->y + r * g->ldy + n0);
    kern->epilogue(&g->act, cbuf + (r - m0) * QI_F16_GEMM_NC,
                   g->bias ? g->bias + n0 : NULL, 0.0f, NULL, y, g->y_f32,
                   (size_t)(n1 - n0));
  }
}
