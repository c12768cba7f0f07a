/* A fixed-size thread pool, one per session. The calling thread takes part,
 * so a pool of n threads starts n-1 workers. */
#ifndef QI_CORE_POOL_H
#define QI_CORE_POOL_H

#include <stddef.h>

typedef struct qi_pool qi_pool;

/* fn(arg, task, thread) is called once for every task in [0, ntasks);
 * `thread` is in [0, qi_pool_size) and indexes per-thread scratch. */
typedef void (*qi_pool_fn)(void *arg, size_t task, int thread);

qi_pool *qi_pool_create(int nthreads); /* NULL on failure */
void qi_pool_free(qi_pool *pool);
int qi_pool_size(const qi_pool *pool); /* 1 for a NULL pool */
/* Runs all tasks and returns when every one is done. A NULL pool runs them
 * on the calling thread. */
void qi_pool_run(qi_pool *pool, qi_pool_fn fn, void *arg, size_t ntasks);

#endif
