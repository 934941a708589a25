/* Attention monitoring on synthetic statistics: the baseline arithmetic and each
 * anomaly kind, with the exact outcome each input must give. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/attnmon.h"

#define L 2
#define H 3

/* Every head of a layer: `rows` rows (all with more than one key), mean entropy e[l], sink s[l]. */
static void fill(tf_attn_stats *st, const double *e, const double *s, int rows) {
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            tf_attn_stats *a = &st[l * H + h];
            memset(a, 0, sizeof *a);
            a->n_rows = a->n_entropy_rows = rows;
            a->entropy_sum = e[l] * rows;
            a->sink_sum = s[l] * rows;
            a->max_sum = 0.5 * rows;
            a->prompt_sum = 0.75 * rows;
        }
}

/* Thresholds that never fire unless a test lowers one. */
static void quiet_opts(tf_attnmon_opts *o) {
    attnmon_opts_default(o);
    o->warmup = 1000000;
}

static unsigned observe(tf_attnmon *m, double e0, double e1, double s0, double s1, tf_attn_verdict *v) {
    tf_attn_stats st[L * H];
    double e[L] = {e0, e1}, s[L] = {s0, s1};
    fill(st, e, s, 10);
    ck_assert_int_eq(attnmon_observe(m, st, L, H, v), 0);
    return v->flags;
}

START_TEST(defaults_are_documented_values) {
    tf_attnmon_opts o;
    attnmon_opts_default(&o);
    ck_assert(o.entropy_floor == 0.05 && o.entropy_ceiling == 0.995 && o.sink_max == 0.95 && o.z == 4);
    ck_assert_int_eq(o.window, 200);
    ck_assert_int_eq(o.warmup, 20);
    ck_assert_str_eq(attnmon_kind_name(ATTN_COLLAPSED), "collapsed");
    ck_assert_str_eq(attnmon_kind_name(ATTN_DIFFUSE), "diffuse");
    ck_assert_str_eq(attnmon_kind_name(ATTN_SINK_DOMINATED), "sink_dominated");
}
END_TEST

START_TEST(baseline_is_running_mean_and_variance) {
    tf_attnmon_opts o;
    quiet_opts(&o);
    tf_attnmon *m;
    tf_err err = {0};
    ck_assert_int_eq(attnmon_new(&o, "m", NULL, &m, &err), 0);
    tf_attn_verdict v;
    double xs[] = {0.4, 0.5, 0.6};
    for (int i = 0; i < 3; i++) ck_assert_uint_eq(observe(m, xs[i], 0.3, 0.1 * (i + 1), 0.2, &v), 0);
    ck_assert_int_eq(v.judged, 1);
    ck_assert(fabs(v.entropy - 0.45) < 1e-12); /* (0.6 + 0.3) / 2 */
    ck_assert(fabs(v.sink - 0.25) < 1e-12);    /* (0.3 + 0.2) / 2 */
    ck_assert_int_eq(attnmon_seen(m), 3);
    double em, esd, sm, ssd;
    ck_assert_int_eq(attnmon_baseline(m, 0, &em, &esd, &sm, &ssd), 0);
    ck_assert(fabs(em - 0.5) < 1e-12);
    ck_assert(fabs(esd - sqrt(0.02 / 3)) < 1e-12); /* population variance of 0.4, 0.5, 0.6 */
    ck_assert(fabs(sm - 0.2) < 1e-12);
    ck_assert(fabs(ssd - sqrt(0.02 / 3)) < 1e-12);
    ck_assert_int_eq(attnmon_baseline(m, 1, &em, &esd, &sm, &ssd), 0);
    ck_assert(fabs(em - 0.3) < 1e-12 && esd < 1e-12);
    ck_assert_int_eq(attnmon_baseline(m, 2, &em, &esd, &sm, &ssd), TF_ERANGE);
    attnmon_free(m);
}
END_TEST

START_TEST(window_one_follows_the_last_request) {
    tf_attnmon_opts o;
    quiet_opts(&o);
    o.window = 1; /* weight 2/(1+1) = 1: the baseline is the last request */
    tf_attnmon *m;
    tf_err err = {0};
    attnmon_new(&o, "m", NULL, &m, &err);
    tf_attn_verdict v;
    observe(m, 0.4, 0.4, 0.1, 0.1, &v);
    observe(m, 0.7, 0.4, 0.3, 0.1, &v);
    double em, esd, sm, ssd;
    attnmon_baseline(m, 0, &em, &esd, &sm, &ssd);
    ck_assert(fabs(em - 0.7) < 1e-12 && esd < 1e-12 && fabs(sm - 0.3) < 1e-12);
    attnmon_free(m);
}
END_TEST

