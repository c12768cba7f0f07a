/* Thread pool. A job is a task range handed out through an atomic counter so
 * uneven tasks balance.
 *
 * Hand-off. The caller publishes a job by bumping the generation in `state`
 * (generation << 32 | CLOSED | joined). A worker takes part only if it
 * joins (a CAS raising `joined`) while the generation is its own and the job
 * is open. The caller drains tasks itself, then closes the job and waits
 * only for the workers that joined. So a worker that is slow to wake (its
 * vCPU halted, or preempted by another process on a busy machine) never
 * delays the caller: the caller simply runs the tasks that worker would
 * have taken. Before, the caller waited for every worker to wake and check
 * in, and on a 2-core machine with another busy process that wait was often
 * a full scheduler time slice: SqueezeNet at 2 threads ran in 6 or 11 ms.
 *
 * Waiting. Workers between jobs, and the caller waiting for joined workers,
 * spin for a short, bounded time (POOL_SPIN_NS) and then sleep on a
 * condition variable. Waking a sleeping thread costs 10-50 us on a VM
 * (futex, then an IPI to a halted vCPU), about the cost of a small
 * convolution, and a model runs some hundred jobs. Spinning long is harmful
 * on a shared machine (a spinner takes the core the thread with work
 * needs: 20000 pauses made SqueezeNet 8x slower with one busy neighbour),
 * so the spin is bounded in time and off when the pool has more threads
 * than the machine has CPUs. The sleep path counts sleepers so the caller
 * only takes the mutex when someone actually sleeps; the counters and the
 * generation are sequentially consistent, so of "sleeper counted" and
 * "generation bumped" each side sees the other's write (no lost wake-up).
 * QINFER_POOL_SPIN_US, read when a pool is created, overrides the spin
 * (0: always sleep at once, as before). */
#include "core/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* Spin this long before sleeping: a few gaps between consecutive jobs of a
 * model (the serial parts of ops) fit, a busy neighbour loses little. */
#define POOL_SPIN_NS 50000
#define POOL_CLOSED ((uint64_t)1 << 31)
#define POOL_JOINED_MASK (POOL_CLOSED - 1)

struct qi_pool {
  int nthreads;
  pthread_t *workers;
  long spin_ns;               /* 0: sleep at once */
  /* The current job, written by the caller before the generation bump and
   * read by a worker only after it joined; stable until every joined worker
   * has finished. */
  qi_pool_fn fn;
  void *arg;
  size_t ntasks;
  uint32_t generation;        /* caller's copy of the generation */
  atomic_size_t next;         /* next task to hand out */
  atomic_uint_least64_t state; /* generation << 32 | CLOSED | joined */
  atomic_uint finished;       /* joined workers done with the job */
  atomic_int sleepers;        /* workers asleep (or going to sleep) on wake */
  atomic_int caller_sleeps;   /* the caller asleep (or going to) on done */
  atomic_int quit;
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
};

#if defined(__x86_64__) || defined(__i386__)
static inline void cpu_relax(void) { _mm_pause(); }
#else
static inline void cpu_relax(void) {}
#endif

typedef struct worker_arg {
  qi_pool *pool;
  int index;
} worker_arg;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void drain(qi_pool *p, qi_pool_fn fn, void *arg, size_t ntasks,
                  int thread) {
  for (;;) {
    size_t t = atomic_fetch_add(&p->next, 1);
    if (t >= ntasks) break;
    fn(arg, t, thread);
  }
}

static int new_job(qi_pool *p, uint32_t seen) {
  return (uint32_t)(atomic_load(&p->state) >> 32) != seen ||
         atomic_load(&p->quit);
}

/* Returns once the generation differs from `seen` or the pool quits. */
static void wait_job(qi_pool *p, uint32_t seen) {
  if (p->spin_ns > 0) {
    int64_t until = now_ns() + p->spin_ns;
    for (unsigned i = 1;; i++) {
      if (new_job(p, seen)) return;
      cpu_relax();
      if (i % 64 == 0 && now_ns() > until) break;
    }
  }
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add(&p->sleepers, 1);
  while (!new_job(p, seen)) pthread_cond_wait(&p->wake, &p->mu);
  atomic_fetch_sub(&p->sleepers, 1);
  pthread_mutex_unlock(&p->mu);
}

/* Joins job `gen` unless it is over or closed; 1 if joined. */
static int join_job(qi_pool *p, uint32_t gen) {
  uint64_t v = atomic_load(&p->state);
  for (;;) {
    if ((uint32_t)(v >> 32) != gen || (v & POOL_CLOSED)) return 0;
    if (atomic_compare_exchange_weak(&p->state, &v, v + 1)) return 1;
  }
}

static void *worker_main(void *vp) {
  worker_arg wa = *(worker_arg *)vp;
  free(vp);
  qi_pool *p = wa.pool;
  uint32_t seen = 0;
  for (;;) {
    wait_job(p, seen);
    if (atomic_load(&p->quit)) break;
    seen = (uint32_t)(atomic_load(&p->state) >> 32);
    if (!join_job(p, seen)) continue;
    drain(p, p->fn, p->arg, p->ntasks, wa.index);
    atomic_fetch_add(&p->finished, 1);
    if (atomic_load(&p->caller_sleeps)) {
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
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  /* More threads than CPUs: a spinner always keeps someone off a core. */
  p->spin_ns = ncpu > 0 && nthreads <= ncpu ? POOL_SPIN_NS : 0;
  const char *env = getenv("QINFER_POOL_SPIN_US");
  if (env && *env) p->spin_ns = atol(env) * 1000;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  atomic_init(&p->next, 0);
  atomic_init(&p->state, 0);
  atomic_init(&p->finished, 0);
  atomic_init(&p->sleepers, 0);
  atomic_init(&p->caller_sleeps, 0);
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
  p->fn = fn;
  p->arg = arg;
  p->ntasks = ntasks;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
  p->generation++;
  atomic_store(&p->state, (uint64_t)p->generation << 32);
  if (atomic_load(&p->sleepers)) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
  }
  drain(p, fn, arg, ntasks, 0);
  /* Late workers now see the job closed and stay out of it. */
  unsigned joined =
      (unsigned)(atomic_fetch_or(&p->state, POOL_CLOSED) & POOL_JOINED_MASK);
  if (atomic_load(&p->finished) == joined) return;
  if (p->spin_ns > 0) {
    int64_t until = now_ns() + p->spin_ns;
    for (unsigned i = 1;; i++) {
      if (atomic_load(&p->finished) == joined) return;
      cpu_relax();
      if (i % 64 == 0 && now_ns() > until) break;
    }
  }
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->caller_sleeps, 1);
  while (atomic_load(&p->finished) != joined)
    pthread_cond_wait(&p->done, &p->mu);
  atomic_store(&p->caller_sleeps, 0);
  pthread_mutex_unlock(&p->mu);
}
