/* DESIGN: AVX-512 VNNI int8 kernels (this file alone is compiled with
 * -mavx512* flags). One vpdpbusd multiplies 64 bytes of packed weights (16
 * output rows × 4 k) by 4 activation bytes broadcast to all lanes, so a tile
 * of M activation rows × G row groups keeps M·G zmm accumulators and loads
 * each weight block once per M rows. M = 8, G = 3 (24 accumulators + 3
 * weight registers of 32) for prefill; for decode (m = 1..7) M = m and the
 * same G = 3 gives three independent dependency chains and three weight
 * streams, which is plenty to saturate memory bandwidth.
 * Tiles are written once as an always-inline function and instantiated for
 * each (M, G) by a switch, so the accumulator arrays live in registers. */
/* GCC's partial redundancy elimination turns the accumulator arrays into
 * copies and stack spills (822 register moves and 73 spills across the
 * tiles with it on, 0 spills without, gcc 12), so it is off for this file. */
#pragma GCC optimize("no-tree-pre")

#include <immintrin.h>
#include <string.h>

#include "core/gemm.h"

#define TILE_M 8
#define TILE_G 3
/* Distance of the software prefetch, in bytes ahead of the current weight
 * block of each stream. Issued for every tile height: it helped m = 16 by a
 * few percent and did not measurably change m = 1 (noisy shared machine). */
#define PF_BYTES 1024

static inline __attribute__((always_inline)) int32_t load_x4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline __attribute__((always_inline)) void
tile_vnni(const tf_q8_job *job, int i0, int g0, int o_end, const int M, const int G) {
    const tf_qmat *w = job->w;
    const int k_pad = w->k_pad;
    const size_t g_bytes = (size_t)GEMM_GROUP_ROWS * (size_t)k_pad;
    const int8_t *wp = w->packed + (size_t)g0 * g_bytes;
    const uint8_t *xp = job->xq + (size_t)i0 * job->x_stride;
    const size_t xs = job->x_stride;
    __m512i acc[TILE_M][TILE_G];
#pragma GCC unroll 8
    for (int i = 0; i < M; i++)
#pragma GCC unroll 4
        for (int j = 0; j < G; j++) acc[i][j] = _mm512_setzero_si512();

    for (int kb = 0; kb < k_pad / 4; kb++) {
        __m512i wv[TILE_G];
#pragma GCC unroll 4
        for (int j = 0; j < G; j++) {
            const int8_t *p = wp + (size_t)j * g_bytes + (size_t)kb * 64;
            _mm_prefetch((const char *)p + PF_BYTES, _MM_HINT_T0);
            wv[j] = _mm512_load_si512((const void *)p);
        }
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) {
            __m512i xb = _mm512_set1_epi32(load_x4(xp + (size_t)i * xs + (size_t)kb * 4));
#pragma GCC unroll 4
            for (int j = 0; j < G; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], xb, wv[j]);
        }
    }

#pragma GCC unroll 4
    for (int j = 0; j < G; j++) {
        int o = (g0 + j) * GEMM_GROUP_ROWS;
        int n_valid = o_end - o;
        __mmask16 mask = n_valid >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n_valid) - 1);
        /* Undo the +128 activation offset: Σ (qx+128)·qw - 128·Σ qw. */
        __m512i off = _mm512_slli_epi32(_mm512_load_si512((const void *)(w->row_sum + o)), 7);
        __m512 ws = _mm512_load_ps(w->scale + o);
        __m512 bias = job->bias ? _mm512_maskz_loadu_ps(mask, job->bias + o) : _mm512_setzero_ps();
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) {
            __m512i a = _mm512_sub_epi32(acc[i][j], off);
            if (job->acc) {
                _mm512_mask_storeu_epi32(job->acc + (size_t)(i0 + i) * job->acc_stride + o, mask, a);
                continue;
            }
            __m512 s = _mm512_mul_ps(_mm512_set1_ps(job->x_scale[i0 + i]), ws);
            __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(a), s);
            if (job->bias) y = _mm512_add_ps(y, bias);
            _mm512_mask_storeu_ps(job->y + (size_t)(i0 + i) * job->y_stride + o, mask, y);
        }
    }
}

#define TILE_CASE(M, G)                                                                         \
    case (M) * 4 + (G): tile_vnni(job, i0, g0, o_end, M, G); break;
#define TILE_CASES_M(M) TILE_CASE(M, 1) TILE_CASE(M, 2) TILE_CASE(M, 3)

static void tile_dispatch(const tf_q8_job *job, int i0, int mi, int g0, int gi, int o_end) {
    switch (mi * 4 + gi) {
        TILE_CASES_M(1) TILE_CASES_M(2) TILE_CASES_M(3) TILE_CASES_M(4)
        TILE_CASES_M(5) TILE_CASES_M(6) TILE_CASES_M(7) TILE_CASES_M(8)
    default: break;
    }
}

static void q8_gemm_vnni(const tf_q8_job *job, int o_begin, int o_end) {
    int g_begin = o_begin / GEMM_GROUP_ROWS;
    int g_end = (o_end + GEMM_GROUP_ROWS - 1) / GEMM_GROUP_ROWS;
    for (int g0 = g_begin; g0 < g_end; g0 += TILE_G) {
        int gi = g_end - g0 < TILE_G ? g_end - g0 : TILE_G;
        for (int i0 = 0; i0 < job->m; i0 += TILE_M) {
            int mi = job->m - i0 < TILE_M ? job->m - i0 : TILE_M;
            tile_dispatch(job, i0, mi, g0, gi, o_end);
        }
    }
}

static void quant_rows_vnni(const float *x, int m, int n_in, int k_pad, uint8_t *xq,
                            float *x_scale) {
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    const __m512i off = _mm512_set1_epi32(128);
    for (int i = 0; i < m; i++) {
        const float *xi = x + (size_t)i * n_in;
        uint8_t *qi = xq + (size_t)i * k_pad;
        __m512 vmax = _mm512_setzero_ps();
        for (int k = 0; k < n_in; k += 16) {
            __mmask16 mk = n_in - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n_in - k)) - 1);
            vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_maskz_loadu_ps(mk, xi + k)));
        }
        float amax = _mm512_reduce_max_ps(vmax);
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        __m512 vinv = _mm512_set1_ps(inv);
        for (int k = 0; k < n_in; k += 16) {
            __mmask16 mk = n_in - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n_in - k)) - 1);
            /* cvtps rounds to nearest even, as lrintf does in the reference. */
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, xi + k), vinv));
            q = _mm512_add_epi32(_mm512_max_epi32(_mm512_min_epi32(q, hi), lo), off);
            _mm512_mask_cvtepi32_storeu_epi8(qi + k, mk, q);
        }
        memset(qi + n_in, 128, (size_t)(k_pad - n_in));
        x_scale[i] = amax / 127.0f;
    }
}

const tf_gemm_kernels gemm_kernels_vnni = {
    .isa = TF_ISA_VNNI,
    .o_block = GEMM_GROUP_ROWS * TILE_G,
    .quant_rows = quant_rows_vnni,
    .q8_gemm = q8_gemm_vnni,
};
