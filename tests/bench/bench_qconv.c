/* Benchmark of the u8s8 convolution driver (a program, not a test).
 *
 * Layer shapes from ResNet (3x3 convolutions, im2col + GEMM path),
 * MobileNetV2's stem and small-K 1x1 convolutions,
 * MobileNetV2 (3x3 depthwise) and ConvNeXt (7x7 depthwise), batch 1, with
 * 1 and 2 threads: the median time of the repeats as ms per call and
 * GMAC/s (depthwise also GB/s: input + output + packed weights, each once),
 * beside oneDNN's u8s8 convolution on the same shape (same NHWC u8 input
 * with its zero point, s8 weights in oneDNN's preferred layout, per-channel
 * output scales, u8 output), and the ratio qinfer time / oneDNN time.
 * oneDNN is loaded at run time (dlopen libdnnl.so.2), so the program builds
 * without it; its implementation name is printed (a "ref" one would make
 * the ratio meaningless). Its primitives are made under the thread count
 * they are timed with, its OpenMP runs with OMP_WAIT_POLICY=passive unless
 * set, and the two libraries' calls alternate, so that load from other
 * processes falls on both alike.
 * --onednn-no-zp gives oneDNN a zero input zero point instead (its faster
 * path; the result then differs from qinfer's, the work does not).
 * Depthwise rows also give their GB/s as a share of one core's measured
 * read bandwidth from L2 and from DRAM (mem_bw.h; two-thread rows against
 * twice the one-core L2 figure, two L2s, and the one-core DRAM figure).
 * Usage: bench_qconv [--reps N] [--isa NAME] [--no-onednn] [--onednn-no-zp]
 *                    [--only TEXT] */
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/pool.h"
#include "core/qconv.h"
#include "mem_bw.h"

typedef struct shape {
  const char *what;
  int64_t h, w, c_in, c_out, k, stride, pad, groups;
} shape;

static const shape k_shapes[] = {
    {"resnet 3x3 56x56x64->64", 56, 56, 64, 64, 3, 1, 1, 1},
    {"resnet 3x3 28x28x128->128", 28, 28, 128, 128, 3, 1, 1, 1},
    {"resnet 3x3 14x14x256->256", 14, 14, 256, 256, 3, 1, 1, 1},
    {"resnet 3x3 7x7x512->512", 7, 7, 512, 512, 3, 1, 1, 1},
    {"mbv2 stem 3x3s2 224x3->32", 224, 224, 3, 32, 3, 2, 1, 1},
    {"mbv2 1x1 112x112x32->16", 112, 112, 32, 16, 1, 1, 0, 1},
    {"mbv2 1x1 112x112x16->96", 112, 112, 16, 96, 1, 1, 0, 1},
    {"mbv2 1x1 56x56x24->144", 56, 56, 24, 144, 1, 1, 0, 1},
    {"mbv2 1x1 56x56x144->24", 56, 56, 144, 24, 1, 1, 0, 1},
    {"mbv2 1x1 28x28x192->32", 28, 28, 192, 32, 1, 1, 0, 1},
    {"mbv2 1x1 7x7x160->960", 7, 7, 160, 960, 1, 1, 0, 1},
    {"mbv2 dw3x3 112x112x32 s1", 112, 112, 32, 32, 3, 1, 1, 32},
    {"mbv2 dw3x3 112x112x96 s2", 112, 112, 96, 96, 3, 2, 1, 96},
    {"mbv2 dw3x3 56x56x144 s1", 56, 56, 144, 144, 3, 1, 1, 144},
    {"mbv2 dw3x3 28x28x192 s1", 28, 28, 192, 192, 3, 1, 1, 192},
    {"mbv2 dw3x3 14x14x384 s1", 14, 14, 384, 384, 3, 1, 1, 384},
    {"mbv2 dw3x3 14x14x576 s1", 14, 14, 576, 576, 3, 1, 1, 576},
    {"mbv2 dw3x3 7x7x960 s1", 7, 7, 960, 960, 3, 1, 1, 960},
    {"convnext dw7x7 56x56x96", 56, 56, 96, 96, 7, 1, 3, 96},
};
#define NSHAPES (sizeof k_shapes / sizeof k_shapes[0])

