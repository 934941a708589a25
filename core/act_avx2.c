/* AVX2 + FMA activations, for CPUs without AVX-512; this file alone is compiled with AVX2
 * flags. The erf GELU is core/act_erf_avx512.c's on 8 lanes. */
#include <immintrin.h>
#include <stddef.h>

#include "core/act.h"
#include "core/fastmath_avx2.h"

static inline __m256 gelu_erf8(__m256 v) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 abs_v = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
    const __m256 a = _mm256_mul_ps(abs_v, _mm256_set1_ps(ACT_RSQRT2));
    const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(ACT_ERFC_P), a, one));
    __m256 p = _mm256_set1_ps(ACT_ERFC_A5);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ACT_ERFC_A4));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ACT_ERFC_A3));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ACT_ERFC_A2));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ACT_ERFC_A1));
    const __m256 neg_a2 = _mm256_mul_ps(a, _mm256_sub_ps(_mm256_setzero_ps(), a));
    const __m256 erfc = _mm256_mul_ps(_mm256_mul_ps(p, t), fm_exp8(neg_a2));
    const __m256 hx_erfc = _mm256_mul_ps(_mm256_mul_ps(half, v), erfc);
    const __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_blendv_ps(_mm256_sub_ps(v, hx_erfc), hx_erfc, neg);
}

void act_gelu_erf_avx2(float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gelu_erf8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float tail[8] = {0};
        for (size_t j = i; j < n; j++) tail[j - i] = x[j];
        const __m256 y = gelu_erf8(_mm256_loadu_ps(tail));
        _mm256_storeu_ps(tail, y);
        for (size_t j = i; j < n; j++) x[j] = tail[j - i];
    }
}
