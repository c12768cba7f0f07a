/* Runner of the hostile-inputs catalog: reads tests/bad_inputs/manifest.txt
 * and checks that every file and case there gives the expected qi_status
 * with the expected words in its message, without a crash (the runner is
 * built with ASan and UBSan by tests/suites/bad_inputs.sh), a leak, or an
 * allocation of more than BAD_MAX_ALLOC bytes. Each case runs in a child
 * process of its own, so a crash fails that entry alone, and LeakSanitizer
 * checks each case's leftovers when its child exits. Every allocation of
 * the library and of tools/npy.c and tools/image.c goes through the
 * wrappers below (linked with -Wl,--wrap=malloc,...), which refuse and
 * record any larger request, so "no allocation of attacker-chosen
 * gigabytes" is checked rather than hoped for.
 *
 *   run_bad_inputs MANIFEST DIR          check every entry
 *   run_bad_inputs --probe DIR FILE...   print what each file gives
 *
 * A model file goes through the whole pipeline: qi_model_load_file, then
 * (if that succeeded) qi_session_create and one run on zero inputs; the
 * first failure is the result. It is also loaded from memory, which must
 * not crash or leak whatever it returns. */
#include <dirent.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bad_cases.h"
#include "image.h"
#include "npy.h"
#include "qinfer.h"

/* Larger than anything the catalog's valid models need, far below what a
 * declared size in a hostile file asks for. */
#define BAD_MAX_ALLOC ((size_t)256 << 20)
/* Inputs of a model are only bound and run below this size. */
#define BAD_MAX_RUN_BYTES ((size_t)16 << 20)

/* ---- allocation wrappers ------------------------------------------------- */

static _Atomic size_t refused_bytes; /* largest refused request */

static void refuse(size_t n) {
  size_t old = atomic_load(&refused_bytes);
  while (n > old && !atomic_compare_exchange_weak(&refused_bytes, &old, n)) {
  }
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);

void *__wrap_malloc(size_t n) {
  if (n > BAD_MAX_ALLOC) {
    refuse(n);
    return NULL;
  }
  return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
  if (size && n > BAD_MAX_ALLOC / size) {
    refuse(n > SIZE_MAX / size ? SIZE_MAX : n * size);
    return NULL;
  }
  return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
  if (n > BAD_MAX_ALLOC) {
    refuse(n);
    return NULL;
  }
  return __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n) {
  if (n > BAD_MAX_ALLOC) {
    refuse(n);
    return NULL;
  }
  return __real_aligned_alloc(align, n);
}

/* ---- model files ----------------------------------------------------------- */

/* A contract broken outside the status itself (a handle left behind). */
static qi_status broken(qi_error *err, const char *what) {
  snprintf(err->message, sizeof err->message, "runner: %s", what);
  err->status = QI_ERR_INTERNAL;
  return QI_ERR_INTERNAL;
}

static size_t elem_size(qi_dtype dt) {
  switch (dt) {
    case QI_FLOAT32: case QI_INT32: return 4;
    case QI_UINT8: case QI_INT8: case QI_BOOL: return 1;
    case QI_INT64: case QI_FLOAT64: return 8;
    case QI_FLOAT16: return 2;
    default: return 0;
  }
}

