/* DESIGN: AVX2 int8 kernels (this file alone is compiled with -mavx2 -mfma).
 * vpmaddubsw multiplies unsigned by signed bytes and saturates the int16 pair
 * sums: with x stored as q+128 (up to 255) and |w| ≤ 127 a pair can reach
 * 64 770 and would clip. So the signed trick: maddubs(|w|, sign(qx, w)),
 * where both factors are ≤ 127 in magnitude and a pair sum ≤ 32 258 fits;
 * then vpmaddwd by 1 widens to int32. The result is the exact Σ qx·qw with no
 * row_sum correction. A 64-byte packed block is two ymm (rows 0-7, 8-15); a
 * tile of M activation rows × G groups holds 2·M·G accumulators of the 16
 * ymm registers: M = 4, G = 1 for prefill, M = 1, G = 2 for decode. */
/* As in gemm_vnni.c: partial redundancy elimination makes gcc 12 copy and
 * spill the accumulator arrays, so it is off for this file. */
#pragma GCC optimize("no-tree-pre")

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "core/gemm.h"

#define TILE_M 4
#define PF_BYTES 1024

static inline __attribute__((always_inline)) int32_t load_x4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline __attribute__((always_inline)) __m256i tail_mask(int n_valid) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n_valid), idx);
}

static inline __attribute__((always_inline)) void
tile_avx2(const tf_q8_job *job, int i0, int g0, int o_end, const int M, const int G) {
    const tf_qmat *w = job->w;
    const int k_pad = w->k_pad;
    const size_t g_bytes = (size_t)GEMM_GROUP_ROWS * (size_t)k_pad;
    const int8_t *wp = w->packed + (size_t)g0 * g_bytes;
    const uint8_t *xp = job->xq + (size_t)i0 * job->x_stride;
    const size_t xs = job->x_stride;
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    __m256i acc[TILE_M][4];
#pragma GCC unroll 4
    for (int i = 0; i < M; i++)
#pragma GCC unroll 4
        for (int h = 0; h < 2 * G; h++) acc[i][h] = _mm256_setzero_si256();

    for (int kb = 0; kb < k_pad / 4; kb++) {
        __m256i wv[4], wa[4];
#pragma GCC unroll 4
        for (int h = 0; h < 2 * G; h++) {
            const int8_t *p = wp + (size_t)(h / 2) * g_bytes + (size_t)kb * 64 + (h % 2) * 32;
            if (M == 1 && h % 2 == 0) _mm_prefetch((const char *)p + PF_BYTES, _MM_HINT_T0);
            wv[h] = _mm256_load_si256((const __m256i *)p);
            wa[h] = _mm256_abs_epi8(wv[h]);
        }
#pragma GCC unroll 4
        for (int i = 0; i < M; i++) {
            /* Back from u8 = q + 128 to signed q. */
            __m256i xb = _mm256_xor_si256(
                _mm256_set1_epi32(load_x4(xp + (size_t)i * xs + (size_t)kb * 4)), flip);
#pragma GCC unroll 4
            for (int h = 0; h < 2 * G; h++) {
                __m256i p16 = _mm256_maddubs_epi16(wa[h], _mm256_sign_epi8(xb, wv[h]));
                acc[i][h] = _mm256_add_epi32(acc[i][h], _mm256_madd_epi16(p16, ones));
            }
        }
    }

#pragma GCC unroll 4
    for (int h = 0; h < 2 * G; h++) {
        int o = g0 * GEMM_GROUP_ROWS + h * 8;
        int n_valid = o_end - o;
        if (n_valid <= 0) continue;
        __m256i mask = tail_mask(n_valid);
        __m256 ws = _mm256_load_ps(w->scale + o);
        __m256 bias = job->bias ? _mm256_maskload_ps(job->bias + o, mask) : _mm256_setzero_ps();
#pragma GCC unroll 4
        for (int i = 0; i < M; i++) {
            if (job->acc) {
                _mm256_maskstore_epi32((int *)(job->acc + (size_t)(i0 + i) * job->acc_stride + o),
                                       mask, acc[i][h]);
                continue;
            }
            __m256 s = _mm256_mul_ps(_mm256_set1_ps(job->x_scale[i0 + i]), ws);
            __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[i][h]), s);
            if (job->bias) y = _mm256_add_ps(y, bias);
            _mm256_maskstore_ps(job->y + (size_t)(i0 + i) * job->y_stride + o, mask, y);
        }
    }
}

