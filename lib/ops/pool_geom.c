/* Pool window attributes and output lengths (pool_geom.h). */
#include "ops/pool_geom.h"

/* An INTS attribute of exactly `want` values in [lo, hi], or `def` in every
 * entry when absent and not required. */
static qi_status ints_attr(const qi_node *n, const char *name, int want,
                           int64_t lo, int64_t def, int required,
                           int64_t *vals, qi_error *err) {
  const int64_t hi = QI_POOL_ATTR_LIMIT;
  const int64_t *v;
  int cnt = qi_attr_ints(n, name, &v);
  if (cnt < 0) {
    if (required)
      return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): attribute %s missing",
                     n->name, n->op_type, name);
    for (int i = 0; i < want; i++) vals[i] = def;
    return QI_OK;
  }
  if (cnt != want)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (%s): attribute %s has %d values, expected %d",
                   n->name, n->op_type, name, cnt, want);
  for (int i = 0; i < want; i++) {
    if (v[i] < lo || v[i] > hi)
      return qi_fail(err, QI_ERR_PARSE,
                     "node '%s' (%s): attribute %s[%d] = %lld out of range "
                     "%lld..%lld",
                     n->name, n->op_type, name, i, (long long)v[i],
                     (long long)lo, (long long)hi);
    vals[i] = v[i];
  }
  return QI_OK;
}

qi_status qi_pool_window_read(const qi_node *n, int sr, qi_pool_window *w,
                              qi_error *err) {
  int64_t pads[2 * QI_POOL_MAX_SPATIAL];
  QI_TRY(ints_attr(n, "kernel_shape", sr, 1, 1, 1, w->k, err));
  QI_TRY(ints_attr(n, "strides", sr, 1, 1, 0, w->s, err));
  QI_TRY(ints_attr(n, "dilations", sr, 1, 1, 0, w->d, err));
  QI_TRY(ints_attr(n, "pads", 2 * sr, 0, 0, 0, pads, err));
  for (int i = 0; i < sr; i++) {
    w->pb[i] = pads[i];
    w->pe[i] = pads[sr + i];
  }
  w->ceil_mode = qi_attr_int(n, "ceil_mode", 0) != 0;
  return QI_OK;
}

int64_t qi_pool_out_len(int64_t in, int64_t k, int64_t s, int64_t d,
                        int64_t pb, int64_t pe, int ceil_mode) {
  int64_t span = in + pb + pe - ((k - 1) * d + 1);
  if (span < 0) return -1;
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + pb) out--;
  return out;
}

void qi_pool_same_pads(int64_t in, int64_t k, int64_t s, int64_t d,
                       int upper, int64_t *out, int64_t *pb, int64_t *pe) {
  *out = (in + s - 1) / s;
  int64_t total = (*out - 1) * s + (k - 1) * d + 1 - in;
  if (total < 0) total = 0;
  *pb = upper ? total / 2 : total - total / 2;
  *pe = total - *pb;
}
