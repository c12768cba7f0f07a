/* qi_session: a memory plan, an arena, a thread pool and the run loop. */
#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"
#include "ops/op.h"
#include "runtime/backend_cuda_glue.h"
#include "runtime/model.h"
#include "runtime/plan.h"

#define QI_MAX_NODE_IO 64

struct qi_session {
  const qi_model *model;
  qi_plan plan;
  unsigned char *arena;
  void *scratch;
  size_t scratch_bytes;
  qi_pool *pool;
  int profile;
  qi_node_profile *prof;
  /* Per run: the caller's buffer standing in for a graph input or output
   * tensor (NULL: the arena). Read and written in place, no copies. */
  void **bound;
};

qi_session_options qi_session_options_default(void) {
  qi_session_options o;
  memset(&o, 0, sizeof o);
  o.num_threads = 1;
  o.backend = QI_BACKEND_CPU;
  return o;
}

static void *alloc_aligned(size_t bytes) {
  bytes = (bytes + 63) & ~(size_t)63;
  return qi_alloc_large(bytes ? bytes : 64);
}

qi_status qi_session_create(const qi_model *model,
                            const qi_session_options *opts,
                            qi_session **out, qi_error *err) {
  if (!out) return qi_fail(err, QI_ERR_INVALID_ARG, "session is NULL");
  *out = NULL;
  if (!model) return qi_fail(err, QI_ERR_INVALID_ARG, "model is NULL");
  qi_session_options o = opts ? *opts : qi_session_options_default();
  if (o.num_threads < 0 || o.num_threads > 1024)
    return qi_fail(err, QI_ERR_INVALID_ARG, "num_threads %d out of range 0..1024",
                   o.num_threads);
  if (o.num_threads == 0) o.num_threads = 1;
  if (o.backend == QI_BACKEND_CUDA)
    return qi_backend_cuda_session_check(o.device_index, err);
  if (o.backend != QI_BACKEND_CPU)
    return qi_fail(err, QI_ERR_INVALID_ARG, "unknown backend %d", o.backend);
  const qi_graph *g = model->g;
  qi_session *s = calloc(1, sizeof *s);
  if (!s) return qi_fail(err, QI_ERR_NOMEM, "out of memory");
  s->model = model;
  s->profile = o.profile;
  qi_status st = qi_plan_build(g, &s->plan, err);
  if (st != QI_OK) goto fail;
  /* Shapes come from the model file: an arena beyond the machine's memory
   * is refused before asking for it. */
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0 &&
      s->plan.arena_bytes / (size_t)page > (size_t)pages) {
    st = qi_fail(err, QI_ERR_NOMEM,
                 "the activation arena needs %zu bytes, more than this "
                 "machine's %zu bytes of memory",
                 s->plan.arena_bytes, (size_t)pages * (size_t)page);
    goto fail;
  }
  s->arena = alloc_aligned(s->plan.arena_bytes);
  s->pool = qi_pool_create(o.num_threads);
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (!n->op->scratch_bytes) continue;
    size_t b = n->op->scratch_bytes(g, n, o.num_threads);
    if (b > s->scratch_bytes) s->scratch_bytes = b;
  }
  s->scratch = s->scratch_bytes ? alloc_aligned(s->scratch_bytes) : NULL;
  s->prof = calloc(((size_t)g->nnodes + 1), sizeof *s->prof);
  s->bound = calloc(((size_t)g->ntensors + 1), sizeof *s->bound);
  if (!s->arena || !s->pool || (s->scratch_bytes && !s->scratch) || !s->prof ||
      !s->bound) {
    st = qi_fail(err, QI_ERR_NOMEM,
                 "cannot allocate the session (arena %zu bytes, scratch %zu)",
                 s->plan.arena_bytes, s->scratch_bytes);
    goto fail;
  }
  for (int i = 0; i < g->nnodes; i++) {
    s->prof[i].name = g->nodes[i].name;
    s->prof[i].op_type = g->nodes[i].op_type;
  }
  /* FP32 GEMM runs on qinfer's own kernels over the session pool; OpenBLAS
   * is only the fallback (no AVX2, non-constant conv weights). Its idle
   * threads spin after each call and take cores from the pool, so it runs
   * single-threaded. */
  openblas_set_num_threads(1);
  *out = s;
  return QI_OK;
