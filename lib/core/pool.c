/* Thread pool. A job is a task range handed out through an atomic counter so
 * uneven tasks balance. Between jobs workers sleep on a condition variable.
 * Spinning before sleeping was tried and removed: on a 2-core machine with
 * another busy process, SqueezeNet at 2 threads went from 6 ms (no spin) to
 * 12 ms (1000 pauses) and 50 ms (20000 pauses), as spinners took the core
 * that the thread holding a task needed. */
#include "core/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct qi_pool {
  int nthreads;
  pthread_t *workers;
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  /* The current job; written under mu before generation is bumped. */
  qi_pool_fn fn;
  void *arg;
  size_t ntasks;
  atomic_size_t next;
  atomic_int active;          /* workers still inside the current job */
  atomic_ulong generation;
  atomic_int quit;
};

typedef struct worker_arg {
  qi_pool *pool;
  int index;
} worker_arg;

static void drain(qi_pool *p, qi_pool_fn fn, void *arg, size_t ntasks,
                  int thread) {
  for (;;) {
    size_t t = atomic_fetch_add(&p->next, 1);
    if (t >= ntasks) break;
    fn(arg, t, thread);
  }
}

static void *worker_main(void *vp) {
  worker_arg wa = *(worker_arg *)vp;
  free(vp);
  qi_pool *p = wa.pool;
  unsigned long seen = 0;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    while (!atomic_load(&p->quit) && atomic_load(&p->generation) == seen)
      pthread_cond_wait(&p->wake, &p->mu);
    if (atomic_load(&p->quit)) {
      pthread_mutex_unlock(&p->mu);
      break;
    }
    seen = atomic_load(&p->generation);
    qi_pool_fn fn = p->fn;
    void *arg = p->arg;
    size_t ntasks = p->ntasks;
    pthread_mutex_unlock(&p->mu);
    drain(p, fn, arg, ntasks, wa.index);
    if (atomic_fetch_sub(&p->active, 1) == 1) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->mu);
    }
  }
  return NULL;
}

qi_pool *qi_pool_create(int nthreads) {
  if (nthreads < 1) nthreads = 1;
  qi_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->nthreads = nthreads;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  atomic_init(&p->next, 0);
  atomic_init(&p->active, 0);
  atomic_init(&p->generation, 0);
  atomic_init(&p->quit, 0);
  if (nthreads > 1) {
    p->workers = calloc((size_t)nthreads - 1, sizeof(pthread_t));
    if (!p->workers) {
      p->nthreads = 1;
      qi_pool_free(p);
      return NULL;
    }
    for (int i = 0; i < nthreads - 1; i++) {
      worker_arg *wa = malloc(sizeof *wa);
      if (wa) *wa = (worker_arg){p, i + 1};
      if (!wa || pthread_create(&p->workers[i], NULL, worker_main, wa) != 0) {
        free(wa);
        p->nthreads = i + 1; /* join only those started */
        qi_pool_free(p);
        return NULL;
      }
    }
  }
  return p;
}

void qi_pool_free(qi_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->quit, 1);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->nthreads - 1; i++) pthread_join(p->workers[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  free(p->workers);
  free(p);
}

int qi_pool_size(const qi_pool *p) { return p ? p->nthreads : 1; }

void qi_pool_run(qi_pool *p, qi_pool_fn fn, void *arg, size_t ntasks) {
  if (!ntasks) return;
  if (!p || p->nthreads == 1 || ntasks == 1) {
    for (size_t t = 0; t < ntasks; t++) fn(arg, t, 0);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->arg = arg;
  p->ntasks = ntasks;
  atomic_store(&p->next, 0);
  atomic_store(&p->active, p->nthreads - 1);
  atomic_fetch_add(&p->generation, 1);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  drain(p, fn, arg, ntasks, 0);
  if (atomic_load(&p->active) > 0) {
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->active) > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
  }
}
