/* DESIGN: plain C loops that gcc vectorizes at -O2 for the baseline x86-64
 * target. These are cheap next to the matrix products (core/linear.c), so
 * clarity wins; accumulation is in float except the norms' sums, which use
 * double to match PyTorch's fp32 results closely on wide rows. */
#include "core/ops.h"

#include "core/act.h"
#include "core/cpu.h"
#include "core/fastmath.h"
#include "core/reduce.h"

#include <math.h>

/* Σ x[i] and Σ (x[i] - mean)² in double over eight partial sums: one double chain was
 * latency-bound (4 cycles an element, 5% of a DistilBERT forward at 16 tokens); eight
 * independent lanes let gcc vectorize it, and double keeps the sums as exact as before. */
static double sum_f64(const float *x, int n) {
    double acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int t = 0; t < 8; t++) acc[t] += (double)x[i + t];
    double s = 0;
    for (; i < n; i++) s += x[i];
    for (int t = 0; t < 8; t++) s += acc[t];
    return s;
}

static double sum_sq_dev_f64(const float *x, int n, float mean) {
    double acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int t = 0; t < 8; t++) {
            const double d = (double)(x[i + t] - mean);
            acc[t] += d * d;
        }
    double s = 0;
    for (; i < n; i++) {
        const double d = (double)(x[i] - mean);
        s += d * d;
    }
    for (int t = 0; t < 8; t++) s += acc[t];
    return s;
}

void ops_layernorm(const float *x, float *y, int n_rows, int n, const float *w, const float *b,
                   float eps) {
    typedef void (*layernorm_fn)(const float *, float *, int, int, const float *, const float *,
                                 float);
    static layernorm_fn chosen;
    layernorm_fn f = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!f) {
        f = cpu_isa() == TF_ISA_VNNI ? reduce_layernorm_avx512 : reduce_layernorm_ref;
        __atomic_store_n(&chosen, f, __ATOMIC_RELEASE);
    }
    f(x, y, n_rows, n, w, b, eps);
}

void reduce_layernorm_ref(const float *x, float *y, int n_rows, int n, const float *w,
                          const float *b, float eps) {
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        float mean = (float)(sum_f64(xr, n) / n);
        double var = sum_sq_dev_f64(xr, n, mean);
        float inv = (float)(1.0 / sqrt(var / n + eps));
        for (int i = 0; i < n; i++) yr[i] = (xr[i] - mean) * inv * w[i] + (b ? b[i] : 0.0f);
    }
}

void ops_rmsnorm(const float *x, float *y, int n_rows, int n, const float *w, float eps) {
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(ss / n + eps));
        for (int i = 0; i < n; i++) yr[i] = xr[i] * inv * w[i];
    }
}

void ops_gelu_tanh(float *x, size_t n) {
    static void (*chosen)(float *, size_t);
    void (*f)(float *, size_t) = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!f) {
        f = cpu_isa() == TF_ISA_VNNI ? act_gelu_tanh_avx512 : act_gelu_tanh_ref;
        __atomic_store_n(&chosen, f, __ATOMIC_RELEASE);
    }
    f(x, n);
}

void act_gelu_tanh_ref(float *x, size_t n) {
    /* 0.5·x·(1 + tanh(y)) == x / (1 + e^(-2y)): one vectorizable exp instead of tanhf. */
    const float k2 = -2.0f * 0.7978845608028654f; /* -2·sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = v / (1.0f + fm_expf(k2 * (v + 0.044715f * v * v * v)));
    }
}

void ops_gelu_erf(float *x, size_t n) {
    static void (*chosen)(float *, size_t);
    void (*f)(float *, size_t) = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!f) {
        const tf_isa isa = cpu_isa();
        f = isa == TF_ISA_VNNI ? act_gelu_erf_avx512 : isa == TF_ISA_AVX2 ? act_gelu_erf_avx2
                                                                          : act_gelu_erf_ref;
        __atomic_store_n(&chosen, f, __ATOMIC_RELEASE);
    }
    f(x, n);
}

void act_gelu_erf_ref(float *x, size_t n) {
    /* libm's erff is an opaque call per element; this is the approximation of core/act.h,
     * which gcc vectorizes (fm_expf, a division, a select). */
    for (size_t i = 0; i < n; i++) {
        const float v = x[i], a = fabsf(v) * ACT_RSQRT2;
        const float t = 1.0f / (1.0f + ACT_ERFC_P * a);
        const float p =
            ((((ACT_ERFC_A5 * t + ACT_ERFC_A4) * t + ACT_ERFC_A3) * t + ACT_ERFC_A2) * t +
             ACT_ERFC_A1) * t;
        const float hx_erfc = 0.5f * v * (p * fm_expf(-a * a));
        x[i] = v < 0 ? hx_erfc : v - hx_erfc;
    }
}

void ops_relu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0.0f;
}

void ops_silu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + fm_expf(-x[i]));
}