fail:
  qi_session_free(s);
  return st;
}

void qi_session_free(qi_session *s) {
  if (!s) return;
  qi_plan_free(&s->plan);
  free(s->arena);
  free(s->scratch);
  qi_pool_free(s->pool);
  free(s->prof);
  free(s->bound);
  free(s);
}

size_t qi_session_arena_bytes(const qi_session *s) {
  return s ? s->plan.arena_bytes : 0;
}

static void *tensor_data(const qi_session *s, int t) {
  const qi_tensor *tt = &s->model->g->tensors[t];
  if (tt->kind == QI_TK_CONST) return tt->data;
  if (s->bound[t]) return s->bound[t];
  return s->arena + s->plan.offset[t];
}

static size_t tensor_bytes(const qi_tensor *t) {
  return (size_t)qi_shape_numel(&t->shape) * qi_dtype_size(t->dtype);
}

static int ranges_meet(const void *a, size_t na, const void *b, size_t nb) {
  uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return x < y + nb && y < x + na;
}

static void unbind_all(qi_session *s) {
  const qi_graph *g = s->model->g;
  for (int i = 0; i < g->ninputs; i++) s->bound[g->inputs[i]] = NULL;
  for (int i = 0; i < g->noutputs; i++) s->bound[g->outputs[i]] = NULL;
}

static int find_index(const qi_graph *g, const int *list, int n,
                      const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(g->tensors[list[i]].name, name) == 0) return i;
  return -1;
}

/* Output binding `o` is written straight into the caller's buffer unless
 * its tensor is a graph input or constant, already stands for another
 * buffer, or the buffer overlaps an input buffer (which the run still
 * reads) or an earlier output binding's (written during the run too); such
 * an output is copied at the end instead. */
static void bind_output(qi_session *s, const qi_binding *outputs, int o,
                        const qi_binding *inputs, int num_inputs) {
  const qi_graph *g = s->model->g;
  const qi_binding *b = &outputs[o];
  const int t = g->outputs[find_index(g, g->outputs, g->noutputs, b->name)];
  const qi_tensor *tt = &g->tensors[t];
  if (tt->kind == QI_TK_CONST || s->bound[t] ||
      s->plan.offset[t] == QI_NO_OFFSET)
    return;
  for (int i = 0; i < g->ninputs; i++)
    if (g->inputs[i] == t) return;
  size_t n = tensor_bytes(tt);
  for (int i = 0; i < num_inputs; i++)
    if (ranges_meet(b->data, n, inputs[i].data, inputs[i].size_bytes))
      return;
  for (int i = 0; i < o; i++)
    if (ranges_meet(b->data, n, outputs[i].data, outputs[i].size_bytes))
      return;
  s->bound[t] = b->data;
}

