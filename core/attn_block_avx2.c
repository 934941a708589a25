/* AVX2 + FMA kernels of blocked encoder attention (core/attn_block.h), for CPUs without
 * AVX-512; this file alone is compiled with AVX2 flags. The tiles of
 * core/attn_block_avx512.c cut to 16 ymm registers: scores 4 queries x 16 keys (8
 * accumulators), the weighted sum 4 queries x 16 columns. */
#include <immintrin.h>

#include "core/attn_block.h"
#include "core/fastmath_avx2.h"

static inline __attribute__((always_inline)) void scores_rows(const float *q, int ldq, int R,
                                                              int d, const float *kt, int ldk,
                                                              float scale, float *s) {
    for (int j = 0; j < ldk; j += 16) { /* ldk is a multiple of 16 */
        __m256 a0[4], a1[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm256_setzero_ps();
        for (int c = 0; c < d; c++) {
            const __m256 k0 = _mm256_loadu_ps(kt + (long)c * ldk + j);
            const __m256 k1 = _mm256_loadu_ps(kt + (long)c * ldk + j + 8);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const __m256 qb = _mm256_broadcast_ss(q + (long)r * ldq + c);
                a0[r] = _mm256_fmadd_ps(qb, k0, a0[r]);
                a1[r] = _mm256_fmadd_ps(qb, k1, a1[r]);
            }
        }
        const __m256 sc = _mm256_set1_ps(scale);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            _mm256_storeu_ps(s + (long)r * ldk + j, _mm256_mul_ps(a0[r], sc));
            _mm256_storeu_ps(s + (long)r * ldk + j + 8, _mm256_mul_ps(a1[r], sc));
        }
    }
}

static void scores_avx2(const float *q, int ldq, int n_rows, int d, const float *kt, int ldk,
                        float scale, float *s) {
    int r = 0;
    for (; r + 4 <= n_rows; r += 4)
        scores_rows(q + (long)r * ldq, ldq, 4, d, kt, ldk, scale, s + (long)r * ldk);
    for (; r < n_rows; r++)
        scores_rows(q + (long)r * ldq, ldq, 1, d, kt, ldk, scale, s + (long)r * ldk);
}

/* Lanes [0, n) of 8 set, as a maskload/maskstore mask. */
static inline __m256i first8(int n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n < 8 ? n : 8), idx);
}

static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline float hsum8(__m256 v) {
    __m128 m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_add_ps(m, _mm_movehl_ps(m, m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* ops_softmax on 8 lanes; lanes past n_kv are neither read nor written. */
static void softmax_avx2(float *s, int lds, int n_rows, int n_kv) {
    const __m256 minf = _mm256_set1_ps(-__builtin_inff());
    for (int r = 0; r < n_rows; r++) {
        float *x = s + (long)r * lds;
        __m256 mx = minf;
        for (int j = 0; j < n_kv; j += 8) {
            const __m256i k = first8(n_kv - j);
            mx = _mm256_max_ps(mx, _mm256_blendv_ps(minf, _mm256_maskload_ps(x + j, k),
                                                    _mm256_castsi256_ps(k)));
        }
        const float m = hmax8(mx);
        if (m == -__builtin_inff()) {
            for (int j = 0; j < n_kv; j++) x[j] = 0.0f;
            continue;
        }
        const __m256 mv = _mm256_set1_ps(m);
        __m256 sum = _mm256_setzero_ps();
        for (int j = 0; j < n_kv; j += 8) {
            const __m256i k = first8(n_kv - j);
            const __m256 xj = _mm256_maskload_ps(x + j, k);
            const __m256 e = _mm256_and_ps(_mm256_castsi256_ps(k), fm_exp8(_mm256_sub_ps(xj, mv)));
            _mm256_maskstore_ps(x + j, k, e);
            sum = _mm256_add_ps(sum, e);
        }
        const __m256 inv = _mm256_set1_ps(1.0f / hsum8(sum));
        for (int j = 0; j < n_kv; j += 8) {
            const __m256i k = first8(n_kv - j);
            _mm256_maskstore_ps(x + j, k, _mm256_mul_ps(_mm256_maskload_ps(x + j, k), inv));
        }
    }
}

/* R query rows x 16 output columns from c0 (masked past d). */
static inline __attribute__((always_inline)) void wsum_rows(const float *p, int ldp, int R,
                                                            const float *v, int ldv, int n_kv,
                                                            int d, int c0, float *out, int ldo) {
    const __m256i m0 = first8(d - c0), m1 = first8(d - c0 - 8);
    __m256 a0[4], a1[4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm256_setzero_ps();
    for (int j = 0; j < n_kv; j++) {
        const float *vj = v + (long)j * ldv + c0;
        const __m256 v0 = _mm256_maskload_ps(vj, m0), v1 = _mm256_maskload_ps(vj + 8, m1);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const __m256 pb = _mm256_broadcast_ss(p + (long)r * ldp + j);
            a0[r] = _mm256_fmadd_ps(pb, v0, a0[r]);
            a1[r] = _mm256_fmadd_ps(pb, v1, a1[r]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        _mm256_maskstore_ps(out + (long)r * ldo + c0, m0, a0[r]);
        _mm256_maskstore_ps(out + (long)r * ldo + c0 + 8, m1, a1[r]);
    }
}

static void weighted_sum_avx2(const float *p, int ldp, int n_rows, const float *v, int ldv,
                              int n_kv, int d, float *out, int ldo) {
    for (int c0 = 0; c0 < d; c0 += 16) {
        int r = 0;
        for (; r + 4 <= n_rows; r += 4)
            wsum_rows(p + (long)r * ldp, ldp, 4, v, ldv, n_kv, d, c0, out + (long)r * ldo, ldo);
        for (; r < n_rows; r++)
            wsum_rows(p + (long)r * ldp, ldp, 1, v, ldv, n_kv, d, c0, out + (long)r * ldo, ldo);
    }
}

/* 8 keys x 8 channels per step, transposed in registers. */
static void k_transpose_avx2(const float *k, int ldkv, int n_kv, int d, float *kt, int ldk) {
    for (int j0 = 0; j0 < ldk; j0 += 8)
        for (int c0 = 0; c0 < d; c0 += 8) {
            const __m256i cm = first8(d - c0);
            __m256 r[8], t[8], u[8];
            for (int i = 0; i < 8; i++)
                r[i] = j0 + i < n_kv ? _mm256_maskload_ps(k + (long)(j0 + i) * ldkv + c0, cm)
                                     : _mm256_setzero_ps();
            for (int i = 0; i < 8; i += 2) {
                t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {
                u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
                u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
                u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
                u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
            }
            /* u[4b + m], lane L: channel 4L + m of rows 4b..4b+3 */
            for (int m = 0; m < 4; m++) {
                const __m256 lo = _mm256_permute2f128_ps(u[m], u[4 + m], 0x20);
                const __m256 hi = _mm256_permute2f128_ps(u[m], u[4 + m], 0x31);
                if (c0 + m < d) _mm256_storeu_ps(kt + (long)(c0 + m) * ldk + j0, lo);
                if (c0 + 4 + m < d) _mm256_storeu_ps(kt + (long)(c0 + 4 + m) * ldk + j0, hi);
            }
        }
}

const tf_attn_block attn_block_avx2 = {.k_transpose = k_transpose_avx2,
                                       .scores = scores_avx2,
                                       .softmax = softmax_avx2,
                                       .weighted_sum = weighted_sum_avx2};