START_TEST(absolute_thresholds_give_each_kind) {
    tf_attnmon_opts o;
    quiet_opts(&o);
    tf_metrics *met;
    met_new(&met);
    tf_attnmon *m;
    tf_err err = {0};
    attnmon_new(&o, "m\"x", met, &m, &err);
    /* Counters exist at 0 from the start, label value escaped. */
    const char *lc = "model=\"m\\\"x\",kind=\"collapsed\"", *ld = "model=\"m\\\"x\",kind=\"diffuse\"",
               *ls = "model=\"m\\\"x\",kind=\"sink_dominated\"";
    char *text;
    size_t len;
    met_render(met, &text, &len);
    ck_assert_ptr_nonnull(strstr(text, "transformerd_attention_anomalies_total{model=\"m\\\"x\",kind=\"diffuse\"} 0\n"));
    free(text);
    tf_attn_verdict v;
    ck_assert_uint_eq(observe(m, 0.04, 0.05, 0.2, 0.2, &v), ATTN_COLLAPSED); /* mean 0.045 < 0.05 */
    ck_assert_ptr_nonnull(strstr(v.why, "collapsed"));
    ck_assert_uint_eq(observe(m, 0.05, 0.05, 0.2, 0.2, &v), 0);               /* 0.05 is not below */
    ck_assert_uint_eq(observe(m, 1.0, 0.995, 0.2, 0.2, &v), ATTN_DIFFUSE);    /* 0.9975 > 0.995 */
    ck_assert_uint_eq(observe(m, 0.5, 0.5, 1.0, 0.91, &v), ATTN_SINK_DOMINATED); /* 0.955 > 0.95 */
    ck_assert_uint_eq(observe(m, 0.5, 0.5, 0.95, 0.95, &v), 0);
    ck_assert_uint_eq(observe(m, 0.01, 0.01, 0.99, 0.99, &v), ATTN_COLLAPSED | ATTN_SINK_DOMINATED);
    ck_assert(met_get(met, MET_ATTN_ANOMALIES, lc) == 2);
    ck_assert(met_get(met, MET_ATTN_ANOMALIES, ld) == 1);
    ck_assert(met_get(met, MET_ATTN_ANOMALIES, ls) == 2);
    /* Every judged request is in the per-layer histograms; only unflagged ones are learned. */
    ck_assert(met_get(met, MET_ATTN_ENTROPY, "model=\"m\\\"x\",layer=\"1\"") == 6);
    ck_assert(met_get(met, MET_ATTN_SINK, "model=\"m\\\"x\",layer=\"0\"") == 6);
    ck_assert_int_eq(attnmon_seen(m), 2);
    json_t *f = attnmon_flags_json(ATTN_COLLAPSED | ATTN_SINK_DOMINATED);
    ck_assert_int_eq(json_array_size(f), 2);
    ck_assert_str_eq(json_string_value(json_array_get(f, 0)), "collapsed");
    ck_assert_str_eq(json_string_value(json_array_get(f, 1)), "sink_dominated");
    json_decref(f);
    attnmon_free(m);
    met_free(met);
}
END_TEST

