/* AVX-512 kernels of blocked encoder attention (core/attn_block.h); this file alone is
 * compiled with AVX-512 flags.
 *
 * One query row at a time (core/attn_rows_avx512.c) reads every key once per query and
 * needs a horizontal sum per score: with 128-token texts, attention was a third of a
 * DistilBERT forward. Here scores take 8 queries x 32 keys per pass over K transposed
 * (16 accumulators, 2 loads and 8 broadcasts per 16 FMAs), and the weighted sum 4 queries x
 * 64 output columns per pass over V (16 accumulators), so each key and value row is
 * loaded once per block of queries instead of once per query. */
#include <immintrin.h>

#include "core/attn_block.h"
#include "core/fastmath_avx512.h"

static inline __attribute__((always_inline)) void scores_rows(const float *q, int ldq, int R,
                                                              int d, const float *kt, int ldk,
                                                              float scale, float *s) {
    int j = 0;
    for (; j + 32 <= ldk; j += 32) {
        __m512 a0[8], a1[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm512_setzero_ps();
        for (int c = 0; c < d; c++) {
            const __m512 k0 = _mm512_loadu_ps(kt + (long)c * ldk + j);
            const __m512 k1 = _mm512_loadu_ps(kt + (long)c * ldk + j + 16);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const __m512 qb = _mm512_set1_ps(q[(long)r * ldq + c]);
                a0[r] = _mm512_fmadd_ps(qb, k0, a0[r]);
                a1[r] = _mm512_fmadd_ps(qb, k1, a1[r]);
            }
        }
        const __m512 sc = _mm512_set1_ps(scale);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            _mm512_storeu_ps(s + (long)r * ldk + j, _mm512_mul_ps(a0[r], sc));
            _mm512_storeu_ps(s + (long)r * ldk + j + 16, _mm512_mul_ps(a1[r], sc));
        }
    }
    if (j < ldk) { /* the last 16 keys */
        __m512 a0[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) a0[r] = _mm512_setzero_ps();
        for (int c = 0; c < d; c++) {
            const __m512 k0 = _mm512_loadu_ps(kt + (long)c * ldk + j);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                a0[r] = _mm512_fmadd_ps(_mm512_set1_ps(q[(long)r * ldq + c]), k0, a0[r]);
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            _mm512_storeu_ps(s + (long)r * ldk + j, _mm512_mul_ps(a0[r], _mm512_set1_ps(scale)));
    }
}

static void scores_avx512(const float *q, int ldq, int n_rows, int d, const float *kt, int ldk,
                          float scale, float *s) {
    int r = 0;
    for (; r + 8 <= n_rows; r += 8)
        scores_rows(q + (long)r * ldq, ldq, 8, d, kt, ldk, scale, s + (long)r * ldk);
    for (; r + 4 <= n_rows; r += 4)
        scores_rows(q + (long)r * ldq, ldq, 4, d, kt, ldk, scale, s + (long)r * ldk);
    for (; r < n_rows; r++)
        scores_rows(q + (long)r * ldq, ldq, 1, d, kt, ldk, scale, s + (long)r * ldk);
}

static inline __mmask16 first(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

/* ops_softmax on 16 lanes: max, exp and sum, scale. */
static void softmax_avx512(float *s, int lds, int n_rows, int n_kv) {
    for (int r = 0; r < n_rows; r++) {
        float *x = s + (long)r * lds;
        __m512 mx = _mm512_set1_ps(-__builtin_inff());
        for (int j = 0; j < n_kv; j += 16) {
            const __mmask16 k = first(n_kv - j);
            mx = _mm512_mask_max_ps(mx, k, mx, _mm512_maskz_loadu_ps(k, x + j));
        }
        const float m = _mm512_reduce_max_ps(mx);
        if (m == -__builtin_inff()) {
            for (int j = 0; j < n_kv; j++) x[j] = 0.0f;
            continue;
        }
        const __m512 mv = _mm512_set1_ps(m);
        __m512 sum = _mm512_setzero_ps();
        for (int j = 0; j < n_kv; j += 16) {
            const __mmask16 k = first(n_kv - j);
            const __m512 xj = _mm512_maskz_loadu_ps(k, x + j);
            const __m512 e = _mm512_maskz_mov_ps(k, fm_exp16(_mm512_sub_ps(xj, mv)));
            _mm512_mask_storeu_ps(x + j, k, e);
            sum = _mm512_add_ps(sum, e);
        }
        const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
        for (int j = 0; j < n_kv; j += 16) {
            const __mmask16 k = first(n_kv - j);
            _mm512_mask_storeu_ps(x + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), inv));
        }
    }
}