enum { ZA = 131, ZY = 7 };

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t g_rng = 0x1234567ull;
static uint32_t rnd(void) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(g_rng >> 33);
}

typedef struct layer {
  qi_u8s8_conv_params p;
  int64_t out_px, macs;
  uint8_t *x, *y;
  int8_t *w; /* OIHW */
  int32_t *bias;
  float *mult;
} layer;

static int layer_make(const shape *s, layer *l) {
  memset(l, 0, sizeof *l);
  qi_u8s8_conv_params *p = &l->p;
  p->n = 1;
  p->h = s->h;
  p->w = s->w;
  p->c_in = s->c_in;
  p->c_out = s->c_out;
  p->groups = s->groups;
  p->kh = p->kw = s->k;
  p->stride_h = p->stride_w = s->stride;
  p->dil_h = p->dil_w = 1;
  p->pad_t = p->pad_l = p->pad_b = p->pad_r = s->pad;
  p->za = ZA;
  if (qi_u8s8_conv_derive(p)) return 0;
  l->out_px = p->out_h * p->out_w;
  int64_t k = qi_u8s8_conv_k(p);
  l->macs = l->out_px * p->c_out * k;
  size_t nx = (size_t)(p->h * p->w * p->c_in);
  size_t ny = (size_t)(l->out_px * p->c_out);
  l->x = malloc(nx);
  l->y = malloc(ny);
  l->w = malloc((size_t)(p->c_out * k));
  l->bias = malloc((size_t)p->c_out * sizeof(int32_t));
  l->mult = malloc((size_t)p->c_out * sizeof(float));
  if (!l->x || !l->y || !l->w || !l->bias || !l->mult) return 0;
  for (size_t i = 0; i < nx; i++) l->x[i] = (uint8_t)rnd();
  for (int64_t i = 0; i < p->c_out * k; i++)
    l->w[i] = (int8_t)((int)(rnd() % 255) - 127);
  for (int64_t i = 0; i < p->c_out; i++) {
    l->bias[i] = (int32_t)(rnd() % 20001) - 10000;
    l->mult[i] = 0.01f / (float)k * (1.0f + (float)(rnd() % 100) / 100.0f);
  }
  return 1;
}

static void layer_free(layer *l) {
  free(l->x);
  free(l->y);
  free(l->w);
  free(l->bias);
  free(l->mult);
}

/* One qi_qconv_run call's state. */
typedef struct qinfer_run {
  const layer *l;
  const qi_qconv_packed *pk;
  qi_pool *pool;
  qi_requant_params rp;
  void *scratch;
  size_t ssize;
} qinfer_run;

static int qinfer_run_make(qinfer_run *q, const layer *l,
                           const qi_qconv_packed *pk, qi_pool *pool) {
  q->l = l;
  q->pk = pk;
  q->pool = pool;
  q->rp = qi_requant_params_default();
  q->rp.zy = ZY;
  q->rp.qmin = ZY; /* ReLU */
  q->ssize = qi_qconv_workspace_size(pk, qi_pool_size(pool));
  q->scratch = q->ssize ? aligned_alloc(64, (q->ssize + 63) / 64 * 64) : NULL;
  return !q->ssize || q->scratch;
}

static int qinfer_call(qinfer_run *q) {
  return qi_qconv_run(q->pk, q->l->x, (size_t)q->l->p.c_in, &q->rp, q->l->y,
                      (size_t)q->l->p.c_out, q->pool, q->scratch, q->ssize,
                      NULL) == QI_OK;
}

/* ---- oneDNN, through dlopen ---- */
#define DNNL_FUNCS(X)                                                       \
  X(dnnl_engine_create) X(dnnl_engine_destroy) X(dnnl_stream_create)        \
  X(dnnl_stream_destroy) X(dnnl_stream_wait) X(dnnl_memory_desc_init_by_tag) \
  X(dnnl_dilated_convolution_forward_desc_init) X(dnnl_primitive_attr_create) \
  X(dnnl_primitive_attr_destroy) X(dnnl_primitive_attr_set_output_scales)   \
  X(dnnl_primitive_attr_set_zero_points) X(dnnl_primitive_desc_create)      \
  X(dnnl_primitive_desc_destroy) X(dnnl_primitive_desc_query)               \
  X(dnnl_primitive_desc_query_md) X(dnnl_memory_create)                     \
  X(dnnl_memory_destroy) X(dnnl_primitive_create) X(dnnl_primitive_destroy) \
  X(dnnl_primitive_execute) X(dnnl_reorder_primitive_desc_create)

