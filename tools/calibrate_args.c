/* Command-line parsing for `calibrate`. Every problem is one line on stderr
 * naming the option; the caller exits with 2. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"

static const char usage_text[] =
    "usage: calibrate MODEL.onnx --data DIR_OR_FILE... -o MODEL.qnf [options]\n"
    "\n"
    "data (streamed one sample at a time; folders are walked recursively):\n"
    "  --data PATH...         .npy files (one sample, or N samples stacked on\n"
    "                         the first dim) or JPEG/PNG images\n"
    "  --data-input NAME=PATH the files of model input NAME (repeat per input;\n"
    "                         models with several inputs need this)\n"
    "  --limit N              use at most N samples\n"
    "  --shuffle              shuffle the file order (fixed seed)\n"
    "  --input-shape NAME=1x3x224x224  fix an input shape (alias --shape)\n"
    "image preprocessing (the tensor must come out at the model's H x W):\n"
    "  --resize N | WxH       shorter side to N (then center crop to the\n"
    "                         model size) | exact stretch to W x H\n"
    "  --crop WxH             center crop (after --resize WxH, or of the\n"
    "                         image as is)\n"
    "  --letterbox WxH        keep aspect, top-left, pad with --pad-value V\n"
    "  --bgr                  B,G,R channel order (default R,G,B)\n"
    "  --scale S              multiply pixels by S (e.g. 1/255)\n"
    "  --mean a,b,c --std a,b,c  then (x - mean) / std per channel\n"
    "  --nhwc                 the model input is [N,H,W,3] (default NCHW)\n"
    "calibration:\n"
    "  --method minmax|percentile|entropy|mse   (default percentile)\n"
    "  --param P              method parameter (percentile 99.99; levels)\n"
    "  --bins N               histogram bins per tensor (default 2048)\n"
    "  --threads N            threads running the model (default 1)\n"
    "  --precision int8|fp16|fp32   every node in this precision (without it:\n"
    "                         INT8 except the layers that write the model's\n"
    "                         outputs, kept FP32; docs/quantization.md)\n"
    "  --int8 P,... --fp16 P,... --fp32 P,...   per-node overrides by node\n"
    "                         name or op type glob ('*', '?'), applied in\n"
    "                         command-line order (later wins)\n"
    "  --bias-correction      shift each INT8 Conv/Gemm/MatMul bias by the\n"
    "                         mean output error its weight rounding causes\n"
    "                         on the calibration data\n"
    "reports:\n"
    "  --export-qdq OUT.onnx  also write the calibrated model as QDQ ONNX\n"
    "                         (ONNX Runtime, TensorRT); --qdq-reduce-range\n"
    "                         keeps weights in -63..63 for ONNX Runtime on\n"
    "                         CPUs without VNNI\n"
    "  --report FILE.md       per-layer Markdown report, chart in FILE.png\n"
    "                         (sweeps the layers: one build per INT8 layer)\n"
    "  --auto                 per-layer precision from measured sensitivity:\n"
    "                         layers that are INT8 under the precisions above\n"
    "                         go to FP32, most sensitive first, until:\n"
    "  --min-sqnr DB          output SQNR vs FP32 at least DB (default 25)\n"
    "  --max-drop PCT         top-1 agreement with FP32 at least 100-PCT %\n"
    "  --eval-samples N       samples kept for those comparisons (default 8)\n"
    "  --no-fallback          without --precision/--auto, calibrate checks the\n"
    "                         default build on the kept samples and runs\n"
    "                         --auto when its output SQNR is under 20 dB;\n"
    "                         this keeps the default build as it is\n"
    "  --quiet                no progress and no summary\n"
    "  -o, --output FILE      the quantized model (.qnf)\n";

static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "calibrate: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see calibrate --help)\n");
  va_end(ap);
  return 2;
}

const char *calib_method_name(qi_calib_method m) {
  switch (m) {
    case QI_CALIB_MINMAX:
      return "minmax";
    case QI_CALIB_PERCENTILE:
      return "percentile";
    case QI_CALIB_ENTROPY:
      return "entropy";
    case QI_CALIB_MSE:
      return "mse";
    default:
      return "?";
  }
}

const char *calib_precision_name(qi_precision p) {
  switch (p) {
    case QI_PREC_FP32:
      return "fp32";
    case QI_PREC_FP16:
      return "fp16";
    case QI_PREC_INT8:
      return "int8";
    default:
      return "?";
  }
}

static int parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

static int parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

/* A number or a fraction "a/b" (so that --scale 1/255 is exact in float). */
static int parse_ratio(const char *s, double *out) {
  const char *slash = strchr(s, '/');
  if (!slash) return parse_double(s, out);
  char num[64];
  double a, b;
  if ((size_t)(slash - s) >= sizeof num) return 0;
  memcpy(num, s, (size_t)(slash - s));
  num[slash - s] = '\0';
  if (!parse_double(num, &a) || !parse_double(slash + 1, &b) || b == 0) return 0;
  *out = a / b;
  return 1;
}

