/* Writes the hostile model files of the catalog (ONNX and .qnf) into the
 * directory given; make_bad_data.c adds the .npy and image files. Every
 * file is derived from a small valid model so that exactly one thing is
 * wrong with it; tests/bad_inputs/manifest.txt says what each must give.
 * Built and run by tests/suites/bad_inputs.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bad_build.h"
#include "qinfer.h"
#include "qnf/qnf_internal.h"

void make_bad_data(const char *dir); /* make_bad_data.c */

static const char *out_dir;

static void emit(const char *name, pbe *m) {
  bad_write(out_dir, name, m->b, m->n);
  pbe_free(m);
}

/* A model of one node `op` reading x (shape xs) and writing y (no shape),
 * with `nattr` attributes; `extra` adds initializers. */
static void one_node(const char *name, const char *op, const int64_t *xs,
                     int xrank, pbe *attrs, int nattr,
                     void (*extra)(pbe *g, const char **in, int *nin)) {
  pbe g = {0};
  const char *in[6] = {"x"};
  int nin = 1;
  if (extra) extra(&g, in, &nin);
  const char *out = "y";
  node(&g, op, "op", in, nin, &out, 1, attrs, nattr);
  value_info(&g, 11, "x", QI_FLOAT32, xs, xrank);
  value_info(&g, 12, "y", QI_FLOAT32, NULL, -1);
  pbe m = model(17, &g);
  emit(name, &m);
}

static const int64_t x4[4] = {1, 3, 8, 8};

/* ---- bytes that are not a model ----------------------------------------- */

static void not_models(void) {
  bad_write(out_dir, "empty.onnx", "", 0);
  const char *text = "this is not a model\n";
  bad_write(out_dir, "text.onnx", text, strlen(text));
  pbe m = bad_conv_model();
  bad_write(out_dir, "truncated_in_weights.onnx", m.b, m.n * 3 / 5);
  bad_write(out_dir, "truncated_last_byte.onnx", m.b, m.n - 1);
  pbe_free(&m);
  uint8_t ff[12];
  memset(ff, 0xFF, sizeof ff);
  ff[0] = 0x08; /* field 1 varint, then 11 continuation bytes */
  bad_write(out_dir, "varint_too_long.onnx", ff, sizeof ff);
  /* ModelProto.graph (field 7) declaring 2^62 bytes. */
  pbe h = {0};
  pbe_int(&h, 1, 8);
  pbe_tag(&h, 7, 2);
  pbe_varint(&h, (uint64_t)1 << 62);
  pbe_raw(&h, "\x0a\x00", 2);
  emit("huge_field_length.onnx", &h);
}

/* ---- tensors with hostile sizes ------------------------------------------ */

static void initializer_model(const char *name, const int64_t *dims, int nd,
                              const void *raw, size_t nraw) {
  pbe g = {0};
  pbe t = tensor_hdr("w", QI_FLOAT32, dims, nd);
  pbe_bytes(&t, T_RAW, raw, nraw);
  pbe_msg(&g, 5, &t);
  const char *in[2] = {"x", "w"}, *out = "y";
  node(&g, "Add", "add", in, 2, &out, 1, NULL, 0);
  const int64_t xs[1] = {4};
  value_info(&g, 11, "x", QI_FLOAT32, xs, 1);
  value_info(&g, 12, "y", QI_FLOAT32, NULL, -1);
  pbe m = model(17, &g);
  emit(name, &m);
}

