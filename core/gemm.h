/* gemm.h: the int8 kernel table behind linear.c (module prefix gemm_).
 *
 * Packed weight layout (tf_qmat.packed), shared by every ISA so a matrix
 * packed once can be run by any kernel and the tests can compare them:
 *   output rows are taken in groups of GEMM_GROUP_ROWS = 16 (n_out padded with
 *   zero rows); group g occupies 16·k_pad bytes at packed + g·16·k_pad; inside
 *   it, k is taken 4 at a time and block kb holds rows 0..15 × k 4kb..4kb+3:
 *     packed[g·16·k_pad + kb·64 + r·4 + j] = q[16g + r][4kb + j]
 *   One 64-byte block is exactly one zmm for vpdpbusd (16 int32 lanes, each a
 *   4-term dot product) and two ymm for AVX2. k_pad = n_in rounded up to
 *   GEMM_K_ALIGN; padding bytes are 0 so they add nothing.
 * scale and row_sum are allocated padded to whole groups (padding 0).
 *
 * Activations: per row, x_scale = max|x|/127, q = rne(x · (127/max|x|)) in
 * [-127, 127], stored as u8 = q + 128 (vpdpbusd wants unsigned × signed); the
 * kernels subtract 128·row_sum (VNNI) or flip back to signed (AVX2, ref), so
 * every ISA computes the same exact integer acc = Σ_k qx·qw. n_in ≤ 65536 keeps
 * the VNNI sum Σ (qx+128)·qw below 2³¹ (255·127·65536 < 2³¹).
 *
 * Epilogue, identical in every kernel so outputs are bit-identical across
 * ISAs (no FMA contraction: -std=c11 implies -ffp-contract=off and the SIMD
 * code uses separate mul/add):
 *   y = (float)acc · (x_scale[i] · w_scale[o])  [+ bias[o]]
 *
 * Thread-safety: tables are read-only; kernels write only their output slice.
 */
#ifndef TF_CORE_GEMM_H
#define TF_CORE_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "core/cpu.h"
#include "core/linear.h"

#define GEMM_GROUP_ROWS 16
#define GEMM_K_ALIGN 16

/* One int8 matmul: y (m, n_out) = dequant(xq (m, k_pad)) · dequant(W)ᵀ + bias. */
typedef struct tf_q8_job {
    const uint8_t *xq;     /* borrowed, (m, k_pad) u8 = q + 128, row stride x_stride bytes */
    size_t x_stride;
    const float *x_scale;  /* borrowed, [m] */
    int m;
    const tf_qmat *w;      /* borrowed */
    const float *bias;     /* borrowed, [n_out] or NULL */
    float *y;              /* borrowed, (m, n_out) with row stride y_stride floats */
    size_t y_stride;
    int32_t *acc;          /* borrowed; when non-NULL the kernel writes the exact integer
                            * Σ qx·qw here (row stride acc_stride) instead of y */
    size_t acc_stride;
} tf_q8_job;

typedef struct tf_gemm_kernels {
    tf_isa isa;
    /* Output rows per work unit that the kernel prefers (a multiple of 16). */
    int o_block;
    /* x: (m, n_in) row-major -> xq (m, k_pad) (padding set to 128, i.e. q = 0), x_scale [m]. */
    void (*quant_rows)(const float *x, int m, int n_in, int k_pad, uint8_t *xq,
                       float *x_scale);
    /* Output columns [o_begin, o_end) of all m rows; o_begin a multiple of 16. */
    void (*q8_gemm)(const tf_q8_job *job, int o_begin, int o_end);
} tf_gemm_kernels;

extern const tf_gemm_kernels gemm_kernels_ref;
extern const tf_gemm_kernels gemm_kernels_avx2;
extern const tf_gemm_kernels gemm_kernels_vnni;

/* The table for `isa`, or NULL when this CPU cannot run it. */
const tf_gemm_kernels *gemm_kernels_for(tf_isa isa);
/* The table chosen once from cpu_isa(). */
const tf_gemm_kernels *gemm_kernels(void);

/* Ensures ws holds m rows of k_pad bytes; the only place the int8 path allocates. */
int gemm_ws_reserve(tf_gemm_ws *ws, int m, int k_pad, tf_err *err);

/* The whole int8 forward on the pool with a given kernel table: quantize x,
 * then split output groups across threads. acc, when non-NULL ((m, n_out)
 * int32), receives the integer accumulators instead of y (tests). */
void gemm_q8_forward(const tf_gemm_kernels *k, const tf_qmat *w, const float *bias,
                     tf_pool *pool, tf_gemm_ws *ws, const float *x, int m, float *y,
                     int32_t *acc);

#endif
