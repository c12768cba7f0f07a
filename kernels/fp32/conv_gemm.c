/* Scalar reference of the implicit-GEMM microkernel and the packing; see
 * conv_gemm.h. */
#include "fp32/conv_gemm.h"

#include "fp32/bias_act.h"


void qi_f32_gemm_ukernel_6x16__scalar(size_t kc, const float *a,
                                      const float *b, size_t ldb, float *c,
                                      size_t ldc, size_t mr, size_t nr,
                                      int accumulate) {
  float acc[QI_F32_GEMM_MR][QI_F32_GEMM_NR] = {{0}};
  for (size_t k = 0; k < kc; k++)
    for (size_t i = 0; i < mr; i++)
      for (size_t j = 0; j < nr; j++)
        acc[i][j] += a[k * QI_F32_GEMM_MR + i] * b[k * ldb + j];
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < nr; j++)
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

int qi_f32_gemm_epi_fusable(int act) {
  return act == QI_F32_ACT_NONE || act == QI_F32_ACT_RELU ||
         act == QI_F32_ACT_CLIP;
}

/* The bias_act.c formulas of the fusable kinds. */
static float epi_act(const qi_f32_gemm_epi *e, float x) {
  if (e->act == QI_F32_ACT_RELU) return x > 0.0f ? x : 0.0f;
  if (e->act == QI_F32_ACT_CLIP)
    return x < e->lo ? e->lo : (x > e->hi ? e->hi : x);
  return x;
}

void qi_f32_gemm_epi_tile(const qi_f32_gemm_epi *e,
                          const float t[QI_F32_GEMM_MR][QI_F32_GEMM_NR],
                          float *c, size_t ldc, size_t mr, size_t nr) {
  for (size_t i = 0; i < mr; i++) {
    const float bias = e->bias ? e->bias[i] : 0.0f;
    for (size_t j = 0; j < nr; j++) {
      float v = t[i][j];
      if (e->acc) v = e->acc[i * e->ld_acc + j] + v;
      v = v + bias;
      if (e->res) v = v + e->res[i * e->ld_res + j];
      c[i * ldc + j] = epi_act(e, v);
    }
  }
}

void qi_f32_gemm_ukernel_6x16_epi__scalar(size_t kc, const float *a,
                                          const float *b, size_t ldb, float *c,
                                          size_t ldc, size_t mr, size_t nr,
                                          const qi_f32_gemm_epi *e) {
  float acc[QI_F32_GEMM_MR][QI_F32_GEMM_NR] = {{0}};
  for (size_t k = 0; k < kc; k++)
    for (size_t i = 0; i < mr; i++)
      for (size_t j = 0; j < nr; j++)
        acc[i][j] += a[k * QI_F32_GEMM_MR + i] * b[k * ldb + j];
  qi_f32_gemm_epi_tile(e, (const float(*)[QI_F32_GEMM_NR])acc, c, ldc, mr, nr);
}

void qi_f32_gemm_pack_a_6(const float *w, int64_t m, int64_t k, int64_t ldw,
                          int64_t m0, float *panel) {
  for (int64_t kk = 0; kk < k; kk++)
    for (int64_t i = 0; i < QI_F32_GEMM_MR; i++)
      panel[kk * QI_F32_GEMM_MR + i] =
          m0 + i < m ? w[(m0 + i) * ldw + kk] : 0.0f;
}

void qi_f32_gemm_pack_a_6s(const float *a, int64_t rs, int64_t cs, int64_t m,
                           int64_t k, int64_t m0, float alpha, float *panel) {
  for (int64_t i = 0; i < QI_F32_GEMM_MR; i++) {
    if (m0 + i >= m) {
      for (int64_t kk = 0; kk < k; kk++) panel[kk * QI_F32_GEMM_MR + i] = 0.0f;
      continue;
    }
    const float *row = a + (m0 + i) * rs;
    for (int64_t kk = 0; kk < k; kk++)
      panel[kk * QI_F32_GEMM_MR + i] = alpha * row[kk * cs];
  }
}

void qi_f32_gemm_pack_b_16__scalar(const qi_f32_pack_src *s, size_t kc,
                                   int64_t j0, size_t n, float *dst) {
  const size_t panel = kc * QI_F32_GEMM_NR;
  for (size_t k = 0; k < kc; k++) {
    const float *tap = s->img + s->boff[k];
    float *d = dst + k * QI_F32_GEMM_NR;
    int64_t oh = j0 / s->ow, ow = j0 % s->ow;
    for (size_t c = 0; c < n; c++) {
      d[c / QI_F32_GEMM_NR * panel + c % QI_F32_GEMM_NR] =
          tap[oh * s->row_pitch + ow * s->sw];
      if (++ow == s->ow) {
        ow = 0;
        oh++;
      }
    }
    for (size_t c = n; c % QI_F32_GEMM_NR; c++)
      d[c / QI_F32_GEMM_NR * panel + c % QI_F32_GEMM_NR] = 0.0f;
  }
}
