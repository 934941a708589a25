#include <check.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/threadpool.h"

static void check_split(int n, int align, int nth) {
    int prev_end = 0;
    for (int ith = 0; ith < nth; ith++) {
        int b, e;
        pool_split(n, align, ith, nth, &b, &e);
        ck_assert_int_eq(b, prev_end);
        ck_assert_int_le(b, e);
        ck_assert_int_le(e, n);
        if (e < n) ck_assert_int_eq(e % align, 0);
        if (b < n) ck_assert_int_eq(b % align, 0);
        prev_end = e;
    }
    ck_assert_int_eq(prev_end, n < 0 ? 0 : n);
}

START_TEST(split_covers_range) {
    const int ns[] = {0, 1, 2, 15, 16, 17, 33, 768, 50257, INT_MAX - 3};
    const int aligns[] = {1, 3, 16, 48, 100000};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof aligns / sizeof aligns[0]; b++)
            for (int nth = 1; nth <= 5; nth++) check_split(ns[a], aligns[b], nth);
}
END_TEST

START_TEST(split_balances_and_aligns) {
    int b, e;
    pool_split(50257, 16, 0, 2, &b, &e);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(e, 1571 * 16); /* 3142 blocks of 16: 1571 each */
    pool_split(50257, 16, 1, 2, &b, &e);
    ck_assert_int_eq(b, 1571 * 16);
    ck_assert_int_eq(e, 50257);
    pool_split(3, 1, 4, 5, &b, &e); /* more parts than items: empty tail parts */
    ck_assert_int_eq(b, e);
    pool_split(10, 0, 0, 1, &b, &e); /* align < 1 means 1 */
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(e, 10);
}
END_TEST

typedef struct counter {
    _Atomic int calls[8];
    _Atomic int total;
    _Atomic int nth_seen; /* written by every part at once */
} counter;

static void count_fn(void *ctx, int ith, int nth) {
    counter *c = ctx;
    atomic_fetch_add(&c->calls[ith], 1);
    atomic_fetch_add(&c->total, 1);
    atomic_store(&c->nth_seen, nth);
}

START_TEST(run_null_pool_runs_on_caller) {
    counter c;
    memset(&c, 0, sizeof c);
    pool_run(NULL, count_fn, &c);
    ck_assert_int_eq(c.calls[0], 1);
    ck_assert_int_eq(c.total, 1);
    ck_assert_int_eq(c.nth_seen, 1);
    ck_assert_int_eq(pool_size(NULL), 1);
}
END_TEST

START_TEST(many_tiny_runs_each_part_once) {
    for (int n = 1; n <= 4; n++) {
        tf_err err = {0};
        tf_pool *pool;
        ck_assert_int_eq(pool_new(n, &pool, &err), 0);
        ck_assert_int_eq(pool_size(pool), n);
        counter c;
        memset(&c, 0, sizeof c);
        /* More threads than the 2 test cores makes every run wait for a time slice. */
        const int runs = n <= 2 ? 20000 : 500;
        for (int r = 0; r < runs; r++) pool_run(pool, count_fn, &c);
        for (int i = 0; i < n; i++) ck_assert_int_eq(c.calls[i], runs);
        ck_assert_int_eq(c.total, runs * n);
        ck_assert_int_eq(c.nth_seen, n);
        pool_free(pool);
    }
}
END_TEST

START_TEST(runs_after_workers_sleep) {
    /* Pauses longer than the spin window send the workers to the futex. */
    tf_err err = {0};
    tf_pool *pool;
    ck_assert_int_eq(pool_new(2, &pool, &err), 0);
    counter c;
    memset(&c, 0, sizeof c);
    struct timespec pause = {0, 2 * 1000 * 1000};
    for (int r = 0; r < 20; r++) {
        nanosleep(&pause, NULL);
        pool_run(pool, count_fn, &c);
    }
    ck_assert_int_eq(c.calls[0], 20);
    ck_assert_int_eq(c.calls[1], 20);
    pool_free(pool);
}
END_TEST

static void fill_fn(void *ctx, int ith, int nth) {
    int *v = ctx, b, e;
    pool_split(1000, 16, ith, nth, &b, &e);
    for (int i = b; i < e; i++) v[i] += i;
}

START_TEST(run_publishes_results) {
    tf_err err = {0};
    tf_pool *pool;
    ck_assert_int_eq(pool_new(2, &pool, &err), 0);
    static int v[1000];
    for (int r = 0; r < 100; r++) pool_run(pool, fill_fn, v);
    for (int i = 0; i < 1000; i++) ck_assert_int_eq(v[i], 100 * i);
    pool_free(pool);
}
END_TEST

/* Parts are claimed by whichever thread is free, so the same ith can run on different
 * threads from one run to the next, but never on two at once and never twice in a run:
 * scratch indexed by ith stays private. Uneven parts make the claims race. */
typedef struct exclusive {
    _Atomic int busy[4];
    _Atomic int runs[4];
    _Atomic int overlaps;
} exclusive;

static void exclusive_fn(void *ctx, int ith, int nth) {
    exclusive *x = ctx;
    if (atomic_exchange(&x->busy[ith], 1)) atomic_fetch_add(&x->overlaps, 1);
    volatile int spin = 0;
    for (int i = 0; i < (ith + 1) * 200 * (nth - ith); i++) spin += i;
    atomic_fetch_add(&x->runs[ith], 1);
    atomic_store(&x->busy[ith], 0);
}

START_TEST(parts_are_exclusive_and_run_once) {
    for (int n = 2; n <= 3; n++) {
        tf_err err = {0};
        tf_pool *pool;
        ck_assert_int_eq(pool_new(n, &pool, &err), 0);
        exclusive x;
        memset(&x, 0, sizeof x);
        const int runs = 5000;
        for (int r = 0; r < runs; r++) {
            pool_run(pool, exclusive_fn, &x);
            for (int i = 0; i < n; i++) ck_assert_int_eq(x.runs[i], r + 1);
        }
        ck_assert_int_eq(x.overlaps, 0);
        pool_free(pool);
    }
}
END_TEST

START_TEST(new_rejects_bad_sizes) {
    tf_err err = {0};
    tf_pool *pool = (tf_pool *)&err;
    ck_assert_int_eq(pool_new(0, &pool, &err), TF_ERANGE);
    ck_assert_ptr_null(pool);
    ck_assert_int_eq(pool_new(-3, &pool, &err), TF_ERANGE);
    pool_free(NULL);
}
END_TEST

Suite *threadpool_suite(void) {
    Suite *s = suite_create("threadpool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, split_covers_range);
    tcase_add_test(tc, split_balances_and_aligns);
    tcase_add_test(tc, run_null_pool_runs_on_caller);
    tcase_add_test(tc, many_tiny_runs_each_part_once);
    tcase_add_test(tc, runs_after_workers_sleep);
    tcase_add_test(tc, run_publishes_results);
    tcase_add_test(tc, parts_are_exclusive_and_run_once);
    suite_add_tcase(s, tc);
    TCase *lim = tcase_create("limits");
    tcase_add_test(lim, new_rejects_bad_sizes);
    suite_add_tcase(s, lim);
    return s;
}