static void hostile_sizes(void) {
  const float four[4] = {1, 2, 3, 4};
  const int64_t huge[3] = {(int64_t)1 << 30, (int64_t)1 << 30, 16};
  initializer_model("initializer_huge_dims.onnx", huge, 3, four, sizeof four);
  const int64_t ovf[2] = {(int64_t)1 << 62, (int64_t)1 << 62};
  initializer_model("initializer_dims_overflow.onnx", ovf, 2, four, sizeof four);
  const int64_t neg[2] = {-3, 2};
  initializer_model("initializer_negative_dim.onnx", neg, 2, four, sizeof four);
  const int64_t d44[2] = {4, 4};
  initializer_model("initializer_raw_too_short.onnx", d44, 2, four, sizeof four);
  /* float_data (field 4, packed) declaring 2^40 bytes. */
  pbe g = {0};
  const int64_t d4[1] = {4};
  pbe t = tensor_hdr("w", QI_FLOAT32, d4, 1);
  pbe_tag(&t, T_FLOATS, 2);
  pbe_varint(&t, (uint64_t)1 << 40);
  pbe_raw(&t, four, sizeof four);
  pbe_msg(&g, 5, &t);
  node1(&g, "Relu", "relu", "w", "y");
  value_info(&g, 12, "y", QI_FLOAT32, NULL, -1);
  pbe m = model(17, &g);
  emit("initializer_huge_packed_count.onnx", &m);
  /* Graph inputs of hostile shapes. */
  const int64_t neg_in[4] = {1, -7, 8, 8};
  one_node("input_negative_dim.onnx", "Relu", neg_in, 4, NULL, 0, NULL);
  const int64_t big_in[4] = {1, 3, (int64_t)1 << 31, (int64_t)1 << 31};
  one_node("input_dims_overflow.onnx", "Relu", big_in, 4, NULL, 0, NULL);
  const int64_t gib_in[4] = {1, 64, 1 << 15, 1 << 15};
  one_node("input_256GiB_activation.onnx", "Relu", gib_in, 4, NULL, 0, NULL);
  /* (2^62 + 1) * 4 wraps to 4 in int64 arithmetic. */
  const int64_t wrap_in[2] = {((int64_t)1 << 62) + 1, 4};
  const int64_t perm[2] = {1, 0};
  pbe tp = bad_attr_ints("perm", perm, 2);
  one_node("input_numel_wraps_to_4.onnx", "Transpose", wrap_in, 2, &tp, 1, NULL);
  one_node("input_numel_wraps_relu.onnx", "Relu", wrap_in, 2, NULL, 0, NULL);
  /* 2^62 + 1 floats: the element count fits in int64, the byte count
   * (x 4) wraps to 4 in size_t. */
  const int64_t bytes_wrap[1] = {((int64_t)1 << 62) + 1};
  one_node("input_bytes_wrap_to_4.onnx", "Relu", bytes_wrap, 1, NULL, 0, NULL);
  const int64_t r9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 2};
  one_node("input_rank9.onnx", "Relu", r9, 9, NULL, 0, NULL);
}

/* ---- graph structure ----------------------------------------------------- */