/* Pointers typed from the header's own declarations (no link to them). */
typedef struct dnnl_api {
  void *lib;
  void (*omp_set_num_threads)(int);
#define DNNL_MEMBER(name) __typeof__(&name) name;
  DNNL_FUNCS(DNNL_MEMBER)
#undef DNNL_MEMBER
} dnnl_api;

static int dnnl_load(dnnl_api *d) {
  memset(d, 0, sizeof *d);
  /* Idle OpenMP workers must not spin through qinfer's timed calls, which
   * alternate with oneDNN's (libgomp reads this when it loads). */
  setenv("OMP_WAIT_POLICY", "passive", 0);
  d->lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!d->lib) return 0;
  /* oneDNN's OpenMP runtime, a dependency of the library. */
  *(void **)&d->omp_set_num_threads = dlsym(d->lib, "omp_set_num_threads");
#define DNNL_LOOKUP(name)                          \
  *(void **)&d->name = dlsym(d->lib, #name);       \
  if (!d->name) return 0;
  DNNL_FUNCS(DNNL_LOOKUP)
#undef DNNL_LOOKUP
  return 1;
}

typedef struct dnnl_conv {
  dnnl_engine_t eng;
  dnnl_stream_t strm;
  dnnl_primitive_t prim;
  dnnl_memory_t src, wei, bias, dst, zp;
  char impl[64];
  const char *zp_kind;
} dnnl_conv;

#define DNNL_OK(call) ((call) == dnnl_success)

/* Builds the convolution; zero point as a constant attribute, else a
 * run-time one, else none (then said so). */