static qi_status check_binding(const qi_tensor *t, const qi_binding *b,
                               const char *what, qi_error *err) {
  char s1[128], s2[128];
  if (b->dtype != t->dtype)
    return qi_fail(err, QI_ERR_INVALID_ARG, "%s '%s': type %s, model has %s",
                   what, t->name, qi_dtype_name(b->dtype),
                   qi_dtype_name(t->dtype));
  if (b->rank < 0 || b->rank > QI_MAX_RANK || (b->rank && !b->shape))
    return qi_fail(err, QI_ERR_SHAPE, "%s '%s': invalid rank %d or shape",
                   what, t->name, b->rank);
  qi_shape bs = {.rank = b->rank};
  int ok = b->rank == t->shape.rank;
  for (int d = 0; d < b->rank; d++) {
    bs.d[d] = b->shape[d];
    ok = ok && b->shape[d] == t->shape.d[d];
  }
  if (!ok) {
    return qi_fail(err, QI_ERR_SHAPE,
                   "%s '%s': shape %s given, the model was loaded for %s "
                   "(set qi_model_options.input_shapes to change it)",
                   what, t->name, qi_shape_str(&bs, s1, sizeof s1),
                   qi_shape_str(&t->shape, s2, sizeof s2));
  }
  size_t need = (size_t)qi_shape_numel(&t->shape) * qi_dtype_size(t->dtype);
  if (!b->data || b->size_bytes < need)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "%s '%s': buffer of %zu bytes, %zu needed", what, t->name,
                   b->data ? b->size_bytes : 0, need);
  return QI_OK;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static qi_status run_node(qi_session *s, const qi_node *n, qi_run_ctx *ctx) {
  const qi_graph *g = s->model->g;
  qi_buf in[QI_MAX_NODE_IO], out[QI_MAX_NODE_IO];
  if (n->nin > QI_MAX_NODE_IO || n->nout > QI_MAX_NODE_IO)
    return qi_fail(ctx->err, QI_ERR_UNSUPPORTED,
                   "node '%s' has more than %d inputs or outputs", n->name,
                   QI_MAX_NODE_IO);
  for (int k = 0; k < n->nin; k++) {
    memset(&in[k], 0, sizeof in[k]);
    if (n->in[k] < 0) continue;
    const qi_tensor *t = &g->tensors[n->in[k]];
    in[k].dtype = t->dtype;
    in[k].shape = t->shape;
    in[k].data = tensor_data(s, n->in[k]);
  }
  for (int k = 0; k < n->nout; k++) {
    memset(&out[k], 0, sizeof out[k]);
    if (n->out[k] < 0) continue;
    const qi_tensor *t = &g->tensors[n->out[k]];
    out[k].dtype = t->dtype;
    out[k].shape = t->shape;
    out[k].data = tensor_data(s, n->out[k]);
  }
  qi_status st = n->op->run(ctx, n, in, out);
  if (st != QI_OK && ctx->err && !strstr(ctx->err->message, n->name))
    qi_error_prefix(ctx->err, "node '%s' (%s)", n->name, n->op_type);
  return st;
}

static qi_status show_tensor(qi_session *s, int t, qi_tensor_callback cb,
                             void *user, qi_error *err) {
  if (!cb || t < 0 || s->plan.offset[t] == QI_NO_OFFSET) return QI_OK;
  const qi_tensor *tt = &s->model->g->tensors[t];
  qi_tensor_view v = {tt->name, tt->dtype, tt->shape.rank, tt->shape.d,
                      tensor_data(s, t)};
  qi_error cb_err = {QI_OK, ""};
  qi_status st = cb(user, &v, &cb_err);
  if (st == QI_OK) return QI_OK;
  if (!cb_err.message[0])
    return qi_fail(err, st, "the tensor callback stopped the run at '%s'",
                   tt->name);
  if (err) *err = cb_err;
  if (err) err->status = st;
  return st;
}