/* One run of `m` with every input zero and every output requested. */
static qi_status run_on_zeros(qi_model *m, qi_error *err) {
  qi_session *s = NULL;
  qi_status st = qi_session_create(m, NULL, &s, err);
  if (st != QI_OK) {
    if (s) return broken(err, "session not NULL after a failed create");
    return st;
  }
  int ni = qi_model_num_inputs(m), no = qi_model_num_outputs(m), nb = ni + no;
  qi_binding *b = calloc((size_t)nb + 1, sizeof *b);
  qi_tensor_info *info = calloc((size_t)nb + 1, sizeof *info);
  int bound = 0;
  for (int i = 0; b && info && i < nb && st == QI_OK; i++, bound++) {
    st = i < ni ? qi_model_input_info(m, i, &info[i], err)
                : qi_model_output_info(m, i - ni, &info[i], err);
    size_t bytes = elem_size(info[i].dtype);
    for (int d = 0; st == QI_OK && d < info[i].rank; d++)
      if (info[i].shape[d] < 0 ||
          __builtin_mul_overflow(bytes, (size_t)info[i].shape[d], &bytes))
        bytes = SIZE_MAX;
    if (st != QI_OK || bytes > BAD_MAX_RUN_BYTES) break; /* too big to run */
    b[i] = (qi_binding){info[i].name, info[i].dtype, info[i].rank,
                        info[i].shape, calloc(bytes ? bytes : 1, 1), bytes};
  }
  if (st == QI_OK && b && info && bound == nb)
    st = qi_session_run(s, b, ni, b + ni, no, err);
  for (int i = 0; b && i < bound; i++) free(b[i].data);
  free(b);
  free(info);
  qi_session_free(s);
  return st;
}

static uint8_t *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
  if (buf && len > 0 && fread(buf, 1, (size_t)len, f) != (size_t)len) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *n = len > 0 ? (size_t)len : 0;
  return buf;
}

static qi_status check_model_file(const char *path, qi_error *err) {
  qi_model *m = (qi_model *)(uintptr_t)1; /* must be reset */
  qi_status st = qi_model_load_file(path, NULL, &m, err);
  if (st == QI_OK) {
    st = run_on_zeros(m, err);
    qi_model_free(m);
  } else if (m) {
    return broken(err, "model not NULL after a failed load");
  }
  /* From memory: any status, but no crash, no leak, no half-built model. */
  size_t n = 0;
  uint8_t *bytes = read_file(path, &n);
  qi_model *mm = (qi_model *)(uintptr_t)1;
  qi_error merr;
  qi_status mst = qi_model_load_memory(bytes, n, NULL, &mm, &merr);
  if (mst == QI_OK) qi_model_free(mm);
  free(bytes);
  if (mst != QI_OK && mm) return broken(err, "memory load left a model");
  return st;
}

static qi_status check_npy_file(const char *path, qi_error *err) {
  qi_npy a;
  qi_status st = qi_npy_load(path, &a, err);
  if (st != QI_OK && a.data) return broken(err, "npy data left behind");
  qi_npy_free(&a);
  return st;
}

static qi_status check_image_file(const char *path, qi_error *err) {
  qi_image img;
  qi_status st = qi_image_load(path, &img, err);
  if (st != QI_OK) {
    if (img.rgb) return broken(err, "image pixels left behind");
    return st;
  }
  qi_preprocess p = qi_preprocess_imagenet();
  float *chw = malloc(sizeof(float) * 3 * (size_t)p.out_w * (size_t)p.out_h);
  if (chw) qi_image_to_tensor(&img, &p, chw);
  free(chw);
  qi_image_free(&img);
  return st;
}

/* ---- the manifest ---------------------------------------------------------- */

static const char *const status_names[] = {
    "QI_OK", "QI_ERR_INVALID_ARG", "QI_ERR_IO", "QI_ERR_PARSE",
    "QI_ERR_UNSUPPORTED", "QI_ERR_SHAPE", "QI_ERR_NOMEM", "QI_ERR_DEVICE",
    "QI_ERR_INTERNAL"};
#define NUM_STATUS ((int)(sizeof status_names / sizeof status_names[0]))

static const char *status_name(qi_status st) {
  return (int)st >= 0 && (int)st < NUM_STATUS ? status_names[st] : "?";
}

typedef struct entry {
  char kind[16], target[256], status[32], substr[256];
  int line;
} entry;

/* Parses `kind target STATUS "substring"`; 0 for a blank or comment line,
 * -1 for a malformed one. */