static int dnnl_conv_make(const dnnl_api *d, const layer *l, int no_zp,
                          dnnl_conv *c) {
  const qi_u8s8_conv_params *p = &l->p;
  memset(c, 0, sizeof *c);
  if (!DNNL_OK(d->dnnl_engine_create(&c->eng, dnnl_cpu, 0)) ||
      !DNNL_OK(d->dnnl_stream_create(&c->strm, c->eng,
                                     dnnl_stream_default_flags)))
    return 0;
  const int64_t g = p->groups;
  dnnl_dims_t sd = {1, p->c_in, p->h, p->w};
  dnnl_dims_t dd = {1, p->c_out, p->out_h, p->out_w};
  dnnl_dims_t bd = {p->c_out};
  dnnl_dims_t wd = {g, p->c_out / g, p->c_in / g, p->kh, p->kw};
  dnnl_dims_t wd1 = {p->c_out, p->c_in, p->kh, p->kw};
  int wnd = g > 1 ? 5 : 4;
  dnnl_memory_desc_t src_md, dst_md, bias_md, wany_md, wuser_md;
  d->dnnl_memory_desc_init_by_tag(&src_md, 4, sd, dnnl_u8, dnnl_nhwc);
  d->dnnl_memory_desc_init_by_tag(&dst_md, 4, dd, dnnl_u8, dnnl_nhwc);
  d->dnnl_memory_desc_init_by_tag(&bias_md, 1, bd, dnnl_s32, dnnl_a);
  d->dnnl_memory_desc_init_by_tag(&wany_md, wnd, g > 1 ? wd : wd1, dnnl_s8,
                                  dnnl_format_tag_any);
  d->dnnl_memory_desc_init_by_tag(&wuser_md, wnd, g > 1 ? wd : wd1, dnnl_s8,
                                  g > 1 ? dnnl_goihw : dnnl_oihw);
  dnnl_dims_t strides = {p->stride_h, p->stride_w}, dil = {0, 0};
  dnnl_dims_t pl = {p->pad_t, p->pad_l}, pr = {p->pad_b, p->pad_r};
  dnnl_convolution_desc_t cd;
  if (!DNNL_OK(d->dnnl_dilated_convolution_forward_desc_init(
          &cd, dnnl_forward_inference, dnnl_convolution_direct, &src_md,
          &wany_md, &bias_md, &dst_md, strides, dil, pl, pr)))
    return 0;
  dnnl_primitive_desc_t pd = NULL;
  int32_t zp_const = ZA, zp_rt = DNNL_RUNTIME_S32_VAL;
  for (int attempt = no_zp ? 2 : 0; attempt < 3 && !pd; attempt++) {
    dnnl_primitive_attr_t attr;
    d->dnnl_primitive_attr_create(&attr);
    d->dnnl_primitive_attr_set_output_scales(attr, p->c_out, 1 << 1,
                                             l->mult);
    if (attempt < 2)
      d->dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0,
                                             attempt ? &zp_rt : &zp_const);
    if (!DNNL_OK(d->dnnl_primitive_desc_create(&pd, &cd, attr, c->eng, NULL)))
      pd = NULL;
    else
      c->zp_kind = attempt == 0 ? "const zp" : attempt == 1 ? "runtime zp"
                                                             : "NO zp";
    d->dnnl_primitive_attr_destroy(attr);
  }
  if (!pd) return 0;
  const char *impl = NULL;
  d->dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  snprintf(c->impl, sizeof c->impl, "%s", impl ? impl : "?");
  const dnnl_memory_desc_t *wmd =
      d->dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  int ok = DNNL_OK(d->dnnl_primitive_create(&c->prim, pd)) &&
           DNNL_OK(d->dnnl_memory_create(&c->src, &src_md, c->eng, l->x)) &&
           DNNL_OK(d->dnnl_memory_create(&c->dst, &dst_md, c->eng, l->y)) &&
           DNNL_OK(d->dnnl_memory_create(&c->bias, &bias_md, c->eng,
                                         l->bias)) &&
           DNNL_OK(d->dnnl_memory_create(&c->wei, wmd, c->eng,
                                         DNNL_MEMORY_ALLOCATE));
  dnnl_memory_desc_t zp_md;
  dnnl_dims_t one = {1};
  d->dnnl_memory_desc_init_by_tag(&zp_md, 1, one, dnnl_s32, dnnl_a);
  static int32_t zp_value = ZA;
  ok = ok && DNNL_OK(d->dnnl_memory_create(&c->zp, &zp_md, c->eng, &zp_value));
  /* Reorder the OIHW weights into the primitive's layout. */
  dnnl_memory_t wuser = NULL;
  dnnl_primitive_desc_t rpd = NULL;
  dnnl_primitive_t reorder = NULL;
  ok = ok &&
       DNNL_OK(d->dnnl_memory_create(&wuser, &wuser_md, c->eng, l->w)) &&
       DNNL_OK(d->dnnl_reorder_primitive_desc_create(&rpd, &wuser_md, c->eng,
                                                     wmd, c->eng, NULL)) &&
       DNNL_OK(d->dnnl_primitive_create(&reorder, rpd));
  if (ok) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, wuser}, {DNNL_ARG_TO, c->wei}};
    ok = DNNL_OK(d->dnnl_primitive_execute(reorder, c->strm, 2, args)) &&
         DNNL_OK(d->dnnl_stream_wait(c->strm));
  }
  if (reorder) d->dnnl_primitive_destroy(reorder);
  if (rpd) d->dnnl_primitive_desc_destroy(rpd);
  if (wuser) d->dnnl_memory_destroy(wuser);
  d->dnnl_primitive_desc_destroy(pd);
  return ok;
}

static void dnnl_conv_free(const dnnl_api *d, dnnl_conv *c) {
  dnnl_memory_t mems[] = {c->src, c->wei, c->bias, c->dst, c->zp};
  for (size_t i = 0; i < 5; i++)
    if (mems[i]) d->dnnl_memory_destroy(mems[i]);
  if (c->prim) d->dnnl_primitive_destroy(c->prim);
  if (c->strm) d->dnnl_stream_destroy(c->strm);
  if (c->eng) d->dnnl_engine_destroy(c->eng);
}

