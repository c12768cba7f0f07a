#include "calibrate_files.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Deeper folders are refused rather than followed (symlink loops). */
#define MAX_DEPTH 16
#define MAX_FILES (1 << 24)

typedef enum file_kind { KIND_OTHER = 0, KIND_NPY, KIND_IMAGE } file_kind;

static qi_status fail(qi_error *err, qi_status st, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->status = st;
  }
  return st;
}

static file_kind kind_by_name(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return KIND_OTHER;
  if (!strcasecmp(dot, ".npy")) return KIND_NPY;
  if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"))
    return KIND_IMAGE;
  return KIND_OTHER;
}

static qi_status kind_by_magic(const char *path, file_kind *kind, qi_error *err) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return fail(err, QI_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  unsigned char m[8] = {0};
  size_t got = fread(m, 1, sizeof m, fp);
  fclose(fp);
  static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (got >= 6 && !memcmp(m, "\x93NUMPY", 6))
    *kind = KIND_NPY;
  else if (got >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF)
    *kind = KIND_IMAGE;
  else if (got == 8 && !memcmp(m, png, 8))
    *kind = KIND_IMAGE;
  else
    return fail(err, QI_ERR_PARSE, "%s: neither a .npy file nor a JPEG/PNG image%s", path,
                got == 0 ? " (empty file)" : "");
  return QI_OK;
}

static qi_status add_path(calib_file_list *l, const char *path, file_kind kind, int *npy_seen,
                          int *img_seen, qi_error *err) {
  if (l->count >= MAX_FILES)
    return fail(err, QI_ERR_NOMEM, "more than %d calibration files", MAX_FILES);
  if (l->count == l->cap) {
    int cap = l->cap ? 2 * l->cap : 64;
    char **p = realloc(l->paths, sizeof *p * (size_t)cap);
    if (!p) return fail(err, QI_ERR_NOMEM, "out of memory");
    l->paths = p;
    l->cap = cap;
  }
  char *copy = strdup(path);
  if (!copy) return fail(err, QI_ERR_NOMEM, "out of memory");
  l->paths[l->count] = copy;
  int *seen = kind == KIND_NPY ? npy_seen : img_seen;
  if (*seen < 0) *seen = l->count;
  l->count++;
  return QI_OK;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct walk_state {
  calib_file_list *l;
  int npy_seen, img_seen; /* index of the first file of each kind, or -1 */
} walk_state;

static qi_status walk(walk_state *w, const char *dir, int depth, qi_error *err) {
  if (depth > MAX_DEPTH)
    return fail(err, QI_ERR_IO, "'%s': folders nested deeper than %d", dir, MAX_DEPTH);
  DIR *dp = opendir(dir);
  if (!dp) return fail(err, QI_ERR_IO, "cannot open folder '%s': %s", dir, strerror(errno));
  char **names = NULL;
  int n = 0, cap = 0;
  qi_status st = QI_OK;
  struct dirent *e;
  while (st == QI_OK && (e = readdir(dp)) != NULL) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **p = realloc(names, sizeof *p * (size_t)cap);
      if (!p) {
        st = fail(err, QI_ERR_NOMEM, "out of memory");
        break;
      }
      names = p;
    }
    if (!(names[n] = strdup(e->d_name)))
      st = fail(err, QI_ERR_NOMEM, "out of memory");
    else
      n++;
  }
  closedir(dp);
  if (st == QI_OK && n > 1) qsort(names, (size_t)n, sizeof *names, cmp_names);
  for (int i = 0; st == QI_OK && i < n; i++) {
    size_t len = strlen(dir) + strlen(names[i]) + 2;
    char *path = malloc(len);
    if (!path) {
      st = fail(err, QI_ERR_NOMEM, "out of memory");
      break;
    }
    snprintf(path, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names[i]);
    struct stat sb;
    if (stat(path, &sb) != 0) {
      st = fail(err, QI_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
      st = walk(w, path, depth + 1, err);
    } else if (S_ISREG(sb.st_mode)) {
      file_kind k = kind_by_name(names[i]);
      if (k != KIND_OTHER) st = add_path(w->l, path, k, &w->npy_seen, &w->img_seen, err);
    }
    free(path);
  }
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  return st;
}

qi_status calib_files_collect(const char *const *paths, int npaths, calib_file_list *out,
                              qi_error *err) {
  memset(out, 0, sizeof *out);
  walk_state w = {out, -1, -1};
  qi_status st = QI_OK;
  for (int i = 0; st == QI_OK && i < npaths; i++) {
    const char *p = paths[i];
    struct stat sb;
    if (!*p) {
      st = fail(err, QI_ERR_INVALID_ARG, "empty --data path");
    } else if (stat(p, &sb) != 0) {
      st = fail(err, QI_ERR_IO, "cannot open '%s': %s", p, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
      int before = out->count;
      st = walk(&w, p, 0, err);
      if (st == QI_OK && out->count == before)
        st = fail(err, QI_ERR_INVALID_ARG,
                  "'%s': no .npy, .jpg, .jpeg or .png files in this folder", p);
    } else if (S_ISREG(sb.st_mode)) {
      file_kind k = KIND_OTHER;
      st = kind_by_magic(p, &k, err);
      if (st == QI_OK) st = add_path(out, p, k, &w.npy_seen, &w.img_seen, err);
    } else {
      st = fail(err, QI_ERR_IO, "'%s' is neither a file nor a folder", p);
    }
  }
  if (st == QI_OK && out->count == 0)
    st = fail(err, QI_ERR_INVALID_ARG, "no calibration files given");
  if (st == QI_OK && w.npy_seen >= 0 && w.img_seen >= 0)
    st = fail(err, QI_ERR_INVALID_ARG,
              "'%s' is a .npy file but '%s' is an image: give one kind of "
              "data per input",
              out->paths[w.npy_seen], out->paths[w.img_seen]);
  if (st != QI_OK) {
    calib_files_free(out);
    return st;
  }
  out->images = w.img_seen >= 0;
  return QI_OK;
}

void calib_files_shuffle(calib_file_list *l, unsigned seed) {
  uint32_t x = seed ? seed : 1;
  for (int i = l->count - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    int j = (int)(x % (uint32_t)(i + 1));
    char *t = l->paths[i];
    l->paths[i] = l->paths[j];
    l->paths[j] = t;
  }
}

void calib_files_free(calib_file_list *l) {
  if (!l) return;
  for (int i = 0; i < l->count; i++) free(l->paths[i]);
  free(l->paths);
  memset(l, 0, sizeof *l);
}
