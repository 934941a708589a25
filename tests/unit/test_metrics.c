#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"

static char *render(tf_metrics *m) {
    char *t;
    size_t n;
    ck_assert_int_eq(met_render(m, &t, &n), 0);
    ck_assert_uint_eq(strlen(t), n);
    return t;
}

START_TEST(counters_gauges_and_help) {
    tf_metrics *m;
    ck_assert_int_eq(met_new(&m), 0);
    met_add(m, MET_REQUESTS, "route=\"/health\",status=\"200\"", 1);
    met_add(m, MET_REQUESTS, "route=\"/health\",status=\"200\"", 2);
    met_set(m, MET_QUEUE_DEPTH, "model=\"a\"", 5);
    met_set(m, MET_QUEUE_DEPTH, "model=\"a\"", 3);
    met_set(m, MET_QUEUE_DEPTH, "model=\"b\"", 7);
    ck_assert(met_get(m, MET_REQUESTS, "route=\"/health\",status=\"200\"") == 3);
    char *t = render(m);
    ck_assert_ptr_nonnull(strstr(t, "# TYPE transformerd_http_requests_total counter\n"));
    ck_assert_ptr_nonnull(strstr(t, "transformerd_http_requests_total{route=\"/health\",status=\"200\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(t, "transformerd_queue_depth_requests{model=\"a\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(t, "transformerd_queue_depth_requests{model=\"b\"} 7\n"));
    /* Unlabelled series are present before first use. */
    ck_assert_ptr_nonnull(strstr(t, "transformerd_generated_tokens_total 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "transformerd_process_resident_memory_bytes "));
    ck_assert_ptr_nonnull(strstr(t, "# HELP transformerd_kv_cache_bytes "));
    free(t);
    met_free(m);
}
END_TEST

START_TEST(histogram_buckets_are_cumulative) {
    tf_metrics *m;
    met_new(&m);
    met_observe(m, MET_BATCH_SIZE, NULL, 1);
    met_observe(m, MET_BATCH_SIZE, NULL, 3);
    met_observe(m, MET_BATCH_SIZE, NULL, 3);
    met_observe(m, MET_BATCH_SIZE, NULL, 1000);
    ck_assert(met_get(m, MET_BATCH_SIZE, NULL) == 4);
    char *t = render(m);
    ck_assert_ptr_nonnull(strstr(t, "transformerd_batch_size_sequences_bucket{le=\"1\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "transformerd_batch_size_sequences_bucket{le=\"2\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "transformerd_batch_size_sequences_bucket{le=\"4\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(t, "transformerd_batch_size_sequences_bucket{le=\"256\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(t, "transformerd_batch_size_sequences_bucket{le=\"+Inf\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(t, "transformerd_batch_size_sequences_sum 1007\n"));
    ck_assert_ptr_nonnull(strstr(t, "transformerd_batch_size_sequences_count 4\n"));
    free(t);
    met_free(m);
}
END_TEST

START_TEST(labelled_histogram_and_escaping) {
    tf_metrics *m;
    met_new(&m);
    met_observe(m, MET_REQUEST_DURATION, "route=\"/v1/generate\"", 0.02);
    char esc[64];
    met_escape("a\"b\\c\nd", esc, sizeof esc);
    ck_assert_str_eq(esc, "a\\\"b\\\\c\\nd");
    char *t = render(m);
    ck_assert_ptr_nonnull(
        strstr(t, "transformerd_http_request_duration_seconds_bucket{route=\"/v1/generate\",le=\"0.01\"} 0\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "transformerd_http_request_duration_seconds_bucket{route=\"/v1/generate\",le=\"0.025\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "transformerd_http_request_duration_seconds_count{route=\"/v1/generate\"} 1\n"));
    free(t);
    met_free(m);
}
END_TEST

START_TEST(series_are_bounded) {
    tf_metrics *m;
    met_new(&m);
    int refused = 0;
    for (int i = 0; i < 1000; i++) {
        char l[64];
        snprintf(l, sizeof l, "route=\"r%d\",status=\"200\"", i);
        if (met_add(m, MET_REQUESTS, l, 1) < 0) refused++;
    }
    ck_assert_int_gt(refused, 0);
    ck_assert_int_lt(refused, 1000);
    met_free(m);
    met_free(NULL);
}
END_TEST

Suite *metrics_suite(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, counters_gauges_and_help);
    tcase_add_test(tc, histogram_buckets_are_cumulative);
    tcase_add_test(tc, labelled_histogram_and_escaping);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("limits");
    tcase_add_test(tl, series_are_bounded);
    suite_add_tcase(s, tl);
    return s;
}