void ops_rope_rotate_half(float *x, int n_heads, int d_head, const float *cs, const float *sn) {
    const int half = d_head / 2;
    for (int h = 0; h < n_heads; h++) {
        float *x1 = x + (size_t)h * d_head, *x2 = x1 + half;
        for (int j = 0; j < half; j++) {
            const float a = x1[j], b = x2[j];
            x1[j] = a * cs[j] - b * sn[j];
            x2[j] = b * cs[j] + a * sn[j];
        }
    }
}

void ops_swiglu(const float *gate, const float *up, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = gate[i] / (1.0f + fm_expf(-gate[i])) * up[i];
}

void ops_add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void ops_add_row_bias(float *y, const float *b, int n_rows, int n) {
    for (int r = 0; r < n_rows; r++) ops_add(y + (size_t)r * n, b, (size_t)n);
}

void reduce_softmax_ref(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    if (mx == -INFINITY) {
        for (int i = 0; i < n; i++) x[i] = 0.0f;
        return;
    }
    /* exp and sum in separate loops: a float reduction in the same loop would keep gcc
     * from vectorizing the exp (no -ffast-math). */
    for (int i = 0; i < n; i++) x[i] = fm_expf(x[i] - mx);
    float acc[8] = {0};
    int i8 = 0;
    for (; i8 + 8 <= n; i8 += 8)
        for (int t = 0; t < 8; t++) acc[t] += x[i8 + t];
    float sum = 0;
    for (; i8 < n; i8++) sum += x[i8];
    for (int t = 0; t < 8; t++) sum += acc[t];
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void ops_softmax(float *x, int n) {
    static void (*chosen)(float *, int);
    void (*f)(float *, int) = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!f) {
        f = cpu_isa() == TF_ISA_VNNI ? reduce_softmax_avx512 : reduce_softmax_ref;
        __atomic_store_n(&chosen, f, __ATOMIC_RELEASE);
    }
    f(x, n);
}

// --- long rows (a vocabulary of logits) --------------------------------------------------

/* Picked once, as the GELU above. */
typedef float (*max_index_fn)(const float *, int, int *);
typedef float (*exp_sum_fn)(const float *, int, float, float, float *);

float reduce_max_index_ref(const float *x, int n, int *index) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    *index = best;
    return x[best];
}

float reduce_exp_sum_ref(const float *x, int n, float shift, float scale, float *out) {
    /* exp and sum in separate loops where the terms are kept, one where they are not: a
     * float reduction beside a store keeps gcc from vectorizing the exp (no -ffast-math);
     * eight partial sums let it vectorize the sum. */
    float acc[8] = {0};
    int i = 0;
    if (out) {
        for (int j = 0; j < n; j++) out[j] = fm_expf((x[j] - shift) * scale);
        for (; i + 8 <= n; i += 8)
            for (int t = 0; t < 8; t++) acc[t] += out[i + t];
    } else {
        for (; i + 8 <= n; i += 8)
            for (int t = 0; t < 8; t++) acc[t] += fm_expf((x[i + t] - shift) * scale);
    }
    float sum = 0;
    for (; i < n; i++) sum += out ? out[i] : fm_expf((x[i] - shift) * scale);
    for (int t = 0; t < 8; t++) sum += acc[t];
    return sum;
}

float ops_max_index(const float *x, int n, int *index) {
    static max_index_fn chosen;
    max_index_fn f = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!f) {
        f = cpu_isa() == TF_ISA_VNNI ? reduce_max_index_avx512 : reduce_max_index_ref;
        __atomic_store_n(&chosen, f, __ATOMIC_RELEASE);
    }
    return f(x, n, index);
}

float ops_exp_sum(const float *x, int n, float shift, float scale, float *out) {
    static exp_sum_fn chosen;
    exp_sum_fn f = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!f) {
        f = cpu_isa() == TF_ISA_VNNI ? reduce_exp_sum_avx512 : reduce_exp_sum_ref;
        __atomic_store_n(&chosen, f, __ATOMIC_RELEASE);
    }
    return f(x, n, shift, scale, out);
}

float ops_logsumexp(const float *x, int n) {
    int at;
    const float mx = ops_max_index(x, n, &at);
    if (mx == -INFINITY) return mx;
    return mx + logf(ops_exp_sum(x, n, mx, 1.0f, NULL));
}

int ops_argmax(const float *x, int n) {
    int at;
    ops_max_index(x, n, &at);
    return at;
}

int ops_pick_cumulative(const float *w, int n, double target) {
    /* A sequential scan is one dependent subtraction per element (~50k for GPT-2's
     * vocabulary); whole blocks are skipped by their vectorized sums first, so only one
     * block is scanned element by element. Should the float block sum disagree with the
     * scan in the last bit, the scan simply runs on into the next blocks. */
    enum { BLOCK = 256 };
    int i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        float acc[8] = {0};
        for (int j = 0; j < BLOCK; j += 8)
            for (int t = 0; t < 8; t++) acc[t] += w[i + j + t];
        double block = 0;
        for (int t = 0; t < 8; t++) block += acc[t];
        if (target < block) break;
        target -= block;
    }
    for (; i < n; i++) {
        target -= w[i];
        if (target < 0) return i;
    }
    for (i = n - 1; i > 0; i--) /* rounding left target at or above the sum */
        if (w[i] > 0) break;
    return i;
}
