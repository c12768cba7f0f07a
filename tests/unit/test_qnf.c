/* The .qnf model file: CRC32C against published vectors and a bitwise
 * reference, lossless round trips (write, read, compare every field bit for
 * bit) of a graph using every stored field and of the asset models as
 * imported and as optimised, a reloaded model giving the same outputs,
 * 64-byte alignment read back by an independent walker, the writer refusing
 * graphs the reader would refuse, and versioning (newer major rejected,
 * newer minor with skippable sections accepted). Hostile inputs are in
 * test_qnf_hostile.c. Run from the repo root, with ../shared beside it. */
#include <glob.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "onnx/onnx.h"
#include "qnf/qnf.h"
#include "qnf/qnf_internal.h"
#include "qnf_test_util.h"
#include "qtest.h"
#include "runtime/model.h"

#define ASSET_GLOB "../shared/assets/models/*.onnx"
#define NUM_ASSET_MODELS 5

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CRC32C one bit at a time, straight from the definition. */
static uint32_t crc_bitwise(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
  }
  return ~c;
}

static void test_crc32c(qt_state *st) {
  /* RFC 3720 B.4 and the usual check value. */
  uint8_t v[48];
  QT_CHECK(st, qnf_crc32c(0, "123456789", 9) == 0xe3069283u);
  memset(v, 0, 32);
  QT_CHECK(st, qnf_crc32c(0, v, 32) == 0x8a9136aau);
  memset(v, 0xff, 32);
  QT_CHECK(st, qnf_crc32c(0, v, 32) == 0x62a8ab43u);
  for (int i = 0; i < 32; i++) v[i] = (uint8_t)i;
  QT_CHECK(st, qnf_crc32c(0, v, 32) == 0x46dd794eu);
  for (int i = 0; i < 32; i++) v[i] = (uint8_t)(31 - i);
  QT_CHECK(st, qnf_crc32c(0, v, 32) == 0x113fdb5cu);
  QT_CHECK(st, qnf_crc32c(0, NULL, 0) == 0);

  enum { N = 3000 };
  uint8_t *buf = malloc(N + 16);
  uint32_t seed = 12345;
  for (int i = 0; i < N + 16; i++) {
    seed = seed * 1664525u + 1013904223u;
    buf[i] = (uint8_t)(seed >> 24);
  }
  int hw = qnf_crc32c_hw_usable();
  for (size_t len = 0; len < N; len += len < 80 ? 1 : 97)
    for (size_t off = 0; off < 9; off += 4) {
      uint32_t ref = crc_bitwise(buf + off, len);
      QT_CHECKF(st, qnf_crc32c_scalar(0, buf + off, len) == ref, "len %zu",
                len);
      QT_CHECKF(st, qnf_crc32c(0, buf + off, len) == ref, "len %zu", len);
      if (hw)
        QT_CHECKF(st, qnf_crc32c_hw(0, buf + off, len) == ref, "len %zu", len);
      size_t cut = len / 3;
      QT_CHECK(st, qnf_crc32c(qnf_crc32c(0, buf + off, cut), buf + off + cut,
                              len - cut) == ref);
    }
  printf("  hardware CRC32C: %s\n", hw ? "yes" : "no (scalar only)");
  free(buf);
}