/* "WxH" or "N" (square). */
static int parse_size(const char *s, int *w, int *h) {
  long a, b;
  const char *x = strchr(s, 'x');
  if (!x) {
    if (!parse_long(s, 1, 16384, &a)) return 0;
    *w = *h = (int)a;
    return 1;
  }
  char first[32];
  if ((size_t)(x - s) >= sizeof first) return 0;
  memcpy(first, s, (size_t)(x - s));
  first[x - s] = '\0';
  if (!parse_long(first, 1, 16384, &a) || !parse_long(x + 1, 1, 16384, &b)) return 0;
  *w = (int)a;
  *h = (int)b;
  return 1;
}

/* One value for all channels, or three. */
static int parse_triple(const char *s, float v[3]) {
  double d[3];
  int n = 0;
  char buf[256];
  if (strlen(s) >= sizeof buf) return 0;
  strcpy(buf, s);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (n == 3 || !parse_ratio(tok, &d[n])) return 0;
    n++;
  }
  if (n != 1 && n != 3) return 0;
  for (int c = 0; c < 3; c++) v[c] = (float)d[n == 1 ? 0 : c];
  return 1;
}

static int parse_shape(const char *spec, calib_cli *c) {
  const char *eq = strchr(spec, '=');
  if (!eq || eq == spec || c->nshapes >= CALIB_MAX_ARGS ||
      (size_t)(eq - spec) >= sizeof c->shape_names[0])
    return 0;
  qi_input_shape *s = &c->shapes[c->nshapes];
  memcpy(c->shape_names[c->nshapes], spec, (size_t)(eq - spec));
  c->shape_names[c->nshapes][eq - spec] = '\0';
  s->name = c->shape_names[c->nshapes];
  s->rank = 0;
  const char *p = eq + 1;
  for (;;) {
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno || v < 1 || v > ((long long)1 << 40) || s->rank >= QI_MAX_RANK) return 0;
    s->dims[s->rank++] = v;
    if (*end == '\0') break;
    if (*end != 'x') return 0;
    p = end + 1;
  }
  c->nshapes++;
  return 1;
}

static int parse_enum(const char *s, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(s, names[i])) return i;
  return -1;
}

/* Options that take a value. */
static const char *const valued[] = {"--data",        "--data-input",  "-o",          "--output",
                                     "--resize",      "--crop",        "--letterbox", "--pad-value",
                                     "--scale",       "--mean",        "--std",       "--limit",
                                     "--method",      "--param",       "--bins",      "--threads",
                                     "--precision",   "--int8",        "--fp16",      "--fp32",
                                     "--input-shape", "--shape",       "--report",    "--max-drop",
                                     "--min-sqnr",    "--eval-samples", "--export-qdq"};
static const char *const flags[] = {"--bgr", "--nhwc", "--shuffle", "--quiet",
                                    "-q",    "--auto", "--help",    "-h",
                                    "--qdq-reduce-range", "--bias-correction",
                                    "--no-fallback"};

static int is_in(const char *s, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(s, list[i])) return 1;
  return 0;
}