static qi_status run_impl(qi_session *s, const qi_binding *inputs,
                          int num_inputs, qi_binding *outputs, int num_outputs,
                          qi_tensor_callback cb, void *user, qi_error *err) {
  if (!s) return qi_fail(err, QI_ERR_INVALID_ARG, "session is NULL");
  if ((num_inputs && !inputs) || (num_outputs && !outputs) || num_inputs < 0 ||
      num_outputs < 0)
    return qi_fail(err, QI_ERR_INVALID_ARG, "NULL or negative bindings");
  const qi_graph *g = s->model->g;
  char *bound = calloc(((size_t)g->ninputs + 1), 1);
  if (!bound) return qi_fail(err, QI_ERR_NOMEM, "out of memory");
  unbind_all(s);
  qi_status st = QI_OK;
  for (int i = 0; i < num_inputs && st == QI_OK; i++) {
    const qi_binding *b = &inputs[i];
    int idx = b->name ? find_index(g, g->inputs, g->ninputs, b->name) : -1;
    if (idx < 0) {
      st = qi_fail(err, QI_ERR_INVALID_ARG, "'%s' is not a model input",
                   b->name ? b->name : "(null)");
      break;
    }
    const qi_tensor *t = &g->tensors[g->inputs[idx]];
    st = check_binding(t, b, "input", err);
    if (st != QI_OK) break;
    bound[idx] = 1;
    if (s->plan.offset[g->inputs[idx]] != QI_NO_OFFSET)
      s->bound[g->inputs[idx]] = b->data;
  }
  for (int i = 0; i < g->ninputs && st == QI_OK; i++)
    if (!bound[i])
      st = qi_fail(err, QI_ERR_INVALID_ARG, "input '%s' is not bound",
                   g->tensors[g->inputs[i]].name);
  free(bound);
  for (int i = 0; i < num_outputs && st == QI_OK; i++) {
    const qi_binding *b = &outputs[i];
    int idx = b->name ? find_index(g, g->outputs, g->noutputs, b->name) : -1;
    if (idx < 0)
      st = qi_fail(err, QI_ERR_INVALID_ARG, "'%s' is not a model output",
                   b->name ? b->name : "(null)");
    else
      st = check_binding(&g->tensors[g->outputs[idx]], b, "output", err);
  }
  if (st != QI_OK) return st;
  for (int i = 0; i < num_outputs; i++)
    bind_output(s, outputs, i, inputs, num_inputs);
  for (int i = 0; i < g->ninputs; i++)
    QI_TRY(show_tensor(s, g->inputs[i], cb, user, err));

  qi_run_ctx ctx = {.pool = s->pool,
                    .nthreads = qi_pool_size(s->pool),
                    .scratch = s->scratch,
                    .scratch_bytes = s->scratch_bytes,
                    .err = err};
  for (int i = 0; i < g->nnodes; i++) {
    double t0 = s->profile ? now_ms() : 0.0;
    st = run_node(s, &g->nodes[i], &ctx);
    if (st != QI_OK) return st;
    for (int k = 0; k < g->nodes[i].nout; k++)
      QI_TRY(show_tensor(s, g->nodes[i].out[k], cb, user, err));
    if (s->profile) {
      s->prof[i].total_ms += now_ms() - t0;
      s->prof[i].runs++;
    }
  }
  for (int i = 0; i < num_outputs; i++) {
    int idx = find_index(g, g->outputs, g->noutputs, outputs[i].name);
    int t = g->outputs[idx];
    const void *src = tensor_data(s, t);
    if (src != outputs[i].data)
      memcpy(outputs[i].data, src, tensor_bytes(&g->tensors[t]));
  }
  return QI_OK;
}

static qi_status run_bound(qi_session *s, const qi_binding *inputs,
                           int num_inputs, qi_binding *outputs,
                           int num_outputs, qi_tensor_callback cb, void *user,
                           qi_error *err) {
  qi_status st =
      run_impl(s, inputs, num_inputs, outputs, num_outputs, cb, user, err);
  if (s) unbind_all(s);
  return st;
}

qi_status qi_session_run(qi_session *s, const qi_binding *inputs,
                         int num_inputs, qi_binding *outputs, int num_outputs,
                         qi_error *err) {
  return run_bound(s, inputs, num_inputs, outputs, num_outputs, NULL, NULL,
                   err);
}

qi_status qi_session_run_inspect(qi_session *s, const qi_binding *inputs,
                                 int num_inputs, qi_binding *outputs,
                                 int num_outputs, qi_tensor_callback cb,
                                 void *user, qi_error *err) {
  if (!cb) return qi_fail(err, QI_ERR_INVALID_ARG, "tensor callback is NULL");
  return run_bound(s, inputs, num_inputs, outputs, num_outputs, cb, user,
                   err);
}

qi_status qi_session_profile(const qi_session *s,
                             const qi_node_profile **entries, int *count,
                             qi_error *err) {
  if (!s || !entries || !count)
    return qi_fail(err, QI_ERR_INVALID_ARG, "NULL argument");
  if (!s->profile)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "the session was created without profile = 1");
  *entries = s->prof;
  *count = s->model->g->nnodes;
  return QI_OK;
}
