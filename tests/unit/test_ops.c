#include <check.h>
#include <math.h>

#include "core/act.h"
#include "core/attention.h"
#include "core/attn_rows.h"
#include "core/cpu.h"
#include "core/fastmath.h"
#include "core/ops.h"
#include "core/reduce.h"

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

/* A reproducible row of logit-like values in [-20, 12), with a planted repeated maximum. */
static void logit_row(float *x, int n, unsigned seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = -20.0f + 32.0f * (float)(seed >> 8) / (float)(1u << 24);
    }
    if (n > 7) x[n / 3] = x[n - 2] = 12.5f;
}

/* max/index: exact against the scan (the first of equal maxima); every tail length, and
 * rows of -inf (banned tokens) keep index 0. */
START_TEST(max_index_matches_reference) {
    enum { N = 50257 };
    static float x[N];
    const int lens[] = {1, 2, 15, 16, 17, 63, 64, 65, 100, 1000, N};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const int n = lens[li];
        logit_row(x, n, (unsigned)n);
        int want_at, at;
        float want = reduce_max_index_ref(x, n, &want_at);
        if (n > 7) ck_assert_int_eq(want_at, n / 3);
        float got = ops_max_index(x, n, &at);
        ck_assert_int_eq(at, want_at);
        ck_assert_float_eq(got, want);
        if (cpu_isa_supported(TF_ISA_VNNI)) {
            got = reduce_max_index_avx512(x, n, &at);
            ck_assert_int_eq(at, want_at);
            ck_assert_float_eq(got, want);
        }
        ck_assert_int_eq(ops_argmax(x, n), want_at);
    }
    for (int i = 0; i < 40; i++) x[i] = -INFINITY;
    int at = -1;
    ck_assert(ops_max_index(x, 40, &at) == -INFINITY);
    ck_assert_int_eq(at, 0);
}
END_TEST

/* exp sums: each term within 1e-6 relative of exp() in double (fm_expf is good to 2e-7,
 * the FMA form rounds differently); the sum of up to 50k terms within 1e-5 relative (float
 * partial sums of a few thousand terms each); -inf terms are exactly 0. */
START_TEST(exp_sum_matches_reference) {
    enum { N = 50257 };
    static float x[N], out_ref[N], out_fast[N];
    const int lens[] = {1, 7, 16, 31, 32, 33, 1000, N};
    const float scales[] = {1.0f, 1.25f, 1.0f / 0.8f, 0.1f};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++) {
            const int n = lens[li];
            logit_row(x, n, (unsigned)(n + 7));
            if (n > 1) x[0] = -INFINITY;
            int at;
            const float mx = reduce_max_index_ref(x, n, &at);
            const float k = scales[si];
            double want = 0;
            for (int i = 0; i < n; i++) want += exp(((double)x[i] - mx) * k);
            const float s_ref = reduce_exp_sum_ref(x, n, mx, k, out_ref);
            ck_assert_msg(fabs(s_ref / want - 1) < 1e-5, "n %d: %g vs %g", n, s_ref, want);
            if (n > 1) ck_assert_float_eq(out_ref[0], 0);
            ck_assert_float_eq(reduce_exp_sum_ref(x, n, mx, k, NULL), s_ref);
            if (!cpu_isa_supported(TF_ISA_VNNI)) continue;
            out_fast[n - 1] = -1;
            const float s_fast = reduce_exp_sum_avx512(x, n, mx, k, out_fast);
            ck_assert_msg(fabs(s_fast / want - 1) < 1e-5, "n %d: %g vs %g", n, s_fast, want);
            ck_assert_float_eq(reduce_exp_sum_avx512(x, n, mx, k, NULL), s_fast);
            for (int i = 0; i < n; i++)
                ck_assert_msg(fabsf(out_fast[i] - out_ref[i]) <= 1e-6f * out_ref[i], "n %d i %d", n,
                              i);
        }
    float row[3] = {1, 2, 3};
    ck_assert_float_eq_tol(ops_logsumexp(row, 3), log(exp(1) + exp(2) + exp(3)), 1e-6);
}
END_TEST

/* The blocked cumulative pick against a running double sum: targets in the middle of an
 * element's share pick it exactly; zero weights are never picked; a target at or past the
 * total takes the last positive weight. */
START_TEST(pick_cumulative_matches_running_sum) {
    enum { N = 3000 };
    static float w[N];
    for (int i = 0; i < N; i++) w[i] = (i % 5 == 0) ? 0.0f : (float)((i * 37) % 101) / 101.0f;
    for (int n = 1; n <= N; n = n * 3 + 1) {
        double run = 0;
        for (int i = 0; i < n; i++) {
            if (w[i] > 0) ck_assert_int_eq(ops_pick_cumulative(w, n, run + 0.5 * w[i]), i);
            run += w[i];
        }
        int last = n - 1;
        while (last > 0 && w[last] == 0) last--;
        ck_assert_int_eq(ops_pick_cumulative(w, n, run), last);
        ck_assert_int_eq(ops_pick_cumulative(w, n, run * 2), last);
    }
    ck_assert_int_eq(ops_pick_cumulative(w, 1, 0.0), 0); /* only a zero weight */
}
END_TEST

/* Softmax: the AVX-512 row within 1e-6 relative of the reference row per weight (the exp
 * terms differ by FMA rounding, the sums by order); every tail length, rows with -inf
 * (masked keys) and a row of nothing but -inf (all zero in both). */