static int apply_value(calib_cli *c, const char *opt, const char *v) {
  long n;
  double d;
  static const char *const methods[] = {"minmax", "percentile", "entropy", "mse"};
  static const char *const precs[] = {"fp32", "fp16", "int8"};
  if (!strcmp(opt, "-o") || !strcmp(opt, "--output")) {
    if (!*v) return usage_error("%s needs a file name", opt);
    c->output = v;
  } else if (!strcmp(opt, "--data-input")) {
    const char *eq = strchr(v, '=');
    calib_data_input *di = &c->data_inputs[c->ndata_inputs];
    if (!eq || eq == v || !eq[1] || (size_t)(eq - v) >= sizeof di->name)
      return usage_error("--data-input '%s': expected NAME=PATH", v);
    if (c->ndata_inputs >= CALIB_MAX_ARGS) return usage_error("too many --data-input options");
    memcpy(di->name, v, (size_t)(eq - v));
    di->name[eq - v] = '\0';
    di->path = eq + 1;
    c->ndata_inputs++;
  } else if (!strcmp(opt, "--resize")) {
    int w, h;
    if (!parse_size(v, &w, &h)) return usage_error("--resize '%s': expected N or WxH", v);
    if (strchr(v, 'x')) {
      c->img.resize_w = w;
      c->img.resize_h = h;
      c->img.resize = 0;
    } else {
      c->img.resize = w;
      c->img.resize_w = c->img.resize_h = 0;
    }
  } else if (!strcmp(opt, "--crop") || !strcmp(opt, "--letterbox")) {
    int w, h;
    if (!parse_size(v, &w, &h)) return usage_error("%s '%s': expected WxH", opt, v);
    if (opt[2] == 'c') {
      c->img.crop_w = w;
      c->img.crop_h = h;
    } else {
      c->img.letterbox_w = w;
      c->img.letterbox_h = h;
    }
  } else if (!strcmp(opt, "--pad-value")) {
    if (!parse_double(v, &d)) return usage_error("--pad-value '%s' is not a number", v);
    c->img.pad_value = (float)d;
  } else if (!strcmp(opt, "--scale")) {
    if (!parse_ratio(v, &d) || d == 0)
      return usage_error("--scale '%s': expected a non-zero number or a/b", v);
    c->img.scale = (float)d;
  } else if (!strcmp(opt, "--mean") || !strcmp(opt, "--std")) {
    float t[3];
    if (!parse_triple(v, t))
      return usage_error("%s '%s': expected one number or three (a,b,c)", opt, v);
    if (opt[2] == 's' && (t[0] == 0 || t[1] == 0 || t[2] == 0))
      return usage_error("--std '%s': a standard deviation of 0", v);
    memcpy(opt[2] == 'm' ? c->img.mean : c->img.std, t, sizeof t);
  } else if (!strcmp(opt, "--limit")) {
    if (!parse_long(v, 1, (long)1 << 40, &n))
      return usage_error("--limit '%s': expected an integer >= 1", v);
    c->limit = n;
  } else if (!strcmp(opt, "--method")) {
    int m = parse_enum(v, methods, 4);
    if (m < 0)
      return usage_error(
          "--method '%s': expected minmax, percentile, entropy "
          "or mse",
          v);
    c->calib.method = (qi_calib_method)m;
  } else if (!strcmp(opt, "--param")) {
    if (!parse_double(v, &d) || d <= 0)
      return usage_error("--param '%s': expected a positive number", v);
    c->calib.method_param = (float)d;
  } else if (!strcmp(opt, "--bins")) {
    if (!parse_long(v, 1, 1 << 24, &n))
      return usage_error("--bins '%s': expected an integer >= 1", v);
    c->calib.histogram_bins = (int)n;
  } else if (!strcmp(opt, "--threads")) {
    if (!parse_long(v, 1, 1024, &n)) return usage_error("--threads '%s': expected 1..1024", v);
    c->calib.num_threads = (int)n;
  } else if (!strcmp(opt, "--precision")) {
    int p = parse_enum(v, precs, 3);
    if (p < 0) return usage_error("--precision '%s': expected int8, fp16 or fp32", v);
    c->calib.default_precision = (qi_precision)p;
    c->calib.uniform_precision = 1;
  } else if (!strcmp(opt, "--int8") || !strcmp(opt, "--fp16") || !strcmp(opt, "--fp32")) {
    if (!*v || strspn(v, ",") == strlen(v))
      return usage_error("%s needs node names or op types", opt);
    if (c->noverrides >= CALIB_MAX_ARGS) return usage_error("too many precision overrides");
    c->overrides[c->noverrides].precision = (qi_precision)parse_enum(opt + 2, precs, 3);
    c->overrides[c->noverrides++].patterns = v;
  } else if (!strcmp(opt, "--input-shape") || !strcmp(opt, "--shape")) {
    if (!parse_shape(v, c))
      return usage_error("%s '%s': expected NAME=D0xD1x... (dims >= 1)", opt, v);
  } else if (!strcmp(opt, "--export-qdq")) {
    if (!*v) return usage_error("--export-qdq needs a file name");
    c->export_qdq = v;
  } else if (!strcmp(opt, "--report")) {
    if (!*v) return usage_error("--report needs a file name");
    c->report = v;
  } else if (!strcmp(opt, "--max-drop")) {
    if (!parse_double(v, &d) || d < 0 || d > 100)
      return usage_error("--max-drop '%s': expected a percentage 0..100", v);
    c->max_drop = d;
    c->has_max_drop = 1;
  } else if (!strcmp(opt, "--min-sqnr")) {
    if (!parse_double(v, &d)) return usage_error("--min-sqnr '%s' is not a number (dB)", v);
    c->min_sqnr = d;
    c->has_min_sqnr = 1;
  } else if (!strcmp(opt, "--eval-samples")) {
    if (!parse_long(v, 1, 1024, &n)) return usage_error("--eval-samples '%s': expected 1..1024", v);
    c->eval_samples = (int)n;
  }
  return 0;
}

