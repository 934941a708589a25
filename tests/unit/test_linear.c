/* Tests of core/linear.c, core/quant.c and the int8 kernels (core/gemm*.c).
 * The reference kernel is checked against a naive double loop; every SIMD
 * kernel this CPU runs is checked against the reference bit for bit. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm.h"
#include "core/linear.h"
#include "core/ops.h"
#include "core/quant.h"

static unsigned rng_state;

static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 8388608.0f - 1.0f;
}

static float *rand_vec(size_t n, float amp) {
    float *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) v[i] = amp * frand();
    return v;
}

typedef struct shape {
    int m, n_in, n_out;
} shape;

/* Odd sizes on purpose: n_in not a multiple of 4/16/64, n_out not a multiple of
 * 16 or of the kernels' 32/48-row blocks, m around the 4- and 8-row tiles. */
static const shape shapes[] = {
    {1, 1, 1},    {1, 5, 3},     {3, 77, 33},   {17, 130, 50},  {1, 768, 100},
    {8, 64, 48},  {9, 100, 97},  {16, 33, 145}, {2, 3072, 40},  {4, 19, 16},
    {1, 257, 49}, {12, 16, 200}, {25, 45, 7},   {128, 96, 96},
};

// --- reference kernel vs naive loop -------------------------------------------------------

/* Quantizes one activation row exactly as core/gemm.h specifies, independently. */
static float naive_quant(const float *x, int n, int *q) {
    float amax = 0;
    for (int k = 0; k < n; k++) amax = fmaxf(amax, fabsf(x[k]));
    float inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (int k = 0; k < n; k++) q[k] = (int)nearbyintf(x[k] * inv);
    return amax / 127.0f;
}

START_TEST(ref_matches_naive_dequantized_loop) {
    rng_state = 1;
    const tf_gemm_kernels *ref = gemm_kernels_for(TF_ISA_REF);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        shape sh = shapes[s];
        float *w = rand_vec((size_t)sh.n_out * sh.n_in, 0.5f), *b = rand_vec(sh.n_out, 1.0f);
        float *x = rand_vec((size_t)sh.m * sh.n_in, 3.0f), *y = malloc(sizeof(float) * sh.m * sh.n_out);
        int *qx = malloc(sizeof(int) * sh.n_in);
        tf_qmat q;
        tf_gemm_ws ws;
        gemm_ws_init(&ws);
        ck_assert_int_eq(qmat_init(&q, w, sh.n_out, sh.n_in, 0, NULL), 0);
        gemm_q8_forward(ref, &q, b, NULL, &ws, x, sh.m, y, NULL);
        for (int i = 0; i < sh.m; i++) {
            float xs = naive_quant(x + (size_t)i * sh.n_in, sh.n_in, qx);
            for (int o = 0; o < sh.n_out; o++) {
                double dot = 0, mag = 0;
                for (int k = 0; k < sh.n_in; k++) {
                    double t = (double)xs * qx[k] * (double)q.scale[o] * qmat_get(&q, o, k);
                    dot += t;
                    mag += fabs(t);
                }
                /* The integer sum is exact; what remains is float rounding of
                 * (float)acc, xs·ws, their product and the bias add: 4 roundings
                 * of 2^-24 each, relative to the magnitudes involved. */
                double tol = 4 * 6e-8 * (mag + fabs(b[o])) + 1e-30;
                ck_assert_double_eq_tol(y[(size_t)i * sh.n_out + o], dot + b[o], tol);
            }
        }
        qmat_close(&q);
        gemm_ws_close(&ws);
        free(w), free(b), free(x), free(y), free(qx);
    }
}
END_TEST

// --- every ISA vs reference, bit-exact ----------------------------------------------------