static void graph_structure(void) {
  const int64_t s4[1] = {4};
  pbe g = {0};
  node1(&g, "Relu", "r1", "b", "a");
  node1(&g, "Relu", "r2", "a", "b");
  const char *add_in[2] = {"x", "b"}, *y = "y";
  node(&g, "Add", "add", add_in, 2, &y, 1, NULL, 0);
  value_info(&g, 11, "x", QI_FLOAT32, s4, 1);
  value_info(&g, 12, "y", QI_FLOAT32, s4, 1);
  pbe m = model(17, &g);
  emit("cycle.onnx", &m);

  g = (pbe){0};
  const char *self_in[2] = {"x", "y"};
  node(&g, "Add", "add", self_in, 2, &y, 1, NULL, 0);
  value_info(&g, 11, "x", QI_FLOAT32, s4, 1);
  value_info(&g, 12, "y", QI_FLOAT32, s4, 1);
  m = model(17, &g);
  emit("self_loop.onnx", &m);

  g = (pbe){0};
  const char *conv_in[2] = {"x", "w_missing"};
  node(&g, "Conv", "conv", conv_in, 2, &y, 1, NULL, 0);
  value_info(&g, 11, "x", QI_FLOAT32, x4, 4);
  value_info(&g, 12, "y", QI_FLOAT32, NULL, -1);
  m = model(17, &g);
  emit("missing_initializer.onnx", &m);

  one_node("unknown_op.onnx", "FrobnicateV2", s4, 1, NULL, 0, NULL);

  g = (pbe){0};
  pbe n = {0};
  pbe_str(&n, 1, "x");
  pbe_str(&n, 2, "y");
  pbe_str(&n, 3, "evil");
  pbe_str(&n, 4, "Relu");
  pbe_str(&n, 7, "com.example.evil");
  pbe_msg(&g, 1, &n);
  value_info(&g, 11, "x", QI_FLOAT32, s4, 1);
  value_info(&g, 12, "y", QI_FLOAT32, s4, 1);
  m = model(17, &g);
  emit("unknown_domain.onnx", &m);

  g = (pbe){0};
  node1(&g, "Relu", "r1", "x", "y");
  node1(&g, "Sigmoid", "r2", "x", "y");
  value_info(&g, 11, "x", QI_FLOAT32, s4, 1);
  value_info(&g, 12, "y", QI_FLOAT32, s4, 1);
  m = model(17, &g);
  emit("two_producers.onnx", &m);

  g = (pbe){0};
  node1(&g, "Relu", "r1", "x", "y");
  value_info(&g, 11, "x", QI_FLOAT32, s4, 1);
  m = model(17, &g);
  emit("no_outputs.onnx", &m);

  g = (pbe){0};
  node1(&g, "Relu", "r1", "x", "y");
  value_info(&g, 11, "x", QI_FLOAT32, s4, 1);
  value_info(&g, 12, "z", QI_FLOAT32, s4, 1);
  m = model(17, &g);
  emit("output_not_produced.onnx", &m);

  g = (pbe){0};
  node1(&g, "Relu", "r1", "x", "y");
  value_info(&g, 11, "x", 8 /* STRING */, s4, 1);
  value_info(&g, 12, "y", QI_FLOAT32, s4, 1);
  m = model(17, &g);
  emit("string_input.onnx", &m);

  g = (pbe){0};
  bad_conv_graph(&g);
  m = model(1000, &g);
  emit("opset_1000.onnx", &m);

  /* Concat of 100 inputs: more than a node may have. */
  g = (pbe){0};
  const char *many[100];
  for (int i = 0; i < 100; i++) many[i] = "x";
  pbe ax = bad_attr_int("axis", 0);
  node(&g, "Concat", "concat", many, 100, &y, 1, &ax, 1);
  value_info(&g, 11, "x", QI_FLOAT32, s4, 1);
  value_info(&g, 12, "y", QI_FLOAT32, NULL, -1);
  m = model(17, &g);
  emit("concat_100_inputs.onnx", &m);

  /* If nodes nested 1000 deep through their then_branch attribute. */
  pbe inner = {0};
  node1(&inner, "Relu", "leaf", "x", "y");
  for (int depth = 0; depth < 1000; depth++) {
    pbe a = attr_hdr("then_branch", 5);
    pbe_msg(&a, 6, &inner);
    pbe outer = {0};
    const char *cond = "x", *o = "y";
    node(&outer, "If", "if", &cond, 1, &o, 1, &a, 1);
    inner = outer;
  }
  value_info(&inner, 11, "x", QI_FLOAT32, s4, 1);
  value_info(&inner, 12, "y", QI_FLOAT32, s4, 1);
  m = model(17, &inner);
  emit("if_nested_1000_deep.onnx", &m);
}

/* ---- attributes and shapes the ops must refuse --------------------------- */

static void conv_weights(pbe *g, const char **in, int *nin) {
  const int64_t w[4] = {4, 3, 3, 3};
  bad_weights(g, "w", w, 4);
  in[(*nin)++] = "w";
}

static void conv_weights_rank3(pbe *g, const char **in, int *nin) {
  const int64_t w[3] = {4, 3, 3};
  bad_weights(g, "w", w, 3);
  in[(*nin)++] = "w";
}

static void conv_weights_5ch(pbe *g, const char **in, int *nin) {
  const int64_t w[4] = {4, 5, 3, 3};
  bad_weights(g, "w", w, 4);
  in[(*nin)++] = "w";
}

static void shape_to_25(pbe *g, const char **in, int *nin) {
  const int64_t d2[1] = {2};
  pbe t = tensor_hdr("shape", QI_INT64, d2, 1);
  const int64_t v[2] = {5, 5};
  pbe_bytes(&t, T_RAW, v, sizeof v);
  pbe_msg(g, 5, &t);
  in[(*nin)++] = "shape";
}