static int dnnl_call(const dnnl_api *d, dnnl_conv *c) {
  dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, c->src},
                             {DNNL_ARG_WEIGHTS, c->wei},
                             {DNNL_ARG_BIAS, c->bias},
                             {DNNL_ARG_DST, c->dst},
                             {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, c->zp}};
  int nargs = strcmp(c->zp_kind, "runtime zp") == 0 ? 5 : 4;
  return DNNL_OK(d->dnnl_primitive_execute(c->prim, c->strm, nargs, args)) &&
         DNNL_OK(d->dnnl_stream_wait(c->strm));
}

/* Times qinfer and oneDNN (when c) call by call, alternating, so that load
 * from other processes falls on both alike. Writes median ms (< 0 on
 * failure) of each. */
static void time_pair(qinfer_run *q, const dnnl_api *d, dnnl_conv *c,
                      int reps, double *q_ms, double *d_ms) {
  *q_ms = *d_ms = -1;
  double *tq = malloc((size_t)reps * sizeof *tq);
  double *td = malloc((size_t)reps * sizeof *td);
  int q_ok = tq && td && qinfer_call(q); /* warm-up */
  int d_ok = tq && td && c && dnnl_call(d, c);
  for (int r = 0; r < reps && (q_ok || d_ok); r++) {
    double t0 = now_s();
    if (q_ok) qinfer_call(q);
    double t1 = now_s();
    if (d_ok) dnnl_call(d, c);
    double t2 = now_s();
    tq[r] = 1e3 * (t1 - t0);
    td[r] = 1e3 * (t2 - t1);
  }
  if (q_ok) *q_ms = median(tq, reps);
  if (d_ok) *d_ms = median(td, reps);
  free(tq);
  free(td);
}

/* About 0.25 s of calls at 5 GMAC/s, within [reps, 25 * reps]. */
static int reps_for(int64_t macs, int base) {
  double calls = 0.25 * 5e9 / (double)macs;
  int r = calls < base ? base : calls > 25.0 * base ? 25 * base : (int)calls;
  return r | 1;
}

