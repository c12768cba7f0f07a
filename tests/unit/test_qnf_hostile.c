/* The .qnf reader on damaged and hostile files: truncation at every length,
 * every byte flipped (each gives an error naming the header, table, section
 * or padding at fault), every byte flipped again with the checksums fixed
 * up (the parsers then see it: no crash, and whatever is accepted saves and
 * reloads), and every section cut short; on the sample graph and on
 * ultraface_rfb320. Crafted fields are in test_qnf_crafted.c. Run from the
 * repo root (../shared beside it), and also under ASan and UBSan. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"
#include "qnf/qnf.h"
#include "qnf/qnf_internal.h"
#include "qnf_test_util.h"
#include "qtest.h"

#define MODEL "../shared/assets/models/ultraface_rfb320.onnx"
/* Sampled positions per section of the large file. */
#define SAMPLES_PER_SECTION 300
#define NUM_MODEL_CUTS 1500

static uint8_t *sample_file(size_t *len) {
  qi_graph *g = qnf_sample_graph();
  uint8_t *buf = NULL;
  qi_error e;
  if (qi_qnf_write_memory(g, &buf, len, &e) != QI_OK) buf = NULL;
  qi_graph_free(g);
  return buf;
}

static uint8_t *model_file(size_t *len) {
  size_t n = 0;
  uint8_t *onnx = qnf_read_file(MODEL, &n), *buf = NULL;
  qi_graph *g = NULL;
  qi_error e;
  if (onnx && qi_onnx_import(onnx, n, NULL, &g, &e) == QI_OK &&
      qi_qnf_write_memory(g, &buf, len, &e) != QI_OK)
    buf = NULL;
  free(onnx);
  qi_graph_free(g);
  return buf;
}

/* Which part of the file byte `at` lies in, as the reader's messages name
 * it: "header", "section table", "section 'TENS'" and so on, or "padding". */
static void region_of(const uint8_t *buf, size_t at, char *out, size_t len) {
  int count = (int)qnf_t_le32(buf + QNF_H_SECTION_COUNT);
  if (at < QNF_HEADER_SIZE) {
    snprintf(out, len, "header");
    return;
  }
  if (at < QNF_HEADER_SIZE + (size_t)count * QNF_ENTRY_SIZE) {
    snprintf(out, len, "section table");
    return;
  }
  qnf_sec secs[8];
  qnf_sections(buf, secs, 8);
  for (int i = 0; i < count && i < 8; i++) {
    size_t off = (size_t)(secs[i].payload - buf);
    if (at >= off && at < off + secs[i].size) {
      char name[12];
      qnf_type_name(secs[i].type, name);
      snprintf(out, len, "section '%s'", name);
      return;
    }
  }
  snprintf(out, len, "padding");
}

/* A flipped byte: refused, with the region of the flip in the message. */
static void check_flip(qt_state *st, const uint8_t *orig, uint8_t *work,
                       size_t len, size_t at, uint8_t mask) {
  memcpy(work, orig, len);
  work[at] ^= mask;
  qi_graph *g = NULL;
  qi_error e = {0};
  qi_status s = qi_qnf_read(work, len, &g, &e);
  char region[40];
  region_of(orig, at, region, sizeof region);
  QT_CHECKF(st, s != QI_OK && !g && strstr(e.message, region),
            "byte %zu ^ 0x%02x: status %d, '%s' should name %s", at, mask, s,
            e.message, region);
  qi_graph_free(g);
}

static void test_flips_detected(qt_state *st) {
  size_t len = 0;
  uint8_t *buf = sample_file(&len), *work = malloc(len);
  QT_CHECK(st, buf != NULL);
  for (size_t at = 0; buf && at < len; at++) {
    check_flip(st, buf, work, len, at, 0x01);
    check_flip(st, buf, work, len, at, 0x80);
  }
  free(buf);
  free(work);
  /* The large file: every header and table byte, a sample of the rest. */
  buf = model_file(&len);
  QT_CHECK(st, buf != NULL);
  if (!buf) return;
  work = malloc(len);
  for (size_t at = 0; at < 64 + 32 * 4; at++)
    check_flip(st, buf, work, len, at, 0x10);
  qnf_sec secs[8];
  int n = qnf_sections(buf, secs, 8);
  uint32_t seed = 99;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < SAMPLES_PER_SECTION && secs[i].size; k++) {
      seed = seed * 1664525u + 1013904223u;
      size_t at = (size_t)(secs[i].payload - buf) + seed % secs[i].size;
      check_flip(st, buf, work, len, at, (uint8_t)(1u << (seed >> 29)));
    }
  free(buf);
  free(work);
}

static void check_cut(qt_state *st, const uint8_t *buf, size_t cut) {
  uint8_t *copy = malloc(cut ? cut : 1);
  memcpy(copy, buf, cut);
  qi_graph *g = NULL;
  qi_error e = {0};
  qi_status s = qi_qnf_read(copy, cut, &g, &e);
  QT_CHECKF(st,
            s == QI_ERR_PARSE && !g &&
                (strstr(e.message, "truncated") || strstr(e.message, "magic")),
            "cut at %zu: status %d, '%s'", cut, s, e.message);
  qi_graph_free(g);
  free(copy);
}

