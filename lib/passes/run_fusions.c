/*
 * The fusion passes in dependency order:
 *  - pass-through nodes go first so that patterns see the real producers
 *    (exporters put x * 1.0 before Sigmoid in SiLU, for example);
 *  - BatchNorm and per-channel affine folding before anything that looks
 *    at what follows a conv;
 *  - pattern matchers before fuse_activation, which fuses their results;
 *  - residual Add before fuse_activation, so Conv -> Add -> Relu becomes
 *    one conv that sums, then activates; likewise MatMul -> Add(bias) ->
 *    Gelu becomes one MatMul;
 *  - a final sweep for nodes left unread, then compaction.
 */
#include "core/error.h"
#include "passes/passes.h"

static qi_status run_fusions(qi_graph *g, int for_int8, qi_error *err) {
  if (!g) return qi_fail(err, QI_ERR_INVALID_ARG, "no graph to optimise");
  QI_TRY(qi_pass_remove_dead(g, err));
  QI_TRY(qi_pass_fold_batchnorm(g, err));
  QI_TRY(qi_pass_fold_conv_affine(g, err));
  QI_TRY(qi_pass_match_gelu(g, err));
  QI_TRY(qi_pass_match_layernorm(g, err));
  QI_TRY(qi_pass_match_hardswish_silu(g, err));
  QI_TRY(qi_pass_fuse_residual_add(g, err));
  QI_TRY(qi_pass_fuse_matmul_bias(g, err));
  QI_TRY(qi_pass_fuse_activation(g, for_int8, err));
  QI_TRY(qi_pass_remove_dead(g, err));
  return qi_graph_compact(g, err);
}

qi_status qi_passes_run_fusions(qi_graph *g, qi_error *err) {
  return run_fusions(g, 0, err);
}

qi_status qi_passes_run_fusions_for_int8(qi_graph *g, qi_error *err) {
  return run_fusions(g, 1, err);
}
