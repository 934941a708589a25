/* AVX2+FMA attention rows; this file alone is compiled with -mavx2 -mfma -mf16c.
 * The fp16 rows widen 8 elements per load with vcvtph2ps (F16C, which cpu_isa requires
 * for AVX2) and are otherwise the fp32 loops. */
#include <immintrin.h>

#include "core/attn_rows.h"

static float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Cache element loads from fp32 or fp16 (vcvtph2ps / vcvtsh2ss, exact). The row bodies take
 * `f16` as a compile-time constant (always inlined into one wrapper per element type). */
#define KV_INLINE static inline __attribute__((always_inline))
KV_INLINE __m256 kv_load8(const void *p, long i, int f16) {
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)))
               : _mm256_loadu_ps((const float *)p + i);
}
KV_INLINE float kv_load1(const void *p, long i, int f16) {
    return f16 ? _cvtsh_ss(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

KV_INLINE void scores_body(const float *q, const void *k, int ld, int n_keys, int d, float scale,
                           float *scores, int f16) {
    const int d8 = d & ~7;
    for (int j = 0; j < n_keys; j++) {
        const long kj = (long)j * ld;
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < d8; i += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), kv_load8(k, kj + i, f16), acc);
        float s = hsum8(acc);
        for (int i = d8; i < d; i++) s += q[i] * kv_load1(k, kj + i, f16);
        scores[j] = s * scale;
    }
}

KV_INLINE void weighted_sum_body(const float *p, const void *v, int ld, int n_keys, int d, float *out,
                                 int f16) {
    int i = 0;
    /* 32 output floats in registers at a time, streaming over the keys */
    for (; i + 32 <= d; i += 32) {
        __m256 a0 = _mm256_loadu_ps(out + i), a1 = _mm256_loadu_ps(out + i + 8);
        __m256 a2 = _mm256_loadu_ps(out + i + 16), a3 = _mm256_loadu_ps(out + i + 24);
        for (int j = 0; j < n_keys; j++) {
            const long vj = (long)j * ld + i;
            const __m256 pj = _mm256_set1_ps(p[j]);
            a0 = _mm256_fmadd_ps(pj, kv_load8(v, vj, f16), a0);
            a1 = _mm256_fmadd_ps(pj, kv_load8(v, vj + 8, f16), a1);
            a2 = _mm256_fmadd_ps(pj, kv_load8(v, vj + 16, f16), a2);
            a3 = _mm256_fmadd_ps(pj, kv_load8(v, vj + 24, f16), a3);
        }
        _mm256_storeu_ps(out + i, a0);
        _mm256_storeu_ps(out + i + 8, a1);
        _mm256_storeu_ps(out + i + 16, a2);
        _mm256_storeu_ps(out + i + 24, a3);
    }
    for (; i + 8 <= d; i += 8) {
        __m256 a = _mm256_loadu_ps(out + i);
        for (int j = 0; j < n_keys; j++)
            a = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), kv_load8(v, (long)j * ld + i, f16), a);
        _mm256_storeu_ps(out + i, a);
    }
    for (; i < d; i++) {
        float a = out[i];
        for (int j = 0; j < n_keys; j++) a += p[j] * kv_load1(v, (long)j * ld + i, f16);
        out[i] = a;
    }
}

static void scores_avx2(const float *q, const float *k, int ld, int n_keys, int d, float scale,
                        float *scores) {
    scores_body(q, k, ld, n_keys, d, scale, scores, 0);
}
static void scores_f16_avx2(const float *q, const uint16_t *k, int ld, int n_keys, int d,
                            float scale, float *scores) {
    scores_body(q, k, ld, n_keys, d, scale, scores, 1);
}
static void weighted_sum_avx2(const float *p, const float *v, int ld, int n_keys, int d,
                              float *out) {
    weighted_sum_body(p, v, ld, n_keys, d, out, 0);
}
static void weighted_sum_f16_avx2(const float *p, const uint16_t *v, int ld, int n_keys, int d,
                                  float *out) {
    weighted_sum_body(p, v, ld, n_keys, d, out, 1);
}

/* vcvtps2ph, round to nearest even: the bits of half_f32_to_f16 (test_attention). */
static void store_f16_avx2(const float *src, uint16_t *dst, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

const tf_attn_rows attn_rows_avx2 = {.scores = scores_avx2,
                                     .weighted_sum = weighted_sum_avx2,
                                     .scores_f16 = scores_f16_avx2,
                                     .weighted_sum_f16 = weighted_sum_f16_avx2,
                                     .store_f16 = store_f16_avx2};
