#include <check.h>
#include <math.h>
#include <string.h>

#include "core/ops.h"
#include "models/decode.h"

static tf_decode_ws ws;

static void setup(void) { ck_assert_int_eq(decode_ws_init(&ws, 8, NULL), 0); }
static void teardown(void) { decode_ws_close(&ws); }

START_TEST(greedy_takes_argmax_and_reports_logprob) {
    float logits[8] = {0.1f, 2.0f, -1.0f, 3.5f, 3.0f, 0, 0, -5};
    float expect_lp = 3.5f - ops_logsumexp(logits, 8);
    tf_sampler s = {.temperature = 0, .top_p = 1, .repetition_penalty = 1};
    tf_rng rng;
    rng_seed(&rng, 1);
    float lp;
    ck_assert_int_eq(decode_pick(&s, logits, 8, NULL, 0, &rng, &ws, &lp), 3);
    ck_assert_float_eq_tol(lp, expect_lp, 1e-6);
}
END_TEST

START_TEST(repetition_penalty_follows_transformers) {
    /* positive logits are divided, negative ones multiplied, each id once */
    float logits[8] = {4.0f, 3.0f, -1.0f, 0, 0, 0, 0, 0};
    int32_t hist[] = {0, 0, 2};
    tf_sampler s = {.temperature = 0, .top_p = 1, .repetition_penalty = 2.0f};
    tf_rng rng;
    rng_seed(&rng, 1);
    float lp;
    int id = decode_pick(&s, logits, 8, hist, 3, &rng, &ws, &lp);
    ck_assert_int_eq(id, 1);
    ck_assert_float_eq_tol(logits[0], 2.0f, 1e-6);
    ck_assert_float_eq_tol(logits[2], -2.0f, 1e-6);
    /* the log-probability is the model's, before the penalty */
    float raw[8] = {4.0f, 3.0f, -1.0f, 0, 0, 0, 0, 0};
    ck_assert_float_eq_tol(lp, 3.0f - ops_logsumexp(raw, 8), 1e-6);
    for (int i = 0; i < 8; i++) ck_assert(ws.seen[i] == 0);
}
END_TEST

START_TEST(top_k_one_and_tiny_top_p_are_greedy) {
    tf_rng rng;
    rng_seed(&rng, 7);
    for (int trial = 0; trial < 50; trial++) {
        float logits[8] = {0.5f, 1.5f, 1.4f, -2, 0, 0, 0.3f, 1.0f};
        tf_sampler s = {.temperature = 1.5f, .top_k = 1, .top_p = 1, .repetition_penalty = 1};
        ck_assert_int_eq(decode_pick(&s, logits, 8, NULL, 0, &rng, &ws, NULL), 1);
        float logits2[8] = {0.5f, 1.5f, 1.4f, -2, 0, 0, 0.3f, 1.0f};
        tf_sampler p = {.temperature = 1.0f, .top_k = 0, .top_p = 1e-4f, .repetition_penalty = 1};
        ck_assert_int_eq(decode_pick(&p, logits2, 8, NULL, 0, &rng, &ws, NULL), 1);
    }
}
END_TEST

START_TEST(top_p_keeps_the_token_that_crosses_the_mass) {
    /* probabilities 0.5, 0.3, 0.2 (others ~0): top_p 0.6 keeps {0, 1}, never 2 */
    float base[8] = {logf(0.5f), logf(0.3f), logf(0.2f), -1e9f, -1e9f, -1e9f, -1e9f, -1e9f};
    tf_sampler s = {.temperature = 1.0f, .top_p = 0.6f, .repetition_penalty = 1};
    tf_rng rng;
    rng_seed(&rng, 3);
    int count[8] = {0};
    for (int i = 0; i < 4000; i++) {
        float l[8];
        memcpy(l, base, sizeof l);
        count[decode_pick(&s, l, 8, NULL, 0, &rng, &ws, NULL)]++;
    }
    ck_assert_int_eq(count[2], 0);
    /* renormalized 0.625 / 0.375: expect ~2500 / ~1500 */
    ck_assert_int_gt(count[0], 2300);
    ck_assert_int_lt(count[0], 2700);
    ck_assert_int_eq(count[0] + count[1], 4000);
}
END_TEST

START_TEST(same_seed_same_draws) {
    float base[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    tf_sampler s = {.temperature = 1.0f, .top_k = 5, .top_p = 0.9f, .repetition_penalty = 1};
    tf_rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    int differs_from_first = 0, first = -1;
    for (int i = 0; i < 100; i++) {
        float la[8], lb[8];
        memcpy(la, base, sizeof la);
        memcpy(lb, base, sizeof lb);
        int x = decode_pick(&s, la, 8, NULL, 0, &a, &ws, NULL);
        int y = decode_pick(&s, lb, 8, NULL, 0, &b, &ws, NULL);
        ck_assert_int_eq(x, y);
        if (first < 0) first = x;
        differs_from_first |= x != first;
        ck_assert_int_ge(x, 3); /* top-5 of 8 ascending logits is ids 3..7 */
    }
    ck_assert(differs_from_first); /* it is really sampling */
}
END_TEST

START_TEST(uniform_draws_are_in_range) {
    tf_rng r;
    rng_seed(&r, 0);
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = rng_uniform(&r);
        ck_assert(u >= 0 && u < 1);
        sum += u;
    }
    ck_assert(fabs(sum / 100000 - 0.5) < 0.01);
}
END_TEST

/* Unfiltered sampling draws in proportion to softmax(logits / T) and never draws a banned
 * (-inf) token; the reported log-probability is the raw one, whatever T. */
START_TEST(temperature_draws_follow_the_scaled_softmax) {
    /* at T = 0.5 the weights 0.5, 0.3, 0.2 become 25 : 9 : 4 */
    const float base[8] = {logf(0.5f), logf(0.3f), logf(0.2f), -INFINITY, -INFINITY, -INFINITY,
                           -INFINITY, -INFINITY};
    tf_sampler s = {.temperature = 0.5f, .top_p = 1, .repetition_penalty = 1};
    tf_rng rng;
    rng_seed(&rng, 5);
    int count[8] = {0};
    for (int i = 0; i < 3800; i++) {
        float l[8], lp;
        memcpy(l, base, sizeof l);
        int id = decode_pick(&s, l, 8, NULL, 0, &rng, &ws, &lp);
        count[id]++;
        ck_assert_float_eq_tol(lp, base[id], 1e-6);
    }
    ck_assert_int_eq(count[0] + count[1] + count[2], 3800);
    /* expect 2500 / 900 / 400; 4 standard deviations is about 120 / 110 / 75 */
    ck_assert_int_gt(count[0], 2380);
    ck_assert_int_lt(count[0], 2620);
    ck_assert_int_gt(count[1], 790);
    ck_assert_int_lt(count[1], 1010);
    ck_assert_int_gt(count[2], 325);
    ck_assert_int_lt(count[2], 475);
}
END_TEST

Suite *decode_suite(void) {
    Suite *s = suite_create("decode");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, greedy_takes_argmax_and_reports_logprob);
    tcase_add_test(tc, repetition_penalty_follows_transformers);
    tcase_add_test(tc, top_k_one_and_tiny_top_p_are_greedy);
    tcase_add_test(tc, top_p_keeps_the_token_that_crosses_the_mass);
    tcase_add_test(tc, same_seed_same_draws);
    tcase_add_test(tc, uniform_draws_are_in_range);
    tcase_add_test(tc, temperature_draws_follow_the_scaled_softmax);
    suite_add_tcase(s, tc);
    return s;
}