static void compare_isa(const tf_gemm_kernels *k, tf_pool *pool, int with_bias) {
    const tf_gemm_kernels *ref = gemm_kernels_for(TF_ISA_REF);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        shape sh = shapes[s];
        size_t ny = (size_t)sh.m * sh.n_out;
        float *w = rand_vec((size_t)sh.n_out * sh.n_in, 0.3f), *b = rand_vec(sh.n_out, 1.0f);
        float *x = rand_vec((size_t)sh.m * sh.n_in, 2.0f);
        if (sh.m > 2) memset(x + sh.n_in, 0, sizeof(float) * sh.n_in); /* an all-zero row */
        float *y_ref = calloc(ny, sizeof(float)), *y = calloc(ny, sizeof(float));
        int32_t *a_ref = calloc(ny, sizeof(int32_t)), *a = calloc(ny, sizeof(int32_t));
        tf_qmat q;
        tf_gemm_ws ws_ref, ws;
        gemm_ws_init(&ws_ref);
        gemm_ws_init(&ws);
        ck_assert_int_eq(qmat_init(&q, w, sh.n_out, sh.n_in, 0, NULL), 0);
        const float *bias = with_bias ? b : NULL;
        gemm_q8_forward(ref, &q, bias, NULL, &ws_ref, x, sh.m, y_ref, NULL);
        gemm_q8_forward(k, &q, bias, pool, &ws, x, sh.m, y, NULL);
        /* Same quantized activations, byte for byte. */
        ck_assert_mem_eq(ws.xq, ws_ref.xq, (size_t)sh.m * q.k_pad);
        ck_assert_mem_eq(ws.x_scale, ws_ref.x_scale, sizeof(float) * sh.m);
        gemm_q8_forward(ref, &q, bias, NULL, &ws_ref, x, sh.m, NULL, a_ref);
        gemm_q8_forward(k, &q, bias, pool, &ws, x, sh.m, NULL, a);
        for (size_t i = 0; i < ny; i++) {
            if (a[i] != a_ref[i])
                ck_abort_msg("%s acc differs: shape %zu, index %zu: %d vs %d",
                             cpu_isa_name(k->isa), s, i, a[i], a_ref[i]);
            /* Same integers and the same epilogue order give the same float. */
            if (memcmp(&y[i], &y_ref[i], sizeof(float)) != 0)
                ck_abort_msg("%s y differs: shape %zu, index %zu: %.9g vs %.9g",
                             cpu_isa_name(k->isa), s, i, y[i], y_ref[i]);
        }
        qmat_close(&q);
        gemm_ws_close(&ws_ref);
        gemm_ws_close(&ws);
        free(w), free(b), free(x), free(y_ref), free(y), free(a_ref), free(a);
    }
}

START_TEST(isa_kernels_bit_exact_vs_ref) {
    int n_threads = _i + 1; /* loop test: 1 and 2 threads */
    tf_err err = {0};
    tf_pool *pool;
    ck_assert_int_eq(pool_new(n_threads, &pool, &err), 0);
    int n_tested = 0;
    for (int isa = TF_ISA_REF; isa < TF_ISA_COUNT; isa++) {
        const tf_gemm_kernels *k = gemm_kernels_for((tf_isa)isa);
        if (!k) {
            printf("linear: %s kernels not supported by this CPU, not tested\n",
                   cpu_isa_name((tf_isa)isa));
            continue;
        }
        rng_state = 7;
        compare_isa(k, pool, 1);
        compare_isa(k, pool, 0);
        n_tested++;
    }
    ck_assert_int_ge(n_tested, 1);
    pool_free(pool);
}
END_TEST

START_TEST(quantize_rounding_and_clamp_agree) {
    /* Values that land exactly on .5 after scaling (ties go to even) and the
     * extremes; amax = 127 makes the scale factor exactly 1. */
    float x[40];
    for (int k = 0; k < 40; k++) x[k] = (float)(k - 20) + 0.5f;
    x[0] = -127.0f;
    x[39] = 127.0f;
    uint8_t q_ref[48], q[48];
    float s_ref, s;
    gemm_kernels_for(TF_ISA_REF)->quant_rows(x, 1, 40, 48, q_ref, &s_ref);
    ck_assert_int_eq(q_ref[1] - 128, -18); /* -18.5 -> -18 (even) */
    ck_assert_int_eq(q_ref[2] - 128, -18); /* -17.5 -> -18 (even) */
    ck_assert_int_eq(q_ref[0] - 128, -127);
    ck_assert_int_eq(q_ref[47], 128);      /* padding is q = 0 */
    for (int isa = TF_ISA_AVX2; isa < TF_ISA_COUNT; isa++) {
        const tf_gemm_kernels *k = gemm_kernels_for((tf_isa)isa);
        if (!k) continue;
        k->quant_rows(x, 1, 40, 48, q, &s);
        ck_assert_mem_eq(q, q_ref, sizeof q);
        ck_assert(s == s_ref);
    }
}
END_TEST