/* write -> read -> compare; then write the read graph again: same bytes. */
static void check_round_trip(qt_state *st, const qi_graph *g,
                             const char *what) {
  uint8_t *buf = NULL, *buf2 = NULL;
  size_t len = 0, len2 = 0;
  qi_error e = {0};
  qi_graph *r = NULL;
  qi_status s = qi_qnf_write_memory(g, &buf, &len, &e);
  QT_CHECKF(st, s == QI_OK, "%s: write: %s", what, e.message);
  if (s != QI_OK) return;
  QT_CHECK(st, qi_qnf_is_qnf(buf, len));
  s = qi_qnf_read(buf, len, &r, &e);
  QT_CHECKF(st, s == QI_OK, "%s: read: %s", what, e.message);
  if (s == QI_OK) {
    char why[600];
    QT_CHECKF(st, qnf_graph_eq(g, r, why, sizeof why), "%s: %s", what, why);
    QT_CHECK(st, qi_qnf_write_memory(r, &buf2, &len2, &e) == QI_OK);
    QT_CHECKF(st, len2 == len && buf2 && memcmp(buf, buf2, len) == 0,
              "%s: rewriting gives different bytes", what);
  }
  /* Borrowing: the same graph, every constant of the graph pointing into
   * buf (marked borrowed, so freeing the graph leaves buf alone) and
   * 64-byte aligned where buf is, attribute tensors copied; freed before
   * buf. */
  qi_graph *b = NULL;
  s = qi_qnf_read_borrowing(buf, len, &b, &e);
  QT_CHECKF(st, s == QI_OK, "%s: borrowing read: %s", what, e.message);
  if (s == QI_OK) {
    /* qnf_graph_eq wants no borrowed tensor: compare with the flags down
     * (each checked below), then raise them again before the free. */
    for (int i = 0; i < b->ntensors; i++)
      QT_CHECKF(st, b->tensors[i].borrowed == (b->tensors[i].data != NULL),
                "%s: tensor '%s' borrowed flag %d", what, b->tensors[i].name,
                b->tensors[i].borrowed);
    for (int i = 0; i < b->ntensors; i++) b->tensors[i].borrowed = 0;
    char why[600];
    QT_CHECKF(st, qnf_graph_eq(g, b, why, sizeof why), "%s: borrowed: %s",
              what, why);
    for (int i = 0; i < b->ntensors; i++)
      b->tensors[i].borrowed = b->tensors[i].data != NULL;
    for (int i = 0; i < b->ntensors; i++) {
      const qi_tensor *t = &b->tensors[i];
      if (t->kind != QI_TK_CONST) continue;
      const uint8_t *d = t->data;
      QT_CHECKF(st, t->borrowed && d >= buf && d + t->nbytes <= buf + len,
                "%s: constant '%s' not borrowed from the image", what,
                t->name);
      QT_CHECKF(st, (size_t)(d - buf) % 64 == 0,
                "%s: constant '%s' at image offset %zu", what, t->name,
                (size_t)(d - buf));
    }
  }
  qi_graph_free(b);
  free(buf);
  free(buf2);
  qi_graph_free(r);
}

static void test_round_trip_sample(qt_state *st) {
  qi_graph *g = qnf_sample_graph();
  check_round_trip(st, g, "sample");
  free(g->name);
  g->name = NULL;
  check_round_trip(st, g, "sample without a name");
  qi_graph_free(g);
  g = qi_graph_create();
  check_round_trip(st, g, "empty graph");
  qi_graph_free(g);
}

