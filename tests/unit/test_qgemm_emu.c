/* The u8s8 GEMM kernels of every ISA, compiled here over emulated
 * intrinsics (x86_emu.h) so that their code (tails, masks, packing layout,
 * epilogue order) is checked byte for byte on any machine, including one
 * without AVX-512 VNNI or AVX-VNNI. The AVX2 kernel is emulated as well:
 * test_qgemm checks its real build against the same oracle, which pins the
 * emulation of the instructions the kernels share. Real hardware remains
 * the final word for the VNNI paths: test_qgemm runs them where present. */
#include <stdio.h>

#include "core/qgemm.h"
#include "qgemm_cases.h"
#include "qtest.h"

#include "x86_emu.h"

#include "emu_vnni_kernels.h"

#define MR emuavx2_mr
#define NR emuavx2_nr
#define load_u32 emuavx2_load_u32
#define load_tail emuavx2_load_tail
#define qi_u8s8_gemm_requant_ukernel_4x16c2__avx2 emu_ukernel_4x16c2
#define qi_u8s8_gemm_apack_u16__avx2 emu_apack_u16
#include "gemm/4x16c2-avx2.c"
#include "emu_kernel_end.h"

static qi_pool *g_pool2;

/* The real config of `isa` with its microkernel swapped for the emulated
 * build of the same source. */
static qi_qgemm_config emulated(qi_isa isa, qi_u8s8_gemm_ukernel_fn fn,
                                qi_u8s8_gemm_apack_fn apack) {
  qi_qgemm_config cfg = *qi_qgemm_config_of(isa);
  cfg.ukernel = fn;
  cfg.apack = apack;
  return cfg;
}

static void run(qt_state *st, const qi_qgemm_config *cfg) {
  qc_sweep_tiles(st, cfg);
  qc_epilogue_edges(st, cfg);
  qc_apack_check(st, cfg);
  qc_sweep_driver(st, cfg, g_pool2);
  if (qc_long_tests()) qc_sweep_random(st, cfg, g_pool2, 150);
}

static void test_emu_avx512vnni(qt_state *st) {
  qi_qgemm_config cfg = emulated(QI_ISA_AVX512VNNI, emu_ukernel_8x32c4, NULL);
  run(st, &cfg);
}
static void test_emu_avxvnni(qt_state *st) {
  qi_qgemm_config cfg = emulated(QI_ISA_AVXVNNI, emu_ukernel_6x16c4, NULL);
  run(st, &cfg);
}
static void test_emu_avx2(qt_state *st) {
  qi_qgemm_config cfg = emulated(QI_ISA_AVX2, emu_ukernel_4x16c2, emu_apack_u16);
  run(st, &cfg);
}

/* The emulated instructions on hand-worked values. */
static void test_emu_instructions(qt_state *st) {
  __m512i acc = _mm512_set1_epi32(-5);
  __m512i a = _mm512_set1_epi32((int32_t)0xFF80FF01u); /* 1, 255, 128, 255 */
  __m512i b = _mm512_set1_epi32((int32_t)0x817F7F81u); /* -127, 127, 127, -127 */
  acc = _mm512_dpbusd_epi32(acc, a, b);
  QT_CHECK(st, acc.i32[7] == -5 - 127 + 255 * 127 + 128 * 127 - 255 * 127);
  __m256 v = _mm256_set1_ps(2.5f);
  QT_CHECK(st, _mm256_cvtps_epi32(v).i32[3] == 2); /* half to even */
  v = _mm256_set1_ps(-3.5f);
  QT_CHECK(st, _mm256_cvtps_epi32(v).i32[0] == -4);
  v = _mm256_set1_ps(3e9f);
  QT_CHECK(st, _mm256_cvtps_epi32(v).i32[0] == INT32_MIN);
  __m256i w = _mm256_set1_epi32((int32_t)0x7FFF8001); /* -32767, 32767 */
  __m256i x = _mm256_set1_epi32((int32_t)0x00FF00FF); /* 255, 255 */
  QT_CHECK(st, _mm256_madd_epi16(x, w).i32[5] == 0);
  /* vpackssdw / vpackuswb work per 128-bit lane; vpermd crosses them. */
  __m256i p = _mm256_setr_epi32(70000, -70000, 5, -5, 1, 2, 3, 4);
  __m256i q = _mm256_setr_epi32(10, 11, 12, 13, 20, 21, 22, 23);
  __m256i pk = _mm256_packs_epi32(p, q);
  QT_CHECK(st, pk.i16[0] == 32767 && pk.i16[1] == -32768 &&
                   pk.i16[4] == 10 && pk.i16[8] == 1 && pk.i16[12] == 20);
  __m256i sat = _mm256_adds_epi16(pk, _mm256_set1_epi16(255));
  QT_CHECK(st, sat.i16[0] == 32767 && sat.i16[1] == -32513 &&
                   sat.i16[3] == 250);
  __m256i u = _mm256_packus_epi16(sat, _mm256_set1_epi16(300));
  QT_CHECK(st, u.u8[0] == 255 && u.u8[1] == 0 && u.u8[2] == 255 &&
                   u.u8[3] == 250 && u.u8[8] == 255 && u.u8[16] == 255);
  __m256i mx = _mm256_max_epu8(u, _mm256_set1_epi8((char)200));
  QT_CHECK(st, mx.u8[1] == 200 && mx.u8[0] == 255 && mx.u8[3] == 250);
  __m256i perm = _mm256_permutevar8x32_epi32(
      q, _mm256_setr_epi32(7, 0, 12, 1, 2, 3, 4, 5)); /* index mod 8 */
  QT_CHECK(st, perm.i32[0] == 23 && perm.i32[1] == 10 && perm.i32[2] == 20);
  __m512i big = _mm512_set1_epi32(300);
  QT_CHECK(st, _mm512_cvtusepi32_epi8(big).u8[0] == 255);
}

int main(void) {
  qt_state st = {0};
  qc_catch_faults(&st);
  g_pool2 = qi_pool_create(2);
  if (!g_pool2) {
    fprintf(stderr, "cannot create a thread pool\n");
    return 1;
  }
  QT_RUN(&st, test_emu_instructions);
  QT_RUN(&st, test_emu_avx2);
  QT_RUN(&st, test_emu_avxvnni);
  QT_RUN(&st, test_emu_avx512vnni);
  qi_pool_free(g_pool2);
  return qt_summary(&st);
}
