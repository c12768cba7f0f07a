/* Progress on stderr: a redrawn bar when stderr is a terminal, otherwise a
 * plain line at every tenth of the work and at least every 10 s (logs and
 * CI), nothing with --quiet. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "calibrate.h"

#define BAR_WIDTH 30
#define LINE_INTERVAL_S 10.0
#define REDRAW_INTERVAL_S 0.1

double calib_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void calib_progress_start(calib_progress *p, const char *label, int64_t total, int quiet) {
  p->mode = quiet || total <= 0 ? 0 : isatty(fileno(stderr)) ? 1 : 2;
  p->label = label;
  p->total = total;
  p->done = 0;
  p->t0 = p->last = calib_now();
  p->last_decile = 0;
  p->drawn = -1;
}

static void draw_bar(calib_progress *p, double now) {
  p->drawn = p->done;
  int filled = (int)(BAR_WIDTH * p->done / (p->total ? p->total : 1));
  char bar[BAR_WIDTH + 1];
  for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '#' : '.';
  bar[BAR_WIDTH] = '\0';
  double el = now - p->t0;
  double eta = p->done ? el * (double)(p->total - p->done) / (double)p->done : 0;
  fprintf(stderr, "\r%-12s [%s] %lld/%lld  %.1f s  eta %.1f s  ", p->label, bar, (long long)p->done,
          (long long)p->total, el, eta);
  fflush(stderr);
}

void calib_progress_step(calib_progress *p, int64_t done) {
  if (!p->mode) return;
  p->done = done;
  double now = calib_now();
  if (p->mode == 1) {
    if (now - p->last >= REDRAW_INTERVAL_S || done == p->total) {
      draw_bar(p, now);
      p->last = now;
    }
    return;
  }
  int decile = (int)(10 * done / (p->total ? p->total : 1));
  if (decile > p->last_decile || now - p->last >= LINE_INTERVAL_S) {
    fprintf(stderr, "%s: %lld/%lld (%.1f s)\n", p->label, (long long)done, (long long)p->total,
            now - p->t0);
    p->last_decile = decile;
    p->last = now;
  }
}

void calib_progress_end(calib_progress *p) {
  if (p->mode == 1) {
    if (p->drawn != p->done) draw_bar(p, calib_now());
    fputc('\n', stderr);
  }
  p->mode = 0;
}
