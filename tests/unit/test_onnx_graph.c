/* ONNX importer on hand-built protobuf bytes, part 2: graph assembly
 * (initializers, inputs, optional values, toposort), ValueInfo shapes,
 * Constant nodes, attributes of every type with and without `type`, node
 * naming, and the errors for malformed graphs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"
#include "onnx_build.h"
#include "qtest.h"

static void test_model_graph(qt_state *st) {
  pbe g = {0};
  const int64_t d22[] = {2, 2}, d2[] = {2}, dx[] = {-1, 2};
  const float w[4] = {1, 2, 3, 4}, bias[2] = {-1, 1};
  /* Consumers come before producers in the file: toposort reorders. */
  const char *clip_in[] = {"z", "", "mx"};
  const char *clip_out[] = {"c"};
  node(&g, "Clip", NULL, clip_in, 3, clip_out, 1, NULL, 0);
  const char *drop_out[] = {"d", ""};
  const char *drop_in[] = {"c"};
  node(&g, "Dropout", "drop", drop_in, 1, drop_out, 2, NULL, 0);
  node1(&g, "Relu", NULL, "y", "z");
  const char *gemm_in[] = {"x", "W", "B"};
  const char *gemm_out[] = {"y"};
  pbe attr = attr_hdr("transB", 2);
  pbe_int(&attr, 3, 1);
  node(&g, "Gemm", "gemm0", gemm_in, 3, gemm_out, 1, &attr, 1);
  pbe_str(&g, 2, "main");
  float_init(&g, "W", d22, 2, w, 4);
  pbe b = tensor_hdr("B", QI_FLOAT32, d2, 1);
  pbe_packed_f32(&b, T_FLOATS, bias, 2);
  pbe_msg(&g, 5, &b);
  float_init(&g, "mx", NULL, 0, (float[]){6.0f}, 1);
  value_info(&g, 11, "x", QI_FLOAT32, dx, 2);
  value_info(&g, 11, "W", QI_FLOAT32, d22, 2); /* old style: also listed */
  value_info(&g, 12, "d", QI_FLOAT32, dx, 2);
  value_info(&g, 13, "y", QI_FLOAT32, dx, 2); /* value_info: ignored */
  pbe m = model(13, &g);
  qi_graph *gr;
  qi_error e;
  QT_CHECKF(st, import(&m, NULL, &gr, &e) == QI_OK, "%s", e.message);
  if (!gr) return;
  QT_CHECK(st, gr->opset == 13 && gr->ir_version == 8);
  QT_CHECK(st, strcmp(gr->name, "main") == 0);
  QT_CHECK(st, gr->ninputs == 1 && gr->noutputs == 1);
  const qi_tensor *x = &gr->tensors[gr->inputs[0]];
  QT_CHECK(st, strcmp(x->name, "x") == 0 && x->kind == QI_TK_ACT &&
                   x->dtype == QI_FLOAT32 && x->shape.rank == 2 &&
                   x->shape.d[0] == -1 && x->shape.d[1] == 2);
  QT_CHECK(st, strcmp(gr->tensors[gr->outputs[0]].name, "d") == 0);
  int iw = find(gr, "W");
  QT_CHECK(st, iw >= 0 && same(&gr->tensors[iw], QI_FLOAT32, d22, 2, w,
                               sizeof w));
  int ib = find(gr, "B");
  QT_CHECK(st, ib >= 0 && same(&gr->tensors[ib], QI_FLOAT32, d2, 1, bias,
                               sizeof bias));
  QT_CHECK(st, gr->nnodes == 4);
  if (gr->nnodes != 4) goto out;
  const char *order[] = {"gemm0", "Relu_2", "Clip_0", "drop"};
  for (int i = 0; i < 4; i++)
    QT_CHECKF(st, strcmp(gr->nodes[i].name, order[i]) == 0, "node %d is %s",
              i, gr->nodes[i].name);
  const qi_node *gemm = &gr->nodes[0], *clip = &gr->nodes[2],
                *drop = &gr->nodes[3];
  QT_CHECK(st, gemm->nin == 3 && gemm->in[1] == iw && gemm->in[2] == ib &&
                   gemm->in[0] == gr->inputs[0]);
  QT_CHECK(st, qi_attr_int(gemm, "transB", 0) == 1);
  QT_CHECK(st, strcmp(gemm->domain, "") == 0 &&
                   strcmp(gemm->op_type, "Gemm") == 0);
  QT_CHECK(st, clip->nin == 3 && clip->in[1] == -1 &&
                   clip->in[2] == find(gr, "mx"));
  QT_CHECK(st, drop->nout == 2 && drop->out[1] == -1 &&
                   drop->out[0] == gr->outputs[0]);
  QT_CHECK(st, gr->tensors[gemm->out[0]].producer == 0);
