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
    ck_assert(o.entropy_floor == 0.01 && o.entropy_ceiling == 0.995 && o.sink_max == 0.95 && o.z == 4);
    ck_assert_int_eq(o.window, 200);
    ck_assert_int_eq(o.warmup, 20);
    ck_assert_str_eq(attnmon_kind_name(ATTN_COLLAPSED), "collapsed");
    ck_assert_str_eq(attnmon_kind_name(ATTN_DIFFUSE), "diffuse");
    ck_assert_str_eq(attnmon_kind_name(ATTN_SINK_DOMINATED), "sink_dominated");
    ck_assert(o.coverage_weight == 0.1 && o.coverage_min == 0.25 && o.repeat_max == 0.9);
    ck_assert_str_eq(attnmon_kind_name(ATTN_LOW_SOURCE_COVERAGE), "low_source_coverage");
    ck_assert_str_eq(attnmon_kind_name(ATTN_REPEATED_FOCUS), "repeated_focus");
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
    ck_assert_uint_eq(observe(m, 0.008, 0.01, 0.2, 0.2, &v), ATTN_COLLAPSED); /* mean 0.009 < 0.01 */
    ck_assert_ptr_nonnull(strstr(v.why, "collapsed"));
    ck_assert_uint_eq(observe(m, 0.01, 0.01, 0.2, 0.2, &v), 0);               /* 0.01 is not below */
    ck_assert_uint_eq(observe(m, 1.0, 0.995, 0.2, 0.2, &v), ATTN_DIFFUSE);    /* 0.9975 > 0.995 */
    ck_assert_uint_eq(observe(m, 0.5, 0.5, 1.0, 0.91, &v), ATTN_SINK_DOMINATED); /* 0.955 > 0.95 */
    ck_assert_uint_eq(observe(m, 0.5, 0.5, 0.95, 0.95, &v), 0);
    ck_assert_uint_eq(observe(m, 0.002, 0.002, 0.99, 0.99, &v), ATTN_COLLAPSED | ATTN_SINK_DOMINATED);
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
    /* learned clipped to 0.5 + 4 * 0.1 = 0.9, as the fifth value: mean 0.5 + 0.4 / 5 */
    double em, esd, sm, ssd;
    ck_assert_int_eq(attnmon_baseline(m, 0, &em, &esd, &sm, &ssd), 0);
    ck_assert_double_eq_tol(em, 0.58, 1e-12);
    ck_assert_uint_eq(observe(m, 0.5, 0.41, 0.2, 0.3, &v), ATTN_COLLAPSED); /* layer 1: z = -4.5 */
    ck_assert_ptr_nonnull(strstr(v.why, "layer 1"));
    ck_assert_uint_eq(observe(m, 0.5, 0.5, 0.2, 0.39, &v), ATTN_SINK_DOMINATED); /* z = 4.5 */
    ck_assert_uint_eq(observe(m, 0.5, 0.5, 0.2, 0.21, &v), 0);                   /* lower sink is fine */
    ck_assert_int_eq(attnmon_seen(m), 8); /* the three flagged requests were learned, clipped */
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

/* ---- encoder-decoder kinds ---- */

/* One decoder layer of H = 2 heads over S = 4 source tokens, 2 rows each; per-row mean
 * weights h0 [0.75, 0.25, 0, 0], h1 [0.25, 0.25, 0.375, 0.125]: head average
 * [0.5, 0.25, 0.1875, 0.0625], i.e. [2, 1, 0.75, 0.25] times the uniform share 1/4. */
static float cov_a[2][4] = {{1.5f, 0.5f, 0, 0}, {0.5f, 0.5f, 0.75f, 0.25f}};

static void layer_a(tf_attn_cross *c) {
    for (int h = 0; h < 2; h++) c[h] = (tf_attn_cross){.coverage = cov_a[h], .n_src = 4, .n_steps = 2, .last_focus = -1};
    c[0].n_repeat = 1;
}

