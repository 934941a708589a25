#include <check.h>
#include <math.h>

#include "core/act.h"
#include "core/attention.h"
#include "core/attn_rows.h"
#include "core/cpu.h"
#include "core/fastmath.h"
#include "core/ops.h"

START_TEST(fast_exp_is_accurate) {
    /* 2e-7 relative in theory; 1e-6 leaves room for float rounding of the reduction. */
    for (float x = -80.0f; x < 80.0f; x += 0.01337f) {
        double want = exp((double)x);
        ck_assert_msg(fabs(fm_expf(x) / want - 1.0) < 1e-6, "exp(%g)", x);
    }
}
END_TEST

START_TEST(gelu_tanh_matches_definition) {
    float x[200];
    for (int i = 0; i < 200; i++) x[i] = -10.0f + 0.1f * i;
    float y[200];
    for (int i = 0; i < 200; i++) y[i] = x[i];
    ops_gelu_tanh(y, 200);
    for (int i = 0; i < 200; i++) {
        double v = x[i];
        double want = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        ck_assert_msg(fabs(y[i] - want) <= 1e-6 * (1 + fabs(want)), "gelu(%g)=%g want %g", v, y[i],
                      want);
    }
}
END_TEST

START_TEST(layernorm_normalizes) {
    float x[2 * 5] = {1, 2, 3, 4, 5, -1, -1, -1, -1, 3};
    float w[5] = {1, 1, 1, 1, 2}, b[5] = {0, 0, 0, 0, 1};
    float y[10];
    ops_layernorm(x, y, 2, 5, w, b, 1e-5f);
    /* row 0: mean 3, var 2 */
    double inv = 1 / sqrt(2 + 1e-5);
    ck_assert_float_eq_tol(y[0], -2 * inv, 1e-6);
    ck_assert_float_eq_tol(y[4], 2 * inv * 2 + 1, 1e-6);
    /* row 1: mean -0.2, var 2.56 */
    double inv1 = 1 / sqrt(2.56 + 1e-5);
    ck_assert_float_eq_tol(y[5], -0.8 * inv1, 1e-6);
}
END_TEST

START_TEST(softmax_sums_to_one_and_survives_all_minus_inf) {
    float x[4] = {1000, 1001, 999, -INFINITY};
    ops_softmax(x, 4);
    ck_assert_float_eq_tol(x[0] + x[1] + x[2] + x[3], 1.0f, 1e-6);
    ck_assert_float_eq(x[3], 0);
    float y[2] = {-INFINITY, -INFINITY};
    ops_softmax(y, 2);
    ck_assert_float_eq(y[0], 0);
}
END_TEST

/* Attention of the last query must equal a hand computation; earlier queries must not
 * see later keys (causal). */
START_TEST(attention_is_causal_and_exact) {
    enum { N = 3, D = 2 };
    float q[N * D] = {1, 0, 0, 1, 1, 1};
    float k[N * D] = {1, 0, 0, 1, 1, 1};
    float v[N * D] = {1, 2, 3, 4, 5, 6};
    float out[N * D], scores[N];
    tf_attn_shape s = {.n_head = 1, .n_kv_head = 1, .d_head = D, .scale = 1.0f, .ldq = D,
                       .ldkv = D, .ldo = D};
    attn_causal(&s, q, N, k, v, 0, 0, 1, out, scores);
    /* query 0 sees only key 0 */
    ck_assert_float_eq_tol(out[0], 1, 1e-6);
    ck_assert_float_eq_tol(out[1], 2, 1e-6);
    /* query 2: scores (1, 1, 2) */
    double e1 = exp(1), e2 = exp(2), z = 2 * e1 + e2;
    ck_assert_float_eq_tol(out[4], (1 * e1 + 3 * e1 + 5 * e2) / z, 1e-5);
    ck_assert_float_eq_tol(out[5], (2 * e1 + 4 * e1 + 6 * e2) / z, 1e-5);
    /* the same last query fed alone with n_past = 2 gives the same result */
    float out2[D];
    attn_causal(&s, q + 2 * D, 1, k, v, 2, 0, 1, out2, scores);
    ck_assert_float_eq_tol(out2[0], out[4], 1e-6);
    ck_assert_float_eq_tol(out2[1], out[5], 1e-6);
}
END_TEST