// --- tf_linear ----------------------------------------------------------------------------

START_TEST(f32_matches_naive) {
    rng_state = 3;
    int n_threads = _i + 1;
    tf_pool *pool;
    ck_assert_int_eq(pool_new(n_threads, &pool, NULL), 0);
    tf_gemm_ws ws;
    gemm_ws_init(&ws);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        shape sh = shapes[s];
        float *w = rand_vec((size_t)sh.n_out * sh.n_in, 1.0f), *b = rand_vec(sh.n_out, 1.0f);
        float *x = rand_vec((size_t)sh.m * sh.n_in, 1.0f), *y = malloc(sizeof(float) * sh.m * sh.n_out);
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            tf_linear l;
            ck_assert_int_eq(linear_init(&l, TF_WTYPE_F32, w, with_bias ? b : NULL, sh.n_out,
                                         sh.n_in, 0, NULL), 0);
            linear_forward(&l, pool, &ws, x, sh.m, y);
            for (int i = 0; i < sh.m; i++)
                for (int o = 0; o < sh.n_out; o++) {
                    double d = with_bias ? b[o] : 0, mag = fabs(d);
                    for (int k = 0; k < sh.n_in; k++) {
                        d += (double)x[(size_t)i * sh.n_in + k] * w[(size_t)o * sh.n_in + k];
                        mag += fabs((double)x[(size_t)i * sh.n_in + k] * w[(size_t)o * sh.n_in + k]);
                    }
                    /* fp32 accumulation in any order: error ≤ n·2^-24·Σ|terms|;
                     * blocked sums keep it far below that, 1e-5 relative suffices. */
                    ck_assert_double_eq_tol(y[(size_t)i * sh.n_out + o], d, 1e-5 * mag + 1e-6);
                }
            linear_close(&l);
        }
        free(w), free(b), free(x), free(y);
    }
    gemm_ws_close(&ws);
    pool_free(pool);
}
END_TEST

START_TEST(q8_error_bounded_by_quantization_step) {
    rng_state = 11;
    const int m = 5, n_in = 300, n_out = 70;
    float *w = rand_vec((size_t)n_out * n_in, 0.2f), *b = rand_vec(n_out, 1.0f);
    float *x = rand_vec((size_t)m * n_in, 4.0f);
    float *yq = malloc(sizeof(float) * m * n_out), *yf = malloc(sizeof(float) * m * n_out);
    tf_linear lq, lf;
    tf_gemm_ws ws;
    gemm_ws_init(&ws);
    ck_assert_int_eq(linear_init(&lq, TF_WTYPE_Q8, w, b, n_out, n_in, 0, NULL), 0);
    ck_assert_int_eq(linear_init(&lf, TF_WTYPE_F32, w, b, n_out, n_in, 0, NULL), 0);
    linear_forward(&lq, NULL, &ws, x, m, yq);
    linear_forward(&lf, NULL, &ws, x, m, yf);
    double err2 = 0, ref2 = 0;
    for (int i = 0; i < m; i++) {
        const float *xi = x + (size_t)i * n_in;
        double xmax = 0, x1 = 0;
        for (int k = 0; k < n_in; k++) xmax = fmax(xmax, fabs(xi[k])), x1 += fabs(xi[k]);
        for (int o = 0; o < n_out; o++) {
            const float *wo = w + (size_t)o * n_in;
            double wmax = 0, w1 = 0;
            for (int k = 0; k < n_in; k++) wmax = fmax(wmax, fabs(wo[k])), w1 += fabs(wo[k]);
            /* Rounding moves each x by at most half a step (xmax/254) and each w
             * by at most wmax/254, so |Δy| ≤ Σ|Δx||w| + Σ|x||Δw| + Σ|Δx||Δw|;
             * 1.01 and 1e-5 cover the fp32 arithmetic on top. */
            double bound = (xmax / 254) * w1 + (wmax / 254) * x1 +
                           n_in * (xmax / 254) * (wmax / 254);
            double e = fabs((double)yq[(size_t)i * n_out + o] - yf[(size_t)i * n_out + o]);
            ck_assert_double_le(e, 1.01 * bound + 1e-5);
            err2 += e * e;
            ref2 += (double)yf[(size_t)i * n_out + o] * yf[(size_t)i * n_out + o];
        }
    }
    /* Typical error is far below the worst case: with uniform data the
     * relative RMS error of 8-bit per-row quantization is ~1%; 3% flags a
     * systematic bug (wrong scale, lost offset) while random rounding passes. */
    ck_assert_double_lt(sqrt(err2 / ref2), 0.03);
    linear_close(&lq);
    linear_close(&lf);
    gemm_ws_close(&ws);
    free(w), free(b), free(x), free(yq), free(yf);
}
END_TEST