START_TEST(layer_coverage_and_repeat_exact) {
    tf_attn_cross c[2];
    layer_a(c);
    ck_assert(attnmon_layer_coverage(c, 2, 2.5) == 0.0);
    ck_assert(attnmon_layer_coverage(c, 2, 1.0) == 0.5);  /* position 1 sits exactly on the threshold */
    ck_assert(attnmon_layer_coverage(c, 2, 0.75) == 0.75);
    ck_assert(attnmon_layer_coverage(c, 2, 0.26) == 0.75);
    ck_assert(attnmon_layer_coverage(c, 2, 0.25) == 1.0);
    ck_assert(attnmon_layer_coverage(c, 1, 1.0) == 0.5);  /* head 0 alone: [3, 1, 0, 0] */
    ck_assert(attnmon_layer_coverage(&c[1], 1, 1.0) == 0.75); /* head 1: [1, 1, 1.5, 0.5] */
    /* uniform attention covers everything up to weight 1; one-hot covers one position */
    float uni[8], hot[8] = {5};
    for (int j = 0; j < 8; j++) uni[j] = 5.0f / 8;
    tf_attn_cross u = {.coverage = uni, .n_src = 8, .n_steps = 5}, o = {.coverage = hot, .n_src = 8, .n_steps = 5};
    ck_assert(attnmon_layer_coverage(&u, 1, 1.0) == 1.0);
    ck_assert(attnmon_layer_coverage(&u, 1, 1.01) == 0.0);
    ck_assert(attnmon_layer_coverage(&o, 1, 0.1) == 0.125);
    /* repeats: 1 of the 2 rows that could repeat (one per head) */
    ck_assert(attnmon_layer_repeat(c, 2) == 0.5);
    ck_assert(attnmon_layer_repeat(c, 1) == 1.0);
    ck_assert(attnmon_layer_repeat(&c[1], 1) == 0.0);
    c[0].n_steps = c[1].n_steps = 1; /* no row could repeat */
    ck_assert(isnan(attnmon_layer_repeat(c, 2)));
    c[0].n_steps = 0;
    ck_assert(isnan(attnmon_layer_coverage(c, 2, 0.1)));
}
END_TEST

/* A synthetic encoder-decoder request: 1 encoder and 2 decoder layers, 2 heads, 8 source
 * tokens, 11 decoder steps. Layer l's heads attend evenly to the first covered[l] source
 * tokens and repeat their focus on repeats[l] of the 10 steps that could repeat. */
#define ED_E 1
#define ED_D 2
#define ED_H 2
#define ED_S 8
typedef struct ed_req {
    tf_attn_stats enc[ED_E * ED_H], dec[ED_D * ED_H], cross[ED_D * ED_H];
    tf_attn_cross cover[ED_D * ED_H];
    float cov[ED_D * ED_H][ED_S];
    tf_attn_encdec a;
} ed_req;

static void ed_fill(ed_req *r, const int *covered, const int *repeats, int n_steps) {
    memset(r, 0, sizeof *r);
    tf_attn_stats *all[3] = {r->enc, r->dec, r->cross};
    int n[3] = {ED_E * ED_H, ED_D * ED_H, ED_D * ED_H};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < n[k]; i++)
            all[k][i] = (tf_attn_stats){.entropy_sum = 0.5 * n_steps, .max_sum = 0.5 * n_steps, .sink_sum = 0.2 * n_steps,
                                        .prompt_sum = n_steps, .n_rows = n_steps, .n_entropy_rows = n_steps};
    for (int l = 0; l < ED_D; l++)
        for (int h = 0; h < ED_H; h++) {
            const int i = l * ED_H + h;
            for (int j = 0; j < covered[l]; j++) r->cov[i][j] = (float)n_steps / (float)covered[l];
            r->cover[i] = (tf_attn_cross){.coverage = r->cov[i], .n_src = ED_S, .n_steps = n_steps,
                                          .n_repeat = repeats[l], .last_focus = 0};
        }
    r->a = (tf_attn_encdec){.enc = r->enc, .dec = r->dec, .cross = r->cross, .cover = r->cover, .n_enc_layer = ED_E,
                            .n_dec_layer = ED_D, .n_head = ED_H, .n_src = ED_S, .n_steps = n_steps};
}

