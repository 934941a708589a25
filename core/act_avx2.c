/* AVX2 + FMA activations, for CPUs without AVX-512; this file alone is compiled with AVX2
 * flags. The erf GELU is core/act_avx512.c's, 8 lanes: floor by roundps, 2^n built in
 * the exponent bits as fm_expf does. */
#include <immintrin.h>
#include <stddef.h>

#include "core/act.h"

/* fm_expf (core/fastmath.h), 8 lanes; 0 below -87. */
static inline __m256 exp8(__m256 x) {
    const __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
    const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
    const __m256 n = _mm256_floor_ps(t);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860682030941723212e-6f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    const __m256i bits = _mm256_slli_epi32(e, 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(bits)));
}

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
    const __m256 erfc = _mm256_mul_ps(_mm256_mul_ps(p, t), exp8(neg_a2));
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