/* One layer drifting while the mean over layers stays unremarkable. */
START_TEST(deviation_from_baseline_per_layer) {
    tf_attnmon_opts o;
    attnmon_opts_default(&o);
    o.warmup = 4;
    tf_attnmon *m;
    tf_err err = {0};
    attnmon_new(&o, "m", NULL, &m, &err);
    tf_attn_verdict v;
    /* Layer 0 entropy 0.5 +- 0.1 (sd 0.1); layer 1 constant 0.5 (sd floored at 0.02);
     * sink layer 0 constant 0.2, layer 1 0.3. */
    double e0[] = {0.4, 0.6, 0.4, 0.6};
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(observe(m, e0[i], 0.5, 0.2, 0.3, &v), 0);
    /* Before warmup ended nothing was judged against the baseline; now it is. */
    ck_assert_uint_eq(observe(m, 0.89, 0.5, 0.2, 0.3, &v), 0);            /* z = 3.9 */
    ck_assert_int_eq(attnmon_seen(m), 5);
    attnmon_free(m);
    attnmon_new(&o, "m", NULL, &m, &err);
    for (int i = 0; i < 4; i++) observe(m, e0[i], 0.5, 0.2, 0.3, &v);
    ck_assert_uint_eq(observe(m, 0.91, 0.5, 0.2, 0.3, &v), ATTN_DIFFUSE);  /* z = 4.1 */
    ck_assert_ptr_nonnull(strstr(v.why, "layer 0"));
    ck_assert_uint_eq(observe(m, 0.5, 0.41, 0.2, 0.3, &v), ATTN_COLLAPSED); /* layer 1: z = -4.5 */
    ck_assert_ptr_nonnull(strstr(v.why, "layer 1"));
    ck_assert_uint_eq(observe(m, 0.5, 0.5, 0.2, 0.39, &v), ATTN_SINK_DOMINATED); /* z = 4.5 */
    ck_assert_uint_eq(observe(m, 0.5, 0.5, 0.2, 0.21, &v), 0);                   /* lower sink is fine */
    ck_assert_int_eq(attnmon_seen(m), 5); /* the three flagged requests were not learned */
    attnmon_free(m);
}
END_TEST

START_TEST(short_requests_are_not_judged) {
    tf_attnmon_opts o;
    attnmon_opts_default(&o);
    tf_attnmon *m;
    tf_err err = {0};
    attnmon_new(&o, "m", NULL, &m, &err);
    tf_attn_stats st[L * H];
    double e[L] = {0.0, 0.0}, s[L] = {1.0, 1.0};
    fill(st, e, s, ATTNMON_MIN_ROWS - 1);
    tf_attn_verdict v;
    ck_assert_int_eq(attnmon_observe(m, st, L, H, &v), 0);
    ck_assert_int_eq(v.judged, 0);
    ck_assert_uint_eq(v.flags, 0);
    ck_assert_int_eq(attnmon_seen(m), 0);
    fill(st, e, s, ATTNMON_MIN_ROWS);
    ck_assert_int_eq(attnmon_observe(m, st, L, H, &v), 0);
    ck_assert_uint_eq(v.flags, ATTN_COLLAPSED | ATTN_SINK_DOMINATED);
    /* A different shape on the same model is refused and records nothing. */
    ck_assert_int_eq(attnmon_observe(m, st, 1, H, &v), TF_EINVALID);
    ck_assert_int_eq(attnmon_observe(m, NULL, L, H, &v), 0);
    ck_assert_int_eq(v.judged, 0);
    attnmon_free(m);
    attnmon_free(NULL);
}
END_TEST

START_TEST(summary_json_means) {
    tf_attn_stats st[L * H];
    double e[L] = {0.25, 0.5}, s[L] = {0.125, 0.375};
    fill(st, e, s, 8);
    st[1 * H + 2].n_entropy_rows = 0; /* a head that only ever saw one key */
    json_t *j = attnmon_summary_json(st, L, H);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "layers")), L);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "heads")), H);
    json_t *stats = json_object_get(j, "stats");
    ck_assert_int_eq(json_array_size(stats), L);
    ck_assert_int_eq(json_array_size(json_array_get(stats, 1)), H);
    json_t *h = json_array_get(json_array_get(stats, 1), 0);
    ck_assert(json_real_value(json_object_get(h, "entropy")) == 0.5);
    ck_assert(json_real_value(json_object_get(h, "sink")) == 0.375);
    ck_assert(json_real_value(json_object_get(h, "max_weight")) == 0.5);
    ck_assert(json_real_value(json_object_get(h, "prompt_share")) == 0.75);
    ck_assert(json_real_value(json_object_get(h, "generated_share")) == 0.25);
    ck_assert(json_is_null(json_object_get(json_array_get(json_array_get(stats, 1), 2), "entropy")));
    json_decref(j);
}
END_TEST

Suite *attnmon_suite(void) {
    Suite *s = suite_create("attnmon");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults_are_documented_values);
    tcase_add_test(tc, baseline_is_running_mean_and_variance);
    tcase_add_test(tc, window_one_follows_the_last_request);
    tcase_add_test(tc, absolute_thresholds_give_each_kind);
    tcase_add_test(tc, deviation_from_baseline_per_layer);
    tcase_add_test(tc, short_requests_are_not_judged);
    suite_add_tcase(s, tc);
    TCase *tj = tcase_create("json");
    tcase_add_test(tj, summary_json_means);
    suite_add_tcase(s, tj);
    return s;
}