out:
  qi_graph_free(gr);
}

static void test_value_info_shapes(qt_state *st) {
  pbe g = {0};
  pbe vi = {0};
  pbe_str(&vi, 1, "a"); /* no type at all */
  pbe_msg(&g, 11, &vi);
  value_info(&g, 11, "b", QI_FLOAT16, NULL, -1);
  value_info(&g, 11, "c", QI_INT64, NULL, 0);
  value_info(&g, 11, "d", QI_UINT8, (const int64_t[]){-1, 3, -2}, 3);
  value_info(&g, 11, "e", 0, (const int64_t[]){0}, 1);
  pbe m = model(17, &g);
  qi_graph *gr;
  qi_error e;
  QT_CHECKF(st, import(&m, NULL, &gr, &e) == QI_OK, "%s", e.message);
  if (!gr) return;
  QT_CHECK(st, gr->ninputs == 5 && gr->nnodes == 0 && gr->opset == 17);
  if (gr->ninputs == 5) {
    const qi_tensor *t = gr->tensors;
    const qi_tensor *a = &t[gr->inputs[0]], *b = &t[gr->inputs[1]],
                    *c = &t[gr->inputs[2]], *d = &t[gr->inputs[3]],
                    *ee = &t[gr->inputs[4]];
    QT_CHECK(st, a->dtype == QI_UNDEFINED && a->shape.rank == -1);
    QT_CHECK(st, b->dtype == QI_FLOAT16 && b->shape.rank == -1);
    QT_CHECK(st, c->dtype == QI_INT64 && c->shape.rank == 0);
    QT_CHECK(st, d->dtype == QI_UINT8 && d->shape.rank == 3 &&
                     d->shape.d[0] == -1 && d->shape.d[1] == 3 &&
                     d->shape.d[2] == -1);
    QT_CHECK(st, ee->dtype == QI_UNDEFINED && ee->shape.rank == 1 &&
                     ee->shape.d[0] == 0);
    for (int i = 0; i < 5; i++)
      QT_CHECK(st, t[gr->inputs[i]].kind == QI_TK_ACT);
  }
  qi_graph_free(gr);
}

static pbe constant_node_attr(int which) {
  pbe a;
  switch (which) {
    case 0: {
      a = attr_hdr("value", 4);
      pbe t = tensor_hdr("ignored", QI_INT64, (const int64_t[]){2}, 1);
      pbe_packed_ints(&t, T_INT64, (int64_t[]){3, 4}, 2);
      pbe_msg(&a, 5, &t);
      break;
    }
    case 1: a = attr_hdr("value_float", 1); pbe_f32(&a, 2, 2.5f); break;
    case 2:
      a = attr_hdr("value_floats", 6);
      pbe_packed_f32(&a, 7, (float[]){1, 2, 3}, 3);
      break;
    case 3: a = attr_hdr("value_int", 2); pbe_int(&a, 3, -7); break;
    default: a = attr_hdr("value_ints", 7); break; /* empty list */
  }
  return a;
}