START_TEST(in_out_layout_is_transposed) {
    rng_state = 5;
    const int n_in = 37, n_out = 29, m = 3;
    float *w = rand_vec((size_t)n_out * n_in, 1.0f), *wt = malloc(sizeof(float) * n_out * n_in);
    for (int o = 0; o < n_out; o++)
        for (int k = 0; k < n_in; k++) wt[(size_t)k * n_out + o] = w[(size_t)o * n_in + k];
    float *x = rand_vec((size_t)m * n_in, 1.0f);
    float y1[3 * 29], y2[3 * 29], row[37];
    tf_gemm_ws ws;
    gemm_ws_init(&ws);
    for (int type = TF_WTYPE_F32; type <= TF_WTYPE_Q8; type++) {
        tf_linear a, b;
        ck_assert_int_eq(linear_init(&a, (tf_wtype)type, w, NULL, n_out, n_in, 0, NULL), 0);
        ck_assert_int_eq(linear_init(&b, (tf_wtype)type, wt, NULL, n_out, n_in, 1, NULL), 0);
        linear_forward(&a, NULL, &ws, x, m, y1);
        linear_forward(&b, NULL, &ws, x, m, y2);
        ck_assert_mem_eq(y1, y2, sizeof y1);
        linear_row(&b, 4, row);
        for (int k = 0; k < n_in; k++) {
            float tol = type == TF_WTYPE_Q8 ? b.q.scale[4] * 0.5f * 1.0001f : 0.0f;
            ck_assert(fabsf(row[k] - w[(size_t)4 * n_in + k]) <= tol);
        }
        ck_assert_uint_gt(linear_bytes(&a), 0);
        linear_close(&a);
        linear_close(&b);
    }
    gemm_ws_close(&ws);
    free(w), free(wt), free(x);
}
END_TEST

START_TEST(row_is_dequantized_weight) {
    rng_state = 9;
    const int n_out = 50, n_in = 70;
    float *w = rand_vec((size_t)n_out * n_in, 2.0f), row[70];
    memset(w + (size_t)7 * n_in, 0, sizeof(float) * n_in); /* a zero row: scale 0, no NaN */
    tf_linear l;
    ck_assert_int_eq(linear_init(&l, TF_WTYPE_Q8, w, NULL, n_out, n_in, 0, NULL), 0);
    for (int o = 0; o < n_out; o++) {
        linear_row(&l, o, row);
        float amax = 0;
        for (int k = 0; k < n_in; k++) amax = fmaxf(amax, fabsf(w[(size_t)o * n_in + k]));
        ck_assert_float_eq(l.q.scale[o], amax / 127.0f);
        int32_t sum = 0;
        for (int k = 0; k < n_in; k++) {
            int8_t qv = qmat_get(&l.q, o, k);
            sum += qv;
            ck_assert_int_le(abs(qv), 127);
            ck_assert(row[k] == l.q.scale[o] * (float)qv);
            ck_assert(fabsf(row[k] - w[(size_t)o * n_in + k]) <= l.q.scale[o] * 0.5001f);
        }
        ck_assert_int_eq(sum, l.q.row_sum[o]);
    }
    linear_close(&l);
    free(w);
}
END_TEST

