/* AVX-512 attention rows; this file alone is compiled with AVX-512 flags.
 * Scores take four keys at a time so four independent FMA chains hide latency;
 * tails use masked loads, so any head width works. The fp16 rows are the same loops
 * with each 16-element load widened by vcvtph2ps (F16C, exact), so they cost about what
 * the fp32 rows cost in arithmetic and read half the bytes. */
#include <immintrin.h>

#include "core/attn_rows.h"

/* The four horizontal sums of a0..a3 in one __m128: unpack-and-add transposes the partial
 * sums so the 4 keys share the reduction instead of 4 separate reduce_add chains. */
static inline __m128 hsum4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    const __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
    const __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
    const __m512 u = _mm512_add_ps(
        _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1))),
        _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1))));
    /* each 128-bit lane of u now holds partial (s0, s1, s2, s3); add the four lanes */
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(u), _mm512_extractf32x8_ps(u, 1));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* 16 cache elements at element index i of p widened to fp32, from fp32 or fp16 (vcvtph2ps,
 * exact); the maskz form reads masked-off lanes as 0. The row bodies below take `f16` as a
 * compile-time constant (always inlined into one wrapper per element type), so each
 * wrapper compiles to the plain loop for its type. */
#define KV_INLINE static inline __attribute__((always_inline))
KV_INLINE __m512 kv_load16(const void *p, long i, int f16) {
    return f16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)))
               : _mm512_loadu_ps((const float *)p + i);
}
KV_INLINE __m512 kv_maskz_load16(__mmask16 m, const void *p, long i, int f16) {
    return f16 ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i))
               : _mm512_maskz_loadu_ps(m, (const float *)p + i);
}

KV_INLINE void scores_body(const float *q, const void *k, int ld, int n_keys, int d, float scale,
                           float *scores, int f16) {
    const int d16 = d & ~15;
    const __mmask16 tail = (__mmask16)((1u << (d - d16)) - 1);
    int j = 0;
    for (; j + 4 <= n_keys; j += 4) {
        const long k0 = (long)j * ld, k1 = k0 + ld, k2 = k1 + ld, k3 = k2 + ld;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < d16; i += 16) {
            const __m512 qi = _mm512_loadu_ps(q + i);
            a0 = _mm512_fmadd_ps(qi, kv_load16(k, k0 + i, f16), a0);
            a1 = _mm512_fmadd_ps(qi, kv_load16(k, k1 + i, f16), a1);
            a2 = _mm512_fmadd_ps(qi, kv_load16(k, k2 + i, f16), a2);
            a3 = _mm512_fmadd_ps(qi, kv_load16(k, k3 + i, f16), a3);
        }
        if (tail) {
            const __m512 qi = _mm512_maskz_loadu_ps(tail, q + d16);
            a0 = _mm512_fmadd_ps(qi, kv_maskz_load16(tail, k, k0 + d16, f16), a0);
            a1 = _mm512_fmadd_ps(qi, kv_maskz_load16(tail, k, k1 + d16, f16), a1);
            a2 = _mm512_fmadd_ps(qi, kv_maskz_load16(tail, k, k2 + d16, f16), a2);
            a3 = _mm512_fmadd_ps(qi, kv_maskz_load16(tail, k, k3 + d16, f16), a3);
        }
        _mm_storeu_ps(scores + j, _mm_mul_ps(hsum4(a0, a1, a2, a3), _mm_set1_ps(scale)));
    }
    for (; j < n_keys; j++) {
        const long kj = (long)j * ld;
        __m512 a = _mm512_setzero_ps();
        for (int i = 0; i < d16; i += 16)
            a = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), kv_load16(k, kj + i, f16), a);
        if (tail)
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, q + d16), kv_maskz_load16(tail, k, kj + d16, f16),
                                a);
        scores[j] = _mm512_reduce_add_ps(a) * scale;
    }
}

KV_INLINE void weighted_sum_body(const float *p, const void *v, int ld, int n_keys, int d, float *out,
                                 int f16) {
    int i = 0;
    for (; i + 64 <= d; i += 64) {
        __m512 a0 = _mm512_loadu_ps(out + i), a1 = _mm512_loadu_ps(out + i + 16);
        __m512 a2 = _mm512_loadu_ps(out + i + 32), a3 = _mm512_loadu_ps(out + i + 48);
        for (int j = 0; j < n_keys; j++) {
            const long vj = (long)j * ld + i;
            const __m512 pj = _mm512_set1_ps(p[j]);
            a0 = _mm512_fmadd_ps(pj, kv_load16(v, vj, f16), a0);
            a1 = _mm512_fmadd_ps(pj, kv_load16(v, vj + 16, f16), a1);
            a2 = _mm512_fmadd_ps(pj, kv_load16(v, vj + 32, f16), a2);
            a3 = _mm512_fmadd_ps(pj, kv_load16(v, vj + 48, f16), a3);
        }
        _mm512_storeu_ps(out + i, a0);
        _mm512_storeu_ps(out + i + 16, a1);
        _mm512_storeu_ps(out + i + 32, a2);
        _mm512_storeu_ps(out + i + 48, a3);
    }
    for (; i < d; i += 16) {
        const int left = d - i;
        const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512 a = _mm512_maskz_loadu_ps(m, out + i);
        for (int j = 0; j < n_keys; j++)
            a = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), kv_maskz_load16(m, v, (long)j * ld + i, f16), a);
        _mm512_mask_storeu_ps(out + i, m, a);
    }
}