static int parse_line(char *s, entry *e) {
  while (*s == ' ' || *s == '\t') s++;
  if (!*s || *s == '#' || *s == '\n') return 0;
  int used = 0;
  if (sscanf(s, "%15s %255s %31s %n", e->kind, e->target, e->status, &used) != 3)
    return -1;
  char *q = s + used;
  if (*q != '"') return -1;
  char *end = strrchr(q + 1, '"');
  if (!end || (size_t)(end - q - 1) >= sizeof e->substr) return -1;
  memcpy(e->substr, q + 1, (size_t)(end - q - 1));
  e->substr[end - q - 1] = '\0';
  return 1;
}

typedef struct counts {
  int pass, fail, skip;
} counts;

/* What a case gave, passed from the child that ran it. */
typedef struct outcome {
  qi_status status;
  size_t refused;
  char message[sizeof(((qi_error *)0)->message)];
} outcome;

static outcome run_case(const entry *e, const char *dir) {
  char path[4096];
  qi_error err = {QI_OK, ""};
  qi_status st;
  atomic_store(&refused_bytes, 0);
  if (!strcmp(e->kind, "model") || !strcmp(e->kind, "npy") || !strcmp(e->kind, "image")) {
    snprintf(path, sizeof path, "%s/%s", dir, e->target);
    st = e->kind[0] == 'm' ? check_model_file(path, &err)
         : e->kind[0] == 'n' ? check_npy_file(path, &err)
                             : check_image_file(path, &err);
  } else if (!strcmp(e->kind, "run")) {
    const char *colon = strchr(e->target, ':');
    if (!colon) {
      st = broken(&err, "run target is not FILE:SCENARIO");
    } else {
      snprintf(path, sizeof path, "%s/%.*s", dir, (int)(colon - e->target), e->target);
      st = bad_run_scenario(path, colon + 1, &err);
    }
  } else {
    const bad_case *bc = bad_find_case(e->kind, e->target);
    st = bc ? bc->fn(dir, &err) : broken(&err, "no such case in the runner");
  }
  outcome o = {st, atomic_load(&refused_bytes), ""};
  memcpy(o.message, err.message, sizeof o.message);
  o.message[sizeof o.message - 1] = '\0';
  return o;
}

/* Runs the case in a child process, so that a crash or a sanitizer report
 * fails that entry alone, and the child's exit runs LeakSanitizer on what
 * the case left behind. */
static int run_isolated(const entry *e, const char *dir, outcome *o, char *why,
                        size_t whylen) {
  int fds[2];
  if (pipe(fds) != 0) return snprintf(why, whylen, "pipe failed"), 0;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return snprintf(why, whylen, "fork failed"), 0;
  if (pid == 0) {
    close(fds[0]);
    outcome r = run_case(e, dir);
    int ok = write(fds[1], &r, sizeof r) == (ssize_t)sizeof r;
    close(fds[1]);
    exit(ok ? 0 : 3); /* exit, not _exit: LeakSanitizer runs now */
  }
  close(fds[1]);
  ssize_t got = 0, r;
  while (got < (ssize_t)sizeof *o &&
         (r = read(fds[0], (char *)o + got, sizeof *o - (size_t)got)) > 0)
    got += r;
  close(fds[0]);
  int wst = 0;
  waitpid(pid, &wst, 0);
  if (WIFSIGNALED(wst))
    return snprintf(why, whylen, "crashed with signal %d (a sanitizer report is "
                    "in the runner's stderr)", WTERMSIG(wst)), 0;
  if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
    return snprintf(why, whylen, "the case's process exited with %d (leak or "
                    "sanitizer report in the runner's stderr)", WEXITSTATUS(wst)), 0;
  if (got != (ssize_t)sizeof *o) return snprintf(why, whylen, "no result came back"), 0;
  return 1;
}