static unsigned ed_observe(tf_attnmon *m, int c0, int c1, int r0, int r1, tf_attn_verdict *v) {
    ed_req r;
    int covered[ED_D] = {c0, c1}, repeats[ED_D] = {r0, r1};
    ed_fill(&r, covered, repeats, 11);
    ck_assert_int_eq(attnmon_observe_encdec(m, &r.a, v), 0);
    return v->flags;
}

START_TEST(encdec_absolute_thresholds) {
    tf_attnmon_opts o;
    quiet_opts(&o);
    tf_metrics *met;
    met_new(&met);
    tf_attnmon *m;
    tf_err err = {0};
    ck_assert_int_eq(attnmon_new(&o, "t5", met, &m, &err), 0);
    const char *lc = "model=\"t5\",kind=\"low_source_coverage\"", *lr = "model=\"t5\",kind=\"repeated_focus\"";
    char *text;
    size_t len;
    met_render(met, &text, &len);
    ck_assert_ptr_nonnull(strstr(text, "transformerd_attention_anomalies_total{model=\"t5\",kind=\"low_source_coverage\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "transformerd_attention_anomalies_total{model=\"t5\",kind=\"repeated_focus\"} 0\n"));
    free(text);
    tf_attn_verdict v;
    ck_assert_uint_eq(ed_observe(m, 8, 8, 2, 4, &v), 0);
    ck_assert_int_eq(v.judged, 1);
    ck_assert(v.coverage == 1.0);
    ck_assert(fabs(v.repeat - 0.3) < 1e-12);  /* (0.2 + 0.4) / 2 */
    ck_assert(fabs(v.entropy - 0.5) < 1e-12); /* encoder, decoder and cross layers pooled */
    ck_assert(fabs(v.sink - 0.2) < 1e-12);
    ck_assert_uint_eq(ed_observe(m, 1, 8, 0, 0, &v), 0);  /* one layer reading all of it is enough */
    ck_assert(v.coverage == 1.0);
    ck_assert_uint_eq(ed_observe(m, 1, 1, 0, 0, &v), ATTN_LOW_SOURCE_COVERAGE); /* 1/8 < 0.25 */
    ck_assert_ptr_nonnull(strstr(v.why, "low_source_coverage: covered source share 0.125 below 0.250"));
    ck_assert(v.coverage == 0.125);
    ck_assert_uint_eq(ed_observe(m, 2, 1, 0, 0, &v), 0); /* 2/8 is not below 0.25 */
    ck_assert_uint_eq(ed_observe(m, 1, 3, 0, 0, &v), 0);
    ck_assert_uint_eq(ed_observe(m, 8, 8, 9, 9, &v), 0); /* 0.9 is not above 0.9 */
    ck_assert(v.repeat == 0.9);
    ck_assert_uint_eq(ed_observe(m, 8, 8, 10, 9, &v), ATTN_REPEATED_FOCUS); /* 0.95 */
    ck_assert_ptr_nonnull(strstr(v.why, "repeated_focus: mean repeat share 0.950 above 0.900"));
    ck_assert_uint_eq(ed_observe(m, 1, 1, 10, 10, &v), ATTN_LOW_SOURCE_COVERAGE | ATTN_REPEATED_FOCUS);
    ck_assert(met_get(met, MET_ATTN_ANOMALIES, lc) == 2);
    ck_assert(met_get(met, MET_ATTN_ANOMALIES, lr) == 2);
    /* histograms: every judged request, layers labelled by stack */
    ck_assert(met_get(met, MET_ATTN_ENTROPY, "model=\"t5\",layer=\"encoder.0\"") == 8);
    ck_assert(met_get(met, MET_ATTN_SINK, "model=\"t5\",layer=\"cross.1\"") == 8);
    ck_assert(met_get(met, MET_ATTN_ENTROPY, "model=\"t5\",layer=\"decoder.1\"") == 8);
    ck_assert(met_get(met, MET_ATTN_COVERAGE, "model=\"t5\"") == 8);
    ck_assert(met_get(met, MET_ATTN_REPEAT, "model=\"t5\",layer=\"cross.0\"") == 8);
    ck_assert_int_eq(attnmon_seen(m), 5);
    json_t *f = attnmon_flags_json(ATTN_LOW_SOURCE_COVERAGE | ATTN_REPEATED_FOCUS | ATTN_DIFFUSE);
    ck_assert_int_eq(json_array_size(f), 3);
    ck_assert_str_eq(json_string_value(json_array_get(f, 1)), "low_source_coverage");
    ck_assert_str_eq(json_string_value(json_array_get(f, 2)), "repeated_focus");
    json_decref(f);
    /* a decoder-only request on an encoder-decoder monitor is a shape mismatch */
    tf_attn_stats st[L * H];
    double e[L] = {0.5, 0.5}, s[L] = {0.1, 0.1};
    fill(st, e, s, 10);
    ck_assert_int_eq(attnmon_observe(m, st, L, H, &v), TF_EINVALID);
    attnmon_free(m);
    met_free(met);
}
END_TEST

START_TEST(encdec_short_requests_are_not_judged) {
    tf_attnmon_opts o;
    attnmon_opts_default(&o);
    o.coverage_min = 1.0; /* every judged request would be flagged */
    tf_attnmon *m;
    tf_err err = {0};
    attnmon_new(&o, "t5", NULL, &m, &err);
    ed_req r;
    int covered[ED_D] = {1, 1}, repeats[ED_D] = {0, 0};
    tf_attn_verdict v;
    ed_fill(&r, covered, repeats, ATTNMON_MIN_STEPS - 1);
    ck_assert_int_eq(attnmon_observe_encdec(m, &r.a, &v), 0);
    ck_assert_int_eq(v.judged, 0);
    ck_assert_uint_eq(v.flags, 0);
    ed_fill(&r, covered, repeats, ATTNMON_MIN_STEPS);
    r.a.n_src = ATTNMON_MIN_SOURCE - 1;
    ck_assert_int_eq(attnmon_observe_encdec(m, &r.a, &v), 0);
    ck_assert_int_eq(v.judged, 0);
    r.a.n_src = ED_S;
    ck_assert_int_eq(attnmon_observe_encdec(m, &r.a, &v), 0);
    ck_assert_uint_eq(v.flags, ATTN_LOW_SOURCE_COVERAGE);
    ck_assert_int_eq(attnmon_observe_encdec(m, NULL, &v), 0);
    ck_assert_int_eq(v.judged, 0);
    ck_assert_int_eq(attnmon_seen(m), 0);
    attnmon_free(m);
}
END_TEST

START_TEST(encdec_deviation_from_baseline) {
    tf_attnmon_opts o;
    attnmon_opts_default(&o);
    o.warmup = 4;
    o.coverage_min = 0; /* only deviations */
    tf_attnmon *m;
    tf_err err = {0};
    attnmon_new(&o, "t5", NULL, &m, &err);
    tf_attn_verdict v;
    /* best-layer coverage 6/8, 8/8, ... (mean 0.875, sd 0.125); layer 0 repeats 0.4, 0.6
     * (sd 0.1), layer 1 always 0.5 (sd floored at 0.02) */
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(ed_observe(m, i % 2 ? 8 : 6, 1, i % 2 ? 6 : 4, 5, &v), 0);
    ck_assert_uint_eq(ed_observe(m, 4, 1, 5, 5, &v), 0); /* 0.5: z = -3 */
    attnmon_free(m);
    attnmon_new(&o, "t5", NULL, &m, &err);
    for (int i = 0; i < 4; i++) ed_observe(m, i % 2 ? 8 : 6, 1, i % 2 ? 6 : 4, 5, &v);
    ck_assert_uint_eq(ed_observe(m, 2, 1, 5, 5, &v), ATTN_LOW_SOURCE_COVERAGE); /* 0.25: z = -5 */
    ck_assert_ptr_nonnull(strstr(v.why, "covered source share 0.250 vs baseline 0.875"));
    ck_assert_uint_eq(ed_observe(m, 8, 1, 5, 6, &v), ATTN_REPEATED_FOCUS); /* layer 1: z = 5 */
    ck_assert_ptr_nonnull(strstr(v.why, "layer cross.1 repeat share 0.600 vs baseline 0.500"));
    ck_assert_uint_eq(ed_observe(m, 8, 1, 5, 4, &v), 0); /* fewer repeats are fine */
    attnmon_free(m);
}
END_TEST

START_TEST(encdec_summary_json_exact) {
    tf_attn_cross c[2];
    layer_a(c);
    tf_attn_stats enc[2] = {{.entropy_sum = 2, .max_sum = 3, .sink_sum = 1, .n_rows = 4, .n_entropy_rows = 4},
                            {.entropy_sum = 1, .max_sum = 2, .sink_sum = 2, .n_rows = 4, .n_entropy_rows = 4}};
    tf_attn_stats dec[2] = {{.entropy_sum = 0, .max_sum = 2, .sink_sum = 2, .n_rows = 2, .n_entropy_rows = 1},
                            {.max_sum = 2, .sink_sum = 2, .n_rows = 2}};
    tf_attn_encdec a = {.enc = enc, .dec = dec, .cross = enc, .cover = c, .n_enc_layer = 1, .n_dec_layer = 1,
                        .n_head = 2, .n_src = 4, .n_steps = 2};
    json_t *j = attnmon_encdec_summary_json(&a, 1.0);
    ck_assert_ptr_nonnull(j);
    json_t *e = json_object_get(j, "encoder"), *d = json_object_get(j, "decoder"), *x = json_object_get(j, "cross");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "layers")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "heads")), 2);
    json_t *h = json_array_get(json_array_get(json_object_get(e, "stats"), 0), 1);
    ck_assert(json_real_value(json_object_get(h, "entropy")) == 0.25);
    ck_assert(json_real_value(json_object_get(h, "max_weight")) == 0.5);
    ck_assert(json_real_value(json_object_get(h, "sink")) == 0.5);
    ck_assert_ptr_null(json_object_get(h, "coverage"));
    ck_assert(json_is_null(json_object_get(json_array_get(json_array_get(json_object_get(d, "stats"), 0), 1), "entropy")));
    ck_assert_int_eq(json_integer_value(json_object_get(x, "source_tokens")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(x, "steps")), 2);
    json_t *x0 = json_array_get(json_array_get(json_object_get(x, "stats"), 0), 0);
    json_t *x1 = json_array_get(json_array_get(json_object_get(x, "stats"), 0), 1);
    ck_assert(json_real_value(json_object_get(x0, "coverage")) == 0.5);
    ck_assert(json_real_value(json_object_get(x1, "coverage")) == 0.75);
    ck_assert(json_real_value(json_object_get(x0, "repeat_share")) == 1.0);
    ck_assert(json_real_value(json_object_get(x1, "repeat_share")) == 0.0);
    /* head-averaged totals over the 2 steps: [0.5, 0.25, 0.1875, 0.0625] x 2 */
    json_t *src = json_array_get(json_object_get(x, "source_coverage"), 0);
    double want[4] = {1.0, 0.5, 0.375, 0.125};
    for (int i = 0; i < 4; i++) ck_assert(json_real_value(json_array_get(src, (size_t)i)) == want[i]);
    ck_assert(json_real_value(json_array_get(json_object_get(x, "layer_covered_share"), 0)) == 0.5);
    ck_assert(json_real_value(json_array_get(json_object_get(x, "layer_repeat_share"), 0)) == 0.5);
    ck_assert(json_real_value(json_object_get(x, "covered_share")) == 0.5);
    ck_assert(json_real_value(json_object_get(x, "repeat_share")) == 0.5);
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
    tcase_add_test(tc, layer_coverage_and_repeat_exact);
    tcase_add_test(tc, encdec_absolute_thresholds);
    tcase_add_test(tc, encdec_short_requests_are_not_judged);
    tcase_add_test(tc, encdec_deviation_from_baseline);
    suite_add_tcase(s, tc);
    TCase *tj = tcase_create("json");
    tcase_add_test(tj, summary_json_means);
    tcase_add_test(tj, encdec_summary_json_exact);
    suite_add_tcase(s, tj);
    return s;
}