int main(int argc, char **argv) {
  int reps = 7, use_dnnl = 1, no_zp = 0, exact_reps = 0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--isa") && i + 1 < argc)
      setenv("QINFER_ISA", argv[++i], 1);
    else if (!strcmp(argv[i], "--no-onednn"))
      use_dnnl = 0;
    else if (!strcmp(argv[i], "--onednn-no-zp"))
      no_zp = 1;
    else if (!strcmp(argv[i], "--exact-reps")) /* no scaling by size */
      exact_reps = 1;
    else if (!strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
    else {
      fprintf(stderr,
              "usage: %s [--reps N] [--exact-reps] [--isa NAME] "
              "[--no-onednn] [--onednn-no-zp] [--only TEXT]\n",
              argv[0]);
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  dnnl_api dnnl;
  memset(&dnnl, 0, sizeof dnnl);
  if (use_dnnl && !dnnl_load(&dnnl)) {
    printf("oneDNN: libdnnl.so.2 not loadable (%s): no ratios\n", dlerror());
    use_dnnl = 0;
  }
  qi_pool *pool2 = qi_pool_create(2);
  if (!pool2) return 1;
  printf("u8s8 convolution, batch 1, NHWC, median of >= %d calls; ratio = "
         "qinfer ms / oneDNN ms (below 1: qinfer faster)\n",
         reps);
  double load[1] = {0};
  if (getloadavg(load, 1) != 1) load[0] = -1;
  printf("load average %.2f at start (2-thread figures need it well under "
         "1)%s\n",
         load[0],
         use_dnnl && !dnnl.omp_set_num_threads
             ? "; oneDNN thread count not settable (no OpenMP symbol)"
             : "");
  int any_dw = 0;
  for (size_t i = 0; i < NSHAPES; i++)
    if (k_shapes[i].groups > 1 && (!only || strstr(k_shapes[i].what, only)))
      any_dw = 1;
  double bw_l2 = 0, bw_dram = 0;
  uint64_t bw_sink = 0;
  if (any_dw) {
    bw_l2 = qi_bw_read_gbs(QI_BW_L2_BYTES, &bw_sink);
    bw_dram = qi_bw_read_gbs(QI_BW_DRAM_BYTES, &bw_sink);
    printf("read bandwidth of one core: L2 (%zu KiB) %.1f GB/s, DRAM "
           "(%zu MiB) %.1f GB/s%s\n",
           QI_BW_L2_BYTES >> 10, bw_l2, QI_BW_DRAM_BYTES >> 20, bw_dram,
           bw_sink == 1 ? " " : "");
  }
  printf("%-28s %3s %-9s %9s %8s %18s | %9s %8s %6s  %s\n", "layer", "thr",
         "kernel", "ms", "GMAC/s", "GB/s %L2 %DRAM", "oneDNN ms", "GMAC/s",
         "ratio", "oneDNN impl");
  for (size_t i = 0; i < NSHAPES; i++) {
    const shape *s = &k_shapes[i];
    if (only && !strstr(s->what, only)) continue;
    layer l;
    qi_qconv_packed *pk = NULL;
    qi_error err = {0};
    if (!layer_make(s, &l) ||
        qi_qconv_pack(&l.p, l.w, l.bias, l.mult, NULL, NULL, &pk, &err) !=
            QI_OK) {
      printf("%-28s setup failed: %s\n", s->what, err.message);
      layer_free(&l);
      continue;
    }
    int dw = qi_qconv_path_of(pk) == QI_QCONV_DEPTHWISE;
    const char *kname = qi_qconv_kernel_name(pk);
    const char *isa = strstr(kname, "__") ? strstr(kname, "__") + 2 : kname;
    double bytes = (double)(l.p.h * l.p.w * l.p.c_in + l.out_px * l.p.c_out);
    if (dw)
      bytes += (double)qi_u8s8_dwconv_packed_bytes(
          (size_t)l.p.c_in, (size_t)(l.p.kh * l.p.kw),
          strstr(isa, "avx") ? 2 : 1);
    int r = exact_reps ? reps : reps_for(l.macs, reps);
    for (int th = 1; th <= 2; th++) {
      /* oneDNN sizes its thread split when the primitive is made: make it
       * under the thread count it is timed with. */
      if (use_dnnl && dnnl.omp_set_num_threads) dnnl.omp_set_num_threads(th);
      dnnl_conv dc;
      int have_dnnl = use_dnnl && dnnl_conv_make(&dnnl, &l, no_zp, &dc);
      qinfer_run q;
      double ms = -1, dms = -1;
      if (qinfer_run_make(&q, &l, pk, th == 1 ? NULL : pool2))
        time_pair(&q, &dnnl, have_dnnl ? &dc : NULL, r, &ms, &dms);
      free(q.scratch);
      char gbs[40] = "";
      if (ms <= 0) {
        printf("%-28s %3d qinfer run failed\n", s->what, th);
        if (use_dnnl) dnnl_conv_free(&dnnl, &dc);
        continue;
      }
      if (dw) {
        double g = bytes / ms * 1e-6;
        snprintf(gbs, sizeof gbs, "%7.2f %4.0f%% %4.0f%%", g,
                 bw_l2 > 0 ? 100.0 * g / (bw_l2 * th) : 0.0,
                 bw_dram > 0 ? 100.0 * g / bw_dram : 0.0);
      }
      printf("%-28s %3d %-9s %9.3f %8.2f %18s | ", s->what, th, isa, ms,
             (double)l.macs / ms * 1e-6, gbs);
      if (dms > 0)
        printf("%9.3f %8.2f %6.2f  %s, %s\n", dms,
               (double)l.macs / dms * 1e-6, ms / dms, dc.impl, dc.zp_kind);
      else
        printf("%9s %8s %6s  %s\n", "-", "-", "-",
               use_dnnl ? "oneDNN failed" : "");
      fflush(stdout);
      if (use_dnnl) dnnl_conv_free(&dnnl, &dc);
    }
    qi_qconv_free(pk);
    layer_free(&l);
  }
  qi_pool_free(pool2);
  if (use_dnnl) dlclose(dnnl.lib);
  return 0;
}
