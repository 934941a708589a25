/* quant.h: per-output-row symmetric int8 weights, packed for core/gemm*.c
 * (module prefix qmat_). The layout is described in core/gemm.h.
 *
 *     tf_qmat q;
 *     if (qmat_init(&q, w, n_out, n_in, 0, &err) < 0) return err.code;
 *     qmat_row(&q, 42, row);   // dequantized row 42, n_in floats
 *     qmat_close(&q);
 *
 * Thread-safety: read-only after init.
 */
#ifndef TF_CORE_QUANT_H
#define TF_CORE_QUANT_H

#include "core/linear.h"

/* w: [n_out, n_in], or [n_in, n_out] when w_is_in_out. Copies; w may be freed after. */
int qmat_init(tf_qmat *q, const float *w, int n_out, int n_in, int w_is_in_out, tf_err *err);
void qmat_close(tf_qmat *q);
/* The int8 value of weight (o, k), read back from the packed layout. */
int8_t qmat_get(const tf_qmat *q, int o, int k);
/* out[k] = scale[o] · q[o][k] for k < n_in. */
void qmat_row(const tf_qmat *q, int o, float *out);

#endif
