/* threadpool.h: a fork-join pool for the compute kernels (module prefix pool_).
 *
 * pool_run(pool, fn, ctx) calls fn(ctx, ith, nth) once for every ith in
 * [0, nth) (nth = the pool's size) across the pool's threads and returns when
 * all have finished. The calling thread takes part, so a pool of 2 uses 1
 * extra thread. Parts are claimed by whichever thread is free, so which thread
 * runs which ith varies (the caller runs them all when the workers are late);
 * no two threads run the same ith at once, so scratch indexed by ith is
 * private to its part. Workers spin briefly before sleeping because a decode
 * step issues ~50 short kernels.
 *
 *     tf_pool *pool;
 *     if (pool_new(2, &pool, &err) < 0) return err.code;
 *     pool_run(pool, my_kernel, &args);
 *     pool_free(pool);
 *
 * Thread-safety: one pool_run at a time per pool (the step worker owns it).
 */
#ifndef TF_CORE_THREADPOOL_H
#define TF_CORE_THREADPOOL_H

#include "core/err.h"

typedef struct tf_pool tf_pool;
typedef void (*tf_pool_fn)(void *ctx, int ith, int nth);

int pool_new(int n_threads, tf_pool **out, tf_err *err);
void pool_free(tf_pool *pool); /* NULL is a no-op */
int pool_size(const tf_pool *pool);
/* pool may be NULL: runs fn(ctx, 0, 1) on the caller. */
void pool_run(tf_pool *pool, tf_pool_fn fn, void *ctx);

/* Splits [0, n) into nth near-equal parts, multiples of `align` except the last;
 * writes part ith's [begin, end). */
void pool_split(int n, int align, int ith, int nth, int *begin, int *end);

#endif
