/* DESIGN: fork-join with one generation counter. pool_run publishes (fn, ctx),
 * bumps `gen`, and then every thread, the caller included, claims parts
 * [0, nth) one at a time until none is left; the caller spins until all parts
 * are done. Parts are claimed rather than assigned because the cores are
 * shared: a worker the OS has not scheduled yet (or that is still waking up)
 * would otherwise hold up every kernel of the step until it runs; now the
 * caller takes its part as well and a late worker finds nothing left. A part
 * still runs on one thread at a time, so per-part scratch indexed by ith stays
 * private.
 *
 * Claims are a CAS on one 64-bit word holding (generation, next part): a
 * worker that wakes after its generation has moved on cannot claim (and so
 * cannot read the fn/ctx of a finished run), and the caller cannot finish a
 * run while any claimed part is still running.
 *
 * Wake-up latency: a decode step issues ~50 kernels of 20-80 µs each, and a
 * futex wake costs tens of microseconds on a VM, so an idle worker first spins
 * on `gen` for POOL_SPIN_NS (calls arriving within that window start at once),
 * then sleeps on the futex so an idle daemon burns no CPU. Lost wake-ups are
 * impossible: a worker announces itself in `n_sleeping` before futex_wait
 * re-checks `gen`, and the caller bumps `gen` before reading `n_sleeping`
 * (both seq_cst). */
#include "core/threadpool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* 100 µs covers the gap between consecutive kernels of a decode step (a few
 * µs of single-threaded work such as layernorm) with a wide margin. */
#define POOL_SPIN_NS 100000
/* Within the spin window, pause-spin this long, then yield between checks. */
#define POOL_PAUSE_NS 5000

typedef struct pool_worker {
    struct tf_pool *pool; /* borrowed */
    int ith;
    pthread_t thread;
} pool_worker;

struct tf_pool {
    int n_threads;
    pool_worker *workers; /* owned, [n_threads - 1] */
    int n_started;
    tf_pool_fn fn;
    void *ctx;
    _Atomic uint32_t gen;   /* futex word; bumped once per pool_run */
    _Atomic uint64_t claim; /* (gen << 32) | next unclaimed part of that run */
    _Atomic int n_done;     /* parts of the current run finished */
    _Atomic int n_sleeping;
    _Atomic int stop;
};

static void cpu_relax(void) { __builtin_ia32_pause(); }

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Waits until gen != seen; returns the new value. */
static uint32_t worker_wait(struct tf_pool *p, uint32_t seen) {
    int64_t start = 0;
    for (unsigned i = 0;; i++) {
        uint32_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen) return g;
        if ((i & 255) == 255) {
            int64_t t = now_ns();
            if (start == 0) start = t;
            else if (t - start > POOL_SPIN_NS) break;
            /* Past the first few microseconds (the gaps inside a step), keep watching
             * but let any other thread queued on this core run: when the cores are
             * shared that is often the pool's own caller, whose next pool_run we are
             * waiting for. */
            if (t - start > POOL_PAUSE_NS) {
                sched_yield();
                continue;
            }
        }
        cpu_relax();
    }
    for (;;) {
        atomic_fetch_add(&p->n_sleeping, 1);
        uint32_t g = atomic_load(&p->gen);
        if (g == seen) futex_wait(&p->gen, seen);
        atomic_fetch_sub(&p->n_sleeping, 1);
        g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen) return g;
    }
}

/* Claims and runs parts of run `gen` until none is left (or the run is another one). */
static void run_parts(struct tf_pool *p, uint32_t gen) {
    const uint32_t nth = (uint32_t)p->n_threads;
    uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(c >> 32) != gen || (uint32_t)c >= nth) return;
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &c, c + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* c now holds the current word */
        /* The run cannot end before this part is counted, so fn and ctx are its own. */
        p->fn(p->ctx, (int)(uint32_t)c, (int)nth);
        atomic_fetch_add_explicit(&p->n_done, 1, memory_order_release);
        c = atomic_load_explicit(&p->claim, memory_order_acquire);
    }
}

static void *worker_main(void *arg) {
    pool_worker *w = arg;
    struct tf_pool *p = w->pool;
    /* gen is 0 when the pool is created; reading it here instead would miss a
     * pool_run issued before this thread got scheduled. */
    uint32_t seen = 0;
    for (;;) {
        seen = worker_wait(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        run_parts(p, seen);
    }
    return NULL;
}

static void pool_publish(struct tf_pool *p) {
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->n_sleeping) > 0) futex_wake_all(&p->gen);
}

int pool_new(int n_threads, tf_pool **out, tf_err *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return err_set(err, TF_ERANGE, "pool threads must be between 1 and 1024, got %d",
                       n_threads);
    struct tf_pool *p = calloc(1, sizeof *p);
    if (!p) return err_set(err, TF_ENOMEM, "pool: out of memory");
    p->n_threads = n_threads;
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            free(p);
            return err_set(err, TF_ENOMEM, "pool: out of memory");
        }
    }
    for (int i = 1; i < n_threads; i++) {
        pool_worker *w = &p->workers[i - 1];
        w->pool = p;
        w->ith = i;
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            pool_free(p);
            return err_set(err, TF_EINTERNAL, "pool: pthread_create: %s", strerror(rc));
        }
        p->n_started++;
    }
    *out = p;
    return 0;
}

void pool_free(tf_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    pool_publish(p);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i].thread, NULL);
    free(p->workers);
    free(p);
}

int pool_size(const tf_pool *p) { return p ? p->n_threads : 1; }

void pool_run(tf_pool *p, tf_pool_fn fn, void *ctx) {
    if (!p || p->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    /* Only this thread writes gen, so the next value is known before it is published. */
    const uint32_t gen = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->n_done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->claim, (uint64_t)gen << 32, memory_order_release);
    pool_publish(p); /* seq_cst: orders fn/ctx/n_done/claim before the new gen */
    run_parts(p, gen);
    /* What is left is parts that workers claimed and are running. A worker that had gone
     * to sleep needs a futex wake-up (~10-50 µs), so yield after a while instead of
     * spinning on a core it may need. */
    for (unsigned i = 0; atomic_load_explicit(&p->n_done, memory_order_acquire) < p->n_threads;
         i++) {
        if (i < (1u << 12)) cpu_relax();
        else sched_yield();
    }
}

void pool_split(int n, int align, int ith, int nth, int *begin, int *end) {
    if (align < 1) align = 1;
    if (nth < 1) nth = 1;
    if (n < 0) n = 0;
    /* Distribute whole blocks of `align`; the last block may be partial. */
    long n_blocks = ((long)n + align - 1) / align;
    long base = n_blocks / nth, extra = n_blocks % nth;
    long b0 = ith * base + (ith < extra ? ith : extra);
    long b1 = b0 + base + (ith < extra ? 1 : 0);
    long lo = b0 * align, hi = b1 * align;
    if (lo > n) lo = n;
    if (hi > n) hi = n;
    *begin = (int)lo;
    *end = (int)hi;
}