/* The fused activation equals linear_forward followed by the ops_ function over y, bit for
 * bit (both element-wise on the same values), for int8 and fp32, on a 2-thread pool (each
 * thread applies it to its own block) and on the caller; shapes cover the split by output
 * blocks and the split by rows. */
START_TEST(fused_activation_equals_separate_pass) {
    const int wtype = _i ? TF_WTYPE_F32 : TF_WTYPE_Q8;
    tf_pool *pool;
    ck_assert_int_eq(pool_new(2, &pool, NULL), 0);
    tf_gemm_ws ws;
    gemm_ws_init(&ws);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape sh = shapes[si];
        rng_state = 99 + (unsigned)si;
        const size_t n_w = (size_t)sh.n_out * sh.n_in, n_y = (size_t)sh.m * sh.n_out;
        float *w = rand_vec(n_w, 0.5f), *b = rand_vec((size_t)sh.n_out, 0.5f);
        float *x = rand_vec((size_t)sh.m * sh.n_in, 2.0f);
        float *want = rand_vec(n_y, 1), *got = rand_vec(n_y, 1);
        tf_linear l;
        ck_assert_int_eq(linear_init(&l, wtype, w, b, sh.n_out, sh.n_in, 0, NULL), 0);
        for (int erf = 0; erf <= 1; erf++)
            for (int use_pool = 0; use_pool <= 1; use_pool++) {
                tf_pool *p = use_pool ? pool : NULL;
                linear_forward(&l, p, &ws, x, sh.m, want);
                if (erf) ops_gelu_erf(want, n_y);
                else ops_gelu_tanh(want, n_y);
                linear_forward_act(&l, p, &ws, x, sh.m, got,
                                   erf ? TF_LINEAR_ACT_GELU_ERF : TF_LINEAR_ACT_GELU_TANH);
                for (size_t i = 0; i < n_y; i++)
                    ck_assert_msg(got[i] == want[i], "shape %zu erf %d pool %d i %zu", si, erf,
                                  use_pool, i);
            }
        linear_close(&l);
        free(w);
        free(b);
        free(x);
        free(want);
        free(got);
    }
    gemm_ws_close(&ws);
    pool_free(pool);
}
END_TEST

START_TEST(zero_input_gives_bias) {
    float w[16 * 20], b[20], x[2 * 16] = {0}, y[2 * 20];
    for (int i = 0; i < 16 * 20; i++) w[i] = (float)(i % 7) - 3.0f;
    for (int o = 0; o < 20; o++) b[o] = (float)o * 0.25f;
    tf_gemm_ws ws;
    gemm_ws_init(&ws);
    tf_linear l;
    ck_assert_int_eq(linear_init(&l, TF_WTYPE_Q8, w, b, 20, 16, 0, NULL), 0);
    linear_forward(&l, NULL, &ws, x, 2, y);
    for (int i = 0; i < 2 * 20; i++) ck_assert_float_eq(y[i], b[i % 20]);
    linear_forward(&l, NULL, &ws, x, 0, y); /* m = 0 is a no-op */
    linear_close(&l);
    gemm_ws_close(&ws);
}
END_TEST

typedef struct blas_job {
    const tf_linear *l;
    const float *x;
    int m;
    float *y;
} blas_job;

static void *blas_thread(void *arg) {
    blas_job *j = arg;
    tf_gemm_ws ws;
    gemm_ws_init(&ws);
    for (int r = 0; r < 50; r++) linear_forward(j->l, NULL, &ws, j->x, j->m, j->y);
    gemm_ws_close(&ws);
    return NULL;
}

