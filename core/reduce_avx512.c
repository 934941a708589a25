/* AVX-512 long-row reductions; this file alone is compiled with AVX-512 flags.
 *
 * The baseline loops run 4 lanes wide at best (the argmax scan not at all); these take
 * 16 lanes with two or four independent accumulators. NaNs are skipped by the maximum
 * (vmaxps returns its second operand, the accumulator, when the input is NaN). */
#include <immintrin.h>

#include "core/fastmath_avx512.h"
#include "core/reduce.h"

static inline __mmask16 tail_mask(int left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

static float row_max(const float *x, int n) {
    const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
    __m512 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        m0 = _mm512_max_ps(_mm512_loadu_ps(x + i), m0);
        m1 = _mm512_max_ps(_mm512_loadu_ps(x + i + 16), m1);
        m2 = _mm512_max_ps(_mm512_loadu_ps(x + i + 32), m2);
        m3 = _mm512_max_ps(_mm512_loadu_ps(x + i + 48), m3);
    }
    for (; i < n; i += 16)
        m0 = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, tail_mask(n - i), x + i), m0);
    m0 = _mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3));
    return _mm512_reduce_max_ps(m0);
}

float reduce_max_index_avx512(const float *x, int n, int *index) {
    const float mx = row_max(x, n);
    /* Second pass to the first element equal to the maximum: it stops there, so on
     * average it reads half the row. */
    const __m512 vmx = _mm512_set1_ps(mx);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __mmask16 eq = _mm512_mask_cmp_ps_mask(m, v, vmx, _CMP_EQ_OQ);
        if (eq) {
            *index = i + __builtin_ctz(eq);
            return x[*index];
        }
    }
    *index = 0; /* nothing but NaNs */
    return x[0];
}

float reduce_exp_sum_avx512(const float *x, int n, float shift, float scale, float *out) {
    const __m512 vs = _mm512_set1_ps(shift), vk = _mm512_set1_ps(scale);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 e0 = fm_exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vs), vk));
        const __m512 e1 = fm_exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vs), vk));
        if (out) {
            _mm512_storeu_ps(out + i, e0);
            _mm512_storeu_ps(out + i + 16, e1);
        }
        a0 = _mm512_add_ps(a0, e0);
        a1 = _mm512_add_ps(a1, e1);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m512 e = _mm512_maskz_mov_ps(m, fm_exp16(_mm512_mul_ps(_mm512_sub_ps(v, vs), vk)));
        if (out) _mm512_mask_storeu_ps(out + i, m, e);
        a0 = _mm512_add_ps(a0, e);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

void reduce_softmax_avx512(float *x, int n) {
    const float mx = row_max(x, n);
    if (mx == -__builtin_inff()) { /* nothing but -inf: all weights zero, as the reference */
        for (int i = 0; i < n; i += 16)
            _mm512_mask_storeu_ps(x + i, tail_mask(n - i), _mm512_setzero_ps());
        return;
    }
    /* in place: each block is loaded before its terms are stored over it */
    const __m512 inv = _mm512_set1_ps(1.0f / reduce_exp_sum_avx512(x, n, mx, 1.0f, x));
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

/* The reference's arithmetic: sums in double (8 lanes, two accumulators; only the order of
 * the additions differs), then y = (x - mean)·inv·w + b with separate float multiplies and
 * add, as the reference writes it. */
void reduce_layernorm_avx512(const float *x, float *y, int n_rows, int n, const float *w,
                             const float *b, float eps) {
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        __m512d s0 = _mm512_setzero_pd(), s1 = s0;
        for (int i = 0; i < n; i += 16) {
            const __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), xr + i);
            s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
            s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
        }
        const float mean = (float)(_mm512_reduce_add_pd(_mm512_add_pd(s0, s1)) / n);
        const __m512 vm = _mm512_set1_ps(mean);
        s0 = s1 = _mm512_setzero_pd();
        for (int i = 0; i < n; i += 16) {
            const __mmask16 m = tail_mask(n - i);
            const __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, xr + i), vm);
            const __m512d d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(d));
            const __m512d d1 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(d, 1));
            s0 = _mm512_add_pd(s0, _mm512_mul_pd(d0, d0));
            s1 = _mm512_add_pd(s1, _mm512_mul_pd(d1, d1));
        }
        const double var = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
        const __m512 inv = _mm512_set1_ps((float)(1.0 / __builtin_sqrt(var / n + eps)));
        for (int i = 0; i < n; i += 16) {
            const __mmask16 m = tail_mask(n - i);
            const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + i), vm);
            __m512 o = _mm512_mul_ps(_mm512_mul_ps(d, inv), _mm512_maskz_loadu_ps(m, w + i));
            o = _mm512_add_ps(o, b ? _mm512_maskz_loadu_ps(m, b + i) : _mm512_setzero_ps());
            _mm512_mask_storeu_ps(yr + i, m, o);
        }
    }
}