START_TEST(softmax_avx512_matches_reference) {
    if (!cpu_isa_supported(TF_ISA_VNNI)) return;
    enum { N = 400 };
    static float a[N + 1], b[N + 1];
    for (int n = 1; n <= N; n += (n < 40 ? 1 : 37)) {
        logit_row(a, n, (unsigned)n * 3u);
        if (n > 3) a[n / 2] = -INFINITY;
        a[n] = b[n] = 42.0f;
        for (int i = 0; i < n; i++) b[i] = a[i];
        reduce_softmax_ref(a, n);
        reduce_softmax_avx512(b, n);
        for (int i = 0; i < n; i++)
            ck_assert_msg(fabsf(a[i] - b[i]) <= 1e-6f * a[i] + 1e-12f, "n %d i %d: %g vs %g", n,
                          i, a[i], b[i]);
        ck_assert_float_eq(b[n], 42.0f); /* nothing written past n */
        if (n > 3) ck_assert_float_eq(b[n / 2], 0);
    }
    for (int i = 0; i < 20; i++) b[i] = -INFINITY;
    reduce_softmax_avx512(b, 20);
    for (int i = 0; i < 20; i++) ck_assert_float_eq(b[i], 0);
}
END_TEST

/* The AVX-512 row statistics against the reference loop: entropy within 1e-5 relative plus
 * 1e-6 (fm_logf's polynomial with FMA, summed in another order), max exact, prompt mass
 * within 1e-6; softmax rows of every length to 70 (tails), with zero weights and weights
 * below 1e-30 (skipped by both), n_prompt below, inside and past the row. */
START_TEST(attention_row_stats_avx512_match_reference) {
    if (!attn_rows_avx512.row_stats || !cpu_isa_supported(TF_ISA_VNNI)) return;
    enum { N = 70 };
    float p[N];
    for (int n = 1; n <= N; n++) {
        logit_row(p, n, (unsigned)n * 11u);
        if (n > 5) p[3] = -200.0f; /* exp underflows to 0 */
        if (n > 9) p[7] = -75.0f;  /* ~1e-33 after normalization: below 1e-30 */
        reduce_softmax_ref(p, n);
        const int prompts[] = {0, 1, n / 2, n, n + 5};
        for (size_t k = 0; k < sizeof prompts / sizeof prompts[0]; k++) {
            float want[3], got[3];
            attn_row_stats_ref(p, n, prompts[k], want);
            attn_rows_avx512.row_stats(p, n, prompts[k], got);
            ck_assert_msg(fabsf(got[0] - want[0]) <= 1e-5f * want[0] + 1e-6f, "n %d: H %g vs %g", n,
                          got[0], want[0]);
            ck_assert_float_eq(got[1], want[1]);
            ck_assert_msg(fabsf(got[2] - want[2]) <= 1e-6f, "n %d prompt %d", n, prompts[k]);
        }
    }
}
END_TEST

/* The AVX-512 layer norm against the reference: the same double sums in another order,
 * then the same float arithmetic per element, so outputs agree to rounding of the mean and
 * inverse deviation (1e-6 relative plus 1e-6 absolute; in practice bit-identical); row
 * widths around the 16-lane tails, several rows, with and without bias, and in place. */
START_TEST(layernorm_avx512_matches_reference) {
    if (!cpu_isa_supported(TF_ISA_VNNI)) return;
    enum { MAXN = 800, ROWS = 3 };
    static float x[ROWS * MAXN], w[MAXN], b[MAXN], want[ROWS * MAXN], got[ROWS * MAXN];
    const int widths[] = {1, 5, 16, 17, 100, 768, 800};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        const int n = widths[wi];
        logit_row(x, ROWS * n, (unsigned)n);
        logit_row(w, n, 3u);
        logit_row(b, n, 4u);
        for (int i = 0; i < n; i++) w[i] *= 0.1f;
        for (int with_b = 0; with_b <= 1; with_b++) {
            const float *bb = with_b ? b : NULL;
            reduce_layernorm_ref(x, want, ROWS, n, w, bb, 1e-5f);
            reduce_layernorm_avx512(x, got, ROWS, n, w, bb, 1e-5f);
            for (int i = 0; i < ROWS * n; i++)
                ck_assert_msg(fabsf(got[i] - want[i]) <= 1e-6f * fabsf(want[i]) + 1e-6f,
                              "n %d b %d i %d: %g vs %g", n, with_b, i, got[i], want[i]);
            for (int i = 0; i < ROWS * n; i++) got[i] = x[i];
            reduce_layernorm_avx512(got, got, ROWS, n, w, bb, 1e-5f);
            for (int i = 0; i < ROWS * n; i++)
                ck_assert_msg(fabsf(got[i] - want[i]) <= 1e-6f * fabsf(want[i]) + 1e-6f,
                              "in place n %d i %d", n, i);
        }
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
    tcase_add_test(tc, max_index_matches_reference);
    tcase_add_test(tc, exp_sum_matches_reference);
    tcase_add_test(tc, pick_cumulative_matches_running_sum);
    tcase_add_test(tc, softmax_avx512_matches_reference);
    tcase_add_test(tc, attention_row_stats_avx512_match_reference);
    tcase_add_test(tc, layernorm_avx512_matches_reference);
    tcase_add_test(tc, gelu_erf_variants_match_erf);
    suite_add_tcase(s, tc);
    return s;
}