static void run_entry(const entry *e, const char *dir, counts *c) {
  if (!strcmp(e->kind, "calib") && !bad_have_calibrator()) {
    c->skip++;
    printf("skip %-6s %s: lib/calib/calibrator.c not in this tree yet\n", e->kind, e->target);
    return;
  }
  outcome o;
  char why[256];
  fprintf(stderr, "=== %s %s\n", e->kind, e->target);
  if (!run_isolated(e, dir, &o, why, sizeof why)) {
    c->fail++;
    printf("FAIL %-6s %s (manifest line %d): %s\n", e->kind, e->target, e->line, why);
    return;
  }
  if (o.status == BAD_SKIPPED) {
    c->skip++;
    printf("skip %-6s %s: %s\n", e->kind, e->target, o.message);
    return;
  }
  int ok = !strcmp(status_name(o.status), e->status) && strstr(o.message, e->substr) &&
           !o.refused && (o.status == QI_OK || o.message[0]);
  if (ok) {
    c->pass++;
    printf("ok   %-6s %s: %s%s%.200s\n", e->kind, e->target, status_name(o.status),
           o.message[0] ? ": " : "", o.message);
  } else {
    c->fail++;
    printf("FAIL %-6s %s (manifest line %d): expected %s \"%s\", got %s: %s\n", e->kind,
           e->target, e->line, e->status, e->substr, status_name(o.status), o.message);
    if (o.refused)
      printf("     and it asked for an allocation of %zu bytes (limit %zu)\n", o.refused,
             (size_t)BAD_MAX_ALLOC);
  }
}

/* Every generated file must be in the manifest: a new hostile file without
 * an expectation is a mistake. */
static void check_unlisted(const char *dir, const entry *es, int n, counts *c) {
  DIR *d = opendir(dir);
  if (!d) {
    printf("FAIL cannot list %s\n", dir);
    c->fail++;
    return;
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    int listed = 0;
    for (int i = 0; i < n && !listed; i++) {
      const char *t = es[i].target;
      size_t len = strlen(de->d_name);
      listed = !strncmp(t, de->d_name, len) && (t[len] == '\0' || t[len] == ':');
    }
    if (!listed) {
      printf("FAIL %s is not in the manifest\n", de->d_name);
      c->fail++;
    }
  }
  closedir(d);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* a crash must not swallow the log */
  if (argc >= 3 && !strcmp(argv[1], "--probe")) { /* writing the manifest */
    for (int i = 3; i < argc; i++) {
      char path[4096];
      qi_error err = {QI_OK, ""};
      snprintf(path, sizeof path, "%s/%s", argv[2], argv[i]);
      atomic_store(&refused_bytes, 0);
      const char *ext = strrchr(argv[i], '.');
      ext = ext ? ext : "";
      qi_status st = !strcmp(ext, ".npy")                          ? check_npy_file(path, &err)
                     : !strcmp(ext, ".png") || !strcmp(ext, ".jpg") ? check_image_file(path, &err)
                                                                    : check_model_file(path, &err);
      printf("%-40s %-20s \"%s\"%s\n", argv[i], status_name(st), err.message,
             atomic_load(&refused_bytes) ? " [REFUSED ALLOCATION]" : "");
    }
    return 0;
  }
  if (argc != 3) {
    fprintf(stderr, "usage: %s MANIFEST DIR | --probe DIR FILE...\n", argv[0]);
    return 2;
  }
  FILE *f = fopen(argv[1], "r");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", argv[1]);
    return 2;
  }
  entry *es = NULL;
  int n = 0, cap = 0, line = 0;
  counts c = {0, 0, 0};
  char buf[1024];
  while (fgets(buf, sizeof buf, f)) {
    entry e;
    memset(&e, 0, sizeof e);
    e.line = ++line;
    int r = parse_line(buf, &e);
    if (r < 0) {
      printf("FAIL manifest line %d is malformed: %s", line, buf);
      c.fail++;
    }
    if (r <= 0) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      es = realloc(es, sizeof *es * (size_t)cap);
      if (!es) return 2;
    }
    es[n++] = e;
  }
  fclose(f);
  for (int i = 0; i < n; i++) run_entry(&es[i], argv[2], &c);
  check_unlisted(argv[2], es, n, &c);
  free(es);
  printf("bad_inputs: %d passed, %d failed, %d skipped\n", c.pass, c.fail, c.skip);
  return c.fail ? 1 : 0;
}