/* R query rows x 4 vectors of 16 output columns from c0 (masked past d). */
static inline __attribute__((always_inline)) void wsum_rows(const float *p, int ldp, int R,
                                                            const float *v, int ldv, int n_kv,
                                                            int d, int c0, float *out, int ldo) {
    __mmask16 m[4];
    for (int t = 0; t < 4; t++) m[t] = c0 + 16 * t < d ? first(d - c0 - 16 * t) : 0;
    __m512 a[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) a[r][t] = _mm512_setzero_ps();
    for (int j = 0; j < n_kv; j++) {
        const float *vj = v + (long)j * ldv + c0;
        __m512 vv[4];
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) vv[t] = _mm512_maskz_loadu_ps(m[t], vj + 16 * t);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const __m512 pb = _mm512_set1_ps(p[(long)r * ldp + j]);
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++) a[r][t] = _mm512_fmadd_ps(pb, vv[t], a[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            _mm512_mask_storeu_ps(out + (long)r * ldo + c0 + 16 * t, m[t], a[r][t]);
}

static void weighted_sum_avx512(const float *p, int ldp, int n_rows, const float *v, int ldv,
                                int n_kv, int d, float *out, int ldo) {
    for (int c0 = 0; c0 < d; c0 += 64) {
        int r = 0;
        for (; r + 4 <= n_rows; r += 4)
            wsum_rows(p + (long)r * ldp, ldp, 4, v, ldv, n_kv, d, c0, out + (long)r * ldo, ldo);
        for (; r < n_rows; r++)
            wsum_rows(p + (long)r * ldp, ldp, 1, v, ldv, n_kv, d, c0, out + (long)r * ldo, ldo);
    }
}

/* 16 keys x 16 channels per step, transposed in registers (unpack, shuffle, two lane
 * shuffles): the scalar strided copy it replaces was 2.3% of a 128-token DistilBERT forward,
 * as much as a sixth of the score kernel. Keys past n_kv load as zeros, so the padding
 * columns come out zero. */
static void k_transpose_avx512(const float *k, int ldkv, int n_kv, int d, float *kt, int ldk) {
    for (int j0 = 0; j0 < ldk; j0 += 16)
        for (int c0 = 0; c0 < d; c0 += 16) {
            const __mmask16 cm = first(d - c0);
            __m512 r[16], t[16], u[16], x[16];
            for (int i = 0; i < 16; i++)
                r[i] = j0 + i < n_kv ? _mm512_maskz_loadu_ps(cm, k + (long)(j0 + i) * ldkv + c0)
                                     : _mm512_setzero_ps();
            for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
            }
            for (int i = 0; i < 16; i += 4) {
                u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
                u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
                u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
                u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
            }
            /* u[4b + m], lane L: channel 4L + m of rows 4b..4b+3 */
            for (int h = 0; h < 16; h += 8)
                for (int m = 0; m < 4; m++) {
                    x[h + m] = _mm512_shuffle_f32x4(u[h + m], u[h + 4 + m], 0x88);
                    x[h + 4 + m] = _mm512_shuffle_f32x4(u[h + m], u[h + 4 + m], 0xDD);
                }
            for (int m = 0; m < 8; m++) {
                const __m512 lo = _mm512_shuffle_f32x4(x[m], x[8 + m], 0x88);
                const __m512 hi = _mm512_shuffle_f32x4(x[m], x[8 + m], 0xDD);
                if (c0 + m < d) _mm512_storeu_ps(kt + (long)(c0 + m) * ldk + j0, lo);
                if (c0 + 8 + m < d) _mm512_storeu_ps(kt + (long)(c0 + 8 + m) * ldk + j0, hi);
            }
        }
}

const tf_attn_block attn_block_avx512 = {.k_transpose = k_transpose_avx512,
                                         .scores = scores_avx512,
                                         .softmax = softmax_avx512,
                                         .weighted_sum = weighted_sum_avx512};