static void apply_flag(calib_cli *c, const char *opt) {
  if (!strcmp(opt, "--bgr"))
    c->img.bgr = 1;
  else if (!strcmp(opt, "--nhwc"))
    c->img.nhwc = 1;
  else if (!strcmp(opt, "--shuffle"))
    c->shuffle = 1;
  else if (!strcmp(opt, "--quiet") || !strcmp(opt, "-q"))
    c->quiet = 1;
  else if (!strcmp(opt, "--auto"))
    c->auto_mode = 1;
  else if (!strcmp(opt, "--no-fallback"))
    c->no_fallback = 1;
  else if (!strcmp(opt, "--qdq-reduce-range"))
    c->qdq_reduce_range = 1;
  else if (!strcmp(opt, "--bias-correction"))
    c->calib.bias_correction = 1;
}

static int check_cli(const calib_cli *c) {
  if (!c->model) return usage_error("missing MODEL");
  if (!c->output) return usage_error("missing -o MODEL.qnf");
  if (!c->ndata && !c->ndata_inputs)
    return usage_error("missing --data (or --data-input NAME=PATH)");
  if (c->ndata && c->ndata_inputs)
    return usage_error("give either --data or --data-input, not both");
  const calib_image_opts *o = &c->img;
  if (o->letterbox_w && (o->resize || o->resize_w || o->crop_w))
    return usage_error(
        "--letterbox does its own resize: drop --resize and "
        "--crop");
  if ((c->has_max_drop || c->has_min_sqnr) && !c->auto_mode)
    return usage_error(
        "--max-drop and --min-sqnr set the budget of --auto: "
        "add --auto");
  return 0;
}

int calib_parse_args(int argc, char **argv, calib_cli *c) {
  memset(c, 0, sizeof *c);
  c->calib = qi_calib_options_default();
  c->img = calib_image_opts_default();
  c->eval_samples = CALIB_DEFAULT_EVAL_SAMPLES;
  if (argc < 2) return usage_error("missing MODEL");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage_text, stdout);
      return 1;
    }
    if (a[0] != '-' || !a[1]) {
      if (c->model)
        return usage_error(
            "unexpected argument '%s' (one MODEL only; data "
            "goes after --data)",
            a);
      c->model = a;
      continue;
    }
    /* --opt=value is the same as --opt value. */
    char opt[64];
    const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
    const char *inline_value = NULL;
    size_t olen = eq ? (size_t)(eq - a) : strlen(a);
    if (olen >= sizeof opt) return usage_error("unknown option '%s'", a);
    memcpy(opt, a, olen);
    opt[olen] = '\0';
    if (eq) inline_value = eq + 1;
    if (is_in(opt, flags, sizeof flags / sizeof flags[0])) {
      if (inline_value) return usage_error("%s takes no value", opt);
      apply_flag(c, opt);
      continue;
    }
    if (!is_in(opt, valued, sizeof valued / sizeof valued[0]))
      return usage_error("unknown option '%s'", a);
    if (!strcmp(opt, "--data")) {
      /* All following arguments up to the next option. */
      int got = 0;
      if (inline_value && *inline_value) c->data[c->ndata++] = inline_value, got++;
      while (i + 1 < argc && argv[i + 1][0] != '-' && c->ndata < CALIB_MAX_ARGS) {
        c->data[c->ndata++] = argv[++i];
        got++;
      }
      if (i + 1 < argc && argv[i + 1][0] != '-')
        return usage_error("more than %d --data paths: give folders", CALIB_MAX_ARGS);
      if (!got) return usage_error("--data needs at least one file or folder");
      continue;
    }
    const char *v = inline_value;
    if (!v) {
      if (i + 1 >= argc) return usage_error("%s needs a value", opt);
      v = argv[++i];
    }
    int rc = apply_value(c, opt, v);
    if (rc) return rc;
  }
  return check_cli(c);
}