static void scores_avx512(const float *q, const float *k, int ld, int n_keys, int d, float scale,
                          float *scores) {
    scores_body(q, k, ld, n_keys, d, scale, scores, 0);
}
static void scores_f16_avx512(const float *q, const uint16_t *k, int ld, int n_keys, int d,
                              float scale, float *scores) {
    scores_body(q, k, ld, n_keys, d, scale, scores, 1);
}
static void weighted_sum_avx512(const float *p, const float *v, int ld, int n_keys, int d,
                                float *out) {
    weighted_sum_body(p, v, ld, n_keys, d, out, 0);
}
static void weighted_sum_f16_avx512(const float *p, const uint16_t *v, int ld, int n_keys, int d,
                                    float *out) {
    weighted_sum_body(p, v, ld, n_keys, d, out, 1);
}

/* vcvtps2ph with round-to-nearest-even: the same bits as half_f32_to_f16 (subnormals,
 * overflow to Inf and quiet NaNs included; test_attention checks it). */
static void store_f16_avx512(const float *src, uint16_t *dst, int n) {
    for (int i = 0; i < n; i += 16) {
        const int left = n - i;
        const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi16(dst + i, m, h);
    }
}

/* fm_logf (core/fastmath.h) 16 lanes wide: x = m·2^e with m in [√½, √2), log m =
 * 2·atanh(s), s = (m-1)/(m+1), five odd terms. For x > 0 normal floats. */
static inline __m512 log16(__m512 x) {
    const __m512i bits = _mm512_castps_si512(x);
    __m512 e = _mm512_cvtepi32_ps(
        _mm512_sub_epi32(_mm512_and_si512(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(0xff)),
                         _mm512_set1_epi32(127)));
    __m512 m = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x3f800000)));
    const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
    m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
    e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 s = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
    const __m512 z = _mm512_mul_ps(s, s);
    __m512 r = _mm512_set1_ps(2.0f / 9);
    r = _mm512_fmadd_ps(z, r, _mm512_set1_ps(2.0f / 7));
    r = _mm512_fmadd_ps(z, r, _mm512_set1_ps(2.0f / 5));
    r = _mm512_fmadd_ps(z, r, _mm512_set1_ps(2.0f / 3));
    r = _mm512_fmadd_ps(z, r, _mm512_set1_ps(2.0f));
    return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693147180559945f), _mm512_mul_ps(s, r));
}

static void row_stats_avx512(const float *p, int n_keys, int n_prompt, float *out) {
    const int n_p = n_prompt < n_keys ? n_prompt : n_keys;
    __m512 h = _mm512_setzero_ps(), mx = h, prompt = h;
    const __m512 tiny = _mm512_set1_ps(1e-30f);
    for (int j = 0; j < n_keys; j += 16) {
        const int left = n_keys - j;
        const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        const __m512 pj = _mm512_maskz_loadu_ps(m, p + j);
        const __mmask16 pos = _mm512_mask_cmp_ps_mask(m, pj, tiny, _CMP_GT_OQ);
        /* lanes at or below 1e-30 take log 1 = 0 and add nothing */
        const __m512 lg = log16(_mm512_mask_blend_ps(pos, _mm512_set1_ps(1.0f), pj));
        h = _mm512_mask_sub_ps(h, pos, h, _mm512_mul_ps(pj, lg));
        mx = _mm512_max_ps(mx, pj);
        const int lp = n_p - j;
        if (lp > 0) {
            const __mmask16 mp = lp >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << lp) - 1);
            prompt = _mm512_add_ps(prompt, _mm512_maskz_mov_ps(mp, pj));
        }
    }
    out[0] = _mm512_reduce_add_ps(h);
    out[1] = _mm512_reduce_max_ps(mx);
    out[2] = _mm512_reduce_add_ps(prompt);
}

const tf_attn_rows attn_rows_avx512 = {.scores = scores_avx512,
                                       .weighted_sum = weighted_sum_avx512,
                                       .row_stats = row_stats_avx512,
                                       .scores_f16 = scores_f16_avx512,
                                       .weighted_sum_f16 = weighted_sum_f16_avx512,
                                       .store_f16 = store_f16_avx512};