static void test_round_trip_file(qt_state *st) {
  char tmp[64]; /* per process: sanitizer and plain runs may overlap */
  snprintf(tmp, sizeof tmp, "/tmp/qinfer_test_qnf_%ld.qnf", (long)getpid());
  qi_graph *g = qnf_sample_graph(), *r = NULL;
  qi_error e = {0};
  QT_CHECKF(st, qi_qnf_write(g, tmp, &e) == QI_OK, "%s", e.message);
  size_t len = 0;
  uint8_t *buf = qnf_read_file(tmp, &len), *mem = NULL;
  size_t mlen = 0;
  QT_CHECK(st, buf != NULL);
  QT_CHECK(st, qi_qnf_write_memory(g, &mem, &mlen, &e) == QI_OK);
  QT_CHECK(st, buf && mem && len == mlen && memcmp(buf, mem, len) == 0);
  QT_CHECK(st, buf && qi_qnf_read(buf, len, &r, &e) == QI_OK);
  char why[600];
  QT_CHECKF(st, r && qnf_graph_eq(g, r, why, sizeof why), "%s", why);
  qi_graph_free(r);
  remove(tmp);
  /* A directory that does not exist: an I/O error naming the path. */
  qi_status s = qi_qnf_write(g, "/nonexistent-dir/x.qnf", &e);
  QT_CHECK(st, s == QI_ERR_IO && strstr(e.message, "/nonexistent-dir/x.qnf"));
  /* A full device (only where /dev/full is one: containers may lack it,
   * and the test must not create a file there). */
  struct stat sb;
  if (stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode)) {
    s = qi_qnf_write(g, "/dev/full", &e);
    QT_CHECKF(st, s == QI_ERR_IO && strstr(e.message, "failed at byte"),
              "status %d", s);
    QT_CHECK(st, stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode));
  }
  /* A file size limit below the file's size: writing fails part way, the
   * error names the byte, and the partial file is gone. */
  struct rlimit old_lim, lim;
  if (getrlimit(RLIMIT_FSIZE, &old_lim) == 0) {
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old_lim;
    lim.rlim_cur = 1000;
    QT_CHECK(st, setrlimit(RLIMIT_FSIZE, &lim) == 0);
    s = qi_qnf_write(g, tmp, &e);
    setrlimit(RLIMIT_FSIZE, &old_lim);
    signal(SIGXFSZ, old_handler);
    QT_CHECKF(st, s == QI_ERR_IO && strstr(e.message, "failed at byte"),
              "status %d: %s", s, e.message);
    QT_CHECK(st, stat(tmp, &sb) != 0);
  }
  QT_CHECK(st, qi_qnf_write(g, NULL, &e) == QI_ERR_INVALID_ARG);
  QT_CHECK(st,
           qi_qnf_write_memory(NULL, &mem, &mlen, &e) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_qnf_write_memory(g, NULL, &mlen, &e) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_qnf_read(buf, len, NULL, &e) == QI_ERR_INVALID_ARG);
  r = (qi_graph *)1;
  QT_CHECK(st, qi_qnf_read(NULL, 0, &r, &e) == QI_ERR_PARSE && r == NULL);
  free(buf);
  free(mem);
  qi_graph_free(g);
}

static void test_is_qnf(qt_state *st) {
  QT_CHECK(st, qi_qnf_is_qnf((const uint8_t *)"\x89QNF\r\n\x1a\n", 8));
  QT_CHECK(st, !qi_qnf_is_qnf((const uint8_t *)"\x89QNF\r\n\x1a", 7));
  QT_CHECK(st, !qi_qnf_is_qnf((const uint8_t *)"\x89QNF\n\n\x1a\n", 8));
  QT_CHECK(st, !qi_qnf_is_qnf((const uint8_t *)"\x08\x07\x12\x04", 4));
  QT_CHECK(st, !qi_qnf_is_qnf(NULL, 0));
}

/* The TENS section walked by the layout of docs/format.md, independently of
 * the reader: every constant's block is 64-byte aligned in the file and
 * holds the tensor's bytes. */
