/* AVX-512 activations; this file alone is compiled with AVX-512 flags.
 *
 * GELU (tanh form) was the largest serial-looking cost of a batched decode step after
 * the matrix products (11.6% of a batch-16 GPT-2-small step under perf) with the
 * baseline-ISA loop, which gcc only vectorizes 4 wide. Same formula and polynomial as
 * fm_expf in core/fastmath.h, 16 lanes, floor by roundscale and 2^n by scalef. */
#include <immintrin.h>
#include <stddef.h>

#include "core/act.h"

static inline __m512 exp16(__m512 x) {
    const __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LT_OQ);
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.0f));
    const __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f));
    const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723212e-6f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_mov_ps((__mmask16)~under, _mm512_scalef_ps(p, n));
}

void act_gelu_tanh_avx512(float *x, size_t n) {
    const __m512 k2 = _mm512_set1_ps(-2.0f * 0.7978845608028654f);
    const __m512 c = _mm512_set1_ps(0.044715f), one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 16) {
        const size_t left = n - i;
        const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m512 v3 = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
        const __m512 y = _mm512_mul_ps(k2, _mm512_fmadd_ps(c, v3, v));
        _mm512_mask_storeu_ps(x + i, m, _mm512_div_ps(v, _mm512_add_ps(one, exp16(y))));
    }
}