static void shape_huge(pbe *g, const char **in, int *nin) {
  const int64_t d3[1] = {3};
  pbe t = tensor_hdr("shape", QI_INT64, d3, 1);
  const int64_t v[3] = {1 << 20, 1 << 20, 1 << 20};
  pbe_bytes(&t, T_RAW, v, sizeof v);
  pbe_msg(g, 5, &t);
  in[(*nin)++] = "shape";
}

/* [2^20, 2^19]: 2^39 floats, within the ops' element limit, 2^41 bytes. */
static void shape_2_39(pbe *g, const char **in, int *nin) {
  const int64_t d2[1] = {2};
  pbe t = tensor_hdr("shape", QI_INT64, d2, 1);
  const int64_t v[2] = {1 << 20, 1 << 19};
  pbe_bytes(&t, T_RAW, v, sizeof v);
  pbe_msg(g, 5, &t);
  in[(*nin)++] = "shape";
}

static void other_4x5(pbe *g, const char **in, int *nin) {
  const int64_t d[2] = {4, 5};
  bad_weights(g, "other", d, 2);
  in[(*nin)++] = "other";
}

static void other_1x4(pbe *g, const char **in, int *nin) {
  const int64_t d[2] = {1, 4};
  bad_weights(g, "other", d, 2);
  in[(*nin)++] = "other";
}

static void gather_idx_7(pbe *g, const char **in, int *nin) {
  const int64_t d1[1] = {1}, v[1] = {7};
  pbe t = tensor_hdr("idx", QI_INT64, d1, 1);
  pbe_bytes(&t, T_RAW, v, sizeof v);
  pbe_msg(g, 5, &t);
  in[(*nin)++] = "idx";
}

static void resize_scales(pbe *g, const char **in, int *nin, float s) {
  const int64_t d4[1] = {4};
  const float v[4] = {1, 1, s, s};
  float_init(g, "scales", d4, 1, v, 4);
  in[(*nin)++] = "";
  in[(*nin)++] = "scales";
}
static void resize_nan(pbe *g, const char **in, int *nin) {
  resize_scales(g, in, nin, __builtin_nanf(""));
}
static void resize_huge(pbe *g, const char **in, int *nin) {
  resize_scales(g, in, nin, 1e9f);
}

static void slice_step0(pbe *g, const char **in, int *nin) {
  const int64_t d1[1] = {1};
  const char *names[4] = {"starts", "ends", "axes", "steps"};
  const int64_t vals[4] = {0, 8, 2, 0};
  for (int i = 0; i < 4; i++) {
    pbe t = tensor_hdr(names[i], QI_INT64, d1, 1);
    pbe_bytes(&t, T_RAW, &vals[i], 8);
    pbe_msg(g, 5, &t);
    in[(*nin)++] = names[i];
  }
}

static void bn_params_len2(pbe *g, const char **in, int *nin) {
  const int64_t d2[1] = {2};
  const char *names[4] = {"scale", "bias", "mean", "var"};
  for (int i = 0; i < 4; i++) {
    bad_weights(g, names[i], d2, 1);
    in[(*nin)++] = names[i];
  }
}