static void test_alignment(qt_state *st) {
  qi_graph *g = qnf_sample_graph();
  uint8_t *buf = NULL;
  size_t len = 0;
  qi_error e;
  QT_CHECK(st, qi_qnf_write_memory(g, &buf, &len, &e) == QI_OK);
  qnf_sec secs[8];
  int n = qnf_sections(buf, secs, 8);
  const qnf_sec *tens = NULL, *data = NULL;
  for (int i = 0; i < n; i++) {
    QT_CHECK(st, (secs[i].payload - buf) % 64 == 0);
    if (secs[i].type == QNF_SEC_TENSORS) tens = &secs[i];
    if (secs[i].type == QNF_SEC_DATA) data = &secs[i];
  }
  QT_CHECK(st, n == 4 && tens && data);
  if (!tens || !data) goto done;
  const uint8_t *p = tens->payload;
  int count = (int)qnf_t_le32(p), consts = 0;
  p += 4;
  QT_CHECK(st, count == g->ntensors);
  for (int i = 0; i < count && i < g->ntensors; i++) {
    const qi_tensor *t = &g->tensors[i];
    uint32_t nl = qnf_t_le32(p);
    QT_CHECK(st, nl == strlen(t->name) && memcmp(p + 4, t->name, nl) == 0);
    p += 4 + nl;
    QT_CHECK(st, (int32_t)qnf_t_le32(p) == (int32_t)t->dtype);
    int rank = (int32_t)qnf_t_le32(p + 8);
    QT_CHECK(st, rank == t->shape.rank);
    p += 12 + 8 * (rank > 0 ? rank : 0);
    uint32_t flags = qnf_t_le32(p);
    p += 4;
    if (flags & 1) {
      uint64_t off = qnf_t_le64(p), size = qnf_t_le64(p + 8);
      p += 16;
      consts++;
      QT_CHECK(st, (uint64_t)(data->payload - buf + off) % 64 == 0);
      QT_CHECK(st, size == t->nbytes && off + size <= data->size);
      QT_CHECK(st,
               size == 0 || memcmp(data->payload + off, t->data, size) == 0);
    }
    uint32_t nscales = qnf_t_le32(p + 16);
    QT_CHECK(st, (int)nscales == t->quant.nscales);
    p += 20 + 4 * (size_t)nscales;
  }
  int want_consts = 0;
  for (int i = 0; i < g->ntensors; i++)
    want_consts += g->tensors[i].kind == QI_TK_CONST;
  QT_CHECK(st, p == tens->payload + tens->size && consts == want_consts);
done:
  free(buf);
  qi_graph_free(g);
}