static void test_truncation(qt_state *st) {
  size_t len = 0;
  uint8_t *buf = sample_file(&len);
  for (size_t cut = 0; buf && cut < len; cut++) check_cut(st, buf, cut);
  free(buf);
  buf = model_file(&len);
  QT_CHECK(st, buf != NULL);
  for (size_t i = 0; buf && i < NUM_MODEL_CUTS; i++)
    check_cut(st, buf,
              i < 300 ? i : (size_t)((double)len * (double)i / NUM_MODEL_CUTS));
  free(buf);
}

/* Whatever the reader accepts is a consistent graph that saves and reads
 * back equal. */
static void check_accepted(qt_state *st, qi_graph *g, const char *what) {
  uint8_t *buf = NULL;
  size_t len = 0;
  qi_error e = {0};
  qi_graph *r = NULL;
  char why[600];
  QT_CHECKF(st, qi_qnf_write_memory(g, &buf, &len, &e) == QI_OK,
            "%s: accepted but not saved: %s", what, e.message);
  QT_CHECKF(st, buf && qi_qnf_read(buf, len, &r, &e) == QI_OK, "%s", what);
  QT_CHECKF(st, r && qnf_graph_eq(g, r, why, sizeof why), "%s: %s", what, why);
  free(buf);
  qi_graph_free(r);
}

static void flip_resealed(qt_state *st, const uint8_t *orig, uint8_t *work,
                          size_t len, size_t at, uint8_t mask, int *accepted) {
  memcpy(work, orig, len);
  work[at] ^= mask;
  qnf_reseal(work, len);
  qi_graph *g = NULL;
  qi_error e = {0};
  qi_status s = qi_qnf_read(work, len, &g, &e);
  if (s == QI_OK) {
    char what[64];
    snprintf(what, sizeof what, "byte %zu ^ 0x%02x", at, mask);
    check_accepted(st, g, what);
    ++*accepted;
  } else {
    QT_CHECKF(st,
              !g && strncmp(e.message, "qnf: ", 5) == 0 &&
                  (s == QI_ERR_PARSE || s == QI_ERR_UNSUPPORTED),
              "byte %zu: status %d '%s'", at, s, e.message);
  }
  qi_graph_free(g);
}

static void test_flips_resealed(qt_state *st) {
  size_t len = 0;
  int accepted = 0, tried = 0;
  uint8_t *buf = sample_file(&len), *work = malloc(len);
  static const uint8_t masks[] = {0x01, 0x80, 0xff, 0x7f};
  qnf_sec secs[8];
  int n = buf ? qnf_sections(buf, secs, 8) : 0;
  size_t data_at = 0;
  for (int i = 0; i < n; i++)
    if (secs[i].type == QNF_SEC_DATA) data_at = (size_t)(secs[i].payload - buf);
  /* Everything before the constant data: header, table, records. */
  for (size_t at = 0; at < data_at; at++)
    for (size_t m = 0; m < sizeof masks; m++, tried++)
      flip_resealed(st, buf, work, len, at, masks[m], &accepted);
  printf("  sample: %d of %d resealed flips accepted (names, values)\n",
         accepted, tried);
  free(buf);
  free(work);
  buf = model_file(&len);
  if (!buf) return;
  work = malloc(len);
  n = qnf_sections(buf, secs, 8);
  uint32_t seed = 5;
  accepted = tried = 0;
  for (int i = 0; i < n; i++) {
    if (secs[i].type == QNF_SEC_DATA) continue;
    for (int k = 0; k < SAMPLES_PER_SECTION; k++, tried++) {
      seed = seed * 1664525u + 1013904223u;
      size_t at = (size_t)(secs[i].payload - buf) + seed % secs[i].size;
      flip_resealed(st, buf, work, len, at, masks[seed >> 30], &accepted);
    }
  }
  printf("  ultraface_rfb320: %d of %d resealed flips accepted\n", accepted,
         tried);
  free(buf);
  free(work);
}

/* Each metadata section cut short, at every length (the file rebuilt around
 * it): an error naming that section. */
static void test_sections_cut(qt_state *st) {
  size_t len = 0;
  uint8_t *buf = sample_file(&len);
  qnf_sec secs[8], mod[8];
  int n = buf ? qnf_sections(buf, secs, 8) : 0;
  for (int i = 0; i < n; i++) {
    char name[12], want[40];
    qnf_type_name(secs[i].type, name);
    snprintf(want, sizeof want, "section '%s'", name);
    for (uint64_t cut = 0; cut < secs[i].size; cut++) {
      memcpy(mod, secs, sizeof secs);
      mod[i].size = cut;
      size_t flen;
      uint8_t *f = qnf_build(mod, n, 1, 0, &flen);
      qi_graph *g = NULL;
      qi_error e = {0};
      qi_status s = qi_qnf_read(f, flen, &g, &e);
      /* A DATA section cut short is found while reading TENS/NODE records. */
      int named = secs[i].type == QNF_SEC_DATA
                      ? strstr(e.message, "DATA") != NULL
                      : strstr(e.message, want) != NULL;
      QT_CHECKF(st, s == QI_ERR_PARSE && !g && named,
                "%s cut to %llu: status %d '%s'", name, (unsigned long long)cut,
                s, e.message);
      qi_graph_free(g);
      free(f);
      if (secs[i].type == QNF_SEC_DATA && cut > 64) cut += 63; /* sample */
    }
  }
  free(buf);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_flips_detected);
  QT_RUN(&st, test_truncation);
  QT_RUN(&st, test_flips_resealed);
  QT_RUN(&st, test_sections_cut);
  return qt_summary(&st);
}