static void attribute_and_shape_errors(void) {
  const int64_t k3[2] = {3, 3}, zero2[2] = {0, 0}, negp[4] = {-5, -5, 0, 0},
                hugep[4] = {(int64_t)1 << 40, 0, 0, 0},
                hugedil[2] = {(int64_t)1 << 40, 1};
  pbe a[2];
  a[0] = bad_attr_ints("kernel_shape", k3, 2);
  one_node("conv_weight_rank3.onnx", "Conv", x4, 4, a, 1, conv_weights_rank3);
  a[0] = bad_attr_ints("kernel_shape", k3, 2);
  one_node("conv_channel_mismatch.onnx", "Conv", x4, 4, a, 1, conv_weights_5ch);
  a[0] = bad_attr_int("group", 0);
  one_node("conv_group_0.onnx", "Conv", x4, 4, a, 1, conv_weights);
  a[0] = bad_attr_int("group", 2);
  one_node("conv_group_not_dividing.onnx", "Conv", x4, 4, a, 1, conv_weights);
  a[0] = bad_attr_ints("strides", zero2, 2);
  one_node("conv_stride_0.onnx", "Conv", x4, 4, a, 1, conv_weights);
  a[0] = bad_attr_ints("pads", negp, 4);
  one_node("conv_negative_pads.onnx", "Conv", x4, 4, a, 1, conv_weights);
  a[0] = bad_attr_ints("pads", hugep, 4);
  one_node("conv_huge_pads.onnx", "Conv", x4, 4, a, 1, conv_weights);
  a[0] = bad_attr_ints("dilations", hugedil, 2);
  one_node("conv_huge_dilation.onnx", "Conv", x4, 4, a, 1, conv_weights);
  a[0] = attr_hdr("strides", 6); /* FLOATS where INTS belong */
  pbe_f32(&a[0], 7, 1.0f);
  pbe_f32(&a[0], 7, 1.0f);
  one_node("conv_strides_as_floats.onnx", "Conv", x4, 4, a, 1, conv_weights);
  a[0] = bad_attr_float("axis", 1.0f); /* FLOAT where INT belongs */
  one_node("softmax_axis_as_float.onnx", "Softmax", x4, 4, a, 1, NULL);
  a[0] = bad_attr_ints("kernel_shape", zero2, 2);
  one_node("maxpool_kernel_0.onnx", "MaxPool", x4, 4, a, 1, NULL);
  a[0] = bad_attr_ints("kernel_shape", k3, 2);
  a[1] = bad_attr_ints("strides", zero2, 2);
  one_node("averagepool_stride_0.onnx", "AveragePool", x4, 4, a, 2, NULL);
  const int64_t x12[2] = {1, 12};
  one_node("reshape_mismatch.onnx", "Reshape", x12, 2, NULL, 0, shape_to_25);
  const int64_t x1[1] = {1};
  one_node("expand_to_2_60.onnx", "Expand", x1, 1, NULL, 0, shape_huge);
  one_node("expand_to_2_41_bytes.onnx", "Expand", x1, 1, NULL, 0, shape_2_39);
  const int64_t x23[2] = {2, 3}, x13[2] = {1, 3};
  one_node("matmul_inner_mismatch.onnx", "MatMul", x23, 2, NULL, 0, other_4x5);
  one_node("add_broadcast_mismatch.onnx", "Add", x13, 2, NULL, 0, other_1x4);
  const int64_t x34[2] = {3, 4};
  one_node("gather_const_index_7_of_3.onnx", "Gather", x34, 2, NULL, 0, gather_idx_7);
  a[0] = bad_attr_int("axis", 7);
  one_node("softmax_axis_7.onnx", "Softmax", x4, 4, a, 1, NULL);
  a[0] = bad_attr_int("axis", 5);
  one_node("concat_axis_5.onnx", "Concat", x4, 4, a, 1, NULL);
  const int64_t perm[4] = {0, 0, 1, 2};
  a[0] = bad_attr_ints("perm", perm, 4);
  one_node("transpose_repeated_perm.onnx", "Transpose", x4, 4, a, 1, NULL);
  a[0] = bad_attr_str("mode", "linear");
  one_node("resize_nan_scales.onnx", "Resize", x4, 4, a, 1, resize_nan);
  a[0] = bad_attr_str("mode", "linear");
  one_node("resize_1e9_scales.onnx", "Resize", x4, 4, a, 1, resize_huge);
  one_node("slice_step_0.onnx", "Slice", x4, 4, NULL, 0, slice_step0);
  one_node("batchnorm_params_len2.onnx", "BatchNormalization", x4, 4, NULL, 0,
           bn_params_len2);
}

/* ConstantOfShape whose constant shape asks for 2^60 floats. */
static void constant_of_shape_huge(void) {
  pbe g = {0};
  const int64_t d3[1] = {3}, v[3] = {1 << 20, 1 << 20, 1 << 20};
  pbe t = tensor_hdr("shape", QI_INT64, d3, 1);
  pbe_bytes(&t, T_RAW, v, sizeof v);
  pbe_msg(&g, 5, &t);
  node1(&g, "ConstantOfShape", "cos", "shape", "y");
  value_info(&g, 12, "y", QI_FLOAT32, NULL, -1);
  pbe m = model(17, &g);
  emit("constantofshape_2_60.onnx", &m);
}