/* Each broken graph is refused by the writer with a message naming what. */
static void test_writer_refuses(qt_state *st) {
  static const char *const expect[] = {
      "without data",   "bytes of data",     "rank 9",
      "dim 1",          "unknown data type", "input 0 is tensor",
      "two tensors",    "earlier node",      "already produced",
      "unknown type",   "lacks the value",   "scales along",
      "graph output 0", "is NULL",           "unknown precision",
      "more than 2^59"};
  int ncases = (int)(sizeof expect / sizeof expect[0]);
  for (int c = 0; c < ncases; c++) {
    qi_graph *g = qnf_sample_graph();
    qi_tensor *w = &g->tensors[1], *x = &g->tensors[0];
    qi_node *conv = &g->nodes[0];
    switch (c) {
      case 0:
        free(w->data);
        w->data = NULL;
        break;
      case 1:
        w->nbytes--;
        break;
      case 2:
        x->shape.rank = 9;
        break;
      case 3:
        x->shape.d[1] = -2;
        break;
      case 4:
        x->dtype = (qi_dtype)5;
        break;
      case 5:
        conv->in[0] = g->ntensors;
        break;
      case 6:
        free(w->name);
        w->name = strdup("x");
        break;
      case 7:
        conv->in[0] = g->nodes[1].out[0];
        break; /* read before made */
      case 8:
        g->nodes[1].out[0] = 1;
        break; /* writes constant w */
      case 9:
        conv->attrs[0].type = (qi_attr_type)9;
        break;
      case 10:
        free(conv->attrs[2].s);
        conv->attrs[2].s = NULL;
        break;
      case 11:
        w->quant.nscales = 3;
        break;
      case 12:
        g->outputs[0] = -1;
        break;
      case 13:
        free(conv->attrs[7].strings[1]);
        conv->attrs[7].strings[1] = NULL;
        break;
      case 14:
        g->nodes[2].precision = (qi_precision)3;
        break;
      case 15:
        x->shape.d[2] = (int64_t)1 << 40;
        x->shape.d[3] = (int64_t)1 << 30;
        break;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    qi_error e = {0};
    qi_status s = qi_qnf_write_memory(g, &buf, &len, &e);
    QT_CHECKF(st,
              s == QI_ERR_INVALID_ARG && strstr(e.message, "cannot save") &&
                  strstr(e.message, expect[c]),
              "case %d: status %d, message '%s'", c, s, e.message);
    QT_CHECK(st, buf == NULL);
    qi_graph_free(g);
  }
}

/* Newer major: refused with a clear message. Newer minor: accepted, its
 * skippable sections skipped; an unknown section without the flag refused. */
static void test_versions(qt_state *st) {
  qi_graph *g = qnf_sample_graph();
  uint8_t *buf = NULL;
  size_t len = 0;
  qi_error e = {0};
  QT_CHECK(st, qi_qnf_write_memory(g, &buf, &len, &e) == QI_OK);
  qnf_sec secs[8];
  int n = qnf_sections(buf, secs, 7);
  static const uint8_t extra[100] = {1, 2, 3};
  /* The unknown section first, so that it precedes the known ones. */
  memmove(secs + 1, secs, sizeof(qnf_sec) * (size_t)n);
  secs[0] = (qnf_sec){QNF_FOURCC('P', 'A', 'C', 'K'), QNF_SEC_MAY_SKIP, extra,
                      sizeof extra};
  struct {
    unsigned major, minor, flags;
    qi_status want;
    const char *msg;
  } cases[] = {
      {1, 0, QNF_SEC_MAY_SKIP, QI_OK, NULL},
      {1, 7, QNF_SEC_MAY_SKIP | 0x40, QI_OK, NULL},
      {1, 7, 0, QI_ERR_UNSUPPORTED, "'PACK' is unknown to this reader"},
      {2, 0, QNF_SEC_MAY_SKIP, QI_ERR_UNSUPPORTED,
       "version 2.0, newer than this reader"},
      {513, 3, QNF_SEC_MAY_SKIP, QI_ERR_UNSUPPORTED, "version 513.3, newer"},
      {0, 9, QNF_SEC_MAY_SKIP, QI_ERR_PARSE, "unknown format version 0.9"}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    secs[0].flags = cases[c].flags;
    size_t flen;
    uint8_t *f = qnf_build(secs, n + 1, cases[c].major, cases[c].minor, &flen);
    qi_graph *r = NULL;
    qi_status s = qi_qnf_read(f, flen, &r, &e);
    QT_CHECKF(st, s == cases[c].want, "case %zu: status %d: %s", c, s,
              s ? e.message : "");
    if (cases[c].msg)
      QT_CHECKF(st, s && strstr(e.message, cases[c].msg), "case %zu: '%s'", c,
                e.message);
    char why[600];
    if (s == QI_OK)
      QT_CHECKF(st, qnf_graph_eq(g, r, why, sizeof why), "case %zu: %s", c,
                why);
    qi_graph_free(r);
    free(f);
  }
  free(buf);
  qi_graph_free(g);
}

static void test_asset_models_imported(qt_state *st) {
  glob_t gl;
  int found = glob(ASSET_GLOB, 0, NULL, &gl) == 0 ? (int)gl.gl_pathc : 0;
  QT_CHECKF(st, found >= NUM_ASSET_MODELS, "%d asset models", found);
  for (int m = 0; m < found; m++) {
    size_t n = 0;
    uint8_t *onnx = qnf_read_file(gl.gl_pathv[m], &n);
    qi_graph *g = NULL;
    qi_error e = {0};
    QT_CHECKF(st,
              onnx && qi_onnx_import(onnx, n, "../shared/assets/models", &g,
                                     &e) == QI_OK,
              "%s: %s", gl.gl_pathv[m], e.message);
    free(onnx);
    if (!g) continue;
    /* Give the constants quantization parameters too, as a calibrated model
     * would have: per channel along axis 0 where rank >= 2. */
    for (int i = 0; i < g->ntensors; i++) {
      qi_tensor *t = &g->tensors[i];
      if (t->kind != QI_TK_CONST || t->shape.rank < 2 || i % 3) continue;
      t->quant.has = 1;
      t->quant.axis = 0;
      t->quant.nscales = (int)t->shape.d[0];
      t->quant.scales = malloc(sizeof(float) * ((size_t)t->quant.nscales + 1));
      for (int k = 0; k < t->quant.nscales; k++)
        t->quant.scales[k] = 1.0f / (float)(k + i + 1);
    }
    double t0 = now_s();
    check_round_trip(st, g, gl.gl_pathv[m]);
    printf("  %s: %d tensors, %d nodes, round trip twice in %.1f ms\n",
           gl.gl_pathv[m], g->ntensors, g->nnodes, (now_s() - t0) * 1e3);
    qi_graph_free(g);
  }
  globfree(&gl);
}

/* Runs `a` and `b` on the same inputs (float32 ones random in [-2, 2),
 * others zero) and compares every output bit for bit. */
static void compare_runs(qt_state *st, const qi_model *a, const qi_model *b,
                         const char *what) {
  qi_session *sa = NULL, *sb = NULL;
  qi_error e = {0};
  QT_CHECKF(st, qi_session_create(a, NULL, &sa, &e) == QI_OK, "%s", e.message);
  QT_CHECKF(st, qi_session_create(b, NULL, &sb, &e) == QI_OK, "%s", e.message);
  int ni = qi_model_num_inputs(a), no = qi_model_num_outputs(a);
  qi_tensor_info *info = calloc((size_t)(ni + no), sizeof *info);
  qi_binding *bind = calloc((size_t)(ni + 2 * no), sizeof *bind);
  uint32_t seed = 7;
  for (int i = 0; sa && sb && i < ni + no; i++) {
    qi_tensor_info *t = &info[i];
    if (i < ni)
      qi_model_input_info(a, i, t, &e);
    else
      qi_model_output_info(a, i - ni, t, &e);
    size_t count = 1;
    for (int d = 0; d < t->rank; d++) count *= (size_t)t->shape[d];
    size_t bytes = count * qi_dtype_size(t->dtype);
    bind[i] = (qi_binding){
        t->name, t->dtype, t->rank, t->shape, calloc(bytes + 1, 1), bytes};
    if (i >= ni) {
      bind[i + no] = bind[i];
      bind[i + no].data = calloc(bytes + 1, 1);
    } else if (t->dtype == QI_FLOAT32) {
      float *x = bind[i].data;
      for (size_t k = 0; k < count; k++) {
        seed = seed * 1664525u + 1013904223u;
        x[k] = (float)(seed >> 8) / 16777216.0f * 4.0f - 2.0f;
      }
    }
  }
  if (sa && sb) {
    QT_CHECKF(st, qi_session_run(sa, bind, ni, bind + ni, no, &e) == QI_OK,
              "%s: %s", what, e.message);
    QT_CHECKF(st, qi_session_run(sb, bind, ni, bind + ni + no, no, &e) == QI_OK,
              "%s: reloaded: %s", what, e.message);
    for (int k = 0; k < no; k++) {
      const qi_binding *ya = &bind[ni + k], *yb = &bind[ni + no + k];
      int nonzero = 0;
      for (size_t i = 0; i < ya->size_bytes; i++)
        nonzero |= ((const uint8_t *)ya->data)[i];
      QT_CHECKF(st, nonzero && memcmp(ya->data, yb->data, ya->size_bytes) == 0,
                "%s: output '%s' differs after reloading (or is all zero)",
                what, ya->name);
    }
  }
  for (int i = 0; i < ni + 2 * no; i++) free(bind[i].data);
  free(bind);
  free(info);
  qi_session_free(sa);
  qi_session_free(sb);
}

/* A model loaded from its graph saved as .qnf, the way the runtime will load
 * one: read, then bind, infer and prepare (fusions are done already). */
static qi_model *reload(qt_state *st, const qi_model *a, const char *what) {
  uint8_t *buf = NULL;
  size_t len = 0;
  qi_graph *g = NULL;
  qi_error e = {0};
  QT_CHECK(st, qi_qnf_write_memory(a->g, &buf, &len, &e) == QI_OK);
  QT_CHECKF(st, buf && qi_qnf_read(buf, len, &g, &e) == QI_OK, "%s: %s", what,
            e.message);
  free(buf);
  if (!g) return NULL;
  qi_status s = qi_graph_bind_ops(g, &e);
  if (s == QI_OK) s = qi_graph_infer_and_fold(g, 1, &e);
  if (s == QI_OK) s = qi_graph_prepare(g, 1, &e);
  QT_CHECKF(st, s == QI_OK, "%s: preparing the reloaded graph: %s", what,
            e.message);
  qi_model *b = calloc(1, sizeof *b);
  b->g = g;
  if (s != QI_OK) {
    qi_model_free(b);
    return NULL;
  }
  return b;
}

/* The graph as the runtime holds it after optimisation: round trip, then a
 * second model loaded from the .qnf, whose outputs must equal the first's
 * bit for bit. */
static void test_optimised_models_reloaded(qt_state *st) {
  glob_t gl;
  int found = glob(ASSET_GLOB, 0, NULL, &gl) == 0 ? (int)gl.gl_pathc : 0;
  QT_CHECKF(st, found >= NUM_ASSET_MODELS, "%d asset models", found);
  for (int m = 0; m < found; m++) {
    const char *path = gl.gl_pathv[m];
    qi_model *a = NULL;
    qi_error e = {0};
    /* Symbolic dims other than the batch need a size: 320 (ppocrv4_rec's
     * text line width). */
    qi_model_options o = qi_model_options_default();
    qi_input_shape shapes[4];
    size_t n = 0;
    uint8_t *onnx = qnf_read_file(path, &n);
    qi_graph *im = NULL;
    if (onnx && qi_onnx_import(onnx, n, NULL, &im, &e) == QI_OK)
      for (int i = 0; i < im->ninputs && i < 4; i++) {
        const qi_tensor *t = &im->tensors[im->inputs[i]];
        shapes[i].name = t->name;
        shapes[i].rank = t->shape.rank;
        for (int d = 0; d < t->shape.rank; d++)
          shapes[i].dims[d] = t->shape.d[d] >= 0 ? t->shape.d[d] : d ? 320 : 1;
        o.num_input_shapes = i + 1;
      }
    o.input_shapes = shapes;
    free(onnx);
    QT_CHECKF(st, qi_model_load_file(path, &o, &a, &e) == QI_OK, "%s",
              e.message);
    qi_graph_free(im);
    if (!a) continue;
    double t0 = now_s();
    check_round_trip(st, a->g, path);
    qi_model *b = reload(st, a, path);
    printf(
        "  %s optimised: %d tensors, %d nodes, saved and reloaded in "
        "%.1f ms\n",
        path, a->g->ntensors, a->g->nnodes, (now_s() - t0) * 1e3);
    if (b) compare_runs(st, a, b, path);
    qi_model_free(a);
    qi_model_free(b);
  }
  globfree(&gl);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_crc32c);
  QT_RUN(&st, test_round_trip_sample);
  QT_RUN(&st, test_round_trip_file);
  QT_RUN(&st, test_is_qnf);
  QT_RUN(&st, test_alignment);
  QT_RUN(&st, test_writer_refuses);
  QT_RUN(&st, test_versions);
  QT_RUN(&st, test_asset_models_imported);
  QT_RUN(&st, test_optimised_models_reloaded);
  return qt_summary(&st);
}
