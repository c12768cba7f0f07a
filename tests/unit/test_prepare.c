/* qi_graph_prepare over threads: every node prepared once, whatever the
 * thread count; a failure reported as the first failing node in graph
 * order with that node's own message; and a real model's outputs the
 * same bytes whether its weights were packed on 1 or 4 threads. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ops/op.h"
#include "qtest.h"
#include "runtime/model.h"

/* A node fails to prepare when its name starts with 'x'; state records
 * that it ran (a counter, for "exactly once"). */
static qi_status fake_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  (void)g;
  if (n->name[0] == 'x')
    return qi_fail(err, QI_ERR_UNSUPPORTED, "node '%s' refuses to prepare",
                   n->name);
  /* NULL -> 1 -> 2: counts the runs without an allocation to free. */
  n->state = (void *)((uintptr_t)n->state + 1);
  return QI_OK;
}

static const qi_op_def fake_op = {.op_type = "Fake", .prepare = fake_prepare};

static qi_graph *fake_graph(const char *const *names, int count) {
  qi_graph *g = qi_graph_create();
  for (int i = 0; i < count; i++) {
    int k = qi_graph_add_node(g, names[i], "Fake", "", 0, 0);
    g->nodes[k].op = &fake_op;
  }
  return g;
}

static void clear_states(qi_graph *g) {
  for (int i = 0; i < g->nnodes; i++) g->nodes[i].state = NULL;
}

static void test_every_node_once(qt_state *st) {
  const char *names[37];
  char buf[37][8];
  for (int i = 0; i < 37; i++) {
    snprintf(buf[i], sizeof buf[i], "n%d", i);
    names[i] = buf[i];
  }
  for (int threads = 0; threads <= 5; threads++) {
    qi_graph *g = fake_graph(names, 37);
    qi_error e = {0};
    QT_CHECKF(st, qi_graph_prepare(g, threads, &e) == QI_OK, "%d threads: %s",
              threads, e.message);
    for (int i = 0; i < 37; i++)
      QT_CHECKF(st, g->nodes[i].state == (void *)1,
                "%d threads: node %d prepared %s", threads, i,
                g->nodes[i].state ? "more than once" : "never");
    clear_states(g);
    qi_graph_free(g);
  }
}

static void test_first_failure_reported(qt_state *st) {
  const char *names[] = {"a0", "a1", "x2", "a3", "x4", "a5", "x6", "a7"};
  for (int threads = 1; threads <= 4; threads++) {
    qi_graph *g = fake_graph(names, 8);
    qi_error e = {0};
    qi_status s = qi_graph_prepare(g, threads, &e);
    QT_CHECKF(st, s == QI_ERR_UNSUPPORTED && e.status == QI_ERR_UNSUPPORTED,
              "%d threads: status %d", threads, (int)s);
    QT_CHECKF(st, strstr(e.message, "'x2' refuses") != NULL,
              "%d threads: message '%s'", threads, e.message);
    clear_states(g);
    qi_graph_free(g);
  }
}

#define MODEL "../shared/assets/models/squeezenet1.1.onnx"

static void test_model_same_bytes(qt_state *st) {
  static const int64_t in_shape[4] = {1, 3, 224, 224}, out_shape[2] = {1, 1000};
  const size_t count = 3 * 224 * 224;
  float *x = malloc(count * sizeof(float));
  float y[2][1000];
  unsigned seed = 11;
  for (size_t i = 0; i < count; i++) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
  }
  for (int v = 0; v < 2; v++) {
    qi_model_options o = qi_model_options_default();
    o.load_threads = v ? 4 : 1;
    qi_model *m = NULL;
    qi_session *s = NULL;
    qi_error e = {0};
    QT_CHECKF(st, qi_model_load_file(MODEL, &o, &m, &e) == QI_OK, "%s",
              e.message);
    QT_CHECK(st, m && qi_session_create(m, NULL, &s, &e) == QI_OK);
    qi_binding in = {"data", QI_FLOAT32, 4, in_shape, x, count * sizeof(float)};
    qi_binding out = {"logits", QI_FLOAT32, 2, out_shape,
                      y[v], sizeof y[v]};
    QT_CHECKF(st, s && qi_session_run(s, &in, 1, &out, 1, &e) == QI_OK, "%s",
              e.message);
    qi_session_free(s);
    qi_model_free(m);
  }
  QT_CHECK(st, memcmp(y[0], y[1], sizeof y[0]) == 0);
  free(x);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_every_node_once);
  QT_RUN(&st, test_first_failure_reported);
  QT_RUN(&st, test_model_same_bytes);
  return qt_summary(&st);
}