/* ---- external data ------------------------------------------------------- */

static void external(const char *name, const char *loc, const char *off,
                     const char *len) {
  pbe g = {0};
  pbe t = ext_tensor(loc, off, len); /* "ext", float [2,3] */
  pbe_msg(&g, 5, &t);
  node1(&g, "Relu", "relu", "ext", "y");
  value_info(&g, 12, "y", QI_FLOAT32, NULL, -1);
  pbe m = model(17, &g);
  emit(name, &m);
}

static void external_data(void) {
  external("external_parent_dir.onnx", "../../../../etc/passwd", NULL, NULL);
  external("external_absolute_path.onnx", "/etc/passwd", NULL, NULL);
  external("external_missing_file.onnx", "no_such_weights.bin", NULL, NULL);
  const float six[6] = {1, 2, 3, 4, 5, 6};
  bad_write(out_dir, "external_weights.bin", six, sizeof six);
  external("external_offset_2_40.onnx", "external_weights.bin", "1099511627776", NULL);
  external("external_length_too_long.onnx", "external_weights.bin", "0", "4096");
  external("external_negative_offset.onnx", "external_weights.bin", "-8", NULL);
}

/* ---- .qnf ---------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = len > 0 ? malloc((size_t)len) : NULL;
  if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *n = b ? (size_t)len : 0;
  return b;
}

static void qnf_files(void) {
  pbe m = bad_conv_model();
  qi_model *model = NULL;
  qi_error e;
  uint8_t *q = NULL;
  size_t n = 0;
  char path[4096];
  snprintf(path, sizeof path, "%s/valid_conv.qnf", out_dir);
  if (qi_model_load_memory(m.b, m.n, NULL, &model, &e) != QI_OK ||
      qi_model_save(model, path, &e) != QI_OK ||
      !(q = read_all(path, &n))) {
    fprintf(stderr, "cannot make valid_conv.qnf: %s\n", e.message);
    abort();
  }
  qi_model_free(model);
  pbe_free(&m);
  remove(path);
  uint8_t *c = malloc(n);
  if (!c) abort();
  bad_write(out_dir, "qnf_truncated.qnf", q, n / 2);
  bad_write(out_dir, "qnf_header_only.qnf", q, 64);
  memcpy(c, q, n);
  c[n - 5] ^= 0x40; /* a payload byte, checksum left stale */
  bad_write(out_dir, "qnf_bad_checksum.qnf", c, n);
  memcpy(c, q, n);
  c[8] = 9; /* version 9.0 */
  qnf_reseal(c, n);
  bad_write(out_dir, "qnf_version_9.qnf", c, n);
  memcpy(c, q, n);
  c[1] = 'X'; /* not the magic: read as ONNX */
  bad_write(out_dir, "qnf_wrong_magic.qnf", c, n);
  memcpy(c, q, n);
  put32(c + 32, 100000); /* section_count */
  qnf_reseal(c, n);
  bad_write(out_dir, "qnf_100000_sections.qnf", c, n);
  memcpy(c, q, n);
  put64(c + 64 + 16, (uint64_t)1 << 60); /* first section's size */
  qnf_reseal(c, n);
  bad_write(out_dir, "qnf_section_2_60_bytes.qnf", c, n);
  memcpy(c, q, n);
  put64(c + 16, (uint64_t)1 << 40); /* file_size */
  qnf_reseal(c, n);
  bad_write(out_dir, "qnf_file_size_lies.qnf", c, n);
  free(c);
  free(q);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  not_models();
  hostile_sizes();
  graph_structure();
  attribute_and_shape_errors();
  constant_of_shape_huge();
  external_data();
  qnf_files();
  pbe m = bad_conv_model();
  emit("ok_conv.onnx", &m);
  m = bad_gather_model();
  emit("ok_gather.onnx", &m);
  make_bad_data(argv[1]);
  return 0;
}
