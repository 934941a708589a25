/* AVX-512 activations; this file alone is compiled with AVX-512 flags.
 *
 * GELU (tanh form) was the largest serial-looking cost of a batched decode step after
 * the matrix products (11.6% of a batch-16 GPT-2-small step under perf) with the
 * baseline-ISA loop, which gcc only vectorizes 4 wide. Same formula as the reference,
 * with fm_exp16 (core/fastmath_avx512.h) for fm_expf. */
#include <immintrin.h>
#include <stddef.h>

#include "core/act.h"
#include "core/fastmath_avx512.h"

void act_gelu_tanh_avx512(float *x, size_t n) {
    const __m512 k2 = _mm512_set1_ps(-2.0f * 0.7978845608028654f);
    const __m512 c = _mm512_set1_ps(0.044715f), one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 16) {
        const size_t left = n - i;
        const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m512 v3 = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
        const __m512 y = _mm512_mul_ps(k2, _mm512_fmadd_ps(c, v3, v));
        _mm512_mask_storeu_ps(x + i, m, _mm512_div_ps(v, _mm512_add_ps(one, fm_exp16(y))));
    }
}