START_TEST(openblas_concurrent_calls_are_correct) {
    /* Two threads call single-threaded OpenBLAS at once (as pool threads do);
     * results must equal those computed alone. */
    rng_state = 13;
    const int n_in = 200, n_out = 300, m = 7;
    float *w1 = rand_vec((size_t)n_out * n_in, 1.0f), *w2 = rand_vec((size_t)n_out * n_in, 1.0f);
    float *x = rand_vec((size_t)m * n_in, 1.0f);
    float *alone1 = malloc(sizeof(float) * m * n_out), *alone2 = malloc(sizeof(float) * m * n_out);
    float *y1 = malloc(sizeof(float) * m * n_out), *y2 = malloc(sizeof(float) * m * n_out);
    tf_linear l1, l2;
    ck_assert_int_eq(linear_init(&l1, TF_WTYPE_F32, w1, NULL, n_out, n_in, 0, NULL), 0);
    ck_assert_int_eq(linear_init(&l2, TF_WTYPE_F32, w2, NULL, n_out, n_in, 0, NULL), 0);
    for (int mm = 1; mm <= m; mm += m - 1) { /* gemv (m = 1) and gemm */
        blas_job a = {&l1, x, mm, alone1}, b = {&l2, x, mm, alone2};
        blas_thread(&a);
        blas_thread(&b);
        blas_job c = {&l1, x, mm, y1}, d = {&l2, x, mm, y2};
        pthread_t t1, t2;
        ck_assert_int_eq(pthread_create(&t1, NULL, blas_thread, &c), 0);
        ck_assert_int_eq(pthread_create(&t2, NULL, blas_thread, &d), 0);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        ck_assert_mem_eq(y1, alone1, sizeof(float) * mm * n_out);
        ck_assert_mem_eq(y2, alone2, sizeof(float) * mm * n_out);
    }
    linear_close(&l1);
    linear_close(&l2);
    free(w1), free(w2), free(x), free(alone1), free(alone2), free(y1), free(y2);
}
END_TEST

START_TEST(init_rejects_bad_shapes) {
    float w[4] = {1, 2, 3, 4};
    tf_linear l;
    tf_err err = {0};
    ck_assert_int_eq(linear_init(&l, TF_WTYPE_Q8, w, NULL, 0, 4, 0, &err), TF_ERANGE);
    ck_assert_int_eq(linear_init(&l, TF_WTYPE_F32, w, NULL, 2, -1, 0, &err), TF_ERANGE);
    ck_assert_int_eq(linear_init(&l, (tf_wtype)7, w, NULL, 2, 2, 0, &err), TF_EUNSUPPORTED);
    tf_qmat q;
    ck_assert_int_eq(qmat_init(&q, w, 1, 65537, 0, &err), TF_ERANGE);
    linear_close(NULL);
    gemm_ws_close(NULL);
}
END_TEST

START_TEST(scratch_grows_once) {
    tf_gemm_ws ws;
    gemm_ws_init(&ws);
    ck_assert_int_eq(gemm_ws_reserve(&ws, 4, 64, NULL), 0);
    uint8_t *p = ws.xq;
    ck_assert_int_eq(gemm_ws_reserve(&ws, 2, 128, NULL), 0); /* same bytes: no realloc */
    ck_assert_ptr_eq(ws.xq, p);
    ck_assert_int_eq(gemm_ws_reserve(&ws, 8, 128, NULL), 0);
    ck_assert_uint_ge(ws.cap_bytes, 8 * 128);
    ck_assert_uint_ge(ws.cap_rows, 8);
    gemm_ws_close(&ws);
}
END_TEST

Suite *linear_suite(void) {
    Suite *s = suite_create("linear");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ref_matches_naive_dequantized_loop);
    tcase_add_loop_test(tc, isa_kernels_bit_exact_vs_ref, 0, 2);
    tcase_add_test(tc, quantize_rounding_and_clamp_agree);
    tcase_add_loop_test(tc, f32_matches_naive, 0, 2);
    tcase_add_test(tc, q8_error_bounded_by_quantization_step);
    tcase_add_test(tc, in_out_layout_is_transposed);
    tcase_add_test(tc, row_is_dequantized_weight);
    tcase_add_test(tc, zero_input_gives_bias);
    tcase_add_loop_test(tc, fused_activation_equals_separate_pass, 0, 2);
    tcase_add_test(tc, openblas_concurrent_calls_are_correct);
    suite_add_tcase(s, tc);
    TCase *lim = tcase_create("limits");
    tcase_add_test(lim, init_rejects_bad_shapes);
    tcase_add_test(lim, scratch_grows_once);
    suite_add_tcase(s, lim);
    return s;
}
