/* linear.h: a dense layer y = x·Wᵀ + b with fp32 (OpenBLAS) or int8 weights.
 *
 * The weight is given in nn.Linear order [n_out, n_in] (or transposed, as
 * GPT-2's Conv1D stores it) and copied, so the checkpoint can be unmapped
 * after load. int8 weights are quantized per output row (symmetric, scale =
 * max|w|/127) and packed for the kernel chosen at start-up (core/cpu.h);
 * activations are quantized per row on the fly.
 *
 *     tf_linear l;
 *     linear_init(&l, TF_WTYPE_Q8, w, b, n_out, n_in, 0, &err);
 *     linear_forward(&l, pool, &ws, x, m, y);   // x: (m, n_in), y: (m, n_out)
 *     linear_close(&l);
 *
 * Thread-safety: a tf_linear is read-only after init; a tf_gemm_ws belongs to
 * one caller at a time.
 */
#ifndef TF_CORE_LINEAR_H
#define TF_CORE_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/threadpool.h"

typedef enum tf_wtype { TF_WTYPE_F32 = 0, TF_WTYPE_Q8 = 1 } tf_wtype;

/* int8 weights packed for the kernels; layout private to core/gemm*.c. */
typedef struct tf_qmat {
    int n_out, n_in;
    int k_pad;         /* n_in rounded up for the kernels */
    int8_t *packed;    /* owned */
    float *scale;      /* owned, [n_out]: w[o][k] ≈ scale[o]·q[o][k] */
    int32_t *row_sum;  /* owned, [n_out]: Σ_k q[o][k], for the u8-offset trick */
    size_t n_bytes;    /* bytes owned, for memory accounting */
} tf_qmat;

/* Scratch the int8 path uses to quantize activations; grows, never shrinks. */
typedef struct tf_gemm_ws {
    uint8_t *xq;      /* owned */
    float *x_scale;   /* owned */
    size_t cap_bytes, cap_rows;
} tf_gemm_ws;

typedef struct tf_linear {
    tf_wtype type;
    int n_out, n_in;
    float *w;      /* owned, [n_out, n_in]; NULL for Q8 */
    tf_qmat q;     /* Q8 only */
    float *bias;   /* owned, [n_out] or NULL */
} tf_linear;

/* w: [n_out, n_in] row-major, or [n_in, n_out] when w_is_in_out (Conv1D). bias may be NULL. */
int linear_init(tf_linear *l, tf_wtype type, const float *w, const float *bias, int n_out,
                int n_in, int w_is_in_out, tf_err *err);
void linear_close(tf_linear *l);
size_t linear_bytes(const tf_linear *l);

/* x: (m, n_in) row-major; y: (m, n_out), overwritten. Uses all pool threads. */
void linear_forward(const tf_linear *l, tf_pool *pool, tf_gemm_ws *ws, const float *x, int m,
                    float *y);

/* An element-wise activation applied to the output, y = act(x·Wᵀ + b). */
typedef enum tf_linear_act {
    TF_LINEAR_ACT_NONE = 0,
    TF_LINEAR_ACT_GELU_TANH, /* ops_gelu_tanh */
    TF_LINEAR_ACT_GELU_ERF,  /* ops_gelu_erf */
} tf_linear_act;

/* linear_forward then act, in the same pool run: each thread applies it to the output
 * block it just wrote (still in its cache), with no second fork-join. Results equal
 * linear_forward followed by the ops_ function over y. */
void linear_forward_act(const tf_linear *l, tf_pool *pool, tf_gemm_ws *ws, const float *x, int m,
                        float *y, tf_linear_act act);
/* Row `row` of W as fp32 (dequantized for Q8): embedding lookups through a tied matrix. */
void linear_row(const tf_linear *l, int row, float *out);

void gemm_ws_init(tf_gemm_ws *ws);
void gemm_ws_close(tf_gemm_ws *ws);

#endif