START_TEST(grouped_query_heads_share_kv) {
    /* 2 query heads, 1 kv head of width 1 */
    float q[2] = {1, -1}, k[2] = {1, 2}, v[2] = {10, 20};
    float out[2], scores[2];
    tf_attn_shape s = {.n_head = 2, .n_kv_head = 1, .d_head = 1, .scale = 1.0f, .ldq = 2,
                       .ldkv = 1, .ldo = 2};
    attn_causal(&s, q, 1, k, v, 1, 0, 2, out, scores);
    double p1 = exp(2) / (exp(1) + exp(2));
    ck_assert_float_eq_tol(out[0], 10 * (1 - p1) + 20 * p1, 1e-4);
    double p2 = exp(-2) / (exp(-1) + exp(-2));
    ck_assert_float_eq_tol(out[1], 10 * (1 - p2) + 20 * p2, 1e-4);
}
END_TEST

START_TEST(attention_stats_on_hand_built_rows) {
    tf_attn_stats st = {0};
    const float uniform[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    attn_stats_add_row(&st, uniform, 4, 2);
    ck_assert_double_eq_tol(st.entropy_sum, 1.0, 1e-6); /* maximal: normalized to 1 */
    ck_assert_double_eq_tol(st.max_sum, 0.25, 1e-7);
    ck_assert_double_eq_tol(st.sink_sum, 0.25, 1e-7);
    ck_assert_double_eq_tol(st.prompt_sum, 0.5, 1e-7);
    tf_attn_stats one = {0};
    const float onehot_sink[4] = {1, 0, 0, 0};
    attn_stats_add_row(&one, onehot_sink, 4, 1);
    ck_assert_double_eq_tol(one.entropy_sum, 0.0, 1e-7); /* collapsed */
    ck_assert_double_eq_tol(one.max_sum, 1.0, 1e-7);
    ck_assert_double_eq_tol(one.sink_sum, 1.0, 1e-7);
    /* a single key has no entropy to normalize: counted in n_rows only */
    tf_attn_stats single = {0};
    attn_stats_add_row(&single, onehot_sink, 1, 0);
    ck_assert_int_eq(single.n_rows, 1);
    ck_assert_int_eq(single.n_entropy_rows, 0);
    ck_assert_double_eq_tol(single.prompt_sum, 0.0, 1e-7);
    /* two-way split: H = log 2, normalized by log 3 */
    tf_attn_stats half = {0};
    const float two[3] = {0, 0.5f, 0.5f};
    attn_stats_add_row(&half, two, 3, 3);
    ck_assert_double_eq_tol(half.entropy_sum, log(2.0) / log(3.0), 1e-6);
    ck_assert_double_eq_tol(half.prompt_sum, 1.0, 1e-7);
}
END_TEST

/* Coverage sums each source position's weights over the steps; a step whose largest weight
 * sits where the previous step's did counts as a repeat (the first step cannot). */
START_TEST(cross_attention_coverage_and_repeated_focus) {
    float cov[4] = {0};
    tf_attn_cross c = {.coverage = cov, .n_src = 4, .last_focus = -1};
    const float a[4] = {0.7f, 0.1f, 0.1f, 0.1f}, b[4] = {0.6f, 0.2f, 0.1f, 0.1f}, d[4] = {0, 0, 1, 0};
    attn_cross_add_row(&c, a, 4);
    attn_cross_add_row(&c, b, 4); /* same focus (0): repeat */
    attn_cross_add_row(&c, d, 4); /* focus moves to 2 */
    attn_cross_add_row(&c, d, 4); /* repeat */
    ck_assert_int_eq(c.n_steps, 4);
    ck_assert_int_eq(c.n_repeat, 2);
    ck_assert_int_eq(c.last_focus, 2);
    ck_assert_float_eq_tol(cov[0], 1.3f, 1e-6);
    ck_assert_float_eq_tol(cov[1], 0.3f, 1e-6);
    ck_assert_float_eq_tol(cov[2], 2.2f, 1e-6);
    ck_assert_float_eq_tol(cov[3], 0.2f, 1e-6);
}
END_TEST

/* The kernels hand every finished softmax row to the monitoring hooks: captured rows equal
 * the weights the output was made from, at the query's absolute position. */
START_TEST(attention_kernels_capture_rows_at_their_positions) {
    enum { N = 3, D = 2 };
    float q[N * D] = {1, 0, 0, 1, 1, 1};
    float k[N * D] = {1, 0, 0, 1, 1, 1};
    float v[N * D] = {1, 0, 0, 1, 0, 0};
    float out[N * D], scores[N];
    float store[N * N];
    for (int i = 0; i < N * N; i++) store[i] = -1;
    float *cap[1] = {store};
    float cov[N] = {0};
    tf_attn_cross cross = {.coverage = cov, .n_src = N, .last_focus = -1};
    tf_attn_shape s = {.n_head = 1, .n_kv_head = 1, .d_head = D, .scale = 1.0f, .ldq = D, .ldkv = D,
                       .ldo = D, .capture = cap, .capture_ld = N};
    attn_causal(&s, q, N, k, v, 0, 0, 1, out, scores);
    ck_assert_float_eq_tol(store[0], 1.0f, 1e-6); /* row 0: one key */
    ck_assert_float_eq(store[1], -1.0f);   /* beyond the row: untouched */
    for (int i = 0; i < N; i++) { /* v picks out p[0] and p[1] */
        ck_assert_float_eq_tol(store[i * N + 0], out[i * D + 0], 1e-6);
        if (i > 0) ck_assert_float_eq_tol(store[i * N + 1], out[i * D + 1], 1e-6);
    }
    /* attn_biased, non-causal (cross-attention): rows land at q_pos0 + i, coverage sums */
    for (int i = 0; i < N * N; i++) store[i] = -1;
    s.cross = &cross;
    attn_biased(&s, q + 2 * D, 1, 2, k, v, N, 0, NULL, 0, 0, 1, out, scores);
    double e1 = exp(1), e2 = exp(2), z = 2 * e1 + e2;
    ck_assert_float_eq_tol(store[2 * N + 2], e2 / z, 1e-6);
    ck_assert_float_eq(store[0], -1.0f);
    ck_assert_float_eq_tol(cov[2], e2 / z, 1e-6);
    ck_assert_int_eq(cross.n_steps, 1);
    /* attn_full: query i at row i */
    s.cross = NULL;
    attn_full(&s, q, 1, k, v, N, 0, 1, out, scores);
    ck_assert_float_eq_tol(store[0], e1 / (2 * e1 + 1), 1e-6);
}
END_TEST

START_TEST(fast_log_is_accurate) {
    for (float x = 1e-30f; x < 1e30f; x *= 1.37f)
        ck_assert_msg(fabs(fm_logf(x) - log((double)x)) < 2e-6 * (1 + fabs(log((double)x))), "log(%g)", x);
}
END_TEST

/* Every ISA's attention rows against the reference: float sums in a different order,
 * so a relative tolerance of 1e-5 (about 100 ulp at these lengths). */
START_TEST(attention_rows_match_reference) {
    const tf_attn_rows *variants[] = {&attn_rows_avx2, &attn_rows_avx512};
    const tf_isa needs[] = {TF_ISA_AVX2, TF_ISA_VNNI};
    enum { LD = 203, NK = 37 };
    static float q[LD], k[NK * LD], p[NK];
    unsigned x = 12345;
    for (int i = 0; i < NK * LD; i++) {
        x = x * 1103515245u + 12345u;
        k[i] = (float)((x >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
    for (int i = 0; i < LD; i++) q[i] = k[(i * 7) % (NK * LD)];
    for (int j = 0; j < NK; j++) p[j] = (float)(j + 1) / (NK * (NK + 1) / 2);
    const int widths[] = {1, 7, 16, 17, 64, 80, 128, 200};
    for (size_t v = 0; v < 2; v++) {
        if (!cpu_isa_supported(needs[v])) continue;
        for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
            const int d = widths[w];
            for (int nk = 1; nk <= NK; nk += 9) {
                float want[NK], got[NK];
                attn_rows_ref.scores(q, k, LD, nk, d, 0.125f, want);
                variants[v]->scores(q, k, LD, nk, d, 0.125f, got);
                for (int j = 0; j < nk; j++)
                    ck_assert_msg(fabsf(got[j] - want[j]) <= 1e-5f * (1 + fabsf(want[j])),
                                  "scores v%zu d%d n%d j%d", v, d, nk, j);
                float ow[LD] = {0}, og[LD] = {0};
                attn_rows_ref.weighted_sum(p, k, LD, nk, d, ow);
                variants[v]->weighted_sum(p, k, LD, nk, d, og);
                for (int i = 0; i < d; i++)
                    ck_assert_msg(fabsf(og[i] - ow[i]) <= 1e-5f * (1 + fabsf(ow[i])),
                                  "sum v%zu d%d n%d i%d", v, d, nk, i);
                ck_assert_float_eq(og[d], 0); /* nothing written past d */
            }
        }
    }
}
END_TEST

/* The AVX-512 GELU against the reference loop: same polynomial, FMA rounding differs, so
 * 1e-6 relative (plus 1e-7 absolute near zero); tails of every length. */
START_TEST(gelu_avx512_matches_reference) {
    if (!cpu_isa_supported(TF_ISA_VNNI)) return;
    enum { N = 1000 };
    static float a[N], b[N];
    for (int len = 1; len <= 40; len++) {
        for (int i = 0; i < N; i++) a[i] = b[i] = -12.0f + 24.0f * (float)i / N + 0.001f * len;
        act_gelu_tanh_ref(a, (size_t)len * 25);
        act_gelu_tanh_avx512(b, (size_t)len * 25);
        for (int i = 0; i < len * 25; i++)
            ck_assert_msg(fabsf(a[i] - b[i]) <= 1e-6f * fabsf(a[i]) + 1e-7f, "len %d i %d: %g vs %g",
                          len, i, a[i], b[i]);
        for (int i = len * 25; i < N; i++) ck_assert_float_eq(b[i], a[i]); /* untouched */
    }
}
END_TEST

/* Every erf-GELU variant against 0.5·x·(1 + erf(x/√2)) in double, over [-12, 12] densely
 * and tails of every length. The approximation (core/act.h) is within 1.5e-7 absolute on
 * erfc, which GELU scales by 0.5·|x|; float rounding adds a few ulp. Measured worst case
 * 2.14e-7·(1 + |gelu|) (near x = -3; the libm erff loop it replaced: 8.3e-8), bound 3e-7. */
START_TEST(gelu_erf_variants_match_erf) {
    void (*variants[])(float *, size_t) = {act_gelu_erf_ref, act_gelu_erf_avx2,
                                           act_gelu_erf_avx512, ops_gelu_erf};
    const int supported[] = {1, cpu_isa_supported(TF_ISA_AVX2), cpu_isa_supported(TF_ISA_VNNI), 1};
    enum { N = 1 << 16 };
    static float x[N], y[N];
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        if (!supported[v]) continue;
        double worst = 0;
        for (int pass = 0; pass < 37; pass++) {
            const int len = N - pass; /* tails of every length in the 16- and 8-lane loops */
            for (int i = 0; i < N; i++)
                x[i] = y[i] = -12.0f + 24.0f * ((float)i + pass / 37.0f) / N;
            variants[v](y, (size_t)len);
            for (int i = 0; i < len; i++) {
                const double d = x[i], want = 0.5 * d * (1 + erf(d * M_SQRT1_2));
                worst = fmax(worst, fabs(y[i] - want) / (1 + fabs(want)));
            }
            for (int i = len; i < N; i++) ck_assert_float_eq(y[i], x[i]); /* untouched */
        }
        ck_assert_msg(worst <= 3e-7, "variant %zu: worst error %g", v, worst);
        /* exact at 0 and in both saturated limits */
        float z[3] = {0.0f, -30.0f, 30.0f};
        variants[v](z, 3);
        ck_assert_float_eq(z[0], 0.0f);
        ck_assert_float_eq(z[1], 0.0f);
        ck_assert_float_eq(z[2], 30.0f);
    }
}
END_TEST

Suite *ops_suite(void) {
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, fast_exp_is_accurate);
    tcase_add_test(tc, gelu_tanh_matches_definition);
    tcase_add_test(tc, layernorm_normalizes);
    tcase_add_test(tc, softmax_sums_to_one_and_survives_all_minus_inf);
    tcase_add_test(tc, attention_is_causal_and_exact);
    tcase_add_test(tc, grouped_query_heads_share_kv);
    tcase_add_test(tc, attention_stats_on_hand_built_rows);
    tcase_add_test(tc, cross_attention_coverage_and_repeated_focus);
    tcase_add_test(tc, attention_kernels_capture_rows_at_their_positions);
    tcase_add_test(tc, fast_log_is_accurate);
    tcase_add_test(tc, attention_rows_match_reference);
    tcase_add_test(tc, gelu_avx512_matches_reference);
    tcase_add_test(tc, gelu_erf_variants_match_erf);
    suite_add_tcase(s, tc);
    return s;
}
