/* Broadcast shapes and the merged loop plan of eltwise_bcast.h. */
#include "ops/eltwise_bcast.h"

#include <string.h>

int64_t qi_bcast_numel(const qi_shape *s) {
  if (s->rank < 0 || s->rank > QI_MAX_RANK) return -1;
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) {
    int64_t d = s->d[i];
    if (d < 0) return -1;
    if (d && n > INT64_MAX / d) return -1;
    n *= d;
  }
  return n;
}

qi_status qi_bcast_shape_n(const qi_node *n, const qi_shape *const *ins,
                           int nin, qi_shape *out, qi_error *err) {
  qi_shape acc = {.rank = 0};
  for (int k = 0; k < nin; k++) {
    if (ins[k]->rank < 0 || ins[k]->rank > QI_MAX_RANK)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): shape of input %d is unknown", n->name,
                     n->op_type, k);
    qi_shape next;
    qi_status st = qi_broadcast_shapes(&acc, ins[k], &next, err);
    if (st != QI_OK) {
      qi_error_prefix(err, "node '%s' (%s)", n->name, n->op_type);
      return st;
    }
    acc = next;
  }
  if (qi_bcast_numel(&acc) < 0)
    return qi_fail(err, QI_ERR_NOMEM,
                   "node '%s' (%s): output size is beyond limits", n->name,
                   n->op_type);
  *out = acc;
  return QI_OK;
}

qi_status qi_bcast_plan_make(qi_bcast_plan *p, const qi_shape *out,
                             const qi_shape *const *ins, int nin,
                             qi_error *err) {
  memset(p, 0, sizeof *p);
  p->nin = nin;
  p->numel = qi_bcast_numel(out);
  int r = out->rank;
  if (p->numel < 0 || nin < 1 || nin > QI_BCAST_MAX_IN)
    return qi_fail(err, QI_ERR_INTERNAL, "bad broadcast plan request");
  /* Contiguous strides of each input, aligned to the output's dims. */
  int64_t st[QI_BCAST_MAX_IN][QI_MAX_RANK];
  for (int k = 0; k < nin; k++) {
    const qi_shape *s = ins[k];
    if (s->rank < 0 || s->rank > r)
      return qi_fail(err, QI_ERR_SHAPE, "input %d does not broadcast", k);
    int64_t stride = 1;
    for (int i = r - 1; i >= 0; i--) {
      int j = i - (r - s->rank);
      int64_t d = j >= 0 ? s->d[j] : 1;
      if (d != out->d[i] && d != 1)
        return qi_fail(err, QI_ERR_SHAPE, "input %d does not broadcast", k);
      st[k][i] = d == 1 ? 0 : stride;
      stride *= d;
    }
  }
  /* Drop size-1 dims; merge a dim into the one before it when every input
   * steps across the pair as across one dim. */
  int m = 0;
  for (int i = 0; i < r; i++) {
    int64_t d = out->d[i];
    if (d == 1) continue;
    int merge = m > 0;
    for (int k = 0; k < nin && merge; k++)
      merge = p->strides[k][m - 1] == st[k][i] * d;
    if (merge) {
      p->dims[m - 1] *= d;
      for (int k = 0; k < nin; k++) p->strides[k][m - 1] = st[k][i];
    } else {
      p->dims[m] = d;
      for (int k = 0; k < nin; k++) p->strides[k][m] = st[k][i];
      m++;
    }
  }
  if (m == 0) { /* every dim is 1 (or rank 0): one element */
    p->dims[0] = 1;
    m = 1;
  }
  p->rank = m;
  return QI_OK;
}

void qi_bcast_for_range(const qi_bcast_plan *p, int64_t start, int64_t end,
                        qi_bcast_row_fn fn, void *arg) {
  if (start >= end) return;
  int r = p->rank, nin = p->nin;
  int64_t len_row = p->dims[r - 1];
  int64_t row = start / len_row, col = start % len_row;
  int64_t idx[QI_MAX_RANK] = {0}, base[QI_BCAST_MAX_IN] = {0};
  int64_t step[QI_BCAST_MAX_IN], off[QI_BCAST_MAX_IN];
  for (int k = 0; k < nin; k++) step[k] = p->strides[k][r - 1];
  for (int i = r - 2; i >= 0; i--) {
    idx[i] = row % p->dims[i];
    row /= p->dims[i];
    for (int k = 0; k < nin; k++) base[k] += idx[i] * p->strides[k][i];
  }
  int64_t pos = start;
  while (pos < end) {
    int64_t len = len_row - col;
    if (len > end - pos) len = end - pos;
    for (int k = 0; k < nin; k++) off[k] = base[k] + col * step[k];
    fn(arg, off, step, pos, len);
    pos += len;
    col = 0;
    /* Next row: an odometer over the outer dims. */
    for (int i = r - 2; i >= 0; i--) {
      for (int k = 0; k < nin; k++) base[k] += p->strides[k][i];
      if (++idx[i] < p->dims[i]) break;
      for (int k = 0; k < nin; k++) base[k] -= p->strides[k][i] * p->dims[i];
      idx[i] = 0;
    }
  }
}
