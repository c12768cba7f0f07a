/* Writes the seed corpus of fuzz_qnf into the directory given (normally
 * tests/fuzz/corpus/qnf): the test sample graph, an empty graph, a file of
 * version 1.3 with a skippable section, and the ONNX seeds of
 * tests/fuzz/corpus/onnx that import, saved as .qnf. Build from the repo
 * root:
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude -Ilib -Ikernels -Itests/unit
 *     tests/fuzz/make_qnf_corpus.c lib/libqinfer.a -lopenblas -lpthread -lm
 *     -o make_qnf_corpus && ./make_qnf_corpus tests/fuzz/corpus/qnf */
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"
#include "qnf/qnf.h"
#include "qnf_test_util.h"

static int save(const qi_graph *g, const char *dir, const char *name) {
  char path[4096];
  qi_error e;
  snprintf(path, sizeof path, "%s/%s.qnf", dir, name);
  if (qi_qnf_write(g, path, &e) != QI_OK) {
    fprintf(stderr, "%s: %s\n", path, e.message);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  int bad = 0;
  qi_graph *g = qnf_sample_graph();
  bad |= save(g, argv[1], "sample");
  /* The same with a skippable section of a later minor version. */
  uint8_t *buf = NULL;
  size_t len = 0;
  qi_error e;
  if (qi_qnf_write_memory(g, &buf, &len, &e) == QI_OK) {
    qnf_sec secs[8];
    int n = qnf_sections(buf, secs, 7);
    static const uint8_t extra[8] = {'c', 'a', 'l', 'i', 'b', 0, 0, 1};
    secs[n] = (qnf_sec){QNF_FOURCC('C', 'A', 'L', 'B'), QNF_SEC_MAY_SKIP, extra,
                        sizeof extra};
    size_t flen;
    uint8_t *f = qnf_build(secs, n + 1, 1, 3, &flen);
    char path[4096];
    snprintf(path, sizeof path, "%s/sample_v1.3_skippable.qnf", argv[1]);
    FILE *out = fopen(path, "wb");
    bad |= !out || fwrite(f, 1, flen, out) != flen;
    if (out) fclose(out);
    free(f);
    free(buf);
  }
  qi_graph_free(g);
  g = qi_graph_create();
  bad |= save(g, argv[1], "empty");
  qi_graph_free(g);
  glob_t gl;
  if (glob("tests/fuzz/corpus/onnx/*.onnx", 0, NULL, &gl) == 0) {
    for (size_t i = 0; i < gl.gl_pathc; i++) {
      size_t n = 0;
      uint8_t *onnx = qnf_read_file(gl.gl_pathv[i], &n);
      g = NULL;
      if (onnx && qi_onnx_import(onnx, n, NULL, &g, &e) == QI_OK) {
        char name[256];
        snprintf(name, sizeof name, "%s", basename(gl.gl_pathv[i]));
        name[strcspn(name, ".")] = '\0';
        bad |= save(g, argv[1], name);
      }
      free(onnx);
      qi_graph_free(g);
    }
    globfree(&gl);
  }
  return bad;
}