static void test_constant_nodes(qt_state *st) {
  pbe g = {0};
  const char *names[] = {"c0", "c1", "c2", "c3", "c4"};
  const char *out[] = {"s"};
  node(&g, "Sum", "sum", names, 5, out, 1, NULL, 0);
  for (int i = 0; i < 5; i++) {
    pbe a = constant_node_attr(i);
    pbe n = {0};
    pbe_str(&n, 2, names[i]);
    pbe_str(&n, 4, "Constant");
    if (i == 4) pbe_str(&n, 7, "ai.onnx");
    pbe_msg(&n, 5, &a);
    pbe_msg(&g, 1, &n);
  }
  value_info(&g, 12, "s", QI_FLOAT32, NULL, -1);
  pbe m = model(13, &g);
  qi_graph *gr;
  qi_error e;
  QT_CHECKF(st, import(&m, NULL, &gr, &e) == QI_OK, "%s", e.message);
  if (!gr) return;
  QT_CHECK(st, gr->nnodes == 1 && gr->ninputs == 0);
  const int64_t d2[] = {2}, d3[] = {3}, d0[] = {0};
  const qi_tensor *t = gr->tensors;
  int i0 = find(gr, "c0"), i1 = find(gr, "c1"), i2 = find(gr, "c2"),
      i3 = find(gr, "c3"), i4 = find(gr, "c4");
  QT_CHECK(st, i0 >= 0 && same(&t[i0], QI_INT64, d2, 1,
                               (int64_t[]){3, 4}, 16));
  QT_CHECK(st, i1 >= 0 && same(&t[i1], QI_FLOAT32, NULL, 0,
                               (float[]){2.5f}, 4));
  QT_CHECK(st, i2 >= 0 && same(&t[i2], QI_FLOAT32, d3, 1,
                               (float[]){1, 2, 3}, 12));
  QT_CHECK(st, i3 >= 0 && same(&t[i3], QI_INT64, NULL, 0,
                               (int64_t[]){-7}, 8));
  QT_CHECK(st, i4 >= 0 && same(&t[i4], QI_INT64, d0, 1, "", 0));
  QT_CHECK(st, find(gr, "ignored") < 0);
  qi_graph_free(gr);

  /* What a Constant node may not be. */
  struct { const char *attr; int type; qi_status want; const char *msg; }
  bad[] = {
      {"value_string", 3, QI_ERR_UNSUPPORTED, "value_string"},
      {"value_strings", 8, QI_ERR_UNSUPPORTED, "value_strings"},
      {"sparse_value", 11, QI_ERR_UNSUPPORTED, "SPARSE_TENSOR"},
      {"value", 2, QI_ERR_PARSE, "expected TENSOR"},
      {"bogus", 2, QI_ERR_PARSE, "unknown attribute"},
      {NULL, 0, QI_ERR_PARSE, "no value"},
      {"two", 0, QI_ERR_PARSE, "more than one"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    g = (pbe){0};
    pbe n = {0};
    pbe_str(&n, 2, "k");
    pbe_str(&n, 3, "const_k");
    pbe_str(&n, 4, "Constant");
    if (bad[k].attr && strcmp(bad[k].attr, "two") == 0) {
      pbe a1 = constant_node_attr(1), a2 = constant_node_attr(3);
      pbe_msg(&n, 5, &a1);
      pbe_msg(&n, 5, &a2);
    } else if (bad[k].attr) {
      pbe a = attr_hdr(bad[k].attr, bad[k].type);
      if (bad[k].type == 3) pbe_str(&a, 4, "text");
      if (bad[k].type == 2) pbe_int(&a, 3, 1);
      if (bad[k].type == 11) pbe_str(&a, 22, "");
      pbe_msg(&n, 5, &a);
    }
    pbe_msg(&g, 1, &n);
    m = model(13, &g);
    QT_CHECKF(st, import(&m, NULL, &gr, &e) == bad[k].want && !gr &&
                      has(&e, "const_k") && has(&e, bad[k].msg),
              "case %zu: %s", k, e.message);
  }
  /* A Constant may not redefine an initializer, nor take inputs. */
  g = (pbe){0};
  float_init(&g, "k", NULL, 0, (float[]){1}, 1);
  pbe a = constant_node_attr(1);
  node(&g, "Constant", "ck", NULL, 0, (const char *[]){"k"}, 1, &a, 1);
  m = model(13, &g);
  QT_CHECK(st, import(&m, NULL, &gr, &e) == QI_ERR_PARSE && has(&e, "'k'"));
  g = (pbe){0};
  a = constant_node_attr(1);
  node(&g, "Constant", "ck", (const char *[]){"x"}, 1,
       (const char *[]){"k"}, 1, &a, 1);
  m = model(13, &g);
  QT_CHECK(st, import(&m, NULL, &gr, &e) == QI_ERR_PARSE &&
                   has(&e, "no input"));
}

/* Attributes of every supported type; `typed` 0 leaves `type` out. */
static void add_all_attrs(pbe *attrs, int typed) {
  int k = 0;
  attrs[k] = attr_hdr("f", typed ? 1 : 0);
  pbe_f32(&attrs[k++], 2, 1.25f);
  attrs[k] = attr_hdr("i", typed ? 2 : 0);
  pbe_int(&attrs[k++], 3, -3);
  attrs[k] = attr_hdr("s", typed ? 3 : 0);
  pbe_str(&attrs[k++], 4, "hello");
  attrs[k] = attr_hdr("t", typed ? 4 : 0);
  pbe t = tensor_hdr(NULL, QI_FLOAT32, (const int64_t[]){2}, 1);
  pbe_packed_f32(&t, T_FLOATS, (float[]){1, 2}, 2);
  pbe_msg(&attrs[k++], 5, &t);
  attrs[k] = attr_hdr("g", typed ? 5 : 0);
  pbe sub = {0};
  pbe_str(&sub, 2, "body");
  pbe_msg(&attrs[k++], 6, &sub);
  attrs[k] = attr_hdr("floats", typed ? 6 : 0);
  pbe_packed_f32(&attrs[k++], 7, (float[]){0.5f, -1}, 2);
  attrs[k] = attr_hdr("ints", typed ? 7 : 0);
  for (int v = 1; v <= 3; v++) pbe_int(&attrs[k], 8, v == 2 ? -2 : v);
  k++;
  attrs[k] = attr_hdr("pints", typed ? 7 : 0);
  pbe_packed_ints(&attrs[k++], 8, (int64_t[]){INT64_MIN, 0, 9}, 3);
  attrs[k] = attr_hdr("strings", typed ? 8 : 0);
  pbe_str(&attrs[k], 9, "a");
  pbe_str(&attrs[k++], 9, "bc");
  attrs[k] = attr_hdr("nofloats", 6); /* typed empty list */
  k++;
}
#define NUM_ALL_ATTRS 10

static void check_all_attrs(qt_state *st, const qi_node *n) {
  QT_CHECK(st, n->nattr == NUM_ALL_ATTRS);
  QT_CHECK(st, qi_attr_float(n, "f", 0) == 1.25f);
  QT_CHECK(st, qi_attr_int(n, "i", 0) == -3);
  QT_CHECK(st, strcmp(qi_attr_str(n, "s", ""), "hello") == 0);
  const qi_attr *t = qi_attr_find(n, "t");
  QT_CHECK(st, t && t->type == QI_ATTR_TENSOR && t->t && !t->t->name &&
                   same(t->t, QI_FLOAT32, (const int64_t[]){2}, 1,
                        (float[]){1, 2}, 8));
  const qi_attr *g = qi_attr_find(n, "g");
  QT_CHECK(st, g && g->type == QI_ATTR_GRAPH);
  const float *fv;
  const int64_t *iv;
  QT_CHECK(st, qi_attr_floats(n, "floats", &fv) == 2 && fv[0] == 0.5f &&
                   fv[1] == -1.0f);
  QT_CHECK(st, qi_attr_ints(n, "ints", &iv) == 3 && iv[0] == 1 &&
                   iv[1] == -2 && iv[2] == 3);
  QT_CHECK(st, qi_attr_ints(n, "pints", &iv) == 3 && iv[0] == INT64_MIN &&
                   iv[1] == 0 && iv[2] == 9);
  const qi_attr *s = qi_attr_find(n, "strings");
  QT_CHECK(st, s && s->type == QI_ATTR_STRINGS && s->n == 2 &&
                   strcmp(s->strings[0], "a") == 0 &&
                   strcmp(s->strings[1], "bc") == 0);
  QT_CHECK(st, qi_attr_floats(n, "nofloats", &fv) == 0);
}

static qi_status import_custom_node(pbe *attrs, int nattr, qi_graph **gr,
                                    qi_error *e) {
  pbe g = {0}, n = {0};
  pbe_str(&n, 2, "y");
  pbe_str(&n, 3, "custom");
  pbe_str(&n, 4, "MyOp");
  pbe_str(&n, 7, "my.domain");
  for (int i = 0; i < nattr; i++) pbe_msg(&n, 5, &attrs[i]);
  pbe_msg(&g, 1, &n);
  pbe m = model(13, &g);
  return import(&m, NULL, gr, e);
}

static void test_attr_types(qt_state *st) {
  for (int typed = 1; typed >= 0; typed--) {
    pbe attrs[NUM_ALL_ATTRS];
    add_all_attrs(attrs, typed);
    qi_graph *gr;
    qi_error e;
    QT_CHECKF(st, import_custom_node(attrs, NUM_ALL_ATTRS, &gr, &e) == QI_OK,
              "typed %d: %s", typed, e.message);
    if (!gr) continue;
    QT_CHECK(st, gr->nnodes == 1);
    QT_CHECK(st, strcmp(gr->nodes[0].domain, "my.domain") == 0);
    check_all_attrs(st, &gr->nodes[0]);
    qi_graph_free(gr);
  }
  struct { int type; uint32_t field; qi_status want; const char *msg; } bad[] = {
      {9, 10, QI_ERR_UNSUPPORTED, "TENSORS"},
      {10, 11, QI_ERR_UNSUPPORTED, "GRAPHS"},
      {13, 14, QI_ERR_UNSUPPORTED, "TYPE_PROTO"},
      {0, 10, QI_ERR_UNSUPPORTED, "TENSORS"},  /* inferred, then refused */
      {99, 3, QI_ERR_PARSE, "unknown type 99"},
      {2, 21, QI_ERR_UNSUPPORTED, "ref_attr_name"},
      {0, 0, QI_ERR_PARSE, "no value field"},
      {0, 100, QI_ERR_PARSE, "more than one value field"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    pbe a = attr_hdr("bad_attr", bad[k].type);
    if (bad[k].field == 100) {
      pbe_f32(&a, 2, 1.0f);
      pbe_int(&a, 3, 1);
    } else if (bad[k].field == 3 || bad[k].field == 21) {
      if (bad[k].field == 21) pbe_str(&a, 21, "outer");
      pbe_int(&a, 3, 1);
    } else if (bad[k].field) {
      pbe_str(&a, bad[k].field, "");
    }
    qi_graph *gr;
    qi_error e;
    QT_CHECKF(st, import_custom_node(&a, 1, &gr, &e) == bad[k].want && !gr &&
                      has(&e, "bad_attr") && has(&e, "custom") &&
                      has(&e, bad[k].msg),
              "case %zu: %s", k, e.message);
  }
  /* An attribute without a name. */
  pbe a = {0};
  pbe_int(&a, 3, 1);
  qi_graph *gr;
  qi_error e;
  QT_CHECK(st, import_custom_node(&a, 1, &gr, &e) == QI_ERR_PARSE &&
                   has(&e, "no name"));
}

static void test_node_names(qt_state *st) {
  pbe g = {0};
  node1(&g, "Relu", "Relu_1", "x", "a");
  node1(&g, "Relu", NULL, "a", "b");    /* "Relu_1" is taken */
  node1(&g, "Relu", "", "b", "c");      /* "Relu_2" */
  node1(&g, "Relu", "Relu_2_1", "c", "d");
  node1(&g, "Relu", "dup", "d", "e");   /* explicit duplicates are kept */
  node1(&g, "Relu", "dup", "e", "f");
  value_info(&g, 11, "x", QI_FLOAT32, NULL, -1);
  value_info(&g, 12, "f", QI_FLOAT32, NULL, -1);
  pbe m = model(13, &g);
  qi_graph *gr;
  qi_error e;
  QT_CHECKF(st, import(&m, NULL, &gr, &e) == QI_OK, "%s", e.message);
  if (!gr) return;
  const char *want[] = {"Relu_1", "Relu_1_1", "Relu_2", "Relu_2_1", "dup",
                        "dup"};
  QT_CHECK(st, gr->nnodes == 6);
  for (int i = 0; i < gr->nnodes && i < 6; i++)
    QT_CHECKF(st, strcmp(gr->nodes[i].name, want[i]) == 0, "node %d: %s", i,
              gr->nodes[i].name);
  qi_graph_free(gr);
}

static void test_graph_errors(qt_state *st) {
  qi_graph *gr;
  qi_error e;
  pbe m = {0}, g = {0};
  /* Not a model at all, or no graph. */
  pbe_int(&m, 1, 8);
  QT_CHECK(st, import(&m, NULL, &gr, &e) == QI_ERR_PARSE && !gr &&
                   has(&e, "no graph"));
  QT_CHECK(st, qi_onnx_import(NULL, 0, NULL, &gr, &e) == QI_ERR_PARSE && !gr);
  QT_CHECK(st, qi_onnx_import((const uint8_t *)"x", 1, NULL, NULL, &e) ==
                   QI_ERR_INVALID_ARG);
  /* No default opset: 1, as the IR spec has it for old models. */
  m = model(0, &g);
  QT_CHECK(st, import(&m, NULL, &gr, &e) == QI_OK && gr && gr->opset == 1);
  qi_graph_free(gr);
  /* "ai.onnx" is the default domain; other domains do not count. */
  m = (pbe){0};
  const char *doms[] = {"com.microsoft", "ai.onnx", "ai.onnx.ml"};
  for (int i = 0; i < 3; i++) {
    pbe op = {0};
    pbe_str(&op, 1, doms[i]);
    pbe_int(&op, 2, 11 + i);
    pbe_msg(&m, 8, &op);
  }
  g = (pbe){0};
  pbe_msg(&m, 7, &g);
  QT_CHECK(st, import(&m, NULL, &gr, &e) == QI_OK && gr && gr->opset == 12);
  qi_graph_free(gr);
  m = model(13, &g);
  pbe op = {0};
  pbe_int(&op, 2, 11);
  pbe_msg(&m, 8, &op);
  QT_CHECK(st, import(&m, NULL, &gr, &e) == QI_ERR_PARSE &&
                   has(&e, "opset_import"));

  struct { int kind; qi_status want; const char *msg; } c[] = {
      {0, QI_ERR_PARSE, "defined twice"},
      {1, QI_ERR_PARSE, "listed twice"},
      {2, QI_ERR_PARSE, "is not produced"},
      {3, QI_ERR_PARSE, "which no node"},
      {4, QI_ERR_PARSE, "cycle"},
      {5, QI_ERR_PARSE, "produced twice"},
      {6, QI_ERR_UNSUPPORTED, "sparse_initializer"},
      {7, QI_ERR_UNSUPPORTED, "string"},
      {8, QI_ERR_UNSUPPORTED, "not a tensor"},
      {9, QI_ERR_PARSE, "no op_type"},
      {10, QI_ERR_PARSE, "NUL"},
      {11, QI_ERR_PARSE, "no name"},
      {12, QI_ERR_PARSE, "second graph"},
      {13, QI_ERR_UNSUPPORTED, "rank 9"},
      {14, QI_ERR_PARSE, "produced twice"},
  };
  for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
    g = (pbe){0};
    const float one = 1;
    switch (c[k].kind) {
      case 0:
        float_init(&g, "w", NULL, 0, &one, 1);
        float_init(&g, "w", NULL, 0, &one, 1);
        break;
      case 1:
        value_info(&g, 11, "x", QI_FLOAT32, NULL, -1);
        value_info(&g, 11, "x", QI_FLOAT32, NULL, -1);
        break;
      case 2: value_info(&g, 12, "nowhere", QI_FLOAT32, NULL, -1); break;
      case 3: node1(&g, "Relu", "r", "ghost", "y"); break;
      case 4:
        node1(&g, "Relu", "r1", "b", "a");
        node1(&g, "Relu", "r2", "a", "b");
        break;
      case 5:
        value_info(&g, 11, "x", QI_FLOAT32, NULL, -1);
        node1(&g, "Relu", "r1", "x", "y");
        node1(&g, "Relu", "r2", "x", "y");
        break;
      case 6: {
        pbe sp = {0};
        pbe_msg(&g, 15, &sp);
        break;
      }
      case 7: value_info(&g, 11, "x", 8, NULL, -1); break;
      case 8: {
        pbe vi = {0}, type = {0}, seq = {0};
        pbe_str(&vi, 1, "x");
        pbe_msg(&type, 4, &seq);
        pbe_msg(&vi, 2, &type);
        pbe_msg(&g, 11, &vi);
        break;
      }
      case 9: {
        pbe n = {0};
        pbe_str(&n, 3, "nameless");
        pbe_msg(&g, 1, &n);
        break;
      }
      case 10: {
        pbe n = {0};
        pbe_bytes(&n, 2, "a\0b", 3);
        pbe_str(&n, 4, "Relu");
        pbe_msg(&g, 1, &n);
        break;
      }
      case 11: float_init(&g, "", NULL, 0, &one, 1); break;
      case 12: break;
      case 13: {
        const int64_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        value_info(&g, 11, "x", QI_FLOAT32, d9, 9);
        break;
      }
      case 14:
        value_info(&g, 11, "x", QI_FLOAT32, NULL, -1);
        node1(&g, "Relu", "r1", "x", "x");
        break;
    }
    m = model(13, &g);
    if (c[k].kind == 12) {
      pbe g2 = {0};
      pbe_msg(&m, 7, &g2);
    }
    QT_CHECKF(st, import(&m, NULL, &gr, &e) == c[k].want && !gr &&
                      has(&e, c[k].msg),
              "case %zu: %s", k, e.message);
  }
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_model_graph);
  QT_RUN(&st, test_value_info_shapes);
  QT_RUN(&st, test_constant_nodes);
  QT_RUN(&st, test_attr_types);
  QT_RUN(&st, test_node_names);
  QT_RUN(&st, test_graph_errors);
  return qt_summary(&st);
}