static void q8_gemm_avx2(const tf_q8_job *job, int o_begin, int o_end) {
    int g_begin = o_begin / GEMM_GROUP_ROWS;
    int g_end = (o_end + GEMM_GROUP_ROWS - 1) / GEMM_GROUP_ROWS;
    if (job->m == 1) {
        int g0 = g_begin;
        for (; g0 + 2 <= g_end; g0 += 2) tile_avx2(job, 0, g0, o_end, 1, 2);
        if (g0 < g_end) tile_avx2(job, 0, g0, o_end, 1, 1);
        return;
    }
    for (int g0 = g_begin; g0 < g_end; g0++) {
        int i0 = 0;
        for (; i0 + TILE_M <= job->m; i0 += TILE_M) tile_avx2(job, i0, g0, o_end, TILE_M, 1);
        switch (job->m - i0) {
        case 3: tile_avx2(job, i0, g0, o_end, 3, 1); break;
        case 2: tile_avx2(job, i0, g0, o_end, 2, 1); break;
        case 1: tile_avx2(job, i0, g0, o_end, 1, 1); break;
        default: break;
        }
    }
}

static void quant_rows_avx2(const float *x, int m, int n_in, int k_pad, uint8_t *xq,
                            float *x_scale) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    const __m256i off = _mm256_set1_epi32(128);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int i = 0; i < m; i++) {
        const float *xi = x + (size_t)i * n_in;
        uint8_t *qi = xq + (size_t)i * k_pad;
        __m256 vmax = _mm256_setzero_ps();
        int k = 0;
        for (; k + 8 <= n_in; k += 8)
            vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(xi + k), abs_mask));
        float lanes[8];
        _mm256_storeu_ps(lanes, vmax);
        float amax = 0;
        for (int l = 0; l < 8; l++) amax = fmaxf(amax, lanes[l]);
        for (; k < n_in; k++) amax = fmaxf(amax, fabsf(xi[k]));
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        __m256 vinv = _mm256_set1_ps(inv);
        k = 0;
        for (; k + 32 <= n_in; k += 32) {
            __m256i q[4];
            for (int c = 0; c < 4; c++) {
                /* cvtps rounds to nearest even, as lrintf does in the reference. */
                __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xi + k + 8 * c), vinv));
                q[c] = _mm256_add_epi32(_mm256_max_epi32(_mm256_min_epi32(v, hi), lo), off);
            }
            /* The packs work per 128-bit lane; the permute restores k order. */
            __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(q[0], q[1]),
                                            _mm256_packs_epi32(q[2], q[3]));
            _mm256_storeu_si256((__m256i *)(qi + k), _mm256_permutevar8x32_epi32(b, order));
        }
        for (; k < n_in; k++) {
            long v = lrintf(xi[k] * inv);
            v = v > 127 ? 127 : v < -127 ? -127 : v;
            qi[k] = (uint8_t)(v + 128);
        }
        memset(qi + n_in, 128, (size_t)(k_pad - n_in));
        x_scale[i] = amax / 127.0f;
    }
}

const tf_gemm_kernels gemm_kernels_avx2 = {
    .isa = TF_ISA_AVX2,
    .o_block = GEMM_GROUP_ROWS * 2,
    .quant_rows = quant_rows_avx2,
    .q8_gemm = q8_gemm_avx2,
};
